# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kube-prometheus-stack: Prometheus, Alertmanager and Grafana (OIDC, a platform dashboard, a quota dashboard per
tenant in the tenant's own folder)."""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import TYPE_CHECKING, Any, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils._components._unit import (
    CA_KEY,
    CA_SECRET,
    PRIVILEGED,
    Credential,
    Document,
    HostClaim,
    Network,
    OidcClient,
    Target,
    Unit,
    ca_config_map,
    chart_ingress,
    enabled_field,
    host_field,
    namespace_selector,
    network_policy,
    quantity_field,
)
from ansible_collections.keelson.platform.plugins.module_utils._formats import check_duration
from ansible_collections.keelson.platform.plugins.module_utils._schema import Bool, Str, spec_field

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.module_utils._spec_model import Tenant
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

GRAFANA_HOST: Final = HostClaim("grafana_host", "grafana", "Grafana")
DASHBOARD_LABEL: Final = {"grafana_dashboard": "1"}  # what the chart's Grafana sidecar looks for
FOLDER_ANNOTATION: Final = "keelson.dev/grafana-folder"
ADMIN_SECRET: Final = "grafana-admin"  # with the chart's keys admin-user and admin-password
OIDC_SECRET: Final = Target("monitoring", "grafana-oidc", "client-secret")
CA_MOUNT: Final = "/etc/keelson/platform-ca"
# The control-plane parts k3s embeds in its own process (kube-prometheus-stack's value keys).
K3S_EMBEDDED: Final = ("kubeEtcd", "kubeScheduler", "kubeControllerManager", "kubeProxy")


@dataclasses.dataclass(frozen=True)
class MonitoringSettings:
    enabled: bool = enabled_field()
    retention: str = spec_field(Str(check_duration, type_doc="duration"), "Prometheus retention.", default="15d")
    prometheus_storage: str = quantity_field("Prometheus volume size.", "50Gi")
    alertmanager: bool = spec_field(Bool(), "Run Alertmanager.", default=True)
    grafana_host: Optional[str] = host_field(GRAFANA_HOST)


def _panel(index: int, title: str, unit: str, targets: list[tuple[str, str]]) -> Document:
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


def _board(uid: str, title: str, panels: list[Document]) -> str:
    board = {
        "uid": uid,
        "title": title,
        "tags": ["keelson"],
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "panels": panels,
    }
    return json.dumps(board, indent=2, sort_keys=True) + "\n"


def _config_map(namespace: str, uid: str, board: str, folder: str) -> Document:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"dashboard-{uid}",
            "namespace": namespace,
            "labels": dict(DASHBOARD_LABEL),
            "annotations": {FOLDER_ANNOTATION: folder},
        },
        "data": {f"{uid}.json": board},
    }


def _dashboard(namespace: str, uid: str, title: str, panels: list[Document], folder: str) -> Document:
    return _config_map(namespace, uid, _board(uid, title, panels), folder)


# Stand-ins for a tenant's name and namespace selector in the tenant dashboard's JSON text: every tenant's
# board is that text with its own values put in (json.dumps with indent is slow, and a board per tenant adds up).
_NAME, _SELECTOR = "\u0001name\u0001", "\u0001selector\u0001"


@functools.lru_cache(maxsize=1)
def _tenant_board() -> str:
    panels = [
        _panel(
            index,
            f"{resource}: used and hard limit",
            unit,
            [(f'sum by (type) (kube_resourcequota{{namespace=~"{_SELECTOR}", resource="{resource}"}})', "{{type}}")],
        )
        for index, (resource, unit) in enumerate(_QUOTA_PANELS)
    ]
    return _board(f"keelson-tenant-{_NAME}", f"Tenant {_NAME}: quota usage", panels)


def _json_text(value: str) -> str:
    """``value`` as it stands inside a JSON string."""
    return json.dumps(value)[1:-1]


_QUOTA_PANELS: Final = (
    ("requests.cpu", "none"),
    ("requests.memory", "bytes"),
    ("requests.nvidia.com/gpu", "none"),
    ("requests.storage", "bytes"),
    ("pods", "none"),
    ("persistentvolumeclaims", "none"),
)


