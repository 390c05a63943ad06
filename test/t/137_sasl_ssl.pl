# SASL_SSL: SASL PLAIN and SCRAM-SHA-256 logins as PostgreSQL roles inside
# TLS, by every client family, and the Java client on every security
# protocol that authenticates.
#
# One node with four listeners (nagare.listeners): PLAINTEXT, SASL_SSL,
# SASL_PLAINTEXT and SSL, certificates made with openssl (NagareTest's
# make_ca and make_cert), nagare.ssl_client_auth = requested and
# nagare.allow_everyone_if_no_acl_found = off.  Then:
#
#   - ACLs apply to the principal SASL names on SASL_SSL: alice produces to
#     her topics and is refused another (TOPIC_AUTHORIZATION_FAILED, the
#     denial logged with User:alice), bob, whose topic it is, produces and
#     consumes it, also when his TLS connection carries alice's client
#     certificate (on SASL_SSL the certificate does not name the principal),
#     and User:ANONYMOUS on the PLAINTEXT listener beside it is refused
#     alice's topics and does not see them in Metadata; each listener
#     advertises itself;
#   - over SASL_SSL, kcat and confluent-kafka (librdkafka 2.0.2),
#     kafka-python 2.0.2, kafkajs and @platformatic/kafka log in with PLAIN
#     and with SCRAM-SHA-256, produce a record and consume it back
#     (test/interop/sasl_* with --ssl); records of 512 KiB come through
#     SASL_SSL whole for confluent-kafka, kafka-python and kafkajs
#     (test/interop/tls_* with a "sasl" login);
#   - Kafka's Java client (KafkaTool, kafka-clients 4.4.0) produces and
#     consumes in a group over SASL_SSL with PLAIN (a PEM truststore file,
#     ssl.truststore.location) and SCRAM-SHA-256 (the CA inline,
#     ssl.truststore.certificates), over SASL_PLAINTEXT with both, and over
#     SSL with a PEM client certificate (ssl.keystore.type=PEM), whose
#     subject nagare.ssl_principal_mapping_rules makes User:alice; it is
#     refused alice's wrong password and bob's topic;
#   - before authentication a SASL_SSL connection gets only ApiVersions and
#     the SASL APIs; a wrong password, an unknown user and a NOLOGIN role get
#     the one generic answer inside TLS as on plaintext, every client sees
#     its wrong password refused, and the refusals are counted.
#
# Parts whose client is not installed are skipped.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;

my $python = '/usr/bin/python3';
my $dir = "$FindBin::RealBin/../interop";
my $jdir = "$dir/java";

sub have { system("@_ >/dev/null 2>&1") == 0 }
plan skip_all => 'openssl is not installed' unless have('openssl version');
plan skip_all => "$python is not installed" unless -x $python;
my $node_bin = have('node --version');
my %avail = (
	kcat => have('kcat -V'),
	confluent => have("$python -c 'import confluent_kafka'"),
	kafka_python => have("$python -c 'import kafka'"),
	kafkajs => $node_bin && -d "$dir/node_modules/kafkajs",
	platformatic => $node_bin && -d "$dir/node_modules/\@platformatic/kafka",
	java => have('java -version') && -f "$jdir/target/.built",
);
note("client $_ is not installed (or, for java, not built by test/interop/java/build.sh): its parts are skipped")
  for grep { !$avail{$_} } sort keys %avail;

# ---------------------------------------------------------------- certificates

my $certs = PostgreSQL::Test::Utils::tempdir();
make_ca($certs, 'ca', '/CN=nagare test CA');
make_cert($certs, 'server', 'ca', '/CN=localhost',
	ext => "subjectAltName = DNS:localhost, IP:127.0.0.1\n");
make_cert($certs, 'alice', 'ca', '/C=JP/O=nagare/OU=clients/CN=Alice');
my $ca = "$certs/ca.crt";

# ---------------------------------------------------------------- the node

