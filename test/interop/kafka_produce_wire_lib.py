#!/usr/bin/python3
"""Raw-socket Kafka requests for nagare's wire tests, on kafka-python's
protocol classes (an implementation independent of nagare's).  Used by
kafka_produce_wire.py and kafka_idempotent_wire.py."""
import socket
import struct

from kafka.protocol.fetch import FetchRequest, FetchResponse
from kafka.protocol.produce import ProduceRequest, ProduceResponse
from kafka.record.memory_records import MemoryRecords

_corr = [100]


def connect(host, port):
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


def send_req(s, key, version, req):
    _corr[0] += 1
    payload = struct.pack(">hhih", key, version, _corr[0], 4) + b"wire" + req.encode()
    s.sendall(struct.pack(">i", len(payload)) + payload)
    return _corr[0]


def answer(s, resp_cls, want_corr):
    data = recv_frame(s)
    if data is None:
        return None
    (c,) = struct.unpack(">i", data[:4])
    if c != want_corr:
        raise AssertionError("correlation id %d, expected %d" % (c, want_corr))
    return resp_cls.decode(data[4:])


def produce(s, topic, records, partition=0, acks=-1, version=7, transactional_id=None):
    fields = dict(required_acks=acks, timeout=5000, topics=[(topic, [(partition, records)])])
    if version >= 3:
        fields["transactional_id"] = transactional_id
    req = ProduceRequest[version](**fields)
    return send_req(s, 0, version, req)


def produce_answer(s, c, version=7):
    r = answer(s, ProduceResponse[version], c)
    part = r.topics[0][1][0]
    return part[1], part[2]  # error code, base offset (every version: partition, error, offset, ...)


def fetch(s, topic, offset, partition=0, max_wait=0, min_bytes=1, max_bytes=10 * 1024 * 1024,
          part_max=10 * 1024 * 1024, version=4):
    req = FetchRequest[version](replica_id=-1, max_wait_time=max_wait, min_bytes=min_bytes,
                                max_bytes=max_bytes, isolation_level=0,
                                topics=[(topic, [(partition, offset, part_max)])])
    return send_req(s, 1, version, req)


def fetch_answer(s, c, version=4):
    r = answer(s, FetchResponse[version], c)
    p = r.topics[0][1][0]
    # v4: (partition, error, hwm, last_stable, aborted, records)
    return p[1], p[2], p[-1]


def one_fetch(host, port, topic, offset, **kw):
    s = connect(host, port)
    try:
        c = fetch(s, topic, offset, **kw)
        return fetch_answer(s, c, kw.get("version", 4))
    finally:
        s.close()


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
