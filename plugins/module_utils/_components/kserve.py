# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""KServe v0.20.0 in its standard (raw) deployment mode: no Knative, no Istio. A model is served by a Deployment
and a Service in the tenant's namespace, reached through k3s' Traefik with a certificate from the platform's issuer.

Two units, one chart each (a unit has one chart): ``kserve-crd`` installs the CRDs (the chart's templates, not a
``crds/`` folder, so an upgrade updates them), ``kserve`` the controller, its webhooks and the
``inferenceservice-config`` ConfigMap (chart kserve-resources), which needs the CRDs first (it renders a
ClusterStorageContainer) and cert-manager (its webhook certificate). Both are ``components.kserve``. The CRD unit has
a namespace of its own (``kserve-crd``, empty): two units in one namespace would both own its Namespace object and
NetworkPolicies.

What keelson decides (kserve/kserve tag v0.20.0, ``charts/kserve-resources``):

- ``deploy.defaultDeploymentMode`` Standard (``files/common/configmap-patch.yaml`` lines 55-58 from
  ``kserve.controller.deploymentMode``; the chart's default is Knative);
- KServe's own Ingress is off (``disableIngressCreation``): the one it makes has no ``tls`` section
  (``pkg/controller/v1beta1/inferenceservice/reconcilers/ingress/kube_ingress_reconciler.go`` lines 314-324), so
  cert-manager's ingress-shim would never issue a certificate for it. keelson renders an Ingress per served model
  (:func:`serving_ingress`) for the host KServe reports in ``status.url`` (``domainTemplate`` on ``ingressDomain``,
  ``urlScheme`` https: ``createRawURL``, ``httproute_reconciler.go`` lines 89-101), with the platform issuer's
  annotation and a ``tls`` entry;
- the storage initializer (the ``default`` ClusterStorageContainer, ``files/common/storagecontainer-patch.yaml``)
  and the runtime's container meet Pod Security ``restricted`` by themselves (seccomp RuntimeDefault), whatever
  the InferenceService's pod-level securityContext;
- the S3 endpoint is MinIO's, for every InferenceService (``credentials.s3`` of the ConfigMap, lines 35-54): KServe
  reads the endpoint from a Secret's annotations or data or else this default (``pkg/credentials/s3/utils.go``
  ``getEnvValue``), and the tenant's S3 Secret (MinIO's key names, shared with the workflows) carries neither, so
  one setting in the ConfigMap serves every tenant;
- one serving runtime, ``kserve-mlserver`` (MLflow, scikit-learn, XGBoost, LightGBM): kserve-resources v0.20.0 ships
  no runtimes any more (they moved to chart kserve-runtime-configs, which keelson does not install), so keelson
  renders the one it needs and no other runtime exists.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import (
    INGRESS_CLASS,
    RESTRICTED,
    Document,
    Network,
    Unit,
    enabled_field,
    ingress,
)
from ansible_collections.keelson.platform.plugins.module_utils._components.minio import TENANT_SECRET, s3_address
from ansible_collections.keelson.platform.plugins.module_utils._formats import check_domain
from ansible_collections.keelson.platform.plugins.module_utils._ml import SERVING_ACCOUNT
from ansible_collections.keelson.platform.plugins.module_utils._schema import Nullable, Str, spec_field

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.module_utils._spec_model import Tenant
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