class Monitoring(Unit[MonitoringSettings]):
    name = "monitoring"
    catalog = "monitoring"
    namespace = "monitoring"
    pod_security = PRIVILEGED  # node-exporter reads the host
    depends_on = ("sealed-secrets", "cert-manager")
    settings_type = MonitoringSettings
    settings_path = ("components", "monitoring")
    doc = "kube-prometheus-stack: Prometheus, Alertmanager, Grafana."
    hosts = (GRAFANA_HOST,)
    holds_secrets = True
    server_side_apply = True
    crd_groups = ("monitoring.coreos.com",)

    def values(self, platform: Platform) -> Document:
        settings = self.settings(platform)
        host = self.host(platform, GRAFANA_HOST.field)
        grafana: dict[str, Any] = {
            # Dashboards from ConfigMaps, each in the folder its annotation names (a folder per tenant).
            "sidecar": {"dashboards": {"folderAnnotation": FOLDER_ANNOTATION, "provider": {"foldersFromFilesStructure": True}}},
            "admin": {"existingSecret": ADMIN_SECRET},
            "ingress": chart_ingress(host, "grafana-tls"),
        }
        issuer = platform.issuer_url
        if issuer:
            admins = platform.spec.identity.admins_group
            grafana["envValueFrom"] = {
                "GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET": {"secretKeyRef": {"name": OIDC_SECRET.secret, "key": OIDC_SECRET.key}}
            }
            grafana["grafana.ini"] = {
                "server": {"root_url": f"https://{host}"},
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
                    "tls_skip_verify_insecure": False,
                },
            }
            if platform.ca_certificate:
                # Grafana verifies Keycloak against the platform CA, mounted from the ConfigMap beside the chart
                # (grafana chart 12.11.1 templates/_pod.tpl: extraConfigmapMounts -> volumeMounts and volumes).
                grafana["grafana.ini"]["auth.generic_oauth"]["tls_client_ca"] = f"{CA_MOUNT}/{CA_KEY}"
                grafana["extraConfigmapMounts"] = [{"name": "platform-ca", "configMap": CA_SECRET, "mountPath": CA_MOUNT, "readOnly": True}]
        storage = {
            "volumeClaimTemplate": {
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": settings.prometheus_storage}}}
            }
        }
        values: Document = {
            "prometheus": {
                "prometheusSpec": {
                    "retention": settings.retention,
                    "storageSpec": storage,
                    # Watch ServiceMonitors and PodMonitors of every namespace, not only this release's.
                    "serviceMonitorSelectorNilUsesHelmValues": False,
                    "podMonitorSelectorNilUsesHelmValues": False,
                }
            },
            # The tenant label on namespaces, for the platform dashboard's per-tenant sums.
            "kube-state-metrics": {"metricLabelsAllowlist": ["namespaces=[keelson.dev/tenant]"]},
            "grafana": grafana,
            # k3s runs etcd, the scheduler, the controller manager and kube-proxy inside its one k3s process, with
            # their metrics bound to 127.0.0.1 and no Pods or Services of their own: the chart's scrapes of them
            # (templates/exporters/kube-{etcd,scheduler,controller-manager,proxy}/, each behind its `enabled`)
            # find no target and TargetDown fires from the first minute. Off, with the rules and dashboards the
            # chart ties to the same switches (templates/prometheus/rules-1.14/etcd.yaml line 7,
            # kubernetes-system-scheduler.yaml line 7, kubernetes-system-controller-manager.yaml line 7,
            # kubernetes-system-kube-proxy.yaml line 7; templates/grafana/dashboards-1.14/*.yaml line 7).
            **{component: {"enabled": False} for component in K3S_EMBEDDED},
        }
        if not settings.alertmanager:
            values["alertmanager"] = {"enabled": False}
        return values

    def manifests(self, platform: Platform) -> list[Document]:
        """The platform dashboard, and one quota-usage dashboard per tenant in the tenant's own folder."""
        platform_board = _dashboard(
            self.namespace,
            "keelson-platform",
            f"{platform.spec.name}: platform",
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
        result = [platform_board, *(ca_config_map(platform, self.namespace) if platform.issuer_url else [])]
        template = _tenant_board()
        stand_in_name, stand_in_selector = _json_text(_NAME), _json_text(_SELECTOR)
        for tenant in platform.spec.tenants:
            board = template.replace(stand_in_name, _json_text(tenant.name)).replace(
                stand_in_selector, _json_text("|".join(tenant.namespaces))
            )
            result.append(_config_map(self.namespace, f"keelson-tenant-{tenant.name}", board, f"tenant-{tenant.name}"))
        return result

    def credentials(self, platform: Platform) -> list[Credential]:
        return [
            Credential("grafana-admin-password", "alnum", 32, "Grafana's admin", (Target(self.namespace, ADMIN_SECRET, "admin-password"),))
        ]

    def plain(self, platform: Platform) -> dict[tuple[str, str], dict[str, str]]:
        return {(self.namespace, ADMIN_SECRET): {"admin-user": "keelson-admin"}}

    def oidc_client(self, platform: Platform) -> Optional[OidcClient]:
        return OidcClient("grafana", (f"https://{self.host(platform, GRAFANA_HOST.field)}/login/generic_oauth",), OIDC_SECRET)

    def tenant_policies(self, platform: Platform, tenant: Tenant, namespace: str) -> list[Document]:
        return [
            network_policy(
                namespace,
                "allow-from-prometheus",
                {
                    "podSelector": {},
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [
                                {
                                    **namespace_selector(self.namespace),
                                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                                }
                            ]
                        }
                    ],
                },
            )
        ]

    def network(self, platform: Platform) -> Network:
        # Prometheus scrapes every namespace and node (kubelet, node-exporter on the host network), Alertmanager
        # sends to receivers anywhere, Grafana's sidecar reads ConfigMaps from the API. The operator serves its
        # admission webhook itself on prometheusOperator.tls.internalPort, 10250 (kube-prometheus-stack
        # values.yaml; admissionWebhooks.deployment.enabled is false).
        return Network(api=True, anywhere=True, webhooks=(10250,), scraper={"app.kubernetes.io/name": "prometheus"})


UNIT = Monitoring()
