# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the k3s roles write, built as data: config.yaml, registries.yaml, hardening files, the kube-vip
static pod, the admin kubeconfig; and what a failed join's log means.

Pure functions of the normalised spec and node (see _spec.py); the filters in plugins/filter/k3s.py
expose them to the roles, and the unit tests pin them down.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from typing import Any, Final, Optional, Union

import yaml

from ansible_collections.keelson.platform.plugins.module_utils import _ml
from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG, kube_minor
from ansible_collections.keelson.platform.plugins.module_utils._components import keycloak as _keycloak
from ansible_collections.keelson.platform.plugins.module_utils._components import minio as _minio
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import CERTIFICATE, K3S_TOKEN, PLATFORM_CA
from ansible_collections.keelson.platform.plugins.module_utils._formats import parse_ip
from ansible_collections.keelson.platform.plugins.module_utils._spec_model import (
    K3S_S3_REGION,
    K3S_SNAPSHOT_RETENTION,
    K3S_SNAPSHOT_SCHEDULE,
)
from ansible_collections.keelson.platform.plugins.plugin_utils._platform_secrets import credentials, part_of

ETC: Final = "/etc/rancher/k3s"
TOKEN_FILE: Final = f"{ETC}/token"
# What k3s writes from the token it runs with (K10<ca hash>::server:<token>); `k3s token rotate` rewrites it.
SERVER_TOKEN_FILE: Final = "/var/lib/rancher/k3s/server/token"
AUDIT_POLICY: Final = f"{ETC}/audit-policy.yaml"
PSA_CONFIG: Final = f"{ETC}/pod-security.yaml"
AUDIT_LOG: Final = "/var/lib/rancher/k3s/server/logs/audit.log"
REGISTRY_CA_DIR: Final = f"{ETC}/registry-ca"
OIDC_CA_FILE: Final = f"{ETC}/oidc-ca.crt"  # the platform CA's certificate: the API server verifies the issuer with it
# The snapshot bucket's CA, and its keys in a config drop-in of their own (k3s merges config.yaml.d/*.yaml into
# config.yaml for every command, etcd-snapshot's too): written under no_log, never shown in a diff of config.yaml.
S3_CA_FILE: Final = f"{ETC}/etcd-s3-ca.pem"
S3_CREDENTIALS_FILE: Final = f"{ETC}/config.yaml.d/etcd-s3-credentials.yaml"
# What keeps an etcd-snapshot command (save, ls, a --cluster-reset-restore-path) to the server's own copies when
# config.yaml turns etcd-s3 on (k3s' docs, "Restoring Snapshots").
LOCAL_ONLY: Final = ("--etcd-s3=false",)
# Namespaces the default "restricted" Pod Security level does not apply to (k3s' own components).
PSA_EXEMPT_NAMESPACES: Final = ("kube-system",)


def token(spec: dict[str, Any]) -> dict[str, Any]:
    """The cluster token as the platform's credential list has it: its name in the secrets backend and
    how keelson.platform.secret generates it (``generate``), so the roles restate neither; and where the nodes
    keep it (``file``, config.yaml's token-file) and where k3s writes the one it runs with (``server_file``)."""
    credential = next(item for item in credentials(spec) if item.name == K3S_TOKEN)
    return {
        "name": credential.name,
        "generate": {"length": credential.length, "alphabet": credential.kind},
        "file": TOKEN_FILE,
        "server_file": SERVER_TOKEN_FILE,
    }


def oidc_ca(spec: dict[str, Any]) -> Optional[dict[str, Any]]:
    """The platform CA the API server must trust to reach the OIDC issuer: its name in the secrets backend, how
    keelson.platform.secret generates it (once), and where the servers keep its certificate; None when the API
    server has no OIDC issuer or the issuer's certificate comes from a public CA."""
    if not _oidc_args(spec):
        return None
    credential = next((item for item in credentials(spec) if item.kind == PLATFORM_CA), None)
    if credential is None:
        return None
    return {"name": credential.name, "generate": {"length": 32, "alphabet": credential.kind}, "path": OIDC_CA_FILE}


def ca_certificate(value: str) -> str:
    """The certificate of the platform CA's credential (never its private key), for the servers' file."""
    return part_of(value, CERTIFICATE)


def api_url(address: str, port: int = 6443) -> str:
    ip = parse_ip(address)
    host = f"[{address}]" if ip is not None and ip.version == 6 else address
    return f"https://{host}:{port}"


