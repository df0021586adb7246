#!/usr/bin/env bash
# Install the Debian packages wagate needs to build, run and test. A no-op when all are present.
set -euo pipefail
pkgs=(meson ninja-build pkg-config gcc clang libclang-rt-14-dev
      libevent-dev libjson-c-dev libprotobuf-c-dev protobuf-c-compiler libpq-dev
      libcurl4-openssl-dev libqrencode-dev libpng-dev zlib1g-dev libmbedtls-dev
      libsignal-protocol-c-dev libcmocka-dev libsystemd-dev
      postgresql postgresql-contrib zbar-tools python3 wrk valgrind curl ca-certificates
      nodejs npm systemd openssl chromium
      tinyproxy microsocks)	# the HTTP and SOCKS5 proxies of tests/e2e/test_proxy.py
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node and npm may come from outside Debian on some machines; accept any working pair.
if command -v node >/dev/null && command -v npm >/dev/null; then
	missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "deps: installing ${missing[*]}" >&2
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
