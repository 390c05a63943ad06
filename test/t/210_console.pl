# The console (docs/observability.md, "Console"), in a real browser: Debian's
# Chromium driven by playwright-core (test/console/run.mjs), against a node
# whose Kafka listener is SASL_PLAINTEXT (so the console wants a login):
#
#   - no session: /console/ sends to the login form, the API answers 401;
#     a wrong password is refused; the right one opens a session (an
#     HttpOnly, SameSite=Strict cookie of a 256-bit id);
#   - a tenant A role sees on each page what SQL shows that role: its
#     topics, a partition's high watermark, the record kcat produced (key,
#     value, header; a non-UTF-8 value as hex) in the message browser, its
#     group's lag, its tenant, its service's instance and health, the
#     observed dependency graph laid out by cytoscape, its SLO and budget;
#     every page is screenshot (console-*.png in tmp_check/console-shots,
#     or in the directory NAGARE_CONSOLE_SHOTS names: docs/images/ has the
#     ones docs/observability.md shows);
#   - assets with an ETag (304 on If-None-Match) and a strict CSP, and no
#     error in the browser's console;
#   - logging out ends the session (401); so does the role's NOLOGIN, within
#     nagare.console_session_check;
#   - a tenant B role sees none of tenant A's topics and groups in the
#     pages or the API (services: the catalog is every role's, as in SQL);
#   - with no authenticating listener the pages and the API are open (as
#     /metrics), as the worker's role;
#   - Basic credentials still work for the API; SQL in a parameter is only
#     a value; an unknown query is 404, a missing parameter 400; a login
#     posted from another site's page is refused.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;

my $root = "$FindBin::RealBin/../..";
my $chromium = $ENV{NAGARE_CHROMIUM} // '/usr/bin/chromium';
plan skip_all => "no Chromium at $chromium (scripts/deps.sh installs Debian's chromium)"
  unless -x $chromium;
plan skip_all => 'no playwright-core in test/console/node_modules (scripts/deps.sh runs npm ci)'
  unless -d "$root/test/console/node_modules/playwright-core";
plan skip_all => 'kcat is needed' unless system('kcat -V >/dev/null 2>&1') == 0;

my $hport = PostgreSQL::Test::Cluster::get_free_port();
my ($node, $kport) = kafka_node('console', protocol => 'SASL_PLAINTEXT',
	conf => "nagare.http_port = $hport\npassword_encryption = 'scram-sha-256'\n"
	  . "nagare.dependency_flush_interval = '1s'\nnagare.console_session_check = '1s'\n");
$node->wait_for_log(qr/nagare http: listening on 127\.0\.0\.1:$hport/);
sub sql { return $node->safe_psql('postgres', $_[0]) }
# what a role sees in SQL
sub sql_as { return sql("SET ROLE $_[0]; $_[1]") }

sql(q{
CREATE ROLE team_a LOGIN PASSWORD 'pw-a';
CREATE ROLE team_b LOGIN PASSWORD 'pw-b';
CREATE ROLE team_c LOGIN PASSWORD 'pw-c';
GRANT USAGE ON SCHEMA nagare TO team_a, team_b;
SELECT nagare.create_tenant('ta');
SELECT nagare.create_tenant('tb');
SELECT nagare.add_tenant_principal('ta', 'team_a');
SELECT nagare.add_tenant_principal('tb', 'team_b');
SELECT nagare.add_tenant_principal('ta', 'team_c');
SELECT nagare.create_topic('ta.orders', 2);
SELECT nagare.create_topic('tb.secret', 1);
SELECT nagare.register_service('orders-svc', tenant => 'ta', description => 'takes orders');
SELECT nagare.register_service('secret-svc', tenant => 'tb');
SELECT nagare.set_service_identity('orders-svc', 'User:team_a');
SELECT nagare.register_instance('orders-svc', 'orders-1', '10.0.0.5', 8080, ttl => '1 hour');
SELECT nagare.pass_instance('orders-1');
SELECT nagare.set_service_slo('orders-svc', 'produce-ok', 'produce_success', 0.99, time_window => '1 day');
SELECT nagare.send('tb.secret', 'b-key', 'tenant b only');
});

