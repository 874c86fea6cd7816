# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""MLflow: each tenant's user and password reach that tenant alone, the admin's reach no tenant, the server holds
no S3 credential and proxies no artifacts, the users Job follows the tenants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from render_helpers import documents, example_spec, fake_value, fake_values, render_example
from test_pod_security import helm_merge

from ansible_collections.keelson.platform.plugins.module_utils._components import mlflow
from ansible_collections.keelson.platform.plugins.module_utils._ml import (
    MLFLOW_PASSWORD_KEY,
    MLFLOW_SECRET,
    MLFLOW_USERNAME_KEY,
    mlflow_user,
)
from ansible_collections.keelson.platform.plugins.plugin_utils import _render
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

ENGINES = ("argocd", "flux")


def _platform(changes: Any = None) -> tuple[Platform, dict[tuple[str, str], Any]]:
    spec, nodes = example_spec("argocd", changes)
    return Platform(spec, nodes), _render.secrets_to_seal(spec, nodes, fake_values(spec))


def _password(tenant: str) -> str:
    return fake_value(f"tenant-{tenant}-mlflow-password", "alnum")


def test_each_tenant_gets_its_own_mlflow_user_in_its_first_namespace_only() -> None:
    platform, secrets = _platform()
    tenants = platform.spec.tenants
    assert len(tenants) >= 2
    for tenant in tenants:
        data = secrets[(tenant.namespaces[0], MLFLOW_SECRET)].data
        assert data == {MLFLOW_USERNAME_KEY: mlflow_user(tenant.name), MLFLOW_PASSWORD_KEY: _password(tenant.name)}
        for other in tenant.namespaces[1:]:
            assert (other, MLFLOW_SECRET) not in secrets
    # No tenant namespace holds the admin's password or another tenant's.
    admin = fake_value("mlflow-admin-password", "alnum")
    for tenant in tenants:
        foreign = {admin, *(_password(other.name) for other in tenants if other is not tenant)}
        for namespace in tenant.namespaces:
            held = {value for (where, _name), secret in secrets.items() if where == namespace for value in secret.data.values()}
            assert not held & foreign, f"{namespace} holds another's MLflow credential"
    # MLflow's own namespace: the admin, and every tenant user's password for the users Job only.
    assert secrets[("mlflow", mlflow.ADMIN_SECRET)].data == {"username": mlflow.ADMIN_USER, "password": admin}
    assert secrets[("mlflow", mlflow.USERS_SECRET)].data == {mlflow_user(tenant.name): _password(tenant.name) for tenant in tenants}


def test_without_mlflow_no_tenant_gets_an_mlflow_secret() -> None:
    def off(raw: dict[str, Any]) -> None:
        raw.setdefault("components", {})["mlflow"] = {"enabled": False}

    _platform_off, secrets = _platform(off)
    assert not [key for key in secrets if key[1] in (MLFLOW_SECRET, mlflow.USERS_SECRET, mlflow.ADMIN_SECRET)]


def _values(shared_data: Path) -> dict[str, Any]:
    platform, _secrets = _platform()
    chart = yaml.safe_load((shared_data / "charts" / "mlflow-1.11.5" / "values.yaml").read_text())
    return helm_merge(chart, mlflow.UNIT.values(platform))


def test_the_server_has_no_permission_by_default_and_no_way_into_a_bucket(shared_data: Path) -> None:
    values = _values(shared_data)
    assert values["auth"]["enabled"] and values["auth"]["defaultPermission"] == "NO_PERMISSIONS"
    assert values["auth"]["appName"] == "basic-auth"
    # No artifact proxy (MLflow 3 serves artifacts unless told not to) and no S3 credential or endpoint.
    assert "noServeArtifacts" in values["extraFlags"]
    assert not values["artifactRoot"]["proxiedArtifactStorage"] and not values["artifactRoot"]["s3"]["enabled"]
    assert not values["minio"]["enabled"] and not values["postgresql"]["enabled"] and not values["mysql"]["enabled"]
    assert not [name for name in (*values["extraEnvVars"], *values["extraSecretNamesForEnvFrom"]) if "AWS" in name or "S3" in name]
    # The steps' in-cluster host is one the server accepts.
    platform, _secrets = _platform()
    assert mlflow.tracking_uri(platform).removeprefix("http://") in values["serverAllowedHosts"]


