#!/usr/bin/python3
#-------------------------------------------------------------------------
#
# gen_messages.py
#	  Generate nagare's Kafka message codec from Apache Kafka's JSON message
#	  schemas (test/proto/schemas, copied from apache/kafka
#	  clients/src/main/resources/common/message at commit 1eb7644349cb,
#	  1eb7644349cb07139d6a3c1ad1986979647cac99).
#
# That commit is on trunk (2024-10-25, gradle version 4.0.0-SNAPSHOT), after
# the 3.9 branch point, not on the 3.9 branch.  Every schema copied here is
# byte for byte the same as on the 3.9 branch (tag 3.9.0-rc3 and the branch
# head c821449fb7c1) except ListOffsetsRequest/Response.json, which add a
# v10 (KIP-1075 TimeoutMs) beyond the versions generated here.  All files
# come from that one commit: the 13 APIs first generated, and the group
# APIs added later (OffsetCommit, OffsetFetch, FindCoordinator, JoinGroup,
# Heartbeat, LeaveGroup, SyncGroup, DescribeGroups, ListGroups,
# DeleteGroups, OffsetDelete), and KIP-848's ConsumerGroupHeartbeat and
# ConsumerGroupDescribe.
#
# Two outputs:
#
#	--src DIR		src/kafka/messages.h and one src/kafka/api_<name>.c per
#					API: the structs, the request decoders and the response
#					encoders the broker uses.  Committed; `make -C test/proto
#					check` fails if they differ from what this script makes.
#	--test FILE		test/proto code (built, not committed): the mirror
#					directions (request encoders, response decoders), random
#					and minimal fillers, canonical printers, and checks of the
#					defaults that decoders must give to fields a version
#					lacks.
#
# The APIs and versions generated are those of src/kafka/api_table.h (its
# Name, MinVersion, MaxVersion and FlexibleVersion columns; the key comes
# from the KafkaApiKey enum in protocol.h and must equal the schema's, and
# the first flexible version must equal the schema's).  A field is in a
# struct if some supported version has it.  Both sides come from one interpretation
# of the schemas; that interpretation is checked independently by
# crosscheck.py (kafka-python encodes and decodes the same messages) and by
# hand-assembled bytes in test_proto.c.
#
# Conventions of the generated C (documented for users in messages.h):
#	struct Kafka<JSON struct name> (a few renamed, see TYPE_RENAMES);
#	fields keep their JSON names; an array field X is `T *X; int32_t
#	XCount;` with XCount -1 for null; tagged fields have `bool HasX`.
#
# test/proto/gen_messages.py
#
#-------------------------------------------------------------------------

import argparse
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
INF = 0x7fff
SCHEMAS = os.path.join(HERE, "schemas")

API_TABLE = os.path.join(HERE, "..", "..", "src", "kafka", "api_table.h")
PROTOCOL_H = os.path.join(HERE, "..", "..", "src", "kafka", "protocol.h")


def strip_c_comments(text):
    return re.sub(r"/\*.*?\*/", " ", text, flags=re.S)


def read_api_table():
    """(name, key, min, max, flexible) per KAFKA_API() line of api_table.h.

    The key is the number of the line's KafkaApiKey in protocol.h;
    flexible is INF for INT16_MAX.  Refuses a table that is not in
    increasing key order.
    """
    keys = dict((m.group(1), int(m.group(2))) for m in re.finditer(
        r"^\s*(KAFKA_API_\w+)\s*=\s*(\d+)", open(PROTOCOL_H).read(), re.M))
    text = strip_c_comments(open(API_TABLE).read())
    rows = []
    for m in re.finditer(r"^KAFKA_API\(([^)]*)\)", text, re.M):
        cols = [c.strip() for c in m.group(1).split(",")]
        if len(cols) != 9 or cols[0] not in keys:
            raise SystemExit("api_table.h: bad entry KAFKA_API(%s)" % m.group(1))
        flex = INF if cols[4] == "INT16_MAX" else int(cols[4])
        rows.append((cols[1], keys[cols[0]], int(cols[2]), int(cols[3]), flex))
    if not rows:
        raise SystemExit("api_table.h: no KAFKA_API() entries")
    for prev, cur in zip(rows, rows[1:]):
        if prev[1] >= cur[1]:
            raise SystemExit("api_table.h: %s must come after %s (increasing keys)" % (
                prev[0], cur[0]))
    return rows


def api_ranges():
    """(name, api key, min, max) of every API served (api_table.h)."""
    return [(name, key, vmin, vmax) for name, key, vmin, vmax, _ in read_api_table()]


# JSON struct names used by two APIs, or too generic for a C type name
TYPE_RENAMES = {
    ("IncrementalAlterConfigsRequest", "AlterConfigsResource"): "IncrementalAlterConfigsResource",
    ("IncrementalAlterConfigsRequest", "AlterableConfig"): "IncrementalAlterableConfig",
    ("IncrementalAlterConfigsResponse", "AlterConfigsResourceResponse"):
        "IncrementalAlterConfigsResourceResponse",
    ("FetchResponse", "PartitionData"): "FetchPartitionData",
    # Produce v10+ (KIP-951) has the same two structs as Fetch v12+/v16+
    ("ProduceResponse", "LeaderIdAndEpoch"): "ProduceLeaderIdAndEpoch",
    ("ProduceResponse", "NodeEndpoint"): "ProduceNodeEndpoint",
    ("DescribeProducersRequest", "TopicRequest"): "DescribeProducersTopic",
    ("DescribeProducersResponse", "TopicResponse"): "DescribeProducersTopicResponse",
    ("DescribeProducersResponse", "PartitionResponse"): "DescribeProducersPartitionResponse",
    ("DescribeProducersResponse", "ProducerState"): "DescribeProducersProducerState",
    ("DescribeTopicPartitionsRequest", "TopicRequest"): "DescribeTopicPartitionsTopic",
    ("DescribeTopicPartitionsRequest", "Cursor"): "DescribeTopicPartitionsCursor",
    ("DescribeTopicPartitionsResponse", "Cursor"): "DescribeTopicPartitionsNextCursor",
    # client quotas: both APIs name their structs EntryData, EntityData
    ("DescribeClientQuotasRequest", "ComponentData"): "DescribeClientQuotasComponent",
    ("DescribeClientQuotasResponse", "EntryData"): "DescribeClientQuotasEntry",
    ("DescribeClientQuotasResponse", "EntityData"): "DescribeClientQuotasEntity",
    ("DescribeClientQuotasResponse", "ValueData"): "DescribeClientQuotasValue",
    ("AlterClientQuotasRequest", "EntryData"): "AlterClientQuotasEntry",
    ("AlterClientQuotasRequest", "EntityData"): "AlterClientQuotasEntity",
    ("AlterClientQuotasRequest", "OpData"): "AlterClientQuotasOp",
    ("AlterClientQuotasResponse", "EntryData"): "AlterClientQuotasEntryResult",
    ("AlterClientQuotasResponse", "EntityData"): "AlterClientQuotasResultEntity",
    # KIP-848: both consumer group APIs name their structs TopicPartitions,
    # Assignment, DescribedGroup (as DescribeGroups does) and Member
    ("ConsumerGroupHeartbeatRequest", "TopicPartitions"): "CGHeartbeatOwnedPartitions",
    ("ConsumerGroupHeartbeatResponse", "TopicPartitions"): "CGHeartbeatTopicPartitions",
    ("ConsumerGroupHeartbeatResponse", "Assignment"): "CGHeartbeatAssignment",
    ("ConsumerGroupDescribeResponse", "DescribedGroup"): "CGDescribedGroup",
    ("ConsumerGroupDescribeResponse", "Member"): "CGDescribedMember",
    ("ConsumerGroupDescribeResponse", "TopicPartitions"): "CGDescribedTopicPartitions",
    ("ConsumerGroupDescribeResponse", "Assignment"): "CGDescribedAssignment",
}


