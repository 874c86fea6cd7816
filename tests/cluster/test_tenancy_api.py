# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A rendered tree against a real API server: the upstream CRDs from ../shared/platform-data, then every object of
inventories/example-ha's tree that is not a chart (server-side apply), then questions only the server answers:
SubjectAccessReviews as each tenant group (``oidc:<group>``) and account, and Pods that Pod Security admission
and the ResourceQuota admission must refuse. Everything it created is deleted at the end."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml
from render_helpers import double_sealed, example_spec

from ansible_collections.keelson.platform.plugins.module_utils._components.keycloak import OIDC_PREFIX
from ansible_collections.keelson.platform.plugins.plugin_utils import _render
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

FIELD_MANAGER = "keelson-cluster-test"
ENGINES = ("argocd", "flux")
PLATFORM_KINDS = [
    ("", "resourcequotas"),
    ("", "limitranges"),
    ("networking.k8s.io", "networkpolicies"),
    ("rbac.authorization.k8s.io", "roles"),
    ("rbac.authorization.k8s.io", "rolebindings"),
]
WRITES = ("create", "update", "patch", "delete")


class Applied:
    """What one engine's tree put on the server, to ask about and to remove afterwards."""

    def __init__(self, api: Any, platform: Platform) -> None:
        from kubernetes import dynamic  # noqa: PLC0415

        self.api = api
        self.dynamic = dynamic.DynamicClient(api)
        self.platform = platform
        self.created: list[tuple[str, str, str, Optional[str]]] = []  # api version, kind, name, namespace

    def _resource(self, api_version: str, kind: str) -> Any:
        return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def apply(self, document: dict[str, Any]) -> None:
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

        resource = self._resource(document["apiVersion"], document["kind"])
        name, namespace = document["metadata"]["name"], document["metadata"].get("namespace")
        try:
            resource.get(name=name, namespace=namespace)
        except ApiException as error:
            if error.status != 404:
                raise
            self.created.append((document["apiVersion"], document["kind"], name, namespace))
        try:
            resource.server_side_apply(body=document, namespace=namespace, field_manager=FIELD_MANAGER, force_conflicts=True)
        except ApiException as error:
            raise AssertionError(f"the server refused {document['kind']} {namespace}/{name}: {error.body}") from error

    def remove(self) -> None:
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

        for api_version, kind, name, namespace in reversed(self.created):
            try:
                self._resource(api_version, kind).delete(name=name, namespace=namespace)
            except ApiException as error:
                if error.status != 404:
                    raise

    def can(self, subject: dict[str, Any], verb: str, group: str, resource: str, namespace: Optional[str]) -> bool:
        from kubernetes import client  # noqa: PLC0415

        attributes = {"verb": verb, "group": group, "resource": resource}
        if namespace:
            attributes["namespace"] = namespace
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {**subject, "resourceAttributes": attributes},
        }
        answer = client.AuthorizationV1Api(self.api).create_subject_access_review(review)
        return bool(answer.status.allowed)

    def dry_run_pod(self, namespace: str, pod: dict[str, Any]) -> Optional[str]:
        """None when the server would admit ``pod``, else its refusal."""
        from kubernetes import client  # noqa: PLC0415
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

        try:
            client.CoreV1Api(self.api).create_namespaced_pod(namespace, pod, dry_run="All")
        except ApiException as error:
            return str(error.body)
        return None


def _crds(files: list[Path]) -> list[dict[str, Any]]:
    documents = []
    for path in files:
        documents += [
            document for document in yaml.safe_load_all(path.read_text()) if document and document.get("kind") == "CustomResourceDefinition"
        ]
    return documents


def _wait_established(applied: Applied, names: list[str]) -> None:
    resource = applied._resource("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    deadline = time.monotonic() + 60
    for name in names:
        while True:
            conditions = resource.get(name=name).to_dict().get("status", {}).get("conditions") or []
            if any(condition["type"] == "Established" and condition["status"] == "True" for condition in conditions):
                break
            assert time.monotonic() < deadline, f"CRD {name} not established after 60s"
            time.sleep(0.5)
    applied.dynamic.resources.invalidate_cache()


def _order(document: dict[str, Any]) -> int:
    return {"Namespace": 0, "ClusterRole": 1}.get(document["kind"], 2)


@pytest.fixture(scope="module", params=ENGINES)
def applied(request: pytest.FixtureRequest, api: Any, crd_files: list[Path]) -> Iterator[Applied]:
    spec, nodes = example_spec(request.param)
    platform = Platform(spec, nodes)
    tree = _render.render_documents(spec, nodes, double_sealed(spec, nodes))
    objects = [
        document
        for path, documents in tree.items()
        if path.endswith(".yaml") and not path.endswith("values.yaml")
        for document in documents
        if isinstance(document, dict) and "apiVersion" in document and "kind" in document
    ]
    # Argo CD creates the components' namespaces itself (CreateNamespace, managedNamespaceMetadata): here, the
    # same names and labels; Flux's are objects of the tree.
    namespaces = {document["metadata"]["name"] for document in objects if document["kind"] == "Namespace"}
    for unit in platform.units:
        if unit.namespace not in namespaces:
            labels = platform.pod_security_labels(unit.pod_security)
            objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": unit.namespace, "labels": labels}})
    state = Applied(api, platform)
    try:
        crds = _crds(crd_files)
        for crd in crds:
            state.apply(crd)
        _wait_established(state, [crd["metadata"]["name"] for crd in crds])
        for document in sorted(objects, key=_order):
            state.apply(document)
        yield state
    finally:
        state.remove()


def _group(name: str) -> dict[str, Any]:
    return {"user": f"{OIDC_PREFIX}keelson-test-person", "groups": [f"{OIDC_PREFIX}{name}", "system:authenticated"]}


def _account(namespace: str, name: str) -> dict[str, Any]:
    return {
        "user": f"system:serviceaccount:{namespace}:{name}",
        "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"],
    }


