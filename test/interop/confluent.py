#!/usr/bin/python3
"""nagare interop client: confluent-kafka-python (librdkafka 2.0.2, Debian).

usage: confluent.py HOST:PORT COMMAND JSON|@FILE   (see interop_common.py)

Commands and their JSON arguments:
  produce        topic partition records|gen [compression acks linger_ms
                 max_in_flight batch_num_messages conf each]
                 (each: flush after every record, so each is a batch of its own)
                 -> {"results": [{"offset": n} | {"error": NAME, "code": n}]}
  consume        topic partition offset(n|"earliest"|"latest") count
                 [timeout_ms reset("earliest"|"latest"|"error") seek([after, to]) conf]
                 -> {"records": [...], "error": NAME or null}
  list_offsets   topic partition [timestamps] -> {"earliest", "latest", "times"}
  metadata       [topics] -> {"brokers", "controller", "cluster_id", "topics"}
  create_topic   topic partitions [configs] -> {"error": NAME or null}
  describe_configs topic -> {"configs": {name: {"value", "default"}}}
  alter_configs  topic configs -> {"error"}
  create_partitions topic count -> {"error"}
  delete_topic   topic -> {"error"}
  produce_loop   topic partition seconds prefix -> a JSON line per delivery
                 report, then {"sent", "acked", "failed"}
  init_transactions [timeout_ms] -> {"error": NAME or null, "fatal",
                 "retriable", "message", "seconds"}: a transactional
                 producer's init_transactions()

Consumers use assign() with explicit offsets and never commit: consumer
groups are not served by nagare yet, and librdkafka needs no coordinator
for that (it still wants a group.id).
"""
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

from interop_common import deadline, done, emit, fail, parse_args, records_of, tohex, unhex

boot, cmd, args = parse_args(__doc__)
errors_seen = []


def error_cb(err):
    # transport errors while the broker restarts, unsupported group APIs...
    errors_seen.append(str(err))
    sys.stderr.write("librdkafka error: %s\n" % err)


base_conf = {
    "bootstrap.servers": boot,
    "error_cb": error_cb,
    "api.version.request": True,
    "socket.timeout.ms": 10000,
}


def err_name(err):
    return {"error": err.name(), "code": err.code()}


def produce():
    conf = dict(base_conf)
    conf.update({
        "enable.idempotence": False,
        "acks": str(args.get("acks", "all")),
        "compression.codec": args.get("compression", "none"),
        "linger.ms": args.get("linger_ms", 0),
        "message.timeout.ms": 30000,
    })
    if "max_in_flight" in args:
        conf["max.in.flight.requests.per.connection"] = args["max_in_flight"]
    if "batch_num_messages" in args:
        conf["batch.num.messages"] = args["batch_num_messages"]
    conf.update(args.get("conf", {}))
    p = Producer(conf)
    recs = records_of(args)
    results = [None] * len(recs)

    def report(i):
        def cb(err, msg):
            if err is not None:
                results[i] = err_name(err)
            else:
                off = msg.offset()	# None (or -1001) without acks
                results[i] = {"offset": off if off is not None and off >= 0 else None,
                              "p": msg.partition()}
        return cb

    for i, r in enumerate(recs):
        kw = {"on_delivery": report(i)}
        if args["partition"] is not None:	# else the partitioner's choice
            kw["partition"] = args["partition"]
        if r.get("h"):
            kw["headers"] = [(n, unhex(v)) for n, v in r["h"]]
        if r.get("ts") is not None:
            kw["timestamp"] = r["ts"]
        while True:
            try:
                p.produce(args["topic"], value=unhex(r.get("v")), key=unhex(r.get("k")), **kw)
                break
            except BufferError:
                p.poll(0.05)
            except KafkaException as e:
                # rejected by the client itself (e.g. larger than its own limit)
                results[i] = err_name(e.args[0])
                break
        if args.get("each"):
            # one record per batch: wait for its delivery before the next
            p.flush(args.get("timeout_s", 60))
        p.poll(0)
    left = p.flush(args.get("timeout_s", 60))
    if left:
        fail("%d records still undelivered after flush" % left)
    done({"results": results})


def consumer(reset="earliest", extra=None):
    conf = dict(base_conf)
    conf.update({
        "group.id": "nagare-interop-" + uuid.uuid4().hex[:8],
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": reset,
        "fetch.wait.max.ms": 200,
        "enable.partition.eof": False,
    })
    conf.update(extra or {})
    return Consumer(conf)


def start_offset(o):
    if o == "earliest":
        return OFFSET_BEGINNING
    if o == "latest":
        return OFFSET_END
    return int(o)


def rec_of(m):
    ts_type, ts = m.timestamp()
    hs = m.headers() or []
    return {"p": m.partition(), "offset": m.offset(), "k": tohex(m.key()), "v": tohex(m.value()),
            "h": [[n, tohex(v)] for n, v in hs], "ts": ts}


def consume():
    c = consumer(args.get("reset", "earliest"), args.get("conf"))
    tp = TopicPartition(args["topic"], args["partition"], start_offset(args.get("offset", "earliest")))
    c.assign([tp])
    out, error = [], None
    seek = args.get("seek")
    expired = deadline(args.get("timeout_ms", 10000) / 1000.0)
    while len(out) < args["count"] and not expired():
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            e = m.error()
            if e.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
                error = e.name()
                break
            sys.stderr.write("consumer error: %s\n" % e)
            continue
        out.append(rec_of(m))
        if seek and len(out) == seek[0]:
            c.seek(TopicPartition(args["topic"], args["partition"], seek[1]))
    c.close()
    done({"records": out, "error": error})


