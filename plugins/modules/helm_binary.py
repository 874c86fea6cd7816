#!/usr/bin/python
# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: helm_binary
short_description: The helm binary of the version the catalog pins, on the controller machine
version_added: 0.2.0
description:
  - Finds or fetches the helm that P(keelson.platform.gitops_bootstrap#module) renders the GitOps controller's chart
    with, in this order - O(binary) when given (it must be that version); the one in O(cache); the release archive
    C(helm-vVERSION-linux-ARCH.tar.gz) in O(airgap), checked against the catalog's SHA-256 and unpacked into
    O(cache); a C(helm) on PATH of exactly that version; the release archive downloaded from the catalog's URL,
    checked the same way, into O(cache).
  - Only architectures the catalog has a checksum for are fetched or unpacked; elsewhere give a helm of the pinned
    version (PATH or O(binary)).
author:
  - keelson maintainers (@keelson)
extends_documentation_fragment:
  - keelson.platform.attributes
attributes:
  check_mode:
    support: full
    details:
      - Nothing is downloaded or unpacked; RV(path) is empty when only that would give a helm.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  cache:
    description: keelson's cache folder on the controller machine (helm goes to C(helm/vVERSION/helm) below it).
    type: path
    default: ~/.cache/keelson
  binary:
    description: A helm to use instead (it must be the pinned version).
    type: path
  airgap:
    description: A folder that may hold helm's release archive (an install without internet).
    type: path
"""

EXAMPLES = r"""
- name: Get the helm the catalog pins
  keelson.platform.helm_binary:
  register: keelson_helm
"""

RETURN = r"""
path:
  description: The helm binary to run (empty in check mode when it would have to be fetched).
  returned: success
  type: str
version:
  description: The pinned version.
  returned: success
  type: str
  sample: 3.17.2
source:
  description: Where it came from (given, cache, air-gap folder, PATH, or the download URL).
  returned: success
  type: str
"""
