#!/usr/bin/python3
#-------------------------------------------------------------------------
#
# crosscheck.py
#	  Cross-check nagare's Kafka protocol codec against kafka-python 2.0.2
#	  (Debian's python3-kafka, for /usr/bin/python3), an implementation
#	  written independently of ours.
#
#	Requests: for every API and version that both kafka-python and nagare
#	have, kafka-python encodes random requests (header v1 + body); the C
#	helper decodes them with the broker's decoder and prints the canonical
#	text form (testcodec.h); it must equal the text rendered here from the
#	values given to kafka-python.
#
#	Responses: the C helper fills random responses and encodes them with
#	the broker's encoder; kafka-python's response class decodes the bytes
#	(all of them); the values, rendered here, must equal the helper's
#	canonical text of what it encoded.
#
# kafka-python's schemas are positional, so each is first matched field by
# field (type, count) against Kafka's JSON schema (test/proto/schemas) for
# the version: that is where nullability comes from, and a mismatch is a
# bug in one of them.  Known kafka-python bugs are listed in KNOWN and
# reported as skipped.
#
# Usage: crosscheck.py ./proto_helper
# Prints one line per check and "N passed, M failed"; exits 1 on failure.
#
# test/proto/crosscheck.py
#
#-------------------------------------------------------------------------

import io
import json
import os
import random
import subprocess
import sys

from kafka.protocol import admin, commit, fetch, group, metadata, offset, produce
from kafka.protocol.api import RequestHeader
from kafka.protocol.types import (Array, Boolean, Bytes, Int8, Int16, Int32,
                                  Int64, Schema, String)

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = 40

# (Kafka JSON name, api key, nagare min, nagare max, requests, responses)
APIS = [
    ("ApiVersions", 18, 0, 3, admin.ApiVersionRequest, admin.ApiVersionResponse),
    ("Metadata", 3, 0, 12, metadata.MetadataRequest, metadata.MetadataResponse),
    ("Produce", 0, 0, 9, produce.ProduceRequest, produce.ProduceResponse),
    ("Fetch", 1, 4, 12, fetch.FetchRequest, fetch.FetchResponse),
    ("ListOffsets", 2, 1, 7, offset.OffsetRequest, offset.OffsetResponse),
    ("CreateTopics", 19, 2, 7, admin.CreateTopicsRequest, admin.CreateTopicsResponse),
    ("DeleteTopics", 20, 1, 6, admin.DeleteTopicsRequest, admin.DeleteTopicsResponse),
    ("DescribeConfigs", 32, 0, 4, admin.DescribeConfigsRequest, admin.DescribeConfigsResponse),
    # kafka-python lists AlterConfigsRequest_v1 as the v1 response
    ("AlterConfigs", 33, 0, 2, admin.AlterConfigsRequest,
     [admin.AlterConfigsResponse_v0, admin.AlterConfigsResponse_v1]),
    ("CreatePartitions", 37, 0, 3, admin.CreatePartitionsRequest,
     admin.CreatePartitionsResponse),
    # consumer groups
    ("OffsetCommit", 8, 0, 9, commit.OffsetCommitRequest, commit.OffsetCommitResponse),
    ("OffsetFetch", 9, 0, 9, commit.OffsetFetchRequest, commit.OffsetFetchResponse),
    ("FindCoordinator", 10, 0, 4, commit.GroupCoordinatorRequest,
     commit.GroupCoordinatorResponse),
    ("JoinGroup", 11, 0, 9, group.JoinGroupRequest, group.JoinGroupResponse),
    ("Heartbeat", 12, 0, 4, group.HeartbeatRequest, group.HeartbeatResponse),
    ("LeaveGroup", 13, 0, 5, group.LeaveGroupRequest, group.LeaveGroupResponse),
    ("SyncGroup", 14, 0, 5, group.SyncGroupRequest, group.SyncGroupResponse),
    ("DescribeGroups", 15, 0, 5, admin.DescribeGroupsRequest, admin.DescribeGroupsResponse),
    # kafka-python's ListGroupsRequest_v2 says API_VERSION 1 (the body is
    # the same, empty): checked as v2 here
    ("ListGroups", 16, 0, 5,
     [admin.ListGroupsRequest_v0, admin.ListGroupsRequest_v1,
      type("ListGroupsRequest_v2", (admin.ListGroupsRequest_v2,), {"API_VERSION": 2})],
     admin.ListGroupsResponse),
    ("DeleteGroups", 42, 0, 2, admin.DeleteGroupsRequest, admin.DeleteGroupsResponse),
]

