# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every workload's pod meets its namespace's Pod Security level (issue 9).

Pod Security is enforced on Pods, so a Deployment whose template breaks the level applies fine and then never
gets a Pod. Two sources of pod specs:

- the charts: helm cannot fetch them here, so each unit models the pod specs its chart renders from its values
  (``Unit.chart_pods``, citing the template lines it follows); the test merges the chart's own values.yaml (from
  ../shared/platform-data) with keelson's values the way Helm does and checks the result;
- keelson's own manifests (the realm import Job, Weaviate's RBAC Job, ...): checked as rendered, against their
  namespace's level and against ``restricted``, which keelson can always meet for what it writes itself.

The rules are the Pod Security Standards' (https://kubernetes.io/docs/concepts/security/pod-security-standards/),
the controls that a pod spec's security fields decide.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import yaml
from render_helpers import acme, double_sealed, example_spec, lean, no_backups

from ansible_collections.keelson.platform.plugins.module_utils._components._unit import BASELINE, PRIVILEGED, RESTRICTED, Unit
from ansible_collections.keelson.platform.plugins.plugin_utils import _render
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

ENGINES = ("argocd", "flux")

# --------------------------------------------------------------------------------- the Pod Security rules

_BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
_SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
_RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip
_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec.get("containers", []), *spec.get("ephemeralContainers", [])]


def _baseline(spec: dict[str, Any]) -> list[str]:
    problems = [f"{field}: true" for field in ("hostNetwork", "hostPID", "hostIPC") if spec.get(field)]
    problems += [f"volume {volume.get('name')}: hostPath" for volume in spec.get("volumes", []) if "hostPath" in volume]
    pod = spec.get("securityContext") or {}
    contexts = [("pod", pod)] + [(f"container {c.get('name')}", c.get("securityContext") or {}) for c in _containers(spec)]
    for where, context in contexts:
        if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
            problems.append(f"{where}: seccompProfile Unconfined")
        if (context.get("appArmorProfile") or {}).get("type") == "Unconfined":
            problems.append(f"{where}: appArmorProfile Unconfined")
        selinux = context.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in _SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
            problems.append(f"{where}: seLinuxOptions {selinux}")
    problems += [
        f"sysctl {item.get('name')}: not a safe sysctl" for item in pod.get("sysctls", []) if item.get("name") not in _SAFE_SYSCTLS
    ]
    for container in _containers(spec):
        name, context = container.get("name"), container.get("securityContext") or {}
        if context.get("privileged"):
            problems.append(f"container {name}: privileged")
        added = set((context.get("capabilities") or {}).get("add", [])) - _BASELINE_CAPABILITIES
        if added:
            problems.append(f"container {name}: adds capabilities {sorted(added)}")
        if context.get("procMount", "Default") != "Default":
            problems.append(f"container {name}: procMount {context['procMount']}")
        problems += [f"container {name}: hostPort {port['hostPort']}" for port in container.get("ports", []) if port.get("hostPort")]
    return problems


