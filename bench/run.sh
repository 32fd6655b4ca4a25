#!/bin/sh
# The performance benchmark in one command (docs/BENCHMARKS.md): installs
# what it needs beyond the project's dependencies, builds, runs
# bench/perf_bench.py and prints its table. Needs root or sudo (packages;
# PostgreSQL runs as the postgres user). Arguments go to perf_bench.py.
set -eu
cd "$(dirname "$0")/.."
BUILD="${SSLHIST_BUILD_DIR:-build}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
./scripts/install-deps.sh
# The psycopg2 baseline; idempotent like install-deps.sh.
if ! dpkg-query -W -f='${Status}' python3-psycopg2 2>/dev/null | grep -q 'ok installed'; then
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-psycopg2
fi
cmake -S . -B "$BUILD" -DSSLHIST_WERROR=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target sslhistd sslhist >/dev/null
# The floor: small C, the same warnings as the project.
cc -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$(pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)" \
	-I daemon -o "$BUILD/bench-floor" bench/floor.c daemon/statquery.c -lpq
exec $SUDO /usr/bin/python3 -u bench/perf_bench.py --build "$BUILD" "$@"
