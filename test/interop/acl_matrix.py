#!/usr/bin/python3
"""The ACL matrix of the Kafka door, with requests encoded by kafka-python
2.0.2's protocol classes, sent through its low-level KafkaClient logged in
with SASL PLAIN (test/t/145_acl_matrix.pl).

usage: acl_matrix.py sql                 print the SQL that makes the roles
                                         and ACLs of the matrix (run it as a
                                         superuser)
       acl_matrix.py matrix HOST PORT    run the matrix
       acl_matrix.py produce HOST PORT USER PASSWORD TOPIC
                                         one record, as USER (usage rows),
                                         and an offset of group <tenant>.kg
       acl_matrix.py tenant HOST PORT USER PASSWORD
                                         tenant walls: USER (of tenant "ta")
                                         against tenant "tb"'s objects

ROWS below holds one row per Kafka API that has an ACL (the AclOperation
and ResourceType columns of src/kafka/api_table.h): the ACL the API needs,
the ACLs its secondary checks need too, a function that builds the request
for a resource and a function that reads the error (or the filtering) from
the response.  Each row gets three principals, roles with passwords:

  m<key>_allow  ALLOW for exactly that operation on that resource (and the
                row's secondary ACLs)
  m<key>_deny   ALLOW ALL on the resource (and the secondary ones), DENY of
                the operation on it
  m<key>_none   no ACL (nagare.allow_everyone_if_no_acl_found = off)

Run in the order none, deny, allow, so a destructive request (DeleteTopics,
DeleteGroups) is refused twice before it is allowed.  Adding an API is one
row.  APIs with no kafka-python class get one defined here with
kafka-python's own Struct types (still its encoder), at a version before
the API's first flexible one (kafka-python 2.0.2 has no compact encoding).
Every API with an ACL has a row but the KIP-848 ones (flexible only); an
API that cannot get a row goes in SKIPPED with the reason, printed.  The APIs without an ACL (ApiVersions,
SaslHandshake, SaslAuthenticate, DescribeCluster) are not in the matrix.
One "ok - ..." / "not ok - ..." / "skip - ..." line per check.
"""
import struct
import sys
import time

from kafka.client_async import KafkaClient
from kafka.protocol.api import Request, Response
from kafka.protocol.types import Array, Boolean, Int8, Int16, Int32, Int64, Schema, String
from kafka.protocol.admin import (
    AlterConfigsRequest, CreateAclsRequest, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteAclsRequest, DeleteGroupsRequest, DeleteTopicsRequest, DescribeAclsRequest,
    DescribeConfigsRequest, DescribeGroupsRequest, ListGroupsRequest)
from kafka.protocol.commit import OffsetCommitRequest, OffsetFetchRequest
from kafka.protocol.fetch import FetchRequest
from kafka.protocol.group import HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest
from kafka.protocol.metadata import MetadataRequest
from kafka.protocol.offset import OffsetRequest
from kafka.protocol.produce import ProduceRequest
from kafka.record.memory_records import MemoryRecordsBuilder

PASSWORD = 'matrix-secret-1'
TOPIC_AUTH, GROUP_AUTH, CLUSTER_AUTH, TXN_AUTH = 29, 30, 31, 53
AUTH_ERRORS = (TOPIC_AUTH, GROUP_AUTH, CLUSTER_AUTH, TXN_AUTH)
# kafka-python's resource types: TOPIC 2, GROUP 3, CLUSTER 4
RTYPE = {'TOPIC': 2, 'GROUP': 3, 'CLUSTER': 4}
STR = String('utf-8')


# --- APIs kafka-python 2.0.2 has no class for, in its own Struct types ---

class DeleteRecordsResponse_v0(Response):
    API_KEY, API_VERSION = 21, 0
    SCHEMA = Schema(('throttle_time_ms', Int32),
                    ('topics', Array(('name', STR),
                                     ('partitions', Array(('partition', Int32),
                                                          ('low_watermark', Int64),
                                                          ('error_code', Int16))))))


