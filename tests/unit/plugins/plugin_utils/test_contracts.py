# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Contract tests: the joins between the parts of the tree hold, read off the rendered objects.

Each test reads what the tree says (chart values, manifests, engine objects) and checks it against what else
the tree produces, never against the code's own tables: a Secret name changed in one place, a namespace's Pod
Security level changed, a component an engine forgets, an OIDC client the realm lacks, all fail here, not
only in the golden files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

import pytest
import yaml
from render_helpers import ca_of, double_sealed, example_spec, fake_values, lean, no_backups

from ansible_collections.keelson.platform.plugins.module_utils._spec_model import RESERVED_NAMESPACES
from ansible_collections.keelson.platform.plugins.plugin_utils import _render
from ansible_collections.keelson.platform.plugins.plugin_utils._k3s import config
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

ENGINES = ("argocd", "flux")


VARIANTS: dict[str, Optional[Callable[[dict[str, Any]], None]]] = {"example": None, "lean": lean, "no-backups": no_backups}

# Keys a chart reads from a Secret it is pointed at by name only (the chart's defaults), per values path.
CHART_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "monitoring": {"grafana.admin.existingSecret": ("admin-user", "admin-password")},  # grafana chart: admin.userKey/passwordKey
    "minio": {"existingSecret": ("rootUser", "rootPassword")},  # minio chart templates/_helpers.tpl: rootUser/rootPassword
}
# Secrets that something the tree installs creates, not the tree itself (listed, with who creates them).
CREATED_IN_CLUSTER: dict[tuple[str, str], str] = {
    ("keycloak", "keycloak-db-app"): "CloudNativePG, the owner of Keycloak's database (bootstrap.initdb)",
    ("mlflow", "mlflow-db-app"): "CloudNativePG, the owner of MLflow's databases (bootstrap.initdb)",
    ("cert-manager", "keelson-platform-ca-account"): "cert-manager, the ACME account key of the issuer",
}


