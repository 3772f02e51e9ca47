# vault: components/vault against a real Vault server (see docs/VAULT.md).
#   make vault-tool   bin/vault: Vault v1.1.2, a TEST server built from ../shared/tools/vault-1.1.2
#                     (skipped when bin/vault is newer than that module's files; never shipped to users)
#   make test-vault   runs the component's configuration script against `vault server -dev`:
#                     isolation of every order-system service, idempotency, pruning, v1.1.2 differences
#   make bench-vault  go benchmark of configuring N services (numbers in docs/BENCHMARKS.md)

VAULT_TOOL_SRC ?= $(abspath $(CURDIR)/../shared/tools/vault-1.1.2)
VAULT_BIN      := bin/vault

TOOL_TARGETS += vault-tool
TEST_TARGETS += test-vault

.PHONY: vault-tool test-vault bench-vault

vault-tool: $(VAULT_BIN)

# The shared tree is read-only in CI: build from a writable temp copy. Never
# `go mod tidy` it (its ~190 dependency versions are pinned by hand).
$(VAULT_BIN): $(wildcard $(VAULT_TOOL_SRC)/go.mod $(VAULT_TOOL_SRC)/go.sum $(VAULT_TOOL_SRC)/*.go)
	@test -f $(VAULT_TOOL_SRC)/go.mod || { echo "vault: $(VAULT_TOOL_SRC) missing (set VAULT_TOOL_SRC)" >&2; exit 1; }
	@echo "building vault 1.1.2 test server (first time: ~2 CPU-min)..." >&2
	@mkdir -p $(dir $@)
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
		cp -R $(VAULT_TOOL_SRC)/. "$$tmp"/ && chmod -R u+w "$$tmp" && \
		cd "$$tmp" && nice -n 10 go build -o $(abspath $@) .

test-vault: vault-tool
	ORDERMESH_VAULT_BIN=$(abspath $(VAULT_BIN)) nice -n 10 go test -tags vaultserver -count=1 -timeout 5m ./components/vault/

bench-vault: vault-tool
	ORDERMESH_VAULT_BIN=$(abspath $(VAULT_BIN)) nice -n 10 go test -tags vaultserver -run '^$$' -bench Configure -benchtime 3x ./components/vault/
