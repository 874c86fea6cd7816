# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kueue's queues and the NVIDIA device plugin, read off the rendered tree: every tenant's queue reaches only its
own ClusterQueue and quota, Kueue manages only tenant namespaces, GPU pods land on GPU hosts."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from render_helpers import double_sealed, example_spec
from spec_cases import BASE_NODES, BASE_SPEC
from test_pod_security import helm_merge, violations

from ansible_collections.keelson.platform.plugins.module_utils import _ml
from ansible_collections.keelson.platform.plugins.module_utils._components import kueue, nvidia_device_plugin
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import BASELINE
from ansible_collections.keelson.platform.plugins.module_utils._spec import validate_platform
from ansible_collections.keelson.platform.plugins.module_utils._tenancy import TENANT_LABEL
from ansible_collections.keelson.platform.plugins.plugin_utils import _render
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

ENGINES = ("argocd", "flux")
Tree = dict[str, list[dict[str, Any]]]


def _tree(engine: str = "argocd", changes: Any = None) -> tuple[Platform, Tree]:
    spec, nodes = example_spec(engine, changes)
    return Platform(spec, nodes), _render.render_documents(spec, nodes, double_sealed(spec, nodes))


def _objects(tree: Tree, kind: str) -> list[dict[str, Any]]:
    return [document for documents in tree.values() for document in documents if document.get("kind") == kind]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions: In, NotIn, Exists, DoesNotExist) against labels."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True