class DeleteRecordsRequest_v0(Request):
    API_KEY, API_VERSION, RESPONSE_TYPE = 21, 0, DeleteRecordsResponse_v0
    SCHEMA = Schema(('topics', Array(('name', STR),
                                     ('partitions', Array(('partition', Int32), ('offset', Int64))))),
                    ('timeout_ms', Int32))


class InitProducerIdResponse_v0(Response):
    API_KEY, API_VERSION = 22, 0
    SCHEMA = Schema(('throttle_time_ms', Int32), ('error_code', Int16),
                    ('producer_id', Int64), ('producer_epoch', Int16))


class InitProducerIdRequest_v0(Request):
    API_KEY, API_VERSION, RESPONSE_TYPE = 22, 0, InitProducerIdResponse_v0
    SCHEMA = Schema(('transactional_id', STR), ('transaction_timeout_ms', Int32))


class IncrementalAlterConfigsResponse_v0(Response):
    API_KEY, API_VERSION = 44, 0
    SCHEMA = Schema(('throttle_time_ms', Int32),
                    ('responses', Array(('error_code', Int16), ('error_message', STR),
                                        ('resource_type', Int8), ('resource_name', STR))))


class IncrementalAlterConfigsRequest_v0(Request):
    API_KEY, API_VERSION, RESPONSE_TYPE = 44, 0, IncrementalAlterConfigsResponse_v0
    SCHEMA = Schema(('resources', Array(('resource_type', Int8), ('resource_name', STR),
                                        ('configs', Array(('name', STR), ('op', Int8),
                                                          ('value', STR))))),
                    ('validate_only', Boolean))


class OffsetDeleteResponse_v0(Response):
    API_KEY, API_VERSION = 47, 0
    SCHEMA = Schema(('error_code', Int16), ('throttle_time_ms', Int32),
                    ('topics', Array(('name', STR),
                                     ('partitions', Array(('partition', Int32), ('error_code', Int16))))))


class OffsetDeleteRequest_v0(Request):
    API_KEY, API_VERSION, RESPONSE_TYPE = 47, 0, OffsetDeleteResponse_v0
    SCHEMA = Schema(('group_id', STR),
                    ('topics', Array(('name', STR), ('partitions', Array(Int32)))))


class OffsetForLeaderEpochResponse_v2(Response):
    API_KEY, API_VERSION = 23, 2
    SCHEMA = Schema(('throttle_time_ms', Int32),
                    ('topics', Array(('topic', STR),
                                     ('partitions', Array(('error_code', Int16), ('partition', Int32),
                                                          ('leader_epoch', Int32),
                                                          ('end_offset', Int64))))))


class OffsetForLeaderEpochRequest_v2(Request):
    API_KEY, API_VERSION, RESPONSE_TYPE = 23, 2, OffsetForLeaderEpochResponse_v2
    SCHEMA = Schema(('topics', Array(('topic', STR),
                                     ('partitions', Array(('partition', Int32),
                                                          ('current_leader_epoch', Int32),
                                                          ('leader_epoch', Int32))))))


# kafka-python 2.0.2's GroupCoordinatorResponse_v1 lacks throttle_time_ms
# (every field after it is misread): FindCoordinator v1 as Kafka's schema has it
class FindCoordinatorResponse_v1(Response):
    API_KEY, API_VERSION = 10, 1
    SCHEMA = Schema(('throttle_time_ms', Int32), ('error_code', Int16), ('error_message', STR),
                    ('coordinator_id', Int32), ('host', STR), ('port', Int32))


class FindCoordinatorRequest_v1(Request):
    API_KEY, API_VERSION, RESPONSE_TYPE = 10, 1, FindCoordinatorResponse_v1
    SCHEMA = Schema(('key', STR), ('key_type', Int8))


class Float64(Int64):
    """FLOAT64, which kafka-python 2.0.2 lacks, the way it writes Int64"""
    _pack = struct.Struct('>d').pack
    _unpack = struct.Struct('>d').unpack


ENTITY = Array(('entity_type', STR), ('entity_name', STR))


