# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of keelson.platform.pinned_host_keys: a server's SSH host keys pinned in the secrets backend."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail

from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.plugin_utils._action import BACKEND_OPTIONS, KeelsonAction
from ansible_collections.keelson.platform.plugins.plugin_utils._files import diff
from ansible_collections.keelson.platform.plugins.plugin_utils._host_keys import fingerprints, pin

ARGUMENT_SPEC: dict[str, Any] = {
    "name": {"type": "str", "required": True},
    "known_hosts": {"type": "list", "elements": "str", "required": True},
    "server": {"type": "str", "required": True},
    "accept": {"type": "bool", "default": False},
    **BACKEND_OPTIONS,
}


class ActionModule(KeelsonAction):
    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.arguments(ARGUMENT_SPEC)
        try:
            backend = self.backend(args, task_vars or {})
            try:
                pinned = pin(
                    backend,
                    args["name"],
                    args["known_hosts"],
                    args["server"],
                    accept=args["accept"],
                    check_mode=bool(self._task.check_mode),
                )
            finally:
                backend.close()
        except KeelsonError as error:
            raise AnsibleActionFail(str(error)) from error
        result.update(
            changed=pinned.changed,
            known_hosts=pinned.known_hosts,
            fingerprints=fingerprints(pinned.known_hosts),
            backend=backend.path,
        )
        if pinned.changed and self._task.diff:
            header = f"{backend.path} ({args['name']})"
            result["diff"] = diff(pinned.previous or "", pinned.known_hosts, "/dev/null" if pinned.previous is None else header, header)
        return dict(result)
