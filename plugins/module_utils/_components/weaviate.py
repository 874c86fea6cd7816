# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Weaviate: the vector database, with an API key per tenant, OIDC for people, and backups to MinIO.

Its RBAC is on: the platform admins group and keelson's own API key user are root; every tenant gets a role with
rights only on the collections whose names start with its prefix (:func:`collection_prefix`), given to its API
key user and its admin and edit groups, and a read-only one for its view group. Weaviate keeps roles in its own
store (no configuration file holds them), so a Job applies them through Weaviate's REST API."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shlex
from typing import TYPE_CHECKING, Any, Final, Optional
from urllib.parse import quote

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
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
from ansible_collections.keelson.platform.plugins.module_utils._components.minio import s3_address
from ansible_collections.keelson.platform.plugins.module_utils._formats import check_s3_bucket
from ansible_collections.keelson.platform.plugins.module_utils._problems import Problem, SpecError
from ansible_collections.keelson.platform.plugins.module_utils._schema import DERIVED, Int, Nullable, Str, spec_field

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.module_utils._spec_model import Tenant
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

HOST: Final = HostClaim("host", "weaviate", "the Weaviate API")
BACKUP_USER: Final = "weaviate-backup"  # its MinIO user, which is also its S3 access key
BACKUP_SECRET: Final = "weaviate-backup-s3"  # what the chart's backups.s3.envSecrets read
BACKUP_USER_SECRET: Final = "weaviate-backup-user"  # in MinIO's namespace, for the chart's users list
API_KEYS_SECRET: Final = "weaviate-api-keys"
# keelson's own API key user: root, applies the tenants' roles. Tenants' API key users are their names, DNS labels,
# which cannot hold "_": no tenant can be named like it.
ADMIN_USER: Final = "keelson_admin"
ADMIN_SECRET: Final = "weaviate-admin"  # its API key, for the RBAC Job
# The chart renders this Secret itself, with random values unless a cluster lookup finds it
# (weaviate/templates/weaviateSecretClusterAPI.yaml and _helpers.tpl "cluster_api.secret", lines 239-254 at
# v17.8.3: no switch turns it off); the StatefulSet reads its keys username and password (weaviateStatefulset.yaml
# lines 105-114). The tree carries it sealed, with the chart's type, so every render is the same.
CLUSTER_API_SECRET: Final = "weaviate-cluster-api-basic-auth"
SERVICE: Final = "weaviate"  # the chart's service.name, port 80 (weaviateService.yaml)
# What a tenant's role may do on its own collections (Weaviate 1.38's RBAC actions), and its view group's.
WRITE_ACTIONS: Final[dict[str, tuple[str, ...]]] = {
    "collections": ("create_collections", "read_collections", "update_collections", "delete_collections"),
    "data": ("create_data", "read_data", "update_data", "delete_data"),
    "tenants": ("create_tenants", "read_tenants", "update_tenants", "delete_tenants"),
}
READ_ACTIONS: Final[dict[str, tuple[str, ...]]] = {
    "collections": ("read_collections",),
    "data": ("read_data",),
    "tenants": ("read_tenants",),
}


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


def collection_prefix(tenant: str) -> str:
    """The start of every collection name tenant ``tenant`` may use: its name with the first letter upper-case
    and each ``-`` as ``_``, then ``__`` (``vision`` -> ``Vision__``, ``nlp-team`` -> ``Nlp_team__``). Weaviate's
    collection names are ``[A-Z][_0-9A-Za-z]*``, so ``-`` cannot stay; the double ``_`` ends the prefix, so that
    ``vision``'s prefix never covers ``vision-x``'s collections (``Vision_x__...``)."""
    return tenant[:1].upper() + tenant[1:].replace("-", "_") + "__"


def prefix_clashes(tenants: list[str]) -> list[tuple[str, str]]:
    """Pairs of tenants where the first's collection prefix also covers the second's collections (only names
    with ``--`` can do that). Sorted, a prefix that covers another comes right before one it covers."""
    ordered = sorted((collection_prefix(name), name) for name in tenants)
    return [(a, b) for (pa, a), (pb, b) in zip(ordered, ordered[1:]) if pb.startswith(pa)]


