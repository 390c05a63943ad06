#!/usr/bin/env bash
# Run nagare's whole test suite on this machine:
#
#   0. the exported symbols of nagare.so all carry the nagare_/kafka_ prefix;
#      src/ has no dependency cycle between its directories, and a README in
#      each naming its files (test/structure/check.py); the C lines changed
#      since the house style was adopted follow .clang-format
#      (scripts/format-check.sh)
#   1. the Kafka codec's unit tests and cross-checks (test/codec: record
#      batches; test/proto: requests and responses; test/auth: SASL messages;
#      test/dns: the registry's DNS codec, its answers read by dnspython;
#      test/http: HTTP/1.1 requests of the registry's API and the metrics)
#   2. pg_regress (sql/, expected/) and isolation specs (test/specs)
#      against a scratch server with nagare preloaded
#   3. TAP tests (test/t) with PostgreSQL::Test::Cluster, among them the
#      interop test of real Kafka clients (test/t/100_kafka_interop.pl,
#      test/interop: kcat, confluent-kafka, kafka-python, kafkajs,
#      @platformatic/kafka), and of Kafka's Java client (test/t/105_java_client.pl)
#   4. each libFuzzer target for FUZZ_SECONDS (default 30) on its corpus:
#      the codec's, SASL's, DNS's and HTTP's (test/fuzz, test/proto), the broker's whole
#      request path over a fake server (fuzz_broker) and its TLS read side
#      (fuzz_tls); see test/fuzz/README.md
#
# As root (a fresh Debian 12 machine, CI) it first installs the packages
# (scripts/deps.sh), builds and installs nagare, then runs the tests as the
# unprivileged "postgres" user on a copy of the tree: PostgreSQL refuses to
# run as root.  It ends with one line "N passed, M failed" and exits non-zero
# when anything failed.
#
# Environment: FUZZ_SECONDS, NAGARE_TEST_PHASES (e.g. "codec regress tap"),
# NAGARE_TAP_TESTS (a subset of test/t, e.g. "test/t/110_consumer_groups.pl"),
# NAGARE_TEST_SMALLFS (set by the root part: a small mounted file system
# that test/t/055_disk_full.pl may fill).
# NAGARE_REGRESS_PORT (the regress server's port, default 54321; when set,
# its Kafka listener is on the next port instead of 9092), NAGARE_TEST_KEEP
# (keep the test tree and its logs when everything passed, too).
set -uo pipefail
cd "$(dirname "$0")/.."

phases=${NAGARE_TEST_PHASES:-"symbols structure codec regress tap fuzz"}

