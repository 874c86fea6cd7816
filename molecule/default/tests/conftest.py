# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""testinfra over SSH to the scenario's hosts, with the keys and pinned host keys create.yml made."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import testinfra
import yaml

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
SERVERS = ["server-1", "server-2", "server-3"]
AGENTS = ["agent-1"]
ADDRESSES = {"server-1": "10.89.77.11", "server-2": "10.89.77.12", "server-3": "10.89.77.13", "agent-1": "10.89.77.21"}
VIP = "10.89.77.10"
# Where each node keeps the cluster token (config.yaml's token-file), and where k3s writes the one a server runs.
TOKEN_FILE = "/etc/rancher/k3s/token"
SERVER_TOKEN = "/var/lib/rancher/k3s/server/token"


# The default scenario runs the k3s TEST DOUBLE; real-k3s runs k3s. Tests of the double's internals skip there.
DOUBLE = os.environ.get("MOLECULE_SCENARIO_NAME", "default") != "real-k3s"
needs_double = pytest.mark.skipif(not DOUBLE, reason="reads the k3s test double's own bookkeeping")


def connect(name: str) -> Any:
    return testinfra.get_host(f"ssh://{name}", ssh_config=str(EPHEMERAL / "ssh_config"), sudo=True)


@pytest.fixture(scope="session")
def hosts() -> dict[str, Any]:
    return {name: connect(name) for name in SERVERS + AGENTS}


@pytest.fixture(scope="session")
def sums() -> dict[str, str]:
    lines = (EPHEMERAL / "airgap" / "sha256sum-amd64.txt").read_text().splitlines()
    return {line.split()[1]: line.split()[0] for line in lines}


def read_yaml(host: Any, path: str) -> Any:
    return yaml.safe_load(host.file(path).content_string)


def token_on(host: Any) -> str:
    """The cluster token a node's token file holds."""
    return str(host.file(TOKEN_FILE).content_string).strip()


@pytest.fixture(scope="session")
def platform_name() -> str:
    """The spec's name: the confirmation restore.yml and reset.yml ask for."""
    spec = yaml.safe_load((SCENARIO / "inventory" / "group_vars" / "all" / "keelson.yml").read_text())["keelson_platform"]
    return str(spec["name"])
