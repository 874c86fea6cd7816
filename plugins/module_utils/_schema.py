# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A small schema language for typed, documented configuration models.

A model is a frozen dataclass whose fields are declared with :func:`spec_field`: the field's kind (how a
value is checked and normalised), its default and its documentation. One declaration drives three
things, so they cannot drift apart:

* validation and normalisation of raw input (``Section(Model).normalise``), collecting every problem;
* the typed object later code reads (``Section(Model).build``);
* the reference documentation (``Section(Model).doc_rows``).

Validation never stops at the first problem: an invalid value becomes :data:`INVALID` in the
normalised tree, its problem is recorded, and the walk goes on.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
from collections.abc import Iterator
from typing import Any, Callable, Final, Generic, Optional, TypeVar

from ansible_collections.keelson.platform.plugins.module_utils._formats import Check, check_quantity
from ansible_collections.keelson.platform.plugins.module_utils._problems import Problems, child

T = TypeVar("T")


class _Invalid:
    """Stands in the normalised tree for a value that failed validation."""

    def __repr__(self) -> str:
        return "INVALID"

    def __bool__(self) -> bool:
        return False


INVALID: Final = _Invalid()


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


class _Derived:
    def __repr__(self) -> str:
        return "DERIVED"


class _Unset:
    """A DERIVED field the input left out (an explicit null stays None)."""

    def __repr__(self) -> str:
        return "UNSET"


REQUIRED: Final = _Required()
UNSET: Final = _Unset()
# The default is computed from other fields after validation (documented by ``default_doc``).
DERIVED: Final = _Derived()


def valid(value: Any) -> bool:
    """True when ``value`` passed validation (it is not INVALID, and nothing below it is)."""
    if value is INVALID:
        return False
    if isinstance(value, dict):
        return all(valid(item) for item in value.values())
    if isinstance(value, list):
        return all(valid(item) for item in value)
    return True


def did_you_mean(word: str, choices: list[str]) -> str:
    """`` did you mean "x"?`` when a choice is close to ``word``, else ''."""
    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f'; did you mean "{matches[0]}"?' if matches else ""


@dataclasses.dataclass(frozen=True)
class DocRow:
    """One line of the reference documentation."""

    path: str
    type: str
    default: str
    doc: str
    example: str


class Kind:
    """How one value is checked, normalised, built into a typed value and documented."""

    type_doc = "any"

    def normalise(self, value: Any, path: str, problems: Problems) -> Any:
        raise NotImplementedError

    def build(self, value: Any) -> Any:
        return value

    def doc_rows(self, path: str) -> Iterator[DocRow]:
        return iter(())


class Str(Kind):
    """A string, checked by the given checks in order (the first failure is reported)."""

    def __init__(
        self,
        *checks: Check,
        type_doc: str = "string",
        empty: bool = False,
        scalars: bool = False,
        tidy: Optional[Callable[[str], str]] = None,
    ) -> None:
        """``scalars`` turns YAML numbers and booleans into their string; ``tidy`` rewrites before checking."""
        self.checks = checks
        self.type_doc = type_doc
        self.empty = empty
        self.scalars = scalars
        self.tidy = tidy

    def normalise(self, value: Any, path: str, problems: Problems) -> Any:
        if self.scalars and isinstance(value, bool):
            value = "true" if value else "false"
        elif self.scalars and isinstance(value, (int, float)):
            value = str(value)
        if isinstance(value, str) and self.tidy is not None:
            value = self.tidy(value)
        if not isinstance(value, str):
            problems.error(path, f"must be a string ({self.type_doc})", value)
            return INVALID
        if value == "" and not self.empty:
            problems.error(path, "must not be empty")
            return INVALID
        for check in self.checks:
            reason = check(value)
            if reason:
                problems.error(path, reason, value)
                return INVALID
        return value


class Enum(Kind):
    def __init__(self, *choices: str) -> None:
        self.choices = list(choices)
        self.type_doc = " | ".join(f"`{choice}`" for choice in choices)

    def normalise(self, value: Any, path: str, problems: Problems) -> Any:
        if isinstance(value, str) and value in self.choices:
            return value
        hint = did_you_mean(value, self.choices) if isinstance(value, str) else ""
        problems.error(path, f"must be one of {', '.join(self.choices)}{hint}", value)
        return INVALID


