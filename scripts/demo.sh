#!/bin/sh
# The README's first quick-start command: installs the build and runtime
# dependencies, builds sslhistd and sslhist into ./build, then runs the demo
# (tests/integration/demo.py): two throwaway PostgreSQL 15 servers with TLS,
# a few SSL and non-SSL clients, the daemon for a few seconds, and what it
# recorded as `sslhist clients`, `sslhist instances` and `sslhist report` show it.
# Needs root or sudo (packages; PostgreSQL runs as the postgres user).
set -eu
cd "$(dirname "$0")/.."
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target sslhistd sslhist
exec $SUDO env SSLHIST_BIN="$PWD/build" PYTHONDONTWRITEBYTECODE=1 \
	python3 -u tests/integration/demo.py
