# The registry's live instances (docs/registry.md, "Instances and health"):
# TTL checks with Consul's semantics, kept in shared memory and written to
# nagare.service_instance only when a status changes.
#
#   - a 2 s TTL lapses to critical ("TTL expired", written to the table), a
#     pass revives it;
#   - an instance critical for longer than deregister_critical_after is
#     deregistered by the nagare worker (row gone, an audit row, a log line);
#   - 1,000 heartbeats write nothing (n_tup_upd and the rows' xmin unchanged);
#     status changes are written, those of one sweep in one transaction;
#   - a restart rebuilds the shared table from the table (persisted status,
#     fresh TTL), and so does kill -9 of the nagare worker: nothing
#     registered is lost.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = nagare_node('instances');
my $q = sub { $node->safe_psql('postgres', $_[0]) };

$q->("SELECT nagare.register_service('web')");
$q->(
	"SELECT nagare.register_instance('web', 'w-ttl', address => '192.0.2.1', port => 80, ttl => '2s', status => 'passing')"
);
my $t0 = time;

# TTL 2 s: passing until it lapses, then critical, in the view and the table
is($q->("SELECT status FROM nagare.instances WHERE id = 'w-ttl'"),
	'passing', 'registered passing');
ok( wait_until(
		sub {
			$q->("SELECT status FROM nagare.instances WHERE id = 'w-ttl'") eq
			  'critical';
		},
		10),
	'the TTL lapses to critical');
my $lapsed = time - $t0;
ok($lapsed >= 1.9 && $lapsed < 4.5,
	sprintf('critical %.1f s after the last beat (TTL 2 s, sweep each second)', $lapsed));
is($q->("SELECT output FROM nagare.instances WHERE id = 'w-ttl'"),
	'TTL expired', 'output says why');
ok( wait_until(
		sub {
			$q->("SELECT status || '/' || output FROM nagare.service_instance WHERE id = 'w-ttl'")
			  eq 'critical/TTL expired';
		},
		5),
	'the lapse is written to the table');

# a pass revives it, and that is written too
is($q->("SELECT nagare.pass_instance('w-ttl', 'back')"), 'critical', 'pass returns the status before');
is($q->("SELECT status || '/' || output FROM nagare.instances WHERE id = 'w-ttl'"),
	'passing/back', 'a pass revives it at once');
ok( wait_until(
		sub {
			$q->("SELECT status FROM nagare.service_instance WHERE id = 'w-ttl'") eq 'passing';
		},
		5),
	'the revival is written to the table');

# deregister_critical_after: critical at 2 s, gone 3 s later
my $logpos = -s $node->logfile;
$q->(
	"SELECT nagare.register_instance('web', 'w-dereg', address => '192.0.2.2', port => 80, ttl => '2s', deregister_critical_after => '3s', status => 'passing')"
);
$t0 = time;
ok( wait_until(
		sub {
			$q->("SELECT count(*) FROM nagare.service_instance WHERE id = 'w-dereg'") eq '0';
		},
		15),
	'critical for longer than deregister_critical_after: deregistered');
my $gone = time - $t0;
ok($gone >= 4.9 && $gone < 8, sprintf('deregistered %.1f s after the last beat (2 s + 3 s)', $gone));
is($q->("SELECT count(*) FROM nagare._instances_live() WHERE id = 'w-dereg'"),
	'0', 'and gone from shared memory');
is( $q->(
		"SELECT operation || ' ' || object_name FROM nagare.audit_log WHERE object_type = 'SERVICE_INSTANCE' ORDER BY id DESC LIMIT 1"
	),
	'deregister_instance web/w-dereg',
	'the deregistration is an audit row');
like(log_since($node, $logpos),
	qr/nagare worker: deregistered instance "w-dereg" of service "web": critical for longer than 00:00:03/,
	'and a log line');

