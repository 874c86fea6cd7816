# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a playbook against the scenario's hosts the way molecule does (same inventory, config, vault)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import EPHEMERAL, PROJECT, SCENARIO

# rotate.yml's cluster-token rotation (test_zwt_rotate.py, and test_zwts_restore_rotated.py before its restore).
ROTATE_TOKEN = ("keelson.platform.rotate", "-e", "keelson_rotate=token")


def run_playbook(playbook: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(EPHEMERAL / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(PROJECT / ".collections"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        f"--inventory={SCENARIO / 'inventory'}",
        f"--vault-password-file={PROJECT / 'tests' / 'testhosts' / 'vault-password'}",
        playbook,
        *args,
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)
