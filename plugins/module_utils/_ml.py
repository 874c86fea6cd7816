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


# The NVIDIA container runtime's RuntimeClass (k3s registers the handler ``nvidia`` in containerd when it finds
# the NVIDIA container toolkit on a host).
NVIDIA_RUNTIME_CLASS: Final = "nvidia"
GPU_RESOURCE: Final = "nvidia.com/gpu"
