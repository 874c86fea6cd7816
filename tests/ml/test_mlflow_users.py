# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""MLflow's users Job as keelson renders it (inventories/example-ha: three tenants), run by the pod double
(argo_double.py) against a real MLflow server of its own, whose admin is the one the rendered admin Secret names
(as the chart's existingAdminSecret makes it): one user per tenant with its password, a removed tenant's user
deleted, other users left alone, a re-run keeping the users and setting their passwords again."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argo_double import Cluster, Pod, environment
from conftest import S3, Postgres, Tracking, mlflow_server


def _status(uri: str, user: str, password: str) -> int:
    """What MLflow answers this user's basic-auth login with (200, or 401 for a wrong user or password)."""
    request = urllib.request.Request(f"{uri}/api/2.0/mlflow/experiments/search?max_results=1")
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.build_opener().open(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.fixture(scope="module")
def users(rendered: dict[str, Any]) -> dict[str, Any]:
    return dict(rendered["users"])


@dataclass(frozen=True)
class Place:
    """Where this test's server keeps its data: the PostgreSQL, its databases <prefix> (tracking) and
    <prefix>_auth, and the S3 server."""

    postgres: Postgres
    s3: S3
    prefix: str


@pytest.fixture
def place(postgres: Postgres, s3: S3) -> Place:
    return Place(postgres, s3, f"mlflow_users_{uuid.uuid4().hex[:8]}")


def _start(users: dict[str, Any], place: Place, folder: Path, admin_password: str = "") -> Any:
    admin = users["secrets"][users["admin_secret"]]
    folder.mkdir()
    password = admin_password or admin["password"]
    return mlflow_server(place.postgres, place.s3, folder, place.prefix, admin=admin["username"], password=password)


@pytest.fixture
def server(users: dict[str, Any], place: Place, tmp_path: Path) -> Iterator[Tracking]:
    """A fresh MLflow server (databases of its own) for each test: no test sees another's users."""
    with _start(users, place, tmp_path / "mlflow") as found:
        yield found


def _run_job(users: dict[str, Any], rendered: dict[str, Any], server: Tracking, scratch: Path, place: Place) -> Pod:
    """The Job's pod, its in-cluster names bound to this test's servers: MLflow, and the auth database (on the test
    PostgreSQL, whose postgres user needs no password there) under the name the operator's Secret gives."""
    (scratch / "image").mkdir(parents=True)
    database = users["database"]
    cluster = Cluster(
        scratch=scratch,
        workdir=scratch / "image",
        secrets={**users["secrets"], database["secret"]: {"username": "postgres", "password": ""}},
        config_maps=users["config_maps"],
        templates={},
        addresses={
            rendered["addresses"]["mlflow"]: server.uri,
            database["address"]: f"127.0.0.1:{place.postgres.port}",
            database["name"]: f"{place.prefix}_auth",
        },
        base_env=environment(),
    )
    return cluster.run_pod("users", users["job"]["spec"]["template"]["spec"])


def test_the_users_job_makes_each_tenants_user_and_deletes_a_removed_tenants(
    users: dict[str, Any], rendered: dict[str, Any], server: Tracking, tmp_path: Path, place: Place
) -> None:
    wanted = users["secrets"][users["users_secret"]]
    assert sorted(wanted) == sorted(users["user"][name] for name in users["tenants"])
    # A tenant removed from the spec left its user (a tenant user's name); someone made a user by hand.
    removed = users["user"]["vision"].replace("vision", "removed")
    server.create_user(removed, "an-old-password")
    server.create_user("analyst-by-hand", "a-password-set-by-hand")
    job = _run_job(users, rendered, server, tmp_path, place)
    assert job.returncode == 0, job.stdout + job.stderr
    for user, password in wanted.items():
        assert f"created {user}" in job.stdout
        assert _status(server.uri, user, password) == 200, user
    assert f"deleted {removed} (no such tenant)" in job.stdout
    assert _status(server.uri, removed, "an-old-password") == 401
    assert _status(server.uri, "analyst-by-hand", "a-password-set-by-hand") == 200


def test_a_second_run_keeps_the_users_and_sets_their_passwords_again(
    users: dict[str, Any], rendered: dict[str, Any], server: Tracking, tmp_path: Path, place: Place
) -> None:
    first = _run_job(users, rendered, server, tmp_path / "first", place)
    assert first.returncode == 0, first.stdout + first.stderr
    wanted = users["secrets"][users["users_secret"]]
    nlp = users["user"]["nlp"]
    server.as_admin(lambda client: client.update_user_password(nlp, "changed-by-hand"))
    assert _status(server.uri, nlp, wanted[nlp]) == 401
    again = _run_job(users, rendered, server, tmp_path / "again", place)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "created" not in again.stdout and "deleted" not in again.stdout
    for user, password in wanted.items():
        assert f"kept {user} (password set)" in again.stdout
        assert _status(server.uri, user, password) == 200, user


def test_a_changed_admin_password_is_set_in_the_auth_database(
    users: dict[str, Any], rendered: dict[str, Any], place: Place, tmp_path: Path
) -> None:
    """The server made its admin with the password of its first start and never changes it: after the Secret's
    password changed, the Job sets it in the auth database, then makes the users as the admin."""
    admin = users["secrets"][users["admin_secret"]]
    with _start(users, place, tmp_path / "mlflow", admin_password="the-password-of-the-first-start") as server:
        assert _status(server.uri, admin["username"], admin["password"]) == 401
        job = _run_job(users, rendered, server, tmp_path / "job", place)
        assert job.returncode == 0, job.stdout + job.stderr
        assert "setting it in the auth database" in job.stdout
        assert _status(server.uri, admin["username"], admin["password"]) == 200
        assert _status(server.uri, admin["username"], "the-password-of-the-first-start") == 401
        for user, password in users["secrets"][users["users_secret"]].items():
            assert _status(server.uri, user, password) == 200, user
