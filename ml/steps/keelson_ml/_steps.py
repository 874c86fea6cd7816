# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The generic steps (python -m keelson_ml <step>): each reads the environment and the project files, does its
work, writes its outputs and returns its report lines, or raises StepFailed with them."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from keelson_ml import _tracking
from keelson_ml._data import features_and_target, read_data, read_table, split
from keelson_ml._drift import measure
from keelson_ml._env import OUTPUT_DRIFT_SHARE, OUTPUT_DRIFTED, OUTPUT_MODEL_VERSION, OUTPUT_RUN_ID, Env
from keelson_ml._errors import KeelsonError, StepFailed
from keelson_ml._metrics import METRICS
from keelson_ml._project import read_data_spec, read_drift_spec, read_tests_spec, served_version, write_serving
from keelson_ml._validate import check


def validate(env: Env) -> list[str]:
    """data.yaml's source against every column rule."""
    spec = read_data_spec(env.project_dir)
    frame = read_data(spec)
    findings = check(frame, spec)
    if findings:
        raise StepFailed("\n".join([f"{spec.source} breaks {len(findings)} rule(s) of data.yaml:", *(f"  {item}" for item in findings)]))
    return [f"{spec.source}: {len(frame)} rows, {len(spec.columns)} columns, every rule of data.yaml holds"]


def resolve_run_id(env: Env, given: str | None) -> str:
    """--run-id, or the run id the training step wrote to the same outputs folder."""
    run_id = given or env.read_output(OUTPUT_RUN_ID)
    if not run_id:
        raise KeelsonError(f"no run id: pass --run-id, or run the training step first (it writes {env.outputs / OUTPUT_RUN_ID})")
    return run_id


def evaluate(env: Env, run_id: str) -> list[str]:
    """tests.yaml's model tests on the holdout: thresholds, then the margin over the champion; metrics logged."""
    data, tests = read_data_spec(env.project_dir), read_tests_spec(env.project_dir)
    _training, holdout = split(read_data(data), tests)
    features, truth = features_and_target(holdout, data)
    model = _tracking.load_run_model(run_id)
    names = list(tests.metrics)
    if tests.champion is not None and tests.champion.metric not in names:
        names.append(tests.champion.metric)
    scores = {name: METRICS[name](model, truth, features) for name in names}
    client = MlflowClient()
    for name, value in scores.items():
        client.log_metric(run_id, f"holdout_{name}", value)
    report = [f"{name} {scores[name]:.4f} (least {least:g})" for name, least in tests.metrics.items()]
    failures = [
        f"{name} {scores[name]:.4f} is below its threshold {least:g}" for name, least in tests.metrics.items() if scores[name] < least
    ]
    champion = tests.champion
    # The champion is the version in service: the one serving.yaml names (Git says what is served), else the one
    # under the alias.
    served = served_version(env.project_dir) if champion is not None else None
    version = served or (_tracking.champion_version(env, champion.alias) if champion is not None else None)
    if champion is not None and version is None:
        report.append(f"no model under the alias {champion.alias!r} and none served yet: no champion to beat")
    elif champion is not None and version is not None:
        held = METRICS[champion.metric](_tracking.load_version(env, version), truth, features)
        client.log_metric(run_id, f"champion_{champion.metric}", held)
        line = f"{champion.metric} {scores[champion.metric]:.4f} against the champion's {held:.4f}"
        line += f" (version {version}{', served by serving.yaml' if served else ''}, margin {champion.margin:g})"
        report.append(line)
        if scores[champion.metric] < held + champion.margin:
            failures.append(f"does not beat the champion: {line}")
    client.set_tag(run_id, _tracking.TESTS_TAG, _tracking.FAILED if failures else _tracking.PASSED)
    if failures:
        raise StepFailed("\n".join([f"run {run_id} fails its model tests (tests.yaml):", *(f"  {item}" for item in failures)]))
    return [f"run {run_id} passes its model tests:", *(f"  {item}" for item in report)]


def register(env: Env, run_id: str) -> list[str]:
    """The run's model as a new version of <tenant>-<project>, alias challenger; the version to outputs."""
    version = _tracking.register(env, run_id)
    env.write_output(OUTPUT_MODEL_VERSION, version)
    return [f"registered {env.registered_model} version {version} from run {run_id}, alias {_tracking.CHALLENGER!r}"]


def drift(env: Env) -> list[str]:
    """Evidently's data drift between drift.yaml's reference and current data; the verdict to outputs."""
    data = read_data_spec(env.project_dir)
    spec = read_drift_spec(env.project_dir, data)
    result = measure(read_table(spec.reference, data.format), read_table(spec.current, data.format), data, spec)
    env.write_output(OUTPUT_DRIFTED, "true" if result.drifted else "false")
    env.write_output(OUTPUT_DRIFT_SHARE, f"{result.share:.4f}")
    verdict = "drifted" if result.drifted else "not drifted"
    counts = f"{result.count} of {result.columns} columns drifted (share {result.share:.4f}, threshold {spec.threshold:g})"
    return [f"{spec.current} against {spec.reference}: {counts}: {verdict}"]


def promote(env: Env, version: str) -> list[str]:
    """Point serving.yaml at a registered version of <tenant>-<project> and its files, for a commit that a pull
    request puts to review: the only way serving changes (the pipeline never writes to the cluster)."""
    model, uri, image = _tracking.version_files(env, version)
    path = write_serving(env.project_dir, version, uri, image)
    served_by = (
        f"with {image}, the image that trained it"
        if image
        else f"with project.yaml's image: the version has no {_tracking.IMAGE_TAG} tag (it was not trained by the pipeline); "
        "that image must hold the versions it was trained with"
    )
    return [
        f"{path}: serves {model} version {version} from {uri} {served_by}",
        "commit it on a branch and open a pull request; once merged, keelson's next render serves it",
    ]
