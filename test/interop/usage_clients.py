#!/usr/bin/python3
"""Per-client usage test clients (test/t/160_usage.pl): confluent-kafka-python
(librdkafka) and kafka-python produce and consume known records under their
own client ids.

usage: usage_clients.py HOST:PORT CLIENT TOPIC N SIZE PRODUCER_ID CONSUMER_ID [hold]

CLIENT is "confluent" or "kafka_python".  The producer sends N records, key
"k-%05d" (7 bytes) and a value of SIZE bytes, to partition 0 with acks=all
and no compression; the consumer (assign, no group) reads them back from
offset 0.  Prints {"payload": bytes of keys and values, "produced": N,
"consumed": n}.  With "hold", a third client (client id PRODUCER_ID-hold)
keeps its connection open after that: it prints {"ready": true} and waits
for a line on stdin before it closes.
"""
import json
import sys
import time

boot, client, topic, n, size, pid, cid = sys.argv[1:8]
n, size = int(n), int(size)
hold = len(sys.argv) > 8 and sys.argv[8] == "hold"
records = [(b"k-%05d" % i, b"v" * size) for i in range(n)]
payload = sum(len(k) + len(v) for k, v in records)


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


if client == "confluent":
    from confluent_kafka import Consumer, Producer, TopicPartition

    p = Producer({"bootstrap.servers": boot, "client.id": pid, "acks": "all",
                  "compression.codec": "none", "linger.ms": 5, "enable.idempotence": False})
    for k, v in records:
        p.produce(topic, key=k, value=v, partition=0)
    if p.flush(30) != 0:
        sys.exit("confluent: records not delivered")
    del p
    c = Consumer({"bootstrap.servers": boot, "client.id": cid, "group.id": cid,
                  "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    c.assign([TopicPartition(topic, 0, 0)])
    got = 0
    end = time.time() + 30
    while got < n and time.time() < end:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            got += 1
    c.close()

    def holder():
        h = Producer({"bootstrap.servers": boot, "client.id": pid + "-hold"})
        h.produce(topic, key=b"hold", value=b"hold", partition=0)
        h.flush(30)
        return h
elif client == "kafka_python":
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    p = KafkaProducer(bootstrap_servers=boot, client_id=pid, acks="all", linger_ms=5)
    for k, v in records:
        p.send(topic, key=k, value=v, partition=0)
    p.flush(30)
    p.close(10)
    c = KafkaConsumer(bootstrap_servers=boot, client_id=cid, group_id=None,
                      enable_auto_commit=False, fetch_max_wait_ms=100)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek(tp, 0)
    got = 0
    end = time.time() + 30
    while got < n and time.time() < end:
        for msgs in c.poll(timeout_ms=500).values():
            got += len(msgs)
    c.close()

    def holder():
        h = KafkaProducer(bootstrap_servers=boot, client_id=pid + "-hold")
        h.send(topic, key=b"hold", value=b"hold", partition=0)
        h.flush(30)
        return h
else:
    sys.exit("unknown client " + client)

out({"payload": payload, "produced": n, "consumed": got})
if hold:
    h = holder()
    out({"ready": True})
    sys.stdin.readline()
    if client == "kafka_python":
        h.close(10)
    del h
