# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""CloudNativePG: the operator that runs the platform's PostgreSQL clusters (Keycloak's; MLflow's next). The
components that need a database render their own ``Cluster`` in their namespace; this unit installs the
operator and its CRDs."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Optional

from ansible_collections.keelson.platform.plugins.module_utils._components._unit import RESTRICTED, Document, Network, Unit, enabled_field

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

# Where the operator reaches each PostgreSQL instance's manager (status and backups), in the user's namespace.
INSTANCE_STATUS_PORT = 8000


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
