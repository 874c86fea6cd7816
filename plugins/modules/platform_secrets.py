#!/usr/bin/python
# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: platform_secrets
short_description: Create every platform credential once, and seal the Secrets that carry them
version_added: 0.1.0
description:
  - Makes sure every credential the platform spec calls for exists in the secrets backend, created once from a
    cryptographically strong source and reused afterwards. That is the k3s token, MinIO's root password,
    Keycloak's admin password, the OIDC client secrets (Argo CD, Grafana, MinIO), Grafana's admin password, the
    GitOps deploy key (ed25519), and per tenant the S3 access and secret keys and the Weaviate API key.
  - With O(sealed_dir), seals every Secret that carries a credential into C(<sealed_dir>/<namespace>/<name>.yaml)
    with the active sealing key (P(keelson.platform.sealing_key#module)). Files whose values did not change stay
    byte-identical; only what changed is sealed again.
  - Runs on the controller. Values never reach the output.
author:
  - keelson maintainers (@keelson)
extends_documentation_fragment:
  - keelson.platform.attributes
  - keelson.platform.backend
attributes:
  check_mode:
    support: full
    details:
      - Nothing is stored or written; the result lists what would be.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  spec:
    description: The normalised platform spec.
    type: dict
    required: true
  sealed_dir:
    description: Folder to write the SealedSecret files to.
    type: path
"""

EXAMPLES = r"""
- name: Create every platform credential and seal its Secrets
  keelson.platform.platform_secrets:
    spec: "{{ keelson_spec }}"
    backend: "{{ keelson_spec.secrets }}"
    sealed_dir: "{{ playbook_dir }}/sealed"
"""

RETURN = r"""
names:
  description: Every credential the spec calls for.
  returned: success
  type: list
  elements: str
  sample: [k3s-token, minio-root-password, tenant-vision-s3-access-key]
created:
  description: Credentials created by this run.
  returned: success
  type: list
  elements: str
written:
  description: SealedSecret files written (or, in check mode, that would be).
  returned: success
  type: list
  elements: str
"""
