#!/usr/bin/python
# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: k3s_artifacts_info
short_description: Resolve and check the k3s files the hosts need
version_added: 0.1.0
description:
  - Tells, per CPU architecture, which k3s files a host needs (the binary, and with an air-gap source the
    image tarball), where each comes from and the sha256 it must have.
  - The sums come from the source's own C(sha256sum-<arch>.txt). With an air-gap folder, every file is
    checked here against them, so a missing file or a wrong checksum stops the run before any host changes.
  - "Run it on the controller (C(delegate_to: localhost))."
author:
  - keelson maintainers (@keelson)
extends_documentation_fragment:
  - keelson.platform.attributes
  - keelson.platform.attributes.READ_ONLY
options:
  version:
    description: k3s release, for example C(v1.35.5+k3s1).
    type: str
    required: true
  source:
    description:
      - Air-gap source, a folder on the controller or an http(s) URL (C(keelson_platform.cluster.airgap_source)).
      - Unset means the k3s release at O(release_url).
    type: str
  release_url:
    description:
      - Where k3s releases are downloaded from.
      - Unset means the version catalog's C(k3s.release_url) (the k3s project's GitHub releases).
    type: str
  arches:
    description: Architectures of the hosts (C(amd64), C(arm64)).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Resolve the k3s artifacts for the cluster's architectures
  keelson.platform.k3s_artifacts_info:
    version: v1.35.5+k3s1
    source: /srv/airgap/k3s
    arches: [amd64]
  delegate_to: localhost
  run_once: true
  register: artifacts
"""

RETURN = r"""
artifacts:
  description: Per architecture, the files to put on a host.
  returned: success
  type: dict
  sample:
    amd64:
      - {kind: binary, name: k3s, dest: /usr/local/bin/k3s, sha256: 0f1e..., src: /srv/airgap/k3s/k3s}
      - {kind: images, name: k3s-airgap-images-amd64.tar.zst, dest: /var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst,
         sha256: 9a8b..., src: /srv/airgap/k3s/k3s-airgap-images-amd64.tar.zst}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._k3s_artifacts import ArtifactError, resolve


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "version": {"type": "str", "required": True},
            "source": {"type": "str"},
            "release_url": {"type": "str"},
            "arches": {"type": "list", "elements": "str", "required": True},
        },
        supports_check_mode=True,
    )

    def fetch(url: str) -> str:
        with open_url(url, timeout=30) as response:
            return str(response.read().decode("utf-8"))

    params = module.params
    try:
        release_url = params["release_url"] or CATALOG["k3s"]["release_url"]
        artifacts = resolve(params["version"], params["source"], release_url, params["arches"], fetch)
    except ArtifactError as error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=False, artifacts=artifacts)


if __name__ == "__main__":
    main()
