# ordermesh — one entry point for tools, the local dev stack and every test level.
#
#   make up       build tools if needed, start the local control plane, pulumi up the dev stack
#   make preview  pulumi preview of the dev stack
#   make down     pulumi destroy the dev stack and stop the local control plane
#   make test     unit tests, integration suites, and the end-to-end test
#   make tools    build the pinned toolchain into ./bin (skips what is up to date)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT  := $(CURDIR)
BIN   := $(ROOT)/bin
STATE := $(ROOT)/.state
STACK ?= dev
export PATH := $(BIN):$(PATH)

# Pinned versions: the tool modules under tools/ pin the sources; these
# stamp the binaries (the CLI and provider report them to the engine).
PULUMI_VERSION       := v3.274.1
K8S_PROVIDER_VERSION := 4.32.0
KUBE_VERSION         := v1.33.13

# Offline Pulumi: a file backend and plugin home inside the ignored state dir,
# no update checks, no plugin downloads, no plugins picked up from elsewhere.
export PULUMI_HOME                                 := $(STATE)/pulumi-home
export PULUMI_BACKEND_URL                          ?= file://$(STATE)/backend
export PULUMI_SKIP_UPDATE_CHECK                    := true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION := true
export PULUMI_IGNORE_AMBIENT_PLUGINS               := true
# DEV ONLY: the passphrase that encrypts the dev stack's secrets in the local
# file backend. Real stacks use a secrets provider (pulumi stack init --secrets-provider ...).
export PULUMI_CONFIG_PASSPHRASE ?= ordermesh-dev-only-passphrase

# Air-gapped mode: with a CRD directory the local cluster gets the upstream
# CRDs and the program skips operator chart installs (they would need the
# internet). Without one, the charts install operators and CRDs.
ORDERMESH_CRDS_DIR ?= $(if $(wildcard $(ROOT)/../shared/crds),$(abspath $(ROOT)/../shared/crds),)
export ORDERMESH_CRDS_DIR

LC_FLAGS := --state-dir $(STATE)/localcluster --bin-dir $(BIN)

