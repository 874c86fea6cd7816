# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""rotate.yml -e keelson_rotate=certificates on the converged hosts: every node's `k3s certificate check` reported and
nothing rotated while no certificate is due; with certificates due on two nodes, check mode changes nothing, the run
rotates exactly those two by k3s' procedure (stopped, `k3s certificate rotate`, started) in the rotation's order, and a
re-run is a no-op; `all` rotates every node, takes the controller's kubeconfig again after the first server, and a run
that stopped on a node goes on with the command it printed without rotating a node twice.

The k3s TEST DOUBLE issues its certificates with openssl (valid 365 days, or the days in its test control
/etc/k3s-double/cert-days), renews the ones within 120 days of expiry when it starts, as k3s does, and answers
`k3s certificate check --output json` in k3s' fields. What only a real k3s can prove (docs/day2.md): that a real k3s'
check lists the same and a real restart makes every certificate anew."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from api import ready_nodes, wait_ready
from conftest import AGENTS, EPHEMERAL, SERVERS, needs_double
from double import assert_rerun_restarted, assert_stopped_at, recap, restarts
from double import calls_since as since
from double import said as output
from playbook import run_playbook

pytestmark = needs_double  # reads the double's record of what it was asked

ROTATE = ("keelson.platform.rotate", "-e", "keelson_rotate=certificates")
CONTROL = "/etc/k3s-double"
UNIT = {**dict.fromkeys(SERVERS, "k3s"), **dict.fromkeys(AGENTS, "k3s-agent")}


def rotated(calls: list[dict[str, Any]]) -> list[str]:
    return [c["host"] for c in calls if c["event"] == "certificate-rotate"]


def checked(host: Any) -> list[dict[str, Any]]:
    """The node's own certificates as k3s lists them (the CA after each left out)."""
    listed = json.loads(host.check_output("k3s certificate check --output json 2>/dev/null"))["Certificates"]
    return [item for item in listed if item["Subject"] != item["Issuer"]]


def give_short_certificates(host: Any, name: str, days: int) -> None:
    """By hand, what a node that last restarted long ago holds: certificates `days` from expiry."""
    host.run_expect([0], f"mkdir -p {CONTROL} && echo {days} > {CONTROL}/cert-days")
    try:
        host.run_expect([0], f"systemctl stop {UNIT[name]} && k3s certificate rotate && systemctl start {UNIT[name]}")
    finally:
        host.run_expect([0], f"rm -f {CONTROL}/cert-days")


def test_every_node_is_reported_and_nothing_rotates_while_nothing_is_due(hosts: dict[str, Any]) -> None:
    mark = time.time()
    result = run_playbook(*ROTATE)
    assert result.returncode == 0, result.stdout[-3000:]
    said = output(result)
    # Servers: the API's serving and admin certificates, etcd's two and the kubelet's two; an agent: the kubelet's.
    for name in SERVERS:
        assert re.search(rf"{name}: 6 certificates, the first to expire \S+ on \S+ \((36[45]) days\)", said), said[-3000:]
    assert re.search(r"agent-1: 2 certificates, the first to expire \S+ on \S+ \((36[45]) days\)", said)
    assert "No node holds a certificate to rotate (none within 120 days of expiry): nothing to do." in said
    assert since(hosts, mark) == []
    assert set(recap(result).values()) == {0}


def test_due_certificates_are_rotated_on_those_nodes_only_and_a_rerun_is_a_no_op(hosts: dict[str, Any]) -> None:
    for name in ("server-2", "agent-1"):
        give_short_certificates(hosts[name], name, 100)
    wait_ready(set(SERVERS + AGENTS))
    assert all(item["Status"] == "WARNING" for item in checked(hosts["server-2"]))
    before = {name: checked(hosts[name]) for name in SERVERS + AGENTS}

    mark = time.time()
    check = run_playbook(*ROTATE, "--check")
    assert check.returncode == 0, check.stdout[-3000:]
    assert "Would rotate the certificates of server-2, agent-1" in output(check), output(check)[-3000:]
    assert "server-2: 6 certificates" in output(check) and "due (within 120 days): client-admin.crt" in output(check)
    assert since(hosts, mark) == []

    mark = time.time()
    result = run_playbook(*ROTATE)
    assert result.returncode == 0, result.stdout[-4000:]
    calls = since(hosts, mark)
    assert rotated(calls) == ["server-2", "agent-1"]
    assert all(c["running"] is False for c in calls if c["event"] == "certificate-rotate")  # stopped first, as k3s asks
    assert restarts(calls) == [("server-2", "stop"), ("server-2", "start"), ("agent-1", "stop"), ("agent-1", "start")]
    assert "Rotated the certificates of server-2, agent-1" in output(result)
    for name in ("server-2", "agent-1"):
        after = checked(hosts[name])
        assert {item["Status"] for item in after} == {"OK"}
        assert min(item["ResidualTime"] for item in after) > 360 * 86400 * 10**9
    for name in ("server-1", "server-3"):
        assert [item["ExpiryTime"] for item in checked(hosts[name])] == [item["ExpiryTime"] for item in before[name]]
    wait_ready(set(SERVERS + AGENTS))

    mark = time.time()
    again = run_playbook(*ROTATE)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "nothing to do" in output(again)
    assert since(hosts, mark) == []
    assert set(recap(again).values()) == {0}


def test_all_rotates_every_node_and_a_run_that_stopped_goes_on_without_rotating_twice(hosts: dict[str, Any]) -> None:
    kubeconfig = (EPHEMERAL / "kubeconfig").read_text()
    hosts["server-2"].run_expect([0], f"mkdir -p {CONTROL} && : > {CONTROL}/fail-start")  # empty: fails at any version
    mark = time.time()
    try:
        result = run_playbook(*ROTATE, "-e", "keelson_rotate_certificates=all")
    finally:
        hosts["server-2"].run_expect([0], f"rm -f {CONTROL}/fail-start")
    assert result.returncode != 0
    said = output(result)
    assert "server-2 did not come back after its certificates were rotated" in said, said[-3000:]
    calls = since(hosts, mark)
    assert rotated(calls) == ["server-1", "server-2"]
    assert_stopped_at(calls, "server-1", "server-2")
    # The first server's new admin certificate is in the controller's kubeconfig, and it works.
    assert (EPHEMERAL / "kubeconfig").read_text() != kubeconfig
    assert {"server-1", "server-3", "agent-1"} <= ready_nodes()
    (cutoff,) = set(re.findall(r"-e keelson_rotate_certificates=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", said))
    assert f"run ansible-playbook keelson.platform.rotate -e keelson_rotate=certificates -e keelson_rotate_certificates={cutoff}" in said

    mark = time.time()
    again = run_playbook(*ROTATE, "-e", f"keelson_rotate_certificates={cutoff}")
    assert again.returncode == 0, again.stdout[-4000:]
    calls = since(hosts, mark)
    assert rotated(calls) == ["server-3", "agent-1"]
    # server-1 untouched.
    assert_rerun_restarted(calls, "server-2", [("server-3", "stop"), ("server-3", "start"), ("agent-1", "stop"), ("agent-1", "start")])
    wait_ready(set(SERVERS + AGENTS))
    assert "nothing to do" in output(run_playbook(*ROTATE, "-e", f"keelson_rotate_certificates={cutoff}"))
