# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Documentation of the attributes every keelson module declares."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing it.
  diff_mode:
    description: Reports what changed (or would change, in check mode) when run with --diff.
  idempotent:
    description: Running it again with the same arguments changes nothing and reports C(changed=false).
"""

    # For modules that only read and compute.
    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - It changes nothing, so check mode runs it as usual.
  diff_mode:
    support: none
    details:
      - It changes nothing, so there is nothing to diff.
  idempotent:
    support: full
"""
