#!/usr/bin/env bash
# nagare's first benchmark: nagare.send() and nagare.send_batch() beside a
# plain INSERT, COPY and PgQ's insert_event, all measured in the same run on
# the same scratch cluster.  See bench/README.md.
#
# Run as root on Debian 12 (it installs what it needs, builds and installs
# nagare, then runs PostgreSQL as the "postgres" user):
#
#   bench/send/run.sh
#
# Environment:
#   DURATION=10          seconds per pgbench run (scenarios 1 and 2), >= 4
#   BATCH_DURATION=4     seconds per batch run (scenario 3), >= 4
#   RUNS=3               runs of every measurement, interleaved
#   SCENARIOS="single multi batch"
#   PROFILE=1            profile scenarios 1 and 2 with perf (0: skip)
#   PROFILE_SECONDS=3    length of each perf profile
#   SHARED_BUFFERS=1GB
#   PORT=55500
#   EXTRA_CONF=""        more postgresql.conf lines, e.g. "nagare.io_method = plain"
#   BUILD=1              0: do not run deps.sh / make (use what is installed)
#   KEEP=0               1: keep the scratch directory (logs, perf data)
#   NOISE_PCT=10         a run during which other processes used more than
#                        this share of the machine's CPU is measured again...
#   RETRY_BUDGET=60      ...as long as the extra runs fit in this many seconds
#
# Prints one table per scenario and writes bench/results/send-<date>.json.
set -Eeuo pipefail

DURATION=${DURATION:-10}
BATCH_DURATION=${BATCH_DURATION:-4}
RUNS=${RUNS:-3}
SCENARIOS=${SCENARIOS:-"single multi batch"}
PROFILE=${PROFILE:-1}
PROFILE_SECONDS=${PROFILE_SECONDS:-3}
SHARED_BUFFERS=${SHARED_BUFFERS:-1GB}
PORT=${PORT:-55500}
BUILD=${BUILD:-1}
KEEP=${KEEP:-0}
NOISE_PCT=${NOISE_PCT:-10}
RETRY_BUDGET=${RETRY_BUDGET:-60}
PERF_PERIOD_NS=100000		# cpu-clock sample every 100 us of CPU

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"
pg_port=$PORT	# sql's

need_root
[ "$DURATION" -ge 4 ] && [ "$BATCH_DURATION" -ge 4 ] || die "DURATION and BATCH_DURATION must be at least 4 seconds"

# ---------------------------------------------------------------- setup
if [ "$BUILD" = 1 ]; then
  log "installing dependencies (scripts/deps.sh)"
  "$repo/scripts/deps.sh"
  missing_pkgs libpq-dev python3 util-linux
  if [ "$PROFILE" = 1 ] && ! command -v perf >/dev/null; then missing+=(linux-perf); fi
  install_missing || [ "${missing[*]}" = linux-perf ] || die "cannot install ${missing[*]}"
  log "building and installing nagare"
  (cd "$repo" && make -s -j2 && make -s install) >/dev/null || die "nagare does not build"
fi

if [ "$PROFILE" = 1 ]; then
  if ! command -v perf >/dev/null || ! perf stat -e task-clock true >/dev/null 2>&1; then
    log "perf is not usable here: no profiles"
    PROFILE=0
  fi
fi
TRACE=0
if [ "$PROFILE" = 1 ]; then
  events=$(perf list 2>/dev/null || true)
  if [[ $events == *sched:sched_switch* && $events == *io_uring:io_uring_complete* \
        && $events == *syscalls:sys_enter_fdatasync* ]]; then
    TRACE=1
  fi
fi

find_pg
ncpu=$(nproc)
pm_pid=""
scratch_dir nagare-bench

