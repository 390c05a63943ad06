# The broker's Kafka listener: framing, ApiVersions, limits, hostile clients.
#
# test/interop/kafka_wire.py talks to the listener over raw sockets (with
# kafka-python's encoders where it has them); here we check that the broker
# logs what it refused once per connection, never restarts, and keeps
# serving SQL producers meanwhile.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $python = '/usr/bin/python3';
plan skip_all => 'kafka-python (Debian python3-kafka) is not installed'
  if system("$python -c 'import kafka' 2>/dev/null") != 0;

my $kport = PostgreSQL::Test::Cluster::get_free_port();
my $node = PostgreSQL::Test::Cluster->new('listener');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'nagare'
nagare.listen_addresses = '127.0.0.1'
nagare.port = $kport
nagare.max_connections = 5
nagare.connections_max_idle = '1500ms'
nagare.max_request_size = '1MB'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION nagare');
$node->safe_psql('postgres', "SELECT nagare.create_topic('alive')");
$node->wait_for_log(qr/listening for Kafka clients on 127\.0\.0\.1 port $kport/);
my $broker = $node->safe_psql('postgres', 'SELECT pid FROM nagare.broker');

sub run_wire
{
	my ($method) = @_;
	my ($stdout, $stderr);
	IPC::Run::run [ $python, 'test/interop/kafka_wire.py', '127.0.0.1', $kport, 5, 1500 ],
	  '>', \$stdout, '2>', \$stderr;
	note($stderr) if $stderr;
	for my $line (split /\n/, $stdout)
	{
		if ($line =~ /^(not )?ok \d+ - (.*)$/)
		{
			ok(!defined $1, "$method: $2");
		}
	}
	like($stdout, qr/^1\.\.\d+$/m, "$method: the wire test ran to its end");
}

run_wire('io_uring');

is($node->safe_psql('postgres', 'SELECT pid FROM nagare.broker'), $broker,
	'the broker never restarted');
is($node->safe_psql('postgres', "SELECT \"offset\" FROM nagare.send('alive', 'k', 'v')"), '0',
	'SQL producers are served throughout');

my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|was terminated|exited with exit code [^1]/,
	'no process crashed');
like($log, qr/closing connection from 127\.0\.0\.1:\d+: unsupported request EndTxn \(key 26\) version 0/,
	'an unimplemented API is logged with its name');
like($log, qr/request size 209715200 is outside 10\.\.1048576/,
	'an oversized frame is logged with the limit');
like($log, qr/refusing Kafka connection: nagare\.max_connections \(5\) reached/,
	'the connection limit is logged');

# the same with the plain I/O method (epoll instead of io_uring)
$node->append_conf('postgresql.conf', "nagare.io_method = plain\n");
$node->restart;
$node->wait_for_log(qr/file I\/O through plain/);
$node->wait_for_log(qr/listening for Kafka clients on 127\.0\.0\.1 port $kport/);
run_wire('plain');
is($node->safe_psql('postgres', "SELECT \"offset\" FROM nagare.send('alive', 'k', 'v')"), '1',
	'SQL producers are served with the plain method too');

# a second server on the same port does not stop its broker: SQL still works
my $other = PostgreSQL::Test::Cluster->new('portclash');
$other->init;
$other->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'nagare'
nagare.listen_addresses = '127.0.0.1'
nagare.port = $kport
});
$other->start;
$other->safe_psql('postgres', 'CREATE EXTENSION nagare');
$other->safe_psql('postgres', "SELECT nagare.create_topic('t')");
is($other->safe_psql('postgres', "SELECT \"offset\" FROM nagare.send('t', 'k', 'v')"), '0',
	'a broker whose port is taken still serves SQL');
$other->wait_for_log(qr/could not listen for Kafka clients on any of "127\.0\.0\.1" port $kport/);
pass('and says the port is taken');
$other->stop;

$node->stop;
done_testing();
