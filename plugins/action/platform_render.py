# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of keelson.platform.platform_render: the platform's desired state as a GitOps tree."""

from __future__ import annotations

import os
from typing import Any

from ansible.errors import AnsibleActionFail

from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.module_utils._sealing import generate_key_pair
from ansible_collections.keelson.platform.plugins.plugin_utils import _platform_secrets as platform
from ansible_collections.keelson.platform.plugins.plugin_utils import _render, _render_files
from ansible_collections.keelson.platform.plugins.plugin_utils import _sealing_keys as keys
from ansible_collections.keelson.platform.plugins.plugin_utils._action import BACKEND_OPTIONS, KeelsonAction
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform
from ansible_collections.keelson.platform.plugins.plugin_utils._platform_secrets import pinned_host_keys

ARGUMENT_SPEC: dict[str, Any] = {
    "spec": {"type": "dict", "required": True},
    "nodes": {"type": "list", "elements": "dict", "required": True},
    "dest": {"type": "path", "required": True},
    "force": {"type": "bool", "default": False},
    **BACKEND_OPTIONS,
}
# The collection's own top folder (plugins/action/ is two below it): never a destination.
CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_NOT_PINNED = (
    "the embedded Git server's host keys are not pinned yet (site.yml pins them when it sets the server up): "
    "the tree tells the GitOps controller no known_hosts for it"
)
_RUN_SECRETS = "run the keelson.platform.secrets playbook first (it creates them once, in the secrets backend)"


def _removed_tenants(model: Platform, removed: list[str]) -> list[str]:
    """Tenants whose generated files go because their entry left the spec."""
    present = {tenant.name for tenant in model.spec.tenants}
    return sorted({name for name in map(model.layout.tenant_of, removed) if name is not None and name not in present})


class ActionModule(KeelsonAction):
    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.arguments(ARGUMENT_SPEC)
        spec, nodes, dest = args["spec"], args["nodes"], args["dest"]
        model = Platform(spec, nodes)
        check = bool(self._task.check_mode)
        warnings: list[str] = []
        try:
            backend = self.backend(args, task_vars or {})
            try:
                # Read only: the secrets playbook creates what is missing. In check mode a first run has no
                # credentials or key yet; stand-ins show which files the real run would write.
                values, missing = platform.ensure(backend, spec, check_mode=True)
                pairs = keys.load(backend)
                digest_key = keys.load_digest_key(backend)
                host_keys = pinned_host_keys(backend)
            finally:
                backend.close()
            if missing and not check:
                raise KeelsonError(f"credentials missing from the secrets backend: {', '.join(missing)}; {_RUN_SECRETS}")
            if not pairs and not check:
                raise KeelsonError(f"no sealing key in the secrets backend; {_RUN_SECRETS}")
            warnings += [_NOT_PINNED] if model.spec.gitops.repo.url == "embedded" and not host_keys else []
            if missing or not pairs:
                pairs = pairs or [generate_key_pair()]
                warnings.append(
                    "check mode: credentials or the sealing key do not exist yet; stand-ins show the sealed files a real run would write"
                )
            elif digest_key is None:  # an older backend: render as before, opening every value (see _sealing_keys)
                warnings.append(
                    "no sealed-value digest key in the secrets backend: every sealed value is opened to compare it, and the tree "
                    f"records no digests; {_RUN_SECRETS}"
                )
            _render_files.check_destination(dest, CHECKOUT, force=args["force"])
            existing = _render_files.generated_files(dest, model.layout.base, model.spec.name)
            sealed = _render_files.seal_all(
                _render.secrets_to_seal(spec, nodes, values, host_keys),
                keys.active(pairs)["certificate"],
                [pair["key"] for pair in pairs],
                _render_files.sealed_in(existing),
                digest_key=digest_key,
            )
            files = _render.render(spec, nodes, sealed, platform.ca_certificate(spec, values), host_keys)
            plan = _render_files.plan(dest, files, model.layout.base, existing, model.spec.name)
            if plan.changed and not check:
                _render_files.apply(dest, plan)
        except KeelsonError as error:
            raise AnsibleActionFail(str(error)) from error
        for name in _removed_tenants(model, plan.remove):
            warnings.append(
                f"tenant {name} left the spec: its namespaces and volumes stay in the cluster (they are protected from pruning). "
                "To delete them with their data, put the entry back with state: absent and confirm_removal, sync, then remove it."
            )
        for tenant in model.spec.tenants:
            if tenant.state == "absent":
                warnings.append(f"tenant {tenant.name} is state: absent: removing its entry next deletes its namespaces and volumes")
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
        if warnings:
            result["warnings"] = warnings
        if plan.changed and self._task.diff:
            result["diff"] = plan.diffs()
        return dict(result)
