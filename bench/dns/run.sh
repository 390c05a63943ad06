#!/usr/bin/env bash
# The registry's DNS server against dnsmasq serving the same names, in one
# run (issue 15's goal: 50,000 queries/s with p99 under 1 ms): 1,000
# passing instances over 100 services, queried with dnsperf over UDP (A and
# SRV, half each, every service alike).  Not in CI (about a minute); its
# last result is in docs/performance.md ("Registry DNS (issue 15)").
#
#   bench/dns/run.sh            (as root, with nagare installed: make install)
#
# PG_CONFIG names another PostgreSQL installation's pg_config (one nagare is
# installed into); SECONDS_RUN (10), RATE (50000 queries/s) and CLIENTS (4
# dnsperf sockets) change the runs; PIN=1 pins each server to the last CPU
# and dnsperf to the others (taskset); RT=1 runs each server and dnsperf
# under the real-time scheduler (SCHED_FIFO, chrt), so that neither waits
# for the other's time slice of the fair scheduler: on two CPUs that slice,
# not the servers' work, is the p99 of the default runs (docs/performance.md).  Installs dnsperf and dnsmasq-base with
# apt-get if they are missing.
#
# It starts a scratch server (nagare preloaded, as the postgres user) and
# dnsmasq on free loopback ports, registers the instances with SQL (10 per
# service, IPv4, no TTL) and writes dnsmasq's config from nagare.instances
# (host-record and srv-host lines, the SRV targets as nagare names them:
# <hex-ip>.addr.dc1.consul).  Then for each server: dnsperf as fast as it
# goes (queries/s), and dnsperf at RATE queries/s with each answer's
# latency (-v), of which it prints p50, p99 and p99.9; and the CPU time
# each server spent per query in the first run (/proc/PID/stat).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../lib.sh
. bench/lib.sh
SECONDS_RUN=${SECONDS_RUN:-10}
RATE=${RATE:-50000}
CLIENTS=${CLIENTS:-4}

[ "$(id -u)" -eq 0 ] || { echo "run.sh: run it as root (it starts the server as postgres)"; exit 1; }
missing_pkgs dnsperf dnsmasq-base bind9-dnsutils
install_missing

work=$(mktemp -d /tmp/nagare-dns.XXXXXX)
chown postgres: "$work"
bindir=$(${PG_CONFIG:-pg_config} --bindir)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pgport=$(free_port)
kport=$(free_port)
dport=$(free_port)
mport=$(free_port)
as_pg() { su postgres -s /bin/bash -c "$*"; }
psql_() { as_pg "psql -X -h $work -p $pgport -d postgres -Atc \"$1\""; }

cleanup() {
  [ -n "${mpid:-}" ] && kill "$mpid" 2>/dev/null || true
  as_pg "$bindir/pg_ctl -D $work/data -m immediate stop" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

as_pg "$bindir/initdb -D $work/data" >/dev/null
cat >>"$work/data/postgresql.conf" <<CONF
port = $pgport
unix_socket_directories = '$work'
listen_addresses = ''
shared_preload_libraries = 'nagare'
nagare.listen_addresses = '127.0.0.1'
nagare.port = $kport
nagare.http_listen_addresses = ''
nagare.dns_listen_addresses = '127.0.0.1'
nagare.dns_port = $dport
CONF
as_pg "$bindir/pg_ctl -D $work/data -l $work/log -w start" >/dev/null
psql_ "CREATE EXTENSION nagare" >/dev/null
psql_ "SELECT count(nagare.register_service(format('svc%s', lpad(s::text, 3, '0')))) FROM generate_series(0, 99) s" >/dev/null
psql_ "SELECT count(nagare.register_instance(format('svc%s', lpad(s::text, 3, '0')), format('svc%s-%s', s, i),
         address => format('10.%s.%s.%s', s / 100, s % 100, i + 1), port => 8000 + i, status => 'passing'))
       FROM generate_series(0, 99) s, generate_series(0, 9) i" >/dev/null
