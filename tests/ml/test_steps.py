# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The churn example's steps for real: python -m keelson_ml and the example's train.py as the workflow runs them
(subprocesses with the steps' environment), against the session's MLflow, PostgreSQL and S3 servers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
import yaml
from conftest import EXAMPLE, S3, Tracking, environ
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

sys.path.insert(0, str(EXAMPLE))
import make_data

TRAIN = "churn/train.csv"
DUMMY_TRAINING = """
import keelson_ml
from sklearn.dummy import DummyClassifier

def train():
    features, target = keelson_ml.training_data()
    with keelson_ml.start_run():
        keelson_ml.log_model(DummyClassifier(strategy="most_frequent").fit(features, target), features)

keelson_ml.run(train)
"""


@dataclass
class Tenant:
    name: str
    bucket: str
    folder: Path
    env: dict[str, str]

    def project(self, name: str, **files: str) -> Path:
        """A copy of the churn example as this tenant's project, its bucket in the URLs, files replaced."""
        target = self.folder / name
        shutil.copytree(EXAMPLE, target)
        for file in ("data.yaml", "drift.yaml"):
            path = target / file
            path.write_text(path.read_text().replace("demo-datasets", self.bucket))
        for file, text in files.items():
            (target / file.replace("_", ".")).write_text(text)
        return target

    def run(self, project: Path, *command: str, outputs: str = "out", **extra: str) -> subprocess.CompletedProcess[str]:
        env = {
            **self.env,
            "KEELSON_PROJECT_DIR": str(project),
            "KEELSON_PROJECT": project.name,
            "KEELSON_OUTPUTS": str(project / outputs),
            **extra,
        }
        return subprocess.run([sys.executable, *command], env=env, cwd=project, capture_output=True, text=True, timeout=600, check=False)

    def step(self, project: Path, step: str, *arguments: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return self.run(project, "-m", "keelson_ml", step, *arguments, **extra)

    def output(self, project: Path, name: str) -> str:
        return (project / "out" / name).read_text().strip()


def _upload(s3: S3, tenant: Tenant, key: str, frame: pd.DataFrame) -> None:
    client = s3.client(tenant.env["AWS_ACCESS_KEY_ID"], tenant.env["AWS_SECRET_ACCESS_KEY"])
    client.put_object(Bucket=tenant.bucket, Key=key, Body=frame.to_csv(index=False).encode())


def _tenant(name: str, tracking: Tracking, s3: S3, folder: Path) -> Tenant:
    password = f"{name}-password-for-tests"
    tracking.create_user(f"tenant-{name}", password)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "AWS_", "KEELSON_"))}
    env.update(
        {
            "KEELSON_TENANT": name,
            "KEELSON_COMMIT": f"{name}0000000000000000000000000000000000000",
            "KEELSON_CHANGED_FILES": '["params.yaml", "train.py"]',
            "KEELSON_PARAMS_DIFF": '{"max_iter": [100, 200]}',
            "MLFLOW_TRACKING_URI": tracking.uri,
            "MLFLOW_TRACKING_USERNAME": f"tenant-{name}",
            "MLFLOW_TRACKING_PASSWORD": password,
            "AWS_ACCESS_KEY_ID": f"{name}-key",
            "AWS_SECRET_ACCESS_KEY": f"{name}-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": s3.endpoint,
            "MLFLOW_S3_ENDPOINT_URL": s3.endpoint,
        }
    )
    tenant = Tenant(name, f"{name}-datasets", folder / name, env)
    tenant.folder.mkdir()
    env["KEELSON_ARTIFACT_ROOT"] = f"s3://{tenant.bucket}/mlflow"
    s3.client(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]).create_bucket(Bucket=tenant.bucket)
    _upload(s3, tenant, TRAIN, make_data.make(2000, 1))
    _upload(s3, tenant, "churn/latest.csv", make_data.make(1000, 2))
    _upload(s3, tenant, "churn/shifted.csv", make_data.make(1000, 3, shift=1.0))
    return tenant


@contextmanager
def as_user(tenant: Tenant) -> Iterator[MlflowClient]:
    """An MLflow client in this process with the tenant's user and S3 credentials."""
    with environ({key: value for key, value in tenant.env.items() if key.startswith(("MLFLOW_", "AWS_"))}):
        yield MlflowClient()


