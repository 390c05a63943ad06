#!/usr/bin/env bash
# nagare's Kafka listener beside Redis Streams and NATS JetStream, all in the
# same run: produce and consume throughput at 100 B and 1 KiB, acks=1 and
# acks=all, and latency.  See bench/kafka/README.md.
#
# Run as root on Debian 12, after installing nagare (make && make install, or
# scripts/run.sh): it installs the peers and the client libraries, builds the
# load generators, starts a scratch PostgreSQL cluster (as the postgres user),
# a redis-server and a nats-server on free loopback ports, and stops them all
# when it ends, however it ends.
#
#   bench/kafka/run.sh
#
# Environment:
#   RUNS=3               runs of every measurement, interleaved
#   DURATION=5           a produce run stops after this many seconds...
#   MAX_100=5000000      ...or this many 100-byte messages
#   MAX_1K=1500000       ...or this many 1 KiB messages
#   LAT_SECONDS=3        seconds per latency run
#   LAT_SIZE=100         message size of the latency runs
#   SCENARIOS="produce consume latency e2e"
#   SYSTEMS="nagare redis nats"
#   PARTITIONS=1         partitions of nagare's produce/consume topics
#   REDIS_PIPELINE=1000  XADDs in flight
#   REDIS_COUNT=3000     XREAD COUNT
#   NATS_PENDING=10000   js_PublishAsync acks awaited at most
#   NATS_BATCH=10000     pull consumer Fetch batch
#   NOISE_PCT=10         a run during which other processes used more than
#                        this share of the machine's CPU is measured again...
#   RETRY_BUDGET=60      ...as long as the extra runs fit in this many seconds
#   PG_PORT=55600        PostgreSQL (Unix socket only)
#   KAFKA_PORT, REDIS_PORT, NATS_PORT   default: free ports
#   EXTRA_CONF=""        more postgresql.conf lines, e.g. "nagare.io_method = plain"
#   CLIENT_CPUS=""       run the load generators under taskset -c CLIENT_CPUS
#   INSTALL=1            0: do not apt-get install anything
#   KEEP=0               1: keep the scratch directory (logs, every result)
#
# Prints one table per scenario and writes bench/results/kafka-<date>.json.
set -Eeuo pipefail

RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
MAX_100=${MAX_100:-5000000}
MAX_1K=${MAX_1K:-1500000}
LAT_SECONDS=${LAT_SECONDS:-3}
LAT_SIZE=${LAT_SIZE:-100}
SCENARIOS=${SCENARIOS:-"produce consume latency e2e"}
SYSTEMS=${SYSTEMS:-"nagare redis nats"}
PARTITIONS=${PARTITIONS:-1}
REDIS_PIPELINE=${REDIS_PIPELINE:-1000}
REDIS_COUNT=${REDIS_COUNT:-3000}
NATS_PENDING=${NATS_PENDING:-10000}
NATS_BATCH=${NATS_BATCH:-10000}
NOISE_PCT=${NOISE_PCT:-10}
RETRY_BUDGET=${RETRY_BUDGET:-60}
PG_PORT=${PG_PORT:-55600}
INSTALL=${INSTALL:-1}
CLIENT_CPUS=${CLIENT_CPUS:-}
KEEP=${KEEP:-0}

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"
pg_port=$PG_PORT	# sql's

need_root
for s in $SYSTEMS; do [[ $s =~ ^(nagare|redis|nats)$ ]] || die "unknown system $s"; done

# ---------------------------------------------------------------- packages
just_installed=()
if [ "$INSTALL" = 1 ]; then
  missing_pkgs gcc libc6-dev python3 procps librdkafka-dev libhiredis-dev libnats-dev redis-server redis-tools nats-server postgresql-15
  install_missing || die "cannot install ${missing[*]}"
  just_installed=("${missing[@]}")
