# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which nodes an upgrade to a k3s version moves, and the upgrades it refuses.

The rules (docs/day2.md):

- no downgrade: k3s cannot go back a version in place (its datastore may already be migrated); a node that runs a
  newer release than the target refuses the whole upgrade, and the way back is a snapshot restore;
- one Kubernetes minor at a time (the Kubernetes version skew policy, which k3s' upgrade docs apply): a node two
  minors below the target refuses it, naming the release of the minor between to take first;
- stepping stones: some minors may only be entered from a release recent enough (the catalog's
  ``k3s.stepping_stones``; k3s v1.34 moved its embedded etcd from 3.5 to 3.6, which needs every member on
  etcd 3.5.26 or later first).

A cluster left half-way (some nodes upgraded, some not) is planned like any other: the upgraded nodes are left
alone, the others are moved. A node upgrade.yml cordoned carries the annotation ``MARK`` until it is uncordoned, so
a node that came back at the target after the run stopped (on its own, or once its host was fixed) is finished
(waited for, uncordoned) by the next run instead of staying cordoned.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError

MARK: Final = "keelson.dev/upgrading-to"
_VERSION: Final = re.compile(r"^v(\d+)\.(\d+)\.(\d+)(?:-rc(\d+))?\+k3s(\d+)$")


class UpgradeError(KeelsonError):
    """The upgrade is refused; the message lists every reason and what to do."""


@dataclasses.dataclass(frozen=True, order=True)
class K3sVersion:
    """A k3s release, ordered the way k3s releases are: v1.35.5-rc1+k3s1 < v1.35.5+k3s1 < v1.35.5+k3s2."""

    major: int
    minor: int
    patch: int
    final: int  # 0 for a release candidate, 1 for a release
    rc: int
    k3s: int
    text: str = dataclasses.field(compare=False)

    @classmethod
    def parse(cls, text: str) -> Optional[K3sVersion]:
        match = _VERSION.match(text.strip())
        if not match:
            return None
        major, minor, patch, rc, k3s = match.groups()
        return cls(int(major), int(minor), int(patch), 0 if rc else 1, int(rc or 0), int(k3s), text.strip())

    @property
    def minor_name(self) -> str:
        return f"v{self.major}.{self.minor}"

    def minors_below(self, other: K3sVersion) -> int:
        """How many Kubernetes minors this release is below ``other`` (negative: above)."""
        return (other.major - self.major) * 1000 + other.minor - self.minor


@dataclasses.dataclass(frozen=True)
class NodeVersion:
    """One node as the plan sees it: its name, role and the version its kubelet reports (None: no Node object)."""

    name: str
    role: str
    version: Optional[str]
    marked: Optional[str] = None  # the MARK annotation's value: the target of an upgrade that did not finish here


@dataclasses.dataclass(frozen=True)
class UpgradePlan:
    target: str
    upgrade: list[str]  # node names, servers first in inventory order, then agents
    resume: list[str]  # nodes at the target that an unfinished run left cordoned: wait for them, uncordon them
    current: dict[str, str]
    message: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _parse_known(text: str) -> K3sVersion:
    version = K3sVersion.parse(text)
    if version is None:
        raise ValueError(f"the catalog names k3s version {text!r}, which is not vMAJOR.MINOR.PATCH+k3sN")
    return version


def catalog_versions(catalog: Optional[Mapping[str, Any]] = None) -> list[K3sVersion]:
    catalog = CATALOG if catalog is None else catalog
    return sorted(_parse_known(text) for text in catalog["k3s"]["versions"])


def stepping_stones(catalog: Optional[Mapping[str, Any]] = None) -> dict[str, K3sVersion]:
    """Per minor (``v1.34``), the oldest release of the minor below it that may move into it."""
    catalog = CATALOG if catalog is None else catalog
    return {minor: _parse_known(entry["from"]) for minor, entry in catalog["k3s"].get("stepping_stones", {}).items()}


def _next_minor_release(version: K3sVersion, known: Sequence[K3sVersion]) -> str:
    """The release to take from ``version`` towards a later minor: the catalog's newest of the next minor."""
    wanted = [v for v in known if v.major == version.major and v.minor == version.minor + 1]
    if wanted:
        return wanted[-1].text
    return f"a v{version.major}.{version.minor + 1} release (none is in the catalog: add one to plugins/module_utils/_catalog.py)"


def plan(nodes: Sequence[NodeVersion], target_text: str, catalog: Optional[Mapping[str, Any]] = None) -> UpgradePlan:
    """The nodes to move to ``target_text``, or UpgradeError with every reason the upgrade is refused."""
    catalog = CATALOG if catalog is None else catalog
    known = catalog_versions(catalog)
    target = K3sVersion.parse(target_text)
    if target is None or target.text not in {v.text for v in known}:
        raise UpgradeError(
            f"k3s {target_text} is not in the catalog; the versions keelson can install are "
            f"{', '.join(v.text for v in known)} (plugins/module_utils/_catalog.py)"
        )
    stones = stepping_stones(catalog)
    problems: list[str] = []
    upgrade: list[str] = []
    resume: list[str] = []
    current: dict[str, str] = {}
    ordered = [n for n in nodes if n.role == "server"] + [n for n in nodes if n.role != "server"]
    for node in ordered:
        if node.version is None:
            problems.append(
                f"{node.name}: has no Node object in the cluster, so its version is unknown. Join it first "
                "(site.yml --limit, or add_node.yml), or take it out of the inventory"
            )
            continue
        current[node.name] = node.version
        running = K3sVersion.parse(node.version)
        if running is None:
            problems.append(f"{node.name}: runs {node.version!r}, which is not a k3s version (vMAJOR.MINOR.PATCH+k3sN)")
            continue
        if running == target:
            if node.marked is not None:
                resume.append(node.name)
            continue
        if running > target:
            problems.append(
                f"{node.name}: runs k3s {running.text}, newer than the target {target.text}; k3s cannot be downgraded "
                "in place. Name a version at least as new (cluster.k3s_version or -e keelson_k3s_version), or go "
                "back with restore.yml and a snapshot taken before the upgrade"
            )
            continue
        gap = running.minors_below(target)
        if gap > 1:
            problems.append(
                f"{node.name}: runs k3s {running.text}, {gap} minors below {target.text}; Kubernetes upgrades one "
                f"minor at a time. Upgrade to {_next_minor_release(running, known)} first "
                "(-e keelson_k3s_version=...), then on to the next"
            )
            continue
        stone = stones.get(target.minor_name)
        if gap == 1 and stone is not None and running < stone:
            reason = catalog["k3s"]["stepping_stones"][target.minor_name].get("why", "")
            problems.append(
                f"{node.name}: runs k3s {running.text}; entering {target.minor_name} needs {stone.text} or later "
                f"first{' (' + reason + ')' if reason else ''}. Upgrade to {stone.text} (or a later "
                f"{stone.minor_name} release) first"
            )
            continue
        upgrade.append(node.name)
    if problems:
        raise UpgradeError(f"the upgrade to k3s {target.text} is refused; nothing was changed:\n- " + "\n- ".join(problems))
    if upgrade:
        count = f"{len(upgrade)} of {len(ordered)} nodes"
        message = f"k3s {target.text}: upgrading {', '.join(upgrade)} ({count}), one server at a time, then the agents"
    else:
        message = f"k3s {target.text}: every node runs it already"
    if resume:
        message += f"; finishing {', '.join(resume)} (at the target, left cordoned by a run that stopped)"
    elif not upgrade:
        message += "; nothing to do"
    return UpgradePlan(target=target.text, upgrade=upgrade, resume=resume, current=current, message=message)
