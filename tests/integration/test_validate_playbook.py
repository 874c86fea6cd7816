# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""keelson.platform.validate as users run it: ansible-playbook against an inventory."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from integration_helpers import REPO, Runner

FILES = Path(__file__).resolve().parent / "files"
pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("inventory", "summary"),
    [
        ("inventories/local", "Platform local (local.keelson.internal) is valid: 1 server(s), 0 agent(s), 1 tenant(s)"),
        ("inventories/example-ha", "Platform ml-prod (ml.example.internal) is valid: 3 server(s), 2 agent(s), 3"),
    ],
)
def test_example_inventories_validate(ansible: Runner, inventory: str, summary: str) -> None:
    result = ansible("ansible-playbook", "keelson.platform.validate", "-i", inventory)
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary in " ".join(result.stdout.split())
    assert re.search(r"localhost\s+: ok=3\s+changed=0\s+unreachable=0\s+failed=0", result.stdout)


def test_check_mode_validates_the_same_and_changes_nothing(ansible: Runner) -> None:
    result = ansible("ansible-playbook", "keelson.platform.validate", "-i", "inventories/example-ha", "--check", "--diff")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"localhost\s+: ok=3\s+changed=0", result.stdout)


def test_bad_spec_fails_with_the_full_error_list(ansible: Runner) -> None:
    result = ansible("ansible-playbook", "keelson.platform.validate", "-i", str(FILES / "inventories" / "bad"))
    assert result.returncode != 0
    output = result.stdout
    assert "the keelson platform spec is invalid (6 problems):" in output
    for line in (
        'gitops.engine: must be one of argocd, flux; did you mean "flux"? (got "fluxcd")',
        'tenants[0].quota.memory: not a Kubernetes quantity (got "12GBs")',
        'tenants[1].qouta: unknown key; did you mean "quota"?',
        'tenants[1].buckets[0]: not a valid S3 bucket name: must be lowercase (got "Bad_Bucket")',
        "tenants[0].quota.gpu: no host declares GPUs; set keelson_node.gpus in the GPU hosts' host_vars (got 2)",
        'hostvars["bad-agent-1"].keelson_node.taints[0]: not a taint: the effect must be one of NoSchedule, '
        'PreferNoSchedule, NoExecute (got "gpu:NoRun")',
    ):
        assert f"  - {line}" in output, line


@pytest.mark.parametrize(("inventory", "touched"), [("bad", []), ("good-local", ["good-server-1"])])
def test_a_bad_spec_stops_the_run_before_any_host_is_touched(ansible: Runner, tmp_path: Path, inventory: str, touched: list[str]) -> None:
    marker_dir = tmp_path / "markers"
    marker_dir.mkdir()
    result = ansible(
        "ansible-playbook",
        str(FILES / "guarded.yml"),
        "-i",
        str(FILES / "inventories" / inventory),
        "-e",
        f"marker_dir={marker_dir}",
    )
    assert (result.returncode == 0) == bool(touched), result.stdout + result.stderr
    assert sorted(path.name for path in marker_dir.iterdir()) == touched


def test_inventory_without_servers_is_refused(ansible: Runner, tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  vars:\n    keelson_platform: {name: ml, domain: ml.example.internal}\n"
        "  children:\n    keelson_agents:\n      hosts: {a1: {}}\n"
    )
    result = ansible("ansible-playbook", "keelson.platform.validate", "-i", str(inventory))
    assert result.returncode != 0
    assert "  - inventory: no hosts in group keelson_servers; keelson needs at least one server" in result.stdout


def test_repo_is_on_the_collections_path() -> None:
    assert (REPO / ".collections" / "ansible_collections" / "keelson" / "platform" / "galaxy.yml").is_file()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [([], "~/.kube/keelson-guard.yaml"), (["-e", "keelson_kubeconfig=~/clusters/guard.yaml"], "~/clusters/guard.yaml")],
    ids=["default", "keelson_kubeconfig"],
)
def test_the_kubeconfig_path_is_decided_once(ansible: Runner, extra: list[str], expected: str) -> None:
    result = ansible("ansible-playbook", str(FILES / "kubeconfig_path.yml"), "-i", str(FILES / "inventories" / "good-local"), *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    path = os.path.expanduser(expected)
    assert f"path={path} common={path} server={path} agent={path}" in " ".join(result.stdout.split())
