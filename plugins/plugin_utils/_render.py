# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Render the platform's desired state: normalised spec (+ sealed Secrets) -> {path: file text}.

Pure and deterministic: manifests are built as data, keys keep a fixed order, lists whose order means
nothing are sorted, and nothing depends on time. The same spec and secrets give a byte-identical tree.

What is rendered comes from the registries: each enabled component (``module_utils/_components``) gives its
chart values and manifests, the engine (``module_utils/_engines``) the documents that install them and apply
the tenants' folders; paths come from :class:`Layout` (below ``gitops.repo.path``):

    clusters/<name>/apps/root.yaml       the root Application (app of apps) / the FluxInstance, self-managed
    clusters/<name>/apps/*.yaml          AppProjects and one Application per component and tenant (Argo CD),
                                         or the Namespace and Kustomizations per component and tenant (Flux)
    platform/<component>/values.yaml     the chart's values where keelson differs from its defaults (Argo CD)
    platform/<component>/release/        the chart's source, values and HelmRelease (Flux)
    platform/<component>/manifests/      what goes beside the chart (issuers, ingresses, sealed secrets, realm,
                                         the namespace's NetworkPolicies)
    platform/tenancy/                    the tenant roles (ClusterRoles keelson-tenant-admin/-edit)
    tenants/<tenant>/keelson/*.yaml      namespaces, quota, limits, network policies, RBAC, sealed secrets
    tenants/<tenant>/apps/               the team's own area: keelson writes only its README
and at the top of the repository, its CI: .keelson/validate.py and .keelson/validate.yaml (the checks),
.github/workflows/validate.yml and .gitlab-ci.yml (which run them on every pull request).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import inspect
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils import _tenancy, _yaml
from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._components import kserve
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import (
    DNS_PEER,
    DNS_PORTS,
    TRAEFIK_PEER,
    TRAEFIK_PORTS,
    Document,
    Unit,
    namespace_selector,
    network_policy,
    tcp,
)
from ansible_collections.keelson.platform.plugins.module_utils._engines import TENANCY, Part, Tree
from ansible_collections.keelson.platform.plugins.module_utils._ml_project import Project
from ansible_collections.keelson.platform.plugins.plugin_utils import _tree_check
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import CI_PATHS, Platform
from ansible_collections.keelson.platform.plugins.plugin_utils._platform_secrets import target_secrets
from ansible_collections.keelson.platform.plugins.plugin_utils._render_ml import ml_files
from ansible_collections.keelson.platform.plugins.plugin_utils._render_tenants import tenant_files

PURE_DUMPER: Final = _yaml.dumper(pure=True)
DUMPER: Final = _yaml.dumper()
GITHUB_WORKFLOW, GITLAB_CI, VALIDATE_SCRIPT, VALIDATE_CONFIG = CI_PATHS


def dump(documents: Iterable[Any], dumper: Any = None) -> str:
    """YAML text of the documents, in order, without a header."""
    return _yaml.dump(documents, pure=dumper is PURE_DUMPER)


# ------------------------------------------------------------------------------------------- secrets


@dataclasses.dataclass(frozen=True)
class SecretToSeal:
    """One Secret keelson seals into the tree: its data (credentials and plain settings) and labels."""

    data: dict[str, str]
    labels: dict[str, str] = dataclasses.field(default_factory=dict)


def secrets_to_seal(
    spec: dict[str, Any], nodes: list[dict[str, Any]], values: dict[str, str], host_keys: tuple[str, ...] = ()
) -> dict[tuple[str, str], SecretToSeal]:
    """(namespace, name) -> every Secret the tree carries sealed, from the credentials' ``values``, with what
    the engine's controller needs beside them (labels, the repository URL, its known_hosts)."""
    platform = Platform(spec, nodes, host_keys=host_keys)
    result = {}
    for key, credentials in target_secrets(spec, values).items():
        data, labels = platform.engine.secret(platform, key, dict(credentials))
        result[key] = SecretToSeal(data, labels)
    return result


# -------------------------------------------------------------------------------------------- the CI


def _ci(platform: Platform) -> Tree:
    """The repository's own pull-request checks. They run .keelson/validate.py (written by render()), which
    fails on a hand-edited generated file or on a manifest the schemas reject."""
    settings = CATALOG["validate"]
    crds = [url for component in CATALOG["components"].values() for url in component.get("crds", [])]
    config = {
        "kubernetes_version": platform.kube_minor.lstrip("v"),
        "crds": sorted(crds),
        # Not Kubernetes manifests: the CI's own files and the charts' values.
        "skip": [".github/*", GITLAB_CI, ".keelson/*", platform.layout.values_glob],
        "packages": list(settings["packages"]),
    }
    install = "python -m pip install --quiet " + " ".join(settings["packages"])
    run = f"python {VALIDATE_SCRIPT}"
    branch = platform.spec.gitops.repo.branch
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
    return {GITHUB_WORKFLOW: [github], GITLAB_CI: [gitlab], VALIDATE_CONFIG: [config]}


# ------------------------------------------------------------------------------------------- the tree


# ------------------------------------------------------------------------------ platform network policies


def api_server_peers(platform: Platform) -> list[Document]:
    """Egress rules to the API server (:attr:`Platform.api_server_egress`)."""
    return platform.api_server_egress


def platform_policies(platform: Platform, unit: Unit[Any]) -> list[Document]:
    """The NetworkPolicies of a component's namespace, derived from every enabled unit's :class:`Network` (see
    there for what each part allows and why) and the tenants that use it."""
    namespace, network = unit.namespace, unit.network(platform)

    def policy(name: str, types: list[str], **rules: list[Document]) -> Document:
        return network_policy(namespace, name, {"podSelector": {}, "policyTypes": types, **rules})

    policies = [
        policy("default-deny", ["Ingress", "Egress"]),
        policy("allow-dns", ["Egress"], egress=[{"to": [DNS_PEER], "ports": list(DNS_PORTS)}]),
        policy(
            "allow-same-namespace", ["Ingress", "Egress"], ingress=[{"from": [{"podSelector": {}}]}], egress=[{"to": [{"podSelector": {}}]}]
        ),
    ]
    if network.anywhere:
        policies.append(policy("allow-egress-anywhere", ["Egress"], egress=[{}]))
    else:
        if network.api:
            policies.append(policy("allow-to-api-server", ["Egress"], egress=api_server_peers(platform)))
        if unit.oidc_client(platform) is not None and platform.issuer_url:
            # The issuer URL is an ingress host: its discovery and keys are fetched through Traefik.
            policies.append(policy("allow-to-ingress", ["Egress"], egress=[{"to": [TRAEFIK_PEER], "ports": tcp(TRAEFIK_PORTS)}]))
        for name, ports in network.to:
            if platform.enabled(name) and platform.unit(name).namespace != namespace:
                to = namespace_selector(platform.unit(name).namespace)
                policies.append(policy(f"allow-to-{name}", ["Egress"], egress=[{"to": [to], "ports": tcp(ports)}]))
    if unit.hosts:
        policies.append(policy("allow-from-ingress", ["Ingress"], ingress=[{"from": [TRAEFIK_PEER]}]))
    if network.webhooks:
        policies.append(policy("allow-webhooks", ["Ingress"], ingress=[{"ports": tcp(network.webhooks)}]))
    for other in platform.units:
        if other.namespace == namespace:
            continue
        other_network = other.network(platform)
        if other_network.scraper:
            peer = {**namespace_selector(other.namespace), "podSelector": {"matchLabels": dict(other_network.scraper)}}
            policies.append(policy(f"allow-from-{other.name}-scraper", ["Ingress"], ingress=[{"from": [peer]}]))
        for name, ports in other_network.to:
            if name == unit.name:
                from_other = namespace_selector(other.namespace)
                policies.append(policy(f"allow-from-{other.name}", ["Ingress"], ingress=[{"from": [from_other], "ports": tcp(ports)}]))
    users = [namespace for tenant in platform.spec.tenants if unit.used_by(tenant) for namespace in tenant.namespaces]
    if network.tenant_ports and users:
        tenants = {
            "namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": sorted(users)}]}
        }
        policies.append(policy("allow-from-tenants", ["Ingress"], ingress=[{"from": [tenants], "ports": tcp(network.tenant_ports)}]))
    return policies


def needs(platform: Platform, documents: Iterable[Document]) -> tuple[str, ...]:
    """What must be in the cluster before ``documents`` apply: the enabled units whose custom resources they
    are (and whose webhooks admit them), and the tenant roles (:data:`TENANCY`) when they bind them. In registry order."""
    found = set()
    tenant_roles = {role["metadata"]["name"] for role in _tenancy_roles(platform)}
    for document in documents:
        owner = platform.crd_owner(document["apiVersion"], document.get("kind", ""))
        if owner:
            found.add(owner)
        found.update(platform.webhook_owners(document["apiVersion"]))
        if document["kind"] == "RoleBinding" and document["roleRef"]["name"] in tenant_roles:
            found.add(TENANCY)
    return tuple(name for name in (*(unit.name for unit in platform.units), TENANCY) if name in found)


def _tenancy_roles(platform: Platform) -> list[Document]:
    """The tenant roles, with the custom resources each enabled unit lets a team write."""
    return _tenancy.cluster_roles(platform.tenant_resources, platform.tenant_reads)


def _tenancy_policies(platform: Platform) -> list[Document]:
    """The admission policies of every tenant namespace: Ingress hosts that are not the platform's (every enabled
    unit's ingress host, and the served models' domain but the namespace's own model hosts)."""
    serving = kserve.UNIT.domain(platform) if platform.enabled(kserve.UNIT.name) else None
    namespaces = [namespace for tenant in platform.spec.tenants for namespace in tenant.namespaces]
    return _tenancy.ingress_policy(platform.ingress_hosts, serving, namespaces)


def parts(platform: Platform, sealed: dict[tuple[str, str], dict[str, Any]]) -> list[Part]:
    """Every enabled unit rendered, in sync order; a sealed Secret goes beside the component of its namespace (or
    of a namespace the component names, :meth:`Unit.secret_namespaces`), and so do the namespace's NetworkPolicies."""
    owner = {namespace: unit.name for unit in platform.units for namespace in unit.secret_namespaces(platform)}
    owner |= {unit.namespace: unit.name for unit in platform.units}
    extra: dict[str, list[dict[str, Any]]] = {}
    for (namespace, _name), manifest in sorted(sealed.items()):
        if namespace in owner:
            extra.setdefault(owner[namespace], []).append(manifest)
    rendered = []
    for unit in platform.units:
        manifests = [*unit.manifests(platform), *extra.get(unit.name, []), *platform_policies(platform, unit)]
        rendered.append(
            Part(
                unit,
                unit.values(platform),
                manifests,
                platform.waves[unit.name],
                platform.dependencies(unit),
                needs(platform, manifests),
            )
        )
    return rendered


def render_documents(
    spec: dict[str, Any],
    nodes: list[dict[str, Any]],
    sealed: dict[tuple[str, str], dict[str, Any]],
    ca_certificate: Optional[str] = None,
    host_keys: tuple[str, ...] = (),
    *,
    ml_projects: Optional[Mapping[str, tuple[Project, ...]]] = None,
) -> Tree:
    """The tree's YAML files as data: relative path -> documents. ``sealed`` maps (namespace, Secret name) to
    the SealedSecret that carries it; ``ca_certificate`` is the platform CA's, ``host_keys`` the embedded Git
    server's pinned keys, ``ml_projects`` the tenants' ML projects (see :class:`Platform`)."""
    return _documents(Platform(spec, nodes, ca_certificate, host_keys, ml_projects), sealed)


def _documents(platform: Platform, sealed: dict[tuple[str, str], dict[str, Any]]) -> Tree:
    layout, engine = platform.layout, platform.engine
    rendered = parts(platform, sealed)
    tree: Tree = {}
    for part in rendered:
        if engine.values_files():
            tree[layout.values_file(part.unit.name)] = [part.values]
        for document in part.manifests:
            tree[layout.manifest_file(part.unit.name, document)] = [engine.manifest(platform, part.unit, document)]
    for document in [*_tenancy_roles(platform), *_tenancy_policies(platform)]:
        tree[layout.tenancy_file(document)] = [document]
    tenants = tenant_files(platform, sealed)
    served, ml = ml_files(platform)
    tenants.update(served)
    tree.update(tenants)
    by_tenant: dict[str, list[dict[str, Any]]] = {}
    for path, documents in tenants.items():  # once over the files, not once per tenant
        owner = platform.layout.tenant_of(path)
        if owner is not None:
            by_tenant.setdefault(owner, []).extend(documents)
    tenant_needs = {tenant.name: needs(platform, by_tenant.get(tenant.name, [])) for tenant in platform.spec.tenants}
    tree.update(ml)
    ml_needs = {}
    for tenant, projects in platform.ml_projects.items():
        documents = [document for project in projects for document in ml[layout.tenant_ml_file(tenant, project.name)]]
        ml_needs[tenant] = tuple(name for name in needs(platform, documents) if name != TENANCY)
    tree.update(engine.tree(platform, rendered, platform.tenant_wave, tenant_needs, ml_needs))
    tree.update(_ci(platform))
    return dict(sorted(tree.items()))


def _tenant_readme(name: str, namespaces: list[str]) -> str:
    return (
        f"# Team {name}\n\n"
        f"Put your own manifests in this folder. They are applied to your namespaces ({', '.join(namespaces)})\n"
        "with your team's permissions: nothing cluster-wide, nothing in another team's namespaces, and not the\n"
        "quota, limits or network policies the platform sets. keelson writes this README only; the rest of the\n"
        "folder is yours.\n"
    )


def render(
    spec: dict[str, Any],
    nodes: list[dict[str, Any]],
    sealed: dict[tuple[str, str], dict[str, Any]],
    ca_certificate: Optional[str] = None,
    host_keys: tuple[str, ...] = (),
    *,
    ml_projects: Optional[Mapping[str, tuple[Project, ...]]] = None,
) -> dict[str, str]:
    """The whole tree as file contents: relative path -> text, each file behind the generated-file header.
    ``ca_certificate``: the platform CA's, which every OIDC consumer is told to trust; ``host_keys``: the
    embedded Git server's pinned keys, which the GitOps controller is told to trust."""
    with _no_cycle_collection():
        return _render(Platform(spec, nodes, ca_certificate, host_keys, ml_projects), sealed)


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The tree is plain, acyclic data that reference counting frees; Python's cycle collector would only walk
    the ever larger heap of it again and again (a third of the render time at 1,000 tenants)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _render(platform: Platform, sealed: dict[tuple[str, str], dict[str, Any]]) -> dict[str, str]:
    name = platform.spec.name  # every header says which platform wrote the file
    files = {path: _tree_check.with_header(dump(documents), platform=name) for path, documents in _documents(platform, sealed).items()}
    files[VALIDATE_SCRIPT] = _tree_check.with_header(inspect.getsource(_tree_check), platform=name)
    for tenant in platform.spec.tenants:
        readme = _tenant_readme(tenant.name, tenant.namespaces)
        files[f"{platform.layout.tenant_apps(tenant.name)}/README.md"] = _tree_check.with_header(readme, "html", platform=name)
    return dict(sorted(files.items()))
