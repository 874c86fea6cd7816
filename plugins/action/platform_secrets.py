# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of keelson.platform.platform_secrets: every platform credential, created once.

Sealing them is platform_render's job: it seals exactly these credentials (and the labels and settings their
consumers need) into the GitOps tree, through the one seal / plan / apply path.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail

from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.plugin_utils import _platform_secrets as platform
from ansible_collections.keelson.platform.plugins.plugin_utils._action import BACKEND_OPTIONS, KeelsonAction

ARGUMENT_SPEC: dict[str, Any] = {
    "spec": {"type": "dict", "required": True},
    **BACKEND_OPTIONS,
}


class ActionModule(KeelsonAction):
    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        result["_ansible_no_log"] = True
        args = self.arguments(ARGUMENT_SPEC)
        try:
            backend = self.backend(args, task_vars or {})
            try:
                values, created = platform.ensure(backend, args["spec"], bool(self._task.check_mode))
            finally:
                backend.close()
            keys = platform.public_keys(args["spec"], values)
        except KeelsonError as error:
            raise AnsibleActionFail(str(error)) from error
        result.update(
            changed=bool(created),
            names=[credential.name for credential in platform.credentials(args["spec"])],
            created=created,
            public_keys=keys,
        )
        return dict(result)
