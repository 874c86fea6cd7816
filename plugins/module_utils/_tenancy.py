# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a tenant's people and accounts may do in its namespaces: keelson's own ClusterRoles, rendered once.

Kubernetes' built-in ``admin`` and ``edit`` let a team rewrite what the platform sets for it (``edit`` writes
NetworkPolicies, ``admin`` also Roles and RoleBindings, through which it could grant itself anything the
platform keeps back), and both are *aggregated*: any chart that labels a ClusterRole
``rbac.authorization.k8s.io/aggregate-to-edit`` widens them. keelson's roles are written out rule by rule,
with no ``aggregationRule`` and no aggregation label, so nothing is pulled into them and they are pulled into
nothing. They leave out every write to the kinds in :data:`PLATFORM_OWNED`; ``view`` stays Kubernetes' own
(it cannot read Secrets). The same table is what the Argo CD tenant AppProject denies.

Pure data: the engines and the renderer import it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, Optional

Document = dict[str, Any]

READ: Final = ("get", "list", "watch")
WRITE: Final = ("create", "delete", "deletecollection", "patch", "update")
# The label every tenant namespace carries, its value the tenant's name (what selectors that admit a tenant's
# namespaces match: Kueue's ClusterQueues, its pod webhook).
TENANT_LABEL: Final = "keelson.dev/tenant"
# The labels of the cluster-wide objects rendered once for every tenant (roles, admission policy).
LABELS: Final = {"app.kubernetes.io/managed-by": "keelson"}
ADMIN: Final = "keelson-tenant-admin"
EDIT: Final = "keelson-tenant-edit"
# The ClusterRole each tenant role is bound to in the tenant's namespaces.
TENANT_ROLES: Final = {"admin": ADMIN, "edit": EDIT, "view": "view"}

# (API group, resource, kind) the platform sets in a tenant's namespaces and the team may read but never write.
PLATFORM_OWNED: Final = (
    ("", "resourcequotas", "ResourceQuota"),
    ("", "limitranges", "LimitRange"),
    ("networking.k8s.io", "networkpolicies", "NetworkPolicy"),
    ("rbac.authorization.k8s.io", "roles", "Role"),
    ("rbac.authorization.k8s.io", "rolebindings", "RoleBinding"),
    # Kueue's LocalQueue: the platform binds each tenant namespace to the tenant's ClusterQueue.
    ("kueue.x-k8s.io", "localqueues", "LocalQueue"),
)

# API groups of which a team writes nothing under either engine: routing and certificates the Ingress policy
# (:func:`ingress_policy`) does not see. Traefik's own routes (k3s' Traefik reads IngressRoutes), the Gateway API,
# and cert-manager's Certificates, which the platform's ClusterIssuer would sign for any host.
ROUTING_GROUPS: Final = ("traefik.io", "traefik.containo.us", "gateway.networking.k8s.io", "cert-manager.io", "acme.cert-manager.io")

# What a team reads and writes: Kubernetes' edit role (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/
# policy.go, aggregate-to-edit) without the platform's kinds, without the deprecated extensions group, and
# without impersonating service accounts.
_WORKLOADS: Final = (
    ("", ("pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy")),
    ("", ("configmaps", "secrets", "services", "services/proxy", "serviceaccounts", "persistentvolumeclaims", "events")),
    ("", ("replicationcontrollers", "replicationcontrollers/scale")),
    ("apps", ("deployments", "deployments/scale", "deployments/rollback", "statefulsets", "statefulsets/scale")),
    ("apps", ("daemonsets", "replicasets", "replicasets/scale")),
    ("autoscaling", ("horizontalpodautoscalers",)),
    ("batch", ("jobs", "cronjobs")),
    ("policy", ("poddisruptionbudgets",)),
    ("networking.k8s.io", ("ingresses",)),
    ("coordination.k8s.io", ("leases",)),
)
# Read only: status, logs, the platform's kinds, and what the namespace's controllers keep.
_READ_ONLY: Final = (
    ("", ("pods/log", "pods/status", "services/status", "persistentvolumeclaims/status", "replicationcontrollers/status")),
    ("", ("endpoints", "limitranges", "resourcequotas", "resourcequotas/status", "namespaces", "namespaces/status", "bindings")),
    ("apps", ("controllerrevisions", "deployments/status", "statefulsets/status", "daemonsets/status", "replicasets/status")),
    ("autoscaling", ("horizontalpodautoscalers/status",)),
    ("batch", ("jobs/status", "cronjobs/status")),
    ("policy", ("poddisruptionbudgets/status",)),
    ("discovery.k8s.io", ("endpointslices",)),
    ("networking.k8s.io", ("networkpolicies", "ingresses/status")),
)


