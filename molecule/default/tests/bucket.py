# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The scenario's real S3 server (tests/testhosts/s3-server, SeaweedFS), which the spec's cluster.etcd_snapshots.s3
points the servers at: what it holds, read through SeaweedFS' own filer API rather than S3 (so independently of the
k3s double that wrote it), and stopping and starting it (an S3 outage)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import yaml
from conftest import EPHEMERAL, PROJECT, SCENARIO

SERVER = PROJECT / "tests" / "testhosts" / "s3-server"
FOLDER = EPHEMERAL / "s3"


def settings() -> dict[str, Any]:
    spec = yaml.safe_load((SCENARIO / "inventory" / "group_vars" / "all" / "keelson.yml").read_text())["keelson_platform"]
    return dict(spec["cluster"]["etcd_snapshots"]["s3"])


def in_bucket() -> list[str]:
    """The snapshots in the spec's bucket and folder."""
    s3 = settings()
    listed = subprocess.run(
        [sys.executable, str(SERVER), "list", str(FOLDER), s3["bucket"], s3.get("folder") or ""], capture_output=True, text=True, check=True
    )
    return list(json.loads(listed.stdout))


def stop() -> None:
    subprocess.run([sys.executable, str(SERVER), "stop", str(FOLDER)], check=True)


def start() -> None:
    s3 = settings()
    address, port = s3["endpoint"].rsplit(":", 1)
    subprocess.run([sys.executable, str(SERVER), "start", str(FOLDER), address, port, s3["bucket"]], check=True, capture_output=True)
