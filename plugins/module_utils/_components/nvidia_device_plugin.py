# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The NVIDIA device plugin: advertises each GPU host's GPUs to the kubelet as ``nvidia.com/gpu``.

On by default only when some host declares GPUs (``keelson_node.gpus`` > 0); an explicit ``enabled`` wins. It
runs only on the hosts k3s labels as GPU hosts (``_ml.GPU_NODE_LABEL``, set from ``keelson_node.gpus`` in the
host's k3s config), through the ``nvidia`` containerd runtime k3s registers when it finds the NVIDIA container
toolkit on the host (preflight checks it is there). The ``RuntimeClass`` ``_ml.NVIDIA_RUNTIME_CLASS`` lets GPU
pods ask for that runtime, and schedules them onto the GPU hosts."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Final, Optional

from ansible_collections.keelson.platform.plugins.module_utils import _ml
from ansible_collections.keelson.platform.plugins.module_utils._catalog import CATALOG
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import PRIVILEGED, Document, Unit
from ansible_collections.keelson.platform.plugins.module_utils._schema import DERIVED, Bool, Nullable, spec_field

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

# The containerd runtime handler k3s configures for the NVIDIA container runtime.
HANDLER: Final = "nvidia"
# The taint GPU hosts conventionally carry (the chart's default tolerations tolerate it, values.yaml
# tolerations): pods that ask for the NVIDIA runtime tolerate it too, through the RuntimeClass.
GPU_TAINT_KEY: Final = "nvidia.com/gpu"
# Where the kubelet keeps its device plugin sockets: the chart mounts it from the host
# (templates/daemonset-device-plugin.yml lines 236-239), with the MPS folders and /var/run/cdi (lines 240-256).
KUBELET_DEVICE_PLUGINS: Final = "/var/lib/kubelet/device-plugins"
# How the plugin tells the runtime which GPUs a container got (README "DEVICE_LIST_STRATEGY").
DEVICE_LIST_STRATEGY: Final = "volume-mounts"


def gpu_affinity() -> Document:
    """Only the hosts keelson labels as GPU hosts (the chart's default affinity wants Node Feature Discovery's
    labels, values.yaml affinity; keelson runs no NFD)."""
    term = {"matchExpressions": [{"key": _ml.GPU_NODE_LABEL, "operator": "In", "values": [_ml.GPU_NODE_VALUE]}]}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}


