# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the integration tests share: where the checkout is, and how a tool of the tool chain is run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

Runner = Callable[..., subprocess.CompletedProcess[str]]
