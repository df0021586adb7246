#!/usr/bin/env bash
# Build one libFuzzer target with clang (ASan+UBSan) and run it for a bounded time over its seed corpus.
# usage: run.sh NAME SOURCE_ROOT BUILD_ROOT   (targets are listed in tests/fuzz/targets.txt)
# WAGATE_FUZZ_SECONDS (default 5) bounds the run: a few seconds in `make test`, minutes in tests/fuzz/ci.sh.
# The full libFuzzer log stays in BUILD_ROOT/fuzz/NAME.log, a crashing input in BUILD_ROOT/fuzz/NAME-crash-*.
set -euo pipefail
name=$1 src=$2 build=$3
secs=${WAGATE_FUZZ_SECONDS:-5}
# Without clang a developer's machine skips; in CI a skip would pass a run that fuzzed nothing, so it fails.
if ! command -v clang >/dev/null; then
	case ${CI:-} in
	"" | 0 | false) echo "clang not installed: skipping"; exit 77 ;;
	*) echo "clang not installed and CI is set: failing (scripts/deps.sh installs it)" >&2; exit 1 ;;
	esac
fi
line=$(grep -E "^$name( |$)" "$src/tests/fuzz/targets.txt" | head -n 1)
[ -n "$line" ] || { echo "no target $name" >&2; exit 1; }
read -r -a words <<<"$line"
sources=()
for w in "${words[@]:1}"; do
	case "$w" in
	@build/*) sources+=("$build/${w#@build/}") ;;
	weight=*) ;;	# CI's time multiplier (tests/fuzz/ci.sh), not a source
	*) sources+=("$src/$w") ;;
	esac
done
out="$build/fuzz"
mkdir -p "$out"
# CI runs every target twice (a few seconds in `make test`, minutes in ci.sh): build once unless a source changed.
# Any of its sources, this script, or a header of ours or of the generated protobuf code newer than it rebuilds it.
stale=1
if [ -x "$out/$name" ]; then
	stale=0
	for f in "${sources[@]}" "$0" "$src"/common/*.h "$src"/worker/wa/*.h "$src"/supervisor/*.h "$src"/tests/fuzz/*.h \
	    "$build"/proto/*.h; do
		[ -e "$f" ] && [ "$f" -nt "$out/$name" ] && { stale=1; break; }
	done
fi
[ "$stale" -eq 0 ] || clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE \
	-I"$src/common" -I"$src/worker/wa" -I"$src/supervisor" -I"$build/proto" -I"$src/tests/fuzz" \
	$(pkg-config --cflags json-c libprotobuf-c 2>/dev/null) \
	"${sources[@]}" -o "$out/$name" \
	$(pkg-config --libs json-c libprotobuf-c zlib libsignal-protocol-c 2>/dev/null) -lmbedtls -lmbedx509 -lmbedcrypto -lm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -d "$src/tests/fuzz/corpus/$name" ] && cp -r "$src/tests/fuzz/corpus/$name/." "$work/" 2>/dev/null || true
cd "$work"
rc=0
"$out/$name" -max_total_time="$secs" -error_exitcode=1 -timeout_exitcode=1 -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$out/$name-" "$work" >"$out/$name.log" 2>&1 || rc=$?
# A passing run needs only its statistics; a failing one needs the sanitizer report and the stack above them.
if [ "$rc" -eq 0 ]; then
	tail -n 15 "$out/$name.log"
else
	tail -n 100 "$out/$name.log"
	echo "fuzz-$name: libFuzzer exited $rc; full log in $out/$name.log" >&2
fi
exit "$rc"
