# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""KServe: standard mode, TLS per served model, the MLServer runtime, restricted model pods, the tenants' serving
accounts, and Argo CD's built-in InferenceService health check left alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from render_helpers import double_sealed, example_spec
from test_pod_security import helm_merge, violations
from test_render_schemas import K8S, _crd_schemas

from ansible_collections.keelson.platform.plugins.module_utils._components import kserve, minio
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import CLUSTER_ISSUER, RESTRICTED
from ansible_collections.keelson.platform.plugins.module_utils._ml import SERVING_ACCOUNT
from ansible_collections.keelson.platform.plugins.plugin_utils import _render, _tree_check
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

ENGINES = ("argocd", "flux")


def _platform(engine: str = "argocd", changes: Any = None) -> Platform:
    spec, nodes = example_spec(engine, changes)
    return Platform(spec, nodes)


def _chart_values(shared_data: Path) -> dict[str, Any]:
    return dict(yaml.safe_load((shared_data / "charts" / "kserve-resources-v0.20.0" / "values.yaml").read_text()))


def _config_map(merged: dict[str, Any]) -> dict[str, Any]:
    """The parts of files/common/configmap-patch.yaml that keelson's values decide, as the template writes them."""
    gateway = merged["kserve"]["controller"]["gateway"]
    s3 = merged["kserve"]["storage"]["s3"]
    return {
        "deploy": {"defaultDeploymentMode": merged["kserve"]["controller"]["deploymentMode"]},  # lines 55-58
        "ingress": {  # lines 70-91
            "ingressClassName": gateway["ingressGateway"]["className"],
            "ingressDomain": gateway["domain"],
            "domainTemplate": gateway["domainTemplate"],
            "urlScheme": gateway["urlScheme"],
            "disableIstioVirtualHost": gateway["disableIstioVirtualHost"],
            "disableIngressCreation": gateway["disableIngressCreation"],
        },
        "s3": {"s3Endpoint": s3["endpoint"], "s3UseHttps": s3["useHttps"], "s3AccessKeyIDName": s3["accessKeyIdName"]},  # 42-53
        "s3SecretAccessKeyName": s3["secretAccessKeyName"],
        "localModel": merged["kserve"]["localmodel"]["enabled"],
        "security": merged["kserve"]["security"]["autoMountServiceAccountToken"],
    }


@pytest.mark.parametrize("engine", ENGINES)
def test_standard_mode_behind_traefik_with_https_urls(shared_data: Path, engine: str) -> None:
    platform = _platform(engine)
    merged = helm_merge(_chart_values(shared_data), kserve.UNIT.values(platform))
    config = _config_map(merged)
    assert config["deploy"]["defaultDeploymentMode"] == "Standard"
    assert config["ingress"]["ingressClassName"] == "traefik"
    assert config["ingress"]["ingressDomain"] == f"serving.{platform.spec.domain}"
    assert config["ingress"]["urlScheme"] == "https"
    assert config["ingress"]["disableIstioVirtualHost"] is True
    # KServe's own Ingress has no tls section: keelson's per-model Ingress replaces it.
    assert config["ingress"]["disableIngressCreation"] is True
    assert config["ingress"]["domainTemplate"] == kserve.DOMAIN_TEMPLATE
    assert config["localModel"] is False and config["security"] is False
    assert config["s3"]["s3Endpoint"] == "minio.minio.svc.cluster.local:9000" and config["s3"]["s3UseHttps"] == "0"


def test_the_domain_can_be_set(shared_data: Path) -> None:
    def changes(raw: dict[str, Any]) -> None:
        raw["components"].setdefault("kserve", {})["domain"] = "models.example.internal"

    platform = _platform("argocd", changes)
    assert kserve.UNIT.values(platform)["kserve"]["controller"]["gateway"]["domain"] == "models.example.internal"
    assert kserve.model_host(platform, "churn", "vision") == "churn-vision.models.example.internal"


