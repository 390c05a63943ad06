#!/usr/bin/python3
"""Consumer group requests for test/t/112_group_lifecycle.pl, with kafka-python
2.0.2's protocol classes through its low-level KafkaClient (an implementation
independent of nagare's).

usage: group_lifecycle.py HOST PORT COMMAND ARGS...

  commit GROUP TOPIC PARTITION OFFSET
      OffsetCommit v2 from outside any group (generation -1), as
      kafka-consumer-groups --reset-offsets and kafkajs admin.setOffsets do;
      prints the partition's error code.
  join-leave GROUP TOPIC
      JoinGroup v2 as a consumer subscribed to TOPIC, then LeaveGroup: the
      group is left Empty with no committed offsets; prints the JoinGroup's
      error code.
  member GROUP TOPIC SECONDS
      A librdkafka consumer (confluent-kafka) subscribed to TOPIC that polls
      for SECONDS without committing, then closes; prints "joined" once it
      has an assignment.
"""
import sys
import time

host, port, command, args = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]


def client():
    from kafka.client_async import KafkaClient
    c = KafkaClient(bootstrap_servers='%s:%d' % (host, port), client_id='group-lifecycle',
                    api_version=(2, 5, 0), request_timeout_ms=15000)
    node = c.least_loaded_node()
    deadline = time.time() + 15
    while not c.ready(node):
        if time.time() > deadline:
            raise RuntimeError('could not connect')
        c.poll(timeout_ms=100)
    return c, node


def call(c, node, req):
    f = c.send(node, req)
    deadline = time.time() + 15
    while not f.is_done and time.time() < deadline:
        c.poll(future=f, timeout_ms=200)
    if not f.is_done:
        raise RuntimeError('no answer to %s' % type(req).__name__)
    if f.failed():
        raise f.exception
    return f.value


if command == 'commit':
    from kafka.protocol.commit import OffsetCommitRequest
    group, topic, partition, offset = args[0], args[1], int(args[2]), int(args[3])
    c, node = client()
    r = call(c, node, OffsetCommitRequest[2](group, -1, '', -1, [(topic, [(partition, offset, '')])]))
    print(r.topics[0][1][0][1])
elif command == 'join-leave':
    from kafka.coordinator.protocol import ConsumerProtocolMemberMetadata
    from kafka.protocol.group import JoinGroupRequest, LeaveGroupRequest
    group, topic = args[0], args[1]
    # kafka-python's encode() is a weak method: keep the object alive
    subscription = ConsumerProtocolMemberMetadata(0, [topic], b'')
    meta = subscription.encode()
    c, node = client()
    r = call(c, node, JoinGroupRequest[2](group, 6000, 6000, '', 'consumer', [('range', meta)]))
    print(r.error_code)
    if r.error_code == 0:
        call(c, node, LeaveGroupRequest[1](group, r.member_id))
elif command == 'member':
    from confluent_kafka import Consumer
    group, topic, seconds = args[0], args[1], float(args[2])
    cons = Consumer({'bootstrap.servers': '%s:%d' % (host, port), 'group.id': group,
                     'enable.auto.commit': False, 'session.timeout.ms': 6000,
                     'auto.offset.reset': 'earliest'})
    said = False

    def on_assign(consumer, partitions):
        global said
        if not said:
            print('joined', flush=True)
            said = True

    cons.subscribe([topic], on_assign=on_assign)
    end = time.time() + seconds
    while time.time() < end:
        cons.poll(0.2)
    cons.close()
else:
    sys.exit('unknown command %s' % command)
