# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Syntax checks for the strings the platform spec holds.

Each ``check_*`` function takes a string and returns ``None`` when it is fine, or the reason it is not,
phrased to follow ``path: `` in an error line. Factories (``dns_label(...)``) return such a function.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from decimal import Decimal, InvalidOperation
from typing import Callable, Final, Optional, Union
from urllib.parse import urlsplit

Check = Callable[[str], Optional[str]]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

DNS_LABEL_MAX: Final = 63  # RFC 1123: a DNS label's length
_DNS_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_LABEL_ANY_CASE: Final = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$")
_QUANTITY: Final = re.compile(r"^([+-]?)(\d+(?:\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$")
_LABEL_NAME: Final = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DURATION: Final = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")
_SCP_LIKE: Final = re.compile(r"^(?:[A-Za-z0-9._-]+@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^/\s][^\s]*)$")
_REPO_PATH_SEGMENT: Final = re.compile(r"^[A-Za-z0-9._-]+$")
_GROUP: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_VAULT_SEGMENT: Final = re.compile(r"^[A-Za-z0-9._-]+$")
_SECRET_KEY: Final = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_PEM_CERT: Final = re.compile(r"-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----")
_BAD_REF_CHARS: Final = re.compile(r"[\x00-\x20~^:?*\[\\\x7f]")

_ENDS: Final = "starting and ending with a letter or digit"
_QUANTITY_SUFFIX: Final[dict[str, Decimal]] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}

# What NodeRestriction admission lets a kubelet set on its own Node under kubernetes.io and k8s.io: these
# prefixes and keys (k8s.io/kubelet/pkg/apis/well_known_labels.go, kubeletLabelNamespaces and kubeletLabels).
_KUBELET_LABEL_PREFIXES: Final = ("kubelet.kubernetes.io", "node.kubernetes.io")
# Of those keys, the kubelet sets these itself from the machine: a node-label of the same key fights it.
_KUBELET_OWNED_KEYS: Final = frozenset(
    {"kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/arch", "beta.kubernetes.io/os"}
)
_KUBELET_LABEL_KEYS: Final = _KUBELET_OWNED_KEYS | frozenset(
    {
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "failure-domain.beta.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
    }
)
TAINT_EFFECTS: Final = ("NoSchedule", "PreferNoSchedule", "NoExecute")


# ---------------------------------------------------------------------------------------------- names


def dns_label(max_len: int = DNS_LABEL_MAX, why: str = "", start_letter: bool = False) -> Check:
    """A DNS-1123 label (namespace-like name) of at most ``max_len`` characters."""

    def check(value: str) -> Optional[str]:
        if not _DNS_LABEL.match(value):
            if _DNS_LABEL_ANY_CASE.match(value):
                return "must be lowercase (a DNS-1123 label)"
            return f"not a DNS-1123 label: use lowercase letters, digits and '-', {_ENDS}"
        if start_letter and not value[0].isalpha():
            return "must start with a lowercase letter"
        if len(value) > max_len:
            return f"must be at most {max_len} characters{why} ({len(value)} given)"
        return None

    return check


def check_dns_subdomain(value: str) -> Optional[str]:
    """A DNS-1123 subdomain: dot-separated labels, at most 253 characters (Kubernetes object names)."""
    if len(value) > 253:
        return f"must be at most 253 characters ({len(value)} given)"
    if any(not _DNS_LABEL.match(part) for part in value.split(".")):
        if value.lower() != value:
            return "must be lowercase (a DNS-1123 subdomain)"
        return f"not a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', each part {_ENDS}"
    return None


def check_domain(value: str) -> Optional[str]:
    """A DNS domain of at least two labels (``ml.example.internal``), lowercase, no trailing dot."""
    if value.endswith("."):
        return "must not end with a dot"
    if "." not in value:
        return "must have at least two labels (e.g. ml.example.internal)"
    if len(value) > 253:
        return f"must be at most 253 characters ({len(value)} given)"
    for part in value.split("."):
        if not part:
            return "has an empty label (two dots in a row)"
        if len(part) > 63:
            return f"label {part[:20]}... is longer than 63 characters"
        if not _DNS_LABEL.match(part):
            if _DNS_LABEL_ANY_CASE.match(part):
                return "must be lowercase"
            return f"label {part!r} is not valid: use letters, digits and '-', starting and ending with a letter or digit"
    return None


