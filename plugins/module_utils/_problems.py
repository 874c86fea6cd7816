# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Problems found in user input, collected so that one run reports all of them.

Every problem reads ``path: reason (got VALUE)``, for example
``tenants[1].quota.memory: not a Kubernetes quantity (got "12GBs")``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_SHOWN: Final = 80


class _Nothing:
    """Marks a problem that has no value worth showing."""

    def __repr__(self) -> str:
        return "NOTHING"


NOTHING: Final = _Nothing()


class KeelsonError(Exception):
    """Root of every error keelson raises on purpose."""


class SpecError(KeelsonError):
    """The platform spec (or the inventory around it) is invalid."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(format_problems("the keelson platform spec is invalid", problems))


def child(path: str, key: str | int) -> str:
    """Return the path of ``key`` below ``path``: ``a.b``, ``a[0]`` or ``a["key with.dots"]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENTIFIER.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def show(value: Any) -> str:
    """Render a value the way a person wrote it in YAML, short enough for one line."""
    try:
        text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 3] + "..."
    return text


class Problem:
    """One thing wrong with the input, where it is, and the value found there."""

    __slots__ = ("path", "reason", "value")

    def __init__(self, path: str, reason: str, value: Any = NOTHING) -> None:
        self.path = path
        self.reason = reason
        self.value = value

    def __str__(self) -> str:
        text = f"{self.path}: {self.reason}" if self.path else self.reason
        if self.value is not NOTHING:
            text += f" (got {show(self.value)})"
        return text

    def __repr__(self) -> str:
        return f"Problem({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Problem) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


class Problems:
    """Collects errors and warnings while input is validated."""

    def __init__(self) -> None:
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []

    def error(self, path: str, reason: str, value: Any = NOTHING) -> None:
        self.errors.append(Problem(path, reason, value))

    def warn(self, path: str, reason: str, value: Any = NOTHING) -> None:
        self.warnings.append(Problem(path, reason, value))

    def raise_if_errors(self) -> None:
        if self.errors:
            raise SpecError(self.errors)


def format_problems(title: str, problems: list[Problem]) -> str:
    """One message listing every problem, one a line."""
    count = len(problems)
    lines = [f"{title} ({count} problem{'s' if count != 1 else ''}):"]
    lines.extend(f"  - {problem}" for problem in problems)
    return "\n".join(lines)
