# Per-client usage with real clients: nagare.client_usage agrees with what
# each client sent and received under its own client id, and
# nagare.connections shows each live connection's client software.
#
#   - confluent-kafka-python (librdkafka), kafka-python, kafkajs and the Java
#     client each produce N records of known size under one client id and
#     read them back under another: records_in and records_out are exact;
#     bytes_in and bytes_out hold the records' keys and values plus at most
#     the framing overhead that docs/quotas.md states (40 bytes a record,
#     1 KiB a request); requests by API name Produce, Fetch and Metadata;
#   - a request that fails is counted by its Kafka error name
#     (UNKNOWN_TOPIC_OR_PARTITION from Metadata, auto-creation off);
#   - SQL callers are rows of their own (source sql, User:<role>,
#     application_name);
#   - while kcat (librdkafka), confluent-kafka-python and a Java consumer
#     are connected, nagare.connections shows their client id and software
#     name and version (ApiVersions v3), and not after they went;
#   - the last-minute figures cover what was just done.
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
my %have = (
	confluent => have("$python -c 'import confluent_kafka'"),
	kafka_python => have("$python -c 'import kafka'"),
	kafkajs => have('node --version') && -d "$dir/node_modules/kafkajs",
	java => have('java -version') && -f "$jdir/target/.built",
	kcat => have('kcat -V'),
);
plan skip_all => 'no Kafka client is installed' unless grep { $_ } values %have;

my ($node, $kport) = kafka_node('usage', conf => qq{
nagare.auto_create_topics = off
nagare.group_initial_rebalance_delay = 200
});
my $boot = "127.0.0.1:$kport";
my $tmp = PostgreSQL::Test::Utils::tempdir();

sub sql { return $node->safe_psql('postgres', $_[0]) }

# The row of nagare.client_usage of a Kafka client id, as a hash
sub usage_row
{
	my ($client_id, $source) = @_;
	$source //= 'kafka';
	my $json = sql(qq{SELECT row_to_json(u) FROM nagare.client_usage u
		WHERE source = '$source' AND client_id = '$client_id'});
	return $json eq '' ? undef : decode_json($json);
}

# The framing overhead docs/quotas.md states
my $per_record = 40;
my $per_request = 1024;

# Check the producer's and the consumer's rows against what the client says
# it sent and read.
sub check_rows
{
	my ($name, $pid, $cid, $n_in, $n_out, $payload_in, $payload_out) = @_;
	my $p = usage_row($pid);
	my $c = usage_row($cid);
	ok($p && $c, "$name: rows for $pid and $cid") or return;
	is($p->{records_in}, $n_in, "$name: records_in of $pid is the $n_in records produced");
	is($c->{records_out}, $n_out, "$name: records_out of $cid is the $n_out records read");
	ok($p->{bytes_in} >= $payload_in
		  && $p->{bytes_in} <= $payload_in + $per_record * $n_in + $per_request * $p->{requests},
		"$name: bytes_in $p->{bytes_in} = $payload_in of keys and values + framing ($p->{requests} requests)");
	ok($c->{bytes_out} >= $payload_out
		  && $c->{bytes_out} <= $payload_out + $per_record * $n_out + $per_request * $c->{requests},
		"$name: bytes_out $c->{bytes_out} = $payload_out of keys and values + framing ($c->{requests} requests)");
	ok($p->{requests_by_api}{Produce} >= 1 && $p->{requests_by_api}{Metadata} >= 1,
		"$name: the producer's requests by API name Produce and Metadata")
	  or diag(encode_json($p->{requests_by_api}));
	ok($c->{requests_by_api}{Fetch} >= 1, "$name: the consumer's requests by API name Fetch")
	  or diag(encode_json($c->{requests_by_api}));
	is($p->{records_in_1m}, $p->{records_in}, "$name: all of it within the last minute");
	is($p->{principal}, 'User:ANONYMOUS', "$name: principal of a PLAINTEXT client");
	note("$name producer: " . encode_json($p));
	note("$name consumer: " . encode_json($c));
	note(sprintf('%s framing: in %d bytes over %d of records (%d requests), out %d over %d (%d requests)',
		$name, $p->{bytes_in} - $payload_in, $n_in, $p->{requests},
		$c->{bytes_out} - $payload_out, $n_out, $c->{requests}));
}

my $n = 200;
my $size = 100;

