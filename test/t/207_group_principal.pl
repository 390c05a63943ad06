# A consumer group's members carry the principal they joined as, and a
# group's service is its members' by principal (issue 16), with real
# clients (confluent-kafka-python, librdkafka) logged in over SASL/SCRAM:
#
#   - alice (service billing) and bob (service shipping) each consume in a
#     group of their own, under the same client.id from the same host (what
#     the old guess by client id and host in nagare.connections could not
#     tell apart); nagare.group_members shows each member's principal and
#     nagare.consumer_group_lag each group's service and exact lag;
#   - a member of bob's joining alice's group makes its service NULL
#     (members of two services); its lag goes to no service's SLI row;
#   - once the members left, each group keeps the service of who last
#     committed its offsets, and nagare.flush_sli() writes each service's lag;
#   - /metrics has nagare_consumer_group_lag_records per group and topic,
#     equal to the SQL view's lag.
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
plan skip_all => 'confluent-kafka-python is not installed'
  if system("$python -c 'import confluent_kafka' 2>/dev/null") != 0;

my $hport = PostgreSQL::Test::Cluster::get_free_port();
my ($node, $kport) = kafka_node('grpprincipal', protocol => 'SASL_PLAINTEXT', conf => qq{
password_encryption = 'scram-sha-256'
nagare.auto_create_topics = off
nagare.group_initial_rebalance_delay = 0
nagare.http_listen_addresses = '127.0.0.1'
nagare.http_port = $hport
});
my $boot = "127.0.0.1:$kport";
my $tmp = PostgreSQL::Test::Utils::tempdir();
sub sql { return $node->safe_psql('postgres', $_[0]) }

sql(q{
CREATE ROLE alice LOGIN PASSWORD 'alice-secret-1';
CREATE ROLE bob LOGIN PASSWORD 'bob-secret-123';
CREATE ROLE scraper LOGIN PASSWORD 'scraper-secret-1';
SELECT nagare.create_acl(t, '*', 'User:' || u, 'ALL')
  FROM unnest(ARRAY['TOPIC', 'GROUP']) t, unnest(ARRAY['alice', 'bob']) u;
SELECT nagare.create_acl('CLUSTER', 'kafka-cluster', 'User:scraper', 'DESCRIBE');
SELECT nagare.create_topic('gp_orders', 1);
SELECT nagare.send('gp_orders', NULL::text, 'v' || i) FROM generate_series(1, 10) i;
SELECT nagare.register_service('billing');
SELECT nagare.set_service_identity('billing', 'User:alice', '*');
SELECT nagare.register_service('shipping');
SELECT nagare.set_service_identity('shipping', 'User:bob', '*');
});

# A consumer: joins its group, commits the offset given (none if -1),
# says so, and stays a member until the stop file appears
my $consumer = "$tmp/consumer.py";
open my $fh, '>', $consumer or die;
print $fh <<'PY';
import sys, os, time, confluent_kafka as ck
boot, user, password, group, offset, stop = sys.argv[1:7]
c = ck.Consumer({'bootstrap.servers': boot, 'group.id': group, 'client.id': 'app',
                 'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanisms': 'SCRAM-SHA-256',
                 'sasl.username': user, 'sasl.password': password,
                 'enable.auto.commit': False, 'auto.offset.reset': 'latest'})
assigned = []
c.subscribe(['gp_orders'], on_assign=lambda cons, parts: assigned.append(len(parts)))
end = time.time() + 40
while time.time() < end and not os.path.exists(stop):
    c.poll(0.2)
    if assigned:  # a member of a generation, with partitions or none
        if int(offset) >= 0:
            c.commit(offsets=[ck.TopicPartition('gp_orders', 0, int(offset))], asynchronous=False)
        print('joined', flush=True)
        break
while time.time() < end and not os.path.exists(stop):
    c.poll(0.2)
c.close()
PY
close $fh;

my @running;
sub consume
{
	my ($user, $password, $group, $offset) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ $python, $consumer, $boot, $user, $password, $group, $offset, "$tmp/stop" ],
		'>', \$out, '2>', \$err);
	push @running, $h;
	ok(wait_until(sub { $h->pump_nb; $out =~ /joined/ }, 30), "$user joined $group (commit $offset)")
	  or diag($err);
}

consume('alice', 'alice-secret-1', 'gp-alice', 3);
consume('bob', 'bob-secret-123', 'gp-bob', 6);

is(sql(q{SELECT string_agg(group_id || ' ' || principal || ' ' || client_id, ', ' ORDER BY group_id)
           FROM nagare.group_members WHERE group_id LIKE 'gp-%'}),
	'gp-alice User:alice app, gp-bob User:bob app',
	'nagare.group_members: each member\'s principal, one client id');
is(sql(q{SELECT string_agg(group_id || ' ' || coalesce(service, '-') || ' ' || lag, ', ' ORDER BY group_id)
           FROM nagare.consumer_group_lag WHERE group_id LIKE 'gp-%'}),
	'gp-alice billing 7, gp-bob shipping 4',
	'each group is its members\' principal\'s service; its lag');

# lag in /metrics (the broker publishes it on its timer), as in SQL
sub metric_lag
{
	my ($group) = @_;
	my $m = `curl -s --max-time 10 -u scraper:scraper-secret-1 http://127.0.0.1:$hport/metrics`;
	return $m =~ /^nagare_consumer_group_lag_records\{group="\Q$group\E",topic="gp_orders"\} (\d+)$/m ? $1 : undef;
}
for my $g ('gp-alice', 'gp-bob')
{
	my $want = sql(qq{SELECT lag FROM nagare.consumer_group_lag WHERE group_id = '$g'});
	my $got;
	ok(wait_until(sub { $got = metric_lag($g); defined $got && $got == $want }, 10),
		"/metrics: $g lags $want records, as nagare.consumer_group_lag says")
	  or diag('metric: ' . ($got // 'none'));
}
sql(q{SELECT nagare.send('gp_orders', NULL::text, 'more')});
ok(wait_until(sub { (metric_lag('gp-alice') // -1) == 8 }, 10), '/metrics: one more record, one more of lag');

# a member of another service in alice's group: the group is no one's
consume('bob', 'bob-secret-123', 'gp-alice', -1);
ok(wait_until(sub { sql(q{SELECT count(*) FROM nagare.group_members WHERE group_id = 'gp-alice'}) == 2 }, 20),
	'bob\'s member joined alice\'s group');
is(sql(q{SELECT coalesce(service, 'NULL') FROM nagare.consumer_group_lag WHERE group_id = 'gp-alice'}),
	'NULL', 'members of two services: the group\'s service is NULL');

# the members leave: each group keeps its last committer's service
open $fh, '>', "$tmp/stop"; close $fh;
$_->finish for @running;
ok(wait_until(sub { sql(q{SELECT count(*) FROM nagare.group_members WHERE group_id LIKE 'gp-%'}) == 0 }, 20),
	'the members left');
is(sql(q{SELECT string_agg(group_id || ' ' || coalesce(service, '-'), ', ' ORDER BY group_id)
           FROM nagare.consumer_group_lag WHERE group_id LIKE 'gp-%'}),
	'gp-alice billing, gp-bob shipping',
	'with no live member, a group is the service of who last committed its offsets');
sql('SELECT nagare.flush_sli()');
is(sql(q{SELECT string_agg(service, ',' ORDER BY service) FROM nagare.service_sli_minute
          WHERE lag_seconds IS NOT NULL}),
	'billing,shipping', 'flush_sli(): each service\'s lag row');

$node->stop;
done_testing();
