# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""restore.yml of a snapshot taken before a token rotation, on the converged hosts: with the cluster token k3s
refuses the reset and the run names the option; a token name that is not one a rotation keeps, or one the backend
does not hold, is refused before anything else; with the retired token (the name rotate.yml reported) the first
server is reset and started with it, the restored cluster is moved to the cluster token (`k3s token rotate`), the
first server restarted on it, then the others join: no node's token file and no backend entry changes. The k3s TEST
DOUBLE stamps each snapshot with a hash of the token it was saved under and refuses a reset, and a start, with another
one ("bootstrap data already found and encrypted with different token"), as k3s does.

What only a real k3s can prove (docs/day2.md): that a real snapshot's bootstrap data opens with the retired token,
and that `k3s token rotate` right after a reset re-encrypts it."""

from __future__ import annotations

import time
from typing import Any

from api import ready_nodes
from conftest import AGENTS, SERVER_TOKEN, SERVERS, needs_double, token_on
from double import calls_since as since
from double import said as output
from git_client import backend
from playbook import ROTATE_TOKEN, run_playbook

pytestmark = needs_double  # reads the double's record of what it was asked

RESTORE = "keelson.platform.restore"


def test_a_snapshot_from_before_a_rotation_is_restored_with_the_token_of_its_time(hosts: dict[str, Any], platform_name: str) -> None:
    saved = run_playbook("keelson.platform.backup", "-e", "keelson_backup_name=before-rotation")
    assert saved.returncode == 0, saved.stdout[-3000:]
    snapshot = [c["name"] for c in since(hosts, time.time() - 120) if c["event"] == "etcd-snapshot-save"][-1]
    old = backend()["k3s-token"]
    rotated = run_playbook(*ROTATE_TOKEN)
    assert rotated.returncode == 0, rotated.stdout[-3000:]
    records = backend()
    new = records["k3s-token"]
    (retired,) = [name for name, value in records.items() if name.startswith("k3s-token.retired-") and value == old]
    args = ("-e", f"keelson_restore_confirm={platform_name}", "-e", f"keelson_restore_snapshot={snapshot}")

    # With the cluster token: k3s refuses the reset, and the run says which option restores it.
    mark = time.time()
    refused = run_playbook(RESTORE, *args)
    assert refused.returncode != 0
    said = output(refused)
    assert "was taken with another cluster token than k3s-token: a snapshot from before a token rotation" in said, said[-3000:]
    assert "Run again with -e keelson_restore_token=<name>" in said
    calls = since(hosts, mark)
    assert [(c["host"], c["reason"]) for c in calls if c["event"] == "cluster-reset-failed"] == [("server-1", "token")]
    assert not [c for c in calls if c["event"] in ("cluster-reset", "start", "token-rotate")]
    assert not hosts["server-1"].file("/etc/rancher/k3s/restore-token").exists

    # Names that are no retired token, or that the backend does not hold: refused before anything is touched.
    for name, expected in (
        ("k3s-token.old", "keelson_restore_token='k3s-token.old' names neither the cluster token (k3s-token) nor a token a rotation kept"),
        (
            "k3s-token.retired-000000000000",
            "k3s-token.retired-000000000000 could not be read from the secrets backend: secret 'k3s-token.retired-000000000000' is not in",
        ),
    ):
        mark = time.time()
        result = run_playbook(RESTORE, *args, "-e", f"keelson_restore_token={name}")
        assert result.returncode != 0
        assert expected in output(result), output(result)[-2000:]
        assert "Nothing was changed." in output(result)
        assert since(hosts, mark) == []

    mark = time.time()
    checked = run_playbook(RESTORE, *args, "-e", f"keelson_restore_token={retired}", "--check")
    assert checked.returncode == 0, checked.stdout[-3000:]
    would = f"reset etcd on server-1 to the snapshot with the token {retired}, start it on that token, move the restored cluster"
    assert would in output(checked), output(checked)[-2000:]
    assert since(hosts, mark) == []

    mark = time.time()
    result = run_playbook(RESTORE, *args, "-e", f"keelson_restore_token={retired}")
    assert result.returncode == 0, result.stdout[-4000:]
    calls = since(hosts, mark)
    steps = [(c["host"], c["event"]) for c in calls if c["event"] in ("cluster-reset", "start", "stop", "start-failed", "token-rotate")]
    # The refused run left every server stopped, so this run's stops record nothing: its first step is the reset.
    assert steps == [
        ("server-1", "cluster-reset"),
        ("server-1", "start"),  # on the snapshot's token
        ("server-1", "token-rotate"),
        ("server-1", "stop"),
        ("server-1", "start"),  # on the cluster token
        ("server-2", "start"),
        ("server-3", "start"),
    ], steps
    assert f"It was reset with {retired}, the token of its time, and was moved to k3s-token" in output(result)
    # The cluster runs the backend's token again; nothing in the backend or on the nodes changed.
    assert backend() == records
    assert {name: token_on(hosts[name]) for name in SERVERS + AGENTS} == dict.fromkeys(SERVERS + AGENTS, new)
    assert str(hosts["server-1"].file(SERVER_TOKEN).content_string).strip().endswith(f"::server:{new}")
    assert not hosts["server-1"].file("/etc/rancher/k3s/restore-token").exists
    assert ready_nodes() == set(SERVERS + AGENTS)