def test_selects() -> None:
    assert selects({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"})
    assert not selects({"matchLabels": {"a": "1"}}, {"a": "2"})
    assert selects({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""})
    assert not selects({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {})
    assert not selects({"matchExpressions": [{"key": "a", "operator": "In", "values": ["x"]}]}, {"a": "y"})


def _namespaces(platform: Platform, tree: Tree) -> dict[str, dict[str, str]]:
    """Every namespace the cluster will have, with its labels: the tenants' as rendered, the platform's (labels
    or not, they never carry the tenant label) and Kubernetes' own."""
    found = {document["metadata"]["name"]: dict(document["metadata"].get("labels") or {}) for document in _objects(tree, "Namespace")}
    for name in [unit.namespace for unit in platform.registered] + ["kube-system", "default", "kube-public"]:
        found.setdefault(name, {"kubernetes.io/metadata.name": name})
    return found


# ------------------------------------------------------------------------------------------------ Kueue


@pytest.mark.parametrize("engine", ENGINES)
def test_each_cluster_queue_admits_exactly_its_tenants_namespaces(engine: str) -> None:
    platform, tree = _tree(engine)
    namespaces = _namespaces(platform, tree)
    queues = {queue["metadata"]["name"]: queue for queue in _objects(tree, "ClusterQueue")}
    assert set(queues) == {_ml.cluster_queue(tenant.name) for tenant in platform.spec.tenants}
    for tenant in platform.spec.tenants:
        spec = queues[_ml.cluster_queue(tenant.name)]["spec"]
        admitted = {name for name, labels in namespaces.items() if selects(spec["namespaceSelector"], labels)}
        assert admitted == set(tenant.namespaces), tenant.name


@pytest.mark.parametrize("engine", ENGINES)
def test_no_local_queue_points_at_another_tenants_cluster_queue(engine: str) -> None:
    platform, tree = _tree(engine)
    owner = {namespace: tenant.name for tenant in platform.spec.tenants for namespace in tenant.namespaces}
    queues = _objects(tree, "LocalQueue")
    assert sorted(queue["metadata"]["namespace"] for queue in queues) == sorted(owner)
    for queue in queues:
        assert queue["metadata"]["name"] == _ml.LOCAL_QUEUE
        assert queue["spec"]["clusterQueue"] == _ml.cluster_queue(owner[queue["metadata"]["namespace"]])
    # Each LocalQueue sits in its tenant's own keelson folder, applied as that tenant.
    for path, documents in tree.items():
        for document in documents:
            if document.get("kind") == "LocalQueue":
                assert platform.layout.tenant_of(path) == owner[document["metadata"]["namespace"]], path


def test_cluster_queue_quotas_equal_the_spec_and_share_one_cohort() -> None:
    def changes(raw: dict[str, Any]) -> None:
        raw["tenants"][0]["quota"] = {"cpu": "3500m", "memory": "7Gi", "gpu": 1}

    platform, tree = _tree("argocd", changes)
    queues = {queue["metadata"]["name"]: queue["spec"] for queue in _objects(tree, "ClusterQueue")}
    flavors = [flavor["metadata"]["name"] for flavor in _objects(tree, "ResourceFlavor")]
    assert flavors == [kueue.FLAVOR]
    for tenant in platform.spec.tenants:
        spec = queues[_ml.cluster_queue(tenant.name)]
        assert spec["cohortName"] == _ml.COHORT
        (group,) = spec["resourceGroups"]
        assert group["coveredResources"] == ["cpu", "memory", _ml.GPU_RESOURCE]
        (flavor,) = group["flavors"]
        assert flavor["name"] == kueue.FLAVOR
        quota = {resource["name"]: resource["nominalQuota"] for resource in flavor["resources"]}
        assert quota == {"cpu": tenant.quota.cpu, "memory": tenant.quota.memory, _ml.GPU_RESOURCE: tenant.quota.gpu}
        # No borrowing limit: idle quota anywhere in the cohort may be borrowed; reclaimed whatever the borrower's
        # priority once its owner needs it.
        assert all("borrowingLimit" not in resource and "lendingLimit" not in resource for resource in flavor["resources"])
        assert spec["preemption"]["reclaimWithinCohort"] == "Any"
        assert spec["fairSharing"] == {"weight": 1}
    first = platform.spec.tenants[0]
    assert queues[_ml.cluster_queue(first.name)]["resourceGroups"][0]["flavors"][0]["resources"] == [
        {"name": "cpu", "nominalQuota": "3500m"},
        {"name": "memory", "nominalQuota": "7Gi"},
        {"name": _ml.GPU_RESOURCE, "nominalQuota": 1},
    ]


def _manager_config(platform: Platform) -> dict[str, Any]:
    """The Configuration as the chart reads it: the text of its values."""
    return dict(yaml.safe_load(kueue.UNIT.values(platform)["managerConfig"]["controllerManagerConfigYaml"]))


@pytest.mark.parametrize("engine", ENGINES)
def test_kueue_manages_pods_with_a_queue_in_tenant_namespaces_only(engine: str) -> None:
    platform, tree = _tree(engine)
    config = _manager_config(platform)
    assert config["apiVersion"] == "config.kueue.x-k8s.io/v1beta2"
    assert config["manageJobsWithoutQueueName"] is False
    assert "pod" in config["integrations"]["frameworks"]
    # Fair sharing is on (config v1beta2: the section's presence).
    assert config["fairSharing"]["preemptionStrategies"]
    # The chart puts this selector on every webhook (templates/webhook/manifests.yaml), and Kueue manages pods
    # only there: tenant namespaces, never Kueue's own or a system or platform namespace.
    namespaces = _namespaces(platform, tree)
    managed = {name for name, labels in namespaces.items() if selects(config["managedJobsNamespaceSelector"], labels)}
    assert managed == {namespace for tenant in platform.spec.tenants for namespace in tenant.namespaces}
    assert kueue.UNIT.namespace not in managed
    assert all(labels[TENANT_LABEL] for name, labels in namespaces.items() if name in managed)


def test_the_manager_config_keeps_the_charts_own_settings(shared_data: Path) -> None:
    """keelson's Configuration restates the chart's default text: any key of the default it dropped or changed
    unknowingly shows here (the chart reads the whole text, so a missing key is a lost default)."""
    chart = yaml.safe_load((shared_data / "charts" / "kueue-0.19.2" / "values.yaml").read_text())
    default = yaml.safe_load(chart["managerConfig"]["controllerManagerConfigYaml"])
    ours = kueue.manager_config()
    changed = {key for key in set(default) | set(ours) if default.get(key) != ours.get(key)}
    assert changed == {"integrations", "manageJobsWithoutQueueName", "managedJobsNamespaceSelector", "fairSharing"}
    assert set(ours["integrations"]["frameworks"]) <= set(default["integrations"]["frameworks"])


@pytest.mark.parametrize("engine", ENGINES)
def test_tenants_read_their_queues_but_never_write_them(engine: str) -> None:
    _platform, tree = _tree(engine)
    roles = {
        role["metadata"]["name"]: role for role in _objects(tree, "ClusterRole") if role["metadata"]["name"].startswith("keelson-tenant-")
    }
    assert set(roles) == {"keelson-tenant-admin", "keelson-tenant-edit"}
    for role in roles.values():
        kueue_rules = [rule for rule in role["rules"] if "kueue.x-k8s.io" in rule["apiGroups"]]
        assert kueue_rules, role["metadata"]["name"]
        assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in kueue_rules)
        assert {resource for rule in kueue_rules for resource in rule["resources"]} >= {"localqueues", "workloads"}
        assert not any("clusterqueues" in rule["resources"] for rule in kueue_rules)


def test_kueue_off_renders_no_queue() -> None:
    _platform, tree = _tree("argocd", lambda raw: raw["components"].update(kueue={"enabled": False}))
    assert not any(_objects(tree, kind) for kind in ("ClusterQueue", "LocalQueue", "ResourceFlavor"))


# ------------------------------------------------------------------------------- the NVIDIA device plugin


def _with_gpus(gpus: int, enabled: Any = None) -> Platform:
    spec = copy.deepcopy(BASE_SPEC)
    if enabled is not None:
        spec.setdefault("components", {})["nvidia_device_plugin"] = {"enabled": enabled}
    for tenant in spec.get("tenants", []):
        tenant.get("quota", {}).pop("gpu", None)
    nodes = copy.deepcopy(BASE_NODES)
    for node in nodes:
        node["keelson_node"] = {**(node["keelson_node"] or {}), "gpus": 0}
    nodes[-1]["keelson_node"]["gpus"] = gpus
    validated = validate_platform(spec, nodes)
    return Platform(validated.spec, validated.nodes or [])


@pytest.mark.parametrize(
    ("gpus", "enabled", "on"),
    [(2, None, True), (0, None, False), (0, True, True), (2, False, False)],
    ids=["gpus-default-on", "no-gpus-default-off", "explicit-on-wins", "explicit-off-wins"],
)
def test_the_device_plugin_is_on_where_hosts_have_gpus_unless_told(gpus: int, enabled: Any, on: bool) -> None:
    platform = _with_gpus(gpus, enabled)
    assert platform.enabled(nvidia_device_plugin.UNIT.name) is on
    assert platform.spec.components.nvidia_device_plugin.enabled is on  # the spec says it, so docs and status agree


def test_without_the_inventory_the_renderer_decides_from_its_nodes() -> None:
    spec = validate_platform(copy.deepcopy(BASE_SPEC)).spec
    assert spec["components"]["nvidia_device_plugin"]["enabled"] is None
    gpu = [{"host": "gpu-1", "role": "agent", "address": "10.0.0.9", "gpus": 1}]
    assert Platform(spec, gpu).enabled(nvidia_device_plugin.UNIT.name)
    assert not Platform(spec, [{**gpu[0], "gpus": 0}]).enabled(nvidia_device_plugin.UNIT.name)


def test_the_device_plugin_runs_only_on_labelled_gpu_hosts_with_the_nvidia_runtime(shared_data: Path) -> None:
    platform, tree = _tree("argocd")
    assert platform.enabled(nvidia_device_plugin.UNIT.name)
    chart = yaml.safe_load((shared_data / "charts" / "nvidia-device-plugin-0.20.0" / "values.yaml").read_text())
    merged = helm_merge(chart, nvidia_device_plugin.UNIT.values(platform))
    (term,) = merged["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term == {"matchExpressions": [{"key": _ml.GPU_NODE_LABEL, "operator": "In", "values": [_ml.GPU_NODE_VALUE]}]}
    assert merged["runtimeClassName"] == _ml.NVIDIA_RUNTIME_CLASS
    assert merged["gfd"]["enabled"] is False and not merged["nfd"].get("enabled")
    # GPUs reach a container as the plugin's volume mounts only (the GPU hosts' runtime ignores NVIDIA_VISIBLE_DEVICES
    # from unprivileged containers: roles/prereq/tasks/nvidia.yml, tests/integration/test_nvidia_runtime_config.py).
    assert "deviceListStrategy" in chart and merged["deviceListStrategy"] == "volume-mounts"
    (runtime,) = _objects(tree, "RuntimeClass")
    assert runtime["metadata"]["name"] == _ml.NVIDIA_RUNTIME_CLASS
    assert runtime["handler"] == nvidia_device_plugin.HANDLER
    assert runtime["scheduling"]["nodeSelector"] == {_ml.GPU_NODE_LABEL: _ml.GPU_NODE_VALUE}


def test_the_device_plugins_pods_need_a_privileged_namespace(shared_data: Path) -> None:
    """Its DaemonSet mounts the kubelet's device-plugins folder from the host: baseline refuses that."""
    chart = yaml.safe_load((shared_data / "charts" / "nvidia-device-plugin-0.20.0" / "values.yaml").read_text())
    platform = _tree("argocd")[0]
    pods = nvidia_device_plugin.UNIT.chart_pods(helm_merge(chart, nvidia_device_plugin.UNIT.values(platform)))
    assert pods is not None
    found = dict(pods)
    assert set(found) == {"DaemonSet nvidia-device-plugin", "DaemonSet nvidia-device-plugin-mps-control-daemon"}
    assert "volume kubelet-device-plugins-dir: hostPath" in violations(found["DaemonSet nvidia-device-plugin"], BASELINE)
    # The volume-mounts device list strategy makes the chart add SYS_ADMIN to the plugin ("requiresCapSysAdmin").
    [plugin] = found["DaemonSet nvidia-device-plugin"]["containers"]
    assert plugin["securityContext"] == {"capabilities": {"add": ["SYS_ADMIN"]}}
    # The MPS control daemon the chart renders beside it (on no node until MPS is configured) is privileged.
    refused = violations(found["DaemonSet nvidia-device-plugin-mps-control-daemon"], BASELINE)
    assert "container mps-control-daemon-ctr: privileged" in refused, refused
    assert nvidia_device_plugin.UNIT.pod_security == "privileged"


def test_no_gpu_hosts_no_runtime_class() -> None:
    platform = _with_gpus(0)
    assert not any(document.get("kind") == "RuntimeClass" for unit in platform.units for document in unit.manifests(platform))


def test_gpu_steps_get_the_runtime_class() -> None:
    assert _ml.runtime_class(1) == {"runtimeClassName": _ml.NVIDIA_RUNTIME_CLASS}
    assert _ml.runtime_class(0) == {}
