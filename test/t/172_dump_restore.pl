# pg_dump / pg_restore round trip of nagare's catalog into a fresh cluster.
#
# nagare's worker serves one database (nagare.database), so the dump of a
# first cluster is restored into the database "postgres" of a second one,
# where the extension does not exist yet (pg_restore creates it).  Topics
# (with their configuration and ids), table topics (the table by name, its
# on_error), ACLs, tenants and their principals, quotas and the audit trail
# come back; after a restart the broker serves the topics, and the table
# topic delivers new changes of the restored table.  DROP TABLE and DROP
# EXTENSION go through nagare's event trigger.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $src = nagare_node('dump_src');
ok(wait_until(sub {
	$src->safe_psql('postgres', 'SELECT count(*) FROM nagare.ingest') eq '1';
}), 'source: the ingest worker has its replication slot');

my $roles = q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
};
$src->safe_psql('postgres', $roles);
$src->safe_psql('postgres', q{
	SELECT nagare.create_topic('orders', 3, '{"retention.ms": "86400000"}');
	SELECT nagare.create_tenant('pay', max_topics => 5);
	SELECT nagare.add_tenant_principal('pay', 'alice', admin => true);
	SELECT nagare.create_topic('pay.events', 2);
	SELECT nagare.create_acl('TOPIC', 'orders', 'User:bob', 'READ');
	SELECT nagare.set_quota('user=bob', 'producer_byte_rate', 1048576);
	CREATE SCHEMA shop;
	CREATE TABLE shop.items (id integer PRIMARY KEY, name text);
	INSERT INTO shop.items VALUES (1, 'tea');
	SELECT nagare.create_table_topic('shop.items', 'items', on_error => 'skip');
	CREATE TABLE plain (id integer PRIMARY KEY);
	SELECT nagare.create_table_topic('plain', snapshot => false);
});

# what must come back, as the views show it
my %check = (
	topics => q{SELECT string_agg(topic || ' ' || partitions || ' ' || overrides::text, ', ' ORDER BY topic) FROM nagare.topics},
	topic_ids => q{SELECT string_agg(name || ' ' || id || ' ' || topic_uuid, ', ' ORDER BY name) FROM nagare.topic},
	table_topics => q{SELECT string_agg(relation::text || ' ' || topic || ' ' || on_error || ' ' || dead_letter_topic, ', ' ORDER BY topic) FROM nagare.table_topics},
	acls => q{SELECT string_agg(x, ', ' ORDER BY x) FROM (SELECT resource_type || ' ' || resource_name || ' ' || pattern_type || ' ' || principal || ' ' || operation || ' ' || permission AS x FROM nagare.acls) a},
	tenants => q{SELECT string_agg(t.name || ' ' || coalesce(t.max_topics, -1) || ' ' || p.role || ' ' || p.is_admin, ', ' ORDER BY p.role) FROM nagare.tenant t JOIN nagare.tenant_principal p ON p.tenant = t.name},
	quotas => q{SELECT string_agg(entity || ' ' || key || ' ' || value, ', ' ORDER BY entity, key) FROM nagare.quota},
);
my %before;
$before{$_} = $src->safe_psql('postgres', $check{$_}) for keys %check;
like($before{table_topics}, qr/^shop\.items items skip items\.dlq, plain public\.plain dead_letter public\.plain\.dlq$/,
	'source: nagare.table_topics shows the tables by name');

my $dump = PostgreSQL::Test::Utils::tempdir() . '/nagare.dump';
command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $src->connstr('postgres') ], 'pg_dump of the source');
my $list = `pg_restore -l '$dump'`;
like($list, qr/TABLE DATA nagare table_topic/, 'the dump has the data of nagare.table_topic');
my $sql = `pg_restore -f - '$dump'`;
like($sql, qr/^COPY nagare\.table_topic .*\n(?:.*\n)*?shop\.items\titems\t/m,
	'the dump writes the table topic\'s table by name, not by OID');

# a second cluster, without the extension yet
my $dst = nagare_node('dump_dst', start => 0);
$dst->start;
$dst->safe_psql('postgres', $roles);
# in sections, the data with triggers disabled (nagare's audit trail must
# not record the restored rows again), the tables' data before nagare's (a
# table topic restored first would publish its table's restored rows as
# new inserts): docs/operations.md, "pg_dump and pg_restore"
for my $step ([ '--section=pre-data' ],
	[ '--section=data', '--disable-triggers', '--exclude-schema=nagare' ],
	[ '--section=data', '--disable-triggers', '--schema=nagare' ],
	[ '--section=post-data' ])
{
	command_ok([ 'pg_restore', '-d', $dst->connstr('postgres'), '--exit-on-error', @$step, $dump ],
		"pg_restore @$step into the fresh cluster");
}
is($dst->safe_psql('postgres', q{SELECT count(*) FROM nagare.audit_log}),
	$src->safe_psql('postgres', q{SELECT count(*) FROM nagare.audit_log}), 'restored: the audit trail as it was');
$dst->restart;
wait_broker_ready($dst);

for my $k (sort keys %check)
{
	is($dst->safe_psql('postgres', $check{$k}), $before{$k}, "restored: $k as before");
}
is($dst->safe_psql('postgres', q{SELECT count(*) FROM nagare.table_topic tt WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = tt.relid)}),
	'0', 'restored: every table topic refers to a table of this database');
is($dst->safe_psql('postgres', q{SELECT count(*) FROM nagare.partitions WHERE topic IN ('orders', 'pay.events', 'items')}),
	'6', 'restored: the broker serves the topics\' partitions');

# the table topic delivers the restored table's changes
ok(wait_until(sub {
	$dst->safe_psql('postgres', 'SELECT count(*) FROM nagare.ingest') eq '1';
}), 'restored: the ingest worker has its replication slot');
$dst->safe_psql('postgres', q{
	INSERT INTO shop.items VALUES (2, 'coffee');
	UPDATE shop.items SET name = 'green tea' WHERE id = 1;
});
ok(wait_until(sub {
	$dst->safe_psql('postgres', q{SELECT high_watermark FROM nagare.partitions WHERE topic = 'items'}) eq '2';
}, 60), 'restored: the table topic delivered both changes');
is($dst->safe_psql('postgres', q{
	SELECT string_agg((v->>'op') || ' ' || (v->'after'->>'name') || ' ' || (v->'source'->>'schema') || '.' || (v->'source'->>'table'), ', ' ORDER BY "offset")
	  FROM nagare.consume('items', 0, 0, 10), LATERAL (SELECT convert_from(value, 'UTF8')::jsonb AS v) x}),
	'c coffee shop.items, u green tea shop.items', 'restored: the changes, from the restored table');

# DROP TABLE cleans up there too
my ($rc, $out, $err) = $dst->psql('postgres', 'DROP TABLE plain');
like($err, qr/NOTICE:  table topic of public\.plain dropped with its table/, 'DROP TABLE: a NOTICE');
is($dst->safe_psql('postgres', q{SELECT count(*) FROM nagare.table_topic}), '1', 'DROP TABLE: its table topic is gone');
# a role's DROP runs the event trigger too, which reads what roles may not
$dst->safe_psql('postgres', q{
	GRANT CREATE ON SCHEMA public TO bob;
	SET ROLE bob;
	CREATE TABLE bobs (id integer);
	DROP TABLE bobs;
});
pass('a role without rights on nagare\'s tables drops its own table');
($rc, $out, $err) = $dst->psql('postgres', 'DROP EXTENSION nagare CASCADE');
is($rc, 0, 'DROP EXTENSION: the event trigger does not stand in the way') or diag($err);

done_testing();
