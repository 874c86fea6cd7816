# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The GitOps engines keelson can render for, by the name ``gitops.engine`` takes. Adding an engine: one file
implementing :class:`Engine` (its controller unit included), one line here, its catalog entry, its tests."""

from __future__ import annotations

from typing import Any, Final

from ansible_collections.keelson.platform.plugins.module_utils._engines import argocd, flux
from ansible_collections.keelson.platform.plugins.module_utils._engines._unit import TENANCY, Engine, Part, Tree

ENGINES: Final[dict[str, Engine[Any]]] = {engine.name: engine for engine in (argocd.ENGINE, flux.ENGINE)}

__all__ = ["ENGINES", "TENANCY", "Engine", "Part", "Tree"]
