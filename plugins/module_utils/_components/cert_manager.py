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


UNIT = CertManager()
