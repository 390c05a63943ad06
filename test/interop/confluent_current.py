"""confluent-kafka from PyPI (a current librdkafka in its wheel) against nagare.

Run with the venv scripts/deps.sh makes (NAGARE_CONFLUENT_VENV, default
/opt/nagare-test/confluent-venv), for test/t/126_confluent_kafka.pl.  Each
command prints one JSON object on its last line.

  confluent_current.py version
  confluent_current.py admin BOOT TOPIC PARTITIONS
      create the topic (with a config), describe it (topic id, partitions),
      list topics, describe its configs, describe the cluster
  confluent_current.py admin2 BOOT TOPIC GROUP
      on a topic of 2 partitions with records: list_offsets (latest, max
      timestamp, earliest after delete_records), a group's offsets altered
      and listed, incremental_alter_configs, create_partitions, then the
      group and the topic deleted
  confluent_current.py produce BOOT TOPIC CODEC FROM N [USER PASS]
      N keyed records k-FROM.. idempotent (enable.idempotence), acks=all,
      compression.type CODEC; with USER and PASS over SASL SCRAM-SHA-256
  confluent_current.py consume BOOT TOPIC GROUP N [USER PASS]
      a classic group member (group.protocol=classic, range assignor) reads
      until it has N records (or 20 s), commits them synchronously, reads
      1 s more for extras, closes; then lists and describes the group
  confluent_current.py login BOOT USER PASS
      a SCRAM-SHA-256 login: the first error the client reports (none and a
      Metadata answer when the login works)
  confluent_current.py kip848 BOOT TOPIC GROUP SECONDS
      a consumer with group.protocol=consumer (KIP-848) subscribed for
      SECONDS: what it received, the errors it was given, and whether
      librdkafka's debug log says the broker lacks ConsumerGroupHeartbeat
"""
import json
import sys
import time

import confluent_kafka
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic


def out(r):
    print(json.dumps(r, default=str))
    sys.stdout.flush()


def conf(boot, user=None, password=None, **extra):
    c = {'bootstrap.servers': boot, 'client.id': 'nagare-confluent-current'}
    if user is not None:
        c.update({'security.protocol': 'SASL_PLAINTEXT',
                  'sasl.mechanism': 'SCRAM-SHA-256',
                  'sasl.username': user, 'sasl.password': password})
    c.update(extra)
    return c


def cmd_version(_args):
    return {'ok': True, 'version': confluent_kafka.version()[0],
            'libversion': confluent_kafka.libversion()[0]}


def cmd_admin(args):
    boot, topic, parts = args[0], args[1], int(args[2])
    r = {'ok': True}
    a = AdminClient(conf(boot))
    fs = a.create_topics([NewTopic(topic, num_partitions=parts, replication_factor=1,
                                   config={'retention.ms': '86400000'})],
                         operation_timeout=15, request_timeout=20)
    fs[topic].result()
    # the broker learns the topic a moment after the worker committed it
    desc = None
    for _ in range(50):
        try:
            desc = a.describe_topics(
                confluent_kafka.TopicCollection([topic]), request_timeout=10)[topic].result()
            if len(desc.partitions) == parts:
                break
        except KafkaException:
            pass
        time.sleep(0.1)
    r['described_partitions'] = len(desc.partitions) if desc else 0
    r['topic_id'] = str(desc.topic_id) if desc else None
    r['leaders'] = sorted({p.leader.id for p in desc.partitions}) if desc else []
    md = a.list_topics(timeout=10)
    r['listed'] = topic in md.topics
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    cfg = a.describe_configs([res], request_timeout=10)[res].result()
    r['retention_ms'] = cfg['retention.ms'].value
    cl = a.describe_cluster(request_timeout=10).result()
    r['cluster_id'] = cl.cluster_id
    r['controller'] = cl.controller.id if cl.controller else None
    r['nodes'] = [n.id for n in cl.nodes]
    return r


