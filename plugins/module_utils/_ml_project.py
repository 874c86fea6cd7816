# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A tenant's ML project: the files of ``tenants/<tenant>/ml/<project>/`` (docs/ml.md), checked and typed.

The team writes and reviews these files; keelson reads them when it renders and never writes them. Every problem
names the file and the key, as the spec's do (``tenants/vision/ml/churn/data.yaml: columns.age.min: must be a
number (got "ten")``), and all of a render's projects are checked before anything is written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils._formats import check_cron, check_duration, dns_label
from ansible_collections.keelson.platform.plugins.module_utils._problems import Problem, Problems
from ansible_collections.keelson.platform.plugins.module_utils._schema import (
    Bool,
    Enum,
    Int,
    Kind,
    ListOf,
    MapOf,
    Nullable,
    Number,
    Quantity,
    Scalar,
    Section,
    Str,
    spec_field,
    valid,
)
from ansible_collections.keelson.platform.plugins.module_utils._yaml import load_one

PROJECT_NAME_MAX: Final = 40  # the Workflow names keelson derives from it stay within a DNS label
# The files of a project: (name, required, whether a change to it retrains).
PROJECT: Final = "project.yaml"
PARAMS: Final = "params.yaml"
DATA: Final = "data.yaml"
TESTS: Final = "tests.yaml"
DRIFT: Final = "drift.yaml"
SERVING: Final = "serving.yaml"
FILES: Final = (PROJECT, PARAMS, DATA, TESTS, DRIFT, SERVING)
REQUIRED_FILES: Final = (PROJECT, DATA, TESTS)
# A change to one of these starts a new training run; serving.yaml redeploys only, drift.yaml reschedules the check.
TRAINING_FILES: Final = (PROJECT, PARAMS, DATA, TESTS)
# The files the pipeline's steps read (mounted from a ConfigMap): all of them, serving.yaml too (the version it
# serves is the champion a new model is tested against). A change to one that is no training file changes the
# ConfigMap only, which starts nothing.
STEP_FILES: Final = FILES

_IMAGE: Final = re.compile(
    r"^(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
_S3: Final = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>\S+)$")
_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def check_image(value: str) -> Optional[str]:
    match = _IMAGE.match(value)
    if not match:
        return "not an image reference (registry/name:tag or registry/name@sha256:<64 hex digits>)"
    if not match.group("tag") and not match.group("digest"):
        return "must be pinned: give a tag or a digest (name:1.4.2, name@sha256:...)"
    if match.group("tag") == "latest" and not match.group("digest"):
        return "must be pinned: latest moves; give a version tag or a digest"
    return None


def check_s3_uri(value: str) -> Optional[str]:
    if not _S3.match(value):
        return "not an S3 object path (s3://<bucket>/<key>)"
    return None


def bucket_of(uri: str) -> str:
    match = _S3.match(uri)
    return match.group("bucket") if match else ""


def check_identifier(value: str) -> Optional[str]:
    if not _IDENTIFIER.match(value):
        return "must start with a letter or _ and hold only letters, digits, _, . and -"
    return None


# ------------------------------------------------------------------------------------------ files


@dataclasses.dataclass(frozen=True)
class Compute:
    cpu: str = spec_field(Quantity(), "CPU of the training step (requests and limits).", default="1")
    memory: str = spec_field(Quantity(), "Memory of the training step (requests and limits).", default="2Gi")
    gpu: int = spec_field(Int(minimum=0), "NVIDIA GPUs of the training step (`nvidia.com/gpu`).", default=0)
    timeout: str = spec_field(Str(check_duration, type_doc="duration"), "The whole pipeline's deadline.", default="2h")


@dataclasses.dataclass(frozen=True)
class ProjectFile:
    image: str = spec_field(Str(check_image, type_doc="image reference"), "The project's image, pinned by tag or digest.")
    command: list[str] = spec_field(ListOf(Str(), min_items=1), "The training step's command, run in the image's working folder.")
    compute: Compute = spec_field(Section(Compute), "The training step's resources.", default={})


@dataclasses.dataclass(frozen=True)
class Column:
    type: str = spec_field(Enum("integer", "number", "string", "boolean"), "The column's type.")
    min: Optional[float] = spec_field(Nullable(Number()), "The least value allowed.", default=None)
    max: Optional[float] = spec_field(Nullable(Number()), "The largest value allowed.", default=None)
    values: Optional[list[Any]] = spec_field(Nullable(ListOf(Scalar(), unique=True, min_items=1)), "The values allowed.", default=None)
    max_null_share: float = spec_field(Number(0, 1), "The largest share of empty cells allowed.", default=0)


