# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The platform as typed objects: the normalised spec built once into the spec model's dataclasses, with every
derived name computed here and nowhere else (the OIDC issuer, the repository URL, the tree layout, the enabled
units and their sync order). Renderers read typed attributes, so mypy checks them."""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import posixpath
from collections.abc import Mapping
from typing import Any, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils import _ml
from ansible_collections.keelson.platform.plugins.module_utils._catalog import kube_minor
from ansible_collections.keelson.platform.plugins.module_utils._components import COMPONENTS
from ansible_collections.keelson.platform.plugins.module_utils._components import keycloak as _keycloak
from ansible_collections.keelson.platform.plugins.module_utils._components import minio as _minio
from ansible_collections.keelson.platform.plugins.module_utils._components import mlflow as _mlflow
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import Unit, tcp
from ansible_collections.keelson.platform.plugins.module_utils._engines import ENGINES, TENANCY, Engine
from ansible_collections.keelson.platform.plugins.module_utils._gitops import GitopsRepo, gitops_repo
from ansible_collections.keelson.platform.plugins.module_utils._ml_project import Project
from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.module_utils._spec_model import SPEC, PlatformSpec, Tenant
from ansible_collections.keelson.platform.plugins.plugin_utils._tree_check import CONFIG_PATH

# The repository's own CI files: at its top, outside the platform's folder.
CI_PATHS: Final = (".github/workflows/validate.yml", ".gitlab-ci.yml", ".keelson/validate.py", CONFIG_PATH)


# The Kubernetes API server's port on k3s servers (and the API VIP), and the ``kubernetes`` Service's.
API_SERVER_PORT: Final = 6443
API_SERVICE_PORT: Final = 443


def _cidr(address: str) -> str:
    return f"{address}/{ipaddress.ip_address(address).max_prefixlen}"


def pod_security_labels(level: str, k3s_version: str) -> dict[str, str]:
    """A namespace's Pod Security labels: ``level`` enforced, audited and warned, pinned to the cluster's minor."""
    version = kube_minor(k3s_version)
    labels = {}
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = level
        labels[f"pod-security.kubernetes.io/{mode}-version"] = version
    return labels


def _file_name(document: dict[str, Any]) -> str:
    return f"{document['kind'].lower()}-{document['metadata']['name']}.yaml"


@dataclasses.dataclass(frozen=True)
class Layout:
    """Every path of the tree, relative to the repository's top; ``base`` is ``gitops.repo.path``."""

    base: str
    cluster: str

    def path(self, *parts: str) -> str:
        return posixpath.join(*parts) if self.base == "." else posixpath.join(self.base, *parts)

    @property
    def root_file(self) -> str:
        """The root object (Argo CD's root Application, Flux's FluxInstance): inside the folder it syncs, so it
        manages itself from Git after the bootstrap has applied it once."""
        return posixpath.join(self.apps_dir, "root.yaml")

    @property
    def apps_dir(self) -> str:
        return self.path("clusters", self.cluster, "apps")

    def app_file(self, name: str) -> str:
        return posixpath.join(self.apps_dir, f"{name}.yaml")

    def component_dir(self, name: str) -> str:
        return self.path("platform", name)

    def values_file(self, name: str) -> str:
        return posixpath.join(self.component_dir(name), "values.yaml")

    def manifests_dir(self, name: str) -> str:
        return posixpath.join(self.component_dir(name), "manifests")

    def manifest_file(self, name: str, document: dict[str, Any]) -> str:
        return posixpath.join(self.manifests_dir(name), _file_name(document))

    def release_dir(self, name: str) -> str:
        """Flux: the chart's source, values and HelmRelease, applied by a Kustomization of their own (so that
        they can wait for, or be waited for by, other Kustomizations)."""
        return posixpath.join(self.component_dir(name), "release")

    def release_file(self, name: str, document: dict[str, Any]) -> str:
        return posixpath.join(self.release_dir(name), _file_name(document))

    @property
    def tenancy_dir(self) -> str:
        """The tenant roles (cluster-scoped, rendered once); no component is called ``tenancy``."""
        return self.path("platform", TENANCY)

    def tenancy_file(self, document: dict[str, Any]) -> str:
        return posixpath.join(self.tenancy_dir, _file_name(document))

    def tenant_dir(self, tenant: str) -> str:
        return self.path("tenants", tenant)

    def tenant_keelson(self, tenant: str) -> str:
        return posixpath.join(self.tenant_dir(tenant), "keelson")

    def tenant_apps(self, tenant: str) -> str:
        return posixpath.join(self.tenant_dir(tenant), "apps")

    def tenant_ml_sources(self, tenant: str) -> str:
        """The team's ML projects, one folder each (the team's files: keelson reads them, never writes them)."""
        return posixpath.join(self.tenant_dir(tenant), "ml")

    def tenant_ml(self, tenant: str) -> str:
        """What keelson renders from the team's ML projects, applied as the tenant's own account."""
        return posixpath.join(self.tenant_dir(tenant), "keelson-ml")

    def tenant_ml_file(self, tenant: str, project: str) -> str:
        return posixpath.join(self.tenant_ml(tenant), f"{project}.yaml")

    @property
    def values_glob(self) -> str:
        """The chart values files (not Kubernetes manifests)."""
        return self.values_file("*")

    def owns(self, path: str) -> bool:
        """Whether ``path`` is in the part of the repository this platform renders (its folder, and the CI)."""
        return self.base == "." or path in CI_PATHS or path.startswith(self.base.rstrip("/") + "/")

    def tenant_of(self, path: str) -> Optional[str]:
        """The tenant whose folder holds ``path``, if any."""
        prefix = self.path("tenants") + "/"
        if not path.startswith(prefix):
            return None
        parts = path[len(prefix) :].split("/")
        return parts[0] if len(parts) > 1 else None


