#!/usr/bin/python3
"""Regenerate the seed corpora under test/fuzz/corpus/.

Run from test/fuzz (make corpus does): needs ../codec/batchtool (make -C
../codec batchtool) and kafka-python with python3-snappy, python3-lz4 and
python3-zstandard for the foreign-producer seeds; seeds whose module is
missing are left out with a note.

corpus/fuzz_record_batch/
    nagare-<codec>-<n>r.bin       batches from batchtool encode (1, 3, 20 records)
    kpy-<codec>-<what>.bin        batches from kafka-python's builder
    edge-*.bin                    empty, compacted, control, LogAppendTime,
                                  transactional batches (CRC-valid)
    bad-*.bin                     truncated and bit-flipped batches
corpus/fuzz_decompress/
    <codec>-<source>-<what>.bin   byte 0 codec, byte 1 cap selector (10 =
                                  1 MiB, 0 = 1 KiB), then compressed data
corpus/fuzz_legacy/
    kpy-m<magic>-<codec>-<what>.bin  byte 0 = 0 (as is), then a message set
                                  from kafka-python's LegacyRecordBatchBuilder
    wrap-*.bin                    byte 0 selects a wrapper built by the
                                  harness (see fuzz_legacy.c), then the
                                  inner set
    edge-*.bin, bad-*.bin         LogAppendTime, wrapper offsets, KAFKA-3160
                                  lz4; truncated, flipped, nested, mixed
                                  magics, a v2 batch
The files are small; the whole corpus stays well under 1 MiB.
"""

import gzip
import os
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BATCHTOOL = os.path.join(HERE, "..", "codec", "batchtool")
NAMES = ["none", "gzip", "snappy", "lz4", "zstd"]

try:
    from kafka import codec as kcodec
    from kafka.record.default_records import DefaultRecordBatchBuilder
    from kafka.record.util import calc_crc32c
except ImportError:
    kcodec = None


def tool(args, data=b""):
    return subprocess.run([BATCHTOOL] + args, input=data, check=True,
                          capture_output=True).stdout


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def crc32c(data):
    if kcodec is not None:
        return calc_crc32c(data)
    raise SystemExit("kafka-python is needed for the CRC of edge-case batches")


def refix(batch):
    """Recompute BatchLength and CRC of a batch edited here."""
    b = bytearray(batch)
    struct.pack_into(">i", b, 8, len(b) - 12)
    struct.pack_into(">I", b, 17, crc32c(bytes(b[21:])))
    return bytes(b)


def record(ts_delta, off_delta, key, value, headers=()):
    def varint(v):
        v = (v << 1) ^ (v >> 63)
        out = bytearray()
        while v >= 0x80:
            out.append((v & 0x7f) | 0x80)
            v >>= 7
        out.append(v)
        return bytes(out)

    def nbytes(b):
        return varint(-1) if b is None else varint(len(b)) + b

    body = b"\x00" + varint(ts_delta) + varint(off_delta) + nbytes(key) + nbytes(value)
    body += varint(len(headers)) + b"".join(nbytes(k) + nbytes(v) for k, v in headers)
    return varint(len(body)) + body


def raw_batch(records, count, last_delta, attributes=0, producer_id=-1,
              producer_epoch=-1, base_sequence=-1, base_offset=0):
    head = struct.pack(">qiibIhiqqqhii", base_offset, 0, 0, 2, 0, attributes,
                       last_delta, 1700000000000, 1700000009999, producer_id,
                       producer_epoch, base_sequence, count)
    return refix(head + b"".join(records))


