# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""How problems read: paths, values, the collected message."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.keelson.platform.plugins.module_utils._problems import (
    KeelsonError,
    Problem,
    Problems,
    SpecError,
    child,
    show,
)


@pytest.mark.parametrize(
    ("path", "key", "expected"),
    [
        ("", "tenants", "tenants"),
        ("tenants", 1, "tenants[1]"),
        ("tenants[1]", "quota", "tenants[1].quota"),
        ("labels", "example.com/pool", 'labels["example.com/pool"]'),
        ("mirrors", "docker.io", 'mirrors["docker.io"]'),
    ],
)
def test_child_paths(path: str, key: Any, expected: str) -> None:
    assert child(path, key) == expected


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("12GBs", '"12GBs"'),
        (2, "2"),
        (True, "true"),
        (None, "null"),
        ([1], "[1]"),
        ({"b": 1, "a": 2}, '{"a": 2, "b": 1}'),
    ],
)
def test_show_values_as_written(value: Any, shown: str) -> None:
    assert show(value) == shown


def test_show_shortens_long_values() -> None:
    shown = show("x" * 200)
    assert len(shown) == 80
    assert shown.endswith("...")


def test_problem_reads_path_reason_value() -> None:
    assert str(Problem("tenants[1].quota.memory", "not a Kubernetes quantity", "12GBs")) == (
        'tenants[1].quota.memory: not a Kubernetes quantity (got "12GBs")'
    )
    assert str(Problem("name", "required")) == "name: required"
    assert str(Problem("", "no servers")) == "no servers"


def test_problems_raise_one_error_with_all_of_them() -> None:
    problems = Problems()
    problems.raise_if_errors()  # nothing yet
    problems.warn("a", "just so you know")
    problems.error("b", "wrong", 1)
    problems.error("c", "also wrong")
    with pytest.raises(SpecError) as caught:
        problems.raise_if_errors()
    assert isinstance(caught.value, KeelsonError)
    assert str(caught.value) == "the keelson platform spec is invalid (2 problems):\n  - b: wrong (got 1)\n  - c: also wrong"
    assert [str(w) for w in problems.warnings] == ["a: just so you know"]