def runtime_class() -> Document:
    return {
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": _ml.NVIDIA_RUNTIME_CLASS},
        "handler": HANDLER,
        # The runtime exists only on GPU hosts: a pod that names it is scheduled there, tolerating their taint.
        "scheduling": {
            "nodeSelector": {_ml.GPU_NODE_LABEL: _ml.GPU_NODE_VALUE},
            "tolerations": [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
        },
    }


@dataclasses.dataclass(frozen=True)
class NvidiaDevicePluginSettings:
    enabled: Optional[bool] = spec_field(
        Nullable(Bool()),
        "Install this component.",
        default=DERIVED,
        default_doc="`true` when some host has `keelson_node.gpus` > 0",
    )


class NvidiaDevicePlugin(Unit[NvidiaDevicePluginSettings]):
    name = "nvidia-device-plugin"
    catalog = "nvidia_device_plugin"
    namespace = "nvidia-device-plugin"
    # Its DaemonSet mounts host folders (the kubelet's device-plugins folder, the MPS folders, /var/run/cdi:
    # templates/daemonset-device-plugin.yml lines 235-256), which baseline forbids: see chart_pods.
    pod_security = PRIVILEGED
    settings_type = NvidiaDevicePluginSettings
    settings_path = ("components", "nvidia_device_plugin")
    doc = "NVIDIA device plugin: the GPU hosts' GPUs as `nvidia.com/gpu` (on by default where a host has GPUs)."

    def enabled(self, platform: Platform) -> bool:
        explicit = self.settings(platform).enabled
        return explicit if explicit is not None else any(node.gpus > 0 for node in platform.nodes)

    def values(self, platform: Platform) -> Document:
        _repository, _colon, tag = CATALOG["components"][self.catalog]["images"]["device_plugin"].rpartition(":")
        return {
            # values.yaml image.repository, tag "" (v + appVersion: _helpers.tpl "nvidia-device-plugin.fullimage"):
            # pinned here all the same.
            "image": {"tag": tag},
            # The plugin itself needs the NVIDIA runtime to see the GPUs (templates/daemonset-device-plugin.yml
            # lines 46-48, NVIDIA_VISIBLE_DEVICES=all at lines 202-203).
            "runtimeClassName": _ml.NVIDIA_RUNTIME_CLASS,
            # Replaces the NFD-based terms (lists replace in Helm's merge; lines 268-271 render it as given).
            "affinity": gpu_affinity(),
            # GPUs handed to a container as volume mounts (host side /dev/null), not NVIDIA_VISIBLE_DEVICES, which
            # any pod can set: the GPU hosts' runtime accepts only these from unprivileged containers
            # (roles/prereq/tasks/nvidia.yml). DEVICE_LIST_STRATEGY in templates/daemonset-device-plugin.yml.
            "deviceListStrategy": DEVICE_LIST_STRATEGY,
            # gfd.enabled stays false and nfd.enabled unset (values.yaml; Chart.yaml's subchart condition
            # nfd.enabled,gfd.enabled): neither Node Feature Discovery nor GPU Feature Discovery is installed.
        }

    def manifests(self, platform: Platform) -> list[Document]:
        return [runtime_class()]

    def chart_pods(self, values: Document) -> Optional[list[tuple[str, Document]]]:
        # templates/daemonset-device-plugin.yml (v0.20.0), with devicePlugin.enabled (line 16): hostNetwork with
        # devicePlugin.enableHostNetwork (lines 53-56); the pod's securityContext podSecurityContext (lines 57-58);
        # the container nvidia-device-plugin-ctr with "nvidia-device-plugin.securityContext" (lines 206-207;
        # _helpers.tpl lines 91-105: securityContext when set, else privileged with compatWithCPUManager, else
        # SYS_ADMIN added when a MIG strategy other than none is configured or the device list strategy includes
        # volume-mounts ("nvidia-device-plugin.requiresCapSysAdmin", lines 127-135 and 164-183), else no escalation
        # and every capability dropped); hostPath volumes (lines 235-256). The config-manager init and sidecar containers
        # (lines 60-134) render only with a config map (config.name or config.map), which keelson never sets.
        if not (values.get("devicePlugin") or {}).get("enabled"):
            return []
        context: Document = dict(values.get("securityContext") or {})
        if not context:
            strategy = values.get("migStrategy")
            mounts = "volume-mounts" in str(values.get("deviceListStrategy") or "")
            if values.get("compatWithCPUManager"):
                context = {"privileged": True}
            elif (isinstance(strategy, str) and strategy != "none") or mounts:
                context = {"capabilities": {"add": ["SYS_ADMIN"]}}
            else:
                context = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
        mps: Any = (values.get("mps") or {}).get("root", "/run/nvidia/mps")
        spec: Document = {
            "securityContext": dict(values.get("podSecurityContext") or {}),
            "containers": [{"name": "nvidia-device-plugin-ctr", "securityContext": context}],
            "volumes": [
                {"name": "kubelet-device-plugins-dir", "hostPath": {"path": KUBELET_DEVICE_PLUGINS, "type": "Directory"}},
                {"name": "mps-root", "hostPath": {"path": mps, "type": "DirectoryOrCreate"}},
                {"name": "mps-shm", "hostPath": {"path": f"{mps}/shm"}},
                {"name": "cdi-root", "hostPath": {"path": "/var/run/cdi", "type": "DirectoryOrCreate"}},
            ],
        }
        if (values.get("devicePlugin") or {}).get("enableHostNetwork"):
            spec["hostNetwork"] = True
        # templates/daemonset-mps-control-daemon.yml (v0.20.0), also with devicePlugin.enabled (line 16): hostNetwork
        # with mps.enableHostNetwork, hostPID with mps.enableHostPID (else a shared process namespace), the pod's
        # securityContext podSecurityContext; the init container mps-control-daemon-mounts and the container
        # mps-control-daemon-ctr privileged; hostPath volumes mps-root and mps-shm. Its nodeSelector
        # nvidia.com/mps.capable=true is set only by GPU Feature Discovery (off), so it runs on no node unless a
        # sharing config turns MPS on; Pod Security admits it or not all the same.
        settings = dict(values.get("mps") or {})
        control: Document = {
            "securityContext": dict(values.get("podSecurityContext") or {}),
            "initContainers": [{"name": "mps-control-daemon-mounts", "securityContext": {"privileged": True}}],
            "containers": [{"name": "mps-control-daemon-ctr", "securityContext": {"privileged": True}}],
            "volumes": [
                {"name": "mps-root", "hostPath": {"path": mps, "type": "DirectoryOrCreate"}},
                {"name": "mps-shm", "hostPath": {"path": f"{mps}/shm"}},
            ],
        }
        if settings.get("enableHostNetwork"):
            control["hostNetwork"] = True
        if settings.get("enableHostPID"):
            control["hostPID"] = True
        return [(f"DaemonSet {self.name}", spec), (f"DaemonSet {self.name}-mps-control-daemon", control)]


UNIT = NvidiaDevicePlugin()
