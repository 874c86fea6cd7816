# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""keelson.platform.gitops_repo through ansible-playbook, as a play runs it: check mode first (nothing touched),
a real push to a local bare repository, the result read back out of band, a no-op re-run, a spec change that
makes exactly one commit, and a refusal that reaches the user as a plain message."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from integration_helpers import REPO, Runner

pytestmark = pytest.mark.slow
PLAYBOOK = REPO / "tests" / "integration" / "files" / "gitops_repo.yml"


def _git(where: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, check=True).stdout.strip()


def _result(path: Path) -> dict[str, Any]:
    """The task's result, as the playbook wrote it; read once (the next run writes it again)."""
    result = dict(json.loads(path.read_text()))
    path.unlink()
    return result


def _files(root: Path) -> dict[str, bytes]:
    return {str(path): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()} if root.exists() else {}


def _failed(run: subprocess.CompletedProcess[str]) -> str:
    return run.stdout[-4000:] + run.stderr[-2000:]


def test_push_check_apply_rerun_change(ansible: Runner, tmp_path: Path, inventory: Path, password: Path) -> None:  # noqa: PLR0915 - one user story, step by step
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(remote)], check=True)
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home)}
    common = ("-i", str(inventory), f"--vault-password-file={password}")
    result = tmp_path / "result.json"
    push = ("ansible-playbook", str(PLAYBOOK), *common, "-e", f"gitops_test_url={remote}", "-e", f"gitops_test_result={result}")
    workdir = home / ".cache" / "keelson" / "leakcheck" / "repo"

    secrets = ansible("ansible-playbook", "keelson.platform.secrets", *common, env=env)
    assert secrets.returncode == 0, _failed(secrets)

    # Check mode before anything exists: everything is new, and nothing is made (no working copy, no commit).
    preview = ansible(*push, "--check", "--diff", env=env)
    assert preview.returncode == 0, _failed(preview)
    planned = _result(result)
    assert planned["changed"] and planned["commit"] is None and planned["branch_pushed"] is None
    assert "no working copy at" in planned["msg"] and "everything is new" in planned["msg"]
    assert "+++ after: tenants/nlp/keelson/quota.yaml" in preview.stdout
    assert not workdir.exists() and _git(remote, "for-each-ref") == ""

    # The real run: one commit on the remote, in keelson's working copy below ~/.cache.
    first = ansible(*push, env=env)
    assert first.returncode == 0, _failed(first)
    pushed = _result(result)
    assert pushed["changed"] and pushed["branch_pushed"] == "main" and pushed["merged"] and not pushed["pending"]
    assert pushed["commit"] == pushed["revision"] == _git(remote, "rev-parse", "main")
    assert pushed["workdir"] == str(workdir) and (workdir / ".git").is_dir()
    assert (
        _git(remote, "log", "--format=%an <%ae>|%s", "main")
        == "keelson <keelson@localhost>|Render leakcheck: first render, 14 component(s) and 2 tenant(s)"
    )
    # Out of band: a fresh clone holds the tree, sealed; no credential of the backend is in it or in the log.
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(remote), str(clone)], check=True)
    assert (clone / "tenants" / "vision" / "keelson" / "quota.yaml").is_file()
    view = ansible("ansible-vault", "view", str(inventory / ".keelson-secrets.vault.yml"), f"--vault-password-file={password}")
    values = [str(value) for value in yaml.safe_load(view.stdout).values()]
    tree = b"".join(_files(clone).values())
    for value in values:
        assert value.encode() not in tree and value not in first.stdout + first.stderr

    # Again: nothing to commit, changed=0.
    second = ansible(*push, env=env)
    assert second.returncode == 0, _failed(second)
    assert re.search(r"TASK \[Render, commit and push when the content changed\] \**\nok: \[localhost\]", second.stdout), second.stdout[
        -2000:
    ]
    again = _result(result)
    assert not again["changed"] and "nothing to commit" in again["msg"] and _git(remote, "rev-list", "--count", "main") == "1"

    # nlp leaves the spec: check mode says so and touches nothing; the real run makes exactly one commit.
    spec_file = inventory / "group_vars" / "all" / "keelson.yml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["keelson_platform"]["tenants"] = [tenant for tenant in spec["keelson_platform"]["tenants"] if tenant["name"] != "nlp"]
    spec_file.write_text(yaml.safe_dump(spec))
    before = {**_files(workdir), **_files(remote), **_files(home / ".cache")}
    dry = ansible(*push, "--check", "--diff", env=env)
    assert dry.returncode == 0, _failed(dry)
    assert {**_files(workdir), **_files(remote), **_files(home / ".cache")} == before
    assert "--- before: tenants/nlp/keelson/quota.yaml" in dry.stdout
    planned = _result(result)
    assert "would commit" in planned["msg"] and "remove tenant nlp" in planned["msg"]
    third = ansible(*push, env=env)
    assert third.returncode == 0, _failed(third)
    changed = _result(result)
    assert changed["changed"] and changed["message"].startswith("Render leakcheck: remove tenant nlp")
    assert "Tenants removed: nlp" in changed["message"] and "tenants/nlp/keelson/quota.yaml" in changed["removed"]
    assert _git(remote, "rev-list", "--count", "main") == "2" and _git(remote, "rev-parse", "main") == changed["commit"]
    assert "tenant nlp left the spec" in third.stdout + third.stderr


def test_a_dirty_working_copy_is_refused_with_a_message(ansible: Runner, tmp_path: Path, inventory: Path, password: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(remote)], check=True)
    mine = tmp_path / "mine"
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(mine)], check=True)
    (mine / "draft.yaml").write_text("x: 1\n")
    common = ("-i", str(inventory), f"--vault-password-file={password}")
    secrets = ansible("ansible-playbook", "keelson.platform.secrets", *common, env={"HOME": str(tmp_path)})
    assert secrets.returncode == 0, _failed(secrets)
    refused = ansible(
        "ansible-playbook",
        str(PLAYBOOK),
        *common,
        *("-e", f"gitops_test_url={remote}", "-e", f"gitops_test_workdir={mine}", "-e", f"gitops_test_result={tmp_path / 'result.json'}"),
        env={"HOME": str(tmp_path)},
    )
    assert refused.returncode != 0
    said = " ".join((refused.stdout + refused.stderr).split())
    assert f"{mine}: has uncommitted changes (draft.yaml); nothing was changed" in said
    assert "Traceback" not in said
    assert _git(remote, "for-each-ref") == "" and (mine / "draft.yaml").read_text() == "x: 1\n"
