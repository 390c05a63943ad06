"""XXH32 in pure Python, standing in for the xxhash module.

kafka-python 2.0.2 needs the `xxhash` module (Debian: python3-xxhash) only
for kafka.codec.lz4_encode_old_kafka, the LZ4 framing of magic 0 messages
with Kafka's wrong header checksum (KAFKA-3160), which
LegacyRecordBatchBuilder(magic=0, compression_type=lz4) uses.  When the
module is missing, ensure_kafka_python_xxhash() installs this one in its
place, so kafka-python's own code still writes those frames.

The algorithm is the reference one (github.com/Cyan4973/xxHash); it is
checked against a published vector on import.

test/codec/xxh32.py
"""

import struct

P1, P2, P3, P4, P5 = 0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1
M = 0xFFFFFFFF


def _rotl(x, r):
    return ((x << r) | (x >> (32 - r))) & M


def _round(acc, lane):
    return (_rotl((acc + lane * P2) & M, 13) * P1) & M


def xxh32_int(data, seed=0):
    data = bytes(data)
    n = len(data)
    p = 0
    if n >= 16:
        v = [(seed + P1 + P2) & M, (seed + P2) & M, seed & M, (seed - P1) & M]
        while p <= n - 16:
            lanes = struct.unpack_from("<4I", data, p)
            v = [_round(v[i], lanes[i]) for i in range(4)]
            p += 16
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & M
    else:
        h = (seed + P5) & M
    h = (h + n) & M
    while p + 4 <= n:
        h = (h + struct.unpack_from("<I", data, p)[0] * P3) & M
        h = (_rotl(h, 17) * P4) & M
        p += 4
    while p < n:
        h = (h + data[p] * P5) & M
        h = (_rotl(h, 11) * P1) & M
        p += 1
    h ^= h >> 15
    h = (h * P2) & M
    h ^= h >> 13
    h = (h * P3) & M
    h ^= h >> 16
    return h


class xxh32(object):
    """The subset of xxhash.xxh32 kafka-python uses: digest() (big-endian)."""

    def __init__(self, data=b"", seed=0):
        self._data = bytes(data)
        self._seed = seed

    def intdigest(self):
        return xxh32_int(self._data, self._seed)

    def digest(self):
        return struct.pack(">I", self.intdigest())


assert xxh32_int(b"") == 0x02CC5D05


def ensure_kafka_python_xxhash():
    """Give kafka.codec an xxhash if it has none; returns a description."""
    from kafka import codec
    if codec.xxhash is not None:
        return "xxhash module"

    class _Module(object):
        pass
    mod = _Module()
    mod.xxh32 = xxh32
    codec.xxhash = mod
    return "pure-Python XXH32 (no xxhash module)"
