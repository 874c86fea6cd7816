#!/usr/bin/python
# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: gitops_bootstrap
short_description: Hand the cluster to its GitOps controller, from the pushed repository
version_added: 0.2.0
description:
  - Applies, once and idempotently, what a fresh cluster needs before Git can take over, in this order, each step
    with server-side apply through M(kubernetes.core.k8s).
  - 1. The namespaces of the GitOps controller and the Sealed Secrets controller, with the labels the tree gives
    them (Pod Security level).
  - 2. The sealing key pairs from the secrets backend as the Sealed Secrets controller's key Secrets, before the
    controller exists, so it opens every SealedSecret in Git and never makes a key of its own.
  - 3. The repository credentials the controller reads Git with (the read-only deploy key, the repository URL,
    the pinned known_hosts for Flux), as the Secret that the tree's SealedSecret of the same name takes over
    later (annotation C(sealedsecrets.bitnami.com/managed)).
  - 4. The controller's chart, rendered by M(kubernetes.core.helm_template) from the chart, version, release
    name, namespace and values that the pushed tree holds (CRDs first), applied with the field manager the
    controller applies with (C(argocd-controller) for Argo CD, C(helm-controller) for Flux) and marked as it
    marks what it owns (Argo CD's tracking annotation; Helm's release ownership), then waited for.
  - 5. The root objects of the tree (Argo CD's bootstrap AppProject and root Application; Flux's FluxInstance with
    its sync), with the field manager that applies them from Git later.
  - Runs on the controller. It reads the tree from O(tree), the working copy P(keelson.platform.gitops_repo#module)
    pushed, so what it applies is what the cluster reads.
author:
  - keelson maintainers (@keelson)
extends_documentation_fragment:
  - keelson.platform.platform
  - keelson.platform.platform.CLUSTER
  - keelson.platform.attributes
  - keelson.platform.backend
attributes:
  check_mode:
    support: full
    details:
      - Every step is a server-side dry run. A step whose CRDs or namespaces do not exist yet (a fresh cluster)
        cannot be dry-run; it is reported as what the real run creates (C(dry_run=false) in RV(steps)).
  diff_mode:
    support: none
    details:
      - The steps list the objects applied; the objects themselves carry credentials and are never shown.
  idempotent:
    support: full
options:
  tree:
    description: The working copy of the GitOps repository at the pushed commit (the top of the repository).
    type: path
    required: true
  helm:
    description: The helm binary M(kubernetes.core.helm_template) runs (the version the catalog pins).
    type: path
    required: true
  chart_path:
    description:
      - The controller's chart as a local folder or archive (an air-gapped install) instead of its repository. Its
        C(Chart.yaml) must name the chart and version the tree pins.
    type: path
  wait:
    description: Wait until the controller's workloads are ready before applying the root.
    type: bool
    default: true
  wait_timeout:
    description: How long to wait for each of the controller's workloads, in seconds.
    type: int
    default: 600
notes:
  - On a cluster without nodes (a bare API server) pods never start; use O(wait=false) there.
  - Nothing here is applied again by Ansible after the controller runs; Git owns all of it from then on (the
    key Secrets excepted, which never are in Git).
seealso:
  - module: keelson.platform.gitops_repo
  - module: keelson.platform.gitops_status
"""

EXAMPLES = r"""
- name: Bootstrap the GitOps controller from the pushed repository
  keelson.platform.gitops_bootstrap:
    spec: "{{ keelson_spec }}"
    nodes: "{{ keelson_nodes }}"
    backend: "{{ keelson_spec.secrets }}"
    tree: "{{ keelson_push.workdir }}"
    kubeconfig: "{{ keelson_kubeconfig_path }}"
    helm: "{{ keelson_helm_path }}"
"""

RETURN = r"""
msg:
  description: What was done (or, in check mode, would be) in words.
  returned: success
  type: str
  sample: "changed: namespaces, sealing keys, repository credentials, controller CRDs, controller, root"
steps:
  description: One entry per step, in order.
  returned: success
  type: list
  elements: dict
  contains:
    step:
      description: The step's name.
      type: str
    objects:
      description: The objects applied (kind, namespace and name).
      type: list
      elements: str
    field_manager:
      description: The field manager they were applied with.
      type: str
    changed:
      description: Whether the step changed anything (or would).
      type: bool
    dry_run:
      description: In check mode, whether the API server dry-ran the step (false when it could only be predicted).
      type: bool
    reason:
      description: Why a check-mode step could not be dry-run.
      type: str
      returned: when the step was only predicted
release:
  description: The controller's chart release as the tree holds it.
  returned: success
  type: dict
  sample: {chart: argo-cd, version: 10.1.1, name: argocd, namespace: argocd}
"""
