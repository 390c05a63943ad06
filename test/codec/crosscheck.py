#!/usr/bin/python3
"""Cross-check nagare's Kafka codec (src/kafka) against kafka-python.

kafka-python 2.0.2 is an independent implementation of RecordBatch v2
(kafka/record/default_records.py, a port of Java's DefaultRecordBatch), of
the compression framings (kafka/codec.py) and of Java's murmur2
(kafka/partitioner/default.py).  This script drives the C codec through
batchtool and checks, for every codec kafka-python can use here:

  - kafka-python decodes batches nagare encodes: valid CRC, same codec,
    offsets, timestamps, keys, values and headers;
  - nagare decodes batches kafka-python's DefaultRecordBatchBuilder builds;
  - each side decompresses the other's raw codec output, including the
    framings nagare never writes but must read (raw snappy as librdkafka
    writes it, lz4 frames with checksums and content size, zstd frames
    without content size, multi-member gzip);
  - murmur2 and the key-to-partition mapping agree on 10,000 random keys;
  - legacy message sets (magic 0 and 1, uncompressed, gzip, snappy, lz4)
    built by kafka-python's LegacyRecordBatchBuilder, converted by nagare
    (batchtool legacy), read back by kafka-python's DefaultRecordBatch:
    the same keys, values and timestamps as kafka-python's own reading of
    the legacy set (MemoryRecords), offsets 0..n-1, the wrapper's codec;
    damaged sets give the right error.

Codec availability depends on Debian packages (Debian 12 names):
  gzip    always (Python's zlib)
  snappy  python3-snappy
  lz4     python3-lz4
  zstd    python3-zstandard
A codec whose module is missing is reported as skipped, not failed.
kafka-python writes magic 0 lz4 with the xxhash module (python3-xxhash);
without it, xxh32.py stands in.

Usage: /usr/bin/python3 crosscheck.py [path/to/batchtool]
Prints one line per check and ends with "N passed, M failed"; exits 1 on
any failure.
"""

import gzip
import os
import random
import struct
import subprocess
import sys

from kafka import codec as kcodec
from kafka.partitioner.default import murmur2
from kafka.record.default_records import (DefaultRecordBatch,
                                          DefaultRecordBatchBuilder)
from kafka.record.legacy_records import LegacyRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords
from kafka.record.util import calc_crc32

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xxh32  # noqa: E402

BATCHTOOL = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "batchtool")

CODECS = {
    0: ("none", lambda: True),
    1: ("gzip", kcodec.has_gzip),
    2: ("snappy", kcodec.has_snappy),
    3: ("lz4", kcodec.has_lz4),
    4: ("zstd", kcodec.has_zstd),
}

passed = 0
failed = 0
skipped = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print("ok - " + what)
    else:
        failed += 1
        print("FAIL - " + what)


def skip(what):
    global skipped
    skipped += 1
    print("skip - " + what)


def tool(args, data):
    """Run batchtool; returns (stdout bytes, error text or None)."""
    p = subprocess.run([BATCHTOOL] + args, input=data, capture_output=True)
    if p.returncode != 0:
        return None, p.stderr.decode(errors="replace").strip()
    return p.stdout, None


def enc_bytes(b):
    return "-" if b is None else "x" + b.hex()


def dec_bytes(tok):
    return None if tok == "-" else bytes.fromhex(tok[1:])


