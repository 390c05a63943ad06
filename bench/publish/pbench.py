#!/usr/bin/env python3
"""Helpers of bench/publish/run.sh.

  pbench.py run OUT.json --pg PID [--consumer PID] [--pgbench PREFIX]
                [--set KEY=VALUE]... -- COMMAND...
      run one measurement (COMMAND: pubbench, which prints one JSON line, or
      pgbench, whose output and per-transaction log PREFIX.* are read);
      add the KEY=VALUE fields, the CPU used meanwhile by class (PostgreSQL
      backends, the nagare ingest worker, the broker, the walwriter,
      walsenders, other PostgreSQL processes, the client, the consumer
      process, the kernel) and how much of the machine processes outside the
      benchmark used (noise_pct); write it to OUT.json and print a one-line
      summary on stderr.  Exits with the command's status.

  pbench.py field FILE.json KEY      print one field of a result ("" if none)

  pbench.py report WORKDIR OUT.json  read WORKDIR/settings.json and every
      WORKDIR/res/*.json, print one table per scenario and the goals, and
      write everything to OUT.json.

The /proc snapshots are bench/send/analyze.py's.
"""
import glob
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "send"))
import analyze  # noqa: E402  (bench/send/analyze.py: snapshot(), pct())

TICK = 1.0 / os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
CLASSES = ["backend", "ingest", "broker", "walwriter", "walsender", "pg-other",
           "client", "consumer", "kernel"]
# the backend of pubbench's own watcher (high watermark polls, the consumer of
# scenario 3): shown, not counted in the totals
WATCH = "watcher"

# --------------------------------------------------------------------------
# run


def pg_class(cmd):
    if cmd.startswith("postgres: nagare ingest"):
        return "ingest"
    if cmd.startswith("postgres: nagare broker"):
        return "broker"
    if cmd.startswith("postgres: walwriter"):
        return "walwriter"
    if cmd.startswith("postgres: walsender"):
        return "walsender"
    if cmd.startswith("postgres: nagare") or cmd.startswith("postgres: logical replication"):
        return "pg-other"
    if "[local]" in cmd or re.match(r"postgres: \S+ \S+ ", cmd):
        return "backend"
    return "pg-other"


def cpu_classes(a, b, pg, me, consumer):
    """CPU seconds per class between two analyze.snapshot()s, and the noise."""
    res = {c: 0.0 for c in CLASSES}
    harness = 0.0
    pa = {p["pid"]: p for p in a["procs"]}
    for p in b["procs"]:
        old = pa.get(p["pid"])
        d = (p["ticks"] - (old["ticks"] if old else 0)) * TICK
        dc = (p["cticks"] - (old["cticks"] if old else 0)) * TICK
        if p["pid"] == pg:
            res["pg-other"] += d
            # backends (and walsenders) that ended within the window: the
            # postmaster reaped them
            res["backend"] += dc
        elif p["root"] == pg:
            # a backend that has exited but is not reaped yet has no
            # cmdline (cmd falls back to comm): count it as a backend
            res["backend" if p["cmd"] == p["comm"] else pg_class(p["cmd"])] += d
        elif p["pid"] == me:
            harness += d            # this script's snapshots
            res["client"] += dc     # the command (and runuser), reaped
        elif consumer and p["root"] == consumer:
            res["consumer"] += d
    # kernel threads by name; one that exited makes its name's sum go down
    kt = sum(max(0, v - a["kthreads"].get(k, 0)) for k, v in b["kthreads"].items())
    d = [y - x for x, y in zip(a["cpu"], b["cpu"])]
    res["kernel"] = (kt + d[5] + d[6]) * TICK       # kernel threads, irq, softirq
    busy = (d[0] + d[1] + d[2] + d[5] + d[6]) * TICK
    ours = sum(res.values()) + harness
    window = b["t"] - a["t"]
    return {"cpu_s": res, "window_s": window, "busy_pct": 100.0 * busy / (window * NCPU),
            "noise_pct": 100.0 * max(0.0, busy - ours) / (window * NCPU)}


