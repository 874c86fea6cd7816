# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The version catalog against the upstream chart data in ../shared/platform-data."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ansible_collections.keelson.platform.plugins.module_utils._catalog import (
    CATALOG,
    default_k3s_version,
    k3s_versions,
)

COMPONENTS = CATALOG["components"]
# Images keelson runs itself beside a chart (not the chart's defaults), pinned in the catalog all the same.
# CloudNativePG's operand is the operator's own default (its pkg/versions), not a value of the chart.
# KServe's MLServer runtime: kserve-resources v0.20.0 ships no serving runtimes; keelson renders the one it needs.
NOT_CHART_IMAGES = {("keycloak", "config_cli"), ("cloudnative_pg", "postgres"), ("kserve", "mlserver")}
# Images whose tag a chart's template or release process writes, not values.yaml: (component, image) -> the
# reference the chart really renders, from its values.yaml and Chart.yaml.
RENDERED_IMAGES = {
    # nvidia-device-plugin templates/_helpers.tpl "nvidia-device-plugin.fullimage": image.tag, else "v" + appVersion.
    ("nvidia_device_plugin", "device_plugin"): lambda values, app: f"{values['image']['repository']}:v{app}",
    # kueue: values.yaml names a staging repository and the release-0.19 tag; the published chart's values say
    # registry.k8s.io/kueue/<image>:<appVersion> (kubernetes-sigs/kueue hack/helm-chart-package.sh).
    ("kueue", "controller"): lambda values, app: (
        f"registry.k8s.io/kueue/{values['controllerManager']['manager']['image']['repository'].rsplit('/', 1)[1]}:{app}"
    ),
}


def _chart_dir(data: Path, chart: dict[str, str]) -> Path:
    path = data / "charts" / f"{chart['name']}-{chart['version']}"
    assert path.is_dir(), f"no upstream data for {chart['name']} {chart['version']} in {data / 'charts'}"
    return path


def _images(values: Any, default_tag: str) -> set[str]:
    """Every image reference a chart's values.yaml makes by default (tag: the chart's appVersion when empty)."""
    found: set[str] = set()
    registry = values.get("imageRegistry") if isinstance(values, dict) else None
    version = (values.get("kserve") or {}).get("version") if isinstance(values, dict) else None
    namespace = values.get("imageNamespace") if isinstance(values, dict) else None

    def walk(node: Any, key: str) -> None:
        if isinstance(node, dict):
            if "image" in key.lower():
                repository = node.get("repository") or node.get("repo")
                if not repository and node.get("name") and registry:
                    repository = f"{registry}/{namespace}/{node['name']}"
                if isinstance(repository, str) and repository:
                    if node.get("registry") and not repository.startswith(str(node["registry"])):
                        repository = f"{node['registry']}/{repository}"
                    found.add(f"{repository}:{node.get('tag') or default_tag}")
            elif isinstance(node.get("image"), str) and "tag" in node:
                # kserve-resources: {image: <repository>, tag: ""}, the empty tag filled from kserve.version.
                found.add(f"{node['image']}:{node.get('tag') or version or default_tag}")
            for child_key, child in node.items():
                if child_key.endswith("Image") and isinstance(child, str) and ":" in child:
                    found.add(child)  # kserve-resources' controller.rbacProxyImage: a whole reference
                # A map of images (MLflow's initImages: dbchecker, ...) names its entries without "image".
                walk(child, f"{key}.{child_key}" if "image" in key.lower() else str(child_key))
        elif isinstance(node, list):
            for child in node:
                walk(child, key)

    walk(values, "")
    return found


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_chart_matches_upstream(component: str, shared_data: Path) -> None:
    chart = COMPONENTS[component]["chart"]
    meta = yaml.safe_load((_chart_dir(shared_data, chart) / "Chart.yaml").read_text())
    assert meta["name"] == chart["name"]
    # cert-manager's release tool writes the version at release time; its Chart.yaml in git says v0.0.0.
    assert meta["version"] in (chart["version"], "v0.0.0")


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_images_are_the_charts_defaults(component: str, shared_data: Path) -> None:
    chart = COMPONENTS[component]["chart"]
    folder = _chart_dir(shared_data, chart)
    meta = yaml.safe_load((folder / "Chart.yaml").read_text())
    app_version = chart["version"] if meta["appVersion"] == "v0.0.0" else str(meta["appVersion"])
    images = _images(yaml.safe_load((folder / "values.yaml").read_text()), app_version)
    for name, reference in COMPONENTS[component]["images"].items():
        if (component, name) in NOT_CHART_IMAGES:
            continue
        if (component, name) in RENDERED_IMAGES:
            values = yaml.safe_load((folder / "values.yaml").read_text())
            assert reference == RENDERED_IMAGES[(component, name)](values, app_version), f"{component}.{name}"
            continue
        assert reference in images, f"{component}.{name}: {reference} is not a default image of {chart['name']} {chart['version']}"


