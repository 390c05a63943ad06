# The publish() and table topic SLI: each transaction's latency from its
# commit to its records' being consumable, counted by the ingest worker for
# the SQL client that committed it (docs/registry.md, "SLIs and SLOs"):
#
#   - N transactions of publish() by a role with an application_name that
#     is a service's identity count N latencies in that client's row of
#     nagare.client_usage and, after nagare.flush_sli(), in the service's
#     minute row; one of them published first in a subtransaction that
#     rolled back, so its origin rides on its second message;
#   - each latency is at most what the test itself saw from its COMMIT to
#     the records' being readable with consume() plus the time the test
#     took around it, and the sum is above zero;
#   - M transactions that changed a table topic's table count for the
#     table's owner (User:<owner>, empty client id), whose service is
#     declared with source 'sql';
#   - /metrics has the client's nagare_publish_latency_seconds histogram;
#   - an SLO on publish_latency sees every transaction as good with a
#     generous threshold, and none with the smallest bound.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = nagare_node('pubsli');
sub sql { return $node->safe_psql('postgres', $_[0]) }

ok(wait_until(sub { sql('SELECT count(*) FROM nagare.ingest') eq '1' }),
	'the ingest worker has its replication slot');

my $N = 12;
my $M = 5;
sql(q{
CREATE ROLE sli_mailer LOGIN;
CREATE ROLE sli_owner LOGIN;
SELECT nagare.create_topic('sli_mail', 2);
CREATE TABLE sli_orders (id integer PRIMARY KEY, state text);
ALTER TABLE sli_orders OWNER TO sli_owner;
SELECT nagare.create_table_topic('sli_orders', 'sli_orders_cdc', partitions => 1, snapshot => false);
SELECT nagare.create_acl('TOPIC', 'sli_mail', 'User:sli_mailer', 'WRITE');
GRANT INSERT, UPDATE ON sli_orders TO sli_mailer;
SELECT nagare.register_service('mailer');
SELECT nagare.set_service_identity('mailer', 'User:sli_mailer', 'mailer-sql', 'sql');
SELECT nagare.register_service('orders');
SELECT nagare.set_service_identity('orders', 'User:sli_owner', '*', 'sql');
SELECT nagare.set_service_slo('mailer', 'fresh', 'publish_latency', 0.9, 10000, '1 day');
SELECT nagare.set_service_slo('mailer', 'instant', 'publish_latency', 0.9, 0.05, '1 day');
});

# N transactions of two publish() each, as sli_mailer with
# application_name mailer-sql; the first one's first message rolls back
# with its savepoint.  Times each from COMMIT to readable.
my $worst = 0;
for my $i (1 .. $N)
{
	my $body = $i == 1
	  ? "SAVEPOINT a; SELECT nagare.publish('sli_mail', 'k', 'gone'); ROLLBACK TO a;"
	  : '';
	my $t0 = time;
	$node->safe_psql('postgres', qq{
SET application_name = 'mailer-sql';
SET ROLE sli_mailer;
BEGIN;
$body
SELECT nagare.publish('sli_mail', 'k$i', 'one $i');
SELECT nagare.publish('sli_mail', 'k$i', 'two $i');
COMMIT;
});
	my $t1 = time;
	ok(wait_until(sub {
		sql(qq{SELECT count(*) FROM nagare.consume('sli_mail', 0, 0, 1000)
		        WHERE convert_from(value, 'UTF8') = 'two $i'}) +
		sql(qq{SELECT count(*) FROM nagare.consume('sli_mail', 1, 0, 1000)
		        WHERE convert_from(value, 'UTF8') = 'two $i'}) == 1
	}), "transaction $i is consumable") or last;
	my $seen = time - $t0;
	$worst = $seen if $seen > $worst;
}

# M transactions that change the table topic's table, as sli_mailer: they
# are the table owner's
for my $i (1 .. $M)
{
	sql(qq{SET ROLE sli_mailer; INSERT INTO sli_orders VALUES ($i, 'new')});
}
ok(wait_until(sub {
	sql(q{SELECT count(*) FROM nagare.consume('sli_orders_cdc', 0, 0, 1000)}) == $M
}), 'the table changes are consumable');
# the ingest worker counts after its durable wait: give it the pass
ok(wait_until(sub {
	sql(q{SELECT coalesce(sum(x), 0) FROM nagare.client_usage u, unnest(u.publish_latency_buckets) x
	       WHERE u.source = 'sql' AND u.principal = 'User:sli_owner'}) == $M
}), "the table owner's client row counts $M transactions");

my ($count, $sum) = split /\|/, sql(q{
SELECT sum(x), min(u.publish_latency_sum_us) FROM nagare.client_usage u, unnest(u.publish_latency_buckets) x
 WHERE u.source = 'sql' AND u.principal = 'User:sli_mailer' AND u.client_id = 'mailer-sql'});
is($count, $N, "the publishing client's row counts each of its $N transactions once");
cmp_ok($sum, '>', 0, 'their latencies add up to more than nothing');
cmp_ok($sum / $N, '<=', $worst * 1e6,
	"the mean latency (@{[ int($sum / $N) ]} µs) is at most the slowest commit-to-readable the test saw (@{[ int($worst * 1e6) ]} µs)");
is(sql(q{SELECT count(*) FROM nagare.client_usage u, unnest(u.publish_latency_buckets) x
          WHERE u.principal = '' AND x > 0}), '0', 'no transaction went unattributed');

# /metrics has the client's histogram
my $port = $node->safe_psql('postgres', 'SHOW nagare.http_port');
my $scrape = `curl -s --max-time 10 http://127.0.0.1:$port/metrics`;
like($scrape, qr/^nagare_publish_latency_seconds_count\{[^}]*principal="User:sli_mailer",client_id="mailer-sql"[^}]*\} $N$/m,
	'/metrics: the histogram of the publishing client counts its transactions');
like($scrape, qr/^nagare_ingest_lag_bytes \d+$/m, '/metrics: the ingest lag in bytes');

# the ingest worker's slot does not count as a connection of the client
is(sql(q{SELECT connections_total FROM nagare.client_usage
          WHERE source = 'sql' AND principal = 'User:sli_owner'}), '0',
	"counting for the table owner is no connection of the owner's");

sql('SELECT nagare.flush_sli()');
is(sql(q{SELECT (SELECT sum(x) FROM unnest(publish_latency_buckets) x) FROM nagare.service_sli_minute
          WHERE service = 'mailer'}), $N, "the mailer service's minute has $N transactions");
is(sql(q{SELECT (SELECT sum(x) FROM unnest(publish_latency_buckets) x) FROM nagare.service_sli_minute
          WHERE service = 'orders'}), $M, "the orders service's minute (its table's changes) has $M");
is(sql(q{SELECT name || ':' || good_events || '/' || total_events FROM nagare.slo_status
          WHERE service = 'mailer' ORDER BY name}), "fresh:$N/$N\ninstant:0/$N",
	'publish_latency SLOs: all within 10 s, none within 50 µs');
# a second flush with nothing new adds nothing
sql('SELECT nagare.flush_sli()');
is(sql(q{SELECT sum((SELECT sum(x) FROM unnest(publish_latency_buckets) x)) FROM nagare.service_sli_minute
          WHERE service = 'mailer'}), $N, 'a flush with nothing new adds nothing');

done_testing();
