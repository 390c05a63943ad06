#!/usr/bin/python3
"""nagare interop client: kafka-python 2.0.2 (Debian python3-kafka).

usage: kafka_python.py HOST:PORT COMMAND JSON|@FILE   (see interop_common.py)

The commands and their results are those of confluent.py; error names are
kafka-python's exception classes (MessageSizeTooLargeError...).  kafka-python
infers the broker's version from ApiVersions v0 and then uses fixed request
versions (research/clients.md): this is the old-version client.

One command of its own: partitions_for topic timeout_ms -> {"partitions",
"error", "metadata_errors"}: a producer's partitions_for(), which asks for
Metadata (v1: it may auto-create) until the topic has partitions or
timeout_ms passes; metadata_errors are the distinct errors the Metadata
answers gave the topic meanwhile.

Limits of the client, not of nagare: send() refuses a record whose key and
value are both null and header values that are null.
"""
import sys
import time

import kafka.errors as Errors
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewPartitions, NewTopic

from interop_common import deadline, done, emit, fail, parse_args, records_of, tohex, unhex

boot, cmd, args = parse_args(__doc__)


def err_of(e):
    return {"error": type(e).__name__, "code": getattr(e, "errno", None), "message": str(e)}


def producer(**kw):
    conf = dict(bootstrap_servers=boot, acks=1, linger_ms=0, request_timeout_ms=15000,
                max_block_ms=15000, reconnect_backoff_ms=50)
    conf.update(kw)
    return KafkaProducer(**conf)


def produce():
    acks = args.get("acks", "all")
    kw = {"acks": acks if acks in ("all", 0, 1) else int(acks),
          "linger_ms": args.get("linger_ms", 0)}
    if args.get("compression", "none") != "none":
        kw["compression_type"] = args["compression"]
    if "max_in_flight" in args:
        kw["max_in_flight_requests_per_connection"] = args["max_in_flight"]
    p = producer(**kw)
    futures = []
    for r in records_of(args):
        try:
            f = p.send(args["topic"], value=unhex(r.get("v")), key=unhex(r.get("k")),
                       headers=[(n, unhex(v)) for n, v in r.get("h") or []],
                       partition=args["partition"], timestamp_ms=r.get("ts"))
            futures.append(f)
            if args.get("each"):
                p.flush(timeout=60)	# one record per batch
        except Errors.KafkaError as e:
            futures.append(err_of(e))
    p.flush(timeout=60)
    results = []
    for f in futures:
        if isinstance(f, dict):
            results.append(f)
            continue
        try:
            md = f.get(timeout=30)
            results.append({"offset": md.offset if md.offset >= 0 else None, "p": md.partition})
        except Errors.KafkaError as e:
            results.append(err_of(e))
    p.close(timeout=10)
    done({"results": results})


def consumer(reset="earliest", conf=None):
    # "error": anything but earliest/latest is kafka-python's NONE strategy,
    # under which poll() raises OffsetOutOfRangeError
    return KafkaConsumer(bootstrap_servers=boot, group_id=None, enable_auto_commit=False,
                         auto_offset_reset={"error": "none"}.get(reset, reset),
                         fetch_max_wait_ms=200, request_timeout_ms=15000,
                         reconnect_backoff_ms=50, **(conf or {}))


def rec_of(m):
    return {"p": m.partition, "offset": m.offset, "k": tohex(m.key), "v": tohex(m.value),
            "h": [[n, tohex(v)] for n, v in (m.headers or [])], "ts": m.timestamp}


def consume():
    c = consumer(args.get("reset", "earliest"), args.get("conf"))
    tp = TopicPartition(args["topic"], args["partition"])
    c.assign([tp])
    o = args.get("offset", "earliest")
    if o == "earliest":
        c.seek_to_beginning(tp)
    elif o == "latest":
        c.seek_to_end(tp)
    else:
        c.seek(tp, int(o))
    out, error = [], None
    seek = args.get("seek")
    expired = deadline(args.get("timeout_ms", 10000) / 1000.0)
    while len(out) < args["count"] and not expired():
        try:
            batches = c.poll(timeout_ms=200, max_records=1 if seek else 500)
        except Errors.OffsetOutOfRangeError as e:
            error = type(e).__name__
            break
        for _, msgs in batches.items():
            for m in msgs:
                out.append(rec_of(m))
        if seek and len(out) == seek[0]:
            c.seek(tp, seek[1])
            seek = None
    c.close(autocommit=False)
    done({"records": out[:args["count"]], "error": error})


def list_offsets():
    c = consumer()
    tp = TopicPartition(args["topic"], args["partition"])
    lo = c.beginning_offsets([tp])[tp]
    hi = c.end_offsets([tp])[tp]
    times = {}
    for ts in args.get("timestamps", []):
        r = c.offsets_for_times({tp: ts})[tp]
        times[str(ts)] = r.offset if r is not None else -1
    c.close(autocommit=False)
    done({"earliest": lo, "latest": hi, "times": times})


