# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rendered tree meets the files on disk: seal against what is there, plan, write.

keelson owns exactly the files that carry its header. It writes a file only when the content differs,
removes the files it generated earlier and no longer renders, and never touches any other file; a path it
must write that holds a file of someone else's is an error before anything is written.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
from typing import Any, Optional

import yaml

from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.module_utils._sealing import seal
from ansible_collections.keelson.platform.plugins.plugin_utils import _tree_check
from ansible_collections.keelson.platform.plugins.plugin_utils._files import diff, write_atomic
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Layout
from ansible_collections.keelson.platform.plugins.plugin_utils._render import SecretToSeal


class RenderError(KeelsonError):
    """The tree cannot be written as asked."""


@dataclasses.dataclass
class Plan:
    write: dict[str, str]  # path -> new text, for new and changed files
    remove: list[str]  # generated earlier, not rendered any more
    unchanged: list[str]
    before: dict[str, str]  # path -> current text, for the changed and removed files

    @property
    def changed(self) -> bool:
        return bool(self.write or self.remove)

    def diffs(self) -> list[dict[str, str]]:
        """One Ansible diff per file (paths relative to the destination)."""
        return [
            diff(
                self.before.get(path, ""),
                self.write.get(path, ""),
                path if path in self.before else "/dev/null",
                path if path in self.write else "/dev/null",
            )
            for path in sorted({*self.write, *self.remove})
        ]


def generated_files(dest: str, platform_dir: str) -> dict[str, str]:
    """Relative path -> text of the files below ``dest`` that keelson generated for this platform."""
    if not os.path.isdir(dest):
        return {}
    layout = Layout(platform_dir, "")
    return {path: text for path, text in _tree_check.read_tree(dest).items() if layout.owns(path) and _tree_check.is_generated(text)}


def sealed_in(files: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, name) -> SealedSecret, for every SealedSecret in the given files."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path, text in sorted(files.items()):
        if not path.endswith(".yaml") or "kind: SealedSecret" not in text:
            continue
        try:
            documents = list(yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
        except yaml.YAMLError:
            continue  # a hand-damaged file: its secrets are sealed afresh
        for document in documents:
            if isinstance(document, dict) and document.get("kind") == "SealedSecret":
                metadata = document.get("metadata") or {}
                found[(str(metadata.get("namespace")), str(metadata.get("name")))] = document
    return found


def seal_all(
    secrets: dict[tuple[str, str], SecretToSeal],
    certificate: str,
    private_keys: list[str],
    previous: dict[tuple[str, str], dict[str, Any]],
    *,
    digest_key: Optional[bytes] = None,
) -> dict[tuple[str, str], dict[str, Any]]:
    """Every Secret sealed, keeping the ciphertext of each value the tree already holds unchanged.

    With ``digest_key`` (the backend's sealed-value digest key) an unchanged value is recognised by the digest
    recorded beside it, without opening it, and every SealedSecret records its values' digests; without, or
    where a digest is missing or was made with another key, the previous value is opened and compared."""
    sealed = {}
    for (namespace, name), secret in sorted(secrets.items()):
        manifest, _changed = seal(
            name=name,
            namespace=namespace,
            data=secret.data,
            certificate=certificate,
            labels=secret.labels,
            previous=previous.get((namespace, name)),
            private_keys=private_keys,
            digest_key=digest_key,
        )
        sealed[(namespace, name)] = manifest
    return sealed


def plan(dest: str, files: dict[str, str], platform_dir: str, existing: Optional[dict[str, str]] = None) -> Plan:
    """What writing ``files`` into ``dest`` changes. Raises RenderError, before anything is written, when a
    path to write holds a file keelson did not generate."""
    current = generated_files(dest, platform_dir) if existing is None else existing
    foreign = sorted(path for path in files if path not in current and os.path.lexists(os.path.join(dest, path)))
    if foreign:
        raise RenderError(
            "these files exist and were not generated by keelson, which never overwrites them: "
            + ", ".join(foreign)
            + ". Move them away (or into a team's apps/ folder) and render again."
        )
    write = {path: text for path, text in files.items() if current.get(path) != text}
    remove = sorted(path for path in current if path not in files)
    before = {path: current[path] for path in [*write, *remove] if path in current}
    return Plan(write, remove, sorted(path for path in files if path not in write), before)


def apply(dest: str, plan_: Plan) -> None:
    """Write and remove as planned; folders left empty by a removal go too."""
    for path, text in sorted(plan_.write.items()):
        write_atomic(os.path.join(dest, path), text, mode=0o644)
    for path in plan_.remove:
        os.unlink(os.path.join(dest, path))
        folder = posixpath.dirname(path)
        while folder and not os.listdir(os.path.join(dest, folder)):
            os.rmdir(os.path.join(dest, folder))
            folder = posixpath.dirname(folder)
