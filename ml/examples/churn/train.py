# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The churn example's training step (project.yaml's command): a gradient-boosted classifier on the customers,
with keelson_ml reading params.yaml and data.yaml and logging the run and the model to MLflow."""

from __future__ import annotations

from typing import Any

import keelson_ml
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder


def make_model(params: dict[str, Any], categorical: list[str], numerical: list[str]) -> Pipeline:
    prepare = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), categorical),
            ("numbers", SimpleImputer(strategy="median"), numerical),
        ]
    )
    classifier = HistGradientBoostingClassifier(
        max_iter=int(params["max_iter"]),
        max_depth=int(params["max_depth"]),
        learning_rate=float(params["learning_rate"]),
        random_state=int(params["random_state"]),
    )
    return Pipeline([("prepare", prepare), ("classify", classifier)])


def train() -> None:
    spec = keelson_ml.data_spec()
    categorical = [name for name in spec.features if spec.columns[name].type == "string"]
    numerical = [name for name in spec.features if name not in categorical]
    features, target = keelson_ml.training_data()
    model = make_model(keelson_ml.params(), categorical, numerical)
    with keelson_ml.start_run():
        model.fit(features, target)
        keelson_ml.log_model(model, features)


if __name__ == "__main__":
    keelson_ml.run(train)