log "scratch cluster in $work (port $PORT)"
gcc -O2 -Wall -o "$work/batchbench" "$here/batchbench.c" -I"$(pg_config --includedir)" -lpq
as_pg "$bindir/initdb" -D "$work/data" -U postgres -A trust >/dev/null
cat >> "$work/data/postgresql.conf" <<EOF
# bench/send/run.sh
port = $PORT
listen_addresses = ''
unix_socket_directories = '$work'
shared_preload_libraries = 'nagare'
synchronous_commit = on
fsync = on
full_page_writes = on
wal_sync_method = fdatasync
shared_buffers = $SHARED_BUFFERS
max_wal_size = 8GB
checkpoint_timeout = 1h
# every run starts from a CHECKPOINT and truncated tables; autovacuum would
# only add work at random moments
autovacuum = off
max_connections = 50
log_checkpoints = off
# no Kafka listener: this measures SQL, and port 9092 may be taken
nagare.listen_addresses = ''
# a commit that waits this long for the broker has failed anyway
nagare.request_timeout = 10s
${EXTRA_CONF:-}
EOF
as_pg "$bindir/pg_ctl" -D "$work/data" -l "$work/server.log" -w start >/dev/null || { cat "$work/server.log"; die "server did not start"; }
pm_pid=$(head -1 "$work/data/postmaster.pid")
if [ "$PROFILE" = 1 ]; then
  # keep the binaries perf must symbolize, whatever gets installed later
  perf buildid-cache -a "$pkglibdir/nagare.so" 2>/dev/null || true
  perf buildid-cache -a "$bindir/postgres" 2>/dev/null || true
fi

sql >/dev/null <<'EOF'
CREATE EXTENSION nagare;
-- default settings: 10000 records of this payload (1.3 MB) are split into
-- two batches of at most max.message.bytes (1 MB)
SELECT nagare.create_topic('bench');
CREATE EXTENSION pgq;
SELECT pgq.create_queue('bench');
CREATE TABLE bench_t (k text, v text);
EOF
# the broker learns about the topic from the nagare worker: wait for it
ok=0
for _ in $(seq 50); do
  if sql -c "SELECT nagare.send('bench', 'warm-up', 'warm-up'::text)" >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.2
done
[ $ok = 1 ] || { tail -20 "$work/server.log"; die "nagare.send() does not work"; }
io_method=$(io_method)
pgq_events=$(sql -c "SELECT string_agg(format('%s_%s', queue_data_pfx, n), ', ') FROM pgq.queue, generate_series(0, queue_ntables - 1) n WHERE queue_name = 'bench'")

check_busy

log "fsync probe"
probe=$(as_pg "$work/batchbench" -m fsync-probe -t 3 -D "$work")

rev=$(src_rev "uncommitted changes")
pgver=$(pg_version)
rev="$rev, nagare.so $(sha256sum "$pkglibdir/nagare.so" | cut -c1-12) $(date -u -r "$pkglibdir/nagare.so" +%H:%M:%SZ)"
python3 - "$work/settings.json" <<EOF
import json, sys
probe = {}
for line in """$probe""".splitlines():
    m, n, p50, p99 = line.split()
    probe[m] = [float(p50), float(p99)]
cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")]
mem = int(open("/proc/meminfo").readline().split()[1]) // 1024
json.dump({
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "host": f"$(uname -r), $ncpu CPUs ({cpu[0] if cpu else '?'}), {mem} MB",
  "nagare_rev": "$rev",
  "pg_version": "PostgreSQL $pgver",
  "io_method": "$io_method",
  "shared_buffers": "$SHARED_BUFFERS",
  "extra_conf": """${EXTRA_CONF:-}""",
  "duration": $DURATION, "batch_duration": $BATCH_DURATION, "runs": $RUNS,
  "noise_pct": $NOISE_PCT, "profile": $PROFILE, "trace": $TRACE,
  "busy_before_pct": $busy_before,
  "fsync_probe": probe,
}, open(sys.argv[1], "w"), indent=1)
EOF

# ---------------------------------------------------------------- scripts
value=$(printf 'v%.0s' $(seq 100))
key_single="lpad(:k::text, 16, '0')"
key_multi="lpad(g::text, 16, '0')"
mkdir -p "$work/scripts"
declare -A stmt
stmt[single-nagare]="SELECT nagare.send('bench', $key_single, '$value'::text);"
stmt[single-insert]="INSERT INTO bench_t (k, v) VALUES ($key_single, '$value');"
stmt[single-pgq]="SELECT pgq.insert_event('bench', 'ev', '$value', $key_single, NULL, NULL, NULL);"
stmt[multi-nagare]="SELECT count(nagare.send('bench', $key_multi, '$value'::text)) FROM generate_series(1, 1000) g;"
stmt[multi-nagare-lateral]="SELECT count(*) FROM generate_series(1, 1000) g, LATERAL nagare.send('bench', $key_multi, '$value'::text) s;"
stmt[multi-insert]="INSERT INTO bench_t (k, v) SELECT $key_multi, '$value' FROM generate_series(1, 1000) g;"
stmt[multi-pgq]="SELECT count(pgq.insert_event('bench', 'ev', '$value', $key_multi, NULL, NULL, NULL)) FROM generate_series(1, 1000) g;"
for s in "${!stmt[@]}"; do
  {
    [[ $s == single-* ]] && echo '\set k random(1, 1000000000)'
    echo "${stmt[$s]}"
  } > "$work/scripts/$s.sql"
