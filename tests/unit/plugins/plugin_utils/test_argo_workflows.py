# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Argo Workflows (issue 11), read off the rendered tree: SSO delegated to the tenants' namespaces, the executor's
account, the artifact repositories, the parallelism limit, the workflow pods' Pod Security, and the ordering of
argoproj.io's pipeline kinds after Argo Workflows (a group Argo CD also serves) under both engines."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import test_ordering
import yaml
from render_helpers import ca_of, documents, double_sealed, example_spec, render_example
from test_pod_security import helm_merge, violations

from ansible_collections.keelson.platform.plugins.module_utils import _ml
from ansible_collections.keelson.platform.plugins.module_utils._components import argo_workflows, keycloak, minio
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import RESTRICTED
from ansible_collections.keelson.platform.plugins.plugin_utils import _render
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

ENGINES = ("argocd", "flux")
UNIT = argo_workflows.UNIT


def _tree(engine: str, changes: Any = None) -> tuple[Platform, list[tuple[str, dict[str, Any]]]]:
    spec, nodes = example_spec(engine, changes)
    return Platform(spec, nodes, ca_of(spec)), documents(render_example(engine, changes))


def _tenant_of(platform: Platform, path: str) -> Any:
    return platform.layout.tenant_of(path)


# ------------------------------------------------------------------------------------------------ SSO


@pytest.mark.parametrize("engine", ENGINES)
def test_sso_accounts_match_only_the_tenants_own_groups_in_its_own_namespaces(engine: str) -> None:
    platform, docs = _tree(engine)
    tenants = {tenant.name: tenant for tenant in platform.spec.tenants}
    accounts = [
        (path, document)
        for path, document in docs
        if document["kind"] == "ServiceAccount" and argo_workflows.RBAC_RULE in document["metadata"].get("annotations", {})
    ]
    seen: dict[tuple[str, str], str] = {}
    for path, document in accounts:
        metadata = document["metadata"]
        rule, precedence = metadata["annotations"][argo_workflows.RBAC_RULE], int(metadata["annotations"][argo_workflows.RBAC_PRECEDENCE])
        owner = _tenant_of(platform, path)
        if owner is None:  # the login account, in the server's namespace: matches everyone, may do nothing
            assert (metadata["namespace"], metadata["name"], rule, precedence) == ("argo", argo_workflows.LOGIN_ACCOUNT, "true", 0)
            continue
        tenant = tenants[owner]
        assert metadata["namespace"] in tenant.namespaces, path
        role = metadata["name"].removeprefix("keelson-workflows-")
        group = {"admin": tenant.groups.admin, "edit": tenant.groups.edit, "view": tenant.groups.view}[role]
        assert rule == f'"{group}" in groups'
        assert precedence > 0  # wins over the login account (gatekeeper.go: only a higher precedence is taken)
        others = {
            g for other in platform.spec.tenants if other.name != owner for g in (other.groups.admin, other.groups.edit, other.groups.view)
        }
        assert not any(f'"{other}"' in rule for other in others), rule
        seen[(metadata["namespace"], metadata["name"])] = owner
    expected = {
        (namespace, argo_workflows.role_account(role))
        for tenant in platform.spec.tenants
        for namespace in tenant.namespaces
        for role in ("admin", "edit", "view")
    }
    assert set(seen) == expected
    # Each account is bound in its own namespace to its tenant role, and has its token Secret there.
    bindings = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for _p, d in docs if d["kind"] == "RoleBinding"}
    tokens = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for _p, d in docs if d["kind"] == "Secret"}
    for namespace, name in expected:
        binding = bindings[(namespace, name)]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]
        assert (
            binding["roleRef"]["name"]
            == {"admin": "keelson-tenant-admin", "edit": "keelson-tenant-edit", "view": "view"}[name.rsplit("-", 1)[1]]
        )
        token = tokens[(namespace, argo_workflows.token_secret(name))]
        assert token["metadata"]["annotations"] == {"kubernetes.io/service-account.name": name}
    # Nothing binds the login account.
    assert not any(s.get("name") == argo_workflows.LOGIN_ACCOUNT for d in bindings.values() for s in d["subjects"])


