#!/usr/bin/env bash
# Fetch Apache Kafka's own administration tools (org.apache.kafka:kafka-tools,
# whose org.apache.kafka.tools.ConfigCommand is kafka-configs.sh, for
# test/t/150_quota_admin.pl): the runtime jars into target/lib.  Run them
# with kafka-configs.sh.  They need Java 17 or later (class files of
# version 61); Debian's default Java 17 does.
#
# Idempotent: when target/.built is newer than pom.xml, it does nothing.
# Otherwise Maven works offline (-o) if the local repository already holds
# every artifact, and online if not (the first build downloads them).
# scripts/test.sh runs this as root before the tests switch to the postgres
# user; the tree, target/ included, is copied for them.
#
# Exits non-zero, with Maven's messages, when Java or Maven is missing or the
# build fails.
set -euo pipefail
cd "$(dirname "$0")"

stamp=target/.built
if [ -f "$stamp" ] && [ -d target/lib ] && [ -z "$(find pom.xml -newer "$stamp" -print -quit)" ]; then
  exit 0
fi
command -v java >/dev/null || { echo "build.sh: java is not installed" >&2; exit 1; }
command -v mvn >/dev/null || { echo "build.sh: mvn is not installed" >&2; exit 1; }

rm -rf target
# -B: no colours or progress; package runs copy-dependencies (pom.xml)
if ! mvn -B -q -o package >/dev/null 2>&1; then
  out=$(mvn -B -q package 2>&1) || { echo "$out" >&2; exit 1; }
fi
touch "$stamp"
