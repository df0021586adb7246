#!/usr/bin/env bash
# Messaging benchmark (issue 9): a private PostgreSQL + fakewa + wagate; instance pairs (sender s<i>, receiver r<i>,
# each paired with its own mock phone) exchange texts instance -> instance through POST /message/sendText, sent by
# bench/msg_load.c over keep-alive connections. A webhook receiver, bench/msg_sink.c, timestamps every
# messages.upsert: per message, the time from the sendText request to the receiving instance's webhook (API
# accepted -> fakewa -> receiving worker -> row committed -> webhook delivered). Goal: 2,000 msg/s. The sender and
# the receiver are C (built here) because they run on the same 2 cores as what is measured: the Python ones took
# ~15 % of them. Prints one line per figure set (bench/messages_driver.py does the rest: pairing, the figures):
#   messages: idle paired worker PSS A kB (private B kB, RSS C kB; after pairing)
#   messages pairs=1: N texts, R msg/s end to end (goal 2000), latency p50 X ms p99 Y ms (API->row ..., row->webhook
#     ...; cpu s: wagate, workers, fakewa, postgres, receiver, driver (ms per text: wagate+workers+postgres P,
#     fakewa F, bench B); db: W writes in T transactions, S statements; K webhooks still queued then, all
#     delivered D s later (R2 msg/s with every webhook); ...)
#     (the split at the receiving row's created_at and the CPU seconds each part used during the set: where the
#     time goes; receiver = msg_sink, driver = the Python driver plus msg_load; P is the service's own cost of a
#     text, F the fake WhatsApp's and its mock phones', B the load generator's and webhook receiver's, all on the
#     same cores: the goal needs P + F + B <= 1 ms on 2 cores. W, T, S: the instances' writes
#     (stores, statuses) and the transactions that carried them, and every statement run (webhook delivery's
#     too), from /metrics: how well writes were batched. K and D: the texts' other webhooks, send.message and
#     messages.update, go through the sender's one queue in order and may lag behind the receiver's
#     messages.upsert; R2 counts until the outbox is empty, the rate that holds up over time)
#   messages pairs=50: ... the same
#   messages pairs=50: ... (...; offered R msg/s, L written late (>1 ms; worst M ms); at most C in flight; ...)
#     (a set written PAIRS:MESSAGES:CONCURRENCY@RATE offers RATE texts/s, open loop, instead of keeping CONCURRENCY
#     requests in flight: the question "does the service keep up with R msg/s?" rather than "how fast does it go
#     with C requests waiting?". A closed loop with few requests per pair measures the cost of a text when
#     nothing batches; an offered rate lets the queues (and the batching) grow as far as the service needs.
#     Latency counts from when a text was due, so a generator held back by the cap or by the busy CPU shows in
#     it; L and M say how late msg_load itself was. Kept up: msg/s near RATE with latency that does not grow
#     with MESSAGES, and R2 near RATE)
#   messages: idle worker PSS A kB (...; after the load)
#   messages: idle worker PSS A kB (...; after a restart)      (kill -9 of a receiving worker, logged in again)
# Figures only, nothing is asserted. fakewa is one process that also encrypts/decrypts for the mock phones (each
# text reaches the receiver's phone and, as a DeviceSentMessage, the sender's): it is part of what is measured.
# usage: bench/messages.sh [PAIRS:MESSAGES:CONCURRENCY[@RATE] ...]   (default 1:1000:32 50:2000:100
#        50:10000:1000@2000; PAIRS never shrinks: a set with as many pairs as the one before reuses them)
# Knobs: BUILD (default build), WAGATE_BIN, WAGATE_WORKER_BIN, WAGATE_FAKEWA_BIN, BENCH_TIMEOUT (600 s per wait),
#        BENCH_KEEP (keep the scratch dir), PG_FSYNC (default off; on: durable commits as in production), PG_OPTS
#        (more server options, e.g. "-c shared_preload_libraries=pg_stat_statements" to profile), CC and CFLAGS
#        for msg_load and msg_sink (default cc, -O2; e.g. CFLAGS="-O1 -g -fsanitize=address,undefined" to check them:
#        their reports go to $tmp/driver.err, kept with BENCH_KEEP).
set -euo pipefail
cd "$(dirname "$0")/.."
name=messages
. bench/lib.sh
fw_bin=${WAGATE_FAKEWA_BIN:-$repo/$BUILD/tests/fakewa/fakewa}
sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(1:1000:32 50:2000:100 50:10000:1000@2000)
need_built "$sup_bin" "$wrk_bin" "$fw_bin"
# shellcheck disable=SC2086 # CFLAGS and pkg-config's output: one flag per word
for t in msg_load msg_sink; do
	${CC:-cc} ${CFLAGS:--O2} -Wall -o "$tmp/$t" "bench/$t.c" $(pkg-config --cflags --libs libevent) ||
		fail "cannot build bench/$t.c (needs libevent's headers and pkg-config: scripts/deps.sh)"
done
prev=0
for s in "${sets[@]}"; do
	[[ "$s" =~ ^([0-9]+):[0-9]+:[0-9]+(@[0-9]+)?$ ]] && [ "${BASH_REMATCH[1]}" -ge "$prev" ] &&
		[ "${BASH_REMATCH[1]}" -gt 0 ] || fail "sets are PAIRS:MESSAGES:CONCURRENCY[@RATE] with PAIRS never shrinking"
	prev=${BASH_REMATCH[1]}
done

# An open-loop set keeps up to CONCURRENCY connections to wagate (msg_load's and wagate's descriptors, and
# wagate's per-address cap, which follows the limit): the soft limit goes as far as the hard one allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
start_pg
start_fakewa "$fw_bin"
rport=$(free_port)
sup_env=(WA_WEBSOCKET_URL="ws://127.0.0.1:$fw_port/ws/chat" WA_ROOT_KEY="$fw_root_key"
	WEBHOOK_GLOBAL_URL="http://127.0.0.1:$rport/hook" WEBHOOK_GLOBAL_ENABLED=true)
start_sup
BENCH_RECEIVER_PORT=$rport BENCH_SUP_PID=$sup_pid BENCH_FW_PID=$fw_pid BENCH_LOAD_BIN=$tmp/msg_load \
	BENCH_SINK_BIN=$tmp/msg_sink python3 bench/messages_driver.py "$base" "$key" "$fw_control" "$tmp" \
	"postgresql://postgres@127.0.0.1:$pgport/postgres" "${sets[@]}" \
	>&3 2>"$tmp/driver.err" || fail "$(tail -n 1 "$tmp/driver.err")"