# a record from a real client, as team_a: key, value and a header
my @sasl = ('-X', 'security.protocol=SASL_PLAINTEXT', '-X', 'sasl.mechanisms=PLAIN',
	'-X', 'sasl.username=team_a', '-X', 'sasl.password=pw-a');
ok(wait_until(sub {
	IPC::Run::run([ 'kcat', '-b', "127.0.0.1:$kport", @sasl, '-L', '-t', 'ta.orders' ],
		'>', \my $out, '2>', \my $err);
	return $out =~ /topic "ta.orders" with/;
}), 'Metadata shows topic ta.orders');
my $ok = IPC::Run::run([ 'kcat', '-b', "127.0.0.1:$kport", @sasl, '-P', '-t', 'ta.orders',
	'-p', '0', '-K', '|', '-H', 'trace=abc-123' ], '<', \"order-7|{\"qty\":3}\n",
	'2>', \my $kerr);
ok($ok, 'kcat produced as team_a') or diag($kerr);
# and one that is not UTF-8
sql(q{SELECT nagare.send('ta.orders', NULL::bytea, '\xff00fe'::bytea, "partition" => 0)});
# a group with lag: committed at offset 1 of partition 0
sql(q{SELECT nagare.reset_group_offsets('ta.readers', 'ta.orders', 1::bigint, create_group => true)});
sql(q{SELECT nagare.reset_group_offsets('tb.readers', 'tb.secret', 0::bigint, create_group => true)});
ok(wait_until(sub { sql_as('team_a', q{SELECT count(*) FROM nagare.dependencies}) > 0 }, 30),
	'the produce edge is observed');

sub browse
{
	my (%o) = @_;
	IPC::Run::run([ 'node', "$root/test/console/run.mjs", encode_json(\%o) ],
		'>', \my $out, '2>', \my $err, IPC::Run::timeout(90));
	diag($err) if $err ne '';
	my $seen = eval { decode_json($out) };
	diag("run.mjs: $out") unless $seen;
	return $seen // {};
}

# the screenshots: into tmp_check/console-shots (kept with the logs), or
# where NAGARE_CONSOLE_SHOTS says (docs/images for the docs)
my $shots = $ENV{NAGARE_CONSOLE_SHOTS} // "${PostgreSQL::Test::Utils::tmp_check}/console-shots";
mkdir($shots) unless -d $shots;
my $url = "http://127.0.0.1:$hport";
# a connected client for the clients page: a consumer of team_a's, waiting
my $consumer = IPC::Run::start([ 'kcat', '-b', "127.0.0.1:$kport", @sasl, '-C', '-t', 'ta.orders',
	'-p', '1', '-o', 'end', '-q', '-X', 'client.id=console-watcher' ], '>', \my $cout, '2>', \my $cerr);
ok(wait_until(sub { sql(q{SELECT count(*) FROM nagare.connections WHERE client_id = 'console-watcher'}) > 0 }),
	'a consumer is connected');
my $t0 = time;
my $a = browse(url => $url, role => 'team_a', password => 'pw-a', shots => $shots,
	topic => 'ta.orders', group => 'ta.readers', service => 'orders-svc');

