# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The developer tool chain: make setup on a set-up checkout is fast and changes nothing."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from integration_helpers import REPO

pytestmark = pytest.mark.slow


def _state() -> dict[str, float]:
    watched = [
        ".venv/.keelson-setup",
        ".venv-compat/.keelson-setup",
        ".venv/bin/python",
        ".collections/ansible_collections/keelson",
    ]
    return {name: (REPO / name).stat().st_mtime for name in watched}


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_setup_again_changes_nothing() -> None:
    before = _state()
    result = subprocess.run(["make", "setup"], cwd=REPO, capture_output=True, text=True, check=False, env={**os.environ, "MAKEFLAGS": ""})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pip install" not in result.stdout
    assert "creating" not in result.stdout
    assert _state() == before
    assert os.path.samefile(REPO / ".collections" / "ansible_collections" / "keelson" / "platform", REPO)


def test_find_python_names_what_to_install() -> None:
    result = subprocess.run([str(REPO / "tools" / "find-python"), "3.99"], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "no working Python 3.99 found" in result.stderr
    assert "pyenv install 3.99" in result.stderr
