# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rendered tree: golden files for inventories/example-ha, determinism, what a change touches, and the
isolation a tenant relies on, checked on the rendered objects."""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path
from typing import Any

import pytest
from render_helpers import documents, example_parts, fake_values, render_example

from ansible_collections.keelson.platform.plugins.module_utils._ml import WORKFLOW_ACCOUNT
from ansible_collections.keelson.platform.plugins.plugin_utils import _tree_check

GOLDEN = Path(__file__).resolve().parent / "golden"
ENGINES = ("argocd", "flux")
BASE = "platforms/ml-prod/"


def _golden_text(files: dict[str, str]) -> str:
    parts = []
    for path, text in files.items():
        shown = text
        if path == ".keelson/validate.py":
            assert text == _tree_check.with_header(inspect.getsource(_tree_check), platform="ml-prod")
            shown = "(plugins/plugin_utils/_tree_check.py behind the generated-file header)\n"
        parts.append(f"=== {path}\n{shown}")
    return "".join(parts)


@pytest.mark.parametrize("engine", ENGINES)
def test_example_ha_matches_the_reviewed_golden_tree(engine: str) -> None:
    """An intentional change updates the golden file in the same commit: KEELSON_UPDATE_GOLDEN=1 pytest ..."""
    text = _golden_text(render_example(engine))
    golden = GOLDEN / f"example-ha-{engine}.txt"
    if os.environ.get("KEELSON_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert golden.read_text(encoding="utf-8") == text, f"the tree differs from {golden.name}; review, then update it (see the docstring)"


@pytest.mark.parametrize("engine", ENGINES)
def test_rendering_twice_gives_byte_identical_files(engine: str) -> None:
    assert render_example(engine) == render_example(engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_every_file_carries_the_header_with_a_matching_checksum(engine: str) -> None:
    files = render_example(engine)
    assert all(_tree_check.is_generated(text) for text in files.values())
    assert _tree_check.hand_edits(files) == []


def _changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_one_tenant_change_touches_that_tenant_and_the_aggregates_listing_it(engine: str) -> None:
    def more_pods(raw: dict[str, Any]) -> None:
        raw["tenants"][2]["quota"]["pods"] = 150  # forecasting

    assert _changed(render_example(engine), render_example(engine, more_pods)) == {f"{BASE}tenants/forecasting/keelson/quota.yaml"}

    def more_buckets(raw: dict[str, Any]) -> None:
        raw["tenants"][2]["buckets"].append("forecasting-models")

    touched = _changed(render_example(engine), render_example(engine, more_buckets))
    # MinIO's values list every bucket and policy: the one aggregate that must name the new bucket.
    minio = f"{BASE}platform/minio/values.yaml" if engine == "argocd" else f"{BASE}platform/minio/release/configmap-minio-values.yaml"
    assert touched == {minio}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_new_tenant_adds_its_files_and_touches_only_the_aggregates(engine: str) -> None:
    def add(raw: dict[str, Any]) -> None:
        raw["tenants"].append({"name": "speech", "quota": {"cpu": "4", "memory": "16Gi", "storage": "100Gi"}})

    before, after = render_example(engine), render_example(engine, add)
    touched = _changed(before, after)
    own = {path for path in touched if path.startswith(f"{BASE}tenants/speech/") or path.endswith("apps/tenant-speech.yaml")}
    assert own and all(path not in before for path in own)
    aggregates = touched - own
    expected = {
        f"{BASE}platform/keycloak/manifests/configmap-keelson-realm.yaml",
        f"{BASE}platform/monitoring/manifests/configmap-dashboard-keelson-tenant-speech.yaml",
        f"{BASE}platform/kueue/manifests/clusterqueue-tenant-speech.yaml",  # cluster-scoped: Kueue's folder
    }
    expected |= {path for path in touched if "job-keelson-realm-import-" in path}  # the realm changed: a new import Job
    # MLflow: the new tenant's user (its password for the users Job, a new Job) and its way to the server.
    expected |= {path for path in touched if "job-keelson-mlflow-users-" in path}
    expected |= {f"{BASE}platform/mlflow/manifests/sealedsecret-mlflow-tenant-users.yaml"}
    expected |= {f"{BASE}platform/mlflow/manifests/networkpolicy-allow-from-tenants.yaml"}
    if engine == "argocd":
        expected |= {f"{BASE}clusters/ml-prod/apps/projects.yaml", f"{BASE}platform/argocd/values.yaml"}  # AppProject, RBAC policy
    assert aggregates == expected


@pytest.mark.parametrize("engine", ENGINES)
def test_disabling_a_component_removes_its_files(engine: str) -> None:
    def no_weaviate(raw: dict[str, Any]) -> None:
        raw["components"]["weaviate"] = {"enabled": False}
        for tenant in raw["tenants"]:
            tenant.pop("weaviate", None)

    before, after = render_example(engine), render_example(engine, no_weaviate)
    gone = set(before) - set(after)
    assert {path for path in before if "/weaviate/" in path or path.endswith("apps/weaviate.yaml")} <= gone
    assert not any("weaviate" in path for path in after)
    assert not any("allow-to-weaviate" in text for text in after.values())


def _all(engine: str, changes: Any = None) -> list[tuple[str, dict[str, Any]]]:
    return documents(render_example(engine, changes))


TENANT_NAMESPACES = {"vision": {"vision"}, "nlp": {"nlp", "nlp-staging"}, "forecasting": {"forecasting"}}


@pytest.mark.parametrize("engine", ENGINES)
def test_tenant_role_bindings_grant_nothing_outside_the_tenants_namespaces(engine: str) -> None:
    for path, document in _all(engine):
        match = re.match(rf"{BASE}tenants/([^/]+)/", path)
        if not match:
            continue
        tenant = match.group(1)
        assert document["kind"] not in ("ClusterRoleBinding", "ClusterRole"), path
        if document["kind"] == "Role":  # the only Role: Argo Workflows' executor writes its task results
            assert document["metadata"]["namespace"] in TENANT_NAMESPACES[tenant]
            assert document["metadata"]["name"] == WORKFLOW_ACCOUNT, path
            assert document["rules"] == [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}]
        if document["kind"] == "RoleBinding" and document["roleRef"]["kind"] == "Role":
            namespace = document["metadata"]["namespace"]
            assert namespace in TENANT_NAMESPACES[tenant]
            assert document["roleRef"]["name"] == WORKFLOW_ACCOUNT
            assert document["subjects"] == [{"kind": "ServiceAccount", "name": WORKFLOW_ACCOUNT, "namespace": namespace}]
        elif document["kind"] == "RoleBinding":
            assert document["metadata"]["namespace"] in TENANT_NAMESPACES[tenant]
            assert document["roleRef"] == {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": document["roleRef"]["name"],
            }
            # keelson's tenant roles and Kubernetes' view; never the built-in admin or edit (they write network
            # policies, and admin RBAC).
            assert document["roleRef"]["name"] in ("keelson-tenant-admin", "keelson-tenant-edit", "view")
            for subject in document["subjects"]:
                if subject["kind"] == "Group":
                    assert subject["name"].startswith("oidc:")
                elif subject["name"].startswith("keelson-workflows-"):  # Argo Workflows' SSO accounts, in the namespace
                    assert subject["namespace"] == document["metadata"]["namespace"]
                else:  # Flux's accounts: the tenant's own in flux-system, the namespace's reconciler
                    assert (subject["namespace"], subject["name"]) in (
                        ("flux-system", f"tenant-{tenant}"),
                        (document["metadata"]["namespace"], "flux-reconciler"),
                    )


@pytest.mark.parametrize("engine", ENGINES)
def test_every_tenant_namespace_denies_both_directions_by_default(engine: str) -> None:
    docs = _all(engine)
    namespaces = {
        document["metadata"]["name"]
        for _path, document in docs
        if document["kind"] == "Namespace" and "keelson.dev/tenant" in document["metadata"]["labels"]
    }
    assert namespaces == set().union(*TENANT_NAMESPACES.values())
    for namespace in namespaces:
        deny = [
            document
            for _path, document in docs
            if document["kind"] == "NetworkPolicy"
            and document["metadata"]["namespace"] == namespace
            and document["metadata"]["name"] == "default-deny"
        ]
        assert deny == [
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "default-deny", "namespace": namespace},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            }
        ]
        egress_to = [
            peer
            for _path, document in docs
            if document["kind"] == "NetworkPolicy"
            and document["metadata"]["namespace"] == namespace
            and document["metadata"]["name"] != "allow-workflows-to-api-server"
            for rule in document["spec"].get("egress", [])
            for peer in rule.get("to", [])
        ]
        # Workflow pods (only they) reach the API server: their executor writes task results.
        api = [
            document["spec"]
            for _path, document in docs
            if document["kind"] == "NetworkPolicy"
            and document["metadata"]["namespace"] == namespace
            and document["metadata"]["name"] == "allow-workflows-to-api-server"
        ]
        assert [spec["podSelector"] for spec in api] == [
            {"matchExpressions": [{"key": "workflows.argoproj.io/workflow", "operator": "Exists"}]}
        ]
        assert {port["port"] for rule in api[0]["egress"] for port in rule["ports"]} == {6443, 443}
        # Egress only to DNS, the namespace itself, MinIO, Weaviate and MLflow: no ipBlock, no other namespace.
        for peer in egress_to:
            assert "ipBlock" not in peer
            if "namespaceSelector" in peer:
                assert peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] in (
                    "kube-system",
                    "minio",
                    "weaviate",
                    "mlflow",
                )


def test_tenant_app_projects_allow_no_cluster_kinds_and_only_their_namespaces() -> None:
    projects = {document["metadata"]["name"]: document["spec"] for _path, document in _all("argocd") if document["kind"] == "AppProject"}
    assert projects["default"] == {"sourceRepos": [], "destinations": [], "clusterResourceWhitelist": [], "namespaceResourceWhitelist": []}
    for tenant, namespaces in TENANT_NAMESPACES.items():
        spec = projects[f"tenant-{tenant}"]
        assert spec["clusterResourceWhitelist"] == []
        assert "clusterResourceBlacklist" not in spec
        assert {destination["namespace"] for destination in spec["destinations"]} == namespaces
        assert all(destination["server"] == "https://kubernetes.default.svc" for destination in spec["destinations"])
        assert {"group": "networking.k8s.io", "kind": "NetworkPolicy"} in spec["namespaceResourceBlacklist"]
        for role in spec["roles"]:
            assert all(f", tenant-{tenant}/*, " in policy for policy in role["policies"])


@pytest.mark.parametrize("engine", ENGINES)
def test_every_platform_namespace_gets_its_pod_security_level(engine: str) -> None:
    """A hardened cluster enforces restricted by default: each component's namespace must say its level."""
    levels: dict[str, str] = {}
    for _path, document in _all(engine):
        if document["kind"] == "Application":
            labels = document["spec"]["syncPolicy"].get("managedNamespaceMetadata", {}).get("labels", {})
            namespace = document["spec"]["destination"]["namespace"]
        elif document["kind"] == "Namespace" and "keelson.dev/tenant" not in document["metadata"]["labels"]:
            labels, namespace = document["metadata"]["labels"], document["metadata"]["name"]
            assert document["metadata"]["annotations"] == {"kustomize.toolkit.fluxcd.io/prune": "disabled"}
        else:
            continue
        if "pod-security.kubernetes.io/enforce" in labels:
            levels[namespace] = labels["pod-security.kubernetes.io/enforce"]
            assert labels["pod-security.kubernetes.io/enforce-version"] == "v1.35"
    # Written out here, not read from the code: a level changed in a component file must fail this test.
    expected = {
        "sealed-secrets": "restricted",
        "cert-manager": "restricted",
        "minio": "baseline",
        "weaviate": "baseline",
        "monitoring": "privileged",  # node-exporter reads the host
        "cnpg-system": "restricted",
        "nvidia-device-plugin": "privileged",  # hostPath: the kubelet's device-plugins folder
        "kueue-system": "restricted",
        "keycloak": "baseline",
        "kserve-crd": "restricted",
        "kserve": "restricted",
        "argo": "restricted",
        "mlflow": "restricted",
        **({"argocd": "baseline"} if engine == "argocd" else {"flux-system": "baseline"}),
    }
    assert levels == expected