def cmd_produce(args):
    boot, topic, codec, first, n = args[0], args[1], args[2], int(args[3]), int(args[4])
    user, password = (args[5], args[6]) if len(args) > 6 else (None, None)
    errors = []
    p = Producer(conf(boot, user, password, **{
        'enable.idempotence': True, 'acks': 'all', 'compression.type': codec,
        'linger.ms': 20, 'message.timeout.ms': 20000,
        'error_cb': lambda e: errors.append(str(e))}))
    delivered = []

    def dr(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            delivered.append((msg.partition(), msg.offset()))

    for i in range(first, first + n):
        p.produce(topic, key=b'k-%d' % i, value=b'v-%d-' % i + b'x' * 200,
                  headers=[('h', b'cfk')], on_delivery=dr)
    left = p.flush(25)
    by_part = {}
    for part, _ in delivered:
        by_part[str(part)] = by_part.get(str(part), 0) + 1
    return {'ok': not errors and left == 0 and len(delivered) == n,
            'delivered': len(delivered), 'by_partition': by_part,
            'errors': errors[:5], 'left': left}


def cmd_consume(args):
    boot, topic, group, n = args[0], args[1], args[2], int(args[3])
    user, password = (args[4], args[5]) if len(args) > 5 else (None, None)
    errors = []
    c = Consumer(conf(boot, user, password, **{
        'group.id': group, 'group.protocol': 'classic',
        'auto.offset.reset': 'earliest', 'enable.auto.commit': False,
        'session.timeout.ms': 6000, 'error_cb': lambda e: errors.append(str(e))}))
    c.subscribe([topic])
    keys, got, dups, bad = set(), 0, 0, []
    deadline = time.time() + 20
    while got < n and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            errors.append(str(m.error()))
            continue
        got += 1
        k = m.key().decode()
        if k in keys:
            dups += 1
        keys.add(k)
        if not m.value().startswith(b'v' + m.key()[1:] + b'-') or m.headers() != [('h', b'cfk')]:
            bad.append(k)
    committed = 0
    if got:
        committed = sum(tp.offset for tp in c.commit(asynchronous=False) if tp.offset > 0)
    extra = 0
    end = time.time() + 1
    while time.time() < end:
        m = c.poll(0.2)
        if m is not None and not m.error():
            extra += 1
    r = {'ok': not errors and not bad, 'consumed': got, 'distinct': len(keys),
         'duplicates': dups, 'extra': extra, 'committed_sum': committed,
         'first_key': min(keys, key=lambda k: int(k[2:])) if keys else None,
         'errors': errors[:5], 'bad': bad[:5]}
    # the group as the admin client sees it while this member is in it
    a = AdminClient(conf(boot, user, password))
    groups = a.list_consumer_groups(request_timeout=10).result()
    r['listed'] = any(g.group_id == group for g in groups.valid)
    d = a.describe_consumer_groups([group], request_timeout=10)[group].result()
    r['group_state'] = str(d.state).split('.')[-1]
    r['group_type'] = str(getattr(d, 'type', '')).split('.')[-1]
    r['group_assignor'] = d.partition_assignor
    r['group_members'] = len(d.members)
    c.close()
    return r


def cmd_kip848(args):
    boot, topic, group, seconds = args[0], args[1], args[2], float(args[3])
    errors, logs = [], []

    import logging
    lg = logging.getLogger('rdkafka')
    lg.setLevel(logging.DEBUG)
    h = logging.Handler()
    h.emit = lambda rec: logs.append(rec.getMessage())
    lg.addHandler(h)
    c = Consumer(conf(boot, **{
        'group.id': group, 'group.protocol': 'consumer',
        'auto.offset.reset': 'earliest', 'debug': 'cgrp',
        'error_cb': lambda e: errors.append(str(e))}), logger=lg)
    c.subscribe([topic])
    got = 0
    end = time.time() + seconds
    while time.time() < end:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            errors.append(str(m.error()))
        else:
            got += 1
    assignment = len(c.assignment())
    t = time.time()
    c.close()
    closing = time.time() - t
    unsupported = [l for l in logs if 'ConsumerGroupHeartbeatRequest not supported by broker' in l]
    return {'ok': True, 'consumed': got, 'assignment': assignment, 'errors': errors[:5],
            'heartbeat_unsupported_logged': len(unsupported) > 0,
            'log_line': unsupported[0] if unsupported else None, 'close_s': round(closing, 1)}


def cmd_login(args):
    """A producer's SCRAM login: the first error it is given, and when."""
    boot, user, password = args
    errors = []
    t = time.time()
    p = Producer(conf(boot, user, password, **{
        'error_cb': lambda e: errors.append(e), 'log_level': 0}))
    md_ok = False
    try:
        md_ok = len(p.list_topics(timeout=3).brokers) == 1
    except KafkaException:
        pass
    p.poll(0.1)
    e = errors[0] if errors else None
    return {'ok': True, 'metadata': md_ok, 'error_code': e.name() if e else None,
            'error': e.str() if e else None, 'seconds': round(time.time() - t, 1)}


def cmd_admin2(args):
    """More of the admin client on TOPIC (2 partitions, records in both)."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, NewPartitions,
                                       OffsetSpec)
    boot, topic, group = args
    a = AdminClient(conf(boot))
    r = {'ok': True}
    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)

    def offsets(spec):
        fs = a.list_offsets({tp0: spec, tp1: spec}, request_timeout=10)
        return [fs[tp].result().offset for tp in (tp0, tp1)]

    r['latest'] = offsets(OffsetSpec.latest())
    r['max_timestamp'] = offsets(OffsetSpec.max_timestamp())
    fs = a.delete_records([TopicPartition(topic, 0, 2)], request_timeout=10)
    r['deleted_low_watermark'] = list(fs.values())[0].result().low_watermark
    r['earliest'] = offsets(OffsetSpec.earliest())
    a.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 1, 3)])],
        request_timeout=10)[group].result()
    got = a.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)], request_timeout=10)[group].result()
    r['group_offsets'] = sorted([tp.partition, tp.offset] for tp in got.topic_partitions)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry('retention.ms', '3600000', incremental_operation=AlterConfigOpType.SET)])
    a.incremental_alter_configs([res], request_timeout=10)[res].result()
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    r['retention_ms'] = a.describe_configs([res], request_timeout=10)[res].result()['retention.ms'].value
    a.create_partitions([NewPartitions(topic, 3)], request_timeout=10)[topic].result()
    a.delete_consumer_groups([group], request_timeout=10)[group].result()
    a.delete_topics([topic], operation_timeout=15, request_timeout=20)[topic].result()
    return r


def main():
    cmds = {'version': cmd_version, 'admin': cmd_admin, 'produce': cmd_produce,
            'consume': cmd_consume, 'kip848': cmd_kip848,
            'login': cmd_login, 'admin2': cmd_admin2}
    try:
        out(cmds[sys.argv[1]](sys.argv[2:]))
    except KafkaException as e:
        out({'ok': False, 'error': str(e.args[0]), 'code': e.args[0].name()})
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - reported to the TAP test as JSON
        out({'ok': False, 'error': '%s: %s' % (type(e).__name__, e)})
        sys.exit(1)


if __name__ == '__main__':
    main()
