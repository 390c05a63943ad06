# ACLs over the Kafka door: Kafka's own ACL admin (kafka-python's
# KafkaAdminClient: CreateAcls, DescribeAcls, DeleteAcls) and enforcement
# (Produce, Metadata filtering, Fetch) for the client's principal, which is
# User:ANONYMOUS until SASL lands; the same rows through SQL.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $python = '/usr/bin/python3';
plan skip_all => 'kafka-python (Debian python3-kafka) is not installed'
  if system("$python -c 'import kafka' 2>/dev/null") != 0;

my ($node, $port) = kafka_node('acl');
$node->safe_psql('postgres', "SELECT nagare.create_topic('acl_open'), nagare.create_topic('acl_private')");

my ($stdout, $stderr);
IPC::Run::run [ $python, 'test/interop/acl_kafka_python.py', '127.0.0.1', $port ],
  '>', \$stdout, '2>', \$stderr;
note($stderr) if $stderr;
for my $line (split /\n/, $stdout)
{
	ok(1, $1) if $line =~ /^ok - (.*)/;
	fail($1) if $line =~ /^not ok - (.*)/;
}
like($stdout, qr/acl_kafka_python: done/, 'the Kafka client ran to its end');

# what Kafka created is rows of nagare.acl, readable from SQL
is($node->safe_psql('postgres',
	"SELECT string_agg(resource_name || ' ' || principal || ' ' || operation || ' ' || permission, ', ' ORDER BY resource_name, operation) FROM nagare.acls"),
	'acl_open User:ANONYMOUS READ ALLOW, acl_open User:ANONYMOUS WRITE ALLOW, acl_private User:alice READ ALLOW',
	'ACLs made by a Kafka admin client are rows of nagare.acls');
# each change made by the Kafka admin client is an audit row naming the client
is($node->safe_psql('postgres',
	"SELECT string_agg(operation || ' ' || object_name || ' ' || principal || ' ' || client_host || ' ' || client_id, ', ' ORDER BY id) FROM nagare.audit_log WHERE object_type = 'ACL'"),
	'create_acl TOPIC:LITERAL:acl_private User:ANONYMOUS 127.0.0.1 acl-admin, '
	  . 'create_acl TOPIC:LITERAL:acl_open User:ANONYMOUS 127.0.0.1 acl-admin, '
	  . 'create_acl TOPIC:LITERAL:acl_open User:ANONYMOUS 127.0.0.1 acl-admin, '
	  . 'create_acl TOPIC:PREFIXED:acl_ User:ANONYMOUS 127.0.0.1 acl-admin, '
	  . 'delete_acl TOPIC:PREFIXED:acl_ User:ANONYMOUS 127.0.0.1 acl-admin',
	'audit rows for the ACL changes, with the Kafka principal, host and client.id');
is($node->safe_psql('postgres',
	"SELECT operation || ' ' || object_name || ' ' || coalesce(principal, 'null') || ' ' || role FROM nagare.audit_log WHERE object_type = 'TOPIC' ORDER BY id LIMIT 1"),
	'create_topic acl_open null ' . $node->safe_psql('postgres', 'SELECT current_user'),
	'an audit row for a topic created from SQL names the role');
ok($node->safe_psql('postgres', 'SELECT denied FROM nagare.acl_status') > 0,
	'denied authorizations are counted');
ok($node->log_contains(qr/nagare: denied [A-Z_]+ on TOPIC/), 'a denial is sampled to the log');
is($node->safe_psql('postgres', 'SELECT pid FROM nagare.broker') > 0, 1, 'the broker still runs');

$node->stop;

# Two tenants side by side, with what has no ACL closed (as once a listener
# authenticates).  The Kafka client, User:ANONYMOUS, is made the admin of
# tenant "teamk" by a role of that name.
my ($tnode, $tport) = kafka_node('tenants',
	conf => "nagare.allow_everyone_if_no_acl_found = off\n");
$tnode->safe_psql('postgres', q{
CREATE ROLE "ANONYMOUS";
CREATE ROLE other_user;
SELECT nagare.create_tenant('teamk', max_topics => 5, max_partitions => 3);
SELECT nagare.create_tenant('other');
SELECT nagare.add_tenant_principal('teamk', 'ANONYMOUS', admin => true);
SELECT nagare.add_tenant_principal('other', 'other_user');
SELECT nagare.create_topic('other.secret');
INSERT INTO nagare.group_offset (group_id, topic, "partition", committed_offset)
  VALUES ('teamk.g', 'teamk.orders', 0, 1), ('teamk.g', 'other.secret', 0, 7);
});
ok(wait_until(sub {
	$tnode->safe_psql('postgres',
		'SELECT acls = (SELECT count(*) FROM nagare.acl) FROM nagare.acl_status') eq 't';
}), 'the ACLs reached the broker');

IPC::Run::run [ $python, 'test/interop/acl_tenant_kafka_python.py', '127.0.0.1', $tport ],
  '>', \$stdout, '2>', \$stderr;
note($stderr) if $stderr;
for my $line (split /\n/, $stdout)
{
	ok(1, $1) if $line =~ /^ok - (.*)/;
	fail($1) if $line =~ /^not ok - (.*)/;
}
like($stdout, qr/acl_tenant_kafka_python: done/, 'the tenant\'s Kafka client ran to its end');
is($tnode->safe_psql('postgres',
	"SELECT operation || ' ' || object_name || ' ' || principal || ' ' || client_id FROM nagare.audit_log WHERE object_type = 'TOPIC' AND principal IS NOT NULL ORDER BY id"),
	'create_topic teamk.orders User:ANONYMOUS teamk-admin',
	'the topic made by the tenant\'s admin through Kafka is audited with its principal and client.id');
is($tnode->safe_psql('postgres', "SELECT topic FROM nagare.topics ORDER BY 1"),
	"other.secret\nteamk.orders", 'nothing else was created');
$tnode->stop;
done_testing();
