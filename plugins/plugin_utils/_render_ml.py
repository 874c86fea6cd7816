# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A tenant's ML projects -> what runs them, in the tenant's first namespace (docs/ml.md):

- ``ml-<project>`` ConfigMap: the project's files, for the steps;
- ``ml-<project>`` WorkflowTemplate: validate data -> train -> test -> register, every pod labelled for the
  tenant's Kueue LocalQueue, as the tenant's workflow account, restricted;
- ``<project>-<revision>`` Workflow: the run of the current training files (a digest of them names it, so a
  commit that changes one starts a new run and one that does not changes nothing), carrying the commit, the
  files it changed and the hyperparameter diff;
- ``ml-<project>-drift`` CronWorkflow (with drift.yaml): measure drift, start the training template past the
  threshold.

These are applied as the tenant's own account (``tenants/<tenant>/keelson-ml/``). The platform applies the rest,
in the tenant's keelson folder (``ml.yaml``): the ``<project>`` InferenceService and its Ingress (with a served
version in serving.yaml: serving changes only through Git), and the account the drift check starts training with
(a tenant's account writes no RBAC).
Reading the project files from the repository is :mod:`_ml_sources`'s; this module is pure.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils import _ml
from ansible_collections.keelson.platform.plugins.module_utils._components import kserve, mlflow
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import Document
from ansible_collections.keelson.platform.plugins.module_utils._ml_project import STEP_FILES, Project, dumps
from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.module_utils._spec_model import Tenant
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

PROJECT_LABEL: Final = _ml.PROJECT_LABEL
RUN_LABEL: Final = _ml.RUN_LABEL
REVISION_LABEL: Final = "keelson.dev/ml-revision"
MODEL_ANNOTATION: Final = "keelson.dev/model"  # the registered model version an InferenceService serves
PARAMS_ANNOTATION: Final = "keelson.dev/params"  # the run's hyperparameters, the next run's diff is against them
WORKFLOWS_API: Final = "argoproj.io/v1alpha1"
PROJECT_DIR: Final = "/project"
OUTPUTS_DIR: Final = "/outputs"
STEP_MODULE: Final = ("python", "-m", "keelson_ml")
# The generic steps' resources (the training step's are the project's compute).
STEP_RESOURCES: Final = {"cpu": "500m", "memory": "1Gi"}
# A step stopped from outside is tried again; a step that fails on its own (a model below its thresholds: exit 1)
# is not. Kueue reclaiming borrowed quota deletes the pod (pkg/controller/jobs/pod/pod_controller.go, v0.19.2) and a
# drain evicts it: the kubelet stops the step with SIGTERM (SIGKILL after the grace period), the emissary executor
# exits 128 + the signal (cmd/argoexec/commands/emissary.go) and the node is Failed, not Error
# (workflow/controller/operator.go inferFailedReason), which retryPolicy OnError would not retry. Error covers a pod
# gone before it ended. A step the kernel killed for memory (exit 137, the node's message "OOMKilled") would fail
# again: not retried. The expression is the form of Argo Workflows' own tests (controller_test.go, v4.0.6); the
# lastRetry variables are set in workflow/controller/operator.go (exitCode, status, duration, message).
RETRY: Final = {
    "limit": 3,
    "retryPolicy": "Always",
    "expression": (
        'lastRetry.status == "Error" or (lastRetry.status == "Failed" and asInt(lastRetry.exitCode) in [137, 143]'
        ' and !(lastRetry.message contains "OOMKilled"))'
    ),
}
PARAMETERS: Final = (("commit", ""), ("changed-files", "[]"), ("params-diff", "{}"), ("trigger", "manual"))
_DURATION_PART: Final = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_SECONDS: Final[dict[str, Decimal]] = {
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
    "w": Decimal(604800),
    "y": Decimal(31536000),
}


def seconds(duration: str) -> int:
    """``1h30m`` -> 5400 (checked by the project model)."""
    total = sum((Decimal(amount) * _SECONDS[unit] for amount, unit in _DURATION_PART.findall(duration)), Decimal(0))
    return max(1, int(total))


def config_map_name(project: Project) -> str:
    return f"ml-{project.name}"


def template_name(project: Project) -> str:
    return f"ml-{project.name}"


def run_name(project: Project) -> str:
    return f"{project.name}-{project.revision}"


def _metadata(project: Project, name: str, namespace: str, **extra: Any) -> Document:
    labels = {PROJECT_LABEL: project.name, **extra.pop("labels", {})}
    return {"name": name, "namespace": namespace, "labels": labels, **extra}


def _env(platform: Platform, project: Project) -> list[Document]:
    endpoints = platform.ml_endpoints
    fixed = [
        ("KEELSON_PROJECT_DIR", PROJECT_DIR),
        ("KEELSON_TENANT", project.tenant),
        ("KEELSON_PROJECT", project.name),
        ("KEELSON_COMMIT", "{{workflow.parameters.commit}}"),
        ("KEELSON_CHANGED_FILES", "{{workflow.parameters.changed-files}}"),
        ("KEELSON_PARAMS_DIFF", "{{workflow.parameters.params-diff}}"),
        ("KEELSON_TRIGGER", "{{workflow.parameters.trigger}}"),
        ("KEELSON_OUTPUTS", OUTPUTS_DIR),
        # Recorded on the run and its registered version: the image that can load the model (serving.yaml's image).
        ("KEELSON_IMAGE", project.project.image),
        ("MLFLOW_TRACKING_URI", endpoints.tracking_uri),
        # Where the experiment keeps its artifacts when the training step creates it: the tenant's first bucket
        # (the MLflow server serves no artifacts; the steps write them with the tenant's own S3 credentials).
        ("KEELSON_ARTIFACT_ROOT", str(mlflow.artifact_location(platform.tenant(project.tenant), project.name))),
        ("AWS_ENDPOINT_URL", endpoints.s3_endpoint),
        ("MLFLOW_S3_ENDPOINT_URL", endpoints.s3_endpoint),
    ]
    return [{"name": name, "value": value} for name, value in fixed]


def _env_from(platform: Platform) -> list[Document]:
    return [{"secretRef": {"name": secret}} for secret in platform.ml_endpoints.secrets]


_CONTAINER_SECURITY: Final = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
}
_POD_SECURITY: Final = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
_MOUNTS: Final = (
    {"name": "project", "mountPath": PROJECT_DIR, "readOnly": True},
    {"name": "outputs", "mountPath": OUTPUTS_DIR},
    {"name": "tmp", "mountPath": "/tmp"},
)