def test_flux_tenants_reconcile_as_their_own_account() -> None:
    # The platform's own Kustomizations (in flux-system); a tenant's extra repositories have theirs in its namespace.
    kustomizations = {
        document["metadata"]["name"]: document["spec"]
        for _path, document in _all("flux")
        if document["kind"] == "Kustomization" and document["metadata"]["namespace"] == "flux-system"
    }
    instance = next(document for _path, document in _all("flux") if document["kind"] == "FluxInstance")
    assert instance["spec"]["cluster"]["multitenant"] is True
    for tenant in TENANT_NAMESPACES:
        assert kustomizations[f"tenant-{tenant}-apps"]["serviceAccountName"] == f"tenant-{tenant}"
        assert kustomizations[f"tenant-{tenant}"]["deletionPolicy"] == "Orphan"
    platform = [spec for name, spec in kustomizations.items() if not name.startswith("tenant-")]
    assert platform and all(spec["serviceAccountName"] == "kustomize-controller" for spec in platform)
    # tenants[].repos: reconciled in the tenant's namespace, naming no account, so as its flux-reconciler.
    sources = [document for _path, document in _all("flux") if document["kind"] in ("GitRepository", "Kustomization")]
    own = [document for document in sources if document["metadata"]["namespace"] != "flux-system"]
    assert {document["metadata"]["namespace"] for document in own} == {"nlp"}
    assert {document["spec"]["url"] for document in own if document["kind"] == "GitRepository"} == {
        "https://git.example.internal/nlp/deployments.git"
    }
    assert all("serviceAccountName" not in document["spec"] for document in own)
    assert instance["spec"]["cluster"]["tenantDefaultServiceAccount"] == "flux-reconciler"