def test_the_storage_initializer_reads_the_tenant_secret_by_minios_key_names(shared_data: Path) -> None:
    """KServe takes a Secret as S3 credentials when it has s3SecretAccessKeyName, and reads both keys by the
    configured names (service_account_credentials.go, s3_secret.go): they must be the keys minio's tenant Secret has."""
    platform = _platform()
    config = _config_map(helm_merge(_chart_values(shared_data), kserve.UNIT.values(platform)))
    tenant = platform.spec.tenants[0]
    keys = {target.key for credential in minio.UNIT.tenant_credentials(platform, tenant) for target in credential.targets}
    keys |= set(minio.UNIT.plain(platform)[(tenant.namespaces[0], minio.TENANT_SECRET)])
    assert {config["s3"]["s3AccessKeyIDName"], config["s3SecretAccessKeyName"]} <= keys


@pytest.mark.parametrize("engine", ENGINES)
def test_each_tenant_with_a_bucket_gets_a_serving_account_naming_its_own_secret_only(engine: str) -> None:
    spec, nodes = example_spec(engine)
    platform = Platform(spec, nodes)
    tree = _render.render_documents(spec, nodes, double_sealed(spec, nodes))
    accounts = [
        (path, document)
        for path, documents in tree.items()
        for document in documents
        if isinstance(document, dict) and document.get("kind") == "ServiceAccount" and document["metadata"]["name"] == SERVING_ACCOUNT
    ]
    with_buckets = [tenant for tenant in platform.spec.tenants if tenant.buckets]
    assert with_buckets and len(accounts) == len(with_buckets)
    for tenant in with_buckets:
        (path, account), *others = [(path, doc) for path, doc in accounts if doc["metadata"]["namespace"] == tenant.namespaces[0]]
        assert not others
        assert path == f"{platform.layout.tenant_keelson(tenant.name)}/kserve.yaml"
        assert account["secrets"] == [{"name": minio.TENANT_SECRET}] and account["automountServiceAccountToken"] is False
        # The Secret it names, in the same namespace, holds this tenant's MinIO user and no one else's.
        sealed = double_sealed(spec, nodes)
        assert (tenant.namespaces[0], minio.TENANT_SECRET) in sealed
        plain = minio.UNIT.plain(platform)[(tenant.namespaces[0], minio.TENANT_SECRET)]
        assert plain == {"AWS_ACCESS_KEY_ID": f"tenant-{tenant.name}"}
    # Without MinIO nothing (no bucket, no credentials to read a model with).
    off = Platform(*example_spec(engine, _no_minio))
    assert all(not kserve.UNIT.tenant_manifests(off, tenant) for tenant in off.spec.tenants)


def _no_minio(raw: dict[str, Any]) -> None:
    raw["components"]["minio"] = {"enabled": False}
    raw["components"].setdefault("weaviate", {})["backup_bucket"] = None
    raw["components"].setdefault("keycloak", {}).setdefault("database", {})["backup_bucket"] = None
    for tenant in raw["tenants"]:
        tenant.pop("buckets", None)


def _served(platform: Platform) -> tuple[dict[str, Any], dict[str, Any]]:
    tenant = platform.spec.tenants[0]
    namespace = tenant.namespaces[0]
    isvc = kserve.inference_service(
        "churn",
        namespace,
        f"s3://{tenant.buckets[0]}/models/churn/3",
        "registry.example.internal/vision/churn:1.4.2",
        cpu="500m",
        memory="1Gi",
    )
    return isvc, kserve.serving_ingress(platform, "churn", namespace)


def test_an_inference_service_and_its_ingress_validate_against_the_crds(shared_data: Path) -> None:
    validators = _tree_check.Validators(K8S, _crd_schemas(shared_data))
    platform = _platform()
    isvc, ingress = _served(platform)
    assert _tree_check.validate_document(isvc, validators) == []
    assert _tree_check.validate_document(ingress, validators) == []
    assert _tree_check.validate_document(kserve.serving_runtime(), validators) == []
    wrong = json.loads(json.dumps(isvc))
    wrong["spec"]["predictor"]["model"]["storageURI"] = wrong["spec"]["predictor"]["model"].pop("storageUri")
    assert _tree_check.validate_document(wrong, validators)


def test_the_ingress_serves_the_status_host_with_a_certificate_from_the_platform_issuer() -> None:
    platform = _platform()
    isvc, ingress = _served(platform)
    namespace = isvc["metadata"]["namespace"]
    host = f"churn-{namespace}.serving.{platform.spec.domain}"  # DOMAIN_TEMPLATE on ingressDomain
    assert ingress["metadata"]["namespace"] == namespace
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": CLUSTER_ISSUER}
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert ingress["spec"]["tls"] == [{"hosts": [host], "secretName": "churn-tls"}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == host
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "churn-predictor", "port": {"number": 80}}


