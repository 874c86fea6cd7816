# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the k3s roles write, and how a failed join is explained."""

from __future__ import annotations

import copy
import datetime
import hashlib
from typing import Any, Optional

import pytest
import yaml
from spec_cases import BASE_NODES, BASE_SPEC

from ansible_collections.keelson.platform.plugins.module_utils import _ml
from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._spec import validate_platform
from ansible_collections.keelson.platform.plugins.plugin_utils import _k3s
from ansible_collections.keelson.platform.plugins.plugin_utils._platform_secrets import Credential, create, credentials


def platform(**changes: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    spec = copy.deepcopy(BASE_SPEC)
    for section, values in changes.items():
        spec.setdefault(section, {}).update(values)
    result = validate_platform(spec, copy.deepcopy(BASE_NODES))
    assert result.nodes is not None
    return result.spec, result.nodes


def node(nodes: list[dict[str, Any]], host: str) -> dict[str, Any]:
    return next(item for item in nodes if item["host"] == host)


def test_first_server_initialises_the_cluster() -> None:
    spec, nodes = platform()
    config = _k3s.config(spec, nodes, node(nodes, "server-1"))
    assert config["cluster-init"] is True
    assert "server" not in config
    assert config["token-file"] == "/etc/rancher/k3s/token"
    assert (config["node-name"], config["node-ip"]) == ("server-1", "192.168.10.11")
    assert config["tls-san"] == ["192.168.10.10"]
    assert config["cluster-cidr"] == "10.42.0.0/16"
    assert config["service-cidr"] == "10.43.0.0/16"
    assert config["write-kubeconfig-mode"] == "0600"
    assert config["secrets-encryption"] is True
    assert "protect-kernel-defaults" not in config


def test_other_servers_join_the_first_and_agents_the_vip() -> None:
    spec, nodes = platform()
    assert _k3s.config(spec, nodes, node(nodes, "server-2"))["server"] == "https://192.168.10.11:6443"
    agent = _k3s.config(spec, nodes, node(nodes, "gpu-1"))
    assert agent["server"] == "https://192.168.10.10:6443"
    assert agent["node-taint"] == ["nvidia.com/gpu=true:NoSchedule"]
    assert "cluster-cidr" not in agent and "tls-san" not in agent and "write-kubeconfig-mode" not in agent


def test_agents_join_the_first_server_without_a_vip() -> None:
    spec, nodes = platform(cluster={"api_vip": None})
    assert _k3s.config(spec, nodes, node(nodes, "gpu-1"))["server"] == "https://192.168.10.11:6443"
    assert "tls-san" not in _k3s.config(spec, nodes, node(nodes, "server-1"))


def test_labels_sorted_and_packaged_components_disabled() -> None:
    spec, nodes = platform(cluster={"disable": ["traefik", "servicelb"], "api_names": ["k8s.example.internal"]})
    nodes[3]["labels"] = {"z.example/b": "2", "a.example/a": "1"}
    config = _k3s.config(spec, nodes, node(nodes, "server-1"))
    assert config["disable"] == ["servicelb", "traefik"]
    assert config["tls-san"] == ["192.168.10.10", "k8s.example.internal"]
    assert _k3s.config(spec, nodes, nodes[3])["node-label"] == ["a.example/a=1", "keelson.dev/gpu=true", "z.example/b=2"]


def test_gpu_hosts_and_only_they_get_the_gpu_label() -> None:
    """The NVIDIA device plugin and its RuntimeClass select on this label; the chart's default wants NFD's."""
    spec, nodes = platform()
    assert node(nodes, "gpu-1")["gpus"] == 2
    assert _k3s.config(spec, nodes, node(nodes, "gpu-1"))["node-label"] == [f"{_ml.GPU_NODE_LABEL}={_ml.GPU_NODE_VALUE}"]
    assert "node-label" not in _k3s.config(spec, nodes, node(nodes, "server-2"))
    node(nodes, "gpu-1")["gpus"] = 0
    assert "node-label" not in _k3s.config(spec, nodes, node(nodes, "gpu-1"))


def test_hardening_flags() -> None:
    spec, nodes = platform(cluster={"hardening": True})
    server = _k3s.config(spec, nodes, node(nodes, "server-1"))
    assert server["protect-kernel-defaults"] is True
    assert "audit-policy-file=/etc/rancher/k3s/audit-policy.yaml" in server["kube-apiserver-arg"]
    assert "admission-control-config-file=/etc/rancher/k3s/pod-security.yaml" in server["kube-apiserver-arg"]
    assert server["kube-controller-manager-arg"] == ["terminated-pod-gc-threshold=10"]
    assert server["kubelet-arg"] == ["streaming-connection-idle-timeout=5m"]
    agent = _k3s.config(spec, nodes, node(nodes, "gpu-1"))
    assert agent["protect-kernel-defaults"] is True and "kube-apiserver-arg" not in agent


def test_oidc_flags_follow_keycloak() -> None:
    spec, nodes = platform()
    args = _k3s.config(spec, nodes, node(nodes, "server-1"))["kube-apiserver-arg"]
    assert "oidc-issuer-url=https://keycloak.ml.example.internal/realms/ml-prod" in args
    assert "oidc-groups-prefix=oidc:" in args
    spec, nodes = platform(components={"keycloak": {"enabled": False}})
    assert "kube-apiserver-arg" not in _k3s.config(spec, nodes, node(nodes, "server-1"))


def test_config_renders_as_stable_yaml() -> None:
    spec, nodes = platform()
    first = yaml.safe_dump(_k3s.config(spec, nodes, node(nodes, "server-2")), sort_keys=True)
    second = yaml.safe_dump(_k3s.config(*platform()[:1], platform()[1], node(platform()[1], "server-2")), sort_keys=True)
    assert first == second


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("10.0.0.1", "https://10.0.0.1:6443"),
        ("fd00::1", "https://[fd00::1]:6443"),
        ("k8s.example", "https://k8s.example:6443"),
    ],
)
def test_api_url(address: str, url: str) -> None:
    assert _k3s.api_url(address) == url


