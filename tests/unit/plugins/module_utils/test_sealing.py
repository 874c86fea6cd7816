# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sealing in kubeseal's wire format, checked against kubesealpy (an independent implementation)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ansible_collections.keelson.platform.plugins.module_utils import _formats as formats
from ansible_collections.keelson.platform.plugins.module_utils import _sealing as sealing

# The cross-checks need the independent implementation (kubesealpy) and jsonschema; the compat tool chain
# (ansible-core 2.19) has neither and runs the rest.
try:
    import jsonschema
    from kubesealpy import Sealer, SealingScope, Unsealer
except ImportError:  # pragma: no cover - the compat tool chain
    CROSS = False
else:
    CROSS = True
needs_kubesealpy = pytest.mark.skipif(
    not CROSS, reason="kubesealpy is not installed (the compat tool chain: its cross-checks do not depend on ansible-core)"
)


SCOPE = (
    {"strict": SealingScope.STRICT, "namespace-wide": SealingScope.NAMESPACE_WIDE, "cluster-wide": SealingScope.CLUSTER_WIDE}
    if CROSS
    else {}
)


@pytest.fixture(scope="module")
def pair() -> dict[str, str]:
    return sealing.generate_key_pair()


@pytest.fixture(scope="module")
def other_pair() -> dict[str, str]:
    return sealing.generate_key_pair()


def unsealer(pem: str) -> Any:
    return Unsealer.from_private_key(serialization.load_pem_private_key(pem.encode(), password=None))  # type: ignore[arg-type]


@pytest.mark.parametrize("scope", ["strict", "namespace-wide", "cluster-wide"])
@needs_kubesealpy
def test_ours_opened_by_kubesealpy(pair: dict[str, str], scope: str) -> None:
    manifest, changed = sealing.seal(
        name="db", namespace="team-a", data={"password": "s3cret", "user": "app"}, certificate=pair["certificate"], scope=scope
    )
    assert changed == ["password", "user"]
    value = manifest["spec"]["encryptedData"]["password"]
    assert value.startswith("Ag")  # 0x02 0x00: a 512-byte RSA-4096 ciphertext follows
    assert base64.b64decode(value)[:2] == b"\x02\x00"
    opened = unsealer(pair["key"]).unseal_value(base64.b64decode(value), namespace="team-a", name="db", scope=SCOPE[scope])
    assert opened == b"s3cret"


@pytest.mark.parametrize("scope", ["strict", "namespace-wide", "cluster-wide"])
@needs_kubesealpy
def test_kubesealpy_opened_by_ours(pair: dict[str, str], scope: str) -> None:
    sealer = Sealer.from_certificate_pem(pair["certificate"])
    ciphertext = sealer.seal_value(b"from kubesealpy", namespace="team-a", name="db", scope=SCOPE[scope])
    encrypted = base64.b64encode(ciphertext).decode()
    manifest = sealing.manifest("db", "team-a", {"token": encrypted}, scope, "Opaque", {}, {})
    assert sealing.unseal(manifest, [pair["key"]]) == {"token": "from kubesealpy"}


@pytest.mark.parametrize(
    ("scope", "namespace", "name"), [("strict", "team-a", "other"), ("strict", "team-b", "db"), ("namespace-wide", "team-b", "db")]
)
@needs_kubesealpy
def test_wrong_scope_or_name_does_not_open(pair: dict[str, str], scope: str, namespace: str, name: str) -> None:
    manifest, _changed = sealing.seal(
        name="db", namespace="team-a", data={"password": "s3cret"}, certificate=pair["certificate"], scope=scope
    )
    moved = dict(
        manifest,
        metadata={
            "name": name,
            "namespace": namespace,
            **({"annotations": manifest["metadata"]["annotations"]} if "annotations" in manifest["metadata"] else {}),
        },
    )
    with pytest.raises(sealing.SealingError, match="no key opens"):
        sealing.unseal(moved, [pair["key"]])
    with pytest.raises(Exception):  # noqa: B017 - kubesealpy's own error type
        unsealer(pair["key"]).unseal_value(
            base64.b64decode(manifest["spec"]["encryptedData"]["password"]), namespace=namespace, name=name, scope=SCOPE[scope]
        )


