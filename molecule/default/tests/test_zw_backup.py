# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""backup.yml on the converged hosts: check mode saves nothing; each run saves one snapshot on the first server, which
k3s copies to the spec's S3 bucket, and deletes that name's snapshots beyond the retention, oldest first, from both
places; a copy that did not reach the bucket stops the run. With the k3s TEST DOUBLE, which records each
`k3s etcd-snapshot` call, keeps a file per snapshot where k3s does (its content is not an etcd snapshot) and talks
S3 to the scenario's real S3 server (SeaweedFS, which checks the key and the signature; its TLS is checked against
the spec's CA)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import bucket
import pytest
import yaml
from api import wait_ready
from conftest import EPHEMERAL, SCENARIO, needs_double
from double import calls_since, said
from git_client import backend, write_backend
from playbook import run_playbook

pytestmark = needs_double  # reads the double's record of what it was asked

SNAPSHOTS = "/var/lib/rancher/k3s/server/db/snapshots"
CONTROL = "/etc/k3s-double"  # the double's test controls (tests/k3s-double/README.md)


@pytest.fixture(scope="module")
def keep_two() -> Path:
    spec = yaml.safe_load((SCENARIO / "inventory" / "group_vars" / "all" / "keelson.yml").read_text())["keelson_platform"]
    spec["cluster"]["etcd_snapshots"]["retention"] = 2
    spec["secrets"]["vault_file"]["path"] = str(EPHEMERAL / "keelson-secrets.vault.yml")
    path = EPHEMERAL / "backup-spec.yml"
    path.write_text(yaml.safe_dump({"keelson_platform": spec}))
    return path


def snapshot_calls(hosts: dict[str, Any], mark: float) -> list[dict[str, Any]]:
    return [c for c in calls_since(hosts, mark) if c["event"].startswith("etcd-snapshot")]


def local_snapshots(host: Any) -> list[str]:
    return sorted(host.check_output(f"ls -1 {SNAPSHOTS} 2>/dev/null || true").split())


def test_check_mode_saves_and_deletes_nothing(hosts: dict[str, Any], keep_two: Path) -> None:
    before = local_snapshots(hosts["server-1"])
    mark = time.time()
    result = run_playbook("keelson.platform.backup", "-e", f"@{keep_two}", "--check")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Would save keelson-server-1-<unix time>" in result.stdout
    assert snapshot_calls(hosts, mark) == []
    assert local_snapshots(hosts["server-1"]) == before


def test_each_run_saves_one_and_keeps_the_newest_of_its_name(hosts: dict[str, Any], keep_two: Path) -> None:
    mark = time.time()
    for _run in range(3):
        result = run_playbook("keelson.platform.backup", "-e", f"@{keep_two}")
        assert result.returncode == 0, result.stdout[-3000:]
        time.sleep(1.1)  # k3s names snapshots by the second
    calls = snapshot_calls(hosts, mark)
    names = [c["name"] for c in calls if c["event"] == "etcd-snapshot-save"]
    assert len(names) == 3 and all(name.startswith("keelson-server-1-") for name in names), calls
    assert {c["host"] for c in calls} == {"server-1"}  # the first server only
    # The third run deleted the oldest: two of this name are left, the newest two.
    assert [c["name"] for c in calls if c["event"] == "etcd-snapshot-delete"] == [names[0]]
    left = [name for name in local_snapshots(hosts["server-1"]) if name.startswith("keelson-server-1-")]
    assert left == sorted(names[1:])
    report = " ".join(result.stdout.split())
    assert f"Snapshots on server-1: {', '.join(left)}" in report
    assert f"Deleted: {names[0]}" in report
    # Each was copied to the bucket, and the oldest deleted there too: what SeaweedFS holds, read past S3.
    assert [c["name"] for c in calls if c["event"] == "etcd-snapshot-s3-upload"] == names
    assert [c["name"] for c in calls if c["event"] == "etcd-snapshot-s3-delete"] == [names[0]]
    assert [name for name in bucket.in_bucket() if name.startswith("keelson-server-1-")] == sorted(names[1:])
    assert f"Snapshots in s3://keelson-etcd/molecule: {', '.join(sorted(names[1:]))}" in report