# kafka-python schemas that disagree with Kafka's: (message, version) -> why
KNOWN = {
    ("ProduceResponse", 8): "kafka-python puts record_errors and error_message at "
                            "topic level instead of in each partition",
    ("ListOffsetsRequest", 4): "kafka-python encodes current_leader_epoch as int64 "
                               "(Kafka: int32)",
    ("ListOffsetsRequest", 5): "kafka-python encodes current_leader_epoch as int64 "
                               "(Kafka: int32)",
    ("DescribeConfigsResponse", 1): "kafka-python reads ConfigSource (int8) as the v0 "
                                    "is_default bool",
    ("FindCoordinatorResponse", 1): "kafka-python's GroupCoordinatorResponse_v1 lacks "
                                    "ThrottleTimeMs (it only ever sends v0)",
    ("DescribeGroupsResponse", 3): "kafka-python reads AuthorizedOperations after the groups "
                                   "array, not in each group (the same bytes for the one "
                                   "group its admin client asks for)",
}

INF = 0x7fff


# --------------------------------------------------------------------------
# Kafka's JSON schemas

def parse_versions(s):
    if s is None or s == "none":
        return None
    s = str(s)
    if s.endswith("+"):
        return (int(s[:-1]), INF)
    if "-" in s:
        a, b = s.split("-")
        return (int(a), int(b))
    return (int(s), int(s))


def in_range(v, rng):
    return rng is not None and rng[0] <= v <= rng[1]


def load_json(name):
    with open(os.path.join(HERE, "schemas", name + ".json")) as fh:
        text = "\n".join(l for l in fh.read().split("\n") if not l.strip().startswith("//"))
    return json.loads(text)


def json_fields(fields, v):
    """Regular (untagged) fields of a JSON struct present in version v."""
    return [f for f in fields if in_range(v, parse_versions(f["versions"])) and "tag" not in f]


class Mismatch(Exception):
    pass


def kp_kind(t):
    """kafka-python type -> kind."""
    if isinstance(t, Array):
        return "array"
    if isinstance(t, Schema):
        return "struct"
    cls = t if isinstance(t, type) else type(t)
    return {Int8: "int8", Int16: "int16", Int32: "int32", Int64: "int64",
            String: "string", Bytes: "bytes", Boolean: "bool"}[cls]


def pair(kp_schema, jfields, v, path):
    """Match kafka-python's Schema with Kafka's JSON fields for version v.

    Returns a list of descriptors, one per kafka-python field:
      ("scalar", kind, jfield)
      ("array", jfield, elem)   elem: ("scalar", kind, None), ("struct", [...])
                                or ("wrap", elem) for a JSON struct of one
                                field that kafka-python writes bare
      ("inline", [...])         a kafka-python Schema used as a field: its
                                fields are the next JSON fields (same bytes)
    """
    jf = json_fields(jfields, v)
    descs, rest = pair_list(list(kp_schema.fields), list(kp_schema.names), jf, v, path)
    if rest:
        raise Mismatch("%s: Kafka has more fields (%s)" % (path, ",".join(f["name"] for f in rest)))
    return descs


def pair_list(kts, names, jf, v, path):
    descs = []
    for kt, name in zip(kts, names):
        if isinstance(kt, Schema):
            sub, jf = pair_list(list(kt.fields), list(kt.names), jf, v, path + "." + name)
            descs.append(("inline", sub))
            continue
        if not jf:
            raise Mismatch("%s: kafka-python has more fields (%s)" % (path, name))
        f = jf.pop(0)
        descs.append(pair_field(kt, f, v, path + "." + f["name"]))
    return descs, jf


SCALARS = ("int8", "int16", "int32", "int64", "string", "bool", "bytes", "records")


def pair_elem(kt, jtype, jfields, v, path):
    """Descriptor of one array element: kafka-python type kt, Kafka type jtype."""
    if jtype in SCALARS:
        kk = kp_kind(kt)
        if kk != {"records": "bytes"}.get(jtype, jtype):
            raise Mismatch("%s[]: kafka-python %s, Kafka %s" % (path, kk, jtype))
        return ("scalar", kk, None)
    if kp_kind(kt) == "struct":
        return ("struct", pair(kt, jfields, v, path))
    # a JSON struct with a single field, written bare by kafka-python
    jf = json_fields(jfields, v)
    if len(jf) != 1:
        raise Mismatch("%s[]: kafka-python %s, Kafka struct of %d fields" % (
            path, kp_kind(kt), len(jf)))
    return ("wrap", pair_field(kt, jf[0], v, path + "." + jf[0]["name"]))


