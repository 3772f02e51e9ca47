# k3s: the ordermesh provider plugin that turns VPS hosts into a k3s cluster over SSH (see docs/VPS.md).
#   make k3s-plugin   bin/pulumi-resource-ordermesh, version-stamped (skipped when up to date)
#   make test-k3s     unit + mock tests, then the real-sshd tests (build tag sshd: Debian openssh-server
#                     on loopback, stand-in k3s) and, when bin/pulumi is built, a real pulumi up/up/destroy
#                     of components/k3s/testdata/cluster

# The version the component asks the engine for (components/k3s.PluginVersion) is stamped into the binary.
K3S_PLUGIN_VERSION := $(shell sed -n 's/^const PluginVersion = "\(.*\)"/\1/p' components/k3s/k3s.go)
K3S_PLUGIN         := bin/pulumi-resource-ordermesh
K3S_PLUGIN_SRCS    := $(shell find components/k3s tools/pulumi-resource-ordermesh -name '*.go' -not -name '*_test.go' -not -path '*/testdata/*') go.mod go.sum

TOOL_TARGETS += k3s-plugin
TEST_TARGETS += test-k3s

.PHONY: k3s-plugin test-k3s

k3s-plugin: $(K3S_PLUGIN)

$(K3S_PLUGIN): $(K3S_PLUGIN_SRCS)
	@echo "k3s: building $@ v$(K3S_PLUGIN_VERSION)" >&2
	@mkdir -p bin
	nice -n 10 go build -o $@ \
		-ldflags "-X github.com/ordermesh/ordermesh/components/k3s/provider.Version=$(K3S_PLUGIN_VERSION)" \
		./tools/pulumi-resource-ordermesh

test-k3s: $(K3S_PLUGIN) $(BIN)/pulumi $(BIN)/pulumi-language-go
	nice -n 10 go test -count=1 ./components/k3s/...
	nice -n 10 go test -tags sshd -count=1 -timeout 20m ./components/k3s/...
