#!/bin/sh
# Checks the systemd unit as `cmake --install` installs it:
#   1. `systemd-analyze verify` with its installed paths: in a private mount
#      namespace the DESTDIR is laid over the install prefix (a read-only
#      overlay), so ExecStart= must name the installed sslhistd;
#   2. `systemd-analyze security --offline=true` scores it at most 1.5.
# Exits non-zero when either fails; verify's warnings count as failures.
# Needs root (unshare, mount). .ci/run and tests/integration/test_install.py
# run it.
#
# usage: scripts/verify-unit.sh BUILD_DIR [DESTDIR]
#   DESTDIR: an install of BUILD_DIR made already; else one is made (and
#   removed) here.
set -eu
build=$1
dest=${2:-}
if [ -z "$dest" ]; then
	dest=$(mktemp -d)
	trap 'rm -rf "$dest"' EXIT
	DESTDIR=$dest cmake --install "$build" >/dev/null
fi
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
unit=$(cd "$dest" && find . -path '*/systemd/system/sslhistd.service' | sed 's/^\.//')
if [ -z "$unit" ]; then
	echo "verify-unit: no sslhistd.service under $dest" >&2
	exit 1
fi
out=$(unshare --mount --propagation private -- sh -c \
	'mount -t overlay overlay -o "lowerdir=$1$2:$2" "$2" && exec systemd-analyze verify "$3"' \
	sh "$dest" "$prefix" "$unit" 2>&1) || { echo "$out" >&2; exit 1; }
if [ -n "$out" ]; then
	echo "verify-unit: systemd-analyze verify $unit warned:" >&2
	echo "$out" >&2
	exit 1
fi
echo "systemd-analyze verify $unit: ok (ExecStart=$(sed -n 's/^ExecStart=//p' "$dest$unit"))"
# --threshold is on the x10 scale of the exposure score: 15 = 1.5.
rc=0
out=$(systemd-analyze security --offline=true --threshold=15 "$dest$unit" 2>&1) || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "$out" >&2
	echo "verify-unit: the security exposure is above 1.5" >&2
	exit 1
fi
echo "$out" | tail -n 1
