# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A tenant's ML projects rendered (docs/ml.md): read from a real Git working copy, every object in the tenant's
first namespace under its accounts, the run named by the training files and stable across re-renders, the
parameters diff against the run before, restricted pods, and every object valid against the pinned CRDs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from render_helpers import ca_of, documents, double_sealed, example_spec, fake_values
from test_gpu_queues import selects
from test_pod_security import violations
from test_render_schemas import _crd_schemas

from ansible_collections.keelson.platform.plugins.module_utils import _ml
from ansible_collections.keelson.platform.plugins.module_utils._components import kserve, minio, mlflow
from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.plugin_utils import _ml_sources, _render, _render_ml, _tree_check
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

PROJECT = Path(__file__).parent / "ml-projects" / "churn"
GIT = ["git", "-c", "user.name=Team", "-c", "user.email=team@example.internal", "-c", "commit.gpgsign=false"]


def _sources() -> str:
    """Where the example platform's tenant vision keeps its ML projects (below the platform's folder)."""
    spec, nodes = example_spec()
    return Platform(spec, nodes).layout.tenant_ml_sources("vision")


SOURCES = _sources()
BASE = SOURCES[: -len("tenants/vision/ml")]


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / SOURCES).mkdir(parents=True)
    shutil.copytree(PROJECT, repo / SOURCES / "churn")
    subprocess.run([*GIT, "init", "-q", "-b", "main", str(repo)], check=True)
    _commit(repo, "churn: first version")
    return repo


