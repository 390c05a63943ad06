# Kafka listeners, TLS and mTLS principals.
#
# Certificates are made here with openssl (NagareTest's make_ca and
# make_cert): a CA, a server certificate for 127.0.0.1 and localhost, client
# certificates from that CA (one of them expired) and one from another CA.
# Then:
#
#   - a PLAINTEXT and an SSL listener side by side (nagare.listeners): kcat,
#     confluent-kafka, kafka-python and kafkajs produce and consume over SSL,
#     Metadata advertises each client its own listener, several-MB fetches
#     come through TLS whole, a plain client on the TLS port fails without
#     hurting the others, renegotiation is refused, and the same with
#     nagare.io_method = plain;
#   - mTLS (nagare.ssl_client_auth = required): a good certificate connects
#     and is authenticated as the role nagare.ssl_principal_mapping_rules
#     makes of its subject (logged with nagare.log_connections) if that
#     role may log in (none, NOLOGIN and past VALID UNTIL are refused and
#     counted); a certificate from another CA, an expired one and none at
#     all are refused; nagare.advertised_listeners and a custom protocol map;
#   - a TLS listener without a usable certificate stays closed with an error
#     and a hint, and the PLAINTEXT listener beside it opens.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use IPC::Run;

my $python = '/usr/bin/python3';
my $dir = "$FindBin::RealBin/../interop";

sub have { system("@_ >/dev/null 2>&1") == 0 }
plan skip_all => 'openssl is not installed' unless have('openssl version');
plan skip_all => 'kcat is not installed' unless have('kcat -V');
my $have_confluent = have("$python -c 'import confluent_kafka'");
my $have_kafka_python = have("$python -c 'import kafka'");
my $have_kafkajs = have('node --version') && -d "$dir/node_modules/kafkajs";

# ---------------------------------------------------------------- certificates

my $certs = PostgreSQL::Test::Utils::tempdir();

make_ca($certs, 'ca', '/CN=nagare test CA');
make_ca($certs, 'otherca', '/CN=some other CA');
make_cert($certs, 'server', 'ca', '/CN=localhost',
	ext => "subjectAltName = DNS:localhost, IP:127.0.0.1\n");
make_cert($certs, 'alice', 'ca', '/C=JP/O=nagare/OU=clients/CN=Alice');
make_cert($certs, 'svc', 'ca', '/C=JP/O=nagare/CN=svc');
make_cert($certs, 'mallory', 'otherca', '/C=JP/O=nagare/OU=clients/CN=Mallory');
make_cert($certs, 'expired', 'ca', '/C=JP/O=nagare/OU=clients/CN=Carol', days => -1);
my $ca = "$certs/ca.crt";

# ---------------------------------------------------------------- helpers

my $kcat_ssl = "-X security.protocol=ssl -X ssl.ca.location=$ca";
sub kcat_ssl_cert { my ($n) = @_; return "$kcat_ssl -X ssl.certificate.location=$certs/$n.crt -X ssl.key.location=$certs/$n.key" }

# The brokers kcat's Metadata shows ("host:port", ...)
sub kcat_brokers
{
	my ($boot, $opts) = @_;
	my ($rc, $out, $err) = run_cmd("kcat -b $boot $opts -m 15 -L");
	return "failed: $err" if $rc != 0;
	return join(',', sort($out =~ /broker \d+ at (\S+?)(?: \(controller\))?$/mg));
}

sub client
{
	my ($argv, $boot, $cmd, %args) = @_;
	my $argstr = encode_json(\%args);
	$argstr =~ s/'/'\\''/g;
	my ($rc, $out, $err) = run_cmd("@$argv $boot $cmd '$argstr'", undef, 180);
	my $r = $rc == 0 ? eval { decode_json($out) } : undef;
	return $r // { failed => "exit $rc: $err$out" };
}

sub tls_py { my ($c, @rest) = @_; return client([ $python, "$dir/tls_clients.py", $c ], @rest) }
sub tls_js { return client([ 'node', "$dir/tls_kafkajs.mjs" ], @_) }

