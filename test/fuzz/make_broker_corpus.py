#!/usr/bin/python3
#-------------------------------------------------------------------------
#
# make_broker_corpus.py
#	  Write the seed corpus of fuzz_broker: an input is a config byte and
#	  the frames (4-byte size + request) a client sends on one connection
#	  (see fuzz_broker.c).
#
#	- every request of ../proto/corpus (every API and version, from
#	  nagare's test encoder and kafka-python) alone, on a PLAINTEXT
#	  listener where everyone is allowed;
#	- sessions made with kafka-python 2.0.2 against the fake server's
#	  topics ("fuzz", 1 partition; "fuzz3", 3; "t", 2 with
#	  max.message.bytes 1024): produce then fetch and list offsets,
#	  legacy and idempotent produce, a consumer group's life, the admin and
#	  ACL APIs, SASL; each under a few server configurations (ACLs, a
#	  full or failing channel, a full ring, a SASL listener);
#	- a KIP-848 consumer group session (ConsumerGroupHeartbeat joins,
#	  revocation, OffsetCommit v9 with the member epoch,
#	  ConsumerGroupDescribe, ListGroups v5 by type, a leave and a fenced
#	  epoch), by hand too;
#	- a session naming topics by topic id (Metadata v12, Fetch v13-17,
#	  Produce v13, OffsetCommit v10, OffsetFetch v10: the fake topics' ids,
#	  and one no topic has), DescribeTopicPartitions with and without a
#	  cursor and DescribeProducers, encoded here by hand as kafka-python
#	  has none of them.
#
# Usage: make_broker_corpus.py [outdir]   (default corpus/fuzz_broker)
#
# test/fuzz/make_broker_corpus.py
#
#-------------------------------------------------------------------------

import os
import struct
import sys

from kafka.protocol import admin, commit, fetch, group, metadata, offset, produce
from kafka.protocol.api import RequestHeader
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatchBuilder

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_CORPUS = os.path.join(HERE, "..", "proto", "corpus")

# config byte (fuzz_broker.c): bits 3-4 = 1 is allow_everyone on
EVERYONE = 0x08
ACLS = 0x04 | 0x10              # fake ACLs, allow_everyone off
SASL = 0x03 | EVERYONE
CHANNEL_FULL = 0x20 | EVERYONE
CHANNEL_ERROR = 0x40 | EVERYONE
RING_FULL = 0x80 | EVERYONE


def frame(req, corr):
    if isinstance(req, tuple):
        # (key, version, body) of a flexible version: request header v2
        key, version, body = req
        data = struct.pack(">hhih", key, version, corr, 4) + b"fuzz" + b"\x00" + body
        return struct.pack(">i", len(data)) + data
    hdr = RequestHeader(req, correlation_id=corr, client_id="fuzz")  # encode() is a weak method
    data = hdr.encode() + req.encode()
    return struct.pack(">i", len(data)) + data


def fake_uuid(topic_id):
    """The id fake_broker.c's add_topic() gives its topic topic_id."""
    return bytes(topic_id * 16 + i + 1 for i in range(16))


def metadata_by_id(ids):
    body = bytes([len(ids) + 1]) + b"".join(u + b"\x00\x00" for u in ids)
    return (3, 12, body + b"\x00\x00\x00")


def fetch_by_id(version, parts):
    """parts: [(uuid, partition, offset)], one topic each"""
    body = b"" if version >= 15 else struct.pack(">i", -1)
    body += struct.pack(">iiibii", 100, 1, 1 << 20, 0, 0, -1) + bytes([len(parts) + 1])
    for u, p, o in parts:
        body += u + b"\x02" + struct.pack(">iiqiqi", p, -1, o, -1, -1, 1 << 20) + b"\x00\x00"
    return (1, version, body + b"\x01\x01\x00")


def cstr(s):
    """A compact (flexible) string; None is null"""
    return b"\x00" if s is None else bytes([len(s) + 1]) + s.encode()


