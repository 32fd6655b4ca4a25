#!/bin/sh
# pgchroot.sh VERSION DIR: builds (once) a Debian chroot in DIR holding the
# PostgreSQL VERSION server and openssl, for the version tests
# (tests/integration/test_versions.py through harness.PgServer(version=N)).
#   13 -> bullseye (postgresql-13), 17 -> trixie (postgresql-17).
# Idempotent: when DIR exists, is marked complete and its postgres runs, it
# does nothing. A build happens in DIR.new and is renamed to DIR only when
# complete, so an interrupted build is never taken for a finished one.
# Two builds of the same DIR wait for each other (flock on DIR.lock).
#
# The mirror is SSLHIST_DEBIAN_MIRROR, else the first Debian archive URL in
# /etc/apt/sources.list*, else http://deb.debian.org/debian.
# CI keeps them in /var/cache/sslhist-pg/{13,17} and exports
# SSLHIST_PG_CHROOTS=/var/cache/sslhist-pg (see .ci/run and README.md).
# Needs root (debootstrap, chroot).
set -eu
usage() { echo "usage: $0 13|17 DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
VERSION=$1
DIR=${2%/}
case "$VERSION" in
13) SUITE=bullseye ;;
17) SUITE=trixie ;;
*) usage ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "pgchroot: needs root (debootstrap, chroot)" >&2; exit 1; }
MARK=.sslhist-pgchroot
PGBIN=/usr/lib/postgresql/$VERSION/bin

works() {
	[ -f "$1/$MARK" ] && chroot "$1" "$PGBIN/postgres" --version >/dev/null 2>&1
}

mkdir -p "$(dirname "$DIR")"
exec 9>"$DIR.lock"
flock 9
if works "$DIR"; then
	echo "pgchroot: $DIR ready: $(cat "$DIR/$MARK")"
	exit 0
fi
if [ -e "$DIR" ]; then
	echo "pgchroot: $DIR exists but is incomplete or broken; rebuilding" >&2
fi

mirror=${SSLHIST_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
	# deb822 "URIs: URL" or one-line "deb [opts] URL suite ...": the first
	# URL ending in /debian (not debian-security).
	mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -Eo 'https?://[^ ]*/debian/?( |$)' | head -n1 | tr -d ' ') || true
fi
mirror=${mirror:-http://deb.debian.org/debian}

cd "$(dirname "$0")"
./install-deps.sh

# Leaves no mount behind (debootstrap mounts /proc and /sys in the target
# while it runs) before removing a directory, and never crosses into one.
remove() {
	grep -F " $1/" /proc/mounts | cut -d' ' -f2 | sort -r | while read -r mp; do
		umount -l "$mp" || true
	done
	rm -rf --one-file-system "$1"
}
NEW=$DIR.new
remove "$NEW"
trap 'remove "$NEW"' EXIT
echo "pgchroot: debootstrap $SUITE (postgresql-$VERSION, openssl) from $mirror into $DIR"
debootstrap --variant=minbase --include="postgresql-$VERSION,openssl" \
	"$SUITE" "$NEW" "$mirror" >"$NEW.log" 2>&1 || {
	echo "pgchroot: debootstrap failed; last lines of its log:" >&2
	tail -n 30 "$NEW.log" >&2
	tail -n 30 "$NEW/debootstrap/debootstrap.log" >&2 2>/dev/null || true
	exit 1
}
rm -f "$NEW.log"
# The package's own cluster (/var/lib/postgresql/N/main) and the downloaded
# .debs are not needed: tests run initdb in a directory of their own.
chroot "$NEW" apt-get clean
rm -rf "$NEW/var/lib/postgresql/$VERSION/main" "$NEW/etc/postgresql/$VERSION/main"
chroot "$NEW" "$PGBIN/postgres" --version >"$NEW/$MARK"
remove "$DIR"
mv "$NEW" "$DIR"
trap - EXIT
echo "pgchroot: $DIR ready: $(cat "$DIR/$MARK")"
