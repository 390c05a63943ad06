#!/usr/bin/env python3
"""
login_load: a storm of SASL/SCRAM-SHA-256 logins against a Kafka listener.

Opens connections at a steady rate (connections per second), and on each:
SaslHandshake v1 (SCRAM-SHA-256), the two SaslAuthenticate v0 round trips of
RFC 5802, then closes (with -m PLAIN: one SaslAuthenticate with the
password, which the server verifies by deriving its key, PBKDF2).  Each login is timed from connect to the server's
final message, which is verified (v=), so a login counts only if the server
proved it knows the password's verifier.  The salted password is derived
once per salt (PBKDF2 costs the client, not the server, and a real client
fleet would not make the load generator the bottleneck).

    login_load.py -H 127.0.0.1:9093 -u alice -p secret -r 500 -d 10

Prints one JSON object: rate asked and achieved, logins ok and failed,
login latency percentiles (ms), its own CPU time (cpu_s).  Plain Python,
no Kafka library.  bench/suite's "security" scenario uses login_load.c, the
same SCRAM storm in C: this one needs about half a CPU for 500 logins/s,
which beside the broker on a small machine is taken from what is measured.
"""
import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import resource
import struct
import sys
import time


def frame(api_key, version, corr, body, client_id=b"login_load"):
    hdr = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id
    msg = hdr + body
    return struct.pack(">i", len(msg)) + msg


async def read_frame(reader):
    size = struct.unpack(">i", await reader.readexactly(4))[0]
    return await reader.readexactly(size)


def kstr(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def kbytes(b):
    return struct.pack(">i", len(b)) + b


class Scram:
    """RFC 5802 client; caches the salted password per (salt, iterations)."""
    cache = {}

    def __init__(self, user, password):
        self.user = user
        self.password = password
        self.cnonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), self.cnonce)

    def first(self):
        return ("n,," + self.first_bare).encode()

    def final(self, server_first):
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        nonce, salt, it = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        if not nonce.startswith(self.cnonce):
            raise ValueError("server nonce does not extend ours")
        key = (salt, it)
        salted = Scram.cache.get(key)
        if salted is None:
            salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), salt, it)
            Scram.cache[key] = salted
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = "c=biws,r=" + nonce
        auth_msg = ",".join((self.first_bare, server_first, without_proof)).encode()
        sig = hmac.new(stored_key, auth_msg, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        self.expected = base64.b64encode(hmac.new(server_key, auth_msg, hashlib.sha256).digest()).decode()
        return (without_proof + ",p=" + base64.b64encode(proof).decode()).encode()


async def authenticate(reader, writer, corr, token):
    writer.write(frame(36, 0, corr, kbytes(token)))
    await writer.drain()
    resp = await read_frame(reader)
    # correlation id, error code, error message (nullable string), auth bytes
    err = struct.unpack(">h", resp[4:6])[0]
    mlen = struct.unpack(">h", resp[6:8])[0]
    pos = 8 + max(mlen, 0)
    blen = struct.unpack(">i", resp[pos:pos + 4])[0]
    return err, resp[pos + 4:pos + 4 + max(blen, 0)]


async def login(host, port, user, password, timeout, mechanism="SCRAM-SHA-256"):
    t0 = time.perf_counter()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(frame(17, 1, 1, kstr(mechanism)))
        await writer.drain()
        resp = await asyncio.wait_for(read_frame(reader), timeout)
        if struct.unpack(">h", resp[4:6])[0] != 0:
            return None
        if mechanism == "PLAIN":
            token = b"\0" + user.encode() + b"\0" + password.encode()
            err, _ = await asyncio.wait_for(authenticate(reader, writer, 2, token), timeout)
            return None if err else (time.perf_counter() - t0) * 1000.0
        s = Scram(user, password)
        err, server_first = await asyncio.wait_for(authenticate(reader, writer, 2, s.first()), timeout)
        if err:
            return None
        err, server_final = await asyncio.wait_for(
            authenticate(reader, writer, 3, s.final(server_first.decode())), timeout)
        if err or server_final.decode() != "v=" + s.expected:
            return None
        return (time.perf_counter() - t0) * 1000.0
    finally:
        writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-H", required=True, help="HOST:PORT of a SASL_PLAINTEXT listener")
    ap.add_argument("-u", required=True)
    ap.add_argument("-p", required=True)
    ap.add_argument("-r", type=float, default=500, help="logins per second")
    ap.add_argument("-d", type=float, default=10, help="seconds")
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("-m", default="SCRAM-SHA-256", choices=("SCRAM-SHA-256", "PLAIN"),
                    help="mechanism (PLAIN: the server derives the key, PBKDF2, per login)")
    a = ap.parse_args()
    host, port = a.H.rsplit(":", 1)
    port = int(port)
    lat, failed, errors = [], 0, {}
    tasks = set()

    async def one():
        nonlocal failed
        try:
            r = await login(host, port, a.u, a.p, a.timeout, a.m)
        except Exception as e:  # a refused or broken connection is a failed login
            r = None
            errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
        if r is None:
            failed += 1
        else:
            lat.append(r)

    start = time.perf_counter()
    n = int(a.r * a.d)
    for i in range(n):
        due = start + i / a.r
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        t = asyncio.ensure_future(one())
        tasks.add(t)
        t.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks)
    elapsed = time.perf_counter() - start
    lat.sort()

    def pct(p):
        return round(lat[min(len(lat) - 1, int(p / 100.0 * len(lat)))], 3) if lat else None

    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"rate_asked": a.r, "rate_ok": round(len(lat) / elapsed, 1), "ok": len(lat),
                      "cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
                      "failed": failed, "errors": errors, "p50_ms": pct(50), "p99_ms": pct(99),
                      "max_ms": round(lat[-1], 3) if lat else None, "seconds": round(elapsed, 2)}))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
