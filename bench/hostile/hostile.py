#!/usr/bin/python3
"""Hostile Kafka clients, for test/t/092_hostile_net.pl and bench/hostile/run.sh.

usage: hostile.py HOST PORT MODE [ARGS...]

Modes (each prints one JSON line of what happened, then exits; "hold"
modes keep their sockets open for SECONDS, or until killed):

  giga [SIZE]            one connection announcing a SIZE-byte frame (default
                         2147483647) followed by a valid request header; is it
                         closed, and how fast
  garbage                a valid ApiVersions header whose body is random bytes;
                         is the connection closed
  unknown                an unknown API key, then an unknown version of Metadata
  loris N INTERVAL SECS  N connections each sending a frame one byte every
                         INTERVAL seconds (a 64-byte ApiVersions request padded);
                         reports when the broker closed them
  tlsloris N INTERVAL SECS  the same on a TLS listener, before the handshake: a TLS
                         record header announcing a 512-byte ClientHello, then a
                         byte every INTERVAL seconds
  bigloris N SECS        N connections each announcing a max-size frame and
                         sending 1 kB of it a second
  idle N SECS            N connections that send one ApiVersions request, read
                         the answer, then stay silent; how many were closed
  stopped TOPIC SECS     one connection pipelining Fetch requests of TOPIC from offset
                         0 and never reading (a peer that vanished without FIN looks the same to
                         the broker once its window is full); is it closed
  bigmeta N              a legitimate but huge Metadata v1 request naming N topics
                         ("x"): answered (how many topics) or closed
  produce TOPIC SECS     a well-behaved producer (confluent-kafka, acks=all), one
                         message every 10 ms: how many were acknowledged, failed
  storm KIND SECS        connection after connection for SECS seconds, each
                         sending KIND (giga: a 2 GB frame announced; garbage;
                         unknown) and waiting for the close: how many
  conns N [HOLD]         N connections at once, each sending ApiVersions:
                         how many were answered, refused (closed), failed to
                         connect, or hung; keeps them open HOLD seconds
"""
import json
import os
import random
import select
import socket
import struct
import sys
import time

host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
args = sys.argv[4:]


def header_v1(key, version, corr, client=b"hostile"):
    return struct.pack(">hhih", key, version, corr, len(client)) + client


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def api_versions(corr=1):
    return frame(header_v1(18, 0, corr))


def connect(timeout=5):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def closed_by_server(s, timeout):
    """True if the broker closed (or reset) s within timeout"""
    s.settimeout(timeout)
    try:
        while True:
            d = s.recv(65536)
            if d == b"":
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def out(d):
    print(json.dumps(d), flush=True)


if mode == "giga":
    size = int(args[0]) if args else 2147483647
    s = connect()
    t0 = time.time()
    s.sendall(struct.pack(">i", size) + header_v1(0, 9, 1))
    closed = closed_by_server(s, 10)
    out({"mode": mode, "size": size, "closed": closed, "seconds": round(time.time() - t0, 3)})

elif mode == "garbage":
    s = connect()
    rnd = random.Random(42)
    body = bytes(rnd.getrandbits(8) for _ in range(4000))
    # ApiVersions v3 is flexible: its body is compact strings and tagged fields
    s.sendall(frame(header_v1(18, 3, 1) + b"\x00" + body))
    closed = closed_by_server(s, 10)
    out({"mode": mode, "closed": closed})

elif mode == "unknown":
    res = {}
    for name, data in (("unknown_key", frame(header_v1(999, 0, 1) + b"\x00" * 8)),
                       ("unknown_version", frame(header_v1(3, 99, 1) + b"\x00" * 8))):
        s = connect()
        s.sendall(data)
        res[name + "_closed"] = closed_by_server(s, 10)
        s.close()
    out(dict(mode=mode, **res))

