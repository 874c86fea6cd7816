# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a platform component declares, in one place (one file per component beside this one).

A component is a :class:`Unit`: its catalog entry and chart, namespace and Pod Security level, the components
it depends on (Argo CD sync waves and Flux ``dependsOn`` are derived from them), its settings in the spec, the
ingress hosts it claims, its chart values and extra manifests, the credentials it needs and the Secrets they
are sealed into, the OIDC client it wants in the realm, and the network policies a tenant's workloads need to
reach it. Everything else (reserved namespaces, realm clients, the credential list, tenant network policies,
sync order) is derived from the registry in ``__init__.py``.

Pure data and plain Python: the spec validator (a module, run through Ansiballz) imports the static parts.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Final, Generic, Optional, TypeVar

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._formats import check_domain
from ansible_collections.keelson.platform.plugins.module_utils._schema import DERIVED, Bool, Nullable, Quantity, Str, spec_field

if TYPE_CHECKING:  # pragma: no cover - types only
    from ansible_collections.keelson.platform.plugins.module_utils._spec_model import Tenant
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

S = TypeVar("S")

CLUSTER_ISSUER: Final = "keelson-platform-ca"
INGRESS_CLASS: Final = "traefik"
OCI: Final = "oci://"
# Pod Security levels (https://kubernetes.io/docs/concepts/security/pod-security-standards/).
PRIVILEGED: Final = "privileged"
BASELINE: Final = "baseline"
RESTRICTED: Final = "restricted"
# The platform CA (cert-manager's self-signed issuer): generated once by keelson, its certificate known at render
# time and written into every OIDC consumer's configuration, its private key only ever sealed.
PLATFORM_CA: Final = "platform-ca"  # the credential's name and kind
# The credentials no component owns: the hosts' cluster token, the GitOps repository's read-only deploy key (the
# controller's) and, for the embedded Git server, the key Ansible pushes with (hosts only, never sealed).
K3S_TOKEN: Final = "k3s-token"
DEPLOY_KEY: Final = "gitops-deploy-key"
WRITE_KEY: Final = "gitops-write-key"
# Not a credential: the embedded Git server's SSH host keys as known_hosts lines, pinned in the secrets backend at
# first contact (so every later run, the controller machine and the cluster trust exactly those keys).
KNOWN_HOSTS: Final = "gitops-known-hosts"
CA_SECRET: Final = "keelson-platform-ca"  # in a consumer's namespace: the certificate alone (Secret or ConfigMap), key CA_KEY
CA_KEY: Final = "ca.crt"
CERTIFICATE: Final = "certificate"  # Target.part: the certificate of a CA bundle
PRIVATE_KEY: Final = "private-key"  # Target.part: the private key of a CA bundle

Document = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class HostClaim:
    """An ingress host: a field of the unit's settings, defaulting to ``<prefix>.<domain>``."""

    field: str
    prefix: str
    what: str


@dataclasses.dataclass(frozen=True)
class Target:
    """One key of one Secret in the cluster. With ``join``, several credentials share the key, comma-separated
    in the order of the spec (Weaviate reads all tenants' API keys from one variable)."""

    namespace: str
    secret: str
    key: str
    join: bool = False
    part: str = ""  # one part of a bundle credential (``certificate`` of the platform CA); empty: the whole value


@dataclasses.dataclass(frozen=True)
class Credential:
    """A generated credential: created once in the secrets backend, sealed into its ``targets``."""

    name: str
    kind: str
    length: int
    why: str
    targets: tuple[Target, ...] = ()


@dataclasses.dataclass(frozen=True)
class OidcClient:
    """A client the component wants in the realm. ``secret``: where its consumer reads the client secret
    (None: a public client)."""

    client_id: str
    redirect_uris: tuple[str, ...]
    secret: Optional[Target] = None


@dataclasses.dataclass(frozen=True)
class Bucket:
    """A MinIO bucket a component needs, written by its own MinIO user (also its S3 access key) whose secret
    key MinIO reads from ``user_secret`` (key ``secretKey``) in its own namespace."""

    name: str
    user: str
    user_secret: str


