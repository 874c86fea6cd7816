#!/usr/bin/python
# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: gitops_repo
short_description: Render the platform into the GitOps repository, commit and push when the content changed
version_added: 0.1.0
description:
  - Keeps a working copy of the platform's GitOps repository (C(gitops.repo)) on the controller, brings it to the
    remote's branch, renders the platform into it exactly as P(keelson.platform.platform_render#module) does, and
    commits and pushes only when the rendered content changed. An unchanged platform makes no commit and reports
    C(changed=false).
  - Every run fetches first. Commits keelson made earlier and could not push are replayed on top of the remote's
    branch (rebase); a commit of anyone else that is not on the remote stops the run. Nothing is ever force-pushed,
    and no commit that is on the remote is dropped or rewritten.
  - The commit message names the tenants added, removed and changed, the components whose files changed and the
    chart versions that changed (old -> new, read from the rendered Applications, HelmReleases and OCIRepositories),
    and ends with a C(Keelson-Platform) trailer naming the platform, by which keelson recognises its own commits.
  - When the remote's branch moves between the fetch and the push (someone merged a pull request meanwhile), keelson
    fetches again, replays its commit on top, checks that the render is still a no-op there, and pushes. On a rebase
    conflict (someone edited a generated file the commit changes too) it aborts the rebase, keeps its commit in the
    working copy, leaves the remote untouched and fails, naming the files and what to do.
  - With C(gitops.repo.mode=pull_request) the commit goes on top of C(gitops.repo.branch) and is pushed to the
    branch C(keelson/<platform>) for review; the branch the cluster follows does not move until someone merges it.
    While that branch is not merged, further changes are committed on top of it (it is extended, never rewritten).
  - "Authentication: the embedded server (C(gitops.repo.url=embedded)) with the write key C(gitops-write-key) from
    the secrets backend, trusting exactly the host keys the Git server play pinned there (C(gitops-known-hosts));
    an external ssh repository with your own SSH agent or keys, trusting exactly C(gitops.repo.known_hosts) (your
    known_hosts when the spec gives none); https with your git credential helper, trusting C(gitops.repo.ca_cert)
    when given. keelson never prompts and never takes credentials in a URL."
  - git runs as a subprocess (git 2.29 or later must be installed on the controller) with a minimal environment;
    every failure is reported with what failed and what to do.
author:
  - keelson maintainers (@keelson)
extends_documentation_fragment:
  - keelson.platform.platform
  - keelson.platform.attributes
  - keelson.platform.backend
attributes:
  check_mode:
    support: full
    details:
      - Touches nothing and uses no network. The working copy is copied to a temporary folder, brought to the
        remote's branch as last fetched, and rendered there; the result says what would be committed and pushed.
        Without a working copy yet, everything is new. The working copy, the remote and the cache folder stay
        byte-identical.
  diff_mode:
    support: full
    details:
      - One diff per written or removed file of the render. The tree holds no plaintext secret (sealed values are
        ciphertext), so the diff holds none.
  idempotent:
    support: full
options:
  workdir:
    description:
      - The working copy to use. A missing or empty folder is made one; a folder with files must be the top folder
        of a clone of the repository, on C(gitops.repo.branch), with no uncommitted changes and no commits of your
        own that the remote lacks (keelson refuses it otherwise, changing nothing). Its remotes and configuration
        are left alone; keelson fetches into C(refs/keelson/remote/).
      - Default C(~/.cache/keelson/<platform name>/repo), keelson's own working copy. Uncommitted changes an
        interrupted run left there are discarded (with a warning) instead of refused.
    type: path
  url:
    description:
      - The repository's URL as Ansible reaches it, when that differs from the address the cluster uses (a port
        forward, another host name, or a local path). Defaults to the repository the spec names (for C(embedded),
        C(ssh://git@<first server>/srv/git/<name>.git)). SSH host keys are still checked under the host the spec's
        URL names. Must not carry credentials.
    type: str
  author_name:
    description:
      - Author and committer name of keelson's commits. Default, in this order, C(user.name) of your git
        configuration, then C(keelson).
    type: str
  author_email:
    description:
      - Author and committer e-mail of keelson's commits. Default, in this order, C(user.email) of your git
        configuration, then C(keelson@localhost).
    type: str
notes:
  - Run the P(keelson.platform.platform_secrets#module) and P(keelson.platform.sealing_key#module) modules (the
    secrets playbook) first; for the embedded server, the Git server play must have pinned its host keys.
  - The write key is written, mode 0600, to a folder of its own under C(~/.cache/keelson/<platform name>/) for the
    run only and removed afterwards; it never reaches the result or the log.
seealso:
  - module: keelson.platform.platform_render
  - module: keelson.platform.platform_secrets
"""

EXAMPLES = r"""
- name: Render the platform, commit and push when it changed
  keelson.platform.gitops_repo:
    spec: "{{ keelson_spec }}"
    nodes: "{{ keelson_nodes }}"
    backend: "{{ keelson_spec.secrets }}"
  register: keelson_push

- name: Push through a port forward to the embedded server, from a clone of your own
  keelson.platform.gitops_repo:
    spec: "{{ keelson_spec }}"
    nodes: "{{ keelson_nodes }}"
    backend: "{{ keelson_spec.secrets }}"
    workdir: ~/src/ml-prod-gitops
    url: ssh://git@localhost:2222/srv/git/ml-prod.git
"""

RETURN = r"""
msg:
  description: What was done in words (in check mode, what would be); in pull_request mode, that the branch must be merged.
  returned: success
  type: str
  sample: "committed 3f2a9c1d0b7e (Render ml-prod: add tenant forecasting) and pushed it to main, which the cluster follows"
commit:
  description: The new commit, or the working copy's head when none was made (null before the first commit).
  returned: success
  type: str
revision:
  description:
    - What the branch the cluster follows (C(gitops.repo.branch)) points at on the remote after the run (in check
      mode, as last fetched). In pull_request mode this is not RV(commit) until the review branch is merged.
  returned: success
  type: str
branch_pushed:
  description: The branch pushed to (C(gitops.repo.branch), or C(keelson/<platform>) in pull_request mode); null when nothing was pushed.
  returned: success
  type: str
merged:
  description: Whether the branch the cluster follows holds RV(commit); false in pull_request mode until someone merges it.
  returned: success
  type: bool
pending:
  description:
    - True in pull_request mode while keelson's commit waits in C(keelson/<platform>) for a merge; the cluster does
      not run it yet, so there is nothing to bootstrap or wait for. Always false in push mode.
  returned: success
  type: bool
message:
  description: The new commit's message; null when no commit was made (in check mode, the message it would have).
  returned: success
  type: str
written:
  description: Files the render wrote (new or changed), relative to the repository's top.
  returned: success
  type: list
  elements: str
removed:
  description: Files keelson generated earlier and no longer renders, removed.
  returned: success
  type: list
  elements: str
workdir:
  description: The working copy used.
  returned: success
  type: str
"""
