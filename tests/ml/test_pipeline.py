# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The churn example as keelson renders it, run: the rendered Workflow of a commit and the rendered drift check,
step by step through the Argo executor double (argo_double.py), against the session's real MLflow, PostgreSQL and
S3 servers. What the steps get is only what the tree gives them: the commands, the environment, the Secrets'
keys (with the stand-in values of the tree's double sealing), the ConfigMap's files and the parameters."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import kserve_double
import mlflow
import pytest
import yaml
from argo_double import Cluster, Run, environment, parameters
from conftest import EXAMPLE, ROOT, S3, Tracking, environ, render_example
from mlflow.tracking import MlflowClient

sys.path.insert(0, str(EXAMPLE))
import make_data

STEPS = ["validate", "train", "evaluate", "register"]


def _image_files(workdir: Path) -> Path:
    """The image's working directory: the files the example's Containerfile copies into it."""
    text = (EXAMPLE / "Containerfile").read_text(encoding="utf-8")
    [copied] = re.findall(r"^COPY (ml/examples/churn/\S+(?: ml/examples/churn/\S+)*) \./$", text, re.MULTILINE)
    workdir.mkdir()
    for source in copied.split():
        (workdir / Path(source).name).write_bytes((ROOT / source).read_bytes())
    return workdir


@pytest.fixture(scope="module")
def cluster(rendered: dict[str, Any], tracking: Tracking, s3: S3, tmp_path_factory: pytest.TempPathFactory) -> Cluster:
    objects = rendered["objects"]
    mlflow_secret = rendered["secrets"][rendered["mlflow_secret"]]
    s3_secret = rendered["secrets"][rendered["s3_secret"]]
    # What the platform does for the tenant before its first run: the MLflow user, the bucket with the team's data.
    tracking.create_user(mlflow_secret["MLFLOW_TRACKING_USERNAME"], mlflow_secret["MLFLOW_TRACKING_PASSWORD"])
    client = s3.client(s3_secret["AWS_ACCESS_KEY_ID"], s3_secret["AWS_SECRET_ACCESS_KEY"])
    client.create_bucket(Bucket=rendered["bucket"])
    for key, frame in (("churn/train.csv", make_data.make(2000, 1)), ("churn/latest.csv", make_data.make(1000, 2))):
        client.put_object(Bucket=rendered["bucket"], Key=key, Body=frame.to_csv(index=False).encode())
    scratch = tmp_path_factory.mktemp("pods")
    template = objects["WorkflowTemplate"]
    return Cluster(
        scratch=scratch,
        workdir=_image_files(scratch / "app"),
        secrets=rendered["secrets"],
        config_maps={objects["ConfigMap"]["metadata"]["name"]: objects["ConfigMap"]["data"]},
        templates={template["metadata"]["name"]: template},
        addresses={rendered["addresses"]["mlflow"]: tracking.uri, rendered["addresses"]["s3"]: s3.endpoint},
        base_env=environment(),
    )


def _tenant_settings(rendered: dict[str, Any], tracking: Tracking, s3: S3) -> dict[str, str]:
    """The tenant's MLflow and S3 credentials from its Secrets, with the test servers' addresses."""
    settings = {**rendered["secrets"][rendered["mlflow_secret"]], **rendered["secrets"][rendered["s3_secret"]]}
    settings.update({"MLFLOW_TRACKING_URI": tracking.uri, "MLFLOW_S3_ENDPOINT_URL": s3.endpoint, "AWS_ENDPOINT_URL": s3.endpoint})
    return settings


@contextmanager
def as_tenant(rendered: dict[str, Any], tracking: Tracking, s3: S3) -> Iterator[MlflowClient]:
    """An MLflow client in this process with the tenant's credentials from its Secrets."""
    with environ(_tenant_settings(rendered, tracking, s3)):
        yield MlflowClient()


def _said(run: Run) -> str:
    return "\n".join(f"--- {pod.step} (exit {pod.returncode})\n{pod.stdout[-1500:]}\n{pod.stderr[-3000:]}" for pod in run.pods)


@pytest.fixture(scope="module")
def commit_run(cluster: Cluster, rendered: dict[str, Any]) -> Run:
    """The Workflow keelson rendered for the commit, run."""
    return cluster.run(rendered["objects"]["Workflow"])


def test_the_commit_run_validates_trains_tests_and_registers_in_order(commit_run: Run) -> None:
    assert commit_run.phase == "Succeeded", _said(commit_run)
    assert [pod.step for pod in commit_run.pods] == STEPS
    # Each step is its own pod: the run id reaches evaluate and register as a parameter, not as a file.
    run_id = commit_run.pod("train").outputs["run-id"]
    assert commit_run.pod("evaluate").argv[-2:] == ["--run-id", run_id]
    assert commit_run.pod("register").argv[-2:] == ["--run-id", run_id]
    assert commit_run.pod("register").outputs == {"model-version": "1"}


def test_the_commit_run_is_recorded_in_the_tenants_experiment_with_what_the_commit_changed(
    commit_run: Run, rendered: dict[str, Any], tracking: Tracking, s3: S3
) -> None:
    assert commit_run.phase == "Succeeded", _said(commit_run)
    given = parameters(rendered["objects"]["Workflow"])
    with as_tenant(rendered, tracking, s3) as client:
        run = client.get_run(commit_run.pod("train").outputs["run-id"])
        experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == f"{rendered['tenant']}/churn"
    assert experiment.artifact_location == rendered["artifact_root"]
    tags = run.data.tags
    assert tags["keelson.commit"] == tags["mlflow.source.git.commit"] == rendered["commit"] == given["commit"]
    assert json.loads(tags["keelson.changed_files"]) == json.loads(given["changed-files"])
    assert json.loads(tags["keelson.params_diff"]) == json.loads(given["params-diff"])
    assert tags["keelson.trigger"] == "commit"
    assert tags["keelson.tests"] == "passed"


@pytest.fixture(scope="module")
def challenger_after_commit(commit_run: Run, rendered: dict[str, Any], tracking: Tracking, s3: S3) -> tuple[Any, Any]:
    """(the version the alias challenger names, its model) right after the commit run: the drift test asks for it
    too, so it is read before a retrain moves the alias, whatever order the tests run in."""
    assert commit_run.phase == "Succeeded", _said(commit_run)
    model = f"{rendered['tenant']}-churn"
    with as_tenant(rendered, tracking, s3) as client:
        return client.get_model_version_by_alias(model, "challenger"), mlflow.pyfunc.load_model(f"models:/{model}@challenger")


def test_the_registered_version_is_the_challenger_and_predicts_from_the_tenants_bucket(
    commit_run: Run, challenger_after_commit: tuple[Any, Any]
) -> None:
    version, loaded = challenger_after_commit
    assert (version.version, version.run_id) == ("1", commit_run.pod("train").outputs["run-id"])
    frame = make_data.make(400, 9)
    assert (loaded.predict(frame.drop(columns="churned")) == frame["churned"]).mean() > 0.8


def test_the_drift_check_retrains_only_when_the_current_data_drifted(
    cluster: Cluster, challenger_after_commit: tuple[Any, Any], rendered: dict[str, Any], tracking: Tracking, s3: S3
) -> None:
    assert challenger_after_commit[0].version == "1"
    check = rendered["objects"]["CronWorkflow"]["spec"]["workflowSpec"]
    calm = cluster.run_spec(check)
    assert calm.phase == "Succeeded", _said(calm)
    assert calm.pod("measure").outputs["drifted"] == "false"
    assert (calm.skipped, calm.created) == (["retrain"], [])

    # The data the drift check reads changes under it.
    keys = rendered["secrets"][rendered["s3_secret"]]
    shifted = make_data.make(1000, 3, shift=1.0).to_csv(index=False).encode()
    s3.client(keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"]).put_object(
        Bucket=rendered["bucket"], Key="churn/latest.csv", Body=shifted
    )
    drifted = cluster.run_spec(check)
    assert drifted.phase == "Succeeded", _said(drifted)
    assert drifted.pod("measure").outputs["drifted"] == "true"
    [retrain] = drifted.created
    assert retrain["kind"] == "Workflow"
    assert retrain["spec"]["workflowTemplateRef"]["name"] == rendered["objects"]["WorkflowTemplate"]["metadata"]["name"]

    # The Workflow it created trains, tests and registers a new version, tagged as the drift check's.
    retrained = cluster.run(retrain)
    assert retrained.phase == "Succeeded", _said(retrained)
    assert [pod.step for pod in retrained.pods] == STEPS
    assert retrained.pod("register").outputs == {"model-version": "2"}
    with as_tenant(rendered, tracking, s3) as client:
        run = client.get_run(retrained.pod("train").outputs["run-id"])
    assert run.data.tags["keelson.trigger"] == "drift"


def _image(rendered: dict[str, Any]) -> str:
    """The project's image, as the rendered pipeline runs it (project.yaml's)."""
    [image] = {step["container"]["image"] for step in rendered["objects"]["WorkflowTemplate"]["spec"]["templates"] if "container" in step}
    return str(image)


@pytest.fixture(scope="module")
def promoted(commit_run: Run, rendered: dict[str, Any], tracking: Tracking, s3: S3, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """serving.yaml as the documented promote command writes it for the commit run's version, run as the team with
    its own credentials on a copy of the project's folder."""
    assert commit_run.phase == "Succeeded", _said(commit_run)
    scratch = tmp_path_factory.mktemp("promote")
    project = scratch / "churn"
    shutil.copytree(rendered["project_dir"], project)  # the team's folder, as rendered (its buckets the tenant's)
    settings = _tenant_settings(rendered, tracking, s3)
    settings.update(
        {
            "KEELSON_PROJECT_DIR": str(project),
            "KEELSON_TENANT": rendered["tenant"],
            "KEELSON_PROJECT": "churn",
            "KEELSON_OUTPUTS": str(scratch / "outputs"),
        }
    )
    version = commit_run.pod("register").outputs["model-version"]
    done = subprocess.run(
        [sys.executable, "-m", "keelson_ml", "promote", "--version", version],
        env={**environment(), **settings},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return project / "serving.yaml"


def test_promote_names_the_version_its_files_and_the_image_that_trained_it(
    promoted: Path, commit_run: Run, rendered: dict[str, Any]
) -> None:
    serving = yaml.safe_load(promoted.read_text())
    assert serving["model_version"] == int(commit_run.pod("register").outputs["model-version"])
    assert serving["storage_uri"].startswith(f"s3://{rendered['bucket']}/")
    # The training step was told its image by the rendered workflow; the run and its version recorded it.
    assert serving["image"] == _image(rendered)


def test_the_example_image_holds_mlserver_with_the_versions_these_tests_run() -> None:
    """The premise of the serving test: the example's image installs keelson_ml with its serve extra under the
    constraints .venv-ml is installed with, so .venv-ml's MLServer is the image's."""
    text = (EXAMPLE / "Containerfile").read_text(encoding="utf-8")
    assert "COPY requirements/ml-constraints.txt /tmp/constraints.txt" in text
    assert re.search(r'pip install [^\n]*-c /tmp/constraints\.txt "?/opt/keelson-ml\[serve\]"?', text)
    constraints = (ROOT / "requirements" / "ml-constraints.txt").read_text(encoding="utf-8").splitlines()
    for package in ("mlserver", "mlserver-mlflow", "mlflow", "scikit-learn", "numpy"):
        assert f"{package}=={installed_version(package)}" in constraints, package


def test_the_promoted_version_is_served_by_mlserver_in_the_image_that_trained_it(
    promoted: Path, rendered: dict[str, Any], tracking: Tracking, s3: S3, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The commit that promote prepares, rendered: KServe's predictor (kserve_double.py) built from the
    InferenceService and keelson's ClusterServingRuntime, the model's files pulled from the tenant's bucket, and
    MLServer's MLflow runtime loading them and answering a v2 inference request as MLflow's own loader predicts."""
    served = render_example(tmp_path_factory.mktemp("render-served"), promoted)
    isvc = served["objects"]["InferenceService"]
    serving = yaml.safe_load(promoted.read_text())
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == serving["storage_uri"]
    container = kserve_double.predictor_container(isvc, served["runtimes"])
    keys = rendered["secrets"][rendered["s3_secret"]]
    pod = tmp_path_factory.mktemp("predictor")
    models = pod / "models"
    pulled = kserve_double.pull_model(serving["storage_uri"], models, s3.client(keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"]))
    assert "MLmodel" in pulled
    # The project's image is .venv-ml's environment (the test above): the only image this double can run.
    images = {_image(rendered): Path(sys.executable).parent}
    frame = make_data.make(300, 9).drop(columns=["churned"])
    predictor = kserve_double.start(
        container, isvc["metadata"]["name"], pod_dir=pod / "pod", models=models, images=images, base_env=kserve_double.environment()
    )
    try:
        predictor.wait_ready()
        answered = predictor.infer(frame)
    finally:
        predictor.stop()
    with as_tenant(rendered, tracking, s3):
        expected = mlflow.pyfunc.load_model(f"models:/{rendered['tenant']}-churn/{serving['model_version']}").predict(frame)
    assert [int(value) for value in answered] == [int(value) for value in expected]
    assert 0 < sum(answered) < len(answered)  # it tells customers apart
    # The image's working folder and the pod user's home are not writable in the pod: MLServer wrote to neither.
    assert list(predictor.workdir.iterdir()) == []
    assert not predictor.home.exists()
