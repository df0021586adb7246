#!/usr/bin/env bash
# CI's fuzzing stage: every target in tests/fuzz/targets.txt for WAGATE_FUZZ_SECONDS (default 120), two at a
# time, then one line per target with libFuzzer's executions. Fails if any target crashes, hangs or does not build.
# usage: tests/fuzz/ci.sh [BUILD_DIR]   (default build; `make build` first, for the generated protobuf sources)
# Minutes, not seconds: a stack overflow in the node decoder once needed ~100 s to find.
set -uo pipefail
cd "$(dirname "$0")/../.."
src=$(pwd)
build=$(cd "${1:-build}" && pwd) || { echo "fuzz: no build directory ${1:-build}" >&2; exit 1; }
secs=${WAGATE_FUZZ_SECONDS:-120}
jobs=${WAGATE_FUZZ_JOBS:-2}
# Fuzzing is what this stage is for: no clang is a failure here, even outside CI.
command -v clang >/dev/null || { echo "fuzz: clang not installed (scripts/deps.sh installs it)" >&2; exit 1; }
# The targets link protoc-c output from the build directory; this is a no-op after `make test`.
ninja -C "$build" >/dev/null || { echo "fuzz: ninja -C $build failed" >&2; exit 1; }
# Heaviest first (a `weight=N` token in targets.txt multiplies the time), so two at a time finish together.
mapfile -t names < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' tests/fuzz/targets.txt |
	awk '{ w = 1; for (i = 2; i <= NF; i++) if ($i ~ /^weight=[0-9]+$/) w = substr($i, 8); print w, NR, $1 }' |
	sort -k1,1nr -k2,2n | awk '{ print $3 }')
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# Build and run one target in the background of this shell; its output and exit status land in $logs.
fuzz_start_target() {
	local name=$1 weight t
	weight=$(grep -E "^$name( |$)" tests/fuzz/targets.txt | grep -oE 'weight=[0-9]+' | head -n 1 | cut -d= -f2)
	t=$((secs * ${weight:-1}))
	( rc=0
	  WAGATE_FUZZ_SECONDS=$t CI=true timeout -k 10 $((t + 300)) \
		bash tests/fuzz/run.sh "$name" "$src" "$build" >"$logs/$name.out" 2>&1 || rc=$?
	  echo "$rc" >"$logs/$name.rc" ) &
}

echo "fuzz: ${#names[@]} targets, ${secs} s each (times their weight), ${jobs} at a time"
start=$SECONDS
running=0
for name in "${names[@]}"; do
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
	fuzz_start_target "$name"
	running=$((running + 1))
done
wait

failed=0
printf '%-12s %-8s %14s %10s %10s\n' target result executions exec/s new_units
for name in "${names[@]}"; do
	rc=$(cat "$logs/$name.rc" 2>/dev/null || echo 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$name.out" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$name.out" | tail -n 1)
	units=$(sed -n 's/^stat::new_units_added: *//p' "$logs/$name.out" | tail -n 1)
	result=ok
	[ "$rc" -eq 0 ] || { result="FAIL($rc)"; failed=$((failed + 1)); }
	printf '%-12s %-8s %14s %10s %10s\n' "$name" "$result" "${execs:--}" "${rate:--}" "${units:--}"
done
# The sanitizer report and the crashing input's path for every failed target, after the table.
for name in "${names[@]}"; do
	[ "$(cat "$logs/$name.rc" 2>/dev/null || echo 1)" -eq 0 ] && continue
	echo "---- fuzz-$name"
	cat "$logs/$name.out"
done
echo "fuzz: ${#names[@]} targets in $((SECONDS - start)) s, $failed failed"
[ "$failed" -eq 0 ]
