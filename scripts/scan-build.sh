#!/usr/bin/env bash
# The clang static analyzer (scan-build) over the extension, run before each
# release (docs/testing.md).  It analyses the checking build (make
# CHECKING=1): Assert() ends in ExceptionalCondition(), which does not
# return, so the Asserts on invariants the analyzer cannot see (palloc never
# returns NULL, a JSON object's value follows its key) keep it from
# reporting paths that cannot happen.  Builds in a copy of the tree, so the
# worktree's objects stay as they are.  Exits non-zero when there is a
# report; the HTML reports are in $SCAN_BUILD_DIR (default
# /tmp/nagare-scan-build).  Takes about 10 minutes on 2 CPUs.
set -uo pipefail
cd "$(dirname "$0")/.."

scan=$(command -v scan-build-14 || command -v scan-build || true)
if [ -z "$scan" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang-tools-14 >/dev/null || exit 1
    scan=scan-build-14
  else
    echo "scan-build.sh: scan-build is missing: apt-get install clang-tools-14" >&2
    exit 1
  fi
fi

out=${SCAN_BUILD_DIR:-/tmp/nagare-scan-build}
work=$(mktemp -d /tmp/nagare-scan.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -a . "$work/tree" || exit 1
cd "$work/tree" || exit 1
make -s clean >/dev/null
"$scan" -o "$out" --status-bugs make -s -j2 CHECKING=1 2>&1 | grep -E 'warning: .*\[|scan-build:'
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] && echo "scan-build.sh: no reports" || echo "scan-build.sh: reports in $out"
exit "$rc"
