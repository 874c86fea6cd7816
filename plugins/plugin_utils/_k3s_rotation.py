# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""rotate.yml's plans, as data: for certificates, what ``k3s certificate check -o json`` reports on each node and
which nodes a rotation restarts; for the secrets-encryption key, where ``k3s secrets-encrypt`` stands and which
servers restart. Both so that a run that stopped half-way goes on without doing a step twice.

Pure functions; the filters ``keelson.platform.k3s_certificate_rotation`` and ``k3s_encryption_rotation`` expose
them to the playbook.
"""

from __future__ import annotations

import datetime
import json
from typing import Any, Final, Optional

# k3s renews a certificate when it starts and the certificate expires within this many days, and `k3s certificate
# check` says WARNING for it (k3s: pkg/daemons/config, CertificateRenewDays).
RENEW_DAYS: Final = 120
# What `k3s certificate check` calls a certificate due: within RENEW_DAYS of expiry, or expired.
DUE: Final = ("WARNING", "EXPIRED")
# How the user names what to rotate (-e keelson_rotate_certificates=...): the due ones, all, or those that expire
# before a time.
ASKED_DUE: Final = "due"
ASKED_ALL: Final = "all"


def _moment(text: str) -> Optional[datetime.datetime]:
    """An ISO 8601 / RFC 3339 time (Go's RFC3339Nano too) in UTC; a time without a zone is taken as UTC."""
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)).astimezone(datetime.timezone.utc)


def _stamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def certificates(output: str) -> list[dict[str, Any]]:
    """The node's own certificates in ``k3s certificate check -o json`` output (``{"Certificates": [...]}``, k3s:
    pkg/cli/cert), as ``file``, ``subject``, ``expires`` (a datetime) and ``status``. CA certificates (k3s writes its
    CA, and a custom CA's intermediates, after each certificate in its file: usage CertSign, or subject and issuer
    alike) are left out: ``k3s certificate rotate`` does not rotate them. Raises ValueError for output that is not
    that."""
    data = json.loads(output)
    if not isinstance(data, dict) or not isinstance(data.get("Certificates") or [], list):
        raise ValueError("not the output of k3s certificate check -o json")
    found = []
    for item in data.get("Certificates") or []:
        expires = _moment(str(item.get("ExpiryTime", ""))) if isinstance(item, dict) else None
        if expires is None:
            raise ValueError(f"a certificate without a readable ExpiryTime: {item!r}")
        if item.get("Subject") == item.get("Issuer") or "CertSign" in (item.get("Usages") or []):
            continue
        found.append(
            {
                "file": str(item.get("Filename", "")),
                "subject": str(item.get("Subject", "")),
                "expires": expires,
                "status": str(item.get("Status", "")),
            }
        )
    return found


def _ready(node_objects: list[dict[str, Any]]) -> set[str]:
    return {
        str(item.get("metadata", {}).get("name"))
        for item in node_objects
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in (item.get("status") or {}).get("conditions") or [])
    }


