# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""upgrade.yml on the converged hosts, with the k3s TEST DOUBLE recording what a real k3s would be asked (start,
stop and the version each ran, snapshots, cordons). Runs after the tests of the converged cluster and before reboot
and reset (file names sort it there); the tests depend on each other's order, like the steps of one upgrade.

What only a real k3s can prove (docs/day2.md): that k3s itself comes back at the new version, etcd's own member
health during a server's restart, and drains of real pods."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import AGENTS, EPHEMERAL, PROJECT, SCENARIO, SERVERS, needs_double
from double import calls_since as since
from double import said as output
from kubernetes import client, config
from playbook import run_playbook

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG

pytestmark = needs_double  # a real k3s needs a second release's bundle; the double is built at any version here

ALL = SERVERS + AGENTS
CURRENT = CATALOG["k3s"]["default"]
NEXT = CATALOG["k3s"]["versions"][CATALOG["k3s"]["versions"].index(CURRENT) + 1]
OLDER = CATALOG["k3s"]["versions"][CATALOG["k3s"]["versions"].index(CURRENT) - 1]
FAIL_START = "/etc/k3s-double/fail-start"
STAGED = "/usr/local/bin/k3s.keelson-upgrade"


@pytest.fixture(scope="module")
def next_spec() -> Path:
    """The spec a user writes for the upgrade: the next release's bundle, and its version."""
    folder = EPHEMERAL / "airgap-next"
    subprocess.run([str(PROJECT / "tests" / "k3s-double" / "make-airgap"), str(folder), NEXT], check=True, capture_output=True)
    spec = yaml.safe_load((SCENARIO / "inventory" / "group_vars" / "all" / "keelson.yml").read_text())["keelson_platform"]
    spec["cluster"]["airgap_source"] = str(folder)
    spec["cluster"]["k3s_version"] = NEXT
    spec["cluster"]["upgrade"] = {"node_timeout": 30, "drain_timeout": 30}
    spec["secrets"]["vault_file"]["path"] = str(EPHEMERAL / "keelson-secrets.vault.yml")
    path = EPHEMERAL / "upgrade-spec.yml"
    path.write_text(yaml.safe_dump({"keelson_platform": spec}))
    return path


def binary_version(host: Any) -> str:
    return host.check_output("/usr/local/bin/k3s --version").split()[2]


def registry(hosts: dict[str, Any]) -> dict[str, Any]:
    """The double's node list (kept by the first server): cordons and annotations as the API holds them."""
    return json.loads(hosts["server-1"].file("/var/lib/rancher/k3s/server/db/double-registry.json").content_string)


def test_a_downgrade_is_refused_before_anything_changes(hosts: dict[str, Any]) -> None:
    mark = time.time()
    result = run_playbook("keelson.platform.upgrade", "-e", f"keelson_k3s_version={OLDER}")
    assert result.returncode != 0
    said = output(result)
    assert f"the upgrade to k3s {OLDER} is refused; nothing was changed" in said, said[-3000:]
    for name in ALL:
        assert f"{name}: runs k3s {CURRENT}, newer than the target {OLDER}" in said
    assert since(hosts, mark) == []


def test_site_refuses_to_change_the_version(hosts: dict[str, Any], next_spec: Path) -> None:
    """A version change outside upgrade.yml would restart every agent at once, undrained: site.yml refuses it."""
    mark = time.time()
    result = run_playbook(str(SCENARIO / "converge.yml"), "-e", f"@{next_spec}")
    assert result.returncode != 0
    said = output(result)
    assert f"server-1 runs k3s {CURRENT} and the spec names {NEXT}. A version change is an upgrade: run upgrade.yml" in said, said[-3000:]
    assert all(binary_version(host) == CURRENT for host in hosts.values())
    assert since(hosts, mark) == []


def test_check_mode_touches_nothing(hosts: dict[str, Any], next_spec: Path) -> None:
    mark = time.time()
    result = run_playbook("keelson.platform.upgrade", "-e", f"@{next_spec}", "--check")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Would take an etcd snapshot first (check mode)." in result.stdout
    assert re.search(r"^changed: \[server-1\]", result.stdout, re.MULTILINE), "check mode must say what would change"
    assert since(hosts, mark) == []
    for name, host in hosts.items():
        assert binary_version(host) == CURRENT, name
        assert not host.file(STAGED).exists, name
    assert not any(node.get("unschedulable") for node in registry(hosts).values())


