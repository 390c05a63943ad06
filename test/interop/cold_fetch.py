#!/usr/bin/python3
"""Records read back through librdkafka (confluent-kafka) from segments that
are not in the page cache, or only partly, byte for byte.  Used by
test/t/096_cold_fetch.pl.  Prints TAP lines.

usage: cold_fetch.py produce BOOTSTRAP TOPIC COUNT
       cold_fetch.py evict DIR                 every file out of the page cache
       cold_fetch.py warm DIR [STRIDE]         every file into it, or every other
                                               STRIDE bytes of each
       cold_fetch.py verify BOOTSTRAP TOPIC COUNT FROM LABEL
       cold_fetch.py times BOOTSTRAP TOPIC COUNT LABEL

Record i has key "k<i>" (none for every 7th), the timestamp BASE_MS + i (in
2023: the topic must keep records forever), and a value of value_size(i)
bytes derived from i: sizes from 0 to 70,000 bytes, so batches start and
end at every alignment and some span many direct reads.
"""
import glob
import hashlib
import os
import sys

BASE_MS = 1_700_000_000_000


def value_size(i):
    if i % 97 == 0:
        return 70_000 + i % 13
    if i % 11 == 0:
        return 0
    return (i * 7919) % 3000 + i % 5


def value(i):
    n = value_size(i)
    seed = hashlib.sha256(b"%d" % i).digest()
    return (seed * (n // len(seed) + 1))[:n]


def key(i):
    return None if i % 7 == 0 else b"k%d" % i


def produce(bootstrap, topic, count):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                  "enable.idempotence": False, "batch.size": 200_000})
    failed = []
    for i in range(count):
        while True:
            try:
                p.produce(topic, value=value(i), key=key(i), partition=0, timestamp=BASE_MS + i,
                          on_delivery=lambda err, msg: failed.append(err) if err else None)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(60)
    print("1..1")
    ok = left == 0 and not failed
    print("%sok 1 - produced %d records with acks=all%s" %
          ("" if ok else "not ", count, "" if ok else ": %d left, errors %s" % (left, failed[:3])))


def files(d):
    return sorted(f for f in glob.glob(os.path.join(d, "*")) if os.path.isfile(f))


def evict(d):
    os.sync()
    for f in files(d):
        fd = os.open(f, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)


def warm(d, stride=0):
    for f in files(d):
        with open(f, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            pos = 0
            while pos < size:
                os.pread(fh.fileno(), stride or (1 << 20), pos)
                pos += 2 * stride if stride else 1 << 20


def verify(bootstrap, topic, count, start, label):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "cold-verify", "enable.auto.commit": False,
                  "fetch.max.bytes": 1_500_000, "max.partition.fetch.bytes": 1_000_000})
    c.assign([TopicPartition(topic, 0, start)])
    want = start
    bad = []
    while want < count:
        m = c.poll(20)
        if m is None:
            bad.append("no record at offset %d within 20 s" % want)
            break
        if m.error():
            bad.append("error %s" % m.error())
            break
        i = m.offset()
        if i != want:
            bad.append("offset %d where %d was expected" % (i, want))
            break
        if (m.key(), m.value() or b"", m.timestamp()[1]) != (key(i), value(i), BASE_MS + i):
            bad.append("record %d differs (key %r, %d value bytes)" % (i, m.key(), len(m.value() or b"")))
            if len(bad) > 3:
                break
        want += 1
    c.close()
    print("1..1")
    print("%sok 1 - %s: records %d to %d read back byte for byte%s" %
          ("not " if bad else "", label, start, count - 1, ": " + "; ".join(bad[:4]) if bad else ""))


def times(bootstrap, topic, count, label):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "cold-times"})
    probes = [0, 1, count // 3, count // 2 + 1, count - 1]
    got = [c.offsets_for_times([TopicPartition(topic, 0, BASE_MS + i)], timeout=20)[0].offset for i in probes]
    c.close()
    print("1..1")
    ok = got == probes
    print("%sok 1 - %s: offsets for times %s are %s" % ("" if ok else "not ", label, probes, got))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "produce":
        produce(args[0], args[1], int(args[2]))
    elif cmd == "evict":
        evict(args[0])
    elif cmd == "warm":
        warm(args[0], int(args[1]) if len(args) > 1 else 0)
    elif cmd == "verify":
        verify(args[0], args[1], int(args[2]), int(args[3]), args[4])
    elif cmd == "times":
        times(args[0], args[1], int(args[2]), args[3])
    else:
        sys.exit("unknown command " + cmd)
