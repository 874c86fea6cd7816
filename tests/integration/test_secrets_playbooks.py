# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""secrets.yml (with render.yml, which seals), backup_sealing_keys.yml and restore_sealing_keys.yml as users run them."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from integration_helpers import REPO, Runner

sys.path.insert(0, str(REPO / "tests" / "vault-double"))

from kv2_double import VaultDouble

from ansible_collections.keelson.platform.plugins.module_utils._sealing import DIGESTS_ANNOTATION, unseal

pytestmark = pytest.mark.slow


def backend_values(ansible: Runner, inventory: Path, password: Path) -> dict[str, str]:
    view = ansible("ansible-vault", "view", str(inventory / ".keelson-secrets.vault.yml"), f"--vault-password-file={password}")
    assert view.returncode == 0, view.stderr
    return {str(key): str(value) for key, value in yaml.safe_load(view.stdout).items()}


def test_generate_and_seal_everything_without_leaking(ansible: Runner, tmp_path: Path, inventory: Path, password: Path) -> None:
    dest = tmp_path / "gitops"
    common = ("-i", str(inventory), "-vvv", f"--vault-password-file={password}")
    secrets = ("ansible-playbook", "keelson.platform.secrets", *common)
    render = ("ansible-playbook", "keelson.platform.render", *common, "-e", f"keelson_render_dir={dest}", "-e", "keelson_render_force=true")
    first = ansible(*secrets)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    rendered = ansible(*render)
    assert rendered.returncode == 0, rendered.stdout[-3000:] + rendered.stderr[-2000:]
    values = backend_values(ansible, inventory, password)
    pairs = json.loads(values.pop("sealed-secrets-keys"))
    digest_key = values.pop("sealed-secrets-digest-key")
    secrets_ = list(values.values()) + [pair["key"] for pair in pairs] + [digest_key, base64.b64decode(digest_key).hex()]
    assert len(values) == 22, sorted(values)  # names only: never print a value (the write key is one of them)
    # The platform CA: its certificate is public and rendered where consumers trust it; its key is a secret.
    ca_certificate, ca_key = values["platform-ca"].split("-----BEGIN PRIVATE KEY-----")
    # The leak scan: no secret (nor a private key's body) in the output or in any file outside the backend.
    needles = [secret for secret in secrets_ if len(secret) >= 16] + [line for pair in pairs for line in pair["key"].splitlines()[1:3]]
    needles += ca_key.splitlines()[1:3]
    written = [path for path in tmp_path.rglob("*") if path.is_file() and path.name != ".keelson-secrets.vault.yml"]
    assert any(path.suffix == ".yaml" for path in written)
    for needle in needles:
        for result in (first, rendered):
            assert needle not in result.stdout and needle not in result.stderr
        for path in written:
            assert needle not in path.read_text(errors="ignore"), path
    weaviate = (dest / "platform" / "weaviate" / "values.yaml").read_text()
    assert yaml.safe_load(weaviate.split("---\n", 1)[-1])["env"]["AUTHENTICATION_OIDC_CERTIFICATE"] == ca_certificate
    # What was sealed opens with the platform's key and holds exactly the backend's values, with keyed digests
    # (never a bare hash of a value) on the SealedSecret.
    minio = yaml.safe_load((dest / "platform" / "minio" / "manifests" / "sealedsecret-minio-root.yaml").read_text().split("---\n", 1)[1])
    assert unseal(minio, [pair["key"] for pair in pairs]) == {"rootUser": "keelson-root", "rootPassword": values["minio-root-password"]}
    digests = json.loads(minio["metadata"]["annotations"][DIGESTS_ANNOTATION])
    assert set(digests) == {"rootUser", "rootPassword"}
    assert hashlib.sha256(values["minio-root-password"].encode()).hexdigest() not in digests.values()
    # Second runs change nothing: same backend, byte-identical tree.
    before = {path: path.read_bytes() for path in dest.rglob("*") if path.is_file()}
    for args in (secrets, render):
        again = ansible(*args)
        assert again.returncode == 0
        assert re.search(r"localhost\s+: ok=\d+\s+changed=0", again.stdout)
    assert {path: path.read_bytes() for path in dest.rglob("*") if path.is_file()} == before
    assert backend_values(ansible, inventory, password) == {
        **values,
        "sealed-secrets-keys": json.dumps(pairs, sort_keys=True),
        "sealed-secrets-digest-key": digest_key,
    }


