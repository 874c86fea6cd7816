# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""MLflow (community-charts chart, the burakince/mlflow image): one tracking server and model registry for every
tenant, on a CloudNativePG PostgreSQL, with MLflow's basic-auth app: no permission by default, an admin, and one
user per tenant that gets MANAGE on what it creates and nothing on the others'. The server never touches
artifacts (no proxy, no S3 credential): a tenant's client writes them with its own S3 credentials to its own
bucket (the experiment's artifact location, :func:`artifact_location`). A Job makes MLflow's users match the
tenants through the auth app's REST API (``_mlflow_users.py``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import TYPE_CHECKING, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._components._mlflow_users import SCRIPT
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import (
    INGRESS_CLASS,
    RESTRICTED,
    Credential,
    Document,
    HostClaim,
    Network,
    Target,
    Unit,
    enabled_field,
    host_field,
    ingress_annotations,
    quantity_field,
)
from ansible_collections.keelson.platform.plugins.module_utils._components.cloudnative_pg import INSTANCES_DOC, database_cluster
from ansible_collections.keelson.platform.plugins.module_utils._ml import (
    MLFLOW_PASSWORD_KEY,
    MLFLOW_SECRET,
    MLFLOW_USERNAME_KEY,
    mlflow_user,
)
from ansible_collections.keelson.platform.plugins.module_utils._schema import Int, Section, spec_field

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.module_utils._spec_model import Tenant
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

HOST: Final = HostClaim("host", "mlflow", "the MLflow tracking server and model registry")
# The release is named "mlflow", which contains the chart's name: every object is "mlflow" (charts/mlflow/templates/
# _helpers.tpl at mlflow-1.11.5, mlflow.fullname, lines 13-24), the Service too (templates/service.yaml line 4).
SERVICE: Final = "mlflow"
SERVICE_PORT: Final = 80  # values.yaml service.port (line 100)
CONTAINER_PORT: Final = 5000  # values.yaml service.containerPort (line 104): what NetworkPolicies see
ADMIN_SECRET: Final = "mlflow-admin"  # keys username, password (auth.existingAdminSecret's default keys)
ADMIN_USER: Final = "keelson-admin"
# The Flask secret key (sessions, the auth app's CSRF token), one for every replica and every restart. The chart
# makes one itself (templates/flask_secret.yaml at mlflow-1.11.5: random unless `lookup` finds the Secret, a
# pre-install/pre-upgrade hook recreated before each hook run): under Argo CD, which renders with `helm template`
# (no lookup) and runs the hook on every sync, that is a new key each sync. keelson's sealed one comes after the
# chart's in the container's envFrom (deployment.yaml lines 613-623), so it wins.
FLASK_SECRET: Final = "mlflow-flask-secret-key"
FLASK_SECRET_KEY: Final = "MLFLOW_FLASK_SERVER_SECRET_KEY"
# Every tenant user's password, one key per user, in MLflow's namespace: read by the users Job alone.
USERS_SECRET: Final = "mlflow-tenant-users"
# The tracking store and the auth app's database: one CloudNativePG Cluster, two databases of one owner. The
# operator creates the first at bootstrap and writes the owner's credentials to <cluster>-app (username,
# password); the second is a CloudNativePG Database of the same owner.
DB_CLUSTER: Final = "mlflow-db"
DB_NAME: Final = "mlflow"
AUTH_DB_NAME: Final = "mlflow_auth"
DB_OWNER: Final = "mlflow"
DB_APP_SECRET: Final = f"{DB_CLUSTER}-app"
DB_HOST: Final = f"{DB_CLUSTER}-rw"  # the operator's read-write Service
DB_DRIVER: Final = "psycopg2"  # the server's, the auth app's and the users Job's SQLAlchemy driver
DB_PORT: Final = 5432  # the chart's default port of backendStore.postgres and auth.postgres (values.yaml lines 133, 322)
# Where an experiment made without an artifact location would put its artifacts: a bucket no tenant is given, so
# a client that writes there fails (every tenant's client writes with its own S3 key) instead of losing them in a
# pod's file system (the chart's default ./mlruns).
NO_ARTIFACT_ROOT: Final = "s3://keelson-no-artifact-location/"
# The prefix of an experiment's artifacts in the tenant's first bucket.
ARTIFACT_PREFIX: Final = "mlflow"
USERS_SCRIPT_MAP: Final = "keelson-mlflow-users"


@dataclasses.dataclass(frozen=True)
class MLflowDatabaseSettings:
    instances: int = spec_field(Int(minimum=1), INSTANCES_DOC, default=1)
    storage: str = quantity_field("Volume size per PostgreSQL instance.", "8Gi")


@dataclasses.dataclass(frozen=True)
class MLflowSettings:
    enabled: bool = enabled_field()
    replicas: int = spec_field(Int(minimum=1), "MLflow tracking server replicas.", default=1)
    host: Optional[str] = host_field(HOST)
    database: MLflowDatabaseSettings = spec_field(
        Section(MLflowDatabaseSettings), "MLflow's PostgreSQL database (CloudNativePG): runs, registry, users.", default={}
    )


def internal_host(namespace: str) -> str:
    return f"{SERVICE}.{namespace}.svc.cluster.local"


def tracking_uri(platform: Platform) -> str:
    """The in-cluster tracking URI a tenant's steps use (``MLFLOW_TRACKING_URI``): the Service on its port 80,
    so the Host header carries no port (the server accepts only the hosts it is told, see ``serverAllowedHosts``)."""
    return f"http://{internal_host(platform.unit('mlflow').namespace)}"


def artifact_location(tenant: Tenant, project: str) -> Optional[str]:
    """The artifact location the tenant's experiment ``<tenant>/<project>`` must be created with: in the tenant's
    first bucket, written by the tenant's client with the tenant's S3 credentials (the server holds none). None:
    a tenant without buckets has nowhere to keep artifacts."""
    return f"s3://{tenant.buckets[0]}/{ARTIFACT_PREFIX}/{project}/" if tenant.buckets else None


def _tag(reference: str) -> str:
    return reference.rsplit(":", 1)[1]


class MLflow(Unit[MLflowSettings]):
    name = "mlflow"
    catalog = "mlflow"
    namespace = "mlflow"
    # The chart's container securityContext meets restricted (values.yaml lines 83-92: no privilege escalation,
    # every capability dropped, non-root, read-only root); keelson adds the pod's seccomp profile. CloudNativePG's
    # instance pods and the users Job meet it too.
    pod_security = RESTRICTED
    depends_on = ("sealed-secrets", "cert-manager", "cloudnative-pg")
    settings_type = MLflowSettings
    settings_path = ("components", "mlflow")
    doc = "MLflow: experiment tracking and the model registry, one user per tenant."
    hosts = (HOST,)
    requires = (("cloudnative_pg", "MLflow's database is a CloudNativePG cluster"),)
    holds_secrets = True

    def values(self, platform: Platform) -> Document:
        settings = self.settings(platform)
        tag = _tag(CATALOG["components"][self.catalog]["images"]["mlflow"])
        # port: the chart's DB_PORT. The driver named (templates/deployment.yaml lines 34-35, auth_ini_configmap.yaml
        # lines 12-13: postgresql+psycopg2://): a bare postgresql:// is psycopg 3 under SQLAlchemy 2.1.
        database = {"enabled": True, "host": DB_HOST, "driver": DB_DRIVER}
        values: Document = {
            # values.yaml lines 9-43: the chart's repositories, and busybox 1.38.0 for the ini initializer (the catalog
            # pins the same); MLflow's tag pinned here rather than left to the chart's appVersion.
            "image": {"tag": tag},
            "initImages": {"mlflowDbMigration": {"tag": tag}},
            # Merged with the chart's fsGroup (values.yaml lines 79-81); templates/deployment.yaml lines 86-89 put it
            # on the pod, where restricted wants the seccomp profile.
            "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            # The tracking store: templates/configmap.yaml lines 8-12 set PGHOST/PGPORT/PGDATABASE from
            # backendStore.postgres; deployment.yaml lines 533-545 PGUSER/PGPASSWORD from existingDatabaseSecret, and
            # line 356 passes --backend-store-uri=postgresql:// (libpq reads the rest from the environment).
            # databaseMigration adds the init container mlflow-db-migration (lines 177-276), which upgrades the
            # schema before a new MLflow starts (configmap.yaml lines 48-93, utils._initialize_tables).
            "backendStore": {
                "databaseMigration": True,
                "postgres": {**database, "database": DB_NAME},
                # CloudNativePG's app Secret has the chart's default keys, username and password (lines 186-192).
                "existingDatabaseSecret": {"name": DB_APP_SECRET},
            },
            # The chart's own databases and object store stay off, as by default (values.yaml lines 194-232, 699-701).
            # basic-auth: templates/auth_ini_configmap.yaml lines 8-57 write default_permission, the database_uri
            # postgresql://<user>:<password>@host:port/database (placeholders the ini-file-initializer of
            # deployment.yaml lines 277-338 fills from auth.postgres.existingSecret and auth.existingAdminSecret),
            # and the admin; deployment.yaml line 380 passes --app-name=basic-auth (auth.appName's default) and
            # lines 426-428 MLFLOW_AUTH_CONFIG_PATH. The credentials are alphanumeric (the initializer's sed uses /
            # and the URI takes them unquoted).
            "auth": {
                "enabled": True,
                "defaultPermission": "NO_PERMISSIONS",
                "existingAdminSecret": {"name": ADMIN_SECRET},  # keys username, password (lines 294-300)
                "postgres": {
                    **database,
                    "database": AUTH_DB_NAME,
                    "existingSecret": {"name": DB_APP_SECRET},  # keys username, password (lines 332-338)
                },
            },
            # No artifact proxy: MLflow 3 serves artifacts by default; --no-serve-artifacts (extraFlags,
            # deployment.yaml lines 400-402, kebab-cased) turns the mlflow-artifacts API off, and no S3 credential
            # reaches the server (artifactRoot.s3 stays off: deployment.yaml lines 578-604 set none).
            "extraFlags": ["noServeArtifacts"],
            "artifactRoot": {"defaultArtifactRoot": NO_ARTIFACT_ROOT},
            # MLflow refuses a Host header it is not told (MLFLOW_SERVER_ALLOWED_HOSTS, configmap.yaml lines 41-43 from
            # the ingress hosts and these, _helpers.tpl lines 150-159): the in-cluster name the steps use.
            "serverAllowedHosts": [internal_host(self.namespace)],
            "extraSecretNamesForEnvFrom": [FLASK_SECRET],
            # MLflow 3.15's job runner (GenAI jobs: scorers, prompt optimisation; on by default,
            # mlflow/environment_variables.py MLFLOW_SERVER_ENABLE_JOB_EXECUTION) calls the server at
            # http://0.0.0.0:5000 (mlflow/server/__init__.py), a host the allowed hosts above refuse; the platform
            # runs no such jobs, so the runner and its worker processes stay off (extraEnvVars: deployment.yaml
            # lines 608-611).
            "extraEnvVars": {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            # The server never calls the API server: no token in its pod (values.yaml line 62 mounts one).
            "serviceAccount": {"automount": False},
            "ingress": {
                "enabled": True,
                "className": INGRESS_CLASS,
                "annotations": ingress_annotations(),
                "hosts": [{"host": settings.host, "paths": [{"path": "/", "pathType": "Prefix"}]}],
                "tls": [{"hosts": [settings.host], "secretName": "mlflow-tls"}],
            },
        }
        if settings.replicas != 1:
            values["replicaCount"] = settings.replicas  # values.yaml line 7: 1
        return values

    def manifests(self, platform: Platform) -> list[Document]:
        return [*self._database(platform), *self._users_job(platform)]

    def _database(self, platform: Platform) -> list[Document]:
        database = self.settings(platform).database
        cluster = database_cluster(DB_CLUSTER, self.namespace, database, DB_NAME, DB_OWNER)
        auth = {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Database",
            "metadata": {"name": f"{DB_CLUSTER}-auth", "namespace": self.namespace},
            # The auth app's users and permissions, apart from the tracking tables (each has its own migrations).
            "spec": {"name": AUTH_DB_NAME, "owner": DB_OWNER, "cluster": {"name": DB_CLUSTER}},
        }
        return [cluster, auth]

    def _users_job(self, platform: Platform) -> list[Document]:
        script_map = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": USERS_SCRIPT_MAP, "namespace": self.namespace},
            "data": {"users.py": SCRIPT.lstrip()},
        }
        users = [mlflow_user(tenant.name) for tenant in platform.spec.tenants]
        secret = {"secretKeyRef": {"name": ADMIN_SECRET}}
        spec: Document = {
            "backoffLimit": 30,
            # As Keycloak's realm import: under Argo CD a PostSync hook (after every sync, so a rotated password
            # is set again), under Flux recreated by the next reconciliation once gone.
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "spec": {
                    "restartPolicy": "OnFailure",
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 1001,
                        "runAsGroup": 1001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "users",
                            "image": CATALOG["components"][self.catalog]["images"]["mlflow"],
                            "command": ["python", "-B", "/script/users.py"],
                            "env": [
                                {"name": "MLFLOW_URL", "value": tracking_uri(platform)},
                                {"name": "ADMIN_USERNAME", "valueFrom": {"secretKeyRef": {**secret["secretKeyRef"], "key": "username"}}},
                                {"name": "ADMIN_PASSWORD", "valueFrom": {"secretKeyRef": {**secret["secretKeyRef"], "key": "password"}}},
                                {"name": "USERS_DIR", "value": "/users"},
                                {"name": "USER_PREFIX", "value": mlflow_user("")},
                                # The auth database, where the Job sets the admin's password when the server refuses
                                # the Secret's (the server makes its admin once and never changes its password).
                                {"name": "AUTH_DB_ADDRESS", "value": f"{DB_HOST}:{DB_PORT}"},
                                {"name": "AUTH_DB_NAME", "value": AUTH_DB_NAME},
                                {"name": "AUTH_DB_DRIVER", "value": DB_DRIVER},
                                {"name": "DB_USERNAME", "valueFrom": {"secretKeyRef": {"name": DB_APP_SECRET, "key": "username"}}},
                                {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": DB_APP_SECRET, "key": "password"}}},
                            ],
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                                "readOnlyRootFilesystem": True,
                            },
                            "volumeMounts": [
                                {"name": "script", "mountPath": "/script", "readOnly": True},
                                {"name": "users", "mountPath": "/users", "readOnly": True},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "script", "configMap": {"name": USERS_SCRIPT_MAP}},
                        # No tenant: an empty Secret has no data, so the volume may be missing; optional keeps the Job
                        # running (and deleting every tenant user).
                        {"name": "users", "secret": {"secretName": USERS_SECRET, "optional": True}},
                    ],
                }
            },
        }
        # A new set of users, script or spec is a Job of a new name; the passwords are not in the digest.
        digest = hashlib.sha256(json.dumps([users, SCRIPT, spec], sort_keys=True).encode()).hexdigest()[:10]
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": f"keelson-mlflow-users-{digest}",
                "namespace": self.namespace,
                "annotations": {
                    "argocd.argoproj.io/hook": "PostSync",
                    "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation,HookSucceeded",
                },
            },
            "spec": spec,
        }
        return [script_map, job]

    def credentials(self, platform: Platform) -> list[Credential]:
        return [
            Credential("mlflow-admin-password", "alnum", 32, "MLflow's admin", (Target(self.namespace, ADMIN_SECRET, "password"),)),
            Credential(
                "mlflow-flask-secret-key",
                "alnum",
                64,
                "MLflow's Flask secret key",
                (Target(self.namespace, FLASK_SECRET, FLASK_SECRET_KEY),),
            ),
        ]

    def tenant_credentials(self, platform: Platform, tenant: Tenant) -> list[Credential]:
        user = mlflow_user(tenant.name)
        return [
            Credential(
                f"tenant-{tenant.name}-mlflow-password",
                "alnum",
                32,
                f"MLflow password of tenant {tenant.name}",
                (Target(tenant.namespaces[0], MLFLOW_SECRET, MLFLOW_PASSWORD_KEY), Target(self.namespace, USERS_SECRET, user)),
            )
        ]

    def plain(self, platform: Platform) -> dict[tuple[str, str], dict[str, str]]:
        plain = {(self.namespace, ADMIN_SECRET): {"username": ADMIN_USER}}
        for tenant in platform.spec.tenants:
            plain[(tenant.namespaces[0], MLFLOW_SECRET)] = {MLFLOW_USERNAME_KEY: mlflow_user(tenant.name)}
        return plain

    def used_by(self, tenant: Tenant) -> bool:
        return True  # every tenant has an MLflow user

    def network(self, platform: Platform) -> Network:
        # Its database's pods run CloudNativePG's instance manager, which watches the API server. The server talks
        # to PostgreSQL in its own namespace and to nothing else (no object store: it holds no S3 credential).
        return Network(api=True, tenant_ports=(CONTAINER_PORT,))

    def chart_pods(self, values: Document) -> Optional[list[tuple[str, Document]]]:
        # charts/mlflow/templates/deployment.yaml (mlflow-1.11.5): the pod's securityContext = podSecurityContext
        # (lines 86-89); init containers dbchecker (lines 93-98) and mlflow-db-migration (lines 177-182) with a
        # database and their switch, ini-file-initializer with auth or ldapAuth (lines 277-282), each with
        # securityContext, then initContainers as given (lines 339-341); the container mlflow with securityContext
        # (lines 343-347), extraContainers (lines 647-649), oauth2-proxy with none (lines 650-694); volumes
        # (lines 710-738): tmp, the dbchecker and migrations ConfigMaps, the ini emptyDir and template ConfigMap,
        # the LDAP CA Secret, extraVolumes. No host namespaces, no host ports.
        context = dict(values.get("securityContext") or {})
        store = dict(values.get("backendStore") or {})
        database = any((store.get(kind) or {}).get("enabled") for kind in ("postgres", "mysql", "mssql")) or any(
            (values.get(kind) or {}).get("enabled") for kind in ("postgresql", "mysql")
        )
        auth = bool((values.get("auth") or {}).get("enabled")) or bool((values.get("ldapAuth") or {}).get("enabled"))
        init: list[Document] = []
        volumes: list[Document] = [{"name": "tmp", "emptyDir": {}}]
        if database and store.get("databaseConnectionCheck"):
            init.append({"name": "dbchecker", "securityContext": context})
            volumes.append({"name": "dbchecker", "configMap": {"name": "mlflow-dbchecker"}})
        if database and store.get("databaseMigration"):
            init.append({"name": "mlflow-db-migration", "securityContext": context})
            volumes.append({"name": "migrations-config", "configMap": {"name": "mlflow-migrations"}})
        if auth:
            init.append({"name": "ini-file-initializer", "securityContext": context})
            volumes.append({"name": "ini-file", "emptyDir": {}})
            volumes.append({"name": "auth-ini-template-file", "configMap": {"name": "mlflow-auth-ini-template"}})
            ldap = dict(values.get("ldapAuth") or {})
            if ldap.get("encodedTrustedCACertificate") or ldap.get("externalSecretForTrustedCACertificate"):
                volumes.append({"name": "trusted-ca-cert-secret", "secret": {"secretName": "mlflow-trusted-ca-cert-secret"}})
        init += list(values.get("initContainers") or [])
        containers: list[Document] = [{"name": "mlflow", "securityContext": context}, *(values.get("extraContainers") or [])]
        if (values.get("oauth2Proxy") or {}).get("enabled"):
            containers.append({"name": "oauth2-proxy"})
        spec: Document = {
            "securityContext": dict(values.get("podSecurityContext") or {}),
            "containers": containers,
            "volumes": [*volumes, *(values.get("extraVolumes") or [])],
        }
        if init:
            spec["initContainers"] = init
        return [("Deployment mlflow", spec)]


UNIT = MLflow()
