#!/usr/bin/python
# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: platform_spec
short_description: Validate and normalise the keelson platform spec
version_added: 0.1.0
description:
  - Validates C(keelson_platform), the one variable that describes a keelson platform, and the inventory
    around it (the hosts in C(keelson_servers) and C(keelson_agents) with their C(keelson_node) settings).
  - >-
    Reports every problem at once, one a line: where it is, what is wrong and the value found, for example
    V(tenants[1].quota.memory: not a Kubernetes quantity (got "12GBs"\)). Fails when there is any.
  - Problems that do not stop a platform (an even number of servers, for example) come back as warnings.
  - Returns the normalised spec, with every default filled in. Later phases read only the normalised spec.
  - Changes nothing anywhere; run it on the controller (C(localhost)).
  - The fields, types and defaults are documented in C(docs/spec.md) of the collection.
author:
  - keelson maintainers (@keelson)
extends_documentation_fragment:
  - keelson.platform.attributes
  - keelson.platform.attributes.READ_ONLY
options:
  spec:
    description:
      - The platform spec as written in the inventory, usually C("{{ keelson_platform }}").
      - C(null) is reported as "not defined".
    type: raw
    required: true
  nodes:
    description:
      - The inventory's cluster hosts, one entry per host, as the P(keelson.platform.cluster_inventory#filter) filter
        returns them in its C(nodes) key.
      - Each entry has C(host), C(role) (C(server) or C(agent)), C(address) (the host's C(ansible_host)),
        C(keelson_node) (its host variable, may be null) and C(spec_differs).
      - Leave it out to validate the spec alone; the rules that need the inventory (servers present,
        GPU hosts for GPU quotas, addresses outside the cluster networks) are then skipped.
    type: list
    elements: dict
seealso:
  - name: The platform spec reference
    description: Every field, its type, default and an example.
    link: https://github.com/keelson/platform/blob/main/docs/spec.md
"""

EXAMPLES = r"""
- name: Validate and normalise the platform spec of this inventory
  keelson.platform.platform_spec:
    spec: "{{ keelson_platform }}"
    nodes: "{{ (hostvars | keelson.platform.cluster_inventory(groups)).nodes }}"
  register: platform

- name: Validate a spec on its own, without an inventory
  keelson.platform.platform_spec:
    spec:
      name: ml-prod
      domain: ml.example.internal
      tenants:
        - name: vision
          quota: {cpu: "32", memory: 128Gi}
          buckets: [vision-datasets]

- name: Use the normalised spec
  ansible.builtin.debug:
    msg: "Tenant namespaces: {{ platform.spec.tenants | map(attribute='namespaces') | flatten }}"
"""

RETURN = r"""
spec:
  description: The normalised spec. Every field is present, with its default when the input left it out.
  returned: success
  type: dict
  sample:
    name: ml-prod
    domain: ml.example.internal
    gitops:
      engine: argocd
      repo: {url: embedded, branch: main, path: ".", ca_cert: null}
      argocd: {host: argocd.ml.example.internal, ha: false}
      flux: null
kubeconfig:
  description:
    - Where the platform's admin kubeconfig is written on the controller by default (C(~) not expanded).
    - The validate playbook keeps it, or C(keelson_kubeconfig) when that is set, as C(keelson_kubeconfig_path).
  returned: success
  type: str
  sample: ~/.kube/keelson-ml-prod.yaml
gitops_repo:
  description:
    - The GitOps repository's facts, derived once from C(gitops.repo) and the inventory; the validate playbook keeps
      them as C(keelson_gitops_repo), which the roles and playbooks read.
    - C(url) is the repository as Ansible pushes to it and the cluster reads it. For C(gitops.repo.url=embedded) it is
      the bare repository on the first server (C(ssh://git@<address>/srv/git/<name>.git)); C(server) is that
      server's inventory host, C(user), C(root) and C(path) the system user, its home and the bare repository there.
    - C(known_hosts_host) is the host field of the repository's known_hosts lines (C(address), or C([address]:port)
      off port 22); null for https.
    - C(deploy_key), C(write_key) and C(known_hosts_record) name the secrets backend records of the read-only deploy
      key, the key Ansible pushes to the embedded server with, and the embedded server's pinned host keys.
    - The embedded-only fields are null for an external repository; C(url), C(server), C(address) and
      C(known_hosts_host) are null for an embedded one when O(nodes) was not given.
  returned: success
  type: dict
  sample:
    url: ssh://git@192.168.10.11/srv/git/ml-prod.git
    branch: main
    embedded: true
    server: server-1
    address: 192.168.10.11
    user: git
    root: /srv/git
    path: /srv/git/ml-prod.git
    known_hosts_host: 192.168.10.11
    deploy_key: gitops-deploy-key
    write_key: gitops-write-key
    known_hosts_record: gitops-known-hosts
nodes:
  description: The normalised cluster hosts (null when O(nodes) was not given).
  returned: success
  type: list
  elements: dict
  sample:
    - {host: server-1, role: server, address: 192.168.10.11, name: server-1, labels: {}, taints: [], gpus: 0}
errors:
  description: Every problem found, one line each (path, reason and the value found).
  returned: failure
  type: list
  elements: str
  sample:
    - 'tenants[1].quota.memory: not a Kubernetes quantity (got "12GBs")'
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keelson.platform.plugins.module_utils._gitops import gitops_repo
from ansible_collections.keelson.platform.plugins.module_utils._problems import SpecError
from ansible_collections.keelson.platform.plugins.module_utils._spec import kubeconfig_path, validate_platform


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "spec": {"type": "raw", "required": True},
            "nodes": {"type": "list", "elements": "dict"},
        },
        supports_check_mode=True,
    )
    try:
        result = validate_platform(module.params["spec"], module.params["nodes"])
    except SpecError as error:
        module.fail_json(msg=str(error), errors=[str(problem) for problem in error.problems])
    for warning in result.warnings:
        module.warn(warning)
    spec = result.spec
    servers = [(node["host"], node["address"]) for node in result.nodes or [] if node["role"] == "server"]
    repo = gitops_repo(spec["name"], spec["gitops"]["repo"]["url"], spec["gitops"]["repo"]["branch"], servers)
    module.exit_json(
        changed=False,
        spec=spec,
        nodes=result.nodes,
        kubeconfig=kubeconfig_path(spec["name"]),
        gitops_repo=repo.as_dict(),
    )


if __name__ == "__main__":
    main()