@dataclass
class Trained:
    tenant: Tenant
    project: Path
    run_id: str
    version: str
    steps: dict[str, subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def tenants(tracking: Tracking, s3: S3, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Tenant]:
    folder = tmp_path_factory.mktemp("tenants")
    return {name: _tenant(name, tracking, s3, folder) for name in ("a", "b")}


@pytest.fixture(scope="module")
def trained(tenants: dict[str, Tenant]) -> Trained:
    """Tenant b's churn project through the pipeline: validate, train, evaluate, register."""
    tenant = tenants["b"]
    project = tenant.project("churn")
    steps = {"validate": tenant.step(project, "validate"), "train": tenant.run(project, "train.py")}
    assert steps["train"].returncode == 0, steps["train"].stderr
    run_id = tenant.output(project, "run-id")
    steps["evaluate"] = tenant.step(project, "evaluate", "--run-id", run_id)
    assert steps["evaluate"].returncode == 0, steps["evaluate"].stderr
    steps["register"] = tenant.step(project, "register")  # the run id from the outputs folder
    assert steps["register"].returncode == 0, steps["register"].stderr
    return Trained(tenant, project, run_id, tenant.output(project, "model-version"), steps)


def test_validate_passes_good_data(trained: Trained) -> None:
    result = trained.steps["validate"]
    assert result.returncode == 0, result.stderr
    assert "2000 rows, 6 columns, every rule of data.yaml holds" in result.stdout


def test_training_run_records_commit_params_and_model(trained: Trained) -> None:
    with as_user(trained.tenant) as client:
        run = client.get_run(trained.run_id)
        experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "b/churn"
    assert experiment.artifact_location == "s3://b-datasets/mlflow"
    tags = run.data.tags
    assert tags["keelson.commit"] == tags["mlflow.source.git.commit"] == "b0000000000000000000000000000000000000"
    assert tags["keelson.changed_files"] == '["params.yaml", "train.py"]'
    assert tags["keelson.params_diff"] == '{"max_iter": [100, 200]}'
    assert tags["keelson.trigger"] == "manual"  # KEELSON_TRIGGER unset: a run by hand
    assert run.data.params == {"max_iter": "200", "max_depth": "4", "learning_rate": "0.05", "random_state": "0"}


def test_evaluate_passes_and_logs_holdout_metrics(trained: Trained) -> None:
    result = trained.steps["evaluate"]
    assert result.returncode == 0, result.stderr
    assert "no model under the alias 'champion' and none served yet" in result.stdout
    with as_user(trained.tenant) as client:
        run = client.get_run(trained.run_id)
    assert run.data.tags["keelson.tests"] == "passed"
    assert set(run.data.metrics) == {"holdout_accuracy", "holdout_f1", "holdout_roc_auc"}
    assert run.data.metrics["holdout_accuracy"] >= 0.86


def test_register_aliases_challenger_and_reloads_by_alias(trained: Trained) -> None:
    assert trained.version == "1"
    assert "registered b-churn version 1" in trained.steps["register"].stdout
    with as_user(trained.tenant) as client:
        assert client.get_model_version_by_alias("b-churn", "challenger").version == "1"
        model = mlflow.pyfunc.load_model("models:/b-churn@challenger")
        frame = make_data.make(400, 9)
        predicted = model.predict(frame.drop(columns="churned"))
    assert set(predicted) <= {0, 1}
    assert (predicted == frame["churned"]).mean() > 0.8


def test_evaluate_fails_a_dummy_model_and_register_refuses_it(trained: Trained) -> None:
    tenant = trained.tenant
    project = tenant.project("dummy")
    (project / "train.py").write_text(DUMMY_TRAINING)
    assert tenant.run(project, "train.py").returncode == 0
    run_id = tenant.output(project, "run-id")
    result = tenant.step(project, "evaluate")
    assert result.returncode == 1, result.stdout
    assert f"keelson_ml evaluate: FAILED: run {run_id} fails its model tests (tests.yaml):" in result.stderr
    assert "f1 0.0000 is below its threshold 0.65" in result.stderr
    assert "roc_auc 0.5000 is below its threshold 0.9" in result.stderr
    refused = tenant.step(project, "register")
    assert refused.returncode == 2
    assert "has not passed its model tests (tag keelson.tests='failed')" in refused.stderr
    assert "Traceback" not in result.stderr + refused.stderr


def test_evaluate_fails_a_model_that_does_not_beat_the_champion(trained: Trained) -> None:
    tenant = trained.tenant
    with as_user(tenant) as client:
        client.set_registered_model_alias("b-churn", "champion", trained.version)
    tests = (trained.project / "tests.yaml").read_text().replace("margin: 0.0", "margin: 0.01")
    project = tenant.project("churn-margin", tests_yaml=tests)
    try:
        # The same model again, with KEELSON_PROJECT=churn-margin's folder but b-churn's registry: the project
        # name is the folder's, so point it back at churn.
        result = tenant.step(project, "evaluate", "--run-id", trained.run_id, KEELSON_PROJECT="churn")
    finally:
        with as_user(tenant) as client:
            client.delete_registered_model_alias("b-churn", "champion")
    assert result.returncode == 1, result.stdout
    assert "does not beat the champion: roc_auc" in result.stderr
    assert "(version 1, margin 0.01)" in result.stderr


def test_validate_names_every_broken_rule(trained: Trained, s3: S3) -> None:
    tenant = trained.tenant
    frame = make_data.make(200, 5)
    frame.loc[0, "age"] = -5
    frame.loc[1, "plan"] = "gold"
    frame.loc[2:40, "monthly_spend"] = None
    frame["coupon"] = 1
    _upload(s3, tenant, "churn/broken.csv", frame)
    data = (trained.project / "data.yaml").read_text().replace(TRAIN, "churn/broken.csv")
    project = tenant.project("broken", data_yaml=data)
    result = tenant.step(project, "validate")
    assert result.returncode == 1
    assert "s3://b-datasets/churn/broken.csv breaks 4 rule(s) of data.yaml:" in result.stderr
    assert "coupon: listed in data.yaml's columns: the data has this column and data.yaml does not list it" in result.stderr
    assert "age: min 18: 1 values are below it (smallest -5)" in result.stderr
    assert "plan: values ['basic', 'pro', 'team']: 1 values are not allowed: 'gold'" in result.stderr
    assert "monthly_spend: max_null_share 0.05: " in result.stderr


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (
            "data.yaml",
            "type: integer, min: 18",
            "type: int, min: 18",
            "data.yaml: columns.age.type: must be one of integer, number, string, boolean, found 'int'",
        ),
        ("data.yaml", "target: churned", "target: left", "data.yaml: target: 'left' is not one of the columns"),
        ("tests.yaml", "f1: 0.65", "f2: 0.65", "tests.yaml: metrics.f2: unknown metric"),
        (
            "data.yaml",
            "source: s3://b-datasets/churn/train.csv",
            "source: s3://b-datasets/churn/none.csv",
            "cannot read s3://b-datasets/churn/none.csv: NoSuchKey",
        ),
    ],
)
def test_a_project_mistake_is_a_message_not_a_traceback(trained: Trained, file: str, old: str, new: str, message: str) -> None:
    text = (trained.project / file).read_text()
    assert old in text
    project = trained.tenant.project(f"mistake-{abs(hash(new))}", **{file.replace(".", "_"): text.replace(old, new)})
    result = trained.tenant.step(project, "validate" if file == "data.yaml" else "evaluate", "--run-id", trained.run_id)
    if file == "data.yaml":
        result = trained.tenant.step(project, "validate")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("current", "drifted"), [("churn/latest.csv", "false"), ("churn/shifted.csv", "true")])
