# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The k3s_sysctls filter: the one list of sysctls, as the prereq role and the test hosts read it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.keelson.platform.plugins.filter.k3s import FilterModule
from ansible_collections.keelson.platform.plugins.module_utils._preflight import sysctls_for

K3S_SYSCTLS = FilterModule().filters()["k3s_sysctls"]
K3S_NEEDS = {
    "net.ipv4.ip_forward": "1",
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
    "vm.max_map_count": "524288",  # a minimum, for Weaviate (its chart's privileged init container is off)
}
CIS_KUBELET = {"vm.panic_on_oom": "0", "vm.overcommit_memory": "1", "kernel.panic": "10", "kernel.panic_on_oops": "1"}


@pytest.mark.parametrize(("hardening", "expected"), [(False, K3S_NEEDS), (True, {**K3S_NEEDS, **CIS_KUBELET})])
def test_the_sysctls_a_host_needs(hardening: bool, expected: dict[str, str]) -> None:
    assert K3S_SYSCTLS(hardening) == expected
    assert sysctls_for(hardening) == expected


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ({}, "524288"),
        ({"vm.max_map_count": "65530"}, "524288"),  # raised
        ({"vm.max_map_count": "1048576"}, "1048576"),  # Ubuntu and Fedora's own, higher: never lowered
        ({"vm.max_map_count": None}, "524288"),  # not measured
        ({"vm.max_map_count": "garbage"}, "524288"),
    ],
)
def test_a_minimum_never_lowers_the_host(current: dict[str, Any], expected: str) -> None:
    result = K3S_SYSCTLS(False, current)
    assert result["vm.max_map_count"] == expected
    assert {name: value for name, value in result.items() if name != "vm.max_map_count"} == {
        name: value for name, value in K3S_NEEDS.items() if name != "vm.max_map_count"
    }


def test_takes_the_host_sysctls_as_a_map() -> None:
    with pytest.raises(AnsibleFilterError, match=r"takes the host's sysctls"):
        K3S_SYSCTLS(False, ["vm.max_map_count"])


@pytest.mark.parametrize("value", ["false", None, 0, {"hardening": True}])
def test_takes_only_the_hardening_flag(value: Any) -> None:
    with pytest.raises(AnsibleFilterError, match=r"k3s_sysctls takes cluster\.hardening"):
        K3S_SYSCTLS(value)


def test_no_role_or_scenario_keeps_its_own_copy(repo: Path) -> None:
    names = re.compile("|".join(re.escape(name) for name in sysctls_for(True)))
    copies = [
        f"{path.relative_to(repo)}: {match.group(0)}"
        for folder in ("roles", "playbooks", "molecule")
        for path in sorted((repo / folder).rglob("*.yml"))
        for match in names.finditer(path.read_text())
    ]
    assert copies == [], "list sysctls in module_utils/_preflight.py only (read them with keelson.platform.k3s_sysctls)"