elif mode in ("loris", "tlsloris"):
    n, interval, secs = int(args[0]), float(args[1]), float(args[2])
    if mode == "loris":
        payload = frame(header_v1(18, 0, 1) + b"\x00" * 48)
    else:
        # a handshake record of 512 bytes: type 22, TLS 1.0 record version
        payload = b"\x16\x03\x01\x02\x00" + b"\x01\x00\x01\xfc" + b"\x00" * 508
    socks = []
    for _ in range(n):
        try:
            socks.append(connect())
        except OSError:
            pass
    for s in socks:
        s.setblocking(False)
    pos = [0] * len(socks)
    closed_at = [None] * len(socks)
    t0 = time.time()
    while time.time() - t0 < secs and any(c is None for c in closed_at):
        for i, s in enumerate(socks):
            if closed_at[i] is not None:
                continue
            try:
                if s.recv(65536) == b"":
                    closed_at[i] = time.time() - t0
                    continue
            except BlockingIOError:
                pass
            except OSError:
                closed_at[i] = time.time() - t0
                continue
            if pos[i] < len(payload) - 1:      # never the last byte
                try:
                    s.send(payload[pos[i]:pos[i] + 1])
                    pos[i] += 1
                except BlockingIOError:
                    pass
                except OSError:
                    closed_at[i] = time.time() - t0
        time.sleep(interval)
    done = [c for c in closed_at if c is not None]
    out({"mode": mode, "connections": len(socks), "closed": len(done),
         "first_closed_s": round(min(done), 1) if done else None,
         "last_closed_s": round(max(done), 1) if done else None,
         "bytes_sent_max": max(pos) if pos else 0})

elif mode == "bigloris":
    n, secs = int(args[0]), float(args[1])
    size = int(args[2]) if len(args) > 2 else 100 * 1024 * 1024
    socks = []
    for _ in range(n):
        try:
            s = connect()
            s.sendall(struct.pack(">i", size) + header_v1(0, 9, 1))
            s.setblocking(False)
            socks.append(s)
        except OSError:
            pass
    closed = 0
    t0 = time.time()
    chunk = b"\x00" * 1024
    while time.time() - t0 < secs and socks:
        for s in list(socks):
            try:
                if s.recv(65536) == b"":
                    raise OSError
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
                socks.remove(s)
                continue
            try:
                s.send(chunk)
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
                socks.remove(s)
        time.sleep(1)
    out({"mode": mode, "closed": closed, "open": len(socks)})

elif mode == "idle":
    n, secs = int(args[0]), float(args[1])
    socks = []
    for i in range(n):
        try:
            s = connect()
            s.sendall(api_versions(i))
            socks.append(s)
        except OSError:
            pass
    answered = 0
    for s in socks:
        s.settimeout(5)
        try:
            if len(s.recv(4)) == 4:
                answered += 1
        except OSError:
            pass
        s.setblocking(False)
    t0 = time.time()
    closed = 0
    live = list(socks)
    while time.time() - t0 < secs and live:
        r, _, _ = select.select(live[:1000], [], [], 0.5)
        for s in r:
            try:
                if s.recv(65536) != b"":
                    continue            # the rest of the answer
            except BlockingIOError:
                continue
            except OSError:
                pass
            closed += 1
            live.remove(s)
    out({"mode": mode, "connections": len(socks), "answered": answered, "closed": closed,
         "seconds": round(time.time() - t0, 1)})

elif mode == "stopped":
    topic, secs = args[0].encode(), float(args[1])
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect((host, port))
    # Fetch v4 of partition 0 from offset 0, up to 1 MB: responses larger
    # than the socket buffers, so the broker's sends stall
    req = frame(header_v1(1, 4, 1) + struct.pack(">iiiib", -1, 0, 1, 1 << 20, 0)
                + struct.pack(">ih", 1, len(topic)) + topic
                + struct.pack(">iiqi", 1, 0, 0, 1 << 20))
    s.setblocking(False)
    sent = 0
    for _ in range(2000):
        try:
            s.send(req)
            sent += 1
        except BlockingIOError:
            break
        except OSError:
            break
    # now neither read nor write: wait for the broker's close (a RST or FIN
    # is only seen once we read, so peek at the socket's state)
    t0 = time.time()
    closed = False
    while time.time() - t0 < secs:
        time.sleep(0.5)
        try:
            info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
            state = info[0]
            if state != 1:      # not ESTABLISHED: the broker closed its end
                closed = True
                break
        except OSError:
            closed = True
            break
    waited = round(time.time() - t0, 1)
    if not closed:
        # a broker that read every request before it closed sends a FIN
        # queued behind the responses the window holds back, not a RST:
        # read for a while; a closed connection ends, an open one keeps
        # sending responses
        s.setblocking(True)
        s.settimeout(0.5)
        t1 = time.time()
        while time.time() - t1 < 3:
            try:
                if s.recv(1 << 20) == b"":
                    closed = True
                    break
            except socket.timeout:
                pass
            except OSError:
                closed = True
                break
    out({"mode": mode, "requests_sent": sent, "closed": closed, "seconds": waited})

