# Retention: retention.bytes and retention.ms delete whole inactive segments
# from the front of a partition, move the log start offset to a segment
# boundary, persist it in partition.meta, and consume() refuses offsets below
# it.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use NagareTest;

my $node = nagare_node('retention',
	conf => "nagare.retention_check_interval = '200ms'\n");

# Every record is key 'k' and a 200-byte value with its number in it, so every
# batch has the same size.
sub value_sql { return "lpad($_[0]::text, 200, '-')" }
sub value_of { return sprintf('%200s', $_[0]) =~ tr/ /-/r }

#
# Size retention
#
$node->safe_psql('postgres',
	"SELECT nagare.create_topic('ret', 1, '{\"segment.bytes\": 1024}')");
$node->safe_psql('postgres',
	"SELECT nagare.send('ret', 'k', " . value_sql(0) . ")");
my $batch = partition_row($node, 'ret')->{size_bytes};
my $per_seg = int(1024 / $batch);
my $seg_size = $per_seg * $batch;
my $n = 10 * $per_seg;
note "batch $batch bytes, $per_seg batches ($seg_size bytes) per segment, $n records";
cmp_ok($per_seg, '>=', 2, 'several batches per segment');

# all but the first record in one transaction: fast, and fsynced at commit
# (retention skips segments that are not fsynced yet)
$node->safe_psql('postgres',
	"SELECT count(nagare.send('ret', 'k', " . value_sql('i') . ")) FROM generate_series(1, $n - 1) i");
my $row = partition_row($node, 'ret');
is($row->{high_watermark}, $n, 'high watermark after the sends');
is($row->{log_start_offset}, 0, 'nothing deleted without retention.bytes');

my $dir = partition_dir($node, 'ret');
my $topic_id = topic_id($node, 'ret');
my $logpos = log_offset($node);

# keep the last 3 segments: 10 segments of $seg_size bytes, retention.bytes =
# 3 segments; the active (10th) segment is never deleted
$node->safe_psql('postgres',
	"SELECT nagare.alter_topic('ret', config => '{\"retention.bytes\": " . (3 * $seg_size) . "}')");
my $start = 7 * $per_seg;
$node->poll_query_until('postgres',
	"SELECT log_start_offset FROM nagare.partitions WHERE topic = 'ret'", $start)
  or die 'retention.bytes did not delete segments';
$row = partition_row($node, 'ret');
is($row->{log_start_offset}, $start, 'log start offset moved to the base of segment 8');
is($row->{high_watermark}, $n, 'high watermark unchanged');
is($row->{records}, 3 * $per_seg, 'records');
is($row->{segments}, 3, 'segments');
is($row->{size_bytes}, 3 * $seg_size, 'size_bytes');
is_deeply([ segment_files($dir, qr/^\d{20}\.(log|index|timeindex)$/) ],
	[ map { my $b = sprintf('%020d', $_ * $per_seg); ("$b.index", "$b.log", "$b.timeindex") } 7 .. 9 ],
	'only the 3 newest segments are left on disk');
my $since = log_since($node, $logpos);
for my $s (0 .. 6)
{
	my $base = $s * $per_seg;
	like($since,
		qr/LOG:  nagare broker: deleting segment $base of partition "pg_nagare\/$topic_id-0" \(retention\.bytes\)/,
		"log says segment $base was deleted for retention.bytes");
}
my $meta = meta_read($dir);
is_deeply(
	[ @$meta{qw(magic version length crc_ok topic_id partition log_start_offset size)} ],
	[ 0x4E474D31, 1, 16, 1, $topic_id, 0, $start, 32 ],
	'partition.meta records the new log start offset');

# consume below the log start
is(sql_error($node, "SELECT * FROM nagare.consume('ret', 0, 0, 10)"),
	qq{ERROR:  22023: offset 0 of partition 0 of topic "ret" was deleted
DETAIL:  The partition's log starts at offset $start.
HINT:  Read from the log start offset shown in nagare.partitions.},
	'consume from offset 0 fails: deleted');
like(sql_error($node, "SELECT * FROM nagare.consume('ret', 0, " . ($start - 1) . ", 10)"),
	qr/^ERROR:  22023: offset @{[$start - 1]} of partition 0 of topic "ret" was deleted/,
	'consume from just below the log start fails');

# consume from the log start: contiguous offsets up to the high watermark
my $expect = join("\n", map { "$_:" . value_of($_) } $start .. $n - 1);
is(join("\n", consume_values($node, 'ret', 0, $start)), $expect,
	'consume from the log start returns every remaining record, contiguous');