def list_offsets():
    c = consumer()
    tp = TopicPartition(args["topic"], args["partition"])
    lo, hi = c.get_watermark_offsets(tp, timeout=10, cached=False)
    times = {}
    for ts in args.get("timestamps", []):
        r = c.offsets_for_times([TopicPartition(args["topic"], args["partition"], ts)], timeout=10)
        times[str(ts)] = r[0].offset if r[0].error is None else "error:" + r[0].error.name()
    c.close()
    done({"earliest": lo, "latest": hi, "times": times})


def admin():
    return AdminClient({"bootstrap.servers": boot, "error_cb": error_cb})


def wait_future(f, timeout=20):
    try:
        f.result(timeout=timeout)
        return {"error": None}
    except KafkaException as e:
        return {"error": e.args[0].name(), "message": e.args[0].str()}


def metadata():
    a = admin()
    md = a.list_topics(timeout=10)
    topics = {}
    wanted = args.get("topics")
    for name, t in md.topics.items():
        if wanted is not None and name not in wanted:
            continue
        topics[name] = {"error": t.error.name() if t.error else None,
                        "partitions": sorted(t.partitions.keys()),
                        "leaders": sorted({p.leader for p in t.partitions.values()})}
    if wanted:
        for name in wanted:
            if name not in topics:
                md1 = a.list_topics(topic=name, timeout=10)
                t = md1.topics.get(name)
                topics[name] = {"error": t.error.name() if t and t.error else "absent",
                                "partitions": sorted(t.partitions.keys()) if t else []}
    done({"brokers": [{"id": b.id, "host": b.host, "port": b.port} for b in md.brokers.values()],
          "controller": md.controller_id, "cluster_id": md.cluster_id, "topics": topics})


def create_topic():
    a = admin()
    nt = NewTopic(args["topic"], num_partitions=args.get("partitions", 1), replication_factor=1,
                  config={k: str(v) for k, v in args.get("configs", {}).items()})
    fs = a.create_topics([nt], operation_timeout=10)
    done(wait_future(fs[args["topic"]]))


def describe_configs():
    a = admin()
    res = ConfigResource(ConfigResource.Type.TOPIC, args["topic"])
    fs = a.describe_configs([res])
    try:
        entries = fs[res].result(timeout=20)
    except KafkaException as e:
        done({"error": e.args[0].name(), "configs": {}})
    done({"error": None,
          "configs": {n: {"value": e.value, "default": bool(e.is_default)} for n, e in entries.items()}})


def alter_configs():
    a = admin()
    res = ConfigResource(ConfigResource.Type.TOPIC, args["topic"],
                         set_config={k: str(v) for k, v in args["configs"].items()})
    fs = a.alter_configs([res])
    done(wait_future(fs[res]))


def create_partitions():
    a = admin()
    fs = a.create_partitions([NewPartitions(args["topic"], args["count"])], operation_timeout=10)
    done(wait_future(fs[args["topic"]]))


def delete_topic():
    a = admin()
    fs = a.delete_topics([args["topic"]], operation_timeout=10)
    done(wait_future(fs[args["topic"]]))


def produce_loop():
    """Produce numbered records for args["seconds"], one every few ms, with
    retries across a broker restart; print each delivery report."""
    conf = dict(base_conf)
    conf.update({
        "enable.idempotence": False, "acks": "all", "linger.ms": 5,
        "message.timeout.ms": 120000, "retries": 1000000, "retry.backoff.ms": 100,
        "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 500,
        "max.in.flight.requests.per.connection": 1,
    })
    p = Producer(conf)
    counts = {"sent": 0, "acked": 0, "failed": 0}

    def report(seq):
        def cb(err, msg):
            if err is not None:
                counts["failed"] += 1
                emit({"seq": seq, "error": err.name()})
            else:
                counts["acked"] += 1
                emit({"seq": seq, "offset": msg.offset(), "t": time.time()})
        return cb

    expired = deadline(args["seconds"])
    seq = 0
    while not expired():
        p.produce(args["topic"], value=("%s-%d" % (args["prefix"], seq)).encode(),
                  partition=args["partition"], on_delivery=report(seq))
        seq += 1
        counts["sent"] += 1
        p.poll(0.01)
    left = p.flush(150)
    counts["undelivered"] = left
    done(counts)


def init_transactions():
    conf = dict(base_conf)
    conf["transactional.id"] = "nagare-interop-tx"
    p = Producer(conf)
    start = time.time()
    out = {"error": None, "fatal": False, "retriable": False, "message": None}
    try:
        p.init_transactions(args.get("timeout_ms", 30000) / 1000.0)
    except KafkaException as e:
        err = e.args[0]
        out.update(error=err.name(), fatal=err.fatal(), retriable=err.retriable(),
                   message=err.str())
    out["seconds"] = round(time.time() - start, 3)
    done(out)


commands = {
    "produce": produce, "consume": consume, "list_offsets": list_offsets, "metadata": metadata,
    "create_topic": create_topic, "describe_configs": describe_configs,
    "alter_configs": alter_configs, "create_partitions": create_partitions,
    "delete_topic": delete_topic, "produce_loop": produce_loop,
    "init_transactions": init_transactions,
}
if cmd not in commands:
    fail("unknown command %s" % cmd)
commands[cmd]()
