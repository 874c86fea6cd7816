# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every credential the platform generates, how it is generated, and which Secrets in the cluster carry it.

Each credential is created once in the secrets backend and reused on every later run. The target Secrets
are what gets sealed into Git: a credential may go to several (the service that checks it and the team that
uses it), and a Secret may gather several credentials and plain settings.
"""

from __future__ import annotations

import dataclasses
import secrets
import string
from typing import Any, Callable, Final, Optional

from ansible_collections.keelson.platform.plugins.plugin_utils._secrets import ALPHABETS, Backend, SecretsError, generate

# Generators: what each kind of credential looks like.
KINDS: Final = ("alnum", "hex", "urlsafe", "access-key", "ssh-ed25519")
_ACCESS_KEY_CHARS: Final = string.ascii_uppercase + string.digits


def create(kind: str, length: int) -> str:
    """A new credential of ``kind`` from the OS's cryptographically strong source."""
    if kind in ALPHABETS:
        return generate(length, kind)
    if kind == "access-key":  # S3 access key ids: upper-case letters and digits, like AWS'
        return "".join(secrets.choice(_ACCESS_KEY_CHARS) for _index in range(length))
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


@dataclasses.dataclass(frozen=True)
class Target:
    """One key of one Secret in the cluster. With ``join``, several credentials share the key, comma-separated
    in the order of the spec (Weaviate reads all tenants' API keys from one variable)."""

    namespace: str
    secret: str
    key: str
    join: bool = False


@dataclasses.dataclass(frozen=True)
class Credential:
    name: str
    kind: str
    length: int
    why: str
    targets: tuple[Target, ...] = ()


def _oidc_clients(spec: dict[str, Any]) -> list[tuple[str, Optional[Target]]]:
    """(client id, the Secret its consumer reads the client secret from) for every confidential client."""
    components = spec["components"]
    clients: list[tuple[str, Optional[Target]]] = []
    if spec["gitops"]["engine"] == "argocd":
        clients.append(("argocd", Target("argocd", "argocd-oidc", "clientSecret")))
    if components["monitoring"]["enabled"]:
        clients.append(("grafana", Target("monitoring", "grafana-oidc", "client-secret")))
    if components["minio"]["enabled"]:
        clients.append(("minio", Target("minio", "minio-oidc", "clientSecret")))
    return clients


def credentials(spec: dict[str, Any]) -> list[Credential]:
    """Every credential the normalised spec calls for, in a stable order."""
    components = spec["components"]
    result = [Credential("k3s-token", "alnum", 48, "k3s cluster token (hosts only, never sealed)")]
    if components["minio"]["enabled"]:
        result.append(
            Credential("minio-root-password", "alnum", 40, "MinIO root user's password", (Target("minio", "minio-root", "rootPassword"),))
        )
    if components["keycloak"]["enabled"]:
        result.append(
            Credential(
                "keycloak-admin-password", "alnum", 32, "Keycloak's bootstrap admin", (Target("keycloak", "keycloak-admin", "password"),)
            )
        )
        for client, consumer in _oidc_clients(spec):
            targets = (Target("keycloak", "keycloak-oidc-clients", client),) + ((consumer,) if consumer else ())
            result.append(Credential(f"oidc-client-{client}", "alnum", 48, f"OIDC client secret of {client}", targets))
    if components["monitoring"]["enabled"]:
        result.append(
            Credential("grafana-admin-password", "alnum", 32, "Grafana's admin", (Target("monitoring", "grafana-admin", "admin-password"),))
        )
    if spec["gitops"]["repo"]["url"] == "embedded" or not spec["gitops"]["repo"]["url"].startswith("https://"):
        deploy = (
            Target("argocd", "repo-platform", "sshPrivateKey")
            if spec["gitops"]["engine"] == "argocd"
            else Target("flux-system", "flux-system", "identity")
        )
        result.append(Credential("gitops-deploy-key", "ssh-ed25519", 0, "SSH deploy key of the GitOps repository", (deploy,)))
    weaviate = components["weaviate"]
    if weaviate["enabled"] and weaviate["backup_bucket"] and components["minio"]["enabled"]:
        result.append(
            Credential(
                "weaviate-backup-s3-secret-key",
                "alnum",
                40,
                "S3 secret key Weaviate backs up with",
                (Target("weaviate", "weaviate-backup-s3", "AWS_SECRET_ACCESS_KEY"), Target("minio", "weaviate-backup-user", "secretKey")),
            )
        )
    for tenant in spec["tenants"]:
        name, home = tenant["name"], tenant["namespaces"][0]
        if tenant["buckets"] and components["minio"]["enabled"]:
            # The access key is the tenant's MinIO user name (not secret); the secret key is generated.
            result.append(
                Credential(
                    f"tenant-{name}-s3-secret-key",
                    "alnum",
                    40,
                    f"S3 secret key of tenant {name}",
                    (Target(home, "s3-credentials", "AWS_SECRET_ACCESS_KEY"), Target("minio", f"tenant-{name}-user", "secretKey")),
                )
            )
        if tenant["weaviate"] and weaviate["enabled"]:
            result.append(
                Credential(
                    f"tenant-{name}-weaviate-key",
                    "urlsafe",
                    40,
                    f"Weaviate API key of tenant {name}",
                    (
                        Target(home, "weaviate-api-key", "api-key"),
                        Target("weaviate", "weaviate-api-keys", "AUTHENTICATION_APIKEY_ALLOWED_KEYS", join=True),
                    ),
                )
            )
    return result


def s3_user(tenant: str) -> str:
    """A tenant's MinIO user, which is also its S3 access key."""
    return f"tenant-{tenant}"


WEAVIATE_BACKUP_USER: Final = "weaviate-backup"


def _plain(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, str]]:
    """Settings that are not secret but belong in the same Secrets as the credentials."""
    plain = {
        ("minio", "minio-root"): {"rootUser": "keelson-root"},
        ("keycloak", "keycloak-admin"): {"username": "keelson-admin"},
        ("monitoring", "grafana-admin"): {"admin-user": "keelson-admin"},
        ("weaviate", "weaviate-backup-s3"): {"AWS_ACCESS_KEY_ID": WEAVIATE_BACKUP_USER},
    }
    for tenant in spec["tenants"]:
        plain[(tenant["namespaces"][0], "s3-credentials")] = {"AWS_ACCESS_KEY_ID": s3_user(tenant["name"])}
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
    plain = _plain(spec)
    secrets_: dict[tuple[str, str], dict[str, str]] = {}
    for credential in credentials(spec):
        for target in credential.targets:
            data = secrets_.setdefault((target.namespace, target.secret), dict(plain.get((target.namespace, target.secret), {})))
            value = values[credential.name]
            data[target.key] = f"{data[target.key]},{value}" if target.join and target.key in data else value
    return dict(sorted(secrets_.items()))
