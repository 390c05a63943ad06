#!/usr/bin/env bash
# Run nagare's tests against the extension built with AddressSanitizer and
# UndefinedBehaviorSanitizer and with assertions (make CHECKING=1
# SANITIZE=address,undefined), in a private copy of PostgreSQL so that the
# machine's own install is left alone.  Run before each release
# (docs/testing.md); it takes long, so it is not part of CI.
#
#   1. copies /usr/lib/postgresql/15 and /usr/share/postgresql/15 to
#      $SANITIZE_DIR (Debian's PostgreSQL is relocatable: its bin finds share
#      and lib relative to itself) and puts a wrapper in place of its
#      postgres that preloads libasan (postgres itself is not instrumented)
#      and sets ASAN_OPTIONS and UBSAN_OPTIONS, reports going to
#      $SANITIZE_DIR/reports
#   2. builds and installs the extension there with scripts/test.sh's
#      root path, the private bin first in PATH, and runs its phases
#      (the regress server on NAGARE_REGRESS_PORT, default 54421, so that it
#      does not meet scripts/test.sh's; TAP tests take free ports)
#   3. lists the sanitizers' reports; exits non-zero when there is one or a
#      test failed
#
# SANITIZE=valgrind (scripts/valgrind.sh) instead runs the server under
# Valgrind's memcheck (--trace-children=yes, PostgreSQL's own suppressions,
# src/tools/valgrind.supp of a REL_15_STABLE source tree, named by
# $VALGRIND_SUPP), the extension built with CHECKING=1 alone; initdb's
# bootstrap and single-user runs are left out, they are PostgreSQL's alone.
#
# Must run as root, like scripts/test.sh.  Environment: SANITIZE_DIR
# (default /tmp/nagare-sanitize; emptied first), NAGARE_TEST_PHASES (default
# "regress tap"), NAGARE_TAP_TESTS (default: all of test/t), SANITIZE
# (default address,undefined; or valgrind).  Run it niced:
# nice -n 19 scripts/sanitize.sh
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "sanitize.sh: run as root (it builds, then tests as the postgres user)" >&2
  exit 1
fi

dir=${SANITIZE_DIR:-/tmp/nagare-sanitize}
phases=${NAGARE_TEST_PHASES:-"regress tap"}
sanitize=${SANITIZE:-address,undefined}
pgver=15

# The private PostgreSQL
rm -rf "$dir"
mkdir -p "$dir/lib/postgresql" "$dir/share/postgresql" "$dir/reports"
cp -a "/usr/lib/postgresql/$pgver" "$dir/lib/postgresql/" || exit 1
cp -a "/usr/share/postgresql/$pgver" "$dir/share/postgresql/" || exit 1
# the server's headers are only read: pg_config --includedir-server is
# relative to the copy too
ln -s /usr/include "$dir/include"
bin=$dir/lib/postgresql/$pgver/bin
if [ "$("$bin/pg_config" --sharedir)" != "$dir/share/postgresql/$pgver" ]; then
  echo "sanitize.sh: $bin/pg_config does not relocate: $("$bin/pg_config" --sharedir)" >&2
  exit 1
fi

# postgres under the sanitizers: a wrapper in its place.  exec -a: postgres
# takes its own path from argv[0], and postmaster.opts, which pg_ctl
# restart runs, must name the wrapper.
mv "$bin/postgres" "$bin/postgres.real"
if [ "$sanitize" = valgrind ]; then
  supp=$dir/valgrind.supp
  if [ -z "${VALGRIND_SUPP:-}" ] || [ ! -r "$VALGRIND_SUPP" ]; then
    echo "sanitize.sh: set VALGRIND_SUPP to src/tools/valgrind.supp of PostgreSQL 15's source tree" >&2
    exit 1
  fi
  cp "$VALGRIND_SUPP" "$supp" || exit 1
  # valgrind names its client's path itself: a restarted server runs
  # without it (pg_regress does not restart)
  cat > "$bin/postgres" <<EOF
#!/bin/bash
# scripts/sanitize.sh: postgres under valgrind, but for initdb's runs
case "\$1" in
  --boot|--single|-V|--version|-C|--describe-config) exec -a "$bin/postgres" "$bin/postgres.real" "\$@" ;;
