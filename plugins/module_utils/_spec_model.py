# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The platform spec (``keelson_platform``) as a typed model: every field, its kind, default and docs.

Static defaults live in the field declarations below (``default=``). Defaults that depend on other
fields (``DERIVED``) and the rules that span fields are in ``_spec.py``, which validates input against
this model. docs/spec.md is generated from these declarations (``make docs``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils import _ml
from ansible_collections.keelson.platform.plugins.module_utils._catalog import default_k3s_version, k3s_versions
from ansible_collections.keelson.platform.plugins.module_utils._components import COMPONENTS, SECTIONS
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import quantity_field
from ansible_collections.keelson.platform.plugins.module_utils._engines import ENGINES, Engine
from ansible_collections.keelson.platform.plugins.module_utils._formats import (
    check_airgap_source,
    check_cidr,
    check_cron,
    check_dns_subdomain,
    check_domain,
    check_git_branch,
    check_group_name,
    check_host_or_ip,
    check_http_url,
    check_ip,
    check_known_hosts_line,
    check_label_key,
    check_label_value,
    check_pem_certificate,
    check_registry_host,
    check_repo_path,
    check_repo_url,
    check_s3_bucket,
    check_s3_endpoint,
    check_secret_key,
    check_taint,
    check_vault_path,
    dns_label,
    normalise_repo_path,
)
from ansible_collections.keelson.platform.plugins.module_utils._schema import (
    DERIVED,
    Bool,
    Enum,
    Int,
    ListOf,
    MapOf,
    Nullable,
    Quantity,
    Section,
    Str,
    spec_field,
)

# Names keelson extends with suffixes of up to 23 characters ("-editors", "tenant-", "-svc", ...) must
# still fit the 63 characters of a DNS label / Kubernetes label value.
NAME_MAX: Final = 40
_NAME_WHY: Final = " (keelson adds suffixes; the result must fit 63)"
SERVER_GROUP: Final = "keelson_servers"
AGENT_GROUP: Final = "keelson_agents"
# Namespaces Kubernetes reserves or the platform itself uses (every component's and every engine's, enabled or
# not, so that turning one on later never collides with a tenant): no tenant may claim them.
RESERVED_NAMESPACES: Final = frozenset(
    {"default", "kube-system", "kube-public", "kube-node-lease", "keelson-system"}
    | {unit.namespace for unit in COMPONENTS}
    | {engine.controller.namespace for engine in ENGINES.values()}
)
K3S_PACKAGED: Final = ("coredns", "servicelb", "traefik", "local-storage", "metrics-server")
# k3s' own defaults for its scheduled etcd snapshots (--etcd-snapshot-schedule-cron, --etcd-snapshot-retention):
# config.yaml names them only when the spec differs, so a cluster keelson installed before has nothing to restart.
K3S_SNAPSHOT_SCHEDULE: Final = "0 */12 * * *"
K3S_SNAPSHOT_RETENTION: Final = 5
# k3s' etcd-s3-region default (not written to config.yaml when the spec keeps it).
K3S_S3_REGION: Final = "us-east-1"


def _check_k3s_version(value: str) -> Optional[str]:
    known = k3s_versions()
    if value in known:
        return None
    return f"not in the version catalog (known: {', '.join(known)})"


def _check_vault_file(value: str) -> Optional[str]:
    if value.endswith("/"):
        return "must name a file, not a folder"
    return None


def _check_external_repo(value: str) -> Optional[str]:
    if value == "embedded":
        return "a tenant repository must be an external URL (the embedded repository is the platform's)"
    return check_repo_url(value)


# ------------------------------------------------------------------------------------------- nodes


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    """Per-host settings: the inventory variable ``keelson_node`` (host_vars)."""

    name: str = spec_field(
        Nullable(Str(check_dns_subdomain, type_doc="Kubernetes node name")),
        "Kubernetes node name.",
        default=DERIVED,
        default_doc="the inventory hostname",
    )
    labels: dict[str, str] = spec_field(
        MapOf(Str(check_label_value, empty=True, scalars=True, type_doc="label value"), Str(check_label_key), "key"),
        "Node labels, set by k3s at registration (`node-label`). Keys under kubernetes.io/k8s.io are refused "
        "(NodeRestriction) except the kubelet's own.",
        default={},
        example='{"example.com/pool": "training"}',
    )
    taints: list[str] = spec_field(
        ListOf(Str(check_taint, type_doc="taint"), unique=True),
        "Node taints as `key[=value]:Effect` (`node-taint`).",
        default=[],
        example='["nvidia.com/gpu=true:NoSchedule"]',
    )
    gpus: int = spec_field(
        Int(minimum=0),
        "NVIDIA GPUs on this host. Tenants can have a GPU quota only when some host declares GPUs.",
        default=0,
        example="2",
    )


# ----------------------------------------------------------------------------------------- cluster


@dataclasses.dataclass(frozen=True)
class RegistryMirror:
    endpoints: list[str] = spec_field(
        ListOf(Str(check_http_url, type_doc="URL"), unique=True, min_items=1),
        "Mirror endpoints, tried in order before the upstream registry.",
        example='["https://mirror.example.internal"]',
    )


@dataclasses.dataclass(frozen=True)
class RegistryConfig:
    username: Optional[str] = spec_field(Nullable(Str()), "User name for the registry.", default=None)
    password_secret: Optional[str] = spec_field(
        Nullable(Str(check_secret_key, type_doc="secrets-backend key")),
        "Key in the secrets backend that holds the password (never the password itself).",
        default=None,
        example="registry-mirror",
    )
    ca_cert: Optional[str] = spec_field(
        Nullable(Str(check_pem_certificate, type_doc="PEM")),
        "CA bundle (PEM) the registry's TLS chains to.",
        default=None,
    )
    insecure_skip_verify: bool = spec_field(Bool(), "Skip TLS verification (warned about).", default=False)


@dataclasses.dataclass(frozen=True)
class Registries:
    """containerd registry settings, written to /etc/rancher/k3s/registries.yaml."""

    mirrors: dict[str, RegistryMirror] = spec_field(
        MapOf(Section(RegistryMirror), Str(check_registry_host), "registry"),
        "Mirrors per upstream registry (`docker.io`, `registry.k8s.io`, or `*` for all).",
        default={},
    )
    configs: dict[str, RegistryConfig] = spec_field(
        MapOf(Section(RegistryConfig), Str(check_registry_host), "registry host"),
        "Authentication and TLS per registry host.",
        default={},
    )


@dataclasses.dataclass(frozen=True)
class SnapshotS3:
    """An S3 bucket every etcd snapshot is also copied to, scheduled and on-demand alike (k3s' etcd-s3 settings)."""

    endpoint: str = spec_field(
        Str(check_s3_endpoint, type_doc="host[:port]"),
        "The S3 API's host and port, without a scheme.",
        example="s3.eu-west-1.amazonaws.com",
    )
    bucket: str = spec_field(
        Str(check_s3_bucket, type_doc="S3 bucket"),
        "The bucket. It must exist: k3s does not create it.",
        example="etcd-snapshots",
    )
    access_key_secret: str = spec_field(
        Str(check_secret_key, type_doc="secrets-backend key"),
        "Key in the secrets backend that holds the access key id (never the key itself).",
        example="etcd-s3-access-key",
    )
    secret_key_secret: str = spec_field(
        Str(check_secret_key, type_doc="secrets-backend key"),
        "Key in the secrets backend that holds the secret access key (never the key itself).",
        example="etcd-s3-secret-key",
    )
    folder: Optional[str] = spec_field(
        Nullable(Str(check_repo_path, tidy=normalise_repo_path, type_doc="relative path")),
        "Folder inside the bucket (one per cluster when clusters share a bucket); null: the bucket's top.",
        default=None,
        example="ml-prod",
    )
    region: str = spec_field(Str(), "The bucket's region.", default=K3S_S3_REGION)
    ca_cert: Optional[str] = spec_field(
        Nullable(Str(check_pem_certificate, type_doc="PEM")),
        "CA bundle (PEM) the endpoint's TLS certificate chains to, when it is not a public CA.",
        default=None,
    )
    insecure: bool = spec_field(
        Bool(),
        "Plain HTTP instead of HTTPS (the keys and the snapshots cross the network readable: warned about).",
        default=False,
    )


@dataclasses.dataclass(frozen=True)
class EtcdSnapshots:
    """k3s' own scheduled etcd snapshots, and how many backup.yml keeps (docs/day2.md)."""

    schedule: Optional[str] = spec_field(
        Nullable(Str(check_cron, type_doc="cron schedule")),
        "When k3s takes its scheduled snapshots (cron, the servers' local time); null turns them off. The default "
        "is k3s' own, so it is not written to config.yaml.",
        default=K3S_SNAPSHOT_SCHEDULE,
        example='"0 3 * * *"',
    )
    retention: int = spec_field(
        Int(minimum=1, type_doc="positive integer"),
        "Scheduled snapshots k3s keeps per server, and on-demand snapshots of each name backup.yml keeps.",
        default=K3S_SNAPSHOT_RETENTION,
    )
    s3: Optional[SnapshotS3] = spec_field(
        Nullable(Section(SnapshotS3)),
        "Copy every snapshot to this S3 bucket too, and restore from it when a server has lost its own copies.",
        default=None,
    )
    minio_bucket: Optional[str] = spec_field(
        Nullable(Str(check_s3_bucket, type_doc="S3 bucket")),
        "Copy every snapshot to this bucket of the platform's own MinIO too (keelson makes the bucket and a MinIO user "
        "for it; the servers reach MinIO at its ingress host, so they must resolve it). Not together with s3. A restore "
        "takes a server's own copy: this bucket is inside the cluster being restored (docs/day2.md).",
        default=None,
        example="etcd-snapshots",
    )


@dataclasses.dataclass(frozen=True)
class Upgrade:
    """How upgrade.yml moves the nodes (docs/day2.md)."""

    agent_batch: int = spec_field(
        Int(minimum=1, type_doc="positive integer"),
        "Agents upgraded at the same time (servers always go one at a time).",
        default=1,
    )
    drain_timeout: int = spec_field(
        Int(minimum=30, type_doc="number of seconds"),
        "How long draining a node may take (evictions a PodDisruptionBudget refuses are retried) before the upgrade "
        "stops, naming the pods and budgets that block, and uncordons the node.",
        default=300,
    )
    node_timeout: int = spec_field(
        Int(minimum=30, type_doc="number of seconds"),
        "How long an upgraded node has to come back Ready at the new version (a server: and etcd healthy with every "
        "member) before the upgrade stops there.",
        default=300,
    )


@dataclasses.dataclass(frozen=True)
class Cluster:
    k3s_version: str = spec_field(
        Str(_check_k3s_version, type_doc="k3s version"),
        "k3s release to install; must be one the catalog pins (plugins/module_utils/_catalog.py).",
        default=default_k3s_version(),
        default_doc=f"`{default_k3s_version()}` (the catalog's default)",
    )
    api_vip: Optional[str] = spec_field(
        Nullable(Str(check_ip, type_doc="IP address")),
        "Virtual IP for the Kubernetes API (kube-vip, ARP). Agents and the kubeconfig use it when set.",
        default=None,
        example="192.168.10.50",
    )
    api_names: list[str] = spec_field(
        ListOf(Str(check_host_or_ip, type_doc="DNS name or IP"), unique=True),
        "Extra names and addresses for the API server certificate (`tls-san`).",
        default=[],
        example='["k8s.ml.example.internal"]',
    )
    cluster_cidr: list[str] = spec_field(
        ListOf(Str(check_cidr, type_doc="CIDR"), unique=True, scalar_ok=True, min_items=1, max_items=2),
        "Pod network(s); one per IP family. A comma-separated string is accepted.",
        default=["10.42.0.0/16"],
    )
    service_cidr: list[str] = spec_field(
        ListOf(Str(check_cidr, type_doc="CIDR"), unique=True, scalar_ok=True, min_items=1, max_items=2),
        "Service network(s); same IP families as cluster_cidr.",
        default=["10.43.0.0/16"],
    )
    disable: list[str] = spec_field(
        ListOf(Enum(*K3S_PACKAGED), unique=True),
        "k3s packaged components to turn off. servicelb is what gives Traefik's LoadBalancer Service an address "
        "(kube-vip announces the API only): without it, bring a load balancer of your own, or no ingress host is "
        "reachable (validation warns).",
        default=[],
        example='["local-storage"]',
    )
    registries: Registries = spec_field(Section(Registries), "Registry mirrors and credentials.", default={})
    airgap_source: Optional[str] = spec_field(
        Nullable(Str(check_airgap_source, type_doc="path or URL")),
        "Folder on the controller or http(s) URL holding the k3s binary, image tarball and sha256 sums. "
        "Unset: download from the k3s release, checksum verified.",
        default=None,
        example="/srv/airgap/k3s",
    )
    hardening: bool = spec_field(Bool(), "Apply the CIS hardening settings (kubelet sysctls, audit log, PSA).", default=False)
    secrets_encryption: bool = spec_field(Bool(), "Encrypt Secrets at rest in the datastore.", default=True)
    upgrade: Upgrade = spec_field(Section(Upgrade), "How upgrade.yml moves the nodes.", default={})
    etcd_snapshots: EtcdSnapshots = spec_field(Section(EtcdSnapshots), "etcd snapshots: k3s' schedule and the retention.", default={})


# ------------------------------------------------------------------------------------------ gitops


@dataclasses.dataclass(frozen=True)
class GitRepo:
    url: str = spec_field(
        Str(check_repo_url, type_doc="repository URL"),
        "`embedded` (a bare repository on the first server, over SSH), or an external `https://`, `ssh://` or `user@host:path` URL.",
        default="embedded",
        example="git@gitlab.example.internal:platform/ml-prod.git",
    )
    branch: str = spec_field(Str(check_git_branch, type_doc="branch"), "Branch the cluster follows.", default="main")
    path: str = spec_field(
        Str(check_repo_path, tidy=normalise_repo_path, type_doc="relative path"),
        "Folder inside the repository that holds this platform (`.` is the top).",
        default=".",
        example="platforms/ml-prod",
    )
    ca_cert: Optional[str] = spec_field(
        Nullable(Str(check_pem_certificate, type_doc="PEM")),
        "CA bundle (PEM) for an https repository with a private CA.",
        default=None,
    )
    known_hosts: list[str] = spec_field(
        ListOf(Str(check_known_hosts_line, type_doc="known_hosts line"), unique=True),
        "The SSH host keys of an external `ssh://` or `user@host:path` repository, as `ssh-keyscan` prints them (every "
        "type the server offers). Ansible and the cluster trust exactly these. Leave empty for `embedded`: keelson "
        "pins the embedded server's own keys at first contact.",
        default=[],
        example=["gitlab.example.internal ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"],
    )
    mode: str = spec_field(
        Enum("push", "pull_request"),
        "`push`: commit to `branch` and push. `pull_request`: push the commit to a branch of its own "
        "(`keelson/<platform>`) for you to merge into `branch` (for a protected branch); the cluster follows `branch`.",
        default="push",
    )


@dataclasses.dataclass(frozen=True)
class GitOpsBase:
    """``gitops``: the engine, the repository, and one settings section per engine (``gitops.<engine>``,
    from the engine registry)."""

    engine: str = spec_field(Enum(*ENGINES), "The GitOps controller.", default="argocd")
    repo: GitRepo = spec_field(Section(GitRepo), "The repository that holds the desired state.", default={})


def _engine_field(engine: Engine[Any]) -> Any:
    return spec_field(
        Nullable(Section(engine.settings_type)),
        engine.doc,
        default=DERIVED,
        default_doc=f"defaults when engine is `{engine.name}`, else `null`",
    )


GitOps: Final = dataclasses.make_dataclass(
    "GitOps",
    [(name, Optional[engine.settings_type], _engine_field(engine)) for name, engine in ENGINES.items()],
    bases=(GitOpsBase,),
    frozen=True,
)


# -------------------------------------------------------------------------------------- components


@dataclasses.dataclass(frozen=True)
class ComponentsBase:
    """``components``: one settings section per component of the registry (``_components``)."""


Components: Final = dataclasses.make_dataclass(
    "Components",
    [(unit.key, unit.settings_type, spec_field(Section(unit.settings_type), unit.doc, default={})) for unit in SECTIONS],
    bases=(ComponentsBase,),
    frozen=True,
)


# ------------------------------------------------------------------------------ identity and tenants


@dataclasses.dataclass(frozen=True)
class Identity:
    realm: str = spec_field(
        Nullable(Str(dns_label(63), type_doc="realm name")),
        "Keycloak realm of the platform.",
        default=DERIVED,
        default_doc="the platform `name`",
    )
    admins_group: str = spec_field(
        Str(check_group_name, type_doc="group"),
        "Group whose members administer the whole platform.",
        default="platform-admins",
    )


@dataclasses.dataclass(frozen=True)
class TenantGroups:
    admin: str = spec_field(
        Nullable(Str(check_group_name, type_doc="group")),
        "Group bound to the `admin` ClusterRole in the tenant's namespaces.",
        default=DERIVED,
        default_doc="`<tenant>-admins`",
    )
    edit: str = spec_field(
        Nullable(Str(check_group_name, type_doc="group")),
        "Group bound to `edit`.",
        default=DERIVED,
        default_doc="`<tenant>-editors`",
    )
    view: str = spec_field(
        Nullable(Str(check_group_name, type_doc="group")),
        "Group bound to `view`.",
        default=DERIVED,
        default_doc="`<tenant>-viewers`",
    )


@dataclasses.dataclass(frozen=True)
class Quota:
    """The tenant's quota: one ResourceQuota with these limits in each of its namespaces (so a tenant with two
    namespaces may use up to twice these amounts in total)."""

    cpu: str = quantity_field("CPU requests (`requests.cpu`).", "4", "32")
    memory: str = quantity_field("Memory requests (`requests.memory`).", "16Gi", "128Gi")
    cpu_limit: str = spec_field(
        Nullable(Quantity()),
        "CPU limits (`limits.cpu`); at least `cpu`.",
        default=DERIVED,
        default_doc="the value of `cpu`",
    )
    memory_limit: str = spec_field(
        Nullable(Quantity()),
        "Memory limits (`limits.memory`); at least `memory`.",
        default=DERIVED,
        default_doc="the value of `memory`",
    )
    gpu: int = spec_field(Int(minimum=0), "NVIDIA GPUs (`requests.nvidia.com/gpu`); needs hosts with `keelson_node.gpus`.", default=0)
    storage: str = quantity_field("Persistent volume requests (`requests.storage`).", "100Gi", "1Ti")
    pods: int = spec_field(Int(minimum=0), "Pods.", default=50)
    services: int = spec_field(Int(minimum=0), "Services (LoadBalancer and NodePort are never allowed).", default=20)
    pvcs: int = spec_field(Int(minimum=0), "PersistentVolumeClaims.", default=20)
    configmaps: int = spec_field(Int(minimum=0), "ConfigMaps.", default=100)
    secrets: int = spec_field(Int(minimum=0), "Secrets.", default=100)


@dataclasses.dataclass(frozen=True)
class TenantWorkflows:
    """The tenant's pipelines (Argo Workflows)."""

    parallelism: int = spec_field(
        Int(minimum=1, maximum=1000),
        "Workflows of the tenant that run at once in each of its namespaces; more wait, pending, until one ends "
        "(Argo Workflows' namespace parallelism).",
        default=_ml.WORKFLOW_PARALLELISM,
    )


@dataclasses.dataclass(frozen=True)
class Tenant:
    name: str = spec_field(
        Str(dns_label(NAME_MAX, _NAME_WHY, start_letter=True), type_doc="tenant name"),
        f"Tenant (team) name: a DNS-1123 label of at most {NAME_MAX} characters, starting with a letter.",
        example="vision",
    )
    namespaces: list[str] = spec_field(
        Nullable(ListOf(Str(dns_label(63), type_doc="namespace"), unique=True, min_items=1)),
        "The tenant's namespaces.",
        default=DERIVED,
        default_doc="`[<name>]`",
        example='["vision", "vision-staging"]',
    )
    groups: TenantGroups = spec_field(Section(TenantGroups), "Keycloak groups per role.", default={})
    quota: Quota = spec_field(Section(Quota), "Resource quota.", default={})
    buckets: list[str] = spec_field(
        ListOf(Str(check_s3_bucket, type_doc="S3 bucket"), unique=True),
        "MinIO buckets the tenant owns; names are global, unique across tenants.",
        default=[],
        example='["vision-datasets", "vision-models"]',
    )
    weaviate: bool = spec_field(Bool(), "Give the tenant a Weaviate API key.", default=False)
    workflows: TenantWorkflows = spec_field(Section(TenantWorkflows), "The tenant's pipelines (Argo Workflows).", default={})
    repos: list[str] = spec_field(
        ListOf(Str(_check_external_repo, type_doc="repository URL"), unique=True),
        "Extra Git repositories the tenant deploys from (besides its folder in the platform repo). Argo CD: allowed as "
        "sources of the tenant's Applications. Flux: each is reconciled (branch `main`, its top folder) into the "
        "tenant's first namespace as the tenant's own account.",
        default=[],
    )
    state: str = spec_field(
        Enum("present", "absent"),
        "`absent` takes the protection off the tenant's namespaces and volumes so that deleting the entry afterwards "
        "deletes them with all their data; needs `confirm_removal`. Deleting an entry that was never `absent` "
        "leaves its namespaces and volumes in the cluster.",
        default="present",
    )
    confirm_removal: Optional[str] = spec_field(
        Nullable(Str(type_doc="tenant name")),
        "With `state: absent`, the tenant's name again, to confirm that its data may be deleted.",
        default=None,
    )


# ----------------------------------------------------------------------------------------- secrets


@dataclasses.dataclass(frozen=True)
class VaultFileBackend:
    path: str = spec_field(
        Str(_check_vault_file, type_doc="path"),
        "ansible-vault encrypted file; a relative path is relative to the inventory folder. The default name "
        "starts with a dot so that Ansible does not read the file as part of the inventory.",
        default=".keelson-secrets.vault.yml",
    )


@dataclasses.dataclass(frozen=True)
class HashicorpVaultBackend:
    url: str = spec_field(Str(check_http_url, type_doc="URL"), "Vault address.", example="https://vault.example.internal:8200")
    auth_method: str = spec_field(
        Enum("token", "approle"),
        "`token` (VAULT_TOKEN) or `approle` (role_id here, secret id from VAULT_SECRET_ID).",
        default="token",
    )
    role_id: Optional[str] = spec_field(
        Nullable(Str(type_doc="AppRole role id")), "AppRole role id; only with auth_method `approle`.", default=None
    )
    mount: str = spec_field(Str(check_vault_path, type_doc="mount"), "KV version 2 mount point.", default="secret")
    path: str = spec_field(
        Nullable(Str(check_vault_path, type_doc="path")),
        "Path below the mount for this platform's secrets.",
        default=DERIVED,
        default_doc="`keelson/<name>`",
    )
    namespace: Optional[str] = spec_field(
        Nullable(Str(check_vault_path, type_doc="namespace")), "Vault Enterprise namespace.", default=None
    )
    ca_cert: Optional[str] = spec_field(
        Nullable(Str(check_pem_certificate, type_doc="PEM")), "CA bundle (PEM) for Vault's TLS.", default=None
    )


@dataclasses.dataclass(frozen=True)
class Secrets:
    backend: str = spec_field(Enum("vault_file", "hashicorp_vault"), "Where generated credentials and keys are kept.", default="vault_file")
    vault_file: Optional[VaultFileBackend] = spec_field(
        Nullable(Section(VaultFileBackend)),
        "Settings of backend `vault_file`; only with that backend.",
        default=DERIVED,
        default_doc="defaults with backend `vault_file`, else `null`",
    )
    hashicorp_vault: Optional[HashicorpVaultBackend] = spec_field(
        Nullable(Section(HashicorpVaultBackend)),
        "Settings of backend `hashicorp_vault`; required with that backend, refused with the other.",
        default=DERIVED,
        default_doc="`null`",
    )


# ------------------------------------------------------------------------------------------- root


@dataclasses.dataclass(frozen=True)
class PlatformSpec:
    """``keelson_platform``: one platform, its cluster, its GitOps repo, its components and its tenants."""

    name: str = spec_field(
        Str(dns_label(NAME_MAX, _NAME_WHY, start_letter=True), type_doc="name"),
        f"Platform (cluster) name: a DNS-1123 label of at most {NAME_MAX} characters, starting with a letter.",
        example="ml-prod",
    )
    domain: str = spec_field(
        Str(check_domain, type_doc="DNS domain"),
        "DNS domain under which every ingress host lives.",
        example="ml.example.internal",
    )
    cluster: Cluster = spec_field(Section(Cluster), "The k3s cluster.", default={})
    gitops: GitOpsBase = spec_field(Section(GitOps), "The GitOps controller and repository.", default={})
    components: ComponentsBase = spec_field(Section(Components), "Platform components.", default={})
    identity: Identity = spec_field(Section(Identity), "Keycloak realm and platform admins.", default={})
    tenants: list[Tenant] = spec_field(ListOf(Section(Tenant)), "Teams sharing the platform.", default=[])
    secrets: Secrets = spec_field(Section(Secrets), "Secrets backend.", default={})


SPEC: Final = Section(PlatformSpec)
NODE: Final = Section(NodeSpec)
