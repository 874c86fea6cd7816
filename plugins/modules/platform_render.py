#!/usr/bin/python
# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: platform_render
short_description: Render the platform's desired state as a GitOps tree for Argo CD or Flux
version_added: 0.1.0
description:
  - Renders everything the cluster should run from the normalised platform spec into O(dest), the working copy of
    the GitOps repository, for the engine the spec names (C(gitops.engine)). Argo CD gets a root Application,
    AppProjects and one Application per component and tenant; Flux gets a FluxInstance, HelmRepository or
    OCIRepository and HelmRelease per component, and Kustomizations per tenant. Components come with the chart
    versions of the collection's catalog and only the values where keelson differs from the chart's defaults.
  - Every tenant gets its namespaces (Pod Security C(restricted)), ResourceQuota and LimitRange, default-deny
    network policies with the few allows a workload needs, RoleBindings for its Keycloak groups, an AppProject
    (or a Flux service account) limited to its namespaces, and its sealed credentials.
  - Credentials come from the secrets backend and are sealed with the platform's sealing key; values already
    sealed in O(dest) keep their ciphertext while they do not change, so a re-render is byte-identical.
  - Each SealedSecret records, in its own C(metadata.annotations) (C(keelson.dev/sealed-digests),
    C(keelson.dev/sealed-digest-key)), an HMAC-SHA256 of each value under the backend's digest key, never a bare
    hash of it; a re-render recognises an unchanged value by it without opening the value. Without the digest key
    (a backend from an older keelson) it opens every value instead, records no digests, and warns.
  - Each generated file starts with a header naming keelson and a checksum of the rest. keelson writes a file
    only when its content changes, removes the files it generated earlier and no longer renders, and never
    touches a file without its header. A path it must write that holds such a file is an error, reported before
    anything is written.
  - Also renders the repository's own CI (C(.github/workflows/validate.yml), C(.gitlab-ci.yml) and
    C(.keelson/validate.py)), which fails a pull request that edits a generated file by hand or carries a
    manifest the Kubernetes or CRD schemas reject.
  - Runs on the controller. The credentials and sealing key must exist (the P(keelson.platform.platform_secrets#module)
    and P(keelson.platform.sealing_key#module) modules create them); only check mode goes on without them.
author:
  - keelson maintainers (@keelson)
extends_documentation_fragment:
  - keelson.platform.platform
  - keelson.platform.attributes
  - keelson.platform.backend
attributes:
  check_mode:
    support: full
    details:
      - Nothing is written or removed; the result and the diff show what would be. Before the first secrets run,
        stand-in credentials and a stand-in key show which sealed files would be written.
  diff_mode:
    support: full
    details:
      - One diff per written or removed file. The tree holds no plaintext secret, so the diff holds none.
  idempotent:
    support: full
options:
  dest:
    description:
      - The GitOps repository's working copy. The platform's files go below C(gitops.repo.path) in it, the CI files
        at its top. Created when missing.
      - Refused when it lies inside the keelson collection itself, when it is not in a Git working copy (unless
        O(force)), or when a symlink, FIFO, device or a file where a folder must be stands where keelson reads or
        writes; nothing is opened or written then.
    type: path
    required: true
  force:
    description:
      - Render into a folder that is in no Git working copy. The render playbook sets it from C(keelson_render_force).
    type: bool
    default: false
notes:
  - Each header names the platform that wrote the file (C(keelson-platform)); keelson never overwrites or removes
    another platform's files, and refuses a platform folder inside another's. Give each platform its own folder
    (C(gitops.repo.path)) to keep several in one repository. A header without the name (an older keelson) counts
    as this platform's.
  - In a team's C(tenants/<t>/apps/) folder keelson owns only C(README.md); any other file there is the team's,
    even a copy that carries keelson's header.
seealso:
  - module: keelson.platform.platform_spec
  - module: keelson.platform.platform_secrets
"""

EXAMPLES = r"""
- name: Render the platform into the GitOps working copy
  keelson.platform.platform_render:
    spec: "{{ keelson_spec }}"
    nodes: "{{ keelson_nodes }}"
    backend: "{{ keelson_spec.secrets }}"
    dest: /srv/gitops/ml-prod
"""

RETURN = r"""
msg:
  description: What was done in words; in check mode what would be (C(would write)).
  returned: success
  type: str
  sample: "check mode, nothing written: would write 64 and would remove 0 file(s) in /srv/gitops (0 unchanged)"
dest:
  description: The folder the tree was rendered into.
  returned: success
  type: str
files:
  description: How many files the tree has.
  returned: success
  type: int
  sample: 65
written:
  description: Files written (new or changed), relative to O(dest); in check mode, those that would be.
  returned: success
  type: list
  elements: str
  sample: [tenants/vision/keelson/quota.yaml]
removed:
  description: Files keelson generated earlier and no longer renders, removed (in check mode, that would be).
  returned: success
  type: list
  elements: str
unchanged:
  description: How many files already had the rendered content.
  returned: success
  type: int
"""
