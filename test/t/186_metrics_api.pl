# GET /metrics against what real clients did (docs/observability.md):
#
#   - per Kafka API: three kcat producers of one record each make three
#     Produce requests, in nagare_kafka_requests_total{api="Produce"} and
#     in the count of nagare_kafka_request_duration_seconds{api="Produce"};
#     a kafka-python DeleteTopics of a topic that does not exist puts one
#     UNKNOWN_TOPIC_OR_PARTITION in nagare_kafka_errors_total{api="DeleteTopics"};
#   - the log's fsync rounds: nagare_log_fsync_duration_seconds_count
#     moves under acks=all producers;
#   - per partition: produced records and bytes equal the partition's high
#     watermark and the bytes of its .log file (nagare.partitions), fetched
#     records what kcat consumed; nagare.metrics_max_partition_series caps
#     the series (the rest in topic="__other__");
#   - the nagare worker's snapshot (nagare.metrics_snapshot_interval = 1 s):
#     a kafka-python group commits offset 1 of three records, and
#     nagare_consumer_group_lag_seconds is nagare.consumer_lag's lag_seconds
#     at the snapshot's time (its timestamp gauge); an instance_health SLO
#     over one passing and one critical instance has the SLI, error budget
#     and burn rates of nagare.slo_status;
#   - nagare.metrics_api = off stops the per-API counting;
#   - promtool check metrics passes.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

sub have { system("@_ >/dev/null 2>&1") == 0 }
plan skip_all => 'curl and kcat are needed' unless have('curl --version') && have('kcat -V');
my $python = '/usr/bin/python3';
my $have_kafka_python = system("$python -c 'import kafka' 2>/dev/null") == 0;

my $hport = PostgreSQL::Test::Cluster::get_free_port();
my ($node, $kport) = kafka_node('metrics_api', conf => qq{
nagare.http_listen_addresses = '127.0.0.1'
nagare.http_port = $hport
nagare.metrics_snapshot_interval = 1
});
my $url = "http://127.0.0.1:$hport/metrics";
my $tmp = PostgreSQL::Test::Utils::tempdir();

sub sql { return $node->safe_psql('postgres', $_[0]) }
sub scrape { my $out = `curl -s --max-time 10 $url`; return $out }

# The value of a sample (name and labels as written), 0 if absent
sub sample
{
	my ($text, $series) = @_;
	for my $line (split /\n/, $text)
	{
		return $1 if $line =~ /^\Q$series\E (\S+)$/;
	}
	return 0;
}

sub produce_one
{
	my ($topic, $value) = @_;
	open(my $kc, '|-', "kcat -P -b 127.0.0.1:$kport -t $topic -p 0 -X acks=all") or die;
	print $kc "$value\n";
	close($kc) or die "kcat failed";
}

$node->wait_for_log(qr/nagare http: listening on 127\.0\.0\.1:$hport/);
sql("SELECT nagare.create_topic('ma', 1)");
wait_kafka_topic($kport, 'ma');

# Produce: three requests, each timed
my $m0 = scrape();
produce_one('ma', "r$_") for 1 .. 3;
my $m1 = scrape();
my $p = 'api="Produce",api_key="0"';
is(sample($m1, "nagare_kafka_requests_total{$p}") - sample($m0, "nagare_kafka_requests_total{$p}"),
	3, 'three kcat producers: three Produce requests');
is(sample($m1, "nagare_kafka_request_duration_seconds_count{$p}")
	  - sample($m0, "nagare_kafka_request_duration_seconds_count{$p}"),
	3, 'and three Produce latencies in the histogram');
is(sample($m1, "nagare_kafka_request_duration_seconds_bucket{$p,le=\"+Inf\"}"),
	sample($m1, "nagare_kafka_request_duration_seconds_count{$p}"),
	'the +Inf bucket is the count');
cmp_ok(sample($m1, "nagare_kafka_request_duration_seconds_sum{$p}"), '>', 0,
	'the latencies sum to more than 0 s');