def test_registries() -> None:
    registries = {
        "mirrors": {"docker.io": {"endpoints": ["https://m1.example", "https://m2.example"]}},
        "configs": {
            "reg.example:5000": {
                "username": "bot",
                "password_secret": "reg",
                "ca_cert": "PEM",
                "insecure_skip_verify": False,
            },
            "plain.example": {"username": None, "password_secret": None, "ca_cert": None, "insecure_skip_verify": True},
        },
    }
    assert _k3s.registries(registries, {"reg": "s3cret"}) == {
        "mirrors": {"docker.io": {"endpoint": ["https://m1.example", "https://m2.example"]}},
        "configs": {
            "plain.example": {"tls": {"insecure_skip_verify": True}},
            "reg.example:5000": {
                "auth": {"username": "bot", "password": "s3cret"},
                "tls": {"ca_file": "/etc/rancher/k3s/registry-ca/reg.example_5000.pem"},
            },
        },
    }
    assert _k3s.registries({"mirrors": {}, "configs": {}}, {}) == {}


def test_pod_security_is_pinned_to_the_cluster_version() -> None:
    config = _k3s.pod_security("v1.35.5+k3s1")["plugins"][0]["configuration"]
    assert config["defaults"] == {
        "enforce": "restricted",
        "enforce-version": "v1.35",
        "audit": "restricted",
        "audit-version": "v1.35",
        "warn": "restricted",
        "warn-version": "v1.35",
    }
    assert config["exemptions"]["namespaces"] == ["kube-system"]
    assert _k3s.audit_policy()["rules"] == [{"level": "Metadata"}]


def test_kube_vip_static_pod() -> None:
    pod = _k3s.kube_vip("192.168.10.10", "eth1")
    container = pod["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert container["image"] == CATALOG["host"]["kube_vip"]
    assert (env["address"], env["vip_interface"], env["vip_cidr"], env["vip_arp"]) == (
        "192.168.10.10",
        "eth1",
        "32",
        "true",
    )
    assert pod["spec"]["hostNetwork"] is True
    assert _k3s.kube_vip("fd00::10", "eth0")["spec"]["containers"][0]["env"][4] == {"name": "vip_cidr", "value": "128"}
    assert _k3s.interface_of([{"interface": "eth1", "address": "192.168.10.11", "prefix": 24}], "192.168.10.11") == "eth1"
    assert _k3s.interface_of([], "192.168.10.11") is None


def test_kubeconfig_points_at_the_api_and_names_the_cluster() -> None:
    k3s_yaml = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "clusters": [
                {
                    "name": "default",
                    "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority-data": "Q0E="},
                }
            ],
            "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default"}}],
            "users": [{"name": "default", "user": {"client-key-data": "S0VZ"}}],
            "current-context": "default",
        }
    )
    rewritten = yaml.safe_load(_k3s.kubeconfig(k3s_yaml, "https://192.168.10.10:6443", "ml-prod"))
    assert rewritten["clusters"] == [
        {"name": "ml-prod", "cluster": {"server": "https://192.168.10.10:6443", "certificate-authority-data": "Q0E="}}
    ]
    assert rewritten["contexts"] == [{"name": "ml-prod", "context": {"cluster": "ml-prod", "user": "ml-prod-admin"}}]
    assert rewritten["users"][0] == {"name": "ml-prod-admin", "user": {"client-key-data": "S0VZ"}}
    assert rewritten["current-context"] == "ml-prod"
    assert _k3s.kubeconfig(k3s_yaml, "https://192.168.10.10:6443", "ml-prod") == _k3s.kubeconfig(
        k3s_yaml, "https://192.168.10.10:6443", "ml-prod"
    )


# Lines as k3s itself logs them (from k3s issues #802, #6054, #4049 and its join code).
DIAGNOSES = [
    (
        'level=info msg="Waiting to retrieve agent configuration; server is not ready: Node password rejected, duplicate hostname or '
        "contents of '/etc/rancher/node/password' may not match server node-passwd entry, "
        'try enabling a unique node name with the --with-node-id flag"',
        "another machine is already registered under its node name",
    ),
    (
        'level=fatal msg="starting kubernetes: preparing server: start managed database: joining etcd cluster: '
        'Failed to join etcd cluster due to duplicate node names"',
        "another machine is already registered under its node name",
    ),
    (
        'level=fatal msg="Error: preparing server: failed to validate token: token CA hash does not match the Cluster CA certificate hash"',
        "the cluster rejected its token",
    ),
    (
        'level=info msg="Waiting to retrieve agent configuration; server is not ready: https://10.0.0.1:6443/v1-k3s/serving-kubelet.crt: 401 Unauthorized"',
        "the cluster rejected its token",
    ),
    (
        'level=error msg="failed to get CA certs: Get \\"https://10.0.0.1:6443/cacerts\\": dial tcp 10.0.0.1:6443: connect: connection refused"',
        "it cannot reach the server it joins through",
    ),
    (
        'level=error msg="x509: certificate has expired or is not yet valid: current time 2019-01-01T00:00:00Z is before 2026-11-28T00:00:00Z"',
        "its clock disagrees with the servers'",
    ),
]


@pytest.mark.parametrize(("line", "meaning"), DIAGNOSES)
def test_join_failures_are_explained(line: str, meaning: str) -> None:
    log = f'level=info msg="Starting k3s"\n{line}\nlevel=info msg="retrying"\n'
    message = _k3s.diagnose_join(log, "agent-1", "https://10.0.0.1:6443")
    assert message.startswith("agent-1 did not join the cluster through https://10.0.0.1:6443: " + meaning)
    assert line.strip()[-60:] in message


