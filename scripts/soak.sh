#!/usr/bin/env bash
# The kill -9 soak (test/soak/run.pl): SOAK_ROUNDS rounds (default 100) of
# Kafka produce (acks=all), publish(), table topic changes and group commits,
# each round killing one server process with SIGKILL, then checking that
# nothing acknowledged was lost or written twice.  Not part of CI: 100
# rounds take about 15 minutes.  Its last result is in docs/operations.md.
#
# As root it builds nagare and installs it, with a copy of PostgreSQL 15,
# into a private directory (SOAK_DIR, default /tmp/nagare-soak), so that the
# machine's PostgreSQL and anybody else's install are left alone; then it
# runs the soak as the postgres user on a copy of the tree.  Its own cluster
# listens on free ports.  It ends with the line
#   # SOAK: rounds N, acknowledged A (...), lost L, duplicated D, ...
# and exits non-zero when anything was lost or duplicated.
#
#   nice scripts/soak.sh                 # 100 rounds
#   SOAK_ROUNDS=5 scripts/soak.sh        # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."

soakdir=${SOAK_DIR:-/tmp/nagare-soak}
pgbin=$(pg_config --bindir)			# /usr/lib/postgresql/15/bin on Debian
pgshare=$(pg_config --sharedir)

if [ "$(id -u)" -eq 0 ]; then
  rm -rf "$soakdir"
  mkdir -p "$soakdir/inst$(dirname "$(dirname "$pgbin")")" "$soakdir/inst$(dirname "$pgshare")"
  # PostgreSQL finds its lib and share directories relative to its binary
  cp -a "$(dirname "$pgbin")" "$soakdir/inst$(dirname "$(dirname "$pgbin")")/"
  cp -a "$pgshare" "$soakdir/inst$(dirname "$pgshare")/"
  make -s -j2
  make -s install DESTDIR="$soakdir/inst" >/dev/null
  cp -a . "$soakdir/tree"
  chown -R postgres: "$soakdir"
  exec su postgres -s /bin/bash -c "cd '$soakdir/tree' && SOAK_ROUNDS='${SOAK_ROUNDS:-100}' SOAK_IDEMPOTENT='${SOAK_IDEMPOTENT:-1}' SOAK_INSTALL='$soakdir/inst$pgbin' scripts/soak.sh"
fi

bindir=${SOAK_INSTALL:-$pgbin}
rm -rf tmp_check
mkdir -p tmp_check
TESTDIR=$PWD PATH="$bindir:$PATH" PG_REGRESS="$(dirname "$(pg_config --pgxs)")/../test/regress/pg_regress" \
  perl -I "$(pg_config --pgxs | xargs dirname | xargs dirname)/test/perl" test/soak/run.pl 2>&1 |
  tee tmp_check/soak.out | grep -E '^(not ok|# SOAK:|# round|# Looks like)'
grep -q '^# SOAK: .*, lost 0, duplicated 0,' tmp_check/soak.out
