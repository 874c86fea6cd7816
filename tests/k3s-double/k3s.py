# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""TEST DOUBLE of the k3s binary, for keelson's molecule scenarios. It is NOT k3s.

No real k3s binary can be downloaded on the machines keelson is developed on, so the scenarios install
this script through the same air-gap path a user's real k3s takes. It imitates what the host roles touch:
the command line, the config file, the files k3s writes, the service lifecycle, and a tiny HTTPS API
(nodes only) on 6443 that kubernetes.core can read. See README.md beside it for what it does not prove.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import http.server
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, ClassVar
from xml.etree import ElementTree

import yaml

VERSION = "@VERSION@"
DATA = Path("/var/lib/rancher/k3s")
ETC = Path("/etc/rancher/k3s")
NODE_PASSWORD = Path("/etc/rancher/node/password")
READY_AFTER = 15  # seconds without a heartbeat (sent every 5 s) before a node turns NotReady
# k3s renews a certificate when it starts and the certificate expires within this many days (k3s: config.CertificateRenewDays).
RENEW_DAYS = 120
# What the double was asked to do, one JSON object per line, for the tests to read. Outside /var/lib/rancher and
# /etc/rancher, so that it outlives reset.yml like a machine's journal would.
RECORD = Path("/var/log/k3s-double/calls.jsonl")
# Test controls (the double's own, not k3s'): a file here whose content is a version makes k3s fail to start at
# that version (a node that does not come back from an upgrade); "fail-snapshot" makes etcd-snapshot save fail;
# "fail-s3-upload" makes the copy to the bucket fail after the local save (a key that may list but not write);
# "cert-days" holding a number is how many days the certificates the double makes from then on are valid (365);
# "persistentvolumes.json" holding a JSON list of PersistentVolume objects is what this server's API lists (the double
# runs no storage: a test says which volumes the cluster has).
CONTROL = Path("/etc/k3s-double")
SNAPSHOTS = DATA / "server" / "db" / "snapshots"
REGISTRY = DATA / "server" / "db" / "double-registry.json"
# The ETCDSnapshotFile objects k3s keeps in its datastore, as far as the double needs them: snapshot name -> the token
# hash k3s annotates the object with when it saves the snapshot (etcd.k3s.cattle.io/snapshot-token-hash). A restore
# takes the datastore back to the snapshot's time, so the objects are those the snapshot holds; a file without an
# object is listed as k3s lists it after making the object again: without the hash.
SNAPSHOT_FILES = DATA / "server" / "db" / "double-etcdsnapshotfiles.json"
SNAPSHOT_TOKEN_HASH = "etcd.k3s.cattle.io/snapshot-token-hash"
# Which cluster a server's datastore belongs to: a new id after each --cluster-reset. A joined server whose datastore
# still names the old one is refused, as etcd refuses a member of the cluster before the reset (README.md).
CLUSTER_ID = DATA / "server" / "db" / "double-cluster-id"
# The token the datastore's bootstrap data is encrypted with (a hash of it), on the first server: k3s refuses to start
# with another one ("bootstrap data already found and encrypted with different token"); `k3s token rotate` changes it.
BOOTSTRAP_TOKEN = DATA / "server" / "db" / "double-bootstrap-token"
# Stands in for the running server's cache of S3 clients (k3s pkg/etcd/s3, Controller.clientCache): the
# configuration of the client made since the server last started. Removed when the server starts.
S3_CLIENT = DATA / "server" / "double-s3-client"
# Hashes of tokens rotated away: nodes that joined with one go on with it until they restart (README.md).
PREVIOUS_TOKENS = DATA / "server" / "db" / "double-previous-tokens"
# Secrets encryption (config.yaml's secrets-encryption): the datastore's copy of the key list and rotation stage (on the
# first server; servers that join take it from there when they start), and each server's own file k3s writes from it,
# whose hash (with the stage) every server puts on its Node as k3s does (ENCRYPTION_HASH).
ENCRYPTION_STATE = DATA / "server" / "db" / "double-encryption.json"
ENCRYPTION_CONFIG = DATA / "server" / "cred" / "encryption-config.json"
ENCRYPTION_HASH = "k3s.io/encryption-config-hash"
# The annotations of k3s' etcd member controller (pkg/etcd): ask for a server's removal, and say it was removed.
ETCD_REMOVE = "etcd.k3s.cattle.io/remove"
ETCD_REMOVED_NAME = "etcd.k3s.cattle.io/removed-node-name"


def log(level: str, msg: str) -> None:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f'time="{stamp}" level={level} msg="{msg}"', file=sys.stderr, flush=True)


def fatal(msg: str) -> None:
    log("fatal", msg)
    sys.exit(1)


def record(event: str, **fields: Any) -> None:
    """Append what the double was asked to do (a real k3s would have been asked the same)."""
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    entry = {"time": time.time(), "host": socket.gethostname(), "event": event, "version": VERSION, **fields}
    with RECORD.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")


def fail_start_if_asked(role: str) -> None:
    control = CONTROL / "fail-start"
    if control.exists() and control.read_text().strip() in ("", VERSION):
        record("start-failed", role=role)
        fatal(f"k3s {VERSION} failed to start (test double: {control} asks it to)")


def notify_ready() -> None:
    """sd_notify(READY=1): the units keelson writes are Type=notify, like k3s' own."""
    address = os.environ.get("NOTIFY_SOCKET")
    if address:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect("\0" + address[1:] if address.startswith("@") else address)
            sock.sendall(b"READY=1")


def run(*command: str, data: bytes | None = None) -> bytes:
    return subprocess.run(command, input=data, capture_output=True, check=True).stdout


def load_config(args: list[str]) -> dict[str, Any]:
    """config.yaml, then its drop-ins (config.yaml.d/*.yaml, in name order) merged over it, as k3s reads them for
    every command (pkg/configfilearg); ``--etcd-s3=false`` (or ``--s3=false``) on the command line wins."""
    path = ETC / "config.yaml"
    if "--config" in args:
        path = Path(args[args.index("--config") + 1])
    config = (yaml.safe_load(path.read_text()) if path.exists() else {}) or {}
    dropins = Path(str(path) + ".d")
    for dropin in sorted(dropins.glob("*.yaml")) + sorted(dropins.glob("*.yml")) if dropins.is_dir() else []:
        config.update(yaml.safe_load(dropin.read_text()) or {})
    if "--etcd-s3=false" in args or "--s3=false" in args:
        config["etcd-s3"] = False
    token_file = config.get("token-file")
    if token_file:
        config["token"] = Path(token_file).read_text().strip()
    return config or {}


def plain_token(token: str) -> str:
    """The secret part of a token: K10<ca-hash>::server:<secret> or just <secret>."""
    return token.split("::", 1)[1].split(":", 1)[1] if token.startswith("K10") and "::" in token else token


# -------------------------------------------------------------------------------------------- S3