my ($pport, $sport, $tport, $mport) = map { PostgreSQL::Test::Cluster::get_free_port() } 1 .. 4;
my $node = nagare_node('sasl_ssl', conf => qq{
password_encryption = 'scram-sha-256'
nagare.listeners = 'PLAINTEXT://127.0.0.1:$pport, SASL_SSL://127.0.0.1:$sport, SASL_PLAINTEXT://127.0.0.1:$tport, SSL://127.0.0.1:$mport'
nagare.ssl_cert_file = '$certs/server.crt'
nagare.ssl_key_file = '$certs/server.key'
nagare.ssl_ca_file = '$ca'
nagare.ssl_client_auth = requested
nagare.ssl_principal_mapping_rules = 'RULE:^CN=([^,]+),OU=clients,O=nagare,C=JP\$/\$1/L, DEFAULT'
nagare.allow_everyone_if_no_acl_found = off
nagare.log_connections = on
nagare.group_initial_rebalance_delay = 500
});
$node->wait_for_log(qr/listening for Kafka clients on 127\.0\.0\.1 port $pport$/m);
$node->wait_for_log(qr/listening for Kafka clients on 127\.0\.0\.1 port $sport \(SASL_SSL\)/);
$node->wait_for_log(qr/listening for Kafka clients on 127\.0\.0\.1 port $tport \(SASL_PLAINTEXT\)/);
$node->wait_for_log(qr/listening for Kafka clients on 127\.0\.0\.1 port $mport \(SSL\)/);
pass('PLAINTEXT, SASL_SSL, SASL_PLAINTEXT and SSL listeners open side by side');
my $sasl_ssl = "127.0.0.1:$sport";

sub sql { return $node->safe_psql('postgres', $_[0]) }

sql(q{
CREATE ROLE alice LOGIN PASSWORD 'alice-secret-1';
CREATE ROLE bob LOGIN PASSWORD 'bob-secret-123';
CREATE ROLE carol NOLOGIN PASSWORD 'carol-secret-1';
});
is(sql('SELECT allow_everyone_if_no_acl_found FROM nagare.acl_status'), 'f',
	'a resource without ACLs is closed');

# alice: every topic named ss_*, every group; bob: the topic bobs_topic
is(sql(q{
SELECT count(*) FROM (
  SELECT nagare.create_acl('TOPIC', 'ss_', 'User:alice', 'ALL', pattern_type => 'PREFIXED')
  UNION ALL SELECT nagare.create_acl('GROUP', '*', 'User:alice', 'ALL')
  UNION ALL SELECT nagare.create_acl('TOPIC', 'bobs_topic', 'User:bob', 'ALL')
  UNION ALL SELECT nagare.create_acl('GROUP', '*', 'User:bob', 'ALL')) a
}), '4', 'ACLs for alice and bob');

my @topics = qw(bobs_topic ss_allowed ss_big ss_java_plain ss_java_scram
  ss_java_sasl_plaintext_plain ss_java_sasl_plaintext_scram ss_java_mtls);
for my $client (qw(kcat confluent kafka_python kafkajs platformatic))
{
	push @topics, "ss_${client}_plain", "ss_${client}_scramsha256";
}
sql(join('', map { "SELECT nagare.create_topic('$_', 1);\n" } @topics));

# ---------------------------------------------------------------- helpers

