# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The k3s_upgrade_info module: reads versions and marks off Node objects, fails with the refusal's reasons."""

from __future__ import annotations

from typing import Any, Optional

import pytest
from module_runner import run_module

from ansible_collections.keelson.platform.plugins.module_utils._k3s_upgrade import MARK
from ansible_collections.keelson.platform.plugins.modules import k3s_upgrade_info

NODES = [{"name": "server-1", "role": "server", "host": "s1"}, {"name": "agent-1", "role": "agent", "host": "a1"}]


def node(name: str, version: str, mark: Optional[str] = None) -> dict[str, Any]:
    annotations = {MARK: mark} if mark else {}
    return {"metadata": {"name": name, "annotations": annotations}, "status": {"nodeInfo": {"kubeletVersion": version}}}


def test_plans_from_the_kubelet_versions(capsys: pytest.CaptureFixture[str]) -> None:
    objects = [node("server-1", "v1.35.6+k3s1", mark="v1.35.6+k3s1"), node("agent-1", "v1.35.5+k3s1")]
    code, result = run_module(k3s_upgrade_info.main, {"nodes": NODES, "node_objects": objects, "target": "v1.35.6+k3s1"}, capsys)
    assert code == 0, result
    assert result["upgrade"] == ["agent-1"]
    assert result["resume"] == ["server-1"]
    assert result["mark"] == MARK
    assert result["changed"] is False


def test_refusal_is_a_failure_naming_every_node(capsys: pytest.CaptureFixture[str]) -> None:
    objects = [node("server-1", "v1.35.6+k3s1")]
    code, result = run_module(k3s_upgrade_info.main, {"nodes": NODES, "node_objects": objects, "target": "v1.35.5+k3s1"}, capsys)
    assert code == 1
    assert "server-1: runs k3s v1.35.6+k3s1, newer than the target" in result["msg"]
    assert "agent-1: has no Node object" in result["msg"]
