# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The cluster_inventory filter: what the validate playbook hands to platform_spec."""

from __future__ import annotations

from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.keelson.platform.plugins.filter.cluster_inventory import FilterModule, cluster_inventory
from ansible_collections.keelson.platform.plugins.module_utils._spec_model import SERVER_GROUP

SPEC = {"name": "ml", "domain": "ml.example.internal"}


def hostvars(**overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    hosts: dict[str, dict[str, Any]] = {
        "s1": {"keelson_platform": SPEC, "ansible_host": "10.0.0.1"},
        "s2": {"keelson_platform": SPEC},
        "gpu": {"keelson_platform": SPEC, "ansible_host": "10.0.0.9", "keelson_node": {"gpus": 1}},
    }
    for host, values in overrides.items():
        hosts[host] = {**hosts.get(host, {}), **values}
    return hosts


GROUPS = {"keelson_servers": ["s1", "s2"], "keelson_agents": ["gpu"], "all": ["s1", "s2", "gpu"]}


def test_collects_every_cluster_host_in_group_order() -> None:
    result = cluster_inventory(hostvars(), GROUPS)
    assert result["spec"] == SPEC
    assert result["nodes"] == [
        {"host": "s1", "role": "server", "address": "10.0.0.1", "keelson_node": None, "spec_differs": False},
        {"host": "s2", "role": "server", "address": "s2", "keelson_node": None, "spec_differs": False},
        {"host": "gpu", "role": "agent", "address": "10.0.0.9", "keelson_node": {"gpus": 1}, "spec_differs": False},
    ]


def test_flags_a_host_that_sees_another_spec() -> None:
    result = cluster_inventory(hostvars(s2={"keelson_platform": {**SPEC, "name": "other"}}), GROUPS)
    assert [node["spec_differs"] for node in result["nodes"]] == [False, True, False]


def test_reads_only_the_groups_the_spec_and_playbooks_name() -> None:
    groups = {SERVER_GROUP: ["s1"], "masters": ["s2"], "workers": ["gpu"]}
    result = cluster_inventory(hostvars(), groups)
    assert [(node["host"], node["role"]) for node in result["nodes"]] == [("s1", "server")]
    assert cluster_inventory(hostvars(), {}) == {"spec": None, "nodes": []}
    with pytest.raises(TypeError):  # no group-name parameters: nothing downstream would honour them
        cluster_inventory(hostvars(), groups, server_group="masters")  # type: ignore[call-arg]


def test_groups_argument_is_required_to_be_a_mapping() -> None:
    with pytest.raises(AnsibleFilterError, match="pass the groups variable"):
        cluster_inventory(hostvars(), ["s1"])  # type: ignore[arg-type]


def test_is_registered_under_its_name() -> None:
    assert FilterModule().filters()["cluster_inventory"] is cluster_inventory
