#!/usr/bin/python3
"""nagare SASL interop client: log in with SASL PLAIN or SCRAM-SHA-256, then
produce one record and consume it back (test/t/130_sasl.pl over
SASL_PLAINTEXT, test/t/137_sasl_ssl.pl over SASL_SSL).

usage: sasl_clients.py [--ssl CAFILE] CLIENT HOST:PORT MECHANISM USER PASSWORD TOPIC
       sasl_clients.py [--ssl CAFILE] raw HOST:PORT COMMAND ARGS...

--ssl CAFILE speaks SASL_SSL instead of SASL_PLAINTEXT: TLS first, the
broker's certificate verified against the PEM file CAFILE and its name
against the host connected to, then the same SASL exchange inside TLS.

CLIENT is kcat (kcat 1.7.1, librdkafka 2.0.2: SaslHandshake v1 and
SaslAuthenticate v0, the doubled SCRAM nonce), confluent
(python3-confluent-kafka, librdkafka 2.0.2) or kafka_python (kafka-python
2.0.2: SaslHandshake v0, then raw SASL frames).  Prints one JSON object:
{"ok": true} when the record came back, else {"ok": false, "auth_error":
bool, "error": text}, auth_error telling whether the client saw its login
refused (nothing was produced then).

"raw" speaks the protocol itself, without logging in:
  illegal_state  Metadata v1 before authentication: {"closed": bool,
                 "response": bool} (Kafka closes the connection unanswered)
  api_versions   ApiVersions v0 before authentication: {"error": code,
                 "sasl_handshake": [min, max] or null, "sasl_authenticate":
                 [min, max] or null}
  scram_first USER
                 SaslHandshake v1 SCRAM-SHA-256, then a client-first-message
                 in SaslAuthenticate v0: {"handshake_error": code,
                 "mechanisms": [...], "error": code, "server_first": text}
                 (what a client learns of USER before proving anything)
  plain USER PASSWORD
                 SaslHandshake v1 PLAIN, then SaslAuthenticate v0: {"error":
                 code, "message": text or null}
  storm N        N PLAIN logins with a wrong password at once, each on its
                 own connection: {"refused": count, "other": [unexpected]}
  mechanism NAME SaslHandshake v1 with mechanism NAME: {"error": code,
                 "mechanisms": [...], "closed": bool} (closed: the
                 connection was closed after the answer)
"""
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import time
import uuid

KCAT = os.environ.get("KCAT", "kcat")
AUTH_WORDS = ("Authentication failed", "SASL authentication error", "AuthenticationFailed",
              "_AUTHENTICATION", "Authentication")


# the PEM CA file of --ssl, None for SASL_PLAINTEXT
SSL_CA = None


def protocol():
    return "SASL_SSL" if SSL_CA else "SASL_PLAINTEXT"


def done(obj):
    print(json.dumps(obj))
    sys.exit(0)


