#!/usr/bin/env bash
# Spawn benchmark: a private PostgreSQL + wagate, 500 instances; time until every worker is Ready (metrics
# wagate_workers_ready), first after creating them, then after a cold supervisor restart; supervisor RSS and the
# workers' total and per-worker PSS (/proc/<pid>/smaps_rollup). Prints ONE line:
#   spawn: 500 workers ready in X s after create (Y s after restart); supervisor RSS A MiB; workers PSS B MiB total, C KiB each
# Knobs: BUILD (default build), WAGATE_BIN, WAGATE_WORKER_BIN, BENCH_INSTANCES (500), BENCH_TIMEOUT (300 s).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
BUILD=${BUILD:-build}
sup_bin=${WAGATE_BIN:-$repo/$BUILD/supervisor/wagate}
wrk_bin=${WAGATE_WORKER_BIN:-$repo/$BUILD/worker/wagate-worker}
n=${BENCH_INSTANCES:-500}
limit=${BENCH_TIMEOUT:-300}
key=bench-key-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
tag=wagate-bench-$$-$RANDOM

for b in "$sup_bin" "$wrk_bin"; do
	[ -x "$b" ] || { echo "spawn: FAILED (not built: $b; set BUILD or WAGATE_BIN)"; exit 1; }
done

tmp=$(mktemp -d /tmp/wagate-bench-spawn.XXXXXX)
name=spawn
sup_pid=
. bench/lib.sh
pgport=$(free_port)
port=$(free_port)
base="http://127.0.0.1:$port"

start_sup() {
	(
		cd "$tmp"
		exec 3>&-
		exec env SERVER_PORT="$port" AUTHENTICATION_API_KEY="$key" \
			DATABASE_CONNECTION_URI="postgresql://postgres@127.0.0.1:$pgport/postgres" \
			WAGATE_WORKER_BIN="$wrk_bin" WAGATE_MIGRATIONS_DIR="$repo/migrations" RUNTIME_DIRECTORY="$tmp/run" \
			LOG_LEVEL=warn WA_WEBSOCKET_URL=ws://127.0.0.1:9/ws/chat WAGATE_BENCH_TAG="$tag" "$sup_bin"
	) >>"$tmp/wagate.log" 2>&1 &
	sup_pid=$!
	for _ in $(seq 1 600); do
		curl -fs -o /dev/null "$base/health" && return 0
		kill -0 "$sup_pid" 2>/dev/null || fail "wagate exited"
		sleep 0.05
	done
	fail "wagate not healthy"
}
metric() { curl -fs "$base/metrics" | awk -v m="$1" '$1 == m {print $2; exit}'; }
now() { date +%s.%N; }
# Wait until wagate_workers_ready reaches n; print the seconds since $1.
wait_ready() {
	local t0=$1 r
	while :; do
		r=$(metric wagate_workers_ready || true)
		[ "${r%.*}" = "$n" ] && break
		kill -0 "$sup_pid" 2>/dev/null || fail "wagate exited"
		awk -v a="$(now)" -v b="$t0" -v l="$limit" 'BEGIN { exit !(a - b > l) }' && fail "only ${r:-0}/$n ready after ${limit}s"
		sleep 0.05
	done
	awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.2f", a - b }'
}

PG_FSYNC=off scripts/pg.sh start "$tmp/pg" "$pgport" >/dev/null 2>&1 || fail "PostgreSQL did not start"
mkdir -p "$tmp/run"
start_sup

# Create with a few parallel clients so the API is not the bottleneck being measured.
t0=$(now)
seq 1 "$n" | xargs -P 8 -I{} sh -c "code=\$(curl -s -o /dev/null -w '%{http_code}' -X POST '$base/instance/create' \
	-H 'apikey: $key' -H 'Content-Type: application/json' \
	-d '{\"instanceName\":\"spawn{}\",\"integration\":\"WHATSAPP-BAILEYS\"}'); [ \"\$code\" = 201 ] || { echo \"create spawn{}: \$code\" >&2; exit 255; }" \
	|| fail "create failed"
t_create=$(wait_ready "$t0")

stop_sup
# wait for the old workers to go (or be left for adoption), then a cold start
sleep 1
t0=$(now)
start_sup
t_restart=$(wait_ready "$t0")
sleep 1

sup_rss=$(awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$sup_pid/status")
pids=$(curl -fs "$base/metrics" | awk '$1 ~ /^wagate_worker_pid\{/ {print $2}')
total=0; count=0
for p in $pids; do
	kb=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true)
	[ -n "$kb" ] || continue
	total=$((total + kb)); count=$((count + 1))
done
[ "$count" -gt 0 ] || fail "no worker pids in /metrics"
echo "spawn: $n workers ready in ${t_create} s after create (${t_restart} s after restart); supervisor RSS ${sup_rss} MiB;" \
	"workers PSS $(awk -v t="$total" 'BEGIN { printf "%.1f", t / 1024 }') MiB total," \
	"$(awk -v t="$total" -v c="$count" 'BEGIN { printf "%.0f", t / c }') KiB each ($count measured)"
