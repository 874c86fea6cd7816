# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The tree's YAML text: plain block style, no anchors, long lines kept whole, multi-line strings as literal
blocks, keys in the order built. Controller-side only (PyYAML is imported when first used, so the modules that
import the component registry for validation never need it)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any


@functools.lru_cache(maxsize=4)
def dumper(pure: bool = False, stock: bool = False) -> Any:
    """libyaml's emitter when PyYAML has it (ten times faster), else PyYAML's own: the same bytes either way
    (tests/unit/plugins/plugin_utils/test_render.py compares them on whole trees).

    The tree's data is plain (dicts, lists, strings, integers, booleans, None), so nodes are built directly and
    each scalar's implicit tag is looked up once per distinct value: the same nodes PyYAML's representer and
    resolver make, several times faster. ``stock=True`` leaves PyYAML's own representer and resolver in place
    (the tests compare the two)."""
    import yaml  # noqa: PLC0415 - see the module docstring
    from yaml.nodes import MappingNode, ScalarNode, SequenceNode  # noqa: PLC0415

    base = yaml.SafeDumper if pure else getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    str_tag, map_tag, seq_tag = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
    bool_tag, int_tag, null_tag = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:null"

    def represent_str(dumper_: Any, data: str) -> Any:
        if "\n" in data:
            return dumper_.represent_scalar(str_tag, data, style="|")
        return dumper_.represent_scalar(str_tag, data)

    class Dumper(base):  # type: ignore[valid-type,misc]
        def ignore_aliases(self, data: Any) -> bool:
            return True

    # Implicit tags by (value, implicit): what PyYAML's resolver answers depends on nothing else here.
    resolved: dict[tuple[Any, bool, bool], Any] = {}

    class FastDumper(Dumper):
        def represent_data(self, data: Any) -> Any:
            kind = type(data)
            if kind is str:
                return ScalarNode(str_tag, data, style="|" if "\n" in data else None)
            if kind is dict:
                return MappingNode(
                    map_tag, [(self.represent_data(key), self.represent_data(value)) for key, value in data.items()], flow_style=False
                )
            if kind is list:
                return SequenceNode(seq_tag, [self.represent_data(item) for item in data], flow_style=False)
            if kind is bool:
                return ScalarNode(bool_tag, "true" if data else "false")
            if kind is int:
                return ScalarNode(int_tag, str(data))
            if data is None:
                return ScalarNode(null_tag, "null")
            return super().represent_data(data)

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is not ScalarNode:
                return super().resolve(kind, value, implicit)
            key = (value, implicit[0], implicit[1])
            tag = resolved.get(key)
            if tag is None:
                tag = resolved[key] = super().resolve(kind, value, implicit)
            return tag

    Dumper.add_representer(str, represent_str)
    return Dumper if stock else FastDumper


def dump(documents: Iterable[Any], pure: bool = False) -> str:
    """YAML text of the documents, in order, each behind ``---``."""
    import yaml  # noqa: PLC0415

    return yaml.dump_all(list(documents), Dumper=dumper(pure), sort_keys=False, default_flow_style=False, width=1000, explicit_start=True)


def dump_one(document: Any) -> str:
    """YAML text of one document without the ``---`` (a values file inside a ConfigMap)."""
    import yaml  # noqa: PLC0415

    return yaml.dump(document, Dumper=dumper(), sort_keys=False, default_flow_style=False, width=1000)


def load_all(text: str) -> list[Any]:
    """Every document of a YAML text (libyaml's parser when PyYAML has it), empty ones left out."""
    import yaml  # noqa: PLC0415

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [document for document in yaml.load_all(text, Loader=loader) if document is not None]


def load_one(text: str) -> Any:
    """The one document of a YAML text (a values file inside a ConfigMap)."""
    documents = load_all(text)
    return documents[0] if documents else None
