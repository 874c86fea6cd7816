# keelson.platform developer entry points. `make setup` once, then `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.keelson-setup
# ansible-core 2.19 on Python 3.11: the oldest supported core, checked by `make compat`.
COMPAT_VENV  := .venv-compat
COMPAT_STAMP := $(COMPAT_VENV)/.keelson-setup
# The ML step library's tests (MLflow, Evidently, moto, scikit-learn): a venv of their own, kept apart from the tool chain.
ML_VENV  := .venv-ml
ML_STAMP := $(ML_VENV)/.keelson-setup
# This checkout, importable as keelson.platform (ansible.cfg puts .collections on the collections path).
LINK  := .collections/ansible_collections/keelson/platform
PIP_VERSION := 26.3
SANITY_ROOT := build/sanity/ansible_collections/keelson/platform
# Where ansible-test pins the pip version of its sanity venvs.
ANSIBLE_TEST_REQS := $(VENV)/lib/python3.12/site-packages/ansible_test/_internal/python_requirements.py

export PATH := $(abspath $(BIN)):$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)

.PHONY: help setup test lint sanity unit integration cluster compat molecule benchmark docs lock build clean ml lock-ml

help:
	@echo "make setup        create .venv (Python 3.12) with the pinned tool chain; link this checkout as keelson.platform"
	@echo "make test         every test layer: lint, sanity, unit, integration, cluster, compat, molecule"
	@echo "make lint         ansible-lint (production), yamllint, ruff, mypy"
	@echo "make sanity       ansible-test sanity on a copy of the collection"
	@echo "make unit         pytest tests/unit"
	@echo "make integration  pytest tests/integration (playbooks, collection build + install)"
	@echo "make ml           mypy on ml/steps, and pytest tests/ml in .venv-ml: the ML steps against real MLflow, PostgreSQL and S3"
	@echo "make cluster      pytest tests/cluster against the API server KEELSON_TEST_KUBECONFIG names (skipped, saying why, without)"
	@echo "make compat       unit tests and the validate playbook again on ansible-core 2.19 / Python 3.11"
	@echo "make molecule     host scenarios on local systemd test hosts (podman): default, and real-k3s when KEELSON_K3S_AIRGAP is set"
	@echo "make benchmark    time and task count of site.yml's first converge and its no-op re-run on the test hosts"
	@echo "make docs         regenerate the generated part of docs/spec.md"
	@echo "make build        ansible-galaxy collection build into build/"
	@echo "make lock         re-resolve requirements/constraints.txt from requirements/requirements.txt"

setup: $(STAMP) $(COMPAT_STAMP) $(ML_STAMP) $(LINK)
	@tools/testhosts-setup
	@tools/ml-setup
	@# ansible-test sanity --venv fetches a pip bootstrap script from a host these machines cannot reach;
	@# give it an offline stand-in under the name it looks for (see tools/ansible-test-get-pip.py).
	@pip_version=$$(grep -o "pip='[0-9.]*'" $(ANSIBLE_TEST_REQS) | grep -o "[0-9][0-9.]*[0-9]"); \
	target="$$HOME/.ansible/test/cache/get_pip_$${pip_version//./_}.py"; \
	cmp -s tools/ansible-test-get-pip.py "$$target" || { mkdir -p "$$(dirname "$$target")"; cp tools/ansible-test-get-pip.py "$$target"; }
	@# All of ansible --version first, then its first line: `| head -n 1` would close the pipe under ansible
	@# (a Broken pipe traceback), while a failing ansible still stops make here.
	@version=$$($(BIN)/ansible --version); \
	echo "keelson: tool chain ready ($${version%%$$'\n'*}); source $(BIN)/activate to use it directly"

$(STAMP): requirements/requirements.txt requirements/constraints.txt tools/find-python
	@python=$$(tools/find-python); \
	if ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then \
	  echo "keelson: creating $(VENV) with $$python"; rm -rf $(VENV); "$$python" -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pip==$(PIP_VERSION)
	$(BIN)/python -m pip install --quiet -r requirements/requirements.txt -c requirements/constraints.txt
	touch $@