def test_the_predictor_pod_meets_restricted(shared_data: Path) -> None:
    platform = _platform()
    merged = helm_merge(_chart_values(shared_data), kserve.UNIT.values(platform))
    isvc, _ingress = _served(platform)
    pod = kserve.predictor_pod(isvc, merged)
    assert [container["name"] for container in pod["initContainers"]] == ["storage-initializer"]
    assert violations(pod, RESTRICTED) == []
    # Even when the team's InferenceService sets no pod securityContext: the containers hold it themselves.
    bare = json.loads(json.dumps(isvc))
    del bare["spec"]["predictor"]["securityContext"]
    assert violations(kserve.predictor_pod(bare, merged), RESTRICTED) == []


def test_the_chart_default_storage_initializer_would_be_refused(shared_data: Path) -> None:
    """The check above can fail: with the chart's own containerSecurityContext (no seccomp profile) and an
    InferenceService that sets none, restricted refuses the storage initializer."""
    platform = _platform()
    isvc, _ingress = _served(platform)
    del isvc["spec"]["predictor"]["securityContext"]
    problems = violations(kserve.predictor_pod(isvc, _chart_values(shared_data)), RESTRICTED)
    assert problems == ["container storage-initializer: seccompProfile is None (RuntimeDefault or Localhost, container or pod)"]


def test_one_runtime_for_mlflow_models_pinned() -> None:
    runtime = kserve.serving_runtime()
    formats = {entry["name"] for entry in runtime["spec"]["supportedModelFormats"]}
    assert "mlflow" in formats
    (container,) = runtime["spec"]["containers"]
    assert container["image"] == "docker.io/seldonio/mlserver:1.7.1"
    platform = _platform()
    runtimes = [document for document in kserve.UNIT.manifests(platform) if document["kind"].endswith("ServingRuntime")]
    assert runtimes == [runtime]  # kserve-runtime-configs (every other runtime) is not installed


@pytest.mark.parametrize("engine", ENGINES)
def test_kserve_waits_for_its_crds_and_cert_manager(engine: str) -> None:
    platform = _platform(engine)
    assert platform.dependencies(kserve.UNIT) == ("cert-manager", "kserve-crd")
    assert platform.waves["kserve"] > platform.waves["kserve-crd"]
    assert platform.crd_owner("serving.kserve.io/v1alpha1", "ClusterServingRuntime") == "kserve-crd"


def test_turning_kserve_off_removes_both_units() -> None:
    platform = _platform("argocd", lambda raw: raw["components"].setdefault("kserve", {}).update(enabled=False))
    assert not platform.enabled("kserve") and not platform.enabled("kserve-crd")


@pytest.mark.parametrize("engine", ENGINES)
def test_tenants_read_inference_services_but_never_write_them(engine: str) -> None:
    spec, nodes = example_spec(engine)
    tree = _render.render_documents(spec, nodes, double_sealed(spec, nodes))
    roles = {
        doc["metadata"]["name"]: doc
        for documents in tree.values()
        for doc in documents
        if isinstance(doc, dict) and doc.get("kind") == "ClusterRole"
    }
    for name in ("keelson-tenant-admin", "keelson-tenant-edit"):
        rules = [rule for rule in roles[name]["rules"] if "serving.kserve.io" in rule["apiGroups"]]
        assert rules and all(rule["verbs"] == ["get", "list", "watch"] for rule in rules), name
        assert any("inferenceservices" in rule["resources"] for rule in rules)
    view = roles[kserve.VIEW_ROLE]
    assert view["metadata"]["labels"] == {"rbac.authorization.k8s.io/aggregate-to-view": "true"}
    assert view["rules"][0]["verbs"] == ["get", "list", "watch"]


def test_argocd_keeps_its_built_in_inference_service_health_check() -> None:
    """Argo CD v3.4.4 ships resource_customizations/serving.kserve.io/InferenceService/health.lua: keelson's values
    must not replace it (nor every built-in at once through the whole resource.customizations key)."""
    platform = _platform("argocd")
    values = platform.engine.controller.values(platform)
    cm = values["configs"]["cm"]
    assert "resource.customizations" not in cm
    assert not [key for key in cm if "serving.kserve.io" in key]
