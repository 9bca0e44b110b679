# Pinhole. Quick start: `make dev` (run locally), `make test` (every test tier).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PORT ?= 8787
TURN_PORT ?= 3478
FUZZ_SECONDS ?= 120
ROOT := $(CURDIR)
BIN := $(ROOT)/node_modules/.bin
export WRANGLER_SEND_METRICS := false
# worker-build downloads these tools unless told where local copies are.
export WASM_BINDGEN_BIN := $(or $(CARGO_HOME),$(HOME)/.cargo)/bin/wasm-bindgen
export ESBUILD_BIN := $(BIN)/esbuild
export WASM_OPT_BIN := $(BIN)/wasm-opt
export PATH := $(or $(CARGO_HOME),$(HOME)/.cargo)/bin:$(PATH)

.PHONY: help bootstrap worker dev test test-host test-lint test-deploy test-integration test-turn test-browser test-network test-fuzz fuzz size bench soak clean

help:
	@echo "make dev    build and run Pinhole on http://127.0.0.1:$(PORT) with a local coturn"
	@echo "make test   lint, host tests, 20 s fuzzing, deploy dry-run, integration, TURN and browser tests"
	@echo "make size   wasm and app sizes    make bench   signaling benchmarks    make soak   soak test"
	@echo "make fuzz   fuzz the frame parser and the room, FUZZ_SECONDS=$(FUZZ_SECONDS) each (test-fuzz: 20 s)"

bootstrap:
	@scripts/bootstrap

# Called by wrangler's [build] command too; does nothing when build/ is up to date, so
# restarting `wrangler dev` (as the tests do) costs no rebuild.
WORKER_SOURCES := Cargo.toml Cargo.lock .cargo/config.toml $(shell find src -name '*.rs')
worker: build/index.js
build/index.js: $(WORKER_SOURCES)
	@worker-build --release
	@# Drop the names section worker-build keeps (function names for stack traces, ~100 KB):
	@# no code changes, same feature set as worker-build's own wasm-opt run.
	@$(BIN)/wasm-opt build/index_bg.wasm -o build/index_bg.wasm --strip-debug --strip-producers \
	  $(foreach f,mutable-globals sign-ext nontrapping-float-to-int bulk-memory multivalue reference-types exception-handling,--enable-$(f))
	@touch $@

dev: bootstrap
	@TURN_PORT=$(TURN_PORT) scripts/local-turn start
	@trap 'scripts/local-turn stop' EXIT; $(BIN)/wrangler dev --ip 127.0.0.1 --port $(PORT)

test: bootstrap test-lint test-host test-fuzz test-deploy test-integration test-turn test-browser test-network
	@echo "make test: all tiers passed"

# ESLint covers every JavaScript file (eslint.config.js); it comes with `npm ci` (make bootstrap).
test-lint:
	$(BIN)/eslint .
	cargo fmt --check
	cargo clippy --target wasm32-unknown-unknown --all-targets -- -D warnings
	cargo clippy --all-targets -- -D warnings

test-host:
	cargo test

# Proves the bundle and wrangler.toml deploy (nothing is uploaded).
test-deploy: worker
	@out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; \
	  $(BIN)/wrangler deploy --dry-run --outdir "$$out" 2>&1 | grep -v "^$$" | tail -n 12

test-integration: worker
	node --test --test-concurrency=1 tests/integration/

test-turn:
	node --test --test-concurrency=1 tests/turn/

test-browser: worker
	node --test --test-concurrency=1 tests/browser/

# The network lab (tests/network/, root only: network namespaces, nft; skips and says so otherwise).
test-network: worker
	node --test --test-concurrency=1 tests/network/

# Coverage-guided fuzzing of the pure core on stable Rust (scripts/fuzz, fuzz/). New corpus
# entries stay in fuzz/corpus, crashing inputs land in fuzz/artifacts; both are git-ignored.
fuzz:
	@scripts/bootstrap fuzz
	@scripts/fuzz $(FUZZ_SECONDS)

test-fuzz:
	@scripts/bootstrap fuzz
	@scripts/fuzz 20

size: bootstrap worker
	@scripts/size

bench: bootstrap worker
	node bench/signaling.mjs

# 1,000 join/leave cycles and 1,000 alarms against the local runtime, with its RSS (~3 min).
soak: bootstrap worker
	node bench/soak.mjs

clean:
	rm -rf build target .wrangler fuzz/target
