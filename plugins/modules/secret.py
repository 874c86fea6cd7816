#!/usr/bin/python
# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: secret
short_description: Get, store, generate-once or remove a secret in keelson's secrets backend
version_added: 0.1.0
description:
  - Reads and writes the secrets backend the platform spec selects (C(keelson_platform.secrets)). Runs on the
    controller; the backend lives beside the inventory.
  - With O(generate), the secret is created once from a cryptographically strong source and the stored value
    is returned on every later run.
  - The value never reaches the output or the log, whatever the task's C(no_log) says (a removal returns none).
  - "Backend C(vault_file): an ansible-vault encrypted YAML file (mode 0600), created on first write, decrypted
    only in memory. It needs a vault password (C(--vault-password-file) or C(ANSIBLE_VAULT_PASSWORD_FILE))."
  - "Backend C(hashicorp_vault): KV version 2 through the Python library C(hvac); each secret is
    C(<mount>/data/<path>/<name>) holding C({value: ...}). Token from C(VAULT_TOKEN), or AppRole with the spec's
    C(role_id) and C(VAULT_SECRET_ID); a new secret is written with check-and-set 0, so two runs never both create it."
author:
  - keelson maintainers (@keelson)
requirements:
  - hvac (for the hashicorp_vault backend)
extends_documentation_fragment:
  - keelson.platform.attributes
  - keelson.platform.backend
attributes:
  check_mode:
    support: full
    details:
      - In check mode a secret that would be generated is generated but not stored.
      - In check mode a secret that would be removed is reported as changed and kept.
  diff_mode:
    support: partial
    details:
      - The diff lists secret names only, never values. Ansible shows it only for O(state=absent); the other states
        return the value, so their whole result is hidden.
  idempotent:
    support: full
options:
  name:
    description: Name of the secret (lowercase letters, digits, C(.), C(_), C(-)).
    type: str
    required: true
  state:
    description:
      - C(present) stores O(value), or generates a value once with O(generate).
      - C(query) returns the stored value and fails when there is none.
      - C(absent) removes the secret (with HashiCorp Vault, every version of it); nothing to do when there is none.
    type: str
    choices: [present, query, absent]
    default: present
  value:
    description: The value to store (with O(state=present)).
    type: str
  generate:
    description: Generate the value once when the backend has none.
    type: dict
    suboptions:
      length:
        description: Number of characters (16 to 4096).
        type: int
        default: 32
      alphabet:
        description:
          - What to generate. C(alnum), C(hex) and C(urlsafe) draw O(generate.length) characters from that alphabet;
            C(access-key) upper-case letters and digits (S3 access key ids); C(ssh-ed25519) an OpenSSH private key
            and C(platform-ca) a self-signed ECDSA P-256 CA, its certificate then its private key, PEM
            (O(generate.length) is ignored for these two).
        type: str
        choices: [alnum, hex, urlsafe, access-key, ssh-ed25519, platform-ca]
        default: alnum
"""

EXAMPLES = r"""
- name: Generate the k3s cluster token once and reuse it
  keelson.platform.secret:
    name: k3s-token
    generate: {length: 48}
    backend: "{{ keelson_spec.secrets }}"
  register: token
  run_once: true
  no_log: true

- name: Store a registry password given on the command line
  keelson.platform.secret:
    name: registry-mirror
    value: "{{ registry_password }}"
    backend: "{{ keelson_spec.secrets }}"
  no_log: true

- name: Remove a secret nothing uses any more
  keelson.platform.secret:
    name: registry-mirror
    state: absent
    backend: "{{ keelson_spec.secrets }}"
"""

RETURN = r"""
value:
  description: The secret (hidden in the output).
  returned: success, with O(state=present) or O(state=query)
  type: str
backend:
  description: Where the secret is kept (the vault file's path).
  returned: success
  type: str
  sample: /srv/inventories/prod/.keelson-secrets.vault.yml
"""
