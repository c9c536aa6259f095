# Custodian's developer commands. `make run` starts the server on SQLite;
# `make test` runs every check CI runs on the code: formatting, vet and the
# whole test suite with the race detector, against real SQLite, PostgreSQL
# and Redis.

GO ?= go
PKGS := ./...

.PHONY: run test check bench fmt

run:
	$(GO) run ./cmd/custodian serve

check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

test: check
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

# Seeds 100,000 customers per backend and measures the API over loopback
# HTTP; writes bench-results/api.json. BENCH_FLAGS passes options through,
# e.g. make bench BENCH_FLAGS="-n 10000 -backends sqlite".
bench:
	$(GO) run ./cmd/custodian-bench -out bench-results/api.json $(BENCH_FLAGS)

fmt:
	gofmt -w $$(git ls-files '*.go')
