#!/usr/bin/env bash
# nagare.publish() and table topics beside PgQ, a plain outbox table and
# wal2json, all measured in the same run on the same scratch cluster:
# per-message cost end to end (committed to consumable) in 1000-message and
# one-message transactions, one-message commit latency, commit-to-consumable
# latency at a fixed rate, and change data capture throughput.  See
# bench/publish/README.md.
#
# Run as root on Debian 12, with nagare installed (make && make install, or
# scripts/run.sh; this script does not build it):
#
#   bench/publish/run.sh
#
# Environment:
#   RUNS=3               runs of every measurement, interleaved
#   SCENARIOS="multi single pipe latency cdc"
#   MULTI_TX=200         scenario 1: transactions of 1000 messages per run
#   DURATION=5           scenario 2a: seconds per pgbench run
#   PIPE_SECONDS=3       scenario 2b: seconds per pipelined run...
#   PIPE_DEPTH=100       ...with this many transactions in flight
#   LAT_SECONDS=10       scenario 3: seconds per run...
#   LAT_RATE=1000        ...at this many transactions per second...
#   LAT_CONNS=8          ...over this many connections
#   POLL_US=500          how long the consumer of scenario 3 sleeps when it
#                        found nothing new
#   HWM_POLL_US=5000     how long the end-to-end waits sleep between two looks
#                        at a topic's high watermark (or wal2json's file)
#   CDC_ROWS=100000      scenario 4: rows inserted, then updated...
#   CDC_BATCH=10000      ...this many per transaction
#   WAIT_MAX=60          seconds to wait for records to become consumable
#                        before calling them lost
#   NOISE_PCT=10         a run during which other processes used more than
#                        this share of the machine's CPU is measured again...
#   RETRY_BUDGET=60      ...as long as the extra runs fit in this many seconds
#   SHARED_BUFFERS=1GB
#   PORT=55700
#   EXTRA_CONF=""        more postgresql.conf lines
#   INSTALL=1            0: do not apt-get install anything
#   KEEP=0               1: keep the scratch directory (server log, results)
#
# Prints one table per scenario and the goals, and writes
# bench/results/publish-<date>.json.
set -Eeuo pipefail

RUNS=${RUNS:-3}
SCENARIOS=${SCENARIOS:-"multi single pipe latency cdc"}
MULTI_TX=${MULTI_TX:-200}
DURATION=${DURATION:-5}
PIPE_SECONDS=${PIPE_SECONDS:-3}
PIPE_DEPTH=${PIPE_DEPTH:-100}
LAT_SECONDS=${LAT_SECONDS:-10}
LAT_RATE=${LAT_RATE:-1000}
LAT_CONNS=${LAT_CONNS:-8}
POLL_US=${POLL_US:-500}
HWM_POLL_US=${HWM_POLL_US:-5000}
CDC_ROWS=${CDC_ROWS:-100000}
CDC_BATCH=${CDC_BATCH:-10000}
WAIT_MAX=${WAIT_MAX:-60}
NOISE_PCT=${NOISE_PCT:-10}
RETRY_BUDGET=${RETRY_BUDGET:-60}
SHARED_BUFFERS=${SHARED_BUFFERS:-1GB}
PORT=${PORT:-55700}
INSTALL=${INSTALL:-1}
KEEP=${KEEP:-0}

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$here/../lib.sh"
pg_port=$PORT	# sql's

need_root
for s in $SCENARIOS; do [[ $s =~ ^(multi|single|pipe|latency|cdc)$ ]] || die "unknown scenario $s"; done

# ---------------------------------------------------------------- packages
if [ "$INSTALL" = 1 ]; then
  # postgresql-15 has pgbench and pg_recvlogical; util-linux has setpriv
  missing_pkgs gcc libc6-dev libpq-dev python3 procps util-linux postgresql-15 postgresql-15-pgq3 postgresql-15-wal2json
  install_missing || die "cannot install ${missing[*]}"
fi
find_pg
need_nagare
[ -f "$pkglibdir/wal2json.so" ] || die "wal2json is not installed (postgresql-15-wal2json)"
[ -f "$(pg_config --sharedir)/extension/pgq.control" ] || die "PgQ is not installed (postgresql-15-pgq3)"

