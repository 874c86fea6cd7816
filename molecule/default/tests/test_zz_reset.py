# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""reset.yml on the converged hosts: refused without confirmation, then leaves nothing of k3s behind.
Destructive, so it runs last (file names sort it there); destroy follows."""

from __future__ import annotations

from typing import Any

from conftest import EPHEMERAL, SERVERS, VIP
from git_client import REPO
from playbook import run_playbook

K3S_PATHS = [
    "/usr/local/bin/k3s",
    "/etc/rancher",
    "/var/lib/rancher",
    "/etc/systemd/system/k3s.service",
    "/etc/systemd/system/k3s.service.env",
    "/etc/systemd/system/k3s-agent.service",
    "/etc/systemd/system/k3s-agent.service.env",
]


def test_reset_needs_the_platform_name(hosts: dict[str, Any]) -> None:
    refused = run_playbook("keelson.platform.reset", "-e", "keelson_reset_confirm=yes")
    assert refused.returncode != 0
    output = " ".join((refused.stdout + refused.stderr).split())
    assert "run again with -e keelson_reset_confirm=molecule" in output, output[-3000:]
    assert hosts["server-1"].file("/usr/local/bin/k3s").exists


def test_reset_check_mode_lists_and_keeps(hosts: dict[str, Any]) -> None:
    checked = run_playbook("keelson.platform.reset", "-e", "keelson_reset_confirm=molecule", "--check")
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert "folder /var/lib/rancher/k3s" in checked.stdout
    assert hosts["server-1"].file("/var/lib/rancher/k3s").exists
    assert hosts["server-1"].file(f"{REPO.path}/HEAD").exists


def test_reset_leaves_no_k3s_behind(hosts: dict[str, Any]) -> None:
    result = run_playbook("keelson.platform.reset", "-e", "keelson_reset_confirm=molecule")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "interface flannel.1" in result.stdout
    assert f"address {VIP}/32 on eth0 (the API VIP)" in result.stdout
    for name, host in hosts.items():
        for path in K3S_PATHS:
            assert not host.file(path).exists, f"{name}: {path}"
        links = host.check_output("ip -o link show")
        assert "flannel" not in links and "cni0" not in links, name
        assert VIP not in host.check_output("ip -o addr show"), name
        units = host.run("systemctl list-unit-files 'k3s*' --no-legend").stdout
        assert units.strip() == "", f"{name}: {units}"
        assert host.run("pgrep -x k3s").rc == 1, name
    assert not (EPHEMERAL / "kubeconfig").exists()
    # Nothing left to remove the second time.
    again = run_playbook("keelson.platform.reset", "-e", "keelson_reset_confirm=molecule")
    assert again.returncode == 0
    assert "nothing left to remove" in again.stdout
    assert all(hosts[name].file("/etc/systemd/system").exists for name in SERVERS)


def test_reset_takes_the_git_server_and_its_repository(hosts: dict[str, Any]) -> None:
    server = hosts["server-1"]
    assert not server.user(REPO.user).exists
    assert server.run(f"getent group {REPO.user}").rc == 2
    assert not server.file(REPO.root).exists