$(COMPAT_STAMP): requirements/compat.txt tools/find-python
	@python=$$(tools/find-python 3.11); \
	if ! $(COMPAT_VENV)/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then \
	  echo "keelson: creating $(COMPAT_VENV) with $$python"; rm -rf $(COMPAT_VENV); "$$python" -m venv $(COMPAT_VENV); \
	fi
	$(COMPAT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check pip==$(PIP_VERSION)
	$(COMPAT_VENV)/bin/python -m pip install --quiet -r requirements/compat.txt
	touch $@

$(ML_STAMP): requirements/ml.txt requirements/ml-constraints.txt tools/find-python ml/steps/pyproject.toml
	@python=$$(tools/find-python); \
	if ! $(ML_VENV)/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then \
	  echo "keelson: creating $(ML_VENV) with $$python"; rm -rf $(ML_VENV); "$$python" -m venv $(ML_VENV); \
	fi
	$(ML_VENV)/bin/python -m pip install --quiet --disable-pip-version-check pip==$(PIP_VERSION)
	$(ML_VENV)/bin/python -m pip install --quiet -r requirements/ml.txt -c requirements/ml-constraints.txt
	$(ML_VENV)/bin/python -m pip install --quiet --no-deps -e ml/steps
	touch $@

$(LINK):
	mkdir -p $(dir $(LINK))
	ln -sfn ../../.. $(LINK)

test: lint sanity unit integration ml cluster compat molecule

lint: setup
	ansible-lint
	yamllint --strict .
	ruff check .
	ruff format --check .
	mypy

sanity: setup
	rm -rf build/sanity && mkdir -p $(SANITY_ROOT)
	git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - | tar -C $(SANITY_ROOT) -xf -
	# A repository of its own, so ansible-test sees these files and not the (ignoring) checkout around them.
	cd $(SANITY_ROOT) && git init -q && git add -A && ansible-test sanity --venv --python 3.12 --color no

unit: setup
	pytest tests/unit

integration: setup
	pytest tests/integration

# A rendered tree on a real kube-apiserver (a bare one is enough): RBAC, Pod Security, quota. Every test skips,
# with the reason, when KEELSON_TEST_KUBECONFIG is unset; pytest then exits 0.
cluster: setup
	pytest tests/cluster

# The host scenarios: `default` (k3s test double) always; `real-k3s` only with KEELSON_K3S_AIRGAP set.
molecule: setup
	molecule test --scenario-name default
	@if [ -n "$${KEELSON_K3S_AIRGAP:-}" ]; then molecule test --scenario-name real-k3s; \
	else echo "molecule real-k3s: SKIPPED - set KEELSON_K3S_AIRGAP to a folder holding a k3s release's k3s, k3s-airgap-images-amd64.tar.zst and sha256sum-amd64.txt to run it (see docs/testing.md)"; fi

# The ML step library (typed) and the churn example's steps against real MLflow, PostgreSQL and S3 servers.
ml: setup
	cd ml/steps && ../../$(ML_VENV)/bin/mypy
	$(ML_VENV)/bin/pytest tests/ml

benchmark: setup
	python benchmarks/site_noop.py

compat: setup
	$(COMPAT_VENV)/bin/pytest tests/unit tests/integration/test_validate_playbook.py

docs: setup
	python tools/spec_doc.py --write docs/spec.md

build: setup
	mkdir -p build
	ansible-galaxy collection build --force --output-path build .

lock:
	rm -rf build/lock-venv
	"$$(tools/find-python)" -m venv build/lock-venv
	build/lock-venv/bin/python -m pip install --quiet pip==$(PIP_VERSION)
	build/lock-venv/bin/python -m pip install --quiet -r requirements/requirements.txt
	{ echo "# Lock of every package the tool chain installs (pip freeze of a fresh venv). Do not edit by hand: make lock."; \
	  echo "pip==$(PIP_VERSION)"; build/lock-venv/bin/python -m pip freeze; } > requirements/constraints.txt

lock-ml:
	rm -rf build/lock-ml-venv
	"$$(tools/find-python)" -m venv build/lock-ml-venv
	build/lock-ml-venv/bin/python -m pip install --quiet pip==$(PIP_VERSION)
	build/lock-ml-venv/bin/python -m pip install --quiet -r requirements/ml.txt
	{ echo "# Lock of every package .venv-ml installs (pip freeze of a fresh venv). Do not edit by hand: make lock-ml."; \
	  echo "pip==$(PIP_VERSION)"; build/lock-ml-venv/bin/python -m pip freeze; } > requirements/ml-constraints.txt

clean:
	rm -rf build .collections .pytest_cache .ruff_cache .mypy_cache $(VENV) $(COMPAT_VENV) $(ML_VENV)
