#!/usr/bin/python3
"""Keys to partitions, and what a consumer sees, through real clients
(test/t/097_partitioner_durable.pl).

usage:
  partitioner.py produce CLIENT BOOTSTRAP TOPIC PARTITIONER ACKS
      Produce one record per line of stdin (the line is the key, UTF-8; the
      value is "v") with CLIENT, confluent (librdkafka) or kafka_python, and
      PARTITIONER "default" (the client's own) or a librdkafka partitioner
      name; ACKS is 1 or all.  Prints "<key>\t<partition>\t<offset>" per
      record as the client reports it, in input order, once all are
      acknowledged.
  partitioner.py visible BOOTSTRAP TOPIC PARTITION
      What a consumer sees of one partition, with confluent (librdkafka):
      prints "latest <offset>" (ListOffsets latest, the high watermark) and
      "fetched <n>" (the records a Fetch from offset 0 returns in 2 s).
"""
import sys
import time


def produce_confluent(bootstrap, topic, keys, partitioner, acks):
    from confluent_kafka import Producer

    conf = {"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 5,
            "enable.idempotence": False}
    if partitioner != "default":
        conf["partitioner"] = partitioner
    p = Producer(conf)
    got = {}

    def report(err, msg):
        if err is not None:
            sys.exit("delivery failed: %s" % err)
        got[msg.key().decode()] = (msg.partition(), msg.offset())

    for k in keys:
        p.produce(topic, key=k.encode(), value=b"v", on_delivery=report)
    if p.flush(30) != 0:
        sys.exit("records not acknowledged in 30 s")
    return got


def produce_kafka_python(bootstrap, topic, keys, partitioner, acks):
    from kafka import KafkaProducer

    if partitioner != "default":
        sys.exit("kafka-python: only its default partitioner")
    p = KafkaProducer(bootstrap_servers=bootstrap, acks=acks if acks == "all" else int(acks),
                      api_version=(2, 0, 0))
    futures = [(k, p.send(topic, key=k.encode(), value=b"v")) for k in keys]
    got = {}
    for k, f in futures:
        md = f.get(timeout=30)
        got[k] = (md.partition, md.offset)
    p.close()
    return got


def visible(bootstrap, topic, partition):
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "partitioner-visible",
                  "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    print("latest %d" % hi)
    c.assign([TopicPartition(topic, partition, 0)])
    n = 0
    deadline = time.time() + 2
    while time.time() < deadline:
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            n += 1
    c.close()
    print("fetched %d" % n)


def main():
    if sys.argv[1] == "produce":
        client, bootstrap, topic, partitioner, acks = sys.argv[2:7]
        keys = [line.rstrip("\n") for line in sys.stdin if line.strip()]
        fn = {"confluent": produce_confluent, "kafka_python": produce_kafka_python}[client]
        got = fn(bootstrap, topic, keys, partitioner, acks)
        for k in keys:
            print("%s\t%d\t%d" % (k, got[k][0], got[k][1]))
    elif sys.argv[1] == "visible":
        visible(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
