#!/usr/bin/env bash
# Measures the real server as users run it (`make bench` runs this).
#
# For each backend: build the binaries, seed N customers into a fresh data
# directory (or a fresh PostgreSQL schema) under a new keyring, start
# `custodian serve` on a loopback port with its request log on (written to a
# file), every read recorded and token authentication, the API rate limit
# lifted (one client address sends everything), then drive each operation
# and record req/s, p50, p99 and the server's resident memory.
#
# Environment (defaults):
#   N=100000            customers to seed
#   BACKENDS=sqlite     sqlite and/or postgres, comma-separated
#   OPS=create,get,list,search_name,search_email   (mixed: a blend of all)
#   DURATION=10s CLIENTS=16
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test   for postgres
#   OUT=bench-results/api.json   results are appended
#   WORK=a temporary directory, removed afterwards (KEEP=1 keeps it)
#   EXTRA_FLAGS=        more flags for custodian serve
set -euo pipefail
cd "$(dirname "$0")/../.."

N="${N:-100000}"
BACKENDS="${BACKENDS:-sqlite}"
OPS="${OPS:-create,get,list,search_name,search_email}"
DURATION="${DURATION:-10s}"
CLIENTS="${CLIENTS:-16}"
DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
OUT="${OUT:-bench-results/api.json}"
WORK="${WORK:-$(mktemp -d -t custodian-bench-XXXXXX)}"
PORT="${PORT:-18181}"

bin="$WORK/bin"
mkdir -p "$bin"
go build -o "$bin/custodian" ./cmd/custodian
go build -o "$bin/custodian-bench" ./cmd/custodian-bench

server=""
cleanup() {
	if [[ -n "$server" ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
	[[ "${KEEP:-0}" == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT

IFS=, read -r -a backends <<<"$BACKENDS"
for backend in "${backends[@]}"; do
	dir="$WORK/$backend"
	mkdir -p "$dir/keys" "$dir/fixture"
	seed=(-data-dir "$dir/data" -keyring "$dir/keys/keyring.json" -fixture "$dir/fixture" -n "$N")
	store=(--data-dir "$dir/data")
	if [[ "$backend" == postgres ]]; then
		seed+=(-database-url "$DATABASE_URL")
	fi
	echo "== $backend: seeding $N customers"
	"$bin/custodian-bench" seed "${seed[@]}"
	if [[ "$backend" == postgres ]]; then
		store+=(--database-url "$(cat "$dir/fixture/database_url")")
	fi
	echo "== $backend: starting the server (log: $dir/serve.log)"
	"$bin/custodian" serve "${store[@]}" --master-key-file "$dir/keys/keyring.json" \
		--addr "127.0.0.1:$PORT" --rate-limit-api '1000000/s,burst=1000000' --phone-region GB \
		${EXTRA_FLAGS:-} 2>"$dir/serve.log" >"$dir/serve.out" &
	server=$!
	for _ in $(seq 1 200); do
		curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null && break
		kill -0 "$server" 2>/dev/null || { echo "the server exited; see $dir/serve.log" >&2; tail -5 "$dir/serve.log" >&2; exit 1; }
		sleep 0.1
	done
	"$bin/custodian-bench" load -url "http://127.0.0.1:$PORT" -fixture "$dir/fixture" -pid "$server" \
		-label "$backend" -customers "$N" -ops "$OPS" -duration "$DURATION" -clients "$CLIENTS" -out "$OUT"
	kill "$server"
	wait "$server" 2>/dev/null || true
	server=""
	if [[ "$backend" == postgres ]]; then
		schema=$(sed -n 's/.*search_path=\([a-z0-9_]*\).*/\1/p' "$dir/fixture/database_url")
		[[ -n "$schema" ]] && psql -q "$DATABASE_URL" -c "DROP SCHEMA $schema CASCADE" >/dev/null
	fi
done