# ------------------------------------------------------------------
# Record sets.  Header keys are ASCII because kafka-python decodes them
# as UTF-8 strings; everything else is arbitrary bytes.
# ------------------------------------------------------------------
def random_records(rng, n, max_value):
    words = [b"order ", b"created ", b"user ", b"42 ", b"{\"id\": ", b"} "]
    recs = []
    ts = 1700000000000
    for i in range(n):
        ts += rng.randint(-20, 100)
        key = None if rng.random() < 0.2 else bytes(
            rng.getrandbits(8) for _ in range(rng.randint(0, 24)))
        if rng.random() < 0.1:
            value = None
        else:
            size = rng.randint(0, max_value)
            if rng.random() < 0.5:
                value = b"".join(rng.choice(words) for _ in range(size // 6 + 1))[:size]
            else:
                value = bytes(rng.getrandbits(8) for _ in range(size))
        headers = []
        for j in range(rng.randint(0, 3)):
            hv = None if rng.random() < 0.25 else bytes(
                rng.getrandbits(8) for _ in range(rng.randint(0, 12)))
            headers.append(("h%d-%s" % (j, "x" * rng.randint(0, 5)), hv))
        recs.append((ts, key, value, headers))
    return recs


def fixed_records():
    return [
        (1700000000000, b"key-1", b"hello", []),
        (1700000000001, None, b"null key", []),
        (1700000000000, b"tombstone", None, []),
        (1699999999000, b"", b"", []),
        (1700000005000, b"\x00\x01\x02", b"\xff\xfe\x00\x00binary",
         [("content-type", b"text/plain"), ("null-value", None), ("", b""),
          ("bin", b"\x00\xff\x80\x7f\x00")]),
        (-1, None, None, [("a", None)]),
    ]


def compressible_records(n):
    # enough redundancy that kafka-python keeps the compression
    return [(1700000000000 + i, b"user-%d" % (i % 10),
             b"{\"event\": \"order created\", \"amount\": %d, \"currency\": \"EUR\"}" % i,
             [("trace", b"abc%d" % i)]) for i in range(n)]


def records_to_spec(recs):
    lines = []
    for ts, key, value, headers in recs:
        parts = [str(ts), enc_bytes(key), enc_bytes(value), str(len(headers))]
        for hk, hv in headers:
            parts += [enc_bytes(hk.encode()), enc_bytes(hv)]
        lines.append(" ".join(parts))
    return ("\n".join(lines) + "\n").encode()


def parse_decode_output(text):
    """batchtool decode output -> (header fields, [records])."""
    lines = text.decode().splitlines()
    head = lines[0].split()
    assert head[0] == "batch"
    records = []
    for line in lines[1:]:
        t = line.split()
        assert t[0] == "record"
        nh = int(t[5])
        hdrs = [(dec_bytes(t[6 + 2 * k]).decode(), dec_bytes(t[7 + 2 * k]))
                for k in range(nh)]
        records.append((int(t[1]), int(t[2]), dec_bytes(t[3]), dec_bytes(t[4]), hdrs))
    return [int(x) for x in head[1:]], records


# ------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------
def check_ours_read_by_kafka_python(codec, name, label, recs):
    batch, err = tool(["encode", str(codec)], records_to_spec(recs))
    if batch is None:
        check(False, "%s: nagare encodes %s (%s)" % (name, label, err))
        return
    try:
        b = DefaultRecordBatch(batch)
        crc_ok = b.validate_crc()
        got = [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in b]
        want = [(i, ts, k, v, list(h)) for i, (ts, k, v, h) in enumerate(recs)]
        ok = (crc_ok and b.compression_type == codec and b.base_offset == 0
              and b.last_offset_delta == len(recs) - 1 and got == want
              and b.first_timestamp == recs[0][0]
              and b.max_timestamp == max(r[0] for r in recs))
        check(ok, "%s: kafka-python reads nagare's batch of %s (%d bytes)"
              % (name, label, len(batch)))
    except Exception as e:  # a decoding error in kafka-python is a failure
        check(False, "%s: kafka-python reads nagare's batch of %s (%r)" % (name, label, e))


def check_kafka_python_read_by_ours(codec, name, label, recs, base_offset=0):
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=codec, is_transactional=0, producer_id=-1,
        producer_epoch=-1, base_sequence=-1, batch_size=1 << 30)
    for i, (ts, key, value, headers) in enumerate(recs):
        builder.append(i, timestamp=ts, key=key, value=value, headers=headers)
    batch = bytearray(builder.build())
    batch[0:8] = base_offset.to_bytes(8, "big", signed=True)
    actual_codec = batch[22] & 7
    out, err = tool(["decode"], bytes(batch))
    if out is None:
        check(False, "%s: nagare reads kafka-python's batch of %s (%s)" % (name, label, err))
        return
    head, got = parse_decode_output(out)
    want = [(base_offset + i, ts, k, v, list(h)) for i, (ts, k, v, h) in enumerate(recs)]
    ok = (got == want and head[0] == base_offset and head[2] == len(recs)
          and actual_codec == codec)
    check(ok, "%s: nagare reads kafka-python's batch of %s (%d bytes%s)"
          % (name, label, len(batch),
             "" if actual_codec == codec else ", builder fell back to uncompressed"))


def check_raw_codec(codec, name, rng):
    encoders = {1: kcodec.gzip_encode, 2: kcodec.snappy_encode,
                3: kcodec.lz4_encode, 4: kcodec.zstd_encode}
    decoders = {1: kcodec.gzip_decode, 2: kcodec.snappy_decode,
                3: kcodec.lz4_decode, 4: kcodec.zstd_decode}
    payloads = [b"x", bytes(rng.getrandbits(8) for _ in range(1000)),
                b"kafka nagare postgres " * 20000,          # 440 KB, many blocks
                bytes(rng.getrandbits(8) for _ in range(200000))]
    ok_ours = ok_theirs = True
    for data in payloads:
        comp, err = tool(["compress", str(codec)], data)
        if comp is None or bytes(decoders[codec](comp)) != data:
            ok_ours = False
        out, err = tool(["decompress", str(codec)], bytes(encoders[codec](data)))
        if out != data:
            ok_theirs = False
    check(ok_ours, "%s: kafka-python decompresses nagare's output (1 B .. 440 KB)" % name)
    check(ok_theirs, "%s: nagare decompresses kafka-python's output (1 B .. 440 KB)" % name)


def check_foreign_framings(rng):
    data = b"kafka nagare postgres " * 5000 + bytes(rng.getrandbits(8) for _ in range(5000))

    def ours(codec, comp):
        out, err = tool(["decompress", str(codec)], comp)
        return out == data

    two = gzip.compress(data[:50000]) + gzip.compress(data[50000:])
    check(ours(1, two), "gzip: two concatenated members (Python gzip)")
    if kcodec.has_snappy():
        import snappy
        check(ours(2, snappy.compress(data)), "snappy: raw block, as librdkafka writes")
        check(ours(2, kcodec.snappy_encode(data, xerial_blocksize=4096)),
              "snappy: xerial framing with 4 KiB chunks")
    else:
        skip("snappy framings: python3-snappy not installed")
    if kcodec.has_lz4():
        import lz4.frame as lz4f
        variants = [
            dict(block_linked=False),
            dict(block_linked=True),
            dict(content_checksum=True, block_checksum=True),
            dict(store_size=False),
            dict(block_size=lz4f.BLOCKSIZE_MAX4MB, compression_level=9),
        ]
        ok = all(ours(3, lz4f.compress(data, **v)) for v in variants)
        check(ok, "lz4: python-lz4 frames (linked, checksums, no content size, 4 MiB blocks, HC)")
    else:
        skip("lz4 framings: python3-lz4 not installed")
    if kcodec.has_zstd():
        import zstandard
        c = zstandard.ZstdCompressor(write_content_size=False, write_checksum=True)
        check(ours(4, c.compress(data)), "zstd: frame without content size, with checksum")
        stream = zstandard.ZstdCompressor().compressobj()
        framed = stream.compress(data) + stream.flush()
        check(ours(4, framed), "zstd: streaming compressor frame (as zstd-jni writes)")
    else:
        skip("zstd framings: python3-zstandard not installed")


def check_murmur2(rng):
    keys = [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
            for _ in range(10000)]
    keys += [b"", b"a", b"ab", b"abc", b"abcd", b"\xff" * 7]
    parts = 37
    out, err = tool(["murmur2", str(parts)],
                    ("\n".join("x" + k.hex() for k in keys) + "\n").encode())
    if out is None:
        check(False, "murmur2: batchtool failed (%s)" % err)
        return
    lines = out.decode().splitlines()
    mism = 0
    for k, line in zip(keys, lines):
        h, p = (int(x) for x in line.split())
        ref = murmur2(k)  # unsigned 32-bit in kafka-python
        ref_signed = ref - (1 << 32) if ref >= (1 << 31) else ref
        if h != ref_signed or p != (ref & 0x7FFFFFFF) % parts:
            mism += 1
    check(len(lines) == len(keys) and mism == 0,
          "murmur2: hash and partition (of %d) agree on %d keys" % (parts, len(keys)))


# ------------------------------------------------------------------
# Legacy message sets (magic 0 and 1) -> RecordBatch v2
# ------------------------------------------------------------------
def legacy_build(magic, codec, recs):
    b = LegacyRecordBatchBuilder(magic=magic, compression_type=codec, batch_size=1 << 30)
    for i, (ts, key, value) in enumerate(recs):
        b.append(i, timestamp=ts, key=key, value=value)
    return bytes(b.build())


def legacy_read_kafka_python(data):
    """kafka-python's reading of a message set: [(timestamp, key, value)]."""
    out = []
    mr = MemoryRecords(data)
    while mr.has_next():
        batch = mr.next_batch()
        for r in batch:
            out.append((-1 if r.timestamp is None else r.timestamp, r.key, r.value))
    return out


def legacy_msg(offset, magic, attributes, timestamp, key, value):
    """One legacy message, written here (for sets kafka-python cannot build)."""
    def nb(b):
        return struct.pack(">i", -1) if b is None else struct.pack(">i", len(b)) + b
    body = struct.pack(">bb", magic, attributes)
    if magic == 1:
        body += struct.pack(">q", timestamp)
    body += nb(key) + nb(value)
    return struct.pack(">qiI", offset, len(body) + 4, calc_crc32(body)) + body


def legacy_refix(msg):
    """Recompute the CRC of the message at the start of msg (bytes)."""
    b = bytearray(msg)
    size = struct.unpack_from(">i", b, 8)[0]
    struct.pack_into(">I", b, 12, calc_crc32(bytes(b[16:12 + size])))
    return bytes(b)


def legacy_convert(data):
    """batchtool legacy: (batch bytes, count, max_timestamp) or (None, err)."""
    p = subprocess.run([BATCHTOOL, "legacy"], input=data, capture_output=True)
    if p.returncode != 0:
        return None, p.stderr.decode(errors="replace").strip()
    info = p.stderr.decode().split()
    return (p.stdout, int(info[1]), int(info[2])), None


def check_legacy_set(name, label, data, codec, want=None):
    got, err = legacy_convert(data)
    if got is None:
        check(False, "legacy %s: %s (%s)" % (name, label, err))
        return
    batch, count, max_ts = got
    if want is None:
        want = legacy_read_kafka_python(data)
    try:
        b = DefaultRecordBatch(batch)
        crc_ok = b.validate_crc()  # kafka-python wants it before iterating
        recs = [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in b]
        exp = [(i, ts, k, v, []) for i, (ts, k, v) in enumerate(want)]
        ok = (crc_ok and b.compression_type == codec and b.base_offset == 0
              and b.last_offset_delta == len(want) - 1
              and b.timestamp_type == 0 and not b.is_transactional and recs == exp and count == len(want)
              and b.first_timestamp == want[0][0]
              and b.max_timestamp == max_ts == max(w[0] for w in want))
        check(ok, "legacy %s: kafka-python reads nagare's conversion of %s (%d messages)"
              % (name, label, len(want)))
    except Exception as e:
        check(False, "legacy %s: kafka-python reads nagare's conversion of %s (%r)"
              % (name, label, e))


def check_legacy_error(label, data, want_err):
    got, err = legacy_convert(data)
    check(got is None and err == "error: legacy: " + want_err,
          "legacy: %s gives \"%s\" (%s)" % (label, want_err, err or "converted"))


def check_legacy(rng):
    how = xxh32.ensure_kafka_python_xxhash()
    codecs = [(0, "none", True), (1, "gzip", True), (2, "snappy", kcodec.has_snappy()),
              (3, "lz4", kcodec.has_lz4())]
    fixed = [(1700000000000, b"key-1", b"hello"), (1700000000001, None, b"null key"),
             (1699999999000, b"tombstone", None), (1700000000000, b"", b""),
             (-1, None, None), (1700000005000, b"\x00\x01", b"\xff\xfe\x00binary")]
    for magic in (0, 1):
        sets = [("fixed set (nulls, empties, binary)", fixed),
                ("1 random record", [r[:3] for r in random_records(rng, 1, 300)]),
                ("1000 random records", [r[:3] for r in random_records(rng, 1000, 300)]),
                ("20 records with 40 KB values", [r[:3] for r in random_records(rng, 20, 40000)])]
        for codec, cname, available in codecs:
            name = "magic %d %s" % (magic, cname)
            if not available:
                skip("legacy %s: Python module not installed" % name)
                continue
            for label, recs in sets:
                if magic == 0:
                    recs = [(-1, k, v) for _, k, v in recs]
                label2 = label + (" (KAFKA-3160 header checksum, %s)" % how
                                  if magic == 0 and codec == 3 else "")
                data = legacy_build(magic, codec, recs)
                check_legacy_set(name, label2, data, codec)
                if magic == 0 and codec == 3 and label.startswith("fixed"):
                    # the frame's header checksum is KAFKA-3160's: plain lz4 refuses it
                    value = data[26:]  # null key: Offset, Size, Crc, Magic, Attr, -1, length
                    ours, err = tool(["decompress", "lz4"], value)
                    hc_ok = xxh32.xxh32_int(value[4:6]) >> 8 & 0xff == value[6]
                    check(ours is None and not hc_ok and
                          xxh32.xxh32_int(value[0:6]) >> 8 & 0xff == value[6],
                          "legacy magic 0 lz4: kafka-python's frame has the KAFKA-3160 "
                          "header checksum, which a v2 batch's lz4 would refuse")
                # independent of kafka-python's reader: what was appended
                if label.startswith("fixed"):
                    check_legacy_set(name, label + " vs the appended records", data, codec,
                                     want=recs)

    # LogAppendTime wrapper: kafka-python and nagare give every record its time
    recs = [(1700000000000 + i, b"k%d" % i, b"v%d" % i) for i in range(5)]
    w = bytearray(legacy_build(1, 1, recs))
    w[17] |= 0x08
    struct.pack_into(">q", w, 18, 1711111111111)
    data = legacy_refix(bytes(w))
    check_legacy_set("magic 1 gzip", "a LogAppendTime wrapper", data, 1,
                     want=[(1711111111111, k, v) for _, k, v in recs])
    check(legacy_read_kafka_python(data)[0][0] == 1711111111111,
          "legacy: kafka-python also reads the LogAppendTime wrapper's timestamp")
    # librdkafka's wrapper offset 0, and the Java client's n-1
    check_legacy_set("magic 1 gzip", "wrapper offset 4 (Java)",
                     legacy_refix(struct.pack(">q", 4) + bytes(w[8:])), 1,
                     want=[(1711111111111, k, v) for _, k, v in recs])

    # damaged sets
    good = legacy_build(1, 0, recs)
    bad = bytearray(good)
    bad[-1] ^= 1
    check_legacy_error("a flipped value bit", bytes(bad), "CRC mismatch")
    check_legacy_error("a set cut in its last message", good[:-3], "truncated data")
    gz = legacy_build(1, 1, recs)
    check_legacy_error("a gzip wrapper cut short", gz[:-1], "truncated data")
    inner = bytearray(legacy_build(1, 0, recs))
    inner[30] ^= 4
    check_legacy_error("a bad inner CRC",
                       legacy_msg(4, 1, 1, 0, None, kcodec.gzip_encode(bytes(inner))),
                       "CRC mismatch")
    check_legacy_error("nested gzip",
                       legacy_msg(0, 1, 1, 0, None, kcodec.gzip_encode(gz)), "invalid record")
    zstd = bytearray(gz)
    zstd[17] = (zstd[17] & ~7) | 4
    check_legacy_error("codec 4 (zstd) in a magic 1 message", legacy_refix(bytes(zstd)),
                       "unsupported compression codec")
    zstd[17] |= 7
    check_legacy_error("codec 7", legacy_refix(bytes(zstd)), "unsupported compression codec")
    check_legacy_error("magic 0 and magic 1 messages in one set",
                       legacy_build(0, 0, recs[:2]) + good, "invalid record")
    check_legacy_error("a gzip wrapper followed by a message", gz + good, "invalid record")
    check_legacy_error("a gzip wrapper with a null value", legacy_msg(0, 1, 1, 0, None, None),
                       "invalid record")
    check_legacy_error("a magic 0 message in a magic 1 wrapper",
                       legacy_msg(0, 1, 1, 0, None,
                                  kcodec.gzip_encode(legacy_build(0, 0, recs))),
                       "invalid record")
    check_legacy_error("an empty set", b"", "invalid record")
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=0,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                        batch_size=1 << 20)
    builder.append(0, timestamp=1, key=None, value=b"v", headers=[])
    check_legacy_error("a RecordBatch v2", bytes(builder.build()),
                       "unsupported message format (magic byte is not 2)")


