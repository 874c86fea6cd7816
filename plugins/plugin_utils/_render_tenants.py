# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One tenant entry -> everything the team needs, isolated: namespaces (Pod Security restricted), quota,
limits, default-deny network policies with the few allows a workload needs, RBAC for its Keycloak groups,
and its sealed credentials. Namespaces and volumes are protected from automatic pruning, so removing a
tenant from the spec never deletes its data by itself."""

from __future__ import annotations

from typing import Any, Final

from ansible_collections.keelson.platform.plugins.plugin_utils._k3s import kube_minor

PROTECT: Final = {
    "argocd.argoproj.io/sync-options": "Prune=false,Delete=false",
    "kustomize.toolkit.fluxcd.io/prune": "disabled",
}
OIDC_PREFIX: Final = "oidc:"
# With Flux, the account a tenant's own Flux objects run as when they name none (FluxInstance's
# tenantDefaultServiceAccount): admin of that namespace only.
FLUX_RECONCILER: Final = "flux-reconciler"


def pod_security_labels(level: str, k3s_version: str) -> dict[str, str]:
    """A namespace's Pod Security labels: ``level`` enforced, audited and warned, pinned to the cluster's minor."""
    version = kube_minor(k3s_version)
    labels = {}
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = level
        labels[f"pod-security.kubernetes.io/{mode}-version"] = version
    return labels


def _namespaces(spec: dict[str, Any], tenant: dict[str, Any]) -> list[dict[str, Any]]:
    labels = {"keelson.dev/tenant": tenant["name"], **pod_security_labels("restricted", spec["cluster"]["k3s_version"])}
    metadata: dict[str, Any] = {"labels": labels}
    if tenant["state"] == "absent":
        metadata["annotations"] = {"keelson.dev/state": "absent"}
    else:
        # Never pruned nor deleted by the GitOps engine: the namespace holds the team's volumes.
        metadata["annotations"] = PROTECT
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, **metadata}} for namespace in tenant["namespaces"]]


def _quota(tenant: dict[str, Any], namespace: str) -> dict[str, Any]:
    quota = tenant["quota"]
    hard = {
        "requests.cpu": quota["cpu"],
        "requests.memory": quota["memory"],
        "limits.cpu": quota["cpu_limit"],
        "limits.memory": quota["memory_limit"],
        "requests.nvidia.com/gpu": str(quota["gpu"]),
        "requests.storage": quota["storage"],
        "persistentvolumeclaims": str(quota["pvcs"]),
        "pods": str(quota["pods"]),
        "services": str(quota["services"]),
        "services.loadbalancers": "0",
        "services.nodeports": "0",
        "configmaps": str(quota["configmaps"]),
        "secrets": str(quota["secrets"]),
    }
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "tenant-quota", "namespace": namespace},
        "spec": {"hard": hard},
    }


def _limits(namespace: str) -> dict[str, Any]:
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


def _policy(namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def _namespace_selector(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def network_policies(spec: dict[str, Any], tenant: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    """Default-deny both ways, then: DNS, the same namespace, the ingress controller, Prometheus, and egress to
    MinIO and Weaviate when the tenant uses them."""
    components = spec["components"]
    policies = [
        _policy(namespace, "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        _policy(
            namespace,
            "allow-dns",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{**_namespace_selector("kube-system"), "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        ),
        _policy(
            namespace,
            "allow-same-namespace",
            {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            },
        ),
        _policy(
            namespace,
            "allow-from-ingress",
            {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {**_namespace_selector("kube-system"), "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}}}
                        ]
                    }
                ],
            },
        ),
    ]
    if components["monitoring"]["enabled"]:
        policies.append(
            _policy(
                namespace,
                "allow-from-prometheus",
                {
                    "podSelector": {},
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [
                                {
                                    **_namespace_selector("monitoring"),
                                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                                }
                            ]
                        }
                    ],
                },
            )
        )
    if tenant["buckets"] and components["minio"]["enabled"]:
        policies.append(
            _policy(
                namespace,
                "allow-to-minio",
                {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [_namespace_selector("minio")], "ports": [{"protocol": "TCP", "port": 9000}]}],
                },
            )
        )
    if tenant["weaviate"] and components["weaviate"]["enabled"]:
        policies.append(
            _policy(
                namespace,
                "allow-to-weaviate",
                {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [
                        {
                            "to": [_namespace_selector("weaviate")],
                            "ports": [{"protocol": "TCP", "port": 8080}, {"protocol": "TCP", "port": 50051}],
                        }
                    ],
                },
            )
        )
    return policies


def role_bindings(spec: dict[str, Any], tenant: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    """The tenant's groups (as the API server sees them, with the OIDC prefix) bound to admin/edit/view here."""
    bindings = []
    for role in ("admin", "edit", "view"):
        bindings.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": f"tenant-{role}", "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": f"{OIDC_PREFIX}{tenant['groups'][role]}"}],
            }
        )
    if spec["gitops"]["engine"] == "flux":
        # Flux applies the team's folder as tenant-<name> and the team's own Flux objects as flux-reconciler
        # (impersonation): admin here, nowhere else.
        bindings.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "tenant-flux-reconciler", "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
                "subjects": [
                    {"kind": "ServiceAccount", "name": f"tenant-{tenant['name']}", "namespace": "flux-system"},
                    {"kind": "ServiceAccount", "name": FLUX_RECONCILER, "namespace": namespace},
                ],
            }
        )
    return bindings


def tenant_files(spec: dict[str, Any], sealed: dict[tuple[str, str], dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Path (relative to the repository's platform folder) -> documents, for every tenant."""
    files: dict[str, list[dict[str, Any]]] = {}
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for (namespace, _name), manifest in sorted(sealed.items()):
        by_namespace.setdefault(namespace, []).append(manifest)
    for tenant in spec["tenants"]:
        base = f"tenants/{tenant['name']}/keelson"
        files[f"{base}/namespaces.yaml"] = _namespaces(spec, tenant)
        files[f"{base}/quota.yaml"] = [
            document for namespace in tenant["namespaces"] for document in (_quota(tenant, namespace), _limits(namespace))
        ]
        files[f"{base}/network-policies.yaml"] = [
            policy for namespace in tenant["namespaces"] for policy in network_policies(spec, tenant, namespace)
        ]
        rbac = [binding for namespace in tenant["namespaces"] for binding in role_bindings(spec, tenant, namespace)]
        if spec["gitops"]["engine"] == "flux":
            accounts = [
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": f"tenant-{tenant['name']}", "namespace": "flux-system"}}
            ]
            accounts += [
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": FLUX_RECONCILER, "namespace": namespace}}
                for namespace in tenant["namespaces"]
            ]
            rbac = accounts + rbac
        files[f"{base}/rbac.yaml"] = rbac
        mine = [manifest for namespace in tenant["namespaces"] for manifest in by_namespace.get(namespace, [])]
        if mine:
            files[f"{base}/sealed-secrets.yaml"] = mine
    return files
