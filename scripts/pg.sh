#!/usr/bin/env bash
# Start or stop a private PostgreSQL cluster: pg.sh start DIR PORT | pg.sh stop DIR | pg.sh uri DIR PORT
# PG_OPTS: extra server options (e.g. "-c shared_preload_libraries=pg_stat_statements" to profile a bench).
# Runs the server as the Debian "postgres" user when invoked as root (initdb refuses root).
set -euo pipefail
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/initdb" ] || { echo "pg.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cmd=${1:?usage: pg.sh start|stop|uri DIR [PORT]}
dir=$(realpath -m "${2:?DIR}")
port=${3:-5432}
case "$cmd" in
start)
	mkdir -p "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$dir"
		# the server must be able to reach its directory
		p=$dir; while [ "$p" != / ]; do p=$(dirname "$p"); chmod o+x "$p" 2>/dev/null || true; done
	fi
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		as_pg "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
			|| { cat "$dir/initdb.log" >&2; exit 1; }
	fi
	as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=${PG_FSYNC:-on} ${PG_OPTS:-}" start >/dev/null \
		|| { tail -n 20 "$dir/server.log" >&2; exit 1; }
	;;
stop)
	[ -f "$dir/data/postmaster.pid" ] && as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
	;;
uri)
	echo "postgresql://postgres@127.0.0.1:$port/postgres"
	;;
*) echo "pg.sh: unknown command $cmd" >&2; exit 2 ;;
esac
