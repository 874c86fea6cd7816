# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible's real vault encryption with a test-only password, for the backend tests."""

from __future__ import annotations

from ansible.parsing.vault import VaultLib, VaultSecret

VAULT = VaultLib([("default", VaultSecret(b"test-only-vault-password"))])


def encrypt(data: bytes) -> bytes:
    return bytes(VAULT.encrypt(data))


def decrypt(data: bytes) -> bytes:
    return bytes(VAULT.decrypt(data))
