# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""site.yml's closing report, run as it is in site.yml: it says the cluster is up only when every host got
through the install plays, and otherwise fails naming the hosts that did not."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from integration_helpers import REPO, Runner

pytestmark = pytest.mark.slow

INVENTORY = """
keelson_servers:
  hosts:
    server-1: {ansible_connection: local}
keelson_agents:
  hosts:
    agent-1: {ansible_connection: local}
    agent-2: {ansible_connection: local}
"""


def _report(ansible: Runner, tmp_path: Path, done: str) -> str:
    plays = yaml.safe_load((REPO / "playbooks" / "site.yml").read_text())
    install = [play for play in plays if play.get("post_tasks")]
    assert {play["hosts"] for play in install} == {"keelson_servers", "keelson_agents"}  # both install plays record it
    stand_in = {
        "name": "Stand in for the install plays: the hosts that got through record it, as their post_tasks do",
        "hosts": done,
        "gather_facts": False,
        "tasks": [dict(install[0]["post_tasks"][0])],
    }
    facts = {
        "name": "Stand in for validate",
        "hosts": "localhost",
        "gather_facts": False,
        "tasks": [
            {
                "ansible.builtin.set_fact": {
                    "keelson_spec": {"name": "ml", "cluster": {"k3s_version": "v1"}},
                    "keelson_nodes": [1, 2, 3],
                    "keelson_kubeconfig_path": "/k",
                }
            }
        ],
    }
    playbook = tmp_path / "report.yml"
    report = next(play for play in plays if play.get("name") == "Report the cluster")
    playbook.write_text(yaml.safe_dump([facts, stand_in, report]))
    (tmp_path / "hosts.yml").write_text(INVENTORY)
    result = ansible("ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(playbook))
    return f"{result.returncode}\n" + " ".join(result.stdout.split())


def test_the_cluster_is_up_only_when_every_host_finished(ansible: Runner, tmp_path: Path) -> None:
    everyone = _report(ansible, tmp_path, "keelson_servers:keelson_agents")
    assert everyone.startswith("0\n") and "cluster ml is up" in everyone
    missing = _report(ansible, tmp_path, "server-1:agent-1")
    assert not missing.startswith("0\n") and "cluster ml is up" not in missing
    assert "k3s is not installed on agent-2: unreachable or failed" in missing
