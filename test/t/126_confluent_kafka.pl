# confluent-kafka 2.16.1 from PyPI (librdkafka 2.16.0 in its wheel) against
# nagare, beside Debian's 1.7.0 (librdkafka 2.0.2) of the other tests.
#
# test/interop/confluent_current.py runs in the venv scripts/deps.sh makes
# (/opt/nagare-test/confluent-venv).  Its admin client creates a topic with
# a config and describes it (the topic id is nagare.topics.topic_uuid),
# lists topics, describes its configs and the cluster; idempotent acks=all
# producers write keyed records compressed with lz4 and with zstd (the
# stored batches say so and carry a producer id); a classic group member
# reads exactly them and commits (nagare.group_offset), and the admin client
# lists and describes its group (and, on a second topic, lists offsets,
# deletes records, alters and lists a group's offsets, alters configs
# incrementally, adds partitions, deletes the group and the topic); over
# SASL SCRAM-SHA-256 (this librdkafka is
# past the 2.0.2 nonce bug of docs/protocol.md's clients) a role logs in, a
# wrong password is refused, more records are written and the group resumes
# from its commit with exactly them.  KIP-848's group.protocol=consumer:
# a consumer of that protocol reads the topic (113_consumer_protocol.pl
# tests the protocol itself).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use MIME::Base64;

my $venv = $ENV{NAGARE_CONFLUENT_VENV} // '/opt/nagare-test/confluent-venv';
my $script = "$FindBin::RealBin/../interop/confluent_current.py";
plan skip_all => "no confluent-kafka venv at $venv (scripts/deps.sh makes it)"
  unless -x "$venv/bin/python";

my $port = PostgreSQL::Test::Cluster::get_free_port();
my $sport = PostgreSQL::Test::Cluster::get_free_port();
my $node = nagare_node('confluent', conf => <<"EOC");
nagare.listeners = 'PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sport'
password_encryption = 'scram-sha-256'
EOC
$node->wait_for_log(qr/listening for Kafka clients on 127\.0\.0\.1 port $sport/);

# A SASL listener makes resources without ACLs closed: the anonymous
# clients of the plaintext listener and the role cfk get what they need.
$node->safe_psql('postgres', q{
CREATE ROLE cfk LOGIN PASSWORD 'cfk-secret-1';
SELECT nagare.create_acl(t, n, 'User:' || u, 'ALL')
  FROM (VALUES ('TOPIC', '*'), ('GROUP', '*'), ('CLUSTER', 'kafka-cluster')) v(t, n),
       unnest(ARRAY['ANONYMOUS', 'cfk']) u;
});

sub cfk
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run [ "$venv/bin/python", $script, @args ], '>', \$out, '2>', \$err,
	  IPC::Run::timeout(60);
	my ($last) = grep { /^\{/ } reverse split /\n/, $out;
	my $r = defined $last ? eval { decode_json($last) } : undef;
	return $r // { ok => 0, error => "no result: $out " . substr($err, 0, 2000) };
}

my $boot = "127.0.0.1:$port";
my $sboot = "127.0.0.1:$sport";

my $v = cfk('version');
my @lv = split /\./, $v->{libversion} // '0.0.0';
ok(($lv[0] <=> 2 || $lv[1] <=> 6 || $lv[2] <=> 1) > 0,
	"librdkafka $v->{libversion} (confluent-kafka $v->{version}) is past the 2.6.1 SCRAM nonce bug");

# the admin client
my $a = cfk('admin', $boot, 'cf_orders', 3);
ok($a->{ok}, 'the admin client creates topic cf_orders') or diag(explain $a);
my $uuid = $node->safe_psql('postgres',
	"SELECT replace(topic_uuid::text, '-', '') FROM nagare.topics WHERE topic = 'cf_orders'");