def admin():
    return KafkaAdminClient(bootstrap_servers=boot, request_timeout_ms=15000)


def metadata():
    a = admin()
    cl = a.describe_cluster()
    wanted = args.get("topics")
    topics = {}
    for t in a.describe_topics(wanted):
        topics[t["topic"]] = {"error": None if t["error_code"] == 0 else Errors.for_code(t["error_code"]).__name__,
                              "partitions": sorted(p["partition"] for p in t["partitions"]),
                              "leaders": sorted({p["leader"] for p in t["partitions"]})}
    a.close()
    done({"brokers": [{"id": b["node_id"], "host": b["host"], "port": b["port"]} for b in cl["brokers"]],
          "controller": cl["controller_id"], "cluster_id": cl.get("cluster_id"), "topics": topics})


def admin_call(fn):
    a = admin()
    try:
        fn(a)
        res = {"error": None}
    except Errors.KafkaError as e:
        res = err_of(e)
    a.close()
    done(res)


def describe_configs():
    a = admin()
    resp = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, args["topic"])])
    configs, error = {}, None
    for r in resp:
        for err, msg, rtype, rname, entries in r.resources:
            if err:
                error = Errors.for_code(err).__name__
            for e in entries:
                # v0: (name, value, read_only, is_default, sensitive)
                # v1+: (name, value, read_only, source, sensitive, synonyms)
                if r.API_VERSION == 0:
                    default = bool(e[3])
                else:
                    default = e[3] != 1		# 1: DYNAMIC_TOPIC_CONFIG
                configs[e[0]] = {"value": e[1], "default": default}
    a.close()
    done({"error": error, "configs": configs})


def alter_configs():
    a = admin()
    resp = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, args["topic"],
                                           configs={k: str(v) for k, v in args["configs"].items()})])
    error = None
    for err, msg, rtype, rname in resp.resources:
        if err:
            error = Errors.for_code(err).__name__
    a.close()
    done({"error": error})


def produce_loop():
    p = producer(acks="all", retries=1000000, retry_backoff_ms=100, linger_ms=5,
                 max_in_flight_requests_per_connection=1, request_timeout_ms=10000,
                 max_block_ms=120000)
    counts = {"sent": 0, "acked": 0, "failed": 0}

    def ok(seq):
        def cb(md):
            counts["acked"] += 1
            emit({"seq": seq, "offset": md.offset, "t": time.time()})
        return cb

    def bad(seq):
        def cb(e):
            counts["failed"] += 1
            emit({"seq": seq, "error": type(e).__name__})
        return cb

    expired = deadline(args["seconds"])
    seq = 0
    while not expired():
        f = p.send(args["topic"], value=("%s-%d" % (args["prefix"], seq)).encode(),
                   partition=args["partition"])
        f.add_callback(ok(seq))
        f.add_errback(bad(seq))
        seq += 1
        counts["sent"] += 1
        time.sleep(0.01)
    p.flush(timeout=150)
    p.close(timeout=10)
    counts["undelivered"] = counts["sent"] - counts["acked"] - counts["failed"]
    done(counts)


def partitions_for():
    p = producer(max_block_ms=args.get("timeout_ms", 3000))
    seen = set()
    failed_update = p._metadata.failed_update

    def keep(exc):  # a Metadata answer whose one topic has an error
        seen.add(type(exc).__name__)
        return failed_update(exc)

    p._metadata.failed_update = keep
    res = {"partitions": None, "error": None}
    try:
        res["partitions"] = sorted(p.partitions_for(args["topic"]))
    except Errors.KafkaError as e:
        res["error"] = type(e).__name__
    p.close()
    res["metadata_errors"] = sorted(seen)
    done(res)


commands = {
    "produce": produce,
    "partitions_for": partitions_for,
    "consume": consume,
    "list_offsets": list_offsets,
    "metadata": metadata,
    "create_topic": lambda: admin_call(lambda a: a.create_topics(
        [NewTopic(args["topic"], args.get("partitions", 1), 1,
                  topic_configs={k: str(v) for k, v in args.get("configs", {}).items()})],
        timeout_ms=15000)),
    "describe_configs": describe_configs,
    "alter_configs": alter_configs,
    "create_partitions": lambda: admin_call(lambda a: a.create_partitions(
        {args["topic"]: NewPartitions(args["count"])}, timeout_ms=15000)),
    "delete_topic": lambda: admin_call(lambda a: a.delete_topics([args["topic"]], timeout_ms=15000)),
    "produce_loop": produce_loop,
}
if cmd not in commands:
    fail("unknown command %s" % cmd)
commands[cmd]()
