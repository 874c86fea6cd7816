# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Sealed Secrets key pairs keelson owns: kept in the secrets backend, rotated, backed up, restored.

All pairs stay for unsealing; the newest is the active one that seals. They live as one JSON document under
the backend name ``sealed-secrets-keys``; a backup bundle is the same list, ansible-vault encrypted.

Beside them, ``sealed-secrets-digest-key`` holds the key of the sealed values' digests (32 random bytes,
base64): with it, a render recognises an unchanged value without opening it. It is not in the backup bundle:
without it (lost, or not created yet) a render opens every value to compare it, as before, and records no
digests; the next run of the secrets playbook creates a new one, and the render after that records digests
made with it (an annotation-only change of every SealedSecret, ciphertext untouched).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Final, Optional

import yaml
from ansible.parsing.vault import is_encrypted

from ansible_collections.keelson.platform.plugins.module_utils._sealing import (
    SealingError,
    check_key_pair,
    generate_digest_key,
    generate_key_pair,
    parse_digest_key,
)
from ansible_collections.keelson.platform.plugins.plugin_utils._files import write_atomic
from ansible_collections.keelson.platform.plugins.plugin_utils._secrets import Backend

STORE: Final = "sealed-secrets-keys"
DIGEST_STORE: Final = "sealed-secrets-digest-key"
BUNDLE_KIND: Final = "keelson-sealing-keys"


def _ordered(pairs: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(pairs, key=lambda pair: (pair["created"], pair["id"]))


def load(backend: Backend) -> list[dict[str, str]]:
    text = backend.get(STORE)
    if not text:
        return []
    try:
        pairs = json.loads(text)
    except ValueError as error:
        raise SealingError(f"the backend's {STORE} entry is not the JSON list keelson writes") from error
    for pair in pairs:
        check_key_pair(pair)
    return _ordered(pairs)


def save(backend: Backend, pairs: list[dict[str, str]], check_mode: bool) -> bool:
    return backend.put(STORE, json.dumps(_ordered(pairs), sort_keys=True), check_mode=check_mode)


def active(pairs: list[dict[str, str]]) -> dict[str, str]:
    """The pair that seals: the newest."""
    if not pairs:
        raise SealingError("there is no sealing key yet; run keelson.platform.sealing_key with state=present first")
    return _ordered(pairs)[-1]


def merge(pairs: list[dict[str, str]], more: list[dict[str, str]]) -> list[dict[str, str]]:
    """Both lists, once per key id (a pair already known keeps its record)."""
    known = {pair["id"]: pair for pair in pairs}
    for pair in more:
        check_key_pair(pair)
        known.setdefault(pair["id"], pair)
    return _ordered(list(known.values()))


def ensure(
    backend: Backend, check_mode: bool, generate: Callable[[], dict[str, str]] = generate_key_pair
) -> tuple[list[dict[str, str]], bool]:
    """The stored pairs, with a first one generated when there is none."""
    pairs = load(backend)
    if pairs:
        return pairs, False
    pairs = [generate()]
    save(backend, pairs, check_mode)
    return pairs, True


def rotate(backend: Backend, check_mode: bool, generate: Callable[[], dict[str, str]] = generate_key_pair) -> list[dict[str, str]]:
    """A new active pair; the old ones stay for unsealing."""
    pairs = [*load(backend), generate()]
    save(backend, pairs, check_mode)
    return _ordered(pairs)


def load_digest_key(backend: Backend) -> Optional[bytes]:
    """The sealed values' digest key, or None when the backend has none (read only)."""
    text = backend.get(DIGEST_STORE)
    return None if text is None else parse_digest_key(text)


def ensure_digest_key(backend: Backend, check_mode: bool, generate: Callable[[], str] = generate_digest_key) -> tuple[bytes, bool]:
    """The digest key, generated and stored once when there is none; and whether it was created now."""
    text, created = backend.get_or_create(DIGEST_STORE, generate, check_mode=check_mode)
    return parse_digest_key(text), created


def write_bundle(path: str, pairs: list[dict[str, str]], platform: str, encrypt: Callable[[bytes], bytes]) -> None:
    """An ansible-vault encrypted bundle of every pair, mode 0600, written atomically."""
    document = {"kind": BUNDLE_KIND, "platform": platform, "keys": _ordered(pairs)}
    write_atomic(path, encrypt(yaml.safe_dump(document, sort_keys=True).encode()), mode=0o600, sync=True)


def read_bundle(path: str, decrypt: Callable[[bytes], bytes], platform: Optional[str] = None) -> list[dict[str, str]]:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise SealingError(f"cannot read the key bundle {path}: {error.strerror}") from error
    if not is_encrypted(data):
        raise SealingError(f"{path} is not an ansible-vault encrypted key bundle")
    document: Any = yaml.safe_load(decrypt(data))
    if not isinstance(document, dict) or document.get("kind") != BUNDLE_KIND:
        raise SealingError(f"{path} is not a keelson sealing key bundle")
    if platform and document.get("platform") != platform:
        raise SealingError(f"{path} holds the keys of platform {document.get('platform')!r}, not {platform!r}")
    pairs = list(document.get("keys") or [])
    for pair in pairs:
        check_key_pair(pair)
    return _ordered(pairs)