@pytest.mark.parametrize("engine", ENGINES)
def test_the_server_logs_in_through_keycloak_and_delegates_to_namespaces(engine: str) -> None:
    spec, nodes = example_spec(engine)
    platform = Platform(spec, nodes, ca_of(spec))
    values = UNIT.values(platform)["server"]
    host = UNIT.host(platform, "host")
    assert values["authModes"] == ["sso"]
    assert values["sso"]["issuer"] == platform.issuer_url
    assert values["sso"]["redirectUrl"] == f"https://{host}/oauth2/callback"
    assert "groups" in values["sso"]["scopes"]
    env = {entry["name"]: entry["value"] for entry in values["extraEnv"]}
    assert env["SSO_DELEGATE_RBAC_TO_NAMESPACE"] == "true"
    # The platform CA is trusted where the server calls the issuer: its Secret mounted where SSL_CERT_DIR points.
    (volume,) = values["volumes"]
    assert volume["secret"]["secretName"] == "keelson-platform-ca"
    assert values["volumeMounts"] == [{"name": volume["name"], "mountPath": env["SSL_CERT_DIR"], "readOnly": True}]
    # The realm has the client, with the same redirect; its secret and id reach the Secret the chart reads.
    (client,) = [c for c in keycloak.UNIT.realm(platform)["clients"] if c["clientId"] == argo_workflows.CLIENT_ID]
    assert client["redirectUris"] == [values["sso"]["redirectUrl"]]
    sealed = double_sealed(spec, nodes)
    assert set(sealed[("argo", "argo-server-sso")]["spec"]["encryptedData"]) == {"client-id", "client-secret"}
    # The server may read only its client's Secret and the accounts' tokens, and every account's token is listed.
    tokens = {d["metadata"]["name"] for _p, d in documents(render_example(engine)) if d["kind"] == "Secret"}
    assert set(values["sso"]["rbac"]["secretWhitelist"]) == {"argo-server-sso", *tokens}


def test_without_keycloak_there_is_no_sso_and_no_account() -> None:
    def no_keycloak(raw: dict[str, Any]) -> None:
        raw["components"]["keycloak"] = {"enabled": False}

    platform, docs = _tree("argocd", no_keycloak)
    assert "sso" not in UNIT.values(platform)["server"]
    assert not [d for _p, d in docs if d["kind"] == "Secret" or d["metadata"].get("name", "").startswith("keelson-workflows-")]
    assert [d for _p, d in docs if d["kind"] == "ServiceAccount" and d["metadata"]["name"] == _ml.WORKFLOW_ACCOUNT]


# ----------------------------------------------------------------------------------- the executor


@pytest.mark.parametrize("engine", ENGINES)
def test_every_tenant_namespace_has_the_executor_account_and_nothing_more(engine: str) -> None:
    platform, docs = _tree(engine)
    for tenant in platform.spec.tenants:
        for namespace in tenant.namespaces:
            here = {(d["kind"], d["metadata"]["name"]): d for _p, d in docs if d["metadata"].get("namespace") == namespace}
            assert ("ServiceAccount", _ml.WORKFLOW_ACCOUNT) in here
            role = here[("Role", _ml.WORKFLOW_ACCOUNT)]
            assert role["rules"] == [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}]
            binding = here[("RoleBinding", _ml.WORKFLOW_ACCOUNT)]
            assert binding["subjects"] == [{"kind": "ServiceAccount", "name": _ml.WORKFLOW_ACCOUNT, "namespace": namespace}]
    workflow = UNIT.values(platform)["controller"]["workflowDefaults"]["spec"]
    assert workflow["serviceAccountName"] == _ml.WORKFLOW_ACCOUNT


def _workflow_pod(values: dict[str, Any]) -> dict[str, Any]:
    """A workflow pod as the v4.0.6 controller builds it from its config (workflow/controller/workflowpod.go): the
    workflow's securityContext (workflowDefaults merged under a workflow that sets none), the init and wait
    containers with executor.securityContext (newExecContainer), the main container with mainContainer's defaults
    under a template that sets nothing, and the emptyDir the executor shares with it."""
    executor = values["executor"].get("securityContext") or {}
    main = (values["mainContainer"].get("securityContext")) or {}
    spec = ((values["controller"].get("workflowDefaults") or {}).get("spec")) or {}
    pod = {
        "initContainers": [{"name": "init", "securityContext": executor}],
        "containers": [{"name": "wait", "securityContext": executor}, {"name": "main", "securityContext": main}],
        "volumes": [{"name": "var-run-argo", "emptyDir": {}}],
    }
    if spec.get("securityContext"):
        pod["securityContext"] = spec["securityContext"]
    return pod


