#!/usr/bin/env bash
# A longer kill -9 soak of publish() and table topics:
# test/t/120_publish_crash.pl with ROUNDS rounds (default 20) instead of
# its 3.  Each round: three clients publish and update a table topic's table,
# the ingest worker is terminated alone under load (a new one decodes on
# with a new decoding context), then every process of the server is killed
# with kill -9; after the restart every committed transaction's records
# must be in the topics exactly once, in commit order, and nothing rolled
# back.  About 10 s a round.
#
# Run as a user that can run the TAP tests (not root), in a built tree,
# against an installed nagare (make install; or PATH and PG_CONFIG naming
# another installation):
#
#   ROUNDS=20 bench/publish/soak.sh
#
# Prints prove's summary; exits non-zero if any check failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
NAGARE_CRASH_ROUNDS=${ROUNDS:-20} make -s tapcheck PROVE_FLAGS="--timer" \
  PROVE_TESTS=test/t/120_publish_crash.pl
