# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The built collection: it installs into an empty collections path and its content works from there."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from integration_helpers import REPO, Runner

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build")
    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    subprocess.run([str(galaxy), "collection", "build", "--output-path", str(out), str(REPO)], check=True, capture_output=True)
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    tarball = out / f"keelson-platform-{version}.tar.gz"
    assert tarball.is_file()
    return tarball


def test_tarball_holds_the_collection_and_nothing_local(built: Path) -> None:
    with tarfile.open(built) as archive:
        names = set(archive.getnames())
        manifest = json.load(archive.extractfile("MANIFEST.json"))  # type: ignore[arg-type]
    for wanted in (
        "plugins/modules/platform_spec.py",
        "plugins/module_utils/_spec.py",
        "playbooks/validate.yml",
        "docs/spec.md",
        "meta/runtime.yml",
        "LICENSE",
    ):
        assert wanted in names, wanted
    for unwanted in (".venv", ".collections", "tools", "Makefile", "ansible.cfg", ".git", "requirements"):
        assert not any(name == unwanted or name.startswith(unwanted + "/") for name in names), unwanted
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"]) == ("keelson", "platform")
    assert set(info["dependencies"]) == {
        "kubernetes.core",
        "community.general",
        "community.crypto",
        "ansible.posix",
    }


def test_installed_collection_validates_an_inventory(built: Path, ansible: Runner, tmp_path: Path) -> None:
    collections = tmp_path / "collections"
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\ninterpreter_python = auto_silent\n")
    env = {"ANSIBLE_CONFIG": str(config), "ANSIBLE_COLLECTIONS_PATH": str(collections)}
    # Dependencies come with the ansible package here; --no-deps keeps Galaxy out of it.
    installed = ansible(
        "ansible-galaxy",
        "collection",
        "install",
        "--no-deps",
        "-p",
        str(collections),
        str(built),
        env=env,
        cwd=tmp_path,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (collections / "ansible_collections" / "keelson" / "platform" / "playbooks" / "validate.yml").is_file()

    good = ansible(
        "ansible-playbook",
        "keelson.platform.validate",
        "-i",
        str(REPO / "inventories" / "example-ha"),
        env=env,
        cwd=tmp_path,
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Platform ml-prod (ml.example.internal) is valid" in good.stdout

    bad = ansible(
        "ansible-playbook",
        "keelson.platform.validate",
        "-i",
        str(Path(__file__).parent / "files" / "inventories" / "bad"),
        env=env,
        cwd=tmp_path,
    )
    assert bad.returncode != 0
    assert "the keelson platform spec is invalid (6 problems):" in bad.stdout

    doc = ansible("ansible-doc", "--json", "keelson.platform.platform_spec", env=env, cwd=tmp_path)
    assert doc.returncode == 0, doc.stderr
    entry = json.loads(doc.stdout)["keelson.platform.platform_spec"]
    assert entry["doc"]["filename"].startswith(str(collections))