def kcat(boot, mech, user, password, topic):
    common = [KCAT, "-b", boot, "-m", "10",
              "-X", "security.protocol=" + protocol(), "-X", "sasl.mechanisms=" + mech,
              "-X", "sasl.username=" + user, "-X", "sasl.password=" + password]
    if SSL_CA:
        common += ["-X", "ssl.ca.location=" + SSL_CA]
    # Metadata first: a refused login fails it within -m 10 seconds
    p = subprocess.run(common + ["-L", "-t", topic], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    err = p.stderr.decode(errors="replace")
    if p.returncode != 0:
        done({"ok": False, "auth_error": any(w in err for w in AUTH_WORDS[:2]), "error": err[-400:]})
    value = "kcat-" + uuid.uuid4().hex
    p = subprocess.run(common + ["-P", "-t", topic, "-p", "0", "-X", "enable.idempotence=false",
                                 "-X", "message.timeout.ms=20000"],
                       input=(value + "\n").encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    err = p.stderr.decode(errors="replace")
    if p.returncode != 0 or "ERROR" in err:
        done({"ok": False, "auth_error": any(w in err for w in AUTH_WORDS[:2]), "error": err[-400:]})
    deadline = time.time() + 30
    while time.time() < deadline:
        p = subprocess.run(common + ["-C", "-t", topic, "-p", "0", "-o", "beginning", "-e",
                                     "-f", "%s\\n"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        if value in p.stdout.decode(errors="replace").split("\n"):
            done({"ok": True})
        time.sleep(0.5)
    done({"ok": False, "auth_error": False, "error": "record not consumed: " +
          p.stderr.decode(errors="replace")[-400:]})


def confluent(boot, mech, user, password, topic):
    from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition, OFFSET_BEGINNING

    errors = []
    conf = {"bootstrap.servers": boot, "security.protocol": protocol(),
            "sasl.mechanism": mech, "sasl.username": user, "sasl.password": password,
            "error_cb": errors.append}
    if SSL_CA:
        conf["ssl.ca.location"] = SSL_CA

    def auth_refused():
        return any(e.code() == KafkaError._AUTHENTICATION for e in errors)

    p = Producer(dict(conf, **{"enable.idempotence": False}))
    # a refused login shows in error_cb at once; Metadata proves a good one
    deadline = time.time() + 15
    while True:
        p.poll(0.1)
        if auth_refused():
            done({"ok": False, "auth_error": True, "error": "; ".join(str(x) for x in errors)})
        try:
            p.list_topics(timeout=0.5)
            break
        except Exception as e:
            if time.time() > deadline:
                done({"ok": False, "auth_error": auth_refused(), "error": str(e) + " " +
                      "; ".join(str(x) for x in errors)})
    value = ("confluent-" + uuid.uuid4().hex).encode()
    reports = []
    p.produce(topic, value, partition=0, on_delivery=lambda err, msg: reports.append(err))
    p.flush(30)
    if not reports or reports[0] is not None:
        done({"ok": False, "auth_error": auth_refused(), "error": "delivery: %r %s" %
              (reports, "; ".join(str(x) for x in errors))})
    c = Consumer(dict(conf, **{"group.id": "sasl-" + uuid.uuid4().hex,
                               "enable.auto.commit": False}))
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    deadline = time.time() + 30
    while time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and m.error() is None and m.value() == value:
            c.close()
            done({"ok": True})
    c.close()
    done({"ok": False, "auth_error": auth_refused(), "error": "record not consumed"})


def kafka_python(boot, mech, user, password, topic):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    kw = dict(bootstrap_servers=boot, security_protocol=protocol(), sasl_mechanism=mech,
              sasl_plain_username=user, sasl_plain_password=password,
              request_timeout_ms=15000, api_version_auto_timeout_ms=5000)
    if SSL_CA:
        kw.update(ssl_cafile=SSL_CA, ssl_check_hostname=True)
    try:
        p = KafkaProducer(**kw)
    except Exception as e:
        # kafka-python sees a refused login (raw frames) as a closed
        # connection: no broker is available
        done({"ok": False, "auth_error": type(e).__name__ in ("NoBrokersAvailable",
                                                              "AuthenticationFailedError"),
              "error": "%s: %s" % (type(e).__name__, e)})
    value = ("kafka-python-" + uuid.uuid4().hex).encode()
    try:
        p.send(topic, value, partition=0).get(timeout=30)
        p.close()
        c = KafkaConsumer(consumer_timeout_ms=1000, **kw)
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        deadline = time.time() + 30
        while time.time() < deadline:
            for m in c:
                if m.value == value:
                    c.close()
                    done({"ok": True})
        c.close()
    except Exception as e:
        done({"ok": False, "auth_error": False, "error": "%s: %s" % (type(e).__name__, e)})
    done({"ok": False, "auth_error": False, "error": "record not consumed"})


def request(api_key, version, correlation, body=b""):
    client = b"sasl-raw"
    msg = struct.pack(">hhih", api_key, version, correlation, len(client)) + client + body
    return struct.pack(">i", len(msg)) + msg


def recv_frame(s):
    data = b""
    while len(data) < 4:
        chunk = s.recv(4 - len(data))
        if not chunk:
            return None
        data += chunk
    (n,) = struct.unpack(">i", data)
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            return None
        body += chunk
    return body


def plain_login(s, user, password):
    mech = b"PLAIN"
    s.sendall(request(17, 1, 11, struct.pack(">h", len(mech)) + mech))
    frame = recv_frame(s)
    if frame is None:
        return {"error": None, "message": "closed after SaslHandshake"}
    token = b"\0" + user.encode() + b"\0" + password.encode()
    s.sendall(request(36, 0, 12, struct.pack(">i", len(token)) + token))
    frame = recv_frame(s)
    if frame is None:
        return {"error": None, "message": "closed after SaslAuthenticate"}
    (corr, err, mlen) = struct.unpack(">ihh", frame[:8])
    return {"error": err, "message": frame[8:8 + mlen].decode() if mlen >= 0 else None}


def connect(host, port, timeout):
    """A connection to the broker; with --ssl, TLS verified against SSL_CA."""
    s = socket.create_connection((host, int(port)), timeout=timeout)
    if SSL_CA:
        ctx = ssl.create_default_context(cafile=SSL_CA)
        s = ctx.wrap_socket(s, server_hostname=host)
    return s


def raw(boot, what):
    host, port = boot.rsplit(":", 1)
    s = connect(host, port, 10)
    if what == "illegal_state":
        # Metadata v1, all topics (null array)
        s.sendall(request(3, 1, 7, struct.pack(">i", -1)))
        try:
            frame = recv_frame(s)
        except (ConnectionResetError, socket.timeout, ssl.SSLError):
            frame = None
        done({"closed": frame is None, "response": frame is not None})
    if what == "api_versions":
        s.sendall(request(18, 0, 8))
        frame = recv_frame(s)
        (corr, err, n) = struct.unpack(">ihi", frame[:10])
        keys = {}
        for i in range(n):
            k, lo, hi = struct.unpack(">hhh", frame[10 + 6 * i:16 + 6 * i])
            keys[k] = [lo, hi]
        done({"error": err, "sasl_handshake": keys.get(17), "sasl_authenticate": keys.get(36)})
    if what == "plain":
        done(plain_login(s, sys.argv[4], sys.argv[5]))
    if what == "storm":
        import threading
        results = []

        def one(i):
            try:
                c = connect(host, port, 60)
                results.append(plain_login(c, "storm%d" % i, "storm-password-%d" % i))
                c.close()
            except Exception as e:
                results.append({"exception": repr(e)})
        threads = [threading.Thread(target=one, args=(i,)) for i in range(int(sys.argv[4]))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done({"refused": sum(1 for r in results if r.get("error") == 58),
              "other": [r for r in results if r.get("error") != 58][:5]})
    if what in ("scram_first", "mechanism"):
        mech = (sys.argv[4] if what == "mechanism" else "SCRAM-SHA-256").encode()
        s.sendall(request(17, 1, 9, struct.pack(">h", len(mech)) + mech))
        frame = recv_frame(s)
        (corr, err, n) = struct.unpack(">ihi", frame[:10])
        mechs, pos = [], 10
        for i in range(n):
            (ln,) = struct.unpack(">h", frame[pos:pos + 2])
            mechs.append(frame[pos + 2:pos + 2 + ln].decode())
            pos += 2 + ln
        if what == "mechanism":
            try:
                closed = recv_frame(s) is None
            except (ConnectionResetError, socket.timeout, ssl.SSLError):
                closed = True
            done({"error": err, "mechanisms": mechs, "closed": closed})
        first = ("n,,n=%s,r=%s" % (sys.argv[4], uuid.uuid4().hex)).encode()
        s.sendall(request(36, 0, 10, struct.pack(">i", len(first)) + first))
        frame = recv_frame(s)
        (corr, err2, mlen) = struct.unpack(">ihh", frame[:8])
        pos = 8 + max(mlen, 0)
        (blen,) = struct.unpack(">i", frame[pos:pos + 4])
        done({"handshake_error": err, "mechanisms": mechs, "error": err2,
              "server_first": frame[pos + 4:pos + 4 + blen].decode()})
    raise SystemExit("unknown raw command " + what)


def main():
    global SSL_CA
    if len(sys.argv) >= 3 and sys.argv[1] == "--ssl":
        SSL_CA = sys.argv[2]
        del sys.argv[1:3]
    if len(sys.argv) >= 4 and sys.argv[1] == "raw":
        raw(sys.argv[2], sys.argv[3])
    if len(sys.argv) != 7:
        raise SystemExit(__doc__)
    client, boot, mech, user, password, topic = sys.argv[1:]
    {"kcat": kcat, "confluent": confluent, "kafka_python": kafka_python}[client](
        boot, mech, user, password, topic)


if __name__ == "__main__":
    main()
