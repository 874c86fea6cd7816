# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A team's ML project through render.yml, as docs/ml.md's "What happens on a commit" tells it: the shipped
example committed to the tenant's folder of the working copy; the render makes its run from the commit; a
re-render changes nothing (changed=0, the same bytes); a commit to params.yaml is a new run carrying the commit,
the files and the hyperparameters' diff (check mode shows it and writes nothing); a commit to serving.yaml only
starts no training; a broken project refuses the render with the file and key named, and nothing is written."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from integration_helpers import REPO, Runner

pytestmark = pytest.mark.slow

EXAMPLE = REPO / "ml" / "examples" / "churn"
EXAMPLE_BUCKET = "demo-datasets"
BUCKET = "vision-data"  # tenant vision's bucket in files/inventories/secrets
GIT = ["git", "-c", "user.name=Team", "-c", "user.email=team@example.internal", "-c", "commit.gpgsign=false"]
PROJECT = Path("tenants/vision/ml/churn")  # the fixture's GitOps path is the repository's top
RUN_FILE = Path("tenants/vision/keelson-ml/churn.yaml")
SERVING_FILE = Path("tenants/vision/keelson/ml.yaml")


def _git(repo: Path, *arguments: str) -> str:
    return subprocess.run([*GIT, "-C", str(repo), *arguments], check=True, capture_output=True, text=True).stdout.strip()


def _commit(repo: Path, message: str) -> str:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file() and ".git" not in path.parts
    }


def _run(repo: Path) -> dict[str, Any]:
    [run] = [document for document in yaml.safe_load_all((repo / RUN_FILE).read_text()) if document and document["kind"] == "Workflow"]
    return run


def _parameters(run: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in run["spec"]["arguments"]["parameters"]}


def _said(result: subprocess.CompletedProcess[str]) -> str:
    return " ".join((result.stdout + result.stderr).split())


