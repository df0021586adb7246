#!/usr/bin/env bash
# `make test`: a throwaway PostgreSQL cluster, every meson test (unit, end-to-end, fuzz, interop), one summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
tmp=$(mktemp -d /tmp/wagate-test.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { scripts/pg.sh stop "$tmp/pg" >/dev/null 2>&1; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
PG_FSYNC=off scripts/pg.sh start "$tmp/pg" "$port" || { echo "0 passed, 1 failed"; exit 1; }
export WAGATE_TEST_PGURI="postgresql://postgres@127.0.0.1:$port/postgres"
# A few seconds per fuzz target here (a smoke test that every target builds and runs); tests/fuzz/ci.sh runs them long.
export WAGATE_FUZZ_SECONDS=${WAGATE_FUZZ_SECONDS:-5}
if [ -n "${SANITIZE:-}" ]; then
	# ASan reserves terabytes of address space: an address-space rlimit would kill every worker at start.
	export WAGATE_WORKER_RLIMIT_AS_MB=0
	# A sanitized worker holds ~290 MB: e2e-adopt's 100 open instances would need 29 GB. The adoption logic is
	# the same for 10; the unsanitized run keeps 100.
	export WAGATE_E2E_ADOPT_N=${WAGATE_E2E_ADOPT_N:-10}
	export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
meson test -C "$BUILD" --print-errorlogs --num-processes "${TEST_JOBS:-2}" ${MESON_TEST_ARGS:-} 2>&1 | tee "$tmp/out.log"
rc=${PIPESTATUS[0]}
ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$tmp/out.log" | tail -n 1)
exp=$(sed -n 's/^Expected Fail: *\([0-9]*\).*/\1/p' "$tmp/out.log" | tail -n 1)
fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$tmp/out.log" | tail -n 1)
unexp=$(sed -n 's/^Unexpected Pass: *\([0-9]*\).*/\1/p' "$tmp/out.log" | tail -n 1)
tout=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$tmp/out.log" | tail -n 1)
skip=$(sed -n 's/^Skipped: *\([0-9]*\).*/\1/p' "$tmp/out.log" | tail -n 1)
passed=$(( ${ok:-0} + ${exp:-0} ))
failed=$(( ${fail:-0} + ${unexp:-0} + ${tout:-0} ))
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "${passed} passed, ${failed} failed, ${skip:-0} skipped"
[ "$failed" -eq 0 ]
