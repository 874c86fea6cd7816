# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The platform's components as data: for each, its chart (from the catalog), the values where keelson
differs from the chart's defaults, the namespace, the sync order, and extra manifests (ingresses, issuers,
realm as code).

Every values key set here must exist in the chart's values.yaml (or its values.schema.json), and no value may
merely restate the chart's default; the tests check both against ../shared/platform-data, with commented
allow-lists. Images are the chart version's defaults: the catalog lists them for review and its tests keep
them equal (tests/unit/plugins/module_utils/test_catalog.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.plugin_utils._platform_secrets import WEAVIATE_BACKUP_USER, s3_user

CLUSTER_ISSUER: Final = "keelson-platform-ca"
INGRESS_CLASS: Final = "traefik"
# Namespaces of the platform's components, and the Pod Security level each needs.
NAMESPACES: Final[dict[str, str]] = {
    "argocd": "baseline",
    "flux-system": "baseline",
    "sealed-secrets": "restricted",
    "cert-manager": "restricted",
    "minio": "baseline",
    "weaviate": "baseline",
    "monitoring": "privileged",  # node-exporter reads the host
    "keycloak": "baseline",
}


@dataclasses.dataclass(frozen=True)
class Component:
    name: str  # also the Argo CD Application / Flux HelmRelease name
    catalog: str  # key in CATALOG["components"]
    namespace: str
    wave: int  # Argo CD sync wave; Flux dependsOn follows the same order
    values: dict[str, Any]
    manifests: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # rendered beside the chart
    server_side_apply: bool = False
    depends_on: tuple[str, ...] = ()

    @property
    def chart(self) -> dict[str, str]:
        return dict(CATALOG["components"][self.catalog]["chart"])


def _ingress_annotations() -> dict[str, str]:
    return {"cert-manager.io/cluster-issuer": CLUSTER_ISSUER}


def _chart_ingress(host: str, secret: str) -> dict[str, Any]:
    """The ingress values of the charts that take hosts and tls lists (MinIO's two, Grafana's)."""
    return {
        "enabled": True,
        "ingressClassName": INGRESS_CLASS,
        "annotations": _ingress_annotations(),
        "hosts": [host],
        "tls": [{"secretName": secret, "hosts": [host]}],
    }


def ingress(name: str, namespace: str, host: str, service: str, port: int) -> dict[str, Any]:
    """A TLS ingress through k3s' Traefik, its certificate from the platform's issuer."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace, "annotations": _ingress_annotations()},
        "spec": {
            "ingressClassName": INGRESS_CLASS,
            "tls": [{"hosts": [host], "secretName": f"{name}-tls"}],
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": service, "port": {"number": port}}}}]
                    },
                }
            ],
        },
    }


def issuer_url(spec: dict[str, Any]) -> str:
    return f"https://{spec['components']['keycloak']['host']}/realms/{spec['identity']['realm']}"


# --------------------------------------------------------------------------------------- components


def _sealed_secrets() -> Component:
    return Component(
        "sealed-secrets",
        "sealed_secrets",
        "sealed-secrets",
        0,
        {
            "fullnameOverride": "sealed-secrets-controller",
            # keelson owns the keys (backed up, rotated on purpose): no silent rotation by the controller.
            "keyrenewperiod": "0",
        },
    )


def _cert_manager(spec: dict[str, Any]) -> Component:
    settings = spec["components"]["cert_manager"]
    if settings["issuer"] == "acme":
        issuer: dict[str, Any] = {
            "apiVersion": "cert-manager.io/v1",
            "kind": "ClusterIssuer",
            "metadata": {"name": CLUSTER_ISSUER},
            "spec": {
                "acme": {
                    "email": settings["acme_email"],
                    "server": settings["acme_server"],
                    "privateKeySecretRef": {"name": f"{CLUSTER_ISSUER}-account"},
                    "solvers": [{"http01": {"ingress": {"ingressClassName": INGRESS_CLASS}}}],
                }
            },
        }
        manifests = [issuer]
    else:
        # A self-signed root, a CA certificate from it, and the issuer every ingress uses.
        manifests = [
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "ClusterIssuer",
                "metadata": {"name": "keelson-selfsigned"},
                "spec": {"selfSigned": {}},
            },
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "Certificate",
                "metadata": {"name": CLUSTER_ISSUER, "namespace": "cert-manager"},
                "spec": {
                    "isCA": True,
                    "commonName": f"{spec['name']} platform CA",
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
    return Component(
        "cert-manager",
        "cert_manager",
        "cert-manager",
        0,
        {"crds": {"enabled": True}},
        manifests,
        server_side_apply=True,
    )


def _minio(spec: dict[str, Any]) -> Component:
    settings = spec["components"]["minio"]
    weaviate = spec["components"]["weaviate"]
    buckets = [{"name": bucket, "policy": "none", "purge": False} for tenant in spec["tenants"] for bucket in tenant["buckets"]]
    policies = []
    users = []
    for tenant in spec["tenants"]:
        if not tenant["buckets"]:
            continue
        resources = [f"arn:aws:s3:::{bucket}{suffix}" for bucket in tenant["buckets"] for suffix in ("", "/*")]
        policies.append({"name": s3_user(tenant["name"]), "statements": [{"resources": resources, "actions": ["s3:*"]}]})
        users.append(
            {
                "accessKey": s3_user(tenant["name"]),
                "existingSecret": f"tenant-{tenant['name']}-user",
                "existingSecretKey": "secretKey",
                "policy": s3_user(tenant["name"]),
            }
        )
    if spec["components"]["keycloak"]["enabled"]:
        # People log in to the console through Keycloak; MinIO maps their groups claim to policies of the
        # same names: platform admins administer MinIO, a tenant's admin and edit groups read and write its
        # buckets, its view group reads them.
        policies.append(
            {
                "name": spec["identity"]["admins_group"],
                "statements": [{"resources": ["arn:aws:s3:::*"], "actions": ["s3:*"]}, {"actions": ["admin:*"]}],
            }
        )
        for tenant in spec["tenants"]:
            if not tenant["buckets"]:
                continue
            resources = [f"arn:aws:s3:::{bucket}{suffix}" for bucket in tenant["buckets"] for suffix in ("", "/*")]
            for role in ("admin", "edit"):
                policies.append({"name": tenant["groups"][role], "statements": [{"resources": resources, "actions": ["s3:*"]}]})
            policies.append(
                {
                    "name": tenant["groups"]["view"],
                    "statements": [{"resources": resources, "actions": ["s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject"]}],
                }
            )
    if weaviate["enabled"] and weaviate["backup_bucket"]:
        bucket = weaviate["backup_bucket"]
        buckets.append({"name": bucket, "policy": "none", "purge": False})
        policies.append(
            {
                "name": WEAVIATE_BACKUP_USER,
                "statements": [{"resources": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"], "actions": ["s3:*"]}],
            }
        )
        users.append(
            {
                "accessKey": WEAVIATE_BACKUP_USER,
                "existingSecret": "weaviate-backup-user",
                "existingSecretKey": "secretKey",
                "policy": WEAVIATE_BACKUP_USER,
            }
        )
    values: dict[str, Any] = {
        "replicas": settings["replicas"],
        "existingSecret": "minio-root",
        "persistence": {"size": settings["storage"]},
        # The chart asks for 16Gi of memory by default; a small platform cannot give that.
        "resources": {"requests": {"memory": "1Gi"}},
        "ingress": _chart_ingress(settings["host"], "minio-tls"),
        "consoleIngress": _chart_ingress(settings["console_host"], "minio-console-tls"),
        "buckets": buckets,
        "policies": policies,
        "users": users,
    }
    if settings["replicas"] == 1:
        values["mode"] = "standalone"  # the chart's default is distributed
    if spec["components"]["keycloak"]["enabled"]:
        values["oidc"] = {
            "enabled": True,
            "configUrl": f"{issuer_url(spec)}/.well-known/openid-configuration",
            "existingClientSecretName": "minio-oidc",
            "existingClientSecretKey": "clientSecret",
            "claimName": "groups",
            "redirectUri": f"https://{settings['console_host']}/oauth_callback",
        }
    return Component("minio", "minio", "minio", 2, values, depends_on=("sealed-secrets", "cert-manager"))


def _weaviate(spec: dict[str, Any]) -> Component:
    settings = spec["components"]["weaviate"]
    users = [tenant["name"] for tenant in spec["tenants"] if tenant["weaviate"]]
    env: dict[str, Any] = {"AUTHENTICATION_APIKEY_ENABLED": "true"}
    env_secrets: dict[str, str] = {}
    if users:
        env["AUTHENTICATION_APIKEY_USERS"] = ",".join(users)
        env_secrets["AUTHENTICATION_APIKEY_ALLOWED_KEYS"] = "weaviate-api-keys"
    values: dict[str, Any] = {
        "replicas": settings["replicas"],
        "storage": {"size": settings["storage"]},
        "authentication": {"anonymous_access": {"enabled": False}},
        "env": env,
        "envSecrets": env_secrets,
    }
    if settings["backup_bucket"]:
        values["backups"] = {
            "s3": {
                "enabled": True,
                "envconfig": {
                    "BACKUP_S3_BUCKET": settings["backup_bucket"],
                    "BACKUP_S3_ENDPOINT": "minio.minio.svc.cluster.local:9000",
                    "BACKUP_S3_USE_SSL": "false",
                },
                "envSecrets": {"AWS_ACCESS_KEY_ID": "weaviate-backup-s3", "AWS_SECRET_ACCESS_KEY": "weaviate-backup-s3"},
            }
        }
    if spec["components"]["keycloak"]["enabled"]:
        # People and tools with a Keycloak token; the tenants' services use their API keys.
        values["authentication"]["oidc"] = {
            "enabled": True,
            "issuer": issuer_url(spec),
            "username_claim": "preferred_username",
            "groups_claim": "groups",
            "client_id": "weaviate",
        }
    manifests = [ingress("weaviate", "weaviate", settings["host"], "weaviate", 80)]
    return Component(
        "weaviate",
        "weaviate",
        "weaviate",
        3,
        values,
        manifests,
        depends_on=("minio",) if settings["backup_bucket"] else ("sealed-secrets",),
    )


DASHBOARD_LABEL: Final = {"grafana_dashboard": "1"}  # what the chart's Grafana sidecar looks for
FOLDER_ANNOTATION: Final = "keelson.dev/grafana-folder"


def _panel(index: int, title: str, unit: str, targets: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + number), "expr": expr, "legendFormat": legend} for number, (expr, legend) in enumerate(targets)
        ],
    }


def _dashboard(uid: str, title: str, panels: list[dict[str, Any]], folder: str) -> dict[str, Any]:
    board = {
        "uid": uid,
        "title": title,
        "tags": ["keelson"],
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "panels": panels,
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"dashboard-{uid}",
            "namespace": "monitoring",
            "labels": dict(DASHBOARD_LABEL),
            "annotations": {FOLDER_ANNOTATION: folder},
        },
        "data": {f"{uid}.json": json.dumps(board, indent=2, sort_keys=True) + "\n"},
    }


def dashboards(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The platform dashboard, and one quota-usage dashboard per tenant in the tenant's own folder."""
    platform = _dashboard(
        "keelson-platform",
        f"{spec['name']}: platform",
        [
            _panel(
                0,
                "CPU used per node",
                "percentunit",
                [('1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))', "{{instance}}")],
            ),
            _panel(
                1,
                "Memory used per node",
                "percentunit",
                [("1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes", "{{instance}}")],
            ),
            _panel(
                2,
                "CPU requested per tenant",
                "none",
                [
                    (
                        'sum by (label_keelson_dev_tenant) (kube_resourcequota{type="used", resource="requests.cpu"}'
                        " * on (namespace) group_left (label_keelson_dev_tenant) kube_namespace_labels)",
                        "{{label_keelson_dev_tenant}}",
                    )
                ],
            ),
            _panel(3, "Pods not ready", "none", [('sum by (namespace) (kube_pod_status_ready{condition="false"})', "{{namespace}}")]),
        ],
        "platform",
    )
    result = [platform]
    for tenant in spec["tenants"]:
        selector = "|".join(tenant["namespaces"])
        panels = []
        for index, (resource, unit) in enumerate(
            (
                ("requests.cpu", "none"),
                ("requests.memory", "bytes"),
                ("requests.nvidia.com/gpu", "none"),
                ("requests.storage", "bytes"),
                ("pods", "none"),
                ("persistentvolumeclaims", "none"),
            )
        ):
            expr = f'sum by (type) (kube_resourcequota{{namespace=~"{selector}", resource="{resource}"}})'
            panels.append(_panel(index, f"{resource}: used and hard limit", unit, [(expr, "{{type}}")]))
        result.append(
            _dashboard(f"keelson-tenant-{tenant['name']}", f"Tenant {tenant['name']}: quota usage", panels, f"tenant-{tenant['name']}")
        )
    return result


def _monitoring(spec: dict[str, Any]) -> Component:
    settings = spec["components"]["monitoring"]
    grafana: dict[str, Any] = {
        # Dashboards from ConfigMaps, each in the folder its annotation names (a folder per tenant).
        "sidecar": {"dashboards": {"folderAnnotation": FOLDER_ANNOTATION, "provider": {"foldersFromFilesStructure": True}}},
        "admin": {"existingSecret": "grafana-admin"},  # with the chart's keys admin-user and admin-password
        "ingress": _chart_ingress(settings["grafana_host"], "grafana-tls"),
    }
    if spec["components"]["keycloak"]["enabled"]:
        admins = spec["identity"]["admins_group"]
        issuer = issuer_url(spec)
        grafana["envValueFrom"] = {
            "GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET": {"secretKeyRef": {"name": "grafana-oidc", "key": "client-secret"}}
        }
        grafana["grafana.ini"] = {
            "server": {"root_url": f"https://{settings['grafana_host']}"},
            "auth.generic_oauth": {
                "enabled": True,
                "name": "Keycloak",
                "client_id": "grafana",
                "scopes": "openid profile email groups",
                "auth_url": f"{issuer}/protocol/openid-connect/auth",
                "token_url": f"{issuer}/protocol/openid-connect/token",
                "api_url": f"{issuer}/protocol/openid-connect/userinfo",
                "groups_attribute_path": "groups",
                "role_attribute_path": f"contains(groups[*], '{admins}') && 'Admin' || 'Viewer'",
                "allow_assign_grafana_admin": True,
            },
        }
    storage = {
        "volumeClaimTemplate": {
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": settings["prometheus_storage"]}}}
        }
    }
    values = {
        "prometheus": {
            "prometheusSpec": {
                "retention": settings["retention"],
                "storageSpec": storage,
                # Watch ServiceMonitors and PodMonitors of every namespace, not only this release's.
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
            }
        },
        # The tenant label on namespaces, for the platform dashboard's per-tenant sums.
        "kube-state-metrics": {"metricLabelsAllowlist": ["namespaces=[keelson.dev/tenant]"]},
        "grafana": grafana,
    }
    if not settings["alertmanager"]:
        values["alertmanager"] = {"enabled": False}
    return Component(
        "monitoring",
        "monitoring",
        "monitoring",
        1,
        values,
        dashboards(spec),
        server_side_apply=True,
        depends_on=("sealed-secrets", "cert-manager"),
    )


def realm(spec: dict[str, Any]) -> dict[str, Any]:
    """The Keycloak realm as code (keycloak-config-cli): groups, the groups claim, and the OIDC clients.
    Client secrets are ``$(env:...)`` references that the import Job reads from sealed Secrets."""
    components = spec["components"]
    groups = [{"name": spec["identity"]["admins_group"]}]
    for tenant in spec["tenants"]:
        groups += [{"name": tenant["groups"][role]} for role in ("admin", "edit", "view")]
    groups_mapper = {
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

    def client(client_id: str, redirect: list[str], secret_env: Optional[str]) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "clientId": client_id,
            "enabled": True,
            "protocol": "openid-connect",
            "standardFlowEnabled": True,
            "redirectUris": redirect,
            "webOrigins": ["+"],
            "publicClient": secret_env is None,
            "protocolMappers": [groups_mapper],
        }
        if secret_env:
            entry["secret"] = f"$(env:{secret_env})"
        return entry

    clients = [client("kubernetes", ["http://localhost:8000", "http://localhost:18000"], None)]
    if spec["gitops"]["engine"] == "argocd":
        clients.append(client("argocd", [f"https://{spec['gitops']['argocd']['host']}/auth/callback"], "ARGOCD_CLIENT_SECRET"))
    if components["monitoring"]["enabled"]:
        clients.append(
            client("grafana", [f"https://{components['monitoring']['grafana_host']}/login/generic_oauth"], "GRAFANA_CLIENT_SECRET")
        )
    if components["minio"]["enabled"]:
        clients.append(client("minio", [f"https://{components['minio']['console_host']}/oauth_callback"], "MINIO_CLIENT_SECRET"))
    if components["weaviate"]["enabled"]:
        clients.append(client("weaviate", [f"https://{components['weaviate']['host']}/*"], None))
    return {"realm": spec["identity"]["realm"], "enabled": True, "groups": groups, "clients": clients}


def _keycloak(spec: dict[str, Any]) -> Component:
    settings = spec["components"]["keycloak"]
    env = [
        {"name": "KC_BOOTSTRAP_ADMIN_USERNAME", "valueFrom": {"secretKeyRef": {"name": "keycloak-admin", "key": "username"}}},
        {"name": "KC_BOOTSTRAP_ADMIN_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "keycloak-admin", "key": "password"}}},
        {"name": "KC_HOSTNAME", "value": f"https://{settings['host']}"},
        {"name": "KC_PROXY_HEADERS", "value": "xforwarded"},
        {"name": "KC_HTTP_ENABLED", "value": "true"},
    ]
    values = {
        "replicas": settings["replicas"],
        "command": ["/opt/keycloak/bin/kc.sh", "start", "--http-port=8080", "--health-enabled=true"],
        # The chart's extraEnv is a template string.
        "extraEnv": json.dumps(env),
        # An embedded H2 database: enough for one replica; point database at PostgreSQL for production.
        "database": {"vendor": "dev-file"},
        "http": {"relativePath": "/"},
        "ingress": {
            "enabled": True,
            "ingressClassName": INGRESS_CLASS,
            "annotations": _ingress_annotations(),
            "rules": [{"host": settings["host"], "paths": [{"path": "/", "pathType": "Prefix"}]}],
            "tls": [{"hosts": [settings["host"]], "secretName": "keycloak-tls"}],
        },
    }
    realm_json = json.dumps(realm(spec), indent=2, sort_keys=True) + "\n"
    realm_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "keelson-realm", "namespace": "keycloak"},
        "data": {"realm.json": realm_json},
    }
    secret_env = [
        {"name": name, "valueFrom": {"secretKeyRef": {"name": "keycloak-oidc-clients", "key": client}}}
        for name, client in (("ARGOCD_CLIENT_SECRET", "argocd"), ("GRAFANA_CLIENT_SECRET", "grafana"), ("MINIO_CLIENT_SECRET", "minio"))
        if f"$(env:{name})" in realm_json
    ]
    digest = hashlib.sha256(realm_json.encode()).hexdigest()[:10]
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            # A new realm is a new Job (Jobs cannot be changed in place); Flux replaces it by name.
            "name": f"keelson-realm-import-{digest}",
            "namespace": "keycloak",
            # Argo CD runs it after every sync: the realm is applied idempotently each time.
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
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [
                        {
                            "name": "keycloak-config-cli",
                            "image": CATALOG["components"]["keycloak"]["images"]["config_cli"],
                            "env": [
                                {"name": "KEYCLOAK_URL", "value": "http://keycloak-keycloakx-http.keycloak.svc.cluster.local"},
                                {"name": "KEYCLOAK_USER", "valueFrom": {"secretKeyRef": {"name": "keycloak-admin", "key": "username"}}},
                                {"name": "KEYCLOAK_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "keycloak-admin", "key": "password"}}},
                                {"name": "KEYCLOAK_AVAILABILITYCHECK_ENABLED", "value": "true"},
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
        },
    }
    return Component("keycloak", "keycloak", "keycloak", 2, values, [realm_map, job], depends_on=("sealed-secrets", "cert-manager"))


def _argocd(spec: dict[str, Any]) -> Component:
    settings = spec["gitops"]["argocd"]
    host = settings["host"]
    policy = [f"g, {spec['identity']['admins_group']}, role:admin"]
    for tenant in spec["tenants"]:
        project = f"tenant-{tenant['name']}"
        policy += [
            f"g, {tenant['groups']['admin']}, proj:{project}:admin",
            f"g, {tenant['groups']['edit']}, proj:{project}:edit",
            f"g, {tenant['groups']['view']}, proj:{project}:view",
        ]
    configs: dict[str, Any] = {
        "params": {"server.insecure": True},  # TLS ends at Traefik
        # Nobody gets a role by default (the chart's default too); Keycloak groups get theirs here.
        "rbac": {"policy.csv": "\n".join(policy) + "\n"},
        "cm": {"url": f"https://{host}"},
    }
    if spec["components"]["keycloak"]["enabled"]:
        oidc = {
            "name": "Keycloak",
            "issuer": issuer_url(spec),
            "clientID": "argocd",
            "clientSecret": "$argocd-oidc:clientSecret",
            "requestedScopes": ["openid", "profile", "email", "groups"],
        }
        configs["cm"]["oidc.config"] = json.dumps(oidc, sort_keys=True)
    values: dict[str, Any] = {
        "global": {"domain": host},
        "configs": configs,
        "dex": {"enabled": False},
        "server": {
            "ingress": {"enabled": True, "ingressClassName": INGRESS_CLASS, "annotations": _ingress_annotations(), "tls": True},
        },
    }
    if settings["ha"]:
        values["redis-ha"] = {"enabled": True}
        values["server"]["replicas"] = 2
        values["repoServer"] = {"replicas": 2}
        values["applicationSet"] = {"replicas": 2}
    return Component("argocd", "argocd", "argocd", -1, values, server_side_apply=True)


def _flux_operator() -> Component:
    """The operator that runs Flux, managing itself from here on (the same chart and version bootstrap installs)."""
    return Component("flux-operator", "flux_operator", "flux-system", -1, {})


def components(spec: dict[str, Any]) -> list[Component]:
    """Every enabled component, in sync order (Argo CD's own chart first when it is the engine)."""
    settings = spec["components"]
    result: list[Component] = []
    result.append(_argocd(spec) if spec["gitops"]["engine"] == "argocd" else _flux_operator())
    if settings["sealed_secrets"]["enabled"]:
        result.append(_sealed_secrets())
    if settings["cert_manager"]["enabled"]:
        result.append(_cert_manager(spec))
    if settings["monitoring"]["enabled"]:
        result.append(_monitoring(spec))
    if settings["minio"]["enabled"]:
        result.append(_minio(spec))
    if settings["keycloak"]["enabled"]:
        result.append(_keycloak(spec))
    if settings["weaviate"]["enabled"]:
        result.append(_weaviate(spec))
    return result
