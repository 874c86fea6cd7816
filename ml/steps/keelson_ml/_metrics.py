# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The metrics tests.yaml can name, each computed on the holdout from the true labels and the model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

Metric = Callable[[Any, "pd.Series[Any]", pd.DataFrame], float]


def _average(truth: pd.Series[Any], predicted: Any) -> dict[str, Any]:
    # Two classes: the score of the positive (larger) class, as scikit-learn's binary average; more: the mean
    # over classes (macro), so that a rare class counts as much as a common one.
    labels = sorted(set(truth.tolist()) | set(np.asarray(predicted).tolist()))
    if len(labels) <= 2:
        return {"average": "binary", "pos_label": labels[-1], "zero_division": 0}
    return {"average": "macro", "zero_division": 0}


def _accuracy(model: Any, truth: pd.Series[Any], features: pd.DataFrame) -> float:
    return float(skm.accuracy_score(truth, model.predict(features)))


def _scored(score: Callable[..., Any]) -> Metric:
    def metric(model: Any, truth: pd.Series[Any], features: pd.DataFrame) -> float:
        predicted = model.predict(features)
        return float(score(truth, predicted, **_average(truth, predicted)))

    return metric


def _roc_auc(model: Any, truth: pd.Series[Any], features: pd.DataFrame) -> float:
    if not hasattr(model, "predict_proba"):
        raise ValueError("the model has no predict_proba, which roc_auc needs")
    probabilities = model.predict_proba(features)
    if probabilities.shape[1] == 2:
        return float(skm.roc_auc_score(truth, probabilities[:, 1]))
    return float(skm.roc_auc_score(truth, probabilities, multi_class="ovr", labels=list(model.classes_)))


METRICS: dict[str, Metric] = {
    "accuracy": _accuracy,
    "precision": _scored(skm.precision_score),
    "recall": _scored(skm.recall_score),
    "f1": _scored(skm.f1_score),
    "roc_auc": _roc_auc,
}
