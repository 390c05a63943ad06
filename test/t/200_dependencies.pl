# The dependency graph, observed: three toy services with real Kafka
# clients (kcat, librdkafka), each its own SCRAM principal on a SASL
# listener -- orders produces "orders"; billing consumes "orders" in group
# billing and produces "invoices"; mailer consumes "invoices" in group
# mailer and publish()es "notifications" from SQL -- plus a client of no
# service (another tenant's role, assign mode: no group) and a table topic.
# The graph shows what they did within a flush interval; an edge goes
# quiet when its traffic stops; undeclared and unobserved edges are
# reported; depends_on(mailer) reaches orders; the DOT output renders with
# Graphviz; a tenant's role sees its tenant's edges and not another's; the
# counts carry on across a restart.  (The SQL-only parts: sql/dependencies.sql.)
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

plan skip_all => 'kcat is not installed' if system('kcat -V >/dev/null 2>&1') != 0;

my ($node, $port) = kafka_node('deps', protocol => 'SASL_PLAINTEXT',
	conf => "password_encryption = 'scram-sha-256'\n"
	  . "nagare.dependency_flush_interval = '1s'\n");
my $boot = "127.0.0.1:$port";

$node->safe_psql('postgres', q{
CREATE ROLE orders LOGIN PASSWORD 'orders-secret-1';
CREATE ROLE billing LOGIN PASSWORD 'billing-secret-1';
CREATE ROLE mailer LOGIN PASSWORD 'mailer-secret-1';
CREATE ROLE stray LOGIN PASSWORD 'stray-secret-1';
GRANT USAGE ON SCHEMA nagare TO orders, billing, mailer, stray;
SELECT nagare.create_tenant('shop');
SELECT nagare.create_tenant('other');
SELECT nagare.add_tenant_principal('shop', 'orders', admin => true);
SELECT nagare.add_tenant_principal('shop', 'billing');
SELECT nagare.add_tenant_principal('shop', 'mailer');
SELECT nagare.add_tenant_principal('other', 'stray');
SELECT count(*) FROM (
  SELECT nagare.create_acl(t, '*', 'User:' || u, 'ALL')
    FROM unnest(ARRAY['TOPIC', 'GROUP']) t,
         unnest(ARRAY['orders', 'billing', 'mailer', 'stray']) u) a;
SELECT nagare.create_topic('orders', 1), nagare.create_topic('invoices', 1),
       nagare.create_topic('notifications', 1);
SELECT nagare.register_service('orders', tenant => 'shop');
SELECT nagare.register_service('billing', tenant => 'shop');
SELECT nagare.register_service('mailer', tenant => 'shop');
SELECT nagare.set_service_identity('orders', 'User:orders');
SELECT nagare.set_service_identity('orders', 'User:orders', source => 'sql');
SELECT nagare.set_service_identity('billing', 'User:billing');
SELECT nagare.set_service_identity('mailer', 'User:mailer');
SELECT nagare.set_service_identity('mailer', 'User:mailer', source => 'sql');
SELECT nagare.declare_dependency('orders', 'orders', 'produce');
SELECT nagare.declare_dependency('billing', 'orders', 'consume');
SELECT nagare.declare_dependency('billing', 'invoices', 'produce');
SELECT nagare.declare_dependency('mailer', 'invoices', 'consume');
SELECT nagare.declare_dependency('mailer', 'refunds', 'consume');
-- a table topic: its table's owner is a role of orders
CREATE TABLE shop_orders (id int PRIMARY KEY, total numeric);
ALTER TABLE shop_orders OWNER TO orders;
SELECT nagare.create_table_topic('shop_orders', 'order-rows', partitions => 1, snapshot => false);
});
ok(wait_until(sub {
	$node->safe_psql('postgres',
		'SELECT loaded AND acls = (SELECT count(*) FROM nagare.acl) FROM nagare.acl_status') eq 't';
}), 'the ACLs reached the broker');

