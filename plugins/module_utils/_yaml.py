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


@functools.lru_cache(maxsize=2)
def dumper(pure: bool = False) -> Any:
    """libyaml's emitter when PyYAML has it (ten times faster), else PyYAML's own: the same bytes either way
    (tests/unit/plugins/plugin_utils/test_render.py compares them on whole trees)."""
    import yaml  # noqa: PLC0415 - see the module docstring

    base = yaml.SafeDumper if pure else getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    def represent_str(dumper_: Any, data: str) -> Any:
        if "\n" in data:
            return dumper_.represent_scalar("tag:yaml.org,2002:str", data, style="|")
        return dumper_.represent_scalar("tag:yaml.org,2002:str", data)

    class Dumper(base):  # type: ignore[valid-type,misc]
        def ignore_aliases(self, data: Any) -> bool:
            return True

    Dumper.add_representer(str, represent_str)
    return Dumper


def dump(documents: Iterable[Any], pure: bool = False) -> str:
    """YAML text of the documents, in order, each behind ``---``."""
    import yaml  # noqa: PLC0415

    return yaml.dump_all(list(documents), Dumper=dumper(pure), sort_keys=False, default_flow_style=False, width=1000, explicit_start=True)


def dump_one(document: Any) -> str:
    """YAML text of one document without the ``---`` (a values file inside a ConfigMap)."""
    import yaml  # noqa: PLC0415

    return yaml.dump(document, Dumper=dumper(), sort_keys=False, default_flow_style=False, width=1000)
