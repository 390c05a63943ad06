#!/usr/bin/env python3
"""The driver of bench/run: nagare against its peers, on this machine, in one run.

Run by bench/run (which installs the packages and builds nothing itself);
see bench/README.md.  As root.  Steps (SCENARIOS picks some):

  phys         the machine: sequential write with and without fdatasync,
               append+fdatasync latency, loopback TCP (iperf3) and round trip
  kafka        bench/kafka/run.sh (produce/consume 100 B and 1 KiB, acks=1
               and all, 1 producer; end-to-end latency), shorter settings
  send         bench/send/run.sh (SQL send() vs INSERT, PgQ, COPY), shorter
  publish      bench/publish/run.sh, when it exists (publish() vs PgQ/outbox,
               CDC vs wal2json)
  dns          bench/dns/run.sh (the registry's DNS server vs dnsmasq:
               queries/s and p99 with dnsperf)
  registry     bench/registry/run.sh (Consul's HTTP API: registrations,
               heartbeats, producers' p99 beside 10,000 instances beating)
  then, on servers this script starts (nagare, redis-server, nats-server):
  latency      single-message latency, as is and with client and server
               pinned to one CPU (taskset)
  producers8   8 producers at once, 100 B and 1 KiB, acks=1 and all
  partitions   one topic of 1,000 partitions against one of 1
  connections  50 active producers with and without 1,000 idle connections
               (nagare, Redis always, NATS JetStream)
  queue        a plain-table queue (INSERT / DELETE ... SKIP LOCKED) against
               nagare.send() / nagare.consume() from SQL
  isolation    steady producers with and without a consumer catching up
               through old, evicted segments (KAFKA-7504); the same consumer
               under a consumer_byte_rate quota
  quota        an abusive producer, consumer, KIP-124 consumer
               (fetch.wait.max.ms=0) and connection storm, each beside
               well-behaved clients at a steady rate: alone, with the
               abuser and no quota, with the abuser held by its quota
  usage        the cost of per-client accounting: produce throughput with
               nagare.client_usage = on and off
  deps         the cost of counting dependency edges: produce throughput
               with nagare.track_dependencies = on and off

Writes bench/results/suite-<time>.json and suite-<time>-*.svg; prints tables.
"""
import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "bench", "kafka"))
import kbench  # noqa: E402  (CPU accounting from /proc)

ALL = "phys kafka send publish dns registry latency producers8 partitions connections queue isolation security acl quota usage deps"
ENV = os.environ
SCENARIOS = ENV.get("SCENARIOS", ALL).split()
RUNS = int(ENV.get("RUNS", "3"))
SUB_RUNS = int(ENV.get("SUB_RUNS", "2"))      # runs of bench/kafka, bench/send, bench/publish
DURATION = float(ENV.get("DURATION", "3"))
LAT_SECONDS = float(ENV.get("LAT_SECONDS", "2"))
FILL_GB = float(ENV.get("FILL_GB", "2"))
NOISE_PCT = float(ENV.get("NOISE_PCT", "10"))
RETRY_BUDGET = float(ENV.get("RETRY_BUDGET", "60"))
PG_PORT = int(ENV.get("PG_PORT", "55800"))
KEEP = ENV.get("KEEP", "0") == "1"
# the quota scenarios (see sc_quota)
QUOTA_SECONDS = float(ENV.get("QUOTA_SECONDS", "12"))       # the well-behaved clients' counted window
QUOTA_PARTS = ENV.get("QUOTA_PARTS", "producer consumer spinner storm").split()
GOOD_RATE = float(ENV.get("GOOD_RATE", "2000"))             # msgs/s of the well-behaved producers
PRODUCE_QUOTA = float(ENV.get("PRODUCE_QUOTA", "1000000"))  # producer_byte_rate of the abusive producer, B/s
ABUSER_BATCH = int(ENV.get("ABUSER_BATCH", "1000000"))      # the abusive producer's batch.size (librdkafka's default)
CONSUME_QUOTA = float(ENV.get("CONSUME_QUOTA", "10000000"))  # consumer_byte_rate of the abusive consumer, B/s
REQUEST_PCT = float(ENV.get("REQUEST_PCT", "5"))            # request_percentage of the abusive consumer
SPIN_PCT = float(ENV.get("SPIN_PCT", "0.3"))                # request_percentage of the KIP-124 consumer
STORM_RATE = float(ENV.get("STORM_RATE", "2000"))           # connections/s of the storm
STORM_SOURCE = ENV.get("STORM_SOURCE", "127.0.0.2")         # the storm's source address
COLD_QUOTA = float(ENV.get("COLD_QUOTA", "20000000"))       # consumer_byte_rate of the cold consumer, B/s
USAGE_RUNS = int(ENV.get("USAGE_RUNS", str(max(RUNS, 5))))
BINDIR = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True).stdout.strip()
NCPU = os.cpu_count()

started = time.time()
stamp = time.strftime("%Y-%m-%dT%H%M%S", time.gmtime())
RESULTS = os.path.join(REPO, "bench", "results")
os.makedirs(RESULTS, exist_ok=True)
work = tempfile.mkdtemp(prefix="nagare-suite.", dir="/tmp")
os.chmod(work, 0o755)
_pg = pwd.getpwnam("postgres")
os.chown(work, _pg.pw_uid, _pg.pw_gid)     # the cluster's socket goes here
out = {"settings": {}, "phys": {}, "tables": {}, "goals": [], "sub": {}, "notes": []}
procs = {}          # name -> Popen of the servers we started
# the librdkafka the clients run: Debian's (what -lrdkafka finds), or LIBRDKAFKA=pypi's
RDKAFKA_VERSION = [subprocess.run(["sh", "-c", "dpkg-query -W -f '${Version}' librdkafka1 2>/dev/null"],
                                  capture_output=True, text=True).stdout.strip() or "?"]


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True, **kw)


def as_pg(args, **kw):
    return subprocess.run(["runuser", "-u", "postgres", "--"] + args, check=True, **kw)


def sql(q, db="postgres"):
    r = subprocess.run(["runuser", "-u", "postgres", "--", f"{BINDIR}/psql", "-h", work, "-p", str(PG_PORT),
                        "-d", db, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", q],
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"psql: {q[:80]}: {r.stderr.strip()}")
    return r.stdout.strip()


def wait_port(port, what):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} does not listen on {port}")


# ------------------------------------------------------------------ build

def build():
    b = os.path.join(work, "bin")
    os.makedirs(b)
    k = os.path.join(REPO, "bench", "kafka")
    cc = ["cc", "-O2", "-w"]
    sh(cc + ["-o", f"{b}/nagare_load", f"{k}/nagare_load.c", "-lrdkafka", "-lm"])
    sh(cc + ["-o", f"{b}/redis_load", f"{k}/redis_load.c", "-lhiredis", "-lm"])
    sh(cc + ["-o", f"{b}/nats_load", f"{k}/nats_load.c", "-lnats", "-lm"])
    sh(cc + ["-o", f"{b}/rate_load", f"{HERE}/rate_load.c", "-lrdkafka", "-lpthread", "-lm"])
    sh(cc + ["-o", f"{b}/abuse_load", f"{HERE}/abuse_load.c", "-lrdkafka", "-lm"])
    sh(cc + ["-o", f"{b}/phys", f"{HERE}/phys.c", "-lm"])
    sh(cc + ["-o", f"{b}/login_load", f"{HERE}/login_load.c", "-lcrypto", "-lm"])
    return b


# ------------------------------------------------------------------ servers

PORTS = {}


def start_servers():
    data = os.path.join(work, "data")
    PORTS["kafka"], PORTS["redis"], PORTS["nats"] = free_port(), free_port(), free_port()
    security = ""
    if "security" in SCENARIOS or "acl" in SCENARIOS:
        # beside the PLAINTEXT listener every other scenario uses: SASL over
        # TLS and SASL over plaintext, with a certificate made here; the
        # PLAINTEXT listener stays open to everyone as before
        PORTS["sasl_ssl"], PORTS["sasl"] = free_port(), free_port()
        sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", f"{work}/server.key", "-out", f"{work}/server.crt"])
        sh(["chown", "postgres:", f"{work}/server.key", f"{work}/server.crt"])
        os.chmod(f"{work}/server.key", 0o600)
        security = f"""nagare.listeners = 'PLAINTEXT://127.0.0.1:{PORTS["kafka"]}, SASL_SSL://127.0.0.1:{PORTS["sasl_ssl"]}, SASL_PLAINTEXT://127.0.0.1:{PORTS["sasl"]}'
nagare.ssl_cert_file = '{work}/server.crt'
nagare.ssl_key_file = '{work}/server.key'
nagare.allow_everyone_if_no_acl_found = on
password_encryption = 'scram-sha-256'
"""
    if "acl" in SCENARIOS:
        # the 10,000 ACLs of the acl scenario and its producer's grants
        security += "nagare.max_acls = 20000\n"
    as_pg([f"{BINDIR}/initdb", "-D", data, "-U", "postgres", "-A", "trust"], stdout=subprocess.DEVNULL)
    with open(os.path.join(data, "postgresql.conf"), "a") as f:
        f.write(f"""
# bench/suite/suite.py
port = {PG_PORT}
listen_addresses = ''
unix_socket_directories = '{work}'
shared_preload_libraries = 'nagare'
wal_level = logical
fsync = on
synchronous_commit = on
autovacuum = off
max_connections = 100
shared_buffers = 512MB
max_wal_size = 8GB
checkpoint_timeout = 1h
nagare.listen_addresses = '127.0.0.1'
nagare.port = {PORTS['kafka']}
nagare.request_timeout = 10s
nagare.max_connections = 4096
{security}{ENV.get('EXTRA_CONF', '')}
""")
    as_pg([f"{BINDIR}/pg_ctl", "-D", data, "-l", f"{work}/server.log", "-w", "start"], stdout=subprocess.DEVNULL)
    sql("CREATE EXTENSION nagare")
    for _ in range(100):
        if sql("SELECT state FROM nagare.broker") == "ready":
            break
        time.sleep(0.1)
    wait_port(PORTS["kafka"], "nagare's Kafka listener")
    release_install_lock()
    if not any(sc in SCENARIOS for sc in PEER_SCENARIOS):
        return          # only nagare is measured: no Redis, no NATS
    os.makedirs(f"{work}/redis")
    procs["redis"] = subprocess.Popen(
        ["redis-server", "--port", str(PORTS["redis"]), "--bind", "127.0.0.1", "--dir", f"{work}/redis",
         "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--auto-aof-rewrite-percentage", "0",
         "--logfile", f"{work}/redis.log", "--daemonize", "no"])
    wait_port(PORTS["redis"], "redis-server")
    procs["nats"] = subprocess.Popen(["nats-server", "-a", "127.0.0.1", "-p", str(PORTS["nats"]), "-js",
                                      "-sd", f"{work}/nats", "-l", f"{work}/nats.log"])
    wait_port(PORTS["nats"], "nats-server")
    # Linux may reuse the connection for the accept queue; let redis answer first
    for _ in range(50):
        if subprocess.run(["redis-cli", "-p", str(PORTS["redis"]), "ping"], capture_output=True,
                          text=True).stdout.strip() == "PONG":
            break
        time.sleep(0.1)


PEER_SCENARIOS = ("latency", "producers8", "connections")


def release_install_lock():
    """bench/run holds NAGARE_INSTALL_LOCK (flock on fd 9) from the build
    until the cluster has started and created the extension: from then on
    the server runs what it loaded, and others may install theirs"""
    lock = ENV.get("NAGARE_INSTALL_LOCK")
    try:
        if lock and os.readlink("/proc/self/fd/9") == os.path.realpath(lock):
            os.close(9)
            log(f"    released {lock}")
    except OSError:
        pass


def restart_nagare():
    as_pg([f"{BINDIR}/pg_ctl", "-D", f"{work}/data", "-l", f"{work}/server.log", "-m", "fast", "-w", "restart"],
          stdout=subprocess.DEVNULL)
    for _ in range(100):
        if sql("SELECT state FROM nagare.broker") == "ready":
            break
        time.sleep(0.1)
    wait_port(PORTS["kafka"], "nagare's Kafka listener")


def server_pid(system):
    if system == "nagare":
        return int(open(f"{work}/data/postmaster.pid").readline())
    return procs[system].pid


