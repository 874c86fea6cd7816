# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""gitops_repo's working copy on real git repositories: a bare remote in a temporary folder (reached through the
``url`` option), real renders sealed with a real key, other clones that push in between, hooks that refuse."""

from __future__ import annotations

import copy
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from secrets_helpers import decrypt, encrypt
from spec_cases import BASE_NODES, BASE_SPEC

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import KNOWN_HOSTS, WRITE_KEY
from ansible_collections.keelson.platform.plugins.module_utils._spec import validate_platform
from ansible_collections.keelson.platform.plugins.plugin_utils import _git, _render_core
from ansible_collections.keelson.platform.plugins.plugin_utils import _platform_secrets as platform_secrets
from ansible_collections.keelson.platform.plugins.plugin_utils import _sealing_keys as keys
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform
from ansible_collections.keelson.platform.plugins.plugin_utils._render_core import Summary, chart_versions
from ansible_collections.keelson.platform.plugins.plugin_utils._secrets import VaultFileBackend

PLATFORM = BASE_SPEC["name"]
REVIEW = f"keelson/{PLATFORM}"


def git(where: Path, *args: str, env: Optional[dict[str, str]] = None) -> str:
    """git as a test (someone else) runs it: its own identity, nothing of keelson's environment."""
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(where),
        "LC_ALL": "C",
        "GIT_AUTHOR_NAME": "Someone Else",
        "GIT_AUTHOR_EMAIL": "someone@example.internal",
        "GIT_COMMITTER_NAME": "Someone Else",
        "GIT_COMMITTER_EMAIL": "someone@example.internal",
        **(env or {}),
    }
    done = subprocess.run(["git", "-C", str(where), *args], env=environment, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def snapshot(*roots: Path) -> dict[str, bytes]:
    """Every file (and symlink target) below the roots, bytes and mode: to prove nothing was touched."""
    found: dict[str, bytes] = {}
    for root in roots:
        if not root.exists():
            found[str(root)] = b"<missing>"
            continue
        for path in sorted(root.rglob("*")):
            info = path.lstat()
            content = os.readlink(path).encode() if path.is_symlink() else path.read_bytes() if path.is_file() else b"<dir>"
            found[str(path)] = content + f" mode={stat.filemode(info.st_mode)} mtime={info.st_mtime_ns}".encode()
    return found


def normalised(changes: Optional[Callable[[dict[str, Any]], None]] = None, **gitops: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    raw = copy.deepcopy(BASE_SPEC)
    if gitops:
        raw["gitops"] = {"repo": gitops}
    if changes:
        changes(raw)
    validated = validate_platform(raw, copy.deepcopy(BASE_NODES))
    assert validated.nodes is not None
    return validated.spec, validated.nodes


def add_tenant(raw: dict[str, Any]) -> None:
    raw["tenants"].append({"name": "forecasting", "quota": {"cpu": "4"}})


def drop_nlp(raw: dict[str, Any]) -> None:
    raw["tenants"] = [tenant for tenant in raw["tenants"] if tenant["name"] != "nlp"]


def nlp_quota(raw: dict[str, Any]) -> None:
    next(tenant for tenant in raw["tenants"] if tenant["name"] == "nlp")["quota"] = {"pods": 77}


@pytest.fixture(scope="module")
def backend_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A vault_file backend with a real sealing key and digest key (made once: RSA-4096 takes a while)."""
    path = tmp_path_factory.mktemp("backend") / "keelson-secrets.vault.yml"
    backend = VaultFileBackend(str(path), encrypt, decrypt)
    keys.ensure(backend, check_mode=False)
    keys.ensure_digest_key(backend, check_mode=False)
    return path


class World:
    """A bare remote, keelson's runs against it, and other people's clones."""

    def __init__(self, root: Path, backend: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.home.mkdir()
        self.remote = root / "remote.git"
        subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(self.remote)], check=True)
        self.backend_path = root / "keelson-secrets.vault.yml"
        shutil.copy(backend, self.backend_path)
        self.environ = {"PATH": os.environ["PATH"], "HOME": str(self.home)}

    @property
    def cache(self) -> Path:
        return self.home / ".cache" / "keelson" / PLATFORM

    @property
    def workdir(self) -> Path:
        return self.cache / "repo"

    def backend(self, spec: dict[str, Any]) -> VaultFileBackend:
        """The backend with every credential ``spec`` needs (as the secrets playbook leaves it)."""
        backend = VaultFileBackend(str(self.backend_path), encrypt, decrypt)
        platform_secrets.ensure(backend, spec, check_mode=False)
        return backend

    def run(
        self,
        changes: Optional[Callable[[dict[str, Any]], None]] = None,
        *,
        check: bool = False,
        url: Optional[str] = None,
        workdir: Optional[Path] = None,
        spec: Optional[tuple[dict[str, Any], list[dict[str, Any]]]] = None,
        **options: Any,
    ) -> _git.Outcome:
        spec_, nodes = spec or normalised(changes)
        backend = self.backend(spec_) if not check else VaultFileBackend(str(self.backend_path), encrypt, decrypt)
        run_options = _git.Options(workdir=str(workdir) if workdir else None, url=url or str(self.remote), **options)
        _target, outcome, _existed = _git.run(spec_, nodes, backend, run_options, check=check, environ=self.environ)
        return outcome

    def clone(self, name: str) -> Path:
        path = self.root / name
        subprocess.run(["git", "clone", "--quiet", str(self.remote), str(path)], check=True, capture_output=True)
        return path

    def log(self, branch: str = "main") -> list[str]:
        """The remote branch's commits, newest first: 'author: subject'."""
        return git(self.remote, "log", "--format=%an: %s", branch).splitlines()

    def head(self, branch: str = "main") -> Optional[str]:
        done = subprocess.run(
            ["git", "-C", str(self.remote), "rev-parse", "--verify", "--quiet", branch], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() or None

    def push_from_other(self, path: str, text: str, *, branch: str = "main") -> str:
        """Someone else commits a file to the remote branch; returns the new commit."""
        other = self.clone(f"other-{len(list(self.root.glob('other-*')))}")
        git(other, "checkout", "--quiet", branch)
        (other / path).parent.mkdir(parents=True, exist_ok=True)
        (other / path).write_text(text)
        git(other, "add", path)
        git(other, "commit", "--quiet", "-m", f"Edit {path} by hand")
        git(other, "push", "--quiet", "origin", branch)
        return git(other, "rev-parse", "HEAD")

    def before_next_push(self, path: str, text: str, *, append: bool = False) -> None:
        """Someone else pushes a commit right after keelson fetched and before its push lands: a pre-push hook in
        keelson's working copy that runs once (the remote moves in between, for real). It writes ``text`` to
        ``path``, or with ``append`` adds it to the file (a hand edit that keeps keelson's header)."""
        other = self.clone("racer")
        racer = self.root / "racer.py"
        racer.write_text(
            textwrap.dedent(
                f"""\
                import pathlib, subprocess
                other = pathlib.Path({str(other)!r})
                def run(*args):
                    subprocess.run(["git", "-C", str(other), *args], check=True, capture_output=True)
                run("pull", "--quiet", "--ff-only")
                (other / {path!r}).parent.mkdir(parents=True, exist_ok=True)
                target = other / {path!r}
                target.write_text((target.read_text() if {append!r} else "") + {text!r})
                run("add", {path!r})
                run("-c", "user.name=Someone Else", "-c", "user.email=someone@example.internal", "commit", "--quiet", "-m", "Edit {path} by hand")
                run("push", "--quiet", "origin", "main")
                """
            )
        )
        hook = self.workdir / ".git" / "hooks" / "pre-push"
        hook.write_text(
            f"#!/bin/sh\n[ -e {self.root}/raced ] && exit 0\ntouch {self.root}/raced\n"
            f'exec env -i PATH="$PATH" HOME={self.root} {sys.executable} {racer}\n'
        )
        hook.chmod(0o755)


@pytest.fixture
def world(tmp_path: Path, backend_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    here = World(tmp_path, backend_template)
    monkeypatch.setenv("HOME", str(here.home))  # the default working copy and cache are below ~
    yield here


# ------------------------------------------------------------------------------------------- first run, no change


def test_first_run_starts_the_branch_on_an_empty_remote_and_a_rerun_commits_nothing(world: World) -> None:
    first = world.run()
    assert first.changed and first.branch_pushed == "main" and first.merged and not first.pending
    assert first.commit == first.revision == world.head()
    assert world.log() == [f"keelson: Render {PLATFORM}: first render, 15 component(s) and 2 tenant(s)"]
    message = git(world.remote, "log", "-1", "--format=%B")
    assert "Tenants added: nlp, vision" in message and f"Keelson-Platform: {PLATFORM}" in message
    # The author is keelson's own identity (no git configuration in this HOME).
    assert git(world.remote, "log", "-1", "--format=%an <%ae> / %cn <%ce>") == "keelson <keelson@localhost> / keelson <keelson@localhost>"
    assert "tenants/nlp/keelson/quota.yaml" in git(world.remote, "ls-tree", "-r", "--name-only", "main").splitlines()

    again = world.run()
    assert not again.changed and again.message is None and again.branch_pushed is None
    assert again.commit == first.commit and world.head() == first.commit and len(world.log()) == 1
    assert not again.rendered.plan.changed


def test_the_default_working_copy_is_in_the_cache_and_nothing_is_left_there_but_it(world: World) -> None:
    world.run()
    assert (world.workdir / ".git").is_dir()
    assert sorted(path.name for path in world.cache.iterdir()) == ["repo"]  # no key or known_hosts file left behind
    assert git(world.workdir, "status", "--porcelain") == ""


# ------------------------------------------------------------------------------------------- what a commit says


@pytest.mark.parametrize(
    ("changes", "subject", "line"),
    [
        (add_tenant, "add tenant forecasting", "Tenants added: forecasting"),
        (drop_nlp, "remove tenant nlp", "Tenants removed: nlp"),
        (nlp_quota, "update nlp", "Tenants changed: nlp"),
    ],
    ids=["tenant-added", "tenant-removed", "tenant-changed"],
)
def test_a_change_makes_exactly_one_commit_that_says_what_changed(
    world: World, changes: Callable[[dict[str, Any]], None], subject: str, line: str
) -> None:
    first = world.run()
    outcome = world.run(changes)
    assert outcome.changed and outcome.branch_pushed == "main" and outcome.commit == world.head()
    log = world.log()
    assert len(log) == 2 and log[0].startswith(f"keelson: Render {PLATFORM}: {subject}")
    assert git(world.remote, "rev-parse", "main^") == first.commit
    message = git(world.remote, "log", "-1", "--format=%B")
    assert line in message and outcome.message is not None and outcome.message.strip() == message.strip()
    # The commit holds exactly the render's files.
    changed = git(world.remote, "diff", "--name-only", "--no-renames", "main^", "main").splitlines()
    assert sorted(changed) == sorted({*outcome.rendered.plan.write, *outcome.rendered.plan.remove})


@pytest.mark.parametrize("engine", ["argocd", "flux"])
def test_a_chart_version_bump_is_named_with_old_and_new_version(world: World, monkeypatch: pytest.MonkeyPatch, engine: str) -> None:
    def engine_only(raw: dict[str, Any]) -> None:
        raw["gitops"] = {"engine": engine}

    world.run(engine_only)
    old = CATALOG["components"]["minio"]["chart"]["version"]
    monkeypatch.setitem(CATALOG["components"]["minio"]["chart"], "version", "99.1.0")
    outcome = world.run(engine_only)
    assert world.log()[0] == f"keelson: Render {PLATFORM}: chart minio {old} -> 99.1.0"
    message = git(world.remote, "log", "-1", "--format=%B")
    assert f"Chart versions: minio {old} -> 99.1.0" in message
    assert "Components changed: minio\n" in message
    assert all("/minio/" in path or path.endswith("minio.yaml") for path in outcome.rendered.plan.write)


def test_chart_versions_are_read_from_every_kind_that_installs_a_chart() -> None:
    argo = "kind: Application\nmetadata: {name: monitoring}\nspec:\n  sources:\n  - {chart: kube-prometheus-stack, targetRevision: 1.2.3}\n  - {path: x}\n"
    helm = "kind: HelmRelease\nmetadata: {name: minio}\nspec: {chart: {spec: {chart: minio, version: 5.4.0}}}\n"
    oci = (
        "kind: OCIRepository\nmetadata: {name: flux-operator}\nspec:\n  url: oci://ghcr.io/x/charts/flux-operator\n  ref: {tag: 0.49.0}\n"
        "  layerSelector: {mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip}\n"
    )
    other = "kind: ConfigMap\nmetadata: {name: chart}\ndata: {chart: nope}\n"
    assert chart_versions([argo, helm, oci, other, "{broken"]) == {
        ("monitoring", "kube-prometheus-stack"): "1.2.3",
        ("minio", "minio"): "5.4.0",
        ("flux-operator", "flux-operator"): "0.49.0",
    }


def test_a_long_subject_is_cut_between_names() -> None:
    summary = Summary(tenants_added=tuple(f"team-{index}" for index in range(20)))
    subject = _git.commit_message(PLATFORM, summary, 40, 0).split("\n", 1)[0]
    assert len(subject) <= 72 and subject.endswith(" ...") and subject.startswith(f"Render {PLATFORM}: add tenant team-0; ")
    assert "; add tenant team-" in subject and not subject[:-4].endswith((";", ","))


# ------------------------------------------------------------------------------------------- the remote moves


def test_a_commit_pushed_in_between_is_kept_and_keelsons_is_replayed_on_top(world: World) -> None:
    world.run()
    world.before_next_push("NOTES.md", "ours\n")
    outcome = world.run(add_tenant)
    assert (world.root / "raced").exists(), "the other push did not happen in between"
    log = world.log()
    assert len(log) == 3 and log[0].startswith(f"keelson: Render {PLATFORM}: add tenant forecasting")
    assert log[1:] == ["Someone Else: Edit NOTES.md by hand", f"keelson: Render {PLATFORM}: first render, 15 component(s) and 2 tenant(s)"]
    assert outcome.commit == world.head() and outcome.branch_pushed == "main"
    tree = git(world.remote, "ls-tree", "-r", "--name-only", "main").splitlines()
    assert "NOTES.md" in tree and "tenants/forecasting/keelson/quota.yaml" in tree


def test_a_commit_an_earlier_run_could_not_push_is_replayed_on_the_remote_and_pushed(world: World) -> None:
    world.run()
    hook = world.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch: main' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(_git.GitError, match=r"was refused: .*protected branch.*set gitops.repo.mode: pull_request") as refused:
        world.run(add_tenant)
    assert "keelson's commit is kept" in str(refused.value)
    kept = git(world.workdir, "rev-parse", "HEAD")
    assert git(world.workdir, "log", "-1", "--format=%s", kept).startswith(f"Render {PLATFORM}: add tenant forecasting")
    hook.unlink()
    world.push_from_other("NOTES.md", "ours\n")
    outcome = world.run(add_tenant)  # the same spec: nothing new to commit, the old commit goes on top
    assert outcome.changed and outcome.message is None and outcome.branch_pushed == "main"
    log = world.log()
    assert log[0].startswith(f"keelson: Render {PLATFORM}: add tenant forecasting") and log[1] == "Someone Else: Edit NOTES.md by hand"
    assert outcome.commit == world.head() != kept  # replayed: a new commit on top of the other one


def test_a_conflicting_edit_pushed_in_between_stops_with_the_files_and_keeps_keelsons_commit(world: World) -> None:
    world.run()
    quota = "tenants/nlp/keelson/quota.yaml"
    world.before_next_push(quota, "# edited by hand\n")
    with pytest.raises(_git.GitError) as stopped:
        world.run(nlp_quota)
    said = str(stopped.value)
    assert f"conflicts with the remote's newer commits in {quota}" in said
    assert "Nothing was pushed; keelson's commit is kept" in said and "reset --hard refs/keelson/remote/main" in said
    # The remote holds the other commit only; keelson's commit is the working copy's head, not rebased, clean.
    assert world.log()[0] == f"Someone Else: Edit {quota} by hand" and len(world.log()) == 2
    assert git(world.workdir, "log", "-1", "--format=%s") == f"Render {PLATFORM}: update nlp"
    assert git(world.workdir, "rev-parse", "HEAD^") == git(world.remote, "rev-parse", "main^")
    assert git(world.workdir, "status", "--porcelain") == ""
    assert not (world.workdir / ".git" / "rebase-merge").exists()
    # Run again: the same stop (the commit is still there), nothing lost, nothing pushed.
    with pytest.raises(_git.GitError, match="conflicts with the remote's newer commits"):
        world.run(nlp_quota)
    assert world.log()[0] == f"Someone Else: Edit {quota} by hand"


def test_the_remote_moving_with_an_edit_of_a_generated_file_that_does_not_conflict_is_not_pushed_over(world: World) -> None:
    world.run()
    world.before_next_push("tenants/vision/keelson/quota.yaml", "# edited by hand\n", append=True)
    with pytest.raises(
        _git.GitError,
        match=r"change files keelson generates \(tenants/vision/keelson/quota.yaml\).*no longer matches the render.*Run again",
    ):
        world.run(nlp_quota)
    assert world.log()[0] == "Someone Else: Edit tenants/vision/keelson/quota.yaml by hand"
    # The next run renders on top of the edit (generated files are the render's) and pushes both commits.
    outcome = world.run(nlp_quota)
    assert outcome.changed and [line.split(": ", 1)[0] for line in world.log()[:3]] == ["keelson", "keelson", "Someone Else"]


# ------------------------------------------------------------------------------------------- check mode


def test_check_mode_touches_nothing_and_shows_the_diff(world: World) -> None:
    first = world.run()
    before = snapshot(world.workdir, world.remote, world.cache, world.backend_path)
    preview = world.run(add_tenant, check=True)
    assert snapshot(world.workdir, world.remote, world.cache, world.backend_path) == before
    assert preview.changed and preview.would_push and preview.branch_pushed is None
    assert preview.commit == first.commit == preview.revision
    assert preview.message is not None and preview.message.startswith(f"Render {PLATFORM}: add tenant forecasting")
    diffs = {diff["after_header"]: diff for diff in preview.rendered.plan.diffs()}
    assert diffs["tenants/forecasting/keelson/quota.yaml"]["before_header"] == "/dev/null"
    assert "kind: ResourceQuota" in diffs["tenants/forecasting/keelson/quota.yaml"]["after"]
    assert len(world.log()) == 1


def test_check_mode_never_reaches_the_remote(world: World) -> None:
    world.run()
    preview = world.run(nlp_quota, check=True, url=str(world.root / "nowhere.git"))
    assert preview.changed and preview.message is not None and "update nlp" in preview.message
    same = world.run(check=True, url="ssh://git@unreachable.invalid/srv/git/x.git")
    assert not same.changed and same.message is None and not same.would_push


def test_check_mode_without_a_working_copy_renders_everything_as_new_and_creates_nothing(world: World) -> None:
    preview = world.run(check=True)
    assert preview.changed and preview.commit is None and preview.revision is None
    assert preview.message is not None and "first render" in preview.message
    assert preview.rendered.plan.write and not preview.rendered.plan.unchanged
    assert not (world.home / ".cache").exists() and world.head() is None


def test_check_mode_shows_a_commit_waiting_to_be_pushed(world: World) -> None:
    world.run()
    hook = world.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(_git.GitError, match="was refused"):
        world.run(add_tenant)
    preview = world.run(add_tenant, check=True)
    assert preview.changed and preview.would_push and preview.message is None


# ------------------------------------------------------------------------------------------- pull_request mode


def pull_requests(raw: dict[str, Any]) -> None:
    raw["gitops"] = {"repo": {"mode": "pull_request"}}


def test_pull_request_mode_pushes_the_review_branch_and_leaves_main_alone(world: World) -> None:
    first = world.run()

    def proposal(raw: dict[str, Any]) -> None:
        pull_requests(raw)
        add_tenant(raw)

    outcome = world.run(proposal)
    assert outcome.changed and outcome.branch_pushed == REVIEW and not outcome.merged and outcome.pending
    assert world.head() == first.commit == outcome.revision  # main did not move: the cluster runs what it ran
    assert world.head(REVIEW) == outcome.commit and git(world.remote, "rev-parse", f"{REVIEW}^") == first.commit
    assert world.log(REVIEW)[0].startswith(f"keelson: Render {PLATFORM}: add tenant forecasting")

    # Nothing new: nothing pushed, the proposal is still open.
    again = world.run(proposal)
    assert not again.changed and again.branch_pushed is None and not again.merged and again.commit == outcome.commit
    assert again.pending and world.run(proposal, check=True).pending

    # A further change while the proposal is open extends it (never rewrites it).
    def more(raw: dict[str, Any]) -> None:
        proposal(raw)
        nlp_quota(raw)

    extended = world.run(more)
    assert extended.branch_pushed == REVIEW and git(world.remote, "rev-parse", f"{REVIEW}^") == outcome.commit
    assert world.head() == first.commit

    # Someone merges it: the next run has nothing to do, and says it is merged.
    merger = world.clone("merger")
    git(merger, "merge", "--quiet", "--ff-only", f"origin/{REVIEW}")
    git(merger, "push", "--quiet", "origin", "main")
    merged = world.run(more)
    assert not merged.changed and merged.merged and not merged.pending and merged.commit == world.head() == extended.commit


def test_pull_request_mode_on_top_of_a_moved_main_after_the_merge(world: World) -> None:
    world.run()
    world.run(lambda raw: (pull_requests(raw), add_tenant(raw)))
    merger = world.clone("merger")
    git(merger, "merge", "--quiet", "--no-ff", "-m", "Merge the proposal", f"origin/{REVIEW}")
    git(merger, "push", "--quiet", "origin", "main")
    main = world.head()
    outcome = world.run(lambda raw: (pull_requests(raw), add_tenant(raw), nlp_quota(raw)))
    assert outcome.branch_pushed == REVIEW and git(world.remote, "rev-parse", f"{REVIEW}^") == main == world.head()


# ------------------------------------------------------------------------------------------- refusals


def test_a_user_working_copy_with_uncommitted_changes_is_refused(world: World) -> None:
    world.run()
    mine = world.clone("mine")
    (mine / "tenants" / "nlp" / "apps" / "deployment.yaml").write_text("kind: Deployment\n")
    before, remote = snapshot(mine), world.head()
    with pytest.raises(_git.GitError, match=r"has uncommitted changes \(tenants/nlp/apps/deployment.yaml\); nothing was changed"):
        world.run(add_tenant, workdir=mine)
    assert snapshot(mine) == before and world.head() == remote
    with pytest.raises(_git.GitError, match="has uncommitted changes"):
        world.run(add_tenant, workdir=mine, check=True)


def test_a_user_working_copy_on_another_branch_or_with_commits_of_its_own_is_refused(world: World) -> None:
    world.run()
    mine = world.clone("mine")
    git(mine, "switch", "--quiet", "-c", "experiment")
    with pytest.raises(_git.GitError, match=r"is on branch experiment, not on main .*git -C .* switch main"):
        world.run(workdir=mine)
    git(mine, "switch", "--quiet", "main")
    (mine / "NOTES.md").write_text("mine\n")
    git(mine, "add", "NOTES.md")
    git(mine, "commit", "--quiet", "-m", "My own note")
    with pytest.raises(_git.GitError, match=r"1 commit\(s\) that are not on the remote and are not keelson's \([0-9a-f]+ My own note\)"):
        world.run(add_tenant, workdir=mine)
    assert len(world.log()) == 1


def test_a_user_working_copy_that_is_clean_is_used_and_keeps_its_remotes(world: World) -> None:
    world.run()
    mine = world.clone("mine")
    outcome = world.run(add_tenant, workdir=mine)
    assert outcome.branch_pushed == "main" and world.head() == outcome.commit == git(mine, "rev-parse", "HEAD")
    assert git(mine, "remote") == "origin" and not (world.home / ".cache" / "keelson" / PLATFORM / "repo" / "x").exists()


def test_keelsons_own_working_copy_drops_what_an_interrupted_run_left(world: World) -> None:
    world.run()
    (world.workdir / "tenants" / "nlp" / "keelson" / "quota.yaml").write_text("# half written\n")
    (world.workdir / "stray.yaml").write_text("x: 1\n")
    outcome = world.run()
    assert not outcome.changed and any("discarded uncommitted changes" in note for note in outcome.notes)
    assert git(world.workdir, "status", "--porcelain") == ""


def test_a_folder_with_files_that_is_no_working_copy_is_refused(world: World) -> None:
    folder = world.root / "plain"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine\n")
    with pytest.raises(_git.GitError, match="is not a Git working copy, and not empty"):
        world.run(workdir=folder)
    with pytest.raises(_git.GitError, match="is not a Git working copy, and not empty"):
        world.run(workdir=folder, check=True)
    assert sorted(path.name for path in folder.iterdir()) == ["notes.txt"]


# ------------------------------------------------------------------------------------------- identity


@pytest.mark.parametrize(
    ("config", "options", "expected"),
    [
        (None, {}, "keelson <keelson@localhost>"),
        ("[user]\n\tname = Ada Ops\n\temail = ada@example.internal\n", {}, "Ada Ops <ada@example.internal>"),
        ("[user]\n\tname = Ada Ops\n", {"author_email": "ci@example.internal"}, "Ada Ops <ci@example.internal>"),
        (None, {"author_name": "Release Bot", "author_email": "bot@example.internal"}, "Release Bot <bot@example.internal>"),
    ],
    ids=["default", "git-config", "config-and-option", "options"],
)
def test_the_commit_identity(world: World, config: Optional[str], options: dict[str, str], expected: str) -> None:
    if config:
        (world.home / ".gitconfig").write_text(config)
    world.run(**options)
    assert git(world.remote, "log", "-1", "--format=%an <%ae>|%cn <%ce>") == f"{expected}|{expected}"


# ------------------------------------------------------------------------------------------- transport


@pytest.mark.parametrize(
    ("url", "kind", "host"),
    [
        ("/srv/git/x.git", "local", None),
        ("file:///srv/git/x.git", "local", None),
        ("relative/x.git", "local", None),
        ("ssh://git@10.0.0.1:2222/srv/git/x.git", "ssh", "10.0.0.1"),
        ("git@gitlab.example.internal:platform/ml-prod.git", "ssh", "gitlab.example.internal"),
        ("https://git.example.internal/platform/ml-prod.git", "https", None),
    ],
)
def test_url_kinds(url: str, kind: str, host: Optional[str]) -> None:
    assert _git.url_kind(url) == kind
    if kind == "ssh":
        assert _git.url_host(url) == host


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("ssh://git@10.0.0.1/srv/git/x.git", "10.0.0.1"),
        ("ssh://git@10.0.0.1:22/srv/git/x.git", "10.0.0.1"),
        ("ssh://git@localhost:2222/srv/git/x.git", "[localhost]:2222"),
        ("git@gitlab.example.internal:platform/ml-prod.git", "gitlab.example.internal"),
    ],
)
def test_host_keys_are_looked_up_under_the_name_ssh_uses(url: str, name: str) -> None:
    assert _git.known_hosts_name(url) == name


def test_a_port_forward_to_the_embedded_server_checks_the_keys_pinned_for_the_cluster_address(world: World) -> None:
    spec, nodes = normalised()
    pinned = "192.168.10.11 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    backend = world.backend(spec)
    backend.put(KNOWN_HOSTS, pinned + "\n")
    inputs = _render_core.read_inputs(backend, spec, check=False)
    model = Platform(spec, nodes)
    forwarded = _git.credentials_for(model, "ssh://git@localhost:2222/srv/git/ml-prod.git", inputs)
    assert forwarded.host_key_alias == "192.168.10.11" and forwarded.known_hosts == (pinned,) and forwarded.key == inputs.write_key
    direct = _git.credentials_for(model, model.repo_url, inputs)
    assert direct.host_key_alias is None and direct.known_hosts == (pinned,)


@pytest.mark.parametrize(
    ("said", "hint"),
    [
        ("Host key verification failed.", "not one keelson trusts"),
        ("git@server: Permission denied (publickey).", "refused the SSH key"),
        ("ssh: Could not resolve hostname nowhere.invalid: Name or service not known", "cannot be reached from this machine"),
        ("fatal: could not read Username for 'https://git.example.internal': terminal prompts disabled", "credential helper"),
        ("SSL certificate problem: unable to get local issuer certificate", "gitops.repo.ca_cert"),
        ("sh: 1: ssh: not found", "ssh is not installed"),
        ("fatal: '/srv/x.git' does not appear to be a git repository", "there is no repository at that URL"),
    ],
)
def test_network_failures_come_with_what_to_do(said: str, hint: str) -> None:
    found = _git.network_hint(said)
    assert found is not None and hint in found


def test_an_unreachable_remote_is_a_plain_message(world: World) -> None:
    with pytest.raises(
        _git.GitError,
        match=r"git ls-remote failed \(list the branches of .*nowhere.git\): .*does not appear to be a git repository.*there is no repository at that URL",
    ):
        world.run(url=str(world.root / "nowhere.git"))


@pytest.mark.parametrize("said", ["git version 2.29.0", "git version 2.39.5", "git version 3.0.1.windows.1"])
def test_a_recent_git_is_taken(said: str) -> None:
    _git.check_version(said)


@pytest.mark.parametrize("said", ["git version 2.25.1", "git version 1.8.3.1", ""])
def test_an_old_git_is_refused(said: str) -> None:
    with pytest.raises(_git.GitError, match=r"keelson needs git 2.29 or later on the controller"):
        _git.check_version(said)


def test_git_runs_in_a_minimal_environment() -> None:
    env = _git.environment(
        {"PATH": "/usr/bin", "HOME": "/home/ops", "GIT_DIR": "/elsewhere", "AWS_SECRET_ACCESS_KEY": "x", "SSH_AUTH_SOCK": "/run/a"}
    )
    assert env["LC_ALL"] == "C" and env["GIT_TERMINAL_PROMPT"] == "0" and env["SSH_AUTH_SOCK"] == "/run/a"
    assert "GIT_DIR" not in env and "AWS_SECRET_ACCESS_KEY" not in env


FAKE_SSH = """\
#!{python}
# TEST DOUBLE of ssh: records its arguments and the key and known_hosts files it is given, then runs the git
# command it was asked to run on the "server" locally (the remote's path is local). It proves what keelson
# hands ssh, not that ssh accepts it.
import json, os, stat, subprocess, sys
args = sys.argv[1:]
def option(name):
    return [a.split("=", 1)[1] for a in args if a.startswith(name + "=")]
key = args[args.index("-i") + 1] if "-i" in args else None
known = option("UserKnownHostsFile")
record = {{
    "args": args,
    "key": open(key).read() if key else None,
    "key_mode": oct(stat.S_IMODE(os.stat(key).st_mode)) if key else None,
    "key_path": key,
    "known_hosts": open(known[0]).read() if known else None,
    "known_mode": oct(stat.S_IMODE(os.stat(known[0]).st_mode)) if known else None,
}}
with open({log!r}, "a") as log:
    log.write(json.dumps(record) + "\\n")
if os.path.exists({log!r} + ".fail"):
    sys.stderr.write("git@server: Permission denied (publickey).\\n")
    sys.exit(255)
sys.exit(subprocess.call(["sh", "-c", args[-1]]))
"""


def test_the_embedded_server_is_reached_with_the_write_key_and_exactly_the_pinned_host_keys(world: World) -> None:
    bin_dir, log = world.root / "bin", world.root / "ssh.log"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(FAKE_SSH.format(python=sys.executable, log=str(log)))
    (bin_dir / "ssh").chmod(0o755)
    world.environ["PATH"] = f"{bin_dir}:{world.environ['PATH']}"
    spec, _nodes = normalised()
    backend = world.backend(spec)
    pinned = "192.168.10.11 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    backend.put(KNOWN_HOSTS, pinned + "\n")
    write_key = backend.get(WRITE_KEY)
    assert write_key and "OPENSSH PRIVATE KEY" in write_key
    url = f"ssh://git@server.example.internal{world.remote}"

    outcome = world.run(url=url)
    assert outcome.branch_pushed == "main" and world.head() == outcome.commit
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 2  # list the branches, push (nothing to fetch from an empty remote)
    for record in records:
        args = record["args"]
        for option in ("BatchMode=yes", "StrictHostKeyChecking=yes", "IdentitiesOnly=yes", "GlobalKnownHostsFile=/dev/null"):
            assert option in args
        # The keys were pinned under the address the cluster uses (the first server); Ansible came another way.
        assert "HostKeyAlias=192.168.10.11" in args
        assert record["key"].strip() == write_key.strip() and record["key_mode"] == "0o600"
        assert record["known_hosts"] == pinned + "\n" and record["known_mode"] == "0o600"
        assert Path(record["key_path"]).parent.parent == world.cache and not Path(record["key_path"]).exists()
    assert sorted(path.name for path in world.cache.iterdir()) == ["repo"]

    Path(f"{log}.fail").touch()
    with pytest.raises(_git.GitError, match=r"Permission denied \(publickey\).*gitops-write-key") as refused:
        world.run(add_tenant, url=url)
    assert write_key.splitlines()[1] not in str(refused.value)
    assert sorted(path.name for path in world.cache.iterdir()) == ["repo"]


def test_the_embedded_server_without_pinned_host_keys_is_not_trusted(world: World) -> None:
    with pytest.raises(_git.GitError, match=r"host keys are not pinned in the secrets backend yet \(gitops-known-hosts\): run site.yml"):
        world.run(url="ssh://git@192.168.10.11/srv/git/ml-prod.git")
    assert world.head() is None


def test_an_external_ssh_repository_uses_the_users_own_key_and_the_specs_host_keys(world: World) -> None:
    host_key = "gitlab.example.internal ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    spec, nodes = normalised(url="git@gitlab.example.internal:platform/ml-prod.git", known_hosts=[host_key])
    inputs = _render_core.read_inputs(world.backend(spec), spec, check=False)
    credentials = _git.credentials_for(Platform(spec, nodes), "git@gitlab.example.internal:platform/ml-prod.git", inputs)
    assert credentials == _git.Credentials(key=None, known_hosts=(host_key,), host_key_alias=None)
    https, _nodes = normalised(url="https://git.example.internal/platform/ml-prod.git", ca_cert=None)
    assert _git.credentials_for(Platform(https, nodes), "https://git.example.internal/platform/ml-prod.git", inputs) == _git.Credentials()


def test_a_url_with_credentials_is_refused(world: World) -> None:
    with pytest.raises(_git.GitError, match="never takes credentials in a URL"):
        world.run(url="https://ops:token@git.example.internal/platform/ml-prod.git")
