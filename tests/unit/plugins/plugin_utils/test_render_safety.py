# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where the renderer refuses to read or write, before it touches anything: the destination, symlinks, FIFOs
and devices (never opened), a file where a folder must be, another platform's files, a team's own files."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ansible_collections.keelson.platform.plugins.plugin_utils import _render_files as files
from ansible_collections.keelson.platform.plugins.plugin_utils._tree_check import hand_edits, platform_of, read_tree, split, with_header

CHECKOUT = Path(__file__).resolve().parents[4]


def _put(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def _mine(body: str, platform: str = "a") -> str:
    return with_header(f"---\n{body}\n", platform=platform)


@pytest.fixture
def no_hang() -> Iterator[None]:
    """Fails the test instead of hanging forever if something opens a FIFO."""

    def alarm(_signum: int, _frame: object) -> None:
        raise AssertionError("blocked: something opened a FIFO")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# ------------------------------------------------------------------------------------------- the header


def test_the_header_names_the_platform_and_older_headers_still_read() -> None:
    new, old = with_header("---\nx: 1\n", platform="ml-prod"), with_header("---\nx: 1\n")
    assert "# keelson-platform: ml-prod\n" in new
    assert split(new) == split(old) and (split(old) or ("", ""))[1] == "---\nx: 1\n"
    assert platform_of(new) == "ml-prod" and platform_of(old) is None and platform_of("x: 1\n") is None
    readme = with_header("# Team\n", "html", platform="ml-prod")
    assert platform_of(readme) == "ml-prod" and (split(readme) or ("", ""))[1] == "# Team\n"
    assert hand_edits({"n": new, "o": old, "r": readme}) == []
    assert hand_edits({"n": new.replace("x: 1", "x: 2"), "r": readme + "more\n"}) == ["n", "r"]


# ------------------------------------------------------------------------------------------ destination


def _git(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


@pytest.mark.parametrize(
    ("where", "force", "expected"),
    [
        ("plain", False, r"is not in a Git working copy.*git init it.*force: true \(keelson_render_force=true"),
        ("plain", True, None),
        ("git", False, None),
        ("git-subfolder-missing", False, None),
        ("file", True, r"is a file, not a folder"),
        ("checkout", True, r"lies inside the keelson collection"),
    ],
)
def test_the_destination_must_be_a_folder_in_a_git_working_copy_outside_the_collection(
    tmp_path: Path, where: str, force: bool, expected: str
) -> None:
    dest = {
        "plain": tmp_path / "plain",
        "git": _git(tmp_path / "repo"),
        "git-subfolder-missing": _git(tmp_path / "repo") / "platforms" / "new",
        "file": tmp_path / "file",
        "checkout": CHECKOUT / "tests" / "rendered",
    }[where]
    if where == "file":
        dest.write_text("x")
    if expected is None:
        files.check_destination(str(dest), str(CHECKOUT), force=force)
    else:
        with pytest.raises(files.RenderError, match=expected):
            files.check_destination(str(dest), str(CHECKOUT), force=force)
    assert not (CHECKOUT / "tests" / "rendered").exists()


# -------------------------------------------------------------------------- symlinks, FIFOs and devices


def test_a_symlink_that_leaves_the_destination_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    dest, outside = tmp_path / "gitops", tmp_path / "outside"
    outside.mkdir()
    (dest / "tenants").mkdir(parents=True)
    (dest / "tenants" / "nlp").symlink_to(outside)
    with pytest.raises(files.RenderError, match=r"tenants/nlp is a symlink that leaves the folder \(to .*outside\)"):
        files.plan(str(dest), {"tenants/nlp/keelson/quota.yaml": _mine("q: 1")}, ".", platform="a")
    assert list(outside.iterdir()) == []


def test_a_symlink_where_keelson_writes_is_refused_even_inside_the_destination(tmp_path: Path) -> None:
    dest = tmp_path / "gitops"
    _put(dest, "real.yaml", "mine: 1\n")
    (dest / "root.yaml").symlink_to(dest / "real.yaml")
    with pytest.raises(files.RenderError, match=r"root\.yaml is a symlink; keelson does not write through symlinks"):
        files.plan(str(dest), {"root.yaml": _mine("r: 1")}, ".", platform="a")
    assert (dest / "real.yaml").read_text() == "mine: 1\n"


@pytest.mark.usefixtures("no_hang")
def test_fifos_and_symlinks_to_them_are_refused_without_being_opened(tmp_path: Path) -> None:
    dest = tmp_path / "gitops"
    (dest / "platform").mkdir(parents=True)
    os.mkfifo(dest / "platform" / "pipe.yaml")
    (dest / "platform" / "link.yaml").symlink_to(dest / "platform" / "pipe.yaml")
    assert read_tree(str(dest)) == {}  # returns at once: never opened
    with pytest.raises(files.RenderError) as caught:
        files.plan(str(dest), {"a.yaml": _mine("a: 1")}, ".", platform="a")
    message = str(caught.value)
    assert "platform/link.yaml is a symlink to a FIFO" in message and "platform/pipe.yaml is a FIFO" in message
    assert "none was opened" in message and not (dest / "a.yaml").exists()


@pytest.mark.usefixtures("no_hang")
def test_a_symlink_to_a_device_is_refused_without_being_opened(tmp_path: Path) -> None:
    dest = tmp_path / "gitops"
    dest.mkdir()
    (dest / "zero.yaml").symlink_to("/dev/zero")  # opening and reading it would never end
    with pytest.raises(files.RenderError, match=r"zero\.yaml is a symlink that leaves the folder \(to /dev/zero\)"):
        files.generated_files(str(dest), ".", "a")


def test_a_device_node_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "gitops"
    dest.mkdir()
    try:
        os.mknod(dest / "null.yaml", 0o600 | 0o020000, os.makedev(1, 3))  # a character device, as /dev/null
    except (PermissionError, OSError):
        pytest.skip("this user cannot make device nodes")
    with pytest.raises(files.RenderError, match=r"null\.yaml is a device"):
        files.generated_files(str(dest), ".", "a")


def test_a_file_where_a_folder_must_be_names_the_path_and_the_fix(tmp_path: Path) -> None:
    dest = tmp_path / "gitops"
    _put(dest, "tenants", "not a folder\n")
    with pytest.raises(files.RenderError) as caught:
        files.plan(str(dest), {"tenants/nlp/keelson/quota.yaml": _mine("q: 1")}, ".", platform="a")
    assert "tenants is a file where keelson needs a folder (for tenants/nlp/keelson/quota.yaml); move it away" in str(caught.value)
    assert "Errno" not in str(caught.value)


def test_odd_entries_in_a_teams_folder_are_the_teams(tmp_path: Path) -> None:
    dest = tmp_path / "gitops"
    (dest / "tenants" / "nlp" / "apps").mkdir(parents=True)
    (dest / "tenants" / "nlp" / "apps" / "shared").symlink_to(tmp_path)
    plan = files.plan(str(dest), {"tenants/nlp/apps/README.md": with_header("# Team\n", "html", platform="a")}, ".", platform="a")
    assert list(plan.write) == ["tenants/nlp/apps/README.md"]


# ----------------------------------------------------------------------------- whose files they are


def test_a_teams_copy_of_a_generated_file_is_never_removed(tmp_path: Path) -> None:
    dest = tmp_path / "gitops"
    readme = with_header("# Team\n", "html", platform="a")
    _put(dest, "tenants/nlp/apps/README.md", readme)
    _put(dest, "tenants/nlp/apps/quota-copy.yaml", _mine("q: 1"))  # copied from tenants/nlp/keelson/, header and all
    _put(dest, "tenants/nlp/apps/deeper/also.yaml", _mine("q: 2"))
    plan = files.plan(str(dest), {}, ".", platform="a")
    assert plan.remove == ["tenants/nlp/apps/README.md"]  # the README is keelson's; the copies are the team's


def test_another_platforms_files_inside_this_platforms_folder_are_refused(tmp_path: Path) -> None:
    dest = tmp_path / "gitops"
    _put(dest, "clusters/a/root.yaml", _mine("a: 1", "a"))
    _put(dest, "platforms/b/clusters/b/root.yaml", _mine("b: 1", "b"))
    with pytest.raises(
        files.RenderError, match=r"platforms/b/clusters/b/root\.yaml: was written by platform b, inside the folder of platform a"
    ):
        files.plan(str(dest), {"clusters/a/root.yaml": _mine("a: 1", "a")}, ".", platform="a")


def test_a_platform_folder_inside_another_platforms_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "gitops"
    _put(dest, "clusters/a/root.yaml", _mine("a: 1", "a"))
    with pytest.raises(files.RenderError, match=r"platforms/b: lies inside the folder of platform a \(\., see clusters/a/root\.yaml\)"):
        files.plan(str(dest), {"platforms/b/clusters/b/root.yaml": _mine("b: 1", "b")}, "platforms/b", platform="b")
    assert not (dest / "platforms").exists()


def test_side_by_side_platforms_share_only_the_ci_files(tmp_path: Path) -> None:
    dest = tmp_path / "gitops"
    _put(dest, "platforms/a/clusters/a/root.yaml", _mine("a: 1", "a"))
    _put(dest, ".gitlab-ci.yml", _mine("ci: a", "a"))
    plan = files.plan(
        str(dest),
        {"platforms/b/clusters/b/root.yaml": _mine("b: 1", "b"), ".gitlab-ci.yml": _mine("ci: b", "b")},
        "platforms/b",
        platform="b",
    )
    assert sorted(plan.write) == [".gitlab-ci.yml", "platforms/b/clusters/b/root.yaml"] and plan.remove == []


def test_files_from_an_older_keelson_without_a_platform_name_are_this_platforms(tmp_path: Path) -> None:
    dest = tmp_path / "gitops"
    _put(dest, "clusters/a/old.yaml", with_header("---\nold: 1\n"))
    plan = files.plan(str(dest), {"clusters/a/root.yaml": _mine("a: 1")}, ".", platform="a")
    assert plan.remove == ["clusters/a/old.yaml"]
