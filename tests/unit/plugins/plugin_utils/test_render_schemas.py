# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every rendered document against the real schemas: built-in kinds with kubernetes-validate at the
Kubernetes minor of the catalog's k3s, custom resources against the openAPIV3Schema of the upstream CRDs,
and every Helm values key against the chart's values.yaml / values.schema.json (../shared/platform-data)."""

from __future__ import annotations

import copy
import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import yaml
from render_helpers import absent, acme, ca_of, double_sealed, example_parts, lean, normalised, render_example
from spec_cases import BASE_NODES, BASE_SPEC

from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG, default_k3s_version
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import Unit
from ansible_collections.keelson.platform.plugins.plugin_utils import _render, _tree_check

K8S = ".".join(default_k3s_version().lstrip("v").split(".")[:2])


VARIANTS: dict[str, Optional[Callable[[dict[str, Any]], None]]] = {"example": None, "acme": acme, "lean": lean, "absent": absent}


@functools.lru_cache(maxsize=1)
def _schemas_from(folder: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    # The CRDs the catalog lists, found by file name: exactly what the GitOps repo's CI downloads.
    urls = [url for component in CATALOG["components"].values() for url in component.get("crds", [])]
    return _tree_check.crd_schemas(_tree_check._load_crds(folder, urls))


def _crd_schemas(shared_data: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    return _schemas_from(str(shared_data / "crds"))


def test_the_catalog_lists_crds_that_exist_upstream_at_its_versions(shared_data: Path) -> None:
    for name, component in CATALOG["components"].items():
        for url in component.get("crds", []):
            assert url.startswith("https://raw.githubusercontent.com/"), url
            matches = list((shared_data / "crds").rglob(url.rsplit("/", 1)[1]))
            assert len(matches) == 1, f"{name}: {url}"
            tag = url.split("/")[5]
            assert matches[0].parent.name.endswith(tag), f"{name}: {url} is not at the version of {matches[0].parent.name}"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("engine", ["argocd", "flux"])
def test_every_rendered_document_is_valid(shared_data: Path, engine: str, variant: str) -> None:
    files = render_example(engine, VARIANTS[variant])
    config = yaml.safe_load(files[".keelson/validate.yaml"])
    assert config["kubernetes_version"] == K8S
    problems = _tree_check.validate_tree(files, K8S, _crd_schemas(shared_data), config["skip"])
    assert problems == []
    # The skip list leaves out only what is not a manifest: every Kubernetes object was looked at.
    checked = [path for path in files if path.endswith(".yaml") and not _tree_check._skipped(path, config["skip"])]
    assert len(checked) > 20


def test_the_smallest_spec_with_an_embedded_repository_is_valid(shared_data: Path) -> None:
    spec, nodes = normalised(copy.deepcopy(BASE_SPEC), copy.deepcopy(BASE_NODES))
    files = _render.render(spec, nodes, double_sealed(spec, nodes), ca_of(spec))
    assert _tree_check.validate_tree(files, K8S, _crd_schemas(shared_data), yaml.safe_load(files[".keelson/validate.yaml"])["skip"]) == []
    root = list(yaml.safe_load_all(files["clusters/ml-prod/apps/root.yaml"].split("---\n", 1)[1]))[-1]
    assert root["kind"] == "Application"
    assert root["spec"]["source"]["repoURL"] == "ssh://git@192.168.10.11/srv/git/ml-prod.git"


def test_the_validator_rejects_unknown_fields_and_bad_values(shared_data: Path) -> None:
    """The check above is only worth something if it can fail."""
    validators = _tree_check.Validators(K8S, _crd_schemas(shared_data))
    application = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "a"},
        "spec": {"project": "p", "destination": {}, "sourcs": []},
    }
    assert any("unknown field spec.sourcs" in problem for problem in _tree_check.validate_document(application, validators))
    issuer = {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": "i"}, "spec": {"ca": {"secretName": 3}}}
    assert _tree_check.validate_document(issuer, validators)
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}, "spec": {"hard": {"pods": "10"}, "scopes": "x"}}
    assert _tree_check.validate_document(quota, validators)
    unknown = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}}
    assert _tree_check.validate_document(unknown, validators) == ["no CRD schema for Thing example.com/v1"]
    gone = {"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "old"}}
    assert _tree_check.validate_document(gone, validators) == ["Ingress extensions/v1beta1 is not a Kubernetes 1.35 kind"]
    typo = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "lables": {}}}
    assert any("lables" in problem for problem in _tree_check.validate_document(typo, validators))