# ---------------------------------------------------------------- scratch
ncpu=$(nproc)
pm_pid="" recv_pid=""
stop_extras() {	# cleanup (lib.sh) calls this first: the pg_recvlogical of a wal2json run
  [ -n "$recv_pid" ] && kill "$recv_pid" 2>/dev/null || true
}
scratch_dir nagare-pbench
mkdir -p "$work/res" "$work/tmp"
chown -R postgres: "$work"
conninfo="host=$work port=$PORT dbname=postgres"

log "building pubbench"
gcc -O2 -Wall -o "$work/pubbench" "$here/pubbench.c" -I"$(pg_config --includedir)" -lpq -lm -lpthread

log "scratch cluster in $work (port $PORT)"
as_pg "$bindir/initdb" -D "$work/data" -U postgres -A trust >/dev/null
plugin_libs=""
if "$bindir/postgres" --describe-config 2>/dev/null | grep '^output_plugin_libraries' >/dev/null; then
  # PostgreSQL 15.19 and later load only the output plugins named here
  plugin_libs="output_plugin_libraries = 'pgoutput, test_decoding, nagare, wal2json'"
fi
cat >> "$work/data/postgresql.conf" <<EOF
# bench/publish/run.sh
port = $PORT
listen_addresses = ''
unix_socket_directories = '$work'
shared_preload_libraries = 'nagare'
wal_level = logical
$plugin_libs
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
nagare.request_timeout = 10s
${EXTRA_CONF:-}
EOF
start_server() {
  as_pg "$bindir/pg_ctl" -D "$work/data" -l "$work/server.log" -w -t 120 start >/dev/null \
    || { tail -30 "$work/server.log"; die "PostgreSQL did not start"; }
  pm_pid=$(head -1 "$work/data/postmaster.pid")
}
start_server

value=$(printf 'v%.0s' $(seq 100))
sql >/dev/null <<EOF
CREATE EXTENSION nagare;
CREATE EXTENSION pgq;
SELECT nagare.create_topic('bench', 1);
SELECT nagare.create_topic('lat', 1);
SELECT nagare.create_topic('poke', 1);
-- the outbox: what an application writes instead of publishing
CREATE TABLE outbox (id bigserial PRIMARY KEY, topic text NOT NULL, key text, value text);
-- PgQ: a queue with one consumer; the ticker ticks for any new event (the
-- default waits for 500 events or 3 s)
SELECT pgq.create_queue('bench');
SELECT pgq.register_consumer('bench', 'bench');
SELECT pgq.set_queue_config('bench', 'ticker_max_count', '1');
-- CDC: the same table twice, one with a topic, one for wal2json
CREATE TABLE cdc_nagare (id bigint PRIMARY KEY, v text, n int);
CREATE TABLE cdc_w2j (id bigint PRIMARY KEY, v text, n int);
SELECT nagare.create_table_topic('cdc_nagare', 'cdc', 1, false);
EOF
# the ingest worker creates its slot: wait for it, and for publish() to work
ok=0
for _ in $(seq 150); do
  if [ "$(sql -c "SELECT count(*) FROM nagare.ingest" 2>/dev/null)" = 1 ] \
     && sql -c "SELECT nagare.publish('poke', NULL, 'warm-up'::text)" >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.2
done
[ $ok = 1 ] || { tail -20 "$work/server.log"; die "nagare.publish() does not work (no slot in nagare.ingest?)"; }
# PgQ: one event through the ticker, so every batch's sequence range is exact
sql >/dev/null <<'EOF'
SELECT pgq.insert_event('bench', 'ev', 'warm-up');
SELECT pgq.ticker('bench');
SELECT pgq.finish_batch(pgq.next_batch('bench', 'bench'));
EOF
pgq_events=$(sql -c "SELECT string_agg(format('%s_%s', queue_data_pfx, n), ', ') FROM pgq.queue, generate_series(0, queue_ntables - 1) n WHERE queue_name = 'bench'")
io_method=$(io_method)

check_busy

