# Consul's HTTP API in the "nagare http" process (docs/registry.md,
# "Discovery over HTTP (Consul's API)"), answered from the shared instance
# table:
#
#   - shapes: catalog/services, catalog/service/<name> (?tag=),
#     health/service/<name> (?passing, ?tag= repeated), health/checks,
#     agent/services, agent/checks, agent/self, status/leader; every answer
#     has X-Consul-Index (the service's, or the table's version), X-Consul-KnownLeader and
#     X-Consul-LastContact; meta is ServiceMeta; a meta over the bound is
#     refused at registration;
#   - TTL checks: PUT check/pass|warn|fail/service:<id>?note= and
#     check/update (JSON) change the live status and output; the nagare
#     worker writes the change to nagare.service_instance; an unknown check
#     is 404 with Consul's text;
#   - blocking queries: ?index=N&wait= parks the request until the index
#     moves (woken within a poll of a change) or the wait ends; the index of
#     a service's query is the service's (as Consul's): a change of web
#     answers a parked query of web and of catalog/services, not one of db,
#     and an instance of db added or removed moves db's, not web's; a parked
#     request does not stall others, and requests pipelined behind it wait
#     their turn; past WEB_MAX_PARKED (200) a request is
#     answered at once;
#   - 404, 405 (with Allow), 400 with a clear reason for a bad index, wait,
#     passing, filter, check status or JSON body, 500 for another datacenter;
#   - py-consul 1.6.0 (the venv scripts/deps.sh makes) lists services, reads
#     health with passing and tags, blocks on an index and wakes on a
#     change, and passes, warns and fails a check;
#   - a real Prometheus server (test/prometheus_server, built by
#     scripts/deps.sh) with consul_sd_configs (server, datacenter, services;
#     tags) pointed at nagare: the instances are its targets with Consul's
#     meta labels, relabelled; it scrapes the one that is nagare's /metrics
#     (up); one whose TTL lapsed is discovered as critical and dropped by a
#     keep-passing rule, then gone once deregistered; its blocking queries
#     (one per service and job: 105 with 100 more services) wait in nagare
#     and wake for a new instance registered over HTTP.
#   - while a Kafka listener authenticates, Prometheus's basic_auth logs in
#     (its 21 blocking queries at once, one role), a job without it gets
#     401 and no target.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time usleep);

sub have { system("@_ >/dev/null 2>&1") == 0 }
plan skip_all => 'curl is needed' unless have('curl --version');

my $hport = PostgreSQL::Test::Cluster::get_free_port();
my $node = nagare_node('consul', conf => "nagare.http_port = $hport\n");
my $base = "http://127.0.0.1:$hport";
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $venv = $ENV{NAGARE_CONSUL_VENV} // '/opt/nagare-test/consul-venv';

sub sql { return $node->safe_psql('postgres', $_[0]) }

# curl: (status, headers as a hash of lower-case names, body)
sub http
{
	my ($method, $path, $body) = @_;
	my @cmd = ('curl', '-s', '--max-time', '20', '-X', $method, '-D', "$tmp/h", '-o', "$tmp/b",
		'-w', '%{http_code}');
	push @cmd, '--data-binary', $body if defined $body;
	push @cmd, "$base$path";
	my $code = IPC::Run::run(\@cmd, '>', \my $status);
	my %h;
	for (split /\r\n/, slurp_file("$tmp/h"))
	{
		$h{ lc $1 } = $2 if /^([^:]+):\s*(.*)$/;
	}
	return ($status, \%h, slurp_file("$tmp/b"));
}

sub get_json
{
	my ($path) = @_;
	my ($s, $h, $b) = http('GET', $path);
	my $j = eval { decode_json($b) };
	return ($s, $h, $j, $b);
}

$node->wait_for_log(qr/nagare http: listening on 127\.0\.0\.1:$hport/);

sql(q{SELECT nagare.register_service('web')});
sql(q{SELECT nagare.register_service('db')});
# web-1: no check (always passing), at the http port itself so Prometheus can scrape it
sql(qq{SELECT nagare.register_instance('web', 'web-1', address => '127.0.0.1', port => $hport,
        tags => '{primary,v1}', meta => '{"version": "1.2", "zone": "a"}')});
sql(q{SELECT nagare.register_instance('web', 'web-2', address => '127.0.0.2', port => 8080,
        tags => '{v1}', meta => '{"version": "1.3"}', ttl => '60s')});
sql(q{SELECT nagare.register_instance('db', 'db-1', address => 'db1.example.com', port => 5432,
        ttl => '60s', status => 'passing')});

# the shapes
my ($s, $h, $j, $b) = get_json('/v1/catalog/services');
is($s, 200, 'catalog/services: 200');
is_deeply($j, { web => [ 'primary', 'v1' ], db => [] }, 'catalog/services: each service and its tags once')
  or diag($b);
