# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""keelson_ml: the generic steps of a keelson ML project (python -m keelson_ml validate|evaluate|register|drift)
and the library the project's own training code uses::

    import keelson_ml

    def train() -> None:
        features, target = keelson_ml.training_data()     # data.yaml's source less tests.yaml's holdout
        model = make_model(**keelson_ml.params())          # params.yaml
        with keelson_ml.start_run():                        # experiment <tenant>/<project>, commit tags, params
            model.fit(features, target)
            keelson_ml.log_model(model, features)           # the run id goes to KEELSON_OUTPUTS/run-id

    keelson_ml.run(train)                                   # a mistake is a message and exit code 2
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import mlflow
import pandas as pd

from keelson_ml import _data, _tracking
from keelson_ml._env import Env, read_env
from keelson_ml._errors import KeelsonError, ProjectFileError, StepFailed
from keelson_ml._project import DataSpec, Param, read_data_spec, read_params, read_tests_spec

__all__ = [
    "DataSpec",
    "Env",
    "KeelsonError",
    "ProjectFileError",
    "StepFailed",
    "data_spec",
    "env",
    "holdout_data",
    "load_data",
    "log_model",
    "params",
    "run",
    "start_run",
    "training_data",
]


def env() -> Env:
    """The step's environment (docs/ml.md)."""
    return read_env()


def params() -> dict[str, Param]:
    """params.yaml's hyperparameters."""
    return read_params(env().project_dir)


def data_spec() -> DataSpec:
    """data.yaml: source, format, target and column rules."""
    return read_data_spec(env().project_dir)


def load_data() -> pd.DataFrame:
    """All of data.yaml's source."""
    return _data.read_data(data_spec())


def _part(index: int) -> tuple[pd.DataFrame, pd.Series[Any]]:
    here = env()
    spec = read_data_spec(here.project_dir)
    part = _data.split(_data.read_data(spec), read_tests_spec(here.project_dir))[index]
    return _data.features_and_target(part, spec)


def training_data() -> tuple[pd.DataFrame, pd.Series[Any]]:
    """(features, target) of the rows left for training: tests.yaml's holdout is kept out for the model tests."""
    return _part(0)


def holdout_data() -> tuple[pd.DataFrame, pd.Series[Any]]:
    """(features, target) of tests.yaml's holdout (what evaluate scores the model on)."""
    return _part(1)


def start_run() -> AbstractContextManager[mlflow.ActiveRun]:
    """An MLflow run on the experiment <tenant>/<project>, tagged with KEELSON_COMMIT, KEELSON_CHANGED_FILES and
    KEELSON_PARAMS_DIFF, params.yaml logged; the run id is written to KEELSON_OUTPUTS/run-id at its end."""
    here = env()
    return _tracking.start_run(here, read_params(here.project_dir))


def log_model(model: Any, features: pd.DataFrame) -> Any:
    """Log a fitted scikit-learn model (with its signature) as the run's model, which the steps test and register."""
    return _tracking.log_model(model, features)


def run(train: Callable[[], None]) -> None:
    """Run a project's training function; a keelson_ml mistake (project file, environment, data) is printed
    without a traceback and exits 2."""
    from keelson_ml.__main__ import guarded  # noqa: PLC0415 - the command line imports this package

    def work() -> list[str]:
        train()
        return []

    code = guarded("train", work)
    if code:
        sys.exit(code)