PRIM_C = {
    "int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t",
    "uint16": "uint16_t", "bool": "bool", "float64": "double",
    "string": "KafkaStr", "bytes": "KafkaBytes", "records": "KafkaBytes", "uuid": "KafkaUuid",
}
PRIM_MIN = {"int8": 1, "int16": 2, "int32": 4, "int64": 8, "uint16": 2, "bool": 1,
            "float64": 8, "uuid": 16}
INT_RANGE = {"int8": (-128, 127), "int16": (-32768, 32767),
             "int32": (-2147483648, 2147483647),
             "int64": (-9223372036854775808, 9223372036854775807), "uint16": (0, 65535)}


def parse_versions(s):
    if s is None:
        return None
    s = str(s).strip()
    if s == "none":
        return None
    if s.endswith("+"):
        return (int(s[:-1]), INF)
    if "-" in s:
        a, b = s.split("-")
        return (int(a), int(b))
    return (int(s), int(s))


def intersect(a, b):
    if a is None or b is None:
        return None
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if lo <= hi else None


def load_json(name):
    text = open(os.path.join(SCHEMAS, name + ".json")).read()
    text = "\n".join(l for l in text.split("\n") if not l.strip().startswith("//"))
    return json.loads(text)


class Field:
    def __init__(self, msg, js, parent_range):
        self.msg = msg
        self.name = js["name"]
        self.type = js["type"]
        self.about = js.get("about", "")
        self.json_versions = js["versions"]
        self.range = intersect(parse_versions(js["versions"]), parent_range)
        self.json_nullable = js.get("nullableVersions")
        self.nullable = intersect(parse_versions(js.get("nullableVersions")), self.range)
        self.tagged = js.get("tag") is not None
        self.tag = js.get("tag")
        self.tagged_range = intersect(parse_versions(js.get("taggedVersions")), self.range) \
            if self.tagged else None
        self.default = js.get("default")
        self.is_array = self.type.startswith("[]")
        self.elem = self.type[2:] if self.is_array else self.type
        self.is_struct = self.elem not in PRIM_C
        self.struct = None
        if self.is_struct and self.range is not None:
            cname = TYPE_RENAMES.get((msg.name, self.elem), self.elem)
            fields_js = js.get("fields")
            if fields_js is None:
                # a commonStructs entry, possibly used by several fields:
                # one C struct (the schemas used have each in one range)
                fields_js = msg.common[self.elem]["fields"]
                self.struct = next((st for st in msg.structs if st.cname == cname), None)
                if self.struct is not None:
                    assert self.struct.range == self.range, (msg.name, cname)
            if self.struct is None:
                self.struct = Struct(msg, cname, self.elem, fields_js, self.range)

    def present(self):
        return self.range is not None


class Struct:
    def __init__(self, msg, cname, jname, fields_js, rng):
        self.msg = msg
        self.cname = cname
        self.jname = jname
        self.range = rng
        self.fields = [f for f in (Field(msg, fj, rng) for fj in fields_js) if f.present()]
        msg.structs.append(self)

    def regular(self):
        return [f for f in self.fields if not f.tagged]

    def tagged(self):
        return sorted([f for f in self.fields if f.tagged], key=lambda f: f.tag)


class Message:
    def __init__(self, api, key, vmin, vmax, kind):
        self.api = api
        self.key = key
        self.vmin = vmin
        self.vmax = vmax
        self.kind = kind            # "Request" or "Response"
        self.name = api + kind
        js = load_json(self.name)
        assert js["apiKey"] == key, self.name
        valid = parse_versions(js["validVersions"])
        assert valid[0] <= vmin and vmax <= valid[1], self.name
        self.flex = parse_versions(js["flexibleVersions"])[0] \
            if js["flexibleVersions"] != "none" else INF
        self.file = "clients/src/main/resources/common/message/%s.json" % self.name
        self.structs = []
        self.common = dict((c["name"], c) for c in js.get("commonStructs", []))
        self.top = Struct(self, self.name, self.name, js["fields"], (vmin, vmax))
        # nested structs were appended first: emit dependencies before users
        self.structs = self.structs

    def is_flex(self, v):
        return v >= self.flex


# --------------------------------------------------------------------------
# helpers for version conditions

def cond_for(rng, whole):
    """C condition for `version` in rng, given it is in whole; "" if always."""
    if rng is None:
        return "false"
    lo, hi = rng
    parts = []
    if lo > whole[0]:
        parts.append("version >= %d" % lo)
    if hi < whole[1]:
        parts.append("version <= %d" % hi)
    return " && ".join(parts)


def nullable_expr(f, whole):
    """C expression: may this field be null in `version`?"""
    if f.nullable is None:
        return "false"
    if f.nullable == f.range:
        return "true"
    return cond_for(f.nullable, f.range) or "true"


def c_int_literal(v, t):
    if t == "int64":
        if v == -9223372036854775808:
            return "INT64_MIN"
        return "INT64_C(%d)" % v
    if t == "int32" and v == -2147483648:
        return "INT32_MIN"
    return "%d" % v


def default_value(f):
    """(kind, value) of a field's JSON default."""
    d = f.default
    t = f.elem
    if f.is_array:
        return ("array", None)
    if f.is_struct:
        return ("struct", None)
    if t in INT_RANGE:
        if d is None:
            return ("int", 0)
        if isinstance(d, int):
            return ("int", d)
        ds = str(d)
        return ("int", int(ds, 16) if ds.lower().startswith(("0x", "-0x")) else int(ds))
    if t == "bool":
        return ("bool", str(d).lower() == "true" if d is not None else False)
    if t == "float64":
        return ("float", float(d) if d is not None else 0.0)
    if t == "string":
        if d == "null":
            return ("str", None)
        return ("str", "" if d is None else str(d))
    if t in ("bytes", "records"):
        return ("bytes", None if d == "null" or f.nullable else b"")
    if t == "uuid":
        return ("uuid", None)
    raise Exception("default of %s" % t)


def default_assign(f, lhs):
    """C statements giving lhs the field's default; [] if it is all zero."""
    kind, v = default_value(f)
    if kind == "int":
        return ["%s = %s;" % (lhs, c_int_literal(v, f.elem))] if v != 0 else []
    if kind == "bool":
        return ["%s = true;" % lhs] if v else []
    if kind == "float":
        return ["%s = %r;" % (lhs, v)] if v != 0.0 else []
    if kind == "str":
        if v is None:
            return ["%s = kafka_str_null();" % lhs]
        return ["%s = kafka_str(\"%s\");" % (lhs, v)]
    if kind == "bytes":
        if v is None:
            return ["%s = kafka_bytes_null();" % lhs]
        return []
    if kind == "struct":
        return ["init_%s(&%s);" % (f.struct.cname, lhs)] if struct_has_defaults(f.struct) else []
    return []


def struct_used_inline(msg, st):
    """Is st the type of a non-array struct field (which needs init_)?"""
    for o in msg.structs:
        for f in o.fields:
            if f.is_struct and not f.is_array and f.struct is st:
                return True
    return False


def struct_has_defaults(st):
    for f in st.fields:
        if default_assign(f, "x"):
            return True
    return False


def min_size(st, v, msg):
    """Smallest encoding of struct st at version v."""
    flex = msg.is_flex(v)
    n = 0
    for f in st.regular():
        if not (f.range[0] <= v <= f.range[1]):
            continue
        if f.is_array:
            n += 1 if flex else 4
        elif f.is_struct and f.nullable and f.nullable[0] <= v <= f.nullable[1]:
            n += 1              # null: its marker byte alone
        elif f.is_struct:
            n += min_size(f.struct, v, msg)
        elif f.elem == "string":
            n += 1 if flex else 2
        elif f.elem in ("bytes", "records"):
            n += 1 if flex else 4
        else:
            n += PRIM_MIN[f.elem]
    if flex:
        n += 1
    return n


