# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The GitOps repository's SSH host keys reach the controller that reads it (issue 10): Argo CD through its chart's
known-hosts ConfigMap, Flux through the pull Secret's known_hosts; the spec checks the lines it is given."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from render_helpers import example_spec, fake_values
from spec_cases import BASE_NODES, BASE_SPEC

from ansible_collections.keelson.platform.plugins.module_utils._problems import SpecError
from ansible_collections.keelson.platform.plugins.module_utils._spec import validate_platform
from ansible_collections.keelson.platform.plugins.plugin_utils import _render
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
ECDSA = (
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT"
    "/y6v0mKV0U2w0WZ2YB/++Tpockg="
)


def _external(raw: dict[str, Any]) -> None:
    raw["gitops"]["repo"]["url"] = "ssh://git@git.example.internal/platform/ml-prod.git"
    raw["gitops"]["repo"]["known_hosts"] = [f"git.example.internal {ED25519}", f"git.example.internal {ECDSA}"]


def _argocd_values(platform: Platform) -> dict[str, Any]:
    return dict(platform.engine.controller.values(platform))


def test_argocd_adds_the_repository_keys_to_the_charts_known_hosts(shared_data: Path) -> None:
    spec, nodes = example_spec("argocd", _external)
    ssh = _argocd_values(Platform(spec, nodes))["configs"]["ssh"]
    assert ssh == {"extraHosts": f"git.example.internal {ED25519}\ngit.example.internal {ECDSA}\n"}
    # The chart has the key, and keeps its own list (GitHub, GitLab, ...) for tenants' repositories beside it.
    chart = yaml.safe_load(next((shared_data / "charts").glob("argo-cd-*")).joinpath("values.yaml").read_text())
    assert chart["configs"]["ssh"]["extraHosts"] == "" and "github.com" in chart["configs"]["ssh"]["knownHosts"]


def test_the_embedded_servers_pinned_keys_are_what_the_cluster_trusts() -> None:
    spec, nodes = example_spec("argocd", lambda raw: raw["gitops"]["repo"].update(url="embedded", known_hosts=[]))
    pinned = (f"10.0.0.11 {ED25519}",)
    assert _argocd_values(Platform(spec, nodes, host_keys=pinned))["configs"]["ssh"]["extraHosts"] == f"10.0.0.11 {ED25519}\n"
    # Not pinned yet: nothing to tell (the render action warns).
    assert "ssh" not in _argocd_values(Platform(spec, nodes))["configs"]


def test_an_external_repositorys_keys_come_from_the_spec_not_the_pin() -> None:
    spec, nodes = example_spec("argocd", _external)
    platform = Platform(spec, nodes, host_keys=(f"10.0.0.11 {ED25519}",))
    assert platform.known_hosts == (f"git.example.internal {ED25519}", f"git.example.internal {ECDSA}")


def test_flux_puts_the_keys_in_the_pull_secret() -> None:
    spec, nodes = example_spec("flux", _external)
    secrets = _render.secrets_to_seal(spec, nodes, fake_values(spec))
    pull = secrets[("flux-system", "flux-system")].data
    assert pull["known_hosts"] == f"git.example.internal {ED25519}\ngit.example.internal {ECDSA}\n"
    assert pull["identity"].startswith("PLAINTEXT-")  # the deploy key beside them


def test_https_needs_no_known_hosts() -> None:
    spec, nodes = example_spec("flux", lambda raw: raw["gitops"]["repo"].update(url="https://git.example.internal/p.git", known_hosts=[]))
    assert ("flux-system", "flux-system") not in _render.secrets_to_seal(spec, nodes, fake_values(spec))


def _problems(**repo: Any) -> list[str]:
    raw = copy.deepcopy(BASE_SPEC)
    raw.setdefault("gitops", {})["repo"] = repo
    with pytest.raises(SpecError) as caught:
        validate_platform(raw)
    return [f"{problem.path}: {problem.reason}" for problem in caught.value.problems]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("git.example.internal", "must be one known_hosts line"),
        (f"@cert-authority *.example.internal {ED25519}", "markers"),
        ("git.example.internal ssh-dss AAAAB3NzaC1kc3M=", "unknown key type 'ssh-dss'"),
        ("git.example.internal ssh-ed25519 not*base64", "not base64"),
    ],
)
def test_a_bad_known_hosts_line_is_refused_naming_it(line: str, reason: str) -> None:
    problems = _problems(url="ssh://git@git.example.internal/p.git", known_hosts=[line])
    assert any(problem.startswith("gitops.repo.known_hosts[0]") and reason in problem for problem in problems), problems


def test_known_hosts_only_with_an_external_ssh_repository() -> None:
    problems = _problems(url="embedded", known_hosts=[f"git.example.internal {ED25519}"])
    assert any(problem.startswith("gitops.repo.known_hosts: only valid with an external ssh") for problem in problems), problems


def test_the_mode_is_push_or_pull_request() -> None:
    assert validate_platform(copy.deepcopy(BASE_SPEC)).spec["gitops"]["repo"]["mode"] == "push"
    problems = _problems(mode="merge")
    assert any(problem.startswith("gitops.repo.mode") for problem in problems), problems


def test_flux_is_given_a_repository_url_its_gitrepository_accepts(shared_data: Path) -> None:
    """example-ha's repository is scp-like (git@host:path); the FluxInstance's sync becomes a GitRepository, whose
    CRD allows only URLs with a scheme."""
    crd = yaml.safe_load(
        next((shared_data / "crds").glob("flux-source-controller-*")).joinpath("source.toolkit.fluxcd.io_gitrepositories.yaml").read_text()
    )
    version = next(version for version in crd["spec"]["versions"] if version["name"] == "v1")
    pattern = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["url"]["pattern"]
    spec, nodes = example_spec("flux")
    assert ":" in spec["gitops"]["repo"]["url"] and "://" not in spec["gitops"]["repo"]["url"]
    files = _render.render(spec, nodes, {}, None)
    root = next(yaml.safe_load_all(files[Platform(spec, nodes).layout.root_file]))
    assert re.match(pattern, root["spec"]["sync"]["url"]), root["spec"]["sync"]["url"]


def test_an_ssh_repository_without_known_hosts_is_warned_about() -> None:
    raw = copy.deepcopy(BASE_SPEC)
    raw["gitops"] = {"repo": {"url": "git@git.example.internal:platform/ml-prod.git"}}
    warnings = validate_platform(raw).warnings
    assert any(warning.startswith("gitops.repo.known_hosts: is empty for an ssh repository") for warning in warnings), warnings
    raw["gitops"]["repo"]["known_hosts"] = [f"git.example.internal {ED25519}"]
    assert not any("known_hosts" in warning for warning in validate_platform(raw).warnings)


def test_a_loopback_node_address_is_warned_about() -> None:
    nodes = copy.deepcopy(BASE_NODES)
    nodes[0]["address"] = "127.0.0.1"
    warnings = validate_platform(copy.deepcopy(BASE_SPEC), nodes).warnings
    assert any("ansible_host: is a loopback address" in warning and "server-1" in warning for warning in warnings), warnings
    assert not any("loopback" in warning for warning in validate_platform(copy.deepcopy(BASE_SPEC), copy.deepcopy(BASE_NODES)).warnings)
