#!/usr/bin/env python3
"""
Response heads written by nagare_http_write_head() (test_http writes them,
each followed by its body), read by Python's http.client as a client reads
a server's answer: the status, the reason, the fields, the body by its
Content-Length (none for 204), whether the connection stays open, and the
Date (email.utils reads IMF-fixdate).

Usage: responses.py FILE    Prints "http_responses: N passed, M failed".

test/http/responses.py
"""
import email.utils
import http.client
import io
import sys


class Wire:
    """What http.client reads a response from."""

    def __init__(self, data):
        self.data = data

    def makefile(self, mode):
        return io.BytesIO(self.data)


def main():
    data = open(sys.argv[1], "rb").read()
    passed = failed = 0
    i = 0
    count = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("not ok:", what)

    while i < len(data):
        j = data.index(b"\n", i)
        k = data.index(b"\n", j + 1)
        expect = data[i:j].decode()
        size = int(data[j + 1:k])
        raw = data[k + 1:k + 1 + size]
        i = k + 1 + size
        count += 1
        status, reason, keep, date, fields, body = expect.split("|")
        resp = http.client.HTTPResponse(Wire(raw))
        resp.begin()
        what = f"response {status} {reason}"
        check(resp.status == int(status), what + ": status")
        check(resp.reason == reason, what + ": reason")
        check(resp.version == 11, what + ": HTTP/1.1")
        check(resp.will_close == (keep == "0"), what + ": keep-alive")
        for f in filter(None, fields.split(",")):
            name, _, value = f.partition(":")
            check(resp.getheader(name) == value, what + ": " + name)
        if int(date) >= 0:
            d = resp.getheader("Date")
            check(d is not None and email.utils.parsedate_to_datetime(d).timestamp() == int(date),
                  what + ": Date")
        else:
            check(resp.getheader("Date") is None, what + ": no Date")
        check(resp.read() == bytes.fromhex(body), what + ": body")
    check(count == 5, "five responses")
    print(f"http_responses: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
