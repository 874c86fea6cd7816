#!/usr/bin/python
# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: platform_secrets
short_description: Create every platform credential once
version_added: 0.1.0
description:
  - Makes sure every credential the platform spec calls for exists in the secrets backend, created once from a
    cryptographically strong source and reused afterwards. That is the k3s token, MinIO's root password,
    Keycloak's admin password, the OIDC client secrets (Argo CD, Grafana, MinIO), Grafana's admin password, the
    GitOps deploy key (ed25519), and per tenant the S3 access and secret keys and the Weaviate API key.
  - "Sealing is P(keelson.platform.platform_render#module)'s job: it seals the Secrets that carry these credentials
    into the GitOps tree with the active sealing key (P(keelson.platform.sealing_key#module))."
  - The embedded Git server's push key (C(gitops-write-key), only with C(gitops.repo.url=embedded)) is created too; it
    stays on the controller and is never sealed.
  - Runs on the controller. Values never reach the output; the public halves of the SSH keys do (RV(public_keys)).
author:
  - keelson maintainers (@keelson)
extends_documentation_fragment:
  - keelson.platform.attributes
  - keelson.platform.backend
attributes:
  check_mode:
    support: full
    details:
      - Nothing is stored; the result lists what would be created.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  spec:
    description: The normalised platform spec.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Create every platform credential once
  keelson.platform.platform_secrets:
    spec: "{{ keelson_spec }}"
    backend: "{{ keelson_spec.secrets }}"
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
public_keys:
  description:
    - The public half of every SSH key credential, by name, as an C(authorized_keys) line with a comment saying
      which key it is (C(keelson-deploy), C(keelson-write)). Not secret. In check mode, for a key not created yet,
      the public half of a stand-in.
  returned: success
  type: dict
  sample:
    gitops-deploy-key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtKFHTPOaYonkr1WAm1oQb9JnjKz7T9s8y4KoXW1Xn/ keelson-deploy
    gitops-write-key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJvvUTD3zxtFnAUvMWdJeqkj09xNBRcm5QWydLulcbhh keelson-write
"""