class S3:
    """The bucket k3s copies snapshots to (config.yaml's etcd-s3-* settings), spoken to like a real S3 client does:
    path-style requests signed with AWS Signature Version 4, over TLS verified against etcd-s3-endpoint-ca. The
    tests run it against a real S3 server, which checks the keys and the signature."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.endpoint = str(config.get("etcd-s3-endpoint") or "s3.amazonaws.com")
        self.bucket = str(config.get("etcd-s3-bucket") or "")
        self.folder = str(config.get("etcd-s3-folder") or "").strip("/")
        self.region = str(config.get("etcd-s3-region") or "us-east-1")
        self.access_key = str(config.get("etcd-s3-access-key") or os.environ.get("AWS_ACCESS_KEY_ID", ""))
        self.secret_key = str(config.get("etcd-s3-secret-key") or os.environ.get("AWS_SECRET_ACCESS_KEY", ""))
        self.scheme = "http" if config.get("etcd-s3-insecure") else "https"
        ca = config.get("etcd-s3-endpoint-ca")
        self.context = ssl.create_default_context(cafile=str(ca)) if ca else ssl.create_default_context()
        if config.get("etcd-s3-skip-ssl-verify"):
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE

    @staticmethod
    def enabled(config: dict[str, Any]) -> bool:
        return bool(config.get("etcd-s3"))

    def location(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.key(name)}"

    def key(self, name: str) -> str:
        return f"{self.folder}/{name}" if self.folder else name

    def request(self, method: str, key: str = "", query: dict[str, str] | None = None, body: bytes = b"") -> bytes:
        quote = urllib.parse.quote
        path = f"/{self.bucket}" + (f"/{quote(key, safe='/~')}" if key else "")
        canonical_query = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in sorted((query or {}).items()))
        now = datetime.datetime.now(datetime.timezone.utc)
        stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        payload = hashlib.sha256(body).hexdigest()
        headers = {"host": self.endpoint, "x-amz-content-sha256": payload, "x-amz-date": stamp}
        signed = ";".join(sorted(headers))
        canonical = "\n".join(
            [method, path, canonical_query, "".join(f"{name}:{headers[name]}\n" for name in sorted(headers)), signed, payload]
        )
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        signing = ("AWS4" + self.secret_key).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            signing = hmac.new(signing, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, SignedHeaders={signed}, Signature={signature}"
        url = f"{self.scheme}://{self.endpoint}{path}" + (f"?{canonical_query}" if canonical_query else "")
        sent = urllib.request.Request(url, data=body if method == "PUT" else None, method=method)
        for name, value in headers.items():
            if name != "host":
                sent.add_header(name, value)
        with urllib.request.urlopen(sent, timeout=30, context=self.context if self.scheme == "https" else None) as answer:
            return bytes(answer.read())

    def check_bucket(self) -> None:
        """k3s refuses a bucket that does not exist (it never creates one)."""
        try:
            self.request("HEAD")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                raise RuntimeError(f"bucket {self.bucket} does not exist") from error
            raise

    def upload(self, name: str, content: bytes) -> None:
        self.check_bucket()
        self.request("PUT", self.key(name), body=content)

    def download(self, name: str) -> bytes:
        self.check_bucket()
        return self.request("GET", self.key(name))

    def delete(self, name: str) -> None:
        self.request("DELETE", self.key(name))

    def list(self) -> list[dict[str, Any]]:
        """The snapshots in the folder (not k3s' .metadata/ beside them): name, size and time."""
        prefix = f"{self.folder}/" if self.folder else ""
        tree = ElementTree.fromstring(self.request("GET", query={"list-type": "2", "prefix": prefix}))
        result = []
        for item in tree.iter():
            if not item.tag.endswith("}Contents") and item.tag != "Contents":
                continue
            fields = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in item}
            name = fields.get("Key", "").removeprefix(prefix)
            if name and "/" not in name:
                result.append({"name": name, "size": int(fields.get("Size") or 0), "created": fields.get("LastModified", "")[:19] + "Z"})
        return result


def s3_error(error: Exception) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"{error.code} {error.reason}: {error.read()[:300].decode(errors='replace')}"
    return str(getattr(error, "reason", None) or error)


# ------------------------------------------------------------------------------------------- PKI


def ensure_ca(tls: Path) -> None:
    if (tls / "server-ca.crt").exists():
        return
    tls.mkdir(parents=True, exist_ok=True)
    run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "3650",
        "-subj",
        f"/CN=k3s-server-ca@{int(time.time())}",
        "-keyout",
        str(tls / "server-ca.key"),
        "-out",
        str(tls / "server-ca.crt"),
    )
    os.chmod(tls / "server-ca.key", 0o600)


def leaf_days() -> int:
    """How long a new certificate is valid: k3s' 365 days, or the test control's number."""
    control = CONTROL / "cert-days"
    return int(control.read_text().strip() or "365") if control.exists() else 365


def expires_soon(crt: Path) -> bool:
    """k3s renews a certificate at start when it expires within RENEW_DAYS (or has expired)."""
    return (
        subprocess.run(
            ["openssl", "x509", "-checkend", str(RENEW_DAYS * 86400), "-noout", "-in", str(crt)], check=False, capture_output=True
        ).returncode
        != 0
    )


def issue(tls: Path, name: str, sans: list[str], *, client: bool = False, ca: Path | None = None, days: int | None = None) -> bool:
    """A key and certificate for ``name`` signed by the cluster CA (in ``ca``, else ``tls``); kept across restarts,
    like k3s does, unless missing (``k3s certificate rotate`` removed it), within RENEW_DAYS of expiry, or the names
    it must carry changed (k3s re-issues its serving certificate then too). The file holds the certificate and the CA
    after it, as k3s writes its certificates. True when a new one was made."""
    ca = ca or tls
    key, csr, crt, ext = (tls / f"{name}.key", tls / f"{name}.csr", tls / f"{name}.crt", tls / f"{name}.ext")
    record = tls / f"{name}.sans"
    wanted = "\n".join(sorted(set(sans)))
    if crt.exists() and key.exists() and record.exists() and record.read_text() == wanted and not expires_soon(crt):
        return False
    tls.mkdir(parents=True, exist_ok=True)
    record.write_text(wanted)
    run(
        "openssl",
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/O=system:masters/CN=system:admin" if client and name == "client-admin" else f"/CN={name}",
        "-keyout",
        str(key),
        "-out",
        str(csr),
    )
    usage = "clientAuth" if client else "serverAuth"
    alt = ",".join(f"IP:{s}" if s.replace(".", "").isdigit() or ":" in s else f"DNS:{s}" for s in sans)
    ext.write_text(f"extendedKeyUsage={usage}\n" + (f"subjectAltName={alt}\n" if alt else ""))
    signed = run(
        "openssl",
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca / "server-ca.crt"),
        "-CAkey",
        str(ca / "server-ca.key"),
        "-CAcreateserial",
        "-CAserial",
        str(tls / "server-ca.srl"),
        "-days",
        str(days if days is not None else leaf_days()),
        "-extfile",
        str(ext),
    )
    crt.write_bytes(signed + (ca / "server-ca.crt").read_bytes())
    os.chmod(key, 0o600)
    csr.unlink()
    ext.unlink()
    return True


# What `k3s certificate rotate` removes and `k3s certificate check` reads (k3s: pkg/util/services), the double's set:
# a server's API serving and admin client certificates, etcd's, and every node's kubelet certificates.
SERVER_CERTIFICATES = (
    "server/tls/serving-kube-apiserver",
    "server/tls/client-admin",
    "server/tls/etcd/server-client",
    "server/tls/etcd/server",
)
AGENT_CERTIFICATES = ("agent/client-kubelet", "agent/serving-kubelet")


def is_server() -> bool:
    """k3s tells a server from an agent by its server data folder; an agent of the double has the CA there too,
    but never its key."""
    return (DATA / "server" / "tls" / "server-ca.key").exists()


def node_certificates() -> list[Path]:
    return [DATA / f"{name}.crt" for name in (SERVER_CERTIFICATES if is_server() else ()) + AGENT_CERTIFICATES]


def describe(pem: str) -> dict[str, Any]:
    """One certificate as `k3s certificate check -o json` lists it (k3s: pkg/cli/cert, Certificate)."""
    fields = run(
        "openssl",
        "x509",
        "-noout",
        "-subject",
        "-issuer",
        "-startdate",
        "-enddate",
        "-ext",
        "extendedKeyUsage",
        "-nameopt",
        "RFC2253",
        data=pem.encode(),
    ).decode()
    values = dict(line.split("=", 1) for line in fields.splitlines() if "=" in line and not line.startswith(" "))

    def common_name(name: str) -> str:
        return next((part[3:] for part in name.split(",") if part.startswith("CN=")), name)

    def moment(text: str) -> datetime.datetime:
        return datetime.datetime.strptime(text.strip(), "%b %d %H:%M:%S %Y %Z").replace(tzinfo=datetime.timezone.utc)

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = moment(values["notBefore"]), moment(values["notAfter"])
    status = (
        "EXPIRED"
        if now > end
        else "NOT YET VALID"
        if now < start
        else "WARNING"
        if end < now + datetime.timedelta(days=RENEW_DAYS)
        else "OK"
    )
    usages = ["ClientAuth"] if "TLS Web Client" in fields else ["ServerAuth"] if "TLS Web Server" in fields else ["CertSign"]
    return {
        "Subject": common_name(values["subject"]),
        "Issuer": common_name(values["issuer"]),
        "Usages": usages,
        "ExpiryTime": (start if status == "NOT YET VALID" else end).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ResidualTime": int((end - now).total_seconds() * 1e9),
        "Status": status,
    }


