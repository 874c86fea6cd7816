# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sealed Secrets: the controller that decrypts every SealedSecret in the tree (keelson holds its keys)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ansible_collections.keelson.platform.plugins.module_utils._components._unit import RESTRICTED, Document, Unit
from ansible_collections.keelson.platform.plugins.module_utils._schema import Bool, spec_field

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform


@dataclasses.dataclass(frozen=True)
class SealedSecretsSettings:
    enabled: bool = spec_field(
        Bool(), "Install the Sealed Secrets controller (needed by every component that holds a secret).", default=True
    )


class SealedSecrets(Unit[SealedSecretsSettings]):
    name = "sealed-secrets"
    catalog = "sealed_secrets"
    namespace = "sealed-secrets"
    pod_security = RESTRICTED
    settings_type = SealedSecretsSettings
    settings_path = ("components", "sealed_secrets")
    doc = "Sealed Secrets controller."

    def values(self, platform: Platform) -> Document:
        return {
            "fullnameOverride": "sealed-secrets-controller",
            # keelson owns the keys (backed up, rotated on purpose): no silent rotation by the controller.
            "keyrenewperiod": "0",
            # Pod Security "restricted" (its namespace): the chart's defaults set neither a seccomp profile nor
            # allowPrivilegeEscalation. helm/sealed-secrets/templates/deployment.yaml (helm-v2.18.5) renders
            # podSecurityContext minus "enabled" at line 54 and containerSecurityContext minus "enabled" at line
            # 225; the chart's own runAsNonRoot, runAsUser 1001 and capabilities drop ALL stay as they are.
            "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containerSecurityContext": {"allowPrivilegeEscalation": False},
        }


UNIT = SealedSecrets()