@dataclasses.dataclass(frozen=True)
class Chart:
    repo: str
    name: str
    version: str

    @property
    def oci(self) -> bool:
        return self.repo.startswith(OCI)

    @property
    def repo_without_scheme(self) -> str:
        """The repository as Argo CD names an OCI registry (no ``oci://``)."""
        return self.repo[len(OCI) :] if self.oci else self.repo

    @property
    def oci_url(self) -> str:
        """The chart's own OCI reference (Flux's OCIRepository)."""
        return f"{self.repo}/{self.name}"


@dataclasses.dataclass(frozen=True)
class Network:
    """A component's traffic, from which its namespace's NetworkPolicies are derived. Every platform namespace
    denies both ways by default and allows DNS, its own namespace, Traefik in (a component with ingress hosts),
    Traefik out (a component that checks OIDC tokens at the issuer URL, which resolves to Traefik) and the
    platform's scraper in (``scraper`` of the monitoring component). Beyond that:

    - ``api``: egress to the Kubernetes API server (controllers, operators). The API server is no pod, so
      this is an ipBlock of the servers' addresses and the API VIP on 6443, and the ``kubernetes`` Service's
      address on 443 (where a CNI evaluates policies before the Service is resolved);
    - ``anywhere``: egress to any address (Git and chart sources, ACME, scraping every node and namespace);
    - ``to``: egress to other components, ``(unit name, TCP ports)``; their namespaces get the matching ingress;
    - ``webhooks``: TCP ports the API server calls (admission webhooks). The API server calls from the host
      network, which CNIs present with different source addresses, so these ports are open to every source;
    - ``tenant_ports``: TCP ports a tenant that uses the component (``Unit.used_by``) reaches it on, from
      that tenant's namespaces only;
    - ``scraper``: the pod labels of the platform's metrics scraper in this namespace, allowed into every
      platform namespace.
    """

    api: bool = False
    anywhere: bool = False
    to: tuple[tuple[str, tuple[int, ...]], ...] = ()
    webhooks: tuple[int, ...] = ()
    tenant_ports: tuple[int, ...] = ()
    scraper: Optional[dict[str, str]] = None


