# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The drift step's measurement: Evidently's data drift preset on drift.yaml's reference and current data, over
the model's feature columns (the current data need not have labels yet)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from keelson_ml._errors import KeelsonError
from keelson_ml._project import DataSpec, DriftSpec


@dataclass(frozen=True)
class DriftResult:
    drifted: bool
    share: float
    count: int
    columns: int


def _definition(data: DataSpec) -> DataDefinition:
    # Numbers with a list of allowed values (e.g. 0/1 flags) are categories; other numbers are numerical.
    numerical = [name for name in data.features if data.columns[name].type in ("integer", "number") and data.columns[name].values is None]
    categorical = [name for name in data.features if name not in numerical]
    return DataDefinition(numerical_columns=numerical, categorical_columns=categorical)


def _drift_value(snapshot: Any) -> dict[str, Any]:
    for metric in snapshot.dict()["metrics"]:
        if str(metric.get("metric_name", "")).startswith("DriftedColumnsCount"):
            return dict(metric["value"])
    raise KeelsonError("Evidently's report has no DriftedColumnsCount metric (is evidently 0.7 installed?)")


def measure(reference: pd.DataFrame, current: pd.DataFrame, data: DataSpec, drift: DriftSpec) -> DriftResult:
    """Whether the share of drifted feature columns reaches drift.yaml's threshold."""
    for name, frame in (("reference", reference), ("current", current)):
        missing = [column for column in data.features if column not in frame.columns]
        if missing:
            raise KeelsonError(f"drift.yaml's {name} data has no column {', '.join(missing)} (data.yaml lists it)")
    definition = _definition(data)
    report = Report([DataDriftPreset(drift_share=drift.threshold)])
    snapshot = report.run(
        current_data=Dataset.from_pandas(current[data.features], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[data.features], data_definition=definition),
    )
    value = _drift_value(snapshot)
    share = float(value["share"])
    return DriftResult(drifted=share >= drift.threshold, share=share, count=int(value["count"]), columns=len(data.features))
