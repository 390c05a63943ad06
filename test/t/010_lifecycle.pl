# Lifecycle of nagare's background workers: start, clean restart, SIGHUP,
# broker killed by SIGKILL (cluster restart) and by SIGTERM (broker restart
# alone), and the plain (non-io_uring) I/O method.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use NagareTest;

my $node = nagare_node('lifecycle');

#
# Start: both workers run, the broker says so in the log.
#
my $broker = broker_pid($node);
like($broker, qr/^\d+$/, 'nagare.broker shows a pid');
ok(pid_alive($broker), 'broker pid is a live process');
is($node->safe_psql('postgres', 'SELECT state FROM nagare.broker'),
	'ready', 'broker state is ready');
is( $node->safe_psql(
		'postgres',
		'SELECT queue_size, queue_used, queue_not_durable FROM nagare.broker'),
	(64 * 1024 * 1024) . '|0|0',
	'append ring has the default size and is empty');

my $log = slurp_file($node->logfile);
like($log, qr/\[$broker\] .*LOG:  nagare broker: file I\/O through (io_uring|plain)\n/,
	'broker logs its I/O method');
my ($method) = $log =~ /nagare broker: file I\/O through (\w+)/;
like($log,
	qr/\[$broker\] .*LOG:  nagare broker ready \(I\/O method $method, append ring 65536 kB\)/,
	'broker logs that it is ready');
note "I/O method chosen by auto: $method";

$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'nagare worker' AND datname = 'postgres'"
) or die 'nagare worker not in pg_stat_activity';
my $worker = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'nagare worker'");
ok(pid_alive($worker), 'nagare worker is connected to database postgres');

#
# Some data: 2 partitions, records with keys, values and headers.
#
$node->safe_psql('postgres', "SELECT nagare.create_topic('life', 2)");
my @sent;
for my $i (0 .. 9)
{
	my $p = $i % 2;
	my $r = $node->safe_psql('postgres',
		"SELECT partition, \"offset\" FROM nagare.send('life', 'key$i', 'value-$i', '{\"h\": \"$i\"}', $p)"
	);
	push @sent, $r;
}
is_deeply(\@sent, [ map { ($_ % 2) . '|' . int($_ / 2) } 0 .. 9 ],
	'sends got offsets 0..4 in each partition');

my $dump_sql =
  "SELECT partition, \"offset\", encode(key, 'hex'), encode(value, 'hex'), headers::text, "
  . "\"timestamp\" FROM nagare.consume('life', %d, 0, 1000)";
sub dump_topic
{
	return join("\n",
		map { $node->safe_psql('postgres', sprintf($dump_sql, $_)) } 0, 1);
}
my $before = dump_topic();
is( $node->safe_psql('postgres',
		"SELECT string_agg(convert_from(value, 'UTF8') || '/' || (headers[1]).key || '=' || convert_from((headers[1]).value, 'UTF8'), ',' ORDER BY \"offset\") FROM nagare.consume('life', 1, 0, 100)"
	),
	'value-1/h=1,value-3/h=3,value-5/h=5,value-7/h=7,value-9/h=9',
	'consume returns values and headers of partition 1');

#
# Clean restart keeps topics and records; offsets continue.
#
$node->restart;
my $broker2 = wait_broker_ready($node);
isnt($broker2, $broker, 'restart started a new broker');
like(slurp_file($node->logfile), qr/\[$broker\] .*LOG:  nagare broker shut down/,
	'old broker logged a clean shutdown');
is(dump_topic(), $before, 'records are byte-identical after a clean restart');
is($node->safe_psql('postgres', "SELECT partition, \"offset\" FROM nagare.send('life', 'k', 'after-restart', NULL, 1)"),
	'1|5', 'offsets continue after a restart');
is( $node->safe_psql('postgres',
		"SELECT topic, partition, log_start_offset, high_watermark, records FROM nagare.partitions WHERE topic = 'life' ORDER BY partition"
	),
	"life|0|0|5|5\nlife|1|0|6|6",
	'nagare.partitions after restart');
