# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Preflight's judgement: every host's measurements, one report."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from spec_cases import BASE_NODES, BASE_SPEC

from ansible_collections.keelson.platform.plugins.module_utils._preflight import evaluate
from ansible_collections.keelson.platform.plugins.module_utils._spec import validate_platform

VALIDATED = validate_platform(copy.deepcopy(BASE_SPEC), copy.deepcopy(BASE_NODES))
SPEC, NODES = VALIDATED.spec, VALIDATED.nodes or []


def healthy(host: str, address: str, index: int) -> dict[str, Any]:
    return {
        "os": {"id": "debian", "version_id": "12", "pretty": "Debian GNU/Linux 12 (bookworm)"},
        "arch": "amd64",
        "kernel": "6.1.0-28-amd64",
        "cpus": 4,
        "memory_mb": 8192,
        "swap_mb": 0,
        "swaps": [],
        "disk_free_mb": 50000,
        "disk_path": "/var/lib",
        "cgroup": "v2",
        "modules": {"overlay": {"active": True, "loadable": True}, "br_netfilter": {"active": False, "loadable": True}},
        "sysctls": {},
        "ports": [],
        "listeners": [],
        "container": "",
        "time_synchronised": True,
        "epoch": 1_800_000_000.0 + index * 0.1,
        "hostname": host,
        "machine_id": f"{index:032x}",
        "addresses": [
            {"interface": "eth0", "address": address, "prefix": 24},
            {"interface": "lo", "address": "127.0.0.1", "prefix": 8},
        ],
        "firewalls": [],
        "fsync": {"directory": "/var/lib", "p99_ms": 2.5, "mean_ms": 1.0},
        "nvidia_container_runtime": "/usr/bin/nvidia-container-runtime",
    }


def measurements() -> dict[str, dict[str, Any]]:
    return {node["host"]: healthy(node["host"], node["address"], index) for index, node in enumerate(NODES)}


def test_healthy_hosts_pass_with_figures() -> None:
    report = evaluate(SPEC, NODES, measurements())
    assert report.errors == []
    assert report.warnings == []
    assert report.figures[0] == (
        "server-1 (server): Debian GNU/Linux 12 (bookworm) amd64, 4 CPUs, 8192 MiB, 50000 MiB free at /var/lib, cgroup v2, fsync p99 2.5 ms"
    )


def _set(hosts: dict[str, Any], host: str, key: str, value: Any) -> None:
    target = hosts[host]
    *path, last = key.split(".")
    for part in path:
        target = target[part]
    target[last] = value


