# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""restore.yml of a snapshot taken before a token rotation, on the converged hosts: the token it was saved with is
found from the hash k3s recorded on its ETCDSnapshotFile; a token name that is not that one, not one a rotation
keeps, or one the backend does not hold, is refused before anything else. Without k3s' record (it is lost in a
restore) k3s refuses the reset with the cluster token and the run names the option. With the retired token the first
server is reset and started with it, the restored cluster is moved to the cluster token (`k3s token rotate`), the
first server restarted on it, then the others join: no node's token file and no backend entry changes. The k3s TEST
DOUBLE stamps each snapshot with a hash of the token it was saved under and refuses a reset, and a start, with another
one ("bootstrap data already found and encrypted with different token"), as k3s does.

What only a real k3s can prove (docs/day2.md): that a real snapshot's bootstrap data opens with the retired token,
and that `k3s token rotate` right after a reset re-encrypts it."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from typing import Any

import bucket
import pytest
from api import ready_nodes
from conftest import AGENTS, SERVER_TOKEN, SERVERS, needs_double, token_on
from double import calls_since as since
from double import said as output
from git_client import backend, write_backend
from playbook import ROTATE_TOKEN, run_playbook

pytestmark = needs_double  # reads the double's record of what it was asked

RESTORE = "keelson.platform.restore"


STEPS = ("cluster-reset", "start", "stop", "start-failed", "token-rotate")
# After the servers stopped: the reset on the snapshot's token, the move to the cluster token, the others joining.
RESET_WITH_THE_RETIRED_TOKEN = [
    ("server-1", "cluster-reset"),
    ("server-1", "start"),  # on the snapshot's token
    ("server-1", "token-rotate"),
    ("server-1", "stop"),
    ("server-1", "start"),  # on the cluster token
    ("server-2", "start"),
    ("server-3", "start"),
]


@dataclass(frozen=True)
class Rotated:
    snapshot: str
    retired: str  # the name rotate.yml kept the snapshot's token under
    new: str  # the cluster token after the rotation
    records: dict[str, str]  # the backend after the rotation
    args: tuple[str, ...]


@pytest.fixture(scope="module")
def rotated(hosts: dict[str, Any], platform_name: str) -> Rotated:
    """A snapshot saved, then the cluster token rotated."""
    saved = run_playbook("keelson.platform.backup", "-e", "keelson_backup_name=before-rotation")
    assert saved.returncode == 0, saved.stdout[-3000:]
    snapshot = [c["name"] for c in since(hosts, time.time() - 120) if c["event"] == "etcd-snapshot-save"][-1]
    old = backend()["k3s-token"]
    result = run_playbook(*ROTATE_TOKEN)
    assert result.returncode == 0, result.stdout[-3000:]
    records = backend()
    (retired,) = [name for name, value in records.items() if name.startswith("k3s-token.retired-") and value == old]
    args = ("-e", f"keelson_restore_confirm={platform_name}", "-e", f"keelson_restore_snapshot={snapshot}")
    return Rotated(snapshot, retired, records["k3s-token"], records, args)


def assert_restored(hosts: dict[str, Any], state: Rotated, result: subprocess.CompletedProcess[str]) -> None:
    """The cluster runs the backend's token again; nothing in the backend or on the nodes changed."""
    assert f"It was reset with {state.retired}, the token of its time, and was moved to k3s-token" in output(result)
    assert backend() == state.records
    assert {name: token_on(hosts[name]) for name in SERVERS + AGENTS} == dict.fromkeys(SERVERS + AGENTS, state.new)
    assert str(hosts["server-1"].file(SERVER_TOKEN).content_string).strip().endswith(f"::server:{state.new}")
    assert not hosts["server-1"].file("/etc/rancher/k3s/restore-token").exists
    assert ready_nodes() == set(SERVERS + AGENTS)


