#!/usr/bin/python3
"""Consumer group member and group tools on confluent-kafka-python 1.7.0
(librdkafka 2.0.2, Debian), for test/t/110_consumer_groups.pl and
test/t/115_group_crash.pl.

usage: groups_confluent.py HOST:PORT COMMAND JSON|@FILE

  member   a group member that subscribes to one topic; see groups_common.py
           for its arguments and the events it writes.  "assignors" are
           librdkafka's partition.assignment.strategy names (default
           ["range", "roundrobin"], librdkafka's default).
  lag      group topic partitions -> {"committed": {p: offset|null},
           "low": {p: n}, "high": {p: n}}: Consumer.committed() (OffsetFetch)
           and get_watermark_offsets() (ListOffsets), as a monitoring tool
           computes lag.
  describe group -> {"state", "protocol_type", "protocol", "members":
           [{"member_id", "client_id", "client_host", "assignment": [p...]}]}
           (AdminClient.list_groups: ListGroups and DescribeGroups).
  commit   group topic offsets({p: offset}) -> {"errors": {p: NAME|null}}:
           a commit from outside the group (assign(), generation -1), as
           tools do for idle groups.
  join_bad group topic session_timeout_ms -> {"error": NAME|null}: join
           with a session timeout and report the first group error.
"""
import json
import struct
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from groups_common import Events, Stop, parse

boot, cmd, args = parse(("member", "lag", "describe", "commit", "join_bad"))


def out(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def member():
    ev = Events(args["events"], "confluent")
    stop = Stop(args.get("seconds", 600))
    topic = args["topic"]
    mode = args.get("commit", "batch")

    def error_cb(err):
        ev.emit("error", error=str(err))

    conf = {
        "bootstrap.servers": boot,
        "group.id": args["group"],
        "client.id": args.get("client_id", "groups-confluent"),
        "session.timeout.ms": args.get("session_timeout_ms", 6000),
        "heartbeat.interval.ms": args.get("heartbeat_ms", 500),
        "max.poll.interval.ms": args.get("max_poll_ms", 10000),
        "partition.assignment.strategy": ",".join(args.get("assignors", ["range", "roundrobin"])),
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "error_cb": error_cb,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500,
        "socket.timeout.ms": 10000,
        "topic.metadata.refresh.interval.ms": 2000,
    }
    if args.get("instance_id"):
        conf["group.instance.id"] = args["instance_id"]
    c = Consumer(conf)
    pending = {}

    def commit(why):
        if not pending:
            return
        offs = dict(pending)
        pending.clear()
        ev.emit("commit_sent", offsets=offs, why=why)
        try:
            res = c.commit(offsets=[TopicPartition(topic, p, o) for p, o in offs.items()],
                           asynchronous=False)
            errs = [tp.error.name() for tp in res if tp.error is not None]
            if errs:
                ev.emit("commit_err", offsets=offs, error=errs[0])
            else:
                ev.emit("commit_ok", offsets=offs)
        except KafkaException as e:
            ev.emit("commit_err", offsets=offs, error=e.args[0].name())

    def on_assign(consumer, parts):
        ev.emit("assigned", parts=sorted(tp.partition for tp in parts), gen=None)

    def on_revoke(consumer, parts):
        if mode in ("batch", "revoke"):
            commit("revoke")
        pending.clear()
        ev.emit("revoked", parts=sorted(tp.partition for tp in parts))

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    batch = args.get("batch", 20)
    delay = args.get("delay_ms", 0) / 1000.0
    while not stop():
        msgs = c.consume(num_messages=batch, timeout=0.2)
        for m in msgs:
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    ev.emit("error", error=m.error().name())
                continue
            ev.emit("rec", p=m.partition(), o=m.offset())
            pending[m.partition()] = m.offset() + 1
        if msgs and delay:
            time.sleep(delay)
        if mode == "batch":
            commit("batch")
    if mode in ("batch", "revoke"):
        commit("close")
    c.close()
    ev.emit("closed")


def lag():
    c = Consumer({"bootstrap.servers": boot, "group.id": args["group"], "enable.auto.commit": False})
    tps = [TopicPartition(args["topic"], p) for p in args["partitions"]]
    committed = c.committed(tps, timeout=20)
    res = {"committed": {}, "low": {}, "high": {}}
    for tp in committed:
        res["committed"][str(tp.partition)] = tp.offset if tp.offset >= 0 else None
    for tp in tps:
        lo, hi = c.get_watermark_offsets(tp, timeout=20, cached=False)
        res["low"][str(tp.partition)] = lo
        res["high"][str(tp.partition)] = hi
    c.close()
    out(res)


def assignment_partitions(b):
    """ConsumerProtocolAssignment: version, [topic, [partition]], user data."""
    parts = []
    if not b or len(b) < 6:
        return parts
    pos = 2
    (nt,) = struct.unpack(">i", b[pos:pos + 4])
    pos += 4
    for _ in range(nt):
        (tl,) = struct.unpack(">h", b[pos:pos + 2])
        pos += 2 + tl
        (np_,) = struct.unpack(">i", b[pos:pos + 4])
        pos += 4
        for _ in range(np_):
            parts.append(struct.unpack(">i", b[pos:pos + 4])[0])
            pos += 4
    return sorted(parts)


def describe():
    from confluent_kafka.admin import AdminClient
    a = AdminClient({"bootstrap.servers": boot})
    groups = a.list_groups(args["group"], timeout=20)
    g = [x for x in groups if x.id == args["group"]]
    if not g:
        out({"state": None})
        return
    g = g[0]
    out({
        "error": None if g.error is None else g.error.name(),
        "state": g.state, "protocol_type": g.protocol_type, "protocol": g.protocol,
        "members": sorted([{"member_id": m.id, "client_id": m.client_id, "client_host": m.client_host,
                            "assignment": assignment_partitions(m.assignment)} for m in g.members],
                          key=lambda m: m["member_id"]),
    })


def commit_outside():
    c = Consumer({"bootstrap.servers": boot, "group.id": args["group"], "enable.auto.commit": False})
    tps = [TopicPartition(args["topic"], int(p), o) for p, o in args["offsets"].items()]
    c.assign(tps)
    errors = {}
    try:
        res = c.commit(offsets=tps, asynchronous=False)
        for tp in res:
            errors[str(tp.partition)] = tp.error.name() if tp.error is not None else None
    except KafkaException as e:
        for tp in tps:
            errors[str(tp.partition)] = e.args[0].name()
    c.close()
    out({"errors": errors})


def join_bad():
    seen = []
    c = Consumer({
        "bootstrap.servers": boot, "group.id": args["group"],
        "session.timeout.ms": args["session_timeout_ms"],
        "heartbeat.interval.ms": min(100, args["session_timeout_ms"] // 2),
        "enable.auto.commit": False,
        "error_cb": lambda e: seen.append(e.name()),
    })
    c.subscribe([args["topic"]])
    end = time.monotonic() + 15
    err = None
    while time.monotonic() < end and err is None:
        m = c.poll(0.2)
        if m is not None and m.error():
            err = m.error().name()
        elif seen:
            err = seen[0]
    c.close()
    out({"error": err})


{"member": member, "lag": lag, "describe": describe, "commit": commit_outside,
 "join_bad": join_bad}[cmd]()
