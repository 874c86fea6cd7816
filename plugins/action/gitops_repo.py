# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller side of keelson.platform.gitops_repo: render into the GitOps repository's working copy, commit and
push when the content changed (see plugin_utils/_git.py)."""

from __future__ import annotations

import os
from typing import Any, Optional

from ansible.errors import AnsibleActionFail

from ansible_collections.keelson.platform.plugins.module_utils._problems import KeelsonError
from ansible_collections.keelson.platform.plugins.plugin_utils import _git
from ansible_collections.keelson.platform.plugins.plugin_utils._action import BACKEND_OPTIONS, KeelsonAction

ARGUMENT_SPEC: dict[str, Any] = {
    "spec": {"type": "dict", "required": True},
    "nodes": {"type": "list", "elements": "dict", "required": True},
    "workdir": {"type": "path"},
    "url": {"type": "str"},
    "author_name": {"type": "str"},
    "author_email": {"type": "str"},
    **BACKEND_OPTIONS,
}


def _short(sha: Optional[str]) -> str:
    return sha[:12] if sha else "(none)"


def _message(outcome: _git.Outcome, target: _git.Target, check: bool, existed: bool) -> str:
    plan = outcome.rendered.plan
    files = f"{len(plan.write)} written and {len(plan.remove)} removed file(s)"
    subject = (outcome.message or "").split("\n", 1)[0]
    branch, review = target.branch, target.review
    merge = f"merge {review} into {branch}: the cluster follows {branch} and changes only after the merge"
    if check:
        if not existed:
            return (
                f"check mode, nothing committed or pushed: no working copy at {target.workdir} yet, so everything is new: "
                f"would commit {files} ({subject}) and push to {target.pushed_to}"
            )
        if outcome.message is not None:
            return f"check mode, nothing committed or pushed: would commit {files} ({subject}) and push to {target.pushed_to}"
        if outcome.would_push:
            return (
                f"check mode, nothing pushed: would push {_short(outcome.commit)} (committed earlier, not pushed yet) to {target.pushed_to}"
            )
        return (
            f"check mode: nothing to commit, the render matches {branch} in {target.workdir} (as last fetched; check mode does not fetch)"
        )
    if outcome.branch_pushed and target.mode == "pull_request":
        made = f"committed {_short(outcome.commit)} ({subject})" if outcome.message else f"pushed {_short(outcome.commit)}"
        if outcome.revision is None:
            return f"{made} and pushed it to {review} for review; the remote has no branch {branch} yet: create it from {review}"
        return f"{made} and pushed it to {review} for review, not merged yet: {merge}"
    if outcome.branch_pushed:
        if outcome.message:
            return f"committed {_short(outcome.commit)} ({subject}) and pushed it to {branch}, which the cluster follows"
        return (
            f"pushed {_short(outcome.commit)} to {branch}, which the cluster follows (committed by an earlier run that could not push it)"
        )
    if outcome.pending:
        return f"nothing new to commit; {review} at {_short(outcome.commit)} is not merged yet: {merge}"
    return f"nothing to commit: {branch} at {_short(outcome.revision)} already holds the render ({len(outcome.rendered.files)} files)"


class ActionModule(KeelsonAction):
    def run(self, tmp: Any = None, task_vars: Any = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.arguments(ARGUMENT_SPEC)
        spec, nodes = args["spec"], args["nodes"]
        check = bool(self._task.check_mode)
        try:
            options = _git.Options(args["workdir"], args["url"], args["author_name"], args["author_email"])
            target, outcome, existed = _git.run(spec, nodes, self.backend(args, task_vars or {}), options, check=check, environ=os.environ)
        except KeelsonError as error:
            raise AnsibleActionFail(str(error)) from error
        plan = outcome.rendered.plan
        warnings = [*outcome.rendered.warnings, *outcome.notes]
        if outcome.pending and not check:
            warnings.append(
                f"{target.review} is not merged into {target.branch}: review and merge it; until then the cluster keeps "
                f"running {target.branch} at {_short(outcome.revision)}"
            )
        result.update(
            changed=outcome.changed,
            msg=_message(outcome, target, check, existed),
            commit=outcome.commit,
            revision=outcome.revision,
            branch_pushed=outcome.branch_pushed,
            merged=outcome.merged,
            pending=outcome.pending,
            message=outcome.message,
            written=sorted(plan.write),
            removed=plan.remove,
            workdir=target.workdir,
        )
        if warnings:
            result["warnings"] = warnings
        if plan.changed and self._task.diff:
            result["diff"] = plan.diffs()
        return dict(result)
