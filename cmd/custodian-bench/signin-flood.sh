#!/usr/bin/env bash
# Measures a person's sign-in during a sign-in flood against the real server:
# build the binaries, create one account in a fresh SQLite data directory
# (under its development keyring), start `custodian serve` on a loopback port trusting the
# load generator as a proxy (so that each attacker has an address of its
# own), and run `custodian-bench signin-flood`.
#
# Environment (defaults): ATTACKERS=300 DURATION=20s PORT=18182
#   WORK=a temporary directory, removed afterwards (KEEP=1 keeps it)
set -euo pipefail
cd "$(dirname "$0")/../.."

ATTACKERS="${ATTACKERS:-300}"
DURATION="${DURATION:-20s}"
PORT="${PORT:-18182}"
WORK="${WORK:-$(mktemp -d -t custodian-flood-XXXXXX)}"

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

head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/password"
"$bin/custodian" user create --data-dir "$WORK/data" \
	--email person@example.com --role viewer --password-stdin <"$WORK/password" >/dev/null

"$bin/custodian" serve --data-dir "$WORK/data" \
	--addr "127.0.0.1:$PORT" --trusted-proxies 127.0.0.1/32 \
	2>"$WORK/serve.log" >"$WORK/serve.out" &
server=$!
for _ in $(seq 1 200); do
	curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null && break
	kill -0 "$server" 2>/dev/null || { echo "the server exited; see $WORK/serve.log" >&2; tail -5 "$WORK/serve.log" >&2; exit 1; }
	sleep 0.1
done
uptime
"$bin/custodian-bench" signin-flood -url "http://127.0.0.1:$PORT" -email person@example.com \
	-password-file "$WORK/password" -attackers "$ATTACKERS" -duration "$DURATION"
