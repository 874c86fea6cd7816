# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""keelson.platform.pinned_host_keys through ansible-playbook: check mode first, pinned once, a changed key stops the
run until accepted; the record read back out of band with ansible-vault."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from integration_helpers import Runner

FILES = Path(__file__).resolve().parent / "files"
pytestmark = pytest.mark.slow


def _host_keys(tmp_path: Path, name: str) -> Path:
    """A known_hosts line per key, from real keys made by ssh-keygen."""
    lines = []
    for kind in ("ed25519", "ecdsa"):
        key = tmp_path / f"{name}-{kind}"
        subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "root@server-1", "-f", str(key)], check=True)
        lines.append(f"10.89.77.11 {Path(f'{key}.pub').read_text()}")
    keys_file = tmp_path / f"{name}.known_hosts"
    keys_file.write_text("".join(lines))
    return keys_file


def test_pinned_once_and_a_changed_key_stops_the_run(ansible: Runner, tmp_path: Path, password: Path) -> None:
    secrets_file = tmp_path / "keelson-secrets.vault.yml"

    def run(keys: Path, *args: str) -> subprocess.CompletedProcess[str]:
        extra = ("-e", f"secrets_file={secrets_file}", "-e", f"keys_file={keys}")
        return ansible("ansible-playbook", str(FILES / "pinned_host_keys.yml"), f"--vault-password-file={password}", *extra, *args)

    def pinned() -> str:
        view = ansible("ansible-vault", "view", str(secrets_file), f"--vault-password-file={password}")
        return str(yaml.safe_load(view.stdout)["gitops-known-hosts"])

    first_keys, other_keys = _host_keys(tmp_path, "first"), _host_keys(tmp_path, "other")
    checked = run(first_keys, "--check", "--diff")
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert "changed=1" in checked.stdout
    assert not secrets_file.exists()

    first = run(first_keys)
    assert first.returncode == 0 and "changed=1" in first.stdout, first.stdout[-3000:]
    expected = sorted(" ".join(line.split()[:3]) for line in first_keys.read_text().splitlines())
    assert pinned().splitlines() == expected
    again = run(first_keys)
    assert again.returncode == 0 and "changed=0" in again.stdout

    refused = run(other_keys)
    output = " ".join((refused.stdout + refused.stderr).split())
    assert refused.returncode != 0
    assert "the SSH host keys of server-1 are not the ones pinned in" in output, output[-3000:]
    assert "-e keelson_git_server_accept_host_keys=true" in output
    assert pinned().splitlines() == expected

    accepted = run(other_keys, "-e", "accept=true")
    assert accepted.returncode == 0 and "changed=1" in accepted.stdout
    assert pinned().splitlines() == sorted(" ".join(line.split()[:3]) for line in other_keys.read_text().splitlines())
