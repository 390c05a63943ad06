# SASL PLAIN and SCRAM-SHA-256 logins of Kafka clients as PostgreSQL roles.
#
# Every client (test/interop/sasl_*: kcat and confluent-kafka with
# librdkafka 2.0.2, whose SCRAM final message repeats the client nonce;
# kafka-python 2.0.2, which sends raw SASL frames after SaslHandshake v0;
# kafkajs and @platformatic/kafka, SaslAuthenticate v1 and v2) logs in with
# both mechanisms as a role created with CREATE ROLE ... PASSWORD, then
# produces a record and consumes it back.  Refused, with one generic
# answer: a wrong password, an unknown user, a NOLOGIN role, an expired
# role, a role without a password, SCRAM for a role whose password is
# stored as md5 (PLAIN works for it, as in PostgreSQL), and SCRAM with a
# password that PostgreSQL's SASLprep changes (PLAIN works: the server
# SASLpreps, Kafka clients do not).  An unknown user
# gets a SCRAM exchange like a known one (a stable mock salt, 4096
# iterations).  Before authentication only ApiVersions and the SASL APIs
# are served: a Metadata request closes the connection.  Failures are
# counted in nagare.broker.auth_failures and logged without flooding.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;

my $python = '/usr/bin/python3';
my $dir = "$FindBin::RealBin/../interop";

plan skip_all => "$python is not installed" unless -x $python;

sub have { system("@_ >/dev/null 2>&1") == 0 }
my $node_bin = have('node --version');
my %avail = (
	kcat => have('kcat -V'),
	confluent => have("$python -c 'import confluent_kafka'"),
	kafka_python => have("$python -c 'import kafka'"),
	kafkajs => $node_bin && -d "$dir/node_modules/kafkajs",
	platformatic => $node_bin && -d "$dir/node_modules/\@platformatic/kafka",
);
my @clients = grep { $avail{$_} } qw(kcat confluent kafka_python kafkajs platformatic);
note("client $_ is not installed: its parts are skipped")
  for grep { !$avail{$_} } sort keys %avail;

# One SASL_PLAINTEXT listener (nagare.listeners)
my ($node, $port) = kafka_node('sasl', protocol => 'SASL_PLAINTEXT',
	conf => "password_encryption = 'scram-sha-256'\n");
my $boot = "127.0.0.1:$port";

$node->safe_psql('postgres', q{
CREATE ROLE alice LOGIN PASSWORD 'alice-secret-1';
CREATE ROLE bob NOLOGIN PASSWORD 'bob-secret-123';
CREATE ROLE carol LOGIN PASSWORD 'carol-secret-1' VALID UNTIL '2000-01-01';
CREATE ROLE dave LOGIN;
CREATE ROLE frank LOGIN PASSWORD 'ｐass-word-1';
SET password_encryption = 'md5';
CREATE ROLE erin LOGIN PASSWORD 'erin-secret-12';
});

# A SASL listener authenticates, so a resource without ACLs is closed
# (nagare.allow_everyone_if_no_acl_found = auto): the roles that log in
# successfully are granted what producing and consuming need.
is($node->safe_psql('postgres', q{
SELECT count(*) FROM (
  SELECT nagare.create_acl(t, '*', 'User:' || u, 'ALL')
  FROM unnest(ARRAY['TOPIC', 'GROUP']) t, unnest(ARRAY['alice', 'frank', 'erin']) u) a
}), '6', 'ACLs for the roles that log in');