def _container(platform: Platform, project: Project, command: list[str], resources: dict[str, str], gpu: int = 0) -> Document:
    limits: dict[str, Any] = dict(resources)
    requests: dict[str, Any] = dict(resources)
    if gpu:
        limits[_ml.GPU_RESOURCE] = gpu
        requests[_ml.GPU_RESOURCE] = gpu
    return {
        "image": project.project.image,
        "command": list(command),
        "env": _env(platform, project),
        "envFrom": _env_from(platform),
        "resources": {"requests": requests, "limits": limits},
        "securityContext": dict(_CONTAINER_SECURITY),
        "volumeMounts": [dict(mount) for mount in _MOUNTS],
    }


def _output(name: str) -> Document:
    return {"name": name, "valueFrom": {"path": f"{OUTPUTS_DIR}/{name}"}}


def _pod_defaults(project: Project, account: str) -> Document:
    """What every pod of the project's workflows shares: account, queue label, restricted security, volumes."""
    return {
        "serviceAccountName": account,
        "podMetadata": {"labels": {_ml.QUEUE_LABEL: _ml.LOCAL_QUEUE, PROJECT_LABEL: project.name}},
        "securityContext": dict(_POD_SECURITY),
        "volumes": [
            {"name": "project", "configMap": {"name": config_map_name(project)}},
            {"name": "outputs", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }


def _step(platform: Platform, project: Project, name: str, *, inputs: tuple[str, ...] = (), outputs: tuple[str, ...] = ()) -> Document:
    # Inputs are the step's options (``--run-id``: keelson_ml/__main__.py).
    options = [part for item in inputs for part in (f"--{item}", f"{{{{inputs.parameters.{item}}}}}")]
    container = _container(platform, project, [*STEP_MODULE, name, *options], STEP_RESOURCES)
    template: Document = {"name": name, "container": container, "retryStrategy": dict(RETRY)}
    if inputs:
        template["inputs"] = {"parameters": [{"name": item} for item in inputs]}
    if outputs:
        template["outputs"] = {"parameters": [_output(item) for item in outputs]}
    return template


def _from(step: str, output: str) -> Document:
    return {"name": output, "value": f"{{{{steps.{step}.outputs.parameters.{output}}}}}"}


def workflow_template(platform: Platform, project: Project, namespace: str) -> Document:
    compute = project.project.compute
    train = _container(platform, project, project.project.command, {"cpu": compute.cpu, "memory": compute.memory}, compute.gpu)
    train_template: Document = {
        "name": "train",
        "container": train,
        "outputs": {"parameters": [_output("run-id")]},
        "retryStrategy": dict(RETRY),
    }
    if compute.gpu:
        # The NVIDIA container runtime (k3s registers it on the hosts that have the toolkit); templates take no
        # runtimeClassName field, so it is patched into the pod.
        train_template["podSpecPatch"] = dumps(_ml.runtime_class(compute.gpu))
    pipeline = [
        [{"name": "validate", "template": "validate"}],
        [{"name": "train", "template": "train"}],
        [{"name": "evaluate", "template": "evaluate", "arguments": {"parameters": [_from("train", "run-id")]}}],
        [{"name": "register", "template": "register", "arguments": {"parameters": [_from("train", "run-id")]}}],
    ]
    return {
        "apiVersion": WORKFLOWS_API,
        "kind": "WorkflowTemplate",
        "metadata": _metadata(project, template_name(project), namespace),
        "spec": {
            "entrypoint": "pipeline",
            "activeDeadlineSeconds": seconds(compute.timeout),
            "arguments": {"parameters": [{"name": name, "value": value} for name, value in PARAMETERS]},
            **_pod_defaults(project, _ml.WORKFLOW_ACCOUNT),
            "templates": [
                {"name": "pipeline", "steps": pipeline},
                _step(platform, project, "validate"),
                train_template,
                _step(platform, project, "evaluate", inputs=("run-id",)),
                _step(platform, project, "register", inputs=("run-id",), outputs=("model-version",)),
            ],
        },
    }


def run(project: Project, namespace: str) -> Document:
    """The training run of the project's current revision."""
    values = {
        "commit": project.commit,
        "changed-files": dumps(sorted(project.changed)),
        "params-diff": dumps(project.params_diff),
        "trigger": "commit",
    }
    arguments = {"parameters": [{"name": name, "value": values[name]} for name, _default in PARAMETERS]}
    labels = {RUN_LABEL: "commit", REVISION_LABEL: project.revision}
    metadata = _metadata(project, run_name(project), namespace, labels=labels, annotations={PARAMS_ANNOTATION: dumps(project.params)})
    return {
        "apiVersion": WORKFLOWS_API,
        "kind": "Workflow",
        "metadata": metadata,
        "spec": {"workflowTemplateRef": {"name": template_name(project)}, "arguments": arguments},
    }


def drift_check(platform: Platform, project: Project, namespace: str) -> Optional[Document]:
    drift = project.drift
    if drift is None:
        return None
    retrain = {
        "apiVersion": WORKFLOWS_API,
        "kind": "Workflow",
        "metadata": {"generateName": f"{project.name}-drift-", "labels": {PROJECT_LABEL: project.name, RUN_LABEL: "drift"}},
        "spec": {
            "workflowTemplateRef": {"name": template_name(project)},
            "arguments": {"parameters": [{"name": "trigger", "value": "drift"}]},
        },
    }
    measure = _step(platform, project, "drift", outputs=("drifted", "drift-share"))
    steps = [
        [{"name": "measure", "template": "drift"}],
        [{"name": "retrain", "template": "retrain", "when": "{{steps.measure.outputs.parameters.drifted}} == true"}],
    ]
    spec: Document = {
        "entrypoint": "check",
        "arguments": {
            "parameters": [{"name": name, "value": value} for name, value in PARAMETERS if name != "trigger"]
            + [{"name": "trigger", "value": "drift"}]
        },
        **_pod_defaults(project, _ml.TRIGGER_ACCOUNT),
        "templates": [
            {"name": "check", "steps": steps},
            measure,
            {"name": "retrain", "resource": {"action": "create", "manifest": _yaml_text(retrain)}},
        ],
    }
    return {
        "apiVersion": WORKFLOWS_API,
        "kind": "CronWorkflow",
        "metadata": _metadata(project, f"ml-{project.name}-drift", namespace),
        "spec": {
            "schedules": [drift.schedule],
            "timezone": "UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "workflowSpec": spec,
        },
    }


def _yaml_text(document: Document) -> str:
    from ansible_collections.keelson.platform.plugins.module_utils._yaml import dump_one  # noqa: PLC0415

    return dump_one(document)


def config_map(project: Project, namespace: str) -> Document:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(project, config_map_name(project), namespace),
        "data": {name: project.texts[name] for name in STEP_FILES if name in project.texts},
    }


def serving(platform: Platform, project: Project, namespace: str) -> list[Document]:
    """The served version of serving.yaml (KServe's InferenceService and the TLS Ingress of its host), or nothing."""
    spec = project.serving
    if spec is None or not project.served or spec.storage_uri is None:
        return []
    service = kserve.inference_service(
        project.name,
        namespace,
        spec.storage_uri,
        spec.image or project.project.image,
        replicas=spec.replicas,
        cpu=spec.cpu,
        memory=spec.memory,
        labels={PROJECT_LABEL: project.name},
    )
    service["metadata"]["annotations"][MODEL_ANNOTATION] = f"{project.model}/{spec.model_version}"
    return [service, kserve.serving_ingress(platform, project.name, namespace)]


def project_documents(platform: Platform, project: Project) -> list[Document]:
    """What runs the project, applied as the tenant's own account (its ML folder)."""
    namespace = platform.ml_namespace(project.tenant)
    documents = [config_map(project, namespace), workflow_template(platform, project, namespace), run(project, namespace)]
    drift = drift_check(platform, project, namespace)
    return [*documents, drift] if drift is not None else documents


def trigger_account(tenant: Tenant) -> list[Document]:
    """The account the drift check runs as: it may start the project's training (create Workflows) and, as every
    workflow pod, write its task results; nothing else. In the tenant's first namespace, applied by the platform."""
    namespace = tenant.namespaces[0]
    name = _ml.TRIGGER_ACCOUNT
    rules = [
        {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create", "get"]},
        {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]},
    ]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name, "namespace": namespace}, "rules": rules},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ]


