# Shared plumbing of the bench scripts that run their own PostgreSQL + wagate (+ fakewa). Source it after setting
# `name` (the result-line prefix), `tmp` (scratch dir), `tag` (env tag given to the supervisor) and `sup_pid=`.
# It installs the cleanup trap and opens fd 3 for the result line(s).

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
# Seconds (2 decimals) from $1 to now.
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; }

# Our workers: the supervisor gives them only a few harmless variables, RUNTIME_DIRECTORY among them, so they are
# recognised by our private runtime dir (or by the tag, should it ever be passed on); kill exactly those.
kill_our_workers() {
	local f pid envs
	for f in /proc/[0-9]*/environ; do
		pid=${f#/proc/}; pid=${pid%/environ}
		envs=$({ tr '\0' '\n' <"$f"; } 2>/dev/null) || continue
		if grep -qx -e "WAGATE_BENCH_TAG=$tag" -e "RUNTIME_DIRECTORY=$tmp/run" <<<"$envs"; then
			kill -9 "$pid" 2>/dev/null || true
		fi
	done
}
stop_sup() {
	if [ -n "$sup_pid" ] && kill -0 "$sup_pid" 2>/dev/null; then
		kill -TERM "$sup_pid" 2>/dev/null || true
		for _ in $(seq 1 200); do kill -0 "$sup_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$sup_pid" 2>/dev/null || true
		wait "$sup_pid" 2>/dev/null || true
	fi
	sup_pid=
}
# fakewa (tests/fakewa) on free ports: sets fw_pid, fw_port, fw_control, fw_root_key. $1 = the binary.
fw_pid=
start_fakewa() {
	"$1" --root-key-out "$tmp/fakewa-root.pub" --cert-out "$tmp/fakewa-cert.pem" \
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
