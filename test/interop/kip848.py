"""KIP-848 consumers (group.protocol=consumer) of confluent-kafka from PyPI.

Run with the venv scripts/deps.sh makes (NAGARE_CONFLUENT_VENV, default
/opt/nagare-test/confluent-venv), for test/t/113_consumer_protocol.pl.

  kip848.py produce BOOT TOPIC FIRST COUNT PARTITIONS
      COUNT records, values "v<FIRST>".."v<FIRST+COUNT-1>", record i to
      partition i % PARTITIONS; prints {"ok": ...}
  kip848.py member BOOT TOPIC GROUP LOG [ASSIGNOR]
      one member of GROUP subscribed to TOPIC, until SIGTERM (then it
      closes: it revokes, commits and leaves the group).  Every record is
      committed (synchronously) once processed.  LOG gets one JSON line per
      event, each with the time "t" (time.time()): {"ev": "start", "pid"},
      {"ev": "assign"|"revoke"|"lost", "parts": [...]}, {"ev": "msg", "p",
      "o", "v"}, {"ev": "commit_error", "err"}, {"ev": "error", "err"},
      {"ev": "closed"}
  kip848.py describe BOOT GROUP
      the admin client's describe_consumer_groups() and
      list_consumer_groups(); prints one JSON object
  kip848.py delete BOOT GROUP
      delete_consumer_groups(): {"deleted": true} or the error's name
"""
import json
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient


def cmd_produce(args):
    boot, topic, first, count, nparts = args[0], args[1], int(args[2]), int(args[3]), int(args[4])
    p = Producer({'bootstrap.servers': boot, 'acks': 'all', 'linger.ms': 5})
    errs = []
    for i in range(first, first + count):
        p.produce(topic, value=('v%d' % i).encode(), partition=i % nparts,
                  on_delivery=lambda e, m: errs.append(str(e)) if e else None)
        p.poll(0)
    left = p.flush(30)
    return {'ok': left == 0 and not errs, 'errors': errs[:3]}


def cmd_member(args):
    boot, topic, group, logpath = args[0], args[1], args[2], args[3]
    log = open(logpath, 'a', buffering=1)
    stop = []

    def ev(kind, **kw):
        kw.update({'t': time.time(), 'ev': kind})
        log.write(json.dumps(kw) + '\n')

    def parts(ps):
        return sorted(tp.partition for tp in ps)

    conf = {'bootstrap.servers': boot, 'group.id': group, 'group.protocol': 'consumer',
            'auto.offset.reset': 'earliest', 'enable.auto.commit': False,
            'error_cb': lambda e: ev('error', err=str(e))}
    if len(args) > 4:
        conf['group.remote.assignor'] = args[4]
    c = Consumer(conf)
    signal.signal(signal.SIGTERM, lambda s, f: stop.append(1))
    ev('start', pid=__import__('os').getpid())

    def commit(msg):
        for attempt in range(20):
            try:
                c.commit(message=msg, asynchronous=False)
                return
            except KafkaException as e:
                ev('commit_error', err=str(e), attempt=attempt)
                # a new epoch or a revocation in flight: poll and retry
                time.sleep(0.2)

    c.subscribe([topic],
                on_assign=lambda cons, ps: ev('assign', parts=parts(ps)),
                on_revoke=lambda cons, ps: ev('revoke', parts=parts(ps)),
                on_lost=lambda cons, ps: ev('lost', parts=parts(ps)))
    while not stop:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            ev('error', err=str(m.error()))
            continue
        ev('msg', p=m.partition(), o=m.offset(), v=m.value().decode())
        commit(m)
    c.close()
    ev('closed')
    return {'ok': True}


def cmd_describe(args):
    boot, group = args
    a = AdminClient({'bootstrap.servers': boot})
    out = {'ok': True}
    d = a.describe_consumer_groups([group])[group].result(30)
    out['type'] = str(d.type).split('.')[-1] if hasattr(d, 'type') else None
    out['state'] = str(d.state).split('.')[-1]
    out['assignor'] = d.partition_assignor
    out['members'] = []
    for m in d.members:
        e = {'member_id': m.member_id, 'client_id': m.client_id,
             'assignment': sorted(tp.partition for tp in m.assignment.topic_partitions)}
        ta = getattr(m, 'target_assignment', None)
        if ta is not None:
            e['target'] = sorted(tp.partition for tp in ta.topic_partitions)
        out['members'].append(e)
    lst = a.list_consumer_groups().result(30)
    out['listed'] = [{'group': g.group_id, 'type': str(getattr(g, 'type', None)).split('.')[-1],
                      'state': str(g.state).split('.')[-1]} for g in lst.valid]
    return out


def cmd_delete(args):
    boot, group = args
    a = AdminClient({'bootstrap.servers': boot})
    try:
        a.delete_consumer_groups([group])[group].result(30)
        return {'ok': True, 'deleted': True}
    except KafkaException as e:
        return {'ok': True, 'deleted': False, 'error': e.args[0].name()}


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    try:
        r = {'produce': cmd_produce, 'member': cmd_member, 'describe': cmd_describe,
             'delete': cmd_delete}[cmd](args)
    except Exception as e:
        r = {'ok': False, 'error': '%s: %s' % (type(e).__name__, e)}
    print(json.dumps(r))


if __name__ == '__main__':
    main()
