# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ML project files (docs/ml.md): what a team may write, and the errors it gets otherwise."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import pytest

from ansible_collections.keelson.platform.plugins.module_utils import _ml_project as ml
from ansible_collections.keelson.platform.plugins.module_utils._problems import Problem

PATH = "tenants/vision/ml/churn"
GOOD = {
    "project.yaml": "image: registry.example.internal/vision/churn:1.4.2\ncommand: [python, train.py]\ncompute: {cpu: '2', memory: 4Gi, gpu: 1}\n",
    "params.yaml": "n_estimators: 200\nmax_depth: 6\n",
    "data.yaml": (
        "source: s3://vision-datasets/churn/train.csv\ntarget: churned\ncolumns:\n"
        "  age: {type: integer, min: 0, max: 120}\n  plan: {type: string, values: [basic, pro]}\n"
        "  churned: {type: integer, values: [0, 1]}\n"
    ),
    "tests.yaml": "metrics: {accuracy: 0.85}\nchampion: {metric: accuracy, margin: 0.01}\n",
    "drift.yaml": "schedule: '0 6 * * *'\ncurrent: s3://vision-datasets/churn/latest.csv\n",
    "serving.yaml": "model_version: 3\nstorage_uri: s3://vision-models/mlflow/1/models/m-1/artifacts\n",
}
BUCKETS = ["vision-datasets", "vision-models"]


def parse(texts: dict[str, str], **kwargs: Any) -> tuple[Optional[ml.Project], list[str]]:
    problems: list[Problem] = []
    project = ml.parse(
        "vision", kwargs.pop("name", "churn"), PATH, texts, buckets=kwargs.pop("buckets", BUCKETS), problems=problems, **kwargs
    )
    return project, [str(problem) for problem in problems]


def test_a_documented_project_parses_into_its_parts() -> None:
    project, problems = parse(GOOD)
    assert problems == []
    assert project is not None
    assert project.project.compute.gpu == 1
    assert project.params == {"n_estimators": 200, "max_depth": 6}
    assert project.data.columns["age"].max == 120
    assert project.tests.champion is not None and project.tests.champion.margin == 0.01
    assert project.drift is not None and project.drift.threshold == 0.5
    assert project.served
    assert (project.experiment, project.model) == ("vision/churn", "vision-churn")