SUPPORTED = "debian 11, 12, 13; ubuntu 22.04, 24.04, 26.04; rhel 8, 9, 10; rocky 8, 9, 10; almalinux 8, 9, 10"
ERRORS = [
    (
        "os",
        {"server-2": {"os": {"id": "centos", "version_id": "7", "pretty": "CentOS Linux 7"}}},
        f"server-2: unsupported OS CentOS Linux 7 (supported: {SUPPORTED})",
    ),
    (
        "os-version",
        {"server-2": {"os.version_id": "10"}},
        f"server-2: unsupported OS Debian GNU/Linux 12 (bookworm) (supported: {SUPPORTED})",
    ),
    ("arch", {"gpu-1": {"arch": "riscv64"}}, "gpu-1: unsupported architecture riscv64 (supported: amd64, arm64)"),
    ("cpus", {"server-1": {"cpus": 1}}, "server-1: CPUs: 1, a server needs at least 2"),
    ("memory", {"server-3": {"memory_mb": 1024}}, "server-3: memory: 1024 MiB, a server needs at least 2048 MiB"),
    (
        "disk",
        {"gpu-1": {"disk_free_mb": 1000}},
        "gpu-1: free disk at /var/lib: 1000 MiB, an agent needs at least 5120 MiB",
    ),
    (
        "module-not-available",
        {"server-1": {"modules.br_netfilter": {"active": False, "loadable": False}}},
        "server-1: kernel module br_netfilter is neither loaded nor available for kernel 6.1.0-28-amd64",
    ),
    (
        "module-in-container",
        {
            "server-1": {
                "container": "lxc",
                "modules.br_netfilter": {"active": False, "loadable": False},
                "sysctls": {
                    "net.ipv4.ip_forward": "1",
                    "net.bridge.bridge-nf-call-iptables": "1",
                    "net.bridge.bridge-nf-call-ip6tables": "1",
                },
            }
        },
        "server-1: kernel module br_netfilter is not loaded and a lxc container cannot load it; the lxc host running it must",
    ),
    (
        "sysctl-in-container",
        {
            "server-1": {
                "container": "podman",
                "modules.br_netfilter": {"active": True, "loadable": False},
                "sysctls": {
                    "net.ipv4.ip_forward": "0",
                    "net.bridge.bridge-nf-call-iptables": "1",
                    "net.bridge.bridge-nf-call-ip6tables": "1",
                },
            }
        },
        "server-1: sysctl net.ipv4.ip_forward is 0, k3s needs 1; a container cannot set it, "
        "the podman host running it must (e.g. podman run --sysctl net.ipv4.ip_forward=1)",
    ),
    (
        "port-taken",
        {"server-1": {"listeners": [{"port": 6443, "protocol": "tcp", "process": "nginx"}]}},
        "server-1: port 6443/tcp is taken by nginx; k3s needs it",
    ),
    (
        "duplicate-hostname",
        {"server-3": {"hostname": "server-1"}},
        "server-3: has the same hostname (server-1) as server-1; give each host its own hostname",
    ),
    (
        "cloned-vm",
        {"gpu-1": {"machine_id": "0" * 32}},
        f"gpu-1: has the same machine-id ({'0' * 32}) as server-1; cloned VMs? run systemd-machine-id-setup on each",
    ),
    (
        "clock-skew",
        {"server-2": {"epoch": 1_800_000_060.0}},
        "server-2: its clock is 60.0 s ahead of server-1's (limit 5 s); synchronise the clocks (NTP)",
    ),
    (
        "address-not-on-host",
        {"server-3": {"addresses": [{"interface": "eth0", "address": "192.168.10.99", "prefix": 24}]}},
        "server-3: its inventory address 192.168.10.13 is not on the host (it has 192.168.10.99)",
    ),
]


@pytest.mark.parametrize(("changes", "expected"), [case[1:] for case in ERRORS], ids=[case[0] for case in ERRORS])
def test_problems_are_reported(changes: dict[str, dict[str, Any]], expected: str) -> None:
    hosts = measurements()
    for host, values in changes.items():
        for key, value in values.items():
            _set(hosts, host, key, value)
    report = evaluate(SPEC, NODES, hosts)
    assert expected in report.errors
    assert len(report.errors) == 1, report.errors


def test_vip_outside_the_servers_subnet() -> None:
    spec = validate_platform({**copy.deepcopy(BASE_SPEC), "cluster": {"api_vip": "10.1.2.3"}}, copy.deepcopy(BASE_NODES)).spec
    report = evaluate(spec, NODES, measurements())
    assert report.errors == [
        f"{host}: the API VIP 10.1.2.3 is outside this server's subnets; kube-vip (ARP) needs it on the servers' network"
        for host in ("server-1", "server-2", "server-3")
    ]


def test_port_held_by_k3s_itself_is_fine() -> None:
    hosts = measurements()
    hosts["server-1"]["listeners"] = [
        {"port": 6443, "protocol": "tcp", "process": "k3s-server"},
        {"port": 8472, "protocol": "udp", "process": "kernel"},
    ]
    assert evaluate(SPEC, NODES, hosts).errors == []


def test_every_problem_of_every_host_in_one_report() -> None:
    hosts = measurements()
    hosts["server-1"]["cpus"] = 1
    hosts["gpu-1"]["arch"] = "s390x"
    del hosts["server-2"]
    report = evaluate(SPEC, NODES, hosts)
    assert report.errors == [
        "server-2: no measurements (the host was unreachable or preflight_info failed on it)",
        "server-1: CPUs: 1, a server needs at least 2",
        "gpu-1: unsupported architecture s390x (supported: amd64, arm64)",
    ]


