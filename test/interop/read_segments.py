#!/usr/bin/python3
"""Read nagare's partition directories with kafka-python's own decoder.

An independent check of nagare's storage format: every .log file must be
RecordBatch v2 batches back to back that kafka-python's DefaultRecordBatch
decodes with a valid CRC-32C; offsets must increase without gaps from the
segment's base offset (its file name); every .index entry must map the last
offset of a batch to that batch's position; .timeindex entries must increase.

Prints one JSON line per record: {"dir", "offset", "key", "value",
"headers"} with bytes as hex, so a caller can compare them with what
nagare.consume() returns.  Exits 1 with a message on the first violation.

usage: read_segments.py <pg_nagare directory> [<partition dir name> ...]
"""
import json
import os
import struct
import sys

from kafka.record.default_records import DefaultRecordBatch


def fail(msg):
    print("FORMAT ERROR: " + msg, file=sys.stderr)
    sys.exit(1)


def hexor(b):
    return None if b is None else b.hex()


def check_partition(root, name):
    d = os.path.join(root, name)
    logs = sorted(f for f in os.listdir(d) if f.endswith(".log"))
    expected_next = None
    for log in logs:
        base = int(log[:20])
        data = open(os.path.join(d, log), "rb").read()
        pos = 0
        starts = {}          # position -> last offset of the batch there
        if expected_next is not None and base != expected_next:
            fail("%s/%s starts at %d, previous segment ended at %d" % (name, log, base, expected_next))
        nxt = base
        while pos < len(data):
            if len(data) - pos < 61:
                fail("%s/%s: %d trailing bytes at %d" % (name, log, len(data) - pos, pos))
            first, length = struct.unpack(">qi", data[pos:pos + 12])
            batch = DefaultRecordBatch(data[pos:pos + 12 + length])
            if not batch.validate_crc():
                fail("%s/%s: CRC mismatch at %d" % (name, log, pos))
            if first != nxt:
                fail("%s/%s: batch at %d has base offset %d, expected %d" % (name, log, pos, first, nxt))
            last = None
            for r in batch:
                if r.offset != nxt:
                    fail("%s/%s: record offset %d, expected %d" % (name, log, r.offset, nxt))
                print(json.dumps({"dir": name, "offset": r.offset, "key": hexor(r.key),
                                  "value": hexor(r.value),
                                  "headers": [[k, hexor(v)] for k, v in r.headers]}))
                last = r.offset
                nxt += 1
            starts[pos] = last
            pos += 12 + length
        expected_next = nxt

        idx = open(os.path.join(d, log[:20] + ".index"), "rb").read()
        if len(idx) % 8:
            fail("%s: index size %d is not a multiple of 8" % (log, len(idx)))
        prev = -1
        for i in range(0, len(idx), 8):
            rel, p = struct.unpack(">ii", idx[i:i + 8])
            if p not in starts or starts[p] != base + rel or rel <= prev:
                fail("%s/%s.index entry %d (%d, %d) does not name a batch" % (name, log[:20], i // 8, rel, p))
            prev = rel
        ti = open(os.path.join(d, log[:20] + ".timeindex"), "rb").read()
        if len(ti) % 12:
            fail("%s: timeindex size %d is not a multiple of 12" % (log, len(ti)))
        prev_ts = -1
        for i in range(0, len(ti), 12):
            ts, rel = struct.unpack(">qi", ti[i:i + 12])
            if ts <= prev_ts or rel < 0 or base + rel >= nxt:
                fail("%s/%s.timeindex entry %d (%d, %d) is out of order" % (name, log[:20], i // 12, ts, rel))
            prev_ts = ts


def main():
    root = sys.argv[1]
    names = sys.argv[2:] or sorted(os.listdir(root))
    for name in names:
        check_partition(root, name)


if __name__ == "__main__":
    main()
