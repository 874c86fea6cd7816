#!/usr/bin/python
# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pinned_host_keys
short_description: Pin a server's SSH host keys in keelson's secrets backend
version_added: 0.1.0
description:
  - Keeps the SSH host keys of a server as known_hosts text (one C(HOST KEYTYPE KEY) line per key, sorted) in a
    record of the secrets backend, so that every client of the server (Ansible pushing to the embedded Git server,
    the GitOps controller pulling from it) trusts exactly those keys.
  - Nothing pinned yet (first contact) - the keys given are stored. The same keys - nothing changes. The same keys
    under another host field (the server's address changed) - the new lines are stored.
  - Other keys - the task fails, naming the server, the pinned and the new fingerprints, and the fix (verify the new
    keys out of band, then run with O(accept=true); through the site playbook C(-e keelson_git_server_accept_host_keys=true)).
  - Read the keys over a connection you already trust (the site playbook reads C(/etc/ssh/ssh_host_*_key.pub) over
    Ansible's own SSH connection to the server, whose host key Ansible checks), not with C(ssh-keyscan).
  - Runs on the controller. Host keys are public; the result shows them.
author:
  - keelson maintainers (@keelson)
extends_documentation_fragment:
  - keelson.platform.attributes
  - keelson.platform.backend
attributes:
  check_mode:
    support: full
    details:
      - Nothing is stored; the result says whether it would be. Changed keys fail in check mode too.
  diff_mode:
    support: full
    details:
      - The known_hosts text before and after.
  idempotent:
    support: full
options:
  name:
    description: The backend record, usually C(gitops-known-hosts) (C(keelson_gitops_repo.known_hosts_record)).
    type: str
    required: true
  known_hosts:
    description:
      - The server's host keys as known_hosts lines (C(HOST KEYTYPE KEY), an optional comment is dropped), one per
        key type the server offers.
    type: list
    elements: str
    required: true
  server:
    description: The server's name for messages (its inventory host name).
    type: str
    required: true
  accept:
    description: Pin the keys given even when other keys are pinned. Only after checking them out of band.
    type: bool
    default: false
seealso:
  - name: The embedded Git server
    description: The git_server role and playbook, which read the host keys this module pins.
    link: https://github.com/keelson/platform/blob/main/docs/gitops.md#the-embedded-git-server
"""

EXAMPLES = r"""
- name: Pin the embedded Git server's host keys
  keelson.platform.pinned_host_keys:
    name: "{{ keelson_gitops_repo.known_hosts_record }}"
    known_hosts: "{{ hostvars[keelson_gitops_repo.server].git_server_known_hosts }}"
    server: "{{ keelson_gitops_repo.server }}"
    accept: "{{ keelson_git_server_accept_host_keys | default(false) | bool }}"
    backend: "{{ keelson_spec.secrets }}"
"""

RETURN = r"""
known_hosts:
  description: The pinned known_hosts text (in check mode, what would be pinned).
  returned: success
  type: str
  sample: "192.168.10.11 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
fingerprints:
  description: The SHA-256 fingerprint of every pinned key, as C(ssh-keygen -l) prints it.
  returned: success
  type: list
  elements: str
  sample: ["ssh-ed25519 SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"]
backend:
  description: Where the record is kept (the vault file's path).
  returned: success
  type: str
  sample: /srv/inventories/prod/.keelson-secrets.vault.yml
"""
