#!/usr/bin/python3
"""Raw-socket tests of nagare's Kafka listener.

Requests are encoded with kafka-python's own protocol classes (an
implementation independent of nagare's) where it has them, and by hand for
the flexible versions; responses are decoded the same way.  Bad clients
(malformed, truncated, oversized, unknown requests) must lose their own
connection and nothing else.

usage: kafka_wire.py <host> <port> <max_connections> <idle_ms>
Prints TAP ("ok N - ...", "not ok N - ...") and a plan.
"""
import socket
import struct
import sys
import time

from kafka.protocol.admin import ApiVersionRequest, ApiVersionResponse

host, port = sys.argv[1], int(sys.argv[2])
max_connections, idle_ms = int(sys.argv[3]), int(sys.argv[4])
results = []


def enc(cls):
    # kafka-python's encode() is a weak method: keep the object alive
    req = cls()
    return req.encode()


def check(cond, name):
    results.append((bool(cond), name))


def connect():
    s = socket.create_connection((host, port), timeout=5)
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


def closed_by_server(s, timeout=5.0):
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def header_v1(key, version, corr, client=b"wire-test"):
    return struct.pack(">hhih", key, version, corr, len(client)) + client


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def read_uvarint(buf, pos):
    n = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, pos


def compact_str(s):
    return uvarint(len(s) + 1) + s


# 1. ApiVersions v0-v2 as kafka-python encodes them, decoded by kafka-python
s = connect()
for v in range(3):
    s.sendall(frame(header_v1(18, v, 100 + v) + enc(ApiVersionRequest[v])))
    body = recv_frame(s)
    corr = struct.unpack(">i", body[:4])[0]
    resp = ApiVersionResponse[v].decode(body[4:])
    keys = {k[0]: (k[1], k[2]) for k in resp.api_versions}
    check(corr == 100 + v and resp.error_code == 0 and keys.get(18) == (0, 3),
          "ApiVersions v%d: kafka-python decodes the answer, ApiVersions 0-3 advertised" % v)

# 2. ApiVersions v3 (flexible: request header v2, compact strings, tagged fields)
body = compact_str(b"nagare-wire-test") + compact_str(b"1.0") + uvarint(0)
s.sendall(frame(header_v1(18, 3, 7) + uvarint(0) + body))
resp = recv_frame(s)
corr, err = struct.unpack(">ih", resp[:6])
n, pos = read_uvarint(resp, 6)
entries = []
for _ in range(n - 1):
    k, lo, hi = struct.unpack(">hhh", resp[pos:pos + 6])
    pos += 6
    tags, pos = read_uvarint(resp, pos)
    entries.append((k, lo, hi))
throttle = struct.unpack(">i", resp[pos:pos + 4])[0]
check(corr == 7 and err == 0 and (18, 0, 3) in entries and throttle == 0,
      "ApiVersions v3: flexible request and response (response header v0)")

# 3. v3 with an invalid software name: INVALID_REQUEST (42), connection kept
body = compact_str(b"bad name!") + compact_str(b"1.0") + uvarint(0)
s.sendall(frame(header_v1(18, 3, 8) + uvarint(0) + body))
resp = recv_frame(s)
check(resp is not None and struct.unpack(">ih", resp[:6]) == (8, 42),
      "ApiVersions v3 with an invalid ClientSoftwareName: error 42")

# 4. KIP-511: an unknown ApiVersions version gets error 35 and a v0 body;
#    the connection stays usable for v0 (librdkafka's retry)
s.sendall(frame(header_v1(18, 99, 9) + b"\x00\x01\x02"))
resp = recv_frame(s)
corr, err = struct.unpack(">ih", resp[:6])
r0 = ApiVersionResponse[0].decode(resp[4:])
check(corr == 9 and err == 35 and [tuple(k) for k in r0.api_versions] == [(18, 0, 3)],
      "ApiVersions v99: UNSUPPORTED_VERSION (35) with ApiVersions' range (KIP-511)")