def test_expected_chart_versions() -> None:
    versions = {name: entry["chart"]["version"] for name, entry in COMPONENTS.items()}
    assert versions == {
        "argocd": "10.1.1",
        "flux_operator": "0.49.0",
        "flux_instance": "0.49.0",
        "sealed_secrets": "2.18.5",
        "cert_manager": "v1.21.1",
        "minio": "5.4.0",
        "weaviate": "17.8.3",
        "monitoring": "88.5.3",
        "cloudnative_pg": "0.29.0",
        "keycloak": "7.1.11",
        "nvidia_device_plugin": "0.20.0",
        "kueue": "0.19.2",
        "kserve_crd": "v0.20.0",
        "kserve": "v0.20.0",
        "argo_workflows": "1.0.18",
        "mlflow": "1.11.5",
    }


def test_the_flux_release_is_one_the_pinned_operator_embeds(shared_data: Path) -> None:
    """The operator resolves the FluxInstance's version against the manifests built into its image: a release it
    does not embed never installs ("no match found for semver")."""
    operator = COMPONENTS["flux_operator"]["chart"]["version"]
    listing = shared_data / "crds" / f"flux-operator-v{operator}" / "flux-distribution.txt"
    assert listing.is_file(), f"no list of the Flux releases flux-operator {operator} embeds at {listing}"
    embedded = listing.read_text().split()
    distribution = COMPONENTS["flux_instance"]["distribution"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", distribution), f"pin an exact Flux release, not {distribution!r}"
    assert f"v{distribution}" in embedded, f"Flux {distribution} is not embedded in flux-operator {operator} ({embedded[-1]} is the newest)"


def test_k3s_versions_are_pinned_releases() -> None:
    assert default_k3s_version() in k3s_versions()
    for version in k3s_versions():
        assert re.fullmatch(r"v\d+\.\d+\.\d+\+k3s\d+", version), version


def _kube_minimum(constraint: str) -> tuple[int, int]:
    match = re.search(r">=\s*(\d+)\.(\d+)", constraint)
    assert match, constraint
    return int(match.group(1)), int(match.group(2))


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_k3s_satisfies_every_charts_kube_version(component: str, shared_data: Path) -> None:
    meta = yaml.safe_load((_chart_dir(shared_data, COMPONENTS[component]["chart"]) / "Chart.yaml").read_text())
    if "kubeVersion" not in meta:
        pytest.skip(f"{meta['name']} states no kubeVersion")
    minimum = _kube_minimum(meta["kubeVersion"])
    for version in k3s_versions():
        major, minor = (int(part) for part in version[1:].split(".")[:2])
        assert (major, minor) >= minimum, f"k3s {version} is older than {meta['name']} needs ({meta['kubeVersion']})"


def test_nothing_resolves_latest(repo: Path) -> None:
    tracked = subprocess.run(
        [
            "git",
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "plugins",
            "roles",
            "playbooks",
            "inventories",
            "molecule",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    offenders = [
        name
        for name in tracked
        if (repo / name).is_file() and re.search(r"(:latest\b|/latest\b|version:\s*[\"']?latest)", (repo / name).read_text(errors="ignore"))
    ]
    assert offenders == []


def test_the_ml_steps_are_tested_against_the_mlflow_release_the_platform_runs() -> None:
    """`make ml` runs the tracking server, the users Job's script and the steps' client at one MLflow release: the
    one of the catalog's server image (which also runs the users Job), so a test there is a test of what is served."""
    root = Path(__file__).resolve().parents[4]
    image = COMPONENTS["mlflow"]["images"]["mlflow"]
    served = image.rsplit(":", 1)[1]
    pins = dict(re.findall(r"^(mlflow(?:\[auth\])?|mlflow-skinny)==(\S+)", (root / "requirements/ml.txt").read_text(), re.MULTILINE))
    locked = dict(re.findall(r"^(mlflow|mlflow-skinny)==(\S+)$", (root / "requirements/ml-constraints.txt").read_text(), re.MULTILINE))
    assert pins == {"mlflow[auth]": served}, f"requirements/ml.txt pins {pins}, the catalog serves {image}"
    assert locked == {"mlflow": served, "mlflow-skinny": served}, "make lock-ml after changing requirements/ml.txt"