# 1,000 heartbeats write nothing
$q->(
	"SELECT nagare.register_instance('web', 'hb' || i, address => '192.0.2.' || (10 + i), port => 80, ttl => '60s', status => 'passing') FROM generate_series(1, 10) i"
);
my $stats = sub {
	$q->(
		"SELECT n_tup_ins || '/' || n_tup_upd || '/' || n_tup_del FROM pg_stat_user_tables WHERE relid = 'nagare.service_instance'::regclass"
	);
};
my $xmins = sub {
	$q->("SELECT string_agg(xmin::text, ',' ORDER BY id) FROM nagare.service_instance WHERE id LIKE 'hb%'");
};
# quiet first: every status written (w-ttl's pass) and counted
my $before = $stats->();
my $quiet = 0;
for (1 .. 10)
{
	usleep(1_500_000);
	my $now = $stats->();
	$quiet = 1, last if $now eq $before;
	$before = $now;
}
ok($quiet, 'the table is quiet');
my $xmin_before = $xmins->();
my $script = join('', map { "SELECT nagare.pass_instance('hb" . (1 + $_ % 10) . "');\n" } 0 .. 999);
my ($ret, $out, $err) = $node->psql('postgres', $script);
is($ret, 0, '1,000 heartbeats') or diag($err);
is(scalar(() = $out =~ /^passing$/mg), 1000, 'each answered');
usleep(2_500_000);    # two sweeps
is($stats->(), $before, '1,000 heartbeats: no table write (n_tup_ins/upd/del unchanged)');
is($xmins->(), $xmin_before, 'the rows are the same versions');

# a status change is written, those of a sweep in one transaction
$q->("SELECT nagare.fail_instance('hb' || i, 'down') FROM generate_series(1, 5) i");
ok( wait_until(
		sub {
			$q->("SELECT count(*) FROM nagare.service_instance WHERE id LIKE 'hb%' AND status = 'critical'") eq '5';
		},
		5),
	'five transitions written');
is( $q->(
		"SELECT count(DISTINCT xmin::text) FROM nagare.service_instance WHERE id LIKE 'hb%' AND status = 'critical'"
	),
	'1',
	'in one transaction');
ok( wait_until(
		sub {
			my ($i, $u, $d) = split m{/}, $stats->();
			my ($i0, $u0, $d0) = split m{/}, $before;
			return $u - $u0 == 5;
		},
		5),
	'five updates counted, no more');

# a restart rebuilds the shared table: persisted status, fresh TTL
$node->restart;
wait_broker_ready($node);
ok( wait_until(
		sub { $q->("SELECT count(*) FROM nagare.instances WHERE id LIKE 'hb%' AND live") eq '10' },
		10),
	'the nagare worker loads the shared table after a restart');
is( $q->(
		"SELECT string_agg(id || ':' || status, ',' ORDER BY id) FROM nagare.instances WHERE id LIKE 'hb%' AND live"
	),
	'hb1:critical,hb10:passing,hb2:critical,hb3:critical,hb4:critical,hb5:critical,hb6:passing,hb7:passing,hb8:passing,hb9:passing',
	'after a restart every instance is live with its persisted status');
ok($q->("SELECT ttl_remaining > 50 FROM nagare.instances WHERE id = 'hb7'") eq 't',
	'with a fresh TTL');
is($q->("SELECT nagare.pass_instance('hb1')"), 'critical', 'and takes heartbeats');

# kill -9 of the nagare worker: the server restarts, nothing registered is lost
$q->(
	"SELECT nagare.register_instance('web', 'k' || i, address => '2001:db8::' || i, port => 443, ttl => '60s') FROM generate_series(1, 50) i"
);
my $worker = $q->("SELECT pid FROM pg_stat_activity WHERE application_name = 'nagare worker'");
ok($worker =~ /^\d+$/, "nagare worker pid $worker");
my $killpos = -s $node->logfile;
kill 'KILL', $worker;
ok( wait_until(
		sub {
			log_since($node, $killpos) =~ /all server processes terminated; reinitializing/;
		},
		30),
	'the server restarts after the crash');
ok( wait_until(
		sub {
			my ($r, $o) = $node->psql('postgres',
				"SELECT pid FROM pg_stat_activity WHERE application_name = 'nagare worker'");
			return $r == 0 && $o =~ /^\d+$/ && $o ne $worker;
		},
		60),
	'a new nagare worker runs');
ok( wait_until(
		sub {
			my ($r, $o) = $node->psql('postgres',
				"SELECT count(*) FROM nagare.instances WHERE id ~ '^k[0-9]+\$' AND live");
			return $r == 0 && $o eq '50';
		},
		60),
	'after kill -9 of the nagare worker all 50 registered instances are live again');
is($q->("SELECT count(*) FROM nagare.service_instance"), '61', 'and every row is there');
is($q->("SELECT nagare.pass_instance('k50')"), 'critical', 'heartbeats work');

done_testing();
