# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The spec rules that speak of what the renderer makes hold against what it really makes: the names of a
tenant's objects, the MinIO policies groups must not take, the credentials a registry must not borrow."""

from __future__ import annotations

import collections
import copy
import re
from typing import Any

import pytest
from render_helpers import documents, double_sealed, example_spec, inventory_platform, normalised

from ansible_collections.keelson.platform.plugins.module_utils._components import minio
from ansible_collections.keelson.platform.plugins.module_utils._problems import SpecError
from ansible_collections.keelson.platform.plugins.module_utils._spec import TENANT_OBJECT_SUFFIXES, platform_secret, validate_platform
from ansible_collections.keelson.platform.plugins.plugin_utils import _platform_secrets, _render, _sealing_keys
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

ENGINES = ("argocd", "flux")


def _with_tenants(engine: str, tenants: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    raw, nodes = inventory_platform("example-ha")
    raw = copy.deepcopy(raw)
    if engine == "flux":
        raw["gitops"]["engine"] = "flux"
        raw["gitops"].pop("argocd", None)
    raw["tenants"] = tenants
    return raw, nodes


def _tenant(name: str) -> dict[str, Any]:
    return {"name": name, "buckets": [f"{name}-data"], "weaviate": True, "quota": {"gpu": 0}}


def _names(spec: dict[str, Any], nodes: list[dict[str, Any]]) -> collections.Counter[tuple[str, str, str]]:
    """(kind, namespace, name) of every object of the tree, and of every MinIO user and policy."""
    files = _render.render(spec, nodes, double_sealed(spec, nodes))
    found: collections.Counter[tuple[str, str, str]] = collections.Counter()
    for _path, document in documents(files):
        metadata = document.get("metadata") or {}
        found[(document["kind"], str(metadata.get("namespace")), str(metadata.get("name")))] += 1
    values = minio.UNIT.values(Platform(spec, nodes))
    for kind in ("policies", "users"):
        for item in values[kind]:
            found[(f"minio-{kind}", "minio", item.get("name") or item["accessKey"])] += 1
    return found


@pytest.mark.parametrize("engine", ENGINES)
def test_no_two_tenants_share_an_object_name(engine: str) -> None:
    """Every suffix keelson puts after tenant-<t> makes a pair of tenants (t, t-<suffix>): validation refuses
    the pair, or their trees share no object name."""
    spec, nodes = normalised(*_with_tenants(engine, [_tenant("fc")]))
    suffixes = {match.group(1) for _kind, _ns, name in _names(spec, nodes) for match in [re.match(r"^tenant-fc-(.+)$", name)] if match}
    assert "apps" in suffixes  # the test sees the engine's objects
    refused = set()
    for suffix in sorted(suffixes):
        raw, raw_nodes = _with_tenants(engine, [_tenant("fc"), _tenant(f"fc-{suffix}")])
        try:
            spec, nodes = normalised(raw, raw_nodes)
        except SpecError as error:
            assert "tenants[1].name: keelson names the GitOps objects" in str(error)
            refused.add(suffix)
            continue
        twice = [key for key, count in _names(spec, nodes).items() if count > 1]
        assert twice == [], f"tenants fc and fc-{suffix} share {twice}; add {suffix!r} to TENANT_OBJECT_SUFFIXES"
    assert refused == set(TENANT_OBJECT_SUFFIXES)  # and it refuses no pair that does not collide


def test_the_policy_names_validation_refuses_are_those_minio_gives_its_service_users() -> None:
    spec, nodes = example_spec("argocd")
    values = minio.UNIT.values(Platform(spec, nodes))
    service_users = {user["policy"] for user in values["users"]}
    groups = {policy["name"] for policy in values["policies"]} - service_users
    assert groups and not groups & service_users
    # Validation refuses every service user's policy name as a group name (the prefix rule in _spec.py).
    assert all(name.startswith(minio.USER_POLICY_PREFIX) for name in service_users)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("repo", ["ssh", "https"])
def test_every_generated_credential_is_refused_as_a_registry_password(engine: str, repo: str) -> None:
    def change(raw: dict[str, Any]) -> None:
        if repo == "https":
            raw["gitops"]["repo"].update(url="https://git.example.internal/platform/ml-prod.git", known_hosts=[])

    spec, _nodes = example_spec(engine, change)
    names = [credential.name for credential in _platform_secrets.credentials(spec)]
    assert "k3s-token" in names and len(names) > 10
    assert [name for name in names if not platform_secret(name)] == []
    # The sealing keys live in the same backend.
    assert platform_secret(_sealing_keys.STORE) and platform_secret(_sealing_keys.DIGEST_STORE)
    # What the example inventory names its registry password is not refused.
    registry = spec["cluster"]["registries"]["configs"]["mirror.example.internal"]["password_secret"]
    assert not platform_secret(registry)


@pytest.mark.parametrize("inventory", ["example-ha", "local"])
def test_the_example_inventories_are_coherent(inventory: str) -> None:
    """No warning: in particular example-ha keeps a load balancer for Traefik (servicelb; kube-vip holds only
    the API VIP), so its ingress hosts and the OIDC issuer are reachable."""
    raw, nodes = inventory_platform(inventory)
    assert validate_platform(raw, nodes).warnings == []
