# SASL re-authentication (KIP-368): a login lasts
# nagare.connections_max_reauth_ms, or until the role's VALID UNTIL if that
# comes first, and SaslAuthenticate v1+ says so in SessionLifetimeMs.  A
# client logs in again on its connection (SaslHandshake v1, then
# SaslAuthenticate) as the same user with the same mechanism, and the
# connection goes on; one that does not has its connection closed at its
# next request after the login ended (Kafka closes an expired session's
# connection the same way); a new login as another user, or with another
# mechanism, is refused and closes the connection.
#
# Raw frames (this file's own client) check the protocol exactly; Apache
# Kafka's Java client (test/interop/java), which re-authenticates by itself
# at 85-95% of the lifetime, produces one record every 300 ms for 5 s on
# one connection through three lifetimes of 1.5 s.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(usleep time);

my ($node, $port) = kafka_node('reauth', protocol => 'SASL_PLAINTEXT', conf => q{
password_encryption = 'scram-sha-256'
nagare.connections_max_reauth_ms = 1500
nagare.log_connections = on
});
$node->safe_psql('postgres', q{
CREATE ROLE alice LOGIN SUPERUSER PASSWORD 'alice-pw-1';
CREATE ROLE bob LOGIN SUPERUSER PASSWORD 'bob-pw-12';
CREATE ROLE forever LOGIN SUPERUSER PASSWORD 'forever-pw';
SELECT nagare.create_topic('reauth', 1);
});

# ---- a raw Kafka client

my $corr = 0;

sub kstr { my $s = shift; return pack('n', length $s) . $s }

sub send_req
{
	my ($sock, $api, $ver, $body) = @_;
	my $frame = pack('nnN', $api, $ver, ++$corr) . kstr('reauth-test') . $body;
	print $sock pack('N', length $frame) . $frame;
	return $corr;
}

# The body of the next response (after size and correlation id), or undef
# at the end of the stream
sub read_resp
{
	my $sock = shift;
	my $head = '';
	while (length $head < 4)
	{
		my $n = sysread($sock, $head, 4 - length $head, length $head);
		return undef unless $n;
	}
	my $len = unpack('N', $head);
	my $body = '';
	while (length $body < $len)
	{
		my $n = sysread($sock, $body, $len - length $body, length $body);
		return undef unless $n;
	}
	return substr($body, 4);
}

sub connect_raw
{
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 10)
	  or die "connect: $!";
	$sock->autoflush(1);
	return $sock;
}

# SaslHandshake v1: its error code
sub handshake
{
	my ($sock, $mech) = @_;
	send_req($sock, 17, 1, kstr($mech));
	my $r = read_resp($sock);
	return defined $r ? unpack('n!', $r) : undef;
}

# SaslAuthenticate v1 of PLAIN: (error code, SessionLifetimeMs), undef if
# the connection closed
sub plain_auth
{
	my ($sock, $user, $password) = @_;
	my $token = "\0$user\0$password";
	send_req($sock, 36, 1, pack('N', length $token) . $token);
	my $r = read_resp($sock);
	return () unless defined $r;
	my $err = unpack('n!', $r);
	my $off = 2;
	my $mlen = unpack('n!', substr($r, $off, 2));
	$off += 2 + ($mlen > 0 ? $mlen : 0);
	my $blen = unpack('N', substr($r, $off, 4));
	$off += 4 + $blen;
	my ($hi, $lo) = unpack('NN', substr($r, $off, 8));
	return ($err, $hi * 4294967296 + $lo);
}

sub login
{
	my ($sock, $user, $password) = @_;
	my $h = handshake($sock, 'PLAIN');
	return ("handshake $h") unless defined $h && $h == 0;
	return plain_auth($sock, $user, $password);
}

# ApiVersions v0: whether it was answered (the connection still serves)
sub served
{
	my $sock = shift;
	send_req($sock, 18, 0, '');
	return defined read_resp($sock);
}

# ---- the login's lifetime, and the end of a login nobody renewed

my $s1 = connect_raw();
my ($err, $life) = login($s1, 'alice', 'alice-pw-1');
is($err, 0, 'alice logs in with PLAIN');
is($life, 1500, 'SessionLifetimeMs is nagare.connections_max_reauth_ms');
my $began = time;
ok(served($s1), 'the connection serves while the login lasts');
my $off = log_offset($node);
usleep(1_000_000 * (1.7 - (time - $began))) if time - $began < 1.7;
ok(!served($s1), 'after 1.5 s without a new login, the next request closes the connection');
wait_for_log_from($node,
	qr/closing connection from 127\.0\.0\.1:\d+: the login of User:alice ended 1500 ms after it began, and the client did not log in again/,
	$off);
