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
    cert_manager,
    cloudnative_pg,
    keycloak,
    minio,
    mlflow,
    monitoring,
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
)

__all__ = ["COMPONENTS", "Unit"]
