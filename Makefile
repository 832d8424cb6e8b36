# RMF-Go. `make demo` and `make test` install what they need (Debian packages
# through .ci/install-deps), so both work on a fresh Debian machine.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
FUZZTIME ?= 60s
FUZZPARALLEL ?= 1
# Go tests run with the race detector; the whole run must stay well under
# 15 minutes on 2 cores.
TESTFLAGS ?= -race -count=1 -timeout 12m

.PHONY: all build deps test test-short demo bench chaos fuzz lint fmt-check clean

all: build

## build: compile bin/rmf, static (no cgo: nothing needs it), so one binary runs on
## every agent whatever its libc, and the director sidecar maps no libc (1.8 MB less RSS)
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o bin/rmf ./cmd/rmf

## deps: install the Debian packages tests start for real (zookeeper, erlang-base, haproxy, chromium)
deps:
	@.ci/install-deps

## test: install what is missing, then vet and run every test (race detector on)
test: deps fmt-check
	$(GO) vet ./...
	$(GO) test $(TESTFLAGS) ./...

## test-short: unit tests only (skips the tests that start ZooKeeper, Erlang, ...)
test-short:
	$(GO) test -short -count=1 ./...

## demo: install, build, and run the local stack (ZooKeeper, mesos-local, scheduler,
## 3 devnodes, the director) with a 20 s benchmark; DEMO_EXIT=1 exits after it
demo: deps build
	./bin/rmf dev --dir rmf-dev --bench $${DEMO_BENCH:-20s}

## bench: a side-by-side compare (3 devnodes; direct, director, HAProxy) in each scenario of
## BENCH_SCENARIOS (default steady,degraded,kill9), printing its table; BENCH_SINGLE_CONN=1 gives
## each worker one connection; BENCH_RATE=N offers N ops/s (open loop); BENCH_GO=1 also runs the Go benchmarks of the hot paths (not part of make test)
bench: build
	./bin/rmf bench compare --nodes 3 --driver $${BENCH_DRIVER:-riak-go-client} --duration $${BENCH_DURATION:-10s} --rounds $${BENCH_ROUNDS:-3} \
		--scenario $${BENCH_SCENARIOS:-steady,degraded,kill9} $${BENCH_SINGLE_CONN:+--single-conn} $${BENCH_RATE:+--rate $$BENCH_RATE} --out bench-out/compare
	@if [ -n "$(BENCH_GO)" ]; then $(GO) test -run '^$$' -bench . -benchmem ./...; fi

## chaos: node-level fault scenarios under load (kill -9, SIGSTOP 10 s, restart);
## rewrites the table in docs/reliability.md; fails on a lost write or a failed read
chaos: build
	./bin/rmf bench chaos --duration $${CHAOS_DURATION:-30s} --out chaos-out --update-docs docs/reliability.md

## fuzz: run every fuzz target for FUZZTIME (default 60s) each, with FUZZPARALLEL workers (default 1)
fuzz:
	@FUZZPARALLEL=$(FUZZPARALLEL) .ci/fuzz $(FUZZTIME)

## lint: go vet and a gofmt check
lint: fmt-check
	$(GO) vet ./...

## fmt-check: fail when a Go file is not gofmt-formatted
fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin
