# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Argo CD: a root Application (app of apps) in its own ``bootstrap`` project, both inside the folder the root
syncs; AppProjects (the platform's, a locked ``default``, one per tenant with roles for its Keycloak groups),
one multi-source Application per component, one for the tenant roles and two per tenant. Argo CD itself is the
first component and manages itself."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils import _ml
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import (
    BASELINE,
    INGRESS_CLASS,
    Document,
    HostClaim,
    Network,
    OidcClient,
    Target,
    Unit,
    host_field,
    ingress_annotations,
    without,
)
from ansible_collections.keelson.platform.plugins.module_utils._engines._unit import (
    CLUSTER_SCOPED,
    TENANCY,
    Engine,
    Part,
    Reader,
    Release,
    Tree,
    TreeError,
)
from ansible_collections.keelson.platform.plugins.module_utils._schema import Bool, spec_field
from ansible_collections.keelson.platform.plugins.module_utils._tenancy import project_blacklist

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

IN_CLUSTER: Final = "https://kubernetes.default.svc"
RETRY: Final = {"limit": 10, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m"}}
HOST: Final = HostClaim("host", "argocd", "the Argo CD UI")
OIDC_SECRET: Final = Target("argocd", "argocd-oidc", "clientSecret")
REPO_SECRET: Final = Target("argocd", "repo-platform", "sshPrivateKey")
PROJECTS_WAVE: Final = -2  # before everything, Argo CD's own Application included
# The root Application's project. The bootstrap applies the root file (this project and the root) once; from
# then on both are synced from that file like everything else. Not `default`: the tree locks `default`
# (nothing allowed), which would stop the root the moment it synced; not `platform`: that project is defined
# by the tree the root has not synced yet.
BOOTSTRAP_PROJECT: Final = "bootstrap"
# Argo CD stopped assessing Application health in 1.8 (argo-cd#3781), so an app of apps sees every child healthy at
# once and its sync waves order nothing. The check from Argo CD's docs (operator-manual/health.md, "Argocd App")
# brings it back: a wave waits until the Applications before it are Healthy.
APPLICATION_HEALTH: Final = """\
hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil then
  if obj.status.health ~= nil then
    hs.status = obj.status.health.status
    if obj.status.health.message ~= nil then
      hs.message = obj.status.health.message
    end
  end
end
return hs
"""
# A tenant's ML training run (an Argo Workflows Workflow keelson renders, labelled _ml.RUN_LABEL) is judged Healthy
# whatever its phase, its phase in the message: Argo CD's own check (resource_customizations/argoproj.io/Workflow/
# health.lua: Pending and Running are Progressing, Failed and Error Degraded) would hold the tenant's ML
# Application Progressing for the hours a training takes and Degraded when a model fails its tests, which is the
# team's to see in Argo Workflows and MLflow, not a platform fault. Every other Workflow keeps Argo CD's semantics.
WORKFLOW_HEALTH: Final = f"""\
local hs = {{}}
local phase = ""
local message = ""
if obj.status ~= nil then
  phase = obj.status.phase or ""
  message = obj.status.message or ""
end
local labels = {{}}
if obj.metadata ~= nil and obj.metadata.labels ~= nil then
  labels = obj.metadata.labels
end
if labels["{_ml.RUN_LABEL}"] ~= nil then
  hs.status = "Healthy"
  if phase == "" then
    hs.message = "training run: not started yet"
  else
    hs.message = "training run: " .. phase .. (message ~= "" and (": " .. message) or "")
  end
  return hs
end
hs.message = message
if phase == "" or phase == "Pending" or phase == "Running" then
  hs.status = "Progressing"
elseif phase == "Succeeded" then
  hs.status = "Healthy"
elseif phase == "Failed" or phase == "Error" then
  hs.status = "Degraded"
else
  hs.status = "Unknown"
end
return hs
"""
# charts/argo-cd/templates/argocd-configs/argocd-secret.yaml (argo-cd-10.1.1) line 43 writes admin.passwordMtime as
# `now` unless this is set, once an admin password is given (configs.secret.argocdServerAdminPassword, line 41):
# every render would then differ (forever OutOfSync, and each sync logs everyone out). Pinned, so it never can.
ADMIN_PASSWORD_MTIME: Final = "1970-01-01T00:00:00Z"


@dataclasses.dataclass(frozen=True)
class ArgoCDSettings:
    host: str = host_field(HOST)
    ha: bool = spec_field(Bool(), "Run Argo CD's HA manifests (several replicas, redis-ha).", default=False)


class ArgoCD(Unit[ArgoCDSettings]):
    name = "argocd"
    catalog = "argocd"
    namespace = "argocd"
    pod_security = BASELINE
    settings_type = ArgoCDSettings
    settings_path = ("gitops", "argocd")
    hosts = (HOST,)
    server_side_apply = True
    controller = True

    def enabled(self, platform: Platform) -> bool:
        return platform.engine.controller is self

    def values(self, platform: Platform) -> Document:
        settings = self.settings(platform)
        policy = [f"g, {platform.spec.identity.admins_group}, role:admin"]
        for tenant in platform.spec.tenants:
            project = f"tenant-{tenant.name}"
            policy += [
                f"g, {tenant.groups.admin}, proj:{project}:admin",
                f"g, {tenant.groups.edit}, proj:{project}:edit",
                f"g, {tenant.groups.view}, proj:{project}:view",
            ]
        configs: dict[str, Any] = {
            "params": {"server.insecure": True},  # TLS ends at Traefik
            # Nobody gets a role by default (the chart's default too); Keycloak groups get theirs here.
            "rbac": {"policy.csv": "\n".join(policy) + "\n"},
            "cm": {
                "url": f"https://{settings.host}",
                "resource.customizations.health.argoproj.io_Application": APPLICATION_HEALTH,
                "resource.customizations.health.argoproj.io_Workflow": WORKFLOW_HEALTH,
            },
            "secret": {"argocdServerAdminPasswordMtime": ADMIN_PASSWORD_MTIME},
        }
        issuer = platform.issuer_url
        if issuer:
            oidc = {
                "name": "Keycloak",
                "issuer": issuer,
                "clientID": "argocd",
                "clientSecret": f"${OIDC_SECRET.secret}:{OIDC_SECRET.key}",
                "requestedScopes": ["openid", "profile", "email", "groups"],
            }
            if platform.ca_certificate:
                # The issuer's certificate comes from the platform CA: Argo CD verifies it against this PEM.
                oidc["rootCA"] = platform.ca_certificate
            configs["cm"]["oidc.config"] = json.dumps(oidc, sort_keys=True)
        if platform.known_hosts:
            # Added to the chart's known hosts (GitHub, GitLab, … stay, for tenants' own repositories): the repo
            # server verifies the platform repository's host against exactly these keys.
            configs["ssh"] = {"extraHosts": "\n".join(platform.known_hosts) + "\n"}
        values: Document = {
            "global": {"domain": settings.host},
            "configs": configs,
            "dex": {"enabled": False},
            "server": {
                "ingress": {"enabled": True, "ingressClassName": INGRESS_CLASS, "annotations": ingress_annotations(), "tls": True},
            },
        }
        if settings.ha:
            values["redis-ha"] = {"enabled": True}
            values["server"]["replicas"] = 2
            values["repoServer"] = {"replicas": 2}
            values["applicationSet"] = {"replicas": 2}
        return values

    def oidc_client(self, platform: Platform) -> Optional[OidcClient]:
        return OidcClient("argocd", (f"https://{self.settings(platform).host}/auth/callback",), OIDC_SECRET)

    def secret_labels(self, platform: Platform) -> dict[tuple[str, str], dict[str, str]]:
        # Argo CD resolves $argocd-oidc:clientSecret only in Secrets labelled as its own.
        return {(OIDC_SECRET.namespace, OIDC_SECRET.secret): {"app.kubernetes.io/part-of": "argocd"}}

    crd_groups = ("argoproj.io",)

    def network(self, platform: Platform) -> Network:
        # The repo server fetches Git and Helm repositories wherever they are; the server checks OIDC tokens.
        return Network(api=True, anywhere=True)

    def chart_pods(self, values: Document) -> Optional[list[tuple[str, Document]]]:
        # The argo-cd chart 10.1.1 (argoproj/argo-helm tag argo-cd-10.1.1, charts/argo-cd/templates). Every Argo
        # CD pod's securityContext is global.securityContext ("with": only when set); each component's main
        # container has <component>.containerSecurityContext; <component>.extraContainers and .initContainers
        # are added as given; its volumes are global.extraVolumes + the component's own, then emptyDirs,
        # ConfigMaps and Secrets of the chart's (no hostPath, no host ports: containerPorts only).
        def section(key: str) -> Document:
            return dict(values.get(key) or {})

        pod_context = section("global").get("securityContext") or {}
        extra_volumes = list(section("global").get("extraVolumes") or [])

        def pod(component: Document, main: str, volumes: list[Document], init: Optional[list[Document]] = None) -> Document:
            spec: Document = {
                "securityContext": dict(pod_context),
                "containers": [
                    {"name": main, "securityContext": dict(component.get("containerSecurityContext") or {})},
                    *(component.get("extraContainers") or []),
                ],
                "initContainers": [*(init or []), *(component.get("initContainers") or [])],
                "volumes": volumes,
            }
            if component.get("hostNetwork"):
                spec["hostNetwork"] = True
            return spec

        def empty(*names: str) -> list[Document]:
            return [{"name": name, "emptyDir": {}} for name in names]

        def config_maps(*names: str) -> list[Document]:
            return [{"name": name, "configMap": {"name": name}} for name in names]

        def secrets(*names: str) -> list[Document]:
            return [{"name": name, "secret": {"secretName": name}} for name in names]

        pods: list[tuple[str, Document]] = []
        # argocd-application-controller/statefulset.yaml (a Deployment, deployment.yaml, with
        # dynamicClusterDistribution; the same pod): pod securityContext lines 54-57, container lines 394-397,
        # extraContainers/initContainers lines 411-417, volumes lines 441-476 (controller.volumes, the emptyDirs
        # argocd-home and -tmp, the repo-server TLS Secret, the params ConfigMap), hostNetwork lines 477-479.
        controller = section("controller")
        volumes = [*extra_volumes, *(controller.get("volumes") or [])]
        volumes += empty("argocd-home", "argocd-application-controller-tmp")
        volumes += secrets("argocd-repo-server-tls") + config_maps("argocd-cmd-params-cm")
        kind = "Deployment" if controller.get("dynamicClusterDistribution") else "StatefulSet"
        pods.append((f"{kind} argocd-application-controller", pod(controller, "application-controller", volumes)))
        # argocd-server/deployment.yaml: pod lines 58-61, container lines 459-462, extraContainers lines 467-469;
        # initContainers (lines 470-495): server.initContainers and, with extensions enabled, one per extension
        # with server.extensions.containerSecurityContext; volumes lines 519-582 (server.volumes, the emptyDirs
        # extensions, plugins-home and tmp, ConfigMaps, the repo-server and dex TLS Secrets); hostNetwork 583-585.
        server = section("server")
        extensions = dict(server.get("extensions") or {})
        init = []
        if extensions.get("enabled"):
            context = dict(extensions.get("containerSecurityContext") or {})
            init = [{"name": item.get("name"), "securityContext": context} for item in extensions.get("extensionList") or []]
        volumes = [*extra_volumes, *(server.get("volumes") or [])]
        volumes += empty(*(["extensions"] if extensions.get("enabled") else []), "plugins-home", "tmp")
        volumes += config_maps("argocd-ssh-known-hosts-cm", "argocd-tls-certs-cm", "argocd-styles-cm")
        volumes += secrets("argocd-repo-server-tls", "argocd-dex-server-tls") + config_maps("argocd-cmd-params-cm")
        pods.append(("Deployment argocd-server", pod(server, "server", volumes, init)))
        # argocd-repo-server/deployment.yaml: pod lines 64-67, container lines 421-424, extraContainers lines
        # 429-431; the init container copyutil (lines 432-449) with repoServer.containerSecurityContext, then
        # repoServer.initContainers (lines 450-452); volumes lines 476-556 (repoServer.volumes, the emptyDirs
        # helm-working-dir, plugins, var-files, tmp and gpg-keyring, ConfigMaps, the TLS Secret); hostNetwork
        # lines 557-559.
        repo = section("repoServer")
        volumes = [*extra_volumes, *(repo.get("volumes") or [])]
        volumes += empty("helm-working-dir", "plugins", "var-files", "tmp", "gpg-keyring")
        volumes += config_maps("argocd-ssh-known-hosts-cm", "argocd-tls-certs-cm", "argocd-gpg-keys-cm")
        volumes += secrets("argocd-repo-server-tls")
        pods.append(
            (
                "Deployment argocd-repo-server",
                pod(
                    repo,
                    "repo-server",
                    volumes,
                    [{"name": "copyutil", "securityContext": dict(repo.get("containerSecurityContext") or {})}],
                ),
            )
        )
        # argocd-applicationset/deployment.yaml (always rendered): pod lines 53-56, container lines 293-296,
        # extraContainers/initContainers lines 315-320, volumes lines 345-386 (applicationSet.extraVolumes,
        # ConfigMaps, the emptyDirs gpg-keyring and tmp, the TLS Secret, the params ConfigMap); no hostNetwork.
        appset = without(section("applicationSet"), "hostNetwork")
        volumes = [*extra_volumes, *(appset.get("extraVolumes") or [])]
        volumes += config_maps("argocd-ssh-known-hosts-cm", "argocd-tls-certs-cm", "argocd-gpg-keys-cm")
        volumes += empty("gpg-keyring", "tmp") + secrets("argocd-repo-server-tls") + config_maps("argocd-cmd-params-cm")
        pods.append(("Deployment argocd-applicationset-controller", pod(appset, "applicationset-controller", volumes)))
        # argocd-notifications/deployment.yaml (notifications.enabled, line 1): pod lines 54-57, container lines
        # 165-168, extraContainers/initContainers lines 178-183, volumes lines 208-220 (extraVolumes, the TLS
        # certificates ConfigMap, the repo-server TLS Secret); no hostNetwork.
        notifications = without(section("notifications"), "hostNetwork")
        if notifications.get("enabled"):
            volumes = [*extra_volumes, *(notifications.get("extraVolumes") or [])]
            volumes += config_maps("argocd-tls-certs-cm") + secrets("argocd-repo-server-tls")
            pods.append(("Deployment argocd-notifications-controller", pod(notifications, "notifications-controller", volumes)))
        # argocd-commit-server/deployment.yaml (commitServer.enabled, line 1): pod lines 52-55, container lines
        # 150-153, volumes lines 173-197 (extraVolumes, ConfigMaps, emptyDirs, the TLS Secret), hostNetwork 224-226.
        commit = section("commitServer")
        if commit.get("enabled"):
            volumes = [*extra_volumes, *(commit.get("extraVolumes") or [])]
            volumes += config_maps("argocd-ssh-known-hosts-cm", "argocd-tls-certs-cm", "argocd-gpg-keys-cm")
            volumes += empty("gpg-keyring", "tmp") + secrets("argocd-commit-server-tls")
            pods.append(("Deployment argocd-commit-server", pod(commit, "commit-server", volumes)))
        return pods + _redis_pods(values)


def _redis_pods(values: Document) -> list[tuple[str, Document]]:
    """Argo CD's Redis (the chart's own, its password Job, or redis-ha's) as the argo-cd chart 10.1.1 renders it."""
    redis, ha = dict(values.get("redis") or {}), dict(values.get("redis-ha") or {})
    pods: list[tuple[str, Document]] = []
    # redis/deployment.yaml (redis.enabled and not redis-ha.enabled, line 2): pod securityContext =
    # redis.securityContext (lines 50-53), the container redis with redis.containerSecurityContext (lines
    # 120-123), the exporter "metrics" with redis.exporter.containerSecurityContext when enabled (lines
    # 130-179), extraContainers/initContainers (lines 180-186), volumes: the health ConfigMap and
    # redis.volumes (lines 210-217).
    if redis.get("enabled") and not ha.get("enabled"):
        containers = [{"name": "redis", "securityContext": dict(redis.get("containerSecurityContext") or {})}]
        exporter = dict(redis.get("exporter") or {})
        if exporter.get("enabled"):
            containers.append({"name": "metrics", "securityContext": dict(exporter.get("containerSecurityContext") or {})})
        spec: Document = {
            "securityContext": dict(redis.get("securityContext") or {}),
            "containers": [*containers, *(redis.get("extraContainers") or [])],
            "initContainers": list(redis.get("initContainers") or []),
            "volumes": [{"name": "health", "configMap": {"name": "argocd-redis-health-configmap"}}, *(redis.get("volumes") or [])],
        }
        pods.append(("Deployment argocd-redis", spec))
    # redis-secret-init/job.yaml (redisSecretInit.enabled and no externalRedis.host, line 1): the container
    # secret-init with redisSecretInit.containerSecurityContext (lines 51-54), the pod's
    # redisSecretInit.securityContext (lines 55-58); no volumes.
    secret_init = dict(values.get("redisSecretInit") or {})
    if secret_init.get("enabled") and not (values.get("externalRedis") or {}).get("host"):
        spec = {
            "securityContext": dict(secret_init.get("securityContext") or {}),
            "containers": [{"name": "secret-init", "securityContext": dict(secret_init.get("containerSecurityContext") or {})}],
        }
        pods.append(("Job argocd-redis-secret-init", spec))
    if ha.get("enabled"):
        pods += _redis_ha_pods(ha)
    return pods


# The redis-ha chart's own defaults (DandyDeveloper/charts tag redis-ha-4.38.0, charts/redis-ha/values.yaml), which
# Helm merges under the argo-cd chart's "redis-ha" values (its values.yaml is not in the platform data).
_REDIS_HA_DEFAULTS: Final[Document] = {
    "securityContext": {"runAsUser": 1000, "fsGroup": 1000, "runAsNonRoot": True},
    "containerSecurityContext": {
        "runAsUser": 1000,
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "seccompProfile": {"type": "RuntimeDefault"},
        "capabilities": {"drop": ["ALL"]},
    },
    "haproxy": {
        "enabled": False,
        "securityContext": {"runAsUser": 99, "fsGroup": 99, "runAsNonRoot": True},
        "containerSecurityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "seccompProfile": {"type": "RuntimeDefault"},
            "capabilities": {"drop": ["ALL"]},
        },
    },
    "hostPath": {"path": "", "chown": True},
    "sysctlImage": {"enabled": False, "mountHostSys": False},
}


def _merged(defaults: Document, values: Document) -> Document:
    """``values`` over ``defaults`` as Helm merges them: maps key by key, anything else replaces."""
    merged = dict(defaults)
    for key, value in values.items():
        both = isinstance(value, dict) and isinstance(defaults.get(key), dict)
        merged[key] = _merged(defaults[key], value) if both else value
    return merged


def _redis_ha_pods(given: Document) -> list[tuple[str, Document]]:
    # redis-ha 4.38.0, templates/redis-ha-statefulset.yaml: pod securityContext = securityContext (line 112);
    # init containers init-sysctl when sysctlImage.enabled (lines 116-128, with containerSecurityContext and the
    # hostPath host-sys when mountHostSys, lines 604-609), hostpath-chown as root with hostPath.path and chown
    # (lines 129-143), config-init (lines 144-152), extraInitContainers (lines 277-279); containers redis,
    # sentinel, split-brain-fix (lines 280-496) and redis-exporter when exporter.enabled (lines 536-544), all with
    # containerSecurityContext, then extraContainers (lines 594-596); volumes: ConfigMaps, the TLS Secret,
    # extraVolumes, and data: a PVC with persistentVolume.enabled, else hostPath.path, else an emptyDir
    # (lines 600-668). templates/redis-haproxy-deployment.yaml (haproxy.enabled, line 1): pod
    # haproxy.securityContext (line 61), config-init and haproxy with haproxy.containerSecurityContext (lines
    # 109-132), volumes a ConfigMap, emptyDirs and the TLS Secret (lines 203-217); no host namespaces or ports.
    values = _merged(_REDIS_HA_DEFAULTS, given)
    context = dict(values.get("containerSecurityContext") or {})
    sysctl, host_path = dict(values.get("sysctlImage") or {}), dict(values.get("hostPath") or {})
    init: list[Document] = []
    volumes: list[Document] = [{"name": "config", "configMap": {"name": "argocd-redis-ha-configmap"}}]
    if sysctl.get("enabled"):
        init.append({"name": "init-sysctl", "securityContext": context})
        if sysctl.get("mountHostSys"):
            volumes.append({"name": "host-sys", "hostPath": {"path": "/sys"}})
    if host_path.get("path") and host_path.get("chown"):
        init.append({"name": "hostpath-chown", "securityContext": {"runAsUser": 0, "runAsNonRoot": False}})
    init += [{"name": "config-init", "securityContext": context}, *(values.get("extraInitContainers") or [])]
    names = ["redis", "sentinel", "split-brain-fix"] + (["redis-exporter"] if (values.get("exporter") or {}).get("enabled") else [])
    containers = [{"name": name, "securityContext": context} for name in names] + list(values.get("extraContainers") or [])
    volumes += list(values.get("extraVolumes") or [])
    if (values.get("persistentVolume") or {}).get("enabled"):
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": "data"}})
    elif host_path.get("path"):
        volumes.append({"name": "data", "hostPath": {"path": host_path["path"]}})
    else:
        volumes.append({"name": "data", "emptyDir": {}})
    spec: Document = {
        "securityContext": dict(values.get("securityContext") or {}),
        "initContainers": init,
        "containers": containers,
        "volumes": volumes,
    }
    pods = [("StatefulSet argocd-redis-ha-server", spec)]
    haproxy = dict(values.get("haproxy") or {})
    if haproxy.get("enabled"):
        proxy_context = dict(haproxy.get("containerSecurityContext") or {})
        proxy: Document = {
            "securityContext": dict(haproxy.get("securityContext") or {}),
            "initContainers": [{"name": "config-init", "securityContext": proxy_context}],
            "containers": [{"name": "haproxy", "securityContext": proxy_context}],
            "volumes": [
                {"name": "config-volume", "configMap": {"name": "argocd-redis-ha-configmap"}},
                {"name": "shared-socket", "emptyDir": {}},
                {"name": "data", "emptyDir": {}},
            ],
        }
        pods.append(("Deployment argocd-redis-ha-haproxy", proxy))
    return pods


CONTROLLER: Final = ArgoCD()


def _wave(value: int) -> dict[str, str]:
    return {"argocd.argoproj.io/sync-wave": str(value)}


class ArgoCDEngine(Engine[ArgoCDSettings]):
    name = "argocd"
    doc = "Argo CD settings; only with engine `argocd`."
    settings_type = ArgoCDSettings
    controller = CONTROLLER
    protect: ClassVar[Mapping[str, str]] = {"argocd.argoproj.io/sync-options": "Prune=false,Delete=false"}

    # The application controller applies as argocd-controller, with server-side apply (ServerSideApply=true on
    # Argo CD's own Application) and without; managedNamespaceMetadata too.
    chart_manager = "argocd-controller"
    root_manager = "argocd-controller"
    namespace_manager = "argocd-controller"

    def deploy_key(self) -> Target:
        return REPO_SECRET

    # ------------------------------------------------------------------------------ bootstrap

    def _chart_application(self, platform: Platform, read: Reader, unit: Unit[Any]) -> Document:
        path = platform.layout.app_file(unit.name)
        for document in read(path):
            if document.get("kind") == "Application" and document.get("metadata", {}).get("name") == unit.name:
                return document
        raise TreeError(f"{path} holds no Application {unit.name}")

    def release(self, platform: Platform, read: Reader) -> Release:
        application = self._chart_application(platform, read, CONTROLLER)
        spec = application["spec"]
        path = platform.layout.app_file(CONTROLLER.name)
        source = next((source for source in spec.get("sources") or [spec.get("source", {})] if "chart" in source), None)
        if source is None:
            raise TreeError(f"the Application {CONTROLLER.name} in {path} installs no chart")
        helm = source.get("helm", {})
        if helm.get("values") or helm.get("valuesObject") or helm.get("parameters") or len(helm.get("valueFiles", [])) > 1:
            raise TreeError(f"the Application {CONTROLLER.name} in {path} has values keelson does not render (one valueFiles entry only)")
        values: Document = {}
        for file in helm.get("valueFiles", []):
            if not file.startswith("$values/"):
                raise TreeError(f"the Application {CONTROLLER.name} in {path} reads values from {file}, not from this repository")
            values = dict((read(file[len("$values/") :]) or [{}])[0] or {})
        repo: Optional[str] = source["repoURL"]
        chart = source["chart"]
        if not str(repo).startswith(("https://", "http://")):  # Argo CD names an OCI registry without its scheme
            chart, repo = f"oci://{repo}/{chart}", None
        return Release(
            chart,
            repo,
            str(source["targetRevision"]),
            helm.get("releaseName", application["metadata"]["name"]),
            spec["destination"]["namespace"],
            values,
            application["metadata"]["name"],
        )

    def namespace_object(self, platform: Platform, read: Reader, unit: Unit[Any]) -> Document:
        # CreateNamespace=true with managedNamespaceMetadata: Argo CD makes the namespace with those labels.
        application = self._chart_application(platform, read, unit)
        labels = application["spec"].get("syncPolicy", {}).get("managedNamespaceMetadata", {}).get("labels", {})
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": application["spec"]["destination"]["namespace"], "labels": labels},
        }

    watched = (("argoproj.io/v1alpha1", "Application"),)

    def assess(self, platform: Platform, document: Document, revision: str) -> Optional[str]:
        spec, status = document.get("spec") or {}, document.get("status") or {}
        sync, health = status.get("sync") or {}, status.get("health") or {}
        why = []
        if sync.get("status") != "Synced":
            why.append(sync.get("status") or "not synced yet")
        if health.get("status") != "Healthy":
            why.append(": ".join(part for part in (health.get("status") or "health unknown", health.get("message")) if part))
        repo = platform.repo_url
        if any(source.get("repoURL") == repo for source in spec.get("sources") or [spec.get("source") or {}]):
            # A multi-source Application reports one revision per source (the chart version, the commit).
            at = [sync.get("revision"), *(sync.get("revisions") or [])]
            if revision not in at:
                current = next((value for value in at if value and len(value) == len(revision)), None)
                why.append(f"at {current[:12] if current else 'no revision yet'}, not {revision[:12]}")
        operation = (status.get("operationState") or {}).get("phase")
        if operation in ("Failed", "Error"):
            why.append(f"sync {operation.lower()}: {(status.get('operationState') or {}).get('message', '')}".rstrip(": "))
        why += [
            condition.get("message", condition.get("type", ""))
            for condition in status.get("conditions") or []
            if "Error" in condition.get("type", "")
        ]
        return "; ".join(why) if why else None

    def adopt(self, release: Release, document: Document) -> Document:
        # Argo CD 3 tracks what an Application applied by this annotation (resource tracking "annotation", the
        # default): <application>:<group>/<kind>:<namespace>/<name>.
        metadata = dict(document.get("metadata") or {})
        group = document["apiVersion"].rpartition("/")[0]
        namespace = "" if document["kind"] in CLUSTER_SCOPED else metadata.get("namespace", release.namespace)
        tracking = f"{release.owner}:{group}/{document['kind']}:{namespace}/{metadata['name']}"
        metadata["annotations"] = {**(metadata.get("annotations") or {}), "argocd.argoproj.io/tracking-id": tracking}
        return {**document, "metadata": metadata}

    def secret(self, platform: Platform, key: tuple[str, str], data: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        labels = CONTROLLER.secret_labels(platform).get(key, {})
        if key == (REPO_SECRET.namespace, REPO_SECRET.secret):
            # Argo CD finds its repository credentials by this label; the URL says which repository they open.
            data = dict(sorted({**data, "type": "git", "url": platform.repo_url}.items()))
            labels = {"argocd.argoproj.io/secret-type": "repository"}
        return data, labels

    def values_files(self) -> bool:
        return True

    def manifest(self, platform: Platform, unit: Unit[Any], document: Document) -> Document:
        if document.get("kind") == "SealedSecret" and document["metadata"]["name"] in unit.chart_secrets:
            # The sealed copy of a Secret the chart makes up: synced (and so decrypted) before the chart's own
            # objects, whose copy then keeps the live data (ignoreDifferences below).
            metadata = {**document["metadata"], "annotations": {**document["metadata"].get("annotations", {}), **_wave(-1)}}
            return {**document, "metadata": metadata}
        return document

    def _application(
        self,
        name: str,
        project: str,
        namespace: str,
        sources: list[Document],
        wave: int,
        *,
        server_side: bool = False,
        finalizer: bool = True,
        namespace_labels: Optional[dict[str, str]] = None,
    ) -> Document:
        options = ["CreateNamespace=true"] if namespace_labels is not None else []
        if server_side:
            options.append("ServerSideApply=true")
        sync: Document = {
            "automated": {"prune": True, "selfHeal": True},
            "syncOptions": options or ["ApplyOutOfSyncOnly=true"],
            "retry": RETRY,
        }
        if namespace_labels:
            sync["managedNamespaceMetadata"] = {"labels": namespace_labels}
        metadata: Document = {"name": name, "namespace": self.namespace, "annotations": _wave(wave)}
        if finalizer:
            # Removing the Application (a component turned off) removes what it deployed.
            metadata["finalizers"] = ["resources-finalizer.argocd.argoproj.io"]
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": metadata,
            "spec": {
                "project": project,
                "sources" if len(sources) > 1 else "source": sources if len(sources) > 1 else sources[0],
                "destination": {"server": IN_CLUSTER, "namespace": namespace},
                "syncPolicy": sync,
            },
        }

    def _component(self, platform: Platform, part: Part) -> list[Document]:
        unit, layout = part.unit, platform.layout
        git, branch = platform.repo_url, platform.spec.gitops.repo.branch
        chart = unit.chart
        chart_source: Document = {
            "repoURL": chart.repo_without_scheme,
            "chart": chart.name,
            "targetRevision": chart.version,
            "helm": {"releaseName": unit.name, "valueFiles": [f"$values/{layout.values_file(unit.name)}"]},
        }
        sources = [chart_source, {"repoURL": git, "targetRevision": branch, "ref": "values"}]
        manifests = {"repoURL": git, "targetRevision": branch, "path": layout.manifests_dir(unit.name)}
        # Manifests that use a later wave's custom resources (Argo CD's own SealedSecrets: sealed-secrets comes
        # after Argo CD) are an Application of their own, one wave after the last of those.
        later = [platform.waves[name] for name in part.manifests_need if name != unit.name and platform.waves[name] >= part.wave]
        if part.manifests and not later:
            sources.append(manifests)
        applications = [
            self._application(
                unit.name,
                "platform",
                unit.namespace,
                sources,
                part.wave,
                server_side=unit.server_side_apply,
                namespace_labels=platform.pod_security_labels(unit.pod_security),
                # Deleting Argo CD's own Application must not make Argo CD delete itself.
                finalizer=not unit.controller,
            )
        ]
        if unit.chart_secrets:
            # The chart renders these Secrets with random values (its lookup finds nothing under Argo CD's
            # rendering): their data is the sealed copy's, which Argo CD neither compares nor overwrites.
            application = applications[0]
            application["spec"]["ignoreDifferences"] = [
                {"group": "", "kind": "Secret", "name": name, "namespace": unit.namespace, "jsonPointers": ["/data"]}
                for name in unit.chart_secrets
            ]
            application["spec"]["syncPolicy"]["syncOptions"].append("RespectIgnoreDifferences=true")
        if part.manifests and later:
            applications.append(
                self._application(
                    f"{unit.name}-manifests", "platform", unit.namespace, [manifests], max(later) + 1, finalizer=not unit.controller
                )
            )
        return applications

    def _projects(self, platform: Platform, parts: list[Part]) -> list[Document]:
        git = platform.repo_url
        chart_repos = {part.unit.chart.repo_without_scheme for part in parts}
        tenants = platform.spec.tenants
        platform_namespaces = sorted(
            {unit.namespace for unit in platform.registered if not (unit.controller and unit is not self.controller)}
        )
        project = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": "platform", "namespace": self.namespace, "annotations": _wave(PROJECTS_WAVE)},
            "spec": {
                "description": "The platform's own components (keelson)",
                "sourceRepos": sorted({git, *chart_repos}),
                "destinations": [{"server": IN_CLUSTER, "namespace": namespace} for namespace in [*platform_namespaces, "kube-system"]]
                + [{"server": IN_CLUSTER, "namespace": namespace} for tenant in tenants for namespace in tenant.namespaces],
                "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
            },
        }
        # Argo CD's own "default" project allows everything; keelson keeps it, with nothing allowed.
        default = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": "default", "namespace": self.namespace, "annotations": _wave(PROJECTS_WAVE)},
            "spec": {"sourceRepos": [], "destinations": [], "clusterResourceWhitelist": [], "namespaceResourceWhitelist": []},
        }
        projects = [project, default]
        blacklist = project_blacklist(platform.tenant_resources, platform.tenant_reads)
        for tenant in tenants:
            name = f"tenant-{tenant.name}"
            roles = []
            for role, group, actions in (
                ("admin", tenant.groups.admin, "*"),
                ("edit", tenant.groups.edit, "sync"),
                ("view", tenant.groups.view, "get"),
            ):
                policies = [f"p, proj:{name}:{role}, applications, {actions}, {name}/*, allow"]
                if role != "view":
                    policies.append(f"p, proj:{name}:{role}, applications, get, {name}/*, allow")
                roles.append({"name": role, "description": f"{role} of tenant {tenant.name}", "policies": policies, "groups": [group]})
            projects.append(
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "AppProject",
                    "metadata": {"name": name, "namespace": self.namespace, "annotations": _wave(PROJECTS_WAVE)},
                    "spec": {
                        "description": f"Tenant {tenant.name}: its namespaces only, no cluster-scoped kinds",
                        "sourceRepos": sorted({git, *tenant.repos}),
                        "destinations": [{"server": IN_CLUSTER, "namespace": namespace} for namespace in tenant.namespaces],
                        "clusterResourceWhitelist": [],
                        # What the platform sets for the team stays the platform's: Argo CD applies with its own
                        # rights, so the project is what keeps these kinds (RBAC among them) out of the team's.
                        "namespaceResourceBlacklist": blacklist,
                        "roles": roles,
                    },
                }
            )
        return projects

    def _root(self, platform: Platform) -> list[Document]:
        """The bootstrap project and the root Application: the root syncs the folder they are in, so it manages
        itself, and its project lets it apply nothing but Applications and AppProjects in Argo CD's namespace."""
        layout = platform.layout
        git, branch = platform.repo_url, platform.spec.gitops.repo.branch
        project = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": BOOTSTRAP_PROJECT, "namespace": self.namespace, "annotations": {**_wave(PROJECTS_WAVE), **self.protect}},
            "spec": {
                "description": "The root Application (keelson): the platform's Applications and AppProjects",
                "sourceRepos": [git],
                "destinations": [{"server": IN_CLUSTER, "namespace": self.namespace}],
                "clusterResourceWhitelist": [],
                "namespaceResourceWhitelist": [
                    {"group": "argoproj.io", "kind": "Application"},
                    {"group": "argoproj.io", "kind": "AppProject"},
                ],
            },
        }
        root = self._application(
            platform.spec.name,
            BOOTSTRAP_PROJECT,
            self.namespace,
            [{"repoURL": git, "targetRevision": branch, "path": layout.apps_dir}],
            0,
            finalizer=False,
        )
        # Removing its file must not make the root prune itself (and with it every Application).
        root["metadata"]["annotations"].update(self.protect)
        return [project, root]

    def tree(
        self,
        platform: Platform,
        parts: list[Part],
        tenant_wave: int,
        tenant_needs: Mapping[str, tuple[str, ...]],
        ml_needs: Mapping[str, tuple[str, ...]],
    ) -> Tree:
        layout = platform.layout
        git, branch = platform.repo_url, platform.spec.gitops.repo.branch
        tenancy = [{"repoURL": git, "targetRevision": branch, "path": layout.tenancy_dir}]
        tree: Tree = {
            layout.root_file: self._root(platform),
            layout.app_file("projects"): self._projects(platform, parts),
            # The tenant roles need nothing first; every tenant's wave comes after them.
            layout.app_file(TENANCY): [self._application(TENANCY, "platform", self.namespace, tenancy, 0)],
        }
        for part in parts:
            tree[layout.app_file(part.unit.name)] = self._component(platform, part)
        for tenant in platform.spec.tenants:
            # Without the resources finalizer, deleting a tenant's Applications (its entry gone from the spec)
            # leaves what they deployed, data included; state: absent adds it, so that the deletion then cascades.
            cascade = tenant.state == "absent"
            home = tenant.namespaces[0]
            base = self._application(
                f"tenant-{tenant.name}",
                "platform",
                home,
                [{"repoURL": git, "targetRevision": branch, "path": layout.tenant_keelson(tenant.name)}],
                tenant_wave,
                finalizer=cascade,
            )
            own = self._application(
                f"tenant-{tenant.name}-apps",
                f"tenant-{tenant.name}",
                home,
                [{"repoURL": git, "targetRevision": branch, "path": layout.tenant_apps(tenant.name), "directory": {"recurse": True}}],
                tenant_wave + 1,
                finalizer=cascade,
            )
            tree[layout.app_file(f"tenant-{tenant.name}")] = [base, own]
            if tenant.name in ml_needs:
                # What keelson renders from the team's ML projects: in the tenant's project (its namespaces, no
                # cluster-scoped kinds), after its platform folder; the components it needs are earlier waves.
                ml = [{"repoURL": git, "targetRevision": branch, "path": layout.tenant_ml(tenant.name)}]
                tree[layout.app_file(f"tenant-{tenant.name}")].append(
                    self._application(f"tenant-{tenant.name}-ml", f"tenant-{tenant.name}", home, ml, tenant_wave + 1, finalizer=cascade)
                )
        return tree


ENGINE: Final = ArgoCDEngine()
