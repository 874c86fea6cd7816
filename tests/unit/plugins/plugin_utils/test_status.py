# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Waiting for the cluster to apply the pushed commit (issue 10): what counts as reconciled for each engine, the
progress lines, the timeout report. Live objects are written here in the shape the controllers report them
(Argo CD's Application status, Flux's Ready condition); no controller runs."""

from __future__ import annotations

import copy
import datetime
import http.server
import ssl
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from render_helpers import double_sealed, example_spec

from ansible_collections.keelson.platform.plugins.action.gitops_status_info import wait
from ansible_collections.keelson.platform.plugins.plugin_utils import _bootstrap as bootstrap
from ansible_collections.keelson.platform.plugins.plugin_utils import _render
from ansible_collections.keelson.platform.plugins.plugin_utils import _status as status
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

COMMIT = "3f2a9c1d0b7e5a4c3f2a9c1d0b7e5a4c3f2a9c1d"
OLDER = "0000000000000000000000000000000000000001"


def _tree(tmp_path: Path, engine: str) -> tuple[Platform, list[status.Ref], dict[status.Ref, dict[str, Any]]]:
    spec, nodes = example_spec(engine)
    for path, text in _render.render(spec, nodes, double_sealed(spec, nodes)).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    platform = Platform(spec, nodes)
    read = bootstrap.reader(str(tmp_path))
    wanted = status.expected(platform, read)
    documents = {status.Ref.of(doc): doc for path in platform.engine.watch_paths(platform) for doc in read(path)}
    return platform, wanted, documents


def _synced(document: dict[str, Any], revision: str = COMMIT) -> dict[str, Any]:
    live = copy.deepcopy(document)
    live["status"] = {
        "sync": {"status": "Synced", "revision": revision, "revisions": ["10.1.1", revision]},
        "health": {"status": "Healthy"},
    }
    return live


def _ready(document: dict[str, Any], revision: str = COMMIT) -> dict[str, Any]:
    live = copy.deepcopy(document)
    live["status"] = {
        "conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded", "message": "Applied revision"}],
        "lastAppliedRevision": f"main@sha1:{revision}",
    }
    return live


def test_argocd_waits_for_every_application_the_tree_holds(tmp_path: Path) -> None:
    platform, wanted, documents = _tree(tmp_path, "argocd")
    names = {ref.name for ref in wanted}
    assert {"ml-prod", "argocd", "argocd-manifests", "minio", "tenancy", "tenant-nlp", "tenant-nlp-apps"} <= names
    assert all(ref.kind == "Application" for ref in wanted)
    nothing = status.assess(platform, wanted, {}, COMMIT)
    assert not nothing.done and all(why == "not created yet" for _ref, why in nothing.waiting)
    every = status.assess(platform, wanted, {ref: _synced(documents[ref]) for ref in wanted}, COMMIT)
    assert every.done and every.line() == f"{len(wanted)} of {len(wanted)} reconciled at {COMMIT[:12]}"


def test_argocd_application_at_an_older_commit_or_unhealthy_is_not_done(tmp_path: Path) -> None:
    platform, wanted, documents = _tree(tmp_path, "argocd")
    minio = next(ref for ref in wanted if ref.name == "minio")
    live = {ref: _synced(documents[ref]) for ref in wanted}
    live[minio] = _synced(documents[minio], OLDER)
    assert status.assess(platform, wanted, live, COMMIT).waiting == ((minio, f"at {OLDER[:12]}, not {COMMIT[:12]}"),)
    sick = _synced(documents[minio])
    sick["status"]["health"] = {"status": "Degraded", "message": "Deployment minio: 0 of 1 ready"}
    sick["status"]["sync"]["status"] = "OutOfSync"
    live[minio] = sick
    (waiting,) = status.assess(platform, wanted, live, COMMIT).waiting
    assert waiting == (minio, "OutOfSync; Degraded: Deployment minio: 0 of 1 ready")


def test_flux_waits_for_kustomizations_at_the_commit_and_helmreleases_ready(tmp_path: Path) -> None:
    platform, wanted, documents = _tree(tmp_path, "flux")
    kinds = {ref.kind for ref in wanted}
    assert kinds == {"Kustomization", "HelmRelease"}
    assert any(ref.kind == "HelmRelease" and ref.name == "minio" for ref in wanted)
    live = {ref: _ready(documents[ref]) for ref in wanted}
    assert status.assess(platform, wanted, live, COMMIT).done
    kustomization = next(ref for ref in wanted if ref.kind == "Kustomization" and ref.name == "minio")
    live[kustomization] = _ready(documents[kustomization], OLDER)
    assert status.assess(platform, wanted, live, COMMIT).waiting == ((kustomization, f"at {OLDER[:12]}, not {COMMIT[:12]}"),)
    release = next(ref for ref in wanted if ref.kind == "HelmRelease" and ref.name == "minio")
    live[kustomization] = _ready(documents[kustomization])
    failing = _ready(documents[release])
    failing["status"]["conditions"] = [{"type": "Ready", "status": "False", "reason": "InstallFailed", "message": "timed out waiting"}]
    live[release] = failing
    assert status.assess(platform, wanted, live, COMMIT).waiting == ((release, "InstallFailed: timed out waiting"),)


def test_progress_lines_name_what_is_still_progressing_and_the_timeout_lists_all() -> None:
    refs = [status.Ref("Application", "argocd", f"app-{index}") for index in range(8)]
    report = status.Report(COMMIT, tuple(refs[:1]), tuple((ref, "OutOfSync") for ref in refs[1:]))
    line = report.line()
    assert line.startswith(f"1 of 8 reconciled at {COMMIT[:12]}; still progressing: app-1 (OutOfSync); app-2")
    assert line.endswith("; and 2 more")
    failure = report.failure(60)
    assert failure.startswith(f"after 60 s, 7 of 8 object(s) are not reconciled at {COMMIT[:12]}:")
    assert all(f"Application argocd/app-{index}: OutOfSync" in failure for index in range(1, 8))
    assert "run the playbook again to keep waiting" in failure


def test_wait_says_each_change_once_and_stops_when_done_or_at_the_timeout() -> None:
    ref_a, ref_b = status.Ref("Kustomization", "flux-system", "a"), status.Ref("Kustomization", "flux-system", "b")
    pictures = [
        status.Report(COMMIT, (), ((ref_a, "not created yet"), (ref_b, "not created yet"))),
        status.Report(COMMIT, (), ((ref_a, "not created yet"), (ref_b, "not created yet"))),
        status.Report(COMMIT, (ref_a,), ((ref_b, "Progressing"),)),
        status.Report(COMMIT, (ref_a, ref_b), ()),
    ]
    now = [0.0]
    said: list[str] = []
    looks = iter(pictures)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    done = wait(lambda: next(looks), timeout=100, interval=10, say=said.append, clock=lambda: now[0], sleep=sleep)
    assert done.done and len(said) == 3 and said[-1] == f"2 of 2 reconciled at {COMMIT[:12]}"
    stuck = status.Report(COMMIT, (), ((ref_a, "Progressing"),))
    now[0] = 0.0
    late = wait(lambda: stuck, timeout=30, interval=10, say=said.append, clock=lambda: now[0], sleep=sleep)
    assert not late.done and now[0] == pytest.approx(30)


# ----------------------------------------------------------------------------------------------- smoke


def _tls_server(tmp_path: Path, code: int) -> tuple[str, str, Any]:
    """A real HTTPS server on localhost with a certificate from a CA made here: (url, CA PEM, server)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(code)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"https://localhost:{server.server_address[1]}/", ca.public_bytes(serialization.Encoding.PEM).decode(), server