def elem_min_size(f, msg):
    """Smallest encoding of one element of array field f, over its versions."""
    best = None
    for v in range(f.range[0], min(f.range[1], msg.vmax) + 1):
        flex = msg.is_flex(v)
        if f.is_struct:
            s = min_size(f.struct, v, msg)
        elif f.elem == "string":
            s = 1 if flex else 2
        elif f.elem in ("bytes", "records"):
            s = 1 if flex else 4
        else:
            s = PRIM_MIN[f.elem]
        best = s if best is None else min(best, s)
    return best


def array_max(f):
    n = f.name
    e = f.elem
    if n in ("BrokerIds", "ReplicaNodes", "IsrNodes", "OfflineReplicas", "Brokers"):
        return "KAFKA_MAX_REPLICAS"
    if "Topic" in e or n in ("Topics", "TopicNames"):
        return "KAFKA_MAX_TOPICS"
    if "Partition" in e or "Partition" in n:
        return "KAFKA_MAX_PARTITIONS"
    if "Config" in n or "Config" in e or "Resource" in e or "Synonym" in e \
            or n == "ConfigurationKeys":
        return "KAFKA_MAX_CONFIGS"
    return "KAFKA_MAX_ARRAY"


def vdesc(rng):
    if rng is None:
        return "none"
    lo, hi = rng
    if hi == INF:
        return "v%d+" % lo
    if lo == hi:
        return "v%d" % lo
    return "v%d-%d" % (lo, hi)


def jvdesc(s):
    s = str(s)
    if s == "none":
        return s
    return "v" + s if "-" in s or "+" in s else "v" + s


def is_fetch_records(msg, f):
    return msg.name == "FetchResponse" and f.elem == "records"


def indent(lines, n=1):
    return ["\t" * n + l if l else l for l in lines]


def block(cond, body, else_body=None):
    """if (cond) body [else else_body], PostgreSQL brace style."""
    out = []
    if not cond:
        return body
    out.append("if (%s)" % cond)
    if len(body) == 1 and not body[0].startswith(("if ", "for ")):
        out += indent(body)
    else:
        out += ["{"] + indent(body) + ["}"]
    if else_body:
        out.append("else")
        if len(else_body) == 1:
            out += indent(else_body)
        else:
            out += ["{"] + indent(else_body) + ["}"]
    return out


# --------------------------------------------------------------------------
# C declarations

