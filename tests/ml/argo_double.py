# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ARGO WORKFLOWS EXECUTOR TEST DOUBLE: runs a rendered Workflow's steps as local processes, the way the workflow
controller and its executor would run their pods, so that what keelson renders (commands, environment, Secrets,
mounts, parameters and outputs) is what drives the real steps against the real MLflow, PostgreSQL and S3 servers.

What it does as Argo Workflows does (v4 semantics, the subset keelson renders):
- a Workflow with ``workflowTemplateRef`` runs the template's spec with the Workflow's arguments over the
  template's defaults; the entrypoint's ``steps`` run group by group, a failed step fails the workflow and
  nothing after it runs;
- ``{{workflow.parameters.X}}``, ``{{inputs.parameters.X}}`` and ``{{steps.S.outputs.parameters.Y}}`` are
  substituted; ``when`` is evaluated (only the ``<a> == <b>`` form keelson renders; anything else is refused);
- a container step gets exactly its ``env`` (values, and ``secretKeyRef``) and the keys of its ``envFrom`` Secrets (a
  Secret or key it names that does not exist fails the step, as the kubelet refuses the pod), its ``command`` with
  ``python`` being the image's Python, and its own fresh folder for every ``emptyDir`` volume (a step sees no other
  step's files); a ``configMap`` or ``secret`` volume is a folder of its data (an ``optional`` Secret that does not
  exist, an empty one); output parameters are read from ``valueFrom.path``;
- a ``resource`` step with ``action: create`` records the object (a Workflow the caller may run next);
- ``run_pod`` starts a plain pod's one container the same way (a Job's pod template).

What it does not do or prove: no pods, images, Kubernetes API, RBAC, admission, Pod Security, Kueue, retries
(``retryStrategy`` is ignored), resources, read-only root file systems or network policies; the in-cluster
addresses are mapped to the test servers by exact value. See docs/testing.md.
"""

from __future__ import annotations

import os
import re
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


class DoubleRefused(AssertionError):
    """The workflow uses something the double does not implement (so a test cannot pass by accident)."""


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
        spec = workflow["spec"]
        if "workflowTemplateRef" in spec:
            template = self.templates[spec["workflowTemplateRef"]["name"]]["spec"]
            merged = dict(template)
            merged["arguments"] = {"parameters": _merge(template.get("arguments", {}), spec.get("arguments", {}))}
            spec = merged
        return self.run_spec(spec)

    def run_spec(self, spec: Document) -> Run:
        parameters = {item["name"]: str(item.get("value", "")) for item in spec.get("arguments", {}).get("parameters", [])}
        templates = {template["name"]: template for template in spec["templates"]}
        entry = templates[spec["entrypoint"]]
        if "steps" not in entry:
            raise DoubleRefused(f"the entrypoint {entry['name']} is not a steps template")
        result = Run("Succeeded")
        outputs: dict[str, dict[str, str]] = {}
        for group in entry["steps"]:
            for step in group:
                scope = {f"workflow.parameters.{name}": value for name, value in parameters.items()}
                scope.update(
                    {f"steps.{name}.outputs.parameters.{key}": value for name, values in outputs.items() for key, value in values.items()}
                )
                if "when" in step and not _when(_substitute(step["when"], scope)):
                    result.skipped.append(step["name"])
                    continue
                inputs = {item["name"]: _substitute(str(item["value"]), scope) for item in step.get("arguments", {}).get("parameters", [])}
                template = templates[step["template"]]
                scope.update({f"inputs.parameters.{name}": value for name, value in inputs.items()})
                if "container" in template:
                    pod = self._container(step["name"], template, spec, scope)
                    result.pods.append(pod)
                    if pod.returncode != 0:
                        result.phase = "Failed"
                        return result
                    outputs[step["name"]] = pod.outputs
                elif "resource" in template:
                    result.created.append(self._resource(template["resource"], scope))
                else:
                    raise DoubleRefused(f"template {template['name']}: only container and resource templates are run")
        return result

    def run_pod(self, name: str, pod_spec: Document) -> Pod:
        """A pod's one container (a Job's pod template), as the kubelet would start it."""
        [container] = pod_spec["containers"]
        return self._process(name, container, pod_spec.get("volumes", []), {})

    def _container(self, step: str, template: Document, spec: Document, scope: dict[str, str]) -> Pod:
        pod = self._process(step, template["container"], spec.get("volumes", []), scope)
        if pod.returncode != 0:
            return pod
        for item in template.get("outputs", {}).get("parameters", []):
            path = Path(self._local(item["valueFrom"]["path"], pod.mounts))
            if not path.is_file():
                return Pod(step, pod.argv, pod.env, 1, pod.stdout, f"{pod.stderr}\noutput parameter {item['name']}: {path} not found", {})
            pod.outputs[item["name"]] = path.read_text(encoding="utf-8").strip()
        return pod

    def _process(self, step: str, container: Document, volumes: list[Document], scope: dict[str, str]) -> Pod:
        self._pods += 1
        pod_dir = self.scratch / f"pod-{self._pods}-{step}"
        try:
            mounts = self._mounts(pod_dir, container.get("volumeMounts", []), volumes)
            env = dict(self.base_env)
            for source in container.get("envFrom", []):
                env.update(self._secret(source["secretRef"]["name"]))
            for item in container.get("env", []):
                if "valueFrom" in item:
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
        done = subprocess.run(
            [sys.executable, *argv[1:]], env=env, cwd=self.workdir, capture_output=True, text=True, timeout=600, check=False
        )
        return Pod(step, argv, env, done.returncode, done.stdout, done.stderr, {}, mounts)

    def _secret(self, name: str) -> Mapping[str, str]:
        if name not in self.secrets:
            raise _NotStarted(f"secret {name!r} not found")
        return self.secrets[name]

    def _mounts(self, pod_dir: Path, mounts: list[Document], volumes: list[Document]) -> dict[str, Path]:
        by_name = {volume["name"]: volume for volume in volumes}
        found = {}
        for mount in mounts:
            volume = by_name[mount["name"]]
            folder = pod_dir / mount["name"]
            folder.mkdir(parents=True)
            if "configMap" in volume:
                data: Mapping[str, str] = self.config_maps[volume["configMap"]["name"]]
            elif "secret" in volume:
                secret = volume["secret"]
                optional = secret.get("optional", False) and secret["secretName"] not in self.secrets
                data = {} if optional else self._secret(secret["secretName"])
            elif "emptyDir" in volume:
                data = {}
            else:
                raise DoubleRefused(f"volume {mount['name']}: only configMap, secret and emptyDir volumes are mounted")
            for key, text in data.items():
                (folder / key).write_text(text, encoding="utf-8")
            found[mount["mountPath"]] = folder
        return found

    def _local(self, value: str, mounts: Mapping[str, Path]) -> str:
        """A mount path as the pod's folder here, an in-cluster address as its test server."""
        if value in self.addresses:
            return self.addresses[value]
        for path, folder in mounts.items():
            if value == path or value.startswith(path + "/"):
                return str(folder) + value[len(path) :]
        return value

    @staticmethod
    def _resource(resource: Document, scope: dict[str, str]) -> Document:
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

    return _VARIABLE.sub(value, text)


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
