#!/usr/bin/env bash
# Idle worker memory against the floor (issue 9). A private PostgreSQL + fakewa (TLS, as WhatsApp's wss) + wagate,
# N instances paired with fakewa's mock phone; the PSS (/proc/PID/smaps_rollup) of each idle worker:
#   (a) just after pairing (the 812 first prekeys generated, stored and uploaded),
#   (b) after a cold restart (SIGINT to the supervisor, which stops the workers; a new start logs every instance in
#       from the stored credentials),
#   (c) open after another cold restart with 1,000 sessions per instance in signal_session (random ~800-byte
#       records, as libsignal SessionRecords are): sessions load on demand, so a start must not read them; the
#       statements PostgreSQL ran during that start are logged and those touching signal_session counted,
# against the floor: bench/mem_floor.c linked against the worker's shared libraries, only sleeping, running beside
# the workers (so the libraries' shared pages are split the same way). Several workers run so the worker binary's
# own pages are shared as in production: PSS splits a shared page between the processes mapping it, so the pages of
# code a worker runs weigh less the more workers run; "private" (Private_Clean + Private_Dirty, the USS) is what each
# worker alone holds, whatever their number. Prints one line per figure:
#   worker_mem: floor PSS F kB, private U kB (mem_floor beside N workers; its libraries)
#   worker_mem: (a) paired, idle: PSS median M kB (min-max A-B) = X.XXx floor's F kB; private median U kB = Y.YYx floor's U kB (N workers)
#   worker_mem: (b) cold restart, idle: ...
#   worker_mem: (c) 1000 stored sessions each, idle: ...; statements on signal_session during the start: K
# Figures only, nothing is asserted.
# usage: bench/worker_mem.sh
# Knobs: BUILD (default build), WAGATE_BIN, WAGATE_WORKER_BIN, WAGATE_FAKEWA_BIN, BENCH_INSTANCES (16),
#        BENCH_SESSIONS (1000), BENCH_TLS (1; 0 = plain ws), BENCH_IDLE (12 s of idle before each
#        reading: the worker trims its heap every 10 s),
#        BENCH_TIMEOUT (300 s per wait), BENCH_PARALLEL (8 pairings at a time), BENCH_KEEP (keep the scratch dir).
set -euo pipefail
cd "$(dirname "$0")/.."
name=worker_mem
. bench/lib.sh
fw_bin=${WAGATE_FAKEWA_BIN:-$repo/$BUILD/tests/fakewa/fakewa}
limit=${BENCH_TIMEOUT:-300}
par=${BENCH_PARALLEL:-8}
n=${BENCH_INSTANCES:-16}
nsess=${BENCH_SESSIONS:-1000}
idle=${BENCH_IDLE:-12}
[[ "$n" =~ ^[1-9][0-9]*$ && "$nsess" =~ ^[0-9]+$ ]] || fail "BENCH_INSTANCES and BENCH_SESSIONS must be numbers"
need_built "$sup_bin" "$wrk_bin" "$fw_bin"
# The floor links the shared libraries the worker binary needs (its DT_NEEDED entries, resolved by ldd).
floor_bin=$tmp/mem_floor
floor_libs=$(ldd "$wrk_bin" | awk '$2 == "=>" && $3 ~ /^\// && $1 !~ /^(libc|ld-linux)/ {print $3}')
[ -n "$floor_libs" ] || fail "no shared libraries found for $wrk_bin"
# shellcheck disable=SC2086 # one path per word
${CC:-cc} -O2 -o "$floor_bin" bench/mem_floor.c -Wl,--no-as-needed $floor_libs || fail "cannot build the floor program"