def parse_pgbench(text, prefix):
    out = {}
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", text)
    out["tps"] = float(m.group(1)) if m else None
    m = re.search(r"number of transactions actually processed: (\d+)", text)
    out["transactions"] = int(m.group(1)) if m else 0
    m = re.search(r"number of failed transactions: (\d+)", text)
    out["failed"] = int(m.group(1)) if m else 0
    # per-statement average latencies (-r): "   1.234   0  COMMIT;"
    stmts = {}
    for line in text.splitlines():
        m = re.match(r"^\s+([0-9.]+)\s+(\d+)\s+(\S.*)$", line)
        if m:
            word = m.group(3).split()[0].rstrip(";").upper()
            stmts[word] = float(m.group(1))
    out["stmt_avg_ms"] = stmts
    lat = []
    for f in glob.glob(prefix + ".*"):
        with open(f) as fh:
            for line in fh:
                x = line.split()
                if len(x) >= 6:
                    lat.append(float(x[2]))
    lat.sort()
    out["lat_n"] = len(lat)
    out["p50_ms"] = analyze.pct(lat, 0.50) / 1000.0 if lat else None
    out["p99_ms"] = analyze.pct(lat, 0.99) / 1000.0 if lat else None
    out["msgs"] = out["transactions"]
    return out


def wait_backends_gone(pg, keep_walsenders, timeout=3.0):
    """Wait until the postmaster has no client backend left (they exit, and
    are reaped, a little after their client): a backend reaped in the middle
    of a measurement would bring its whole CPU time into it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = False
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            st = analyze._read(f"/proc/{d}/stat")
            if st is None or int(analyze._stat_fields(st)[1][1]) != pg:
                continue
            cmd = (analyze._read(f"/proc/{d}/cmdline") or "").replace("\0", " ")
            if cmd.startswith("postgres: walsender") and keep_walsenders:
                continue
            if "[local]" in cmd or not cmd.strip():
                busy = True
                break
        if not busy:
            return
        time.sleep(0.01)


def cmd_run(argv):
    out = argv[0]
    pg = consumer = None
    pgbench = None
    extra = {}
    i = 1
    while i < len(argv) and argv[i] != "--":
        if argv[i] == "--pg":
            pg = int(argv[i + 1])
        elif argv[i] == "--consumer":
            consumer = int(argv[i + 1]) if argv[i + 1] else None
        elif argv[i] == "--pgbench":
            pgbench = argv[i + 1]
        elif argv[i] == "--set":
            k, v = argv[i + 1].split("=", 1)
            try:
                extra[k] = json.loads(v)
            except ValueError:
                extra[k] = v
        else:
            sys.exit(f"pbench.py run: unknown option {argv[i]}")
        i += 2
    cmd = argv[i + 1:]
    me = os.getpid()
    roots = [r for r in (pg, me, consumer) if r]
    wait_backends_gone(pg, consumer is not None)
    a = analyze.snapshot(roots)
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        p = subprocess.CompletedProcess(cmd, 127, "", str(e))
    wall = time.monotonic() - t0
    wait_backends_gone(pg, consumer is not None)
    b = analyze.snapshot(roots)
    res = {}
    if pgbench:
        res = parse_pgbench(p.stdout, pgbench)
    else:
        lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
        if lines:
            res = json.loads(lines[-1])
    if p.returncode != 0:
        res["error"] = (res.get("error", "") + " " + p.stderr.strip()[-500:]).strip() or f"exit status {p.returncode}"
    res.update(extra)
    res.update(cpu_classes(a, b, pg, me, consumer))
    w = res.get("poller_backend_cpu_s")
    if isinstance(w, (int, float)) and not math.isnan(w):
        w = min(w, res["cpu_s"]["backend"])
        res["cpu_s"]["backend"] -= w
        res["cpu_s"][WATCH] = w
    res["rc"] = p.returncode
    res["wall_s"] = wall
    res["stderr"] = p.stderr[-2000:]
    with open(out, "w") as fh:
        json.dump(res, fh)
    sys.exit(p.returncode)


def cmd_field(argv):
    try:
        with open(argv[0]) as fh:
            v = json.load(fh).get(argv[1], "")
    except (OSError, ValueError):
        v = ""
    if isinstance(v, float):
        v = f"{v:.3f}"
    print("" if v is None else v)


# --------------------------------------------------------------------------
# report


def fint(x):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.0f}"


def fms(x, nd=2):
    if isinstance(x, float) and math.isinf(x):
        return "never"
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def med(vals):
    vals = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(vals) if vals else None


def rng(vals, f):
    vals = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return "-"
    return f"{f(min(vals))}-{f(max(vals))}"


def noise_str(runs):
    return "/".join(f"{r.get('noise_pct', 0):.0f}" for r in runs)


def cpu_per_msg(r, key="msgs"):
    n = r.get(key) or 0
    if not n or "cpu_s" not in r:
        return None
    c = {k: v * 1e6 / n for k, v in r["cpu_s"].items()}
    c.setdefault(WATCH, 0.0)
    c["total"] = sum(v for k, v in r["cpu_s"].items() if k != WATCH) * 1e6 / n
    return c


def median_run(runs, key):
    s = sorted(runs, key=lambda r: r.get(key) or 0)
    return s[(len(s) - 1) // 2] if s else None


TITLES = {
    "multi": "Scenario 1: 1000 messages per transaction, one statement per transaction",
    "single": "Scenario 2a: one-message transactions, commit latency (pgbench -M prepared, 1 client)",
    "pipe": "Scenario 2b: one-message transactions, pipelined (no round trip per transaction)",
    "latency": "Scenario 3: commit-to-consumable latency of publish() at a fixed rate",
    "cdc": "Scenario 4: change data capture throughput",
}


def trouble_of(r):
    """What nagare did wrong in this run, or None."""
    return r.get("trouble")


def group_rows(results, scenario):
    rows = {}
    for r in results:
        if r.get("scenario") != scenario:
            continue
        rows.setdefault(r["system"], []).append(r)
    out = []
    for sysname, runs in rows.items():
        runs.sort(key=lambda r: r.get("run", 0))
        out.append({"system": sysname, "label": runs[0].get("label", sysname),
                    "order": runs[0].get("order", 99), "runs": runs})
    out.sort(key=lambda x: x["order"])
    return out


def rate_of(r, key):
    """a run's rate; a run that never got everything out counts as 0"""
    v = r.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return 0.0 if r.get("error") else None
    return v


