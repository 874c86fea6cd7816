# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of keelson.platform.sealing_key: the Sealed Secrets key pairs keelson owns."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail

from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.module_utils._sealing import key_secret, pair_from_secret
from ansible_collections.keelson.platform.plugins.plugin_utils import _sealing_keys as keys
from ansible_collections.keelson.platform.plugins.plugin_utils._action import BACKEND_OPTIONS, KeelsonAction
from ansible_collections.keelson.platform.plugins.plugin_utils._files import lines_diff

ARGUMENT_SPEC: dict[str, Any] = {
    "state": {"type": "str", "choices": ["present", "rotated", "query", "exported", "restored"], "default": "present"},
    "namespace": {"type": "str", "default": "sealed-secrets"},
    "path": {"type": "path"},
    "platform": {"type": "str"},
    "cluster_secrets": {"type": "list", "elements": "dict", "default": [], "no_log": True},
    **BACKEND_OPTIONS,
}


class ActionModule(KeelsonAction):
    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        result["_ansible_no_log"] = True  # key Secrets carry private keys
        args = self.arguments(ARGUMENT_SPEC)
        state, check = args["state"], bool(self._task.check_mode)
        if state in ("exported", "restored") and not args["path"]:
            raise AnsibleActionFail(f"keelson.platform.sealing_key: state={state} needs path (the key bundle)")
        try:
            backend = self.backend(args, task_vars or {})
            try:
                changed = False
                before = [pair["id"] for pair in keys.load(backend)]
                digest_before = keys.load_digest_key(backend) is not None
                digest_after = digest_before
                if state == "present":
                    pairs, changed = keys.ensure(backend, check)
                    _digest_key, digest_created = keys.ensure_digest_key(backend, check)
                    changed, digest_after = changed or digest_created, True
                elif state == "rotated":
                    pairs, changed = keys.rotate(backend, check), True
                elif state == "exported":
                    cluster = [pair_from_secret(secret) for secret in args["cluster_secrets"]]
                    pairs = keys.merge(keys.load(backend), cluster)
                    if not check:
                        keys.write_bundle(args["path"], pairs, args["platform"] or "", self.encrypt)
                    changed = True
                elif state == "restored":
                    restored = keys.read_bundle(args["path"], self.decrypt, args["platform"])
                    pairs = keys.merge(keys.load(backend), restored)
                    changed = keys.save(backend, pairs, check) if pairs else False
                else:
                    pairs = keys.load(backend)
                    keys.active(pairs)
            finally:
                backend.close()
        except KeelsonError as error:
            raise AnsibleActionFail(str(error)) from error
        newest = keys.active(pairs) if pairs else None
        result.update(
            changed=changed,
            ids=[pair["id"] for pair in pairs],
            active_id=newest["id"] if newest else None,
            certificate=newest["certificate"] if newest else None,
            certificates=[pair["certificate"] for pair in pairs],
            secrets=[key_secret(pair, args["namespace"]) for pair in pairs],
        )
        if changed and self._task.diff:
            digest_line = [f"{keys.DIGEST_STORE} (present)"]
            result["diff"] = lines_diff(
                before + (digest_line if digest_before else []), result["ids"] + (digest_line if digest_after else []), "sealing key ids"
            )
        return dict(result)
