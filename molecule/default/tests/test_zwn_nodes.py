# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""remove_node.yml and add_node.yml on the converged hosts: an agent out and back in, a server out (3 -> 2 refused
without force, quorum kept with it) and back in, with no other node restarted. The k3s TEST DOUBLE records what a real
k3s would be asked (stops, starts, the etcd member removal its controller makes, the Node deletion). Runs after
backup and before restore and upgrade (file names sort it there); the tests depend on each other's order.

What only a real k3s can prove (docs/day2.md): that k3s' etcd member controller removes the member, and real etcd's
behaviour while it goes."""

from __future__ import annotations

import json
import shlex
import time
from typing import Any

from conftest import AGENTS, EPHEMERAL, SERVERS, needs_double
from double import calls_since as since
from double import recap
from double import said as output
from kubernetes import client, config
from playbook import run_playbook

pytestmark = needs_double  # reads the double's record of what it was asked

ALL = SERVERS + AGENTS
CONTROL = "/etc/k3s-double"  # the double's test controls (tests/k3s-double/README.md)
ETCD_MEMBERS = """python3 -c '
import json, ssl, urllib.request
tls = "/var/lib/rancher/k3s/server/tls/etcd/"
context = ssl.create_default_context(cafile=tls + "server-ca.crt")
context.load_cert_chain(tls + "server-client.crt", tls + "server-client.key")
request = urllib.request.Request("https://127.0.0.1:2379/v3/cluster/member/list", data=b"{}", method="POST")
members = json.load(urllib.request.urlopen(request, context=context))["members"]
health = json.load(urllib.request.urlopen("https://127.0.0.1:2379/health", context=context))["health"]
print(json.dumps({"names": sorted(m["name"] for m in members), "health": health}))
'"""


