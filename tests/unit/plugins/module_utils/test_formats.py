# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Syntax checks: what each accepts and what it refuses, as tables."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Callable, Optional

import pytest

from ansible_collections.keelson.platform.plugins.module_utils import _formats as f

GOOD: list[tuple[Callable[[str], Optional[str]], str]] = (
    [(f.check_quantity, value) for value in ("0", "500m", "2", "1.5", "128Gi", "1Ti", "2e3", "1E6", ".5", "100k", "7Ei")]
    + [(f.check_s3_bucket, value) for value in ("abc", "vision-datasets", "a.b-c", "x" * 63)]
    + [(f.check_cidr, value) for value in ("10.42.0.0/16", "fd00:42::/56", "192.168.0.0/24")]
    + [
        (f.check_repo_url, value)
        for value in (
            "embedded",
            "https://git.example.internal/platform/ml.git",
            "ssh://git@git.example.internal:2222/platform/ml.git",
            "git@github.com:org/repo.git",
            "gitea.local:ml.git",
        )
    ]
    + [(f.check_git_branch, value) for value in ("main", "release/1.2", "feature-x_y")]
    + [(f.check_repo_path, value) for value in (".", "clusters/ml-prod", "a.b/c_d")]
    + [(f.check_taint, value) for value in ("nvidia.com/gpu=true:NoSchedule", "dedicated:NoExecute", "a=:PreferNoSchedule")]
    + [
        (f.check_label_key, value)
        for value in (
            "pool",
            "example.com/pool",
            "node.kubernetes.io/instance-type",
            "kubelet.kubernetes.io/x",
            "topology.kubernetes.io/zone",
        )
    ]
    + [(f.check_duration, value) for value in ("15d", "10m", "1h30m", "500ms")]
    + [(f.check_registry_host, value) for value in ("docker.io", "*", "reg.example.internal:5000", "10.0.0.5:5000")]
    + [(f.check_domain, value) for value in ("ml.example.internal", "a.b", "x-1.example.com")]
    + [
        (f.dns_label(63), "a"),
        (f.dns_label(63), "team-1"),
        (f.check_airgap_source, "/srv/airgap"),
        (f.check_airgap_source, "https://mirror.example.internal/k3s"),
        (f.check_pem_certificate, "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----"),
        (f.check_https_url, "https://acme.example.com/directory"),
        (f.check_host_or_ip, "fd00::1"),
        (f.check_label_value, ""),
        (f.check_vault_path, "keelson/ml-prod"),
        (f.check_secret_key, "k3s-token"),
        (f.check_secret_key, "tenant-vision.s3_key"),
    ]
)