def certificate_command(args: list[str]) -> None:
    """``k3s certificate check [-o text|table|json|yaml]`` and ``k3s certificate rotate`` (k3s: pkg/cli/cert)."""
    command = args[0] if args else ""
    server = is_server()
    verb, which = ("checking" if command == "check" else "rotating"), ("agent and server" if server else "agent")
    log("info", f"{'Server' if server else 'Agent'} detected, {verb} {which} certificates")
    if command == "check":
        output = flag(args, "--output") or flag(args, "-o") or "text"
        listed = []
        for path in node_certificates():
            if not path.exists():
                continue  # k3s skips a file it cannot read (a rotation removed it): logged at debug level only
            blocks = [f"-----BEGIN CERTIFICATE-----{block}" for block in path.read_text().split("-----BEGIN CERTIFICATE-----")[1:]]
            listed += [{"Filename": path.name, **describe(block)} for block in blocks]
        if output == "json":
            print(json.dumps({"Certificates": listed}))
        elif output == "yaml":
            print(yaml.safe_dump({"certificates": [{k.lower(): v for k, v in item.items()} for item in listed]}))
        elif output == "table":
            print("\nFILENAME   SUBJECT   USAGES   EXPIRES   RESIDUAL TIME   STATUS")
            for item in listed:
                days = item["ResidualTime"] // 86400_000_000_000
                usages = ",".join(item["Usages"])
                print(f"{item['Filename']}   {item['Subject']}   {usages}   {item['ExpiryTime']}   {days} days   {item['Status']}")
        elif output == "text":
            for item in listed:
                log(
                    "info",
                    f"{item['Filename']}: certificate {item['Subject']} ({','.join(item['Usages'])}) is {item['Status']}, expires at {item['ExpiryTime']}",
                )
        else:
            fatal(f"invalid output format {output}")
        return
    if command != "rotate":
        fatal(f"the keelson k3s test double does not implement 'certificate {command}'")
    running = (
        subprocess.run(["systemctl", "is-active", "--quiet", "k3s" if server else "k3s-agent"], capture_output=True, check=False).returncode
        == 0
    )
    backup = DATA / ("server" if server else "agent") / f"tls-{int(time.time())}"
    backup.mkdir(parents=True, exist_ok=True)
    for path in node_certificates():
        for suffix in (".crt", ".key", ".sans"):
            part = path.with_suffix(suffix)
            if part.exists():
                (backup / f"{path.parent.name}-{part.name}").write_bytes(part.read_bytes())
                part.unlink()
    node = load_config(args).get("node-name") or socket.gethostname()
    record("certificate-rotate", node=node, running=running)
    log("info", f"Successfully backed up certificates to {backup}, please restart k3s server or agent to rotate certificates")


def ca_hash(tls: Path) -> str:
    return hashlib.sha256((tls / "server-ca.crt").read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------- node registry


class Registry:
    """The cluster's node list, kept by the first server (the double has no datastore)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.nodes: dict[str, dict[str, Any]] = json.loads(path.read_text()) if path.exists() else {}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.nodes, indent=1))

    def register(self, node: dict[str, Any]) -> str | None:
        """Add or refresh a node; return an error like k3s' when another machine holds the name."""
        with self.lock:
            known = self.nodes.get(node["name"])
            digest = hashlib.sha256(node["password"].encode()).hexdigest()
            if known and known["password"] != digest:
                return (
                    "Node password rejected, duplicate hostname or contents of '/etc/rancher/node/password' "
                    "may not match server node-passwd entry, try enabling a unique node name with the --with-node-id flag"
                )
            self.nodes[node["name"]] = {
                **{k: v for k, v in node.items() if k != "password"},
                "password": digest,
                "created": (known or {}).get("created", time.time()),
                "heartbeat": time.time(),
                # A restarted node stays cordoned and keeps its annotations, like a real one.
                "unschedulable": (known or {}).get("unschedulable", False),
                "annotations": (known or {}).get("annotations", {}),
                # What the server's last start sent (an annotation, on a real Node): kept until its next heartbeat.
                "encryption-hash": (known or {}).get("encryption-hash", ""),
            }
            self.save()
            return None

    def patch(self, change: dict[str, Any]) -> bool:
        """spec.unschedulable and annotations (a null value removes one), as a merge patch does."""
        with self.lock:
            node = self.nodes.get(change["name"])
            if node is None:
                return False
            if "unschedulable" in change["spec"]:
                value = bool(change["spec"]["unschedulable"])
                if node.get("unschedulable", False) != value:
                    node["unschedulable"] = value
                    record("cordon" if value else "uncordon", node=change["name"])
            annotations = node.setdefault("annotations", {})
            for key, value in change["annotations"].items():
                if value is None:
                    annotations.pop(key, None)
                else:
                    annotations[key] = str(value)
            # k3s' etcd controller: a server annotated for removal leaves the etcd cluster, and k3s says so on it.
            if annotations.get(ETCD_REMOVE) == "true" and node["role"] == "server" and not node.get("etcd_removed"):
                node["etcd_removed"] = True
                annotations[ETCD_REMOVED_NAME] = f"{node['name']}-double"
                record("etcd-member-remove", node=change["name"], member=f"{node['name']}-double")
            self.save()
            return True

    def delete(self, name: str) -> bool:
        """DELETE of a Node. On a server that is still an etcd member, k3s' finalizer removes the member first."""
        with self.lock:
            node = self.nodes.pop(name, None)
            if node is None:
                return False
            if node["role"] == "server" and not node.get("etcd_removed"):
                record("etcd-member-remove", node=name, member=f"{name}-double")
            record("node-delete", node=name, role=node["role"])
            self.save()
            return True

    def members(self) -> list[dict[str, Any]]:
        """The etcd members: one per server that joined (the double has no etcd; see README.md)."""
        with self.lock:
            return [
                {"name": f"{node['name']}-double", "address": node["address"], "healthy": time.time() - node["heartbeat"] < READY_AFTER}
                for node in self.nodes.values()
                if node["role"] == "server" and not node.get("etcd_removed")
            ]

    def heartbeat(self, name: str, encryption_hash: str = "") -> None:
        with self.lock:
            if name in self.nodes:
                self.nodes[name]["heartbeat"] = time.time()
                if encryption_hash and self.nodes[name].get("encryption-hash") != encryption_hash:
                    self.nodes[name]["encryption-hash"] = encryption_hash
                    self.save()

    def node_objects(self) -> list[dict[str, Any]]:
        with self.lock:
            return [node_object(node) for node in self.nodes.values()]


def node_object(node: dict[str, Any]) -> dict[str, Any]:
    ready = time.time() - node["heartbeat"] < READY_AFTER
    labels = {"kubernetes.io/hostname": node["name"], "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    annotations = dict(node.get("annotations", {}))
    if node["role"] == "server":
        labels |= {
            "node-role.kubernetes.io/control-plane": "true",
            "node-role.kubernetes.io/etcd": "true",
            "node-role.kubernetes.io/master": "true",
        }
        annotations["etcd.k3s.cattle.io/node-name"] = f"{node['name']}-double"
        if node.get("encryption-hash"):
            annotations[ENCRYPTION_HASH] = node["encryption-hash"]
    labels |= node.get("labels", {})
    taints = []
    for taint in node.get("taints", []):
        key_value, effect = taint.rsplit(":", 1)
        key, _sep, value = key_value.partition("=")
        taints.append({"key": key, "value": value, "effect": effect} if value else {"key": key, "effect": effect})
    created = datetime.datetime.fromtimestamp(node["created"], datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    spec: dict[str, Any] = {"taints": taints} if taints else {}
    if node.get("unschedulable"):
        spec["unschedulable"] = True
    version = node.get("version", VERSION)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node["name"],
            "labels": labels,
            "annotations": annotations,
            "creationTimestamp": created,
            "uid": hashlib.md5(node["name"].encode()).hexdigest(),
        },
        "spec": spec,
        "status": {
            "addresses": [{"type": "InternalIP", "address": node["address"]}, {"type": "Hostname", "address": node["name"]}],
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "reason": "KubeletReady" if ready else "NodeStatusUnknown"}
            ],
            "nodeInfo": {
                **node.get("info", {}),
                "kubeletVersion": version,
                "kubeProxyVersion": version,
                "containerRuntimeVersion": "keelson-test-double://0",
                "architecture": "amd64",
                "operatingSystem": "linux",
            },
        },
    }


# ------------------------------------------------------------------------------------------- API

K3S_GROUP = {
    "name": "k3s.cattle.io",
    "versions": [{"groupVersion": "k3s.cattle.io/v1", "version": "v1"}],
    "preferredVersion": {"groupVersion": "k3s.cattle.io/v1", "version": "v1"},
}
K3S_RESOURCES = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "k3s.cattle.io/v1",
    "resources": [
        {
            "name": "etcdsnapshotfiles",
            "singularName": "etcdsnapshotfile",
            "namespaced": False,
            "kind": "ETCDSnapshotFile",
            "verbs": ["get", "list"],
        }
    ],
}


def snapshot_records() -> dict[str, str]:
    return json.loads(SNAPSHOT_FILES.read_text()) if SNAPSHOT_FILES.exists() else {}


