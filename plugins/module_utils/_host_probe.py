# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read-only measurements of a host, taken in one pass (the preflight_info module runs this on hosts).

Everything here reads /proc, /sys and /etc, or runs a read-only command. The one write is the optional
fsync probe: a temporary file in the data directory's nearest existing parent, removed again.
The judgement of these figures is made on the controller, for all hosts at once (_preflight.py).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import tempfile
import time
from typing import Any, Callable, Optional

from ansible_collections.keelson.platform.plugins.module_utils._preflight import NVIDIA_CONTAINER_RUNTIME

# (protocol file, transport) in /proc/net; TCP sockets count when listening (state 0A), UDP when bound.
_SOCKET_TABLES = (("tcp", "tcp"), ("tcp6", "tcp"), ("udp", "udp"), ("udp6", "udp"))
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm"}
_FIREWALLS = ("ufw", "firewalld", "nftables")

Runner = Callable[[list[str]], tuple[int, str, str]]


def _read(path: str, default: str = "") -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return default


def os_release(text: Optional[str] = None) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (text if text is not None else _read("/etc/os-release")).splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip('"')
    return {
        "id": values.get("ID", ""),
        "version_id": values.get("VERSION_ID", ""),
        "pretty": values.get("PRETTY_NAME", ""),
    }


def meminfo(text: Optional[str] = None) -> dict[str, int]:
    """MemTotal and SwapTotal in MiB."""
    values: dict[str, int] = {}
    for line in (text if text is not None else _read("/proc/meminfo")).splitlines():
        key, _sep, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key] = int(parts[0]) // 1024
    return {"memory_mb": values.get("MemTotal", 0), "swap_mb": values.get("SwapTotal", 0)}


def active_swaps(text: Optional[str] = None) -> list[str]:
    lines = (text if text is not None else _read("/proc/swaps")).splitlines()[1:]
    return [line.split()[0] for line in lines if line.strip()]


def cgroup_version() -> str:
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "v2"
    return "hybrid" if os.path.isdir("/sys/fs/cgroup/unified") else "v1"


def kernel_modules(release: str) -> dict[str, dict[str, bool]]:
    """Whether overlay and br_netfilter work now (built in or loaded), and whether they could be loaded."""
    modules_dir = f"/lib/modules/{release}"
    dep = _read(f"{modules_dir}/modules.dep")
    builtin = _read(f"{modules_dir}/modules.builtin")

    def loadable(name: str) -> bool:
        needle = f"/{name}.ko"
        return needle in dep or needle in builtin

    filesystems = _read("/proc/filesystems")
    return {
        "overlay": {"active": "\toverlay" in filesystems, "loadable": loadable("overlay")},
        "br_netfilter": {
            "active": os.path.exists("/proc/sys/net/bridge/bridge-nf-call-iptables"),
            "loadable": loadable("br_netfilter"),
        },
    }


def sysctls(names: list[str]) -> dict[str, Optional[str]]:
    values: dict[str, Optional[str]] = {}
    for name in names:
        text = _read("/proc/sys/" + name.replace(".", "/"), default="\0")
        values[name] = None if text == "\0" else text.strip()
    return values


def _socket_inodes() -> dict[str, str]:
    """Socket inode -> process name, for every process we may look at."""
    owners: dict[str, str] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        name = _read(f"/proc/{pid}/comm").strip()
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                owners[target[8:-1]] = name
    return owners


def parse_socket_table(text: str, transport: str) -> list[tuple[int, str]]:
    """(local port, inode) of the listening TCP / bound UDP sockets in a /proc/net table."""
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        port = int(fields[1].rsplit(":", 1)[1], 16)
        state = fields[3]
        if (transport == "tcp" and state == "0A") or (transport == "udp" and state == "07"):
            found.append((port, fields[9]))
    return found