sub kcat
{
	my ($user, $input, @args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run [ 'kcat', '-b', $boot, '-X', 'security.protocol=SASL_PLAINTEXT',
		'-X', 'sasl.mechanisms=SCRAM-SHA-256', '-X', "sasl.username=$user",
		'-X', "sasl.password=$user-secret-1", '-X', "client.id=$user-svc", @args ],
	  '<', \$input, '>', \$out, '2>', \$err, IPC::Run::timeout(60);
	note("kcat $user: $err") if $err =~ /ERROR|error/;
	return $out;
}

sub produce
{
	my ($user, $topic, @values) = @_;
	kcat($user, join("\n", @values) . "\n", '-P', '-t', $topic);
}

sub consume_group
{
	my ($user, $group, $topic) = @_;
	return kcat($user, '', '-C', '-G', $group, '-e', '-q', '-X', 'auto.offset.reset=earliest', $topic);
}

sub sq { return $node->safe_psql('postgres', $_[0]); }

# what each service does
produce('orders', 'orders', map { "order-$_" } 1 .. 5);
is(scalar(() = consume_group('billing', 'billing', 'orders') =~ /order-/g), 5,
	'billing consumed the 5 orders');
produce('billing', 'invoices', map { "invoice-$_" } 1 .. 3);
is(scalar(() = consume_group('mailer', 'mailer', 'invoices') =~ /invoice-/g), 3,
	'mailer consumed the 3 invoices');
# a client of no service, of another tenant, without a group
like(kcat('stray', '', '-C', '-t', 'orders', '-p', '0', '-o', 'beginning', '-e', '-q'),
	qr/order-5/, 'a stray client read orders');
# mailer publishes from SQL, as its own role
$node->safe_psql('postgres', q{
SET ROLE mailer;
SET application_name = 'mailer-sql';
BEGIN;
SELECT nagare.publish('notifications', NULL, 'mail sent');
COMMIT;
});
my $done = time;

# the graph, within a flush interval (1 s; the wait allows for a slow machine)
my $expected = join("\n",
	'billing|consume|orders|billing|5',
	'billing|produce|invoices||3',
	'mailer|consume|invoices|mailer|3',
	'mailer|publish|notifications||1',
	'orders|produce|orders||5',
	'orders|table|order-rows||',
	'unknown|consume|orders||5');
my $graph_sql = q{SELECT service, kind, topic, group_id, records FROM nagare.dependencies ORDER BY 1, 2, 3};
ok(wait_until(sub { sq($graph_sql) eq $expected }, 10), 'the graph is what the clients did')
  or diag(sq($graph_sql));
my $took = time - $done;
ok($took <= 3, "it appeared within a flush interval (and a margin): ${took}s");
is(sq(q{SELECT string_agg(DISTINCT principal || '/' || client_id, ',' ORDER BY principal || '/' || client_id)
        FROM nagare.observed_dependencies WHERE source = 'kafka'}),
	'User:billing/billing-svc,User:mailer/mailer-svc,User:orders/orders-svc,User:stray/stray-svc',
	'each Kafka client is its principal and client.id');
is(sq(q{SELECT bool_and(records_per_sec > 0 AND bytes > 0 AND NOT quiet) FROM nagare.observed_dependencies}),
	't', 'the edges have rates and bytes, and are not quiet')
  or diag(sq(q{SELECT * FROM nagare.observed_dependencies}));

# declared and observed
is(sq(q{SELECT string_agg(service || ' ' || kind || ' ' || topic, ', ' ORDER BY 1) FROM nagare.undeclared_dependencies}),
	'mailer publish notifications', 'an edge observed but not declared is reported');
is(sq(q{SELECT string_agg(service || ' ' || kind || ' ' || topic, ', ' ORDER BY 1) FROM nagare.unobserved_dependencies}),
	'mailer consume refunds', 'an edge declared but never observed is reported');

# who consumes what orders produces; what mailer depends on
is(sq(q{SELECT string_agg(topic || ' ' || consumer || ' ' || group_id, ', ') FROM nagare.consumers_of('orders')}),
	'orders billing billing, orders unknown ', 'consumers_of(orders)');
is(sq(q{SELECT string_agg(depends_on || ' ' || depth || ' ' || topic || ' ' || array_to_string(path, '>'), ', ') FROM nagare.depends_on('mailer')}),
	'billing 1 invoices mailer>billing, orders 2 orders mailer>billing>orders',
	'depends_on(mailer) reaches orders through billing');

# the exports
my $dot = sq(q{SELECT nagare.dependency_graph_dot()});
like($dot, qr/"service:billing" -> "topic:invoices" \[label="produce\\n[0-9.]+ rec\/s/,
	'DOT: an edge labelled with its rate');
# kept in tmp_check: the docs' picture (docs/images/dependencies.svg) is
# dot -Tsvg of it
my $dotfile = "$PostgreSQL::Test::Utils::tmp_check/dependencies.dot";
open(my $fh, '>', $dotfile) or die;
print $fh $dot;
close($fh);
SKIP:
{
	skip 'Graphviz (dot) is not installed', 2 if system('dot -V >/dev/null 2>&1') != 0;
	my ($svg, $err) = ('', '');
	my $ok = IPC::Run::run [ 'dot', '-Tsvg', $dotfile ], '>', \$svg, '2>', \$err;
	ok($ok && $err eq '', 'dot -Tsvg takes the DOT output') or diag($err);
	like($svg, qr/<svg.*mailer/s, 'the picture names the services');
}
is(sq(q{SELECT jsonb_array_length(g->'edges') || ' ' || jsonb_array_length(g->'nodes') FROM nagare.dependency_graph_json() g}),
	'7 8', 'JSON: 7 edges, 4 services (unknown too) and 4 topics');

# the wall: a tenant's role sees its tenant's edges, not another tenant's
is($node->safe_psql('postgres', q{SET ROLE billing; SELECT string_agg(DISTINCT service, ',') FROM nagare.dependencies}),
	'billing,mailer,orders', 'a role of tenant shop sees shop\'s services and not the stray client');
is($node->safe_psql('postgres', q{SET ROLE stray; SELECT string_agg(service || ' ' || kind || ' ' || topic, ',') FROM nagare.dependencies}),
	'unknown consume orders', 'a role of tenant other sees only its own edge');

# quiet: no traffic for nagare.dependency_quiet_after
sleep(2);
is(sq(q{SET nagare.dependency_quiet_after = '1s'; SELECT string_agg(DISTINCT quiet::text, ',') FROM nagare.dependencies WHERE kind <> 'table'}),
	'true', 'edges without traffic go quiet');
produce('orders', 'orders', 'order-6');
ok(wait_until(sub {
	sq(q{SET nagare.dependency_quiet_after = '1s';
	    SELECT quiet::text || ' ' || records FROM nagare.dependencies WHERE service = 'orders' AND kind = 'produce'}) eq 'false 6'
}, 10), 'new traffic wakes the edge');

# a restart: the table's totals carry on
$node->restart;
wait_broker_ready($node);
is(sq(q{SELECT records FROM nagare.dependencies WHERE service = 'orders' AND kind = 'produce'}), '6',
	'the totals survive a restart');
produce('orders', 'orders', 'order-7', 'order-8');
ok(wait_until(sub {
	sq(q{SELECT records FROM nagare.dependencies WHERE service = 'orders' AND kind = 'produce'}) eq '8'
}, 10), 'and count on after it');

$node->stop;
done_testing();