# ---------------------------------------------------------------- settings
rev="commit $(src_rev "uncommitted changes in the work tree"); $(nagare_so); io_method $io_method"
pgver=$(pg_version)
python3 - "$work/settings.json" <<EOF
import json, sys
cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")]
mem = int(open("/proc/meminfo").readline().split()[1]) // 1024
json.dump({
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "host": f"$(uname -r), $ncpu CPUs ({cpu[0] if cpu else '?'}), {mem} MB",
  "nagare": "$rev",
  "postgres": "PostgreSQL $pgver, wal_level=logical, synchronous_commit=on, fsync=on, shared_buffers=$SHARED_BUFFERS",
  "peers": "PgQ $(pkgver postgresql-15-pgq3) (ticked by the benchmark), outbox table (bigserial primary key), wal2json $(pkgver postgresql-15-wal2json) through pg_recvlogical",
  "payload": "100-byte value, key = the message's number as text (PgQ: in ev_extra1)",
  "busy_before_pct": $busy_before,
  "runs": $RUNS, "duration": $DURATION, "multi_tx": $MULTI_TX, "pipe_seconds": $PIPE_SECONDS,
  "pipe_depth": $PIPE_DEPTH, "lat_seconds": $LAT_SECONDS, "lat_rate": $LAT_RATE, "lat_conns": $LAT_CONNS,
  "poll_us": $POLL_US, "hwm_poll_us": $HWM_POLL_US, "cdc_rows": $CDC_ROWS, "cdc_batch": $CDC_BATCH, "wait_max": $WAIT_MAX,
  "noise_pct": $NOISE_PCT, "scenarios": "$SCENARIOS", "extra_conf": """${EXTRA_CONF:-}""",
}, open(sys.argv[1], "w"), indent=1)
EOF

# ---------------------------------------------------------------- helpers
declare -A label order
label[publish]="nagare publish()"; order[publish]=1
label[pgq]="PgQ insert_event"; order[pgq]=2
label[outbox]="outbox INSERT"; order[outbox]=3
label[nagare]="nagare table topic"; order[nagare]=1
label[wal2json]="wal2json (pg_recvlogical)"; order[wal2json]=2

rfield() { python3 "$here/pbench.py" field "$@"; }
set_field() {	# file key json-value
  python3 - "$@" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); r[sys.argv[2]] = json.loads(sys.argv[3])
json.dump(r, open(sys.argv[1], "w"))
EOF
}
jstr() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }

# Wait until the ingest worker has decoded everything written so far: publish
# a record (its commit wakes the worker) and wait for the slot to pass it.
# Once it has failed to, the waits are short (wait_now), so that a stuck
# worker does not make the benchmark last an hour.
wait_now=$WAIT_MAX
ingest_paused=0		# 1 while wal2json is measured (see ingest_pause)
ingest_settle() {
  local lsn ok=0 t0=$SECONDS
  lsn=$(sql -c "BEGIN" -c "SELECT nagare.publish('poke', NULL, 'settle'::text)" -c "SELECT pg_current_wal_insert_lsn()" -c "COMMIT" 2>/dev/null | tail -1) || lsn=""
  [ -n "$lsn" ] || { log "    publish() fails: cannot settle the ingest worker"; return 1; }
  while [ $((SECONDS - t0)) -lt "$wait_now" ]; do
    if [ "$(sql -c "SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = 'nagare'")" = t ]; then
      ok=1; break
    fi
    sleep 0.1
  done
  if [ $ok = 0 ]; then
    local t="before a run: the ingest worker did not pass $lsn within $wait_now s (nagare.ingest: $(sql -c "SELECT row(i.*) FROM nagare.ingest i" 2>/dev/null))"
    log "    TROUBLE: $t"
    echo "$t" >> "$work/harness-trouble.txt"
    wait_now=10
    return 1
  fi
}

# same starting point for every run: empty tables and queue, nothing dirty
# (in PostgreSQL or in the page cache), the ingest worker idle
prepare_run() {
  sync
  if ! sql -c "TRUNCATE outbox, cdc_nagare, cdc_w2j, $pgq_events" -c "CHECKPOINT" >/dev/null 2>&1; then
    log "    the server is not answering: restarting it"
    as_pg "$bindir/pg_ctl" -D "$work/data" -m immediate -w -t 120 stop >/dev/null 2>&1 || true
    start_server
    sql -c "TRUNCATE outbox, cdc_nagare, cdc_w2j, $pgq_events" -c "CHECKPOINT" >/dev/null
  fi
  [ "$ingest_paused" = 1 ] || ingest_settle || true
}