pass('and nagare.log_connections says why');

# ---- a new login on the connection keeps it open

my $s2 = connect_raw();
($err, $life) = login($s2, 'alice', 'alice-pw-1');
is($err, 0, 'alice logs in again on a new connection');
$began = time;
usleep(1_000_000);
($err, $life) = login($s2, 'alice', 'alice-pw-1');
is("$err $life", '0 1500', 'and again on the same connection before the login ends: a new lifetime');
usleep(1_000_000 * (1.8 - (time - $began))) if time - $began < 1.8;
ok(served($s2), 'past the first login\'s end the connection still serves');
close($s2);

# ---- another user, another mechanism: refused, the connection closed

my $s3 = connect_raw();
login($s3, 'alice', 'alice-pw-1');
($err) = login($s3, 'bob', 'bob-pw-12');
is($err, 58, 'a new login as another user: SASL_AUTHENTICATION_FAILED');
ok(!served($s3), 'and the connection is closed');

my $s4 = connect_raw();
login($s4, 'alice', 'alice-pw-1');
is(handshake($s4, 'SCRAM-SHA-256'), 33, 'a new login with another mechanism: UNSUPPORTED_SASL_MECHANISM');
ok(!served($s4), 'and the connection is closed');

# a wrong password in the new login: refused, closed
my $s5 = connect_raw();
login($s5, 'alice', 'alice-pw-1');
($err) = login($s5, 'alice', 'wrong-password');
is($err, 58, 'a new login with a wrong password: SASL_AUTHENTICATION_FAILED');
ok(!served($s5), 'and the connection is closed');

# ---- VALID UNTIL: a login lasts until it, whichever comes first

$node->safe_psql('postgres', q{
ALTER SYSTEM SET nagare.connections_max_reauth_ms = 0;
SELECT pg_reload_conf();
});
usleep(300_000);
my $s6 = connect_raw();
($err, $life) = login($s6, 'forever', 'forever-pw');
is("$err $life", '0 0', 'without nagare.connections_max_reauth_ms nor VALID UNTIL, a login lasts as long as its connection');
is(handshake($s6, 'PLAIN'), 34, 'so a second login on it is ILLEGAL_SASL_STATE, as before');
close($s6);
$node->safe_psql('postgres',
	q{DO $$ BEGIN EXECUTE format('ALTER ROLE bob VALID UNTIL %L', now() + interval '3 seconds'); END $$});
my $s7 = connect_raw();
($err, $life) = login($s7, 'bob', 'bob-pw-12');
is($err, 0, 'bob logs in, 3 s before his VALID UNTIL');
ok($life > 1000 && $life <= 3000, "the login lasts until VALID UNTIL ($life ms)");
usleep(($life + 300) * 1000);
ok(!served($s7), 'after it, the connection closes at its next request');
my $s8 = connect_raw();
($err) = login($s8, 'bob', 'bob-pw-12');
is($err, 58, 'and bob cannot log in again');

# ---- the Java client re-authenticates by itself

SKIP:
{
	my $jdir = "$FindBin::RealBin/../interop/java";
	skip 'the Java client is not built (test/interop/java/build.sh)', 3
	  unless -f "$jdir/target/.built" && system('java -version >/dev/null 2>&1') == 0;
	$node->safe_psql('postgres', q{
ALTER SYSTEM SET nagare.connections_max_reauth_ms = 1500;
SELECT pg_reload_conf();
});
	usleep(300_000);
	my $tmp = PostgreSQL::Test::Utils::tempdir();
	PostgreSQL::Test::Utils::append_to_file("$tmp/java.properties", <<'EOP');
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-256
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alice-pw-1";
EOP
	$off = log_offset($node);
	my ($rc, $out, $err_out) = run_cmd([ "$jdir/kafka-tool.sh", "127.0.0.1:$port", "$tmp/java.properties",
		'produce', 'reauth', 16, 0, 300 ]);
	my @offsets = grep { /^offset\t/ } split /\n/, $out;
	is(scalar(@offsets), 16, 'the Java client produces 16 records over 5 s') or diag("$out$err_out");
	my %logins;
	my $log = substr(slurp_file($node->logfile), $off);
	$logins{$1}++
	  while $log =~ /connection from (127\.0\.0\.1:\d+) authenticated by SASL\/SCRAM-SHA-256 as User:alice/g;
	my ($most) = sort { $b <=> $a } values %logins;
	cmp_ok($most // 0, '>=', 3, 'logging in again on its connection, at least twice (' . join(', ', map { "$_: $logins{$_}" } sort keys %logins) . ')');
	unlike($log, qr/the login of User:alice ended/, 'no connection of it was closed for a login that ended');
}

$node->stop;
done_testing();