psql_q() { psql -qAtX -v ON_ERROR_STOP=1 "postgresql://postgres@127.0.0.1:$pgport/postgres" -c "$1"; }
wait_open() { wait_metric "$(now)" 'wagate_instances{state="open"}' "$1" open "$2"; }
# The pids of the running workers, from /metrics.
worker_pids() { curl -fs -H "apikey: $key" "$base/metrics" | awk '$1 ~ /^wagate_worker_pid\{/ {print $2}'; }
# "PSS PRIVATE" (kB) of the pid $1; private = Private_Clean + Private_Dirty (USS: what the process alone holds).
mem_of() { awk '/^Pss:/ {p = $2} /^Private_(Clean|Dirty):/ {u += $2} END {print p, u}' "/proc/$1/smaps_rollup"; }
# The median of the numbers on stdin.
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# Wait until every prekey of every instance is marked uploaded: the pairing's burst is over.
wait_uploaded() {
	local t0 have
	t0=$(now)
	while :; do
		have=$(psql_q "SELECT count(*) FROM signal_prekey WHERE uploaded")
		[ "$have" -ge $((n * 812)) ] && return 0
		awk -v a="$(now)" -v b="$t0" -v l="$limit" 'BEGIN { exit !(a - b > l) }' &&
			fail "only $have/$((n * 812)) prekeys uploaded after ${limit}s"
		sleep 0.1
	done
}
floor_pss=
# One result line: the workers' PSS (median, range) and private memory (median) against the floor's, read at the
# same moment. $1 = the label, $2 = a suffix for the line.
report() {
	local pids pid p u all=() priv=() med umed lo hi f fu
	sleep "$idle"	# idle: the logins are done, keepalives go by, the worker's periodic trim runs
	pids=$(worker_pids)
	[ "$(wc -w <<<"$pids")" -eq "$n" ] || fail "$(wc -w <<<"$pids") workers running, not $n ($1)"
	for pid in $pids; do
		read -r p u <<<"$(mem_of "$pid")"
		all+=("$p")
		priv+=("$u")
	done
	read -r f fu <<<"$(mem_of "$floor_pid")"
	med=$(printf '%s\n' "${all[@]}" | median)
	umed=$(printf '%s\n' "${priv[@]}" | median)
	read -r lo hi <<<"$(printf '%s\n' "${all[@]}" | sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {print lo, hi}')"
	echo "$name: $1: PSS median $med kB (min-max $lo-$hi) = $(ratio "$med" "$f")x floor's $f kB;" \
		"private median $umed kB = $(ratio "$umed" "$fu")x floor's $fu kB ($n workers)$2" >&3
}

start_pg
if [ "${BENCH_TLS:-1}" = 1 ]; then
	start_fakewa "$fw_bin" --tls
	sup_env=(WA_WEBSOCKET_URL="wss://127.0.0.1:$fw_port/ws/chat" WA_ROOT_KEY="$fw_root_key"
		WA_TLS_CA_FILE="$tmp/fakewa-cert.pem")
else
	start_fakewa "$fw_bin"
	sup_env=(WA_WEBSOCKET_URL="ws://127.0.0.1:$fw_port/ws/chat" WA_ROOT_KEY="$fw_root_key")
fi
start_sup

"$floor_bin" >"$tmp/floor.out" 3>&- &
floor_pid=$!
for _ in $(seq 1 100); do grep -q '^mem_floor ready' "$tmp/floor.out" 2>/dev/null && break; sleep 0.05; done
grep -q '^mem_floor ready' "$tmp/floor.out" || fail "mem_floor did not start"
trap 'kill "$floor_pid" 2>/dev/null || true; cleanup' EXIT

pair_range 1 "$n"
wait_open "$n" "pairing"
wait_uploaded
read -r f u <<<"$(mem_of "$floor_pid")"
# shellcheck disable=SC2086 # one path per word
echo "$name: floor PSS $f kB, private $u kB (mem_floor beside $n workers; $(basename -a $floor_libs | tr '\n' ' ' | sed 's/ $//'))" >&3
report "(a) paired, idle" ""

stop_sup INT
kill_our_workers	# any that did not take their Shutdown: a cold start must log every instance in
start_sup
wait_open "$n" "cold restart"
report "(b) cold restart, idle" ""

# Random records, each ~800 bytes; addresses as the Signal store names them ("user:device").
psql_q "INSERT INTO signal_session (instance_id, address, record)
	SELECT i.id, format('55119%s:%s', lpad(s::text, 8, '0'), s % 3),
	       (SELECT decode(string_agg(lpad(to_hex((random() * 4294967295)::bigint), 8, '0'), ''), 'hex')
	        FROM generate_series(1, 200) WHERE s > 0)
	FROM instance i, generate_series(1, $nsess) s" || fail "cannot insert sessions"
stop_sup INT
kill_our_workers
psql_q "ALTER SYSTEM SET log_statement = 'all'" >/dev/null
psql_q "SELECT pg_reload_conf()" >/dev/null
log_from=$(stat -c %s "$tmp/pg/server.log")
start_sup
wait_open "$n" "cold restart with sessions"
psql_q "ALTER SYSTEM RESET log_statement" >/dev/null
psql_q "SELECT pg_reload_conf()" >/dev/null
reads=$(tail -c +"$((log_from + 1))" "$tmp/pg/server.log" | grep -ci 'statement:.*signal_session\|execute .*signal_session' || true)
report "(c) $nsess stored sessions each, idle" "; statements on signal_session during the start: $reads"
