# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Lua health checks keelson gives Argo CD, run in a real Lua 5.1 (lupa; Argo CD runs gopher-lua, Lua 5.1) on
objects as the cluster reports them."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.keelson.platform.plugins.module_utils import _ml
from ansible_collections.keelson.platform.plugins.module_utils._engines import argocd

lua51 = pytest.importorskip("lupa.lua51")


def assess(script: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Run ``script`` with ``obj`` as Argo CD does (the global ``obj``; the script returns its ``hs``)."""
    runtime = lua51.LuaRuntime(unpack_returned_tuples=True)
    runtime.globals()["obj"] = runtime.table_from(obj, recursive=True)
    result = runtime.execute(script)
    return dict(result.items())


def workflow(phase: str = "", message: str = "", run: bool = False) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "churn-0123456789", "labels": {_ml.RUN_LABEL: "commit"} if run else {"app": "x"}}
    status = {"phase": phase, "message": message} if phase else {}
    return {"metadata": metadata, "status": status} if status else {"metadata": metadata}


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        ("", "Progressing"),
        ("Pending", "Progressing"),
        ("Running", "Progressing"),
        ("Succeeded", "Healthy"),
        ("Failed", "Degraded"),
        ("Error", "Degraded"),
        ("Odd", "Unknown"),
    ],
)
def test_other_workflows_keep_argo_cds_own_semantics(phase: str, expected: str) -> None:
    assert assess(argocd.WORKFLOW_HEALTH, workflow(phase, "step failed"))["status"] == expected


@pytest.mark.parametrize("phase", ["", "Pending", "Running", "Succeeded", "Failed", "Error"])
def test_a_training_run_is_healthy_whatever_its_phase_and_says_it(phase: str) -> None:
    health = assess(argocd.WORKFLOW_HEALTH, workflow(phase, "evaluate: accuracy 0.61 < 0.85" if phase == "Failed" else "", run=True))
    assert health["status"] == "Healthy"
    assert health["message"].startswith("training run: ")
    assert (phase or "not started") in health["message"]
    if phase == "Failed":
        assert health["message"].endswith("accuracy 0.61 < 0.85")


def test_a_workflow_without_labels_or_status_is_progressing() -> None:
    assert assess(argocd.WORKFLOW_HEALTH, {"metadata": {"name": "w"}})["status"] == "Progressing"


@pytest.mark.parametrize(
    ("health", "expected"),
    [({"status": "Healthy"}, "Healthy"), ({"status": "Degraded", "message": "x"}, "Degraded"), (None, "Progressing")],
)
def test_application_health_reads_the_applications_own(health: Any, expected: str) -> None:
    obj = {"metadata": {"name": "a"}, "status": {"health": health}} if health else {"metadata": {"name": "a"}}
    assert assess(argocd.APPLICATION_HEALTH, obj)["status"] == expected
