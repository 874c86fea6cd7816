# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether the cluster has applied the pushed tree: every Application (Argo CD) or Kustomization and HelmRelease
(Flux) that the tree holds, reconciled at the pushed commit. The engines say what "reconciled" is for their kinds
(``Engine.assess``); this module compares the tree with what the API server shows."""

from __future__ import annotations

import dataclasses
import os
import socket
import ssl
import tempfile
import urllib.error
from collections.abc import Iterable, Mapping
from typing import Any, Final, Optional

from ansible.module_utils.urls import SSLValidationError, open_url

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


def probe(url: str, ca_certificate: Optional[str], timeout: float = 10.0) -> Optional[str]:
    """None when ``url`` answers over TLS the platform trusts (its CA, else the system's) with a status a live
    component gives (below 400, or 401/403: it asks who you are); else what went wrong, in words. A 404 is what
    Traefik answers for a host it has no route for, and 5xx a backend that is not up. Redirects are not followed
    (a redirect to the login page is an answer)."""
    host = url.split("/")[2]
    with tempfile.TemporaryDirectory(prefix="keelson-smoke-") as folder:
        ca_path = None
        if ca_certificate:
            ca_path = os.path.join(folder, "ca.crt")
            with open(ca_path, "w", encoding="utf-8") as handle:
                handle.write(ca_certificate)
        try:
            response = open_url(url, method="GET", timeout=timeout, ca_path=ca_path, follow_redirects="none", http_agent="keelson-smoke")
            code = int(response.status)
        except urllib.error.HTTPError as error:
            code = int(error.code)
        except SSLValidationError as error:
            return f"TLS to {host} is not trusted: {str(error).splitlines()[0]}"
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, socket.gaierror):
                return f"{host} does not resolve from this machine (DNS for the platform's domain must point at the ingress)"
            if isinstance(reason, ssl.SSLError):
                return f"TLS to {host} is not trusted: {reason}"
            return f"{host} does not answer: {reason}"
        except (OSError, ValueError, ConnectionError) as error:
            return f"{host} does not answer: {error}"
    if code < 400 or code in (401, 403):
        return None
    return f"{url} answers HTTP {code}"


def smoke(urls: Iterable[tuple[str, str]], ca_certificate: Optional[str], timeout: float = 10.0) -> list[tuple[str, str, str]]:
    """(unit, URL, problem) for every ingress URL that does not answer as a live component does."""
    found = []
    for unit, url in urls:
        problem = probe(url, ca_certificate, timeout)
        if problem:
            found.append((unit, url, problem))
    return found