fi
# Debian starts the services it installs (where it can): this benchmark runs
# its own instances, so stop those
for svc in redis-server nats-server; do
  has "${just_installed[*]:-}" "$svc" || continue
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    log "stopping Debian's $svc service"; systemctl stop "$svc" || true
  elif [ -x "/etc/init.d/$svc" ] && "/etc/init.d/$svc" status >/dev/null 2>&1; then
    log "stopping Debian's $svc service"; "/etc/init.d/$svc" stop >/dev/null || true
  fi
done

find_pg
if has "$SYSTEMS" nagare; then need_nagare; fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
KAFKA_PORT=${KAFKA_PORT:-$(free_port)}
REDIS_PORT=${REDIS_PORT:-$(free_port)}
NATS_PORT=${NATS_PORT:-$(free_port)}
[ "$KAFKA_PORT" != "$REDIS_PORT" ] && [ "$REDIS_PORT" != "$NATS_PORT" ] && [ "$KAFKA_PORT" != "$NATS_PORT" ] \
  || die "the ports must differ"

# ---------------------------------------------------------------- scratch
ncpu=$(nproc)
pm_pid="" redis_pid="" nats_pid=""
stop_extras() {	# cleanup (lib.sh) calls this first: the servers this script started
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true
  [ -n "$nats_pid" ] && kill "$nats_pid" 2>/dev/null || true
}
scratch_dir nagare-kbench
mkdir -p "$work/res" "$work/bin" "$work/redis" "$work/nats"

log "building the load generators"
CFLAGS="-O2 -Wall"
cc $CFLAGS -o "$work/bin/nagare_load" "$here/nagare_load.c" -lrdkafka -lm
cc $CFLAGS -o "$work/bin/redis_load" "$here/redis_load.c" -lhiredis -lm
cc $CFLAGS -o "$work/bin/nats_load" "$here/nats_load.c" -lnats -lm

wait_port() {	# port what
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  die "$2 does not listen on port $1"
}

# ---------------------------------------------------------------- servers
if has "$SYSTEMS" nagare; then
  log "PostgreSQL with nagare in $work/data (Kafka listener on 127.0.0.1:$KAFKA_PORT)"
  as_pg "$bindir/initdb" -D "$work/data" -U postgres -A trust >/dev/null
  cat >> "$work/data/postgresql.conf" <<EOF
# bench/kafka/run.sh
port = $PG_PORT
listen_addresses = ''
unix_socket_directories = '$work'
shared_preload_libraries = 'nagare'
fsync = on
synchronous_commit = on
autovacuum = off
max_connections = 50
nagare.listen_addresses = '127.0.0.1'
nagare.port = $KAFKA_PORT
nagare.request_timeout = 10s
${EXTRA_CONF:-}
EOF
  as_pg "$bindir/pg_ctl" -D "$work/data" -l "$work/server.log" -w start >/dev/null \
    || { cat "$work/server.log"; die "PostgreSQL did not start"; }
  pm_pid=$(head -1 "$work/data/postmaster.pid")
  sql -c "CREATE EXTENSION nagare" >/dev/null
  state=""
  for _ in $(seq 100); do
    state=$(sql -c "SELECT state FROM nagare.broker" 2>/dev/null || true)
    [ "$state" = ready ] && break
    sleep 0.1
  done
  [ "$state" = ready ] || { tail -20 "$work/server.log"; die "the nagare broker is not ready ($state)"; }
  wait_port "$KAFKA_PORT" "nagare's Kafka listener"
  # every topic of the run, now: produce runs write to a new topic each
  {
    for r in $(seq "$RUNS"); do
      for s in 100 1024; do
        for a in 1 all; do echo "SELECT nagare.create_topic('p$s-a$a-r$r', $PARTITIONS);"; done
      done
    done
    echo "SELECT nagare.create_topic('latency', 1);"
    echo "SELECT nagare.create_topic('e2e', 1);"
  } | sql >/dev/null
