# Arenacast: `make run` starts a broadcaster on an embedded NATS; `make test`
# runs every test (Go with -race, brief fuzzing, the JS client's unit tests
# and its browser tests in headless Chromium).

GO       ?= go
BIN      := bin/arenacast
DEV_ARGS := --keys testdata/devkeys --data-dir .arenacast-data --nats-listen 127.0.0.1:4222 \
            --allowed-origins 'localhost:*,127.0.0.1:*'
# A count, not a duration: a -fuzztime duration races Go's fuzzing
# coordinator at its deadline on a loaded machine and fails with a bare
# "context deadline exceeded" (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 50000x

.PHONY: all build run test test-go test-fuzz test-js js-deps bench clean demo-assets

all: build

# The commit, for `arenacast --version` ("+dirty" with uncommitted changes).
COMMIT := $(shell c=$$(git rev-parse --short=12 HEAD 2>/dev/null) && { git diff --quiet HEAD -- 2>/dev/null || c="$$c+dirty"; echo "$$c"; })

build:
	$(GO) build -ldflags '-X main.commit=$(COMMIT)' -o $(BIN) ./cmd/arenacast

# --demo: a simulated contest, shown live at http://127.0.0.1:8080/demo/
run: build
	./$(BIN) serve $(DEV_ARGS) --demo $(ARGS)

# The demo page's script, embedded in the binary: rebuild it after changing
# client-js/demo/ or client-js/src/, and commit it (a browser test checks).
demo-assets:
	cd client-js && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build:demo

test: test-go test-fuzz test-js

test-go:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 10m ./...

# Each fuzz target runs briefly; go test -fuzz takes one target at a time.
test-fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseChannel$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzChannelFromSubject$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeClientMessage$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeEvent$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzDelivery$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzValidJSON$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./auth
	$(GO) test -run '^$$' -fuzz '^FuzzRoute$$' -fuzztime $(FUZZTIME) ./broadcaster/ccs

js-deps:
	cd client-js && npm ci --no-audit --no-fund
	bash client-js/scripts/ensure-chromium.sh

test-js: build js-deps
	cd client-js && npm test
	cd client-js && ARENACAST_BIN=$(CURDIR)/$(BIN) npm run test:browser

# A short (< 3 min) benchmark suite: Go micro-benchmarks, then a server on a
# temp dir (CPU 0) under the load tool's presets (CPU 1), loopback only.
# Figures and method: docs/benchmarks.md. BENCH_ARGS passes load-tool flags.
bench: build
	$(GO) build -o bin/arenacast-bench ./cmd/arenacast-bench
	bash cmd/arenacast-bench/suite.sh ./$(BIN) ./bin/arenacast-bench $(BENCH_ARGS)

clean:
	rm -rf bin .arenacast-data client-js/dist
