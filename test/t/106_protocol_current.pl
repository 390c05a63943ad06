# The protocol versions of today's clients that name topics by id, against
# hand-encoded requests (test/interop/topic_ids.py; kafka-python 2.0.2 has
# none of them) for the answers no well-behaved client provokes:
#
#   - Produce v13 (KIP-516): a record produced by topic id lands in the
#     topic, the answer names the id; an id no topic has, and one of a topic
#     the principal may not DESCRIBE, answer UNKNOWN_TOPIC_ID (100) alike;
#     a topic it may DESCRIBE but not WRITE, TOPIC_AUTHORIZATION_FAILED
#     (29); a transactional produce still gets
#     TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53); nagare.client_usage
#     counts the records like any other produce;
#   - OffsetCommit v10 and OffsetFetch v10 (KIP-848): a commit by id is a
#     row of nagare.group_offset under the topic's name, read back by id,
#     one topic or all of the group's; an unknown id is UNKNOWN_TOPIC_ID;
#   - DescribeTopicPartitions v0 (KIP-966) from Kafka's own kafka-topics.sh
#     --describe: the topic, its id and partitions, and with one partition
#     a page the cursor through every topic the principal may DESCRIBE;
#   - DescribeProducers v0 from Kafka's kafka-transactions.sh
#     describe-producers: kcat's idempotent producer, as the sequence checks
#     know it; TOPIC_AUTHORIZATION_FAILED without READ.
#
# The Java client 4.x and franz-go use these versions (105_java_client,
# 125_franz); here are the edges.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;
use MIME::Base64 ();

my $python = '/usr/bin/python3';
my $dir = "$FindBin::RealBin/../interop";
plan skip_all => 'kafka-python is not installed (topic_ids.py builds its batches)'
  unless system("$python -c 'import kafka' >/dev/null 2>&1") == 0;

my ($node, $kport) = kafka_node('proto', conf => qq{
nagare.auto_create_topics = off
});
my $boot = "127.0.0.1:$kport";
my $json = JSON::PP->new->canonical;

sub sql { return $node->safe_psql('postgres', $_[0]) }

sub ids
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ $python, "$dir/topic_ids.py", $boot, @_ ], '>', \$out, '2>', \$err);
	my $r = eval { decode_json($out) };
	diag("topic_ids.py @_: $err") unless $r;
	return $r // {};
}

sub uuid_of { return sql("SELECT topic_uuid FROM nagare.topics WHERE topic = '$_[0]'") }

