# Shared plumbing of the bench scripts that run their own PostgreSQL + wagate (+ fakewa). Source it from the
# repository root after setting `name` (the result-line prefix and the scratch dir's name). It sets the binaries
# (BUILD, WAGATE_BIN, WAGATE_WORKER_BIN), the API key and the scratch dir
# `tmp`, installs the cleanup trap and opens fd 3 for the result line(s).

repo=$(pwd)
BUILD=${BUILD:-build}
sup_bin=${WAGATE_BIN:-$repo/$BUILD/supervisor/wagate}
wrk_bin=${WAGATE_WORKER_BIN:-$repo/$BUILD/worker/wagate-worker}
key=bench-key-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
tmp=$(mktemp -d "/tmp/wagate-bench-$name.XXXXXX")
sup_pid=

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
# Seconds (2 decimals) from $1 to now.
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; }

# Our workers: the children of each supervisor we started, noted when it is stopped (they exit on IPC EOF by
# themselves; this is the backstop). A pid is killed only while it still runs the worker binary.
our_workers=
note_our_workers() {
	[ -n "$sup_pid" ] && our_workers="$our_workers $(pgrep -P "$sup_pid" | tr '\n' ' ' || true)"
	return 0
}
kill_our_workers() {
	local pid want
	want=$(readlink -f "$wrk_bin")
	for pid in $our_workers; do
		[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$want" ] && kill -9 "$pid" 2>/dev/null || true
	done
	our_workers=
}
# stop_sup [SIGNAL]: TERM (default) leaves paired workers to be adopted by the next start_sup (RUNTIME_DIRECTORY is
# set); INT stops them too.
stop_sup() {
	if [ -n "$sup_pid" ] && kill -0 "$sup_pid" 2>/dev/null; then
		note_our_workers
		kill -"${1:-TERM}" "$sup_pid" 2>/dev/null || true
		for _ in $(seq 1 200); do kill -0 "$sup_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$sup_pid" 2>/dev/null || true
		wait "$sup_pid" 2>/dev/null || true
	fi
	sup_pid=
}
# The private PostgreSQL on a free port, and free ports for wagate: sets pgport, port, base.
start_pg() {
	pgport=$(free_port)
	port=$(free_port)
	base="http://127.0.0.1:$port"
	PG_FSYNC=${PG_FSYNC:-off} scripts/pg.sh start "$tmp/pg" "$pgport" >/dev/null 2>&1 || fail "PostgreSQL did not start"
	mkdir -p "$tmp/run"
}
# wagate against the private PostgreSQL, logging to $tmp/wagate.log; returns once /health answers. sup_env holds
# the WhatsApp settings (NAME=value ...): by default an address where nothing listens.
sup_env=(WA_WEBSOCKET_URL=ws://127.0.0.1:9/ws/chat)
start_sup() {
	(
		cd "$tmp"
		exec 3>&-
		exec env SERVER_PORT="$port" AUTHENTICATION_API_KEY="$key" \
			DATABASE_CONNECTION_URI="postgresql://postgres@127.0.0.1:$pgport/postgres" \
			WAGATE_WORKER_BIN="$wrk_bin" WAGATE_MIGRATIONS_DIR="$repo/migrations" RUNTIME_DIRECTORY="$tmp/run" \
			LOG_LEVEL=warn "${sup_env[@]}" "$sup_bin"
	) >>"$tmp/wagate.log" 2>&1 &
	sup_pid=$!
	for _ in $(seq 1 600); do
		curl -fs -o /dev/null "$base/health" && return 0
		kill -0 "$sup_pid" 2>/dev/null || fail "wagate exited"
		sleep 0.05
	done
	fail "wagate not healthy"
}
# The value of the metric $1 (its full name with labels) in wagate's /metrics.
# (awk reads to the end: an early exit would make curl fail with a write error under pipefail)
metric() { curl -fs -H "apikey: $key" "$base/metrics" | awk -v m="$1" '$1 == m {v = $2} END {print v}'; }
# Wait until the metric $2 reads $3, at most $limit s from the time $1; $4 names what is counted in the failure
# message, and $5 (optional) the phase.
wait_metric() {
	local t0=$1 m=$2 want=$3 what=$4 phase=${5:+ ($5)} r
	while :; do
		r=$(metric "$m" || true)
		[ "${r%.*}" = "$want" ] && return 0
		kill -0 "$sup_pid" 2>/dev/null || fail "wagate exited$phase"
		awk -v a="$(now)" -v b="$t0" -v l="$limit" 'BEGIN { exit !(a - b > l) }' &&
			fail "only ${r:-0}/$want $what after ${limit}s$phase"
		sleep 0.05
	done
}
# fakewa (tests/fakewa) on free ports: sets fw_pid, fw_port, fw_control, fw_root_key. $1 = the binary, then
# fakewa's options (--tls: its certificate is $tmp/fakewa-cert.pem).
fw_pid=
start_fakewa() {
	"$1" "${@:2}" --root-key-out "$tmp/fakewa-root.pub" --cert-out "$tmp/fakewa-cert.pem" \
		>"$tmp/fakewa.out" 2>"$tmp/fakewa.log" 3>&- &
	fw_pid=$!
	for _ in $(seq 1 100); do
		grep -q '^fakewa ready' "$tmp/fakewa.out" 2>/dev/null && break
		kill -0 "$fw_pid" 2>/dev/null || fail "fakewa exited"
		sleep 0.05
	done
	fw_port=$(sed -n 's/^fakewa ready port=\([0-9]*\).*/\1/p' "$tmp/fakewa.out")
	fw_control=$(sed -n 's/^fakewa ready .*control=\([0-9]*\).*/\1/p' "$tmp/fakewa.out")
	[ -n "$fw_port" ] && [ -n "$fw_control" ] || fail "fakewa did not start"
	fw_root_key=$(cat "$tmp/fakewa-root.pub")
}
# Create instances r<from>..r<to> with qrcode:true and let fakewa's phone scan each QR (a rotated ref is retried);
# \$par (default 8) pairings at a time. Needs start_fakewa and start_sup.
pair_range() {
	python3 - "$base" "$key" "$fw_control" "$1" "$2" "${par:-8}" <<'PY' || fail "pairing failed"
import concurrent.futures, http.client, json, sys, time
base, key, control, lo, hi, par = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
port = int(base.rsplit(":", 1)[1])

def req(p, method, path, body=None, hdr=None, timeout=60):
    c = http.client.HTTPConnection("127.0.0.1", p, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=hdr or {})
        r = c.getresponse()
        data = r.read()
        return r.status, json.loads(data) if data else None
    finally:
        c.close()

def pair(i):
    name = "r%d" % i
    h = {"apikey": key, "Content-Type": "application/json"}
    st, j = req(port, "POST", "/instance/create", json.dumps({"instanceName": name, "integration": "WHATSAPP-BAILEYS",
                                                              "qrcode": True}), h)
    if st != 201:
        raise SystemExit("create %s: %s %s" % (name, st, j))
    code = (j.get("qrcode") or {}).get("code")
    deadline = time.monotonic() + 120
    while True:
        if code:
            st, j = req(control, "POST", "/admin/mock-phone/scan-qr?phone=1555200%04d" % i, code.encode())
            if st == 200:
                return
            if st != 404:
                raise SystemExit("scan %s: %s %s" % (name, st, j))
        if time.monotonic() > deadline:
            raise SystemExit("scan %s: no QR that fakewa knows" % name)
        time.sleep(0.3)
        st, j = req(port, "GET", "/instance/connect/" + name, None, {"apikey": key})
        code = j.get("code") if st == 200 and isinstance(j, dict) else None

with concurrent.futures.ThreadPoolExecutor(max_workers=par) as ex:
    list(ex.map(pair, range(lo, hi + 1)))
PY
}
cleanup() {
	stop_sup
	kill_our_workers
	if [ -n "${fw_pid:-}" ]; then
		kill "$fw_pid" 2>/dev/null || true
		wait "$fw_pid" 2>/dev/null || true
	fi
	scripts/pg.sh stop "$tmp/pg" >/dev/null 2>&1 || true
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The result line goes to fd 3 (stdout) even from inside $(...); the log tail goes to stderr.
exec 3>&1
fail() { echo "$name: FAILED ($1)" >&3; tail -n 20 "$tmp/wagate.log" >&2 2>/dev/null || true; exit 1; }

# Every binary given must be built.
need_built() {
	local b
	for b in "$@"; do
		[ -x "$b" ] || fail "not built: $b; set BUILD or WAGATE_BIN"
	done
}
