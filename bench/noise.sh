#!/usr/bin/env bash
# Noise transport benchmark: builds bench/noise_bench.c (meson target noise_bench, not built by default) and
# prints ONE line:
#   noise: transport encrypt+decrypt N MB/s (X-byte frames)
# Knobs: BUILD (build dir, default build), BENCH_SECONDS (default 2), BENCH_FRAME (plaintext bytes per frame,
# default 1024), BENCH_HANDSHAKE=1 adds two lines: the full handshake rate and the X25519 key pair rate.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" >/dev/null || { echo "noise: FAILED (meson setup $BUILD)"; exit 1; }
ninja -C "$BUILD" worker/wa/noise_bench >/dev/null || { echo "noise: FAILED (build)"; exit 1; }
args=("${BENCH_SECONDS:-2}" "${BENCH_FRAME:-1024}")
[ -z "${BENCH_HANDSHAKE:-}" ] || args+=(handshake)
exec "$BUILD/worker/wa/noise_bench" "${args[@]}"
