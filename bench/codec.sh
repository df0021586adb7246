#!/usr/bin/env bash
# Codec benchmark: builds bench/codec_bench.c (meson target codec_bench, not built by default) and prints ONE line:
#   codec: encode N nodes/s, decode N nodes/s (typical message node, X bytes)
# Knobs: BUILD (build dir, default build), BENCH_SECONDS (per direction, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" >/dev/null || { echo "codec: FAILED (meson setup $BUILD)"; exit 1; }
ninja -C "$BUILD" worker/wa/codec_bench >/dev/null || { echo "codec: FAILED (build)"; exit 1; }
exec "$BUILD/worker/wa/codec_bench" "${BENCH_SECONDS:-2}"