class DescribeClientQuotasResponse_v0(Response):
    API_KEY, API_VERSION = 48, 0
    SCHEMA = Schema(('throttle_time_ms', Int32), ('error_code', Int16), ('error_message', STR),
                    ('entries', Array(('entity', ENTITY),
                                      ('values', Array(('key', STR), ('value', Float64))))))


class DescribeClientQuotasRequest_v0(Request):
    API_KEY, API_VERSION, RESPONSE_TYPE = 48, 0, DescribeClientQuotasResponse_v0
    SCHEMA = Schema(('components', Array(('entity_type', STR), ('match_type', Int8), ('match', STR))),
                    ('strict', Boolean))


class AlterClientQuotasResponse_v0(Response):
    API_KEY, API_VERSION = 49, 0
    SCHEMA = Schema(('throttle_time_ms', Int32),
                    ('entries', Array(('error_code', Int16), ('error_message', STR), ('entity', ENTITY))))


class AlterClientQuotasRequest_v0(Request):
    API_KEY, API_VERSION, RESPONSE_TYPE = 49, 0, AlterClientQuotasResponse_v0
    SCHEMA = Schema(('entries', Array(('entity', ENTITY),
                                      ('ops', Array(('key', STR), ('value', Float64), ('remove', Boolean))))),
                    ('validate_only', Boolean))


# --- the requests and how their answers read ---

def records():
    b = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 20)
    b.append(timestamp=None, key=b'k', value=b'matrix', headers=[])
    b.close()
    return b.buffer()


def walk_typed(value, typ, name, found):
    if isinstance(typ, Array):
        for item in value or []:
            walk_typed(item, typ.array_of, name, found)
    elif isinstance(typ, Schema):
        for v, n, t in zip(value, typ.names, typ.fields):
            walk_typed(v, t, n, found)
    elif name == 'error_code':
        found.append(value)


def error(resp):
    """The first non-zero error code of the response, else 0."""
    found = []
    for n, t in zip(resp.SCHEMA.names, resp.SCHEMA.fields):
        walk_typed(getattr(resp, n), t, n, found)
    nz = [e for e in found if e]
    return nz[0] if nz else 0


# a row: the API's name and key, the operation and resource its ACL names,
# build(role, resource) -> request, the error of a refusal (denied_err),
# and optionally allowed(resp, resource) / denied(resp, resource) -> bool
# where success or refusal is not "error 0" / "error == denied_err", and
# the secondary ACLs [(type, name, operation)] the allowed role needs too
T = 'm.topic.%s'      # per-API topic
G = 'm.group.%s'      # per-API group
CL = 'kafka-cluster'


def row(name, key, op, rtype, rname, build, denied_err, allowed=None, denied=None, secondary=()):
    return dict(name=name, key=key, op=op, rtype=rtype, rname=rname, build=build,
                denied_err=denied_err, allowed=allowed, denied=denied, secondary=list(secondary))


def metadata_named(resp):
    return resp.topics[0][0]


