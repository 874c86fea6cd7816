# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""k3s' etcd snapshots copied to the platform's own MinIO (cluster.etcd_snapshots.minio_bucket, docs/day2.md): the
bucket and a MinIO user that may use only it; the Secret k3s reads in kube-system (--etcd-s3-config-secret) with
exactly the keys k3s reads, pointing at MinIO's ingress host with that user's key and the platform CA; sealed into
the tree beside MinIO, where both engines apply it."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from render_helpers import ca_of, documents, double_sealed, example_spec, fake_values

from ansible_collections.keelson.platform.plugins.module_utils._components import minio
from ansible_collections.keelson.platform.plugins.plugin_utils import _k3s, _render
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

BUCKET = "etcd-snapshots"
SECRET = ("kube-system", "k3s-etcd-snapshot-s3-config")
# The keys k3s reads from the Secret (k3s pkg/etcd/s3/config_secret.go, getConfigFromSecret); any other is ignored.
K3S_READS = {
    "etcd-s3-access-key",
    "etcd-s3-secret-key",
    "etcd-s3-bucket",
    "etcd-s3-endpoint",
    "etcd-s3-folder",
    "etcd-s3-proxy",
    "etcd-s3-region",
    "etcd-s3-timeout",
    "etcd-s3-skip-ssl-verify",
    "etcd-s3-insecure",
    "etcd-s3-endpoint-ca",
    "etcd-s3-endpoint-ca-name",
    "etcd-s3-bucket-lookup-type",
    "etcd-s3-session-token",
}


def _with_bucket(raw: dict[str, Any]) -> None:
    raw["cluster"].setdefault("etcd_snapshots", {})["minio_bucket"] = BUCKET


def _spec(engine: str = "argocd", issuer: str = "selfsigned") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    def changes(raw: dict[str, Any]) -> None:
        _with_bucket(raw)
        if issuer == "acme":
            raw["components"]["cert_manager"] = {"issuer": "acme", "acme_email": "ops@ml.example.internal"}

    return example_spec(engine, changes)


def test_k3s_is_given_the_bucket_at_minios_ingress_host_with_a_user_of_its_own_and_the_platform_ca() -> None:
    spec, nodes = _spec()
    platform = Platform(spec, nodes)
    secrets = _render.secrets_to_seal(spec, nodes, fake_values(spec))
    data = dict(secrets[SECRET].data)
    assert set(data) <= K3S_READS
    values = platform.unit("minio").values(platform)
    assert data["etcd-s3-endpoint"] == values["ingress"]["hosts"][0]  # HTTPS through Traefik, k3s' default port
    assert data["etcd-s3-bucket"] == BUCKET
    # The user MinIO makes: the Secret's access key, the secret key MinIO reads for it, a policy of that bucket alone.
    [user] = [user for user in values["users"] if user["accessKey"] == data["etcd-s3-access-key"]]
    assert data["etcd-s3-secret-key"] == secrets[("minio", user["existingSecret"])].data[user["existingSecretKey"]]
    [policy] = [policy for policy in values["policies"] if policy["name"] == user["policy"]]
    assert [resource for statement in policy["statements"] for resource in statement["resources"]] == [
        f"arn:aws:s3:::{BUCKET}",
        f"arn:aws:s3:::{BUCKET}/*",
    ]
    assert {"name": BUCKET, "policy": "none", "purge": False} in values["buckets"]
    # The CA that signs MinIO's ingress certificate, inline as k3s takes it.
    ca = x509.load_pem_x509_certificate(data["etcd-s3-endpoint-ca"].encode())
    assert ca == x509.load_pem_x509_certificate(ca_of(spec).encode())
    # config.yaml names this Secret.
    assert _k3s.config(spec, nodes, nodes[0])["etcd-s3-config-secret"] == SECRET[1]


def test_with_a_public_ca_k3s_uses_the_hosts_trust_store() -> None:
    spec, nodes = _spec(issuer="acme")
    data = _render.secrets_to_seal(spec, nodes, fake_values(spec))[SECRET].data
    assert "etcd-s3-endpoint-ca" not in data
    assert {"etcd-s3-endpoint", "etcd-s3-bucket", "etcd-s3-access-key", "etcd-s3-secret-key"} <= set(data)


@pytest.mark.parametrize("engine", ["argocd", "flux"])
def test_the_sealed_secret_goes_beside_minio_where_the_engine_applies_it_in_kube_system(engine: str) -> None:
    spec, nodes = _spec(engine)
    platform = Platform(spec, nodes)
    files = _render.render(spec, nodes, double_sealed(spec, nodes), ca_of(spec))
    found = [
        path
        for path, document in documents(files)
        if document["kind"] == "SealedSecret" and (document["metadata"]["namespace"], document["metadata"]["name"]) == SECRET
    ]
    [path] = found
    folder = path.rsplit("/", 1)[0]
    assert folder == platform.layout.manifests_dir("minio")
    if engine == "argocd":
        [project] = [
            document
            for _path, document in documents(files)
            if document["kind"] == "AppProject" and document["metadata"]["name"] == "platform"
        ]
        assert "kube-system" in {destination["namespace"] for destination in project["spec"]["destinations"]}
    else:
        # The Kustomization that applies the folder must not move the Secret into MinIO's namespace.
        applying = [
            document
            for _path, document in documents(files)
            if document["kind"] == "Kustomization" and document["spec"].get("path", "").strip("./").endswith(folder)
        ]
        assert applying, f"no Kustomization applies {folder}"
        assert all("targetNamespace" not in document["spec"] for document in applying)


def test_without_the_bucket_there_is_no_secret_user_or_bucket() -> None:
    spec, nodes = example_spec()
    platform = Platform(spec, nodes)
    assert SECRET not in _render.secrets_to_seal(spec, nodes, fake_values(spec))
    values = platform.unit("minio").values(platform)
    assert minio.ETCD_SNAPSHOTS_USER not in {user["accessKey"] for user in values["users"]}
    assert "etcd-s3-config-secret" not in _k3s.config(spec, nodes, nodes[0])
