# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one render path both platform_render and gitops_repo take: read what the secrets backend holds for a
render (once), then render the tree into a folder and say what changed.

:func:`read_inputs` reads the credentials, sealing keys, digest key and the embedded Git server's pinned host
keys, and refuses (outside check mode) when the secrets playbook has not run. :func:`render_into` seals against
the files already in the folder (unchanged values keep their ciphertext), renders, plans and, unless told not
to, writes. :func:`summarise` tells, from the rendered documents themselves, which tenants came or went, which
components' files changed and which charts moved to another version (gitops_repo's commit message).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Final, Optional

import yaml

from ansible_collections.keelson.platform.plugins.module_utils._components._unit import WRITE_KEY
from ansible_collections.keelson.platform.plugins.module_utils._engines import TENANCY
from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.module_utils._sealing import generate_key_pair
from ansible_collections.keelson.platform.plugins.plugin_utils import _ml_sources, _render, _render_files
from ansible_collections.keelson.platform.plugins.plugin_utils import _platform_secrets as platform
from ansible_collections.keelson.platform.plugins.plugin_utils import _sealing_keys as keys
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Layout, Platform
from ansible_collections.keelson.platform.plugins.plugin_utils._secrets import Backend

# The collection's own top folder (plugins/plugin_utils/ is two below it): never a destination.
CHECKOUT: Final = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_NOT_PINNED: Final = (
    "the embedded Git server's host keys are not pinned yet (site.yml pins them when it sets the server up): "
    "the tree tells the GitOps controller no known_hosts for it"
)
RUN_SECRETS: Final = "run the keelson.platform.secrets playbook first (it creates them once, in the secrets backend)"
_HELM_LAYER: Final = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


@dataclasses.dataclass(frozen=True)
class Inputs:
    """What a render needs from the secrets backend, read once (a run may render more than once)."""

    values: dict[str, str]  # credential name -> value (stand-ins in check mode before the first secrets run)
    pairs: list[dict[str, str]]  # the sealing key pairs
    digest_key: Optional[bytes]
    host_keys: tuple[str, ...]  # the embedded Git server's pinned host keys (known_hosts lines), or none yet
    warnings: tuple[str, ...]

    @property
    def write_key(self) -> Optional[str]:
        """The private key Ansible pushes to the embedded Git server with (None for an external repository)."""
        return self.values.get(WRITE_KEY)


def read_inputs(backend: Backend, spec: dict[str, Any], check: bool) -> Inputs:
    """Read only: the secrets playbook creates what is missing. In check mode a first run has no credentials or
    key yet; stand-ins show which files the real run would write. The backend is closed afterwards."""
    try:
        values, missing = platform.ensure(backend, spec, check_mode=True)
        pairs = keys.load(backend)
        digest_key = keys.load_digest_key(backend)
        host_keys = platform.pinned_host_keys(backend)
    finally:
        backend.close()
    if missing and not check:
        raise KeelsonError(f"credentials missing from the secrets backend: {', '.join(missing)}; {RUN_SECRETS}")
    if not pairs and not check:
        raise KeelsonError(f"no sealing key in the secrets backend; {RUN_SECRETS}")
    warnings = [_NOT_PINNED] if spec["gitops"]["repo"]["url"] == "embedded" and not host_keys else []
    if missing or not pairs:
        pairs = pairs or [generate_key_pair()]
        warnings.append(
            "check mode: credentials or the sealing key do not exist yet; stand-ins show the sealed files a real run would write"
        )
    elif digest_key is None:  # an older backend: render as before, opening every value (see _sealing_keys)
        warnings.append(
            "no sealed-value digest key in the secrets backend: every sealed value is opened to compare it, and the tree "
            f"records no digests; {RUN_SECRETS}"
        )
    return Inputs(values, pairs, digest_key, host_keys, tuple(warnings))


@dataclasses.dataclass
class Rendered:
    """A render into a folder: the plan (written or not), the whole tree, and the platform's files found there."""

    plan: _render_files.Plan
    files: dict[str, str]  # path -> text of every rendered file
    existing: dict[str, str]  # path -> text of the platform's generated files before the render
    warnings: list[str]


def _removed_tenants(model: Platform, removed: list[str]) -> list[str]:
    """Tenants whose generated files go because their entry left the spec."""
    present = {tenant.name for tenant in model.spec.tenants}
    return sorted({name for name in map(model.layout.tenant_of, removed) if name is not None and name not in present})


def render_into(
    dest: str,
    spec: dict[str, Any],
    nodes: list[dict[str, Any]],
    inputs: Inputs,
    *,
    write: bool,
    force: bool = False,
    checkout: str = CHECKOUT,
) -> Rendered:
    """Render the platform into ``dest`` (written only with ``write``). Raises KeelsonError before anything is
    written when ``dest`` cannot take the tree (see _render_files)."""
    model = Platform(spec, nodes)
    values, pairs = inputs.values, inputs.pairs
    _render_files.check_destination(dest, checkout, force=force)
    existing = _render_files.generated_files(dest, model.layout.base, model.spec.name)
    sealed = _render_files.seal_all(
        _render.secrets_to_seal(spec, nodes, values, inputs.host_keys),
        keys.active(pairs)["certificate"],
        [pair["key"] for pair in pairs],
        _render_files.sealed_in(existing),
        digest_key=inputs.digest_key,
    )
    projects = _ml_sources.read_projects(dest, model.layout, model.spec.tenants, existing)
    files = _render.render(spec, nodes, sealed, platform.ca_certificate(spec, values), inputs.host_keys, ml_projects=projects)
    plan = _render_files.plan(dest, files, model.layout.base, existing, model.spec.name)
    if plan.changed and write:
        _render_files.apply(dest, plan)
    warnings = list(inputs.warnings)
    for name in _removed_tenants(model, plan.remove):
        warnings.append(
            f"tenant {name} left the spec: its namespaces and volumes stay in the cluster (they are protected from pruning). "
            "To delete them with their data, put the entry back with state: absent and confirm_removal, sync, then remove it."
        )
    for tenant in model.spec.tenants:
        if tenant.state == "absent":
            warnings.append(f"tenant {tenant.name} is state: absent: removing its entry next deletes its namespaces and volumes")
    return Rendered(plan, files, existing, warnings)


