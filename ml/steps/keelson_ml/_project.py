# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The project files the steps read (params.yaml, data.yaml, tests.yaml, drift.yaml; docs/ml.md is their format),
checked here once: a mistake names the file, the key and why."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from keelson_ml._errors import ProjectFileError

TYPES: Final = ("integer", "number", "string", "boolean")
FORMATS: Final = ("csv", "parquet")
# The metrics tests.yaml can name (keelson_ml._metrics computes them).
METRIC_NAMES: Final = ("accuracy", "precision", "recall", "f1", "roc_auc")
_S3_URL: Final = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+")
_COLUMN_KEYS: Final = frozenset({"type", "min", "max", "values", "max_null_share"})

Param = str | int | float | bool


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    min: float | None
    max: float | None
    values: tuple[Any, ...] | None
    max_null_share: float


@dataclass(frozen=True)
class DataSpec:
    source: str
    format: str
    target: str
    columns: dict[str, Column]

    @property
    def features(self) -> list[str]:
        """The columns the model reads (every listed column but the target), in data.yaml's order."""
        return [name for name in self.columns if name != self.target]


@dataclass(frozen=True)
class Champion:
    alias: str
    metric: str
    margin: float


@dataclass(frozen=True)
class TestsSpec:
    holdout: float
    seed: int
    metrics: dict[str, float]
    champion: Champion | None


@dataclass(frozen=True)
class DriftSpec:
    schedule: str
    reference: str
    current: str
    threshold: float