@pytest.mark.parametrize("engine", ENGINES)
def test_no_plaintext_secret_anywhere_in_the_tree(engine: str) -> None:
    files = render_example(engine)
    tree = "".join(files.values())
    assert "PLAINTEXT-" not in tree  # the stand-in credentials (render_helpers.fake_values)
    kinds = {document["kind"] for _path, document in documents(files)}
    # The only Secrets: service account tokens the API server fills in (Argo Workflows' SSO accounts), empty here.
    secrets = [document for _path, document in documents(files) if document["kind"] == "Secret"]
    assert secrets
    assert all(
        secret["type"] == "kubernetes.io/service-account-token" and set(secret) == {"apiVersion", "kind", "type", "metadata"}
        for secret in secrets
    )
    assert "SealedSecret" in kinds


@pytest.mark.parametrize("engine", ENGINES)
def test_tenant_namespaces_are_protected_until_state_absent(engine: str) -> None:
    def absent(raw: dict[str, Any]) -> None:
        raw["tenants"][1]["state"] = "absent"
        raw["tenants"][1]["confirm_removal"] = "nlp"

    for changes, protected in ((None, True), (absent, False)):
        for path, document in _all(engine, changes):
            if document["kind"] == "Namespace" and path.startswith(f"{BASE}tenants/nlp/"):
                annotations = document["metadata"]["annotations"]
                assert (annotations.get("argocd.argoproj.io/sync-options") == "Prune=false,Delete=false") is protected
                assert (annotations.get("kustomize.toolkit.fluxcd.io/prune") == "disabled") is protected
            if path.endswith("apps/tenant-nlp.yaml"):
                if engine == "argocd":
                    assert ("finalizers" in document["metadata"]) is not protected
                else:
                    assert document["spec"]["deletionPolicy"] == ("Orphan" if protected else "Delete")


