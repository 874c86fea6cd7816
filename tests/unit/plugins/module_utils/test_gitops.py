# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The GitOps repository's facts: one derivation for the renderers, the platform_spec module and the roles."""

from __future__ import annotations

from typing import Any, Optional

import pytest
from spec_cases import BASE_SPEC

from ansible_collections.keelson.platform.plugins.module_utils._gitops import gitops_repo, known_hosts_host
from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.module_utils._spec import validate_platform
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

SERVERS = [("server-1", "192.168.10.11"), ("server-2", "192.168.10.12")]
EMBEDDED = {
    "url": "ssh://git@192.168.10.11/srv/git/ml-prod.git",
    "branch": "main",
    "embedded": True,
    "server": "server-1",
    "address": "192.168.10.11",
    "user": "git",
    "root": "/srv/git",
    "path": "/srv/git/ml-prod.git",
    "known_hosts_host": "192.168.10.11",
    "deploy_key": "gitops-deploy-key",
    "write_key": "gitops-write-key",
    "known_hosts_record": "gitops-known-hosts",
}
EXTERNAL = dict.fromkeys(EMBEDDED, None) | {"embedded": False, "branch": "main", "deploy_key": "gitops-deploy-key"}


def test_embedded_repository_lives_on_the_first_server() -> None:
    assert gitops_repo("ml-prod", "embedded", "main", SERVERS).as_dict() == EMBEDDED


def test_embedded_repository_on_an_ipv6_server_is_bracketed_in_the_url_only() -> None:
    repo = gitops_repo("ml-prod", "embedded", "trunk", [("server-1", "fd00::11")])
    assert (repo.url, repo.known_hosts_host, repo.branch) == ("ssh://git@[fd00::11]/srv/git/ml-prod.git", "fd00::11", "trunk")


def test_embedded_repository_without_an_inventory_has_no_url() -> None:
    repo = gitops_repo("ml-prod", "embedded", "main", [])
    assert repo.as_dict() == EMBEDDED | {"url": None, "server": None, "address": None, "known_hosts_host": None}


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("ssh://git@gitlab.example.internal/platform/gitops.git", "gitlab.example.internal"),
        ("ssh://git@gitlab.example.internal:22/platform/gitops.git", "gitlab.example.internal"),
        ("ssh://git@Gitlab.Example.Internal:2222/platform/gitops.git", "[gitlab.example.internal]:2222"),
        ("ssh://git@[fd00::5]:2222/gitops.git", "[fd00::5]:2222"),
        ("git@github.com:keelson/gitops.git", "github.com"),
    ],
)
def test_external_ssh_repository(url: str, host: str) -> None:
    assert gitops_repo("ml-prod", url, "main", SERVERS).as_dict() == EXTERNAL | {"url": url, "known_hosts_host": host}


def test_external_https_repository_needs_no_host_key_and_no_deploy_key() -> None:
    url = "https://git.example.internal/platform/gitops.git"
    assert gitops_repo("ml-prod", url, "main", SERVERS).as_dict() == EXTERNAL | {"url": url, "deploy_key": None}


@pytest.mark.parametrize(("port", "field"), [(None, "10.0.0.1"), (22, "10.0.0.1"), (2222, "[10.0.0.1]:2222")])
def test_known_hosts_host_field(port: Optional[int], field: str) -> None:
    assert known_hosts_host("10.0.0.1", port) == field


def _platform(url: str, nodes: list[dict[str, Any]]) -> Platform:
    spec = validate_platform({**BASE_SPEC, "gitops": {"repo": {"url": url}}}).spec
    return Platform(spec, nodes)


def test_the_renderers_read_the_same_url() -> None:
    nodes = [
        {"host": "agent-1", "role": "agent", "address": "192.168.10.21"},
        {"host": "server-1", "role": "server", "address": "192.168.10.11"},
    ]
    platform = _platform("embedded", nodes)
    expected = gitops_repo(platform.spec.name, "embedded", "main", [("server-1", "192.168.10.11")])
    assert platform.repo == expected
    assert platform.repo_url == expected.url == f"ssh://git@192.168.10.11/srv/git/{platform.spec.name}.git"
    assert _platform("git@github.com:keelson/gitops.git", nodes).repo_url == "git@github.com:keelson/gitops.git"


def test_the_renderers_need_a_server_for_the_embedded_url() -> None:
    with pytest.raises(KeelsonError, match="the inventory names none"):
        assert _platform("embedded", []).repo_url
