#!/usr/bin/env python3
"""Helpers of bench/send/run.sh.

  analyze.py snap OUT ROOTPID...     snapshot CPU time of the processes below
                                     the given roots (postmaster, client),
                                     of kernel threads and of the machine
  analyze.py report WORKDIR JSONOUT  read every measurement under
                                     WORKDIR/res, print the tables and write
                                     the results as JSON

Units: latencies in the tables are milliseconds, CPU costs microseconds of
CPU per message.  See bench/README.md for how to read the output.
"""
import glob
import json
import os
import re
import statistics
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1

# --------------------------------------------------------------------------
# snapshots of /proc


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _stat_fields(text):
    """(comm, fields from 'state' on) of a /proc/<pid>/stat line."""
    lp = text.index("(")
    rp = text.rindex(")")
    return text[lp + 1:rp], text[rp + 2:].split()


def _ctxt(status):
    v = n = 0
    if status:
        for line in status.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                v = int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                n = int(line.split()[1])
    return v, n


def snapshot(roots):
    t = time.time()
    cpu = [int(x) for x in _read("/proc/stat").splitlines()[0].split()[1:]]
    procs = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        s = _read(f"/proc/{d}/stat")
        if s is None:
            continue
        comm, f = _stat_fields(s)
        procs[int(d)] = {"ppid": int(f[1]), "comm": comm,
                         "ticks": int(f[11]) + int(f[12]),
                         "cticks": int(f[13]) + int(f[14])}
    children = {}
    for pid, p in procs.items():
        children.setdefault(p["ppid"], []).append(pid)
    ours = {}
    for root in roots:
        stack = [root]
        while stack:
            pid = stack.pop()
            if pid not in procs or pid in ours:
                continue
            ours[pid] = root
            stack.extend(children.get(pid, []))
    out = {"t": t, "cpu": cpu, "procs": [], "kthreads": {},
           "harness_root": roots[2] if len(roots) > 2 else None}
    for pid, root in ours.items():
        p = procs[pid]
        cmd = (_read(f"/proc/{pid}/cmdline") or "").replace("\0", " ").strip()
        tasks = []
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            tids = []
        for tid in tids:
            s = _read(f"/proc/{pid}/task/{tid}/stat")
            if s is None:
                continue
            comm, f = _stat_fields(s)
            v, n = _ctxt(_read(f"/proc/{pid}/task/{tid}/status"))
            tasks.append({"tid": int(tid), "comm": comm,
                          "ticks": int(f[11]) + int(f[12]), "vcs": v, "nvcs": n})
        out["procs"].append({"pid": pid, "root": root, "cmd": cmd or p["comm"],
                             "comm": p["comm"], "ticks": p["ticks"], "cticks": p["cticks"],
                             "tasks": tasks})
    for pid, p in procs.items():
        if p["ppid"] == 2:
            name = re.sub(r"[/:].*", "", p["comm"])
            out["kthreads"][name] = out["kthreads"].get(name, 0) + p["ticks"]
    return out


def classify(proc, client_root, harness_root=None):
    """Cost class of a process of a snapshot."""
    cmd = proc["cmd"]
    if proc["root"] == client_root:
        return "client"
    if harness_root is not None and proc["root"] == harness_root:
        return "harness"        # run.sh itself, perf, these snapshots
    if cmd.startswith("postgres: nagare broker"):
        return "broker"
    if cmd.startswith("postgres: walwriter"):
        return "walwriter"
    if "[local]" in cmd or re.match(r"postgres: \S+ \S+ ", cmd):
        return "backend"
    return "pg-other"


CLASSES = ["backend", "broker", "iou-wrk", "walwriter", "pg-other", "client",
           "kthreads", "irq"]


