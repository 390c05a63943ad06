#!/usr/bin/env python3
"""Helpers of bench/kafka/run.sh.

  kbench.py run OUT.json --server PID [--others PID,...] [--harness PID]
                [--set KEY=VALUE]... -- COMMAND...
      run one load generator (COMMAND), which prints one JSON line; add the
      KEY=VALUE fields, the CPU the server's process tree used meanwhile
      (server_cpu_s), how much of the machine processes outside the
      benchmark used (noise_pct) and the generator's exit status (rc), and
      write it to OUT.json.  Prints a one-line summary on stderr; exits with
      the generator's status.

  kbench.py field FILE.json KEY      print one field of a result

  kbench.py report WORKDIR OUT.json  read WORKDIR/settings.json and every
      WORKDIR/res/*.json, print one table per scenario and the goals, and
      write everything to OUT.json.

A result of `run` (one line, all units spelled out in the names):
  {"system","mode","topic","size","acks","msgs","bytes","secs","msgs_per_s",
   "mb_per_s","lat_n","p50_us","p99_us","max_us","cpu_s","errors","error",
   "settings",   <- from the load generator (see loadgen.h)
   "scenario","run","label","order",...  <- --set
   "server_cpu_s","noise_pct","rc","wall_s"}
"""
import glob
import json
import os
import statistics
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

# --------------------------------------------------------------------------
# CPU accounting from /proc


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _stat(text):
    rp = text.rindex(")")
    return text[rp + 2:].split()        # from 'state' on


def snapshot():
    """Machine ticks, and per process: ppid, own ticks, reaped children's."""
    cpu = [int(x) for x in _read("/proc/stat").splitlines()[0].split()[1:]]
    procs = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        s = _read(f"/proc/{d}/stat")
        if s is None:
            continue
        f = _stat(s)
        procs[int(d)] = (int(f[1]), int(f[11]) + int(f[12]), int(f[13]) + int(f[14]))
    return {"cpu": cpu, "procs": procs, "t": time.monotonic()}


def tree(snap, root):
    children = {}
    for pid, (ppid, _, _) in snap["procs"].items():
        children.setdefault(ppid, []).append(pid)
    out, stack = set(), [root]
    while stack:
        pid = stack.pop()
        if pid in out or pid not in snap["procs"]:
            continue
        out.add(pid)
        stack.extend(children.get(pid, []))
    return out


def ticks(snap, pids, reaped=True):
    return sum(snap["procs"][p][1] + (snap["procs"][p][2] if reaped else 0)
               for p in pids if p in snap["procs"])


def delta(a, b, pids, reaped=True):
    """Ticks the processes used between a and b: a process that exited
    meanwhile is not counted (its time is unknown), one that started is
    counted whole."""
    out = 0
    for p in pids:
        if p in b["procs"]:
            out += ticks(b, [p], reaped) - (ticks(a, [p], reaped) if p in a["procs"] else 0)
    return out


def kthread_ticks(snap):
    return sum(t for ppid, t, _ in snap["procs"].values() if ppid == 2) + \
        snap["procs"].get(2, (0, 0, 0))[1]