ROWS = [
    row('Produce', 0, 'WRITE', 'TOPIC', T % 'produce',
        lambda r, t: ProduceRequest[3](transactional_id=None, required_acks=1, timeout=5000,
                                       topics=[(t, [(0, records())])]), TOPIC_AUTH),
    row('Fetch', 1, 'READ', 'TOPIC', T % 'fetch',
        lambda r, t: FetchRequest[4](-1, 0, 0, 1 << 20, 0, [(t, [(0, 0, 1 << 20)])]), TOPIC_AUTH),
    row('ListOffsets', 2, 'DESCRIBE', 'TOPIC', T % 'listoffsets',
        lambda r, t: OffsetRequest[1](-1, [(t, [(0, -1)])]), TOPIC_AUTH),
    # named: TOPIC_AUTHORIZATION_FAILED before saying whether it exists
    row('Metadata', 3, 'DESCRIBE', 'TOPIC', T % 'metadata',
        lambda r, t: MetadataRequest[1]([t]), TOPIC_AUTH),
    # all topics: left out, no error
    row('Metadata (all topics)', 3, 'DESCRIBE', 'TOPIC', T % 'metadata_all',
        lambda r, t: MetadataRequest[1](None), None,
        allowed=lambda resp, t: t in [x[1] for x in resp.topics],
        denied=lambda resp, t: error(resp) == 0 and t not in [x[1] for x in resp.topics]),
    row('OffsetCommit', 8, 'READ', 'GROUP', G % 'offsetcommit',
        lambda r, g: OffsetCommitRequest[2](g, -1, '', -1, [(T % 'offsetcommit', [(0, 0, '')])]),
        GROUP_AUTH, secondary=[('TOPIC', T % 'offsetcommit', 'READ')]),
    row('OffsetFetch', 9, 'DESCRIBE', 'GROUP', G % 'offsetfetch',
        lambda r, g: OffsetFetchRequest[3](g, [(T % 'offsetfetch', [0])]),
        GROUP_AUTH, secondary=[('TOPIC', T % 'offsetfetch', 'DESCRIBE')]),
    row('FindCoordinator', 10, 'DESCRIBE', 'GROUP', G % 'findcoordinator',
        lambda r, g: FindCoordinatorRequest_v1(g, 0), GROUP_AUTH),
    # a real join (a rebalance timeout of 1 s: the first join of an empty
    # group waits for it)
    row('JoinGroup', 11, 'READ', 'GROUP', G % 'joingroup',
        lambda r, g: JoinGroupRequest[2](g, 10000, 1000, '', 'consumer', [('range', b'')]), GROUP_AUTH),
    # a member nobody knows: past the ACL, the group says UNKNOWN_MEMBER_ID
    row('Heartbeat', 12, 'READ', 'GROUP', G % 'heartbeat',
        lambda r, g: HeartbeatRequest[1](g, 1, 'nobody'), GROUP_AUTH,
        allowed=lambda resp, g: error(resp) not in AUTH_ERRORS),
    row('LeaveGroup', 13, 'READ', 'GROUP', G % 'leavegroup',
        lambda r, g: LeaveGroupRequest[1](g, 'nobody'), GROUP_AUTH,
        allowed=lambda resp, g: error(resp) not in AUTH_ERRORS),
    row('SyncGroup', 14, 'READ', 'GROUP', G % 'syncgroup',
        lambda r, g: SyncGroupRequest[1](g, 1, 'nobody', []), GROUP_AUTH,
        allowed=lambda resp, g: error(resp) not in AUTH_ERRORS),
    row('DescribeGroups', 15, 'DESCRIBE', 'GROUP', G % 'describegroups',
        lambda r, g: DescribeGroupsRequest[1]([g]), GROUP_AUTH),
    # without DESCRIBE on the CLUSTER, only groups the principal may
    # DESCRIBE are listed: none for these two.  The broker lists the
    # groups it has seen, among them m.group.offsetcommit, committed by
    # the OffsetCommit row above.
    row('ListGroups', 16, 'DESCRIBE', 'CLUSTER', CL,
        lambda r, c: ListGroupsRequest[1](), None,
        allowed=lambda resp, c: G % 'offsetcommit' in [x[0] for x in resp.groups],
        denied=lambda resp, c: error(resp) == 0 and not resp.groups),
    row('CreateTopics', 19, 'CREATE', 'CLUSTER', CL,
        lambda r, c: CreateTopicsRequest[2]([('m.created.' + r, 1, -1, [], [])], 10000, False),
        TOPIC_AUTH),
    row('DeleteTopics', 20, 'DELETE', 'TOPIC', T % 'deletetopics',
        lambda r, t: DeleteTopicsRequest[1]([t], 10000), TOPIC_AUTH),
    row('DeleteRecords', 21, 'DELETE', 'TOPIC', T % 'deleterecords',
        lambda r, t: DeleteRecordsRequest_v0([(t, [(0, 0)])], 5000), TOPIC_AUTH),
    # without a transactional id: IDEMPOTENT_WRITE on the CLUSTER (or
    # WRITE on any topic, which none of the three has)
    row('InitProducerId', 22, 'IDEMPOTENT_WRITE', 'CLUSTER', CL,
        lambda r, c: InitProducerIdRequest_v0(None, 60000), CLUSTER_AUTH),
    row('OffsetForLeaderEpoch', 23, 'DESCRIBE', 'TOPIC', T % 'offsetforleaderepoch',
        lambda r, t: OffsetForLeaderEpochRequest_v2([(t, [(0, -1, 0)])]), TOPIC_AUTH),
    row('DescribeAcls', 29, 'DESCRIBE', 'CLUSTER', CL,
        lambda r, c: DescribeAclsRequest[1](2, None, 3, None, None, 1, 1), CLUSTER_AUTH),
    row('CreateAcls', 30, 'ALTER', 'CLUSTER', CL,
        lambda r, c: CreateAclsRequest[1]([(2, 'm.aclmade.' + r, 3, 'User:' + r, '*', 4, 3)]),
        CLUSTER_AUTH),
    # the ACL the CreateAcls row made.  Without ALTER on the CLUSTER,
    # nagare deletes only ACLs of resources the principal may ALTER
    # (docs/tenants.md): here none, so nothing is deleted
    row('DeleteAcls', 31, 'ALTER', 'CLUSTER', CL,
        lambda r, c: DeleteAclsRequest[1]([(2, 'm.aclmade.m30_allow', 3, None, None, 1, 1)]),
        None,
        allowed=lambda resp, c: error(resp) == 0 and len(resp.filter_responses[0][2]) == 1,
        denied=lambda resp, c: error(resp) == CLUSTER_AUTH or
        (error(resp) == 0 and not resp.filter_responses[0][2])),
    row('DescribeConfigs', 32, 'DESCRIBE_CONFIGS', 'TOPIC', T % 'describeconfigs',
        lambda r, t: DescribeConfigsRequest[1]([(2, t, None)], False), TOPIC_AUTH),
    row('AlterConfigs', 33, 'ALTER_CONFIGS', 'TOPIC', T % 'alterconfigs',
        lambda r, t: AlterConfigsRequest[0]([(2, t, [('retention.ms', '3600000')])], False),
        TOPIC_AUTH),
    row('CreatePartitions', 37, 'ALTER', 'TOPIC', T % 'createpartitions',
        lambda r, t: CreatePartitionsRequest[0]([(t, (2, None))], 10000, False), TOPIC_AUTH),
    row('DeleteGroups', 42, 'DELETE', 'GROUP', G % 'deletegroups',
        lambda r, g: DeleteGroupsRequest[0]([g]), GROUP_AUTH),
    row('IncrementalAlterConfigs', 44, 'ALTER_CONFIGS', 'TOPIC', T % 'incalterconfigs',
        lambda r, t: IncrementalAlterConfigsRequest_v0([(2, t, [('retention.ms', 0, '3600000')])], False),
        TOPIC_AUTH),
    row('OffsetDelete', 47, 'DELETE', 'GROUP', G % 'offsetdelete',
        lambda r, g: OffsetDeleteRequest_v0(g, [(T % 'offsetdelete', [0])]), GROUP_AUTH,
        secondary=[('TOPIC', T % 'offsetdelete', 'READ')]),
    # the three principals belong to no tenant, so the tenant fallbacks of
    # quota_api.c do not apply
    row('DescribeClientQuotas', 48, 'DESCRIBE_CONFIGS', 'CLUSTER', CL,
        lambda r, c: DescribeClientQuotasRequest_v0([], False), CLUSTER_AUTH),
    row('AlterClientQuotas', 49, 'ALTER_CONFIGS', 'CLUSTER', CL,
        lambda r, c: AlterClientQuotasRequest_v0(
            [([('user', r)], [('producer_byte_rate', 1048576.0, False)])], False), CLUSTER_AUTH),
]

