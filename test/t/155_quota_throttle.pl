# Quota enforcement with real clients (broker/throttle.c): quotas set with
# nagare.set_quota() hold producers and consumers to at most 10% over their
# byte rate (and at least 80% of it) over a 10-second window, and the
# clients see throttle_time_ms:
#
#   - librdkafka (confluent-kafka), which has no client-side throttling:
#     its throttle_cb fires and only the broker's mute holds it;
#   - kafka-python and the Java client: their throttle-time metrics;
#   - a raw socket that pipelines Produce requests regardless of
#     throttle_time_ms gets its answers no sooner than the quota allows;
#   - request_percentage: pipelined ApiVersions of a client with a tiny
#     share of the broker's time (0.1%: a millisecond a second; 2000
#     ApiVersions take a few milliseconds, each charged to the nanosecond)
#     are throttled;
#   - controller_mutation_rate: the Java AdminClient's CreateTopics (strict)
#     fails with THROTTLING_QUOTA_EXCEEDED once the bucket is overdrawn;
#   - connection_creation_rate of an ip, and nagare.max_connection_creation_rate.
#
# Clients: test/interop/quota_clients.py (Python) and
# test/interop/quota/QuotaProbe.java (run in source-file mode against the
# jars of test/interop/java/build.sh).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use List::Util qw(sum);
use Time::HiRes qw(time);

my $python = '/usr/bin/python3';
my $dir = "$FindBin::RealBin/../interop";
my $jlib = "$dir/java/target/lib";

plan skip_all => "$python is not installed" unless -x $python;
sub have { system("@_ >/dev/null 2>&1") == 0 }
plan skip_all => 'confluent-kafka is not installed'
  unless have("$python -c 'import confluent_kafka'");
my $kafka_python = have("$python -c 'import kafka'");
my $java = have('java -version') && -d $jlib;
note('kafka-python is not installed: its parts are skipped') unless $kafka_python;
note('the Java client is not built (test/interop/java/build.sh): its parts are skipped')
  unless $java;

my ($node, $kport) = kafka_node('quota', conf => qq{
nagare.num_partitions = 1
});
my $boot = "127.0.0.1:$kport";

plan skip_all => 'nagare.set_quota() is not installed yet'
  unless $node->safe_psql('postgres',
	"SELECT to_regprocedure('nagare.set_quota(text, text, float8)') IS NOT NULL") eq 't';

# ---------------------------------------------------------------- helpers

# Set a quota and wait until the broker's shared copy has it
sub set_quota
{
	my ($entity, $key, $value, $user, $client) = @_;
	$node->safe_psql('postgres', "SELECT nagare.set_quota('$entity', '$key', $value)");
	return if $entity =~ /^ip=/;
	ok( wait_until(sub {
				$node->safe_psql('postgres',
					"SELECT count(*) FROM nagare.effective_quota('$user', '$client') "
					  . "WHERE key = '$key' AND value = $value") > 0;
			}),
		"quota $entity $key=$value resolved");
}