def _permissions(prefix: str, actions: dict[str, tuple[str, ...]]) -> list[Document]:
    pattern = f"{prefix}*"
    scopes: dict[str, Document] = {
        "collections": {"collection": pattern},
        "data": {"collection": pattern, "tenant": "*", "object": "*"},
        "tenants": {"collection": pattern, "tenant": "*"},
    }
    return [{"action": action, kind: scopes[kind]} for kind, names in actions.items() for action in names]


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
    chart_secrets = (CLUSTER_API_SECRET,)

    depends_on = ("sealed-secrets", "minio")

    def dependencies(self, platform: Platform) -> tuple[str, ...]:
        # Its backups go to MinIO; without them it needs only its sealed API keys.
        return ("minio",) if self._backups(platform) else ("sealed-secrets",)

    def _backups(self, platform: Platform) -> Optional[str]:
        bucket = self.settings(platform).backup_bucket
        return bucket if bucket and platform.enabled("minio") else None

    def _users(self, platform: Platform) -> list[Tenant]:
        return [tenant for tenant in platform.spec.tenants if tenant.weaviate]

    def roles(self, platform: Platform) -> list[Document]:
        """Every tenant's Weaviate roles, with who holds them: ``name``, ``permissions``, ``users`` (API key
        users) and ``groups`` (OIDC groups)."""
        tenants = self._users(platform)
        clashes = prefix_clashes([tenant.name for tenant in tenants])
        if clashes:
            raise SpecError(
                [
                    Problem(
                        "tenants",
                        f"Weaviate collection prefix {collection_prefix(a)} of tenant {a} also covers tenant {b}'s "
                        f"({collection_prefix(b)}): {a} could read {b}'s collections; rename one of them",
                    )
                    for a, b in clashes
                ]
            )
        roles = []
        for tenant in tenants:
            prefix = collection_prefix(tenant.name)
            writers = [group for group in (tenant.groups.admin, tenant.groups.edit) if group]
            viewers = [tenant.groups.view] if tenant.groups.view else []
            roles += [
                {
                    "name": f"tenant-{tenant.name}",
                    "permissions": _permissions(prefix, WRITE_ACTIONS),
                    "users": [tenant.name],
                    "groups": writers,
                },
                {"name": f"tenant-{tenant.name}-view", "permissions": _permissions(prefix, READ_ACTIONS), "users": [], "groups": viewers},
            ]
        return roles

    def values(self, platform: Platform) -> Document:
        settings = self.settings(platform)
        users = [ADMIN_USER, *(tenant.name for tenant in self._users(platform))]
        env: dict[str, Any] = {
            "AUTHENTICATION_APIKEY_ENABLED": "true",
            # One user per key, in the order of the keys (keelson's first: its credential comes first).
            "AUTHENTICATION_APIKEY_USERS": ",".join(users),
        }
        values: Document = {
            "replicas": settings.replicas,
            "storage": {"size": settings.storage},
            "authentication": {"anonymous_access": {"enabled": False}},
            # RBAC instead of "every authenticated user is an admin" (the chart's default: both off).
            # weaviate/templates/weaviateConfigMap.yaml line 15 writes this map into conf.yaml as Weaviate's
            # authorization section (rbacconf.Config: enabled, root_users, root_groups).
            "authorization": {
                "rbac": {"enabled": True, "root_users": [ADMIN_USER], "root_groups": [platform.spec.identity.admins_group]},
            },
            "env": env,
            "envSecrets": {"AUTHENTICATION_APIKEY_ALLOWED_KEYS": API_KEYS_SECRET},
            # Pod Security "baseline" (its namespace): the chart's default configure-sysctl init container is
            # privileged and runs as root (weaviate/templates/weaviateStatefulset.yaml lines 44-53, an unpinned
            # alpine image). Off here; prereq sets vm.max_map_count on the hosts instead (_preflight.py), and
            # the kubelet itself sets the vm.overcommit_memory=1 it also wrote.
            "initContainers": {"sysctlInitContainer": {"enabled": False}},
        }
        bucket = self._backups(platform)
        if bucket:
            minio = platform.unit("minio").namespace
            values["backups"] = {
                "s3": {
                    "enabled": True,
                    "envconfig": {
                        "BACKUP_S3_BUCKET": bucket,
                        "BACKUP_S3_ENDPOINT": s3_address(minio),
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

    def _rbac_script(self, platform: Platform) -> str:
        """The shell script (busybox sh and wget of Weaviate's own image) that applies :meth:`roles`: create each
        role when missing, add its permissions (adding what it has already changes nothing), assign it."""
        lines = [
            "set -eu",
            f'api="http://{SERVICE}.{self.namespace}.svc.cluster.local/v1"',
            'auth="Authorization: Bearer ${ADMIN_API_KEY}"',
            'until wget -q -O /dev/null "$api/.well-known/ready"; do echo "waiting for Weaviate"; sleep 5; done',
            'get() { wget -q -O /dev/null --header "$auth" "$api$1"; }',
            'post() { wget -q -O /dev/null --header "$auth" --header "Content-Type: application/json" --post-data "$2" "$api$1"; }',
        ]
        for role in self.roles(platform):
            name = quote(role["name"], safe="")
            body = json.dumps({"name": role["name"], "permissions": role["permissions"]}, sort_keys=True)
            lines.append(f"get /authz/roles/{name} || post /authz/roles {shlex.quote(body)}")
            permissions = json.dumps({"permissions": role["permissions"]}, sort_keys=True)
            lines.append(f"post /authz/roles/{name}/add-permissions {shlex.quote(permissions)}")
            for user in role["users"]:
                assign = json.dumps({"roles": [role["name"]], "userType": "db"}, sort_keys=True)
                lines.append(f"post /authz/users/{quote(user, safe='')}/assign {shlex.quote(assign)}")
            for group in role["groups"]:
                assign = json.dumps({"roles": [role["name"]], "groupType": "oidc"}, sort_keys=True)
                lines.append(f"post /authz/groups/{quote(group, safe='')}/assign {shlex.quote(assign)}")
        lines.append('echo "roles applied"')
        return "\n".join(lines) + "\n"

    def manifests(self, platform: Platform) -> list[Document]:
        script = self._rbac_script(platform)
        script_map = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "keelson-weaviate-rbac", "namespace": self.namespace},
            "data": {"apply.sh": script},
        }
        digest = hashlib.sha256(script.encode()).hexdigest()[:10]
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                # New roles are a new Job (Jobs cannot be changed in place).
                "name": f"keelson-weaviate-rbac-{digest}",
                "namespace": self.namespace,
                "annotations": {
                    "argocd.argoproj.io/hook": "PostSync",
                    "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation,HookSucceeded",
                },
            },
            "spec": {
                "backoffLimit": 10,
                "template": {
                    "spec": {
                        "restartPolicy": "OnFailure",
                        "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [
                            {
                                "name": "apply-roles",
                                "image": CATALOG["components"][self.catalog]["images"]["weaviate"],
                                "command": ["/bin/sh", "/rbac/apply.sh"],
                                "env": [{"name": "ADMIN_API_KEY", "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": "api-key"}}}],
                                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                                "volumeMounts": [{"name": "rbac", "mountPath": "/rbac"}],
                            }
                        ],
                        "volumes": [{"name": "rbac", "configMap": {"name": "keelson-weaviate-rbac"}}],
                    }
                },
            },
        }
        return [ingress("weaviate", self.namespace, self.host(platform, HOST.field), SERVICE, 80), script_map, job]

    def buckets(self, platform: Platform) -> list[Bucket]:
        bucket = self._backups(platform)
        return [Bucket(bucket, BACKUP_USER, BACKUP_USER_SECRET)] if bucket else []

    def credentials(self, platform: Platform) -> list[Credential]:
        result = [
            Credential(
                "weaviate-admin-api-key",
                "urlsafe",
                40,
                "Weaviate API key of keelson's root user (applies the tenants' roles)",
                (
                    Target(self.namespace, API_KEYS_SECRET, "AUTHENTICATION_APIKEY_ALLOWED_KEYS", join=True),
                    Target(self.namespace, ADMIN_SECRET, "api-key"),
                ),
            ),
            Credential(
                "weaviate-cluster-api-password",
                "alnum",
                32,
                "Weaviate's internal cluster API (basic auth between its replicas)",
                (Target(self.namespace, CLUSTER_API_SECRET, "password"),),
            ),
        ]
        if self._backups(platform):
            minio = platform.unit("minio").namespace
            result.append(
                Credential(
                    "weaviate-backup-s3-secret-key",
                    "alnum",
                    40,
                    "S3 secret key Weaviate backs up with",
                    (Target(self.namespace, BACKUP_SECRET, "AWS_SECRET_ACCESS_KEY"), Target(minio, BACKUP_USER_SECRET, "secretKey")),
                )
            )
        return result

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
        plain = {(self.namespace, CLUSTER_API_SECRET): {"username": "weaviate-cluster"}}
        if self._backups(platform):
            plain[(self.namespace, BACKUP_SECRET)] = {"AWS_ACCESS_KEY_ID": BACKUP_USER}
        return plain

    def chart_pods(self, values: Document) -> Optional[list[tuple[str, Document]]]:
        # weaviate/templates/weaviateStatefulset.yaml (v17.8.3): pod securityContext = securityContext (lines
        # 32-33); init containers configure-sysctl (lines 44-53: runAsUser 0, privileged) and
        # ensure-file-ownership (lines 55-67: the same, when containerSecurityContext has runAsUser and fsGroup),
        # then extraInitContainers as given (lines 69-70); the container weaviate with containerSecurityContext
        # (lines 594-595); volumes: ConfigMaps, Secrets and the data PVC, no hostPath. The module Deployments
        # (contextionary, transformers, ...) render only with their module enabled, which keelson never does.
        init = values.get("initContainers") or {}
        container_context = values.get("containerSecurityContext") or {}
        root = {"runAsUser": 0, "privileged": True}
        init_containers: list[Document] = []
        if (init.get("sysctlInitContainer") or {}).get("enabled"):
            init_containers.append({"name": "configure-sysctl", "securityContext": dict(root)})
        ownership = init.get("ensureFileOwnershipContainer") or {}
        if ownership.get("enabled") and container_context.get("runAsUser") and container_context.get("fsGroup"):
            init_containers.append({"name": "ensure-file-ownership", "securityContext": dict(root)})
        extra = init.get("extraInitContainers")
        if isinstance(extra, list):
            init_containers += extra
        spec: Document = {
            "securityContext": values.get("securityContext") or {},
            "containers": [{"name": "weaviate", "securityContext": container_context}],
            "volumes": [
                {"name": "weaviate-config", "configMap": {"name": "weaviate-config"}},
                {"name": "weaviate-data", "persistentVolumeClaim": {"claimName": "weaviate-data"}},
            ],
        }
        if init_containers:
            spec["initContainers"] = init_containers
        return [("StatefulSet weaviate", spec)]

    def oidc_client(self, platform: Platform) -> Optional[OidcClient]:
        return OidcClient("weaviate", (f"https://{self.host(platform, HOST.field)}/*",))

    def used_by(self, tenant: Tenant) -> bool:
        return tenant.weaviate

    def network(self, platform: Platform) -> Network:
        # HTTP and gRPC for tenants; its backups go to MinIO's S3 API.
        return Network(to=(("minio", (9000,)),) if self._backups(platform) else (), tenant_ports=(8080, 50051))


UNIT = Weaviate()
