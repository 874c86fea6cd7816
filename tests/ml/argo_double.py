# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ARGO WORKFLOWS EXECUTOR TEST DOUBLE: runs a rendered Workflow's steps as local processes, the way the workflow
controller and its executor would run their pods, so that what keelson renders (commands, environment, Secrets,
mounts, parameters and outputs) is what drives the real steps against the real MLflow, PostgreSQL and S3 servers.

What it does as Argo Workflows does (v4 semantics, the subset keelson renders):
- a Workflow with ``workflowTemplateRef`` runs the template's spec with the Workflow's arguments over the
  template's defaults (a parameter with no value is refused, as Argo refuses it); the entrypoint's ``steps`` run
  group by group, a failed step fails the workflow and nothing after it runs;
- ``{{workflow.parameters.X}}``, ``{{inputs.parameters.X}}`` and ``{{steps.S.outputs.parameters.Y}}`` are
  substituted, a step seeing only the outputs of the groups before its own; ``when`` is evaluated (only the
  ``<a> == <b>`` form keelson renders);
- a container gets its ``env`` (values, and ``secretKeyRef``) and the keys of its ``envFrom`` Secrets (a Secret or
  key it names that does not exist fails the step, as the kubelet refuses the pod), on top of what any process
  needs here (``environment()``: this one's, without MLFLOW_, AWS_ and KEELSON_ variables) and ``TMPDIR`` at its
  ``/tmp`` volume; its ``command``, ``python`` being the image's Python, runs in its own copy of the image's working
  directory; every ``emptyDir`` volume is a fresh folder of its own pod (a step sees no other step's files); a
  ``configMap`` or ``secret`` volume is a folder of its data (an ``optional`` Secret that does not exist, an empty
  one); output parameters are read from ``valueFrom.path``;
- a ``resource`` step with ``action: create`` records the object (a Workflow the caller may run next);
- ``run_pod`` starts a plain pod's one container the same way (a Job's pod template).

Everything else is refused (DoubleRefused), so that a test cannot pass by the double skipping it: a field it does
not know (``args``, ``workingDir``, ``withItems``, ``podSpecPatch``, init containers, ``subPath``, ...), another
``when`` form, a ``{{`` it cannot substitute, a command other than ``python``, and an absolute path in a command or
the environment that is on none of the pod's volumes (the image's root file system is read-only).

What it does not do or prove: no pods, images, Kubernetes API, RBAC, admission, Pod Security, Kueue, retries
(``retryStrategy`` and a Job's ``backoffLimit``: each step runs once), resources, users or network policies; the
in-cluster addresses are mapped to the test servers by exact value. See docs/testing.md.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Document = dict[str, Any]
_VARIABLE = re.compile(r"\{\{\s*([a-zA-Z0-9_.-]+)\s*\}\}")
_WHEN = re.compile(r"^\s*(\S+)\s*==\s*(\S+)\s*$")
# The fields the double runs, and those it may leave aside because a local process has no use for them (what they
# would prove is in the docstring's "does not prove"). Any other field is refused.
_WORKFLOW_SPEC = {"entrypoint", "arguments", "templates", "volumes"} | {
    "serviceAccountName",
    "podMetadata",
    "securityContext",
    "activeDeadlineSeconds",
}
_TEMPLATE = {"name", "steps", "container", "resource", "inputs", "outputs"} | {"retryStrategy"}
_STEP = {"name", "template", "arguments", "when"}
_CONTAINER = {"name", "command", "env", "envFrom", "volumeMounts"} | {"image", "resources", "securityContext"}
_POD = {"containers", "volumes"} | {"restartPolicy", "securityContext", "serviceAccountName", "automountServiceAccountToken"}
_MOUNT = {"name", "mountPath", "readOnly"}


class DoubleRefused(AssertionError):
    """The workflow uses something the double does not implement (so a test cannot pass by accident)."""


def _known(where: str, document: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise DoubleRefused(f"{where}: the double does not implement {', '.join(unknown)}")


@dataclass
class Pod:
    step: str
    argv: list[str]
    env: dict[str, str]
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    mounts: dict[str, Path] = field(default_factory=dict)


class _NotStarted(Exception):
    """What the kubelet refuses to start a container for (a Secret or key it names is missing)."""


@dataclass
class Run:
    phase: str  # Succeeded or Failed
    pods: list[Pod] = field(default_factory=list)
    created: list[Document] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def pod(self, step: str) -> Pod:
        [found] = [pod for pod in self.pods if pod.step == step]
        return found


@dataclass
class Cluster:
    """What stands in for the tenant namespace: its Secrets and ConfigMaps, the WorkflowTemplates, the in-cluster
    addresses mapped to the test servers, the image's working directory and the environment every process needs."""

    scratch: Path
    workdir: Path
    secrets: Mapping[str, Mapping[str, str]]
    config_maps: Mapping[str, Mapping[str, str]]
    templates: Mapping[str, Document]
    addresses: Mapping[str, str]
    base_env: Mapping[str, str]
    _pods: int = 0

    def run(self, workflow: Document) -> Run:
        _known("Workflow", workflow, {"apiVersion", "kind", "metadata", "spec"})
        spec = workflow["spec"]
        if "workflowTemplateRef" in spec:
            _known("Workflow spec", spec, {"workflowTemplateRef", "arguments"})
            template = self.templates[spec["workflowTemplateRef"]["name"]]["spec"]
            merged = dict(template)
            merged["arguments"] = {"parameters": _merge(template.get("arguments", {}), spec.get("arguments", {}))}
            spec = merged
        return self.run_spec(spec)

    def run_spec(self, spec: Document) -> Run:
        _known("workflow spec", spec, _WORKFLOW_SPEC)
        parameters = {}
        for item in spec.get("arguments", {}).get("parameters", []):
            if "value" not in item:
                raise DoubleRefused(f"parameter {item['name']} has no value: Argo refuses the workflow")
            parameters[item["name"]] = str(item["value"])
        templates = {template["name"]: template for template in spec["templates"]}
        for template in templates.values():
            _known(f"template {template['name']}", template, _TEMPLATE)
        entry = templates[spec["entrypoint"]]
        if "steps" not in entry:
            raise DoubleRefused(f"the entrypoint {entry['name']} is not a steps template")
        result = Run("Succeeded")
        outputs: dict[str, dict[str, str]] = {}
        for group in entry["steps"]:
            # The steps of one group run side by side: none sees another's outputs.
            scope = {f"workflow.parameters.{name}": value for name, value in parameters.items()}
            scope.update(
                {f"steps.{name}.outputs.parameters.{key}": value for name, values in outputs.items() for key, value in values.items()}
            )
            done: dict[str, dict[str, str]] = {}
            for step in group:
                _known(f"step {step.get('name')}", step, _STEP)
                if "when" in step and not _when(_substitute(step["when"], scope)):
                    result.skipped.append(step["name"])
                    continue
                inputs = {item["name"]: _substitute(str(item["value"]), scope) for item in step.get("arguments", {}).get("parameters", [])}
                template = templates[step["template"]]
                local = {**scope, **{f"inputs.parameters.{name}": value for name, value in inputs.items()}}
                if "container" in template:
                    pod = self._container(step["name"], template, spec.get("volumes", []), local)
                    result.pods.append(pod)
                    if pod.returncode != 0:
                        result.phase = "Failed"
                        return result
                    done[step["name"]] = pod.outputs
                elif "resource" in template:
                    result.created.append(self._resource(template["resource"], local))
                else:
                    raise DoubleRefused(f"template {template['name']}: only container and resource templates are run")
            outputs.update(done)
        return result

    def run_pod(self, name: str, pod_spec: Document) -> Pod:
        """A pod's one container (a Job's pod template), as the kubelet would start it."""
        _known(f"pod {name}", pod_spec, _POD)
        [container] = pod_spec["containers"]
        return self._process(name, container, pod_spec.get("volumes", []), {})

    def _container(self, step: str, template: Document, volumes: list[Document], scope: dict[str, str]) -> Pod:
        pod = self._process(step, template["container"], volumes, scope)
        if pod.returncode != 0:
            return pod
        for item in template.get("outputs", {}).get("parameters", []):
            path = Path(self._local(item["valueFrom"]["path"], pod.mounts))
            if not path.is_file():
                return Pod(step, pod.argv, pod.env, 1, pod.stdout, f"{pod.stderr}\noutput parameter {item['name']}: {path} not found", {})
            pod.outputs[item["name"]] = path.read_text(encoding="utf-8").strip()
        return pod

    def _process(self, step: str, container: Document, volumes: list[Document], scope: dict[str, str]) -> Pod:
        _known(f"container of {step}", container, _CONTAINER)
        self._pods += 1
        pod_dir = self.scratch / f"pod-{self._pods}-{step}"
        try:
            mounts = self._mounts(pod_dir, container.get("volumeMounts", []), volumes)
            env = dict(self.base_env)
            for source in container.get("envFrom", []):
                _known(f"envFrom of {step}", source, {"secretRef"})
                env.update(self._secret(source["secretRef"]["name"]))
            for item in container.get("env", []):
                if "valueFrom" in item:
                    _known(f"env {item['name']} of {step}", item["valueFrom"], {"secretKeyRef"})
                    reference = item["valueFrom"]["secretKeyRef"]
                    data = self._secret(reference["name"])
                    if reference["key"] not in data:
                        raise _NotStarted(f"key {reference['key']!r} not found in secret {reference['name']!r}")
                    env[item["name"]] = data[reference["key"]]
                else:
                    env[item["name"]] = self._local(_substitute(item["value"], scope), mounts)
        except _NotStarted as error:  # the kubelet refuses the pod: CreateContainerConfigError
            return Pod(step, [], {}, 1, "", f"CreateContainerConfigError: {error}", {})
        if "/tmp" in mounts:
            env["TMPDIR"] = str(mounts["/tmp"])
        argv = [self._local(_substitute(part, scope), mounts) for part in container["command"]]
        if argv[0] != "python":
            raise DoubleRefused(f"step {step}: the double runs python commands only, found {argv[0]!r}")
        workdir = pod_dir / "workdir"
        shutil.copytree(self.workdir, workdir)
        done = subprocess.run([sys.executable, *argv[1:]], env=env, cwd=workdir, capture_output=True, text=True, timeout=600, check=False)
        return Pod(step, argv, env, done.returncode, done.stdout, done.stderr, {}, mounts)

    def _secret(self, name: str) -> Mapping[str, str]:
        if name not in self.secrets:
            raise _NotStarted(f"secret {name!r} not found")
        return self.secrets[name]

    def _mounts(self, pod_dir: Path, mounts: list[Document], volumes: list[Document]) -> dict[str, Path]:
        by_name = {volume["name"]: volume for volume in volumes}
        found = {}
        for mount in mounts:
            _known(f"volume mount {mount['name']}", mount, _MOUNT)
            volume = by_name[mount["name"]]
            folder = pod_dir / mount["name"]
            folder.mkdir(parents=True)
            if "configMap" in volume:
                _known(f"volume {mount['name']}", volume["configMap"], {"name"})
                data: Mapping[str, str] = self.config_maps[volume["configMap"]["name"]]
            elif "secret" in volume:
                secret = volume["secret"]
                _known(f"volume {mount['name']}", secret, {"secretName", "optional"})
                missing = secret["secretName"] not in self.secrets
                data = {} if missing and secret.get("optional", False) else self._secret(secret["secretName"])
            elif "emptyDir" in volume:
                data = {}
            else:
                raise DoubleRefused(f"volume {mount['name']}: only configMap, secret and emptyDir volumes are mounted")
            for key, text in data.items():
                (folder / key).write_text(text, encoding="utf-8")
            found[mount["mountPath"]] = folder
        return found

    def _local(self, value: str, mounts: Mapping[str, Path]) -> str:
        """A mount path as the pod's folder here, an in-cluster address as its test server. Any other absolute path
        is refused: the image's root file system is read-only, and this machine's is not the pod's."""
        if value in self.addresses:
            return self.addresses[value]
        for path, folder in mounts.items():
            if value == path or value.startswith(path + "/"):
                return str(folder) + value[len(path) :]
        if value.startswith("/"):
            raise DoubleRefused(f"{value}: on none of the pod's volumes ({', '.join(sorted(mounts)) or 'none'})")
        return value

    @staticmethod
    def _resource(resource: Document, scope: dict[str, str]) -> Document:
        _known("resource template", resource, {"action", "manifest"})
        if resource.get("action") != "create":
            raise DoubleRefused(f"resource action {resource.get('action')!r}: only create")
        return dict(yaml.safe_load(_substitute(resource["manifest"], scope)))


def _merge(defaults: Document, given: Document) -> list[Document]:
    values = {item["name"]: item for item in defaults.get("parameters", [])}
    values.update({item["name"]: item for item in given.get("parameters", [])})
    return list(values.values())


def _substitute(text: str, scope: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in scope:
            raise DoubleRefused(f"{{{{{name}}}}} is not defined here (Argo would fail the workflow): {text!r}")
        return scope[name]

    result = _VARIABLE.sub(value, text)
    if "{{" in result:
        raise DoubleRefused(f"an expression the double does not evaluate: {text!r}")
    return result


def _when(expression: str) -> bool:
    match = _WHEN.match(expression)
    if match is None:
        raise DoubleRefused(f"when {expression!r}: the double evaluates only '<a> == <b>'")
    return match.group(1) == match.group(2)


def environment() -> dict[str, str]:
    """What every process needs beside what the pod is given: no MLFLOW_, AWS_ or KEELSON_ variable of this one."""
    return {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "AWS_", "KEELSON_"))}


def parameters(workflow: Document) -> dict[str, str]:
    return {item["name"]: item["value"] for item in workflow["spec"].get("arguments", {}).get("parameters", [])}