# ---- confluent-kafka-python and kafka-python
for my $client (qw(confluent kafka_python))
{
  SKIP:
	{
		skip "$client is not installed", 11 unless $have{$client};
		my $topic = "u.$client";
		sql("SELECT nagare.create_topic('$topic', 1)");
		wait_kafka_topic($kport, $topic);
		my ($out, $err) = ('', '');
		IPC::Run::run([ $python, "$dir/usage_clients.py", $boot, $client, $topic, $n, $size,
				"usage-$client-p", "usage-$client-c" ], '>', \$out, '2>', \$err,
			IPC::Run::timeout(120));
		note($err) if $err ne '';
		my $r = eval { decode_json((split /\n/, $out)[0]) } // {};
		is($r->{consumed}, $n, "$client read back the $n records it produced");
		check_rows($client, "usage-$client-p", "usage-$client-c", $n, $n, $r->{payload} // 0,
			$r->{payload} // 0);
	}
}

# ---- kafkajs
SKIP:
{
	skip 'kafkajs is not installed', 11 unless $have{kafkajs};
	my $topic = 'u.kafkajs';
	sql("SELECT nagare.create_topic('$topic', 1)");
	wait_kafka_topic($kport, $topic);
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'node', "$dir/usage_kafkajs.mjs", $boot, $topic, $n, $size,
			'usage-kafkajs-p', 'usage-kafkajs-c' ], '>', \$out, '2>', \$err,
		IPC::Run::timeout(120));
	note($err) if $err ne '';
	my $r = eval { decode_json((split /\n/, $out)[0]) } // {};
	is($r->{consumed}, $n, "kafkajs read back the $n records it produced");
	check_rows('kafkajs', 'usage-kafkajs-p', 'usage-kafkajs-c', $n, $n, $r->{payload} // 0,
		$r->{payload} // 0);
}

# The row of nagare.connections of a client id, once it is there
sub connection_of
{
	my ($client_id) = @_;
	my $row;
	wait_until(sub {
		my $json = sql(qq{SELECT row_to_json(c) FROM nagare.connections c
			WHERE client_id = '$client_id' AND client_software_name IS NOT NULL LIMIT 1});
		$row = $json eq '' ? undef : decode_json($json);
		return defined $row;
	}, 30);
	return $row;
}

sub connections_gone
{
	my ($client_id) = @_;
	return wait_until(sub {
		sql("SELECT count(*) FROM nagare.connections WHERE client_id = '$client_id'") == 0;
	}, 30);
}

