# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Argo Workflows (argo-helm chart argo-workflows, v4.0.6): one controller for every tenant namespace, and the
server with SSO through Keycloak whose permissions are delegated to the tenant's namespaces.

People log in to the server through Keycloak. Argo's SSO RBAC maps a login to a service account by the
``workflows.argoproj.io/rbac-rule`` annotations of the accounts in the server's namespace (where keelson keeps one
fallback account with no permission) and, with ``SSO_DELEGATE_RBAC_TO_NAMESPACE``, of the accounts in the
namespace a request names: each tenant namespace holds one account per tenant role, matched by the tenant's own
Keycloak group and bound to the tenant's role there, so a tenant's groups act only in its namespaces. Per tenant:
the executor's account and Role in each namespace, the artifact repository (its first bucket, its S3 Secret) in its
first namespace, and the parallelism limit on its Namespace objects.

Chart templates cited below: argoproj/argo-helm tag argo-workflows-1.0.18, charts/argo-workflows/templates; the
controller's and server's behaviour: argoproj/argo-workflows tag v4.0.6."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils import _ml
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import (
    CA_KEY,
    CA_SECRET,
    RESTRICTED,
    Document,
    HostClaim,
    Network,
    OidcClient,
    Target,
    Unit,
    ca_secret,
    chart_ingress,
    enabled_field,
    host_field,
    network_policy,
)
from ansible_collections.keelson.platform.plugins.module_utils._components.minio import TENANT_SECRET, s3_address
from ansible_collections.keelson.platform.plugins.module_utils._tenancy import TENANT_ROLES

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.module_utils._spec_model import Tenant
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

HOST: Final = HostClaim("host", "workflows", "the Argo Workflows server")
NAMESPACE: Final = "argo"
GROUP: Final = "argoproj.io"
# The kinds of argoproj.io that the argo-workflows chart's CRDs serve (files/crds/*); Argo CD serves the others.
KINDS: Final = (
    "Workflow",
    "WorkflowTemplate",
    "ClusterWorkflowTemplate",
    "CronWorkflow",
    "WorkflowEventBinding",
    "WorkflowTaskResult",
    "WorkflowTaskSet",
    "WorkflowArtifactGCTask",
)
# What a tenant's admin and edit roles write in its namespaces: its pipelines, their templates and schedules, and
# event bindings (a WorkflowEventBinding starts one of the tenant's templates when the server's events endpoint,
# /api/v1/events/<namespace>/, receives a matching event from a caller the server lets in: with SSO only, a
# person's SSO token, `argo auth token`, server/auth/mode.go; no machine token). The executor's own kinds
# (task results, task sets, artifact GC tasks) stay the controller's; Argo CD's kinds of the group stay Argo CD's.
TENANT_KINDS: Final = ("workflows", "workflowtemplates", "cronworkflows", "workfloweventbindings")
# The chart's release is the unit's name, which contains the chart's, so its fullname is the release name
# (_helpers.tpl "argo-workflows.fullname"); the server's Service is <fullname>-server on port 2746
# (server/server-service.yaml, values server.servicePort).
SERVER_SERVICE: Final = "argo-workflows-server"
SERVER_PORT: Final = 2746
# The Secret the server reads its OIDC client from: the chart's default names (values server.sso.clientId and
# server.sso.clientSecret: argo-server-sso, keys client-id and client-secret).
SSO_SECRET: Final = Target(NAMESPACE, "argo-server-sso", "client-secret")
SSO_CLIENT_ID_KEY: Final = "client-id"
CLIENT_ID: Final = "argo-workflows"
# The argo-server reads the issuer with Go's TLS roots: SSL_CERT_DIR adds this folder (the platform CA's Secret)
# to them, and Go still reads the image's own bundle file (crypto/x509 root_unix.go).
CA_DIR: Final = "/etc/keelson/ca"
# Argo Workflows' annotations (workflow/common/common.go at v4.0.6, lines 37-39 and 63-64).
RBAC_RULE: Final = "workflows.argoproj.io/rbac-rule"
RBAC_PRECEDENCE: Final = "workflows.argoproj.io/rbac-rule-precedence"
PARALLELISM_LABEL: Final = "workflows.argoproj.io/parallelism-limit"
DEFAULT_REPOSITORY: Final = "workflows.argoproj.io/default-artifact-repository"
# The login account in the server's namespace: every login matches it, it may do nothing; a tenant namespace's
# account wins over it (a higher precedence) for requests in that namespace (server/auth/gatekeeper.go lines
# 291-325: the namespace's account is taken only when its precedence is higher than the login account's).
LOGIN_ACCOUNT: Final = "keelson-workflows-login"
# A tenant role's account in each tenant namespace, and its precedence: a person in several of the tenant's groups
# gets the widest role (gatekeeper.go line 250: the highest precedence first).
ROLE_PRECEDENCE: Final = {"admin": 3, "edit": 2, "view": 1}
# The user every workflow pod runs as unless its template says otherwise: the argoexec image's own (Dockerfile at
# v4.0.6, USER 8737), given as a number so that runAsNonRoot can be checked by the kubelet.
WORKFLOW_USER: Final = 8737
# Where a workflow's artifacts and logs go in the tenant's bucket.
KEY_FORMAT: Final = "argo-workflows/{{workflow.name}}/{{pod.name}}"


