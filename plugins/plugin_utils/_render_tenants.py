# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One tenant entry -> everything the team needs, isolated: namespaces (Pod Security restricted), quota,
limits, default-deny network policies with the allows a workload needs (the platform's own, then each enabled
component's), RBAC for its Keycloak groups and the engine's accounts, and its sealed credentials. Namespaces
and volumes are protected from automatic pruning, so removing a tenant from the spec never deletes its data
by itself."""

from __future__ import annotations

from typing import Any, Final

from ansible_collections.keelson.platform.plugins.module_utils._components._unit import (
    DNS_PEER,
    DNS_PORTS,
    RESTRICTED,
    TRAEFIK_PEER,
    Document,
    network_policy,
)
from ansible_collections.keelson.platform.plugins.module_utils._components.keycloak import OIDC_PREFIX
from ansible_collections.keelson.platform.plugins.module_utils._spec_model import Tenant
from ansible_collections.keelson.platform.plugins.module_utils._tenancy import TENANT_LABEL, TENANT_ROLES
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

# Every tenant namespace's Pod Security level.
TENANT_POD_SECURITY: Final = RESTRICTED


def _namespaces(platform: Platform, tenant: Tenant) -> list[Document]:
    labels = {label: value for unit in platform.units for label, value in unit.namespace_labels(platform, tenant).items()}
    labels.update({TENANT_LABEL: tenant.name, **platform.pod_security_labels(TENANT_POD_SECURITY)})
    metadata: Document = {"labels": labels}
    if tenant.state == "absent":
        metadata["annotations"] = {"keelson.dev/state": "absent"}
    else:
        # Never pruned nor deleted by the GitOps engine: the namespace holds the team's volumes.
        metadata["annotations"] = platform.protect
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, **metadata}} for namespace in tenant.namespaces]


def _quota(tenant: Tenant, namespace: str) -> Document:
    quota = tenant.quota
    hard = {
        "requests.cpu": quota.cpu,
        "requests.memory": quota.memory,
        "limits.cpu": quota.cpu_limit,
        "limits.memory": quota.memory_limit,
        "requests.nvidia.com/gpu": str(quota.gpu),
        "requests.storage": quota.storage,
        "persistentvolumeclaims": str(quota.pvcs),
        "pods": str(quota.pods),
        "services": str(quota.services),
        "services.loadbalancers": "0",
        "services.nodeports": "0",
        "configmaps": str(quota.configmaps),
        "secrets": str(quota.secrets),
    }
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "tenant-quota", "namespace": namespace},
        "spec": {"hard": hard},
    }


def _limits(namespace: str) -> Document:
    """Defaults for containers that state none (the quota on limits needs every container to have them)."""
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "tenant-defaults", "namespace": namespace},
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                    "default": {"cpu": "500m", "memory": "512Mi"},
                }
            ]
        },
    }


def network_policies(platform: Platform, tenant: Tenant, namespace: str) -> list[Document]:
    """Default-deny both ways, then: DNS, the same namespace, the ingress controller, and what each enabled
    component asks for (Prometheus scraping in, egress to MinIO and Weaviate when the tenant uses them)."""
    policies = [
        network_policy(namespace, "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        network_policy(
            namespace,
            "allow-dns",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [DNS_PEER], "ports": list(DNS_PORTS)}],
            },
        ),
        network_policy(
            namespace,
            "allow-same-namespace",
            {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            },
        ),
        network_policy(
            namespace,
            "allow-from-ingress",
            {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [TRAEFIK_PEER]}],
            },
        ),
    ]
    for unit in platform.units:
        policies += unit.tenant_policies(platform, tenant, namespace)
    return policies


def role_bindings(platform: Platform, tenant: Tenant, namespace: str) -> list[Document]:
    """The tenant's groups (as the API server sees them, with the OIDC prefix) bound here to keelson's tenant
    roles (admin, edit: no writes to quota, limits, network policies or RBAC) and Kubernetes' ``view``, and
    the engine's accounts for the tenant."""
    bindings: list[Document] = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": f"tenant-{role}", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": TENANT_ROLES[role]},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": f"{OIDC_PREFIX}{group}"}],
        }
        for role, group in (("admin", tenant.groups.admin), ("edit", tenant.groups.edit), ("view", tenant.groups.view))
    ]
    return bindings + platform.engine.tenant_bindings(platform, tenant, namespace)


def tenant_files(platform: Platform, sealed: dict[tuple[str, str], dict[str, Any]]) -> dict[str, list[Document]]:
    """Path -> documents, for every tenant's platform folder."""
    files: dict[str, list[Document]] = {}
    by_namespace: dict[str, list[Document]] = {}
    for (namespace, _name), manifest in sorted(sealed.items()):
        by_namespace.setdefault(namespace, []).append(manifest)
    for tenant in platform.spec.tenants:
        base = platform.layout.tenant_keelson(tenant.name)
        files[f"{base}/namespaces.yaml"] = _namespaces(platform, tenant)
        files[f"{base}/quota.yaml"] = [
            document for namespace in tenant.namespaces for document in (_quota(tenant, namespace), _limits(namespace))
        ]
        files[f"{base}/network-policies.yaml"] = [
            policy for namespace in tenant.namespaces for policy in network_policies(platform, tenant, namespace)
        ]
        rbac = [binding for namespace in tenant.namespaces for binding in role_bindings(platform, tenant, namespace)]
        files[f"{base}/rbac.yaml"] = platform.engine.tenant_accounts(platform, tenant) + rbac
        sources = platform.engine.tenant_sources(platform, tenant)
        if sources:
            files[f"{base}/sources.yaml"] = sources
        for unit in platform.units:
            documents = unit.tenant_manifests(platform, tenant)
            if documents:
                files[f"{base}/{unit.name}.yaml"] = documents
        mine = [manifest for namespace in tenant.namespaces for manifest in by_namespace.get(namespace, [])]
        if mine:
            files[f"{base}/sealed-secrets.yaml"] = mine
    return files
