# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Keycloak (keycloakx chart, the official image): identity for people, on a CloudNativePG PostgreSQL (backed up
to MinIO). The realm is code: a group per tenant role and the platform admins, the groups client scope, and the
OIDC client every other component asks for (:meth:`Unit.oidc_client`), applied by a keycloak-config-cli Job."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import TYPE_CHECKING, Any, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import (
    BASELINE,
    INGRESS_CLASS,
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
    ingress_annotations,
    quantity_field,
)
from ansible_collections.keelson.platform.plugins.module_utils._components.cloudnative_pg import INSTANCES_DOC, database_cluster
from ansible_collections.keelson.platform.plugins.module_utils._components.minio import s3_address
from ansible_collections.keelson.platform.plugins.module_utils._formats import check_s3_bucket
from ansible_collections.keelson.platform.plugins.module_utils._schema import Int, Nullable, Section, Str, spec_field
from ansible_collections.keelson.platform.plugins.module_utils._yaml import dump_one

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

HOST: Final = HostClaim("host", "keycloak", "Keycloak")
ADMIN_SECRET: Final = "keycloak-admin"
CLIENTS_SECRET: Final = "keycloak-oidc-clients"  # every confidential client's secret, read by the import Job
# The Kubernetes API server's own client (kubectl's OIDC login) and how it names people and groups.
API_SERVER_CLIENT: Final = OidcClient("kubernetes", ("http://localhost:8000", "http://localhost:18000"))
OIDC_PREFIX: Final = "oidc:"
# The client scope that puts a person's groups in the token (Argo CD, Grafana, the API server read the claim).
GROUPS_SCOPE: Final = "groups"
# The client scopes Keycloak 26 creates in every new realm (keycloak-config-cli creates the realm without the
# import's clientScopes, so Keycloak adds these first); "openid" is no scope in Keycloak but always allowed.
BUILTIN_SCOPES: Final = (
    "acr",
    "address",
    "basic",
    "email",
    "microprofile-jwt",
    "offline_access",
    "organization",
    "phone",
    "profile",
    "roles",
    "web-origins",
)
DEFAULT_SCOPES: Final = ("acr", "basic", "email", "profile", "roles", "web-origins", GROUPS_SCOPE)
# Keycloak's database: a CloudNativePG Cluster in Keycloak's namespace. The operator creates the database and
# its owner at bootstrap and writes their credentials to the Secret <cluster>-app (keys username, password).
DB_CLUSTER: Final = "keycloak-db"
DB_NAME: Final = "keycloak"
DB_OWNER: Final = "keycloak"
DB_APP_SECRET: Final = f"{DB_CLUSTER}-app"
BACKUP_USER: Final = "keycloak-backup"  # its MinIO user, which is also its S3 access key
BACKUP_SECRET: Final = f"{DB_CLUSTER}-backup-s3"  # what the Cluster's barmanObjectStore.s3Credentials read
BACKUP_USER_SECRET: Final = "keycloak-backup-user"  # in MinIO's namespace, for the chart's users list
BACKUP_RETENTION: Final = "30d"
# keycloak-config-cli waits this long for Keycloak before it gives up and the pod is retried.
IMPORT_WAIT: Final = "300s"


@dataclasses.dataclass(frozen=True)
class DatabaseSettings:
    instances: int = spec_field(Int(minimum=1), INSTANCES_DOC, default=1)
    storage: str = quantity_field("Volume size per PostgreSQL instance.", "8Gi")
    backup_bucket: Optional[str] = spec_field(
        Nullable(Str(check_s3_bucket, type_doc="S3 bucket")),
        "MinIO bucket for the database's base backups and WAL (only with MinIO); `null` turns backups off.",
        default="keycloak-backups",
    )


