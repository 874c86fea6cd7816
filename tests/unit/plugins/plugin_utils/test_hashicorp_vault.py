# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hashicorp_vault backend through hvac, against the KV v2 TEST DOUBLE (tests/vault-double)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kv2_double import VaultDouble

from ansible_collections.keelson.platform.plugins.plugin_utils._secrets import HashicorpVaultBackend, SecretsError


def settings(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "url": url,
        "auth_method": "token",
        "role_id": None,
        "mount": "secret",
        "path": "keelson/ml-prod",
        "namespace": None,
        "ca_cert": None,
        **extra,
    }


def test_token_login_create_once_reuse_and_read_out_of_band(vault_double: VaultDouble) -> None:
    backend = HashicorpVaultBackend(settings(vault_double.url), {"VAULT_TOKEN": "root-token"})  # type: ignore[attr-defined]
    value, created = backend.get_or_create("k3s-token", lambda: "t" * 48)
    assert (value, created) == ("t" * 48, True)
    assert backend.get_or_create("k3s-token", lambda: "other") == ("t" * 48, False)
    assert vault_double.value("secret", "keelson/ml-prod/k3s-token") == "t" * 48
    assert backend.names() == ["k3s-token"]
    assert backend.put("registry", "pw") is True
    assert backend.put("registry", "pw") is False
    assert backend.get("missing") is None
    assert ("POST", "/v1/secret/data/keelson/ml-prod/k3s-token") in vault_double.requests


def test_check_mode_writes_nothing(vault_double: VaultDouble) -> None:
    backend = HashicorpVaultBackend(settings(vault_double.url), {"VAULT_TOKEN": "root-token"})  # type: ignore[attr-defined]
    _value, created = backend.get_or_create("k3s-token", lambda: "x" * 20, check_mode=True)
    assert created
    assert backend.put("a", "b", check_mode=True) is True
    assert vault_double.store == {}


def test_delete_removes_every_version_and_check_mode_keeps_it(vault_double: VaultDouble) -> None:
    backend = HashicorpVaultBackend(settings(vault_double.url), {"VAULT_TOKEN": "root-token"})  # type: ignore[attr-defined]
    assert backend.delete("missing") is False
    backend.put("pending", "one")
    backend.put("pending", "two")  # a second version
    backend.put("kept", "k")
    assert backend.delete("pending", check_mode=True) is True
    assert vault_double.value("secret", "keelson/ml-prod/pending") == "two"
    assert backend.delete("pending") is True
    assert ("GET", "/v1/secret/metadata/keelson/ml-prod/pending") in vault_double.requests  # its versions, not its value
    assert ("DELETE", "/v1/secret/metadata/keelson/ml-prod/pending") in vault_double.requests
    assert "secret/keelson/ml-prod/pending" not in vault_double.store
    assert backend.get("pending") is None and backend.names() == ["kept"]
    assert backend.delete("pending") is False


def test_a_concurrent_creator_wins_and_both_see_its_value(vault_double: VaultDouble) -> None:
    backend = HashicorpVaultBackend(settings(vault_double.url), {"VAULT_TOKEN": "root-token"})  # type: ignore[attr-defined]

    def create_after_someone_else() -> str:
        vault_double.store["secret/keelson/ml-prod/race"] = [{"value": "first"}]
        return "second"

    assert backend.get_or_create("race", create_after_someone_else) == ("first", False)


def test_approle_login(vault_double: VaultDouble) -> None:
    approle = settings(vault_double.url, auth_method="approle", role_id="role-1")  # type: ignore[attr-defined]
    backend = HashicorpVaultBackend(approle, {"VAULT_SECRET_ID": "secret-1"})
    backend.put("a", "b")
    assert vault_double.value("secret", "keelson/ml-prod/a") == "b"
    with pytest.raises(SecretsError, match="cannot log in to Vault"):
        HashicorpVaultBackend(approle, {"VAULT_SECRET_ID": "wrong"})
    with pytest.raises(SecretsError, match="reads the secret id from VAULT_SECRET_ID, which is not set"):
        HashicorpVaultBackend(approle, {})


def test_wrong_token_is_a_clear_error(vault_double: VaultDouble) -> None:
    backend = HashicorpVaultBackend(settings(vault_double.url), {"VAULT_TOKEN": "nope"})  # type: ignore[attr-defined]
    with pytest.raises(SecretsError, match=r"Vault refused to read k3s-token .*permission denied"):
        backend.get("k3s-token")


def test_unreachable_vault_is_a_clear_error() -> None:
    backend = HashicorpVaultBackend(settings("http://127.0.0.1:9"), {"VAULT_TOKEN": "t"})
    with pytest.raises(SecretsError, match="cannot reach Vault to read k3s-token"):
        backend.get("k3s-token")


def _self_signed(tmp_path: Path) -> tuple[str, str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    (tmp_path / "cert.pem").write_text(pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return pem, str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")


def test_private_ca_and_namespace(tmp_path: Path) -> None:
    pem, certfile, keyfile = _self_signed(tmp_path)
    double = VaultDouble(token="root-token", namespace="team/ml")
    url = double.start(certfile, keyfile)
    try:
        backend = HashicorpVaultBackend(settings(url, ca_cert=pem, namespace="team/ml"), {"VAULT_TOKEN": "root-token"})
        backend.put("a", "b")
        assert double.value("secret", "keelson/ml-prod/a") == "b"
        backend.close()
        untrusted = HashicorpVaultBackend(settings(url, namespace="team/ml"), {"VAULT_TOKEN": "root-token"})
        with pytest.raises(SecretsError, match="cannot reach Vault"):
            untrusted.get("a")
    finally:
        double.stop()
