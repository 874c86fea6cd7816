# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""reboot.yml: one host at a time, each back and Ready before the next. Runs after the tests that read the
converged cluster (file names sort it there)."""

from __future__ import annotations

import re
from typing import Any

from conftest import AGENTS, SERVERS
from git_client import REPO, URL, RemoteClient, backend
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


def test_git_server_serves_after_the_reboot(hosts: dict[str, Any]) -> None:
    """Nothing but sshd serves the repository: after the reboot agent-1 clones again, and server-1 shows the keys
    that are pinned (its host keys were made once, at its first boot)."""
    records = backend()
    remote = RemoteClient(hosts[AGENTS[0]], "/root/keelson-reboot-test", records[REPO.deploy_key], records[REPO.known_hosts_record])
    try:
        cloned = remote.git(f"ls-remote {URL}")
        assert cloned.rc == 0, cloned.stderr
        assert "refs/heads/molecule-test" in cloned.stdout
    finally:
        remote.remove()