if [ "$(id -u)" -eq 0 ]; then
  scripts/deps.sh
  make -s clean >/dev/null
  make -s -j"$(nproc)" || exit 1
  make -s install >/dev/null || exit 1
  # the @platformatic/kafka cross-check of the protocol codec (flexible versions)
  if command -v npm >/dev/null 2>&1; then
    npm install --prefix test/proto --no-save --no-audit --no-fund @platformatic/kafka@1.35.0 >/dev/null 2>&1 ||
      echo "test.sh: could not install @platformatic/kafka; its cross-check will be skipped"
  fi
  # the Node.js Kafka clients of the interop test (test/t/100_kafka_interop.pl),
  # at the exact versions of test/interop/package.json
  if command -v npm >/dev/null 2>&1; then
    npm install --prefix test/interop --no-save --no-package-lock --no-audit --no-fund >/dev/null 2>&1 ||
      echo "test.sh: could not install test/interop's npm packages; the kafkajs and @platformatic/kafka interop tests will be skipped"
  else
    echo "test.sh: npm is missing; the kafkajs and @platformatic/kafka interop tests will be skipped"
  fi
  # Kafka's Java client (test/t/105_java_client.pl), built with Maven at the
  # version pinned in test/interop/java/pom.xml
  test/interop/java/build.sh ||
    echo "test.sh: could not build test/interop/java; the Java client test will be skipped"
  # Kafka's own kafka-configs (test/t/150_quota_admin.pl), fetched with Maven
  # at the version pinned in test/interop/kafka-tools/pom.xml
  test/interop/kafka-tools/build.sh ||
    echo "test.sh: could not fetch test/interop/kafka-tools; the kafka-configs tests will be skipped"
  work=$(mktemp -d /tmp/nagare-test.XXXXXX)
  cp -a . "$work/tree"
  # A small file system for test/t/055_disk_full.pl to fill: 64 MB of ext4
  # on a loop device, no blocks reserved for root (skipped where the
  # machine cannot mount one; the test then says so)
  smallfs=
  if [[ " $phases " == *" tap "* ]] && command -v mkfs.ext4 >/dev/null &&
     truncate -s 64M "$work/smallfs.img" && mkfs.ext4 -q -F -m 0 "$work/smallfs.img" >/dev/null 2>&1 &&
     mkdir -p "$work/smallfs" && mount -o loop "$work/smallfs.img" "$work/smallfs" 2>/dev/null; then
    smallfs="$work/smallfs"
  fi
  chown -R postgres: "$work"
  su postgres -s /bin/bash -c "cd '$work/tree' && CI='${CI:-}' NAGARE_TEST_INSTALLED=1 FUZZ_SECONDS='${FUZZ_SECONDS:-30}' NAGARE_TEST_PHASES='$phases' NAGARE_TAP_TESTS='${NAGARE_TAP_TESTS:-}' NAGARE_TEST_SMALLFS='$smallfs' scripts/test.sh"
  rc=$?
  if [ -n "$smallfs" ]; then
    umount "$smallfs" && rm -f "$work/smallfs.img"
  fi
  # keep logs of failures where CI can show them
  if [ $rc -ne 0 ]; then
    for f in "$work"/tree/regression.diffs "$work"/tree/output_iso/regression.diffs; do
      [ -f "$f" ] && { echo "=== $f"; head -200 "$f"; }
    done
    for f in "$work"/tree/tmp_check/log/regress_log_*; do
      [ -f "$f" ] && grep -q "not ok" "$f" && { echo "=== $f"; tail -80 "$f"; }
    done
    echo "test.sh: the test tree and its logs are in $work"
  elif [ -n "${NAGARE_TEST_KEEP:-}" ]; then
    echo "test.sh: the test tree and its logs are in $work (NAGARE_TEST_KEEP)"
  else
    rm -rf "$work"
  fi
  exit $rc
fi

if [ -z "${NAGARE_TEST_INSTALLED:-}" ]; then
  make -s -j"$(nproc)" || exit 1
  make -s install >/dev/null || { echo "test.sh: cannot install nagare; run as root or install it first" >&2; exit 1; }
fi

bindir=$(pg_config --bindir)
passed=0
failed=0
summary=()

count() {		# phase name, passed, failed
  passed=$((passed + $2)); failed=$((failed + $3))
  summary+=("$1: $2 passed, $3 failed")
}

run_symbols() {
  # All extensions share a backend's symbol namespace: export only our own
  local bad
  bad=$(nm -D --defined-only nagare.so | awk '{print $3}' |
        grep -vE '^(nagare_|kafka_|_PG_init$|_PG_output_plugin_init$|Pg_magic_func$|pg_finfo_)')
  if [ -n "$bad" ]; then
    echo "nagare.so exports symbols without the nagare_/kafka_ prefix:"; echo "$bad"
    count symbols 0 1
  else
    echo "nagare.so exports only nagare_*, kafka_* and PostgreSQL's entry points"
    count symbols 1 0
  fi
}

