#!/usr/bin/env bash
# Apache Kafka's kafka-transactions.sh (org.apache.kafka.tools.TransactionsCommand of the
# kafka-tools version pinned in pom.xml), from the jars build.sh fetched:
#
#   kafka-transactions.sh --bootstrap-server HOST:PORT [--command-config FILE] ...
#
# Writes nothing outside the process (slf4j-simple logs warnings to
# stderr), no performance data file.  JAVA_OPTS adds JVM options.
dir=$(cd "$(dirname "$0")" && pwd)
[ -f "$dir/target/.built" ] || { echo "kafka-transactions.sh: not built; run $dir/build.sh" >&2; exit 3; }
exec java -XX:-UsePerfData -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss1m \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dorg.slf4j.simpleLogger.logFile=System.err \
  ${JAVA_OPTS:-} -cp "$dir/target/lib/*" org.apache.kafka.tools.TransactionsCommand "$@"
