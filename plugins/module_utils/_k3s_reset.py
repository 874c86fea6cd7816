# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Take k3s off a host: units, processes, mounts, network interfaces, iptables rules, files.

The plan is computed first (what exists now), so check mode reports exactly what a real run removes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from typing import Any, Callable, Final, Optional

UNITS: Final = ("k3s", "k3s-agent")
INTERFACES: Final = ("cni0", "flannel.1", "flannel-v6.1", "flannel-wg", "flannel-wg-v6", "kube-ipvs0")
MOUNT_ROOTS: Final = ("/run/k3s", "/var/lib/kubelet", "/var/lib/rancher/k3s", "/run/netns/cni-")
PROCESSES: Final = ("k3s", "k3s-server", "k3s-agent", "containerd", "containerd-shim", "containerd-shim-runc-v2")
PATHS: Final = (
    "/usr/local/bin/k3s",
    "/etc/systemd/system/k3s.service",
    "/etc/systemd/system/k3s.service.env",
    "/etc/systemd/system/k3s-agent.service",
    "/etc/systemd/system/k3s-agent.service.env",
    "/etc/rancher/k3s",
    "/etc/rancher/node",
    "/var/lib/rancher/k3s",
    "/var/lib/kubelet",
    "/var/lib/cni",
    "/run/k3s",
    "/run/flannel",
    # What keelson's prereq role added.
    "/etc/sysctl.d/90-keelson.conf",
    "/etc/modules-load.d/overlay.conf",
    "/etc/modules-load.d/br_netfilter.conf",
)
# Folders removed when the steps above left them empty.
PARENTS: Final = ("/etc/rancher", "/var/lib/rancher")
LINKS: Final = ("/usr/local/bin/kubectl", "/usr/local/bin/crictl", "/usr/local/bin/ctr")
IPTABLES_MARKERS: Final = ("KUBE-", "CNI-", "flannel", "FLANNEL")

Runner = Callable[[list[str], Optional[str]], tuple[int, str, str]]


def filter_iptables(saved: str) -> tuple[str, int]:
    """iptables-save output without k3s' chains and rules; and how many lines went."""
    kept, dropped = [], 0
    for line in saved.splitlines():
        if any(marker in line for marker in IPTABLES_MARKERS) and not line.startswith("*"):
            dropped += 1
        else:
            kept.append(line)
    return "\n".join(kept) + "\n", dropped


def mounts_under(mountinfo: str, roots: tuple[str, ...] = MOUNT_ROOTS) -> list[str]:
    """Mount points under ``roots``, deepest first (the order to unmount them in)."""
    points = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4:
            point = fields[4].encode().decode("unicode_escape")
            if point.startswith(roots):
                points.append(point)
    return sorted(set(points), key=lambda p: (-p.count("/"), p))


class Reset:
    """What to remove from this host, and removing it."""

    def __init__(self, run: Runner, vip: Optional[str]) -> None:
        self.run = run
        self.vip = vip
        self.removed: list[str] = []

    def _read(self, path: str) -> str:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            return ""

    def _processes(self) -> list[tuple[int, str]]:
        found = []
        for pid in os.listdir("/proc"):
            if pid.isdigit() and int(pid) != os.getpid():
                name = self._read(f"/proc/{pid}/comm").strip()
                if name in PROCESSES or name.startswith("containerd-shim"):
                    found.append((int(pid), name))
        return found

    def _vip_on(self) -> list[tuple[str, str]]:
        if not self.vip:
            return []
        rc, out, _err = self.run(["ip", "-o", "addr", "show"], None)
        hits = []
        for line in out.splitlines() if rc == 0 else []:
            fields = line.split()
            if len(fields) > 3 and fields[3].split("/")[0] == self.vip:
                hits.append((fields[1], fields[3]))
        return hits

    def execute(self, check_mode: bool) -> list[str]:
        self._units(check_mode)
        self._kill(check_mode)
        self._unmount(check_mode)
        self._interfaces(check_mode)
        self._iptables(check_mode)
        self._files(check_mode)
        return self.removed

    def _units(self, check_mode: bool) -> None:
        for unit in UNITS:
            if os.path.exists(f"/etc/systemd/system/{unit}.service"):
                self.removed.append(f"unit {unit} (stopped and disabled)")
                if not check_mode:
                    self.run(["systemctl", "disable", "--now", f"{unit}.service"], None)

    def _kill(self, check_mode: bool) -> None:
        for pid, name in self._processes():
            self.removed.append(f"process {name} ({pid})")
            if not check_mode:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def _unmount(self, check_mode: bool) -> None:
        for point in mounts_under(self._read("/proc/self/mountinfo")):
            self.removed.append(f"mount {point}")
            if not check_mode:
                self.run(["umount", "--lazy", point], None)

    def _interfaces(self, check_mode: bool) -> None:
        for name in INTERFACES:
            if os.path.exists(f"/sys/class/net/{name}"):
                self.removed.append(f"interface {name}")
                if not check_mode:
                    self.run(["ip", "link", "delete", name], None)
        for interface, address in self._vip_on():
            self.removed.append(f"address {address} on {interface} (the API VIP)")
            if not check_mode:
                self.run(["ip", "addr", "del", address, "dev", interface], None)

    def _iptables(self, check_mode: bool) -> None:
        for family in ("iptables", "ip6tables"):
            if not shutil.which(f"{family}-save"):
                continue
            rc, saved, _err = self.run([f"{family}-save"], None)
            if rc != 0:
                continue
            kept, dropped = filter_iptables(saved)
            if dropped:
                self.removed.append(f"{family} rules of k3s ({dropped} lines)")
                if not check_mode:
                    self.run([f"{family}-restore"], kept)

    def _files(self, check_mode: bool) -> None:
        for link in LINKS:
            if os.path.islink(link) and os.path.realpath(link) == "/usr/local/bin/k3s":
                self.removed.append(f"link {link}")
                if not check_mode:
                    os.unlink(link)
        units_removed = False
        for path in PATHS:
            if os.path.lexists(path):
                self.removed.append(f"{'folder' if os.path.isdir(path) and not os.path.islink(path) else 'file'} {path}")
                units_removed = units_removed or path.startswith("/etc/systemd/")
                if not check_mode:
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path)
                    else:
                        os.unlink(path)
        for parent in PARENTS:
            # In check mode the children are still there; count them as gone when the plan removes them.
            gone = {p for p in PATHS if p.startswith(parent + "/")}
            left = [f"{parent}/{name}" for name in (os.listdir(parent) if os.path.isdir(parent) else [])]
            if os.path.isdir(parent) and all(path in gone for path in left):
                self.removed.append(f"folder {parent} (empty)")
                if not check_mode:
                    os.rmdir(parent)
        if units_removed and not check_mode:
            self.run(["systemctl", "daemon-reload"], None)


def reset(run: Runner, vip: Optional[str], check_mode: bool) -> dict[str, Any]:
    removed = Reset(run, vip).execute(check_mode)
    return {"changed": bool(removed), "removed": removed}
