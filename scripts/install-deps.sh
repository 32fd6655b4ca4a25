#!/bin/sh
# Installs every Debian package that building, testing and the demo need.
# Idempotent; safe to run again. Needs root (or sudo).
set -eu
PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
libpq-dev libevent-dev libsqlite3-dev libsystemd-dev libssl-dev libinih-dev
postgresql-15 postgresql-client-15 openssl python3 sqlite3 iproute2 nftables util-linux
systemd groff-base valgrind pgbouncer"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "install-deps: installing:$missing"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
	# pgbouncer's package would start its own service (port 6432); the
	# tests start their own PgBouncer processes. policy-rc.d (exit 101)
	# keeps invoke-rc.d from starting any service during this install.
	policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
		$SUDO chmod 755 /usr/sbin/policy-rc.d
		policy=1
	fi
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
	[ -z "$policy" ] || $SUDO rm -f /usr/sbin/policy-rc.d
fi
# Never the package's PgBouncer service (installed now or before).
if [ -d /run/systemd/system ] && systemctl is-enabled pgbouncer >/dev/null 2>&1; then
	$SUDO systemctl disable --now pgbouncer >/dev/null 2>&1 || true
fi