class Unit(Generic[S]):
    """One platform component. Subclasses set the class attributes and override what they render."""

    name: str  # the Argo CD Application / Flux HelmRelease name, and the folder under platform/
    catalog: str  # key in CATALOG["components"]
    namespace: str
    pod_security: str
    depends_on: tuple[str, ...] = ()  # names of components installed before this one
    settings_type: type[S]
    # Where the settings live in the spec: ("components", key), or the engine's section for its controller.
    settings_path: tuple[str, ...] = ()
    doc: str = ""
    hosts: tuple[HostClaim, ...] = ()
    holds_secrets: bool = False  # its credentials reach Git sealed: needs components.sealed_secrets
    # Other components that must be enabled with this one: (their key under components, why).
    requires: tuple[tuple[str, str], ...] = ()
    server_side_apply: bool = False  # large CRDs: too big for client-side apply's annotation
    controller: bool = False  # the GitOps controller itself (first, self-managed, never deletes itself)
    # The API groups of the custom resources its chart installs: an object of one of them is applied after it.
    crd_groups: tuple[str, ...] = ()
    # Kinds of a group another unit's chart also serves (``argoproj.io``: Argo CD and Argo Workflows): (group,
    # kinds) whose objects are applied after this unit rather than after the group's owner in ``crd_groups``.
    crd_kinds: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The API groups whose objects its admission webhooks default and validate (failing closed) where another
    # unit installs their CRDs: an object of one of them is applied after this unit too.
    webhook_groups: tuple[str, ...] = ()
    # (API group, resources) of those a tenant's admin and edit roles may write in the tenant's namespaces.
    tenant_resources: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # (API group, resources) of those a tenant's admin and edit roles may only read in the tenant's namespaces
    # (objects keelson renders from the tenant's Git folder: changed only through Git).
    tenant_reads: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Secrets the chart renders itself, with no value to turn them off, that the tree carries sealed instead
    # (a chart's random or lookup-made credential): the engine must keep the tree's copy, not the chart's.
    chart_secrets: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The unit's key under its settings path (``components.<key>``)."""
        return self.settings_path[-1] if self.settings_path else self.name

    @property
    def requirements(self) -> tuple[tuple[str, str], ...]:
        """(component key, the error when it is off) for every component this one cannot run without."""
        sealed = (("sealed_secrets", "needs components.sealed_secrets (its credentials reach Git only sealed)"),)
        return (*(sealed if self.holds_secrets else ()), *((key, f"needs components.{key}.enabled ({why})") for key, why in self.requires))

    @property
    def chart(self) -> Chart:
        entry = CATALOG["components"][self.catalog]["chart"]
        return Chart(entry["repo"], entry["name"], entry["version"])

    def settings(self, platform: Platform) -> S:
        """This unit's settings, typed."""
        section: Any = platform.spec
        for part in self.settings_path:
            section = getattr(section, part)
        return section  # type: ignore[no-any-return]

    def dependencies(self, platform: Platform) -> tuple[str, ...]:
        """The components this one needs first, for this platform (a subset of ``depends_on``)."""
        return self.depends_on

    def enabled(self, platform: Platform) -> bool:
        return bool(getattr(self.settings(platform), "enabled", True))

    def host(self, platform: Platform, field: str) -> str:
        return str(getattr(self.settings(platform), field))

    # What the component renders; the defaults render nothing.

    def values(self, platform: Platform) -> Document:
        """The chart's values where keelson differs from its defaults."""
        return {}

    def manifests(self, platform: Platform) -> list[Document]:
        """Objects beside the chart (issuers, ingresses, realm)."""
        return []

    def credentials(self, platform: Platform) -> list[Credential]:
        """The platform-wide credentials this component needs."""
        return []

    def tenant_credentials(self, platform: Platform, tenant: Tenant) -> list[Credential]:
        """The credentials a tenant gets from this component."""
        return []

    def plain(self, platform: Platform) -> dict[tuple[str, str], dict[str, str]]:
        """Settings that are not secret but belong in the same Secrets as the credentials."""
        return {}

    def secret_labels(self, platform: Platform) -> dict[tuple[str, str], dict[str, str]]:
        """Labels the consumer of a sealed Secret looks for."""
        return {}

    def oidc_client(self, platform: Platform) -> Optional[OidcClient]:
        return None

    def chart_pods(self, values: Document) -> Optional[list[tuple[str, Document]]]:
        """The pod specs the chart renders from ``values`` (its values.yaml with the unit's merged in, as Helm
        merges them), as far as Pod Security reads them: security contexts, host namespaces, host ports and
        volumes, each citing the template line it follows. None: the chart's pods are not modelled here."""
        return None

    def ca_secrets(self, platform: Platform) -> tuple[Target, ...]:
        """Secrets this component reads the platform CA's certificate from (a chart that mounts a file)."""
        return ()

    def buckets(self, platform: Platform) -> list[Bucket]:
        """MinIO buckets this component writes to, each with its own user (MinIO creates them)."""
        return []

    def secret_namespaces(self, platform: Platform) -> tuple[str, ...]:
        """Namespaces other than its own (and no tenant's) where this component's sealed Secrets go, rendered beside
        it: MinIO's etcd snapshot settings for k3s in kube-system."""
        return ()

    def tenant_manifests(self, platform: Platform, tenant: Tenant) -> list[Document]:
        """Objects this component renders for a tenant, in the tenant's namespaces only (the tenant's keelson
        folder, file ``<unit name>.yaml``): queues, accounts, artifact repositories. Cluster-scoped objects per
        tenant belong in :meth:`manifests`."""
        return []

    def namespace_labels(self, platform: Platform, tenant: Tenant) -> dict[str, str]:
        """Labels this component reads on each of the tenant's Namespace objects (Argo Workflows' parallelism
        limit). They may not be keelson's own (``keelson.dev/``) nor Pod Security's."""
        return {}

    def tenant_policies(self, platform: Platform, tenant: Tenant, namespace: str) -> list[Document]:
        """The NetworkPolicies a tenant's namespace needs to reach this component (or to be reached by it):
        by default, egress to its ``Network.tenant_ports`` when the tenant uses it."""
        ports = self.network(platform).tenant_ports
        return [egress_to(namespace, f"allow-to-{self.name}", self.namespace, ports)] if ports and self.used_by(tenant) else []

    def used_by(self, tenant: Tenant) -> bool:
        """Whether the tenant's workloads talk to this component (on its ``Network.tenant_ports``)."""
        return False

    def network(self, platform: Platform) -> Network:
        """What its pods talk to and what talks to them, beyond what every platform namespace allows (see
        :class:`Network`); the renderer derives its namespace's NetworkPolicies from this."""
        return Network()