# ---------------------------------------------------------------- PLAINTEXT beside SSL

my $pport = PostgreSQL::Test::Cluster::get_free_port();
my $sport = PostgreSQL::Test::Cluster::get_free_port();
my $node = nagare_node('tls', conf => qq{
nagare.listeners = 'PLAINTEXT://127.0.0.1:$pport, SSL://127.0.0.1:$sport'
nagare.ssl_cert_file = '$certs/server.crt'
nagare.ssl_key_file = '$certs/server.key'
nagare.log_connections = on
nagare.message_max_bytes = 2000000
});
$node->wait_for_log(qr/listening for Kafka clients on 127\.0\.0\.1 port $pport$/m);
$node->wait_for_log(qr/listening for Kafka clients on 127\.0\.0\.1 port $sport \(SSL\)/);
pass('a PLAINTEXT and an SSL listener open');

is(kcat_brokers("127.0.0.1:$sport", $kcat_ssl), "127.0.0.1:$sport",
	'Metadata on the SSL listener advertises the SSL listener');
is(kcat_brokers("127.0.0.1:$pport", ''), "127.0.0.1:$pport",
	'Metadata on the PLAINTEXT listener advertises the PLAINTEXT listener');

# kcat produces and consumes over SSL
{
	my $in = join('', map { "kcat-$_\n" } 1 .. 100);
	my ($rc, $out, $err) = run_cmd("kcat -b 127.0.0.1:$sport $kcat_ssl -P -t tls_kcat", $in);
	is($rc, 0, 'kcat produces over SSL') or diag($err);
	($rc, $out, $err) = run_cmd("kcat -b 127.0.0.1:$sport $kcat_ssl -C -t tls_kcat -o beginning -c 100 -e");
	is($out, $in, 'kcat consumes over SSL what it produced') or diag($err);
	($rc, $out, $err) = run_cmd("kcat -b 127.0.0.1:$pport -C -t tls_kcat -o beginning -c 100 -e");
	is($out, $in, 'the PLAINTEXT listener serves the same topic');
}
like(slurp_file($node->logfile), qr/connection from 127\.0\.0\.1:\d+ on listener SSL \(TLSv1\.[23], /,
	'the TLS connection is logged with its protocol');

# a plain client on the TLS port fails cleanly, the others carry on
{
	my ($rc, $out, $err) = run_cmd("kcat -b 127.0.0.1:$sport -m 5 -L");
	isnt($rc, 0, 'a plain client on the SSL listener fails');
	$node->wait_for_log(qr/TLS handshake with 127\.0\.0\.1:\d+ on listener SSL failed/);
	pass('the failed handshake is logged');
	is(kcat_brokers("127.0.0.1:$sport", $kcat_ssl), "127.0.0.1:$sport",
		'the SSL listener still serves TLS clients');
	is(kcat_brokers("127.0.0.1:$pport", ''), "127.0.0.1:$pport",
		'the PLAINTEXT listener still serves plain clients');
}

# a client asking to renegotiate (TLS 1.2; 1.3 has no renegotiation) is refused
{
	my ($rc, $out, $err) = run_cmd("(printf 'R\\n'; sleep 2) | openssl s_client -connect 127.0.0.1:$sport -tls1_2 -CAfile $ca -msg 2>&1", undef, 30);
	like($out, qr/RENEGOTIATING/, 'openssl s_client asks to renegotiate');
	like($out, qr/<<< TLS 1\.2, Alert \[length 0002\], warning no_renegotiation/,
		'the broker answers no_renegotiation');
	is(kcat_brokers("127.0.0.1:$sport", $kcat_ssl), "127.0.0.1:$sport",
		'the SSL listener serves clients after the refusal');
}

# the other clients, each producing and consuming over SSL
my @clients;
push @clients, [ 'confluent', sub { tls_py('confluent', @_) } ] if $have_confluent;
push @clients, [ 'kafka_python', sub { tls_py('kafka_python', @_) } ] if $have_kafka_python;
push @clients, [ 'kafkajs', \&tls_js ] if $have_kafkajs;
note('not installed: ' . join(', ', grep { my $c = $_; !grep { $_->[0] eq $c } @clients } qw(confluent kafka_python kafkajs)));
for my $c (@clients)
{
	my ($name, $run) = @$c;
	my $topic = "tls_$name";
	my $r = $run->("127.0.0.1:$sport", 'produce', ca => $ca, topic => $topic, count => 50, size => 1000);
	is_deeply($r, { produced => 50 }, "$name produces over SSL");
	$r = $run->("127.0.0.1:$sport", 'consume', ca => $ca, topic => $topic, count => 50);
	is_deeply($r, tls_client_values(50, 1000), "$name consumes over SSL");
}

# several-MB fetches through TLS
if ($have_confluent)
{
	my $size = 1024 * 1024;
	my $r = tls_py('confluent', "127.0.0.1:$sport", 'produce', ca => $ca, topic => 'tls_big', count => 12, size => $size);
	is_deeply($r, { produced => 12 }, 'confluent produces 12 MB over SSL');
	$r = tls_py('confluent', "127.0.0.1:$sport", 'consume', ca => $ca, topic => 'tls_big', count => 12);
	is_deeply($r, tls_client_values(12, $size), 'confluent fetches 12 MB over SSL, whole');
	$r = tls_py('kafka_python', "127.0.0.1:$sport", 'consume', ca => $ca, topic => 'tls_big', count => 12)
	  if $have_kafka_python;
	is_deeply($r, tls_client_values(12, $size), 'kafka-python fetches 12 MB over SSL, whole')
	  if $have_kafka_python;
	my ($rc, $out, $err) = run_cmd("kcat -b 127.0.0.1:$sport $kcat_ssl -X fetch.max.bytes=52428800 -X max.partition.fetch.bytes=33554432 -C -t tls_big -o beginning -c 12 -e -f '%S\\n'");
	is($out, join('', map { "$size\n" } 1 .. 12), 'kcat fetches 12 MB over SSL') or diag($err);
}

# the plain I/O method
$node->append_conf('postgresql.conf', "nagare.io_method = plain\n");
my $off = log_offset($node);
$node->restart;
wait_for_log_from($node, qr/listening for Kafka clients on 127\.0\.0\.1 port $sport \(SSL\)/, $off);
{
	my $in = join('', map { "plain-$_\n" } 1 .. 100);
	my ($rc, $out, $err) = run_cmd("kcat -b 127.0.0.1:$sport $kcat_ssl -P -t tls_plainio", $in);
	is($rc, 0, 'kcat produces over SSL with nagare.io_method = plain') or diag($err);
	($rc, $out, $err) = run_cmd("kcat -b 127.0.0.1:$sport $kcat_ssl -C -t tls_plainio -o beginning -c 100 -e");
	is($out, $in, 'kcat consumes over SSL with nagare.io_method = plain') or diag($err);
	if ($have_confluent)
	{
		my $r = tls_py('confluent', "127.0.0.1:$sport", 'consume', ca => $ca, topic => 'tls_big', count => 12);
		is_deeply($r, tls_client_values(12, 1024 * 1024), 'confluent fetches 12 MB over SSL with nagare.io_method = plain');
	}
}
$node->stop;

# ---------------------------------------------------------------- mTLS

my $iport = PostgreSQL::Test::Cluster::get_free_port();
my $mport = PostgreSQL::Test::Cluster::get_free_port();
my $mnode = nagare_node('mtls', conf => qq{
nagare.listeners = 'INTERNAL://127.0.0.1:$iport,CLIENTS://127.0.0.1:$mport'
nagare.listener_security_protocol_map = 'INTERNAL:PLAINTEXT,CLIENTS:SSL'
nagare.advertised_listeners = 'INTERNAL://localhost:$iport'
nagare.ssl_cert_file = '$certs/server.crt'
nagare.ssl_key_file = '$certs/server.key'
nagare.ssl_ca_file = '$certs/ca.crt'
nagare.ssl_client_auth = required
nagare.ssl_principal_mapping_rules = 'RULE:^CN=([^,]+),OU=clients,O=nagare,C=JP\$/\$1/L, DEFAULT'
nagare.log_connections = on
});
$mnode->wait_for_log(qr/listening for Kafka clients on 127\.0\.0\.1 port $mport \(CLIENTS, SSL\)/);
$mnode->wait_for_log(qr/listening for Kafka clients on 127\.0\.0\.1 port $iport \(INTERNAL, PLAINTEXT\)/);
pass('listeners named through nagare.listener_security_protocol_map open');

# ssl_client_auth authenticates, so resources without ACLs are closed
# (nagare.allow_everyone_if_no_acl_found = auto): User:alice may use topics
# and consumer groups
$mnode->safe_psql('postgres', q{SELECT nagare.create_acl(t, '*', 'User:alice', 'ALL')
  FROM unnest(ARRAY['TOPIC', 'GROUP']) t});

is(kcat_brokers("127.0.0.1:$iport", ''), "localhost:$iport",
	'the INTERNAL listener advertises what nagare.advertised_listeners says');

# A certificate's principal is a PostgreSQL role that may log in: no role
# alice yet, then one without LOGIN, then one past VALID UNTIL, are refused
# (the connection closed after the handshake, counted as a failed
# authentication); then alice may log in.
for my $step ([ '', 'no role of its name' ],
	[ 'CREATE ROLE alice NOLOGIN', 'a role without LOGIN' ],
	[ "ALTER ROLE alice LOGIN VALID UNTIL '2001-01-01'", 'a role past VALID UNTIL' ])
{
	my ($sql, $what) = @$step;
	$mnode->safe_psql('postgres', $sql) if $sql;
	my $failures = $mnode->safe_psql('postgres', 'SELECT auth_failures FROM nagare.broker');
	my $off = log_offset($mnode);
	like(kcat_brokers("127.0.0.1:$mport", kcat_ssl_cert('alice')), qr/^failed/,
		"a good certificate mapped to $what is refused");
	ok($mnode->safe_psql('postgres', 'SELECT auth_failures FROM nagare.broker') > $failures,
		'... counted as a failed authentication');
	unlike(log_since($mnode, $off), qr/authenticated by its client certificate/, '... and authenticates nobody');
}
like(slurp_file($mnode->logfile), qr/failed authentication\(s\) since the last report, the latest from 127\.0\.0\.1:\d+ as user "alice"/,
	'the refusal is logged with the role name');
$mnode->safe_psql('postgres', "ALTER ROLE alice VALID UNTIL 'infinity'");
is(kcat_brokers("127.0.0.1:$mport", kcat_ssl_cert('alice')), "127.0.0.1:$mport",
	'a client with a good certificate of a role that may log in reads Metadata over mTLS');
$mnode->wait_for_log(qr/on listener CLIENTS \(TLSv1\.[23], [^)]*\) presents client certificate "CN=Alice,OU=clients,O=nagare,C=JP" for role "alice"/);
$mnode->wait_for_log(qr/connection from 127\.0\.0\.1:\d+ authenticated by its client certificate as User:alice/);
pass('the certificate subject is mapped to User:alice by a RULE (lower-cased)');

