# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of keelson.platform.gitops_status_info: wait until the cluster has applied the pushed commit,
showing progress as each object turns. Read-only: the API is read through kubernetes.core.k8s_info."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Optional

from ansible.errors import AnsibleActionFail
from ansible.utils.display import Display

from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.plugin_utils import _bootstrap as bootstrap
from ansible_collections.keelson.platform.plugins.plugin_utils import _platform_secrets as platform_secrets
from ansible_collections.keelson.platform.plugins.plugin_utils import _status as status
from ansible_collections.keelson.platform.plugins.plugin_utils._action import CLUSTER_OPTIONS, KeelsonAction, cluster_connection
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

display = Display()

ARGUMENT_SPEC: dict[str, Any] = {
    "spec": {"type": "dict", "required": True},
    "nodes": {"type": "list", "elements": "dict", "required": True},
    "tree": {"type": "path", "required": True},
    "revision": {"type": "str", "required": True},
    **CLUSTER_OPTIONS,
    "timeout": {"type": "int", "default": 1800},
    "interval": {"type": "int", "default": 10},
    "smoke": {"type": "bool", "default": True},
    "backend": {"type": "dict"},
    "inventory_dir": {"type": "path"},
}
Lister = Callable[[], dict[status.Ref, dict[str, Any]]]


def wait(
    look: Callable[[], status.Report],
    *,
    timeout: int,
    interval: int,
    say: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> status.Report:
    """Look until everything is reconciled or ``timeout`` seconds passed, saying a line each time the picture
    changes. Returns the last report (done or not)."""
    deadline = clock() + timeout
    last = ""
    while True:
        report = look()
        line = report.line()
        if line != last:
            say(line)
            last = line
        if report.done or clock() >= deadline:
            return report
        sleep(min(interval, max(deadline - clock(), 0)))


class ActionModule(KeelsonAction):
    def _lister(self, platform: Platform, connection: dict[str, Any], task_vars: dict[str, Any]) -> Lister:
        def listing() -> dict[status.Ref, dict[str, Any]]:
            live: dict[status.Ref, dict[str, Any]] = {}
            for version, kind in platform.engine.watched:
                arguments = {**connection, "api_version": version, "kind": kind}
                result = self._execute_module(module_name="kubernetes.core.k8s_info", module_args=arguments, task_vars=task_vars)
                if result.get("failed"):
                    raise KeelsonError(f"cannot list {kind}s: {result.get('msg', 'failed')}")
                live.update({status.Ref.of(item): item for item in result.get("resources", [])})
            return live

        return listing

    def _ca_certificate(self, args: dict[str, Any], task_vars: dict[str, Any]) -> Optional[str]:
        """The platform CA's certificate the ingress certificates come from (None: a public CA, or no backend)."""
        if not args["backend"]:
            return None
        backend = self.backend(args, task_vars)
        try:
            values, _missing = platform_secrets.ensure(backend, args["spec"], check_mode=True)
        finally:
            backend.close()
        return platform_secrets.ca_certificate(args["spec"], values)

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.arguments(ARGUMENT_SPEC)
        check = bool(self._task.check_mode)
        connection = cluster_connection(args)
        try:
            platform = Platform(args["spec"], args["nodes"])
            ca_certificate = self._ca_certificate(args, task_vars or {}) if args["smoke"] else None
            wanted = status.expected(platform, bootstrap.reader(args["tree"]))
            listing = self._lister(platform, connection, task_vars or {})

            def look() -> status.Report:
                report = status.assess(platform, wanted, listing(), args["revision"])
                if not report.done or not args["smoke"]:
                    return report
                # Reconciled: every component's ingress must answer too.
                problems = status.smoke(platform.ingress_urls, ca_certificate)
                waiting = tuple((status.Ref("Ingress", unit, url), why) for unit, url, why in problems)
                return dataclasses.replace(report, waiting=waiting)

            # Check mode pushed nothing, so there is nothing to wait for: one look, reported.
            report = look() if check else wait(look, timeout=args["timeout"], interval=args["interval"], say=display.display)
        except KeelsonError as error:
            raise AnsibleActionFail(str(error)) from error
        result.update(changed=False, msg=report.line(), **report.as_dict())
        if not report.done and not check:
            result.update(failed=True, msg=report.failure(args["timeout"]))
        return dict(result)
