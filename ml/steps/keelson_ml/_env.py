# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The steps' environment (docs/ml.md, "The steps' environment"): read once, checked, typed."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keelson_ml._errors import KeelsonError

# Where a step writes its outputs, one value per file; docs/ml.md lists them.
OUTPUT_RUN_ID = "run-id"
OUTPUT_MODEL_VERSION = "model-version"
OUTPUT_DRIFTED = "drifted"
OUTPUT_DRIFT_SHARE = "drift-share"


@dataclass(frozen=True)
class Env:
    """What the rendered workflow tells a step."""

    project_dir: Path
    tenant: str
    project: str
    commit: str
    changed_files: list[str]
    params_diff: dict[str, Any]
    trigger: str
    outputs: Path
    artifact_root: str | None
    # The image the step runs in (the rendered workflow names it): recorded on the run and its registered version,
    # and the image that serves the version (promote writes it to serving.yaml).
    image: str | None = None

    @property
    def experiment(self) -> str:
        """The project's MLflow experiment (keelson names it, so two teams' projects never share one)."""
        return f"{self.tenant}/{self.project}"

    @property
    def registered_model(self) -> str:
        """The project's registered model."""
        return f"{self.tenant}-{self.project}"

    def write_output(self, name: str, value: str) -> Path:
        """Write one output value to its file in KEELSON_OUTPUTS."""
        self.outputs.mkdir(parents=True, exist_ok=True)
        path = self.outputs / name
        path.write_text(value, encoding="utf-8")
        return path

    def read_output(self, name: str) -> str | None:
        """An output an earlier step wrote to the same folder, if it is there."""
        path = self.outputs / name
        return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise KeelsonError(f"{name} is not set: the rendered workflow sets it (docs/ml.md, the steps' environment)")
    return value


def _json(environ: Mapping[str, str], name: str, kind: type, default: str) -> Any:
    text = environ.get(name, "").strip() or default
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise KeelsonError(f"{name} is not JSON ({error.msg} at character {error.pos}): {text[:80]!r}") from None
    if not isinstance(value, kind):
        raise KeelsonError(f"{name} must be a JSON {'list' if kind is list else 'object'}, found {text[:80]!r}")
    return value


def read_env(environ: Mapping[str, str] | None = None) -> Env:
    """The environment of a step, or a KeelsonError naming the variable that is missing or wrong."""
    env = os.environ if environ is None else environ
    project_dir = Path(_required(env, "KEELSON_PROJECT_DIR"))
    if not project_dir.is_dir():
        raise KeelsonError(f"KEELSON_PROJECT_DIR={project_dir} is not a folder")
    changed = _json(env, "KEELSON_CHANGED_FILES", list, "[]")
    if not all(isinstance(item, str) for item in changed):
        raise KeelsonError("KEELSON_CHANGED_FILES must be a JSON list of file names")
    diff = _json(env, "KEELSON_PARAMS_DIFF", dict, "{}")
    return Env(
        project_dir=project_dir,
        tenant=_required(env, "KEELSON_TENANT"),
        project=_required(env, "KEELSON_PROJECT"),
        commit=env.get("KEELSON_COMMIT", "").strip(),
        changed_files=changed,
        params_diff=diff,
        # What started the run: commit (the run of a commit), drift (the drift check), manual (anything else).
        trigger=env.get("KEELSON_TRIGGER", "").strip() or "manual",
        outputs=Path(_required(env, "KEELSON_OUTPUTS")),
        artifact_root=env.get("KEELSON_ARTIFACT_ROOT", "").strip() or None,
        image=env.get("KEELSON_IMAGE", "").strip() or None,
    )
