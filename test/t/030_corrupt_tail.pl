# Recovery of a damaged partition tail.  With the server stopped, the last
# segment of each partition is damaged in one way; at start the broker must
# truncate the segment after the last intact batch (and say so), publish a
# high watermark equal to the number of intact records, serve exactly those
# records, and let new sends continue at the next offset.  Damaged index
# files are rebuilt without losing records.  A damaged partition.meta is
# reported and the log start offset falls back to the first segment's base.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use NagareTest;

my $node = nagare_node('corrupt');

# Deterministic "random" bytes (an LCG, so the test does not depend on
# Perl's rand()).
sub garbage
{
	my ($len, $seed) = @_;
	my $x = $seed;
	my $s = '';
	for (1 .. $len)
	{
		$x = ($x * 1103515245 + 12345) % 2**31;
		$s .= chr(($x >> 16) & 0xFF);
	}
	return $s;
}

# Kafka batch layout: BaseOffset int64, BatchLength int32 (bytes after this
# field); the batch is BatchLength + 12 bytes.  Returns [pos, len] of every
# batch in a .log file.
sub batches
{
	my ($path) = @_;
	my $d = read_file_bytes($path);
	my @b;
	my $pos = 0;
	while ($pos + 12 <= length($d))
	{
		my $len = unpack('N', substr($d, $pos + 8, 4)) + 12;
		push @b, [ $pos, $len ];
		$pos += $len;
	}
	return @b;
}

my %t;    # topic name -> its case

# name, config, number of records, damage (a sub getting the topic's hash)
sub add_case
{
	my ($name, $config, $nrec, %c) = @_;
	$node->safe_psql('postgres', "SELECT nagare.create_topic('$name', 1, '$config')");
	$node->safe_psql('postgres',
		"SELECT count(nagare.send('$name', 'key-' || i, lpad('$name-' || i, 200, '.'), "
		  . "jsonb_build_object('n', i::text))) FROM generate_series(0, $nrec - 1) i");
	$t{$name} = {
		name => $name,
		nrec => $nrec,
		id => topic_id($node, $name),
		dir => partition_dir($node, $name),
		rows => [ consume_rows($node, $name, 0, 0) ],
		%c
	};
	is(scalar @{ $t{$name}{rows} }, $nrec, "$name: $nrec records before the damage");
}

my $small = '{"segment.bytes": 1024, "index.interval.bytes": 0}';
my $idx0 = '{"index.interval.bytes": 0}';

# (a) truncated in the middle of the last batch; several segments, the last
#     with two batches: the second is cut
add_case('cut', $small, 11, intact => 10, reason => 'batch extends past the end of the file',
	damage => sub { my ($c, $f, $b) = @_; truncate_to($f, $b->[-1][0] + int($b->[-1][1] / 2)) });
# (a') the active segment's only batch is cut inside its header: the segment
#     is left empty and the high watermark is its base offset
add_case('cuthdr', $small, 10, intact => 9, reason => 'incomplete batch header',
	damage => sub { my ($c, $f, $b) = @_; truncate_to($f, $b->[-1][0] + 30) });
# (b) garbage appended after the last batch
add_case('garbage', $idx0, 10, intact => 10, reason => qr/.+/,
	damage => sub { my ($c, $f) = @_; append_to($f, garbage(100, 42)) });
# (b') zeros appended (what a file extended by a crash may hold)
add_case('zeros', '{}', 10, intact => 10, reason => qr/.+/,
	damage => sub { my ($c, $f) = @_; append_to($f, "\0" x 4096) });
# (c) a byte flipped inside the last batch's value: CRC mismatch.  With
#     index.interval.bytes 0 the last index entry points at that batch.
add_case('flip', $idx0, 10, intact => 9, reason => 'CRC-32C mismatch',
	damage => sub { my ($c, $f, $b) = @_; flip_byte($f, $b->[-1][0] + $b->[-1][1] - 20) });
# (c') the same with the default index interval (one index entry, at 0)
add_case('flipdef', '{}', 10, intact => 9, reason => 'CRC-32C mismatch',
	damage => sub { my ($c, $f, $b) = @_; flip_byte($f, $b->[-1][0] + $b->[-1][1] - 20) });
# (c'') a byte flipped in the last batch's header (its BaseOffset): the
#      batch no longer follows its predecessor.
# The batch CRC does not cover BaseOffset (9 becomes 246 here), so it is the
# offset check that catches it: recovery requires every batch to start at the
# offset after its predecessor.
add_case('fliphdr', $idx0, 10, intact => 9, reason => qr/.+/,
	damage => sub { my ($c, $f, $b) = @_; flip_byte($f, $b->[-1][0] + 7) });
