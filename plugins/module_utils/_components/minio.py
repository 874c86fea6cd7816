# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""MinIO: object storage, with per-tenant buckets, policies and users, and OIDC groups mapped to policies."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils._components._unit import (
    BASELINE,
    CA_SECRET,
    Credential,
    Document,
    HostClaim,
    Network,
    OidcClient,
    Target,
    Unit,
    ca_secret,
    chart_ingress,
    enabled_field,
    host_field,
    quantity_field,
    s3_user,
)
from ansible_collections.keelson.platform.plugins.module_utils._schema import Int, spec_field

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.module_utils._spec_model import Tenant
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

HOST: Final = HostClaim("host", "minio", "the S3 API")
CONSOLE_HOST: Final = HostClaim("console_host", "minio-console", "the MinIO console")
ROOT_SECRET: Final = "minio-root"
OIDC_SECRET: Final = Target("minio", "minio-oidc", "clientSecret")
TENANT_SECRET: Final = "s3-credentials"  # in the tenant's first namespace: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
# MinIO maps an OIDC group to the policy of the same name, in the one name space of policies. keelson's
# service users' policies carry this prefix and no group may (validation), so a group can never take a
# service user's policy; nor may a group be named like one of MinIO's built-in policies.
USER_POLICY_PREFIX: Final = "user-"
BUILTIN_POLICIES: Final = ("consoleAdmin", "readwrite", "readonly", "writeonly", "diagnostics")


def user_policy(user: str) -> str:
    """The policy of a MinIO service user (a tenant's, Weaviate's backup user)."""
    return f"{USER_POLICY_PREFIX}{user}"


@dataclasses.dataclass(frozen=True)
class MinIOSettings:
    enabled: bool = enabled_field()
    storage: str = quantity_field("Volume size per MinIO server.", "100Gi", "1Ti")
    replicas: int = spec_field(Int(minimum=1), "MinIO servers: 1 (standalone) or at least 4 (distributed, erasure coded).", default=1)
    host: Optional[str] = host_field(HOST)
    console_host: Optional[str] = host_field(CONSOLE_HOST)


def _bucket_resources(buckets: list[str]) -> list[str]:
    return [f"arn:aws:s3:::{bucket}{suffix}" for bucket in buckets for suffix in ("", "/*")]


def _user_secret(tenant: str) -> str:
    return f"tenant-{tenant}-user"