{
	my $in = join('', map { "mtls-$_\n" } 1 .. 20);
	my ($rc, $out, $err) = run_cmd("kcat -b 127.0.0.1:$mport " . kcat_ssl_cert('alice') . " -P -t mtls", $in);
	is($rc, 0, 'kcat produces over mTLS') or diag($err);
	($rc, $out, $err) = run_cmd("kcat -b 127.0.0.1:$mport " . kcat_ssl_cert('alice') . " -C -t mtls -o beginning -c 20 -e");
	is($out, $in, 'kcat consumes over mTLS') or diag($err);
}

$mnode->safe_psql('postgres', 'CREATE ROLE "CN=svc,O=nagare,C=JP" LOGIN');
is(kcat_brokers("127.0.0.1:$mport", kcat_ssl_cert('svc')), "127.0.0.1:$mport",
	'a certificate no RULE matches connects (its role is named by the whole subject)');
$mnode->wait_for_log(qr/authenticated by its client certificate as User:CN=svc,O=nagare,C=JP/);
pass('DEFAULT makes the principal the whole subject in RFC 2253 form');

for my $bad ([ 'mallory', 'a certificate from another CA' ],
	[ 'expired', 'an expired certificate' ])
{
	my ($name, $what) = @$bad;
	my $off = log_offset($mnode);
	like(kcat_brokers("127.0.0.1:$mport", kcat_ssl_cert($name)), qr/^failed/, "$what is refused");
	wait_for_log_from($mnode, qr/TLS handshake with 127\.0\.0\.1:\d+ on listener CLIENTS failed: /, $off);
	unlike(log_since($mnode, $off), qr/authenticated by its client certificate/, "$what authenticates nobody");
}
{
	my $off = log_offset($mnode);
	like(kcat_brokers("127.0.0.1:$mport", $kcat_ssl), qr/^failed/,
		'a client without a certificate is refused when one is required');
	wait_for_log_from($mnode, qr/TLS handshake with 127\.0\.0\.1:\d+ on listener CLIENTS failed: /, $off);
	pass('its failed handshake is logged');
}
like(slurp_file($mnode->logfile), qr/on listener CLIENTS failed: client certificate: certificate has expired/,
	'the log says the certificate had expired');