def test_drift_on_unshifted_and_shifted_data(trained: Trained, current: str, drifted: str) -> None:
    drift = (trained.project / "drift.yaml").read_text().replace("churn/latest.csv", current)
    project = trained.tenant.project(f"drift-{drifted}", drift_yaml=drift)
    result = trained.tenant.step(project, "drift")
    assert result.returncode == 0, result.stderr
    assert trained.tenant.output(project, "drifted") == drifted
    share = float(trained.tenant.output(project, "drift-share"))
    assert (share >= 0.5) is (drifted == "true")


def _denied(action: Any) -> None:
    with pytest.raises(MlflowException) as raised:
        action()
    assert raised.value.error_code == "PERMISSION_DENIED", raised.value.message


def test_tenant_a_cannot_write_tenant_b(trained: Trained, tenants: dict[str, Tenant]) -> None:
    with as_user(trained.tenant) as client:
        experiment_id = client.get_run(trained.run_id).info.experiment_id
    with as_user(tenants["a"]) as client:
        # Its own experiment works (the control) ...
        own = client.create_experiment("a/churn", artifact_location="s3://a-datasets/mlflow")
        client.set_tag(client.create_run(own).info.run_id, "ok", "yes")
        # ... tenant b's experiment, run and registered model neither read nor write.
        _denied(lambda: client.get_experiment(experiment_id))
        _denied(lambda: client.create_run(experiment_id))
        _denied(lambda: client.log_metric(trained.run_id, "holdout_accuracy", 1.0))
        _denied(lambda: client.set_tag(trained.run_id, "keelson.tests", "passed"))
        _denied(lambda: client.delete_run(trained.run_id))
        _denied(lambda: client.create_model_version("b-churn", f"runs:/{trained.run_id}/model", trained.run_id))
        _denied(lambda: client.set_registered_model_alias("b-churn", "champion", trained.version))
        _denied(lambda: client.delete_registered_model_alias("b-churn", "challenger"))
        _denied(lambda: client.update_registered_model("b-churn", description="mine"))
        _denied(lambda: client.delete_registered_model("b-churn"))
    # The steps as tenant a on tenant b's run: MLflow refuses, said without a traceback.
    project = tenants["a"].project("churn")
    result = tenants["a"].step(project, "register", "--run-id", trained.run_id)
    assert result.returncode == 3
    assert "MLflow said PERMISSION_DENIED" in result.stderr
    assert "Traceback" not in result.stderr
    with as_user(trained.tenant) as client:
        assert client.get_model_version_by_alias("b-churn", "challenger").version == trained.version


