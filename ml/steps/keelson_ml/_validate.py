# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The validate step's judgement: every column rule of data.yaml against the data, each broken rule a finding
that names the column, the rule and what was found."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from keelson_ml._project import Column, DataSpec

_EXAMPLES = 5


@dataclass(frozen=True)
class Finding:
    column: str
    rule: str
    found: str

    def __str__(self) -> str:
        return f"{self.column}: {self.rule}: {self.found}"


def _examples(values: pd.Series[Any]) -> str:
    shown = [repr(value) for value in values.drop_duplicates().head(_EXAMPLES).tolist()]
    return ", ".join(shown) + (", ..." if values.nunique() > _EXAMPLES else "")


def _type_finding(column: Column, values: pd.Series[Any]) -> Finding | None:
    if column.type in ("integer", "number") and ptypes.is_numeric_dtype(values) and not ptypes.is_bool_dtype(values):
        # A numeric column: integers are whole numbers (a column with empty cells is read as floats).
        bad = values[values % 1 != 0] if column.type == "integer" else values.iloc[0:0]
    else:
        bad = values[[not _fits(column.type, value) for value in values]]
    if bad.empty:
        return None
    return Finding(column.name, f"type {column.type}", f"{len(bad)} of {len(values)} values are not {column.type}s (e.g. {_examples(bad)})")


def _fits(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, int | float)


def _plain(value: Any) -> Any:
    # numpy scalars print as np.int64(-5); users read -5.
    return value.item() if hasattr(value, "item") else value


def _column_findings(column: Column, data: pd.Series[Any]) -> list[Finding]:
    findings: list[Finding] = []
    nulls = int(data.isna().sum())
    share = nulls / len(data) if len(data) else 0.0
    if share > column.max_null_share:
        findings.append(
            Finding(column.name, f"max_null_share {column.max_null_share:g}", f"{nulls} of {len(data)} cells are empty (share {share:.4f})")
        )
    values = data.dropna()
    if values.empty:
        return findings
    type_finding = _type_finding(column, values)
    if type_finding is not None:
        # Ranges and allowed values mean nothing on values of another type.
        return [*findings, type_finding]
    if column.min is not None:
        below = values[values < column.min]
        if not below.empty:
            findings.append(
                Finding(column.name, f"min {column.min:g}", f"{len(below)} values are below it (smallest {_plain(below.min())!r})")
            )
    if column.max is not None:
        above = values[values > column.max]
        if not above.empty:
            findings.append(
                Finding(column.name, f"max {column.max:g}", f"{len(above)} values are above it (largest {_plain(above.max())!r})")
            )
    if column.values is not None:
        allowed = set(column.values)
        outside = values[~values.isin(allowed)]
        if not outside.empty:
            findings.append(
                Finding(column.name, f"values {list(column.values)}", f"{len(outside)} values are not allowed: {_examples(outside)}")
            )
    return findings


def check(frame: pd.DataFrame, spec: DataSpec) -> list[Finding]:
    """Every broken rule; none means the data passes."""
    findings: list[Finding] = []
    for name in frame.columns:
        if str(name) not in spec.columns:
            findings.append(Finding(str(name), "listed in data.yaml's columns", "the data has this column and data.yaml does not list it"))
    for name, column in spec.columns.items():
        if name not in frame.columns:
            findings.append(Finding(name, "present", "data.yaml lists this column and the data has none"))
            continue
        findings.extend(_column_findings(column, frame[name]))
    if frame.empty:
        findings.append(Finding("*", "rows", "the data has no rows"))
    return findings
