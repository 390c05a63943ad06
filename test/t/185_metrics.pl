# The "nagare http" process and GET /metrics (docs/observability.md):
#
#   - the endpoint answers on nagare.http_listen_addresses at nagare.http_port,
#     in Prometheus's text format 0.0.4, and `promtool check metrics` passes;
#   - a real Prometheus server scrapes it (static target, 1 s interval) and
#     its query API gives the high watermark nagare.partitions shows after
#     kcat produced N records; the per-client series sum to
#     nagare.client_usage's records;
#   - nagare.metrics_max_client_series caps the client series (the rest in
#     client_id="__other__"), and a reload lifts the cap; label values are
#     escaped, and a client id that is not UTF-8 gets U+FFFD (promtool and
#     Prometheus would refuse the whole scrape otherwise);
#   - nagare.broker's listen_sockets and connections, and
#     nagare_connections by listener, with a connection held;
#   - keep-alive (curl reuses its connection) and pipelined requests (three
#     in one write, answered in order, HEAD without a body, the connection
#     kept); 256 connections served, the 257th answered 503; a half-sent
#     request closed after 10 s and logged;
#   - 404 for other paths, 405 with Allow for other methods;
#   - malformed requests get 400 and a LOG line, and the process lives on
#     (same pid, still serving);
#   - the wall: with a SASL_PLAINTEXT Kafka listener, a scrape logs in (401
#     without credentials, 403 without DESCRIBE on the CLUSTER), from any address.
#
# NAGARE_METRICS_BENCH=1 also times a scrape with 1,000 partitions and
# 1,000 clients (median of 20, curl's time_total), as docs/observability.md
# quotes.
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
use Time::HiRes qw(usleep);

sub have { system("@_ >/dev/null 2>&1") == 0 }
plan skip_all => 'curl and kcat are needed' unless have('curl --version') && have('kcat -V');

my $hport = PostgreSQL::Test::Cluster::get_free_port();
my ($node, $kport) = kafka_node('metrics', conf => qq{
nagare.http_listen_addresses = '127.0.0.1'
nagare.http_port = $hport
nagare.metrics_max_client_series = 2
nagare.max_client_usage = 2000
});
my $url = "http://127.0.0.1:$hport/metrics";
my $tmp = PostgreSQL::Test::Utils::tempdir();

sub sql { return $node->safe_psql('postgres', $_[0]) }
sub scrape { my $out = `curl -s --max-time 10 $url`; return $out }

# The value of a sample (name and labels as written), or undef
sub sample
{
	my ($text, $series) = @_;
	for my $line (split /\n/, $text)
	{
		return $1 if $line =~ /^\Q$series\E (\S+)$/;
	}
	return undef;
}

$node->wait_for_log(qr/nagare http: listening on 127\.0\.0\.1:$hport/);
my ($http_pid) = slurp_file($node->logfile) =~ /\[(\d+)\] nagare http LOG:  nagare http: listening on/;
ok(pid_alive($http_pid), "nagare http runs (pid $http_pid)");

sql("SELECT nagare.create_topic('mt', 2)");
wait_kafka_topic($kport, 'mt');

# a client id that needs escaping in a label value
{
	open(my $kc, '|-', qq{kcat -P -b 127.0.0.1:$kport -t mt -p 0 -X 'client.id=esc"a\\b'}) or die;
	print $kc "x\n";
	close($kc) or die "kcat failed";
}

# and one that is not UTF-8 (a byte 0xff, then an é)
{
	open(my $kc, '|-', 'kcat', '-P', '-b', "127.0.0.1:$kport", '-t', 'mt', '-p', '0', '-X',
		"client.id=bad\xff\xc3\xa9") or die;
	print $kc "y\n";
	close($kc) or die "kcat failed";
}

# records from kcat under four client ids
my $n = 2;    # the two records above
for my $c (1 .. 4)
{
	my $recs = join('', map { "c$c-r$_\n" } 1 .. $c + 1);
	$n += $c + 1;
	open(my $kc, '|-', "kcat -P -b 127.0.0.1:$kport -t mt -p 0 -X client.id=client-$c") or die;
	print $kc $recs;
	close($kc) or die "kcat failed";
}
is(sql("SELECT high_watermark FROM nagare.partitions WHERE topic = 'mt' AND partition = 0"),
	$n, "nagare.partitions: $n records in mt/0");

my $m = scrape();
is(sample($m, 'nagare_partition_high_watermark{topic="mt",partition="0"}'), $n,
	'/metrics: the same high watermark');
is(sample($m, 'nagare_partition_high_watermark{topic="mt",partition="1"}'), 0,
	'/metrics: an empty partition without files shows 0, as the view');
