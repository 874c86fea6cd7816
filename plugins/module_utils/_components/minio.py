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
    CERTIFICATE,
    Bucket,
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
    without,
)
from ansible_collections.keelson.platform.plugins.module_utils._schema import Int, spec_field

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.module_utils._spec_model import Tenant
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

HOST: Final = HostClaim("host", "minio", "the S3 API")
CONSOLE_HOST: Final = HostClaim("console_host", "minio-console", "the MinIO console")
ROOT_SECRET: Final = "minio-root"
OIDC_SECRET: Final = Target("minio", "minio-oidc", "clientSecret")
S3_PORT: Final = 9000  # the S3 API of the chart's Service "minio" (values.yaml service.port)


def s3_address(namespace: str) -> str:
    """host:port of the platform's S3 API inside the cluster (plain HTTP: TLS ends at Traefik for the ingress)."""
    return f"minio.{namespace}.svc.cluster.local:{S3_PORT}"


TENANT_SECRET: Final = "s3-credentials"  # in the tenant's first namespace: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
# MinIO maps an OIDC group to the policy of the same name, in the one name space of policies. keelson's
# service users' policies carry this prefix and no group may (validation), so a group can never take a
# service user's policy; nor may a group be named like one of MinIO's built-in policies.
USER_POLICY_PREFIX: Final = "user-"
BUILTIN_POLICIES: Final = ("consoleAdmin", "readwrite", "readonly", "writeonly", "diagnostics")


# k3s' etcd snapshots in the platform's MinIO (cluster.etcd_snapshots.minio_bucket): k3s reads where and how from
# this Secret in kube-system (its --etcd-s3-config-secret, k3s docs/adrs/etcd-s3-secret.md; keys as
# pkg/etcd/s3/config_secret.go reads them), at every snapshot save, list and delete, not at start.
ETCD_S3_CONFIG_SECRET: Final = "k3s-etcd-snapshot-s3-config"
ETCD_S3_CONFIG_NAMESPACE: Final = "kube-system"
ETCD_SNAPSHOTS_USER: Final = "etcd-snapshots"  # its MinIO user, which is also its S3 access key
ETCD_SNAPSHOTS_USER_SECRET: Final = "etcd-snapshots-user"


