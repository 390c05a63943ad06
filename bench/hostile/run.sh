#!/usr/bin/env bash
# Well-behaved producers beside hostile clients: their p99 with and without
# each hostile load, and the broker's memory (VmRSS of /proc/<pid>/status)
# under it.  Not in CI (about 4 minutes); its last result is in
# docs/performance.md ("Hostile clients").
#
#   bench/hostile/run.sh            (as root, with nagare installed: make install)
#
# PG_CONFIG names another PostgreSQL installation's pg_config; SECONDS_RUN
# and RATE change the good clients' run.
#
# It starts a scratch server (nagare preloaded, as the postgres user) on free
# ports, builds bench/suite/rate_load.c (librdkafka), and for each hostile
# load runs the good clients alone, then with the load started 2 s before:
# 4 producers at a steady 2,000 msgs/s in all (1 KiB, acks=all, linger.ms=0)
# for SECONDS (default 10), their latency from send to acknowledgement.
# The loads (bench/hostile/hostile.py):
#
#   idle10k   10,000 connections opened at once, each answered, then idle
#   loris     2,000 slow-loris connections (one byte a second, never a whole request)
#   bigloris  200 connections announcing 100 MB requests and sending 1 kB/s
#   giga      a client reconnecting in a loop, each time announcing a 2 GB frame
#   garbage   the same with garbage after a valid header
#
# Prints a table: p99 alone, p99 with the load, their ratio (goal: at most
# 1.5x), p99.9, the broker's CPU (% of one CPU, over each good run: what
# the load costs the broker, which a busy machine's noise does not change
# much), the broker's VmRSS before and under the load.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
SECONDS_RUN=${SECONDS_RUN:-10}
RATE=${RATE:-2000}

[ "$(id -u)" -eq 0 ] || { echo "run.sh: run it as root (it starts the server as postgres)"; exit 1; }
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d /tmp/nagare-hostile.XXXXXX)
chown postgres: "$work"
bindir=$(${PG_CONFIG:-pg_config} --bindir)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pgport=$(free_port)
kport=$(free_port)
as_pg() { su postgres -s /bin/bash -c "$*"; }
psql_() { as_pg "psql -X -h $work -p $pgport -d postgres -Atc \"$1\""; }

cleanup() {
  [ -n "${hpid:-}" ] && kill "$hpid" 2>/dev/null || true
  as_pg "$bindir/pg_ctl -D $work/data -m immediate stop" >/dev/null 2>&1 || true
}
trap cleanup EXIT

cc -O2 -w -o "$work/rate_load" bench/suite/rate_load.c -lrdkafka -lpthread -lm
as_pg "$bindir/initdb -D $work/data" >/dev/null
cat >>"$work/data/postgresql.conf" <<EOF
port = $pgport
unix_socket_directories = '$work'
listen_addresses = ''
shared_preload_libraries = 'nagare'
nagare.listen_addresses = '127.0.0.1'
nagare.port = $kport
nagare.max_connections = 12000
EOF
as_pg "$bindir/pg_ctl -D $work/data -l $work/log -w start" >/dev/null
psql_ "CREATE EXTENSION nagare" >/dev/null
psql_ "SELECT nagare.create_topic('good', 4)" >/dev/null
broker=$(psql_ "SELECT pid FROM nagare.broker")
for _ in $(seq 50); do kcat -b 127.0.0.1:$kport -L -t good 2>/dev/null | grep -q 'topic "good" with' && break; sleep 0.2; done

rss() { awk '/^VmRSS/ {print $2}' /proc/$broker/status; }
# the broker's CPU time so far, in clock ticks (utime + stime)
cpu() { awk '{print $14 + $15}' /proc/$broker/stat; }
tck=$(getconf CLK_TCK)
pct() { python3 -c "print('%.0f%%' % (($2 - $1) * 100.0 / $tck / $3))"; }
good() {
  "$work/rate_load" -H 127.0.0.1:$kport -t good -p 4 -r "$RATE" -s 1024 -a all \
    -d "$SECONDS_RUN" -W 1 2>/dev/null | tail -1
}
field() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); v=d.get('$2'); print('-' if v is None else round(v/1000, 2))" "$1"; }

H="python3 bench/hostile/hostile.py 127.0.0.1 $kport"
hold=$((SECONDS_RUN + 6))
declare -A load=(
  [idle10k]="$H conns 10000 $hold"
  [loris]="$H loris 2000 1 $hold"
  [bigloris]="$H bigloris 200 $hold"
  [giga]="$H storm giga $hold"
  [garbage]="$H storm garbage $hold"
)

echo "broker pid $broker, VmRSS at start $(rss) kB; good clients: 4 producers, $RATE msgs/s, 1 KiB, acks=all, ${SECONDS_RUN} s"
printf '%-9s %10s %10s %7s %12s %12s %9s %9s %10s %10s  %s\n' load p99_alone p99_with ratio p999_alone p999_with cpu_alone cpu_with rss_before rss_under "hostile client's result"
for name in idle10k loris bigloris giga garbage; do
  c0=$(cpu); t0=$(date +%s.%N)
  alone=$(good)
  c1=$(cpu); t1=$(date +%s.%N)
  before=$(rss)
  ${load[$name]} >"$work/$name.out" 2>&1 &
  hpid=$!
  sleep 2
  ( while kill -0 $hpid 2>/dev/null; do r=$(rss); echo "$r"; sleep 1; done ) >"$work/$name.rss" &
  spid=$!
  c2=$(cpu); t2=$(date +%s.%N)
  with=$(good)
  c3=$(cpu); t3=$(date +%s.%N)
  wait $hpid || true
  hpid=
  kill $spid 2>/dev/null || true
  peak=$(sort -n "$work/$name.rss" | tail -1)
  a=$(field "$alone" p99_us); w=$(field "$with" p99_us)
  ratio=$(python3 -c "print('%.2f' % ($w / $a))" 2>/dev/null || echo -)
  cpu_a=$(pct "$c0" "$c1" "$(python3 -c "print($t1 - $t0)")")
  cpu_w=$(pct "$c2" "$c3" "$(python3 -c "print($t3 - $t2)")")
  printf '%-9s %8s ms %8s ms %6sx %9s ms %9s ms %9s %9s %7s kB %7s kB  %s\n' "$name" "$a" "$w" "$ratio" \
    "$(field "$alone" p999_us)" "$(field "$with" p999_us)" "$cpu_a" "$cpu_w" "$before" "${peak:-?}" "$(tail -1 "$work/$name.out")"
  sleep 2
done
echo "broker pid now $(psql_ "SELECT pid FROM nagare.broker") (unchanged: it never restarted), VmRSS $(rss) kB"
echo "the broker's LOG lines about clients (peers as PEER):"
grep -E "refusing|closing connection|not whole|idle longer|not logged|more connections" "$work/log" |
  sed -e 's/^[^]]*] //' -e 's/127\.0\.0\.1:[0-9]*/PEER/g' -e 's/[0-9][0-9]* more/N more/' | cut -c1-170 | sort | uniq -c | sort -rn | head -12
