# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The options of every module that works from the validated platform, and of those that reach its cluster."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  spec:
    description: The normalised platform spec (the C(spec) that P(keelson.platform.platform_spec#module) returns).
    type: dict
    required: true
  nodes:
    description: The normalised nodes (the C(nodes) that P(keelson.platform.platform_spec#module) returns).
    type: list
    elements: dict
    required: true
"""

    # Modules whose actions call kubernetes.core against the platform's cluster.
    CLUSTER = r"""
options:
  kubeconfig:
    description: The admin kubeconfig of the cluster.
    type: path
    required: true
  context:
    description: The kubeconfig context to use (its current one when not given).
    type: str
"""