def certificate_rotation(
    nodes: list[dict[str, Any]],
    checks: dict[str, str],
    asked: str = ASKED_DUE,
    *,
    node_objects: Optional[list[dict[str, Any]]] = None,
    now: Optional[str] = None,
    before: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    """Which nodes a certificate rotation restarts, in rotate.yml's order (servers one at a time, then the agents).

    ``nodes`` are the normalised cluster nodes (name, role), ``checks`` each node's ``k3s certificate check -o json``
    output by node name, ``asked`` what to rotate: ``due`` (a node with a certificate k3s calls WARNING or EXPIRED),
    ``all`` (every node: the cut-off is the latest expiry found, so that a re-run with it rotates only the nodes not
    rotated yet, whose new certificates expire later), or a time (a node with a certificate that expires at or before
    it). Returns ``step`` (``rotate``; ``start``: nothing to rotate but nodes not Ready in ``node_objects``, which a
    run that stopped left down, to start and wait for; ``none``; or ``refuse`` with ``reason``), ``rotate`` (node
    names, in order), ``down`` (nodes not Ready), ``cutoff`` (the time to run again with, "" for ``due``), and
    ``report``: per node, in order, how many certificates, the first to expire (``file``, ``expires``, ``days``),
    ``due`` (files k3s calls due) and ``not_yet_valid`` (files whose validity starts later: a clock is off). Without
    ``node_objects`` (the API could not be read) readiness is not checked.

    With ``before`` (this function's result before the rotation), ``not_renewed`` lists the nodes it rotated whose
    certificates are not new now: none listed, one due, or the first to expire no later than before.

    Refused: output that is not k3s' (a k3s without ``-o json``), an ``asked`` that is none of those, and a rotation
    that would restart a node while a server after it, not rotated itself, is not Ready (two etcd members down at
    once). A server that is down and due is rotated in its turn: expired certificates are a reason to be down."""
    order = [node for node in nodes if node.get("role") == "server"] + [node for node in nodes if node.get("role") != "server"]
    names = [str(node["name"]) for node in order]
    result: dict[str, Any] = {"step": "refuse", "reason": "", "rotate": [], "down": [], "cutoff": "", "report": [], "not_renewed": []}
    moment = _moment(now) if now else datetime.datetime.now(datetime.timezone.utc)
    if moment is None:
        raise ValueError(f"now must be an ISO 8601 time, not {now!r}")
    found: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        try:
            found[name] = certificates(checks.get(name, ""))
        except ValueError as error:
            result["reason"] = (
                f"`k3s certificate check -o json` on {name} did not give k3s' certificate list ({error}): the k3s there "
                f"may be older than the release keelson supports. Nothing was changed."
            )
            return result
    asked = str(asked or ASKED_DUE).strip()
    leaves = [certificate for name in names for certificate in found[name]]
    if asked == ASKED_DUE:
        chosen = [name for name in names if any(c["status"] in DUE for c in found[name])]
    else:
        cutoff = max((c["expires"] for c in leaves), default=None) if asked == ASKED_ALL else _moment(asked)
        if asked != ASKED_ALL and cutoff is None:
            result["reason"] = (
                f"keelson_rotate_certificates must be {ASKED_DUE} (the certificates k3s calls due: within {RENEW_DAYS} days "
                f"of expiry), {ASKED_ALL}, or a time such as 2027-06-01T00:00:00Z (the certificates that expire before it), "
                f"not {asked!r}. Nothing was changed."
            )
            return result
        chosen = [name for name in names if cutoff is not None and any(c["expires"] <= cutoff for c in found[name])]
        result["cutoff"] = _stamp(cutoff) if cutoff is not None else ""
    for name in names:
        first = min(found[name], key=lambda c: c["expires"], default=None)
        result["report"].append(
            {
                "node": name,
                "certificates": len(found[name]),
                "file": first["file"] if first else "",
                "expires": _stamp(first["expires"]) if first else "",
                "days": (first["expires"] - moment).days if first else None,
                "due": sorted({c["file"] for c in found[name] if c["status"] in DUE}),
                "not_yet_valid": sorted({c["file"] for c in found[name] if c["status"] == "NOT YET VALID"}),
                "rotate": name in chosen,
            }
        )
    result["rotate"] = chosen
    roles = {str(node["name"]): node.get("role") for node in order}
    ready = _ready(node_objects) if node_objects is not None else set(names)
    result["down"] = [name for name in names if name not in ready]
    if before is not None:
        earlier = {row["node"]: _moment(row["expires"]) if row["expires"] else None for row in before.get("report", [])}
        for name in before.get("rotate", []):
            first = min((c["expires"] for c in found.get(name, [])), default=None)
            previous = earlier.get(name)
            if (
                first is None
                or any(c["status"] in DUE for c in found[name])
                or (previous is not None and first.replace(microsecond=0) <= previous)
            ):
                result["not_renewed"].append(name)
    if not chosen:
        result["step"] = "start" if result["down"] else "none"
        return result
    start = names.index(chosen[0])
    blocking = [name for name in names[start + 1 :] if name not in ready and roles[name] == "server" and name not in chosen]
    if blocking:
        they = "it" if len(blocking) == 1 else "them"
        result["reason"] = (
            f"{', '.join(blocking)} {'is' if len(blocking) == 1 else 'are'} not Ready, and the rotation would restart "
            f"{chosen[0]} before {they}: two etcd members down at once leave etcd without quorum. Bring {they} back "
            f"first (journalctl -u k3s there), then run rotate.yml again. Nothing was changed."
        )
        return result
    result["step"] = "rotate"
    return result


# The annotation k3s puts on each server's Node: the rotation stage and a hash of the server's encryption config
# (k3s: pkg/secretsencrypt). `k3s secrets-encrypt status` compares them across the servers.
ENCRYPTION_HASH: Final = "k3s.io/encryption-config-hash"
# Stages of `k3s secrets-encrypt` (k3s' docs, "Secrets Encryption Status"): a new rotate-keys may start from the first
# two; rotate-keys itself goes through the next two; prepare and rotate are the legacy procedure's.
ENCRYPTION_IDLE: Final = ("start", "reencrypt_finished")
ENCRYPTION_RUNNING: Final = ("reencrypt_request", "reencrypt_active")


def encryption_rotation(
    nodes: list[dict[str, Any]],
    status: str,
    *,
    node_objects: Optional[list[dict[str, Any]]] = None,
) -> dict[str, Any]:
    """Where a rotation of the secrets-encryption key stands, from ``k3s secrets-encrypt status --output json`` on the
    first server (``status``, k3s' EncryptionState: stage, activekey, enable, hashmatch, hasherror) and the servers'
    Node objects (their ENCRYPTION_HASH annotation, and whether they are Ready). k3s' HA procedure: rotate-keys on the
    first server, wait for reencrypt_finished, restart the first server, then the others.

    ``step``:

    - ``rotate``: no rotation runs and every server has the same config: rotate-keys, wait, then restart ``restart``
      (every server, the first one first; none on a single server, which k3s' procedure does not restart);
    - ``wait``: a rotation is re-encrypting (a run stopped there): wait for it, then restart every server;
    - ``finish``: re-encryption finished but servers differ from the first one's config (a run stopped while
      restarting them): restart those (and the first server first when none has its config yet);
    - in ``wait`` and ``finish``, ``down`` names the servers not Ready: rotate.yml starts them (one at a time, each
      waited for) before it restarts any server, so that no two are down at once;
    - ``refuse`` with ``reason``: encryption off, output that is not k3s', a stage of the legacy procedure, or a
      server not Ready (a rotation restarts every server)."""
    servers = [str(node["name"]) for node in nodes if node.get("role") == "server"]
    result: dict[str, Any] = {"step": "refuse", "reason": "", "restart": [], "down": [], "stage": "", "active": "", "hasherror": ""}
    try:
        state = json.loads(status)
    except ValueError:
        state = None
    if not isinstance(state, dict) or "stage" not in state:
        result["reason"] = (
            f"`k3s secrets-encrypt status --output json` on {servers[0] if servers else 'the first server'} did not give "
            f"k3s' encryption status ({str(status).strip()[:200]!r}). Nothing was changed."
        )
        return result
    stage = str(state.get("stage", ""))
    result.update(stage=stage, active=str(state.get("activekey", "")), hasherror=str(state.get("hasherror", "")))
    if state.get("enable") is not True:
        result["reason"] = (
            "secrets encryption is off on this cluster (k3s cannot turn it on for a cluster that started without it): "
            "there is no key to rotate. Nothing was changed."
        )
        return result
    objects = {str(item.get("metadata", {}).get("name")): item for item in node_objects or []}
    hashes = {
        name: str((((objects.get(name) or {}).get("metadata") or {}).get("annotations") or {}).get(ENCRYPTION_HASH, "")) for name in servers
    }
    differ = [name for name in servers[1:] if hashes[name] != hashes[servers[0]]]
    down = [name for name in servers if name not in _ready(node_objects)] if node_objects is not None else []
    result["down"] = down
    if stage in ENCRYPTION_IDLE and (state.get("hashmatch") is True and not differ):
        if down:
            result["reason"] = (
                f"{', '.join(down)} {'is' if len(down) == 1 else 'are'} not Ready: a rotation restarts every server, one "
                f"at a time, and would leave etcd short. Bring {'it' if len(down) == 1 else 'them'} back first "
                f"(journalctl -u k3s there), then run rotate.yml again. Nothing was changed."
            )
            return result
        result.update(step="rotate", restart=servers if len(servers) > 1 else [])
    elif stage in ENCRYPTION_RUNNING:
        result.update(step="wait", restart=servers if len(servers) > 1 else [])
    elif stage in ENCRYPTION_IDLE and differ:
        # Restarted in order, the first server first: a server that already has its config was restarted after it.
        first = [] if len(differ) < len(servers) - 1 else servers[:1]
        result.update(step="finish", restart=first + differ)
    elif stage in ENCRYPTION_IDLE:
        result["reason"] = (
            f"k3s reports that the servers' encryption configs differ ({result['hasherror'] or 'hashmatch false'}), but "
            f"every server of this inventory has the first server's: a server outside the inventory? Restart the one "
            f"k3s names, then run rotate.yml again. Nothing was changed."
        )
    else:
        result["reason"] = (
            f"k3s secrets-encrypt is at stage {stage!r}, a step of the legacy procedure (prepare, rotate, reencrypt): "
            f"finish it by k3s' docs (k3s secrets-encrypt, 'Legacy Encryption Key Rotation') before rotate.yml rotates "
            f"the key with rotate-keys. Nothing was changed."
        )
    return result
