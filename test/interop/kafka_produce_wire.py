#!/usr/bin/python3
"""Raw-socket tests of nagare's Produce, Fetch and ListOffsets.

Requests and record batches are built with kafka-python's own classes (an
implementation independent of nagare's), then damaged by hand where a test
needs a bad batch; responses are decoded with kafka-python too.  Every check
compares error codes, offsets or bytes.

usage: kafka_produce_wire.py <host> <port> <topic with 2 partitions, max.message.bytes 5000>
Prints TAP ("ok N - ...", "not ok N - ...") and a plan.
"""
import socket
import struct
import sys
import time

from kafka.protocol.fetch import FetchRequest, FetchResponse
from kafka.protocol.offset import OffsetRequest, OffsetResponse
from kafka.protocol.produce import ProduceRequest, ProduceResponse
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

host, port, topic = sys.argv[1], int(sys.argv[2]), sys.argv[3]
results = []

NONE, OFFSET_OUT_OF_RANGE, CORRUPT_MESSAGE, UNKNOWN_TOPIC = 0, 1, 2, 3
MESSAGE_TOO_LARGE, INVALID_REQUIRED_ACKS = 10, 21
UNSUPPORTED_FOR_MESSAGE_FORMAT, INVALID_RECORD = 43, 87
TRANSACTIONAL_ID_AUTH = 53


def check(cond, name):
    results.append((bool(cond), name))


