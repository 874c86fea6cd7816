# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kueue: per-tenant queues for the ML layer's pipeline pods, with fair sharing of idle quota between tenants.

One ResourceFlavor; one ClusterQueue per tenant (``_ml.cluster_queue``), every one in the cohort ``_ml.COHORT``,
its nominal quota the tenant's ``quota`` (cpu, memory, GPUs), admitting only the tenant's own namespaces; one
LocalQueue ``_ml.LOCAL_QUEUE`` in each tenant namespace pointing at it. Kueue's plain ``pod`` integration
queues the pods Argo Workflows creates (each step a workload of its own), only in tenant namespaces and only
pods labelled with a queue.

The nominal quota is per tenant, the tenant's ``quota`` once (not once per namespace, as the ResourceQuota is):
it is what the tenant is guaranteed within the cohort; anything above it is borrowed from idle tenants and
reclaimed when they need it. The ResourceQuota in each namespace stays the hard ceiling (a team can patch its own
pods, scheduling gates included, so Kueue is no security boundary; the ResourceQuota is)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils import _ml
from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import RESTRICTED, Document, Network, Unit, enabled_field
from ansible_collections.keelson.platform.plugins.module_utils._tenancy import TENANT_LABEL
from ansible_collections.keelson.platform.plugins.module_utils._yaml import dump_one

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.module_utils._spec_model import Tenant
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

API: Final = "kueue.x-k8s.io/v1beta2"  # the storage version of Kueue 0.19's CRDs
FLAVOR: Final = "keelson-default"
# The resources every ClusterQueue covers, with the tenant quota field each one's nominal quota comes from.
RESOURCES: Final = (("cpu", "cpu"), ("memory", "memory"), (_ml.GPU_RESOURCE, "gpu"))
# The chart's ports (kueue 0.19.2 values.yaml webhook.port 9443 in controllerManagerConfigYaml, webhookService
# targetPort 9443; templates/visibility/service.yaml targetPort 8082, the visibility API server the API server
# calls through the APIService v1beta2.visibility.kueue.x-k8s.io, templates/visibility/apiservice_v1beta2.yaml).
WEBHOOK_PORT: Final = 9443
VISIBILITY_PORT: Final = 8082
# The integrations keelson enables: "pod" for Argo Workflows' step pods (Kueue v0.19 docs,
# site/content/en/docs/tasks/run/external_workloads/argo_workflow.md: Workflows are managed through the plain pod
# integration, one workload per step pod, no pod group needed for steps that run one pod each), and "batch/job" so
# that a team's Job with the queue label is queued as one workload rather than pod by pod.
FRAMEWORKS: Final = ("batch/job", "pod")
# Fair sharing's preemption strategies, in Kueue's default order (apis/config/v1beta2 FairSharing, and
# v1beta1/configuration_conversion_test.go "with FairSharing enabled, but preemption strategies are empty"). In
# config v1beta2 the section's presence turns fair sharing on (v1beta1's enable: true is gone).
FAIR_SHARING: Final = ("LessThanOrEqualToFinalShare", "LessThanInitialShare")


def manager_config() -> Document:
    """Kueue's Configuration (the chart's managerConfig.controllerManagerConfigYaml): the chart's default
    (kueue 0.19.2 values.yaml, managerConfig) with keelson's changes. The chart reads this text twice: as the
    ConfigMap the manager reads (templates/manager/manager-config.yaml lines 26-37, which add
    internalCertManagement when it is absent) and for the webhooks' namespaceSelector
    (templates/webhook/manifests.yaml lines 19-20 and 320-330: managedJobsNamespaceSelector when set)."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        # As the chart's default.
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": ":8443"},
        "webhook": {"port": WEBHOOK_PORT},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "controller": {
            "groupKindConcurrency": {
                "Job.batch": 5,
                "Pod": 5,
                "Workload.kueue.x-k8s.io": 10,
                "LocalQueue.kueue.x-k8s.io": 5,
                "ClusterQueue.kueue.x-k8s.io": 5,
                "ResourceFlavor.kueue.x-k8s.io": 1,
            }
        },
        "clientConnection": {"qps": 300, "burst": 500},
        # keelson's: only pods and Jobs that name a queue are Kueue's (the default, said out loud: a team's
        # serving and tool pods in the same namespaces are never gated).
        "manageJobsWithoutQueueName": False,
        # Only tenant namespaces: the pod webhook (failurePolicy Fail with the pod integration on) never sees a
        # platform or system pod, and pods elsewhere are never managed even with a queue label
        # (configuration_types.go ManagedJobsNamespaceSelector: a strong exemption for pod-based integrations).
        "managedJobsNamespaceSelector": {"matchExpressions": [{"key": TENANT_LABEL, "operator": "Exists"}]},
        "integrations": {"frameworks": list(FRAMEWORKS)},
        "fairSharing": {"preemptionStrategies": list(FAIR_SHARING)},
    }


def cluster_queue(tenant: Tenant) -> Document:
    """The tenant's ClusterQueue: its quota as nominal quota, in the shared cohort, admitting only its namespaces."""
    quota = tenant.quota
    return {
        "apiVersion": API,
        "kind": "ClusterQueue",
        "metadata": {"name": _ml.cluster_queue(tenant.name)},
        "spec": {
            "cohortName": _ml.COHORT,
            # Only namespaces labelled as this tenant's (keelson sets the label; teams cannot change namespaces):
            # another tenant's LocalQueue pointing here admits nothing (the CRD: a null selector admits none).
            "namespaceSelector": {"matchLabels": {TENANT_LABEL: tenant.name}},
            "resourceGroups": [
                {
                    "coveredResources": [name for name, _field in RESOURCES],
                    "flavors": [
                        {
                            "name": FLAVOR,
                            "resources": [{"name": name, "nominalQuota": getattr(quota, field)} for name, field in RESOURCES],
                        }
                    ],
                }
            ],
            # Every tenant weighs the same when idle quota is shared out.
            "fairSharing": {"weight": 1},
            "preemption": {
                # Quota lent to others is taken back (their borrowing workloads are evicted) whatever their priority.
                "reclaimWithinCohort": "Any",
                # Within the tenant's own queue, a higher-priority workload may evict a lower-priority one.
                "withinClusterQueue": "LowerPriority",
            },
        },
    }


