#!/usr/bin/python3
"""Requests that name topics by topic id, encoded and decoded by hand
(kafka-python 2.0.2 has no Metadata v12, Fetch v13+, DeleteTopics v6,
Produce v13, OffsetCommit v10 or OffsetFetch v10), for
test/t/100_kafka_interop.pl and 106_protocol_current.pl.

usage: topic_ids.py HOST:PORT metadata UUID...
       topic_ids.py HOST:PORT fetch VERSION UUID PARTITION OFFSET [LEADER_EPOCH]
       topic_ids.py HOST:PORT delete UUID...
       topic_ids.py HOST:PORT produce UUID PARTITION VALUE [TRANSACTIONAL_ID]
       topic_ids.py HOST:PORT commit GROUP UUID PARTITION OFFSET
       topic_ids.py HOST:PORT offsets GROUP [UUID PARTITION]

UUIDs in their SQL form (nagare.topics.topic_uuid).  Prints one JSON
object:
  metadata (Metadata v12, topics by id, no auto-creation):
    {"version": 12, "topics": [{"id": UUID, "error": CODE, "name": NAME|null,
                                "partitions": N}, ...]}
  fetch (Fetch VERSION >= 13, one topic by id, one partition):
    {"version": V, "error": CODE, "topics": [{"id": UUID, "partitions":
      [{"partition": P, "error": CODE, "hwm": N, "records": BYTES
        [, "leader": [ID, EPOCH]]}]}] [, "endpoints": [[ID, HOST, PORT], ...]]}
    (leader: the tagged CurrentLeader; endpoints: v16's tagged NodeEndpoints)
  delete (DeleteTopics v6, topics by id):
    {"version": 6, "topics": [{"id": UUID, "error": CODE, "name": NAME|null}, ...]}
  produce (Produce v13, one record with VALUE, acks=-1; a batch of
  kafka-python's builder):
    {"version": 13, "topics": [{"id": UUID, "partitions": [{"partition": P,
      "error": CODE, "offset": N}]}]}
  commit (OffsetCommit v10, outside any group's generation):
    {"version": 10, "topics": [{"id": UUID, "partitions": [[P, CODE]]}]}
  offsets (OffsetFetch v10, the group's offsets of one partition, or of
  all its topics without UUID):
    {"version": 10, "error": CODE, "topics": [{"id": UUID, "partitions":
      [[P, OFFSET, CODE]]}]}
Every byte of a response is consumed; a response that does not parse
exits 1.
"""
import json
import socket
import struct
import sys
import uuid

host, port = sys.argv[1].rsplit(":", 1)
cmd = sys.argv[2]


def uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


class Reader:
    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def take(self, n):
        if self.pos + n > len(self.buf):
            raise ValueError("truncated response")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def uvarint(self):
        shift = n = 0
        while True:
            b = self.take(1)[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7

    def cstr(self):  # compact nullable string
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode()

    def cbytes(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1)

    def carray(self, item):
        n = self.uvarint()
        return None if n == 0 else [item() for _ in range(n - 1)]

    def uuid(self):
        return str(uuid.UUID(bytes=self.take(16)))

    def tags(self, known=None):
        """Skip tagged fields, or read those in known {tag: function}."""
        for _ in range(self.uvarint()):
            tag, size = self.uvarint(), self.uvarint()
            end = self.pos + size
            if known and tag in known:
                known[tag]()
                if self.pos != end:
                    raise ValueError("tagged field %d: wrong size" % tag)
            else:
                self.take(size)


def call(key, version, body):
    # request header v2: key, version, correlation id, client id, no tags
    hdr = struct.pack(">hhih", key, version, 7, 9) + b"topic-ids" + b"\x00"
    req = hdr + body
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(struct.pack(">i", len(req)) + req)
    buf = b""
    while len(buf) < 4 or len(buf) < 4 + struct.unpack(">i", buf[:4])[0]:
        chunk = s.recv(65536)
        if not chunk:
            raise ValueError("connection closed")
        buf += chunk
    s.close()
    r = Reader(buf[4:])
    if r.i32() != 7:
        raise ValueError("wrong correlation id")
    r.tags()  # response header v1
    return r


def metadata(ids):
    body = uvarint(len(ids) + 1)
    for i in ids:
        body += uuid.UUID(i).bytes + uvarint(0) + uvarint(0)  # id, null name, tags
    body += b"\x00" + b"\x00" + uvarint(0)  # no auto-creation, no ops, tags
    r = call(3, 12, body)
    r.i32()  # throttle

    def broker():
        r.i32(), r.cstr(), r.i32(), r.cstr(), r.tags()

    r.carray(broker)
    r.cstr(), r.i32()  # cluster id, controller

    def partition():
        r.i16(), r.i32(), r.i32(), r.i32()
        r.carray(r.i32), r.carray(r.i32), r.carray(r.i32)
        r.tags()

    def topic():
        t = {"error": r.i16(), "name": r.cstr(), "id": r.uuid()}
        r.i8()
        t["partitions"] = len(r.carray(partition) or [])
        r.i32()
        r.tags()
        return t

    topics = r.carray(topic)
    r.tags()
    return r, {"version": 12, "topics": topics}


def fetch(version, tid, partition, offset, epoch=-1):
    body = struct.pack(">iiibii", 500, 1, 1048576, 0, 0, -1)
    if version < 15:
        body = struct.pack(">i", -1) + body  # ReplicaId (v15+: ReplicaState)
    part = struct.pack(">iiqiqi", partition, epoch, offset, -1, -1, 1048576) + uvarint(0)
    body += uvarint(2) + uuid.UUID(tid).bytes + uvarint(2) + part + uvarint(0)
    body += uvarint(1) + uvarint(1) + uvarint(0)  # no forgotten topics, rack "", tags
    r = call(1, version, body)
    r.i32()
    out = {"version": version, "error": r.i16()}
    r.i32()  # session id

    def aborted():
        r.i64(), r.i64(), r.tags()

    def pdata():
        p = {"partition": r.i32(), "error": r.i16(), "hwm": r.i64()}
        r.i64(), r.i64()
        r.carray(aborted)
        r.i32()
        recs = r.cbytes()
        p["records"] = len(recs or b"")

        def leader():
            p["leader"] = [r.i32(), r.i32()]
            r.tags()

        r.tags({1: leader})
        return p

    def topic():
        t = {"id": r.uuid()}
        t["partitions"] = r.carray(pdata)
        r.tags()
        return t

    out["topics"] = r.carray(topic)

    def endpoint():
        e = [r.i32(), r.cstr(), r.i32()]
        r.cstr()
        r.tags()
        return e

    def endpoints():
        out["endpoints"] = r.carray(endpoint)

    r.tags({0: endpoints})
    return r, out


def delete(ids):
    body = uvarint(len(ids) + 1)
    for i in ids:
        body += uvarint(0) + uuid.UUID(i).bytes + uvarint(0)  # null name, id, tags
    body += struct.pack(">i", 15000) + uvarint(0)
    r = call(20, 6, body)
    r.i32()

    def result():
        t = {"name": r.cstr(), "id": r.uuid(), "error": r.i16()}
        r.cstr()
        r.tags()
        return t

    topics = r.carray(result)
    r.tags()
    return r, {"version": 6, "topics": topics}


def produce(tid, partition, value, txn=None):
    from kafka.record.default_records import DefaultRecordBatchBuilder

    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=0,
                                  producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                  batch_size=1 << 20)
    b.append(0, timestamp=None, key=None, value=value.encode(), headers=[])
    records = bytes(b.build())
    body = (uvarint(0) if txn is None else uvarint(len(txn) + 1) + txn.encode())
    body += struct.pack(">hi", -1, 10000)
    part = struct.pack(">i", partition) + uvarint(len(records) + 1) + records + uvarint(0)
    body += uvarint(2) + uuid.UUID(tid).bytes + uvarint(2) + part + uvarint(0) + uvarint(0)
    r = call(0, 13, body)

    def recerr():
        r.i32(), r.cstr(), r.tags()

    def pdata():
        p = {"partition": r.i32(), "error": r.i16(), "offset": r.i64()}
        r.i64(), r.i64()
        r.carray(recerr)
        r.cstr()
        r.tags()
        return p

    def topic():
        t = {"id": r.uuid()}
        t["partitions"] = r.carray(pdata)
        r.tags()
        return t

    topics = r.carray(topic)
    r.i32()
    r.tags()
    return r, {"version": 13, "topics": topics}


