# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the pinned charts do with the tree's values (issue 9): read against each chart's own defaults
(../shared/platform-data) and, where the chart's template decides, the unit's model of that template."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import yaml
from render_helpers import double_sealed, example_spec, fake_values
from test_pod_security import helm_merge

from ansible_collections.keelson.platform.plugins.module_utils._components import keycloak, weaviate
from ansible_collections.keelson.platform.plugins.module_utils._engines import argocd
from ansible_collections.keelson.platform.plugins.module_utils._problems import SpecError
from ansible_collections.keelson.platform.plugins.plugin_utils import _render
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

ENGINES = ("argocd", "flux")


def _chart(shared_data: Path, name: str) -> dict[str, Any]:
    folder = next((shared_data / "charts").glob(f"{name}-*"))
    return dict(yaml.safe_load((folder / "values.yaml").read_text()))


def _values(engine: str, unit: str, changes: Optional[Callable[[dict[str, Any]], None]] = None) -> dict[str, Any]:
    spec, nodes = example_spec(engine, changes)
    parts = _render.parts(Platform(spec, nodes), double_sealed(spec, nodes))
    return dict(next(part.values for part in parts if part.unit.name == unit))


# ----------------------------------------------------------------------------------------------- keycloak


@pytest.mark.parametrize("engine", ENGINES)
def test_keycloak_extra_env_is_yaml_the_chart_can_paste_and_repeats_nothing_it_sets(shared_data: Path, engine: str) -> None:
    values = _values(engine, "keycloak")
    # statefulset.yaml line 145: `tpl .Values.extraEnv $ | nindent 12` inside `env:`; a YAML list of entries.
    entries = yaml.safe_load(values["extraEnv"])
    assert isinstance(entries, list) and all(isinstance(entry, dict) and entry.get("name") for entry in entries)
    pasted = yaml.safe_load("env:\n" + "".join(f"  {line}\n" for line in values["extraEnv"].splitlines()))
    assert pasted["env"] == entries
    names = [entry["name"] for entry in entries]
    chart_names = keycloak.chart_env_names(helm_merge(_chart(shared_data, "keycloakx"), values))
    assert {"KC_PROXY_HEADERS", "KC_HTTP_ENABLED"} <= set(chart_names)
    every = names + chart_names
    assert len(every) == len(set(every)), f"env names twice (server-side apply rejects the StatefulSet): {sorted(every)}"
    # The proxy headers Traefik sends, through the chart's own value (lines 105-108).
    assert helm_merge(_chart(shared_data, "keycloakx"), values)["proxy"]["mode"] == "xforwarded"


def test_the_keycloak_env_check_catches_a_duplicate(shared_data: Path) -> None:
    values = _values("argocd", "keycloak")
    doubled = [*yaml.safe_load(values["extraEnv"]), {"name": "KC_HTTP_ENABLED", "value": "true"}]
    names = [entry["name"] for entry in doubled] + keycloak.chart_env_names(helm_merge(_chart(shared_data, "keycloakx"), values))
    assert len(names) != len(set(names))


# --------------------------------------------------------------------------------------------- monitoring

K3S_EMBEDDED = ("kubeEtcd", "kubeScheduler", "kubeControllerManager", "kubeProxy")


@pytest.mark.parametrize("engine", ENGINES)
def test_no_scrape_of_what_k3s_runs_inside_its_own_process(shared_data: Path, engine: str) -> None:
    chart = _chart(shared_data, "kube-prometheus-stack")
    merged = helm_merge(chart, _values(engine, "monitoring"))
    for component in K3S_EMBEDDED:
        assert chart[component]["enabled"] is True  # the chart's default: a target k3s does not expose
        # templates/exporters/<component>/servicemonitor.yaml line 1 and its rules and dashboards need it.
        assert merged[component]["enabled"] is False, component


# -------------------------------------------------------------------------------------------------- Argo CD


def test_argocd_assesses_application_health_so_waves_order_the_apps() -> None:
    values = _values("argocd", "argocd")
    health = values["configs"]["cm"]["resource.customizations.health.argoproj.io_Application"]
    assert health == argocd.APPLICATION_HEALTH
    # Argo CD's documented check: an Application is as healthy as its status says, Progressing until then.
    assert 'hs.status = "Progressing"' in health and "hs.status = obj.status.health.status" in health
    assert health.strip().endswith("return hs")


