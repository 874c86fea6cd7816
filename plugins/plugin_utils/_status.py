# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether the cluster has applied the pushed tree: every Application (Argo CD) or Kustomization and HelmRelease
(Flux) that the tree holds, reconciled at the pushed commit. The engines say what "reconciled" is for their kinds
(``Engine.assess``); this module compares the tree with what the API server shows."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils._components._unit import Document
from ansible_collections.keelson.platform.plugins.module_utils._engines._unit import Reader
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

_SHOWN: Final = 5  # how many waiting objects a progress line names


@dataclasses.dataclass(frozen=True, order=True)
class Ref:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    @classmethod
    def of(cls, document: Document) -> Ref:
        metadata = document.get("metadata") or {}
        return cls(str(document.get("kind")), str(metadata.get("namespace", "")), str(metadata.get("name")))


@dataclasses.dataclass(frozen=True)
class Report:
    """``ready``: reconciled at the revision; ``waiting``: each other object with why it is not."""

    revision: str
    ready: tuple[Ref, ...]
    waiting: tuple[tuple[Ref, str], ...]

    @property
    def done(self) -> bool:
        return not self.waiting

    @property
    def total(self) -> int:
        return len(self.ready) + len(self.waiting)

    def line(self) -> str:
        """One progress line: how many of how many, and which are still progressing and why."""
        head = f"{len(self.ready)} of {self.total} reconciled at {self.revision[:12]}"
        if self.done:
            return head
        shown = "; ".join(f"{ref.name} ({why})" for ref, why in self.waiting[:_SHOWN])
        more = f"; and {len(self.waiting) - _SHOWN} more" if len(self.waiting) > _SHOWN else ""
        return f"{head}; still progressing: {shown}{more}"

    def failure(self, timeout: int) -> str:
        listing = "\n".join(f"  - {ref}: {why}" for ref, why in self.waiting)
        return (
            f"after {timeout} s, {len(self.waiting)} of {self.total} object(s) are not reconciled at {self.revision[:12]}:\n{listing}\n"
            "Nothing was undone; run the playbook again to keep waiting (it redoes nothing), or look at the objects above."
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "ready": [str(ref) for ref in self.ready],
            "waiting": [{"object": str(ref), "reason": why} for ref, why in self.waiting],
            "total": self.total,
        }


def expected(platform: Platform, read: Reader) -> list[Ref]:
    """Every object of a watched kind the pushed tree holds."""
    kinds = {kind for _version, kind in platform.engine.watched}
    found = {Ref.of(document) for path in platform.engine.watch_paths(platform) for document in read(path) if document.get("kind") in kinds}
    return sorted(found)


def assess(platform: Platform, wanted: Iterable[Ref], live: Mapping[Ref, Document], revision: str) -> Report:
    """``live``: what the API server shows of the watched kinds, by reference."""
    ready: list[Ref] = []
    waiting: list[tuple[Ref, str]] = []
    for ref in wanted:
        document = live.get(ref)
        why: Optional[str] = "not created yet" if document is None else platform.engine.assess(platform, document, revision)
        if why is None:
            ready.append(ref)
        else:
            waiting.append((ref, why))
    return Report(revision, tuple(ready), tuple(waiting))
