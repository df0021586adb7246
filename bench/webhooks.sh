#!/usr/bin/env bash
# Webhook delivery benchmark: wagate's outbox -> POST -> receiver, alone (no WhatsApp side). Rows are written
# straight into webhook_outbox in one transaction (each a messages.upsert envelope of ~1 KB, as a received text's),
# spread over QUEUES (instance, url) queues; wagate finds them on its next claim and delivers them to
# bench/msg_sink.c, which answers 200 and timestamps each one. Per set, one line:
#   webhooks queues=Q: N rows, R rows/s (first to last arrival), cpu us per row: wagate A, postgres B, receiver C
# The CPU figures are what a delivered event costs each process (postgres's includes the rows' INSERT): steadier than the rate on a shared machine, and
# the figure bench/messages.sh's end-to-end path pays ~4 times per text (every event goes to the global webhook).
# Figures only, nothing is asserted.
# usage: bench/webhooks.sh [QUEUES:ROWS ...]   (default 1:2000 64:20000)
# Knobs: BUILD (default build), WAGATE_BIN, BENCH_TIMEOUT (300 s per set), BENCH_KEEP, PG_OPTS, CC, CFLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."
name=webhooks
. bench/lib.sh
sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(1:2000 64:20000)
for s in "${sets[@]}"; do
	[[ "$s" =~ ^[0-9]+:[0-9]+$ ]] || fail "sets are QUEUES:ROWS"
done
need_built "$sup_bin"
# shellcheck disable=SC2086,SC2046 # CFLAGS and pkg-config's output: one flag per word
${CC:-cc} ${CFLAGS:--O2} -Wall -o "$tmp/msg_sink" bench/msg_sink.c $(pkg-config --cflags --libs libevent) ||
	fail "cannot build bench/msg_sink.c (needs libevent's headers and pkg-config: scripts/deps.sh)"

start_pg
start_sup
rport=$(free_port)
python3 - "$tmp" "$sup_pid" "$pgport" "$rport" "${BENCH_TIMEOUT:-300}" "${sets[@]}" >&3 <<'PY' ||
import os, subprocess, sys, time

sys.path.insert(0, "bench")
from proc_cpu import children, ticks  # noqa: E402

tmp, sup, pgport, rport, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
sets = [tuple(int(x) for x in s.split(":")) for s in sys.argv[6:]]
hz = os.sysconf("SC_CLK_TCK")
psql = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", pgport, "-U", "postgres"]


def die(msg):
    print("webhooks: FAILED (%s)" % msg)
    sys.exit(1)


def pg_ticks():
    with open(os.path.join(tmp, "pg", "data", "postmaster.pid")) as f:
        pm = int(f.readline())
    return ticks(pm) + sum(ticks(p) for p in children(pm))


arrivals = os.path.join(tmp, "arrivals")
rx = subprocess.Popen([os.path.join(tmp, "msg_sink"), str(rport), arrivals], stdout=subprocess.PIPE, text=True)
if rx.stdout.readline().strip() != "msg_sink ready":
    die("msg_sink did not start")
url = "http://127.0.0.1:%d/hook" % rport
try:
    for n, (queues, rows) in enumerate(sets):
        tag = "b%d-" % n
        c0 = (ticks(sup), pg_ticks(), ticks(rx.pid))
        # The body: an envelope of the size of a received text's (instance and data.key.id are what msg_sink reads).
        subprocess.run(psql + ["-c", """
            INSERT INTO webhook_outbox (instance_id, event, url, body)
            SELECT md5('q' || (i %% %d))::uuid, 'messages.upsert', '%s',
                   jsonb_build_object('event', 'messages.upsert', 'instance', 'q' || (i %% %d),
                       'data', jsonb_build_object('key', jsonb_build_object('remoteJid', '15550001111@s.whatsapp.net',
                           'fromMe', false, 'id', '%s' || i), 'pushName', 'Bench', 'messageType', 'conversation',
                           'message', jsonb_build_object('conversation', repeat('x', 600)),
                           'messageTimestamp', 1700000000, 'status', 'DELIVERY_ACK'),
                       'destination', '%s', 'date_time', '2026-12-04T00:00:00.000Z', 'sender', '15550002222',
                       'server_url', 'http://127.0.0.1', 'apikey', 'x')
            FROM generate_series(1, %d) i""" % (queues, url, queues, tag, url, rows)], check=True)
        t0, seen, times = time.time(), 0, []
        while True:
            with open(arrivals) as f:
                times = [float(p[2]) for p in (line.split() for line in f) if len(p) == 3 and p[1].startswith(tag)]
            if len(times) >= rows:
                left = subprocess.run(psql + ["-c", "SELECT count(*) FROM webhook_outbox"], check=True,
                                      capture_output=True, text=True).stdout.strip()
                if left == "0":
                    break
            if time.time() - t0 > limit:
                die("%d/%d rows delivered after %.0f s" % (len(times), rows, limit))
            if rx.poll() is not None:
                die("msg_sink exited")
            try:
                os.kill(sup, 0)
            except OSError:
                die("wagate exited")
            time.sleep(0.1)
        c1 = (ticks(sup), pg_ticks(), ticks(rx.pid))
        span = max(times) - min(times)
        us = [(b - a) / hz * 1e6 / rows for a, b in zip(c0, c1)]
        print("webhooks queues=%d: %d rows, %.0f rows/s (first to last arrival), cpu us per row: wagate %.0f, "
              "postgres %.0f, receiver %.0f" % (queues, rows, rows / span if span > 0 else 0, us[0], us[1], us[2]),
              flush=True)
finally:
    rx.terminate()
    rx.wait()
PY
	fail "the driver failed"