is( $node->safe_psql('postgres',
		"SELECT string_agg(\"offset\"::text, ',') FROM nagare.consume('ret', 0, $start, 2)"),
	"$start," . ($start + 1),
	'max_records is honoured from the log start');

# a restart keeps the log start offset
$node->restart;
wait_broker_ready($node);
$row = partition_row($node, 'ret');
is("$row->{log_start_offset}|$row->{high_watermark}|$row->{segments}|$row->{size_bytes}",
	"$start|$n|3|" . (3 * $seg_size),
	'log start offset, high watermark, segments and size survive a restart');
is(join("\n", consume_values($node, 'ret', 0, $start)), $expect,
	'records after the restart');
like(sql_error($node, "SELECT * FROM nagare.consume('ret', 0, 0, 10)"),
	qr/^ERROR:  22023: offset 0 of partition 0 of topic "ret" was deleted\nDETAIL:  The partition's log starts at offset $start\./,
	'offset 0 is still deleted after a restart');

# partition.meta is what recovery trusts: a log start offset written by a
# retention pass that crashed before it unlinked the segments below it makes
# recovery delete those segments.
$node->stop;
my $start2 = 8 * $per_seg;
meta_write($dir, $topic_id, 0, $start2);
$logpos = log_offset($node);
$node->start;
wait_broker_ready($node);
$row = partition_row($node, 'ret');
is("$row->{log_start_offset}|$row->{high_watermark}|$row->{segments}",
	"$start2|$n|2", 'recovery applies the log start offset of partition.meta');
is_deeply([ segment_files($dir) ],
	[ map { sprintf('%020d.log', $_ * $per_seg) } 8 .. 9 ],
	'recovery removed the segment below the log start offset');
ok(!-e sprintf('%s/%020d.index', $dir, 7 * $per_seg)
	  && !-e sprintf('%s/%020d.timeindex', $dir, 7 * $per_seg),
	'and its index files');
is(join("\n", consume_values($node, 'ret', 0, $start2)),
	join("\n", map { "$_:" . value_of($_) } $start2 .. $n - 1),
	'records from the new log start');

# new sends continue at the high watermark
is($node->safe_psql('postgres', "SELECT \"offset\" FROM nagare.send('ret', 'k', 'next')"),
	$n, 'next send gets the next offset');

#
# Time retention
#
$node->safe_psql('postgres',
	"SELECT nagare.create_topic('tret', 1, '{\"segment.bytes\": 1024, \"retention.ms\": -1}')");
my $tn = 3 * $per_seg + 1;
$node->safe_psql('postgres',
	"SELECT count(nagare.send('tret', 'k', " . value_sql('i') . ")) FROM generate_series(0, $tn - 1) i");
$row = partition_row($node, 'tret');
is("$row->{log_start_offset}|$row->{high_watermark}|$row->{segments}",
	"0|$tn|4", 'time topic: 4 segments, nothing deleted with retention.ms = -1');
my $tid = topic_id($node, 'tret');
$logpos = log_offset($node);
$node->safe_psql('postgres',
	"SELECT nagare.alter_topic('tret', config => '{\"retention.ms\": 500}')");
is( $node->safe_psql('postgres',
		"SELECT config->>'retention.ms', config->>'segment.bytes' FROM nagare.topics WHERE topic = 'tret'"),
	'500|1024', 'alter_topic changed retention.ms and kept segment.bytes');
my $tstart = 3 * $per_seg;
$node->poll_query_until('postgres',
	"SELECT log_start_offset FROM nagare.partitions WHERE topic = 'tret'", $tstart)
  or die 'retention.ms did not delete segments';
$row = partition_row($node, 'tret');
is("$row->{log_start_offset}|$row->{high_watermark}|$row->{records}|$row->{segments}|$row->{size_bytes}",
	"$tstart|$tn|1|1|$batch",
	'time retention deleted every inactive segment, the active one stays');
$since = log_since($node, $logpos);
for my $s (0 .. 2)
{
	my $base = $s * $per_seg;
	like($since,
		qr/nagare broker: deleting segment $base of partition "pg_nagare\/$tid-0" \(retention\.ms\)/,
		"log says segment $base was deleted for retention.ms");
}
is_deeply([ segment_files(partition_dir($node, 'tret')) ],
	[ sprintf('%020d.log', $tstart) ], 'only the active segment is on disk');
is(join("\n", consume_values($node, 'tret', 0, $tstart)),
	"$tstart:" . value_of($tstart), 'the last record is still readable');
like(sql_error($node, "SELECT * FROM nagare.consume('tret', 0, 0, 10)"),
	qr/^ERROR:  22023: offset 0 of partition 0 of topic "tret" was deleted/,
	'time topic: offset 0 is deleted');

$node->stop;
done_testing();