def first_server(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return next(node for node in nodes if node["role"] == "server")


def join_url(spec: dict[str, Any], nodes: list[dict[str, Any]], role: str) -> str:
    """Servers join through the first server; agents through the VIP when there is one."""
    vip = spec["cluster"]["api_vip"]
    if role == "agent" and vip:
        return api_url(vip)
    return api_url(first_server(nodes)["address"])


def _oidc_args(spec: dict[str, Any]) -> list[str]:
    keycloak = spec["components"]["keycloak"]
    if not keycloak["enabled"]:
        return []
    return [
        f"oidc-issuer-url={_keycloak.issuer_url(keycloak['host'], spec['identity']['realm'])}",
        f"oidc-client-id={_keycloak.API_SERVER_CLIENT.client_id}",
        "oidc-username-claim=preferred_username",
        f"oidc-username-prefix={_keycloak.OIDC_PREFIX}",
        "oidc-groups-claim=groups",
        f"oidc-groups-prefix={_keycloak.OIDC_PREFIX}",
    ]


def config(spec: dict[str, Any], nodes: list[dict[str, Any]], node: dict[str, Any]) -> dict[str, Any]:
    """/etc/rancher/k3s/config.yaml for ``node`` (a normalised node: host, role, address, name, ...)."""
    cluster = spec["cluster"]
    server = node["role"] == "server"
    result: dict[str, Any] = {"token-file": TOKEN_FILE, "node-name": node["name"]}
    if parse_ip(node["address"]) is not None:
        result["node-ip"] = node["address"]
    if server and node["host"] == first_server(nodes)["host"]:
        result["cluster-init"] = True
    else:
        result["server"] = join_url(spec, nodes, node["role"])
    labels = dict(node["labels"])
    if node["gpus"] > 0:
        # What the NVIDIA device plugin and its RuntimeClass select on (components/nvidia_device_plugin.py).
        labels[_ml.GPU_NODE_LABEL] = _ml.GPU_NODE_VALUE
    if labels:
        result["node-label"] = [f"{key}={value}" for key, value in sorted(labels.items())]
    if node["taints"]:
        result["node-taint"] = list(node["taints"])
    kubelet_args = []
    if cluster["hardening"]:
        result["protect-kernel-defaults"] = True
        kubelet_args.append("streaming-connection-idle-timeout=5m")
    if server:
        result["write-kubeconfig-mode"] = "0600"
        result["cluster-cidr"] = ",".join(cluster["cluster_cidr"])
        result["service-cidr"] = ",".join(cluster["service_cidr"])
        sans = ([cluster["api_vip"]] if cluster["api_vip"] else []) + list(cluster["api_names"])
        if sans:
            result["tls-san"] = sans
        if cluster["disable"]:
            result["disable"] = sorted(cluster["disable"])
        if cluster["secrets_encryption"]:
            result["secrets-encryption"] = True
        snapshots = cluster["etcd_snapshots"]
        if snapshots["schedule"] is None:
            result["etcd-disable-snapshots"] = True
        elif snapshots["schedule"] != K3S_SNAPSHOT_SCHEDULE:
            result["etcd-snapshot-schedule-cron"] = snapshots["schedule"]
        if snapshots["retention"] != K3S_SNAPSHOT_RETENTION:
            result["etcd-snapshot-retention"] = snapshots["retention"]
        result.update(_s3_config(snapshots))
        apiserver_args = _oidc_args(spec)
        if oidc_ca(spec) is not None:
            apiserver_args.append(f"oidc-ca-file={OIDC_CA_FILE}")
        if cluster["hardening"]:
            apiserver_args += [
                f"audit-log-path={AUDIT_LOG}",
                f"audit-policy-file={AUDIT_POLICY}",
                "audit-log-maxage=30",
                "audit-log-maxbackup=10",
                "audit-log-maxsize=100",
                f"admission-control-config-file={PSA_CONFIG}",
            ]
            result["kube-controller-manager-arg"] = ["terminated-pod-gc-threshold=10"]
        if apiserver_args:
            result["kube-apiserver-arg"] = apiserver_args
    if kubelet_args:
        result["kubelet-arg"] = kubelet_args
    return result


def _s3_config(snapshots: dict[str, Any]) -> dict[str, Any]:
    """k3s' etcd-s3 settings in config.yaml (the keys are in S3_CREDENTIALS_FILE); k3s' defaults are left out."""
    if snapshots["minio_bucket"]:
        # The platform's MinIO: k3s reads endpoint, bucket, keys and CA from the Secret keelson renders, at each
        # snapshot (it need not exist at start), and only when no other etcd-s3 setting is given.
        return {"etcd-s3": True, "etcd-s3-config-secret": _minio.ETCD_S3_CONFIG_SECRET}
    s3 = snapshots["s3"]
    if s3 is None:
        return {}
    result: dict[str, Any] = {"etcd-s3": True, "etcd-s3-endpoint": s3["endpoint"], "etcd-s3-bucket": s3["bucket"]}
    if s3["folder"] not in (None, "."):
        result["etcd-s3-folder"] = s3["folder"]
    if s3["region"] != K3S_S3_REGION:
        result["etcd-s3-region"] = s3["region"]
    if s3["ca_cert"]:
        result["etcd-s3-endpoint-ca"] = S3_CA_FILE
    if s3["insecure"]:
        result["etcd-s3-insecure"] = True
    return result


def snapshot_s3(spec: dict[str, Any]) -> dict[str, Any]:
    """What a server needs besides config.yaml to copy snapshots to S3: whether it does (``enabled``), the two
    secrets-backend keys that hold the S3 keys, the drop-in they go into, and the CA file with its content (null
    without a CA). The paths are there when S3 is off too: the role removes what is no longer wanted.

    ``local_only`` are the flags that keep an etcd-snapshot command to the server's own copies: empty unless
    config.yaml turns etcd-s3 on (with ``s3``, and with the platform's MinIO bucket, which ``enabled`` leaves out:
    it needs no keys on the hosts and cannot be restored from). ``restorable_only`` keep it to the copies a restore
    can take back: the bucket's too with ``s3``, the server's own with MinIO (which is inside the cluster a restore
    resets)."""
    snapshots = spec["cluster"]["etcd_snapshots"]
    s3 = snapshots["s3"]
    local_only = list(LOCAL_ONLY) if s3 is not None or snapshots["minio_bucket"] is not None else []
    return {
        "enabled": s3 is not None,
        "local_only": local_only,
        "restorable_only": [] if s3 is not None else local_only,
        "secrets": [s3["access_key_secret"], s3["secret_key_secret"]] if s3 is not None else [],
        "credentials_file": S3_CREDENTIALS_FILE,
        "ca_file": S3_CA_FILE,
        "ca_cert": s3["ca_cert"] if s3 is not None else None,
    }


def snapshot_s3_credentials(spec: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """The drop-in with the S3 keys; ``values`` maps the secrets-backend keys snapshot_s3 names to their values."""
    s3 = spec["cluster"]["etcd_snapshots"]["s3"]
    return {"etcd-s3-access-key": values[s3["access_key_secret"]], "etcd-s3-secret-key": values[s3["secret_key_secret"]]}


def registries(spec_registries: dict[str, Any], passwords: dict[str, str]) -> dict[str, Any]:
    """/etc/rancher/k3s/registries.yaml; ``passwords`` maps password_secret names to their values."""
    result: dict[str, Any] = {}
    if spec_registries["mirrors"]:
        result["mirrors"] = {name: {"endpoint": list(mirror["endpoints"])} for name, mirror in sorted(spec_registries["mirrors"].items())}
    configs: dict[str, Any] = {}
    for host, settings in sorted(spec_registries["configs"].items()):
        entry: dict[str, Any] = {}
        if settings["username"]:
            entry["auth"] = {"username": settings["username"]}
            if settings["password_secret"]:
                entry["auth"]["password"] = passwords[settings["password_secret"]]
        tls: dict[str, Any] = {}
        if settings["ca_cert"]:
            tls["ca_file"] = registry_ca_path(host)
        if settings["insecure_skip_verify"]:
            tls["insecure_skip_verify"] = True
        if tls:
            entry["tls"] = tls
        if entry:
            configs[host] = entry
    if configs:
        result["configs"] = configs
    return result


def registry_ca_path(host: str) -> str:
    return f"{REGISTRY_CA_DIR}/{re.sub(r'[^A-Za-z0-9.-]', '_', host)}.pem"


def audit_policy() -> dict[str, Any]:
    """Record every request's metadata (the CIS benchmark's minimum); request bodies stay out of the log."""
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [{"level": "Metadata"}],
    }


def pod_security(k3s_version: str) -> dict[str, Any]:
    """Pod Security admission: restricted by default, pinned to the cluster's Kubernetes version."""
    version = kube_minor(k3s_version)
    levels = {}
    for mode in ("enforce", "audit", "warn"):
        levels[mode] = "restricted"
        levels[f"{mode}-version"] = version
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AdmissionConfiguration",
        "plugins": [
            {
                "name": "PodSecurity",
                "configuration": {
                    "apiVersion": "pod-security.admission.config.k8s.io/v1",
                    "kind": "PodSecurityConfiguration",
                    "defaults": levels,
                    "exemptions": {"usernames": [], "runtimeClasses": [], "namespaces": list(PSA_EXEMPT_NAMESPACES)},
                },
            }
        ],
    }


