# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The sealed_secret module as Ansible runs it."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from module_runner import run_module

from ansible_collections.keelson.platform.plugins.module_utils._sealing import generate_key_pair, unseal
from ansible_collections.keelson.platform.plugins.modules import sealed_secret

PAIR = generate_key_pair()


def run(args: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    return run_module(sealed_secret.main, args, capsys)


# Values long enough not to occur in the module's messages (Ansible masks no_log values wherever they appear).
BASE = {
    "name": "db",
    "namespace": "team",
    "data": {"password": "s3cret-Pw-0001", "user": "app-user-0001"},
    "certificate": PAIR["certificate"],
}


def test_seals_and_returns_no_plaintext(capsys: pytest.CaptureFixture[str]) -> None:
    code, result = run(BASE, capsys)
    assert code == 0 and result["changed"] is True
    assert result["changed_keys"] == ["password", "user"]
    assert "s3cret-Pw-0001" not in json.dumps(result)
    assert unseal(result["sealed_secret"], [PAIR["key"]]) == {"password": "s3cret-Pw-0001", "user": "app-user-0001"}


def test_unchanged_input_returns_previous_and_reports_no_change(capsys: pytest.CaptureFixture[str]) -> None:
    _code, first = run(BASE, capsys)
    previous_text = yaml.safe_dump(first["sealed_secret"])
    code, again = run({**BASE, "previous": previous_text, "private_keys": [PAIR["key"]], "_ansible_diff": True}, capsys)
    assert code == 0
    assert again["changed"] is False and again["changed_keys"] == []
    assert again["sealed_secret"] == first["sealed_secret"]
    code, edited = run(
        {
            **BASE,
            "data": {"password": "s3cret-Pw-0002", "user": "app-user-0001"},
            "previous": first["sealed_secret"],
            "private_keys": [PAIR["key"]],
            "_ansible_diff": True,
        },
        capsys,
    )
    assert edited["changed"] is True and edited["changed_keys"] == ["password"]
    assert edited["diff"] == {"before": "password\nuser\n", "after": "password (sealed anew)\nuser (kept)\n"}
    assert "s3cret-Pw-0002" not in json.dumps(edited)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"certificate": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"}, "the certificate is not a PEM X.509 certificate"),
        ({"name": "DB"}, "Secret name 'DB' is not a DNS-1123 subdomain"),
        ({"previous": [1, 2]}, "previous must be a SealedSecret mapping or its YAML text"),
    ],
)
def test_bad_input_fails_clearly(capsys: pytest.CaptureFixture[str], change: dict[str, Any], message: str) -> None:
    code, result = run({**BASE, **change}, capsys)
    assert code == 1
    assert result["msg"].startswith(message)


def test_scope_is_checked_by_the_argument_spec(capsys: pytest.CaptureFixture[str]) -> None:
    code, result = run({**BASE, "scope": "global"}, capsys)
    assert code == 1
    assert "value of scope must be one of: strict, namespace-wide, cluster-wide, got: global" in result["msg"]
