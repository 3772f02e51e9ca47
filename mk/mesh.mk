# mesh: Istio's own checks plus the platform's mesh rules over rendered manifests (docs/MESH.md).
#   make istioctl    bin/istioctl from tools/istioctl (istio.io/istio pinned as a Go tool;
#                    skipped when bin/istioctl is newer than the module files)
#   make meshanalyze bin/meshanalyze: Istio's analyzer library run with Services, Pods (from
#                    Deployments) and Namespaces kept, which istioctl's file mode drops
#   make test-mesh   renders the dev and prod stacks with the real program (provider render
#                    mode, no cluster), runs istioctl validate, istioctl analyze (file mode,
#                    all namespaces), meshanalyze and meshcheck on them and on deliberately
#                    broken copies,
#                    and applies the prod Istio resources to a local control plane with the
#                    upstream Istio CRDs
#   make mesh-check DIR=<render dir> [PROFILE=<dev|staging|prod>] [STACK_FILE=Pulumi.<stack>.yaml]
#                    the same four checks on a directory you rendered yourself (the call
#                    graph comes from the profile, overridden by the stack file's config)

ISTIOCTL    := $(BIN)/istioctl
MESHANALYZE := $(BIN)/meshanalyze
# The pseudo-version tools/istioctl/go.mod pins, stamped so `istioctl version` reports it.
ISTIOCTL_VERSION := v0.0.0-20260827124520-eed52ebb66ad
ISTIOCTL_LDFLAGS := -X istio.io/istio/pkg/version.buildVersion=$(ISTIOCTL_VERSION) \
	-X istio.io/istio/pkg/version.buildGitRevision=eed52ebb66ad -X istio.io/istio/pkg/version.buildStatus=Clean

TOOL_TARGETS += istioctl meshanalyze
TEST_TARGETS += test-mesh

.PHONY: istioctl meshanalyze test-mesh mesh-check

istioctl: $(ISTIOCTL)
meshanalyze: $(MESHANALYZE)

$(ISTIOCTL): tools/istioctl/go.mod tools/istioctl/go.sum
	@echo "building istioctl (first time: ~5 CPU-min)..." >&2
	cd tools/istioctl && nice -n 10 go build -ldflags "$(ISTIOCTL_LDFLAGS)" -o $@ istio.io/istio/istioctl/cmd/istioctl

# Istio's analyzers with Services/Pods/Namespaces kept (same module, so it
# reuses istioctl's compiled packages: seconds once istioctl is built).
$(MESHANALYZE): tools/istioctl/go.mod tools/istioctl/go.sum $(filter-out %_test.go,$(wildcard tools/istioctl/meshanalyze/*.go))
	@echo "building meshanalyze..." >&2
	cd tools/istioctl && nice -n 10 go build -o $@ ./meshanalyze

# Prerequisites spelled out: CORE_TOOLS is defined after the fragments are included.
test-mesh: $(ISTIOCTL) $(MESHANALYZE) $(BIN)/pulumi $(BIN)/pulumi-language-go $(BIN)/pulumi-resource-kubernetes \
		$(BIN)/localcluster $(BIN)/etcd $(BIN)/kube-apiserver $(BIN)/kube-controller-manager $(BIN)/kube-scheduler $(BIN)/kwok
	cd tools/istioctl && nice -n 10 go test -count=1 ./meshanalyze/
	nice -n 10 go test -tags mesh -count=1 -timeout 30m ./components/mesh/meshcheck/...

mesh-check: $(ISTIOCTL) $(MESHANALYZE)
	@test -n "$(DIR)" || { echo "usage: make mesh-check DIR=<render dir> [PROFILE=<profile>] [STACK_FILE=<file>]" >&2; exit 1; }
	$(ISTIOCTL) validate -x -f $(DIR)
	$(ISTIOCTL) analyze --use-kube=false -A --failure-threshold Error $(DIR)
	$(MESHANALYZE) -pods-from-deployments $(DIR)
	go run ./components/mesh/meshcheck/cmd/meshcheck $(if $(PROFILE),-profile $(PROFILE),) $(if $(STACK_FILE),-stack-file $(STACK_FILE),) $(DIR)
