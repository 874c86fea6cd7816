# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every filter of plugins/filter/k3s.py has the documentation file ansible-doc reads, naming its parameters."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

from ansible_collections.keelson.platform.plugins.filter.k3s import FilterModule

FILTERS = FilterModule().filters()


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_documented_beside_the_code(repo: Path, name: str) -> None:
    path = repo / "plugins" / "filter" / f"{name}.yml"
    assert path.is_file(), f"{name} has no {path.name}: ansible-doc -t filter cannot show it"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert document["DOCUMENTATION"]["name"] == name
    parameters = list(inspect.signature(FILTERS[name]).parameters)
    assert set(document["DOCUMENTATION"]["options"]) == {"_input", *parameters[1:]}
    assert document["EXAMPLES"].count(f"keelson.platform.{name}") >= 1
    assert "_value" in document["RETURN"]