def cg_heartbeat(member, epoch, topics=None, assignor=None, owned=None):
    """ConsumerGroupHeartbeat v1 of group "k" (KIP-848); owned: [(uuid, [p])]"""
    body = cstr("k") + cstr(member) + struct.pack(">i", epoch) + cstr(None) + cstr(None)
    body += struct.pack(">i", 30000 if epoch == 0 else -1)
    body += b"\x00" if topics is None else bytes([len(topics) + 1]) + b"".join(cstr(t) for t in topics)
    body += cstr(None) + cstr(assignor)
    if owned is None:
        body += b"\x00"
    else:
        body += bytes([len(owned) + 1])
        for u, ps in owned:
            body += u + bytes([len(ps) + 1]) + b"".join(struct.pack(">i", p) for p in ps) + b"\x00"
    return (68, 1, body + b"\x00")
def produce_by_id(parts):
    """Produce v13: parts [(uuid, partition, batch)], one topic each"""
    body = b"\x00" + struct.pack(">hi", -1, 1000) + bytes([len(parts) + 1])
    for u, p, b in parts:
        body += u + b"\x02" + struct.pack(">i", p) + bytes([len(b) + 1]) + b + b"\x00\x00"
    return (0, 13, body + b"\x00")


def commit_by_id(group, parts):
    """OffsetCommit v10 outside a generation: parts [(uuid, partition, offset)]"""
    body = bytes([len(group) + 1]) + group.encode() + struct.pack(">i", -1) + b"\x01\x00"
    body += bytes([len(parts) + 1])
    for u, p, o in parts:
        body += u + b"\x02" + struct.pack(">iqi", p, o, -1) + b"\x00\x00\x00"
    return (8, 10, body + b"\x00")


def offsets_by_id(group, ids):
    """OffsetFetch v10, one group: ids None (all topics) or [uuid]"""
    body = b"\x02" + bytes([len(group) + 1]) + group.encode() + b"\x00" + struct.pack(">i", -1)
    if ids is None:
        body += b"\x00"
    else:
        body += bytes([len(ids) + 1]) + b"".join(u + b"\x02" + struct.pack(">i", 0) + b"\x00"
                                                 for u in ids)
    return (9, 10, body + b"\x00\x00\x00")


def describe_topic_partitions(names, limit, cursor=None):
    body = bytes([len(names) + 1]) + b"".join(bytes([len(n) + 1]) + n.encode() + b"\x00"
                                               for n in names)
    body += struct.pack(">i", limit)
    if cursor is None:
        body += b"\xff"
    else:
        body += b"\x01" + bytes([len(cursor[0]) + 1]) + cursor[0].encode() + struct.pack(">i", cursor[1]) + b"\x00"
    return (75, 0, body + b"\x00")


def describe_producers(topic, partitions):
    body = b"\x02" + bytes([len(topic) + 1]) + topic.encode() + bytes([len(partitions) + 1])
    body += b"".join(struct.pack(">i", p) for p in partitions)
    return (61, 0, body + b"\x00\x00")


def session(reqs):
    return b"".join(frame(r, i + 1) for i, r in enumerate(reqs))


def batch(n, compression=0, pid=-1, epoch=-1, seq=-1):
    b = DefaultRecordBatchBuilder(magic=2, compression_type=compression, is_transactional=False,
                                  producer_id=pid, producer_epoch=epoch, base_sequence=seq,
                                  batch_size=1 << 20)
    for i in range(n):
        b.append(i, timestamp=1700000000000 + i, key=b"k%d" % i, value=b"v" * (i + 1),
                 headers=[("h", b"x")] if i == 0 else [])
    return bytes(b.build())


def legacy(n, magic=1):
    b = LegacyRecordBatchBuilder(magic=magic, compression_type=0, batch_size=1 << 20)
    for i in range(n):
        b.append(i, timestamp=1700000000000 + i if magic else None, key=b"k", value=b"v")
    return bytes(b.build())


