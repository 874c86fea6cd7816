# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of keelson.platform.secret: the secrets backend lives beside the inventory."""

from __future__ import annotations

import os
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.parsing.vault import VaultLib
from ansible.plugins.action import ActionBase

from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.plugin_utils._secrets import backend_from_spec, generate

ARGUMENT_SPEC: dict[str, Any] = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "query"], "default": "present"},
    "value": {"type": "str", "no_log": True},
    "generate": {
        "type": "dict",
        "options": {
            "length": {"type": "int", "default": 32},
            "alphabet": {"type": "str", "choices": ["alnum", "hex", "urlsafe"], "default": "alnum"},
        },
    },
    "backend": {"type": "dict", "required": True},
    "inventory_dir": {"type": "path"},
}


class ActionModule(ActionBase):  # type: ignore[misc]  # ansible-core ships no type information
    TRANSFERS_FILES = False
    _requires_connection = False

    def _base_dir(self, args: dict[str, Any], task_vars: dict[str, Any]) -> str:
        if args.get("inventory_dir"):
            return str(args["inventory_dir"])
        sources = task_vars.get("ansible_inventory_sources") or []
        if not sources:
            raise AnsibleActionFail("keelson.platform.secret: cannot tell where the inventory is; set inventory_dir")
        source = str(sources[0])
        return source if os.path.isdir(source) else os.path.dirname(source)

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        result["_ansible_no_log"] = True  # the value never reaches a log, whatever the task says
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        if args["state"] == "present" and bool(args["value"]) == bool(args["generate"]):
            raise AnsibleActionFail("keelson.platform.secret: give exactly one of value or generate with state=present")

        vault = VaultLib(self._loader._vault.secrets)  # pylint: disable=protected-access

        def encrypt(plaintext: bytes) -> bytes:
            if not vault.secrets:
                raise KeelsonError(
                    "the vault_file secrets backend needs a vault password: pass --vault-password-file "
                    "(or set ANSIBLE_VAULT_PASSWORD_FILE, or vault_password_file in ansible.cfg)"
                )
            return bytes(vault.encrypt(plaintext))

        def decrypt(ciphertext: bytes) -> bytes:
            if not vault.secrets:
                raise KeelsonError("the vault_file secrets backend needs a vault password to read its file (--vault-password-file)")
            return bytes(vault.decrypt(ciphertext))

        try:
            backend = backend_from_spec(args["backend"], self._base_dir(args, task_vars or {}), encrypt, decrypt)
            name = args["name"]
            check = bool(self._task.check_mode)
            before = backend.names()
            if args["state"] == "query":
                value = backend.get(name)
                if value is None:
                    raise KeelsonError(f"secret {name!r} is not in {backend.path}")
                changed = False
            elif args["value"] is not None:
                value, changed = args["value"], backend.put(name, args["value"], check_mode=check)
            else:
                spec = args["generate"]
                value, changed = backend.get_or_create(name, lambda: generate(spec["length"], spec["alphabet"]), check_mode=check)
        except KeelsonError as error:
            raise AnsibleActionFail(str(error)) from error
        after = sorted({*before, name})
        result.update(changed=changed, value=value, backend=backend.path)
        if changed and self._task.diff:
            result["diff"] = {
                "before": "\n".join(before) + "\n",
                "after": "\n".join(after) + "\n",
                "before_header": backend.path,
            }
        return dict(result)
