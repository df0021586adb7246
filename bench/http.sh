#!/usr/bin/env bash
# HTTP benchmark: a private PostgreSQL + wagate, 1,000 instances, wrk against connectionState and
# fetchInstances?instanceName= (both rotating over the instances) and the full fetchInstances list. Prints ONE
# line with what issue 10 asks of fetchInstances (one instance at least half of connectionState's req/s; the
# full list with p99 under 50 ms and at least twice as many instance rows per second as connectionState's req/s):
#   http: n=N connectionState N req/s p99 X ms; fetchInstances?instanceName N req/s p99 X ms (R x connectionState);
#   fetchInstances (all) N req/s p99 X ms, N rows/s (R x connectionState)
# Knobs: BUILD (build dir, default build), WAGATE_BIN, WAGATE_WORKER_BIN, BENCH_INSTANCES (1000),
#        BENCH_SECONDS (10), BENCH_CONNECTIONS (32), BENCH_THREADS (2). Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
name=http
. bench/lib.sh
n=${BENCH_INSTANCES:-1000}
secs=${BENCH_SECONDS:-10}
conns=${BENCH_CONNECTIONS:-32}
threads=${BENCH_THREADS:-2}
need_built "$sup_bin" "$wrk_bin"
command -v wrk >/dev/null || fail "wrk not installed"

start_pg
start_sup

for i in $(seq 1 "$n"); do
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/instance/create" -H "apikey: $key" \
		-H 'Content-Type: application/json' -d "{\"instanceName\":\"bench$i\",\"integration\":\"WHATSAPP-BAILEYS\"}")
	[ "$code" = 201 ] || fail "create bench$i answered $code"
done

# connectionState and fetchInstances?instanceName= rotate over every instance.
rotate() {
	cat <<EOF
local n = $n
local i = 0
request = function()
	i = i % n + 1
	return wrk.format("GET", "$1" .. i, { ["apikey"] = "$key" })
end
EOF
}
rotate "/instance/connectionState/bench" >"$tmp/rotate.lua"
rotate "/instance/fetchInstances?instanceName=bench" >"$tmp/rotate_fetch.lua"

# Requests/sec and the 99th percentile (in ms) from wrk --latency output; non-2xx answers are a failure.
run_wrk() {
	local out rps p99 non2xx
	out=$(wrk -t"$threads" -c"$conns" -d"${secs}s" --latency "$@" 2>&1) || fail "wrk failed: $out"
	non2xx=$(printf '%s\n' "$out" | awk '/Non-2xx or 3xx responses/ {print $NF}')
	[ -z "$non2xx" ] || fail "wrk saw $non2xx non-2xx answers"
	rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ {printf "%.0f", $2}')
	p99=$(printf '%s\n' "$out" | awk '$1 == "99%" {
		v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
		if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000;
		printf "%.2f", v }')
	[ -n "$rps" ] && [ -n "$p99" ] || fail "could not parse wrk output: $out"
	echo "$rps req/s p99 $p99 ms"
}

# The full list must hold every instance (a short answer would flatter the rows/s figure).
rows=$(curl -fs -H "apikey: $key" "$base/instance/fetchInstances" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$rows" = "$n" ] || fail "fetchInstances listed $rows of $n instances"

cs=$(run_wrk -s "$tmp/rotate.lua" "$base/")
one=$(run_wrk -s "$tmp/rotate_fetch.lua" "$base/")
all=$(run_wrk -H "apikey: $key" "$base/instance/fetchInstances")
kill -0 "$sup_pid" 2>/dev/null || fail "wagate died under load"
cs_rps=${cs%% *}
one_rps=${one%% *}
all_rps=${all%% *}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
echo "http: n=$n connectionState $cs; fetchInstances?instanceName $one ($(ratio "$one_rps" "$cs_rps") x connectionState);" \
	"fetchInstances (all) $all, $((all_rps * n)) rows/s ($(ratio $((all_rps * n)) "$cs_rps") x connectionState)"