def _platform(engine: str, variant: str) -> tuple[Platform, dict[tuple[str, str], dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    spec, nodes = example_spec(engine, VARIANTS[variant])
    sealed = double_sealed(spec, nodes)
    ca = ca_of(spec)
    return Platform(spec, nodes, ca), sealed, _render.render_documents(spec, nodes, sealed, ca)


def _sealed_keys(engine: str, variant: str) -> dict[tuple[str, str], set[str]]:
    spec, nodes = example_spec(engine, VARIANTS[variant])
    return {key: set(secret.data) for key, secret in _render.secrets_to_seal(spec, nodes, fake_values(spec)).items()}


# ----------------------------------------------------------------------------------- Secret references


def _refs(node: Any, namespace: str, path: str = "") -> Iterator[tuple[str, str, Optional[str], str]]:
    """(namespace, Secret name, key or None, where) for every Secret a values tree or a manifest names."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _refs(item, namespace, f"{path}[{index}]")
        return
    if isinstance(node, str) and node.startswith("- name: "):
        # keycloakx' extraEnv: a list of env entries given as one string (YAML text the chart pastes in)
        yield from _refs(yaml.safe_load(node), namespace, path)
        return
    if not isinstance(node, dict):
        if isinstance(node, str) and "$" in node and node.startswith("{"):
            # Argo CD's oidc.config: "$<secret>:<key>" references into its own namespace.
            for name, key in re.findall(r'"\$([a-z0-9-]+):([A-Za-z0-9_.-]+)"', node):
                yield namespace, name, key, path
        return
    if isinstance(node.get("metadata"), dict) and node["metadata"].get("namespace"):
        namespace = node["metadata"]["namespace"]
    for key, value in node.items():
        here = f"{path}.{key}" if path else str(key)
        if key == "existingSecret" and isinstance(value, str):
            yield namespace, value, node.get("existingSecretKey"), here
        elif key == "existingClientSecretName" and isinstance(value, str):
            yield namespace, value, node.get("existingClientSecretKey"), here
        elif key == "secretKeyRef" and isinstance(value, dict):
            yield namespace, value["name"], value["key"], here
        elif key == "envSecrets" and isinstance(value, dict):
            # weaviate chart: env var VAR from key VAR of the named Secret
            for variable, secret in value.items():
                yield namespace, secret, variable, f"{here}.{variable}"
        elif key in ("pullSecret", "trustedCertsSecret") and isinstance(value, str):  # minio: trusted certs, mounted whole
            yield namespace, value, None, here
        elif key in ("accessKeyId", "secretAccessKey") and isinstance(value, dict):  # CloudNativePG s3Credentials
            yield namespace, value["name"], value["key"], here
        elif key == "secret" and isinstance(value, dict) and "secretName" in value:  # a pod's Secret volume
            for item in value.get("items") or [{"key": None}]:
                yield namespace, value["secretName"], item["key"], here
        elif key == "ca" and isinstance(value, dict) and "secretName" in value:
            # cert-manager's CA ClusterIssuer: its key pair in cert-manager's own (cluster resource) namespace
            yield "cert-manager", value["secretName"], None, here
        elif key in ("existingSecretKey", "existingClientSecretKey"):
            continue
        else:
            yield from _refs(value, namespace, here)


def _all_refs(platform: Platform, tree: dict[str, list[dict[str, Any]]]) -> list[tuple[str, str, Optional[str], str]]:
    found = []
    for part in _render.parts(platform, {}):
        for namespace, name, key, where in _refs(part.values, part.unit.namespace):
            keys = CHART_KEYS.get(part.unit.name, {}).get(where)
            for chart_key in keys or (key,):
                found.append((namespace, name, chart_key, f"{part.unit.name} values {where}"))
    for path, documents in tree.items():
        if path.endswith("values.yaml"):
            continue  # the values, read above with their component's namespace
        for document in documents:
            if document.get("kind") in ("SealedSecret", "ConfigMap"):
                continue
            found += [(ns, name, key, f"{path} {where}") for ns, name, key, where in _refs(document, "")]
    return found


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("engine", ENGINES)
def test_every_secret_an_object_names_is_produced_by_the_tree(engine: str, variant: str) -> None:
    platform, sealed, tree = _platform(engine, variant)
    produced = _sealed_keys(engine, variant)
    assert set(produced) == set(sealed)
    refs = _all_refs(platform, tree)
    # The walk must find what is there (a lean Argo CD platform names no Secret at all).
    assert len(refs) >= (0 if variant == "lean" else 10)
    missing = []
    for namespace, name, key, where in refs:
        if (namespace, name) in CREATED_IN_CLUSTER:
            continue
        if (namespace, name) not in produced:
            missing.append(f"{where}: Secret {namespace}/{name} is not in the tree")
        elif key is not None and key not in produced[(namespace, name)]:
            missing.append(f"{where}: Secret {namespace}/{name} has no key {key} (has {sorted(produced[(namespace, name)])})")
    assert missing == []


def test_the_secret_contract_catches_a_renamed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The mutation from the issue: MinIO's values point at a Secret name the tree does not seal."""
    from ansible_collections.keelson.platform.plugins.module_utils._components import minio  # noqa: PLC0415

    original = minio.MinIO.values

    def renamed(self: Any, platform: Platform) -> dict[str, Any]:
        return {**original(self, platform), "existingSecret": "minio-root-renamed"}

    monkeypatch.setattr(minio.MinIO, "values", renamed)
    platform, _sealed, tree = _platform("argocd", "example")
    produced = _sealed_keys("argocd", "example")
    assert ("minio", "minio-root-renamed") not in produced
    assert any(name == "minio-root-renamed" for _ns, name, _key, _where in _all_refs(platform, tree))


@pytest.mark.parametrize("engine", ENGINES)
def test_tls_secrets_are_issued_by_the_platform_issuer(engine: str) -> None:
    """Ingress certificates are created by cert-manager from the ingress' issuer annotation."""
    *_rest, tree = _platform(engine, "example")
    ingresses = [document for documents in tree.values() for document in documents if document.get("kind") == "Ingress"]
    assert ingresses
    for ingress in ingresses:
        assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "keelson-platform-ca"
        assert all(tls["secretName"] for tls in ingress["spec"]["tls"])


# -------------------------------------------------------------------------------- namespaces and levels

PLATFORM_LEVELS = {
    "argocd": "baseline",
    "flux-system": "baseline",
    "sealed-secrets": "restricted",
    "cert-manager": "restricted",
    "minio": "baseline",
    "weaviate": "baseline",
    "monitoring": "privileged",  # node-exporter reads the host
    "cnpg-system": "restricted",
    "keycloak": "baseline",
    "nvidia-device-plugin": "privileged",  # hostPath: the kubelet's device-plugins folder
    "kueue-system": "restricted",
    "kserve-crd": "restricted",  # nothing runs there (CRDs only)
    "kserve": "restricted",
    "argo": "restricted",
    "mlflow": "restricted",
}


@pytest.mark.parametrize("engine", ENGINES)
def test_every_component_namespace_is_reserved_and_has_its_level(engine: str) -> None:
    platform, _sealed, _tree = _platform(engine, "example")
    for unit in platform.registered:
        assert unit.namespace in RESERVED_NAMESPACES, f"{unit.name}: {unit.namespace} is not reserved for the platform"
        assert unit.pod_security == PLATFORM_LEVELS[unit.namespace], unit.name
    assert {unit.namespace for unit in platform.registered} == set(PLATFORM_LEVELS)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("engine", ENGINES)
def test_every_tenant_namespace_is_restricted(engine: str, variant: str) -> None:
    platform, _sealed, tree = _platform(engine, variant)
    expected = {namespace for tenant in platform.spec.tenants for namespace in tenant.namespaces}
    seen = {}
    for documents in tree.values():
        for document in documents:
            labels = document.get("metadata", {}).get("labels", {})
            if document.get("kind") == "Namespace" and "keelson.dev/tenant" in labels:
                seen[document["metadata"]["name"]] = (
                    labels["pod-security.kubernetes.io/enforce"],
                    labels["pod-security.kubernetes.io/warn"],
                )
    assert seen == dict.fromkeys(expected, ("restricted", "restricted"))


# ------------------------------------------------------------------------------------ engines render all


def _installed(engine: str, tree: dict[str, list[dict[str, Any]]]) -> tuple[set[str], set[str]]:
    """(components installed, tenants applied) as the engine's objects say."""
    kinds = ("Application",) if engine == "argocd" else ("HelmRelease", "Kustomization")
    names = {
        document["metadata"]["name"]
        for documents in tree.values()
        for document in documents
        if document.get("kind") in kinds and document["metadata"]["namespace"] in ("argocd", "flux-system")
    }
    tenants = {name[len("tenant-") : -len("-apps")] for name in names if name.startswith("tenant-") and name.endswith("-apps")}
    components = {name for name in names if not name.startswith("tenant-") and not name.endswith("-manifests")}
    return components - {"ml-prod", "tenancy"}, tenants


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_renders_every_enabled_component_and_every_tenant(engine: str, variant: str) -> None:
    platform, _sealed, tree = _platform(engine, variant)
    components, tenants = _installed(engine, tree)
    assert components == {unit.name for unit in platform.units}
    assert tenants == {tenant.name for tenant in platform.spec.tenants}
    enabled = {name for name, section in vars(platform.spec.components).items() if section.enabled}
    assert {unit.key for unit in platform.units if not unit.controller} == enabled


def test_argocd_waves_follow_the_dependencies() -> None:
    platform, _sealed, tree = _platform("argocd", "example")
    # Waves order the root's Applications only if Argo CD waits for each wave's Applications to be healthy,
    # which it does not by default since 1.8: the Application health check must be in Argo CD's own values.
    argocd_values = tree[platform.layout.values_file("argocd")][0]
    health = argocd_values["configs"]["cm"].get("resource.customizations.health.argoproj.io_Application", "")
    assert "obj.status.health.status" in health, "Argo CD does not assess Application health: the sync waves order nothing"
    waves = {
        document["metadata"]["name"]: int(document["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for documents in tree.values()
        for document in documents
        if document.get("kind") == "Application"
    }
    for unit in platform.units:
        for dependency in platform.dependencies(unit):
            assert waves[dependency] < waves[unit.name], f"{unit.name} syncs before {dependency}"
    assert waves["argocd"] == min(waves[unit.name] for unit in platform.units)
    for tenant in platform.spec.tenants:
        assert waves[f"tenant-{tenant.name}"] > max(waves[unit.name] for unit in platform.units)
        assert waves[f"tenant-{tenant.name}-apps"] > waves[f"tenant-{tenant.name}"]


def test_flux_dependencies_name_installed_releases() -> None:
    *_rest, tree = _platform("flux", "example")
    releases = {
        document["metadata"]["name"]: document
        for documents in tree.values()
        for document in documents
        if document.get("kind") == "HelmRelease"
    }
    for release in releases.values():
        for dependency in release["spec"].get("dependsOn", []):
            assert dependency["name"] in releases


# --------------------------------------------------------------------------------------------- OIDC


def _realm(tree: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    realm_map = next(
        document
        for documents in tree.values()
        for document in documents
        if document.get("kind") == "ConfigMap" and document["metadata"]["name"] == "keelson-realm"
    )
    return dict(json.loads(realm_map["data"]["realm.json"]))


def _client_ids(platform: Platform, values: dict[str, dict[str, Any]], chart_defaults: dict[str, Any]) -> dict[str, str]:
    """component -> the OIDC client id its configuration uses, read where each chart takes it."""
    found = {}
    if "argocd" in values:
        found["argocd"] = json.loads(values["argocd"]["configs"]["cm"]["oidc.config"])["clientID"]
    if "monitoring" in values:
        found["monitoring"] = values["monitoring"]["grafana"]["grafana.ini"]["auth.generic_oauth"]["client_id"]
    if "minio" in values:
        found["minio"] = values["minio"]["oidc"].get("clientId", chart_defaults["minio"])
    if "weaviate" in values:
        found["weaviate"] = values["weaviate"]["authentication"]["oidc"]["client_id"]
    return found


def _ingress_hosts(part_values: dict[str, Any], manifests: list[dict[str, Any]]) -> set[str]:
    text = yaml.safe_dump([part_values, manifests])
    return set(re.findall(r"([a-z0-9-]+(?:\.[a-z0-9-]+)+\.internal)", text))


@pytest.mark.parametrize("engine", ENGINES)
def test_every_oidc_client_a_component_uses_is_in_the_realm_with_its_host(engine: str) -> None:
    platform, _sealed, tree = _platform(engine, "example")
    parts = {part.unit.name: part for part in _render.parts(platform, {})}
    values = {name: part.values for name, part in parts.items()}
    used = _client_ids(platform, values, {"minio": "minio"})  # minio chart values.yaml: oidc.clientId "minio"
    realm = {client["clientId"]: client for client in _realm(tree)["clients"]}
    expected = {"monitoring", "minio", "weaviate"} | ({"argocd"} if engine == "argocd" else set())
    assert set(used) == expected
    for component, client_id in used.items():
        assert client_id in realm, f"{component} logs in as client {client_id}, which the realm does not define"
        hosts = _ingress_hosts(parts[component].values, parts[component].manifests)
        if component == "argocd":
            hosts = {platform.spec.gitops.argocd.host}  # type: ignore[attr-defined]  # the chart's global.domain
        for uri in realm[client_id]["redirectUris"]:
            assert urlsplit(uri).hostname in hosts, f"{client_id}: redirect {uri} is not an ingress host of {component} ({sorted(hosts)})"
    # The API server's client: what k3s is configured with.
    spec, nodes = example_spec(engine)
    server = next(node for node in nodes if node["role"] == "server")
    args = config(spec, nodes, server)["kube-apiserver-arg"]
    api_client = next(arg.split("=", 1)[1] for arg in args if arg.startswith("oidc-client-id="))
    issuer = next(arg.split("=", 1)[1] for arg in args if arg.startswith("oidc-issuer-url="))
    assert api_client in realm and realm[api_client]["publicClient"] is True
    assert issuer == platform.issuer_url == f"https://{platform.spec.components.keycloak.host}/realms/{_realm(tree)['realm']}"  # type: ignore[attr-defined]


def test_flux_keeps_only_the_sealed_copy_of_a_secret_the_chart_makes_up() -> None:
    """weaviate's chart writes weaviate-cluster-api-basic-auth with random values (no lookup under GitOps): the
    tree seals it, and the HelmRelease deletes the chart's copy from its output."""
    platform, _sealed, tree = _platform("flux", "example")
    produced = _sealed_keys("flux", "example")
    releases = {
        document["metadata"]["name"]: document
        for documents in tree.values()
        for document in documents
        if document.get("kind") == "HelmRelease"
    }
    checked = 0
    for unit in platform.units:
        for name in unit.chart_secrets:
            assert (unit.namespace, name) in produced, f"{unit.name}: {name} is not sealed in the tree"
            patches = [
                patch for renderer in releases[unit.name]["spec"].get("postRenderers", []) for patch in renderer["kustomize"]["patches"]
            ]
            deleted = [patch for patch in patches if patch["target"] == {"version": "v1", "kind": "Secret", "name": name}]
            assert deleted and yaml.safe_load(deleted[0]["patch"]) == {
                "$patch": "delete",
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name},
            }
            checked += 1
    assert checked >= 1


def test_argocd_keeps_the_sealed_data_of_a_secret_the_chart_makes_up() -> None:
    """Under Argo CD the chart's copy cannot be left out: the sealed copy syncs first (wave -1 inside the
    Application) and the Application neither compares nor overwrites that Secret's data."""
    platform, _sealed, tree = _platform("argocd", "example")
    applications = {
        document["metadata"]["name"]: document
        for documents in tree.values()
        for document in documents
        if document.get("kind") == "Application"
    }
    sealed = {
        (document["metadata"]["namespace"], document["metadata"]["name"]): document
        for documents in tree.values()
        for document in documents
        if document.get("kind") == "SealedSecret"
    }
    checked = 0
    for unit in platform.units:
        for name in unit.chart_secrets:
            spec = applications[unit.name]["spec"]
            assert {"group": "", "kind": "Secret", "name": name, "namespace": unit.namespace, "jsonPointers": ["/data"]} in spec[
                "ignoreDifferences"
            ]
            assert "RespectIgnoreDifferences=true" in spec["syncPolicy"]["syncOptions"]
            assert sealed[(unit.namespace, name)]["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "-1"
            checked += 1
    assert checked >= 1
