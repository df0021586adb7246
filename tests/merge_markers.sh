#!/usr/bin/env bash
# Fails if a tracked text file still holds a merge conflict marker (a merge committed half-resolved once reached
# a branch: tests/fuzz/targets.txt, 2026-12-02). Binary files (fuzz corpora) are skipped (-I).
# usage: merge_markers.sh SOURCE_DIR
set -uo pipefail
src=${1:?usage: merge_markers.sh SOURCE_DIR}
if ! git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
	echo "not a git checkout: nothing to check"
	exit 77
fi
if git -C "$src" grep -nIE '^(<<<<<<<|>>>>>>>) ' -- .; then
	echo "merge conflict markers above: resolve them" >&2
	exit 1
fi
echo "no merge conflict markers"