def test_unknown_join_failure_shows_the_last_lines() -> None:
    message = _k3s.diagnose_join("a\nb\nsomething odd happened\n", "server-2", "https://10.0.0.1:6443")
    assert message == (
        "server-2 did not become Ready through https://10.0.0.1:6443 in time, and k3s' log names no known cause. "
        "Last lines: a | b | something odd happened"
    )


def test_token_is_the_k3s_token_of_the_credential_list() -> None:
    spec, _nodes = platform()
    (credential,) = [item for item in credentials(spec) if item.name == "k3s-token"]
    token = _k3s.token(spec)
    assert token == {
        "name": "k3s-token",
        "generate": {"length": credential.length, "alphabet": credential.kind},
        "file": "/etc/rancher/k3s/token",
        "server_file": "/var/lib/rancher/k3s/server/token",
    }
    assert _k3s.config(spec, _nodes, node(_nodes, "server-2"))["token-file"] == token["file"]
    assert len(create(token["generate"]["alphabet"], token["generate"]["length"])) == credential.length


def test_token_follows_the_credential_list(monkeypatch: pytest.MonkeyPatch) -> None:
    spec, _nodes = platform()
    longer = [Credential("k3s-token", "hex", 64, "a longer token")]
    monkeypatch.setattr(_k3s, "credentials", lambda _spec: longer)
    assert _k3s.token(spec)["generate"] == {"length": 64, "alphabet": "hex"}


def _pod(name: str, labels: dict[str, str], owner: str = "ReplicaSet") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "team-a", "labels": labels, "ownerReferences": [{"kind": owner, "name": "x"}]}}


def _budget(name: str, selector: Any, allowed: int, namespace: str = "team-a") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"selector": selector}, "status": {"disruptionsAllowed": allowed}}


def test_drain_blockers_name_the_pod_and_the_budget_that_holds_it() -> None:
    pods = [_pod("web-1", {"app": "web"}), _pod("logs-x", {"app": "logs"}, owner="DaemonSet"), _pod("batch-1", {"app": "batch"})]
    budgets = [
        _budget("web", {"matchLabels": {"app": "web"}}, 0),
        _budget("web-elsewhere", {"matchLabels": {"app": "web"}}, 0, namespace="team-b"),
        _budget("batch", {"matchExpressions": [{"key": "app", "operator": "In", "values": ["batch"]}]}, 1),
    ]
    message = _k3s.drain_blockers(pods, budgets, "agent-1", 300, "Cannot evict pod as it would violate the pod's disruption budget.")
    assert "draining agent-1 did not finish within 300 s" in message
    assert "team-a/web-1 (PodDisruptionBudget team-a/web allows no disruption now)" in message
    assert "team-a/batch-1 (not evicted in time)" in message  # its budget allows one
    assert "logs-x" not in message and "web-elsewhere" not in message
    assert "violate the pod's disruption budget" in message
    assert "uncordoned again" in message and "cluster.upgrade.drain_timeout" in message
    assert "so upgrade.yml stops before changing it" in message and message.endswith("run upgrade.yml again.")


def test_drain_blockers_say_which_playbook_to_run_again() -> None:
    message = _k3s.drain_blockers([_pod("web-1", {"app": "web"})], [], "agent-1", 60, playbook="remove_node")
    assert "so remove_node.yml stops before changing it" in message and message.endswith("run remove_node.yml again.")


def test_drain_blockers_empty_selector_covers_the_namespace() -> None:
    message = _k3s.drain_blockers([_pod("web-1", {"app": "web"})], [_budget("all", {}, 0), _budget("none", None, 0)], "n", 60)
    assert "PodDisruptionBudget team-a/all allows" in message
    assert "team-a/none" not in message


def test_snapshot_settings_are_written_only_when_they_differ_from_k3s_defaults() -> None:
    """k3s' own schedule and retention are not written, so clusters installed before have no config change."""
    spec, nodes = platform()
    written = _k3s.config(spec, nodes, node(nodes, "server-1"))
    assert not {key for key in written if key.startswith("etcd-")}
    spec, nodes = platform(cluster={"etcd_snapshots": {"schedule": "0 3 * * *", "retention": 14}})
    written = _k3s.config(spec, nodes, node(nodes, "server-2"))
    assert written["etcd-snapshot-schedule-cron"] == "0 3 * * *"
    assert written["etcd-snapshot-retention"] == 14
    assert "etcd-snapshot-retention" not in _k3s.config(spec, nodes, node(nodes, "gpu-1"))
    spec, nodes = platform(cluster={"etcd_snapshots": {"schedule": None}})
    assert _k3s.config(spec, nodes, node(nodes, "server-1"))["etcd-disable-snapshots"] is True


LISTING = """\
Name                              Location                                                                   Size  Created
keelson-server-1-1764650000       file:///var/lib/rancher/k3s/server/db/snapshots/keelson-server-1-1764650000 2048  2026-12-02T04:33:20Z
etcd-snapshot-server-1-1764640000 file:///var/lib/rancher/k3s/server/db/snapshots/etcd-snapshot-server-1-1764640000 2048  2026-12-02T01:46:40Z
keelson-server-1-1764660000       file:///var/lib/rancher/k3s/server/db/snapshots/keelson-server-1-1764660000 2048  2026-12-02T07:20:00Z
keelson-server-1-1764600000       s3://backups/etcd/keelson-server-1-1764600000                             2048  2026-12-01T14:40:00Z
keelson-server-10-1764500000      file:///var/lib/rancher/k3s/server/db/snapshots/keelson-server-10-1764500000 2048  2026-11-30T10:53:20Z
keelson-server-1-1764670000       file:///var/lib/rancher/k3s/server/db/snapshots/keelson-server-1-1764670000 2048  2026-12-02T10:06:40Z
"""


