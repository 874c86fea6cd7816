# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What site.yml left on the hosts and the controller (k3s is the test double: see tests/k3s-double)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import tomllib
import yaml
from ansible.parsing.vault import is_encrypted
from conftest import ADDRESSES, AGENTS, DOUBLE, EPHEMERAL, SCENARIO, SERVERS, VIP, needs_double, read_yaml
from kubernetes import client, config
from playbook import run_playbook

ALL = SERVERS + AGENTS
NVIDIA_RUNTIME_CONFIG = "/etc/nvidia-container-runtime/config.toml"  # the NVIDIA container toolkit's file


@pytest.mark.parametrize("name", ALL)
def test_k3s_files_are_the_airgap_ones(hosts: dict[str, Any], sums: dict[str, str], name: str) -> None:
    host = hosts[name]
    binary = host.file("/usr/local/bin/k3s")
    assert (binary.user, binary.group, binary.mode) == ("root", "root", 0o755)
    assert binary.sha256sum == sums["k3s"]
    images = host.file("/var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst")
    assert images.sha256sum == sums["k3s-airgap-images-amd64.tar.zst"]
    assert ("keelson-test-double" in host.check_output("/usr/local/bin/k3s --version")) == DOUBLE


@pytest.mark.parametrize("name", ALL)
def test_unit_enabled_active_and_never_restarted(hosts: dict[str, Any], name: str) -> None:
    host = hosts[name]
    unit = "k3s" if name in SERVERS else "k3s-agent"
    service = host.service(unit)
    assert service.is_enabled
    assert service.is_running
    assert host.check_output(f"systemctl show -p NRestarts --value {unit}") == "0"
    unit_file = host.file(f"/etc/systemd/system/{unit}.service")
    assert unit_file.mode == 0o644
    assert f"ExecStart=/usr/local/bin/k3s {'server' if name in SERVERS else 'agent'}" in unit_file.content_string
    assert host.file(f"/etc/systemd/system/{unit}.service.env").mode == 0o600


@pytest.mark.parametrize("name", ALL)
def test_config_per_role(hosts: dict[str, Any], name: str) -> None:
    host = hosts[name]
    config_file = host.file("/etc/rancher/k3s/config.yaml")
    assert (config_file.user, config_file.mode) == ("root", 0o600)
    config = read_yaml(host, "/etc/rancher/k3s/config.yaml")
    assert config["node-name"] == name
    assert config["node-ip"] == ADDRESSES[name]
    assert config["token-file"] == "/etc/rancher/k3s/token"
    assert "token" not in config
    assert "protect-kernel-defaults" not in config  # hardening is off in this scenario
    if name == "server-1":
        assert config["cluster-init"] is True
        assert "server" not in config
    elif name in SERVERS:
        assert config["server"] == "https://10.89.77.11:6443"
    else:
        assert config["server"] == f"https://{VIP}:6443"
        assert config["node-label"] == ["example.com/pool=gpu", "keelson.dev/gpu=true"]  # the second from gpus: 1
        assert config["node-taint"] == ["nvidia.com/gpu=true:NoSchedule"]
    if name in SERVERS:
        assert config["tls-san"] == [VIP, "api.molecule.keelson.internal"]
        assert config["write-kubeconfig-mode"] == "0600"
        assert "oidc-issuer-url=https://keycloak.molecule.keelson.internal/realms/molecule" in config["kube-apiserver-arg"]
        assert "oidc-ca-file=/etc/rancher/k3s/oidc-ca.crt" in config["kube-apiserver-arg"]
        ca_file = host.file("/etc/rancher/k3s/oidc-ca.crt")
        assert ca_file.contains("BEGIN CERTIFICATE") and not ca_file.contains("PRIVATE KEY")
        assert config["secrets-encryption"] is True
        assert not host.file("/etc/rancher/k3s/pod-security.yaml").exists
        vip_pod = read_yaml(host, "/var/lib/rancher/k3s/agent/pod-manifests/kube-vip.yaml")
        env = {item["name"]: item["value"] for item in vip_pod["spec"]["containers"][0]["env"]}
        assert (env["address"], env["vip_interface"], env["vip_arp"]) == (VIP, "eth0", "true")


@pytest.mark.parametrize("name", ALL)
def test_only_the_gpu_hosts_runtime_gives_gpus_through_the_device_plugins_mounts_alone(hosts: dict[str, Any], name: str) -> None:
    """agent-1 has gpus: 1 (its NVIDIA runtime is a double, prepare.yml): the runtime's file says to ignore
    NVIDIA_VISIBLE_DEVICES from unprivileged containers and to take the plugin's volume mounts, at its top level."""
    runtime = hosts[name].file(NVIDIA_RUNTIME_CONFIG)
    if name != "agent-1":
        assert not runtime.exists
        return
    assert (runtime.user, runtime.group, runtime.mode) == ("root", "root", 0o644)
    settings = tomllib.loads(runtime.content_string)
    assert settings["accept-nvidia-visible-devices-envvar-when-unprivileged"] is False
    assert settings["accept-nvidia-visible-devices-as-volume-mounts"] is True


@pytest.mark.parametrize("name", ALL)
def test_registries_written_root_only(hosts: dict[str, Any], name: str) -> None:
    host = hosts[name]
    assert host.file("/etc/rancher/k3s/registries.yaml").mode == 0o600
    registries = read_yaml(host, "/etc/rancher/k3s/registries.yaml")
    assert registries == {"mirrors": {"docker.io": {"endpoint": ["https://mirror.molecule.keelson.internal"]}}}


