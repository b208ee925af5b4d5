# Sandbank developer entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help install node-runtime node_modules test test-python test-deps test-unit lint lint-shell generate bench bench-cluster cluster-build \
	node-build control-plane up down cluster-up cluster-down cluster-smoke test-cluster doctor doctor-up doctor-test
# The steps share apt, the Go caches and the machine's one local cluster, and doctor must run
# before the builds: prerequisites run one after another, in the order written, even under -j.
.NOTPARALLEL:

# The scripts' cache dir: $SANDBANK_CACHE, else $XDG_CACHE_HOME/sandbank, else ~/.cache/sandbank.
CACHE_DIR := $(or $(SANDBANK_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/sandbank)
# Where the local one-node cluster keeps its state (PKI, logs, containerd, kubelet).
CLUSTER_STATE ?= $(CACHE_DIR)/cluster-state
# The pinned Node.js runtime (NODE_VERSION in versions.env; install-node.sh fetches it): first on
# PATH in every recipe, so the tests, the benchmarks and the images all run that node.
NODE_VERSION := $(shell sed -n 's/^NODE_VERSION=//p' e2e/cluster/versions.env)
export PATH := $(CACHE_DIR)/node-$(NODE_VERSION)/bin:$(PATH)
# The e2e suite on the local cluster (its global setup runs e2e/cluster/up.sh, the teardown
# cluster-down.sh + verify-clean.sh).
CLUSTER_SUITE = SANDBANK_CLUSTER_STATE=$(CLUSTER_STATE) node --experimental-vm-modules node_modules/jest/bin/jest.js \
	-c e2e/test/cluster/jest.config.js

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# `npm install` fills node_modules as it goes; the stamp is written after it succeeded, so an
# interrupted install is redone instead of passing for a finished one.
NPM_STAMP := node_modules/.sandbank-npm-installed
node_modules: node-runtime $(NPM_STAMP)
$(NPM_STAMP): package.json package-lock.json $(wildcard */package.json)
	npm install --no-audit --no-fund
	@touch $@

install: node_modules ## install npm dependencies (the locked versions)

node-runtime: ## fetch the pinned Node.js runtime (versions.env) from the npm registry, once per version
	@bash e2e/cluster/install-node.sh >/dev/null

cluster-build: ## build etcd, kube-apiserver & co., kwok from Go modules (cached by version)
	bash e2e/cluster/build-control-plane.sh

test-deps: ## install the Debian packages the tests need (runsc, iproute2, openssl, shellcheck, …) when missing
	bash e2e/cluster/install-test-deps.sh

doctor: ## check in seconds what make up and make test need from this machine; prints the fix for each missing piece
	bash e2e/cluster/doctor.sh all $(CLUSTER_STATE)
# run first by make up / make test-cluster, and by make test after test-deps
doctor-up: node-runtime
	bash e2e/cluster/doctor.sh up $(CLUSTER_STATE)
doctor-test: test-deps node-runtime
	bash e2e/cluster/doctor.sh test $(CLUSTER_STATE)

test: doctor-test node_modules cluster-build node-build ## all tests: unit, integration (real etcd + kube-apiserver), the Python client, e2e on the local cluster (root)
	npm test
	bash clients/python/scripts/test.sh
	$(CLUSTER_SUITE)

test-python: node_modules cluster-build ## the Python client: ruff, mypy, pytest (unit + integration against the real stack), then upstream's SDK and Go client against it
	bash clients/python/scripts/test.sh

test-unit: node_modules ## unit tests only (no control plane)
	npm run test:unit

lint: node_modules ## shellcheck + SIGPIPE-prone pipes in every script, typecheck, ESLint, Prettier, dependency-cruiser layering rules
	bash e2e/cluster/lint-shell.sh
	npm run lint

lint-shell: ## only the shell checks: shellcheck, and pipes under pipefail whose reader can stop early (| head, | grep -q, …)
	bash e2e/cluster/lint-shell.sh

generate: node_modules ## regenerate CRD YAML (from api/ zod schemas) and proto code
	npm run generate

bench: node_modules cluster-build ## run the benchmarks; JSON results land in bench/results/
	npm run bench
	bash clients/python/scripts/bench.sh

bench-cluster: node_modules node-build ## benchmarks on the local cluster: up as make up, measure, down + verify-clean (root); JSON in bench/results/
	SANDBANK_CLUSTER_STATE=$(CLUSTER_STATE) npm run bench -- --local-cluster --filter cluster-

control-plane: node_modules cluster-build ## start a throwaway control plane (etcd + apiserver + kwok) until Ctrl-C
	npm run cluster:control-plane

node-build: cluster-build ## build the node: apt packages, runsc, kube-router, pause image, debootstrap base (root)
	bash e2e/cluster/build-node.sh

cluster-up: node-build ## start the local one-node cluster: kubelet + containerd + gVisor (root)
	bash e2e/cluster/cluster-up.sh $(CLUSTER_STATE)

cluster-down: ## stop the local cluster and check that nothing is left behind
	bash e2e/cluster/cluster-down.sh $(CLUSTER_STATE)
	bash e2e/cluster/verify-clean.sh $(CLUSTER_STATE)

cluster-smoke: ## smoke test of the running local cluster (gVisor pods, exec, Services, NetworkPolicy)
	bash e2e/cluster/smoke.sh $(CLUSTER_STATE)

test-cluster: doctor-up node_modules node-build ## only the e2e suite: cluster + Sandbank up, the journeys, down, verify-clean (root)
	$(CLUSTER_SUITE)

images: node_modules node-build ## build the controller, router and runtime images without Docker (OCI archives, cached)
	bash e2e/cluster/build-sandbank-images.sh

up: doctor-up node_modules node-build ## the local cluster with Sandbank and a warm pool, then the Python quickstart (root)
	bash e2e/cluster/up.sh $(CLUSTER_STATE)

down: cluster-down ## stop everything make up started and check that nothing is left
