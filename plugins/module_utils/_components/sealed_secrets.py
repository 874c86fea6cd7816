# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sealed Secrets: the controller that decrypts every SealedSecret in the tree (keelson holds its keys)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Optional

from ansible_collections.keelson.platform.plugins.module_utils._components._unit import RESTRICTED, Document, Network, Unit, without
from ansible_collections.keelson.platform.plugins.module_utils._schema import Bool, spec_field

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform


@dataclasses.dataclass(frozen=True)
class SealedSecretsSettings:
    enabled: bool = spec_field(
        Bool(), "Install the Sealed Secrets controller (needed by every component that holds a secret).", default=True
    )


class SealedSecrets(Unit[SealedSecretsSettings]):
    name = "sealed-secrets"
    catalog = "sealed_secrets"
    namespace = "sealed-secrets"
    pod_security = RESTRICTED
    settings_type = SealedSecretsSettings
    settings_path = ("components", "sealed_secrets")
    doc = "Sealed Secrets controller."
    crd_groups = ("bitnami.com",)
    # Teams seal their own Secrets for their namespaces (kubeseal with the platform's certificate).
    tenant_resources = (("bitnami.com", ("sealedsecrets",)),)

    def values(self, platform: Platform) -> Document:
        return {
            "fullnameOverride": "sealed-secrets-controller",
            # keelson owns the keys (backed up, rotated on purpose): no silent rotation by the controller.
            "keyrenewperiod": "0",
            # Pod Security "restricted" (its namespace): the chart's defaults set neither a seccomp profile nor
            # allowPrivilegeEscalation. helm/sealed-secrets/templates/deployment.yaml (helm-v2.18.5) renders
            # podSecurityContext minus "enabled" at line 54 and containerSecurityContext minus "enabled" at line
            # 225; the chart's own runAsNonRoot, runAsUser 1001 and capabilities drop ALL stay as they are.
            "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containerSecurityContext": {"allowPrivilegeEscalation": False},
        }

    def network(self, platform: Platform) -> Network:
        return Network(api=True)  # watches SealedSecrets, writes Secrets

    def chart_pods(self, values: Document) -> Optional[list[tuple[str, Document]]]:
        # helm/sealed-secrets/templates/deployment.yaml (helm-v2.18.5): one Deployment (line 1, createController),
        # pod securityContext = podSecurityContext minus "enabled" (lines 53-55), hostNetwork (lines 57-59), one
        # container "controller" with containerSecurityContext minus "enabled" (lines 224-226), host ports only
        # with hostNetwork or hostPorts (lines 185-197), volumes: an emptyDir for /tmp (line 233 on).
        if not values.get("createController", True):
            return []
        pod, container = values.get("podSecurityContext") or {}, values.get("containerSecurityContext") or {}
        host_ports = values["containerPorts"] if values.get("hostNetwork") else (values.get("hostPorts") or {})
        ports = [{"name": name, "hostPort": host_ports.get(name)} for name in ("http", "metrics")]
        controller: Document = {"name": "controller", "ports": [port for port in ports if port["hostPort"]]}
        if container.get("enabled"):
            controller["securityContext"] = without(container, "enabled")
        spec: Document = {"containers": [controller], "volumes": [{"name": "tmp", "emptyDir": {}}]}
        if pod.get("enabled"):
            spec["securityContext"] = without(pod, "enabled")
        if values.get("hostNetwork"):
            spec["hostNetwork"] = True
        return [(f"Deployment {values.get('fullnameOverride') or self.name}", spec)]


UNIT = SealedSecrets()
