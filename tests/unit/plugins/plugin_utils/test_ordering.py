# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ordering and self-management read off the rendered tree (issue 9, items 10-11): each engine object applies a
folder of the tree; every object in it finds what it needs already there (the CRDs of the unit that owns its
API group, the Secrets its chart's values name, the roles its bindings name), under Flux's dependsOn graph and
under Argo CD's sync waves; and each root lies inside the folder it syncs."""

from __future__ import annotations

import posixpath
from typing import Any, Optional

import pytest
from render_helpers import example_spec

from ansible_collections.keelson.platform.plugins.plugin_utils import _render
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

ENGINES = ("argocd", "flux")
VARIANTS = {
    "example": None,
    "acme": lambda raw: raw["components"]["cert_manager"].update(issuer="acme", acme_email="ops@example.com"),
    "no-tenants": lambda raw: raw.update(tenants=[]),
}
Tree = dict[str, list[dict[str, Any]]]


def _render_tree(engine: str, variant: str = "example") -> tuple[Platform, Tree]:
    spec, nodes = example_spec(engine, VARIANTS[variant])
    from render_helpers import double_sealed  # noqa: PLC0415

    return Platform(spec, nodes), _render.render_documents(spec, nodes, double_sealed(spec, nodes))


def _under(tree: Tree, folder: str, recurse: bool = True) -> list[dict[str, Any]]:
    return [
        document
        for path, documents in tree.items()
        if path.startswith(folder.rstrip("/") + "/") and (recurse or posixpath.dirname(path) == folder.rstrip("/"))
        for document in documents
    ]


def _group(document: dict[str, Any]) -> str:
    return str(document["apiVersion"]).rpartition("/")[0]


def _owner(platform: Platform, document: dict[str, Any]) -> Optional[str]:
    """The enabled unit whose CRDs ``document`` is (written out from the CRD files' groups, not the code)."""
    groups = {
        "bitnami.com": "sealed-secrets",
        "cert-manager.io": "cert-manager",
        "acme.cert-manager.io": "cert-manager",
        "monitoring.coreos.com": "monitoring",
        "argoproj.io": "argocd",
        "fluxcd.controlplane.io": "flux-operator",
        "kueue.x-k8s.io": "kueue",
    }
    # Kinds of a group two charts serve: argoproj.io's pipelines are Argo Workflows' (its chart's files/crds).
    kinds = {
        ("argoproj.io", kind): "argo-workflows"
        for kind in ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow", "WorkflowEventBinding")
    }
    owner = kinds.get((_group(document), document.get("kind", ""))) or groups.get(_group(document))
    return owner if owner and platform.enabled(owner) else None


def _secret_refs(values: Any) -> set[str]:
    """Secret names a chart's values point at (existingSecret and the like)."""
    found: set[str] = set()
    if isinstance(values, dict):
        for key, value in values.items():
            if key in ("existingSecret", "existingClientSecretName") and isinstance(value, str):
                found.add(value)
            elif key == "secretKeyRef" and isinstance(value, dict):
                found.add(value["name"])
            elif key == "envSecrets" and isinstance(value, dict):
                found |= set(value.values())
            else:
                found |= _secret_refs(value)
    elif isinstance(values, list):
        for item in values:
            found |= _secret_refs(item)
    return found


# ------------------------------------------------------------------------------------------------ Flux


def _closure(graph: dict[str, list[str]], name: str) -> set[str]:
    seen: set[str] = set()
    stack = list(graph[name])
    while stack:
        other = stack.pop()
        assert other in graph, f"{name} depends on {other}, which no Kustomization of the tree is"
        if other not in seen:
            seen.add(other)
            stack += graph[other]
    return seen


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_flux_applies_every_object_after_what_it_needs(variant: str) -> None:
    platform, tree = _render_tree("flux", variant)
    layout = platform.layout
    kustomizations = {
        document["metadata"]["name"]: document["spec"] for document in _under(tree, layout.apps_dir) if document["kind"] == "Kustomization"
    }
    graph = {name: [dependency["name"] for dependency in spec.get("dependsOn", [])] for name, spec in kustomizations.items()}
    for name in graph:
        assert name not in _closure(graph, name), f"{name} depends on itself"
    # Which Kustomization applies which object, and where each Secret of the tree is applied.
    applied_by = {name: _under(tree, spec["path"]) for name, spec in kustomizations.items()}
    secret_home = {
        document["metadata"]["name"]: name
        for name, documents in applied_by.items()
        for document in documents
        if document["kind"] == "SealedSecret"
    }
    roles = {
        document["metadata"]["name"]: name
        for name, documents in applied_by.items()
        for document in documents
        if document["kind"] == "ClusterRole"
    }
    problems = []
    for name, documents in applied_by.items():
        before = _closure(graph, name)
        for document in documents:
            what = f"{name}: {document['kind']} {document['metadata']['name']}"
            owner = _owner(platform, document)  # None for the toolkit's kinds: the root installed them
            # CRDs of a unit: its release Kustomization (named after it) has run, with wait.
            if owner and owner not in before:
                problems.append(f"{what} needs {owner} first")
            if (
                document["kind"] == "RoleBinding"
                and document["roleRef"]["name"] in roles
                and roles[document["roleRef"]["name"]] not in before
            ):
                problems.append(f"{what} binds {document['roleRef']['name']} before {roles[document['roleRef']['name']]}")
            if document["kind"] == "HelmRelease":
                for secret in _secret_refs(platform_values(platform, document["metadata"]["name"])):
                    home = secret_home.get(secret)
                    if home and home not in before:
                        problems.append(f"{what}: its values name Secret {secret}, applied by {home}, which does not come first")
        assert kustomizations[name].get("wait") is True or not any(document["kind"] == "HelmRelease" for document in documents)
    assert problems == []
    # What the issue named: issuers after cert-manager, minio's chart after minio-root, tenants after sealed-secrets.
    assert "cert-manager" in _closure(graph, "cert-manager-manifests")
    assert "minio-manifests" in _closure(graph, "minio")
    if platform.spec.tenants:
        assert {"sealed-secrets", "tenancy"} <= _closure(graph, "tenant-vision")


def platform_values(platform: Platform, name: str) -> dict[str, Any]:
    return dict(platform.unit(name).values(platform))


def test_the_flux_graph_test_catches_a_missing_edge(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the edge from minio's manifests to its release, minio's chart would install before minio-root."""
    from ansible_collections.keelson.platform.plugins.module_utils._engines import flux  # noqa: PLC0415

    original = flux.FluxEngine._apply

    def forgetful(self: Any, platform: Platform, name: str, path: str, after: list[str], **options: Any) -> Any:
        return original(self, platform, name, path, [other for other in after if not other.endswith("-manifests")], **options)

    monkeypatch.setattr(flux.FluxEngine, "_apply", forgetful)
    with pytest.raises(AssertionError, match="applied by minio-manifests, which does not come first"):
        test_flux_applies_every_object_after_what_it_needs("example")


def test_flux_releases_retry_for_ever_and_multi_namespace_tenants_name_their_namespaces() -> None:
    platform, tree = _render_tree("flux")
    releases = [document for documents in tree.values() for document in documents if document.get("kind") == "HelmRelease"]
    assert {release["metadata"]["name"] for release in releases} == {unit.name for unit in platform.units}
    for release in releases:
        for action in ("install", "upgrade"):
            assert release["spec"][action]["strategy"] == {"name": "RetryOnFailure", "retryInterval": "5m"}
            assert "remediation" not in release["spec"][action]
    kustomizations = {
        document["metadata"]["name"]: document["spec"]
        for document in _under(tree, platform.layout.apps_dir)
        if document["kind"] == "Kustomization"
    }
    for tenant in platform.spec.tenants:
        spec = kustomizations[f"tenant-{tenant.name}-apps"]
        # One namespace: the target. Several (nlp): none, so each object names its own, and the account's
        # rights (RoleBindings in the tenant's namespaces only, test_render.py) refuse any other.
        assert spec.get("targetNamespace") == (tenant.namespaces[0] if len(tenant.namespaces) == 1 else None)


# --------------------------------------------------------------------------------------------- Argo CD


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_argocd_waves_apply_every_object_after_what_it_needs(variant: str) -> None:
    platform, tree = _render_tree("argocd", variant)
    applications = [document for document in _under(tree, platform.layout.apps_dir) if document["kind"] == "Application"]
    waves = {app["metadata"]["name"]: int(app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) for app in applications}
    # The unit each Application installs, and the wave its CRDs are there from.
    installs = {app["metadata"]["name"]: app["metadata"]["name"] for app in applications if platform.enabled(app["metadata"]["name"])}
    ready = {unit: waves[name] for name, unit in installs.items()}
    roles_wave = waves.get("tenancy")
    problems = []
    for app in applications:
        name, wave = app["metadata"]["name"], waves[app["metadata"]["name"]]
        sources = app["spec"].get("sources", [app["spec"].get("source")])
        for source in sources:
            if "path" not in source:
                continue
            for document in _under(tree, source["path"], recurse=bool(source.get("directory", {}).get("recurse"))):
                owner = _owner(platform, document)
                if owner and owner != installs.get(name) and ready[owner] >= wave and name != platform.spec.name:
                    problems.append(
                        f"{name} (wave {wave}): {document['kind']} {document['metadata']['name']} needs {owner} (wave {ready[owner]})"
                    )
                if (
                    document["kind"] == "RoleBinding"
                    and document["roleRef"]["name"].startswith("keelson-tenant-")
                    and (roles_wave is None or roles_wave >= wave)
                ):
                    problems.append(f"{name}: binds a tenant role before the tenancy Application")
    assert problems == []


# ----------------------------------------------------------------------------------------- the roots


@pytest.mark.parametrize("engine", ENGINES)
def test_the_root_lies_inside_the_folder_it_syncs(engine: str) -> None:
    platform, tree = _render_tree(engine)
    layout = platform.layout
    (root,) = [document for document in tree[layout.root_file] if document["kind"] in ("Application", "FluxInstance")]
    synced = root["spec"]["source"]["path"] if engine == "argocd" else root["spec"]["sync"]["path"]
    recurse = engine == "flux"  # kustomize-controller takes a folder's subfolders; Argo CD only with recurse
    assert layout.root_file.startswith(synced + "/") and (recurse or posixpath.dirname(layout.root_file) == synced)
    # Never pruned by itself when its file goes.
    assert any(key in root["metadata"].get("annotations", {}) for key in platform.protect)


def test_the_argocd_root_needs_nothing_the_tree_has_not_applied_yet() -> None:
    platform, tree = _render_tree("argocd")
    layout = platform.layout
    root_documents = tree[layout.root_file]
    (root,) = [document for document in root_documents if document["kind"] == "Application"]
    projects = {document["metadata"]["name"]: document["spec"] for document in root_documents if document["kind"] == "AppProject"}
    # Its project is in its own file, which the bootstrap applies: not `platform` (defined by what the root
    # syncs) and not `default` (locked by the tree).
    assert root["spec"]["project"] in projects
    locked = next(
        document
        for document in _under(tree, layout.apps_dir)
        if document["kind"] == "AppProject" and document["metadata"]["name"] == "default"
    )
    assert locked["spec"]["destinations"] == []
    # The project lets the root apply exactly what its folder holds: Applications and AppProjects, in argocd.
    project = projects[root["spec"]["project"]]
    allowed = {(entry["group"], entry["kind"]) for entry in project["namespaceResourceWhitelist"]}
    assert project["clusterResourceWhitelist"] == []
    for document in _under(tree, layout.apps_dir, recurse=False):
        assert (_group(document), document["kind"]) in allowed
        assert document["metadata"]["namespace"] in {destination["namespace"] for destination in project["destinations"]}