fi
if has "$SYSTEMS" redis; then
  log "redis-server in $work/redis (127.0.0.1:$REDIS_PORT, appendonly yes)"
  # no RDB snapshots and no automatic AOF rewrite in the middle of a run
  # (the AOF is rewritten, empty, before each round)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$work/redis" \
    --appendonly yes --appendfsync everysec --save "" --auto-aof-rewrite-percentage 0 \
    --logfile "$work/redis.log" --daemonize no &
  redis_pid=$!
  wait_port "$REDIS_PORT" redis-server
  for _ in $(seq 100); do [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
fi
if has "$SYSTEMS" nats; then
  log "nats-server -js in $work/nats (127.0.0.1:$NATS_PORT)"
  nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$work/nats" -l "$work/nats.log" &
  nats_pid=$!
  wait_port "$NATS_PORT" nats-server
fi
declare -A server_pid=([nagare]=$pm_pid [redis]=$redis_pid [nats]=$nats_pid)

# ---------------------------------------------------------------- settings
rev=$(src_rev "uncommitted changes in the work tree")
if has "$SYSTEMS" nagare; then
  rev="$rev; $(nagare_so)"
  rev="$rev; PostgreSQL $(pg_version), io_method $(io_method)"
fi
python3 - "$work/settings.json" <<EOF
import json, sys
cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")]
mem = int(open("/proc/meminfo").readline().split()[1]) // 1024
json.dump({
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "host": f"$(uname -r), $ncpu CPUs ({cpu[0] if cpu else '?'}), {mem} MB",
  "nagare": "commit $rev, $PARTITIONS partition(s) per topic",
  "redis": "redis-server $(pkgver redis-server), appendonly yes, no RDB, no automatic AOF rewrite; hiredis $(pkgver libhiredis-dev)",
  "nats": "nats-server $(pkgver nats-server) -js, file store (fsync every 2 min: 2.9 has no sync_interval); cnats $(pkgver libnats-dev)",
  "clients": "librdkafka $(pkgver librdkafka-dev); one client process per run, on the same machine${CLIENT_CPUS:+, pinned to CPUs $CLIENT_CPUS}",
  "runs": "$RUNS interleaved; produce at most ${DURATION} s ($MAX_100 x 100 B, $MAX_1K x 1 KiB); latency ${LAT_SECONDS} s per run",
  "sizes": "payload bytes; MB = 10^6 bytes",
  "knobs": {"RUNS": $RUNS, "DURATION": $DURATION, "MAX_100": $MAX_100, "MAX_1K": $MAX_1K,
            "LAT_SECONDS": $LAT_SECONDS, "LAT_SIZE": $LAT_SIZE, "PARTITIONS": $PARTITIONS,
            "REDIS_PIPELINE": $REDIS_PIPELINE, "REDIS_COUNT": $REDIS_COUNT,
            "NATS_PENDING": $NATS_PENDING, "NATS_BATCH": $NATS_BATCH,
            "SCENARIOS": "$SCENARIOS", "SYSTEMS": "$SYSTEMS", "EXTRA_CONF": """${EXTRA_CONF:-}"""},
}, open(sys.argv[1], "w"), indent=1)
EOF

# ---------------------------------------------------------------- runs
declare -A label order
label[nagare-1]="nagare acks=1"; label[nagare-all]="nagare acks=all"
label[redis-1]="Redis everysec"; label[redis-all]="Redis always"
label[nats-1]="NATS JetStream"; label[nats-all]="NATS JetStream"
label[nagare-c]="nagare (librdkafka)"; label[redis-c]="Redis XREAD"; label[nats-c]="NATS pull Fetch"
# rows: nagare first, then each peer, the weaker durability setting first
declare -A sysorder=([nagare]=10 [redis]=20 [nats]=30)
for k in "${!label[@]}"; do order[$k]=$(( ${sysorder[${k%-*}]} + $([ "${k#*-}" = all ] && echo 1 || echo 0) )); done
redis_fsync() { [ "$1" = 1 ] && echo everysec || echo always; }

log_seen=0
# nagare's crashes since the last look, into $work/trouble.txt
nagare_crashed() {
  [ -f "$work/server.log" ] || return 1
  local n; n=$(wc -l < "$work/server.log")
  local new
  new=$(sed -n "$((log_seen + 1)),${n}p" "$work/server.log" \
    | grep -E "terminated by signal|exited with exit code|PANIC|are missing|corrupted nagare|timed out waiting for the nagare broker" | head -5 || true)
  log_seen=$n
  [ -n "$new" ] || return 1
  echo "$new" | sed "s/^/$1: /" >> "$work/trouble.txt"
  return 0
}
# after a crash: wait for PostgreSQL to come back (or restart it)
nagare_recover() {
  for _ in $(seq 50); do
    [ "$(sql -c "SELECT state FROM nagare.broker" 2>/dev/null || true)" = ready ] && return 0
    sleep 0.2
  done
  log "    PostgreSQL is not answering: restarting it"
  as_pg "$bindir/pg_ctl" -D "$work/data" -m immediate -w -t 120 restart -l "$work/server.log" >/dev/null || die "PostgreSQL does not restart"
  pm_pid=$(head -1 "$work/data/postmaster.pid"); server_pid[nagare]=$pm_pid
}

others() {	# the servers other than $1, comma-separated
  local s out=""
  for s in $SYSTEMS; do [ "$s" = "$1" ] || out="$out${server_pid[$s]},"; done
  echo "${out%,}"
}

# measure FILE COST SYSTEM TOPIC KEY=VALUE... -- COMMAND...
measure() {
  local f=$1 cost=$2 system=$3 topic=$4; shift 4
  local sets=()
  while [ "$1" != -- ]; do sets+=(--set "$1"); shift; done
  shift
  local attempt=0 h0=0 h1 msgs noise trouble
  while :; do
    # what earlier runs left dirty is written now, not during this run (on
    # ext4 an fsync can have to wait for other files' data)
    sync
    [ "$system" = nagare ] && h0=$(hwm "$topic")
    python3 "$here/kbench.py" run "$f" --server "${server_pid[$system]}" --others "$(others "$system")" \
      --harness $$ "${sets[@]}" -- timeout -k 5 $((cost + 60)) ${CLIENT_CPUS:+taskset -c "$CLIENT_CPUS"} "$@" || true
    trouble=""
    if [ "$system" = nagare ]; then
      if nagare_crashed "$(basename "$f" .json)"; then
        trouble="the server crashed or restarted during the run (see trouble.txt)"
        nagare_recover
      elif [[ $(rfield "$f" mode) == produce ]]; then
        h1=$(hwm "$topic"); msgs=$(rfield "$f" msgs)
        if [ "$h1" -ge 0 ] && [ "$h0" -ge 0 ] && [ $((h1 - h0)) -ne "${msgs:-0}" ]; then
          trouble="the topic's high watermark moved by $((h1 - h0)), but $msgs messages were acknowledged"
          echo "$(basename "$f" .json): $trouble" >> "$work/trouble.txt"
        fi
      fi
      if [ -n "$trouble" ]; then
        log "    nagare TROUBLE: $trouble"
        python3 - "$f" "$trouble" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); r["trouble"] = sys.argv[2]
json.dump(r, open(sys.argv[1], "w"))
EOF
      fi
    fi
    noise=$(rfield "$f" noise_pct)
    measure_again "${noise%.*}" "$cost" "$f" || break
  done
}
rfield() { python3 "$here/kbench.py" field "$@"; }