def main():
    rng = random.Random(20240601)
    check(os.access(BATCHTOOL, os.X_OK), "batchtool found at %s" % BATCHTOOL)

    check_murmur2(rng)

    sets = [
        ("fixed set (nulls, empties, binary, headers)", fixed_records()),
        ("1 random record", random_records(rng, 1, 300)),
        ("1000 random records", random_records(rng, 1000, 300)),
        ("20 records with 40 KB values", random_records(rng, 20, 40000)),
    ]
    for codec, (name, available) in CODECS.items():
        if not available():
            skip("%s: Python module not installed (see the docstring)" % name)
            continue
        for label, recs in sets:
            check_ours_read_by_kafka_python(codec, name, label, recs)
        # kafka-python's builder gives up compression that does not pay off,
        # so feed it compressible records to exercise the codec
        for label, recs in [("fixed set", fixed_records()),
                            ("500 compressible records", compressible_records(500)),
                            ("1000 random records", random_records(rng, 1000, 300))]:
            if codec != 0 and label == "fixed set":
                continue
            check_kafka_python_read_by_ours(codec, name, label, recs,
                                            base_offset=rng.randint(0, 1 << 40))
        if codec != 0:
            check_raw_codec(codec, name, rng)

    check_foreign_framings(rng)
    check_legacy(rng)

    print("%d passed, %d failed%s" % (passed, failed,
                                       ", %d skipped" % skipped if skipped else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