# (d) index overwritten with garbage of the same length
add_case('idxgarbage', $idx0, 10, intact => 10, index => 1,
	damage => sub { my ($c, $f) = @_; my $i = $f =~ s/\.log$/.index/r;
		write_file_bytes($i, garbage(-s $i, 7)) });
# (d') index deleted
add_case('idxgone', $idx0, 10, intact => 10, index => 1,
	damage => sub { my ($c, $f) = @_; unlink($f =~ s/\.log$/.index/r) or die });
# (d'') index entries garbage except the last one, which stays valid
add_case('idxhead', $idx0, 10, intact => 10, index => 1,
	damage => sub { my ($c, $f) = @_; my $i = $f =~ s/\.log$/.index/r;
		my $d = read_file_bytes($i);
		write_file_bytes($i, garbage(length($d) - 8, 9) . substr($d, -8)) });
# Index entries are hints: recovery drops entries that are out of order, and
# consume() verifies what an entry points at; with the first entry pointing
# at the 6th batch, consume from offset 0 must still start at offset 0.
# (d4) one well-formed but wrong index entry before the last (valid) one:
#      the first entry (offset 0) points at the 6th batch
add_case('idxwrong', $idx0, 10, intact => 10, index => 1,
	damage => sub { my ($c, $f, $b) = @_; my $i = $f =~ s/\.log$/.index/r;
		my $d = read_file_bytes($i);
		substr($d, 0, 8) = pack('NN', 0, $b->[5][0]);
		write_file_bytes($i, $d) });
# (d''') time index overwritten with garbage
add_case('tigarbage', $idx0, 10, intact => 10, index => 1,
	damage => sub { my ($c, $f) = @_; my $i = $f =~ s/\.log$/.timeindex/r;
		write_file_bytes($i, garbage(-s $i, 11)) });

sub truncate_to { my ($f, $len) = @_; truncate($f, $len) or die "truncate $f: $!" }
sub append_to
{
	my ($f, $data) = @_;
	open(my $fh, '>>:raw', $f) or die "open $f: $!";
	print $fh $data;
	close($fh) or die;
}
sub flip_byte
{
	my ($f, $pos) = @_;
	my $d = read_file_bytes($f);
	substr($d, $pos, 1) = chr(ord(substr($d, $pos, 1)) ^ 0xFF);
	write_file_bytes($f, $d);
}

$node->stop;

for my $c (values %t)
{
	my @logs = segment_files($c->{dir});
	$c->{seg} = $logs[-1];
	$c->{segbase} = $logs[-1] =~ s/\.log$//r + 0;
	$c->{nsegs} = scalar @logs;
	my $f = "$c->{dir}/$c->{seg}";
	my @b = batches($f);
	$c->{size_before} = -s $f;
	# size of the intact part: the batches that stay
	my $keep = $c->{intact} - $c->{segbase};
	$c->{size_after} = $keep > 0 ? $b[ $keep - 1 ][0] + $b[ $keep - 1 ][1] : 0;
	$c->{damage}->($c, $f, \@b);
	$c->{size_damaged} = -s $f;
}

my $logpos = log_offset($node);
$node->start;
wait_broker_ready($node);
my $log = log_since($node, $logpos);

for my $name (sort keys %t)
{
	my $c = $t{$name};
	my $rel = "pg_nagare/$c->{id}-0/$c->{seg}";
	my @lines = $log =~ /nagare broker: truncating "\Q$rel\E" from (\d+) to (\d+) bytes: ([^\n]*)/g;
	if ($c->{reason})
	{
		is("$lines[0] $lines[1]", "$c->{size_damaged} $c->{size_after}",
			"$name: broker logs the truncation of the last segment from $c->{size_damaged} to $c->{size_after} bytes");
		if (ref $c->{reason})
		{
			like($lines[2], $c->{reason}, "$name: truncation reason '$lines[2]'");
		}
		else
		{
			is($lines[2], $c->{reason}, "$name: truncation reason");
		}
		is(scalar(@lines), 3, "$name: one truncation");
	}
	else
	{
		is(scalar(@lines), 0, "$name: nothing truncated");
	}
	is(-s "$c->{dir}/$c->{seg}", $c->{size_after}, "$name: last segment is $c->{size_after} bytes");

	my $row = partition_row($node, $name);
	is($row->{high_watermark}, $c->{intact}, "$name: high watermark = $c->{intact} intact records");
	is($row->{segments}, $c->{nsegs}, "$name: segments");
	my @rows = consume_rows($node, $name, 0, 0);
	is_deeply(\@rows, [ @{ $c->{rows} }[ 0 .. $c->{intact} - 1 ] ],
		"$name: consume returns exactly the intact records, byte for byte");

	if ($c->{index})
	{
		# Recovery rebuilds index entries with the server default
		# index.interval.bytes: the broker recovers partitions before the
		# nagare worker has published the topics' settings, so a topic's own
		# interval (0 here) applies again only to new appends.  The index is
		# a read-speed hint, so what matters is that it leads to the right
		# records: every offset found through the (recovered) index.
		my $each = join("\n", map {
			$node->safe_psql('postgres',
				"SELECT \"offset\" FROM nagare.consume('$name', 0, $_, 1)")
		} 0 .. $c->{intact} - 1);
		is($each, join("\n", 0 .. $c->{intact} - 1),
			"$name: consume from each offset starts at that offset");
	}

	# new records continue without a gap
	is( $node->safe_psql('postgres',
			"SELECT partition, \"offset\" FROM nagare.send('$name', 'new', 'after-recovery')"),
		"0|$c->{intact}",
		"$name: next send gets offset $c->{intact}");
	is( $node->safe_psql('postgres',
			"SELECT string_agg(\"offset\"::text, ',') FROM nagare.consume('$name', 0, 0, 1000)"),
		join(',', 0 .. $c->{intact}),
		"$name: offsets are contiguous after the new send");
	is( $node->safe_psql('postgres',
			"SELECT convert_from(value, 'UTF8') FROM nagare.consume('$name', 0, $c->{intact}, 1)"),
		'after-recovery', "$name: new record readable");
}

