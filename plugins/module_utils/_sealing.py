# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sealed Secrets, offline: kubeseal's wire format, stable re-sealing, and the controller's key pair.

Wire format of one value (what kubeseal writes and the controller reads):
``uint16_be(len(rsa_ct)) || rsa_ct || aes_gcm_ct_with_tag``, standard base64, where a fresh 32-byte session
key is encrypted with RSA-OAEP (SHA-256, MGF1-SHA-256) under the scope's label (``namespace/name``,
``namespace`` or empty) and the value with AES-256-GCM under that key and a 12-byte zero nonce.

Sealing is randomised, so re-sealing every run would change Git every run. With the private keys at hand,
:func:`seal` unseals the previous manifest and keeps each value's ciphertext when its plaintext, scope and key
are unchanged; only what changed is sealed again.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import hashlib
import os
import re
import struct
from typing import Any, Final, Optional

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.x509.oid import NameOID

    HAS_CRYPTOGRAPHY = True
except ImportError:  # the module reports missing_required_lib
    HAS_CRYPTOGRAPHY = False

from ansible_collections.keelson.platform.plugins.module_utils._formats import check_dns_subdomain, dns_label
from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError

SCOPES: Final = ("strict", "namespace-wide", "cluster-wide")
ANNOTATIONS: Final = {
    "namespace-wide": "sealedsecrets.bitnami.com/namespace-wide",
    "cluster-wide": "sealedsecrets.bitnami.com/cluster-wide",
}
KEY_LABEL: Final = "sealedsecrets.bitnami.com/sealed-secrets-key"
KEY_SIZE: Final = 4096
KEY_TTL_DAYS: Final = 3650  # the controller's default: 10 years
KEY_CN: Final = "sealed-secret"
_NONCE: Final = b"\0" * 12
_NAMESPACE: Final = dns_label(63)
_DATA_KEY: Final = re.compile(r"^[-._a-zA-Z0-9]+$")


class SealingError(KeelsonError):
    """Input that cannot be sealed, or a key that cannot be used."""


# ------------------------------------------------------------------------------------------- checks


def check_names(name: str, namespace: Optional[str], scope: str, data_keys: list[str]) -> None:
    """Fail before any work when a name, scope or key is not one Kubernetes and the controller accept."""
    if scope not in SCOPES:
        raise SealingError(f"scope must be one of {', '.join(SCOPES)} (got {scope!r})")
    if check_dns_subdomain(name) is not None:
        raise SealingError(f"Secret name {name!r} is not a DNS-1123 subdomain (lowercase letters, digits, '-', '.')")
    if scope != "cluster-wide" and not namespace:
        raise SealingError(f"scope {scope} needs a namespace")
    if namespace and _NAMESPACE(namespace) is not None:
        raise SealingError(f"namespace {namespace!r} is not a DNS-1123 label")
    for key in data_keys:
        if len(key) > 253 or not _DATA_KEY.match(key):
            raise SealingError(f"data key {key!r} is not a valid Secret key (letters, digits, '-', '_', '.')")


def label(scope: str, namespace: Optional[str], name: str) -> bytes:
    """The RSA-OAEP label that binds a value to where it may be unsealed."""
    if scope == "cluster-wide":
        return b""
    if scope == "namespace-wide":
        return (namespace or "").encode()
    return f"{namespace}/{name}".encode()


@functools.lru_cache(maxsize=64)
def load_certificate(pem: str) -> Any:
    """The sealing certificate; its public key must be RSA. (Parsed once per process.)"""
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except (ValueError, TypeError) as error:
        raise SealingError(f"the certificate is not a PEM X.509 certificate ({error})") from error
    if not isinstance(certificate.public_key(), rsa.RSAPublicKey):
        raise SealingError("the certificate's key is not RSA; Sealed Secrets seals with RSA-OAEP")
    return certificate


@functools.lru_cache(maxsize=64)
def load_private_key(pem: str) -> Any:
    """An RSA private key. Parsing and checking a 4096-bit key costs far more than using it: once per process."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as error:
        raise SealingError("a private key is not an unencrypted PEM key") from error
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SealingError("a private key is not RSA")
    return key


# ------------------------------------------------------------------------------------- wire format


def encrypt_value(public_key: Any, plaintext: bytes, oaep_label: bytes) -> str:
    session_key = os.urandom(32)
    rsa_ciphertext = public_key.encrypt(
        session_key,
        padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=oaep_label),
    )
    aes_ciphertext = AESGCM(session_key).encrypt(_NONCE, plaintext, None)
    return base64.b64encode(struct.pack(">H", len(rsa_ciphertext)) + rsa_ciphertext + aes_ciphertext).decode()


def decrypt_value(private_key: Any, value: str, oaep_label: bytes) -> Optional[bytes]:
    """The plaintext, or None when this key and label do not open the value."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) < 2:
        return None
    (length,) = struct.unpack(">H", raw[:2])
    rsa_ciphertext, aes_ciphertext = raw[2 : 2 + length], raw[2 + length :]
    try:
        session_key = private_key.decrypt(
            rsa_ciphertext,
            padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=oaep_label),
        )
        return bytes(AESGCM(session_key).decrypt(_NONCE, aes_ciphertext, None))
    except (ValueError, InvalidTag):
        return None