def test_token_never_in_world_readable_files(hosts: dict[str, Any]) -> None:
    token = hosts["server-1"].file("/etc/rancher/k3s/token").content_string.strip()
    assert len(token) == 48
    for name, host in hosts.items():
        assert host.file("/etc/rancher/k3s/token").mode == 0o600, name
        assert host.file("/etc/rancher/k3s/token").content_string.strip() == token, name
        # Every file under these trees that others may read must not hold the token.
        found = host.run(
            f"find /etc/rancher /etc/systemd/system /var/lib/rancher /usr/local/bin -type f -perm -o+r -exec grep -l -F -e {token} {{}} +"
        )
        assert found.stdout.strip() == "", f"{name}: token in world-readable {found.stdout}"
    for name in SERVERS:
        assert hosts[name].file("/var/lib/rancher/k3s/server/token").mode == 0o600


def test_token_kept_encrypted_beside_the_inventory() -> None:
    vault_file = EPHEMERAL / "keelson-secrets.vault.yml"
    assert oct(vault_file.stat().st_mode & 0o777) == "0o600"
    assert is_encrypted(vault_file.read_bytes())


@needs_double
def test_servers_joined_one_at_a_time_in_order(hosts: dict[str, Any]) -> None:
    registry = json.loads(hosts["server-1"].file("/var/lib/rancher/k3s/server/db/double-registry.json").content_string)
    joined = sorted(registry, key=lambda name: registry[name]["created"])
    servers = [name for name in joined if registry[name]["role"] == "server"]
    assert servers == SERVERS


def test_kubeconfig_rewritten_private_and_working() -> None:
    path = EPHEMERAL / "kubeconfig"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    kubeconfig = yaml.safe_load(path.read_text())
    assert kubeconfig["clusters"][0]["cluster"]["server"] == f"https://{VIP}:6443"
    assert kubeconfig["current-context"] == "molecule"
    config.load_kube_config(str(path))
    nodes = client.CoreV1Api().list_node().items
    ready = {node.metadata.name: next(c.status for c in node.status.conditions if c.type == "Ready") for node in nodes}
    assert ready == dict.fromkeys(ALL, "True")


def _start_times(hosts: dict[str, Any]) -> dict[str, str]:
    return {
        name: host.check_output(f"systemctl show -p ActiveEnterTimestampMonotonic --value {'k3s' if name in SERVERS else 'k3s-agent'}")
        for name, host in hosts.items()
    }


def test_check_mode_on_converged_hosts_changes_nothing(hosts: dict[str, Any]) -> None:
    before = _start_times(hosts)
    result = run_playbook(str(SCENARIO / "converge.yml"), "--check", "--diff")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.MULTILINE)
    assert {host for host, _changed in recap} >= set(ALL)
    assert all(changed == "0" for _host, changed in recap), [line for line in result.stdout.splitlines() if "changed:" in line]
    assert _start_times(hosts) == before


def test_a_k3s_that_started_before_its_files_were_written_restarts_once(hosts: dict[str, Any]) -> None:
    """A run cut off after writing a file and before restarting k3s leaves k3s on the old file, and the file alone
    no longer says so: the next run restarts that node (check mode says it would), and only it; the run after that
    restarts nothing."""
    # As if a run had written agent-1's config.yaml and been cut off before the restart.
    hosts["agent-1"].run_expect([0], "touch /etc/rancher/k3s/config.yaml")
    before = _start_times(hosts)
    checked = run_playbook(str(SCENARIO / "converge.yml"), "--check")
    assert checked.returncode == 0, checked.stdout[-3000:]
    said = " ".join(checked.stdout.split())
    assert "k3s-agent on agent-1 started before its files were last written (/etc/rancher/k3s/config.yaml)" in said, said[-3000:]
    assert _start_times(hosts) == before
    result = run_playbook(str(SCENARIO / "converge.yml"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    after = _start_times(hosts)
    assert [name for name in ALL if after[name] != before[name]] == ["agent-1"]
    again = run_playbook(str(SCENARIO / "converge.yml"))
    assert again.returncode == 0, again.stdout[-3000:]
    assert _start_times(hosts) == after
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", again.stdout, re.MULTILINE)
    assert all(changed == "0" for host, changed in recap if host in ALL), recap


def test_bad_airgap_folder_stops_before_any_host_changes(hosts: dict[str, Any], tmp_path: Any) -> None:
    """A damaged air-gap bundle is refused by preflight, with the file named, and no host is touched."""
    folder = tmp_path / "airgap"
    folder.mkdir()
    for item in (EPHEMERAL / "airgap").iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    (folder / "k3s").write_bytes(b"#!/bin/sh\necho tampered\n")
    spec = yaml.safe_load((SCENARIO / "inventory" / "group_vars" / "all" / "keelson.yml").read_text())["keelson_platform"]
    spec["cluster"]["airgap_source"] = str(folder)
    spec["secrets"]["vault_file"]["path"] = str(EPHEMERAL / "keelson-secrets.vault.yml")
    overrides = tmp_path / "spec.yml"
    overrides.write_text(yaml.safe_dump({"keelson_platform": spec}))
    before = {name: host.file("/etc/rancher/k3s/config.yaml").mtime for name, host in hosts.items()}
    starts = _start_times(hosts)
    result = run_playbook(str(SCENARIO / "converge.yml"), "-e", f"@{overrides}")
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert f"{folder}/k3s: sha256 is" in output, output[-2000:]
    assert "the file is damaged or from another release" in output
    assert "TASK [keelson.platform.prereq" not in result.stdout
    assert {name: host.file("/etc/rancher/k3s/config.yaml").mtime for name, host in hosts.items()} == before
    assert _start_times(hosts) == starts
