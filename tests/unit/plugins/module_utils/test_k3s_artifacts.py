# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Resolving the k3s files: one path for the release and an air-gap source; bad folders stop early."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._k3s_artifacts import ArtifactError, resolve

RELEASE = CATALOG["k3s"]["release_url"]


def airgap(folder: Path, arch: str = "amd64", damage: str = "") -> Path:
    binary = "k3s" if arch == "amd64" else f"k3s-{arch}"
    images = f"k3s-airgap-images-{arch}.tar.zst"
    (folder / binary).write_bytes(b"binary")
    (folder / images).write_bytes(b"images")
    sums = "".join(f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}\n" for name in (binary, images))
    (folder / f"sha256sum-{arch}.txt").write_text(sums)
    if damage:
        (folder / damage).write_bytes(b"tampered")
    return folder


def no_fetch(url: str) -> str:
    raise AssertionError(f"nothing should be fetched for a folder ({url})")


def test_airgap_folder(tmp_path: Path) -> None:
    airgap(tmp_path)
    artifacts = resolve("v1.35.5+k3s1", str(tmp_path), RELEASE, ["amd64", "amd64"], no_fetch)
    assert list(artifacts) == ["amd64"]
    binary, images = artifacts["amd64"]
    assert binary == {
        "kind": "binary",
        "name": "k3s",
        "dest": "/usr/local/bin/k3s",
        "sha256": hashlib.sha256(b"binary").hexdigest(),
        "src": f"{tmp_path}/k3s",
    }
    assert images["dest"] == "/var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst"


@pytest.mark.parametrize(
    ("damage", "remove", "message"),
    [
        ("k3s", "", "sha256 is "),
        ("", "k3s-airgap-images-amd64.tar.zst", "is missing k3s-airgap-images-amd64.tar.zst"),
        ("", "sha256sum-amd64.txt", "has no sha256sum-amd64.txt (the release's checksum file)"),
    ],
)
def test_bad_airgap_folder_is_refused(tmp_path: Path, damage: str, remove: str, message: str) -> None:
    airgap(tmp_path, damage=damage)
    if remove:
        (tmp_path / remove).unlink()
    with pytest.raises(ArtifactError, match=re.escape(message)):
        resolve("v1.35.5+k3s1", str(tmp_path), RELEASE, ["amd64"], no_fetch)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="does not exist on the controller"):
        resolve("v1.35.5+k3s1", str(tmp_path / "nope"), RELEASE, ["amd64"], no_fetch)


def test_release_download_binary_only() -> None:
    fetched: list[str] = []

    def fetch(url: str) -> str:
        fetched.append(url)
        return f"{'a' * 64}  k3s-arm64\n{'b' * 64}  k3s-airgap-images-arm64.tar.zst\n"

    artifacts = resolve("v1.35.5+k3s1", None, RELEASE, ["arm64"], fetch)
    assert fetched == [f"{RELEASE}/v1.35.5%2Bk3s1/sha256sum-arm64.txt"]
    assert artifacts["arm64"] == [
        {
            "kind": "binary",
            "name": "k3s-arm64",
            "dest": "/usr/local/bin/k3s",
            "sha256": "a" * 64,
            "url": f"{RELEASE}/v1.35.5%2Bk3s1/k3s-arm64",
        }
    ]


def test_unreadable_sums_file() -> None:
    def fetch(url: str) -> str:
        raise OSError("connection refused")

    with pytest.raises(ArtifactError, match=re.escape("cannot read https://mirror.example/k3s/sha256sum-amd64.txt: connection refused")):
        resolve("v1.35.5+k3s1", "https://mirror.example/k3s", RELEASE, ["amd64"], fetch)
