# Shared helpers of nagare's TAP tests (test/t/*.pl).
#
# A test does
#
#	use FindBin;
#	use lib $FindBin::RealBin;
#	use NagareTest;
#
# and gets the functions below.  Every wait is bounded by
# $PostgreSQL::Test::Utils::timeout_default (PG_TEST_TIMEOUT_DEFAULT, 180 s).
# The TLS tests (135_tls.pl, 137_sasl_ssl.pl) make their certificates with
# make_ca() and make_cert(), through the openssl command, and check what
# test/interop/tls_clients.py and tls_kafkajs.mjs read with
# tls_client_values().

package NagareTest;

use strict;
use warnings;

use Digest::SHA;
use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(
  nagare_node
  kafka_node
  wait_kafka_topic
  output_plugin_allowlist
  wait_broker_ready
  broker_pid
  wait_new_broker
  pid_alive
  wait_pid_gone
  topic_id
  partition_dir
  partition_row
  segment_files
  consume_rows
  consume_values
  wait_until
  log_offset
  wait_for_log_from
  log_since
  read_file_bytes
  write_file_bytes
  crc32c
  meta_read
  meta_write
  sql_error
  make_ca
  make_cert
  tls_client_values
  run_cmd
);

# Run a command (an array of arguments, or a string for bash -c) with
# input on its stdin (nothing if undef), for at most timeout seconds
# ($PostgreSQL::Test::Utils::timeout_default if undef).  Returns its exit
# code (-1 when it could not run or timed out, the reason then appended to
# stderr), its stdout and its stderr.
sub run_cmd
{
	my ($cmd, $input, $timeout) = @_;
	my ($out, $err) = ('', '');
	my $argv = ref $cmd ? $cmd : [ 'bash', '-c', $cmd ];
	my $ok = eval {
		IPC::Run::run($argv, '<', \($input // ''), '>', \$out, '2>', \$err,
			IPC::Run::timeout($timeout // $PostgreSQL::Test::Utils::timeout_default));
		1;
	};
	my $rc = $ok ? $? >> 8 : -1;
	$err .= "\n$@" unless $ok;
	return ($rc, $out, $err);
}

# Create, configure and start a node with nagare preloaded, create the
# extension in database postgres and wait until the broker is ready.
# %opts: conf => extra postgresql.conf lines; start => 0 to leave it stopped.
sub nagare_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	# each node's HTTP endpoint on a port of its own: two nodes at once
	# would otherwise both want nagare.http_port's default
	my $http_port = PostgreSQL::Test::Cluster::get_free_port();
	# and its DNS server too (SHOW nagare.dns_port gives it)
	my $dns_port = PostgreSQL::Test::Cluster::get_free_port();
	$node->init;
	$node->append_conf('postgresql.conf', <<"EOC");
shared_preload_libraries = 'nagare'
log_min_messages = info
log_line_prefix = '%m [%p] %b '
restart_after_crash = on
wal_level = logical
nagare.http_listen_addresses = '127.0.0.1'
nagare.http_port = $http_port
nagare.dns_listen_addresses = '127.0.0.1'
nagare.dns_port = $dns_port
EOC
	# PostgreSQL 15.19 and later load only the output plugins this names
	$node->append_conf('postgresql.conf',
		"output_plugin_libraries = 'pgoutput, test_decoding, nagare'\n")
	  if output_plugin_allowlist();
	$node->append_conf('postgresql.conf', $opts{conf}) if defined $opts{conf};
	return $node if defined $opts{start} && !$opts{start};
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION nagare');
	wait_broker_ready($node);
	return $node;
}

# A nagare_node() whose Kafka listener is on 127.0.0.1 at a free port,
# listening; returns ($node, $port).  %opts as nagare_node's, and
# protocol => 'SASL_PLAINTEXT' (or another of Kafka's security protocols)
# makes it a listener of nagare.listeners with that protocol.
sub kafka_node
{
	my ($name, %opts) = @_;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $listener = $opts{protocol}
	  ? "nagare.listeners = '$opts{protocol}://127.0.0.1:$port'\n"
	  : "nagare.listen_addresses = '127.0.0.1'\nnagare.port = $port\n";
	my $node = nagare_node($name, %opts, conf => $listener . ($opts{conf} // ''));
	$node->wait_for_log(qr/listening for Kafka clients on 127\.0\.0\.1 port $port/);
	return ($node, $port);
}

# Pass when Metadata (kcat) shows the topic on the listener at port: the
# broker learns topics from the nagare worker, a moment after they commit.
sub wait_kafka_topic
{
	my ($port, $topic) = @_;
	Test::More::ok(wait_until(sub {
		my $out = `kcat -b 127.0.0.1:$port -L -t $topic 2>/dev/null`;
		return defined $out && $out =~ /topic "$topic" with/;
	}), "Metadata shows topic $topic");
}

# Does this PostgreSQL have output_plugin_libraries (15.19 and later)?
my $allowlist;
sub output_plugin_allowlist
{
	if (!defined $allowlist)
	{
		my $out = `postgres --describe-config 2>/dev/null`;
		$allowlist = ($out =~ /^output_plugin_libraries\b/m) ? 1 : 0;
	}
	return $allowlist;
}

# Wait until nagare.broker says ready, and return the broker's pid.
sub wait_broker_ready
{
	my ($node) = @_;
	$node->poll_query_until('postgres',
		"SELECT state = 'ready' AND pid IS NOT NULL FROM nagare.broker")
	  or die "nagare broker of node " . $node->name . " did not become ready";
	return broker_pid($node);
}

sub broker_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres', 'SELECT pid FROM nagare.broker');
}

# Wait until a broker other than $old_pid is ready; return its pid.
sub wait_new_broker
{
	my ($node, $old_pid) = @_;
	$node->poll_query_until('postgres',
		"SELECT state = 'ready' AND pid IS NOT NULL AND pid <> $old_pid FROM nagare.broker"
	) or die "no new nagare broker after pid $old_pid";
	return broker_pid($node);
}

sub pid_alive
{
	my ($pid) = @_;
	return 0 unless defined $pid && $pid =~ /^\d+$/ && $pid > 0;
	return kill(0, $pid) ? 1 : 0;
}

# Wait (bounded) until none of @pids exists any more; true on success.
sub wait_pid_gone
{
	my @pids = grep { defined $_ && /^\d+$/ } @_;
	return wait_until(sub { !grep { pid_alive($_) } @pids });
}

# Poll $cond (a sub) every 50 ms until it is true or the default timeout.
sub wait_until
{
	my ($cond, $timeout) = @_;
	$timeout //= $PostgreSQL::Test::Utils::timeout_default;
	my $tries = $timeout * 20;
	for (1 .. $tries)
	{
		return 1 if $cond->();
		usleep(50_000);
	}
	return $cond->() ? 1 : 0;
}

sub topic_id
{
	my ($node, $topic) = @_;
	return $node->safe_psql('postgres',
		"SELECT id FROM nagare.topic WHERE name = '$topic' AND deleted_at IS NULL");
}

# Absolute directory of a partition.
sub partition_dir
{
	my ($node, $topic, $partition) = @_;
	$partition //= 0;
	return $node->data_dir . '/pg_nagare/' . topic_id($node, $topic) . "-$partition";
}

# nagare.partitions row of a partition as a hash.
sub partition_row
{
	my ($node, $topic, $partition) = @_;
	$partition //= 0;
	my $r = $node->safe_psql('postgres',
		"SELECT log_start_offset, high_watermark, records, segments, size_bytes, directory "
		  . "FROM nagare.partitions WHERE topic = '$topic' AND partition = $partition");
	my @f = split /\|/, $r, -1;
	return {
		log_start_offset => $f[0],
		high_watermark => $f[1],
		records => $f[2],
		segments => $f[3],
		size_bytes => $f[4],
		directory => $f[5]
	};
}

# Sorted names of the files in a directory matching $re (default: *.log).
sub segment_files
{
	my ($dir, $re) = @_;
	$re //= qr/^\d{20}\.log$/;
	opendir(my $dh, $dir) or return ();
	my @f = sort grep { $_ =~ $re } readdir($dh);
	closedir($dh);
	return @f;
}

# consume() as a list of [offset, key hex, value hex], reading everything from
# $from to the high watermark.
sub consume_rows
{
	my ($node, $topic, $partition, $from, $max) = @_;
	$from //= 0;
	$max //= 1000000;
	my $out = $node->safe_psql('postgres',
		"SELECT \"offset\", encode(coalesce(key, ''), 'hex'), encode(value, 'hex') "
		  . "FROM nagare.consume('$topic', $partition, $from, $max)");
	return map { [ split /\|/, $_, -1 ] } grep { $_ ne '' } split /\n/, $out;
}

# consume() as a list of "offset:value-as-text".
sub consume_values
{
	my ($node, $topic, $partition, $from, $max) = @_;
	$from //= 0;
	$max //= 1000000;
	my $out = $node->safe_psql('postgres',
		"SELECT \"offset\" || ':' || convert_from(value, 'UTF8') "
		  . "FROM nagare.consume('$topic', $partition, $from, $max)");
	return grep { $_ ne '' } split /\n/, $out;
}

# Current length of the server log, to look for lines written after it.
sub log_offset
{
	my ($node) = @_;
	return -s $node->logfile // 0;
}

sub log_since
{
	my ($node, $offset) = @_;
	return substr(slurp_file($node->logfile), $offset);
}

# Wait for $re in the server log after $offset; dies on timeout.
sub wait_for_log_from
{
	my ($node, $re, $offset) = @_;
	my $ok = wait_until(sub { log_since($node, $offset) =~ $re });
	die "timed out waiting for /$re/ in the log of " . $node->name unless $ok;
	return 1;
}

sub read_file_bytes
{
	my ($path) = @_;
	open(my $fh, '<:raw', $path) or die "open $path: $!";
	local $/;
	my $data = <$fh>;
	close($fh);
	return $data // '';
}

sub write_file_bytes
{
	my ($path, $data) = @_;
	open(my $fh, '>:raw', $path) or die "open $path: $!";
	print $fh $data;
	close($fh) or die "close $path: $!";
}

# CRC-32C (Castagnoli) as Kafka computes it.
my @crc32c_table;
sub crc32c
{
	my ($data) = @_;
	if (!@crc32c_table)
	{
		for my $n (0 .. 255)
		{
			my $c = $n;
			$c = ($c & 1) ? (($c >> 1) ^ 0x82F63B78) : ($c >> 1) for 1 .. 8;
			$crc32c_table[$n] = $c;
		}
	}
	my $crc = 0xFFFFFFFF;
	$crc = $crc32c_table[ ($crc ^ $_) & 0xFF ] ^ ($crc >> 8) for unpack('C*', $data);
	return $crc ^ 0xFFFFFFFF;
}

# partition.meta: header (magic, version, length, CRC-32C of the payload),
# then the payload (topic id, partition, log start offset), native byte order.
sub meta_read
{
	my ($dir) = @_;
	my $d = read_file_bytes("$dir/partition.meta");
	my ($magic, $version, $length, $crc) = unpack('L4', $d);
	my $payload = substr($d, 16);
	my ($topic_id, $partition, $log_start) = unpack('l l q', $payload);
	return {
		magic => $magic,
		version => $version,
		length => $length,
		crc => $crc,
		crc_ok => (crc32c($payload) == $crc ? 1 : 0),
		topic_id => $topic_id,
		partition => $partition,
		log_start_offset => $log_start,
		size => length($d)
	};
}

# Write partition.meta; %o may give crc => to write a wrong checksum.
sub meta_write
{
	my ($dir, $topic_id, $partition, $log_start, %o) = @_;
	my $payload = pack('l l q', $topic_id, $partition, $log_start);
	my $crc = $o{crc} // crc32c($payload);
	write_file_bytes("$dir/partition.meta",
		pack('L4', 0x4E474D31, 1, length($payload), $crc) . $payload);
}

# Run SQL that must fail; return "SQLSTATE: message" plus the DETAIL and
# HINT lines as psql prints them with VERBOSITY verbose (LOCATION dropped).
sub sql_error
{
	my ($node, $sql, %o) = @_;
	my ($ret, $out, $err) = $node->psql($o{db} // 'postgres',
		"\\set VERBOSITY verbose\n$sql", %o);
	return "no error (exit $ret): $out" if $ret == 0;
	$err =~ s/^LOCATION:.*\n?//mg;
	$err =~ s/^psql:<stdin>:\d+: //mg;
	$err =~ s/\s+$//;
	return $err;
}

# Run the openssl command; dies with its messages if it fails.
sub openssl
{
	my ($out, $err) = ('', '');
	IPC::Run::run [ 'openssl', @_ ], '>', \$out, '2>', \$err
	  or die "openssl @_ failed: $err";
}

# A self-signed CA in $dir: $name.crt and $name.key (PEM, no passphrase).
sub make_ca
{
	my ($dir, $name, $subject) = @_;
	openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30',
		'-subj', $subject, '-keyout', "$dir/$name.key", '-out', "$dir/$name.crt");
}

# A certificate for $subject signed by the CA $ca of make_ca(), in $dir:
# $name.crt and $name.key (PEM, PKCS#8 without a passphrase, mode 0600).
# %o: days (default 30; negative makes it expired), ext (extension lines,
# e.g. "subjectAltName = DNS:localhost, IP:127.0.0.1\n").
sub make_cert
{
	my ($dir, $name, $ca, $subject, %o) = @_;
	openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', $subject,
		'-keyout', "$dir/$name.key", '-out', "$dir/$name.csr");
	my @ext;
	if ($o{ext})
	{
		open my $fh, '>', "$dir/$name.ext" or die "open $dir/$name.ext: $!";
		print $fh $o{ext};
		close $fh;
		@ext = ('-extfile', "$dir/$name.ext");
	}
	openssl('x509', '-req', '-in', "$dir/$name.csr", '-CA', "$dir/$ca.crt",
		'-CAkey', "$dir/$ca.key", '-CAcreateserial', '-days', $o{days} // 30,
		'-out', "$dir/$name.crt", @ext);
	chmod 0600, "$dir/$name.key";
}

# What the records test/interop/tls_clients.py and tls_kafkajs.mjs produce
# ($count records of $size bytes) come to when consumed: { count, bytes,
# sha256 of the values in order }, as their consume command prints it.
# Record i's value is "i:" and then a repeating pattern.
sub tls_client_values
{
	my ($count, $size) = @_;
	my $ctx = Digest::SHA->new(256);
	my $bytes = 0;
	for my $i (0 .. $count - 1)
	{
		my $head = "$i:";
		my $body = join('', map { chr(($i + $_) % 251) } 0 .. 255);
		my $v = $head . substr($body x (int(($size - length $head) / 256) + 1), 0, $size - length $head);
		$ctx->add($v);
		$bytes += length $v;
	}
	return { count => $count, bytes => $bytes, sha256 => $ctx->hexdigest };
}

1;
