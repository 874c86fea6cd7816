# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Isolation read off the rendered tree (issue 9, items 5-7): what the tenant roles and accounts may do, what the
network policies let through, and MinIO's policy names. RBAC and NetworkPolicy are evaluated here by small
models of the API server's and a CNI's rules (tests/cluster/ asks a real API server the same RBAC questions)."""

from __future__ import annotations

import ipaddress
from typing import Any, Optional

import pytest
from render_helpers import example_parts, example_spec

from ansible_collections.keelson.platform.plugins.plugin_utils import _render

ENGINES = ("argocd", "flux")
Tree = dict[str, list[dict[str, Any]]]


def _tree(engine: str, changes: Any = None) -> Tree:
    spec, nodes = example_spec(engine, changes)
    return _render.render_documents(spec, nodes, {})


def _objects(tree: Tree, kind: str) -> list[dict[str, Any]]:
    return [document for documents in tree.values() for document in documents if document.get("kind") == kind]


# ------------------------------------------------------------------------------------------------- RBAC


def _allows(role: dict[str, Any], group: str, resource: str, verb: str) -> bool:
    """RBAC's rule matching (no resourceNames, no non-resource URLs: keelson's roles use neither)."""
    return any(
        (group in rule["apiGroups"] or "*" in rule["apiGroups"])
        and (resource in rule["resources"] or "*" in rule["resources"])
        and (verb in rule["verbs"] or "*" in rule["verbs"])
        for rule in role["rules"]
    )


Subject = tuple[str, str, Optional[str]]  # kind, name, a service account's namespace


def _bound_role(tree: Tree, namespace: str, subject: Subject) -> list[dict[str, Any]]:
    """The ClusterRoles rendered in the tree that ``subject`` is bound to in ``namespace``."""
    roles = {role["metadata"]["name"]: role for role in _objects(tree, "ClusterRole")}
    bound = []
    for binding in _objects(tree, "RoleBinding"):
        if binding["metadata"]["namespace"] != namespace:
            continue
        if any((item["kind"], item["name"], item.get("namespace")) == subject for item in binding["subjects"]):
            name = binding["roleRef"]["name"]
            assert name in roles or name == "view", f"{subject} is bound to {name}, which the tree does not define"
            if name in roles:
                bound.append(roles[name])
    return bound


def _can(tree: Tree, namespace: str, subject: Subject, access: tuple[str, str, str]) -> bool:
    """Whether ``subject`` may ``access`` (API group, resource, verb) in ``namespace``."""
    return any(_allows(role, *access) for role in _bound_role(tree, namespace, subject))


PLATFORM_KINDS = [
    ("", "resourcequotas"),
    ("", "limitranges"),
    ("networking.k8s.io", "networkpolicies"),
    ("rbac.authorization.k8s.io", "roles"),
    ("rbac.authorization.k8s.io", "rolebindings"),
]
WRITES = ("create", "update", "patch", "delete", "deletecollection")


def _subjects(engine: str) -> list[tuple[str, Subject]]:
    """(what, subject) of vision's people with write access, and, under Flux, its accounts."""
    subjects: list[tuple[str, Subject]] = [
        ("admin group", ("Group", "oidc:vision-leads", None)),
        ("edit group", ("Group", "oidc:vision-engineers", None)),
    ]
    if engine == "flux":
        subjects += [
            ("Flux tenant account", ("ServiceAccount", "tenant-vision", "flux-system")),
            ("Flux reconciler", ("ServiceAccount", "flux-reconciler", "vision")),
        ]
    return subjects


@pytest.mark.parametrize("engine", ENGINES)
def test_tenant_writers_can_deploy_and_seal_but_not_touch_what_the_platform_sets(engine: str) -> None:
    tree = _tree(engine)
    for what, subject in _subjects(engine):
        for group, resource in [
            ("apps", "deployments"),
            ("", "secrets"),
            ("", "pods"),
            ("batch", "jobs"),
            ("bitnami.com", "sealedsecrets"),
        ]:
            # The Flux defect: the tenant account could not create SealedSecrets from the team's folder.
            assert _can(tree, "vision", subject, (group, resource, "create")), f"{what} cannot create {resource}"
        for group, resource in PLATFORM_KINDS:
            assert _can(tree, "vision", subject, (group, resource, "get")) or what.startswith("Flux") or resource.startswith("role")
            for verb in WRITES:
                assert not _can(tree, "vision", subject, (group, resource, verb)), f"{what} may {verb} {resource}"
        assert not _can(tree, "vision", subject, ("", "serviceaccounts", "impersonate"))
        assert not _can(tree, "nlp", subject, ("apps", "deployments", "create")), f"{what} reaches another tenant"