# APIs with an ACL in api_table.h that the matrix does not drive, and why
SKIPPED = [
    ('ConsumerGroupHeartbeat (68)', 'flexible from v0, which kafka-python 2.0.2 cannot encode: '
     'test/t/113_consumer_protocol.pl checks its ACLs (kip848_raw.py acl)'),
    ('ConsumerGroupDescribe (69)', 'as ConsumerGroupHeartbeat (113_consumer_protocol.pl)'),
]

# topics and groups the rows use, made by the SQL setup
TOPICS = sorted({r['rname'] for r in ROWS if r['rtype'] == 'TOPIC'} |
                {s[1] for r in ROWS for s in r['secondary'] if s[0] == 'TOPIC'})
GROUPS = sorted({r['rname'] for r in ROWS if r['rtype'] == 'GROUP'} | {G % 'listgroups'})


def roles(r):
    base = 'm%d' % r['key'] + ('a' if r['name'].endswith('(all topics)') else '')
    return base + '_none', base + '_deny', base + '_allow'


def sql():
    q = lambda s: "'" + s.replace("'", "''") + "'"
    out = []
    for t in TOPICS:
        out.append('SELECT nagare.create_topic(%s);' % q(t))
    for r in ROWS:
        none, deny, allow = roles(r)
        for role in (none, deny, allow):
            out.append('CREATE ROLE %s LOGIN PASSWORD %s;' % (role, q(PASSWORD)))
        res = [(r['rtype'], r['rname'])] + [(s[0], s[1]) for s in r['secondary']]
        out.append('SELECT nagare.create_acl(%s, %s, %s, %s);'
                   % (q(r['rtype']), q(r['rname']), q('User:' + allow), q(r['op'])))
        for (t, n, op) in r['secondary']:
            out.append('SELECT nagare.create_acl(%s, %s, %s, %s);' % (q(t), q(n), q('User:' + allow), q(op)))
        for (t, n) in res:
            out.append("SELECT nagare.create_acl(%s, %s, %s, 'ALL');" % (q(t), q(n), q('User:' + deny)))
        out.append("SELECT nagare.create_acl(%s, %s, %s, %s, 'DENY');"
                   % (q(r['rtype']), q(r['rname']), q('User:' + deny), q(r['op'])))
    # committed offsets, so the groups exist for ListGroups, DeleteGroups, OffsetDelete
    for g in GROUPS:
        out.append('INSERT INTO nagare.group_offset (group_id, topic, "partition", committed_offset) '
                   'VALUES (%s, %s, 0, 0);' % (q(g), q(T % 'offsetdelete')))
    print('\n'.join(out))