like($h->{'content-type'}, qr{^application/json}, 'JSON');
like($h->{'x-consul-index'}, qr/^[1-9]\d*$/, 'X-Consul-Index');
is($h->{'x-consul-knownleader'}, 'true', 'X-Consul-KnownLeader: true');
is($h->{'x-consul-lastcontact'}, '0', 'X-Consul-LastContact: 0');
my $index = $h->{'x-consul-index'};

($s, $h, $j) = get_json('/v1/catalog/service/web');
is(scalar @$j, 2, 'catalog/service/web: two instances');
is_deeply([ map { $_->{ServiceID} } @$j ], [ 'web-1', 'web-2' ], 'their ServiceIDs');
is_deeply($j->[0]{ServiceMeta}, { version => '1.2', zone => 'a' }, 'ServiceMeta');
is($j->[0]{ServicePort}, $hport, 'ServicePort');
is($j->[0]{ServiceAddress}, '127.0.0.1', 'ServiceAddress');
is($j->[0]{Datacenter}, 'dc1', 'Datacenter');
($s, $h, $j) = get_json('/v1/catalog/service/web?tag=primary');
is_deeply([ map { $_->{ServiceID} } @$j ], ['web-1'], 'catalog/service ?tag=');
($s, $h, $j, $b) = get_json('/v1/catalog/service/nope');
is("$s $b", '200 []', 'an unknown service: 200 and []');

($s, $h, $j, $b) = get_json('/v1/health/service/web');
is(scalar @$j, 2, 'health/service/web: two entries');
is($j->[0]{Node}{Node}, 'nagare', 'Node');
is($j->[0]{Node}{Address}, '127.0.0.1', 'Node.Address');
is_deeply($j->[0]{Checks}, [], 'an instance without a TTL has no check');
is($j->[1]{Service}{ID}, 'web-2', 'Service.ID');
is_deeply($j->[1]{Service}{Tags}, ['v1'], 'Service.Tags');
is_deeply($j->[1]{Service}{Meta}, { version => '1.3' }, 'Service.Meta');
my $check = $j->[1]{Checks}[0];
is($check->{CheckID}, 'service:web-2', 'the TTL check is service:<id>');
is($check->{Status}, 'critical', 'critical until its first pass');
is($check->{ServiceID}, 'web-2', 'its ServiceID');
is($check->{Name}, "Service 'web' check", 'its Name');
($s, $h, $j) = get_json('/v1/health/service/web?passing');
is_deeply([ map { $_->{Service}{ID} } @$j ], ['web-1'], '?passing leaves out the critical one');
($s, $h, $j) = get_json('/v1/health/service/web?tag=v1&tag=primary');
is_deeply([ map { $_->{Service}{ID} } @$j ], ['web-1'], 'repeated ?tag=: all of them');
($s, $h, $j) = get_json('/v1/health/checks/db');
is_deeply([ map { "$_->{CheckID} $_->{Status}" } @$j ], ['service:db-1 passing'], 'health/checks/db');
($s, $h, $j) = get_json('/v1/agent/services');
is_deeply([ sort keys %$j ], [ 'db-1', 'web-1', 'web-2' ], 'agent/services: by ID');
is($j->{'db-1'}{Address}, 'db1.example.com', 'a DNS name address');
($s, $h, $j) = get_json('/v1/agent/checks');
is_deeply([ sort keys %$j ], [ 'service:db-1', 'service:web-2' ], 'agent/checks: the TTL checks');
($s, $h, $j) = get_json('/v1/agent/self');
is($j->{Config}{Datacenter}, 'dc1', 'agent/self: Config.Datacenter');
is($j->{Config}{NodeName}, 'nagare', 'agent/self: Config.NodeName');
($s, $h, $b) = http('GET', '/v1/status/leader');
is($b, '"127.0.0.1:8300"', 'status/leader');

# TTL checks
($s, $h, $b) = http('PUT', '/v1/agent/check/pass/service:web-2?note=all%20good');
is($s, 200, 'check/pass: 200');
cmp_ok($h->{'x-consul-index'}, '>', $index, 'a status change moves the index');
is(sql(q{SELECT status || ' ' || output FROM nagare.instances WHERE id = 'web-2'}), 'passing all good',
	'nagare.instances has the status and note');
ok(wait_until(sub { sql(q{SELECT status FROM nagare.service_instance WHERE id = 'web-2'}) eq 'passing' }, 10),
	'the nagare worker wrote it to nagare.service_instance');
