# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Git over SSH to the embedded Git server, the way its clients use it: a key and the host keys pinned in the
secrets backend (read back out of band, with the scenario's vault password), strict host key checking."""

from __future__ import annotations

import base64
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import yaml
from ansible.parsing.vault import VaultLib, VaultSecret
from conftest import ADDRESSES, EPHEMERAL, PROJECT

from ansible_collections.keelson.platform.plugins.module_utils._gitops import gitops_repo

# The scenario's platform is "molecule" on branch main; the facts come from keelson's one derivation.
REPO = gitops_repo("molecule", "embedded", "main", [("server-1", ADDRESSES["server-1"])])
URL = str(REPO.url)
TEST_BRANCH = "refs/heads/molecule-test"  # the tests' own branch: the platform's branch stays keelson's


BACKEND = EPHEMERAL / "keelson-secrets.vault.yml"


def _vault() -> VaultLib:
    password = subprocess.run([str(PROJECT / "tests" / "testhosts" / "vault-password")], capture_output=True, text=True, check=True)
    return VaultLib([("default", VaultSecret(password.stdout.strip().encode()))])


def backend() -> dict[str, str]:
    """The secrets backend's records, decrypted with the scenario's vault password."""
    return dict(yaml.safe_load(_vault().decrypt(BACKEND.read_bytes())))


def write_backend(records: dict[str, str]) -> None:
    """Replace the secrets backend's records behind keelson's back."""
    BACKEND.write_bytes(_vault().encrypt(yaml.safe_dump(records, default_flow_style=False).encode()))


def put_record(name: str, value: str) -> None:
    """Change one record of the secrets backend behind keelson's back."""
    write_backend({**backend(), name: value})


def ssh_command(key: str, known_hosts: str) -> str:
    return f"ssh -i {key} -o IdentitiesOnly=yes -o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes -o BatchMode=yes"


def write_private(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def git(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """git on this machine (the controller's side), with ``env``'s GIT_SSH_COMMAND."""
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd or EPHEMERAL), **env}
    command = ["git", "-c", "user.name=keelson test", "-c", "user.email=test@keelson.invalid", *args]
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, check=False)


class RemoteClient:
    """A folder on another test host holding a key and a known_hosts file, for git commands run there as root."""

    def __init__(self, host: Any, folder: str, key: str, known_hosts: str) -> None:
        self.host, self.folder = host, folder
        self.host.run_expect([0], f"rm -rf {folder} && install -d -m 0700 {folder}")
        for name, text in (("key", key), ("known_hosts", known_hosts)):
            encoded = base64.b64encode(text.encode()).decode()
            self.host.run_expect([0], f"umask 077 && echo {encoded} | base64 -d > {folder}/{name}")
        self.ssh = ssh_command(f"{folder}/key", f"{folder}/known_hosts")

    def git(self, command: str) -> Any:
        """``git COMMAND`` (shell words) run in the folder."""
        return self.host.run(f"cd {self.folder} && GIT_SSH_COMMAND={shlex.quote(self.ssh)} git {command}")

    def remove(self) -> None:
        self.host.run_expect([0], f"rm -rf {self.folder}")
