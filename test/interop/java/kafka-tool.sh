#!/usr/bin/env bash
# Run KafkaTool (src/main/java/KafkaTool.java: commands and output there),
# built by build.sh:
#
#   kafka-tool.sh BOOTSTRAP PROPERTIES|- COMMAND ARGS...
#
# Writes nothing outside the process: no performance data file, no home
# directory needed (the JVM's user.home is only read).  JAVA_OPTS adds JVM
# options, e.g. -Dorg.slf4j.simpleLogger.defaultLogLevel=debug.
dir=$(cd "$(dirname "$0")" && pwd)
[ -f "$dir/target/.built" ] || { echo "kafka-tool.sh: not built; run $dir/build.sh" >&2; exit 3; }
exec java -XX:-UsePerfData -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss1m \
  ${JAVA_OPTS:-} -cp "$dir/target/classes:$dir/target/lib/*" KafkaTool "$@"
