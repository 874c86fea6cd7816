# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bootstrap: what Ansible applies once so that the cluster starts managing itself from Git (DESIGN.md §1).

In order, each step applied with server-side apply (a server-side dry run in check mode):

1. the namespaces of the GitOps controller and of the Sealed Secrets controller, as the tree makes them;
2. the sealing key pairs from the secrets backend, as the Sealed Secrets controller's key Secrets (before the
   controller starts, so it never makes a key of its own and can open every SealedSecret in Git);
3. the repository credentials the controller reads Git with, as the Secret the tree's SealedSecret of the same
   name takes over (``sealedsecrets.bitnami.com/managed``), with the pinned known_hosts;
4. the controller's chart CRDs, then 5. the rest of its chart, rendered by ``helm template`` from the chart,
   version, release name, namespace and values the pushed tree holds, applied with the field manager the
   controller itself applies with and marked as it marks what it owns, so that when it syncs itself nothing
   changes (no restart, no admin password reset);
6. the root objects of the tree (Argo CD's bootstrap project and root Application; Flux's FluxInstance).

This module builds the steps as data; the action (plugins/action/gitops_bootstrap.py) renders the chart and
applies them through kubernetes.core.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from collections.abc import Iterable, Mapping
from typing import Final

from ansible_collections.keelson.platform.plugins.module_utils._components import sealed_secrets
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import Document
from ansible_collections.keelson.platform.plugins.module_utils._engines._unit import CLUSTER_SCOPED, Reader, Release, TreeError
from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.module_utils._sealing import key_secret
from ansible_collections.keelson.platform.plugins.module_utils._yaml import load_all
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform
from ansible_collections.keelson.platform.plugins.plugin_utils._render import SecretToSeal

# What keelson applies that no controller owns afterwards (the key Secrets never are in Git; the repository
# credentials are taken over by the sealed-secrets controller, which writes them as its own).
MANAGER: Final = "keelson"
MANAGED: Final = {"sealedsecrets.bitnami.com/managed": "true"}
_CRD: Final = "CustomResourceDefinition"
_PUSH_FIRST: Final = "render and push it first (site.yml does both)"


@dataclasses.dataclass(frozen=True)
class Step:
    """Objects applied together with one field manager. ``secret``: the objects carry credentials (never
    logged); ``wait``: wait until they are ready; ``needs``: the CRDs (by name) they are instances of, which a
    server-side dry run needs installed."""

    name: str
    objects: tuple[Document, ...]
    manager: str
    secret: bool = False
    wait: bool = False
    needs: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [describe(document) for document in self.objects]


def describe(document: Document) -> str:
    metadata = document.get("metadata") or {}
    namespace = metadata.get("namespace")
    return f"{document.get('kind')} {namespace + '/' if namespace else ''}{metadata.get('name')}"


def reader(root: str) -> Reader:
    """Documents of a tree file, or of every YAML file of a tree folder (sorted), under ``root`` (the pushed
    working copy). A file that is missing or not YAML is a TreeError naming it."""

    def read(path: str) -> list[Document]:
        import yaml  # noqa: PLC0415 - controller side, as _yaml

        full = os.path.join(root, path)
        if os.path.isdir(full):
            files = sorted(os.path.join(full, name) for name in os.listdir(full) if name.endswith((".yaml", ".yml")))
        else:
            files = [full]
        documents: list[Document] = []
        for file in files:
            try:
                with open(file, encoding="utf-8") as handle:
                    documents += [document for document in load_all(handle.read()) if isinstance(document, dict)]
            except FileNotFoundError as error:
                raise TreeError(f"{os.path.relpath(file, root)} is not in the repository's working copy {root}") from error
            except (OSError, UnicodeDecodeError) as error:
                raise TreeError(f"cannot read {os.path.relpath(file, root)}: {error}") from error
            except yaml.YAMLError as error:
                raise TreeError(f"{os.path.relpath(file, root)} is not YAML: {error}") from error
        return documents

    return read


def crd_names(documents: Iterable[Document]) -> dict[tuple[str, str], str]:
    """(group, kind) -> CRD name, for the CRDs among ``documents``."""
    found = {}
    for document in documents:
        if document.get("kind") == _CRD:
            spec = document["spec"]
            found[(spec["group"], spec["names"]["kind"])] = document["metadata"]["name"]
    return found


def _needs(objects: Iterable[Document], crds: Mapping[tuple[str, str], str]) -> tuple[str, ...]:
    wanted = {crds.get((document["apiVersion"].rpartition("/")[0], document["kind"])) for document in objects}
    return tuple(sorted(name for name in wanted if name))


def _secret(name: str, namespace: str, data: Mapping[str, str], labels: Mapping[str, str]) -> Document:
    """A Secret as the sealed copy in the tree decrypts to, which that SealedSecret may take over."""
    metadata: Document = {"name": name, "namespace": namespace, "annotations": dict(MANAGED)}
    if labels:
        metadata["labels"] = dict(labels)
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in sorted(data.items())}
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": metadata, "data": encoded}


def release(platform: Platform, read: Reader) -> Release:
    """The controller's chart as the pushed tree installs it (a KeelsonError when the tree lacks it)."""
    try:
        return platform.engine.release(platform, read)
    except TreeError as error:
        raise KeelsonError(
            f"the repository does not hold what the bootstrap needs: {error}; render and push it first (site.yml)"
        ) from error


