# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Keycloak (keycloakx chart, the official image): identity for people. The realm is code: a group per tenant
role and the platform admins, the groups claim, and the OIDC client every other component asks for
(:meth:`Unit.oidc_client`), applied by a keycloak-config-cli Job."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import TYPE_CHECKING, Any, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import (
    BASELINE,
    INGRESS_CLASS,
    Credential,
    Document,
    HostClaim,
    OidcClient,
    Target,
    Unit,
    enabled_field,
    host_field,
    ingress_annotations,
)
from ansible_collections.keelson.platform.plugins.module_utils._schema import Int, spec_field
from ansible_collections.keelson.platform.plugins.module_utils._yaml import dump_one

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

HOST: Final = HostClaim("host", "keycloak", "Keycloak")
ADMIN_SECRET: Final = "keycloak-admin"
CLIENTS_SECRET: Final = "keycloak-oidc-clients"  # every confidential client's secret, read by the import Job
# The Kubernetes API server's own client (kubectl's OIDC login) and how it names people and groups.
API_SERVER_CLIENT: Final = OidcClient("kubernetes", ("http://localhost:8000", "http://localhost:18000"))
OIDC_PREFIX: Final = "oidc:"


@dataclasses.dataclass(frozen=True)
class KeycloakSettings:
    enabled: bool = enabled_field()
    replicas: int = spec_field(Int(minimum=1), "Keycloak replicas.", default=1)
    host: Optional[str] = host_field(HOST)


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
    depends_on = ("sealed-secrets", "cert-manager")
    settings_type = KeycloakSettings
    settings_path = ("components", "keycloak")
    doc = "Keycloak: identity, groups and OIDC clients."
    hosts = (HOST,)
    holds_secrets = True

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
                "protocolMappers": [groups_mapper],
            }
            if client.secret is not None:
                entry["secret"] = f"$(env:{_secret_env(client.client_id)})"
            clients.append(entry)
        return {"realm": platform.spec.identity.realm, "enabled": True, "groups": groups, "clients": clients}

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
            # An embedded H2 database: enough for one replica; point database at PostgreSQL for production.
            "database": {"vendor": "dev-file"},
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
        digest = hashlib.sha256(realm_json.encode()).hexdigest()[:10]
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                # A new realm is a new Job (Jobs cannot be changed in place); Flux replaces it by name.
                "name": f"keelson-realm-import-{digest}",
                "namespace": self.namespace,
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
                                "image": CATALOG["components"][self.catalog]["images"]["config_cli"],
                                "env": [
                                    {"name": "KEYCLOAK_URL", "value": f"http://keycloak-keycloakx-http.{self.namespace}.svc.cluster.local"},
                                    {"name": "KEYCLOAK_USER", "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": "username"}}},
                                    {"name": "KEYCLOAK_PASSWORD", "valueFrom": {"secretKeyRef": {"name": ADMIN_SECRET, "key": "password"}}},
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
        return [realm_map, job]

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
        return result

    def plain(self, platform: Platform) -> dict[tuple[str, str], dict[str, str]]:
        return {(self.namespace, ADMIN_SECRET): {"username": "keelson-admin"}}

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
