"""Shared helpers of the consumer group members (groups_confluent.py,
groups_kafka_python.py) for test/t/110_consumer_groups.pl and
test/t/115_group_crash.pl.

A member is called as

    groups_CLIENT.py HOST:PORT member JSON|@FILE

and runs until SIGTERM (then it closes its consumer, which leaves the
group, and exits 0), SIGKILL, or the end of its "seconds".  It appends one
JSON object per line to the file args["events"], flushed at once, so that
a test can read what it did while it runs and after it was killed:

  {"ev": "start", "pid", "client"}
  {"ev": "assigned", "parts": [p, ...], "gen": n|null}   the whole new assignment
  {"ev": "revoked", "parts": [...]}
  {"ev": "rec", "p", "o", "v"}                            a record, processed
  {"ev": "commit_sent", "offsets": {"p": next offset}}    a synchronous commit...
  {"ev": "commit_ok", "offsets": {...}}                   ...acknowledged
  {"ev": "commit_err", "offsets": {...}, "error": NAME}   ...refused or failed
  {"ev": "error", "error": text}                          the client reported one
  {"ev": "closed"}                                        after a clean close
  (Node members: {"ev": "rebalancing"} when kafkajs learns of a rebalance,
  {"ev": "crashed", "type": NAME} when kafkajs gives up, e.g. on
  INCONSISTENT_GROUP_PROTOCOL.)

Every line has "t", the wall clock in seconds (float): events of different
processes on one machine are ordered by it.

Arguments (JSON): group topic events [client_id session_timeout_ms
heartbeat_ms max_poll_ms assignors commit("batch"|"revoke"|"none") batch
delay_ms seconds instance_id].  commit "batch": after each processed batch,
commit the next offsets synchronously; "revoke": only when partitions are
revoked (or at close); "none": never.
"""
import json
import os
import signal
import sys
import time


class Events:
    def __init__(self, path, client):
        self.f = open(path, "a", buffering=1)
        self.emit("start", pid=os.getpid(), client=client)

    def emit(self, ev, **kw):
        kw["ev"] = ev
        kw["t"] = time.time()
        self.f.write(json.dumps(kw, sort_keys=True) + "\n")
        self.f.flush()


def parse(commands=("member",)):
    """HOST:PORT COMMAND JSON|@FILE -> (host:port, command, arguments)"""
    if len(sys.argv) != 4 or sys.argv[2] not in commands:
        sys.stderr.write("usage: %s HOST:PORT %s JSON|@FILE\n" % (sys.argv[0], "|".join(commands)))
        sys.exit(2)
    arg = sys.argv[3]
    if arg.startswith("@"):
        with open(arg[1:]) as f:
            args = json.load(f)
    else:
        args = json.loads(arg)
    return sys.argv[1], sys.argv[2], args


class Stop:
    """Set by SIGTERM; the member loop then closes its consumer.  A member
    whose parent (the test) is gone exits at once, without closing."""

    def __init__(self, seconds):
        self.flag = False
        self.end = time.monotonic() + seconds
        self.parent = os.getppid()
        signal.signal(signal.SIGTERM, self.set)
        signal.signal(signal.SIGINT, self.set)

    def set(self, *a):
        self.flag = True

    def __call__(self):
        if os.getppid() != self.parent:
            os._exit(4)
        return self.flag or time.monotonic() >= self.end
