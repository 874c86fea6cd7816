# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The embedded Git server site.yml set up on server-1, used by its clients over real SSH: this machine (the
controller's side) pushes with the write key, agent-1 (as the GitOps controller would) clones with the deploy key,
both trusting only the host keys pinned in the secrets backend. Runs after test_cluster.py, before the reboot."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import AGENTS, SERVERS
from git_client import REPO, TEST_BRANCH, URL, RemoteClient, backend, git, put_record, ssh_command, write_private
from playbook import run_playbook

from ansible_collections.keelson.platform.plugins.plugin_utils._host_keys import fingerprints
from ansible_collections.keelson.platform.plugins.plugin_utils._platform_secrets import ssh_public_key


@pytest.fixture(scope="module")
def records() -> dict[str, str]:
    return backend()


@pytest.fixture(scope="module")
def client(records: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """GIT_SSH_COMMAND for this machine: the write key and the pinned known_hosts."""
    folder = tmp_path_factory.mktemp("git-client")
    key = write_private(folder / "write-key", records[REPO.write_key])
    known_hosts = write_private(folder / "known_hosts", records[REPO.known_hosts_record])
    return {"GIT_SSH_COMMAND": ssh_command(str(key), str(known_hosts))}


@pytest.fixture(scope="module")
def pushed(client: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A commit this machine pushed to the tests' branch with the write key: the working copy and the commit."""
    work = tmp_path_factory.mktemp("work")
    assert git(client, "init", "--quiet", "--initial-branch=molecule-test", cwd=work).returncode == 0
    if git(client, "ls-remote", "--exit-code", URL, TEST_BRANCH, cwd=work).returncode == 0:  # a run before this one's
        assert git(client, "fetch", "--quiet", URL, TEST_BRANCH, cwd=work).returncode == 0
        assert git(client, "reset", "--quiet", "--hard", "FETCH_HEAD", cwd=work).returncode == 0
    (work / "README.md").write_text("pushed by the molecule tests\n")
    assert git(client, "add", "README.md", cwd=work).returncode == 0
    assert git(client, "commit", "--quiet", "--allow-empty", "-m", "test commit", cwd=work).returncode == 0
    result = git(client, "push", URL, f"HEAD:{TEST_BRANCH}", cwd=work)
    assert result.returncode == 0, result.stderr
    return work, git(client, "rev-parse", "HEAD", cwd=work).stdout.strip()


@pytest.fixture(scope="module")
def deploy_client(hosts: dict[str, Any], records: dict[str, str]) -> Iterator[RemoteClient]:
    """agent-1 with the deploy key and the pinned known_hosts, as the GitOps controller gets them."""
    remote = RemoteClient(hosts[AGENTS[0]], "/root/keelson-deploy-test", records[REPO.deploy_key], records[REPO.known_hosts_record])
    yield remote
    remote.remove()


def server_ref(hosts: dict[str, Any], ref: str) -> str:
    """A ref of the bare repository, read on the server itself (as the git user: the repository is its own)."""
    return str(hosts["server-1"].check_output(f"sudo -u {REPO.user} git --git-dir={REPO.path} rev-parse {ref}"))


def test_first_server_has_the_bare_repository_and_the_git_user(hosts: dict[str, Any]) -> None:
    server = hosts["server-1"]
    user = server.user(REPO.user)
    assert user.exists and user.home == REPO.root
    assert user.shell.endswith("/git-shell") and server.file(user.shell).mode & 0o111
    assert server.check_output(f"getent shadow {REPO.user} | cut -d: -f2") == "*"  # no password, not a locked "!"
    root = server.file(REPO.root)
    assert (root.user, root.group, root.mode) == (REPO.user, REPO.user, 0o750)
    repository = server.file(str(REPO.path))
    assert repository.is_directory and repository.user == REPO.user
    assert server.file(f"{REPO.path}/HEAD").content_string == "ref: refs/heads/main\n"
    config = f"git config --file {REPO.path}/config --get"
    assert server.check_output(f"{config} core.bare") == "true"
    assert server.check_output(f"{config} receive.denyNonFastForwards") == "true"
    assert server.check_output(f"{config} receive.denyDeletes") == "true"
    # Only the first server serves it.
    for name in [*SERVERS[1:], *AGENTS]:
        assert not hosts[name].user(REPO.user).exists, name


def test_authorized_keys_hold_exactly_the_two_restricted_keys(hosts: dict[str, Any], records: dict[str, str]) -> None:
    server = hosts["server-1"]
    keys = server.file(f"{REPO.root}/.ssh/authorized_keys")
    assert (keys.user, keys.mode) == (REPO.user, 0o600)
    lines = [line for line in keys.content_string.splitlines() if line and not line.startswith("#")]
    assert lines == [
        f"restrict {ssh_public_key(records[REPO.write_key], 'keelson-write')}",
        f'restrict,command="keelson-read-only" {ssh_public_key(records[REPO.deploy_key], "keelson-deploy")}',
    ]
    assert "PRIVATE KEY" not in keys.content_string
    # git-shell runs the forced command from ~/git-shell-commands: root's, like the commands in it.
    for path in ("git-shell-commands", "git-shell-commands/keelson-read-only", "git-shell-commands/no-interactive-login"):
        command = server.file(f"{REPO.root}/{path}")
        assert (command.user, command.group, command.mode) == ("root", "root", 0o755), path


def test_pinned_host_keys_are_the_servers_own(hosts: dict[str, Any], records: dict[str, str]) -> None:
    server = hosts["server-1"]
    files = server.check_output("ls /etc/ssh/ssh_host_*_key.pub").split()
    assert len(files) >= 2  # every type sshd offers, not just one
    expected = sorted(f"{REPO.known_hosts_host} {' '.join(server.file(path).content_string.split()[:2])}" for path in files)
    assert records[REPO.known_hosts_record] == "".join(f"{line}\n" for line in expected)


def test_controller_pushes_with_the_write_key(hosts: dict[str, Any], pushed: tuple[Path, str]) -> None:
    _work, commit = pushed
    assert server_ref(hosts, TEST_BRANCH) == commit


def test_write_key_gets_no_shell(client: dict[str, str]) -> None:
    ssh = [*client["GIT_SSH_COMMAND"].split(), "-T", f"{REPO.user}@{REPO.address}"]
    command = subprocess.run([*ssh, "id"], capture_output=True, text=True, check=False)
    assert command.returncode != 0
    assert "fatal: unrecognized command 'id'" in command.stderr
    login = subprocess.run(ssh, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    assert login.returncode == 128
    assert "keelson: no shell here" in login.stderr


def test_another_host_clones_with_the_deploy_key_and_cannot_push(deploy_client: RemoteClient, pushed: tuple[Path, str]) -> None:
    _work, commit = pushed
    cloned = deploy_client.git(f"clone --quiet --branch molecule-test {URL} clone")
    assert cloned.rc == 0, cloned.stderr
    assert deploy_client.git("-C clone rev-parse HEAD").stdout.strip() == commit
    committed = deploy_client.git("-C clone -c user.name=t -c user.email=t@keelson.invalid commit --quiet --allow-empty -m 'not allowed'")
    assert committed.rc == 0, committed.stderr
    refused = deploy_client.git("-C clone push --quiet origin HEAD:refs/heads/molecule-test")
    assert refused.rc != 0
    assert "keelson: this key is read-only" in refused.stderr, refused.stderr
    # Nor anything else: a shell, or another path.
    for command in ("id", f"git-upload-pack '{REPO.root}/other.git'"):
        other = deploy_client.host.run(f'{deploy_client.ssh} {REPO.user}@{REPO.address} "{command}"')
        assert other.rc != 0 and "keelson: this key is read-only" in other.stderr, command


def test_a_different_host_key_is_refused(client: dict[str, str], tmp_path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "impostor")], check=True)
    impostor = (tmp_path / "impostor.pub").read_text().split()[:2]
    known_hosts = write_private(tmp_path / "known_hosts", f"{REPO.known_hosts_host} {' '.join(impostor)}\n")
    key = re.search(r"-i (\S+)", client["GIT_SSH_COMMAND"])
    assert key
    result = git({"GIT_SSH_COMMAND": ssh_command(key.group(1), str(known_hosts))}, "ls-remote", URL, cwd=tmp_path)
    assert result.returncode != 0
    assert "Host key verification failed." in result.stderr, result.stderr


def test_the_server_refuses_force_pushes_and_deletions(hosts: dict[str, Any], client: dict[str, str], pushed: tuple[Path, str]) -> None:
    work, commit = pushed
    assert git(client, "commit", "--quiet", "--amend", "--allow-empty", "-m", "rewritten history", cwd=work).returncode == 0
    forced = git(client, "push", "--force", URL, f"HEAD:{TEST_BRANCH}", cwd=work)
    assert forced.returncode != 0
    assert "denying non-fast-forward" in forced.stderr, forced.stderr
    deleted = git(client, "push", URL, f":{TEST_BRANCH}", cwd=work)
    assert deleted.returncode != 0
    assert "denying ref deletion" in deleted.stderr, deleted.stderr
    assert server_ref(hosts, TEST_BRANCH) == commit


def test_a_changed_host_key_stops_the_run_until_accepted(records: dict[str, str], tmp_path: Path) -> None:
    """Another key pinned (as if server-1 had been replaced since): the Git server's playbook (site.yml imports it)
    stops at the pin, naming the server, both fingerprints and the fix; accepted, the server's real keys are pinned
    again, and nothing else changes."""
    real = records[REPO.known_hosts_record]
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "old")], check=True)
    old = f"{REPO.known_hosts_host} {' '.join((tmp_path / 'old.pub').read_text().split()[:2])}\n"
    put_record(REPO.known_hosts_record, old)
    try:
        refused = run_playbook("keelson.platform.git_server")
        output = " ".join((refused.stdout + refused.stderr).split())
        assert refused.returncode != 0
        assert f"the SSH host keys of {REPO.server} are not the ones pinned in" in output, output[-3000:]
        for fingerprint in fingerprints(old) + fingerprints(real):
            assert fingerprint in output, fingerprint
        assert "then run again with -e keelson_git_server_accept_host_keys=true" in output
        assert backend()[REPO.known_hosts_record] == old
    finally:
        accepted = run_playbook("keelson.platform.git_server", "-e", "keelson_git_server_accept_host_keys=true")
    assert accepted.returncode == 0, accepted.stdout[-3000:]
    assert backend()[REPO.known_hosts_record] == real
    recap = dict(re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", accepted.stdout, re.MULTILINE))
    assert recap == {"server-1": "0", "localhost": "1"}  # the pin, and nothing else


def test_site_pushed_the_rendered_tree_once_and_the_cluster_side_reads_it(deploy_client: RemoteClient) -> None:
    """site.yml rendered the platform, committed it once (converge; the idempotence and check runs made no
    commit) and pushed it to the platform's branch, which a host reads with the deploy key, as the controller would."""
    cloned = deploy_client.git(f"clone --quiet --branch {REPO.branch} {URL} platform")
    assert cloned.rc == 0, cloned.stderr
    root = deploy_client.host.file(f"{deploy_client.folder}/platform/clusters/molecule/apps/root.yaml")
    assert root.exists and "keelson.platform (platform_render)" in root.content_string
    log = deploy_client.git("-C platform log --format=%s%n%b").stdout
    assert log.count("Keelson-Platform: molecule") == 1, log
    assert log.startswith("Render molecule"), log
    # No secret in plain text: every Secret in the tree is sealed, but for service-account token Secrets, which hold
    # nothing until the cluster's token controller fills them (Argo Workflows' SSO accounts).
    plain = deploy_client.host.run(f"grep -rl '^kind: Secret$' {deploy_client.folder}/platform").stdout.split()
    for path in plain:
        for document in yaml.safe_load_all(deploy_client.host.file(path).content_string):
            if isinstance(document, dict) and document.get("kind") == "Secret":
                assert document.get("type") == "kubernetes.io/service-account-token", f"{path}: a Secret in plain text"
                assert not document.get("data") and not document.get("stringData"), f"{path}: a Secret with data in plain text"