sub run_json
{
	my (@argv) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run \@argv, '>', \$out, '2>', \$err, IPC::Run::timeout(240);
	my ($last) = grep { /^\{/ } reverse split /\n/, $out;
	my $r = defined $last ? eval { decode_json($last) } : undef;
	return $r // { ok => 0, auth_error => 0, error => "no result: $out $err" };
}

sub login
{
	my ($client, $mech, $user, $password, $topic) = @_;
	my @argv =
		$client eq 'kafkajs' ? ('node', "$dir/sasl_kafkajs.mjs")
	  : $client eq 'platformatic' ? ('node', "$dir/sasl_platformatic.mjs")
	  : ($python, "$dir/sasl_clients.py", $client);
	return run_json(@argv, $boot, $mech, $user, $password, $topic);
}

sub raw { return run_json($python, "$dir/sasl_clients.py", 'raw', $boot, @_) }

sub failures
{
	return $node->safe_psql('postgres', 'SELECT auth_failures FROM nagare.broker');
}

# ---------------------------------------------------------------- before authentication

my $r = raw('api_versions');
is($r->{error}, 0, 'ApiVersions is served before authentication');
is_deeply($r->{sasl_handshake}, [ 0, 1 ], 'SaslHandshake v0-1 advertised');
is_deeply($r->{sasl_authenticate}, [ 0, 2 ], 'SaslAuthenticate v0-2 advertised');

my $before = failures();
$r = raw('illegal_state');
ok($r->{closed} && !$r->{response},
	'Metadata before authentication: the connection is closed unanswered (ILLEGAL_SASL_STATE)');
ok(failures() > $before, 'the refused request is counted as a failed authentication');

$r = raw('mechanism', 'SCRAM-SHA-512');
is($r->{error}, 33, 'SCRAM-SHA-512: UNSUPPORTED_SASL_MECHANISM');
is_deeply($r->{mechanisms}, [ 'PLAIN', 'SCRAM-SHA-256' ], 'the mechanisms offered');
ok($r->{closed}, 'the connection is closed after the answer');

# An unknown user learns nothing: a salt as stable as a real one's
my $a1 = raw('scram_first', 'alice');
my $n1 = raw('scram_first', 'nobody');
my $n2 = raw('scram_first', 'nobody');
is($a1->{error}, 0, 'SCRAM first round for a role');
is($n1->{error}, 0, 'SCRAM first round for an unknown user too');
my ($salt_n1) = ($n1->{server_first} // '') =~ /,s=([^,]+),i=4096$/;
my ($salt_n2) = ($n2->{server_first} // '') =~ /,s=([^,]+),i=4096$/;
ok(defined $salt_n1 && ($a1->{server_first} // '') =~ /,s=[^,]+,i=4096$/,
	'the same form for both (salt, 4096 iterations)')
  or diag(explain([ $a1, $n1 ]));
is($salt_n1, $salt_n2, "an unknown user's mock salt is stable");

# ---------------------------------------------------------------- logins

my @topics;
for my $client (@clients)
{
	for my $mech (qw(PLAIN SCRAM-SHA-256))
	{
		(my $m = lc $mech) =~ s/-//g;
		push @topics, "sasl_${client}_$m";
	}
}
push @topics, 'sasl_md5', 'sasl_after_refusals', 'sasl_saslprep';
$node->safe_psql('postgres', join('', map { "SELECT nagare.create_topic('$_', 1);\n" } @topics));
sleep(1);

for my $client (@clients)
{
	for my $mech (qw(PLAIN SCRAM-SHA-256))
	{
		(my $m = lc $mech) =~ s/-//g;
		$r = login($client, $mech, 'alice', 'alice-secret-1', "sasl_${client}_$m");
		ok($r->{ok}, "$client logs in with $mech, produces and consumes")
		  or diag(explain($r));
	}
}

# ---------------------------------------------------------------- refusals

$before = failures();
my $refusals = 0;
sub refused
{
	my ($client, $mech, $user, $password, $what) = @_;
	my $r = login($client, $mech, $user, $password, 'sasl_refused');
	ok(!$r->{ok} && $r->{auth_error}, "$client, $mech: $what is refused")
	  or diag(explain($r));
	$refusals++;
}

for my $client (@clients)
{
	refused($client, 'SCRAM-SHA-256', 'alice', 'wrong-password', 'a wrong password');
}
refused('kafka_python', 'PLAIN', 'alice', 'wrong-password', 'a wrong password (raw frames)')
  if $avail{kafka_python};

my $refuser = $avail{confluent} ? 'confluent' : $clients[0];
SKIP:
{
	skip 'no client to be refused', 13 unless defined $refuser;
	for my $mech (qw(PLAIN SCRAM-SHA-256))
	{
		refused($refuser, $mech, 'nobody', 'nobody-secret-1', 'an unknown user');
		refused($refuser, $mech, 'bob', 'bob-secret-123', 'a NOLOGIN role');
		refused($refuser, $mech, 'carol', 'carol-secret-1', 'an expired role (rolvaliduntil past)');
		refused($refuser, $mech, 'dave', 'dave-secret-12', 'a role without a password');
	}
	refused($refuser, 'SCRAM-SHA-256', 'erin', 'erin-secret-12', 'a role with an md5 password');
	$r = login($refuser, 'PLAIN', 'erin', 'erin-secret-12', 'sasl_md5');
	ok($r->{ok}, "$refuser, PLAIN: a role with an md5 password logs in, as in PostgreSQL")
	  or diag(explain($r));
	# PostgreSQL SASLpreps passwords (the full-width p becomes p); Kafka
	# clients do not, so only PLAIN, where the server does, matches
	refused($refuser, 'SCRAM-SHA-256', 'frank', 'ｐass-word-1', 'a password SASLprep changes');
	$r = login($refuser, 'PLAIN', 'frank', 'ｐass-word-1', 'sasl_saslprep');
	ok($r->{ok}, "$refuser, PLAIN: a password SASLprep changes logs in") or diag(explain($r));
	$r = login($refuser, 'PLAIN', 'alice', 'alice-secret-1', 'sasl_after_refusals');
	ok($r->{ok}, 'logins still work after the refusals') or diag(explain($r));
}

# The one answer of a failed login, whatever the reason
for my $case ([ 'alice', 'wrong-password' ], [ 'nobody', 'nobody-secret-1' ], [ 'bob', 'bob-secret-123' ])
{
	$r = raw('plain', @$case);
	is_deeply($r, { error => 58, message => 'Authentication failed: Invalid username or password' },
		"SaslAuthenticate for $case->[0]: SASL_AUTHENTICATION_FAILED and the generic message");
	$refusals++;
}
$r = raw('plain', 'alice', 'alice-secret-1');
is_deeply($r, { error => 0, message => undef }, 'SaslAuthenticate PLAIN for alice succeeds');

# The answer to a failed login is held back (Kafka's
# connection.failed.authentication.delay.ms); the setting takes effect at
# the broker's next turn after the reload
$node->append_conf('postgresql.conf', "nagare.connection_failed_authentication_delay_ms = 1500\n");
$node->reload;
my $took = 0;
ok(wait_until(sub {
	my $t0 = Time::HiRes::time();
	my $w = raw('plain', 'alice', 'wrong-password');
	$took = Time::HiRes::time() - $t0;
	$refusals++;
	return ($w->{error} // -1) == 58 && $took >= 1.5;
}, 30), 'a wrong password is answered no sooner than nagare.connection_failed_authentication_delay_ms')
  or diag("the last refusal took $took s");
$node->append_conf('postgresql.conf', "nagare.connection_failed_authentication_delay_ms = 100\n");
$node->reload;

# A storm of logins (each a key derivation in the nagare worker) while a
# client logs in, produces and consumes: nothing stalls
SKIP:
{
	skip 'no client for the storm', 2 unless defined $refuser;
	my ($sout, $serr) = ('', '');
	my $storm = IPC::Run::start([ $python, "$dir/sasl_clients.py", 'raw', $boot, 'storm', '300' ],
		'>', \$sout, '2>', \$serr, IPC::Run::timeout(240));
	$r = login($refuser, 'SCRAM-SHA-256', 'alice', 'alice-secret-1', 'sasl_after_refusals');
	ok($r->{ok}, 'a client logs in, produces and consumes during a storm of 300 logins')
	  or diag(explain($r));
	$storm->finish;
	my ($last) = grep { /^\{/ } reverse split /\n/, $sout;
	my $st = defined $last ? decode_json($last) : { refused => 0, other => [$serr] };
	is($st->{refused}, 300, 'every login of the storm is refused with SASL_AUTHENTICATION_FAILED')
	  or diag(explain($st));
	$refusals += 300;
}

my $after = failures();
cmp_ok($after - $before, '>=', $refusals, "every refusal counted in nagare.broker.auth_failures ($refusals)");
ok(wait_until(sub { slurp_file($node->logfile) =~ /failed authentication\(s\) since the last report, the latest from 127\.0\.0\.1:\d+/ }),
	'failures are logged');
my $lines = () = slurp_file($node->logfile) =~ /failed authentication\(s\) since the last report/g;
cmp_ok($lines, '<', $after, 'failures are logged without a line each');
# ---------------------------------------------------------------- superusers

# A PostgreSQL superuser is a Kafka super user (as on the SQL door): no ACL
# needed; a role without ACLs is denied; NOSUPERUSER applies at the next login
SKIP:
{
	skip 'confluent-kafka is not installed', 3 unless $avail{confluent};
	$node->safe_psql('postgres', q{
CREATE ROLE root_like LOGIN SUPERUSER PASSWORD 'root-secret-12';
CREATE ROLE grace LOGIN PASSWORD 'grace-secret-12';
SELECT nagare.create_topic('sasl_super', 1);
});
	$r = login('confluent', 'SCRAM-SHA-256', 'root_like', 'root-secret-12', 'sasl_super');
	ok($r->{ok}, 'a superuser role with no ACL produces and consumes') or diag(explain($r));
	$r = login('confluent', 'PLAIN', 'grace', 'grace-secret-12', 'sasl_super');
	ok(!$r->{ok} && ($r->{error} // '') =~ /AUTHORIZATION/, 'a role with no ACL may not')
	  or diag(explain($r));
	$node->safe_psql('postgres', 'ALTER ROLE root_like NOSUPERUSER');
	$r = login('confluent', 'PLAIN', 'root_like', 'root-secret-12', 'sasl_super');
	ok(!$r->{ok} && ($r->{error} // '') =~ /AUTHORIZATION/, 'nor the same role once NOSUPERUSER')
	  or diag(explain($r));
}

my $nagare_lines = join("\n", grep { /nagare (broker|worker)/ } split /\n/, slurp_file($node->logfile));
unlike($nagare_lines, qr/wrong-password|secret-1/, "no password in the broker's and worker's log lines");

done_testing();