def _restricted(spec: dict[str, Any]) -> list[str]:
    problems = _baseline(spec)
    pod = spec.get("securityContext") or {}
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= _RESTRICTED_VOLUMES:
            problems.append(f"volume {volume.get('name')}: {sorted(kinds - _RESTRICTED_VOLUMES)} not allowed")
    if pod.get("runAsUser") == 0:
        problems.append("pod: runAsUser 0")
    for container in _containers(spec):
        name, context = container.get("name"), container.get("securityContext") or {}
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"container {name}: allowPrivilegeEscalation is not false")
        non_root = context.get("runAsNonRoot", pod.get("runAsNonRoot"))
        if non_root is not True:
            problems.append(f"container {name}: runAsNonRoot is not true (container or pod)")
        if context.get("runAsUser") == 0:
            problems.append(f"container {name}: runAsUser 0")
        seccomp = (context.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"container {name}: seccompProfile is {seccomp} (RuntimeDefault or Localhost, container or pod)")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in capabilities.get("drop", []):
            problems.append(f"container {name}: capabilities do not drop ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"container {name}: adds capabilities other than NET_BIND_SERVICE")
    return problems


def violations(spec: dict[str, Any], level: str) -> list[str]:
    """What in ``spec`` (a pod spec) the Pod Security ``level`` forbids."""
    if level == PRIVILEGED:
        return []
    return _restricted(spec) if level == RESTRICTED else _baseline(spec)


@pytest.mark.parametrize(
    ("spec", "level", "found"),
    [
        ({"containers": [{"name": "c"}]}, BASELINE, []),
        ({"hostNetwork": True, "containers": [{"name": "c"}]}, BASELINE, ["hostNetwork: true"]),
        ({"containers": [{"name": "c", "securityContext": {"privileged": True}}]}, BASELINE, ["container c: privileged"]),
        ({"containers": [{"name": "c", "ports": [{"hostPort": 80}]}]}, BASELINE, ["container c: hostPort 80"]),
        ({"volumes": [{"name": "h", "hostPath": {"path": "/"}}], "containers": []}, BASELINE, ["volume h: hostPath"]),
        (
            {"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]},
            BASELINE,
            ["container c: adds capabilities ['SYS_ADMIN']"],
        ),
        ({"containers": [{"name": "c", "securityContext": {"privileged": True}}]}, PRIVILEGED, []),
        (
            {
                "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
            },
            RESTRICTED,
            [],
        ),
        (
            {"containers": [{"name": "c", "securityContext": {"runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}}]},
            RESTRICTED,
            [
                "container c: allowPrivilegeEscalation is not false",
                "container c: seccompProfile is None (RuntimeDefault or Localhost, container or pod)",
            ],
        ),
    ],
)
def test_the_rules(spec: dict[str, Any], level: str, found: list[str]) -> None:
    assert violations(spec, level) == found


# ------------------------------------------------------------------------------------- chart values merge


def helm_merge(defaults: Any, values: Any) -> Any:
    """The chart's values with the given ones merged in, as Helm coalesces them: maps merge key by key, anything
    else replaces, and null removes the key."""
    if not isinstance(defaults, dict) or not isinstance(values, dict):
        return copy.deepcopy(values)
    merged = copy.deepcopy(defaults)
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = helm_merge(merged.get(key), value)
    return merged


def test_helm_merge() -> None:
    assert helm_merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": 3}, "d": [2], "e": None}) == {"a": {"b": 3, "c": 2}, "d": [2]}
    assert helm_merge({"a": {"b": 1}}, {"a": None}) == {}


def _chart_values(shared_data: Path, unit: Unit[Any]) -> dict[str, Any]:
    folder = shared_data / "charts" / f"{unit.chart.name}-{unit.chart.version}"
    return dict(yaml.safe_load((folder / "values.yaml").read_text()) or {})  # kserve-crd's values.yaml is empty


# ------------------------------------------------------------------------------------------------ variants


def _single(raw: dict[str, Any]) -> None:
    """Argo CD without HA (example-ha runs redis-ha): plain redis and one replica of each."""
    if "argocd" in raw["gitops"]:
        raw["gitops"]["argocd"]["ha"] = False


VARIANTS: dict[str, Optional[Callable[[dict[str, Any]], None]]] = {
    "example": None,
    "lean": lean,
    "no-backups": no_backups,
    "acme": acme,
    "single": _single,
}


def _parts(engine: str, variant: str) -> tuple[Platform, list[Any]]:
    spec, nodes = example_spec(engine, VARIANTS[variant])
    platform = Platform(spec, nodes)
    return platform, _render.parts(platform, double_sealed(spec, nodes))


# ------------------------------------------------------------------------------------------------ the tests


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("engine", ENGINES)
def test_every_chart_pod_meets_its_namespace_level(shared_data: Path, engine: str, variant: str) -> None:
    _platform, parts = _parts(engine, variant)
    checked = 0
    for part in parts:
        pods = part.unit.chart_pods(helm_merge(_chart_values(shared_data, part.unit), part.values))
        for what, spec in pods or []:
            assert violations(spec, part.unit.pod_security) == [], (
                f"{part.unit.name}: {what} in {part.unit.pod_security} {part.unit.namespace}"
            )
            checked += 1
    assert checked >= (1 if variant == "lean" else 3)


# Units whose chart pods no model covers yet, and why that is safe for now or whose work it is. A unit in a
# privileged namespace needs none (any pod is admitted there).
NOT_MODELLED: dict[str, str] = {}


def test_every_unit_in_a_checked_namespace_models_its_chart_pods_or_says_why_not() -> None:
    spec, nodes = example_spec("argocd")
    platform = Platform(spec, nodes)
    flux_spec, flux_nodes = example_spec("flux")
    units = {unit.name: unit for unit in (*platform.registered, *Platform(flux_spec, flux_nodes).registered)}
    unmodelled = {name for name, unit in units.items() if unit.pod_security != PRIVILEGED and unit.chart_pods({}) is None}
    assert unmodelled == set(NOT_MODELLED), "model the chart's pods in the unit (Unit.chart_pods), or list it here with why"


def test_the_chart_defaults_alone_would_be_refused(shared_data: Path) -> None:
    """What the issue found: without keelson's values, sealed-secrets' pods break restricted and Weaviate's
    break baseline. The check above is worth only as much as it can fail."""
    _platform, parts = _parts("argocd", "example")
    found = {}
    for part in parts:
        pods = part.unit.chart_pods(_chart_values(shared_data, part.unit))
        found[part.unit.name] = [problem for _what, spec in pods or [] for problem in violations(spec, part.unit.pod_security)]
    assert found["sealed-secrets"] == [
        "container controller: allowPrivilegeEscalation is not false",
        "container controller: seccompProfile is None (RuntimeDefault or Localhost, container or pod)",
    ]
    assert found["weaviate"] == ["container configure-sysctl: privileged"]
    assert found["keycloak"] == []  # baseline: the chart's defaults pass


_POD_KINDS = {
    "Pod": (),
    "Deployment": ("template",),
    "StatefulSet": ("template",),
    "DaemonSet": ("template",),
    "ReplicaSet": ("template",),
    "Job": ("template",),
}


def _pod_spec(document: dict[str, Any]) -> Optional[dict[str, Any]]:
    kind = document.get("kind")
    if kind == "CronJob":
        return dict(document["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    if kind not in _POD_KINDS:
        return None
    node = document["spec"]
    for key in _POD_KINDS[kind]:
        node = node[key]
    return dict(node["spec"]) if kind != "Pod" else dict(node)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("engine", ENGINES)
def test_every_pod_keelson_renders_meets_restricted(engine: str, variant: str) -> None:
    spec, nodes = example_spec(engine, VARIANTS[variant])
    platform = Platform(spec, nodes)
    tree = _render.render_documents(spec, nodes, double_sealed(spec, nodes))
    levels = {unit.namespace: unit.pod_security for unit in platform.units}
    levels.update({namespace: RESTRICTED for tenant in platform.spec.tenants for namespace in tenant.namespaces})
    pods = [(path, document) for path, documents in tree.items() for document in documents if _pod_spec(document) is not None]
    for path, document in pods:
        pod = _pod_spec(document)
        assert pod is not None
        namespace = document["metadata"]["namespace"]
        # Its namespace's level, and restricted: what keelson writes itself can always meet it.
        assert violations(pod, levels[namespace]) == [], path
        assert violations(pod, RESTRICTED) == [], path
    if variant != "lean":
        assert {document["metadata"]["name"].rsplit("-", 1)[0] for _path, document in pods} >= {
            "keelson-realm-import",
            "keelson-weaviate-rbac",
        }
