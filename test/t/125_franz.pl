# franz-go (github.com/twmb/franz-go v1.22.3, kadm v1.20.0), a Go client that
# uses the newest protocol versions a broker offers, against nagare.
#
# test/franz (built by scripts/deps.sh into /opt/nagare-test/franz) drives
# it.  franz-go negotiates each API to the broker's highest version: its
# Fetch names topics by id (v13+) and its Metadata is v10+.  kadm creates a
# topic (with a config), lists it (its topic id is nagare.topics.topic_uuid),
# describes its configs and the cluster; a producer with franz-go's defaults
# (idempotent, acks=all, the sticky key partitioner) writes keyed records to
# all four partitions (the stored batches carry its producer id); a group
# consumer with the default cooperative-sticky balancer reads exactly them
# and commits (nagare.group_offset has the offsets); kadm asks where leader
# epoch 0 ends (OffsetForLeaderEpoch); kadm lists the group
# and its lag; over SASL SCRAM-SHA-256 (a role's login) more records are
# written, kadm sees the lag, and the next run of the group resumes from its
# commit with exactly the new records; a wrong password is refused with
# SASL_AUTHENTICATION_FAILED; ListOffsets for the largest timestamp finds
# the record that has it; kadm deletes the topic.
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

my $franz = $ENV{NAGARE_FRANZ} // '/opt/nagare-test/franz/franz';
plan skip_all => "no franz-go client at $franz (scripts/deps.sh builds test/franz)"
  unless -x $franz;

my $port = PostgreSQL::Test::Cluster::get_free_port();
my $sport = PostgreSQL::Test::Cluster::get_free_port();
my $node = nagare_node('franz', conf => <<"EOC");
nagare.listeners = 'PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$sport'
password_encryption = 'scram-sha-256'
EOC
$node->wait_for_log(qr/listening for Kafka clients on 127\.0\.0\.1 port $sport/);

# A SASL listener makes resources without ACLs closed: the anonymous
# clients of the plaintext listener and the role fz get what they need.
$node->safe_psql('postgres', q{
CREATE ROLE fz LOGIN PASSWORD 'fz-secret-1';
SELECT nagare.create_acl(t, n, 'User:' || u, 'ALL')
  FROM (VALUES ('TOPIC', '*'), ('GROUP', '*'), ('CLUSTER', 'kafka-cluster')) v(t, n),
       unnest(ARRAY['ANONYMOUS', 'fz']) u;
});

sub franz
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run [ $franz, @args ], '>', \$out, '2>', \$err, IPC::Run::timeout(60);
	my ($last) = grep { /^\{/ } reverse split /\n/, $out;
	my $r = defined $last ? eval { decode_json($last) } : undef;
	return $r // { ok => 0, error => "no result: $out $err" };
}

my @plain = ('-b', "127.0.0.1:$port");
my @sasl = ('-b', "127.0.0.1:$sport", '-user', 'fz', '-pass', 'fz-secret-1');