def local_queue(tenant: Tenant, namespace: str) -> Document:
    return {
        "apiVersion": API,
        "kind": "LocalQueue",
        "metadata": {"name": _ml.LOCAL_QUEUE, "namespace": namespace},
        "spec": {"clusterQueue": _ml.cluster_queue(tenant.name)},
    }


def _image(reference: str) -> dict[str, str]:
    repository, _colon, tag = reference.rpartition(":")
    return {"repository": repository, "tag": tag}


@dataclasses.dataclass(frozen=True)
class KueueSettings:
    enabled: bool = enabled_field()


class Kueue(Unit[KueueSettings]):
    name = "kueue"
    catalog = "kueue"
    namespace = "kueue-system"
    # The chart's defaults meet restricted (kueue 0.19.2 templates/manager/manager.yaml: the pod's securityContext
    # is values.yaml's podSecurityContext, runAsNonRoot with RuntimeDefault seccomp; the container's is
    # containerSecurityContext: read-only root, no privilege escalation, every capability dropped; volumes are a
    # Secret, a ConfigMap and an emptyDir; hostNetwork only when set). KueueViz is off (enableKueueViz: false).
    pod_security = RESTRICTED
    settings_type = KueueSettings
    settings_path = ("components", "kueue")
    doc = "Kueue: per-tenant queues (ClusterQueues in one cohort, fair sharing) for the ML pipelines' pods."
    server_side_apply = True  # its CRDs are too large for client-side apply's annotation
    crd_groups = ("kueue.x-k8s.io",)
    # Teams read their queues, workloads and their place in the queue; keelson writes the LocalQueues.
    tenant_reads = (
        ("kueue.x-k8s.io", ("localqueues", "localqueues/status", "workloads", "workloads/status")),
        ("visibility.kueue.x-k8s.io", ("localqueues/pendingworkloads",)),
    )

    def values(self, platform: Platform) -> Document:
        return {
            "controllerManager": {
                "manager": {
                    # values.yaml's default is a staging tag (release-0.19); the published chart sets this image
                    # (kubernetes-sigs/kueue hack/helm-chart-package.sh), pinned here. manager.yaml line 60.
                    "image": {**_image(CATALOG["components"][self.catalog]["images"]["controller"]), "pullPolicy": "IfNotPresent"},
                }
            },
            "managerConfig": {"controllerManagerConfigYaml": dump_one(manager_config())},
        }

    def manifests(self, platform: Platform) -> list[Document]:
        flavor: Document = {"apiVersion": API, "kind": "ResourceFlavor", "metadata": {"name": FLAVOR}}
        return [flavor, *(cluster_queue(tenant) for tenant in platform.spec.tenants)]

    def tenant_manifests(self, platform: Platform, tenant: Tenant) -> list[Document]:
        return [local_queue(tenant, namespace) for namespace in tenant.namespaces]

    def chart_pods(self, values: Document) -> Optional[list[tuple[str, Document]]]:
        # charts/kueue/templates/manager/manager.yaml (v0.19.2): hostNetwork when set (lines 47-49); the container
        # manager with controllerManager.manager.containerSecurityContext (lines 93-94) and containerPorts 8082,
        # 9443, 8443, no hostPort (lines 72-81); the pod's securityContext podSecurityContext (lines 109-110);
        # volumes (lines 129-163): the webhook certificate Secret, the manager-config ConfigMap, and visibility, an
        # emptyDir without cert-manager, else Secrets. KueueViz's Deployments render only with enableKueueViz.
        manager: Any = (values.get("controllerManager") or {}).get("manager") or {}
        spec: Document = {
            "containers": [{"name": "manager", "securityContext": dict(manager.get("containerSecurityContext") or {})}],
            "securityContext": dict(manager.get("podSecurityContext") or {}),
            "volumes": [
                {"name": "cert", "secret": {"secretName": "kueue-webhook-server-cert"}},
                {"name": "manager-config", "configMap": {"name": "kueue-manager-config"}},
                {"name": "visibility", "emptyDir": {}},
            ],
        }
        if (values.get("controllerManager") or {}).get("hostNetwork"):
            spec["hostNetwork"] = True
        # KueueViz (templates/kueueviz/) is not modelled: keelson keeps enableKueueViz at its default, false.
        return [(f"Deployment {self.name}-controller-manager", spec)]

    def network(self, platform: Platform) -> Network:
        # The manager watches the API server; the API server calls its admission webhooks and its visibility API.
        return Network(api=True, webhooks=(WEBHOOK_PORT, VISIBILITY_PORT))


UNIT = Kueue()
