#!/usr/bin/python3
"""nagare interop client: kcat 1.7.1 (librdkafka 2.0.2, Debian), driven as a
command line tool the way people use it.

usage: kcat.py HOST:PORT COMMAND JSON|@FILE   (see interop_common.py)

  produce       topic partition records|gen [compression acks]
                One kcat -P per record (file mode: the value is the file's
                bytes), so headers can differ per record.  kcat prints no
                offsets: results are {"offset": null} or {"error": text}.
                A null or empty value goes through stdin instead (kcat skips
                empty files), "key\x1f\n" with -K '\x1f', and -Z for null.
                Limits of the tool: keys and header values come from the
                command line (text without NUL); with -Z an empty key is null.
  consume       topic partition offset count [timeout_ms]
                kcat -C -e with a -f format that gives key and value lengths,
                so binary keys and values are read exactly; headers come as
                kcat's "name=value,..." text (exact for text headers only).
  list_offsets  topic partition [timestamps]   (kcat -Q; -2 earliest, -1 latest)
  metadata      [topics]                       (kcat -L -J)
"""
import json
import os
import subprocess
import tempfile

from interop_common import done, fail, parse_args, records_of, tohex, unhex

boot, cmd, args = parse_args(__doc__)
KCAT = os.environ.get("KCAT", "kcat")


def run(argv, stdin=None, timeout=60):
    p = subprocess.run([KCAT, "-b", boot, "-m", "10"] + argv, input=stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def produce():
    results = []
    common = ["-P", "-t", args["topic"], "-p", str(args["partition"]),
              "-X", "enable.idempotence=false", "-X", "acks=%s" % args.get("acks", "all")]
    c = args.get("compression", "none")
    if c != "none":
        common += ["-X", "compression.codec=%s" % c]
    with tempfile.TemporaryDirectory() as d:
        for i, r in enumerate(records_of(args)):
            path = os.path.join(d, "v%d" % i)
            v = unhex(r.get("v"))
            with open(path, "wb") as f:
                f.write(v or b"")
            argv = list(common)
            for n, hv in r.get("h") or []:
                argv += ["-H", "%s=%s" % (n, unhex(hv).decode("latin-1"))]
            key = unhex(r.get("k"))
            stdin = None
            if v:
                # the file's bytes are the value, exactly
                if key is not None:
                    argv += ["-k", key.decode("latin-1")]
                argv.append(path)
            else:
                # kcat skips empty files: a null or empty value goes through
                # stdin as "key<US>" + newline; -Z makes empty key/value null
                argv += ["-K", r"\x1f"] + (["-Z"] if v is None else [])
                stdin = (key or b"") + b"\x1f\n"
            rc, out, err = run(argv, stdin=stdin)
            if rc != 0 or "ERROR" in err or "failed" in err.lower():
                results.append({"error": err.strip() or "exit %d" % rc})
            else:
                results.append({"offset": None})
    done({"results": results})


def consume():
    o = args.get("offset", "earliest")
    start = {"earliest": "beginning", "latest": "end"}.get(o, str(o))
    fmt = r"\x01%o %K %S %T\x02%h\x03%k%s"
    rc, out, err = run(["-C", "-q", "-e", "-t", args["topic"], "-p", str(args["partition"]),
                        "-o", start, "-c", str(args["count"]), "-f", fmt],
                       timeout=args.get("timeout_ms", 20000) / 1000.0 + 10)
    if rc != 0:
        fail("kcat -C exited %d: %s" % (rc, err))
    recs, pos = [], 0
    while pos < len(out):
        if out[pos:pos + 1] != b"\x01":
            fail("unexpected kcat output at byte %d: %r" % (pos, out[pos:pos + 40]))
        e1 = out.index(b"\x02", pos)
        off, klen, vlen, ts = (int(x) for x in out[pos + 1:e1].split(b" "))
        e2 = out.index(b"\x03", e1)
        htext = out[e1 + 1:e2].decode("latin-1")
        pos = e2 + 1
        key = out[pos:pos + klen] if klen >= 0 else None
        pos += max(klen, 0)
        val = out[pos:pos + vlen] if vlen >= 0 else None
        pos += max(vlen, 0)
        hs = []
        for item in htext.split(",") if htext else []:
            n, _, hv = item.partition("=")
            hs.append([n, tohex(hv.encode("latin-1"))])
        recs.append({"p": args["partition"], "offset": off, "k": tohex(key), "v": tohex(val),
                     "h": hs, "ts": ts})
    done({"records": recs, "error": None})


def list_offsets():
    t, p = args["topic"], args["partition"]
    res = {"times": {}}
    for ts in [-2, -1] + list(args.get("timestamps", [])):
        rc, out, err = run(["-Q", "-t", "%s:%d:%d" % (t, p, ts)])
        # "topic [0] offset 5"
        words = out.decode().split()
        if rc != 0 or "offset" not in words:
            val = "error:" + (err.strip() or out.decode().strip())
        else:
            val = int(words[words.index("offset") + 1])
        if ts == -2:
            res["earliest"] = val
        elif ts == -1:
            res["latest"] = val
        else:
            res["times"][str(ts)] = val
    done(res)


def metadata():
    topics = {}
    wanted = args.get("topics")
    runs = [["-L", "-J"]] if not wanted else [["-L", "-J", "-t", t] for t in wanted]
    md = None
    for argv in runs:
        rc, out, err = run(argv)
        if rc != 0:
            fail("kcat -L exited %d: %s" % (rc, err))
        md = json.loads(out)
        for t in md.get("topics", []):
            topics[t["topic"]] = {"error": t.get("error"),
                                  "partitions": sorted(p["partition"] for p in t.get("partitions", [])),
                                  "leaders": sorted({p["leader"] for p in t.get("partitions", [])})}
    brokers = []
    for b in md.get("brokers", []):
        host, _, port = b["name"].rpartition(":")
        brokers.append({"id": b["id"], "host": host, "port": int(port)})
    done({"brokers": brokers, "controller": md.get("controllerid"), "cluster_id": None,
          "topics": topics})


commands = {"produce": produce, "consume": consume, "list_offsets": list_offsets,
            "metadata": metadata}
if cmd not in commands:
    fail("unknown command %s" % cmd)
commands[cmd]()