class MinIO(Unit[MinIOSettings]):
    name = "minio"
    catalog = "minio"
    namespace = "minio"
    pod_security = BASELINE
    depends_on = ("sealed-secrets", "cert-manager")
    settings_type = MinIOSettings
    settings_path = ("components", "minio")
    doc = "MinIO object storage (tenant buckets)."
    hosts = (HOST, CONSOLE_HOST)
    holds_secrets = True

    def values(self, platform: Platform) -> Document:
        settings = self.settings(platform)
        tenants = [tenant for tenant in platform.spec.tenants if tenant.buckets]
        buckets = [{"name": bucket, "policy": "none", "purge": False} for tenant in tenants for bucket in tenant.buckets]
        policies = [
            {
                "name": user_policy(s3_user(tenant.name)),
                "statements": [{"resources": _bucket_resources(tenant.buckets), "actions": ["s3:*"]}],
            }
            for tenant in tenants
        ]
        users = [
            {
                "accessKey": s3_user(tenant.name),
                "existingSecret": _user_secret(tenant.name),
                "existingSecretKey": "secretKey",
                "policy": user_policy(s3_user(tenant.name)),
            }
            for tenant in tenants
        ]
        issuer = platform.issuer_url
        if issuer:
            # People log in to the console through Keycloak; MinIO maps their groups claim to policies of the
            # same names: platform admins administer MinIO, a tenant's admin and edit groups read and write its
            # buckets, its view group reads them. Service users' policies are prefixed (USER_POLICY_PREFIX).
            policies.append(
                {
                    "name": platform.spec.identity.admins_group,
                    "statements": [{"resources": ["arn:aws:s3:::*"], "actions": ["s3:*"]}, {"actions": ["admin:*"]}],
                }
            )
            for tenant in tenants:
                resources = _bucket_resources(tenant.buckets)
                for group in (tenant.groups.admin, tenant.groups.edit):
                    policies.append({"name": group, "statements": [{"resources": resources, "actions": ["s3:*"]}]})
                policies.append(
                    {
                        "name": tenant.groups.view,
                        "statements": [{"resources": resources, "actions": ["s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject"]}],
                    }
                )
        for unit in platform.units:  # buckets other components write to, each with its own user
            for wanted in unit.buckets(platform):
                buckets.append({"name": wanted.name, "policy": "none", "purge": False})
                policy = user_policy(wanted.user)
                policies.append({"name": policy, "statements": [{"resources": _bucket_resources([wanted.name]), "actions": ["s3:*"]}]})
                users.append(
                    {"accessKey": wanted.user, "existingSecret": wanted.user_secret, "existingSecretKey": "secretKey", "policy": policy}
                )
        values: Document = {
            "replicas": settings.replicas,
            "existingSecret": ROOT_SECRET,
            "persistence": {"size": settings.storage},
            # The chart asks for 16Gi of memory by default; a small platform cannot give that.
            "resources": {"requests": {"memory": "1Gi"}},
            "ingress": chart_ingress(self.host(platform, HOST.field), "minio-tls"),
            "consoleIngress": chart_ingress(self.host(platform, CONSOLE_HOST.field), "minio-console-tls"),
            "buckets": buckets,
            "policies": policies,
            "users": users,
        }
        if settings.replicas == 1:
            values["mode"] = "standalone"  # the chart's default is distributed
        if issuer:
            values["oidc"] = {
                "enabled": True,
                "configUrl": f"{issuer}/.well-known/openid-configuration",
                "existingClientSecretName": OIDC_SECRET.secret,
                "existingClientSecretKey": OIDC_SECRET.key,
                "claimName": "groups",
                "redirectUri": f"https://{self.host(platform, CONSOLE_HOST.field)}/oauth_callback",
            }
            if platform.ca_certificate:
                # MinIO fetches configUrl over TLS: the chart mounts this Secret at certsPath/CAs, the folder of
                # certificates MinIO trusts (minio chart 5.4.0 templates/_helpers.tpl, minio.tlsKeysVolume).
                values["trustedCertsSecret"] = CA_SECRET
        return values

    def credentials(self, platform: Platform) -> list[Credential]:
        return [
            Credential(
                "minio-root-password", "alnum", 40, "MinIO root user's password", (Target(self.namespace, ROOT_SECRET, "rootPassword"),)
            )
        ]

    def tenant_credentials(self, platform: Platform, tenant: Tenant) -> list[Credential]:
        if not tenant.buckets:
            return []
        # The access key is the tenant's MinIO user name (not secret); the secret key is generated.
        return [
            Credential(
                f"tenant-{tenant.name}-s3-secret-key",
                "alnum",
                40,
                f"S3 secret key of tenant {tenant.name}",
                (
                    Target(tenant.namespaces[0], TENANT_SECRET, "AWS_SECRET_ACCESS_KEY"),
                    Target(self.namespace, _user_secret(tenant.name), "secretKey"),
                ),
            )
        ]

    def plain(self, platform: Platform) -> dict[tuple[str, str], dict[str, str]]:
        plain = {(self.namespace, ROOT_SECRET): {"rootUser": "keelson-root"}}
        for tenant in platform.spec.tenants:
            plain[(tenant.namespaces[0], TENANT_SECRET)] = {"AWS_ACCESS_KEY_ID": s3_user(tenant.name)}
        return plain

    def ca_secrets(self, platform: Platform) -> tuple[Target, ...]:
        return (ca_secret(self.namespace),) if platform.issuer_url else ()

    def oidc_client(self, platform: Platform) -> Optional[OidcClient]:
        return OidcClient("minio", (f"https://{self.host(platform, CONSOLE_HOST.field)}/oauth_callback",), OIDC_SECRET)

    def used_by(self, tenant: Tenant) -> bool:
        return bool(tenant.buckets)

    def network(self, platform: Platform) -> Network:
        return Network(tenant_ports=(9000,))  # the S3 API; the console (9001) only through the ingress


UNIT = MinIO()
