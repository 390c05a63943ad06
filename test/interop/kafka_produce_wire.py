#!/usr/bin/python3
"""Raw-socket tests of nagare's Produce, Fetch and ListOffsets.

Requests and record batches are built with kafka-python's own classes (an
implementation independent of nagare's), then damaged by hand where a test
needs a bad batch; responses are decoded with kafka-python too.  Every check
compares error codes, offsets or bytes.

usage: kafka_produce_wire.py <host> <port> <topic with 2 partitions, max.message.bytes 5000>
Prints TAP ("ok N - ...", "not ok N - ...") and a plan.
"""
import struct
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import kafka_produce_wire_lib as wire  # noqa: E402
from kafka.protocol.offset import OffsetRequest, OffsetResponse  # noqa: E402
from kafka.record.default_records import DefaultRecordBatchBuilder  # noqa: E402
from kafka.record.legacy_records import LegacyRecordBatchBuilder  # noqa: E402
from kafka.record.util import calc_crc32c  # noqa: E402

host, port, topic = sys.argv[1], int(sys.argv[2]), sys.argv[3]
results = []

NONE, OFFSET_OUT_OF_RANGE, CORRUPT_MESSAGE, UNKNOWN_TOPIC = 0, 1, 2, 3
MESSAGE_TOO_LARGE, INVALID_REQUIRED_ACKS = 10, 21
UNSUPPORTED_FOR_MESSAGE_FORMAT, INVALID_RECORD = 43, 87
TRANSACTIONAL_ID_AUTH = 53


def check(cond, name):
    results.append((bool(cond), name))


def connect():
    return wire.connect(host, port)


recv_frame = wire.recv_frame
send_req = wire.send_req
answer = wire.answer
records_of = wire.records_of
fetch_answer = wire.fetch_answer
produce_answer = wire.produce_answer


def produce(s, records, tname=None, **kw):
    return wire.produce(s, tname or topic, records, **kw)


def fetch(s, offset, tname=None, **kw):
    return wire.fetch(s, tname or topic, offset, **kw)


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


def one_produce(records, **kw):
    s = connect()
    try:
        c = produce(s, records, **kw)
        return produce_answer(s, c, kw.get("version", 7))
    finally:
        s.close()


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
struct.pack_into(">I", bad_count, 17, calc_crc32c(bytes(bad_count[21:])))
check(one_produce(bytes(bad_count))[0] == CORRUPT_MESSAGE,
      "a batch whose record count disagrees with its records (good CRC): CORRUPT_MESSAGE")
legacy = LegacyRecordBatchBuilder(magic=1, compression_type=0, batch_size=1024 * 1024)
legacy.append(0, timestamp=int(time.time() * 1000), key=b"k", value=b"old")
check(one_produce(bytes(legacy.build()))[0] == UNSUPPORTED_FOR_MESSAGE_FORMAT,
      "a magic 1 message set: UNSUPPORTED_FOR_MESSAGE_FORMAT")
legacy_v1 = LegacyRecordBatchBuilder(magic=1, compression_type=1, batch_size=1024 * 1024)
for i in range(3):
    legacy_v1.append(i, timestamp=int(time.time() * 1000), key=b"lk", value=b"legacy%d" % i)
err, lbase = one_produce(bytes(legacy_v1.build()), version=2)
check(err == NONE, "a gzip magic 1 message set in Produce v2 is accepted (up-converted)")
err, hwm_l, raw_l = one_fetch(lbase)
check([r[2] for r in records_of(raw_l)][:3] == [b"legacy0", b"legacy1", b"legacy2"],
      "and reads back as records of a v2 batch")
bad_legacy = bytearray(bytes(legacy_v1.build()))
bad_legacy[-1] ^= 0xFF
check(one_produce(bytes(bad_legacy), version=2)[0] == CORRUPT_MESSAGE,
      "a legacy message set with a bad CRC in Produce v2: CORRUPT_MESSAGE")
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
check(hwm == 6 and len(records_of(raw)) == 6, "none of the bad batches was stored (3 records, then 3 legacy ones)")

