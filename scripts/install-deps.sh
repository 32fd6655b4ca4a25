#!/bin/sh
# Installs every Debian package that building, testing and the demo need.
# Idempotent; safe to run again. Needs root (or sudo).
set -eu
PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
libpq-dev libevent-dev libsqlite3-dev libsystemd-dev libssl-dev libinih-dev
postgresql-15 postgresql-client-15 openssl python3 sqlite3 iproute2 nftables util-linux
systemd groff-base valgrind debootstrap"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "install-deps: installing:$missing"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi
