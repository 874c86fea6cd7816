# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The script of MLflow's users Job: it makes MLflow's basic-auth users match the tenants, through the auth app's
REST API (mlflow/server/auth/routes.py at MLflow 3.15.1: users/create, users/update-password, users/list,
users/delete), as the admin. Pure text: the unit mounts it into the Job, the real-server check runs it as is.

Environment: ``MLFLOW_URL``, ``ADMIN_USERNAME``, ``ADMIN_PASSWORD``, ``USERS_DIR`` (one file per tenant user,
named by the user, holding its password) and ``USER_PREFIX`` (the prefix of every tenant user: a user with it that
has no file is a removed tenant's, and is deleted); ``AUTH_DB_ADDRESS``, ``AUTH_DB_NAME``, ``AUTH_DB_DRIVER``,
``DB_USERNAME`` and ``DB_PASSWORD``: the auth app's database. MLflow makes its admin from basic_auth.ini once and
never changes its password (mlflow/server/auth/__init__.py create_admin_user, 3.15.1): when the server refuses the admin's password
from the Secret (it was changed there), the script sets it in the auth database (the auth store's update_user) and
asks again. Idempotent: a user that exists gets its password set again. Waits for the server (the Job may start
before it), then exits 0, or 1 with what failed."""

from __future__ import annotations

from typing import Final

SCRIPT: Final = r"""
import base64, json, os, sys, time, urllib.error, urllib.parse, urllib.request

URL = os.environ["MLFLOW_URL"].rstrip("/")
AUTH = "Basic " + base64.b64encode(f"{os.environ['ADMIN_USERNAME']}:{os.environ['ADMIN_PASSWORD']}".encode()).decode()
PREFIX = os.environ["USER_PREFIX"]
FOLDER = os.environ["USERS_DIR"]


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(URL + path, data=data, method=method)
    request.add_header("Authorization", AUTH)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.build_opener().open(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, {"message": text}


def set_admin_password():
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    user, password = (urllib.parse.quote(os.environ[name], safe="") for name in ("DB_USERNAME", "DB_PASSWORD"))
    store = SqlAlchemyStore()
    driver, address, name = (os.environ[key] for key in ("AUTH_DB_DRIVER", "AUTH_DB_ADDRESS", "AUTH_DB_NAME"))
    store.init_db(f"postgresql+{driver}://{user}:{password}@{address}/{name}")
    if store.has_user(os.environ["ADMIN_USERNAME"]):
        store.update_user(os.environ["ADMIN_USERNAME"], password=os.environ["ADMIN_PASSWORD"], is_admin=True)
    else:  # as the server would have made it
        store.create_user(os.environ["ADMIN_USERNAME"], os.environ["ADMIN_PASSWORD"], is_admin=True)


def wait():
    reset = False
    for _ in range(60):
        try:
            status, _body = call("GET", "/api/2.0/mlflow/users/list")
            if status == 200:
                return
            if status == 401 and not reset and os.environ.get("AUTH_DB_ADDRESS"):
                print("MLflow refuses the admin's password from its Secret: setting it in the auth database", flush=True)
                reset = True
                try:
                    set_admin_password()
                except Exception as error:
                    # The exception's class and its first line only: SQLAlchemy's message goes on with the
                    # statement's parameters (the password's hash).
                    cause = getattr(error, "orig", None) or error
                    first = (str(cause).splitlines() or [""])[0][:200]
                    print(f"could not set the admin's password in the auth database: {type(error).__name__}: {first}", flush=True)
                continue
            print(f"MLflow answers {status} to the admin: is the admin password the server's?", flush=True)
        except OSError as error:
            print(f"waiting for MLflow at {URL}: {error}", flush=True)
        time.sleep(5)
    sys.exit(f"MLflow at {URL} did not answer the admin in 5 minutes")


wait()
wanted = {}
for name in sorted(os.listdir(FOLDER)):
    if name.startswith(PREFIX):
        with open(os.path.join(FOLDER, name), encoding="utf-8") as handle:
            wanted[name] = handle.read()
failed = []
for user, password in wanted.items():
    status, body = call("POST", "/api/2.0/mlflow/users/create", {"username": user, "password": password})
    if status == 200:
        print(f"created {user}", flush=True)
        continue
    if body.get("error_code") != "RESOURCE_ALREADY_EXISTS":
        failed.append(f"create {user}: {status} {body}")
        continue
    status, body = call("PATCH", "/api/2.0/mlflow/users/update-password", {"username": user, "password": password})
    if status == 200:
        print(f"kept {user} (password set)", flush=True)
    else:
        failed.append(f"update-password {user}: {status} {body}")
status, body = call("GET", "/api/2.0/mlflow/users/list")
if status != 200:
    failed.append(f"list users: {status} {body}")
for entry in body.get("users", []) if status == 200 else []:
    user = entry["username"]
    if user.startswith(PREFIX) and user not in wanted and not entry.get("is_admin"):
        status, answer = call("DELETE", "/api/2.0/mlflow/users/delete", {"username": user})
        if status == 200:
            print(f"deleted {user} (no such tenant)", flush=True)
        else:
            failed.append(f"delete {user}: {status} {answer}")
if failed:
    sys.exit("\n".join(failed))
"""
