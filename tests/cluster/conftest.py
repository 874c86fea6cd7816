# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The cluster API layer: a real kube-apiserver (a bare one, without nodes, is enough), named by the kubeconfig
in KEELSON_TEST_KUBECONFIG. Without it every test here is skipped, saying why (pytest then exits 0).

Use a throwaway API server: the tests apply a rendered tree's objects (namespaces, RBAC, policies, custom
resources) with server-side apply, and delete at the end only what did not exist before."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
# The unit tests' render helpers (example-ha rendered, the sealer double) are shared with this layer.
sys.path.insert(0, str(HERE.parent / "unit" / "plugins" / "plugin_utils"))
sys.path.insert(0, str(HERE.parent / "unit"))

VARIABLE = "KEELSON_TEST_KUBECONFIG"


def platform_data() -> Path:
    """Upstream CRDs and chart data beside the project (as tests/conftest.py finds them)."""
    return Path(os.environ.get("KEELSON_PLATFORM_DATA", HERE.parents[2] / "shared" / "platform-data"))


def _why_not() -> str:
    path = os.environ.get(VARIABLE)
    if not path:
        return f"{VARIABLE} is not set: set it to the kubeconfig of a throwaway kube-apiserver or cluster to run tests/cluster"
    if not Path(path).is_file():
        return f"{VARIABLE}={path}: no such file"
    try:
        import kubernetes  # noqa: F401, PLC0415
    except ImportError:
        return "the kubernetes Python client is not installed (requirements/requirements.txt)"
    return ""


@pytest.fixture(scope="session")
def api() -> Iterator[Any]:
    """A kubernetes ApiClient for the server KEELSON_TEST_KUBECONFIG names (skips without one)."""
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    from kubernetes import client, config  # noqa: PLC0415

    api_client = config.new_client_from_config(config_file=os.environ[VARIABLE])
    try:
        client.VersionApi(api_client).get_code()
    except Exception as error:  # any failure to reach it is a reason to stop here
        pytest.fail(f"{VARIABLE} names a server that does not answer: {error}")
    yield api_client
    api_client.close()


@pytest.fixture(scope="session")
def crd_files(api: Any) -> list[Path]:
    """The upstream CRD files (../shared/platform-data/crds/*/*.yaml)."""
    files = sorted((platform_data() / "crds").glob("*/*.yaml"))
    if not files:
        pytest.skip(f"no upstream CRDs under {platform_data() / 'crds'} (set KEELSON_PLATFORM_DATA)")
    return files
