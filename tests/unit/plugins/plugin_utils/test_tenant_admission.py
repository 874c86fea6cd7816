# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The admission policy that keeps a team's Ingresses off the platform's hosts, read off the rendered tree and its
CEL expressions evaluated by a real CEL implementation (cel-python) against Ingresses a team could write: its own
hosts and keelson's own model Ingress admitted; a platform host, another namespace's model host, a wildcard, a rule
without a host and a default backend refused. What only a real API server shows (not run here): that it accepts
the policy (its type check and cost estimate) and applies the binding to the tenant namespaces."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from render_helpers import documents, example_spec, render_example

from ansible_collections.keelson.platform.plugins.module_utils import _tenancy
from ansible_collections.keelson.platform.plugins.module_utils._components import kserve
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

celpy = pytest.importorskip("celpy")

ENGINES = ("argocd", "flux")


def _policy(engine: str, changes: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
    found = {document["kind"]: document for _path, document in documents(render_example(engine, changes))}
    return found["ValidatingAdmissionPolicy"], found["ValidatingAdmissionPolicyBinding"]


def refusals(policy: dict[str, Any], ingress: dict[str, Any]) -> list[str]:
    """The messages of every validation the Ingress fails, as the API server evaluates them (object and
    namespaceObject bound; the Ingress's namespace is the namespace object's name)."""
    environment = celpy.Environment()
    bound = {
        "object": celpy.json_to_cel(ingress),
        "namespaceObject": celpy.json_to_cel({"metadata": {"name": ingress["metadata"]["namespace"]}}),
    }
    failed = []
    for validation in policy["spec"]["validations"]:
        program = environment.program(environment.compile(validation["expression"]))
        result = program.evaluate(bound)
        assert isinstance(result, celpy.celtypes.BoolType), (validation["expression"], result)  # not an error
        if not result:
            failed.append(validation["message"])
    return failed


def _ingress(namespace: str, *hosts: str, tls: bool = True) -> dict[str, Any]:
    rules = [
        {
            "host": host,
            "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]},
        }
        for host in hosts
    ]
    ingress: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"ingressClassName": "traefik", "rules": rules},
    }
    if tls:
        ingress["spec"]["tls"] = [{"hosts": list(hosts), "secretName": "web-tls"}]
    return ingress


@pytest.mark.parametrize("engine", ENGINES)
def test_the_policy_binds_every_tenant_namespace_and_denies(engine: str) -> None:
    policy, binding = _policy(engine)
    assert binding["spec"] == {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]}
    constraints = policy["spec"]["matchConstraints"]
    assert constraints["namespaceSelector"] == {"matchExpressions": [{"key": _tenancy.TENANT_LABEL, "operator": "Exists"}]}
    assert constraints["resourceRules"][0]["resources"] == ["ingresses"]
    assert set(constraints["resourceRules"][0]["operations"]) == {"CREATE", "UPDATE"}
    assert policy["spec"]["failurePolicy"] == "Fail"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_team_keeps_its_own_hosts_and_keelsons_model_ingress(engine: str) -> None:
    policy, _binding = _policy(engine)
    spec, nodes = example_spec(engine)
    platform = Platform(spec, nodes)
    namespace = platform.spec.tenants[0].namespaces[0]
    assert refusals(policy, _ingress(namespace, f"shop.{platform.spec.domain}")) == []
    assert refusals(policy, _ingress(namespace, "shop.example.org", tls=False)) == []
    # keelson's own Ingress of a served model, in the tenant's namespace: its host is the namespace's.
    assert refusals(policy, kserve.serving_ingress(platform, "churn", namespace)) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_a_team_cannot_take_a_platform_host_another_namespaces_model_or_every_host(engine: str) -> None:
    policy, _binding = _policy(engine)
    spec, nodes = example_spec(engine)
    platform = Platform(spec, nodes)
    mine, theirs = platform.spec.tenants[0].namespaces[0], platform.spec.tenants[1].namespaces[0]
    domain = platform.spec.domain
    platform_hosts = platform.ingress_hosts
    assert f"keycloak.{domain}" in platform_hosts
    for host in platform_hosts:
        assert refusals(policy, _ingress(mine, host)), host
        assert refusals(policy, _ingress(mine, host, tls=False)), host
    # Another namespace's model host, as KServe names it, and the served models' domain itself.
    assert refusals(policy, kserve.serving_ingress(platform, "churn", theirs) | {"metadata": {"name": "churn", "namespace": mine}})
    assert refusals(policy, _ingress(mine, kserve.UNIT.domain(platform)))
    assert refusals(policy, _ingress(mine, f"*.{domain}"))
    # A certificate for a platform host through the tls section alone.
    sneaky = _ingress(mine, f"shop.{domain}")
    sneaky["spec"]["tls"][0]["hosts"].append(f"keycloak.{domain}")
    assert len(refusals(policy, sneaky)) == 1
    # A rule without a host, or a default backend, takes every host's requests.
    hostless = _ingress(mine, f"shop.{domain}", tls=False)
    del hostless["spec"]["rules"][0]["host"]
    assert refusals(policy, hostless)
    default = copy.deepcopy(_ingress(mine, f"shop.{domain}"))
    default["spec"]["defaultBackend"] = {"service": {"name": "web", "port": {"number": 80}}}
    assert refusals(policy, default)


def test_without_kserve_the_served_models_domain_is_a_teams_like_any_other() -> None:
    def off(raw: dict[str, Any]) -> None:
        raw["components"]["kserve"] = {"enabled": False}

    policy, _binding = _policy("argocd", off)
    spec, nodes = example_spec("argocd", off)
    platform = Platform(spec, nodes)
    namespace = platform.spec.tenants[0].namespaces[0]
    assert refusals(policy, _ingress(namespace, f"churn-other.serving.{platform.spec.domain}")) == []
    assert refusals(policy, _ingress(namespace, f"keycloak.{platform.spec.domain}"))


def test_a_namespace_that_ends_like_another_keeps_its_model_hosts() -> None:
    """``x-foo-nlp.<serving>`` ends in ``-nlp.<serving>`` but is namespace foo-nlp's model x: namespace nlp may not
    take it, while foo-nlp and nlp keep their own."""

    def two(raw: dict[str, Any]) -> None:
        tenant = next(tenant for tenant in raw["tenants"] if tenant["name"] == "nlp")
        tenant["namespaces"] = ["nlp", "foo-nlp"]

    policy, _binding = _policy("flux", two)
    spec, nodes = example_spec("flux", two)
    platform = Platform(spec, nodes)
    serving = kserve.UNIT.domain(platform)
    assert refusals(policy, _ingress("nlp", f"x-foo-nlp.{serving}"))
    assert refusals(policy, _ingress("foo-nlp", f"x-foo-nlp.{serving}")) == []
    assert refusals(policy, _ingress("nlp", f"x-nlp.{serving}")) == []
    assert refusals(policy, _ingress("foo-nlp", f"x-nlp.{serving}"))


def test_no_engine_lets_a_team_write_routes_or_certificates_the_policy_does_not_see() -> None:
    roles = _tenancy.cluster_roles([])
    written = {group for role in roles for rule in role["rules"] if set(rule["verbs"]) & set(_tenancy.WRITE) for group in rule["apiGroups"]}
    assert not written & set(_tenancy.ROUTING_GROUPS)
    with pytest.raises(ValueError, match=r"traefik\.io/ingressroutes"):
        _tenancy.cluster_roles([("traefik.io", ("ingressroutes",))])
    denied = _tenancy.project_blacklist([], [])
    assert all({"group": group, "kind": "*"} in denied for group in _tenancy.ROUTING_GROUPS)