def kube_vip(vip: str, interface: str) -> dict[str, Any]:
    """kube-vip as a static pod on every server: ARP, leader election, the API on the VIP."""
    image = CATALOG["host"]["kube_vip"]
    prefix = "128" if ":" in vip else "32"
    env = {
        "address": vip,
        "port": "6443",
        "vip_arp": "true",
        "vip_interface": interface,
        "vip_cidr": prefix,
        "cp_enable": "true",
        "cp_namespace": "kube-system",
        "vip_leaderelection": "true",
        "vip_leasename": "plndr-cp-lock",
        "vip_leaseduration": "5",
        "vip_renewdeadline": "3",
        "vip_retryperiod": "1",
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "kube-vip", "namespace": "kube-system", "labels": {"app.kubernetes.io/name": "kube-vip"}},
        "spec": {
            "hostNetwork": True,
            "hostAliases": [{"ip": "127.0.0.1", "hostnames": ["kubernetes"]}],
            "containers": [
                {
                    "name": "kube-vip",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "args": ["manager"],
                    "env": [{"name": key, "value": value} for key, value in env.items()],
                    "securityContext": {"capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]}},
                    "volumeMounts": [{"name": "kubeconfig", "mountPath": "/etc/kubernetes/admin.conf", "readOnly": True}],
                }
            ],
            "volumes": [{"name": "kubeconfig", "hostPath": {"path": f"{ETC}/k3s.yaml", "type": "File"}}],
        },
    }