def wrap_comment(text, width=72):
    words = text.split()
    lines, cur = [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = (cur + " " + w) if cur else w
    if cur:
        lines.append(cur)
    return lines


def field_comment(f):
    bits = [jvdesc(f.json_versions)]
    if f.nullable:
        bits.append("nullable " + jvdesc(f.json_nullable))
    if f.tagged:
        bits.append("tagged field %d" % f.tag)
    kind, v = default_value(f)
    if kind in ("int", "bool", "str") and (f.default is not None):
        bits.append("default %s" % (("null" if v is None else '"%s"' % v) if kind == "str"
                                    else str(v).lower()))
    about = f.about.strip()
    text = "%s (%s): %s" % (f.name, ", ".join(b for b in bits if b), about)
    lines = wrap_comment(text)
    if len(lines) == 1:
        return ["/* %s */" % lines[0]]
    return ["/*"] + [" * " + l for l in lines] + [" */"]


def struct_decl(msg, st):
    out = ["typedef struct Kafka%s" % st.cname, "{"]
    body = []
    for f in st.fields:
        body += field_comment(f)
        if f.is_array:
            et = ("Kafka" + f.struct.cname) if f.is_struct else PRIM_C[f.elem]
            body.append("int32_t\t\t%sCount;" % f.name)
            body.append("%s *%s;" % (et, f.name))
        elif f.is_struct:
            body.append("Kafka%s %s;" % (f.struct.cname, f.name))
            if f.nullable:
                body.append("bool\t\t%sIsNull;\t/* null (a nullable struct) */" % f.name)
        else:
            ct = PRIM_C[f.elem]
            body.append("%s%s%s;" % (ct, "\t" * max(1, (12 - len(ct) + 3) // 4), f.name))
        if f.tagged:
            body.append("bool\t\tHas%s;" % f.name)
        if is_fetch_records(msg, f):
            body += ["/*",
                     " * RecordsSplice: Records.len bytes (>= 0) are not in memory; the",
                     " * encoder writes their length prefix and records a splice point",
                     " * (with RecordsSpliceArg) where the caller sends them.  Records.ptr",
                     " * is ignored then.",
                     " */",
                     "bool\t\tRecordsSplice;",
                     "const void *RecordsSpliceArg;"]
    if not st.fields:
        body.append("char\t\tunused;\t\t/* no fields in these versions */")
    out += indent(body)
    out.append("} Kafka%s;" % st.cname)
    return out


# --------------------------------------------------------------------------
# decoding

def read_call(f, t, dst, rd, nullable_c):
    if t == "string":
        if nullable_c == "true":
            return "kafka_read_nullable_string(%s, &%s)" % (rd, dst)
        if nullable_c == "false":
            return "kafka_read_string(%s, &%s)" % (rd, dst)
        return "(%s ? kafka_read_nullable_string(%s, &%s) : kafka_read_string(%s, &%s))" % (
            nullable_c, rd, dst, rd, dst)
    if t == "bytes":
        if nullable_c == "true":
            return "kafka_read_nullable_bytes(%s, &%s)" % (rd, dst)
        if nullable_c == "false":
            return "kafka_read_bytes(%s, &%s)" % (rd, dst)
        return "(%s ? kafka_read_nullable_bytes(%s, &%s) : kafka_read_bytes(%s, &%s))" % (
            nullable_c, rd, dst, rd, dst)
    if t == "records":
        return "kafka_read_records(%s, &%s)" % (rd, dst)
    if t == "uuid":
        return "kafka_read_uuid(%s, &%s)" % (rd, dst)
    if t == "bool":
        return "kafka_read_bool(%s, &%s)" % (rd, dst)
    return "kafka_read_%s(%s, &%s)" % (t, rd, dst)


def decode_field(msg, st, f, prefix, rd):
    """Statements reading field f of *s from reader rd (no version gate)."""
    lhs = "s->" + f.name
    nc = nullable_expr(f, f.range)
    out = []
    if f.is_array:
        out.append("KAFKA_READ(kafka_read_array_len(%s, &%sCount, %s, %s, %d));" % (
            rd, lhs, nc, array_max(f), elem_min_size(f, msg)))
        out.append("%s = kafka_reader_alloc_array(%s, a, %sCount, sizeof(*%s));" % (
            lhs, rd, lhs, lhs))
        out.append("KAFKA_READ(%s->err == KAFKA_OK);" % rd)
        out.append("for (i = 0; i < %sCount; i++)" % lhs)
        if f.is_struct:
            out.append("\tKAFKA_READ(%sdecode_%s(%s, version, &%s[i], a));" % (
                prefix, f.struct.cname, rd, lhs))
        else:
            out.append("\tKAFKA_READ(%s);" % read_call(f, f.elem, "%s[i]" % lhs, rd, "false"))
    elif f.is_struct and nc != "false":
        # a nullable struct: an int8 marker first, -1 for null (Kafka's
        # generated code writes 1 before a present one)
        out += ["%sIsNull = false;" % lhs] + (["if (%s)" % nc] if nc != "true" else []) + [
                "{", "\tint8_t\t\tmarker;", "",
                "\tKAFKA_READ(kafka_read_int8(%s, &marker));" % rd,
                "\t%sIsNull = marker < 0;" % lhs, "}",
                "if (!%sIsNull)" % lhs,
                "\tKAFKA_READ(%sdecode_%s(%s, version, &%s, a));" % (
                    prefix, f.struct.cname, rd, lhs)]
        d = default_assign(f, lhs)
        if d:
            out += ["else"] + indent(d)
    elif f.is_struct:
        out.append("KAFKA_READ(%sdecode_%s(%s, version, &%s, a));" % (
            prefix, f.struct.cname, rd, lhs))
    elif nc not in ("true", "false"):
        out += ["if (%s)" % nc,
                "\tKAFKA_READ(%s);" % read_call(f, f.elem, lhs, rd, "true"),
                "else",
                "\tKAFKA_READ(%s);" % read_call(f, f.elem, lhs, rd, "false")]
    else:
        out.append("KAFKA_READ(%s);" % read_call(f, f.elem, lhs, rd, nc))
    return out


def struct_uses_loop(st):
    return any(f.is_array for f in st.fields)


def gen_decoder(msg, st, prefix, static_kw="static "):
    out = []
    # tagged fields: one reader function each
    for f in st.tagged():
        out.append("static bool")
        out.append("%sdecode_%s_tag_%s(KafkaReader *r, int16_t version, Kafka%s *s, "
                   "const KafkaAllocator *a)" % (prefix, st.cname, f.name, st.cname))
        out.append("{")
        body = []
        if f.is_array:
            body.append("int32_t\t\ti;")
            body.append("")
        body += decode_field(msg, st, f, prefix, "r")
        body.append("s->Has%s = true;" % f.name)
        body.append("return true;")
        out += indent(body)
        out += ["", "err_parse:", "\treturn false;", "}", ""]

    out.append("static bool")
    out.append("%sdecode_%s(KafkaReader *r, int16_t version, Kafka%s *s, "
               "const KafkaAllocator *a)" % (prefix, st.cname, st.cname))
    out.append("{")
    body = []
    if any(f.is_array for f in st.regular()):
        body.append("int32_t\t\ti;")
    if st.tagged():
        body.append("uint32_t\tntags;")
        body.append("uint32_t\tt;")
    if body:
        body.append("")
    for f in st.fields:
        if f.tagged:
            # defaults of tagged fields, overwritten if the tag is present
            d = default_assign(f, "s->" + f.name)
            if d:
                body += ["/* %s: tagged, default until read */" % f.name] + d
    for f in st.regular():
        body.append("/* %s: %s, %s */" % (f.name, f.type, jvdesc(f.json_versions)))
        c = cond_for(f.range, st.range)
        stmts = decode_field(msg, st, f, prefix, "r")
        body += block(c, stmts, default_assign(f, "s->" + f.name) if c else None)
    # tagged fields
    body.append("/* tagged fields */")
    if not st.tagged():
        body += block("r->flexible", ["KAFKA_READ(kafka_read_tagged_fields_skip(r));"])
    else:
        loop = ["KAFKA_READ(kafka_read_tag_count(r, &ntags));",
                "for (t = 0; t < ntags; t++)",
                "{"]
        inner = ["uint32_t\ttag;", "KafkaReader sub;", "",
                 "KAFKA_READ(kafka_read_tag(r, &tag, &sub));"]
        for f in st.tagged():
            c = "tag == %d" % f.tag
            vc = cond_for(f.tagged_range, st.range)
            if vc:
                c += " && " + vc
            inner += block(c, ["KAFKA_READ(kafka_reader_join(r, &sub, %sdecode_%s_tag_%s(&sub, version, s, a)));"
                               % (prefix, st.cname, f.name)])
        inner.append("/* other tags: unknown, skipped */")
        loop += indent(inner) + ["}"]
        body += block("r->flexible", loop)
    body.append("return true;")
    out += indent(body)
    out += ["", "err_parse:", "\treturn false;", "}", ""]
    return out


# --------------------------------------------------------------------------
# encoding

def write_call(t, val, nullable_c):
    if t == "string":
        if nullable_c == "true":
            return "kafka_write_nullable_string(w, %s);" % val
        if nullable_c == "false":
            return "kafka_write_string(w, %s);" % val
        return "if (%s)\n\tkafka_write_nullable_string(w, %s);\nelse\n\tkafka_write_string(w, %s);" % (
            nullable_c, val, val)
    if t == "bytes":
        if nullable_c == "true":
            return "kafka_write_nullable_bytes(w, %s);" % val
        if nullable_c == "false":
            return "kafka_write_bytes(w, %s);" % val
        return "if (%s)\n\tkafka_write_nullable_bytes(w, %s);\nelse\n\tkafka_write_bytes(w, %s);" % (
            nullable_c, val, val)
    if t == "records":
        return "kafka_write_records(w, %s);" % val
    if t == "uuid":
        return "kafka_write_uuid(w, &%s);" % val
    return "kafka_write_%s(w, %s);" % (t, val)


def encode_field(msg, st, f, prefix):
    lhs = "s->" + f.name
    nc = nullable_expr(f, f.range)
    out = []
    if f.is_array:
        out.append("if (kafka_write_array_begin(w, %sCount, %s, %s))" % (lhs, lhs, nc))
        out.append("\tfor (i = 0; i < %sCount; i++)" % lhs)
        if f.is_struct:
            out.append("\t\t%sencode_%s(w, version, &%s[i]);" % (prefix, f.struct.cname, lhs))
        else:
            out.append("\t\t" + write_call(f.elem, "%s[i]" % lhs, "false"))
    elif f.is_struct and nc != "false":
        t = "" if nc == "true" else "(%s) && " % nc
        out += ["if (%s%sIsNull)" % (t, lhs), "\tkafka_write_int8(w, -1);", "else", "{"] + (
            ["\tkafka_write_int8(w, 1);"] if nc == "true" else
            ["\tif (%s)" % nc, "\t\tkafka_write_int8(w, 1);"]) + [
                "\t%sencode_%s(w, version, &%s);" % (prefix, f.struct.cname, lhs), "}"]
    elif f.is_struct:
        out.append("%sencode_%s(w, version, &%s);" % (prefix, f.struct.cname, lhs))
    elif is_fetch_records(msg, f):
        out += ["if (s->RecordsSplice)",
                "\tkafka_write_records_splice(w, s->Records.len, s->RecordsSpliceArg);",
                "else",
                "\tkafka_write_records(w, s->Records);"]
    else:
        out += write_call(f.elem, lhs, nc).split("\n")
    return out


def gen_encoder(msg, st, prefix):
    out = ["static void",
           "%sencode_%s(KafkaWriter *w, int16_t version, const Kafka%s *s)" % (
               prefix, st.cname, st.cname),
           "{"]
    body = []
    if any(f.is_array for f in st.fields):
        body.append("int32_t\t\ti;")
        body.append("")
    for f in st.regular():
        body.append("/* %s: %s, %s */" % (f.name, f.type, jvdesc(f.json_versions)))
        body += block(cond_for(f.range, st.range), encode_field(msg, st, f, prefix))
    body.append("/* tagged fields */")
    if not st.tagged():
        body.append("kafka_write_tagged_fields_empty(w);")
    else:
        tb = ["uint32_t\tntags = 0;", "size_t\t\tmark;", ""]
        conds = []
        for f in st.tagged():
            c = "s->Has%s" % f.name
            vc = cond_for(f.tagged_range, st.range)
            if vc:
                c += " && " + vc
            conds.append((f, c))
            tb += block(c, ["ntags++;"])
        tb.append("kafka_write_uvarint(w, ntags);")
        for f, c in conds:
            tb += block(c, ["mark = kafka_write_tag_begin(w, %d);" % f.tag]
                        + encode_field(msg, st, f, prefix)
                        + ["kafka_write_tag_end(w, mark);"])
        body += ["if (w->flexible)", "{"] + indent(tb) + ["}"]
    out += indent(body)
    out += ["}", ""]
    return out


# --------------------------------------------------------------------------
# init (defaults) for structs that have non-zero defaults

def gen_init(msg, st):
    out = ["static void", "init_%s(Kafka%s *s)" % (st.cname, st.cname), "{"]
    body = []
    for f in st.fields:
        body += default_assign(f, "s->" + f.name)
    out += indent(body) + ["}", ""]
    return out


# --------------------------------------------------------------------------
# src output

API_FILE_HEADER = """/*-------------------------------------------------------------------------
 *
 * api_%(lower)s.c
 *	  Kafka %(api)s (API key %(key)d), versions %(vmin)d-%(vmax)d: request decoder
 *	  and response encoder.
 *
 * Schemas: %(reqfile)s
 *			%(respfile)s
 * Flexible versions (compact encodings, tagged fields): %(flexdesc)s.
 *
 * GENERATED by test/proto/gen_messages.py from those schemas: do not edit;
 * change the generator (or the API's line in src/kafka/api_table.h) and
 * run `make -C test/proto generate`.
 *
 * Version notes from the schemas:
%(notes)s *
 * src/kafka/api_%(lower)s.c
 *
 *-------------------------------------------------------------------------
 */
#include "kafka/messages.h"
"""


def schema_notes(name):
    text = open(os.path.join(SCHEMAS, name + ".json")).read()
    notes = []
    started = False
    for l in text.split("\n"):
        s = l.strip()
        if s.startswith("{"):
            started = True
        if started and s.startswith("//"):
            c = s[2:].strip()
            notes.append(c)
    # join lines into paragraphs (a blank line, or a line starting
    # "Version"/"Starting", starts a new one)
    paras = []
    cur = []
    for n in notes:
        if n == "" or n.startswith(("Version", "Starting", "Versions")):
            if cur:
                paras.append(" ".join(cur))
            cur = [n] if n else []
        else:
            cur.append(n)
    if cur:
        paras.append(" ".join(cur))
    return paras


def gen_api_src(req, resp):
    lower = req.api.lower()
    notes = []
    for m in (req, resp):
        ns = schema_notes(m.name)
        if ns:
            notes.append(" * %s:" % m.name)
            for n in ns:
                for l in (wrap_comment(n, 66) or [""]):
                    notes.append((" *\t  " + l).rstrip())
    flexdesc = ("v%d+" % req.flex) if req.flex <= req.vmax else "none in this range"
    out = (API_FILE_HEADER % dict(lower=lower, api=req.api, key=req.key, vmin=req.vmin,
                                  vmax=req.vmax, reqfile=req.file, respfile=resp.file,
                                  flexdesc=flexdesc,
                                  notes="\n".join(notes) + "\n")).split("\n")
    # forward declarations not needed: structs are emitted leaves first
    for st in req.structs:
        if struct_has_defaults(st) and struct_used_inline(req, st):
            out += gen_init(req, st)
    for st in req.structs:
        out += gen_decoder(req, st, "")
    for st in resp.structs:
        out += gen_encoder(resp, st, "")
    # public entry points
    out += [
        "/*",
        " * Decode %s %s of the given version from r (positioned at the" % (
            "an" if req.name[0] in "AEIOU" else "a", req.name),
        " * body, after the request header).  Returns KAFKA_OK, or the error",
        " * recorded in r (KAFKA_ERR_UNSUPPORTED for a version outside %d-%d)." % (
            req.vmin, req.vmax),
        " */",
        "int",
        "kafka_%s_decode(KafkaReader *r, int16_t version, Kafka%s *out, "
        "const KafkaAllocator *a)" % (req.name, req.name),
        "{",
        "\tmemset(out, 0, sizeof(*out));",
        "\tif (version < %d || version > %d)" % (req.vmin, req.vmax),
        "\t{",
        "\t\tkafka_reader_fail(r, KAFKA_ERR_UNSUPPORTED);",
        "\t\treturn r->err;",
        "\t}",
        "\tr->flexible = version >= %d;" % req.flex,
        "\tif (!decode_%s(r, version, out, a))" % req.name,
        "\t\treturn r->err;",
        "\treturn KAFKA_OK;",
        "}",
        "",
        "/*",
        " * Encode %s %s body of the given version (no frame, no" % (
            "an" if resp.name[0] in "AEIOU" else "a", resp.name),
        " * header).",
        " * Fields the version lacks are left out.  Returns w->err: KAFKA_OK,",
        " * KAFKA_ERR_UNSUPPORTED for a version outside %d-%d, KAFKA_ERR_INVALID_ARG" % (
            resp.vmin, resp.vmax),
        " * for a value the version cannot carry (a null where it is not",
        " * nullable), KAFKA_ERR_NOMEM or KAFKA_ERR_TOO_LARGE.",
        " */",
        "int",
        "kafka_%s_encode(KafkaWriter *w, int16_t version, const Kafka%s *in)" % (
            resp.name, resp.name),
        "{",
        "\tbool\t\tflexible = w->flexible;",
        "",
        "\tif (version < %d || version > %d)" % (resp.vmin, resp.vmax),
        "\t{",
        "\t\tkafka_writer_fail(w, KAFKA_ERR_UNSUPPORTED);",
        "\t\treturn w->err;",
        "\t}",
        "\tw->flexible = version >= %d;" % resp.flex,
        "\tencode_%s(w, version, in);" % resp.name,
        "\tw->flexible = flexible;",
        "\treturn w->err;",
        "}",
        "",
        "/* The entries of kafka_apis[] (protocol.c, from api_table.h) */",
        "int",
        "kafka_%s_decode_body(KafkaReader *r, int16_t version, KafkaRequestBody *out, "
        "const KafkaAllocator *a)" % req.name,
        "{",
        "\treturn kafka_%s_decode(r, version, &out->%s, a);" % (req.name, req.api),
        "}",
        "",
        "int",
        "kafka_%s_encode_body(KafkaWriter *w, int16_t version, const void *body)" % resp.name,
        "{",
        "\treturn kafka_%s_encode(w, version, body);" % resp.name,
        "}",
    ]
    return "\n".join(out) + "\n"


def load_all():
    apis = []
    for api, key, vmin, vmax, flex in read_api_table():
        if not os.path.exists(os.path.join(SCHEMAS, api + "Request.json")):
            raise SystemExit("api_table.h: no schema %sRequest.json in %s" % (api, SCHEMAS))
        if load_json(api + "Request")["apiKey"] != key:
            raise SystemExit("api_table.h: %s has API key %d in protocol.h, %d in its schema" % (
                api, key, load_json(api + "Request")["apiKey"]))
        req = Message(api, key, vmin, vmax, "Request")
        resp = Message(api, key, vmin, vmax, "Response")
        assert req.flex == resp.flex
        if flex != req.flex:
            raise SystemExit("api_table.h: %s's FlexibleVersion is %s, its schema says %s" % (
                api, "INT16_MAX" if flex == INF else flex,
                "INT16_MAX" if req.flex == INF else req.flex))
        apis.append((req, resp))
    names = {}
    for req, resp in apis:
        for m in (req, resp):
            for st in m.structs:
                if st.cname in names:
                    raise Exception("duplicate C struct name %s (%s, %s)" % (
                        st.cname, names[st.cname], m.name))
                names[st.cname] = m.name
    return apis


def gen_messages_h(apis):
    out = []
    for req, resp in apis:
        out += ["", "/* " + "-" * 70, " * %s (API key %d): versions %d-%d, flexible %s" % (
            req.api, req.key, req.vmin, req.vmax,
            ("v%d+" % req.flex) if req.flex <= req.vmax else "never"),
            " * %s" % req.file, " * %s" % resp.file, " * " + "-" * 70, " */"]
        for m in (req, resp):
            for st in m.structs:
                out += [""] + struct_decl(m, st)
        out += ["",
                "extern int\tkafka_%s_decode(KafkaReader *r, int16_t version," % req.name,
                "\t\t\t\t\t\t\t\t\t Kafka%s *out, const KafkaAllocator *a);" % req.name,
                "extern int\tkafka_%s_encode(KafkaWriter *w, int16_t version," % resp.name,
                "\t\t\t\t\t\t\t\t\t const Kafka%s *in);" % resp.name]
    out += ["", "/* " + "-" * 70, " * All requests and responses", " * " + "-" * 70, " */", ""]
    out.append("typedef union KafkaRequestBody")
    out.append("{")
    for req, resp in apis:
        out.append("\tKafka%s %s;" % (req.name, req.api))
    out.append("} KafkaRequestBody;")
    out.append("")
    out.append("typedef union KafkaResponseBody")
    out.append("{")
    for req, resp in apis:
        out.append("\tKafka%s %s;" % (resp.name, resp.api))
    out.append("} KafkaResponseBody;")
    out += ["",
            "/*",
            " * The entries of kafka_apis[] (protocol.c, from api_table.h): the",
            " * request body into its member of KafkaRequestBody, the response body",
            " * from a pointer to its struct.",
            " */"]
    for req, resp in apis:
        out += wrap_line("extern int\tkafka_%s_decode_body(KafkaReader *r, int16_t version, "
                         "KafkaRequestBody *out, const KafkaAllocator *a);" % req.name)
        out += wrap_line("extern int\tkafka_%s_encode_body(KafkaWriter *w, int16_t version, "
                         "const void *body);" % resp.name)
    out += gen_throttle_h()
    template = open(os.path.join(HERE, "messages.h.in")).read()
    return template.replace("@GENERATED@\n", "\n".join(out) + "\n") + \
        "\n#endif\t\t\t\t\t\t\t/* KAFKA_MESSAGES_H */\n"


# --------------------------------------------------------------------------
# throttle_time.c: ThrottleTimeMs of any response, by API key (KIP-219
# enforcement in src/broker/throttle.c sets it after the response is built)

THROTTLE_FILE_HEADER = """/*-------------------------------------------------------------------------
 *
 * throttle_time.c
 *	  ThrottleTimeMs of a response body, by API key: the broker's quota
 *	  enforcement (src/broker/throttle.c) sets it in whatever response a
 *	  handler built, without knowing the API.
 *
 * GENERATED by test/proto/gen_messages.py from the schemas of the APIs in
 * src/kafka/api_table.h: do not edit; change the generator and run
 * `make -C test/proto generate`.
 *
 * src/kafka/throttle_time.c
 *
 *-------------------------------------------------------------------------
 */
#include "kafka/messages.h"
"""


def throttle_field(resp):
    """The top-level ThrottleTimeMs field of a response, or None."""
    for f in resp.top.fields:
        if f.name == "ThrottleTimeMs" and not f.tagged and f.type == "int32":
            return f
    return None


def gen_throttle_h():
    return ["",
            "/*",
            " * Set ThrottleTimeMs in body, a response of api_key (its struct, as",
            " * handed to the encoder).  Returns whether that version of the response",
            " * carries the field (false also for an API without one: the body is",
            " * then untouched).  throttle_time.c, generated.",
            " */",
            "extern bool kafka_response_set_throttle_time(int16_t api_key, int16_t version, void *body,",
            "\t\t\t\t\t\t\t\t\t\t\t int32_t ms);"]


def gen_throttle_src(apis):
    out = THROTTLE_FILE_HEADER.split("\n")
    out += ["bool",
            "kafka_response_set_throttle_time(int16_t api_key, int16_t version, void *body, "
            "int32_t ms)",
            "{",
            "\tswitch (api_key)",
            "\t{"]
    for req, resp in apis:
        f = throttle_field(resp)
        if f is None:
            continue
        cond = cond_for(f.range, (resp.vmin, resp.vmax))
        out += ["\t\tcase %d:\t\t\t/* %s, ThrottleTimeMs %s */" % (
                    resp.key, resp.api, vdesc(f.range)),
                "\t\t\t((Kafka%s *) body)->ThrottleTimeMs = ms;" % resp.name,
                "\t\t\treturn %s;" % (cond or "true")]
    out += ["\t\tdefault:",
            "\t\t\treturn false;",
            "\t}",
            "}"]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# response error codes (src/kafka/api_errors.[ch]): for per-client
# usage, every ErrorCode field of a response body, walked by version

ERRORS_C_HEADER = """/*-------------------------------------------------------------------------
 *
 * api_errors.c
 *	  The error codes of a response body: every ErrorCode field (and
 *	  CreateTopics' TopicConfigErrorCode) that the response's version
 *	  carries, at every depth, for the per-client usage counters
 *	  (broker/meter.c).
 *
 * GENERATED by test/proto/gen_messages.py from the schemas in
 * test/proto/schemas and src/kafka/api_table.h: do not edit; change the
 * generator and run `make -C test/proto generate`.
 *
 * src/kafka/api_errors.c
 *
 *-------------------------------------------------------------------------
 */
#include "kafka/api_errors.h"
"""

ERRORS_H = """/*-------------------------------------------------------------------------
 *
 * api_errors.h
 *	  The error codes of a response body (api_errors.c, generated).
 *
 * GENERATED by test/proto/gen_messages.py: do not edit.
 *
 * src/kafka/api_errors.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef KAFKA_API_ERRORS_H
#define KAFKA_API_ERRORS_H

#include "kafka/messages.h"

/* called once per error code other than NONE */
typedef void (*KafkaErrorCodeFn) (void *arg, int16_t code);

/*
 * Call fn(arg, code) for each ErrorCode field other than NONE (0) of body,
 * the response of api_key at version (a pointer to its Kafka<Api>Response,
 * as given to the encoder), in the order the encoder writes them: the
 * fields the version carries, in every element of every array (null
 * arrays have none).  Returns how many there were.  An API key that is not
 * served has none.
 */
extern int	kafka_response_errors(int16_t api_key, int16_t version, const void *body,
								  KafkaErrorCodeFn fn, void *arg);

#endif							/* KAFKA_API_ERRORS_H */
"""


def is_error_field(f):
    return f.elem == "int16" and not f.is_array and f.name.endswith("ErrorCode")


def struct_has_errors(st, memo):
    if st.cname not in memo:
        memo[st.cname] = False
        memo[st.cname] = any(is_error_field(f) or
                             (f.is_struct and f.struct is not None and
                              struct_has_errors(f.struct, memo))
                             for f in st.fields)
    return memo[st.cname]


def gen_error_walker(st, memo):
    out = ["static int",
           "errors_%s(const Kafka%s *s, int16_t version, KafkaErrorCodeFn fn, void *arg)" % (
               st.cname, st.cname),
           "{"]
    body = ["int\t\t\tn = 0;"]
    if any(f.is_array and f.is_struct and struct_has_errors(f.struct, memo) for f in st.fields):
        body.append("int32_t\t\ti;")
    body.append("")
    for f in st.fields:
        if is_error_field(f):
            stmt = ["if (s->%s != 0)" % f.name, "{",
                    "\tfn(arg, s->%s);" % f.name, "\tn++;", "}"]
        elif f.is_struct and struct_has_errors(f.struct, memo):
            if f.is_array:
                stmt = ["for (i = 0; i < s->%sCount; i++)" % f.name,
                        "\tn += errors_%s(&s->%s[i], version, fn, arg);" % (f.struct.cname, f.name)]
            else:
                stmt = ["n += errors_%s(&s->%s, version, fn, arg);" % (f.struct.cname, f.name)]
        else:
            continue
        conds = [c for c in (cond_for(f.range, st.range),) if c]
        if f.tagged:
            vc = cond_for(f.tagged_range, st.range)
            conds = ["s->Has%s" % f.name] + ([vc] if vc else [])
        body.append("/* %s, %s */" % (f.name, jvdesc(f.json_versions)))
        body += block(" && ".join(conds), stmt)
    body.append("return n;")
    out += indent(body) + ["}", ""]
    return out


def gen_response_errors(apis):
    out = ERRORS_C_HEADER.split("\n")
    memo = {}
    walked = []
    for req, resp in apis:
        for st in resp.structs:
            if struct_has_errors(st, memo):
                out += gen_error_walker(st, memo)
        if struct_has_errors(resp.top, memo):
            walked.append(resp)
    out += ["int",
            "kafka_response_errors(int16_t api_key, int16_t version, const void *body,",
            "\t\t\t\t\t  KafkaErrorCodeFn fn, void *arg)",
            "{",
            "\tswitch (api_key)",
            "\t{"]
    for resp in walked:
        out += ["\t\tcase %d:\t\t\t/* %s */" % (resp.key, resp.api),
                "\t\t\treturn errors_%s(body, version, fn, arg);" % resp.name]
    out += ["\t\tdefault:",
            "\t\t\treturn 0;",
            "\t}",
            "}"]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# test output

def print_value(t, val, f=None):
    if t in ("int8", "int16", "int32"):
        return "sb_printf(b, \"%%d\", (int) %s);" % val
    if t == "uint16":
        return "sb_printf(b, \"%%u\", (unsigned) %s);" % val
    if t == "int64":
        return "sb_printf(b, \"%%lld\", (long long) %s);" % val
    if t == "bool":
        return "sb_puts(b, %s ? \"true\" : \"false\");" % val
    if t == "float64":
        return "sb_printf(b, \"%%.17g\", %s);" % val
    if t == "string":
        return "print_str(b, %s);" % val
    if t in ("bytes", "records"):
        return "print_bytes(b, %s);" % val
    if t == "uuid":
        return "print_uuid(b, &%s);" % val
    raise Exception(t)


def gen_printer(msg, st):
    out = ["static void",
           "tprint_%s(StrBuf *b, int16_t version, const Kafka%s *s)" % (st.cname, st.cname),
           "{"]
    body = []
    if any(f.is_array for f in st.fields):
        body.append("int32_t\t\ti;")
    body += ["bool\t\tfirst = true;", "", "sb_puts(b, \"{\");"]
    for f in st.fields:
        lhs = "s->" + f.name
        c = cond_for(f.range, st.range)
        if f.tagged:
            c = "!print_omit_tagged" + (" && " + c if c else "")
        stm = ["sb_sep(b, &first);"]
        if f.is_array:
            stm += ["if (%sCount < 0)" % lhs, "\tsb_puts(b, \"null\");", "else", "{",
                    "\tsb_puts(b, \"[\");",
                    "\tfor (i = 0; i < %sCount; i++)" % lhs, "\t{",
                    "\t\tif (i > 0)", "\t\t\tsb_puts(b, \",\");"]
            if f.is_struct:
                stm.append("\t\ttprint_%s(b, version, &%s[i]);" % (f.struct.cname, lhs))
            else:
                stm.append("\t\t" + print_value(f.elem, "%s[i]" % lhs))
            stm += ["\t}", "\tsb_puts(b, \"]\");", "}"]
        elif f.is_struct and f.nullable:
            stm += ["if (%sIsNull)" % lhs, "\tsb_puts(b, \"null\");", "else",
                    "\ttprint_%s(b, version, &%s);" % (f.struct.cname, lhs)]
        elif f.is_struct:
            stm.append("tprint_%s(b, version, &%s);" % (f.struct.cname, lhs))
        else:
            stm.append(print_value(f.elem, lhs))
        body += block(c, stm)
    body.append("sb_puts(b, \"}\");")
    out += indent(body) + ["}", ""]
    return out


def gen_fill(msg, st):
    """Random (f->minimal false) or minimal values for every field."""
    out = ["static void",
           "tfill_%s(Fill *f, int16_t version, Kafka%s *s)" % (st.cname, st.cname),
           "{"]
    body = []
    if any(f.is_array for f in st.fields):
        body.append("int32_t\t\ti;")
        body.append("")
    for f in st.fields:
        lhs = "s->" + f.name
        c = cond_for(f.range, st.range)
        nc = nullable_expr(f, f.range)
        if c:
            nc = "(%s) && (%s)" % (c, nc) if nc not in ("true", "false") else (
                "(%s)" % c if nc == "true" else "false")
        stm = []
        if f.is_array:
            stm.append("%sCount = fill_count(f, %s);" % (lhs, nc))
            et = ("Kafka" + f.struct.cname) if f.is_struct else PRIM_C[f.elem]
            stm.append("%s = fill_alloc(f, %sCount, sizeof(%s));" % (lhs, lhs, et))
            stm.append("for (i = 0; i < %sCount; i++)" % lhs)
            if f.is_struct:
                stm.append("\ttfill_%s(f, version, &%s[i]);" % (f.struct.cname, lhs))
            else:
                stm.append("\t" + fill_value(f.elem, "%s[i]" % lhs, "false"))
        elif f.is_struct and nc != "false":
            stm.append("tfill_%s(f, version, &%s);" % (f.struct.cname, lhs))
            stm.append("%sIsNull = (%s) && (f->minimal || fill_rand(f) %% 2 == 0);" % (lhs, nc))
        elif f.is_struct:
            stm.append("tfill_%s(f, version, &%s);" % (f.struct.cname, lhs))
        elif is_fetch_records(msg, f):
            stm.append(fill_value(f.elem, lhs, nc))
            stm.append("s->RecordsSplice = false;")
        elif f.name.endswith("ErrorCode") and f.elem == "int16":
            # plain: no error (clients may not know random error codes)
            stm.append("%s = f->plain ? 0 : (int16_t) fill_int(f, 16);" % lhs)
        else:
            stm.append(fill_value(f.elem, lhs, nc))
        if f.tagged:
            stm.append("s->Has%s = !f->minimal && !f->plain && fill_rand(f) %% 2 == 0;" % f.name)
            tc = cond_for(f.tagged_range, st.range)
            # an absent tagged field must hold its default (what a decoder gives)
            d = default_assign(f, lhs)
            stm += ["if (!s->Has%s%s)" % (f.name, (" || !(%s)" % tc) if tc else ""), "{"]
            stm += ["\ts->Has%s = false;" % f.name]
            if f.is_array:
                stm += ["\t%sCount = 0;" % lhs, "\t%s = NULL;" % lhs]
            else:
                stm += ["\tmemset(&%s, 0, sizeof(%s));" % (lhs, lhs)]
            stm += indent(d) + ["}"]
        body += stm
    out += indent(body) + ["}", ""]
    return out


def fill_value(t, lhs, nc):
    if t in INT_RANGE:
        return "%s = (%s) fill_int(f, %d);" % (lhs, PRIM_C[t], {"int8": 8, "int16": 16, "int32": 32,
                                                                 "int64": 64, "uint16": 16}[t])
    if t == "bool":
        return "%s = fill_bool(f);" % lhs
    if t == "float64":
        return "%s = fill_double(f);" % lhs
    if t == "string":
        return "%s = fill_str(f, %s);" % (lhs, nc)
    if t in ("bytes", "records"):
        return "%s = fill_bytes(f, %s);" % (lhs, nc)
    if t == "uuid":
        return "fill_uuid(f, &%s);" % lhs
    raise Exception(t)


def gen_check_defaults(msg, st):
    """Fields a version lacks must hold their defaults after decoding."""
    out = ["static int",
           "tcheck_%s(StrBuf *b, int16_t version, const Kafka%s *s)" % (st.cname, st.cname),
           "{"]
    body = ["int\t\t\tbad = 0;"]
    if any(f.is_array and f.is_struct for f in st.fields):
        body.append("int32_t\t\ti;")
    body.append("")
    for f in st.fields:
        lhs = "s->" + f.name
        c = cond_for(f.range, st.range)
        kind, v = default_value(f)
        if f.is_array:
            if f.is_struct:
                body += ["for (i = 0; i < %sCount; i++)" % lhs,
                         "\tbad += tcheck_%s(b, version, &%s[i]);" % (f.struct.cname, lhs)]
            if c:
                body += block("!(%s) && (%sCount != 0 || %s != NULL)" % (c, lhs, lhs),
                              ["bad++, sb_printf(b, \"%s not defaulted; \");" % f.name])
            continue
        if f.is_struct:
            continue
        if not c and not f.tagged:
            continue
        absent = "!(%s)" % c if c else "!s->Has%s" % f.name
        if f.tagged and c:
            absent = "(!(%s) || !s->Has%s)" % (c, f.name)
        if kind == "int":
            test = "%s != %s" % (lhs, c_int_literal(v, f.elem))
        elif kind == "bool":
            test = "%s != %s" % (lhs, "true" if v else "false")
        elif kind == "float":
            test = "%s != %r" % (lhs, v)
        elif kind == "str":
            test = ("%s.len != -1" % lhs) if v is None else \
                "!kafka_str_eq(%s, \"%s\")" % (lhs, v)
        elif kind == "bytes":
            test = ("%s.len != -1" % lhs) if v is None else "%s.len != 0" % lhs
        elif kind == "uuid":
            test = "!uuid_is_zero(&%s)" % lhs
        body += block("%s && %s" % (absent, test),
                      ["bad++, sb_printf(b, \"%s not defaulted; \");" % f.name])
    body.append("return bad;")
    out += indent(body) + ["}", ""]
    return out


def gen_test(apis):
    out = ["/* GENERATED by gen_messages.py --test: do not edit */", "",
           "#include \"testcodec.h\"", "",
           "#pragma GCC diagnostic ignored \"-Wunused-function\"", ""]
    for req, resp in apis:
        for m in (req, resp):
            for st in m.structs:
                if struct_has_defaults(st) and st is not m.top:
                    out += gen_init(m, st)
        for st in req.structs:
            out += gen_encoder(req, st, "t")
        for st in resp.structs:
            out += gen_decoder(resp, st, "t")
        for m in (req, resp):
            for st in m.structs:
                out += gen_printer(m, st)
                out += gen_fill(m, st)
        for st in req.structs:
            out += gen_check_defaults(req, st)
        # entry points with uniform signatures for the API table
        rq, rs = req.name, resp.name
        out += [
            "static void",
            "tfill_req_%s(Fill *f, int16_t version, void *p)" % req.api,
            "{", "\tmemset(p, 0, sizeof(Kafka%s));" % rq,
            "\ttfill_%s(f, version, p);" % rq, "}", "",
            "static void",
            "tfill_resp_%s(Fill *f, int16_t version, void *p)" % req.api,
            "{", "\tmemset(p, 0, sizeof(Kafka%s));" % rs,
            "\ttfill_%s(f, version, p);" % rs, "}", "",
            "static int",
            "tenc_req_%s(KafkaWriter *w, int16_t version, const void *p)" % req.api,
            "{", "\tbool\t\tflexible = w->flexible;", "",
            "\tw->flexible = version >= %d;" % req.flex,
            "\ttencode_%s(w, version, p);" % rq,
            "\tw->flexible = flexible;", "\treturn w->err;", "}", "",
            "static int",
            "tdec_resp_%s(KafkaReader *r, int16_t version, void *p, const KafkaAllocator *a)" % req.api,
            "{", "\tmemset(p, 0, sizeof(Kafka%s));" % rs,
            "\tr->flexible = version >= %d;" % req.flex,
            "\tif (!tdecode_%s(r, version, p, a))" % rs,
            "\t\treturn r->err;", "\treturn KAFKA_OK;", "}", "",
            "static int",
            "tdec_req_%s(KafkaReader *r, int16_t version, void *p, const KafkaAllocator *a)" % req.api,
            "{", "\treturn kafka_%s_decode(r, version, p, a);" % rq, "}", "",
            "static int",
            "tenc_resp_%s(KafkaWriter *w, int16_t version, const void *p)" % req.api,
            "{", "\treturn kafka_%s_encode(w, version, p);" % rs, "}", "",
            "static void",
            "tprint_req_%s(StrBuf *b, int16_t version, const void *p)" % req.api,
            "{", "\ttprint_%s(b, version, p);" % rq, "}", "",
            "static void",
            "tprint_resp_%s(StrBuf *b, int16_t version, const void *p)" % req.api,
            "{", "\ttprint_%s(b, version, p);" % rs, "}", "",
            "static int",
            "tcheck_req_%s(StrBuf *b, int16_t version, const void *p)" % req.api,
            "{", "\treturn tcheck_%s(b, version, p);" % rq, "}", "",
        ]
    out.append("const TestApi test_apis[] = {")
    for req, resp in apis:
        a = req.api
        out.append("\t{\"%s\", %d, %d, %d, %d, sizeof(Kafka%s), sizeof(Kafka%s)," % (
            a, req.key, req.vmin, req.vmax, req.flex, req.name, resp.name))
        out.append("\t\ttfill_req_%s, tenc_req_%s, tdec_req_%s, tprint_req_%s, tcheck_req_%s," % (
            a, a, a, a, a))
        out.append("\ttfill_resp_%s, tenc_resp_%s, tdec_resp_%s, tprint_resp_%s}," % (a, a, a, a))
    out.append("};")
    out.append("const int\ttest_apis_count = %d;" % len(apis))
    text = "\n".join(out) + "\n"
    # test-side names: tencode_/tdecode_ for the mirror codec
    text = text.replace("tencode_", "tencode_")
    return text


def visual_len(s):
    n = 0
    for ch in s:
        n = (n // 4 + 1) * 4 if ch == "\t" else n + 1
    return n


def wrap_line(line, limit=92):
    """Break a long C line after a comma, aligned with its open parenthesis."""
    if visual_len(line) <= limit or line.lstrip().startswith(("/*", "*")):
        return [line]
    depth = 0
    opens = []
    best = None
    for i, ch in enumerate(line):
        if ch == "(":
            opens.append(i)
        elif ch == ")":
            if opens:
                opens.pop()
        elif ch == "," and opens and visual_len(line[:i + 1]) <= limit:
            best = (i, opens[-1])
    if best is None:
        return [line]
    cut, paren = best
    col = visual_len(line[:paren + 1])
    lead = "\t" * (col // 4) + " " * (col % 4)
    rest = lead + line[cut + 1:].lstrip()
    return [line[:cut + 1]] + wrap_line(rest, limit)


def wrap_text(text):
    out = []
    for l in text.split("\n"):
        out += wrap_line(l)
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", help="directory for messages.h and api_*.c")
    ap.add_argument("--test", help="file for the generated test code")
    args = ap.parse_args()
    apis = load_all()
    if args.src:
        files = {"messages.h": gen_messages_h(apis)}
        for req, resp in apis:
            files["api_%s.c" % req.api.lower()] = wrap_text(gen_api_src(req, resp))
        files["throttle_time.c"] = wrap_text(gen_throttle_src(apis))
        files["api_errors.c"] = wrap_text(gen_response_errors(apis))
        files["api_errors.h"] = ERRORS_H
        for name, text in files.items():
            with open(os.path.join(args.src, name), "w") as fh:
                fh.write(text)
    if args.test:
        with open(args.test, "w") as fh:
            fh.write(wrap_text(gen_test(apis)))


if __name__ == "__main__":
    main()
