#!/usr/bin/python3
"""The Kafka load of the kill -9 soak (test/soak/run.pl): produce keyed
records with acks=all through librdkafka (confluent-kafka) and write every
acknowledged one as "<partition> <offset> <value>" to a file, flushed at
once, until SIGTERM; then wait up to 60 s for what is in flight and print
"produced N, acknowledged A, failed F".

usage: producer.py <bootstrap> <topic> <outfile> <value prefix> <idempotent 0|1>

A delivery report without error is what Kafka calls acknowledged: with
acks=all nagare sends it once the batch is durable (fdatasync).  Records
are sent across the kill and the restart: librdkafka retries them
(message.timeout.ms 120 s).
"""
import signal
import sys

from confluent_kafka import Producer

bootstrap, topic, outfile, prefix, idem = sys.argv[1:6]
stop = [False]
signal.signal(signal.SIGTERM, lambda *a: stop.__setitem__(0, True))

out = open(outfile, "w", buffering=1)
p = Producer({
    "bootstrap.servers": bootstrap,
    "acks": "all",
    "enable.idempotence": idem == "1",
    "linger.ms": 5,
    "message.timeout.ms": 120000,
    "reconnect.backoff.ms": 50,
    "reconnect.backoff.max.ms": 500,
    "partitioner": "murmur2_random",
})
acked = [0]
failed = [0]
errors = {}


def delivered(err, msg):
    if err is None:
        out.write("%d %d %s\n" % (msg.partition(), msg.offset(), msg.value().decode()))
        acked[0] += 1
    else:
        failed[0] += 1
        errors[err.name()] = errors.get(err.name(), 0) + 1


seq = 0
while not stop[0]:
    try:
        p.produce(topic, key=("k%d" % (seq % 97)).encode(), value=("%s:%d" % (prefix, seq)).encode(),
                  on_delivery=delivered)
        seq += 1
    except BufferError:
        p.poll(0.05)
    p.poll(0.002 if seq % 50 else 0.01)
left = p.flush(60)
out.close()
print("produced %d, acknowledged %d, failed %d, unfinished %d %s" % (seq, acked[0], failed[0], left, errors))
