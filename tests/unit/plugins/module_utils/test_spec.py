# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The platform spec: every rule, as a table of bad specs with the exact error each must produce."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from spec_cases import BASE_NODES, BASE_SPEC, DELETE, variant

from ansible_collections.keelson.platform.plugins.module_utils._catalog import k3s_versions
from ansible_collections.keelson.platform.plugins.module_utils._problems import SpecError
from ansible_collections.keelson.platform.plugins.module_utils._spec import validate_platform
from ansible_collections.keelson.platform.plugins.module_utils._spec_model import PlatformSpec, Quota

PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2E=\n-----END CERTIFICATE-----\n"
S3_SNAPSHOTS = {
    "endpoint": "s3.example.internal:9000",
    "bucket": "etcd",
    "access_key_secret": "etcd-s3-access-key",
    "secret_key_secret": "etcd-s3-secret-key",
}
KNOWN = "name, domain, cluster, gitops, components, identity, tenants, secrets"

# (id, changes to the valid base, the exact error line, or every error line when a fault yields several)
BAD: list[tuple[str, dict[str, Any], Any]] = [
    # --- the spec itself
    (
        "spec-undefined",
        {"spec": None},
        "keelson_platform: not defined; set it in the inventory's group_vars (see docs/spec.md)",
    ),
    ("spec-not-mapping", {"spec": []}, "keelson_platform: must be a mapping (got [])"),
    ("unknown-key-did-you-mean", {"tenant": []}, 'tenant: unknown key; did you mean "tenants"?'),
    ("unknown-key-listed", {"flavour": "x"}, f"flavour: unknown key (known: {KNOWN})"),
    ("name-required", {"name": DELETE}, "name: required"),
    ("name-type", {"name": 5}, "name: must be a string (name) (got 5)"),
    ("name-lowercase", {"name": "ML-prod"}, 'name: must be lowercase (a DNS-1123 label) (got "ML-prod")'),
    ("name-letter-first", {"name": "1ml"}, 'name: must start with a lowercase letter (got "1ml")'),
    (
        "name-room-for-suffixes",
        {"name": "a" * 41},
        f'name: must be at most 40 characters (keelson adds suffixes; the result must fit 63) (41 given) (got "{"a" * 41}")',
    ),
    (
        "domain-one-label",
        {"domain": "internal"},
        'domain: must have at least two labels (e.g. ml.example.internal) (got "internal")',
    ),
    ("domain-trailing-dot", {"domain": "ml.example."}, 'domain: must not end with a dot (got "ml.example.")'),
    ("domain-lowercase", {"domain": "ML.example.internal"}, 'domain: must be lowercase (got "ML.example.internal")'),
    (
        "domain-empty-label",
        {"domain": "ml..internal"},
        'domain: has an empty label (two dots in a row) (got "ml..internal")',
    ),
    # --- tenants
    ("tenants-not-list", {"tenants": {"name": "x"}}, 'tenants: must be a list (list of mapping) (got {"name": "x"})'),
    ("tenant-name-required", {"tenants.1.name": DELETE}, "tenants[1].name: required"),
    ("tenant-unknown-key", {"tenants.1.qouta": {}}, 'tenants[1].qouta: unknown key; did you mean "quota"?'),
    (
        "tenant-name-duplicate",
        {"tenants.1.name": "vision"},
        'tenants[1].name: duplicate tenant name; already used at tenants[0].name (got "vision")',
    ),
    (
        "tenant-name-length",
        {"tenants.1.name": "n" * 41},
        f'tenants[1].name: must be at most 40 characters (keelson adds suffixes; the result must fit 63) (41 given) (got "{"n" * 41}")',
    ),
    (
        "quota-memory-syntax",
        {"tenants.1.quota": {"memory": "12GBs"}},
        'tenants[1].quota.memory: not a Kubernetes quantity (got "12GBs")',
    ),
    ("quota-cpu-negative", {"tenants.0.quota.cpu": "-1"}, 'tenants[0].quota.cpu: must not be negative (got "-1")'),
    (
        "tenant-absent-unconfirmed",
        {"tenants.1.state": "absent"},
        "tenants[1].confirm_removal: state: absent deletes the tenant's namespaces and volumes once the entry is removed; "
        "set confirm_removal: nlp to confirm (got null)",
    ),
    (
        "tenant-absent-wrong-name",
        {"tenants.1.state": "absent", "tenants.1.confirm_removal": "vision"},
        "tenants[1].confirm_removal: state: absent deletes the tenant's namespaces and volumes once the entry is removed; "
        'set confirm_removal: nlp to confirm (got "vision")',
    ),
    (
        "tenant-confirm-without-absent",
        {"tenants.1.confirm_removal": "nlp"},
        'tenants[1].confirm_removal: only with state: absent (got "nlp")',
    ),
    ("tenant-state-word", {"tenants.1.state": "gone"}, 'tenants[1].state: must be one of present, absent (got "gone")'),
    (
        "quota-gpu-word",
        {"tenants.0.quota.gpu": "two"},
        'tenants[0].quota.gpu: must be a non-negative integer (got "two")',
    ),
    (
        "quota-gpu-negative",
        {"tenants.0.quota.gpu": -1},
        "tenants[0].quota.gpu: must be a non-negative integer (got -1)",
    ),
    (
        "quota-pods-bool",
        {"tenants.0.quota.pods": True},
        "tenants[0].quota.pods: must be a non-negative integer (got true)",
    ),
    (
        "quota-cpu-limit-below",
        {"tenants.0.quota.cpu_limit": "4"},
        'tenants[0].quota.cpu_limit: must be at least cpu (8) (got "4")',
    ),
    (
        "quota-memory-limit-below",
        {"tenants.0.quota.memory_limit": "16Gi"},
        'tenants[0].quota.memory_limit: must be at least memory (32Gi) (got "16Gi")',
    ),
    (
        "quota-gpu-without-gpu-hosts",
        {"nodes.3.keelson_node.gpus": 0},
        "tenants[0].quota.gpu: no host declares GPUs; set keelson_node.gpus in the GPU hosts' host_vars (got 1)",
    ),
    (
        "namespace-reserved",
        {"tenants.1.namespaces": ["kube-system"]},
        'tenants[1].namespaces[0]: reserved for Kubernetes or the platform itself (got "kube-system")',
    ),
    (
        "namespace-other-tenant",
        {"tenants.1.namespaces": ["nlp", "vision"]},
        'tenants[1].namespaces[1]: namespace belongs to another tenant; already used at tenants[0].namespaces[0] (got "vision")',
    ),
    ("namespace-none", {"tenants.1.namespaces": []}, "tenants[1].namespaces: must have at least 1 item (got [])"),
    (
        "namespace-repeated",
        {"tenants.1.namespaces": ["nlp", "nlp"]},
        'tenants[1].namespaces[1]: duplicate of tenants[1].namespaces[0] (got "nlp")',
    ),
    (
        "bucket-case",
        {"tenants.1.buckets": ["NLP"]},
        'tenants[1].buckets[0]: not a valid S3 bucket name: must be lowercase (got "NLP")',
    ),
    (
        "bucket-short",
        {"tenants.1.buckets": ["ab"]},
        'tenants[1].buckets[0]: must be 3 to 63 characters (2 given) (got "ab")',
    ),
    (
        "bucket-ip-like",
        {"tenants.1.buckets": ["192.168.1.1"]},
        'tenants[1].buckets[0]: not a valid S3 bucket name: must not look like an IP address (got "192.168.1.1")',
    ),
    (
        "bucket-global",
        {"tenants.1.buckets": ["vision-data"]},
        'tenants[1].buckets[0]: bucket names are global; already used at tenants[0].buckets[0] (got "vision-data")',
    ),
    (
        "bucket-platform-owned",
        {"tenants.1.buckets": ["weaviate-backups"]},
        'tenants[1].buckets[0]: bucket names are global; already used at components.weaviate.backup_bucket (got "weaviate-backups")',
    ),
    (
        "group-other-tenant",
        {"tenants.1.groups": {"edit": "vision-editors"}},
        'tenants[1].groups.edit: a group holds one role in one tenant; already used at tenants[0].groups.edit (got "vision-editors")',
    ),
    (
        "group-two-roles",
        {"tenants.1.groups": {"admin": "nlp-team", "edit": "nlp-team"}},
        'tenants[1].groups.edit: a group holds one role in one tenant; already used at tenants[1].groups.admin (got "nlp-team")',
    ),
    (
        "group-platform-admins",
        {"tenants.1.groups": {"view": "platform-admins"}},
        'tenants[1].groups.view: a group holds one role in one tenant; already used at identity.admins_group (got "platform-admins")',
    ),
    (
        # A view group named like nlp's S3 user's policy would read nlp's buckets (issue 9, item 7).
        "group-minio-user-policy",
        {"tenants.0.groups": {"view": "user-tenant-nlp"}},
        "tenants[0].groups.view: MinIO gives a group the policy of its name, and names starting with 'user-' are "
        "keelson's service users' policies (a tenant's S3 user): rename the group (got \"user-tenant-nlp\")",
    ),
    (
        "group-minio-builtin-policy",
        {"identity.admins_group": "consoleAdmin"},
        "identity.admins_group: MinIO gives a group the policy of its name, and this is one of MinIO's built-in policies: "
        'rename the group (got "consoleAdmin")',
    ),
    (
        "group-syntax",
        {"tenants.1.groups": {"view": "nlp viewers"}},
        "tenants[1].groups.view: must be letters, digits, '.', '_' and '-', starting with a letter or digit (got \"nlp viewers\")",
    ),
    (
        "tenant-objects-collide",
        {"tenants.0.name": "forecasting", "tenants.0.buckets": [], "tenants.1.name": "forecasting-apps"},
        "tenants[1].name: keelson names the GitOps objects of tenants forecasting and forecasting-apps alike "
        "(tenant-forecasting-apps, at tenants[0]); a tenant name must not be another tenant's name plus -apps; "
        'choose another name (got "forecasting-apps")',
    ),
    (
        "tenant-objects-collide-listed-first",
        {"tenants.0.name": "nlp-apps", "tenants.0.buckets": []},
        "tenants[1].name: keelson names the GitOps objects of tenants nlp-apps and nlp alike "
        "(tenant-nlp-apps, at tenants[0]); a tenant name must not be another tenant's name plus -apps; "
        'choose another name (got "nlp")',
    ),
    (
        "admins-group-is-the-backup-policy",
        {"identity": {"admins_group": "user-weaviate-backup"}},
        "identity.admins_group: MinIO gives a group the policy of its name, and names starting with 'user-' are "
        "keelson's service users' policies (a tenant's S3 user): rename the group (got \"user-weaviate-backup\")",
    ),
    (
        "tenant-weaviate-needs-weaviate",
        {"components": {"weaviate": {"enabled": False}}},
        "tenants[0].weaviate: needs components.weaviate.enabled (got true)",
    ),
    (
        "tenant-buckets-need-minio",
        {"components": {"minio": {"enabled": False}}},
        ["tenants[0].buckets: needs components.minio.enabled", "tenants[1].buckets: needs components.minio.enabled"],
    ),
    (
        "tenant-repo-embedded",
        {"tenants.1.repos": ["embedded"]},
        'tenants[1].repos[0]: a tenant repository must be an external URL (the embedded repository is the platform\'s) (got "embedded")',
    ),
    # --- gitops
    (
        "engine-typo",
        {"gitops": {"engine": "fluxcd"}},
        'gitops.engine: must be one of argocd, flux; did you mean "flux"? (got "fluxcd")',
    ),
    (
        "flux-options-with-argocd",
        {"gitops": {"flux": {"interval": "5m"}}},
        "gitops.flux: only valid with gitops.engine flux (engine is argocd)",
    ),
    (
        "argocd-options-with-flux",
        {"gitops": {"engine": "flux", "argocd": {"ha": True}}},
        "gitops.argocd: only valid with gitops.engine argocd (engine is flux)",
    ),
    (
        "flux-interval",
        {"gitops": {"engine": "flux", "flux": {"interval": "often"}}},
        'gitops.flux.interval: not a duration (a number and a unit: ms, s, m, h, d, w, y; e.g. 15d or 1h30m) (got "often")',
    ),
    (
        "repo-plain-http",
        {"gitops": {"repo": {"url": "http://git.example.internal/ml.git"}}},
        'gitops.repo.url: plain http is not allowed; use https:// or ssh (got "http://git.example.internal/ml.git")',
    ),
    (
        "repo-credentials",
        {"gitops": {"repo": {"url": "https://bot:s3cret@git.example.internal/ml.git"}}},
        'gitops.repo.url: must not carry credentials; keelson keeps them in the secrets backend (got "https://bot:s3cret@git.example.internal/ml.git")',
    ),
    (
        "repo-scheme",
        {"gitops": {"repo": {"url": "ftp://git.example.internal/ml.git"}}},
        'gitops.repo.url: must be embedded, an https:// URL, an ssh:// URL or user@host:path (got "ftp://git.example.internal/ml.git")',
    ),
    (
        "repo-no-path",
        {"gitops": {"repo": {"url": "https://git.example.internal/"}}},
        'gitops.repo.url: has no repository path (got "https://git.example.internal/")',
    ),
    (
        "repo-branch",
        {"gitops": {"repo": {"branch": "feature..x"}}},
        'gitops.repo.branch: not a valid git branch name (got "feature..x")',
    ),
    (
        "repo-path-up",
        {"gitops": {"repo": {"path": "../up"}}},
        "gitops.repo.path: must not contain empty, '.' or '..' parts (got \"../up\")",
    ),
    (
        "repo-ca-needs-https",
        {"gitops": {"repo": {"url": "git@git.example.internal:ml.git", "ca_cert": PEM}}},
        "gitops.repo.ca_cert: only valid with an https:// repository URL",
    ),
    (
        "repo-ca-not-pem",
        {"gitops": {"repo": {"url": "https://git.example.internal/ml.git", "ca_cert": "hello"}}},
        'gitops.repo.ca_cert: not a PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----) (got "hello")',
    ),
    # --- cluster
    ("k3s-version-not-in-catalog", {"cluster.k3s_version": "v1.30.0+k3s1"}, None),  # expected built below
    (
        "cidr-no-prefix",
        {"cluster.cluster_cidr": "10.42.0.0"},
        'cluster.cluster_cidr[0]: not a CIDR: write address/prefix, e.g. 10.42.0.0/16 (got "10.42.0.0")',
    ),
    (
        "cidr-host-bits",
        {"cluster.cluster_cidr": "10.42.0.1/16"},
        'cluster.cluster_cidr[0]: has host bits set; did you mean 10.42.0.0/16? (got "10.42.0.1/16")',
    ),
    (
        "cidr-overlap",
        {"cluster.service_cidr": "10.42.128.0/17"},
        'cluster.service_cidr[0]: overlaps cluster.cluster_cidr 10.42.0.0/16 (got "10.42.128.0/17")',
    ),
    (
        "cidr-one-per-family",
        {"cluster.cluster_cidr": ["10.42.0.0/16", "10.44.0.0/16"]},
        'cluster.cluster_cidr: give at most one network per IP family (got ["10.42.0.0/16", "10.44.0.0/16"])',
    ),
    (
        "cidr-families-match",
        {"cluster.cluster_cidr": "10.42.0.0/16,fd00:42::/56"},
        "cluster.service_cidr: must have the same IP families as cluster.cluster_cidr",
    ),
    ("vip-syntax", {"cluster.api_vip": "192.168.10.300"}, 'cluster.api_vip: not an IP address (got "192.168.10.300")'),
    (
        "vip-is-a-host",
        {"cluster.api_vip": "192.168.10.11"},
        'cluster.api_vip: is the address of host server-1; the VIP must be a free address (got "192.168.10.11")',
    ),
    (
        "host-inside-pod-network",
        {"nodes.3.address": "10.42.0.5"},
        'hostvars["gpu-1"].ansible_host: lies inside cluster.cluster_cidr 10.42.0.0/16 (got "10.42.0.5")',
    ),
    (
        "disable-typo",
        {"cluster.disable": ["traefk"]},
        'cluster.disable[0]: must be one of coredns, servicelb, traefik, local-storage, metrics-server; did you mean "traefik"? (got "traefk")',
    ),
    (
        "api-names",
        {"cluster.api_names": ["bad name"]},
        'cluster.api_names[0]: not a DNS name or IP address (got "bad name")',
    ),
    (
        "registry-mirror-key",
        {"cluster.registries": {"mirrors": {"not a host": {"endpoints": ["https://m.example.internal"]}}}},
        'cluster.registries.mirrors["not a host"]: not a registry host (e.g. docker.io, registry.example.com:5000, or * for every registry) (got "not a host")',
    ),
    (
        "registry-mirror-endpoint",
        {"cluster.registries": {"mirrors": {"docker.io": {"endpoints": ["mirror.local"]}}}},
        'cluster.registries.mirrors["docker.io"].endpoints[0]: not an http(s) URL (got "mirror.local")',
    ),
    (
        "s3-endpoint-with-scheme",
        {"cluster.etcd_snapshots": {"s3": {**S3_SNAPSHOTS, "endpoint": "https://s3.example.internal"}}},
        "cluster.etcd_snapshots.s3.endpoint: give host[:port] only (s3.example.com, 10.0.0.5:9000): no scheme "
        '(etcd_snapshots.s3.insecure chooses http) and no path (got "https://s3.example.internal")',
    ),
    (
        "s3-endpoint-bad-port",
        {"cluster.etcd_snapshots": {"s3": {**S3_SNAPSHOTS, "endpoint": "s3.example.internal:99999"}}},
        'cluster.etcd_snapshots.s3.endpoint: has an invalid port (got "s3.example.internal:99999")',
    ),
    (
        "s3-bucket-upper",
        {"cluster.etcd_snapshots": {"s3": {**S3_SNAPSHOTS, "bucket": "Etcd"}}},
        'cluster.etcd_snapshots.s3.bucket: not a valid S3 bucket name: must be lowercase (got "Etcd")',
    ),
    (
        "s3-key-is-the-cluster-token",
        {"cluster.etcd_snapshots": {"s3": {**S3_SNAPSHOTS, "secret_key_secret": "k3s-token"}}},
        "cluster.etcd_snapshots.s3.secret_key_secret: names a credential keelson generates for the platform (the cluster "
        "token, a component's or a tenant's); store the S3 key under a name of its own, e.g. etcd-s3-access-key "
        '(got "k3s-token")',
    ),
    (
        "s3-key-is-a-token-a-rotation-kept",
        {"cluster.etcd_snapshots": {"s3": {**S3_SNAPSHOTS, "access_key_secret": "k3s-token.next-0123456789ab"}}},
        "cluster.etcd_snapshots.s3.access_key_secret: names a credential keelson generates for the platform (the cluster "
        "token, a component's or a tenant's); store the S3 key under a name of its own, e.g. etcd-s3-access-key "
        '(got "k3s-token.next-0123456789ab")',
    ),
    (
        "s3-same-key-twice",
        {"cluster.etcd_snapshots": {"s3": {**S3_SNAPSHOTS, "secret_key_secret": "etcd-s3-access-key"}}},
        "cluster.etcd_snapshots.s3.secret_key_secret: is the same key as access_key_secret; the two are different "
        'values (got "etcd-s3-access-key")',
    ),
    (
        "s3-insecure-with-ca",
        {"cluster.etcd_snapshots": {"s3": {**S3_SNAPSHOTS, "insecure": True, "ca_cert": PEM}}},
        "cluster.etcd_snapshots.s3.ca_cert: is set with insecure: true; plain http uses no CA: drop one of them",
    ),
    (
        "s3-needs-its-keys",
        {"cluster.etcd_snapshots": {"s3": {"endpoint": "s3.example.internal", "bucket": "etcd"}}},
        ["cluster.etcd_snapshots.s3.access_key_secret: required", "cluster.etcd_snapshots.s3.secret_key_secret: required"],
    ),
    (
        "registry-password-needs-user",
        {"cluster.registries": {"configs": {"reg.example.internal": {"password_secret": "reg"}}}},
        'cluster.registries.configs["reg.example.internal"].username: required with password_secret',
    ),
    (
        "registry-password-is-the-cluster-token",
        {"cluster.registries": {"configs": {"reg.example.internal": {"username": "u", "password_secret": "k3s-token"}}}},
        'cluster.registries.configs["reg.example.internal"].password_secret: names a credential keelson generates for the '
        "platform (the cluster token, a component's or a tenant's); it would be written into every host's registries.yaml; "
        'store the registry password under a name of its own, e.g. registry-<host> (got "k3s-token")',
    ),
    (
        "registry-password-is-a-component-credential",
        {"cluster.registries": {"configs": {"reg.example.internal": {"username": "u", "password_secret": "minio-root-password"}}}},
        'cluster.registries.configs["reg.example.internal"].password_secret: names a credential keelson generates for the '
        "platform (the cluster token, a component's or a tenant's); it would be written into every host's registries.yaml; "
        'store the registry password under a name of its own, e.g. registry-<host> (got "minio-root-password")',
    ),
    (
        "airgap-relative",
        {"cluster.airgap_source": "airgap/"},
        'cluster.airgap_source: must be an absolute path on the controller or an http(s) URL (got "airgap/")',
    ),
    ("hardening-bool", {"cluster.hardening": "yes"}, 'cluster.hardening: must be true or false (got "yes")'),
    # --- components
    (
        "sealed-secrets-needed",
        {"components": {"sealed_secrets": {"enabled": False}}},
        [
            f"components.{name}.enabled: needs components.sealed_secrets (its credentials reach Git only sealed)"
            for name in ("cert_manager", "monitoring", "minio", "keycloak", "mlflow", "weaviate", "argo_workflows")
        ],
    ),
    (
        "acme-needs-email",
        {"components": {"cert_manager": {"issuer": "acme"}}},
        "components.cert_manager.acme_email: required with issuer acme",
    ),
    (
        "acme-email-only-with-acme",
        {"components": {"cert_manager": {"acme_email": "ops@example.com"}}},
        'components.cert_manager.acme_email: only valid with issuer acme (got "ops@example.com")',
    ),
    (
        "minio-replicas",
        {"components": {"minio": {"replicas": 2}}},
        "components.minio.replicas: must be 1 (standalone) or at least 4 (distributed mode needs 4 drives for erasure coding) (got 2)",
    ),
    (
        "minio-storage",
        {"components": {"minio": {"storage": "lots"}}},
        'components.minio.storage: not a Kubernetes quantity (got "lots")',
    ),
    (
        "ingress-host-twice",
        {"components": {"weaviate": {"host": "minio.ml.example.internal"}}},
        'components.weaviate.host: ingress host used twice; already used at components.minio.host (got "minio.ml.example.internal")',
    ),
    (
        "weaviate-backups-need-minio",
        {
            "components": {"minio": {"enabled": False}, "weaviate": {"backup_bucket": "wv-backups"}},
            "tenants.0.buckets": [],
            "tenants.1.buckets": [],
        },
        'components.weaviate.backup_bucket: needs components.minio.enabled (backups go to MinIO); set null to turn backups off (got "wv-backups")',
    ),
    (
        "etcd-snapshots-minio-needs-minio",
        {
            "components": {"minio": {"enabled": False}},
            "cluster.etcd_snapshots": {"minio_bucket": "etcd-snapshots"},
            "tenants.0.buckets": [],
            "tenants.1.buckets": [],
        },
        "cluster.etcd_snapshots.minio_bucket: needs components.minio.enabled (the platform's MinIO holds the bucket); set "
        'null, or use cluster.etcd_snapshots.s3 for an S3 outside the cluster (got "etcd-snapshots")',
    ),
    (
        "etcd-snapshots-minio-and-s3",
        {"cluster.etcd_snapshots": {"s3": S3_SNAPSHOTS, "minio_bucket": "etcd-snapshots"}},
        "cluster.etcd_snapshots.minio_bucket: is set with cluster.etcd_snapshots.s3: k3s copies snapshots to one bucket; "
        'drop one of them (got "etcd-snapshots")',
    ),
    (
        "etcd-snapshots-minio-bucket-is-a-tenants",
        {"cluster.etcd_snapshots": {"minio_bucket": "vision-data"}},
        'tenants[0].buckets[0]: bucket names are global; already used at cluster.etcd_snapshots.minio_bucket (got "vision-data")',
    ),
    (
        "etcd-snapshots-minio-bucket-is-weaviates",
        {"cluster.etcd_snapshots": {"minio_bucket": "weaviate-backups"}},
        "cluster.etcd_snapshots.minio_bucket: bucket names are global; already used at components.weaviate.backup_bucket "
        '(got "weaviate-backups")',
    ),
    (
        "etcd-snapshots-minio-bucket-name",
        {"cluster.etcd_snapshots": {"minio_bucket": "Etcd"}},
        'cluster.etcd_snapshots.minio_bucket: not a valid S3 bucket name: must be lowercase (got "Etcd")',
    ),
    (
        "minio-storage-zero",
        {"components": {"minio": {"storage": "0"}}},
        'components.minio.storage: must be more than 0: a volume of size 0 cannot be provisioned and holds nothing (got "0")',
    ),
    (
        "volumes-zero-any-spelling",
        {"components": {"weaviate": {"storage": 0}, "monitoring": {"prometheus_storage": "0Gi"}}},
        [
            'components.monitoring.prometheus_storage: must be more than 0: a volume of size 0 cannot be provisioned and holds nothing (got "0Gi")',
            'components.weaviate.storage: must be more than 0: a volume of size 0 cannot be provisioned and holds nothing (got "0")',
        ],
    ),
    (
        "retention",
        {"components": {"monitoring": {"retention": "15 days"}}},
        'components.monitoring.retention: not a duration (a number and a unit: ms, s, m, h, d, w, y; e.g. 15d or 1h30m) (got "15 days")',
    ),
    # --- identity and secrets
    (
        "realm-syntax",
        {"identity": {"realm": "ML Realm"}},
        "identity.realm: not a DNS-1123 label: use lowercase letters, digits and '-', starting and ending with a letter or digit (got \"ML Realm\")",
    ),
    (
        "realm-master",
        {"identity": {"realm": "master"}},
        "identity.realm: master is Keycloak's own administration realm; the platform's realm must be another "
        '(set identity.realm, it defaults to the platform name) (got "master")',
    ),
    (
        "realm-master-from-name",
        {"name": "master"},
        "identity.realm: master is Keycloak's own administration realm; the platform's realm must be another "
        '(set identity.realm, it defaults to the platform name) (got "master")',
    ),
    (
        "backend-typo",
        {"secrets": {"backend": "vault"}},
        'secrets.backend: must be one of vault_file, hashicorp_vault; did you mean "vault_file"? (got "vault")',
    ),
    (
        "vault-settings-with-file-backend",
        {"secrets": {"hashicorp_vault": {"url": "https://vault.example.internal"}}},
        "secrets.hashicorp_vault: only valid with secrets.backend hashicorp_vault (backend is vault_file)",
    ),
    ("vault-url-required", {"secrets": {"backend": "hashicorp_vault"}}, "secrets.hashicorp_vault.url: required"),
    (
        "approle-needs-role-id",
        {
            "secrets": {
                "backend": "hashicorp_vault",
                "hashicorp_vault": {"url": "https://v.example.internal", "auth_method": "approle"},
            }
        },
        "secrets.hashicorp_vault.role_id: required with auth_method approle",
    ),
    (
        "role-id-only-with-approle",
        {
            "secrets": {
                "backend": "hashicorp_vault",
                "hashicorp_vault": {"url": "https://v.example.internal", "role_id": "abc"},
            }
        },
        'secrets.hashicorp_vault.role_id: only valid with auth_method approle (got "abc")',
    ),
    (
        "vault-mount",
        {
            "secrets": {
                "backend": "hashicorp_vault",
                "hashicorp_vault": {"url": "https://v.example.internal", "mount": "/kv/"},
            }
        },
        "secrets.hashicorp_vault.mount: use '/'-separated parts of letters, digits, '.', '_' and '-' (no leading or trailing /) (got \"/kv/\")",
    ),
    # --- inventory
    (
        "no-servers",
        {"nodes": [node for node in copy.deepcopy(BASE_NODES) if node["role"] == "agent"]},
        "inventory: no hosts in group keelson_servers; keelson needs at least one server",
    ),
    (
        "two-servers",
        {"nodes.2.role": "agent"},
        "inventory: 2 servers in keelson_servers: etcd needs both for quorum, so the cluster stops when either fails "
        "(twice as likely as with 1); use 1 or 3",
    ),
    (
        "host-in-both-groups",
        {"nodes.4": {"host": "server-1", "role": "agent", "address": "192.168.10.11", "keelson_node": None}},
        'hostvars["server-1"]: is in both keelson_servers and keelson_agents; a host is a server or an agent',
    ),
    (
        "label-reserved-prefix",
        {"nodes.3.keelson_node.labels": {"node-role.kubernetes.io/gpu": "true"}},
        'hostvars["gpu-1"].keelson_node.labels["node-role.kubernetes.io/gpu"]: the kubelet may not set labels under '
        "kubernetes.io or k8s.io (NodeRestriction); use a prefix of your own, e.g. example.com/role "
        '(got "node-role.kubernetes.io/gpu")',
    ),
    (
        "same-address",
        {"nodes.3.address": "192.168.10.11"},
        'hostvars["gpu-1"].ansible_host: same address as hostvars["server-1"].ansible_host; two inventory hosts would be '
        'one machine (and one k3s node twice) (got "192.168.10.11")',
    ),
    (
        "same-address-other-spelling",
        {"nodes.3.address": "Server-1.example.internal", "nodes.0.address": "server-1.example.internal"},
        'hostvars["gpu-1"].ansible_host: same address as hostvars["server-1"].ansible_host; two inventory hosts would be '
        'one machine (and one k3s node twice) (got "Server-1.example.internal")',
    ),
    (
        "ansible-host-not-an-address",
        {"nodes.3.address": "gpu 1; rm -rf /"},
        'hostvars["gpu-1"].ansible_host: not a host name or IP address (ansible_host, or the inventory hostname when '
        'that is unset) (got "gpu 1; rm -rf /")',
    ),
    (
        "ansible-host-url",
        {"nodes.3.address": "ssh://192.168.10.21"},
        'hostvars["gpu-1"].ansible_host: not a host name or IP address (ansible_host, or the inventory hostname when '
        'that is unset) (got "ssh://192.168.10.21")',
    ),
    (
        "gpus-negative",
        {"nodes.3.keelson_node.gpus": -1},
        'hostvars["gpu-1"].keelson_node.gpus: must be a non-negative integer (got -1)',
    ),
    (
        "gpus-word",
        {"nodes.3.keelson_node.gpus": "two"},
        'hostvars["gpu-1"].keelson_node.gpus: must be a non-negative integer (got "two")',
    ),
    (
        "label-kubelet-owned-hostname",
        {"nodes.3.keelson_node.labels": {"kubernetes.io/hostname": "gpu"}},
        'hostvars["gpu-1"].keelson_node.labels["kubernetes.io/hostname"]: the kubelet sets this label itself from the '
        'machine; leave it out (got "kubernetes.io/hostname")',
    ),
    (
        "label-kubelet-owned-arch",
        {"nodes.3.keelson_node.labels": {"beta.kubernetes.io/arch": "arm64"}},
        'hostvars["gpu-1"].keelson_node.labels["beta.kubernetes.io/arch"]: the kubelet sets this label itself from the '
        'machine; leave it out (got "beta.kubernetes.io/arch")',
    ),
    (
        "label-kubernetes-io",
        {"nodes.3.keelson_node.labels": {"kubernetes.io/role": "gpu"}},
        'hostvars["gpu-1"].keelson_node.labels["kubernetes.io/role"]: the kubelet may not set labels under '
        "kubernetes.io or k8s.io (NodeRestriction); use a prefix of your own, e.g. example.com/role "
        '(got "kubernetes.io/role")',
    ),
    (
        "label-node-role-control-plane",
        {"nodes.0.keelson_node": {"labels": {"node-role.kubernetes.io/control-plane": "true"}}},
        'hostvars["server-1"].keelson_node.labels["node-role.kubernetes.io/control-plane"]: the kubelet may not set labels under '
        "kubernetes.io or k8s.io (NodeRestriction); use a prefix of your own, e.g. example.com/role "
        '(got "node-role.kubernetes.io/control-plane")',
    ),
    (
        "taint-effect",
        {"nodes.3.keelson_node.taints": ["gpu=true:NoRun"]},
        'hostvars["gpu-1"].keelson_node.taints[0]: not a taint: the effect must be one of NoSchedule, PreferNoSchedule, NoExecute (got "gpu=true:NoRun")',
    ),
    (
        "node-name-from-bad-hostname",
        {"nodes.3.host": "GPU_1"},
        'hostvars["GPU_1"].keelson_node.name: the inventory hostname is not a valid Kubernetes node name '
        '(must be lowercase (a DNS-1123 subdomain)); set keelson_node.name (got "GPU_1")',
    ),
    (
        "node-name-twice",
        {"nodes.3.keelson_node.name": "server-1"},
        'hostvars["gpu-1"].keelson_node.name: node name used twice; already used at hostvars["server-1"].keelson_node.name (got "server-1")',
    ),
    (
        "node-var-typo",
        {"nodes.3.keelson_node.gpu": 2},
        'hostvars["gpu-1"].keelson_node.gpu: unknown key; did you mean "gpus"?',
    ),
    (
        "spec-differs-between-hosts",
        {"nodes.1.spec_differs": True},
        'hostvars["server-2"].keelson_platform: differs from what the other hosts see; define keelson_platform once (group_vars/all)',
    ),
]


