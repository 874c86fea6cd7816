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
)
from ansible_collections.keelson.platform.plugins.module_utils._engines._unit import TENANCY, Engine, Part, Tree
from ansible_collections.keelson.platform.plugins.module_utils._schema import Bool, spec_field
from ansible_collections.keelson.platform.plugins.module_utils._tenancy import PLATFORM_OWNED

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
            "cm": {"url": f"https://{settings.host}", "resource.customizations.health.argoproj.io_Application": APPLICATION_HEALTH},
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


CONTROLLER: Final = ArgoCD()


def _wave(value: int) -> dict[str, str]:
    return {"argocd.argoproj.io/sync-wave": str(value)}


class ArgoCDEngine(Engine[ArgoCDSettings]):
    name = "argocd"
    doc = "Argo CD settings; only with engine `argocd`."
    settings_type = ArgoCDSettings
    controller = CONTROLLER
    protect: ClassVar[Mapping[str, str]] = {"argocd.argoproj.io/sync-options": "Prune=false,Delete=false"}

    def deploy_key(self) -> Target:
        return REPO_SECRET

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
                        "namespaceResourceBlacklist": [{"group": group, "kind": kind} for group, _resource, kind in PLATFORM_OWNED],
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

    def tree(self, platform: Platform, parts: list[Part], tenant_wave: int, tenant_needs: Mapping[str, tuple[str, ...]]) -> Tree:
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
        return tree


ENGINE: Final = ArgoCDEngine()