def role_account(role: str) -> str:
    """A tenant role's SSO account, in each tenant namespace."""
    return f"keelson-workflows-{role}"


def token_secret(account: str) -> str:
    """The token Secret of an SSO account: the name the server looks for (util/secrets/secret_name.go at v4.0.6)."""
    return f"{account}.service-account-token"


def rbac_rule(group: str) -> str:
    """The expression (expr-lang, on the token's claims) that matches people in ``group``. Keycloak puts the
    person's group names in the ``groups`` claim without a path (keycloak.py, the groups mapper, full.path false)
    and without the API server's ``oidc:`` prefix (which only the API server adds)."""
    return f"{group!r} in groups".replace("'", '"')


@dataclasses.dataclass(frozen=True)
class ArgoWorkflowsSettings:
    enabled: bool = enabled_field()
    host: Optional[str] = host_field(HOST)


_NON_ROOT_CONTAINER: Final[Document] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
}
_POD: Final[Document] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


class ArgoWorkflows(Unit[ArgoWorkflowsSettings]):
    name = "argo-workflows"
    catalog = "argo_workflows"
    namespace = NAMESPACE
    pod_security = RESTRICTED
    depends_on = ("sealed-secrets", "cert-manager", "minio", "keycloak")
    settings_type = ArgoWorkflowsSettings
    settings_path = ("components", "argo_workflows")
    doc = "Argo Workflows: the tenants' pipelines and schedules, and its server with SSO."
    hosts = (HOST,)
    holds_secrets = True
    crd_kinds = ((GROUP, KINDS),)
    tenant_resources = ((GROUP, TENANT_KINDS),)

    def dependencies(self, platform: Platform) -> tuple[str, ...]:
        # Its sealed OIDC client secret and CA; its ingress certificate; the realm it logs in with. MinIO holds the
        # tenants' artifacts, but nothing here waits for it.
        return tuple(name for name in self.depends_on if name != "minio")

    def _sso(self, platform: Platform) -> bool:
        return platform.issuer_url is not None

    def accounts(self, platform: Platform) -> list[str]:
        """Every SSO account whose token the server reads (its Secret whitelist)."""
        return [LOGIN_ACCOUNT, *(role_account(role) for role in ROLE_PRECEDENCE)]

    def values(self, platform: Platform) -> Document:
        host = self.host(platform, HOST.field)
        pod = dict(_POD)
        values: Document = {
            # crds.yaml: with crds.full false the chart templates the minimal CRDs itself (files/crds/minimal, lines
            # 1-8); with the default (full) it runs crds-install-job.yaml, a pre-install hook Job with
            # registry.k8s.io/kubectl that downloads the full CRDs from GitHub at install time (lines 50-120):
            # neither Argo CD nor Flux runs Helm hooks as Helm does, and the cluster would need the Internet.
            # The minimal CRDs leave validation to the controller; keelson checks what it renders against the full
            # ones (tests).
            "crds": {"full": False},
            # values.yaml line 5 (Always): the default of the chart's own pods and, once mainContainer or executor
            # is set (workflow-controller-config-map.yaml lines 34-36, 50-52), of every step's main, init and wait
            # container: a registry outage would fail steps whose pinned image the node already holds.
            "images": {"pullPolicy": "IfNotPresent"},
            # controller/workflow-role.yaml, workflow-rb.yaml (lines 1-2): a Role and RoleBinding for the
            # argo-workflow account in every controller.workflowNamespaces entry and the release namespace. keelson
            # renders the executor's account and Role in each tenant namespace itself (tenant_manifests).
            "workflow": {"rbac": {"create": False}},
            "controller": {
                # Only the chart's workflow RBAC reads the list (values.yaml "where the service account and RBAC
                # resources will be created"); with singleNamespace false (the default) the controller watches every
                # namespace (workflow-controller-deployment.yaml lines 61-63: no --namespaced) with a ClusterRole.
                "workflowNamespaces": [],
                # workflow-controller-config-map.yaml lines 28-30: the limit for a namespace without the
                # parallelism label (tenant namespaces carry their own, namespace_labels).
                "namespaceParallelism": _ml.WORKFLOW_PARALLELISM,
                # workflow-controller-config-map.yaml lines 150-152; merged under every Workflow's spec by the
                # controller: the executor's account, and a pod securityContext that Pod Security restricted admits
                # (workflow/controller/workflowpod.go lines 978-982: the template's, else the workflow's).
                "workflowDefaults": {
                    "spec": {
                        "serviceAccountName": _ml.WORKFLOW_ACCOUNT,
                        "securityContext": {**_POD, "runAsUser": WORKFLOW_USER, "runAsGroup": WORKFLOW_USER, "fsGroup": WORKFLOW_USER},
                    }
                },
                # workflow-controller-deployment.yaml lines 37-40 (the container's own is the chart's default,
                # values controller.securityContext: read-only root, non-root, no escalation, no capabilities).
                "podSecurityContext": pod,
            },
            # workflow-controller-config-map.yaml lines 50-65: the init and wait containers the controller adds to
            # every workflow pod (workflowpod.go line 859, newExecContainer: Config.Executor.SecurityContext). Their
            # root stays writable: a resource template's init container writes the manifest to /tmp/manifest.yaml
            # (cmd/argoexec/commands/init.go, common.go ExecutorResourceManifestPath) with no /tmp volume of its own
            # (only main and wait get one, workflowpod.go lines 436-444), so a read-only root fails the drift check's
            # retrain step; upstream leaves it writable for these two containers too (workflowpod.go lines 862-869,
            # "always set RO FS once #10787 is fixed", argoproj/argo-workflows#10787).
            "executor": {"securityContext": {**_NON_ROOT_CONTAINER, "runAsUser": WORKFLOW_USER}},
            # workflow-controller-config-map.yaml lines 34-49: defaults merged under every main container
            # (workflowpod.go lines 146-160, a strategic merge: the template's own fields win).
            "mainContainer": {"securityContext": dict(_NON_ROOT_CONTAINER)},
            "server": {
                # server/server-deployment.yaml lines 41-44 (the container's: the chart's default, values
                # server.securityContext).
                "podSecurityContext": pod,
                # server-ingress.yaml: hosts, paths ["/"] to the server's Service, tls as given.
                "ingress": chart_ingress(host, "argo-workflows-tls"),
            },
        }
        if self._sso(platform):
            values["server"] |= self._sso_values(platform, host)
        return values

    def _sso_values(self, platform: Platform, host: str) -> Document:
        ca = bool(platform.ca_certificate)
        env = [{"name": "SSO_DELEGATE_RBAC_TO_NAMESPACE", "value": "true"}]  # server/auth/gatekeeper.go line 270
        if ca:
            env.append({"name": "SSL_CERT_DIR", "value": CA_DIR})
        server: Document = {
            # server-deployment.yaml lines 68-70: one --auth-mode per entry; sso only (no client tokens, no server
            # mode, which would give everyone the server's own account).
            "authModes": ["sso"],
            "extraEnv": env,
            "sso": {
                # workflow-controller-config-map.yaml lines 153-186: the sso section of the controller's ConfigMap,
                # which the server reads; the client id and secret from the chart's default Secret (SSO_SECRET).
                "enabled": True,
                "issuer": platform.issuer_url,
                "redirectUrl": f"https://{host}/oauth2/callback",
                # server/auth/sso/sso.go line 191 adds openid; groups is the claim the rbac rules read.
                "scopes": ["profile", "email", "groups"],
                # server/server-cluster-roles.yaml lines 67-77: with SSO RBAC, the server reads only these Secrets
                # (in any namespace): its client's, and the SSO accounts' tokens.
                "rbac": {"secretWhitelist": [SSO_SECRET.secret, *(token_secret(account) for account in self.accounts(platform))]},
            },
        }
        if ca:
            # server-deployment.yaml lines 126-131 and 146-151: extra volumeMounts and volumes of the server.
            server["volumes"] = [{"name": "keelson-ca", "secret": {"secretName": CA_SECRET, "items": [{"key": CA_KEY, "path": "ca.crt"}]}}]
            server["volumeMounts"] = [{"name": "keelson-ca", "mountPath": CA_DIR, "readOnly": True}]
        return server

    def manifests(self, platform: Platform) -> list[Document]:
        if not self._sso(platform):
            return []
        # The login account: every person the realm knows matches it, and it is bound to nothing.
        return self._account(NAMESPACE, LOGIN_ACCOUNT, "true", 0)

    @staticmethod
    def _account(namespace: str, name: str, rule: str, precedence: int) -> list[Document]:
        annotations = {RBAC_RULE: rule, RBAC_PRECEDENCE: str(precedence)}
        metadata = {"name": name, "namespace": namespace, "annotations": annotations}
        account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}
        # A long-lived token the API server fills in (the server reads it: gatekeeper.go lines 327-334); it holds
        # no value in Git.
        token = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {"name": token_secret(name), "namespace": namespace, "annotations": {"kubernetes.io/service-account.name": name}},
        }
        return [account, token]

    def tenant_manifests(self, platform: Platform, tenant: Tenant) -> list[Document]:
        documents: list[Document] = []
        for namespace in tenant.namespaces:
            documents += self._executor(namespace)
            if self._sso(platform):
                documents += self._sso_accounts(tenant, namespace)
        repository = self.artifact_repository(platform, tenant)
        return documents + ([repository] if repository else [])

    @staticmethod
    def _executor(namespace: str) -> list[Document]:
        """The account workflow pods run as, allowed exactly what the v4.0.6 executor writes: its task results
        (the chart's own workflow Role, controller/workflow-role.yaml lines 13-20)."""
        name = _ml.WORKFLOW_ACCOUNT
        return [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}},
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": name, "namespace": namespace},
                "rules": [{"apiGroups": [GROUP], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": name, "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
            },
        ]

    def _sso_accounts(self, tenant: Tenant, namespace: str) -> list[Document]:
        documents: list[Document] = []
        groups = {"admin": tenant.groups.admin, "edit": tenant.groups.edit, "view": tenant.groups.view}
        for role, precedence in ROLE_PRECEDENCE.items():
            account = role_account(role)
            documents += self._account(namespace, account, rbac_rule(groups[role]), precedence)
            documents.append(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": account, "namespace": namespace},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": TENANT_ROLES[role]},
                    "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
                }
            )
        return documents

    def artifact_repository(self, platform: Platform, tenant: Tenant) -> Optional[Document]:
        """The tenant's artifact repository in its first namespace (where its S3 Secret is): its first bucket on
        the platform's MinIO, by MinIO's in-cluster S3 endpoint (plain HTTP: the minio chart's tls is off). None
        without a bucket or without MinIO."""
        if not tenant.buckets or not platform.enabled("minio"):
            return None
        import yaml  # noqa: PLC0415 - rendering only (see _yaml.py)

        minio = platform.unit("minio").namespace
        repository = {
            "s3": {
                "bucket": tenant.buckets[0],
                "endpoint": s3_address(minio),
                "insecure": True,
                "keyFormat": KEY_FORMAT,
                "accessKeySecret": {"name": TENANT_SECRET, "key": "AWS_ACCESS_KEY_ID"},
                "secretKeySecret": {"name": TENANT_SECRET, "key": "AWS_SECRET_ACCESS_KEY"},
            }
        }
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": _ml.ARTIFACT_REPOSITORIES,
                "namespace": tenant.namespaces[0],
                "annotations": {DEFAULT_REPOSITORY: _ml.ARTIFACT_REPOSITORY_KEY},
            },
            "data": {_ml.ARTIFACT_REPOSITORY_KEY: yaml.safe_dump(repository, sort_keys=True)},
        }

    def namespace_labels(self, platform: Platform, tenant: Tenant) -> dict[str, str]:
        # workflow/controller/ns_watcher.go: the controller watches namespaces with this label and limits the
        # workflows running in each to its value (the controller's ClusterRole may list and watch namespaces:
        # controller/workflow-controller-cluster-roles.yaml lines 34-42).
        return {PARALLELISM_LABEL: str(tenant.workflows.parallelism)}

    def tenant_policies(self, platform: Platform, tenant: Tenant, namespace: str) -> list[Document]:
        # The executor (the init and wait containers of every workflow pod) writes its task results to the API
        # server. Only the controller's pods carry the workflow label (workflowpod.go); the API server decides
        # what the account may do.
        selector = {"matchExpressions": [{"key": "workflows.argoproj.io/workflow", "operator": "Exists"}]}
        return [
            network_policy(
                namespace,
                "allow-workflows-to-api-server",
                {"podSelector": selector, "policyTypes": ["Egress"], "egress": platform.api_server_egress},
            )
        ]

    def plain(self, platform: Platform) -> dict[tuple[str, str], dict[str, str]]:
        return {(SSO_SECRET.namespace, SSO_SECRET.secret): {SSO_CLIENT_ID_KEY: CLIENT_ID}} if self._sso(platform) else {}

    def oidc_client(self, platform: Platform) -> Optional[OidcClient]:
        return OidcClient(CLIENT_ID, (f"https://{self.host(platform, HOST.field)}/oauth2/callback",), SSO_SECRET)

    def ca_secrets(self, platform: Platform) -> tuple[Target, ...]:
        return (ca_secret(self.namespace),) if self._sso(platform) else ()

    def network(self, platform: Platform) -> Network:
        # The controller and the server watch the API server; the server reads artifacts from MinIO for the UI.
        # The issuer (through Traefik) follows from the OIDC client; people reach the server through Traefik.
        return Network(api=True, to=(("minio", (9000,)),) if platform.enabled("minio") else ())

    def chart_pods(self, values: Document) -> Optional[list[tuple[str, Document]]]:
        # controller/workflow-controller-deployment.yaml: the pod's securityContext is controller.podSecurityContext
        # (lines 37-40), init containers controller.extraInitContainers (lines 41-44), the container controller
        # with controller.securityContext (lines 83-84), controller.extraContainers (lines 115-117), volumes
        # controller.volumes (lines 122-125). server/server-deployment.yaml (server.enabled): pod securityContext
        # server.podSecurityContext (lines 41-44), server.extraInitContainers (lines 49-52), the container
        # argo-server with server.securityContext (lines 57-58), server.extraContainers (lines 136-138), volumes
        # tmp (server.tmpVolume) and server.volumes (lines 146-151). No host namespaces, no host ports.
        controller = dict(values.get("controller") or {})
        pods: list[tuple[str, Document]] = []
        main = {"name": "controller", "securityContext": controller.get("securityContext") or {}}
        spec: Document = {
            "containers": [main, *(controller.get("extraContainers") or [])],
            "volumes": list(controller.get("volumes") or []),
        }
        if controller.get("podSecurityContext"):
            spec["securityContext"] = controller["podSecurityContext"]
        if controller.get("extraInitContainers"):
            spec["initContainers"] = list(controller["extraInitContainers"])
        pods.append(("Deployment argo-workflows-workflow-controller", spec))
        server = dict(values.get("server") or {})
        if server.get("enabled", True):
            main = {"name": "argo-server", "securityContext": server.get("securityContext") or {}}
            server_spec: Document = {
                "containers": [main, *(server.get("extraContainers") or [])],
                "volumes": [{"name": "tmp", **(server.get("tmpVolume") or {"emptyDir": {}})}, *(server.get("volumes") or [])],
            }
            if server.get("podSecurityContext"):
                server_spec["securityContext"] = server["podSecurityContext"]
            if server.get("extraInitContainers"):
                server_spec["initContainers"] = list(server["extraInitContainers"])
            pods.append(("Deployment argo-workflows-server", server_spec))
        return pods


UNIT = ArgoWorkflows()
