# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Offline stand-in for the pip bootstrap script that `ansible-test sanity --venv` downloads.

ansible-test creates each sanity venv without pip and runs a get-pip script, which it fetches from
ci-files.testing.ansible.com. Where that host is unreachable (this project's machines reach only PyPI),
`make setup` puts this file in ansible-test's cache instead. It takes the same arguments as get-pip
(pip install options, package pins, --no-setuptools, --no-wheel), installs the pip wheel that Python
bundles (ensurepip, offline), then lets that pip install the pinned packages from the package index.
"""

from __future__ import annotations

import ensurepip
import os
import subprocess
import sys


def main() -> int:
    args = sys.argv[1:]
    skip = {"--no-setuptools", "--no-wheel"}
    packages = [arg for arg in args if arg not in skip]
    environment = dict(os.environ)  # ensurepip turns pip's configuration off in os.environ; keep it for the install
    ensurepip.bootstrap(upgrade=False)
    if "--no-setuptools" not in args:
        packages.append("setuptools")
    if "--no-wheel" not in args:
        packages.append("wheel")
    return subprocess.call([sys.executable, "-m", "pip", "install", *packages], env=environment)


if __name__ == "__main__":
    sys.exit(main())