def cmd_run(argv):
    out = argv[0]
    server, others, harness, extra = None, [], None, {}
    i = 1
    while i < len(argv) and argv[i] != "--":
        if argv[i] == "--server":
            server = int(argv[i + 1])
        elif argv[i] == "--others":
            others = [int(x) for x in argv[i + 1].split(",") if x]
        elif argv[i] == "--harness":
            harness = int(argv[i + 1])
        elif argv[i] == "--set":
            k, v = argv[i + 1].split("=", 1)
            try:
                extra[k] = json.loads(v)
            except ValueError:
                extra[k] = v
        else:
            sys.exit(f"kbench.py run: unknown option {argv[i]}")
        i += 2
    cmd = argv[i + 1:]
    me = os.getpid()

    a = snapshot()
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE)
    wall = time.monotonic() - t0
    b = snapshot()

    # the server's tree: its processes now (a process that came and went
    # during the run is missed; the servers here do not fork per request)
    def tree_delta(root):
        if root is None:
            return 0
        return delta(a, b, tree(b, root) | tree(a, root))

    server_ticks = tree_delta(server)
    ours = server_ticks + sum(tree_delta(r) for r in others)
    # this script and the generator (reaped: in our children's ticks)
    ours += delta(a, b, [me])
    if harness:
        # the driver and what it runs (psql...), less this script and the
        # servers it may have started (counted above)
        hp = (tree(a, harness) | tree(b, harness)) - tree(b, me) - tree(a, me)
        for r in [server] + others:
            if r is not None:
                hp -= tree(a, r) | tree(b, r)
        hp.discard(me)
        ours += delta(a, b, hp, reaped=False)
    d = [y - x for x, y in zip(a["cpu"], b["cpu"])]
    busy = d[0] + d[1] + d[2]               # user, nice, system
    total = max(1, sum(d[:8]))
    foreign = busy - ours - (kthread_ticks(b) - kthread_ticks(a))
    noise = min(100.0, max(0.0, 100.0 * foreign / total))

    line = p.stdout.decode(errors="replace").strip().splitlines()
    try:
        res = json.loads(line[-1])
    except (ValueError, IndexError):
        res = {"msgs": 0, "errors": 1,
               "error": "the load generator printed no result" +
               (f" (exit status {p.returncode})" if p.returncode else "")}
    res.update(extra)
    res["server_cpu_s"] = round(server_ticks / CLK_TCK, 3)
    res["noise_pct"] = round(noise, 1)
    res["rc"] = p.returncode
    res["wall_s"] = round(wall, 3)
    with open(out, "w") as fh:
        json.dump(res, fh)
        fh.write("\n")
    summary = f"{res.get('label', '?')}: "
    if res.get("mode") in ("latency", "e2e"):
        summary += f"p50 {fmt_ms(res.get('p50_us'))} ms, p99 {fmt_ms(res.get('p99_us'))} ms"
    else:
        summary += f"{fmt_int(res.get('msgs_per_s'))} msgs/s, {fmt_f(res.get('mb_per_s'))} MB/s"
    summary += f" ({fmt_int(res.get('msgs'))} msgs"
    if res.get("errors"):
        summary += f", {res['errors']} errors: {res.get('error')}"
    summary += f", noise {noise:.0f}%)"
    print("    " + summary, file=sys.stderr)
    sys.exit(p.returncode)


# --------------------------------------------------------------------------
# the report


def fmt_int(x):
    return "-" if x is None else f"{x:,.0f}"


def fmt_f(x, d=1):
    return "-" if x is None else f"{x:,.{d}f}"


def fmt_ms(us):
    if us is None:
        return "-"
    ms = us / 1000.0
    return f"{ms:.3f}" if ms < 10 else f"{ms:.1f}" if ms < 1000 else f"{ms:,.0f}"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


SCENARIOS = [
    # id, title, kind
    ("produce-100-1", "produce 100 B, acks=1", "tput"),
    ("produce-100-all", "produce 100 B, acks=all", "tput"),
    ("produce-1024-1", "produce 1 KiB, acks=1", "tput"),
    ("produce-1024-all", "produce 1 KiB, acks=all", "tput"),
    ("consume-100", "consume 100 B from the beginning", "tput"),
    ("consume-1024", "consume 1 KiB from the beginning", "tput"),
    ("latency", "produce latency: one message in flight, send -> acknowledged", "lat"),
    ("e2e", "end-to-end latency: one message in flight, send -> received by a consumer", "lat"),
]


def summarize(runs):
    """One row: medians and ranges over a system's runs of a scenario."""
    ok = [r for r in runs if not r.get("errors") and r.get("msgs")]
    use = ok or runs
    rates = [r.get("msgs_per_s") for r in use if r.get("msgs_per_s") is not None]
    mbs = [r.get("mb_per_s") for r in use if r.get("mb_per_s") is not None]
    row = {
        "label": runs[0].get("label"), "system": runs[0].get("system"),
        "dclass": str(runs[0].get("dclass", "")),
        "order": runs[0].get("order", 9), "runs": len(runs), "failed_runs": len(runs) - len(ok),
        "msgs_per_s": med(rates), "msgs_per_s_runs": rates,
        "mb_per_s": med(mbs), "mb_per_s_runs": mbs,
        "p50_us": med([r.get("p50_us") for r in use]),
        "p99_us": med([r.get("p99_us") for r in use]),
        "p50_us_runs": [r.get("p50_us") for r in use],
        "p99_us_runs": [r.get("p99_us") for r in use],
        "msgs": [r.get("msgs") for r in use],
        "noise_pct": [r.get("noise_pct") for r in runs],
        "errors": [r.get("error") for r in runs if r.get("errors")],
        "trouble": [r.get("trouble") for r in runs if r.get("trouble")],
        "settings": runs[0].get("settings"),
    }
    n = sum(r.get("msgs") or 0 for r in use)
    if n:
        row["server_us_per_msg"] = 1e6 * sum(r.get("server_cpu_s") or 0 for r in use) / n
        row["client_us_per_msg"] = 1e6 * sum(r.get("cpu_s") or 0 for r in use) / n
    return row


