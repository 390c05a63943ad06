# The registry's DNS server, "nagare dns" (docs/registry.md, "Discovery
# over DNS"), asked with dig and a resolver library (dnspython):
#
#   - A, AAAA, SRV (targets resolve), ANY, a tag, RFC 2782 names, the apex's
#     SOA; NXDOMAIN for an unknown service, REFUSED outside the domain;
#   - instances whose address is a host name: SRV targets are the name, A
#     and AAAA a lone CNAME when no instance has an address, NODATA beside
#     an IP instance's records;
#   - which instances answer: passing and warning (Consul's default), not
#     critical; with nagare.dns_only_passing (a reload) not warning either;
#   - an instance whose TTL lapsed is gone even while the nagare worker's
#     sweep does not run (it is stopped), and a beat brings it back; an
#     instance beating within its TTL stays although its status (and so the
#     table's version) never moves;
#   - 40 instances: over UDP without EDNS0 the answer is cut with TC, over
#     TCP all come, with EDNS0's 4096 bytes all come over UDP too;
#   - dnspython over UDP and TCP, several messages on one TCP connection;
#   - garbage datagrams, a half-sent TCP message held open and a TCP client
#     sending thousands of queries without reading the answers: the next
#     queries are answered at once, the process is the same, the bad query
#     is logged; a half-sent message and one trickled a byte a second are
#     closed 10 s after their first byte;
#   - the wall: with a SASL_PLAINTEXT Kafka listener, 0.0.0.0 is refused
#     with a LOG line.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(time usleep);

sub have { system("@_ >/dev/null 2>&1") == 0 }
plan skip_all => 'dig is needed' unless have('dig -v');
my $py = '/usr/bin/python3';
my $have_dnspython = have("$py -c 'import dns.resolver'");

my $node = nagare_node('dns');
sub sql { return $node->safe_psql('postgres', $_[0]) }
my $port = sql('SHOW nagare.dns_port');

$node->wait_for_log(qr/nagare dns: listening on 127\.0\.0\.1:$port \(UDP and TCP\)/);
my ($dns_pid) = slurp_file($node->logfile) =~ /\[(\d+)\] nagare dns LOG:  nagare dns: listening on/;
ok(pid_alive($dns_pid), "nagare dns runs (pid $dns_pid)");

# dig's answer section (+short unless told otherwise), one line per record, sorted
sub dig
{
	my ($args) = @_;
	my $out = `dig \@127.0.0.1 -p $port +time=2 +tries=1 $args 2>&1`;
	return $out;
}
sub short
{
	my ($args) = @_;
	return join(' ', sort grep { $_ ne '' } split /\n/, dig("+short $args"));
}
sub rcode
{
	my ($args) = @_;
	return dig($args) =~ /status: (\w+)/ ? $1 : 'none';
}

sql("SELECT nagare.register_service('web')");
sql("SELECT nagare.register_instance('web', 'web-1', address => '10.0.0.1', port => 8001, tags => '{primary}', status => 'passing')");
sql("SELECT nagare.register_instance('web', 'web-2', address => '10.0.0.2', port => 8002, status => 'passing')");
sql("SELECT nagare.register_instance('web', 'web-3', address => '2001:db8::1', port => 8003, status => 'passing')");
sql("SELECT nagare.register_instance('web', 'web-crit', address => '10.0.0.9', port => 8009, ttl => '1h', status => 'critical')");
sql("SELECT nagare.register_instance('web', 'web-warn', address => '10.0.0.8', port => 8008, ttl => '1h', status => 'warning')");

ok(wait_until(sub { short('web.service.consul A') ne '' }, 10), 'the service answers');
is(short('web.service.consul A'), '10.0.0.1 10.0.0.2 10.0.0.8',
	'A: passing and warning instances, not the critical one');
is(short('WEB.Service.CONSUL A'), '10.0.0.1 10.0.0.2 10.0.0.8', 'names are case-insensitive');
is(short('web.service.dc1.consul AAAA'), '2001:db8::1', 'AAAA, with the datacenter label');
is(short('web.service.consul ANY'), '10.0.0.1 10.0.0.2 10.0.0.8 2001:db8::1',
	'ANY: the A and AAAA records');