def record_batch_corpus():
    t = "fuzz_record_batch"
    for codec, name in enumerate(NAMES):
        for n, seed in ((1, 1), (3, 2), (20, 3)):
            write(t, "nagare-%s-%dr.bin" % (name, n), tool(["encode", str(codec), str(n), str(seed)]))

    if kcodec is not None:
        have = [True, True, kcodec.has_snappy(), kcodec.has_lz4(), kcodec.has_zstd()]
        for codec, name in enumerate(NAMES):
            if not have[codec]:
                print("skipping kafka-python %s seeds: module missing" % name)
                continue
            for what, recs in (
                    ("mixed", [(1700000000000, b"k", b"v" * 50, [("h", b"x"), ("n", None)]),
                               (1700000000005, None, None, []),
                               (1700000000002, b"", b"", [])]),
                    ("30r", [(1700000000000 + i, b"user-%d" % (i % 5),
                              b"{\"n\": %d, \"pad\": \"aaaaaaaaaaaaaaaaaaaa\"}" % i,
                              [("trace", b"t%d" % i)]) for i in range(30)])):
                b = DefaultRecordBatchBuilder(magic=2, compression_type=codec,
                                              is_transactional=0, producer_id=-1,
                                              producer_epoch=-1, base_sequence=-1,
                                              batch_size=1 << 20)
                for i, (ts, k, v, h) in enumerate(recs):
                    b.append(i, timestamp=ts, key=k, value=v, headers=h)
                write(t, "kpy-%s-%s.bin" % (name, what), bytes(b.build()))

    r0 = record(0, 0, b"a", b"first")
    r5 = record(3, 5, b"b", b"second", [(b"h", None)])
    write(t, "edge-empty.bin", raw_batch([], 0, 4))
    write(t, "edge-compacted.bin", raw_batch([r0, r5], 2, 9))
    # control record: key = version 0, type 1 (COMMIT); value = version 0, coordinator epoch 0
    ctrl = record(0, 0, struct.pack(">hh", 0, 1), struct.pack(">hi", 0, 0))
    write(t, "edge-control-commit.bin",
          raw_batch([ctrl], 1, 0, attributes=0x30, producer_id=4000, producer_epoch=0))
    write(t, "edge-log-append-time.bin", raw_batch([r0], 1, 0, attributes=0x08))
    write(t, "edge-transactional.bin",
          raw_batch([r0, record(1, 1, None, b"x")], 2, 1, attributes=0x10,
                    producer_id=7, producer_epoch=3, base_sequence=100))
    write(t, "edge-many-headers.bin",
          raw_batch([record(0, 0, None, b"", [(b"k%d" % i, b"v" if i % 2 else None)
                                               for i in range(40)])], 1, 0))
    write(t, "edge-big-offsets.bin",
          raw_batch([r0], 1, 0, base_offset=(1 << 63) - 1))

    good = tool(["encode", "none", "5", "9"])
    write(t, "bad-truncated-header.bin", good[:40])
    write(t, "bad-truncated-records.bin", good[:len(good) // 2])
    write(t, "bad-truncated-fixed.bin", refix(good[:len(good) // 2]))
    flipped = bytearray(good)
    flipped[70] ^= 0x04
    write(t, "bad-bitflip.bin", bytes(flipped))
    write(t, "bad-magic1.bin", good[:16] + b"\x01" + good[17:])
    write(t, "bad-trailing.bin", refix(good + b"\x00"))
    zgood = tool(["encode", "zstd", "5", "9"])
    write(t, "bad-zstd-truncated-fixed.bin", refix(zgood[:len(zgood) - 3]))


def decompress_corpus():
    t = "fuzz_decompress"
    texts = [b"a", b"kafka nagare postgres " * 200,
             (b"{\"id\": 1, \"event\": \"created\"} " * 2000)[:65537]]
    for codec, name in enumerate(NAMES):
        for i, text in enumerate(texts):
            comp = tool(["compress", str(codec)], text)
            write(t, "%s-nagare-%d.bin" % (name, i), bytes([codec, 10]) + comp)
        comp = tool(["compress", str(codec)], texts[1])
        write(t, "%s-nagare-smallcap.bin" % name, bytes([codec, 0]) + comp)

    data = b"kafka nagare postgres " * 300
    write(t, "gzip-python-2members.bin",
          bytes([1, 10]) + gzip.compress(data[:3000]) + gzip.compress(data[3000:]))
    if kcodec is None:
        return
    if kcodec.has_snappy():
        import snappy
        write(t, "snappy-raw.bin", bytes([2, 10]) + snappy.compress(data))
        write(t, "snappy-xerial-1k.bin",
              bytes([2, 10]) + kcodec.snappy_encode(data, xerial_blocksize=1024))
    if kcodec.has_lz4():
        import lz4.frame as lz4f
        write(t, "lz4-python-default.bin", bytes([3, 10]) + lz4f.compress(data))
        # liblz4 marks single-block frames independent: link needs > 64 KiB
        write(t, "lz4-python-linked-checksums.bin", bytes([3, 10]) + lz4f.compress(
            data * 30, block_linked=True, content_checksum=True, block_checksum=True))
        write(t, "lz4-python-4mb-hc.bin", bytes([3, 10]) + lz4f.compress(
            data, block_size=lz4f.BLOCKSIZE_MAX4MB, compression_level=9, store_size=False))
    if kcodec.has_zstd():
        import zstandard
        write(t, "zstd-python-nosize.bin", bytes([4, 10]) + zstandard.ZstdCompressor(
            write_content_size=False, write_checksum=True).compress(data))
        s = zstandard.ZstdCompressor().compressobj()
        write(t, "zstd-python-stream.bin", bytes([4, 10]) + s.compress(data) + s.flush())


def legacy_msg(offset, magic, attributes, timestamp, key, value):
    """One legacy message (magic 0 or 1) with its CRC-32."""
    import zlib

    def nb(b):
        return struct.pack(">i", -1) if b is None else struct.pack(">i", len(b)) + b
    body = struct.pack(">BB", magic, attributes)
    if magic == 1:
        body += struct.pack(">q", timestamp)
    body += nb(key) + nb(value)
    return struct.pack(">qiI", offset, len(body) + 4, zlib.crc32(body)) + body


def legacy_corpus():
    t = "fuzz_legacy"
    recs3 = [(1700000000000, b"k", b"v" * 50), (1700000000005, None, None),
             (1700000000002, b"", b"")]
    recs20 = [(1700000000000 + i, b"user-%d" % (i % 5),
               b"{\"n\": %d, \"pad\": \"aaaaaaaaaaaaaaaaaaaa\"}" % i) for i in range(20)]
    plain = {}
    for magic in (0, 1):
        for what, recs in (("3r", recs3), ("20r", recs20)):
            plain[(magic, what)] = b"".join(
                legacy_msg(i, magic, 0, ts, k, v) for i, (ts, k, v) in enumerate(recs))
            write(t, "plain-m%d-%s.bin" % (magic, what), b"\x00" + plain[(magic, what)])
            # wrappers built by the harness: gzip, snappy, lz4
            for c, name in ((0, "gzip"), (1, "snappy"), (2, "lz4")):
                ctl = 2 | c << 2 | magic << 4
                write(t, "wrap-m%d-%s-%s.bin" % (magic, name, what),
                      bytes([ctl]) + plain[(magic, what)])

    if kcodec is not None:
        from kafka.record.legacy_records import LegacyRecordBatchBuilder
        sys.path.insert(0, os.path.join(HERE, "..", "codec"))
        import xxh32
        xxh32.ensure_kafka_python_xxhash()
        have = [True, True, kcodec.has_snappy(), kcodec.has_lz4()]
        for magic in (0, 1):
            for codec in range(4):
                if not have[codec]:
                    print("skipping kafka-python legacy %s seeds: module missing" % NAMES[codec])
                    continue
                b = LegacyRecordBatchBuilder(magic=magic, compression_type=codec,
                                             batch_size=1 << 20)
                for i, (ts, k, v) in enumerate(recs20):
                    b.append(i, timestamp=ts, key=k, value=v)
                write(t, "kpy-m%d-%s-20r.bin" % (magic, NAMES[codec]), b"\x00" + bytes(b.build()))

    p1 = plain[(1, "3r")]
    write(t, "edge-log-append-time.bin", bytes([2 | 0 << 2 | 1 << 4 | 0x20]) + p1)
    write(t, "edge-lz4-kafka3160.bin", bytes([2 | 2 << 2 | 0 << 4 | 0x40]) + plain[(0, "3r")])
    write(t, "edge-lz4-kafka3160-magic1.bin", bytes([2 | 2 << 2 | 1 << 4 | 0x40]) + p1)
    write(t, "edge-wrapper-offset.bin", bytes([2 | 1 << 4 | 0x80]) + p1)
    write(t, "edge-attr-bits.bin", b"\x00" + legacy_msg(0, 1, 0xf0, 5, b"k", b"v"))
    write(t, "bad-truncated.bin", b"\x00" + p1[:-3])
    write(t, "bad-truncated-fixcrc.bin", b"\x01" + p1[:-3])
    flipped = bytearray(p1)
    flipped[40] ^= 0x10
    write(t, "bad-flipped.bin", b"\x00" + bytes(flipped))
    write(t, "bad-mixed-magic.bin", b"\x00" + plain[(0, "3r")] + p1)
    gz = legacy_msg(2, 1, 1, 0, None, gzip.compress(p1, mtime=0))
    write(t, "bad-nested.bin", b"\x02" + gz)
    write(t, "bad-wrapper-then-message.bin", b"\x01" + gz + p1)
    write(t, "bad-wrapper-offset.bin", b"\x00" + legacy_msg(1, 1, 1, 0, None, gzip.compress(p1, mtime=0)))
    write(t, "bad-null-wrapper.bin", b"\x00" + legacy_msg(0, 1, 2, 0, None, None))
    write(t, "bad-zstd-codec.bin", b"\x00" + legacy_msg(0, 1, 4, 0, None, b"x" * 20))
    write(t, "bad-v2-batch.bin", b"\x00" + tool(["encode", "none", "3", "5"]))
    write(t, "bad-size-small.bin", b"\x01" + struct.pack(">qi", 0, 13) + b"\x00" * 13)


def main():
    if not os.access(BATCHTOOL, os.X_OK):
        raise SystemExit("build ../codec/batchtool first (make -C ../codec batchtool)")
    record_batch_corpus()
    decompress_corpus()
    legacy_corpus()


if __name__ == "__main__":
    main()