done
chown -R postgres: "$work/scripts"

declare -A label order
label[nagare]="nagare send"; order[nagare]=1
label[nagare-lateral]="nagare send (LATERAL)"; order[nagare-lateral]=2
label[insert]="INSERT"; order[insert]=3
label[pgq]="PgQ insert_event"; order[pgq]=4
label[batch-nagare]="nagare send_batch"; order[batch-nagare]=1
label[batch-nagare-bin]="nagare send_batch (binary arrays)"; order[batch-nagare-bin]=2
label[batch-nagare-agg]="nagare send_batch (array_agg)"; order[batch-nagare-agg]=3
label[batch-copy]="COPY"; order[batch-copy]=4
label[batch-copy-bin]="COPY (binary)"; order[batch-copy-bin]=5

# ---------------------------------------------------------------- runs
# same starting point for every run: empty table and queue, nothing dirty
prepare_run() {
  if ! sql -c "TRUNCATE bench_t" -c "TRUNCATE $pgq_events" -c "CHECKPOINT" >/dev/null 2>&1; then
    # the previous run left the server restarting after a crash
    log "    the server is not answering: restarting it"
    broken=$((broken + 1))
    restart_server
    sql -c "TRUNCATE bench_t" -c "TRUNCATE $pgq_events" -c "CHECKPOINT" >/dev/null
  fi
}

# roots: the cluster, the client, and this script (perf, the snapshots)
snap() { python3 "$here/analyze.py" snap "$1" "$pm_pid" "$2" $$; }

# sample CPU in the middle of a run of $2 seconds whose client is $1, or
# profile it ($3 = 1)
observe() {
  local cpid=$1 dur=$2 prof=$3 d=$4 trace=$5
  sleep 1
  if [ "$prof" = 1 ]; then
    # the noise check covers the second before perf starts: perf's own
    # sampling interrupts would count as foreign CPU
    snap "$d/snap-a.json" "$cpid"
    sleep 1
    snap "$d/snap-b.json" "$cpid"
    cp "$d/snap-b.json" "$d/snap-p.json"
    perf record -q -k realtime -a -e cpu-clock -c $PERF_PERIOD_NS -o "$d/perf.data" \
      -- sleep "$PROFILE_SECONDS" >/dev/null 2>&1 || true
    if [ "$trace" = 1 ]; then
      # tracepoints refuse CLOCK_REALTIME here: record the offset instead
      python3 -c 'import time; print(time.time() - time.monotonic())' > "$d/trace-clock-offset"
      perf record -q -k monotonic -a -o "$d/trace.data" \
        -e sched:sched_switch,sched:sched_wakeup,io_uring:io_uring_submit_req,io_uring:io_uring_complete \
        -e syscalls:sys_enter_fdatasync,syscalls:sys_exit_fdatasync \
        -- sleep 1 >/dev/null 2>&1 || true
    fi
  else
    snap "$d/snap-a.json" "$cpid"
    sleep $((dur - 2))
    snap "$d/snap-b.json" "$cpid"
  fi
}

write_meta() {	# dir key=value... (values are JSON)
  local d=$1; shift
  local kv=() x
  for x in "$@"; do kv+=("\"${x%%=*}\": ${x#*=}"); done
  local IFS=,
  echo "{${kv[*]}}" > "$d/meta.json"
}

# nagare's own complaints in the server log since the last look: lost
# offsets, a corrupted append ring, a crashed broker, commits that timed out
log_seen=0
broker_trouble() {	# writes the lines to $work/trouble.txt
  local n; n=$(wc -l < "$work/server.log")
  sed -n "$((log_seen + 1)),${n}p" "$work/server.log" \
    | grep -E "are missing|corrupted nagare|nagare broker.*(terminated|exited)|timed out waiting for the nagare broker" \
    | head -5 > "$work/trouble.txt" || true
  log_seen=$n
}
server_failed() {	# what: stop with the server's side of the story
  echo "--- server log (nagare lines)" >&2
  grep -E "nagare|ERROR|PANIC" "$work/server.log" | tail -15 >&2
  die "$1"
}

