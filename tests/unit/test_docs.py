# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/spec.md stays in step with the spec model, and its examples are valid specs; docs/hosts.md lists the
sysctls keelson sets."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from ansible_collections.keelson.platform.plugins.module_utils._preflight import sysctls_for
from ansible_collections.keelson.platform.plugins.module_utils._spec import validate_platform
from ansible_collections.keelson.platform.plugins.module_utils._spec_model import NODE, SPEC


def _spec_doc(repo: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("spec_doc", repo / "tools" / "spec_doc.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["spec_doc"] = module
    spec.loader.exec_module(module)
    return module


def test_generated_reference_is_current(repo: Path) -> None:
    page = (repo / "docs" / "spec.md").read_text(encoding="utf-8")
    assert _spec_doc(repo).render(page) == page, "docs/spec.md is out of date with the spec model: run make docs"


def test_every_field_is_documented_with_type_and_default(repo: Path) -> None:
    page = (repo / "docs" / "spec.md").read_text(encoding="utf-8")
    for row in [*SPEC.doc_rows(""), *NODE.doc_rows("keelson_node")]:
        assert re.search(rf"^\| `{re.escape(row.path)}` \| .+ \| .+ \| .+ \|$", page, re.MULTILINE), row.path
        assert row.doc.strip(), f"{row.path} has no description"


@pytest.mark.parametrize("page", ["docs/spec.md", "README.md"])
def test_spec_examples_in_docs_are_valid(repo: Path, page: str) -> None:
    text = (repo / page).read_text(encoding="utf-8")
    examples = [block for block in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL) if "keelson_platform:" in block]
    assert examples, f"{page} shows no keelson_platform example"
    for block in examples:
        validate_platform(yaml.safe_load(block)["keelson_platform"])


def test_hosts_page_lists_the_sysctls_keelson_sets(repo: Path) -> None:
    page = (repo / "docs" / "hosts.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z0-9_.-]+)` \| `([^`]*)` \| (always|`cluster\.hardening`)", page, re.MULTILINE)
    assert {name: value for name, value, _when in rows} == sysctls_for(True)
    assert {name: value for name, value, when in rows if when == "always"} == sysctls_for(False)
