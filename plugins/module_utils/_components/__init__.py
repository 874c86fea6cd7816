# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The platform's components, in the order they are listed in the spec and rendered (dependencies first).

Adding a component: one file beside this one defining a :class:`Unit` (its settings dataclass included) and
``UNIT``, one line below, its catalog entry in ``_catalog.py``, its tests. Reserved namespaces, the spec's
``components`` section, the credential list, the realm's clients, tenants' network policies and the sync order
all follow from the registry. The GitOps controller itself is the engine's unit (``_engines``).
"""

from __future__ import annotations

from typing import Any, Final

from ansible_collections.keelson.platform.plugins.module_utils._components import (
    argo_workflows,
    cert_manager,
    cloudnative_pg,
    keycloak,
    kserve,
    kueue,
    minio,
    mlflow,
    monitoring,
    nvidia_device_plugin,
    sealed_secrets,
    weaviate,
)
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import Unit

COMPONENTS: Final[tuple[Unit[Any], ...]] = (
    sealed_secrets.UNIT,
    cert_manager.UNIT,
    monitoring.UNIT,
    minio.UNIT,
    cloudnative_pg.UNIT,
    keycloak.UNIT,
    mlflow.UNIT,
    weaviate.UNIT,
    nvidia_device_plugin.UNIT,
    kueue.UNIT,
    kserve.CRD_UNIT,
    kserve.UNIT,
    argo_workflows.UNIT,
)


def sections() -> tuple[Unit[Any], ...]:
    """One unit per settings section (``components.<key>``): a component of two charts (KServe's CRDs and
    resources) is two units sharing one section; the first one listed stands for it."""
    first: dict[str, Unit[Any]] = {}
    for unit in COMPONENTS:
        first.setdefault(unit.key, unit)
    return tuple(first.values())


SECTIONS: Final[tuple[Unit[Any], ...]] = sections()

__all__ = ["COMPONENTS", "SECTIONS", "Unit"]
