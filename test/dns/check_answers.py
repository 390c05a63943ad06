#!/usr/bin/env python3
"""
The registry's DNS answers, read by an independent decoder: dnspython
(Debian's python3-dnspython) parses each answer test_dns wrote
(TEST_DNS_OUT=dir, one <case>.bin per answer) with dns.message.from_wire
and checks what a resolver would see: RCODE (extended included), flags,
the question as sent, names, types, TTLs and rdata of every section, TC,
and the OPT record.  Every case test_dns writes must be known here, and
every case here must have been written.

Usage: check_answers.py DIR
Prints "dns_answers: N passed, M failed" and exits non-zero on failure.
"""
import ipaddress
import os
import sys

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("not ok: %s" % what)


def rrs(section, rdtype=None):
    """(owner, type, ttl, rdata) of every record of a section"""
    out = []
    for rrset in section:
        for rd in rrset:
            if rdtype is None or rrset.rdtype == rdtype:
                out.append((rrset.name.to_text(), rrset.rdtype, rrset.ttl, rd))
    return out


def header(m, rcode, question, qtype, aa=True, tc=False, edns=False):
    check(m.id == 0x1234, "id")
    check(m.flags & dns.flags.QR, "QR")
    check(bool(m.flags & dns.flags.AA) == aa, "AA %s" % aa)
    check(bool(m.flags & dns.flags.TC) == tc, "TC %s" % tc)
    check(m.flags & dns.flags.RD, "RD copied")
    check(not m.flags & dns.flags.RA, "no RA")
    check(m.rcode() == rcode, "rcode %s, got %s" % (dns.rcode.to_text(rcode),
                                                    dns.rcode.to_text(m.rcode())))
    if question is None:
        check(len(m.question) == 0, "no question")
    else:
        check(len(m.question) == 1 and m.question[0].name.to_text() == question and
              m.question[0].rdtype == qtype, "question %s" % question)
    check((m.edns >= 0) == edns, "EDNS %s" % edns)


def soa(m, domain, section="authority"):
    auth = rrs(getattr(m, section), dns.rdatatype.SOA)
    check(len(auth) == 1, "one SOA")
    if auth:
        owner, _, ttl, rd = auth[0]
        check(owner == domain and ttl == 0, "SOA owner and TTL")
        check(rd.mname.to_text() == "ns." + domain and rd.rname.to_text() == "hostmaster." + domain,
              "SOA names")
        check((rd.serial, rd.refresh, rd.retry, rd.expire, rd.minimum) ==
              (1700000000, 3600, 600, 86400, 0), "SOA values (Consul's)")


def addrs(m, owner, rdtype):
    return [rd.address for o, t, _, rd in rrs(m.answer, rdtype) if o == owner]


def case_a_two(m):
    header(m, dns.rcode.NOERROR, "web.service.consul.", dns.rdatatype.A)
    check(addrs(m, "web.service.consul.", dns.rdatatype.A) == ["10.0.0.1", "10.0.0.2"], "A rdata")
    check(all(ttl == 0 for _, _, ttl, _ in rrs(m.answer)), "TTL 0")
    check(len(m.authority) == 0 and len(m.additional) == 0, "nothing else")


def case_a_mixed_case(m):
    header(m, dns.rcode.NOERROR, "WeB.sErViCe.CoNsUl.", dns.rdatatype.A)
    check([o for o, _, _, _ in rrs(m.answer)] == ["WeB.sErViCe.CoNsUl."], "owner spelled as asked")


def case_aaaa(m):
    header(m, dns.rcode.NOERROR, "web.service.consul.", dns.rdatatype.AAAA)
    check(addrs(m, "web.service.consul.", dns.rdatatype.AAAA) == ["2001:db8::1"], "AAAA rdata")
    check(len(rrs(m.answer)) == 1, "only the AAAA")


def case_any(m):
    header(m, dns.rcode.NOERROR, "web.service.consul.", dns.rdatatype.ANY)
    check(addrs(m, "web.service.consul.", dns.rdatatype.A) == ["10.0.0.1"], "ANY: A")
    check(addrs(m, "web.service.consul.", dns.rdatatype.AAAA) == ["2001:db8::1"], "ANY: AAAA")


def targets(m):
    return [(rd.priority, rd.weight, rd.port, rd.target.to_text())
            for _, _, _, rd in rrs(m.answer, dns.rdatatype.SRV)]


def additional_map(m):
    out = {}
    for o, t, ttl, rd in rrs(m.additional):
        if t in (dns.rdatatype.A, dns.rdatatype.AAAA):
            out.setdefault(o.lower(), []).append(rd.address)
    return out


