# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading what the k3s TEST DOUBLE was asked (its record on each host), and what a playbook run said: one owner for
the day-2 tests."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

# The double's record: one JSON object per call, outside /var/lib/rancher so that it outlives reset.yml.
RECORD = "/var/log/k3s-double/calls.jsonl"


def calls_since(hosts: dict[str, Any], mark: float) -> list[dict[str, Any]]:
    """Everything the double was asked on every host after ``mark``, in time order (the hosts share one clock)."""
    entries = []
    for name, host in hosts.items():
        text = host.file(RECORD).content_string if host.file(RECORD).exists else ""
        entries += [{**json.loads(line), "host": name} for line in text.splitlines() if line.strip()]
    return sorted((entry for entry in entries if entry["time"] > mark), key=lambda entry: entry["time"])


def said(result: subprocess.CompletedProcess[str]) -> str:
    """A run's output and errors on one line, whitespace collapsed (Ansible wraps long messages)."""
    return " ".join((result.stdout + result.stderr).split())


def recap(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """changed= per host from the PLAY RECAP."""
    return {host: int(changed) for host, changed in re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.MULTILINE)}


def restarts(calls: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(host, event) of every stop, start and failed start the double recorded, in time order."""
    return [(c["host"], c["event"]) for c in calls if c["event"] in ("stop", "start", "start-failed")]


def assert_stopped_at(calls: list[dict[str, Any]], done: str, failed: str) -> None:
    """A rolling run that restarted ``done``, then stopped at ``failed`` (which did not start): nothing after that but
    systemd's own retries of ``failed`` (Restart=always)."""
    steps = restarts(calls)
    assert steps[:4] == [(done, "stop"), (done, "start"), (failed, "stop"), (failed, "start-failed")], steps
    assert {host for host, _event in steps[4:]} <= {failed}, steps


def assert_rerun_restarted(calls: list[dict[str, Any]], failed: str, expected: list[tuple[str, str]]) -> None:
    """The re-run after :func:`assert_stopped_at`: the others restarted as ``expected``; ``failed`` started again (by
    the run, or by systemd's retry just before it) and never stopped."""
    assert [step for step in restarts(calls) if step[0] != failed] == expected
    assert (failed, "stop") not in restarts(calls)