def check_secret_key(value: str) -> Optional[str]:
    """A name in keelson's secrets backend (``k3s-token``): lowercase letters, digits, '.', '_' and '-'."""
    if _SECRET_KEY.match(value):
        return None
    return "not a secrets-backend key: lowercase letters, digits, '.', '_' and '-'"


def check_group_name(value: str) -> Optional[str]:
    """A Keycloak group name that is also safe as an RBAC subject and in URLs."""
    if len(value) > 63:
        return f"must be at most 63 characters ({len(value)} given)"
    if not _GROUP.match(value):
        return "must be letters, digits, '.', '_' and '-', starting with a letter or digit"
    return None


def check_s3_bucket(value: str) -> Optional[str]:
    """An S3 bucket name valid for MinIO and AWS S3 alike."""
    if not 3 <= len(value) <= 63:
        return f"must be 3 to 63 characters ({len(value)} given)"
    if not re.match(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$", value):
        if value.lower() != value:
            return "not a valid S3 bucket name: must be lowercase"
        return f"not a valid S3 bucket name: use lowercase letters, digits, '.' and '-', {_ENDS}"
    if ".." in value or ".-" in value or "-." in value:
        return "not a valid S3 bucket name: no '..', '.-' or '-.'"
    if re.match(r"^\d+\.\d+\.\d+\.\d+$", value):
        return "not a valid S3 bucket name: must not look like an IP address"
    for prefix in ("xn--", "sthree-", "amzn-s3-demo-"):
        if value.startswith(prefix):
            return f"not a valid S3 bucket name: must not start with {prefix!r}"
    for suffix in ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"):
        if value.endswith(suffix):
            return f"not a valid S3 bucket name: must not end with {suffix!r}"
    return None


# ---------------------------------------------------------------------------------------- quantities


def parse_quantity(value: str) -> Optional[Decimal]:
    """The numeric value of a Kubernetes quantity, or None when it is not one."""
    match = _QUANTITY.match(value)
    if not match:
        return None
    sign, number, suffix = match.groups()
    try:
        amount = Decimal(number)
        if (suffix or "") in _QUANTITY_SUFFIX:
            amount *= _QUANTITY_SUFFIX[suffix or ""]
        else:  # a decimal exponent: 2e3, 1E-3
            amount = amount.scaleb(int(suffix[1:]))
    except (InvalidOperation, ValueError):
        return None
    return -amount if sign == "-" else amount


def check_quantity(value: str) -> Optional[str]:
    """A non-negative Kubernetes quantity: ``500m``, ``2``, ``128Gi``, ``1.5T``."""
    amount = parse_quantity(value)
    if amount is None:
        return "not a Kubernetes quantity"
    if amount < 0:
        return "must not be negative"
    return None


def check_duration(value: str) -> Optional[str]:
    """A Prometheus/Flux duration such as ``15d``, ``10m`` or ``1h30m``."""
    if not _DURATION.match(value):
        return "not a duration (a number and a unit: ms, s, m, h, d, w, y; e.g. 15d or 1h30m)"
    if not re.search(r"[1-9]", value):
        return "must be longer than zero"
    return None


# -------------------------------------------------------------------------------------- networking


def parse_network(value: str) -> Optional[IPNetwork]:
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        return None


def check_cidr(value: str) -> Optional[str]:
    """An IPv4 or IPv6 network in CIDR notation with no host bits set."""
    if "/" not in value:
        return "not a CIDR: write address/prefix, e.g. 10.42.0.0/16"
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return "not a CIDR: write address/prefix, e.g. 10.42.0.0/16"
        return f"has host bits set; did you mean {network}?"
    return None


def check_ip(value: str) -> Optional[str]:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "not an IP address"
    return None


def parse_ip(value: str) -> Optional[IPAddress]:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def check_host_or_ip(value: str) -> Optional[str]:
    """A DNS name (one or more labels) or an IP address, as in a TLS SAN."""
    if parse_ip(value) is not None:
        return None
    if check_dns_subdomain(value) is None:
        return None
    return "not a DNS name or IP address"


def check_host_address(value: str) -> Optional[str]:
    """Where Ansible and the other hosts reach a host (``ansible_host``): an IP address or a DNS host name (any
    case; DNS ignores it)."""
    if parse_ip(value) is not None:
        return None
    if len(value) <= 253 and all(_DNS_LABEL_ANY_CASE.match(part) and len(part) <= 63 for part in value.split(".")):
        return None
    return "not a host name or IP address (ansible_host, or the inventory hostname when that is unset)"


def check_registry_host(value: str) -> Optional[str]:
    """A registry name as containerd's registries.yaml keys it: ``docker.io``, ``reg.local:5000`` or ``*``."""
    if value == "*":
        return None
    host, port = value.split(":") if value.count(":") == 1 else (value, "")
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        return "has an invalid port"
    if check_host_or_ip(host or value) is not None:
        return "not a registry host (e.g. docker.io, registry.example.com:5000, or * for every registry)"
    return None


def check_s3_endpoint(value: str) -> Optional[str]:
    """An S3 endpoint as k3s' etcd-s3-endpoint takes it: ``host`` or ``host:port``, no scheme and no path."""
    if "://" in value or "/" in value:
        return "give host[:port] only (s3.example.com, 10.0.0.5:9000): no scheme (etcd_snapshots.s3.insecure chooses http) and no path"
    host, port = value.rsplit(":", 1) if value.count(":") == 1 else (value, "")
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        return "has an invalid port"
    if check_host_or_ip(host) is not None:
        return "not an S3 endpoint (host[:port], e.g. s3.eu-west-1.amazonaws.com or minio.example.internal:9000)"
    return None


# --------------------------------------------------------------------------------------------- URLs


def check_http_url(value: str) -> Optional[str]:
    """An http(s) URL with a host."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL"
    if parts.username or parts.password:
        return "must not carry credentials; keelson keeps them in the secrets backend"
    return None


def check_https_url(value: str) -> Optional[str]:
    reason = check_http_url(value)
    if reason:
        return reason.replace("http(s)", "https")
    if not value.startswith("https://"):
        return "must use https://"
    return None


def check_repo_url(value: str) -> Optional[str]:
    """The GitOps repository URL.

    ``embedded``, ``https://host/path``, ``ssh://[user@]host[:port]/path`` or scp-like ``user@host:path``.
    """
    if value == "embedded":
        return None
    if value.startswith("http://"):
        return "plain http is not allowed; use https:// or ssh"
    if value.startswith(("https://", "ssh://")):
        parts = urlsplit(value)
        if parts.password or (parts.scheme == "https" and parts.username):
            return "must not carry credentials; keelson keeps them in the secrets backend"
        if not parts.hostname:
            return "has no host"
        try:
            if parts.port == 0:  # parts.port raises ValueError for a port out of range
                return "has an invalid port"
        except ValueError:
            return "has an invalid port"
        if parts.path.strip("/") == "":
            return "has no repository path"
        return None
    if "://" not in value and _SCP_LIKE.match(value):
        return None
    return "must be embedded, an https:// URL, an ssh:// URL or user@host:path"


_HOST_KEY_TYPES: Final = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)


def check_known_hosts_line(value: str) -> Optional[str]:
    """One OpenSSH known_hosts line: ``HOSTS KEYTYPE BASE64 [comment]``, no markers, no hashed names."""
    fields = value.split()
    if len(fields) < 3 or "\n" in value:
        return "must be one known_hosts line: HOST KEYTYPE KEY (as ssh-keyscan prints it)"
    if fields[0].startswith(("@", "|")):
        return "markers (@cert-authority, @revoked) and hashed host names are not supported; give the plain host name"
    if fields[1] not in _HOST_KEY_TYPES:
        return f"has an unknown key type {fields[1]!r} (known: {', '.join(_HOST_KEY_TYPES)})"
    try:
        base64.b64decode(fields[2], validate=True)
    except ValueError:
        return "has a key that is not base64"
    return None


def ssh_url(value: str) -> str:
    """An scp-like ``user@host:path`` as ``ssh://user@host/path`` (Flux's GitRepository accepts only URLs with a
    scheme); any other URL as it is. The path becomes absolute, as hosting services (GitHub, GitLab, Gitea) read it."""
    match = None if "://" in value else _SCP_LIKE.match(value)
    if match is None:
        return value
    user = value[: value.index("@") + 1] if "@" in value.split(":", 1)[0] else ""
    return f"ssh://{user}{match['host']}/{match['path']}"


def repo_url_scheme(value: str) -> str:
    """``embedded``, ``https`` or ``ssh`` for a URL that passed check_repo_url."""
    if value == "embedded":
        return "embedded"
    return "https" if value.startswith("https://") else "ssh"


def check_git_branch(value: str) -> Optional[str]:
    """A branch name git accepts (the rules of git check-ref-format, for one branch)."""
    if (
        _BAD_REF_CHARS.search(value)
        or value.startswith(("-", "/", "."))
        or value.endswith(("/", ".", ".lock"))
        or ".." in value
        or "//" in value
        or "@{" in value
        or "/." in value
        or value == "@"
    ):
        return "not a valid git branch name"
    return None


def check_repo_path(value: str) -> Optional[str]:
    """A folder inside the repository: relative, ``/``-separated, no ``..``; ``.`` is the top."""
    if value == ".":
        return None
    if value.startswith("/"):
        return "must be relative to the repository's top (no leading /)"
    parts = value.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "must not contain empty, '.' or '..' parts"
    if any(not _REPO_PATH_SEGMENT.match(part) for part in parts):
        return "use letters, digits, '.', '_' and '-' in each part"
    return None


def normalise_repo_path(value: str) -> str:
    stripped = value.strip()
    while stripped.startswith("./"):
        stripped = stripped[2:]
    stripped = stripped.rstrip("/")
    return stripped or "."


def check_vault_path(value: str) -> Optional[str]:
    """A Vault mount or secret path: ``/``-separated parts of letters, digits, '.', '_', '-'."""
    parts = value.split("/")
    if any(not _VAULT_SEGMENT.match(part) or part in (".", "..") for part in parts):
        return "use '/'-separated parts of letters, digits, '.', '_' and '-' (no leading or trailing /)"
    return None


def check_airgap_source(value: str) -> Optional[str]:
    """Where the air-gap artifacts are: an absolute folder on the controller or an http(s) URL."""
    if value.startswith("/"):
        return None
    if value.startswith(("http://", "https://")):
        return check_http_url(value)
    return "must be an absolute path on the controller or an http(s) URL"


def check_pem_certificate(value: str) -> Optional[str]:
    """One or more PEM certificates (a CA bundle)."""
    blocks = _PEM_CERT.findall(value)
    if not blocks:
        return "not a PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)"
    for block in blocks:
        try:
            base64.b64decode("".join(block.split()), validate=True)
        except (binascii.Error, ValueError):
            return "holds a PEM block that is not valid base64"
    return None


# ------------------------------------------------------------------------------------- node labels


def check_label_key(value: str) -> Optional[str]:
    """A Kubernetes label key ``[prefix/]name`` that the kubelet may set on its own node."""
    prefix, slash, name = value.rpartition("/")
    if slash and (not prefix or check_dns_subdomain(prefix) is not None):
        return "not a label key: the prefix before '/' must be a DNS subdomain"
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        return f"not a label key: the name must be 1-63 letters, digits, '-', '_' or '.', {_ENDS}"
    if value in _KUBELET_OWNED_KEYS:
        return "the kubelet sets this label itself from the machine; leave it out"
    if prefix and (prefix.endswith(("kubernetes.io", "k8s.io"))) and value not in _KUBELET_LABEL_KEYS:
        allowed = any(prefix == p or prefix.endswith("." + p) for p in _KUBELET_LABEL_PREFIXES)
        if not allowed:
            return (
                "the kubelet may not set labels under kubernetes.io or k8s.io (NodeRestriction); "
                "use a prefix of your own, e.g. example.com/role"
            )
    return None


def check_label_value(value: str) -> Optional[str]:
    if value == "":
        return None
    if len(value) > 63 or not _LABEL_NAME.match(value):
        return "not a label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
    return None


def check_taint(value: str) -> Optional[str]:
    """A taint as k3s takes it: ``key[=value]:Effect``."""
    key_value, colon, effect = value.rpartition(":")
    if not colon or not key_value:
        return "not a taint: write key=value:Effect or key:Effect"
    if effect not in TAINT_EFFECTS:
        return f"not a taint: the effect must be one of {', '.join(TAINT_EFFECTS)}"
    key, taint_value = key_value.split("=", 1) if "=" in key_value else (key_value, "")
    prefix, slash, name = key.rpartition("/")
    if slash and check_dns_subdomain(prefix) is not None:
        return "not a taint: the key's prefix must be a DNS subdomain"
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        return "not a taint: the key must be 1-63 letters, digits, '-', '_' or '.'"
    if check_label_value(taint_value) is not None:
        return "not a taint: the value must be at most 63 letters, digits, '-', '_' or '.'"
    return None


_CRON_FIELD: Final = re.compile(r"^[0-9*/,-]+$|^[A-Za-z]{3}(?:-[A-Za-z]{3})?$")


def check_cron(value: str) -> Optional[str]:
    fields = value.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(field) for field in fields):
        return 'not a cron schedule (five fields: minute hour day-of-month month day-of-week, e.g. "0 6 * * *")'
    return None