produce_run() {	# run system size acks
  local run=$1 s=$2 size=$3 acks=$4 max topic f
  max=$([ "$size" = 100 ] && echo "$MAX_100" || echo "$MAX_1K")
  f="$work/res/produce-$size-$acks.$s.r$run.json"
  local common=(scenario="produce-$size-$acks" run="$run" label="${label[$s-$acks]}" order="${order[$s-$acks]}"
                title_extra="$RUNS runs of at most $DURATION s or $(printf "%'d" "$max") msgs")
  case $s in
    nagare)
      topic="p$size-a$acks-r$run"
      measure "$f" "$DURATION" nagare "$topic" "${common[@]}" -- \
        "$work/bin/nagare_load" produce -H "127.0.0.1:$KAFKA_PORT" -t "$topic" -s "$size" -n "$max" -d "$DURATION" -a "$acks";;
    redis)
      measure "$f" "$DURATION" redis "p$size-a$acks" "${common[@]}" -- \
        "$work/bin/redis_load" produce -H "127.0.0.1:$REDIS_PORT" -t "p$size-a$acks" -s "$size" -n "$max" -d "$DURATION" \
        -a "$(redis_fsync "$acks")" -w "$REDIS_PIPELINE";;
    nats)
      measure "$f" "$DURATION" nats "p$size-a$acks" "${common[@]}" -- \
        "$work/bin/nats_load" produce -H "127.0.0.1:$NATS_PORT" -t "p$size-a$acks" -s "$size" -n "$max" -d "$DURATION" \
        -a default -w "$NATS_PENDING";;
  esac
}

