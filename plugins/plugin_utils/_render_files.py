# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rendered tree meets the files on disk: seal against what is there, plan, write.

keelson owns exactly the files that carry its header (and, once a header names a platform, only that
platform's). It writes a file only when the content differs, removes the files it generated earlier and no
longer renders, and never touches any other file; a path it must write that holds a file of someone else's is an
error before anything is written. So are a destination inside the collection itself or outside any Git working
copy (unless forced), symlinks, FIFOs and devices where keelson reads or writes (never opened), a file where a
folder must be, and a platform folder inside another platform's. Files in a team's ``tenants/<t>/apps/`` are the
team's, header or not, except the README keelson writes there.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
import stat
from typing import Any, Final, Optional

import yaml

from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.module_utils._sealing import seal
from ansible_collections.keelson.platform.plugins.plugin_utils import _tree_check
from ansible_collections.keelson.platform.plugins.plugin_utils._files import describe_os_error, diff, write_atomic
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import CI_PATHS, Layout
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


_FORCE: Final = "set force: true (keelson_render_force=true with the render playbook)"
_ROOT_FILE: Final = re.compile(r"^(?:(?P<base>.+)/)?clusters/[^/]+/root\.yaml$")


def check_destination(dest: str, checkout: str, force: bool = False) -> None:
    """Refuse a destination that is a file, lies inside the collection's own checkout ``checkout``, or (unless
    ``force``) is in no Git working copy."""
    if os.path.lexists(dest) and not os.path.isdir(dest):
        raise RenderError(f"{dest}: is a file, not a folder; give the GitOps repository's working copy (a folder) as the destination")
    real, collection = os.path.realpath(dest), os.path.realpath(checkout)
    if os.path.commonpath([real, collection]) == collection:
        raise RenderError(
            f"{dest}: lies inside the keelson collection ({collection}); the GitOps tree would mix with the collection's "
            "files (and its build). Render into the GitOps repository's working copy, e.g. a clone beside the collection"
        )
    folder = real
    while True:
        if os.path.lexists(os.path.join(folder, ".git")):
            return
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    if not force:
        raise RenderError(
            f"{dest}: is not in a Git working copy; the tree is meant to be committed and pushed, and a render rewrites "
            f"and removes files in place. Clone the GitOps repository there (git clone URL {dest}) or git init it; to "
            f"render into a plain folder anyway, {_FORCE}"
        )


def _team_file(layout: Layout, path: str) -> bool:
    """Whether ``path`` is in a team's own folder (tenants/<t>/apps/), where keelson owns only the README."""
    tenant = layout.tenant_of(path)
    if tenant is None:
        return False
    apps = layout.tenant_apps(tenant) + "/"
    return path.startswith(apps) and path != apps + "README.md"


def _other_platforms(tree: dict[str, str], layout: Layout, platform: str) -> None:
    """Refuse when another platform's files lie in this platform's folder, or this folder in another's."""
    for path, text in sorted(tree.items()):
        other = _tree_check.platform_of(text)
        if other is None or other == platform or path in CI_PATHS:
            continue
        if layout.owns(path) and not _team_file(layout, path):
            raise RenderError(
                f"{path}: was written by platform {other}, inside the folder of platform {platform} (gitops.repo.path "
                f"{layout.base}); keelson never touches another platform's files. Give each platform a folder of its "
                "own, none inside another's (gitops.repo.path)"
            )
        match = _ROOT_FILE.match(path)
        base = (match.group("base") or ".") if match else None
        if base is not None and (base in (".", layout.base) or layout.base.startswith(base + "/")):
            raise RenderError(
                f"{layout.base}: lies inside the folder of platform {other} ({base}, see {path}); its renders would "
                "remove this platform's files. Give each platform a folder of its own, none inside another's (gitops.repo.path)"
            )


def generated_files(dest: str, platform_dir: str, platform: Optional[str] = None) -> dict[str, str]:
    """Relative path -> text of the files below ``dest`` that keelson generated for this platform: with its
    header, in its folder (or a CI file), not in a team's folder, and (when ``platform`` is given) naming that
    platform or no platform (a file from an older keelson). Raises RenderError when odd entries (symlinks leaving
    ``dest``, FIFOs, devices) are in the platform's folder, or another platform's files are."""
    if not os.path.isdir(dest):
        return {}
    layout = Layout(platform_dir, "")
    odd = {path: why for path, why in _tree_check.odd_entries(dest).items() if layout.owns(path) and not _team_file(layout, path)}
    if odd:
        raise RenderError(
            "keelson reads and writes only plain files and folders in the platform's folder; remove or replace these "
            "(none was opened): " + "; ".join(f"{path} is {why}" for path, why in sorted(odd.items()))
        )
    tree = _tree_check.read_tree(dest)
    if platform is not None:
        _other_platforms(tree, layout, platform)
    return {
        path: text
        for path, text in tree.items()
        if layout.owns(path)
        and not _team_file(layout, path)
        and _tree_check.is_generated(text)
        and (platform is None or _tree_check.platform_of(text) in (None, platform) or path in CI_PATHS)
    }


def _path_problem(dest: str, path: str) -> Optional[str]:
    """Why keelson cannot write or remove ``path`` below ``dest``, if it cannot: a symlink on the way or at the
    end, a file where a folder must be, something that is not a plain file."""
    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        here = os.path.join(dest, *parts[:depth])
        if not os.path.lexists(here):
            return None
        mode = os.lstat(here).st_mode
        shown = "/".join(parts[:depth])
        if stat.S_ISLNK(mode):
            return f"{shown} is a symlink; keelson does not write through symlinks (they can lead out of the destination)"
        if depth < len(parts) and not stat.S_ISDIR(mode):
            return f"{shown} is a file where keelson needs a folder (for {path}); move it away"
        if depth == len(parts) and not stat.S_ISREG(mode):
            return f"{shown} is {'a folder' if stat.S_ISDIR(mode) else 'not a plain file'} where keelson writes a file; move it away"
    return None


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


def plan(
    dest: str, files: dict[str, str], platform_dir: str, existing: Optional[dict[str, str]] = None, platform: Optional[str] = None
) -> Plan:
    """What writing ``files`` into ``dest`` changes. Raises RenderError, before anything is written, when a
    path to write holds a file keelson did not generate, or a path cannot be written safely."""
    current = generated_files(dest, platform_dir, platform) if existing is None else existing
    blocked = sorted(filter(None, (_path_problem(dest, path) for path in sorted({*files, *current}))))
    if blocked:
        raise RenderError(f"{dest}: nothing was written: " + "; ".join(blocked))
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
    path = dest
    try:
        for path, text in sorted(plan_.write.items()):
            write_atomic(os.path.join(dest, path), text, mode=0o644)
        for path in plan_.remove:
            os.unlink(os.path.join(dest, path))
            folder = posixpath.dirname(path)
            while folder and not os.listdir(os.path.join(dest, folder)):
                os.rmdir(os.path.join(dest, folder))
                folder = posixpath.dirname(folder)
    except OSError as error:
        reason = describe_os_error(error)
        raise RenderError(f"{os.path.join(dest, path)}: cannot be written or removed ({reason}); fix that and render again") from error