($s, $h, $b) = http('PUT', '/v1/agent/check/update/service:web-2', '{"status": "warning", "Output": "slow \u00e9"}');
is($s, 200, 'check/update: 200');
($s, $h, $j) = get_json('/v1/health/checks/web');
is("$j->[0]{Status} $j->[0]{Output}", "warning slow \x{e9}", 'check/update set Status and Output (keys in any case)');
($s, $h, $b) = http('PUT', '/v1/agent/check/fail/service:web-2');
is($s, 200, 'a PUT without a body (no Content-Length): 200');
is(sql(q{SELECT status || '/' || coalesce(output, '') FROM nagare.instances WHERE id = 'web-2'}), 'critical/',
	'check/fail without a note: critical, output emptied');
($s, $h, $b) = http('PUT', '/v1/agent/check/pass/service:nope');
is($s, 404, 'an unknown check: 404');
is($b, 'Unknown check ID "service:nope". Ensure that the check ID is passed, not the check name.',
	"with Consul's text");
($s, $h, $b) = http('PUT', '/v1/agent/check/pass/service:web-1');
is($s, 404, 'an instance without a TTL has no check: 404');
($s, $h, $b) = http('PUT', '/v1/agent/check/update/service:web-2', '{"Status": "sleepy"}');
is("$s $b", "400 Invalid check status: 'sleepy' (passing, warning or critical)", 'check/update: a bad status is 400');
($s, $h, $b) = http('PUT', '/v1/agent/check/update/service:web-2', '{"Status": "passing"');
like("$s $b", qr/^400 Request decode failed: /, 'check/update: bad JSON is 400');
($s, $h, $b) = http('PUT', '/v1/agent/check/update/service:web-2', '["passing"]');
like("$s $b", qr/^400 Request decode failed: the body is a JSON object/, 'check/update: not an object is 400');
($s, $h, $b) = http('PUT', '/v1/agent/check/update/service:web-2', '{"Status": 1}');
like("$s $b", qr/^400 Request decode failed/, 'check/update: a number status is 400');

# 404, 405, 400, 500
($s, $h, $b) = http('GET', '/v1/kv/x');
is($s, 404, 'an unknown path: 404');
($s, $h, $b) = http('POST', '/v1/catalog/services', '');
is("$s $h->{allow}", '405 GET, HEAD', 'POST on a read: 405 with Allow');
($s, $h, $b) = http('GET', '/v1/agent/check/pass/service:web-2');
is("$s $h->{allow}", '405 PUT', 'GET on check/pass: 405 with Allow: PUT');
($s, $h, $b) = http('GET', '/v1/health/service/web?index=x1');
like("$s $b", qr/^400 Invalid index/, 'a bad index: 400');
($s, $h, $b) = http('GET', '/v1/health/service/web?index=1&wait=5parsecs');
like("$s $b", qr/^400 Invalid wait time/, 'a bad wait: 400');
($s, $h, $b) = http('GET', '/v1/health/service/web?passing=maybe');
like("$s $b", qr/^400 Invalid value for \?passing/, 'a bad passing: 400');
($s, $h, $b) = http('GET', '/v1/health/service/web?filter=Service.Port%3D%3D1');
like("$s $b", qr/^400 .*filter/, 'a filter expression: 400');
($s, $h, $b) = http('GET', '/v1/health/service/web?tag=%zz');
like("$s $b", qr/^400 Invalid query parameter "tag"/, 'a bad percent-escape: 400');
($s, $h, $b) = http('PUT', '/v1/agent/check/pass/service:web-2?note=%FF');
like("$s $b", qr/^400 Invalid query parameter "note"/, 'a note that is not UTF-8: 400');
($s, $h, $b) = http('PUT', '/v1/agent/check/update/service:web-2', "{\"Status\": \"passing\", \"Output\": \"\xff\"}");
like("$s $b", qr/^400 Request decode failed: the body is not UTF-8/, 'an update body that is not UTF-8: 400');
($s, $h, $b) = http('PUT', '/v1/agent/check/update/service:web-2', '{"Status": "passing", "Output": "a\u0000b"}');
like("$s $b", qr/^400 Request decode failed: .*0000/, 'an update with \\u0000: 400');
($s, $h, $b) = http('GET', '/v1/catalog/services?dc=dc2');
is("$s $b", '500 No path to datacenter', 'another datacenter: 500');
($s, $h, $b) = http('GET', '/v1/catalog/services?dc=dc1&stale&consistent');
is($s, 200, 'dc=dc1, stale and consistent are fine');

# meta is bounded
like(sql_error($node, q{SELECT nagare.register_instance('web', 'web-9', address => '127.0.0.9', port => 1,
        meta => (SELECT jsonb_object_agg('k' || i, repeat('v', 100)) FROM generate_series(1, 10) i))}),
	qr/54000.*more than 1023/s, 'meta over 1023 bytes of JSON text: 54000');

