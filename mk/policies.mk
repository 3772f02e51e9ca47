# policies: the Go policy pack, the preview summary and the GitHub workflows (see docs/POLICIES.md).
#   make policy-pack    bin/ordermesh-policies, the pack as an analyzer binary for --policy-pack
#   make test-policies  rule and pack unit tests, the pack binary over the analyzer protocol, previewsummary
#                       tests, the broken e2e program under mocks, actionlint of .github/workflows
#   make preview-policies-broken  render-mode preview of policies/testdata/broken with the pack (needs
#                       bin/pulumi, bin/pulumi-language-go, bin/pulumi-resource-kubernetes); must fail

POLICY_PACK := bin/ordermesh-policies
ACTIONLINT  := bin/actionlint
POLICY_SRCS := $(shell find policies -name '*.go' -not -path '*/testdata/*' -not -name '*_test.go') go.mod go.sum

TOOL_TARGETS += policy-pack
TEST_TARGETS += test-policies

.PHONY: policy-pack test-policies preview-policies-broken

policy-pack: $(POLICY_PACK)

$(POLICY_PACK): $(POLICY_SRCS)
	@echo "policies: building $@" >&2
	@mkdir -p bin
	nice -n 10 go build -o $@ ./policies/cmd/ordermesh-policies

# actionlint is its own module (tools/actionlint) so its dependencies stay out of go.mod.
$(ACTIONLINT): tools/actionlint/go.mod tools/actionlint/go.sum
	@echo "policies: building $@ (rhysd/actionlint from tools/actionlint)" >&2
	@mkdir -p bin
	cd tools/actionlint && nice -n 10 go build -o $(CURDIR)/$@ github.com/rhysd/actionlint/cmd/actionlint

test-policies: $(POLICY_PACK) $(ACTIONLINT)
	nice -n 10 go test ./policies/... ./tools/previewsummary/
	nice -n 10 go test ./policies/testdata/broken
	$(ACTIONLINT) .github/workflows/*.yml

# End-to-end check without a cluster: the provider renders YAML instead of calling an API server. Exits 0
# only when the preview fails AND names every violated rule.
POLICY_E2E_DIR := $(CURDIR)/.state/policies-e2e
preview-policies-broken: $(POLICY_PACK)
	@rm -rf $(POLICY_E2E_DIR) && mkdir -p $(POLICY_E2E_DIR)/backend $(POLICY_E2E_DIR)/home
	@set -e; cd policies/testdata/broken; \
	export PATH=$(CURDIR)/bin:$$PATH PULUMI_HOME=$(POLICY_E2E_DIR)/home PULUMI_CONFIG_PASSPHRASE=dev \
	  PULUMI_BACKEND_URL=file://$(POLICY_E2E_DIR)/backend \
	  PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true PULUMI_IGNORE_AMBIENT_PLUGINS=true; \
	pulumi plugin install resource kubernetes v4.32.0 --file $(CURDIR)/bin/pulumi-resource-kubernetes >/dev/null; \
	pulumi stack select --create broken --non-interactive >/dev/null; \
	export BROKEN_RENDER_DIR=$(POLICY_E2E_DIR)/rendered; \
	if pulumi preview --non-interactive --policy-pack $(CURDIR)/$(POLICY_PACK) > $(POLICY_E2E_DIR)/preview.txt 2>&1; then \
	  cat $(POLICY_E2E_DIR)/preview.txt; echo "preview of the broken program passed; it must fail" >&2; exit 1; fi; \
	for rule in workload-resources service-type-restricted canary-weights-sum-100 kafka-topic-replication; do \
	  grep -q "$$rule" $(POLICY_E2E_DIR)/preview.txt || { cat $(POLICY_E2E_DIR)/preview.txt; echo "rule $$rule not reported" >&2; exit 1; }; \
	done; \
	echo "policies: broken program rejected with every expected rule named" >&2
