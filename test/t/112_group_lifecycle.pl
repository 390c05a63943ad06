# Consumer groups' lifecycle agrees between SQL and Kafka, checked with
# Kafka's own kafka-consumer-groups (org.apache.kafka.tools.consumer.group.
# ConsumerGroupCommand of kafka-tools 4.4.0, test/interop/kafka-tools):
#
#   - nagare.delete_group() deletes the group everywhere: gone from
#     nagare.consumer_groups at once, from --list, --describe says it does
#     not exist, --delete again finds no group; a rolled-back delete leaves
#     it; an Empty group with no offsets is deleted too;
#   - a group made by reset_group_offsets(create_group => true) is Empty in
#     both views (it was Dead to Kafka); a group that does not exist is
#     refused (a misspelt name), and so is a partition that does not exist;
#   - nagare.consumer_lag covers every partition of the topics a group
#     committed on or subscribes to (600 unread records, one partition
#     committed: the lag is the 600 less what was committed);
#   - groups are bounded: nagare.max_groups refuses a new group with
#     COORDINATOR_NOT_AVAILABLE (logged once), SQL with 53400; an Empty
#     group with no committed offsets expires after
#     nagare.empty_group_retention, one with offsets stays.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $python = '/usr/bin/python3';
my $helper = "$FindBin::RealBin/../interop/group_lifecycle.py";
my $cg = "$FindBin::RealBin/../interop/kafka-tools/kafka-consumer-groups.sh";

plan skip_all => 'java is not installed'
  unless system('java -version >/dev/null 2>&1') == 0;
plan skip_all =>
  "kafka-consumer-groups is not fetched: run test/interop/kafka-tools/build.sh (scripts/test.sh does, as root)"
  unless -f "$FindBin::RealBin/../interop/kafka-tools/target/.built";
plan skip_all => 'kafka-python and confluent-kafka are not installed'
  unless system("$python -c 'import kafka, confluent_kafka' 2>/dev/null") == 0;

my ($node, $port) = kafka_node('group_lifecycle', conf => q{
nagare.group_initial_rebalance_delay = 0
});
my $boot = "127.0.0.1:$port";

sub sql { return $node->safe_psql('postgres', $_[0]) }

sub helper
{
	my ($out, $err) = ('', '');
	IPC::Run::run [ $python, $helper, '127.0.0.1', $port, @_ ], '>', \$out, '2>', \$err,
	  IPC::Run::timeout(60);
	note("group_lifecycle.py @_: $out$err");
	chomp $out;
	return $out;
}

# Run kafka-consumer-groups; returns (rc, stdout, stderr)
sub cg
{
	my ($out, $err) = ('', '');
	IPC::Run::run [ $cg, '--bootstrap-server', $boot, @_ ], '>', \$out, '2>', \$err,
	  IPC::Run::timeout(120);
	my $rc = $? >> 8;
	note("kafka-consumer-groups @_: exit $rc\n$out$err");
	return ($rc, $out, $err);
}

sub listed
{
	my (undef, $out) = cg('--list');
	return { map { $_ => 1 } split /\n/, $out };
}

sub sql_groups
{
	return { map { split /\|/ } split /\n/, sql('SELECT group_id, state FROM nagare.consumer_groups') };
}

sql(q{SELECT nagare.create_topic('lc', 3)});
sql(q{SELECT count(*) FROM (SELECT array_agg('k' || i) AS k, array_agg('v' || i) AS v, array_agg(i % 3) AS p
                               FROM generate_series(0, 599) i) a,
                      nagare.send_batch('lc', a.k, a.v, NULL, a.p)});
wait_kafka_topic($port, 'lc');

#
# A group made from SQL: refused when it does not exist, then created
#
like(sql_error($node, q{SELECT * FROM nagare.reset_group_offsets('lc-typo', 'lc', 'earliest')}),
	qr/42704: consumer group "lc-typo" does not exist.*HINT:.*create_group => true/s,
	'reset_group_offsets refuses a group that does not exist, with a hint');