BAD: list[tuple[Callable[[str], Optional[str]], str, str]] = [
    (f.check_quantity, "12GBs", "not a Kubernetes quantity"),
    (f.check_quantity, "1.2.3", "not a Kubernetes quantity"),
    (f.check_quantity, "Gi", "not a Kubernetes quantity"),
    (f.check_quantity, "-5", "must not be negative"),
    (f.check_s3_bucket, "a..b", "not a valid S3 bucket name: no '..', '.-' or '-.'"),
    (f.check_s3_bucket, "xn--abc", "not a valid S3 bucket name: must not start with 'xn--'"),
    (f.check_s3_bucket, "data-s3alias", "not a valid S3 bucket name: must not end with '-s3alias'"),
    (
        f.check_s3_bucket,
        "-abc",
        "not a valid S3 bucket name: use lowercase letters, digits, '.' and '-', starting and ending with a letter or digit",
    ),
    (f.check_cidr, "10.42.0.0/33", "not a CIDR: write address/prefix, e.g. 10.42.0.0/16"),
    (f.check_cidr, "fd00::1/56", "has host bits set; did you mean fd00::/56?"),
    (f.check_repo_url, "ssh://git.example.internal", "has no repository path"),
    (f.check_repo_url, "ssh://git.example.internal:99999/x.git", "has an invalid port"),
    (
        f.check_repo_url,
        "https://token@git.example.internal/x.git",
        "must not carry credentials; keelson keeps them in the secrets backend",
    ),
    (f.check_git_branch, "-main", "not a valid git branch name"),
    (f.check_git_branch, "a b", "not a valid git branch name"),
    (f.check_git_branch, "x.lock", "not a valid git branch name"),
    (f.check_repo_path, "/abs", "must be relative to the repository's top (no leading /)"),
    (f.check_repo_path, "a//b", "must not contain empty, '.' or '..' parts"),
    (f.check_taint, "novalue", "not a taint: write key=value:Effect or key:Effect"),
    (f.check_taint, "k=v v:NoSchedule", "not a taint: the value must be at most 63 letters, digits, '-', '_' or '.'"),
    (f.check_label_key, "/x", "not a label key: the prefix before '/' must be a DNS subdomain"),
    (
        f.check_label_key,
        "example.com/" + "x" * 64,
        "not a label key: the name must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
    ),
    (f.check_duration, "0d", "must be longer than zero"),
    (f.check_duration, "1.5h", "not a duration (a number and a unit: ms, s, m, h, d, w, y; e.g. 15d or 1h30m)"),
    (f.check_registry_host, "reg.example.internal:http", "has an invalid port"),
    (
        f.check_domain,
        "-ml.example.internal",
        "label '-ml' is not valid: use letters, digits and '-', starting and ending with a letter or digit",
    ),
    (f.check_domain, ("a" * 64) + ".example.internal", "label aaaaaaaaaaaaaaaaaaaa... is longer than 63 characters"),
    (f.dns_label(10, " (why)"), "abcdefghijk", "must be at most 10 characters (why) (11 given)"),
    (
        f.check_airgap_source,
        "https://user:pw@x.example/k3s",
        "must not carry credentials; keelson keeps them in the secrets backend",
    ),
    (
        f.check_pem_certificate,
        "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----",
        "not a PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)",
    ),
    (
        f.check_pem_certificate,
        "-----BEGIN CERTIFICATE-----\nQUJ\n-----END CERTIFICATE-----",
        "holds a PEM block that is not valid base64",
    ),
    (f.check_https_url, "http://acme.example.com", "must use https://"),
    (f.check_ip, "10.0.0", "not an IP address"),
    (
        f.check_vault_path,
        "a//b",
        "use '/'-separated parts of letters, digits, '.', '_' and '-' (no leading or trailing /)",
    ),
    (f.check_secret_key, "K3s", "not a secrets-backend key: lowercase letters, digits, '.', '_' and '-'"),
    (f.check_secret_key, "-token", "not a secrets-backend key: lowercase letters, digits, '.', '_' and '-'"),
    (f.check_secret_key, "../etc", "not a secrets-backend key: lowercase letters, digits, '.', '_' and '-'"),
    (f.check_secret_key, "a/b", "not a secrets-backend key: lowercase letters, digits, '.', '_' and '-'"),
    (
        f.check_dns_subdomain,
        "a_b.example",
        "not a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit",
    ),
]


@pytest.mark.parametrize(("check", "value"), GOOD)
def test_accepts(check: Callable[[str], Optional[str]], value: str) -> None:
    assert check(value) is None


@pytest.mark.parametrize(("check", "value", "reason"), BAD)
def test_refuses_with_reason(check: Callable[[str], Optional[str]], value: str, reason: str) -> None:
    assert check(value) == reason


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        ("128Gi", Decimal(128 * 2**30)),
        ("1.5k", Decimal(1500)),
        ("2e3", Decimal(2000)),
        ("1M", Decimal(10**6)),
        ("-1Ki", Decimal(-1024)),
        ("nonsense", None),
    ],
)
def test_parse_quantity(text: str, amount: Optional[Decimal]) -> None:
    assert f.parse_quantity(text) == amount


def test_quantities_compare_across_suffixes() -> None:
    assert f.parse_quantity("1Gi") > f.parse_quantity("1G")  # type: ignore[operator]
    assert f.parse_quantity("1000m") == f.parse_quantity("1")


@pytest.mark.parametrize(("raw", "tidy"), [("./a/b/", "a/b"), ("", "."), ("/", "."), (" x ", "x"), (".", ".")])
def test_normalise_repo_path(raw: str, tidy: str) -> None:
    assert f.normalise_repo_path(raw) == tidy


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("git@git.example.internal:platform/ml-prod.git", "ssh://git@git.example.internal/platform/ml-prod.git"),
        ("git.example.internal:platform/ml-prod.git", "ssh://git.example.internal/platform/ml-prod.git"),
        ("ssh://git@git.example.internal:2222/p.git", "ssh://git@git.example.internal:2222/p.git"),
        ("https://git.example.internal/p.git", "https://git.example.internal/p.git"),
    ],
)
def test_an_scp_like_url_becomes_one_flux_accepts(given: str, expected: str) -> None:
    assert f.ssh_url(given) == expected
    # The GitRepository CRD's pattern (source-controller v1.8.4): ^(http|https|ssh)://.*$
    assert re.match(r"^(http|https|ssh)://.*$", f.ssh_url(given))
