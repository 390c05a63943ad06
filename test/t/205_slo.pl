# SLIs and SLOs from what the broker measures, with a real client
# (confluent-kafka-python, librdkafka) of a declared service:
#
#   - it produces N records with acks=all, one request each, timing each;
#     nagare.client_usage counts N NONE results, and the broker-side latency
#     histogram agrees with what the client saw: for every bucket bound, at
#     least as many broker latencies are under it as client latencies (the
#     broker's part of a round trip is never longer), and at most as many
#     as client latencies under 2.5 times it (the buckets' resolution) plus
#     the client's own overhead; /metrics has the histogram, and promtool
#     checks the scrape;
#   - K produces to a topic the principal may DESCRIBE but not WRITE count
#     exactly K TOPIC_AUTHORIZATION_FAILED results;
#   - nagare.flush_sli() writes the service's minute row (good N, total
#     N + K, the latency counts, the instance passing), and an SLO on
#     produce_success burns: budget remaining as computed here by hand,
#     burn rate over 5 minutes above 0;
#   - consumer lag: a group commits part of what was produced; lag in
#     records is exact and lag in time is the age of the record at the
#     committed offset as the client stamped it; while a member of the group
#     is connected the group is the service's;
#   - the nagare worker flushes by itself (nagare.sli_flush_interval).
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

my $python = '/usr/bin/python3';
plan skip_all => 'confluent-kafka-python is not installed'
  if system("$python -c 'import confluent_kafka' 2>/dev/null") != 0;

my $hport = PostgreSQL::Test::Cluster::get_free_port();
my ($node, $kport) = kafka_node('slo', conf => qq{
nagare.auto_create_topics = off
nagare.http_listen_addresses = '127.0.0.1'
nagare.http_port = $hport
});
my $boot = "127.0.0.1:$kport";
my $tmp = PostgreSQL::Test::Utils::tempdir();
sub sql { return $node->safe_psql('postgres', $_[0]) }

my $N = 40;
my $K = 3;

sql(q{
SELECT nagare.create_topic('slo_orders', 2);
SELECT nagare.create_topic('slo_secret', 1);
SELECT nagare.create_acl('TOPIC', 'slo_secret', 'User:alice', 'WRITE');
SELECT nagare.create_acl('TOPIC', 'slo_secret', 'User:ANONYMOUS', 'DESCRIBE');
SELECT nagare.register_service('orders');
SELECT nagare.set_service_identity('orders', 'User:ANONYMOUS', 'slo-*');
SELECT nagare.register_instance('orders', 'orders-1', '127.0.0.1', 8080, ttl => '1 hour');
SELECT nagare.pass_instance('orders-1');
SELECT nagare.set_service_slo('orders', 'avail', 'produce_success', 0.9, time_window => '1 day');
});
wait_kafka_topic($kport, 'slo_orders');
wait_kafka_topic($kport, 'slo_secret');

# The client: one request per record (flush), each timed; prints
# "lat <seconds> ..." and "ts <partition> <offset> <unix seconds>" lines
my $producer = "$tmp/producer.py";
open my $fh, '>', $producer or die;
print $fh <<'PY';
import sys, time, confluent_kafka as ck
boot, topic, client, n, expect = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
def producer():
    return ck.Producer({'bootstrap.servers': boot, 'acks': 'all', 'client.id': client,
                        'linger.ms': 0, 'retries': 0, 'enable.idempotence': False})
p = producer()
p.list_topics(topic, timeout=10)  # connected before the first timed produce
lat = []
for i in range(n):
    if expect != 'ok' and i > 0:
        # librdkafka refuses to send more to a topic it was denied
        p = producer()
        p.list_topics(topic, timeout=10)
    res = []
    t0 = time.monotonic()
    p.produce(topic, value=b'v%d' % i, partition=i % 2 if topic == 'slo_orders' else 0,
              on_delivery=lambda e, m: res.append((e, m)))
    p.flush(10)
    lat.append(time.monotonic() - t0)
    e, m = res[0]
    if expect == 'ok':
        assert e is None, e
        print('ts %d %d %.6f' % (m.partition(), m.offset(), m.timestamp()[1] / 1000.0))
    else:
        assert e is not None and e.code() == ck.KafkaError.TOPIC_AUTHORIZATION_FAILED, e
    if topic == 'slo_orders' and i % 2 == 1:
        # offsets 0 and 5 of partition 0 more than a second apart
        time.sleep(1.2 if i == 5 else 0.05)
print('lat ' + ' '.join('%.6f' % x for x in lat))
PY
close $fh;