is(sql(q{SELECT count(*) FROM nagare.group_offset WHERE group_id = 'lc-typo'}), 0,
	'and creates no offsets');
like(sql_error($node, q{SELECT * FROM nagare.reset_group_offsets('lc-new', 'lc', 'earliest', ARRAY[0, 7], create_group => true)}),
	qr/42704: partition 7 of topic "lc" does not exist.*HINT:.*3 partition/s,
	'a partition that does not exist is refused, with a hint');
is(sql(q{SELECT count(*) FROM nagare.reset_group_offsets('lc-new', 'lc', 'earliest', create_group => true)}), 3,
	'reset_group_offsets(create_group => true) creates the group\'s offsets');
is(sql_groups()->{'lc-new'}, 'Empty', 'nagare.consumer_groups: lc-new is Empty');
ok(listed()->{'lc-new'}, 'kafka-consumer-groups --list lists lc-new');
my ($rc, $out, $err) = cg('--describe', '--group', 'lc-new', '--state');
like($out, qr/^lc-new\s.*\sEmpty\s+0\s*$/m, 'kafka-consumer-groups --describe --state: Empty, 0 members (was Dead)');
($rc, $out) = cg('--describe', '--group', 'lc-new', '--offsets');
is(scalar(() = $out =~ /^lc-new\s+lc\s+\d\s+0\s+200\s+200\s/mg), 3,
	'kafka-consumer-groups --describe --offsets: 3 partitions at 0, lag 200 each');

#
# Lag covers every partition
#
is(helper('commit', 'lc-one', 'lc', 0, 117), '0', 'a Kafka client commits partition 0 of lc only');
is(sql(q{SELECT count(*) || ' ' || sum(lag) || ' ' || count(committed_offset) FROM nagare.consumer_lag WHERE group_id = 'lc-one'}),
	'3 483 1', 'nagare.consumer_lag: three partitions, 483 records not consumed (83 + 200 + 200)');
{
	my ($in, $mout, $merr) = ('', '', '');
	my $h = IPC::Run::start [ $python, $helper, '127.0.0.1', $port, 'member', 'lc-sub', 'lc', 30 ],
	  \$in, \$mout, \$merr, IPC::Run::timeout(60);
	ok(wait_until(sub { $h->pump_nb; $mout =~ /joined/ }, 30), 'a consumer subscribed to lc joined lc-sub');
	ok(wait_until(sub { sql(q{SELECT count(*) || ' ' || sum(lag) FROM nagare.consumer_lag WHERE group_id = 'lc-sub'}) eq '3 600' }, 10),
		'nagare.consumer_lag: a group that never committed has lag 600 on the three partitions it subscribes to')
	  or diag(sql(q{SELECT * FROM nagare.consumer_lag WHERE group_id = 'lc-sub'}));
	is(sql(q{SELECT subscription FROM nagare.group_members WHERE group_id = 'lc-sub'}), '{lc}',
		'nagare.group_members shows the subscription');
	like(sql_error($node, q{SELECT nagare.delete_group('lc-sub')}), qr/55006/, 'delete_group refuses a group with members');
	$h->kill_kill;
	$h->finish;
}

#
# delete_group: gone everywhere
#
is(sql(q{SELECT nagare.delete_group('lc-new')}), 3, 'delete_group deletes three offsets');
ok(!exists sql_groups()->{'lc-new'}, 'at once gone from nagare.consumer_groups');
ok(!listed()->{'lc-new'}, 'gone from kafka-consumer-groups --list');
($rc, $out, $err) = cg('--describe', '--group', 'lc-new');
like($out . $err, qr/Consumer group 'lc-new' does not exist/, 'kafka-consumer-groups --describe: does not exist');
($rc, $out, $err) = cg('--delete', '--group', 'lc-new');
like($out . $err, qr/GroupIdNotFound|does not exist/, 'kafka-consumer-groups --delete: not found');
like(sql_error($node, q{SELECT nagare.delete_group('lc-new')}), qr/42704: consumer group "lc-new" does not exist/,
	'delete_group again: does not exist');