def snapshot_file_objects(node_name: str) -> list[dict[str, Any]]:
    """ETCDSnapshotFile objects for this server's snapshot files, as k3s writes them (pkg/etcd/snapshot/types.go):
    the token hash only on those the datastore has an object for."""
    records, items = snapshot_records(), []
    for path in sorted(SNAPSHOTS.glob("*")) if SNAPSHOTS.is_dir() else []:
        digest = hashlib.sha256((node_name + "file://" + str(path)).encode()).hexdigest()[:6]
        items.append(
            {
                "apiVersion": "k3s.cattle.io/v1",
                "kind": "ETCDSnapshotFile",
                "metadata": {
                    "name": f"local-{path.name.lower()}-{digest}",
                    "labels": {"etcd.k3s.cattle.io/snapshot-storage-node": node_name},
                    "annotations": {SNAPSHOT_TOKEN_HASH: records[path.name]} if path.name in records else {},
                },
                "spec": {"snapshotName": path.name, "nodeName": node_name, "location": "file://" + str(path)},
                "status": {"readyToUse": True, "size": str(path.stat().st_size)},
            }
        )
    return items


API_RESOURCES = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "v1",
    "resources": [
        {"name": "nodes", "singularName": "node", "namespaced": False, "kind": "Node", "verbs": ["get", "list", "patch", "delete"]},
        {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "verbs": ["get", "list"]},
        {
            "name": "persistentvolumes",
            "singularName": "persistentvolume",
            "namespaced": False,
            "kind": "PersistentVolume",
            "verbs": ["list"],
        },
    ],
}


class Api(http.server.BaseHTTPRequestHandler):
    registry: Registry | None = None  # the first server keeps the registry
    upstream: str | None = None  # other servers answer from the first server's
    token = ""
    node_name = ""
    # Hashes of tokens rotated away (PREVIOUS_TOKENS): nodes already joined go on with them until they restart (as
    # with k3s, whose running agents hold their certificates); joining and rotating need the current one.
    previous: ClassVar[set[str]] = set()
    tls = DATA / "server" / "tls"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, code: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorised(self, current_only: bool = False) -> bool:
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            _user, _sep, password = base64.b64decode(header[6:]).decode().partition(":")
            if secrets.compare_digest(plain_token(password), plain_token(self.token)):
                return True
            return not current_only and token_digest(password) in self.previous
        return self.connection.getpeercert() is not None or header.startswith("Bearer ")

    def nodes(self) -> list[dict[str, Any]]:
        if self.registry is not None:
            return self.registry.node_objects()
        return json.loads(call(f"{self.upstream}/v1-k3s/double/nodes", self.token, None, self.tls))

    def do_GET(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        if path == "/cacerts":
            return self.reply(200, (self.tls / "server-ca.crt").read_bytes(), "text/plain")
        if path in ("/readyz", "/livez", "/healthz"):
            return self.reply(200, b"ok", "text/plain")
        if path == "/version":
            return self.reply(200, {"major": "1", "minor": VERSION.split(".")[1], "gitVersion": VERSION, "platform": "linux/amd64"})
        if path == "/api":
            return self.reply(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        if path == "/apis":
            return self.reply(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [K3S_GROUP]})
        if path == "/apis/k3s.cattle.io/v1":
            return self.reply(200, K3S_RESOURCES)
        if path == "/api/v1":
            return self.reply(200, API_RESOURCES)
        if not self.authorised():
            return self.reply(401, {"kind": "Status", "status": "Failure", "reason": "Unauthorized", "code": 401})
        if path == "/v1-k3s/double/nodes":
            return self.reply(200, self.nodes())
        if path == "/v1-k3s/encrypt/status":
            return self.reply(200, encryption_status(self.registry) if self.registry is not None else json.loads(self.forward(path)))
        if path == "/v1-k3s/double/members":
            return self.reply(200, self.registry.members() if self.registry is not None else json.loads(self.forward(path)))
        if path == "/apis/k3s.cattle.io/v1/etcdsnapshotfiles":  # this server's snapshots (the first's, through the VIP)
            items = snapshot_file_objects(self.node_name)
            return self.reply(
                200,
                {"kind": "ETCDSnapshotFileList", "apiVersion": "k3s.cattle.io/v1", "metadata": {"resourceVersion": "1"}, "items": items},
            )
        if path == "/api/v1/pods":  # the double runs no pods: a drain has nothing to evict
            return self.reply(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []})
        if path == "/api/v1/persistentvolumes":  # the test's (CONTROL/persistentvolumes.json), or none
            control = CONTROL / "persistentvolumes.json"
            items = json.loads(control.read_text()) if control.is_file() else []
            return self.reply(
                200, {"kind": "PersistentVolumeList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}
            )
        if path == "/api/v1/nodes":
            return self.reply(200, {"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": self.nodes()})
        if path.startswith("/api/v1/nodes/"):
            name = path.rsplit("/", 1)[1]
            for node in self.nodes():
                if node["metadata"]["name"] == name:
                    return self.reply(200, node)
            return self.reply(
                404,
                {
                    "kind": "Status",
                    "status": "Failure",
                    "reason": "NotFound",
                    "code": 404,
                    "message": f'nodes "{name}" not found',
                    "details": {"name": name, "kind": "nodes"},
                },
            )
        return self.reply(404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404})

    def forward(self, path: str, body: Any = None) -> bytes:
        return call(f"{self.upstream}{path}", self.token, body, self.tls)

    def do_PATCH(self) -> None:
        """Cordon and uncordon (spec.unschedulable) and annotations: the only changes the double's API accepts."""
        if not self.authorised():
            return self.reply(401, {"kind": "Status", "status": "Failure", "reason": "Unauthorized", "code": 401})
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        path = self.path.split("?")[0].rstrip("/")
        allowed = (
            path.startswith("/api/v1/nodes/")
            and isinstance(body, dict)
            and not set(body) - {"spec", "metadata", "apiVersion", "kind"}
            and not set(body.get("spec") or {}) - {"unschedulable"}
            and not set(body.get("metadata") or {}) - {"annotations", "name"}
        )
        if not allowed:
            message = "the k3s test double accepts only spec.unschedulable and metadata.annotations"
            return self.reply(422, {"kind": "Status", "status": "Failure", "reason": "Invalid", "code": 422, "message": message})
        name = path.rsplit("/", 1)[1]
        change = {"name": name, "spec": body.get("spec") or {}, "annotations": (body.get("metadata") or {}).get("annotations") or {}}
        if dry_run(self.path):  # a server-side dry run (check mode) changes nothing
            for node in self.nodes():
                if node["metadata"]["name"] == name:
                    return self.reply(200, node)
            return self.reply(404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404})
        if self.registry is None:
            self.forward("/v1-k3s/double/patch", change)
        elif not self.registry.patch(change):
            return self.reply(
                404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404, "message": f'nodes "{name}" not found'}
            )
        for node in self.nodes():
            if node["metadata"]["name"] == name:
                return self.reply(200, node)
        return self.reply(404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404})

    def do_DELETE(self) -> None:
        """Delete a Node (the only object the double's API deletes)."""
        if not self.authorised():
            return self.reply(401, {"kind": "Status", "status": "Failure", "reason": "Unauthorized", "code": 401})
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        path = self.path.split("?")[0].rstrip("/")
        name = path.rsplit("/", 1)[1]
        found = [node for node in self.nodes() if node["metadata"]["name"] == name]
        if not path.startswith("/api/v1/nodes/") or not found:
            return self.reply(
                404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404, "message": f'nodes "{name}" not found'}
            )
        if dry_run(self.path):
            return self.reply(200, found[0])
        if self.registry is None:
            self.forward("/v1-k3s/double/delete", {"name": name})
        else:
            self.registry.delete(name)
        return self.reply(200, found[0])

    def do_POST(self) -> None:
        if not self.authorised(current_only=self.path in ("/v1-k3s/double/join", "/v1-k3s/token")):
            return self.reply(401, b"401 Unauthorized", "text/plain")
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        if self.path == "/v1-k3s/token" and self.registry is not None:
            return self.reply(200, rotate_token(str(body.get("token") or secrets.token_hex(8)), self.tls))
        if self.path == "/v1-k3s/encrypt/config" and self.registry is not None:
            problem = rotate_keys(self.registry, str(body.get("stage", "")))
            return self.reply(400, problem.encode(), "text/plain") if problem else self.reply(200, {})
        if self.registry is None:  # a joined server passes registrations on to the first server
            try:
                return self.reply(200, json.loads(call(f"{self.upstream}{self.path}", self.token, body, self.tls)))
            except urllib.error.HTTPError as error:
                return self.reply(error.code, error.read(), "text/plain")
        if self.path == "/v1-k3s/double/join":
            problem = self.registry.register({k: v for k, v in body.items() if k not in ("certificates", "days")})
            if problem:
                return self.reply(403, problem.encode(), "text/plain")
            if body["role"] == "server":
                ca = {name: (self.tls / name).read_text() for name in ("server-ca.crt", "server-ca.key")}
                encryption = {"encryption-state": ENCRYPTION_STATE.read_text()} if ENCRYPTION_STATE.exists() else {}
                return self.reply(200, {**ca, **encryption, "cluster-id": CLUSTER_ID.read_text()})
            return self.reply(200, sign_for_agent(self.tls, body))
        if self.path == "/v1-k3s/double/heartbeat":
            self.registry.heartbeat(body["name"], str(body.get("encryption-hash") or ""))
            return self.reply(200, {})
        if self.path == "/v1-k3s/double/patch":
            self.registry.patch(body)
            return self.reply(200, {})
        if self.path == "/v1-k3s/double/delete":
            self.registry.delete(body["name"])
            return self.reply(200, {})
        return self.reply(404, b"not found", "text/plain")