def test_a_different_key_does_not_open(pair: dict[str, str], other_pair: dict[str, str]) -> None:
    manifest, _changed = sealing.seal(name="db", namespace="team-a", data={"password": "s3cret"}, certificate=pair["certificate"])
    with pytest.raises(sealing.SealingError):
        sealing.unseal(manifest, [other_pair["key"]])
    assert sealing.unseal(manifest, [other_pair["key"], pair["key"]]) == {"password": "s3cret"}


def test_scope_annotations(pair: dict[str, str]) -> None:
    for scope, annotation in (
        ("namespace-wide", "sealedsecrets.bitnami.com/namespace-wide"),
        ("cluster-wide", "sealedsecrets.bitnami.com/cluster-wide"),
    ):
        manifest, _changed = sealing.seal(name="s", namespace="ns", data={"a": "b"}, certificate=pair["certificate"], scope=scope)
        assert manifest["metadata"]["annotations"] == {annotation: "true"}
        assert manifest["spec"]["template"]["metadata"]["annotations"] == {annotation: "true"}
    strict, _changed = sealing.seal(name="s", namespace="ns", data={"a": "b"}, certificate=pair["certificate"])
    assert "annotations" not in strict["metadata"]


def test_complete_manifest_with_template(pair: dict[str, str]) -> None:
    manifest, _changed = sealing.seal(
        name="repo",
        namespace="argocd",
        data={"url": "git@git:x.git", "sshPrivateKey": "PLAINTEXT-PRIVATE-KEY"},
        certificate=pair["certificate"],
        secret_type="Opaque",
        labels={"argocd.argoproj.io/secret-type": "repository"},
        annotations={"managed-by": "keelson"},
    )
    assert manifest["apiVersion"] == "bitnami.com/v1alpha1" and manifest["kind"] == "SealedSecret"
    assert list(manifest["spec"]["encryptedData"]) == ["sshPrivateKey", "url"]
    assert manifest["spec"]["template"] == {
        "metadata": {
            "name": "repo",
            "namespace": "argocd",
            "annotations": {"managed-by": "keelson"},
            "labels": {"argocd.argoproj.io/secret-type": "repository"},
        },
        "type": "Opaque",
    }
    text = yaml.safe_dump(manifest)
    # A plaintext long enough that random ciphertext cannot contain it by chance (a bare "KEY" sometimes did).
    assert "PLAINTEXT-PRIVATE-KEY" not in text and "git@git" not in text


def test_stable_when_nothing_changed_and_only_changed_keys_reseal(pair: dict[str, str]) -> None:
    data = {"a": "one", "b": "two", "c": "three"}
    first, _changed = sealing.seal(name="s", namespace="ns", data=data, certificate=pair["certificate"])
    again, changed = sealing.seal(
        name="s", namespace="ns", data=data, certificate=pair["certificate"], previous=first, private_keys=[pair["key"]]
    )
    assert again == first and changed == []
    edited, changed = sealing.seal(
        name="s",
        namespace="ns",
        data={**data, "b": "TWO", "d": "four"},
        certificate=pair["certificate"],
        previous=first,
        private_keys=[pair["key"]],
    )
    assert changed == ["b", "d"]
    old, new = first["spec"]["encryptedData"], edited["spec"]["encryptedData"]
    assert new["a"] == old["a"] and new["c"] == old["c"] and new["b"] != old["b"]
    dropped, changed = sealing.seal(
        name="s", namespace="ns", data={"a": "one"}, certificate=pair["certificate"], previous=edited, private_keys=[pair["key"]]
    )
    assert list(dropped["spec"]["encryptedData"]) == ["a"] and changed == []


