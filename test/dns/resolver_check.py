#!/usr/bin/env python3
"""
A real resolver library against the registry's DNS codec: starts serve_dns
(UDP and TCP on 127.0.0.1, the instances listed in serve_dns.c) and asks it
through dnspython's stub resolver (dns.resolver.Resolver), which retries
over TCP when an answer comes truncated, as system resolvers do; and
through dns.query for what a resolver hides (TC, the UDP answer's size,
the question's case).

Usage: resolver_check.py SERVE_DNS_BINARY
Prints "dns_resolver: N passed, M failed" and exits non-zero on failure.
"""
import subprocess
import sys

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.resolver

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("not ok: %s" % what)


def main():
    srv = subprocess.Popen([sys.argv[1], "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = srv.stdout.readline().split()
        port = int(line[1])
        run(port)
    finally:
        srv.kill()
        srv.wait()
    print("dns_resolver: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


def resolver(edns):
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = ["127.0.0.1"]
    r.port = PORT
    r.lifetime = 5
    r.cache = None
    if edns is not None:
        r.use_edns(0, 0, edns)
    return r


def run(port):
    global PORT
    PORT = port
    web = sorted("10.0.0.%d" % i for i in range(1, 41))

    # 40 A records do not fit in 512 bytes: TC over UDP, all of them over TCP
    q = dns.message.make_query("web.service.consul", "A")
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=5)
    check(r.flags & dns.flags.TC and len(r.to_wire()) <= 512, "UDP 512: TC")
    check(0 < len(r.answer[0]) < 40, "UDP 512: some of the 40")
    r = dns.query.tcp(q, "127.0.0.1", port=port, timeout=5)
    check(not r.flags & dns.flags.TC and len(r.answer[0]) == 40, "TCP: all 40")
    for edns in (None, 1232):
        ans = resolver(edns).resolve("web.service.consul", "A")
        check(sorted(a.address for a in ans) == web,
              "resolver (EDNS %s): all 40 A records, through TCP" % edns)

    # EDNS 4096: it fits in one datagram
    q = dns.message.make_query("web.service.consul", "A", use_edns=0, payload=4096)
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=5)
    check(not r.flags & dns.flags.TC and len(r.answer[0]) == 40 and r.payload == 4096,
          "UDP with EDNS 4096: 40, no TC")

    # SRV with the targets' addresses
    ans = resolver(1232).resolve("web.service.consul", "SRV")
    check(sorted(rd.port for rd in ans) == list(range(8001, 8041)), "SRV: 40 ports")
    add = {}
    for rrset in ans.response.additional:
        for rd in rrset:
            if hasattr(rd, "address"):
                add[rrset.name.to_text()] = rd.address
    check(all(add.get(rd.target.to_text()) == "10.0.0.%d" % (rd.port - 8000) for rd in ans),
          "SRV: every target's address in the additional section")
    # and each target resolves by itself
    t = next(iter(ans)).target.to_text()
    check([a.address for a in resolver(None).resolve(t, "A")] == [add[t]], "target %s resolves" % t)

    # tags, RFC 2782
    ans = resolver(None).resolve("primary.web.service.consul", "A")
    check(sorted(a.address for a in ans) == ["10.0.0.%d" % i for i in range(1, 6)], "tag: 5")
    ans = resolver(None).resolve("_web._primary.service.consul", "SRV")
    check(sorted(rd.port for rd in ans) == list(range(8001, 8006)), "RFC 2782 tag: 5")
    ans = resolver(None).resolve("_web._tcp.service.consul", "SRV")
    check(len(ans) == 40, "RFC 2782 _tcp: 40")

    # AAAA; NODATA; NXDOMAIN; REFUSED
    ans = resolver(None).resolve("db.service.consul", "AAAA")
    check(sorted(a.address for a in ans) == ["2001:db8::1", "2001:db8::2"], "AAAA")
    try:
        resolver(None).resolve("db.service.consul", "A")
        check(False, "NODATA")
    except dns.resolver.NoAnswer as e:
        check(e.response().rcode() == dns.rcode.NOERROR and e.response().authority, "NODATA with SOA")
    for name in ("nothere.service.consul", "other.web.service.consul", "web.node.consul"):
        try:
            resolver(None).resolve(name, "A")
            check(False, "NXDOMAIN " + name)
        except dns.resolver.NXDOMAIN:
            check(True, "NXDOMAIN " + name)
    q = dns.message.make_query("www.example.com", "A")
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=5)
    check(r.rcode() == dns.rcode.REFUSED, "REFUSED outside the domain")

    # 0x20: the question comes back as sent (dns.query checks it matches)
    q = dns.message.make_query("WeB.sErViCe.CoNsUl", "A", use_edns=0)
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=5)
    check(r.question[0].name.to_text() == "WeB.sErViCe.CoNsUl." and
          r.answer[0].name.to_text() == "WeB.sErViCe.CoNsUl.", "case kept")

    # EDNS version 1: BADVERS
    q = dns.message.make_query("web.service.consul", "A")
    q.use_edns(1)           # make_query takes use_edns=1 for True: version 0
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=5)
    check(r.rcode() == dns.rcode.BADVERS and r.edns == 0, "BADVERS")


if __name__ == "__main__":
    main()