def _rule(group: str, resources: Iterable[str], verbs: Iterable[str]) -> Document:
    return {"apiGroups": [group], "resources": sorted(resources), "verbs": list(verbs)}


def _merged(entries: Iterable[tuple[str, tuple[str, ...]]]) -> list[tuple[str, tuple[str, ...]]]:
    """One entry per API group, resources sorted, groups in first-seen order."""
    merged: dict[str, set[str]] = {}
    for group, resources in entries:
        merged.setdefault(group, set()).update(resources)
    return [(group, tuple(sorted(resources))) for group, resources in merged.items()]


def cluster_roles(extra: Iterable[tuple[str, tuple[str, ...]]], reads: Iterable[tuple[str, tuple[str, ...]]] = ()) -> list[Document]:
    """The tenant roles. ``extra``: (API group, resources) of the platform's custom resources a team writes
    (each unit's ``tenant_resources``: SealedSecrets, a GitOps engine's own objects); ``reads``: those it may
    only read (each unit's ``tenant_reads``: Kueue's queues and workloads)."""
    writes = _merged([*_WORKLOADS, *extra])
    owned = {(group, resource) for group, resource, _kind in PLATFORM_OWNED}
    forbidden = sorted(f"{group}/{resource}" for group, resources in writes for resource in resources if (group, resource) in owned)
    forbidden += sorted(f"{group}/{resource}" for group, resources in writes for resource in resources if group in ROUTING_GROUPS)
    if forbidden:  # a unit's tenant_resources named what the platform keeps for itself
        raise ValueError(f"tenant roles would write platform-owned resources: {', '.join(forbidden)}")
    edit = [
        *(_rule(group, resources, (*READ, *WRITE)) for group, resources in writes),
        *(_rule(group, resources, READ) for group, resources in _merged([*_READ_ONLY, *reads])),
        _rule("", ("serviceaccounts/token",), ("create",)),
        _rule("", ("pods/eviction",), ("create",)),
    ]
    # admin: edit, and reading who may do what here (not changing it).
    admin = [
        *edit,
        _rule("rbac.authorization.k8s.io", ("roles", "rolebindings"), READ),
        _rule("authorization.k8s.io", ("localsubjectaccessreviews",), ("create",)),
    ]
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name, "labels": dict(LABELS)},
            "rules": rules,
        }
        for name, rules in ((ADMIN, admin), (EDIT, edit))
    ]


# The admission policy that keeps a team's Ingresses to hosts that are not the platform's (ValidatingAdmissionPolicy,
# admissionregistration.k8s.io/v1, GA since Kubernetes 1.30). Traefik merges every Ingress of a host into one router
# set and orders routers by the length of their rule, not by namespace: without it, a team's Ingress for
# keycloak.<domain> with a longer path (or a rule with no host, or a wildcard host) would take the platform's
# traffic, with a certificate from the platform issuer (cert-manager's ingress-shim reads the tls hosts).
INGRESS_POLICY: Final = "keelson-tenant-ingress-hosts"