@dataclasses.dataclass(frozen=True)
class KeycloakSettings:
    enabled: bool = enabled_field()
    replicas: int = spec_field(Int(minimum=1), "Keycloak replicas.", default=1)
    host: Optional[str] = host_field(HOST)
    database: DatabaseSettings = spec_field(Section(DatabaseSettings), "Keycloak's PostgreSQL database (CloudNativePG).", default={})


def issuer_url(host: str, realm: str) -> str:
    return f"https://{host}/realms/{realm}"


def chart_env_names(values: Document) -> list[str]:
    """The variables the chart sets itself before extraEnv, from its merged values: extraEnv must not repeat any
    (charts/keycloakx/templates/statefulset.yaml at keycloakx-7.1.11, the env list, lines 91-143)."""
    names = ["KC_HTTP_RELATIVE_PATH"]  # lines 92-98, always
    if (values.get("cache") or {}).get("stack") == "default":
        names += ["KC_CACHE", "KC_CACHE_STACK"]  # lines 99-104
    proxy = values.get("proxy") or {}
    if proxy.get("enabled"):
        names.append("KC_PROXY_HEADERS")  # lines 105-108, from proxy.mode
    if (proxy.get("http") or {}).get("enabled"):
        names.append("KC_HTTP_ENABLED")  # lines 109-112
    database = values.get("database") or {}
    for key, name in (
        ("vendor", "KC_DB"),
        ("hostname", "KC_DB_URL_HOST"),
        ("port", "KC_DB_URL_PORT"),
        ("database", "KC_DB_URL_DATABASE"),
        ("username", "KC_DB_USERNAME"),
    ):  # lines 113-132
        if database.get(key):
            names.append(name)
    if database.get("password") or database.get("existingSecret"):
        names.append("KC_DB_PASSWORD")  # lines 133-135 (_helpers.tpl keycloak.databasePasswordEnv)
    if (values.get("metrics") or {}).get("enabled"):
        names.append("KC_METRICS_ENABLED")  # lines 136-139
    if (values.get("health") or {}).get("enabled"):
        names.append("KC_HEALTH_ENABLED")  # lines 140-143
    return names


def _secret_env(client_id: str) -> str:
    return f"{client_id.upper().replace('-', '_')}_CLIENT_SECRET"