is(unpack('H*', decode_base64($a->{topic_id} // '')), $uuid,
	'describe_topics: the topic id of nagare.topics');
is($a->{described_partitions}, 3, '... 3 partitions');
is_deeply($a->{leaders}, [0], '... led by node 0');
ok($a->{listed}, 'list_topics lists it');
is($a->{retention_ms}, '86400000', 'describe_configs: the retention.ms it was created with');
is_deeply([ $a->{controller}, $a->{nodes} ], [ 0, [0] ],
	'describe_cluster: node 0, the controller');
ok(length($a->{cluster_id} // '') > 0, "describe_cluster: cluster id $a->{cluster_id}");

# idempotent, acks=all producers with lz4 and zstd
my $p = cfk('produce', $boot, 'cf_orders', 'lz4', 0, 300);
ok($p->{ok} && $p->{delivered} == 300, 'lz4: 300 records delivered') or diag(explain $p);
is(scalar(keys %{ $p->{by_partition} // {} }), 3, '... to all 3 partitions');
$p = cfk('produce', $boot, 'cf_orders', 'zstd', 300, 300);
ok($p->{ok} && $p->{delivered} == 300, 'zstd: 300 records delivered') or diag(explain $p);

# the stored batches: what RecordBatch attributes (bytes 21-22: the codec
# in bits 0-2) and producer ids (bytes 43-50) the partitions hold
my (%codecs, $nonidem);
for my $part (0 .. 2)
{
	my $dir = partition_dir($node, 'cf_orders', $part);
	for my $seg (segment_files($dir))
	{
		my $b = read_file_bytes("$dir/$seg");
		for (my $pos = 0; $pos + 61 <= length($b);)
		{
			my $len = unpack('N', substr($b, $pos + 8, 4));
			$codecs{ unpack('n', substr($b, $pos + 21, 2)) & 7 }++;
			$nonidem++ if unpack('N', substr($b, $pos + 43, 4)) == 0xffffffff;
			$pos += 12 + $len;
		}
	}
}
is_deeply([ sort keys %codecs ], [ 3, 4 ], 'the stored batches are lz4 (3) and zstd (4) only');
ok(!$nonidem, 'every stored batch has a producer id (idempotent)');

# a classic group member
my $c = cfk('consume', $boot, 'cf_orders', 'cf_group', 600);
ok($c->{ok}, 'a group member consumes') or diag(explain $c);
is_deeply([ @$c{qw(consumed distinct duplicates extra committed_sum)} ], [ 600, 600, 0, 0, 600 ],
	'exactly the 600 records, once each, nothing more; committed to the end');
ok($c->{listed}, 'list_consumer_groups lists the group');
is_deeply([ @$c{qw(group_state group_type group_assignor group_members)} ],
	[ 'STABLE', 'CLASSIC', 'range', 1 ],
	'describe_consumer_groups: Stable, classic, range, one member');
is($node->safe_psql('postgres',
	"SELECT count(*) || ' ' || sum(committed_offset) FROM nagare.group_offset WHERE group_id = 'cf_group'"),
	'3 600', 'nagare.group_offset has its commits');

# SCRAM-SHA-256
my $l = cfk('login', $sboot, 'cfk', 'cfk-secret-1');
ok($l->{metadata} && !defined $l->{error_code}, 'SCRAM-SHA-256 login, then Metadata')
  or diag(explain $l);
$l = cfk('login', $sboot, 'cfk', 'wrong-secret');
is($l->{error_code}, '_AUTHENTICATION', 'a wrong password: an authentication error')
  or diag(explain $l);
like($l->{error} // '', qr/SASL authentication error: Authentication failed/,
	'... saying authentication failed');
$p = cfk('produce', $sboot, 'cf_orders', 'zstd', 600, 50, 'cfk', 'cfk-secret-1');
ok($p->{ok} && $p->{delivered} == 50, 'over SCRAM: 50 more records') or diag(explain $p);
$c = cfk('consume', $sboot, 'cf_orders', 'cf_group', 50, 'cfk', 'cfk-secret-1');
is_deeply([ @$c{qw(ok consumed distinct extra first_key committed_sum)} ],
	[ JSON::PP::true, 50, 50, 0, 'k-600', 650 ],
	'over SCRAM the group resumes from its commit: exactly the 50 new records')
  or diag(explain $c);

# more of the admin client, on a topic of its own
$a = cfk('admin', $boot, 'cf_admin', 2);
$p = cfk('produce', $boot, 'cf_admin', 'none', 0, 20);
ok($a->{ok} && $p->{ok} && $p->{by_partition}{0} >= 2 && $p->{by_partition}{1} >= 3,
	'topic cf_admin: 20 records over its 2 partitions') or diag(explain [ $a, $p ]);
my $x = cfk('admin2', $boot, 'cf_admin', 'cf_admin_group');
ok($x->{ok}, 'list_offsets, delete_records, group offsets, configs, partitions, deletes')
  or diag(explain $x);
is_deeply($x->{latest}, [ $p->{by_partition}{0}, $p->{by_partition}{1} ],
	'list_offsets latest: the high watermarks');
ok($x->{max_timestamp}[0] >= 0 && $x->{max_timestamp}[0] < $x->{latest}[0]
	  && $x->{max_timestamp}[1] >= 0 && $x->{max_timestamp}[1] < $x->{latest}[1],
	'list_offsets max_timestamp: a record of each partition');
is_deeply([ $x->{deleted_low_watermark}, $x->{earliest} ], [ 2, [ 2, 0 ] ],
	'delete_records moves the log start of partition 0 to 2; list_offsets earliest says so');
is_deeply($x->{group_offsets}, [ [ 1, 3 ] ],
	'alter_consumer_group_offsets, then list_consumer_group_offsets');
is($x->{retention_ms}, '3600000', 'incremental_alter_configs SET retention.ms');
is($node->safe_psql('postgres', "SELECT count(*) FROM nagare.topics WHERE topic = 'cf_admin'")
	  . $node->safe_psql('postgres', "SELECT count(*) FROM nagare.group_offset WHERE group_id = 'cf_admin_group'"),
	'00', 'create_partitions, then delete_consumer_groups and delete_topics: both gone');

# KIP-848: group.protocol=consumer
my $k = cfk('kip848', $boot, 'cf_orders', 'cf_848', 4);
ok($k->{ok}, 'a group.protocol=consumer consumer runs') or diag(explain $k);
ok(!$k->{heartbeat_unsupported_logged}, '... librdkafka finds ConsumerGroupHeartbeat served')
  or note("librdkafka: $k->{log_line}");
is($k->{consumed}, 650, '... and it consumes the topic');

$node->stop;
done_testing();