def throughput_table(rows, key, unit, what):
    """scenarios 1, 2b and 4: rates, with the ratio nagare/this"""
    base_v = med([rate_of(r, key) for r in rows[0]["runs"]])
    tx = what == "msg"
    commit_key = "commit_msgs_per_s" if tx else "workload_changes_per_s"
    w = max(len(x["label"]) for x in rows) + 2
    print(f"  {'':{w}}{unit:>12} {'range':>17} {'commit ' + unit:>16} {'drain ms':>9} "
          + (f"{'tx p50 ms':>10} {'tx p99 ms':>10} " if tx else "")
          + f"{'CPU us/' + what:>12} {'nagare/this':>12} {'noise%':>9}")
    summary = []
    for x in rows:
        runs = x["runs"]
        v = med([rate_of(r, key) for r in runs])
        c = med([r.get(commit_key) for r in runs])
        drain = med([r.get("drain_ms") for r in runs])
        p50 = med([r.get("tx_p50_us") for r in runs])
        p99 = med([r.get("tx_p99_us") for r in runs])
        mr = median_run(runs, key)
        cpm = cpu_per_msg(mr, "msgs" if tx else "changes") if mr else None
        ratio = base_v / v if base_v is not None and v else None
        print(f"  {x['label']:{w}}{fint(v):>12} {rng([rate_of(r, key) for r in runs], fint):>17} {fint(c):>16} "
              f"{fint(drain):>9} "
              + (f"{fms(p50 / 1000 if p50 else None):>10} {fms(p99 / 1000 if p99 else None):>10} " if tx else "")
              + f"{fms(cpm['total'] if cpm else None, 1):>12} {(f'{ratio:.2f}x' if ratio else '-'):>12} {noise_str(runs):>9}")
        summary.append({"system": x["system"], "label": x["label"], key: v, "runs": [rate_of(r, key) for r in runs],
                        commit_key: c, "drain_ms": drain, "tx_p50_ms": p50 / 1000 if p50 else None,
                        "tx_p99_ms": p99 / 1000 if p99 else None, "cpu_us_per_" + what: cpm,
                        "nagare_vs_this": ratio, "noise_pct": [r.get("noise_pct") for r in runs]})
    return summary