def sign_for_agent(tls: Path, body: dict[str, Any]) -> dict[str, str]:
    """The kubelet certificates an agent asked for, signed with the cluster CA (k3s' /v1-k3s/client-kubelet.crt and
    serving-kubelet.crt; the double makes the key on the server, k3s on the agent)."""
    answer = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in body.get("certificates") or []:
            issue(Path(folder), name, [body["name"]], client=name.startswith("client"), ca=tls, days=int(body.get("days") or 365))
            answer[f"{name}.crt"] = (Path(folder) / f"{name}.crt").read_text()
            answer[f"{name}.key"] = (Path(folder) / f"{name}.key").read_text()
    return answer


def write_encryption_config(state: dict[str, Any]) -> None:
    """This server's encryption-config.json from the datastore's key list (the active key first), and its stage."""
    config = {
        "kind": "EncryptionConfiguration",
        "apiVersion": "apiserver.config.k8s.io/v1",
        "resources": [{"resources": ["secrets"], "providers": [{"aescbc": {"keys": state["keys"]}}, {"identity": {}}]}],
    }
    ENCRYPTION_CONFIG.parent.mkdir(parents=True, exist_ok=True)
    ENCRYPTION_CONFIG.write_text(json.dumps(config, sort_keys=True))
    os.chmod(ENCRYPTION_CONFIG, 0o600)
    (ENCRYPTION_CONFIG.parent / "double-encryption-stage").write_text(state["stage"])


def encryption_hash() -> str:
    """What k3s puts on a server's Node (ENCRYPTION_HASH): its stage and a hash of its encryption config."""
    if not ENCRYPTION_CONFIG.exists():
        return ""
    stage = (ENCRYPTION_CONFIG.parent / "double-encryption-stage").read_text().strip()
    return f"{stage}-{hashlib.sha256(ENCRYPTION_CONFIG.read_bytes()).hexdigest()[:16]}"


def ensure_encryption(config: dict[str, Any]) -> None:
    """The first server with secrets-encryption: a key made once (k3s' "aescbckey"), kept in the datastore."""
    if not config.get("secrets-encryption"):
        return
    if not ENCRYPTION_STATE.exists():
        ENCRYPTION_STATE.parent.mkdir(parents=True, exist_ok=True)
        key = {"name": "aescbckey", "secret": base64.b64encode(secrets.token_bytes(32)).decode()}
        ENCRYPTION_STATE.write_text(json.dumps({"stage": "start", "keys": [key]}))
    write_encryption_config(json.loads(ENCRYPTION_STATE.read_text()))


def encryption_status(registry: Registry) -> dict[str, Any]:
    """``/v1-k3s/encrypt/status``, k3s' EncryptionState fields: stage, active key, enabled, whether every server's
    Node carries the same encryption hash (and which two differ when not)."""
    if not ENCRYPTION_STATE.exists():
        return {"stage": "", "activekey": "", "enable": False}
    state = json.loads(ENCRYPTION_STATE.read_text())
    with registry.lock:
        hashes = [
            (name, node.get("encryption-hash", ""))
            for name, node in registry.nodes.items()
            if node.get("role") == "server" and not node.get("etcd_removed")
        ]
    differ = next(((a, b) for a, ha in hashes for b, hb in hashes if ha != hb), None)
    status: dict[str, Any] = {"stage": state["stage"], "activekey": state["keys"][0]["name"], "enable": True, "hashmatch": differ is None}
    if differ:
        status["hasherror"] = f"hash does not match between {differ[0]} and {differ[1]}"
    if len(state["keys"]) > 1:
        status["inactivekeys"] = [key["name"] for key in state["keys"][1:]]
    return status


def rotate_keys(registry: Registry, stage: str) -> str:
    """``k3s secrets-encrypt rotate-keys`` on the first server: refused unless every server has the same config and
    no rotation runs; a new key first, the secrets "re-encrypted" (a few seconds), then the old key dropped. The
    servers that joined take the new config when they restart."""
    if stage != "rotate_keys":
        return f"the keelson k3s test double does not implement secrets-encrypt stage {stage!r}"
    status = encryption_status(registry)
    if not status.get("enable"):
        return "secrets encryption is not enabled on this server"
    if not status.get("hashmatch"):
        return f"unable to rotate keys: {status.get('hasherror', '')}: restart the servers first"
    if status["stage"] not in ("start", "reencrypt_finished"):
        return f"unable to rotate keys: a rotation is at stage {status['stage']}"
    state = json.loads(ENCRYPTION_STATE.read_text())
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    new = {"name": f"aescbckey-{stamp}", "secret": base64.b64encode(secrets.token_bytes(32)).decode()}

    def advance(stage: str, keys: list[dict[str, Any]]) -> None:
        ENCRYPTION_STATE.write_text(json.dumps({"stage": stage, "keys": keys}))
        write_encryption_config({"stage": stage, "keys": keys})

    advance("reencrypt_active", [new, *state["keys"]])
    record("secrets-encrypt-rotate-keys", key=new["name"])

    def finish() -> None:
        time.sleep(3)
        advance("reencrypt_finished", [new])
        record("secrets-encrypt-reencrypt-finished", key=new["name"])

    threading.Thread(target=finish, daemon=True).start()
    return ""


def secrets_encrypt_command(args: list[str]) -> None:
    """``k3s secrets-encrypt status [-o text|json]`` and ``rotate-keys``, clients of the server on this host like k3s'."""
    command = args[0] if args else ""
    token_file = DATA / "server" / "token"
    token = token_file.read_text().strip() if token_file.exists() else ""
    url = (flag(args, "--server") or flag(args, "-s") or "https://127.0.0.1:6443").rstrip("/")
    tls = DATA / "server" / "tls"
    try:
        if command == "status":
            status = json.loads(call(f"{url}/v1-k3s/encrypt/status", token, None, tls))
            if (flag(args, "--output") or flag(args, "-o") or "text") == "json":
                print(json.dumps(status))
                return
            print(f"Encryption Status: {'Enabled' if status.get('enable') else 'Disabled'}")
            print(f"Current Rotation Stage: {status.get('stage', '')}")
            print(f"Server Encryption Hashes: {'All hashes match' if status.get('hashmatch') else status.get('hasherror', '')}")
            return
        if command == "rotate-keys":
            call(f"{url}/v1-k3s/encrypt/config", token, {"stage": "rotate_keys"}, tls)
            print("keys rotated, reencryption started")
            return
    except urllib.error.HTTPError as error:
        fatal(f"see server log for details: {error.read().decode(errors='replace')}")
    except OSError as error:
        fatal(f"failed to reach the server: {error}")
    fatal(f"the keelson k3s test double does not implement 'secrets-encrypt {command}'")