$before = dump_topic();

#
# SIGHUP: new server defaults reach nagare.topics and the broker.
#
is( $node->safe_psql(
		'postgres',
		"SELECT config->>'retention.ms', config->>'segment.bytes' FROM nagare.topics WHERE topic = 'life'"
	),
	(7 * 24 * 3600 * 1000) . '|' . (1024 * 1024 * 1024),
	'default retention.ms and segment.bytes');
$node->safe_psql('postgres', "ALTER SYSTEM SET nagare.log_retention = 90");
$node->safe_psql('postgres', "ALTER SYSTEM SET nagare.log_segment_bytes = 1024");
$node->safe_psql('postgres', "SELECT pg_reload_conf()");
$node->poll_query_until('postgres',
	"SELECT current_setting('nagare.log_segment_bytes') = '1kB' AND current_setting('nagare.log_retention') = '90min'"
) or die 'reload not seen';
is( $node->safe_psql(
		'postgres',
		"SELECT config->>'retention.ms', config->>'segment.bytes', overrides::text FROM nagare.topics WHERE topic = 'life'"
	),
	'5400000|1024|{}',
	'nagare.topics.config shows the reloaded defaults');

# The broker handles SIGHUP asynchronously: send 200-byte records to a probe
# topic until it rolls a segment (bounded), then measure exactly on a fresh topic.
$node->safe_psql('postgres', "SELECT nagare.create_topic('probe')");
my $rolled = wait_until(
	sub {
		$node->safe_psql('postgres', "SELECT nagare.send('probe', 'k', repeat('p', 200))");
		partition_row($node, 'probe')->{segments} > 1;
	},
	60);
ok($rolled, 'broker rolls segments at the reloaded nagare.log_segment_bytes');

$node->safe_psql('postgres', "SELECT nagare.create_topic('roll')");
$node->safe_psql('postgres', "SELECT nagare.send('roll', 'k', repeat('r', 200))");
my $batch = partition_row($node, 'roll')->{size_bytes};
cmp_ok($batch, '>', 200, "one 200-byte record is a batch of $batch bytes");
my $per_seg = int(1024 / $batch);
my $n = 3 * $per_seg + 1;
$node->safe_psql('postgres',
	join('', map { "SELECT nagare.send('roll', 'k', repeat('r', 200));\n" } 2 .. $n));
my $row = partition_row($node, 'roll');
is($row->{segments}, 4, "$n batches of $batch bytes make 4 segments of 1024 bytes");
is($row->{high_watermark}, $n, 'high watermark');
is($row->{size_bytes}, $n * $batch, 'size_bytes');
my $rolldir = partition_dir($node, 'roll');
my @logs = segment_files($rolldir);
is_deeply(\@logs,
	[ map { sprintf('%020d.log', $_ * $per_seg) } 0 .. 3 ],
	'segment files are named by their base offsets');
is_deeply([ map { -s "$rolldir/$_" } @logs ],
	[ ($per_seg * $batch) x 3, $batch ],
	'segment file sizes');
is(scalar(consume_rows($node, 'roll', 0, 0)), $n, 'all records consumable across segments');

# back to the defaults for the rest of the test
$node->safe_psql('postgres', "ALTER SYSTEM RESET nagare.log_retention");
$node->safe_psql('postgres', "ALTER SYSTEM RESET nagare.log_segment_bytes");
$node->safe_psql('postgres', "SELECT pg_reload_conf()");
$node->poll_query_until('postgres',
	"SELECT current_setting('nagare.log_segment_bytes') = '1GB'")
  or die 'reload not seen';

#
# SIGKILL of the broker: the postmaster restarts the whole cluster.
#
my $roll_before = join("\n", map { join('|', @$_) } consume_rows($node, 'roll', 0, 0));
$broker = broker_pid($node);
$worker = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'nagare worker'");
my $logpos = log_offset($node);
kill 'KILL', $broker;
wait_for_log_from($node,
	qr/background worker "nagare broker" \(PID $broker\) was terminated by signal 9/,
	$logpos);