def test_every_replica_and_restart_has_the_sealed_flask_key_and_no_api_token(shared_data: Path) -> None:
    """The chart's own key is random under Argo CD (no lookup under helm template, its hook Secret made again on
    every sync): keelson's sealed Secret comes after it in envFrom and wins. The server never calls the API server;
    MLflow's job runner, which calls the server on a host the allowed hosts refuse, stays off."""
    values = _values(shared_data)
    assert values["extraSecretNamesForEnvFrom"] == [mlflow.FLASK_SECRET]
    _unused, secrets = _platform()
    assert secrets[("mlflow", mlflow.FLASK_SECRET)].data == {mlflow.FLASK_SECRET_KEY: fake_value("mlflow-flask-secret-key", "alnum")}
    assert values["serviceAccount"]["create"] and values["serviceAccount"]["automount"] is False
    assert values["extraEnvVars"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"


@pytest.mark.parametrize("engine", ENGINES)
def test_the_server_reaches_no_object_store_and_every_tenant_reaches_the_server(engine: str) -> None:
    objects = documents(render_example(engine))
    policies = [document for _path, document in objects if document["kind"] == "NetworkPolicy"]
    from_mlflow = [policy for policy in policies if policy["metadata"]["namespace"] == "mlflow"]
    egress = [peer for policy in from_mlflow for rule in policy["spec"].get("egress", []) for peer in rule.get("to", [])]
    assert not [peer for peer in egress if "minio" in str(peer)]
    spec, nodes = example_spec(engine)
    for tenant in Platform(spec, nodes).spec.tenants:
        for namespace in tenant.namespaces:
            allowed = [
                policy
                for policy in policies
                if policy["metadata"]["namespace"] == namespace and policy["metadata"]["name"] == "allow-to-mlflow"
            ]
            assert len(allowed) == 1 and allowed[0]["spec"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": mlflow.CONTAINER_PORT}]


def _job(changes: Any = None) -> dict[str, Any]:
    platform, _secrets = _platform(changes)
    jobs = [document for document in mlflow.UNIT.manifests(platform) if document["kind"] == "Job"]
    assert len(jobs) == 1
    return jobs[0]


def test_the_users_job_reads_the_admin_and_the_users_secret_and_follows_the_tenants() -> None:
    job = _job()
    pod = job["spec"]["template"]["spec"]
    secrets = {entry["valueFrom"]["secretKeyRef"]["name"] for entry in pod["containers"][0]["env"] if "valueFrom" in entry}
    secrets |= {volume["secret"]["secretName"] for volume in pod["volumes"] if "secret" in volume}
    # The admin, the tenant users, and the auth database's owner (to set a changed admin password there).
    assert secrets == {mlflow.ADMIN_SECRET, mlflow.USERS_SECRET, mlflow.DB_APP_SECRET}
    env = {entry["name"]: entry.get("value") for entry in pod["containers"][0]["env"]}
    platform, _secrets = _platform()
    assert env["MLFLOW_URL"] == mlflow.tracking_uri(platform)
    values = mlflow.UNIT.values(platform)
    assert env["AUTH_DB_ADDRESS"] == f"{values['auth']['postgres']['host']}:{mlflow.DB_PORT}"
    assert env["AUTH_DB_NAME"] == values["auth"]["postgres"]["database"]
    # Every tenant user has the prefix the Job deletes strangers by; the admin has not.
    assert all(mlflow_user(tenant.name).startswith(env["USER_PREFIX"]) for tenant in platform.spec.tenants)
    assert not mlflow.ADMIN_USER.startswith(env["USER_PREFIX"])
    # Same tenants, same Job; one tenant fewer, a new Job (so the removed tenant's user is deleted).
    assert _job()["metadata"]["name"] == job["metadata"]["name"]

    def one_fewer(raw: dict[str, Any]) -> None:
        raw["tenants"] = raw["tenants"][:-1]

    assert _job(one_fewer)["metadata"]["name"] != job["metadata"]["name"]


def test_artifacts_go_to_the_tenants_first_bucket() -> None:
    platform, _secrets = _platform()
    for tenant in platform.spec.tenants:
        location = mlflow.artifact_location(tenant, "churn")
        if tenant.buckets:
            assert location == f"s3://{tenant.buckets[0]}/mlflow/churn/"
        else:
            assert location is None
