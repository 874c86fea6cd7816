# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The key pairs keelson owns: created once, rotated, backed up and restored through an encrypted bundle."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from ansible.parsing.vault import is_encrypted
from secrets_helpers import decrypt, encrypt

from ansible_collections.keelson.platform.plugins.module_utils import _sealing as sealing
from ansible_collections.keelson.platform.plugins.plugin_utils import _sealing_keys as keys
from ansible_collections.keelson.platform.plugins.plugin_utils._secrets import VaultFileBackend

# Real RSA-4096 pairs are slow to make; three made once serve every test here (stamped in order).
_PAIRS = [sealing.generate_key_pair() for _index in range(3)]


def pairs_in_order() -> itertools.cycle[dict[str, str]]:
    stamped = [{**pair, "created": f"2026-0{index + 1}-01T00:00:00Z"} for index, pair in enumerate(_PAIRS)]
    return itertools.cycle(stamped)


def test_created_once_then_rotated_keeping_old_keys(file_backend: VaultFileBackend) -> None:
    source = pairs_in_order()
    first, created = keys.ensure(file_backend, False, generate=lambda: next(source))
    assert created and len(first) == 1
    again, created = keys.ensure(file_backend, False, generate=lambda: next(source))
    assert not created and again == first
    rotated = keys.rotate(file_backend, False, generate=lambda: next(source))
    assert [pair["id"] for pair in rotated] == [_PAIRS[0]["id"], _PAIRS[1]["id"]]
    assert keys.active(rotated)["id"] == _PAIRS[1]["id"]
    assert keys.load(file_backend) == rotated


def test_check_mode_stores_nothing(file_backend: VaultFileBackend) -> None:
    _pairs, created = keys.ensure(file_backend, True, generate=lambda: _PAIRS[0])
    assert created
    assert keys.load(file_backend) == []
    with pytest.raises(sealing.SealingError, match="there is no sealing key yet"):
        keys.active([])


def test_backup_wipe_restore_opens_what_the_old_key_sealed(file_backend: VaultFileBackend, tmp_path: Path) -> None:
    source = pairs_in_order()
    pairs, _created = keys.ensure(file_backend, False, generate=lambda: next(source))
    sealed, _changed = sealing.seal(name="db", namespace="team", data={"password": "kept"}, certificate=keys.active(pairs)["certificate"])
    bundle = tmp_path / "backup" / "keys.vault.yml"
    keys.write_bundle(str(bundle), pairs, "ml-prod", encrypt)
    assert bundle.stat().st_mode & 0o777 == 0o600
    assert is_encrypted(bundle.read_bytes())
    assert pairs[0]["key"].split("\n")[1].encode() not in bundle.read_bytes()
    Path(file_backend.path).unlink()  # the rebuild: the backend is gone
    assert keys.load(file_backend) == []
    restored = keys.read_bundle(str(bundle), decrypt, "ml-prod")
    keys.save(file_backend, keys.merge(keys.load(file_backend), restored), False)
    assert sealing.unseal(sealed, [pair["key"] for pair in keys.load(file_backend)]) == {"password": "kept"}


def test_bundle_of_another_platform_or_not_encrypted_is_refused(tmp_path: Path) -> None:
    bundle = tmp_path / "keys.vault.yml"
    keys.write_bundle(str(bundle), [_PAIRS[0]], "ml-prod", encrypt)
    with pytest.raises(sealing.SealingError, match="holds the keys of platform 'ml-prod', not 'other'"):
        keys.read_bundle(str(bundle), decrypt, "other")
    plain = tmp_path / "plain.yml"
    plain.write_text("kind: keelson-sealing-keys\n")
    with pytest.raises(sealing.SealingError, match="is not an ansible-vault encrypted key bundle"):
        keys.read_bundle(str(plain), decrypt)
    with pytest.raises(sealing.SealingError, match="cannot read the key bundle"):
        keys.read_bundle(str(tmp_path / "missing.yml"), decrypt)


def test_merge_keeps_one_record_per_key() -> None:
    merged = keys.merge([_PAIRS[0]], [_PAIRS[0], _PAIRS[1]])
    assert sorted(pair["id"] for pair in merged) == sorted([_PAIRS[0]["id"], _PAIRS[1]["id"]])


def test_the_digest_key_is_created_once_and_check_mode_stores_nothing(file_backend: VaultFileBackend) -> None:
    assert keys.load_digest_key(file_backend) is None
    preview, created = keys.ensure_digest_key(file_backend, True)
    assert created and len(preview) == 32 and keys.load_digest_key(file_backend) is None
    key, created = keys.ensure_digest_key(file_backend, False)
    assert created and keys.load_digest_key(file_backend) == key
    again, created = keys.ensure_digest_key(file_backend, False)
    assert again == key and not created
    file_backend.put(keys.DIGEST_STORE, "garbage")
    with pytest.raises(sealing.SealingError, match="digest key"):
        keys.load_digest_key(file_backend)
