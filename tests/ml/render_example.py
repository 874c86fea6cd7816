# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Render the churn example as a tenant's project, the way keelson renders it, and print what the pipeline
test (test_pipeline.py) runs, as JSON on stdout.

Run by the tool chain's Python (.venv: ansible-core and the collection), not .venv-ml's:
    python tests/ml/render_example.py <scratch folder> [<serving.yaml>]
(the second argument: a serving.yaml to commit in the example's place, e.g. the one the promote step wrote)
The example (ml/examples/churn, its bucket replaced by the tenant's) is committed into a Git working copy at the
tenant's ML folder of inventories/example-ha, and the whole tree rendered with keelson's renderer (the sealing is
the unit tests' double: the Secrets' key names are real, their values are not). Printed: the tenant, its
namespace and bucket, the project's objects (ConfigMap, WorkflowTemplate, Workflow, CronWorkflow, and the
InferenceService when serving.yaml serves a version), the serving runtimes of the tree, each Secret
the steps read (envFrom) with its keys and the stand-in values the tree's double sealing used, and the in-cluster addresses the steps are
given (MLflow, S3); and MLflow's users Job with what it reads."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "unit" / "plugins" / "plugin_utils"))

from render_helpers import ca_of, documents, double_sealed, example_spec, fake_values  # noqa: E402

from ansible_collections.keelson.platform.plugins.module_utils import _ml  # noqa: E402
from ansible_collections.keelson.platform.plugins.module_utils._components import minio, mlflow  # noqa: E402
from ansible_collections.keelson.platform.plugins.plugin_utils import _ml_sources, _render  # noqa: E402
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform  # noqa: E402

EXAMPLE = ROOT / "ml" / "examples" / "churn"
EXAMPLE_BUCKET = "demo-datasets"
TENANT = "vision"
GIT = ["git", "-c", "user.name=Team", "-c", "user.email=team@example.internal", "-c", "commit.gpgsign=false"]


def _git(repo: Path, *arguments: str) -> str:
    return subprocess.run([*GIT, "-C", str(repo), *arguments], check=True, capture_output=True, text=True).stdout.strip()


def main(scratch: Path, serving: Path | None = None) -> dict[str, Any]:
    spec, nodes = example_spec()
    platform = Platform(spec, nodes)
    tenant = platform.tenant(TENANT)
    bucket = tenant.buckets[0]
    repo = scratch / "repo"
    target = repo / platform.layout.tenant_ml_sources(TENANT) / "churn"
    shutil.copytree(EXAMPLE, target)
    for path in target.glob("*.yaml"):
        path.write_text(path.read_text().replace(EXAMPLE_BUCKET, bucket))
    if serving is not None:
        (target / "serving.yaml").write_text(serving.read_text())
    subprocess.run([*GIT, "init", "-q", "-b", "main", str(repo)], check=True)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "churn: first version")
    projects = _ml_sources.read_projects(str(repo), platform.layout, list(platform.spec.tenants), {})
    files = _render.render(spec, nodes, double_sealed(spec, nodes), ca_of(spec), ml_projects=projects)
    namespace = platform.ml_namespace(TENANT)
    found = [document for path, document in documents(files) if document["metadata"].get("namespace") == namespace]
    project = {
        document["kind"]: document
        for document in found
        if document["kind"] in {"ConfigMap", "WorkflowTemplate", "Workflow", "CronWorkflow", "InferenceService"}
        and document["metadata"].get("labels", {}).get("keelson.dev/ml-project") == "churn"
    }
    # What the sealed Secrets the steps read hold once unsealed: their real keys, the unit tests' stand-in values.
    unsealed = _render.secrets_to_seal(spec, nodes, fake_values(spec))
    secrets = {name: dict(unsealed[(namespace, name)].data) for name in platform.ml_endpoints.secrets}
    sealed = {document["metadata"]["name"] for document in found if document["kind"] == "SealedSecret"}
    assert set(secrets) <= sealed, f"the tree seals {sorted(sealed)}, the steps read {sorted(secrets)}"
    # MLflow's users Job, with the ConfigMap and the Secrets it reads, in MLflow's namespace.
    users_namespace = platform.unit("mlflow").namespace
    in_mlflow = [document for path, document in documents(files) if document["metadata"].get("namespace") == users_namespace]
    [job] = [
        document for document in in_mlflow if document["kind"] == "Job" and document["metadata"]["name"].startswith("keelson-mlflow-users-")
    ]
    [script] = [
        document for document in in_mlflow if document["kind"] == "ConfigMap" and document["metadata"]["name"] == mlflow.USERS_SCRIPT_MAP
    ]
    users = {
        "admin_secret": mlflow.ADMIN_SECRET,
        "users_secret": mlflow.USERS_SECRET,
        "user": {tenant.name: mlflow.mlflow_user(tenant.name) for tenant in platform.spec.tenants},
        "job": job,
        "config_maps": {script["metadata"]["name"]: script["data"]},
        "secrets": {name: dict(secret.data) for (namespace, name), secret in unsealed.items() if namespace == users_namespace},
        "tenants": [tenant.name for tenant in platform.spec.tenants],
        # The auth database as the Job names it (its address and name), and the operator's Secret of its owner.
        "database": {"secret": mlflow.DB_APP_SECRET, "address": f"{mlflow.DB_HOST}:{mlflow.DB_PORT}", "name": mlflow.AUTH_DB_NAME},
    }
    return {
        "users": users,
        "tenant": TENANT,
        "namespace": namespace,
        "bucket": bucket,
        "commit": _git(repo, "rev-parse", "HEAD"),
        "project_dir": str(target),
        "objects": project,
        "runtimes": {
            document["metadata"]["name"]: document for _path, document in documents(files) if document["kind"] == "ClusterServingRuntime"
        },
        "secrets": secrets,
        # Which of them holds what (their names' owners).
        "mlflow_secret": _ml.MLFLOW_SECRET,
        "s3_secret": minio.TENANT_SECRET,
        "addresses": {"mlflow": platform.ml_endpoints.tracking_uri, "s3": platform.ml_endpoints.s3_endpoint},
        "artifact_root": str(mlflow.artifact_location(tenant, "churn")),
    }


if __name__ == "__main__":
    json.dump(main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None), sys.stdout, indent=1, sort_keys=True)