elif mode == "conns":
    n = int(args[0])
    hold = float(args[1]) if len(args) > 1 else 0
    socks = []
    failed = 0
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect((host, port))
        except BlockingIOError:
            pass
        except OSError:
            failed += 1
            s.close()
            continue
        socks.append(s)
    pending = {s.fileno(): s for s in socks}
    poller = select.epoll()
    for s in socks:
        poller.register(s.fileno(), select.EPOLLOUT)
    state = {}
    bufs = {}
    t0 = time.time()
    while pending and time.time() - t0 < 30:
        for fd, ev in poller.poll(0.5):
            s = pending.get(fd)
            if s is None:
                continue
            if fd not in state:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    state[fd] = "failed"
                    poller.unregister(fd)
                    del pending[fd]
                    continue
                try:
                    s.send(api_versions(fd))
                except OSError:
                    state[fd] = "refused"
                    poller.unregister(fd)
                    del pending[fd]
                    continue
                state[fd] = "sent"
                bufs[fd] = b""
                poller.modify(fd, select.EPOLLIN)
                continue
            try:
                d = s.recv(65536)
            except OSError:
                d = b""
            if d == b"":
                state[fd] = "refused"
            else:
                bufs[fd] += d
                if len(bufs[fd]) < 4 or len(bufs[fd]) < 4 + struct.unpack(">i", bufs[fd][:4])[0]:
                    continue
                state[fd] = "answered"
            poller.unregister(fd)
            del pending[fd]
    counts = {"answered": 0, "refused": 0, "failed": failed, "hung": len(pending)}
    for v in state.values():
        if v in counts and v != "sent":
            counts[v] += 1
    out(dict(mode=mode, connections=n, seconds=round(time.time() - t0, 1), **counts))
    if hold > 0:
        time.sleep(hold)

elif mode == "storm":
    kind, secs = args[0], float(args[1])
    rnd = random.Random(7)
    payloads = {
        "giga": struct.pack(">i", 2147483647) + header_v1(0, 9, 1),
        "garbage": frame(header_v1(18, 3, 1) + b"\x00" + bytes(rnd.getrandbits(8) for _ in range(4000))),
        "unknown": frame(header_v1(999, 0, 1) + b"\x00" * 8),
    }
    data = payloads[kind]
    t0 = time.time()
    n = closed = 0
    while time.time() - t0 < secs:
        try:
            s = connect()
            s.sendall(data)
            n += 1
            if closed_by_server(s, 5):
                closed += 1
            s.close()
        except OSError:
            time.sleep(0.01)
    out({"mode": mode, "kind": kind, "connections": n, "closed": closed})

elif mode == "bigmeta":
    n = int(args[0])
    body = struct.pack(">i", n) + b"\x00\x01x" * n
    s = connect(timeout=60)
    s.sendall(frame(header_v1(3, 1, 7) + body))
    s.settimeout(60)
    head = b""
    try:
        while len(head) < 4:
            d = s.recv(4 - len(head))
            if not d:
                break
            head += d
    except OSError:
        pass
    if len(head) < 4:
        out({"mode": mode, "topics": n, "closed": True})
    else:
        size = struct.unpack(">i", head)[0]
        buf = b""
        while len(buf) < min(size, 64):
            buf += s.recv(64)
        # v1: correlation id, brokers array (count, then node id, host, port, rack),
        # controller id, topics count
        pos = 4
        (nb,) = struct.unpack(">i", buf[pos:pos + 4])
        out({"mode": mode, "topics": n, "closed": False, "response_bytes": size, "brokers": nb})

elif mode == "produce":
    from confluent_kafka import Producer
    topic, secs = args[0], float(args[1])
    acked = [0, 0]

    def dr(err, msg):
        acked[1 if err else 0] += 1
    p = Producer({"bootstrap.servers": "%s:%d" % (host, port), "acks": "all",
                  "linger.ms": 0, "message.timeout.ms": 20000})
    t0 = time.time()
    sent = 0
    while time.time() - t0 < secs:
        p.produce(topic, b"v%d" % sent, callback=dr)
        sent += 1
        p.poll(0.01)
    p.flush(25)
    out({"mode": mode, "sent": sent, "acked": acked[0], "failed": acked[1]})

else:
    sys.exit("unknown mode " + mode)
