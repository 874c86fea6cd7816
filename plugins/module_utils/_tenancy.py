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
from typing import Any, Final

Document = dict[str, Any]

READ: Final = ("get", "list", "watch")
WRITE: Final = ("create", "delete", "deletecollection", "patch", "update")
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
)

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
    (each unit's ``tenant_resources``: SealedSecrets, a GitOps engine's own objects); ``reads``: those it only
    reads (each unit's ``tenant_reads``: what keelson renders from the team's folder, such as InferenceServices)."""
    writes = _merged([*_WORKLOADS, *extra])
    owned = {(group, resource) for group, resource, _kind in PLATFORM_OWNED}
    forbidden = sorted(f"{group}/{resource}" for group, resources in writes for resource in resources if (group, resource) in owned)
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
            "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "keelson"}},
            "rules": rules,
        }
        for name, rules in ((ADMIN, admin), (EDIT, edit))
    ]
