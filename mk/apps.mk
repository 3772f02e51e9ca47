# apps: the order microservices (see apps/README.md).
#   make proto       regenerate apps/gen from apps/proto (protoc from Debian protobuf-compiler,
#                    plugins from the Go module proxy, pinned below)
#   make test-apps   integration suite on kfake (3 brokers) against SQLite and PostgreSQL 15
#   make bench-apps  end-to-end saga benchmark; prints the table for docs/BENCHMARKS.md
#   make run-apps    all services + in-process kfake + SQLite files (see apps/README.md)
#   make images-apps OCI image layouts of every service, without a Docker daemon

APPS_PROTOC_GEN_GO_VERSION      ?= v1.36.12
APPS_PROTOC_GEN_GO_GRPC_VERSION ?= v1.5.1
APPS_BIN := $(CURDIR)/bin

.PHONY: proto test-apps bench-apps run-apps images-apps

$(APPS_BIN)/protoc-gen-go:
	GOBIN=$(APPS_BIN) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(APPS_PROTOC_GEN_GO_VERSION)

$(APPS_BIN)/protoc-gen-go-grpc:
	GOBIN=$(APPS_BIN) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(APPS_PROTOC_GEN_GO_GRPC_VERSION)

proto: $(APPS_BIN)/protoc-gen-go $(APPS_BIN)/protoc-gen-go-grpc
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler" >&2; exit 1; }
	rm -rf apps/gen
	cd apps/proto && PATH=$(APPS_BIN):$$PATH protoc -I . \
		--go_out=$(CURDIR) --go_opt=module=github.com/ordermesh/ordermesh \
		--go-grpc_out=$(CURDIR) --go-grpc_opt=module=github.com/ordermesh/ordermesh \
		$$(find . -name '*.proto' | sed 's|^\./||' | LC_ALL=C sort)

test-apps:
	nice -n 10 go test -tags integration -count=1 -timeout 15m ./apps/...

bench-apps:
	nice -n 10 go run ./apps/cmd/bench

run-apps:
	go run ./apps/cmd/local

images-apps:
	go run ./apps/cmd/images -out $(CURDIR)/bin/images

TEST_TARGETS += test-apps