is(sample($m, 'nagare_broker_ready'), 1, 'broker ready');
like($m, qr/^# TYPE nagare_client_produced_records_total counter$/m, 'TYPE lines');

# promtool lints the exposition
SKIP:
{
	skip 'promtool is not installed', 1 unless have('promtool --version');
	open(my $fh, '>', "$tmp/scrape.txt") or die;
	print $fh $m;
	close($fh);
	my $out = `promtool check metrics < $tmp/scrape.txt 2>&1`;
	is($? >> 8, 0, 'promtool check metrics passes') or diag($out);
}

# the client cap: two series of their own, the rest in __other__, and the
# records of all of them add up to nagare.client_usage's
my %ids = map { $_ => 1 } ($m =~ /^nagare_client_requests_total\{[^}]*client_id="([^"]*)"/mg);
ok(exists $ids{'__other__'} && keys(%ids) == 3,
	'nagare.metrics_max_client_series = 2: two clients and __other__')
  or diag(join(',', keys %ids));
my $sum = 0;
$sum += $_ for ($m =~ /^nagare_client_produced_records_total\{[^}]*\} (\d+)$/mg);
is($sum, sql("SELECT sum(records_in) FROM nagare.client_usage"),
	'per-client produced records sum to nagare.client_usage');
sql("ALTER SYSTEM SET nagare.metrics_max_client_series = 1000");
sql("SELECT pg_reload_conf()");
ok(wait_until(sub {
	my $x = scrape();
	return defined sample($x, 'nagare_client_produced_records_total{source="kafka",tenant="",principal="User:ANONYMOUS",client_id="client-3"}')
	  && $x !~ /__other__/;
}), 'after a reload lifting the cap, every client has its own series');
is(sample(scrape(), 'nagare_client_produced_records_total{source="kafka",tenant="",principal="User:ANONYMOUS",client_id="client-3"}'),
	4, 'client-3 produced 4 records');
is(sample(scrape(), 'nagare_client_produced_records_total{source="kafka",tenant="",principal="User:ANONYMOUS",client_id="esc\\"a\\\\b"}'),
	1, 'a client id with a quote and a backslash, escaped');
is(sample(scrape(), qq{nagare_client_produced_records_total{source="kafka",tenant="",principal="User:ANONYMOUS",client_id="bad\xef\xbf\xbd\xc3\xa9"}}),
	1, 'a byte that is not UTF-8 becomes U+FFFD, a valid character stays');
SKIP:
{
	skip 'promtool is not installed', 1 unless have('promtool --version');
	open(my $fh, '>', "$tmp/scrape-all.txt") or die;
	print $fh scrape();
	close($fh);
	my $out = `promtool check metrics < $tmp/scrape-all.txt 2>&1`;
	is($? >> 8, 0, 'promtool check metrics passes with every client (escaped, not UTF-8)') or diag($out);
}

# the connection cap: 256 served, the next answered 503
{
	my @held = map { IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $hport) or die } 1 .. 256;
	# the server has accepted them all once one more round trip is answered
	my $last = $held[-1];
	my $r = raw_exchange($last, "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n", 1);
	like($r, qr{^HTTP/1\.1 404 }, 'the 256th connection is served');
	my $extra = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $hport) or die;
	$r = raw_exchange($extra, "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", 1);
	like($r, qr{^HTTP/1\.1 503 }, 'the 257th is answered 503');
	close($_) for @held, $extra;
}

# nagare.broker's listener state, and the connections by listener
is(sql("SELECT listen_sockets FROM nagare.broker"), 1, 'nagare.broker: one listening socket');
is(sample(scrape(), 'nagare_kafka_listen_sockets'), 1, '/metrics: the same');
{
	my $k = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $kport) or die;
	ok($node->poll_query_until('postgres', "SELECT connections = 1 FROM nagare.broker"),
		'nagare.broker: a Kafka connection is counted');
	is(sample(scrape(), 'nagare_connections{listener="PLAINTEXT"}'), 1,
		'/metrics: nagare_connections by listener');
	close($k);
	ok($node->poll_query_until('postgres', "SELECT connections = 0 FROM nagare.broker"),
		'and not once closed');
}

# keep-alive: curl reuses its connection for a second URL
my $conns = `curl -s -o /dev/null -o /dev/null -w '%{num_connects} ' $url $url`;
is($conns, '1 0 ', 'keep-alive: the second request reuses the connection');

# 404 and 405
is(`curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$hport/nothing`, '404', 'other path: 404');
my $h405 = `curl -s -D - -o /dev/null -X POST -H 'Content-Length: 0' $url`;
like($h405, qr{^HTTP/1\.1 405 }, 'POST /metrics: 405');
like($h405, qr{^Allow: GET, HEAD\r$}m, '405 names GET and HEAD in Allow');