def connect():
    s = socket.create_connection((host, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


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
    (size,) = struct.unpack(">i", head)
    return recv_exact(s, size)


corr = [100]


def send_req(s, key, version, req):
    corr[0] += 1
    payload = struct.pack(">hhih", key, version, corr[0], 4) + b"wire" + req.encode()
    s.sendall(struct.pack(">i", len(payload)) + payload)
    return corr[0]


def answer(s, resp_cls, want_corr):
    data = recv_frame(s)
    if data is None:
        return None
    (c,) = struct.unpack(">i", data[:4])
    if c != want_corr:
        raise AssertionError("correlation id %d, expected %d" % (c, want_corr))
    return resp_cls.decode(data[4:])


def batch(values, key=b"k", compression=0, transactional=False, producer_id=-1):
    b = DefaultRecordBatchBuilder(magic=2, compression_type=compression,
                                  is_transactional=transactional, producer_id=producer_id,
                                  producer_epoch=0 if producer_id >= 0 else -1,
                                  base_sequence=0 if producer_id >= 0 else -1,
                                  batch_size=10 * 1024 * 1024)
    ts = int(time.time() * 1000)
    for i, v in enumerate(values):
        b.append(i, timestamp=ts, key=key, value=v, headers=[])
    return bytes(b.build())


def produce(s, records, partition=0, acks=-1, version=7, tname=None, transactional_id=None):
    req_cls = ProduceRequest[version]
    if version >= 3:
        req = req_cls(transactional_id=transactional_id, required_acks=acks, timeout=5000,
                      topics=[(tname or topic, [(partition, records)])])
    c = send_req(s, 0, version, req)
    return c


def produce_answer(s, c, version=7):
    r = answer(s, ProduceResponse[version], c)
    part = r.topics[0][1][0]
    return part[1], part[2]  # error code, base offset


def one_produce(records, **kw):
    s = connect()
    try:
        c = produce(s, records, **kw)
        return produce_answer(s, c, kw.get("version", 7))
    finally:
        s.close()


def fetch(s, offset, partition=0, max_wait=0, min_bytes=1, max_bytes=10 * 1024 * 1024,
          part_max=10 * 1024 * 1024, version=4, tname=None):
    req = FetchRequest[version](replica_id=-1, max_wait_time=max_wait, min_bytes=min_bytes,
                                max_bytes=max_bytes, isolation_level=0,
                                topics=[(tname or topic, [(partition, offset, part_max)])])
    return send_req(s, 1, version, req)


def fetch_answer(s, c, version=4):
    r = answer(s, FetchResponse[version], c)
    p = r.topics[0][1][0]
    # v4: (partition, error, hwm, last_stable, aborted, records)
    return p[1], p[2], p[-1]


def records_of(raw):
    out = []
    mr = MemoryRecords(raw)
    while True:
        b = mr.next_batch()
        if b is None:
            break
        for rec in b:
            out.append((rec.offset, rec.key, rec.value))
    return out


def one_fetch(offset, **kw):
    s = connect()
    try:
        c = fetch(s, offset, **kw)
        return fetch_answer(s, c, kw.get("version", 4))
    finally:
        s.close()


def list_offset(ts, partition=0):
    s = connect()
    try:
        req = OffsetRequest[1](replica_id=-1, topics=[(topic, [(partition, ts)])])
        c = send_req(s, 2, 1, req)
        r = answer(s, OffsetResponse[1], c)
        p = r.topics[0][1][0]
        return p[1], p[2], p[3]  # error, timestamp, offset
    finally:
        s.close()


# 1. a good batch, acks=all: base offset 0, and it reads back byte for byte
err, base = one_produce(batch([b"v0", b"v1", b"v2"]))
check(err == NONE and base == 0, "a good batch is acknowledged at offset 0 (acks=all)")
err, hwm, raw = one_fetch(0)
check(err == NONE and hwm == 3 and records_of(raw) == [(0, b"k", b"v0"), (1, b"k", b"v1"), (2, b"k", b"v2")],
      "it is fetched back: offsets 0-2, same keys and values")

# 2. bad batches get their error and are not stored
good = batch([b"x" * 100])
bad_crc = bytearray(good)
bad_crc[-1] ^= 0xFF
check(one_produce(bytes(bad_crc))[0] == CORRUPT_MESSAGE, "a batch with a bad CRC: CORRUPT_MESSAGE")
check(one_produce(good[:-5])[0] == CORRUPT_MESSAGE, "a truncated batch: CORRUPT_MESSAGE")
bad_count = bytearray(good)
struct.pack_into(">i", bad_count, 57, 2)  # RecordsCount 2 with one record (CRC fixed below)
from kafka.record.util import calc_crc32c
struct.pack_into(">I", bad_count, 17, calc_crc32c(bytes(bad_count[21:])))
check(one_produce(bytes(bad_count))[0] == CORRUPT_MESSAGE,
      "a batch whose record count disagrees with its records (good CRC): CORRUPT_MESSAGE")
legacy = LegacyRecordBatchBuilder(magic=1, compression_type=0, batch_size=1024 * 1024)
legacy.append(0, timestamp=int(time.time() * 1000), key=b"k", value=b"old")
check(one_produce(bytes(legacy.build()))[0] == UNSUPPORTED_FOR_MESSAGE_FORMAT,
      "a magic 1 message set: UNSUPPORTED_FOR_MESSAGE_FORMAT")
check(one_produce(batch([b"y" * 6000]))[0] == MESSAGE_TOO_LARGE,
      "a batch above the topic's max.message.bytes: MESSAGE_TOO_LARGE")
check(one_produce(batch([b"t"], transactional=True, producer_id=7))[0] == INVALID_RECORD,
      "a transactional batch: INVALID_RECORD")
check(one_produce(good, transactional_id="tx")[0] == TRANSACTIONAL_ID_AUTH,
      "a produce with a transactional id: TRANSACTIONAL_ID_AUTHORIZATION_FAILED")
check(one_produce(good, acks=2)[0] == INVALID_REQUIRED_ACKS, "acks=2: INVALID_REQUIRED_ACKS")
check(one_produce(good, partition=7)[0] == UNKNOWN_TOPIC, "a partition the topic does not have: UNKNOWN_TOPIC_OR_PARTITION")
check(one_produce(good, tname="no-such-topic-" + str(port))[0] in (UNKNOWN_TOPIC,),
      "a topic that does not exist: UNKNOWN_TOPIC_OR_PARTITION")
err, hwm, raw = one_fetch(0)
check(hwm == 3 and len(records_of(raw)) == 3, "none of the bad batches was stored")

# 3. two batches in one partition's records, compressed ones too
err, base = one_produce(batch([b"a"]) + batch([b"b", b"c"], compression=1) + batch([b"d"], compression=3))
check(err == NONE and base == 3, "three batches (none, gzip, lz4) in one produce: base offset 3")
err, hwm, raw = one_fetch(3)
check(hwm == 7 and [r[2] for r in records_of(raw)] == [b"a", b"b", b"c", b"d"],
      "they read back in order with their offsets")

# 4. acks=0 has no response: the next request's answer comes next, in order
s = connect()
produce(s, batch([b"z0"]), acks=0)
produce(s, batch([b"z1"]), acks=0)
c = produce(s, batch([b"z2"]), acks=1)
err, base = produce_answer(s, c)
check(err == NONE and base == 9, "after two acks=0 produces, an acks=1 answer comes first, at offset 9")
# pipelining: many requests, answers in order
cs = [produce(s, batch([b"p%d" % i]), acks=1) for i in range(200)]
bases = [produce_answer(s, c)[1] for c in cs]
check(bases == list(range(10, 210)), "200 pipelined produces are answered in order, offsets 10-209")
s.close()

# 5. fetch edge cases
err, hwm, raw = one_fetch(210)
check(err == NONE and hwm == 210 and len(raw) == 0, "a fetch at the high watermark: no records, no error")
check(one_fetch(211)[0] == OFFSET_OUT_OF_RANGE, "a fetch beyond the high watermark: OFFSET_OUT_OF_RANGE")
check(one_fetch(-5)[0] == OFFSET_OUT_OF_RANGE, "a negative fetch offset: OFFSET_OUT_OF_RANGE")
err, hwm, raw = one_fetch(5)
check(err == NONE and records_of(raw)[0][0] <= 5 and any(r[0] == 5 for r in records_of(raw)),
      "a fetch from the middle of a batch includes the batch with the offset")
err, hwm, raw = one_fetch(0, part_max=10)
recs = records_of(raw)
check(err == NONE and len(recs) == 3, "a partition limit below one batch still returns the first whole batch (KIP-74)")
err, hwm, raw = one_fetch(10, part_max=300)
check(err == NONE and 0 < len(raw) <= 300, "the partition limit bounds the bytes otherwise (%d bytes)" % len(raw))
# long poll: a parked fetch is answered by a produce, before max.wait.ms
s = connect()
t0 = time.time()
c = fetch(s, 210, max_wait=5000)
time.sleep(0.3)
one_produce(batch([b"wake"]), acks=1)
err, hwm, raw = fetch_answer(s, c)
elapsed = time.time() - t0
check(err == NONE and [r[2] for r in records_of(raw)] == [b"wake"] and elapsed < 3,
      "a long poll is answered when data arrives (%.2fs)" % elapsed)
t0 = time.time()
c = fetch(s, 211, max_wait=700)
err, hwm, raw = fetch_answer(s, c)
elapsed = time.time() - t0
check(err == NONE and len(raw) == 0 and 0.6 < elapsed < 2.5,
      "a long poll with no data ends after max.wait.ms (%.2fs)" % elapsed)
s.close()

# 6. ListOffsets
check(list_offset(-2)[2] == 0, "ListOffsets earliest: 0")
check(list_offset(-1)[2] == 211, "ListOffsets latest: 211")
err, ts, off = list_offset(int(time.time() * 1000) + 3600 * 1000)
check(err == NONE and off == -1, "ListOffsets by a future timestamp: -1")
err, ts, off = list_offset(0)
check(err == NONE and off == 0, "ListOffsets by timestamp 0: offset 0")
check(list_offset(-1, partition=1)[2] == 0, "ListOffsets latest of a partition never written: 0")

for i, (ok, name) in enumerate(results, 1):
    print("%sok %d - %s" % ("" if ok else "not ", i, name))
print("1..%d" % len(results))
sys.exit(0 if all(ok for ok, _ in results) else 1)
