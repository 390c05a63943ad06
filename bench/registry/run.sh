#!/usr/bin/env bash
# The registry's writes over Consul's HTTP API: how many heartbeats a second
# the http process takes, how many registrations, and well-behaved
# producers' p99 alone and while 10,000 instances each pass their TTL check
# every 5 s (issue 15's goal: at most 1.2x).  Not in CI (about 3 minutes);
# its last result is in docs/performance.md ("Registry heartbeats").
#
#   bench/registry/run.sh            (as root, with nagare installed: make install)
#
# PG_CONFIG names another PostgreSQL installation's pg_config; RUNS (5),
# SECONDS_RUN (10), RATE (2000 msgs/s), INSTANCES (10000) and BEAT_EVERY
# (5 s) change the runs.
#
# It starts a scratch server (nagare preloaded, as the postgres user) on free
# ports, builds bench/suite/rate_load.c (librdkafka) and
# bench/registry/beat_load.c, registers the service "bench" and INSTANCES
# instances with a 60 s TTL, then:
#   - registrations: 1,000 PUT /v1/agent/service/register over one
#     keep-alive connection, and 1,000 nagare.register_instance() calls,
#     each its own transaction, over one psql session;
#   - heartbeats: beat_load offering 20,000 beats/s for 5 s over 4
#     connections (what the http process takes);
#   - RUNS times, alternating: 4 producers at a steady RATE in all (1 KiB,
#     acks=all, linger.ms=0) for SECONDS_RUN alone, and the same while every
#     instance beats every BEAT_EVERY seconds (INSTANCES / BEAT_EVERY beats a
#     second over 4 connections, from beat_load at nice 19: it stands in for
#     instances on other machines).  Prints each pair, then the medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-5}
SECONDS_RUN=${SECONDS_RUN:-10}
RATE=${RATE:-2000}
INSTANCES=${INSTANCES:-10000}
BEAT_EVERY=${BEAT_EVERY:-5}

[ "$(id -u)" -eq 0 ] || { echo "run.sh: run it as root (it starts the server as postgres)"; exit 1; }

work=$(mktemp -d /tmp/nagare-registry.XXXXXX)
chown postgres: "$work"
bindir=$(${PG_CONFIG:-pg_config} --bindir)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pgport=$(free_port)
kport=$(free_port)
hport=$(free_port)
as_pg() { su postgres -s /bin/bash -c "$*"; }
psql_() { as_pg "psql -X -h $work -p $pgport -d postgres -Atc \"$1\""; }

cleanup() {
  [ -n "${bpid:-}" ] && kill "$bpid" 2>/dev/null || true
  as_pg "$bindir/pg_ctl -D $work/data -m immediate stop" >/dev/null 2>&1 || true
}
trap cleanup EXIT

cc -O2 -w -o "$work/rate_load" bench/suite/rate_load.c -lrdkafka -lpthread -lm
cc -O2 -w -o "$work/beat_load" bench/registry/beat_load.c -lpthread
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
nagare.dns_listen_addresses = ''
nagare.max_instances = $((INSTANCES + 4000))
CONF
as_pg "$bindir/pg_ctl -D $work/data -l $work/log -w start" >/dev/null
psql_ "CREATE EXTENSION nagare" >/dev/null
psql_ "SELECT nagare.create_topic('good', 4)" >/dev/null
psql_ "SELECT nagare.register_service('bench')" >/dev/null
psql_ "SELECT count(nagare.register_instance('bench', 'bench-' || i, '10.1.' || (i / 250) || '.' || (i % 250 + 1), 8080, ttl => '60 s', status => 'passing')) FROM generate_series(0, $INSTANCES - 1) i" >/dev/null
for _ in $(seq 50); do kcat -b 127.0.0.1:$kport -L -t good 2>/dev/null | grep -q 'topic "good" with' && break; sleep 0.2; done
echo "$(psql_ "SELECT count(*) FROM nagare.instances WHERE service = 'bench'") instances of service bench"
echo "=== Registry over Consul's HTTP API: registrations, heartbeats, producers' p99 beside $INSTANCES instances beating every ${BEAT_EVERY} s ==="

# registrations: over HTTP (one keep-alive connection), and from SQL
/usr/bin/python3 - "$hport" "$work/reg_http" <<'PY'
import http.client, json, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
t = time.monotonic()
for i in range(1000):
    body = json.dumps({"Name": "bench", "ID": "reg-%d" % i, "Address": "10.2.0.%d" % (i % 250 + 1),
                       "Port": 9000, "Check": {"TTL": "60s"}})
    c.request("PUT", "/v1/agent/service/register", body)
    r = c.getresponse(); r.read()
    if r.status != 200:
        sys.exit("registration answered %d" % r.status)
took = time.monotonic() - t
print("registrations over HTTP: 1000 in %.2f s, %.0f/s (one connection, one at a time)" % (took, 1000 / took))
open(sys.argv[2], "w").write("%.0f" % (1000 / took))
PY
t0=$(date +%s.%N)
seq 0 999 | sed "s/.*/SELECT nagare.register_instance('bench', 'sql-&', '10.3.0.1', 9000, ttl => '60 s');/" \
  | as_pg "psql -X -q -h $work -p $pgport -d postgres" >/dev/null