@pytest.mark.parametrize(
    ("file", "text", "expected"),
    [
        ("project.yaml", "image: reg/x:latest\ncommand: [python]\n", "project.yaml: image: must be pinned: latest moves"),
        ("project.yaml", "image: reg/x\ncommand: [python]\n", "project.yaml: image: must be pinned: give a tag or a digest"),
        ("project.yaml", "image: reg/x:1\ncommand: []\n", "project.yaml: command: must have at least 1 item"),
        ("project.yaml", "image: reg/x:1\ncommand: [python]\ncompute: {gpu: two}\n", "compute.gpu: must be a non-negative integer"),
        ("project.yaml", "image: reg/x:1\ncommand: [python]\ncomputer: {}\n", 'computer: unknown key; did you mean "compute"?'),
        (
            "data.yaml",
            GOOD["data.yaml"].replace("vision-datasets", "audio-datasets"),
            "data.yaml: source: bucket audio-datasets is not the tenant's",
        ),
        ("data.yaml", GOOD["data.yaml"].replace("target: churned", "target: label"), "data.yaml: target: names no column of columns"),
        ("data.yaml", GOOD["data.yaml"].replace("type: string,", "type: string, min: 1,"), "columns.plan.min: only numbers have bounds"),
        ("data.yaml", GOOD["data.yaml"].replace("min: 0, max: 120", "min: 130, max: 120"), "columns.age.min: must be at most max (120)"),
        ("data.yaml", GOOD["data.yaml"].replace("type: integer, min", "type: int, min"), "columns.age.type: must be one of integer"),
        ("tests.yaml", "metrics: {accuracy: high}\n", "tests.yaml: metrics.accuracy: must be a number"),
        ("tests.yaml", "metrics: {accuracy: 0.8}\nchampion: {metric: f1}\n", "champion.metric: must be one of metrics (accuracy)"),
        ("tests.yaml", "metrics: {accuracy: 0.8}\nholdout: 0\n", "tests.yaml: holdout: must be above 0"),
        ("drift.yaml", "schedule: daily\ncurrent: s3://vision-datasets/x.csv\n", "drift.yaml: schedule: not a cron schedule"),
        ("drift.yaml", "schedule: '0 6 * * *'\ncurrent: /data/x.csv\n", "drift.yaml: current: not an S3 object path"),
        ("serving.yaml", "model_version: 3\n", "serving.yaml: model_version and storage_uri go together"),
        ("serving.yaml", "image: reg/x:latest\n", "serving.yaml: image: must be pinned: latest moves"),
        (
            "serving.yaml",
            "model_version: 3\nstorage_uri: s3://audio-models/m\n",
            "serving.yaml: storage_uri: bucket audio-models is not the tenant's",
        ),
        ("params.yaml", "lr: [0.1]\n", "params.yaml: lr: must be a string, a number or a boolean"),
        ("project.yaml", "image: [\n", "project.yaml: not valid YAML"),
    ],
)
def test_each_mistake_is_named_with_its_file_and_key(file: str, text: str, expected: str) -> None:
    project, problems = parse({**GOOD, file: text})
    if not expected:
        assert problems == []
        return
    assert project is None
    assert any(problem.startswith(f"{PATH}/") and expected in problem for problem in problems), problems


def test_missing_files_and_bad_names_are_reported_together() -> None:
    texts = {name: text for name, text in GOOD.items() if name != "data.yaml"}
    project, problems = parse(texts, name="Churn_Model")
    assert project is None
    assert any("project name: " in problem for problem in problems)
    assert any(problem.startswith(f"{PATH}/data.yaml: missing") for problem in problems)


def test_the_revision_moves_with_the_training_files_only() -> None:
    base, _problems = parse(GOOD)
    assert base is not None
    for file in ml.TRAINING_FILES:
        changed, problems = parse({**GOOD, file: GOOD.get(file, "") + "\n# reviewed\n"})
        assert problems == [] and changed is not None
        assert changed.revision != base.revision, file
    for file in ("drift.yaml", "serving.yaml"):
        changed, _problems = parse({**GOOD, file: GOOD[file] + "\n# reviewed\n"})
        assert changed is not None and changed.revision == base.revision, file


def test_the_params_diff_is_against_the_run_before() -> None:
    project, _problems = parse(GOOD, previous_params={"n_estimators": 100, "max_depth": 6, "gamma": 1})
    assert project is not None
    assert project.params_diff == {"gamma": [1, None], "n_estimators": [100, 200]}
    first, _problems = parse(GOOD)
    assert first is not None and first.params_diff == {"max_depth": [None, 6], "n_estimators": [None, 200]}


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("registry.example.internal:5000/team/img:1.2", True),
        ("img@sha256:" + "a" * 64, True),
        ("img:latest@sha256:" + "b" * 64, True),
        ("img:latest", False),
        ("img", False),
        ("Img:1", False),
    ],
)
def test_image_references(image: str, ok: bool) -> None:
    assert (ml.check_image(image) is None) is ok


def test_the_shipped_example_project_is_a_valid_project(repo: Path) -> None:
    folder = repo / "ml" / "examples" / "churn"
    texts = {name: (folder / name).read_text() for name in ml.FILES if (folder / name).is_file()}
    buckets = sorted({ml.bucket_of(uri) for text in texts.values() for uri in re.findall(r"s3://\S+", text)})
    project, problems = parse(texts, buckets=buckets)
    assert problems == []
    assert project is not None and project.name == "churn"