def pair_field(kt, f, v, path):
    jt = f["type"]
    kk = kp_kind(kt)
    if jt.startswith("[]"):
        if kk != "array":
            raise Mismatch("%s: kafka-python %s, Kafka %s" % (path, kk, jt))
        return ("array", f, pair_elem(kt.array_of, jt[2:], f.get("fields", []), v, path))
    if jt not in SCALARS:
        raise Mismatch("%s: struct-typed field" % path)
    if kk != {"records": "bytes"}.get(jt, jt):
        raise Mismatch("%s: kafka-python %s, Kafka %s" % (path, kk, jt))
    return ("scalar", kk, f)


def nullable(f, v):
    return f is not None and in_range(v, parse_versions(f.get("nullableVersions")))


# --------------------------------------------------------------------------
# random values and canonical text

WORDS = ["", "a", "topic-1", "__consumer_offsets", "x.y_z", 'quote"back\\slash',
         "caf\u00e9", "tab\tnl\n", "0123456789abcdefghijklmnopqrstuvwxyz", "Z"]
INT_BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}


def rand_int(rng, bits):
    r = rng.randrange(8)
    if r == 0:
        return 0
    if r == 1:
        return -1
    if r == 2:
        return (1 << (bits - 1)) - 1
    if r == 3:
        return -(1 << (bits - 1))
    if r < 6:
        return rng.randrange(100)
    return rng.randrange(-(1 << (bits - 1)), 1 << (bits - 1))


def rand_scalar(rng, kind, can_null):
    if can_null and rng.randrange(5) == 0:
        return None
    if kind in INT_BITS:
        return rand_int(rng, INT_BITS[kind])
    if kind == "bool":
        return rng.randrange(2) == 1
    if kind == "string":
        return rng.choice(WORDS)
    if kind == "bytes":
        return bytes(rng.randrange(256) for _ in range(rng.randrange(24)))
    raise Exception(kind)


def rand_desc(rng, d, v):
    if d[0] == "scalar":
        return rand_scalar(rng, d[1], nullable(d[2], v))
    if d[0] == "inline":
        return tuple(rand_desc(rng, x, v) for x in d[1])
    if d[0] == "array":
        if nullable(d[1], v) and rng.randrange(5) == 0:
            return None
        return [rand_desc(rng, d[2], v) for _ in range(rng.randrange(4))]
    if d[0] == "struct":
        return tuple(rand_desc(rng, x, v) for x in d[1])
    if d[0] == "wrap":
        return rand_desc(rng, d[1], v)
    raise Exception(d[0])


def rand_struct(rng, descs, v):
    return [rand_desc(rng, d, v) for d in descs]


def render_scalar(kind, x):
    if x is None:
        return "null"
    if kind in INT_BITS:
        return "%d" % x
    if kind == "bool":
        return "true" if x else "false"
    if kind == "string":
        return render_str(x.encode("utf-8"))
    if kind == "bytes":
        return "0x" + bytes(x).hex()
    raise Exception(kind)


def render_str(b):
    out = ['"']
    for c in b:
        if c < 0x20 or c > 0x7e or c in (0x22, 0x5c):
            out.append("\\x%02x" % c)
        else:
            out.append(chr(c))
    out.append('"')
    return "".join(out)


def render_desc(d, x):
    """List of canonical parts (an inline struct gives several)."""
    if d[0] == "scalar":
        return [render_scalar(d[1], x)]
    if d[0] == "inline":
        parts = []
        for sd, sx in zip(d[1], x):
            parts += render_desc(sd, sx)
        return parts
    if d[0] == "array":
        if x is None:
            return ["null"]
        return ["[" + ",".join(render_elem(d[2], e) for e in x) + "]"]
    raise Exception(d[0])


def render_elem(d, x):
    if d[0] == "scalar":
        return render_scalar(d[1], x)
    if d[0] == "struct":
        return render_struct(d[1], x)
    if d[0] == "wrap":
        return "{" + ",".join(render_desc(d[1], x)) + "}"
    raise Exception(d[0])


def render_struct(descs, vals):
    parts = []
    for d, x in zip(descs, vals):
        parts += render_desc(d, x)
    return "{" + ",".join(parts) + "}"


def fix_string_classes(schema):
    """kafka-python uses the String class itself (not String('utf-8')) in a
    few schemas (Fetch v7+ forgotten topics), which cannot encode; patch
    those in memory."""
    if isinstance(schema, Schema):
        fields = []
        for t in schema.fields:
            if t is String:
                t = String("utf-8")
            fix_string_classes(t)
            fields.append(t)
        schema.fields = tuple(fields)
    elif isinstance(schema, Array):
        if schema.array_of is String:
            schema.array_of = String("utf-8")
        fix_string_classes(schema.array_of)