GROUP: Final = "serving.kserve.io"
DEPLOYMENT_MODE: Final = "Standard"  # v0.20's name of raw deployment (pkg/constants/constants.go lines 564-565)
# The ConfigMap's default domainTemplate (values.yaml kserve.controller.gateway.domainTemplate), kept: keelson's
# Ingress hosts follow it (:func:`model_host`).
DOMAIN_TEMPLATE: Final = "{{ .Name }}-{{ .Namespace }}.{{ .IngressDomain }}"
RUNTIME: Final = "kserve-mlserver"
MODEL_FORMAT: Final = "mlflow"
# Where KServe's storage initializer puts the model's files (pkg/constants/constants.go DefaultModelLocalMountPath),
# and MLServer's own start command on it, as the runtime image's CMD runs it (SeldonIO/MLServer Dockerfile at 1.7.1).
MODEL_DIR: Final = "/mnt/models"
SERVE_COMMAND: Final = ("mlserver", "start", MODEL_DIR)
# A model is served by the image that trained it (serving.yaml's image, default project.yaml's): the runtime's
# image (MLflow 2.19, scikit-learn 1.5.2, numpy 1.26 at MLServer 1.7.1) cannot unpickle what keelson_ml's versions
# save. That image runs as uid 1000 over a working folder it does not own, so MLServer's own files go to /tmp (its
# defaults are .metrics and .envs under the working folder: mlserver/settings.py at 1.7.1), and MLflow's telemetry
# (a file under HOME, and calls out) is off.
SERVE_ENV: Final = (
    ("MLSERVER_METRICS_DIR", "/tmp/mlserver/metrics"),
    ("MLSERVER_ENVIRONMENTS_DIR", "/tmp/mlserver/envs"),
    ("MLFLOW_DISABLE_TELEMETRY", "true"),
)
# Kubernetes' view role (the tenants' view groups) aggregates ClusterRoles with this label.
VIEW_ROLE: Final = "keelson-kserve-view"
# The predictor's Service and port in raw mode: <name>-predictor on 80 (pkg/constants/constants.go lines 397 and
# 799-804), to the runtime's container port 8080 (MLSERVER_HTTP_PORT).
PREDICTOR_PORT: Final = 80
RUNTIME_PORT: Final = 8080
# The controller's webhook server (files/kserve/resources.yaml line 474, containerPort 9443 "webhook-server").
WEBHOOK_PORT: Final = 9443
# Every container keelson has KServe run in a tenant namespace: Pod Security restricted at container level (the
# InferenceService's pod-level securityContext is the team's; these hold without it). The storage initializer's
# and MLServer's images run as uid 1000 (python/storage-initializer.Dockerfile lines 55 and 68 at v0.20.0).
CONTAINER_SECURITY: Final[Document] = {
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
# The kinds a tenant's people may read in their namespaces (never write: serving changes only through Git).
TENANT_READS: Final = (GROUP, ("inferenceservices", "inferenceservices/status", "servingruntimes", "trainedmodels", "inferencegraphs"))


@dataclasses.dataclass(frozen=True)
class KServeSettings:
    enabled: bool = enabled_field()
    domain: Optional[str] = spec_field(
        Nullable(Str(check_domain, type_doc="domain")),
        "Domain of the served models' hosts: each InferenceService is `https://<name>-<namespace>.<domain>`.",
        default=None,
        default_doc="`serving.<domain>`",
    )


class KServeCRD(Unit[KServeSettings]):
    name = "kserve-crd"
    catalog = "kserve_crd"
    namespace = "kserve-crd"  # nothing runs here: the CRDs are cluster-scoped (see the module's docstring)
    pod_security = RESTRICTED
    settings_type = KServeSettings
    settings_path = ("components", "kserve")
    doc = "KServe model serving (standard/raw mode, behind Traefik): its CRDs, controller and the MLServer runtime."
    server_side_apply = True  # the InferenceService CRD is far larger than client-side apply's annotation allows
    crd_groups = (GROUP,)
    # kserve-crd's values.yaml is empty: nothing to set.

    def chart_pods(self, values: Document) -> Optional[list[tuple[str, Document]]]:
        return []  # charts/kserve-crd/templates: CustomResourceDefinitions only


class KServe(Unit[KServeSettings]):
    name = "kserve"
    catalog = "kserve"
    namespace = "kserve"
    # The chart's controller pod meets restricted (chart_pods); the models run in the tenants' namespaces.
    pod_security = RESTRICTED
    depends_on = ("cert-manager", "kserve-crd")
    # Its InferenceService defaulter and validator (charts/kserve-resources templates, failurePolicy Fail, v0.20.0):
    # an InferenceService applied before the controller answers is refused (or, before the webhook configuration
    # exists, admitted without KServe's defaults).
    webhook_groups = (GROUP,)
    settings_type = KServeSettings
    settings_path = ("components", "kserve")
    doc = KServeCRD.doc
    requires = (("cert_manager", "the webhook's certificate comes from cert-manager"),)
    # Teams read their InferenceServices (status, URL) but never write them: keelson renders them from the
    # project's serving.yaml, so a model is served only by a reviewed commit (and the engine would undo an edit).
    tenant_reads = (TENANT_READS,)

    def domain(self, platform: Platform) -> str:
        """The domain under which every served model has its host."""
        return self.settings(platform).domain or f"serving.{platform.spec.domain}"

    def values(self, platform: Platform) -> Document:
        # Images: the chart's defaults are the catalog's pins (tag "" is kserve.version, v0.20.0; the catalog test
        # checks them), so none is restated here.
        storage: Document = {
            # Restricted in the tenant's namespace: the chart's default context lacks only the seccomp profile
            # (values.yaml kserve.storage.containerSecurityContext; storagecontainer-patch.yaml lines 12-15 put it on
            # the default ClusterStorageContainer, whose container the webhook merges into the storage-initializer
            # it injects: storage_initializer_injector.go lines 626-631). Helm merges this map into the default.
            "containerSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            # Modelcar serves models packed in OCI images (a sidecar); keelson's are in S3 (configmap-patch line 110).
            "enableModelcar": False,
        }
        if platform.enabled("minio"):
            minio = platform.unit("minio")
            # MinIO's S3 API inside the cluster, plain HTTP (configmap-patch.yaml lines 42-53: s3Endpoint,
            # s3UseHttps). The storage initializer reaches it through minio's tenant_ports (9000).
            storage["s3"] = {"endpoint": s3_address(minio.namespace), "useHttps": "0"}
        controller: Document = {
            "deploymentMode": DEPLOYMENT_MODE,
            "gateway": {
                "domain": self.domain(platform),
                "urlScheme": "https",
                # No Istio: no VirtualService; no KServe-made Ingress (no tls section): keelson renders one per model.
                "disableIstioVirtualHost": True,
                "disableIngressCreation": True,
                # configmap-patch.yaml line 78 (ingressClassName) reads ingressGateway.className (default istio).
                "ingressGateway": {"className": INGRESS_CLASS},
            },
        }
        return {
            "kserve": {
                "controller": controller,
                "storage": storage,
                # Model servers need no API token (inference_service_defaults.go lines 211-225: the predictor's
                # automountServiceAccountToken set false unless the InferenceService says otherwise).
                "security": {"autoMountServiceAccountToken": False},
            }
        }

    def manifests(self, platform: Platform) -> list[Document]:
        # Kubernetes' view role (the tenants' view groups) aggregates ClusterRoles with this label: it reads
        # InferenceServices too. keelson's admin and edit roles get the same through tenant_reads.
        group, resources = TENANT_READS
        view = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": VIEW_ROLE, "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
            "rules": [{"apiGroups": [group], "resources": list(resources), "verbs": ["get", "list", "watch"]}],
        }
        return [serving_runtime(), view]

    def tenant_manifests(self, platform: Platform, tenant: Tenant) -> list[Document]:
        """The serving account in the tenant's first namespace, naming the tenant's S3 Secret: KServe's webhook
        reads the Secrets a pod's service account lists (service_account_credentials.go lines 261-266) and, for
        one holding ``AWS_SECRET_ACCESS_KEY`` (the chart's ``s3SecretAccessKeyName``), sets the storage
        initializer's ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` from its keys of those names
        (``s3AccessKeyIDName``; s3_secret.go ``BuildSecretEnvs``) — the keys minio's tenant Secret has."""
        if not (tenant.buckets and platform.enabled("minio")):
            return []
        return [serving_account(tenant.namespaces[0])]

    def network(self, platform: Platform) -> Network:
        # The controller watches the API server and serves the admission webhooks; models run in tenants'
        # namespaces, where Traefik reaches them (their allow-from-ingress) and their storage initializer reaches
        # MinIO (minio's tenant_ports).
        return Network(api=True, webhooks=(WEBHOOK_PORT,))

    def chart_pods(self, values: Document) -> Optional[list[tuple[str, Document]]]:
        # files/kserve/resources.yaml lines 427-533 merged with files/kserve/deployment-patch.yaml: one Deployment,
        # pod securityContext = kserve.controller.securityContext (patch lines 45-48), containers kube-rbac-proxy
        # with kserve.controller.rbacProxy.securityContext (lines 50-55) and manager with
        # kserve.controller.containerSecurityContext (lines 60-66); the volume the webhook certificate's Secret
        # (resources.yaml lines 529-533); no host namespaces, no host ports. The localmodel DaemonSet and
        # controller are another chart's (kserve-localmodel-resources).
        controller = dict((values.get("kserve") or {}).get("controller") or {})
        spec: Document = {
            "securityContext": dict(controller.get("securityContext") or {}),
            "containers": [
                {"name": "kube-rbac-proxy", "securityContext": dict((controller.get("rbacProxy") or {}).get("securityContext") or {})},
                {"name": "manager", "securityContext": dict(controller.get("containerSecurityContext") or {})},
            ],
            "volumes": [{"name": "cert", "secret": {"secretName": "kserve-webhook-server-cert"}}],
        }
        return [("Deployment kserve-controller-manager", spec)]