def dry_run(path: str) -> bool:
    """``?dryRun=All``: the API server validates the request and changes nothing."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    return "All" in query.get("dryRun", [])


def call(url: str, token: str, body: Any, tls: Path | None) -> bytes:
    context = (
        ssl.create_default_context(cafile=str(tls / "server-ca.crt"))
        if tls and (tls / "server-ca.crt").exists()
        else ssl._create_unverified_context()
    )
    request = urllib.request.Request(
        url, data=None if body is None else json.dumps(body).encode(), method="GET" if body is None else "POST"
    )
    request.add_header("Authorization", "Basic " + base64.b64encode(f"node:{token}".encode()).decode())
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        return response.read()


def token_digest(token: str) -> str:
    return hashlib.sha256(plain_token(token).encode()).hexdigest()


def write_server_tokens(tls: Path, token: str) -> None:
    """server/token and node-token (the agents' link to it), in k3s' full form K10<ca hash>::server:<token>."""
    full = f"K10{ca_hash(tls)}::server:{plain_token(token)}"
    for name in ("token", "node-token"):
        path = DATA / "server" / name
        path.write_text(full + "\n")
        os.chmod(path, 0o600)


def rotate_token(new: str, tls: Path) -> dict[str, Any]:
    """What k3s' /v1-k3s/token handler does on the server it is asked on: the bootstrap data re-encrypted with the
    new token, server/token (and node-token, the agents' link to it) rewritten; nodes joined go on until restarted."""
    Api.previous.add(token_digest(Api.token))
    PREVIOUS_TOKENS.write_text("\n".join(sorted(Api.previous)) + "\n")
    Api.token = new
    write_server_tokens(tls, new)
    BOOTSTRAP_TOKEN.write_text(token_digest(new))
    record("token-rotate")
    return {}


def token_command(args: list[str]) -> None:
    """``k3s token rotate [--token OLD] --new-token NEW [--server URL]``, a client of the running server like k3s'."""
    if not args or args[0] != "rotate":
        fatal(f"the keelson k3s test double does not implement 'token {' '.join(args[:1])}'")
    old = flag(args, "--token") or flag(args, "-t") or os.environ.get("K3S_TOKEN") or (DATA / "server" / "token").read_text().strip()
    url = (flag(args, "--server") or flag(args, "-s") or "https://127.0.0.1:6443").rstrip("/")
    try:
        call(f"{url}/v1-k3s/token", old, {"token": flag(args, "--new-token") or ""}, DATA / "server" / "tls")
    except urllib.error.HTTPError as error:
        fatal(f"failed to rotate token: {error.code} {error.reason}")
    except OSError as error:
        fatal(f"failed to rotate token: {error}")
    print(
        "WARNING: Recommended to keep a record of the old token. If restoring from a snapshot, you must use the token associated with that snapshot."
    )
    print("Token rotated, restart k3s nodes with new token")


def serve_api(port: int, tls: Path) -> None:
    server = http.server.ThreadingHTTPServer(("0.0.0.0", port), Api)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls / "serving-kube-apiserver.crt", tls / "serving-kube-apiserver.key")
    context.load_verify_locations(tls / "server-ca.crt")
    context.verify_mode = ssl.CERT_OPTIONAL  # clients with the admin certificate are authorised
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()


class Etcd(http.server.BaseHTTPRequestHandler):
    """The two etcd client calls keelson makes (health, member list), over TLS with the client certificate k3s
    writes for etcd. There is no etcd behind them: the members are the servers that joined, and a member is
    healthy while its server sends heartbeats (README.md)."""

    members: Any = None  # a callable returning the member list

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/health":
            self.send_error(404)
            return
        members = Etcd.members()
        quorum = sum(1 for m in members if m["healthy"]) > len(members) // 2
        self.reply({"health": "true" if quorum else "false", "reason": "" if quorum else "RAFT NO LEADER"})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path.rstrip("/") != "/v3/cluster/member/list":
            self.send_error(404)
            return
        members = [
            {
                "ID": str(int(hashlib.sha256(m["name"].encode()).hexdigest()[:15], 16)),
                "name": m["name"],
                "peerURLs": [f"https://{m['address']}:2380"],
                "clientURLs": [f"https://{m['address']}:2379"],
            }
            for m in Etcd.members()
        ]
        self.reply({"header": {"cluster_id": "1"}, "members": members})


def serve_etcd(tls: Path, address: str, members: Any) -> None:
    etcd = tls / "etcd"
    etcd.mkdir(parents=True, exist_ok=True)
    for name in ("server-ca.crt", "server-ca.key"):
        (etcd / name).write_bytes((tls / name).read_bytes())
    os.chmod(etcd / "server-ca.key", 0o600)
    issued = [
        name
        for name, sans, client in (("server-client", [], True), ("server", ["127.0.0.1", "localhost", address], False))
        if issue(etcd, name, sans, client=client)
    ]
    if issued:
        record("certificate-issue", files=[f"etcd/{name}.crt" for name in issued])
    Etcd.members = members
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 2379), Etcd)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(etcd / "server.crt", etcd / "server.key")
    context.load_verify_locations(etcd / "server-ca.crt")
    context.verify_mode = ssl.CERT_REQUIRED  # etcd wants the client certificate
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()


# --------------------------------------------------------------------------------------- commands


def node_identity(config: dict[str, Any]) -> dict[str, Any]:
    if not NODE_PASSWORD.exists():
        NODE_PASSWORD.parent.mkdir(parents=True, exist_ok=True)
        NODE_PASSWORD.write_text(secrets.token_hex(16))
        os.chmod(NODE_PASSWORD, 0o600)
    address = config.get("node-ip") or socket.gethostbyname(socket.gethostname())
    labels = dict(item.split("=", 1) for item in config.get("node-label", []))
    release = {k: v.strip('"') for k, _sep, v in (line.partition("=") for line in Path("/etc/os-release").read_text().splitlines())}
    machine_id = Path("/etc/machine-id").read_text().strip()
    info = {
        "machineID": machine_id,
        "systemUUID": machine_id,
        "bootID": Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
        "kernelVersion": os.uname().release,
        "osImage": release.get("PRETTY_NAME", ""),
    }
    return {
        "name": config.get("node-name") or socket.gethostname(),
        "version": VERSION,
        "address": str(address).split(",", maxsplit=1)[0],
        "info": info,
        "labels": labels,
        "taints": config.get("node-taint", []),
        "password": NODE_PASSWORD.read_text().strip(),
    }


def join(url: str, token: str, node: dict[str, Any]) -> dict[str, Any]:
    """Register with the cluster at ``url``; fail like k3s does when that is impossible."""
    try:
        ca = call(f"{url}/cacerts", token, None, None)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        fatal(f"Failed to validate connection to cluster at {url}: failed to get CA certs: Get {url}/cacerts: dial tcp: {reason}")
    if token.startswith("K10") and "::" in token and token[3:].split("::", maxsplit=1)[0] != hashlib.sha256(ca).hexdigest():
        fatal(f"Failed to validate connection to cluster at {url}: token CA hash does not match the Cluster CA certificate hash")
    tls = DATA / "server" / "tls"
    tls.mkdir(parents=True, exist_ok=True)
    (tls / "server-ca.crt").write_bytes(ca)
    for attempt in range(30):
        try:
            return json.loads(call(f"{url}/v1-k3s/double/join", token, node, tls))
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            if error.code == 401:
                fatal(f"Failed to validate connection to cluster at {url}: 401 Unauthorized: invalid token")
            log("info", f"Waiting to retrieve agent configuration; server is not ready: {text}")
        except (urllib.error.URLError, OSError) as error:
            log("info", f"Waiting to retrieve agent configuration; server is not ready: {error}")
        time.sleep(min(2 + attempt, 10))
    fatal(f"Failed to join cluster at {url}")
    return {}


def make_interfaces() -> None:
    """k3s' flannel and CNI bridge; keelson's reset must remove them. Needs NET_ADMIN; skipped without."""
    for name, kind in (("flannel.1", "vxlan id 1 dstport 8472 nolearning"), ("cni0", "bridge")):
        if not Path(f"/sys/class/net/{name}").exists():
            try:
                run("ip", "link", "add", name, "type", *kind.split())
            except (subprocess.CalledProcessError, FileNotFoundError) as error:
                log("warning", f"could not create {name}: {error}")


def claim_vip() -> None:
    """Stand in for kube-vip: when keelson wrote its static pod, put the VIP on the named interface.
    Only the first server does this; kube-vip's ARP leader election and failover are not imitated."""
    manifest = DATA / "agent" / "pod-manifests" / "kube-vip.yaml"
    if not manifest.exists():
        return
    env = {item["name"]: item["value"] for item in yaml.safe_load(manifest.read_text())["spec"]["containers"][0]["env"]}
    address, interface = env["address"], env["vip_interface"]
    if address not in run("ip", "-o", "addr", "show", "dev", interface).decode():
        try:
            run("ip", "addr", "add", f"{address}/{env.get('vip_cidr', '32')}", "dev", interface)
            log("info", f"kube-vip (test double): {address} added to {interface}")
        except subprocess.CalledProcessError as error:
            log("warning", f"kube-vip (test double): could not add {address} to {interface}: {error}")


def import_images() -> None:
    images = DATA / "agent" / "images"
    for tarball in sorted(images.glob("*.tar*")) if images.is_dir() else []:
        log("info", f"Imported images from {tarball} (test double: nothing to import)")


def heartbeat_forever(url: str, token: str, name: str, tls: Path | None) -> None:
    while True:
        try:
            call(f"{url}/v1-k3s/double/heartbeat", token, {"name": name, "encryption-hash": encryption_hash()}, tls)
        except (urllib.error.URLError, OSError) as error:
            log("warning", f"heartbeat to {url} failed: {error}")
        time.sleep(5)