# blocking queries
($s, $h, $j) = get_json('/v1/health/service/web');
$index = $h->{'x-consul-index'};
my $t0 = time;
($s, $h, $j) = get_json("/v1/health/service/web?index=$index&wait=1s");
my $took = time - $t0;
ok($took >= 0.95 && $took < 2.5, sprintf('no change: answered after the wait and its jitter (%.2f s)', $took));
is($h->{'x-consul-index'}, $index, 'with the same index');
{
	# parked on a raw socket; meanwhile others are answered
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $hport) or die;
	print $sock "GET /v1/health/service/web?index=$index&wait=20s HTTP/1.1\r\nHost: x\r\n\r\n";
	usleep(300_000);
	$t0 = time;
	my ($ms) = http('GET', '/metrics');
	my $other = time - $t0;
	ok($ms == 200 && $other < 0.5, sprintf('a parked request does not stall another (%.3f s)', $other));
	$t0 = time;
	http('PUT', '/v1/agent/check/pass/service:web-2');
	my $answer = '';
	$sock->blocking(1);
	local $SIG{ALRM} = sub { die "timeout\n" };
	alarm(10);
	eval {
		while ($answer !~ /\r\n\r\n(.*)/s || length($1) < ($answer =~ /Content-Length: (\d+)/i)[0])
		{
			my $n = sysread($sock, my $chunk, 65536);
			last unless $n;
			$answer .= $chunk;
		}
	};
	alarm(0);
	my $woke = time - $t0;
	like($answer, qr/^HTTP\/1\.1 200/, 'the parked request is answered on a change');
	ok($woke < 1, sprintf('within a poll of the change (%.3f s)', $woke));
	my ($new) = $answer =~ /X-Consul-Index: (\d+)/i;
	cmp_ok($new, '>', $index, 'with the new index');
	close($sock);
}
{
	# per-service indexes, as Consul's: a change of web answers a parked
	# query of web (and of the catalog), not one of db
	my $park = sub {
		my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $hport) or die;
		print $sock "GET $_[0] HTTP/1.1\r\nHost: x\r\n\r\n";
		return $sock;
	};
	# (seconds after $t0 it was answered, its X-Consul-Index, its status)
	my $answer = sub {
		my ($sock) = @_;
		my $all = '';
		$sock->blocking(1);
		local $SIG{ALRM} = sub { die "timeout\n" };
		alarm(15);
		eval {
			while ($all !~ /\r\n\r\n(.*)/s || length($1) < ($all =~ /Content-Length: (\d+)/i)[0])
			{
				my $n = sysread($sock, my $chunk, 65536);
				last unless $n;
				$all .= $chunk;
			}
		};
		alarm(0);
		close($sock);
		my ($ix) = $all =~ /X-Consul-Index: (\d+)/i;
		my ($st) = $all =~ /^HTTP\/1\.1 (\d+)/;
		return (time - $t0, $ix // -1, $st // 0);
	};
	# db-1's 60 s TTL starts again (the same status: no change of db)
	http('PUT', '/v1/agent/check/pass/service:db-1');
	my ($wi, $di, $ci) = map { (http('GET', $_))[1]->{'x-consul-index'} }
	  ('/v1/health/service/web', '/v1/health/service/db', '/v1/catalog/services');
	cmp_ok($di, '<', $wi, "db's index is its own ($di), below web's ($wi), which changed since");
	my ($ci2) = (http('GET', '/v1/catalog/service/db'))[1]->{'x-consul-index'};
	is($ci2, $di, 'catalog/service/db has the same index as health/service/db');
	my $ws = $park->("/v1/health/service/web?index=$wi&wait=10s");
	my $ds = $park->("/v1/health/service/db?index=$di&wait=3s");
	my $dc = $park->("/v1/catalog/service/db?index=$di&wait=3s");
	my $cs = $park->("/v1/catalog/services?index=$ci&wait=10s");
	usleep(300_000);
	$t0 = time;
	http('PUT', '/v1/agent/check/warn/service:web-2');
	my ($wt, $wix) = $answer->($ws);
	ok($wt < 1 && $wix > $wi, sprintf("web's parked query woke on web-2's change (%.3f s, index %s > %s)", $wt, $wix, $wi));
	my ($ct, $cix) = $answer->($cs);
	ok($ct < 1 && $cix > $ci, sprintf('catalog/services (the whole table) woke too (%.3f s)', $ct));
	my ($dt, $dix, $dst) = $answer->($ds);
	ok($dt > 2.4 && $dix == $di && $dst == 200,
		sprintf("db's parked health query did not: answered at its wait's end (%.2f s), same index %s", $dt, $dix));
	($dt, $dix) = $answer->($dc);
	ok($dt > 2.4 && $dix == $di, sprintf("nor db's parked catalog query (%.2f s)", $dt));
	# an instance of db added, then removed: db's index moves both times, web's not
	($wi) = (http('GET', '/v1/health/service/web'))[1]->{'x-consul-index'};
	sql(q{SELECT nagare.register_instance('db', 'db-2', address => '127.0.0.22', port => 5432)});
	my ($d2) = (http('GET', '/v1/health/service/db'))[1]->{'x-consul-index'};
	cmp_ok($d2, '>', $di, "a new instance of db moves db's index");
	$ds = $park->("/v1/health/service/db?index=$d2&wait=10s");
	$ws = $park->("/v1/health/service/web?index=$wi&wait=2s");
	usleep(300_000);
	$t0 = time;
	sql(q{SELECT nagare.deregister_instance('db-2')});
	($dt, $dix) = $answer->($ds);
	ok($dt < 1 && $dix > $d2, sprintf("its removal wakes db's parked query (%.3f s, index %s > %s)", $dt, $dix, $d2));
	($wt, $wix) = $answer->($ws);
	ok($wt > 1.4 && $wix == $wi, sprintf("and not web's (%.2f s, index %s)", $wt, $wix));
}
{
	# a request pipelined behind a parked one waits its turn: answers in order
	($s, $h, $j) = get_json('/v1/catalog/services');
	$index = $h->{'x-consul-index'};
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $hport) or die;
	$t0 = time;
	print $sock "GET /v1/catalog/services?index=$index&wait=1s HTTP/1.1\r\nHost: x\r\n\r\n"
	  . "GET /v1/status/leader HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	my $all = '';
	local $SIG{ALRM} = sub { die "timeout\n" };
	alarm(10);
	eval { while (sysread($sock, my $chunk, 65536)) { $all .= $chunk } };
	alarm(0);
	$took = time - $t0;
	like($all, qr/^HTTP\/1\.1 200 .*\{"db":\[\],"web":\["primary","v1"\]\}HTTP\/1\.1 200 .*"127\.0\.0\.1:8300"$/s,
		'a request pipelined behind a parked one is answered after it, in order');
	ok($took >= 0.95, sprintf('once the parked one was (%.2f s)', $took));
	# a client that goes away while parked: its connection is closed
	$sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $hport) or die;
	print $sock "GET /v1/catalog/services?index=$index&wait=30s HTTP/1.1\r\nHost: x\r\n\r\n";
	usleep(200_000);
	close($sock);
}
{
	# WEB_MAX_PARKED parked: the next is answered at once
	($s, $h, $j) = get_json('/v1/catalog/services');
	$index = $h->{'x-consul-index'};
	my @socks;
	for (1 .. 200)
	{
		my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $hport) or die;
		print $c "GET /v1/catalog/services?index=$index&wait=30s HTTP/1.1\r\nHost: x\r\n\r\n";
		push @socks, $c;
	}
	usleep(500_000);
	$t0 = time;
	($s, $h, $j) = get_json("/v1/catalog/services?index=$index&wait=30s");
	$took = time - $t0;
	ok($s == 200 && $took < 0.5, sprintf('past 200 parked requests the next is answered at once (%.3f s)', $took));
	close($_) for @socks;
}