def _failed(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout[-4000:] + result.stderr[-2000:]


def test_a_commit_to_a_project_reaches_its_run_through_render(ansible: Runner, tmp_path: Path, inventory: Path, password: Path) -> None:  # noqa: PLR0915 - one user story, step by step
    repo = tmp_path / "gitops"
    subprocess.run([*GIT, "init", "-q", "-b", "main", str(repo)], check=True)
    common = ("-i", str(inventory), f"--vault-password-file={password}")
    render = ("ansible-playbook", "keelson.platform.render", *common, "-e", f"keelson_render_dir={repo}")
    secrets = ansible("ansible-playbook", "keelson.platform.secrets", *common)
    assert secrets.returncode == 0, _failed(secrets)

    # The team commits the example, its bucket made theirs; the render makes the run of that commit.
    shutil.copytree(EXAMPLE, repo / PROJECT)
    for path in (repo / PROJECT).glob("*.yaml"):
        path.write_text(path.read_text().replace(EXAMPLE_BUCKET, BUCKET))
    first_commit = _commit(repo, "churn: first version")
    first = ansible(*render)
    assert first.returncode == 0, _failed(first)
    run = _run(repo)
    assert run["metadata"]["name"].startswith("churn-")
    assert run["metadata"]["namespace"] == "vision"
    assert _parameters(run)["commit"] == first_commit
    assert "params.yaml" in json.loads(_parameters(run)["changed-files"])
    assert json.loads(_parameters(run)["params-diff"]) == {
        name: [None, value] for name, value in yaml.safe_load((EXAMPLE / "params.yaml").read_text()).items()
    }
    assert (repo / PROJECT / "train.py").read_bytes() == (EXAMPLE / "train.py").read_bytes()  # the team's files are read, never written
    serving = yaml.safe_load_all((repo / SERVING_FILE).read_text()) if (repo / SERVING_FILE).exists() else []
    assert not [document for document in serving if document and document["kind"] == "InferenceService"]  # no version named yet
    _commit(repo, "keelson: render")
    tree = _tree(repo)

    # The same files again: changed=0, byte for byte (the run's commit and diff are kept from the tree).
    again = ansible(*render)
    assert again.returncode == 0, _failed(again)
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0", again.stdout), again.stdout[-2000:]
    assert _tree(repo) == tree

    # A commit to params.yaml: check mode shows the new run in place of the old and writes nothing.
    params = repo / PROJECT / "params.yaml"
    old_depth = yaml.safe_load(params.read_text())["max_depth"]
    params.write_text(params.read_text().replace(f"max_depth: {old_depth}", f"max_depth: {old_depth + 2}"))
    commit = _commit(repo, "churn: deeper trees")
    before = _tree(repo)
    preview = ansible(*render, "--check", "--diff")
    assert preview.returncode == 0, _failed(preview)
    assert _tree(repo) == before
    assert f"--- before: {RUN_FILE}" in preview.stdout, preview.stdout[-3000:]
    assert re.search(rf"^-\s+name: {run['metadata']['name']}$", preview.stdout, re.MULTILINE), preview.stdout[-3000:]
    assert re.search(rf"^\+\s+value: {commit}$", preview.stdout, re.MULTILINE), preview.stdout[-3000:]

    # The real run: the new run carries the commit, the file it changed and the hyperparameter it changed.
    changed = ansible(*render)
    assert changed.returncode == 0, _failed(changed)
    new_run = _run(repo)
    assert new_run["metadata"]["name"] != run["metadata"]["name"]
    assert _parameters(new_run)["commit"] == commit
    assert json.loads(_parameters(new_run)["changed-files"]) == ["params.yaml"]
    assert json.loads(_parameters(new_run)["params-diff"]) == {"max_depth": [old_depth, old_depth + 2]}
    _commit(repo, "keelson: render")

    # A commit to serving.yaml only: the model is served, and the run stays the same object (no training).
    (repo / PROJECT / "serving.yaml").write_text(
        yaml.safe_dump(
            {
                **yaml.safe_load((repo / PROJECT / "serving.yaml").read_text()),
                "model_version": 4,
                "storage_uri": f"s3://{BUCKET}/mlflow/1/models/m-4f2a/artifacts",
            }
        )
    )
    _commit(repo, "churn: serve version 4")
    served = ansible(*render)
    assert served.returncode == 0, _failed(served)
    assert _run(repo) == new_run
    [service] = [
        document
        for document in yaml.safe_load_all((repo / SERVING_FILE).read_text())
        if document and document["kind"] == "InferenceService"
    ]
    assert service["metadata"]["name"] == "churn"
    assert service["spec"]["predictor"]["model"]["storageUri"] == f"s3://{BUCKET}/mlflow/1/models/m-4f2a/artifacts"
    _commit(repo, "keelson: render")

    # A broken project: the render refuses, naming the file and the key, and writes nothing.
    data = repo / PROJECT / "data.yaml"
    data.write_text(data.read_text().replace(BUCKET, "nlp-corpora"))  # another tenant's bucket
    _commit(repo, "churn: read nlp's data")
    broken_before = _tree(repo)
    broken = ansible(*render)
    assert broken.returncode != 0
    assert "the tenants' ML projects are invalid" in _said(broken)
    assert f"{PROJECT}/data.yaml: source:" in _said(broken), _said(broken)[-2000:]
    assert "Traceback" not in broken.stdout + broken.stderr
    assert _tree(repo) == broken_before


def test_a_project_rendered_into_a_folder_of_a_working_copy_keeps_its_commit(
    ansible: Runner, tmp_path: Path, inventory: Path, password: Path
) -> None:
    """keelson_render_dir may be a folder inside the repository (one repository, several platforms or other
    content): the run still records the commit and the files it changed, relative to the project."""
    repo = tmp_path / "gitops"
    subprocess.run([*GIT, "init", "-q", "-b", "main", str(repo)], check=True)
    dest = repo / "platforms" / "leakcheck"
    shutil.copytree(EXAMPLE, dest / PROJECT)
    for path in (dest / PROJECT).glob("*.yaml"):
        path.write_text(path.read_text().replace(EXAMPLE_BUCKET, BUCKET))
    commit = _commit(repo, "churn: first version")
    common = ("-i", str(inventory), f"--vault-password-file={password}")
    secrets = ansible("ansible-playbook", "keelson.platform.secrets", *common)
    assert secrets.returncode == 0, _failed(secrets)
    rendered = ansible("ansible-playbook", "keelson.platform.render", *common, "-e", f"keelson_render_dir={dest}")
    assert rendered.returncode == 0, _failed(rendered)
    run = _run(dest)
    assert _parameters(run)["commit"] == commit
    assert json.loads(_parameters(run)["changed-files"]) == sorted(path.name for path in EXAMPLE.iterdir() if path.is_file())