# the server log since the last look: nagare's complaints and crashes
log_seen=0
new_log_trouble() {
  local n; n=$(wc -l < "$work/server.log")
  sed -n "$((log_seen + 1)),${n}p" "$work/server.log" \
    | grep -E "ERROR|WARNING|PANIC|FATAL|terminated by signal|exited with exit code|are missing|corrupted nagare|timed out waiting" \
    | grep -v "waiting: output_plugin_libraries does not name nagare" | head -5 || true
  log_seen=$n
}

# measure FILE COST SYSTEM CONSUMER_PID KEY=VALUE... -- COMMAND...: run a
# measurement under pbench.py (CPU and noise), check what nagare did, and
# measure again when other processes disturbed it and the budget allows
measure() {
  local f=$1 cost=$2 system=$3 consumer=$4; shift 4
  local sets=() extra=()
  while [ "$1" != -- ]; do
    if [[ $1 == pgbench=* ]]; then extra=(--pgbench "${1#pgbench=}"); else sets+=(--set "$1"); fi
    shift
  done
  shift
  local attempt=0 noise trouble err
  while :; do
    attempt_h0=$(hwm bench)
    python3 "$here/pbench.py" run "$f" --pg "$pm_pid" --consumer "$consumer" "${extra[@]}" "${sets[@]}" -- "$@" || true
    trouble=""
    err=$(rfield "$f" error)
    [ -z "$err" ] || trouble="$err"
    check_run "$f" "$system"
    # not in a subshell: new_log_trouble moves log_seen on
    new_log_trouble > "$work/tmp/log-trouble.txt"
    local lt; lt=$(cat "$work/tmp/log-trouble.txt")
    [ -z "$lt" ] || trouble="${trouble:+$trouble; }server log: $(echo "$lt" | sed -E 's/^[0-9-]+ [0-9:.]+ [A-Z]+ \[[0-9]+\] //' | paste -sd'|')"
    if [ -n "$trouble" ]; then
      log "    TROUBLE: $trouble"
      set_field "$f" trouble "$(jstr "$trouble")"
    fi
    noise=$(rfield "$f" noise_pct)
    measure_again "${noise%.*}" "$cost" "$f" || break
    prepare_run
  done
}

# what nagare should have done in this run; appends to $trouble
check_run() {
  local f=$1 system=$2 a b
  case $system in
    publish)
      a=$(rfield "$f" hwm_moved); b=$(rfield "$f" msgs)
      if [ -n "$a" ] && [ "$a" != "$b" ]; then
        trouble="${trouble:+$trouble; }the topic's high watermark moved by $a, but $b messages were committed"
      fi;;
    nagare)
      a=$(rfield "$f" out); b=$(rfield "$f" changes)
      if [ -n "$a" ] && [ "$a" != "$b" ]; then
        trouble="${trouble:+$trouble; }the topic got $a records for $b changes"
      fi;;
    latency)
      a=$(rfield "$f" missing); b=$(rfield "$f" duplicates)
      if [ "${a:-0}" != 0 ] || [ "${b:-0}" != 0 ] || [ "$(rfield "$f" stray)" != 0 ]; then
        trouble="${trouble:+$trouble; }$a message(s) never read, $b read twice, $(rfield "$f" stray) unknown"
      fi;;
  esac
}

# ---------------------------------------------------------------- scenarios
mkdir -p "$work/scripts"
cat > "$work/scripts/single-publish.sql" <<EOF
\set k random(1, 1000000000)
BEGIN;
SELECT nagare.publish('bench', :k::text, '$value'::text);
COMMIT;
EOF
cat > "$work/scripts/single-outbox.sql" <<EOF
\set k random(1, 1000000000)
BEGIN;
INSERT INTO outbox (topic, key, value) VALUES ('bench', :k::text, '$value');
COMMIT;
EOF
cat > "$work/scripts/single-pgq.sql" <<EOF
\set k random(1, 1000000000)
BEGIN;
SELECT pgq.insert_event('bench', 'ev', '$value', :k::text, NULL, NULL, NULL);
COMMIT;
EOF
chown -R postgres: "$work/scripts"

run_multi() {	# run system
  local f="$work/res/multi.$1.r$2.json"
  prepare_run
  measure "$f" 15 "$1" "" scenario=multi system="$1" run="$2" label="${label[$1]}" order="${order[$1]}" -- \
    runuser -u postgres -- "$work/pubbench" -d "$conninfo" -m multi -s "$1" -n 1000 -x "$MULTI_TX" -q bench -p "$POLL_US" -P "$HWM_POLL_US" -W "$wait_now"
  log "  multi ${label[$1]} run $2: $(rfield "$f" e2e_msgs_per_s) msgs/s end to end, $(rfield "$f" commit_msgs_per_s) committed"
}

