# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Flux, run by the flux-operator: a FluxInstance (multi-tenant lockdown) as the root, inside the folder it syncs;
per component a Namespace and two Kustomizations, one applying the chart's source, values ConfigMap and
HelmRelease (``platform/<component>/release``, waiting until the release is ready), one the manifests beside
the chart, ordered by ``dependsOn`` derived from the registry; a Kustomization for the tenant roles; per tenant
a Kustomization for its platform folder and one for its own folder, applied as the tenant's account. The
operator is the first component and manages itself.

Ordering: Kustomizations can wait only for Kustomizations and HelmReleases only for HelmReleases, so each
HelmRelease is applied by a Kustomization with ``wait``, and every edge is between Kustomizations: a
component after those it depends on; its manifests before its release (they hold the Secrets its values
name), unless they are its own custom resources (cert-manager's issuers need its CRDs and webhook), and after
every unit whose custom resources they use (SealedSecrets after sealed-secrets); a tenant's folder after the
tenant roles and what its objects use."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import BASELINE, Document, Network, Target, Unit
from ansible_collections.keelson.platform.plugins.module_utils._engines._unit import TENANCY, Engine, Part, Reader, Release, Tree, TreeError
from ansible_collections.keelson.platform.plugins.module_utils._formats import check_duration, ssh_url
from ansible_collections.keelson.platform.plugins.module_utils._schema import Str, spec_field
from ansible_collections.keelson.platform.plugins.module_utils._tenancy import ADMIN
from ansible_collections.keelson.platform.plugins.module_utils._yaml import dump_one, load_one

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.module_utils._spec_model import Tenant
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

# The account a tenant's own Flux objects run as when they name none (FluxInstance's
# tenantDefaultServiceAccount): admin of that namespace only.
FLUX_RECONCILER: Final = "flux-reconciler"
GIT_SOURCE: Final = "flux-system"  # the GitRepository the FluxInstance's sync creates
DEPLOY_KEY: Final = Target("flux-system", "flux-system", "identity")
HELM_CHART_LAYER: Final = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
# A failed install or upgrade is retried every 5 minutes for ever, without uninstalling or rolling back in
# between (helm-controller v2 API: install/upgrade.strategy RetryOnFailure, retryInterval); the default,
# RemediateOnFailure with retries, gives up after the last retry and needs a person.
RETRY: Final = {"name": "RetryOnFailure", "retryInterval": "5m"}
# The toolkit's own kinds, which a team may write in its namespaces (its Flux objects run as flux-reconciler).
TOOLKIT: Final = (
    ("source.toolkit.fluxcd.io", ("gitrepositories", "helmrepositories", "helmcharts", "ocirepositories", "buckets")),
    ("kustomize.toolkit.fluxcd.io", ("kustomizations",)),
    ("helm.toolkit.fluxcd.io", ("helmreleases",)),
)


@dataclasses.dataclass(frozen=True)
class FluxSettings:
    interval: str = spec_field(Str(check_duration, type_doc="duration"), "How often Flux reconciles.", default="10m")


class FluxOperator(Unit[FluxSettings]):
    """The operator that runs Flux, managing itself from here on (the same chart and version bootstrap installs)."""

    name = "flux-operator"
    catalog = "flux_operator"
    namespace = "flux-system"
    pod_security = BASELINE
    settings_type = FluxSettings
    settings_path = ("gitops", "flux")
    controller = True

    # Its chart's CRDs; the toolkit's come with the FluxInstance (the root), before anything the root applies.
    crd_groups = ("fluxcd.controlplane.io",)
    tenant_resources = TOOLKIT

    def enabled(self, platform: Platform) -> bool:
        return platform.engine.controller is self

    def network(self, platform: Platform) -> Network:
        # The controllers fetch Git repositories, Helm repositories and OCI artifacts wherever they are.
        return Network(api=True, anywhere=True)

    def chart_pods(self, values: Document) -> Optional[list[tuple[str, Document]]]:
        # charts/flux-operator/templates/deployment.yaml (0.49.0): one Deployment; pod securityContext =
        # podSecurityContext when set (lines 48-51), hostNetwork when set (lines 52-54); one container "manager"
        # with securityContext = securityContext (lines 101-102), containerPorts 8080, 8081 and 9080 with web
        # enabled, never a hostPort (lines 105-116); volumes: the emptyDir "temp" (lines 135-136), the web
        # config Secret with web.config set (lines 137-141), then extraVolumes as given (lines 142-144). The
        # Flux controllers are the FluxInstance's, rendered by the operator, not by this chart.
        spec: Document = {
            "containers": [{"name": "manager", "securityContext": dict(values.get("securityContext") or {})}],
            "volumes": [{"name": "temp", "emptyDir": {}}],
        }
        if values.get("podSecurityContext"):
            spec["securityContext"] = dict(values["podSecurityContext"])
        if values.get("hostNetwork"):
            spec["hostNetwork"] = True
        web = values.get("web") or {}
        if web.get("enabled") and web.get("config") and not web.get("configSecretName"):
            spec["volumes"].append({"name": "web-config", "secret": {"secretName": "flux-operator-web-config"}})
        spec["volumes"] += list(values.get("extraVolumes") or [])
        return [("Deployment flux-operator", spec)]


CONTROLLER: Final = FluxOperator()


def _object(api: str, kind: str, name: str, spec: Document) -> Document:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": CONTROLLER.namespace}, "spec": spec}


def _kustomization(name: str, spec: Document) -> Document:
    return _object("kustomize.toolkit.fluxcd.io/v1", "Kustomization", name, spec)


class FluxEngine(Engine[FluxSettings]):
    name = "flux"
    doc = "Flux settings; only with engine `flux`."
    settings_type = FluxSettings
    controller = CONTROLLER
    protect: ClassVar[Mapping[str, str]] = {"kustomize.toolkit.fluxcd.io/prune": "disabled"}

    # helm-controller installs and upgrades releases as "helm-controller"; kustomize-controller applies the
    # folders (the root, the namespaces) as "kustomize-controller".
    chart_manager = "helm-controller"
    root_manager = "kustomize-controller"
    namespace_manager = "kustomize-controller"

    def deploy_key(self) -> Target:
        return DEPLOY_KEY

    # ------------------------------------------------------------------------------ bootstrap

    def release(self, platform: Platform, read: Reader) -> Release:
        folder = platform.layout.release_dir(CONTROLLER.name)
        documents = read(folder)

        def find(kind: str, name: str) -> Document:
            for document in documents:
                if document.get("kind") == kind and document.get("metadata", {}).get("name") == name:
                    return document
            raise TreeError(f"{folder} holds no {kind} {name}")

        release = find("HelmRelease", CONTROLLER.name)
        spec = release["spec"]
        if spec.get("values") or len(spec.get("valuesFrom", [])) > 1:
            raise TreeError(f"the HelmRelease {CONTROLLER.name} in {folder} has values keelson does not render (one valuesFrom only)")
        values: Document = {}
        for source in spec.get("valuesFrom", []):
            config = find(source["kind"], source["name"])
            values = dict(load_one(config["data"][source.get("valuesKey", "values.yaml")]) or {})
        reference = spec.get("chartRef")
        if reference is None or reference.get("kind") != "OCIRepository":
            raise TreeError(f"the HelmRelease {CONTROLLER.name} in {folder} does not take its chart from an OCIRepository")
        oci = find("OCIRepository", reference["name"])["spec"]
        return Release(
            oci["url"],
            None,
            str(oci["ref"]["tag"]),
            spec.get("releaseName", CONTROLLER.name),
            spec.get("targetNamespace", release["metadata"]["namespace"]),
            values,
            CONTROLLER.name,
        )

    def namespace_object(self, platform: Platform, read: Reader, unit: Unit[Any]) -> Document:
        path = platform.layout.app_file(unit.name)
        for document in read(path):
            if document.get("kind") == "Namespace" and document["metadata"]["name"] == unit.namespace:
                return document
        raise TreeError(f"{path} holds no Namespace {unit.namespace}")

    watched = (
        ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
        ("helm.toolkit.fluxcd.io/v2", "HelmRelease"),
    )

    def watch_paths(self, platform: Platform) -> list[str]:
        return [platform.layout.apps_dir, *(platform.layout.release_dir(unit.name) for unit in platform.units)]

    def assess(self, platform: Platform, document: Document, revision: str) -> Optional[str]:
        status = document.get("status") or {}
        ready = next((condition for condition in status.get("conditions") or [] if condition.get("type") == "Ready"), None)
        why = []
        if ready is None or ready.get("status") != "True":
            why.append(f"{ready.get('reason', 'not ready')}: {ready.get('message', '')}".rstrip(": ") if ready else "not reconciled yet")
        source = (document.get("spec") or {}).get("sourceRef") or {}
        if document.get("kind") == "Kustomization" and source.get("kind") == "GitRepository" and source.get("name") == GIT_SOURCE:
            # lastAppliedRevision: "<branch>@sha1:<commit>"
            applied = str(status.get("lastAppliedRevision") or "")
            if not applied.endswith(f":{revision}"):
                why.append(f"at {applied.rpartition(':')[2][:12] or 'no revision yet'}, not {revision[:12]}")
        return "; ".join(why) if why else None

    def adopt(self, release: Release, document: Document) -> Document:
        # Helm installs over objects that already exist only when they say they are this release's.
        metadata = dict(document.get("metadata") or {})
        metadata["labels"] = {**(metadata.get("labels") or {}), "app.kubernetes.io/managed-by": "Helm"}
        metadata["annotations"] = {
            **(metadata.get("annotations") or {}),
            "meta.helm.sh/release-name": release.name,
            "meta.helm.sh/release-namespace": release.namespace,
        }
        return {**document, "metadata": metadata}

    def secret(self, platform: Platform, key: tuple[str, str], data: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        if key == (DEPLOY_KEY.namespace, DEPLOY_KEY.secret) and platform.known_hosts:
            # source-controller verifies an ssh repository's host against the pull Secret's known_hosts, and
            # refuses to connect without them.
            data = {**data, "known_hosts": "\n".join(platform.known_hosts) + "\n"}
        return data, {}

    def _interval(self, platform: Platform) -> str:
        return CONTROLLER.settings(platform).interval

    def _component(self, platform: Platform, part: Part) -> Tree:
        unit, interval, layout = part.unit, self._interval(platform), platform.layout
        chart = unit.chart
        # The namespace with its Pod Security level (a hardened cluster defaults to restricted, which some charts
        # cannot meet), never pruned: turning a component off must not delete its volumes.
        namespace = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": unit.namespace,
                "labels": platform.pod_security_labels(unit.pod_security),
                "annotations": dict(self.protect),
            },
        }
        release: Document = {
            "releaseName": unit.name,
            "targetNamespace": unit.namespace,
            "storageNamespace": unit.namespace,
            "interval": interval,
            # Multi-tenant Flux impersonates a tenant account unless told otherwise: the platform's own releases
            # run as the controller's account.
            "serviceAccountName": "helm-controller",
            "install": {"createNamespace": True, "crds": "CreateReplace", "strategy": dict(RETRY)},
            "upgrade": {"crds": "CreateReplace", "strategy": dict(RETRY)},
            "valuesFrom": [{"kind": "ConfigMap", "name": f"{unit.name}-values", "valuesKey": "values.yaml"}],
        }
        if unit.chart_secrets:
            # Secrets the chart makes up itself (random values) while the tree carries them sealed: taken out of
            # the chart's output, so the sealed-secrets controller alone writes them.
            release["postRenderers"] = [
                {
                    "kustomize": {
                        "patches": [
                            {
                                "target": {"version": "v1", "kind": "Secret", "name": name},
                                "patch": f"$patch: delete\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n",
                            }
                            for name in unit.chart_secrets
                        ]
                    }
                }
            ]
        if chart.oci:
            source = _object(
                "source.toolkit.fluxcd.io/v1",
                "OCIRepository",
                unit.name,
                {
                    "interval": interval,
                    "url": chart.oci_url,
                    "ref": {"tag": chart.version},
                    "layerSelector": {"mediaType": HELM_CHART_LAYER, "operation": "copy"},
                },
            )
            release["chartRef"] = {"kind": "OCIRepository", "name": unit.name}
        else:
            source = _object("source.toolkit.fluxcd.io/v1", "HelmRepository", unit.name, {"interval": interval, "url": chart.repo})
            release["chart"] = {
                "spec": {
                    "chart": chart.name,
                    "version": chart.version,
                    "sourceRef": {"kind": "HelmRepository", "name": unit.name},
                    "interval": interval,
                }
            }
        if part.depends_on:
            release["dependsOn"] = [{"name": name} for name in part.depends_on]
        values = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{unit.name}-values", "namespace": self.namespace},
            "data": {"values.yaml": dump_one(part.values)},
        }
        helm_release = _object("helm.toolkit.fluxcd.io/v2", "HelmRelease", unit.name, release)
        tree: Tree = {layout.release_file(unit.name, document): [document] for document in (source, values, helm_release)}
        manifests_first = bool(part.manifests) and unit.name not in part.manifests_need
        release_after = [*part.depends_on, *([f"{unit.name}-manifests"] if manifests_first else [])]
        # Ready once the HelmRelease is (wait): what depends on this component waits for the chart itself.
        documents = [namespace, self._apply(platform, unit.name, layout.release_dir(unit.name), release_after, wait=True)]
        if part.manifests:
            documents.append(self._apply(platform, f"{unit.name}-manifests", layout.manifests_dir(unit.name), list(part.manifests_need)))
        tree[layout.app_file(unit.name)] = documents
        return tree

    def _apply(self, platform: Platform, name: str, path: str, after: list[str], *, wait: bool = False) -> Document:
        """A platform Kustomization of the tree's ``path``, as the controller's account, after ``after``."""
        spec: Document = {
            "interval": self._interval(platform),
            # A dependency not ready yet, or a webhook still starting: retried soon, not at the next interval.
            "retryInterval": "1m",
            "path": path,
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": GIT_SOURCE},
            "serviceAccountName": "kustomize-controller",
        }
        if wait:
            spec["wait"] = True
            spec["timeout"] = "10m"
        if after:
            spec["dependsOn"] = [{"name": other} for other in after]
        return _kustomization(name, spec)

    def _tenant(self, platform: Platform, tenant: Tenant, needs: tuple[str, ...]) -> list[Document]:
        interval, layout = self._interval(platform), platform.layout
        # A tenant deleted from the spec leaves its objects (and so its data) in the cluster, unless it was
        # first set to state: absent.
        deletion = "Delete" if tenant.state == "absent" else "Orphan"
        spec: Document = {
            "interval": interval,
            "retryInterval": "1m",
            "path": layout.tenant_keelson(tenant.name),
            "prune": True,
            "deletionPolicy": deletion,
            "sourceRef": {"kind": "GitRepository", "name": GIT_SOURCE},
            "serviceAccountName": "kustomize-controller",
        }
        if needs:
            # The tenant roles its RoleBindings name, sealed-secrets for its SealedSecrets, ...
            spec["dependsOn"] = [{"name": name} for name in needs]
        base = _kustomization(f"tenant-{tenant.name}", spec)
        own: Document = {
            "interval": interval,
            "path": layout.tenant_apps(tenant.name),
            "prune": True,
            "deletionPolicy": deletion,
            "sourceRef": {"kind": "GitRepository", "name": GIT_SOURCE},
            # The team's own manifests apply as the tenant's service account: only what it may do, only where.
            "serviceAccountName": f"tenant-{tenant.name}",
            "dependsOn": [{"name": f"tenant-{tenant.name}"}],
        }
        # One namespace: objects go there. Several: each object must name its namespace; the account has rights
        # in the tenant's namespaces only, so an object naming none (it would land in `default`) or another
        # team's is refused by the API server, and the Kustomization reports which.
        if len(tenant.namespaces) == 1:
            own["targetNamespace"] = tenant.namespaces[0]
        return [base, _kustomization(f"tenant-{tenant.name}-apps", own)]

    def tree(
        self,
        platform: Platform,
        parts: list[Part],
        tenant_wave: int,
        tenant_needs: Mapping[str, tuple[str, ...]],
        ml_needs: Mapping[str, tuple[str, ...]],
    ) -> Tree:
        layout, repo = platform.layout, platform.spec.gitops.repo
        instance = {
            "apiVersion": "fluxcd.controlplane.io/v1",
            "kind": "FluxInstance",
            # In the folder it syncs (layout.root_file): a change to it reaches the cluster like any other;
            # never pruned, so removing the file cannot uninstall Flux.
            "metadata": {"name": "flux", "namespace": self.namespace, "annotations": dict(self.protect)},
            "spec": {
                "distribution": {"version": CATALOG["components"]["flux_instance"]["distribution"], "registry": "ghcr.io/fluxcd"},
                "components": ["source-controller", "kustomize-controller", "helm-controller", "notification-controller"],
                # Multi-tenancy lockdown: no cross-namespace references, and whatever names no service account
                # runs as the namespace's flux-reconciler (which only tenants' namespaces have).
                "cluster": {
                    "type": "kubernetes",
                    "multitenant": True,
                    "networkPolicy": True,
                    "domain": "cluster.local",
                    "tenantDefaultServiceAccount": FLUX_RECONCILER,
                },
                "sync": {
                    "kind": "GitRepository",
                    "url": ssh_url(platform.repo_url),
                    "ref": f"refs/heads/{repo.branch}",
                    "path": layout.apps_dir,
                    "pullSecret": DEPLOY_KEY.secret,
                    "interval": self._interval(platform),
                },
            },
        }
        tree: Tree = {layout.root_file: [instance], layout.app_file(TENANCY): [self._apply(platform, TENANCY, layout.tenancy_dir, [])]}
        for part in parts:
            tree.update(self._component(platform, part))
        for tenant in platform.spec.tenants:
            tree[layout.app_file(f"tenant-{tenant.name}")] = self._tenant(platform, tenant, tenant_needs.get(tenant.name, ()))
            if tenant.name in ml_needs:
                tree[layout.app_file(f"tenant-{tenant.name}")].append(self._tenant_ml(platform, tenant, ml_needs[tenant.name]))
        return tree

    def _tenant_ml(self, platform: Platform, tenant: Tenant, needs: tuple[str, ...]) -> Document:
        """What keelson renders from the team's ML projects, applied as the tenant's own account (like its apps),
        after its platform folder (namespaces, accounts, queues) and the components whose kinds it holds."""
        spec: Document = {
            "interval": self._interval(platform),
            "path": platform.layout.tenant_ml(tenant.name),
            "prune": True,
            "deletionPolicy": "Delete" if tenant.state == "absent" else "Orphan",
            "sourceRef": {"kind": "GitRepository", "name": GIT_SOURCE},
            "serviceAccountName": f"tenant-{tenant.name}",
            "targetNamespace": tenant.namespaces[0],
            "dependsOn": [{"name": name} for name in (f"tenant-{tenant.name}", *needs)],
        }
        return _kustomization(f"tenant-{tenant.name}-ml", spec)

    def tenant_sources(self, platform: Platform, tenant: Tenant) -> list[Document]:
        """Each extra repository as a GitRepository and a Kustomization of its top folder, in the tenant's first
        namespace; naming no service account, they run as that namespace's flux-reconciler (the tenant's own
        rights), so a repository can deploy only what the team could."""
        home, interval = tenant.namespaces[0], self._interval(platform)
        documents: list[Document] = []
        for url in tenant.repos:
            slug = re.sub(r"[^a-z0-9-]+", "-", url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git").lower()).strip("-")[:40]
            name = f"{slug or 'repo'}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"
            source = {"interval": interval, "url": ssh_url(url), "ref": {"branch": "main"}}
            documents.append(
                {
                    "apiVersion": "source.toolkit.fluxcd.io/v1",
                    "kind": "GitRepository",
                    "metadata": {"name": name, "namespace": home},
                    "spec": source,
                }
            )
            apply: Document = {"interval": interval, "path": "./", "prune": True, "sourceRef": {"kind": "GitRepository", "name": name}}
            if len(tenant.namespaces) == 1:
                apply["targetNamespace"] = home
            documents.append(
                {
                    "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                    "kind": "Kustomization",
                    "metadata": {"name": name, "namespace": home},
                    "spec": apply,
                }
            )
        return documents

    def tenant_accounts(self, platform: Platform, tenant: Tenant) -> list[Document]:
        accounts = [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": f"tenant-{tenant.name}", "namespace": self.namespace}}
        ]
        accounts += [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": FLUX_RECONCILER, "namespace": namespace}}
            for namespace in tenant.namespaces
        ]
        return accounts

    def tenant_bindings(self, platform: Platform, tenant: Tenant, namespace: str) -> list[Document]:
        # Flux applies the team's folder as tenant-<name> and the team's own Flux objects as flux-reconciler
        # (impersonation): the tenant admin role here (SealedSecrets included; no quota, limits, network
        # policies or RBAC), nothing anywhere else.
        return [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "tenant-flux-reconciler", "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ADMIN},
                "subjects": [
                    {"kind": "ServiceAccount", "name": f"tenant-{tenant.name}", "namespace": self.namespace},
                    {"kind": "ServiceAccount", "name": FLUX_RECONCILER, "namespace": namespace},
                ],
            }
        ]


ENGINE: Final = FluxEngine()