def _chart_values(shared_data: Path) -> dict[str, Any]:
    return dict(yaml.safe_load((shared_data / "charts" / "argo-workflows-1.0.18" / "values.yaml").read_text()))


@pytest.mark.parametrize("engine", ENGINES)
def test_workflow_pods_meet_restricted(shared_data: Path, engine: str) -> None:
    spec, nodes = example_spec(engine)
    merged = helm_merge(_chart_values(shared_data), UNIT.values(Platform(spec, nodes)))
    assert violations(_workflow_pod(merged), RESTRICTED) == []
    # The chart's defaults alone would be refused in a tenant namespace: the check above can fail.
    assert violations(_workflow_pod(_chart_values(shared_data)), RESTRICTED)


def test_the_workflow_pod_check_catches_a_missing_executor_context(shared_data: Path) -> None:
    spec, nodes = example_spec("argocd")
    values = copy.deepcopy(UNIT.values(Platform(spec, nodes)))
    del values["executor"]
    problems = violations(_workflow_pod(helm_merge(_chart_values(shared_data), values)), RESTRICTED)
    assert "container init: allowPrivilegeEscalation is not false" in problems


def test_the_executor_can_write_a_resource_templates_manifest(shared_data: Path) -> None:
    """The drift check's retrain step is a resource template: its init container writes /tmp/manifest.yaml on its
    root file system (argoexec init; no /tmp volume for init, workflowpod.go v4.0.6), so the executor's
    securityContext must not make the root read-only (argoproj/argo-workflows#10787)."""
    spec, nodes = example_spec("argocd")
    merged = helm_merge(_chart_values(shared_data), UNIT.values(Platform(spec, nodes)))
    assert "readOnlyRootFilesystem" not in merged["executor"]["securityContext"]


# -------------------------------------------------------------------------------- artifact repositories


@pytest.mark.parametrize("engine", ENGINES)
def test_each_tenant_stores_artifacts_in_its_own_first_bucket_with_its_own_credentials(engine: str) -> None:
    platform, docs = _tree(engine)
    spec, nodes = example_spec(engine)
    sealed = double_sealed(spec, nodes)
    repositories = {
        d["metadata"]["namespace"]: d for _p, d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == _ml.ARTIFACT_REPOSITORIES
    }
    others_buckets = {
        tenant.name: {b for other in platform.spec.tenants if other.name != tenant.name for b in other.buckets}
        for tenant in platform.spec.tenants
    }
    expected = set()
    for tenant in platform.spec.tenants:
        if not tenant.buckets:
            assert not any(namespace in repositories for namespace in tenant.namespaces)
            continue
        namespace = tenant.namespaces[0]
        expected.add(namespace)
        document = repositories[namespace]
        assert document["metadata"]["annotations"] == {argo_workflows.DEFAULT_REPOSITORY: _ml.ARTIFACT_REPOSITORY_KEY}
        s3 = yaml.safe_load(document["data"][_ml.ARTIFACT_REPOSITORY_KEY])["s3"]
        assert s3["bucket"] == tenant.buckets[0]
        assert s3["bucket"] not in others_buckets[tenant.name]
        assert (s3["endpoint"], s3["insecure"]) == ("minio.minio.svc.cluster.local:9000", True)
        # The tenant's own S3 Secret, in the same namespace, with the keys named.
        for ref in (s3["accessKeySecret"], s3["secretKeySecret"]):
            assert ref["name"] == minio.TENANT_SECRET
            assert ref["key"] in sealed[(namespace, minio.TENANT_SECRET)]["spec"]["encryptedData"]
    assert set(repositories) == expected


# ----------------------------------------------------------------------------------------- parallelism