def flag(args: list[str], name: str) -> str | None:
    """The value of ``--name VALUE`` or ``--name=VALUE``."""
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def cluster_reset(args: list[str], config: dict[str, Any], token: str) -> None:
    """``k3s server --cluster-reset [--cluster-reset-restore-path PATH]`` on the first server: the datastore (the
    double's node list) restored from the snapshot, a new cluster id, then exit like k3s does."""
    node_name = config.get("node-name") or socket.gethostname()
    if config.get("server"):
        fatal("--cluster-reset runs on the server the others join (test double: this one has 'server' in its config)")
    try:
        socket.create_connection(("127.0.0.1", 6443), timeout=2).close()
        fatal("listen tcp :6443: bind: address already in use (k3s still runs on this host: stop it first)")
    except OSError:
        pass
    path = asked = flag(args, "--cluster-reset-restore-path")
    if path and S3.enabled(config):
        # With etcd-s3 on, k3s reads the restore path as a name in the bucket and downloads it first (k3s' docs,
        # "Restoring Snapshots"); a local file needs --etcd-s3=false.
        bucket = S3(config)
        if "/" in path:
            fatal(f"failed to download {path} from S3: the restore path names a snapshot in the bucket when etcd-s3 is on (test double)")
        try:
            downloaded = bucket.download(path)
        except Exception as error:
            record("cluster-reset-failed", node=node_name, restore_path=path, reason=f"s3: {s3_error(error)}")
            fatal(f"failed to download {bucket.location(path)}: {s3_error(error)}")
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        (SNAPSHOTS / path).write_bytes(downloaded)
        record("etcd-snapshot-s3-download", name=path, location=bucket.location(path))
        path = str(SNAPSHOTS / path)
    if path:
        source = Path(path.removeprefix("file://"))
        if not source.is_file():
            fatal(f"etcd: snapshot {path} not found")
        content = json.loads(source.read_text() or "{}")
        saved = content.get("registry", content) if isinstance(content, dict) else {}
        if isinstance(content, dict) and content.get("token-hash") not in (None, token_digest(token)):
            record("cluster-reset-failed", node=node_name, restore_path=path, reason="token")
            fatal("bootstrap data already found and encrypted with different token")
        # etcd after a reset has one member, this server; the others become members again as they rejoin.
        for name, entry in saved.items():
            if entry.get("role") == "server" and name != node_name:
                entry["etcd_removed"] = True
        REGISTRY.parent.mkdir(parents=True, exist_ok=True)
        REGISTRY.write_text(json.dumps(saved, indent=1))
        SNAPSHOT_FILES.write_text(json.dumps(content.get("snapshotfiles", {}) if isinstance(content, dict) else {}, indent=1))
    CLUSTER_ID.parent.mkdir(parents=True, exist_ok=True)
    CLUSTER_ID.write_text(secrets.token_hex(8))
    BOOTSTRAP_TOKEN.write_text(token_digest(token))
    record("cluster-reset", node=node_name, restore_path=asked or "", s3=S3.enabled(config))
    log(
        "info",
        "Managed etcd cluster membership has been reset, restart without --cluster-reset flag now. "
        "Backup and delete ${datadir}/server/db on each peer etcd server and rejoin the nodes",
    )


def join_as_server(upstream: str, token: str, node: dict[str, Any], tls: Path) -> None:
    """Join the cluster at ``upstream`` as a server: its CA, and the cluster id its datastore must belong to."""
    log("info", f"Joining etcd cluster at {upstream}")
    answer = join(upstream, token, {**node, "role": "server"})
    cluster_id = answer.pop("cluster-id", "")
    encryption = answer.pop("encryption-state", "")
    if CLUSTER_ID.exists() and CLUSTER_ID.read_text() != cluster_id:
        record("start-failed", role="server", reason="stale-datastore")
        fatal(
            f"etcd cluster join failed: this server's datastore ({CLUSTER_ID.parent}) belongs to the cluster before a "
            "cluster reset: back it up, delete it and start again (test double)"
        )
    CLUSTER_ID.parent.mkdir(parents=True, exist_ok=True)
    CLUSTER_ID.write_text(cluster_id)
    if encryption:
        write_encryption_config(json.loads(encryption))
    tls.mkdir(parents=True, exist_ok=True)
    for name, content in answer.items():
        (tls / name).write_text(content)
    os.chmod(tls / "server-ca.key", 0o600)


def start_datastore(token: str, node: dict[str, Any], tls: Path) -> None:
    """The first server's side: the cluster CA and id, the bootstrap data's token checked, the node registry."""
    ensure_ca(tls)
    if not CLUSTER_ID.exists():
        CLUSTER_ID.parent.mkdir(parents=True, exist_ok=True)
        CLUSTER_ID.write_text(secrets.token_hex(8))
    if BOOTSTRAP_TOKEN.exists() and BOOTSTRAP_TOKEN.read_text().strip() != token_digest(token):
        record("start-failed", role="server", reason="token")
        fatal("bootstrap data already found and encrypted with different token")
    BOOTSTRAP_TOKEN.parent.mkdir(parents=True, exist_ok=True)
    BOOTSTRAP_TOKEN.write_text(token_digest(token))
    Api.previous = set(PREVIOUS_TOKENS.read_text().split()) if PREVIOUS_TOKENS.exists() else set()
    Api.registry = Registry(REGISTRY)
    problem = Api.registry.register({**node, "role": "server"})
    if problem:
        fatal(problem)


def server(args: list[str]) -> None:
    config = load_config(args)
    token_file = flag(args, "--token-file")
    token = (
        Path(token_file).read_text().strip()
        if token_file
        else os.environ.get("K3S_TOKEN") or flag(args, "--token") or config.get("token", "")
    )
    if "--cluster-reset" in args:
        cluster_reset(args, config, token)
        return
    fail_start_if_asked("server")
    S3_CLIENT.unlink(missing_ok=True)  # a new server process has no S3 client yet
    if not token:
        token = secrets.token_hex(16)
    node = node_identity(config)
    tls = DATA / "server" / "tls"
    Api.token, Api.tls, Api.node_name = token, tls, node["name"]
    upstream = config.get("server")
    if upstream:
        join_as_server(upstream, token, node, tls)
        Api.upstream = upstream
    else:
        start_datastore(token, node, tls)
        ensure_encryption(config)
    sans = ["127.0.0.1", "localhost", "kubernetes", "kubernetes.default", node["address"], node["name"], *config.get("tls-san", [])]
    issued = [
        name
        for name, names, client in (("serving-kube-apiserver", sans, False), ("client-admin", [], True))
        if issue(tls, name, names, client=client)
    ]
    issued += [
        name
        for name in ("client-kubelet", "serving-kubelet")
        if issue(DATA / "agent", name, [node["name"]], client=name.startswith("client"), ca=tls)
    ]
    if issued:
        record("certificate-issue", files=[f"{name}.crt" for name in issued])
    write_server_tokens(tls, token)
    if config.get("agent-token"):
        (DATA / "server" / "agent-token").write_text(f"K10{ca_hash(tls)}::node:{config['agent-token']}\n")
    write_kubeconfig(tls, config)
    serve_api(int(config.get("https-listen-port", 6443)), tls)
    registry = Api.registry
    if registry is not None:
        serve_etcd(tls, node["address"], registry.members)
    else:
        serve_etcd(tls, node["address"], lambda: json.loads(call(f"{upstream}/v1-k3s/double/members", token, None, tls)))
    if not upstream:
        claim_vip()
    import_images()
    make_interfaces()
    target = upstream or "https://127.0.0.1:6443"
    threading.Thread(target=heartbeat_forever, args=(target, token, node["name"], tls), daemon=True).start()
    log("info", f"k3s is up and running (test double {VERSION})")
    record("start", role="server", node=node["name"])
    notify_ready()
    signal.pause()


def write_kubeconfig(tls: Path, config: dict[str, Any]) -> None:
    def b64(name: str) -> str:
        return base64.b64encode((tls / name).read_bytes()).decode()

    path = Path(config.get("write-kubeconfig", ETC / "k3s.yaml"))
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "default",
        "preferences": {},
        "clusters": [
            {"name": "default", "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority-data": b64("server-ca.crt")}}
        ],
        "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default"}}],
        "users": [
            {"name": "default", "user": {"client-certificate-data": b64("client-admin.crt"), "client-key-data": b64("client-admin.key")}}
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(kubeconfig, sort_keys=False))
    os.chmod(path, int(str(config.get("write-kubeconfig-mode", "0600")), 8))