def test_the_token_is_found_from_what_k3s_recorded_and_any_other_refused_before_anything_stops(
    hosts: dict[str, Any], rotated: Rotated
) -> None:
    """k3s recorded the snapshot's token hash on its ETCDSnapshotFile: the retired token is found without being named;
    a name that is not it, no retired token at all, or one the backend lacks, is refused with nothing touched."""
    mark = time.time()
    checked = run_playbook(RESTORE, *rotated.args, "--check")
    assert checked.returncode == 0, checked.stdout[-3000:]
    would = f"the snapshot with the token {rotated.retired} (the one k3s recorded for the snapshot), start it on that token"
    assert would in output(checked), output(checked)[-2000:]
    assert since(hosts, mark) == []

    digits = rotated.retired.rsplit("-", 1)[1]
    mismatch = f"{rotated.snapshot} was saved with the token {rotated.retired} (k3s recorded its hash, {digits}, on the"
    for name, expected in (
        ("k3s-token", mismatch),
        ("k3s-token.retired-000000000000", mismatch),
        ("k3s-token.old", "keelson_restore_token='k3s-token.old' names neither the cluster token (k3s-token) nor a token a rotation kept"),
    ):
        mark = time.time()
        result = run_playbook(RESTORE, *rotated.args, "-e", f"keelson_restore_token={name}")
        assert result.returncode != 0
        assert expected in output(result), output(result)[-2000:]
        assert "Nothing was changed." in output(result)
        assert since(hosts, mark) == []

    # Told to take the name given over k3s' record (for a record that is wrong): the plan says so, check mode only.
    mark = time.time()
    overridden = run_playbook(
        RESTORE, *rotated.args, "-e", "keelson_restore_token=k3s-token", "-e", "keelson_restore_ignore_record=true", "--check"
    )
    assert overridden.returncode == 0, overridden.stdout[-3000:]
    assert "with the token k3s-token (the one named; k3s' record was not read (keelson_restore_ignore_record))" in output(overridden)
    assert since(hosts, mark) == []

    write_backend({key: value for key, value in rotated.records.items() if key != rotated.retired})
    try:
        mark = time.time()
        result = run_playbook(RESTORE, *rotated.args)
    finally:
        write_backend(rotated.records)
    assert result.returncode != 0
    told = output(result)
    assert f"{rotated.retired} could not be read from the secrets backend: secret '{rotated.retired}' is not in" in told, told[-2000:]
    assert f"k3s recorded that {rotated.snapshot} was saved with that token" in told
    assert since(hosts, mark) == []


def test_it_is_restored_with_the_token_k3s_recorded(hosts: dict[str, Any], rotated: Rotated) -> None:
    mark = time.time()
    result = run_playbook(RESTORE, *rotated.args)
    assert result.returncode == 0, result.stdout[-4000:]
    steps = [(c["host"], c["event"]) for c in since(hosts, mark) if c["event"] in STEPS]
    assert sorted(steps[:3]) == [(name, "stop") for name in SERVERS], steps
    assert steps[3:] == RESET_WITH_THE_RETIRED_TOKEN, steps
    assert_restored(hosts, rotated, result)


def test_without_k3s_record_the_reset_is_refused_and_the_option_named(hosts: dict[str, Any], rotated: Rotated) -> None:
    """The restore took the datastore back to before k3s made the snapshot's ETCDSnapshotFile, so k3s lists the local
    file again without the hash; with the bucket down it has no object for the S3 copy (which holds the hash in its
    metadata) either, and fails the listing: restore.yml takes the server's own copy, k3s refuses the reset with the
    cluster token, and the run names the option."""
    bucket.stop()
    try:
        mark = time.time()
        refused = run_playbook(RESTORE, *rotated.args)
    finally:
        bucket.start()
    assert refused.returncode != 0
    said = output(refused)
    assert "was taken with another cluster token than k3s-token: a snapshot from before a token rotation" in said, said[-3000:]
    assert "k3s had no record of the snapshot's token to find it by" in said
    assert "its own copy: k3s could not list the S3 bucket's copies" in said
    assert "Run again with -e keelson_restore_token=<name>" in said
    calls = since(hosts, mark)
    assert [(c["host"], c["reason"]) for c in calls if c["event"] == "cluster-reset-failed"] == [("server-1", "token")]
    assert not [c for c in calls if c["event"] in ("cluster-reset", "start", "token-rotate")]
    assert not hosts["server-1"].file("/etc/rancher/k3s/restore-token").exists


def test_with_the_name_rotate_reported_it_is_restored(hosts: dict[str, Any], rotated: Rotated) -> None:
    named = (*rotated.args, "-e", f"keelson_restore_token={rotated.retired}")
    mark = time.time()
    checked = run_playbook(RESTORE, *named, "--check")
    assert checked.returncode == 0, checked.stdout[-3000:]
    # Every server is stopped: k3s cannot be asked (no API, and etcd-snapshot ls asks the running server), so the
    # server's snapshot folder is read.
    would = f"the snapshot with the token {rotated.retired} (k3s could not be asked which token the snapshot was saved with"
    assert would in output(checked), output(checked)[-2000:]
    assert "read from its snapshot folder: k3s does not answer there" in output(checked)
    assert since(hosts, mark) == []

    mark = time.time()
    result = run_playbook(RESTORE, *named)
    assert result.returncode == 0, result.stdout[-4000:]
    # The refused run left every server stopped, so this run's stops record nothing: its first step is the reset,
    # from the file in the folder (--etcd-s3=false).
    calls = since(hosts, mark)
    steps = [(c["host"], c["event"]) for c in calls if c["event"] in STEPS]
    assert steps == RESET_WITH_THE_RETIRED_TOKEN, steps
    reset = next(c for c in calls if c["event"] == "cluster-reset")
    assert (reset["restore_path"], reset["s3"]) == (f"/var/lib/rancher/k3s/server/db/snapshots/{rotated.snapshot}", False)
    assert_restored(hosts, rotated, result)