def interface_of(addresses: list[dict[str, Any]], address: str) -> Optional[str]:
    """The interface that holds ``address`` (from preflight's measurements)."""
    for item in addresses:
        if item["address"] == address:
            return str(item["interface"])
    return None


def kubeconfig(text: str, server: str, name: str) -> str:
    """k3s' admin kubeconfig with the server address a user can reach and names that say which cluster."""
    data = yaml.safe_load(text)
    for cluster in data.get("clusters", []):
        cluster["name"] = name
        cluster["cluster"]["server"] = server
    for user in data.get("users", []):
        user["name"] = f"{name}-admin"
    for context in data.get("contexts", []):
        context["name"] = name
        context["context"]["cluster"] = name
        context["context"]["user"] = f"{name}-admin"
    data["current-context"] = name
    return str(yaml.safe_dump(data, default_flow_style=False, sort_keys=False))


# (pattern in k3s' log, what it means and what to do) - first match wins.
_DIAGNOSES: Final = (
    (
        re.compile(
            r"token CA hash does not match|401 Unauthorized|failed to validate token|invalid token|bootstrap data.*token",
            re.I,
        ),
        "the cluster rejected its token: it does not match the token the cluster was created with. The token "
        "lives in the secrets backend as k3s-token; a cluster built with another one must be reset or joined with that token",
    ),
    (
        re.compile(r"duplicate hostname|Node password rejected|duplicate node name|due to duplicate", re.I),
        "another machine is already registered under its node name; give it a unique keelson_node.name, or delete "
        "the stale node (kubectl delete node) and /var/lib/rancher/k3s/server/cred/node-passwd entry",
    ),
    (
        re.compile(r"certificate has expired or is not yet valid|clock skew|time difference", re.I),
        "its clock disagrees with the servers' (TLS certificates look expired or not yet valid); synchronise the clocks (NTP)",
    ),
    (
        re.compile(
            r"connection refused|i/o timeout|no route to host|network is unreachable|dial tcp|context deadline exceeded",
            re.I,
        ),
        "it cannot reach the server it joins through; check the address, routing and firewalls for port 6443",
    ),
)


def diagnose_join(log: str, host: str, server: str) -> str:
    """One sentence saying why ``host`` did not join through ``server``, from k3s' own log."""
    for pattern, meaning in _DIAGNOSES:
        for line in reversed(log.splitlines()):
            if pattern.search(line):
                return f"{host} did not join the cluster through {server}: {meaning}. k3s said: {line.strip()[-300:]}"
    tail = " | ".join(line.strip() for line in log.splitlines()[-5:])
    return f"{host} did not become Ready through {server} in time, and k3s' log names no known cause. Last lines: {tail}"


