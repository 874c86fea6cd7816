# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The schema language the spec model is written in."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from ansible_collections.keelson.platform.plugins.module_utils._problems import Problems
from ansible_collections.keelson.platform.plugins.module_utils._schema import (
    DERIVED,
    INVALID,
    UNSET,
    Bool,
    Enum,
    Int,
    ListOf,
    MapOf,
    Nullable,
    Section,
    Str,
    spec_field,
    valid,
)


@dataclasses.dataclass(frozen=True)
class Inner:
    size: int = spec_field(Int(minimum=1, maximum=10), "Size.", default=1)


@dataclasses.dataclass(frozen=True)
class Outer:
    name: str = spec_field(Str(), "Name.", example="x")
    kind: str = spec_field(Enum("small", "large"), "Kind.", default="small")
    tags: list[str] = spec_field(ListOf(Str(), unique=True), "Tags.", default=[])
    inner: Inner = spec_field(Section(Inner), "Inner.", default={})
    extra: Optional[str] = spec_field(Nullable(Str()), "Extra.", default=DERIVED, default_doc="from name")
    flags: dict[str, bool] = spec_field(MapOf(Bool(), Str(), "flag"), "Flags.", default={})


OUTER = Section(Outer)


def normalise(value: Any) -> tuple[Any, list[str]]:
    problems = Problems()
    result = OUTER.normalise(value, "", problems)
    return result, [str(problem) for problem in problems.errors]


def test_defaults_fill_and_are_fresh_copies() -> None:
    first, errors = normalise({"name": "a"})
    assert errors == []
    assert first == {"name": "a", "kind": "small", "tags": [], "inner": {"size": 1}, "extra": UNSET, "flags": {}}
    first["tags"].append("changed")
    second = normalise({"name": "b"})[0]
    assert second["tags"] == []


def test_every_problem_is_collected_and_marked_invalid() -> None:
    result, errors = normalise({"kind": "medium", "tags": ["x", "x", 3], "inner": {"size": 11}, "flags": {"on": "yes"}, "nmae": 1})
    assert errors == [
        'nmae: unknown key; did you mean "name"?',
        "name: required",
        'kind: must be one of small, large (got "medium")',
        "tags[2]: must be a string (string) (got 3)",
        'tags[1]: duplicate of tags[0] (got "x")',
        "inner.size: must be at most 10 (got 11)",
        'flags.on: must be true or false (got "yes")',
    ]
    assert result["kind"] is INVALID
    assert not valid(result)
    assert valid({"a": [1, {"b": 2}]})


def test_null_section_means_defaults_and_wrong_types_are_named() -> None:
    result, errors = normalise({"name": "a", "inner": None})
    assert errors == []
    assert result["inner"] == {"size": 1}
    errors = normalise({"name": "a", "inner": [1], "tags": "x", "flags": 3})[1]
    assert errors == [
        'tags: must be a list (list of string) (got "x")',
        "inner: must be a mapping (got [1])",
        "flags: must be a mapping (got 3)",
    ]


def test_int_accepts_digit_strings_and_refuses_bools() -> None:
    problems = Problems()
    assert Int(minimum=0).normalise("42", "n", problems) == 42
    assert Int(minimum=0).normalise(True, "n", problems) is INVALID
    assert Int().normalise(3.5, "n", problems) is INVALID
    assert [str(p) for p in problems.errors] == [
        "n: must be a non-negative integer (got true)",
        "n: must be an integer (got 3.5)",
    ]


def test_build_gives_typed_objects() -> None:
    result = normalise({"name": "a", "inner": {"size": 3}, "extra": "e"})[0]
    built = OUTER.build(result)
    assert isinstance(built, Outer)
    assert isinstance(built.inner, Inner)
    assert built.inner.size == 3


def test_doc_rows_cover_every_field() -> None:
    rows = {row.path: row for row in OUTER.doc_rows("")}
    assert list(rows) == ["name", "kind", "tags", "inner", "inner.size", "extra", "flags"]
    assert rows["name"].default == "required"
    assert rows["name"].example == "x"
    assert rows["kind"].type == "`small` | `large`"
    assert rows["extra"].default == "from name"
    assert rows["inner"].default == "each field's default"
    assert rows["inner.size"].default == "`1`"