consume_run() {	# run system size: read what this round's acks=1 produce run wrote
  local run=$1 s=$2 size=$3 n topic f
  local pf="$work/res/produce-$size-1.$s.r$run.json"
  n=$( [ -f "$pf" ] && rfield "$pf" msgs || echo 0)
  if [ "${n:-0}" -le 0 ]; then
    log "    ${label[$s-c]}: nothing to consume (the produce run wrote nothing)"
    return
  fi
  f="$work/res/consume-$size.$s.r$run.json"
  local common=(scenario="consume-$size" run="$run" label="${label[$s-c]}" order="${order[$s-c]}"
                title_extra="$RUNS runs, each reading what that round's acks=1 produce run wrote")
  case $s in
    nagare)
      topic="p$size-a1-r$run"
      measure "$f" 10 nagare "$topic" "${common[@]}" -- \
        "$work/bin/nagare_load" consume -H "127.0.0.1:$KAFKA_PORT" -t "$topic" -s "$size" -n "$n";;
    redis)
      measure "$f" 10 redis "p$size-a1" "${common[@]}" -- \
        "$work/bin/redis_load" consume -H "127.0.0.1:$REDIS_PORT" -t "p$size-a1" -s "$size" -n "$n" -w "$REDIS_COUNT";;
    nats)
      measure "$f" 10 nats "p$size-a1" "${common[@]}" -- \
        "$work/bin/nats_load" consume -H "127.0.0.1:$NATS_PORT" -t "p$size-a1" -s "$size" -n "$n" -w "$NATS_BATCH";;
  esac
}

latency_run() {	# mode(latency|e2e) run system acks
  local mode=$1 run=$2 s=$3 acks=$4 f
  f="$work/res/$mode.$s-$acks.r$run.json"
  # dclass: the nagare row this one is compared with; JetStream acknowledges
  # before it fsyncs, as acks=1 does
  local common=(scenario="$mode" run="$run" label="${label[$s-$acks]}" order="${order[$s-$acks]}" dclass="$acks"
                title_extra="$LAT_SIZE B, $RUNS runs of $LAT_SECONDS s; p50/p99 are medians of the runs'")
  case $s in
    nagare)
      measure "$f" "$LAT_SECONDS" nagare "$mode" "${common[@]}" -- \
        "$work/bin/nagare_load" "$mode" -H "127.0.0.1:$KAFKA_PORT" -t "$mode" -s "$LAT_SIZE" -n 100000000 -d "$LAT_SECONDS" -a "$acks";;
    redis)
      measure "$f" "$LAT_SECONDS" redis "$mode" "${common[@]}" -- \
        "$work/bin/redis_load" "$mode" -H "127.0.0.1:$REDIS_PORT" -t "$mode" -s "$LAT_SIZE" -n 100000000 -d "$LAT_SECONDS" \
        -a "$(redis_fsync "$acks")";;
    nats)
      measure "$f" "$LAT_SECONDS" nats "$mode" "${common[@]}" -- \
        "$work/bin/nats_load" "$mode" -H "127.0.0.1:$NATS_PORT" -t "$mode" -s "$LAT_SIZE" -n 100000000 -d "$LAT_SECONDS";;
  esac
}

