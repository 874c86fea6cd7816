# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""render.yml as users run it: check mode, real writes with real sealing, idempotence, removal of what is no
longer rendered, and the files keelson must never touch."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from integration_helpers import Runner

from ansible_collections.keelson.platform.plugins.module_utils._sealing import unseal

pytestmark = pytest.mark.slow


def _tree(root: Path) -> dict[str, bytes]:
    found = {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}
    return {path: data for path, data in found.items() if not path.startswith(".git/")}


def _git_init(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def _failed(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout[-4000:] + result.stderr[-2000:]


def test_render_check_write_rerun_and_remove(ansible: Runner, tmp_path: Path, inventory: Path, password: Path) -> None:  # noqa: PLR0915 - one user story, step by step
    dest = _git_init(tmp_path / "gitops")
    common = ("-i", str(inventory), f"--vault-password-file={password}")
    render = ("ansible-playbook", "keelson.platform.render", *common, "-e", f"keelson_render_dir={dest}")

    # Before any secret exists, check mode shows the whole tree and writes nothing, and says "would write".
    preview = ansible(*render, "--check", "--diff")
    assert preview.returncode == 0, _failed(preview)
    assert _tree(dest) == {}
    assert "stand-in" in preview.stdout + preview.stderr
    assert "+++ after: clusters/leakcheck/apps/root.yaml" in preview.stdout
    assert "check mode, nothing written: would write " in preview.stdout
    assert not (inventory / ".keelson-secrets.vault.yml").exists()

    # Without the credentials a real run refuses, before writing.
    refused = ansible(*render)
    assert refused.returncode != 0
    assert "run the keelson.platform.secrets playbook first" in refused.stdout + refused.stderr
    assert _tree(dest) == {}

    secrets = ansible("ansible-playbook", "keelson.platform.secrets", *common)
    assert secrets.returncode == 0, _failed(secrets)
    first = ansible(*render, "-vvv")
    assert first.returncode == 0, _failed(first)
    assert re.search(r"wrote \d+ and removed 0 file\(s\)", first.stdout), first.stdout[-2000:]
    tree = _tree(dest)
    assert "clusters/leakcheck/apps/root.yaml" in tree and "tenants/nlp/keelson/quota.yaml" in tree

    # Sealed with the platform's key, holding exactly the backend's values; none of them in plain text.
    view = ansible("ansible-vault", "view", str(inventory / ".keelson-secrets.vault.yml"), f"--vault-password-file={password}")
    values = {str(key): str(value) for key, value in yaml.safe_load(view.stdout).items()}
    pairs = json.loads(values.pop("sealed-secrets-keys"))
    admin = yaml.safe_load(tree["platform/keycloak/manifests/sealedsecret-keycloak-admin.yaml"].decode().split("---\n", 1)[1])
    assert unseal(admin, [pair["key"] for pair in pairs]) == {"username": "keelson-admin", "password": values["keycloak-admin-password"]}
    for value in values.values():
        assert value.encode() not in b"".join(tree.values())
        assert value not in first.stdout and value not in first.stderr

    # The tree passes its own CI check (no hand edit).
    check = subprocess.run([sys.executable, ".keelson/validate.py", "--edits-only"], cwd=dest, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr

    # A second run changes nothing: byte-identical, changed=0.
    second = ansible(*render)
    assert second.returncode == 0, _failed(second)
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0", second.stdout), second.stdout[-2000:]
    assert _tree(dest) == tree

    # The team's own files, and the user's, stay whatever happens.
    (dest / "tenants" / "nlp" / "apps" / "deployment.yaml").write_text("kind: Deployment\n")
    (dest / "NOTES.md").write_text("ours\n")

    # nlp leaves the spec: check mode reports the removal and writes nothing; the real run removes its files.
    spec_file = inventory / "group_vars" / "all" / "keelson.yml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["keelson_platform"]["tenants"] = [tenant for tenant in spec["keelson_platform"]["tenants"] if tenant["name"] != "nlp"]
    spec_file.write_text(yaml.safe_dump(spec))
    before = _tree(dest)
    dry = ansible(*render, "--check", "--diff")
    assert dry.returncode == 0, _failed(dry)
    assert "--- before: tenants/nlp/keelson/quota.yaml" in dry.stdout
    assert _tree(dest) == before
    removed = ansible(*render)
    assert removed.returncode == 0, _failed(removed)
    after = _tree(dest)
    assert not any(path.startswith("tenants/nlp/keelson/") for path in after)
    assert "tenants/nlp/apps/README.md" not in after
    assert after["tenants/nlp/apps/deployment.yaml"] == b"kind: Deployment\n"
    assert after["NOTES.md"] == b"ours\n"
    assert "tenant nlp left the spec" in removed.stdout + removed.stderr

    # A file of someone else's where keelson must write: an error, and nothing written.
    (dest / ".gitlab-ci.yml").write_text("stages: [build]\n")
    spec["keelson_platform"]["tenants"][0]["quota"] = {"pods": 99}
    spec_file.write_text(yaml.safe_dump(spec))
    blocked_before = _tree(dest)
    blocked = ansible(*render)
    assert blocked.returncode != 0
    assert "were not generated by keelson" in blocked.stdout + blocked.stderr and ".gitlab-ci.yml" in blocked.stdout + blocked.stderr
    assert _tree(dest) == blocked_before


def test_render_needs_a_destination(ansible: Runner, inventory: Path, password: Path) -> None:
    result = ansible("ansible-playbook", "keelson.platform.render", "-i", str(inventory), f"--vault-password-file={password}")
    assert result.returncode != 0
    assert "keelson_render_dir=DIR" in result.stdout + result.stderr


def test_render_refuses_a_destination_outside_git_or_inside_the_collection(
    ansible: Runner, tmp_path: Path, inventory: Path, password: Path, repo: Path
) -> None:
    common = ("ansible-playbook", "keelson.platform.render", "-i", str(inventory), f"--vault-password-file={password}", "--check")
    plain = tmp_path / "plain"
    refused = ansible(*common, "-e", f"keelson_render_dir={plain}")
    assert refused.returncode != 0
    said = " ".join((refused.stdout + refused.stderr).split())
    assert f"{plain}: is not in a Git working copy" in said and "keelson_render_force=true" in said
    forced = ansible(*common, "-e", f"keelson_render_dir={plain}", "-e", "keelson_render_force=true")
    assert forced.returncode == 0, _failed(forced)
    inside = ansible(*common, "-e", f"keelson_render_dir={repo / 'rendered'}", "-e", "keelson_render_force=true")
    assert inside.returncode != 0
    assert "lies inside the keelson collection" in " ".join((inside.stdout + inside.stderr).split())
    assert not (repo / "rendered").exists() and not plain.exists()