def test_the_removed_sealed_dir_is_refused(ansible: Runner, tmp_path: Path, inventory: Path, password: Path) -> None:
    args = ("-i", str(inventory), f"--vault-password-file={password}", "-e", f"keelson_sealed_dir={tmp_path / 'sealed'}")
    result = ansible("ansible-playbook", "keelson.platform.secrets", *args)
    assert result.returncode != 0
    assert "keelson_sealed_dir is gone" in " ".join(result.stdout.split())
    assert not (inventory / ".keelson-secrets.vault.yml").exists() and not (tmp_path / "sealed").exists()


def test_backup_wipe_restore(ansible: Runner, tmp_path: Path, inventory: Path, password: Path) -> None:
    dest = tmp_path / "gitops"
    common = ("-i", str(inventory), f"--vault-password-file={password}")
    assert ansible("ansible-playbook", "keelson.platform.secrets", *common).returncode == 0
    assert (
        ansible(
            "ansible-playbook", "keelson.platform.render", *common, "-e", f"keelson_render_dir={dest}", "-e", "keelson_render_force=true"
        ).returncode
        == 0
    )
    bundle = tmp_path / "backup" / "leakcheck-keys.vault.yml"
    backup = ansible(
        "ansible-playbook",
        "keelson.platform.backup_sealing_keys",
        *common,
        "-e",
        f"keelson_keys_bundle={bundle}",
        "-e",
        f"keelson_kubeconfig={tmp_path / 'no-cluster.yaml'}",
    )
    assert backup.returncode == 0, backup.stdout[-3000:]
    assert "(no kubeconfig: backend keys only)" in " ".join(backup.stdout.split())
    assert bundle.stat().st_mode & 0o777 == 0o600
    (inventory / ".keelson-secrets.vault.yml").unlink()  # the rebuild lost the backend
    restore = ansible(
        "ansible-playbook",
        "keelson.platform.restore_sealing_keys",
        *common,
        "-e",
        f"keelson_keys_bundle={bundle}",
        "-e",
        f"keelson_kubeconfig={tmp_path / 'no-cluster.yaml'}",
    )
    assert restore.returncode == 0, restore.stdout[-3000:]
    pairs = json.loads(backend_values(ansible, inventory, password)["sealed-secrets-keys"])
    grafana_file = dest / "platform" / "monitoring" / "manifests" / "sealedsecret-grafana-admin.yaml"
    grafana = yaml.safe_load(grafana_file.read_text().split("---\n", 1)[1])
    assert set(unseal(grafana, [pair["key"] for pair in pairs])) == {"admin-user", "admin-password"}


def test_missing_vault_password_writes_nothing(ansible: Runner, tmp_path: Path, inventory: Path) -> None:
    result = ansible("ansible-playbook", "keelson.platform.secrets", "-i", str(inventory))
    assert result.returncode != 0
    assert "needs a vault password: pass --vault-password-file" in " ".join((result.stdout + result.stderr).split())
    assert not (inventory / ".keelson-secrets.vault.yml").exists()


def test_hashicorp_vault_backend_through_the_playbook(ansible: Runner, tmp_path: Path, inventory: Path) -> None:
    double = VaultDouble(token="integration-token")
    url = double.start()
    try:
        settings = {"backend": "hashicorp_vault", "hashicorp_vault": {"url": url, "path": "keelson/leakcheck"}}
        overrides = tmp_path / "vault.yml"
        overrides.write_text(yaml.safe_dump({"keelson_test_secrets": settings}))
        args = (
            "ansible-playbook",
            "keelson.platform.secrets",
            "-i",
            str(inventory),
            "-e",
            f"@{overrides}",
        )
        result = ansible(*args, env={"VAULT_TOKEN": "integration-token"})
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        token = double.value("secret", "keelson/leakcheck/k3s-token")
        assert token and len(token) == 48
        assert token not in result.stdout
        assert json.loads(double.value("secret", "keelson/leakcheck/sealed-secrets-keys") or "[]")
        again = ansible(*args, env={"VAULT_TOKEN": "integration-token"})
        assert "changed=0" in again.stdout
        assert double.value("secret", "keelson/leakcheck/k3s-token") == token
        denied = ansible(*args, env={"VAULT_TOKEN": "wrong"})
        assert denied.returncode != 0
        assert "permission denied" in " ".join((denied.stdout + denied.stderr).split())
    finally:
        double.stop()
