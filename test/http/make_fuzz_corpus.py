#!/usr/bin/env python3
"""
Seeds for test/fuzz/fuzz_http: what Consul clients and Prometheus send
(shapes from wave2-notes 4.1-4.3), Python's requests from requests.py
(given its capture file), and edge cases.  Each seed is a configuration
byte (bit 0: small limits; bit 1: require_length), a split seed byte and
the client's bytes (see fuzz_http.c).

Usage: make_fuzz_corpus.py [CAPTURED] (writes ../fuzz/corpus/fuzz_http/)

test/http/make_fuzz_corpus.py
"""
import os
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "corpus", "fuzz_http")

GO = b"User-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n"
PROM = b"User-Agent: Prometheus/2.42.0\r\nAccept-Encoding: gzip\r\n"
REGISTER = (b'{"ID":"web-1","Name":"web","Tags":["a","b"],"Address":"10.0.0.5","Port":8080,'
            b'"Check":{"CheckID":"service:web-1","TTL":"15s","DeregisterCriticalServiceAfter":"1m"}}')


def chunked(body, size):
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x;n=%d\r\n" % (len(part), i) + part + b"\r\n"
    return out + b"0\r\nX-Checksum: none\r\n\r\n"


SEEDS = {
    "go_health_blocking": b"GET /v1/health/service/web?index=12&wait=120000ms&tag=a&tag=b&passing=1 HTTP/1.1\r\n"
                          b"Host: 127.0.0.1:8500\r\n" + GO + b"X-Consul-Token: 3f1a-77\r\n\r\n",
    "prom_agent_self": b"GET /v1/agent/self HTTP/1.1\r\nHost: localhost:8500\r\n" + PROM + b"\r\n",
    "prom_catalog_services": b"GET /v1/catalog/services?stale=&index=3&wait=120000ms HTTP/1.1\r\n"
                             b"Host: localhost:8500\r\n" + PROM + b"\r\n",
    "prom_health": b"GET /v1/health/service/web?stale=&tag=prod&index=7&wait=120000ms HTTP/1.1\r\n"
                   b"Host: localhost:8500\r\n" + PROM + b"\r\n",
    "go_register": b"PUT /v1/agent/service/register?replace-existing-checks=true HTTP/1.1\r\n"
                   b"Host: 127.0.0.1:8500\r\n" + GO + b"Content-Length: %d\r\n\r\n" % len(REGISTER) + REGISTER,
    "go_check_pass": b"PUT /v1/agent/check/pass/service:web-1?note=all+good%21 HTTP/1.1\r\n"
                     b"Host: 127.0.0.1:8500\r\n" + GO + b"Content-Length: 0\r\n\r\n",
    "go_deregister": b"PUT /v1/agent/service/deregister/web-1 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    "chunked_register": b"PUT /v1/agent/service/register HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + chunked(REGISTER, 37),
    "scrape": b"GET /metrics HTTP/1.1\r\nHost: localhost:9187\r\n" + PROM +
              b"Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n"
              b"X-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n",
    "basic_auth": b"GET /v1/catalog/services HTTP/1.1\r\nHost: a\r\nAuthorization: Basic YWxpY2U6cEBzczp3MHJk\r\n\r\n",
    "bearer": b"GET /v1/catalog/services HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer 3f1a-77\r\n\r\n",
    "pipelined": b"GET /v1/catalog/services HTTP/1.1\r\nHost: a\r\n\r\n"
                 b"PUT /v1/agent/check/pass/c1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok"
                 b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"
                 b"\r\nGET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "absolute_form": b"GET http://127.0.0.1:8500/v1/catalog/service/web?dc=dc1 HTTP/1.1\r\nHost: 127.0.0.1:8500\r\n\r\n",
    "options_star": b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "expect_continue": b"PUT /v1/agent/service/register HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                       b"Content-Length: 13\r\n\r\n{\"Name\":\"x\"}\n",
    "percent_path": b"GET /v1/health/service/caf%C3%A9%20api?tag=blue+green&tag=%E6%97%A5&wait=1m30s HTTP/1.1\r\nHost: a\r\n\r\n",
    "smuggle_cl_te": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "smuggle_two_cl": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    "te_gzip": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "obs_fold": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
    "http2": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, raw in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(bytes([0, len(name)]) + raw)
    # the same shapes under small limits and require_length
    for name in ("go_register", "chunked_register", "scrape", "go_deregister"):
        with open(os.path.join(OUT, name + "_small"), "wb") as f:
            f.write(bytes([3, 7]) + SEEDS[name])
    if len(sys.argv) > 1:
        data = open(sys.argv[1], "rb").read()
        i = n = 0
        while i < len(data):
            j = data.index(b"\n", i)
            k = data.index(b"\n", j + 1)
            size = int(data[j + 1:k])
            raw = data[k + 1:k + 1 + size]
            i = k + 1 + size
            if size <= 4096:
                with open(os.path.join(OUT, "python_%d" % n), "wb") as f:
                    f.write(bytes([0, n]) + raw)
            n += 1
    print("make_fuzz_corpus.py: %d seeds" % len(os.listdir(OUT)))


if __name__ == "__main__":
    main()