def serving_runtime() -> Document:
    """KServe's kserve-mlserver ClusterServingRuntime (config/runtimes/kserve-mlserver.yaml at v0.20.0), its image
    pinned and its container restricted. MLServer picks the model's implementation from the InferenceService's
    ``modelClass`` label, which KServe's defaulter sets for the mlflow format (inference_service_defaults.go lines
    439-451: ``mlserver_mlflow.MLflowRuntime``)."""
    formats = [("sklearn", "0"), ("sklearn", "1"), ("xgboost", "1"), ("xgboost", "2"), ("lightgbm", "3"), ("lightgbm", "4")]
    supported = [{"name": name, "version": version, "autoSelect": True, "priority": 2} for name, version in formats]
    supported += [{"name": MODEL_FORMAT, "version": version, "autoSelect": True, "priority": 1} for version in ("1", "2")]
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "ClusterServingRuntime",
        "metadata": {"name": RUNTIME, "annotations": {"serving.kserve.io/server-type": "mlserver"}},
        "spec": {
            "annotations": {"prometheus.kserve.io/port": str(RUNTIME_PORT), "prometheus.kserve.io/path": "/metrics"},
            "supportedModelFormats": supported,
            "protocolVersions": ["v2"],
            "containers": [
                {
                    "name": "kserve-container",
                    "image": CATALOG["components"]["kserve"]["images"]["mlserver"],
                    "env": [
                        {"name": "MLSERVER_MODEL_IMPLEMENTATION", "value": "{{.Labels.modelClass}}"},
                        {"name": "MLSERVER_HTTP_PORT", "value": str(RUNTIME_PORT)},
                        {"name": "MLSERVER_GRPC_PORT", "value": "9000"},
                    ],
                    "securityContext": dict(CONTAINER_SECURITY),
                    "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
                }
            ],
        },
    }


