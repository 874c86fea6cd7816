# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark (not a test): render and validate platforms of 100 and 1,000 tenants; time and peak memory.

    python benchmarks/render.py [--crds ../shared/platform-data/crds]

Each size runs in a fresh process, so its peak resident memory is its own. Stages: validate the spec; seal
every Secret with a real RSA-4096 key; render the tree to text; validate every Kubernetes object of it
(kubernetes-validate for built-in kinds, the CRDs' schemas for the rest, when --crds is given); and the
sealing of an unchanged platform's re-render: reading the SealedSecrets back from the rendered text, and
sealing against them, which recognises every unchanged value by its keyed digest (no RSA operation). The
last stage does the same without the digest key (an older backend): it opens every value.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / ".collections"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from bench_spec import NODES  # the same platform the spec benchmark validates
from bench_spec import spec as raw_spec

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._sealing import generate_digest_key, generate_key_pair, parse_digest_key
from ansible_collections.keelson.platform.plugins.module_utils._spec import validate_platform
from ansible_collections.keelson.platform.plugins.plugin_utils import _platform_secrets, _render, _render_files, _tree_check


def _timed(stages: dict[str, float], name: str, work: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = work()
    stages[name] = time.perf_counter() - start
    return result


def one(tenants: int, crds: str) -> dict[str, Any]:
    stages: dict[str, float] = {}
    validated = _timed(stages, "validate spec", lambda: validate_platform(raw_spec(tenants), NODES))
    spec, nodes = validated.spec, validated.nodes
    # Stand-in passwords; the platform CA is a real one (its certificate goes into the consumers' configs).
    values = {
        credential.name: _platform_secrets.create(credential.kind, credential.length)
        if credential.kind == "platform-ca"
        else f"bench-{credential.name}"
        for credential in _platform_secrets.credentials(spec)
    }
    ca = _platform_secrets.ca_certificate(spec, values)
    pair, digest_key = generate_key_pair(), parse_digest_key(generate_digest_key())
    secrets = _render.secrets_to_seal(spec, nodes, values)
    sealed = _timed(stages, "seal", lambda: _render_files.seal_all(secrets, pair["certificate"], [pair["key"]], {}, digest_key=digest_key))
    files = _timed(stages, "render", lambda: _render.render(spec, nodes, sealed, ca))
    urls = [url for component in CATALOG["components"].values() for url in component.get("crds", [])]
    schemas = _tree_check.crd_schemas(_tree_check._load_crds(crds, urls)) if crds else {}
    skip = [".github/*", ".gitlab-ci.yml", ".keelson/*", "platform/*/values.yaml"]
    problems = _timed(stages, "validate tree", lambda: _tree_check.validate_tree(files, "1.35", schemas, skip))
    if crds and problems:
        raise SystemExit(f"invalid tree: {problems[:3]}")
    previous = _timed(stages, "re-render unchanged: read sealed from tree", lambda: _render_files.sealed_in(files))
    resealed = _timed(
        stages,
        "re-render unchanged: seal (digests)",
        lambda: _render_files.seal_all(secrets, pair["certificate"], [pair["key"]], previous, digest_key=digest_key),
    )
    if resealed != sealed:
        raise SystemExit("an unchanged re-render changed a SealedSecret")
    fallback = _timed(
        stages, "(no digest key: unseal, compare)", lambda: _render_files.seal_all(secrets, pair["certificate"], [pair["key"]], previous)
    )
    if [manifest["spec"] for manifest in fallback.values()] != [manifest["spec"] for manifest in sealed.values()]:
        raise SystemExit("the fallback re-sealed an unchanged value")
    return {
        "tenants": tenants,
        "files": len(files),
        "bytes": sum(len(text) for text in files.values()),
        "secrets": len(secrets),
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
        print(f"CRDs not found at {args.crds}: custom resources are not validated (only built-in kinds)")
    results = [
        json.loads(
            subprocess.run(
                [sys.executable, __file__, "--tenants", str(size), "--crds", args.crds], capture_output=True, text=True, check=True
            ).stdout
        )
        for size in (100, 1000)
    ]
    first_run = ("validate spec", "seal", "render", "validate tree")
    for result in results:
        stages = result["stages"]
        end_to_end = sum(stages[name] for name in first_run)
        reseal = sum(seconds for name, seconds in stages.items() if name.startswith("re-render unchanged"))
        size = f"{result['files']} files, {result['bytes'] / 1e6:.1f} MB, {result['secrets']} Secrets"
        print(f"{result['tenants']:>5} tenants: {size}; peak RSS {result['peak_rss_mib']:.0f} MiB")
        print(f"        end to end ({', '.join(first_run)}) {end_to_end:.2f} s; sealing of an unchanged re-render {reseal:.2f} s")
        for name, seconds in result["stages"].items():
            print(f"        {name:<44} {seconds:8.3f} s")
    small, large = results
    for name in small["stages"]:
        print(f"ratio 1,000 / 100, {name:<44} {large['stages'][name] / small['stages'][name]:6.1f} (10 is linear)")


if __name__ == "__main__":
    main()
