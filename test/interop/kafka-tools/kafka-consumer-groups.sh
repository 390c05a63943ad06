#!/usr/bin/env bash
# Apache Kafka's kafka-consumer-groups.sh
# (org.apache.kafka.tools.consumer.group.ConsumerGroupCommand of the
# kafka-tools version pinned in pom.xml, for test/t/112_group_lifecycle.pl),
# from the jars build.sh fetched:
#
#   kafka-consumer-groups.sh --bootstrap-server HOST:PORT [--command-config FILE] ...
#
# Writes nothing outside the process: no log files (log4j2 is told to log
# warnings to stderr only), no performance data file.  JAVA_OPTS adds JVM
# options.
dir=$(cd "$(dirname "$0")" && pwd)
[ -f "$dir/target/.built" ] || { echo "kafka-consumer-groups.sh: not built; run $dir/build.sh" >&2; exit 3; }
exec java -XX:-UsePerfData -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss1m \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -Dorg.slf4j.simpleLogger.logFile=System.err \
  ${JAVA_OPTS:-} -cp "$dir/target/lib/*" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "$@"
