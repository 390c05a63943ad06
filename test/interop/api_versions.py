#!/usr/bin/python3
"""Ask a Kafka listener which APIs it serves (ApiVersions v0, by hand).

usage: api_versions.py HOST PORT
Prints one JSON object {"API_KEY": [min, max], ...}; exits 1 when the
listener does not answer.
"""
import json
import socket
import struct
import sys
import time

host, port = sys.argv[1], int(sys.argv[2])
end = time.monotonic() + 30
while True:
    try:
        s = socket.create_connection((host, port), timeout=5)
        break
    except OSError as e:
        if time.monotonic() > end:
            sys.exit("api_versions.py: cannot connect to %s:%d: %s" % (host, port, e))
        time.sleep(0.2)
client = b"nagare-interop-probe"
req = struct.pack(">hhih", 18, 0, 1, len(client)) + client
s.sendall(struct.pack(">i", len(req)) + req)


def recv(n):
    buf = b""
    while len(buf) < n:
        c = s.recv(n - len(buf))
        if not c:
            sys.exit("api_versions.py: connection closed")
        buf += c
    return buf


(size,) = struct.unpack(">i", recv(4))
body = recv(size)
corr, err, n = struct.unpack(">ihi", body[:10])
if corr != 1 or err != 0:
    sys.exit("api_versions.py: correlation id %d, error %d" % (corr, err))
out = {}
for i in range(n):
    k, lo, hi = struct.unpack(">hhh", body[10 + 6 * i:16 + 6 * i])
    out[str(k)] = [lo, hi]
print(json.dumps(out, sort_keys=True))
