#!/usr/bin/python
# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: k3s_upgrade_info
short_description: Plan a k3s upgrade, or refuse it with every reason
version_added: 0.1.0
description:
  - Compares the version each node's kubelet reports with the target k3s version and returns the nodes to move,
    servers first.
  - Refuses, listing every node at fault and what to do, a downgrade, a skipped Kubernetes minor (naming the
    release to take first), a minor entered from a release older than its stepping stone (the catalog's
    C(k3s.stepping_stones)), and a node the cluster does not know.
  - Nodes already at the target are left out, so a run that stopped half-way continues where it stopped and a
    run after success has nothing to do.
  - "Run it on the controller (C(delegate_to: localhost))."
author:
  - keelson maintainers (@keelson)
extends_documentation_fragment:
  - keelson.platform.attributes
  - keelson.platform.attributes.READ_ONLY
options:
  nodes:
    description: The validated inventory's nodes (C(keelson_nodes)), each with C(name) and C(role).
    type: list
    elements: dict
    required: true
  node_objects:
    description: The cluster's Node objects (C(kubernetes.core.k8s_info) of kind Node, its C(resources)).
    type: list
    elements: dict
    required: true
  target:
    description: The k3s version to move to; one the catalog pins.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Plan the upgrade
  keelson.platform.k3s_upgrade_info:
    nodes: "{{ keelson_nodes }}"
    node_objects: "{{ cluster_nodes.resources }}"
    target: "{{ keelson_spec.cluster.k3s_version }}"
  delegate_to: localhost
  register: upgrade_plan
"""

RETURN = r"""
target:
  description: The version the nodes move to.
  returned: success
  type: str
  sample: v1.35.6+k3s1
upgrade:
  description: Names of the nodes to upgrade, servers first (inventory order), then agents.
  returned: success
  type: list
  elements: str
  sample: [server-1, server-2, server-3, agent-1]
resume:
  description:
    - Nodes at the target that a run which stopped left cordoned (they carry the C(keelson.dev/upgrading-to)
      annotation); they are waited for and uncordoned, not restarted.
  returned: success
  type: list
  elements: str
  sample: [server-2]
mark:
  description: The annotation a node carries from its drain to its uncordon.
  returned: success
  type: str
  sample: keelson.dev/upgrading-to
current:
  description: The version each node runs now.
  returned: success
  type: dict
  sample: {server-1: v1.35.5+k3s1}
message:
  description: One line saying what the upgrade does.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keelson.platform.plugins.module_utils._k3s_upgrade import MARK, NodeVersion, UpgradeError, plan


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "nodes": {"type": "list", "elements": "dict", "required": True},
            "node_objects": {"type": "list", "elements": "dict", "required": True},
            "target": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    found = {item.get("metadata", {}).get("name"): item for item in params["node_objects"]}
    nodes = []
    for node in params["nodes"]:
        item = found.get(node["name"], {})
        nodes.append(
            NodeVersion(
                name=node["name"],
                role=node["role"],
                version=item.get("status", {}).get("nodeInfo", {}).get("kubeletVersion"),
                marked=(item.get("metadata", {}).get("annotations") or {}).get(MARK),
            )
        )
    try:
        result = plan(nodes, params["target"])
    except UpgradeError as error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=False, mark=MARK, **result.as_dict())


if __name__ == "__main__":
    main()