def test_reseals_without_keys_after_rotation_and_on_scope_change(pair: dict[str, str], other_pair: dict[str, str]) -> None:
    data = {"a": "one"}
    first, _changed = sealing.seal(name="s", namespace="ns", data=data, certificate=pair["certificate"])
    _manifest, changed = sealing.seal(name="s", namespace="ns", data=data, certificate=pair["certificate"], previous=first)
    assert changed == ["a"]  # no private key: cannot tell, so seal again
    rotated, changed = sealing.seal(
        name="s",
        namespace="ns",
        data=data,
        certificate=other_pair["certificate"],
        previous=first,
        private_keys=[pair["key"], other_pair["key"]],
    )
    assert changed == ["a"]
    assert sealing.unseal(rotated, [other_pair["key"]]) == data
    _wide, changed = sealing.seal(
        name="s",
        namespace="ns",
        data=data,
        certificate=pair["certificate"],
        scope="namespace-wide",
        previous=first,
        private_keys=[pair["key"]],
    )
    assert changed == ["a"]


# ------------------------------------------------------------------------------------------ digests

DIGEST_KEY = bytes(range(32))


class Opened:
    """Counts the RSA private-key work :func:`seal` does (loading a private key, opening a value)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        for name in ("decrypt_value", "load_private_key"):
            real = getattr(sealing, name)
            monkeypatch.setattr(sealing, name, self._counting(real))

    def _counting(self, real: Any) -> Any:
        def counted(*args: Any) -> Any:
            self.calls += 1
            return real(*args)

        return counted


def _seal(pair: dict[str, str], data: dict[str, str], previous: Any = None, digest_key: Any = DIGEST_KEY, **more: Any) -> Any:
    return sealing.seal(
        name="s",
        namespace="ns",
        data=data,
        certificate=pair["certificate"],
        previous=previous,
        private_keys=[pair["key"]],
        digest_key=digest_key,
        **more,
    )


def test_digests_keep_unchanged_values_without_rsa_and_reseal_changed_ones(pair: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = {"a": "one", "b": "two"}
    first, _changed = _seal(pair, data)
    annotations = first["metadata"]["annotations"]
    assert set(json.loads(annotations[sealing.DIGESTS_ANNOTATION])) == {"a", "b"}
    assert annotations[sealing.DIGEST_KEY_ANNOTATION] == sealing.digest_key_id(DIGEST_KEY)
    assert "annotations" not in first["spec"]["template"]["metadata"]  # never copied into the Secret
    opened = Opened(monkeypatch)
    again, changed = _seal(pair, data, first)
    assert again == first and changed == []
    edited, changed = _seal(pair, {**data, "b": "TWO"}, first)
    assert opened.calls == 0  # neither the unchanged value nor the changed one needed the private key
    assert changed == ["b"]
    assert edited["spec"]["encryptedData"]["a"] == first["spec"]["encryptedData"]["a"]
    assert edited["spec"]["encryptedData"]["b"] != first["spec"]["encryptedData"]["b"]
    monkeypatch.undo()
    assert sealing.unseal(edited, [pair["key"]]) == {"a": "one", "b": "TWO"}
    assert edited["metadata"]["annotations"] != first["metadata"]["annotations"]


@pytest.mark.parametrize("case", ["no digests (an older tree)", "another digest key", "no digest key", "digest of another ciphertext"])
def test_without_a_usable_digest_values_are_opened_and_kept(pair: dict[str, str], monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    data = {"a": "one"}
    previous, _changed = _seal(pair, data, digest_key=bytes(32) if case == "another digest key" else DIGEST_KEY)
    digest_key: Any = DIGEST_KEY
    if case == "no digests (an older tree)":
        previous, _changed = _seal(pair, data, digest_key=None)
    elif case == "no digest key":
        digest_key = None
    elif case == "digest of another ciphertext":  # a hand edit swaps in another sealing of the same value
        other, _changed = _seal(pair, data, digest_key=None)
        previous["spec"]["encryptedData"] = other["spec"]["encryptedData"]
    opened = Opened(monkeypatch)
    kept, changed = _seal(pair, data, previous, digest_key=digest_key)
    if case == "digest of another ciphertext":
        # The digest with this key decides: it does not cover that ciphertext, so the value is sealed anew.
        assert changed == ["a"] and opened.calls == 0
        return
    assert changed == [] and opened.calls > 0
    assert kept["spec"]["encryptedData"] == previous["spec"]["encryptedData"]
    if digest_key is None:
        assert sealing.DIGESTS_ANNOTATION not in kept["metadata"].get("annotations", {})
    else:  # the digests are now made with the current key
        assert sealing.recorded_digests(kept, DIGEST_KEY).keys() == {"a"}


def test_a_wrong_digest_key_never_keeps_a_changed_value(pair: dict[str, str]) -> None:
    previous, _changed = _seal(pair, {"a": "one"}, digest_key=bytes(32))
    changed_value, changed = _seal(pair, {"a": "two"}, previous)
    assert changed == ["a"] and sealing.unseal(changed_value, [pair["key"]]) == {"a": "two"}


def test_digests_follow_the_sealing_key_and_the_scope(pair: dict[str, str], other_pair: dict[str, str]) -> None:
    first, _changed = _seal(pair, {"a": "one"})
    rotated, changed = sealing.seal(
        name="s",
        namespace="ns",
        data={"a": "one"},
        certificate=other_pair["certificate"],
        previous=first,
        private_keys=[pair["key"], other_pair["key"]],
        digest_key=DIGEST_KEY,
    )
    assert changed == ["a"] and sealing.unseal(rotated, [other_pair["key"]]) == {"a": "one"}
    _renamed, changed = sealing.seal(
        name="t", namespace="ns", data={"a": "one"}, certificate=pair["certificate"], previous=first, digest_key=DIGEST_KEY
    )
    assert changed == ["a"]


def test_a_digest_is_keyed_never_a_bare_hash_and_holds_no_plaintext(pair: dict[str, str]) -> None:
    value = "PLAINTEXT-secret-0123456789"
    manifest, _changed = _seal(pair, {"a": value, "b": value})
    digests = json.loads(manifest["metadata"]["annotations"][sealing.DIGESTS_ANNOTATION])
    bare = {hashlib.new(name, value.encode()).hexdigest() for name in ("sha256", "sha512", "sha1", "md5", "sha3_256", "blake2b")}
    assert not bare & set(digests.values())
    assert digests["a"] != digests["b"]  # equal values do not look equal
    text = yaml.safe_dump(manifest)
    assert value not in text and base64.b64encode(value.encode()).decode() not in text
    assert DIGEST_KEY.hex() not in text and base64.b64encode(DIGEST_KEY).decode() not in text
    again, _changed = _seal(pair, {"a": value, "b": value}, digest_key=bytes(32))
    assert json.loads(again["metadata"]["annotations"][sealing.DIGESTS_ANNOTATION])["a"] != digests["a"]


@pytest.mark.parametrize("text", ["", "not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_digest_key_is_an_error(text: str) -> None:
    with pytest.raises(sealing.SealingError, match="not 32 bytes of base64"):
        sealing.parse_digest_key(text)
    assert sealing.parse_digest_key(sealing.generate_digest_key()) != sealing.parse_digest_key(sealing.generate_digest_key())


BAD = [
    ({"certificate": "not a certificate"}, "the certificate is not a PEM X.509 certificate"),
    ({"scope": "everywhere"}, "scope must be one of strict, namespace-wide, cluster-wide (got 'everywhere')"),
    ({"name": "Bad_Name"}, "Secret name 'Bad_Name' is not a DNS-1123 subdomain"),
    ({"namespace": None}, "scope strict needs a namespace"),
    ({"namespace": "Team"}, "namespace 'Team' is not a DNS-1123 label"),
    ({"data": {"bad key": "x"}}, "data key 'bad key' is not a valid Secret key"),
]


# Names Kubernetes' rules (in _formats) accept or refuse; sealing must agree with them on every one.
NAMES = ["db", "a.b-c", "x" * 63, "x" * 64, "a." * 126 + "b", "a." * 127 + "b", "Bad_Name", "-a", "a-", "a..b", ""]


@pytest.mark.parametrize("name", NAMES)
def test_secret_names_follow_the_dns_subdomain_rule(name: str) -> None:
    try:
        sealing.check_names(name, "ns", "strict", [])
        refused = False
    except sealing.SealingError:
        refused = True
    assert refused == (formats.check_dns_subdomain(name) is not None)


@pytest.mark.parametrize("namespace", [name for name in NAMES if name])
def test_namespaces_follow_the_dns_label_rule(namespace: str) -> None:
    try:
        sealing.check_names("s", namespace, "namespace-wide", [])
        refused = False
    except sealing.SealingError:
        refused = True
    assert refused == (formats.dns_label(63)(namespace) is not None)


@pytest.mark.parametrize(("change", "message"), BAD)
def test_bad_input(pair: dict[str, str], change: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"name": "s", "namespace": "ns", "data": {"a": "b"}, "certificate": pair["certificate"], **change}
    with pytest.raises(sealing.SealingError) as caught:
        sealing.seal(**arguments)
    assert str(caught.value).startswith(message)


def test_non_rsa_certificate_is_refused() -> None:
    import datetime  # noqa: PLC0415

    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(sealing.SealingError, match="the certificate's key is not RSA"):
        sealing.seal(name="s", namespace="ns", data={"a": "b"}, certificate=pem)


def test_key_pair_looks_like_the_controllers(pair: dict[str, str]) -> None:
    cert = x509.load_pem_x509_certificate(pair["certificate"].encode())
    assert cert.public_key().key_size == 4096  # type: ignore[union-attr]
    assert cert.subject.rfc4514_string() == "CN=sealed-secret"
    assert cert.issuer == cert.subject
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 3650
    assert pair["key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    sealing.check_key_pair(pair)
    with pytest.raises(sealing.SealingError, match="does not match its certificate"):
        sealing.check_key_pair({**pair, "key": sealing.generate_key_pair()["key"]})


def test_key_secret_round_trip(pair: dict[str, str]) -> None:
    secret = sealing.key_secret(pair, "sealed-secrets")
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["labels"] == {"sealedsecrets.bitnami.com/sealed-secrets-key": "active"}
    assert secret["metadata"]["name"] == f"sealed-secrets-key-{pair['id']}"
    assert base64.b64decode(secret["data"]["tls.crt"]).decode() == pair["certificate"]
    assert sealing.pair_from_secret({**secret, "metadata": {**secret["metadata"], "creationTimestamp": pair["created"]}}) == pair


@needs_kubesealpy
def test_sealed_secret_matches_the_crd(pair: dict[str, str], shared_data: Path) -> None:
    crd = yaml.safe_load((shared_data / "crds" / "sealed-secrets-v0.36.6" / "bitnami.com_sealedsecrets.yaml").read_text())
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")["schema"]["openAPIV3Schema"]
    for scope in ("strict", "namespace-wide", "cluster-wide"):
        manifest, _changed = sealing.seal(
            name="s",
            namespace="ns",
            data={"a": "b"},
            certificate=pair["certificate"],
            scope=scope,
            labels={"x": "y"},
            annotations={"p": "q"},
            digest_key=DIGEST_KEY,
        )
        jsonschema.validate(manifest, schema)
        assert sealing.DIGESTS_ANNOTATION in manifest["metadata"]["annotations"]
