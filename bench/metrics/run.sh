#!/usr/bin/env bash
# Well-behaved producers while Prometheus-like scrapes of /metrics come in:
# their p99 without and with the scrapes (issue 17's goal: at most 1.1x),
# and how long a scrape takes, with 1,000 partitions and 1,000 clients'
# usage rows in the tables a scrape reads.  Not in CI (about 3 minutes);
# its last result is in docs/performance.md ("Metrics scrapes").
#
#   bench/metrics/run.sh            (as root, with nagare installed: make install)
#
# PG_CONFIG names another PostgreSQL installation's pg_config; RUNS (3),
# SECONDS_RUN (10), RATE (2000 msgs/s) and SCRAPE_INTERVAL (0.5 s: 30
# times Prometheus's default 15 s) change the runs.
#
# It starts a scratch server (nagare preloaded, as the postgres user) on free
# ports, builds bench/suite/rate_load.c (librdkafka), makes a topic of 1,000
# partitions and 1,000 clients (a record each, its own client.id), then
# RUNS times, alternating: 4 producers at a steady RATE in all (1 KiB,
# acks=all, linger.ms=0) for SECONDS_RUN alone, and the same while curl
# fetches /metrics every SCRAPE_INTERVAL.  Prints each pair, then the
# medians: p99 alone, p99 with the scrapes, their ratio, the scrapes' time
# (median and max) and size.
#
# Then what the per-API counting costs the broker (nagare.metrics_api): API_RUNS
# (3) pairs, alternating which goes first, of bench/kafka/nagare_load's
# latency mode (one 100-byte message in flight, linger.ms=0, acks=1: a Produce
# request per message, so the per-request cost shows most) for 5 s with the
# setting on and off; prints each pair's messages/s, p50 and the broker
# process's CPU time (user + system, /proc) per message, then the medians.
# RUNS=0 skips the scrapes, API_RUNS=0 this part.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-3}
SECONDS_RUN=${SECONDS_RUN:-10}
RATE=${RATE:-2000}
SCRAPE_INTERVAL=${SCRAPE_INTERVAL:-0.5}

[ "$(id -u)" -eq 0 ] || { echo "run.sh: run it as root (it starts the server as postgres)"; exit 1; }

work=$(mktemp -d /tmp/nagare-metrics.XXXXXX)
chown postgres: "$work"
bindir=$(${PG_CONFIG:-pg_config} --bindir)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pgport=$(free_port)
kport=$(free_port)
hport=$(free_port)
as_pg() { su postgres -s /bin/bash -c "$*"; }
psql_() { as_pg "psql -X -h $work -p $pgport -d postgres -Atc \"$1\""; }

cleanup() {
  [ -n "${spid:-}" ] && kill "$spid" 2>/dev/null || true
  as_pg "$bindir/pg_ctl -D $work/data -m immediate stop" >/dev/null 2>&1 || true
}
trap cleanup EXIT

cc -O2 -w -o "$work/rate_load" bench/suite/rate_load.c -lrdkafka -lpthread -lm
cc -O2 -w -o "$work/nagare_load" bench/kafka/nagare_load.c -lrdkafka -lm
# confluent-kafka: Debian's python3-confluent-kafka, else scripts/deps.sh's venv
py=/usr/bin/python3
$py -c 'import confluent_kafka' 2>/dev/null || py=${NAGARE_CONFLUENT_VENV:-/opt/nagare-test/confluent-venv}/bin/python
as_pg "$bindir/initdb -D $work/data" >/dev/null
cat >>"$work/data/postgresql.conf" <<CONF
port = $pgport
unix_socket_directories = '$work'
listen_addresses = ''
shared_preload_libraries = 'nagare'
nagare.listen_addresses = '127.0.0.1'
nagare.port = $kport
nagare.http_listen_addresses = '127.0.0.1'
nagare.http_port = $hport
nagare.max_partitions = 4000
CONF
as_pg "$bindir/pg_ctl -D $work/data -l $work/log -w start" >/dev/null
psql_ "CREATE EXTENSION nagare" >/dev/null
psql_ "SELECT nagare.create_topic('good', 4)" >/dev/null
psql_ "SELECT nagare.create_topic('wide', 1000)" >/dev/null
for _ in $(seq 50); do kcat -b 127.0.0.1:$kport -L -t good 2>/dev/null | grep -q 'topic "good" with' && break; sleep 0.2; done

# 1,000 clients, each its own client.id and one record (50 at a time: a
# producer takes most of a second to connect, learn the topic and flush)
$py - "127.0.0.1:$kport" <<'PY'
import sys
from confluent_kafka import Producer
for base in range(0, 1000, 50):
    ps = [Producer({"bootstrap.servers": sys.argv[1], "client.id": "bench-client-%04d" % i,
                    "linger.ms": 0}) for i in range(base, base + 50)]
    for i, p in enumerate(ps):
        p.produce("wide", b"x", partition=(base + i) % 1000)
    for p in ps:
        p.flush(30)
PY