@pytest.mark.parametrize(("code", "answers"), [(200, True), (302, True), (401, True), (404, False), (503, False)])
def test_an_ingress_answers_when_a_live_component_would(tmp_path: Path, code: int, answers: bool) -> None:
    url, ca, server = _tls_server(tmp_path, code)
    try:
        problem = status.probe(url, ca, timeout=5)
        assert (problem is None) is answers, problem
        if not answers:
            assert problem == f"{url} answers HTTP {code}"
        # Without the platform CA the certificate is not trusted, and that is said.
        untrusted = status.probe(url, None, timeout=5)
        assert untrusted is not None and untrusted.startswith("TLS to localhost:")
    finally:
        server.shutdown()


def test_an_ingress_host_that_does_not_resolve_says_so() -> None:
    problem = status.probe("https://minio.keelson-test.invalid/", None, timeout=5)
    assert (
        problem == "minio.keelson-test.invalid does not resolve from this machine (DNS for the platform's domain must point at the ingress)"
    )


def test_every_enabled_components_ingress_is_probed() -> None:
    spec, nodes = example_spec("argocd")
    urls = Platform(spec, nodes).ingress_urls
    assert {unit for unit, _url in urls} >= {"argocd", "monitoring", "minio", "keycloak"}
    assert all(url.startswith("https://") and url.endswith("/") for _unit, url in urls)
