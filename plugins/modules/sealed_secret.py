#!/usr/bin/python
# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: sealed_secret
short_description: Seal a Secret offline, in kubeseal's exact format, keeping unchanged values stable
version_added: 0.1.0
description:
  - Builds a complete C(SealedSecret) (C(bitnami.com/v1alpha1)) from plaintext values and the sealing certificate,
    without a cluster. Every value is sealed the way kubeseal does it, so the Sealed Secrets controller (or
    C(kubeseal --recovery-unseal)) opens it.
  - With O(previous) and the matching O(private_keys), values whose plaintext, scope and sealing key did not change
    keep their ciphertext, so re-rendering an unchanged platform leaves Git byte-identical. Only changed or new
    keys are sealed again; after a key rotation everything is sealed with the new key.
  - Run it on the controller (it needs the Python library C(cryptography), which ansible-core already requires).
  - The plaintext never reaches the output; the diff shows key names only.
author:
  - keelson maintainers (@keelson)
requirements:
  - cryptography
extends_documentation_fragment:
  - keelson.platform.attributes
attributes:
  check_mode:
    support: full
    details:
      - The module only computes; check mode returns the same result.
  diff_mode:
    support: full
    details:
      - Key names that are new, re-sealed or dropped; never values.
  idempotent:
    support: full
    details:
      - With O(previous) and O(private_keys), an unchanged input returns O(previous) unchanged.
options:
  name:
    description: Name of the Secret (a DNS-1123 subdomain).
    type: str
    required: true
  namespace:
    description: Namespace of the Secret; required unless O(scope=cluster-wide).
    type: str
  scope:
    description:
      - Where the values may be unsealed. C(strict) binds them to this namespace and name, C(namespace-wide) to the
        namespace, C(cluster-wide) to nothing.
    type: str
    choices: [strict, namespace-wide, cluster-wide]
    default: strict
  data:
    description: Key to plaintext value.
    type: dict
    required: true
  type:
    description: The Secret's type.
    type: str
    default: Opaque
  labels:
    description: Labels of the Secret the controller creates.
    type: dict
    default: {}
  annotations:
    description: Annotations of the Secret the controller creates.
    type: dict
    default: {}
  certificate:
    description: The sealing certificate (PEM), as the controller publishes it or P(keelson.platform.sealing_key#module) returns it.
    type: str
    required: true
  previous:
    description: The SealedSecret sealed last time (a mapping, or its YAML text); enables stable output.
    type: raw
  private_keys:
    description: Private keys (PEM) that may open O(previous); only the sealing certificate's own key keeps ciphertext.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Seal MinIO's root credentials, stable across runs
  keelson.platform.sealed_secret:
    name: minio-root
    namespace: minio
    data:
      rootUser: keelson-root
      rootPassword: "{{ minio_root_password }}"
    certificate: "{{ sealing.certificate }}"
    previous: "{{ lookup('ansible.builtin.file', 'gitops/platform/minio/minio-root.yaml', errors='ignore') | default(omit, true) }}"
    private_keys: "{{ sealing_private_keys }}"
  delegate_to: localhost
  register: sealed
"""

RETURN = r"""
sealed_secret:
  description: The SealedSecret manifest.
  returned: success
  type: dict
  sample:
    apiVersion: bitnami.com/v1alpha1
    kind: SealedSecret
    metadata: {name: minio-root, namespace: minio}
    spec:
      encryptedData: {rootPassword: AgB3..., rootUser: AgCx...}
      template: {metadata: {name: minio-root, namespace: minio}, type: Opaque}
changed_keys:
  description: Data keys sealed anew (new or changed values); the others kept their ciphertext.
  returned: success
  type: list
  elements: str
  sample: [rootPassword]
"""

import traceback
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.module_utils._sealing import HAS_CRYPTOGRAPHY, seal

try:
    import yaml

    HAS_YAML = True
    YAML_ERROR = None
except ImportError:
    HAS_YAML = False
    YAML_ERROR = traceback.format_exc()


def _previous(module: AnsibleModule) -> Any:
    previous = module.params["previous"]
    if isinstance(previous, str) and previous.strip():
        if not HAS_YAML:
            module.fail_json(msg=missing_required_lib("PyYAML"), exception=YAML_ERROR)
        previous = yaml.safe_load(previous)
    return previous or None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "namespace": {"type": "str"},
            "scope": {"type": "str", "choices": ["strict", "namespace-wide", "cluster-wide"], "default": "strict"},
            "data": {"type": "dict", "required": True, "no_log": True},
            "type": {"type": "str", "default": "Opaque"},
            "labels": {"type": "dict", "default": {}},
            "annotations": {"type": "dict", "default": {}},
            "certificate": {"type": "str", "required": True},
            "previous": {"type": "raw"},
            "private_keys": {"type": "list", "elements": "str", "default": [], "no_log": True},
        },
        supports_check_mode=True,
    )
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    params = module.params
    previous = _previous(module)
    if previous is not None and not isinstance(previous, dict):
        module.fail_json(msg="previous must be a SealedSecret mapping or its YAML text")
    try:
        manifest, changed_keys = seal(
            name=params["name"],
            namespace=params["namespace"],
            data={str(key): str(value) for key, value in params["data"].items()},
            certificate=params["certificate"],
            scope=params["scope"],
            secret_type=params["type"],
            labels=params["labels"],
            annotations=params["annotations"],
            previous=previous,
            private_keys=params["private_keys"],
        )
    except KeelsonError as error:
        module.fail_json(msg=str(error))
    changed = manifest != previous
    result = {"changed": changed, "sealed_secret": manifest, "changed_keys": changed_keys}
    if module._diff and changed:
        old_keys = sorted(((previous or {}).get("spec") or {}).get("encryptedData") or {})
        lines = [f"{key} (sealed anew)" if key in changed_keys else f"{key} (kept)" for key in sorted(params["data"])]
        result["diff"] = {"before": "\n".join(old_keys) + "\n", "after": "\n".join(lines) + "\n"}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