# ---- the Java client: a producer, and a consumer that stays connected
SKIP:
{
	skip 'the Java client is not installed or built', 18 unless $have{java};
	my $topic = 'u.java';
	sql("SELECT nagare.create_topic('$topic', 1)");
	wait_kafka_topic($kport, $topic);
	my $props = "$tmp/java-p.properties";
	open my $fh, '>', $props or die;
	print $fh "client.id=usage-java-p\n";
	close $fh;
	my ($out, $err) = ('', '');
	IPC::Run::run([ "$jdir/kafka-tool.sh", $boot, $props, 'produce', $topic, $n ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(120));
	my @offsets = grep { /^offset\t/ } split /\n/, $out;
	is(scalar(@offsets), $n, "Java: the producer wrote $n records") or diag($err);
	my $payload = 0;
	$payload += length("key-$_") + length("value-$_") for 0 .. $n - 1;

	# the consumer waits for one record more than there is, connected
	$props = "$tmp/java-c.properties";
	open $fh, '>', $props or die;
	print $fh "client.id=usage-java-c\n";
	close $fh;
	my ($cout, $cerr) = ('', '');
	my $h = IPC::Run::start([ "$jdir/kafka-tool.sh", $boot, $props, 'consume', $topic, $n + 1,
			'usage-java-group' ], '>', \$cout, '2>', \$cerr, IPC::Run::timeout(120));
	my $conn = connection_of('usage-java-c');
	is($conn && $conn->{client_software_name}, 'apache-kafka-java',
		'Java: nagare.connections names the client software while it is connected');
	like($conn && $conn->{client_software_version}, qr/^\d+\.\d+/, 'Java: and its version');
	is($conn && $conn->{principal}, 'User:ANONYMOUS', 'Java: and its principal');
	is($conn && $conn->{listener}, 'PLAINTEXT', 'Java: and its listener');
	is($conn && $conn->{client_addr}, '127.0.0.1', 'Java: and its address');
	note('Java connection: ' . encode_json($conn // {}));
	sql("SELECT nagare.send('$topic', 'key-last', 'value-last')");
	$payload += length('key-last') + length('value-last');
	my $ok = eval { $h->finish; 1 };
	is($ok && $? >> 8, 0, 'Java: the consumer read the last record and left') or diag($cerr);
	ok(connections_gone('usage-java-c'), 'Java: its connections are gone from nagare.connections');
	my $payload_in = 0;
	$payload_in += length("key-$_") + length("value-$_") for 0 .. $n - 1;
	check_rows('Java', 'usage-java-p', 'usage-java-c', $n, $n + 1, $payload_in, $payload);
}

# ---- kcat (librdkafka) and confluent-kafka-python, connected
SKIP:
{
	skip 'kcat is not installed', 3 unless $have{kcat};
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'kcat', '-b', $boot, '-C', '-t', 'u.confluent', '-p', '0',
			'-o', 'beginning', '-q', '-X', 'client.id=usage-kcat-hold' ],
		'>', \$out, '2>', \$err, IPC::Run::timeout(120));
	my $conn = connection_of('usage-kcat-hold');
	is($conn && $conn->{client_software_name}, 'librdkafka',
		'kcat: nagare.connections names librdkafka while it is connected');
	like($conn && $conn->{client_software_version}, qr/^\d+\.\d+\.\d+/, 'kcat: and its version');
	note('kcat connection: ' . encode_json($conn // {}));
	$h->kill_kill;
	ok(connections_gone('usage-kcat-hold'), 'kcat: gone from nagare.connections after it quit');
}

SKIP:
{
	skip 'confluent-kafka is not installed', 4 unless $have{confluent};
	my ($in, $out, $err) = ('', '', '');
	sql("SELECT nagare.create_topic('u.hold', 1)");
	wait_kafka_topic($kport, 'u.hold');
	my $h = IPC::Run::start([ $python, "$dir/usage_clients.py", $boot, 'confluent', 'u.hold', 0,
			0, 'usage-hold', 'usage-hold-c', 'hold' ], '<', \$in, '>', \$out, '2>', \$err,
		IPC::Run::timeout(120));
	$h->pump until $out =~ /"ready"/ || !$h->pumpable;
	my $conn = connection_of('usage-hold-hold');
	like($conn && $conn->{client_software_name}, qr/^(confluent-kafka-python|librdkafka)$/,
		'confluent-kafka-python: nagare.connections names its software while it is connected');
	like($conn && $conn->{client_software_version}, qr/\d+\.\d+/, 'confluent-kafka-python: and its version');
	note('confluent connection: ' . encode_json($conn // {}));
	$in .= "done\n";
	eval { $h->finish };
	ok(connections_gone('usage-hold-hold'), 'confluent-kafka-python: gone after it closed');
}

# ---- errors by Kafka error name
SKIP:
{
	skip 'kcat is not installed', 1 unless $have{kcat};
	system('kcat', '-b', $boot, '-L', '-t', 'u.missing', '-X', 'client.id=usage-errors',
		'-m', '5');
	my $r = usage_row('usage-errors');
	ok($r && ($r->{errors_by_code}{UNKNOWN_TOPIC_OR_PARTITION} // 0) >= 1
		  && $r->{errors} >= 1,
		'a Metadata request for a missing topic is counted as UNKNOWN_TOPIC_OR_PARTITION')
	  or diag(encode_json($r // {}));
}

# ---- SQL callers
$node->safe_psql('postgres', q{
	SET application_name = 'usage-psql';
	SELECT nagare.create_topic('u.sql', 1);
	SELECT nagare.send_batch('u.sql', NULL, ARRAY['a', 'b', 'c']::bytea[]);
	SELECT nagare.send('u.sql', NULL, 'd');
	SELECT count(*) FROM nagare.consume('u.sql', 0, 0, 10);
});
my $s = usage_row('usage-psql', 'sql');
ok($s && $s->{records_in} == 4 && $s->{records_out} == 4 && $s->{principal} eq 'User:'
	  . $node->safe_psql('postgres', 'SELECT current_user'),
	'SQL: send_batch, send and consume counted for the role and application_name')
  or diag(encode_json($s // {}));
is_deeply($s && $s->{requests_by_api}, { send => 1, send_batch => 1, consume => 1 },
	'SQL: requests by function');

# nothing unexpected in the log
my $log = slurp_file($node->logfile);
unlike($log, qr/overflow row|TRAP|PANIC/, 'no overflow, no assertion failure');

$node->stop;
done_testing();