def test_flux_tenants_may_write_their_own_flux_objects() -> None:
    tree = _tree("flux")
    for resource in ("gitrepositories", "helmrepositories", "ocirepositories"):
        assert _can(tree, "nlp", ("ServiceAccount", "flux-reconciler", "nlp"), ("source.toolkit.fluxcd.io", resource, "create"))
    assert _can(tree, "nlp", ("ServiceAccount", "tenant-nlp", "flux-system"), ("kustomize.toolkit.fluxcd.io", "kustomizations", "create"))
    # Argo CD's tenants apply through their AppProject: the roles there carry no Flux kinds.
    roles = {role["metadata"]["name"]: role for role in _objects(_tree("argocd"), "ClusterRole")}
    assert not _allows(roles["keelson-tenant-admin"], "kustomize.toolkit.fluxcd.io", "kustomizations", "create")


@pytest.mark.parametrize("engine", ENGINES)
def test_tenant_roles_are_explicit_so_nothing_is_aggregated_into_them(engine: str) -> None:
    every = _objects(_tree(engine), "ClusterRole")
    roles = [role for role in every if role["metadata"]["name"].startswith("keelson-tenant-")]
    assert {role["metadata"]["name"] for role in roles} == {"keelson-tenant-admin", "keelson-tenant-edit"}
    # Any other ClusterRole keelson renders only widens Kubernetes' view, with reads of no Secret.
    for role in every:
        if role in roles:
            continue
        assert role["metadata"]["labels"] == {"rbac.authorization.k8s.io/aggregate-to-view": "true"}, role["metadata"]["name"]
        assert all(set(rule["verbs"]) <= {"get", "list", "watch"} and "secrets" not in rule["resources"] for rule in role["rules"])
    for role in roles:
        assert "aggregationRule" not in role
        assert not any(label.startswith("rbac.authorization.k8s.io/aggregate-to") for label in role["metadata"].get("labels", {}))
        assert all("*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"] for rule in role["rules"])
    # The view group keeps Kubernetes' view (no Secrets).
    bindings = [binding for binding in _objects(_tree(engine), "RoleBinding") if binding["metadata"]["name"] == "tenant-view"]
    assert bindings and all(binding["roleRef"]["name"] == "view" for binding in bindings)


def test_the_tenant_app_project_denies_rbac_and_what_the_platform_sets() -> None:
    projects = {project["metadata"]["name"]: project["spec"] for project in _objects(_tree("argocd"), "AppProject")}
    for name in ("tenant-vision", "tenant-nlp", "tenant-forecasting"):
        denied = {(entry["group"], entry["kind"]) for entry in projects[name]["namespaceResourceBlacklist"]}
        assert denied == {
            ("", "ResourceQuota"),
            ("", "LimitRange"),
            ("networking.k8s.io", "NetworkPolicy"),
            ("rbac.authorization.k8s.io", "Role"),
            ("rbac.authorization.k8s.io", "RoleBinding"),
            ("kueue.x-k8s.io", "LocalQueue"),
            # Groups a team only reads: Kueue's queues and workloads, KServe's served models (Git's alone).
            ("kueue.x-k8s.io", "*"),
            ("visibility.kueue.x-k8s.io", "*"),
            ("serving.kserve.io", "*"),
            # Routing and certificates the Ingress admission policy does not see (a Traefik IngressRoute or a
            # Certificate from the platform issuer for keycloak.<domain> would bypass it).
            ("traefik.io", "*"),
            ("traefik.containo.us", "*"),
            ("gateway.networking.k8s.io", "*"),
            ("cert-manager.io", "*"),
            ("acme.cert-manager.io", "*"),
        }


# ------------------------------------------------------------------------------------ network policies


