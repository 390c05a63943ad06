#!/usr/bin/env python3
"""
Requests made by Python's own HTTP clients, for test_http to parse.

http.client writes into one end of a socket pair (it sends a request
before it reads anything, so nothing needs to answer); urllib talks to a
listening socket on 127.0.0.1 that answers "204 No Content" once it has
read the request (framed here by its Content-Length).  Each captured
request is written to OUT as three parts:

    method|target|name:value,name:value|body-in-hex   (what was asked for)
    <length>
    <the bytes the client sent>

test_http checks that nagare's parser finds that method, target, those
headers and that body, fed whole and a byte at a time.

Usage: requests.py OUT

test/http/requests.py
"""
import base64
import http.client
import socket
import sys
import threading
import urllib.parse
import urllib.request

HOST = "nagare.test"
PORT = 8500
BASIC = "Basic " + base64.b64encode(b"alice:p@ss:w0rd").decode()

captures = []


def record(method, target, headers, body, raw):
    hl = ",".join(f"{k}:{v}" for k, v in headers) or "-"
    captures.append((f"{method}|{target}|{hl}|{body.hex() if body else '-'}", raw))


def via_http_client(method, target, body=None, headers=None, encode_chunked=False):
    """Send one request with http.client into a socket pair; return its bytes."""
    a, b = socket.socketpair()
    conn = http.client.HTTPConnection(HOST, PORT)
    conn.sock = a
    conn.request(method, target, body=body, headers=headers or {},
                 encode_chunked=encode_chunked)
    b.setblocking(False)
    raw = b""
    while True:
        try:
            part = b.recv(65536)
        except BlockingIOError:
            break
        if not part:
            break
        raw += part
    a.close()
    b.close()
    return raw


def http_client_requests():
    host = ("Host", f"{HOST}:{PORT}")

    # Prometheus's consul_sd_configs and Consul's Go client shapes (wave2-notes 4.2-4.3)
    t = "/v1/health/service/web?passing&tag=a&tag=b&index=12&wait=120000ms&stale"
    raw = via_http_client("GET", t, headers={"X-Consul-Token": "3f1a-77"})
    record("GET", t, [host, ("X-Consul-Token", "3f1a-77")], b"", raw)

    t = "/v1/catalog/services"
    raw = via_http_client("GET", t)
    record("GET", t, [host, ("Accept-Encoding", "identity")], b"", raw)

    body = (b'{"ID":"web-1","Name":"web","Tags":["a","b"],"Address":"10.0.0.5","Port":8080,'
            b'"Check":{"TTL":"15s","DeregisterCriticalServiceAfter":"1m"}}')
    t = "/v1/agent/service/register?replace-existing-checks"
    raw = via_http_client("PUT", t, body=body, headers={"Content-Type": "application/json"})
    record("PUT", t, [host, ("Content-Type", "application/json"),
                      ("Content-Length", str(len(body)))], body, raw)

    # a check passing with a note; http.client sends Content-Length: 0 for PUT
    t = "/v1/agent/check/pass/service%3Aweb-1?note=all%20good"
    raw = via_http_client("PUT", t)
    record("PUT", t, [host, ("Content-Length", "0")], b"", raw)

    # a chunked upload: http.client encodes each piece as a chunk
    pieces = [b'{"Name":', b'"api",', b'"Port":', b"9090}"]
    t = "/v1/agent/service/register"
    raw = via_http_client("PUT", t, body=iter(pieces),
                          headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
    record("PUT", t, [host, ("Transfer-Encoding", "chunked")], b"".join(pieces), raw)

    # a large chunked body: one chunk per 8 KiB piece
    pieces = [bytes([65 + i]) * 8192 for i in range(5)]
    t = "/v1/agent/service/register"
    raw = via_http_client("POST", t, body=iter(pieces),
                          headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
    record("POST", t, [host], b"".join(pieces), raw)

    # basic auth and a scrape
    t = "/metrics"
    raw = via_http_client("GET", t, headers={"Authorization": BASIC,
                                             "Accept": "text/plain;version=0.0.4"})
    record("GET", t, [host, ("Authorization", BASIC)], b"", raw)


class Capture(threading.Thread):
    """Accept one connection, read one request (head, then Content-Length bytes), answer 204."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.raw = b""

    def run(self):
        c, _ = self.sock.accept()
        c.settimeout(10)
        while b"\r\n\r\n" not in self.raw:
            part = c.recv(65536)
            if not part:
                break
            self.raw += part
        head, _, rest = self.raw.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            part = c.recv(65536)
            if not part:
                break
            rest += part
            self.raw += part
        c.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        c.close()
        self.sock.close()


def via_urllib(path, query, data=None, headers=None):
    cap = Capture()
    cap.start()
    target = path + ("?" + urllib.parse.urlencode(query, doseq=True) if query else "")
    req = urllib.request.Request(f"http://127.0.0.1:{cap.port}{target}", data=data,
                                 headers=headers or {}, method="PUT" if data else "GET")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 204
    cap.join(10)
    return target, cap.port, cap.raw


def urllib_requests():
    # urlencode: a space becomes "+", UTF-8 is percent-encoded, repeated tags
    target, port, raw = via_urllib("/v1/health/service/caf\u00e9 api".replace(" ", "%20")
                                   .replace("\u00e9", "%C3%A9"),
                                   [("tag", "blue green"), ("tag", "\u65e5\u672c"),
                                    ("passing", ""), ("wait", "1m30s")],
                                   headers={"Authorization": BASIC})
    record("GET", target, [("Host", f"127.0.0.1:{port}"), ("Authorization", BASIC),
                           ("Connection", "close")], b"", raw)

    body = b'{"Status":"passing","Output":"ok \xe2\x9c\x93"}'
    target, port, raw = via_urllib("/v1/agent/check/update/service:web-1", None, data=body,
                                   headers={"Content-Type": "application/json"})
    record("PUT", target, [("Host", f"127.0.0.1:{port}"), ("Content-Type", "application/json"),
                           ("Content-Length", str(len(body)))], body, raw)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: requests.py OUT")
    http_client_requests()
    urllib_requests()
    with open(sys.argv[1], "wb") as out:
        for expect, raw in captures:
            out.write(expect.encode() + b"\n" + str(len(raw)).encode() + b"\n" + raw)
    print(f"requests.py: {len(captures)} requests captured")


if __name__ == "__main__":
    main()