TOOL_TARGETS :=
TEST_TARGETS :=
include $(sort $(wildcard mk/*.mk))

CORE_TOOLS := $(BIN)/pulumi $(BIN)/pulumi-language-go $(BIN)/pulumi-resource-kubernetes \
	$(BIN)/etcd $(BIN)/kube-apiserver $(BIN)/kube-controller-manager $(BIN)/kube-scheduler \
	$(BIN)/kwok $(BIN)/localcluster

.PHONY: help tools up preview down test test-unit test-e2e plugins cluster-up cluster-down stack-select bench-preview
help:
	@sed -n '2,9p' Makefile | sed 's/^# \{0,1\}//'

tools: $(CORE_TOOLS) $(TOOL_TARGETS)

# --- toolchain -------------------------------------------------------------
# Each tool is built from its own module (their dependency graphs conflict)
# and rebuilt only when its module files change.

$(BIN)/pulumi: tools/pulumi/go.mod tools/pulumi/go.sum
	@echo "building pulumi CLI $(PULUMI_VERSION) (first time: several minutes)..." >&2
	cd tools/pulumi && go build -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$(PULUMI_VERSION)" \
		-o $@ github.com/pulumi/pulumi/pkg/v3/cmd/pulumi

$(BIN)/pulumi-language-go: tools/pulumi-language-go/go.mod tools/pulumi-language-go/go.sum
	@echo "building pulumi-language-go (Go language host from sdk v3.62.0; first time: ~1 min)..." >&2
	cd tools/pulumi-language-go && go build -o $@ github.com/pulumi/pulumi/sdk/v3/go/pulumi-language-go

# The served provider module lacks the generated *-embed.json files its own
# main embeds; copy the schema files from the module cache (never committed).
$(BIN)/pulumi-resource-kubernetes: tools/pulumi-resource-kubernetes/go.mod tools/pulumi-resource-kubernetes/go.sum tools/pulumi-resource-kubernetes/main.go
	@echo "building pulumi-resource-kubernetes $(K8S_PROVIDER_VERSION) (first time: ~7 CPU-min)..." >&2
	cd tools/pulumi-resource-kubernetes && \
		go mod download github.com/pulumi/pulumi-kubernetes/provider/v4 && \
		dir=$$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi-kubernetes/provider/v4) && \
		install -m 0644 $$dir/cmd/pulumi-resource-kubernetes/schema.json $$dir/cmd/pulumi-resource-kubernetes/terraform-mapping.json . && \
		go build -ldflags "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$(K8S_PROVIDER_VERSION)" -o $@ .

$(BIN)/etcd: tools/etcd/go.mod tools/etcd/go.sum tools/etcd/main.go
	@echo "building etcd (first time: ~1 min)..." >&2
	cd tools/etcd && go build -o $@ .

KUBE_LDFLAGS := -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=33
$(BIN)/kube-%: tools/kube/go.mod tools/kube/go.sum
	@echo "building kube-$* $(KUBE_VERSION) (first time: several minutes)..." >&2
	cd tools/kube && go build -ldflags "$(KUBE_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/kube-$*

$(BIN)/kwok: tools/kwok/go.mod tools/kwok/go.sum
	@echo "building kwok v0.8.0 (first time: ~1 min)..." >&2
	cd tools/kwok && go build -o $@ sigs.k8s.io/kwok/cmd/kwok

$(BIN)/localcluster: go.mod go.sum $(wildcard tools/localcluster/*.go tools/localcluster/*.yaml)
	@echo "building localcluster..." >&2
	go build -o $@ ./tools/localcluster

# The resource providers are installed into the state dir's plugin home from
# ./bin, so Pulumi never tries to download them: kubernetes, and ordermesh
# (k3s over SSH, used by vps-mode stacks).
PLUGINS := $(PULUMI_HOME)/plugins/resource-kubernetes-v$(K8S_PROVIDER_VERSION)/pulumi-resource-kubernetes \
	$(PULUMI_HOME)/plugins/resource-ordermesh-v$(K3S_PLUGIN_VERSION)/pulumi-resource-ordermesh
plugins: $(PLUGINS)
$(PULUMI_HOME)/plugins/resource-kubernetes-v%/pulumi-resource-kubernetes: $(BIN)/pulumi $(BIN)/pulumi-resource-kubernetes
	pulumi plugin install resource kubernetes v$* --file $(BIN)/pulumi-resource-kubernetes --reinstall >/dev/null
	@touch $@
$(PULUMI_HOME)/plugins/resource-ordermesh-v%/pulumi-resource-ordermesh: $(BIN)/pulumi $(K3S_PLUGIN)
	pulumi plugin install resource ordermesh v$* --file $(K3S_PLUGIN) --reinstall >/dev/null
	@touch $@

# --- local dev stack ---------------------------------------------------------

cluster-up: $(CORE_TOOLS)
	@if $(BIN)/localcluster status $(LC_FLAGS) >/dev/null 2>&1; then echo "local cluster already running" >&2; \
	else $(BIN)/localcluster up $(LC_FLAGS) $(if $(ORDERMESH_CRDS_DIR),--crds $(ORDERMESH_CRDS_DIR)/strimzi --crds $(ORDERMESH_CRDS_DIR)/istio --crds $(ORDERMESH_CRDS_DIR)/prometheus-operator,); fi

cluster-down:
	@if [ -x $(BIN)/localcluster ]; then $(BIN)/localcluster down $(LC_FLAGS); fi

stack-select: plugins
	@mkdir -p $(STATE)/backend
	@pulumi stack select $(STACK) --create --non-interactive >/dev/null

up: cluster-up stack-select
	pulumi up --yes --non-interactive --stack $(STACK)

preview: stack-select
	pulumi preview --non-interactive --stack $(STACK)

down:
	@if [ -x $(BIN)/pulumi ] && pulumi stack select $(STACK) --non-interactive >/dev/null 2>&1; then \
		if $(BIN)/localcluster status $(LC_FLAGS) >/dev/null 2>&1; then pulumi destroy --yes --non-interactive --stack $(STACK); \
		else echo "local cluster not running: removing the stack's state without touching a cluster" >&2; \
			pulumi stack rm $(STACK) --yes --force --preserve-config --non-interactive; fi; fi
	@$(MAKE) --no-print-directory cluster-down

# --- tests ---------------------------------------------------------------------

test: test-unit $(TEST_TARGETS) test-e2e

test-unit:
	go vet ./...
	go test ./...

test-e2e: tools plugins
	go test -tags e2e -count=1 -timeout 30m -v ./infra/

# Warm no-change previews of dev and prod beside a plain program with as many
# resources, in one session (numbers in docs/BENCHMARKS.md).
bench-preview: tools plugins
	go test -tags e2e -run '^$$' -bench Preview -benchtime 5x -timeout 30m ./infra/
