#!/usr/bin/python3
"""Clients under quotas, for test/t/155_quota_throttle.pl.  Each command
prints one JSON object.

  fill BOOT TOPIC MB                      produce MB of 1000-byte records (librdkafka)
  produce-confluent BOOT TOPIC CID SECS   produce flat out; acked bytes per second,
                                          throttle_cb events (librdkafka has no
                                          client-side throttling: the broker's mute
                                          is all that holds it)
  consume-confluent BOOT TOPIC CID SECS   consume from the start; bytes per second
  produce-kafka-python BOOT TOPIC CID SECS
  consume-kafka-python BOOT TOPIC CID SECS
                                          the same with kafka-python, and its
                                          produce/fetch-throttle-time-max metrics
  raw-produce BOOT TOPIC CID N KB         N Produce v3 requests of KB kB pipelined on
                                          one socket, ignoring throttle_time_ms
  raw-apiversions BOOT CID N              N ApiVersions v1 pipelined on one socket
  connections BOOT N                      N connections at once, each asking
                                          ApiVersions: answered or closed
"""
import json
import socket
import struct
import sys
import time


def out(obj):
    print(json.dumps(obj, sort_keys=True))


def bins(events, t0, secs, width):
    """bytes per bin of width seconds since t0 from (time, bytes) events"""
    out = [0] * int(round((int(secs) + 2) / width))
    for t, n in events:
        i = int((t - t0) / width)
        if 0 <= i < len(out):
            out[i] += n
    return out


def series(events, t0, secs):
    """per_second (for people) and per_tenth (100 ms bins, for the rate)"""
    return {"per_second": bins(events, t0, secs, 1.0), "per_tenth": bins(events, t0, secs, 0.1)}


def fill(boot, topic, mb):
    from confluent_kafka import Producer
    # batches of 64 kB: a consumer's fetch takes whole batches (KIP-74)
    p = Producer({"bootstrap.servers": boot, "client.id": "filler", "linger.ms": 5,
                  "batch.size": 65536, "queue.buffering.max.kbytes": 65536})
    value = b"f" * 1000
    for i in range(mb * 1000):
        while True:
            try:
                p.produce(topic, value, key=b"%08d" % i)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(60)
    out({"records": mb * 1000, "unflushed": left})


def produce_confluent(boot, topic, cid, secs):
    from confluent_kafka import Producer
    throttles = []
    acked = []

    def on_throttle(ev):
        throttles.append(ev.throttle_time)

    def on_delivery(err, msg):
        if err is None:
            acked.append((time.time(), len(msg.value()) + len(msg.key())))

    p = Producer({"bootstrap.servers": boot, "client.id": cid, "linger.ms": 5,
                  "batch.size": 65536,
                  "queue.buffering.max.kbytes": 1024, "throttle_cb": on_throttle,
                  "message.timeout.ms": 120000})
    value = b"p" * 1000
    t0 = time.time()
    i = 0
    while time.time() - t0 < secs:
        try:
            p.produce(topic, value, key=b"%08d" % i, on_delivery=on_delivery)
            i += 1
        except BufferError:
            p.poll(0.01)
        p.poll(0)
    p.flush(0)
    out({**series(acked, t0, secs), "throttle_events": len(throttles),
         "throttle_max_ms": int(max(throttles) * 1000) if throttles else 0})


def consume_confluent(boot, topic, cid, secs):
    from confluent_kafka import Consumer
    throttles = []
    got = []
    c = Consumer({"bootstrap.servers": boot, "client.id": cid, "group.id": "g-" + cid,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "throttle_cb": lambda ev: throttles.append(ev.throttle_time)})
    c.subscribe([topic])
    t0 = None
    while t0 is None or time.time() - t0 < secs:
        m = c.poll(0.1)
        if m is None or m.error():
            continue
        if t0 is None:
            t0 = time.time()
        got.append((time.time(), len(m.value()) + len(m.key() or b"")))
    c.close()
    out({**series(got, t0, secs), "throttle_events": len(throttles),
         "throttle_max_ms": int(max(throttles) * 1000) if throttles else 0})


def metric(metrics, group, name):
    return (metrics.get(group) or {}).get(name)


def produce_kafka_python(boot, topic, cid, secs):
    from kafka import KafkaProducer
    acked = []
    p = KafkaProducer(bootstrap_servers=boot, client_id=cid, linger_ms=5,
                      buffer_memory=2 * 1024 * 1024, max_block_ms=60000)
    value = b"k" * 1000
    t0 = time.time()
    i = 0
    while time.time() - t0 < secs:
        f = p.send(topic, value=value, key=b"%08d" % i)
        f.add_callback(lambda md: acked.append((time.time(), 1008)))
        i += 1
    m = p.metrics()
    p.close(timeout=0)
    out({**series(acked, t0, secs),
         "throttle_max_ms": metric(m, "producer-metrics", "produce-throttle-time-max")})