cmp_ok(sample($m1, 'nagare_log_fsync_duration_seconds_count'), '>',
	sample($m0, 'nagare_log_fsync_duration_seconds_count'),
	'acks=all producers: the fsync histogram counted rounds');
like($m1, qr/^nagare_kafka_requests_total\{api="Metadata",api_key="3"\} \d+$/m,
	'Metadata requests have their series');
like($m1, qr/^nagare_fetch_cold_reads 0$/m, 'no cold reads at rest');
like($m1, qr/^nagare_worker_channel_queued_bytes\{process="broker",direction="requests"\} \d+$/m,
	"the channels' depth has its series");

# per partition: what went in is what nagare.partitions shows
my ($hwm, $size) = split /\|/,
  sql("SELECT high_watermark, size_bytes FROM nagare.partitions WHERE topic = 'ma' AND partition = 0");
is($hwm, 3, 'nagare.partitions: three records in ma/0');
is(sample($m1, 'nagare_partition_produced_records_total{topic="ma",partition="0"}'), $hwm,
	'produced records: the high watermark');
is(sample($m1, 'nagare_partition_produced_bytes_total{topic="ma",partition="0"}'), $size,
	'produced bytes: the size of the log file');
my @got = split /\n/, `kcat -C -b 127.0.0.1:$kport -t ma -p 0 -o beginning -e -q`;
is(scalar(@got), 3, 'kcat consumed three records');
my $m2 = scrape();
is(sample($m2, 'nagare_partition_fetched_records_total{topic="ma",partition="0"}'), 3,
	'fetched records: the three kcat consumed');
is(sample($m2, 'nagare_partition_fetched_bytes_total{topic="ma",partition="0"}'), $size,
	'fetched bytes: the log file, sent once');

# an error code by API: DeleteTopics of a topic that does not exist
SKIP:
{
	skip 'kafka-python (Debian python3-kafka) is not installed', 1 unless $have_kafka_python;
	my $d = 'api="DeleteTopics",api_key="20",error="UNKNOWN_TOPIC_OR_PARTITION",code="3"';
	my $before = sample(scrape(), "nagare_kafka_errors_total{$d}");
	my $out = `$python - 127.0.0.1:$kport <<'EOP' 2>&1
import sys
from kafka import KafkaAdminClient
from kafka.errors import UnknownTopicOrPartitionError
a = KafkaAdminClient(bootstrap_servers=sys.argv[1], api_version=(2, 5, 0))
try:
    a.delete_topics(['no_such_topic'])
except UnknownTopicOrPartitionError:
    pass
a.close()
EOP`;
	is(sample(scrape(), "nagare_kafka_errors_total{$d}") - $before, 1,
		'a DeleteTopics of a missing topic: one UNKNOWN_TOPIC_OR_PARTITION') or diag($out);
}

