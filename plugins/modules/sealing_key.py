#!/usr/bin/python
# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: sealing_key
short_description: The Sealed Secrets key pairs keelson owns (create, rotate, back up, restore)
version_added: 0.1.0
description:
  - keelson owns the Sealed Secrets controller's key pairs, so it can seal offline before the cluster exists and a
    rebuilt cluster can still open everything in Git. The pairs live in the secrets backend the spec selects.
  - "A pair is an RSA-4096 key and a self-signed certificate shaped like the controller's own (CN C(sealed-secret),
    10 years). All pairs stay for unsealing; the newest seals."
  - Returns the C(kubernetes.io/tls) Secrets labelled C(sealedsecrets.bitnami.com/sealed-secrets-key=active) that
    the controller loads when it starts; apply them before the controller (the bootstrap does).
  - "With O(state=present) it also creates, once, the digest key of sealed values (C(sealed-secrets-digest-key) in
    the backend, 32 random bytes): P(keelson.platform.platform_render#module) records an HMAC-SHA256 of each sealed
    value under it beside the ciphertext, so an unchanged value is recognised without opening it. The digest key
    is not part of a key bundle; without it a render opens every value instead."
  - Runs on the controller. The result is never shown, since it carries private keys.
author:
  - keelson maintainers (@keelson)
extends_documentation_fragment:
  - keelson.platform.attributes
  - keelson.platform.backend
attributes:
  check_mode:
    support: full
    details:
      - Nothing is stored or written; a key that would be generated is generated and returned.
  diff_mode:
    support: full
    details:
      - Key ids before and after, and whether the digest key exists.
  idempotent:
    support: partial
    details:
      - C(present), C(query) and C(restored) are idempotent; C(rotated) adds a key every run, and C(exported) writes the bundle every run.
options:
  state:
    description:
      - C(present) generates the first pair when there is none, and the digest key when there is none.
      - C(rotated) adds a new active pair; the old ones stay for unsealing, and the next render re-seals with the new one.
      - C(query) returns the pairs and fails when there is none.
      - C(exported) writes every pair (those in the backend and O(cluster_secrets)) to the encrypted bundle O(path).
      - C(restored) adds the pairs of the bundle O(path) to the backend.
    type: str
    choices: [present, rotated, query, exported, restored]
    default: present
  namespace:
    description: Namespace of the controller, for the returned key Secrets.
    type: str
    default: sealed-secrets
  path:
    description: The key bundle (ansible-vault encrypted YAML, mode 0600) for C(exported) and C(restored).
    type: path
  platform:
    description: The platform's name, recorded in a bundle and checked when restoring one.
    type: str
  cluster_secrets:
    description: Key Secrets read from a cluster (for example with kubernetes.core.k8s_info), included in an export.
    type: list
    elements: dict
    default: []
"""

EXAMPLES = r"""
- name: Make sure the platform has a sealing key
  keelson.platform.sealing_key:
    backend: "{{ keelson_spec.secrets }}"
  register: sealing

- name: Back up every key, including those the controller holds
  keelson.platform.sealing_key:
    state: exported
    path: /srv/backups/ml-prod-sealing-keys.vault.yml
    platform: ml-prod
    cluster_secrets: "{{ cluster_keys.resources }}"
    backend: "{{ keelson_spec.secrets }}"
"""

RETURN = r"""
ids:
  description: Key ids (sha256 of the public key, first 16 hex digits), oldest first.
  returned: success
  type: list
  elements: str
active_id:
  description: Id of the key that seals.
  returned: success
  type: str
certificate:
  description: The active sealing certificate (PEM).
  returned: success
  type: str
certificates:
  description: Every certificate (PEM), oldest first.
  returned: success
  type: list
  elements: str
secrets:
  description: The controller's key Secrets (kubernetes.io/tls), one per pair. They carry private keys.
  returned: success
  type: list
  elements: dict
"""