def sessions():
    P = produce.ProduceRequest
    F = fetch.FetchRequest
    s = {}
    s["produce_fetch"] = [
        admin.ApiVersionRequest[2](),
        metadata.MetadataRequest[1](None),
        P[3](None, 1, 1000, [("fuzz", [(0, batch(3))])]),
        P[3](None, -1, 1000, [("fuzz3", [(0, batch(1, 1)), (2, batch(2, 2))]),
                              ("nosuch", [(0, batch(1))])]),
        F[4](-1, 100, 1, 1 << 20, 0, [("fuzz", [(0, 0, 1 << 20)]), ("fuzz3", [(0, 0, 100), (2, 1, 1 << 20)])]),
        F[4](-1, 500, 1, 1 << 20, 0, [("fuzz", [(0, 3, 1 << 20)])]),
        offset.OffsetRequest[1](-1, [("fuzz", [(0, -1), (0, -2)]), ("fuzz3", [(1, 1700000000000)])]),
    ]
    s["produce_limits"] = [
        P[3](None, 1, 1000, [("t", [(0, batch(40)), (1, batch(1)), (2, batch(1))])]),
        P[3](None, 0, 1000, [("fuzz", [(0, batch(2))])]),
        P[2](1, 1000, [("fuzz", [(0, legacy(3))]), ("fuzz3", [(1, legacy(2, 0))])]),
        F[4](-1, 0, 1, 1 << 20, 0, [("fuzz", [(0, 0, 1 << 20)]), ("t", [(0, 0, 10)])]),
    ]
    s["idempotent"] = [
        P[3](None, -1, 1000, [("fuzz", [(0, batch(2, 0, 1000, 0, 0))])]),
        P[3](None, -1, 1000, [("fuzz", [(0, batch(2, 0, 1000, 0, 0))])]),
        P[3](None, -1, 1000, [("fuzz", [(0, batch(2, 0, 1000, 0, 5))])]),
        P[3](None, -1, 1000, [("fuzz", [(0, batch(2, 0, 1000, 0, 2))])]),
    ]
    s["group"] = [
        commit.GroupCoordinatorRequest[1]("g1", 0),
        group.JoinGroupRequest[2]("g1", 10000, 10000, "", "consumer", [("range", b"\x00\x00")]),
        group.SyncGroupRequest[1]("g1", 1, "fuzz-1", [("fuzz-1", b"\x00\x01")]),
        group.HeartbeatRequest[1]("g1", 1, "fuzz-1"),
        commit.OffsetCommitRequest[2]("g1", 1, "fuzz-1", -1, [("fuzz", [(0, 3, "m")])]),
        commit.OffsetFetchRequest[2]("g1", [("fuzz", [0])]),
        admin.DescribeGroupsRequest[1](["g1", "nosuch"]),
        admin.ListGroupsRequest[1](),
        group.LeaveGroupRequest[1]("g1", "fuzz-1"),
        admin.DeleteGroupsRequest[1](["g1"]),
    ]
    s["admin"] = [
        metadata.MetadataRequest[4](["fuzz", "newtopic", "bad name!"], True),
        admin.CreateTopicsRequest[2]([("new1", 3, 1, [], [("retention.ms", "1000")]),
                                      ("fuzz", 1, 1, [], [])], 1000, False),
        admin.DescribeConfigsRequest[1]([(2, "fuzz", None), (4, "0", ["log.retention.ms"])], True),
        admin.AlterConfigsRequest[0]([(2, "fuzz", [("retention.ms", "5000")])], False),
        admin.CreatePartitionsRequest[0]([("fuzz", (4, None))], 1000, False),
        admin.DeleteTopicsRequest[1](["new1", "nosuch"], 1000),
    ]
    s["acls"] = [
        admin.DescribeAclsRequest[1](2, None, 1, None, None, 1, 1),
        admin.CreateAclsRequest[1]([(2, "fuzz", 3, "User:bob", "*", 3, 3)]),
        admin.DeleteAclsRequest[1]([(2, "fuzz", 3, "User:bob", "*", 3, 3)]),
    ]
    nobody = bytes(range(100, 116))
    s["topic_ids"] = [
        P[3](None, 1, 1000, [("fuzz", [(0, batch(3))]), ("fuzz3", [(1, batch(2))])]),
        metadata_by_id([fake_uuid(1), fake_uuid(2), nobody]),
        fetch_by_id(13, [(fake_uuid(1), 0, 0), (nobody, 0, 0)]),
        fetch_by_id(15, [(fake_uuid(2), 1, 0), (fake_uuid(2), 7, 0)]),
        fetch_by_id(17, [(fake_uuid(1), 0, 1), (fake_uuid(3), 0, 0)]),
        produce_by_id([(fake_uuid(1), 0, batch(2)), (nobody, 0, batch(1))]),
        produce_by_id([(fake_uuid(2), 5, batch(1))]),
        commit_by_id("g", [(fake_uuid(1), 0, 2), (nobody, 0, 1)]),
        offsets_by_id("g", [fake_uuid(1), nobody]),
        offsets_by_id("g", None),
        describe_topic_partitions([], 2),
        describe_topic_partitions([], 1, ("fuzz3", 1)),
        describe_topic_partitions(["fuzz3", "fuzz", "nope", "fuzz"], 2000, ("fuzz3", 2)),
        describe_topic_partitions(["fuzz"], 10, ("t", 0)),
        P[3](None, 1, 1000, [("fuzz", [(0, batch(2, pid=7, epoch=0, seq=0))])]),
        describe_producers("fuzz", [0, 1, -1]),
        describe_producers("nope", [0]),
    ]
    s["kip848"] = [
        cg_heartbeat("m1", 0, ["fuzz3"], "uniform", []),
        cg_heartbeat("m2", 0, ["fuzz3", "fuzz"], None, []),
        cg_heartbeat("m1", 1, owned=[(fake_uuid(2), [0, 1, 2])]),
        cg_heartbeat("m1", 1, owned=[(fake_uuid(2), [0])]),
        cg_heartbeat("m2", 2),
        (8, 9, cstr("k") + struct.pack(">i", 1) + cstr("m1") + cstr(None) + b"\x02" + cstr("fuzz3")
         + b"\x02" + struct.pack(">iqi", 0, 1, -1) + cstr(None) + b"\x00\x00\x00"),
        (69, 0, b"\x02" + cstr("k") + b"\x01\x00"),
        (16, 5, b"\x01\x02" + cstr("consumer") + b"\x00"),
        cg_heartbeat("m1", -1),
        cg_heartbeat("m2", 7),
    ]
    s["sasl_plain"] = [
        admin.ApiVersionRequest[2](),
        admin.SaslHandShakeRequest[1]("PLAIN"),
        admin.SaslAuthenticateRequest[0](b"\x00alice\x00secret"),
        metadata.MetadataRequest[1](None),
    ]
    s["sasl_scram"] = [
        admin.SaslHandShakeRequest[1]("SCRAM-SHA-256"),
        admin.SaslAuthenticateRequest[0](b"n,,n=alice,r=rOprNGfwEbeRWgbNEkqO"),
        admin.SaslAuthenticateRequest[0](
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
    ]
    return s


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus", "fuzz_broker")
    os.makedirs(outdir, exist_ok=True)
    files = {}
    for name in sorted(os.listdir(PROTO_CORPUS)):
        with open(os.path.join(PROTO_CORPUS, name), "rb") as fh:
            data = fh.read()
        files["req_" + name] = bytes([EVERYONE]) + struct.pack(">i", len(data)) + data
    configs = {"everyone": EVERYONE, "acls": ACLS, "sasl": SASL, "chfull": CHANNEL_FULL,
               "cherror": CHANNEL_ERROR, "ringfull": RING_FULL}
    for name, reqs in sessions().items():
        data = session(reqs)
        for cname, c in configs.items():
            files["session_%s_%s" % (name, cname)] = bytes([c]) + data
    for name, data in sorted(files.items()):
        with open(os.path.join(outdir, name), "wb") as fh:
            fh.write(data)
    print("make_broker_corpus.py: %d files in %s" % (len(files), outdir))


if __name__ == "__main__":
    main()
