# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Judge every host's preflight measurements at once, on the controller: one report, every problem.

Input: the normalised spec and nodes (``_spec.validate_platform``) and each host's measurements
(``_host_probe.measure``). Output: errors (fatal), warnings, and a line of figures per host.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils._formats import parse_ip
from ansible_collections.keelson.platform.plugins.module_utils._problems import Problems

SUPPORTED_OS: Final[dict[str, tuple[str, ...]]] = {
    "debian": ("11", "12", "13"),
    "ubuntu": ("22.04", "24.04", "26.04"),
    "rhel": ("8", "9", "10"),
    "rocky": ("8", "9", "10"),
    "almalinux": ("8", "9", "10"),
}
SUPPORTED_ARCH: Final = ("amd64", "arm64")
# The one list of the sysctls a host needs (docs/hosts.md shows it): preflight_info measures them,
# preflight_report judges them, the prereq role sets them through the keelson.platform.k3s_sysctls filter (on a
# container host its parent must), and the molecule test hosts get the net.* ones at create time.
# These k3s needs on every node.
REQUIRED_SYSCTLS: Final[dict[str, str]] = {
    "net.ipv4.ip_forward": "1",
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
}
# At least these (a host that has more keeps its value): Weaviate's memory-mapped files. 524288 is what the
# weaviate chart's configure-sysctl init container would write (values.yaml initContainers.sysctlInitContainer,
# sysctlVmMaxMapCount), which keelson turns off (privileged, as root). Not per container: on a container host its
# parent must raise it, and until then Weaviate's larger shards fail to open, so preflight warns there.
MINIMUM_SYSCTLS: Final[dict[str, str]] = {
    "vm.max_map_count": "524288",
}
# The CIS kubelet settings (--protect-kernel-defaults), when hardening is on.
HARDENING_SYSCTLS: Final[dict[str, str]] = {
    "vm.panic_on_oom": "0",
    "vm.overcommit_memory": "1",
    "kernel.panic": "10",
    "kernel.panic_on_oops": "1",
}
# The NVIDIA container toolkit's runtime, which a GPU host needs on PATH (measured by _host_probe).
NVIDIA_CONTAINER_RUNTIME: Final = "nvidia-container-runtime"
FSYNC_WARN_MS: Final = 10.0  # etcd's guidance: 99th percentile WAL fsync under 10 ms


@dataclasses.dataclass(frozen=True)
class Minimums:
    """Hardware a host needs, by role."""

    cpus: int
    memory_mb: int
    disk_free_mb: int


MINIMUMS: Final = {
    # Servers run etcd, the API server and the controllers.
    "server": Minimums(cpus=2, memory_mb=2048, disk_free_mb=10240),
    "agent": Minimums(cpus=1, memory_mb=512, disk_free_mb=5120),
}


def ports_for(role: str) -> list[dict[str, Any]]:
    """The ports k3s listens on for a role (flannel's default vxlan backend)."""
    ports = [{"port": 10250, "protocol": "tcp"}, {"port": 8472, "protocol": "udp"}]
    if role == "server":
        ports += [
            {"port": 6443, "protocol": "tcp"},
            {"port": 2379, "protocol": "tcp"},
            {"port": 2380, "protocol": "tcp"},
        ]
    return sorted(ports, key=lambda item: (item["port"], item["protocol"]))


def sysctls_for(hardening: bool, current: Optional[dict[str, str]] = None) -> dict[str, str]:
    """The sysctls (name -> value) a host needs: k3s' own, the minimums, and the CIS kubelet ones when hardening
    is on. With the host's ``current`` values, a minimum the host already exceeds keeps the host's value."""
    minimums = {name: _at_least(want, (current or {}).get(name)) for name, want in MINIMUM_SYSCTLS.items()}
    return {**REQUIRED_SYSCTLS, **minimums, **(HARDENING_SYSCTLS if hardening else {})}


def measured_sysctls() -> list[str]:
    """Every sysctl preflight_info reads (whatever the spec's hardening)."""
    return sorted({**REQUIRED_SYSCTLS, **MINIMUM_SYSCTLS, **HARDENING_SYSCTLS})


def _number(value: Optional[str]) -> Optional[int]:
    try:
        return int(str(value).split()[0])
    except (ValueError, IndexError):
        return None


def _at_least(want: str, have: Optional[str]) -> str:
    have_number = _number(have)
    return str(have_number) if have_number is not None and have_number > int(want) else want


def _owned_by_k3s(listener: dict[str, Any]) -> bool:
    process = str(listener.get("process", ""))
    # k3s names its processes k3s-server / k3s-agent; flannel's vxlan socket belongs to the kernel.
    return process.startswith("k3s") or (listener["port"] == 8472 and process in ("unknown", "kernel"))


