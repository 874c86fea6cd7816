# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Promises the repository makes about itself: CI runs the README's commands, versions are pinned."""

from __future__ import annotations

import re
from pathlib import Path

import yaml


def _commands(text: str) -> list[str]:
    return [line.split("#")[0].strip() for line in text.splitlines() if line.strip().startswith("make ")]


def test_ci_runs_exactly_the_readme_setup_and_test_commands(repo: Path) -> None:
    readme = (repo / "README.md").read_text()
    quickstart = re.search(r"## Quickstart\n+```sh\n(.*?)```", readme, re.DOTALL)
    assert quickstart, "README has no Quickstart code block"
    ci = (repo / ".ci" / "run").read_text()
    assert _commands(quickstart.group(1)) == ["make setup", "make test"]
    assert _commands(ci) == ["make setup", "make test"]
    assert "set -euo pipefail" in ci


def test_every_python_requirement_is_pinned(repo: Path) -> None:
    for name in ("requirements.txt", "constraints.txt", "compat.txt"):
        for line in (repo / "requirements" / name).read_text().splitlines():
            requirement = line.split("#")[0].strip()
            if requirement:
                assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[A-Za-z0-9_.+]+", requirement), f"{name}: {requirement}"


def test_toolchain_pins_appear_in_the_lock(repo: Path) -> None:
    lock = {
        line.split("==")[0].lower(): line.split("==")[1]
        for line in (repo / "requirements" / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    for line in (repo / "requirements" / "requirements.txt").read_text().splitlines():
        requirement = line.split("#")[0].strip()
        if requirement:
            name, version = requirement.split("==")
            assert lock.get(re.sub(r"\[.*\]", "", name).lower()) == version, requirement


def test_galaxy_metadata(repo: Path) -> None:
    galaxy = yaml.safe_load((repo / "galaxy.yml").read_text())
    runtime = yaml.safe_load((repo / "meta" / "runtime.yml").read_text())
    assert (galaxy["namespace"], galaxy["name"]) == ("keelson", "platform")
    assert set(galaxy["dependencies"]) == {
        "kubernetes.core",
        "community.general",
        "community.crypto",
        "ansible.posix",
    }
    assert runtime["requires_ansible"] == ">=2.19.0"


def test_ansible_cfg_keeps_host_key_checking_on(repo: Path) -> None:
    assert "host_key_checking" not in (repo / "ansible.cfg").read_text()
