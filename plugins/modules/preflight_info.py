#!/usr/bin/python
# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: preflight_info
short_description: Measure what a k3s host needs, in one pass
version_added: 0.1.0
description:
  - Reads, in one pass and without changing the host, what the keelson preflight checks judge. That is
    the OS and architecture, CPUs, memory, free disk at the data directory, swap, the cgroup version,
    the kernel modules k3s needs, sysctls, which of the ports k3s needs are taken and by which process,
    time synchronisation, hostname, machine-id, the host's addresses, active firewalls, and whether the
    host is itself a container.
  - Optionally measures fsync latency in the data directory's nearest existing parent, like etcd's write
    ahead log does. That writes a temporary file and removes it again.
  - The figures are judged on the controller, for all hosts at once, by
    P(keelson.platform.preflight_report#module).
author:
  - keelson maintainers (@keelson)
extends_documentation_fragment:
  - keelson.platform.attributes
  - keelson.platform.attributes.READ_ONLY
options:
  data_dir:
    description: k3s' data directory; free disk and fsync latency are measured at its nearest existing parent.
    type: path
    default: /var/lib/rancher/k3s
  role:
    description:
      - The host's role; decides which ports are checked (servers also 6443 and etcd's 2379-2380).
    type: str
    choices: [server, agent]
    required: true
  fsync_probe:
    description: Measure fsync latency (50 writes of 4 KiB).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Measure the host
  keelson.platform.preflight_info:
    role: server
  register: measured
"""

RETURN = r"""
host:
  description: The measurements.
  returned: always
  type: dict
  sample:
    os: {id: debian, version_id: "12", pretty: Debian GNU/Linux 12 (bookworm)}
    arch: amd64
    cpus: 4
    memory_mb: 7936
    swap_mb: 0
    disk_free_mb: 51200
    cgroup: v2
    modules: {overlay: {active: true, loadable: true}, br_netfilter: {active: false, loadable: true}}
    listeners: [{port: 6443, protocol: tcp, process: k3s-server}]
    container: ""
    fsync: {directory: /var/lib, p99_ms: 1.8, mean_ms: 0.9}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keelson.platform.plugins.module_utils._host_probe import measure
from ansible_collections.keelson.platform.plugins.module_utils._preflight import measured_sysctls, ports_for


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "data_dir": {"type": "path", "default": "/var/lib/rancher/k3s"},
            "role": {"type": "str", "choices": ["server", "agent"], "required": True},
            "fsync_probe": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )

    def run(command: list[str]) -> tuple[int, str, str]:
        if module.get_bin_path(command[0]) is None:
            return 127, "", f"{command[0]} not found"
        rc, out, err = module.run_command(command)
        return rc, out, err

    params = module.params
    host = measure(run, params["data_dir"], ports_for(params["role"]), measured_sysctls(), params["fsync_probe"])
    module.exit_json(changed=False, host=host)


if __name__ == "__main__":
    main()