# The last JSON line a command prints, or a failure
sub run_json
{
	my ($rc, $out, $err) = run_cmd(\@_, undef, 180);
	my ($last) = grep { /^\{/ } reverse split /\n/, $out;
	my $r = defined $last ? eval { decode_json($last) } : undef;
	return $r // { ok => 0, auth_error => 0, error => "exit $rc, no result: $out $err" };
}

# test/interop/sasl_*: log in over SASL_SSL, produce a record, consume it
sub login
{
	my ($client, $mech, $user, $password, $topic) = @_;
	my @argv =
		$client eq 'kafkajs' ? ('node', "$dir/sasl_kafkajs.mjs")
	  : $client eq 'platformatic' ? ('node', "$dir/sasl_platformatic.mjs")
	  : ($python, "$dir/sasl_clients.py", $client);
	# --ssl CAFILE goes before the client's name (node: the script's arguments)
	return run_json(@argv[ 0 .. 1 ], '--ssl', $ca, @argv[ 2 .. $#argv ],
		$sasl_ssl, $mech, $user, $password, $topic);
}

sub raw { return run_json($python, "$dir/sasl_clients.py", '--ssl', $ca, 'raw', $sasl_ssl, @_) }

# test/interop/tls_*: JSON arguments, a SASL login among them
sub tls_client
{
	my ($client, $cmd, %args) = @_;
	my @argv = $client eq 'kafkajs'
	  ? ('node', "$dir/tls_kafkajs.mjs")
	  : ($python, "$dir/tls_clients.py", $client);
	my ($rc, $out, $err) = run_cmd([ @argv, $sasl_ssl, $cmd, encode_json({ ca => $ca, %args }) ], undef, 180);
	my $r = $rc == 0 ? eval { decode_json($out) } : undef;
	return $r // { failed => "exit $rc: $err$out" };
}

my $tmp = PostgreSQL::Test::Utils::tempdir();

# A Java client properties file from (key => value, ...)
sub java_props
{
	my ($name, @kv) = @_;
	my $path = "$tmp/$name.properties";
	my $text = '';
	while (my ($k, $v) = splice(@kv, 0, 2))
	{
		$text .= "$k=$v\n";
	}
	PostgreSQL::Test::Utils::append_to_file($path, $text);
	return $path;
}

sub jaas
{
	my ($mech, $user, $password) = @_;
	my $module = $mech eq 'PLAIN'
	  ? 'org.apache.kafka.common.security.plain.PlainLoginModule'
	  : 'org.apache.kafka.common.security.scram.ScramLoginModule';
	return qq{$module required username="$user" password="$password";};
}

# Run KafkaTool; returns { rc, out, err, rows => [[field, ...], ...] }
sub java
{
	my ($boot, $props, @args) = @_;
	my ($rc, $out, $err) = run_cmd([ "$jdir/kafka-tool.sh", $boot, $props, @args ], undef,
		$PostgreSQL::Test::Utils::timeout_default);
	note("kafka-tool @args: exit $rc\n$out$err");
	return { rc => $rc, out => $out, err => $err,
		rows => [ map { [ split /\t/, $_, -1 ] } grep { $_ ne '' } split /\n/, $out ] };
}

# KafkaTool produces $n records, then consumes them in a fresh group
sub java_round_trip
{
	my ($what, $boot, $props, $topic, $n) = @_;
	my $r = java($boot, $props, 'produce', $topic, $n);
	my @offsets = map { "$_->[2]:$_->[4]" } grep { $_->[0] eq 'offset' } @{ $r->{rows} };
	is_deeply(\@offsets, [ map { "$_:value-$_" } 0 .. $n - 1 ], "Java produces over $what")
	  or diag($r->{err});
	$r = java($boot, $props, 'consume', $topic, $n, "g_$topic");
	my @records = map { "$_->[2]:$_->[4]" } grep { $_->[0] eq 'record' } @{ $r->{rows} };
	is_deeply(\@records, \@offsets, "Java consumes over $what in a consumer group")
	  or diag($r->{err});
	is_deeply([ grep { $_->[0] eq 'committed' } @{ $r->{rows} } ], [ [ 'committed', 0, $n ] ],
		"Java commits its offsets over $what");
}

sub kcat_sasl_ssl
{
	my ($mech, $user, $password) = @_;
	return ('-X', 'security.protocol=SASL_SSL', '-X', "ssl.ca.location=$ca",
		'-X', "sasl.mechanisms=$mech", '-X', "sasl.username=$user", '-X', "sasl.password=$password");
}

# The brokers kcat's Metadata shows ("host:port", ...)
sub kcat_brokers
{
	my ($boot, @opts) = @_;
	my ($rc, $out, $err) = run_cmd([ 'kcat', '-b', $boot, @opts, '-m', '15', '-L' ]);
	return "failed: $err" if $rc != 0;
	return join(',', sort($out =~ /broker \d+ at (\S+?)(?: \(controller\))?$/mg));
}

sub auth_failures { return sql('SELECT auth_failures FROM nagare.broker') }
sub denied { return sql('SELECT denied FROM nagare.acl_status') }

# The broker learns the topics (all in one transaction) from the nagare
# worker a moment after they commit
if ($avail{kcat})
{
	ok(wait_until(sub {
		my ($rc, $out) = run_cmd([ 'kcat', '-b', $sasl_ssl, kcat_sasl_ssl('PLAIN', 'alice', 'alice-secret-1'),
			'-m', '10', '-L', '-t', 'ss_allowed' ]);
		return $out =~ /topic "ss_allowed" with 1 partitions/;
	}), 'Metadata over SASL_SSL shows the topics');
}
else
{
	sleep(1);
}

# ---------------------------------------------------------------- ACLs on SASL_SSL principals

# First, so that nothing else has been denied in the last 10 s and the
# denial's log line (at most one per process every 10 s) is this one
my $refuser = $avail{confluent} ? 'confluent' : $avail{kafka_python} ? 'kafka_python' : undef;
SKIP:
{
	skip 'neither confluent-kafka nor kafka-python is installed', 9 unless $refuser;
	my $denied = denied();
	my $off = log_offset($node);
	my $r = login($refuser, 'SCRAM-SHA-256', 'alice', 'alice-secret-1', 'bobs_topic');
	ok(!$r->{ok} && !$r->{auth_error}, "alice logs in over SASL_SSL ($refuser) and may not produce to bobs_topic")
	  or diag(explain($r));
	like($r->{error}, qr/TOPIC_AUTHORIZATION_FAILED|TopicAuthorizationFailed/, 'TOPIC_AUTHORIZATION_FAILED')
	  or diag(explain($r));
	wait_for_log_from($node, qr/nagare: denied \w+ on TOPIC "bobs_topic" to User:alice from 127\.0\.0\.1/, $off);
	pass('the denial is logged for User:alice, the principal of her SASL login');
	wait_for_log_from($node,
		qr/nagare broker: connection from 127\.0\.0\.1:\d+ authenticated by SASL\/SCRAM-SHA-256 as User:alice$/m, $off);
	pass('nagare.log_connections logs the SCRAM login with its principal');
	cmp_ok(denied(), '>', $denied, 'the denial is counted in nagare.acl_status');

	$r = login($refuser, 'PLAIN', 'alice', 'alice-secret-1', 'ss_allowed');
	ok($r->{ok}, 'alice produces to and consumes her own topic over SASL_SSL') or diag(explain($r));
	wait_for_log_from($node,
		qr/nagare broker: connection from 127\.0\.0\.1:\d+ authenticated by SASL\/PLAIN as User:alice$/m, $off);
	pass('and the PLAIN login');
	$r = login($refuser, 'SCRAM-SHA-256', 'bob', 'bob-secret-123', 'bobs_topic');
	ok($r->{ok}, 'bob produces to and consumes bobs_topic over SASL_SSL') or diag(explain($r));
	$r = login($refuser, 'PLAIN', 'bob', 'bob-secret-123', 'ss_allowed');
	ok(!$r->{ok} && !$r->{auth_error}, "bob may not produce to alice's topic") or diag(explain($r));
}

SKIP:
{
	skip 'kcat is not installed', 9 unless $avail{kcat};

	# on SASL_SSL a client certificate secures the channel, SASL names the
	# principal: bob with alice's certificate is bob
	my @bob_with_alices_cert = (kcat_sasl_ssl('SCRAM-SHA-256', 'bob', 'bob-secret-123'),
		'-X', "ssl.certificate.location=$certs/alice.crt", '-X', "ssl.key.location=$certs/alice.key");
	my $off = log_offset($node);
	my ($rc, $out, $err) = run_cmd([ 'kcat', '-b', $sasl_ssl, @bob_with_alices_cert,
		'-P', '-t', 'bobs_topic', '-p', '0', '-X', 'enable.idempotence=false' ], "with-alices-cert\n");
	is($rc, 0, "bob, logged in over SASL_SSL on a TLS connection with alice's certificate, produces to bobs_topic")
	  or diag($err);
	like(log_since($node, $off),
		qr/connection from 127\.0\.0\.1:\d+ on listener SASL_SSL \(TLSv1\.[23], [^,]+, client certificate CN=Alice,OU=clients,O=nagare,C=JP\)/,
		'the connection is logged with its certificate, not as authenticated by it');
	($rc, $out, $err) = run_cmd([ 'kcat', '-b', $sasl_ssl, @bob_with_alices_cert,
		'-m', '10', '-L', '-t', 'ss_allowed' ]);
	like($out, qr/topic "ss_allowed" with 0 partitions: Broker: Topic authorization failed/,
		"and is refused alice's topic") or diag("$out$err");

	# each listener advertises itself
	is(kcat_brokers($sasl_ssl, kcat_sasl_ssl('PLAIN', 'alice', 'alice-secret-1')), $sasl_ssl,
		'Metadata on the SASL_SSL listener advertises the SASL_SSL listener');
	is(kcat_brokers("127.0.0.1:$pport"), "127.0.0.1:$pport",
		'Metadata on the PLAINTEXT listener advertises the PLAINTEXT listener');

	# Metadata shows each principal the topics it may describe
	($rc, $out, $err) = run_cmd([ 'kcat', '-b', $sasl_ssl, kcat_sasl_ssl('PLAIN', 'alice', 'alice-secret-1'), '-m', '10', '-L' ]);
	ok($out =~ /topic "ss_allowed" with 1 partitions/ && $out !~ /topic "bobs_topic"/,
		"Metadata over SASL_SSL shows alice her topics and not bob's") or diag("$out$err");

	# User:ANONYMOUS on the PLAINTEXT listener beside it
	($rc, $out, $err) = run_cmd([ 'kcat', '-b', "127.0.0.1:$pport", '-m', '10', '-L' ]);
	ok($out =~ /^ 0 topics:/m, 'Metadata shows User:ANONYMOUS on the PLAINTEXT listener none of the topics')
	  or diag("$out$err");
	($rc, $out, $err) = run_cmd([ 'kcat', '-b', "127.0.0.1:$pport", '-m', '10', '-L', '-t', 'ss_allowed' ]);
	like($out, qr/topic "ss_allowed" with 0 partitions: Broker: Topic authorization failed/,
		"User:ANONYMOUS on the PLAINTEXT listener is refused alice's topic") or diag("$out$err");
	($rc, $out, $err) = run_cmd([ 'kcat', '-b', "127.0.0.1:$pport", '-C', '-t', 'ss_allowed',
		'-o', 'beginning', '-c', '1', '-e', '-m', '5' ], undef, 60);
	isnt($rc, 0, 'and cannot consume it') or diag("$out$err");
}

# ---------------------------------------------------------------- every client over SASL_SSL

for my $client (grep { $avail{$_} } qw(kcat confluent kafka_python kafkajs platformatic))
{
	for my $mech (qw(PLAIN SCRAM-SHA-256))
	{
		(my $m = lc $mech) =~ s/-//g;
		my $r = login($client, $mech, 'alice', 'alice-secret-1', "ss_${client}_$m");
		ok($r->{ok}, "$client logs in over SASL_SSL with $mech, produces and consumes")
		  or diag(explain($r));
	}
}
like(slurp_file($node->logfile), qr/connection from 127\.0\.0\.1:\d+ on listener SASL_SSL \(TLSv1\.[23], /,
	'SASL_SSL connections are logged with their TLS protocol');

# Large records: TLS records of many pieces after a SASL login
my %scram = (sasl => { mechanism => 'SCRAM-SHA-256', username => 'alice', password => 'alice-secret-1' });
my %plain = (sasl => { mechanism => 'PLAIN', username => 'alice', password => 'alice-secret-1' });
my $size = 512 * 1024;
SKIP:
{
	skip 'confluent-kafka is not installed', 4 unless $avail{confluent};
	my $r = tls_client('confluent', 'produce', %scram, topic => 'ss_big', count => 5, size => $size);
	is_deeply($r, { produced => 5 }, 'confluent-kafka produces 5 records of 512 KiB over SASL_SSL (SCRAM-SHA-256)');
	$r = tls_client('confluent', 'consume', %plain, topic => 'ss_big', count => 5);
	is_deeply($r, tls_client_values(5, $size), 'confluent-kafka consumes them whole over SASL_SSL (PLAIN)');
	SKIP:
	{
		skip 'kafka-python is not installed', 1 unless $avail{kafka_python};
		$r = tls_client('kafka_python', 'consume', %scram, topic => 'ss_big', count => 5);
		is_deeply($r, tls_client_values(5, $size), 'kafka-python consumes them whole over SASL_SSL (SCRAM-SHA-256)');
	}
	SKIP:
	{
		skip 'kafkajs is not installed', 1 unless $avail{kafkajs};
		$r = tls_client('kafkajs', 'consume', %plain, topic => 'ss_big', count => 5);
		is_deeply($r, tls_client_values(5, $size), 'kafkajs consumes them whole over SASL_SSL (PLAIN)');
	}
}

# ---------------------------------------------------------------- Java

SKIP:
{
	skip 'the Java client is not available', 16 unless $avail{java};

	# the CA inline, as ssl.truststore.certificates takes it (one value over
	# continued lines)
	my $ca_inline = join(" \\\n", split /\n/, slurp_file($ca));
	my $plain = java_props('sasl_ssl_plain',
		'security.protocol' => 'SASL_SSL',
		'sasl.mechanism' => 'PLAIN',
		'sasl.jaas.config' => jaas('PLAIN', 'alice', 'alice-secret-1'),
		'ssl.truststore.type' => 'PEM',
		'ssl.truststore.location' => $ca);
	my $scram = java_props('sasl_ssl_scram',
		'security.protocol' => 'SASL_SSL',
		'sasl.mechanism' => 'SCRAM-SHA-256',
		'sasl.jaas.config' => jaas('SCRAM-SHA-256', 'alice', 'alice-secret-1'),
		'ssl.truststore.type' => 'PEM',
		'ssl.truststore.certificates' => $ca_inline);
	java_round_trip('SASL_SSL with PLAIN (ssl.truststore.location)', $sasl_ssl, $plain, 'ss_java_plain', 5);
	java_round_trip('SASL_SSL with SCRAM-SHA-256 (ssl.truststore.certificates)', $sasl_ssl, $scram, 'ss_java_scram', 5);

	for my $mech (qw(PLAIN SCRAM-SHA-256))
	{
		(my $m = lc $mech) =~ s/-sha-256//;
		my $props = java_props("sasl_plaintext_$m",
			'security.protocol' => 'SASL_PLAINTEXT',
			'sasl.mechanism' => $mech,
			'sasl.jaas.config' => jaas($mech, 'alice', 'alice-secret-1'));
		my $r = java("127.0.0.1:$tport", $props, 'produce', "ss_java_sasl_plaintext_$m", 3);
		is(scalar(grep { $_->[0] eq 'offset' } @{ $r->{rows} }), 3, "Java produces over SASL_PLAINTEXT with $mech")
		  or diag($r->{err});
		$r = java("127.0.0.1:$tport", $props, 'consume', "ss_java_sasl_plaintext_$m", 3, "g_sp_$m");
		is(scalar(grep { $_->[0] eq 'record' } @{ $r->{rows} }), 3, "Java consumes over SASL_PLAINTEXT with $mech")
		  or diag($r->{err});
	}

	# SSL with a client certificate: a PEM keystore of alice's key and
	# certificate; the mapping rules make its subject User:alice
	PostgreSQL::Test::Utils::append_to_file("$tmp/alice.pem",
		slurp_file("$certs/alice.key") . slurp_file("$certs/alice.crt"));
	my $mtls = java_props('mtls',
		'security.protocol' => 'SSL',
		'ssl.truststore.type' => 'PEM',
		'ssl.truststore.location' => $ca,
		'ssl.keystore.type' => 'PEM',
		'ssl.keystore.location' => "$tmp/alice.pem");
	my $off = log_offset($node);
	java_round_trip('SSL with a client certificate', "127.0.0.1:$mport", $mtls, 'ss_java_mtls', 3);
	like(log_since($node, $off),
		qr/on listener SSL \(TLSv1\.[23], [^)]*\) presents client certificate "CN=Alice,OU=clients,O=nagare,C=JP" for role "alice"(?s:.*)authenticated by its client certificate as User:alice/,
		"the Java client's certificate is authenticated as User:alice");

	# refusals: a wrong password, a topic of someone else's
	my $bad = java_props('sasl_ssl_bad',
		'security.protocol' => 'SASL_SSL',
		'sasl.mechanism' => 'SCRAM-SHA-256',
		'sasl.jaas.config' => jaas('SCRAM-SHA-256', 'alice', 'wrong-password'),
		'ssl.truststore.type' => 'PEM',
		'ssl.truststore.location' => $ca);
	my $r = java($sasl_ssl, $bad, 'produce', 'ss_java_scram', 1);
	like($r->{err}, qr/^error: org\.apache\.kafka\.common\.errors\.SaslAuthenticationException: Authentication failed: Invalid username or password$/m,
		'Java over SASL_SSL: a wrong password is refused with the generic answer');
	$r = java($sasl_ssl, $scram, 'produce', 'bobs_topic', 1);
	like($r->{err}, qr/^error: org\.apache\.kafka\.common\.errors\.TopicAuthorizationException: .*bobs_topic/m,
		"Java over SASL_SSL: alice may not produce to bob's topic");
}

# ---------------------------------------------------------------- refusals over SASL_SSL

my $failures = auth_failures();
my $refusals = 0;

my $r = raw('api_versions');
is_deeply($r, { error => 0, sasl_handshake => [ 0, 1 ], sasl_authenticate => [ 0, 2 ] },
	'ApiVersions inside TLS before authentication advertises the SASL APIs');
$r = raw('illegal_state');
is_deeply($r, { closed => JSON::PP::true, response => JSON::PP::false },
	'Metadata inside TLS before authentication: the connection is closed unanswered');
$refusals++;

for my $case ([ 'alice', 'wrong-password', 'a wrong password' ],
	[ 'nobody', 'nobody-secret-1', 'an unknown user' ],
	[ 'carol', 'carol-secret-1', 'a NOLOGIN role' ])
{
	$r = raw('plain', @$case[ 0, 1 ]);
	is_deeply($r, { error => 58, message => 'Authentication failed: Invalid username or password' },
		"SASL_SSL, $case->[2]: SASL_AUTHENTICATION_FAILED and the generic message");
	$refusals++;
}
$r = raw('plain', 'alice', 'alice-secret-1');
is_deeply($r, { error => 0, message => undef }, 'SASL_SSL, SaslAuthenticate PLAIN for alice succeeds');

# kcat is left out: a refused kcat waits out its Metadata timeout, and
# confluent-kafka is the same librdkafka
for my $client (grep { $avail{$_} } qw(confluent kafka_python kafkajs platformatic))
{
	for my $mech (qw(PLAIN SCRAM-SHA-256))
	{
		$r = login($client, $mech, 'alice', 'wrong-password', 'ss_allowed');
		ok(!$r->{ok} && $r->{auth_error}, "$client over SASL_SSL, $mech: a wrong password is refused")
		  or diag(explain($r));
		# kafka-python and @platformatic/kafka do not pass the message on
		like($r->{error}, qr/Authentication failed: Invalid username or password/, "$client shows the generic answer")
		  if $client =~ /^(confluent|kafkajs)$/;
		$refusals++;
	}
}
cmp_ok(auth_failures() - $failures, '>=', $refusals,
	"every refusal over SASL_SSL is counted in nagare.broker.auth_failures ($refusals)");
my $nagare_lines = join("\n", grep { /nagare (broker|worker)/ } split /\n/, slurp_file($node->logfile));
unlike($nagare_lines, qr/wrong-password|secret-1/, "no password in the broker's and worker's log lines");

$node->stop;
done_testing();
