# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What keelson's controller-side actions share: the vault password Ansible was given, and the backend."""

from __future__ import annotations

import os
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.parsing.vault import VaultLib
from ansible.plugins.action import ActionBase

from ansible_collections.keelson.platform.plugins.module_utils._data import plain
from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.plugin_utils._secrets import Backend, backend_from_spec

BACKEND_OPTIONS: dict[str, Any] = {
    "backend": {"type": "dict", "required": True},
    "inventory_dir": {"type": "path"},
}
# The cluster the kubernetes.core modules an action calls reach, and how they are told.
CLUSTER_OPTIONS: dict[str, Any] = {
    "kubeconfig": {"type": "path", "required": True},
    "context": {"type": "str"},
}


def cluster_connection(args: dict[str, Any]) -> dict[str, Any]:
    """The kubernetes.core connection arguments from an action's CLUSTER_OPTIONS."""
    return {"kubeconfig": args["kubeconfig"], **({"context": args["context"]} if args["context"] else {})}


_NO_PASSWORD = (
    "the vault_file secrets backend needs a vault password: pass --vault-password-file "
    "(or set ANSIBLE_VAULT_PASSWORD_FILE, or vault_password_file in ansible.cfg); key bundles are encrypted with it too"
)


class KeelsonAction(ActionBase):  # type: ignore[misc]  # ansible-core ships no type information
    """An action that never logs its result's values and reads the secrets backend the spec selects."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def _vault(self) -> VaultLib:
        return VaultLib(self._loader._vault.secrets)  # pylint: disable=protected-access

    def encrypt(self, plaintext: bytes) -> bytes:
        vault = self._vault()
        if not vault.secrets:
            raise KeelsonError(_NO_PASSWORD)
        return bytes(vault.encrypt(plaintext))

    def decrypt(self, ciphertext: bytes) -> bytes:
        vault = self._vault()
        if not vault.secrets:
            raise KeelsonError(_NO_PASSWORD)
        return bytes(vault.decrypt(ciphertext))

    def base_dir(self, args: dict[str, Any], task_vars: dict[str, Any]) -> str:
        if args.get("inventory_dir"):
            return str(args["inventory_dir"])
        sources = task_vars.get("ansible_inventory_sources") or []
        if not sources:
            raise AnsibleActionFail(f"{self._task.action}: cannot tell where the inventory is; set inventory_dir")
        source = str(sources[0])
        return source if os.path.isdir(source) else os.path.dirname(source)

    def arguments(self, argument_spec: dict[str, Any]) -> dict[str, Any]:
        """The task's arguments, validated, as plain Python data (no tagged strings)."""
        _validation, args = self.validate_argument_spec(argument_spec=argument_spec)
        return dict(plain(args))

    def backend(self, args: dict[str, Any], task_vars: dict[str, Any]) -> Backend:
        return backend_from_spec(args["backend"], self.base_dir(args, task_vars), self.encrypt, self.decrypt)