# a rolled-back delete leaves it; an Empty group without offsets is deleted too
sql(q{SELECT count(*) FROM nagare.reset_group_offsets('lc-keep', 'lc', 'latest', create_group => true)});
sql(q{BEGIN; SELECT nagare.delete_group('lc-keep'); ROLLBACK;});
ok(listed()->{'lc-keep'} && sql_groups()->{'lc-keep'} eq 'Empty', 'a rolled-back delete_group leaves the group');
is(helper('join-leave', 'lc-joined', 'lc'), '0', 'a consumer joins lc-joined and leaves: Empty, no offsets');
ok(listed()->{'lc-joined'}, 'kafka-consumer-groups lists lc-joined');
is(sql(q{SELECT protocol_type FROM nagare.consumer_groups WHERE group_id = 'lc-joined'}), 'consumer',
	'an Empty group keeps its protocol type, as Kafka\'s');
is(sql(q{SELECT nagare.delete_group('lc-joined')}), 0, 'delete_group of it deletes no offsets');
ok(!listed()->{'lc-joined'} && !exists sql_groups()->{'lc-joined'}, 'and it is gone from both');

# DeleteGroups from Kafka's tool: gone from SQL too
($rc, $out) = cg('--delete', '--group', 'lc-keep');
like($out, qr/Deletion of requested consumer groups \('lc-keep'\) was successful/, 'kafka-consumer-groups --delete');
ok(!exists sql_groups()->{'lc-keep'}, 'gone from nagare.consumer_groups');

#
# Bounds: nagare.max_groups and nagare.empty_group_retention
#
my $n = sql(q{SELECT count(*) FROM jsonb_array_elements(nagare.group_snapshot())});
$node->append_conf('postgresql.conf', "nagare.max_groups = " . ($n + 2) . "\n");
$node->reload;
my $logpos = -s $node->logfile;
ok(wait_until(sub { sql('SHOW nagare.max_groups') == $n + 2 }), "nagare.max_groups = $n + 2");
is(helper('join-leave', 'lc-b1', 'lc'), '0', 'a new group within the bound');
is(helper('commit', 'lc-b2', 'lc', 1, 5), '0', 'a second new group (a commit) within the bound');
is(helper('join-leave', 'lc-b3', 'lc'), '15', 'a third: JoinGroup gets COORDINATOR_NOT_AVAILABLE');
is(helper('commit', 'lc-b4', 'lc', 1, 5), '15', 'OffsetCommit of a new group too');
is(helper('commit', 'lc-b2', 'lc', 1, 6), '0', 'a group that exists still commits');
like(sql_error($node, q{SELECT * FROM nagare.reset_group_offsets('lc-b5', 'lc', 'earliest', create_group => true)}),
	qr/53400: cannot create consumer group "lc-b5".*nagare\.max_groups/s, 'SQL: 53400');
my $log = slurp_file($node->logfile, $logpos);
is(scalar(() = $log =~ /new consumer group "[^"]*" refused/g), 1, 'the refusals are logged once');

# lc-b1 (Empty, no offsets) expires; lc-b2 (offsets) stays
$node->append_conf('postgresql.conf', "nagare.empty_group_retention = '2s'\n");
$node->reload;
ok(wait_until(sub { !exists sql_groups()->{'lc-b1'} }, 30), 'an Empty group with no offsets expires')
  or diag(sql('SELECT * FROM nagare.consumer_groups'));
ok(!listed()->{'lc-b1'}, 'kafka-consumer-groups no longer lists it');
ok(listed()->{'lc-b2'} && sql_groups()->{'lc-b2'} eq 'Empty', 'a group with committed offsets stays');
is(helper('join-leave', 'lc-b3', 'lc'), '0', 'below the bound again, a new group is accepted');

$node->stop;
done_testing();