class Conn:
    def __init__(self, host, port, user, password):
        self.c = KafkaClient(bootstrap_servers='%s:%d' % (host, port), client_id='acl-matrix',
                             security_protocol='SASL_PLAINTEXT', sasl_mechanism='PLAIN',
                             sasl_plain_username=user, sasl_plain_password=password,
                             api_version=(2, 5, 0), request_timeout_ms=15000)
        self.node = self.c.least_loaded_node()
        deadline = time.time() + 15
        while not self.c.ready(self.node):
            if time.time() > deadline:
                raise RuntimeError('could not log in as %s' % user)
            self.c.poll(timeout_ms=100)

    def call(self, req):
        f = self.c.send(self.node, req)
        deadline = time.time() + 15
        while not f.is_done and time.time() < deadline:
            self.c.poll(future=f, timeout_ms=200)
        if not f.is_done:
            raise RuntimeError('no answer to %s' % type(req).__name__)
        if f.failed():
            raise f.exception
        return f.value

    def close(self):
        self.c.close()


failures = 0


def check(cond, what):
    global failures
    print(('ok - ' if cond else 'not ok - ') + what)
    sys.stdout.flush()
    if not cond:
        failures += 1


def matrix(host, port):
    for name, why in SKIPPED:
        print('skip - %s: %s' % (name, why))
    for r in ROWS:
        none, deny, allow = roles(r)
        for role in (none, deny, allow):
            kind = role.rsplit('_', 1)[1]
            c = None
            try:
                c = Conn(host, port, role, PASSWORD)
                resp = c.call(r['build'](role, r['rname']))
            except Exception as e:
                check(False, '%s as %s: %r' % (r['name'], kind, e))
                continue
            finally:
                if c:
                    c.close()
            err = error(resp)
            if kind == 'allow':
                ok = r['allowed'](resp, r['rname']) if r['allowed'] else err == 0
                check(ok, '%s allowed with %s on %s %s (error %d)'
                      % (r['name'], r['op'], r['rtype'], r['rname'], err))
            else:
                ok = r['denied'](resp, r['rname']) if r['denied'] else err == r['denied_err']
                check(ok, '%s refused %s (%s; error %d)'
                      % (r['name'], 'under a DENY beating ALLOW ALL' if kind == 'deny' else 'without an ACL',
                         'filtered' if r['denied'] else 'expected %d' % r['denied_err'], err))
    print('acl_matrix: done')


