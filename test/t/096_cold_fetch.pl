# Fetch from segments that are not in the page cache: read with direct I/O
# in reads of nagare.cold_read_size (see broker/fetch.c), or through the
# page cache when they are there, and every record comes back byte for
# byte either way, under both I/O methods.
#
# test/interop/cold_fetch.py produces records of 0 to 70,000 bytes (so
# batches start and end at every alignment and some span many direct
# reads), evicts the partition's files with posix_fadvise(DONTNEED) or
# warms all or half of them, and reads the records back with librdkafka.
# nagare.broker's fetch_direct_bytes and fetch_buffered_bytes tell which
# way the broker read.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use POSIX qw(uname);
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $python = '/usr/bin/python3';
plan skip_all => 'confluent-kafka (Debian python3-confluent-kafka) is not installed'
  if system("$python -c 'import confluent_kafka' 2>/dev/null") != 0;

# cachestat(2), which tells cold from cached, came with Linux 6.5
my ($kmajor, $kminor) = (uname())[2] =~ /^(\d+)\.(\d+)/;
my $cachestat = $kmajor > 6 || ($kmajor == 6 && $kminor >= 5);

# 5000 is rounded up to 8192: most batches take several direct reads
my ($node, $kport) = kafka_node('cold', conf => qq{
nagare.cold_read_size = 5000
});
my $bootstrap = "127.0.0.1:$kport";

my $script = 'test/interop/cold_fetch.py';
my $count = 3000;

sub run_script
{
	my ($label, @args) = @_;
	my ($stdout, $stderr);
	IPC::Run::run [ $python, $script, @args ], '>', \$stdout, '2>', \$stderr;
	diag($stderr) if $stderr;
	for my $line (split /\n/, $stdout // '')
	{
		ok(!defined $1, "$label: $2") if $line =~ /^(not )?ok \d+ - (.*)$/;
	}
	like($stdout // '', qr/^1\.\.\d+$/m, "$label: the script ran to its end") if $args[0] ne 'evict' && $args[0] ne 'warm';
}

sub fetch_bytes
{
	my ($direct, $buffered) = split /\|/,
	  $node->safe_psql('postgres', 'SELECT fetch_direct_bytes, fetch_buffered_bytes FROM nagare.broker');
	return ($direct, $buffered);
}

# read the topic back from offset $from, the files being in the state
# $prepare leaves them in; returns the bytes read directly and buffered
sub read_back
{
	my ($label, $from, @prepare) = @_;
	my ($d0, $b0) = fetch_bytes();
	run_script($label, @$_) for @prepare;
	run_script($label, 'verify', $bootstrap, 'cold', $count, $from, $label);
	my ($d1, $b1) = fetch_bytes();
	return ($d1 - $d0, $b1 - $b0);
}

$node->safe_psql('postgres',
	q{SELECT nagare.create_topic('cold', 1, '{"segment.bytes": "1048576", "retention.ms": "-1"}')});
wait_kafka_topic($kport, 'cold');
run_script('produce', 'produce', $bootstrap, 'cold', $count);
my $dir = $node->data_dir . '/' .
  $node->safe_psql('postgres', q{SELECT directory FROM nagare.partitions WHERE topic = 'cold'});
cmp_ok($node->safe_psql('postgres', q{SELECT segments FROM nagare.partitions WHERE topic = 'cold'}),
	'>', 5, 'the records fill more than five segments');

my ($direct, $buffered);
SKIP:
{
	skip "Linux $kmajor.$kminor has no cachestat(2): every read goes through the page cache", 6
	  unless $cachestat;

	($direct, $buffered) = read_back('evicted', 0, [ 'evict', $dir ]);
	cmp_ok($direct, '>', 0, 'evicted segments are read with direct I/O');
	is($buffered, 0, 'and none of them through the page cache');

	($direct, $buffered) = read_back('cached', 0, [ 'warm', $dir ]);
	is($direct, 0, 'cached segments are not read with direct I/O');
	cmp_ok($buffered, '>', 0, 'they are read through the page cache');

	# a range is read through the page cache only if all of it is there
	($direct, $buffered) = read_back('half cached', 0, [ 'evict', $dir ], [ 'warm', $dir, 12288 ]);
	cmp_ok($direct, '>', 0, 'half-cached segments are read with direct I/O');
}
# offsets that start batches at unaligned positions, and a timestamp scan
read_back('evicted, from the middle', 1234, [ 'evict', $dir ]);
run_script('evict', 'evict', $dir);
run_script('evicted', 'times', $bootstrap, 'cold', $count, 'evicted');

# nagare.cold_read_size = 0: everything through the page cache
$node->append_conf('postgresql.conf', "nagare.cold_read_size = 0\n");
$node->reload;
ok(wait_until(sub {
	$node->safe_psql('postgres', 'SHOW nagare.cold_read_size') eq '0'
}), 'nagare.cold_read_size is 0');
usleep(500_000);	# the broker reloads its configuration at its next loop turn
($direct, $buffered) = read_back('cold_read_size = 0', 0, [ 'evict', $dir ]);
is($direct, 0, 'with nagare.cold_read_size = 0, nothing is read with direct I/O');

# the plain I/O method reads cold segments directly, too (synchronously)
$node->append_conf('postgresql.conf', "nagare.cold_read_size = 64kB\nnagare.io_method = plain\n");
my $log_offset = -s $node->logfile;
$node->restart;
wait_broker_ready($node);
$node->wait_for_log(qr/listening for Kafka clients on 127\.0\.0\.1 port $kport/, $log_offset);
($direct, $buffered) = read_back('plain, evicted', 0, [ 'evict', $dir ]);
SKIP:
{
	skip "Linux $kmajor.$kminor has no cachestat(2)", 1 unless $cachestat;
	cmp_ok($direct, '>', 0, 'the plain I/O method reads evicted segments with direct I/O');
}

unlike(slurp_file($node->logfile), qr/TRAP|terminated by signal|could not read segment/,
	'no crash, no failed read');
$node->stop;
done_testing();