def test_fake_values_cover_every_credential_in_the_example() -> None:
    """The plaintext test above only means something if the stand-ins reach the Secrets."""
    from render_helpers import example_spec  # noqa: PLC0415

    spec, nodes = example_spec()
    from ansible_collections.keelson.platform.plugins.plugin_utils._render import secrets_to_seal  # noqa: PLC0415

    carried = "".join(value for secret in secrets_to_seal(spec, nodes, fake_values(spec)).values() for value in secret.data.values())
    assert carried.count("PLAINTEXT-") >= 10


@pytest.mark.parametrize("engine", ENGINES)
def test_libyaml_and_pure_python_emitters_write_the_same_bytes(engine: str) -> None:
    """The tree must not depend on whether the controller's PyYAML has libyaml."""
    import yaml  # noqa: PLC0415
    from render_helpers import double_sealed, example_parts, example_spec  # noqa: PLC0415

    from ansible_collections.keelson.platform.plugins.plugin_utils import _render  # noqa: PLC0415

    if not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML without libyaml here: only the pure-Python emitter is in use")
    spec, nodes = example_spec(engine)
    tree = _render.render_documents(spec, nodes, double_sealed(spec, nodes))
    assert _render.DUMPER is not _render.PURE_DUMPER
    for path, docs in tree.items():
        assert _render.dump(docs, _render.PURE_DUMPER) == _render.dump(docs), path
    for part in example_parts(engine):
        assert yaml.dump(part.values, Dumper=_render.PURE_DUMPER, sort_keys=False, width=1000) == yaml.dump(
            part.values, Dumper=_render.DUMPER, sort_keys=False, width=1000
        )