def _check_host(host: str, role: str, facts: dict[str, Any], spec: dict[str, Any], problems: Problems) -> None:
    path = f"{host}"
    os_info = facts["os"]
    versions = SUPPORTED_OS.get(os_info["id"])
    if versions is None or os_info["version_id"] not in versions:
        supported = "; ".join(f"{name} {', '.join(v)}" for name, v in SUPPORTED_OS.items())
        problems.error(path, f"unsupported OS {os_info['pretty'] or os_info['id']} (supported: {supported})")
    if facts["arch"] not in SUPPORTED_ARCH:
        problems.error(path, f"unsupported architecture {facts['arch']} (supported: {', '.join(SUPPORTED_ARCH)})")

    need = MINIMUMS[role]
    for key, unit, label in (
        ("cpus", "", "CPUs"),
        ("memory_mb", " MiB", "memory"),
        ("disk_free_mb", " MiB", "free disk"),
    ):
        have, want = facts[key], getattr(need, key)
        if have < want:
            where = f" at {facts['disk_path']}" if key == "disk_free_mb" else ""
            problems.error(
                path,
                f"{label}{where}: {have}{unit}, {'an' if role == 'agent' else 'a'} {role} needs at least {want}{unit}",
            )

    in_container = bool(facts["container"])
    parent = f"the {facts['container']} host running it" if in_container else ""
    for module, state in facts["modules"].items():
        if state["active"]:
            continue
        if in_container:
            problems.error(
                path,
                f"kernel module {module} is not loaded and a {facts['container']} container cannot load it; {parent} must",
            )
        elif not state["loadable"]:
            problems.error(path, f"kernel module {module} is neither loaded nor available for kernel {facts['kernel']}")

    if in_container:
        for name, want in sysctls_for(bool(spec["cluster"]["hardening"])).items():
            have = facts["sysctls"].get(name)
            if name in MINIMUM_SYSCTLS:
                have_number = _number(have)
                if have_number is None or have_number < int(want):
                    # k3s runs without it; only Weaviate's larger shards fail to open (not enough memory mappings).
                    problems.warn(
                        path,
                        f"sysctl {name} is {have if have is not None else 'absent'}, Weaviate wants at least {want}; "
                        f"a container cannot raise it, {parent} should (sysctl -w {name}={want}, it is not per container)",
                    )
                continue
            if have != want:
                how = f"e.g. podman run --sysctl {name}={want}" if name.startswith("net.") else "it is not per container"
                problems.error(
                    path,
                    f"sysctl {name} is {have if have is not None else 'absent'}, k3s needs {want}; "
                    f"a container cannot set it, {parent} must ({how})",
                )

    for listener in facts["listeners"]:
        if not _owned_by_k3s(listener):
            problems.error(path, f"port {listener['port']}/{listener['protocol']} is taken by {listener['process']}; k3s needs it")

    if facts["swaps"]:
        if in_container:
            problems.warn(
                path,
                f"swap is on ({', '.join(facts['swaps'])}) and a container cannot turn it off; "
                f"k3s runs with it, {parent} should turn it off",
            )
        else:
            problems.warn(path, f"swap is on ({', '.join(facts['swaps'])}); prereq turns it off")
    if facts["cgroup"] != "v2":
        problems.warn(
            path,
            f"cgroup {facts['cgroup']}: Kubernetes 1.35 deprecates cgroup v1; boot with systemd.unified_cgroup_hierarchy=1",
        )
    if facts["time_synchronised"] is False:
        problems.warn(path, "the clock is not synchronised (NTP); etcd and TLS need synchronised clocks")
    if "nftables" in facts["firewalls"]:
        ports = ", ".join(f"{p['port']}/{p['protocol']}" for p in ports_for(role))
        problems.warn(
            path,
            f"nftables is active: keelson manages ufw and firewalld rules, not a raw nftables ruleset; allow {ports}",
        )
    fsync = facts.get("fsync")
    if role == "server" and fsync and fsync["p99_ms"] > FSYNC_WARN_MS:
        problems.warn(
            path,
            f"fsync p99 {fsync['p99_ms']} ms at {fsync['directory']}: "
            f"etcd wants under {FSYNC_WARN_MS:g} ms (slow disks cause leader elections)",
        )