# ------------------------------------------------------------------------------------ settings fields


def enabled_field() -> Any:
    return spec_field(Bool(), "Install this component.", default=True)


def host_field(claim: HostClaim) -> Any:
    return spec_field(
        Nullable(Str(check_domain, type_doc="hostname")),
        f"Ingress host of {claim.what}.",
        default=DERIVED,
        default_doc=f"`{claim.prefix}.<domain>`",
    )


def quantity_field(doc: str, default: str, example: str = "") -> Any:
    return spec_field(Quantity(), doc, default=default, example=example or None)


# --------------------------------------------------------------------------------------- helpers


def without(mapping: Document, key: str) -> Document:
    """``mapping`` without ``key`` (Helm's ``omit``)."""
    return {name: value for name, value in mapping.items() if name != key}


def ingress_annotations() -> dict[str, str]:
    return {"cert-manager.io/cluster-issuer": CLUSTER_ISSUER}


def chart_ingress(host: str, secret: str) -> Document:
    """The ingress values of the charts that take hosts and tls lists (MinIO's two, Grafana's)."""
    return {
        "enabled": True,
        "ingressClassName": INGRESS_CLASS,
        "annotations": ingress_annotations(),
        "hosts": [host],
        "tls": [{"secretName": secret, "hosts": [host]}],
    }


def ingress(name: str, namespace: str, host: str, service: str, port: int) -> Document:
    """A TLS ingress through k3s' Traefik, its certificate from the platform's issuer."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace, "annotations": ingress_annotations()},
        "spec": {
            "ingressClassName": INGRESS_CLASS,
            "tls": [{"hosts": [host], "secretName": f"{name}-tls"}],
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": service, "port": {"number": port}}}}]
                    },
                }
            ],
        },
    }


def network_policy(namespace: str, name: str, spec: Document) -> Document:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def namespace_selector(name: str) -> Document:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


# k3s' packaged DNS and ingress controller, in kube-system. Traefik's entry points listen on 8000 (web) and
# 8443 (websecure) in its pods (traefik-helm-chart values.yaml ports.web.port / ports.websecure.port).
DNS_PEER: Final = {**namespace_selector("kube-system"), "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
DNS_PORTS: Final = ({"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53})
TRAEFIK_PEER: Final = {**namespace_selector("kube-system"), "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}}}
TRAEFIK_PORTS: Final = (8000, 8443)


def tcp(ports: tuple[int, ...]) -> list[Document]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def egress_to(namespace: str, name: str, to_namespace: str, ports: tuple[int, ...]) -> Document:
    """Egress from every pod of ``namespace`` to ``to_namespace`` on the given TCP ports."""
    return network_policy(
        namespace,
        name,
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [namespace_selector(to_namespace)], "ports": tcp(ports)}],
        },
    )


def ca_config_map(platform: Platform, namespace: str) -> list[Document]:
    """The platform CA's certificate as a ConfigMap ``CA_SECRET`` (key ``CA_KEY``) in ``namespace``, for a chart
    that mounts a ConfigMap; nothing without a private CA."""
    if not platform.ca_certificate:
        return []
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": CA_SECRET, "namespace": namespace},
            "data": {CA_KEY: platform.ca_certificate},
        }
    ]


def ca_secret(namespace: str) -> Target:
    """Where a consumer in ``namespace`` reads the platform CA's certificate (see :meth:`Unit.ca_secrets`)."""
    return Target(namespace, CA_SECRET, CA_KEY, part=CERTIFICATE)


def s3_user(tenant: str) -> str:
    """A tenant's MinIO user, which is also its S3 access key."""
    return f"tenant-{tenant}"