sub produce
{
	my ($topic, $client, $n, $expect) = @_;
	my ($out, $err);
	my $ok = IPC::Run::run([ $python, $producer, $boot, $topic, $client, $n, $expect ],
		'>', \$out, '2>', \$err);
	note($err) if $err;
	ok($ok, "$client produced $n records to $topic ($expect)");
	my (@lat, %ts);
	for (split /\n/, $out)
	{
		@lat = split / /, $1 if /^lat (.*)/;
		$ts{"$1/$2"} = $3 if /^ts (\d+) (\d+) ([\d.]+)/;
	}
	return (\@lat, \%ts);
}

my ($lat, $ts) = produce('slo_orders', 'slo-good', $N, 'ok');
is(scalar @$lat, $N, "the client timed its $N produces");

my $row = sql(q{SELECT produce_results, produce_latency_buckets, produce_latency_sum_us
                  FROM nagare.client_usage WHERE client_id = 'slo-good'});
my ($results, $buckets, $sum_us) = split /\|/, $row;
is($results, qq({"NONE": $N}), "client_usage: $N partition results NONE");
$buckets =~ s/[{}]//g;
my @b = split /,/, $buckets;
my @bounds = split /,/, (sql('SELECT nagare.produce_latency_bounds_us()') =~ s/[{}]//gr);
is(scalar @b, scalar @bounds + 1, 'a count per bound and one for +Inf');
my $count = 0;
$count += $_ for @b;
is($count, $N, "the latency histogram counts $N produces");

# the broker's latency is a part of the client's round trip
my $overhead = 0.05;	# the client's own time around a request (2 shared CPUs)
my ($cum, $under_ok, $over_ok) = (0, 1, 1);
for my $i (0 .. $#bounds)
{
	$cum += $b[$i];
	my $bound = $bounds[$i] / 1e6;
	my $client_under = grep { $_ <= $bound } @$lat;
	my $client_loose = grep { $_ <= 2.5 * $bound + $overhead } @$lat;
	if ($cum < $client_under)
	{
		$under_ok = 0;
		diag("bound $bound s: $cum broker latencies under it, $client_under client latencies");
	}
	if ($cum > $client_loose)
	{
		$over_ok = 0;
		diag("bound $bound s: $cum broker latencies under it, only $client_loose client latencies under 2.5x + overhead");
	}
}
ok($under_ok, 'at each bound the broker saw at least as many produces under it as the client');
ok($over_ok, 'and at most as many as the client saw under 2.5 times it plus its overhead');
my $client_sum = 0;
$client_sum += $_ for @$lat;
ok($sum_us > 0 && $sum_us / 1e6 <= $client_sum,
	sprintf('the latencies sum to %.1f ms at the broker, %.1f ms at the client', $sum_us / 1e3, $client_sum * 1e3));

my $metrics = `curl -s http://127.0.0.1:$hport/metrics`;
{
	like($metrics, qr/^nagare_produce_latency_seconds_count\{[^}]*client_id="slo-good"\} $N$/m,
		'/metrics: the histogram\'s count');
	like($metrics, qr/^nagare_produce_results_total\{[^}]*client_id="slo-good",error="NONE",code="0"\} $N$/m,
		'/metrics: the results by error code');
}
SKIP:
{
	skip 'promtool is not installed', 1 if system('promtool --version >/dev/null 2>&1') != 0;
	open my $mf, '>', "$tmp/scrape.txt" or die;
	print $mf $metrics;
	close $mf;
	my $lint = `promtool check metrics < $tmp/scrape.txt 2>&1`;
	is($? >> 8, 0, 'promtool check metrics passes on the scrape with the histogram') or diag($lint);
}

# the budget before the failure: nothing bad
is(sql('SELECT nagare.flush_sli() > 0'), 't', 'flush_sli() writes rows');
is(sql(q{SELECT sum(produce_good) || ' ' || sum(produce_total) || ' '
                  || (array_agg(instances_passing || '/' || instances_total ORDER BY minute DESC))[1]
           FROM nagare.service_sli_minute WHERE service = 'orders'}),
	"$N $N 1/1", "the minute row: $N good of $N, the instance passing");
is(sql(q{SELECT error_budget_remaining FROM nagare.slo_status WHERE service = 'orders' AND name = 'avail'}),
	'1', 'the whole budget remains');

# the injected failure: K produces denied by the ACLs
produce('slo_secret', 'slo-bad', $K, 'denied');
is(sql(q{SELECT produce_results FROM nagare.client_usage WHERE client_id = 'slo-bad'}),
	qq({"TOPIC_AUTHORIZATION_FAILED": $K}), "$K results TOPIC_AUTHORIZATION_FAILED, one per partition");
