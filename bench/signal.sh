#!/usr/bin/env bash
# Signal layer benchmark: builds bench/signal_bench.c (meson target signal_bench, not built by default) and
# prints ONE line:
#   signal: encrypt+decrypt N msg/s alternating, M msg/s one way; session record X bytes cached (Y serialized)
# Knobs: BUILD (build dir, default build), BENCH_SECONDS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" >/dev/null || { echo "signal: FAILED (meson setup $BUILD)"; exit 1; }
ninja -C "$BUILD" worker/wa/signal_bench >/dev/null || { echo "signal: FAILED (build)"; exit 1; }
exec "$BUILD/worker/wa/signal_bench" "${BENCH_SECONDS:-2}"
