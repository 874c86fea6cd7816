# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The cluster's Node objects through the API, with the admin kubeconfig keelson wrote for the scenario: one owner
for the day-2 tests."""

from __future__ import annotations

import time
from typing import Any

from conftest import EPHEMERAL
from kubernetes import client, config


def nodes() -> list[Any]:
    connection = config.new_client_from_config(config_file=str(EPHEMERAL / "kubeconfig"))
    try:
        return list(client.CoreV1Api(connection).list_node().items)
    finally:
        connection.close()


def is_ready(node: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)


def ready_nodes() -> set[str]:
    return {node.metadata.name for node in nodes() if is_ready(node)}


def wait_ready(names: set[str], timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while not names <= ready_nodes() and time.time() < deadline:
        time.sleep(2)
    assert names <= ready_nodes()
