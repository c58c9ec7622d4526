# quorate.cluster: `make cluster` brings a local 3-node cluster up, `make test` runs every test.
# Both install what they need first (Debian packages, the pinned venv).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
COLLECTIONS := build/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/quorate/cluster
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(COLLECTIONS)
export ANSIBLE_HOME := $(CURDIR)/build/ansible-home
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help deps host-deps venv unit integration sanity lint build-collection molecule test cluster cluster-down clean bench

help:
	@echo "make cluster       bring a real 3-node corosync cluster up on this machine and show it"
	@echo "make cluster-down  remove it"
	@echo "make test          install what is needed, then run every test (unit, integration, sanity, lint, build)"

# Installed, then proven: a throwaway container on a throwaway bridge network (one line naming a
# missing package otherwise).
host-deps:
	@hack/install-host-deps.sh
	@$(PYTHON) hack/podman_cluster.py check-network

# The venv is rebuilt whenever the pins change.
$(VENV)/.stamp: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check pip==26.3
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.stamp

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn $(CURDIR) $@

deps: host-deps venv $(COLLECTION_LINK)

unit: deps
	$(BIN)/python -m pytest tests/unit -q -p no:cacheprovider \
	  --cov=ansible_collections.quorate.cluster.plugins.module_utils --cov-report=term-missing

# Real corosync nodes in network namespaces; a missing prerequisite fails instead of skipping.
integration: deps
	QUORATE_REQUIRE_CLUSTER=1 $(BIN)/python -m pytest tests/integration -q -p no:cacheprovider

sanity: deps
	hack/ansible-test-sanity.sh

lint: deps
	$(BIN)/ruff check plugins tests hack bench molecule
	$(BIN)/ruff format --check plugins tests hack bench molecule
	hack/ansible-lint.sh
	$(BIN)/antsibull-changelog lint

build-collection: deps
	rm -rf build/dist build/install-check
	$(BIN)/ansible-galaxy collection build --output-path build/dist .
	# Its own collections path: the checkout's link under build/collections must not count as installed.
	ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/build/install-check $(BIN)/ansible-galaxy collection install \
	  -p build/install-check build/dist/quorate-cluster-*.tar.gz
	hack/doc-check.sh $(CURDIR)/build/install-check
	@echo "build-collection: $$(ls build/dist/*.tar.gz) installs and everything in it renders in ansible-doc"

# Real 3- and 5-node clusters: podman containers with systemd, converge, idempotence, testinfra.
molecule: deps
	$(BIN)/molecule test --all

test: unit integration sanity lint build-collection molecule
	@echo "make test: all suites passed"

cluster: deps
	$(BIN)/python hack/local_cluster.py up

cluster-down: deps
	$(BIN)/python hack/local_cluster.py down

# Every benchmark on this machine (netns, podman nodes of 3, 5, 7, the 3-node upgrade), then docs/benchmarks.md.
bench: deps
	$(BIN)/python bench/run_all.py

clean:
	rm -rf build .pytest_cache