# --------------------------------------------------------------------------

class Helper:
    def __init__(self, path):
        self.p = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1)

    def ask(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        a = self.p.stdout.readline().rstrip("\n")
        b = self.p.stdout.readline().rstrip("\n")
        return a, b

    def close(self):
        self.p.stdin.close()
        self.p.wait()


passed = 0
failed = 0
skipped = 0


def report(ok, text):
    global passed, failed
    print("%s - %s" % ("ok" if ok else "FAIL", text))
    if ok:
        passed += 1
    else:
        failed += 1


def skip(text):
    global skipped
    print("skip - %s" % text)
    skipped += 1


def check_requests(h, name, key, v, cls, jreq):
    fix_string_classes(cls.SCHEMA)
    try:
        tree = pair(cls.SCHEMA, jreq["fields"], v, name + "Request")
    except Mismatch as e:
        if (name + "Request", v) in KNOWN:
            skip("%s v%d request: %s" % (name, v, KNOWN[(name + "Request", v)]))
        else:
            report(False, "%s v%d request: kafka-python and Kafka schemas differ: %s" % (name, v, e))
        return
    rng = random.Random(1000 * key + v)
    bad = None
    for seed in range(SEEDS):
        vals = rand_struct(rng, tree, v)
        req = cls(*vals)
        corr = rng.randrange(-2 ** 31, 2 ** 31)
        client = rng.choice(["kafka-python-2.0.2", "", None, "caf\u00e9"])
        hdr = RequestHeader(req, correlation_id=corr, client_id=client)
        data = hdr.encode() + req.encode()
        line1, line2 = h.ask("decode-request " + data.hex())
        want1 = "header %d %d %d %s" % (key, v, corr, render_scalar("string", client))
        want2 = render_struct(tree, vals)
        if line1 != want1 or line2 != want2:
            bad = "seed %d:\n#   sent %s\n#        %s\n#   got  %s\n#        %s" % (
                seed, want1, want2, line1, line2)
            break
    if bad:
        print("#   " + bad)
    report(bad is None, "%s v%d request: %d kafka-python encodings decoded by nagare" % (
        name, v, SEEDS))


def check_responses(h, name, key, v, cls, jresp):
    try:
        tree = pair(cls.SCHEMA, jresp["fields"], v, name + "Response")
    except Mismatch as e:
        if (name + "Response", v) in KNOWN:
            skip("%s v%d response: %s" % (name, v, KNOWN[(name + "Response", v)]))
        else:
            report(False, "%s v%d response: kafka-python and Kafka schemas differ: %s" % (
                name, v, e))
        return
    bad = None
    for seed in range(SEEDS):
        line1, line2 = h.ask("encode-response %d %d %d" % (key, v, seed))
        if line1.startswith("error"):
            bad = "seed %d: helper: %s" % (seed, line1)
            break
        data = bytes.fromhex(line1)
        buf = io.BytesIO(data)
        try:
            obj = cls.decode(buf)
        except Exception as e:  # noqa: BLE001 - any decode failure is a finding
            bad = "seed %d: kafka-python cannot decode: %r" % (seed, e)
            break
        if buf.tell() != len(data):
            bad = "seed %d: kafka-python left %d of %d bytes" % (seed, len(data) - buf.tell(),
                                                                 len(data))
            break
        vals = [obj.__dict__[n] for n in cls.SCHEMA.names]
        got = render_struct(tree, vals)
        if got != line2:
            bad = "seed %d:\n#   nagare encoded      %s\n#   kafka-python read %s" % (
                seed, line2, got)
            break
    if bad:
        print("#   " + bad)
    report(bad is None, "%s v%d response: %d nagare encodings decoded by kafka-python" % (
        name, v, SEEDS))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: crosscheck.py ./proto_helper")
    h = Helper(sys.argv[1])
    for name, key, vmin, vmax, reqs, resps in APIS:
        jreq = load_json(name + "Request")
        jresp = load_json(name + "Response")
        for v in range(vmin, vmax + 1):
            if v < len(reqs):
                assert reqs[v].API_VERSION == v and reqs[v].API_KEY == key
                check_requests(h, name, key, v, reqs[v], jreq)
            if v < len(resps):
                assert resps[v].API_VERSION == v and resps[v].API_KEY == key
                check_responses(h, name, key, v, resps[v], jresp)
    h.close()
    print("crosscheck: %d passed, %d failed" % (passed, failed)
          + (", %d skipped" % skipped if skipped else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
