# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Identity and TLS: Keycloak's database, the realm's scopes and import, and the platform CA every OIDC
consumer trusts (issue 9, items 1 to 3)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from render_helpers import TEST_CA, ca_of, example_parts, example_spec, fake_values, render_example
from spec_cases import BASE_NODES, BASE_SPEC

from ansible_collections.keelson.platform.plugins.module_utils._components import keycloak
from ansible_collections.keelson.platform.plugins.module_utils._engines import Part
from ansible_collections.keelson.platform.plugins.module_utils._problems import SpecError
from ansible_collections.keelson.platform.plugins.module_utils._spec import validate_platform
from ansible_collections.keelson.platform.plugins.plugin_utils import _k3s, _render
from ansible_collections.keelson.platform.plugins.plugin_utils import _platform_secrets as platform_secrets
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

ENGINES = ("argocd", "flux")


def _part(parts: list[Part], name: str) -> Part:
    return next(part for part in parts if part.unit.name == name)


def _manifest(part: Part, kind: str) -> dict[str, Any]:
    return next(document for document in part.manifests if document["kind"] == kind)


def _keycloak(changes: Any = None) -> Part:
    return _part(example_parts("argocd", changes), "keycloak")


def _no_minio(raw: dict[str, Any]) -> None:
    raw["components"]["minio"] = {"enabled": False}
    raw["components"].setdefault("weaviate", {})["backup_bucket"] = None
    for tenant in raw["tenants"]:
        tenant.pop("buckets", None)


def _set(path: str, value: Any) -> Any:
    def change(raw: dict[str, Any]) -> None:
        node = raw
        *parents, last = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    return change


# ------------------------------------------------------------------------------------ 1. the database


@pytest.mark.parametrize("component", ["keycloak", "mlflow"])
@pytest.mark.parametrize(("instances", "budget"), [(1, False), (3, None)])
def test_a_single_instance_database_has_no_disruption_budget_that_would_stop_every_drain(
    component: str, instances: int, budget: Any
) -> None:
    """CloudNativePG's primary PodDisruptionBudget (minAvailable 1) refuses the eviction of a lone instance: the
    drain of its node in upgrade.yml and remove_node.yml would time out. With replicas the budgets stay."""
    parts = example_parts("argocd", _set(f"components.{component}.database", {"instances": instances}))
    cluster = _manifest(_part(parts, component), "Cluster")
    assert cluster["spec"]["instances"] == instances
    assert cluster["spec"].get("enablePDB") is budget


def test_keycloak_runs_on_a_cloudnative_pg_cluster_of_the_specs_size() -> None:
    part = _keycloak(_set("components.keycloak.database", {"instances": 5, "storage": "30Gi"}))
    cluster = _manifest(part, "Cluster")
    assert cluster["metadata"]["namespace"] == "keycloak"
    assert cluster["spec"]["instances"] == 5
    assert cluster["spec"]["storage"] == {"size": "30Gi"}
    assert cluster["spec"]["bootstrap"]["initdb"] == {"database": "keycloak", "owner": "keycloak"}
    # The keycloakx chart's database values: postgres at the cluster's read-write service, the password from
    # the Secret the operator writes (<cluster>-app, key password), the user the operator created.
    name = cluster["metadata"]["name"]
    assert part.values["database"] == {
        "vendor": "postgres",
        "hostname": f"{name}-rw",
        "port": 5432,
        "database": "keycloak",
        "username": cluster["spec"]["bootstrap"]["initdb"]["owner"],
        "existingSecret": f"{name}-app",
        "existingSecretKey": "password",
    }
    assert "dev-file" not in json.dumps(part.values)


def test_keycloak_waits_for_the_operator_and_for_minio_when_it_backs_up_there() -> None:
    part = _keycloak()
    assert "cloudnative-pg" in part.depends_on and "minio" in part.depends_on
    no_minio = _keycloak(_no_minio)
    assert "cloudnative-pg" in no_minio.depends_on and "minio" not in no_minio.depends_on
    parts = example_parts("argocd")
    waves = {part.unit.name: part.wave for part in parts}
    assert waves["cloudnative-pg"] < waves["keycloak"] and waves["minio"] < waves["keycloak"]


