# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bootstrap against a real API server (issue 10), both engines, through ansible-playbook as a user runs it:
check mode on the empty server predicts the real run and changes nothing; the real run applies the namespaces,
sealing keys, repository credentials, the controller's chart objects and the root; a second run changes nothing;
every chart object is managed by the controller's field manager; the wait times out listing every object not
reconciled (no controller runs on a bare API server). Everything created is deleted at the end.

Needs, besides KEELSON_TEST_KUBECONFIG: helm at the version the catalog pins (on PATH, or KEELSON_TEST_HELM) and
the controllers' charts as archives (KEELSON_TEST_CHARTS: a folder with argo-cd-<version>.tgz and
flux-operator-<version>.tgz, as ``helm pull`` writes them). Skipped, saying which is missing, without them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.plugin_utils import _helm

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ENGINES = {"argocd": ("argocd", "argo-cd"), "flux": ("flux_operator", "flux-operator")}
KNOWN_HOSTS = "git.keelson-test.invalid ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def _helm_binary() -> str:
    wanted = CATALOG["tools"]["helm"]["version"]
    for candidate in (os.environ.get("KEELSON_TEST_HELM"), shutil.which("helm")):
        if candidate and _helm.version_of(candidate) == wanted:
            return candidate
    pytest.skip(f"no helm {wanted} (the catalog's pin) on PATH or in KEELSON_TEST_HELM")
    raise AssertionError  # pragma: no cover


def _chart(engine: str) -> Path:
    key, name = ENGINES[engine]
    version = CATALOG["components"][key]["chart"]["version"]
    folder = os.environ.get("KEELSON_TEST_CHARTS")
    if not folder or not (Path(folder) / f"{name}-{version}.tgz").is_file():
        pytest.skip(f"KEELSON_TEST_CHARTS must name a folder holding {name}-{version}.tgz (helm pull)")
    return Path(folder) / f"{name}-{version}.tgz"


