# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""MLflow: the project's experiment and runs, its model, its registered versions. The tracking server and the
tenant's user come from the environment (MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME/PASSWORD)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import mlflow
import mlflow.sklearn
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from keelson_ml._env import OUTPUT_RUN_ID, Env
from keelson_ml._errors import KeelsonError
from keelson_ml._project import Param

# The artifact path of the model under a run, and the alias a model that passed its tests gets.
MODEL_PATH: Final = "model"
CHALLENGER: Final = "challenger"
# The run's tag that records the model tests' verdict (set by evaluate, read by register).
TESTS_TAG: Final = "keelson.tests"
# The run's (and its registered version's) tag naming the image that trained it: the image that can load it.
IMAGE_TAG: Final = "keelson.image"
PASSED: Final = "passed"
FAILED: Final = "failed"
# MLflow keeps tag values up to 8000 characters (mlflow/utils/validation.py, MAX_TAG_VAL_LENGTH).
_TAG_LIMIT: Final = 8000


def _tag(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= _TAG_LIMIT else text[: _TAG_LIMIT - 3] + "..."


def run_tags(env: Env) -> dict[str, str]:
    """What started the run (a commit, the drift check) and what the commit changed, recorded on the run."""
    tags = {
        "keelson.tenant": env.tenant,
        "keelson.project": env.project,
        "keelson.trigger": env.trigger,
        "keelson.commit": env.commit,
        "keelson.changed_files": _tag(env.changed_files),
        "keelson.params_diff": _tag(env.params_diff),
    }
    if env.commit:
        tags["mlflow.source.git.commit"] = env.commit
    if env.image:
        tags[IMAGE_TAG] = env.image
    return tags


def experiment_id(env: Env) -> str:
    """The project's experiment, made (in KEELSON_ARTIFACT_ROOT when set) if it does not exist yet."""
    client = MlflowClient()
    experiment = client.get_experiment_by_name(env.experiment)
    if experiment is not None:
        return str(experiment.experiment_id)
    return str(client.create_experiment(env.experiment, artifact_location=env.artifact_root))


@contextmanager
def start_run(env: Env, params: dict[str, Param]) -> Iterator[mlflow.ActiveRun]:
    """A run in the project's experiment, tagged with the commit, its changed files and parameter diff, with the
    parameters logged; its id goes to KEELSON_OUTPUTS/run-id when the block ends without an error."""
    with mlflow.start_run(experiment_id=experiment_id(env), tags=run_tags(env)) as run:
        if params:
            mlflow.log_params(params)
        yield run
    env.write_output(OUTPUT_RUN_ID, run.info.run_id)


def log_model(model: Any, features: Any) -> Any:
    """Log a fitted scikit-learn model under the active run, with the signature of its input and output."""
    signature = infer_signature(features, model.predict(features))
    # cloudpickle, not MLflow 3's default skops: skops refuses to save (and load) common estimators such as
    # HistGradientBoosting* without a per-type trust list that every loader (evaluate, KServe's MLflow runtime)
    # would need too. The models are the tenant's own, read from its own bucket with its own credentials.
    return mlflow.sklearn.log_model(
        model, name=MODEL_PATH, signature=signature, serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE
    )


def run_model_uri(run_id: str) -> str:
    return f"runs:/{run_id}/{MODEL_PATH}"


def load_run_model(run_id: str) -> Any:
    try:
        return mlflow.sklearn.load_model(run_model_uri(run_id))
    except MlflowException as error:
        raise KeelsonError(
            f"run {run_id} has no scikit-learn model under {MODEL_PATH!r} (keelson_ml.log_model logs it): {error.message}"
        ) from None


def champion_version(env: Env, alias: str) -> str | None:
    """The version under an alias of the project's registered model, or None when there is none."""
    client = MlflowClient()
    # Searching first: with default_permission NO_PERMISSIONS, asking for the alias of a model that does not
    # exist yet is PERMISSION_DENIED, not RESOURCE_DOES_NOT_EXIST; a search lists only what the user may read.
    name = env.registered_model.replace("'", "")
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        return None
    try:
        return str(client.get_model_version_by_alias(env.registered_model, alias).version)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def load_version(env: Env, version: str) -> Any:
    return mlflow.sklearn.load_model(f"models:/{env.registered_model}/{version}")


def register(env: Env, run_id: str) -> str:
    """A new version of <tenant>-<project> from the run's model, with the alias challenger; refused unless the
    run's model tests passed."""
    client = MlflowClient()
    run_tags_found = client.get_run(run_id).data.tags
    verdict = run_tags_found.get(TESTS_TAG)
    if verdict != PASSED:
        raise KeelsonError(f"run {run_id} has not passed its model tests (tag {TESTS_TAG}={verdict!r}): run evaluate first")
    tags = {"keelson.commit": env.commit, "keelson.run": run_id}
    if run_tags_found.get(IMAGE_TAG):
        tags[IMAGE_TAG] = run_tags_found[IMAGE_TAG]
    version = mlflow.register_model(run_model_uri(run_id), env.registered_model, tags=tags)
    client.set_registered_model_alias(env.registered_model, CHALLENGER, version.version)
    return str(version.version)


def version_files(env: Env, version: str) -> tuple[str, str, str | None]:
    """(model name, where the version's files are: an s3:// URI, the image that trained it when recorded) of a
    version of the project's registered model; KeelsonError when it is not the project's or its files are not in
    S3."""
    client = MlflowClient()
    found = client.get_model_version(env.registered_model, version)  # refused when the user may not read it
    uri = client.get_model_version_download_uri(env.registered_model, found.version)
    if not uri.startswith("s3://"):
        raise KeelsonError(f"{env.registered_model} version {version} keeps its files at {uri}, not in S3: KServe cannot load it")
    return env.registered_model, uri, (found.tags or {}).get(IMAGE_TAG) or None
