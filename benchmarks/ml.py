# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark (not a test): the ML layer of platforms of 100 and 1,000 tenants with 3 projects each; time and peak
memory.

    python benchmarks/ml.py [--crds ../shared/platform-data/crds]

Each size runs in a fresh process, so its peak resident memory is its own. Every tenant holds three copies of
the test project (tests/unit/plugins/plugin_utils/ml-projects/churn) in a folder, pointed at its own buckets.
Stages: read and check every project from the folder (no Git: the folder is no working copy), render the whole
tree with them, and validate the ML layer's objects (the CRDs' schemas, when --crds is given). Sealing is
left out: the ML layer seals nothing (see benchmarks/render.py for the rest of the render).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / ".collections"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from bench_spec import NODES
from bench_spec import spec as raw_spec
from render import _timed  # benchmarks/render.py: the same stage timer

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._spec import validate_platform
from ansible_collections.keelson.platform.plugins.plugin_utils import _ml_sources, _render, _tree_check
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

PROJECT = Path(__file__).resolve().parent.parent / "tests" / "unit" / "plugins" / "plugin_utils" / "ml-projects" / "churn"
PROJECTS = ("churn", "fraud", "ranking")


def _write_projects(root: Path, platform: Platform) -> None:
    texts = {path.name: path.read_text() for path in PROJECT.glob("*.yaml")}
    for tenant in platform.spec.tenants:
        data, models = tenant.buckets
        for name in PROJECTS:
            folder = root / platform.layout.tenant_ml_sources(tenant.name) / name
            folder.mkdir(parents=True)
            for file, text in texts.items():
                (folder / file).write_text(text.replace("vision-datasets", data).replace("vision-models", models))


def one(tenants: int, crds: str) -> dict[str, Any]:
    stages: dict[str, float] = {}
    validated = validate_platform(raw_spec(tenants), NODES)
    spec, nodes = validated.spec, validated.nodes
    platform = Platform(spec, nodes)
    with tempfile.TemporaryDirectory() as root:
        _write_projects(Path(root), platform)
        projects = _timed(
            stages, "read + check projects", lambda: _ml_sources.read_projects(root, platform.layout, list(platform.spec.tenants), {})
        )
    files = _timed(stages, "render (whole tree, sealing aside)", lambda: _render.render(spec, nodes, {}, None, ml_projects=projects))
    without = _timed(stages, "render without the projects", lambda: _render.render(spec, nodes, {}, None))
    ml_files = {path: text for path, text in files.items() if "/keelson-ml/" in path}
    urls = [url for component in CATALOG["components"].values() for url in component.get("crds", [])]
    schemas = _tree_check.crd_schemas(_tree_check._load_crds(crds, urls)) if crds else {}
    problems = _timed(stages, "validate the ML objects", lambda: _tree_check.validate_tree(ml_files, "1.35", schemas, []))
    if crds and problems:
        raise SystemExit(f"invalid ML objects: {problems[:3]}")
    return {
        "tenants": tenants,
        "projects": sum(len(items) for items in projects.values()),
        "ml_files": len(ml_files),
        "ml_bytes": sum(len(text) for text in ml_files.values()),
        "files_without": len(without),
        "stages": stages,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int)
    parser.add_argument("--crds", default=str(Path(__file__).resolve().parents[2] / "shared" / "platform-data" / "crds"))
    args = parser.parse_args()
    crds = args.crds if Path(args.crds).is_dir() else ""
    if args.tenants:
        print(json.dumps(one(args.tenants, crds)))
        return
    if not crds:
        print(f"CRDs not found at {args.crds}: the ML objects are not validated")
    for size in (100, 1000):
        command = [sys.executable, __file__, "--tenants", str(size), "--crds", args.crds]
        result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
        print(
            f"{result['tenants']:>5} tenants, {result['projects']} projects: {result['ml_files']} ML files, "
            f"{result['ml_bytes'] / 1e6:.1f} MB; peak RSS {result['peak_rss_mib']:.0f} MiB"
        )
        for name, seconds in result["stages"].items():
            print(f"        {name:<40} {seconds:8.3f} s")


if __name__ == "__main__":
    main()