s.sendall(frame(header_v1(18, 0, 10) + enc(ApiVersionRequest[0])))
resp = recv_frame(s)
check(resp is not None and struct.unpack(">ih", resp[:6]) == (10, 0),
      "the same connection then answers ApiVersions v0")

# 5. pipelining: 200 requests in one write, answered in order
payload = b"".join(frame(header_v1(18, 1, 1000 + i) + enc(ApiVersionRequest[1]))
                   for i in range(200))
s.sendall(payload)
corrs = [struct.unpack(">i", recv_frame(s)[:4])[0] for _ in range(200)]
check(corrs == list(range(1000, 1200)), "200 pipelined requests are answered in order")
s.close()

# 6. bad clients lose their own connection; a good one is unaffected
good = connect()


def good_still_works(tag):
    good.sendall(frame(header_v1(18, 2, 77) + enc(ApiVersionRequest[2])))
    resp = recv_frame(good)
    check(resp is not None and struct.unpack(">ih", resp[:6]) == (77, 0),
          "a well-behaved client is unaffected after " + tag)


cases = [
    ("an unknown API key", frame(header_v1(1000, 0, 1) + b"\x00" * 8)),
    ("an API nagare does not implement (EndTxn v0: no transactions)", frame(header_v1(26, 0, 1) + b"\xff\xff\xff\xff")),
    ("a request size above nagare.max_request_size", struct.pack(">i", 200 * 1024 * 1024) + b"\x00" * 64),
    ("a negative request size", struct.pack(">i", -5) + b"\x00" * 16),
    ("a request size below a header", struct.pack(">i", 3) + b"abc"),
    ("a header cut short", frame(struct.pack(">hhi", 18, 1, 5) + b"\x00")),
    ("a client id longer than the frame", frame(struct.pack(">hhih", 18, 1, 5, 500) + b"x" * 4)),
    ("a malformed flexible body", frame(header_v1(18, 3, 1) + uvarint(0) + b"\xff\xff\xff\xff\x0f")),
]
for name, data in cases:
    b = connect()
    b.sendall(data)
    check(closed_by_server(b), "the connection is closed on " + name)
    b.close()
    good_still_works(name)

# a frame cut off by the client's disconnect
b = connect()
b.sendall(struct.pack(">i", 1000) + b"\x00" * 10)
b.close()
good_still_works("a client leaving in the middle of a frame")
# a large frame arriving in pieces
b = connect()
big = frame(header_v1(18, 1, 42) + enc(ApiVersionRequest[1]) + b"\x00" * 300000)
for i in range(0, len(big), 7000):
    b.sendall(big[i:i + 7000])
resp = recv_frame(b)
check(resp is not None and struct.unpack(">ih", resp[:6]) == (42, 0),
      "a 300 kB request arriving in small pieces is answered (trailing bytes ignored, as in Kafka)")
b.close()
good.close()

# 7. nagare.max_connections: the connection after the limit is closed at once
#    (first give the broker a moment to see the earlier clients go: a
#    connection counts until the broker has read its end of stream)
time.sleep(0.5)
conns = [connect() for _ in range(max_connections)]
time.sleep(0.2)
extra = connect()
check(closed_by_server(extra, 3.0), "a connection beyond nagare.max_connections is closed")
conns[0].sendall(frame(header_v1(18, 0, 5) + enc(ApiVersionRequest[0])))
check(recv_frame(conns[0]) is not None, "connections within the limit still work")
for c in conns:
    c.close()
extra.close()

# 8. nagare.connections_max_idle
time.sleep(0.3)
idle = connect()
start = time.time()
closed = closed_by_server(idle, idle_ms / 1000.0 + 3.0)
check(closed and time.time() - start >= idle_ms / 1000.0 * 0.9,
      "an idle connection is closed after nagare.connections_max_idle")

for i, (ok, name) in enumerate(results, 1):
    print("%sok %d - %s" % ("" if ok else "not ", i, name))
print("1..%d" % len(results))
sys.exit(0 if all(ok for ok, _ in results) else 1)
