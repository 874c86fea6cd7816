# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Finding the pinned helm (issue 10). The "helm" here is a shell script that prints a version, in a release
archive of helm's layout made here: what is tested is the order of the sources, the checksum and the version
checks, not helm."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.plugin_utils import _helm

VERSION = CATALOG["tools"]["helm"]["version"]


def _script(version: str) -> bytes:
    return f"#!/bin/sh\necho v{version}+gcc5f03b\n".encode()


def _binary(path: Path, version: str) -> str:
    path.write_bytes(_script(version))
    path.chmod(0o755)
    return str(path)


def _archive(folder: Path, version: str = VERSION) -> tuple[Path, str]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"helm-v{VERSION}-linux-amd64.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        data = _script(version)
        info = tarfile.TarInfo("linux-amd64/helm")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def _pin(sha256: str, url: str = "https://get.helm.sh/none") -> _helm.Pin:
    return _helm.Pin(VERSION, "amd64", url, sha256)


def _none(_name: str) -> None:
    return None


def test_the_catalog_pins_a_version_and_an_amd64_checksum() -> None:
    wanted = _helm.pin("x86_64")
    assert wanted.arch == "amd64" and wanted.url == f"https://get.helm.sh/helm-v{VERSION}-linux-amd64.tar.gz"
    assert wanted.sha256 is not None and len(wanted.sha256) == 64
    assert _helm.pin("aarch64").sha256 is None  # not pinned: no download there


def test_a_given_helm_must_be_the_pinned_version(tmp_path: Path) -> None:
    good, bad = _binary(tmp_path / "helm", VERSION), _binary(tmp_path / "old-helm", "3.9.0")
    assert _helm.find(str(tmp_path / "cache"), given=good, wanted=_pin("0" * 64)) == (good, "given", False)
    with pytest.raises(KeelsonError, match=rf"is helm 3.9.0, not the {VERSION} the catalog pins"):
        _helm.find(str(tmp_path / "cache"), given=bad, wanted=_pin("0" * 64))


def test_the_air_gap_archive_is_checked_unpacked_once_then_taken_from_the_cache(tmp_path: Path) -> None:
    archive, digest = _archive(tmp_path / "airgap")
    cache = tmp_path / "cache"
    # Check mode unpacks nothing.
    assert _helm.find(str(cache), airgap=str(archive.parent), wanted=_pin(digest), which=_none, check_mode=True)[0] is None
    assert not cache.exists()
    path, source, changed = _helm.find(str(cache), airgap=str(archive.parent), wanted=_pin(digest), which=_none)
    assert changed and source.startswith("air-gap folder") and path == str(cache / "helm" / f"v{VERSION}" / "helm")
    assert _helm.version_of(str(path)) == VERSION and os.access(str(path), os.X_OK)
    assert _helm.find(str(cache), airgap=str(archive.parent), wanted=_pin(digest), which=_none) == (path, "cache", False)


def test_an_archive_with_another_checksum_is_refused(tmp_path: Path) -> None:
    archive, _digest = _archive(tmp_path / "airgap")
    with pytest.raises(KeelsonError, match=r"has SHA-256 [0-9a-f]{64}, not the 0{64} the catalog pins .*: refusing it"):
        _helm.find(str(tmp_path / "cache"), airgap=str(archive.parent), wanted=_pin("0" * 64), which=_none)
    assert not (tmp_path / "cache" / "helm" / f"v{VERSION}" / "helm").exists()


def test_a_helm_on_path_is_used_only_at_the_pinned_version(tmp_path: Path) -> None:
    right = _binary(tmp_path / "helm", VERSION)
    assert _helm.find(str(tmp_path / "cache"), wanted=_pin("0" * 64), which=lambda _name: right) == (right, "PATH", False)
    wrong = _binary(tmp_path / "helm-old", "3.9.0")
    with pytest.raises(KeelsonError, match="cannot download helm from"):  # so it goes on to the download, which fails here
        _helm.find(str(tmp_path / "cache"), wanted=_pin("0" * 64, "file:///nonexistent/helm.tgz"), which=lambda _name: wrong)


def test_the_download_is_checked_and_kept_in_the_cache(tmp_path: Path) -> None:
    archive, digest = _archive(tmp_path / "mirror")
    wanted = _pin(digest, archive.as_uri())
    cache = tmp_path / "cache"
    assert _helm.find(str(cache), wanted=wanted, which=_none, check_mode=True) == (
        None,
        f"{wanted.url}, not downloaded in check mode",
        True,
    )
    assert not cache.exists()
    path, source, changed = _helm.find(str(cache), wanted=wanted, which=_none)
    assert (source, changed) == (wanted.url, True) and _helm.version_of(str(path)) == VERSION
    assert sorted(os.listdir(cache / "helm" / f"v{VERSION}")) == ["helm"]  # no partial download left


def test_no_checksum_for_this_machine_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(KeelsonError, match=rf"pins no checksum for arm64: install helm {VERSION} on PATH"):
        _helm.find(str(tmp_path / "cache"), wanted=_helm.Pin(VERSION, "arm64", "https://x", None), which=_none)