WARNINGS = [
    ("swap", {"swaps": ["/swapfile"]}, "server-1: swap is on (/swapfile); prereq turns it off"),
    (
        "cgroup-v1",
        {"cgroup": "v1"},
        "server-1: cgroup v1: Kubernetes 1.35 deprecates cgroup v1; boot with systemd.unified_cgroup_hierarchy=1",
    ),
    (
        "ntp",
        {"time_synchronised": False},
        "server-1: the clock is not synchronised (NTP); etcd and TLS need synchronised clocks",
    ),
    (
        "nftables",
        {"firewalls": ["nftables"]},
        "server-1: nftables is active: keelson manages ufw and firewalld rules, not a raw nftables ruleset; "
        "allow 2379/tcp, 2380/tcp, 6443/tcp, 8472/udp, 10250/tcp",
    ),
    (
        "slow-disk",
        {"fsync": {"directory": "/var/lib", "p99_ms": 42.0, "mean_ms": 20.0}},
        "server-1: fsync p99 42.0 ms at /var/lib: etcd wants under 10 ms (slow disks cause leader elections)",
    ),
]


@pytest.mark.parametrize(("changes", "expected"), [case[1:] for case in WARNINGS], ids=[case[0] for case in WARNINGS])
def test_warnings(changes: dict[str, Any], expected: str) -> None:
    hosts = measurements()
    hosts["server-1"].update(changes)
    report = evaluate(SPEC, NODES, hosts)
    assert report.errors == []
    assert report.warnings == [expected]


NET_SYSCTLS = {"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1", "net.bridge.bridge-nf-call-ip6tables": "1"}


@pytest.mark.parametrize(
    ("container", "max_map_count", "warned"),
    [
        ("podman", "65530", True),  # this machine's default: the test hosts run k3s, Weaviate would be short
        ("podman", None, True),
        ("podman", "524288", False),
        ("podman", "1048576", False),  # more is fine: a minimum
        ("", "65530", False),  # a real host: prereq raises it, nothing to judge
    ],
)
def test_vm_max_map_count_is_a_minimum_and_only_a_warning_in_a_container(container: str, max_map_count: Any, warned: bool) -> None:
    """vm.max_map_count is not per container: a container host below Weaviate's minimum still runs k3s, so it is
    a warning there (not an error, as the net.* sysctls k3s needs are); the molecule test hosts pass preflight."""
    hosts = measurements()
    hosts["server-1"].update(container=container, sysctls={**NET_SYSCTLS, "vm.max_map_count": max_map_count})
    hosts["server-1"]["modules"]["br_netfilter"]["active"] = True
    report = evaluate(SPEC, NODES, hosts)
    assert report.errors == []
    expected = (
        f"server-1: sysctl vm.max_map_count is {max_map_count if max_map_count is not None else 'absent'}, Weaviate wants at least "
        f"524288; a container cannot raise it, the podman host running it should (sysctl -w vm.max_map_count=524288, it is not per container)"
    )
    assert report.warnings == ([expected] if warned else [])


def test_a_gpu_host_needs_the_nvidia_container_runtime() -> None:
    """k3s registers containerd's nvidia runtime (the RuntimeClass's handler) only where the toolkit is."""
    hosts = measurements()
    for facts in hosts.values():
        facts["nvidia_container_runtime"] = ""
    report = evaluate(SPEC, NODES, hosts)
    gpu = next(node for node in NODES if node["gpus"] > 0)
    assert report.errors == [
        f"{gpu['host']}: keelson_node.gpus is {gpu['gpus']} but nvidia-container-runtime is not on PATH: install the NVIDIA "
        "container toolkit (nvidia-container-toolkit, with the NVIDIA driver) so that k3s registers the nvidia containerd "
        "runtime, or set keelson_node.gpus to 0"
    ]
    hosts[gpu["host"]]["nvidia_container_runtime"] = "/usr/local/nvidia/toolkit/nvidia-container-runtime"
    assert evaluate(SPEC, NODES, hosts).errors == []
