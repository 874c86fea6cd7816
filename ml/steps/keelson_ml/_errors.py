# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""keelson_ml's errors: one root, so that the command line turns every one into a message without a traceback."""

from __future__ import annotations


class KeelsonError(Exception):
    """A mistake the user can fix (a project file, the environment, the data's location): exit code 2."""


class ProjectFileError(KeelsonError):
    """A project file that is missing, unreadable or breaks docs/ml.md's format: names the file, the key and why."""

    def __init__(self, file: str, key: str, why: str) -> None:
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {why}")
        self.file = file
        self.key = key


class StepFailed(KeelsonError):
    """The step ran and its verdict is no (data breaks a rule, a model misses a threshold): exit code 1."""