def etcd_snapshots_bucket(platform: Platform) -> Optional[str]:
    """The MinIO bucket k3s copies etcd snapshots to, or None."""
    bucket = platform.spec.cluster.etcd_snapshots.minio_bucket
    return bucket if bucket and platform.enabled("minio") else None


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
        result = [
            Credential(
                "minio-root-password", "alnum", 40, "MinIO root user's password", (Target(self.namespace, ROOT_SECRET, "rootPassword"),)
            )
        ]
        if etcd_snapshots_bucket(platform):
            targets = (
                Target(self.namespace, ETCD_SNAPSHOTS_USER_SECRET, "secretKey"),
                Target(ETCD_S3_CONFIG_NAMESPACE, ETCD_S3_CONFIG_SECRET, "etcd-s3-secret-key"),
            )
            result.append(Credential("etcd-snapshots-s3-secret-key", "alnum", 40, "S3 secret key k3s copies etcd snapshots with", targets))
        return result

    def buckets(self, platform: Platform) -> list[Bucket]:
        bucket = etcd_snapshots_bucket(platform)
        return [Bucket(bucket, ETCD_SNAPSHOTS_USER, ETCD_SNAPSHOTS_USER_SECRET)] if bucket else []

    def secret_namespaces(self, platform: Platform) -> tuple[str, ...]:
        return (ETCD_S3_CONFIG_NAMESPACE,) if etcd_snapshots_bucket(platform) else ()

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
        bucket = etcd_snapshots_bucket(platform)
        if bucket:
            # Through Traefik at the S3 API's ingress host (HTTPS, k3s' default region): the k3s servers are hosts
            # and do not resolve the cluster's Service names.
            plain[(ETCD_S3_CONFIG_NAMESPACE, ETCD_S3_CONFIG_SECRET)] = {
                "etcd-s3-endpoint": str(self.host(platform, HOST.field)),
                "etcd-s3-bucket": bucket,
                "etcd-s3-access-key": ETCD_SNAPSHOTS_USER,
            }
        for tenant in platform.spec.tenants:
            plain[(tenant.namespaces[0], TENANT_SECRET)] = {"AWS_ACCESS_KEY_ID": s3_user(tenant.name)}
        return plain

    def ca_secrets(self, platform: Platform) -> tuple[Target, ...]:
        targets: tuple[Target, ...] = (ca_secret(self.namespace),) if platform.issuer_url else ()
        if etcd_snapshots_bucket(platform):
            # The ingress certificate's CA, inline (PEM), for k3s' S3 client.
            targets += (Target(ETCD_S3_CONFIG_NAMESPACE, ETCD_S3_CONFIG_SECRET, "etcd-s3-endpoint-ca", part=CERTIFICATE),)
        return targets

    def oidc_client(self, platform: Platform) -> Optional[OidcClient]:
        return OidcClient("minio", (f"https://{self.host(platform, CONSOLE_HOST.field)}/oauth_callback",), OIDC_SECRET)

    def used_by(self, tenant: Tenant) -> bool:
        return bool(tenant.buckets)

    def network(self, platform: Platform) -> Network:
        return Network(tenant_ports=(S3_PORT,))  # the S3 API; the console (9001) only through the ingress

    def chart_pods(self, values: Document) -> Optional[list[tuple[str, Document]]]:
        # minio chart 5.4.0 (minio/minio commit 43a740296, helm/minio/templates; the StatefulSet, Deployment and
        # post-job templates are unchanged since). MinIO itself: statefulset.yaml with mode distributed (line 1)
        # or deployment.yaml with standalone (line 1); the pod's securityContext is securityContext minus
        # "enabled" and the container "minio"'s is containerSecurityContext, both only when securityContext.enabled
        # and persistence.enabled (statefulset lines 84-87 and 189-193, deployment lines 56-59 and 171-175);
        # extraContainers as given (statefulset 194-200, deployment 176-182); volumes: the minio-user Secret,
        # extra-secret, the TLS and trusted-certificate Secrets (_helpers.tpl minio.tlsKeysVolume, lines
        # 165-190), extraVolumes, and the data: volumeClaimTemplates (statefulset line 229 on) or a PVC / emptyDir
        # (deployment lines 194-200); no host namespaces, no host ports.
        context = dict(values.get("securityContext") or {})
        secured = bool(context.get("enabled")) and bool((values.get("persistence") or {}).get("enabled"))
        tls = dict(values.get("tls") or {})
        volumes: list[Document] = [{"name": "minio-user", "secret": {"secretName": "minio"}}]
        if values.get("extraSecret"):
            volumes.append({"name": "extra-secret", "secret": {"secretName": values["extraSecret"]}})
        if tls.get("enabled"):
            volumes.append({"name": "cert-secret-volume", "secret": {"secretName": tls.get("certSecret")}})
        if tls.get("enabled") or values.get("trustedCertsSecret"):
            volumes.append({"name": "trusted-cert-secret-volume", "secret": {"secretName": values.get("trustedCertsSecret")}})
        volumes += list(values.get("extraVolumes") or [])
        persistent = bool((values.get("persistence") or {}).get("enabled"))
        volumes.append({"name": "export", **({"persistentVolumeClaim": {"claimName": "minio"}} if persistent else {"emptyDir": {}})})
        container: Document = {"name": "minio"}
        if secured and values.get("containerSecurityContext"):
            container["securityContext"] = dict(values["containerSecurityContext"])
        spec: Document = {"containers": [container, *(values.get("extraContainers") or [])], "volumes": volumes}
        if secured:
            spec["securityContext"] = without(context, "enabled")
        kind = "Deployment" if values.get("mode") == "standalone" else "StatefulSet"
        pods = [(f"{kind} minio", spec)]
        # post-job.yaml (buckets, users, policies, customCommands or svcaccts, line 1): the pod's securityContext
        # is postJob.securityContext minus "enabled" when enabled (lines 41-43); volumes: emptyDirs, a projected
        # ConfigMap and Secrets, the TLS Secret, customCommandJob.extraVolumes (lines 44-84); the init container
        # minio-make-policy with policies (lines 88-95), the containers minio-make-bucket, -user,
        # -custom-command and -svcacct with buckets, users, customCommands, svcaccts (lines 122-231), each with
        # its job's containerSecurityContext when its securityContext.enabled.
        jobs = {"policies": ("minio-make-policy", "makePolicyJob"), "buckets": ("minio-make-bucket", "makeBucketJob")}
        jobs |= {"users": ("minio-make-user", "makeUserJob"), "customCommands": ("minio-custom-command", "customCommandJob")}
        jobs["svcaccts"] = ("minio-make-svcacct", "makeServiceAccountJob")
        if not any(values.get(key) for key in jobs):
            return pods
        job_containers: dict[str, Document] = {}
        for key, (name, job_key) in jobs.items():
            settings = dict(values.get(job_key) or {})
            if values.get(key):
                job_containers[key] = {"name": name}
                if (settings.get("securityContext") or {}).get("enabled") and settings.get("containerSecurityContext"):
                    job_containers[key]["securityContext"] = dict(settings["containerSecurityContext"])
        job_volumes: list[Document] = [{"name": "etc-path", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]
        job_volumes.append({"name": "minio-configuration", "projected": {"sources": []}})
        if tls.get("enabled"):
            job_volumes.append({"name": "cert-secret-volume-mc", "secret": {"secretName": tls.get("certSecret")}})
        job_volumes += list((values.get("customCommandJob") or {}).get("extraVolumes") or [])
        job: Document = {
            "initContainers": [job_containers.pop("policies")] if "policies" in job_containers else [],
            "containers": list(job_containers.values()),
            "volumes": job_volumes,
        }
        post = dict((values.get("postJob") or {}).get("securityContext") or {})
        if post.get("enabled"):
            job["securityContext"] = without(post, "enabled")
        return [*pods, ("Job minio-post-job", job)]


UNIT = MinIO()