def _writers(applied: Applied, tenant: Any) -> list[tuple[str, dict[str, Any]]]:
    subjects = [("admin group", _group(tenant.groups.admin)), ("edit group", _group(tenant.groups.edit))]
    if applied.platform.engine.name == "flux":
        subjects.append(("Flux tenant account", _account("flux-system", f"tenant-{tenant.name}")))
    return subjects


def test_tenant_roles_work_in_their_namespaces_and_nowhere_else(applied: Applied) -> None:
    tenants = applied.platform.spec.tenants
    platform_namespaces = sorted({unit.namespace for unit in applied.platform.units})
    problems = []
    for tenant in tenants:
        others = [namespace for other in tenants if other is not tenant for namespace in other.namespaces]
        for what, subject in _writers(applied, tenant):
            for namespace in tenant.namespaces:
                for group, resource in [("apps", "deployments"), ("", "secrets"), ("bitnami.com", "sealedsecrets"), ("", "pods")]:
                    if not applied.can(subject, "create", group, resource, namespace):
                        problems.append(f"{tenant.name} {what} cannot create {resource} in {namespace}")
                for group, resource in PLATFORM_KINDS:
                    for verb in WRITES:
                        if applied.can(subject, verb, group, resource, namespace):
                            problems.append(f"{tenant.name} {what} may {verb} {resource} in {namespace}")
            for namespace in others + platform_namespaces:
                if applied.can(subject, "get", "", "pods", namespace) or applied.can(subject, "create", "apps", "deployments", namespace):
                    problems.append(f"{tenant.name} {what} reaches {namespace}")
            for group, resource in [
                ("", "namespaces"),
                ("rbac.authorization.k8s.io", "clusterroles"),
                ("apiextensions.k8s.io", "customresourcedefinitions"),
            ]:
                if applied.can(subject, "create", group, resource, None) or applied.can(subject, "list", group, resource, None):
                    problems.append(f"{tenant.name} {what} reaches cluster-scoped {resource}")
        view = _group(tenant.groups.view)
        for namespace in tenant.namespaces:
            if not applied.can(view, "list", "", "pods", namespace):
                problems.append(f"{tenant.name} view group cannot list pods in {namespace}")
            for verb in ("get", "list", "watch"):
                if applied.can(view, verb, "", "secrets", namespace):
                    problems.append(f"{tenant.name} view group may {verb} Secrets in {namespace}")
            if applied.can(view, "create", "apps", "deployments", namespace):
                problems.append(f"{tenant.name} view group may create deployments")
    assert problems == []


def _pod(name: str, container: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "registry.invalid/x:1", **container}]},
    }


COMPLIANT: dict[str, Any] = {
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
}


def _quota_known(applied: Applied, namespace: str) -> bool:
    """The quota admission needs the quota's status, which kube-controller-manager fills in."""
    from kubernetes import client  # noqa: PLC0415

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        quota = client.CoreV1Api(applied.api).read_namespaced_resource_quota("tenant-quota", namespace)
        if quota.status and quota.status.hard:
            return True
        time.sleep(1)
    return False


def test_pod_security_and_quota_refuse_pods_in_tenant_namespaces(applied: Applied) -> None:
    tenant = applied.platform.spec.tenants[0]
    namespace = tenant.namespaces[0]
    privileged = _pod("privileged", {**COMPLIANT, "securityContext": {**COMPLIANT["securityContext"], "privileged": True}})
    refusal = applied.dry_run_pod(namespace, privileged)
    assert refusal and "PodSecurity" in refusal, f"a privileged pod in {namespace} was not refused by Pod Security: {refusal}"
    root = _pod("root", {**COMPLIANT, "securityContext": {"runAsUser": 0}})
    assert "PodSecurity" in (applied.dry_run_pod(namespace, root) or "")
    if not _quota_known(applied, namespace):
        pytest.skip("no kube-controller-manager fills in the ResourceQuota's status (a bare API server): the quota cases need one")
    assert applied.dry_run_pod(namespace, _pod("fits", COMPLIANT)) is None
    huge = {**COMPLIANT, "resources": {"requests": {"cpu": "100000", "memory": "64Mi"}, "limits": {"cpu": "100000", "memory": "128Mi"}}}
    refusal = applied.dry_run_pod(namespace, _pod("huge", huge))
    assert refusal and "exceeded quota" in refusal, f"a pod over quota in {namespace} was admitted: {refusal}"