def test_snapshot_listing_is_read() -> None:
    listed = _k3s.snapshots(LISTING)
    assert len(listed) == 6
    assert listed[0] == {
        "name": "keelson-server-1-1764650000",
        "location": "file:///var/lib/rancher/k3s/server/db/snapshots/keelson-server-1-1764650000",
        "size": 2048,
        "created": "2026-12-02T04:33:20Z",
    }


def test_prune_keeps_the_newest_snapshots_of_the_name_and_node() -> None:
    listed = _k3s.snapshots(LISTING)
    # Scheduled snapshots and another node's (server-10) are not this name's; a copy only the bucket holds is.
    assert _k3s.snapshots_to_prune(listed, "keelson", "server-1", 3) == ["keelson-server-1-1764600000"]
    assert _k3s.snapshots_to_prune(listed, "keelson", "server-1", 2) == ["keelson-server-1-1764600000", "keelson-server-1-1764650000"]
    assert _k3s.snapshots_to_prune(listed, "keelson", "server-1", 5) == []


S3_LISTING = """\
Name                          Location                                                               Size Created
keelson-server-1-1764650000   s3://backups/etcd/keelson-server-1-1764650000                          2048 2026-12-02T04:33:20Z
keelson-server-1-1764650000   file:///var/lib/rancher/k3s/server/db/snapshots/keelson-server-1-1764650000 2048 2026-12-02T04:33:20Z
keelson-server-1-1764660000   s3://backups/etcd/keelson-server-1-1764660000                          2048 2026-12-02T07:20:00Z
keelson-server-1-1764660000   file:///var/lib/rancher/k3s/server/db/snapshots/keelson-server-1-1764660000 2048 2026-12-02T07:20:00Z
keelson-server-1-1764600000   s3://backups/etcd/keelson-server-1-1764600000                          2048 2026-12-01T14:40:00Z
"""


def test_a_snapshot_in_both_places_counts_once_for_the_retention() -> None:
    """k3s lists a snapshot it copied to S3 once per location; `delete` removes both, so it is one snapshot."""
    listed = _k3s.snapshots(S3_LISTING)
    assert _k3s.snapshots_to_prune(listed, "keelson", "server-1", 2) == ["keelson-server-1-1764600000"]
    assert _k3s.snapshots_to_prune(listed, "keelson", "server-1", 1) == ["keelson-server-1-1764600000", "keelson-server-1-1764650000"]


def test_restore_takes_the_local_copy_and_says_so_to_k3s_when_s3_is_on() -> None:
    """With etcd-s3 in config.yaml, k3s reads the restore path as a name in the bucket; a file needs --etcd-s3=false."""
    listed = _k3s.snapshots(S3_LISTING)
    found = _k3s.snapshot_to_restore(listed, "keelson-server-1-1764650000", True)
    assert found == {
        "name": "keelson-server-1-1764650000",
        "source": "file:///var/lib/rancher/k3s/server/db/snapshots/keelson-server-1-1764650000",
        "path": "/var/lib/rancher/k3s/server/db/snapshots/keelson-server-1-1764650000",
        "args": ["--etcd-s3=false"],
    }
    assert _k3s.snapshot_to_restore(listed, "keelson-server-1-1764650000", False)["args"] == []  # type: ignore[index]


def test_restore_takes_the_bucket_copy_by_name_when_the_server_has_none() -> None:
    listed = _k3s.snapshots(S3_LISTING)
    found = _k3s.snapshot_to_restore(listed, "keelson-server-1-1764600000", True)
    assert found == {
        "name": "keelson-server-1-1764600000",
        "source": "s3://backups/etcd/keelson-server-1-1764600000",
        "path": "keelson-server-1-1764600000",
        "args": [],
    }
    # Without S3 in config.yaml, k3s cannot download it: there is nothing to restore from.
    assert _k3s.snapshot_to_restore(listed, "keelson-server-1-1764600000", False) is None
    assert _k3s.snapshot_to_restore(listed, "keelson-server-1-1", True) is None


CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2E=\n-----END CERTIFICATE-----\n"
S3 = {
    "endpoint": "minio.backup.example.internal:9000",
    "bucket": "etcd-snapshots",
    "access_key_secret": "etcd-s3-access-key",
    "secret_key_secret": "etcd-s3-secret-key",
}


def test_s3_settings_go_to_the_servers_config_and_the_keys_to_a_drop_in() -> None:
    spec, nodes = platform(cluster={"etcd_snapshots": {"s3": {**S3, "folder": "ml-prod", "region": "eu-west-1", "ca_cert": CA_PEM}}})
    written = _k3s.config(spec, nodes, node(nodes, "server-2"))
    assert {key: value for key, value in written.items() if key.startswith("etcd-s3")} == {
        "etcd-s3": True,
        "etcd-s3-endpoint": "minio.backup.example.internal:9000",
        "etcd-s3-bucket": "etcd-snapshots",
        "etcd-s3-folder": "ml-prod",
        "etcd-s3-region": "eu-west-1",
        "etcd-s3-endpoint-ca": _k3s.S3_CA_FILE,
    }
    assert not {key for key in _k3s.config(spec, nodes, node(nodes, "gpu-1")) if key.startswith("etcd-")}
    wanted = _k3s.snapshot_s3(spec)
    assert wanted == {
        "enabled": True,
        "local_only": ["--etcd-s3=false"],
        "restorable_only": [],  # the bucket's copies can be restored from
        "secrets": ["etcd-s3-access-key", "etcd-s3-secret-key"],
        "credentials_file": "/etc/rancher/k3s/config.yaml.d/etcd-s3-credentials.yaml",
        "ca_file": _k3s.S3_CA_FILE,
        "ca_cert": CA_PEM,
    }
    keys = {"etcd-s3-access-key": "AKIDEXAMPLE", "etcd-s3-secret-key": "wJalrXUtnFEMI"}
    assert _k3s.snapshot_s3_credentials(spec, keys) == {"etcd-s3-access-key": "AKIDEXAMPLE", "etcd-s3-secret-key": "wJalrXUtnFEMI"}
    # The keys never reach config.yaml (whose diff Ansible may show).
    assert "AKIDEXAMPLE" not in yaml.safe_dump(written)


