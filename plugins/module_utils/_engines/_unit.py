# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a GitOps engine implements (one file per engine beside this one; the registry is ``__init__.py``).

An engine owns: its controller (a component :class:`Unit` that manages itself), its settings in the spec
(``gitops.<engine>``), the root object the bootstrap applies, the documents that install a component and
those that apply a tenant's folders, the annotations that keep a namespace from being pruned, the labels its
Secrets need, and where the repository's deploy key goes. Nothing outside the engine files asks which engine
is in use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Final, Generic, Optional, TypeVar

from ansible_collections.keelson.platform.plugins.module_utils._components._unit import Document, Target, Unit

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.module_utils._spec_model import Tenant
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

S = TypeVar("S")
Tree = dict[str, list[Document]]
# The Application / Kustomization that applies the tenant roles (platform/tenancy): what tenants' folders need.
TENANCY: Final = "tenancy"
# A tree file (or every YAML file of a tree folder) as the pushed repository holds it: what the bootstrap reads.
Reader = Callable[[str], list[Document]]
# Kinds without a namespace among those the controllers' charts render (what the tracking and namespace defaults
# need to know without asking the API server).
CLUSTER_SCOPED: Final = frozenset(
    {
        "APIService",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "PersistentVolume",
        "PriorityClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
    }
)


@dataclasses.dataclass(frozen=True)
class Release:
    """The controller's own chart as the tree installs it: what the bootstrap hands ``helm template``, so that
    what it applies is what the controller renders when it takes itself over."""

    chart: str  # the chart's name in ``repo``, or its whole oci:// reference
    repo: Optional[str]  # the chart repository's URL; None for an OCI reference
    version: str
    name: str  # the release name
    namespace: str
    values: Document
    owner: str  # the Application / HelmRelease that manages the release from Git


class TreeError(Exception):
    """The pushed tree does not hold what the bootstrap needs (a hand edit, or a tree of another keelson)."""


@dataclasses.dataclass(frozen=True)
class Part:
    """One enabled component, rendered: its chart values, the manifests beside the chart (sealed Secrets and
    its namespace's NetworkPolicies included), its Argo CD sync wave, the enabled components it waits for, and
    what its manifests need first (the units whose custom resources they are, the component itself
    included when they are its own custom resources)."""

    unit: Unit[Any]
    values: Document
    manifests: list[Document]
    wave: int
    depends_on: tuple[str, ...]
    manifests_need: tuple[str, ...] = ()


class Engine(Generic[S]):
    name: str  # the choice of gitops.engine
    doc: str
    settings_type: type[S]
    controller: Unit[Any]  # installs and manages the engine itself
    # Annotations that keep an object from being pruned or deleted by this engine.
    protect: ClassVar[Mapping[str, str]]
    # The field managers the controller applies with: its own chart's objects, and the root's (the bootstrap
    # applies both as the controller will, so that when it takes them over nothing changes hands or values).
    chart_manager: ClassVar[str]
    root_manager: ClassVar[str]

    @property
    def namespace(self) -> str:
        return self.controller.namespace

    def deploy_key(self) -> Target:
        """The Secret key the controller reads the repository's SSH deploy key from."""
        raise NotImplementedError

    def secret(self, platform: Platform, key: tuple[str, str], data: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        """(data, labels) of a sealed Secret the controller reads: what it needs beside the credentials."""
        return data, {}

    def manifest(self, platform: Platform, unit: Unit[Any], document: Document) -> Document:
        """A manifest beside a component's chart as this engine needs it (annotations of its own)."""
        return document

    def values_files(self) -> bool:
        """Whether the chart values are files of their own (platform/<component>/values.yaml)."""
        return False

    def tree(
        self,
        platform: Platform,
        parts: list[Part],
        tenant_wave: int,
        tenant_needs: Mapping[str, tuple[str, ...]],
        ml_needs: Mapping[str, tuple[str, ...]],
    ) -> Tree:
        """The root object, the documents that install each component, apply the tenant roles
        (:data:`TENANCY`, ``layout.tenancy_dir``) and each tenant's folders. ``tenant_needs``: tenant name ->
        what its platform folder needs first (unit names, :data:`TENANCY`). ``ml_needs``: tenant name -> what its
        ML projects' folder (``layout.tenant_ml``, applied as the tenant's own account) needs first, for the
        tenants that have ML projects."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------ bootstrap

    def release(self, platform: Platform, read: Reader) -> Release:
        """The controller's chart, version, release name, namespace and values as the pushed tree holds them."""
        raise NotImplementedError

    def namespace_object(self, platform: Platform, read: Reader, unit: Unit[Any]) -> Document:
        """A unit's namespace as the tree makes it (labels, annotations): the bootstrap creates the controller's
        and the sealing controller's first, with the field manager that owns them later (:attr:`namespace_manager`)."""
        raise NotImplementedError

    namespace_manager: ClassVar[str]

    def adopt(self, release: Release, document: Document) -> Document:
        """A chart object as the controller marks what it applies (tracking annotation, Helm ownership)."""
        return document

    def root(self, platform: Platform, read: Reader) -> list[Document]:
        """The root objects (the bootstrap applies them last, with :attr:`root_manager`)."""
        return read(platform.layout.root_file)

    # ------------------------------------------------------------------------------ status

    # The kinds whose status says whether the cluster has applied the tree: (apiVersion, kind).
    watched: ClassVar[tuple[tuple[str, str], ...]]

    def watch_paths(self, platform: Platform) -> list[str]:
        """The tree files and folders that hold every object of a watched kind keelson renders."""
        return [platform.layout.apps_dir]

    def assess(self, platform: Platform, document: Document, revision: str) -> Optional[str]:
        """None when the live object is reconciled at ``revision`` (the pushed commit), else why not, in words."""
        raise NotImplementedError

    def tenant_accounts(self, platform: Platform, tenant: Tenant) -> list[Document]:
        """Service accounts the engine applies a tenant's folders as."""
        return []

    def tenant_bindings(self, platform: Platform, tenant: Tenant, namespace: str) -> list[Document]:
        """What those accounts may do in one of the tenant's namespaces."""
        return []

    def tenant_sources(self, platform: Platform, tenant: Tenant) -> list[Document]:
        """Objects in the tenant's namespaces for its extra repositories (``tenants[].repos``), if the engine
        needs any (Argo CD only lists them in the tenant's AppProject)."""
        return []