def test_argocd_admin_password_mtime_is_pinned(shared_data: Path) -> None:
    chart = _chart(shared_data, "argo-cd")
    assert chart["configs"]["secret"]["argocdServerAdminPasswordMtime"] == ""  # the chart: `now` at every render
    mtime = _values("argocd", "argocd")["configs"]["secret"]["argocdServerAdminPasswordMtime"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", mtime)
    assert _values("argocd", "argocd") == _values("argocd", "argocd")


# -------------------------------------------------------------------------------------------------- Weaviate


@pytest.mark.parametrize(
    ("tenant", "prefix"),
    [("vision", "Vision__"), ("nlp-team", "Nlp_team__"), ("a1", "A1__"), ("x-1-y", "X_1_y__")],
)
def test_collection_prefix_is_a_weaviate_collection_name_start(tenant: str, prefix: str) -> None:
    assert weaviate.collection_prefix(tenant) == prefix
    # Weaviate's collection names (entities/schema/validation.go at v1.38.2, ClassNameRegexCore).
    assert re.fullmatch(r"[A-Z][_0-9A-Za-z]{0,254}", prefix + "Docs")


def test_no_prefix_covers_another_tenants_collections() -> None:
    names = ["vision", "vision-x", "vision-research", "nlp", "nlp-team", "nl", "a", "a-b"]
    assert weaviate.prefix_clashes(names) == []
    for first in names:
        for second in names:
            if first != second:
                pattern = re.escape(weaviate.collection_prefix(first)) + ".*"  # Weaviate: "*" -> ".*"
                assert not re.fullmatch(pattern, weaviate.collection_prefix(second) + "Docs"), (first, second)
    assert weaviate.prefix_clashes(["a", "a--b", "c"]) == [("a", "a--b")]


def test_clashing_prefixes_are_refused_naming_the_tenants() -> None:
    def clash(raw: dict[str, Any]) -> None:
        raw["tenants"].append({"name": "vision--lab", "weaviate": True})

    spec, nodes = example_spec("argocd", clash)
    with pytest.raises(SpecError, match=r"tenants: Weaviate collection prefix Vision__ of tenant vision also covers tenant vision--lab's"):
        weaviate.UNIT.roles(Platform(spec, nodes))


@pytest.mark.parametrize("engine", ENGINES)
def test_weaviate_rbac_is_on_with_the_admins_as_root(shared_data: Path, engine: str) -> None:
    spec, nodes = example_spec(engine)
    platform = Platform(spec, nodes)
    chart = _chart(shared_data, "weaviate")
    assert chart["authorization"]["rbac"]["enabled"] is False  # the chart: every key an admin
    merged = helm_merge(chart, _values(engine, "weaviate"))
    rbac = merged["authorization"]["rbac"]
    assert rbac["enabled"] is True and merged["authorization"]["admin_list"]["enabled"] is False
    assert rbac["root_groups"] == [platform.spec.identity.admins_group]
    assert rbac["root_users"] == [weaviate.ADMIN_USER]
    users = merged["env"]["AUTHENTICATION_APIKEY_USERS"].split(",")
    assert users == [weaviate.ADMIN_USER, *(tenant.name for tenant in platform.spec.tenants if tenant.weaviate)]


@pytest.mark.parametrize("engine", ENGINES)
def test_each_tenant_reaches_only_its_own_collections(engine: str) -> None:
    spec, nodes = example_spec(engine)
    platform = Platform(spec, nodes)
    tenants = [tenant for tenant in platform.spec.tenants if tenant.weaviate]
    assert len(tenants) >= 2
    roles = {role["name"]: role for role in weaviate.UNIT.roles(platform)}
    holders: dict[str, set[str]] = {}
    for tenant in tenants:
        prefix = weaviate.collection_prefix(tenant.name)
        own, view = roles[f"tenant-{tenant.name}"], roles[f"tenant-{tenant.name}-view"]
        assert own["users"] == [tenant.name]
        assert set(own["groups"]) == {tenant.groups.admin, tenant.groups.edit}
        assert view["groups"] == [tenant.groups.view] and view["users"] == []
        assert all(permission["action"].startswith("read_") for permission in view["permissions"])
        for role in (own, view):
            for permission in role["permissions"]:
                scopes = [value for key, value in permission.items() if key != "action"]
                assert scopes and all(scope["collection"] == f"{prefix}*" for scope in scopes), permission
            for holder in (*role["users"], *role["groups"]):
                holders.setdefault(holder, set()).add(tenant.name)
    # Nobody holds two tenants' roles (a group shared by two tenants would reach both).
    assert all(len(names) == 1 for names in holders.values()), holders
    assert platform.spec.identity.admins_group not in holders


@pytest.mark.parametrize("engine", ENGINES)
def test_the_rbac_job_applies_every_role(engine: str) -> None:
    spec, nodes = example_spec(engine)
    platform = Platform(spec, nodes)
    script_map, job = (document for document in weaviate.UNIT.manifests(platform) if document["kind"] in ("ConfigMap", "Job"))
    script = script_map["data"]["apply.sh"]
    for role in weaviate.UNIT.roles(platform):
        assert f"get /authz/roles/{role['name']} || post /authz/roles " in script
        assert f"post /authz/roles/{role['name']}/add-permissions " in script
        for user in role["users"]:
            assert f"post /authz/users/{user}/assign " in script
        for group in role["groups"]:
            assert f"post /authz/groups/{group}/assign " in script
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["env"][0]["valueFrom"]["secretKeyRef"] == {"name": weaviate.ADMIN_SECRET, "key": "api-key"}
    assert job["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] == script_map["metadata"]["name"]

    # A changed role set is a new Job (a Job's template cannot change in place).
    def more(raw: dict[str, Any]) -> None:
        raw["tenants"][0]["name"] = "vision2"
        raw["tenants"][0]["namespaces"] = ["vision2"]

    other_spec, other_nodes = example_spec(engine, more)
    other_job = next(document for document in weaviate.UNIT.manifests(Platform(other_spec, other_nodes)) if document["kind"] == "Job")
    assert other_job["metadata"]["name"] != job["metadata"]["name"]


@pytest.mark.parametrize("engine", ENGINES)
def test_the_secrets_the_weaviate_chart_would_generate_come_from_the_tree(engine: str) -> None:
    """weaviateSecretClusterAPI.yaml renders random values without a cluster lookup (Argo CD has none): the tree
    seals the Secret with the keys the StatefulSet reads (weaviateStatefulset.yaml lines 105-114)."""
    spec, nodes = example_spec(engine)
    sealed = _render.secrets_to_seal(spec, nodes, fake_values(spec))
    assert weaviate.UNIT.chart_secrets == (weaviate.CLUSTER_API_SECRET,)
    for name in weaviate.UNIT.chart_secrets:
        assert set(sealed[(weaviate.UNIT.namespace, name)].data) == {"username", "password"}
