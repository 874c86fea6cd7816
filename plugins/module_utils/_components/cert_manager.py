# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""cert-manager: TLS for every ingress, from the platform CA keelson generates (sealed) or ACME."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils._components._unit import (
    CERTIFICATE,
    CLUSTER_ISSUER,
    INGRESS_CLASS,
    PLATFORM_CA,
    PRIVATE_KEY,
    RESTRICTED,
    Credential,
    Document,
    Network,
    Target,
    Unit,
    enabled_field,
)
from ansible_collections.keelson.platform.plugins.module_utils._formats import check_https_url
from ansible_collections.keelson.platform.plugins.module_utils._schema import DERIVED, Enum, Nullable, Str, spec_field

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

LETS_ENCRYPT: Final = "https://acme-v02.api.letsencrypt.org/directory"
# The CA issuer's key pair, sealed from the platform-ca credential (not the Secret an in-cluster Certificate
# wrote before keelson generated the CA itself: the sealed-secrets controller never takes over a Secret it
# did not create).
CA_KEY_PAIR: Final = "keelson-platform-ca-key-pair"
_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _check_email(value: str) -> Optional[str]:
    return None if _EMAIL.match(value) else "not an email address"


@dataclasses.dataclass(frozen=True)
class CertManagerSettings:
    enabled: bool = enabled_field()
    issuer: str = spec_field(
        Enum("selfsigned", "acme"),
        "Issuer of every ingress certificate: a self-signed platform CA, or ACME.",
        default="selfsigned",
    )
    acme_email: Optional[str] = spec_field(
        Nullable(Str(_check_email, type_doc="email")), "ACME account email; required with issuer `acme`.", default=None
    )
    acme_server: Optional[str] = spec_field(
        Nullable(Str(check_https_url, type_doc="URL")),
        "ACME directory URL; only with issuer `acme`.",
        default=DERIVED,
        default_doc="Let's Encrypt production with issuer `acme`, else `null`",
    )


class CertManager(Unit[CertManagerSettings]):
    name = "cert-manager"
    catalog = "cert_manager"
    namespace = "cert-manager"
    pod_security = RESTRICTED
    settings_type = CertManagerSettings
    settings_path = ("components", "cert_manager")
    doc = "cert-manager: TLS for every ingress."
    server_side_apply = True
    crd_groups = ("cert-manager.io", "acme.cert-manager.io")
    depends_on = ("sealed-secrets",)
    holds_secrets = True  # the platform CA's key pair, with issuer selfsigned

    def dependencies(self, platform: Platform) -> tuple[str, ...]:
        # The CA issuer reads its key pair from a SealedSecret; an ACME issuer needs nothing first.
        return self.depends_on if self.private_ca(platform) else ()

    def values(self, platform: Platform) -> Document:
        return {"crds": {"enabled": True}}

    def private_ca(self, platform: Platform) -> bool:
        """Whether ingress certificates come from the platform's own CA (which its consumers must be told of)."""
        return self.settings(platform).issuer == "selfsigned"

    def credentials(self, platform: Platform) -> list[Credential]:
        if not self.private_ca(platform):
            return []
        # Generated once by keelson so its certificate is known before the cluster exists: rendered into every
        # OIDC consumer's configuration and written to the k3s servers (the API server's oidc-ca-file).
        targets = (
            Target(self.namespace, CA_KEY_PAIR, "tls.crt", part=CERTIFICATE),
            Target(self.namespace, CA_KEY_PAIR, "tls.key", part=PRIVATE_KEY),
            *(target for unit in platform.units for target in unit.ca_secrets(platform)),
        )
        return [Credential(PLATFORM_CA, PLATFORM_CA, 0, "the platform CA that signs every ingress certificate", targets)]

    def manifests(self, platform: Platform) -> list[Document]:
        settings = self.settings(platform)
        if settings.issuer == "acme":
            return [
                {
                    "apiVersion": "cert-manager.io/v1",
                    "kind": "ClusterIssuer",
                    "metadata": {"name": CLUSTER_ISSUER},
                    "spec": {
                        "acme": {
                            "email": settings.acme_email,
                            "server": settings.acme_server,
                            "privateKeySecretRef": {"name": f"{CLUSTER_ISSUER}-account"},
                            "solvers": [{"http01": {"ingress": {"ingressClassName": INGRESS_CLASS}}}],
                        }
                    },
                }
            ]
        # The platform CA keelson generated (sealed beside this issuer): every ingress certificate comes from it.
        return [
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "ClusterIssuer",
                "metadata": {"name": CLUSTER_ISSUER},
                "spec": {"ca": {"secretName": CA_KEY_PAIR}},
            },
        ]

    def network(self, platform: Platform) -> Network:
        # ACME: the CA's directory and the HTTP-01 self-check through the ingress' public address. The webhook
        # listens on the chart's webhook.securePort, 10250 (cert-manager values.yaml).
        return Network(api=True, anywhere=self.settings(platform).issuer == "acme", webhooks=(10250,))

    def chart_pods(self, values: Document) -> Optional[list[tuple[str, Document]]]:
        # cert-manager chart v1.21.1 (cert-manager/cert-manager tag v1.21.1, deploy/charts/cert-manager/templates),
        # each pod: securityContext = <component>.securityContext ("with", only when set), one container with
        # <component>.containerSecurityContext, containerPorts only (no hostPort), volumes the config ConfigMap
        # (when <component>.config is set) and <component>.volumes as given.
        # - deployment.yaml (always): pod lines 72-75, volumes lines 76-86, container "cert-manager-controller"
        #   lines 87-88 with containerSecurityContext lines 165-168, extraContainers lines 221-223;
        # - webhook-deployment.yaml (always): pod lines 72-75, hostNetwork with webhook.hostNetwork lines 76-78,
        #   container lines 82-83 with its context lines 169-172, volumes lines 220-229;
        # - cainjector-deployment.yaml (cainjector.enabled, line 1): pod lines 73-76, container lines 77-78 with
        #   its context lines 124-127, volumes lines 167-176;
        # - startupapicheck-job.yaml (startupapicheck.enabled, line 1): pod lines 50-53, container lines 58-59
        #   with its context lines 69-72, volumes = startupapicheck.volumes lines 110-112.
        def pod(component: Document, container: str, config: bool = True) -> Document:
            volumes = [{"name": "config", "configMap": {"name": container}}] if config and component.get("config") else []
            spec: Document = {
                "securityContext": dict(component.get("securityContext") or {}),
                "containers": [{"name": container, "securityContext": dict(component.get("containerSecurityContext") or {})}],
                "volumes": [*volumes, *(component.get("volumes") or [])],
            }
            return spec

        controller = pod(values, "cert-manager-controller")
        controller["containers"] += list(values.get("extraContainers") or [])
        pods = [("Deployment cert-manager", controller)]
        webhook = dict(values.get("webhook") or {})
        webhook_pod = pod(webhook, "cert-manager-webhook")
        if webhook.get("hostNetwork"):
            webhook_pod["hostNetwork"] = True
        pods.append(("Deployment cert-manager-webhook", webhook_pod))
        cainjector = dict(values.get("cainjector") or {})
        if cainjector.get("enabled"):
            pods.append(("Deployment cert-manager-cainjector", pod(cainjector, "cert-manager-cainjector")))
        check = dict(values.get("startupapicheck") or {})
        if check.get("enabled"):
            pods.append(("Job cert-manager-startupapicheck", pod(check, "cert-manager-startupapicheck", config=False)))
        return pods


UNIT = CertManager()