def consume_kafka_python(boot, topic, cid, secs):
    from kafka import KafkaConsumer
    got = []
    c = KafkaConsumer(topic, bootstrap_servers=boot, client_id=cid, group_id="g-" + cid,
                      auto_offset_reset="earliest", enable_auto_commit=False)
    t0 = None
    while t0 is None or time.time() - t0 < secs:
        batch = c.poll(timeout_ms=100)
        for recs in batch.values():
            for r in recs:
                if t0 is None:
                    t0 = time.time()
                got.append((time.time(), len(r.value) + len(r.key or b"")))
    m = c.metrics()
    c.close()
    out({**series(got, t0, secs),
         "throttle_max_ms": metric(m, "consumer-fetch-manager-metrics",
                                   "fetch-throttle-time-max")})


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_frame(s):
    head = recv_exact(s, 4)
    if head is None:
        return None
    return recv_exact(s, struct.unpack(">i", head)[0])


def connect(boot):
    host, port = boot.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=120)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def header_v1(key, version, corr, cid):
    c = cid.encode()
    return struct.pack(">hhih", key, version, corr, len(c)) + c


def raw_produce(boot, topic, cid, n, kb):
    from kafka.protocol.produce import ProduceRequest, ProduceResponse
    from kafka.record.default_records import DefaultRecordBatchBuilder
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                  producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                  batch_size=kb * 1024 + 4096)
    b.append(0, timestamp=int(time.time() * 1000), key=None, value=b"r" * (kb * 1024),
             headers=[])
    batch = bytes(b.build())
    req = ProduceRequest[3](transactional_id=None, required_acks=1, timeout=30000,
                            topics=[(topic, [(0, batch)])])
    body = req.encode()     # kafka-python binds encode weakly: keep req alive
    s = connect(boot)
    t0 = time.time()
    frames = []
    for i in range(n):
        payload = header_v1(0, 3, i, cid) + body
        frames.append(struct.pack(">i", len(payload)) + payload)
    size = len(frames[0])
    s.sendall(b"".join(frames))       # everything at once: no regard for throttling
    answers = []
    for i in range(n):
        data = recv_frame(s)
        if data is None:
            break
        r = ProduceResponse[3].decode(data[4:])
        answers.append((time.time() - t0, r.throttle_time_ms))
        del r
    out({"request_bytes": size, "answers": len(answers),
         "elapsed": answers[-1][0] if answers else None,
         "throttled": sum(1 for a in answers if a[1] > 0),
         "throttle_ms_total": sum(a[1] for a in answers)})


def raw_apiversions(boot, cid, n):
    s = connect(boot)
    t0 = time.time()
    frames = []
    for i in range(n):
        payload = header_v1(18, 1, i, cid)
        frames.append(struct.pack(">i", len(payload)) + payload)
    s.sendall(b"".join(frames))
    throttled = 0
    total = 0
    got = 0
    for i in range(n):
        data = recv_frame(s)
        if data is None:
            break
        got += 1
        # correlation id, ErrorCode, ApiKeys[] of 3 int16, ThrottleTimeMs
        (count,) = struct.unpack(">i", data[6:10])
        (ms,) = struct.unpack(">i", data[10 + 6 * count:14 + 6 * count])
        if ms > 0:
            throttled += 1
            total += ms
    out({"answers": got, "elapsed": time.time() - t0, "throttled": throttled,
         "throttle_ms_total": total})


def connections(boot, n):
    socks = []
    t0 = time.time()
    for i in range(n):
        socks.append(connect(boot))
    for i, s in enumerate(socks):
        payload = header_v1(18, 0, i, "conn-storm")
        s.sendall(struct.pack(">i", len(payload)) + payload)
    answered = 0
    closed = 0
    last_answer = 0
    for s in socks:
        s.settimeout(30)
        try:
            data = recv_frame(s)
        except (ConnectionResetError, socket.timeout):
            data = None
        if data is None:
            closed += 1
        else:
            answered += 1
            last_answer = time.time() - t0
        s.close()
    out({"answered": answered, "closed": closed, "last_answer": last_answer,
         "elapsed": time.time() - t0})


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "fill":
        fill(args[0], args[1], int(args[2]))
    elif cmd == "produce-confluent":
        produce_confluent(args[0], args[1], args[2], float(args[3]))
    elif cmd == "consume-confluent":
        consume_confluent(args[0], args[1], args[2], float(args[3]))
    elif cmd == "produce-kafka-python":
        produce_kafka_python(args[0], args[1], args[2], float(args[3]))
    elif cmd == "consume-kafka-python":
        consume_kafka_python(args[0], args[1], args[2], float(args[3]))
    elif cmd == "raw-produce":
        raw_produce(args[0], args[1], args[2], int(args[3]), int(args[4]))
    elif cmd == "raw-apiversions":
        raw_apiversions(args[0], args[1], int(args[2]))
    elif cmd == "connections":
        connections(args[0], int(args[1]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