def test_keycloak_backs_up_to_minio_with_the_operators_own_barman_support() -> None:
    parts = example_parts("argocd")
    part = _part(parts, "keycloak")
    cluster = _manifest(part, "Cluster")
    store = cluster["spec"]["backup"]["barmanObjectStore"]
    assert store["destinationPath"] == "s3://keycloak-backups/"
    assert store["endpointURL"] == "http://minio.minio.svc.cluster.local:9000"
    credentials = store["s3Credentials"]
    scheduled = _manifest(part, "ScheduledBackup")
    assert scheduled["spec"]["cluster"] == {"name": cluster["metadata"]["name"]}
    # MinIO creates the bucket and a user of its own for it, whose secret key is the one the Cluster reads.
    minio = _part(parts, "minio").values
    assert {"name": "keycloak-backups", "policy": "none", "purge": False} in minio["buckets"]
    user = next(user for user in minio["users"] if user["accessKey"] == keycloak.BACKUP_USER)
    spec, nodes = example_spec("argocd")
    secrets = _render.secrets_to_seal(spec, nodes, fake_values(spec))
    backup = secrets[("keycloak", credentials["secretAccessKey"]["name"])].data
    assert backup[credentials["accessKeyId"]["key"]] == keycloak.BACKUP_USER
    assert backup[credentials["secretAccessKey"]["key"]] == secrets[("minio", user["existingSecret"])].data["secretKey"]


@pytest.mark.parametrize(
    "change",
    [_no_minio, _set("components.keycloak.database", {"backup_bucket": None})],
    ids=["no-minio", "backups-off"],
)
def test_no_backups_without_minio_or_a_bucket(change: Any) -> None:
    part = _keycloak(change)
    assert "backup" not in _manifest(part, "Cluster")["spec"]
    assert not [document for document in part.manifests if document["kind"] == "ScheduledBackup"]


def _problems(components: dict[str, Any]) -> str:
    spec = copy.deepcopy(BASE_SPEC)
    spec["components"] = components
    with pytest.raises(SpecError) as error:
        validate_platform(spec, copy.deepcopy(BASE_NODES))
    return str(error.value)


def test_keycloak_needs_the_operator() -> None:
    message = _problems({"cloudnative_pg": {"enabled": False}})
    assert (
        "components.keycloak.enabled: needs components.cloudnative_pg.enabled (Keycloak's database is a CloudNativePG cluster)" in message
    )


def test_the_backup_bucket_is_claimed_like_any_other() -> None:
    bucket = BASE_SPEC["tenants"][0]["buckets"][0]
    message = _problems({"keycloak": {"database": {"backup_bucket": bucket}}})
    assert "components.keycloak.database.backup_bucket" in message and bucket in message, message


# ---------------------------------------------------------------------------------- the realm import


def _job(changes: Any = None) -> dict[str, Any]:
    return _manifest(_keycloak(changes), "Job")


def test_the_import_job_is_renamed_when_the_realm_or_its_spec_changes() -> None:
    before = _job()["metadata"]["name"]
    assert _job()["metadata"]["name"] == before  # stable when nothing changes
    realm = _job(_set("identity.admins_group", "other-admins"))["metadata"]["name"]
    assert realm != before
    # Not only the realm: any change to the Job itself (Jobs cannot be changed in place) gives a new name.
    original = keycloak.IMPORT_WAIT
    try:
        keycloak.IMPORT_WAIT = "301s"  # type: ignore[misc]
        assert _job()["metadata"]["name"] not in (before, realm)
    finally:
        keycloak.IMPORT_WAIT = original  # type: ignore[misc]


