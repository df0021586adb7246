#!/usr/bin/env bash
# Interop tests: Baileys (pinned in package-lock.json) against fakewa (over TLS; plain ws for wagate-msg, as the
# e2e harness runs fakewa) and, in wagate-msg, against a wagate instance. Skips (77) only without node or npm,
# and fails instead when CI is set.
# usage: run.sh FAKEWA_BINARY [handshake | pair-qr | pair-code | pair-errors | msg | wagate-msg]
#   handshake  the Noise handshake and the pair-device offer (baileys_handshake.mjs)
#   pair-qr    QR pairing through /admin/mock-phone/scan-qr, 515, login, prekeys, removal (baileys_pair.mjs qr)
#   pair-code  pairing-code flow through /admin/mock-phone/pair-code, login, logout (baileys_pair.mjs code)
#   pair-errors  the control API's refusals and an HMAC mismatch (baileys_pair.mjs errors)
#   msg        texts 1:1 and in a group between Baileys and fakewa's mock phones (interop_msg.py)
#   wagate-msg texts 1:1 and in a group between Baileys and a wagate instance (interop_wagate.py; needs
#              WAGATE_BIN and WAGATE_WORKER_BIN, and PostgreSQL: WAGATE_TEST_PGURI or a private cluster)
set -euo pipefail
fakewa=$1
what=${2:-handshake}
here=$(cd "$(dirname "$0")" && pwd)
# Without node a developer's machine skips; in CI a skip would pass a run that tested nothing, so it fails.
tools=(node npm)
case $what in msg | wagate-msg) tools+=(python3) ;; esac
for tool in "${tools[@]}"; do
	command -v "$tool" >/dev/null 2>&1 && continue
	case ${CI:-} in
	"" | 0 | false) echo "$tool not installed: skipping"; exit 77 ;;
	*) echo "$tool not installed and CI is set: failing (scripts/deps.sh installs it)" >&2; exit 1 ;;
	esac
done
work=$(mktemp -d)
fw_pid=
cleanup() { [ -n "$fw_pid" ] && kill "$fw_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
# Install exactly what the lock file pins, into a scratch copy (the source tree stays clean).
cp "$here/package.json" "$here/package-lock.json" "$here"/*.mjs "$work/"
if [ -d "$here/node_modules" ] && [ "$here/node_modules/.package-lock.json" -nt "$here/package-lock.json" ]; then
	ln -s "$here/node_modules" "$work/node_modules"
else
	(cd "$work" && npm ci --no-audit --no-fund --ignore-scripts --prefer-offline >npm.log 2>&1) ||
		{ cat "$work/npm.log"; echo "npm ci failed"; exit 1; }
fi
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# The messaging modes are Python drivers that start fakewa (and wagate) themselves and run Baileys through
# baileys_agent.mjs in $work.
case $what in
msg) INTEROP_NODE_DIR=$work python3 "$here/interop_msg.py" "$fakewa"; exit ;;
wagate-msg) WAGATE_FAKEWA_BIN=$fakewa INTEROP_NODE_DIR=$work python3 "$here/interop_wagate.py"; exit ;;
esac
mkfifo "$work/ready"
"$fakewa" --tls --cert-out "$work/cert.pem" --root-key-out "$work/root.pub" >"$work/ready" 2>"$work/fakewa.log" &
fw_pid=$!
read -r line <"$work/ready"
port=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' <<<"$line")
control=$(sed -n 's/.*control=\([0-9]*\).*/\1/p' <<<"$line")
[ -n "$port" ] && [ -n "$control" ] || { cat "$work/fakewa.log"; echo "fakewa did not start"; exit 1; }
cd "$work"
url="wss://127.0.0.1:$port/ws/chat"
case $what in
handshake) cmd=(node baileys_handshake.mjs "$url" "$work/root.pub" 20000) ;;
pair-qr) cmd=(node baileys_pair.mjs "$url" "$work/root.pub" "$control" qr 90000) ;;
pair-code) cmd=(node baileys_pair.mjs "$url" "$work/root.pub" "$control" code 90000) ;;
pair-errors) cmd=(node baileys_pair.mjs "$url" "$work/root.pub" "$control" errors 60000) ;;
*) echo "unknown test $what"; exit 2 ;;
esac
out=$("${cmd[@]}" 2>&1) || { echo "$out"; cat "$work/fakewa.log"; exit 1; }
echo "$out"
grep -q "INTEROP OK" <<<"$out"