# A second restart finds nothing to repair
$logpos = log_offset($node);
$node->restart;
wait_broker_ready($node);
unlike(log_since($node, $logpos), qr/nagare broker: truncating/,
	'no truncation on the next restart');
for my $name (sort keys %t)
{
	my $c = $t{$name};
	is_deeply([ consume_rows($node, $name, 0, 0, $c->{intact}) ],
		[ @{ $c->{rows} }[ 0 .. $c->{intact} - 1 ] ],
		"$name: intact records still there after another restart");
}

#
# partition.meta damaged.  Retention-like state: the first segment is gone
# and partition.meta says the log starts at the second.
#
$node->safe_psql('postgres',
	"SELECT nagare.create_topic('meta', 1, '{\"segment.bytes\": 1024}')");
$node->safe_psql('postgres',
	"SELECT count(nagare.send('meta', 'k', lpad(i::text, 200, '.'))) FROM generate_series(0, 9) i");
my $mdir = partition_dir($node, 'meta');
my $mid = topic_id($node, 'meta');
my @mlogs = segment_files($mdir);
is(scalar(@mlogs), 4, 'meta: 4 segments');
my $base1 = $mlogs[1] =~ s/\.log$//r + 0;
my $mrows = [ consume_rows($node, 'meta', 0, $base1) ];
$node->stop;
unlink("$mdir/$mlogs[0]", "$mdir/" . ($mlogs[0] =~ s/\.log$/.index/r),
	"$mdir/" . ($mlogs[0] =~ s/\.log$/.timeindex/r)) == 3 or die 'unlink';

for my $damage (
	[ 'checksum mismatch', sub { meta_write($mdir, $mid, 0, $base1, crc => 12345) } ],
	[ 'file is truncated', sub { write_file_bytes("$mdir/partition.meta", "NGM") } ],
	[ 'wrong magic number', sub { write_file_bytes("$mdir/partition.meta", garbage(32, 5)) } ])
{
	my ($reason, $do) = @$damage;
	$do->();
	$logpos = log_offset($node);
	$node->start;
	wait_broker_ready($node);
	$log = log_since($node, $logpos);
	my @w = $log =~ /(WARNING:  nagare broker: "[^"]*" is corrupted \([^)]*\); the log start offset falls back to the first segment's)/g;
	is_deeply(\@w,
		[ "WARNING:  nagare broker: \"pg_nagare/$mid-0/partition.meta\" is corrupted ($reason); the log start offset falls back to the first segment's" ],
		"meta ($reason): reported once as corruption");
	my $row = partition_row($node, 'meta');
	is("$row->{log_start_offset}|$row->{high_watermark}|$row->{segments}", "$base1|10|3",
		"meta ($reason): log start falls back to the first segment's base offset");
	my $m = meta_read($mdir);
	is_deeply([ @$m{qw(crc_ok topic_id partition log_start_offset)} ],
		[ 1, $mid, 0, $base1 ], "meta ($reason): partition.meta rewritten");
	is_deeply([ consume_rows($node, 'meta', 0, $base1) ], $mrows,
		"meta ($reason): records intact");
	$logpos = log_offset($node);
	$node->restart;
	wait_broker_ready($node);
	unlike(log_since($node, $logpos), qr/is corrupted/,
		"meta ($reason): not reported again at the next start");
	$node->stop;
}

done_testing();
