# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared test fixtures. The checkout is importable as keelson.platform through .collections (make setup)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def platform_data() -> Path:
    """Upstream CRDs and chart data beside the project (../shared/platform-data, or $KEELSON_PLATFORM_DATA)."""
    return Path(os.environ.get("KEELSON_PLATFORM_DATA", REPO.parent / "shared" / "platform-data"))


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def shared_data() -> Path:
    path = platform_data()
    if not path.is_dir():
        pytest.skip(f"upstream platform data not found at {path} (set KEELSON_PLATFORM_DATA)")
    return path
