#!/usr/bin/python3
"""Raw-socket tests of nagare's idempotent produce: batches with a producer
id, epoch and sequence numbers, built with kafka-python's record builder,
sent, sent again, sent out of order.

usage: kafka_idempotent_wire.py <host> <port> <topic> first|again <statefile>
  first: a new producer id; checks duplicates and sequence errors; writes
         what it was acknowledged to statefile
  again: (after a restart or crash of the server) replays the last batch of
         'first' and continues the sequence
Prints TAP lines and a plan.
"""
import json
import struct
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from kafka_produce_wire_lib import connect, produce, produce_answer, one_fetch, records_of  # noqa: E402,I100
from kafka.record.default_records import DefaultRecordBatchBuilder  # noqa: E402

host, port, topic, mode, statefile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
results = []
NONE, OUT_OF_ORDER, INVALID_EPOCH, UNKNOWN_PID = 0, 45, 47, 59


def check(cond, name):
    results.append((bool(cond), name))


def batch(pid, epoch, seq, values):
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                  producer_id=pid, producer_epoch=epoch, base_sequence=seq,
                                  batch_size=1024 * 1024)
    ts = int(time.time() * 1000)
    for i, v in enumerate(values):
        b.append(i, timestamp=ts, key=None, value=v, headers=[])
    return bytes(b.build())


def send(records):
    s = connect(host, port)
    try:
        c = produce(s, topic, records)
        return produce_answer(s, c)
    finally:
        s.close()


def hwm():
    return one_fetch(host, port, topic, 0)[1]


if mode == "first":
    pid = 4242000 + int(time.time()) % 1000
    b0 = batch(pid, 0, 0, [b"a0", b"a1"])
    b1 = batch(pid, 0, 2, [b"a2"])
    err, off0 = send(b0)
    check(err == NONE, "sequence 0 of a new producer is accepted (offset %s)" % off0)
    err, off1 = send(b1)
    check(err == NONE and off1 == off0 + 2, "the next sequence (2) follows at offset %d" % (off0 + 2))
    before = hwm()
    err, again = send(b1)
    check(err == NONE and again == off1, "the same batch again is acknowledged with its first offset")
    check(hwm() == before, "and is not written twice")
    err, again = send(b0)
    check(err == NONE and again == off0, "an older batch of the last five again: its offset too")
    check(send(batch(pid, 0, 7, [b"gap"]))[0] == OUT_OF_ORDER, "a gap in the sequence: OUT_OF_ORDER_SEQUENCE_NUMBER")
    check(send(batch(pid, 0, 1, [b"x"]))[0] == OUT_OF_ORDER, "a sequence overlapping written ones: OUT_OF_ORDER_SEQUENCE_NUMBER")
    check(send(batch(pid + 1, 0, 5, [b"x"]))[0] == UNKNOWN_PID, "an unknown producer not starting at 0: UNKNOWN_PRODUCER_ID")
    err, offe = send(batch(pid, 1, 0, [b"e1"]))
    check(err == NONE, "a newer epoch starting at sequence 0 is accepted")
    check(send(batch(pid, 0, 3, [b"old"]))[0] == INVALID_EPOCH, "the old epoch is fenced: INVALID_PRODUCER_EPOCH")
    b2 = batch(pid, 1, 1, [b"e2", b"e3"])
    err, off2 = send(b2)
    check(err == NONE and off2 == offe + 1, "the new epoch continues")
    recs = [r[2] for r in records_of(one_fetch(host, port, topic, off0)[2])]
    check(recs == [b"a0", b"a1", b"a2", b"e1", b"e2", b"e3"], "the log holds each record once, in order")
    json.dump({"pid": pid, "epoch": 1, "seq": 1, "values": ["e2", "e3"], "offset": off2, "hwm": hwm()},
              open(statefile, "w"))
else:
    st = json.load(open(statefile))
    pid, epoch = st["pid"], st["epoch"]
    last = batch(pid, epoch, st["seq"], [v.encode() for v in st["values"]])
    err, again = send(last)
    check(err == NONE and again == st["offset"],
          "after the restart, the last acknowledged batch again gets its first offset %d (got %s, error %d)"
          % (st["offset"], again, err))
    check(hwm() == st["hwm"], "and is not written twice")
    seq = st["seq"] + len(st["values"])
    err, off = send(batch(pid, epoch, seq, [b"n%d" % seq]))
    check(err == NONE and off == st["hwm"], "the sequence continues after the restart")
    check(send(batch(pid, epoch, seq + 9, [b"gap"]))[0] == OUT_OF_ORDER,
          "a gap after the restart: OUT_OF_ORDER_SEQUENCE_NUMBER")
    st.update({"seq": seq, "values": ["n%d" % seq], "offset": off, "hwm": hwm()})
    json.dump(st, open(statefile, "w"))

for i, (ok, name) in enumerate(results, 1):
    print("%sok %d - %s" % ("" if ok else "not ", i, name))
print("1..%d" % len(results))
sys.exit(0 if all(ok for ok, _ in results) else 1)
