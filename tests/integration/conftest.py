# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for tests that run the real ansible-playbook and ansible-galaxy of the tool chain."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional

import pytest
from integration_helpers import BIN, REPO, Runner


@pytest.fixture
def ansible(tmp_path: Path) -> Runner:
    """Run an Ansible command line tool of the tool chain with this checkout's ansible.cfg."""

    def run(tool: str, *args: str, env: Optional[dict[str, str]] = None, cwd: Optional[Path] = None) -> subprocess.CompletedProcess[str]:
        environment = {
            **os.environ,
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            **(env or {}),
        }
        return subprocess.run([str(BIN / tool), *args], cwd=cwd or REPO, env=environment, capture_output=True, text=True, check=False)

    return run


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    """A copy of files/inventories/secrets (a small platform with two tenants) that a test may change."""
    target = tmp_path / "inventory"
    shutil.copytree(Path(__file__).resolve().parent / "files" / "inventories" / "secrets", target)
    return target


@pytest.fixture
def password(tmp_path: Path) -> Path:
    """A test-only vault password file."""
    path = tmp_path / "vault-password"
    path.write_text("integration-test-only\n")
    return path
