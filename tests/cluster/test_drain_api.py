# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""upgrade.yml's drain (roles/k3s_upgrade/tasks/drain.yml) against a real API server: a Node made by hand, a pod
bound to it and a PodDisruptionBudget that allows no disruption. The eviction API refuses (HTTP 429) until the
budget lets go; the drain must stop naming the pod and the budget, and leave the node uncordoned. On a bare
kube-apiserver no controller ever computes the budget's status, which the eviction API treats as allowing none:
the case this test needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NAME = f"keelson-drain-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def blocked_node(api: Any) -> Iterator[str]:
    from kubernetes import client  # noqa: PLC0415

    core, policy = client.CoreV1Api(api), client.PolicyV1Api(api)
    core.create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NAME}})
    core.create_namespace({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAME}})
    try:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web-1", "labels": {"app": "web"}, "ownerReferences": []},
            "spec": {"nodeName": NAME, "containers": [{"name": "web", "image": "registry.invalid/web:1"}]},
        }
        core.create_namespaced_pod(NAME, pod)
        budget = {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "web"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        }
        policy.create_namespaced_pod_disruption_budget(NAME, budget)
        yield NAME
    finally:
        core.delete_namespace(NAME)
        core.delete_node(NAME)


def test_a_budget_that_allows_no_disruption_stops_the_drain_naming_it(api: Any, blocked_node: str, tmp_path: Path) -> None:
    from kubernetes import client  # noqa: PLC0415

    playbook = tmp_path / "drain.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Drain as upgrade.yml does",
                    "hosts": "localhost",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "Drain the node",
                            "ansible.builtin.include_role": {"name": "keelson.platform.k3s_upgrade", "tasks_from": "drain"},
                            "vars": {
                                "__k3s_upgrade_node": {"name": blocked_node},
                                "__k3s_upgrade_api": api.configuration.host,
                                "k3s_upgrade_kubeconfig": os.environ["KEELSON_TEST_KUBECONFIG"],
                                "k3s_upgrade_spec": {"cluster": {"upgrade": {"drain_timeout": 30}}},
                            },
                        }
                    ],
                }
            ]
        )
    )
    environment = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
        "ANSIBLE_NOCOLOR": "1",
    }
    done = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0, done.stdout[-3000:]
    message = json.dumps(json.loads(done.stdout))
    assert f"draining {blocked_node} did not finish within 30 s" in message, message[-3000:]
    assert f"{blocked_node}/web-1 (PodDisruptionBudget {blocked_node}/web allows no disruption now)" in message
    node = client.CoreV1Api(api).read_node(blocked_node)
    assert not node.spec.unschedulable, "the drain that gave up must uncordon the node"
    assert client.CoreV1Api(api).read_namespaced_pod("web-1", blocked_node).metadata.deletion_timestamp is None