def _commit(repo: Path, message: str) -> str:
    subprocess.run([*GIT, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(repo), "commit", "-q", "-m", message], check=True)
    return subprocess.run([*GIT, "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


def _render_repo(repo: Path, engine: str = "argocd", existing: dict[str, str] | None = None) -> dict[str, str]:
    spec, nodes = example_spec(engine)
    platform = Platform(spec, nodes)
    projects = _ml_sources.read_projects(str(repo), platform.layout, list(platform.spec.tenants), existing or {})
    return _render.render(spec, nodes, double_sealed(spec, nodes), ca_of(spec), ml_projects=projects)


def _ml_documents(files: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    return [(path, document) for path, document in documents(files) if "/keelson-ml/" in path or path.endswith("/keelson/ml.yaml")]


def _by_kind(files: dict[str, str], kind: str) -> list[dict[str, Any]]:
    return [document for _path, document in _ml_documents(files) if document["kind"] == kind]


def _parameters(run: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in run["spec"]["arguments"]["parameters"]}


def test_a_commit_that_changes_the_training_files_is_a_new_run_carrying_what_changed(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    first = _render_repo(repo)
    [run] = _by_kind(first, "Workflow")
    first_commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    assert _parameters(run)["commit"] == first_commit
    assert json.loads(_parameters(run)["params-diff"]) == {
        "learning_rate": [None, 0.1],
        "max_depth": [None, 6],
        "n_estimators": [None, 200],
    }

    # A re-render of the same files is the same run, byte for byte.
    assert _render_repo(repo, existing=first) == first

    # serving.yaml only: no new run, the served version moves.
    serving = repo / SOURCES / "churn/serving.yaml"
    serving.write_text(serving.read_text().replace("model_version: 3", "model_version: 4"))
    _commit(repo, "churn: serve version 4")
    second = _render_repo(repo, existing=first)
    assert _by_kind(second, "Workflow") == [run]
    [service] = _by_kind(second, "InferenceService")
    assert service["metadata"]["annotations"][_render_ml.MODEL_ANNOTATION] == "vision-churn/4"

    # params.yaml: a new run, named by the new revision, with the commit, the files and the diff.
    params = repo / SOURCES / "churn/params.yaml"
    params.write_text(params.read_text().replace("max_depth: 6", "max_depth: 8"))
    commit = _commit(repo, "churn: deeper trees")
    third = _render_repo(repo, existing=second)
    [new_run] = _by_kind(third, "Workflow")
    assert new_run["metadata"]["name"] != run["metadata"]["name"]
    assert new_run["metadata"]["name"].startswith("churn-")
    assert _parameters(new_run)["commit"] == commit
    assert json.loads(_parameters(new_run)["changed-files"]) == ["params.yaml"]
    assert json.loads(_parameters(new_run)["params-diff"]) == {"max_depth": [6, 8]}
    assert _render_repo(repo, existing=third) == third


def test_a_served_version_runs_in_the_image_that_trained_it(tmp_path: Path) -> None:
    """Every step is told its image (recorded on the run and its version, which promote writes to serving.yaml);
    the InferenceService runs MLServer in serving.yaml's image, or else project.yaml's, over KServe's runtime."""
    repo = _repo(tmp_path)
    image = yaml.safe_load((PROJECT / "project.yaml").read_text())["image"]
    first = _render_repo(repo)
    [template] = _by_kind(first, "WorkflowTemplate")
    containers = [step["container"] for step in template["spec"]["templates"] if "container" in step]
    assert containers
    for container in containers:
        assert {"name": "KEELSON_IMAGE", "value": image} in container["env"]
        assert container["image"] == image
    [service] = _by_kind(first, "InferenceService")
    model = service["spec"]["predictor"]["model"]
    assert model["image"] == image
    assert model["command"] == ["mlserver", "start", "/mnt/models"]
    assert model["runtime"] == kserve.RUNTIME
    env = {item["name"]: item["value"] for item in model["env"]}
    assert env["MLSERVER_METRICS_DIR"].startswith("/tmp/") and env["MLSERVER_ENVIRONMENTS_DIR"].startswith("/tmp/")

    # serving.yaml names an older image (the one its version was trained with): that one serves, nothing retrains.
    serving = repo / SOURCES / "churn/serving.yaml"
    serving.write_text(serving.read_text() + "image: registry.example.internal/vision/churn:1.3.0\n")
    _commit(repo, "churn: serve version 3 with the image that trained it")
    second = _render_repo(repo, existing=first)
    assert _by_kind(second, "Workflow") == _by_kind(first, "Workflow")
    [service] = _by_kind(second, "InferenceService")
    assert service["spec"]["predictor"]["model"]["image"] == "registry.example.internal/vision/churn:1.3.0"


def test_a_folder_that_is_no_working_copy_renders_runs_without_a_commit(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    shutil.rmtree(repo / ".git")
    [run] = _by_kind(_render_repo(repo), "Workflow")
    assert _parameters(run)["commit"] == ""


def test_a_render_into_a_folder_of_a_working_copy_keeps_the_commit_and_the_files_it_changed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    inner = repo / "platforms" / "ours"
    (inner / SOURCES).mkdir(parents=True)
    shutil.copytree(PROJECT, inner / SOURCES / "churn")
    subprocess.run([*GIT, "init", "-q", "-b", "main", str(repo)], check=True)
    _commit(repo, "churn: first version")
    params = inner / SOURCES / "churn/params.yaml"
    params.write_text(params.read_text().replace("max_depth: 6", "max_depth: 8"))
    commit = _commit(repo, "churn: deeper trees")
    [run] = _by_kind(_render_repo(inner), "Workflow")
    assert _parameters(run)["commit"] == commit
    assert json.loads(_parameters(run)["changed-files"]) == ["params.yaml"]


@pytest.mark.parametrize("engine", ["argocd", "flux"])
def test_every_ml_object_is_in_the_tenants_first_namespace_under_its_own_accounts(tmp_path: Path, engine: str) -> None:
    files = _render_repo(_repo(tmp_path), engine)
    spec, nodes = example_spec(engine)
    vision = next(tenant for tenant in Platform(spec, nodes).spec.tenants if tenant.name == "vision")
    found = _ml_documents(files)
    assert {document["kind"] for _path, document in found} >= {
        "ConfigMap",
        "WorkflowTemplate",
        "Workflow",
        "CronWorkflow",
        "InferenceService",
    }
    for path, document in found:
        assert document["metadata"]["namespace"] == vision.namespaces[0], path
        assert path.startswith(f"{BASE}tenants/vision/"), path
    accounts = {_ml.WORKFLOW_ACCOUNT, _ml.TRIGGER_ACCOUNT, _ml.SERVING_ACCOUNT}
    for document in _by_kind(files, "WorkflowTemplate") + [c["spec"]["workflowSpec"] for c in _by_kind(files, "CronWorkflow")]:
        spec_part = document.get("spec", document)
        assert spec_part["serviceAccountName"] in accounts
        assert spec_part["podMetadata"]["labels"][_ml.QUEUE_LABEL] == _ml.LOCAL_QUEUE
        for template in spec_part["templates"]:
            container = template.get("container")
            if container:
                assert {item["secretRef"]["name"] for item in container["envFrom"]} <= {"s3-credentials", _ml.MLFLOW_SECRET}
    [service] = _by_kind(files, "InferenceService")
    assert service["spec"]["predictor"]["serviceAccountName"] == _ml.SERVING_ACCOUNT
    # Applied as the tenant's own account, never the platform's.
    apps = [document for path, document in documents(files) if document["metadata"]["name"] == "tenant-vision-ml"]
    assert len(apps) == 1
    if engine == "argocd":
        assert apps[0]["spec"]["project"] == "tenant-vision"
    else:
        assert apps[0]["spec"]["serviceAccountName"] == "tenant-vision"
        assert {"name": "tenant-vision"} in apps[0]["spec"]["dependsOn"]


def test_the_pipelines_pods_meet_restricted_and_ask_for_their_gpus(tmp_path: Path) -> None:
    files = _render_repo(_repo(tmp_path))
    [template] = _by_kind(files, "WorkflowTemplate")
    spec = template["spec"]
    for step in spec["templates"]:
        if "container" not in step:
            continue
        pod = {
            "securityContext": spec["securityContext"],
            "volumes": spec["volumes"],
            "containers": [{"name": "main", **step["container"]}],
        }
        assert violations(pod, "restricted") == [], step["name"]
    train = next(step for step in spec["templates"] if step["name"] == "train")
    assert train["container"]["resources"]["limits"][_ml.GPU_RESOURCE] == 1
    assert json.loads(train["podSpecPatch"]) == {"runtimeClassName": _ml.NVIDIA_RUNTIME_CLASS}
    assert train["container"]["command"] == ["python", "train.py"]
    validate = next(step for step in spec["templates"] if step["name"] == "validate")
    assert "podSpecPatch" not in validate and _ml.GPU_RESOURCE not in validate["container"]["resources"]["limits"]
    assert spec["activeDeadlineSeconds"] == 7200


def _retried(strategy: dict[str, Any], status: str, exit_code: str, message: str = "") -> bool:
    """Whether Argo Workflows retries a step under ``strategy`` after it ended so. The expression is evaluated as
    Python: keelson's uses only what expr and Python write alike (==, and, or, in [..], asInt), and expr's ``!`` and
    ``a contains "b"``, written here as Python's ``not`` and ``"b" in a``."""
    if strategy.get("retryPolicy") == "OnError":
        return status == "Error"
    assert strategy["retryPolicy"] == "Always", strategy
    text = re.sub(r'([\w.]+) contains ("[^"]*")', r"(\2 in \1)", strategy["expression"]).replace("!(", "not (")
    last = type("LastRetry", (), {"status": status, "exitCode": exit_code, "message": message})
    return bool(eval(text, {"__builtins__": {}}, {"asInt": int, "lastRetry": last}))


def test_a_step_stopped_from_outside_is_tried_again_and_a_failing_one_is_not(tmp_path: Path) -> None:
    """Kueue reclaiming borrowed quota, or a drain, stops a step's pod: SIGTERM (exit 143), SIGKILL after the grace
    period (137); Argo Workflows marks the step Failed, not Error. A step that fails by itself (exit 1: a model
    below its thresholds) must not run again."""
    files = _render_repo(_repo(tmp_path))
    [template] = _by_kind(files, "WorkflowTemplate")
    [cron] = _by_kind(files, "CronWorkflow")
    steps = [step for step in template["spec"]["templates"] + cron["spec"]["workflowSpec"]["templates"] if "container" in step]
    assert {step["name"] for step in steps} >= {"validate", "train", "evaluate", "register", "drift"}
    for step in steps:
        strategy = step["retryStrategy"]
        assert strategy["limit"] == 3, step["name"]
        assert _retried(strategy, "Failed", "143") and _retried(strategy, "Failed", "137"), step["name"]
        assert _retried(strategy, "Error", "0"), step["name"]
        assert not _retried(strategy, "Failed", "1") and not _retried(strategy, "Failed", "2"), step["name"]
        # Killed for memory: it would be again.
        assert not _retried(strategy, "Failed", "137", "OOMKilled (exit code 137)"), step["name"]


def test_the_drift_check_starts_the_training_template_past_its_threshold(tmp_path: Path) -> None:
    files = _render_repo(_repo(tmp_path))
    [cron] = _by_kind(files, "CronWorkflow")
    assert cron["spec"]["schedules"] == ["0 6 * * *"] and cron["spec"]["timezone"] == "UTC"
    workflow = cron["spec"]["workflowSpec"]
    retrain = next(step for step in workflow["templates"] if step["name"] == "retrain")
    created = yaml.safe_load(retrain["resource"]["manifest"])
    assert retrain["resource"]["action"] == "create"
    assert created["spec"]["workflowTemplateRef"]["name"] == "ml-churn"
    assert created["metadata"]["labels"][_ml.RUN_LABEL] == "drift"
    steps = next(step for step in workflow["templates"] if step["name"] == "check")["steps"]
    assert steps[1][0]["when"] == "{{steps.measure.outputs.parameters.drifted}} == true"
    # Its account may create Workflows there, nothing more.
    [role] = [document for _path, document in _ml_documents(files) if document["kind"] == "Role"]
    assert role["metadata"]["name"] == _ml.TRIGGER_ACCOUNT
    assert {verb for rule in role["rules"] for verb in rule["verbs"]} <= {"create", "get", "patch"}


@pytest.mark.parametrize("engine", ["argocd", "flux"])
def test_every_ml_object_is_valid_against_the_pinned_crds(tmp_path: Path, shared_data: Path, engine: str) -> None:
    files = _render_repo(_repo(tmp_path), engine)
    config = yaml.safe_load(files[".keelson/validate.yaml"])
    ml_files = {path: text for path, text in files.items() if "/keelson-ml/" in path or path.endswith("/keelson/ml.yaml")}
    assert len(ml_files) == 2
    schemas = _crd_schemas(shared_data)
    assert _tree_check.validate_tree(ml_files, config["kubernetes_version"], schemas, config["skip"]) == []
    # The Workflow the drift check creates is YAML inside the CronWorkflow: valid too, in the CronWorkflow's
    # namespace (it names none) and of its project's template.
    [cron] = _by_kind(files, "CronWorkflow")
    [retrain] = [step for step in cron["spec"]["workflowSpec"]["templates"] if "resource" in step]
    created = yaml.safe_load(retrain["resource"]["manifest"])
    assert "namespace" not in created["metadata"]
    assert created["spec"]["workflowTemplateRef"] == {"name": _by_kind(files, "WorkflowTemplate")[0]["metadata"]["name"]}
    validators = _tree_check.Validators(config["kubernetes_version"], schemas)
    namespace = cron["metadata"]["namespace"]
    assert _tree_check.validate_document({**created, "metadata": {**created["metadata"], "namespace": namespace}}, validators) == []


def _tenant_documents(files: dict[str, str], tenant: str) -> list[dict[str, Any]]:
    return [document for path, document in _ml_documents(files) if path.startswith(f"{BASE}tenants/{tenant}/")]


def _s3_paths(text: str) -> set[str]:
    return set(re.findall(r"s3://([a-z0-9.-]+)/", text))


def test_two_tenants_projects_stay_in_their_own_namespaces_buckets_queues_and_identities(tmp_path: Path) -> None:
    """The churn project in two tenants (vision, and nlp with two namespaces): nothing of one reaches the other."""
    spec, nodes = example_spec()
    platform = Platform(spec, nodes)
    repo = _repo(tmp_path)
    nlp = repo / platform.layout.tenant_ml_sources("nlp") / "churn"
    shutil.copytree(PROJECT, nlp)
    for path in nlp.glob("*.yaml"):
        path.write_text(path.read_text().replace("vision-datasets", "nlp-corpora").replace("vision-models", "nlp-corpora"))
    _commit(repo, "nlp: churn too")
    files = _render_repo(repo)
    unsealed = _render.secrets_to_seal(spec, nodes, fake_values(spec))
    objects = [document for _path, document in documents(files)]
    for name in ("vision", "nlp"):
        tenant = platform.tenant(name)
        namespace = platform.ml_namespace(name)
        found = _tenant_documents(files, name)
        assert {document["kind"] for document in found} >= {"ConfigMap", "WorkflowTemplate", "Workflow", "CronWorkflow"}
        for document in found:
            assert document["metadata"]["namespace"] == namespace == tenant.namespaces[0]
        # Every bucket a project's files or its steps' environment name is the tenant's own.
        [config_map] = [document for document in found if document["kind"] == "ConfigMap"]
        named = set().union(*(_s3_paths(text) for text in config_map["data"].values()))
        assert named and named <= set(tenant.buckets), named
        [template] = [document for document in found if document["kind"] == "WorkflowTemplate"]
        [cron] = [document for document in found if document["kind"] == "CronWorkflow"]
        for pod_spec in (template["spec"], cron["spec"]["workflowSpec"]):
            assert pod_spec["volumes"][0]["configMap"]["name"] == config_map["metadata"]["name"]
            queue = pod_spec["podMetadata"]["labels"][_ml.QUEUE_LABEL]
            # The queue label names a LocalQueue of this namespace, which feeds this tenant's ClusterQueue only.
            [local] = [
                o
                for o in objects
                if o["kind"] == "LocalQueue" and o["metadata"] == {**o["metadata"], "name": queue, "namespace": namespace}
            ]
            assert local["spec"]["clusterQueue"] == _ml.cluster_queue(name)
            for step in pod_spec["templates"]:
                if "container" not in step:
                    continue
                env = {item["name"]: item["value"] for item in step["container"]["env"]}
                assert env["KEELSON_TENANT"] == name
                assert _s3_paths(env["KEELSON_ARTIFACT_ROOT"]) == {tenant.buckets[0]}
                # The Secrets it reads are this namespace's, holding this tenant's identities.
                for source in step["container"]["envFrom"]:
                    data = unsealed[(namespace, source["secretRef"]["name"])].data
                    assert data.get(_ml.MLFLOW_USERNAME_KEY, data.get("AWS_ACCESS_KEY_ID")) in {
                        mlflow.mlflow_user(name),
                        minio.s3_user(name),
                    }
        [run] = [document for document in found if document["kind"] == "Workflow"]
        assert run["spec"]["workflowTemplateRef"]["name"] == template["metadata"]["name"]
    # Each ClusterQueue admits exactly its own tenant's namespaces, as the tree labels them.
    queues = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ClusterQueue"}
    namespaces = {o["metadata"]["name"]: o["metadata"].get("labels", {}) for o in objects if o["kind"] == "Namespace"}
    for name in ("vision", "nlp"):
        selector = queues[_ml.cluster_queue(name)]["spec"]["namespaceSelector"]
        admitted = {namespace for namespace, labels in namespaces.items() if selects(selector, labels)}
        assert admitted == set(platform.tenant(name).namespaces)


def test_every_problem_of_every_project_is_reported_before_anything_is_rendered(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo / SOURCES / "churn/project.yaml").write_text("image: reg/churn:latest\ncommand: [python]\n")
    shutil.copytree(PROJECT, repo / SOURCES / "Bad")
    (repo / SOURCES / "Bad/tests.yaml").unlink()
    with pytest.raises(_ml_sources.ProjectError) as raised:
        _render_repo(repo)
    message = str(raised.value)
    assert f"{SOURCES}/churn/project.yaml: image: must be pinned" in message
    assert f"{SOURCES}/Bad/tests.yaml: missing" in message
    assert f"{SOURCES}/Bad: project name:" in message


def test_a_project_needs_its_components(tmp_path: Path) -> None:
    def no_workflows(raw: dict[str, Any]) -> None:
        raw["components"]["argo_workflows"] = {"enabled": False}

    spec, nodes = example_spec("argocd", no_workflows)
    platform = Platform(spec, nodes)
    projects = _ml_sources.read_projects(str(_repo(tmp_path)), platform.layout, list(platform.spec.tenants), {})
    with pytest.raises(KeelsonError, match=r"tenants/vision/ml/churn: needs components\.argo_workflows\.enabled"):
        _render.render(spec, nodes, double_sealed(spec, nodes), ca_of(spec), ml_projects=projects)


def test_under_flux_a_tenant_folder_with_a_served_model_waits_for_kserves_webhooks(tmp_path: Path) -> None:
    """The InferenceService in the tenant's platform folder is admitted by KServe's webhooks (failing closed), whose
    controller is the kserve unit, not kserve-crd (its CRDs): the folder waits for both."""
    files = _render_repo(_repo(tmp_path), "flux")
    assert _by_kind(files, "InferenceService")
    kustomizations = {document["metadata"]["name"]: document for _path, document in documents(files) if document["kind"] == "Kustomization"}
    waits = {entry["name"] for entry in kustomizations["tenant-vision"]["spec"]["dependsOn"]}
    assert {"kserve", "kserve-crd"} <= waits, waits
    # A tenant that serves nothing does not wait for KServe's controller.
    others = [name for name in kustomizations if name.startswith("tenant-") and name not in ("tenant-vision", "tenant-vision-ml")]
    assert others and all("kserve" not in {entry["name"] for entry in kustomizations[name]["spec"].get("dependsOn", [])} for name in others)


def test_a_served_project_whose_model_host_label_is_too_long_is_refused(tmp_path: Path) -> None:
    """KServe names the model's host <project>-<namespace>.<domain> and refuses one whose first label is no DNS
    label (over 63 characters): the project is refused, naming serving.yaml, before anything is rendered."""
    namespace = "vision-" + "n" * 30

    def long_namespace(raw: dict[str, Any]) -> None:
        tenant = next(tenant for tenant in raw["tenants"] if tenant["name"] == "vision")
        tenant["namespaces"] = [namespace]

    repo = _repo(tmp_path)
    shutil.copytree(PROJECT, repo / SOURCES / ("c" * 30))  # 30 + 1 + 37 = 68
    spec, nodes = example_spec("argocd", long_namespace)
    platform = Platform(spec, nodes)
    with pytest.raises(_ml_sources.ProjectError) as raised:
        _ml_sources.read_projects(str(repo), platform.layout, list(platform.spec.tenants), {})
    message = str(raised.value)
    assert f"{SOURCES}/{'c' * 30}/serving.yaml: the model's host {'c' * 30}-{namespace}.<domain> starts with a label of 68" in message
    assert "churn" not in message  # churn-<namespace> is 43 characters: served as before
