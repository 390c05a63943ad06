# The registry's writes over Consul's HTTP API, carried out by the nagare
# worker (docs/registry.md, "Registering over HTTP" and "Logging in"):
#
#   - with no authenticating Kafka listener: py-consul 1.6.0 registers an
#     instance (tags, meta, a TTL check), it is in nagare.service_instance
#     and answers health/service, critical until py-consul passes its
#     check; registering again replaces it; one without an address gets
#     the client's; deregistering removes it; the audit trail names the
#     HTTP client; refusals with the status and reason register_instance()
#     gives (unknown service 404, a check nagare does not run 400, a body
#     that is not JSON 400, an unknown id to deregister 404);
#   - with a SASL_PLAINTEXT Kafka listener, every /v1/ route wants HTTP
#     Basic credentials of a role that may log in: none or wrong ones get
#     401 with WWW-Authenticate (and a LOG line), a NOLOGIN role too; a
#     tenant's member registers, beats and deregisters its own service's
#     instances as itself (registered_by), a member of another tenant gets
#     403 for each, py-consul logs in through its requests session; a
#     login is remembered (the worker is asked once for many requests);
#     /metrics still needs none (loopback only).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;

sub have { system("@_ >/dev/null 2>&1") == 0 }
plan skip_all => 'curl is needed' unless have('curl --version');

my $venv = $ENV{NAGARE_CONSUL_VENV} // '/opt/nagare-test/consul-venv';
my $tmp = PostgreSQL::Test::Utils::tempdir();

# curl: (status, headers as a hash of lower-case names, body)
sub http
{
	my ($port, $method, $path, $body, $user) = @_;
	my @cmd = ('curl', '-s', '--max-time', '40', '-X', $method, '-D', "$tmp/h", '-o', "$tmp/b",
		'-w', '%{http_code}');
	push @cmd, '--data-binary', $body if defined $body;
	push @cmd, '-u', $user if defined $user;
	push @cmd, "http://127.0.0.1:$port$path";
	IPC::Run::run(\@cmd, '>', \my $status);
	my %h;
	for (split /\r\n/, slurp_file("$tmp/h"))
	{
		$h{ lc $1 } = $2 if /^([^:]+):\s*(.*)$/;
	}
	return ($status, \%h, slurp_file("$tmp/b"));
}

# run a py-consul script (stdin: the code; argv: port, user, password)
sub py_consul
{
	my ($code, @args) = @_;
	open(my $f, '>', "$tmp/client.py") or die;
	print $f "import consul, json, sys\n" . $code;
	close($f);
	my $ok = IPC::Run::run([ "$venv/bin/python", "$tmp/client.py", @args ],
		'>', \my $out, '2>', \my $err);
	diag($err) unless $ok;
	return $ok ? decode_json($out) : undef;
}

#---- no authenticating listener: anonymous, as the worker's role ----

my $hport = PostgreSQL::Test::Cluster::get_free_port();
my $node = nagare_node('reg_open', conf => "nagare.http_port = $hport\n");
sub sql { return $node->safe_psql('postgres', $_[0]) }
$node->wait_for_log(qr/nagare http: listening on 127\.0\.0\.1:$hport/);
sql(q{SELECT nagare.register_service('orders')});