def key_id(public_key: Any) -> str:
    """A short fingerprint of a public key (hex sha256 of its DER form)."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


# ------------------------------------------------------------------------------------------ sealing


def _scope_of(manifest: dict[str, Any]) -> str:
    annotations = (manifest.get("metadata") or {}).get("annotations") or {}
    for scope in ("cluster-wide", "namespace-wide"):
        if str(annotations.get(ANNOTATIONS[scope], "")).lower() == "true":
            return scope
    return "strict"


def seal(
    *,
    name: str,
    namespace: Optional[str],
    data: dict[str, str],
    certificate: str,
    scope: str = "strict",
    secret_type: str = "Opaque",
    labels: Optional[dict[str, str]] = None,
    annotations: Optional[dict[str, str]] = None,
    previous: Optional[dict[str, Any]] = None,
    private_keys: Optional[list[str]] = None,
) -> tuple[dict[str, Any], list[str]]:
    """A complete SealedSecret, and the data keys whose ciphertext is new (added or changed).

    A value of ``previous`` is kept when a private key of the *sealing certificate* opens it with the same
    scope and yields the same plaintext; so rotating the key re-seals everything with the new one.
    """
    check_names(name, namespace, scope, list(data))
    cert = load_certificate(certificate)
    public_key = cert.public_key()
    oaep_label = label(scope, namespace, name)
    opener = None
    for pem in private_keys or []:
        key = load_private_key(pem)
        if key_id(key.public_key()) == key_id(public_key):
            opener = key
    old = {}
    if previous and _scope_of(previous) == scope:
        old = dict((previous.get("spec") or {}).get("encryptedData") or {})
    encrypted: dict[str, str] = {}
    changed: list[str] = []
    for key_name in sorted(data):
        plaintext = data[key_name].encode()
        kept = old.get(key_name)
        if kept is not None and opener is not None and decrypt_value(opener, kept, oaep_label) == plaintext:
            encrypted[key_name] = kept
        else:
            encrypted[key_name] = encrypt_value(public_key, plaintext, oaep_label)
            changed.append(key_name)
    return manifest(name, namespace, encrypted, scope, secret_type, labels or {}, annotations or {}), changed


def manifest(  # noqa: PLR0917 - the fields of one manifest
    name: str,
    namespace: Optional[str],
    encrypted: dict[str, str],
    scope: str,
    secret_type: str,
    labels: dict[str, str],
    annotations: dict[str, str],
) -> dict[str, Any]:
    scope_annotations = {ANNOTATIONS[scope]: "true"} if scope in ANNOTATIONS else {}
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if scope_annotations:
        metadata["annotations"] = dict(scope_annotations)
    template_metadata: dict[str, Any] = dict(metadata)
    template_annotations = {**annotations, **scope_annotations}
    if template_annotations:
        template_metadata["annotations"] = dict(sorted(template_annotations.items()))
    if labels:
        template_metadata["labels"] = dict(sorted(labels.items()))
    return {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": metadata,
        "spec": {
            "encryptedData": dict(sorted(encrypted.items())),
            "template": {"metadata": template_metadata, "type": secret_type},
        },
    }


def unseal(manifest_: dict[str, Any], private_keys: list[str]) -> dict[str, str]:
    """Every value of a SealedSecret, opened with any of ``private_keys`` (the controller's view)."""
    metadata = manifest_.get("metadata") or {}
    scope = _scope_of(manifest_)
    oaep_label = label(scope, metadata.get("namespace"), metadata.get("name", ""))
    keys = [load_private_key(pem) for pem in private_keys]
    result = {}
    for key_name, value in ((manifest_.get("spec") or {}).get("encryptedData") or {}).items():
        for key in keys:
            plaintext = decrypt_value(key, value, oaep_label)
            if plaintext is not None:
                result[key_name] = plaintext.decode()
                break
        else:
            raise SealingError(f"no key opens {metadata.get('namespace')}/{metadata.get('name')} {key_name} (scope {scope})")
    return result


# --------------------------------------------------------------------------------------- key pairs


def generate_key_pair(now: Optional[datetime.datetime] = None) -> dict[str, str]:
    """An RSA-4096 key and a self-signed certificate shaped like the controller's own (pkg/crypto/keys.go)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, KEY_CN)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(os.urandom(16), "big") >> 1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=KEY_TTL_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=True,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return {
        "key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode(),
        "certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
        "created": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "id": key_id(key.public_key()),
    }


def check_key_pair(pair: dict[str, Any]) -> None:
    """A stored key pair: both parts parse, match, and are RSA."""
    for field in ("key", "certificate", "created", "id"):
        if not isinstance(pair.get(field), str):
            raise SealingError(f"a sealing key entry lacks {field}")
    certificate = load_certificate(pair["certificate"])
    key = load_private_key(pair["key"])
    if key_id(key.public_key()) != key_id(certificate.public_key()):
        raise SealingError(f"sealing key {pair['id']}: the private key does not match its certificate")


def key_secret(pair: dict[str, str], namespace: str) -> dict[str, Any]:
    """The kubernetes.io/tls Secret the Sealed Secrets controller loads its keys from."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": f"sealed-secrets-key-{pair['id']}",
            "namespace": namespace,
            "labels": {KEY_LABEL: "active"},
            "annotations": {"keelson.dev/created": pair["created"]},
        },
        "data": {
            "tls.crt": base64.b64encode(pair["certificate"].encode()).decode(),
            "tls.key": base64.b64encode(pair["key"].encode()).decode(),
        },
    }


def pair_from_secret(secret: dict[str, Any]) -> dict[str, str]:
    """A key pair from a controller key Secret (for backups of keys the controller made itself)."""
    data = secret.get("data") or {}
    certificate = base64.b64decode(data.get("tls.crt", "")).decode()
    key = base64.b64decode(data.get("tls.key", "")).decode()
    cert = load_certificate(certificate)
    created = (secret.get("metadata") or {}).get("creationTimestamp") or cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    pair = {"key": key, "certificate": certificate, "created": str(created), "id": key_id(cert.public_key())}
    check_key_pair(pair)
    return pair
