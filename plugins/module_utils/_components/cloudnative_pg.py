# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""CloudNativePG: the operator that runs the platform's PostgreSQL clusters (Keycloak's; MLflow's next). The
components that need a database render their own ``Cluster`` in their namespace; this unit installs the
operator and its CRDs."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Optional, Protocol

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import RESTRICTED, Document, Network, Unit, enabled_field

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

# Where the operator reaches each PostgreSQL instance's manager (status and backups), in the user's namespace.
INSTANCE_STATUS_PORT = 8000

# The spec's `database.instances` of every component on a CloudNativePG cluster.
INSTANCES_DOC = (
    "PostgreSQL instances (CloudNativePG): a primary and streaming replicas; 3 survive a node loss. One instance has"
    " no PodDisruptionBudget, so a drain of its node (upgrade.yml) stops the database until the node is back, and its"
    " node holds its only copy (remove_node.yml)."
)


class DatabaseSize(Protocol):
    """What a component's database settings say of its size."""

    @property
    def instances(self) -> int: ...

    @property
    def storage(self) -> str: ...


def database_cluster(name: str, namespace: str, size: DatabaseSize, database: str, owner: str) -> Document:
    """A component's PostgreSQL: a CloudNativePG ``Cluster`` of ``size.instances`` on the catalog's image, whose
    bootstrap makes ``database`` owned by ``owner`` (the operator writes the owner's credentials to
    ``<name>-app``).

    One instance gets no PodDisruptionBudget (``enablePDB: false``): the operator's primary budget
    (minAvailable 1, cloudnative-pg v1.30.0 pkg/specs/poddisruptionbudget.go, created unless enablePDB is false,
    internal/controller/cluster_create.go) would refuse every eviction of the only pod, so draining its node
    (upgrade.yml, remove_node.yml) could never finish; the operator's docs say the same of single-instance
    clusters (docs/src/kubernetes_upgrade.md). Without it the drain evicts the pod and the database is down until
    the node is back (its volume is on that node). With replicas the budgets stay: the operator switches the
    primary over when its node is drained."""
    spec: Document = {
        "instances": size.instances,
        "imageName": CATALOG["components"]["cloudnative_pg"]["images"]["postgres"],
        "storage": {"size": size.storage},
        "bootstrap": {"initdb": {"database": database, "owner": owner}},
    }
    if size.instances == 1:
        spec["enablePDB"] = False
    return {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


@dataclasses.dataclass(frozen=True)
class CloudNativePGSettings:
    enabled: bool = enabled_field()


class CloudNativePG(Unit[CloudNativePGSettings]):
    name = "cloudnative-pg"
    catalog = "cloudnative_pg"
    namespace = "cnpg-system"
    # The chart's defaults already meet restricted (cloudnative-pg chart 0.29.0 templates/deployment.yaml puts
    # values.yaml's podSecurityContext, runAsNonRoot with a RuntimeDefault seccomp profile, on the pod, and its
    # containerSecurityContext, no privilege escalation, every capability dropped, read-only root, on the
    # container; no host namespaces unless hostNetwork is set). Its Postgres pods run in each user's namespace.
    pod_security = RESTRICTED
    settings_type = CloudNativePGSettings
    settings_path = ("components", "cloudnative_pg")
    doc = "CloudNativePG operator: PostgreSQL clusters (Keycloak's database)."
    server_side_apply = True  # its CRDs are too large for client-side apply's annotation
    crd_groups = ("postgresql.cnpg.io",)
    # No values: the chart installs its CRDs (crds.create: true) and watches every namespace by default.

    def chart_pods(self, values: Document) -> Optional[list[tuple[str, Document]]]:
        # charts/cloudnative-pg/templates/deployment.yaml: one Deployment, hostNetwork only when set, the container
        # "manager" with securityContext = containerSecurityContext, the pod's = podSecurityContext, volumes an
        # emptyDir and the webhook certificate Secret; no host ports (containerPort 8080 and webhook.port only).
        spec: Document = {
            "containers": [{"name": "manager", "securityContext": dict(values.get("containerSecurityContext") or {})}],
            "securityContext": dict(values.get("podSecurityContext") or {}),
            "volumes": [
                {"name": "scratch-data", "emptyDir": {}},
                {"name": "webhook-certificates", "secret": {"secretName": "cnpg-webhook-cert"}},
            ],
        }
        if values.get("hostNetwork"):
            spec["hostNetwork"] = True
        return [(f"Deployment {self.name}", spec)]

    def network(self, platform: Platform) -> Network:
        # The operator watches the API server, serves its admission webhook on the chart's webhook.port (9443,
        # values.yaml), and calls the instance manager of every cluster it runs, in the namespaces of the
        # components that depend on it.
        users = tuple((unit.name, (INSTANCE_STATUS_PORT,)) for unit in platform.units if self.name in platform.dependencies(unit))
        return Network(api=True, webhooks=(9443,), to=users)


UNIT = CloudNativePG()
