#!/usr/bin/python3
#-------------------------------------------------------------------------
#
# make_corpus.py
#	  Write the seed corpus of fuzz_request: valid requests (header + body,
#	  no Size) for every supported API and version.
#
#	- from nagare's test encoder (proto_helper encode-request): two random
#	  requests and one with minimal values per API and version;
#	- from kafka-python 2.0.2 (if importable), for the versions it has:
#	  two random requests each, as crosscheck.py makes them;
#	- a few hand-made edge cases (KIP-511 ApiVersions v4, an unknown API,
#	  an unsupported one, a truncated JoinGroup).
#
# Usage: make_corpus.py ./proto_helper corpus
#
# test/proto/make_corpus.py
#
#-------------------------------------------------------------------------

import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_messages import api_ranges  # noqa: E402  (name, key, min, max)


def main():
    helper, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    files = {}

    p = subprocess.Popen([helper], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    cmds = []
    for _, key, lo, hi in api_ranges():
        for v in range(lo, hi + 1):
            for seed, minimal in ((1, 0), (2, 0), (3, 1)):
                cmds.append((key, v, seed, minimal))
    out, _ = p.communicate("".join("encode-request %d %d %d %d\n" % c for c in cmds))
    lines = out.split("\n")
    for i, (key, v, seed, minimal) in enumerate(cmds):
        hexdata = lines[2 * i]
        if hexdata.startswith("error"):
            sys.exit("proto_helper: %s for api %d v%d" % (hexdata, key, v))
        files["nagare_k%02d_v%02d_%s%d" % (key, v, "min" if minimal else "rnd", seed)] = \
            bytes.fromhex(hexdata)

    try:
        import crosscheck
        from kafka.protocol.api import RequestHeader
    except ImportError:
        crosscheck = None
        print("make_corpus.py: kafka-python not importable, nagare encodings only")
    if crosscheck:
        for name, key, vmin, vmax, reqs, _ in crosscheck.APIS:
            jreq = crosscheck.load_json(name + "Request")
            for v in range(vmin, min(vmax, len(reqs) - 1) + 1):
                cls = reqs[v]
                crosscheck.fix_string_classes(cls.SCHEMA)
                try:
                    descs = crosscheck.pair(cls.SCHEMA, jreq["fields"], v, name)
                except crosscheck.Mismatch:
                    continue
                rng = random.Random(key * 100 + v)
                for n in range(2):
                    req = cls(*crosscheck.rand_struct(rng, descs, v))
                    hdr = RequestHeader(req, correlation_id=n, client_id="kafka-python-2.0.2")
                    files["kpy_k%02d_v%02d_%d" % (key, v, n)] = hdr.encode() + req.encode()

    # ApiVersions v4 (unsupported: KIP-511), an unknown API key, a known key
    # the codec lacks (EndTxn), a JoinGroup v2 cut after its GroupId
    files["edge_apiversions_v4"] = bytes.fromhex("001200040000000700036b637400") + \
        bytes.fromhex("066b6361740631") + b"\x00"
    files["edge_unknown_api"] = bytes.fromhex("00ff0000000000010000")
    files["edge_endtxn_v1"] = bytes.fromhex("001a0001000000010000") + b"\x00\x01t"
    files["edge_joingroup_v2"] = bytes.fromhex("000b0002000000010000") + b"\x00\x01g"

    for name, data in sorted(files.items()):
        with open(os.path.join(outdir, name), "wb") as fh:
            fh.write(data)
    print("make_corpus.py: %d files in %s" % (len(files), outdir))


if __name__ == "__main__":
    main()