def _selects(selector: Optional[dict[str, Any]], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels and matchExpressions) against a pod's labels. In policy/v1 an empty selector
    matches every pod of the namespace; none at all matches none."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def drain_blockers(
    pods: list[dict[str, Any]], budgets: list[dict[str, Any]], node: str, timeout: int, error: str = "", *, playbook: str = "upgrade"
) -> str:
    """Why draining ``node`` did not finish: the pods still on it, each with the PodDisruptionBudgets that cover it
    and allow no disruption now, and what to do (run ``playbook``.yml again)."""
    blocked = []
    for pod in pods:
        meta = pod.get("metadata", {})
        namespace, labels = meta.get("namespace", ""), meta.get("labels") or {}
        if any(owner.get("kind") == "DaemonSet" for owner in meta.get("ownerReferences") or []):
            continue  # drains leave DaemonSet pods
        covering = [
            budget
            for budget in budgets
            if budget.get("metadata", {}).get("namespace") == namespace and _selects(budget.get("spec", {}).get("selector"), labels)
        ]
        stuck = [b for b in covering if (b.get("status") or {}).get("disruptionsAllowed", 0) < 1]
        reason = (
            "PodDisruptionBudget " + ", ".join(f"{namespace}/{b['metadata']['name']}" for b in stuck) + " allows no disruption now"
            if stuck
            else "not evicted in time"
        )
        blocked.append(f"{namespace}/{meta.get('name')} ({reason})")
    found = "; ".join(blocked) if blocked else "no pod is left on it, so the drain itself failed"
    said = f" The drain said: {error.strip()[-300:]}" if error.strip() else ""
    return (
        f"draining {node} did not finish within {timeout} s, so {playbook}.yml stops before changing it: {found}.{said} "
        f"{node} is uncordoned again and nothing on it changed. Let the budgets allow a disruption (scale the "
        "workload up, or relax minAvailable / maxUnavailable), or raise cluster.upgrade.drain_timeout, then run "
        f"{playbook}.yml again."
    )


def snapshots(listing: str) -> list[dict[str, Any]]:
    """``k3s etcd-snapshot ls`` (a table: Name, Location, Size, Created) as a list of name, location, size, created."""
    result = []
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[0] != "Name" and "://" in fields[1]:
            name, location, size, created = fields
            result.append({"name": name, "location": location, "size": int(size) if size.isdigit() else size, "created": created})
    return result