sql('SELECT nagare.flush_sli()');
my $total = $N + $K;
is(sql(q{SELECT sum(produce_good) || ' ' || sum(produce_total)
           FROM nagare.service_sli_minute WHERE service = 'orders'}),
	"$N $total", "the minute rows: $N good of $total");
# by hand: budget 0.1 * total events, K of them spent
my $budget = 0.1 * $total;
my ($g, $t, $rem_events, $rem, $burn5m) = split /\|/, sql(q{
	SELECT good_events, total_events, error_budget_remaining_events, error_budget_remaining, burn_rate_5m
	  FROM nagare.slo_status WHERE service = 'orders' AND name = 'avail'});
is("$g $t", "$N $total", 'slo_status: the events over the window');
ok(abs($rem_events - ($budget - $K)) < 1e-9, "budget remaining in events: $rem_events = 0.1 * $total - $K");
ok(abs($rem - (1 - $K / $budget)) < 1e-9, "budget remaining: $rem = 1 - $K / (0.1 * $total)");
ok(abs($burn5m - ($K / $total) / 0.1) < 1e-9 && $burn5m > 0, "burn rate over 5 minutes: $burn5m");

# consumer lag: commit offset 5 on partition 0, all of partition 1; a
# member of the group stays connected meanwhile
my $consumer = "$tmp/consumer.py";
open $fh, '>', $consumer or die;
print $fh <<'PY';
import sys, os, time, confluent_kafka as ck
boot, stop = sys.argv[1], sys.argv[2]
c = ck.Consumer({'bootstrap.servers': boot, 'group.id': 'slo-group', 'client.id': 'slo-consumer',
                 'enable.auto.commit': False, 'auto.offset.reset': 'latest'})
c.subscribe(['slo_orders'])
end = time.time() + 40
while time.time() < end and not os.path.exists(stop):
    c.poll(0.2)
    if c.assignment():
        c.commit(offsets=[ck.TopicPartition('slo_orders', 0, 5), ck.TopicPartition('slo_orders', 1, %d)], asynchronous=False)
        print('committed', flush=True)
        break
while time.time() < end and not os.path.exists(stop):
    c.poll(0.2)
c.close()
PY
close $fh;
my $half = $N / 2;
system("sed -i 's/%d/$half/' $consumer");
my ($cout, $cerr) = ('', '');
my $h = IPC::Run::start([ $python, $consumer, $boot, "$tmp/stop" ], '>', \$cout, '2>', \$cerr);
ok(wait_until(sub { $h->pump_nb; $cout =~ /committed/ }, 30), 'a member of the group committed')
  or diag($cerr);
my $now = time;
my ($lag0, $lagtime0, $lag1, $svc) = split /\|/, sql(q{
	SELECT string_agg(lag::text, '|' ORDER BY "partition") || '|' || string_agg(lag_seconds::text, '|' ORDER BY "partition")
	  FROM nagare.consumer_lag WHERE group_id = 'slo-group'}) =~ s/^(\d+)\|(\d+)\|([\d.e-]+)\|([\d.e-]+)$/$1|$3|$2|$4/r;
is($lag0, $half - 5, 'lag in records of partition 0: its records past offset 5');
is($lag1, 0, 'partition 1: nothing left');
my $age = $now - $ts->{'0/5'};
ok(abs($lagtime0 - $age) < 0.6, sprintf('lag in time of partition 0: %.2f s, the client stamped offset 5 %.2f s ago', $lagtime0, $age));
is(sql(q{SELECT service || ' ' || lag || ' ' || partitions FROM nagare.consumer_group_lag WHERE group_id = 'slo-group'}),
	'orders ' . ($half - 5) . ' 2', 'the group is the service\'s while its member is connected; its total lag');
sql('SELECT nagare.flush_sli()');
ok(sql(q{SELECT lag_seconds FROM nagare.service_sli_minute WHERE service = 'orders' ORDER BY minute DESC LIMIT 1}) >= $lagtime0 - 1,
	'the minute row has the service\'s lag');
open $fh, '>', "$tmp/stop"; close $fh;
$h->finish;

# the worker's own flush, every nagare.sli_flush_interval
produce('slo_orders', 'slo-good', 2, 'ok');
$node->append_conf('postgresql.conf', "nagare.sli_flush_interval = '2s'\n");
$node->reload;
ok(wait_until(sub {
	sql(q{SELECT sum(produce_total) FROM nagare.service_sli_minute WHERE service = 'orders'}) == $total + 2 }, 15),
	'the nagare worker flushed the next produces');

$node->stop;
done_testing();