# The components a project needs: (unit name, the spec key, what for); serving needs the last one too.
NEEDED: Final = (("argo-workflows", "argo_workflows", "its pipeline"), ("mlflow", "mlflow", "its experiments and registry"))
SERVING_NEEDS: Final = ("kserve", "kserve", "serving.yaml's model")


def ml_files(platform: Platform) -> tuple[dict[str, list[Document]], dict[str, list[Document]]]:
    """(the tenants' platform folders' files, their ML folders' files): path -> documents. The platform folder
    (``tenants/<tenant>/keelson/ml.yaml``, applied by the platform) gets the drift check's account and the served
    models, which a team may only read (serving changes only through Git); the ML folder each project's pipeline.
    Raises KeelsonError naming the project when a component it needs is off."""
    platform_files: dict[str, list[Document]] = {}
    files: dict[str, list[Document]] = {}
    problems = []
    for tenant in platform.spec.tenants:
        projects = platform.ml_projects.get(tenant.name, ())
        served: list[Document] = []
        for project in projects:
            needed = (*NEEDED, SERVING_NEEDS) if project.served else NEEDED
            for unit, key, why in needed:
                if not platform.enabled(unit):
                    problems.append(f"{project.path}: needs components.{key}.enabled ({why}); turn it on or remove the project")
            if problems:
                continue
            files[platform.layout.tenant_ml_file(tenant.name, project.name)] = project_documents(platform, project)
            served += serving(platform, project, platform.ml_namespace(tenant.name))
        account = trigger_account(tenant) if any(project.drift is not None for project in projects) else []
        if account or served:
            platform_files[f"{platform.layout.tenant_keelson(tenant.name)}/ml.yaml"] = account + served
    if problems:
        raise KeelsonError("the tenants' ML projects cannot run on this platform:\n  - " + "\n  - ".join(problems))
    return platform_files, files
