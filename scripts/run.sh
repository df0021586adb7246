#!/usr/bin/env bash
# `make run`: embedded PostgreSQL under ./var/pg (unless DATABASE_CONNECTION_URI is set), an API key kept in
# ./var/api_key, then the supervisor in the foreground. Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
root=$(pwd)
mkdir -p var
[ -f .env ] && { set -a; . ./.env; set +a; }
started_pg=""
cleanup() {
	# SIGINT, not SIGTERM: with RUNTIME_DIRECTORY set, SIGTERM leaves the workers running to be adopted by the
	# next supervisor (try it: kill -TERM the wagate pid, then make run again); Ctrl-C stops everything.
	[ -n "${sup_pid:-}" ] && kill -INT "$sup_pid" 2>/dev/null && wait "$sup_pid" 2>/dev/null || true
	[ -n "${fake_pid:-}" ] && kill -TERM "$fake_pid" 2>/dev/null || true
	[ -n "$started_pg" ] && scripts/pg.sh stop "$root/var/pg" && echo "run: embedded PostgreSQL stopped" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${DATABASE_CONNECTION_URI:-}" ]; then
	port=${WAGATE_PG_PORT:-54329}
	scripts/pg.sh start "$root/var/pg" "$port"
	started_pg=1
	export DATABASE_CONNECTION_URI="postgresql://postgres@127.0.0.1:$port/postgres"
	echo "run: embedded PostgreSQL on 127.0.0.1:$port (data in var/pg)" >&2
fi
if [ -z "${AUTHENTICATION_API_KEY:-}" ]; then
	if [ ! -s var/api_key ]; then
		( umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F > var/api_key )
		echo "run: generated AUTHENTICATION_API_KEY (kept in var/api_key): $(cat var/api_key)" >&2
	fi
	AUTHENTICATION_API_KEY=$(cat var/api_key)
	export AUTHENTICATION_API_KEY
	echo "run: AUTHENTICATION_API_KEY=$AUTHENTICATION_API_KEY" >&2
fi
export WAGATE_WORKER_BIN=${WAGATE_WORKER_BIN:-$root/$BUILD/worker/wagate-worker}
export WAGATE_MIGRATIONS_DIR=${WAGATE_MIGRATIONS_DIR:-$root/migrations}
# Worker adoption on (workers outlive a supervisor restart); the socket paths must fit in 108 bytes, so a
# checkout too deep for it runs without.
export RUNTIME_DIRECTORY=${RUNTIME_DIRECTORY:-$root/var/run}
[ ${#RUNTIME_DIRECTORY} -le 57 ] || { echo "run: $RUNTIME_DIRECTORY is too long for adoption sockets; adoption off" >&2; unset RUNTIME_DIRECTORY; }
[ -z "${RUNTIME_DIRECTORY:-}" ] || mkdir -p "$RUNTIME_DIRECTORY"
if [ "${DEMO:-}" = 1 ] && [ -x "$BUILD/tests/fakewa/fakewa" ]; then
	"$BUILD/tests/fakewa/fakewa" --port 5280 --control-port 5281 --root-key-out var/fakewa-root.key &
	fake_pid=$!
	sleep 0.5
	export WA_WEBSOCKET_URL=ws://127.0.0.1:5280/ws/chat
	export WA_ROOT_KEY=$(cat var/fakewa-root.key)
	echo "run: DEMO: fakewa on ws://127.0.0.1:5280 (control API on 127.0.0.1:5281)" >&2
fi
echo "run: wagate on http://127.0.0.1:${SERVER_PORT:-8080}" >&2
"$BUILD/supervisor/wagate" &
sup_pid=$!
wait "$sup_pid"