wait_for_log_from($node, qr/all server processes terminated; reinitializing/, $logpos);
ok(wait_pid_gone($broker, $worker), 'old broker and worker are gone');
$broker2 = wait_new_broker($node, $broker);
ok(pid_alive($broker2), 'a new broker runs after the crash restart');
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'nagare worker'")
  or die 'no nagare worker after crash restart';
is(dump_topic(), $before, 'records survive a broker SIGKILL');
is(join("\n", map { join('|', @$_) } consume_rows($node, 'roll', 0, 0)),
	$roll_before, 'multi-segment partition survives a broker SIGKILL');
is($node->safe_psql('postgres', "SELECT partition, \"offset\" FROM nagare.send('life', 'k', 'after-kill', NULL, 0)"),
	'0|5', 'offsets continue after the crash restart');
$before = dump_topic();

#
# SIGTERM of the broker: it shuts down cleanly and the postmaster starts a new
# one; the rest of the cluster (the nagare worker, client sessions) lives on.
#
$broker = broker_pid($node);
$worker = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'nagare worker'");
my $session = $node->background_psql('postgres');
my $session_pid = $session->query_safe('SELECT pg_backend_pid()');
$logpos = log_offset($node);
kill 'TERM', $broker;
ok(wait_pid_gone($broker), 'broker exits on SIGTERM');
$broker2 = wait_new_broker($node, $broker);
my $since = log_since($node, $logpos);
like($since, qr/\[$broker\] .*LOG:  nagare broker shut down/, 'broker logged its shutdown');
like($since, qr/\[$broker2\] .*LOG:  nagare broker ready/, 'new broker logged ready');
unlike($since, qr/reinitializing|terminating any other active server processes/,
	'no cluster restart for a broker SIGTERM');
is($node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'nagare worker'"),
	$worker, 'nagare worker kept running');
is($session->query_safe('SELECT pg_backend_pid()'), $session_pid, 'client session kept running');
is($session->query_safe("SELECT partition, \"offset\" FROM nagare.send('life', 'k', 'after-term', NULL, 1)"),
	'1|6', 'existing session sends to the new broker');
$session->quit;
like(dump_topic(), qr/^\Q$before\E/s, 'records intact after broker SIGTERM');
is( $node->safe_psql('postgres',
		"SELECT convert_from(value, 'UTF8') FROM nagare.consume('life', 1, 6, 10)"),
	'after-term',
	'record sent after the broker restart is readable');

$node->stop;

#
# nagare.io_method = plain
#
my $plain = nagare_node('plain', conf => "nagare.io_method = plain\n");
my $ppid = broker_pid($plain);
$log = slurp_file($plain->logfile);
like($log, qr/\[$ppid\] .*LOG:  nagare broker: file I\/O through plain\n/,
	'plain: broker logs file I/O through plain');
like($log, qr/\[$ppid\] .*LOG:  nagare broker ready \(I\/O method plain, /,
	'plain: broker ready with I/O method plain');
unlike($log, qr/io_uring/, 'plain: io_uring is not even tried');
$plain->safe_psql('postgres', "SELECT nagare.create_topic('p', 1, '{\"segment.bytes\": 300}')");
is( $plain->safe_psql(
		'postgres',
		"SELECT string_agg(r::text, ',') FROM (SELECT nagare.send('p', 'k' || i, 'plain-' || i) r FROM generate_series(0, 9) i) s"
	),
	join(',', map { "(0,$_)" } 0 .. 9),
	'plain: sends get offsets 0..9');
is( join(',', consume_values($plain, 'p', 0, 0)),
	join(',', map { "$_:plain-$_" } 0 .. 9),
	'plain: consume returns the records');
cmp_ok(partition_row($plain, 'p')->{segments}, '>', 1, 'plain: segments rolled');
$plain->restart;
wait_broker_ready($plain);
is( join(',', consume_values($plain, 'p', 0, 0)),
	join(',', map { "$_:plain-$_" } 0 .. 9),
	'plain: records survive a restart');
$plain->stop;

done_testing();
