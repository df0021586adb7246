#!/usr/bin/env bash
# History sync benchmark (issue 9): a private PostgreSQL + fakewa + wagate; one instance paired with fakewa's mock
# phone, which then sends it history chunks inline (POST /phone/history: HistorySync, zlib, a peer message). Per
# chunk, the time from the phone's send to its hist_sync receipt, which the worker sends only after the chunk's
# MessageStore committed: decrypt, inflate, unpack, render every message to Evolution's JSON, one INSERT of all the
# rows with their messages.set/chats.set outbox rows, COMMIT. Chunks of BENCH_MSGS messages over BENCH_CONVS chats,
# fresh ids each round. Also the worker's PSS before the first chunk and after the last plus the idle trim, and
# the database's row count (every message stored once). Prints one line:
#   history: R chunks of M messages (C chats): stored in P50 ms median (min-max A-B), N msg/s; worker PSS X kB
#     before, Y kB after (idle); rows K
# Figures only, nothing is asserted.
# usage: bench/history.sh
# Knobs: BUILD (default build), WAGATE_BIN, WAGATE_WORKER_BIN, WAGATE_FAKEWA_BIN, BENCH_MSGS (3000; the worker
#        stores at most 3000 per chunk), BENCH_CONVS (30), BENCH_ROUNDS (5), BENCH_TIMEOUT (120 s per wait),
#        BENCH_IDLE (12 s: the worker trims its heap every 10 s), BENCH_MEDIA (1: each chunk as a media blob the
#        worker downloads from fakewa's control port, decrypts and checks; default 0, inline), BENCH_KEEP.
set -euo pipefail
cd "$(dirname "$0")/.."
name=history
. bench/lib.sh
fw_bin=${WAGATE_FAKEWA_BIN:-$repo/$BUILD/tests/fakewa/fakewa}
msgs=${BENCH_MSGS:-3000}
convs=${BENCH_CONVS:-30}
rounds=${BENCH_ROUNDS:-5}
limit=${BENCH_TIMEOUT:-120}
idle=${BENCH_IDLE:-12}
[[ "$msgs" =~ ^[1-9][0-9]*$ && "$convs" =~ ^[1-9][0-9]*$ && "$rounds" =~ ^[1-9][0-9]*$ ]] ||
	fail "BENCH_MSGS, BENCH_CONVS and BENCH_ROUNDS must be positive numbers"
need_built "$sup_bin" "$wrk_bin" "$fw_bin"

psql_q() { psql -qAtX -v ON_ERROR_STOP=1 "postgresql://postgres@127.0.0.1:$pgport/postgres" -c "$1"; }
worker_pid() { curl -fs -H "apikey: $key" "$base/metrics" | awk '$1 ~ /^wagate_worker_pid\{/ {print $2}'; }
pss_of() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }

start_pg
start_fakewa "$fw_bin"
sup_env=(WA_WEBSOCKET_URL="ws://127.0.0.1:$fw_port/ws/chat" WA_ROOT_KEY="$fw_root_key"
	WA_MEDIA_URL="http://127.0.0.1:$fw_control")
media=${BENCH_MEDIA:-0}
start_sup
pair_range 1 1
wait_metric "$(now)" 'wagate_instances{state="open"}' 1 open "$limit"
t0=$(now)
until [ "$(psql_q "SELECT count(*) FROM signal_prekey WHERE uploaded")" -ge 812 ]; do
	awk -v a="$(now)" -v b="$t0" -v l="$limit" 'BEGIN { exit !(a - b > l) }' && fail "prekeys not uploaded"
	sleep 0.1
done
sleep "$idle"
pid=$(worker_pid)
[ -n "$pid" ] || fail "no worker pid"
before=$(pss_of "$pid")
cat >"$tmp/drive.py" <<'PY'
import http.client, json, sys, time
control, phone, msgs, convs, rounds, limit, media = int(sys.argv[1]), sys.argv[2], *map(int, sys.argv[3:])

def req(method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", control, timeout=60)
    try:
        c.request(method, path, body=body)
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"null")
    finally:
        c.close()

now = int(time.time())
for r in range(rounds):
    conversations = []
    for c in range(convs):
        per = msgs // convs + (1 if c < msgs % convs else 0)
        conversations.append({"id": "1555300%04d@s.whatsapp.net" % c, "name": "Chat %d" % c, "messages": [
            {"id": "3EB0%02d%04d%012d" % (r, c, m), "fromMe": m % 3 == 0, "text": "history text %d of chat %d" % (m, c),
             "timestamp": now - 86400 + m, "status": 3} for m in range(per)]})
    body = json.dumps({"syncType": 0, "chunkOrder": r + 1, "progress": 100, "conversations": conversations,
                       "media": bool(media)})
    t = time.monotonic()
    st, j = req("POST", "/phone/history?account=" + phone, body)
    if st != 200 or j.get("sent") != 1:
        raise SystemExit("history %d: %s %s" % (r, st, j))
    while True:
        st, got = req("GET", "/phone/receipts?account=" + phone)
        if any(x.get("id") == j["id"] and x.get("type") == "hist_sync" for x in got["receipts"]):
            break
        if time.monotonic() - t > limit:
            raise SystemExit("no hist_sync for chunk %d" % r)
        time.sleep(0.005)
    print("%.1f" % ((time.monotonic() - t) * 1000))
PY
times=$(python3 "$tmp/drive.py" "$fw_control" 15552000001 "$msgs" "$convs" "$rounds" "$limit" "$media") ||
	fail "a chunk was not stored"
sleep "$idle"
after=$(pss_of "$pid")
rows=$(psql_q "SELECT count(*) FROM message")
read -r med lo hi <<<"$(sort -n <<<"$times" | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)], v[1], v[NR]}')"
kind=inline
[ "$media" = 1 ] && kind="media blobs"
echo "$name: $rounds chunks of $msgs messages ($convs chats, $kind): stored in $med ms median (min-max $lo-$hi)," \
	"$(awk -v m="$msgs" -v t="$med" 'BEGIN { printf "%d", m / (t / 1000) }') msg/s; worker PSS $before kB before," \
	"$after kB after (idle); rows $rows" >&3
