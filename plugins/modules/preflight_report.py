#!/usr/bin/python
# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: preflight_report
short_description: Judge every host's preflight measurements at once
version_added: 0.1.0
description:
  - Takes the measurements of P(keelson.platform.preflight_info#module) from every cluster host and judges them
    together. That is OS and architecture, hardware minimums by role, kernel modules, sysctls on container
    hosts, ports taken by other processes, swap, cgroup version, time synchronisation, fsync latency of the
    etcd disk, hostnames and machine-ids unique across the inventory, clock skew between hosts, inventory
    addresses on their hosts, and the API VIP on the servers' subnet.
  - Fails with one report listing every problem of every host; warnings and a line of figures per host come
    back either way.
  - Run it once, on the controller.
author:
  - keelson maintainers (@keelson)
extends_documentation_fragment:
  - keelson.platform.attributes
  - keelson.platform.attributes.READ_ONLY
options:
  spec:
    description: The normalised platform spec (P(keelson.platform.platform_spec#module)'s RV(keelson.platform.platform_spec#module:spec)).
    type: dict
    required: true
  nodes:
    description: The normalised nodes (P(keelson.platform.platform_spec#module)'s RV(keelson.platform.platform_spec#module:nodes)).
    type: list
    elements: dict
    required: true
  hosts:
    description: Inventory hostname to its measurements (RV(keelson.platform.preflight_info#module:host)).
    type: dict
    required: true
  max_clock_skew:
    description: Largest clock difference between hosts, in seconds, before it is an error.
    type: float
    default: 5
"""

EXAMPLES = r"""
- name: Judge every host at once
  keelson.platform.preflight_report:
    spec: "{{ keelson_spec }}"
    nodes: "{{ keelson_nodes }}"
    hosts: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, ['measured', 'host']))) }}"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
warnings_list:
  description: Problems that do not stop the run.
  returned: always
  type: list
  elements: str
figures:
  description: One line of measured figures per host (including the fsync latency).
  returned: always
  type: list
  elements: str
  sample:
    - "server-1 (server): Debian GNU/Linux 12 (bookworm) amd64, 4 CPUs, 7936 MiB, 51200 MiB free at /var/lib, cgroup v2, fsync p99 1.8 ms"
errors:
  description: Every problem found.
  returned: failure
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keelson.platform.plugins.module_utils._preflight import evaluate
from ansible_collections.keelson.platform.plugins.module_utils._problems import Problem, format_problems


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "spec": {"type": "dict", "required": True},
            "nodes": {"type": "list", "elements": "dict", "required": True},
            "hosts": {"type": "dict", "required": True},
            "max_clock_skew": {"type": "float", "default": 5},
        },
        supports_check_mode=True,
    )
    params = module.params
    report = evaluate(params["spec"], params["nodes"], params["hosts"], params["max_clock_skew"])
    for warning in report.warnings:
        module.warn(warning)
    if report.errors:
        message = format_problems("preflight found problems on the hosts", [Problem("", error) for error in report.errors])
        module.fail_json(msg=message + "\n" + "\n".join(report.figures), errors=report.errors, figures=report.figures)
    module.exit_json(changed=False, warnings_list=report.warnings, figures=report.figures)


if __name__ == "__main__":
    main()
