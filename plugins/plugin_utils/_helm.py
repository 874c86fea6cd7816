# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The helm binary the bootstrap renders the controller's chart with: the version the catalog pins, found in this
order: the one the user names; the one in keelson's cache; the release archive in the air-gap folder (checked
against the catalog's checksum); a helm on PATH of exactly that version; the release archive downloaded (checked
the same way) into the cache."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
from typing import Callable, Optional

from ansible.module_utils.urls import open_url

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError

_ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


@dataclasses.dataclass(frozen=True)
class Pin:
    version: str
    arch: str
    url: str
    sha256: Optional[str]  # None: this architecture has no pinned checksum (no download, no air-gap archive)

    @property
    def archive(self) -> str:
        return f"helm-v{self.version}-linux-{self.arch}.tar.gz"

    @property
    def member(self) -> str:
        return f"linux-{self.arch}/helm"


def pin(machine: Optional[str] = None) -> Pin:
    """The catalog's helm for this machine's architecture."""
    tool = CATALOG["tools"]["helm"]
    arch = _ARCHES.get((machine or platform.machine()).lower(), (machine or platform.machine()).lower())
    return Pin(tool["version"], arch, tool["url"].format(version=tool["version"], arch=arch), tool["sha256"].get(arch))


def version_of(binary: str) -> Optional[str]:
    """What ``helm version --short`` says (v3.17.2+g...) without the build suffix; None when it does not run."""
    try:
        done = subprocess.run([binary, "version", "--short"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip().split("+")[0].lstrip("v") or None


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _install(archive: str, wanted: Pin, target: str) -> None:
    """Check ``archive`` against the pinned checksum and put its helm at ``target`` (atomically)."""
    found = _sha256(archive)
    if found != wanted.sha256:
        raise KeelsonError(f"{archive} has SHA-256 {found}, not the {wanted.sha256} the catalog pins for {wanted.archive}: refusing it")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            member = tar.extractfile(wanted.member)
            if member is None:
                raise KeyError(wanted.member)
            handle, partial = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".helm-")
            with os.fdopen(handle, "wb") as out:
                shutil.copyfileobj(member, out)
    except (tarfile.TarError, KeyError) as error:
        raise KeelsonError(f"{archive} is not helm's release archive (no {wanted.member} in it): {error}") from error
    os.chmod(partial, 0o755)
    os.replace(partial, target)


def _download(url: str, folder: str) -> str:
    os.makedirs(folder, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=folder, prefix=".download-")
    try:
        with open_url(url, timeout=120) as response, os.fdopen(handle, "wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError, ValueError) as error:
        os.unlink(partial)
        raise KeelsonError(
            f"cannot download helm from {url}: {error}; without internet put {os.path.basename(url)} in the air-gap folder, "
            "or install that helm version on PATH, or name one with keelson_helm_binary"
        ) from error
    return partial


def find(
    cache: str,
    *,
    given: Optional[str] = None,
    airgap: Optional[str] = None,
    check_mode: bool = False,
    wanted: Optional[Pin] = None,
    which: Callable[[str], Optional[str]] = shutil.which,
) -> tuple[Optional[str], str, bool]:
    """(path or None, where it came from, whether the cache changed). In check mode nothing is fetched: the path is
    None when only a fetch would give one."""
    wanted = wanted or pin()
    if given:
        found = version_of(given)
        if found != wanted.version:
            raise KeelsonError(
                f"keelson_helm_binary {given} is helm {found or '(does not run)'}, not the {wanted.version} the catalog pins"
            )
        return given, "given", False
    cached = os.path.join(os.path.expanduser(cache), "helm", f"v{wanted.version}", "helm")
    if os.path.isfile(cached) and version_of(cached) == wanted.version:
        return cached, "cache", False
    local = os.path.join(airgap, wanted.archive) if airgap else None
    if local and os.path.isfile(local) and wanted.sha256:
        if check_mode:
            return None, f"air-gap folder ({local}), not unpacked in check mode", True
        _install(local, wanted, cached)
        return cached, f"air-gap folder ({local})", True
    on_path = which("helm")
    if on_path and version_of(on_path) == wanted.version:
        return on_path, "PATH", False
    if not wanted.sha256:
        raise KeelsonError(
            f"no helm {wanted.version} here and the catalog pins no checksum for {wanted.arch}: install helm {wanted.version} on PATH "
            "or name it with keelson_helm_binary"
        )
    if check_mode:
        return None, f"{wanted.url}, not downloaded in check mode", True
    archive = _download(wanted.url, os.path.dirname(cached))
    try:
        _install(archive, wanted, cached)
    finally:
        if os.path.exists(archive):
            os.unlink(archive)
    return cached, wanted.url, True
