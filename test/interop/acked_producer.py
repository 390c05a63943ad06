#!/usr/bin/python3
"""Produce numbered records with acks=all (librdkafka via confluent-kafka)
and write every acknowledged one as "<offset> <value>" to a file, until
told to stop (SIGTERM) or the duration is over.  Used by crash tests: every
line in the file must be in the topic afterwards.

usage: acked_producer.py <bootstrap> <topic> <outfile> <seconds>
"""
import signal
import sys
import time

from confluent_kafka import Producer

bootstrap, topic, outfile, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
stop = [False]
signal.signal(signal.SIGTERM, lambda *a: stop.__setitem__(0, True))

out = open(outfile, "w", buffering=1)
p = Producer({
    "bootstrap.servers": bootstrap,
    "acks": "all",
    "enable.idempotence": False,
    "linger.ms": 2,
    "message.timeout.ms": 120000,
    "reconnect.backoff.ms": 50,
    "reconnect.backoff.max.ms": 500,
})
acked = [0]
failed = [0]


def delivered(err, msg):
    if err is None:
        out.write("%d %s\n" % (msg.offset(), msg.value().decode()))
        acked[0] += 1
    else:
        failed[0] += 1


end = time.time() + seconds
seq = 0
while not stop[0] and time.time() < end:
    try:
        p.produce(topic, value=("v%d" % seq).encode(), partition=0, on_delivery=delivered)
        seq += 1
    except BufferError:
        pass
    p.poll(0.001 if seq % 100 else 0.01)
p.flush(30)
out.close()
print("produced %d, acknowledged %d, failed %d" % (seq, acked[0], failed[0]))