if ($have_confluent)
{
	my %cert = (ca => $ca, cert => "$certs/alice.crt", key => "$certs/alice.key");
	my $r = tls_py('confluent', "127.0.0.1:$mport", 'produce', %cert, topic => 'mtls_confluent', count => 20, size => 100);
	is_deeply($r, { produced => 20 }, 'confluent produces over mTLS');
	$r = tls_py('confluent', "127.0.0.1:$mport", 'consume', %cert, topic => 'mtls_confluent', count => 20);
	is_deeply($r, tls_client_values(20, 100), 'confluent consumes over mTLS');
}
if ($have_kafka_python)
{
	my %cert = (ca => $ca, cert => "$certs/alice.crt", key => "$certs/alice.key");
	my $r = tls_py('kafka_python', "127.0.0.1:$mport", 'consume', %cert, topic => 'mtls', count => 20);
	is($r->{count}, 20, 'kafka-python consumes over mTLS');
}
if ($have_kafkajs)
{
	my %cert = (ca => $ca, cert => "$certs/alice.crt", key => "$certs/alice.key");
	my $r = tls_js("127.0.0.1:$mport", 'produce', %cert, topic => 'mtls_kafkajs', count => 20, size => 100);
	is_deeply($r, { produced => 20 }, 'kafkajs produces over mTLS');
}
$mnode->stop;

# ---------------------------------------------------------------- no certificate

my $nport = PostgreSQL::Test::Cluster::get_free_port();
my $xport = PostgreSQL::Test::Cluster::get_free_port();
my $bnode = nagare_node('nocert', conf => qq{
nagare.listeners = 'PLAINTEXT://127.0.0.1:$nport,SSL://127.0.0.1:$xport'
nagare.ssl_cert_file = 'missing.crt'
});
$bnode->wait_for_log(qr/listening for Kafka clients on 127\.0\.0\.1 port $nport$/m);
like(slurp_file($bnode->logfile),
	qr/could not load the TLS server certificate "missing\.crt".*\n.*HINT:  Set nagare\.ssl_cert_file/,
	'a TLS listener without a certificate logs an error with a hint');
like(slurp_file($bnode->logfile), qr/not listening on 127\.0\.0\.1 port $xport \(SSL\): TLS is not configured/,
	'and stays closed');
is(kcat_brokers("127.0.0.1:$nport", ''), "127.0.0.1:$nport", 'the PLAINTEXT listener beside it serves clients');
$bnode->stop;

done_testing();
