# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""keelson.platform.secret through ansible-playbook: created once, encrypted, private, never logged."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.parsing.vault import is_encrypted
from integration_helpers import Runner

FILES = Path(__file__).resolve().parent / "files"
pytestmark = pytest.mark.slow


def test_generated_once_encrypted_and_never_in_the_output(ansible: Runner, tmp_path: Path, password: Path) -> None:
    secrets_file = tmp_path / "inventory" / ".keelson-secrets.vault.yml"
    args = (
        "ansible-playbook",
        str(FILES / "secret.yml"),
        "-vvv",
        f"--vault-password-file={password}",
        "-e",
        f"secrets_file={secrets_file}",
    )
    first = ansible(*args)
    assert first.returncode == 0, first.stdout[-3000:]
    second = ansible(*args)
    assert second.returncode == 0
    assert "changed=0" in second.stdout
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    assert is_encrypted(secrets_file.read_bytes())
    view = ansible("ansible-vault", "view", str(secrets_file), f"--vault-password-file={password}")
    token = yaml.safe_load(view.stdout)["k3s-token"]
    assert len(token) == 48
    for run in (first, second):
        assert token not in run.stdout and token not in run.stderr
    assert token.encode() not in secrets_file.read_bytes()


def test_check_mode_stores_nothing(ansible: Runner, tmp_path: Path, password: Path) -> None:
    secrets_file = tmp_path / "keelson-secrets.vault.yml"
    result = ansible(
        "ansible-playbook",
        str(FILES / "secret.yml"),
        "--check",
        f"--vault-password-file={password}",
        "-e",
        f"secrets_file={secrets_file}",
    )
    assert "changed=" in result.stdout
    assert not secrets_file.exists()


def test_without_a_vault_password_says_how_to_give_one(ansible: Runner, tmp_path: Path) -> None:
    result = ansible("ansible-playbook", str(FILES / "secret.yml"), "-e", f"secrets_file={tmp_path / 's.yml'}")
    assert result.returncode != 0
    assert "the vault_file secrets backend needs a vault password: pass --vault-password-file" in " ".join(result.stdout.split())
    assert not (tmp_path / "s.yml").exists()


def test_a_missing_secret_fails_a_query_unless_the_task_branches_on_it(ansible: Runner, tmp_path: Path, password: Path) -> None:
    args = ("ansible-playbook", str(FILES / "secret.yml"), f"--vault-password-file={password}", "-e", f"secrets_file={tmp_path / 's.yml'}")
    branched = ansible(*args)
    assert branched.returncode == 0, branched.stdout[-3000:]
    stopped = ansible(*args, "-e", "query_missing=true")
    assert stopped.returncode != 0
    assert "secret 'not-stored-here' is not in " in stopped.stdout + stopped.stderr


def test_state_absent_removes_one_secret_and_says_only_its_name(ansible: Runner, tmp_path: Path, password: Path) -> None:
    secrets_file = tmp_path / "s.yml"
    vault = f"--vault-password-file={password}"
    for name in ("k3s-token", "k3s-token.next-0123456789ab"):
        made = ansible(
            "ansible-playbook", str(FILES / "secret.yml"), vault, "-e", f"secrets_file={secrets_file}", "-e", f"secret_name={name}"
        )
        assert made.returncode == 0, made.stdout[-3000:]

    def stored() -> dict[str, str]:
        return dict(yaml.safe_load(ansible("ansible-vault", "view", str(secrets_file), vault).stdout))

    before = stored()
    remove = ("ansible-playbook", str(FILES / "secret_absent.yml"), vault, "--diff", "-e", f"secrets_file={secrets_file}")
    checked = ansible(*remove, "--check", "-e", "secret_name=k3s-token.next-0123456789ab")
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert "changed=1" in checked.stdout
    assert stored() == before
    removed = ansible(*remove, "-e", "secret_name=k3s-token.next-0123456789ab")
    assert removed.returncode == 0, removed.stdout[-3000:]
    assert "changed=1" in removed.stdout
    assert "-k3s-token.next-0123456789ab" in removed.stdout  # the diff names it
    for value in before.values():
        assert value not in removed.stdout + removed.stderr + checked.stdout + checked.stderr
    assert stored() == {"k3s-token": before["k3s-token"]}
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    again = ansible(*remove, "-e", "secret_name=k3s-token.next-0123456789ab")
    assert again.returncode == 0 and "changed=0" in again.stdout