def cpu_delta(a, b, client_root, harness_root=None):
    """CPU seconds per class between snapshots a and b, and the machine's."""
    tick = 1.0 / CLK_TCK
    res = {c: 0.0 for c in CLASSES + ["harness"]}
    ctx = {"backend_vcs": 0, "backend_nvcs": 0, "broker_vcs": 0, "broker_nvcs": 0,
           "iou_wrk_vcs": 0, "backends": 0}
    pa = {p["pid"]: p for p in a["procs"]}
    for p in b["procs"]:
        cls = classify(p, client_root, harness_root)
        old = pa.get(p["pid"])
        d = p["ticks"] - (old["ticks"] if old else 0)
        ta = {t["tid"]: t for t in old["tasks"]} if old else {}
        if cls == "harness" and p["pid"] == harness_root and old:
            # perf and the snapshots ran and exited within the window: their
            # CPU time is in this script's children's times
            res["harness"] += (p.get("cticks", 0) - old.get("cticks", 0)) * tick
        if cls == "broker":
            main = [t for t in p["tasks"] if t["tid"] == p["pid"]]
            m = main[0]["ticks"] - ta.get(p["pid"], {"ticks": 0})["ticks"] if main else d
            res["broker"] += m * tick
            res["iou-wrk"] += (d - m) * tick
        else:
            res[cls] += d * tick
        for t in p["tasks"]:
            o = ta.get(t["tid"], {"vcs": 0, "nvcs": 0})
            if cls == "backend":
                ctx["backend_vcs"] += t["vcs"] - o["vcs"]
                ctx["backend_nvcs"] += t["nvcs"] - o["nvcs"]
            elif cls == "broker" and t["tid"] == p["pid"]:
                ctx["broker_vcs"] += t["vcs"] - o["vcs"]
                ctx["broker_nvcs"] += t["nvcs"] - o["nvcs"]
            elif cls == "broker":
                ctx["iou_wrk_vcs"] += t["vcs"] - o["vcs"]
        if cls == "backend":
            ctx["backends"] += 1
    kt = sum(b["kthreads"].values()) - sum(a["kthreads"].values())
    res["kthreads"] = kt * tick
    ca, cb = a["cpu"], b["cpu"]
    d = [y - x for x, y in zip(ca, cb)]
    # user nice system idle iowait irq softirq steal guest guest_nice
    res["irq"] = (d[5] + d[6]) * tick
    busy = (d[0] + d[1] + d[2] + d[5] + d[6]) * tick
    ours = sum(res[c] for c in CLASSES) + res["harness"]
    window = b["t"] - a["t"]
    return {"window_s": window, "classes": res, "ctx": ctx, "busy_s": busy,
            "steal_s": d[7] * tick, "foreign_s": max(0.0, busy - ours),
            "foreign_pct": 100.0 * max(0.0, busy - ours) / (window * NCPU)}


# --------------------------------------------------------------------------
# measurement results


def pct(sorted_vals, q):
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, int(round(q * (len(sorted_vals) - 1)))))
    return sorted_vals[i]


def load_transactions(meta, d):
    """[(end_epoch_s, latency_us)] of every transaction of a measurement."""
    tx = []
    if meta["kind"] == "pgbench":
        for f in glob.glob(os.path.join(d, "pgb.*")):
            with open(f) as fh:
                for line in fh:
                    x = line.split()
                    if len(x) >= 6:
                        tx.append((int(x[4]) + int(x[5]) / 1e6, float(x[2])))
    else:
        with open(os.path.join(d, "lat.txt")) as fh:
            for line in fh:
                x = line.split()
                if len(x) == 2:
                    tx.append((int(x[0]) / 1e6, float(x[1])))
    return tx


def rate(meta, d):
    """messages per second of a whole measurement, as its client reports it."""
    with open(os.path.join(d, "client.out")) as fh:
        text = fh.read()
    if meta["kind"] == "pgbench":
        m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", text)
        if not m:
            raise RuntimeError(f"{d}: no tps in pgbench output:\n{text}")
        return float(m.group(1)) * meta["msgs_per_tx"]
    it, secs = text.split()[:2]
    return int(it) * meta["msgs_per_tx"] / float(secs)


def msgs_between(tx, t0, t1, per_tx):
    return sum(1 for e, _ in tx if t0 < e <= t1) * per_tx


def load_measurement(d):
    with open(os.path.join(d, "meta.json")) as fh:
        meta = json.load(fh)
    tx = load_transactions(meta, d)
    lat = sorted(l for _, l in tx)
    r = {"meta": meta, "dir": d, "msgs_per_s": rate(meta, d), "lat": lat,
         "transactions": len(tx)}
    sa, sb = os.path.join(d, "snap-a.json"), os.path.join(d, "snap-b.json")
    if os.path.exists(sa) and os.path.exists(sb):
        with open(sa) as fh:
            a = json.load(fh)
        with open(sb) as fh:
            b = json.load(fh)
        cpu = cpu_delta(a, b, meta["client_root"], meta.get("harness_root"))
        cpu["msgs"] = msgs_between(tx, a["t"], b["t"], meta["msgs_per_tx"])
        r["cpu"] = cpu
    return r


