# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The k3s_artifacts_info module: without release_url it downloads from the catalog's release URL."""

from __future__ import annotations

import io
from typing import Any, Optional
from unittest import mock

import pytest
from module_runner import run_module

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.modules import k3s_artifacts_info

SUMS = f"{'a' * 64}  k3s\n{'b' * 64}  k3s-airgap-images-amd64.tar.zst\n"


@pytest.mark.parametrize(
    ("release_url", "base"),
    [(None, CATALOG["k3s"]["release_url"]), ("https://mirror.example.internal/k3s/", "https://mirror.example.internal/k3s")],
    ids=["catalog", "given"],
)
def test_downloads_from_the_catalog_release_unless_told(capsys: pytest.CaptureFixture[str], release_url: Optional[str], base: str) -> None:
    fetched: list[str] = []

    def open_url(url: str, **_kwargs: Any) -> io.BytesIO:
        fetched.append(url)
        return io.BytesIO(SUMS.encode())

    args = {"version": "v1.35.5+k3s1", "arches": ["amd64"], **({"release_url": release_url} if release_url else {})}
    with mock.patch.object(k3s_artifacts_info, "open_url", open_url):
        code, result = run_module(k3s_artifacts_info.main, args, capsys)
    assert code == 0, result
    assert fetched == [f"{base}/v1.35.5%2Bk3s1/sha256sum-amd64.txt"]
    assert result["artifacts"]["amd64"][0]["url"] == f"{base}/v1.35.5%2Bk3s1/k3s"
