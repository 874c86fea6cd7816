# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sealed Secrets, offline: kubeseal's wire format, stable re-sealing, and the controller's key pair.

Wire format of one value (what kubeseal writes and the controller reads):
``uint16_be(len(rsa_ct)) || rsa_ct || aes_gcm_ct_with_tag``, standard base64, where a fresh 32-byte session
key is encrypted with RSA-OAEP (SHA-256, MGF1-SHA-256) under the scope's label (``namespace/name``,
``namespace`` or empty) and the value with AES-256-GCM under that key and a 12-byte zero nonce.

Sealing is randomised, so re-sealing every run would change Git every run. :func:`seal` keeps each value's
ciphertext when its plaintext, scope and sealing key are unchanged; only what changed is sealed again. It
recognises an unchanged value in one of two ways:

- by its *digest*: with a digest key (32 random bytes kept in the secrets backend, never in Git), each value's
  ciphertext is recorded beside an HMAC-SHA256 over (sealing key id, scope label, data key, plaintext,
  ciphertext), in the SealedSecret's own ``metadata.annotations`` (the controller copies only
  ``spec.template.metadata`` into the Secret). A matching digest proves, without any RSA operation, that this
  ciphertext was sealed from this plaintext under the active key; a digest made with the same digest key that
  does not match means the value changed. The digest is keyed and covers the random ciphertext, so it is never
  a bare hash of the plaintext and equal values do not look equal.
- by unsealing: where there is no digest, or it was made with another digest key (a tree from before digests,
  a new digest key), the private key opens the previous value and compares (old trees keep working).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import hashlib
import hmac
import json
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
DIGESTS_ANNOTATION: Final = "keelson.dev/sealed-digests"
DIGEST_KEY_ANNOTATION: Final = "keelson.dev/sealed-digest-key"
DIGEST_KEY_BYTES: Final = 32
_DIGEST_CONTEXT: Final = b"keelson sealed value digest v1"
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


@functools.lru_cache(maxsize=64)
def certificate_id(pem: str) -> str:
    """:func:`key_id` of a sealing certificate's public key. (Once per process and certificate.)"""
    return key_id(load_certificate(pem).public_key())


# ------------------------------------------------------------------------------------------ digests


def generate_digest_key() -> str:
    """A new digest key, as the backend stores it: 32 random bytes, base64."""
    return base64.b64encode(os.urandom(DIGEST_KEY_BYTES)).decode()


def parse_digest_key(text: str) -> bytes:
    """The digest key from its stored form; an entry that is not 32 bytes of base64 is an error, not a guess."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != DIGEST_KEY_BYTES:
        raise SealingError(f"the sealed-value digest key in the secrets backend is not {DIGEST_KEY_BYTES} bytes of base64")
    return key


def digest_key_id(digest_key: bytes) -> str:
    """Which digest key made a digest: an HMAC of a constant under it (says nothing about the key)."""
    return hmac.new(digest_key, _DIGEST_CONTEXT + b" key id", hashlib.sha256).hexdigest()[:16]


def value_digest(digest_key: bytes, sealing_key_id: str, oaep_label: bytes, data_key: str, plaintext: bytes, ciphertext: str) -> str:  # noqa: PLR0917 - the fields one digest binds
    """HMAC-SHA256 binding one ciphertext to its plaintext, scope label, data key and sealing key."""
    parts = (_DIGEST_CONTEXT, sealing_key_id.encode(), oaep_label, data_key.encode(), plaintext, ciphertext.encode())
    message = b"".join(struct.pack(">I", len(part)) + part for part in parts)
    return hmac.new(digest_key, message, hashlib.sha256).hexdigest()


def recorded_digests(manifest_: Optional[dict[str, Any]], digest_key: Optional[bytes]) -> dict[str, str]:
    """Data key -> digest recorded on a previous SealedSecret, when ``digest_key`` made them ({} otherwise)."""
    if not manifest_ or digest_key is None:
        return {}
    annotations = (manifest_.get("metadata") or {}).get("annotations") or {}
    if annotations.get(DIGEST_KEY_ANNOTATION) != digest_key_id(digest_key):
        return {}
    try:
        digests = json.loads(str(annotations.get(DIGESTS_ANNOTATION, "")))
    except ValueError:
        return {}
    if not isinstance(digests, dict):
        return {}
    return {str(key): value for key, value in digests.items() if isinstance(value, str)}


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
    digest_key: Optional[bytes] = None,
) -> tuple[dict[str, Any], list[str]]:
    """A complete SealedSecret, and the data keys whose ciphertext is new (added or changed).

    A value of ``previous`` is kept when it was sealed with the *sealing certificate*'s key, with the same
    scope, from the same plaintext: proven by its digest when ``digest_key`` made one, else by opening it with
    that key's private key (one of ``private_keys``). So rotating the key re-seals everything with the new one.
    With ``digest_key``, the result records a digest of every value.
    """
    check_names(name, namespace, scope, list(data))
    public_key = load_certificate(certificate).public_key()
    sealing_id = certificate_id(certificate)
    oaep_label = label(scope, namespace, name)
    old: dict[str, str] = {}
    if previous and _scope_of(previous) == scope:
        old = dict((previous.get("spec") or {}).get("encryptedData") or {})
    recorded = recorded_digests(previous, digest_key) if old else {}
    openers: list[Any] = []  # the sealing key's private key, loaded only when a value has no usable digest

    def opened(value: str) -> Optional[bytes]:
        if not openers:
            matching = [key for key in map(load_private_key, private_keys or []) if key_id(key.public_key()) == sealing_id]
            openers.append(matching[-1] if matching else None)
        return None if openers[0] is None else decrypt_value(openers[0], value, oaep_label)

    encrypted: dict[str, str] = {}
    digests: dict[str, str] = {}
    changed: list[str] = []
    for key_name in sorted(data):
        plaintext = data[key_name].encode()
        kept = old.get(key_name)
        if kept is not None and key_name in recorded:
            # A digest made with this digest key decides alone: it matches only this plaintext, label and key.
            keep = digest_key is not None and hmac.compare_digest(
                recorded[key_name], value_digest(digest_key, sealing_id, oaep_label, key_name, plaintext, kept)
            )
        else:
            keep = kept is not None and opened(kept) == plaintext
        if keep and kept is not None:
            encrypted[key_name] = kept
        else:
            encrypted[key_name] = encrypt_value(public_key, plaintext, oaep_label)
            changed.append(key_name)
        if digest_key is not None:
            digests[key_name] = value_digest(digest_key, sealing_id, oaep_label, key_name, plaintext, encrypted[key_name])
    result = manifest(name, namespace, encrypted, scope, secret_type, labels or {}, annotations or {})
    if digest_key is not None:
        record_digests(result, digests, digest_key_id(digest_key))
    return result, changed


def record_digests(manifest_: dict[str, Any], digests: dict[str, str], digest_key_id_: str) -> None:
    """Put the values' digests on the SealedSecret's own metadata (never on the Secret's template)."""
    annotations = dict(manifest_["metadata"].get("annotations") or {})
    annotations[DIGESTS_ANNOTATION] = json.dumps(digests, sort_keys=True, separators=(",", ":"))
    annotations[DIGEST_KEY_ANNOTATION] = digest_key_id_
    manifest_["metadata"]["annotations"] = dict(sorted(annotations.items()))


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
