# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The GitOps repository's working copy: fetch, bring the branch to the remote, render, commit, push.

git runs as a subprocess with an explicit, minimal environment (``LC_ALL=C``, no prompts, no editor), never
through a library; every failure becomes a :class:`GitError` that says what failed and what to do.

The remote is always named by its URL (never a configured remote): keelson fetches the branches it works with
into ``refs/keelson/remote/`` of the working copy, so a user's own clone keeps its remotes and tracking branches.
keelson's commits carry a ``Keelson-Platform: <name>`` trailer; only such commits are ever replayed (rebased) onto
the remote, and nothing is ever force-pushed, so no commit that is on the remote is dropped or rewritten.

SSH credentials (the embedded server's write key, the pinned host keys) and an https CA live, mode 0600, in a
folder of their own under the cache folder for one run, and are removed after it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Callable, Final, Optional
from urllib.parse import urlsplit

from ansible_collections.keelson.platform.plugins.module_utils._formats import check_repo_url
from ansible_collections.keelson.platform.plugins.module_utils._gitops import known_hosts_host, ssh_endpoint
from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.plugin_utils import _render_core
from ansible_collections.keelson.platform.plugins.plugin_utils._files import describe_os_error, write_atomic
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform
from ansible_collections.keelson.platform.plugins.plugin_utils._render_core import Inputs, Rendered, Summary
from ansible_collections.keelson.platform.plugins.plugin_utils._secrets import Backend

TRAILER: Final = "Keelson-Platform"
DEFAULT_NAME: Final = "keelson"
DEFAULT_EMAIL: Final = "keelson@localhost"
TRACKING: Final = "refs/keelson/remote/"  # where the remote's branches are fetched to, in the working copy
ATTEMPTS: Final = 3  # pushes tried while the remote keeps moving
NETWORK_TIMEOUT: Final = 300  # seconds for one fetch or push
LOCAL_TIMEOUT: Final = 120
_SUBJECT_LENGTH: Final = 72
MINIMUM_GIT: Final = (2, 29)  # --no-write-fetch-head (2.29), --initial-branch (2.28), rebase --empty (2.26)
# What git and ssh are given from the controller's environment (nothing else reaches them).
_PASSED: Final = (
    "PATH",
    "HOME",
    "TMPDIR",
    "XDG_CONFIG_HOME",
    "SSH_AUTH_SOCK",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
)
# Settings every git command runs with, whatever the user's configuration says: the tree's bytes as rendered,
# no recorded conflict resolutions applied behind keelson's back.
_CONFIG: Final = (("core.autocrlf", "false"), ("rerere.enabled", "false"), ("advice.detachedHead", "false"))


class GitError(KeelsonError):
    """A git step failed; the message says which, why, and what to do."""


def cache_dir(platform: str) -> str:
    """keelson's cache folder for a platform: ``~/.cache/keelson/<platform>``."""
    return os.path.join(os.path.expanduser("~"), ".cache", "keelson", platform)


def default_workdir(platform: str) -> str:
    """The working copy keelson keeps (and owns) when none is given: ``~/.cache/keelson/<platform>/repo``."""
    return os.path.join(cache_dir(platform), "repo")


def review_branch(platform: str) -> str:
    """The branch ``mode: pull_request`` pushes to, for the user to merge."""
    return f"keelson/{platform}"


def url_kind(url: str) -> str:
    """``ssh``, ``https`` (also plain http), or ``local`` (a path or file:// URL) for a Git URL."""
    if "://" in url:
        scheme = url.split("://", 1)[0].lower()
        kinds = {"ssh": "ssh", "git+ssh": "ssh", "ssh+git": "ssh", "https": "https", "http": "https", "file": "local"}
        if scheme not in kinds:
            raise GitError(f"{url}: keelson pushes over ssh or https, or to a local path; not over {scheme}://")
        return kinds[scheme]
    if url.startswith(("/", "./", "../", "~")) or ":" not in url.split("/", 1)[0]:
        return "local"
    return "ssh"  # user@host:path


def url_host(url: str) -> Optional[str]:
    """The host of an ssh URL (``ssh://user@host:port/path`` or ``user@host:path``)."""
    if "://" in url:
        return urlsplit(url).hostname
    return url.split(":", 1)[0].rsplit("@", 1)[-1] or None


def known_hosts_name(url: str) -> Optional[str]:
    """The name ssh looks an ssh URL's host key up under in known_hosts: ``host``, or ``[host]:port`` off port 22."""
    try:
        return known_hosts_host(*ssh_endpoint(url))
    except ValueError:  # not an ssh URL (a local path, https)
        return None


def environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The minimal environment every git command runs in."""
    env = {name: environ[name] for name in _PASSED if environ.get(name)}
    env.setdefault("PATH", os.defpath)
    env.update(
        LC_ALL="C",
        LANGUAGE="C",
        GIT_TERMINAL_PROMPT="0",  # no password prompt: a missing credential fails
        GCM_INTERACTIVE="never",
        GIT_EDITOR="true",
        GIT_MERGE_AUTOEDIT="no",
        GIT_LITERAL_PATHSPECS="1",  # the render's paths are names, never patterns
    )
    return with_config(env, _CONFIG)


def with_config(env: dict[str, str], settings: Sequence[tuple[str, str]]) -> dict[str, str]:
    """``env`` with more git settings (GIT_CONFIG_COUNT/KEY/VALUE, after the ones it has)."""
    result = dict(env)
    count = int(result.get("GIT_CONFIG_COUNT", "0"))
    for key, value in settings:
        result[f"GIT_CONFIG_KEY_{count}"] = key
        result[f"GIT_CONFIG_VALUE_{count}"] = value
        count += 1
    result["GIT_CONFIG_COUNT"] = str(count)
    return result


# ------------------------------------------------------------------------------------------- transport


@dataclasses.dataclass(frozen=True)
class Credentials:
    """How Ansible reaches the repository: nothing for a local path; for ssh the key (the embedded server's
    write key, or None for the user's own SSH setup), the host keys to trust exactly (none: the user's
    known_hosts) and the name they are pinned under; for https the CA bundle, if private."""

    key: Optional[str] = None
    known_hosts: tuple[str, ...] = ()
    host_key_alias: Optional[str] = None
    ca_cert: Optional[str] = None


@contextlib.contextmanager
def transport(url: str, cache: str, credentials: Credentials) -> Iterator[dict[str, str]]:
    """The environment additions that make git reach ``url`` with ``credentials``; the files they name live
    (mode 0600) in a folder under ``cache`` made for this run, removed afterwards."""
    kind = url_kind(url)
    if kind == "local" or (kind == "https" and not credentials.ca_cert):
        yield {}
        return
    try:
        os.makedirs(cache, mode=0o700, exist_ok=True)
        folder = tempfile.mkdtemp(prefix="run-", dir=cache)
    except OSError as error:
        raise GitError(f"{cache}: cannot make keelson's cache folder ({describe_os_error(error)}); fix that and run again") from error
    try:
        if kind == "https":
            ca = os.path.join(folder, "ca.pem")
            write_atomic(ca, credentials.ca_cert or "", mode=0o600)
            yield with_config({}, [("http.sslCAInfo", ca)])
            return
        command = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=30"]
        if credentials.key is not None:
            key = os.path.join(folder, "write-key")
            write_atomic(key, credentials.key.rstrip("\n") + "\n", mode=0o600)
            command += ["-i", key, "-o", "IdentitiesOnly=yes"]
        if credentials.known_hosts:
            known = os.path.join(folder, "known_hosts")
            write_atomic(known, "".join(f"{line}\n" for line in credentials.known_hosts), mode=0o600)
            command += ["-o", f"UserKnownHostsFile={known}", "-o", "GlobalKnownHostsFile=/dev/null"]
        if credentials.host_key_alias:
            command += ["-o", f"HostKeyAlias={credentials.host_key_alias}"]
        yield {"GIT_SSH_COMMAND": " ".join(map(shlex.quote, command)), "GIT_SSH_VARIANT": "ssh"}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------------------- runner

_NETWORK_HINTS: Final = (
    (
        ("Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED", "host key is known"),
        "the server's SSH host key is not one keelson trusts: for the embedded server, the keys pinned in the secrets "
        "backend (gitops-known-hosts; if the server was rebuilt, check its new keys and remove the record so the Git "
        "server play pins them again); for an external server, gitops.repo.known_hosts (or your known_hosts)",
    ),
    (
        ("Permission denied (publickey", "Permission denied, please try again"),
        "the server refused the SSH key: for the embedded server, gitops-write-key in the secrets backend must be "
        "authorised for its git user (the Git server play does that); for an external server, your SSH agent or keys "
        "need write access to the repository",
    ),
    (
        ("Could not resolve hostname", "Connection refused", "Connection timed out", "No route to host", "Could not resolve host"),
        "the server cannot be reached from this machine; if Ansible reaches it by another address than the cluster "
        "does, give that one as url",
    ),
    (
        ("could not read Username", "could not read Password", "Authentication failed", "terminal prompts disabled"),
        "no credentials for the https repository: keelson never prompts; set up a git credential helper with a "
        "token that may push (git config --global credential.helper ...)",
    ),
    (
        ("SSL certificate problem", "server certificate verification failed", "unable to get local issuer certificate"),
        "the server's TLS certificate is not trusted: give its CA bundle as gitops.repo.ca_cert",
    ),
    (
        ("ssh: not found", "ssh: command not found", "cannot run ssh"),
        "ssh is not installed on the controller (the machine Ansible runs on); install the OpenSSH client",
    ),
    (
        (
            "does not appear to be a git repository",
            "Repository not found",
            "repository not found",
            "project you were looking for could not be found",
        ),
        "there is no repository at that URL: create it (for the embedded server, run the Git server play first)",
    ),
)


def _tail(text: str, lines: int = 6) -> str:
    shown = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " / ".join(shown[-lines:]) or "no message"


def network_hint(output: str) -> Optional[str]:
    return next((hint for needles, hint in _NETWORK_HINTS if any(needle in output for needle in needles)), None)


class Git:
    """git in one working copy, with one environment."""

    def __init__(self, workdir: str, env: Mapping[str, str]) -> None:
        self.workdir = workdir
        self.env = dict(env)

    def __call__(
        self, *args: str, stdin: Optional[str] = None, check: bool = True, doing: str = "", network: bool = False
    ) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(
                ["git", "-C", self.workdir, *args],
                env=self.env,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=NETWORK_TIMEOUT if network else LOCAL_TIMEOUT,
                check=False,
            )
        except FileNotFoundError as error:
            raise GitError("git is not installed on the controller (the machine Ansible runs on); install it and run again") from error
        except subprocess.TimeoutExpired as error:
            limit = NETWORK_TIMEOUT if network else LOCAL_TIMEOUT
            raise GitError(
                f"git {args[0]} ({doing or 'in ' + self.workdir}) did not finish in {limit} s; check the network and run again"
            ) from error
        if check and done.returncode != 0:
            output = done.stderr + done.stdout
            hint = (network_hint(output) if network else None) or "fix that and run again"
            raise GitError(f"git {args[0]} failed ({doing or 'in ' + self.workdir}): {_tail(output)}; {hint}")
        return done

    def value(self, *args: str) -> Optional[str]:
        """The output of a query (rev-parse, symbolic-ref, config), or None when git says there is none."""
        done = self(*args, check=False)
        return done.stdout.strip() or None if done.returncode == 0 else None

    def sha(self, ref: str) -> Optional[str]:
        return self.value("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self("merge-base", "--is-ancestor", ancestor, descendant, check=False).returncode == 0

    def commits(self, *range_: str) -> list[str]:
        done = self("rev-list", "--topo-order", *range_)
        return done.stdout.split()

    def message(self, commit: str) -> str:
        return self("log", "-1", "--format=%B", commit).stdout

    def subject(self, commit: str) -> str:
        return self("log", "-1", "--format=%h %s", commit).stdout.strip()


def check_version(said: str) -> None:
    """Refuse a git older than keelson needs, from what ``git version`` says."""
    found = re.search(r"(\d+)\.(\d+)", said)
    if found is None or (int(found.group(1)), int(found.group(2))) < MINIMUM_GIT:
        wanted = ".".join(map(str, MINIMUM_GIT))
        raise GitError(f"keelson needs git {wanted} or later on the controller, found {said.strip() or 'no version'}; upgrade git")


# ------------------------------------------------------------------------------------------- messages


def _names(label: str, names: Sequence[object], limit: int = 12) -> Optional[str]:
    if not names:
        return None
    shown = ", ".join(map(str, names[:limit]))
    return f"{label}: {shown}" + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _subject(platform: str, parts: list[str]) -> str:
    """``Render <platform>: part; part`` in at most 72 characters, cut between names."""
    prefix = f"Render {platform}: "
    subject = prefix + "; ".join(parts)
    if len(subject) <= _SUBJECT_LENGTH:
        return subject
    cut = subject[: _SUBJECT_LENGTH - 4]
    at = max(cut.rfind("; "), cut.rfind(", "))
    return (cut[:at] if at > len(prefix) else cut) + " ..."


def commit_message(platform: str, summary: Summary, written: int, removed: int) -> str:
    """The commit message of a render: a subject naming what changed, a line per kind of change, the trailer."""
    if summary.first:
        tenants = len(summary.tenants_added)
        parts = [f"first render, {len(summary.components)} component(s) and {tenants} tenant(s)"]
    else:
        parts = [
            *(f"add tenant {name}" for name in summary.tenants_added),
            *(f"remove tenant {name}" for name in summary.tenants_removed),
            *(f"chart {change}" for change in summary.charts),
        ]
        charted = {change.component for change in summary.charts}
        updated = [name for name in summary.components if name not in charted] + list(summary.tenants_changed)
        if updated:
            parts.append("update " + ", ".join(updated))
        if not parts:
            parts.append("update " + (", ".join(summary.other) if len(summary.other) < 3 else f"{len(summary.other)} files"))
    lines = [
        _names("Tenants added", summary.tenants_added),
        _names("Tenants removed", summary.tenants_removed),
        _names("Tenants changed", summary.tenants_changed),
        _names("Components changed", summary.components),
        _names("Chart versions", summary.charts),
        _names("Other files", summary.other),
        f"Files: {written} written, {removed} removed",
    ]
    body = "\n".join(line for line in lines if line)
    return f"{_subject(platform, parts)}\n\n{body}\n\n{TRAILER}: {platform}\n"


def is_keelsons(message: str, platform: str) -> bool:
    """Whether a commit message is one of keelson's for ``platform`` (its trailer)."""
    return re.search(rf"^{TRAILER}: {re.escape(platform)}\s*$", message, re.MULTILINE) is not None


# ------------------------------------------------------------------------------------------- working copy


@dataclasses.dataclass(frozen=True)
class Target:
    """Where and how keelson pushes."""

    workdir: str
    owned: bool  # keelson's own working copy (the default): uncommitted changes there are discarded, not refused
    url: str
    branch: str  # the branch the cluster follows
    platform: str
    mode: str = "push"  # or pull_request
    author_name: Optional[str] = None
    author_email: Optional[str] = None

    @property
    def review(self) -> str:
        return review_branch(self.platform)

    @property
    def pushed_to(self) -> str:
        return self.review if self.mode == "pull_request" else self.branch


class WorkingCopy:
    """The steps on one working copy of the GitOps repository."""

    def __init__(self, target: Target, git: Git) -> None:
        self.target = target
        self.git = git
        self.notes: list[str] = []

    # ---------------------------------------------------------------- state

    def _refuse(self, problem: str, fix: str) -> GitError:
        where = self.target.workdir
        if self.target.owned:
            fix = f"it is keelson's own working copy: delete {where} and run again (keelson clones the repository again)"
        return GitError(f"{where}: {problem}; nothing was changed. {fix}")

    def top(self) -> Optional[str]:
        """The working copy's top folder, or None when the folder is in none."""
        return self.git.value("rev-parse", "--show-toplevel")

    def create(self) -> None:
        """An empty working copy on the branch (its commits come with the first fetch)."""
        workdir = self.target.workdir
        self.refuse_files()
        try:
            os.makedirs(workdir, mode=0o700, exist_ok=True)
        except OSError as error:
            raise GitError(
                f"{workdir}: cannot make the working copy's folder ({describe_os_error(error)}); fix that or give another workdir"
            ) from error
        self.git("init", "--quiet", f"--initial-branch={self.target.branch}", doing=f"make a working copy in {workdir}")

    def exists(self) -> bool:
        """Whether the folder is a working copy (its top folder is checked later)."""
        return os.path.lexists(os.path.join(self.target.workdir, ".git"))

    def refuse_files(self) -> None:
        """Refuse a folder that is no working copy but holds files (a missing or empty one is made one)."""
        workdir = self.target.workdir
        try:
            crowded = os.path.isdir(workdir) and bool(os.listdir(workdir))
        except OSError as error:
            raise GitError(f"{workdir}: cannot be read ({describe_os_error(error)}); fix that or give another workdir") from error
        if crowded or (os.path.lexists(workdir) and not os.path.isdir(workdir)):
            raise GitError(
                f"{workdir}: is not a Git working copy, and not empty; give the top folder of a clone of the GitOps "
                "repository, or an empty or missing folder, as workdir"
            )

    def check(self, discard: bool) -> None:
        """Refuse a working copy that is not at its top folder, on another branch, in the middle of a rebase or
        merge, or (a user's) with uncommitted changes; in keelson's own, with ``discard``, such changes go."""
        workdir, branch = self.target.workdir, self.target.branch
        top = self.top()
        if top is None:
            raise self._refuse("has a .git that git cannot read as a repository", "repair it or give another workdir")
        if os.path.realpath(top) != os.path.realpath(workdir):
            raise self._refuse(f"is inside the working copy {top}, not its top folder", f"give {top} as workdir")
        for marker in ("rebase-merge", "rebase-apply", "MERGE_HEAD", "CHERRY_PICK_HEAD"):
            path = self.git.value("rev-parse", "--git-path", marker)
            if path and os.path.lexists(os.path.join(workdir, path)):
                if self.target.owned:
                    if discard:
                        for command in ("rebase", "merge", "cherry-pick"):
                            self.git(command, "--abort", check=False)
                    done = "aborted" if discard else "would abort"
                    self.notes.append(f"{workdir}: {done} a rebase or merge an interrupted run left in keelson's own working copy")
                    break
                raise self._refuse(
                    "has a rebase, merge or cherry-pick in progress", f"finish or abort it (git -C {workdir} rebase --abort) and run again"
                )
        head = self.git.value("symbolic-ref", "--quiet", "HEAD")
        if head != f"refs/heads/{branch}":
            shown = f"on branch {head.removeprefix('refs/heads/')}" if head else "not on a branch (detached HEAD)"
            raise self._refuse(
                f"is {shown}, not on {branch} (the branch keelson commits to)",
                f"switch back (git -C {workdir} switch {branch}) and run again",
            )
        status = self.git("--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=all").stdout
        entries = [entry[3:] for entry in status.split("\0") if len(entry) > 3]
        if not entries:
            return
        if self.target.owned:
            if discard:
                self.git("reset", "--quiet", "--hard")
                self.git("clean", "--quiet", "--force", "-d")
            self.notes.append(
                f"{workdir}: {'discarded' if discard else 'would discard'} uncommitted changes in keelson's own working copy "
                f"(left by an interrupted run): {', '.join(entries[:5])}{' …' if len(entries) > 5 else ''}"
            )
            return
        raise GitError(
            f"{workdir}: has uncommitted changes ({', '.join(entries[:10])}{' …' if len(entries) > 10 else ''}); nothing was "
            f"changed. keelson commits only its own render: commit, stash or discard them (git -C {workdir} stash -u) and run again"
        )

    def identity(self) -> tuple[str, str]:
        """Author and committer: the options, else the user's git configuration, else keelson <keelson@localhost>."""
        name = self.target.author_name or self.git.value("config", "--get", "user.name") or DEFAULT_NAME
        email = self.target.author_email or self.git.value("config", "--get", "user.email") or DEFAULT_EMAIL
        return name, email

    def use_identity(self) -> None:
        name, email = self.identity()
        self.git.env.update(GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email, GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=email)

    # ---------------------------------------------------------------- remote

    def branches(self) -> tuple[str, ...]:
        """The remote branches keelson works with: the cluster's, and the review branch in pull_request mode."""
        return (self.target.branch, self.target.review) if self.target.mode == "pull_request" else (self.target.branch,)

    def tracked(self) -> dict[str, Optional[str]]:
        """The remote's branches as last fetched (no network)."""
        return {branch: self.git.sha(TRACKING + branch) for branch in self.branches()}

    def fetch(self) -> dict[str, Optional[str]]:
        """Fetch the remote's branches keelson works with; branch -> commit, None where the remote has none."""
        url = self.target.url
        listed = self.git(
            "ls-remote",
            "--heads",
            url,
            *(f"refs/heads/{branch}" for branch in self.branches()),
            doing=f"list the branches of {url}",
            network=True,
        )
        heads = {line.split("\t", 1)[1].strip().removeprefix("refs/heads/") for line in listed.stdout.splitlines() if "\t" in line}
        specs = [f"+refs/heads/{branch}:{TRACKING}{branch}" for branch in self.branches() if branch in heads]
        if specs:
            self.git("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", url, *specs, doing=f"fetch from {url}", network=True)
        for branch in self.branches():
            if branch not in heads:
                self.git("update-ref", "-d", TRACKING + branch)
        return self.tracked()

    def start_branch(self, remote: dict[str, Optional[str]]) -> str:
        """The remote branch keelson builds on: the cluster's; in pull_request mode the review branch instead while
        it has commits the cluster's branch lacks (an open proposal: it is extended, never rewritten)."""
        base, review = remote[self.target.branch], remote.get(self.target.review)
        if self.target.mode == "pull_request" and review is not None and (base is None or not self.git.is_ancestor(review, base)):
            return self.target.review
        return self.target.branch

    def start(self, remote: dict[str, Optional[str]]) -> Optional[str]:
        return remote[self.start_branch(remote)]

    # ---------------------------------------------------------------- sync

    def head(self) -> Optional[str]:
        return self.git.sha(f"refs/heads/{self.target.branch}")

    def local_only(self, remote: dict[str, Optional[str]]) -> list[str]:
        """The local branch's commits the remote has on none of the branches keelson works with (newest first)."""
        head = self.head()
        if head is None:
            return []
        known = [sha for sha in remote.values() if sha is not None]
        return self.git.commits(head, *(["--not", *known] if known else []))

    def sync(self, remote: dict[str, Optional[str]]) -> None:
        """Bring the local branch to the remote: fast-forward, or replay keelson's commits that the remote lacks
        on top of it (rebase). Raises GitError, leaving the branch as it was, on a conflict or on commits that
        are not keelson's."""
        start, head = self.start(remote), self.head()
        only = self.local_only(remote)
        foreign = [sha for sha in only if not is_keelsons(self.git.message(sha), self.target.platform)]
        if foreign:
            shown = "; ".join(self.git.subject(sha) for sha in foreign[:5])
            raise self._refuse(
                f"branch {self.target.branch} has {len(foreign)} commit(s) that are not on the remote and are not keelson's ({shown})",
                f"push them yourself, or drop them (git -C {self.target.workdir} reset --hard {TRACKING}{self.target.branch})",
            )
        if start is None or head == start:
            return
        if head is None or not only:
            # Nothing of keelson's to keep: everything local is on the remote. Move to what keelson builds on.
            self.git("reset", "--quiet", "--hard", start, doing=f"move {self.target.branch} to the remote's {start[:12]}")
            return
        # The local commits are the newest ones of the branch, one after the other (keelson commits on top).
        if self.git.commits("--first-parent", f"--max-count={len(only)}", head) != only or self.git.commits(
            "--no-walk", "--min-parents=2", *only
        ):
            raise self._refuse(
                f"branch {self.target.branch} has keelson commits the remote lacks, mixed with merges",
                f"push or drop them yourself (git -C {self.target.workdir} log)",
            )
        upstream = self.git.sha(f"{only[-1]}^")
        if upstream == start:
            return
        self._rebase(TRACKING + self.start_branch(remote), start, upstream, head)

    def _rebase(self, ref: str, start: str, upstream: Optional[str], head: str) -> None:
        workdir = self.target.workdir
        fork = [upstream] if upstream else ["--root"]
        done = self.git("rebase", "--quiet", "--empty=drop", "--no-autosquash", "--no-autostash", "--onto", start, *fork, check=False)
        if done.returncode == 0:
            return
        conflicted = self.git("diff", "--name-only", "--diff-filter=U", "-z", check=False).stdout.split("\0")
        files = [path for path in conflicted if path]
        self.git("rebase", "--abort", check=False)
        if self.head() != head:  # the abort should have put it back; make sure
            self.git("reset", "--quiet", "--hard", head)
        if not files:
            raise GitError(
                f"git rebase failed in {workdir}: {_tail(done.stderr + done.stdout)}; keelson's commit {head[:12]} is kept; "
                "fix that and run again"
            )
        raise GitError(
            f"keelson's commit {head[:12]} conflicts with the remote's newer commits in {', '.join(files)}: someone changed these "
            f"generated files there. Nothing was pushed; keelson's commit is kept in {workdir} and the remote is untouched. "
            "Either revert that edit on the remote (edit the platform spec instead: generated files are rewritten by every "
            f"render), or drop keelson's commit (git -C {workdir} reset --hard {ref}) and run again, which renders on top "
            "of the remote's edit (and overwrites it)"
        )

    # ---------------------------------------------------------------- commit and push

    def commit(self, paths: Sequence[str], message: str) -> str:
        self.git("add", "--all", "--pathspec-from-file=-", "--pathspec-file-nul", stdin="\0".join(paths), doing="stage the render")
        self.git("commit", "--quiet", "--file=-", stdin=message, doing="commit the render")
        head = self.head()
        if head is None:
            raise GitError(f"git commit made no commit in {self.target.workdir}; check its hooks and run again")
        return head

    def push(self, head: str) -> Optional[str]:
        """Push ``head`` to the branch keelson pushes to, never forced; None when it went, else git's words."""
        target = self.target.pushed_to
        done = self.git("push", "--porcelain", self.target.url, f"{head}:refs/heads/{target}", check=False, network=True)
        if done.returncode == 0:
            self.git("update-ref", TRACKING + target, head)
            return None
        return _tail(done.stderr + done.stdout, 10)


# ------------------------------------------------------------------------------------------- the run


@dataclasses.dataclass
class Outcome:
    changed: bool
    commit: Optional[str]  # the new commit, or the branch's head
    revision: Optional[str]  # what the cluster's branch points at on the remote afterwards
    branch_pushed: Optional[str]
    message: Optional[str]  # the new commit's message
    rendered: Rendered
    merged: bool  # whether the cluster's branch holds ``commit`` (pull_request mode: whether it was merged)
    notes: list[str]
    would_push: bool = False  # check mode: whether a real run would push
    pending: bool = False  # pull_request mode: keelson's commit waits in the review branch for a merge


Render = Callable[[str, bool], Rendered]  # (folder, write) -> the render
Describe = Callable[[Rendered], Summary]


def _commit_render(copy: WorkingCopy, rendered: Rendered, describe: Describe) -> Optional[str]:
    if not rendered.plan.changed:
        return None
    plan = rendered.plan
    message = commit_message(copy.target.platform, describe(rendered), len(plan.write), len(plan.remove))
    copy.commit(sorted({*plan.write, *plan.remove}), message)
    return message


def publish(target: Target, environ: Mapping[str, str], credentials: Credentials, render: Render, describe: Describe) -> Outcome:
    """The real run: fetch, sync, render, commit when the content changed, push (again after a rebase while
    the remote moves)."""
    copy = WorkingCopy(target, Git(target.workdir, environment(environ)))
    check_version(Git(os.sep, copy.git.env)("version", doing="tell git's version").stdout)
    if not copy.exists():
        copy.create()
    copy.check(discard=True)
    copy.use_identity()
    with transport(target.url, cache_dir(target.platform), credentials) as extra:
        copy.git.env.update(extra)
        remote = copy.fetch()
        copy.sync(remote)
        rendered = render(target.workdir, True)
        message = _commit_render(copy, rendered, describe)
        pushed = None
        for _attempt in range(ATTEMPTS):
            head, start = copy.head(), copy.start(remote)
            if head is None or head == start:
                break
            refused = copy.push(head)
            if refused is None:
                pushed = target.pushed_to
                break
            before, remote = remote, copy.fetch()
            if remote == before:
                hint = (
                    "the branch is protected: set gitops.repo.mode: pull_request to push to a branch of keelson's own"
                    if re.search(r"protected|pre-receive hook declined", refused)
                    else network_hint(refused) or "fix that and run again"
                )
                raise GitError(
                    f"git push of {head[:12]} to {target.pushed_to} at {target.url} was refused: {refused}; keelson's commit is "
                    f"kept in {target.workdir}; {hint}"
                )
            copy.sync(remote)  # the remote moved meanwhile: replay keelson's commit on top of it
            try:
                again = render(target.workdir, False)
            except KeelsonError as error:
                raise GitError(
                    f"the remote's branch moved while keelson pushed, and on top of its new commits the render stops: {error} "
                    f"Nothing was pushed; keelson's commit is kept in {target.workdir}"
                ) from error
            if again.plan.changed:
                changed = sorted({*again.plan.write, *again.plan.remove})
                raise GitError(
                    f"the remote's branch moved while keelson pushed, and its new commits change files keelson generates "
                    f"({', '.join(changed[:10])}): keelson's commit, replayed on top, no longer matches the render. Nothing was "
                    f"pushed; the commit is kept in {target.workdir}. Run again to commit the render on top (it overwrites those edits)"
                )
        else:
            raise GitError(
                f"the remote's branch {target.pushed_to} at {target.url} kept moving while keelson pushed ({ATTEMPTS} tries); run again"
            )
    head, revision = copy.head(), copy.tracked()[target.branch]
    merged = head is not None and revision is not None and copy.git.is_ancestor(head, revision)
    return Outcome(
        changed=message is not None or pushed is not None,
        commit=head,
        revision=revision,
        branch_pushed=pushed,
        message=message,
        rendered=rendered,
        merged=merged,
        notes=copy.notes,
        pending=target.mode == "pull_request" and not merged,
    )


def preview(target: Target, environ: Mapping[str, str], render: Render, describe: Describe) -> Outcome:
    """Check mode: the same steps on a copy in a temporary folder, with the remote as last fetched; the working
    copy, the remote and the cache folder are not touched, and nothing goes over the network."""
    env = environment(environ)
    original = WorkingCopy(target, Git(target.workdir, env))
    with tempfile.TemporaryDirectory(prefix="keelson-plan-") as folder:
        scratch = os.path.join(folder, "repo")
        copy = WorkingCopy(dataclasses.replace(target, workdir=scratch), Git(scratch, env))
        check_version(Git(os.sep, env)("version", doing="tell git's version").stdout)
        copy.create()
        head = None
        if original.exists():
            original.check(discard=False)  # read only: without discarding it changes nothing
            head = original.head()
            refs = [f"+refs/heads/{target.branch}:refs/heads/{target.branch}"] if head else []
            refs += [f"+{TRACKING}{branch}:{TRACKING}{branch}" for branch, sha in original.tracked().items() if sha]
            if refs:
                copy.git(
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--update-head-ok",
                    "--no-write-fetch-head",
                    target.workdir,
                    *refs,
                    doing=f"copy {target.workdir}",
                )
            if head:
                copy.git("reset", "--quiet", "--hard", head)
        else:
            original.refuse_files()
        copy.notes = list(original.notes)
        copy.use_identity()
        remote = copy.tracked()
        copy.sync(remote)
        rendered = render(scratch, True)
        message = _commit_render(copy, rendered, describe)
        new_head, start, revision = copy.head(), copy.start(remote), remote[target.branch]
        would_push = new_head is not None and new_head != start
        merged = head is not None and revision is not None and copy.git.is_ancestor(head, revision)
        return Outcome(
            changed=message is not None or would_push,
            commit=head,
            revision=revision,
            branch_pushed=None,
            message=message,
            rendered=rendered,
            merged=merged,
            notes=copy.notes,
            would_push=would_push,
            pending=target.mode == "pull_request" and (would_push or (head is not None and not merged)),
        )


# ------------------------------------------------------------------------------------------- the platform's


@dataclasses.dataclass(frozen=True)
class Options:
    """gitops_repo's options beside the spec (see its documentation)."""

    workdir: Optional[str] = None
    url: Optional[str] = None
    author_name: Optional[str] = None
    author_email: Optional[str] = None


def target_for(model: Platform, options: Options) -> Target:
    url = options.url or model.repo_url
    if url_kind(url) != "local" and check_repo_url(url) is not None:
        raise GitError(f"url: {check_repo_url(url)} (got {url!r}); keelson never takes credentials in a URL (use a git credential helper)")
    repo = model.spec.gitops.repo
    return Target(
        workdir=options.workdir or default_workdir(model.spec.name),
        owned=not options.workdir,
        url=url,
        branch=repo.branch,
        platform=model.spec.name,
        mode=repo.mode,
        author_name=options.author_name,
        author_email=options.author_email,
    )


def credentials_for(model: Platform, url: str, inputs: Inputs) -> Credentials:
    """How Ansible authenticates to ``url``: with the embedded server's write key and pinned host keys; for an
    external ssh repository with the user's own SSH agent or keys, trusting the spec's host keys (or, when it gives
    none, the user's known_hosts); for https through the user's credential helper, trusting the spec's CA."""
    repo = model.spec.gitops.repo
    kind = url_kind(url)
    if kind == "https":
        return Credentials(ca_cert=repo.ca_cert)
    if kind != "ssh":
        return Credentials()
    if repo.url == "embedded":
        if not inputs.host_keys:
            raise GitError(
                "the embedded Git server's host keys are not pinned in the secrets backend yet (gitops-known-hosts): run "
                "site.yml, whose Git server play sets the server up and pins them, before pushing; keelson never trusts a "
                "host key on first sight"
            )
        key, known = inputs.write_key, inputs.host_keys
    else:
        key, known = None, tuple(repo.known_hosts)
    # The keys are pinned under the host the cluster reaches; Ansible may reach the server by another name.
    pinned, reached = known_hosts_name(model.repo_url), known_hosts_name(url)
    alias = pinned if known and pinned and reached and pinned != reached else None
    return Credentials(key=key, known_hosts=known, host_key_alias=alias)


def run(
    spec: dict[str, Any], nodes: list[dict[str, Any]], backend: Backend, options: Options, *, check: bool, environ: Mapping[str, str]
) -> tuple[Target, Outcome, bool]:
    """gitops_repo: the target, what happened (or, in check mode, would), and whether the working copy existed."""
    model = Platform(spec, nodes)
    target = target_for(model, options)
    inputs = _render_core.read_inputs(backend, spec, check)

    def render(folder: str, write: bool) -> Rendered:
        return _render_core.render_into(folder, spec, nodes, inputs, write=write)

    def describe(rendered: Rendered) -> Summary:
        return _render_core.summarise(spec, nodes, rendered)

    existed = os.path.lexists(os.path.join(target.workdir, ".git"))
    if check:
        return target, preview(target, environ, render, describe), existed
    return target, publish(target, environ, credentials_for(model, target.url, inputs), render, describe), existed