def commit(group, tid, partition, offset):
    body = uvarint(len(group) + 1) + group.encode() + struct.pack(">i", -1)
    body += uvarint(1) + uvarint(0)  # MemberId "", GroupInstanceId null
    part = struct.pack(">iqi", partition, offset, -1) + uvarint(0) + uvarint(0)
    body += uvarint(2) + uuid.UUID(tid).bytes + uvarint(2) + part + uvarint(0) + uvarint(0)
    r = call(8, 10, body)
    r.i32()

    def pdata():
        p = [r.i32(), r.i16()]
        r.tags()
        return p

    def topic():
        t = {"id": r.uuid()}
        t["partitions"] = r.carray(pdata)
        r.tags()
        return t

    topics = r.carray(topic)
    r.tags()
    return r, {"version": 10, "topics": topics}


def offsets(group, tid=None, partition=None):
    body = uvarint(2) + uvarint(len(group) + 1) + group.encode()
    body += uvarint(0) + struct.pack(">i", -1)  # MemberId null, MemberEpoch -1
    if tid is None:
        body += uvarint(0)  # all topics
    else:
        body += uvarint(2) + uuid.UUID(tid).bytes + uvarint(2) + struct.pack(">i", partition)
        body += uvarint(0)
    body += uvarint(0) + b"\x00" + uvarint(0)  # group tags, RequireStable, tags
    r = call(9, 10, body)
    r.i32()
    out = {"version": 10}

    def pdata():
        p = [r.i32(), r.i64()]
        r.i32(), r.cstr()
        p.append(r.i16())
        r.tags()
        return p

    def topic():
        t = {"id": r.uuid()}
        t["partitions"] = r.carray(pdata)
        r.tags()
        return t

    def grp():
        r.cstr()
        out["topics"] = r.carray(topic)
        out["error"] = r.i16()
        r.tags()

    r.carray(grp)
    r.tags()
    return r, out


if cmd == "metadata":
    r, out = metadata(sys.argv[3:])
elif cmd == "fetch":
    r, out = fetch(int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6]),
                   int(sys.argv[7]) if len(sys.argv) > 7 else -1)
elif cmd == "delete":
    r, out = delete(sys.argv[3:])
elif cmd == "produce":
    r, out = produce(sys.argv[3], int(sys.argv[4]), sys.argv[5],
                     sys.argv[6] if len(sys.argv) > 6 else None)
elif cmd == "commit":
    r, out = commit(sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
elif cmd == "offsets":
    r, out = offsets(sys.argv[3], *((sys.argv[4], int(sys.argv[5])) if len(sys.argv) > 5 else ()))
else:
    sys.exit("unknown command " + cmd)
if r.pos != len(r.buf):
    sys.exit("%d bytes left over in the response" % (len(r.buf) - r.pos))
print(json.dumps(out))
