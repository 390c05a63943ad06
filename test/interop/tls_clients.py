"""Kafka clients over TLS for test/t/135_tls.pl (SSL) and
test/t/137_sasl_ssl.pl (SASL_SSL): confluent-kafka (librdkafka) and
kafka-python.

usage: python3 tls_clients.py CLIENT HOST:PORT COMMAND JSON

CLIENT is "confluent" or "kafka_python".  JSON holds the TLS settings
("ca", and for a client certificate "cert" and "key": PEM file names),
optionally a SASL login ("sasl": {"mechanism": "PLAIN" or "SCRAM-SHA-256",
"username", "password"}, which makes the security protocol SASL_SSL instead
of SSL) and the command's arguments:

    produce  {"topic", "count", "size"}   count records of size bytes
    consume  {"topic", "count"}           count records from the start
    metadata {}                           the brokers Metadata advertises

It prints one JSON object: produce {"produced": n}, consume {"count": n,
"bytes": total value bytes, "sha256": of the values in order}, metadata
{"brokers": ["host:port", ...]}, or on a failure the test asked for
{"error": text}.  Record i's value is "i:" followed by size - len("i:")
bytes of a repeating pattern, so consumers can check what they read.
"""
import hashlib
import json
import sys
import time


def value(i, size):
    head = ("%d:" % i).encode()
    body = bytes((i + j) % 251 for j in range(256))
    reps = (size - len(head)) // len(body) + 1
    return head + (body * reps)[:size - len(head)]


def done(result):
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    sys.exit(0)


def confluent(boot, cmd, args):
    from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
    from confluent_kafka.admin import AdminClient

    conf = {"bootstrap.servers": boot,
            "security.protocol": "ssl",
            "ssl.ca.location": args["ca"],
            "socket.timeout.ms": 10000}
    if "cert" in args:
        conf["ssl.certificate.location"] = args["cert"]
        conf["ssl.key.location"] = args["key"]
    if "sasl" in args:
        conf.update({"security.protocol": "sasl_ssl",
                     "sasl.mechanism": args["sasl"]["mechanism"],
                     "sasl.username": args["sasl"]["username"],
                     "sasl.password": args["sasl"]["password"]})
    if cmd == "metadata":
        errors = []
        conf["error_cb"] = lambda e: errors.append(str(e))
        md = AdminClient(conf).list_topics(timeout=10)
        done({"brokers": ["%s:%d" % (b.host, b.port) for b in md.brokers.values()]})
    if cmd == "produce":
        p = Producer(dict(conf, **{"message.max.bytes": 16 * 1024 * 1024,
                                   "linger.ms": 5, "acks": "all"}))
        failed = []

        def cb(err, msg):
            if err is not None:
                failed.append(str(err))
        for i in range(args["count"]):
            while True:
                try:
                    p.produce(args["topic"], value(i, args["size"]), on_delivery=cb)
                    break
                except BufferError:
                    p.poll(0.1)
            p.poll(0)
        left = p.flush(60)
        if left or failed:
            raise SystemExit("produce failed: %d left, %s" % (left, failed[:3]))
        done({"produced": args["count"]})
    if cmd == "consume":
        c = Consumer(dict(conf, **{"group.id": "tls-%f" % time.time(),
                                   "enable.auto.commit": False,
                                   "fetch.max.bytes": 64 * 1024 * 1024,
                                   "max.partition.fetch.bytes": 32 * 1024 * 1024,
                                   "receive.message.max.bytes": 100 * 1024 * 1024}))
        c.assign([TopicPartition(args["topic"], 0, OFFSET_BEGINNING)])
        h = hashlib.sha256()
        n = total = 0
        deadline = time.time() + 60
        while n < args["count"] and time.time() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                raise SystemExit("consume failed: %s" % m.error())
            h.update(m.value())
            total += len(m.value())
            n += 1
        c.close()
        done({"count": n, "bytes": total, "sha256": h.hexdigest()})


def kafka_python(boot, cmd, args):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.errors import KafkaError

    conf = {"bootstrap_servers": boot,
            "security_protocol": "SSL",
            "ssl_cafile": args["ca"],
            "ssl_check_hostname": True,
            "api_version": (2, 5, 0)}
    if "cert" in args:
        conf["ssl_certfile"] = args["cert"]
        conf["ssl_keyfile"] = args["key"]
    if "sasl" in args:
        conf.update(security_protocol="SASL_SSL",
                    sasl_mechanism=args["sasl"]["mechanism"],
                    sasl_plain_username=args["sasl"]["username"],
                    sasl_plain_password=args["sasl"]["password"])
    try:
        if cmd == "produce":
            p = KafkaProducer(max_request_size=16 * 1024 * 1024, acks="all", **conf)
            futures = [p.send(args["topic"], value(i, args["size"])) for i in range(args["count"])]
            for f in futures:
                f.get(timeout=60)
            p.close()
            done({"produced": args["count"]})
        if cmd == "consume":
            c = KafkaConsumer(enable_auto_commit=False, consumer_timeout_ms=20000,
                              fetch_max_bytes=64 * 1024 * 1024,
                              max_partition_fetch_bytes=32 * 1024 * 1024, **conf)
            tp = TopicPartition(args["topic"], 0)
            c.assign([tp])
            c.seek_to_beginning(tp)
            h = hashlib.sha256()
            n = total = 0
            for m in c:
                h.update(m.value)
                total += len(m.value)
                n += 1
                if n >= args["count"]:
                    break
            c.close()
            done({"count": n, "bytes": total, "sha256": h.hexdigest()})
        if cmd == "metadata":
            c = KafkaConsumer(**conf)
            c.topics()
            brokers = c._client.cluster.brokers()
            done({"brokers": ["%s:%d" % (b.host, b.port) for b in brokers]})
    except KafkaError as e:
        done({"error": "%s: %s" % (type(e).__name__, e)})


def main():
    if len(sys.argv) != 5:
        sys.stderr.write(__doc__)
        sys.exit(2)
    client, boot, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    {"confluent": confluent, "kafka_python": kafka_python}[client](boot, cmd, args)
    raise SystemExit("unknown command %s" % cmd)


if __name__ == "__main__":
    main()