def listeners(ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Which of the wanted ``ports`` ({port, protocol}) are taken, and by which process."""
    wanted = {(int(item["port"]), item["protocol"]) for item in ports}
    taken: list[dict[str, Any]] = []
    owners: Optional[dict[str, str]] = None
    seen = set()
    for table, transport in _SOCKET_TABLES:
        for port, inode in parse_socket_table(_read(f"/proc/net/{table}"), transport):
            if (port, transport) in wanted and (port, transport) not in seen:
                if owners is None:
                    owners = _socket_inodes()
                seen.add((port, transport))
                taken.append({"port": port, "protocol": transport, "process": owners.get(inode, "unknown")})
    return sorted(taken, key=lambda item: (item["port"], item["protocol"]))


def addresses(run: Runner) -> list[dict[str, Any]]:
    """Every IP address on the host, with its prefix length and interface (from ip -j addr)."""
    rc, out, _err = run(["ip", "-j", "addr", "show"])
    if rc != 0:
        return []
    result = []
    for link in json.loads(out or "[]"):
        for info in link.get("addr_info", []):
            result.append(
                {
                    "interface": link.get("ifname", ""),
                    "address": info.get("local", ""),
                    "prefix": info.get("prefixlen", 0),
                }
            )
    return result


def container(run: Runner) -> str:
    """The container technology this host runs in ('podman', 'lxc', 'docker', ...), or '' for none."""
    if os.path.exists("/run/.containerenv"):
        return "podman"
    if os.path.exists("/.dockerenv"):
        return "docker"
    rc, out, _err = run(["systemd-detect-virt", "--container"])
    kind = out.strip()
    return kind if rc == 0 and kind and kind != "none" else ""


def time_synchronised(run: Runner, in_container: bool) -> Optional[bool]:
    """True/False from systemd (timedatectl); None when it cannot tell (a container keeps its parent's clock)."""
    rc, out, _err = run(["timedatectl", "show", "--property=NTPSynchronized", "--value"])
    if rc == 0 and out.strip() in ("yes", "no"):
        if out.strip() == "no" and in_container:
            return None
        return out.strip() == "yes"
    return None


def active_firewalls(run: Runner) -> list[str]:
    _rc, out, _err = run(["systemctl", "is-active", *_FIREWALLS])
    states = out.split()
    return [name for name, state in zip(_FIREWALLS, states) if state == "active"]


def existing_parent(path: str) -> str:
    while path and not os.path.isdir(path):
        path = os.path.dirname(path.rstrip("/")) or "/"
    return path or "/"


def fsync_probe(directory: str, writes: int = 50, size: int = 4096) -> dict[str, Any]:
    """Write ``writes`` blocks with fsync after each, like etcd's WAL; report latencies in ms."""
    latencies = []
    block = os.urandom(size)
    fd, path = tempfile.mkstemp(prefix=".keelson-fsync-", dir=directory)
    try:
        for _index in range(writes):
            start = time.perf_counter()
            os.write(fd, block)
            os.fsync(fd)
            latencies.append((time.perf_counter() - start) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return {"directory": directory, "p99_ms": round(p99, 2), "mean_ms": round(sum(latencies) / len(latencies), 2)}


def measure(run: Runner, data_dir: str, ports: list[dict[str, Any]], sysctl_names: list[str], probe: bool) -> dict[str, Any]:
    """Everything preflight judges, for this host."""
    release = platform.release()
    in_container = container(run)
    memory = meminfo()
    parent = existing_parent(data_dir)
    stat = os.statvfs(parent)
    return {
        "os": os_release(),
        "arch": _ARCH.get(platform.machine(), platform.machine()),
        "kernel": release,
        "cpus": os.cpu_count() or 0,
        "memory_mb": memory["memory_mb"],
        "swap_mb": memory["swap_mb"],
        "swaps": active_swaps(),
        "disk_free_mb": stat.f_bavail * stat.f_frsize // (1024 * 1024),
        "disk_path": parent,
        "cgroup": cgroup_version(),
        "modules": kernel_modules(release),
        "sysctls": sysctls(sysctl_names),
        "ports": ports,
        "listeners": listeners(ports),
        "container": in_container,
        "time_synchronised": time_synchronised(run, bool(in_container)),
        "epoch": time.time(),
        "hostname": socket.gethostname(),
        "machine_id": _read("/etc/machine-id").strip(),
        "addresses": addresses(run),
        "firewalls": active_firewalls(run),
        "fsync": fsync_probe(parent) if probe else None,
        # k3s registers the "nvidia" containerd runtime when it finds this on the host (the NVIDIA container
        # toolkit's runtime); "" when it is not on PATH.
        "nvidia_container_runtime": shutil.which(NVIDIA_CONTAINER_RUNTIME) or "",
    }