def restarts(calls: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    return [c for c in calls if c["host"] in names and c["event"] in ("stop", "start", "start-failed")]


def assert_a_rerun_changes_nothing(hosts: dict[str, Any], playbook: str, *args: str) -> None:
    mark = time.time()
    again = run_playbook(playbook, *args)
    assert again.returncode == 0, again.stdout[-3000:]
    assert all(changed == 0 for changed in recap(again).values()), recap(again)
    assert since(hosts, mark) == []


def nodes() -> dict[str, Any]:
    api = config.new_client_from_config(config_file=str(EPHEMERAL / "kubeconfig"))
    try:
        return {item.metadata.name: item for item in client.CoreV1Api(api).list_node().items}
    finally:
        api.close()


def ready(node: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)


def etcd(hosts: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(hosts["server-1"].check_output(ETCD_MEMBERS))
    return result


def test_the_first_server_and_a_stranger_are_refused(hosts: dict[str, Any]) -> None:
    mark = time.time()
    result = run_playbook("keelson.platform.remove_node", "-e", "keelson_remove_node=server-1")
    assert result.returncode != 0
    assert "server-1 is the first server: the others join through it" in output(result), output(result)[-2000:]
    result = run_playbook("keelson.platform.remove_node", "-e", "keelson_remove_node=server-9")
    assert result.returncode != 0
    assert "Name the node to remove with -e keelson_remove_node=<inventory host>, one of: server-2, server-3, agent-1." in output(result)
    assert since(hosts, mark) == []


def test_check_mode_removes_nothing(hosts: dict[str, Any]) -> None:
    mark = time.time()
    result = run_playbook("keelson.platform.remove_node", "-e", "keelson_remove_node=agent-1", "--check")
    assert result.returncode == 0, result.stdout[-3000:]
    assert recap(result)["agent-1"] > 0, "check mode must say what would change"
    assert since(hosts, mark) == []
    assert set(nodes()) == set(ALL)
    assert hosts["agent-1"].file("/usr/local/bin/k3s").exists


def _local_volume(name: str, node: str, claim: str) -> dict[str, Any]:
    """A PersistentVolume as k3s' local-path provisioner makes it: a host path, pinned to its node."""
    namespace, _sep, claim_name = claim.partition("/")
    selector = {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": f"/var/lib/rancher/k3s/storage/{name}_{namespace}_{claim_name}", "type": "DirectoryOrCreate"},
            "claimRef": {"kind": "PersistentVolumeClaim", "namespace": namespace, "name": claim_name},
            "storageClassName": "local-path",
            "nodeAffinity": {"required": {"nodeSelectorTerms": [selector]}},
        },
        "status": {"phase": "Bound"},
    }


def test_an_agent_holding_local_volumes_is_refused_unless_their_loss_is_accepted(hosts: dict[str, Any]) -> None:
    volumes = [_local_volume("pvc-4f2a", "agent-1", "team-a/data"), _local_volume("pvc-9c1d", "server-2", "team-b/cache")]
    control = f"{CONTROL}/persistentvolumes.json"
    hosts["server-1"].run_expect([0], f"mkdir -p {CONTROL} && printf '%s' {shlex.quote(json.dumps(volumes))} > {control}")
    try:
        mark = time.time()
        refused = run_playbook("keelson.platform.remove_node", "-e", "keelson_remove_node=agent-1")
        accepted = run_playbook(
            "keelson.platform.remove_node", "-e", "keelson_remove_node=agent-1", "-e", "keelson_remove_local_volumes=lose", "--check"
        )
    finally:
        hosts["server-1"].run_expect([0], f"rm -f {control}")
    assert refused.returncode != 0
    said = output(refused)
    assert "1 PersistentVolume can be used on agent-1 only: pvc-4f2a (claim team-a/data, Bound)" in said, said[-3000:]
    assert "-e keelson_remove_local_volumes=lose" in said and "Nothing was changed." in said
    assert "pvc-9c1d" not in said
    assert accepted.returncode == 0, accepted.stdout[-3000:]
    assert since(hosts, mark) == []
    assert set(nodes()) == set(ALL)


def test_an_agent_is_drained_stopped_deleted_and_cleaned_and_nothing_else_restarts(hosts: dict[str, Any]) -> None:
    mark = time.time()
    result = run_playbook("keelson.platform.remove_node", "-e", "keelson_remove_node=agent-1")
    assert result.returncode == 0, result.stdout[-4000:]
    calls = since(hosts, mark)
    events = [(c["host"], c["event"]) for c in calls]
    assert events.index(("server-1", "cordon")) < events.index(("agent-1", "stop")) < events.index(("server-1", "node-delete"))
    assert not any(c["event"] == "etcd-member-remove" for c in calls)
    assert restarts(calls, SERVERS) == []
    assert "agent-1" not in nodes()
    assert not hosts["agent-1"].file("/usr/local/bin/k3s").exists
    assert not hosts["agent-1"].file("/var/lib/rancher/k3s").exists
    assert "Take agent-1 out of the inventory now" in output(result)
    # A re-run finds nothing left to do.
    assert_a_rerun_changes_nothing(hosts, "keelson.platform.remove_node", "-e", "keelson_remove_node=agent-1")


def test_the_agent_joins_again_and_nothing_else_restarts(hosts: dict[str, Any]) -> None:
    mark = time.time()
    result = run_playbook("keelson.platform.add_node", "-e", "keelson_add_node=agent-1")
    assert result.returncode == 0, result.stdout[-4000:]
    calls = since(hosts, mark)
    assert restarts(calls, SERVERS) == []
    assert [(c["host"], c["event"]) for c in restarts(calls, AGENTS)] == [("agent-1", "start")]
    assert {c["host"] for c in calls} == {"agent-1"}
    assert {name for name, changed in recap(result).items() if changed} == {"agent-1"}
    assert ready(nodes()["agent-1"])
    # A second run is a no-op.
    assert_a_rerun_changes_nothing(hosts, "keelson.platform.add_node", "-e", "keelson_add_node=agent-1")


def test_three_to_two_servers_is_refused_without_force(hosts: dict[str, Any]) -> None:
    mark = time.time()
    result = run_playbook("keelson.platform.remove_node", "-e", "keelson_remove_node=server-3")
    assert result.returncode != 0
    said = output(result)
    assert "removing server-3 takes etcd from 3 members to 2, which tolerate no failure (now 1)" in said, said[-3000:]
    assert "-e keelson_remove_force=true" in said and "Nothing was changed." in said
    assert since(hosts, mark) == []
    assert len(etcd(hosts)["names"]) == 3


def test_a_server_leaves_etcd_first_and_quorum_is_kept(hosts: dict[str, Any]) -> None:
    mark = time.time()
    result = run_playbook("keelson.platform.remove_node", "-e", "keelson_remove_node=server-3", "-e", "keelson_remove_force=true")
    assert result.returncode == 0, result.stdout[-4000:]
    calls = since(hosts, mark)
    events = [(c["host"], c["event"]) for c in calls]
    # Out of etcd while every member ran, then stopped, then its Node deleted.
    assert events.index(("server-1", "etcd-member-remove")) < events.index(("server-3", "stop")) < events.index(("server-1", "node-delete"))
    assert [c["node"] for c in calls if c["event"] == "etcd-member-remove"] == ["server-3"]
    assert restarts(calls, ["server-1", "server-2", "agent-1"]) == []
    members = etcd(hosts)
    assert members == {"names": ["server-1-double", "server-2-double"], "health": "true"}
    assert set(nodes()) == {"server-1", "server-2", "agent-1"}
    assert not hosts["server-3"].file("/var/lib/rancher/k3s").exists


def test_the_server_joins_again_as_the_third_member(hosts: dict[str, Any]) -> None:
    mark = time.time()
    result = run_playbook("keelson.platform.add_node", "-e", "keelson_add_node=server-3")
    assert result.returncode == 0, result.stdout[-4000:]
    calls = since(hosts, mark)
    assert restarts(calls, ["server-1", "server-2", "agent-1"]) == []
    assert [(c["host"], c["event"]) for c in restarts(calls, ["server-3"])] == [("server-3", "start")]
    assert etcd(hosts) == {"names": ["server-1-double", "server-2-double", "server-3-double"], "health": "true"}
    assert ready(nodes()["server-3"])