run_pipe() {	# run system
  local f="$work/res/pipe.$1.r$2.json"
  prepare_run
  measure "$f" "$PIPE_SECONDS" "$1" "" scenario=pipe system="$1" run="$2" label="${label[$1]}" order="${order[$1]}" -- \
    runuser -u postgres -- "$work/pubbench" -d "$conninfo" -m pipe -s "$1" -t "$PIPE_SECONDS" -w "$PIPE_DEPTH" -q bench -p "$POLL_US" -P "$HWM_POLL_US" -W "$wait_now"
  log "  pipe ${label[$1]} run $2: $(rfield "$f" e2e_msgs_per_s) msgs/s end to end, $(rfield "$f" commit_msgs_per_s) committed"
}

run_single() {	# run system
  local f="$work/res/single.$1.r$2.json" d="$work/tmp/single.$1.r$2" h0 n w
  mkdir -p "$d"; chown postgres: "$d"
  prepare_run
  measure "$f" "$DURATION" "$1" "" scenario=single system="$1" run="$2" label="${label[$1]}" order="${order[$1]}" \
    pgbench="$d/pgb" -- \
    runuser -u postgres -- "$bindir/pgbench" -h "$work" -p "$PORT" -n -M prepared -c 1 -j 1 -T "$DURATION" -r -l --log-prefix="$d/pgb" \
      -f "$work/scripts/single-$1.sql" postgres
  if [ "$1" = publish ]; then
    # every committed message must reach the topic, once
    h0=$attempt_h0
    n=$(rfield "$f" transactions)
    w=$(as_pg "$work/pubbench" -d "$conninfo" -m wait -q bench -X $((h0 + n)) -p "$POLL_US" -P "$HWM_POLL_US" -W "$wait_now")
    set_field "$f" after "$w"
    if [ "$(echo "$w" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hwm"])')" != $((h0 + n)) ]; then
      local t="the topic's high watermark moved by $(( $(echo "$w" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hwm"])') - h0 )), but $n messages were committed"
      log "    TROUBLE: $t"
      set_field "$f" trouble "$(jstr "$t")"
    fi
  fi
  log "  single ${label[$1]} run $2: p50 $(rfield "$f" p50_ms) ms, p99 $(rfield "$f" p99_ms) ms"
}

run_latency() {	# run
  local f="$work/res/latency.publish.r$1.json"
  prepare_run
  measure "$f" "$LAT_SECONDS" latency "" scenario=latency system=publish run="$1" label="${label[publish]}" order=1 -- \
    runuser -u postgres -- "$work/pubbench" -d "$conninfo" -m latency -q lat -r "$LAT_RATE" -c "$LAT_CONNS" -t "$LAT_SECONDS" \
      -p "$POLL_US" -P "$HWM_POLL_US" -W "$wait_now" -o "$work/tmp/lat.r$1"
  [ -f "$work/tmp/lat.r$1" ] && mv "$work/tmp/lat.r$1" "${f%.json}.lat"
  log "  latency run $1: commit-to-consumable p50 $(rfield "$f" c2c_p50_ms) ms, p99 $(rfield "$f" c2c_p99_ms) ms at $(rfield "$f" rate)/s"
}

# nagare's ingest worker stops decoding while wal2json is measured (so that
# each is measured alone), by taking nagare out of output_plugin_libraries
ingest_pause() {
  [ -n "$plugin_libs" ] || return 0
  ingest_paused=1
  sql -c "ALTER SYSTEM SET output_plugin_libraries = pgoutput, test_decoding, wal2json" -c "SELECT pg_reload_conf()" >/dev/null
  sleep 0.5
}
ingest_resume() {
  [ -n "$plugin_libs" ] || return 0
  ingest_paused=0
  sql -c "ALTER SYSTEM RESET output_plugin_libraries" -c "SELECT pg_reload_conf()" >/dev/null
  sleep 0.2
  ingest_settle || true
}

