#!/usr/bin/python3
"""Consumer group member on kafka-python 2.0.2 (Debian), for
test/t/110_consumer_groups.pl.

usage: groups_kafka_python.py HOST:PORT member JSON|@FILE

The member subscribes to one topic; see groups_common.py for its arguments
and the events it writes.  "assignors" are kafka-python's assignor names
("range", "roundrobin", "sticky"; default ["range", "roundrobin"], its
default).  kafka-python infers the broker version from ApiVersions v0 and
then uses fixed versions (JoinGroup v2, SyncGroup/Heartbeat/LeaveGroup v1,
OffsetCommit v2, OffsetFetch v1 for a broker it takes for >= 2.1), and its
heartbeats run in a thread of their own, so poll() may block through a
whole rebalance.
"""
import logging
import sys
import time

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from groups_common import Events, Stop, parse

boot, _, args = parse()
ev = Events(args["events"], "kafka_python")
stop = Stop(args.get("seconds", 600))
topic = args["topic"]
mode = args.get("commit", "batch")
assignors = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor,
             "sticky": StickyPartitionAssignor}


class Errors(logging.Handler):
    """kafka-python reports trouble through logging only"""

    def emit(self, record):
        if record.levelno >= logging.ERROR:
            ev.emit("error", error=record.getMessage()[:300])


logging.getLogger("kafka").addHandler(Errors())
logging.getLogger("kafka").setLevel(logging.ERROR)

c = KafkaConsumer(
    bootstrap_servers=boot,
    group_id=args["group"],
    client_id=args.get("client_id", "groups-kafka-python"),
    session_timeout_ms=args.get("session_timeout_ms", 6000),
    heartbeat_interval_ms=args.get("heartbeat_ms", 500),
    max_poll_interval_ms=args.get("max_poll_ms", 10000),
    partition_assignment_strategy=[assignors[a] for a in args.get("assignors", ["range", "roundrobin"])],
    enable_auto_commit=False,
    auto_offset_reset="earliest",
    reconnect_backoff_ms=50,
    reconnect_backoff_max_ms=500,
    request_timeout_ms=30000,
    metadata_max_age_ms=2000,
)
pending = {}


def commit(why):
    if not pending:
        return
    offs = dict(pending)
    pending.clear()
    ev.emit("commit_sent", offsets=offs, why=why)
    try:
        c.commit({TopicPartition(topic, p): OffsetAndMetadata(o, None) for p, o in offs.items()})
        ev.emit("commit_ok", offsets=offs)
    except KafkaError as e:
        ev.emit("commit_err", offsets=offs, error=type(e).__name__)


class Listener(ConsumerRebalanceListener):
    def on_partitions_revoked(self, revoked):
        if mode in ("batch", "revoke"):
            commit("revoke")
        pending.clear()
        ev.emit("revoked", parts=sorted(tp.partition for tp in revoked))

    def on_partitions_assigned(self, assigned):
        ev.emit("assigned", parts=sorted(tp.partition for tp in assigned), gen=None)


c.subscribe([topic], listener=Listener())
batch = args.get("batch", 20)
delay = args.get("delay_ms", 0) / 1000.0
while not stop():
    got = c.poll(timeout_ms=200, max_records=batch)
    for tp, msgs in got.items():
        for m in msgs:
            ev.emit("rec", p=m.partition, o=m.offset)
            pending[m.partition] = m.offset + 1
    if got and delay:
        time.sleep(delay)
    if mode == "batch":
        commit("batch")
if mode in ("batch", "revoke"):
    commit("close")
c.close(autocommit=False)
ev.emit("closed")
