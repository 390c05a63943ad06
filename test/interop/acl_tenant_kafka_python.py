#!/usr/bin/python3
"""A tenant's admin through Kafka's admin API (kafka-python 2.0.2).

usage: acl_tenant_kafka_python.py HOST PORT
The client's principal (User:ANONYMOUS until SASL lands; the test makes it
the admin of tenant "teamk") manages its namespace "teamk." within the
tenant's limits and sees nothing of tenant "other".  With SASL, only the
connection settings below change.  One "ok - ..." line per check.
"""
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import (ACL, NewTopic, ResourcePattern, ResourceType,
                         ACLOperation, ACLPermissionType)
from kafka.errors import KafkaError

host, port = sys.argv[1], int(sys.argv[2])
conn = dict(bootstrap_servers='%s:%d' % (host, port))


def check(cond, what):
    print(('ok - ' if cond else 'not ok - ') + what)
    if not cond:
        sys.exit(1)


def create(admin, name, partitions):
    """The topic's error code from CreateTopics (0 on success)."""
    try:
        resp = admin.create_topics([NewTopic(name, partitions, 1)])
        return resp.topic_errors[0][1]
    except KafkaError as e:
        return getattr(e, 'errno', -1)


admin = KafkaAdminClient(client_id='teamk-admin', **conn)
check(create(admin, 'teamk.orders', 2) == 0, 'CreateTopics in the own namespace')
check(create(admin, 'teamk.big', 2) == 44, 'CreateTopics over the partition limit: POLICY_VIOLATION (44)')
check(create(admin, 'other.mine', 1) == 29, 'CreateTopics in another tenant\'s namespace: TOPIC_AUTHORIZATION_FAILED (29)')
check(create(admin, 'loose', 1) == 29, 'CreateTopics outside any namespace: TOPIC_AUTHORIZATION_FAILED (29)')

own = ACL(principal='User:other_user', host='*', operation=ACLOperation.READ,
          permission_type=ACLPermissionType.ALLOW,
          resource_pattern=ResourcePattern(ResourceType.TOPIC, 'teamk.orders'))
foreign = ACL(principal='User:ANONYMOUS', host='*', operation=ACLOperation.READ,
              permission_type=ACLPermissionType.ALLOW,
              resource_pattern=ResourcePattern(ResourceType.TOPIC, 'other.secret'))
res = admin.create_acls([own, foreign])
check(len(res['succeeded']) == 1 and len(res['failed']) == 1,
      'CreateAcls: an ACL on the own namespace is created, one on another tenant\'s is refused')

time.sleep(0.5)
consumer = KafkaConsumer(**conn)
topics = sorted(consumer.topics())
check(topics == ['teamk.orders'], 'Metadata lists only the tenant\'s topics: %s' % topics)
consumer.close()

producer = KafkaProducer(retries=0, max_block_ms=5000, **conn)
check(producer.send('teamk.orders', b'v').get(timeout=10).offset >= 0, 'Produce to the own topic')
try:
    producer.send('other.secret', b'v').get(timeout=10)
    check(False, 'Produce to another tenant\'s topic is denied')
except KafkaError as e:
    check(True, 'Produce to another tenant\'s topic is denied (%s)' % type(e).__name__)
producer.close()
try:
    admin.delete_topics(['other.secret'])
    check(False, 'DeleteTopics of another tenant\'s topic is denied')
except KafkaError as e:
    check(True, 'DeleteTopics of another tenant\'s topic is denied (%s)' % type(e).__name__)

# Offsets of the tenant's group on another tenant's topic (committed from
# SQL by the test): OffsetFetch leaves out what the client may not DESCRIBE,
# and refuses it by name.
offsets = admin.list_consumer_group_offsets('teamk.g')
check(sorted(tp.topic for tp in offsets) == ['teamk.orders'],
      'OffsetFetch of all the group\'s topics leaves out another tenant\'s: %s'
      % sorted(tp.topic for tp in offsets))
try:
    admin.list_consumer_group_offsets('teamk.g', partitions=[TopicPartition('other.secret', 0)])
    check(False, 'OffsetFetch of another tenant\'s topic by name is refused')
except KafkaError as e:
    check('Authorization' in type(e).__name__,
          'OffsetFetch of another tenant\'s topic by name is refused (%s)' % type(e).__name__)
admin.close()
print('acl_tenant_kafka_python: done')
