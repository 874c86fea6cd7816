#!/usr/bin/python
# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: k3s_reset
short_description: Take k3s off a host and report what was removed
version_added: 0.1.0
description:
  - Stops and disables the k3s units, kills k3s' and containerd's processes, unmounts what k3s mounted, deletes
    its network interfaces (flannel, cni0) and its iptables rules, removes the API VIP from the host's interfaces,
    and deletes k3s' binary, units, configuration and data, and the files keelson's prereq role added.
  - Returns the list of what it removed; in check mode, what it would remove.
  - Destructive. Playbooks call it only behind an explicit confirmation (see C(keelson.platform.reset)).
author:
  - keelson maintainers (@keelson)
extends_documentation_fragment:
  - keelson.platform.attributes
attributes:
  check_mode:
    support: full
    details:
      - Lists what would be removed and removes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - A second run finds nothing to remove and reports C(changed=false).
options:
  vip:
    description: The cluster's API VIP, removed from any interface that still holds it.
    type: str
"""

EXAMPLES = r"""
- name: Take k3s off the host
  keelson.platform.k3s_reset:
    vip: 192.168.10.10
  become: true
  register: reset
"""

RETURN = r"""
removed:
  description: What was removed (or, in check mode, would be).
  returned: always
  type: list
  elements: str
  sample: ["unit k3s (stopped and disabled)", "interface flannel.1", "folder /var/lib/rancher/k3s"]
"""

from typing import Optional

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keelson.platform.plugins.module_utils._k3s_reset import reset


def main() -> None:
    module = AnsibleModule(argument_spec={"vip": {"type": "str"}}, supports_check_mode=True)

    def run(command: list[str], data: Optional[str]) -> tuple[int, str, str]:
        if module.get_bin_path(command[0]) is None:
            return 127, "", f"{command[0]} not found"
        rc, out, err = module.run_command(command, data=data, binary_data=False)
        return rc, out, err

    module.exit_json(**reset(run, module.params["vip"], module.check_mode))


if __name__ == "__main__":
    main()