SKIP:
{
	skip "no py-consul venv at $venv (scripts/deps.sh makes it)", 7 unless -x "$venv/bin/python";
	my $r = py_consul(<<'PY', $hport);
c = consul.Consul(port=int(sys.argv[1]))
c.agent.service.register("orders", service_id="orders-1", address="10.0.0.5", port=8080,
                         tags=["v2"], meta={"version": "2.1"}, check=consul.Check.ttl("15s"))
_, before = c.health.service("orders")
c.agent.check.ttl_pass("service:orders-1", "up")
_, after = c.health.service("orders", passing=True)
c.agent.service.register("orders", service_id="orders-1", address="10.0.0.6", port=8081,
                         check=consul.Check.ttl("15s"))
_, again = c.catalog.service("orders")
print(json.dumps({
    "before": [[e["Service"]["ID"], e["Service"]["Address"], e["Service"]["Port"], e["Service"]["Tags"],
                e["Service"]["Meta"], e["Checks"][0]["Status"]] for e in before],
    "after": [e["Service"]["ID"] for e in after],
    "again": [[e["ServiceAddress"], e["ServicePort"]] for e in again],
}))
PY
	ok($r, 'py-consul registered, passed and registered again');
	is_deeply($r->{before}, [ [ 'orders-1', '10.0.0.5', 8080, ['v2'], { version => '2.1' }, 'critical' ] ],
		'the registration: address, port, tags, meta; critical until the first pass');
	is_deeply($r->{after}, ['orders-1'], 'passing after ttl_pass');
	is_deeply($r->{again}, [ [ '10.0.0.6', 8081 ] ], 'registering the same ID again replaces it');
	is(sql(q{SELECT service || ' ' || address || ' ' || port || ' ' || ttl || ' ' || registered_by
	         FROM nagare.service_instance WHERE id = 'orders-1'}),
		'orders 10.0.0.6 8081 00:00:15 ' . sql('SELECT current_user'),
		'in nagare.service_instance, registered by the worker\'s role (anonymous HTTP)');
	is(sql(q{SELECT principal || ' ' || client_host || ' ' || (client_id LIKE 'python-requests/%')
	         FROM nagare.audit_log WHERE object_type = 'SERVICE_INSTANCE' ORDER BY id DESC LIMIT 1}),
		'User:ANONYMOUS 127.0.0.1 true', 'the audit trail names the HTTP client (its User-Agent as client id)');
	$r = py_consul(<<'PY', $hport);
c = consul.Consul(port=int(sys.argv[1]))
c.agent.service.deregister("orders-1")
_, left = c.catalog.service("orders")
print(json.dumps({"left": left}))
PY
	is_deeply($r && $r->{left}, [], 'py-consul deregistered it');
}

my ($s, $h, $b) = http($hport, 'PUT', '/v1/agent/service/register', '{"Name": "orders", "ID": "o-2", "Port": 80}');
is($s, 200, 'a registration without an address: 200');
is(sql(q{SELECT address FROM nagare.service_instance WHERE id = 'o-2'}), '127.0.0.1',
	'gets the HTTP client\'s address');
{
	IPC::Run::run([ 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT', '-A', "test \xff\xfe",
		'--data-binary', '{"Name": "orders", "ID": "o-3", "Address": "10.0.0.3", "Port": 80}',
		"http://127.0.0.1:$hport/v1/agent/service/register" ], '>', \my $st);
	is($st, 200, 'a User-Agent that is not UTF-8 does not stop a registration');
	is(sql(q{SELECT coalesce(client_id, '') FROM nagare.audit_log WHERE object_name = 'orders/o-3'}), '',
		'its audit row has no client id');
}
($s, $h, $b) = http($hport, 'PUT', '/v1/agent/service/register', '{"Name": "nope", "Port": 80}');
is($s, 404, 'an unknown catalog service: 404');
like($b, qr/service "nope" does not exist/, 'with register_instance()\'s reason');
($s, $h, $b) = http($hport, 'PUT', '/v1/agent/service/register',
	'{"Name": "orders", "Port": 80, "Check": {"HTTP": "http://x/", "Interval": "10s"}}');
like("$s $b", qr/^400 .*check of a kind nagare does not run \(http\).*TTL/s, 'an HTTP check: 400, and what to give');
($s, $h, $b) = http($hport, 'PUT', '/v1/agent/service/register', '{"Name": "orders", ');
like("$s $b", qr/^400 .*invalid input syntax for type json/s, 'a body that is not JSON: 400');
($s, $h, $b) = http($hport, 'PUT', '/v1/agent/service/register', '{"Name": "orders", "Port": 80, "Check": {"TTL": "soon"}}');
like("$s $b", qr/^400 invalid duration "soon" of TTL/, 'a TTL that is not a Go duration: 400');
($s, $h, $b) = http($hport, 'PUT', '/v1/agent/service/deregister/o-404');
like("$s $b", qr/^404 instance "o-404" does not exist/, 'deregistering an unknown id: 404');
($s, $h, $b) = http($hport, 'GET', '/v1/agent/service/register');
is($s, 405, 'register wants PUT');
$node->stop;

#---- a SASL_PLAINTEXT listener: Basic credentials of a role ----

$hport = PostgreSQL::Test::Cluster::get_free_port();
my ($anode) = kafka_node('reg_auth', protocol => 'SASL_PLAINTEXT',
	conf => "nagare.http_port = $hport\n");
$anode->wait_for_log(qr/nagare http: listening on 127\.0\.0\.1:$hport/);
sub asql { return $anode->safe_psql('postgres', $_[0]) }
asql(q{
CREATE ROLE team_a LOGIN PASSWORD 'pw-a';
CREATE ROLE team_b LOGIN PASSWORD 'pw-b';
CREATE ROLE no_login NOLOGIN PASSWORD 'pw-n';
GRANT USAGE ON SCHEMA nagare TO team_a, team_b;
SELECT nagare.create_tenant('ta');
SELECT nagare.create_tenant('tb');
SELECT nagare.add_tenant_principal('ta', 'team_a');
SELECT nagare.add_tenant_principal('tb', 'team_b');
SELECT nagare.register_service('pay', tenant => 'ta');
});