# A restart gives a fresh append ring (it lives in shared memory); the broker
# recovers the partition from its files.
restart_server() {
  log "    restarting PostgreSQL"
  as_pg "$bindir/pg_ctl" -D "$work/data" -m fast -w -t 120 restart -l "$work/server.log" >/dev/null \
    || server_failed "PostgreSQL does not restart"
  pm_pid=$(head -1 "$work/data/postmaster.pid")
  local ok=0
  for _ in $(seq 100); do
    if sql -c "SELECT nagare.send('bench', 'warm-up', 'warm-up'::text)" >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.2
  done
  [ $ok = 1 ] || server_failed "nagare.send() does not work after a restart"
  broker_trouble
}

# After a measurement: did nagare keep every message?  Sets $check (JSON)
# and $trouble (1 if the broker misbehaved).
check_run() {	# d system sent h0 ntx
  local d=$1 system=$2 sent=$3 h0=$4 client_ok=$5 h1
  check=null
  trouble=0
  broker_trouble
  cp "$work/trouble.txt" "$d/trouble.txt"
  if [[ $system == *nagare* ]]; then
    h1=$(hwm bench)
    check="\"high watermark moved by $((h1 - h0)), $sent messages committed\""
    if [ "$h1" = -1 ] || [ "$h0" = -1 ]; then
      echo "the server did not answer after the run (crashed?)" >> "$d/trouble.txt"
    elif [ $((h1 - h0)) -ne "$sent" ]; then
      echo "high watermark moved by $((h1 - h0)), but $sent messages were committed" >> "$d/trouble.txt"
    fi
    [ "$client_ok" = 1 ] || echo "the client failed: $(grep -m1 -E 'ERROR|error' "$d/client.out")" >> "$d/trouble.txt"
  fi
  if [ -s "$d/trouble.txt" ]; then
    trouble=1
    log "ERROR: nagare misbehaved during $(basename "$d"):"
    sed 's/^/      /' "$d/trouble.txt" >&2
    check="$(python3 -c 'import json,sys; print(json.dumps("BROKER TROUBLE: " + sys.argv[1]))' "$(paste -sd' ' "$d/trouble.txt")")"
  elif [ "$client_ok" != 1 ]; then
    cat "$d/client.out" >&2
    server_failed "the client failed ($(basename "$d"))"
  fi
}

# one pgbench measurement: group system clients msgs run profile
run_pgbench() {
  local group=$1 system=$2 clients=$3 msgs=$4 run=$5 prof=${6:-0}
  local script="$work/scripts/${group%-c*}-$system.sql"
  local d="$work/res/$group.$system.r$run"
  local dur=$DURATION trace=0
  if [ "$prof" = 1 ]; then
    d="$work/res/profile.$group.$system"
    dur=$((PROFILE_SECONDS + 5))
    [ "$group" = single-c1 ] && trace=$TRACE
  fi
  mkdir -p "$d"; chown postgres: "$d"
  last_dir=$d
  prepare_run
  local h0 ok=1; h0=$(hwm bench)
  as_pg "$bindir/pgbench" -h "$work" -p "$PORT" -n -M prepared -c "$clients" -j $((clients < ncpu ? clients : ncpu)) \
    -T "$dur" -l --log-prefix="$d/pgb" -f "$script" postgres > "$d/client.out" 2>&1 &
  local cpid=$!
  observe $cpid "$dur" "$prof" "$d" $trace
  wait $cpid || ok=0
  local ntx; ntx=$(cat "$d"/pgb.* | wc -l)
  check_run "$d" "$system" $((ntx * msgs)) "$h0" $ok
  write_meta "$d" kind='"pgbench"' group="\"$group\"" system="\"$system\"" label="\"${label[$system]}\"" \
    order="${order[$system]}" clients="$clients" msgs_per_tx="$msgs" run="$run" client_root="$cpid" harness_root=$$ \
    profile="$prof" perf_period_ns=$PERF_PERIOD_NS check="$check" \
    statement="$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "${stmt[${group%-c*}-$system]}")"
  local tps; tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$d/client.out")
  log "  $group ${label[$system]} run $run: $(python3 -c "print(f'{${tps:-0} * $msgs:,.0f}')") msgs/s"
}