def test_s3_defaults_are_left_to_k3s_and_insecure_is_said() -> None:
    spec, nodes = platform(cluster={"etcd_snapshots": {"s3": {**S3, "insecure": True}}})
    written = _k3s.config(spec, nodes, node(nodes, "server-1"))
    assert "etcd-s3-region" not in written
    assert "etcd-s3-folder" not in written
    assert "etcd-s3-endpoint-ca" not in written
    assert written["etcd-s3-insecure"] is True
    assert _k3s.snapshot_s3(spec)["ca_cert"] is None


def test_without_s3_nothing_is_written_and_the_files_are_still_named_for_removal() -> None:
    spec, _nodes = platform()
    wanted = _k3s.snapshot_s3(spec)
    assert wanted["enabled"] is False
    assert wanted["local_only"] == wanted["restorable_only"] == []  # etcd-s3 is off: every copy is the server's own
    assert wanted["secrets"] == []
    assert wanted["credentials_file"] and wanted["ca_file"]


def test_the_platforms_minio_bucket_is_named_to_k3s_by_its_secret_alone() -> None:
    """k3s takes the Secret's settings only when config.yaml gives no other etcd-s3 setting than etcd-s3 itself
    (pkg/etcd/s3: a configuration other than the default ignores the Secret, with a warning)."""
    spec, nodes = platform(cluster={"etcd_snapshots": {"minio_bucket": "etcd-snapshots"}})
    written = _k3s.config(spec, nodes, node(nodes, "server-1"))
    assert {key: value for key, value in written.items() if key.startswith("etcd-s3")} == {
        "etcd-s3": True,
        "etcd-s3-config-secret": "k3s-etcd-snapshot-s3-config",
    }
    assert not {key for key in _k3s.config(spec, nodes, node(nodes, "gpu-1")) if key.startswith("etcd-")}
    # No keys or CA on the hosts: the drop-in and the CA file are removed if an earlier s3 left them.
    wanted = _k3s.snapshot_s3(spec)
    assert wanted["enabled"] is False and wanted["secrets"] == []
    # etcd-s3 is on all the same: the server's own copies need --etcd-s3=false.
    assert wanted["local_only"] == wanted["restorable_only"] == ["--etcd-s3=false"]


def test_a_restore_never_takes_the_platforms_minio_copy() -> None:
    """etcd-s3 is on in config.yaml, so a local file needs --etcd-s3=false; the MinIO copy is not restorable (MinIO
    runs in the cluster being reset, and k3s reads the bucket's settings from it)."""
    listed = _k3s.snapshots(S3_LISTING)
    local = _k3s.snapshot_to_restore(listed, "keelson-server-1-1764650000", False, True)
    assert local is not None and local["args"] == ["--etcd-s3=false"] and local["source"].startswith("file://")
    assert _k3s.snapshot_to_restore(listed, "keelson-server-1-1764600000", False, True) is None


def test_binary_version_reads_what_k3s_prints() -> None:
    assert _k3s.binary_version("k3s version v1.35.5+k3s1 (6a7b8c9d)\ngo version go1.25.9\n") == "v1.35.5+k3s1"
    assert _k3s.binary_version("#!/bin/sh tampered") == ""
    assert _k3s.binary_version("") == ""


def _service(started: str, state: str = "active") -> dict[str, Any]:
    return {"ActiveState": state, "ExecMainStartTimestamp": started}


# 2026-12-07 16:03:35 UTC
_STARTED = datetime.datetime(2026, 12, 7, 16, 3, 35, tzinfo=datetime.timezone.utc).timestamp()


def test_a_file_written_after_k3s_started_is_not_what_it_runs_with() -> None:
    running = _service("Mon 2026-12-07 16:03:35 UTC")
    assert _k3s.started_before(running, _STARTED + 1.0)
    assert _k3s.started_before(running, _STARTED + 3600.5)
    assert _k3s.started_before(running, str(_STARTED + 2.5))  # a templated number may arrive as text
    assert _k3s.started_before(_service("Sun 2026-12-07 16:03:35 UTC"), _STARTED + 1.0)  # the day's name is not read


def test_a_file_written_before_or_in_the_second_k3s_started_is_what_it_read() -> None:
    running = _service("Mon 2026-12-07 16:03:35 UTC")
    assert not _k3s.started_before(running, _STARTED)
    assert not _k3s.started_before(running, _STARTED + 0.9)  # the same second: systemd prints whole seconds
    assert not _k3s.started_before(running, _STARTED - 86400)


@pytest.mark.parametrize(
    "status",
    [
        _service("Mon 2026-12-07 16:03:35 UTC", state="inactive"),  # starts with the file anyway
        _service("Mon 2026-12-07 16:03:35 UTC", state="activating"),
        _service("Mon 2026-12-07 17:03:35 CET"),  # another zone: cannot be compared
        _service(""),
        _service("n/a"),
        {},
    ],
)
def test_a_unit_not_running_or_a_time_that_cannot_be_read_is_not_judged_stale(status: dict[str, Any]) -> None:
    assert not _k3s.started_before(status, _STARTED + 3600)


