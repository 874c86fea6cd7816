# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The version-skew rules of upgrade.yml: no downgrade, one minor at a time, stepping stones, half-way re-runs."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._k3s_upgrade import (
    K3sVersion,
    NodeVersion,
    UpgradeError,
    catalog_versions,
    plan,
)

# A catalog of its own, so the rules are tested apart from what keelson pins today.
TEST_CATALOG: dict[str, Any] = {
    "k3s": {
        "versions": ["v1.33.7+k3s3", "v1.34.9+k3s1", "v1.35.5+k3s1", "v1.35.6+k3s1", "v1.36.2+k3s1"],
        "stepping_stones": {"v1.34": {"from": "v1.33.7+k3s3", "why": "etcd 3.5.26 before 3.6"}},
    }
}


def cluster(*versions: Optional[str]) -> list[NodeVersion]:
    """server-1..3 with the first three versions, agent-1.. with the rest."""
    nodes = []
    for index, version in enumerate(versions):
        role, number = ("server", index + 1) if index < 3 else ("agent", index - 2)
        nodes.append(NodeVersion(name=f"{role}-{number}", role=role, version=version))
    return nodes


def refused(nodes: list[NodeVersion], target: str) -> str:
    with pytest.raises(UpgradeError) as error:
        plan(nodes, target, TEST_CATALOG)
    assert "nothing was changed" in str(error.value)
    return str(error.value)


def test_versions_order_like_k3s_releases() -> None:
    texts = ["v1.35.5+k3s2", "v1.35.5-rc1+k3s1", "v1.34.9+k3s1", "v1.35.10+k3s1", "v1.35.5+k3s1"]
    ordered = [v.text for v in sorted(K3sVersion.parse(t) for t in texts)]  # type: ignore[type-var]
    assert ordered == ["v1.34.9+k3s1", "v1.35.5-rc1+k3s1", "v1.35.5+k3s1", "v1.35.5+k3s2", "v1.35.10+k3s1"]
    assert K3sVersion.parse("1.35.5") is None
    assert K3sVersion.parse("v1.35.5+k3s1 ") is not None


def test_patch_upgrade_moves_servers_first_then_agents() -> None:
    nodes = [
        NodeVersion("agent-1", "agent", "v1.35.5+k3s1"),
        NodeVersion("server-1", "server", "v1.35.5+k3s1"),
        NodeVersion("server-2", "server", "v1.35.5+k3s1"),
    ]
    result = plan(nodes, "v1.35.6+k3s1", TEST_CATALOG)
    assert result.upgrade == ["server-1", "server-2", "agent-1"]
    assert result.current == {"server-1": "v1.35.5+k3s1", "server-2": "v1.35.5+k3s1", "agent-1": "v1.35.5+k3s1"}


def test_one_minor_up_is_allowed() -> None:
    assert plan(cluster("v1.34.9+k3s1", "v1.34.9+k3s1"), "v1.35.5+k3s1", TEST_CATALOG).upgrade == ["server-1", "server-2"]


def test_a_rerun_after_success_has_nothing_to_do() -> None:
    result = plan(cluster("v1.35.6+k3s1", "v1.35.6+k3s1", "v1.35.6+k3s1", "v1.35.6+k3s1"), "v1.35.6+k3s1", TEST_CATALOG)
    assert result.upgrade == []
    assert "nothing to do" in result.message


def test_a_run_stopped_half_way_continues_with_the_nodes_left() -> None:
    nodes = cluster("v1.35.6+k3s1", "v1.35.5+k3s1", "v1.35.5+k3s1", "v1.35.5+k3s1")
    assert plan(nodes, "v1.35.6+k3s1", TEST_CATALOG).upgrade == ["server-2", "server-3", "agent-1"]


def test_downgrade_is_refused_naming_the_node_and_the_way_back() -> None:
    message = refused(cluster("v1.35.6+k3s1", "v1.35.5+k3s1"), "v1.35.5+k3s1")
    assert "server-1: runs k3s v1.35.6+k3s1, newer than the target v1.35.5+k3s1" in message
    assert "restore.yml" in message
    assert "server-2" not in message  # it is at the target: nothing wrong with it


def test_skipping_a_minor_is_refused_naming_the_release_to_take_first() -> None:
    message = refused(cluster("v1.34.9+k3s1"), "v1.36.2+k3s1")
    assert "2 minors below v1.36.2+k3s1" in message
    assert "Upgrade to v1.35.6+k3s1 first" in message  # the catalog's newest v1.35


def test_skipping_a_minor_the_catalog_has_no_release_of_says_so() -> None:
    catalog = {"k3s": {"versions": ["v1.33.7+k3s3", "v1.35.5+k3s1"]}}
    with pytest.raises(UpgradeError, match=r"a v1\.34 release \(none is in the catalog"):
        plan(cluster("v1.33.7+k3s3"), "v1.35.5+k3s1", catalog)


def test_stepping_stone_release_is_required_before_entering_its_minor() -> None:
    message = refused(cluster("v1.33.5+k3s1"), "v1.34.9+k3s1")
    assert "entering v1.34 needs v1.33.7+k3s3 or later first (etcd 3.5.26 before 3.6)" in message
    assert plan(cluster("v1.33.7+k3s3"), "v1.34.9+k3s1", TEST_CATALOG).upgrade == ["server-1"]
    assert plan(cluster("v1.33.8+k3s1"), "v1.34.9+k3s1", TEST_CATALOG).upgrade == ["server-1"]


def test_the_stepping_stone_only_applies_when_crossing_into_its_minor() -> None:
    assert plan(cluster("v1.33.5+k3s1"), "v1.33.7+k3s3", TEST_CATALOG).upgrade == ["server-1"]


def test_every_problem_is_reported_at_once() -> None:
    message = refused(cluster("v1.36.2+k3s1", None, "v1.33.5+k3s1", "banana"), "v1.35.5+k3s1")
    assert "server-1: runs k3s v1.36.2+k3s1, newer" in message
    assert "server-2: has no Node object" in message
    assert "server-3: runs k3s v1.33.5+k3s1, 2 minors below" in message
    assert "agent-1: runs 'banana', which is not a k3s version" in message


def test_a_target_outside_the_catalog_is_refused() -> None:
    with pytest.raises(UpgradeError, match=r"k3s v1\.99\.0\+k3s1 is not in the catalog"):
        plan(cluster("v1.35.5+k3s1"), "v1.99.0+k3s1", TEST_CATALOG)


def test_the_catalogs_own_versions_form_an_upgrade_path() -> None:
    """Each pinned release can be reached from the one before it, so a cluster on any of them can move to the newest."""
    known = catalog_versions(CATALOG)
    for older, newer in zip(known, known[1:]):
        assert plan([NodeVersion("server-1", "server", older.text)], newer.text).upgrade == ["server-1"]


def test_a_node_left_cordoned_at_the_target_is_finished_not_restarted() -> None:
    nodes = [
        NodeVersion("server-1", "server", "v1.35.6+k3s1"),
        NodeVersion("server-2", "server", "v1.35.6+k3s1", marked="v1.35.6+k3s1"),
        NodeVersion("server-3", "server", "v1.35.5+k3s1"),
    ]
    result = plan(nodes, "v1.35.6+k3s1", TEST_CATALOG)
    assert result.upgrade == ["server-3"]
    assert result.resume == ["server-2"]
    assert "finishing server-2" in result.message