t1=$(date +%s.%N)
python3 -c "t=$t1-$t0; print('registrations from SQL: 1000 in %.2f s, %.0f/s (one session, a transaction each)' % (t, 1000/t)); open('$work/reg_sql', 'w').write('%.0f' % (1000/t))"

beats() { "$work/beat_load" -H 127.0.0.1:$hport -n "$INSTANCES" -P bench- -c 4 "$@"; }
# the http process's CPU (user + system clock ticks), from /proc
http_pid=$(pgrep -P "$(head -1 "$work/data/postmaster.pid")" -f 'nagare http')
cpu_ticks() { awk '{print $14 + $15}' "/proc/$http_pid/stat"; }
c0=$(cpu_ticks)
beats -r 20000 -d 5 >"$work/max_beats"
echo "heartbeats offered at 20000/s for 5 s over 4 connections: $(cat "$work/max_beats")"
c1=$(cpu_ticks)
echo "the http process's CPU: $(python3 -c "t=($c1-$c0)/$(getconf CLK_TCK); print('%.2f s for 100,000 beats: %.1f us a beat' % (t, t / 100000 * 1e6)); open('$work/beat_cpu', 'w').write('%.1f' % (t / 100000 * 1e6))")"

good() {
  "$work/rate_load" -H 127.0.0.1:$kport -t good -p 4 -r "$RATE" -s 1024 -a all \
    -d "$SECONDS_RUN" -W 1 2>/dev/null | tail -1
}
p99() { python3 -c "import json,sys; print(round(json.loads(sys.argv[1])['p99_us']/1000, 2))" "$1"; }
beat_rate=$((INSTANCES / BEAT_EVERY))
# the beaters stand in for instances on other machines: at nice 19, their
# own CPU is not taken from the broker as nagare's cost
beater() { nice -n 19 "$work/beat_load" -H 127.0.0.1:$hport -n "$INSTANCES" -P bench- -c 4 \
  -r "$beat_rate" -d $((SECONDS_RUN + 3)) >>"$work/beats"; }

echo "good clients: 4 producers, $RATE msgs/s, 1 KiB, acks=all, ${SECONDS_RUN} s;" \
  "beside: $INSTANCES instances beating every ${BEAT_EVERY} s ($beat_rate beats/s)"
printf '%-4s %12s %12s %7s\n' run p99_alone p99_with ratio
: >"$work/pairs"
: >"$work/beats"
for r in $(seq "$RUNS"); do
  if [ $((r % 2)) -eq 1 ]; then
    a=$(p99 "$(good)")
    beater & bpid=$!
    w=$(p99 "$(good)")
    wait $bpid; bpid=
  else
    beater & bpid=$!
    w=$(p99 "$(good)")
    wait $bpid; bpid=
    a=$(p99 "$(good)")
  fi
  echo "$a $w" >>"$work/pairs"
  printf '%-4s %9s ms %9s ms %6.2fx\n' "$r" "$a" "$w" "$(python3 -c "print($w / $a)")"
done
mkdir -p bench/results
result=bench/results/registry-$(date -u +%Y-%m-%dT%H-%M-%S).json
python3 - "$work/pairs" "$work/beats" "$work" "$result" <<'PY'
import json, statistics, sys
pairs = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
beats = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
work, result = sys.argv[3], sys.argv[4]
a = statistics.median(p[0] for p in pairs)
w = statistics.median(p[1] for p in pairs)
print("median p99 alone %.2f ms, beside the heartbeats %.2f ms: %.2fx (runs %s)" %
      (a, w, w / a, ", ".join("%.2fx" % (p[1] / p[0]) for p in pairs)))
print("heartbeats: %s/s achieved, %d not answered 200; a beat's p50 %s us, p99 %s us (runs)" %
      (", ".join(str(b["rate"]) for b in beats), sum(b["other"] for b in beats),
       "/".join(str(b["p50_us"]) for b in beats), "/".join(str(b["p99_us"]) for b in beats)))
ratio = w / a
print("goal (producers' p99 beside the heartbeats at most 1.2x alone): %s" % ("met" if ratio <= 1.2 else "missed"))
json.dump({"registrations_http_per_s": float(open(work + "/reg_http").read()),
           "registrations_sql_per_s": float(open(work + "/reg_sql").read()),
           "beats_max": json.loads(open(work + "/max_beats").read()),
           "beat_cpu_us": float(open(work + "/beat_cpu").read()),
           "p99_alone_ms": a, "p99_beside_ms": w, "ratio": ratio,
           "runs": [{"alone_ms": p[0], "beside_ms": p[1]} for p in pairs], "beats": beats},
          open(result, "w"), indent=1)
print("results: %s" % result)
PY
echo "instances of the beaters not passing at the end: $(psql_ "SELECT count(*) FROM nagare.instances WHERE id LIKE 'bench-%' AND status <> 'passing'")"