sub python_client
{
	my @args = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run [ $python, "$dir/quota_clients.py", @args ], '>', \$out, '2>', \$err;
	my $r = eval { decode_json((split /\n/, $out)[-1] // '') };
	diag("quota_clients.py @args: $err$out") unless $r;
	return $r;
}

sub java_client
{
	my @args = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run [ 'java', '-XX:+UseSerialGC', '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
		'-cp', "$jlib/*", "$dir/quota/QuotaProbe.java", $boot, @args ],
	  '>', \$out, '2>', \$err;
	diag("QuotaProbe @args: $err") if $?;
	my %r;
	for (split /\n/, $out)
	{
		$r{per_second} = [ (split / /)[ 1 .. 1000 ] ] if /^per_second/;
		$r{per_tenth} = [ (split / /)[ 1 .. 10000 ] ] if /^per_tenth/;
		$r{throttle_max_ms} = $1 if /^throttle_max_ms (-?\d+)/;
		push @{ $r{topics} }, [ $1, $2 ] if /^topic (\S+) (\S+)/;
	}
	$r{$_} = [ grep { defined } @{ $r{$_} } ] for grep { $r{$_} } qw(per_second per_tenth);
	return \%r;
}

# The rate of a series of 100 ms bins over seconds [from, to): the slope
# of the bytes so far (least squares).  A throttled consumer gets its bytes
# in bursts, one fetch every second or two: a sum over whole seconds counts
# 5 or 6 of them in 10 s, 20% apart, depending on where the window falls;
# the slope does not depend on that (within 3% on these clients' series).
sub rate_slope
{
	my ($tenths, $from, $to) = @_;
	my $total = sum(0, map { $tenths->[$_] // 0 } 0 .. $from * 10 - 1);
	my (@x, @y);
	for my $i ($from * 10 .. $to * 10 - 1)
	{
		$total += $tenths->[$i] // 0;
		push @x, ($i + 1) / 10;
		push @y, $total;
	}
	my $mx = sum(@x) / @x;
	my $my = sum(@y) / @y;
	my $sxy = sum(map { ($x[$_] - $mx) * ($y[$_] - $my) } 0 .. $#x);
	my $sxx = sum(map { ($x[$_] - $mx)**2 } 0 .. $#x);
	return $sxy / $sxx;
}

# The rate held to the quota over a 10 s window: at most 10% over it (the
# quota holds), and at least 80% of it (the client is not starved; the
# clients' own pauses between a throttle's end and their next request put
# them 3-12% under)
sub rate_ok
{
	my ($r, $quota, $name) = @_;
	my $rate = $r && $r->{per_tenth} ? rate_slope($r->{per_tenth}, 3, 13) : 0;
	note("$name: " . join(' ', @{ $r->{per_second} // [] }));
	ok($rate <= 1.10 * $quota && $rate >= 0.80 * $quota,
		sprintf('%s: %.0f B/s over seconds 3-13, quota %d', $name, $rate, $quota));
}

sub create_topic
{
	my ($t) = @_;
	$node->safe_psql('postgres', "SELECT nagare.create_topic('$t', 1)");
	wait_kafka_topic($kport, $t);
}

# ---------------------------------------------------------------- byte rates

create_topic($_) for qw(qp qc);
my $r = python_client('fill', $boot, 'qc', 12);
is($r->{unflushed}, 0, '12 MB for the consumers');

# librdkafka producer: no client-side throttling, the mute holds it
set_quota('client-id=q-rdkafka-p', 'producer_byte_rate', 300000, 'ANONYMOUS', 'q-rdkafka-p');
$r = python_client('produce-confluent', $boot, 'qp', 'q-rdkafka-p', 14);
rate_ok($r, 300000, 'librdkafka producer');
ok($r && $r->{throttle_events} > 0,
	"librdkafka's throttle_cb reports throttle_time_ms ($r->{throttle_events} events, max $r->{throttle_max_ms} ms)");

# librdkafka consumer
set_quota('client-id=q-rdkafka-c', 'consumer_byte_rate', 400000, 'ANONYMOUS', 'q-rdkafka-c');
$r = python_client('consume-confluent', $boot, 'qc', 'q-rdkafka-c', 14);
rate_ok($r, 400000, 'librdkafka consumer');
ok($r && $r->{throttle_events} > 0,
	"librdkafka consumer's throttle_cb fires ($r->{throttle_events} events, max $r->{throttle_max_ms} ms)");

SKIP:
{
	skip 'kafka-python is not installed', 6 unless $kafka_python;
	set_quota('client-id=q-kp-p', 'producer_byte_rate', 200000, 'ANONYMOUS', 'q-kp-p');
	$r = python_client('produce-kafka-python', $boot, 'qp', 'q-kp-p', 14);
	rate_ok($r, 200000, 'kafka-python producer');
	ok($r && ($r->{throttle_max_ms} // 0) > 0,
		"kafka-python's produce-throttle-time-max is $r->{throttle_max_ms} ms");
	set_quota('client-id=q-kp-c', 'consumer_byte_rate', 300000, 'ANONYMOUS', 'q-kp-c');
	$r = python_client('consume-kafka-python', $boot, 'qc', 'q-kp-c', 14);
	rate_ok($r, 300000, 'kafka-python consumer');
	ok($r && ($r->{throttle_max_ms} // 0) > 0,
		"kafka-python's fetch-throttle-time-max is $r->{throttle_max_ms} ms");
}

SKIP:
{
	skip 'the Java client is not built', 6 unless $java;
	set_quota('client-id=q-java-p', 'producer_byte_rate', 250000, 'ANONYMOUS', 'q-java-p');
	$r = java_client('produce', 'qp', 'q-java-p', 14);
	rate_ok($r, 250000, 'Java producer');
	ok(($r->{throttle_max_ms} // 0) > 0,
		"Java's produce-throttle-time-max is $r->{throttle_max_ms} ms");
	set_quota('client-id=q-java-c', 'consumer_byte_rate', 350000, 'ANONYMOUS', 'q-java-c');
	$r = java_client('consume', 'qc', 'q-java-c', 14);
	rate_ok($r, 350000, 'Java consumer');
	ok(($r->{throttle_max_ms} // 0) > 0,
		"Java's fetch-throttle-time-max is $r->{throttle_max_ms} ms");
}

# ---------------------------------------------------------------- ignoring the throttle

# 60 Produce requests of 64 kB written at once: the answers come at the
# quota's pace, however the client behaves
$r = python_client('raw-produce', $boot, 'qp', 'q-free', 60, 64);
my $free = $r->{elapsed};
is($r->{throttled}, 0, "unthrottled: 60 pipelined Produce requests answered in ${free} s");
set_quota('client-id=q-raw', 'producer_byte_rate', 500000, 'ANONYMOUS', 'q-raw');
$r = python_client('raw-produce', $boot, 'qp', 'q-raw', 60, 64);
my $least = (60 * $r->{request_bytes} - 500000) / 500000;
is($r->{answers}, 60, 'every pipelined Produce request is answered');
ok($r->{elapsed} >= 0.9 * $least,
	sprintf('a client ignoring throttle_time_ms gets nothing sooner: %.1f s for %d bytes at 500000 B/s (at least %.1f s)',
		$r->{elapsed}, 60 * $r->{request_bytes}, $least));
ok($r->{throttled} > 0, "$r->{throttled} of its responses carry throttle_time_ms");

# ---------------------------------------------------------------- request_percentage

$r = python_client('raw-apiversions', $boot, 'q-free', 2000);
my $free_elapsed = $r->{elapsed};
is($r->{throttled}, 0, sprintf('unthrottled: 2000 pipelined ApiVersions in %.2f s', $free_elapsed));
set_quota('client-id=q-req', 'request_percentage', 0.1, 'ANONYMOUS', 'q-req');
$r = python_client('raw-apiversions', $boot, 'q-req', 2000);
is($r->{answers}, 2000, 'every ApiVersions answered under request_percentage 0.1');
ok($r->{throttled} > 0 && $r->{elapsed} > 3 * $free_elapsed,
	sprintf('request_percentage throttles: %d responses with throttle_time_ms, %.2f s',
		$r->{throttled}, $r->{elapsed}));

# ---------------------------------------------------------------- controller_mutation_rate

SKIP:
{
	skip 'the Java client is not built', 3 unless $java;
	# 2 partitions/s, burst 2 * 11 = 22: 10 + 10 + 10 (overdrawn), then refused
	set_quota('client-id=q-admin', 'controller_mutation_rate', 2, 'ANONYMOUS', 'q-admin');
	$r = java_client('create-topics', 'q-admin', 'qm', 5, 10);
	my @res = map { $_->[1] } @{ $r->{topics} // [] };
	note("CreateTopics: @res");
	is_deeply([ @res[ 0 .. 2 ] ], [qw(ok ok ok)], 'the burst of the bucket is accepted');
	is($res[3], 'ThrottlingQuotaExceededException',
		'an overdrawn bucket refuses the next CreateTopics (THROTTLING_QUOTA_EXCEEDED)');
	is($node->safe_psql('postgres', "SELECT count(*) FROM nagare.topics WHERE topic = 'qm3'"),
		'0', 'the refused topic was not created');
}

# ---------------------------------------------------------------- connections

# broker-wide: 30 connections at 10/s all get in, the later ones later
$node->append_conf('postgresql.conf', "nagare.max_connection_creation_rate = 10\n");
$node->reload;
sleep 1;
$r = python_client('connections', $boot, 30);
is($r->{answered}, 30, 'nagare.max_connection_creation_rate: every connection is served');
ok($r->{last_answer} >= 1.0,
	sprintf('... the last only after %.1f s (accepting paused)', $r->{last_answer}));
$node->append_conf('postgresql.conf', "nagare.max_connection_creation_rate = 0\n");
$node->reload;
sleep 1;

# per ip: 5/s; of 20 connections at once the first window takes 5
set_quota('ip=127.0.0.1', 'connection_creation_rate', 5);
sleep 2;
$r = python_client('connections', $boot, 20);
ok($r->{answered} >= 4 && $r->{answered} <= 6,
	"connection_creation_rate 5/s of 127.0.0.1: $r->{answered} of 20 connections served");
is($r->{closed}, 20 - $r->{answered}, '... the others are closed');
$node->safe_psql('postgres',
	"SELECT nagare.remove_quota('ip=127.0.0.1', 'connection_creation_rate')");

done_testing();