# Run a check that ends with "<phase>: N passed, M failed" and count it
run_counted() {		# phase, command...
  local phase=$1 out rc p f
  shift
  out=$("$@" 2>&1); rc=$?
  echo "$out"
  p=$(echo "$out" | sed -n "s/^$phase: \([0-9]\+\) passed, \([0-9]\+\) failed\$/\1/p")
  f=$(echo "$out" | sed -n "s/^$phase: \([0-9]\+\) passed, \([0-9]\+\) failed\$/\2/p")
  p=${p:-0}; f=${f:-0}
  [ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1
  count "$phase" "$p" "$f"
}

run_structure() {
  run_counted structure python3 test/structure/check.py src
  run_counted format scripts/format-check.sh
}

run_codec() {
  local out
  out=$(make -s -C test/codec check 2>&1 && make -s -C test/proto check 2>&1 &&
        make -s -C test/auth check 2>&1 &&
        make -s -C test/dns check 2>&1 &&
        make -s -C test/http check 2>&1 &&
        make -s -C test/throttle check 2>&1); local rc=$?
  echo "$out"
  local p f
  # "N passed, M failed" lines, possibly after a "name:" prefix
  p=$(echo "$out" | sed -n 's/^\([A-Za-z_]*: \)\{0,1\}\([0-9]\+\) passed, \([0-9]\+\) failed.*/\2/p' | awk '{s+=$1} END {print s+0}')
  f=$(echo "$out" | sed -n 's/^\([A-Za-z_]*: \)\{0,1\}\([0-9]\+\) passed, \([0-9]\+\) failed.*/\3/p' | awk '{s+=$1} END {print s+0}')
  [ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1
  count codec "$p" "$f"
}

run_regress() {
  local dir port=${NAGARE_REGRESS_PORT:-54321}
  dir=$(mktemp -d /tmp/nagare-regress.XXXXXX)
  "$bindir/initdb" -D "$dir/data" -U postgres >/dev/null || { count regress 0 1; return; }
  cat test/nagare.conf >> "$dir/data/postgresql.conf"
  # PostgreSQL 15.19 and later load only the output plugins this names
  if "$bindir/postgres" --describe-config 2>/dev/null | grep '^output_plugin_libraries' >/dev/null; then
    echo "output_plugin_libraries = 'pgoutput, test_decoding, nagare'" >> "$dir/data/postgresql.conf"
  fi
  echo "port = $port" >> "$dir/data/postgresql.conf"
  # another port (scripts/sanitize.sh): the Kafka listener next to it, not 9092
  [ -n "${NAGARE_REGRESS_PORT:-}" ] && echo "nagare.port = $((port + 1))" >> "$dir/data/postgresql.conf"
  echo "unix_socket_directories = '$dir'" >> "$dir/data/postgresql.conf"
  "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null || { cat "$dir/log"; count regress 0 1; return; }
  "$bindir/createdb" -h "$dir" -p $port contrib_regression
  local out rc
  out=$(make -s installcheck TAP_TESTS= PGHOST="$dir" PGPORT=$port 2>&1); rc=$?
  echo "$out"
  "$bindir/pg_ctl" -D "$dir/data" -w stop -m fast >/dev/null
  local p f
  p=$(echo "$out" | grep -cE '^(ok|test|\s*test)? .*\.\.\. ok|^ok [0-9]+ ')
  f=$(echo "$out" | grep -cE '\.\.\. FAILED|\.\.\. failed|^not ok ')
  [ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1
  if [ $rc -ne 0 ]; then echo "--- server log"; tail -50 "$dir/log"; fi
  count regress "$p" "$f"
  rm -rf "$dir"
}

run_tap() {
  local out rc
  if [ -n "${NAGARE_TAP_TESTS:-}" ]; then
    out=$(make -s tapcheck PROVE_FLAGS="--timer" PROVE_TESTS="$NAGARE_TAP_TESTS" 2>&1); rc=$?
  else
    out=$(make -s tapcheck PROVE_FLAGS="--timer" 2>&1); rc=$?
  fi
  echo "$out"
  local tests f
  tests=$(echo "$out" | sed -n 's/.*Tests=\([0-9]\+\).*/\1/p' | tail -1)
  tests=${tests:-0}
  f=$(echo "$out" | sed -n 's/.*Failed \([0-9]\+\)\/[0-9]\+ subtests.*/\1/p' | awk '{s+=$1} END {print s+0}')
  [ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1
  count tap $((tests - f)) "$f"
}

run_fuzz() {
  local out rc
  out=$(make -s -C test/fuzz run FUZZ_SECONDS="${FUZZ_SECONDS:-30}" 2>&1 &&
        make -s -C test/proto fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-30}" 2>&1); rc=$?
  echo "$out" | tail -20
  local p f
  p=$(echo "$out" | grep -c '^fuzz .*: ok')
  f=$(echo "$out" | grep -c '^fuzz .*: FAILED')
  [ $rc -ne 0 ] && [ "$f" -eq 0 ] && f=1
  count fuzz "$p" "$f"
}

for phase in $phases; do
  echo "=== $phase"
  "run_$phase"
done

echo
for line in "${summary[@]}"; do echo "  $line"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
