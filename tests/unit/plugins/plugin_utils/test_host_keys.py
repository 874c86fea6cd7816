# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pinning a server's SSH host keys in the secrets backend (a real vault_file backend, real keys, real ssh-keygen)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ansible_collections.keelson.platform.plugins.plugin_utils._host_keys import (
    HostKeysChanged,
    HostKeysError,
    fingerprints,
    known_hosts_text,
    pin,
)
from ansible_collections.keelson.platform.plugins.plugin_utils._secrets import VaultFileBackend

RECORD = "gitops-known-hosts"
HOST = "10.89.77.11"


def _public(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def host_keys(host: str = HOST) -> list[str]:
    """A server's host keys as the git_server role hands them over: ``HOST TYPE KEY``, ed25519 and ECDSA."""
    return [f"{host} {_public(ed25519.Ed25519PrivateKey.generate())}", f"{host} {_public(ec.generate_private_key(ec.SECP256R1()))}"]


def test_first_contact_stores_sorted_known_hosts(file_backend: VaultFileBackend) -> None:
    lines = host_keys()
    pinned = pin(file_backend, RECORD, [*lines, f"{lines[0]} root@server-1"], "server-1")
    assert pinned.changed and pinned.previous is None
    assert pinned.known_hosts == "".join(f"{line}\n" for line in sorted(lines))
    assert file_backend.get(RECORD) == pinned.known_hosts


def test_the_same_keys_change_nothing(file_backend: VaultFileBackend) -> None:
    lines = host_keys()
    pin(file_backend, RECORD, lines, "server-1")
    again = pin(file_backend, RECORD, list(reversed(lines)), "server-1")
    assert not again.changed
    assert again.previous == again.known_hosts


def test_check_mode_stores_nothing(file_backend: VaultFileBackend) -> None:
    pinned = pin(file_backend, RECORD, host_keys(), "server-1", check_mode=True)
    assert pinned.changed
    assert file_backend.get(RECORD) is None
    assert not Path(file_backend.path).exists()


@pytest.mark.parametrize("check_mode", [False, True])
def test_other_keys_stop_the_run_naming_server_fingerprints_and_fix(file_backend: VaultFileBackend, check_mode: bool) -> None:
    old = pin(file_backend, RECORD, host_keys(), "server-1").known_hosts
    new = host_keys()
    with pytest.raises(HostKeysChanged) as raised:
        pin(file_backend, RECORD, new, "server-1", check_mode=check_mode)
    message = str(raised.value)
    assert message.startswith(f"the SSH host keys of server-1 are not the ones pinned in {file_backend.path} (gitops-known-hosts): pinned ")
    for fingerprint in fingerprints(old) + fingerprints(known_hosts_text(new)):
        assert fingerprint in message
    assert "Verify the new fingerprints out of band" in message
    assert message.endswith("then run again with -e keelson_git_server_accept_host_keys=true (the module's accept) to pin them")
    assert file_backend.get(RECORD) == old


def test_one_key_more_or_less_is_a_change_too(file_backend: VaultFileBackend) -> None:
    lines = host_keys()
    pin(file_backend, RECORD, lines, "server-1")
    with pytest.raises(HostKeysChanged):
        pin(file_backend, RECORD, lines[:1], "server-1")


def test_accepted_keys_replace_the_pinned_ones(file_backend: VaultFileBackend) -> None:
    old = pin(file_backend, RECORD, host_keys(), "server-1").known_hosts
    new = host_keys()
    checked = pin(file_backend, RECORD, new, "server-1", accept=True, check_mode=True)
    assert checked.changed and file_backend.get(RECORD) == old
    accepted = pin(file_backend, RECORD, new, "server-1", accept=True)
    assert accepted.changed and accepted.previous == old
    assert file_backend.get(RECORD) == known_hosts_text(new)


def test_a_new_address_with_the_same_keys_is_stored(file_backend: VaultFileBackend) -> None:
    lines = host_keys()
    pin(file_backend, RECORD, lines, "server-1")
    moved = [line.replace(HOST, "[10.89.77.99]:2222") for line in lines]
    pinned = pin(file_backend, RECORD, moved, "server-1")
    assert pinned.changed
    assert file_backend.get(RECORD) == known_hosts_text(moved)


def test_a_damaged_record_is_replaced_only_when_accepted(file_backend: VaultFileBackend) -> None:
    file_backend.put(RECORD, "not known_hosts text\n")
    with pytest.raises(HostKeysError, match="are not known_hosts text; check the server's keys out of band"):
        pin(file_backend, RECORD, host_keys(), "server-1")
    assert pin(file_backend, RECORD, host_keys(), "server-1", accept=True).changed


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ([], "no SSH host keys were read from the server"),
        ([f"{HOST} ssh-dss AAAAB3NzaC1kc3MAAACBAP"], "has an unknown key type 'ssh-dss'"),
        (["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"], "must be one known_hosts line"),
    ],
)
def test_bad_host_keys_are_refused_before_anything_is_stored(file_backend: VaultFileBackend, lines: list[str], reason: str) -> None:
    with pytest.raises(HostKeysError, match=reason):
        pin(file_backend, RECORD, lines, "server-1")
    assert not Path(file_backend.path).exists()


@pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="needs OpenSSH's ssh-keygen")
def test_fingerprints_are_the_ones_ssh_keygen_prints(tmp_path: Path) -> None:
    text = known_hosts_text(host_keys())
    (tmp_path / "known_hosts").write_text(text)
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(tmp_path / "known_hosts")], capture_output=True, text=True, check=True)
    # ssh-keygen: "256 SHA256:... 10.89.77.11 (ED25519)"
    theirs = sorted(line.split()[1] for line in listed.stdout.splitlines())
    assert sorted(fingerprint.split()[1] for fingerprint in fingerprints(text)) == theirs