def cpu_table(rows, what, key=None):
    cols = [c for c in CLASSES] + ["total", WATCH]
    w = max(len(x["label"]) for x in rows) + 4
    span = "during the pgbench run" if key == "tps" else "whole run including the drain"
    print(f"    CPU microseconds per {what} (median run, {span}), by process")
    print(f"    ({WATCH}: the backend polling the high watermark, not in the total):")
    print(f"    {'':{w}}" + "".join(f"{c:>10}" for c in cols) + f"{'busy%':>7}")
    key = key or ("e2e_msgs_per_s" if what == "message" else "e2e_changes_per_s")
    for x in rows:
        mr = median_run(x["runs"], key)
        cpm = cpu_per_msg(mr, "msgs" if what == "message" else "changes") if mr else None
        if not cpm:
            continue
        print(f"    {x['label']:{w}}" + "".join(f"{cpm[c]:>10.2f}" for c in cols) + f"{mr.get('busy_pct', 0):>7.0f}")


def print_troubles(results):
    bad = [r for r in results if trouble_of(r)]
    for r in bad:
        print(f"  nagare TROUBLE in {r.get('scenario')} {r.get('label')} run {r.get('run')}: {trouble_of(r)}")


def report(work, jsonout):
    with open(os.path.join(work, "settings.json")) as fh:
        settings = json.load(fh)
    results, redone = [], 0
    for f in sorted(glob.glob(os.path.join(work, "res", "*.json*"))):
        if ".noisy" in f:
            redone += 1
            continue
        with open(f) as fh:
            r = json.load(fh)
        r["file"] = os.path.basename(f)
        results.append(r)

    print()
    print("nagare publish benchmark  " + settings["date"])
    print(f"  {settings['host']}")
    print(f"  nagare {settings['nagare']}")
    print(f"  {settings['postgres']}")
    print(f"  peers: {settings['peers']}")
    print(f"  payload: {settings['payload']}")
    print("  figures are medians of the runs (range: lowest-highest run); nagare/this: nagare's figure")
    print("  divided by this row's, so above 1 nagare is faster (for latencies: nagare's latency over")
    print("  this row's, so above 1 nagare is slower); noise% = CPU used by processes outside the")
    print("  benchmark during each run, % of the machine.")
    print(f"  machine busy before the benchmark: {settings.get('busy_before_pct', '?')}%; "
          f"runs measured again because of noise: {redone}")
    summary, goals = {}, []

    # ---- scenario 1 and 2b
    for scen, key in (("multi", "e2e_msgs_per_s"), ("pipe", "e2e_msgs_per_s")):
        rows = group_rows(results, scen)
        if not rows:
            continue
        r0 = rows[0]["runs"][0]
        print()
        if scen == "multi":
            print(f"=== {TITLES[scen]}  [pubbench, {settings['runs']} runs of {r0.get('transactions')} "
                  f"transactions x {r0.get('msgs_per_tx')} messages]")
        else:
            print(f"=== {TITLES[scen]}  [pubbench, {settings['runs']} runs of {settings['pipe_seconds']} s, "
                  f"{settings['pipe_depth']} transactions in flight on one connection]")
        print("    msgs/s = messages / (time from the first statement until the last message is consumable);")
        print("    commit msgs/s: until the last commit; drain ms: from the last commit to consumable")
        s = throughput_table(rows, key, "msgs/s", "msg")
        cpu_table(rows, "message")
        summary[scen] = s
        n = next((x for x in s if x["system"] == "publish"), None)
        q = next((x for x in s if x["system"] == "pgq"), None)
        o = next((x for x in s if x["system"] == "outbox"), None)
        kind = "1000-message transactions" if scen == "multi" else "one-message transactions (pipelined)"
        if n and q and n[key] is not None and q[key]:
            goals.append({"goal": "1a", "scenario": scen,
                          "text": f"publish() at least 2x PgQ per message, end to end ({kind})",
                          "measured": f"publish {fint(n[key])} msgs/s vs PgQ {fint(q[key])} msgs/s ({n[key] / q[key]:.2f}x)",
                          "met": n[key] >= 2 * q[key]})
        if n and o and n[key] is not None and o[key]:
            goals.append({"goal": "1b", "scenario": scen,
                          "text": f"publish() no slower than the outbox INSERT per message, end to end ({kind})",
                          "measured": f"publish {fint(n[key])} msgs/s vs outbox {fint(o[key])} msgs/s ({n[key] / o[key]:.2f}x)",
                          "met": n[key] >= o[key]})
        for g in goals:
            if g["scenario"] == scen:
                print(f"  goal {g['goal']}: {g['text']}")
                print(f"    {g['measured']}: {'MET' if g['met'] else 'MISSED'}")
        print_troubles([r for x in rows for r in x["runs"]])

    # ---- scenario 2a
    rows = group_rows(results, "single")
    if rows:
        print()
        print(f"=== {TITLES['single']}  [{settings['runs']} runs of {settings['duration']} s]")
        print("    BEGIN; <one message>; COMMIT; latency of the whole transaction from pgbench's log;")
        print("    COMMIT ms / stmt ms: pgbench's per-statement averages (-r)")
        w = max(len(x["label"]) for x in rows) + 2
        print(f"  {'':{w}}{'p50 ms':>8} {'p50 range':>13} {'p99 ms':>8} {'p99 range':>13} {'COMMIT ms':>10} "
              f"{'stmt ms':>8} {'tps':>7} {'nagare/this p50':>16} {'p99':>6} {'noise%':>9}")
        base = rows[0]
        b50 = med([r.get("p50_ms") for r in base["runs"]])
        b99 = med([r.get("p99_ms") for r in base["runs"]])
        s = []
        for x in rows:
            runs = x["runs"]
            p50 = med([r.get("p50_ms") for r in runs])
            p99 = med([r.get("p99_ms") for r in runs])
            cm = med([r.get("stmt_avg_ms", {}).get("COMMIT") for r in runs])
            st = med([v for r in runs for k, v in r.get("stmt_avg_ms", {}).items() if k in ("SELECT", "INSERT")])
            tps = med([r.get("tps") for r in runs])
            print(f"  {x['label']:{w}}{fms(p50, 3):>8} {rng([r.get('p50_ms') for r in runs], lambda v: f'{v:.3f}'):>13} "
                  f"{fms(p99, 3):>8} {rng([r.get('p99_ms') for r in runs], lambda v: f'{v:.3f}'):>13} {fms(cm, 3):>10} "
                  f"{fms(st, 3):>8} {fint(tps):>7} {(f'{b50 / p50:.2f}x' if p50 else '-'):>16} "
                  f"{(f'{b99 / p99:.2f}x' if p99 else '-'):>6} {noise_str(runs):>9}")
            s.append({"system": x["system"], "label": x["label"], "p50_ms": p50, "p99_ms": p99,
                      "p50_ms_runs": [r.get("p50_ms") for r in runs], "p99_ms_runs": [r.get("p99_ms") for r in runs],
                      "commit_avg_ms": cm, "stmt_avg_ms": st, "tps": tps,
                      "noise_pct": [r.get("noise_pct") for r in runs]})
        cpu_table(rows, "message", "tps")
        summary["single"] = s
        n = next((x for x in s if x["system"] == "publish"), None)
        o = next((x for x in s if x["system"] == "outbox"), None)
        if n and o and n["p50_ms"] and o["p50_ms"]:
            g = {"goal": "2", "scenario": "single",
                 "text": "a one-message transaction's commit latency within 10% of a one-row INSERT's (p50)",
                 "measured": f"publish p50 {n['p50_ms']:.3f} ms vs INSERT p50 {o['p50_ms']:.3f} ms "
                             f"({n['p50_ms'] / o['p50_ms']:.2f}x; p99 {n['p99_ms']:.3f} vs {o['p99_ms']:.3f} ms, "
                             f"{n['p99_ms'] / o['p99_ms']:.2f}x)",
                 "met": n["p50_ms"] <= 1.10 * o["p50_ms"]}
            goals.append(g)
            print(f"  goal {g['goal']}: {g['text']}")
            print(f"    {g['measured']}: {'MET' if g['met'] else 'MISSED'}")
        print_troubles([r for x in rows for r in x["runs"]])

    # ---- scenario 3
    rows = group_rows(results, "latency")
    if rows:
        runs = rows[0]["runs"]
        r0 = runs[0]
        print()
        print(f"=== {TITLES['latency']}  [pubbench, {settings['runs']} runs of {settings['lat_seconds']} s at "
              f"{r0.get('target_rate'):.0f} transactions/s (Poisson), {r0.get('connections')} connections]")
        print("    c2c = from the moment the client has its COMMIT's answer to the moment a consumer polling")
        print(f"    nagare.consume() (every {settings['poll_us']} us when it finds nothing) has the record;")
        print("    commit = transaction latency from its scheduled start (as pgbench -R)")
        print(f"  {'run':>5} {'rate/s':>7} {'commit p50':>11} {'p99':>7} {'c2c p50 ms':>11} {'p99':>7} {'p99.9':>7} "
              f"{'max':>7} {'read':>7} {'missing':>8} {'dups':>5} {'noise%':>7}")
        for r in runs:
            print(f"  {r.get('run'):>5} {fint(r.get('rate')):>7} {fms(r.get('commit_p50_ms')):>11} {fms(r.get('commit_p99_ms')):>7} "
                  f"{fms(r.get('c2c_p50_ms')):>11} {fms(r.get('c2c_p99_ms')):>7} {fms(r.get('c2c_p999_ms')):>7} "
                  f"{fms(r.get('c2c_max_ms')):>7} {fint(r.get('read')):>7} {fint(r.get('missing')):>8} "
                  f"{fint(r.get('duplicates')):>5} {r.get('noise_pct', 0):>7.0f}")
        pooled = []
        for r in runs:
            f = os.path.join(work, "res", r["file"].replace(".json", ".lat"))
            if os.path.exists(f):
                with open(f) as fh:
                    pooled += [float(x) for x in fh if x.strip()]
        # a message never read counts as infinitely late
        never = sum(int(r.get("missing") or 0) for r in runs)
        pooled += [math.inf] * never
        pooled.sort()
        p50 = analyze.pct(pooled, 0.5) if pooled else None
        p99 = analyze.pct(pooled, 0.99) if pooled else None
        p999 = analyze.pct(pooled, 0.999) if pooled else None
        print(f"  {'all':>5} {'':>7} {fms(med([r.get('commit_p50_ms') for r in runs])):>11} "
              f"{fms(med([r.get('commit_p99_ms') for r in runs])):>7} {fms(p50):>11} {fms(p99):>7} {fms(p999):>7} "
              f"{fms(pooled[-1] if pooled else None):>7} {fint(len(pooled) - never):>7}   (percentiles over every message of every run"
              + (f"; {never:,} never read count as infinitely late)" if never else ")"))
        mr = median_run(runs, "c2c_p99_ms")
        cpm = cpu_per_msg(mr) if mr else None
        if cpm:
            print("    CPU microseconds per message (median run), by process: " +
                  ", ".join(f"{c} {cpm[c]:.1f}" for c in CLASSES + ["total"] if cpm[c] >= 0.05) +
                  f"; the consumer's backend (not in the total) {cpm[WATCH]:.1f}")
        summary["latency"] = {"runs": [{k: r.get(k) for k in ("run", "rate", "commit_p50_ms", "commit_p99_ms", "c2c_p50_ms",
                                                            "c2c_p99_ms", "c2c_p999_ms", "c2c_max_ms", "read", "missing",
                                                            "duplicates", "negative", "noise_pct")} for r in runs],
                              "pooled": {"n": len(pooled), "never_read": never,
                                         **{k: (None if v is not None and math.isinf(v) else v)
                                            for k, v in (("c2c_p50_ms", p50), ("c2c_p99_ms", p99), ("c2c_p999_ms", p999))}},
                              "cpu_us_per_msg": cpm}
        rate = med([r.get("rate") for r in runs])
        if p99 is not None:
            g = {"goal": "3", "scenario": "latency",
                 "text": f"commit-to-consumable p99 under 20 ms at {r0.get('target_rate'):.0f} transactions per second",
                 "measured": (f"p99 {p99:.2f} ms (p50 {fms(p50)} ms)" if not math.isinf(p99) else
                              f"p99 never (p50 {fms(p50)}{'' if math.isinf(p50) else ' ms'})") + f" over {len(pooled):,} messages at {fint(rate)}/s"
                             + (f", {never:,} of them never read" if never else ""),
                 "met": p99 < 20.0}
            goals.append(g)
            print(f"  goal {g['goal']}: {g['text']}")
            print(f"    {g['measured']}: {'MET' if g['met'] else 'MISSED'}")
        print_troubles(runs)

    # ---- scenario 4
    rows = group_rows(results, "cdc")
    if rows:
        r0 = rows[0]["runs"][0]
        print()
        print(f"=== {TITLES['cdc']}  [pubbench, {settings['runs']} runs; {fint(r0.get('rows'))} rows inserted then "
              f"updated, {fint(r0.get('rows_per_tx'))} rows per transaction: {fint(r0.get('changes'))} changes]")
        print("    changes/s = changes / (time from the first statement until the last change is in the topic")
        print("    or the file); commit changes/s: the workload alone; drain ms: from its last commit to the last change out")
        s = throughput_table(rows, "e2e_changes_per_s", "changes/s", "change")
        cpu_table(rows, "change")
        summary["cdc"] = s
        n = next((x for x in s if x["system"] == "nagare"), None)
        w2 = next((x for x in s if x["system"] == "wal2json"), None)
        if n and w2 and n["e2e_changes_per_s"] is not None and w2["e2e_changes_per_s"]:
            a, b = n["e2e_changes_per_s"], w2["e2e_changes_per_s"]
            g = {"goal": "4", "scenario": "cdc", "text": "CDC at least as fast as wal2json (pg_recvlogical)",
                 "measured": f"nagare {fint(a)} changes/s vs wal2json {fint(b)} changes/s ({a / b:.2f}x)",
                 "met": a >= b}
            goals.append(g)
            print(f"  goal {g['goal']}: {g['text']}")
            print(f"    {g['measured']}: {'MET' if g['met'] else 'MISSED'}")
        print_troubles([r for x in rows for r in x["runs"]])

    troubles = [{"scenario": r.get("scenario"), "label": r.get("label"), "run": r.get("run"),
                 "what": trouble_of(r)} for r in results if trouble_of(r)]
    ht = os.path.join(work, "harness-trouble.txt")
    if os.path.exists(ht):
        with open(ht) as fh:
            troubles += [{"scenario": "-", "label": "-", "run": "-", "what": l.strip()} for l in fh if l.strip()]
    log_summary = os.path.join(work, "server-log-summary.txt")
    if os.path.exists(log_summary) and os.path.getsize(log_summary) > 0:
        print()
        print("=== The server log: ERROR, WARNING and nagare lines other than start-up (count, message)")
        with open(log_summary) as fh:
            for line in fh:
                print("  " + line.rstrip()[:200])
    if troubles:
        print()
        print(f"=== nagare TROUBLE in {len(troubles)} run(s) (lost, duplicated or late records, errors)")
        for t in troubles:
            print(f"  {t['scenario']} {t['label']} run {t['run']}: {t['what']}")
    # a goal judged on a scenario where nagare lost, doubled or stalled records says so
    for g in goals:
        if any(trouble_of(r) for r in results if r.get("scenario") == g["scenario"]):
            g["measured"] += "; nagare had TROUBLE in this scenario (see above)"
    print()
    print("=== Goals (measured, not asserted)")
    for g in goals:
        print(f"  {'MET   ' if g['met'] else 'MISSED'} goal {g['goal']} [{g['scenario']}]: {g['text']}")
        print(f"         {g['measured']}")

    for r in results:
        r.pop("stderr", None) if not r.get("error") else None
    out = {"settings": settings, "summary": summary, "goals": goals, "troubles": troubles,
           "runs_measured_again_because_of_noise": redone, "runs": results}
    os.makedirs(os.path.dirname(jsonout), exist_ok=True)
    with open(jsonout, "w") as fh:
        json.dump(out, fh, indent=1, default=float)
    print()
    print(f"results: {jsonout}")


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "run":
        cmd_run(sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "field":
        cmd_field(sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "report":
        report(sys.argv[2], sys.argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