sub parts
{
	my ($r) = @_;
	return $json->encode([ map { @{ $_->{partitions} // [] } } @{ $r->{topics} // [] } ]);
}

my $nobody = '3f1c2b4a-5d6e-4f70-8192-a3b4c5d6e7f8';
sql(q{SELECT nagare.create_topic('pc', 2), nagare.create_topic('pc_hidden', 1),
	nagare.create_topic('pc_ro', 1)});
my ($pc, $hidden, $ro) = map { uuid_of($_) } qw(pc pc_hidden pc_ro);
ok(wait_until(sub { (ids('metadata', $pc)->{topics} // [ {} ])->[0]{error} eq '0' }),
	'the broker knows topic pc by its id');

# ---- Produce v13
my $r = ids('produce', $pc, 1, 'by-id-1');
is($json->encode($r->{topics}), qq{[{"id":"$pc","partitions":[{"error":0,"offset":0,"partition":1}]}]},
	'Produce v13 by topic id: offset 0, the answer names the id');
$r = ids('produce', $pc, 1, 'by-id-2');
is(parts($r), '[{"error":0,"offset":1,"partition":1}]', 'a second record: offset 1');
is(sql("SELECT string_agg(convert_from(value, 'UTF8'), ',' ORDER BY \"offset\") FROM nagare.consume('pc', 1, 0, 10)"),
	'by-id-1,by-id-2', 'nagare.consume() has both records in pc, partition 1');
is(parts(ids('produce', $nobody, 0, 'x')), '[{"error":100,"offset":-1,"partition":0}]',
	'an id no topic has: UNKNOWN_TOPIC_ID (100)');
is(parts(ids('produce', $pc, 5, 'x')), '[{"error":3,"offset":-1,"partition":5}]',
	'a partition the topic lacks: UNKNOWN_TOPIC_OR_PARTITION (3)');
is(parts(ids('produce', $pc, 0, 'x', 'txn-1')), '[{"error":53,"offset":-1,"partition":0}]',
	'a transactional produce: TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53), as before v13');

ok(wait_until(sub {
	sql(q{SELECT records_in FROM nagare.client_usage WHERE source = 'kafka' AND client_id = 'topic-ids'}) eq '2' }),
	'nagare.client_usage counts the 2 records produced by id')
  or diag(sql(q{SELECT row_to_json(u) FROM nagare.client_usage u WHERE client_id = 'topic-ids'}));

# ACLs: anonymous may DESCRIBE pc_ro but not WRITE it; pc_hidden has an ACL
# for someone else only
sql(q{SELECT nagare.create_acl('TOPIC', 'pc_ro', 'User:ANONYMOUS', 'DESCRIBE'),
	nagare.create_acl('TOPIC', 'pc_hidden', 'User:someone', 'WRITE')});
ok(wait_until(sub { sql('SELECT acls FROM nagare.acl_status') eq '2' }), 'two ACLs reached the broker');
is(parts(ids('produce', $hidden, 0, 'x')), '[{"error":100,"offset":-1,"partition":0}]',
	'Produce v13 to a topic the principal may not DESCRIBE: UNKNOWN_TOPIC_ID, as an unknown id');
is(parts(ids('produce', $ro, 0, 'x')), '[{"error":29,"offset":-1,"partition":0}]',
	'to one it may DESCRIBE but not WRITE: TOPIC_AUTHORIZATION_FAILED (29)');
is(sql(q{SELECT sum(high_watermark) FROM nagare.partitions WHERE topic IN ('pc_hidden', 'pc_ro')}), '0',
	'and neither got a record');

# ---- OffsetCommit v10, OffsetFetch v10
$r = ids('commit', 'pcg', $pc, 1, 2);
is($json->encode($r->{topics}), qq{[{"id":"$pc","partitions":[[1,0]]}]},
	'OffsetCommit v10 by topic id: committed, the answer names the id');
is(sql(q{SELECT topic || ' ' || "partition" || ' ' || committed_offset FROM nagare.group_offset WHERE group_id = 'pcg'}),
	'pc 1 2', 'nagare.group_offset has the commit under the topic name');
is(parts(ids('commit', 'pcg', $nobody, 0, 1)), '[[0,100]]', 'an unknown id: UNKNOWN_TOPIC_ID (100)');
is(parts(ids('commit', 'pcg', $hidden, 0, 1)), '[[0,100]]',
	'a topic it may not DESCRIBE: UNKNOWN_TOPIC_ID (100)');

$r = ids('offsets', 'pcg', $pc, 1);
is($json->encode([ $r->{error}, $r->{topics} ]), qq{[0,[{"id":"$pc","partitions":[[1,2,0]]}]]},
	'OffsetFetch v10 by topic id: the committed offset, the answer names the id');
is(parts(ids('offsets', 'pcg', $nobody, 0)), '[[0,-1,100]]', 'an unknown id: UNKNOWN_TOPIC_ID (100)');
$r = ids('offsets', 'pcg');
is($json->encode($r->{topics}), qq{[{"id":"$pc","partitions":[[1,2,0]]}]},
	'OffsetFetch v10 for all topics: each by its id');

# ---- DescribeTopicPartitions v0 (KIP-966): Kafka's kafka-topics.sh --describe
SKIP:
{
	my $tools = "$dir/kafka-tools";
	skip 'Java or Kafka\'s tools (test/interop/kafka-tools/build.sh) missing', 11
	  unless system('java -version >/dev/null 2>&1') == 0 && -f "$tools/target/.built";
	my $topics = sub {
		my ($out, $err) = ('', '');
		local $ENV{JAVA_OPTS} = '-Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients.NetworkClient=debug';
		IPC::Run::run([ "$tools/kafka-topics.sh", '--bootstrap-server', $boot, @_ ],
			'<', \undef, '>', \$out, '2>', \$err);
		my %sent;
		$sent{$1}{$2}++ while $err =~ /Sending \w+ request with header RequestHeader\(apiKey=(\w+), apiVersion=(\d+)/g;
		return ($out, \%sent, join('', grep { !/ DEBUG / } split /^/, $err));
	};
	my $b64 = sub { my $h = $_[0] =~ s/-//gr; return MIME::Base64::encode_base64url(pack('H*', $h)) };
	my ($out, $sent, $err) = $topics->('--describe', '--topic', 'pc');
	is(join(',', map { "$_ x$sent->{DESCRIBE_TOPIC_PARTITIONS}{$_}" } sort keys %{ $sent->{DESCRIBE_TOPIC_PARTITIONS} // {} }),
		'0 x1', 'kafka-topics.sh --describe --topic pc asks DescribeTopicPartitions v0 once')
	  or diag($err);
	like($out, qr/^Topic: pc\tTopicId: \Q${\ $b64->($pc) }\E\tPartitionCount: 2\tReplicationFactor: 1\t/m,
		'it shows pc with its topic id, 2 partitions, replication factor 1') or diag($out);
	is(join(' ', $out =~ /^\s+Topic: pc\s+Partition: (\d+)\s+Leader: 0\s+Replicas: 0\s+Isr: 0\b/mg), '0 1',
		'and each partition with leader, replica and in-sync replica node 0');

	# one partition a page: the cursor walks pc 0, pc 1, pc_ro 0; pc_hidden
	# (not DESCRIBE-able) is left out.  kafka-topics.sh also describes each
	# topic's configs: DESCRIBE_CONFIGS on pc_ro too
	sql(q{SELECT nagare.create_acl('TOPIC', 'pc_ro', 'User:ANONYMOUS', 'DESCRIBE_CONFIGS')});
	ok(wait_until(sub { sql('SELECT acls FROM nagare.acl_status') eq '3' }), 'a third ACL reached the broker');
	($out, $sent, $err) = $topics->('--describe', '--partition-size-limit-per-response', '1');
	is($sent->{DESCRIBE_TOPIC_PARTITIONS}{0} // 0, 3,
		'--describe of all topics, 1 partition per response: three pages (NextCursor)') or diag($err);
	my @seen;
	push @seen, "$1 $2" while $out =~ /^\s+Topic: (\S+)\s+Partition: (\d+)/mg;
	is(join(', ', sort @seen), 'pc 0, pc 1, pc_ro 0',
		'every partition of the topics it may DESCRIBE, once') or diag("$out\n$err");
	unlike($out, qr/pc_hidden/, 'and not the topic it may not DESCRIBE');

	# ---- DescribeProducers v0: kafka-transactions.sh describe-producers,
	#      after kcat's idempotent producer wrote 3 records to pc/0
	skip 'kcat is not installed', 4 unless system('kcat -V >/dev/null 2>&1') == 0;
	my $t0 = time() * 1000;
	IPC::Run::run([ 'kcat', '-b', $boot, '-P', '-t', 'pc', '-p', '0', '-X', 'enable.idempotence=true' ],
		'<', \"i1\ni2\ni3\n", '>', \my $kout, '2>', \my $kerr);
	is(sql("SELECT high_watermark FROM nagare.partitions WHERE topic = 'pc' AND partition = 0"), '3',
		'kcat (idempotent) wrote 3 records to pc/0') or diag($kerr);
	my $tx = sub {
		my ($o, $e) = ('', '');
		local $ENV{JAVA_OPTS} = '-Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients.NetworkClient=debug';
		IPC::Run::run([ "$tools/kafka-transactions.sh", '--bootstrap-server', $boot, @_ ],
			'<', \undef, '>', \$o, '2>', \$e);
		return ($? >> 8, $o, $e);
	};
	my ($rc, $o, $e) = $tx->('describe-producers', '--topic', 'pc', '--partition', '0');
	like($e, qr/apiKey=DESCRIBE_PRODUCERS, apiVersion=0/, 'describe-producers asks DescribeProducers v0');
	my ($row) = grep { /^\d/ } split /\n/, $o;
	my @f = split /\s+/, $row // '';
	ok($rc == 0 && @f == 6 && $f[0] >= 0 && $f[1] == 0 && $f[2] == -1 && $f[3] == 2
		  && $f[4] >= $t0 - 1000 && $f[4] <= time() * 1000 + 1000 && $f[5] eq 'None',
		'one producer: its id, epoch 0, coordinator epoch -1, last sequence 2, the time of its batch, no transaction')
	  or diag("rc $rc\n$o\n" . join('', grep { !/ DEBUG / } split /^/, $e));
	($rc, $o, $e) = $tx->('describe-producers', '--topic', 'pc_hidden', '--partition', '0');
	ok($rc != 0 && $e =~ /TopicAuthorizationException/,
		'of a topic it may not READ: TopicAuthorizationException')
	  or diag("rc $rc\n$o\n" . join('', grep { !/ DEBUG / } split /^/, $e));
}

$node->stop;
done_testing();