def plan(
    platform: Platform,
    *,
    read: Reader,
    pairs: list[dict[str, str]],
    sealed: Mapping[tuple[str, str], SecretToSeal],
    chart: Release,
    manifests: list[Document],
) -> list[Step]:
    """The bootstrap's steps in order. ``pairs``: the sealing key pairs from the backend; ``sealed``: the Secrets
    the tree carries sealed (render.secrets_to_seal), whose repository credentials the controller needs now;
    ``manifests``: ``helm template`` of ``chart``."""
    engine = platform.engine
    try:
        units = [engine.controller] + [unit for unit in platform.units if unit is sealed_secrets.UNIT]
        found = [engine.namespace_object(platform, read, unit) for unit in units]
        namespaces = tuple({namespace["metadata"]["name"]: namespace for namespace in found}.values())
        root = tuple(engine.root(platform, read))
    except TreeError as error:
        raise KeelsonError(
            f"the repository does not hold what the bootstrap needs: {error}; render and push it first (site.yml)"
        ) from error
    steps = [Step("namespaces", namespaces, engine.namespace_manager)]
    if platform.enabled(sealed_secrets.UNIT.name):
        keys = tuple(key_secret(pair, sealed_secrets.UNIT.namespace) for pair in pairs)
        steps.append(Step("sealing keys", keys, MANAGER, secret=True))
    target = engine.deploy_key()
    repository = sealed.get((target.namespace, target.secret))
    if repository is not None:
        steps.append(
            Step(
                "repository credentials",
                (_secret(target.secret, target.namespace, repository.data, repository.labels),),
                MANAGER,
                secret=True,
            )
        )
    adopted = [engine.adopt(chart, _namespaced(document, chart.namespace)) for document in _installed(manifests)]
    crds = tuple(document for document in adopted if document.get("kind") == _CRD)
    rest = tuple(document for document in adopted if document.get("kind") != _CRD)
    known = crd_names(crds)
    steps.append(Step("controller CRDs", crds, engine.chart_manager))
    steps.append(Step("controller", rest, engine.chart_manager, wait=True, needs=_needs(rest, known)))
    steps.append(Step("root", root, engine.root_manager, needs=_needs(root, known)))
    return [step for step in steps if step.objects]


def _hooks(document: Document) -> set[str]:
    annotations = (document.get("metadata") or {}).get("annotations") or {}
    return {hook.strip() for hook in str(annotations.get("helm.sh/hook", "")).split(",") if hook.strip()}


def _installed(manifests: list[Document]) -> list[Document]:
    """What an install puts on the cluster, in its order: helm's test hooks never (only ``helm test`` runs them,
    and Argo CD skips them), pre-install hooks first (the Job that makes a Secret the workloads mount), then the
    rest in the chart's order."""
    kept = [document for document in manifests if not _hooks(document) & {"test", "test-success", "test-failure"}]
    return sorted(kept, key=lambda document: 0 if "pre-install" in _hooks(document) else 1)


def _namespaced(document: Document, namespace: str) -> Document:
    """helm template leaves out the namespace where a chart's template does: the release's, as helm install
    and the controllers set it (cluster-scoped kinds never get one)."""
    metadata = document.get("metadata") or {}
    if document.get("kind") in CLUSTER_SCOPED or metadata.get("namespace"):
        return document
    return {**document, "metadata": {**metadata, "namespace": namespace}}


def chart_manifests(text: str) -> list[Document]:
    """The objects of ``helm template``'s output (empty documents and lists' items flattened)."""
    objects: list[Document] = []
    for document in load_all(text):
        if not isinstance(document, dict):
            continue
        if document.get("kind", "").endswith("List") and isinstance(document.get("items"), list):
            objects += [item for item in document["items"] if isinstance(item, dict)]
        elif document.get("kind"):
            objects.append(document)
    return objects


def missing_crds(steps: list[Step], installed: Iterable[str]) -> dict[str, list[str]]:
    """Step name -> the CRDs it needs that the API server does not have yet (check mode on a fresh cluster:
    those steps cannot be dry-run, only predicted)."""
    have = set(installed)
    return {step.name: [name for name in step.needs if name not in have] for step in steps if any(name not in have for name in step.needs)}


def check_chart(path: str, release: Release) -> None:
    """A local chart (folder or .tgz) must be the chart and version the tree pins: helm template of a local chart
    ignores --version, so a stale copy would install something else than Git then syncs."""
    import tarfile  # noqa: PLC0415

    import yaml  # noqa: PLC0415

    name = release.chart.rstrip("/").rpartition("/")[2]
    try:
        if os.path.isdir(path):
            with open(os.path.join(path, "Chart.yaml"), encoding="utf-8") as handle:
                chart = yaml.safe_load(handle)
        else:
            with tarfile.open(path) as archive:
                member = archive.extractfile(f"{name}/Chart.yaml")
                if member is None:
                    raise KeyError(name)
                chart = yaml.safe_load(member.read())
    except (OSError, KeyError, tarfile.TarError, yaml.YAMLError) as error:
        raise KeelsonError(f"chart_path {path} is not a readable chart {name} (a folder with Chart.yaml, or its .tgz): {error}") from error
    found = (str((chart or {}).get("name")), str((chart or {}).get("version")))
    if found != (name, release.version):
        raise KeelsonError(
            f"chart_path {path} holds {found[0]} {found[1]}, but the repository pins {name} {release.version}: "
            f"give that chart (helm pull {release.chart} --version {release.version})"
        )
