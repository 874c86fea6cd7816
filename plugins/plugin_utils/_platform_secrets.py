# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every credential the platform generates, how it is generated, and which Secrets in the cluster carry it.

Each credential is created once in the secrets backend and reused on every later run. The target Secrets
are what gets sealed into Git: a credential may go to several (the service that checks it and the team that
uses it), and a Secret may gather several credentials and plain settings.
"""

from __future__ import annotations

import secrets
import string
from typing import Any, Callable, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils._components._unit import (
    CERTIFICATE,
    DEPLOY_KEY,
    K3S_TOKEN,
    KNOWN_HOSTS,
    PLATFORM_CA,
    PRIVATE_KEY,
    WRITE_KEY,
    Credential,
    Target,
)
from ansible_collections.keelson.platform.plugins.module_utils._formats import repo_url_scheme
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform
from ansible_collections.keelson.platform.plugins.plugin_utils._secrets import ALPHABETS, Backend, SecretsError, generate

__all__ = [
    "KINDS",
    "Credential",
    "Target",
    "ca_certificate",
    "create",
    "credentials",
    "ensure",
    "part_of",
    "pinned_host_keys",
    "public_keys",
    "ssh_public_key",
    "target_secrets",
]

# Generators: what each kind of credential looks like.
KINDS: Final = ("alnum", "hex", "urlsafe", "access-key", "ssh-ed25519", PLATFORM_CA)
_ACCESS_KEY_CHARS: Final = string.ascii_uppercase + string.digits
_CA_YEARS: Final = 10
_BEGIN_KEY: Final = "-----BEGIN PRIVATE KEY-----"
# The comment of each SSH key's public half (what authorized_keys shows); others are "keelson-<name>".
SSH_KEY_COMMENTS: Final = {DEPLOY_KEY: "keelson-deploy", WRITE_KEY: "keelson-write"}


def _platform_ca() -> str:
    """A self-signed ECDSA P-256 CA, valid for ten years: its certificate PEM, then its PKCS#8 private key PEM."""
    import datetime  # noqa: PLC0415 - only this kind needs them

    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "keelson"), x509.NameAttribute(NameOID.COMMON_NAME, "keelson platform CA")]
    )
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=365 * _CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return cert_pem + key_pem


def part_of(value: str, part: str) -> str:
    """One part of a credential's value: ``certificate`` or ``private-key`` of a CA bundle, or the whole value."""
    if not part:
        return value
    cut = value.find(_BEGIN_KEY)
    if cut <= 0 or part not in (CERTIFICATE, PRIVATE_KEY):
        raise SecretsError(
            f"cannot take the {part} out of a credential that is not a certificate followed by its private key; "
            "remove the damaged entry from the secrets backend and run the secrets playbook to create it anew"
        )
    return value[:cut] if part == CERTIFICATE else value[cut:]


def create(kind: str, length: int) -> str:
    """A new credential of ``kind`` from the OS's cryptographically strong source."""
    if kind in ALPHABETS:
        return generate(length, kind)
    if kind == "access-key":  # S3 access key ids: upper-case letters and digits, like AWS'
        return "".join(secrets.choice(_ACCESS_KEY_CHARS) for _index in range(length))
    if kind == PLATFORM_CA:
        return _platform_ca()
    if kind == "ssh-ed25519":
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415 - only this kind needs it
        from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

        key = ed25519.Ed25519PrivateKey.generate()
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()
    raise SecretsError(f"unknown kind of credential {kind!r} (known: {', '.join(KINDS)})")


def ssh_public_key(private_key: str, comment: str = "keelson") -> str:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    key = serialization.load_ssh_private_key(private_key.encode(), password=None)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{public} {comment}"


def credentials(spec: dict[str, Any]) -> list[Credential]:
    """Every credential the normalised spec calls for, in a stable order: the hosts' cluster token, the GitOps
    repository's deploy key (and the embedded server's write key), each enabled unit's (registry order), then each
    tenant's."""
    platform = Platform(spec, [])
    result = [Credential(K3S_TOKEN, "alnum", 48, "k3s cluster token (hosts only, never sealed)")]
    scheme = repo_url_scheme(platform.spec.gitops.repo.url)
    if scheme != "https":
        key = platform.engine.deploy_key()
        result.append(Credential(DEPLOY_KEY, "ssh-ed25519", 0, "read-only SSH deploy key of the GitOps repository", (key,)))
    if scheme == "embedded":
        result.append(Credential(WRITE_KEY, "ssh-ed25519", 0, "SSH key Ansible pushes to the embedded Git server with (never sealed)"))
    for unit in platform.units:
        result += unit.credentials(platform)
    for tenant in platform.spec.tenants:
        for unit in platform.units:
            result += unit.tenant_credentials(platform, tenant)
    return result


def public_keys(spec: dict[str, Any], values: dict[str, str]) -> dict[str, str]:
    """The public half (an OpenSSH ``authorized_keys`` line) of every SSH key credential, by credential name.
    Public keys are not secret; ``values`` (the private keys) never leave this function."""
    return {
        credential.name: ssh_public_key(values[credential.name], SSH_KEY_COMMENTS.get(credential.name, f"keelson-{credential.name}"))
        for credential in credentials(spec)
        if credential.kind == "ssh-ed25519"
    }


def _plain(platform: Platform) -> dict[tuple[str, str], dict[str, str]]:
    """Settings that are not secret but belong in the same Secrets as the credentials."""
    plain: dict[tuple[str, str], dict[str, str]] = {}
    for unit in platform.units:
        plain.update(unit.plain(platform))
    return plain


def _creator(credential: Credential) -> Callable[[], str]:
    return lambda: create(credential.kind, credential.length)


def ensure(backend: Backend, spec: dict[str, Any], check_mode: bool) -> tuple[dict[str, str], list[str]]:
    """Every credential's value (created now when missing) and the names created."""
    values: dict[str, str] = {}
    created: list[str] = []
    for credential in credentials(spec):
        value, new = backend.get_or_create(credential.name, _creator(credential), check_mode=check_mode)
        values[credential.name] = value
        if new:
            created.append(credential.name)
    return values, created


def target_secrets(spec: dict[str, Any], values: dict[str, str]) -> dict[tuple[str, str], dict[str, str]]:
    """(namespace, Secret name) -> its data, for every Secret the credentials go to."""
    plain = _plain(Platform(spec, []))
    secrets_: dict[tuple[str, str], dict[str, str]] = {}
    for credential in credentials(spec):
        for target in credential.targets:
            data = secrets_.setdefault((target.namespace, target.secret), dict(plain.get((target.namespace, target.secret), {})))
            value = part_of(values[credential.name], target.part)
            data[target.key] = f"{data[target.key]},{value}" if target.join and target.key in data else value
    return dict(sorted(secrets_.items()))


def pinned_host_keys(backend: Backend) -> tuple[str, ...]:
    """The embedded Git server's host keys as pinned in the backend (known_hosts lines), or none yet."""
    text = backend.get(KNOWN_HOSTS)
    return tuple(line for line in (text or "").splitlines() if line.strip())


def ca_certificate(spec: dict[str, Any], values: dict[str, str]) -> Optional[str]:
    """The platform CA's certificate (PEM) that every OIDC consumer trusts, from the credentials' ``values``;
    None when the platform has no private CA (ACME, or no cert-manager)."""
    for credential in credentials(spec):
        if credential.kind == PLATFORM_CA:
            return part_of(values[credential.name], CERTIFICATE)
    return None
