# Keys to partitions as each real client chooses them, and consumers that
# read only durable records.
#
#   - the partitioner: for several partition counts and keys, the partition
#     nagare.send() chooses with a topic's "partitioner" (or the call's)
#     is the one each client chose for the same key: kcat and confluent-kafka
#     (librdkafka) with their default partitioner (consistent_random) against
#     crc32, and with partitioner=murmur2_random against murmur2; kafka-python
#     and the Java client (their defaults) against murmur2.  Where a record
#     went is read back with nagare.consume(), whatever the client reports.
#     DescribeConfigs shows a topic's partitioner.
#   - nagare.serve_durable_only: a record acknowledged with acks=1 on a
#     topic with a long flush.ms is written but not fsynced, and is then not
#     visible to nagare.consume(), ListOffsets latest or Fetch (the server's
#     own high watermark, nagare.partitions, shows it written); after the
#     flush it is visible to all three.  A record produced with acks=all is
#     visible at once (its fsync round ran), and with the setting off an
#     unsynced record is visible at once, as before.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time usleep);

my $python = '/usr/bin/python3';
my $helper = "$FindBin::RealBin/../interop/partitioner.py";
my $java_tool = "$FindBin::RealBin/../interop/java/kafka-tool.sh";
sub have { system("@_ >/dev/null 2>&1") == 0 }
my $have_confluent = have("$python -c 'import confluent_kafka'");
my $have_kafka_python = have("$python -c 'import kafka'");
my $have_kcat = have('kcat -V');
my $have_java = have('java -version')
  && -f "$FindBin::RealBin/../interop/java/target/.built";

my ($node, $kport) = kafka_node('partitioner');
my $boot = "127.0.0.1:$kport";

sub sql { return $node->safe_psql('postgres', $_[0]) }

# key => partition of every record of a topic, read back from SQL
sub stored_partitions
{
	my ($topic, $nparts) = @_;
	my %p;
	for my $line (split /\n/, sql(
		"SELECT convert_from(key, 'UTF8'), partition FROM generate_series(0, $nparts - 1) p, "
		  . "LATERAL nagare.consume('$topic', p, 0, 10000)"))
	{
		my ($k, $part) = split /\|/, $line;
		$p{$k} = $part;
	}
	return %p;
}

# key => partition that nagare.send() chooses with a partitioner, on a
# scratch topic with that many partitions
my %scratch;
sub sql_partitions
{
	my ($nparts, $partitioner, @keys) = @_;
	my $t = "scratch-$nparts";
	sql("SELECT nagare.create_topic('$t', $nparts)") unless $scratch{$t}++;
	my $list = join(', ', map { "('$_')" } @keys);
	my %p = map { split /\|/ } split /\n/, sql(
		"SELECT k, (nagare.send('$t', k, 'v', partitioner => '$partitioner')).partition "
		  . "FROM (VALUES $list) v(k)");
	return %p;
}