def rng(xs, f):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    return f"{f(min(xs))}-{f(max(xs))}" if len(xs) > 1 else f(xs[0])


def print_tput(title, rows, nagare):
    print()
    print(f"=== {title}")
    hdr = (f"  {'':26} {'msgs/s':>11} {'range':>23} {'MB/s':>8} {'range':>15}"
           f" {'p50 ms':>8} {'p99 ms':>8} {'srv us/msg':>10} {'cli us/msg':>10} {'nagare/this':>11} {'noise%':>8}")
    print(hdr)
    for row in rows:
        ratio = "-"
        if nagare and nagare.get("msgs_per_s") and row.get("msgs_per_s"):
            ratio = f"{nagare['msgs_per_s'] / row['msgs_per_s']:.2f}x"
        noise = "/".join(f"{x:.0f}" for x in row["noise_pct"] if x is not None)
        print(f"  {row['label'][:26]:26} {fmt_int(row['msgs_per_s']):>11} {rng(row['msgs_per_s_runs'], fmt_int):>23}"
              f" {fmt_f(row['mb_per_s']):>8} {rng(row['mb_per_s_runs'], fmt_f):>15}"
              f" {fmt_ms(row['p50_us']):>8} {fmt_ms(row['p99_us']):>8}"
              f" {fmt_f(row.get('server_us_per_msg'), 2):>10} {fmt_f(row.get('client_us_per_msg'), 2):>10}"
              f" {ratio:>11} {noise:>8}")
    notes(rows)


def print_lat(title, rows):
    """Each row's p50 against nagare's of the same durability class."""
    print()
    print(f"=== {title}")
    print(f"  {'':26} {'p50 ms':>8} {'range':>15} {'p99 ms':>8} {'range':>15} {'msgs/s':>8} {'this/nagare p50':>21} {'noise%':>8}")
    for row in rows:
        ratio = "-"
        nagare = next((r for r in rows if r["system"] == "nagare" and r.get("dclass") == row.get("dclass")), None)
        if nagare and nagare.get("p50_us") and row.get("p50_us"):
            ratio = f"{row['p50_us'] / nagare['p50_us']:.2f}x (acks={row.get('dclass')})"
        noise = "/".join(f"{x:.0f}" for x in row["noise_pct"] if x is not None)
        print(f"  {row['label'][:26]:26} {fmt_ms(row['p50_us']):>8} {rng(row['p50_us_runs'], fmt_ms):>15}"
              f" {fmt_ms(row['p99_us']):>8} {rng(row['p99_us_runs'], fmt_ms):>15}"
              f" {fmt_int(row['msgs_per_s']):>8} {ratio:>21} {noise:>8}")
    notes(rows)


def notes(rows):
    for row in rows:
        for e in dict.fromkeys(row["errors"]):
            print(f"  ! {row['label']}: {e}")
        for t in dict.fromkeys(row["trouble"]):
            print(f"  ! {row['label']}: {t}")
        if row["failed_runs"]:
            print(f"  ! {row['label']}: {row['failed_runs']} of {row['runs']} runs failed"
                  + ("; the figures are of the others" if row["failed_runs"] < row["runs"] else ""))
        r = [x for x in row["msgs_per_s_runs"] if x]
        if len(r) > 1 and max(r) > 1.15 * min(r):
            print(f"  ~ {row['label']}: runs differ by {100 * (max(r) / min(r) - 1):.0f}%")