class Keycloak(Unit[KeycloakSettings]):
    name = "keycloak"
    catalog = "keycloak"
    namespace = "keycloak"
    pod_security = BASELINE
    depends_on = ("sealed-secrets", "cert-manager", "minio", "cloudnative-pg")
    settings_type = KeycloakSettings
    settings_path = ("components", "keycloak")
    doc = "Keycloak: identity, groups and OIDC clients."
    hosts = (HOST,)
    requires = (("cloudnative_pg", "Keycloak's database is a CloudNativePG cluster"),)
    holds_secrets = True

    def dependencies(self, platform: Platform) -> tuple[str, ...]:
        # Its database needs the operator; its backups go to MinIO.
        return tuple(name for name in self.depends_on if name != "minio" or self._backups(platform))

    def _backups(self, platform: Platform) -> Optional[str]:
        bucket = self.settings(platform).database.backup_bucket
        return bucket if bucket and platform.enabled("minio") else None

    def clients(self, platform: Platform) -> list[OidcClient]:
        """Every client of the realm: the API server's, then each enabled component's, in registry order."""
        wanted = [unit.oidc_client(platform) for unit in platform.units]
        return [API_SERVER_CLIENT, *(client for client in wanted if client is not None)]

    def realm(self, platform: Platform) -> Document:
        """The Keycloak realm as code (keycloak-config-cli): groups, the groups claim, and the OIDC clients.
        Client secrets are ``$(env:...)`` references that the import Job reads from sealed Secrets."""
        groups = [{"name": platform.spec.identity.admins_group}]
        for tenant in platform.spec.tenants:
            groups += [{"name": group} for group in (tenant.groups.admin, tenant.groups.edit, tenant.groups.view)]
        groups_scope = {
            "name": GROUPS_SCOPE,
            "description": "The person's Keycloak groups, as the groups claim",
            "protocol": "openid-connect",
            "attributes": {"include.in.token.scope": "true", "display.on.consent.screen": "false"},
            "protocolMappers": [
                {
                    "name": "groups",
                    "protocol": "openid-connect",
                    "protocolMapper": "oidc-group-membership-mapper",
                    "config": {
                        "full.path": "false",
                        "claim.name": "groups",
                        "id.token.claim": "true",
                        "access.token.claim": "true",
                        "userinfo.token.claim": "true",
                    },
                }
            ],
        }
        clients = []
        for client in self.clients(platform):
            entry: dict[str, Any] = {
                "clientId": client.client_id,
                "enabled": True,
                "protocol": "openid-connect",
                "standardFlowEnabled": True,
                "redirectUris": list(client.redirect_uris),
                "webOrigins": ["+"],
                "publicClient": client.secret is None,
                # Keycloak answers invalid_scope to a scope the client is not given: every scope a consumer
                # requests is one of these (the built-in ones and groups).
                "defaultClientScopes": list(DEFAULT_SCOPES),
            }
            if client.secret is not None:
                entry["secret"] = f"$(env:{_secret_env(client.client_id)})"
            clients.append(entry)
        return {
            "realm": platform.spec.identity.realm,
            "enabled": True,
            "groups": groups,
            "clientScopes": [groups_scope],
            "clients": clients,
        }

    def values(self, platform: Platform) -> Document:
        settings = self.settings(platform)
        env = [
            {"name": "KC_BOOTSTRAP_ADMIN_USERNAME", "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": "username"}}},
            {"name": "KC_BOOTSTRAP_ADMIN_PASSWORD", "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": "password"}}},
            {"name": "KC_HOSTNAME", "value": f"https://{settings.host}"},
        ]
        return {
            "replicas": settings.replicas,
            "command": ["/opt/keycloak/bin/kc.sh", "start", "--http-port=8080", "--health-enabled=true"],
            # charts/keycloakx/templates/statefulset.yaml (keycloakx-7.1.11) line 145 pastes extraEnv, a string, into
            # the env list (`tpl . $ | nindent 12`): it must be YAML list text. The chart sets KC_PROXY_HEADERS from
            # proxy.mode (lines 105-108) and KC_HTTP_ENABLED from proxy.http.enabled (lines 109-112, on by
            # default), so neither is repeated here (a duplicate env name makes server-side apply reject it).
            "extraEnv": dump_one(env),
            # Traefik sends X-Forwarded-* headers, not Forwarded (the chart's default mode).
            "proxy": {"mode": "xforwarded"},
            # The CloudNativePG cluster below: its read-write service, and the password the operator generated
            # (keycloakx 7.1.11 templates/statefulset.yaml sets KC_DB, KC_DB_URL_HOST/PORT/DATABASE and
            # KC_DB_USERNAME from these; templates/_helpers.tpl keycloak.databasePasswordEnv reads KC_DB_PASSWORD
            # from existingSecret/existingSecretKey).
            "database": {
                "vendor": "postgres",
                "hostname": f"{DB_CLUSTER}-rw",
                "port": 5432,
                "database": DB_NAME,
                "username": DB_OWNER,
                "existingSecret": DB_APP_SECRET,
                "existingSecretKey": "password",
            },
            "http": {"relativePath": "/"},
            "ingress": {
                "enabled": True,
                "ingressClassName": INGRESS_CLASS,
                "annotations": ingress_annotations(),
                "rules": [{"host": settings.host, "paths": [{"path": "/", "pathType": "Prefix"}]}],
                "tls": [{"hosts": [settings.host], "secretName": "keycloak-tls"}],
            },
        }

    def manifests(self, platform: Platform) -> list[Document]:
        realm_json = json.dumps(self.realm(platform), indent=2, sort_keys=True) + "\n"
        realm_map = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "keelson-realm", "namespace": self.namespace},
            "data": {"realm.json": realm_json},
        }
        secret_env = [
            {"name": _secret_env(client.client_id), "valueFrom": {"secretKeyRef": {"name": CLIENTS_SECRET, "key": client.client_id}}}
            for client in self.clients(platform)
            if client.secret is not None
        ]
        spec: Document = {
            # Many tries, each waiting up to IMPORT_WAIT for Keycloak: an import started before Keycloak (or its
            # database) is up keeps trying instead of failing for good.
            "backoffLimit": 30,
            # A finished Job (done or failed) goes after an hour. Under Flux, which applies the Job as a plain
            # object, the next reconciliation creates it again: a failed import is retried, a done one re-applied
            # (the import is idempotent). Under Argo CD it is a PostSync hook, run after every sync once Keycloak is
            # healthy and deleted when it succeeds; a failed one fails the sync, which Argo CD retries.
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "spec": {
                    "restartPolicy": "OnFailure",
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [
                        {
                            "name": "keycloak-config-cli",
                            "image": CATALOG["components"][self.catalog]["images"]["config_cli"],
                            "env": [
                                {"name": "KEYCLOAK_URL", "value": f"http://keycloak-keycloakx-http.{self.namespace}.svc.cluster.local"},
                                {"name": "KEYCLOAK_USER", "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": "username"}}},
                                {"name": "KEYCLOAK_PASSWORD", "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": "password"}}},
                                {"name": "KEYCLOAK_AVAILABILITYCHECK_ENABLED", "value": "true"},
                                {"name": "KEYCLOAK_AVAILABILITYCHECK_TIMEOUT", "value": IMPORT_WAIT},
                                {"name": "IMPORT_FILES_LOCATIONS", "value": "/config/realm.json"},
                                {"name": "IMPORT_VARSUBSTITUTION_ENABLED", "value": "true"},
                                *secret_env,
                            ],
                            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                            "volumeMounts": [{"name": "realm", "mountPath": "/config"}],
                        }
                    ],
                    "volumes": [{"name": "realm", "configMap": {"name": "keelson-realm"}}],
                }
            },
        }
        # A Job cannot be changed in place: a new realm (or a new Job spec, a new image) is a Job of a new name,
        # and both engines prune the old one.
        digest = hashlib.sha256((realm_json + json.dumps(spec, sort_keys=True)).encode()).hexdigest()[:10]
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": f"keelson-realm-import-{digest}",
                "namespace": self.namespace,
                "annotations": {
                    "argocd.argoproj.io/hook": "PostSync",
                    "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation,HookSucceeded",
                },
            },
            "spec": spec,
        }
        return [realm_map, *self._database(platform), job]

    def _database(self, platform: Platform) -> list[Document]:
        """Keycloak's PostgreSQL: a CloudNativePG Cluster and, with MinIO, its backups there."""
        database = self.settings(platform).database
        cluster = database_cluster(DB_CLUSTER, self.namespace, database, DB_NAME, DB_OWNER)
        bucket = self._backups(platform)
        if not bucket:
            return [cluster]
        minio = platform.unit("minio").namespace
        # The operator's own (in-tree) barman-cloud backups: operator 1.30 still carries them (deprecated since
        # 1.26, removed in 1.31), while the Barman Cloud Plugin would need another component (the plugin, with
        # its own certificates) that the platform data does not pin. Move to the plugin before operator 1.31.
        cluster["spec"]["backup"] = {
            "retentionPolicy": BACKUP_RETENTION,
            "barmanObjectStore": {
                "destinationPath": f"s3://{bucket}/",
                "endpointURL": f"http://{s3_address(minio)}",
                "s3Credentials": {
                    "accessKeyId": {"name": BACKUP_SECRET, "key": "ACCESS_KEY_ID"},
                    "secretAccessKey": {"name": BACKUP_SECRET, "key": "ACCESS_SECRET_KEY"},
                },
                "wal": {"compression": "gzip"},
                "data": {"compression": "gzip"},
            },
        }
        scheduled = {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "ScheduledBackup",
            "metadata": {"name": f"{DB_CLUSTER}-daily", "namespace": self.namespace},
            # Six fields, seconds first: every day at 03:00; the first one right away.
            "spec": {"schedule": "0 0 3 * * *", "immediate": True, "backupOwnerReference": "self", "cluster": {"name": DB_CLUSTER}},
        }
        return [cluster, scheduled]

    def buckets(self, platform: Platform) -> list[Bucket]:
        bucket = self._backups(platform)
        return [Bucket(bucket, BACKUP_USER, BACKUP_USER_SECRET)] if bucket else []

    def credentials(self, platform: Platform) -> list[Credential]:
        result = [
            Credential(
                "keycloak-admin-password", "alnum", 32, "Keycloak's bootstrap admin", (Target(self.namespace, ADMIN_SECRET, "password"),)
            )
        ]
        for client in self.clients(platform):
            if client.secret is not None:
                targets = (Target(self.namespace, CLIENTS_SECRET, client.client_id), client.secret)
                result.append(
                    Credential(f"oidc-client-{client.client_id}", "alnum", 48, f"OIDC client secret of {client.client_id}", targets)
                )
        if self._backups(platform):
            minio = platform.unit("minio").namespace
            result.append(
                Credential(
                    "keycloak-backup-s3-secret-key",
                    "alnum",
                    40,
                    "S3 secret key Keycloak's database backs up with",
                    (Target(self.namespace, BACKUP_SECRET, "ACCESS_SECRET_KEY"), Target(minio, BACKUP_USER_SECRET, "secretKey")),
                )
            )
        return result

    def plain(self, platform: Platform) -> dict[tuple[str, str], dict[str, str]]:
        return {
            (self.namespace, ADMIN_SECRET): {"username": "keelson-admin"},
            (self.namespace, BACKUP_SECRET): {"ACCESS_KEY_ID": BACKUP_USER},
        }

    def network(self, platform: Platform) -> Network:
        # Its database's pods run CloudNativePG's instance manager, which watches the API server; their
        # backups go to MinIO's S3 API. People reach Keycloak through Traefik (its ingress host).
        return Network(api=True, to=(("minio", (9000,)),) if self._backups(platform) else ())

    def chart_pods(self, values: Document) -> Optional[list[tuple[str, Document]]]:
        # charts/keycloakx/templates/statefulset.yaml (keycloakx-7.1.11): init container dbchecker with
        # dbchecker.securityContext (lines 48-53) and extraInitContainers, YAML text (lines 68-70), unless
        # skipInitContainers (line 45); the container keycloak with securityContext (lines 75-76); extraContainers,
        # YAML text (lines 188-190); pod securityContext = podSecurityContext (lines 196-197); volumes (line 224)
        # with extraVolumes, YAML text (lines 236-238).
        import yaml  # noqa: PLC0415 - rendering only (see _yaml.py)

        def text(key: str) -> list[Document]:
            loaded = yaml.safe_load(values.get(key) or "[]")
            return list(loaded or [])

        init: list[Document] = []
        if not values.get("skipInitContainers"):
            if (values.get("dbchecker") or {}).get("enabled"):
                init.append({"name": "dbchecker", "securityContext": values["dbchecker"].get("securityContext") or {}})
            init += text("extraInitContainers")
        spec: Document = {
            "securityContext": values.get("podSecurityContext") or {},
            "containers": [{"name": "keycloak", "securityContext": values.get("securityContext") or {}}, *text("extraContainers")],
            "volumes": text("extraVolumes"),
        }
        if init:
            spec["initContainers"] = init
        return [("StatefulSet keycloak-keycloakx", spec)]


UNIT = Keycloak()