like($a->{no_session_url} // '', qr{/console/login$}, 'no session: the login form');
is($a->{no_session_api}, 401, 'no session: the API answers 401');
like($a->{wrong_url} // '', qr{/console/login\?failed$}, 'a wrong password is refused');
ok($a->{wrong_shown}, 'and the form says so');
ok($a->{cookie} && $a->{cookie}{httpOnly} && $a->{cookie}{sameSite} eq 'Strict'
	  && $a->{cookie}{path} eq '/console' && $a->{cookie}{value} == 64,
	'the session cookie: 256 bits in hex, HttpOnly, SameSite=Strict, Path=/console');
is($a->{who}, 'team_a', 'the page names the role');

sub list { return join(',', @{ $_[0] // [] }) }
is(list($a->{topics}), sql_as('team_a', q{SELECT string_agg(topic, ',' ORDER BY topic) FROM nagare.topics}),
	'topics: as SQL shows team_a');
is(list($a->{partitions}),
	sql_as('team_a', q{SELECT string_agg(high_watermark::text, ',' ORDER BY partition) FROM nagare.partitions WHERE topic = 'ta.orders'}),
	"a topic's partitions: their high watermarks");
is(list($a->{message_keys}), 'order-7,null', 'the message browser: the keys (text; null)');
is($a->{message_values}[0], '{"qty":3}', 'the value kcat produced, as text');
is($a->{message_values}[1], 'ff 00 fe', 'a value that is not UTF-8, as hex');
is($a->{message_headers}[0], 'trace: abc-123', 'the header kcat sent');
is(list($a->{groups}), 'ta.readers', 'groups: only tenant A\'s');
is(list($a->{lag}),
	sql_as('team_a', q{SELECT string_agg(lag::text, ',' ORDER BY topic, partition) FROM nagare.consumer_lag WHERE group_id = 'ta.readers'}),
	"a group's lag per partition, as nagare.consumer_lag");
is(list($a->{tenants}), 'ta', 'tenants: its own');
is(list($a->{clients}), sql_as('team_a', q{SELECT string_agg(principal, ',' ORDER BY id) FROM nagare.connections}),
	'clients: its connections, as nagare.connections shows team_a');
ok(scalar(@{ $a->{clients} // [] }) > 0, 'the consumer among them');
is(list($a->{usage_principals}), sql_as('team_a', q{SELECT string_agg(principal, ',' ORDER BY tenant, principal, client_id) FROM nagare.client_usage}),
	'live usage, as nagare.client_usage shows team_a');
is(list($a->{services}), sql_as('team_a', q{SELECT string_agg(service, ',' ORDER BY service) FROM nagare.services}),
	'services: the catalog');
is(list($a->{instances}) . ' ' . list($a->{instance_status}), 'orders-1 passing',
	"a service's instance and its health");
is(list($a->{graph_nodes}),
	sql_as('team_a', q{SELECT string_agg(n->>'id', ',' ORDER BY n->>'id') FROM jsonb_array_elements(nagare.dependency_graph_json()->'nodes') n}),
	'the dependency graph: its nodes');
ok(($a->{graph_laid_out} // 0) >= 2, 'laid out by cytoscape (nodes apart)');
is(list($a->{slos}), 'produce-ok', 'SLOs: its service\'s');
is(list($a->{slo_budget}),
	sql_as('team_a', q{SELECT coalesce(error_budget_remaining::text, '') FROM nagare.slo_status}),
	'with the budget left, as nagare.slo_status');
is(list($a->{api_topics}), 'ta.orders', 'the API with the session: the same topics');
is($a->{asset}{status} . ' ' . ($a->{asset}{type} // ''), '200 text/javascript; charset=utf-8',
	'an asset with its Content-Type');
like($a->{asset}{csp} // '', qr/default-src 'none'; script-src 'self'/, 'and a strict CSP');
is($a->{asset_304}, 304, 'If-None-Match with its ETag: 304');
is(list($a->{errors_logged_in}), '', 'no error in the browser (a CSP violation would be one)');
like($a->{logout_url} // '', qr{/console/login$}, 'logging out: the login form');
is($a->{after_logout_api}, 401, 'and the session is gone');

my $b = browse(url => $url, role => 'team_b', password => 'pw-b', shots => '',
	topic => 'tb.secret', group => 'tb.readers', service => 'secret-svc');
is(list($b->{topics}), 'tb.secret', "tenant B: its topics only, not tenant A's");
is(list($b->{groups}), 'tb.readers', "and its groups only");
is(list($b->{api_topics}), 'tb.secret', 'the API likewise');
is(list($b->{slos}), '', "no SLO of tenant A's service");
is(list($b->{message_values}), 'tenant b only', 'its own records');
is(list($b->{api_services}), 'orders-svc,secret-svc', 'services: the catalog, every role\'s (as nagare.services)');
is(list($b->{clients}), '', "no connection of tenant A's");
note('both browser runs took ' . (time - $t0) . ' s');
$consumer->kill_kill;

# the API with Basic credentials; tenant B asking for tenant A's records
sub curl
{
	my ($path, $user) = @_;
	my @cmd = ('curl', '-s', '-o', '-', '-w', '\n%{http_code}', "$url$path");
	push @cmd, '-u', $user if $user;
	IPC::Run::run(\@cmd, '>', \my $out);
	my ($body, $status) = $out =~ /^(.*)\n(\d+)$/s;
	return ($status, $body);
}
my ($s, $body) = curl('/console/api/topics', 'team_b:pw-b');
is("$s " . join(',', map { $_->{topic} } @{ decode_json($body)->{rows} }), '200 tb.secret',
	'Basic credentials: the API as that role');
($s, $body) = curl('/console/api/messages?topic=ta.orders&partition=0&offset=0&count=5', 'team_b:pw-b');
is($s, 403, "tenant B reading tenant A's records: 403") or diag($body);
($s, $body) = curl('/console/api/partitions?topic=x%27%20OR%201%3D1--', 'team_a:pw-a');
is("$s $body", '200 {"rows" : [], "truncated" : false}', 'SQL in a parameter is only a value');
($s) = curl('/console/api/nosuch', 'team_a:pw-a');
is($s, 404, 'an unknown query: 404');
($s) = curl('/console/api/messages?topic=ta.orders', 'team_a:pw-a');
is($s, 400, 'a missing parameter: 400');
($s) = curl('/console/api/topics', 'team_a:wrong');
is($s, 401, 'wrong Basic credentials: 401');
IPC::Run::run([ 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-H',
	'Origin: http://elsewhere.example', '-d', 'role=team_a&password=pw-a', "$url/console/login" ],
	'>', \my $csrf);
is($csrf, 403, 'a login form posted from another site: 403');

# a session of a role that may no longer log in ends within
# nagare.console_session_check (1 s here)
my $jar = "${PostgreSQL::Test::Utils::tmp_check}/console-jar";
IPC::Run::run([ 'curl', '-s', '-o', '/dev/null', '-c', $jar, '-d', 'role=team_c&password=pw-c',
	"$url/console/login" ]);
sub with_jar
{
	IPC::Run::run([ 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-b', $jar,
		"$url/console/api/whoami" ], '>', \my $code);
	return $code;
}
is(with_jar(), 200, 'a session of team_c');
sql(q{ALTER ROLE team_c NOLOGIN});
ok(wait_until(sub { with_jar() == 401 }, 10), 'made NOLOGIN, its session ends');
$node->wait_for_log(qr/console session of role "team_c" ended/);
pass('and the log says so');

# no authenticating listener: nobody logs in, as for /metrics; the queries
# run as the worker's role
$node->stop;
my $open = nagare_node('console_open');
my $oport = $open->safe_psql('postgres', 'SHOW nagare.http_port');
$open->safe_psql('postgres', q{SELECT nagare.create_topic('open.t')});
$url = "http://127.0.0.1:$oport";
($s, $body) = curl('/console/');
is($s, 200, 'no authentication configured: the pages are open');
($s, $body) = curl('/console/api/topics');
is("$s " . join(',', map { $_->{topic} } @{ decode_json($body)->{rows} }), '200 open.t',
	'and the API, as the worker\'s role');
($s, $body) = curl('/console/login');
is($s, 303, 'the login form sends to the pages');
# past 200 rows an answer is cut, and says so
$open->safe_psql('postgres', q{SELECT nagare.create_topic(format('open.bulk%s', i)) FROM generate_series(1, 205) i});
($s, $body) = curl('/console/api/topics');
my $j = decode_json($body);
is(scalar(@{ $j->{rows} }) . ' ' . ($j->{truncated} ? 'truncated' : 'whole'), '200 truncated',
	'206 topics: the first 200, "truncated"');

done_testing();
