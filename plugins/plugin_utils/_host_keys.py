# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""SSH host keys pinned in the secrets backend: stored at first contact, then the only keys trusted.

The record holds known_hosts text (one ``HOST KEYTYPE KEY`` line per key, sorted), the same text every client of
the server (Ansible pushing, the GitOps controller pulling) is given as its known_hosts. A server that later shows
other keys is refused, naming both sets of fingerprints, until someone who has checked the new keys out of band
accepts them.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Iterable
from typing import Optional

from ansible_collections.keelson.platform.plugins.module_utils._formats import check_known_hosts_line
from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.plugin_utils._secrets import Backend

__all__ = ["HostKeysChanged", "HostKeysError", "Pinned", "fingerprints", "known_hosts_text", "pin"]

# How a changed key is accepted through keelson.platform.site (the module's own option is accept).
ACCEPT_HINT = "-e keelson_git_server_accept_host_keys=true"


class HostKeysError(KeelsonError):
    """Host keys that cannot be read or pinned."""


class HostKeysChanged(HostKeysError):
    """The server shows other host keys than the pinned ones."""


@dataclasses.dataclass(frozen=True)
class Pinned:
    changed: bool
    known_hosts: str  # what is pinned now (or would be, in check mode)
    previous: Optional[str]  # what was pinned before; None at first contact


def _fields(line: str) -> tuple[str, str, str]:
    host, kind, key = line.split()[:3]
    return host, kind, key


def known_hosts_text(lines: Iterable[str]) -> str:
    """known_hosts text from ``HOST KEYTYPE KEY [comment]`` lines: comments dropped, duplicates once, sorted."""
    normalised = set()
    for line in lines:
        reason = check_known_hosts_line(line.strip())
        if reason:
            raise HostKeysError(f"host key line {line.strip()!r}: {reason}")
        normalised.add(" ".join(_fields(line)))
    if not normalised:
        raise HostKeysError("no SSH host keys were read from the server (is sshd's /etc/ssh/ssh_host_*_key.pub there?)")
    return "".join(f"{line}\n" for line in sorted(normalised))


def _keys(text: str) -> frozenset[tuple[str, str]]:
    """The (type, key) pairs of known_hosts text, whatever host field they carry."""
    return frozenset(_fields(line)[1:] for line in text.splitlines() if line.strip())


def fingerprints(text: str) -> list[str]:
    """``KEYTYPE SHA256:...`` of every key in known_hosts text, as ``ssh-keygen -l`` prints them."""
    result = []
    for kind, key in sorted(_keys(text)):
        digest = hashlib.sha256(base64.b64decode(key)).digest()
        result.append(f"{kind} SHA256:{base64.b64encode(digest).decode().rstrip('=')}")
    return result


def _readable(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    return bool(lines) and all(check_known_hosts_line(line) is None for line in lines)


def pin(backend: Backend, record: str, lines: Iterable[str], server: str, *, accept: bool = False, check_mode: bool = False) -> Pinned:
    """Pin the host keys ``lines`` (read from ``server``) in ``record``.

    Nothing pinned yet: store them. The same keys: nothing to do (a changed host field alone, the server's address,
    is stored: the keys still prove it is the same server). Other keys: HostKeysChanged, unless ``accept``.
    """
    current = known_hosts_text(lines)
    previous = backend.get(record)
    if previous == current:
        return Pinned(False, current, previous)
    if previous is not None and not accept:
        if not _readable(previous):
            raise HostKeysError(
                f"the host keys pinned for {server} in {backend.path} ({record}) are not known_hosts text; check the "
                f"server's keys out of band, then run again with {ACCEPT_HINT} (the module's accept) to pin its keys anew"
            )
        if _keys(previous) != _keys(current):
            raise HostKeysChanged(
                f"the SSH host keys of {server} are not the ones pinned in {backend.path} ({record}): pinned "
                f"{', '.join(fingerprints(previous))}; the server now shows {', '.join(fingerprints(current))}. It may "
                "have been reinstalled, or another machine may be answering at its address; the run stops here, before anything is pushed. "
                "Verify the new fingerprints out of band (on the server's console: ssh-keygen -lf "
                f"/etc/ssh/ssh_host_ed25519_key.pub), then run again with {ACCEPT_HINT} (the module's accept) to pin them"
            )
    changed = backend.put(record, current, check_mode=check_mode)
    return Pinned(changed, current, previous)
