# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The platform_spec module as Ansible runs it: arguments in, JSON result out."""

from __future__ import annotations

from typing import Any

import pytest
from module_runner import run_module

from ansible_collections.keelson.platform.plugins.module_utils._gitops import gitops_repo
from ansible_collections.keelson.platform.plugins.module_utils._spec import kubeconfig_path
from ansible_collections.keelson.platform.plugins.modules import platform_spec

NODES = [{"host": "server-1", "role": "server", "address": "192.168.10.11", "keelson_node": None, "spec_differs": False}]


def run(args: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    return run_module(platform_spec.main, args, capsys)


def test_valid_spec_returns_normalised_spec_and_changes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, result = run({"spec": {"name": "ml", "domain": "ml.example.internal"}, "nodes": NODES}, capsys)
    assert code == 0
    assert result["changed"] is False
    assert result["spec"]["gitops"]["argocd"]["host"] == "argocd.ml.example.internal"
    assert result["nodes"][0]["name"] == "server-1"
    assert result["kubeconfig"] == kubeconfig_path("ml") == "~/.kube/keelson-ml.yaml"


def test_the_gitops_repository_facts_come_back_once(capsys: pytest.CaptureFixture[str]) -> None:
    code, result = run({"spec": {"name": "ml", "domain": "ml.example.internal"}, "nodes": NODES}, capsys)
    assert code == 0
    assert result["gitops_repo"] == gitops_repo("ml", "embedded", "main", [("server-1", "192.168.10.11")]).as_dict()
    assert result["gitops_repo"]["url"] == "ssh://git@192.168.10.11/srv/git/ml.git"
    assert (result["gitops_repo"]["server"], result["gitops_repo"]["path"]) == ("server-1", "/srv/git/ml.git")
    alone = run({"spec": {"name": "ml", "domain": "ml.example.internal"}}, capsys)[1]
    assert alone["gitops_repo"]["url"] is None and alone["gitops_repo"]["embedded"] is True


def test_check_mode_gives_the_same_answer(capsys: pytest.CaptureFixture[str]) -> None:
    args = {"spec": {"name": "ml", "domain": "ml.example.internal"}, "nodes": NODES}
    normal = run(args, capsys)[1]
    code, checked = run({**args, "_ansible_check_mode": True}, capsys)
    assert code == 0
    assert checked["spec"] == normal["spec"]
    assert checked["changed"] is False


def test_bad_spec_fails_with_every_error(capsys: pytest.CaptureFixture[str]) -> None:
    spec = {
        "name": "ml",
        "domain": "ml.example.internal",
        "tenants": [{"name": "a", "quota": {"memory": "12GBs"}}, {"nmae": "b"}],
    }
    code, result = run({"spec": spec, "nodes": NODES}, capsys)
    assert code == 1
    assert result["failed"] is True
    assert result["errors"] == [
        'tenants[0].quota.memory: not a Kubernetes quantity (got "12GBs")',
        'tenants[1].nmae: unknown key; did you mean "name"?',
        "tenants[1].name: required",
    ]
    assert result["msg"].startswith("the keelson platform spec is invalid (3 problems):")


def test_warnings_reach_the_user(capsys: pytest.CaptureFixture[str]) -> None:
    nodes = [dict(NODES[0], host=f"server-{i}", address=f"192.168.10.1{i}") for i in (1, 2, 3, 4)]
    code, result = run(
        {
            "spec": {"name": "ml", "domain": "ml.example.internal", "cluster": {"api_vip": "192.168.10.10"}},
            "nodes": nodes,
        },
        capsys,
    )
    assert code == 0
    # ansible-core 2.19+ sends warnings as structured events; older cores as strings.
    messages = [w["event"]["msg"] if isinstance(w, dict) else w for w in result["warnings"]]
    assert messages == ["inventory: 4 servers in keelson_servers tolerate no more failures than 3 do (etcd quorum); use an odd number"]


def test_undefined_spec_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    code, result = run({"spec": None}, capsys)
    assert code == 1
    assert result["errors"] == ["keelson_platform: not defined; set it in the inventory's group_vars (see docs/spec.md)"]
