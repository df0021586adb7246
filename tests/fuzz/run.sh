#!/usr/bin/env bash
# Build one libFuzzer target with clang (ASan+UBSan) and run it for a bounded time over its seed corpus.
# usage: run.sh NAME SOURCE_ROOT BUILD_ROOT   (targets are listed in tests/fuzz/targets.txt)
set -euo pipefail
name=$1 src=$2 build=$3
secs=${WAGATE_FUZZ_SECONDS:-20}
command -v clang >/dev/null || { echo "clang not installed" >&2; exit 77; }
line=$(grep -E "^$name( |$)" "$src/tests/fuzz/targets.txt" | head -n 1)
[ -n "$line" ] || { echo "no target $name" >&2; exit 1; }
read -r -a words <<<"$line"
sources=()
for w in "${words[@]:1}"; do
	case "$w" in
	@build/*) sources+=("$build/${w#@build/}") ;;
	*) sources+=("$src/$w") ;;
	esac
done
out="$build/fuzz"
mkdir -p "$out"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE \
	-I"$src/common" -I"$src/worker/wa" -I"$src/supervisor" -I"$build/proto" -I"$src/tests/fuzz" \
	$(pkg-config --cflags json-c libprotobuf-c 2>/dev/null) \
	"${sources[@]}" -o "$out/$name" \
	$(pkg-config --libs json-c libprotobuf-c zlib 2>/dev/null) -lmbedtls -lmbedx509 -lmbedcrypto -lm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -d "$src/tests/fuzz/corpus/$name" ] && cp -r "$src/tests/fuzz/corpus/$name/." "$work/" 2>/dev/null || true
cd "$work"
"$out/$name" -max_total_time="$secs" -error_exitcode=1 -timeout_exitcode=1 -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$out/$name-" "$work" 2>&1 | tail -n 15