def test_the_stale_file_is_the_newest_when_k3s_started_before_it() -> None:
    running = _service("Mon 2026-12-07 16:03:35 UTC")
    files = [
        {"path": "/etc/rancher/k3s/config.yaml", "mtime": _STARTED - 60},
        {"path": "/etc/rancher/k3s/token", "mtime": _STARTED + 5},
        {"path": "/etc/systemd/system/k3s.service", "exists": False},  # stat of a missing file: no mtime
        {"path": "/usr/local/bin/k3s", "mtime": _STARTED + 2},
    ]
    assert _k3s.stale_file(running, files) == "/etc/rancher/k3s/token"
    assert _k3s.stale_file(running, files[:1]) == ""
    assert _k3s.stale_file(running, []) == ""
    assert _k3s.stale_file(_service("Mon 2026-12-07 16:03:35 UTC", state="inactive"), files) == ""


def _members(*names: str) -> list[dict[str, Any]]:
    return [{"name": name, "clientURLs": [f"https://{name}:2379"]} for name in names]


@pytest.mark.parametrize(("members", "tolerated"), [(0, 0), (1, 0), (2, 0), (3, 1), (4, 1), (5, 2), (7, 3)])
def test_etcd_fault_tolerance_is_the_members_beyond_a_majority(members: int, tolerated: int) -> None:
    assert _k3s.etcd_fault_tolerance(members) == tolerated


def test_three_to_two_servers_is_refused_without_force() -> None:
    members = _members("s1-a", "s2-b", "s3-c")
    message = _k3s.removal_refusal(members, ["s1-a", "s2-b", "s3-c"], "s3-c", "server-3")
    assert "from 3 members to 2, which tolerate no failure (now 1)" in message
    assert "-e keelson_remove_force=true" in message and "add_node.yml" in message
    assert _k3s.removal_refusal(members, ["s1-a", "s2-b", "s3-c"], "s3-c", "server-3", True) == ""


def test_four_to_three_and_two_to_one_keep_the_failures_tolerated() -> None:
    four = _members("a", "b", "c", "d")
    assert _k3s.removal_refusal(four, ["a", "b", "c", "d"], "d", "server-4") == ""
    assert _k3s.removal_refusal(_members("a", "b"), ["a", "b"], "b", "server-2") == ""


