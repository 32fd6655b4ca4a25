#!/bin/sh
# Installs every Debian package that building, testing and the demo need.
# Idempotent; safe to run again. Needs root (or sudo).
set -eu
PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
libpq-dev libevent-dev libsqlite3-dev libsystemd-dev libssl-dev libinih-dev
postgresql-15 postgresql-client-15 openssl python3 sqlite3 iproute2 nftables util-linux
systemd groff-base valgrind debootstrap prometheus pgbouncer"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "install-deps: installing:$missing"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
	# prometheus and pgbouncer: the tests start their own processes on their
	# own ports; the packages must not start or enable a system service. A
	# policy-rc.d that forbids every action is what invoke-rc.d and
	# deb-systemd-invoke ask; it exists only during this install.
	policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee $policy >/dev/null
		$SUDO chmod 755 $policy
	fi
	rc=0
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing || rc=$?
	[ -z "$policy" ] || $SUDO rm -f "$policy"
	[ "$rc" -eq 0 ] || exit "$rc"
fi
# Never the packages' services (installed now or before).
for unit in prometheus pgbouncer; do
	if [ -d /run/systemd/system ] && systemctl is-enabled --quiet "$unit.service" 2>/dev/null; then
		$SUDO systemctl disable --now "$unit.service" >/dev/null 2>&1 || true
	fi
done
