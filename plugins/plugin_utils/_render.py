# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Render the platform's desired state: normalised spec (+ sealed Secrets) -> {path: file text}.

Pure and deterministic: manifests are built as data, keys keep a fixed order, lists whose order means
nothing are sorted, and nothing depends on time. The same spec and secrets give a byte-identical tree.

Layout (below ``gitops.repo.path``), for Argo CD; Flux has the same shape with Flux's kinds:

    clusters/<name>/root.yaml            the root Application (app of apps) / the FluxInstance
    clusters/<name>/apps/*.yaml          AppProjects and one Application per component and tenant
    platform/<component>/values.yaml     the chart's values where keelson differs from its defaults (Argo CD;
                                         Flux carries them in a ConfigMap beside the HelmRelease)
    platform/<component>/manifests/      what goes beside the chart (issuers, ingresses, sealed secrets, realm)
    tenants/<tenant>/keelson/*.yaml      namespaces, quota, limits, network policies, RBAC, sealed secrets
    tenants/<tenant>/apps/               the team's own area: keelson writes only its README
and at the top of the repository, its CI: .keelson/validate.py and .keelson/validate.yaml (the checks),
.github/workflows/validate.yml and .gitlab-ci.yml (which run them on every pull request).
"""

from __future__ import annotations

import dataclasses
import inspect
import posixpath
from collections.abc import Iterable
from typing import Any, Final, Optional

import yaml

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.plugin_utils import _tree_check
from ansible_collections.keelson.platform.plugins.plugin_utils._k3s import kube_minor
from ansible_collections.keelson.platform.plugins.plugin_utils._platform_secrets import target_secrets
from ansible_collections.keelson.platform.plugins.plugin_utils._render_components import NAMESPACES, Component, components
from ansible_collections.keelson.platform.plugins.plugin_utils._render_tenants import FLUX_RECONCILER, pod_security_labels, tenant_files

IN_CLUSTER: Final = "https://kubernetes.default.svc"
ARGOCD_NAMESPACE: Final = "argocd"
FLUX_NAMESPACE: Final = "flux-system"
RETRY: Final = {"limit": 10, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}}

Tree = dict[str, list[dict[str, Any]]]


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


def _dumper(base: type[yaml.SafeDumper]) -> type[yaml.SafeDumper]:
    """Plain YAML: no anchors, block style, long lines kept whole, multi-line strings as literal blocks."""

    class Dumper(base):  # type: ignore[valid-type,misc]
        def ignore_aliases(self, data: Any) -> bool:
            return True

    Dumper.add_representer(str, _str_presenter)
    return Dumper


# libyaml's emitter when PyYAML has it (ten times faster), else PyYAML's own: the same bytes either way
# (tests/unit/plugins/plugin_utils/test_render.py compares them on whole trees).
PURE_DUMPER: Final = _dumper(yaml.SafeDumper)
DUMPER: Final = _dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper))


def dump(documents: Iterable[Any], dumper: type[yaml.SafeDumper] = DUMPER) -> str:
    """YAML text of the documents, in order, without a header."""
    return yaml.dump_all(list(documents), Dumper=dumper, sort_keys=False, default_flow_style=False, width=1000, explicit_start=True)


def repo_url(spec: dict[str, Any], nodes: list[dict[str, Any]]) -> str:
    """The GitOps repository's URL as the cluster reaches it (the embedded one lives on the first server)."""
    url = spec["gitops"]["repo"]["url"]
    if url != "embedded":
        return str(url)
    first = next(node for node in nodes if node["role"] == "server")
    return f"ssh://git@{first['address']}/srv/git/{spec['name']}.git"


def _in_repo(spec: dict[str, Any], *parts: str) -> str:
    base = spec["gitops"]["repo"]["path"]
    return posixpath.join(*parts) if base == "." else posixpath.join(base, *parts)


def _wave(value: int) -> dict[str, str]:
    return {"argocd.argoproj.io/sync-wave": str(value)}


# ------------------------------------------------------------------------------------------- secrets


@dataclasses.dataclass(frozen=True)
class SecretToSeal:
    """One Secret keelson seals into the tree: its data (credentials and plain settings) and labels."""

    data: dict[str, str]
    labels: dict[str, str] = dataclasses.field(default_factory=dict)


def secrets_to_seal(spec: dict[str, Any], nodes: list[dict[str, Any]], values: dict[str, str]) -> dict[tuple[str, str], SecretToSeal]:
    """(namespace, name) -> every Secret the tree carries sealed, from the credentials' ``values``."""
    result = {key: SecretToSeal(dict(data)) for key, data in target_secrets(spec, values).items()}
    oidc = ("argocd", "argocd-oidc")
    if oidc in result:
        # Argo CD resolves $argocd-oidc:clientSecret only in Secrets labelled as its own.
        result[oidc] = dataclasses.replace(result[oidc], labels={"app.kubernetes.io/part-of": "argocd"})
    repo = ("argocd", "repo-platform")
    if repo in result:
        # Argo CD finds its repository credentials by this label; the URL says which repository they open.
        data = {**result[repo].data, "type": "git", "url": repo_url(spec, nodes)}
        result[repo] = SecretToSeal(dict(sorted(data.items())), {"argocd.argoproj.io/secret-type": "repository"})
    return result


# -------------------------------------------------------------------------------------------- Argo CD


def _application(
    name: str,
    project: str,
    namespace: str,
    sources: list[dict[str, Any]],
    wave: int,
    *,
    server_side: bool = False,
    finalizer: bool = True,
    namespace_labels: Optional[dict[str, str]] = None,
) -> dict[str, Any]:
    options = ["CreateNamespace=true"] if namespace_labels is not None else []
    if server_side:
        options.append("ServerSideApply=true")
    sync: dict[str, Any] = {
        "automated": {"prune": True, "selfHeal": True},
        "syncOptions": options or ["ApplyOutOfSyncOnly=true"],
        "retry": RETRY,
    }
    if namespace_labels:
        sync["managedNamespaceMetadata"] = {"labels": namespace_labels}
    metadata: dict[str, Any] = {"name": name, "namespace": ARGOCD_NAMESPACE, "annotations": _wave(wave)}
    if finalizer:
        # Removing the Application (a component turned off) removes what it deployed.
        metadata["finalizers"] = ["resources-finalizer.argocd.argoproj.io"]
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": metadata,
        "spec": {
            "project": project,
            "sources" if len(sources) > 1 else "source": sources if len(sources) > 1 else sources[0],
            "destination": {"server": IN_CLUSTER, "namespace": namespace},
            "syncPolicy": sync,
        },
    }


def _component_application(spec: dict[str, Any], git: str, component: Component, has_manifests: bool) -> dict[str, Any]:
    chart = component.chart
    branch = spec["gitops"]["repo"]["branch"]
    chart_source: dict[str, Any] = {
        "chart": chart["name"],
        "targetRevision": chart["version"],
        "helm": {"releaseName": component.name, "valueFiles": [f"$values/{_in_repo(spec, 'platform', component.name, 'values.yaml')}"]},
    }
    if chart["repo"].startswith("oci://"):
        chart_source = {"repoURL": chart["repo"][len("oci://") :], **chart_source}
    else:
        chart_source = {"repoURL": chart["repo"], **chart_source}
    sources = [chart_source, {"repoURL": git, "targetRevision": branch, "ref": "values"}]
    if has_manifests:
        sources.append({"repoURL": git, "targetRevision": branch, "path": _in_repo(spec, "platform", component.name, "manifests")})
    labels = pod_security_labels(NAMESPACES.get(component.namespace, "baseline"), spec["cluster"]["k3s_version"])
    return _application(
        component.name,
        "platform",
        component.namespace,
        sources,
        component.wave,
        server_side=component.server_side_apply,
        namespace_labels=labels,
        # Deleting Argo CD's own Application must not make Argo CD delete itself.
        finalizer=component.name != "argocd",
    )


def _projects(spec: dict[str, Any], git: str, chart_repos: list[str]) -> list[dict[str, Any]]:
    platform_namespaces = sorted({*NAMESPACES} - ({FLUX_NAMESPACE} if spec["gitops"]["engine"] == "argocd" else {ARGOCD_NAMESPACE}))
    platform = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": "platform", "namespace": ARGOCD_NAMESPACE, "annotations": _wave(-2)},
        "spec": {
            "description": "The platform's own components (keelson)",
            "sourceRepos": sorted({git, *chart_repos}),
            "destinations": [{"server": IN_CLUSTER, "namespace": namespace} for namespace in [*platform_namespaces, "kube-system"]]
            + [{"server": IN_CLUSTER, "namespace": namespace} for tenant in spec["tenants"] for namespace in tenant["namespaces"]],
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
        },
    }
    # Argo CD's own "default" project allows everything; keelson keeps it, with nothing allowed.
    default = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": "default", "namespace": ARGOCD_NAMESPACE, "annotations": _wave(-2)},
        "spec": {"sourceRepos": [], "destinations": [], "clusterResourceWhitelist": [], "namespaceResourceWhitelist": []},
    }
    projects = [platform, default]
    for tenant in spec["tenants"]:
        name = f"tenant-{tenant['name']}"
        roles = []
        for role, group_key, actions in (("admin", "admin", "*"), ("edit", "edit", "sync"), ("view", "view", "get")):
            policies = [f"p, proj:{name}:{role}, applications, {actions}, {name}/*, allow"]
            if role != "view":
                policies.append(f"p, proj:{name}:{role}, applications, get, {name}/*, allow")
            roles.append(
                {
                    "name": role,
                    "description": f"{role} of tenant {tenant['name']}",
                    "policies": policies,
                    "groups": [tenant["groups"][group_key]],
                }
            )
        projects.append(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AppProject",
                "metadata": {"name": name, "namespace": ARGOCD_NAMESPACE, "annotations": _wave(-2)},
                "spec": {
                    "description": f"Tenant {tenant['name']}: its namespaces only, no cluster-scoped kinds",
                    "sourceRepos": sorted({git, *tenant["repos"]}),
                    "destinations": [{"server": IN_CLUSTER, "namespace": namespace} for namespace in tenant["namespaces"]],
                    "clusterResourceWhitelist": [],
                    # What the platform sets for the team stays the platform's.
                    "namespaceResourceBlacklist": [
                        {"group": "", "kind": "ResourceQuota"},
                        {"group": "", "kind": "LimitRange"},
                        {"group": "networking.k8s.io", "kind": "NetworkPolicy"},
                    ],
                    "roles": roles,
                },
            }
        )
    return projects


def _argocd_tree(spec: dict[str, Any], git: str, parts: list[Component], manifests: dict[str, list[dict[str, Any]]]) -> Tree:
    cluster = spec["name"]
    branch = spec["gitops"]["repo"]["branch"]
    tree: Tree = {}
    apps_dir = _in_repo(spec, "clusters", cluster, "apps")
    tree[_in_repo(spec, "clusters", cluster, "root.yaml")] = [
        _application(
            cluster, "platform", ARGOCD_NAMESPACE, [{"repoURL": git, "targetRevision": branch, "path": apps_dir}], 0, finalizer=False
        )
    ]
    chart_repos = sorted({component.chart["repo"].removeprefix("oci://") for component in parts})
    tree[posixpath.join(apps_dir, "projects.yaml")] = _projects(spec, git, chart_repos)
    for component in parts:
        tree[posixpath.join(apps_dir, f"{component.name}.yaml")] = [
            _component_application(spec, git, component, bool(manifests.get(component.name)))
        ]
    for tenant in spec["tenants"]:
        name = tenant["name"]
        # Without the resources finalizer, deleting a tenant's Applications (its entry gone from the spec) leaves
        # what they deployed, data included; state: absent adds it, so that the deletion then cascades.
        cascade = tenant["state"] == "absent"
        base = _application(
            f"tenant-{name}",
            "platform",
            tenant["namespaces"][0],
            [{"repoURL": git, "targetRevision": branch, "path": _in_repo(spec, "tenants", name, "keelson")}],
            5,
            finalizer=cascade,
        )
        own = _application(
            f"tenant-{name}-apps",
            f"tenant-{name}",
            tenant["namespaces"][0],
            [{"repoURL": git, "targetRevision": branch, "path": _in_repo(spec, "tenants", name, "apps"), "directory": {"recurse": True}}],
            6,
            finalizer=cascade,
        )
        tree[posixpath.join(apps_dir, f"tenant-{name}.yaml")] = [base, own]
    return tree


# ----------------------------------------------------------------------------------------------- Flux


def _flux_object(api: str, kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": FLUX_NAMESPACE}, "spec": spec}


def _flux_component(spec: dict[str, Any], component: Component, parts: list[Component], has_manifests: bool) -> list[dict[str, Any]]:
    interval = spec["gitops"]["flux"]["interval"]
    chart = component.chart
    # The namespace with its Pod Security level (a hardened cluster defaults to restricted, which some charts
    # cannot meet), never pruned: turning a component off must not delete its volumes.
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": component.namespace,
            "labels": pod_security_labels(NAMESPACES.get(component.namespace, "baseline"), spec["cluster"]["k3s_version"]),
            "annotations": {"kustomize.toolkit.fluxcd.io/prune": "disabled"},
        },
    }
    documents: list[dict[str, Any]] = [namespace]
    release: dict[str, Any] = {
        "releaseName": component.name,
        "targetNamespace": component.namespace,
        "storageNamespace": component.namespace,
        "interval": interval,
        # Multi-tenant Flux impersonates a tenant account unless told otherwise: the platform's own releases
        # run as the controller's account.
        "serviceAccountName": "helm-controller",
        "install": {"createNamespace": True, "crds": "CreateReplace", "remediation": {"retries": 5}},
        "upgrade": {"crds": "CreateReplace", "remediation": {"retries": 5}},
        "valuesFrom": [{"kind": "ConfigMap", "name": f"{component.name}-values", "valuesKey": "values.yaml"}],
    }
    if chart["repo"].startswith("oci://"):
        documents.append(
            _flux_object(
                "source.toolkit.fluxcd.io/v1",
                "OCIRepository",
                component.name,
                {
                    "interval": interval,
                    "url": f"{chart['repo']}/{chart['name']}",
                    "ref": {"tag": chart["version"]},
                    "layerSelector": {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "operation": "copy"},
                },
            )
        )
        release["chartRef"] = {"kind": "OCIRepository", "name": component.name}
    else:
        documents.append(
            _flux_object("source.toolkit.fluxcd.io/v1", "HelmRepository", component.name, {"interval": interval, "url": chart["repo"]})
        )
        release["chart"] = {
            "spec": {
                "chart": chart["name"],
                "version": chart["version"],
                "sourceRef": {"kind": "HelmRepository", "name": component.name},
                "interval": interval,
            }
        }
    deps = [name for name in component.depends_on if any(part.name == name for part in parts)]
    if deps:
        release["dependsOn"] = [{"name": name} for name in deps]
    documents.append(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{component.name}-values", "namespace": FLUX_NAMESPACE},
            "data": {"values.yaml": yaml.dump(component.values, Dumper=DUMPER, sort_keys=False, default_flow_style=False, width=1000)},
        }
    )
    documents.append(_flux_object("helm.toolkit.fluxcd.io/v2", "HelmRelease", component.name, release))
    if has_manifests:
        documents.append(
            _flux_object(
                "kustomize.toolkit.fluxcd.io/v1",
                "Kustomization",
                f"{component.name}-manifests",
                {
                    "interval": interval,
                    # Until the chart's CRDs exist, the manifests that use them fail and are retried.
                    "retryInterval": "1m",
                    "path": _in_repo(spec, "platform", component.name, "manifests"),
                    "prune": True,
                    "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
                    "serviceAccountName": "kustomize-controller",
                },
            )
        )
    return documents


def _flux_tenant(spec: dict[str, Any], tenant: dict[str, Any]) -> list[dict[str, Any]]:
    interval = spec["gitops"]["flux"]["interval"]
    name = tenant["name"]
    # A tenant deleted from the spec leaves its objects (and so its data) in the cluster, unless it was
    # first set to state: absent.
    deletion = "Delete" if tenant["state"] == "absent" else "Orphan"
    base = _flux_object(
        "kustomize.toolkit.fluxcd.io/v1",
        "Kustomization",
        f"tenant-{name}",
        {
            "interval": interval,
            "path": _in_repo(spec, "tenants", name, "keelson"),
            "prune": True,
            "deletionPolicy": deletion,
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
            "serviceAccountName": "kustomize-controller",
        },
    )
    own: dict[str, Any] = {
        "interval": interval,
        "path": _in_repo(spec, "tenants", name, "apps"),
        "prune": True,
        "deletionPolicy": deletion,
        "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
        # The team's own manifests apply as the tenant's service account: only what it may do, only where.
        "serviceAccountName": f"tenant-{name}",
        "dependsOn": [{"name": f"tenant-{name}"}],
    }
    if len(tenant["namespaces"]) == 1:
        own["targetNamespace"] = tenant["namespaces"][0]
    return [base, _flux_object("kustomize.toolkit.fluxcd.io/v1", "Kustomization", f"tenant-{name}-apps", own)]


def _flux_tree(spec: dict[str, Any], git: str, parts: list[Component], manifests: dict[str, list[dict[str, Any]]]) -> Tree:
    cluster = spec["name"]
    settings = spec["gitops"]
    apps_dir = _in_repo(spec, "clusters", cluster, "apps")
    instance = {
        "apiVersion": "fluxcd.controlplane.io/v1",
        "kind": "FluxInstance",
        "metadata": {"name": "flux", "namespace": FLUX_NAMESPACE},
        "spec": {
            "distribution": {"version": CATALOG["components"]["flux_instance"]["distribution"], "registry": "ghcr.io/fluxcd"},
            "components": ["source-controller", "kustomize-controller", "helm-controller", "notification-controller"],
            # Multi-tenancy lockdown: no cross-namespace references, and whatever names no service account
            # runs as the namespace's flux-reconciler (which only tenants' namespaces have).
            "cluster": {
                "type": "kubernetes",
                "multitenant": True,
                "networkPolicy": True,
                "domain": "cluster.local",
                "tenantDefaultServiceAccount": FLUX_RECONCILER,
            },
            "sync": {
                "kind": "GitRepository",
                "url": git,
                "ref": f"refs/heads/{settings['repo']['branch']}",
                "path": apps_dir,
                "pullSecret": "flux-system",
                "interval": settings["flux"]["interval"],
            },
        },
    }
    tree: Tree = {_in_repo(spec, "clusters", cluster, "root.yaml"): [instance]}
    for component in parts:
        tree[posixpath.join(apps_dir, f"{component.name}.yaml")] = _flux_component(
            spec, component, parts, bool(manifests.get(component.name))
        )
    for tenant in spec["tenants"]:
        tree[posixpath.join(apps_dir, f"tenant-{tenant['name']}.yaml")] = _flux_tenant(spec, tenant)
    return tree


# -------------------------------------------------------------------------------------------- the CI


def _ci(spec: dict[str, Any]) -> Tree:
    """The repository's own pull-request checks. They run .keelson/validate.py (written by render()), which
    fails on a hand-edited generated file or on a manifest the schemas reject."""
    settings = CATALOG["validate"]
    crds = [url for component in CATALOG["components"].values() for url in component.get("crds", [])]
    config = {
        "kubernetes_version": kube_minor(spec["cluster"]["k3s_version"]).lstrip("v"),
        "crds": sorted(crds),
        # Not Kubernetes manifests: the CI's own files and the charts' values.
        "skip": [".github/*", ".gitlab-ci.yml", ".keelson/*", _in_repo(spec, "platform", "*", "values.yaml")],
        "packages": list(settings["packages"]),
    }
    install = "python -m pip install --quiet " + " ".join(settings["packages"])
    run = "python .keelson/validate.py"
    branch = spec["gitops"]["repo"]["branch"]
    github = {
        "name": "keelson: validate the platform",
        "on": {"pull_request": {}, "push": {"branches": [branch]}},
        "permissions": {"contents": "read"},
        "jobs": {
            "validate": {
                "runs-on": settings["runner"],
                "steps": [
                    {"uses": settings["checkout"]},
                    {"uses": settings["setup_python"], "with": {"python-version": "3.12"}},
                    {"name": "Install the validators (pinned)", "run": install},
                    {"name": "No hand-edited generated file; every manifest valid (Kubernetes and CRD schemas)", "run": run},
                ],
            }
        },
    }
    gitlab = {
        "keelson-validate": {
            "image": settings["python_image"],
            "rules": [{"if": "$CI_PIPELINE_SOURCE == 'merge_request_event'"}, {"if": f"$CI_COMMIT_BRANCH == '{branch}'"}],
            "script": [install, run],
        }
    }
    return {".github/workflows/validate.yml": [github], ".gitlab-ci.yml": [gitlab], _tree_check.CONFIG_PATH: [config]}


# ------------------------------------------------------------------------------------------- the tree


def render_documents(spec: dict[str, Any], nodes: list[dict[str, Any]], sealed: dict[tuple[str, str], dict[str, Any]]) -> Tree:
    """The tree's YAML files as data: relative path -> documents. ``sealed`` maps (namespace, Secret name) to
    the SealedSecret that carries it."""
    git = repo_url(spec, nodes)
    parts = components(spec)
    engine = spec["gitops"]["engine"]
    tree: Tree = {}
    component_of_namespace = {component.namespace: component.name for component in parts}
    manifests: dict[str, list[dict[str, Any]]] = {component.name: list(component.manifests) for component in parts}
    for (namespace, _name), manifest in sorted(sealed.items()):
        owner = component_of_namespace.get(namespace)
        if owner:
            manifests[owner].append(manifest)
    for component in parts:
        if engine == "argocd":
            tree[_in_repo(spec, "platform", component.name, "values.yaml")] = [component.values]
        for document in manifests[component.name]:
            file_name = f"{document['kind'].lower()}-{document['metadata']['name']}.yaml"
            tree[_in_repo(spec, "platform", component.name, "manifests", file_name)] = [document]
    for path, documents in tenant_files(spec, sealed).items():
        tree[_in_repo(spec, path)] = documents
    engine_tree = _argocd_tree if engine == "argocd" else _flux_tree
    tree.update(engine_tree(spec, git, parts, manifests))
    tree.update(_ci(spec))
    return dict(sorted(tree.items()))


def _tenant_readme(tenant: dict[str, Any]) -> str:
    return (
        f"# Team {tenant['name']}\n\n"
        f"Put your own manifests in this folder. They are applied to your namespaces ({', '.join(tenant['namespaces'])})\n"
        "with your team's permissions: nothing cluster-wide, nothing in another team's namespaces, and not the\n"
        "quota, limits or network policies the platform sets. keelson writes this README only; the rest of the\n"
        "folder is yours.\n"
    )


def render(spec: dict[str, Any], nodes: list[dict[str, Any]], sealed: dict[tuple[str, str], dict[str, Any]]) -> dict[str, str]:
    """The whole tree as file contents: relative path -> text, each file behind the generated-file header."""
    files = {path: _tree_check.with_header(dump(documents)) for path, documents in render_documents(spec, nodes, sealed).items()}
    files[".keelson/validate.py"] = _tree_check.with_header(inspect.getsource(_tree_check))
    for tenant in spec["tenants"]:
        files[_in_repo(spec, "tenants", tenant["name"], "apps", "README.md")] = _tree_check.with_header(_tenant_readme(tenant), "html")
    return dict(sorted(files.items()))