def _cel_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ingress_host_allowed(host: str, reserved: Iterable[str], serving_domain: Optional[str], namespaces: Iterable[str] = ()) -> str:
    """The CEL condition on the expression ``host``: no wildcard, none of the ``reserved`` hosts, and under the
    served models' domain only the namespace's own (``<name>-<namespace>.<serving domain>``, KServe's host). Of
    the tenant ``namespaces``, those whose name ends in ``-<another>`` are listed: ``x-foo-nlp`` ends in ``-nlp``
    but is namespace ``foo-nlp``'s host, not ``nlp``'s."""
    hosts = sorted(set(reserved) | ({serving_domain} if serving_domain else set()))
    condition = [f"!{host}.startsWith('*')", f"!({host} in [{', '.join(_cel_string(item) for item in hosts)}])"]
    if serving_domain:
        suffix = _cel_string("." + serving_domain)
        condition.append(f"(!{host}.endsWith({suffix}) || {host}.endsWith('-' + namespaceObject.metadata.name + {suffix}))")
        names = sorted(set(namespaces))
        longer = [name for name in names if any(name.endswith("-" + other) for other in names if other != name)]
        if longer:
            condition.append(
                f"![{', '.join(_cel_string(name) for name in longer)}].exists(m, m != namespaceObject.metadata.name"
                f" && m.endsWith('-' + namespaceObject.metadata.name) && {host}.endsWith('-' + m + {suffix}))"
            )
    return " && ".join(condition)


def ingress_policy(reserved: Iterable[str], serving_domain: Optional[str], namespaces: Iterable[str] = ()) -> list[Document]:
    """The policy and its binding for every tenant namespace (label :data:`TENANT_LABEL`; ``namespaces``: all of
    them): each rule of an Ingress names a host, no default backend, and every rule and tls host passes
    :func:`ingress_host_allowed`."""
    reserved, namespaces = list(reserved), list(namespaces)
    rule_ok = ingress_host_allowed("r.host", reserved, serving_domain, namespaces)
    tls_ok = ingress_host_allowed("h", reserved, serving_domain, namespaces)
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": INGRESS_POLICY, "labels": dict(LABELS)},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "namespaceSelector": {"matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]},
                "resourceRules": [
                    {
                        "apiGroups": ["networking.k8s.io"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["ingresses"],
                    }
                ],
            },
            "validations": [
                {
                    "expression": "!has(object.spec.defaultBackend)",
                    "message": "an Ingress in a tenant namespace may not have a default backend: it would take requests for every host",
                    "reason": "Forbidden",
                },
                {
                    "expression": f"!has(object.spec.rules) || object.spec.rules.all(r, has(r.host) && {rule_ok})",
                    "message": (
                        "every rule of an Ingress in a tenant namespace names a host that is not the platform's: no wildcard, "
                        "none of the platform's hosts, and under the served models' domain only this namespace's own "
                        "(<name>-<namespace>.<domain>)"
                    ),
                    "reason": "Forbidden",
                },
                {
                    "expression": f"!has(object.spec.tls) || object.spec.tls.all(t, !has(t.hosts) || t.hosts.all(h, {tls_ok}))",
                    "message": (
                        "a tls host of an Ingress in a tenant namespace may not be a wildcard, a platform host or another "
                        "namespace's model host"
                    ),
                    "reason": "Forbidden",
                },
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": INGRESS_POLICY, "labels": dict(LABELS)},
        "spec": {"policyName": INGRESS_POLICY, "validationActions": ["Deny"]},
    }
    return [policy, binding]


def project_blacklist(writes: Iterable[tuple[str, tuple[str, ...]]], reads: Iterable[tuple[str, tuple[str, ...]]]) -> list[Document]:
    """A tenant's Argo CD AppProject ``namespaceResourceBlacklist``: Argo CD applies with its own rights, so the
    project is what keeps out of a team's Applications what its roles do not let it write: the
    :data:`PLATFORM_OWNED` kinds, every kind of a group the team may only read (``reads`` without ``writes``: the
    units' ``tenant_reads`` and ``tenant_resources``), and every kind of :data:`ROUTING_GROUPS`."""
    written = {group for group, _resources in [*_WORKLOADS, *writes]}
    read_only = sorted({group for group, _resources in reads} - written)
    return [
        *({"group": group, "kind": kind} for group, _resource, kind in PLATFORM_OWNED),
        *({"group": group, "kind": "*"} for group in [*read_only, *ROUTING_GROUPS]),
    ]