for _ in $(seq 50); do
  [ "$(dig @127.0.0.1 -p "$dport" +short svc099.service.consul A | wc -l)" = 10 ] && break
  sleep 0.2
done
[ "$(dig @127.0.0.1 -p "$dport" +short svc099.service.consul A | wc -l)" = 10 ] \
  || { echo "run.sh: nagare dns does not answer"; tail "$work/log"; exit 1; }

# dnsmasq: the same names, records and SRV targets
psql_ "SELECT format('host-record=%s.service.consul,%s', service, address) FROM nagare.instances
       UNION ALL
       SELECT format('srv-host=%s.service.consul,%s.addr.dc1.consul,%s,1,1', service,
                     lpad(to_hex(split_part(address, '.', 1)::int), 2, '0') || lpad(to_hex(split_part(address, '.', 2)::int), 2, '0') ||
                     lpad(to_hex(split_part(address, '.', 3)::int), 2, '0') || lpad(to_hex(split_part(address, '.', 4)::int), 2, '0'),
                     port) FROM nagare.instances
       UNION ALL
       SELECT format('host-record=%s.addr.dc1.consul,%s',
                     lpad(to_hex(split_part(address, '.', 1)::int), 2, '0') || lpad(to_hex(split_part(address, '.', 2)::int), 2, '0') ||
                     lpad(to_hex(split_part(address, '.', 3)::int), 2, '0') || lpad(to_hex(split_part(address, '.', 4)::int), 2, '0'),
                     address) FROM nagare.instances" >"$work/dnsmasq.conf"
dnsmasq -k --conf-file="$work/dnsmasq.conf" --no-resolv --no-hosts --no-poll --local=/consul/ \
  --port="$mport" --listen-address=127.0.0.1 --bind-interfaces --user=root \
  --pid-file="$work/dnsmasq.pid" 2>"$work/dnsmasq.log" & mpid=$!
for _ in $(seq 50); do
  [ "$(dig @127.0.0.1 -p "$mport" +short svc099.service.consul A 2>/dev/null | wc -l)" = 10 ] && break
  sleep 0.1
done

# the queries: every service's A and SRV
for s in $(seq -f '%03g' 0 99); do
  echo "svc$s.service.consul A"
  echo "svc$s.service.consul SRV"
done >"$work/queries"

echo "1,000 instances over 100 services; queries: A and SRV of each service, UDP; dnsperf -c $CLIENTS"
echo "nagare:  $(dig @127.0.0.1 -p "$dport" svc000.service.consul SRV | grep 'MSG SIZE') (SRV answer)"
echo "dnsmasq: $(dig @127.0.0.1 -p "$mport" svc000.service.consul SRV | grep 'MSG SIZE') (SRV answer)"

# the CPU time (clock ticks) a process has used: user, system
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
# queries/s as fast as dnsperf goes: its summary, and the server's CPU time
max_qps() {
  local pid=$3 u0 s0 u1 s1
  read -r u0 s0 < <(cpu_ticks "$pid")
  "${dnsperf[@]}" -s 127.0.0.1 -p "$1" -d "$work/queries" -l "$SECONDS_RUN" -c "$CLIENTS" -q 200 >"$work/max-$2" 2>&1
  read -r u1 s1 < <(cpu_ticks "$pid")
  echo "$((u1 - u0)) $((s1 - s0)) $(getconf CLK_TCK)" >"$work/cpu-$2"
}
# at RATE, each answer's latency (-v)
at_rate() {
  "${dnsperf[@]}" -s 127.0.0.1 -p "$1" -d "$work/queries" -l "$SECONDS_RUN" -c "$CLIENTS" -q 1000 -Q "$RATE" -v \
    >"$work/rate-$2" 2>&1
}
ppid=$(head -1 "$work/data/postmaster.pid")
dpid=$(ps -o pid=,args= --ppid "$ppid" | awk '/nagare dns/ {print $1}')
dnsperf=(dnsperf)
if [ "${PIN:-0}" = 1 ]; then
  last=$(( $(nproc) - 1 ))
  taskset -pc "$last" "$dpid" >/dev/null
  taskset -pc "$last" "$mpid" >/dev/null
  dnsperf=(taskset -c "0-$(( last > 0 ? last - 1 : 0 ))" dnsperf)
  echo "pinned: the servers to CPU $last, dnsperf to the others"
