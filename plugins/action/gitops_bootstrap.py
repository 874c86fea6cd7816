# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of keelson.platform.gitops_bootstrap: hand the cluster to its GitOps controller, once.

The steps are data (plugin_utils/_bootstrap.py); the chart is rendered by kubernetes.core.helm_template and every
object applied by kubernetes.core.k8s (server-side apply, a server-side dry run in check mode)."""

from __future__ import annotations

from typing import Any, Callable, Optional

from ansible.errors import AnsibleActionFail
from ansible.utils.display import Display

from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.plugin_utils import _bootstrap as bootstrap
from ansible_collections.keelson.platform.plugins.plugin_utils import _render
from ansible_collections.keelson.platform.plugins.plugin_utils._action import (
    BACKEND_OPTIONS,
    CLUSTER_OPTIONS,
    KeelsonAction,
    cluster_connection,
)
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform
from ansible_collections.keelson.platform.plugins.plugin_utils._render_core import read_inputs

display = Display()

ARGUMENT_SPEC: dict[str, Any] = {
    "spec": {"type": "dict", "required": True},
    "nodes": {"type": "list", "elements": "dict", "required": True},
    "tree": {"type": "path", "required": True},
    **CLUSTER_OPTIONS,
    "helm": {"type": "path", "required": True},
    "chart_path": {"type": "path"},
    "wait": {"type": "bool", "default": True},
    "wait_timeout": {"type": "int", "default": 600},
    **BACKEND_OPTIONS,
}
Module = Callable[[str, dict[str, Any], bool], dict[str, Any]]


def _failure(name: str, result: dict[str, Any]) -> str:
    message = str(result.get("msg") or result.get("error") or "failed")
    return f"{name}: {message}"


def run_steps(
    steps: list[bootstrap.Step],
    module: Module,
    connection: dict[str, Any],
    *,
    check: bool,
    wait: bool,
    wait_timeout: int,
    installed_crds: Optional[set[str]] = None,
    namespaces: Optional[set[str]] = None,
) -> list[dict[str, Any]]:
    """Apply ``steps`` in order through ``module`` (kubernetes.core.k8s). In check mode (``installed_crds`` and
    ``namespaces`` say what the API server has), a step whose CRDs or namespaces do not exist yet cannot be
    dry-run: it is reported as what the real run would create."""
    report: list[dict[str, Any]] = []
    created_namespaces = {doc["metadata"]["name"] for step in steps for doc in step.objects if doc.get("kind") == "Namespace"}
    for step in steps:
        entry: dict[str, Any] = {"step": step.name, "objects": step.names, "field_manager": step.manager}
        if check:
            missing = [name for name in step.needs if name not in (installed_crds or set())]
            absent = sorted(
                {
                    doc["metadata"]["namespace"]
                    for doc in step.objects
                    if doc.get("metadata", {}).get("namespace") in created_namespaces - (namespaces or set())
                }
            )
            if missing or absent:
                why = [f"CRDs {', '.join(missing)} not installed yet"] if missing else []
                why += [f"namespaces {', '.join(absent)} not created yet"] if absent else []
                entry.update(changed=True, dry_run=False, reason="; ".join(why) + ": the real run creates these objects")
                report.append(entry)
                continue
        arguments = {
            **connection,
            "state": "present",
            "definition": list(step.objects),
            "apply": True,
            "server_side_apply": {"field_manager": step.manager, "force_conflicts": True},
            "wait": bool(wait and step.wait),
            "wait_timeout": wait_timeout,
        }
        result = module("kubernetes.core.k8s", arguments, step.secret)
        if result.get("failed"):
            raise KeelsonError(_failure(f"bootstrap step {step.name!r}", result))
        entry.update(changed=bool(result.get("changed")), dry_run=check)
        report.append(entry)
    return report


class ActionModule(KeelsonAction):
    def _module(self, task_vars: dict[str, Any]) -> Module:
        def call(name: str, arguments: dict[str, Any], secret: bool) -> dict[str, Any]:
            no_log = self._task.no_log
            if secret:
                self._task.no_log = True  # the module's arguments and result hold credentials
            try:
                return dict(self._execute_module(module_name=name, module_args=arguments, task_vars=task_vars))
            finally:
                self._task.no_log = no_log

        return call

    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        result["_ansible_no_log"] = False
        args = self.arguments(ARGUMENT_SPEC)
        task_vars = task_vars or {}
        check = bool(self._task.check_mode)
        module = self._module(task_vars)
        connection = cluster_connection(args)
        try:
            # What the render read, refused without it (the cluster cannot be given stand-ins, not even in check mode).
            inputs = read_inputs(self.backend(args, task_vars), args["spec"], check=False)
            values, pairs, host_keys = inputs.values, inputs.pairs, inputs.host_keys
            platform = Platform(args["spec"], args["nodes"], host_keys=host_keys)
            read = bootstrap.reader(args["tree"])
            release = bootstrap.release(platform, read)
            if args["chart_path"]:
                bootstrap.check_chart(args["chart_path"], release)
            rendered = module("kubernetes.core.helm_template", self._template_arguments(args, release), False)
            if rendered.get("failed"):
                raise KeelsonError(_failure(f"helm template of {release.chart} {release.version}", rendered))
            steps = bootstrap.plan(
                platform,
                read=read,
                pairs=pairs,
                sealed=_render.secrets_to_seal(args["spec"], args["nodes"], values, host_keys),
                chart=release,
                manifests=bootstrap.chart_manifests(str(rendered.get("stdout", ""))),
            )
            installed, namespaces = self._cluster_state(module, connection) if check else (None, None)
            report = run_steps(
                steps,
                module,
                connection,
                check=check,
                wait=args["wait"],
                wait_timeout=args["wait_timeout"],
                installed_crds=installed,
                namespaces=namespaces,
            )
        except KeelsonError as error:
            raise AnsibleActionFail(str(error)) from error
        changed = any(entry["changed"] for entry in report)
        for entry in report:
            display.vv(f"bootstrap {entry['step']}: {'changed' if entry['changed'] else 'ok'} ({len(entry['objects'])} objects)")
        done = [entry["step"] for entry in report if entry["changed"]]
        message = (
            f"{'check mode: would change' if check else 'changed'}: {', '.join(done)}"
            if done
            else "nothing to change: the bootstrap is in place"
        )
        result.update(
            changed=changed,
            msg=message,
            steps=report,
            release={"chart": release.chart, "version": release.version, "name": release.name, "namespace": release.namespace},
        )
        return dict(result)

    @staticmethod
    def _template_arguments(args: dict[str, Any], release: Any) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "binary_path": args["helm"],
            "release_name": release.name,
            "release_namespace": release.namespace,
            "release_values": release.values,
            "include_crds": True,
        }
        if args["chart_path"]:  # the same chart, from the air-gap folder or a test's copy
            arguments["chart_ref"] = args["chart_path"]
        else:
            arguments.update(chart_ref=release.chart, chart_version=release.version)
            if release.repo:
                arguments["chart_repo_url"] = release.repo
        return arguments

    @staticmethod
    def _cluster_state(module: Module, connection: dict[str, Any]) -> tuple[set[str], set[str]]:
        """The CRDs and namespaces the API server has (check mode: what can be dry-run)."""
        found: list[set[str]] = []
        for kind, version in (("CustomResourceDefinition", "apiextensions.k8s.io/v1"), ("Namespace", "v1")):
            result = module("kubernetes.core.k8s_info", {**connection, "kind": kind, "api_version": version}, False)
            if result.get("failed"):
                raise KeelsonError(_failure(f"listing {kind}s", result))
            found.append({item["metadata"]["name"] for item in result.get("resources", [])})
        return found[0], found[1]
