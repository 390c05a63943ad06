#!/usr/bin/python3
"""Kafka's ACL admin and enforcement through kafka-python 2.0.2.

usage: acl_kafka_python.py HOST PORT
The broker's principal for this client is User:ANONYMOUS (no SASL yet):
adding SASL credentials here (security_protocol, sasl_*) is all a
per-principal run needs.  Prints one "ok - ..." line per check and exits
non-zero on the first failure.
"""
import sys
import time

from kafka import KafkaProducer, KafkaConsumer, TopicPartition
from kafka.admin import (KafkaAdminClient, ACL, ACLFilter, ResourcePattern,
                         ResourcePatternFilter, ResourceType, ACLOperation,
                         ACLPermissionType, ACLResourcePatternType)
from kafka.errors import TopicAuthorizationFailedError, KafkaError

host, port = sys.argv[1], int(sys.argv[2])
boot = '%s:%d' % (host, port)
ME = 'User:ANONYMOUS'


def check(cond, what):
    if not cond:
        print('not ok - ' + what)
        sys.exit(1)
    print('ok - ' + what)


admin = KafkaAdminClient(bootstrap_servers=boot, client_id='acl-admin')

# Alice (another principal) may read acl_private: the topic now has an ACL,
# so ANONYMOUS, with none, is denied there; ANONYMOUS may write acl_open.
acls = [
    ACL(principal='User:alice', host='*', operation=ACLOperation.READ,
        permission_type=ACLPermissionType.ALLOW,
        resource_pattern=ResourcePattern(ResourceType.TOPIC, 'acl_private')),
    ACL(principal=ME, host='*', operation=ACLOperation.WRITE,
        permission_type=ACLPermissionType.ALLOW,
        resource_pattern=ResourcePattern(ResourceType.TOPIC, 'acl_open')),
    ACL(principal=ME, host='*', operation=ACLOperation.READ,
        permission_type=ACLPermissionType.ALLOW,
        resource_pattern=ResourcePattern(ResourceType.TOPIC, 'acl_open')),
    ACL(principal=ME, host='*', operation=ACLOperation.READ,
        permission_type=ACLPermissionType.DENY,
        resource_pattern=ResourcePattern(ResourceType.TOPIC, 'acl_',
                                         ACLResourcePatternType.PREFIXED)),
]
res = admin.create_acls(acls)
check(len(res['succeeded']) == 4 and not res['failed'], 'CreateAcls: four ACLs created')

bad = ACL(principal=ME, host='*', operation=ACLOperation.READ,
          permission_type=ACLPermissionType.ALLOW,
          resource_pattern=ResourcePattern(ResourceType.CLUSTER, 'not-the-cluster'))
res = admin.create_acls([bad])
check(len(res['failed']) == 1, 'CreateAcls: a CLUSTER ACL not named kafka-cluster is refused')

described, err = admin.describe_acls(ACLFilter(principal=None, host=None,
                                               operation=ACLOperation.ANY,
                                               permission_type=ACLPermissionType.ANY,
                                               resource_pattern=ResourcePatternFilter(
                                                   ResourceType.TOPIC, None,
                                                   ACLResourcePatternType.ANY)))
names = sorted((a.resource_pattern.resource_name, a.principal, a.operation.name)
               for a in described)
check(names == [('acl_', ME, 'READ'), ('acl_open', ME, 'READ'), ('acl_open', ME, 'WRITE'), ('acl_private', 'User:alice', 'READ')],
      'DescribeAcls: the four ACLs, by resource: %s' % names)

time.sleep(0.5)
producer = KafkaProducer(bootstrap_servers=boot, retries=0, max_block_ms=5000)
md = producer.send('acl_open', b'allowed').get(timeout=10)
check(md.offset >= 0, 'Produce allowed by a WRITE ACL')
try:
    producer.send('acl_private', b'denied').get(timeout=10)
    check(False, 'Produce to a topic with ACLs for others only is denied')
except (TopicAuthorizationFailedError, KafkaError) as e:
    check('Authorization' in type(e).__name__ or 'AUTHORIZATION' in str(e).upper(),
          'Produce to a topic with ACLs for others only is denied (%s)' % type(e).__name__)

consumer = KafkaConsumer(bootstrap_servers=boot)
topics = consumer.topics()
check('acl_open' in topics and 'acl_private' not in topics,
      'Metadata lists acl_open and hides acl_private: %s' % sorted(t for t in topics if t.startswith('acl')))
consumer.assign([TopicPartition('acl_open', 0)])
consumer.seek_to_beginning()
try:
    got = consumer.poll(timeout_ms=3000)
    check(False, 'Fetch under a PREFIXED DENY of READ is denied (DENY beats ALLOW) (got %r)' % got)
except (TopicAuthorizationFailedError, KafkaError) as e:
    check(True, 'Fetch under a PREFIXED DENY of READ is denied (DENY beats ALLOW) (%s)' % type(e).__name__)
consumer.close()

res = admin.delete_acls([ACLFilter(principal=ME, host=None, operation=ACLOperation.ANY,
                                   permission_type=ACLPermissionType.DENY,
                                   resource_pattern=ResourcePatternFilter(
                                       ResourceType.ANY, None, ACLResourcePatternType.ANY))])
deleted = [a for (f, matches, e) in res for (a, ae) in matches]
check(len(deleted) == 1 and deleted[0].resource_pattern.resource_name == 'acl_',
      'DeleteAcls: the DENY, and only it, deleted')
time.sleep(0.5)
consumer = KafkaConsumer(bootstrap_servers=boot, consumer_timeout_ms=5000,
                         auto_offset_reset='earliest')
consumer.assign([TopicPartition('acl_open', 0)])
values = [m.value for m in consumer]
check(b'allowed' in values, 'Fetch allowed again once the DENY is gone')
consumer.close()
producer.close()
admin.close()
print('acl_kafka_python: done')
