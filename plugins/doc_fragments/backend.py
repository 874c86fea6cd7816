# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The options of every module that reads keelson's secrets backend."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  backend:
    description: The normalised spec's C(secrets) section, for example C("{{ keelson_spec.secrets }}").
    type: dict
    required: true
  inventory_dir:
    description:
      - Folder that a relative C(vault_file) path is relative to.
      - Defaults to the folder of the first inventory source.
    type: path
"""
