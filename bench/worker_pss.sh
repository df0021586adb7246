#!/usr/bin/env bash
# PSS of one WhatsApp client process (wa_probe: the worker's transport, wa_conn over TLS) idle-connected to
# fakewa, after the Noise handshake and a few keepalives. Prints ONE line.
# usage: bench/worker_pss.sh [BUILD_DIR]   (default build-transport, then build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-}
if [ -z "$build" ]; then
	for d in "$root/build-transport" "$root/build"; do [ -x "$d/tests/fakewa/fakewa" ] && { build=$d; break; }; done
fi
fakewa=$build/tests/fakewa/fakewa probe=$build/tests/fakewa/wa_probe
[ -x "$fakewa" ] && [ -x "$probe" ] || { echo "worker_pss: build fakewa and wa_probe first (ninja -C BUILD)" >&2; exit 1; }
work=$(mktemp -d)
fw_pid= pr_pid=
cleanup() { for p in $pr_pid $fw_pid; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
mkfifo "$work/ready"
"$fakewa" --tls --cert-out "$work/cert.pem" --root-key-out "$work/root.pub" >"$work/ready" 2>/dev/null &
fw_pid=$!
read -r line <"$work/ready"
port=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' <<<"$line")
"$probe" --url "wss://127.0.0.1:$port/ws/chat" --root-key "$work/root.pub" --ca "$work/cert.pem" \
	--keepalive 500 --run-seconds 30 >"$work/probe.out" 2>&1 &
pr_pid=$!
for _ in $(seq 100); do grep -q "STATE 0 open" "$work/probe.out" 2>/dev/null && break; sleep 0.1; done
grep -q "STATE 0 open" "$work/probe.out" || { echo "worker_pss: probe did not connect" >&2; cat "$work/probe.out" >&2; exit 1; }
sleep 2	# idle: a few keepalives go by
pss=$(awk '/^Pss:/ {print $2}' "/proc/$pr_pid/smaps_rollup")
rss=$(awk '/^Rss:/ {print $2}' "/proc/$pr_pid/smaps_rollup")
echo "worker_pss: ${pss} kB PSS (${rss} kB RSS) for one wa_conn idle-connected to fakewa over wss (keepalive 500 ms)"
