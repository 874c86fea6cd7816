# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Argo Workflows executor double itself (argo_double.py): it fails what Argo and the kubelet fail, and
refuses what it does not implement, so that the pipeline tests cannot pass because the double let something by."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from argo_double import Cluster, DoubleRefused, environment

VOLUMES = [{"name": "outputs", "emptyDir": {}}, {"name": "project", "configMap": {"name": "files"}}]
MOUNTS = [{"name": "outputs", "mountPath": "/outputs"}, {"name": "project", "mountPath": "/project", "readOnly": True}]


def _cluster(tmp_path: Path) -> Cluster:
    (tmp_path / "image").mkdir()
    (tmp_path / "image" / "in-image.txt").write_text("from the image")
    return Cluster(
        scratch=tmp_path / "pods",
        workdir=tmp_path / "image",
        secrets={"creds": {"TOKEN": "t0ken"}},
        config_maps={"files": {"project.yaml": "name: x\n"}},
        templates={},
        addresses={"http://svc.cluster.local": "http://127.0.0.1:9"},
        base_env=environment(),
    )


def _container(code: str, **extra: Any) -> dict[str, Any]:
    return {"name": "main", "command": ["python", "-c", code], "volumeMounts": MOUNTS, **extra}


def _spec(*steps: dict[str, Any], when: str = "", **extra: Any) -> dict[str, Any]:
    group = [{"name": step["name"], "template": step["name"], **({"when": when} if when and step is steps[-1] else {})} for step in steps]
    return {
        "entrypoint": "main",
        "arguments": {"parameters": [{"name": "p", "value": "x"}]},
        "volumes": VOLUMES,
        "templates": [{"name": "main", "steps": [[item] for item in group]}, *steps],
        **extra,
    }


WRITE = {
    "name": "write",
    "container": _container(
        "import os; open(os.path.join(os.environ['OUT'], 'v'), 'w').write('yes'); open('scribble', 'w').write('x')",
        env=[{"name": "OUT", "value": "/outputs"}],
    ),
    "outputs": {"parameters": [{"name": "v", "valueFrom": {"path": "/outputs/v"}}]},
}
CHECK = {
    "name": "check",
    "container": _container(
        "import os, sys; sys.exit(0 if not os.path.exists('scribble') and os.path.exists('in-image.txt') and not os.listdir(os.environ['OUT']) else 5)",
        env=[{"name": "OUT", "value": "/outputs"}],
    ),
}


def test_each_pod_has_its_own_empty_dirs_and_its_own_copy_of_the_image(tmp_path: Path) -> None:
    run = _cluster(tmp_path).run_spec(_spec(WRITE, CHECK))
    assert run.phase == "Succeeded", [pod.stderr for pod in run.pods]
    assert run.pod("write").outputs == {"v": "yes"}
    assert run.pod("check").returncode == 0


def test_a_failed_step_fails_the_run_and_nothing_after_it_runs(tmp_path: Path) -> None:
    failing = {"name": "fail", "container": _container("raise SystemExit(3)")}
    run = _cluster(tmp_path).run_spec(_spec(failing, CHECK))
    assert run.phase == "Failed"
    assert [(pod.step, pod.returncode) for pod in run.pods] == [("fail", 3)]


def test_a_missing_output_file_fails_the_step(tmp_path: Path) -> None:
    silent = {**WRITE, "container": _container("pass")}
    run = _cluster(tmp_path).run_spec(_spec(silent))
    assert run.phase == "Failed"
    assert "output parameter v" in run.pod("write").stderr


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"envFrom": [{"secretRef": {"name": "other"}}]}, "secret 'other' not found"),
        ({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "PASSWORD"}}}]}, "key 'PASSWORD' not found"),
    ],
)
def test_a_secret_or_key_that_does_not_exist_stops_the_pod_from_starting(tmp_path: Path, env: dict[str, Any], said: str) -> None:
    step = {"name": "s", "container": _container("pass", **env)}
    run = _cluster(tmp_path).run_spec(_spec(step))
    assert run.phase == "Failed"
    assert run.pod("s").stderr.startswith("CreateContainerConfigError") and said in run.pod("s").stderr


def test_a_when_that_is_false_skips_its_step(tmp_path: Path) -> None:
    run = _cluster(tmp_path).run_spec(_spec(WRITE, CHECK, when="{{steps.write.outputs.parameters.v}} == no"))
    assert (run.phase, run.skipped, [pod.step for pod in run.pods]) == ("Succeeded", ["check"], ["write"])


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        (_spec({"name": "s", "container": _container("pass", args=["x"])}), "does not implement args"),
        (_spec({"name": "s", "container": {**_container("pass"), "command": ["sh", "-c", "true"]}}), "python commands only"),
        (
            _spec({"name": "s", "container": _container("pass", env=[{"name": "X", "value": "/etc/passwd"}])}),
            "on none of the pod's volumes",
        ),
        (
            _spec({"name": "s", "container": _container("pass", env=[{"name": "X", "value": "{{workflow.parameters.q}}"}])}),
            "is not defined here",
        ),
        (_spec({"name": "s", "container": _container("pass", env=[{"name": "X", "value": "{{=asInt(1)}}"}])}), "does not evaluate"),
        (_spec(WRITE, CHECK, when="{{steps.write.outputs.parameters.v}} != no"), "evaluates only"),
        (_spec({"name": "s", "container": _container("pass"), "podSpecPatch": "{}"}), "does not implement podSpecPatch"),
        (_spec({"name": "s", "container": _container("pass")}, onExit="cleanup"), "does not implement onExit"),
        ({**_spec(WRITE), "arguments": {"parameters": [{"name": "p"}]}}, "has no value"),
        (
            {
                **_spec({"name": "s", "container": _container("pass")}),
                "volumes": [{"name": "outputs", "hostPath": {"path": "/"}}, VOLUMES[1]],
            },
            "only configMap, secret and emptyDir",
        ),
    ],
)
def test_what_the_double_does_not_implement_is_refused(tmp_path: Path, spec: dict[str, Any], said: str) -> None:
    with pytest.raises(DoubleRefused, match=said):
        _cluster(tmp_path).run_spec(spec)
