#!/usr/bin/env bash
# Measures how reads scale with instances on one PostgreSQL database.
#
# Seeds N customers into a fresh PostgreSQL schema, starts one
# `custodian serve` pinned to core 0 (taskset) and drives get by id through
# it; then starts a second instance on the same schema, pinned to core 1,
# and drives get through both, the requests alternating between them. It
# prints both rates, their ratio, and the CPU that PostgreSQL's processes
# and the load generator used in each phase (in cores: CPU seconds per
# second). PostgreSQL and the load generator are not pinned: they run on
# whichever core is free, so with two cores they share the instances'
# cores; say so with the figures.
#
# Environment (defaults):
#   N=20000 DURATION=10s
#   CLIENTS=16   clients per instance: 16 through one, 32 through two, so
#                that each instance is offered the same concurrency
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable
#   OUT=bench-results/instances.json   results are appended
#   WORK=a temporary directory, removed afterwards (KEEP=1 keeps it)
#   CORES="0 1"   the cores of the first and the second instance
set -euo pipefail
cd "$(dirname "$0")/../.."

N="${N:-20000}"
DURATION="${DURATION:-10s}"
CLIENTS="${CLIENTS:-16}"
DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
OUT="${OUT:-bench-results/instances.json}"
WORK="${WORK:-$(mktemp -d -t custodian-instances-XXXXXX)}"
read -r -a cores <<<"${CORES:-0 1}"
ports=(18191 18192)

bin="$WORK/bin"
mkdir -p "$bin"
go build -o "$bin/custodian" ./cmd/custodian
go build -o "$bin/custodian-bench" ./cmd/custodian-bench

servers=()
schema=""
cleanup() {
	for s in "${servers[@]}"; do kill "$s" 2>/dev/null || true; wait "$s" 2>/dev/null || true; done
	[[ -n "$schema" ]] && psql -q "$DATABASE_URL" -c "DROP SCHEMA $schema CASCADE" >/dev/null 2>&1 || true
	[[ "${KEEP:-0}" == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT

# cpu_ticks prints the CPU time (user and system, in clock ticks) the
# processes whose ids are given have used so far.
cpu_ticks() {
	local total=0 pid
	for pid in "$@"; do
		[[ -r "/proc/$pid/stat" ]] || continue
		# Fields 14 and 15 follow the command name, which may hold spaces.
		local rest
		rest=$(sed 's/^.*) //' "/proc/$pid/stat")
		read -r -a f <<<"$rest"
		total=$((total + f[11] + f[12]))
	done
	echo "$total"
}

mkdir -p "$WORK/keys" "$WORK/fixture"
echo "== seeding $N customers"
"$bin/custodian-bench" seed -data-dir "$WORK/seed" -keyring "$WORK/keys/keyring.json" -fixture "$WORK/fixture" -n "$N" -database-url "$DATABASE_URL"
url=$(cat "$WORK/fixture/database_url")
schema=$(sed -n 's/.*search_path=\([a-z0-9_]*\).*/\1/p' <<<"$url")

start() { # start i: instance i on its core and port
	local i=$1
	mkdir -p "$WORK/data$i"
	taskset -c "${cores[$i]}" "$bin/custodian" serve --data-dir "$WORK/data$i" --database-url "$url" \
		--master-key-file "$WORK/keys/keyring.json" --addr "127.0.0.1:${ports[$i]}" \
		--rate-limit-api '1000000/s,burst=1000000' --phone-region GB 2>"$WORK/serve$i.log" >"$WORK/serve$i.out" &
	servers+=($!)
	for _ in $(seq 1 200); do
		curl -fsS -o /dev/null "http://127.0.0.1:${ports[$i]}/readyz" 2>/dev/null && return
		kill -0 "${servers[$i]}" 2>/dev/null || { echo "instance $i exited; see $WORK/serve$i.log" >&2; exit 1; }
		sleep 0.1
	done
	echo "instance $i did not become ready" >&2
	exit 1
}

# pg_ticks prints the CPU ticks used so far by every PostgreSQL process
# seen since the script started (pg_seen keeps each one's ticks when last
# seen, so that a connection's backend that exits still counts). Called
# outside $(...), it updates pg_seen.
declare -A pg_seen=()
pg_ticks() {
	local pid total=0
	for pid in $(pgrep -x postgres || true); do
		pg_seen[$pid]=$(cpu_ticks "$pid")
	done
	for pid in "${!pg_seen[@]}"; do
		total=$((total + pg_seen[$pid]))
	done
	echo "$total"
}

# drive label urls clients: get by id through urls for DURATION; prints
# req/s, the cores PostgreSQL used, the cores the load generator used and
# the cores the instances used.
drive() {
	local label=$1 urls=$2 clients=$3 hz pg0 pg1 t0 t1 lg out lgt=0 in0 in1
	hz=$(getconf CLK_TCK)
	pg_ticks >/dev/null
	pg0=$(pg_ticks)
	in0=$(cpu_ticks "${servers[@]}")
	t0=$(date +%s.%N)
	"$bin/custodian-bench" load -url "$urls" -fixture "$WORK/fixture" -label "$label" -customers "$N" \
		-ops get -duration "$DURATION" -clients "$clients" -out "$OUT" >"$WORK/$label.txt" &
	lg=$!
	while kill -0 "$lg" 2>/dev/null; do
		lgt=$(cpu_ticks "$lg")
		pg_ticks >/dev/null
		sleep 0.2
	done
	wait "$lg"
	t1=$(date +%s.%N)
	pg1=$(pg_ticks)
	in1=$(cpu_ticks "${servers[@]}")
	out=$(awk -v l="$label" '$1 == l && $2 == "get" && $4 == "req/s" {print $3; exit}' "$WORK/$label.txt")
	awk -v rps="$out" -v pg=$((pg1 - pg0)) -v lg="$lgt" -v inst=$((in1 - in0)) -v hz="$hz" -v t="$(echo "$t1 - $t0" | bc)" \
		'BEGIN { printf "%s %.2f %.2f %.2f\n", rps, pg / hz / t, lg / hz / t, inst / hz / t }'
}

echo "== one instance (core ${cores[0]}), $(uptime)"
start 0
read -r one pg_one lg_one in_one < <(drive one "http://127.0.0.1:${ports[0]}" "$CLIENTS")
echo "one instance:  $one req/s  (the instance used $in_one cores, PostgreSQL $pg_one, the load generator $lg_one)"

echo "== two instances (cores ${cores[0]} and ${cores[1]}), $(uptime)"
start 1
read -r two pg_two lg_two in_two < <(drive two "http://127.0.0.1:${ports[0]},http://127.0.0.1:${ports[1]}" $((2 * CLIENTS)))
echo "two instances: $two req/s  (the instances used $in_two cores, PostgreSQL $pg_two, the load generator $lg_two)"

awk -v a="$one" -v b="$two" 'BEGIN { printf "ratio two/one: %.2f (target 1.7)\n", b / a }'
echo "load after: $(uptime)"
