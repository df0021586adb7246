#!/usr/bin/env bash
# Check systemd/wagate.service with `systemd-analyze verify` (exit 77 = skipped when systemd-analyze is absent).
# The unit names /usr/local/bin/wagate, which need not exist here, so a copy points ExecStart at a stand-in.
set -uo pipefail
src=$(realpath "${1:-$(dirname "$0")/../systemd}")
command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd-analyze not found: skipped"; exit 77; }
tmp=$(mktemp -d /tmp/wagate-systemd.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
stand_in=$(command -v true)
sed -e "s|^ExecStart=/usr/local/bin/wagate\$|ExecStart=$stand_in|" "$src/wagate.service" >"$tmp/wagate.service"
out=$(cd "$tmp" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$tmp/wagate.service" 2>&1)
rc=$?
# verify also reports problems of unrelated units installed on this host; only ours count.
ours=$(printf '%s\n' "$out" | grep -F 'wagate.service' || true)
printf '%s\n' "$out"
if [ $rc -ne 0 ] && [ -n "$ours" ]; then echo "FAIL: systemd-analyze verify exited $rc"; exit 1; fi
if [ -n "$ours" ]; then echo "FAIL: warnings about wagate.service"; exit 1; fi
# The sysusers and tmpfiles snippets must parse too.
if command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers --dry-run "$src/wagate.sysusers.conf" >"$tmp/sysusers.log" 2>&1 \
		|| { cat "$tmp/sysusers.log"; echo "FAIL: sysusers"; exit 1; }
fi
if command -v systemd-tmpfiles >/dev/null 2>&1; then
	# Create under a throwaway root; the wagate group need not exist on this host, so use root's.
	sed -e 's/\bwagate\b/root/g' "$src/wagate.tmpfiles.conf" >"$tmp/wagate.tmpfiles.conf"
	systemd-tmpfiles --root="$tmp/root" --create "$tmp/wagate.tmpfiles.conf" >"$tmp/tmpfiles.log" 2>&1 \
		|| { cat "$tmp/tmpfiles.log"; echo "FAIL: tmpfiles"; exit 1; }
fi
echo "ok: wagate.service verified"
exit 0
