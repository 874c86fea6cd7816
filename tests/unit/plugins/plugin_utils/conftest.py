# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures: a vault_file backend with real vault encryption, and the Vault double."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kv2_double import VaultDouble
from secrets_helpers import decrypt, encrypt

from ansible_collections.keelson.platform.plugins.plugin_utils._secrets import VaultFileBackend


@pytest.fixture
def file_backend(tmp_path: Path) -> VaultFileBackend:
    return VaultFileBackend(str(tmp_path / "keelson-secrets.vault.yml"), encrypt, decrypt)


@pytest.fixture
def vault_double() -> Iterator[VaultDouble]:
    double = VaultDouble(token="root-token", role_id="role-1", secret_id="secret-1")
    double.url = double.start()  # type: ignore[attr-defined]
    yield double
    double.stop()