def test_the_import_recovers_when_it_ran_before_keycloak_was_ready() -> None:
    job = _job()
    env = {item["name"]: item.get("value") for item in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    # It waits for Keycloak, and tries again and again before the Job gives up...
    assert env["KEYCLOAK_AVAILABILITYCHECK_ENABLED"] == "true"
    assert int(env["KEYCLOAK_AVAILABILITYCHECK_TIMEOUT"].rstrip("s")) >= 300
    assert job["spec"]["backoffLimit"] >= 20
    # ...and a finished Job does not stay: Flux creates it again at its next reconciliation (a new try), Argo CD
    # runs it as a PostSync hook (after Keycloak is healthy) and recreates it before each run.
    assert 0 < job["spec"]["ttlSecondsAfterFinished"] <= 6 * 3600
    annotations = job["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/hook"] == "PostSync"
    assert "BeforeHookCreation" in annotations["argocd.argoproj.io/hook-delete-policy"]


# ----------------------------------------------------------------------------------------- 3. scopes


def _realm(parts: list[Part]) -> dict[str, Any]:
    config_map = next(document for document in _part(parts, "keycloak").manifests if document["metadata"]["name"] == "keelson-realm")
    return json.loads(config_map["data"]["realm.json"])  # type: ignore[no-any-return]


def _requested_scopes(parts: list[Part], shared_data: Path) -> dict[str, list[str]]:
    """client id -> the scopes its consumer asks Keycloak for, read from the rendered values."""
    found = {}
    argocd = next((part for part in parts if part.unit.name == "argocd"), None)
    if argocd is not None:
        found["argocd"] = json.loads(argocd.values["configs"]["cm"]["oidc.config"])["requestedScopes"]
    grafana = _part(parts, "monitoring").values["grafana"]["grafana.ini"]["auth.generic_oauth"]
    found["grafana"] = grafana["scopes"].split()
    minio = _part(parts, "minio").values["oidc"]
    chart = yaml.safe_load((shared_data / "charts" / "minio-5.4.0" / "values.yaml").read_text())
    found["minio"] = minio.get("scopes", chart["oidc"]["scopes"]).split(",")
    return found


@pytest.mark.parametrize("engine", ENGINES)
def test_every_scope_a_consumer_requests_exists_in_the_realm_for_its_client(engine: str, shared_data: Path) -> None:
    parts = example_parts(engine)
    realm = _realm(parts)
    defined = set(keycloak.BUILTIN_SCOPES) | {scope["name"] for scope in realm["clientScopes"]}
    clients = {client["clientId"]: client for client in realm["clients"]}
    requested = _requested_scopes(parts, shared_data)
    assert "groups" in requested["grafana"]
    for client_id, scopes in requested.items():
        client = clients[client_id]
        allowed = {"openid", *client.get("defaultClientScopes", []), *client.get("optionalClientScopes", [])}
        assert set(scopes) <= allowed, f"{client_id} requests {sorted(set(scopes) - allowed)}: Keycloak answers invalid_scope"
        assert allowed - {"openid"} <= defined, f"{client_id} is given scopes the realm does not have"


def test_the_groups_scope_carries_the_groups_claim_every_consumer_reads() -> None:
    realm = _realm(example_parts("argocd"))
    scope = next(scope for scope in realm["clientScopes"] if scope["name"] == keycloak.GROUPS_SCOPE)
    (mapper,) = scope["protocolMappers"]
    assert mapper["protocolMapper"] == "oidc-group-membership-mapper"
    assert mapper["config"]["claim.name"] == "groups"
    # Every client (the API server's too, which reads the groups claim) gets it by default.
    assert all(keycloak.GROUPS_SCOPE in client["defaultClientScopes"] for client in realm["clients"])


# ------------------------------------------------------------------------------------------ 2. the CA


def test_the_platform_ca_is_a_ca_whose_private_key_matches() -> None:
    value = platform_secrets.create("platform-ca", 0)
    certificate = x509.load_pem_x509_certificate(platform_secrets.part_of(value, "certificate").encode())
    key = serialization.load_pem_private_key(platform_secrets.part_of(value, "private-key").encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert certificate.public_key() == key.public_key()
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert certificate.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is True
    assert "PRIVATE KEY" not in platform_secrets.part_of(value, "certificate")
    with pytest.raises(platform_secrets.SecretsError, match="not a certificate followed by its private key"):
        platform_secrets.part_of("PLAINTEXT-0123456789", "certificate")


def test_the_ca_issuer_uses_the_sealed_key_pair_and_only_it_holds_the_private_key() -> None:
    spec, nodes = example_spec("argocd")
    secrets = _render.secrets_to_seal(spec, nodes, fake_values(spec))
    cert_manager = _part(example_parts("argocd"), "cert-manager")
    (issuer,) = cert_manager.manifests[:1]
    pair = secrets[("cert-manager", issuer["spec"]["ca"]["secretName"])].data
    assert pair["tls.crt"] == TEST_CA
    assert pair["tls.key"].startswith("-----BEGIN PRIVATE KEY-----")
    holders = [key for key, secret in secrets.items() if any("PRIVATE KEY" in value for value in secret.data.values())]
    assert holders == [("cert-manager", issuer["spec"]["ca"]["secretName"])]
    assert not [document for document in cert_manager.manifests if document["kind"] == "Certificate"]


@pytest.mark.parametrize("engine", ENGINES)
def test_every_oidc_consumer_trusts_the_platform_ca(engine: str) -> None:
    parts = example_parts(engine)
    spec, nodes = example_spec(engine)
    secrets = _render.secrets_to_seal(spec, nodes, fake_values(spec))
    if engine == "argocd":
        oidc = json.loads(_part(parts, "argocd").values["configs"]["cm"]["oidc.config"])
        assert oidc["rootCA"] == TEST_CA
    # Grafana: a CA file, mounted from a ConfigMap beside the chart that holds the certificate.
    grafana = _part(parts, "monitoring")
    auth = grafana.values["grafana"]["grafana.ini"]["auth.generic_oauth"]
    assert auth["tls_skip_verify_insecure"] is False
    (mount,) = grafana.values["grafana"]["extraConfigmapMounts"]
    assert auth["tls_client_ca"].startswith(mount["mountPath"] + "/")
    config_map = next(document for document in grafana.manifests if document["metadata"]["name"] == mount["configMap"])
    assert config_map["data"][auth["tls_client_ca"].rsplit("/", 1)[1]] == TEST_CA
    # MinIO: the Secret its chart mounts as certsPath/CAs, sealed into MinIO's namespace.
    trusted = _part(parts, "minio").values["trustedCertsSecret"]
    assert list(secrets[("minio", trusted)].data.values()) == [TEST_CA]
    # Weaviate: the PEM itself.
    assert _part(parts, "weaviate").values["env"]["AUTHENTICATION_OIDC_CERTIFICATE"] == TEST_CA


def test_the_api_server_trusts_the_platform_ca() -> None:
    spec, nodes = example_spec("argocd")
    server = next(node for node in nodes if node["role"] == "server")
    args = _k3s.config(spec, nodes, server)["kube-apiserver-arg"]
    ca = _k3s.oidc_ca(spec)
    assert ca is not None and f"oidc-ca-file={ca['path']}" in args
    assert ca["name"] == "platform-ca" and ca["generate"]["alphabet"] == "platform-ca"
    bundle = fake_values(spec)["platform-ca"]
    assert _k3s.ca_certificate(bundle) == TEST_CA
    agent = next(node for node in nodes if node["role"] == "agent")
    assert "kube-apiserver-arg" not in _k3s.config(spec, nodes, agent)


@pytest.mark.parametrize(
    "change",
    [
        _set("components.cert_manager", {"issuer": "acme", "acme_email": "ops@example.internal"}),
        _set("components.keycloak", {"enabled": False}),
    ],
    ids=["public-ca", "no-issuer"],
)
def test_no_ca_file_without_a_private_ca_or_an_issuer(change: Any) -> None:
    spec, nodes = example_spec("argocd", change)
    server = next(node for node in nodes if node["role"] == "server")
    assert _k3s.oidc_ca(spec) is None
    assert not any(arg.startswith("oidc-ca-file") for arg in _k3s.config(spec, nodes, server).get("kube-apiserver-arg", []))


def test_with_acme_no_consumer_is_told_of_a_private_ca() -> None:
    change = _set("components.cert_manager", {"issuer": "acme", "acme_email": "ops@example.internal"})
    spec, _nodes = example_spec("argocd", change)
    assert ca_of(spec) is None
    files = render_example("argocd", change)
    assert not any("BEGIN CERTIFICATE" in text or "trustedCertsSecret" in text for text in files.values())


def test_the_render_action_hands_the_ca_to_the_renderer() -> None:
    """platform_render passes the certificate of the backend's platform-ca to render (not the key)."""
    spec, _nodes = example_spec("argocd")
    assert Platform(spec, [], platform_secrets.ca_certificate(spec, fake_values(spec))).ca_certificate == TEST_CA
    source = (Path(__file__).resolve().parents[4] / "plugins" / "plugin_utils" / "_render_core.py").read_text()
    assert "_render.render(spec, nodes, sealed, platform.ca_certificate(spec, values), inputs.host_keys, ml_projects=projects)" in source