url="http://127.0.0.1:$hport/metrics"
curl -s -o "$work/sample" "$url"
echo "one scrape: $(wc -c <"$work/sample") bytes, $(grep -c '^nagare_' "$work/sample") samples;" \
  "$(psql_ "SELECT count(*) FROM nagare.partitions") partitions, $(psql_ "SELECT count(*) FROM nagare.client_usage") usage rows"

good() {
  "$work/rate_load" -H 127.0.0.1:$kport -t good -p 4 -r "$RATE" -s 1024 -a all \
    -d "$SECONDS_RUN" -W 1 2>/dev/null | tail -1
}
p99() { python3 -c "import json,sys; print(round(json.loads(sys.argv[1])['p99_us']/1000, 2))" "$1"; }
scraper() {
  while :; do
    curl -s -o /dev/null -w '%{time_total}\n' "$url" >>"$work/scrapes"
    sleep "$SCRAPE_INTERVAL"
  done
}

if [ "$RUNS" -gt 0 ]; then
echo "good clients: 4 producers, $RATE msgs/s, 1 KiB, acks=all, ${SECONDS_RUN} s; a scrape every ${SCRAPE_INTERVAL} s"
printf '%-4s %12s %12s %7s\n' run p99_alone p99_with ratio
: >"$work/pairs"
: >"$work/scrapes"
for r in $(seq "$RUNS"); do
  if [ $((r % 2)) -eq 1 ]; then
    a=$(p99 "$(good)")
    scraper & spid=$!
    w=$(p99 "$(good)")
    kill $spid; wait $spid 2>/dev/null || true; spid=
  else
    scraper & spid=$!
    w=$(p99 "$(good)")
    kill $spid; wait $spid 2>/dev/null || true; spid=
    a=$(p99 "$(good)")
  fi
  echo "$a $w" >>"$work/pairs"
  printf '%-4s %9s ms %9s ms %6.2fx\n' "$r" "$a" "$w" "$(python3 -c "print($w / $a)")"
done
python3 - "$work/pairs" "$work/scrapes" <<'PY'
import statistics, sys
pairs = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
scr = sorted(float(l) * 1000 for l in open(sys.argv[2]) if l.strip())
a = statistics.median(p[0] for p in pairs)
w = statistics.median(p[1] for p in pairs)
print("median p99 alone %.2f ms, with scrapes %.2f ms: %.2fx (runs %s)" %
      (a, w, w / a, ", ".join("%.2fx" % (p[1] / p[0]) for p in pairs)))
print("%d scrapes: median %.1f ms, max %.1f ms" % (len(scr), statistics.median(scr), scr[-1]))
PY
fi

# the per-API counting's cost on the hot path (API_RUNS=0: not measured,
# e.g. for a build before nagare.metrics_api)
API_RUNS=${API_RUNS:-3}
[ "$API_RUNS" -gt 0 ] || exit 0
psql_ "SELECT nagare.create_topic('lat', 1)" >/dev/null
broker_pid=$(psql_ "SELECT pid FROM nagare.broker")
ticks() { awk '{print $14 + $15}' /proc/$broker_pid/stat; }
# prints: messages/s, p50 in µs, the broker's CPU (user + system) per message in µs
api() {
  psql_ "ALTER SYSTEM SET nagare.metrics_api = $1" >/dev/null
  psql_ "SELECT pg_reload_conf()" >/dev/null
  sleep 1
  local t0 t1 j
  t0=$(ticks)
  j=$("$work/nagare_load" latency -H 127.0.0.1:$kport -t lat -s 100 -n 100000000 -d 5 -a 1 2>/dev/null | tail -1)
  t1=$(ticks)
  python3 -c "import json,os,sys; j=json.loads(sys.argv[1]); print('%.1f %.1f %.2f' % (j['msgs_per_s'], j['p50_us'], (int(sys.argv[3]) - int(sys.argv[2])) * 1e6 / os.sysconf('SC_CLK_TCK') / max(j['msgs'], 1)))" "$j" "$t0" "$t1"
}
echo "nagare.metrics_api: one 100-byte message in flight, acks=1, 5 s each (broker pid $broker_pid)"
printf '%-4s %11s %11s %9s %9s %11s %11s\n' run on_msgs/s off_msgs/s on_p50us off_p50us on_cpu_us off_cpu_us
: >"$work/api"
for r in $(seq "$API_RUNS"); do
  if [ $((r % 2)) -eq 1 ]; then on=$(api on); off=$(api off); else off=$(api off); on=$(api on); fi
  set -- $on $off
  echo "$1 $4 $2 $5 $3 $6" >>"$work/api"
  printf '%-4s %11s %11s %9s %9s %11s %11s\n' "$r" $(tail -1 "$work/api")
done
python3 - "$work/api" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
m = [statistics.median(r[i] for r in rows) for i in range(6)]
print("medians: messages/s on %.0f, off %.0f (on/off %.3f); p50 on %.1f us, off %.1f us; "
      "broker CPU per message on %.2f us, off %.2f us" % (m[0], m[1], m[0] / m[1], m[2], m[3], m[4], m[5]))
PY