def snapshot_files(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A server's snapshot folder as ``snapshots`` lists it, from ``ansible.builtin.find``'s ``files`` (path, size,
    mtime): what restore.yml reads when k3s does not answer there (its etcd-snapshot commands ask the running
    server). Every file is a snapshot, as k3s' own listing of the folder takes it."""
    result = []
    for item in sorted(files, key=lambda entry: str(entry["path"])):
        path = str(item["path"])
        created = datetime.datetime.fromtimestamp(float(item.get("mtime") or 0), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        result.append(
            {"name": path.rsplit("/", 1)[-1], "location": f"file://{path}", "size": int(item.get("size") or 0), "created": created}
        )
    return result


def snapshots_to_prune(listing: list[dict[str, Any]], name: str, node: str, retention: int) -> list[str]:
    """The on-demand snapshots named ``<name>-<node>-<unix time>`` beyond the newest ``retention``, oldest first
    (what ``k3s etcd-snapshot prune`` would remove, computed so that check mode can say it). A snapshot k3s also
    copied to S3 is listed twice, once per location, and counts once: ``k3s etcd-snapshot delete`` removes both."""
    pattern = re.compile(rf"^{re.escape(name)}-{re.escape(node)}-(\d+)$")
    own = sorted(
        {
            (int(match.group(1)), item["name"])
            for item in listing
            if item["location"].startswith(("file://", "s3://")) and (match := pattern.match(item["name"]))
        }
    )
    return [snapshot for _stamp, snapshot in own[: max(len(own) - retention, 0)]]


def snapshot_to_restore(listing: list[dict[str, Any]], name: str, s3: bool, etcd_s3: Optional[bool] = None) -> Optional[dict[str, Any]]:
    """How ``k3s server --cluster-reset`` takes snapshot ``name`` back, from the listing of ``k3s etcd-snapshot ls``:
    the server's own copy when it has one, else (with ``s3``, snapshots copied to an S3 k3s can reach while the
    cluster is down) the bucket's. None when neither holds it.

    k3s reads the restore path as a name in the bucket when config.yaml turns etcd-s3 on (``etcd_s3``; by default
    ``s3``: the platform's MinIO turns it on too, but its bucket cannot be restored from), and as a file only with
    ``--etcd-s3=false`` (k3s' docs, "Restoring Snapshots"): ``args`` are the flags that go with ``path``."""
    etcd_s3 = s3 if etcd_s3 is None else etcd_s3
    locations = [item["location"] for item in listing if item["name"] == name]
    local = next((location for location in locations if location.startswith("file://")), None)
    if local is not None:
        return {"name": name, "source": local, "path": local.removeprefix("file://"), "args": list(LOCAL_ONLY) if etcd_s3 else []}
    remote = next((location for location in locations if location.startswith("s3://")), None)
    if remote is not None and s3:
        return {"name": name, "source": remote, "path": name, "args": []}
    return None


def _token_id(value: str) -> str:
    """A short name for a token that does not reveal it (the start of its SHA-256)."""
    return hashlib.sha256(plain_token(value).encode()).hexdigest()[:12]


def plain_token(value: str) -> str:
    """The secret part of a k3s token: ``K10<ca hash>::server:<secret>`` (what k3s writes) or just ``<secret>``."""
    value = value.strip()
    if value.startswith("K10") and "::" in value:
        return value.split("::", 1)[1].split(":", 1)[-1]  # <user>:<secret>, or a bare secret
    return value


RETIRED: Final = ".retired-"  # <cluster token name>.retired-<token id>: a token a rotation left (rotate.yml)


def retired_token_name(name: str, value: str) -> str:
    """The name the secrets backend keeps token ``value`` under once a rotation left it: snapshots from before the
    rotation need it (k3s encrypts a snapshot's bootstrap data with the token of its time)."""
    return f"{name}{RETIRED}{_token_id(value)}"


# k3s' annotation on an ETCDSnapshotFile: the first 12 hex digits of the SHA-256 of the token's secret part when
# the snapshot was saved (pkg/etcd/snapshot/types.go AnnotationTokenHash, pkg/util/token.go GetTokenHash), the
# same digits keelson's retired names end with (_token_id).
SNAPSHOT_TOKEN_HASH: Final = "etcd.k3s.cattle.io/snapshot-token-hash"


def snapshot_token_hash(snapshot_files: list[dict[str, Any]], name: str) -> str:
    """The token hash k3s recorded for snapshot ``name`` on its ETCDSnapshotFile objects (``k8s_info``'s
    resources), or "" when no object of that name carries one, or they disagree. k3s records it when it saves a
    snapshot; an object it makes again later for a file it finds (after a restore, say) has none."""
    found = {
        str(annotation)
        for item in snapshot_files
        if (item.get("spec") or {}).get("snapshotName") == name
        and (annotation := ((item.get("metadata") or {}).get("annotations") or {}).get(SNAPSHOT_TOKEN_HASH))
    }
    if len(found) != 1:
        return ""
    (value,) = found
    return value if re.fullmatch("[0-9a-f]{12}", value) else ""


def restore_token(
    spec: dict[str, Any],
    asked: Optional[str] = None,
    snapshot_hash: Optional[str] = None,
    cluster_token: Optional[str] = None,
    snapshot: Optional[str] = None,
) -> dict[str, Any]:
    """Which token restore.yml resets etcd with: ``asked`` (``keelson_restore_token``), the cluster token's name
    (the default) or a name a rotation kept a token under (``<name>.retired-<12 hex digits>``, see
    retired_token_name). ``name`` is the one to reset with, ``cluster`` the cluster token's, ``retired`` whether they
    differ (then the restored cluster is moved back to the cluster token with ``k3s token rotate``), ``refusal`` why
    ``asked`` cannot be used, or "".

    With ``snapshot_hash`` (snapshot_token_hash: k3s' record of the token ``snapshot`` was saved with) and the
    backend's ``cluster_token``, the token is known: the cluster token when their hashes match, else the one a
    rotation kept under that hash. It is then taken without ``asked`` (``found``), and an ``asked`` that names
    another is refused before anything stops."""
    cluster = str(token(spec)["name"])
    name = str(asked or "").strip() or cluster
    result: dict[str, Any] = {"name": name, "cluster": cluster, "retired": name != cluster, "refusal": "", "found": False}
    if name != cluster and not re.fullmatch(re.escape(cluster + RETIRED) + "[0-9a-f]{12}", name):
        result["refusal"] = (
            f"keelson_restore_token={name!r} names neither the cluster token ({cluster}) nor a token a rotation kept "
            f"({cluster}{RETIRED}<12 hex digits>, the name rotate.yml reported when it rotated the token away). Run "
            f"again without it to restore with {cluster}, or with one of those names. Nothing was changed."
        )
        return result
    if not snapshot_hash or not cluster_token:
        return result
    wanted = cluster if snapshot_hash == _token_id(cluster_token) else f"{cluster}{RETIRED}{snapshot_hash}"
    if str(asked or "").strip() and name != wanted:
        result["refusal"] = (
            f"{snapshot or 'The snapshot'} was saved with the token {wanted} (k3s recorded its hash, {snapshot_hash}, "
            f"on the snapshot's ETCDSnapshotFile), not {name}: k3s would refuse the reset with every server stopped. "
            f"Run again without keelson_restore_token to restore with {wanted}, or, when k3s' record is wrong "
            f"(docs/day2.md), with -e keelson_restore_ignore_record=true as well. Nothing was changed."
        )
        return result
    return {**result, "name": wanted, "retired": wanted != cluster, "found": True}


def token_rotation(
    spec: dict[str, Any],
    current: str,
    on_cluster: str,
    on_nodes: dict[str, str],
    *,
    next_token: Optional[str] = None,
    node_objects: Optional[list[dict[str, Any]]] = None,
) -> dict[str, Any]:
    """Where a rotation of the cluster token stands, so that rotate.yml goes on from where a run stopped.

    ``current`` is the backend's cluster token, ``on_cluster`` what the first server's ``server/token`` holds,
    ``on_nodes`` each node's token file (TOKEN_FILE) by node name, ``next_token`` the value under
    the pending name when the backend has one. The backend keeps the token a rotation moves to under ``pending``
    (made once, before k3s is asked) and the one it leaves under ``retired`` (snapshots from before the rotation
    need it). ``step``:

    - ``rotate``: the cluster and every node run the backend's token: ask k3s to rotate it to the pending one;
    - ``record``: k3s already runs the pending token (a run stopped after ``k3s token rotate``): make it the
      backend's cluster token, then move the nodes;
    - ``finish``: the backend and the cluster run the new token, ``behind`` nodes still have the old one in their
      token file (a run stopped while moving the nodes): move those;
    - ``refuse``: the cluster runs neither token, or a new rotation is asked while nodes of ``on_nodes`` are not
      Ready in ``node_objects`` (the API's Node objects): a rotation restarts every node, and a node down may be
      one a run stopped on. ``reason`` says what to do."""
    name = token(spec)["name"]
    running, backend = plain_token(on_cluster), plain_token(current)
    behind = sorted(node for node, value in on_nodes.items() if plain_token(value) != backend)
    result: dict[str, Any] = {"name": name, "step": "refuse", "reason": "", "behind": behind}
    result["pending"], result["retired"] = f"{name}.next-{_token_id(current)}", retired_token_name(name, current)
    ready = {
        str(item.get("metadata", {}).get("name"))
        for item in node_objects or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in (item.get("status") or {}).get("conditions") or [])
    }
    not_ready = [node for node in on_nodes if node not in ready] if node_objects is not None else []
    if running == backend and not behind and not_ready:
        result["reason"] = (
            f"{', '.join(sorted(not_ready))} {'is' if len(not_ready) == 1 else 'are'} not Ready: a rotation restarts "
            f"every node, one at a time, and would leave the cluster short. Bring {'it' if len(not_ready) == 1 else 'them'} "
            f"back first (journalctl -u k3s or -u k3s-agent there), then run rotate.yml again. Nothing was changed."
        )
    elif running == backend:
        result["step"] = "finish" if behind else "rotate"
    elif next_token is not None and running == plain_token(next_token):
        result["step"] = "record"
    else:
        result["reason"] = (
            f"the first server's cluster token ({SERVER_TOKEN_FILE}) is neither the one the secrets "
            f"backend holds as {name} nor the one a rotation would move to ({result['pending']}): the backend is not "
            f"this cluster's, or the token was changed outside keelson. Store the cluster's token as {name} "
            f"(keelson.platform.secret) and run rotate.yml again. Nothing was changed."
        )
    return result


# How systemd prints a unit's timestamps (`systemctl show`): "Mon 2026-12-07 16:03:35 UTC", the day's name from
# systemd's own English table, the zone the one systemctl runs in (the tasks that read it set TZ=UTC).
_SYSTEMD_TIMESTAMP: Final = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (UTC|GMT)$")


def started_before(status: dict[str, Any], mtime: Union[float, str]) -> bool:
    """Whether the running unit whose ``systemctl show`` properties are ``status`` (``ansible.builtin.systemd_service``'s
    ``status``, read with TZ=UTC) started its main process before a file was last written at ``mtime`` (seconds since
    the epoch, ``ansible.builtin.stat``'s): k3s reads its files when it starts, so such a file is not what it runs with
    (a run cut off between writing the file and restarting k3s). In whole seconds, as systemd prints them: a file
    written in the second k3s started counts as read. False for a unit that is not running (it reads the file when it
    starts) and for a timestamp that is not in UTC (the time cannot be compared)."""
    if status.get("ActiveState") != "active":
        return False
    found = _SYSTEMD_TIMESTAMP.search(str(status.get("ExecMainStartTimestamp") or "").strip())
    if found is None:
        return False
    started = datetime.datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return int(float(mtime)) > int(started.timestamp())


def stale_file(status: dict[str, Any], files: list[dict[str, Any]]) -> str:
    """The path of the newest of ``files`` when the running unit whose properties are ``status`` started before it was
    written (:func:`started_before`), else "". ``files`` are dicts with ``path`` and ``mtime``: ``ansible.builtin.find``'s
    ``files``, ``ansible.builtin.stat``'s ``stat`` (one of a missing file, without ``mtime``, is left out)."""
    newest = max((item for item in files if item.get("mtime") is not None), key=lambda item: float(item["mtime"]), default=None)
    return str(newest["path"]) if newest is not None and started_before(status, newest["mtime"]) else ""


def binary_version(output: str) -> str:
    """The release ``k3s --version`` printed (``k3s version v1.35.5+k3s1 (<commit>)``), or "" for anything else."""
    words = output.split()
    return words[2] if len(words) > 2 and words[:2] == ["k3s", "version"] else ""


def etcd_fault_tolerance(members: int) -> int:
    """How many etcd members can fail while the rest keep quorum (a majority): 1 -> 0, 2 -> 0, 3 -> 1, 5 -> 2."""
    return max(members - 1, 0) // 2


# The label a local volume's node affinity names its node by (k3s' local-path provisioner, and local PVs in general).
HOSTNAME_LABEL: Final = "kubernetes.io/hostname"


def _pinned_to(volume: dict[str, Any], node: str) -> bool:
    """Whether every node selector term of a PersistentVolume's required node affinity allows ``node`` only."""
    required = (((volume.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms") or []
    if not required:
        return False
    for term in required:
        hosts = [
            set(expression.get("values") or [])
            for expression in term.get("matchExpressions") or []
            if expression.get("key") == HOSTNAME_LABEL and expression.get("operator") == "In"
        ]
        if not any(values == {node} for values in hosts):
            return False
    return True


def local_volumes_refusal(volumes: list[dict[str, Any]], node: str, accept: bool = False) -> str:
    """Why node ``node`` must not be removed while PersistentVolumes live only on it (their node affinity allows it
    alone: k3s' local-path volumes), or "" when none does or ``accept`` takes their loss. Removing the node cleans
    its disk like reset.yml: the data of every such volume goes, and the claims bound to them stay Pending."""
    pinned = [volume for volume in volumes if _pinned_to(volume, node)]
    if not pinned or accept:
        return ""
    listed = []
    for volume in sorted(pinned, key=lambda item: str(item.get("metadata", {}).get("name", ""))):
        claim = (volume.get("spec") or {}).get("claimRef") or {}
        held = f"claim {claim.get('namespace')}/{claim.get('name')}" if claim.get("name") else "no claim"
        phase = (volume.get("status") or {}).get("phase") or "unknown"
        listed.append(f"{volume.get('metadata', {}).get('name')} ({held}, {phase})")
    return (
        f"{len(pinned)} PersistentVolume{'s' if len(pinned) != 1 else ''} can be used on {node} only: {', '.join(listed)}. "
        "Removing the node cleans its disk and their data goes. Move the data first (back it up and restore it on "
        "another node), or run again with -e keelson_remove_local_volumes=lose to accept the loss."
    )


def removal_refusal(members: list[dict[str, Any]], healthy: list[str], leaving: str, node: str, force: bool = False) -> str:
    """Why server ``node`` (etcd member ``leaving``) must not be removed now, or "" when it may.

    Always refused: the last member, and a removal after which the healthy members left are no majority of the
    members left (the cluster would stop writing). Refused unless ``force``: a removal that lowers how many failures
    the cluster tolerates (3 -> 2 servers: from one to none). A member already gone is no removal (a re-run)."""
    names = [str(member.get("name", "")) for member in members]
    if leaving not in names:
        return ""
    left = len(names) - 1
    healthy_left = len([name for name in names if name != leaving and name in healthy])
    if left == 0:
        return f"{node} is the cluster's last etcd member: removing it removes the cluster. Use reset.yml for that."
    if healthy_left < left // 2 + 1:
        sick = ", ".join(name for name in names if name != leaving and name not in healthy)
        return (
            f"removing {node} would leave {left} etcd members of which only {healthy_left} answer healthy, no majority: "
            f"the cluster would stop. Bring {sick} back first (remove_node.yml refuses this even with force)."
        )
    before, after = etcd_fault_tolerance(len(names)), etcd_fault_tolerance(left)
    if after < before and not force:
        tolerated = {0: "no failure", 1: "one failure"}.get(after, f"{after} failures")
        return (
            f"removing {node} takes etcd from {len(names)} members to {left}, which tolerate {tolerated} "
            f"(now {before}). Add a server first (add_node.yml), or run again with -e keelson_remove_force=true "
            "to accept it."
        )
    return ""
