# Shared plumbing of the bench scripts that run their own PostgreSQL + wagate. Source it after setting
# `name` (the result-line prefix), `tmp` (scratch dir), `tag` (env tag carried by our workers) and `sup_pid=`.
# It installs the cleanup trap and opens fd 3 for the one result line.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Workers of this run carry our tag in their environment; kill exactly those.
kill_our_workers() {
	local f pid
	for f in /proc/[0-9]*/environ; do
		pid=${f#/proc/}; pid=${pid%/environ}
		if { tr '\0' '\n' <"$f"; } 2>/dev/null | grep -qx "WAGATE_BENCH_TAG=$tag"; then
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
cleanup() {
	stop_sup
	kill_our_workers
	scripts/pg.sh stop "$tmp/pg" >/dev/null 2>&1 || true
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The result line goes to fd 3 (stdout) even from inside $(...); the log tail goes to stderr.
exec 3>&1
fail() { echo "$name: FAILED ($1)" >&3; tail -n 20 "$tmp/wagate.log" >&2 2>/dev/null || true; exit 1; }
