#!/usr/bin/env bash
# Build KafkaTool (Apache Kafka's Java client as a command-line program, for
# test/t/105_java_client.pl): classes in target/classes, the runtime jars
# (kafka-clients and what it needs, slf4j-simple) in target/lib.  Run it with
# kafka-tool.sh.
#
# Idempotent: when target/.built is newer than pom.xml and every source file,
# it does nothing.  Otherwise Maven builds offline (-o) if the local
# repository already holds every artifact, and online if not (the first
# build downloads them).  scripts/test.sh runs this as root before the tests
# switch to the postgres user; the tree, target/ included, is copied for them.
#
# Exits non-zero, with Maven's messages, when Java or Maven is missing or the
# build fails.
set -euo pipefail
cd "$(dirname "$0")"

stamp=target/.built
if [ -f "$stamp" ] && [ -d target/lib ] &&
   [ -z "$(find pom.xml src -newer "$stamp" -print -quit)" ]; then
  exit 0
fi
command -v java >/dev/null || { echo "build.sh: java is not installed" >&2; exit 1; }
command -v mvn >/dev/null || { echo "build.sh: mvn is not installed" >&2; exit 1; }

rm -rf target
# -B: no colours or progress; compile runs copy-dependencies too (pom.xml)
if ! mvn -B -q -o compile >/dev/null 2>&1; then
  out=$(mvn -B -q compile 2>&1) || { echo "$out" >&2; exit 1; }
fi
touch "$stamp"
