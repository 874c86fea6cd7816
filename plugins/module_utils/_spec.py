# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Validation of the platform spec (``keelson_platform``) and of the inventory around it.

Entry point: :func:`validate_platform` takes the raw spec (and, when known, the inventory's nodes) and
returns the normalised spec, or raises :class:`SpecError` listing every problem at once.

Order: field checks (``_spec_model``), then derived defaults (:func:`_derive`, the only place they are
filled), then the rules that span fields. The normalised spec is what every later phase reads;
normalising a normalised spec returns it unchanged.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils._components import COMPONENTS, SECTIONS, minio
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import (
    DEPLOY_KEY,
    K3S_TOKEN,
    KNOWN_HOSTS,
    PLATFORM_CA,
    WRITE_KEY,
    Unit,
)
from ansible_collections.keelson.platform.plugins.module_utils._components.cert_manager import LETS_ENCRYPT
from ansible_collections.keelson.platform.plugins.module_utils._engines import ENGINES
from ansible_collections.keelson.platform.plugins.module_utils._formats import (
    IPAddress,
    IPNetwork,
    check_dns_subdomain,
    check_host_address,
    parse_ip,
    parse_network,
    parse_quantity,
    repo_url_scheme,
)
from ansible_collections.keelson.platform.plugins.module_utils._problems import Problems, child
from ansible_collections.keelson.platform.plugins.module_utils._schema import INVALID, UNSET, Quantity, Section, valid
from ansible_collections.keelson.platform.plugins.module_utils._spec_model import (
    AGENT_GROUP,
    NODE,
    RESERVED_NAMESPACES,
    SERVER_GROUP,
    SPEC,
    HashicorpVaultBackend,
    NodeSpec,
    PlatformSpec,
    VaultFileBackend,
)

# ------------------------------------------------------------------------------------ derived values

# Every unit that can be part of a platform: each engine's controller, then the components.
UNITS: Final[tuple[Unit[Any], ...]] = (*(engine.controller for engine in ENGINES.values()), *COMPONENTS)

# The engines name a tenant's GitOps objects (Argo CD Applications and AppProject, Flux Kustomizations and service
# account) tenant-<name> and tenant-<name>-<suffix>: a tenant named "<other>-<suffix>" would share them.
# tests/unit/plugins/module_utils/test_spec.py renders both engines and checks that these are all the suffixes.
TENANT_OBJECT_SUFFIXES: Final = ("apps",)
# Keycloak's own administration realm: a platform realm of that name would hand tenants the keys to Keycloak.
KEYCLOAK_ADMIN_REALM: Final = "master"
# Credentials keelson generates in the secrets backend outside any unit (the rest start with a unit's name or
# host prefix, "oidc-client-" or "tenant-"); test_spec.py checks every credential a full platform has.
_PLATFORM_SECRETS: Final = frozenset({K3S_TOKEN, DEPLOY_KEY, WRITE_KEY, KNOWN_HOSTS, PLATFORM_CA})
_PLATFORM_SECRET_PREFIXES: Final = tuple(
    sorted(
        # f"{K3S_TOKEN}.": the tokens a rotation keeps (rotate.yml: .next-<hash>, .retired-<hash>).
        {"tenant-", "oidc-client-", "sealed-secrets-", f"{K3S_TOKEN}."}
        | {f"{unit.name}-" for unit in UNITS}
        | {f"{claim.prefix}-" for unit in UNITS for claim in unit.hosts}
    )
)


def platform_secret(name: str) -> bool:
    """Whether ``name`` is (or is shaped like) a credential keelson generates in the secrets backend: such a
    name must never be handed to anything else (a registry password would put it in every host's
    registries.yaml)."""
    return name in _PLATFORM_SECRETS or name.startswith(_PLATFORM_SECRET_PREFIXES)


def _section(spec: dict[str, Any], unit: Unit[Any]) -> Any:
    """A unit's settings in the (partly normalised) spec; None where absent or invalid."""
    section: Any = spec
    for part in unit.settings_path:
        section = section.get(part) if isinstance(section, dict) else None
    return section


def _fill_options(
    parent: dict[str, Any], path: str, selector: str, options: tuple[tuple[str, Section[Any]], ...], problems: Problems
) -> None:
    """Sections tied to a choice (gitops.engine, secrets.backend): the chosen one gets its defaults when
    left out; the others are refused when set."""
    chosen = parent[selector]
    for option, section in options:
        if option == chosen and parent[option] in (None, UNSET):
            parent[option] = section.normalise({}, child(path, option), problems)
        elif option != chosen and parent[option] not in (None, UNSET):
            problems.error(child(path, option), f"only valid with {path}.{selector} {option} ({selector} is {chosen})")
            parent[option] = INVALID


def _fill(section: Any, key: str, value: Any) -> None:
    """Set a DERIVED field that the user left out (or set to null)."""
    if isinstance(section, dict) and section[key] in (None, UNSET) and valid(value):
        section[key] = value


def _derive(spec: dict[str, Any], problems: Problems) -> None:
    """Fill every DERIVED default from the fields it depends on; refuse settings of options not chosen."""
    name, domain = spec["name"], spec["domain"]

    gitops = spec["gitops"]
    if isinstance(gitops, dict) and valid(gitops["engine"]):
        engines = tuple((name, Section(engine.settings_type)) for name, engine in ENGINES.items())
        _fill_options(gitops, "gitops", "engine", engines, problems)

    secrets = spec["secrets"]
    if isinstance(secrets, dict) and valid(secrets["backend"]):
        backends = (("vault_file", Section(VaultFileBackend)), ("hashicorp_vault", Section(HashicorpVaultBackend)))
        _fill_options(secrets, "secrets", "backend", backends, problems)
        _fill(secrets["hashicorp_vault"], "path", f"keelson/{name}" if valid(name) else INVALID)

    for unit in UNITS:
        section = _section(spec, unit)
        for claim in unit.hosts:
            _fill(section, claim.field, f"{claim.prefix}.{domain}" if valid(domain) else INVALID)

    components = spec["components"]
    if isinstance(components, dict):
        cert_manager = components["cert_manager"]
        if isinstance(cert_manager, dict) and cert_manager["issuer"] == "acme":
            _fill(cert_manager, "acme_server", LETS_ENCRYPT)
        weaviate, minio = components["weaviate"], components["minio"]
        # An explicit null turns backups off, so only a bucket the user left out gets the default.
        if isinstance(weaviate, dict) and isinstance(minio, dict) and weaviate["backup_bucket"] is UNSET:
            _fill(weaviate, "backup_bucket", "weaviate-backups" if weaviate["enabled"] and minio["enabled"] else None)

    _fill(spec["identity"], "realm", name)

    tenants = spec["tenants"]
    for tenant in tenants if isinstance(tenants, list) else []:
        if not isinstance(tenant, dict):
            continue
        quota = tenant["quota"]
        if isinstance(quota, dict):
            _fill(quota, "cpu_limit", quota["cpu"])
            _fill(quota, "memory_limit", quota["memory"])
        if valid(tenant["name"]):
            _fill(tenant, "namespaces", [tenant["name"]])
            for role, suffix in (("admin", "admins"), ("edit", "editors"), ("view", "viewers")):
                _fill(tenant["groups"], role, f"{tenant['name']}-{suffix}")


def _derive_from_nodes(spec: dict[str, Any], nodes: Optional[list[dict[str, Any]]]) -> None:
    """The defaults the inventory decides: the NVIDIA device plugin is on when some host declares GPUs. Without
    the inventory the field stays null, and the renderer decides from the nodes it is given."""
    components = spec["components"]
    if nodes is not None and isinstance(components, dict):
        have_gpus = any(_ok(node["gpus"]) and node["gpus"] > 0 for node in nodes)
        _fill(components["nvidia_device_plugin"], "enabled", have_gpus)


def _settle(value: Any) -> Any:
    """Replace what stayed UNSET (a derived default that does not apply) with null."""
    if value is UNSET:
        return None
    if isinstance(value, dict):
        return {key: _settle(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_settle(item) for item in value]
    return value


# --------------------------------------------------------------------------------- cross-field rules


def _ok(*values: Any) -> bool:
    return all(valid(value) for value in values)


def _check_group(group: str, path: str, problems: Problems) -> None:
    """MinIO gives an OIDC group the policy of the same name, in the name space of every other policy."""
    if group.startswith(minio.USER_POLICY_PREFIX):
        problems.error(
            path,
            f"MinIO gives a group the policy of its name, and names starting with '{minio.USER_POLICY_PREFIX}' are "
            "keelson's service users' policies (a tenant's S3 user): rename the group",
            group,
        )
    elif group in minio.BUILTIN_POLICIES:
        problems.error(
            path, "MinIO gives a group the policy of its name, and this is one of MinIO's built-in policies: rename the group", group
        )


def _etcd_snapshots(spec: dict[str, Any]) -> dict[str, Any]:
    """cluster.etcd_snapshots, or nothing when it (or cluster) is not a mapping (already reported)."""
    cluster = spec.get("cluster")
    snapshots = cluster.get("etcd_snapshots") if isinstance(cluster, dict) else None
    return snapshots if isinstance(snapshots, dict) else {}


BUCKETS_ARE_GLOBAL: Final = "bucket names are global"


class _Claims:
    """Names that must be unique across the spec, with the path that claimed each first."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        self.seen: dict[tuple[str, str], str] = {}

    def claim(self, kind: str, name: str, path: str, what: str) -> bool:
        """Record ``name`` of ``kind`` at ``path``; report it and return False when already taken."""
        first = self.seen.setdefault((kind, name), path)
        if first != path:
            self.problems.error(path, f"{what}; already used at {first}", name)
            return False
        return True


def _check_tenants(spec: dict[str, Any], nodes: Optional[list[dict[str, Any]]], problems: Problems) -> None:
    tenants = spec["tenants"]
    if not isinstance(tenants, list):
        return
    components = spec["components"] if isinstance(spec["components"], dict) else {}
    enabled = {name: (components.get(name) or {}).get("enabled") for name in ("minio", "weaviate")}
    claims = _Claims(problems)
    weaviate = components.get("weaviate") or {}
    if _ok(weaviate) and weaviate.get("backup_bucket"):
        claims.claim("bucket", weaviate["backup_bucket"], "components.weaviate.backup_bucket", BUCKETS_ARE_GLOBAL)
    database = (components.get("keycloak") or {}).get("database")
    if isinstance(database, dict) and _ok(database.get("backup_bucket")) and database.get("backup_bucket"):
        claims.claim("bucket", database["backup_bucket"], "components.keycloak.database.backup_bucket", BUCKETS_ARE_GLOBAL)
    snapshots = _etcd_snapshots(spec)
    if _ok(snapshots.get("minio_bucket")) and snapshots.get("minio_bucket"):
        claims.claim("bucket", snapshots["minio_bucket"], "cluster.etcd_snapshots.minio_bucket", BUCKETS_ARE_GLOBAL)
    identity = spec["identity"] if isinstance(spec["identity"], dict) else {}
    if _ok(identity.get("admins_group")):
        claims.claim("group", identity["admins_group"], "identity.admins_group", "")
        _check_group(identity["admins_group"], "identity.admins_group", problems)
    # A host whose gpus is invalid (already reported) may well have GPUs: no second error about it.
    have_gpus = nodes is None or any(not _ok(node["gpus"]) or node["gpus"] > 0 for node in nodes)
    for index, tenant in enumerate(tenants):
        if isinstance(tenant, dict):
            _check_tenant(tenant, child("tenants", index), claims, enabled, problems)
            if isinstance(tenant["quota"], dict):
                _check_quota(tenant["quota"], child(child("tenants", index), "quota"), have_gpus, problems)
    _check_tenant_objects(tenants, problems)


def _tenant_names(tenants: list[Any]) -> list[tuple[int, str]]:
    return [(index, tenant["name"]) for index, tenant in enumerate(tenants) if isinstance(tenant, dict) and _ok(tenant["name"])]


def _check_tenant_objects(tenants: list[Any], problems: Problems) -> None:
    """No two tenants share a derived object name (tenant ``a``'s ``tenant-a-apps`` is tenant ``a-apps``'s
    ``tenant-a-apps``): one would overwrite the other's Application or Kustomization."""
    owners: dict[str, int] = {}
    names = _tenant_names(tenants)
    for index, name in names:
        for derived in (f"tenant-{name}", *(f"tenant-{name}-{suffix}" for suffix in TENANT_OBJECT_SUFFIXES)):
            owners.setdefault(derived, index)
    by_index = dict(names)
    for index, name in names:
        for derived in (f"tenant-{name}", *(f"tenant-{name}-{suffix}" for suffix in TENANT_OBJECT_SUFFIXES)):
            other = owners[derived]
            if other != index and by_index[other] != name:  # the same name twice is reported as a duplicate
                problems.error(
                    child(child("tenants", index), "name"),
                    f"keelson names the GitOps objects of tenants {by_index[other]} and {name} alike ({derived}, "
                    f"at tenants[{other}]); a tenant name must not be another tenant's name plus "
                    + " or ".join(f"-{suffix}" for suffix in TENANT_OBJECT_SUFFIXES)
                    + "; choose another name",
                    name,
                )
                break


def _check_identity(spec: dict[str, Any], problems: Problems) -> None:
    identity = spec["identity"]
    if isinstance(identity, dict) and identity["realm"] == KEYCLOAK_ADMIN_REALM:
        problems.error(
            "identity.realm",
            f"{KEYCLOAK_ADMIN_REALM} is Keycloak's own administration realm; the platform's realm must be another "
            "(set identity.realm, it defaults to the platform name)",
            identity["realm"],
        )


def _check_tenant(tenant: dict[str, Any], path: str, claims: _Claims, enabled: dict[str, Any], problems: Problems) -> None:
    if _ok(tenant["name"]) and not claims.claim("tenant", tenant["name"], child(path, "name"), "duplicate tenant name"):
        return  # its namespaces and groups default to the same names: reporting them too is noise
    for key, kind, what in (
        ("namespaces", "namespace", "namespace belongs to another tenant"),
        ("buckets", "bucket", BUCKETS_ARE_GLOBAL),
    ):
        for index, name in enumerate(tenant[key] if isinstance(tenant[key], list) else []):
            item_path = child(child(path, key), index)
            if not _ok(name):
                continue
            if kind == "namespace" and name in RESERVED_NAMESPACES:
                problems.error(item_path, "reserved for Kubernetes or the platform itself", name)
            else:
                claims.claim(kind, name, item_path, what)
    if isinstance(tenant["groups"], dict):
        for role in ("admin", "edit", "view"):
            group = tenant["groups"][role]
            if _ok(group) and group is not None:
                claims.claim("group", group, child(child(path, "groups"), role), "a group holds one role in one tenant")
                _check_group(group, child(child(path, "groups"), role), problems)
    if tenant["state"] == "absent" and _ok(tenant["name"]) and tenant["confirm_removal"] != tenant["name"]:
        problems.error(
            child(path, "confirm_removal"),
            "state: absent deletes the tenant's namespaces and volumes once the entry is removed; "
            f"set confirm_removal: {tenant['name']} to confirm",
            tenant["confirm_removal"],
        )
    if tenant["state"] == "present" and tenant["confirm_removal"] is not None:
        problems.error(child(path, "confirm_removal"), "only with state: absent", tenant["confirm_removal"])
    if tenant["buckets"] and enabled["minio"] is False:
        problems.error(child(path, "buckets"), "needs components.minio.enabled")
    if tenant["weaviate"] is True and enabled["weaviate"] is False:
        problems.error(child(path, "weaviate"), "needs components.weaviate.enabled", True)


def _check_quota(quota: dict[str, Any], path: str, have_gpus: bool, problems: Problems) -> None:
    for limit, request in (("cpu_limit", "cpu"), ("memory_limit", "memory")):
        if _ok(quota[limit], quota[request]) and quota[limit] is not None:
            low, high = parse_quantity(quota[request]), parse_quantity(quota[limit])
            if low is not None and high is not None and high < low:
                problems.error(child(path, limit), f"must be at least {request} ({quota[request]})", quota[limit])
    if _ok(quota["gpu"]) and quota["gpu"] > 0 and not have_gpus:
        reason = "no host declares GPUs; set keelson_node.gpus in the GPU hosts' host_vars"
        problems.error(child(path, "gpu"), reason, quota["gpu"])


def _check_components(spec: dict[str, Any], problems: Problems) -> None:
    components = spec["components"]
    if not isinstance(components, dict):
        return
    path = "components"
    for unit in COMPONENTS:  # what each enabled component cannot run without
        section = _section(spec, unit)
        if not (isinstance(section, dict) and section["enabled"] is True):
            continue
        for key, reason in unit.requirements:
            needed = components[key]
            if isinstance(needed, dict) and needed["enabled"] is False:
                problems.error(child(child(path, unit.key), "enabled"), reason)

    cert_manager = components["cert_manager"]
    if isinstance(cert_manager, dict) and _ok(cert_manager):
        cm_path = child(path, "cert_manager")
        if cert_manager["issuer"] == "acme" and not cert_manager["acme_email"]:
            problems.error(child(cm_path, "acme_email"), "required with issuer acme")
        if cert_manager["issuer"] != "acme":
            for key in ("acme_email", "acme_server"):
                if cert_manager[key] is not None:
                    problems.error(child(cm_path, key), "only valid with issuer acme", cert_manager[key])

    for unit in SECTIONS:
        section = _section(spec, unit)
        if not isinstance(section, dict):
            continue
        for field in dataclasses.fields(unit.settings_type):
            value = section.get(field.name)
            if isinstance(field.metadata["spec"].kind, Quantity) and _ok(value) and value is not None and parse_quantity(value) == 0:
                problems.error(
                    child(child(path, unit.key), field.name),
                    "must be more than 0: a volume of size 0 cannot be provisioned and holds nothing",
                    value,
                )

    minio = components["minio"]
    if isinstance(minio, dict) and _ok(minio["replicas"]) and 1 < minio["replicas"] < 4:
        problems.error(
            child(child(path, "minio"), "replicas"),
            "must be 1 (standalone) or at least 4 (distributed mode needs 4 drives for erasure coding)",
            minio["replicas"],
        )
    weaviate = components["weaviate"]
    bucket = weaviate["backup_bucket"] if isinstance(weaviate, dict) else None
    if _ok(bucket) and bucket and isinstance(minio, dict) and minio["enabled"] is False:
        problems.error(
            child(child(path, "weaviate"), "backup_bucket"),
            "needs components.minio.enabled (backups go to MinIO); set null to turn backups off",
            bucket,
        )
    etcd_bucket = _etcd_snapshots(spec).get("minio_bucket")
    if _ok(etcd_bucket) and etcd_bucket and isinstance(minio, dict) and minio["enabled"] is False:
        problems.error(
            "cluster.etcd_snapshots.minio_bucket",
            "needs components.minio.enabled (the platform's MinIO holds the bucket); set null, or use "
            "cluster.etcd_snapshots.s3 for an S3 outside the cluster",
            etcd_bucket,
        )


def _check_hosts(spec: dict[str, Any], problems: Problems) -> None:
    """Every ingress host is used once, under the domain, with an ingress controller and a load balancer."""
    claims = _Claims(problems)
    hosts: list[str] = []
    candidates = []
    for unit in UNITS:
        section = _section(spec, unit)
        if not isinstance(section, dict):
            continue  # an engine not chosen, or a section already reported
        enabled = section.get("enabled", True) is True
        for claim in unit.hosts:
            candidates.append((".".join((*unit.settings_path, claim.field)), section[claim.field], enabled))
    domain = spec["domain"]
    for host_path, host, enabled in candidates:
        if not enabled or not _ok(host) or host is None:
            continue
        claims.claim("host", host, host_path, "ingress host used twice")
        hosts.append(host)
        if _ok(domain) and not (host == domain or host.endswith("." + domain)):
            problems.warn(host_path, f"is not under the platform domain {domain}", host)
    cluster = spec["cluster"]
    disabled = cluster["disable"] if isinstance(cluster, dict) and isinstance(cluster["disable"], list) else []
    if "traefik" in disabled and hosts:
        problems.warn(
            "cluster.disable",
            "traefik is disabled but components have ingress hosts; bring your own ingress controller",
        )
    elif "servicelb" in disabled and hosts:
        # kube-vip (cluster.api_vip) announces the API only; keelson runs no other load balancer.
        problems.warn(
            "cluster.disable",
            "servicelb is disabled and nothing else keelson installs gives LoadBalancer Services an address: Traefik "
            "gets none, so no ingress host (nor the OIDC issuer) is reachable; keep servicelb, or install a load "
            "balancer of your own (e.g. MetalLB) before the platform",
        )


def _check_gitops(spec: dict[str, Any], problems: Problems) -> None:
    gitops = spec["gitops"]
    if not isinstance(gitops, dict) or not isinstance(gitops["repo"], dict):
        return
    repo = gitops["repo"]
    if _ok(repo["url"]) and repo["ca_cert"] is not None and repo_url_scheme(repo["url"]) != "https":
        problems.error("gitops.repo.ca_cert", "only valid with an https:// repository URL")
    if _ok(repo["url"], repo["known_hosts"]) and not repo["known_hosts"] and repo_url_scheme(repo["url"]) == "ssh":
        problems.warn(
            "gitops.repo.known_hosts",
            "is empty for an ssh repository: neither Ansible nor the GitOps controller can check the server's host key, "
            "so both refuse to connect; give its keys as `ssh-keyscan HOST` prints them (checked out of band)",
        )
    if _ok(repo["url"]) and repo["known_hosts"] and repo_url_scheme(repo["url"]) != "ssh":
        problems.error(
            "gitops.repo.known_hosts",
            "only valid with an external ssh repository (the embedded server's keys are pinned by keelson; https needs none)",
        )


def _check_secrets(spec: dict[str, Any], problems: Problems) -> None:
    secrets = spec["secrets"]
    vault = secrets.get("hashicorp_vault") if isinstance(secrets, dict) else None
    if not isinstance(vault, dict):
        return
    path = "secrets.hashicorp_vault"
    if vault["auth_method"] == "approle" and not vault["role_id"]:
        problems.error(child(path, "role_id"), "required with auth_method approle")
    if vault["auth_method"] == "token" and vault["role_id"]:
        problems.error(child(path, "role_id"), "only valid with auth_method approle", vault["role_id"])
    if _ok(vault["url"]) and vault["url"].startswith("http://"):
        problems.warn(child(path, "url"), "plain http: Vault tokens and secrets travel unencrypted", vault["url"])


def _networks(values: Any) -> list[tuple[str, IPNetwork]]:
    if not isinstance(values, list):
        return []
    result = []
    for value in values:
        network = parse_network(value) if _ok(value) else None
        if network is not None:
            result.append((value, network))
    return result


def _check_cluster(spec: dict[str, Any], nodes: Optional[list[dict[str, Any]]], problems: Problems) -> None:
    cluster = spec["cluster"]
    if not isinstance(cluster, dict):
        return
    pods, services = _networks(cluster["cluster_cidr"]), _networks(cluster["service_cidr"])
    for key, networks in (("cluster_cidr", pods), ("service_cidr", services)):
        versions = [network.version for _text, network in networks]
        if len(versions) != len(set(versions)):
            problems.error(child("cluster", key), "give at most one network per IP family", [text for text, _network in networks])
    for index, (text, network) in enumerate(services):
        for pod_text, pod in pods:
            if network.overlaps(pod):
                path = child(child("cluster", "service_cidr"), index)
                problems.error(path, f"overlaps cluster.cluster_cidr {pod_text}", text)
    if pods and services and {n.version for _t, n in pods} != {n.version for _t, n in services}:
        problems.error("cluster.service_cidr", "must have the same IP families as cluster.cluster_cidr")

    vip_text = cluster["api_vip"]
    vip = parse_ip(vip_text) if _ok(vip_text) and vip_text else None
    addresses: list[tuple[str, IPAddress]] = []
    if vip is not None:
        addresses.append(("cluster.api_vip", vip))
    for node in nodes or []:
        address = parse_ip(node["address"]) if _ok(node["address"]) else None
        if address is not None:
            addresses.append((child(_host_path(node["host"]), "ansible_host"), address))
        if address is not None and address.is_loopback:
            problems.warn(
                child(_host_path(node["host"]), "ansible_host"),
                "is a loopback address: other nodes and the cluster's pods (the GitOps controller reading the embedded Git "
                "server among them) cannot reach it; give the host's address on its network",
                str(address),
            )
    for where, address in addresses:
        for key, networks in (("cluster_cidr", pods), ("service_cidr", services)):
            for text, network in networks:
                if address in network:
                    problems.error(where, f"lies inside cluster.{key} {text}", str(address))
    if vip is not None:
        for node in nodes or []:
            if _ok(node["address"]) and parse_ip(node["address"]) == vip:
                problems.error(
                    "cluster.api_vip",
                    f"is the address of host {node['host']}; the VIP must be a free address",
                    vip_text,
                )

    registries = cluster["registries"]
    configs = registries.get("configs") if isinstance(registries, dict) else None
    if isinstance(configs, dict):
        for host, config in configs.items():
            if not isinstance(config, dict):
                continue
            path = child(child("cluster.registries", "configs"), host)
            if config["password_secret"] and not config["username"]:
                problems.error(child(path, "username"), "required with password_secret")
            if _ok(config["password_secret"]) and config["password_secret"] and platform_secret(config["password_secret"]):
                problems.error(
                    child(path, "password_secret"),
                    "names a credential keelson generates for the platform (the cluster token, a component's or a "
                    "tenant's); it would be written into every host's registries.yaml; store the registry password "
                    "under a name of its own, e.g. registry-<host>",
                    config["password_secret"],
                )
            if config["insecure_skip_verify"] is True:
                problems.warn(child(path, "insecure_skip_verify"), "TLS verification is off for this registry")

    _check_snapshots(cluster["etcd_snapshots"], problems)


def _check_snapshots(snapshots: Any, problems: Problems) -> None:
    """cluster.etcd_snapshots: S3 keys of their own, and one bucket (s3 or the platform's MinIO)."""
    s3 = snapshots.get("s3") if isinstance(snapshots, dict) else None
    if isinstance(s3, dict):
        path = "cluster.etcd_snapshots.s3"
        for field in ("access_key_secret", "secret_key_secret"):
            if _ok(s3[field]) and isinstance(s3[field], str) and platform_secret(s3[field]):
                problems.error(
                    child(path, field),
                    "names a credential keelson generates for the platform (the cluster token, a component's or a "
                    "tenant's); store the S3 key under a name of its own, e.g. etcd-s3-access-key",
                    s3[field],
                )
        if _ok(s3["access_key_secret"], s3["secret_key_secret"]) and s3["access_key_secret"] == s3["secret_key_secret"]:
            problems.error(
                child(path, "secret_key_secret"),
                "is the same key as access_key_secret; the two are different values",
                s3["secret_key_secret"],
            )
        if s3["insecure"] is True:
            problems.warn(child(path, "insecure"), "plain http: the S3 keys and the cluster's snapshots travel unencrypted")
            if s3["ca_cert"]:
                problems.error(child(path, "ca_cert"), "is set with insecure: true; plain http uses no CA: drop one of them")
    minio_bucket = snapshots.get("minio_bucket") if isinstance(snapshots, dict) else None
    if _ok(minio_bucket) and minio_bucket and isinstance(s3, dict):
        problems.error(
            "cluster.etcd_snapshots.minio_bucket",
            "is set with cluster.etcd_snapshots.s3: k3s copies snapshots to one bucket; drop one of them",
            minio_bucket,
        )


# ------------------------------------------------------------------------------------------- nodes


def _host_path(host: str) -> str:
    """``hostvars["server-1"]``: the Jinja expression that shows the host's variables."""
    return f"hostvars[{json.dumps(host)}]"


def _normalise_nodes(raw: Any, problems: Problems) -> Optional[list[dict[str, Any]]]:
    """Validate the inventory's view: one entry per (host, group) from the cluster_inventory filter."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        problems.error("nodes", "must be a list", raw)
        return []
    nodes: list[dict[str, Any]] = []
    roles: dict[str, str] = {}
    claims = _Claims(problems)
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("host"), str):
            problems.error("nodes", "each entry needs host, role, address and keelson_node", entry)
            continue
        host = entry["host"]
        role = entry.get("role")
        path = _host_path(host)
        if role not in ("server", "agent"):
            problems.error(child(path, "role"), "must be server or agent", role)
            continue
        if host in roles:
            problems.error(path, f"is in both {SERVER_GROUP} and {AGENT_GROUP}; a host is a server or an agent")
            continue
        roles[host] = role
        if entry.get("spec_differs"):
            problems.error(
                child(path, "keelson_platform"),
                "differs from what the other hosts see; define keelson_platform once (group_vars/all)",
            )
        node_path = child(path, "keelson_node")
        node = NODE.normalise(entry.get("keelson_node"), node_path, problems)
        if not isinstance(node, dict):
            continue
        if node["name"] in (None, UNSET):
            reason = check_dns_subdomain(host)
            if reason:
                problems.error(
                    child(node_path, "name"),
                    f"the inventory hostname is not a valid Kubernetes node name ({reason}); set keelson_node.name",
                    host,
                )
            node["name"] = INVALID if reason else host
        if _ok(node["name"]):
            claims.claim("node", node["name"], child(node_path, "name"), "node name used twice")
        address = entry.get("address")
        if isinstance(address, str) and address and check_host_address(address) is not None:
            problems.error(child(path, "ansible_host"), check_host_address(address) or "", address)
            address = INVALID
        nodes.append(
            {
                "host": host,
                "role": role,
                "address": address if (isinstance(address, str) and address) or address is INVALID else host,
                **node,
            }
        )
    servers = [node for node in nodes if node["role"] == "server"]
    if not any(entry.get("role") == "server" for entry in raw if isinstance(entry, dict)):
        problems.error("inventory", f"no hosts in group {SERVER_GROUP}; keelson needs at least one server")
    elif len(servers) == 2:
        problems.error(
            "inventory",
            f"2 servers in {SERVER_GROUP}: etcd needs both for quorum, so the cluster stops when either fails "
            "(twice as likely as with 1); use 1 or 3",
        )
    elif len(servers) % 2 == 0 and servers:
        problems.warn(
            "inventory",
            f"{len(servers)} servers in {SERVER_GROUP} tolerate no more failures than {len(servers) - 1} do "
            "(etcd quorum); use an odd number",
        )
    return nodes


def _check_ha(spec: dict[str, Any], nodes: Optional[list[dict[str, Any]]], problems: Problems) -> None:
    if nodes is None or not isinstance(spec["cluster"], dict):
        return
    servers = [node for node in nodes if node["role"] == "server"]
    if len(servers) > 1 and spec["cluster"]["api_vip"] is None:
        problems.warn(
            "cluster.api_vip",
            f"{len(servers)} servers but no API VIP: agents and the kubeconfig use the first server "
            f"({servers[0]['host']}) and lose the API when it is down",
        )
    addresses: dict[str, str] = {}
    for node in nodes:
        path = child(_host_path(node["host"]), "ansible_host")
        if not _ok(node["address"]):
            continue
        key = str(parse_ip(node["address"]) or node["address"].lower())
        if key in addresses:
            problems.error(
                path,
                f"same address as {addresses[key]}; two inventory hosts would be one machine (and one k3s node twice)",
                node["address"],
            )
        else:
            addresses[key] = path


# --------------------------------------------------------------------------------------- entry point


@dataclasses.dataclass(frozen=True)
class Validated:
    """What :func:`validate_platform` returns."""

    spec: dict[str, Any]
    nodes: Optional[list[dict[str, Any]]]
    warnings: list[str]

    def model(self) -> PlatformSpec:
        """The typed model of the normalised spec."""
        return SPEC.build(self.spec)

    def node_models(self) -> list[NodeSpec]:
        return [NODE.build({key: node[key] for key in NODE.names}) for node in self.nodes or []]


RULES: Final[tuple[Callable[[dict[str, Any], Optional[list[dict[str, Any]]], Problems], None], ...]] = (
    _check_tenants,
    lambda spec, _nodes, problems: _check_components(spec, problems),
    lambda spec, _nodes, problems: _check_hosts(spec, problems),
    lambda spec, _nodes, problems: _check_gitops(spec, problems),
    lambda spec, _nodes, problems: _check_secrets(spec, problems),
    lambda spec, _nodes, problems: _check_identity(spec, problems),
    _check_cluster,
    _check_ha,
)


def validate_platform(raw: Any, nodes: Any = None) -> Validated:
    """Validate and normalise ``keelson_platform`` (and the inventory's nodes, when given).

    Raises SpecError with every problem found; warnings come back with the result.
    """
    problems = Problems()
    if raw is None:
        problems.error("keelson_platform", "not defined; set it in the inventory's group_vars (see docs/spec.md)")
    elif not isinstance(raw, dict):
        problems.error("keelson_platform", "must be a mapping", raw)
    problems.raise_if_errors()
    normalised_nodes = _normalise_nodes(nodes, problems)
    spec = SPEC.normalise(raw, "", problems)
    _derive(spec, problems)
    _derive_from_nodes(spec, normalised_nodes)
    spec = _settle(spec)
    for rule in RULES:
        rule(spec, normalised_nodes, problems)
    problems.raise_if_errors()
    return Validated(spec, normalised_nodes, [str(warning) for warning in problems.warnings])


def kubeconfig_path(name: str) -> str:
    """The default path of platform ``name``'s admin kubeconfig on the controller, ``~`` not expanded.

    The validate playbook sets ``keelson_kubeconfig_path`` from it (or from ``keelson_kubeconfig`` when the
    user sets that); every role and playbook reads that fact.
    """
    return f"~/.kube/keelson-{name}.yaml"
