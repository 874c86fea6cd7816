# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one writer of controller files (atomic, the mode asked for) and the one diff shape."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ansible_collections.keelson.platform.plugins.plugin_utils import _files


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o000)
    yield
    os.umask(old)


@pytest.mark.parametrize(("mode", "sync"), [(0o600, True), (0o644, False)])
def test_writes_with_exactly_the_mode_asked_for(tmp_path: Path, open_umask: None, mode: int, sync: bool) -> None:
    path = tmp_path / "new" / "folder" / "file"
    _files.write_atomic(str(path), "text ü\n", mode, sync=sync)
    assert path.read_text(encoding="utf-8") == "text ü\n"
    assert path.stat().st_mode & 0o777 == mode
    _files.write_atomic(str(path), b"bytes", mode)
    assert path.read_bytes() == b"bytes" and sorted(os.listdir(path.parent)) == ["file"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("old")
    with pytest.raises(TypeError):
        _files.write_atomic(str(path), 42, 0o600)  # type: ignore[arg-type]
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["file"]


def test_diffs() -> None:
    assert _files.diff("a\n", "", "x.yaml", "/dev/null") == {
        "before_header": "x.yaml",
        "after_header": "/dev/null",
        "before": "a\n",
        "after": "",
    }
    assert _files.lines_diff(["a"], ["a", "b"], "names") == {
        "before_header": "names",
        "after_header": "names",
        "before": "a\n",
        "after": "a\nb\n",
    }
    assert _files.lines_diff([], [], "names")["before"] == ""
