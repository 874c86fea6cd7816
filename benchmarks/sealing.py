# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark (not a test): sealing 1,000 values, and re-rendering 1,000 unchanged values (unseal and compare).

    python benchmarks/sealing.py

Each value is one Secret of one key (the common shape); the key pair is RSA-4096, as the controller's.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / ".collections"))

from ansible_collections.keelson.platform.plugins.module_utils._sealing import generate_key_pair, seal

COUNT = 1000


def main() -> None:
    pair = generate_key_pair()
    values = {f"secret-{index:04d}": f"value-{index:04d}-{'x' * 32}" for index in range(COUNT)}
    start = time.perf_counter()
    sealed = {
        name: seal(name=name, namespace="bench", data={"value": value}, certificate=pair["certificate"])[0]
        for name, value in values.items()
    }
    sealing = time.perf_counter() - start
    start = time.perf_counter()
    kept = 0
    for name, value in values.items():
        manifest, changed = seal(
            name=name,
            namespace="bench",
            data={"value": value},
            certificate=pair["certificate"],
            previous=sealed[name],
            private_keys=[pair["key"]],
        )
        kept += manifest == sealed[name] and not changed
    rerender = time.perf_counter() - start
    print(f"seal {COUNT} values:                 {sealing:6.2f} s ({sealing / COUNT * 1000:.2f} ms each)")
    print(
        f"re-render {COUNT} unchanged values:  {rerender:6.2f} s ({rerender / COUNT * 1000:.2f} ms each); "
        f"{kept} of {COUNT} kept byte-identical"
    )
    print(f"ratio re-render / seal: {rerender / sealing:.1f}")


if __name__ == "__main__":
    main()
