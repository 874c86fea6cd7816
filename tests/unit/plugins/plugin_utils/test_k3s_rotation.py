# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""rotate.yml's plans: which nodes a certificate rotation restarts (from k3s' own `k3s certificate check -o json`),
and where a rotation of the secrets-encryption key stands (from `k3s secrets-encrypt status --output json`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ansible_collections.keelson.platform.plugins.plugin_utils import _k3s_rotation as plans

NOW = "2026-12-03T12:00:00Z"
NODES = [
    {"name": "agent-1", "role": "agent"},  # listed first: the rotation still takes the servers first
    {"name": "server-1", "role": "server"},
    {"name": "server-2", "role": "server"},
]
CA = "k3s-server-ca@1700000000"


def certificate(file: str, expires: str, status: str = "OK", subject: str = "") -> dict[str, Any]:
    """One entry as k3s prints it (pkg/cli/cert: Go's RFC3339Nano time, ResidualTime in nanoseconds)."""
    return {
        "Filename": file,
        "Subject": subject or file.removesuffix(".crt"),
        "Issuer": CA,
        "Usages": ["ClientAuth"],
        "ExpiryTime": expires,
        "ResidualTime": 1,
        "Status": status,
    }


def check(*entries: dict[str, Any]) -> str:
    # k3s writes the CA after each certificate in its file, so check lists it too: never a certificate to rotate.
    chain = {**certificate("client-admin.crt", "2036-11-30T10:00:00Z"), "Subject": CA, "Usages": ["CertSign"]}
    return json.dumps({"Certificates": [*entries, chain]})


def fresh(file: str = "client-admin.crt") -> dict[str, Any]:
    return certificate(file, "2027-12-01T10:00:00.123456789Z")


def ready(*names: str) -> list[dict[str, Any]]:
    return [{"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}} for name in names]


def test_nothing_is_due_on_fresh_certificates() -> None:
    checks = {name: check(fresh()) for name in ("agent-1", "server-1", "server-2")}
    plan = plans.certificate_rotation(NODES, checks, "due", now=NOW)
    assert (plan["step"], plan["rotate"], plan["cutoff"]) == ("none", [], "")
    assert [row["node"] for row in plan["report"]] == ["server-1", "server-2", "agent-1"]
    assert plan["report"][0] == {
        "node": "server-1",
        "certificates": 1,  # the CA after it is not counted
        "file": "client-admin.crt",
        "expires": "2027-12-01T10:00:00Z",
        "days": 362,
        "due": [],
        "not_yet_valid": [],
        "rotate": False,
    }


def test_due_rotates_the_nodes_k3s_calls_due_in_the_rotation_order() -> None:
    checks = {
        "agent-1": check(certificate("client-kubelet.crt", "2027-02-01T00:00:00Z", "WARNING")),
        "server-1": check(fresh()),
        "server-2": check(fresh(), certificate("serving-kube-apiserver.crt", "2026-11-01T00:00:00Z", "EXPIRED")),
    }
    plan = plans.certificate_rotation(NODES, checks, "due", node_objects=ready("agent-1", "server-1", "server-2"), now=NOW)
    assert (plan["step"], plan["rotate"]) == ("rotate", ["server-2", "agent-1"])
    report = {row["node"]: row for row in plan["report"]}
    assert report["server-2"]["due"] == ["serving-kube-apiserver.crt"]
    assert report["server-2"]["days"] < 0 and report["server-2"]["file"] == "serving-kube-apiserver.crt"
    assert report["agent-1"]["due"] == ["client-kubelet.crt"]


def test_all_rotates_every_node_and_names_the_cutoff_a_rerun_goes_on_with() -> None:
    checks = {
        "agent-1": check(certificate("client-kubelet.crt", "2027-10-01T00:00:00Z")),
        "server-1": check(certificate("client-admin.crt", "2027-11-01T08:00:00Z")),
        "server-2": check(certificate("client-admin.crt", "2027-09-01T00:00:00Z")),
    }
    plan = plans.certificate_rotation(NODES, checks, "all", now=NOW)
    assert (plan["step"], plan["rotate"], plan["cutoff"]) == ("rotate", ["server-1", "server-2", "agent-1"], "2027-11-01T08:00:00Z")
    # A run stopped after server-1: its new certificates expire after the cut-off, so the same cut-off leaves it alone.
    checks["server-1"] = check(certificate("client-admin.crt", "2027-12-03T12:00:00Z"))
    again = plans.certificate_rotation(NODES, checks, plan["cutoff"], now=NOW)
    assert (again["step"], again["rotate"], again["cutoff"]) == ("rotate", ["server-2", "agent-1"], plan["cutoff"])
    # A node whose certificates a stopped run removed (k3s down there) lists none: nothing left to rotate on it.
    checks["server-2"] = json.dumps({"Certificates": None})
    assert plans.certificate_rotation(NODES, checks, plan["cutoff"], now=NOW)["rotate"] == ["agent-1"]


def test_a_time_rotates_the_nodes_with_a_certificate_expiring_at_or_before_it() -> None:
    checks = {
        "agent-1": check(certificate("client-kubelet.crt", "2027-06-01T00:00:00Z")),
        "server-1": check(fresh()),
        "server-2": check(certificate("client-admin.crt", "2027-06-01T02:00:00+02:00")),  # the same moment
    }
    plan = plans.certificate_rotation(NODES, checks, "2027-06-01T00:00:00Z", now=NOW)
    assert (plan["rotate"], plan["cutoff"]) == (["server-2", "agent-1"], "2027-06-01T00:00:00Z")
    assert plans.certificate_rotation(NODES, checks, "2027-05-31", now=NOW)["step"] == "none"  # a date is its midnight, UTC


@pytest.mark.parametrize("asked", ["soon", "2027-13-01", "yes"])
def test_anything_else_asked_is_refused_saying_what_may_be_asked(asked: str) -> None:
    checks = {name: check(fresh()) for name in ("agent-1", "server-1", "server-2")}
    plan = plans.certificate_rotation(NODES, checks, asked, now=NOW)
    assert plan["step"] == "refuse"
    assert plan["reason"].startswith("keelson_rotate_certificates must be due")
    assert repr(asked) in plan["reason"] and plan["reason"].endswith("Nothing was changed.")


@pytest.mark.parametrize(
    "output", ["", "time=... level=info msg=ok", "[]", '{"Certificates": "none"}', '{"Certificates": [{"Filename": "x"}]}']
)
def test_output_that_is_not_k3s_json_is_refused_naming_the_node(output: str) -> None:
    checks = {"agent-1": output, "server-1": check(fresh()), "server-2": check(fresh())}
    plan = plans.certificate_rotation(NODES, checks, "all", now=NOW)
    assert plan["step"] == "refuse"
    assert plan["reason"].startswith("`k3s certificate check -o json` on agent-1 did not give k3s' certificate list")


def test_a_server_not_ready_after_the_first_to_rotate_refuses_the_rotation() -> None:
    """Rotating server-1 while server-2 is down (and not to be rotated) would leave two etcd members down at once."""
    due = check(certificate("client-admin.crt", "2027-01-01T00:00:00Z", "WARNING"))
    checks = {"agent-1": due, "server-1": due, "server-2": check(fresh())}
    plan = plans.certificate_rotation(NODES, checks, "due", node_objects=ready("server-1", "agent-1"), now=NOW)
    assert plan["step"] == "refuse"
    assert plan["reason"].startswith("server-2 is not Ready, and the rotation would restart server-1 before it")
    # Down and due itself (expired certificates are a reason to be down): rotated in its turn.
    checks["server-2"] = due
    plan = plans.certificate_rotation(NODES, checks, "due", node_objects=ready("server-1", "agent-1"), now=NOW)
    assert (plan["step"], plan["rotate"], plan["down"]) == ("rotate", ["server-1", "server-2", "agent-1"], ["server-2"])
    # An agent down is no etcd member: the servers rotate.
    checks["agent-1"] = check(fresh())
    plan = plans.certificate_rotation(NODES, checks, "due", node_objects=ready("server-1", "server-2"), now=NOW)
    assert (plan["step"], plan["rotate"]) == ("rotate", ["server-1", "server-2"])
    # A node down before the first to rotate is started and waited for first (a run that stopped on it): allowed.
    checks = {"agent-1": due, "server-1": check(fresh()), "server-2": check(fresh())}
    plan = plans.certificate_rotation(NODES, checks, "due", node_objects=ready("server-1", "agent-1"), now=NOW)
    assert (plan["step"], plan["rotate"]) == ("rotate", ["agent-1"])


def test_a_node_left_down_by_a_stopped_run_is_started_even_with_nothing_to_rotate() -> None:
    """k3s certificate rotate removed its certificates and k3s did not start: it lists none, and must be started."""
    checks = {"agent-1": check(fresh()), "server-1": check(fresh()), "server-2": json.dumps({"Certificates": []})}
    plan = plans.certificate_rotation(NODES, checks, "due", node_objects=ready("server-1", "agent-1"), now=NOW)
    assert (plan["step"], plan["rotate"], plan["down"]) == ("start", [], ["server-2"])
    assert plan["report"][1]["certificates"] == 0
    # Without the API's Node objects (an expired admin certificate), readiness is not judged.
    assert plans.certificate_rotation(NODES, checks, "due", now=NOW)["step"] == "none"


def test_after_a_rotation_the_nodes_whose_certificates_are_not_new_are_named() -> None:
    old = {"agent-1": check(fresh()), "server-1": check(fresh()), "server-2": check(fresh())}
    before = plans.certificate_rotation(NODES, old, "all", now=NOW)
    renewed = check(certificate("client-admin.crt", "2027-12-03T12:00:00Z"))
    after = {"agent-1": renewed, "server-1": renewed, "server-2": old["server-2"]}
    assert plans.certificate_rotation(NODES, after, "due", now=NOW, before=before)["not_renewed"] == ["server-2"]
    after["server-2"] = json.dumps({"Certificates": []})
    assert plans.certificate_rotation(NODES, after, "due", now=NOW, before=before)["not_renewed"] == ["server-2"]
    after["server-2"] = renewed
    assert plans.certificate_rotation(NODES, after, "due", now=NOW, before=before)["not_renewed"] == []


def test_intermediate_cas_are_not_node_certificates() -> None:
    """With a custom CA chain, the intermediates k3s lists after each certificate would make 'all' pick every node
    forever (their expiry years out): they are left out like the root."""
    intermediate = {**certificate("client-admin.crt", "2035-01-01T00:00:00Z"), "Subject": "k3s-intermediate-ca", "Usages": ["CertSign"]}
    checks = {name: check(fresh(), intermediate) for name in ("agent-1", "server-1", "server-2")}
    plan = plans.certificate_rotation(NODES, checks, "all", now=NOW)
    assert plan["cutoff"] == "2027-12-01T10:00:00Z"
    assert plan["report"][0]["certificates"] == 1


def test_a_certificate_not_yet_valid_is_reported_not_rotated() -> None:
    checks = {
        "agent-1": check(certificate("client-kubelet.crt", "2027-01-01T00:00:00Z", "NOT YET VALID")),
        "server-1": check(fresh()),
        "server-2": check(fresh()),
    }
    plan = plans.certificate_rotation(NODES, checks, "due", now=NOW)
    assert plan["step"] == "none"
    assert plan["report"][2]["not_yet_valid"] == ["client-kubelet.crt"]


SERVERS = [node for node in NODES if node["role"] == "server"] + [{"name": "server-3", "role": "server"}]


def status(stage: str = "start", *, hashmatch: bool = True, enable: bool = True) -> str:
    """What `k3s secrets-encrypt status --output json` prints (k3s' EncryptionState)."""
    state: dict[str, Any] = {"stage": stage, "activekey": "aescbckey", "enable": enable, "hashmatch": hashmatch}
    if not hashmatch:
        state["hasherror"] = "hash does not match between server-1 and server-3"
    return json.dumps(state)


def servers(hashes: dict[str, str], down: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [
        {
            "metadata": {"name": name, "annotations": {plans.ENCRYPTION_HASH: value}},
            "status": {"conditions": [{"type": "Ready", "status": "False" if name in down else "True"}]},
        }
        for name, value in hashes.items()
    ]


SAME = {"server-1": "start-aa", "server-2": "start-aa", "server-3": "start-aa"}


def test_a_new_rotation_restarts_every_server_the_first_one_first() -> None:
    plan = plans.encryption_rotation(NODES + SERVERS[2:], status(), node_objects=servers(SAME))
    assert (plan["step"], plan["restart"], plan["active"]) == ("rotate", ["server-1", "server-2", "server-3"], "aescbckey")
    again = plans.encryption_rotation(NODES + SERVERS[2:], status("reencrypt_finished"), node_objects=servers(SAME))
    assert again["step"] == "rotate"  # every run asks for a new rotation once the last one finished
    # One server: k3s' single-server procedure restarts nothing.
    single = plans.encryption_rotation([{"name": "server-1", "role": "server"}], status(), node_objects=servers({"server-1": "start-aa"}))
    assert (single["step"], single["restart"]) == ("rotate", [])


def test_a_rotation_re_encrypting_is_waited_for_not_started_again() -> None:
    for stage in ("reencrypt_request", "reencrypt_active"):
        plan = plans.encryption_rotation(NODES + SERVERS[2:], status(stage), node_objects=servers(SAME))
        assert (plan["step"], plan["restart"]) == ("wait", ["server-1", "server-2", "server-3"])


def test_a_run_that_stopped_while_restarting_restarts_only_the_servers_behind() -> None:
    hashes = {"server-1": "reencrypt_finished-bb", "server-2": "reencrypt_finished-bb", "server-3": "start-aa"}
    plan = plans.encryption_rotation(NODES + SERVERS[2:], status("reencrypt_finished", hashmatch=False), node_objects=servers(hashes))
    assert (plan["step"], plan["restart"]) == ("finish", ["server-3"])
    assert plan["hasherror"] == "hash does not match between server-1 and server-3"
    # Stopped before any server restarted: the first one first, as k3s' procedure has it.
    hashes = {"server-1": "reencrypt_finished-bb", "server-2": "start-aa", "server-3": "start-aa"}
    plan = plans.encryption_rotation(NODES + SERVERS[2:], status("reencrypt_finished", hashmatch=False), node_objects=servers(hashes))
    assert plan["restart"] == ["server-1", "server-2", "server-3"]


def test_a_new_rotation_waits_for_every_server_to_be_ready() -> None:
    plan = plans.encryption_rotation(NODES + SERVERS[2:], status(), node_objects=servers(SAME, down=("server-2",)))
    assert plan["step"] == "refuse"
    assert plan["reason"].startswith("server-2 is not Ready: a rotation restarts every server")
    # An agent down does not matter: only servers restart.
    agent = {"metadata": {"name": "agent-1"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    assert plans.encryption_rotation(NODES + SERVERS[2:], status(), node_objects=[*servers(SAME), agent])["step"] == "rotate"


@pytest.mark.parametrize(
    ("output", "says"),
    [
        (status(enable=False), "secrets encryption is off on this cluster"),
        (status("prepare"), "k3s secrets-encrypt is at stage 'prepare', a step of the legacy procedure"),
        (status("rotate"), "a step of the legacy procedure"),
        ("Encryption Status: Enabled", "did not give k3s' encryption status"),
        ("[]", "did not give k3s' encryption status"),
    ],
)
def test_what_rotate_keys_cannot_start_from_is_refused(output: str, says: str) -> None:
    plan = plans.encryption_rotation(NODES + SERVERS[2:], output, node_objects=servers(SAME))
    assert plan["step"] == "refuse"
    assert says in plan["reason"] and plan["reason"].endswith("Nothing was changed.")


def test_servers_down_after_a_stopped_run_are_named_to_be_started_first() -> None:
    """server-2 failed to come back and is still down: rotate.yml starts it before restarting any server."""
    hashes = {"server-1": "reencrypt_finished-bb", "server-2": "start-aa", "server-3": "start-aa"}
    plan = plans.encryption_rotation(
        NODES + SERVERS[2:], status("reencrypt_finished", hashmatch=False), node_objects=servers(hashes, down=("server-2",))
    )
    assert (plan["step"], plan["down"]) == ("finish", ["server-2"])


def test_differing_configs_on_no_server_of_the_inventory_are_refused() -> None:
    plan = plans.encryption_rotation(NODES + SERVERS[2:], status("reencrypt_finished", hashmatch=False), node_objects=servers(SAME))
    assert plan["step"] == "refuse"
    assert "a server outside the inventory?" in plan["reason"]
    # A Node without annotations at all is no crash.
    bare = [{"metadata": {"name": name, "annotations": None}, "status": {}} for name in SAME]
    assert plans.encryption_rotation(NODES + SERVERS[2:], status(), node_objects=bare)["step"] == "refuse"