fi
if [ "${RT:-0}" = 1 ]; then
  chrt -f -p 10 "$dpid"
  chrt -f -p 10 "$mpid"
  dnsperf=(chrt -f 10 "${dnsperf[@]}")
  echo "real-time: the servers and dnsperf under SCHED_FIFO (priority 10)"
fi
for who in nagare dnsmasq; do
  port=$dport; pid=$dpid; [ "$who" = dnsmasq ] && { port=$mport; pid=$mpid; }
  max_qps "$port" "$who" "$pid"
  at_rate "$port" "$who"
done
mkdir -p bench/results
result=bench/results/dns-$(date -u +%Y-%m-%dT%H-%M-%S).json
python3 - "$work" "$result" "$RATE" "$SECONDS_RUN" "$CLIENTS" <<'PY'
import json, os, sys
work, result, rate, secs, clients = sys.argv[1:6]


def summary(path):
    qps = lost = done = None
    lat = []
    for line in open(path):
        if line.startswith("> "):
            try:
                lat.append(float(line.split()[-1]) * 1000)
            except ValueError:
                pass  # a query without an answer
        elif "Queries completed" in line:
            done = int(line.split()[2])
        elif "Queries per second" in line:
            qps = float(line.split()[-1])
        elif "Queries lost" in line:
            lost = int(line.split()[2])
    lat.sort()
    pct = lambda p: round(lat[min(len(lat) - 1, int(len(lat) * p))], 3) if lat else None
    return {"qps": round(qps or 0), "lost": lost, "done": done, "p50_ms": pct(0.5), "p99_ms": pct(0.99), "p999_ms": pct(0.999)}


out = {"instances": 1000, "services": 100, "seconds": float(secs), "clients": int(clients), "rate": int(rate),
       "servers": {}}
sched = " (SCHED_FIFO)" if os.environ.get("RT") == "1" else ""
out["scheduler"] = "fifo" if sched else "default"
print("=== Registry DNS: 1,000 instances over 100 services, A and SRV over UDP, dnsperf -c %s, %s s each%s ===" % (clients, secs, sched))
print("%-8s %10s %6s %16s   %s" % ("server", "max q/s", "lost", "CPU us/q usr+sys", "at %s q/s: answered q/s, lost, p50 / p99 / p99.9 ms" % rate))
for who in ("nagare", "dnsmasq"):
    m = summary("%s/max-%s" % (work, who))
    r = summary("%s/rate-%s" % (work, who))
    utk, stk, hz = map(int, open("%s/cpu-%s" % (work, who)).read().split())
    per = lambda t: round(t / hz * 1e6 / m["done"], 1) if m["done"] else None
    cpu = "%s+%s" % (per(utk), per(stk))
    out["servers"][who] = {"max": {"qps": m["qps"], "lost": m["lost"], "cpu_us_per_query_user": per(utk),
                                   "cpu_us_per_query_system": per(stk)}, "at_rate": r}
    print("%-8s %10d %6s %16s   %d q/s, lost %s, %s / %s / %s" % (who, m["qps"], m["lost"], cpu, r["qps"], r["lost"],
                                                              r["p50_ms"], r["p99_ms"], r["p999_ms"]))
n = out["servers"]["nagare"]
ok = n["max"]["qps"] >= 50000 and n["at_rate"]["p99_ms"] is not None and n["at_rate"]["p99_ms"] < 1
print("goal (50,000 q/s, p99 under 1 ms at %s q/s): %s" % (rate, "met" if ok else "missed"))
json.dump(out, open(result, "w"), indent=1)
print("results: %s" % result)
PY