def _check_gpu_runtime(node: dict[str, Any], facts: dict[str, Any], problems: Problems) -> None:
    """A host that declares GPUs needs the NVIDIA container runtime, from which k3s configures containerd's
    ``nvidia`` runtime (the handler of the RuntimeClass the GPU pods and the device plugin run with)."""
    if int(node.get("gpus") or 0) > 0 and not facts.get("nvidia_container_runtime"):
        problems.error(
            node["host"],
            f"keelson_node.gpus is {node['gpus']} but {NVIDIA_CONTAINER_RUNTIME} is not on PATH: install the NVIDIA "
            "container toolkit (nvidia-container-toolkit, with the NVIDIA driver) so that k3s registers the nvidia "
            "containerd runtime, or set keelson_node.gpus to 0",
        )


def _check_addresses(host: str, address: str, facts: dict[str, Any], problems: Problems) -> None:
    wanted = parse_ip(address)
    if wanted is None:
        return  # a DNS name: nothing to compare without resolving it the way the host does
    on_host = {parse_ip(item["address"]) for item in facts["addresses"]}
    if wanted not in on_host:
        problems.error(
            host,
            f"its inventory address {address} is not on the host (it has {', '.join(sorted(str(a) for a in on_host if a))})",
        )


def _networks(facts: dict[str, Any]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    result = []
    for item in facts["addresses"]:
        if parse_ip(item["address"]) is not None:
            result.append(ipaddress.ip_interface(f"{item['address']}/{item['prefix']}").network)
    return result


def _check_cluster(
    nodes: list[dict[str, Any]],
    hosts: dict[str, dict[str, Any]],
    spec: dict[str, Any],
    skew_limit: float,
    problems: Problems,
) -> None:
    for key, what in (("hostname", "hostname"), ("machine_id", "machine-id")):
        seen: dict[str, str] = {}
        for node in nodes:
            value = hosts[node["host"]].get(key)
            if not value:
                continue
            if value in seen:
                hint = "cloned VMs? run systemd-machine-id-setup on each" if key == "machine_id" else "give each host its own hostname"
                problems.error(node["host"], f"has the same {what} ({value}) as {seen[value]}; {hint}")
            else:
                seen[value] = node["host"]
    epochs = {node["host"]: hosts[node["host"]]["epoch"] for node in nodes}
    if epochs:
        earliest, latest = min(epochs, key=epochs.__getitem__), max(epochs, key=epochs.__getitem__)
        skew = epochs[latest] - epochs[earliest]
        if skew > skew_limit:
            problems.error(
                latest,
                f"its clock is {skew:.1f} s ahead of {earliest}'s (limit {skew_limit:g} s); synchronise the clocks (NTP)",
            )
    vip = spec["cluster"]["api_vip"]
    if vip:
        address = ipaddress.ip_address(vip)
        for node in nodes:
            if node["role"] == "server" and not any(address in network for network in _networks(hosts[node["host"]])):
                problems.error(
                    node["host"],
                    f"the API VIP {vip} is outside this server's subnets; kube-vip (ARP) needs it on the servers' network",
                )


@dataclasses.dataclass(frozen=True)
class Report:
    errors: list[str]
    warnings: list[str]
    figures: list[str]


def evaluate(spec: dict[str, Any], nodes: list[dict[str, Any]], hosts: dict[str, dict[str, Any]], skew_limit: float = 5.0) -> Report:
    """Every problem of every host, and one line of figures per host."""
    problems = Problems()
    missing = [node["host"] for node in nodes if node["host"] not in hosts]
    for host in missing:
        problems.error(host, "no measurements (the host was unreachable or preflight_info failed on it)")
    measured = [node for node in nodes if node["host"] in hosts]
    for node in measured:
        facts = hosts[node["host"]]
        _check_host(node["host"], node["role"], facts, spec, problems)
        _check_addresses(node["host"], node["address"], facts, problems)
        _check_gpu_runtime(node, facts, problems)
    _check_cluster(measured, hosts, spec, skew_limit, problems)
    figures = [_figures(node, hosts[node["host"]]) for node in measured]
    return Report([str(p) for p in problems.errors], [str(p) for p in problems.warnings], figures)


def _figures(node: dict[str, Any], facts: dict[str, Any]) -> str:
    fsync: Optional[dict[str, Any]] = facts.get("fsync")
    probe = f", fsync p99 {fsync['p99_ms']} ms" if fsync else ""
    where = f", in {facts['container']}" if facts["container"] else ""
    return (
        f"{node['host']} ({node['role']}): {facts['os']['pretty'] or facts['os']['id']} {facts['arch']}{where}, "
        f"{facts['cpus']} CPUs, {facts['memory_mb']} MiB, {facts['disk_free_mb']} MiB free at {facts['disk_path']}, "
        f"cgroup {facts['cgroup']}{probe}"
    )
