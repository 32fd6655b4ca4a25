#!/bin/sh
# The README's second quick-start command: installs the dependencies, builds
# everything with -Werror and runs the whole test suite (unit and integration
# tests) with ctest. Needs root or sudo (packages; the integration tests run
# PostgreSQL as the postgres user).
#
# .ci/run reuses it for other builds through the environment:
#   SSLHIST_BUILD_DIR   build directory (default: build)
#   SSLHIST_CMAKE_ARGS  extra CMake arguments (e.g. -DSSLHIST_SANITIZE=ON)
#   CC                  compiler, as CMake reads it
#   SSLHIST_CTEST_JOBS  tests run at once (default: 2)
#   SSLHIST_PG_CHROOTS  the PostgreSQL 13/17 chroots of test_versions.py
#                       (scripts/pgchroot.sh; unset: those tests skip)
set -eu
cd "$(dirname "$0")/.."
BUILD="${SSLHIST_BUILD_DIR:-build}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
./scripts/install-deps.sh
# shellcheck disable=SC2086 # SSLHIST_CMAKE_ARGS is a list of arguments
cmake -S . -B "$BUILD" -DSSLHIST_WERROR=ON ${SSLHIST_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
$SUDO env ${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"} \
	${UBSAN_OPTIONS:+UBSAN_OPTIONS="$UBSAN_OPTIONS"} \
	${SSLHIST_PG_CHROOTS:+SSLHIST_PG_CHROOTS="$SSLHIST_PG_CHROOTS"} \
	ctest --test-dir "$BUILD" --output-on-failure -j"${SSLHIST_CTEST_JOBS:-2}"