def _ansible(tmp_path: Path, *args: str) -> dict[str, Any]:
    environment = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
        "ANSIBLE_NOCOLOR": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    done = subprocess.run([str(BIN / "ansible-playbook"), *args], cwd=REPO, env=environment, capture_output=True, text=True, check=False)
    try:
        return {"rc": done.returncode, **json.loads(done.stdout)}
    except json.JSONDecodeError:
        pytest.fail(f"ansible-playbook printed no JSON (rc {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        raise


def _task(output: dict[str, Any], name: str) -> dict[str, Any]:
    for play in output["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] == name:
                return dict(next(iter(task["hosts"].values())))
    raise AssertionError(f"no task {name!r} in the run")


PLAYBOOK = """
- name: Validate the spec
  ansible.builtin.import_playbook: keelson.platform.validate
- name: Bootstrap
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Bootstrap
      keelson.platform.gitops_bootstrap:
        spec: "{{ keelson_spec }}"
        nodes: "{{ keelson_nodes }}"
        backend: "{{ keelson_spec.secrets }}"
        tree: "{{ tree }}"
        kubeconfig: "{{ kubeconfig }}"
        helm: "{{ helm }}"
        chart_path: "{{ chart }}"
        wait: false
    - name: Wait
      keelson.platform.gitops_status_info:
        spec: "{{ keelson_spec }}"
        nodes: "{{ keelson_nodes }}"
        tree: "{{ tree }}"
        revision: "{{ revision }}"
        kubeconfig: "{{ kubeconfig }}"
        timeout: 15
        interval: 5
        smoke: false
      # The timeout is what the test looks at: its message and list are kept in the result, the run goes on.
      failed_when: false
      when: not ansible_check_mode
"""


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_bootstrap_on_an_empty_api_server(api: Any, tmp_path: Path, engine: str) -> None:
    from kubernetes import dynamic  # noqa: PLC0415

    helm, chart = _helm_binary(), _chart(engine)
    inventory = tmp_path / "inventory"
    shutil.copytree(REPO / "tests" / "integration" / "files" / "inventories" / "secrets", inventory)
    platform_file = inventory / "group_vars" / "all" / "keelson.yml"
    raw = yaml.safe_load(platform_file.read_text())
    raw["keelson_platform"]["gitops"] = {
        "engine": engine,
        "repo": {"url": "ssh://git@git.keelson-test.invalid/platform.git", "known_hosts": [KNOWN_HOSTS]},
    }
    platform_file.write_text(yaml.safe_dump(raw))
    password = tmp_path / "vault-password"
    password.write_text("cluster-test-only\n")
    common = ("-i", str(inventory), f"--vault-password-file={password}")
    assert _ansible(tmp_path, "keelson.platform.secrets", *common)["rc"] == 0
    tree = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    assert _ansible(tmp_path, "keelson.platform.render", *common, "-e", f"keelson_render_dir={tree}")["rc"] == 0
    playbook = tmp_path / "bootstrap.yml"
    playbook.write_text(PLAYBOOK)
    extra = json.dumps(
        {"tree": str(tree), "kubeconfig": os.environ["KEELSON_TEST_KUBECONFIG"], "helm": helm, "chart": str(chart), "revision": "0" * 40}
    )
    run = (str(playbook), *common, "-e", extra)
    client = dynamic.DynamicClient(api)
    namespaces_before = {item.metadata.name for item in client.resources.get(api_version="v1", kind="Namespace").get().items}
    created: list[str] = []
    try:
        predicted = _task(_ansible(tmp_path, *run, "--check"), "Bootstrap")
        assert not predicted.get("failed"), predicted
        assert [step["step"] for step in predicted["steps"]][:1] == ["namespaces"]
        assert client.resources.get(api_version="v1", kind="Namespace").get().items is not None
        assert {item.metadata.name for item in client.resources.get(api_version="v1", kind="Namespace").get().items} == namespaces_before

        output = _ansible(tmp_path, *run)
        applied = _task(output, "Bootstrap")
        created = [name for step in applied["steps"] for name in step["objects"]]
        assert not applied.get("failed") and applied["changed"], applied
        assert [(step["step"], step["objects"]) for step in predicted["steps"]] == [
            (step["step"], step["objects"]) for step in applied["steps"]
        ]
        steps = {step["step"]: step for step in applied["steps"]}
        assert {"namespaces", "sealing keys", "repository credentials", "controller CRDs", "controller", "root"} <= set(steps)
        for step in applied["steps"]:
            for name in step["objects"]:
                kind, _space, where = name.partition(" ")
                namespace, _slash, object_name = where.rpartition("/")
                found = _find(client, kind, namespace, object_name)
                assert found, f"{name} is not on the server"
                managers = {entry.manager for entry in found[0].metadata.managedFields or []}
                assert step["field_manager"] in managers, (name, managers)
        waited = _task(output, "Wait")
        assert "are not reconciled at 000000000000" in waited["msg"], waited
        assert waited["waiting"], waited
        assert all(entry["reason"] for entry in waited["waiting"])

        again = _task(_ansible(tmp_path, *run), "Bootstrap")
        assert not again["changed"], [step for step in again["steps"] if step["changed"]]
    finally:
        _cleanup(client, created, namespaces_before)


def _find(client: Any, kind: str, namespace: str, name: str) -> list[Any]:
    for resource in client.resources.search(kind=kind):
        try:
            found = resource.get(name=name, namespace=namespace or None)
        except Exception:
            continue
        return [found]
    return []


def _cleanup(client: Any, created: list[str], namespaces_before: set[str]) -> None:
    """Delete what the bootstrap created: namespaced objects go with their namespaces; then cluster-scoped ones."""
    for name in reversed(created):
        kind, _space, where = name.partition(" ")
        namespace, _slash, object_name = where.rpartition("/")
        if namespace and namespace in namespaces_before:
            for found in _find(client, kind, namespace, object_name):
                client.resources.get(api_version=found.apiVersion, kind=kind).delete(name=object_name, namespace=namespace)
        elif not namespace and not (kind == "Namespace" and object_name in namespaces_before):
            for found in _find(client, kind, "", object_name):
                client.resources.get(api_version=found.apiVersion, kind=kind).delete(name=object_name)