def test_a_copy_that_did_not_reach_the_bucket_stops_the_run(hosts: dict[str, Any], keep_two: Path) -> None:
    """k3s saves the local copy and only logs a failed upload (here a key that may list the bucket but not write to
    it: the double's test control): backup.yml must not report success."""
    hosts["server-1"].run_expect([0], f"mkdir -p {CONTROL} && : > {CONTROL}/fail-s3-upload")
    try:
        mark = time.time()
        result = run_playbook("keelson.platform.backup", "-e", f"@{keep_two}")
    finally:
        hosts["server-1"].run_expect([0], f"rm -f {CONTROL}/fail-s3-upload")
    assert result.returncode != 0
    saved = [c["name"] for c in snapshot_calls(hosts, mark) if c["event"] == "etcd-snapshot-save"]
    assert len(saved) == 1
    assert [c["event"] for c in snapshot_calls(hosts, mark)] == ["etcd-snapshot-save", "etcd-snapshot-s3-upload-failed"]
    told = said(result)
    assert f"{saved[0]} was saved on server-1 but not copied to s3://keelson-etcd/molecule" in told, told[-2000:]
    assert "journalctl -u k3s" in told
    # Nothing was pruned on a failed run.
    assert not [c for c in snapshot_calls(hosts, mark) if c["event"].endswith("delete")]


@pytest.mark.parametrize(
    ("restart", "asked", "answer"),
    [
        # A server that has not reached the bucket since it started refuses every etcd-snapshot command.
        (True, ["etcd-snapshot-s3-client-failed"], "failed to initialize S3 client"),
        # One that made its S3 client before fails the listing: k3s lists the bucket with the server's copies.
        (False, [], "failed to list snapshots in S3"),
    ],
    ids=["since-the-server-started", "after-it-reached-it"],
)
def test_a_bucket_k3s_cannot_reach_is_said_and_the_snapshot_saved_on_the_server_alone(
    hosts: dict[str, Any], keep_two: Path, restart: bool, asked: list[str], answer: str
) -> None:
    """k3s refuses the question backup.yml asks first ("failed to initialize S3 client", or the listing's own error):
    backup.yml still saves on the server (--etcd-s3=false), then stops, with k3s' answer, and prunes nothing."""
    if restart:
        hosts["server-1"].run_expect([0], "systemctl restart k3s")  # a new server process: no S3 client yet
        wait_ready({"server-1"})
    else:
        # The server reaches the bucket once while it answers, whatever ran before this test.
        hosts["server-1"].run_expect([0], "k3s etcd-snapshot ls")
    bucket.stop()
    try:
        mark = time.time()
        result = run_playbook("keelson.platform.backup", "-e", f"@{keep_two}")
    finally:
        bucket.start()
    assert result.returncode != 0
    events = [c["event"] for c in snapshot_calls(hosts, mark)]
    assert events == [*asked, "etcd-snapshot-save"], events  # the question, then the local save
    saved = [c["name"] for c in snapshot_calls(hosts, mark) if c["event"] == "etcd-snapshot-save"]
    assert saved[0] in local_snapshots(hosts["server-1"])
    told = said(result)
    stopped = f"{saved[0]} was saved on server-1 but not copied to s3://keelson-etcd/molecule: k3s cannot reach the bucket"
    assert stopped in told, told[-2000:]
    assert answer in told
    assert "Nothing was pruned" in told
    # Once the bucket answers again, the next run copies and prunes as before.
    result = run_playbook("keelson.platform.backup", "-e", f"@{keep_two}")
    assert result.returncode == 0, result.stdout[-3000:]


def test_site_stops_before_writing_anything_when_the_backend_lacks_an_s3_key(hosts: dict[str, Any]) -> None:
    records = backend()
    kept = {name: value for name, value in records.items() if name != "etcd-s3-secret-key"}
    write_backend(kept)
    try:
        mark = time.time()
        result = run_playbook(str(SCENARIO / "converge.yml"))
    finally:
        write_backend(records)
    assert result.returncode != 0
    told = said(result)
    assert "cluster.etcd_snapshots.s3 names etcd-s3-secret-key, which the secrets backend does not hold" in told, told[-2000:]
    assert "Nothing was changed on server-1" in told
    assert [c for c in calls_since(hosts, mark) if c["event"] in ("stop", "start")] == []
    assert hosts["server-1"].file("/etc/rancher/k3s/config.yaml.d/etcd-s3-credentials.yaml").exists