def _namespace_of(peer: dict[str, Any]) -> Optional[set[str]]:
    """The namespaces a peer's namespaceSelector picks (None: only the policy's own namespace)."""
    if "namespaceSelector" not in peer:
        return None
    selector = peer["namespaceSelector"]
    if "matchLabels" in selector:
        return {selector["matchLabels"]["kubernetes.io/metadata.name"]}
    (expression,) = selector["matchExpressions"]
    assert (expression["key"], expression["operator"]) == ("kubernetes.io/metadata.name", "In")
    return set(expression["values"])


def _ports_allow(rule: dict[str, Any], port: int) -> bool:
    return "ports" not in rule or any(entry["port"] == port for entry in rule["ports"])


def _ingress_allowed(policies: list[dict[str, Any]], namespace: str, source: str, port: int) -> bool:
    """Whether some pod of ``source`` may reach some pod of ``namespace`` on ``port`` (pod selectors read as
    'some pods', so this over-approximates: a False is a real deny)."""
    mine = [policy for policy in policies if policy["metadata"]["namespace"] == namespace and "Ingress" in policy["spec"]["policyTypes"]]
    if not mine:
        return True
    for policy in mine:
        for rule in policy["spec"].get("ingress", []):
            if not _ports_allow(rule, port):
                continue
            if "from" not in rule:
                return True
            for peer in rule["from"]:
                if "ipBlock" in peer:
                    continue
                picked = _namespace_of(peer)
                if (picked is None and source == namespace) or (picked is not None and source in picked):
                    return True
    return False


def _egress_allowed(policies: list[dict[str, Any]], namespace: str, target: str, port: int) -> bool:
    mine = [policy for policy in policies if policy["metadata"]["namespace"] == namespace and "Egress" in policy["spec"]["policyTypes"]]
    if not mine:
        return True
    for policy in mine:
        for rule in policy["spec"].get("egress", []):
            if not _ports_allow(rule, port):
                continue
            if "to" not in rule:
                return True
            for peer in rule["to"]:
                picked = _namespace_of(peer) if "ipBlock" not in peer else set()
                if (picked is None and target == namespace) or (picked and target in picked):
                    return True
    return False


PLATFORM = ("argocd", "sealed-secrets", "cert-manager", "monitoring", "minio", "keycloak", "weaviate")


@pytest.mark.parametrize("engine", ENGINES)
def test_every_platform_namespace_denies_both_ways_by_default(engine: str) -> None:
    policies = _objects(_tree(engine), "NetworkPolicy")
    platform = ("flux-system" if engine == "flux" else "argocd", *PLATFORM[1:])
    for namespace in platform:
        deny = [policy for policy in policies if policy["metadata"] == {"name": "default-deny", "namespace": namespace}]
        assert deny and deny[0]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, namespace
    # Each component's policies go beside its manifests, so the engine applies them with the component.
    for part in example_parts(engine):
        assert all(policy["metadata"]["namespace"] == part.unit.namespace for policy in part.manifests if policy["kind"] == "NetworkPolicy")
        assert any(policy["kind"] == "NetworkPolicy" for policy in part.manifests), part.unit.name


# (platform namespace, port, who may reach it): ports a tenant must never reach, and what must still work.
CLOSED = [
    ("monitoring", 9090, "Prometheus"),
    ("monitoring", 9093, "Alertmanager"),
    ("monitoring", 3000, "Grafana, except through Traefik"),
    ("keycloak", 8080, "Keycloak, except through Traefik"),
    ("keycloak", 9000, "Keycloak's management port"),
    ("minio", 9001, "MinIO's console"),
    ("sealed-secrets", 8080, "the sealed-secrets controller"),
]


@pytest.mark.parametrize("engine", ENGINES)
def test_tenants_reach_exactly_the_platform_endpoints_they_use(engine: str) -> None:
    policies = _objects(_tree(engine), "NetworkPolicy")
    for namespace, port, what in CLOSED:
        for tenant_namespace in ("vision", "nlp", "forecasting"):
            assert not _ingress_allowed(policies, namespace, tenant_namespace, port), f"{tenant_namespace} reaches {what}"
            assert not _egress_allowed(policies, tenant_namespace, namespace, port), f"{tenant_namespace} may send to {what}"
    # Both sides agree for what tenants do use: vision, nlp (both namespaces) and forecasting have buckets,
    # vision and nlp Weaviate keys.
    for tenant_namespace in ("vision", "nlp", "nlp-staging", "forecasting"):
        assert _egress_allowed(policies, tenant_namespace, "minio", 9000) and _ingress_allowed(policies, "minio", tenant_namespace, 9000)
    for tenant_namespace, uses in (("vision", True), ("nlp-staging", True), ("forecasting", False)):
        for port in (8080, 50051):
            assert _egress_allowed(policies, tenant_namespace, "weaviate", port) is uses
            assert _ingress_allowed(policies, "weaviate", tenant_namespace, port) is uses
    # One tenant is not another's way in.
    assert not _ingress_allowed(policies, "vision", "nlp", 8080)