def tenant(host, port, user, password):
    """User of tenant ta against tenant tb's topic tb.t and group tb.g."""
    t, g = 'tb.t', 'tb.g'
    c = Conn(host, port, user, password)
    reqs = [
        ('Metadata (all topics) leaves tb out',
         MetadataRequest[1](None),
         lambda resp: not [x for x in resp.topics if x[1].startswith('tb.')] and
         [x for x in resp.topics if x[1].startswith('ta.')]),
        ('Metadata tb.t', MetadataRequest[1]([t]), TOPIC_AUTH),
        ('Produce tb.t', ProduceRequest[3](None, 1, 5000, [(t, [(0, records())])]), TOPIC_AUTH),
        ('Fetch tb.t', FetchRequest[4](-1, 0, 0, 1 << 20, 0, [(t, [(0, 0, 1 << 20)])]), TOPIC_AUTH),
        ('ListOffsets tb.t', OffsetRequest[1](-1, [(t, [(0, -1)])]), TOPIC_AUTH),
        ('FindCoordinator tb.g', FindCoordinatorRequest_v1(g, 0), GROUP_AUTH),
        ('OffsetCommit tb.g', OffsetCommitRequest[2](g, -1, '', -1, [(t, [(0, 0, '')])]), GROUP_AUTH),
        ('OffsetCommit of tb.t in ta\'s group', OffsetCommitRequest[2]('ta.g', -1, '', -1, [(t, [(0, 0, '')])]),
         TOPIC_AUTH),
        ('OffsetFetch tb.g', OffsetFetchRequest[3](g, [(t, [0])]), GROUP_AUTH),
        ('OffsetFetch of tb.t in ta\'s group', OffsetFetchRequest[3]('ta.g', [(t, [0])]), TOPIC_AUTH),
        ('JoinGroup tb.g', JoinGroupRequest[2](g, 10000, 10000, '', 'consumer', [('range', b'')]), GROUP_AUTH),
        ('Heartbeat tb.g', HeartbeatRequest[1](g, 1, 'x'), GROUP_AUTH),
        ('SyncGroup tb.g', SyncGroupRequest[1](g, 1, 'x', []), GROUP_AUTH),
        ('LeaveGroup tb.g', LeaveGroupRequest[1](g, 'x'), GROUP_AUTH),
        ('DescribeGroups tb.g', DescribeGroupsRequest[1]([g]), GROUP_AUTH),
        ('ListGroups leaves tb out', ListGroupsRequest[1](),
         lambda resp: error(resp) == 0 and not [x for x in resp.groups if x[0].startswith('tb.')]
         and 'ta.kg' in [x[0] for x in resp.groups]),
        ('DescribeConfigs tb.t', DescribeConfigsRequest[1]([(2, t, None)], False), TOPIC_AUTH),
        ('AlterConfigs tb.t', AlterConfigsRequest[0]([(2, t, [('retention.ms', '1000')])], False), TOPIC_AUTH),
        ('IncrementalAlterConfigs tb.t',
         IncrementalAlterConfigsRequest_v0([(2, t, [('retention.ms', 0, '1000')])], False), TOPIC_AUTH),
        ('CreatePartitions tb.t', CreatePartitionsRequest[0]([(t, (3, None))], 10000, False), TOPIC_AUTH),
        ('DeleteRecords tb.t', DeleteRecordsRequest_v0([(t, [(0, 1)])], 5000), TOPIC_AUTH),
        ('CreateTopics tb.new', CreateTopicsRequest[2]([('tb.new', 1, -1, [], [])], 10000, False), TOPIC_AUTH),
        ('DescribeAcls shows none of tb\'s',
         DescribeAclsRequest[1](1, None, 1, None, None, 1, 1),
         lambda resp: error(resp) == CLUSTER_AUTH or
         not [x for x in resp.resources if x[1].startswith('tb')]),
        ('CreateAcls on tb.t', CreateAclsRequest[1]([(2, t, 3, 'User:' + user, '*', 3, 3)]), CLUSTER_AUTH),
        ('DeleteAcls of tb.', DeleteAclsRequest[1]([(1, 'tb.', 1, None, None, 1, 1)]),
         lambda resp: error(resp) in (0, CLUSTER_AUTH) and
         not [m for fr in resp.filter_responses for m in fr[2]]),
        ('DescribeClientQuotas shows none of tb\'s',
         DescribeClientQuotasRequest_v0([], False),
         lambda resp: error(resp) == CLUSTER_AUTH or
         (error(resp) == 0 and not [e for e in resp.entries or []
                                    if 'tb' in repr(e[0])])),
        ('DescribeClientQuotas of tb_user', DescribeClientQuotasRequest_v0([('user', 0, 'tb_user')], True),
         lambda resp: error(resp) == CLUSTER_AUTH or (error(resp) == 0 and not resp.entries)),
        ('AlterClientQuotas of tb_user', AlterClientQuotasRequest_v0(
            [([('user', 'tb_user')], [('producer_byte_rate', 1.0, False)])], False), CLUSTER_AUTH),
        ('AlterClientQuotas of tenant tb', AlterClientQuotasRequest_v0(
            [([('tenant', 'tb')], [('producer_byte_rate', 1.0, False)])], False),
         lambda resp: error(resp) != 0),
        ('OffsetDelete tb.g', OffsetDeleteRequest_v0(g, [(t, [0])]), GROUP_AUTH),
        ('DeleteGroups tb.g', DeleteGroupsRequest[0]([g]), GROUP_AUTH),
        ('DeleteTopics tb.t', DeleteTopicsRequest[1]([t], 10000), TOPIC_AUTH),
    ]
    for what, req, expect in reqs:
        try:
            resp = c.call(req)
        except Exception as e:
            check(False, 'tenant wall: %s: %r' % (what, e))
            continue
        if callable(expect):
            check(bool(expect(resp)), 'tenant wall: %s (error %d)' % (what, error(resp)))
        else:
            check(error(resp) == expect, 'tenant wall: %s refused with %d (got %d)'
                  % (what, expect, error(resp)))
    c.close()
    print('acl_matrix tenant: done')


if __name__ == '__main__':
    if sys.argv[1] == 'sql':
        sql()
    elif sys.argv[1] == 'matrix':
        matrix(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == 'produce':
        c = Conn(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
        r = c.call(ProduceRequest[3](None, 1, 5000, [(sys.argv[6], [(0, records())])]))
        check(error(r) == 0, 'Produce to %s as %s (error %d)' % (sys.argv[6], sys.argv[4], error(r)))
        # a group the broker knows (ListGroups lists those), named after
        # the topic's namespace: <tenant>.kg
        g = sys.argv[6].split('.')[0] + '.kg'
        r = c.call(OffsetCommitRequest[2](g, -1, '', -1, [(sys.argv[6], [(0, 1, '')])]))
        check(error(r) == 0, 'OffsetCommit of %s as %s (error %d)' % (g, sys.argv[4], error(r)))
        r = c.call(ListGroupsRequest[1]())
        check(g in [x[0] for x in r.groups], 'ListGroups as %s lists %s' % (sys.argv[4], g))
        c.close()
    elif sys.argv[1] == 'tenant':
        tenant(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    sys.exit(1 if failures else 0)
