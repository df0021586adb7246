#!/usr/bin/env bash
# Spawn benchmark: a private PostgreSQL + wagate, 500 instances; time until every worker is Ready (metrics
# wagate_workers_ready), first after creating them, then after a cold supervisor restart; supervisor RSS and the
# workers' total and per-worker PSS (/proc/<pid>/smaps_rollup). Prints ONE line:
#   spawn: 500 workers ready in X s after create (Y s after restart); supervisor RSS A MiB; workers PSS B MiB total, C KiB each
# Knobs: BUILD (default build), WAGATE_BIN, WAGATE_WORKER_BIN, BENCH_INSTANCES (500), BENCH_TIMEOUT (300 s).
set -euo pipefail
cd "$(dirname "$0")/.."
name=spawn
. bench/lib.sh
n=${BENCH_INSTANCES:-500}
limit=${BENCH_TIMEOUT:-300}
need_built "$sup_bin" "$wrk_bin"

start_pg
start_sup

# Create with a few parallel clients so the API is not the bottleneck being measured.
t0=$(now)
seq 1 "$n" | xargs -P 8 -I{} sh -c "code=\$(curl -s -o /dev/null -w '%{http_code}' -X POST '$base/instance/create' \
	-H 'apikey: $key' -H 'Content-Type: application/json' \
	-d '{\"instanceName\":\"spawn{}\",\"integration\":\"WHATSAPP-BAILEYS\"}'); [ \"\$code\" = 201 ] || { echo \"create spawn{}: \$code\" >&2; exit 255; }" \
	|| fail "create failed"
wait_metric "$t0" wagate_workers_ready "$n" ready
t_create=$(since "$t0")

stop_sup
# wait for the old workers to go (or be left for adoption), then a cold start
sleep 1
t0=$(now)
start_sup
wait_metric "$t0" wagate_workers_ready "$n" ready
t_restart=$(since "$t0")
sleep 1

sup_rss=$(awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$sup_pid/status")
pids=$(curl -fs -H "apikey: $key" "$base/metrics" | awk '$1 ~ /^wagate_worker_pid\{/ {print $2}')
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