def in_order(m):
    """the additional records follow their SRV records' order"""
    want = []
    for _, _, _, target in targets(m):
        if target not in want:
            want.append(target)
    got = [o.lower() for o, t, _, _ in rrs(m.additional) if t != dns.rdatatype.OPT]
    return got == want


def case_srv(m):
    header(m, dns.rcode.NOERROR, "web.service.consul.", dns.rdatatype.SRV, edns=True)
    check(m.payload == 1232, "OPT echoes the size")
    t6 = "20010db8000000000000000000000001.addr.dc1.consul."
    check(targets(m) == [(1, 10, 8080, "0a000001.addr.dc1.consul."),
                         (1, 5, 8081, "0a000002.addr.dc1.consul."),
                         (1, 1, 9090, "0a000001.addr.dc1.consul."),
                         (1, 1, 80, t6)], "SRV rdata: %s" % targets(m))
    add = additional_map(m)
    check(add == {"0a000001.addr.dc1.consul.": ["10.0.0.1"],
                  "0a000002.addr.dc1.consul.": ["10.0.0.2"],
                  t6: ["2001:db8::1"]}, "additional: each target's address once: %s" % add)
    check(in_order(m), "additional records in the SRV records' order")


def case_srv_dc_in_question(m):
    header(m, dns.rcode.NOERROR, "web.service.dc1.consul.", dns.rdatatype.SRV)
    check(targets(m) == [(1, 1, 8080, "0a000001.addr.dc1.consul.")], "SRV target")
    check(additional_map(m) == {"0a000001.addr.dc1.consul.": ["10.0.0.1"]}, "additional")


def case_srv_rfc2782(m):
    header(m, dns.rcode.NOERROR, "_web._tcp.service.consul.", dns.rdatatype.SRV)
    check(targets(m) == [(1, 1, 443, "0a000002.addr.dc1.consul.")], "SRV target")
    check([o for o, _, _, _ in rrs(m.answer)] == ["_web._tcp.service.consul."], "SRV owner")


def case_nxdomain(m):
    header(m, dns.rcode.NXDOMAIN, "nothere.service.consul.", dns.rdatatype.A, edns=True)
    check(len(m.answer) == 0, "no answer")
    soa(m, "consul.")


def case_nodata(m):
    header(m, dns.rcode.NOERROR, "web.service.consul.", dns.rdatatype.AAAA)
    check(len(m.answer) == 0, "no answer")
    soa(m, "consul.")


def case_apex(m):
    header(m, dns.rcode.NOERROR, "Consul.", dns.rdatatype.SOA)
    soa(m, "Consul.", "answer")
    check(len(m.authority) == 0, "nothing in authority")


def case_apex_nodata(m):
    header(m, dns.rcode.NOERROR, "consul.", dns.rdatatype.A)
    check(len(m.answer) == 0, "no answer")
    soa(m, "consul.")


def case_refused_not_ours(m):
    header(m, dns.rcode.REFUSED, "www.example.com.", dns.rdatatype.A, aa=False)
    check(len(m.answer) + len(m.authority) + len(m.additional) == 0, "nothing but the question")


def case_addr(m):
    header(m, dns.rcode.NOERROR, "0a000001.addr.dc1.consul.", dns.rdatatype.A)
    check(addrs(m, "0a000001.addr.dc1.consul.", dns.rdatatype.A) == ["10.0.0.1"], "addr A")


def a_run(m, n, third_octet, tc, size_limit, edns=False):
    header(m, dns.rcode.NOERROR, "web.service.consul.", dns.rdatatype.A, tc=tc, edns=edns)
    got = addrs(m, "web.service.consul.", dns.rdatatype.A)
    check(got == ["10.%d.0.%d" % (third_octet, i) for i in range(n)], "%d A records in order" % n)
    check(len(m.authority) == 0, "no SOA in a truncated answer")
    return got


def case_trunc_udp512(m, size):
    a_run(m, 29, 1, True, 512)
    check(size <= 512, "at most 512 bytes")


def case_exact_fit(m, size):
    a_run(m, 40, 2, False, 687, edns=True)
    check(size == 687 and m.payload == 687, "exactly 687 bytes")


def case_one_byte_short(m, size):
    a_run(m, 39, 2, True, 686, edns=True)
    check(size <= 686, "at most 686 bytes")


def case_trunc_srv(m, size):
    header(m, dns.rcode.NOERROR, "web.service.consul.", dns.rdatatype.SRV, tc=True)
    t = targets(m)
    check(len(t) == 10 and size <= 512, "10 SRV records in 512 bytes")
    add = additional_map(m)
    check(all(add.get(target) == ["10.3.0.%d" % i] for i, (_, _, _, target) in enumerate(t)),
          "every SRV target has its address")
    check(in_order(m), "additional records in the SRV records' order")