esac
exec valgrind --quiet --trace-children=yes --suppressions="$supp" --error-limit=no \\
  --leak-check=no --num-callers=30 --gen-suppressions=all \\
  --log-file="$dir/reports/valgrind.%p" "$bin/postgres.real" "\$@"
EOF
  sanitize= valgrind=1
else
  # libasan must be the first library loaded, as nagare.so needs its
  # runtime.  detect_leaks=0: PostgreSQL frees by memory context, which
  # LeakSanitizer takes for leaks.
  #
  # A preloaded libasan initialises on its first intercepted call, and its
  # constructor runs after those of the libraries postgres links.  That of
  # libgpg-error (libsystemd -> libgcrypt -> libgpg-error) calls
  # bindtextdomain(), whose malloc() then initialises ASan inside glibc's
  # _nl_state_lock, and the next bindtextdomain() (postgres' main) hangs on
  # that lock forever.  A copy of libgpg-error that needs libasan makes ASan
  # initialise first.
  libasan=$(readlink -f "$(gcc -print-file-name=libasan.so)")
  mkdir -p "$dir/asanlib"
  gpgerr=$(ldd "$bin/postgres.real" | awk '/libgpg-error/ {print $3}')
  if [ -n "$gpgerr" ]; then
    command -v patchelf >/dev/null || apt-get install -y -qq patchelf >/dev/null || exit 1
    cp "$gpgerr" "$dir/asanlib/" &&
      patchelf --add-needed "$(objdump -p "$libasan" | awk '/SONAME/ {print $2}')" \
        "$dir/asanlib/$(basename "$gpgerr")" || exit 1
  fi
  cat > "$bin/postgres" <<EOF
#!/bin/bash
# scripts/sanitize.sh: postgres with libasan preloaded
export LD_PRELOAD="$libasan\${LD_PRELOAD:+:\$LD_PRELOAD}"
export LD_LIBRARY_PATH="$dir/asanlib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:disable_coredump=1:quarantine_size_mb=32:log_path=$dir/reports/asan"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$dir/reports/ubsan"
exec -a "$bin/postgres" "$bin/postgres.real" "\$@"
EOF
fi
chmod 755 "$bin/postgres"
ln -sf postgres "$bin/postmaster"

# A copy of the tree to build in, so the worktree keeps its own objects
mkdir -p "$dir/tree"
cp -a . "$dir/tree" || exit 1
chown -R postgres: "$dir"
cd "$dir/tree" || exit 1

export PATH="$bin:$PATH" PG_CONFIG="$bin/pg_config" CHECKING=1 PGCTLTIMEOUT=${PGCTLTIMEOUT:-600}
if [ -n "$sanitize" ]; then export SANITIZE="$sanitize"; else unset SANITIZE; fi
export NAGARE_REGRESS_PORT=${NAGARE_REGRESS_PORT:-54421}
rc=0
NAGARE_TEST_PHASES="$phases" scripts/test.sh || rc=1

echo
# valgrind writes a log per process, empty (--quiet) unless it found
# errors; those whose stacks never pass through nagare.so are PostgreSQL's own
# (the padding valgrind.supp names, unmatched because Debian's postgres has
# no symbols for its static functions): set aside in reports/postgres
find "$dir/reports" -maxdepth 1 -name 'valgrind.*' -type f -empty -delete
mkdir -p "$dir/reports/postgres"
find "$dir/reports" -maxdepth 1 -name 'valgrind.*' -type f -exec grep -L 'nagare\.so' {} + 2>/dev/null |
  xargs -r mv -t "$dir/reports/postgres"
[ -n "${valgrind:-}" ] && echo "sanitize.sh: $(find "$dir/reports/postgres" -type f | wc -l) valgrind logs of PostgreSQL's own code alone, in $dir/reports/postgres"
reports=$(find "$dir/reports" -maxdepth 1 -type f | sort)
if [ -n "$reports" ]; then
  echo "sanitize.sh: sanitizer reports:"
  for f in $reports; do
    echo "=== $f"
    head -60 "$f"
  done
  rc=1
else
  echo "sanitize.sh: no sanitizer reports"
fi
echo "sanitize.sh: phases \"$phases\"${NAGARE_TAP_TESTS:+, TAP tests $NAGARE_TAP_TESTS}: $([ $rc -eq 0 ] && echo passed || echo FAILED)"
exit $rc