# 3. two batches in one partition's records, compressed ones too
err, base = one_produce(batch([b"a"]) + batch([b"b", b"c"], compression=1) + batch([b"d"], compression=3))
check(err == NONE and base == 6, "three batches (none, gzip, lz4) in one produce: base offset 6")
err, hwm, raw = one_fetch(6)
check(hwm == 10 and [r[2] for r in records_of(raw)] == [b"a", b"b", b"c", b"d"],
      "they read back in order with their offsets")

# 4. acks=0 has no response: the next request's answer comes next, in order
s = connect()
produce(s, batch([b"z0"]), acks=0)
produce(s, batch([b"z1"]), acks=0)
c = produce(s, batch([b"z2"]), acks=1)
err, base = produce_answer(s, c)
check(err == NONE and base == 12, "after two acks=0 produces, an acks=1 answer comes first, at offset 12")
# pipelining: many requests, answers in order
cs = [produce(s, batch([b"p%d" % i]), acks=1) for i in range(200)]
bases = [produce_answer(s, c)[1] for c in cs]
check(bases == list(range(13, 213)), "200 pipelined produces are answered in order, offsets 13-212")
s.close()

# 5. fetch edge cases
err, hwm, raw = one_fetch(213)
check(err == NONE and hwm == 213 and len(raw) == 0, "a fetch at the high watermark: no records, no error")
check(one_fetch(214)[0] == OFFSET_OUT_OF_RANGE, "a fetch beyond the high watermark: OFFSET_OUT_OF_RANGE")
check(one_fetch(-5)[0] == OFFSET_OUT_OF_RANGE, "a negative fetch offset: OFFSET_OUT_OF_RANGE")
err, hwm, raw = one_fetch(8)
check(err == NONE and records_of(raw)[0][0] <= 8 and any(r[0] == 8 for r in records_of(raw)),
      "a fetch from the middle of a batch includes the batch with the offset")
err, hwm, raw = one_fetch(0, part_max=10)
recs = records_of(raw)
check(err == NONE and len(recs) == 3, "a partition limit below one batch still returns the first whole batch (KIP-74)")
err, hwm, raw = one_fetch(13, part_max=300)
check(err == NONE and 0 < len(raw) <= 300, "the partition limit bounds the bytes otherwise (%d bytes)" % len(raw))
# long poll: a parked fetch is answered by a produce, before max.wait.ms
s = connect()
t0 = time.time()
c = fetch(s, 213, max_wait=5000)
time.sleep(0.3)
one_produce(batch([b"wake"]), acks=1)
err, hwm, raw = fetch_answer(s, c)
elapsed = time.time() - t0
check(err == NONE and [r[2] for r in records_of(raw)] == [b"wake"] and elapsed < 3,
      "a long poll is answered when data arrives (%.2fs)" % elapsed)
t0 = time.time()
c = fetch(s, 214, max_wait=700)
err, hwm, raw = fetch_answer(s, c)
elapsed = time.time() - t0
check(err == NONE and len(raw) == 0 and 0.6 < elapsed < 2.5,
      "a long poll with no data ends after max.wait.ms (%.2fs)" % elapsed)
s.close()

# 6. ListOffsets
check(list_offset(-2)[2] == 0, "ListOffsets earliest: 0")
check(list_offset(-1)[2] == 214, "ListOffsets latest: 214")
err, ts, off = list_offset(int(time.time() * 1000) + 3600 * 1000)
check(err == NONE and off == -1, "ListOffsets by a future timestamp: -1")
err, ts, off = list_offset(0)
check(err == NONE and off == 0, "ListOffsets by timestamp 0: offset 0")
check(list_offset(-1, partition=1)[2] == 0, "ListOffsets latest of a partition never written: 0")

for i, (ok, name) in enumerate(results, 1):
    print("%sok %d - %s" % ("" if ok else "not ", i, name))
print("1..%d" % len(results))
sys.exit(0 if all(ok for ok, _ in results) else 1)