($s, $h, $b) = http($hport, 'GET', '/v1/catalog/services');
is($s, 401, 'no credentials: 401');
like($h->{'www-authenticate'} // '', qr/^Basic realm="nagare"/, 'with a Basic challenge');
($s) = http($hport, 'GET', '/v1/catalog/services', undef, 'team_a:wrong');
is($s, 401, 'a wrong password: 401');
($s) = http($hport, 'GET', '/v1/catalog/services', undef, 'no_login:pw-n');
is($s, 401, 'a NOLOGIN role: 401');
($s) = http($hport, 'GET', '/v1/catalog/services', undef, 'ghost:pw');
is($s, 401, 'an unknown role: 401');
$anode->wait_for_log(qr/nagare http: failed authentication of role "team_a" \(HTTP Basic\)/);
pass('a failed login is logged');
($s, $h, $b) = http($hport, 'GET', '/v1/catalog/services', undef, 'team_a:pw-a');
is("$s $b", '200 {}', 'the right password: 200 (no instances yet: no services listed, as Consul)');
($s) = http($hport, 'GET', '/metrics');
is($s, 401, '/metrics wants a login too');
($s) = http($hport, 'GET', '/metrics', undef, 'team_a:pw-a');
is($s, 403, '/metrics: 403 for a role without DESCRIBE on the CLUSTER (185 checks the rest)');

my $reg = '{"Name": "pay", "ID": "pay-1", "Address": "10.0.0.9", "Port": 443, "Check": {"TTL": "30s"}}';
($s, $h, $b) = http($hport, 'PUT', '/v1/agent/service/register', $reg, 'team_b:pw-b');
like("$s $b", qr/^403 permission denied to register instance "pay-1" of service "pay"/,
	'a member of another tenant may not register: 403, with the reason');
($s, $h, $b) = http($hport, 'PUT', '/v1/agent/service/register', $reg, 'team_a:pw-a');
is($s, 200, 'the tenant\'s member registers its service\'s instance') or diag($b);
is(asql(q{SELECT registered_by FROM nagare.service_instance WHERE id = 'pay-1'}), 'team_a',
	'as itself');
($s, $h, $b) = http($hport, 'PUT', '/v1/agent/check/pass/service:pay-1', '', 'team_b:pw-b');
like("$s $b", qr/^403 Permission denied: permission denied to beat instance "pay-1"/,
	'the other tenant\'s member may not beat it');
($s) = http($hport, 'PUT', '/v1/agent/check/pass/service:pay-1', '', 'team_a:pw-a');
is($s, 200, 'its own member beats it');
is(asql(q{SELECT status FROM nagare.instances WHERE id = 'pay-1'}), 'passing', 'passing');
($s) = http($hport, 'PUT', '/v1/agent/service/deregister/pay-1', undef, 'team_b:pw-b');
is($s, 403, 'the other tenant\'s member may not deregister it');

SKIP:
{
	skip "no py-consul venv at $venv (scripts/deps.sh makes it)", 1 unless -x "$venv/bin/python";
	my $r = py_consul(<<'PY', $hport, 'team_a', 'pw-a');
c = consul.Consul(port=int(sys.argv[1]))
c.http.session.auth = (sys.argv[2], sys.argv[3])
n = 0
for i in range(50):
    c.agent.check.ttl_pass("service:pay-1", "beat %d" % i)
    n += 1
_, h = c.health.service("pay", passing=True)
c.agent.service.deregister("pay-1")
_, left = c.catalog.service("pay")
print(json.dumps({"beats": n, "passing": [e["Service"]["ID"] for e in h], "left": left}))
PY
	is_deeply($r, { beats => 50, passing => ['pay-1'], left => [] },
		'py-consul logs in through its session: 50 beats, health, deregistration');
}

# a login is remembered for a minute: the old password still works right
# after it changed (the worker is not asked again), the new one too
asql(q{ALTER ROLE team_a PASSWORD 'pw-a2'});
($s) = http($hport, 'GET', '/v1/catalog/services', undef, 'team_a:pw-a');
is($s, 200, 'a remembered login: the old password within the minute');
($s) = http($hport, 'GET', '/v1/catalog/services', undef, 'team_a:pw-a2');
is($s, 200, 'and the new one, checked by the worker');

$anode->stop;
done_testing();
