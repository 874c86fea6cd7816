# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bootstrap's steps (issue 10), built from a rendered tree on disk and applied to the KUBERNETES API TEST
DOUBLE (k8s_api_double.py: what it does not prove is written there; tests/cluster/ runs the real thing)."""

from __future__ import annotations

import base64
import copy
import functools
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_api_double import KubernetesApiDouble
from render_helpers import ca_of, double_sealed, example_spec, fake_values

from ansible_collections.keelson.platform.plugins.action.gitops_bootstrap import ActionModule, run_steps
from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.module_utils._sealing import KEY_LABEL, generate_key_pair
from ansible_collections.keelson.platform.plugins.plugin_utils import _bootstrap as bootstrap
from ansible_collections.keelson.platform.plugins.plugin_utils import _render
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

ENGINES = ("argocd", "flux")
PINNED = ("10.0.0.11 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",)
ORDER = ["namespaces", "sealing keys", "repository credentials", "controller CRDs", "controller", "root"]


@functools.lru_cache(maxsize=1)
def _pair() -> dict[str, str]:
    return generate_key_pair()


def _embedded(raw: dict[str, Any]) -> None:
    raw["gitops"]["repo"].update(url="embedded", known_hosts=[])


def _crds(shared_data: Path, engine: str) -> list[dict[str, Any]]:
    folder = "argo-cd-" if engine == "argocd" else "flux-operator-"
    found = []
    for path in sorted(next((shared_data / "crds").glob(f"{folder}*")).glob("*.yaml")):
        found += [document for document in yaml.safe_load_all(path.read_text()) if document]
    return found


@functools.lru_cache(maxsize=2)
def _chart_output(shared_data: Path, engine: str, namespace: str) -> str:
    """A stand-in for helm template's output: the chart's real CRDs, a Deployment and a ClusterRole (one without
    its namespace, as chart templates often leave it to helm)."""
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"{engine}-controller"}, "spec": {"replicas": 1}}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": f"{engine}-controller"}, "rules": []}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{engine}-cm", "namespace": namespace}, "data": {}}
    # Hooks as charts have them (argo-cd 10.1.1 with redis-ha: a pre-install Job, helm test Pods).
    hook = {"helm.sh/hook": "pre-install,pre-upgrade", "helm.sh/hook-delete-policy": "before-hook-creation"}
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"{engine}-init", "namespace": namespace, "annotations": hook},
        "spec": {},
    }
    test = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{engine}-test", "namespace": namespace, "annotations": {"helm.sh/hook": "test-success"}},
    }
    documents = [*_crds(shared_data, engine), deployment, role, None, config, job, test]
    return yaml.dump_all(documents, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper))


@functools.lru_cache(maxsize=2)
def _rendered(engine: str) -> tuple[Any, Any, dict[str, str]]:
    spec, nodes = example_spec(engine, _embedded)
    return spec, nodes, _render.render(spec, nodes, double_sealed(spec, nodes), ca_of(spec), PINNED)


@functools.lru_cache(maxsize=2)
def _parsed(text: str) -> Any:
    return bootstrap.chart_manifests(text)


def _manifests(text: str) -> list[dict[str, Any]]:
    return copy.deepcopy(_parsed(text))


class Setup:
    def __init__(self, tmp_path: Path, shared_data: Path, engine: str) -> None:
        self.spec, self.nodes, files = _rendered(engine)
        self.platform = Platform(self.spec, self.nodes, host_keys=PINNED)
        self.tree = tmp_path / "repo"
        for path, text in files.items():
            (self.tree / path).parent.mkdir(parents=True, exist_ok=True)
            (self.tree / path).write_text(text)
        self.read = bootstrap.reader(str(self.tree))
        self.release = bootstrap.release(self.platform, self.read)
        self.sealed = _render.secrets_to_seal(self.spec, self.nodes, fake_values(self.spec), PINNED)
        self.api = KubernetesApiDouble(_chart_output(shared_data, engine, self.release.namespace))

    def steps(self) -> list[bootstrap.Step]:
        manifests = _manifests(self.api.chart_output)
        return bootstrap.plan(self.platform, read=self.read, pairs=[_pair()], sealed=self.sealed, chart=self.release, manifests=manifests)

    def run(self, check: bool = False) -> list[dict[str, Any]]:
        state = {"installed_crds": self.api.crds(), "namespaces": self.api.namespaces()} if check else {}
        module = self.api.checking() if check else self.api
        return run_steps(self.steps(), module, {"kubeconfig": "/nowhere"}, check=check, wait=False, wait_timeout=1, **state)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_steps_come_in_the_bootstrap_order(tmp_path: Path, shared_data: Path, engine: str) -> None:
    assert [step.name for step in Setup(tmp_path, shared_data, engine).steps()] == ORDER


def test_the_release_is_the_one_argocds_application_installs(tmp_path: Path, shared_data: Path) -> None:
    setup = Setup(tmp_path, shared_data, "argocd")
    application = next(
        doc
        for doc in yaml.safe_load_all((setup.tree / setup.platform.layout.app_file("argocd")).read_text())
        if doc and doc["metadata"]["name"] == "argocd"
    )
    chart = application["spec"]["sources"][0]
    values_file = chart["helm"]["valueFiles"][0].removeprefix("$values/")
    release = setup.release
    assert (release.chart, release.repo, release.version) == (chart["chart"], chart["repoURL"], chart["targetRevision"])
    assert (release.name, release.namespace) == (chart["helm"]["releaseName"], application["spec"]["destination"]["namespace"])
    assert release.values == next(doc for doc in yaml.safe_load_all((setup.tree / values_file).read_text()) if doc is not None)
    # helm template gets exactly those.
    arguments = ActionModule._template_arguments({"helm": "/usr/bin/helm", "chart_path": None}, release)
    assert arguments == {
        "binary_path": "/usr/bin/helm",
        "chart_ref": "argo-cd",
        "chart_repo_url": chart["repoURL"],
        "chart_version": chart["targetRevision"],
        "release_name": "argocd",
        "release_namespace": "argocd",
        "release_values": release.values,
        "include_crds": True,
    }


def test_the_release_is_the_one_fluxs_helmrelease_installs(tmp_path: Path, shared_data: Path) -> None:
    setup = Setup(tmp_path, shared_data, "flux")
    folder = setup.tree / setup.platform.layout.release_dir("flux-operator")
    documents = {doc["kind"]: doc for path in folder.glob("*.yaml") for doc in yaml.safe_load_all(path.read_text()) if doc}
    release = setup.release
    oci = documents["OCIRepository"]["spec"]
    assert (release.chart, release.repo, release.version) == (oci["url"], None, oci["ref"]["tag"])
    assert (release.name, release.namespace) == (
        documents["HelmRelease"]["spec"]["releaseName"],
        documents["HelmRelease"]["spec"]["targetNamespace"],
    )
    assert release.values == (yaml.safe_load(documents["ConfigMap"]["data"]["values.yaml"]) or {})


@pytest.mark.parametrize("engine", ENGINES)
def test_first_run_applies_everything_and_the_second_changes_nothing(tmp_path: Path, shared_data: Path, engine: str) -> None:
    setup = Setup(tmp_path, shared_data, engine)
    first = setup.run()
    assert [entry["step"] for entry in first if entry["changed"]] == ORDER
    stored = dict(setup.api.objects)
    second = setup.run()
    assert not any(entry["changed"] for entry in second), second
    assert setup.api.objects == stored


@pytest.mark.parametrize("engine", ENGINES)
def test_every_object_is_applied_by_the_manager_that_owns_it_later(tmp_path: Path, shared_data: Path, engine: str) -> None:
    setup = Setup(tmp_path, shared_data, engine)
    setup.run()
    engine_unit = setup.platform.engine
    expected = {
        "controller CRDs": engine_unit.chart_manager,
        "controller": engine_unit.chart_manager,
        "root": engine_unit.root_manager,
        "namespaces": engine_unit.namespace_manager,
    }
    for step in setup.steps():
        for document in step.objects:
            key = (document["apiVersion"], document["kind"], document["metadata"].get("namespace", ""), document["metadata"]["name"])
            manager = setup.api.objects[key]["metadata"]["managedFields"][0]["manager"]
            assert manager == expected.get(step.name, bootstrap.MANAGER), (step.name, key)
    assert {"argocd": "argocd-controller", "flux": "helm-controller"}[engine] == engine_unit.chart_manager


@pytest.mark.parametrize("engine", ENGINES)
def test_check_mode_on_a_fresh_cluster_predicts_the_real_run_and_stores_nothing(tmp_path: Path, shared_data: Path, engine: str) -> None:
    setup = Setup(tmp_path, shared_data, engine)
    predicted = setup.run(check=True)
    assert setup.api.objects == {}
    # What can be dry-run is (namespaces, CRDs); the rest needs them and is predicted, saying so.
    assert [entry["step"] for entry in predicted if entry["dry_run"]] == ["namespaces", "controller CRDs"]
    for entry in predicted:
        assert entry["changed"]
        if not entry["dry_run"]:
            assert "the real run creates these objects" in entry["reason"]
    real = setup.run()
    assert [(entry["step"], entry["objects"]) for entry in predicted] == [(entry["step"], entry["objects"]) for entry in real]
    # Once bootstrapped, check mode dry-runs every step and predicts no change.
    again = setup.run(check=True)
    assert all(entry["dry_run"] and not entry["changed"] for entry in again), again


def test_the_controller_step_is_what_an_install_creates_in_its_order(tmp_path: Path, shared_data: Path) -> None:
    setup = Setup(tmp_path, shared_data, "argocd")
    controller = next(step for step in setup.steps() if step.name == "controller")
    kinds = [document["kind"] for document in controller.objects]
    assert kinds[0] == "Job"  # the pre-install hook first, as helm install runs it
    assert "Pod" not in kinds  # helm test hooks are never installed
    assert sorted(kinds) == ["ClusterRole", "ConfigMap", "Deployment", "Job"]


def test_argocd_chart_objects_carry_its_tracking_annotation(tmp_path: Path, shared_data: Path) -> None:
    setup = Setup(tmp_path, shared_data, "argocd")
    controller = next(step for step in setup.steps() if step.name == "controller")
    by_kind = {document["kind"]: document for document in controller.objects}
    assert by_kind["Deployment"]["metadata"]["namespace"] == "argocd"  # helm's release namespace, filled in
    assert (
        by_kind["Deployment"]["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"]
        == "argocd:apps/Deployment:argocd/argocd-controller"
    )
    assert "namespace" not in by_kind["ClusterRole"]["metadata"]
    assert (
        by_kind["ClusterRole"]["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"]
        == "argocd:rbac.authorization.k8s.io/ClusterRole:/argocd-controller"
    )
    assert by_kind["ConfigMap"]["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] == "argocd:/ConfigMap:argocd/argocd-cm"


def test_flux_chart_objects_say_they_are_the_helm_releases(tmp_path: Path, shared_data: Path) -> None:
    setup = Setup(tmp_path, shared_data, "flux")
    for document in next(step for step in setup.steps() if step.name == "controller").objects:
        metadata = document["metadata"]
        assert metadata["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        assert metadata["annotations"]["meta.helm.sh/release-name"] == "flux-operator"
        assert metadata["annotations"]["meta.helm.sh/release-namespace"] == "flux-system"


@pytest.mark.parametrize("engine", ENGINES)
def test_the_namespaces_are_the_trees_with_their_pod_security_level(tmp_path: Path, shared_data: Path, engine: str) -> None:
    setup = Setup(tmp_path, shared_data, engine)
    namespaces = {doc["metadata"]["name"]: doc for doc in setup.steps()[0].objects}
    controller = setup.platform.engine.controller
    assert set(namespaces) == {controller.namespace, "sealed-secrets"}
    assert namespaces["sealed-secrets"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespaces[controller.namespace]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == controller.pod_security


@pytest.mark.parametrize("engine", ENGINES)
def test_the_keys_and_repository_credentials_are_what_git_holds_sealed(tmp_path: Path, shared_data: Path, engine: str) -> None:
    setup = Setup(tmp_path, shared_data, engine)
    steps = {step.name: step for step in setup.steps()}
    (key,) = steps["sealing keys"].objects
    assert key["metadata"]["namespace"] == "sealed-secrets" and key["metadata"]["labels"] == {KEY_LABEL: "active"}
    assert base64.b64decode(key["data"]["tls.crt"]).decode() == _pair()["certificate"]
    assert steps["sealing keys"].secret and steps["repository credentials"].secret
    (credentials,) = steps["repository credentials"].objects
    target = setup.platform.engine.deploy_key()
    sealed = setup.sealed[(target.namespace, target.secret)]
    assert (credentials["metadata"]["namespace"], credentials["metadata"]["name"]) == (target.namespace, target.secret)
    assert credentials["metadata"]["annotations"] == {"sealedsecrets.bitnami.com/managed": "true"}
    assert credentials["metadata"].get("labels", {}) == sealed.labels
    assert {key: base64.b64decode(value).decode() for key, value in credentials["data"].items()} == sealed.data
    # The tree's SealedSecret of the same name takes it over: same name, namespace and labels.
    sealed_file = setup.tree / setup.platform.layout.manifest_file(
        setup.platform.engine.controller.name, {"kind": "SealedSecret", "metadata": {"name": target.secret}}
    )
    template = next(doc for doc in yaml.safe_load_all(sealed_file.read_text()) if doc)["spec"]["template"]["metadata"]
    assert (template["name"], template["namespace"], template.get("labels", {})) == (target.secret, target.namespace, sealed.labels)
    if engine == "flux":
        assert sealed.data["known_hosts"] == PINNED[0] + "\n"


@pytest.mark.parametrize("engine", ENGINES)
def test_the_root_is_the_trees_root_file(tmp_path: Path, shared_data: Path, engine: str) -> None:
    setup = Setup(tmp_path, shared_data, engine)
    root = next(step for step in setup.steps() if step.name == "root")
    on_disk = [doc for doc in yaml.safe_load_all((setup.tree / setup.platform.layout.root_file).read_text()) if doc]
    assert list(root.objects) == on_disk
    assert {"argocd": ["AppProject", "Application"], "flux": ["FluxInstance"]}[engine] == [doc["kind"] for doc in root.objects]


def test_a_refused_step_stops_the_run_naming_it(tmp_path: Path, shared_data: Path) -> None:
    setup = Setup(tmp_path, shared_data, "argocd")
    setup.api.fail_next = "Unauthorized"
    with pytest.raises(KeelsonError, match="bootstrap step 'namespaces': Unauthorized"):
        setup.run()


def test_a_tree_without_the_controller_says_to_push_first(tmp_path: Path, shared_data: Path) -> None:
    setup = Setup(tmp_path, shared_data, "argocd")
    (setup.tree / setup.platform.layout.app_file("argocd")).unlink()
    with pytest.raises(KeelsonError, match=r"argocd.yaml is not in the repository's working copy .*; render and push it first"):
        bootstrap.release(setup.platform, setup.read)


def test_a_local_chart_of_another_version_is_refused(tmp_path: Path, shared_data: Path) -> None:
    setup = Setup(tmp_path, shared_data, "argocd")
    chart = tmp_path / "argo-cd"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: argo-cd\nversion: 9.0.0\n")
    with pytest.raises(KeelsonError, match=r"holds argo-cd 9.0.0, but the repository pins argo-cd 10.1.1"):
        bootstrap.check_chart(str(chart), setup.release)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: argo-cd\nversion: 10.1.1\n")
    bootstrap.check_chart(str(chart), setup.release)
