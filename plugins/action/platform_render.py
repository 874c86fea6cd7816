# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of keelson.platform.platform_render: the platform's desired state as a GitOps tree."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail

from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.plugin_utils import _render_core
from ansible_collections.keelson.platform.plugins.plugin_utils._action import BACKEND_OPTIONS, KeelsonAction

ARGUMENT_SPEC: dict[str, Any] = {
    "spec": {"type": "dict", "required": True},
    "nodes": {"type": "list", "elements": "dict", "required": True},
    "dest": {"type": "path", "required": True},
    "force": {"type": "bool", "default": False},
    **BACKEND_OPTIONS,
}
# The collection's own top folder: never a destination.
CHECKOUT = _render_core.CHECKOUT


class ActionModule(KeelsonAction):
    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.arguments(ARGUMENT_SPEC)
        spec, nodes, dest = args["spec"], args["nodes"], args["dest"]
        check = bool(self._task.check_mode)
        try:
            inputs = _render_core.read_inputs(self.backend(args, task_vars or {}), spec, check)
            rendered = _render_core.render_into(dest, spec, nodes, inputs, write=not check, force=args["force"])
        except KeelsonError as error:
            raise AnsibleActionFail(str(error)) from error
        plan, files = rendered.plan, rendered.files
        counts = f"{len(plan.write)} and {'would remove' if check else 'removed'} {len(plan.remove)} file(s) in {dest}"
        if not plan.changed:
            message = f"nothing to write: the {len(files)} file(s) in {dest} are up to date"
        elif check:
            message = f"check mode, nothing written: would write {counts} ({len(plan.unchanged)} unchanged)"
        else:
            message = f"wrote {counts} ({len(plan.unchanged)} unchanged)"
        result.update(
            msg=message,
            changed=plan.changed,
            dest=dest,
            files=len(files),
            written=sorted(plan.write),
            removed=plan.remove,
            unchanged=len(plan.unchanged),
        )
        if rendered.warnings:
            result["warnings"] = rendered.warnings
        if plan.changed and self._task.diff:
            result["diff"] = plan.diffs()
        return dict(result)