run_cdc() {	# run system
  local f="$work/res/cdc.$1.r$2.json"
  prepare_run
  if [ "$1" = nagare ]; then
    measure "$f" 10 nagare "" scenario=cdc system=nagare run="$2" label="${label[nagare]}" order=1 -- \
      runuser -u postgres -- "$work/pubbench" -d "$conninfo" -m cdc -s nagare -T cdc_nagare -q cdc -n "$CDC_ROWS" -b "$CDC_BATCH" \
        -p "$POLL_US" -P "$HWM_POLL_US" -W "$wait_now"
  else
    local out="$work/tmp/w2j.json"
    ingest_pause
    sql -c "SELECT pg_drop_replication_slot('w2j') FROM pg_replication_slots WHERE slot_name = 'w2j'" >/dev/null
    sql -c "SELECT 1 FROM pg_create_logical_replication_slot('w2j', 'wal2json')" >/dev/null
    rm -f "$out"; touch "$out"; chown postgres: "$out"
    # setpriv execs pg_recvlogical itself: $! is its pid
    setpriv --reuid=postgres --regid=postgres --init-groups "$bindir/pg_recvlogical" -h "$work" -p "$PORT" -d postgres \
      -S w2j --start -o format-version=2 -o include-xids=1 -o include-timestamp=1 -o include-lsn=1 \
      -f "$out" 2>"$work/tmp/pg_recvlogical.err" &
    recv_pid=$!
    for _ in $(seq 100); do
      [ "$(sql -c "SELECT active FROM pg_replication_slots WHERE slot_name = 'w2j'")" = t ] && break
      sleep 0.05
    done
    measure "$f" 10 wal2json "$recv_pid" scenario=cdc system=wal2json run="$2" label="${label[wal2json]}" order=2 -- \
      runuser -u postgres -- "$work/pubbench" -d "$conninfo" -m cdc -s wal2json -T cdc_w2j -f "$out" -n "$CDC_ROWS" -b "$CDC_BATCH" \
        -p "$POLL_US" -P "$HWM_POLL_US" -W "$wait_now"
    kill -INT "$recv_pid" 2>/dev/null || true
    wait "$recv_pid" 2>/dev/null || true
    recv_pid=""
    sql -c "SELECT pg_drop_replication_slot('w2j')" >/dev/null
    rm -f "$out"
    ingest_resume
  fi
  log "  cdc ${label[$1]} run $2: $(rfield "$f" e2e_changes_per_s) changes/s end to end"
}

new_log_trouble >/dev/null	# what setup logged is not a run's trouble (not in a subshell: log_seen moves on)
for run in $(seq "$RUNS"); do
  log "run $run of $RUNS"
  if has "$SCENARIOS" multi; then
    for s in $(rotate "$run" publish pgq outbox); do run_multi "$s" "$run"; done
  fi
  if has "$SCENARIOS" single; then
    for s in $(rotate "$run" publish outbox pgq); do run_single "$s" "$run"; done
  fi
  if has "$SCENARIOS" pipe; then
    for s in $(rotate "$run" publish pgq outbox); do run_pipe "$s" "$run"; done
  fi
  if has "$SCENARIOS" latency; then
    run_latency "$run"
  fi
  if has "$SCENARIOS" cdc; then
    for s in $(rotate "$run" nagare wal2json); do run_cdc "$s" "$run"; done
  fi
done

# ---------------------------------------------------------------- report
# what the server log says (other than the usual start-up lines), and how
# often logical decoding started (the ingest worker logs it at every pass)
{
  grep -E "ERROR|WARNING|FATAL|PANIC|nagare|starting logical decoding" "$work/server.log" \
    | grep -vE "^\S+ \S+ \S+ \[[0-9]+\] (CONTEXT|DETAIL|HINT|STATEMENT):" \
    | sed -E 's/^[0-9-]+ [0-9:.]+ [A-Z]+ \[[0-9]+\] //' \
    | grep -vE "nagare broker ready|nagare broker: (file I/O|opened|Kafka listener)|created logical replication slot|does not name nagare" \
    | sort | uniq -c | sort -rn | head -12
  echo "      (the server log has $(wc -l < "$work/server.log") lines)"
} > "$work/server-log-summary.txt" || true
mkdir -p "$repo/bench/results"
out="$repo/bench/results/publish-$(date +%Y-%m-%dT%H%M%S).json"
python3 "$here/pbench.py" report "$work" "$out"
echo "total time: $(( $(date +%s) - started )) s"