def stop_servers():
    if os.path.exists(f"{work}/data/postmaster.pid"):
        subprocess.run(["runuser", "-u", "postgres", "--", f"{BINDIR}/pg_ctl", "-D", f"{work}/data",
                        "-m", "fast", "-w", "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for p in procs.values():
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def settle(timeout=120):
    """Wait until nagare's ingest worker has decoded the WAL written so far.
    The cluster runs with wal_level = logical, and the worker decodes all of
    the WAL (the queue scenario's pgbench writes a lot of it), so that its
    decoding of one scenario's WAL does not overlap the next measurement."""
    target = sql("SELECT pg_current_wal_lsn()")
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if sql(f"SELECT coalesce(bool_and(confirmed_flush_lsn >= '{target}'), true) FROM nagare.ingest") == "t":
            break
        time.sleep(0.2)
    else:
        log(f"    the ingest worker did not reach {target} in {timeout} s; going on")
    if time.monotonic() - t0 > 1:
        log(f"    waited {time.monotonic() - t0:.0f} s for the ingest worker to decode the WAL so far")


def pin(system, cpus):
    snap = kbench.snapshot()
    for pid in kbench.tree(snap, server_pid(system)):
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


# ------------------------------------------------------------------ measuring

def measure(cmds, system, timeout=120, extra=None, also=()):
    """Run the generator commands at once; one result: sums and merged figures.
    also: pids of other clients of ours running meanwhile (not noise)"""
    servers = [server_pid(s) for s in ("nagare", "redis", "nats") if s == "nagare" or s in procs]
    me = os.getpid()
    os.sync()       # what earlier runs left dirty is written now, not during this one
    a = kbench.snapshot()
    t0 = time.monotonic()
    ps = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    res = []
    for p in ps:
        try:
            o, e = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            o, e = p.communicate()
        line = (o.strip().splitlines() or [""])[-1]
        try:
            res.append(json.loads(line))
        except ValueError:
            res.append({"errors": 1, "error": (e.strip().splitlines() or ["no output"])[-1], "msgs": 0})
    wall = time.monotonic() - t0
    b = kbench.snapshot()

    def tdelta(root):
        pids = kbench.tree(a, root) | kbench.tree(b, root)
        return kbench.ticks(b, pids) - kbench.ticks(a, pids)
    srv = tdelta(server_pid(system))
    ours = sum(tdelta(s) for s in servers) + kbench.ticks(b, [me]) - kbench.ticks(a, [me]) + \
        sum(tdelta(p) for p in also)
    total = sum(b["cpu"]) - sum(a["cpu"])
    idle = (b["cpu"][3] + b["cpu"][4]) - (a["cpu"][3] + a["cpu"][4])
    kth = kbench.kthread_ticks(b) - kbench.kthread_ticks(a)
    noise = max(0.0, 100.0 * (total - idle - ours - kth) / total) if total else 0.0
    msgs = sum(r.get("msgs", 0) or 0 for r in res)
    secs = max((r.get("secs") or 0) for r in res) or wall
    r0 = res[0]
    out_r = {"msgs": msgs, "secs": secs, "msgs_per_s": sum((r.get("msgs_per_s") or 0) for r in res),
             "mb_per_s": sum((r.get("mb_per_s") or 0) for r in res),
             "errors": sum((r.get("errors") or 0) for r in res),
             "error": next((r.get("error") for r in res if r.get("error")), None),
             "server_cpu_s": srv / kbench.CLK_TCK, "client_cpu_s": sum((r.get("cpu_s") or 0) for r in res),
             "noise_pct": round(noise, 1), "settings": r0.get("settings")}
    for k in ("p50_us", "p99_us", "p999_us", "max_us", "e2e_p50_us", "e2e_p99_us", "e2e_p999_us"):
        v = [r.get(k) for r in res if r.get(k) is not None]
        # several processes: the worst process's percentile (an upper bound)
        out_r[k] = max(v) if v else None
    for k in ("e2e_p50_us", "e2e_p99_us", "e2e_p999_us"):
        if out_r[k] is None:
            del out_r[k]
    if extra:
        out_r.update(extra)
    return out_r


retry_spent = [0.0]


def measure_retry(cmds, system, **kw):
    """measure(); again (at most twice) when other processes used more than
    NOISE_PCT% of the machine, while the extra runs fit in RETRY_BUDGET s"""
    for attempt in range(3):
        t0 = time.monotonic()
        r = measure(cmds, system, **kw)
        cost = time.monotonic() - t0
        if r["noise_pct"] <= NOISE_PCT or attempt == 2 or retry_spent[0] + cost > RETRY_BUDGET:
            return r
        retry_spent[0] += cost
        log(f"    disturbed ({r['noise_pct']}% of the machine used by others): measuring again")
    return r


def table_add(name, title, label, system, r, order=0, ratio="throughput", group=None):
    t = out["tables"].setdefault(name, {"title": title, "ratio": ratio, "rows": {}})
    row = t["rows"].setdefault(label, {"label": label, "system": system, "order": order,
                                       "group": group, "runs": []})
    row["runs"].append(r)
    log(f"    {label}: {r.get('msgs_per_s') or 0:,.0f} msgs/s, p99 {r.get('p99_us')} us"
        + (f", noise {r['noise_pct']}%" if r.get("noise_pct") else "")
        + (f"  ERROR {r['error']}" if r.get("error") else ""))


# ------------------------------------------------------------------ scenarios

def sc_phys(b):
    log("phys: the machine's limits")
    st = os.statvfs(work)
    free_mb = st.f_bavail * st.f_frsize // 1048576
    mb = min(2048, max(128, free_mb // 20))
    p = {}
    for args in (["write", work, str(mb)], ["fsync", work, "2000"]):
        j = json.loads(subprocess.run([f"{b}/phys"] + args, capture_output=True, text=True, check=True).stdout)
        j.pop("mode", None)
        p.update(j)
    port = free_port()
    p["tcp_rtt"] = json.loads(subprocess.run([f"{b}/phys", "pingpong", str(port), "20000"],
                                             capture_output=True, text=True, check=True).stdout)
    port = free_port()
    p["tcp_rtt_pinned"] = json.loads(subprocess.run(["taskset", "-c", "0", f"{b}/phys", "pingpong", str(port),
                                                     "20000"], capture_output=True, text=True,
                                                    check=True).stdout)
    port = free_port()
    srv = subprocess.Popen(["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    try:
        j = json.loads(subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", "3", "-J"],
                                      capture_output=True, text=True).stdout)
        p["iperf3_gbit_per_s"] = round(j["end"]["sum_received"]["bits_per_second"] / 1e9, 2)
    except (ValueError, KeyError) as e:
        p["iperf3_gbit_per_s"] = None
        out["notes"].append(f"iperf3 failed: {e}")
    srv.wait(10) if srv.poll() is None else None
    if srv.poll() is None:
        srv.kill()
    out["phys"] = p
    log(f"    {json.dumps(p)}")


def newest(prefix, since):
    fs = [f for f in glob.glob(os.path.join(RESULTS, prefix + "-*.json")) if os.path.getmtime(f) >= since]
    return max(fs, key=os.path.getmtime) if fs else None


def sub_bench(name, script, env):
    if not os.path.exists(script):
        log(f"{name}: {os.path.relpath(script, REPO)} does not exist yet: skipped")
        out["notes"].append(f"{name}: {os.path.relpath(script, REPO)} not present in this run")
        return
    log(f"{name}: {os.path.relpath(script, REPO)} ({' '.join(f'{k}={v}' for k, v in env.items())})")
    t0 = time.time()
    logf = os.path.join(work, f"{name}.log")
    with open(logf, "w") as f:
        # the suite's own knobs are not the sub-benchmark's
        base = {k: v for k, v in ENV.items() if k not in (
            "SCENARIOS", "RUNS", "DURATION", "LAT_SECONDS", "FILL_GB", "KEEP", "PG_PORT", "PORT", "SEND_RUNS",
            "SUB_RUNS", "INSTALL", "BUILD")}
        rc = subprocess.run([script], env={**base, **env}, stdout=f, stderr=subprocess.STDOUT).returncode
    # its own result, as its log names it (another run of the same script on
    # this machine may write results/<name>-*.json meanwhile)
    named = re.findall(r"\S*bench/results/" + name + r"-[0-9T:-]+\.json", open(logf).read())
    res = os.path.join(RESULTS, os.path.basename(named[-1])) if named else None
    if res and (not os.path.exists(res) or os.path.getmtime(res) < t0):
        res = None
    out["sub"][name] = {"script": os.path.relpath(script, REPO), "env": env, "rc": rc,
                        "seconds": round(time.time() - t0), "result": res and os.path.basename(res)}
    if res:
        out["sub"][name]["data"] = json.load(open(res))
    else:
        log(f"    {name} wrote no result (exit {rc}); its log: {logf}")
        out["notes"].append(f"{name}: no result (exit {rc})")
    # its tables, as it printed them
    txt = open(logf).read()
    i = txt.find("===")
    out["sub"][name]["printed"] = txt[i:] if i >= 0 else txt[-3000:]
    log(f"    done in {round(time.time() - t0)} s (exit {rc})")


LAB = {("nagare", "1"): "nagare acks=1", ("nagare", "all"): "nagare acks=all",
       ("redis", "1"): "Redis everysec", ("redis", "all"): "Redis always",
       ("nats", "1"): "NATS JetStream"}
ORD = {"nagare": 10, "redis": 20, "nats": 30}


def gen_cmd(b, system, mode, topic, size, n, dur, acks, window=None, pin_cpu=None):
    host = f"127.0.0.1:{PORTS['kafka' if system == 'nagare' else system]}"
    a = acks if system != "redis" else ("everysec" if acks == "1" else "always")
    if system == "nats":
        a = "default"
    c = [f"{b}/{system}_load", mode, "-H", host, "-t", topic, "-s", str(size), "-n", str(n), "-a", a]
    if dur:
        c += ["-d", str(dur)]
    if window:
        c += ["-w", str(window)]
    return (["taskset", "-c", pin_cpu] if pin_cpu else []) + c


def sc_latency(b):
    log("latency: one message in flight, as is and pinned to one CPU")
    systems = [("nagare", "1"), ("nagare", "all"), ("redis", "1"), ("redis", "all"), ("nats", "1")]
    for pinned in (False, True):
        name = "latency-pinned" if pinned else "latency"
        title = ("single-message latency, client and server on one CPU (taskset -c 0)" if pinned
                 else "single-message latency (send to acknowledgement), unpinned")
        for run in range(RUNS):
            for sysname, acks in systems[run % len(systems):] + systems[:run % len(systems)]:
                if pinned:
                    pin(sysname, "0")
                topic = "latency"
                r = measure_retry([gen_cmd(b, sysname, "latency", topic, 100, 100000000, LAT_SECONDS, acks,
                                           pin_cpu="0" if pinned else None)], sysname)
                if pinned:
                    pin(sysname, f"0-{NCPU - 1}")
                table_add(name, title, LAB[(sysname, acks)], sysname, r, ORD[sysname] + (acks == "all"),
                          ratio="latency", group=acks)


def sc_producers8(b):
    n_prod = 8
    log(f"producers8: {n_prod} producers at once")
    for run in range(min(RUNS, 2)):
        for size in (100, 1024):
            maxn = (3000000 if size == 100 else 1000000) // n_prod
            for acks in ("1", "all"):
                name = f"produce8-{size}-{acks}"
                title = f"produce {'100 B' if size == 100 else '1 KiB'}, acks={acks}, {n_prod} producers (one topic/stream each)"
                for sysname in ("nagare", "redis", "nats"):
                    if sysname == "nats" and acks == "all" and False:
                        continue
                    cmds = []
                    for i in range(n_prod):
                        topic = f"p8-{size}-{acks}-r{run}-{i}" if sysname == "nagare" else f"p8-{i}"
                        cmds.append(gen_cmd(b, sysname, "produce", topic, size, maxn, DURATION, acks,
                                            window={"redis": 1000, "nats": 10000}.get(sysname)))
                    r = measure_retry(cmds, sysname, timeout=DURATION + 60)
                    lab = LAB.get((sysname, acks), "NATS JetStream")
                    table_add(name, title, lab, sysname, r, ORD[sysname] + (acks == "all"))


def sc_partitions(b):
    log("partitions: 1,000 partitions against 1")
    for run in range(RUNS):
        for parts in (1, 1000):
            topic = f"parts{parts}-r{run}"
            sql(f"SELECT nagare.create_topic('{topic}', {parts})")
            c = gen_cmd(b, "nagare", "produce", topic, 1024, 1000000, DURATION, "all") + \
                ["-X", "sticky.partitioning.linger.ms=0"]
            r = measure_retry([c], "nagare", timeout=DURATION + 60)
            table_add("partitions-produce", "produce 1 KiB, acks=all, 1 producer, keyless records spread over every partition",
                      f"nagare, {parts:,} partition{'s' if parts > 1 else ''}", "nagare", r, parts)
            n = r["msgs"]
            if n:
                r = measure_retry([gen_cmd(b, "nagare", "consume", topic, 1024, n, 0, "1")], "nagare")
                table_add("partitions-consume", "consume what that produce run wrote, every partition from the beginning",
                          f"nagare, {parts:,} partition{'s' if parts > 1 else ''}", "nagare", r, parts)
            lt = f"partslat{parts}-r{run}"
            sql(f"SELECT nagare.create_topic('{lt}', {parts})")
            r = measure_retry([[f"{b}/rate_load", "-H", f"127.0.0.1:{PORTS['kafka']}", "-t", lt, "-p", "4",
                                "-r", "2000", "-s", "1024", "-a", "all", "-d", str(max(3, DURATION)), "-W", "1"]],
                              "nagare", timeout=60)
            table_add("partitions-latency", "latency at a steady 2,000 msgs/s from 4 producers (1 KiB, acks=all, linger.ms=0)",
                      f"nagare, {parts:,} partition{'s' if parts > 1 else ''}", "nagare", r, parts, ratio="latency")


def sc_connections(b):
    """nagare (rate_load, librdkafka), Redis Streams (appendfsync always) and
    NATS JetStream (redis_load / nats_load rate: one message in flight per
    connection), each alone and beside 1,000 idle connections; each row's
    ratio is against nagare with the same number of idle connections"""
    log("connections: 50 active producers, with and without 1,000 idle connections (nagare, Redis, NATS)")
    sql("SELECT nagare.create_topic('conns', 1)")
    title = ("50 producers at a steady 5,000 msgs/s in all (1 KiB; nagare acks=all, Redis appendfsync always, "
             "NATS JetStream), beside N idle connections")
    common = ["-t", "conns", "-p", "50", "-r", "5000", "-s", "1024", "-d", str(max(3, DURATION)), "-W", "1"]
    for run in range(RUNS):
        for idle in (0, 1000):
            for sysname in ("nagare", "redis", "nats"):
                if sysname == "nagare":
                    cmd = [f"{b}/rate_load", "-H", f"127.0.0.1:{PORTS['kafka']}", "-a", "all"]
                    label, order = f"nagare, 50 active + {idle:,} idle", idle
                else:
                    cmd = [f"{b}/{sysname}_load", "rate", "-H", f"127.0.0.1:{PORTS[sysname]}",
                           "-a", "always" if sysname == "redis" else "default"]
                    label = f"{'Redis always' if sysname == 'redis' else 'NATS JetStream'}, 50 active + {idle:,} idle"
                    order = ORD[sysname] * 1000 + idle      # after nagare's rows
                r = measure_retry([cmd + common + ["-I", str(idle)]], sysname, timeout=90)
                table_add("connections", title, label, sysname, r, order, ratio="latency", group=idle)


def pgbench(script, clients, seconds, msgs_per_tx):
    f = os.path.join(work, "pgbench.sql")
    open(f, "w").write(script + "\n")
    os.chmod(f, 0o644)
    logdir = os.path.join(work, "pgblog")
    shutil.rmtree(logdir, ignore_errors=True)
    os.makedirs(logdir)
    shutil.chown(logdir, "postgres", "postgres")
    os.sync()
    a = kbench.snapshot()
    p = subprocess.run(["runuser", "-u", "postgres", "--", f"{BINDIR}/pgbench", "-h", work, "-p", str(PG_PORT),
                        "-n", "-M", "prepared", "-c", str(clients), "-j", str(clients), "-T", str(int(seconds)),
                        "-f", f, "-l", f"--log-prefix={logdir}/tx", "postgres"], capture_output=True, text=True,
                       cwd=logdir)
    b = kbench.snapshot()
    lats = []
    for lf in glob.glob(os.path.join(logdir, "tx*")):
        for line in open(lf):
            x = line.split()
            if len(x) > 2:
                lats.append(int(x[2]))
    lats.sort()

    def pct(q):
        return lats[min(len(lats) - 1, max(0, int(-(-q * len(lats) // 100)) - 1))] if lats else None
    srv = kbench.tree(a, server_pid("nagare")) | kbench.tree(b, server_pid("nagare"))
    tps, lat = 0.0, None
    for line in p.stdout.splitlines():
        if line.startswith("tps =") and "without" in line or (line.startswith("tps =") and not tps):
            tps = float(line.split()[2])
        if line.startswith("latency average"):
            lat = float(line.split()[3]) * 1000
    msgs = tps * msgs_per_tx
    return {"msgs_per_s": msgs, "mb_per_s": msgs * 100 / 1e6, "msgs": int(msgs * seconds), "secs": seconds,
            "p50_us": pct(50), "p99_us": pct(99), "p999_us": pct(99.9), "avg_us": lat, "server_cpu_s": (kbench.ticks(b, srv) - kbench.ticks(a, srv)) / kbench.CLK_TCK,
            "errors": 0 if p.returncode == 0 else 1, "error": None if p.returncode == 0 else p.stderr[-300:],
            "noise_pct": 0}


def sc_queue(b):
    log("queue: plain table (INSERT / DELETE ... SKIP LOCKED) against nagare from SQL")
    v = "v" * 100
    sql("CREATE TABLE q (id bigserial PRIMARY KEY, v text NOT NULL)")
    sql("SELECT nagare.create_topic('queue', 1)")
    sql("CREATE SEQUENCE qoff")
    for run in range(RUNS):
        sql("TRUNCATE q")
        sql("CHECKPOINT")
        r = pgbench(f"INSERT INTO q (v) VALUES ('{v}');", 4, DURATION, 1)
        table_add("queue-produce", "SQL, one message per transaction, 4 clients (synchronous_commit=on)",
                  "plain table INSERT", "pg", r, 20)
        r = pgbench(f"SELECT nagare.send('queue', NULL::text, '{v}'::text);", 4, DURATION, 1)
        table_add("queue-produce", "SQL, one message per transaction, 4 clients (synchronous_commit=on)",
                  "nagare send()", "nagare", r, 10)
        # consume: 100 messages per transaction, 2 clients, from a full queue
        sql("TRUNCATE q")
        sql(f"INSERT INTO q (v) SELECT '{v}' FROM generate_series(1, 2000000)")
        sql("VACUUM ANALYZE q")
        hw = int(sql("SELECT coalesce(sum(high_watermark), 0) FROM nagare.partitions WHERE topic = 'queue'"))
        need = 2000000
        if hw < need:
            for _ in range(0, need - hw, 10000):
                sql("SELECT count(*) FROM nagare.send_batch('queue', array_fill(NULL::text, ARRAY[10000]), "
                    f"array_fill('{v}'::text, ARRAY[10000]))")
        sql("SELECT setval('qoff', 1, false)")
        # latencies: of one transaction (100 messages)
        r = pgbench("DELETE FROM q WHERE id IN (SELECT id FROM q ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED) RETURNING v;",
                    2, DURATION, 100)
        table_add("queue-consume", "SQL, 100 messages per transaction, 2 consumers, from a full queue",
                  "plain table DELETE ... SKIP LOCKED", "pg", r, 20)
        r = pgbench("SELECT count(*) FROM nagare.consume('queue', 0, (nextval('qoff') - 1) * 100, 100);",
                    2, DURATION, 100)
        table_add("queue-consume", "SQL, 100 messages per transaction, 2 consumers, from a full queue",
                  "nagare consume()", "nagare", r, 10)


def evict(topic):
    data = os.path.join(work, "data")
    dirs = sql(f"SELECT directory FROM nagare.partitions WHERE topic = '{topic}'").split()
    n = size = 0
    for d in dirs:
        d = d if os.path.isabs(d) else os.path.join(data, d)
        for f in glob.glob(os.path.join(d, "*")):
            if not os.path.isfile(f):
                continue
            fd = os.open(f, os.O_RDONLY)
            os.fdatasync(fd) if False else None
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            size += os.fstat(fd).st_size
            os.close(fd)
            n += 1
    return n, size


def cached_fraction(topic):
    """how much of the topic's files are in the page cache (mincore, via fincore)"""
    try:
        data = os.path.join(work, "data")
        dirs = sql(f"SELECT directory FROM nagare.partitions WHERE topic = '{topic}'").split()
        files = [f for d in dirs for f in glob.glob(os.path.join(d if os.path.isabs(d) else os.path.join(data, d), "*"))]
        o = subprocess.run(["fincore", "-b", "-n", "-o", "RES,SIZE"] + files, capture_output=True, text=True).stdout
        res = tot = 0
        for line in o.splitlines():
            x = line.split()
            res += int(x[0])
            tot += int(x[1])
        return res / tot if tot else None
    except Exception:
        return None


COLD_QUOTA_LABEL = f"producers + cold catch-up consumer, consumer_byte_rate {COLD_QUOTA / 1e6:g} MB/s"


def sc_isolation(b):
    st = os.statvfs(work)
    free_gb = st.f_bavail * st.f_frsize / 1e9
    gb = min(FILL_GB, free_gb / 4)
    n = int(gb * 1e9 / 1024)
    log(f"isolation: filling topic 'cold' with {gb:.1f} GB in 16 MiB segments")
    sql("SELECT nagare.create_topic('cold', 1, '{\"segment.bytes\": \"16777216\"}')")
    sql("SELECT nagare.create_topic('hot', 1)")
    r = measure([gen_cmd(b, "nagare", "produce", "cold", 1024, n, 120, "all")], "nagare", timeout=600)
    n = r["msgs"]
    sh("sync")
    nseg, size = evict("cold")
    log(f"    {n:,} records, {nseg} files, {size / 1e9:.2f} GB; evicted; cached now {cached_fraction('cold')}")
    out["isolation"] = {"records": n, "files": nseg, "bytes": size}
    secs = max(5, 2 * DURATION)
    rate_cmd = [f"{b}/rate_load", "-H", f"127.0.0.1:{PORTS['kafka']}", "-t", "hot", "-p", "4", "-r", "4000",
                "-s", "1024", "-a", "all", "-d", str(secs), "-W", "1"]
    title = (f"4 producers at a steady 4,000 msgs/s (1 KiB, acks=all) for {secs:g} s, alone and while one consumer "
             f"reads {size / 1e9:.1f} GB of evicted segments from offset 0")
    # the cold consumer as the broker reads for it (small direct reads of
    # what is not cached), as it would through the page cache, and warm
    variants = [("producers + cold catch-up consumer", True, None),
                ("producers + cold consumer, read through the page cache (nagare.cold_read_size = 0)", True, "0"),
                ("producers + warm consumer (control: same reads from the page cache)", False, None)]
    quotas = capabilities()["quotas"]
    if not quotas:
        log(f"    quotas not available in this build: no run of '{COLD_QUOTA_LABEL}'")
    for run in range(RUNS):
        r = measure_retry([rate_cmd], "nagare", timeout=120)
        table_add("isolation", title, "producers alone", "nagare", r, 0, ratio="latency")
        if quotas:
            r = with_quota_consumer(b, rate_cmd, secs)
            table_add("isolation", title, COLD_QUOTA_LABEL, "nagare", r, 1, ratio="latency")
            a = r["abuser"]
            log(f"    the quota-bound consumer read {rate_txt(a['rate'], 'B/s')} against "
                f"{rate_txt(COLD_QUOTA, 'B/s')}; throttle max {a.get('throttle_max_ms')} ms")
        for order, (label, cold, cold_read_size) in enumerate(variants, 2):
            if cold_read_size is not None:
                set_nagare_conf("cold_read_size", cold_read_size)
            r = with_consumer(b, rate_cmd, n, cold)
            if cold_read_size is not None:
                set_nagare_conf("cold_read_size", None)
            table_add("isolation", title, label, "nagare", r, order, ratio="latency")
            log(f"    {label}: the consumer read {r['consumer_mb_per_s']} MB/s in {r['consumer_passes']} "
                f"pass(es); cached at each pass start: {r['cached_fraction_at_pass_start']}")


def sc_security(b):
    """SASL_SSL beside PLAINTEXT on one broker, and producers while a storm
    of SCRAM logins comes in"""
    sql("CREATE ROLE bench_sasl LOGIN PASSWORD 'bench-sasl-secret'")
    sql("SELECT nagare.create_topic('sec', 1)")
    sql("SELECT nagare.create_topic('sec_rate', 1)")
    sasl = ["-X", "sasl.mechanisms=SCRAM-SHA-256", "-X", "sasl.username=bench_sasl",
            "-X", "sasl.password=bench-sasl-secret"]
    tls = ["-X", "security.protocol=sasl_ssl", "-X", f"ssl.ca.location={work}/server.crt"] + sasl
    title = (f"produce 1 KiB, acks=1, 1 producer (librdkafka {RDKAFKA_VERSION[0]}): the PLAINTEXT listener, "
             "and the SASL_SSL one (SCRAM-SHA-256 login, TLS 1.3) of the same broker")
    for run in range(RUNS):
        for label, order, extra in (("PLAINTEXT", 0, None), ("SASL_SSL", 1, tls))[::1 if run % 2 == 0 else -1]:
            c = gen_cmd(b, "nagare", "produce", "sec", 1024, 1000000, DURATION, "1")
            if extra:
                c[c.index("-H") + 1] = f"127.0.0.1:{PORTS['sasl_ssl']}"
                c += extra
            r = measure_retry([c], "nagare")
            table_add("security-tls", title, label, "nagare", r, order)
    secs = max(5, 2 * DURATION)
    rate_cmd = [f"{b}/rate_load", "-H", f"127.0.0.1:{PORTS['kafka']}", "-t", "sec_rate", "-p", "4", "-r", "4000",
                "-s", "1024", "-a", "all", "-d", str(secs), "-W", "1"]
    # The storm comes from suite/login_load.c: the Python login_load.py
    # needed about half a CPU for 500 logins/s, which on this 2-CPU machine
    # came out of the broker's and the producers' share (a fleet of
    # clients runs on machines of its own); the C one needs about a tenth,
    # most of it the kernel's loopback TCP, which serves both ends.
    logins = [f"{b}/login_load", "-H", f"127.0.0.1:{PORTS['sasl']}",
              "-u", "bench_sasl", "-p", "bench-sasl-secret", "-r", "500", "-d", str(secs + 2)]
    title = (f"4 producers at a steady 4,000 msgs/s (1 KiB, acks=all) for {secs:g} s, alone and while "
             "500 SCRAM-SHA-256 logins per second come in (bench/suite/login_load.c)")
    for run in range(RUNS):
        r = measure_retry([rate_cmd], "nagare")
        table_add("security-logins", title, "producers alone", "nagare", r, 0, ratio="latency")
        storm = subprocess.Popen(logins, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        r = measure([rate_cmd], "nagare")
        lo = storm.communicate()[0]
        try:
            lj = json.loads(lo.strip().splitlines()[-1])
        except (ValueError, IndexError):
            lj = {"error": "login_load printed nothing"}
        r["logins"] = lj
        table_add("security-logins", title, "producers + 500 logins/s", "nagare", r, 1, ratio="latency")
        log(f"    logins: {lj}")


ACL_OTHERS = 10000
ACL_ALONE = "only its grants"
ACL_MANY = f"+ {ACL_OTHERS:,} other ACLs"


def acl_synced(n, timeout=60):
    """Wait until the nagare worker has copied nagare.acl, n rows, into the
    shared table the broker authorizes against"""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if sql("SELECT loaded AND NOT overflow AND acls = %d FROM nagare.acl_status()" % n) == "t":
            return
        time.sleep(0.1)
    raise RuntimeError(f"the ACL table did not reach {n} entries in {timeout} s: "
                       + sql("SELECT row_to_json(s) FROM nagare.acl_status() s"))


def sc_acl(b):
    """Produce over SASL_PLAINTEXT as a principal with a grant, with only the
    ACLs it needs and with 10,000 others (literal and prefixed, on other
    principals and resources), alternately, with nobody allowed without an
    ACL; the broker caches its decisions per connection"""
    sql("CREATE ROLE bench_acl LOGIN PASSWORD 'bench-acl-secret'")
    sql("SELECT nagare.create_topic('acl', 1)")
    set_nagare_conf("allow_everyone_if_no_acl_found", "off")
    grants = ("SELECT nagare.create_acl('TOPIC', 'acl', 'User:bench_acl', 'WRITE'), "
              "nagare.create_acl('CLUSTER', 'kafka-cluster', 'User:bench_acl', 'IDEMPOTENT_WRITE')")
    # in one transaction: a quarter each of literal and prefixed TOPIC and
    # GROUP ACLs, ALLOW and DENY, for 500 other principals
    others = f"""SELECT count(nagare.create_acl(
        CASE WHEN i % 4 < 2 THEN 'TOPIC' ELSE 'GROUP' END,
        'tenant' || (i % 500) || '.' || CASE WHEN i % 2 = 0 THEN 'events-' || i ELSE 'app' || i || '-' END,
        'User:tenant' || (i % 500),
        (ARRAY['READ', 'WRITE', 'DESCRIBE', 'ALTER'])[1 + (i / 4) % 4],
        CASE WHEN i % 7 = 0 THEN 'DENY' ELSE 'ALLOW' END, '*',
        CASE WHEN i % 2 = 0 THEN 'LITERAL' ELSE 'PREFIXED' END))
      FROM generate_series(1, {ACL_OTHERS}) i"""
    sql(grants)
    acl_synced(2)
    sasl = ["-X", "security.protocol=sasl_plaintext", "-X", "sasl.mechanisms=SCRAM-SHA-256",
            "-X", "sasl.username=bench_acl", "-X", "sasl.password=bench-acl-secret"]
    title = (f"produce 1 KiB, acks=1, 1 producer (librdkafka) over SASL_PLAINTEXT (SCRAM-SHA-256) as a principal "
             f"granted WRITE on the topic: with only its grants, and with {ACL_OTHERS:,} other ACLs (literal and "
             f"prefixed, other principals and resources); nagare.allow_everyone_if_no_acl_found = off")
    try:
        for run in range(RUNS):
            for label, order in ((ACL_ALONE, 0), (ACL_MANY, 1))[::1 if run % 2 == 0 else -1]:
                if label == ACL_MANY:
                    sql(others)
                    acl_synced(ACL_OTHERS + 2)
                c = gen_cmd(b, "nagare", "produce", "acl", 1024, 1000000, DURATION, "1")
                c[c.index("-H") + 1] = f"127.0.0.1:{PORTS['sasl']}"
                r = measure_retry([c + sasl], "nagare")
                table_add("acl", title, label, "nagare", r, order)
                if label == ACL_MANY:
                    sql("SELECT count(*) FROM nagare.delete_acls()")
                    sql(grants)
                    acl_synced(2)
    finally:
        sql("SELECT count(*) FROM nagare.delete_acls()")
        set_nagare_conf("allow_everyone_if_no_acl_found", None)


def set_nagare_conf(name, value):
    """ALTER SYSTEM SET nagare.<name> (RESET when value is None), reloaded"""
    sql(f"ALTER SYSTEM RESET nagare.{name}" if value is None else f"ALTER SYSTEM SET nagare.{name} = '{value}'")
    sql("SELECT pg_reload_conf()")
    time.sleep(0.5)             # the broker reloads at its next loop turn


def warm(topic):
    data = os.path.join(work, "data")
    for d in sql(f"SELECT directory FROM nagare.partitions WHERE topic = '{topic}'").split():
        for f in glob.glob(os.path.join(d if os.path.isabs(d) else os.path.join(data, d), "*")):
            with open(f, "rb") as fh:
                while fh.read(1 << 22):
                    pass


def with_consumer(b, rate_cmd, n, cold):
    """the producers, while one consumer reads topic 'cold' from offset 0, again
    and again until they stop: evicted from the page cache before every pass
    (cold), or all in it (warm)"""
    evict("cold") if cold else warm("cold")
    os.sync()
    a = kbench.snapshot()
    prod = subprocess.Popen(rate_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cons_msgs, cons_secs, starts = 0, 0.0, []
    while prod.poll() is None:
        starts.append(cached_fraction("cold"))
        c = subprocess.Popen(gen_cmd(b, "nagare", "consume", "cold", 1024, n, 0, "1"),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        while c.poll() is None and prod.poll() is None:
            time.sleep(0.05)
        if c.poll() is None:
            c.send_signal(signal.SIGINT)
            time.sleep(0.2)
            c.kill()
        o = c.communicate()[0]
        try:
            cj = json.loads(o.strip().splitlines()[-1])
            cons_msgs += cj["msgs"]
            cons_secs += cj["secs"]
        except (ValueError, IndexError, KeyError):
            pass
        if cold:
            evict("cold")
    po = prod.communicate()[0]
    bsnap = kbench.snapshot()
    try:
        r = json.loads(po.strip().splitlines()[-1])
    except (ValueError, IndexError):
        r = {"errors": 1, "error": "rate_load printed nothing", "msgs": 0}
    srv = kbench.tree(a, server_pid("nagare")) | kbench.tree(bsnap, server_pid("nagare"))
    r["server_cpu_s"] = (kbench.ticks(bsnap, srv) - kbench.ticks(a, srv)) / kbench.CLK_TCK
    r["client_cpu_s"] = r.get("cpu_s")
    r["noise_pct"] = 0
    r["consumer_mb_per_s"] = round(cons_msgs * 1024 / 1e6 / cons_secs, 1) if cons_secs else None
    r["consumer_passes"] = len(starts)
    r["cached_fraction_at_pass_start"] = [None if x is None else round(x, 3) for x in starts]
    return r


# ------------------------------------------------------------------ quotas and usage (issue 13)

CAP = {}


def capabilities():
    """what the installed nagare has of quotas and usage: q-config's SQL
    (nagare.set_quota), q-enforce's enforcement (its GUC
    nagare.quota_window_num), q-usage's view and GUC; measured the same way
    with or without them, and said so"""
    if not CAP:
        CAP["quotas"] = sql("SELECT to_regprocedure('nagare.set_quota(text,text,double precision)') IS NOT NULL") == "t"
        CAP["enforcement"] = sql("SELECT count(*) FROM pg_settings WHERE name = 'nagare.quota_window_num'") != "0"
        CAP["usage_view"] = sql("SELECT to_regclass('nagare.client_usage') IS NOT NULL") == "t"
        CAP["usage_guc"] = sql("SELECT coalesce((SELECT context FROM pg_settings "
                               "WHERE name = 'nagare.client_usage'), '')") or None
        out["capabilities"] = dict(CAP)
        if not CAP["quotas"]:
            out["notes"].append("quotas not available in this build (no nagare.set_quota()): "
                                "only the runs without quotas were measured")
        elif not CAP["enforcement"]:
            out["notes"].append("quotas can be set but this build has no enforcement (no nagare.quota_window_num): "
                                "the runs 'with quota' measure an unthrottled abuser")
        if not CAP["usage_view"]:
            out["notes"].append("nagare.client_usage not available: the abusers' rates are measured by the "
                                "clients and the topics' offsets only")
        log(f"    capabilities: {json.dumps(CAP)}")
    return CAP


QUOTAS_SET = []


def set_quota(entity, key, value):
    sql(f"SELECT nagare.set_quota('{entity}', '{key}', {value})")
    QUOTAS_SET.append((entity, key))


def clear_quotas():
    while QUOTAS_SET:
        entity, key = QUOTAS_SET.pop()
        sql(f"SELECT nagare.remove_quota('{entity}', '{key}')")


def quotas_synced(timeout=10):
    """after set_quota/remove_quota: until the nagare worker has copied
    nagare.quota into the shared copy the broker resolves from
    (nagare.quota_status: synced >= changes), then a moment for the broker
    to resolve again; a build without that view: 1.5 s"""
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < timeout:
            if sql("SELECT synced >= changes FROM nagare.quota_status") == "t":
                time.sleep(0.3)
                return
            time.sleep(0.1)
        log(f"    nagare.quota_status: not synced after {timeout} s; going on")
    except RuntimeError:
        time.sleep(1.5)


def usage_of(client_id):
    """nagare.client_usage rows of a client id, as JSON, or None"""
    if not CAP.get("usage_view"):
        return None
    try:
        return json.loads(sql("SELECT coalesce(json_agg(u), '[]') FROM nagare.client_usage u "
                              f"WHERE u.client_id = '{client_id}'"))
    except (RuntimeError, ValueError) as e:
        out["notes"].append(f"nagare.client_usage: {str(e)[:200]}")
        CAP["usage_view"] = False
        return None


def usage_delta(a, b, secs):
    """per second, every numeric field summed over the rows (b - a)"""
    if a is None or b is None:
        return None

    def tot(rows):
        t = {}
        for row in rows:
            for k, v in row.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    t[k] = t.get(k, 0) + v
        return t
    ta, tb = tot(a), tot(b)
    return {k: round((tb[k] - ta.get(k, 0)) / secs, 3) for k in tb}


def hw(topic):
    return int(sql(f"SELECT coalesce(sum(high_watermark), 0) FROM nagare.partitions WHERE topic = '{topic}'") or 0)


def sample_at(times, fn):
    """fn() at each of the monotonic times, in a thread: [(time, value)]"""
    res = []

    def run():
        for t in times:
            d = t - time.monotonic()
            if d > 0:
                time.sleep(d)
            t0 = time.monotonic()
            v = fn()
            res.append(((t0 + time.monotonic()) / 2, v))
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th, res


ABUSE_LEAD = 3.0        # the abuser starts this long before the well-behaved clients


def good_cmd(b):
    """the well-behaved clients: 4 producers (client.id good-producer) at a
    steady rate, 1 KiB, acks=all, and one consumer tailing their topic
    (good-producer-consumer): producers' latency send -> acknowledgement,
    the consumer's send -> received"""
    return [f"{b}/rate_load", "-H", f"127.0.0.1:{PORTS['kafka']}", "-t", "good", "-p", "4", "-r", str(GOOD_RATE),
            "-s", "1024", "-a", "all", "-d", str(QUOTA_SECONDS), "-W", "1", "-c", "good-producer", "-C", "1"]


# each part: (the abuser's command, its quotas, how its rate is measured)
def quota_parts(b):
    k = f"127.0.0.1:{PORTS['kafka']}"
    win = QUOTA_SECONDS - 0.5           # the abuser's measured window
    wstart = ABUSE_LEAD + 4             # from the abuser's start: inside the others' counted window
    return {
        "producer": {
            "title": (f"an abusive producer (client.id abuser-producer) offering {10 * PRODUCE_QUOTA / 1e6:g} MB/s, "
                      f"10x its producer_byte_rate of {PRODUCE_QUOTA / 1e6:g} MB/s"),
            "cmd": [f"{b}/rate_load", "-H", k, "-t", "abuse-p", "-p", "1", "-r", str(round(10 * PRODUCE_QUOTA / 1024)),
                    "-s", "1024", "-a", "1", "-d", str(ABUSE_LEAD + QUOTA_SECONDS + 30), "-W", "0",
                    "-c", "abuser-producer", "-X", "linger.ms=5", "-X", f"batch.size={ABUSER_BATCH}"],
            "quotas": [("client-id=abuser-producer", "producer_byte_rate", PRODUCE_QUOTA)],
            "client_id": "abuser-producer", "topic": "abuse-p", "quota": PRODUCE_QUOTA, "unit": "B/s",
            "window": (wstart, wstart + win)},
        "consumer": {
            "title": (f"an abusive consumer (client.id abuser-consumer, fetch.wait.max.ms=0) reading a full topic "
                      f"as fast as it can, consumer_byte_rate {CONSUME_QUOTA / 1e6:g} MB/s and request_percentage "
                      f"{REQUEST_PCT:g}"),
            "cmd": [f"{b}/abuse_load", "consume", "-H", k, "-t", "abuse-c", "-c", "abuser-consumer",
                    "-X", "fetch.wait.max.ms=0", "-W", str(wstart), "-d", str(win)],
            "quotas": [("client-id=abuser-consumer", "consumer_byte_rate", CONSUME_QUOTA),
                       ("client-id=abuser-consumer", "request_percentage", REQUEST_PCT)],
            "client_id": "abuser-consumer", "quota": CONSUME_QUOTA, "unit": "B/s", "window": (wstart, wstart + win)},
        "spinner": {
            "title": (f"a KIP-124 consumer (client.id abuser-spinner, fetch.wait.max.ms=0) tailing a topic nobody "
                      f"writes: nothing but empty Fetches, request_percentage {SPIN_PCT:g}"),
            "cmd": [f"{b}/abuse_load", "consume", "-e", "-H", k, "-t", "abuse-empty", "-c", "abuser-spinner",
                    "-X", "fetch.wait.max.ms=0", "-W", str(wstart), "-d", str(win)],
            "quotas": [("client-id=abuser-spinner", "request_percentage", SPIN_PCT)],
            "client_id": "abuser-spinner", "quota": SPIN_PCT, "unit": "%", "window": (wstart, wstart + win)},
        "storm": {
            "title": (f"a connection storm: {STORM_RATE:,.0f} connections/s from {STORM_SOURCE} (ApiVersions, close), "
                      f"connection_creation_rate {STORM_RATE / 10:g}/s on ip={STORM_SOURCE}"),
            "cmd": [f"{b}/abuse_load", "storm", "-H", k, "-b", STORM_SOURCE, "-r", str(STORM_RATE), "-m", "1000",
                    "-W", str(wstart), "-d", str(win)],
            "quotas": [(f"ip={STORM_SOURCE}", "connection_creation_rate", STORM_RATE / 10)],
            "client_id": None, "quota": STORM_RATE / 10, "unit": "conn/s", "window": (wstart, wstart + win)},
    }


def quota_setup(b):
    for t in ("good", "abuse-p", "abuse-empty"):
        sql(f"SELECT nagare.create_topic('{t}', 1)")
    if "consumer" in QUOTA_PARTS:
        sql("SELECT nagare.create_topic('abuse-c', 1)")
        r = measure([gen_cmd(b, "nagare", "produce", "abuse-c", 1024, 300000, 60, "1")], "nagare", timeout=120)
        log(f"    abuse-c: {r['msgs']:,} records of 1 KiB for the abusive consumer")


def usage_key(u, name):
    """the column of nagare.client_usage counting since start (not the
    *_1m window)"""
    return name if name in u else None


def abuser_rate(part, spec, r_ab, samples):
    """what the abuser achieved in its window, in the unit of its quota"""
    a = {"quota": spec["quota"], "unit": spec["unit"]}
    if len(samples) == 2:
        (t0, s0), (t1, s1) = samples
        a["usage"] = usage_delta(s0.get("usage"), s1.get("usage"), t1 - t0)
        if part == "producer":
            a["payload_bytes_per_s"] = round((s1["hw"] - s0["hw"]) * 1024 / (t1 - t0))
    u = a.get("usage") or {}
    for k in ("requests", "throttle_ms"):
        if k in u:
            a[f"usage_{k}_per_s"] = u[k]
    if part == "producer":
        a["rate"] = a.get("payload_bytes_per_s")
        kb = usage_key(u, "bytes_in")
        if kb:
            a["rate"], a["rate_from"] = u[kb], f"nagare.client_usage.{kb}"
        else:
            a["rate_from"] = "the topic's high watermark x 1 KiB (payload)"
    elif part in ("consumer", "spinner"):
        a["fetch_per_s"] = r_ab.get("fetch_per_s")
        a["throttle_max_ms"] = r_ab.get("throttle_max_ms")
        a["client_bytes_per_s"] = r_ab.get("bytes_per_s")
        if part == "consumer":
            a["rate"], a["rate_from"] = r_ab.get("bytes_per_s"), "the consumer's payload bytes"
            kb = usage_key(u, "bytes_out")
            if kb:
                a["rate"], a["rate_from"] = u[kb], f"nagare.client_usage.{kb}"
        else:
            kt = usage_key(u, "time_us")
            if kt and not u[kt] and u.get("requests"):
                # the broker time is charged by enforcement (meter.h): none without it
                a["rate"], a["rate_from"] = None, f"nagare.client_usage.{kt} (0: not charged by this build)"
            elif kt:
                # broker time per second of wall time, as % of one thread
                scale = 1e-4 if (kt.endswith("_us") or "usec" in kt) else (0.1 if kt.endswith("_ms") else 100)
                a["rate"], a["rate_from"] = round(u[kt] * scale, 3), f"nagare.client_usage.{kt}"
            else:
                a["rate"], a["rate_from"] = None, "no usage view: see fetch_per_s"
    else:
        a["rate"], a["rate_from"] = r_ab.get("answered_per_s"), "connections answered (ApiVersions) per second"
        for k in ("attempted", "answered", "closed_by_broker", "refused", "timed_out", "skipped_max_open", "no_port",
                  "p50_us", "p99_us"):
            a[k] = r_ab.get(k)
    a["ratio"] = round(a["rate"] / spec["quota"], 3) if a.get("rate") is not None and spec["quota"] else None
    return a


def quota_run(b, part, spec, variant):
    """the well-behaved clients alone, or beside the abuser (with or without its quotas)"""
    if variant == "alone":
        return measure_retry([good_cmd(b)], "nagare", timeout=QUOTA_SECONDS + 60)
    if variant == "quota":
        for q in spec["quotas"]:
            set_quota(*q)
        quotas_synced()
    ab = subprocess.Popen(spec["cmd"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t_ab = time.monotonic()

    def snap():
        s = {"usage": usage_of(spec["client_id"]) if spec["client_id"] else None}
        if spec.get("topic"):
            s["hw"] = hw(spec["topic"])
        return s
    th, samples = sample_at([t_ab + w for w in spec["window"]], snap)
    time.sleep(ABUSE_LEAD)
    try:
        r = measure([good_cmd(b)], "nagare", timeout=QUOTA_SECONDS + 60, also=[ab.pid])
        th.join(QUOTA_SECONDS + 30)
        if part == "producer":
            ab.kill()
        try:
            o, e = ab.communicate(timeout=QUOTA_SECONDS + 30)
        except subprocess.TimeoutExpired:
            ab.kill()
            o, e = ab.communicate()
        try:
            r_ab = json.loads(o.strip().splitlines()[-1]) if part != "producer" else {}
        except (ValueError, IndexError):
            r_ab = {"error": (e.strip().splitlines() or ["the abuser printed nothing"])[-1]}
    finally:
        if ab.poll() is None:
            ab.kill()
        if variant == "quota":
            clear_quotas()
            quotas_synced()
    r["abuser"] = abuser_rate(part, spec, r_ab, samples)
    if r_ab.get("error"):
        r["abuser"]["error"] = r_ab["error"]
    a = r["abuser"]
    log(f"    abuser: {a.get('rate')} {spec['unit']} ({a.get('rate_from')}), quota {spec['quota']:g}"
        + (f" = {a['ratio']:.2f}x" if a.get("ratio") is not None else "")
        + "".join(f", {k} {a[k]}" for k in ("fetch_per_s", "throttle_max_ms", "usage_requests_per_s",
                                            "usage_throttle_ms_per_s", "attempted", "closed_by_broker",
                                            "refused", "timed_out", "skipped_max_open", "no_port", "p50_us", "p99_us")
                  if a.get(k) is not None)
        + (f"  ERROR {a['error']}" if a.get("error") else ""))
    return r


def sc_quota(b):
    cap = capabilities()
    quota_setup(b)
    parts = quota_parts(b)
    variants = ["alone", "noquota"] + (["quota"] if cap["quotas"] else [])
    labels = {"alone": "well-behaved clients alone", "noquota": "+ the abuser, no quota",
              "quota": "+ the abuser, held by its quota"}
    for part in QUOTA_PARTS:
        spec = parts[part]
        title = (f"4 producers at a steady {GOOD_RATE:,.0f} msgs/s (1 KiB, acks=all, client.id good-producer) and "
                 f"1 consumer tailing them, for {QUOTA_SECONDS:g} s, beside {spec['title']}")
        log(f"quota/{part}: {spec['title']}")
        for run in range(RUNS):
            for v in variants[run % len(variants):] + variants[:run % len(variants)]:
                settle(30)
                r = quota_run(b, part, spec, v)
                table_add(f"quota-{part}", title, labels[v], "nagare", r, variants.index(v), ratio="latency")
    if not cap["quotas"]:
        log("    quotas not available in this build: measured without quotas only")


def accounting_on_off(b, prefix, guc, what, setter):
    """produce throughput with the setting guc on and off, interleaved, for
    the scenarios <prefix>-batched and <prefix>-small (setter(v) sets it;
    without the setting in this build, one baseline run)"""
    have = sql(f"SELECT count(*) FROM pg_settings WHERE name = '{guc}'") != "0"
    settings = ["on", "off"] if have else [None]
    if not have:
        out["notes"].append(f"{prefix}: {guc} not available in this build: the produce runs are "
                            "measured once, as a baseline")
    kinds = [(f"{prefix}-batched", "produce 100 B, acks=1, 1 producer (linger.ms=5: large requests)", []),
             (f"{prefix}-small", "produce 100 B, acks=1, 1 producer, at most 10 records per request "
                                 f"(many small requests: {what})",
              ["-X", "linger.ms=0", "-X", "batch.num.messages=10"])]
    for name, _, _ in kinds:
        sql(f"SELECT nagare.create_topic('{name}', 1)")
    try:
        for run in range(USAGE_RUNS):
            for v in (settings if run % 2 == 0 else settings[::-1]):
                if v is not None:
                    setter(v)
                for name, title, extra in kinds:
                    c = gen_cmd(b, "nagare", "produce", name, 100, 3000000, DURATION, "1") + extra
                    r = measure_retry([c], "nagare", timeout=DURATION + 60)
                    lab = f"{guc} = {v}" if v else f"{guc} not in this build"
                    table_add(name, title, lab, "nagare", r, 0 if v != "off" else 1)
    finally:
        if have:
            setter(None)


def set_client_usage(v):
    """nagare.client_usage = v (None: reset), restarting if it needs it"""
    ctx = capabilities()["usage_guc"]
    sql("ALTER SYSTEM RESET nagare.client_usage" if v is None else f"ALTER SYSTEM SET nagare.client_usage = '{v}'")
    if ctx == "postmaster":
        restart_nagare()
    else:
        sql("SELECT pg_reload_conf()")
        time.sleep(0.5)
    got = sql("SHOW nagare.client_usage")
    if v is not None and got != v:
        log(f"    nagare.client_usage is {got}, not {v}")


def set_track_dependencies(v):
    """nagare.track_dependencies = v (None: reset)"""
    sql("ALTER SYSTEM RESET nagare.track_dependencies" if v is None
        else f"ALTER SYSTEM SET nagare.track_dependencies = '{v}'")
    sql("SELECT pg_reload_conf()")
    time.sleep(0.5)


def sc_usage(b):
    """produce throughput with per-client accounting on and off, interleaved"""
    accounting_on_off(b, "usage", "nagare.client_usage", "the accounting is per request", set_client_usage)


def sc_deps(b):
    """produce throughput with dependency edges counted and not, interleaved
    (nagare.track_dependencies; everything else, nagare.client_usage too, as
    configured)"""
    accounting_on_off(b, "deps", "nagare.track_dependencies", "the counting is per request and topic",
                      set_track_dependencies)


def with_quota_consumer(b, rate_cmd, secs):
    """the producers, while the cold consumer (client.id cold-consumer, under
    consumer_byte_rate COLD_QUOTA) reads topic 'cold' from offset 0, evicted
    first; its rate is measured over the producers' counted window"""
    evict("cold")
    os.sync()
    set_quota("client-id=cold-consumer", "consumer_byte_rate", COLD_QUOTA)
    quotas_synced()
    try:
        a = kbench.snapshot()
        cons = subprocess.Popen([f"{b}/abuse_load", "consume", "-H", f"127.0.0.1:{PORTS['kafka']}", "-t", "cold",
                                 "-c", "cold-consumer", "-W", "3", "-d", str(secs)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        prod = subprocess.Popen(rate_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        po = prod.communicate(timeout=secs + 60)[0]
        try:
            co = cons.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            cons.kill()
            co = cons.communicate()[0]
        bsnap = kbench.snapshot()
    finally:
        clear_quotas()
        quotas_synced()
    try:
        r = json.loads(po.strip().splitlines()[-1])
    except (ValueError, IndexError):
        r = {"errors": 1, "error": "rate_load printed nothing", "msgs": 0}
    try:
        cj = json.loads(co.strip().splitlines()[-1])
    except (ValueError, IndexError):
        cj = {}
    srv = kbench.tree(a, server_pid("nagare")) | kbench.tree(bsnap, server_pid("nagare"))
    r["server_cpu_s"] = (kbench.ticks(bsnap, srv) - kbench.ticks(a, srv)) / kbench.CLK_TCK
    r["client_cpu_s"] = r.get("cpu_s")
    r["noise_pct"] = 0
    bps = cj.get("bytes_per_s")
    r["consumer_mb_per_s"] = round(bps / 1e6, 1) if bps is not None else None
    r["abuser"] = {"who": "the cold consumer", "rate": bps, "quota": COLD_QUOTA, "unit": "B/s",
                   "rate_from": "the consumer's payload bytes",
                   "ratio": round(bps / COLD_QUOTA, 3) if bps is not None else None,
                   "throttle_max_ms": cj.get("throttle_max_ms"), "fetch_per_s": cj.get("fetch_per_s")}
    return r


# ------------------------------------------------------------------ report

def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def fmt(x, d=0):
    if x is None:
        return "-"
    if d == 0:
        return f"{x:,.0f}"
    return f"{x:,.{d}f}"


def ms(us):
    return "-" if us is None else (f"{us / 1000:.3f}" if us < 10000 else f"{us / 1000:.1f}")


def summarize(t):
    rows = []
    for row in sorted(t["rows"].values(), key=lambda r: (r["order"], r["label"])):
        rs = [r for r in row["runs"] if not r.get("errors") or r.get("msgs")]
        m = [r.get("msgs_per_s") for r in rs]
        s = {"label": row["label"], "system": row["system"], "group": row.get("group"), "runs": len(row["runs"]),
             "msgs_per_s": med(m), "msgs_per_s_min": min([x for x in m if x is not None], default=None),
             "msgs_per_s_max": max([x for x in m if x is not None], default=None),
             "mb_per_s": med([r.get("mb_per_s") for r in rs]),
             "p50_us": med([r.get("p50_us") for r in rs]), "p99_us": med([r.get("p99_us") for r in rs]),
             "p999_us": med([r.get("p999_us") for r in rs]),
             "p99_us_min": min([r["p99_us"] for r in rs if r.get("p99_us") is not None], default=None),
             "p99_us_max": max([r["p99_us"] for r in rs if r.get("p99_us") is not None], default=None),
             "errors": [r.get("error") for r in row["runs"] if r.get("error")],
             "noise_pct": [r.get("noise_pct") for r in row["runs"]]}
        tot = [r.get("msgs") for r in rs]
        srv = [r["server_cpu_s"] * 1e6 / r["msgs"] for r in rs if r.get("server_cpu_s") is not None and r.get("msgs")]
        cli = [r["client_cpu_s"] * 1e6 / r["msgs"] for r in rs if r.get("client_cpu_s") is not None and r.get("msgs")]
        s["srv_us_per_msg"], s["cli_us_per_msg"] = med(srv), med(cli)
        for k in ("consumer_mb_per_s", "avg_us", "e2e_p50_us", "e2e_p99_us", "e2e_p999_us"):
            if any(k in r for r in rs):
                s[k] = med([r.get(k) for r in rs])
        ab = [r["abuser"] for r in rs if r.get("abuser")]
        if ab:
            rates = [a.get("rate") for a in ab if a.get("rate") is not None]
            s["abuser"] = {"quota": ab[0].get("quota"), "unit": ab[0].get("unit"), "rate_from": ab[0].get("rate_from"),
                           "who": ab[0].get("who", "the abuser"),
                           "rate": med(rates), "rate_min": min(rates, default=None),
                           "rate_max": max(rates, default=None),
                           "ratio": med([a.get("ratio") for a in ab]),
                           "ratio_min": min([a["ratio"] for a in ab if a.get("ratio") is not None], default=None),
                           "ratio_max": max([a["ratio"] for a in ab if a.get("ratio") is not None], default=None)}
            for k in ("fetch_per_s", "throttle_max_ms", "usage_requests_per_s", "attempted", "closed_by_broker",
                      "refused", "timed_out", "payload_bytes_per_s", "client_bytes_per_s"):
                if any(a.get(k) is not None for a in ab):
                    s["abuser"][k] = med([a.get(k) for a in ab])
        rows.append(s)
    # ratios against nagare (the nagare row of the same group, or the first nagare row)
    for s in rows:
        ref = next((x for x in rows if x["system"] == "nagare" and x["group"] == s["group"]), None) or \
            next((x for x in rows if x["system"] == "nagare"), None)
        s["ratio"] = None
        if ref and t["ratio"] == "throughput" and s["msgs_per_s"] and ref["msgs_per_s"]:
            s["ratio"] = ref["msgs_per_s"] / s["msgs_per_s"]          # nagare / this
        elif ref and t["ratio"] == "latency" and s["p99_us"] and ref["p99_us"]:
            s["ratio"] = s["p99_us"] / ref["p99_us"]                  # this / nagare (p99)
    return rows


def kafka_tables():
    """The rows of bench/kafka/run.sh's result, in this suite's form."""
    d = out["sub"].get("kafka", {}).get("data")
    if not d:
        return
    titles = {"produce-100-1": "produce 100 B, acks=1, 1 producer", "produce-100-all": "produce 100 B, acks=all, 1 producer",
              "produce-1024-1": "produce 1 KiB, acks=1, 1 producer", "produce-1024-all": "produce 1 KiB, acks=all, 1 producer",
              "consume-100": "consume 100 B from the beginning", "consume-1024": "consume 1 KiB from the beginning",
              "e2e": "end-to-end latency (send to received by another client), 100 B", "latency": "produce latency"}
    for r in d.get("runs", []):
        sc = r.get("scenario")
        if sc not in titles:
            continue
        r = dict(r)
        r["client_cpu_s"] = r.get("cpu_s")
        name = "kafka-" + sc
        table_add(name, titles[sc] + " [bench/kafka]", r.get("label"), r.get("system"), r, r.get("order", 0),
                  ratio="latency" if sc in ("e2e", "latency") else "throughput",
                  group=r.get("dclass") if sc in ("e2e", "latency") else None)


def print_tables():
    summ = {}
    for name, t in out["tables"].items():
        rows = summarize(t)
        summ[name] = {"title": t["title"], "ratio": t["ratio"], "rows": rows}
        lat = t["ratio"] == "latency"
        print(f"\n=== {name}: {t['title']}  [{max(r['runs'] for r in rows)} runs; median (range)]")
        print(f"  {'':<38} {'msgs/s':>11} {'range':>21} {'MB/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9}"
              f" {'srv us/msg':>10} {'cli us/msg':>10} {'this/nagare p99' if lat else 'nagare/this':>15}")
        for s in rows:
            rng = f"{fmt(s['msgs_per_s_min'])}-{fmt(s['msgs_per_s_max'])}" if s["msgs_per_s_min"] is not None else "-"
            print(f"  {s['label'][:38]:<38} {fmt(s['msgs_per_s']):>11} {rng:>21} {fmt(s['mb_per_s'], 1):>8}"
                  f" {ms(s['p50_us']):>8} {ms(s['p99_us']):>8} {ms(s['p999_us']):>9}"
                  f" {fmt(s['srv_us_per_msg'], 2):>10} {fmt(s['cli_us_per_msg'], 2):>10}"
                  f" {(fmt(s['ratio'], 2) + 'x') if s['ratio'] else '-':>15}")
            for e in s["errors"][:2]:
                print(f"    ! {e}")
        for s in rows:
            if s.get("consumer_mb_per_s") and not s.get("abuser"):
                print(f"  ({s['label']}: the consumer read {s['consumer_mb_per_s']:,.1f} MB/s, median of the runs)")
        for line in extra_lines(rows):
            print(f"  {line}")
    out["summary"] = summ
    return summ


def rate_txt(v, unit):
    if v is None:
        return "-"
    if unit == "B/s":
        return f"{v / 1e6:,.2f} MB/s"
    if unit == "%":
        return f"{v:,.2f}%" if v < 10 else f"{v:,.1f}%"
    return f"{v:,.0f} {unit}"


ABUSER_FIGURES = (("fetch_per_s", "Fetch requests/s (its librdkafka statistics)"),
                  ("usage_requests_per_s", "requests/s (nagare.client_usage)"),
                  ("throttle_max_ms", "largest throttle_time_ms it was told"),
                  ("attempted", "connections attempted in the window"),
                  ("closed_by_broker", "closed by the broker before an answer"),
                  ("refused", "refused"), ("timed_out", "timed out"))


def extra_lines(rows):
    """the lines under a table: the tailing consumer's end-to-end latency,
    the abuser's achieved rate against its quota"""
    o = []
    for s in rows:
        if s.get("e2e_p99_us") is not None:
            o.append(f"({s['label']}: the tailing consumer's end to end p50 {ms(s.get('e2e_p50_us'))} ms, "
                     f"p99 {ms(s['e2e_p99_us'])} ms, p99.9 {ms(s.get('e2e_p999_us'))} ms)")
    for s in rows:
        a = s.get("abuser")
        if not a:
            continue
        rng = (f" (runs {rate_txt(a['rate_min'], a['unit'])} to {rate_txt(a['rate_max'], a['unit'])})"
               if a.get("rate_min") is not None and a["rate_min"] != a["rate_max"] else "")
        extra = "".join(f", {what} {fmt(a[k], 1 if isinstance(a[k], float) and a[k] < 100 else 0)}"
                        for k, what in ABUSER_FIGURES if a.get(k) is not None)
        o.append(f"({s['label']}: {a.get('who', 'the abuser')} achieved {rate_txt(a.get('rate'), a['unit'])}{rng} "
                 f"against a quota of "
                 f"{rate_txt(a['quota'], a['unit'])}"
                 + (f" = {a['ratio']:.2f}x" if a.get("ratio") is not None else "")
                 + f"; measured from {a.get('rate_from')}{extra})")
    return o


def goals(summ):
    g = out["goals"]

    def get(name, label):
        for s in summ.get(name, {}).get("rows", []):
            if s["label"] == label:
                return s
        return None

    def add(goal, measured, met):
        g.append({"goal": goal, "measured": measured, "met": met})

    iso_a, iso_b = get("isolation", "producers alone"), get("isolation", "producers + cold catch-up consumer")
    if iso_a and iso_b and iso_a["p99_us"] and iso_b["p99_us"]:
        x = iso_b["p99_us"] / iso_a["p99_us"]
        y = (iso_b["p999_us"] or 0) / (iso_a["p999_us"] or 1)
        add("isolation: producers' p99 with the cold consumer / without <= 1.5",
            f"p99 {ms(iso_b['p99_us'])} / {ms(iso_a['p99_us'])} ms = {x:.2f}x (p99.9 {y:.2f}x)", x <= 1.5)
    iso_q = get("isolation", COLD_QUOTA_LABEL)
    if iso_a and not iso_q and not out.get("capabilities", {}).get("quotas", True):
        add("isolation: producers' p99 with the cold consumer under a consumer_byte_rate quota / without <= 1.5",
            "quotas not available in this build", False)
    if iso_a and iso_q and iso_a["p99_us"] and iso_q["p99_us"]:
        x = iso_q["p99_us"] / iso_a["p99_us"]
        y = (iso_q["p999_us"] or 0) / (iso_a["p999_us"] or 1)
        add(f"isolation: producers' p99 with the cold consumer under consumer_byte_rate {COLD_QUOTA / 1e6:g} MB/s "
            f"/ without <= 1.5",
            f"p99 {ms(iso_q['p99_us'])} / {ms(iso_a['p99_us'])} ms = {x:.2f}x (p99.9 {y:.2f}x)", x <= 1.5)
        a = iso_q.get("abuser") or {}
        if a.get("ratio") is not None:
            add("isolation: the cold consumer held within 10% of its consumer_byte_rate",
                f"{rate_txt(a['rate'], 'B/s')} against {rate_txt(a['quota'], 'B/s')} = {a['ratio']:.2f}x",
                0.9 <= a["ratio"] <= 1.1)
    for part in QUOTA_PARTS:
        alone, noq, q = (get(f"quota-{part}", lab) for lab in (
            "well-behaved clients alone", "+ the abuser, no quota", "+ the abuser, held by its quota"))
        if not alone:
            continue
        if not q:
            add(f"quota/{part}: the abuser held within 10% of its quota, the others' p99 and p99.9 at most 1.2x",
                "quotas not available in this build" + (
                    f" (without a quota: others' p99 {ms(noq['p99_us'])} / {ms(alone['p99_us'])} ms)"
                    if noq and noq["p99_us"] and alone["p99_us"] else ""), False)
            continue
        a = q.get("abuser") or {}
        if a.get("ratio") is not None:
            add(f"quota/{part}: the abuser held within 10% of its quota",
                f"{rate_txt(a['rate'], a['unit'])} against {rate_txt(a['quota'], a['unit'])} = {a['ratio']:.2f}x "
                f"(runs {a['ratio_min']:.2f}-{a['ratio_max']:.2f}x)", 0.9 <= a["ratio"] <= 1.1)
        else:
            add(f"quota/{part}: the abuser held within 10% of its quota", "not measured (no usage view)", False)
        ratios, txt = [], []
        for k, what in (("p99_us", "producers' p99"), ("p999_us", "p99.9"), ("e2e_p99_us", "consumer's e2e p99"),
                        ("e2e_p999_us", "p99.9")):
            if alone.get(k) and q.get(k):
                ratios.append(q[k] / alone[k])
                txt.append(f"{what} {ms(q[k])} / {ms(alone[k])} ms = {q[k] / alone[k]:.2f}x")
        if ratios:
            add(f"quota/{part}: the others' p99 and p99.9 with the abuser held / alone <= 1.2", "; ".join(txt),
                max(ratios) <= 1.2)
    for name in ("usage-batched", "usage-small"):
        on, off = get(name, "nagare.client_usage = on"), get(name, "nagare.client_usage = off")
        if on and off and on["msgs_per_s"] and off["msgs_per_s"]:
            x = 1 - on["msgs_per_s"] / off["msgs_per_s"]
            add(f"{name}: per-client accounting costs at most 3% of produce throughput",
                f"{fmt(on['msgs_per_s'])} msgs/s on vs {fmt(off['msgs_per_s'])} off = {100 * x:+.1f}% "
                f"(on: {fmt(on['msgs_per_s_min'])}-{fmt(on['msgs_per_s_max'])}, "
                f"off: {fmt(off['msgs_per_s_min'])}-{fmt(off['msgs_per_s_max'])})", x <= 0.03)
        elif get(name, "nagare.client_usage not in this build"):
            add(f"{name}: per-client accounting costs at most 3% of produce throughput",
                "nagare.client_usage not available in this build", False)
    for name in ("deps-batched", "deps-small"):
        on, off = get(name, "nagare.track_dependencies = on"), get(name, "nagare.track_dependencies = off")
        if on and off and on["msgs_per_s"] and off["msgs_per_s"]:
            x = 1 - on["msgs_per_s"] / off["msgs_per_s"]
            add(f"{name}: counting dependency edges costs at most 3% of produce throughput",
                f"{fmt(on['msgs_per_s'])} msgs/s on vs {fmt(off['msgs_per_s'])} off = {100 * x:+.1f}% "
                f"(on: {fmt(on['msgs_per_s_min'])}-{fmt(on['msgs_per_s_max'])}, "
                f"off: {fmt(off['msgs_per_s_min'])}-{fmt(off['msgs_per_s_max'])})", x <= 0.03)
    pl, ss = get("security-tls", "PLAINTEXT"), get("security-tls", "SASL_SSL")
    if pl and ss and pl["msgs_per_s"] and ss["msgs_per_s"]:
        x = ss["msgs_per_s"] / pl["msgs_per_s"]
        add("produce 1 KiB over SASL_SSL: at least 70% of PLAINTEXT",
            f"{fmt(ss['msgs_per_s'])} vs {fmt(pl['msgs_per_s'])} msgs/s = {100 * x:.0f}%", x >= 0.7)
    aa, am = get("acl", ACL_ALONE), get("acl", ACL_MANY)
    if aa and am and aa["msgs_per_s"] and am["msgs_per_s"]:
        x = 1 - am["msgs_per_s"] / aa["msgs_per_s"]
        add(f"{ACL_OTHERS:,} ACLs cost at most 5% of produce throughput",
            f"{fmt(am['msgs_per_s'])} msgs/s with them vs {fmt(aa['msgs_per_s'])} without = {100 * x:+.1f}% "
            f"(with: {fmt(am['msgs_per_s_min'])}-{fmt(am['msgs_per_s_max'])}, "
            f"without: {fmt(aa['msgs_per_s_min'])}-{fmt(aa['msgs_per_s_max'])})", x <= 0.05)
    la, lb = get("security-logins", "producers alone"), get("security-logins", "producers + 500 logins/s")
    if la and lb and la["p99_us"] and lb["p99_us"]:
        x = lb["p99_us"] / la["p99_us"]
        # the storm must have come: 95% of the 500 logins/s asked, in every run
        raw = out["tables"]["security-logins"]["rows"]["producers + 500 logins/s"]["runs"]
        rates = [(r.get("logins") or {}).get("rate_ok") or 0 for r in raw]
        enough = bool(rates) and min(rates) >= 0.95 * 500
        add("500 SCRAM logins/s: producers' p99 at most 1.5x of without",
            f"p99 {ms(lb['p99_us'])} / {ms(la['p99_us'])} ms = {x:.2f}x, logins/s achieved "
            f"{'/'.join(f'{v:g}' for v in rates)}", x <= 1.5 and enough)
    for acks in ("1", "all"):
        for prefix, n in (("kafka-produce", "1 producer"), ("produce8", "8 producers")):
            name = f"{prefix}-1024-{acks}"
            rows = summ.get(name, {}).get("rows", [])
            nag = next((s for s in rows if s["system"] == "nagare"), None)
            peers = [s for s in rows if s["system"] != "nagare" and s["msgs_per_s"]]
            if nag and peers and nag["msgs_per_s"]:
                best = max(peers, key=lambda s: s["msgs_per_s"])
                x = nag["msgs_per_s"] / best["msgs_per_s"]
                add(f"produce 1 KiB acks={acks} ({n}): at least 3x the faster peer",
                    f"{fmt(nag['msgs_per_s'])} vs {best['label']} {fmt(best['msgs_per_s'])} msgs/s = {x:.2f}x", x >= 3)
    for size in ("100", "1024"):
        rows = summ.get(f"kafka-consume-{size}", {}).get("rows", [])
        nag = next((s for s in rows if s["system"] == "nagare"), None)
        red = next((s for s in rows if s["system"] == "redis"), None)
        if nag and red and red["msgs_per_s"] and nag["msgs_per_s"]:
            x = nag["msgs_per_s"] / red["msgs_per_s"]
            add(f"consume {size} B: at least 3x Redis XREAD", f"{fmt(nag['msgs_per_s'])} vs {fmt(red['msgs_per_s'])} msgs/s = {x:.2f}x", x >= 3)
    for name in ("kafka-produce-100-1", "kafka-produce-100-all", "kafka-consume-100", "produce8-100-1", "produce8-100-all"):
        rows = summ.get(name, {}).get("rows", [])
        nag = next((s for s in rows if s["system"] == "nagare"), None)
        if nag and nag["msgs_per_s"]:
            add(f"{name}: 100-byte records at 1,000,000/s or more", f"{fmt(nag['msgs_per_s'])} msgs/s",
                nag["msgs_per_s"] >= 1e6)
    for name, a, b, what in (("partitions-latency", "nagare, 1 partition", "nagare, 1,000 partitions", "1,000 partitions"),
                             ("connections", "nagare, 50 active + 0 idle", "nagare, 50 active + 1,000 idle", "1,000 idle connections")):
        x, y = get(name, a), get(name, b)
        if x and y and x["p99_us"] and y["p99_us"]:
            r = y["p99_us"] / x["p99_us"]
            add(f"{what}: p99 rises at most 2x", f"p99 {ms(y['p99_us'])} vs {ms(x['p99_us'])} ms = {r:.2f}x", r <= 2)
    print("\n=== goals (measured, not asserted)")
    for x in g:
        print(f"  {'MET   ' if x['met'] else 'MISSED'} {x['goal']}: {x['measured']}")


def print_phys():
    p = out.get("phys")
    if not p:
        return
    print("\n=== phys: the machine (same run)")
    print(f"  sequential write, buffered:            {fmt(p.get('buffered_mb_per_s'), 0)} MB/s "
          f"(+ {p.get('write_flush_s')} s for the final fdatasync of {p.get('mb')} MiB)")
    print(f"  sequential write, fdatasync every MiB: {fmt(p.get('fdatasync_each_mib_mb_per_s'), 0)} MB/s")
    print(f"  200-byte append + fdatasync:           p50 {p.get('append_fdatasync_p50_us')} us, "
          f"p99 {p.get('append_fdatasync_p99_us')} us, p99.9 {p.get('append_fdatasync_p999_us')} us")
    print(f"  loopback TCP (iperf3, 1 stream):       {p.get('iperf3_gbit_per_s')} Gbit/s")
    for k, what in (("tcp_rtt", "unpinned"), ("tcp_rtt_pinned", "both on CPU 0")):
        q = p.get(k, {})
        print(f"  loopback TCP round trip, 100 B, {what:<14} p50 {q.get('tcp_rtt_p50_us')} us, "
              f"p99 {q.get('tcp_rtt_p99_us')} us, p99.9 {q.get('tcp_rtt_p999_us')} us")


def save(fig, path):
    """the chart as path.svg (returned) and path.png"""
    import matplotlib.pyplot as plt
    fig.tight_layout()
    fig.savefig(path + ".svg")
    fig.savefig(path + ".png", dpi=72)
    plt.close(fig)
    return path + ".svg"


def charts(summ, base):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        out["notes"].append("no matplotlib: no charts")
        return []
    files = []
    colors = {"nagare": "#2b6cb0", "redis": "#c53030", "nats": "#2f855a", "pg": "#805ad5"}
    thr = [(n, t) for n, t in summ.items() if t["ratio"] == "throughput"]
    if thr:
        fig, axes = plt.subplots(len(thr), 1, figsize=(9, 1.0 + 0.42 * sum(len(t["rows"]) for _, t in thr) + 0.5 * len(thr)))
        axes = axes if len(thr) > 1 else [axes]
        for ax, (n, t) in zip(axes, thr):
            labs = [s["label"] for s in t["rows"]][::-1]
            vals = [s["msgs_per_s"] or 0 for s in t["rows"]][::-1]
            errs = [[(s["msgs_per_s"] or 0) - (s["msgs_per_s_min"] or 0) for s in t["rows"]][::-1],
                    [(s["msgs_per_s_max"] or 0) - (s["msgs_per_s"] or 0) for s in t["rows"]][::-1]]
            ax.barh(labs, vals, xerr=errs, color=[colors.get(s["system"], "#718096") for s in t["rows"]][::-1])
            for i, v in enumerate(vals):
                ax.text(v, i, f" {v:,.0f}", va="center", fontsize=7)
            ax.set_title(f"{n}: {t['title']}", fontsize=8, loc="left")
            ax.tick_params(labelsize=7)
            ax.set_xlim(0, max(vals + [1]) * 1.3)
        axes[-1].set_xlabel("messages per second (median of the runs; bars: range)")
        files.append(save(fig, base + "-throughput"))
    lat = [(n, t) for n, t in summ.items() if t["ratio"] == "latency"]
    if lat:
        fig, axes = plt.subplots(len(lat), 1, figsize=(9, 1.0 + 0.42 * sum(len(t["rows"]) for _, t in lat) + 0.5 * len(lat)))
        axes = axes if len(lat) > 1 else [axes]
        for ax, (n, t) in zip(axes, lat):
            rows = t["rows"][::-1]
            y = range(len(rows))
            for k, (key, c) in enumerate((("p50_us", "#90cdf4"), ("p99_us", "#3182ce"), ("p999_us", "#1a365d"))):
                ax.barh([i + (k - 1) * 0.27 for i in y], [(s[key] or 0) / 1000 for s in rows], height=0.27, color=c,
                        label=key.replace("_us", "").replace("p999", "p99.9"))
            ax.set_yticks(list(y))
            ax.set_yticklabels([s["label"] for s in rows], fontsize=7)
            ax.set_xscale("log")
            ax.set_title(f"{n}: {t['title']}", fontsize=8, loc="left")
            ax.tick_params(labelsize=7)
        axes[0].legend(fontsize=7, loc="lower right")
        axes[-1].set_xlabel("latency, ms (log scale; median of the runs' percentiles)")
        files.append(save(fig, base + "-latency"))
    return files


# ------------------------------------------------------------------ main

def librdkafka_pypi():
    """LIBRDKAFKA=pypi: the librdkafka of confluent-kafka's wheel (the venv
    scripts/deps.sh makes for test/t/126_confluent_kafka.pl, at its pinned
    version) in place of Debian's for every librdkafka client the suite
    runs (its load generators, built against Debian's headers: the ABI is
    the same, and kcat): LD_LIBRARY_PATH names a directory with it as
    librdkafka.so.1.  Returns its version."""
    import ctypes
    venv = ENV.get("NAGARE_CONFLUENT_VENV", "/opt/nagare-test/confluent-venv")
    libs = sorted(glob.glob(f"{venv}/lib/python3*/site-packages/confluent_kafka.libs/librdkafka*.so*"))
    if not libs:
        raise SystemExit(f"LIBRDKAFKA=pypi: no librdkafka in {venv}; run scripts/deps.sh as root")
    d = os.path.join(work, "librdkafka")
    os.makedirs(d, exist_ok=True)
    os.symlink(libs[0], os.path.join(d, "librdkafka.so.1"))
    ENV["LD_LIBRARY_PATH"] = d + (":" + ENV["LD_LIBRARY_PATH"] if ENV.get("LD_LIBRARY_PATH") else "")
    lib = ctypes.CDLL(libs[0])
    lib.rd_kafka_version_str.restype = ctypes.c_char_p
    return lib.rd_kafka_version_str().decode()


def main():
    b = build()
    if ENV.get("LIBRDKAFKA", "debian") == "pypi":
        RDKAFKA_VERSION[0] = librdkafka_pypi()
        log(f"librdkafka {RDKAFKA_VERSION[0]} (confluent-kafka's wheel) for every librdkafka client")
    rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    so = "/usr/lib/postgresql/15/lib/nagare.so"
    cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")]
    out["settings"] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": "bench/run",
        "host": f"{os.uname().release}, {NCPU} CPUs ({cpu[0] if cpu else '?'}), "
                f"{int(open('/proc/meminfo').readline().split()[1]) // 1024} MB",
        "nagare": f"commit {rev}; nagare.so built {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(os.path.getmtime(so)))}",
        "knobs": {"SCENARIOS": " ".join(SCENARIOS), "RUNS": RUNS, "DURATION": DURATION,
                  "LAT_SECONDS": LAT_SECONDS, "FILL_GB": FILL_GB},
        "librdkafka": RDKAFKA_VERSION[0]}
    if "phys" in SCENARIOS:
        sc_phys(b)
    if "kafka" in SCENARIOS:
        sub_bench("kafka", os.path.join(REPO, "bench", "kafka", "run.sh"),
                  {"RUNS": str(SUB_RUNS), "RETRY_BUDGET": "30", "DURATION": str(int(DURATION)), "MAX_100": "3000000", "MAX_1K": "1000000",
                   "SCENARIOS": "produce consume e2e", "LAT_SECONDS": str(int(LAT_SECONDS)), "INSTALL": "0"})
        kafka_tables()
    if "send" in SCENARIOS:
        sub_bench("send", os.path.join(REPO, "bench", "send", "run.sh"),
                  {"RUNS": str(SUB_RUNS), "DURATION": "4", "BATCH_DURATION": "4", "PROFILE": "0", "RETRY_BUDGET": "30",
                   "BUILD": "0"})
    if "publish" in SCENARIOS:
        sub_bench("publish", os.path.join(REPO, "bench", "publish", "run.sh"),
                  {"RUNS": str(SUB_RUNS), "INSTALL": "0", "MULTI_TX": "100", "DURATION": "4", "PIPE_SECONDS": "2",
                   "LAT_SECONDS": "4", "CDC_ROWS": "50000", "RETRY_BUDGET": "30"})
    if "dns" in SCENARIOS:
        sub_bench("dns", os.path.join(REPO, "bench", "dns", "run.sh"), {"SECONDS_RUN": "5"})
    if "registry" in SCENARIOS:
        sub_bench("registry", os.path.join(REPO, "bench", "registry", "run.sh"), {"RUNS": "3", "SECONDS_RUN": "10"})
    own = [s for s in ("latency", "producers8", "partitions", "connections", "queue", "isolation", "security",
                       "acl", "quota", "usage", "deps") if s in SCENARIOS]
    if own:
        log(f"starting nagare{', redis-server and nats-server' if any(s in SCENARIOS for s in PEER_SCENARIOS) else ''}"
            f" in {work}")
        start_servers()
        try:
            for s in own:
                settle()
                t0 = time.time()
                globals()["sc_" + s](b)
                log(f"    {s}: {round(time.time() - t0)} s")
        finally:
            stop_servers()
    print_phys()
    for name in ("kafka", "send", "publish", "dns", "registry"):
        if name in out["sub"]:
            print(f"\n##### bench/{name} (its own report)\n")
            print(out["sub"][name]["printed"])
    summ = print_tables()
    goals(summ)
    base = os.path.join(RESULTS, f"suite-{stamp}")
    out["charts"] = [os.path.basename(f) for f in charts(summ, base)]
    out["settings"]["seconds"] = round(time.time() - started)
    json.dump(out, open(base + ".json", "w"), indent=1, default=str)
    print(f"\nresults: {os.path.relpath(base, REPO)}.json" +
          "".join(f", {c}" for c in out["charts"]))
    for n in out["notes"]:
        print(f"note: {n}")
    print(f"total time: {round(time.time() - started)} s")


def markdown(path):
    """suite.py markdown RESULT.json: the tables and goals as Markdown (for docs/performance.md)"""
    d = json.load(open(path))
    p = d.get("phys") or {}
    o = []
    if p:
        o += ["### The machine (same run)", "", "| | |", "|---|---:|",
              f"| sequential write, buffered | {fmt(p.get('buffered_mb_per_s'))} MB/s |",
              f"| sequential write, `fdatasync` after every MiB | {fmt(p.get('fdatasync_each_mib_mb_per_s'))} MB/s |",
              f"| 200-byte append + `fdatasync`, p50 / p99 / p99.9 | {p.get('append_fdatasync_p50_us')} / "
              f"{p.get('append_fdatasync_p99_us')} / {p.get('append_fdatasync_p999_us')} µs |",
              f"| loopback TCP, `iperf3`, one stream | {p.get('iperf3_gbit_per_s')} Gbit/s |"]
        for k, what in (("tcp_rtt", "unpinned"), ("tcp_rtt_pinned", "both on CPU 0")):
            q = p.get(k, {})
            o.append(f"| loopback TCP round trip (100 B), {what}, p50 / p99 / p99.9 | {q.get('tcp_rtt_p50_us')} / "
                     f"{q.get('tcp_rtt_p99_us')} / {q.get('tcp_rtt_p999_us')} µs |")
        o.append("")
    for name, t in d.get("summary", {}).items():
        lat = t["ratio"] == "latency"
        o += [f"#### `{name}`: {t['title']}", "",
              "| | msgs/s | range | MB/s | p50 ms | p99 ms | p99.9 ms | srv µs/msg | cli µs/msg | "
              + ("this/nagare p99 |" if lat else "nagare/this |"),
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in t["rows"]:
            rng = f"{fmt(r['msgs_per_s_min'])}–{fmt(r['msgs_per_s_max'])}" if r.get("msgs_per_s_min") is not None else "-"
            o.append(f"| {r['label']} | {fmt(r['msgs_per_s'])} | {rng} | {fmt(r['mb_per_s'], 1)} | {ms(r['p50_us'])} | "
                     f"{ms(r['p99_us'])} | {ms(r['p999_us'])} | {fmt(r['srv_us_per_msg'], 2)} | "
                     f"{fmt(r['cli_us_per_msg'], 2)} | {(fmt(r['ratio'], 2) + 'x') if r.get('ratio') else '-'} |")
        for r in t["rows"]:
            if r.get("consumer_mb_per_s") and not r.get("abuser"):
                o.append(f"\n{r['label']}: the consumer read {r['consumer_mb_per_s']:,.1f} MB/s (median of the runs).")
        for line in extra_lines(t["rows"]):
            o.append(f"\n{line[1:-1]}.")
        o.append("")
    o += ["### Goals (measured, not asserted)", "", "| goal | measured | |", "|---|---|---|"]
    for g in d.get("goals", []):
        o.append(f"| {g['goal']} | {g['measured']} | **{'MET' if g['met'] else 'MISSED'}** |")
    print("\n".join(o))


if __name__ == "__main__" and sys.argv[1:2] == ["charts"]:
    # suite.py charts RESULT.json: draw the charts of a result again
    shutil.rmtree(work, ignore_errors=True)
    print(charts(json.load(open(sys.argv[2]))["summary"], sys.argv[2][:-len(".json")]))
elif __name__ == "__main__" and sys.argv[1:2] == ["markdown"]:
    markdown(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
elif __name__ == "__main__":
    try:
        main()
    finally:
        stop_servers()
        if not KEEP:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}", file=sys.stderr)