# --------------------------------------------------------------------------
# profiles (perf record -e cpu-clock) and scheduler/io_uring traces


def perf_classes(snap, client_root):
    """tid -> class, from a snapshot taken during the profile."""
    m = {}
    for p in snap["procs"]:
        cls = classify(p, client_root, snap.get("harness_root"))
        if cls == "harness":
            continue
        for t in p["tasks"]:
            m[t["tid"]] = "iou-wrk" if cls == "broker" and t["tid"] != p["pid"] else cls
    return m


def profile_summary(d, meta, tx):
    """Top symbols per class in µs of CPU per message."""
    path = os.path.join(d, "perf.txt")
    if not os.path.exists(path):
        return None
    with open(os.path.join(d, "snap-p.json")) as fh:
        classes = perf_classes(json.load(fh), meta["client_root"])
    period_us = meta["perf_period_ns"] / 1000.0
    line_re = re.compile(r"^\s*(\d+)\s+([0-9.]+):\s+([0-9a-f]+)\s+(.*?)\s+\(([^()]*)\)\s*$")
    syms = {}
    per_class = {}
    total = 0
    t0 = t1 = None
    with open(path, errors="replace") as fh:
        for line in fh:
            m = line_re.match(line)
            if not m:
                continue
            t = float(m.group(2))
            t0 = t if t0 is None else min(t0, t)
            t1 = t if t1 is None else max(t1, t)
            cls = classes.get(int(m.group(1)))
            if cls is None:
                continue
            sym = m.group(4)
            dso = os.path.basename(m.group(5))
            if sym == "[unknown]":
                sym = f"[{dso}]"
            key = (cls, dso, sym)
            syms[key] = syms.get(key, 0) + 1
            ck = (cls, dso)
            per_class[ck] = per_class.get(ck, 0) + 1
            total += 1
    if t0 is None:
        return None
    msgs = msgs_between(tx, t0, t1, meta["msgs_per_tx"])
    if msgs == 0:
        return None
    f = period_us / msgs
    top = sorted(syms.items(), key=lambda kv: -kv[1])[:18]
    return {
        "window_s": t1 - t0, "msgs": msgs, "samples": total,
        "us_per_msg_total": total * f,
        "by_class_dso": sorted(([c, dso, n * f] for (c, dso), n in per_class.items()),
                               key=lambda x: -x[2]),
        "top_symbols": [[c, dso, s, n * f] for (c, dso, s), n in top],
    }


TRACE_RE = re.compile(
    r"^\s*(?P<comm>.+?)\s+(?P<tid>\d+)\s+\[(?P<cpu>\d+)\]\s+(?P<time>[0-9.]+):\s+"
    r"(?P<event>[a-z_]+:[a-z_]+):\s*(?P<rest>.*)$")


