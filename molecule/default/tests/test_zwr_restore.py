# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""restore.yml on the converged hosts: refused without the confirmation or a snapshot the first server holds; check
mode stops nothing; a backup then a restore on 3 servers in k3s' order (every server stopped, the reset on the first
with the cluster's token, the first started, then each other one on a fresh datastore). The k3s TEST DOUBLE restores
its node list from the snapshot file and refuses a server whose datastore is from before the reset, as etcd does.

What only a real k3s can prove (docs/day2.md): that etcd comes back from a real snapshot with the data in it."""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml
from conftest import AGENTS, EPHEMERAL, SCENARIO, SERVERS, needs_double
from double import calls_since as since
from double import said as output
from kubernetes import client, config
from playbook import run_playbook

pytestmark = needs_double  # reads the double's record of what it was asked

MARK = "keelson.dev/test-written-after-the-snapshot"


def api() -> Any:
    return config.new_client_from_config(config_file=str(EPHEMERAL / "kubeconfig"))


@pytest.fixture(scope="module")
def platform_name() -> str:
    spec = yaml.safe_load((SCENARIO / "inventory" / "group_vars" / "all" / "keelson.yml").read_text())["keelson_platform"]
    return str(spec["name"])


def test_a_restore_needs_the_platforms_name(hosts: dict[str, Any], platform_name: str) -> None:
    mark = time.time()
    result = run_playbook("keelson.platform.restore", "-e", "keelson_restore_snapshot=x")
    assert result.returncode != 0
    assert f"run again with -e keelson_restore_confirm={platform_name}" in output(result), output(result)[-2000:]
    assert since(hosts, mark) == []


def test_a_snapshot_the_first_server_does_not_hold_is_refused(hosts: dict[str, Any], platform_name: str) -> None:
    mark = time.time()
    result = run_playbook(
        "keelson.platform.restore", "-e", f"keelson_restore_confirm={platform_name}", "-e", "keelson_restore_snapshot=nope"
    )
    assert result.returncode != 0
    said = output(result)
    assert 'server-1 holds no local snapshot named "nope". Local snapshots on server-1: ' in said, said[-2000:]
    assert "keelson-server-1-" in said.split("Local snapshots on server-1: ", 1)[1]  # backup.yml's, from the tests before
    assert "Nothing was changed." in said
    assert since(hosts, mark) == []


def test_backup_then_restore_in_k3s_order(hosts: dict[str, Any], platform_name: str) -> None:
    saved = run_playbook("keelson.platform.backup", "-e", "keelson_backup_name=before-restore")
    assert saved.returncode == 0, saved.stdout[-3000:]
    snapshot = [c["name"] for c in since(hosts, time.time() - 120) if c["event"] == "etcd-snapshot-save"][-1]
    assert snapshot.startswith("before-restore-server-1-")
    # Something written to the cluster after the snapshot: the restore takes it away.
    connection = api()
    try:
        client.CoreV1Api(connection).patch_node("agent-1", {"metadata": {"annotations": {MARK: "yes"}}})
    finally:
        connection.close()

    mark = time.time()
    args = ["-e", f"keelson_restore_confirm={platform_name}", "-e", f"keelson_restore_snapshot={snapshot}"]
    checked = run_playbook("keelson.platform.restore", *args, "--check")
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert f"Would restore {snapshot} on server-1" in output(checked)
    assert since(hosts, mark) == []

    mark = time.time()
    result = run_playbook("keelson.platform.restore", *args)
    assert result.returncode == 0, result.stdout[-4000:]
    calls = since(hosts, mark)
    steps = [(c["host"], c["event"]) for c in calls if c["event"] in ("stop", "start", "cluster-reset", "start-failed")]
    stops = [step for step in steps if step[1] == "stop"]
    assert sorted(stops) == [(name, "stop") for name in SERVERS]
    assert steps[3:] == [("server-1", "cluster-reset"), ("server-1", "start"), ("server-2", "start"), ("server-3", "start")], steps
    reset = next(c for c in calls if c["event"] == "cluster-reset")
    assert reset["restore_path"].endswith(f"/snapshots/{snapshot}")
    assert not [c for c in calls if c["host"] in AGENTS and c["event"] in ("stop", "start")]  # agents keep running
    for name in ("server-2", "server-3"):
        assert hosts[name].file("/var/lib/rancher/k3s/server/db.before-restore").is_directory
    assert not hosts["server-1"].file("/etc/rancher/k3s/restore-token").exists
    connection = api()
    try:
        listed = {node.metadata.name: node for node in client.CoreV1Api(connection).list_node().items}
    finally:
        connection.close()
    assert set(listed) == set(SERVERS + AGENTS)
    assert MARK not in (listed["agent-1"].metadata.annotations or {})
    assert all(any(c.type == "Ready" and c.status == "True" for c in node.status.conditions) for node in listed.values())


def test_site_is_a_no_op_after_the_restore(hosts: dict[str, Any]) -> None:
    mark = time.time()
    result = run_playbook(str(SCENARIO / "converge.yml"))
    assert result.returncode == 0, result.stdout[-3000:]
    assert [c for c in since(hosts, mark) if c["event"] in ("stop", "start")] == []