def agent(args: list[str]) -> None:
    fail_start_if_asked("agent")
    config = load_config(args)
    url, token = config.get("server"), config.get("token")
    if not url or not token:
        fatal("--server and --token (or token-file) are required for an agent")
    node = node_identity(config)
    # Like k3s' agent, new kubelet certificates from the server when there are none (k3s certificate rotate removed
    # them) or they expire within RENEW_DAYS; the server signs them with the cluster CA.
    wanted = [
        name
        for name in ("client-kubelet", "serving-kubelet")
        if not (DATA / "agent" / f"{name}.crt").exists() or expires_soon(DATA / "agent" / f"{name}.crt")
    ]
    answer = join(url, token, {**node, "role": "agent", "certificates": wanted, "days": leaf_days()})
    tls = DATA / "server" / "tls"
    (DATA / "agent").mkdir(parents=True, exist_ok=True)
    for name in wanted:
        for suffix in (".crt", ".key"):
            (DATA / "agent" / f"{name}{suffix}").write_text(answer[f"{name}{suffix}"])
        os.chmod(DATA / "agent" / f"{name}.key", 0o600)
    if wanted:
        record("certificate-issue", files=[f"{name}.crt" for name in wanted])
    (DATA / "agent" / "client-ca.crt").write_bytes((tls / "server-ca.crt").read_bytes())
    import_images()
    make_interfaces()
    threading.Thread(target=heartbeat_forever, args=(url, token, node["name"], tls), daemon=True).start()
    log("info", f"k3s agent is up and running (test double {VERSION})")
    record("start", role="agent", node=node["name"])
    notify_ready()
    signal.pause()


def s3_client(bucket: S3) -> None:
    """What k3s' server does for an etcd-snapshot command with etcd-s3 on, before anything else (pkg/etcd
    snapshot_handler.go, s3.GetClient): a client it made since it started, for the same configuration, is reused as
    it is; a new one first checks that the bucket exists, and when that fails the command is refused ("failed to
    initialize S3 client") and nothing is saved, listed or deleted. Once made, a failed upload is only logged."""
    wanted = hashlib.sha256(json.dumps([bucket.endpoint, bucket.bucket, bucket.folder, bucket.access_key]).encode()).hexdigest()
    if S3_CLIENT.exists() and S3_CLIENT.read_text() == wanted:
        return
    try:
        bucket.check_bucket()
    except Exception as error:
        record("etcd-snapshot-s3-client-failed", reason=s3_error(error))
        fatal(f"failed to initialize S3 client: failed to test for existence of bucket {bucket.bucket}: {s3_error(error)}")
    S3_CLIENT.parent.mkdir(parents=True, exist_ok=True)
    S3_CLIENT.write_text(wanted)


def etcd_snapshot(args: list[str]) -> None:
    """``k3s etcd-snapshot save [--name NAME]``, ``ls`` and ``delete``: files in k3s' default snapshot folder, named
    like k3s names them (<name>-<node>-<unix time>), and with etcd-s3 on, copies in the bucket (class S3). The content
    is the double's node registry, not an etcd snapshot."""
    command = args[0] if args and not args[0].startswith("-") else "save"
    config = load_config(args)
    # k3s' etcd-snapshot commands are requests to the server running on the host (k3s-io/k3s#9816, #10513).
    port = int(config.get("https-listen-port", 6443))
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError as error:
        fatal(f'etcd-snapshot error: Post "https://127.0.0.1:{port}/db/snapshot": dial tcp 127.0.0.1:{port}: {error}')
    bucket = S3(config) if S3.enabled(config) else None
    if bucket is not None:
        s3_client(bucket)
    if command in ("ls", "list"):
        # Like k3s (pkg/etcd/snapshot.go ListSnapshots): a bucket that cannot be listed fails the whole listing.
        try:
            remote = bucket.list() if bucket is not None else []
        except Exception as error:
            fatal(f"etcd-snapshot error: failed to list snapshots in S3: {s3_error(error)}")
        print(f"{'Name':<60} {'Location':<120} {'Size':<8} Created")
        if bucket is not None:
            for item in remote:
                print(f"{item['name']:<60} {bucket.location(item['name']):<120} {item['size']:<8} {item['created']}")
        for path in sorted(SNAPSHOTS.glob("*")) if SNAPSHOTS.is_dir() else []:
            created = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            print(f"{path.name:<60} {'file://' + str(path):<120} {path.stat().st_size:<8} {created}")
        return
    if command == "delete":
        remote = {item["name"] for item in bucket.list()} if bucket is not None else set()
        for name in [arg for arg in args[1:] if not arg.startswith("-")]:
            path = SNAPSHOTS / name
            if not path.is_file() and name not in remote:
                fatal(f"etcd-snapshot error: snapshot {name} not found")
            if path.is_file():
                path.unlink()
            SNAPSHOT_FILES.write_text(json.dumps({k: v for k, v in snapshot_records().items() if k != name}, indent=1))
            if bucket is not None and name in remote:
                bucket.delete(name)
                record("etcd-snapshot-s3-delete", name=name, location=bucket.location(name))
            record("etcd-snapshot-delete", name=name)
            log("info", f"Snapshot {name} deleted.")
        return
    if command != "save":
        fatal(f"the keelson k3s test double does not implement 'etcd-snapshot {command}'")
    save_snapshot(args, config, bucket)


def save_snapshot(args: list[str], config: dict[str, Any], bucket: S3 | None) -> None:
    """``k3s etcd-snapshot save``: the local file first, then the copy in the bucket."""
    name = args[args.index("--name") + 1] if "--name" in args else "on-demand"
    if (CONTROL / "fail-snapshot").exists():
        record("etcd-snapshot-failed", name=name)
        fatal(f"etcd-snapshot error: failed to save snapshot (test double: {CONTROL / 'fail-snapshot'} asks it to)")
    try:
        socket.create_connection(("127.0.0.1", 2379), timeout=2).close()
    except OSError as error:
        fatal(f"etcd-snapshot error: failed to get etcd status: dial tcp 127.0.0.1:2379: {error}")
    node_name = config.get("node-name") or socket.gethostname()
    SNAPSHOTS.mkdir(parents=True, exist_ok=True)
    snapshot = SNAPSHOTS / f"{name}-{node_name}-{int(time.time())}"
    server_token = DATA / "server" / "token"
    token_hash = token_digest(server_token.read_text().strip()) if server_token.exists() else None
    records = snapshot_records()
    content = {
        "registry": json.loads(REGISTRY.read_text()) if REGISTRY.exists() else {},
        # A real snapshot's bootstrap data is encrypted with the token: a restore needs the token of its time.
        "token-hash": token_hash,
        "snapshotfiles": records,  # the datastore's objects, which do not include this snapshot's own
    }
    snapshot.write_text(json.dumps(content))
    os.chmod(snapshot, 0o600)
    if token_hash is not None:  # k3s' object for the new snapshot, with its token hash (k3s: GetTokenHash, 12 digits)
        SNAPSHOT_FILES.write_text(json.dumps({**records, snapshot.name: token_hash[:12]}, indent=1))
    record("etcd-snapshot-save", name=snapshot.name)
    log("info", f"Snapshot {snapshot.name} saved.")
    if bucket is not None:
        # Like k3s (pkg/etcd/snapshot.go): a failed upload is logged, and the save still succeeds with the local copy.
        log("info", f"Saving etcd snapshot {snapshot.name} to S3")
        try:
            if (CONTROL / "fail-s3-upload").exists():
                raise OSError(f"Access Denied (test double: {CONTROL / 'fail-s3-upload'} asks it to)")
            bucket.upload(snapshot.name, snapshot.read_bytes())
        except Exception as error:
            record("etcd-snapshot-s3-upload-failed", name=snapshot.name, reason=s3_error(error))
            log("error", f"Error received during snapshot upload to S3: {s3_error(error)}")
            return
        record("etcd-snapshot-s3-upload", name=snapshot.name, location=bucket.location(snapshot.name))
        log("info", f"S3 upload complete for {snapshot.name}")


def stop(*_: Any) -> None:
    record("stop", role=sys.argv[1] if len(sys.argv) > 1 else "")
    sys.exit(0)


def main() -> None:
    args = sys.argv[1:]
    if not args or args[0] in ("--version", "-v", "version"):
        print(f"k3s version {VERSION} (keelson-test-double)\ngo version go1.25.9 (k3s test double, not k3s)")
        return
    signal.signal(signal.SIGTERM, stop)
    commands = {
        "server": server,
        "agent": agent,
        "etcd-snapshot": etcd_snapshot,
        "token": token_command,
        "certificate": certificate_command,
        "secrets-encrypt": secrets_encrypt_command,
    }
    if args[0] not in commands:
        fatal(f"the keelson k3s test double does not implement '{args[0]}'")
    commands[args[0]](args[1:])


if __name__ == "__main__":
    main()
