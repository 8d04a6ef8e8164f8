# refundd: `make run` serves the five launch merchants, `make test` is what CI runs.
GO  ?= go
OPA := $(GO) tool opa
ADDR ?= 127.0.0.1:8181
POLICIES ?= policies/

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## Serve the policies on 127.0.0.1:8181 (ADDR=host:port, ARGS=--watch...)
	$(GO) run ./cmd/refundd serve --addr $(ADDR) --policies $(POLICIES) $(ARGS)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)

.PHONY: build
build: ## Build bin/refundd, its version stamped (refundd version)
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o bin/refundd ./cmd/refundd

ENGINE ?= $(shell command -v podman >/dev/null 2>&1 && echo podman || echo docker)
IMAGE  ?= localhost/refundd:$(VERSION)

.PHONY: image
image: ## Build the container image (ENGINE=podman|docker, IMAGE=name:tag)
	$(ENGINE) build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

.PHONY: image-test
image-test: ## Build the image and run it as deployed (read-only, non-root, tokens on), probing it over HTTP
	ENGINE=$(ENGINE) scripts/image-test

.PHONY: test
# Locally, make test first regenerates docs/merchants.md, so an author's edit
# needs no extra step; in CI (CI=true) it only checks that the committed page
# is up to date.
test: $(if $(CI),,docs) file-size go-lint rego-lint rego-test go-test fuzz-short deploy-check ## Everything: Go and Rego formatting, checks and tests

.PHONY: file-size
file-size: ## No tracked file over 5 MB (a build output or a fixture that belongs elsewhere)
	@git ls-files -z | xargs -0 stat -c '%s %n' 2>/dev/null | awk '$$1 > 5242880 { print "tracked file over 5 MB: " $$2; bad = 1 } END { exit bad }'

.PHONY: test-postgres
test-postgres: ## make test, with the decision log's PostgreSQL store tested against a throwaway server
	REFUNDD_TEST_POSTGRES_URL=$$(scripts/postgres-test-server) REFUNDD_REQUIRE_POSTGRES=1 $(MAKE) test

.PHONY: docs
docs: ## Write docs/merchants.md from the policies' METADATA (make test checks it)
	$(GO) run ./cmd/refundd docs --policies $(POLICIES) > docs/.merchants.md.tmp
	mv docs/.merchants.md.tmp docs/merchants.md

.PHONY: go-lint
go-lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: go-test
go-test: ## Go tests with the race detector (engine, server, end to end)
	$(GO) test -race -count=1 ./...

.PHONY: deploy-check
deploy-check: ## Kubernetes overlays, Grafana dashboard and Prometheus alerts, checked offline (deploy/check)
	cd deploy/check && $(GO) vet ./... && $(GO) test -count=1 ./...

.PHONY: rego-lint
rego-lint: ## opa fmt and opa check --strict over the policies
	$(OPA) fmt --list --fail $(POLICIES)
	$(OPA) check --strict $(POLICIES)

.PHONY: rego-test
rego-test: ## opa test: all pass, coverage >= 95% overall and 100% for lib/ and floor/
	$(OPA) test $(POLICIES)
	$(OPA) test --coverage --threshold 95 $(POLICIES) > /dev/null
	$(OPA) test --coverage --threshold 100 $(POLICIES) --ignore merchants --ignore testing > /dev/null
	@echo "coverage: policies >= 95%, lib and floor = 100%"

# Every decoder of untrusted bytes, as package:target.
WAL_SWEEP ?= 5000
FUZZ_TARGETS := request:FuzzDecode request:FuzzDecodeDataAPI request:FuzzScanClean server:FuzzListQuery server:FuzzHandler bundles:FuzzRead engine:FuzzCompiledAgrees decisionlog:FuzzAppendString engine/ireval:FuzzValues replay:FuzzReadLogged decisionlog:FuzzEncode
FUZZTIME ?= 60s

.PHONY: fuzz
fuzz: ## Fuzz every decoder of untrusted bytes, FUZZTIME each (default 60s)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "fuzz $$t for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) ./$${t%%:*}; \
	done
	@if [ "$(FUZZTIME)" != "1000x" ]; then \
	  echo "the WAL fault sweep at $(WAL_SWEEP) positions"; \
	  REFUNDD_WAL_SWEEP=$(WAL_SWEEP) $(GO) test -run '^TestWALFaultInjection$$' -count 1 -v -timeout 60m ./decisionlog; \
	fi

# The short pass counts executions rather than seconds: with a duration, Go
# 1.26's fuzz coordinator can report its own deadline as a failure
# (go.dev/issue/75804), which would make CI flaky.
.PHONY: fuzz-short
fuzz-short: ## A short fuzzing pass over every decoder: 1,000 inputs each (part of make test)
	@$(MAKE) --no-print-directory fuzz FUZZTIME=1000x

.PHONY: bench
bench: ## engine.Decide per merchant (both evaluators), refundd against `opa run --server` at 8 and 32 clients, replay of 100,000 decisions
	$(GO) tool opa version > /dev/null
	$(GO) run ./bench
	@echo; echo "## Replay of 100,000 logged decisions (crmjetty, a candidate with a 14-day window)"; echo
	@$(GO) test -run '^$$' -bench Replay100k -benchtime 1x ./replay | grep -E 'Benchmark|replay_s' 

.PHONY: bench-scale
bench-scale: ## Start-up, activation time and memory at 1, 100 and 1,000 merchants
	$(GO) test -run '^$$' -bench Scale -benchtime 20x ./engine
