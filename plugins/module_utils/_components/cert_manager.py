# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""cert-manager: TLS for every ingress, from a self-signed platform CA or ACME."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils._components._unit import (
    CLUSTER_ISSUER,
    INGRESS_CLASS,
    RESTRICTED,
    Document,
    Network,
    Unit,
    enabled_field,
)
from ansible_collections.keelson.platform.plugins.module_utils._formats import check_https_url
from ansible_collections.keelson.platform.plugins.module_utils._schema import DERIVED, Enum, Nullable, Str, spec_field

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

LETS_ENCRYPT: Final = "https://acme-v02.api.letsencrypt.org/directory"
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

    def values(self, platform: Platform) -> Document:
        return {"crds": {"enabled": True}}

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
        # A self-signed root, a CA certificate from it, and the issuer every ingress uses.
        return [
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "ClusterIssuer",
                "metadata": {"name": "keelson-selfsigned"},
                "spec": {"selfSigned": {}},
            },
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "Certificate",
                "metadata": {"name": CLUSTER_ISSUER, "namespace": self.namespace},
                "spec": {
                    "isCA": True,
                    "commonName": f"{platform.spec.name} platform CA",
                    "secretName": CLUSTER_ISSUER,
                    "duration": "87600h",
                    "privateKey": {"algorithm": "ECDSA", "size": 256},
                    "issuerRef": {"name": "keelson-selfsigned", "kind": "ClusterIssuer", "group": "cert-manager.io"},
                },
            },
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "ClusterIssuer",
                "metadata": {"name": CLUSTER_ISSUER},
                "spec": {"ca": {"secretName": CLUSTER_ISSUER}},
            },
        ]

    def network(self, platform: Platform) -> Network:
        # ACME: the CA's directory and the HTTP-01 self-check through the ingress' public address. The webhook
        # listens on the chart's webhook.securePort, 10250 (cert-manager values.yaml).
        return Network(api=True, anywhere=self.settings(platform).issuer == "acme", webhooks=(10250,))


UNIT = CertManager()