# Compare where a client put each key with where nagare.send() puts it.
sub check_client
{
	my ($what, $topic, $nparts, $partitioner, @keys) = @_;
	my %got = stored_partitions($topic, $nparts);
	my %want = sql_partitions($nparts, $partitioner, @keys);
	my @d = map { "$_: client chose " . ($got{$_} // 'nothing') . ", nagare.send $want{$_}" }
	  grep { ($got{$_} // -1) != $want{$_} } @keys;
	ok(!@d && keys(%got) == @keys,
		"$what: every key in the partition nagare.send chooses with $partitioner ($nparts partitions)")
	  or diag(join("\n", @d));
}

my @keys = ((map { "key-$_" } 0 .. 19), 'a', 'b', 'c', '21', 'foobar',
	'user/1234567890', 'ordre-é-ü', 'x' x 300);
my $n = 0;
for my $nparts (3, 7)
{
	my $in = join('', map { "$_\n" } @keys);

	if ($have_kcat)
	{
		for my $p ([ 'default', 'crc32', [] ], [ 'murmur2_random', 'murmur2', [ '-X', 'partitioner=murmur2_random' ] ])
		{
			my $t = "kcat-$p->[0]-$nparts";
			sql("SELECT nagare.create_topic('$t', $nparts)");
			my ($rc, $out, $err) = run_cmd([ 'kcat', '-P', '-b', $boot, '-t', $t, '-K', "\t", @{ $p->[2] } ],
				join('', map { "$_\tv\n" } @keys));
			is($rc, 0, "kcat ($p->[0] partitioner) produced") or diag($err);
			check_client("kcat ($p->[0])", $t, $nparts, $p->[1], @keys);
		}
	}
	if ($have_confluent)
	{
		for my $p ([ 'default', 'crc32' ], [ 'murmur2_random', 'murmur2' ], [ 'consistent', 'crc32' ])
		{
			my $t = "confluent-$p->[0]-$nparts";
			sql("SELECT nagare.create_topic('$t', $nparts)");
			my ($rc, $out, $err) = run_cmd([ $python, $helper, 'produce', 'confluent', $boot, $t, $p->[0], 'all' ], $in);
			is($rc, 0, "confluent-kafka ($p->[0] partitioner) produced") or diag($err);
			check_client("confluent-kafka ($p->[0])", $t, $nparts, $p->[1], @keys);
		}
	}
	if ($have_kafka_python)
	{
		my $t = "kafka-python-$nparts";
		sql("SELECT nagare.create_topic('$t', $nparts)");
		my ($rc, $out, $err) = run_cmd([ $python, $helper, 'produce', 'kafka_python', $boot, $t, 'default', 'all' ], $in);
		is($rc, 0, 'kafka-python produced') or diag($err);
		check_client('kafka-python (default)', $t, $nparts, 'murmur2', @keys);
	}
	if ($have_java)
	{
		# KafkaTool's producer: keys key-0 .. key-19, its default partitioner
		my $t = "java-$nparts";
		sql("SELECT nagare.create_topic('$t', $nparts)");
		my ($rc, $out, $err) = run_cmd([ $java_tool, $boot, '-', 'produce', $t, 20 ], '');
		is($rc, 0, 'the Java client produced') or diag($err);
		check_client('the Java client (default)', $t, $nparts, 'murmur2', map { "key-$_" } 0 .. 19);
	}
}
note('kcat is not installed: its part is skipped') unless $have_kcat;
note('confluent-kafka is not installed: its part is skipped') unless $have_confluent;
note('kafka-python is not installed: its part is skipped') unless $have_kafka_python;
note('the Java client is not built: its part is skipped') unless $have_java;

# a topic's partitioner, in nagare.topics and as DescribeConfigs shows it
sql(q{SELECT nagare.create_topic('crc-topic', 3, '{"partitioner": "crc32"}')});
is(sql(q{SELECT config ->> 'partitioner' FROM nagare.topics WHERE topic = 'crc-topic'}), 'crc32',
	'the partitioner is a topic setting');
if ($have_java)
{
	my ($rc, $out, $err) = run_cmd([ $java_tool, $boot, '-', 'admin-describe-configs', 'crc-topic' ], '');
	like($out, qr/^config\tpartitioner\tcrc32\tDYNAMIC_TOPIC_CONFIG$/m,
		'DescribeConfigs (the Java AdminClient) shows the partitioner as the topic set it')
	  or diag($err);
	like($out, qr/^config\tflush\.ms\t-1\tDEFAULT_CONFIG$/m, 'and flush.ms with its default');
}
if ($have_kcat)
{
	my ($rc, $out, $err) = run_cmd([ 'kcat', '-P', '-b', $boot, '-t', 'crc-topic', '-K', "\t" ],
		join('', map { "$_\tv\n" } @keys));
	check_client('kcat (default) on a crc32 topic, nagare.send without partitioner', 'crc-topic', 3, 'crc32', @keys);
	my %sent = map { split /\|/ } split /\n/, sql(
		"SELECT k, (nagare.send('crc-topic', k, 'v')).partition FROM (VALUES "
		  . join(', ', map { "('$_')" } @keys[ 0 .. 9 ]) . ") v(k)");
	my %got = stored_partitions('crc-topic', 3);
	is(join(',', map { $sent{$_} } @keys[ 0 .. 9 ]), join(',', map { $got{$_} } @keys[ 0 .. 9 ]),
		"nagare.send follows the topic's partitioner when the call names none");
}

# ---------------------------------------------------------------- durability
SKIP:
{
	skip 'confluent-kafka is not installed', 10 unless $have_confluent;

	# flush.ms holds an acks=1 record written but not fsynced for 6 s
	sql(q{SELECT nagare.create_topic('dur', 1, '{"flush.ms": 6000}')});
	sql(q{SELECT nagare.create_topic('dur-all', 1, '{"flush.ms": 6000}')});
	$node->append_conf('postgresql.conf', "nagare.serve_durable_only = on\n");
	$node->reload;
	ok(wait_until(sub { sql('SHOW nagare.serve_durable_only') eq 'on' }), 'serve_durable_only is on');
	sleep 1;    # the broker reloads on its own SIGHUP

	my $t0 = time;
	my ($rc, $out, $err) = run_cmd([ $python, $helper, 'produce', 'confluent', $boot, 'dur', 'default', '1' ], "k1\n");
	is($rc, 0, 'acks=1 record acknowledged') or diag($err);
	my $consumed = sql(q{SELECT count(*) FROM nagare.consume('dur', 0, 0, 10)});
	my $written = sql(q{SELECT high_watermark FROM nagare.partitions WHERE topic = 'dur'});
	my ($rc2, $vis) = run_cmd([ $python, $helper, 'visible', $boot, 'dur', 0 ], '');
	my $elapsed = time - $t0;
	SKIP:
	{
		skip "the checks took ${elapsed}s, past flush.ms", 3 if $elapsed > 5.5;
		is($written, 1, 'the record is written (nagare.partitions)');
		is($consumed, 0, 'nagare.consume() does not return the unsynced record');
		like($vis, qr/latest 0\nfetched 0/, 'ListOffsets latest is 0 and Fetch returns nothing before the fsync');
	}
	ok(wait_until(sub { sql(q{SELECT count(*) FROM nagare.consume('dur', 0, 0, 10)}) == 1 }),
		'after flush.ms the record is fsynced and nagare.consume() returns it');
	($rc2, $vis) = run_cmd([ $python, $helper, 'visible', $boot, 'dur', 0 ], '');
	like($vis, qr/latest 1\nfetched 1/, 'ListOffsets latest is 1 and Fetch returns the record after the fsync');

	# acks=all: the producer's own fsync round makes it visible at once
	($rc, $out, $err) = run_cmd([ $python, $helper, 'produce', 'confluent', $boot, 'dur-all', 'default', 'all' ], "k1\n");
	is(sql(q{SELECT count(*) FROM nagare.consume('dur-all', 0, 0, 10)}), 1,
		'an acks=all record is visible as soon as it is acknowledged');

	# off again: written records are served before their fsync, as Kafka does
	$node->append_conf('postgresql.conf', "nagare.serve_durable_only = off\n");
	$node->reload;
	ok(wait_until(sub { sql('SHOW nagare.serve_durable_only') eq 'off' }), 'serve_durable_only is off');
	sleep 1;
	($rc, $out, $err) = run_cmd([ $python, $helper, 'produce', 'confluent', $boot, 'dur', 'default', '1' ], "k2\n");
	($rc2, $vis) = run_cmd([ $python, $helper, 'visible', $boot, 'dur', 0 ], '');
	like($vis, qr/latest 2\nfetched 2/, 'with the setting off, an unsynced record is served at once');
}

$node->stop;
done_testing();