# one batchbench measurement: records system(mode) run
run_batch() {
  local n=$1 system=$2 run=$3
  local mode=${system#batch-}
  case $mode in
    nagare) mode=send_batch;; nagare-bin) mode=send_batch_binary;; nagare-agg) mode=send_batch_agg;;
    copy) mode=copy;; copy-bin) mode=copy_binary;;
  esac
  local group="batch-$n"
  local d="$work/res/$group.$system.r$run"
  mkdir -p "$d"; chown postgres: "$d"
  last_dir=$d
  prepare_run
  local h0 ok=1; h0=$(hwm bench)
  as_pg "$work/batchbench" -d "host=$work port=$PORT dbname=postgres" -m $mode -n "$n" \
    -t "$BATCH_DURATION" -o "$d/lat.txt" > "$d/client.out" 2>&1 &
  local cpid=$!
  observe $cpid "$BATCH_DURATION" 0 "$d" 0
  wait $cpid || ok=0
  local ntx; ntx=$(wc -l < "$d/lat.txt")
  check_run "$d" "$system" $((ntx * n)) "$h0" $ok
  [ $ok = 1 ] || echo "0 1" > "$d/client.out"
  write_meta "$d" kind='"batchbench"' group="\"$group\"" system="\"${system#batch-}\"" label="\"${label[$system]}\"" \
    order="${order[$system]}" clients=1 msgs_per_tx="$n" run="$run" client_root="$cpid" harness_root=$$ \
    profile=0 perf_period_ns=$PERF_PERIOD_NS check="$check" statement="\"$mode\""
  log "  $group ${label[$system]} run $run: $(python3 -c "import sys; i, s = open(sys.argv[1]).read().split()[:2]; print(f'{int(i) * $n / float(s):,.0f}')" "$d/client.out") msgs/s"
}

# measure COST_SECONDS FUNCTION ARGS...: run a measurement.  When nagare
# misbehaved, keep the evidence, restart the server and measure again (at most
# four times); when other processes disturbed it, measure again while the retry
# budget lasts.
broken=0
measure() {
  local cost=$1; shift
  local attempt=0 broke=0 f
  while :; do
    "$@"
    if [ "$trouble" = 1 ]; then
      broken=$((broken + 1))
      broke=$((broke + 1))
      mv "$last_dir" "$last_dir.broken$broke"
      restart_server
      [ $broke -le 4 ] || server_failed "nagare keeps failing"
      continue
    fi
    f=$(python3 "$here/analyze.py" foreign "$last_dir")
    measure_again "$f" "$cost" "$last_dir" || break
  done
}

broker_trouble >/dev/null	# what setup logged is not a run's trouble
for run in $(seq "$RUNS"); do
  log "run $run of $RUNS"
  [ "$run" = 1 ] || restart_server
  if has "$SCENARIOS" single; then
    for c in 1 4; do
      for s in nagare insert pgq; do measure "$DURATION" run_pgbench "single-c$c" $s $c 1 "$run"; done
    done
  fi
  if has "$SCENARIOS" multi; then
    for s in nagare nagare-lateral insert pgq; do measure "$DURATION" run_pgbench multi $s 1 1000 "$run"; done
  fi
  if has "$SCENARIOS" batch; then
    for n in 1000 10000; do
      for s in batch-nagare batch-nagare-bin batch-nagare-agg batch-copy batch-copy-bin; do
        measure "$BATCH_DURATION" run_batch $n $s "$run"
      done
    done
  fi
done

if [ "$PROFILE" = 1 ]; then
  log "profiles"
  for g in single-c1 multi; do
    has "$SCENARIOS" "${g%-c1}" || continue
    for s in nagare insert pgq; do
      measure $((PROFILE_SECONDS + 5)) run_pgbench $g $s 1 $([ $g = multi ] && echo 1000 || echo 1) 0 1
      d="$work/res/profile.$g.$s"
      perf script -i "$d/perf.data" -F tid,time,ip,sym,dso > "$d/perf.txt" 2>/dev/null || true
      if [ -f "$d/trace.data" ]; then
        perf script -i "$d/trace.data" -F comm,tid,cpu,time,event,trace > "$d/trace.txt" 2>/dev/null || true
      fi
      rm -f "$d/perf.data" "$d/trace.data"
    done
  done
fi

# ---------------------------------------------------------------- report
mkdir -p "$repo/bench/results"
out="$repo/bench/results/send-$(date +%Y-%m-%dT%H%M%S).json"
python3 "$here/analyze.py" report "$work" "$out"
echo "total time: $(( $(date +%s) - started )) s"
