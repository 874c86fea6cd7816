# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The GitOps repository's facts, decided here and nowhere else: its URL as Ansible pushes to it and the cluster
reads it, and for the embedded Git server (``gitops.repo.url: embedded``) which host serves it, as which user,
where the bare repository lives and how its host keys are named in known_hosts.

``Platform.repo_url`` (the renderers) and the ``platform_spec`` module (the fact ``keelson_gitops_repo`` that the
roles and playbooks read) both come from :func:`gitops_repo`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Sequence
from typing import Any, Final, Optional
from urllib.parse import urlsplit

from ansible_collections.keelson.platform.plugins.module_utils._components._unit import DEPLOY_KEY, KNOWN_HOSTS, WRITE_KEY
from ansible_collections.keelson.platform.plugins.module_utils._formats import _SCP_LIKE, repo_url_scheme

EMBEDDED: Final = "embedded"  # the gitops.repo.url that asks for the embedded Git server
EMBEDDED_REPO_ROOT: Final = "/srv/git"  # the git user's home, where the embedded server keeps its bare repositories
EMBEDDED_USER: Final = "git"  # the system user the embedded repository is reached as (login shell git-shell)
SSH_PORT: Final = 22

__all__ = ["EMBEDDED", "EMBEDDED_REPO_ROOT", "EMBEDDED_USER", "GitopsRepo", "gitops_repo", "known_hosts_host", "ssh_endpoint"]


@dataclasses.dataclass(frozen=True)
class GitopsRepo:
    """Where the GitOps repository is and how it is reached; the ``embedded`` fields are None for an external one."""

    url: Optional[str]  # as Ansible pushes to it and the cluster reads it; None: embedded, but no server known
    branch: str
    embedded: bool
    server: Optional[str]  # embedded: the inventory host serving it (the first server)
    address: Optional[str]  # embedded: that host's address (its ansible_host)
    user: Optional[str]  # embedded: the system user that owns the repository
    root: Optional[str]  # embedded: that user's home, holding the bare repository
    path: Optional[str]  # embedded: the bare repository on the server
    known_hosts_host: Optional[str]  # the host field of its known_hosts lines: host or [host]:port; None for https
    deploy_key: Optional[str]  # the read-only deploy key's credential (None for https)
    write_key: Optional[str]  # embedded: the credential Ansible pushes with
    known_hosts_record: Optional[str]  # embedded: the secrets backend record its host keys are pinned in

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _is_ipv6(address: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(address), ipaddress.IPv6Address)
    except ValueError:
        return False


def known_hosts_host(host: str, port: Optional[int] = None) -> str:
    """The host field OpenSSH writes (and looks up) in known_hosts: ``host`` on port 22, else ``[host]:port``."""
    return host if port in (None, SSH_PORT) else f"[{host}]:{port}"


def ssh_endpoint(url: str) -> tuple[str, Optional[int]]:
    """Host and port of an ``ssh://`` or scp-like (``user@host:path``) URL that passed check_repo_url."""
    if url.startswith("ssh://"):
        parts = urlsplit(url)
        return str(parts.hostname), parts.port
    match = _SCP_LIKE.match(url)
    if not match:
        raise ValueError(f"not an ssh repository URL: {url!r}")
    return match.group("host"), None


def gitops_repo(name: str, url: str, branch: str, servers: Sequence[tuple[str, str]]) -> GitopsRepo:
    """The repository of platform ``name`` (``gitops.repo.url`` and ``.branch`` of the normalised spec).

    ``servers`` are the inventory's servers in order, as (inventory host, address): the embedded repository lives on
    the first. Without servers (a spec validated alone) the embedded repository's URL, server and host are None.
    """
    scheme = repo_url_scheme(url)
    if scheme != EMBEDDED:
        host = None if scheme == "https" else known_hosts_host(*ssh_endpoint(url))
        deploy_key = None if scheme == "https" else DEPLOY_KEY
        return GitopsRepo(url, branch, False, None, None, None, None, None, host, deploy_key, None, None)
    path = f"{EMBEDDED_REPO_ROOT}/{name}.git"
    server, address = servers[0] if servers else (None, None)
    embedded_url = None
    if address is not None:
        url_host = f"[{address}]" if _is_ipv6(address) else address
        embedded_url = f"ssh://{EMBEDDED_USER}@{url_host}{path}"
    return GitopsRepo(
        url=embedded_url,
        branch=branch,
        embedded=True,
        server=server,
        address=address,
        user=EMBEDDED_USER,
        root=EMBEDDED_REPO_ROOT,
        path=path,
        known_hosts_host=None if address is None else known_hosts_host(address),
        deploy_key=DEPLOY_KEY,
        write_key=WRITE_KEY,
        known_hosts_record=KNOWN_HOSTS,
    )
