# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Host measurements: the parsers, and the probe run for real on this machine."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ansible_collections.keelson.platform.plugins.module_utils import _host_probe as probe

TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:192B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   2: 0B0A0A0A:D2F0 0B0A0A0A:192B 01 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 20 4 30 10 -1
"""
UDP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 1: 00000000:2118 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 0 2 0000000000000000 0
"""


def test_socket_tables() -> None:
    assert probe.parse_socket_table(TCP, "tcp") == [(6443, "31337"), (3306, "4242")]
    assert probe.parse_socket_table(UDP, "udp") == [(8472, "0")]


def test_os_release_and_meminfo() -> None:
    text = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
    assert probe.os_release(text) == {"id": "debian", "version_id": "12", "pretty": "Debian GNU/Linux 12 (bookworm)"}
    assert probe.meminfo("MemTotal:       8167848 kB\nSwapTotal:      2097148 kB\n") == {
        "memory_mb": 7976,
        "swap_mb": 2047,
    }
    header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
    assert probe.active_swaps(header + "/swapfile  file  2097148  0  -2\n") == ["/swapfile"]
    assert probe.active_swaps(header) == []


def test_existing_parent(tmp_path: Path) -> None:
    assert probe.existing_parent(str(tmp_path / "a" / "b" / "c")) == str(tmp_path)
    assert probe.existing_parent("/") == "/"


def test_fsync_probe_measures_and_cleans_up(tmp_path: Path) -> None:
    result = probe.fsync_probe(str(tmp_path), writes=10)
    assert result["directory"] == str(tmp_path)
    assert 0 < result["mean_ms"] <= result["p99_ms"] or result["mean_ms"] == result["p99_ms"]
    assert os.listdir(tmp_path) == []


def test_measure_this_machine(tmp_path: Path) -> None:
    def run(command: list[str]) -> tuple[int, str, str]:
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            return 127, "", ""
        return done.returncode, done.stdout, done.stderr

    facts = probe.measure(
        run,
        str(tmp_path / "k3s"),
        [{"port": 1, "protocol": "tcp"}],
        ["net.ipv4.ip_forward", "no.such.sysctl"],
        probe=False,
    )
    assert facts["cpus"] >= 1 and facts["memory_mb"] > 0
    assert facts["arch"] in ("amd64", "arm64")
    assert facts["disk_path"] == str(tmp_path)
    assert facts["sysctls"]["no.such.sysctl"] is None
    assert facts["sysctls"]["net.ipv4.ip_forward"] in ("0", "1")
    assert facts["listeners"] == []
    assert facts["fsync"] is None
    assert any(item["address"] == "127.0.0.1" for item in facts["addresses"])
    assert facts["nvidia_container_runtime"] == (shutil.which("nvidia-container-runtime") or "")