def test_s3_reads_go_to_the_tenants_bucket(trained: Trained, s3: S3) -> None:
    # The registered model's files are in tenant b's bucket, under the experiment's artifact root.
    objects = s3.client("b-key", "b-secret").list_objects_v2(Bucket="b-datasets", Prefix="mlflow/")
    assert any(item["Key"].endswith("MLmodel") for item in objects.get("Contents", []))


def test_promote_points_serving_yaml_at_a_version_and_its_files_in_the_tenants_bucket(trained: Trained) -> None:
    tenant = trained.tenant
    project = tenant.project("churn-promote")
    result = tenant.step(project, "promote", "--version", trained.version, KEELSON_PROJECT="churn")
    assert result.returncode == 0, result.stderr
    serving = yaml.safe_load((project / "serving.yaml").read_text())
    assert serving["model_version"] == int(trained.version)
    assert serving["storage_uri"].startswith(f"s3://{tenant.bucket}/mlflow/")
    assert serving["replicas"] == 1  # the other keys kept
    # Trained without KEELSON_IMAGE (not by the rendered pipeline): no image is recorded, project.yaml's serves it.
    assert "image" not in serving
    assert "no keelson.image tag" in result.stdout
    # The files it names are the registered model's: MLflow loads the model from them and it predicts.
    with as_user(tenant):
        model = mlflow.pyfunc.load_model(serving["storage_uri"])
        frame = make_data.make(20, 9).drop(columns=["churned"])
        assert len(model.predict(frame)) == 20
    # A version that does not exist is refused by MLflow, and serving.yaml is left as it was.
    before = (project / "serving.yaml").read_text()
    missing = tenant.step(project, "promote", "--version", "999", KEELSON_PROJECT="churn")
    assert missing.returncode == 3, missing.stderr
    assert "MLflow said" in missing.stderr and "Traceback" not in missing.stderr
    assert (project / "serving.yaml").read_text() == before


def test_the_version_serving_yaml_serves_is_the_champion_to_beat(trained: Trained) -> None:
    tenant = trained.tenant
    tests = (trained.project / "tests.yaml").read_text().replace("margin: 0.0", "margin: 0.01")
    serving = f"---\nmodel_version: {trained.version}\nstorage_uri: s3://{tenant.bucket}/mlflow/x\n"
    project = tenant.project("churn-served", tests_yaml=tests, serving_yaml=serving)
    # No champion alias is set: the champion is what Git serves.
    result = tenant.step(project, "evaluate", "--run-id", trained.run_id, KEELSON_PROJECT="churn")
    assert result.returncode == 1, result.stdout
    assert f"(version {trained.version}, served by serving.yaml, margin 0.01)" in result.stderr
