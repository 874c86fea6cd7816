# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark (not a test): site.yml's first converge and its no-op re-run on the 4 molecule test hosts.

    make benchmark        # or: python benchmarks/site_noop.py

Creates the default scenario's hosts, converges twice, and reports wall time, tasks run per host, changed
counts, and whether any k3s unit restarted during the re-run (its ActiveEnterTimestampMonotonic). Destroys the
hosts at the end. k3s is the test double (see tests/k3s-double/README.md), so the figures are Ansible's share.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOSTS = {"server-1": "k3s", "server-2": "k3s", "server-3": "k3s", "agent-1": "k3s-agent"}
ENV = {**os.environ, "CONTAINERS_CONF": str(REPO / "tests" / "testhosts" / "containers.conf"), "NO_COLOR": "1"}


def molecule(action: str) -> str:
    done = subprocess.run(
        ["molecule", action, "--scenario-name", "default"],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"molecule {action} failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)


def start_times() -> dict[str, str]:
    times = {}
    for host, unit in HOSTS.items():
        command = [
            "podman",
            "exec",
            f"keelson-{host}",
            "systemctl",
            "show",
            "-p",
            "ActiveEnterTimestampMonotonic",
            "--value",
            unit,
        ]
        times[host] = subprocess.run(command, env=ENV, capture_output=True, text=True, check=True).stdout.strip()
    return times


def recap(output: str) -> dict[str, dict[str, int]]:
    """Per host: tasks run (ok + changed + failed + skipped) and changed, from the PLAY RECAP."""
    text = output.replace("\n  │   ", " ")
    result = {}
    for host, ok, changed, failed, skipped in re.findall(
        r"(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)\s+skipped=(\d+)", text
    ):
        result[host] = {"tasks": int(ok) + int(failed) + int(skipped), "changed": int(changed)}
    return result


def timed(action: str) -> tuple[float, dict[str, dict[str, int]]]:
    start = time.perf_counter()
    output = molecule(action)
    return time.perf_counter() - start, recap(output)


def main() -> None:
    molecule("destroy")
    try:
        molecule("create")
        first_time, first = timed("converge")
        before = start_times()
        noop_time, noop = timed("converge")
        restarted = [host for host, stamp in start_times().items() if stamp != before[host]]
    finally:
        molecule("destroy")
    for label, seconds, runs in (("first converge", first_time, first), ("no-op re-run  ", noop_time, noop)):
        tasks = ", ".join(f"{host} {run['tasks']}" for host, run in runs.items())
        print(f"{label}: {seconds:6.1f} s wall (molecule included); tasks per host: {tasks}")
    print(f"no-op changed:  {sum(r['changed'] for r in noop.values())} (target 0); k3s units restarted: {restarted or 'none'}")
    print(f"ratio no-op / first: {noop_time / first_time:.2f}")


if __name__ == "__main__":
    main()