def serving_account(namespace: str) -> Document:
    """The tenant's serving account (:data:`SERVING_ACCOUNT`): no API token, the tenant's S3 Secret listed."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": SERVING_ACCOUNT, "namespace": namespace},
        "automountServiceAccountToken": False,
        "secrets": [{"name": TENANT_SECRET}],
    }


def model_label(name: str, namespace: str) -> str:
    """The first label of an InferenceService's host (``DOMAIN_TEMPLATE``); the tenant Ingress policy admits
    ``*-<namespace>.<domain>`` under the served models' domain for the same reason (_tenancy.ingress_host_allowed)."""
    return f"{name}-{namespace}"


def model_host(platform: Platform, name: str, namespace: str) -> str:
    """The host KServe reports for an InferenceService (``DOMAIN_TEMPLATE`` on the unit's domain)."""
    return f"{model_label(name, namespace)}.{UNIT.domain(platform)}"


def inference_service(
    name: str,
    namespace: str,
    storage_uri: str,
    image: str,
    *,
    replicas: int = 1,
    cpu: str = "1",
    memory: str = "2Gi",
    labels: Optional[dict[str, str]] = None,
) -> Document:
    """An InferenceService of an MLflow-format model in S3, as the project renderer writes it from serving.yaml:
    standard mode, the serving account, the MLServer runtime run in ``image`` (the one that trained the model, which
    holds MLServer: KServe merges the model's container fields over the runtime's, utils.MergeRuntimeContainers),
    requests equal to limits (the tenant's quota)."""
    resources = {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}}
    metadata: Document = {"name": name, "namespace": namespace, "annotations": {"serving.kserve.io/deploymentMode": DEPLOYMENT_MODE}}
    if labels:
        metadata["labels"] = dict(labels)
    return {
        "apiVersion": f"{GROUP}/v1beta1",
        "kind": "InferenceService",
        "metadata": metadata,
        "spec": {
            "predictor": {
                "serviceAccountName": SERVING_ACCOUNT,
                "minReplicas": replicas,
                "maxReplicas": replicas,
                "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "model": {
                    "modelFormat": {"name": MODEL_FORMAT},
                    "runtime": RUNTIME,
                    "storageUri": storage_uri,
                    "image": image,
                    "command": list(SERVE_COMMAND),
                    "env": [{"name": key, "value": value} for key, value in SERVE_ENV],
                    "resources": resources,
                },
            }
        },
    }


