# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every keelson action shares to write a file on the controller and to report a diff.

One writer, :func:`write_atomic`: a reader sees the old file or the new one, never half of one, and the new
file has exactly the mode asked for (whatever the umask). One diff shape, :func:`diff`, in Ansible's terms.
"""

from __future__ import annotations

import errno
import os
import tempfile
from typing import Optional, Union

_REASONS = {
    errno.ENOTDIR: "a file stands where a folder must be",
    errno.EISDIR: "it is a folder, not a file",
    errno.EACCES: "permission denied",
    errno.EPERM: "not permitted",
    errno.ENOENT: "it does not exist",
    errno.EEXIST: "something is already there",
    errno.ENOSPC: "the disk is full",
    errno.EROFS: "the file system is read-only",
    errno.ELOOP: "too many symlinks",
}


def write_atomic(path: str, data: Union[str, bytes], mode: int, sync: bool = False) -> None:
    """Write ``data`` (text is UTF-8) to ``path`` with permissions ``mode``, atomically.

    The content goes to a temporary file in the same folder, which then replaces ``path``; folders are made as
    needed. With ``sync``, the content reaches the disk before the replace (for files that must survive a
    crash, such as the secrets backend); a GitOps tree, which can be rendered again, does without.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".keelson-")
    try:
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), mode)
            stream.write(data.encode("utf-8") if isinstance(data, str) else data)
            if sync:
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def describe_os_error(error: OSError) -> str:
    """An OSError in words, without its errno number (the caller names the path)."""
    return _REASONS.get(error.errno or 0, error.strerror or str(error)).rstrip(".")


def diff(before: str, after: str, before_header: str, after_header: Optional[str] = None) -> dict[str, str]:
    """One Ansible diff: ``before_header`` / ``after_header`` name the two sides ('/dev/null' for no file)."""
    return {
        "before_header": before_header,
        "after_header": before_header if after_header is None else after_header,
        "before": before,
        "after": after,
    }


def lines_diff(before: list[str], after: list[str], header: str) -> dict[str, str]:
    """A diff of two lists of names (never values), one per line."""
    return diff("".join(f"{line}\n" for line in before), "".join(f"{line}\n" for line in after), header)
