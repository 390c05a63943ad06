# Kafka Produce, Fetch and ListOffsets over raw sockets, under both I/O
# methods, and acknowledged records across kill -9.
#
# test/interop/kafka_produce_wire.py builds requests and batches with
# kafka-python (bad CRCs, magic 1, oversized and transactional batches,
# acks 0/1/all, pipelining, long polls, KIP-74, ListOffsets) and checks
# error codes, offsets and bytes.  test/interop/acked_producer.py produces
# with acks=all through librdkafka while every process of the server is
# killed: every record it saw acknowledged must be in the topic, at its
# offset.  test/interop/kafka_idempotent_wire.py checks idempotent produce
# (duplicates, sequence and epoch errors) before and after a restart and a
# crash.  (A kill keeps the page cache, so this catches acknowledgements
# given before the write, or records lost from the append ring, not a
# missing fsync; the fsync rounds are the same as SQL commits', checked by
# 050_crash.pl's design, not by power cuts.)
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
my $have_confluent = system("$python -c 'import confluent_kafka' 2>/dev/null") == 0;

my ($node, $kport) = kafka_node('produce');

sub run_tap_script
{
	my ($label, @cmd) = @_;
	my ($stdout, $stderr);
	IPC::Run::run [ $python, @cmd ], '>', \$stdout, '2>', \$stderr;
	diag($stderr) if $stderr;
	for my $line (split /\n/, $stdout)
	{
		ok(!defined $1, "$label: $2") if $line =~ /^(not )?ok \d+ - (.*)$/;
	}
	like($stdout, qr/^1\.\.\d+$/m, "$label: the script ran to its end");
}

$node->safe_psql('postgres',
	q{SELECT nagare.create_topic('wire_uring', 2, '{"max.message.bytes": 5000}')});
wait_kafka_topic($kport, 'wire_uring');
run_tap_script('io_uring', 'test/interop/kafka_produce_wire.py', '127.0.0.1', $kport, 'wire_uring');

$node->append_conf('postgresql.conf', "nagare.io_method = plain\n");
$node->restart;
wait_broker_ready($node);
$node->safe_psql('postgres',
	q{SELECT nagare.create_topic('wire_plain', 2, '{"max.message.bytes": 5000}')});
wait_kafka_topic($kport, 'wire_plain');
run_tap_script('plain', 'test/interop/kafka_produce_wire.py', '127.0.0.1', $kport, 'wire_plain');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM nagare.consume('wire_plain', 0, 0, 1000)}), '214',
	'SQL reads the 214 records produced over Kafka');

# acks=all across kill -9 of the postmaster, a few times
SKIP:
{
	skip 'confluent-kafka (Debian python3-confluent-kafka) is not installed', 1
	  unless $have_confluent;
	$node->safe_psql('postgres', q{SELECT nagare.create_topic('crash', 1)});
	wait_kafka_topic($kport, 'crash');
	my $dir = PostgreSQL::Test::Utils::tempdir();
	for my $round (1 .. 3)
	{
		my $file = "$dir/acked.$round";
		my ($out, $err);
		my $h = IPC::Run::start [ $python, 'test/interop/acked_producer.py',
			"127.0.0.1:$kport", 'crash', $file, 60 ], '>', \$out, '2>', \$err;
		ok(wait_until(sub { -s $file && (() = slurp_file($file) =~ /\n/g) > 200 }),
			"round $round: records are acknowledged before the crash");
		# every process of the server at once, as a power cut would
		my @pids = split /\n/, $node->safe_psql('postgres', 'SELECT pid FROM pg_stat_activity');
		$node->kill9;
		kill('KILL', @pids);
		ok(wait_pid_gone(@pids), "round $round: the old server's processes are gone");
		$node->start;
		wait_broker_ready($node);
		my $before = () = slurp_file($file) =~ /\n/g;
		ok(wait_until(sub { (() = slurp_file($file) =~ /\n/g) > $before + 100 }),
			"round $round: the producer reconnects and is acknowledged again");
		$h->signal('TERM');
		$h->finish;
		note("round $round: $out $err");

		my %acked;
		for (split /\n/, slurp_file($file))
		{
			my ($off, $val) = split / /;
			$acked{$off} = $val;
		}
		my %stored = map { split /\|/ }
		  split /\n/, $node->safe_psql('postgres',
			q{SELECT "offset", convert_from(value, 'UTF8') FROM nagare.consume('crash', 0, 0, 10000000)});
		my @missing = grep { !defined $stored{$_} || $stored{$_} ne $acked{$_} } sort { $a <=> $b } keys %acked;
		is(scalar(@missing), 0,
			"round $round: all " . scalar(keys %acked) . " acknowledged records are stored at their offsets"
			  . (@missing ? " (first missing: $missing[0])" : ''));
	}
}

# idempotent producers: duplicates are recognised before and after a clean
# restart (the state comes from producer.snapshot) and a crash (from the
# segments)
$node->safe_psql('postgres', q{SELECT nagare.create_topic('idem', 1)});
wait_kafka_topic($kport, 'idem');
my $state = PostgreSQL::Test::Utils::tempdir() . '/idem.json';
run_tap_script('idempotent', 'test/interop/kafka_idempotent_wire.py', '127.0.0.1', $kport, 'idem', 'first', $state);
$node->restart;
wait_broker_ready($node);
ok(-f $node->data_dir . '/pg_nagare/' . topic_id($node, 'idem') . '-0/producer.snapshot',
	'a clean shutdown writes the producer state');
run_tap_script('idempotent, after a restart', 'test/interop/kafka_idempotent_wire.py', '127.0.0.1', $kport,
	'idem', 'again', $state);
{
	my @pids = split /\n/, $node->safe_psql('postgres', 'SELECT pid FROM pg_stat_activity');
	$node->kill9;
	kill('KILL', @pids);
	ok(wait_pid_gone(@pids), 'idempotent: the server is killed');
	$node->start;
	wait_broker_ready($node);
}
run_tap_script('idempotent, after a crash', 'test/interop/kafka_idempotent_wire.py', '127.0.0.1', $kport,
	'idem', 'again', $state);

my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal (?!9)|TRAP:|PANIC/, 'no process crashed (other than the kill -9s)');

done_testing();