@pytest.mark.parametrize("engine", ENGINES)
def test_platform_traffic_between_components_is_allowed_on_both_sides(engine: str) -> None:
    policies = _objects(_tree(engine), "NetworkPolicy")
    # Weaviate backs up to MinIO; Prometheus scrapes every platform namespace; Traefik reaches the UIs.
    assert _egress_allowed(policies, "weaviate", "minio", 9000) and _ingress_allowed(policies, "minio", "weaviate", 9000)
    for namespace in PLATFORM[1:]:
        assert _ingress_allowed(policies, namespace, "monitoring", 8080), namespace
    for namespace in ("minio", "keycloak", "weaviate", "monitoring"):
        assert _ingress_allowed(policies, namespace, "kube-system", 8080), namespace
    # Webhooks: the API server calls cert-manager's and the Prometheus operator's on 10250, from anywhere.
    assert _ingress_allowed(policies, "cert-manager", "anything", 10250)
    assert not _ingress_allowed(policies, "cert-manager", "anything", 9402)


def test_controllers_reach_the_api_server_by_address() -> None:
    spec, nodes = example_spec("argocd")
    policies = {
        policy["metadata"]["name"]: policy
        for policy in _objects(_tree("argocd"), "NetworkPolicy")
        if policy["metadata"]["namespace"] == "cert-manager"
    }
    rules = policies["allow-to-api-server"]["spec"]["egress"]
    blocks = {(peer["ipBlock"]["cidr"], entry["port"]) for rule in rules for peer in rule["to"] for entry in rule["ports"]}
    servers = {node["address"] for node in nodes if node["role"] == "server"}
    assert {(f"{address}/32", 6443) for address in servers} | {(f"{spec['cluster']['api_vip']}/32", 6443)} <= blocks
    service = next(ipaddress.ip_network(spec["cluster"]["service_cidr"][0]).hosts())
    assert (f"{service}/32", 443) in blocks
    # A component that needs no API has no such policy, and one with open egress needs none.
    names = {(policy["metadata"]["namespace"], policy["metadata"]["name"]) for policy in _objects(_tree("argocd"), "NetworkPolicy")}
    assert ("minio", "allow-to-api-server") not in names and ("monitoring", "allow-egress-anywhere") in names


# ------------------------------------------------------------------------------------------------ MinIO


def test_minio_service_user_policies_and_group_policies_are_disjoint() -> None:
    values = next(part.values for part in example_parts("argocd") if part.unit.name == "minio")
    users = {user["policy"] for user in values["users"]}
    spec, _nodes = example_spec("argocd")
    groups = {spec["identity"]["admins_group"]} | {group for tenant in spec["tenants"] for group in tenant["groups"].values()}
    names = [policy["name"] for policy in values["policies"]]
    assert len(names) == len(set(names))
    assert users and all(name.startswith("user-") for name in users)
    assert set(names) == users | groups
    assert users.isdisjoint(groups)


def test_a_group_named_like_a_tenants_s3_user_no_longer_takes_its_policy() -> None:
    """The issue's case: forecasting's view group named tenant-nlp (nlp's S3 user)."""

    def collide(raw: dict[str, Any]) -> None:
        raw["tenants"][2]["groups"] = {"view": "tenant-nlp"}

    values = next(part.values for part in example_parts("argocd", collide) if part.unit.name == "minio")
    by_name = {policy["name"]: policy for policy in values["policies"]}
    nlp_user = next(user for user in values["users"] if user["accessKey"] == "tenant-nlp")
    assert by_name[nlp_user["policy"]]["statements"][0]["resources"] == ["arn:aws:s3:::nlp-corpora", "arn:aws:s3:::nlp-corpora/*"]
    assert by_name["tenant-nlp"]["statements"][0]["resources"][0] == "arn:aws:s3:::forecasting-features"
