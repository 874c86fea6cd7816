# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""KUBERNETES API TEST DOUBLE: stands in for the kubernetes.core modules the bootstrap and status actions call
(k8s with server-side apply, k8s_info, helm_template) where no API server is reachable.

What it models: objects stored by (apiVersion, kind, namespace, name); an apply that changes nothing reports
``changed=false``; a namespaced object in a namespace that does not exist, or an instance of a custom kind whose CRD
is not installed, fails as the API server refuses it; check mode (server-side dry run) stores nothing; each
object's ``managedFields`` names the field manager that applied it last.

What it does NOT prove: real server-side apply field ownership and merge semantics, admission (Pod Security,
quota, webhooks), defaulting, CRD schema validation, RBAC, that a controller then reconciles anything, or that
helm renders the real chart (``helm_template`` returns the text the test gives). tests/cluster/ proves those
against a real API server when KEELSON_TEST_KUBECONFIG names one.
"""

from __future__ import annotations

import copy
from typing import Any, Optional

BUILTIN_GROUPS = {"", "apps", "rbac.authorization.k8s.io", "apiextensions.k8s.io", "networking.k8s.io", "policy", "batch"}
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}


class KubernetesApiDouble:
    def __init__(self, chart_output: str = "") -> None:
        self.objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.chart_output = chart_output
        self.calls: list[tuple[str, dict[str, Any], bool]] = []
        self.fail_next: Optional[str] = None

    # What the action hands its module callable: (module name, arguments, carries secrets) -> result.
    def __call__(self, name: str, arguments: dict[str, Any], secret: bool, check: bool = False) -> dict[str, Any]:
        self.calls.append((name, copy.deepcopy(arguments), secret))
        if self.fail_next:
            message, self.fail_next = self.fail_next, None
            return {"failed": True, "msg": message}
        if name == "kubernetes.core.helm_template":
            return {"changed": False, "stdout": self.chart_output}
        if name == "kubernetes.core.k8s_info":
            return {"changed": False, "resources": self.list(arguments["api_version"], arguments["kind"])}
        if name == "kubernetes.core.k8s":
            return self.apply(arguments, check)
        return {"failed": True, "msg": f"the double does not know {name}"}

    def checking(self) -> Any:
        """The same callable, in check mode (server-side dry run)."""
        return lambda name, arguments, secret: self(name, arguments, secret, check=True)

    def list(self, api_version: str, kind: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(obj) for (version, k, _ns, _name), obj in sorted(self.objects.items()) if (version, k) == (api_version, kind)]

    def crds(self) -> set[str]:
        return {name for (_version, kind, _ns, name) in self.objects if kind == "CustomResourceDefinition"}

    def namespaces(self) -> set[str]:
        return {name for (_version, kind, _ns, name) in self.objects if kind == "Namespace"}

    def _refusal(self, document: dict[str, Any]) -> Optional[str]:
        group = document["apiVersion"].rpartition("/")[0]
        if group not in BUILTIN_GROUPS:
            served = {
                (obj["spec"]["group"], obj["spec"]["names"]["kind"])
                for (_v, kind, _n, _m), obj in self.objects.items()
                if kind == "CustomResourceDefinition"
            }
            if (group, document["kind"]) not in served:
                return (
                    f"Failed to find exact match for {document['apiVersion']}.{document['kind']} by [kind, name, singularName, shortNames]"
                )
        namespace = document["metadata"].get("namespace")
        if document["kind"] not in CLUSTER_SCOPED and namespace not in self.namespaces():
            return f'namespaces "{namespace}" not found'
        return None

    def apply(self, arguments: dict[str, Any], check: bool) -> dict[str, Any]:
        manager = arguments["server_side_apply"]["field_manager"]
        assert arguments["apply"] is True
        changed = False
        for document in arguments["definition"]:
            refusal = self._refusal(document)
            if refusal:
                return {"failed": True, "msg": refusal, "changed": changed}
            key = (document["apiVersion"], document["kind"], document["metadata"].get("namespace", ""), document["metadata"]["name"])
            stored = {
                **copy.deepcopy(document),
                "metadata": {**copy.deepcopy(document["metadata"]), "managedFields": [{"manager": manager}]},
            }
            if self.objects.get(key) != stored:
                changed = True
                if not check:
                    self.objects[key] = stored
        return {"changed": changed}
