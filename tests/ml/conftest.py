# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real servers for the ML step tests, started once per session on free ports and removed after: PostgreSQL
(Debian's package, a throwaway cluster made with initdb), an S3 server (moto), and MLflow with basic-auth on
that Postgres. These tests run in .venv-ml (`make ml`); elsewhere they are not collected."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

try:
    import boto3
    import mlflow  # noqa: F401  # pylint: disable=unused-import
    from moto.server import ThreadedMotoServer
except ImportError:  # the tool chain's .venv: `make ml` runs these in .venv-ml
    collect_ignore_glob = ["test_*.py"]

ROOT = Path(__file__).resolve().parents[2]
# The tool chain (make setup): ansible-core and the collection, which render the tree.
TOOLCHAIN_PYTHON = ROOT / ".venv" / "bin" / "python"
EXAMPLE = ROOT / "ml" / "examples" / "churn"
ADMIN, ADMIN_PASSWORD = "admin", "admin-password-for-tests"
# The MLflow auth config these tests run the server with (docs/testing.md, the ML steps layer): the keys the
# chart writes from keelson's values (default_permission, database_uri, the admin), and the basic-auth function.
AUTH_CONFIG = """[mlflow]
default_permission = NO_PERMISSIONS
database_uri = {database}
admin_username = {admin}
admin_password = {password}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass(frozen=True)
class Postgres:
    port: int
    bindir: Path
    folder: Path
    user: tuple[str, ...]  # how to run its tools as the postgres user

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def create(self, *databases: str) -> None:
        for database in databases:
            command = [str(self.bindir / "createdb"), "-h", str(self.folder), "-p", str(self.port), "-U", "postgres", database]
            subprocess.run([*self.user, *command], check=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql; make setup installs it)")
    folder = Path(tempfile.mkdtemp(prefix="keelson-ml-pg-"))
    # PostgreSQL refuses to run as root: as root, run it as Debian's postgres user.
    user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if user:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", free_port()
    subprocess.run(
        [*user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"], check=True, capture_output=True
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield Postgres(port, bindir, folder, tuple(user))
    finally:
        subprocess.run([*user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], check=False, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class S3:
    endpoint: str

    def client(self, key: str, secret: str) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1")


@pytest.fixture(scope="session")
def s3() -> Iterator[S3]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3(f"http://{host}:{port}")
    finally:
        server.stop()


@contextmanager
def environ(settings: Mapping[str, str]) -> Iterator[None]:
    """These variables set in this process (MLflow's and boto3's clients read them) for the block, then put back."""
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class Tracking:
    uri: str
    admin: str = ADMIN
    admin_password: str = ADMIN_PASSWORD

    def create_user(self, username: str, password: str) -> None:
        """A user, made by the admin through the basic-auth app's own client."""
        self.as_admin(lambda client: client.create_user(username, password))

    def as_admin(self, work: Any) -> Any:
        """``work(client)`` with the basic-auth app's own client, as this server's admin."""
        from mlflow.server import get_app_client  # noqa: PLC0415 - only in .venv-ml

        with environ({"MLFLOW_TRACKING_USERNAME": self.admin, "MLFLOW_TRACKING_PASSWORD": self.admin_password}):
            return work(get_app_client("basic-auth", tracking_uri=self.uri))


@contextmanager
def mlflow_server(postgres: Postgres, s3: S3, folder: Path, prefix: str, *, admin: str, password: str) -> Iterator[Tracking]:
    """An MLflow server with basic-auth (``admin``: its admin) on the databases ``<prefix>`` and ``<prefix>_auth``."""
    postgres.create(prefix, f"{prefix}_auth")
    config = folder / "basic_auth.ini"
    config.write_text(AUTH_CONFIG.format(database=postgres.url(f"{prefix}_auth"), admin=admin, password=password), encoding="utf-8")
    s3.client("platform", "platform-secret").create_bucket(Bucket=f"{prefix.replace('_', '-')}-default")
    port = free_port()
    env = {**os.environ, "MLFLOW_AUTH_CONFIG_PATH": str(config), "MLFLOW_S3_ENDPOINT_URL": s3.endpoint, "AWS_ACCESS_KEY_ID": "platform"}
    env.update(
        {
            "AWS_SECRET_ACCESS_KEY": "platform-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "csrf-key-for-tests",
        }
    )
    command = [
        str(Path(sys.executable).parent / "mlflow"), "server", "--app-name", "basic-auth",
        "--backend-store-uri", postgres.url(prefix), "--no-serve-artifacts",
        "--default-artifact-root", f"s3://{prefix.replace('_', '-')}-default/",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    log = (folder / "server.log").open("wb")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the MLflow server did not start:\n{(folder / 'server.log').read_text(errors='replace')[-4000:]}")
                time.sleep(1)
        yield Tracking(uri, admin, password)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="session")
def tracking(postgres: Postgres, s3: S3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tracking]:
    with mlflow_server(postgres, s3, tmp_path_factory.mktemp("mlflow"), "mlflow_steps", admin=ADMIN, password=ADMIN_PASSWORD) as server:
        yield server


def render_example(scratch: Path, serving: Path | None = None) -> dict[str, Any]:
    """The churn example rendered by keelson as a tenant's project (render_example.py, in the tool chain), with
    ``serving`` as its serving.yaml when given."""
    if not TOOLCHAIN_PYTHON.is_file():
        pytest.skip(f"{TOOLCHAIN_PYTHON} is missing: make setup makes the tool chain that renders the tree")
    extra = [] if serving is None else [str(serving)]
    done = subprocess.run(
        [str(TOOLCHAIN_PYTHON), str(Path(__file__).with_name("render_example.py")), str(scratch), *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / ".collections"), "HOME": str(scratch)},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The churn example rendered by keelson as a tenant's project."""
    return render_example(tmp_path_factory.mktemp("render"))
