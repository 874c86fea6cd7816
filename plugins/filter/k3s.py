# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters the k3s roles build their files with (the logic lives in plugin_utils/_k3s.py; rotate.yml's
certificate and encryption-key plans in plugin_utils/_k3s_rotation.py), and the sysctls a host needs
(module_utils/_preflight.py owns the list).

Each filter's documentation is the YAML file of its name beside this one (ansible-doc -t filter NAME)."""

from __future__ import annotations

import functools
from typing import Any, Callable

from ansible.errors import AnsibleFilterError

from ansible_collections.keelson.platform.plugins.module_utils._data import plain
from ansible_collections.keelson.platform.plugins.module_utils._preflight import sysctls_for
from ansible_collections.keelson.platform.plugins.plugin_utils import _k3s, _k3s_rotation


def _on_plain_data(function: Callable[..., Any]) -> Callable[..., Any]:
    """Call ``function`` with plain Python data, whatever Ansible wrapped the arguments in."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return function(*(plain(arg) for arg in args), **{name: plain(value) for name, value in kwargs.items()})

    return wrapper


def _audit_policy(_input: Any = None) -> dict[str, Any]:
    return _k3s.audit_policy()


def _sysctls(hardening: Any, current: Any = None) -> dict[str, str]:
    """``cluster.hardening | keelson.platform.k3s_sysctls(host.sysctls)``: name -> value of every sysctl a host
    needs (a minimum the host's ``current`` value already exceeds keeps that value)."""
    if not isinstance(hardening, bool):
        raise AnsibleFilterError(f"k3s_sysctls takes cluster.hardening (true or false), not {hardening!r}")
    if current is not None and not isinstance(current, dict):
        raise AnsibleFilterError(f"k3s_sysctls takes the host's sysctls (name -> value, preflight_info's host.sysctls), not {current!r}")
    return sysctls_for(hardening, {str(name): str(value) for name, value in (current or {}).items()})


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        functions: dict[str, Callable[..., Any]] = {
            "k3s_config": _k3s.config,
            "k3s_registries": _k3s.registries,
            "k3s_audit_policy": _audit_policy,
            "k3s_pod_security": _k3s.pod_security,
            "k3s_kube_vip": _k3s.kube_vip,
            "k3s_interface_of": _k3s.interface_of,
            "k3s_kubeconfig": _k3s.kubeconfig,
            "k3s_join_url": _k3s.join_url,
            "k3s_api_url": _k3s.api_url,
            "k3s_join_diagnosis": _k3s.diagnose_join,
            "k3s_drain_blockers": _k3s.drain_blockers,
            "k3s_binary_version": _k3s.binary_version,
            "k3s_stale_file": _k3s.stale_file,
            "k3s_snapshots": _k3s.snapshots,
            "k3s_snapshot_files": _k3s.snapshot_files,
            "k3s_snapshots_to_prune": _k3s.snapshots_to_prune,
            "k3s_removal_refusal": _k3s.removal_refusal,
            "k3s_local_volumes_refusal": _k3s.local_volumes_refusal,
            "k3s_registry_ca_path": _k3s.registry_ca_path,
            "k3s_sysctls": _sysctls,
            "k3s_token": _k3s.token,
            "k3s_oidc_ca": _k3s.oidc_ca,
            "k3s_snapshot_s3": _k3s.snapshot_s3,
            "k3s_snapshot_s3_credentials": _k3s.snapshot_s3_credentials,
            "k3s_snapshot_to_restore": _k3s.snapshot_to_restore,
            "k3s_token_rotation": _k3s.token_rotation,
            "k3s_restore_token": _k3s.restore_token,
            "k3s_snapshot_token_hash": _k3s.snapshot_token_hash,
            "k3s_ca_certificate": _k3s.ca_certificate,
            "k3s_certificate_rotation": _k3s_rotation.certificate_rotation,
            "k3s_encryption_rotation": _k3s_rotation.encryption_rotation,
        }
        return {name: _on_plain_data(function) for name, function in functions.items()}