def goals(groups):
    out = []

    def nag(sid, key="msgs_per_s"):
        g = groups.get(sid)
        if not g:
            return None
        for row in g:
            if row["system"] == "nagare":
                return row.get(key)
        return None

    def peers(sid, systems=None):
        return [row for row in groups.get(sid, []) if row["system"] != "nagare"
                and (systems is None or row["system"] in systems) and row.get("msgs_per_s")]

    for acks in ("1", "all"):
        sid = f"produce-1024-{acks}"
        n, ps = nag(sid), peers(sid)
        if n is not None and ps:
            best = max(ps, key=lambda r: r["msgs_per_s"])
            ratio = n / best["msgs_per_s"]
            out.append({"goal": f"produce 1 KiB, acks={acks}: at least 3x the faster peer",
                        "measured": f"{ratio:.2f}x {best['label']} ({fmt_int(n)} against {fmt_int(best['msgs_per_s'])} msgs/s)",
                        "met": ratio >= 3})
    for size in ("100", "1024"):
        sid = f"consume-{size}"
        n, ps = nag(sid), peers(sid, ["redis"])
        if n is not None and ps:
            ratio = n / ps[0]["msgs_per_s"]
            out.append({"goal": f"consume {'100 B' if size == '100' else '1 KiB'}: at least 3x Redis XREAD",
                        "measured": f"{ratio:.2f}x ({fmt_int(n)} against {fmt_int(ps[0]['msgs_per_s'])} msgs/s)",
                        "met": ratio >= 3})
    for sid, what in (("produce-100-1", "produce 100 B, acks=1"), ("produce-100-all", "produce 100 B, acks=all"),
                      ("consume-100", "consume 100 B")):
        n = nag(sid)
        if n is not None:
            out.append({"goal": f"{what}: 1,000,000 records/s or more",
                        "measured": f"{fmt_int(n)} msgs/s", "met": n >= 1e6})
    return out


def cmd_report(work, jsonout):
    with open(os.path.join(work, "settings.json")) as fh:
        settings = json.load(fh)
    results = []
    for f in sorted(glob.glob(os.path.join(work, "res", "*.json"))):
        with open(f) as fh:
            results.append(json.load(fh))
    print()
    print(f"nagare Kafka benchmark, {settings.get('date')}, {settings.get('host')}")
    for k in ("nagare", "redis", "nats", "clients", "runs", "sizes"):
        if settings.get(k):
            print(f"  {k}: {settings[k]}")
    groups = {}
    for sid, title, kind in SCENARIOS:
        runs = [r for r in results if r.get("scenario") == sid]
        if not runs:
            continue
        by = {}
        for r in runs:
            by.setdefault(r.get("label"), []).append(r)
        rows = sorted((summarize(v) for v in by.values()), key=lambda x: (x["order"], x["label"]))
        groups[sid] = rows
        nagare = next((r for r in rows if r["system"] == "nagare"), None)
        t = title
        if runs[0].get("title_extra"):
            t += f"  [{runs[0]['title_extra']}]"
        if kind == "tput":
            print_tput(t, rows, nagare)
        else:
            print_lat(t, rows)
    gl = goals(groups)
    if gl:
        print()
        print("=== goals")
        for g in gl:
            print(f"  {'MET   ' if g['met'] else 'MISSED'} {g['goal']}: {g['measured']}")
    trouble = settings.get("nagare_trouble") or []
    tfile = os.path.join(work, "trouble.txt")
    if os.path.exists(tfile):
        with open(tfile) as fh:
            trouble = [x.rstrip() for x in fh if x.strip()]
    if trouble:
        print()
        print("=== nagare trouble")
        for t in trouble:
            print(f"  {t}")
    os.makedirs(os.path.dirname(jsonout), exist_ok=True)
    with open(jsonout, "w") as fh:
        json.dump({"settings": settings, "summary": groups, "goals": gl,
                   "trouble": trouble, "runs": results}, fh, indent=1)
    print()
    print(f"results: {jsonout}")


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "run":
        cmd_run(sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "field":
        with open(sys.argv[2]) as fh:
            v = json.load(fh).get(sys.argv[3])
        print("" if v is None else v)
    elif len(sys.argv) == 4 and sys.argv[1] == "report":
        cmd_report(sys.argv[2], sys.argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
