#!/usr/bin/env bash
# The manager page in a real browser: Debian's chromium driven by puppeteer-core (pinned in package-lock.json; it
# never downloads a browser). Installs the lock file's packages into the build tree, then runs
# tests/e2e/test_manager.py ManagerBrowserTest (PostgreSQL + wagate + fakewa from the e2e harness), which runs
# manager_browser.mjs. Skips (77) without node, npm or chromium, and fails instead when CI is set.
# usage: run.sh BUILD_ROOT   (meson test manager-browser passes it; screenshots of a failure go to BUILD_ROOT/meson-logs)
set -euo pipefail
build=$(cd "${1:?usage: run.sh BUILD_ROOT}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
chromium=${CHROMIUM:-/usr/bin/chromium}
# Without a tool a developer's machine skips; in CI a skip would pass a run that tested nothing, so it fails.
skip() {
	case ${CI:-} in
	"" | 0 | false) echo "$1: skipping"; exit 77 ;;
	*) echo "$1 and CI is set: failing (scripts/deps.sh installs it)" >&2; exit 1 ;;
	esac
}
for tool in node npm python3; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool not installed"
done
[ -x "$chromium" ] || skip "$chromium not installed (Debian package chromium)"
# The packages live in the build tree (the source tree stays clean); npm ci again only when the lock file changed.
work=$build/tests/manager/npm
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/manager_browser.mjs" "$work/"
if ! [ "$work/node_modules/.package-lock.json" -nt "$here/package-lock.json" ]; then
	(cd "$work" && npm ci --no-audit --no-fund --ignore-scripts --prefer-offline >npm.log 2>&1) ||
		{ cat "$work/npm.log"; echo "npm ci failed"; exit 1; }
fi
export CHROMIUM=$chromium
export WAGATE_MANAGER_SCRIPT=$work/manager_browser.mjs
export WAGATE_MANAGER_SHOTS=$build/meson-logs
cd "$here/../e2e"
exec python3 test_manager.py ManagerBrowserTest
