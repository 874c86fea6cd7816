# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The version catalog: every version keelson installs, pinned in one place.

An upgrade is a one-line change here that review can see. Nothing resolves "latest" at run time.
Tests compare the chart versions and image tags with the upstream chart data in
``../shared/platform-data`` (tests/unit/plugins/module_utils/test_catalog.py).

This file is data only, so that modules, action plugins and tests can import it.
"""

from __future__ import annotations

from typing import Any, Final

_RAW: Final = "https://raw.githubusercontent.com"

CATALOG: Final[dict[str, Any]] = {
    "k3s": {
        # The version a new cluster gets when the spec names none.
        "default": "v1.35.5+k3s1",
        # Versions the spec may name (cluster.k3s_version). Upgrades move along this list, one minor at a time
        # (plugins/module_utils/_k3s_upgrade.py); upgrade.yml refuses a downgrade.
        "versions": ["v1.34.9+k3s1", "v1.35.5+k3s1", "v1.35.6+k3s1"],
        # Minors that may only be entered from a recent enough release of the minor below (upgrade.yml names it).
        "stepping_stones": {
            "v1.34": {
                "from": "v1.33.7+k3s3",
                "why": "k3s v1.34 embeds etcd 3.6; every member must first run etcd 3.5.26 or later, which "
                "v1.33.7+k3s3 embeds, so that 3.6 finds no stale membership data (k3s-io/k3s#13485)",
            },
        },
        "release_url": "https://github.com/k3s-io/k3s/releases/download",
    },
    # Host-level components the k3s roles run themselves (static pods).
    "host": {
        "kube_vip": "ghcr.io/kube-vip/kube-vip:v1.0.3",
    },
    "components": {
        "argocd": {
            "chart": {"repo": "https://argoproj.github.io/argo-helm", "name": "argo-cd", "version": "10.1.1"},
            "images": {
                "argocd": "quay.io/argoproj/argocd:v3.4.4",
                "redis": "ecr-public.aws.com/docker/library/redis:8.2.3-alpine",
            },
            # The CRDs of the kinds keelson renders, at the tag the chart ships (the GitOps repo's CI reads them).
            "crds": [
                f"{_RAW}/argoproj/argo-cd/v3.4.4/manifests/crds/application-crd.yaml",
                f"{_RAW}/argoproj/argo-cd/v3.4.4/manifests/crds/appproject-crd.yaml",
            ],
        },
        "flux_operator": {
            "chart": {
                "repo": "oci://ghcr.io/controlplaneio-fluxcd/charts",
                "name": "flux-operator",
                "version": "0.49.0",
            },
            "images": {"flux_operator": "ghcr.io/controlplaneio-fluxcd/flux-operator:v0.49.0"},
            "crds": [f"{_RAW}/controlplaneio-fluxcd/flux-operator/v0.49.0/config/crd/bases/fluxcd.controlplane.io_fluxinstances.yaml"],
        },
        "flux_instance": {
            "chart": {
                "repo": "oci://ghcr.io/controlplaneio-fluxcd/charts",
                "name": "flux-instance",
                "version": "0.49.0",
            },
            "images": {},
            # The Flux release the FluxInstance asks for: exactly one of the releases whose manifests the pinned
            # operator embeds (it resolves the version against them; the catalog test checks it is one of them).
            "distribution": "2.8.7",
            # The CRDs of that Flux release's controllers (source-controller v1.8.4, kustomize-controller v1.8.5,
            # helm-controller v1.5.4), for the kinds keelson renders.
            "crds": [
                f"{_RAW}/fluxcd/source-controller/v1.8.4/config/crd/bases/source.toolkit.fluxcd.io_gitrepositories.yaml",
                f"{_RAW}/fluxcd/source-controller/v1.8.4/config/crd/bases/source.toolkit.fluxcd.io_helmrepositories.yaml",
                f"{_RAW}/fluxcd/source-controller/v1.8.4/config/crd/bases/source.toolkit.fluxcd.io_ocirepositories.yaml",
                f"{_RAW}/fluxcd/kustomize-controller/v1.8.5/config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml",
                f"{_RAW}/fluxcd/helm-controller/v1.5.4/config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml",
            ],
        },
        "sealed_secrets": {
            "chart": {
                "repo": "https://bitnami-labs.github.io/sealed-secrets",
                "name": "sealed-secrets",
                "version": "2.18.5",
            },
            "images": {"controller": "docker.io/bitnami/sealed-secrets-controller:0.36.6"},
            "crds": [f"{_RAW}/bitnami-labs/sealed-secrets/v0.36.6/helm/sealed-secrets/crds/bitnami.com_sealedsecrets.yaml"],
        },
        "cert_manager": {
            "chart": {"repo": "https://charts.jetstack.io", "name": "cert-manager", "version": "v1.21.1"},
            "images": {
                "controller": "quay.io/jetstack/cert-manager-controller:v1.21.1",
                "webhook": "quay.io/jetstack/cert-manager-webhook:v1.21.1",
                "cainjector": "quay.io/jetstack/cert-manager-cainjector:v1.21.1",
            },
            "crds": [
                f"{_RAW}/cert-manager/cert-manager/v1.21.1/deploy/crds/cert-manager.io_certificates.yaml",
                f"{_RAW}/cert-manager/cert-manager/v1.21.1/deploy/crds/cert-manager.io_clusterissuers.yaml",
            ],
        },
        "minio": {
            "chart": {"repo": "https://charts.min.io/", "name": "minio", "version": "5.4.0"},
            "images": {
                "minio": "quay.io/minio/minio:RELEASE.2024-12-18T13-15-44Z",
                "mc": "quay.io/minio/mc:RELEASE.2024-11-21T17-21-54Z",
            },
        },
        "weaviate": {
            "chart": {"repo": "https://weaviate.github.io/weaviate-helm", "name": "weaviate", "version": "17.8.3"},
            "images": {"weaviate": "cr.weaviate.io/semitechnologies/weaviate:1.38.2"},
        },
        "monitoring": {
            "chart": {
                "repo": "https://prometheus-community.github.io/helm-charts",
                "name": "kube-prometheus-stack",
                "version": "88.5.3",
            },
            # Grafana, kube-state-metrics and node-exporter come from subcharts pinned by this chart version.
            "images": {
                "prometheus": "quay.io/prometheus/prometheus:v3.14.0-distroless",
                "alertmanager": "quay.io/prometheus/alertmanager:v0.34.0",
                "prometheus_operator": "quay.io/prometheus-operator/prometheus-operator:v0.93.1",
                "config_reloader": "quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1",
            },
        },
        "cloudnative_pg": {
            "chart": {"repo": "https://cloudnative-pg.github.io/charts", "name": "cloudnative-pg", "version": "0.29.0"},
            "images": {
                "operator": "ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0",
                # The operand: operator 1.30.0's own default (pkg/versions), a "system" image that carries
                # barman-cloud for backups to the object store. Pinned so an operator bump never moves Postgres.
                "postgres": "ghcr.io/cloudnative-pg/postgresql:18.4-system-trixie",
            },
            "crds": [
                f"{_RAW}/cloudnative-pg/cloudnative-pg/v1.30.0/config/crd/bases/postgresql.cnpg.io_clusters.yaml",
                f"{_RAW}/cloudnative-pg/cloudnative-pg/v1.30.0/config/crd/bases/postgresql.cnpg.io_scheduledbackups.yaml",
                f"{_RAW}/cloudnative-pg/cloudnative-pg/v1.30.0/config/crd/bases/postgresql.cnpg.io_databases.yaml",
            ],
        },
        # KServe v0.20.0 in two charts: its CRDs (kserve-crd), then the controller, webhooks and the
        # inferenceservice-config ConfigMap (kserve-resources). The chart's images have no tag of their own
        # (tag ""): its templates use kserve.version, v0.20.0 (files/common/configmap-patch.yaml lines 9-113).
        "kserve_crd": {
            "chart": {"repo": "oci://ghcr.io/kserve/charts", "name": "kserve-crd", "version": "v0.20.0"},
            "images": {},
            "crds": [
                f"{_RAW}/kserve/kserve/v0.20.0/config/crd/full/serving.kserve.io_inferenceservices.yaml",
                f"{_RAW}/kserve/kserve/v0.20.0/config/crd/full/serving.kserve.io_clusterservingruntimes.yaml",
            ],
        },
        "kserve": {
            "chart": {"repo": "oci://ghcr.io/kserve/charts", "name": "kserve-resources", "version": "v0.20.0"},
            "images": {
                "controller": "kserve/kserve-controller:v0.20.0",
                "agent": "kserve/agent:v0.20.0",
                "router": "kserve/router:v0.20.0",
                "storage_initializer": "kserve/storage-initializer:v0.20.0",
                "rbac_proxy": "quay.io/brancz/kube-rbac-proxy:v0.18.0",
                # The runtime that loads MLflow-format models: KServe's own kserve-mlserver ClusterServingRuntime
                # (kserve/kserve v0.20.0 config/runtimes/kserve-mlserver.yaml), at the tag its
                # config/runtimes/kustomization.yaml pins (lines 30-32). Not in kserve-resources: keelson renders it.
                "mlserver": "docker.io/seldonio/mlserver:1.7.1",
            },
        },
        "keycloak": {
            "chart": {"repo": "https://codecentric.github.io/helm-charts", "name": "keycloakx", "version": "7.1.11"},
            "images": {
                "keycloak": "quay.io/keycloak/keycloak:26.5.6",
                # Realm as code: keycloak-config-cli built for the Keycloak 26.5 line (not a chart default).
                "config_cli": "docker.io/adorsys/keycloak-config-cli:6.5.0-26.5.4",
            },
        },
        "nvidia_device_plugin": {
            "chart": {"repo": "https://nvidia.github.io/k8s-device-plugin", "name": "nvidia-device-plugin", "version": "0.20.0"},
            "images": {"device_plugin": "nvcr.io/nvidia/k8s-device-plugin:v0.20.0"},
        },
        "kueue": {
            "chart": {"repo": "oci://registry.k8s.io/kueue/charts", "name": "kueue", "version": "0.19.2"},
            # The published chart's image (kubernetes-sigs/kueue hack/helm-chart-package.sh rewrites values.yaml's
            # staging repository and release-0.19 tag to these); KueueViz stays off, so its images are not pinned.
            "images": {"controller": "registry.k8s.io/kueue/kueue:v0.19.2"},
            "crds": [
                f"{_RAW}/kubernetes-sigs/kueue/v0.19.2/config/components/crd/bases/kueue.x-k8s.io_{kind}.yaml"
                for kind in ("resourceflavors", "clusterqueues", "localqueues")
            ],
        },
        "argo_workflows": {
            "chart": {"repo": "https://argoproj.github.io/argo-helm", "name": "argo-workflows", "version": "1.0.18"},
            # The chart's defaults at its appVersion v4.0.6 (values controller.image, executor.image, server.image).
            # Its CRD install Job's registry.k8s.io/kubectl is not run (crds.full false: argo_workflows.py).
            "images": {
                "controller": "quay.io/argoproj/workflow-controller:v4.0.6",
                "executor": "quay.io/argoproj/argoexec:v4.0.6",
                "server": "quay.io/argoproj/argocli:v4.0.6",
            },
            # The full CRDs of the kinds keelson and the tenants' ML projects render (the chart ships them).
            "crds": [
                f"{_RAW}/argoproj/argo-workflows/v4.0.6/manifests/base/crds/full/argoproj.io_{name}.yaml"
                for name in ("workflows", "workflowtemplates", "cronworkflows", "workfloweventbindings")
            ],
        },
        "mlflow": {
            "chart": {"repo": "https://community-charts.github.io/helm-charts", "name": "mlflow", "version": "1.11.5"},
            # The chart's defaults (values.yaml image, initImages): MLflow 3.15.1 (server, schema migration, the users
            # Job) and busybox for the auth ini initializer (and the unused dbchecker).
            "images": {
                "mlflow": "burakince/mlflow:3.15.1",
                "busybox": "busybox:1.38.0",
            },
        },
    },
}


# Tools the controller machine runs. helm renders the GitOps controller's own chart for the bootstrap (through
# kubernetes.core.helm_template); it is fetched once from the release URL and checked against the checksum, or
# taken from the air-gap folder, or a helm on PATH of exactly this version is used.
CATALOG["tools"] = {
    "helm": {
        "version": "3.17.2",
        "url": "https://get.helm.sh/helm-v{version}-linux-{arch}.tar.gz",
        # SHA-256 of the release archive per architecture (Helm publishes them beside each archive). Only
        # amd64 is pinned: elsewhere give a helm of this version (PATH, or keelson_helm_binary).
        "sha256": {"amd64": "90c28792a1eb5fb0b50028e39ebf826531ebfcf73f599050dbd79bab2f277241"},
    },
}


# What the rendered GitOps repository's own CI runs (.keelson/validate.py), pinned like the rest.
CATALOG["validate"] = {
    "python_image": "docker.io/library/python:3.12.12-slim",
    "runner": "ubuntu-24.04",
    "checkout": "actions/checkout@v4.2.2",
    "setup_python": "actions/setup-python@v5.6.0",
    "packages": ["PyYAML==6.0.3", "jsonschema==4.26.0", "kubernetes-validate==1.37.0"],
}


def k3s_versions() -> list[str]:
    """Return the k3s versions the spec may name."""
    return list(CATALOG["k3s"]["versions"])


def default_k3s_version() -> str:
    """Return the k3s version a spec gets when it names none."""
    return str(CATALOG["k3s"]["default"])


def kube_minor(version: str) -> str:
    """The Kubernetes minor of a k3s version: v1.35.5+k3s1 -> v1.35."""
    major, minor = version.lstrip("v").split(".")[:2]
    return f"v{major}.{minor}"