class Int(Kind):
    """An integer; a string of digits is accepted and turned into one."""

    def __init__(self, minimum: Optional[int] = None, maximum: Optional[int] = None, type_doc: str = "") -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.type_doc = type_doc or ("non-negative integer" if minimum == 0 else "integer")

    def normalise(self, value: Any, path: str, problems: Problems) -> Any:
        number: Optional[int] = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            number = int(value.strip())
        if number is None or (self.minimum == 0 and number < 0):
            article = "an" if self.type_doc[0] in "aeiou" else "a"
            problems.error(path, f"must be {article} {self.type_doc}", value)
            return INVALID
        if self.minimum is not None and number < self.minimum:
            problems.error(path, f"must be at least {self.minimum}", value)
            return INVALID
        if self.maximum is not None and number > self.maximum:
            problems.error(path, f"must be at most {self.maximum}", value)
            return INVALID
        return number


class Bool(Kind):
    type_doc = "boolean"

    def normalise(self, value: Any, path: str, problems: Problems) -> Any:
        if isinstance(value, bool):
            return value
        problems.error(path, "must be true or false", value)
        return INVALID


class Number(Kind):
    """A number (integer or decimal), optionally bounded; YAML booleans are not numbers."""

    def __init__(self, minimum: Optional[float] = None, maximum: Optional[float] = None, above: bool = False) -> None:
        self.minimum, self.maximum, self.above = minimum, maximum, above
        bounds = []
        if minimum is not None:
            bounds.append(f"{'above' if above else 'at least'} {minimum:g}")
        if maximum is not None:
            bounds.append(f"at most {maximum:g}")
        self.type_doc = f"number{' (' + ', '.join(bounds) + ')' if bounds else ''}"

    def normalise(self, value: Any, path: str, problems: Problems) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.error(path, "must be a number", value)
            return INVALID
        if self.minimum is not None and (value <= self.minimum if self.above else value < self.minimum):
            problems.error(path, f"must be {'above' if self.above else 'at least'} {self.minimum:g}", value)
            return INVALID
        if self.maximum is not None and value > self.maximum:
            problems.error(path, f"must be at most {self.maximum:g}", value)
            return INVALID
        return value


class Scalar(Kind):
    """A string, number or boolean (a hyperparameter's value, an allowed value of a column)."""

    type_doc = "string, number or boolean"

    def normalise(self, value: Any, path: str, problems: Problems) -> Any:
        if isinstance(value, (str, int, float, bool)):
            return value
        problems.error(path, "must be a string, a number or a boolean", value)
        return INVALID


class Quantity(Kind):
    """A non-negative Kubernetes quantity, kept as the string the user wrote (numbers become strings)."""

    type_doc = "Kubernetes quantity"

    def normalise(self, value: Any, path: str, problems: Problems) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            problems.error(path, "not a Kubernetes quantity", value)
            return INVALID
        reason = check_quantity(value)
        if reason:
            problems.error(path, reason, value)
            return INVALID
        return value


class Nullable(Kind):
    """``null`` or a value of the inner kind."""

    def __init__(self, inner: Kind) -> None:
        self.inner = inner
        self.type_doc = f"{inner.type_doc} or null"

    def normalise(self, value: Any, path: str, problems: Problems) -> Any:
        return None if value is None else self.inner.normalise(value, path, problems)

    def build(self, value: Any) -> Any:
        return None if value is None else self.inner.build(value)

    def doc_rows(self, path: str) -> Iterator[DocRow]:
        return self.inner.doc_rows(path)


class ListOf(Kind):
    """A list; ``unique`` reports repeated items; ``scalar_ok`` takes a single item as a list of one."""

    def __init__(
        self,
        item: Kind,
        unique: bool = False,
        scalar_ok: bool = False,
        min_items: int = 0,
        max_items: Optional[int] = None,
    ) -> None:
        self.item = item
        self.unique = unique
        self.scalar_ok = scalar_ok
        self.min_items = min_items
        self.max_items = max_items
        self.type_doc = f"list of {item.type_doc}"

    def normalise(self, value: Any, path: str, problems: Problems) -> Any:
        if self.scalar_ok and isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if not isinstance(value, list):
            problems.error(path, f"must be a list ({self.type_doc})", value)
            return INVALID
        if len(value) < self.min_items:
            problems.error(path, f"must have at least {self.min_items} item{'s' if self.min_items > 1 else ''}", value)
            return INVALID
        if self.max_items is not None and len(value) > self.max_items:
            problems.error(path, f"must have at most {self.max_items} items", value)
            return INVALID
        result = [self.item.normalise(item, child(path, index), problems) for index, item in enumerate(value)]
        if self.unique:
            seen: dict[str, int] = {}
            for index, item in enumerate(result):
                if item is INVALID:
                    continue
                key = repr(item)
                if key in seen:
                    problems.error(child(path, index), f"duplicate of {child(path, seen[key])}", item)
                    result[index] = INVALID
                else:
                    seen[key] = index
        return result

    def build(self, value: Any) -> Any:
        return [self.item.build(item) for item in value]

    def doc_rows(self, path: str) -> Iterator[DocRow]:
        return self.item.doc_rows(f"{path}[]")