@dataclasses.dataclass(frozen=True)
class Node:
    host: str
    role: str  # server or agent
    address: str
    gpus: int = 0  # keelson_node.gpus


class Platform:
    """A validated platform: ``spec`` typed, the inventory's nodes, the platform CA's certificate, and what is
    derived from them."""

    def __init__(
        self,
        spec: dict[str, Any],
        nodes: list[dict[str, Any]],
        ca_certificate: Optional[str] = None,
        host_keys: tuple[str, ...] = (),
        ml_projects: Optional[Mapping[str, tuple[Project, ...]]] = None,
    ) -> None:
        self.spec: PlatformSpec = SPEC.build(spec)
        # The tenants' ML projects as read from the repository (tenant name -> its projects, checked).
        self.ml_projects: Mapping[str, tuple[Project, ...]] = ml_projects or {}
        self.nodes = tuple(Node(node["host"], node["role"], node["address"], int(node.get("gpus") or 0)) for node in nodes)
        # The platform CA's certificate (PEM) every OIDC consumer trusts: the credential keelson generated
        # (_platform_secrets.ca_certificate); None with a public CA (ACME) or where nothing is rendered.
        self.ca_certificate = ca_certificate
        # The embedded Git server's host keys as known_hosts lines, as pinned in the secrets backend (empty
        # before the first site run pinned them, and for an external repository, whose keys the spec gives).
        self._host_keys = host_keys
        # What units are handed. mypy knows this file under two module names (plugins.… as checked, and
        # ansible_collections.… as the units import it), so it is told this is the latter.
        self._me: Any = self

    # ---------------------------------------------------------------------------- units

    @functools.cached_property
    def engine(self) -> Engine[Any]:
        return ENGINES[self.spec.gitops.engine]

    @property
    def registered(self) -> tuple[Unit[Any], ...]:
        """Every unit a platform can have: each engine's controller, then the components."""
        return (*(engine.controller for engine in ENGINES.values()), *COMPONENTS)

    @functools.cached_property
    def units(self) -> tuple[Unit[Any], ...]:
        """The enabled units in sync order: the engine's controller first."""
        return tuple(unit for unit in self.registered if unit.enabled(self._me))

    def unit(self, name: str) -> Unit[Any]:
        return next(unit for unit in self.registered if unit.name == name)

    def enabled(self, name: str) -> bool:
        return any(unit.name == name for unit in self.units)

    def crd_owner(self, api_version: str, kind: str = "") -> Optional[str]:
        """The enabled unit whose chart installs the custom resources of ``api_version`` (and ``kind``, where two
        charts serve one group: :attr:`Unit.crd_kinds`), if any."""
        group = api_version.rpartition("/")[0]
        if not group:
            return None
        by_kind = next((unit.name for unit in self.units for owned, kinds in unit.crd_kinds if owned == group and kind in kinds), None)
        return by_kind or next((unit.name for unit in self.units if group in unit.crd_groups), None)

    @functools.cached_property
    def tenant_resources(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """(API group, resources) a team writes beyond the workloads: every enabled unit's ``tenant_resources``."""
        return tuple(resource for unit in self.units for resource in unit.tenant_resources)

    @functools.cached_property
    def tenant_reads(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """(API group, resources) a team may only read: every enabled unit's ``tenant_reads``."""
        return tuple(resource for unit in self.units for resource in unit.tenant_reads)

    @functools.cached_property
    def ingress_hosts(self) -> tuple[str, ...]:
        """Every enabled unit's ingress host (its :attr:`Unit.hosts` claims that are set)."""
        return tuple(host for unit in self.units for claim in unit.hosts if (host := getattr(unit.settings(self._me), claim.field, None)))

    def webhook_owners(self, api_version: str) -> tuple[str, ...]:
        """The enabled units whose admission webhooks admit objects of ``api_version``'s group
        (:attr:`Unit.webhook_groups`)."""
        group = api_version.rpartition("/")[0]
        return tuple(unit.name for unit in self.units if group and group in unit.webhook_groups)

    def dependencies(self, unit: Unit[Any]) -> tuple[str, ...]:
        """The enabled components ``unit`` waits for."""
        return tuple(name for name in unit.dependencies(self._me) if self.enabled(name))

    @functools.cached_property
    def waves(self) -> dict[str, int]:
        """Argo CD sync waves from the dependency order: the controller at -1, a component with no (enabled)
        dependency at 0, any other one wave after the last of its dependencies."""
        waves: dict[str, int] = {}
        for unit in self.units:  # dependencies come first in the registry
            deps = self.dependencies(unit)
            waves[unit.name] = -1 if unit.controller else (max(waves[name] for name in deps) + 1 if deps else 0)
        return waves

    @property
    def tenant_wave(self) -> int:
        """Tenants' platform folders after every component (their Secrets need the controller, their
        dashboards Grafana); their own folders one wave later."""
        return max(self.waves.values()) + 1

    # ---------------------------------------------------------------------------- the API server

    @functools.cached_property
    def api_server_egress(self) -> list[dict[str, Any]]:
        """Egress rules to the API server (``Network.api``, and a tenant's pods that talk to it). It is no pod, so:
        the servers' addresses and the API VIP on 6443 (where the ``kubernetes`` Service's endpoints point), and
        the Service's own address on 443 (for CNIs that match before the Service is resolved). A server whose
        inventory address is a host name is left out: the Service's endpoints are the servers' IP addresses
        (k3s' node-ip)."""
        addresses = [node.address for node in self.nodes if node.role == "server"]
        if self.spec.cluster.api_vip:
            addresses.append(self.spec.cluster.api_vip)
        blocks = []
        for address in dict.fromkeys(addresses):
            try:
                blocks.append({"ipBlock": {"cidr": _cidr(address)}})
            except ValueError:
                continue
        services = [_cidr(str(next(ipaddress.ip_network(cidr).hosts()))) for cidr in self.spec.cluster.service_cidr]
        return [
            {"to": blocks, "ports": tcp((API_SERVER_PORT,))},
            {"to": [{"ipBlock": {"cidr": cidr}} for cidr in services], "ports": tcp((API_SERVICE_PORT,))},
        ]

    # ---------------------------------------------------------------------------- names

    @functools.cached_property
    def issuer_url(self) -> Optional[str]:
        """The OIDC issuer every component trusts; None without Keycloak."""
        if not self.enabled(_keycloak.UNIT.name):
            return None
        return _keycloak.issuer_url(str(_keycloak.UNIT.settings(self._me).host), self.spec.identity.realm)

    @property
    def ingress_urls(self) -> list[tuple[str, str]]:
        """(unit name, https URL) of every ingress host an enabled unit claims, in sync order."""
        return [(unit.name, f"https://{unit.host(self._me, claim.field)}/") for unit in self.units for claim in unit.hosts]

    @functools.cached_property
    def repo(self) -> GitopsRepo:
        """The GitOps repository's facts (module_utils/_gitops.py): the embedded one lives on the first server."""
        repo = self.spec.gitops.repo
        servers = [(node.host, node.address) for node in self.nodes if node.role == "server"]
        return gitops_repo(self.spec.name, repo.url, repo.branch, servers)

    @property
    def repo_url(self) -> str:
        """The GitOps repository's URL as Ansible pushes to it and the cluster reaches it."""
        url = self.repo.url
        if url is None:
            raise KeelsonError("the embedded GitOps repository lives on the first server, and the inventory names none (keelson_servers)")
        return url

    @property
    def known_hosts(self) -> tuple[str, ...]:
        """The known_hosts lines the cluster (and Ansible) trust for the GitOps repository: the spec's for an
        external ssh repository, the pinned ones for the embedded server, none for https."""
        repo = self.spec.gitops.repo
        return tuple(repo.known_hosts) if repo.url != "embedded" else self._host_keys

    @functools.cached_property
    def layout(self) -> Layout:
        return Layout(self.spec.gitops.repo.path, self.spec.name)

    @property
    def kube_minor(self) -> str:
        return kube_minor(self.spec.cluster.k3s_version)

    def pod_security_labels(self, level: str) -> dict[str, str]:
        return pod_security_labels(level, self.spec.cluster.k3s_version)

    @property
    def protect(self) -> dict[str, str]:
        """Annotations that keep an object from being pruned or deleted by any engine (switching engines keeps
        the protection)."""
        return {key: value for engine in ENGINES.values() for key, value in engine.protect.items()}

    # ---------------------------------------------------------------------------- ML layer

    def tenant(self, name: str) -> Tenant:
        """The spec's tenant of that name."""
        return next(entry for entry in self.spec.tenants if entry.name == name)

    def ml_namespace(self, tenant: str) -> str:
        """Where a tenant's ML projects run: its first namespace, which holds its credentials."""
        return self.tenant(tenant).namespaces[0]

    @functools.cached_property
    def ml_endpoints(self) -> MLEndpoints:
        """What a tenant's ML steps are pointed at (the same for every tenant; the credentials are their own)."""
        minio = self.unit("minio").namespace
        return MLEndpoints(
            tracking_uri=_mlflow.tracking_uri(self._me),
            s3_endpoint=f"http://{_minio.s3_address(minio)}",
            secrets=(_minio.TENANT_SECRET, _ml.MLFLOW_SECRET),
        )


@dataclasses.dataclass(frozen=True)
class MLEndpoints:
    tracking_uri: str
    s3_endpoint: str
    secrets: tuple[str, ...]  # the tenant's Secrets the steps read their credentials from (envFrom)
