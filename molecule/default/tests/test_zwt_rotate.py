# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""rotate.yml -e keelson_rotate=token on the converged hosts: refused without saying what to rotate; check mode
changes nothing; the new token is in the secrets backend (the old one under a name of its own) before k3s is asked,
`k3s token rotate` runs once on the first server, then every server restarts with the new token one at a time and
the agents after; a node that does not come back stops the run there, and a re-run finishes it without rotating
again, restarting also a node whose token file was written after its k3s started; site.yml is a no-op after. The
k3s TEST DOUBLE keeps the token its bootstrap data is encrypted with (a server on another token does not start),
lets nodes that joined with the old token go on until they restart, and joins only with the current one.

What only a real k3s can prove (docs/day2.md): that `k3s token rotate` re-encrypts real bootstrap data, and how
long running nodes keep working on the old token."""

from __future__ import annotations

import time
from typing import Any

from api import ready_nodes
from conftest import AGENTS, SCENARIO, SERVER_TOKEN, SERVERS, TOKEN_FILE, needs_double, token_on
from double import assert_rerun_restarted, assert_stopped_at, restarts
from double import calls_since as since
from double import said as output
from git_client import backend
from playbook import ROTATE_TOKEN as ROTATE
from playbook import run_playbook

pytestmark = needs_double  # reads the double's record of what it was asked

FAIL_START = "/etc/k3s-double/fail-start"


def test_rotate_needs_to_be_told_what(hosts: dict[str, Any]) -> None:
    mark = time.time()
    result = run_playbook("keelson.platform.rotate")
    assert result.returncode != 0
    assert "Name what to rotate with -e keelson_rotate=token" in output(result), output(result)[-2000:]
    assert "Nothing was changed." in output(result)
    assert since(hosts, mark) == []


def test_check_mode_rotates_nothing(hosts: dict[str, Any]) -> None:
    before = backend()
    tokens = {name: token_on(hosts[name]) for name in SERVERS + AGENTS}
    mark = time.time()
    result = run_playbook(*ROTATE, "--check")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Would rotate the cluster token" in output(result)
    assert since(hosts, mark) == []
    assert backend() == before
    assert {name: token_on(hosts[name]) for name in SERVERS + AGENTS} == tokens


def test_a_rotation_waits_for_every_node_to_be_ready(hosts: dict[str, Any]) -> None:
    """A rotation restarts every node: with one already down it would leave the cluster short, so it is refused."""
    before = backend()
    hosts["agent-1"].run_expect([0], "systemctl stop k3s-agent")
    try:
        deadline = time.time() + 60
        while "agent-1" in ready_nodes() and time.time() < deadline:
            time.sleep(2)
        mark = time.time()
        result = run_playbook(*ROTATE)
        ended = time.time()
    finally:
        hosts["agent-1"].run_expect([0], "systemctl start k3s-agent")
    assert result.returncode != 0
    said = output(result)
    assert "agent-1 is not Ready: a rotation restarts every node" in said, said[-2000:]
    assert "Nothing was changed." in said
    asked = [c for c in since(hosts, mark) if c["time"] < ended and c["event"] in ("token-rotate", "stop", "start")]
    assert asked == []
    assert backend() == before
    deadline = time.time() + 60
    while "agent-1" not in ready_nodes() and time.time() < deadline:
        time.sleep(2)
    assert ready_nodes() == set(SERVERS + AGENTS)


def test_the_token_is_rotated_then_every_node_restarts_with_it_in_order(hosts: dict[str, Any]) -> None:
    old = backend()["k3s-token"]
    mark = time.time()
    result = run_playbook(*ROTATE)
    assert result.returncode == 0, result.stdout[-4000:]
    calls = since(hosts, mark)
    assert [(c["host"], c["event"]) for c in calls if c["event"] == "token-rotate"] == [("server-1", "token-rotate")]
    assert calls.index(next(c for c in calls if c["event"] == "token-rotate")) < calls.index(next(c for c in calls if c["event"] == "stop"))
    assert restarts(calls) == [(name, event) for name in SERVERS + AGENTS for event in ("stop", "start")]
    records = backend()
    new = records["k3s-token"]
    assert new != old and len(new) == len(old)
    (retired,) = [name for name, value in records.items() if name.startswith("k3s-token.retired-") and value == old]
    assert [name for name in records if name.startswith("k3s-token.next-")] == []  # the pending entry is the cluster token now
    assert f"The token before it is kept as {retired}" in output(result)
    assert {name: token_on(hosts[name]) for name in SERVERS + AGENTS} == dict.fromkeys(SERVERS + AGENTS, new)
    assert str(hosts["server-1"].file(SERVER_TOKEN).content_string).strip().endswith(f"::server:{new}")
    assert ready_nodes() == set(SERVERS + AGENTS)


def test_a_node_that_does_not_come_back_stops_the_rotation_and_a_rerun_finishes_it(hosts: dict[str, Any]) -> None:
    old = backend()["k3s-token"]
    hosts["server-2"].run_expect([0], f"mkdir -p /etc/k3s-double && : > {FAIL_START}")  # empty: fails at any version
    mark = time.time()
    try:
        result = run_playbook(*ROTATE)
    finally:
        hosts["server-2"].run_expect([0], f"rm -f {FAIL_START}")
    assert result.returncode != 0
    said = output(result)
    assert "server-2 did not come back with the new cluster token" in said, said[-3000:]
    calls = since(hosts, mark)
    assert [c["host"] for c in calls if c["event"] == "token-rotate"] == ["server-1"]
    assert_stopped_at(calls, "server-1", "server-2")
    new = backend()["k3s-token"]
    assert new != old
    # The nodes after it were not touched, and still run on the old token.
    assert (token_on(hosts["server-3"]), token_on(hosts["agent-1"])) == (old, old)
    assert {"server-3", "agent-1"} <= ready_nodes()
    # As if a run had been cut off on server-3 after writing its token file and before restarting k3s: the file
    # holds the new token, k3s still runs the old one. The re-run must restart it all the same.
    hosts["server-3"].run_expect([0], f"printf '%s\\n' '{new}' > {TOKEN_FILE}")
    assert token_on(hosts["server-3"]) == new

    mark = time.time()
    again = run_playbook(*ROTATE)
    assert again.returncode == 0, again.stdout[-4000:]
    assert "agent-1 still hold the old one" in output(again)
    calls = since(hosts, mark)
    assert [c for c in calls if c["event"] == "token-rotate"] == []  # finished, not rotated again
    assert_rerun_restarted(calls, "server-2", [("server-3", "stop"), ("server-3", "start"), ("agent-1", "stop"), ("agent-1", "start")])
    assert backend()["k3s-token"] == new
    assert [name for name in backend() if name.startswith("k3s-token.next-")] == []
    assert {name: token_on(hosts[name]) for name in SERVERS + AGENTS} == dict.fromkeys(SERVERS + AGENTS, new)
    assert ready_nodes() == set(SERVERS + AGENTS)


def test_site_is_a_no_op_after_the_rotation(hosts: dict[str, Any]) -> None:
    mark = time.time()
    result = run_playbook(str(SCENARIO / "converge.yml"))
    assert result.returncode == 0, result.stdout[-3000:]
    assert restarts(since(hosts, mark)) == []