redis_reset() {	# an empty data set and AOF before each round
  redis-cli -p "$REDIS_PORT" FLUSHALL >/dev/null
  redis-cli -p "$REDIS_PORT" BGREWRITEAOF >/dev/null
  for _ in $(seq 300); do
    redis-cli -p "$REDIS_PORT" INFO persistence | grep -q "aof_rewrite_in_progress:0" \
      && redis-cli -p "$REDIS_PORT" INFO persistence | grep -q "aof_rewrite_scheduled:0" && return
    sleep 0.1
  done
}

# Before each round, the previous round's data goes: its files and their page
# cache.  Otherwise every round writes gigabytes more into the page cache,
# and the later rounds pay the kernel for reclaiming it (in the writing
# processes' own CPU time) where the first did not.
drop_previous_round() {	# run
  local prev=$(($1 - 1)) s a
  [ "$prev" -ge 1 ] || return 0
  if has "$SYSTEMS" nagare; then
    for s in 100 1024; do for a in 1 all; do
      sql -c "SELECT nagare.delete_topic('p$s-a$a-r$prev')" >/dev/null || log "    cannot delete topic p$s-a$a-r$prev"
    done; done
  fi
  if has "$SYSTEMS" nats; then
    for s in 100 1024; do for a in 1 all; do
      "$work/bin/nats_load" drop -H "127.0.0.1:$NATS_PORT" -t "p$s-a$a" || true
    done; done
  fi
  has "$SYSTEMS" redis && redis_reset
  sync
  sleep 1	# the broker removes the files of deleted topics asynchronously
}

for run in $(seq "$RUNS"); do
  drop_previous_round "$run"
  log "run $run of $RUNS ($(awk '/^MemFree/ {printf "%d MB", $2 / 1024}' /proc/meminfo) of memory free)"
  # shellcheck disable=SC2086 # the systems are words
  order_now=$(rotate "$run" $SYSTEMS)
  if has "$SCENARIOS" produce; then
    for size in 100 1024; do
      for acks in 1 all; do
        log "  produce $size B, acks=$acks"
        for s in $order_now; do produce_run "$run" "$s" "$size" "$acks"; done
      done
    done
  fi
  if has "$SCENARIOS" consume; then
    has "$SCENARIOS" produce || die "consume reads what produce wrote: SCENARIOS must include produce"
    for size in 100 1024; do
      log "  consume $size B"
      for s in $order_now; do consume_run "$run" "$s" "$size"; done
    done
  fi
  for mode in latency e2e; do
    has "$SCENARIOS" $mode || continue
    log "  $mode"
    for s in $order_now; do
      for acks in 1 all; do
        # NATS has one durability setting: measure it once
        [ "$s" = nats ] && [ "$acks" = all ] && continue
        latency_run "$mode" "$run" "$s" "$acks"
      done
    done
  done
done

# ---------------------------------------------------------------- report
# what nagare said in the server log (other than the usual start-up lines)
if [ -f "$work/server.log" ]; then
  grep -iE "nagare|kafka|ERROR|WARNING|FATAL|PANIC" "$work/server.log" \
    | sed -E 's/^[0-9-]+ [0-9:.]+ [A-Z]+ \[[0-9]+\] //' \
    | grep -vE "nagare broker ready|database system is ready|starting PostgreSQL|listening on" \
    | sort | uniq -c | sort -rn | head -20 > "$work/server-log-summary.txt" || true
fi
mkdir -p "$repo/bench/results"
out="$repo/bench/results/kafka-$(date +%Y-%m-%dT%H%M%S).json"
python3 "$here/kbench.py" report "$work" "$out"
if [ -s "$work/server-log-summary.txt" ]; then
  echo
  echo "=== nagare's server log (distinct messages, most frequent first)"
  sed 's/^/  /' "$work/server-log-summary.txt"
fi
echo "total time: $(( $(date +%s) - started )) s"