class MapOf(Kind):
    """A mapping with keys the user chooses (checked by ``key``) and values of one kind."""

    def __init__(self, value: Kind, key: Str, key_doc: str) -> None:
        self.value = value
        self.key = key
        self.key_doc = key_doc
        self.type_doc = f"mapping of {key_doc} to {value.type_doc}"

    def normalise(self, value: Any, path: str, problems: Problems) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            problems.error(path, "must be a mapping", value)
            return INVALID
        result: dict[str, Any] = {}
        for key, item in value.items():
            item_path = child(path, str(key))
            if not isinstance(key, str):
                problems.error(item_path, f"the key must be a string ({self.key_doc})", key)
                result[str(key)] = INVALID
                continue
            if self.key.normalise(key, item_path, problems) is INVALID:
                result[key] = INVALID
                continue
            result[key] = self.value.normalise(item, item_path, problems)
        return result

    def build(self, value: Any) -> Any:
        return {key: self.value.build(item) for key, item in value.items()}

    def doc_rows(self, path: str) -> Iterator[DocRow]:
        return self.value.doc_rows(f"{path}.<{self.key_doc}>")


@dataclasses.dataclass(frozen=True)
class SpecField:
    """What :func:`spec_field` records about a model field."""

    kind: Kind
    doc: str
    default: Any = REQUIRED
    default_doc: str = ""
    example: Any = None


def spec_field(
    kind: Kind,
    doc: str,
    *,
    default: Any = REQUIRED,
    default_doc: str = "",
    example: Any = None,
) -> Any:
    """Declare a model field: how it is checked, its default, and what the reference says about it."""
    # Called at class-definition time inside the model dataclasses, which is where field() belongs.
    return dataclasses.field(metadata={"spec": SpecField(kind, doc, default, default_doc, example)})  # pylint: disable=invalid-field-call


def _field_specs(model: type) -> list[tuple[str, SpecField]]:
    return [(field.name, field.metadata["spec"]) for field in dataclasses.fields(model)]


def _render_default(spec: SpecField) -> str:
    if spec.default is REQUIRED:
        return "required"
    if spec.default_doc:
        return spec.default_doc
    if spec.default is DERIVED:
        return "derived"
    if isinstance(spec.kind, Section):
        return "each field's default"
    return f"`{json.dumps(spec.default)}`" if not isinstance(spec.default, str) else f"`{spec.default}`"


class Section(Kind, Generic[T]):
    """A mapping of known keys, described by a model dataclass. ``null`` means every default."""

    def __init__(self, model: type[T], rules: Optional[Callable[[dict[str, Any], str, Problems], None]] = None):
        self.model = model
        self.rules = rules
        self.type_doc = "mapping"
        self.fields = _field_specs(model)
        self.names = [name for name, _spec in self.fields]

    def normalise(self, value: Any, path: str, problems: Problems) -> Any:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            problems.error(path, "must be a mapping", value)
            return INVALID
        for key in value:
            if key not in self.names:
                hint = did_you_mean(str(key), self.names)
                known = "" if hint else f" (known: {', '.join(self.names)})"
                problems.error(child(path, str(key)), f"unknown key{hint}{known}")
        result: dict[str, Any] = {}
        for name, spec in self.fields:
            field_path = child(path, name)
            if name in value:
                result[name] = spec.kind.normalise(value[name], field_path, problems)
            elif spec.default is REQUIRED:
                problems.error(field_path, "required")
                result[name] = INVALID
            elif spec.default is DERIVED:
                result[name] = UNSET
            elif isinstance(spec.kind, Section):
                result[name] = spec.kind.normalise(spec.default, field_path, problems)
            else:
                result[name] = copy.deepcopy(spec.default)
        if self.rules is not None:
            self.rules(result, path, problems)
        return result

    def build(self, value: Any) -> T:
        kwargs = {name: spec.kind.build(value[name]) for name, spec in self.fields}
        return self.model(**kwargs)

    def doc_rows(self, path: str) -> Iterator[DocRow]:
        for name, spec in self.fields:
            field_path = child(path, name)
            example = "" if spec.example is None else str(spec.example)
            yield DocRow(field_path, spec.kind.type_doc, _render_default(spec), spec.doc, example)
            yield from spec.kind.doc_rows(field_path)
