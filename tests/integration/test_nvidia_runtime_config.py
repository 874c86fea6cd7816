# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The prereq role's GPU host step through ansible-playbook, on a copy of the NVIDIA container toolkit's own default
configuration: the two settings become top-level TOML keys with the values that stop NVIDIA_VISIBLE_DEVICES from
unprivileged containers, every other setting stays, check mode writes nothing and a second run changes nothing.
What it does not prove: the NVIDIA runtime's behaviour (no GPU, driver or toolkit here); docs/ml.md says what does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
from integration_helpers import Runner

FILES = Path(__file__).resolve().parent / "files"
pytestmark = pytest.mark.slow
# The toolkit's default file (`nvidia-ctk config default`, NVIDIA/nvidia-container-toolkit 1.17): both settings
# commented out before the first section.
DEFAULT = """\
#accept-nvidia-visible-devices-as-volume-mounts = false
#accept-nvidia-visible-devices-envvar-when-unprivileged = true
disable-require = false
supported-driver-capabilities = "compat32,compute,display,graphics,ngx,utility,video"
#swarm-resource = "DOCKER_RESOURCE_GPU"

[nvidia-container-cli]
#debug = "/var/log/nvidia-container-toolkit.log"
environment = []
ldconfig = "@/sbin/ldconfig"
load-kmods = true
#no-cgroups = false

[nvidia-container-runtime]
log-level = "info"
mode = "auto"
runtimes = ["docker-runc", "runc", "crun"]

[nvidia-container-runtime.modes.cdi]
default-kind = "nvidia.com/gpu"
"""
WANTED = {"accept-nvidia-visible-devices-envvar-when-unprivileged": False, "accept-nvidia-visible-devices-as-volume-mounts": True}


def _changed(output: str) -> int:
    return int(re.findall(r"localhost\s+: ok=\d+\s+changed=(\d+)", output)[-1])


@pytest.mark.parametrize(
    "start",
    [
        pytest.param(DEFAULT, id="the-toolkits-default"),
        pytest.param(DEFAULT.replace("#accept-nvidia-visible-devices-envvar-when-unprivileged = true\n", ""), id="a-key-missing"),
        pytest.param(
            DEFAULT.replace(
                "#accept-nvidia-visible-devices-as-volume-mounts = false", "accept-nvidia-visible-devices-as-volume-mounts = false"
            ),
            id="a-key-set-the-other-way",
        ),
        pytest.param(
            DEFAULT.replace(
                "disable-require = false\n", "disable-require = false\naccept-nvidia-visible-devices-envvar-when-unprivileged = true\n"
            ),
            id="a-key-set-below-its-commented-copy",
        ),
        pytest.param(None, id="no-file"),
    ],
)
def test_a_gpu_hosts_runtime_ignores_the_variable_from_unprivileged_containers(ansible: Runner, tmp_path: Path, start: str | None) -> None:
    config = tmp_path / "config.toml"
    if start is not None:
        config.write_text(start)

    def run(*args: str) -> str:
        done = ansible("ansible-playbook", str(FILES / "nvidia_runtime_config.yml"), "-e", f"config_file={config}", *args)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        return done.stdout

    checked = run("--check", "--diff")
    assert _changed(checked) > 0
    assert (config.read_text() if start is not None else None) == start  # check mode wrote nothing
    run()
    written = tomllib.loads(config.read_text())
    assert {key: written[key] for key in WANTED} == WANTED  # top-level keys, not inside a section
    if start is not None:
        before = tomllib.loads(start)
        assert {key: value for key, value in written.items() if key not in WANTED} == {
            key: value for key, value in before.items() if key not in WANTED
        }
    assert _changed(run()) == 0