def _volume(name: str, *terms: list[str], claim: str = "team-a/data", phase: str = "Bound") -> dict[str, Any]:
    """A PersistentVolume whose required node affinity has one term per list of host names."""
    namespace, _sep, claim_name = claim.partition("/")
    selectors = [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": hosts}]} for hosts in terms]
    spec: dict[str, Any] = {"claimRef": {"namespace": namespace, "name": claim_name}} if claim else {}
    if terms:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": selectors}}
    return {"metadata": {"name": name}, "spec": spec, "status": {"phase": phase}}


def test_a_node_holding_volumes_that_live_only_on_it_is_refused_unless_their_loss_is_accepted() -> None:
    volumes = [
        _volume("pvc-b", ["agent-1"], claim="team-b/cache", phase="Released"),
        _volume("pvc-a", ["agent-1"]),
        _volume("pvc-c", ["agent-2"]),  # another node's
        _volume("pvc-d", ["agent-1", "agent-2"]),  # may move to agent-2
        _volume("pvc-e", ["agent-1"], ["agent-2"]),  # a second term allows agent-2
        _volume("nfs"),  # no node affinity: network storage
    ]
    message = _k3s.local_volumes_refusal(volumes, "agent-1")
    assert message.startswith(
        "2 PersistentVolumes can be used on agent-1 only: pvc-a (claim team-a/data, Bound), pvc-b (claim team-b/cache, Released)."
    )
    assert "-e keelson_remove_local_volumes=lose" in message
    assert _k3s.local_volumes_refusal(volumes, "agent-1", accept=True) == ""
    assert _k3s.local_volumes_refusal(volumes, "agent-3") == ""
    unclaimed = _k3s.local_volumes_refusal([_volume("pvc-f", ["agent-2"], claim="", phase="Available")], "agent-2")
    assert unclaimed.startswith("1 PersistentVolume can be used on agent-2 only: pvc-f (no claim, Available).")


def test_a_removal_that_loses_the_majority_is_refused_even_with_force() -> None:
    members = _members("a", "b", "c")
    message = _k3s.removal_refusal(members, ["a", "c"], "c", "server-3", True)
    assert "only 1 answer healthy, no majority" in message and "Bring b back first" in message
    # The sick member itself may go: the two left are healthy.
    assert _k3s.removal_refusal(members, ["a", "c"], "b", "server-2", True) == ""


def test_the_last_member_is_refused_and_a_member_already_gone_is_no_removal() -> None:
    assert "last etcd member" in _k3s.removal_refusal(_members("a"), ["a"], "a", "server-1", True)
    assert _k3s.removal_refusal(_members("a", "b"), ["a", "b"], "c", "server-3") == ""


OLD, NEW = "0ld70k3n0ld70k3n0ld70k3n", "n3wt0k3nn3wt0k3nn3wt0k3n"


def full(value: str) -> str:
    """A token as k3s writes it into server/token."""
    return f"K10{'ab' * 32}::server:{value}\n"


def test_a_cluster_on_the_backends_token_is_rotated_and_both_tokens_get_names_of_their_own() -> None:
    spec, _nodes = platform()
    state = _k3s.token_rotation(spec, OLD, full(OLD), {"server-1": OLD + "\n", "agent-1": OLD})
    assert state["step"] == "rotate"
    assert state["behind"] == []
    # Named after the token they leave, never holding it in the name.
    assert state["pending"].startswith("k3s-token.next-") and state["retired"].startswith("k3s-token.retired-")
    assert OLD not in state["pending"] + state["retired"]
    # Another token: other names, so a second rotation never reuses the first one's pending token.
    again = _k3s.token_rotation(spec, NEW, full(NEW), {"server-1": NEW})
    assert again["pending"] != state["pending"] and again["retired"] != state["retired"]


def test_a_restore_uses_the_cluster_token_unless_told_to_use_one_a_rotation_kept() -> None:
    spec, _nodes = platform()
    for asked in (None, "", "  ", "k3s-token"):
        assert _k3s.restore_token(spec, asked) == {
            "name": "k3s-token",
            "cluster": "k3s-token",
            "retired": False,
            "refusal": "",
            "found": False,
        }
    # The name a rotation kept the old token under (what rotate.yml reports) is accepted as it is.
    retired = _k3s.token_rotation(spec, OLD, full(OLD), {})["retired"]
    assert retired == _k3s.retired_token_name("k3s-token", full(OLD))  # the full form k3s writes names the same token
    assert _k3s.restore_token(spec, retired) == {"name": retired, "cluster": "k3s-token", "retired": True, "refusal": "", "found": False}


def snapshot_file(
    name: str, token_hash: Optional[str], location: str = "file:///var/lib/rancher/k3s/server/db/snapshots"
) -> dict[str, Any]:
    """An ETCDSnapshotFile as k3s writes it (pkg/etcd/snapshot/types.go ToETCDSnapshotFile)."""
    annotations = {_k3s.SNAPSHOT_TOKEN_HASH: token_hash} if token_hash is not None else {}
    return {
        "apiVersion": "k3s.cattle.io/v1",
        "kind": "ETCDSnapshotFile",
        "metadata": {
            "name": f"local-{name}-0a1b2c",
            "annotations": annotations,
            "labels": {"etcd.k3s.cattle.io/snapshot-storage-node": "server-1"},
        },
        "spec": {"snapshotName": name, "nodeName": "server-1", "location": f"{location}/{name}"},
        "status": {"readyToUse": True},
    }


def test_the_token_hash_k3s_recorded_for_a_snapshot_is_read_from_its_etcdsnapshotfile() -> None:
    old_hash = hashlib.sha256(OLD.encode()).hexdigest()[:12]  # k3s' GetTokenHash: the secret part, 12 hex digits
    files = [snapshot_file("keelson-server-1-1700000000", old_hash), snapshot_file("keelson-server-1-1700000100", "0123456789ab")]
    assert _k3s.snapshot_token_hash(files, "keelson-server-1-1700000000") == old_hash
    # The copy in the bucket is a second object of the same snapshot, with the same hash.
    assert (
        _k3s.snapshot_token_hash(
            [*files, snapshot_file("keelson-server-1-1700000000", old_hash, "s3://etcd")], "keelson-server-1-1700000000"
        )
        == old_hash
    )
    # None recorded (an object k3s made again for a file it found), none of that name, or two that disagree: unknown.
    assert _k3s.snapshot_token_hash([snapshot_file("s-1", None)], "s-1") == ""
    assert _k3s.snapshot_token_hash(files, "keelson-server-1-1699999999") == ""
    assert _k3s.snapshot_token_hash([snapshot_file("s-1", old_hash), snapshot_file("s-1", "0123456789ab")], "s-1") == ""
    assert _k3s.snapshot_token_hash([snapshot_file("s-1", "not a hash")], "s-1") == ""
    assert _k3s.snapshot_token_hash([], "s-1") == ""


def test_a_stopped_servers_snapshot_folder_is_listed_as_k3s_lists_it() -> None:
    folder = "/var/lib/rancher/k3s/server/db/snapshots"
    files = [
        {"path": f"{folder}/keelson-server-1-1764871300", "size": 4096, "mtime": 1764871300.5},
        {"path": f"{folder}/keelson-server-1-1764871200", "size": 2048, "mtime": 1764871200},
    ]
    listed = _k3s.snapshot_files(files)
    assert listed == [
        {
            "name": "keelson-server-1-1764871200",
            "location": f"file://{folder}/keelson-server-1-1764871200",
            "size": 2048,
            "created": "2025-12-04T18:00:00Z",
        },
        {
            "name": "keelson-server-1-1764871300",
            "location": f"file://{folder}/keelson-server-1-1764871300",
            "size": 4096,
            "created": "2025-12-04T18:01:40Z",
        },
    ]
    # What restore.yml does with a listing, it does with this one: the server's own copy, read as a file.
    found = _k3s.snapshot_to_restore(listed, "keelson-server-1-1764871200", s3=True)
    assert found == {
        "name": "keelson-server-1-1764871200",
        "source": listed[0]["location"],
        "path": f"{folder}/keelson-server-1-1764871200",
        "args": ["--etcd-s3=false"],
    }
    assert _k3s.snapshot_files([]) == []


def test_the_token_hash_is_k3s_own() -> None:
    """k3s' GetTokenHash: ShortHash(NormalizeToken(token), 12); its test vectors (pkg/util/token_test.go)."""
    assert _k3s.retired_token_name("t", "abc") == "t.retired-ba7816bf8f01"  # ShortHash("abc", 12)
    secret = _k3s.retired_token_name("t", "secret-password")
    for form in ("K10" + "a" * 64 + "::server:secret-password", "K10" + "a" * 64 + "::node:secret-password", "secret-password"):
        assert _k3s.retired_token_name("t", form) == secret, form


def test_a_restore_takes_the_token_k3s_recorded_for_the_snapshot() -> None:
    spec, _nodes = platform()
    retired = _k3s.retired_token_name("k3s-token", OLD)
    old_hash = retired.rsplit("-", 1)[1]
    # The snapshot was saved before a rotation: the token that rotation kept, without being told.
    found = _k3s.restore_token(spec, "", old_hash, full(NEW), "s-1")
    assert found == {"name": retired, "cluster": "k3s-token", "retired": True, "refusal": "", "found": True}
    assert _k3s.restore_token(spec, retired, old_hash, NEW, "s-1") == found
    # Saved with the cluster token (in either form): the cluster token.
    new_hash = _k3s.retired_token_name("k3s-token", NEW).rsplit("-", 1)[1]
    assert _k3s.restore_token(spec, None, new_hash, full(NEW), "s-1") == {
        "name": "k3s-token",
        "cluster": "k3s-token",
        "retired": False,
        "refusal": "",
        "found": True,
    }
    # A name that is not the snapshot's token is refused before anything stops, saying which one is.
    for asked in ("k3s-token", "k3s-token.retired-0123456789ab"):
        refused = _k3s.restore_token(spec, asked, old_hash, NEW, "s-1")["refusal"]
        assert refused.startswith(f"s-1 was saved with the token {retired} (k3s recorded its hash, {old_hash},"), refused
        assert f"not {asked}:" in refused and refused.endswith("Nothing was changed.")
        assert "-e keelson_restore_ignore_record=true" in refused
    # Without k3s' record, or without the cluster token, it is as asked.
    assert _k3s.restore_token(spec, "", "", NEW, "s-1")["found"] is False
    assert _k3s.restore_token(spec, "", old_hash, "", "s-1") == _k3s.restore_token(spec, "")
    # A malformed name is refused as before, whatever k3s recorded.
    assert _k3s.restore_token(spec, "k3s-token.old", old_hash, NEW, "s-1")["refusal"].startswith(
        "keelson_restore_token='k3s-token.old' names neither"
    )


@pytest.mark.parametrize(
    "asked",
    [
        "k3s-token.old",
        "k3s-token.next-0123456789ab",  # the pending entry: never the token of a snapshot's time
        "k3s-token.retired-0123456789",  # too short
        "k3s-token.retired-0123456789AB",  # k3s' hashes are lower case
        "k3s-token.retired-0123456789abc",
        "other.retired-0123456789ab",
        "registry-password",
    ],
)
def test_a_restore_refuses_a_token_name_that_is_neither_the_cluster_token_nor_a_retired_one(asked: str) -> None:
    spec, _nodes = platform()
    state = _k3s.restore_token(spec, asked)
    assert state["refusal"].startswith(f"keelson_restore_token={asked!r} names neither the cluster token (k3s-token)")
    assert "k3s-token.retired-<12 hex digits>" in state["refusal"]
    assert state["refusal"].endswith("Nothing was changed.")


def test_a_run_that_stopped_after_k3s_rotated_records_the_new_token_instead_of_rotating_again() -> None:
    spec, _nodes = platform()
    state = _k3s.token_rotation(spec, OLD, full(NEW), {"server-1": OLD}, next_token=NEW)
    assert state["step"] == "record"
    assert state["retired"] == _k3s.token_rotation(spec, OLD, full(OLD), {})["retired"]


def test_a_run_that_stopped_while_moving_the_nodes_finishes_them() -> None:
    spec, _nodes = platform()
    state = _k3s.token_rotation(spec, NEW, full(NEW), {"server-1": NEW, "server-2": OLD, "agent-1": OLD})
    assert (state["step"], state["behind"]) == ("finish", ["agent-1", "server-2"])


def test_a_cluster_on_an_unknown_token_is_refused() -> None:
    spec, _nodes = platform()
    state = _k3s.token_rotation(spec, OLD, full("s0m3th1ng3ls3"), {"server-1": OLD}, next_token=NEW)
    assert state["step"] == "refuse"
    assert "neither the one the secrets backend holds as k3s-token" in state["reason"]
    assert "Nothing was changed." in state["reason"]
    assert _k3s.token_rotation(spec, OLD, full(NEW), {"server-1": OLD})["step"] == "refuse"  # no pending token stored


def test_plain_token_reads_both_forms() -> None:
    assert _k3s.plain_token(full(OLD)) == OLD
    assert _k3s.plain_token(f" {OLD}\n") == OLD


def test_a_new_rotation_waits_for_every_node_to_be_ready() -> None:
    """A node down after a run that stopped on the last node: its file holds the new token, so only readiness
    tells that the run did not finish; a second rotation then would restart the rest with one node short."""
    spec, _nodes = platform()
    ready = {"metadata": {"name": "server-1"}, "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}
    down = {"metadata": {"name": "agent-1"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}
    state = _k3s.token_rotation(spec, NEW, full(NEW), {"server-1": NEW, "agent-1": NEW}, node_objects=[ready, down])
    assert state["step"] == "refuse"
    assert state["reason"].startswith("agent-1 is not Ready: a rotation restarts every node")
    # A node with no Node object at all is not Ready either.
    assert _k3s.token_rotation(spec, NEW, full(NEW), {"server-1": NEW, "agent-1": NEW}, node_objects=[ready])["step"] == "refuse"
    assert (
        _k3s.token_rotation(
            spec, NEW, full(NEW), {"server-1": NEW, "agent-1": NEW}, node_objects=[ready, {**down, "status": ready["status"]}]
        )["step"]
        == "rotate"
    )
    # Finishing a rotation is what brings nodes back: not refused.
    behind = _k3s.token_rotation(spec, NEW, full(NEW), {"server-1": NEW, "agent-1": OLD}, node_objects=[ready, down])
    assert behind["step"] == "finish"


def test_plain_token_takes_a_full_token_without_a_user() -> None:
    assert _k3s.plain_token(f"K10{'ab' * 32}::{OLD}") == OLD