# pipelining: three requests in one write, answered in order; then a
# fourth on the same connection
sub raw_exchange
{
	my ($sock, $bytes, $want) = @_;
	print $sock $bytes;
	my $buf = '';
	my $deadline = time + 10;
	while (time < $deadline)
	{
		my @st = ($buf =~ m{^HTTP/1\.1 (\d+) }mg);
		last if @st >= $want && $buf =~ /\r\n\r\n/;
		my $got = '';
		my $r = sysread($sock, $got, 1 << 20);
		last if !$r;
		$buf .= $got;
	}
	return $buf;
}
my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $hport) or die;
my $resp = raw_exchange($sock,
	"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\nHEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n"
	  . "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n", 3);
# read the responses by their heads: a HEAD's has a length but no body
$resp .= do { my $more = ''; sysread($sock, $more, 1 << 20) if $resp !~ /not found\n\z/; $more };
my @status;
for my $method (qw(GET HEAD GET))
{
	last unless $resp =~ s{\AHTTP/1\.1 (\d+) [^\r]*\r\n((?:[^\r]+\r\n)*)\r\n}{};
	my ($st, $fields) = ($1, $2);
	my ($len) = $fields =~ /^Content-Length: (\d+)\r$/mi;
	substr($resp, 0, $len, '') if $method ne 'HEAD';
	push @status, $st;
}
is("@status", '200 200 404', 'pipelined GET, HEAD, GET answered in order, HEAD without a body');
is($resp, '', 'and nothing else was sent');
$resp = raw_exchange($sock, "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", 1);
like($resp, qr{^HTTP/1\.1 200 }, 'the pipelined connection is kept alive');
close($sock);

# malformed requests: 400, logged, the process lives on
my $log_from = -s $node->logfile;
for my $bad ("GET /metrics HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n",
	"\x00\x01\x02garbage\r\n\r\n", "GET /metrics HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
{
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $hport) or die;
	my $r = raw_exchange($s, $bad, 1);
	like($r, qr{^HTTP/1\.1 400 }, 'malformed request: 400');
	close($s);
}
ok(wait_until(sub { slurp_file($node->logfile, $log_from) =~ /nagare http: bad request from 127\.0\.0\.1:\d+: 400/ }),
	'bad requests are logged');
ok(pid_alive($http_pid), 'nagare http is the same process');
is(`curl -s -o /dev/null -w '%{http_code}' $url`, '200', 'and still serves');

# a request started and not finished is closed after 10 s (while the
# endpoint serves others)
{
	my $slow = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $hport) or die;
	print $slow "GET /metrics HTTP/1.1\r\nHost: a\r\n";
	my $t0 = time;
	is(`curl -s -o /dev/null -w '%{http_code}' $url`, '200', 'others are served meanwhile');
	my $got = '';
	my $r = sysread($slow, $got, 100);    # blocks until the server closes
	my $took = time - $t0;
	ok(defined $r && $r == 0 && $took >= 9 && $took <= 15,
		"a half-sent request's connection is closed after about 10 s ($took s)");
	like(slurp_file($node->logfile, $log_from), qr/nagare http: closing the connection of 127\.0\.0\.1:\d+: request not received within 10000 ms/,
		'and logged');
	close($slow);
}

# a real Prometheus scrapes it
SKIP:
{
	skip 'prometheus is not installed', 2 unless have('prometheus --version');
	my $pport = PostgreSQL::Test::Cluster::get_free_port();
	open(my $fh, '>', "$tmp/prometheus.yml") or die;
	print $fh <<"EOC";
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: nagare
    static_configs:
      - targets: ['127.0.0.1:$hport']
EOC
	close($fh);
	my $prom = IPC::Run::start(
		[ 'prometheus', "--config.file=$tmp/prometheus.yml", "--storage.tsdb.path=$tmp/tsdb",
		  "--web.listen-address=127.0.0.1:$pport" ],
		'>', "$tmp/prometheus.log", '2>&1');
	my $value;
	my $q = 'nagare_partition_high_watermark%7Btopic%3D%22mt%22%2Cpartition%3D%220%22%7D';
	ok(wait_until(sub {
		my $out = `curl -s 'http://127.0.0.1:$pport/api/v1/query?query=$q'`;
		my $j = eval { decode_json($out) };
		return 0 unless $j && $j->{status} eq 'success' && @{ $j->{data}{result} };
		$value = $j->{data}{result}[0]{value}[1];
		return 1;
	}, 60), 'Prometheus has scraped the high watermark') or diag(slurp_file("$tmp/prometheus.log"));
	is($value, sql("SELECT high_watermark FROM nagare.partitions WHERE topic = 'mt' AND partition = 0"),
		"Prometheus's value is nagare.partitions' high watermark");
	my $up = `curl -s 'http://127.0.0.1:$pport/api/v1/query?query=up'`;
	like($up, qr/"value":\[[\d.]+,"1"\]/, 'Prometheus: the target is up');
	$prom->signal('TERM');
	$prom->finish;
}

