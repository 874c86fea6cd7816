# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""restore.yml on the converged hosts: refused without the confirmation or a snapshot that neither the first server
nor the bucket holds; check mode stops nothing; a backup then a restore on 3 servers in k3s' order (every server
stopped, the reset on the first with the cluster's token, the first started, then each other one on a fresh
datastore); and a restore from the S3 bucket of a snapshot the first server no longer holds (a rebuilt server). The
k3s TEST DOUBLE restores its node list from the snapshot file (downloaded from the scenario's real S3 server when k3s
would) and refuses a server whose datastore is from before the reset, as etcd does.

What only a real k3s can prove (docs/day2.md): that etcd comes back from a real snapshot with the data in it."""

from __future__ import annotations

import time
from typing import Any

import bucket
from conftest import AGENTS, EPHEMERAL, SCENARIO, SERVERS, needs_double
from double import calls_since as since
from double import said as output
from kubernetes import client, config
from playbook import run_playbook

pytestmark = needs_double  # reads the double's record of what it was asked

MARK = "keelson.dev/test-written-after-the-snapshot"
SNAPSHOTS = "/var/lib/rancher/k3s/server/db/snapshots"


def api() -> Any:
    return config.new_client_from_config(config_file=str(EPHEMERAL / "kubeconfig"))


def test_a_restore_needs_the_platforms_name(hosts: dict[str, Any], platform_name: str) -> None:
    mark = time.time()
    result = run_playbook("keelson.platform.restore", "-e", "keelson_restore_snapshot=x")
    assert result.returncode != 0
    assert f"run again with -e keelson_restore_confirm={platform_name}" in output(result), output(result)[-2000:]
    assert since(hosts, mark) == []


def test_a_snapshot_neither_the_first_server_nor_the_bucket_holds_is_refused(hosts: dict[str, Any], platform_name: str) -> None:
    mark = time.time()
    result = run_playbook(
        "keelson.platform.restore", "-e", f"keelson_restore_confirm={platform_name}", "-e", "keelson_restore_snapshot=nope"
    )
    assert result.returncode != 0
    said = output(result)
    assert 'server-1 holds no local snapshot named "nope", and the S3 bucket has none either.' in said, said[-2000:]
    # The message lists what the server holds (whatever earlier tests left there), or says none.
    listed = said.split("Snapshots server-1 or the bucket hold: ", 1)[1].split(". Nothing was changed", 1)[0]
    local = hosts["server-1"].check_output(f"ls -1 {SNAPSHOTS} 2>/dev/null || true").split()
    assert set(local) <= set(listed.split(", ")) and listed.strip() != "", (listed, local)
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
    assert f"Would restore {snapshot} (from file://{SNAPSHOTS}/{snapshot}) on server-1" in output(checked)
    # Saved with the cluster token, which k3s recorded: the cluster token, found rather than assumed.
    assert "with the token k3s-token (the one k3s recorded for the snapshot)" in output(checked)
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
    assert reset["restore_path"] == f"{SNAPSHOTS}/{snapshot}"
    assert reset["s3"] is False  # the local copy, read as a file: --etcd-s3=false
    assert not [c for c in calls if c["event"] == "etcd-snapshot-s3-download"]
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


def test_a_snapshot_only_the_bucket_holds_is_restored_from_it(hosts: dict[str, Any], platform_name: str) -> None:
    """After a rebuild the first server's snapshot folder is empty: k3s downloads the snapshot from the bucket."""
    saved = run_playbook("keelson.platform.backup", "-e", "keelson_backup_name=in-the-bucket")
    assert saved.returncode == 0, saved.stdout[-3000:]
    snapshot = [c["name"] for c in since(hosts, time.time() - 120) if c["event"] == "etcd-snapshot-save"][-1]
    assert snapshot in bucket.in_bucket()
    hosts["server-1"].run_expect([0], f"rm {SNAPSHOTS}/{snapshot}")

    mark = time.time()
    args = ["-e", f"keelson_restore_confirm={platform_name}", "-e", f"keelson_restore_snapshot={snapshot}"]
    result = run_playbook("keelson.platform.restore", *args)
    assert result.returncode == 0, result.stdout[-4000:]
    assert f"Restoring {snapshot} (from s3://keelson-etcd/molecule/{snapshot}) on server-1" in output(result)
    calls = since(hosts, mark)
    assert [(c["host"], c["name"]) for c in calls if c["event"] == "etcd-snapshot-s3-download"] == [("server-1", snapshot)]
    reset = next(c for c in calls if c["event"] == "cluster-reset")
    assert (reset["restore_path"], reset["s3"]) == (snapshot, True)  # a name in the bucket, as k3s reads it with etcd-s3 on
    steps = [(c["host"], c["event"]) for c in calls if c["event"] in ("cluster-reset", "start", "start-failed")]
    assert steps == [("server-1", "cluster-reset"), ("server-1", "start"), ("server-2", "start"), ("server-3", "start")], steps
    assert hosts["server-1"].file(f"{SNAPSHOTS}/{snapshot}").is_file  # k3s keeps the downloaded copy
    connection = api()
    try:
        listed = client.CoreV1Api(connection).list_node().items
    finally:
        connection.close()
    assert {node.metadata.name for node in listed} == set(SERVERS + AGENTS)
    assert all(any(c.type == "Ready" and c.status == "True" for c in node.status.conditions) for node in listed)


def test_with_the_bucket_down_the_servers_own_copy_is_restored_and_a_bucket_only_one_refused(
    hosts: dict[str, Any], platform_name: str
) -> None:
    """k3s fails the whole listing while it cannot reach the bucket: restore.yml lists the server's own copies
    (--etcd-s3=false), restores from one of those, and refuses a name only the bucket could hold, saying why."""
    saved = run_playbook("keelson.platform.backup", "-e", "keelson_backup_name=bucket-down")
    assert saved.returncode == 0, saved.stdout[-3000:]
    snapshot = [c["name"] for c in since(hosts, time.time() - 120) if c["event"] == "etcd-snapshot-save"][-1]
    confirm = ("-e", f"keelson_restore_confirm={platform_name}")
    bucket.stop()
    try:
        mark = time.time()
        checked = run_playbook("keelson.platform.restore", *confirm, "-e", f"keelson_restore_snapshot={snapshot}", "--check")
        refused = run_playbook("keelson.platform.restore", *confirm, "-e", "keelson_restore_snapshot=elsewhere-server-1-1")
    finally:
        bucket.start()
    assert checked.returncode == 0, checked.stdout[-3000:]
    would = f"Would restore {snapshot} (from file://{SNAPSHOTS}/{snapshot}, its own copy: k3s could not list the S3 bucket's copies"
    assert would in output(checked), output(checked)[-2000:]
    assert refused.returncode != 0
    told = output(refused)
    assert (
        'server-1 holds no local snapshot named "elsewhere-server-1-1", and k3s could not list the S3 bucket\'s copies to look there'
        in told
    ), told[-2000:]
    assert "failed to list snapshots in S3" in told
    assert "Snapshots server-1 holds: " in told and snapshot in told
    assert since(hosts, mark) == []


def test_site_is_a_no_op_after_the_restore(hosts: dict[str, Any]) -> None:
    mark = time.time()
    result = run_playbook(str(SCENARIO / "converge.yml"))
    assert result.returncode == 0, result.stdout[-3000:]
    assert [c for c in since(hosts, mark) if c["event"] in ("stop", "start")] == []
