#!/usr/bin/env bash
# pg_regress with the server under Valgrind's memcheck and the extension's
# checking build: scripts/sanitize.sh with SANITIZE=valgrind, in its own
# private copy of PostgreSQL (docs/testing.md).  Run before each release, as
# root: nice -n 19 scripts/valgrind.sh.  Environment as sanitize.sh's, and
# VALGRIND_SUPP (required): src/tools/valgrind.supp of PostgreSQL 15's source.
cd "$(dirname "$0")/.." || exit 1
export SANITIZE=valgrind
export SANITIZE_DIR=${SANITIZE_DIR:-/tmp/nagare-valgrind}
export NAGARE_TEST_PHASES=${NAGARE_TEST_PHASES:-regress}
export NAGARE_REGRESS_PORT=${NAGARE_REGRESS_PORT:-54431}
exec scripts/sanitize.sh
