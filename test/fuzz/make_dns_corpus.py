#!/usr/bin/env python3
"""
Seeds of fuzz_dns (corpus/fuzz_dns/): real queries, as dnspython's
dns.message.make_query writes them, for each name form and type the
registry answers and a few it refuses, each behind fuzz_dns's two bytes of
setting (answer buffer size; transport, zone and instance count: see
fuzz_dns.c).  Deterministic: the query ID is fixed.

Usage: make_dns_corpus.py [DIR]   (default corpus/fuzz_dns)
"""
import os
import struct
import sys

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rdatatype

UDP, TCP, NODC = 0x00, 0x01, 0x80


def instances(n):
    return ((n // 8) & 0x3F) << 1


def setting(size_byte, flags):
    return bytes([size_byte, flags])


def query(name, rdtype, **kw):
    q = dns.message.make_query(name, rdtype, **kw)
    q.id = 0x2a2a
    return q.to_wire()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__) or ".",
                                                            "corpus", "fuzz_dns")
    os.makedirs(out, exist_ok=True)
    big = 255        # 64 KiB buffer
    udp512 = 128     # 512-byte buffer
    seeds = {
        "a": setting(udp512, UDP | instances(16)) + query("web.service.consul", "A"),
        "a_mixed_case": setting(udp512, UDP | instances(8)) + query("WeB.SerVICE.cONSUL", "A"),
        "a_tag": setting(udp512, UDP | instances(8)) + query("primary.web.service.consul", "A"),
        "a_dc": setting(udp512, UDP | instances(8)) + query("web.service.dc1.consul", "A"),
        "a_dc_dc": setting(udp512, UDP | instances(8)) + query("web.service.dc1.dc.consul", "A"),
        "aaaa": setting(udp512, UDP | instances(8)) + query("web.service.consul", "AAAA"),
        "any": setting(udp512, UDP | instances(8)) + query("web.service.consul", "ANY"),
        "srv": setting(udp512, UDP | instances(40)) + query("web.service.consul", "SRV"),
        "srv_edns": setting(big, UDP | instances(200)) +
        query("web.service.consul", "SRV", use_edns=0, payload=1232),
        "srv_edns_do": setting(big, UDP | instances(100)) +
        query("web.service.consul", "SRV", use_edns=0, payload=4096, want_dnssec=True),
        "srv_rfc2782": setting(udp512, UDP | instances(8)) + query("_web._tcp.service.consul", "SRV"),
        "srv_rfc2782_tag": setting(udp512, UDP | instances(8)) +
        query("_web._primary.service.consul", "SRV"),
        "srv_rfc2782_short": setting(udp512, UDP | instances(8)) + query("_web._tcp.consul", "SRV"),
        "srv_tcp": setting(big, TCP | instances(504)) + query("web.service.consul", "SRV"),
        "a_tcp": setting(big, TCP | instances(504)) + query("web.service.consul", "A"),
        "srv_nodc": setting(udp512, NODC | instances(16)) +
        query("web.service.nagare.example", "SRV", use_edns=0),
        "addr4": setting(udp512, UDP) + query("0a000001.addr.dc1.consul", "A"),
        "addr6": setting(udp512, UDP) + query("20010db8000000000000000000000001.addr.consul", "AAAA"),
        "apex_soa": setting(udp512, UDP) + query("consul", "SOA", use_edns=0),
        "nxdomain": setting(udp512, UDP) + query("nothere.service.consul", "A", use_edns=0),
        "node": setting(udp512, UDP) + query("web.node.consul", "A"),
        "not_ours": setting(udp512, UDP) + query("www.example.com", "A"),
        "small_buffer": setting(10, UDP | instances(8)) +
        query("web.service.consul", "A", use_edns=0, payload=512),
        "axfr": setting(udp512, UDP) + query("consul", "AXFR"),
        "txt": setting(udp512, UDP | instances(8)) + query("web.service.consul", "TXT"),
        # host names: 8 instances are all named (a CNAME), 16 mix them in
        "cname": setting(udp512, UDP | instances(8)) + query("db.service.consul", "A"),
        "cname_aaaa_edns": setting(udp512, UDP | instances(8)) +
        query("db.service.dc1.consul", "AAAA", use_edns=0),
        "cname_qtype": setting(udp512, UDP | instances(8)) + query("db.service.consul", "CNAME"),
        "named_mixed_a": setting(udp512, UDP | instances(16)) + query("db.service.consul", "A"),
        "srv_named": setting(udp512, UDP | instances(8)) + query("db.service.consul", "SRV"),
        "srv_named_mixed_tcp": setting(big, TCP | instances(64)) + query("db.service.consul", "SRV"),
        "cname_small_buffer": setting(14, UDP | instances(8)) + query("db.service.consul", "A"),
    }
    # refused or malformed: EDNS version 1, an opcode, two OPTs, a pointer
    badvers = dns.message.make_query("web.service.consul", "A")
    badvers.use_edns(1)     # make_query's use_edns=1 means True: version 0
    badvers.id = 0x2a2a
    seeds["badvers"] = setting(udp512, UDP) + badvers.to_wire()
    status = dns.message.make_query("web.service.consul", "A")
    status.id = 0x2a2a
    status.set_opcode(dns.opcode.STATUS)
    seeds["opcode_status"] = setting(udp512, UDP) + status.to_wire()
    wire = query("web.service.consul", "A", use_edns=0)
    opt = wire[-11:]
    two = bytearray(wire + opt)
    struct.pack_into(">H", two, 10, 2)
    seeds["two_opt"] = setting(udp512, UDP) + bytes(two)
    loop = bytearray(query("web.service.consul", "A"))
    loop[12:14] = b"\xc0\x0c"
    seeds["pointer_loop"] = setting(udp512, UDP) + bytes(loop)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as fh:
            fh.write(data)
    print("make_dns_corpus: %d seeds in %s" % (len(seeds), out))


if __name__ == "__main__":
    main()