# the worker's snapshot: lag in time, and an SLO
SKIP:
{
	skip 'kafka-python (Debian python3-kafka) is not installed', 7 unless $have_kafka_python;
	my $out = `$python - 127.0.0.1:$kport <<'EOP' 2>&1
import sys
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
c = KafkaConsumer(bootstrap_servers=sys.argv[1], group_id='lagg', enable_auto_commit=False)
tp = TopicPartition('ma', 0)
c.assign([tp])
c.commit({tp: OffsetAndMetadata(1, None)})
c.close()
print('committed')
EOP`;
	like($out, qr/committed/, 'kafka-python committed offset 1 for group lagg') or diag($out);
	sql(q{
SELECT nagare.register_service('pay');
SELECT nagare.register_instance('pay', 'pay-1', '127.0.0.1', 8080, ttl => '1 hour');
SELECT nagare.register_instance('pay', 'pay-2', '127.0.0.1', 8081, ttl => '1 hour');
SELECT nagare.pass_instance('pay-1');
SELECT nagare.fail_instance('pay-2');
SELECT nagare.set_service_slo('pay', 'up', 'instance_health', 0.9, time_window => '1 day');
SELECT nagare.flush_sli();
});
	my $since = sql('SELECT extract(epoch FROM clock_timestamp())');
	my $m;
	ok(wait_until(sub {
		$m = scrape();
		return sample($m, 'nagare_metrics_snapshot_timestamp_seconds') > $since + 0.1
		  && $m =~ /^nagare_slo_sli_ratio\{/m;
	}, 30), 'the worker took a snapshot after the commit and the SLO');
	my ($now, $lag) = split /\|/, sql(q{SELECT extract(epoch FROM now()), lag_seconds
	  FROM nagare.consumer_lag WHERE group_id = 'lagg' AND topic = 'ma' AND "partition" = 0});
	my $taken = sample($m, 'nagare_metrics_snapshot_timestamp_seconds');
	my $mlag = sample($m, 'nagare_consumer_group_lag_seconds{group="lagg",topic="ma"}');
	cmp_ok(abs($mlag - ($lag - ($now - $taken))), '<', 0.5,
		"lag in time: $mlag s at the snapshot, the view's $lag s at $now minus the snapshot's age")
	  or diag("taken $taken");
	cmp_ok($mlag, '>', 0, 'and more than 0');
	my ($sli, $rem, $b5, $b1d) = split /\|/, sql(q{SELECT sli_value, error_budget_remaining,
	  burn_rate_5m, burn_rate_1d FROM nagare.slo_status WHERE service = 'pay' AND name = 'up'});
	my $l = 'service="pay",slo="up",sli="instance_health"';
	is(sample($m, "nagare_slo_sli_ratio{$l}") + 0, $sli + 0, "the SLI: nagare.slo_status's ($sli)");
	is(sample($m, "nagare_slo_error_budget_remaining_ratio{$l}") + 0, $rem + 0,
		"the error budget left ($rem)");
	is(sample($m, "nagare_slo_burn_rate{$l,window=\"5m\"}") + 0, $b5 + 0, "the burn rate over 5m ($b5)");
	is(sample($m, "nagare_slo_burn_rate{$l,window=\"1d\"}") + 0, $b1d + 0, "and over 1d ($b1d)");
}

# the partition series cap
sql("SELECT nagare.create_topic('mb', 3)");
wait_kafka_topic($kport, 'mb');
produce_one('mb', 'x');
sql("ALTER SYSTEM SET nagare.metrics_max_partition_series = 2");
sql("SELECT pg_reload_conf()");
ok(wait_until(sub { scrape() =~ /^nagare_partition_produced_records_total\{topic="__other__",partition=""\} \d+$/m }),
	'nagare.metrics_max_partition_series = 2: the rest are in topic="__other__"');
{
	my $m = scrape();
	my @series = ($m =~ /^nagare_partition_produced_records_total\{/mg);
	is(scalar(@series), 3, 'two partitions and __other__');
	my $sum = 0;
	$sum += $_ for ($m =~ /^nagare_partition_produced_records_total\{[^}]*\} (\d+)$/mg);
	is($sum, 4, 'and they sum to the four records produced');
	is(sample($m, 'nagare_partition_high_watermark{topic="mb",partition="2"}'), 0,
		'the gauges are not capped');
}
sql("ALTER SYSTEM RESET nagare.metrics_max_partition_series");

# nagare.metrics_api = off: the per-API counters stand still
sql("ALTER SYSTEM SET nagare.metrics_api = off");
sql("SELECT pg_reload_conf()");
sleep(1);
my $m3 = scrape();
produce_one('ma', 'r4');
is(sample(scrape(), "nagare_kafka_requests_total{$p}"), sample($m3, "nagare_kafka_requests_total{$p}"),
	'nagare.metrics_api = off: no Produce counted');
sql("ALTER SYSTEM RESET nagare.metrics_api");
sql("SELECT pg_reload_conf()");

SKIP:
{
	skip 'promtool is not installed', 1 unless have('promtool --version');
	open(my $fh, '>', "$tmp/scrape.txt") or die;
	print $fh scrape();
	close($fh);
	my $out = `promtool check metrics < $tmp/scrape.txt 2>&1`;
	is($? >> 8, 0, 'promtool check metrics passes') or diag($out);
}

$node->stop;
done_testing();
