#!/usr/bin/env bash
# Restore benchmark: a private PostgreSQL + fakewa + wagate; N instances paired with fakewa's mock phone (scan-qr),
# then two supervisor restarts: SIGTERM, after which the new supervisor adopts the running workers (no
# reconnect), and SIGINT, which stops the workers too, so the next start logs every instance in again from the
# stored credentials (no QR): time until every instance is open again. The instances are kept between sizes
# (100 are paired, measured, 400 more paired, measured). Prints two lines per N, then the PSS of one idle paired
# worker (/proc/<pid>/smaps_rollup):
#   restore N=100: adopted, all open in X.XX s (stop Y.YY s; pairing took Z.ZZ s)
#   restore N=100: cold, all open in X.XX s (stop Y.YY s)
#   restore: idle paired worker PSS A kB (private B kB, RSS C kB; N workers running)
# Figures only, nothing is asserted.
# usage: bench/restore.sh [N ...]   (default: 100 500; sizes must grow)
# Knobs: BUILD (default build), WAGATE_BIN, WAGATE_WORKER_BIN, WAGATE_FAKEWA_BIN, BENCH_TIMEOUT (600 s per wait),
#        BENCH_PARALLEL (8 pairings at a time), BENCH_KEEP (keep the scratch dir).
set -euo pipefail
cd "$(dirname "$0")/.."
name=restore
. bench/lib.sh
fw_bin=${WAGATE_FAKEWA_BIN:-$repo/$BUILD/tests/fakewa/fakewa}
limit=${BENCH_TIMEOUT:-600}
par=${BENCH_PARALLEL:-8}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 500)
need_built "$sup_bin" "$wrk_bin" "$fw_bin"
prev=0
for n in "${sizes[@]}"; do
	[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -gt "$prev" ] || fail "sizes must be growing numbers"
	prev=$n
done

# Wait until $1 instances are open; fail after $limit s ($2 names the phase).
wait_open() { wait_metric "$(now)" 'wagate_instances{state="open"}' "$1" open "$2"; }
start_pg
start_fakewa "$fw_bin"
sup_env=(WA_WEBSOCKET_URL="ws://127.0.0.1:$fw_port/ws/chat" WA_ROOT_KEY="$fw_root_key")
start_sup

have=0
for n in "${sizes[@]}"; do
	t0=$(now)
	pair_range $((have + 1)) "$n"
	wait_open "$n" "pairing"
	t_pair=$(since "$t0")
	have=$n
	t0=$(now)
	stop_sup TERM
	t_stop=$(since "$t0")
	t0=$(now)
	start_sup
	wait_open "$n" "adopting restore"
	echo "restore N=$n: adopted, all open in $(since "$t0") s (stop ${t_stop} s; pairing took ${t_pair} s)" >&3
	t0=$(now)
	stop_sup INT
	t_stop=$(since "$t0")
	kill_our_workers	# any that did not take their Shutdown: a cold start must log every instance in
	t0=$(now)
	start_sup
	wait_open "$n" "cold restore"
	echo "restore N=$n: cold, all open in $(since "$t0") s (stop ${t_stop} s)" >&3
done

sleep 2	# idle: the logins are done, a few keepalives go by
# (awk reads to the end: an early exit would make curl fail with a write error under pipefail)
pid=$(curl -fs -H "apikey: $key" "$base/metrics" | awk '$1 ~ /^wagate_worker_pid\{/ && !p {p = $2} END {print p}')
[ -n "$pid" ] || fail "no worker pid in /metrics"
pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")
rss=$(awk '/^Rss:/ {print $2}' "/proc/$pid/smaps_rollup")
uss=$(awk '/^Private_(Clean|Dirty):/ {t += $2} END {print t}' "/proc/$pid/smaps_rollup")
echo "restore: idle paired worker PSS ${pss} kB (private ${uss} kB, RSS ${rss} kB; $have workers running)" >&3
