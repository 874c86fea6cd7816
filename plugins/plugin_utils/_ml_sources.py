# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read the tenants' ML projects from the folder a render goes into (the repository's working copy, or any
folder): ``tenants/<tenant>/ml/<project>/*.yaml``, checked all at once (every problem of every project in one
error, before anything is written), with what the run of each needs to say what changed:

- the last commit that changed one of its training files, and which of the project's files it changed (from Git,
  when the folder is a working copy; nothing otherwise);
- the hyperparameters of the run the tree held before, from that run's annotation, for the diff. A re-render of
  an unchanged revision keeps the run exactly as it was, so it changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import posixpath
import subprocess
from typing import Any, Optional

from ansible_collections.keelson.platform.plugins.module_utils._components import kserve
from ansible_collections.keelson.platform.plugins.module_utils._formats import DNS_LABEL_MAX
from ansible_collections.keelson.platform.plugins.module_utils._ml_project import FILES, SERVING, TRAINING_FILES, Project, parse
from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError, Problem, format_problems
from ansible_collections.keelson.platform.plugins.module_utils._spec_model import Tenant
from ansible_collections.keelson.platform.plugins.module_utils._yaml import load_all
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Layout
from ansible_collections.keelson.platform.plugins.plugin_utils._render_ml import PARAMS_ANNOTATION, REVISION_LABEL, RUN_LABEL


class ProjectError(KeelsonError):
    """A tenant's ML project is invalid."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(format_problems("the tenants' ML projects are invalid (fix the files, see docs/ml.md)", problems))


def read_projects(dest: str, layout: Layout, tenants: list[Tenant], existing: dict[str, str]) -> dict[str, tuple[Project, ...]]:
    """Tenant name -> its projects (sorted by name). ``existing``: the platform's generated files in ``dest``
    before this render (path -> text). Raises ProjectError listing every problem."""
    problems: list[Problem] = []
    found: dict[str, tuple[Project, ...]] = {}
    in_git = (_git(dest, "rev-parse", "--is-inside-work-tree") or "").strip() == "true"
    for tenant in tenants:
        if tenant.state == "absent":
            continue
        top = layout.tenant_ml_sources(tenant.name)
        folder = os.path.join(dest, top)
        if not os.path.isdir(folder):
            continue
        projects = []
        for name in sorted(os.listdir(folder)):
            path = posixpath.join(top, name)
            if not os.path.isdir(os.path.join(folder, name)) or name.startswith("."):
                continue
            texts = _texts(os.path.join(folder, name), path, problems)
            commit, changed = _history(dest, path) if in_git else ("", ())
            previous = _previous_run(existing.get(layout.tenant_ml_file(tenant.name, name)))
            project = parse(
                tenant.name,
                name,
                path,
                texts,
                buckets=list(tenant.buckets),
                problems=problems,
                commit=commit,
                changed=changed,
                previous_params=_params(previous) if previous is not None else None,
            )
            if project is None:
                continue
            label = kserve.model_label(name, tenant.namespaces[0])
            if project.served and len(label) > DNS_LABEL_MAX:
                # KServe names the model's host <name>-<namespace>.<domain> (its domain template) and refuses a host
                # whose first label is no DNS label: the InferenceService would never get a URL.
                problems.append(
                    Problem(
                        f"{path}/{SERVING}",
                        f"the model's host {label}.<domain> starts with a label of {len(label)} characters (at most "
                        f"{DNS_LABEL_MAX}: the project's folder name, a dash and the namespace {tenant.namespaces[0]}); "
                        "shorten the folder name",
                        name,
                    )
                )
                continue
            if previous is not None and previous["metadata"].get("labels", {}).get(REVISION_LABEL) == project.revision:
                project = _as_before(project, previous)
            projects.append(project)
        if projects:
            found[tenant.name] = tuple(projects)
    if problems:
        raise ProjectError(problems)
    return found


def _texts(folder: str, path: str, problems: list[Problem]) -> dict[str, str]:
    texts = {}
    for name in FILES:
        file = os.path.join(folder, name)
        if not os.path.isfile(file):
            continue
        try:
            with open(file, encoding="utf-8") as handle:
                texts[name] = handle.read()
        except (OSError, UnicodeDecodeError) as error:
            problems.append(Problem(f"{path}/{name}", f"cannot be read: {getattr(error, 'strerror', None) or error}"))
    return texts


def _git(dest: str, *args: str) -> Optional[str]:
    try:
        done = subprocess.run(["git", "-C", dest, *args], capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _history(dest: str, path: str) -> tuple[str, tuple[str, ...]]:
    """The last commit that changed one of the project's training files, and the project's files it changed.
    ``dest`` is in a working copy, at its top or in a folder of it: Git reads pathspecs relative to the folder it
    runs in, and ``--relative`` gives the names relative to the project's folder, not to the repository's top."""
    training = [posixpath.join(path, name) for name in TRAINING_FILES]
    commit = (_git(dest, "log", "-1", "--format=%H", "--", *training) or "").strip()
    if not commit:
        return "", ()
    names = _git(os.path.join(dest, path), "diff-tree", "--root", "--no-commit-id", "--name-only", "-r", "--relative", commit) or ""
    return commit, tuple(sorted(line for line in names.splitlines() if line))


def _previous_run(text: Optional[str]) -> Optional[dict[str, Any]]:
    if not text:
        return None
    try:
        documents = load_all(text)
    except Exception:
        return None
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "Workflow":
            metadata = document.get("metadata")
            if isinstance(metadata, dict) and (metadata.get("labels") or {}).get(RUN_LABEL) == "commit":
                return document
    return None


def _params(run: dict[str, Any]) -> dict[str, Any]:
    text = (run["metadata"].get("annotations") or {}).get(PARAMS_ANNOTATION)
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _as_before(project: Project, run: dict[str, Any]) -> Project:
    """The project with its run's parameters exactly as the tree holds them (the same revision)."""
    arguments = {
        item.get("name"): item.get("value")
        for item in ((run.get("spec") or {}).get("arguments") or {}).get("parameters") or []
        if isinstance(item, dict)
    }
    try:
        changed = tuple(json.loads(arguments.get("changed-files") or "[]"))
        diff = json.loads(arguments.get("params-diff") or "{}")
    except (TypeError, ValueError):
        return project
    if not isinstance(diff, dict):
        return project
    return dataclasses.replace(project, commit=str(arguments.get("commit") or ""), changed=changed, params_diff=diff)
