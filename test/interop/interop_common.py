"""Shared helpers of the Python interop clients (confluent.py, kafka_python.py,
kcat.py) and the ApiVersions probe.

Every client script is called as

    CLIENT.py HOST:PORT COMMAND ARGS

where ARGS is a JSON object, or "@FILE" naming a file that holds one (record
sets can be megabytes).  The script prints one JSON object on stdout as its
result and exits 0; it exits 1 with a message on stderr when the client did
something the test did not expect (an exception, a timeout).  Errors the test
asks for (a record too large, an offset out of range) are part of the
result, by Kafka error name, not failures.

Records travel as JSON objects with binary fields in hex:
    {"k": hex or null, "v": hex or null, "h": [[name, hex or null], ...],
     "ts": milliseconds or null}
and consumed records add "offset" (and "p", the partition).
"""
import json
import sys
import time


def unhex(s):
    return None if s is None else bytes.fromhex(s)


def tohex(b):
    if b is None:
        return None
    if isinstance(b, str):
        b = b.encode()
    return bytes(b).hex()


def parse_args(usage):
    if len(sys.argv) != 4:
        sys.stderr.write("usage: %s HOST:PORT COMMAND JSON|@FILE\n%s\n" % (sys.argv[0], usage))
        sys.exit(2)
    boot, cmd, arg = sys.argv[1], sys.argv[2], sys.argv[3]
    if arg.startswith("@"):
        with open(arg[1:], "r") as f:
            args = json.load(f)
    else:
        args = json.loads(arg)
    return boot, cmd, args


def records_of(args):
    """The records to produce: args["records"], or args["gen"] =
    {"count": N, "prefix": "x"} for N small records "x-0", "x-1"..."""
    if "gen" in args:
        g = args["gen"]
        return [{"k": None, "v": tohex("%s-%d" % (g["prefix"], i)), "h": [], "ts": None}
                for i in range(g["count"])]
    return args["records"]


def done(result):
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()
    sys.exit(0)


def fail(msg):
    sys.stderr.write("%s: %s\n" % (sys.argv[0], msg))
    sys.stderr.flush()
    sys.exit(1)


def emit(obj):
    """One JSON line now (for long-running commands watched across a restart)."""
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def deadline(seconds):
    end = time.monotonic() + seconds
    return lambda: time.monotonic() >= end