def case_tcp_large(m, size):
    header(m, dns.rcode.NOERROR, "web.service.consul.", dns.rdatatype.A)
    got = addrs(m, "web.service.consul.", dns.rdatatype.A)
    check(len(got) == 4093 and size <= 65535, "4093 A records over TCP, no TC")
    check(got[-1] == str(ipaddress.ip_address("10.4.0.0") + 4092), "the last one")


def case_tcp_srv_far(m, size):
    header(m, dns.rcode.NOERROR, "web.service.consul.", dns.rdatatype.SRV)
    t = targets(m)
    add = additional_map(m)
    check(len(t) == 1000 and size > 16384, "1000 SRV records past 16 KiB")
    ok = True
    for i, (prio, weight, port, target) in enumerate(t):
        k = i if i < 900 else i - 500
        want = "0a05%02x%02x.addr.dc1.consul." % (k >> 8, k & 0xFF)
        ok = ok and port == 10000 + i and target == want and add.get(target) == [
            "10.5.%d.%d" % (k >> 8, k & 0xFF)]
    check(ok, "every target names its address and resolves to it, once")
    check(len(add) == 900, "900 addresses")
    check(in_order(m), "additional records in the SRV records' order")


def case_formerr_header_only(m):
    header(m, dns.rcode.FORMERR, None, None, aa=False)


def case_formerr_qdcount2(m):
    header(m, dns.rcode.FORMERR, None, None, aa=False)


def case_formerr_long_name(m):
    header(m, dns.rcode.FORMERR, None, None, aa=False)


def case_formerr_two_opt(m):
    header(m, dns.rcode.FORMERR, "web.service.consul.", dns.rdatatype.A, aa=False, edns=True)


def case_notimp_status(m):
    header(m, dns.rcode.NOTIMP, "web.service.consul.", dns.rdatatype.A, aa=False)
    check(m.opcode() == dns.opcode.STATUS, "opcode echoed")


def case_refused_class_ch(m):
    header(m, dns.rcode.REFUSED, "web.service.consul.", dns.rdatatype.A, aa=False)
    check(m.question[0].rdclass == dns.rdataclass.CH, "class echoed")


def case_badvers(m):
    header(m, dns.rcode.BADVERS, "web.service.consul.", dns.rdatatype.A, aa=False, edns=True)
    check(m.edns == 0 and m.ednsflags & dns.flags.DO, "OPT version 0, DO copied")


def case_srv_host_name(m):
    header(m, dns.rcode.NOERROR, "db.service.consul.", dns.rdatatype.SRV)
    check(targets(m) == [(1, 1, 5432, "db1.Example.com."), (1, 1, 5433, "0a000001.addr.dc1.consul.")],
          "SRV: a host name as the target: %s" % targets(m))
    check(additional_map(m) == {"0a000001.addr.dc1.consul.": ["10.0.0.1"]},
          "no additional record for the host name")


def case_cname(m):
    header(m, dns.rcode.NOERROR, "db.service.consul.", dns.rdatatype.A)
    got = rrs(m.answer)
    check(len(got) == 1 and got[0][0] == "db.service.consul." and got[0][1] == dns.rdatatype.CNAME and
          got[0][3].target.to_text() == "db1.Example.com.", "one CNAME to db1.Example.com: %s" % got)


CASES = {name[5:]: f for name, f in globals().items() if name.startswith("case_")}
SIZED = {"tcp_srv_far", "trunc_udp512", "exact_fit", "one_byte_short", "trunc_srv", "tcp_large"}


def main():
    d = sys.argv[1]
    seen = set()
    for fn in sorted(os.listdir(d)):
        if not fn.endswith(".bin"):
            continue
        name = fn[:-4]
        seen.add(name)
        with open(os.path.join(d, fn), "rb") as fh:
            wire = fh.read()
        if name not in CASES:
            check(False, "unknown case %s" % name)
            continue
        before = failed
        try:
            # FORMERR answers without a question are what the message says
            m = dns.message.from_wire(wire, question_only=False)
        except Exception as e:      # a decoder error is a failure of the case
            check(False, "%s: dnspython cannot parse it: %s" % (name, e))
            continue
        if name in SIZED:
            CASES[name](m, len(wire))
        else:
            CASES[name](m)
        if failed > before:
            print("  in case %s" % name)
    for name in sorted(set(CASES) - seen):
        check(False, "case %s was not written" % name)
    print("dns_answers: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
