# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which k3s files a host needs, where they come from, and the sha256 each must have.

One code path for both sources: the k3s release (binary only; images come from the registries) and an
air-gap source (binary and image tarball), a folder on the controller or an http(s) URL. The expected
sums always come from the source's own sha256sum-<arch>.txt; a folder's files are checked here, on the
controller, before any host changes.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Callable, Final, Optional
from urllib.parse import quote

from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError

BINARY_DEST: Final = "/usr/local/bin/k3s"
IMAGES_DIR: Final = "/var/lib/rancher/k3s/agent/images"


class ArtifactError(KeelsonError):
    """An artifact is missing, unreadable or does not match its checksum."""


def names(arch: str) -> dict[str, str]:
    return {
        "binary": "k3s" if arch == "amd64" else f"k3s-{arch}",
        "images": f"k3s-airgap-images-{arch}.tar.zst",
        "sums": f"sha256sum-{arch}.txt",
    }


def parse_sums(text: str) -> dict[str, str]:
    """``sha256sum`` output: '<hex>  <name>' per line (a leading '*' marks binary mode)."""
    sums = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and len(parts[0]) == 64:
            sums[parts[1].lstrip("*").rsplit("/", 1)[-1]] = parts[0].lower()
    return sums


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve(
    version: str,
    source: Optional[str],
    release_url: str,
    arches: list[str],
    fetch: Callable[[str], str],
) -> dict[str, list[dict[str, Any]]]:
    """Per architecture, the artifacts to put on a host: name, dest, sha256, and src (local) or url."""
    local = source is not None and not source.startswith(("http://", "https://"))
    base = source.rstrip("/") if source else f"{release_url.rstrip('/')}/{quote(version, safe='')}"
    wanted_images = source is not None  # online installs pull images from the registries
    result: dict[str, list[dict[str, Any]]] = {}
    for arch in sorted(set(arches)):
        files = names(arch)
        sums_location = f"{base}/{files['sums']}"
        if local:
            if not os.path.isdir(base):
                raise ArtifactError(f"air-gap folder {base} does not exist on the controller")
            if not os.path.isfile(sums_location):
                raise ArtifactError(f"air-gap folder {base} has no {files['sums']} (the release's checksum file)")
            with open(sums_location, encoding="utf-8") as handle:
                sums = parse_sums(handle.read())
        else:
            try:
                sums = parse_sums(fetch(sums_location))
            except Exception as error:
                raise ArtifactError(f"cannot read {sums_location}: {error}") from error
        entries = [("binary", BINARY_DEST)] + ([("images", f"{IMAGES_DIR}/{files['images']}")] if wanted_images else [])
        artifacts = []
        for kind, dest in entries:
            name = files[kind]
            if name not in sums:
                raise ArtifactError(f"{sums_location} lists no checksum for {name}")
            artifact: dict[str, Any] = {"kind": kind, "name": name, "dest": dest, "sha256": sums[name]}
            if local:
                path = f"{base}/{name}"
                if not os.path.isfile(path):
                    raise ArtifactError(f"air-gap folder {base} is missing {name}")
                actual = sha256_file(path)
                if actual != sums[name]:
                    raise ArtifactError(
                        f"{path}: sha256 is {actual}, but {files['sums']} says {sums[name]}; the file is damaged or from another release"
                    )
                artifact["src"] = path
            else:
                artifact["url"] = f"{base}/{name}"
            artifacts.append(artifact)
        result[arch] = artifacts
    return result