def trace_summary(d, meta, tx):
    """Where one transaction's wall time goes, from sched and io_uring events."""
    path = os.path.join(d, "trace.txt")
    if not os.path.exists(path):
        return None
    with open(os.path.join(d, "snap-p.json")) as fh:
        classes = perf_classes(json.load(fh), meta["client_root"])
    with open(os.path.join(d, "trace-clock-offset")) as fh:
        offset = float(fh.read())      # CLOCK_REALTIME - CLOCK_MONOTONIC
    on_since = {}          # tid -> time it was switched in
    off = {}               # tid -> (time switched out, state)
    woken = {}             # tid -> (time, waker class)
    run = {}               # class -> µs on CPU
    wakeups = {}           # class -> [count, total delay µs]
    sleep = {}             # (class, reason) -> [count, µs]
    preempt = {}           # class -> µs runnable but not running
    io = {}                # opcode -> [count, µs]
    io_start = {}
    fds = {}               # tid -> enter time
    fdatasync = {}         # class -> [count, µs]
    first = last = None
    for line in open(path, errors="replace"):
        m = TRACE_RE.match(line)
        if not m:
            continue
        t = float(m.group("time"))
        tid = int(m.group("tid"))
        ev = m.group("event")
        rest = m.group("rest")
        first = t if first is None else first
        last = t
        cur = classes.get(tid, "other")
        if ev == "sched:sched_switch":
            pm = re.search(r"prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=.* next_pid=(\d+)", rest)
            if not pm:
                continue
            prev, state, nxt = int(pm.group(1)), pm.group(2), int(pm.group(3))
            pc = classes.get(prev)
            if pc and prev in on_since:
                run[pc] = run.get(pc, 0) + (t - on_since.pop(prev)) * 1e6
            if pc:
                off[prev] = (t, state)
                # a wake-up that came while it was still running ends no sleep
                woken.pop(prev, None)
            nc = classes.get(nxt)
            if nc:
                on_since[nxt] = t
                if nxt in off:
                    ts, st = off.pop(nxt)
                    if st.startswith("R"):
                        preempt[nc] = preempt.get(nc, 0) + (t - ts) * 1e6
                    else:
                        w = woken.pop(nxt, None)
                        reason = "woken by " + (w[1] if w else "?")
                        if st.startswith("D"):
                            reason = "in I/O (D)"
                        k = (nc, reason)
                        s = sleep.setdefault(k, [0, 0.0])
                        s[0] += 1
                        s[1] += ((w[0] if w else t) - ts) * 1e6
                        if w:
                            wk = wakeups.setdefault(nc, [0, 0.0])
                            wk[0] += 1
                            wk[1] += (t - w[0]) * 1e6
                woken.pop(nxt, None)
        elif ev == "sched:sched_wakeup":
            wm = re.search(r"pid=(\d+)", rest)
            if not wm:
                continue
            target = int(wm.group(1))
            if target in classes and target not in woken:
                waker = classes.get(tid)
                if waker is None:
                    waker = "interrupt or another CPU" if tid == 0 else "other"
                woken[target] = (t, waker)
        elif ev == "io_uring:io_uring_submit_req":
            rm = re.search(r"req (0x[0-9a-f]+).*opcode (\w+)", rest)
            if rm and tid in classes:
                io_start[rm.group(1)] = (t, rm.group(2))
        elif ev == "io_uring:io_uring_complete":
            rm = re.search(r"req (0x[0-9a-f]+)", rest)
            if rm and rm.group(1) in io_start:
                ts, op = io_start.pop(rm.group(1))
                x = io.setdefault(op, [0, 0.0])
                x[0] += 1
                x[1] += (t - ts) * 1e6
        elif ev == "syscalls:sys_enter_fdatasync":
            if tid in classes:
                fds[tid] = t
        elif ev == "syscalls:sys_exit_fdatasync":
            if tid in fds:
                x = fdatasync.setdefault(cur, [0, 0.0])
                x[0] += 1
                x[1] += (t - fds.pop(tid)) * 1e6
    # transactions completed inside the traced span
    ntx = msgs_between(tx, first + offset, last + offset, 1) if first is not None else 0
    if ntx == 0:
        return None
    per = lambda v: v / ntx
    return {
        "traced_s": last - first, "transactions": ntx,
        "wall_us_per_tx": (last - first) * 1e6 / ntx,
        "on_cpu_us_per_tx": {c: per(v) for c, v in sorted(run.items())},
        "runnable_not_running_us_per_tx": {c: per(v) for c, v in sorted(preempt.items())},
        "asleep_us_per_tx": {f"{c}: {r}": [n / ntx, per(v)] for (c, r), (n, v) in sorted(sleep.items())},
        "wakeup_delay": {c: [n / ntx, v / n if n else 0.0] for c, (n, v) in sorted(wakeups.items())},
        "io_uring_ops": {op: [n / ntx, v / n] for op, (n, v) in sorted(io.items())},
        "fdatasync_calls": {c: [n / ntx, v / n] for c, (n, v) in sorted(fdatasync.items())},
    }


# --------------------------------------------------------------------------
# report