# ------------------------------------------------------------------------------------------ summary


@dataclasses.dataclass(frozen=True)
class ChartChange:
    component: str  # the Application / HelmRelease / OCIRepository name
    chart: str
    old: str
    new: str

    def __str__(self) -> str:
        name = self.component if self.chart == self.component else f"{self.component} ({self.chart})"
        return f"{name} {self.old} -> {self.new}"


@dataclasses.dataclass(frozen=True)
class Summary:
    """What a render changed, in the platform's terms."""

    tenants_added: tuple[str, ...] = ()
    tenants_removed: tuple[str, ...] = ()
    tenants_changed: tuple[str, ...] = ()
    components: tuple[str, ...] = ()  # components (and the tenancy roles) whose files changed
    charts: tuple[ChartChange, ...] = ()
    other: tuple[str, ...] = ()  # changed files of neither a tenant nor a component (root, projects, CI)
    first: bool = False  # the folder held none of the platform's files before


def _owner(layout: Layout, units: frozenset[str], tenants: frozenset[str], path: str) -> tuple[str, str]:
    """("tenant", name), ("component", name) or ("other", path) for a path of the tree."""
    tenant = layout.tenant_of(path)
    if tenant is not None:
        return "tenant", tenant
    platform_dir = layout.path("platform") + "/"
    if path.startswith(platform_dir):
        return "component", path[len(platform_dir) :].split("/", maxsplit=1)[0]
    apps_dir = layout.apps_dir + "/"
    if path.startswith(apps_dir) and path.endswith(".yaml") and "/" not in path[len(apps_dir) :]:
        stem = path[len(apps_dir) : -len(".yaml")]
        if stem.startswith("tenant-") and stem[len("tenant-") :] in tenants:
            return "tenant", stem[len("tenant-") :]
        if stem in units:
            return "component", stem
    return "other", path


def _documents(text: str) -> list[dict[str, Any]]:
    try:
        found = list(yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except yaml.YAMLError:
        return []  # a hand-damaged file: no chart versions read from it
    return [document for document in found if isinstance(document, dict)]


def chart_versions(texts: list[str]) -> dict[tuple[str, str], str]:
    """(component, chart) -> version, for every chart the documents install: Argo CD Applications' chart
    sources, Flux HelmReleases' charts and Flux OCIRepositories that hold a Helm chart."""
    found: dict[tuple[str, str], str] = {}
    for text in texts:
        if "chart" not in text and _HELM_LAYER not in text:
            continue
        for document in _documents(text):
            name = str((document.get("metadata") or {}).get("name"))
            spec = document.get("spec") or {}
            kind = document.get("kind")
            if not isinstance(spec, dict):
                continue
            if kind == "Application":
                sources = [spec["source"]] if isinstance(spec.get("source"), dict) else spec.get("sources") or []
                for source in sources:
                    if isinstance(source, dict) and source.get("chart"):
                        found[(name, str(source["chart"]))] = str(source.get("targetRevision"))
            elif kind == "HelmRelease":
                chart = ((spec.get("chart") or {}).get("spec")) or {}
                if chart.get("chart") and chart.get("version"):
                    found[(name, str(chart["chart"]))] = str(chart["version"])
            elif kind == "OCIRepository" and (spec.get("layerSelector") or {}).get("mediaType") == _HELM_LAYER:
                tag = (spec.get("ref") or {}).get("tag")
                if tag:
                    found[(name, str(spec.get("url", "")).rstrip("/").rsplit("/", 1)[-1])] = str(tag)
    return found


def summarise(spec: dict[str, Any], nodes: list[dict[str, Any]], rendered: Rendered) -> Summary:
    """What ``rendered`` changes in the folder it was rendered into."""
    model = Platform(spec, nodes)
    layout, plan = model.layout, rendered.plan
    before = {name for name in map(layout.tenant_of, rendered.existing) if name is not None}
    after = {name for name in map(layout.tenant_of, rendered.files) if name is not None}
    tenants = frozenset(before | after)
    units = frozenset({unit.name for unit in model.registered} | {TENANCY})
    owners = [_owner(layout, units, tenants, path) for path in sorted({*plan.write, *plan.remove})]
    added, removed = after - before, before - after
    old = chart_versions([plan.before[path] for path in sorted(plan.before)])
    new = chart_versions([plan.write[path] for path in sorted(plan.write)])
    charts = tuple(ChartChange(name, chart, old[(name, chart)], new[(name, chart)]) for name, chart in sorted(old.keys() & new.keys()))
    return Summary(
        tenants_added=tuple(sorted(added)),
        tenants_removed=tuple(sorted(removed)),
        tenants_changed=tuple(sorted({name for kind, name in owners if kind == "tenant"} - added - removed)),
        components=tuple(sorted({name for kind, name in owners if kind == "component"})),
        charts=tuple(change for change in charts if change.old != change.new),
        other=tuple(sorted(name for kind, name in owners if kind == "other")),
        first=not rendered.existing,
    )