if ($ENV{NAGARE_METRICS_BENCH})
{
	sql("SELECT nagare.create_topic('bench', 1000)");
	wait_kafka_topic($kport, 'bench');
	system($^X, '-e', <<'EOP', $kport) == 0 or die 'bench producers failed';
my $port = shift;
for my $i (1 .. 1000) {
	open(my $kc, '|-', "kcat -P -b 127.0.0.1:$port -t bench -p " . ($i - 1) . " -X client.id=bench-$i") or die;
	print $kc "r$i\n";
	close($kc) or die;
}
EOP
	my @t;
	for (1 .. 20)
	{
		push @t, `curl -s -o /dev/null -w '%{time_total}' $url`;
	}
	@t = sort { $a <=> $b } @t;
	my $size = length(scrape());
	diag(sprintf('bench: scrape of 1,000 partitions and %d clients: median %.1f ms (min %.1f, max %.1f), %d bytes',
		sql("SELECT count(*) FROM nagare.client_usage"), 1000 * $t[10], 1000 * $t[0], 1000 * $t[-1], $size));
}

# the wall: with a SASL listener, a scrape logs in, from any address, as a
# role with DESCRIBE on the CLUSTER
my $wport = PostgreSQL::Test::Cluster::get_free_port();
my ($wall) = kafka_node('metrics_wall', protocol => 'SASL_PLAINTEXT', conf => qq{
nagare.http_listen_addresses = '0.0.0.0'
nagare.http_port = $wport
});
# (or could not: the test fails here at once rather than time out)
$wall->wait_for_log(qr/nagare http: (?:could not )?listen(?:ing)? on 0\.0\.0\.0:$wport/);
my $hexport = sprintf('%04X', $wport);
my $listening_any = grep { /^\s*\d+: 00000000:$hexport 00000000:0000 0A / } split /\n/, slurp_file('/proc/net/tcp');
is($listening_any, 1, 'listens on 0.0.0.0 beside an authenticating Kafka listener');
$wall->safe_psql('postgres', q{
CREATE ROLE scraper LOGIN PASSWORD 'pw-s';
CREATE ROLE nosy LOGIN PASSWORD 'pw-n';
CREATE ROLE admin LOGIN SUPERUSER PASSWORD 'pw-a';
SELECT nagare.create_acl('CLUSTER', 'kafka-cluster', 'User:scraper', 'DESCRIBE');
});
sub wall_scrape
{
	my ($auth, $host) = @_;
	$host //= '127.0.0.1';
	my $u = defined $auth ? "-u '$auth'" : '';
	return `curl -s -o /dev/null -w '%{http_code}' $u http://$host:$wport/metrics`;
}
is(wall_scrape(undef), '401', 'no credentials: 401, from loopback too');
like(`curl -s -i http://127.0.0.1:$wport/metrics`, qr/WWW-Authenticate: Basic realm="nagare"/i,
	'with a Basic challenge');
is(wall_scrape('scraper:wrong'), '401', 'a wrong password: 401');
is(wall_scrape('nosy:pw-n'), '403', 'a role without DESCRIBE on the CLUSTER: 403');
like(`curl -s -u nosy:pw-n http://127.0.0.1:$wport/metrics`,
	qr/role "nosy" may not read the metrics: they need DESCRIBE on the CLUSTER/, 'saying what it needs');
my $ok = 0;
for (1 .. 50)
{
	last if ($ok = wall_scrape('scraper:pw-s') eq '200');
	usleep(100_000);    # the ACL reaches the http process's cache
}
ok($ok, 'a role with DESCRIBE on the CLUSTER: 200');
like(`curl -s -u scraper:pw-s http://127.0.0.1:$wport/metrics`, qr/^nagare_broker_ready 1$/m, 'and the metrics');
is(wall_scrape('admin:pw-a'), '200', 'a superuser: 200');
my ($other_ip) = grep { $_ !~ /^127\./ && /^\d+\.\d+\.\d+\.\d+$/ } split ' ', `hostname -I 2>/dev/null`;
SKIP:
{
	skip 'no non-loopback IPv4 address', 2 unless $other_ip;
	is(wall_scrape(undef, $other_ip), '401', "from $other_ip without credentials: 401");
	is(wall_scrape('scraper:pw-s', $other_ip), '200', "from $other_ip as scraper: 200");
}

$wall->stop;
$node->stop;
done_testing();
