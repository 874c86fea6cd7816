# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ML workflow layer's names, shared by its components (Argo Workflows, MLflow, Kueue, KServe, the NVIDIA
device plugin) and the renderer of the tenants' ML projects (``tenants/<tenant>/ml/<project>/``): each is
defined here once. ML projects run in the tenant's first namespace, where its credentials are."""

from __future__ import annotations

from typing import Final

# The service account a tenant's pipeline pods run as, in each tenant namespace (Argo Workflows' executor needs
# it to write its task results; it holds no other permission).
WORKFLOW_ACCOUNT: Final = "keelson-workflow"
# Argo Workflows' per-namespace artifact repositories ConfigMap (the name the controller looks up by default),
# and its key that keelson's default repository (the tenant's first bucket) is under.
ARTIFACT_REPOSITORIES: Final = "artifact-repositories"
ARTIFACT_REPOSITORY_KEY: Final = "default"
# How many of a tenant's workflows run at once in each of its namespaces when its entry says nothing (the tenant's
# ``workflows.parallelism``; Argo Workflows' namespace parallelism).
WORKFLOW_PARALLELISM: Final = 4
# Kueue: the LocalQueue in every tenant namespace, the label a workload names it with, the ClusterQueue it
# points at (one per tenant) and the cohort all tenants' ClusterQueues share (fair sharing borrows idle quota).
LOCAL_QUEUE: Final = "ml"
QUEUE_LABEL: Final = "kueue.x-k8s.io/queue-name"
COHORT: Final = "keelson-tenants"


def cluster_queue(tenant: str) -> str:
    """The ClusterQueue of a tenant."""
    return f"tenant-{tenant}"


# MLflow: the Secret in the tenant's first namespace that holds the tenant's MLflow user and password (keys are
# the environment variables the MLflow client reads).
MLFLOW_SECRET: Final = "mlflow-credentials"
MLFLOW_USERNAME_KEY: Final = "MLFLOW_TRACKING_USERNAME"
MLFLOW_PASSWORD_KEY: Final = "MLFLOW_TRACKING_PASSWORD"


def mlflow_user(tenant: str) -> str:
    """A tenant's MLflow user."""
    return f"tenant-{tenant}"


# KServe: the service account a tenant's InferenceService pods run as, in the tenant's first namespace. It names
# the tenant's S3 Secret, from which KServe's webhook gives the storage initializer the tenant's credentials.
SERVING_ACCOUNT: Final = "keelson-serving"


# The NVIDIA container runtime's RuntimeClass (k3s registers the handler ``nvidia`` in containerd when it finds
# the NVIDIA container toolkit on a host).
NVIDIA_RUNTIME_CLASS: Final = "nvidia"
GPU_RESOURCE: Final = "nvidia.com/gpu"

# The account a project's drift check runs as (it may start the project's training), in the tenant's first
# namespace; rendered by the platform, since a tenant's own account writes no RBAC.
TRIGGER_ACCOUNT: Final = "keelson-ml-trigger"

# Labels of what keelson renders from an ML project: the project, and on a training run how it started (``commit``:
# the run keelson renders for the project's current revision; ``drift``: a run the drift check started).
PROJECT_LABEL: Final = "keelson.dev/ml-project"
RUN_LABEL: Final = "keelson.dev/ml-run"

# The node label k3s sets (``node-label`` in the host's config.yaml) on hosts whose ``keelson_node.gpus`` > 0:
# the device plugin's DaemonSet and the RuntimeClass select on it (the chart's own affinity wants NFD's labels).
GPU_NODE_LABEL: Final = "keelson.dev/gpu"
GPU_NODE_VALUE: Final = "true"


def runtime_class(gpus: int) -> dict[str, str]:
    """The pod spec fields a step that asks for ``gpus`` GPUs needs (``runtimeClassName``); none without GPUs.
    The project renderer merges them into the training step's pod spec when ``compute.gpu`` > 0."""
    return {"runtimeClassName": NVIDIA_RUNTIME_CLASS} if gpus > 0 else {}
