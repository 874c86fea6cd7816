# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of keelson.platform.secret: get, store or generate-once one secret."""

from __future__ import annotations

from typing import Any, Optional

from ansible.errors import AnsibleActionFail

from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.plugin_utils._action import BACKEND_OPTIONS, KeelsonAction
from ansible_collections.keelson.platform.plugins.plugin_utils._files import lines_diff
from ansible_collections.keelson.platform.plugins.plugin_utils._platform_secrets import KINDS, create

ARGUMENT_SPEC: dict[str, Any] = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "query", "absent"], "default": "present"},
    "value": {"type": "str", "no_log": True},
    "generate": {
        "type": "dict",
        "options": {
            "length": {"type": "int", "default": 32},
            "alphabet": {"type": "str", "choices": list(KINDS), "default": "alnum"},
        },
    },
    **BACKEND_OPTIONS,
}


class ActionModule(KeelsonAction):
    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.arguments(ARGUMENT_SPEC)
        # The value never reaches a log, whatever the task says; a removal returns none (its diff shows the names).
        result["_ansible_no_log"] = args["state"] != "absent"
        if args["state"] == "present" and bool(args["value"]) == bool(args["generate"]):
            raise AnsibleActionFail("keelson.platform.secret: give exactly one of value or generate with state=present")
        if args["state"] != "present" and (args["value"] is not None or args["generate"]):
            raise AnsibleActionFail(f"keelson.platform.secret: state={args['state']} takes neither value nor generate")
        try:
            backend = self.backend(args, task_vars or {})
            try:
                name, check = args["name"], bool(self._task.check_mode)
                before = backend.names()
                value: Optional[str] = ""
                if args["state"] == "absent":
                    changed = backend.delete(name, check_mode=check)
                elif args["state"] == "query":
                    value = backend.get(name)
                    changed = False
                elif args["value"] is not None:
                    value, changed = args["value"], backend.put(name, args["value"], check_mode=check)
                else:
                    spec = args["generate"]
                    value, changed = backend.get_or_create(name, lambda: create(spec["alphabet"], spec["length"]), check_mode=check)
            finally:
                backend.close()
        except KeelsonError as error:
            raise AnsibleActionFail(str(error)) from error
        if value is None:
            # A failed result, not an exception: failed_when can turn "not there (yet)" into a branch.
            result.update(failed=True, changed=False, msg=f"secret {name!r} is not in {backend.path}", backend=backend.path)
            return dict(result)
        result.update(changed=changed, backend=backend.path)
        if args["state"] != "absent":
            result["value"] = value
        if changed and self._task.diff:
            after = set(before) - {name} if args["state"] == "absent" else {*before, name}
            result["diff"] = lines_diff(before, sorted(after), backend.path)
        return dict(result)