def _errors(spec: Any, nodes: Any) -> list[str]:
    with pytest.raises(SpecError) as caught:
        validate_platform(spec, nodes)
    return [str(problem) for problem in caught.value.problems]


def test_base_is_valid_without_warnings() -> None:
    result = validate_platform(copy.deepcopy(BASE_SPEC), copy.deepcopy(BASE_NODES))
    assert result.warnings == []


def test_table_is_large_and_ids_unique() -> None:
    ids = [case[0] for case in BAD]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 40


@pytest.mark.parametrize(("changes", "expected"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_spec_reports_exact_error(changes: dict[str, Any], expected: Any) -> None:
    if expected is None:  # k3s-version-not-in-catalog: the known list comes from the catalog
        expected = f'cluster.k3s_version: not in the version catalog (known: {", ".join(k3s_versions())}) (got "v1.30.0+k3s1")'
    spec, nodes = variant(changes)
    assert _errors(spec, nodes) == (expected if isinstance(expected, list) else [expected])


def test_several_faults_are_all_reported_in_one_run() -> None:
    spec, nodes = variant(
        {
            "name": "ML",
            "domian": "typo",
            "tenants.1.quota": {"memory": "12GBs", "gpu": "two"},
            "tenants.1.buckets": ["vision-data"],
            "gitops": {"engine": "fluxcd"},
            "cluster.service_cidr": "10.42.0.0/24",
            "components": {"minio": {"replicas": 3}},
            "nodes.3.keelson_node.taints": ["bad"],
        }
    )
    errors = _errors(spec, nodes)
    assert sorted(errors) == sorted(
        [
            'name: must be lowercase (a DNS-1123 label) (got "ML")',
            'domian: unknown key; did you mean "domain"?',
            'tenants[1].quota.memory: not a Kubernetes quantity (got "12GBs")',
            'tenants[1].quota.gpu: must be a non-negative integer (got "two")',
            'tenants[1].buckets[0]: bucket names are global; already used at tenants[0].buckets[0] (got "vision-data")',
            'gitops.engine: must be one of argocd, flux; did you mean "flux"? (got "fluxcd")',
            'cluster.service_cidr[0]: overlaps cluster.cluster_cidr 10.42.0.0/16 (got "10.42.0.0/24")',
            "components.minio.replicas: must be 1 (standalone) or at least 4 (distributed mode needs 4 drives for erasure coding) (got 3)",
            'hostvars["gpu-1"].keelson_node.taints[0]: not a taint: write key=value:Effect or key:Effect (got "bad")',
        ]
    )


def test_error_message_lists_every_problem() -> None:
    spec, nodes = variant({"name": DELETE, "domain": DELETE})
    with pytest.raises(SpecError) as caught:
        validate_platform(spec, nodes)
    assert str(caught.value) == "the keelson platform spec is invalid (2 problems):\n  - name: required\n  - domain: required"


# ------------------------------------------------------------------------------------------- warnings

WARNINGS: list[tuple[str, dict[str, Any], str]] = [
    (
        "s3-insecure",
        {"cluster.etcd_snapshots": {"s3": {**S3_SNAPSHOTS, "insecure": True}}},
        "cluster.etcd_snapshots.s3.insecure: plain http: the S3 keys and the cluster's snapshots travel unencrypted",
    ),
    (
        "even-servers",
        {"nodes.4": {"host": "server-4", "role": "server", "address": "192.168.10.14", "keelson_node": None}},
        "inventory: 4 servers in keelson_servers tolerate no more failures than 3 do (etcd quorum); use an odd number",
    ),
    (
        "ha-without-vip",
        {"cluster.api_vip": None},
        "cluster.api_vip: 3 servers but no API VIP: agents and the kubeconfig use the first server (server-1) "
        "and lose the API when it is down",
    ),
    (
        "host-outside-domain",
        {"components": {"keycloak": {"host": "sso.example.com"}}},
        'components.keycloak.host: is not under the platform domain ml.example.internal (got "sso.example.com")',
    ),
    (
        "traefik-disabled",
        {"cluster.disable": ["traefik"]},
        "cluster.disable: traefik is disabled but components have ingress hosts; bring your own ingress controller",
    ),
    (
        "registry-tls-off",
        {"cluster.registries": {"configs": {"reg.example.internal": {"insecure_skip_verify": True}}}},
        'cluster.registries.configs["reg.example.internal"].insecure_skip_verify: TLS verification is off for this registry',
    ),
    (
        "vault-plain-http",
        {"secrets": {"backend": "hashicorp_vault", "hashicorp_vault": {"url": "http://vault.example.internal:8200"}}},
        'secrets.hashicorp_vault.url: plain http: Vault tokens and secrets travel unencrypted (got "http://vault.example.internal:8200")',
    ),
    (
        "servicelb-disabled-no-load-balancer",
        {"cluster.disable": ["servicelb"]},
        "cluster.disable: servicelb is disabled and nothing else keelson installs gives LoadBalancer Services an address: "
        "Traefik gets none, so no ingress host (nor the OIDC issuer) is reachable; keep servicelb, or install a load "
        "balancer of your own (e.g. MetalLB) before the platform",
    ),
]


@pytest.mark.parametrize(("changes", "expected"), [case[1:] for case in WARNINGS], ids=[case[0] for case in WARNINGS])
def test_warnings_do_not_fail(changes: dict[str, Any], expected: str) -> None:
    spec, nodes = variant(changes)
    assert validate_platform(spec, nodes).warnings == [expected]


# -------------------------------------------------------------------------------- defaults and shape


def test_defaults_are_filled_and_derived() -> None:
    result = validate_platform({"name": "ml", "domain": "ml.example.internal", "tenants": [{"name": "cv"}]}, None)
    spec = result.spec
    assert spec["cluster"]["cluster_cidr"] == ["10.42.0.0/16"]
    assert spec["gitops"]["argocd"] == {"host": "argocd.ml.example.internal", "ha": False}
    assert spec["gitops"]["flux"] is None
    assert spec["components"]["minio"]["host"] == "minio.ml.example.internal"
    assert spec["components"]["weaviate"]["backup_bucket"] == "weaviate-backups"
    assert spec["identity"]["realm"] == "ml"
    assert spec["secrets"] == {
        "backend": "vault_file",
        "vault_file": {"path": ".keelson-secrets.vault.yml"},
        "hashicorp_vault": None,
    }
    tenant = spec["tenants"][0]
    assert tenant["namespaces"] == ["cv"]
    assert tenant["groups"] == {"admin": "cv-admins", "edit": "cv-editors", "view": "cv-viewers"}
    assert (tenant["quota"]["cpu_limit"], tenant["quota"]["memory_limit"]) == (
        tenant["quota"]["cpu"],
        tenant["quota"]["memory"],
    )
    assert result.nodes is None


def test_engine_and_backend_options_follow_the_choice() -> None:
    spec = validate_platform(
        {
            "name": "ml",
            "domain": "ml.example.internal",
            "gitops": {"engine": "flux"},
            "secrets": {"backend": "hashicorp_vault", "hashicorp_vault": {"url": "https://vault.example.internal"}},
        }
    ).spec
    assert spec["gitops"]["argocd"] is None
    assert spec["gitops"]["flux"] == {"interval": "10m"}
    assert spec["secrets"]["vault_file"] is None
    assert spec["secrets"]["hashicorp_vault"]["path"] == "keelson/ml"


def test_explicit_null_turns_weaviate_backups_off() -> None:
    spec = validate_platform({"name": "ml", "domain": "ml.example.internal", "components": {"weaviate": {"backup_bucket": None}}}).spec
    assert spec["components"]["weaviate"]["backup_bucket"] is None


def test_scalars_are_normalised() -> None:
    spec, nodes = variant(
        {
            "tenants.0.quota.cpu": 8,
            "tenants.0.quota.pods": "40",
            "cluster.cluster_cidr": "10.42.0.0/16, fd00:42::/56",
            "cluster.service_cidr": "10.43.0.0/16,fd00:43::/112",
            "gitops": {"repo": {"path": "./clusters/ml-prod/"}},
            "nodes.3.keelson_node.labels": {"example.com/rack": 7, "example.com/gpu": True},
        }
    )
    result = validate_platform(spec, nodes)
    assert result.spec["tenants"][0]["quota"]["cpu"] == "8"
    assert result.spec["tenants"][0]["quota"]["pods"] == 40
    assert result.spec["cluster"]["cluster_cidr"] == ["10.42.0.0/16", "fd00:42::/56"]
    assert result.spec["gitops"]["repo"]["path"] == "clusters/ml-prod"
    assert result.nodes is not None
    assert result.nodes[3]["labels"] == {"example.com/rack": "7", "example.com/gpu": "true"}


def test_input_is_not_modified() -> None:
    spec, nodes = variant({})
    before = copy.deepcopy((spec, nodes))
    validate_platform(spec, nodes)
    assert (spec, nodes) == before


def _inventory_spec(repo: Path, name: str) -> dict[str, Any]:
    data = yaml.safe_load((repo / "inventories" / name / "group_vars" / "all" / "keelson.yml").read_text())
    return data["keelson_platform"]  # type: ignore[no-any-return]


def _as_input(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = ("name", "labels", "taints", "gpus")
    return [{"host": n["host"], "role": n["role"], "address": n["address"], "keelson_node": {k: n[k] for k in keys}} for n in nodes]


@pytest.mark.parametrize("case", ["base", "local", "example-ha", "flux-vault", "everything-off"])
def test_normalising_a_normalised_spec_changes_nothing(case: str, repo: Path) -> None:
    nodes: Any = copy.deepcopy(BASE_NODES)
    if case == "base":
        spec: Any = copy.deepcopy(BASE_SPEC)
    elif case in ("local", "example-ha"):
        spec, nodes = _inventory_spec(repo, case), None
    elif case == "flux-vault":
        spec = {
            "name": "ml",
            "domain": "ml.example.internal",
            "gitops": {"engine": "flux", "repo": {"url": "https://git.example.internal/ml.git", "ca_cert": PEM}},
            "secrets": {
                "backend": "hashicorp_vault",
                "hashicorp_vault": {"url": "https://v.example.internal", "auth_method": "approle", "role_id": "r"},
            },
            "components": {"cert_manager": {"issuer": "acme", "acme_email": "ops@example.com"}},
        }
    else:
        off = {"enabled": False}
        spec = {
            "name": "ml",
            "domain": "ml.example.internal",
            "components": dict.fromkeys(
                ("cert_manager", "sealed_secrets", "minio", "weaviate", "monitoring", "keycloak", "mlflow", "kserve", "argo_workflows"), off
            ),
        }
    first = validate_platform(spec, nodes)
    second = validate_platform(copy.deepcopy(first.spec), None if first.nodes is None else _as_input(first.nodes))
    assert second.spec == first.spec
    assert second.nodes == first.nodes


def test_typed_model_matches_the_normalised_spec() -> None:
    result = validate_platform(copy.deepcopy(BASE_SPEC), copy.deepcopy(BASE_NODES))
    model = result.model()
    assert isinstance(model, PlatformSpec)
    assert isinstance(model.tenants[0].quota, Quota)
    assert model.tenants[0].quota.gpu == 1
    assert model.gitops.argocd is not None and model.gitops.argocd.host == "argocd.ml.example.internal"
    assert dataclasses.asdict(model) == result.spec
    assert [node.gpus for node in result.node_models()] == [0, 0, 0, 2]