def _load(project_dir: Path, file: str) -> dict[str, Any]:
    path = project_dir / file
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectFileError(file, "", f"not found in the project folder {project_dir}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise ProjectFileError(file, where, f"not valid YAML ({getattr(error, 'problem', None) or error})") from None
    if not isinstance(document, dict):
        raise ProjectFileError(file, "", "must be a mapping of keys to values (docs/ml.md)")
    return document


def _unknown(file: str, document: dict[str, Any], allowed: set[str] | frozenset[str], prefix: str = "") -> None:
    for key in document:
        if key not in allowed:
            raise ProjectFileError(file, f"{prefix}{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _number(file: str, key: str, value: Any, low: float | None = None, high: float | None = None, *, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProjectFileError(file, key, f"must be a number, found {value!r}")
    number = float(value)
    if low is not None and (number <= low if strict else number < low):
        raise ProjectFileError(file, key, f"must be {'above' if strict else 'at least'} {low:g}, found {value!r}")
    if high is not None and (number >= high if strict else number > high):
        raise ProjectFileError(file, key, f"must be {'below' if strict else 'at most'} {high:g}, found {value!r}")
    return number


def _text(file: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProjectFileError(file, key, f"must be a non-empty string, found {value!r}")
    return value


def _s3(file: str, key: str, value: Any) -> str:
    url = _text(file, key, value)
    if not _S3_URL.match(url):
        raise ProjectFileError(file, key, f"must be an s3://<bucket>/<key> URL in one of the tenant's buckets, found {url!r}")
    return url


def read_params(project_dir: Path) -> dict[str, Param]:
    """params.yaml: a flat mapping of names to strings, numbers or booleans."""
    document = _load(project_dir, "params.yaml")
    for key, value in document.items():
        if not isinstance(key, str):
            raise ProjectFileError("params.yaml", str(key), "a hyperparameter's name must be a string")
        if not isinstance(value, str | int | float | bool):
            raise ProjectFileError("params.yaml", key, f"must be a string, a number or a boolean, found {type(value).__name__}")
    return document


def _column(name: str, rules: Any) -> Column:
    file, key = "data.yaml", f"columns.{name}"
    if not isinstance(rules, dict):
        raise ProjectFileError(file, key, "must be a mapping of rules (type, min, max, values, max_null_share)")
    _unknown(file, rules, _COLUMN_KEYS, f"{key}.")
    kind = rules.get("type")
    if kind not in TYPES:
        raise ProjectFileError(file, f"{key}.type", f"must be one of {', '.join(TYPES)}, found {kind!r}")
    bounds: dict[str, float | None] = {}
    for bound in ("min", "max"):
        if bound in rules:
            if kind not in ("integer", "number"):
                raise ProjectFileError(file, f"{key}.{bound}", f"bounds numbers; this column's type is {kind}")
            bounds[bound] = _number(file, f"{key}.{bound}", rules[bound])
        else:
            bounds[bound] = None
    low, high = bounds["min"], bounds["max"]
    if low is not None and high is not None and low > high:
        raise ProjectFileError(file, f"{key}.min", f"is above max ({low:g} > {high:g})")
    values = rules.get("values")
    if values is not None and (not isinstance(values, list) or not values):
        raise ProjectFileError(file, f"{key}.values", f"must be a non-empty list of the allowed values, found {values!r}")
    share = _number(file, f"{key}.max_null_share", rules.get("max_null_share", 0), 0, 1)
    return Column(name, kind, low, high, tuple(values) if values is not None else None, share)


def read_data_spec(project_dir: Path) -> DataSpec:
    """data.yaml: the data source and its column rules."""
    file = "data.yaml"
    document = _load(project_dir, file)
    _unknown(file, document, {"source", "format", "target", "columns"})
    source = _s3(file, "source", document.get("source"))
    data_format = document.get("format", "csv")
    if data_format not in FORMATS:
        raise ProjectFileError(file, "format", f"must be one of {', '.join(FORMATS)}, found {data_format!r}")
    columns = document.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise ProjectFileError(file, "columns", "must list every column the model reads, with its rules")
    parsed = {str(name): _column(str(name), rules) for name, rules in columns.items()}
    target = _text(file, "target", document.get("target"))
    if target not in parsed:
        raise ProjectFileError(file, "target", f"{target!r} is not one of the columns ({', '.join(parsed)})")
    if len(parsed) < 2:
        raise ProjectFileError(file, "columns", "must list at least one feature besides the target")
    return DataSpec(source, data_format, target, parsed)


def read_tests_spec(project_dir: Path) -> TestsSpec:
    """tests.yaml: the holdout, the thresholds and the champion margin."""
    file = "tests.yaml"
    document = _load(project_dir, file)
    _unknown(file, document, {"holdout", "seed", "metrics", "champion"})
    holdout = _number(file, "holdout", document.get("holdout", 0.25), 0, 1, strict=True)
    seed = document.get("seed", 42)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ProjectFileError(file, "seed", f"must be a whole number of at least 0, found {seed!r}")
    metrics = document.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        raise ProjectFileError(file, "metrics", f"must map metrics ({', '.join(METRIC_NAMES)}) to the least each must reach")
    thresholds: dict[str, float] = {}
    for name, least in metrics.items():
        if name not in METRIC_NAMES:
            raise ProjectFileError(file, f"metrics.{name}", f"unknown metric (known: {', '.join(METRIC_NAMES)})")
        thresholds[name] = _number(file, f"metrics.{name}", least, 0, 1)
    champion = None
    if document.get("champion") is not None:
        section = document["champion"]
        if not isinstance(section, dict):
            raise ProjectFileError(file, "champion", "must be a mapping (alias, metric, margin)")
        _unknown(file, section, {"alias", "metric", "margin"}, "champion.")
        metric = section.get("metric", "accuracy")
        if metric not in METRIC_NAMES:
            raise ProjectFileError(file, "champion.metric", f"unknown metric {metric!r} (known: {', '.join(METRIC_NAMES)})")
        champion = Champion(
            alias=_text(file, "champion.alias", section.get("alias", "champion")),
            metric=metric,
            margin=_number(file, "champion.margin", section.get("margin", 0), -1, 1),
        )
    return TestsSpec(holdout, seed, thresholds, champion)


def read_drift_spec(project_dir: Path, data: DataSpec) -> DriftSpec:
    """drift.yaml: the schedule, the reference (default: data.yaml's source), the current data, the threshold."""
    file = "drift.yaml"
    document = _load(project_dir, file)
    _unknown(file, document, {"schedule", "reference", "current", "threshold"})
    return DriftSpec(
        schedule=_text(file, "schedule", document.get("schedule")),
        reference=_s3(file, "reference", document.get("reference", data.source)),
        current=_s3(file, "current", document.get("current")),
        threshold=_number(file, "threshold", document.get("threshold", 0.5), 0, 1),
    )


SERVING: Final = "serving.yaml"


def read_serving(project_dir: Path) -> dict[str, Any]:
    """serving.yaml as written (empty when the project has none)."""
    if not (project_dir / SERVING).is_file():
        return {}
    return _load(project_dir, SERVING)


def served_version(project_dir: Path) -> str | None:
    """The registered model version serving.yaml serves, if it serves one (the champion a new model must beat)."""
    serving = read_serving(project_dir)
    version = serving.get("model_version")
    if version is None or serving.get("enabled", True) is False:
        return None
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ProjectFileError(SERVING, "model_version", f"must be a registered model version (1, 2, ...), found {version!r}")
    return str(version)


def write_serving(project_dir: Path, version: str, storage_uri: str, image: str | None) -> Path:
    """serving.yaml pointing at ``version``, its files and (when known) the image that trained it, its other keys
    kept (comments are not). Without a known image, a stale ``image`` is dropped: project.yaml's serves."""
    serving = read_serving(project_dir)
    serving["model_version"] = int(version)
    serving["storage_uri"] = storage_uri
    if image:
        serving["image"] = image
    else:
        serving.pop("image", None)
    path = project_dir / SERVING
    path.write_text("---\n" + yaml.safe_dump(serving, sort_keys=False, default_flow_style=False), encoding="utf-8")
    return path
