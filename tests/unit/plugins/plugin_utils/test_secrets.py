# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The vault_file secrets backend, with Ansible's real vault encryption."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from ansible.parsing.vault import is_encrypted
from secrets_helpers import decrypt, encrypt

from ansible_collections.keelson.platform.plugins.module_utils._formats import check_secret_key
from ansible_collections.keelson.platform.plugins.plugin_utils._secrets import (
    SecretsError,
    VaultFileBackend,
    backend_from_spec,
    check_name,
    generate,
)


def backend(path: Path) -> VaultFileBackend:
    return VaultFileBackend(str(path), encrypt, decrypt)


def test_created_once_reused_encrypted_private(tmp_path: Path) -> None:
    store = backend(tmp_path / "secrets.vault.yml")
    value, created = store.get_or_create("k3s-token", lambda: generate(48))
    assert created and len(value) == 48
    again, created_again = store.get_or_create("k3s-token", lambda: generate(48))
    assert (again, created_again) == (value, False)
    data = (tmp_path / "secrets.vault.yml").read_bytes()
    assert is_encrypted(data)
    assert value.encode() not in data
    assert (tmp_path / "secrets.vault.yml").stat().st_mode & 0o777 == 0o600
    assert [path.name for path in tmp_path.iterdir()] == ["secrets.vault.yml"]
    assert store.names() == ["k3s-token"]


def test_put_reports_changes_and_check_mode_writes_nothing(tmp_path: Path) -> None:
    store = backend(tmp_path / "s.yml")
    assert store.put("registry", "one", check_mode=True) is True
    assert not (tmp_path / "s.yml").exists()
    assert store.put("registry", "one") is True
    assert store.put("registry", "one") is False
    assert store.put("registry", "two") is True
    assert store.get("registry") == "two"
    assert store.get("missing") is None
    _value, created = store.get_or_create("new", lambda: "x" * 20, check_mode=True)
    assert created and store.get("new") is None


def test_delete_removes_only_that_secret_and_check_mode_keeps_it(tmp_path: Path) -> None:
    store = backend(tmp_path / "s.yml")
    assert store.delete("missing") is False
    assert not (tmp_path / "s.yml").exists()  # nothing to remove: nothing written
    store.put("k3s-token", "t" * 48)
    store.put("k3s-token.next-0123456789ab", "n" * 48)
    assert store.delete("k3s-token.next-0123456789ab", check_mode=True) is True
    assert store.names() == ["k3s-token", "k3s-token.next-0123456789ab"]
    assert store.delete("k3s-token.next-0123456789ab") is True
    assert store.names() == ["k3s-token"] and store.get("k3s-token") == "t" * 48
    assert store.delete("k3s-token.next-0123456789ab") is False
    assert is_encrypted((tmp_path / "s.yml").read_bytes())
    with pytest.raises(SecretsError):
        store.delete("Bad Name")


@pytest.mark.parametrize(
    "content",
    [b"k3s-token: leaked\n", b"\n" + encrypt(b"k3s-token: hidden\n")],
    ids=["plain text", "vault text after a blank line (Ansible cannot decrypt it)"],
)
def test_refuses_a_file_ansible_does_not_see_as_vault(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "s.yml").write_bytes(content)
    with pytest.raises(SecretsError, match="is not ansible-vault encrypted"):
        backend(tmp_path / "s.yml").get("k3s-token")


@pytest.mark.parametrize("name", ["K3s", "../etc", "", "a b", "-x"])
def test_refuses_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(SecretsError, match="use lowercase letters"):
        backend(tmp_path / "s.yml").get(name)


@pytest.mark.parametrize("name", ["k3s-token", "tenant-vision.s3_key", "0", "K3s", "-x", "a/b", "a b"])
def test_names_follow_the_secret_key_rule_of_the_spec(name: str) -> None:
    try:
        check_name(name)
        refused = False
    except SecretsError:
        refused = True
    assert refused == (check_secret_key(name) is not None)


def test_generate() -> None:
    assert set(generate(64, "hex")) <= set("0123456789abcdef")
    assert set(generate(64)) <= set(string.ascii_letters + string.digits)
    assert generate(32) != generate(32)
    with pytest.raises(SecretsError, match="16 to 4096"):
        generate(8)
    with pytest.raises(SecretsError, match="unknown alphabet"):
        generate(32, "emoji")


def test_backend_from_spec(tmp_path: Path) -> None:
    spec = {"backend": "vault_file", "vault_file": {"path": ".keelson-secrets.vault.yml"}, "hashicorp_vault": None}
    assert backend_from_spec(spec, str(tmp_path), bytes, bytes).path == f"{tmp_path}/.keelson-secrets.vault.yml"
    spec["vault_file"]["path"] = "/srv/secrets.yml"
    assert backend_from_spec(spec, str(tmp_path), bytes, bytes).path == "/srv/secrets.yml"
    with pytest.raises(SecretsError, match="reads the token from VAULT_TOKEN, which is not set"):
        vault = {
            "url": "https://127.0.0.1:1",
            "auth_method": "token",
            "mount": "secret",
            "path": "keelson/x",
            "namespace": None,
            "ca_cert": None,
        }
        backend_from_spec({"backend": "hashicorp_vault", "hashicorp_vault": vault}, str(tmp_path), bytes, bytes, environ={})


def _wrong_password(data: bytes) -> bytes:
    from ansible.parsing.vault import VaultLib, VaultSecret  # noqa: PLC0415

    return bytes(VaultLib([("default", VaultSecret(b"not-the-password"))]).decrypt(data))


def _truncated(path: Path) -> None:
    backend(path).put("k3s-token", "x" * 48)
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"\n") + 20])


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            "wrong-password",
            "cannot be decrypted with the vault password given (a wrong password, or a damaged file); run with the password",
        ),
        ("truncated", "is damaged (not a whole ansible-vault file: truncated, or edited by hand); restore it from your backup"),
        ("folder-at-the-path", "is not a file (a folder, or something else stands there); secrets.vault_file.path must name"),
        (
            "file-where-the-folder-must-be",
            "cannot make the folder of the secrets file (a file stands where a folder must be); fix the path",
        ),
    ],
)
def test_a_broken_vault_file_names_the_path_and_the_fix(tmp_path: Path, case: str, expected: str) -> None:
    path = tmp_path / "s.yml"
    decrypting = decrypt
    if case == "wrong-password":
        backend(path).put("k3s-token", "x" * 48)
        decrypting = _wrong_password
    elif case == "truncated":
        _truncated(path)
    elif case == "folder-at-the-path":
        path.mkdir()
    else:
        (tmp_path / "inventory").write_text("a file, not a folder\n")
        path = tmp_path / "inventory" / "s.yml"
    store = VaultFileBackend(str(path), encrypt, decrypting)
    with pytest.raises(SecretsError) as caught:
        store.get_or_create("k3s-token", lambda: "y" * 48)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message
    assert "Errno" not in message and "Traceback" not in message
