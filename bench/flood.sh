#!/usr/bin/env bash
# Connection-flood benchmark (issue 11): a private PostgreSQL + wagate, a slowloris crowd from several loopback
# addresses (each connection sends one header byte per second and is reopened when closed; each address tries
# more than HTTP_MAX_CONNECTIONS_PER_IP), and wrk as the good client from 127.0.0.1 on GET /health meanwhile.
# Prints ONE line:
#   flood: held N connections (wagate N fds, cap C, P per address, N refused or closed, wagate CPU N%);
#   good client N req/s p99 X ms, N non-2xx
# Knobs: BUILD, WAGATE_BIN, WAGATE_WORKER_BIN, BENCH_SECONDS (10), BENCH_CAP (HTTP_MAX_CONNECTIONS, 1000),
#        BENCH_PER_IP (200), BENCH_ADDRESSES (flood source addresses, 4), BENCH_TRIES (connections each address
#        keeps trying to hold, 300), BENCH_CONNECTIONS (wrk's, 8), BENCH_THREADS (2). Everything it starts is
#        stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
name=flood
. bench/lib.sh
# The slowloris crowd is ours to stop as well as what lib.sh started.
crowd_pid=
trap '[ -z "$crowd_pid" ] || kill "$crowd_pid" 2>/dev/null || true; cleanup' EXIT
secs=${BENCH_SECONDS:-10}
cap=${BENCH_CAP:-1000}
per_ip=${BENCH_PER_IP:-200}
addrs=${BENCH_ADDRESSES:-4}
tries=${BENCH_TRIES:-300}
conns=${BENCH_CONNECTIONS:-8}
threads=${BENCH_THREADS:-2}
need_built "$sup_bin" "$wrk_bin"
command -v wrk >/dev/null || fail "wrk not installed"
[ "$(ulimit -n)" -gt $((addrs * tries + 64)) ] || fail "ulimit -n $(ulimit -n) is too low for $((addrs * tries)) flood sockets"

start_pg
sup_env+=(HTTP_MAX_CONNECTIONS="$cap" HTTP_MAX_CONNECTIONS_PER_IP="$per_ip" HTTP_REQUEST_TIMEOUT=10)
start_sup

# The crowd: on SIGTERM it writes "held closed" (sockets open now, and closes seen by the clients) to $tmp/crowd.
cat >"$tmp/crowd.py" <<'EOF'
import select, signal, socket, struct, sys, time
port, addrs, tries, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
def opener(src):
    s = socket.socket()
    # closed with a reset: no TIME_WAIT holding thousands of local ports on a shared machine
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.bind((src, 0))
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))
    return s
srcs = ["127.0.1.%d" % (i + 1) for i in range(addrs)]
socks = [[opener(src), src, 0] for src in srcs for _ in range(tries)]
closed = 0
line = b"GET /health HTTP/1.1\r\nHost: bench\r\nX-Slow: " + b"a" * 4096
def ready():
    """{fd: poll events} of every crowd socket (select cannot take descriptors past 1,023)."""
    p = select.poll()
    for e in socks:
        p.register(e[0], select.POLLIN | select.POLLOUT)
    return dict(p.poll(0))
while not stop:
    t0 = time.monotonic()
    ev = ready()
    for e in socks:
        s = e[0]
        dead = False
        if ev.get(s.fileno(), 0) & (select.POLLIN | select.POLLHUP | select.POLLERR):
            try:
                s.recv(4096)  # a 503, or end of file: the server let go
                dead = True
            except BlockingIOError:
                dead = False
            except OSError:
                dead = True
        if not dead:
            try:
                s.send(line[e[2] % len(line):e[2] % len(line) + 1])
                e[2] += 1
            except BlockingIOError:
                pass
            except OSError:
                dead = True
        if dead:
            closed += 1
            s.close()
            e[0], e[2] = opener(e[1]), 0
    time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
ev = ready()
held = sum(1 for e in socks
           if ev.get(e[0].fileno(), 0) & (select.POLLIN | select.POLLOUT | select.POLLHUP | select.POLLERR)
           == select.POLLOUT)
with open(out, "w") as f:
    f.write("%d %d\n" % (held, closed))
EOF
python3 "$tmp/crowd.py" "$port" "$addrs" "$tries" "$tmp/crowd" &
crowd_pid=$!
# the crowd is in place when wagate holds its share of it
for _ in $(seq 1 200); do
	n=$(ls "/proc/$sup_pid/fd" | wc -l)
	[ "$n" -ge $((addrs * per_ip < cap ? addrs * per_ip : cap)) ] && break
	sleep 0.05
done
cpu0=$(awk '{print $14 + $15}' "/proc/$sup_pid/stat")
t0=$(now)
out=$(wrk -t"$threads" -c"$conns" -d"${secs}s" --latency "$base/health" 2>&1) || fail "wrk failed: $out"
cpu=$(awk -v a="$(awk '{print $14 + $15}' "/proc/$sup_pid/stat")" -v b="$cpu0" -v hz="$(getconf CLK_TCK)" \
	-v s="$(since "$t0")" 'BEGIN { printf "%.0f", 100 * (a - b) / hz / s }')
fds=$(ls "/proc/$sup_pid/fd" | wc -l)
kill -TERM "$crowd_pid"
wait "$crowd_pid" || true
read -r held closed <"$tmp/crowd" || fail "the crowd did not report"
non2xx=$(printf '%s\n' "$out" | awk '/Non-2xx or 3xx responses/ {print $NF}')
rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ {printf "%.0f", $2}')
p99=$(printf '%s\n' "$out" | awk '$1 == "99%" {
	v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
	if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000;
	printf "%.2f", v }')
[ -n "$rps" ] && [ -n "$p99" ] || fail "could not parse wrk output: $out"
kill -0 "$sup_pid" 2>/dev/null || fail "wagate exited"
echo "flood: held $held connections (wagate $fds fds, cap $cap, $per_ip per address, $closed refused or closed," \
	"wagate CPU $cpu%); good client $rps req/s p99 $p99 ms, ${non2xx:-0} non-2xx" >&3