@pytest.mark.parametrize("engine", ENGINES)
def test_the_fast_representer_writes_what_pyyaml_would(engine: str) -> None:
    """keelson builds YAML nodes itself (module_utils/_yaml.py); PyYAML's own representer and resolver must
    give the same bytes, on whole trees and on strings that need quoting."""
    import random  # noqa: PLC0415

    from render_helpers import double_sealed, example_spec  # noqa: PLC0415

    from ansible_collections.keelson.platform.plugins.module_utils import _yaml  # noqa: PLC0415
    from ansible_collections.keelson.platform.plugins.plugin_utils import _render  # noqa: PLC0415

    def stock(documents: list[Any]) -> str:
        import yaml  # noqa: PLC0415

        dumper = _yaml.dumper(stock=True)
        return yaml.dump_all(documents, Dumper=dumper, sort_keys=False, default_flow_style=False, width=1000, explicit_start=True)

    spec, nodes = example_spec(engine)
    for path, docs in _render.render_documents(spec, nodes, double_sealed(spec, nodes)).items():
        assert _yaml.dump(docs) == stock(docs), path
    pieces = [
        "yes",
        "no",
        "on",
        "null",
        "~",
        "1",
        "0x1f",
        "1e3",
        "1.5",
        ":",
        "- ",
        "#",
        "'",
        '"',
        "{",
        "[",
        "*",
        "&",
        "!",
        "%",
        "@",
        "`",
        " ",
        "\n",
        "\t",
        "é",
        "2026-12-01",
        "a: b",
        "true",
    ]
    chooser = random.Random(8)
    strings = ["".join(chooser.choice(pieces) for _index in range(chooser.randint(0, 6))) for _index in range(2000)]
    documents = [{text: [text, {"k": text}], "n": [1, True, None, [], {}]} for text in strings]
    assert _yaml.dump(documents) == stock(documents)


def test_tenant_dashboards_are_what_json_would_write() -> None:
    """The per-tenant board is a template with the tenant's values put in; it must equal a board built whole."""
    import json  # noqa: PLC0415

    from ansible_collections.keelson.platform.plugins.module_utils._components import monitoring  # noqa: PLC0415

    def odd(raw: dict[str, Any]) -> None:
        raw["tenants"][1]["namespaces"] = ["nlp", "nlp-staging", "nlp-x"]

    for part in example_parts("flux", odd):
        if part.unit.name != "monitoring":
            continue
        boards = {
            document["metadata"]["name"]: next(iter(document["data"].values()))
            for document in part.manifests
            if document["kind"] == "ConfigMap"
        }
        board = json.loads(boards["dashboard-keelson-tenant-nlp"])
        assert board["title"] == "Tenant nlp: quota usage"
        assert 'namespace=~"nlp|nlp-staging|nlp-x"' in board["panels"][0]["targets"][0]["expr"]
        rebuilt = monitoring._board(
            "keelson-tenant-nlp",
            "Tenant nlp: quota usage",
            [
                monitoring._panel(
                    i, p["title"], p["fieldConfig"]["defaults"]["unit"], [(t["expr"], t["legendFormat"]) for t in p["targets"]]
                )
                for i, p in enumerate(board["panels"])
            ],
        )
        assert boards["dashboard-keelson-tenant-nlp"] == rebuilt
