# Sandbank developer entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help install test test-unit lint generate bench cluster-build control-plane up down cluster-up cluster-down

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

node_modules: package.json package-lock.json
	npm install --no-audit --no-fund
	@touch node_modules

install: node_modules ## install npm dependencies (the locked versions)

cluster-build: ## build etcd, kube-apiserver & co., kwok from Go modules (cached by version)
	bash e2e/cluster/build-control-plane.sh

test: node_modules cluster-build ## all tests: unit, then integration against a real etcd + kube-apiserver
	npm test

test-unit: node_modules ## unit tests only (no control plane)
	npm run test:unit

lint: node_modules ## typecheck, ESLint, Prettier, dependency-cruiser layering rules
	npm run lint

generate: node_modules ## regenerate CRD YAML (from api/ zod schemas) and proto code
	npm run generate

bench: node_modules cluster-build ## run the benchmarks; JSON results land in bench/results/
	npm run bench

control-plane: node_modules cluster-build ## start a throwaway control plane (etcd + apiserver + kwok) until Ctrl-C
	npm run cluster:control-plane

up: ## bring up the local cluster and run the quickstart (not yet available: see README)
	@echo "make up needs the local node (kubelet + containerd + gVisor), which is not built yet." >&2
	@echo "Until then, 'make control-plane' starts a real control plane for development." >&2
	@exit 2