def serving_ingress(platform: Platform, name: str, namespace: str) -> Document:
    """The TLS Ingress of an InferenceService: its status host, through Traefik, to the predictor's Service, the
    certificate from the platform issuer (cert-manager's ingress-shim reads the annotation and the tls entry)."""
    return ingress(name, namespace, model_host(platform, name, namespace), f"{name}-predictor", PREDICTOR_PORT)


def predictor_pod(isvc: Document, values: Document) -> Document:
    """The pod spec of an InferenceService's predictor as far as Pod Security reads it, from the kserve chart's
    merged ``values`` and :func:`serving_runtime`: the InferenceService's pod-level fields (the predictor is a
    PodSpec), the runtime's container ``kserve-container`` (its securityContext; the model's own container fields
    merged over it), and the storage initializer the webhook injects for a non-PVC ``storageUri``
    (storage_initializer_injector.go lines 540-551: ``storage-initializer`` from CreateInitContainerWithConfig, no
    securityContext, then merged with the ``default`` ClusterStorageContainer's container, lines 626-631, whose
    securityContext is ``kserve.storage.containerSecurityContext``), and the emptyDir both mount the model on."""
    predictor = dict(isvc["spec"]["predictor"])
    model = dict(predictor.get("model") or {})
    runtime_container = dict(serving_runtime()["spec"]["containers"][0])
    context = {**dict(runtime_container.get("securityContext") or {}), **dict(model.get("securityContext") or {})}
    pod_fields = ("securityContext", "hostNetwork", "hostPID", "hostIPC", "volumes")
    spec: Document = {key: value for key, value in predictor.items() if key in pod_fields}
    spec["containers"] = [{"name": "kserve-container", "securityContext": context}]
    if not str(model.get("storageUri", "")).startswith("pvc://"):
        storage = dict((values.get("kserve") or {}).get("storage") or {})
        spec["initContainers"] = [{"name": "storage-initializer", "securityContext": dict(storage.get("containerSecurityContext") or {})}]
        spec["volumes"] = [*spec.get("volumes", []), {"name": "kserve-provision-location", "emptyDir": {}}]
    return spec


CRD_UNIT = KServeCRD()
UNIT = KServe()

__all__ = ["CRD_UNIT", "UNIT", "inference_service", "model_host", "predictor_pod", "serving_account", "serving_ingress", "serving_runtime"]
