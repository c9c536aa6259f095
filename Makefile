# Custodian's developer commands. `make run` starts the server on SQLite;
# `make test` runs every check CI runs on the code: formatting, vet and the
# whole test suite with the race detector, against real SQLite, PostgreSQL
# and Redis.

GO ?= go
PKGS := ./...

.PHONY: run test test-typescript mutation check bench bench-1m fmt

run:
	$(GO) run ./cmd/custodian serve

check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

test: check
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

# Mutation testing of the security core (.ci/mutation, gremlins pinned
# there): fails when the tests catch fewer than 90 % of the small changes
# they reach, or when a change survives that .ci/mutation-survivors.txt
# does not list with its reason. MUTATION_PACKAGES="token redact" runs a
# subset. Needs PostgreSQL and Redis, as make test does.
mutation:
	bash .ci/mutation

# The TypeScript client (clients/typescript): npm ci, the generated types
# checked against the document, type-check, build, and its tests against
# a custodian serve started for them. Needs Node.js 20 and npm.
test-typescript:
	bash .ci/typescript

# Measures the real server over loopback HTTP as users run it (encryption,
# reads recorded, token authentication, request log), 100,000 customers on
# SQLite; appends to bench-results/api.json. Environment variables pass
# options through (see cmd/custodian-bench/bench.sh), e.g.
# make bench BACKENDS=sqlite,postgres DURATION=5s.
bench:
	bash cmd/custodian-bench/bench.sh

# The same at 1,000,000 customers, for the operations whose cost grows with
# the data: reads, searches and the first page.
bench-1m:
	N=1000000 OPS=get,search_email,search_name,list,mixed bash cmd/custodian-bench/bench.sh

fmt:
	gofmt -w $$(git ls-files '*.go')