# the versions franz-go picks: its Fetch names topics by id
my $v = franz(@plain, 'versions');
ok($v->{ok}, 'ApiVersions through kadm') or diag(explain $v);
cmp_ok($v->{used}{Fetch} // 0, '>=', 13, "franz-go fetches with topic ids (Fetch v$v->{used}{Fetch})");
cmp_ok($v->{used}{Metadata} // 0, '>=', 10, "Metadata with topic ids (v$v->{used}{Metadata})");
cmp_ok($v->{used}{Produce} // 0, '>=', 13, "it produces with topic ids (Produce v$v->{used}{Produce})");
cmp_ok($v->{used}{OffsetCommit} // 0, '>=', 10, "commits with topic ids (OffsetCommit v$v->{used}{OffsetCommit})");
cmp_ok($v->{used}{OffsetFetch} // 0, '>=', 10, "reads offsets with topic ids (OffsetFetch v$v->{used}{OffsetFetch})");
note('franz-go uses: ' . join(', ', map { "$_ $v->{used}{$_}" } sort keys %{ $v->{used} // {} }));

# kadm: create, list, describe
my $c = franz(@plain, 'create', 'fz_orders', 4);
ok($c->{ok}, 'kadm creates topic fz_orders') or diag(explain $c);
my $uuid = $node->safe_psql('postgres',
	"SELECT replace(topic_uuid::text, '-', '') FROM nagare.topics WHERE topic = 'fz_orders'");
is(unpack('H*', decode_base64($c->{created_id} // '')), $uuid,
	'CreateTopics answers the topic id of nagare.topics');
ok($c->{listed}, 'kadm lists it');
is($c->{listed_id}, $c->{created_id}, 'Metadata gives the same topic id');
is($c->{partitions}, 4, 'with its 4 partitions, one leader');
is($c->{retention_ms}, '86400000', 'DescribeConfigs: the retention.ms it was created with');
is($c->{retention_ms_source}, 'DYNAMIC_TOPIC_CONFIG', '... as a topic override');
is_deeply([ $c->{brokers}, $c->{controller} ], [ 1, 0 ], 'one broker, node 0 the controller');

# an idempotent, acks=all producer (franz-go's defaults)
my $p = franz(@plain, 'produce', 'fz_orders', 0, 400);
ok($p->{ok}, 'franz-go produces 400 keyed records') or diag(explain $p);
is($p->{produced}, 400, 'every record acknowledged');
is(scalar(keys %{ $p->{by_partition} // {} }), 4, 'to all 4 partitions');
is($node->safe_psql('postgres',
	"SELECT sum(high_watermark) FROM nagare.partitions WHERE topic = 'fz_orders'"), '400',
	'the partitions hold 400 records');
{
	# the first stored batch of partition 0 is idempotent: its producer id
	# (bytes 43-50 of a RecordBatch) is franz-go's, not -1
	my $dir = partition_dir($node, 'fz_orders', 0);
	my ($seg) = segment_files($dir);
	my $bytes = read_file_bytes("$dir/$seg");
	my ($pid_hi, $pid_lo) = unpack('N N', substr($bytes, 43, 8));
	is(($pid_hi << 32) | $pid_lo, $p->{producer_id}, 'the stored batches carry the producer id');
}

# OffsetForLeaderEpoch (kadm; franz-go's consumer validates its position
# with it): epoch 0 ends at the high watermarks, epoch 7 is unknown
my $e = franz(@plain, 'epoch', 'fz_orders', 4);
ok($e->{ok}, 'kadm: OffsetForLeaderEpoch') or diag(explain $e);
is_deeply([ @$e{qw(epoch0_end_sum epoch0_leader_epochs)} ], [ 400, { 0 => 4 } ],
	'leader epoch 0 of each partition ends at its high watermark');
is_deeply([ @$e{qw(epoch7_end_sum epoch7_leader_epochs)} ], [ -4, { -1 => 4 } ],
	'epoch 7, which no partition had: end offset -1, leader epoch -1');

# the group consumer: exactly the records, committed
my $r = franz(@plain, 'consume', 'fz_orders', 'fz_group', 400);
ok($r->{ok}, 'a cooperative-sticky group member consumes') or diag(explain $r);
is_deeply([ @$r{qw(consumed distinct duplicates extra)} ], [ 400, 400, 0, 0 ],
	'exactly the 400 records, once each, nothing more');
is($r->{group_protocol}, 'cooperative-sticky', 'the group chose cooperative-sticky');
is_deeply([ @$r{qw(group_state group_members)} ], [ 'Stable', 1 ],
	'DescribeGroups while it consumed: Stable, one member');
is($node->safe_psql('postgres',
	"SELECT count(*) || ' ' || sum(committed_offset) FROM nagare.group_offset WHERE group_id = 'fz_group'"),
	'4 400', 'nagare.group_offset has its commits, 4 partitions to the end');

my $l = franz(@plain, 'lag', 'fz_group');
ok($l->{ok}, 'kadm: list groups, fetch offsets, lag') or diag(explain $l);
ok($l->{listed}, 'ListGroups shows the group');
is_deeply([ @$l{qw(committed_sum lag lag_partitions state)} ], [ 400, 0, 4, 'Empty' ],
	'400 committed, lag 0 over 4 partitions, group Empty');

# SASL/SCRAM-SHA-256: more records, the lag, the group resumes from its commit
$p = franz(@sasl, 'produce', 'fz_orders', 400, 100);
ok($p->{ok} && $p->{produced} == 100, 'over SCRAM-SHA-256: 100 more records') or diag(explain $p);
$l = franz(@sasl, 'lag', 'fz_group');
is($l->{lag}, 100, 'kadm sees a lag of 100') or diag(explain $l);
$r = franz(@sasl, 'consume', 'fz_orders', 'fz_group', 100);
ok($r->{ok}, 'the group runs again') or diag(explain $r);
is_deeply([ @$r{qw(consumed distinct duplicates extra first_key)} ], [ 100, 100, 0, 0, 'k-400' ],
	'it resumes from its commit: exactly the 100 new records');
$l = franz(@sasl, 'lag', 'fz_group');
is_deeply([ @$l{qw(committed_sum lag)} ], [ 500, 0 ], 'committed to the end, lag 0');

my $bad = franz('-b', "127.0.0.1:$sport", '-user', 'fz', '-pass', 'wrong', 'versions');
ok(!$bad->{ok} && ($bad->{error} // '') =~ /^SASL_AUTHENTICATION_FAILED/,
	'a wrong password: SASL_AUTHENTICATION_FAILED') or diag(explain $bad);

# ListOffsets for the largest timestamp (-3): the record that has it (the
# second of its batch of four), as Kafka since 3.8 answers (KAFKA-16310),
# not its batch's last
my $m = franz(@plain, 'create', 'fz_times', 1);
my $mt = franz(@plain, 'maxts', 'fz_times');
ok($m->{ok} && $mt->{ok}, 'kadm: ListMaxTimestampOffsets') or diag(explain [ $m, $mt ]);
is($mt->{relative_offset}, 1, 'the offset of the record with the largest timestamp, not the batch\'s last');
ok($mt->{timestamp_ok}, '... with that timestamp');

# kadm deletes the topic
my $d = franz(@plain, 'delete', 'fz_orders');
ok($d->{ok} && $d->{gone}, 'kadm deletes the topic; Metadata no longer lists it') or diag(explain $d);
is($node->safe_psql('postgres', "SELECT count(*) FROM nagare.topics WHERE topic = 'fz_orders'"),
	'0', 'nagare.topics agrees');

$node->stop;
done_testing();