GROUP_TITLES = {
    "single-c1": "Scenario 1a: one message per transaction, 1 client",
    "single-c4": "Scenario 1b: one message per transaction, 4 clients",
    "multi": "Scenario 2: 1000 messages per transaction, one statement, 1 client",
    "batch-1000": "Scenario 3a: batch form, 1000 records per transaction, 1 client",
    "batch-10000": "Scenario 3b: batch form, 10000 records per transaction, 1 client",
}


def fmt_int(x):
    return f"{x:,.0f}"


def median_run(runs):
    s = sorted(runs, key=lambda r: r["msgs_per_s"])
    return s[(len(s) - 1) // 2]


def summarize(measurements):
    groups = {}
    for r in measurements:
        m = r["meta"]
        if m.get("profile"):
            continue
        g = groups.setdefault(m["group"], {})
        g.setdefault(m["system"], []).append(r)
    out = {}
    for gid, systems in groups.items():
        rows = []
        for sysname, runs in systems.items():
            runs.sort(key=lambda r: r["meta"]["run"])
            lat = sorted(l for r in runs for l in r["lat"])
            rates = [r["msgs_per_s"] for r in runs]
            mr = median_run(runs)
            row = {
                "system": sysname, "label": runs[0]["meta"]["label"],
                "order": runs[0]["meta"]["order"],
                "statement": runs[0]["meta"].get("statement", ""),
                "msgs_per_tx": runs[0]["meta"]["msgs_per_tx"],
                "clients": runs[0]["meta"]["clients"],
                "msgs_per_s": statistics.median(rates),
                "msgs_per_s_runs": rates,
                "spread_pct": 100.0 * (max(rates) - min(rates)) / statistics.median(rates) if rates else 0,
                "p50_ms": pct(lat, 0.50) / 1000.0, "p99_ms": pct(lat, 0.99) / 1000.0,
                "transactions": len(lat),
                "foreign_cpu_pct_runs": [round(r["cpu"]["foreign_pct"], 1) if "cpu" in r else None for r in runs],
                "checks": [r["meta"].get("check") for r in runs if r["meta"].get("check")],
            }
            if "cpu" in mr and mr["cpu"]["msgs"] > 0:
                c = mr["cpu"]
                n = c["msgs"]
                row["cpu_us_per_msg"] = {k: v * 1e6 / n for k, v in c["classes"].items() if k in CLASSES}
                row["cpu_us_per_msg"]["total"] = sum(c["classes"][k] for k in CLASSES) * 1e6 / n
                row["machine_busy_pct"] = 100.0 * c["busy_s"] / (c["window_s"] * NCPU)
                row["ctx_per_msg"] = {k: v / n for k, v in c["ctx"].items() if k != "backends"}
            rows.append(row)
        rows.sort(key=lambda r: r["order"])
        nag = [r for r in rows if r["system"].startswith("nagare")]
        base = nag[0] if nag else rows[0]
        for r in rows:
            r["nagare_vs_this"] = base["msgs_per_s"] / r["msgs_per_s"] if r["msgs_per_s"] else None
        out[gid] = {"title": GROUP_TITLES.get(gid, gid), "rows": rows, "baseline": base["system"]}
    return out


def goals(groups):
    res = []

    def row(gid, system):
        g = groups.get(gid)
        if not g:
            return None
        for r in g["rows"]:
            if r["system"] == system:
                return r
        return None

    n, i = row("single-c1", "nagare"), row("single-c1", "insert")
    if n and i:
        res.append({"goal": 1, "group": "single-c1",
                    "text": "one send per transaction: p50 latency no worse than a one-row INSERT transaction (synchronous_commit=on)",
                    "measured": f"nagare p50 {n['p50_ms']:.3f} ms vs INSERT p50 {i['p50_ms']:.3f} ms ({n['p50_ms'] / i['p50_ms']:.2f}x)",
                    "met": n["p50_ms"] <= i["p50_ms"]})
    n, p = row("multi", "nagare"), row("multi", "pgq")
    if n and p:
        res.append({"goal": 2, "group": "multi",
                    "text": "1000 sends in one transaction: at least 2x the rate of PgQ's insert_event",
                    "measured": f"nagare {fmt_int(n['msgs_per_s'])} msgs/s vs PgQ {fmt_int(p['msgs_per_s'])} msgs/s ({n['msgs_per_s'] / p['msgs_per_s']:.2f}x)",
                    "met": n["msgs_per_s"] >= 2 * p["msgs_per_s"]})
    for gid in ("batch-1000", "batch-10000"):
        n, c = row(gid, "nagare"), row(gid, "copy")
        if n and c:
            res.append({"goal": 3, "group": gid,
                        "text": f"send_batch at least as fast as COPY per record ({gid.split('-')[1]} records per transaction, text input)",
                        "measured": f"send_batch {fmt_int(n['msgs_per_s'])} msgs/s vs COPY {fmt_int(c['msgs_per_s'])} msgs/s ({n['msgs_per_s'] / c['msgs_per_s']:.2f}x)",
                        "met": n["msgs_per_s"] >= c["msgs_per_s"]})
        n, c = row(gid, "nagare-bin"), row(gid, "copy-bin")
        if n and c:
            res.append({"goal": 3, "group": gid,
                        "text": f"the same with binary input (binary arrays vs COPY FORMAT binary)",
                        "measured": f"send_batch {fmt_int(n['msgs_per_s'])} msgs/s vs COPY {fmt_int(c['msgs_per_s'])} msgs/s ({n['msgs_per_s'] / c['msgs_per_s']:.2f}x)",
                        "met": n["msgs_per_s"] >= c["msgs_per_s"]})
    return res


def print_group(gid, g, settings, goal_list):
    rows = g["rows"]
    kind = "pgbench" if not gid.startswith("batch") else "batchbench (libpq)"
    dur = settings["batch_duration"] if gid.startswith("batch") else settings["duration"]
    print()
    print(f"=== {g['title']}  [{kind}, {settings['runs']} x {dur} s]")
    w = max(len(r["label"]) for r in rows) + 2
    print(f"  {'':{w}}{'msgs/s':>10} {'runs':>26} {'p50 ms':>9} {'p99 ms':>9} {'nagare/this':>12} {'noise%':>10}")
    for r in rows:
        runs = "/".join(fmt_int(x) for x in r["msgs_per_s_runs"])
        noise = "/".join("-" if x is None else f"{x:.0f}" for x in r["foreign_cpu_pct_runs"])
        ratio = f"{r['nagare_vs_this']:.2f}x" if r["nagare_vs_this"] else "-"
        print(f"  {r['label']:{w}}{fmt_int(r['msgs_per_s']):>10} {runs:>26} {r['p50_ms']:>9.3f} {r['p99_ms']:>9.3f} {ratio:>12} {noise:>10}")
    for gl in goal_list:
        if gl["group"] == gid:
            print(f"  goal {gl['goal']}: {gl['text']}")
            print(f"    {gl['measured']}: {'MET' if gl['met'] else 'MISSED'}")
    for r in rows:
        for c in r["checks"]:
            if c.startswith("BROKER TROUBLE"):
                print(f"  INTEGRITY ({r['label']}): {c}")
    noisy = [r["label"] for r in rows
             if any(x is not None and x > settings["noise_pct"] for x in r["foreign_cpu_pct_runs"])
             or r["spread_pct"] > 15]
    if noisy:
        print(f"  note: disturbed (foreign CPU > {settings['noise_pct']}% of the machine, or runs spread > 15%): {', '.join(noisy)}")


def print_cpu(groups):
    print()
    print("=== Where the CPU goes: microseconds of CPU per message (median run, middle of the run)")
    print("    backend = the client's PostgreSQL backend(s); broker = nagare broker's main thread;")
    print("    iou-wrk = its io_uring worker threads (buffered writes, fdatasync); kthreads/irq = kernel")
    print("    work not charged to a process (block I/O completion, journal); client = pgbench/batchbench.")
    print("    busy% = share of the whole machine busy in the window; vcs = voluntary context switches")
    print("    (sleeps) per message of the backend and the broker.")
    cols = ["backend", "broker", "iou-wrk", "walwriter", "pg-other", "client", "kthreads", "irq", "total"]
    hdr = "".join(f"{c:>10}" for c in cols)
    for gid, g in groups.items():
        print(f"  {g['title']}")
        w = max(len(r["label"]) for r in g["rows"]) + 4
        print(f"    {'':{w}}{hdr}{'busy%':>7}{'be vcs':>8}{'bk vcs':>8}")
        for r in g["rows"]:
            c = r.get("cpu_us_per_msg")
            if not c:
                continue
            x = r["ctx_per_msg"]
            vals = "".join(f"{c[k]:>10.2f}" for k in cols)
            print(f"    {r['label']:{w}}{vals}{r['machine_busy_pct']:>7.0f}{x['backend_vcs']:>8.3f}{x['broker_vcs']:>8.3f}")


def print_profiles(profiles):
    if not profiles:
        return
    print()
    print("=== perf profile (perf record -a -e cpu-clock): CPU microseconds per message by process class and binary,")
    print("    and the hottest symbols")
    print("    ([postgres] = PostgreSQL's static functions: Debian's binary keeps only exported symbols)")
    for key, p in profiles.items():
        if not p.get("profile"):
            continue
        pr = p["profile"]
        print(f"  {key}: {pr['us_per_msg_total']:.2f} us/msg in our processes over {pr['window_s']:.1f} s")
        parts = [f"{c}/{dso} {v:.2f}" for c, dso, v in pr["by_class_dso"] if v >= 0.02 * pr["us_per_msg_total"]]
        print("    " + "; ".join(parts))
        for c, dso, s, v in pr["top_symbols"][:12]:
            print(f"      {v:8.3f}  {c:<9} {dso:<22} {s}")


def print_traces(profiles):
    if not any(p.get("trace") for p in profiles.values()):
        return
    print()
    print("=== Where the wall time of a transaction goes (1 client, one message per transaction),")
    print("    from a short trace of sched_switch/sched_wakeup, io_uring submit/complete and fdatasync;")
    print("    averages per transaction; tracing itself slows every system down a little.")
    for key, p in profiles.items():
        t = p.get("trace")
        if not t:
            continue
        print(f"  {key}: {t['wall_us_per_tx']:.0f} us per transaction over {t['transactions']} transactions")
        oc = ", ".join(f"{c} {v:.1f}" for c, v in t["on_cpu_us_per_tx"].items() if v >= 0.5)
        print(f"    on CPU (us/tx): {oc}")
        rn = ", ".join(f"{c} {v:.1f}" for c, v in t["runnable_not_running_us_per_tx"].items() if v >= 0.5)
        if rn:
            print(f"    runnable, waiting for a CPU (us/tx): {rn}")
        for k, (n, v) in t["asleep_us_per_tx"].items():
            if k.startswith(("backend", "broker", "iou-wrk")) and v >= 1:
                print(f"    asleep {k:<40} {n:5.2f} times/tx {v:8.1f} us/tx")
        wd = ", ".join(f"{c} {n:.2f}x {v:.1f} us" for c, (n, v) in t["wakeup_delay"].items() if c in ("backend", "broker", "iou-wrk", "client"))
        print(f"    wake-ups per tx and mean delay from wake-up to running: {wd}")
        for op, (n, v) in t["io_uring_ops"].items():
            print(f"    io_uring {op:<8} {n:5.2f} per tx, {v:7.1f} us from submit to completion")
        for c, (n, v) in t["fdatasync_calls"].items():
            print(f"    fdatasync() by {c:<9} {n:5.2f} per tx, {v:7.1f} us each")


def report(work, jsonout):
    with open(os.path.join(work, "settings.json")) as fh:
        settings = json.load(fh)
    measurements = []
    profiles = {}
    redone = 0
    failures = []
    for d in sorted(glob.glob(os.path.join(work, "res", "*"))):
        if ".noisy" in os.path.basename(d):
            redone += 1
            continue
        if ".broken" in os.path.basename(d):
            lines = []
            if os.path.exists(os.path.join(d, "trouble.txt")):
                with open(os.path.join(d, "trouble.txt")) as fh:
                    lines = [l.strip() for l in fh if l.strip()]
            failures.append({"measurement": os.path.basename(d), "what": lines})
            continue
        if not os.path.exists(os.path.join(d, "meta.json")):
            continue
        r = load_measurement(d)
        if r["meta"].get("profile"):
            tx = load_transactions(r["meta"], d)
            key = f"{r['meta']['group']} {r['meta']['label']}"
            profiles[key] = {"profile": profile_summary(d, r["meta"], tx),
                             "trace": trace_summary(d, r["meta"], tx)}
        measurements.append(r)
    prof_order = lambda k: (list(GROUP_TITLES).index(k.split()[0]) if k.split()[0] in GROUP_TITLES else 99, k)
    profiles = {k: profiles[k] for k in sorted(profiles, key=prof_order)}
    groups = summarize(measurements)
    order = [g for g in GROUP_TITLES if g in groups]
    groups = {g: groups[g] for g in order}
    gl = goals(groups)

    print()
    print("nagare send benchmark  " + settings["date"])
    print(f"  {settings['host']}")
    print(f"  nagare {settings['nagare_rev']}, {settings['pg_version']}, io: {settings.get('io_method', '?')}")
    print(f"  payload: 16-byte key, 100-byte value; synchronous_commit=on, fsync=on; shared_buffers={settings['shared_buffers']}")
    if settings.get("extra_conf"):
        print(f"  extra settings: {settings['extra_conf']}")
    if settings.get("fsync_probe"):
        fp = settings["fsync_probe"]
        print("  filesystem floor, 200-byte write + fdatasync (p50/p99 us): " +
              ", ".join(f"{k} {v[0]:.0f}/{v[1]:.0f}" for k, v in fp.items()))
    print("  msgs/s = median of the runs; p50/p99 = latency of one transaction over all runs;")
    print("  nagare/this = nagare's msgs/s divided by this row's (>1: nagare is faster);")
    print("  noise% = CPU used by processes that are not part of the benchmark, % of the machine, per run.")
    print(f"  machine busy before the benchmark: {settings.get('busy_before_pct', '?')}%; "
          f"runs measured again because of noise: {redone}")
    for gid, g in groups.items():
        print_group(gid, g, settings, gl)
    print_cpu(groups)
    print_profiles(profiles)
    print_traces(profiles)
    if failures:
        print()
        print(f"=== nagare FAILED {len(failures)} time(s): those runs were discarded, PostgreSQL restarted and the run measured again")
        for f in failures:
            print(f"  {f['measurement']}:")
            for l in f["what"]:
                print(f"      {l[:220]}")
    print()
    print("=== Goals (measured, not asserted)")
    for x in gl:
        print(f"  {'MET   ' if x['met'] else 'MISSED'} goal {x['goal']} [{x['group']}]: {x['text']}")
        print(f"         {x['measured']}")

    result = {"settings": settings, "groups": groups, "goals": gl, "profiles": profiles,
              "runs_measured_again_because_of_noise": redone,
              "nagare_failures": failures}
    os.makedirs(os.path.dirname(jsonout), exist_ok=True)
    with open(jsonout, "w") as fh:
        json.dump(result, fh, indent=1, default=float)
    print()
    print(f"results: {jsonout}")


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "snap":
        out = sys.argv[2]
        roots = [int(x) for x in sys.argv[3:]]
        s = snapshot(roots)
        with open(out, "w") as fh:
            json.dump(s, fh)
    elif len(sys.argv) == 3 and sys.argv[1] == "foreign":
        # foreign CPU (% of the machine) of a measurement directory
        d = sys.argv[2]
        if not os.path.exists(os.path.join(d, "snap-b.json")):
            print(0)
            return
        with open(os.path.join(d, "snap-a.json")) as fh:
            a = json.load(fh)
        with open(os.path.join(d, "snap-b.json")) as fh:
            b = json.load(fh)
        with open(os.path.join(d, "meta.json")) as fh:
            meta = json.load(fh)
        print(f"{cpu_delta(a, b, meta['client_root'], meta.get('harness_root'))['foreign_pct']:.0f}")
    elif len(sys.argv) == 3 and sys.argv[1] == "busy":
        # % of the machine busy over the next N seconds
        a = [int(x) for x in _read("/proc/stat").splitlines()[0].split()[1:]]
        time.sleep(float(sys.argv[2]))
        b = [int(x) for x in _read("/proc/stat").splitlines()[0].split()[1:]]
        d = [y - x for x, y in zip(a, b)]
        print(f"{100.0 * (d[0] + d[1] + d[2] + d[5] + d[6]) / max(1, sum(d[:8])):.0f}")
    elif len(sys.argv) == 4 and sys.argv[1] == "report":
        report(sys.argv[2], sys.argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