def _column_rules(value: dict[str, Any], path: str, problems: Problems) -> None:
    numeric = value.get("type") in ("integer", "number")
    for bound in ("min", "max"):
        if value.get(bound) is not None and valid(value.get(bound)) and not numeric and valid(value.get("type")):
            problems.error(f"{path}.{bound}", f"only numbers have bounds: the column is a {value['type']}")
    low, high = value.get("min"), value.get("max")
    if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low > high:
        problems.error(f"{path}.min", f"must be at most max ({high:g})", low)


@dataclasses.dataclass(frozen=True)
class DataFile:
    source: str = spec_field(Str(check_s3_uri, type_doc="s3 URI"), "The training data, in one of the tenant's buckets.")
    format: str = spec_field(Enum("csv", "parquet"), "The data's format.", default="csv")
    target: str = spec_field(Str(), "The label column.")
    columns: dict[str, Column] = spec_field(
        MapOf(Section(Column, _column_rules), Str(), "column name"), "Every column the data holds, and its rules."
    )


@dataclasses.dataclass(frozen=True)
class Champion:
    alias: str = spec_field(Str(check_identifier), "The registry alias of the model in service.", default="champion")
    metric: str = spec_field(Str(check_identifier), "The metric a new model must beat the champion on.")
    margin: float = spec_field(Number(0), "By how much the new model must beat the champion.", default=0)


@dataclasses.dataclass(frozen=True)
class TestsFile:
    holdout: float = spec_field(Number(0, 0.9, above=True), "Share of rows kept out of training to test on.", default=0.25)
    seed: int = spec_field(Int(minimum=0), "Seed of the holdout split.", default=42)
    metrics: dict[str, float] = spec_field(MapOf(Number(), Str(check_identifier), "metric"), "The least each metric must reach.")
    champion: Optional[Champion] = spec_field(Nullable(Section(Champion)), "Compare with the model in service.", default=None)


@dataclasses.dataclass(frozen=True)
class DriftFile:
    schedule: str = spec_field(Str(check_cron, type_doc="cron schedule"), "When the drift check runs (UTC).")
    current: str = spec_field(Str(check_s3_uri, type_doc="s3 URI"), "The data to compare with the reference.")
    reference: Optional[str] = spec_field(
        Nullable(Str(check_s3_uri, type_doc="s3 URI")), "The reference data.", default=None, default_doc="data.yaml's source"
    )
    threshold: float = spec_field(Number(0, 1, above=True), "Share of drifted columns that starts training.", default=0.5)


@dataclasses.dataclass(frozen=True)
class ServingFile:
    model_version: Optional[int] = spec_field(Nullable(Int(minimum=1)), "The registered model version served.", default=None)
    storage_uri: Optional[str] = spec_field(
        Nullable(Str(check_s3_uri, type_doc="s3 URI")), "Where that version's model files are (in the tenant's bucket).", default=None
    )
    image: Optional[str] = spec_field(
        Nullable(Str(check_image, type_doc="image reference")),
        "The image that serves the version (it holds MLServer): the one that trained it, which promote writes.",
        default=None,
        default_doc="project.yaml's image",
    )
    replicas: int = spec_field(Int(minimum=1, maximum=20), "Serving replicas.", default=1)
    cpu: str = spec_field(Quantity(), "CPU of each replica.", default="1")
    memory: str = spec_field(Quantity(), "Memory of each replica.", default="2Gi")
    enabled: bool = spec_field(Bool(), "Serve the model (false keeps the file and removes the service).", default=True)


def _serving_rules(value: dict[str, Any], path: str, problems: Problems) -> None:
    version, uri = value.get("model_version"), value.get("storage_uri")
    if (version is None) != (uri is None) and valid(version) and valid(uri):
        problems.error(
            path,
            "model_version and storage_uri go together: a served version is named and its files found "
            "(the promote playbook writes both from the registry)",
        )


_MODELS: Final[dict[str, Section[Any]]] = {
    PROJECT: Section(ProjectFile),
    DATA: Section(DataFile),
    TESTS: Section(TestsFile),
    DRIFT: Section(DriftFile),
    SERVING: Section(ServingFile, _serving_rules),
}
_PARAMS: Final = MapOf(Scalar(), Str(check_identifier), "hyperparameter")


@dataclasses.dataclass(frozen=True)
class Project:
    """One ML project, checked: its files as written (``texts``) and typed."""

    tenant: str
    name: str
    path: str  # its folder in the repository
    texts: dict[str, str]  # file name -> text, of the files present
    project: ProjectFile
    params: dict[str, Any]
    data: DataFile
    tests: TestsFile
    drift: Optional[DriftFile]
    serving: Optional[ServingFile]
    # The run of this revision: the commit that made it ("" outside a Git working copy), the project's files that
    # commit changed, and the hyperparameters changed since the previous run (name -> [old, new]).
    commit: str = ""
    changed: tuple[str, ...] = ()
    params_diff: dict[str, list[Any]] = dataclasses.field(default_factory=dict)

    @property
    def revision(self) -> str:
        """A digest of the training files: a change to one of them is a new training run."""
        digest = hashlib.sha256()
        for name in TRAINING_FILES:
            digest.update(f"{name}\0{self.texts.get(name, '')}\0".encode())
        return digest.hexdigest()[:10]

    @property
    def experiment(self) -> str:
        return f"{self.tenant}/{self.name}"

    @property
    def model(self) -> str:
        return f"{self.tenant}-{self.name}"

    @property
    def served(self) -> bool:
        return self.serving is not None and self.serving.enabled and self.serving.model_version is not None