def _write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def test_the_rendered_ci_script_passes_the_tree_and_fails_a_hand_edit(shared_data: Path, tmp_path: Path) -> None:
    files = render_example("flux")
    _write(tmp_path, files)
    command = [sys.executable, ".keelson/validate.py", "--crds", str(shared_data / "crds")]
    passed = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert passed.returncode == 0, passed.stderr
    assert f"{len(files)} generated file(s) checked, 0 problem(s)" in passed.stdout
    quota = tmp_path / "platforms/ml-prod/tenants/vision/keelson/quota.yaml"
    quota.write_text(quota.read_text().replace("requests.nvidia.com/gpu: '2'", "requests.nvidia.com/gpu: '8'"), encoding="utf-8")
    (tmp_path / "notes.yaml").write_text("a file of the team's own: not checked\n", encoding="utf-8")
    failed = subprocess.run([*command, "--edits-only"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert failed.returncode == 1
    assert "platforms/ml-prod/tenants/vision/keelson/quota.yaml: edited by hand" in failed.stderr
    assert "notes.yaml" not in failed.stderr


# ------------------------------------------------------------------------------------------ chart values

# Keys the chart takes but does not list in values.yaml: free-form maps and the keys of subcharts whose
# values.yaml is not in platform-data. Each entry says why it is allowed.
ALLOWED: dict[str, dict[str, str]] = {
    "argocd": {
        "server.ingress.annotations": "free-form map of annotations",
        "configs.params.server.insecure": "argocd-cmd-params-cm keys (dotted, one key each)",
        "configs.cm.oidc.config": "argocd-cm keys (dotted, one key each)",
        "configs.cm.admin.enabled": "argocd-cm keys",
        "configs.cm.url": "argocd-cm keys",
        "configs.cm.resource.customizations.health.argoproj.io_Application": "argocd-cm keys (the Application health check)",
        "configs.cm.resource.customizations.health.argoproj.io_Workflow": "argocd-cm keys (keelson's ML training runs' health check)",
        "configs.rbac.policy.csv": "argocd-rbac-cm keys",
        "configs.rbac.policy.default": "argocd-rbac-cm keys",
        "configs.rbac.scopes": "argocd-rbac-cm keys",
        "redis-ha.enabled": "the redis-ha subchart's switch",
    },
    "kserve": {
        "kserve.storage.containerSecurityContext.seccompProfile": "a container securityContext (free-form, toYaml'd)",
    },
    "monitoring": {
        "grafana.admin.existingSecret": "grafana subchart (values.yaml not in platform-data)",
        "grafana.admin.userKey": "grafana subchart",
        "grafana.admin.passwordKey": "grafana subchart",
        "grafana.ingress.enabled": "grafana subchart",
        "grafana.ingress.ingressClassName": "grafana subchart",
        "grafana.ingress.annotations": "grafana subchart; free-form map",
        "grafana.ingress.hosts": "grafana subchart",
        "grafana.ingress.tls": "grafana subchart",
        "grafana.envValueFrom": "grafana subchart; free-form map of environment variables",
        "grafana.grafana.ini": "grafana subchart; free-form grafana.ini sections",
        "grafana.sidecar.dashboards.folderAnnotation": "grafana subchart's dashboard sidecar",
        "grafana.sidecar.dashboards.provider.foldersFromFilesStructure": "grafana subchart's dashboard sidecar",
        "kube-state-metrics.metricLabelsAllowlist": "kube-state-metrics subchart (values.yaml not in platform-data)",
        "prometheus.prometheusSpec.storageSpec": "passed through to the Prometheus resource's storage (the operator's CRD checks it)",
    },
    "minio": {"ingress.annotations": "free-form map", "consoleIngress.annotations": "free-form map"},
    "sealed-secrets": {
        # helm/sealed-secrets/templates/deployment.yaml (helm-v2.18.5) lines 54 and 225: each map, minus
        # "enabled", is the pod's / container's securityContext as it stands (any securityContext field).
        "podSecurityContext.seccompProfile": "a PodSecurityContext field; the chart passes the map through (deployment.yaml line 54)",
        "containerSecurityContext.allowPrivilegeEscalation": "a SecurityContext field; the chart passes the map through (line 225)",
    },
    "weaviate": {
        "env": "free-form map of Weaviate's environment variables",
        "envSecrets": "free-form map: variable -> Secret",
        "backups.s3.envSecrets": "free-form map: variable -> Secret",
        "backups.s3.envconfig": "free-form map of the S3 backup module's variables",
        "authentication.oidc.enabled": "listed commented out in values.yaml",
        "authentication.oidc.issuer": "listed commented out in values.yaml",
        "authentication.oidc.username_claim": "listed commented out in values.yaml",
        "authentication.oidc.groups_claim": "listed commented out in values.yaml",
        "authentication.oidc.client_id": "listed commented out in values.yaml",
        "authorization.rbac.root_users": "listed commented out in values.yaml",
        # weaviate/templates/weaviateConfigMap.yaml line 15 writes the whole authorization map into conf.yaml.
        "authorization.rbac.root_groups": "Weaviate's rbac config key (rbacconf.Config root_groups); the chart passes the map through",
    },
    "keycloak": {"ingress.annotations": "free-form map"},
    "argo-workflows": {
        # argo-helm argo-workflows-1.0.18, charts/argo-workflows/templates.
        "controller.workflowDefaults": "a Workflow the controller merges under every workflow (workflow-controller-config-map.yaml 150-152)",
        "controller.podSecurityContext": "a PodSecurityContext, passed through (workflow-controller-deployment.yaml lines 37-40)",
        "executor.securityContext": "a SecurityContext, passed through to the controller's config (config-map lines 62-64)",
        "mainContainer.securityContext": "a SecurityContext, passed through to the controller's config (config-map lines 46-48)",
        "server.podSecurityContext": "a PodSecurityContext, passed through (server/server-deployment.yaml lines 41-44)",
        "server.ingress.annotations": "free-form map",
    },
    # charts/mlflow/templates/ingress.yaml (mlflow-1.11.5) lines 3 and 21-24 copy the map into the Ingress.
    "mlflow": {
        "ingress.annotations": "free-form map",
        "extraEnvVars": "free-form map of environment variables (templates/deployment.yaml lines 608-611)",
    },
}


def _schema_allows(schema: Optional[dict[str, Any]], path: list[str]) -> bool:
    node = schema
    for key in path:
        if not isinstance(node, dict):
            return False
        node = _resolve(node, schema)
        properties = node.get("properties", {})
        if key not in properties:
            extra = node.get("additionalProperties")
            return isinstance(extra, dict) or extra is True
        node = properties[key]
    return True


def _resolve(node: dict[str, Any], root: Optional[dict[str, Any]]) -> dict[str, Any]:
    reference = node.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/") and root is not None:
        target: Any = root
        for part in reference[2:].split("/"):
            target = target[part]
        return dict(target)
    return node


def unknown_values(
    values: Any, chart: Any, schema: Optional[dict[str, Any]], allowed: dict[str, str], path: tuple[str, ...] = ()
) -> list[str]:
    """Keys we set that the chart neither lists (values.yaml) nor allows (values.schema.json, the allow-list)."""
    problems = []
    for key, value in values.items():
        here = (*path, key)
        dotted = ".".join(here)
        if dotted in allowed:
            continue
        if isinstance(chart, dict) and key in chart:
            if isinstance(value, dict) and value:
                known = chart[key]
                if isinstance(known, dict) and not known:
                    problems.append(f"{dotted}: the chart has an empty map here (free-form): allow-list it, saying why")
                elif isinstance(known, dict):
                    problems += unknown_values(value, known, schema, allowed, here)
                elif known is not None:
                    problems.append(f"{dotted}: the chart has a {type(known).__name__} here, not a map")
            continue
        if not _schema_allows(schema, list(here)):
            problems.append(f"{dotted}: not a key of the chart")
    return problems


def _chart(shared_data: Path, unit: Unit[Any]) -> tuple[Any, Optional[dict[str, Any]]]:
    """The component's chart values.yaml and values.schema.json (None without one), at the catalog's version."""
    folder = shared_data / "charts" / f"{unit.chart.name}-{unit.chart.version}"
    schema_path = folder / "values.schema.json"
    return yaml.safe_load((folder / "values.yaml").read_text()), json.loads(schema_path.read_text()) if schema_path.exists() else None


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("engine", ["argocd", "flux"])
def test_every_values_key_exists_in_the_chart(shared_data: Path, engine: str, variant: str) -> None:
    for part in example_parts(engine, VARIANTS[variant]):
        chart, schema = _chart(shared_data, part.unit)
        assert unknown_values(part.values, chart, schema, ALLOWED.get(part.unit.name, {})) == [], part.unit.name


# Values that come from the spec and may happen to equal the chart's default.
FROM_THE_SPEC: dict[str, set[str]] = {"weaviate": {"backups.s3.envconfig.BACKUP_S3_BUCKET"}, "minio": {"replicas"}}


def restated_defaults(values: Any, chart: Any, path: tuple[str, ...] = ()) -> list[str]:
    """Values we set that are exactly the chart's default: noise that hides what keelson changes."""
    found = []
    for key, value in values.items():
        if not isinstance(chart, dict) or key not in chart:
            continue
        here = (*path, key)
        if isinstance(value, dict) and isinstance(chart[key], dict):
            found += restated_defaults(value, chart[key], here)
        elif value == chart[key]:
            found.append(".".join(here))
    return found


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("engine", ["argocd", "flux"])
def test_values_only_where_keelson_differs_from_the_chart(shared_data: Path, engine: str, variant: str) -> None:
    for part in example_parts(engine, VARIANTS[variant]):
        chart, _schema = _chart(shared_data, part.unit)
        restated = set(restated_defaults(part.values, chart)) - FROM_THE_SPEC.get(part.unit.name, set())
        assert restated == set(), part.unit.name


def test_the_values_check_catches_a_misspelt_key(shared_data: Path) -> None:
    chart = yaml.safe_load((shared_data / "charts" / "minio-5.4.0" / "values.yaml").read_text())
    assert unknown_values({"persistence": {"sise": "1Ti"}}, chart, None, {}) == ["persistence.sise: not a key of the chart"]
    assert restated_defaults({"mode": "distributed", "persistence": {"size": "1Ti", "enabled": True}}, chart) == [
        "mode",
        "persistence.enabled",
    ]
    assert unknown_values({"ingress": {"annotations": {"a": "b"}}}, chart, None, {}) == [
        "ingress.annotations: the chart has an empty map here (free-form): allow-list it, saying why"
    ]


def test_stand_in_values_never_leak_into_values_files() -> None:
    files = render_example("argocd")
    assert not any("PLAINTEXT-" in text for path, text in files.items() if path.endswith("values.yaml"))


def _mutations(document: Any, path: tuple[Any, ...] = ()) -> Any:
    """Broken copies of a document: each field in turn given a wrong type or an odd string, removed, or joined
    by a typo."""
    if isinstance(document, dict):
        yield (*path, "~typo"), "unknown field"
        for key, value in document.items():
            yield (*path, key), 12345 if isinstance(value, str) else "not-a-" + type(value).__name__
            yield (*path, key), "~Not An Enum Value~"
            yield (*path, key), _REMOVE
            yield from _mutations(value, (*path, key))
    elif isinstance(document, list) and document:
        yield (*path, 0), None
        yield from _mutations(document[0], (*path, 0))


_REMOVE = object()


def _with(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    copied = copy.deepcopy(document)
    node = copied
    for part in path[:-1]:
        node = node[part]
    if value is _REMOVE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return copied


def test_the_quick_check_passes_only_what_jsonschema_passes(shared_data: Path) -> None:
    """validate_document trusts the quick check when it says valid; it must never say so wrongly."""
    validators = _tree_check.Validators(K8S, _crd_schemas(shared_data))
    kinds: dict[tuple[str, str], Any] = {}
    for engine in ("argocd", "flux"):
        files = render_example(engine)
        for path, text in files.items():
            if path.endswith(".yaml") and not path.endswith("values.yaml") and not path.startswith((".github", ".keelson")):
                for document in yaml.safe_load_all(text):
                    if isinstance(document, dict) and "kind" in document:
                        kinds.setdefault((document["apiVersion"], document["kind"]), document)
    verdicts = {True: 0, False: 0}
    for (api_version, kind), document in sorted(kinds.items()):
        validator = validators.validator(api_version, kind)
        quick = validators.quick(api_version, kind)
        assert quick is not None, f"{kind} {api_version}: no quick check (a keyword it does not know?)"
        for where, value in [((), None), *_mutations(document)]:
            broken = document if not where else _with(document, where, value)
            passed = bool(quick(broken))
            if passed:
                assert not list(validator.iter_errors(broken)), f"{kind}: the quick check passed {where} = {value!r}"
            verdicts[passed] += 1
    assert verdicts[True] >= len(kinds) and verdicts[False] > 300, verdicts  # it passes the tree and rejects much
