# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Weaviate: the vector database, with an API key per tenant, OIDC for people, and backups to MinIO."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils._components._unit import (
    BASELINE,
    Bucket,
    Credential,
    Document,
    HostClaim,
    Network,
    OidcClient,
    Target,
    Unit,
    enabled_field,
    host_field,
    ingress,
    quantity_field,
)
from ansible_collections.keelson.platform.plugins.module_utils._formats import check_s3_bucket
from ansible_collections.keelson.platform.plugins.module_utils._schema import DERIVED, Int, Nullable, Str, spec_field

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.module_utils._spec_model import Tenant
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

HOST: Final = HostClaim("host", "weaviate", "the Weaviate API")
BACKUP_USER: Final = "weaviate-backup"  # its MinIO user, which is also its S3 access key
BACKUP_SECRET: Final = "weaviate-backup-s3"  # what the chart's backups.s3.envSecrets read
BACKUP_USER_SECRET: Final = "weaviate-backup-user"  # in MinIO's namespace, for the chart's users list
API_KEYS_SECRET: Final = "weaviate-api-keys"


@dataclasses.dataclass(frozen=True)
class WeaviateSettings:
    enabled: bool = enabled_field()
    storage: str = quantity_field("Volume size per Weaviate replica.", "32Gi")
    replicas: int = spec_field(Int(minimum=1), "Weaviate replicas.", default=1)
    host: Optional[str] = host_field(HOST)
    backup_bucket: Optional[str] = spec_field(
        Nullable(Str(check_s3_bucket, type_doc="S3 bucket")),
        "MinIO bucket for Weaviate backups (needs MinIO); `null` turns backups off.",
        default=DERIVED,
        default_doc="`weaviate-backups` when MinIO is enabled, else `null`",
    )


class Weaviate(Unit[WeaviateSettings]):
    name = "weaviate"
    catalog = "weaviate"
    namespace = "weaviate"
    pod_security = BASELINE
    settings_type = WeaviateSettings
    settings_path = ("components", "weaviate")
    doc = "Weaviate vector database."
    hosts = (HOST,)
    holds_secrets = True

    depends_on = ("sealed-secrets", "minio")

    def dependencies(self, platform: Platform) -> tuple[str, ...]:
        # Its backups go to MinIO; without them it needs only its sealed API keys.
        return ("minio",) if self._backups(platform) else ("sealed-secrets",)

    def _backups(self, platform: Platform) -> Optional[str]:
        bucket = self.settings(platform).backup_bucket
        return bucket if bucket and platform.enabled("minio") else None

    def _users(self, platform: Platform) -> list[Tenant]:
        return [tenant for tenant in platform.spec.tenants if tenant.weaviate]

    def values(self, platform: Platform) -> Document:
        settings = self.settings(platform)
        users = [tenant.name for tenant in self._users(platform)]
        env: dict[str, Any] = {"AUTHENTICATION_APIKEY_ENABLED": "true"}
        env_secrets: dict[str, str] = {}
        if users:
            env["AUTHENTICATION_APIKEY_USERS"] = ",".join(users)
            env_secrets["AUTHENTICATION_APIKEY_ALLOWED_KEYS"] = API_KEYS_SECRET
        values: Document = {
            "replicas": settings.replicas,
            "storage": {"size": settings.storage},
            "authentication": {"anonymous_access": {"enabled": False}},
            "env": env,
            "envSecrets": env_secrets,
        }
        bucket = self._backups(platform)
        if bucket:
            minio = platform.unit("minio").namespace
            values["backups"] = {
                "s3": {
                    "enabled": True,
                    "envconfig": {
                        "BACKUP_S3_BUCKET": bucket,
                        "BACKUP_S3_ENDPOINT": f"minio.{minio}.svc.cluster.local:9000",
                        "BACKUP_S3_USE_SSL": "false",
                    },
                    "envSecrets": {"AWS_ACCESS_KEY_ID": BACKUP_SECRET, "AWS_SECRET_ACCESS_KEY": BACKUP_SECRET},
                }
            }
        issuer = platform.issuer_url
        if issuer:
            # People and tools with a Keycloak token; the tenants' services use their API keys.
            values["authentication"]["oidc"] = {
                "enabled": True,
                "issuer": issuer,
                "username_claim": "preferred_username",
                "groups_claim": "groups",
                "client_id": "weaviate",
            }
            if platform.ca_certificate:
                # Weaviate verifies the issuer against this PEM (its AUTHENTICATION_OIDC_CERTIFICATE setting); the
                # chart passes env values as quoted strings (weaviate chart 17.8.3 templates/weaviateStatefulset.yaml).
                env["AUTHENTICATION_OIDC_CERTIFICATE"] = platform.ca_certificate
        return values

    def manifests(self, platform: Platform) -> list[Document]:
        return [ingress("weaviate", self.namespace, self.host(platform, HOST.field), "weaviate", 80)]

    def buckets(self, platform: Platform) -> list[Bucket]:
        bucket = self._backups(platform)
        return [Bucket(bucket, BACKUP_USER, BACKUP_USER_SECRET)] if bucket else []

    def credentials(self, platform: Platform) -> list[Credential]:
        if not self._backups(platform):
            return []
        minio = platform.unit("minio").namespace
        return [
            Credential(
                "weaviate-backup-s3-secret-key",
                "alnum",
                40,
                "S3 secret key Weaviate backs up with",
                (Target(self.namespace, BACKUP_SECRET, "AWS_SECRET_ACCESS_KEY"), Target(minio, BACKUP_USER_SECRET, "secretKey")),
            )
        ]

    def tenant_credentials(self, platform: Platform, tenant: Tenant) -> list[Credential]:
        if not tenant.weaviate:
            return []
        return [
            Credential(
                f"tenant-{tenant.name}-weaviate-key",
                "urlsafe",
                40,
                f"Weaviate API key of tenant {tenant.name}",
                (
                    Target(tenant.namespaces[0], "weaviate-api-key", "api-key"),
                    Target(self.namespace, API_KEYS_SECRET, "AUTHENTICATION_APIKEY_ALLOWED_KEYS", join=True),
                ),
            )
        ]

    def plain(self, platform: Platform) -> dict[tuple[str, str], dict[str, str]]:
        return {(self.namespace, BACKUP_SECRET): {"AWS_ACCESS_KEY_ID": BACKUP_USER}}

    def oidc_client(self, platform: Platform) -> Optional[OidcClient]:
        return OidcClient("weaviate", (f"https://{self.host(platform, HOST.field)}/*",))

    def used_by(self, tenant: Tenant) -> bool:
        return tenant.weaviate

    def network(self, platform: Platform) -> Network:
        # HTTP and gRPC for tenants; its backups go to MinIO's S3 API.
        return Network(to=(("minio", (9000,)),) if self._backups(platform) else (), tenant_ports=(8080, 50051))


UNIT = Weaviate()