@pytest.mark.parametrize("engine", ENGINES)
def test_each_tenant_namespace_carries_its_parallelism_limit(engine: str) -> None:
    def limits(raw: dict[str, Any]) -> None:
        raw["tenants"][0]["workflows"] = {"parallelism": 2}

    platform, docs = _tree(engine, limits)
    namespaces = {d["metadata"]["name"]: d["metadata"]["labels"] for _p, d in docs if d["kind"] == "Namespace"}
    for index, tenant in enumerate(platform.spec.tenants):
        for namespace in tenant.namespaces:
            assert namespaces[namespace][argo_workflows.PARALLELISM_LABEL] == ("2" if index == 0 else str(_ml.WORKFLOW_PARALLELISM))
    assert UNIT.values(platform)["controller"]["namespaceParallelism"] == _ml.WORKFLOW_PARALLELISM


@pytest.mark.parametrize(("value", "message"), [(0, "must be at least 1"), (1001, "must be at most 1000"), ("many", "must be an integer")])
def test_a_bad_parallelism_is_refused_with_where_it_is(value: Any, message: str) -> None:
    def bad(raw: dict[str, Any]) -> None:
        raw["tenants"][0]["workflows"] = {"parallelism": value}

    with pytest.raises(Exception, match=rf"tenants\[0\]\.workflows\.parallelism: {message}"):
        example_spec("argocd", bad)


# ------------------------------------------------------------------------------------- tenant roles


def test_tenant_writers_may_write_pipelines_but_not_argo_cds_kinds() -> None:
    spec, nodes = example_spec("argocd")
    roles = {d["metadata"]["name"]: d for d in _render._tenancy_roles(Platform(spec, nodes))}
    for name in ("keelson-tenant-admin", "keelson-tenant-edit"):
        (rule,) = [r for r in roles[name]["rules"] if r["apiGroups"] == ["argoproj.io"]]
        assert rule["resources"] == sorted(argo_workflows.TENANT_KINDS)
        assert "create" in rule["verbs"]


# ---------------------------------------------------------------------------------------------- ordering


def _with_a_template(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tenant's pipeline (what the ML projects render) in the tenant's platform folder."""
    original = argo_workflows.ArgoWorkflows.tenant_manifests

    def with_template(self: Any, platform: Platform, tenant: Any) -> list[dict[str, Any]]:
        template = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "WorkflowTemplate",
            "metadata": {"name": "train", "namespace": tenant.namespaces[0]},
            "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "example.com/train:1.0"}}]},
        }
        return [*original(self, platform, tenant), template]

    monkeypatch.setattr(argo_workflows.ArgoWorkflows, "tenant_manifests", with_template)


@pytest.mark.parametrize("engine", ENGINES)
def test_pipeline_kinds_belong_to_argo_workflows_and_argo_cds_to_argo_cd(engine: str) -> None:
    spec, nodes = example_spec(engine)
    platform = Platform(spec, nodes)
    for kind in ("Workflow", "WorkflowTemplate", "CronWorkflow", "WorkflowEventBinding"):
        assert platform.crd_owner("argoproj.io/v1alpha1", kind) == "argo-workflows"
    assert platform.crd_owner("argoproj.io/v1alpha1", "Application") == ("argocd" if engine == "argocd" else None)


def test_tenant_pipelines_apply_after_argo_workflows_under_flux(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_a_template(monkeypatch)
    test_ordering.test_flux_applies_every_object_after_what_it_needs("example")


def test_tenant_pipelines_apply_after_argo_workflows_under_argocd(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_a_template(monkeypatch)
    test_ordering.test_argocd_waves_apply_every_object_after_what_it_needs("example")
    # And under Argo CD they are not taken for Argo CD's own kinds (then they would wait for nothing but Argo CD).
    spec, nodes = example_spec("argocd")
    platform = Platform(spec, nodes)
    assert platform.waves["argo-workflows"] < platform.tenant_wave


def test_the_flux_ordering_check_catches_pipelines_without_their_owner(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without crd_kinds the tenant's Kustomization would not wait for Argo Workflows."""
    _with_a_template(monkeypatch)
    monkeypatch.setattr(argo_workflows.ArgoWorkflows, "crd_kinds", ())
    with pytest.raises(AssertionError, match="needs argo-workflows first"):
        test_ordering.test_flux_applies_every_object_after_what_it_needs("example")
