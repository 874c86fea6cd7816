# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of keelson.platform.helm_binary: the helm the catalog pins, on this machine (see _helm.py)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail

from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.plugin_utils import _helm
from ansible_collections.keelson.platform.plugins.plugin_utils._action import KeelsonAction

ARGUMENT_SPEC: dict[str, Any] = {
    "cache": {"type": "path", "default": "~/.cache/keelson"},
    "binary": {"type": "path"},
    "airgap": {"type": "path"},
}


class ActionModule(KeelsonAction):
    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.arguments(ARGUMENT_SPEC)
        check = bool(self._task.check_mode)
        wanted = _helm.pin()
        try:
            path, source, changed = _helm.find(args["cache"], given=args["binary"], airgap=args["airgap"], check_mode=check, wanted=wanted)
        except KeelsonError as error:
            raise AnsibleActionFail(str(error)) from error
        message = f"helm {wanted.version} from {source}" + (f": {path}" if path else "")
        result.update(changed=changed, path=path, version=wanted.version, source=source, msg=message)
        return dict(result)