# py-consul
SKIP:
{
	skip "no py-consul venv at $venv (scripts/deps.sh makes it)", 9 unless -x "$venv/bin/python";
	open(my $fh, '>', "$tmp/client.py") or die;
	print $fh <<'EOP';
import json, sys, threading, time
import consul

c = consul.Consul(host='127.0.0.1', port=int(sys.argv[1]))
out = {}
out['dc'] = c.agent.self()['Config']['Datacenter']
index, services = c.catalog.services()
out['services'] = services
c.agent.check.ttl_pass('service:web-2', 'ok from py-consul')
index, nodes = c.health.service('web', passing=True)
out['passing'] = sorted(n['Service']['ID'] for n in nodes)
index, nodes = c.health.service('web', tag='primary')
out['tagged'] = [n['Service']['ID'] for n in nodes]
# block on the index; another thread warns the check a second later
t = threading.Timer(1.0, lambda: c.agent.check.ttl_warn('service:web-2', 'warned'))
t.start()
t0 = time.time()
index2, nodes = c.health.service('web', index=index, wait='20s')
out['woke_after'] = time.time() - t0
out['index_moved'] = int(index2) > int(index)
out['after_warn'] = [n['Checks'][0]['Status'] + ' ' + n['Checks'][0]['Output'] for n in nodes if n['Checks']]
c.agent.check.ttl_fail('service:web-2', 'failed')
out['after_fail'] = c.agent.checks()['service:web-2']['Status']
# a 404: py-consul's ttl_pass() answers False
out['unknown'] = c.agent.check.ttl_pass('service:nope')
c.agent.check.ttl_pass('service:web-2')
print(json.dumps(out))
EOP
	close($fh);
	my $ok = IPC::Run::run([ "$venv/bin/python", "$tmp/client.py", $hport ], '>', \my $out, '2>', \my $err);
	my $r = eval { decode_json($out) } // {};
	ok($ok, 'py-consul ran') or diag($err);
	is($r->{dc}, 'dc1', 'py-consul: agent.self() Datacenter');
	is_deeply($r->{services}, { web => [ 'primary', 'v1' ], db => [] }, 'py-consul: catalog.services()');
	is_deeply($r->{passing}, [ 'web-1', 'web-2' ], 'py-consul: health.service(passing=True) after ttl_pass');
	is_deeply($r->{tagged}, ['web-1'], 'py-consul: health.service(tag=)');
	ok(defined $r->{woke_after} && $r->{woke_after} > 0.9 && $r->{woke_after} < 2.5,
		sprintf('py-consul: a blocking query woke on ttl_warn (%.2f s after a 1 s timer)', $r->{woke_after} // -1));
	ok($r->{index_moved}, 'py-consul: with a new index');
	is_deeply($r->{after_warn}, ['warning warned'], 'py-consul: and saw the warning');
	is("$r->{after_fail} " . ($r->{unknown} ? 'true' : 'false'), 'critical false',
		'py-consul: ttl_fail, and an unknown check is False (a 404)');
}

# A real Prometheus server discovers its targets with consul_sd_configs
# pointed at nagare: Debian's prometheus is built without Consul discovery,
# so scripts/deps.sh builds the one test/prometheus_server pins, from the Go
# module proxy.  Under CI=true its absence is a failure, not a skip.
my $prom = $ENV{NAGARE_PROMETHEUS} // '/opt/nagare-test/prometheus/prometheus';
SKIP:
{
	if (!-x $prom)
	{
		fail("no Prometheus server at $prom: scripts/deps.sh builds test/prometheus_server (see its output)")
		  if ($ENV{CI} // '') eq 'true';
		skip "no $prom (scripts/deps.sh builds test/prometheus_server with Go)", 18;
	}
	my $pport = PostgreSQL::Test::Cluster::get_free_port();
	my $papi = "http://127.0.0.1:$pport";
	# web-2 and db-1 have a 60 s TTL: beat them now
	http('PUT', "/v1/agent/check/pass/service:$_") for qw(web-2 db-1);
	# web-3 goes critical 2 s after its last beat, and is deregistered 8 s later
	sql(q{SELECT nagare.register_instance('web', 'web-3', address => '127.0.0.3', port => 9100,
	        meta => '{"version": "2.0"}', ttl => '2s', deregister_critical_after => '8s', status => 'passing')});
	# 100 more services of one instance each: Prometheus watches each with a
	# blocking query of its own, on a connection of its own
	sql(q{SELECT nagare.register_service('svc' || i),
	             nagare.register_instance('svc' || i, 'svc' || i || '-1', address => '127.0.0.1', port => 20000 + i)
	      FROM generate_series(1, 100) i});
	# the configuration docs/registry.md shows (its server and port here)
	my $conf = <<"EOC";
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  # every instance of web and db that passes its check
  - job_name: services
    consul_sd_configs:
      - server: '127.0.0.1:$hport'
        datacenter: dc1
        services: [web, db]
        refresh_interval: 1s
    relabel_configs:
      - source_labels: [__meta_consul_health]
        regex: passing
        action: keep
      - source_labels: [__meta_consul_service]
        target_label: service
      - source_labels: [__meta_consul_service_metadata_version]
        target_label: version
  # the instances tagged primary, of any service
  - job_name: primary
    consul_sd_configs:
      - server: '127.0.0.1:$hport'
        tags: [primary]
        refresh_interval: 1s
  # every instance of every service
  - job_name: all
    scrape_interval: 1m
    consul_sd_configs:
      - server: '127.0.0.1:$hport'
        refresh_interval: 1s
EOC
	open(my $fh, '>', "$tmp/prometheus.yml") or die;
	print $fh $conf;
	close($fh);
	my $ph = IPC::Run::start(
		[ $prom, "--config.file=$tmp/prometheus.yml", "--storage.tsdb.path=$tmp/prom-data",
		  "--web.listen-address=127.0.0.1:$pport", '--scrape.discovery-reload-interval=1s' ],
		'>', "$tmp/prometheus.log", '2>&1');
	# /api/v1/targets: { pool => { service ID => target } } of the active
	# targets, and of the dropped ones
	my $targets = sub {
		my $j = eval { decode_json(`curl -s --max-time 5 '$papi/api/v1/targets'`) };
		my (%active, %dropped);
		return ({}, {}) unless $j && $j->{status} eq 'success';
		for my $t (@{ $j->{data}{activeTargets} })
		{
			$active{ $t->{scrapePool} }{ $t->{discoveredLabels}{__meta_consul_service_id} } = $t;
		}
		for my $t (@{ $j->{data}{droppedTargets} })
		{
			$dropped{ $t->{scrapePool} // '' }{ $t->{discoveredLabels}{__meta_consul_service_id} } = $t;
		}
		return (\%active, \%dropped);
	};
	my ($active, $dropped, $last_beat);
	# web-3 beats until Prometheus has it as a target
	ok(wait_until(sub {
		http('PUT', '/v1/agent/check/pass/service:web-3');
		$last_beat = time;
		($active, $dropped) = $targets->();
		return join(' ', sort keys %{ $active->{services} // {} }) eq 'db-1 web-1 web-2 web-3'
		  && join(' ', sort keys %{ $active->{primary} // {} }) eq 'web-1'
		  && keys %{ $active->{all} // {} } == 104;
	}, 40), 'Prometheus discovered web-1, web-2, web-3 and db-1 (services), web-1 alone (tags: [primary]), and all 104 (all)')
	  or diag(slurp_file("$tmp/prometheus.log"));
	my $d = $active->{services}{'web-1'}{discoveredLabels} // {};
	is($d->{__address__}, "127.0.0.1:$hport", 'a target at the instance\'s address and port');
	is("$d->{__meta_consul_service} $d->{__meta_consul_service_id} $d->{__meta_consul_node} $d->{__meta_consul_dc}",
		'web web-1 nagare dc1', '__meta_consul_service, _service_id, _node, _dc');
	is($d->{__meta_consul_tags}, ',primary,v1,', '__meta_consul_tags');
	is("$d->{__meta_consul_service_metadata_version} $d->{__meta_consul_service_metadata_zone}", '1.2 a',
		'meta as __meta_consul_service_metadata_<key>');
	is("$d->{__meta_consul_health} $active->{services}{'db-1'}{discoveredLabels}{__meta_consul_health}",
		'passing passing', '__meta_consul_health: passing (web-1 has no check, db-1 a passing one)');
	is($d->{__meta_consul_service_address} . ' ' . $active->{services}{'db-1'}{labels}{instance},
		'127.0.0.1 db1.example.com:5432', 'the service address, and a DNS name in instance');
	is_deeply([ @{ $active->{services}{'web-1'}{labels} }{qw(job service version)} ], [ 'services', 'web', '1.2' ],
		'relabelled: service and version from the meta labels');
	# web-1 is nagare's own /metrics: Prometheus scrapes it
	my $up;
	ok(wait_until(sub {
		my $j = eval { decode_json(`curl -s --max-time 5 '$papi/api/v1/query?query=up%7Bjob%3D%22services%22%2Cversion%3D%221.2%22%7D'`) };
		$up = $j && $j->{data}{result}[0];
		return $up && $up->{value}[1] eq '1';
	}, 20), 'Prometheus scraped web-1 (nagare\'s /metrics): up{job="services",version="1.2"} is 1')
	  or diag(explain($up));
	($active) = $targets->();
	is($active->{services}{'web-1'}{health}, 'up', 'and /api/v1/targets says its health is up');
	note(JSON::PP->new->canonical->pretty->encode($active->{services}{'web-1'} // {}));

	# web-3 stopped beating: its TTL lapses; wait for Prometheus to see it
	my $lapsed = wait_until(sub {
		($active, $dropped) = $targets->();
		return !$active->{services}{'web-3'} && $dropped->{services}{'web-3'};
	}, 20);
	ok($lapsed, sprintf('web-3, whose TTL lapsed, left the active targets (%.1f s after its last beat)', time - $last_beat));
	is($dropped->{services}{'web-3'}{discoveredLabels}{__meta_consul_health}, 'critical',
		'as Prometheus does with Consul: still discovered, __meta_consul_health critical, dropped by the keep rule');
	ok(wait_until(sub {
		($active) = $targets->();
		return ($active->{all}{'web-3'}{discoveredLabels}{__meta_consul_health} // '') eq 'critical';
	}, 10), 'and without a keep rule (job all) still a target, critical');
	# 8 s after going critical web-3 is deregistered: no longer discovered
	ok(wait_until(sub { ($active, $dropped) = $targets->(); return !$dropped->{services}{'web-3'} }, 20),
		'web-3, deregistered after 8 s critical, is no longer discovered at all');
	# Prometheus's blocking queries park in nagare: with nothing changing, its
	# health calls (one per watched service, each waiting up to 2 minutes)
	# do not come back every refresh_interval (1 s)
	my $calls = sub {
		my $m = `curl -s --max-time 5 '$papi/metrics'`;
		my $n = 0;
		$n += $1 while $m =~ /^prometheus_sd_consul_rpc_duration_seconds_count\{[^}]*call="service"[^}]*\} (\d+)$/mg;
		return $n;
	};
	my $c0 = $calls->();
	sleep 3;
	my $c1 = $calls->();
	ok($c1 - $c0 <= 2,
		"Prometheus's 105 blocking queries (102 services, 3 jobs) wait in nagare: " . ($c1 - $c0) . ' health calls in 3 quiet s');
	# a new instance, registered over HTTP while Prometheus waits
	$t0 = time;
	($s, $h, $b) = http('PUT', '/v1/agent/service/register',
		'{"Name": "web", "ID": "web-4", "Address": "127.0.0.4", "Port": 9100, "Meta": {"version": "2.1"}}');
	is($s, 200, 'web-4 registered over HTTP');
	ok(wait_until(sub { ($active) = $targets->(); return $active->{services}{'web-4'} }, 20),
		sprintf('web-4 is a target %.1f s later: the blocking query woke (it waits up to 2 min)', time - $t0));
	unlike(slurp_file("$tmp/prometheus.log"), qr/level=(ERROR|WARN).*(consul|discovery)/i,
		'Prometheus logged no discovery error: every request it made was answered');
	$ph->signal('TERM');
	$ph->finish;
	# keep the configuration for docs/registry.md
	note($conf);
	note(slurp_file("$tmp/prometheus.log"));
}

# after a restart the nagare worker loads the table, meta included
$node->restart;
ok(wait_until(sub { my ($st) = http('GET', '/v1/catalog/service/web'); $st == 200 }, 30),
	'after a restart: answered once the table is loaded');
($s, $h, $j) = get_json('/v1/catalog/service/web?tag=primary');
is_deeply($j->[0]{ServiceMeta}, { version => '1.2', zone => 'a' }, 'with the meta loaded from nagare.service_instance');

# the process lived through it all
($s) = http('GET', '/metrics');
is($s, 200, 'nagare http still serves');
unlike(slurp_file($node->logfile), qr/nagare http.*(ERROR|PANIC)|server process .* was terminated/,
	'no error in the http process');

$node->stop;

# While a Kafka listener authenticates, Prometheus logs in with basic_auth
# (HTTP Basic credentials of a role): its 21 blocking queries start at once
# with the same credentials; a job without them gets 401 and no target.
SKIP:
{
	skip "no $prom (scripts/deps.sh builds test/prometheus_server with Go)", 4 unless -x $prom;
	my $aport = PostgreSQL::Test::Cluster::get_free_port();
	my ($anode) = kafka_node('consul_auth', protocol => 'SASL_PLAINTEXT', conf => "nagare.http_port = $aport\n");
	$anode->wait_for_log(qr/nagare http: listening on 127\.0\.0\.1:$aport/);
	$anode->safe_psql('postgres', q{
		CREATE ROLE prometheus LOGIN PASSWORD 'scrape-pw';
		SELECT nagare.register_service('svc' || i),
		       nagare.register_instance('svc' || i, 'svc' || i || '-1', address => '127.0.0.1', port => 20000 + i)
		FROM generate_series(1, 20) i});
	my $pport = PostgreSQL::Test::Cluster::get_free_port();
	open(my $fh, '>', "$tmp/prometheus-auth.yml") or die;
	print $fh <<"EOC";
scrape_configs:
  - job_name: services
    scrape_interval: 1m
    consul_sd_configs:
      - server: '127.0.0.1:$aport'
        basic_auth:
          username: prometheus
          password: scrape-pw
        refresh_interval: 1s
  - job_name: anonymous
    scrape_interval: 1m
    consul_sd_configs:
      - server: '127.0.0.1:$aport'
        refresh_interval: 1s
EOC
	close($fh);
	my $ph = IPC::Run::start(
		[ $prom, "--config.file=$tmp/prometheus-auth.yml", "--storage.tsdb.path=$tmp/prom-auth",
		  "--web.listen-address=127.0.0.1:$pport", '--scrape.discovery-reload-interval=1s' ],
		'>', "$tmp/prometheus-auth.log", '2>&1');
	my %pools;
	$t0 = time;
	ok(wait_until(sub {
		my $j = eval { decode_json(`curl -s --max-time 5 'http://127.0.0.1:$pport/api/v1/targets'`) };
		%pools = ();
		$pools{ $_->{scrapePool} }++ for @{ $j ? $j->{data}{activeTargets} : [] };
		return ($pools{services} // 0) == 20;
	}, 30), sprintf('with basic_auth Prometheus discovered all 20 services\' instances (%.1f s)', time - $t0))
	  or diag(slurp_file("$tmp/prometheus-auth.log"));
	my $plog = slurp_file("$tmp/prometheus-auth.log");
	unlike($plog, qr/level=ERROR.*config=services /, 'with no discovery error: every login was answered')
	  or diag($plog);
	like($plog, qr/level=ERROR.*config=anonymous .*Unexpected response code: 401/,
		'without basic_auth: 401') or diag($plog);
	is($pools{anonymous}, undef, 'and no target');
	$ph->signal('TERM');
	$ph->finish;
	$anode->stop;
}

done_testing();