def test_a_node_that_does_not_come_back_stops_the_upgrade_there(hosts: dict[str, Any], next_spec: Path) -> None:
    hosts["server-2"].run(f"mkdir -p /etc/k3s-double && echo {NEXT} > {FAIL_START}")
    mark = time.time()
    try:
        result = run_playbook("keelson.platform.upgrade", "-e", f"@{next_spec}")
    finally:
        hosts["server-2"].run(f"rm -f {FAIL_START}")
    assert result.returncode != 0
    said = output(result)
    assert f"server-2 did not come back at k3s {NEXT} within 30 s, so the upgrade stops here" in said, said[-3000:]
    assert f"k3s {NEXT} failed to start (test double" in said  # the node's own log, quoted
    calls = since(hosts, mark)
    # The snapshot came first, before any node was touched.
    assert calls[0]["event"] == "etcd-snapshot-save" and calls[0]["host"] == "server-1", calls[:3]
    assert calls[0]["name"].startswith(f"keelson-pre-upgrade-{re.sub(r'[^A-Za-z0-9]+', '-', NEXT)}-server-1-")
    # server-1 went down and came back at the new version before server-2 was touched.
    server_1 = [(c["event"], c["version"]) for c in calls if c["host"] == "server-1" and c["event"] in ("stop", "start")]
    assert server_1 == [("stop", CURRENT), ("start", NEXT)]
    first_touch_of_server_2 = min(c["time"] for c in calls if c["host"] == "server-2")
    assert max(c["time"] for c in calls if c["host"] == "server-1" and c["event"] == "start") < first_touch_of_server_2
    assert any(c["host"] == "server-2" and c["event"] == "start-failed" and c["version"] == NEXT for c in calls)
    # The rest is untouched: no call, the old binary, no cordon; the cluster still serves from the others.
    assert [c for c in calls if c["host"] in ("server-3", "agent-1")] == []
    assert binary_version(hosts["server-3"]) == CURRENT and binary_version(hosts["agent-1"]) == CURRENT
    nodes = registry(hosts)
    assert not nodes["server-3"].get("unschedulable") and not nodes["agent-1"].get("unschedulable")
    assert nodes["server-2"].get("unschedulable") and nodes["server-2"]["annotations"]["keelson.dev/upgrading-to"] == NEXT
    api = config.new_client_from_config(config_file=str(EPHEMERAL / "kubeconfig"))
    try:  # through the API VIP, as every client of the cluster
        assert {item.metadata.name for item in client.CoreV1Api(api).list_node().items} == set(ALL)
    finally:
        api.close()


def test_a_rerun_finishes_the_upgrade_one_node_at_a_time(hosts: dict[str, Any], next_spec: Path) -> None:
    mark = time.time()
    result = run_playbook("keelson.platform.upgrade", "-e", f"@{next_spec}")
    assert result.returncode == 0, result.stdout[-4000:]
    calls = since(hosts, mark)
    # server-1 was done: not restarted again.
    assert [c for c in calls if c["host"] == "server-1" and c["event"] in ("stop", "start")] == []
    # The others each came back once at the new version, server-3 before agent-1, never two down at once.
    starts = [c for c in calls if c["event"] == "start" and c["host"] in ("server-3", "agent-1")]
    assert [(c["host"], c["version"]) for c in starts] == [("server-3", NEXT), ("agent-1", NEXT)]
    agent_stop = next(c for c in calls if c["host"] == "agent-1" and c["event"] == "stop")
    assert starts[0]["time"] < agent_stop["time"]
    for name, host in hosts.items():
        assert binary_version(host) == NEXT, name
        assert not host.file(STAGED).exists, name
    # Every node uncordoned and unmarked, server-2 too (finished whether it came back by itself or was upgraded).
    for name, node in registry(hosts).items():
        assert not node.get("unschedulable"), name
        assert "keelson.dev/upgrading-to" not in node.get("annotations", {}), name
        assert node["version"] == NEXT, name
    assert {c["node"] for c in calls if c["event"] == "cordon"} >= {"server-3", "agent-1"}


def test_a_rerun_after_success_changes_nothing(hosts: dict[str, Any], next_spec: Path) -> None:
    mark = time.time()
    result = run_playbook("keelson.platform.upgrade", "-e", f"@{next_spec}")
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"k3s {NEXT}: every node runs it already; nothing to do" in result.stdout
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.MULTILINE)
    assert {host for host, _changed in recap} >= set(ALL)
    assert all(changed == "0" for _host, changed in recap), recap
    assert since(hosts, mark) == []


def test_site_runs_unchanged_at_the_new_version(hosts: dict[str, Any], next_spec: Path) -> None:
    """Once the spec names the new version, site.yml is a no-op again (no restart, no file changed)."""
    mark = time.time()
    result = run_playbook(str(SCENARIO / "converge.yml"), "-e", f"@{next_spec}")
    assert result.returncode == 0, result.stdout[-3000:]
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.MULTILINE)
    assert all(changed == "0" for host, changed in recap if host in ALL), recap
    assert [c for c in since(hosts, mark) if c["event"] in ("stop", "start")] == []
