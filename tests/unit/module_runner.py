# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module's ``main()`` as Ansible runs it: arguments in, exit code and JSON result out."""

from __future__ import annotations

import json
from typing import Any, Callable
from unittest import mock

import pytest
from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils.testing import patch_module_args


def run_module(main: Callable[[], None], args: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    # Other tests import controller code, after which ansible-core routes module warnings to the display;
    # a module runs in a process of its own, so pretend to be one.
    with (
        mock.patch.object(module_utils_internal, "is_controller", False),
        patch_module_args(args),
        pytest.raises(SystemExit) as exited,
    ):
        main()
    return int(exited.value.code or 0), json.loads(capsys.readouterr().out)
