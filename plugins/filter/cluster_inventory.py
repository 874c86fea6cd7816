# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: cluster_inventory
short_description: The inventory's view of a keelson cluster
version_added: 0.1.0
author:
  - keelson maintainers (@keelson)
description:
  - Collects what P(keelson.platform.platform_spec#module) needs from the inventory. For every host of the
    groups C(keelson_servers) and C(keelson_agents), that is its address, its C(keelson_node) host variable,
    and whether it sees the same C(keelson_platform) as the first host.
  - The group names are fixed; the playbooks target the same groups.
  - Returns the spec (C(keelson_platform) of the first server, else of the first agent) and one entry
    per host and group. A host in both groups yields two entries, which the module reports.
options:
  _input:
    description: C(hostvars).
    type: dict
    required: true
  groups:
    description: C(groups).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Validate the spec against the inventory
  vars:
    cluster: "{{ hostvars | keelson.platform.cluster_inventory(groups) }}"
  keelson.platform.platform_spec:
    spec: "{{ cluster.spec }}"
    nodes: "{{ cluster.nodes }}"
"""

RETURN = r"""
_value:
  description: C(spec) (the raw C(keelson_platform), or null) and C(nodes) (a list of host entries).
  type: dict
"""

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.keelson.platform.plugins.module_utils._data import plain as _plain
from ansible_collections.keelson.platform.plugins.module_utils._spec_model import AGENT_GROUP, SERVER_GROUP


def cluster_inventory(hostvars: Mapping[str, Any], groups: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``{"spec": ..., "nodes": [...]}`` for the hosts of the server and agent groups."""
    if not isinstance(groups, Mapping):
        raise AnsibleFilterError("cluster_inventory: pass the groups variable, e.g. hostvars | cluster_inventory(groups)")
    nodes: list[dict[str, Any]] = []
    reference: Any = None
    have_reference = False
    for role, group in (("server", SERVER_GROUP), ("agent", AGENT_GROUP)):
        for host in groups.get(group, []):
            host_vars = hostvars[host]
            spec = _plain(host_vars.get("keelson_platform"))
            if not have_reference:
                reference, have_reference = spec, True
            nodes.append(
                {
                    "host": host,
                    "role": role,
                    "address": str(host_vars.get("ansible_host", host)),
                    "keelson_node": _plain(host_vars.get("keelson_node")),
                    "spec_differs": spec != reference,
                }
            )
    return {"spec": reference, "nodes": nodes}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"cluster_inventory": cluster_inventory}
