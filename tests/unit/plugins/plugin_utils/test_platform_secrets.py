# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every platform credential: which the spec calls for, how each is generated, where each goes."""

from __future__ import annotations

import copy
import shutil
import string
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from spec_cases import BASE_SPEC

from ansible_collections.keelson.platform.plugins.module_utils._spec import validate_platform
from ansible_collections.keelson.platform.plugins.plugin_utils import _platform_secrets as platform
from ansible_collections.keelson.platform.plugins.plugin_utils._secrets import SecretsError, VaultFileBackend


def spec(**changes: object) -> dict:  # type: ignore[type-arg]
    raw = copy.deepcopy(BASE_SPEC)
    raw.update(changes)
    return validate_platform(raw).spec


def test_credentials_of_a_full_platform() -> None:
    names = [credential.name for credential in platform.credentials(spec())]
    assert names == [
        "k3s-token",
        "gitops-deploy-key",
        "gitops-write-key",
        "platform-ca",
        "grafana-admin-password",
        "minio-root-password",
        "keycloak-admin-password",
        "oidc-client-argocd",
        "oidc-client-grafana",
        "oidc-client-minio",
        "oidc-client-argo-workflows",
        "keycloak-backup-s3-secret-key",
        "mlflow-admin-password",
        "mlflow-flask-secret-key",
        "weaviate-admin-api-key",
        "weaviate-cluster-api-password",
        "weaviate-backup-s3-secret-key",
        "tenant-vision-s3-secret-key",
        "tenant-vision-mlflow-password",
        "tenant-vision-weaviate-key",
        "tenant-nlp-s3-secret-key",
        "tenant-nlp-mlflow-password",
    ]


def test_credentials_follow_the_spec() -> None:
    off = {"enabled": False}
    minimal = spec(
        components=dict.fromkeys(("minio", "weaviate", "monitoring", "keycloak", "mlflow"), off),
        tenants=[{"name": "vision"}],
        gitops={"engine": "flux", "repo": {"url": "https://git.example.internal/ml.git"}},
    )
    # The platform CA signs the ingress certificates even without an OIDC issuer; ACME needs none.
    assert [credential.name for credential in platform.credentials(minimal)] == ["k3s-token", "platform-ca"]
    acme = spec(components={"cert_manager": {"issuer": "acme", "acme_email": "ops@example.internal"}})
    assert "platform-ca" not in [credential.name for credential in platform.credentials(acme)]
    flux_ssh = spec(gitops={"engine": "flux", "repo": {"url": "git@git.example.internal:ml.git"}})
    deploy = next(c for c in platform.credentials(flux_ssh) if c.name == "gitops-deploy-key")
    assert deploy.targets == (platform.Target("flux-system", "flux-system", "identity"),)


@pytest.mark.parametrize(
    ("kind", "length", "alphabet"),
    [
        ("alnum", 40, string.ascii_letters + string.digits),
        ("access-key", 20, string.ascii_uppercase + string.digits),
        ("urlsafe", 40, string.ascii_letters + string.digits + "-_"),
    ],
)
def test_generators(kind: str, length: int, alphabet: str) -> None:
    value = platform.create(kind, length)
    assert len(value) == length and set(value) <= set(alphabet)


def test_ssh_deploy_key() -> None:
    private = platform.create("ssh-ed25519", 0)
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    serialization.load_ssh_private_key(private.encode(), password=None)
    assert platform.ssh_public_key(private).startswith("ssh-ed25519 ")
    with pytest.raises(SecretsError, match="unknown kind of credential"):
        platform.create("rot13", 10)


@pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="needs OpenSSH's ssh-keygen")
def test_public_keys_are_the_halves_of_the_ssh_credentials(file_backend: VaultFileBackend, tmp_path: Path) -> None:
    full = spec()
    values, _created = platform.ensure(file_backend, full, False)
    public = platform.public_keys(full, values)
    assert sorted(public) == ["gitops-deploy-key", "gitops-write-key"]
    for name, comment in (("gitops-deploy-key", "keelson-deploy"), ("gitops-write-key", "keelson-write")):
        key_file = tmp_path / name
        key_file.write_text(values[name])
        key_file.chmod(0o600)
        # OpenSSH derives the same public key from the stored private key.
        derived = subprocess.run(["ssh-keygen", "-y", "-f", str(key_file)], capture_output=True, text=True, check=True).stdout.split()
        assert public[name].split() == [*derived[:2], comment]
        assert "PRIVATE" not in public[name]
    external = spec(gitops={"repo": {"url": "https://git.example.internal/ml.git"}})
    assert platform.public_keys(external, platform.ensure(file_backend, external, True)[0]) == {}


def test_created_once_and_grouped_into_target_secrets(file_backend: VaultFileBackend) -> None:
    full = spec()
    values, created = platform.ensure(file_backend, full, False)
    assert created == [credential.name for credential in platform.credentials(full)]
    again, created_again = platform.ensure(file_backend, full, False)
    assert again == values and created_again == []
    targets = platform.target_secrets(full, values)
    assert targets[("minio", "minio-root")] == {"rootUser": "keelson-root", "rootPassword": values["minio-root-password"]}
    assert targets[("vision", "s3-credentials")] == {
        "AWS_ACCESS_KEY_ID": "tenant-vision",
        "AWS_SECRET_ACCESS_KEY": values["tenant-vision-s3-secret-key"],
    }
    assert targets[("keycloak", "keycloak-oidc-clients")] == {
        "argocd": values["oidc-client-argocd"],
        "grafana": values["oidc-client-grafana"],
        "minio": values["oidc-client-minio"],
        "argo-workflows": values["oidc-client-argo-workflows"],
    }
    # Argo Workflows' server reads its client's id and secret from one Secret (the chart's server.sso defaults).
    assert targets[("argo", "argo-server-sso")] == {"client-id": "argo-workflows", "client-secret": values["oidc-client-argo-workflows"]}
    # keelson's own root key first: the chart's AUTHENTICATION_APIKEY_USERS names keelson_admin first.
    assert targets[("weaviate", "weaviate-api-keys")] == {
        "AUTHENTICATION_APIKEY_ALLOWED_KEYS": f"{values['weaviate-admin-api-key']},{values['tenant-vision-weaviate-key']}"
    }
    assert targets[("weaviate", "weaviate-admin")] == {"api-key": values["weaviate-admin-api-key"]}
    # The Secret the weaviate chart would otherwise generate at random (no cluster lookup under Argo CD).
    assert targets[("weaviate", "weaviate-cluster-api-basic-auth")] == {
        "username": "weaviate-cluster",
        "password": values["weaviate-cluster-api-password"],
    }
    assert targets[("weaviate", "weaviate-backup-s3")] == {
        "AWS_ACCESS_KEY_ID": "weaviate-backup",
        "AWS_SECRET_ACCESS_KEY": values["weaviate-backup-s3-secret-key"],
    }
    assert all(ns != "" for ns, _name in targets)
    assert not any(name == "k3s-token" for _ns, name in targets)
