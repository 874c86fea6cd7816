# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A valid platform and the helpers that derive bad variants of it for the table-driven tests."""

from __future__ import annotations

import copy
from typing import Any

DELETE = object()

BASE_SPEC: dict[str, Any] = {
    "name": "ml-prod",
    "domain": "ml.example.internal",
    "cluster": {"api_vip": "192.168.10.10"},
    "tenants": [
        {
            "name": "vision",
            "quota": {"cpu": "8", "memory": "32Gi", "gpu": 1},
            "buckets": ["vision-data"],
            "weaviate": True,
        },
        {"name": "nlp", "buckets": ["nlp-corpora"]},
    ],
}

BASE_NODES: list[dict[str, Any]] = [
    {
        "host": f"server-{i}",
        "role": "server",
        "address": f"192.168.10.1{i}",
        "keelson_node": None,
        "spec_differs": False,
    }
    for i in (1, 2, 3)
] + [
    {
        "host": "gpu-1",
        "role": "agent",
        "address": "192.168.10.21",
        "keelson_node": {"gpus": 2, "taints": ["nvidia.com/gpu=true:NoSchedule"]},
        "spec_differs": False,
    }
]


def _set(doc: Any, path: str, value: Any) -> None:
    keys: list[Any] = [int(part) if part.isdigit() else part for part in path.split(".")]
    for key in keys[:-1]:
        doc = doc.setdefault(key, {}) if isinstance(doc, dict) else doc[key]
    if value is DELETE:
        del doc[keys[-1]]
    elif isinstance(doc, list) and keys[-1] == len(doc):
        doc.append(value)
    else:
        doc[keys[-1]] = value


def variant(changes: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    """BASE_SPEC and BASE_NODES with ``changes`` applied; keys under ``nodes.`` change the nodes.

    ``{"tenants.1.quota.memory": "12GBs", "nodes.3.keelson_node": None, "spec": []}``
    """
    spec: Any = copy.deepcopy(BASE_SPEC)
    nodes = copy.deepcopy(BASE_NODES)
    for path, value in changes.items():
        if path == "spec":
            spec = value
        elif path == "nodes":
            nodes = value
        elif path.startswith("nodes."):
            _set(nodes, path[len("nodes.") :], value)
        else:
            _set(spec, path, value)
    return spec, nodes
