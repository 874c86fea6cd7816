# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark (not a test): validate specs of 100 and 1,000 tenants and report the times and their ratio.

    python tools/bench_spec.py

DESIGN.md's budget: render + validate + seal 1,000 tenants in seconds, linear in tenants.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / ".collections"))

from ansible_collections.keelson.platform.plugins.module_utils._spec import validate_platform

NODES: list[dict[str, Any]] = [{"host": f"server-{i}", "role": "server", "address": f"10.0.0.{i}", "keelson_node": None} for i in (1, 2, 3)]
NODES.append({"host": "gpu-1", "role": "agent", "address": "10.0.1.1", "keelson_node": {"gpus": 8}})


def spec(tenants: int) -> dict[str, Any]:
    return {
        "name": "bench",
        "domain": "bench.example.internal",
        "cluster": {"api_vip": "10.0.0.100"},
        "tenants": [
            {
                "name": f"team-{n}",
                "quota": {"cpu": "8", "memory": "32Gi", "gpu": n % 2, "storage": "1Ti"},
                "buckets": [f"team-{n}-data", f"team-{n}-models"],
                "weaviate": True,
            }
            for n in range(tenants)
        ],
    }


def best_of(runs: int, tenants: int) -> float:
    raw = spec(tenants)
    times = []
    for _run in range(runs):
        start = time.perf_counter()
        validate_platform(raw, NODES)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    small, large = best_of(5, 100), best_of(5, 1000)
    print(f"validate 100 tenants:   {small * 1000:8.1f} ms (best of 5)")
    print(f"validate 1,000 tenants: {large * 1000:8.1f} ms (best of 5)")
    print(f"ratio 1,000 / 100:      {large / small:8.2f} (10 is linear)")


if __name__ == "__main__":
    main()
