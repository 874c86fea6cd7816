# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""reboot.yml: one host at a time, each back and Ready before the next. Runs after the tests that read the
converged cluster (file names sort it there)."""

from __future__ import annotations

import re
from typing import Any

from conftest import AGENTS, SERVERS
from playbook import run_playbook


def _boots(hosts: dict[str, Any]) -> dict[str, str]:
    return {name: host.check_output("awk '{print $22}' /proc/1/stat") for name, host in hosts.items()}


def test_reboot_one_at_a_time(hosts: dict[str, Any]) -> None:
    before = _boots(hosts)
    result = run_playbook("keelson.platform.reboot")
    assert result.returncode == 0, result.stdout[-3000:]
    # Every host rebooted, in inventory order, one per batch (serial: 1).
    order = re.findall(r"^changed: \[(\S+)\]$", result.stdout, re.MULTILINE)
    assert order == SERVERS + AGENTS
    after = _boots(hosts)
    assert all(after[name] != before[name] for name in hosts)
    for name, host in hosts.items():
        assert host.service("k3s" if name in SERVERS else "k3s-agent").is_running
