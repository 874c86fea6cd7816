# Copyright (c) keelson maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Specs to render, and the SEALER TEST DOUBLE for tests that compare whole trees.

Real sealing is randomised (RSA-OAEP with a fresh session key), so a golden file cannot hold real
ciphertext. ``double_sealed`` stands in for it: a SealedSecret of the real shape whose "ciphertext" is a
SHA-256 of (namespace, name, key, value), never the value itself, with digest annotations of the real shape
whose digests are derived from that stand-in ciphertext. It proves nothing about sealing; the
sealing itself is tested with real keys in test_sealing.py, test_render_files.py and
tests/integration/test_render_playbook.py.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import yaml
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.manager import VariableManager

from ansible_collections.keelson.platform.plugins.filter.cluster_inventory import cluster_inventory
from ansible_collections.keelson.platform.plugins.module_utils._components._unit import PLATFORM_CA
from ansible_collections.keelson.platform.plugins.module_utils._engines import Part
from ansible_collections.keelson.platform.plugins.module_utils._sealing import manifest, record_digests
from ansible_collections.keelson.platform.plugins.module_utils._spec import validate_platform
from ansible_collections.keelson.platform.plugins.plugin_utils import _platform_secrets as platform
from ansible_collections.keelson.platform.plugins.plugin_utils import _render
from ansible_collections.keelson.platform.plugins.plugin_utils._platform import Platform

REPO = Path(__file__).resolve().parents[4]
# A real CA certificate (keelson's platform-ca kind, made once; its private key was never kept): the one every
# rendered OIDC consumer is told to trust. Its stand-in private key is a recognisable PLAINTEXT- value.
TEST_CA: str = (Path(__file__).parent / "platform-ca.crt").read_text()


def inventory_platform(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(raw keelson_platform, raw nodes) of inventories/<name>, read by Ansible's own inventory code."""
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[str(REPO / "inventories" / name)])
    variables = VariableManager(loader=loader, inventory=inventory)
    hostvars = {host.name: variables.get_vars(host=host) for host in inventory.get_hosts()}
    groups = {group: [host.name for host in inventory.get_hosts(pattern=group)] for group in ("keelson_servers", "keelson_agents")}
    found = cluster_inventory(hostvars, groups)
    return found["spec"], found["nodes"]


def normalised(raw: dict[str, Any], nodes: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    validated = validate_platform(copy.deepcopy(raw), copy.deepcopy(nodes))
    assert validated.nodes is not None
    return validated.spec, validated.nodes


def fake_value(name: str, kind: str) -> str:
    if kind == PLATFORM_CA:  # the test certificate, then a stand-in private key
        return f"{TEST_CA}-----BEGIN PRIVATE KEY-----\nPLAINTEXT-{name}-0123456789\n-----END PRIVATE KEY-----\n"
    return f"PLAINTEXT-{name}-0123456789"


def fake_values(spec: dict[str, Any]) -> dict[str, str]:
    """Stand-in credentials, recognisable in a tree: a test fails if any of them shows in plain text."""
    return {credential.name: fake_value(credential.name, credential.kind) for credential in platform.credentials(spec)}


def ca_of(spec: dict[str, Any]) -> Any:
    """The platform CA certificate the render action would pass for ``spec`` (None without a private CA)."""
    return platform.ca_certificate(spec, fake_values(spec))


def double_sealed(spec: dict[str, Any], nodes: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """TEST DOUBLE of sealing: the real SealedSecret shape, a digest in place of the ciphertext."""
    sealed = {}
    for (namespace, name), secret in _render.secrets_to_seal(spec, nodes, fake_values(spec)).items():
        encrypted = {key: hashlib.sha256(f"{namespace}/{name}/{key}/{value}".encode()).hexdigest() for key, value in secret.data.items()}
        sealed[(namespace, name)] = manifest(name, namespace, encrypted, "strict", "Opaque", secret.labels, {})
        digests = {key: hashlib.sha256(f"digest/{ciphertext}".encode()).hexdigest() for key, ciphertext in encrypted.items()}
        record_digests(sealed[(namespace, name)], digests, "test-double-key")
    return sealed


def example_spec(engine: str = "argocd", changes: Any = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """inventories/example-ha normalised, with the given engine and edits to the raw spec."""
    raw, nodes = inventory_platform("example-ha")
    raw = copy.deepcopy(raw)
    if engine == "flux":
        raw["gitops"]["engine"] = "flux"
        raw["gitops"].pop("argocd", None)
    if changes:
        changes(raw)
    return normalised(raw, nodes)


def render_example(engine: str = "argocd", changes: Any = None) -> dict[str, str]:
    """inventories/example-ha rendered with the given engine (and edits to the raw spec), double-sealed."""
    spec, nodes = example_spec(engine, changes)
    return _render.render(spec, nodes, double_sealed(spec, nodes), ca_of(spec))


def example_parts(engine: str = "argocd", changes: Any = None) -> list[Part]:
    """Every enabled unit of inventories/example-ha rendered (values, manifests), double-sealed."""
    spec, nodes = example_spec(engine, changes)
    return _render.parts(Platform(spec, nodes, ca_of(spec)), double_sealed(spec, nodes))


def documents(files: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """(path, object) for every Kubernetes object of the tree (not the chart values, not the CI files)."""
    return [
        (path, document)
        for path, text in files.items()
        if path.endswith(".yaml")
        for document in yaml.safe_load_all(text)
        if isinstance(document, dict) and "apiVersion" in document and "kind" in document
    ]


# Edits of the example's raw spec that tests render as variants.


def lean(raw: dict[str, Any]) -> None:
    """Only what cannot be turned off."""
    for name in ("minio", "weaviate", "monitoring", "keycloak"):
        raw["components"][name] = {"enabled": False}
    for tenant in raw["tenants"]:
        tenant.pop("buckets", None)
        tenant.pop("weaviate", None)


def no_backups(raw: dict[str, Any]) -> None:
    raw["components"]["weaviate"] = {**raw["components"].get("weaviate", {}), "backup_bucket": None}


def acme(raw: dict[str, Any]) -> None:
    raw["components"]["cert_manager"] = {"issuer": "acme", "acme_email": "ops@example.com"}


def absent(raw: dict[str, Any]) -> None:
    raw["tenants"][0].update(state="absent", confirm_removal="vision")
