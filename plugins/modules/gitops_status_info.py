#!/usr/bin/python
# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: gitops_status_info
short_description: Wait until the cluster has applied the pushed commit, and report what has not
version_added: 0.2.0
description:
  - Waits until every object of the pushed tree that applies part of it is reconciled at O(revision) - Argo CD
    every Application C(Synced) and C(Healthy), at the commit for those that read the platform repository
    (C(status.sync.revision), or C(status.sync.revisions) of a multi-source Application); Flux every Kustomization
    and HelmRelease C(Ready), the Kustomizations that read the platform repository with C(status.lastAppliedRevision)
    at the commit.
  - The objects waited for are those the tree in O(tree) holds, so one that the root has not created yet counts
    as still progressing.
  - Prints a progress line each time the picture changes (how many of how many, which are still progressing and
    why). On timeout it fails, listing every object not reconciled with its message. It changes nothing, so a
    re-run simply goes on waiting.
  - Reads the API through M(kubernetes.core.k8s_info). Runs on the controller.
author:
  - keelson maintainers (@keelson)
extends_documentation_fragment:
  - keelson.platform.platform
  - keelson.platform.platform.CLUSTER
  - keelson.platform.attributes
  - keelson.platform.attributes.READ_ONLY
attributes:
  check_mode:
    support: full
    details:
      - It looks once and reports, without waiting and without failing (check mode pushed nothing to wait for).
options:
  tree:
    description: The working copy of the GitOps repository at O(revision).
    type: path
    required: true
  revision:
    description: The commit the cluster must be at (the full SHA P(keelson.platform.gitops_repo#module) returns).
    type: str
    required: true
  timeout:
    description: How long to wait, in seconds.
    type: int
    default: 1800
  interval:
    description: Seconds between two looks.
    type: int
    default: 10
  smoke:
    description:
      - Once everything is reconciled, also wait until every component's ingress host answers over HTTPS as a live
        component does (a status below 400, or 401 / 403); a 404 (Traefik has no route) or a 5xx is not an answer.
      - The hosts must resolve from the controller machine to the cluster's ingress.
    type: bool
    default: true
  backend:
    description:
      - The secrets backend (C(keelson_spec.secrets)); the platform CA's certificate, which the ingress certificates
        are checked against, comes from it. Without it, or with a public CA (ACME), the system's CAs are used.
    type: dict
  inventory_dir:
    description: Where the inventory is (a vault_file backend's path is relative to it); the first inventory source by default.
    type: path
seealso:
  - module: keelson.platform.gitops_bootstrap
  - module: keelson.platform.gitops_repo
"""

EXAMPLES = r"""
- name: Wait until the cluster runs the pushed commit
  keelson.platform.gitops_status_info:
    spec: "{{ keelson_spec }}"
    nodes: "{{ keelson_nodes }}"
    tree: "{{ keelson_push.workdir }}"
    revision: "{{ keelson_push.revision }}"
    kubeconfig: "{{ keelson_kubeconfig_path }}"
"""

RETURN = r"""
msg:
  description: The last progress line, or on timeout the list of objects not reconciled.
  returned: always
  type: str
  sample: "18 of 20 reconciled at 3f2a9c1d0b7e; still progressing: keycloak (OutOfSync; Progressing)"
revision:
  description: The commit waited for.
  returned: success
  type: str
total:
  description: How many objects the tree holds of the watched kinds.
  returned: success
  type: int
ready:
  description: The objects reconciled at the revision (kind namespace/name).
  returned: success
  type: list
  elements: str
waiting:
  description: The objects not reconciled, each with why.
  returned: success
  type: list
  elements: dict
  contains:
    object:
      description: Kind namespace/name.
      type: str
    reason:
      description: Why it is not reconciled (sync and health status, the revision it is at, its message).
      type: str
"""