my $srv = dig('+noall +answer +additional web.service.consul SRV');
my @srv = sort map { /\sSRV\s+(\d+ \d+ \d+ \S+)/ ? $1 : () } split /\n/, $srv;
is(scalar(@srv), 4, 'SRV: four records') or diag($srv);
ok((grep { /^1 1 8001 0a000001\.addr\.dc1\.consul\.$/ } @srv), 'SRV: port and target of web-1')
  or diag(join("\n", @srv));
like($srv, qr/^0a000001\.addr\.dc1\.consul\.\s+0\s+IN\s+A\s+10\.0\.0\.1$/m,
	'SRV: the target address in the additional section, TTL 0');
is(short('0a000001.addr.dc1.consul A'), '10.0.0.1', 'an SRV target resolves');
is(short('primary.web.service.consul A'), '10.0.0.1', 'a tag filters');
is(short('_web._primary.service.consul SRV'), '1 1 8001 0a000001.addr.dc1.consul.',
	'RFC 2782: _service._tag');
is(short('_web._tcp.service.consul SRV') =~ tr/ //, 4 * 4 - 1, 'RFC 2782: _tcp is every instance');
is(rcode('nosuch.service.consul A'), 'NXDOMAIN', 'an unknown service: NXDOMAIN');
like(dig('nosuch.service.consul A'), qr/consul\.\s+0\s+IN\s+SOA\s+ns\.consul\. hostmaster\.consul\./,
	'... with the SOA in the authority section');
is(rcode('other.primary.web.service.consul A'), 'NXDOMAIN', 'a tag no instance has: NXDOMAIN');
is(rcode('web.service.consul MX'), 'NOERROR', 'a type the service has no record of: NODATA');
is(rcode('example.com A'), 'REFUSED', 'outside the domain: REFUSED');
like(short('consul SOA'), qr/^ns\.consul\. hostmaster\.consul\. \d+ 3600 600 86400 0$/, "the domain's SOA");

# Consul's only_passing: warning instances left out after a reload
sql("ALTER SYSTEM SET nagare.dns_only_passing = on");
sql("SELECT pg_reload_conf()");
ok(wait_until(sub { short('web.service.consul A') eq '10.0.0.1 10.0.0.2' }, 10),
	'nagare.dns_only_passing: the warning instance is left out');
sql("ALTER SYSTEM RESET nagare.dns_only_passing");
sql("SELECT pg_reload_conf()");
ok(wait_until(sub { short('web.service.consul A') eq '10.0.0.1 10.0.0.2 10.0.0.8' }, 10),
	'and back after a reset');
# a status change is seen at once (it moves the table's version)
sql("SELECT nagare.fail_instance('web-2')");
is(short('web.service.consul A'), '10.0.0.1 10.0.0.8', 'a failed instance is gone at once');
sql("SELECT nagare.pass_instance('web-2')");
is(short('web.service.consul A'), '10.0.0.1 10.0.0.2 10.0.0.8', 'and back after a pass');
sql("SELECT nagare.deregister_instance('web-crit')");

# instances whose address is a host name, as Consul answers them: SRV
# targets are the name itself (no additional record); A and AAAA get one
# CNAME to such a name, only when no instance answering has an IP address
sql("SELECT nagare.register_service('named')");
sql("SELECT nagare.register_instance('named', 'named-1', address => 'db1.example.com', port => 5432, status => 'passing')");
sql("SELECT nagare.register_instance('named', 'named-2', address => 'DB2.example.com.', port => 5433, status => 'passing')");
sql("SELECT nagare.register_service('mixed')");
sql("SELECT nagare.register_instance('mixed', 'mixed-1', address => '10.0.2.1', port => 1, status => 'passing')");
sql("SELECT nagare.register_instance('mixed', 'mixed-2', address => 'mix.example.com', port => 2, status => 'passing')");
is(short('named.service.consul SRV'), '1 1 5432 db1.example.com. 1 1 5433 DB2.example.com.',
	'SRV: a host name is the target itself');
unlike(dig('+noall +additional named.service.consul SRV'), qr/\sIN\s+(A|AAAA|CNAME)\s/,
	'... with no additional record for it');
my $cname = dig('+noall +answer named.service.consul A');
like($cname, qr/^named\.service\.consul\.\s+0\s+IN\s+CNAME\s+(db1\.example\.com|DB2\.example\.com)\.\s*\z/,
	'A: one CNAME to one of the names, nothing beside it') or diag($cname);
my %seen = map { short('named.service.consul A') => 1 } 1 .. 2;
is(join(' ', sort keys %seen), 'DB2.example.com. db1.example.com.', 'the rotation gives each name in turn');
like(dig('+noall +answer named.service.consul AAAA'), qr/^\S+\s+0\s+IN\s+CNAME\s+\S+\s*\z/,
	'AAAA: the CNAME too');
is(rcode('named.service.consul A'), 'NOERROR', '... NOERROR');
is(short('mixed.service.consul A'), '10.0.2.1', 'A with an IP instance beside a named one: the address, no CNAME');
my $mixed6 = dig('mixed.service.consul AAAA');
ok($mixed6 =~ /status: NOERROR/ && $mixed6 =~ /ANSWER: 0,/,
	'AAAA there: NODATA (a CNAME would contradict the A records of the name)') or diag($mixed6);
is(short('mixed.service.consul SRV'), '1 1 1 0a000201.addr.dc1.consul. 1 1 2 mix.example.com.',
	'SRV there: both, the named one by its name');
# for docs/registry.md
note(dig('+noall +answer +additional named.service.consul SRV'));
note($cname);
note(dig('+noall +answer mixed.service.consul A'));
note(dig('mixed.service.consul AAAA'));
sql("SELECT nagare.fail_instance('mixed-1')");
like(dig('+noall +answer mixed.service.consul A'), qr/^\S+\s+0\s+IN\s+CNAME\s+mix\.example\.com\.\s*\z/,
	'the IP instance failed: now the CNAME');
sql("SELECT nagare.deregister_instance(id) FROM nagare.instances WHERE service IN ('named', 'mixed')");

# TTL: an instance beating within its TTL stays (its status never changes,
# so the index's copy of its last beat grows old and is read again) ...
sql("SELECT nagare.register_service('ttl')");
sql("SELECT nagare.register_instance('ttl', 'ttl-1', address => '10.0.1.1', port => 1, ttl => '1s', status => 'passing')");
my $t0 = time;
my $stayed = 1;
while (time - $t0 < 3)
{
	sql("SELECT nagare.pass_instance('ttl-1')");
	$stayed = 0 if short('ttl.service.consul A') ne '10.0.1.1';
	usleep(300_000);
}
ok($stayed, 'an instance beating within its TTL (1 s) answers for 3 s');

# ... and one whose TTL lapsed is gone before any sweep marks it: the nagare
# worker (which sweeps) is stopped meanwhile
my $worker_pid = sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'nagare worker'");
ok(pid_alive($worker_pid), "the nagare worker (pid $worker_pid)");
kill 'STOP', $worker_pid;
sql("SELECT nagare.pass_instance('ttl-1')");
is(short('ttl.service.consul A'), '10.0.1.1', 'answers right after a beat');
usleep(1_500_000);
is(sql("SELECT status FROM nagare.instances WHERE id = 'ttl-1'"), 'passing',
	'no sweep: the table still says passing');
is(rcode('ttl.service.consul A'), 'NXDOMAIN', 'its TTL lapsed: gone from DNS');
sql("SELECT nagare.pass_instance('ttl-1')");
usleep(200_000);
is(short('ttl.service.consul A'), '10.0.1.1', 'a beat brings it back');
kill 'CONT', $worker_pid;
ok(wait_until(sub { rcode('ttl.service.consul A') eq 'NXDOMAIN' }, 10),
	'no more beats: gone (the sweep marks it critical)');

# 40 instances: cut over UDP without EDNS0, whole over TCP and with EDNS0
sql("SELECT nagare.register_service('big')");
sql("SELECT nagare.register_instance('big', 'big-' || i, address => '10.1.0.' || i, port => 9000 + i, status => 'passing') FROM generate_series(1, 40) i");
my $udp = dig('+noedns +ignore big.service.consul A');
my $udp_n = () = $udp =~ /\sIN\s+A\s+10\.1\.0\./g;
like($udp, qr/flags:[^;]*\btc\b/, 'UDP without EDNS0: TC set');
ok($udp_n > 0 && $udp_n < 40, "UDP without EDNS0: $udp_n of 40 records (512 bytes)");
like(dig('+noedns +ignore big.service.consul A'), qr/MSG SIZE  rcvd: (\d+)/, 'a size is reported');
my ($size) = dig('+noedns +ignore big.service.consul A') =~ /MSG SIZE  rcvd: (\d+)/;
ok($size <= 512, "and it is at most 512 bytes ($size)");
my @tcp = split / /, short('+tcp big.service.consul A');
is(scalar(@tcp), 40, 'TCP: all 40');
my $e = dig('+bufsize=4096 +ignore big.service.consul A');
my $e_n = () = $e =~ /\sIN\s+A\s+10\.1\.0\./g;
is($e_n, 40, 'UDP with EDNS0 4096: all 40');
unlike($e, qr/flags:[^;]*\btc\b/, '... and no TC');
my $s = dig('+noedns +ignore big.service.consul SRV');
my $s_n = () = $s =~ /\sIN\s+SRV\s/g;
ok($s_n < 40 && $s =~ /flags:[^;]*\btc\b/, "SRV over UDP without EDNS0: $s_n records and TC");
# dig retries over TCP on its own when it sees TC (as resolvers do)
my @retry = split / /, short('+noedns big.service.consul A');
is(scalar(@retry), 40, 'dig retries over TCP after TC: all 40');

# a resolver library: dnspython's stub resolver over UDP (retrying over TCP
# after TC) and TCP, and several messages on one TCP connection
SKIP:
{
	skip 'python3-dnspython is needed', 4 unless $have_dnspython;
	my $out = `$py - $port 2>&1 <<'PY'
import socket, struct, sys
import dns.message, dns.query, dns.rdatatype, dns.resolver
port = int(sys.argv[1])
r = dns.resolver.Resolver(configure=False)
r.nameservers = ['127.0.0.1']
r.port = port
r.lifetime = 5
a = r.resolve('web.service.consul', 'A')
print('udp', ' '.join(sorted(x.address for x in a)))
a = r.resolve('big.service.consul', 'A')
print('big', len(a))
a = r.resolve('_web._primary.service.consul', 'SRV', tcp=True)
print('tcp', ' '.join('%d %s' % (x.port, x.target) for x in a))
s = socket.create_connection(('127.0.0.1', port))
for name in ('web.service.consul', 'nosuch.service.consul', 'big.service.consul'):
    w = dns.message.make_query(name, 'A').to_wire()
    s.sendall(struct.pack('!H', len(w)) + w)
n = 0
for _ in range(3):
    resp, _ = dns.query.receive_tcp(s, expiration=None)
    n += 1
    print('conn', dns.rcode.to_text(resp.rcode()), sum(len(x) for x in resp.answer))
PY`;
	like($out, qr/^udp 10\.0\.0\.1 10\.0\.0\.2 10\.0\.0\.8$/m, 'dnspython over UDP') or diag($out);
	like($out, qr/^big 40$/m, 'dnspython: TC, then TCP: all 40');
	like($out, qr/^tcp 8001 0a000001\.addr\.dc1\.consul\.$/m, 'dnspython over TCP: SRV');
	like($out, qr/^conn NOERROR 3\nconn NXDOMAIN 0\nconn NOERROR 40$/m,
		'three messages on one TCP connection, answered in order');
}

# bad input: garbage datagrams, a short one, a half-sent TCP message held open
{
	my $u = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'udp') or die;
	srand(15);
	for my $i (1 .. 200)
	{
		my $junk = join('', map { chr(int(rand(256))) } 1 .. (1 + int(rand(300))));
		# a query's header with garbage after it, so the codec answers it
		substr($junk, 2, 2) = "\x01\x00" if length($junk) > 12;
		$u->send($junk);
	}
	$u->send("\x00");
	my $half = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'tcp') or die;
	$half->syswrite("\x00\x40" . ("\x00" x 10));
	# a client that sends 2,000 queries of 40 records over TCP and reads nothing
	my $q = pack('n n n n n n', 0x1234, 0x0100, 1, 0, 0, 0)
	  . join('', map { chr(length($_)) . $_ } qw(big service consul)) . "\x00" . pack('n n', 1, 1);
	my $deaf = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'tcp') or die;
	$deaf->blocking(0);
	my $sent = 0;
	for (1 .. 2000)
	{
		my $w = $deaf->syswrite(pack('n', length($q)) . $q);
		last unless defined $w;
		$sent++;
	}
	note("the deaf client wrote $sent queries before its socket filled");
	my $t = time;
	is(short('web.service.consul A'), '10.0.0.1 10.0.0.2 10.0.0.8', 'UDP answers after garbage, beside a half-sent TCP message and a client not reading');
	is(short('+tcp web.service.consul A'), '10.0.0.1 10.0.0.2 10.0.0.8', 'so does TCP');
	ok(time - $t < 2, sprintf('at once (%.2f s)', time - $t));
	close($deaf);
	is(rcode('+header-only web.service.consul A'), 'FORMERR', 'a query without a question: FORMERR');
	ok(pid_alive($dns_pid), 'nagare dns is the same process');
	like(slurp_file($node->logfile), qr/nagare dns: bad query from 127\.0\.0\.1:\d+/, 'a bad query is logged');
	my $lines = () = slurp_file($node->logfile) =~ /nagare dns: bad query from/g;
	ok($lines <= 10, "... at most 5 lines in 10 s ($lines)");

	# the half-sent message, and one trickled a byte a second, are given
	# 10 s from their first byte, then their connections closed and logged
	my $trickle = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'tcp') or die;
	$_->blocking(0) for ($half, $trickle);
	local $SIG{PIPE} = 'IGNORE';
	$trickle->syswrite("\x00\x40");
	my $t0 = time;
	my ($half_closed, $trickle_closed);
	while (time - $t0 < 15 && !($half_closed && $trickle_closed))
	{
		$trickle->syswrite("\x00") unless $trickle_closed;
		for my $c ([$half, \$half_closed], [$trickle, \$trickle_closed])
		{
			my $buf;
			my $r = $c->[0]->sysread($buf, 100);
			# EOF, or a reset (a byte came after the close)
			${ $c->[1] } //= time - $t0
			  if (defined $r && $r == 0) || (!defined $r && !$!{EAGAIN});
		}
		usleep(500_000);
	}
	ok($half_closed, 'the half-sent message: its connection closed');
	ok(defined $trickle_closed && $trickle_closed > 9 && $trickle_closed < 13,
		sprintf('a message trickled a byte at a time: closed %.1f s after its first byte',
			$trickle_closed // -1));
	like(slurp_file($node->logfile),
		qr/nagare dns: closing the TCP connection of 127\.0\.0\.1:\d+: a message not received or not answered within 10000 ms/,
		'and logged');
	close($half);
	close($trickle);
}

# the wall: an authenticating Kafka listener keeps DNS on loopback
{
	my $dport = PostgreSQL::Test::Cluster::get_free_port();
	my ($walled) = kafka_node('dnswall', protocol => 'SASL_PLAINTEXT', conf => qq{
nagare.dns_listen_addresses = '0.0.0.0, 127.0.0.1'
nagare.dns_port = $dport
});
	$walled->wait_for_log(qr/nagare dns: listening on 127\.0\.0\.1:$dport/);
	like(slurp_file($walled->logfile),
		qr/nagare dns: not listening on 0\.0\.0\.0:$dport: the DNS server has no login, and a Kafka listener authenticates its clients/,
		'the wall: 0.0.0.0 is refused with a LOG line');
	$walled->stop;
}

done_testing();
