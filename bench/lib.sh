# shellcheck shell=bash
# The scaffolding the benchmark drivers share (bench/kafka/run.sh,
# bench/publish/run.sh, bench/send/run.sh; bench/run uses missing_pkgs).
# Sourced, not run: a driver sets its knobs, then
#
#   here=$(cd "$(dirname "$0")" && pwd)
#   . "$here/../lib.sh"
#
# Sourcing it only defines functions and sets $repo, $started and
# $retry_spent: nothing is installed, started or trapped until the driver
# calls for it, so each driver keeps the order of its own steps.
#
# What a driver provides: $KEEP, $NOISE_PCT and $RETRY_BUDGET (its knobs),
# $pg_port (the scratch cluster's port, for sql), and, when cleanup must stop
# servers it started besides PostgreSQL, its own stop_extras.

# bench/lib.sh -> the repository, whichever driver sourced it
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck disable=SC2034 # the drivers print it
started=$(date +%s)

log() { echo "[$(date +%T)] $*" >&2; }
die() { echo "run.sh: $*" >&2; exit 1; }
has() { [[ " $1 " == *" $2 "* ]]; }	# list word: is word one of list's words?

need_root() {
  [ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and runs PostgreSQL as the postgres user)"
}

# ---------------------------------------------------------------- packages
missing_pkgs() {	# package... -> those dpkg does not have installed, into $missing
  local p
  missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
}

# apt-get install $missing (nothing when it is empty); false when that
# fails: the driver says whether it can do without
install_missing() {
  [ ${#missing[@]} -gt 0 ] || return 0
  log "installing ${missing[*]}"
  # called as a condition, where set -e does not reach: stop as it would
  apt-get update -qq || exit
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ---------------------------------------------------------------- PostgreSQL
find_pg() {	# -> $bindir, $pkglibdir (Debian's, when there is no pg_config)
  bindir=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
  pkglibdir=$(pg_config --pkglibdir 2>/dev/null || echo /usr/lib/postgresql/15/lib)
}
need_nagare() {
  [ -f "$pkglibdir/nagare.so" ] || die "nagare is not installed ($pkglibdir/nagare.so): run make && make install (or scripts/run.sh) first"
}

as_pg() { runuser -u postgres -- "$@"; }
# shellcheck disable=SC2154 # pg_port is the driver's
sql() { as_pg "$bindir/psql" -h "$work" -p "$pg_port" -d postgres -X -q -v ON_ERROR_STOP=1 -At "$@"; }

hwm() {	# topic -> its high watermark (sum over partitions); -1 when the server does not answer (it is restarting after a crash)
  sql -c "SELECT coalesce(sum(high_watermark), 0) FROM nagare.partitions WHERE topic = '$1'" 2>/dev/null || echo -1
}

# ---------------------------------------------------------------- scratch
# A scratch directory /tmp/PREFIX.XXXXXX, $work, that the postgres user can
# use (its cluster and socket go there), and the traps that clean up after
# the run however it ends: the driver's own servers (stop_extras), every
# background job, the scratch cluster; then the directory goes, unless KEEP=1.
# Set whatever stop_extras reads before calling this: the traps are live
# from here on.
scratch_dir() {	# prefix
  work=$(mktemp -d "/tmp/$1.XXXXXX")
  chmod 755 "$work"
  chown postgres: "$work"
  trap cleanup EXIT
  trap 'echo "run.sh: interrupted by a signal" >&2; exit 130' INT TERM
  trap 'echo "run.sh: line $LINENO: \"$BASH_COMMAND\" failed with status $?" >&2' ERR
}
stop_extras() { :; }	# a driver that starts other servers redefines this

cleanup() {
  local rc=$?
  local j
  stop_extras
  for j in $(jobs -p); do kill "$j" 2>/dev/null || true; done
  if [ -f "$work/data/postmaster.pid" ]; then
    runuser -u postgres -- "$bindir/pg_ctl" -D "$work/data" -m fast -w -t 60 stop >/dev/null 2>&1 \
      || runuser -u postgres -- "$bindir/pg_ctl" -D "$work/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  wait 2>/dev/null || true
  if [ "$KEEP" = 1 ]; then
    log "kept $work"
  else
    rm -rf "$work"
  fi
  exit $rc
}

# ---------------------------------------------------------------- runs
# the systems in the order of this round: each round starts with the next one
rotate() {	# round systems...
  local r=$1; shift
  local arr=("$@") n i rotated=()
  n=${#arr[@]}
  for ((i = 0; i < n; i++)); do rotated+=("${arr[$(((i + r - 1) % n))]}"); done
  echo "${rotated[*]}"
}

# A run during which other processes used more than NOISE_PCT% of the
# machine is measured again, at most twice, while the extra runs fit in
# RETRY_BUDGET seconds.  measure_again says whether to: when it does, it has
# moved the disturbed run's result aside (PATH.noisyN) and counted the retry
# in the caller's $attempt (a local of the caller's measure loop, 0 at the
# first run) and in $retry_spent (over the whole benchmark).
retry_spent=0
measure_again() {	# noise_pct cost_seconds path
  local noise=${1:-0} cost=$2 path=$3
  if [ "$noise" -le "$NOISE_PCT" ] || [ "$attempt" -ge 2 ] || [ $((retry_spent + cost)) -gt "$RETRY_BUDGET" ]; then
    [ "$noise" -le "$NOISE_PCT" ] || log "    (disturbed: $noise% of the machine used by other processes)"
    return 1
  fi
  attempt=$((attempt + 1))
  retry_spent=$((retry_spent + cost))
  log "    disturbed: $noise% of the machine used by other processes; measuring again"
  mv "$path" "$path.noisy$attempt"
}

# how busy the machine is (percent, over 2 s) before the benchmark starts,
# into $busy_before: a warning now explains noisy numbers later
check_busy() {
  busy_before=$(python3 "$repo/bench/send/analyze.py" busy 2)
  if [ "$busy_before" -gt "$NOISE_PCT" ]; then
    log "WARNING: the machine is $busy_before% busy before the benchmark starts: expect noisy numbers"
  fi
}

# ---------------------------------------------------------------- settings
# what was measured: the commit, and whether the work tree changes nagare
# (what is installed may have been built from it)
src_rev() {	# what-to-call-uncommitted-changes
  local rev
  rev=$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo '?')
  if [ -n "$(cd "$repo" && git status --porcelain -- src nagare--*.sql Makefile 2>/dev/null || true)" ]; then
    rev="$rev + $1"
  fi
  echo "$rev"
}
nagare_so() {	# the installed nagare.so: its hash and build time
  echo "nagare.so $(sha256sum "$pkglibdir/nagare.so" | cut -c1-12) built $(date -u -r "$pkglibdir/nagare.so" +%Y-%m-%dT%H:%M:%SZ)"
}
io_method() {	# the broker's I/O method, as it logged it at start-up
  sed -n 's/.*nagare broker ready (I\/O method \([a-z_]*\).*/\1/p' "$work/server.log" | tail -1
}
pg_version() { sql -c 'SHOW server_version' | sed 's/ .*//'; }
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }
