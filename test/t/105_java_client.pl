# Apache Kafka's Java client (kafka-clients 4.x, the reference
# implementation) against nagare's broker, through KafkaTool
# (test/interop/java, built by its build.sh, which scripts/test.sh runs):
#
#   - the AdminClient creates a topic (CreateTopics) that nagare.topics
#     shows with the same topic id; TOPIC_ALREADY_EXISTS the second time;
#     lists topics (Metadata) with a topic made from SQL among them;
#     describes configs (DescribeConfigs) as nagare.topics has them,
#     defaults and overrides told apart;
#   - the idempotent producer (InitProducerId, Produce with acks=all):
#     the offsets it reports hold its records in nagare.consume(), and the
#     batches in the segment files carry its producer id and sequences from
#     0 without gaps;
#   - a consumer group member (FindCoordinator, JoinGroup, SyncGroup,
#     OffsetFetch, Fetch, OffsetCommit, LeaveGroup) reads the records the
#     producer wrote and commits; nagare.consumer_lag shows the committed
#     offsets and the lag; a second member carries on where the first
#     committed, while groups-describe (DescribeGroups, OffsetFetch) and
#     nagare.group_members / nagare.consumer_groups agree on its state,
#     assignor, member and assignment; groups-list (ListGroups) as
#     nagare.consumer_groups;
#   - the AdminClient deletes the topic (DeleteTopics): gone from SQL and
#     Metadata, UNKNOWN_TOPIC_OR_PARTITION for it afterwards;
#   - the broker never saw a request it does not serve.
#
#   - the consumer fetches with Fetch v17 (topic ids) and Metadata v13, and
#     the producer produces with Produce v13 (topic ids), as their debug
#     logs show;
#   - a transactional producer fails at once (no transactions yet).
#
# Skipped when Java or the built client is missing.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time);
use MIME::Base64 qw(encode_base64url);
use List::Util qw(sum);

my $jdir = "$FindBin::RealBin/../interop/java";
my $tool = "$jdir/kafka-tool.sh";

plan skip_all => 'java is not installed'
  unless system('java -version >/dev/null 2>&1') == 0;
plan skip_all =>
  "the Java client is not built: run test/interop/java/build.sh (scripts/test.sh does, as root)"
  unless -f "$jdir/target/.built";

my ($node, $kport) = kafka_node('java', conf => qq{
nagare.group_initial_rebalance_delay = 500
});
my $boot = "127.0.0.1:$kport";
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $log_start = log_offset($node);

sub sql { return $node->safe_psql('postgres', $_[0]) }

# Run KafkaTool; returns { rc, out, err, rows => [[field, ...], ...] }.
# $props: a properties file or undef.
sub java
{
	my ($props, @args) = @_;
	my ($out, $err) = ('', '');
	my $ok = eval {
		IPC::Run::run([ $tool, $boot, $props // '-', @args ],
			'<', \undef, '>', \$out, '2>', \$err,
			IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
		1;
	};
	my $rc = $ok ? $? >> 8 : -1;
	$err .= "\n(run failed: $@)" unless $ok;
	# with NetworkClient's debug log (JAVA_OPTS): the versions of the
	# requests the client sent, { API => { version => count } }
	my %sent;
	$sent{$1}{$2}++ while $err =~ /Sending \w+ request with header RequestHeader\(apiKey=(\w+), apiVersion=(\d+)/g;
	$err = join('', grep { !/ DEBUG / } split /^/, $err);
	note("kafka-tool @args: exit $rc\n$out$err");
	return {
		rc => $rc,
		out => $out,
		err => $err,
		sent => \%sent,
		rows => [ map { [ split /\t/, $_, -1 ] } grep { $_ ne '' } split /\n/, $out ]
	};
}

# Rows of a result whose first field is $kind, without it.
sub rows_of
{
	my ($r, $kind) = @_;
	return map { [ @$_[ 1 .. $#$_ ] ] } grep { $_->[0] eq $kind } @{ $r->{rows} };
}

# The Kafka form (URL-safe base64 without padding) of a topic's topic_uuid.
sub kafka_topic_id
{
	my ($topic) = @_;
	my $hex = sql("SELECT replace(topic_uuid::text, '-', '') FROM nagare.topics WHERE topic = '$topic'");
	return encode_base64url(pack('H*', $hex));
}

# [producer id, epoch, base sequence, records] of every batch in a
# partition's segments, in order.
sub batches
{
	my ($topic, $partition) = @_;
	my $dir = partition_dir($node, $topic, $partition);
	my @b;
	for my $f (segment_files($dir))
	{
		my $d = read_file_bytes("$dir/$f");
		my $pos = 0;
		while ($pos + 61 <= length($d))
		{
			my $len = unpack('N', substr($d, $pos + 8, 4));
			last if $len == 0;
			my ($hi, $lo, $epoch, $seq, $count) = unpack('N N n N N', substr($d, $pos + 43, 18));
			push @b, [ ($hi == 0xFFFFFFFF ? -1 : $hi * 4294967296 + $lo), $epoch, $seq, $count ];
			$pos += 12 + $len;
		}
	}
	return @b;
}

# "partition:offset" => "key=value" of rows [partition, offset, key, value].
sub by_position
{
	return map { ("$_->[0]:$_->[1]" => "$_->[2]=$_->[3]") } @_;
}

# Every record of a topic as nagare.consume() returns it, same form.
sub sql_records
{
	my ($topic, $partitions) = @_;
	my %h;
	for my $p (0 .. $partitions - 1)
	{
		my $out = sql("SELECT \"offset\", convert_from(key, 'UTF8'), convert_from(value, 'UTF8') "
			  . "FROM nagare.consume('$topic', $p, 0, 100000)");
		for (grep { $_ ne '' } split /\n/, $out)
		{
			my ($o, $k, $v) = split /\|/, $_, -1;
			$h{"$p:$o"} = "$k=$v";
		}
	}
	return %h;
}

sub hash_str
{
	my (%h) = @_;
	return join(' ', map { "$_>$h{$_}" } sort keys %h);
}

# ---------------------------------------------------------------- admin

my $r = java(undef, 'admin-create', 'jv', 3);
is($r->{rc}, 0, 'admin-create: CreateTopics succeeds') or diag($r->{err});
my ($created) = rows_of($r, 'created');
is(sql("SELECT partitions FROM nagare.topics WHERE topic = 'jv'"), 3,
	'nagare.topics shows the topic with 3 partitions');
is($created->[1], 3, 'the client reports 3 partitions');
is($created->[2], kafka_topic_id('jv'), 'the topic id the client got is nagare.topics.topic_uuid');

$r = java(undef, 'admin-create', 'jv', 3);
is($r->{rc}, 1, 'admin-create of an existing topic fails');
like($r->{err}, qr/^error: org\.apache\.kafka\.common\.errors\.TopicExistsException: .*already exists/m,
	'with TopicExistsException and the SQL error message');

sql(q{SELECT nagare.create_topic('jv_sql', 2, '{"retention.ms": "3600000"}')});
wait_until(sub { java(undef, 'admin-list')->{out} =~ /^topic\tjv_sql\t/m });
$r = java(undef, 'admin-list');
is($r->{rc}, 0, 'admin-list: Metadata succeeds') or diag($r->{err});
my %listed = map { $_->[0] => "$_->[1] $_->[2]" } rows_of($r, 'topic');
is($listed{jv}, kafka_topic_id('jv') . ' 3', 'admin-list shows jv with its topic id and 3 partitions');
is($listed{jv_sql}, kafka_topic_id('jv_sql') . ' 2', 'and the topic made from SQL');
is(join(' ', sort keys %listed),
	join(' ', split /\n/, sql("SELECT topic FROM nagare.topics ORDER BY topic COLLATE \"C\"")),
	'admin-list lists exactly the topics of nagare.topics');

for my $t (qw(jv jv_sql))
{
	$r = java(undef, 'admin-describe-configs', $t);
	is($r->{rc}, 0, "admin-describe-configs $t: DescribeConfigs succeeds") or diag($r->{err});
	my $got = join("\n", map { join(' ', @$_) } rows_of($r, 'config'));
	my $want = sql(
		"SELECT string_agg(c.key || ' ' || c.value || ' ' || "
		  . "CASE WHEN t.overrides ? c.key THEN 'DYNAMIC_TOPIC_CONFIG' ELSE 'DEFAULT_CONFIG' END, "
		  . "E'\\n' ORDER BY c.key COLLATE \"C\") "
		  . "FROM nagare.topics t, jsonb_each_text(t.config) c WHERE t.topic = '$t'");
	is($got, $want, "admin-describe-configs $t shows nagare.topics' settings and their source");
}
like(join("\n", map { join(' ', @$_) } rows_of($r, 'config')),
	qr/^retention\.ms 3600000 DYNAMIC_TOPIC_CONFIG$/m, 'the override of jv_sql as a topic config');

# ---------------------------------------------------------------- produce

{
	local $ENV{JAVA_OPTS} = '-Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients.NetworkClient=debug';
	$r = java(undef, 'produce', 'jv', 20);
}
is($r->{rc}, 0, 'produce: the idempotent producer writes 20 records') or diag($r->{err});
is(join(',', sort keys %{ $r->{sent}{PRODUCE} // {} }), '13',
	'it produces with Produce v13 (topic ids, KIP-516), the newest both sides have');
my @produced = rows_of($r, 'offset');
is(scalar(@produced), 20, 'and reports 20 offsets');
my %sqlrec = sql_records('jv', 3);
is(hash_str(%sqlrec), hash_str(by_position(@produced)),
	'nagare.consume() has each record at the partition and offset the producer reported, and nothing else');
my %per_part;
$per_part{ $_->[0] }++ for @produced;
is(join(' ', map { sql("SELECT high_watermark FROM nagare.partitions WHERE topic = 'jv' AND partition = $_") } 0 .. 2),
	join(' ', map { $per_part{$_} // 0 } 0 .. 2), 'the high watermarks count the records of each partition');

my %pids;
my @seq_bad;
for my $p (0 .. 2)
{
	my $next = 0;
	for my $b (batches('jv', $p))
	{
		$pids{"$b->[0]/$b->[1]"} = 1;
		push @seq_bad, "partition $p: sequence $b->[2], expected $next" if $b->[2] != $next;
		$next = $b->[2] + $b->[3];
	}
}
my @pids = keys %pids;
ok(@pids == 1 && $pids[0] =~ /^(\d+)\/0$/, 'every batch carries one producer id, epoch 0: '
	  . join(', ', @pids));
is(join('; ', @seq_bad), '', 'sequences start at 0 in each partition and have no gaps');

# ---------------------------------------------------------------- consume

{
	# the client's log tells the versions it chose
	local $ENV{JAVA_OPTS} = '-Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients.NetworkClient=debug';
	$r = java(undef, 'consume', 'jv', 12, 'gj');
}
is($r->{rc}, 0, 'consume: a group member reads 12 records and commits') or diag($r->{err});
is(join(',', sort keys %{ $r->{sent}{FETCH} // {} }), '17',
	'it fetches with Fetch v17 (topic ids), the newest both sides have');
is(join(',', sort keys %{ $r->{sent}{METADATA} // {} }), '13', 'and asks for Metadata v13');
my @got1 = rows_of($r, 'record');
my %want_rec = by_position(@produced);
my %got1 = by_position(@got1);
is(scalar(@got1), 12, '12 records');
is(scalar(grep { ($want_rec{$_} // '') ne $got1{$_} } keys %got1), 0,
	'each as the producer wrote it, at its partition and offset');
my %committed = map { $_->[0] => $_->[1] } rows_of($r, 'committed');
my %expect_commit;
for (@got1)
{
	$expect_commit{ $_->[0] } = $_->[1] + 1
	  if !defined $expect_commit{ $_->[0] } || $expect_commit{ $_->[0] } < $_->[1] + 1;
}
is(hash_str(%committed), hash_str(%expect_commit), 'it committed the offset after its last record of each partition');
is(hash_str(map { split /\|/ } split /\n/,
		sql("SELECT partition, committed_offset FROM nagare.consumer_lag WHERE group_id = 'gj' AND topic = 'jv' AND committed_offset IS NOT NULL")),
	hash_str(%committed), 'nagare.consumer_lag has those committed offsets');
# every partition of jv, those never committed counted from the log start
is(sql("SELECT sum(lag) FROM nagare.consumer_lag WHERE group_id = 'gj' AND topic = 'jv'"),
	8, 'and a lag of the 8 records not consumed');
is(sql("SELECT state || ' ' || members FROM nagare.consumer_groups WHERE group_id = 'gj'"), 'Empty 0',
	'nagare.consumer_groups: gj is Empty once the member left');

$r = java(undef, 'groups-list');
is($r->{rc}, 0, 'groups-list: ListGroups succeeds') or diag($r->{err});
my %groups = map { $_->[0] => $_ } rows_of($r, 'group');
is($groups{gj}[1] . ' ' . $groups{gj}[3], 'Classic Empty', 'groups-list shows gj, classic, Empty');
is(join(' ', sort keys %groups),
	join(' ', split /\n/, sql("SELECT group_id FROM nagare.consumer_groups ORDER BY group_id COLLATE \"C\"")),
	'groups-list lists the groups of nagare.consumer_groups');

$r = java(undef, 'groups-describe', 'gj');
is($r->{rc}, 0, 'groups-describe: DescribeGroups and OffsetFetch succeed') or diag($r->{err});
my ($g) = rows_of($r, 'group');
is("$g->[1] $g->[3] $g->[4]", 'Empty 0 0', 'gj: Empty, no member, coordinator node 0');
is(hash_str(map { $_->[1] => $_->[2] } grep { $_->[0] eq 'jv' } rows_of($r, 'offset')),
	hash_str(%committed), 'the committed offsets the client fetches are the ones it committed');

# A second member in the background: it gets every partition, reads the 8
# records left and waits for 5 more.
my $bg_out = "$tmp/consume.out";
my $bg = IPC::Run::start([ $tool, $boot, '-', 'consume', 'jv', 13, 'gj' ],
	'<', \undef, '>', $bg_out, '2>', "$tmp/consume.err");
ok(wait_until(sub { -f $bg_out && (() = slurp_file($bg_out) =~ /^record\t/mg) >= 8 }),
	'a second member of gj is assigned the partitions and reads the 8 records left');
like(slurp_file($bg_out), qr/^assigned\tjv-0,jv-1,jv-2$/m, 'all three partitions');
ok(wait_until(sub { sql("SELECT state FROM nagare.consumer_groups WHERE group_id = 'gj'") eq 'Stable' }),
	'nagare.consumer_groups: gj Stable');

$r = java(undef, 'groups-describe', 'gj');
is($r->{rc}, 0, 'groups-describe of the live group') or diag($r->{err});
($g) = rows_of($r, 'group');
my @members = rows_of($r, 'member');
is("$g->[1] $g->[2] $g->[3]", 'Stable range 1', 'gj: Stable, assignor range, one member');
is(sql("SELECT state || ' ' || protocol || ' ' || members FROM nagare.consumer_groups WHERE group_id = 'gj'"),
	'Stable range 1', 'as nagare.consumer_groups shows it');
my $m = sql("SELECT member_id, client_id, client_host, "
	  . "(SELECT string_agg(a->>'topic' || '-' || p, ',' ORDER BY a->>'topic', p::int) "
	  . "   FROM jsonb_array_elements(assignment) a, jsonb_array_elements_text(a->'partitions') p) "
	  . "FROM nagare.group_members WHERE group_id = 'gj'");
is(join('|', @{ $members[0] // [] }), $m,
	'member id, client id, host and assignment as nagare.group_members shows them');
like($members[0][0] // '', qr/^nagare-kafka-tool-/, 'the member id the broker gave starts with the client id');

$r = java(undef, 'produce', 'jv', 5, 20);
is($r->{rc}, 0, 'produce 5 more records (a new idempotent producer)') or diag($r->{err});
push @produced, rows_of($r, 'offset');
%want_rec = by_position(@produced);
ok(eval { $bg->finish }, 'the second member reads them and commits')
  or diag(slurp_file("$tmp/consume.err"));
my @got2 = map { [ (split /\t/)[ 1 .. 4 ] ] } grep { /^record\t/ } split /\n/, slurp_file($bg_out);
is(hash_str(%got1, by_position(@got2)), hash_str(%want_rec),
	'the two members read every record once, as the producers wrote them');
is(scalar(@got2), 13, 'the second member started where the first committed');
is(sql("SELECT count(*) || ' ' || sum(lag) || ' ' || bool_and(committed_offset = high_watermark) "
		  . "FROM nagare.consumer_lag WHERE group_id = 'gj' AND topic = 'jv'"),
	'3 0 true', 'nagare.consumer_lag: every partition committed at its high watermark, lag 0');
is(sql("SELECT state || ' ' || members FROM nagare.consumer_groups WHERE group_id = 'gj'"), 'Empty 0',
	'gj is Empty again');
$r = java(undef, 'groups-describe', 'gj');
is(hash_str(map { $_->[1] => $_->[2] } grep { $_->[0] eq 'jv' } rows_of($r, 'offset')),
	hash_str(map { split /\|/ } split /\n/,
		sql("SELECT partition, high_watermark FROM nagare.partitions WHERE topic = 'jv'")),
	'groups-describe: committed offsets at the high watermarks');

# ---------------------------------------------------------------- delete

$r = java(undef, 'admin-delete', 'jv');
is($r->{rc}, 0, 'admin-delete: DeleteTopics succeeds') or diag($r->{err});
is(sql("SELECT count(*) FROM nagare.topics WHERE topic = 'jv'"), 0, 'the topic is gone from nagare.topics');
is(sql("SELECT count(*) FROM nagare.consumer_lag WHERE topic = 'jv'"), 0, 'and from nagare.consumer_lag');
ok(wait_until(sub { my $l = java(undef, 'admin-list'); $l->{rc} == 0 && $l->{out} !~ /^topic\tjv\t/m }),
	'and from Metadata');
$r = java(undef, 'admin-describe-configs', 'jv');
like($r->{err}, qr/^error: org\.apache\.kafka\.common\.errors\.UnknownTopicOrPartitionException: /m,
	'admin-describe-configs of the deleted topic: UnknownTopicOrPartitionException');
$r = java(undef, 'admin-delete', 'jv');
like($r->{err}, qr/^error: org\.apache\.kafka\.common\.errors\.UnknownTopicOrPartitionException: /m,
	'admin-delete of it again: UnknownTopicOrPartitionException');
is($r->{rc}, 1, 'exit status 1');

# Authorized operations (Metadata v8+, DescribeGroups v3+): with no ACLs
# every operation Kafka supports on the resource; with an ACL on the topic
# only what it grants (READ implies DESCRIBE).
sql("SELECT nagare.create_topic('jv_ops')");
$r = java(undef, 'admin-operations', 'jv_ops', 'gj');
is_deeply([ map { "$_->[1] $_->[2]" } @{ $r->{rows} } ], [
	'cluster ALTER,ALTER_CONFIGS,CLUSTER_ACTION,CREATE,DESCRIBE,DESCRIBE_CONFIGS,IDEMPOTENT_WRITE',
	'topic ALTER,ALTER_CONFIGS,CREATE,DELETE,DESCRIBE,DESCRIBE_CONFIGS,READ,WRITE',
	'group ALTER_CONFIGS,DELETE,DESCRIBE,DESCRIBE_CONFIGS,READ' ],
	'authorized operations without ACLs: all that Kafka supports') or diag($r->{err});
sql("SELECT nagare.create_acl('TOPIC', 'jv_ops', 'User:ANONYMOUS', 'READ')");
ok(wait_until(sub { sql('SELECT acls FROM nagare.acl_status') eq '1' }), 'the ACL reached the broker');
$r = java(undef, 'admin-operations', 'jv_ops', 'gj');
is(join(' ', map { "$_->[1] $_->[2]" } grep { $_->[1] eq 'topic' } @{ $r->{rows} }),
	'topic DESCRIBE,READ', 'with an ACL granting READ: READ and the DESCRIBE it implies')
  or diag($r->{err});
sql("SELECT nagare.delete_acls(resource_name => 'jv_ops')");

unlike(log_since($node, $log_start), qr/unsupported request/,
	'the broker saw no request it does not serve');

# ---------------------------------------------------------------- missing

# Transactions are not served yet: the producer looks for its transaction
# coordinator with FindCoordinator key type 1, which nagare answers
# TRANSACTIONAL_ID_AUTHORIZATION_FAILED, fatal for the client: it fails at
# once rather than retrying for max.block.ms (60 s here).
my $txprops = "$tmp/tx.properties";
PostgreSQL::Test::Utils::append_to_file($txprops, "transactional.id=java-tx\nmax.block.ms=60000\n");
$r = java(undef, 'admin-create', 'jv_tx', 1);
my $t0 = time();
$r = java($txprops, 'produce', 'jv_tx', 3);
my $took = sprintf('%.1f', time() - $t0);
ok($r->{rc} != 0 && $r->{err} =~ /TransactionalIdAuthorizationException/ && $took < 20,
	"a transactional producer fails at once (${took}s) with TransactionalIdAuthorizationException")
  or diag($r->{err});
is(sql("SELECT count(*) FROM nagare.consume('jv_tx', 0, 0, 10)"), '0', 'and wrote nothing');

$node->stop;
done_testing();