check_project_name = dns_label(PROJECT_NAME_MAX, "the folder name is the project's name", start_letter=True)


def parse(
    tenant: str,
    name: str,
    path: str,
    texts: dict[str, str],
    *,
    buckets: list[str],
    problems: list[Problem],
    commit: str = "",
    changed: tuple[str, ...] = (),
    previous_params: Optional[dict[str, Any]] = None,
) -> Optional[Project]:
    """The project in ``texts`` (file name -> YAML text), or None with its problems appended to ``problems``.
    ``buckets``: the tenant's own; every S3 path must be in one of them. ``previous_params``: the hyperparameters
    of the run before (None: this is the first)."""
    import yaml  # noqa: PLC0415 (the spec validator, a module, imports this file and never parses YAML)

    found: list[Problem] = []

    def report(file: str, key: str, reason: str, value: Any = None) -> None:
        where = (f"{path}/{file}" if file else path) + (f": {key}" if key else "")
        found.append(Problem(where, reason) if value is None else Problem(where, reason, value))

    reason = check_project_name(name)
    if reason:
        report("", "", f"project name: {reason}", name)
    for file in REQUIRED_FILES:
        if file not in texts:
            report(file, "", f"missing: a project needs {', '.join(REQUIRED_FILES)} (see docs/ml.md)")
    normalised: dict[str, Any] = {}
    for file, text in texts.items():
        try:
            raw = load_one(text)
        except yaml.YAMLError as error:
            report(file, "", f"not valid YAML: {str(error).splitlines()[0]}")
            continue
        local = Problems()
        kind: Kind = _PARAMS if file == PARAMS else _MODELS[file]
        normalised[file] = kind.normalise(raw, "", local)
        for problem in local.errors:
            where = f"{path}/{file}" + (f": {problem.path}" if problem.path else "")
            found.append(Problem(where, problem.reason, problem.value))
    data = normalised.get(DATA)
    columns = data.get("columns") if isinstance(data, dict) else None
    if isinstance(data, dict) and isinstance(columns, dict) and valid(data.get("target")) and data["target"] not in columns:
        report(DATA, "target", f"names no column of columns ({', '.join(sorted(data['columns'])) or 'none'})", data["target"])
    for file, key, uri in _uris(normalised):
        bucket = bucket_of(uri)
        if bucket and bucket not in buckets:
            mine = ", ".join(buckets) if buckets else "none: give the tenant buckets in the spec"
            report(file, key, f"bucket {bucket} is not the tenant's (its buckets: {mine})", uri)
    tests = normalised.get(TESTS)
    if isinstance(tests, dict) and isinstance(tests.get("champion"), dict) and isinstance(tests.get("metrics"), dict):
        metric = tests["champion"].get("metric")
        if valid(metric) and metric not in tests["metrics"]:
            report(TESTS, "champion.metric", f"must be one of metrics ({', '.join(sorted(tests['metrics']))})", metric)
    problems.extend(found)
    if found or not all(valid(value) for value in normalised.values()):
        return None
    build = {file: (_PARAMS if file == PARAMS else _MODELS[file]).build(value) for file, value in normalised.items()}
    return Project(
        tenant=tenant,
        name=name,
        path=path,
        texts=dict(texts),
        project=build[PROJECT],
        params=build.get(PARAMS, {}),
        data=build[DATA],
        tests=build[TESTS],
        drift=build.get(DRIFT),
        serving=build.get(SERVING),
        commit=commit,
        changed=changed,
        params_diff=params_diff(previous_params or {}, build.get(PARAMS, {})),
    )


def _uris(normalised: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(file, key, s3 URI) of every S3 path the project names."""
    found = []
    for file, key in ((DATA, "source"), (DRIFT, "current"), (DRIFT, "reference"), (SERVING, "storage_uri")):
        section = normalised.get(file)
        if isinstance(section, dict) and isinstance(section.get(key), str):
            found.append((file, key, section[key]))
    return found


def params_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[Any]]:
    """Hyperparameter name -> [old, new] for every one that changed (None: absent on that side)."""
    return {name: [old.get(name), new.get(name)] for name in sorted(old.keys() | new.keys()) if old.get(name) != new.get(name)}


def dumps(value: Any) -> str:
    """Compact, stable JSON (annotations and workflow parameters)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
