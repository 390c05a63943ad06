# Kafka's own decoder reads nagare's files.
#
# kafka-python's DefaultRecordBatch (an implementation independent of
# nagare's) decodes every segment of a live server - each compression codec,
# headers, null keys and values, rolled segments - with valid CRCs,
# contiguous offsets and consistent .index/.timeindex files, and what it
# reads is exactly what nagare.consume() returns.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $python = '/usr/bin/python3';
plan skip_all => 'kafka-python (Debian python3-kafka) is not installed'
  if system("$python -c 'import kafka' 2>/dev/null") != 0;

my $node = PostgreSQL::Test::Cluster->new('format');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'nagare'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION nagare');

my @codecs = qw(uncompressed gzip snappy lz4 zstd);
for my $c (@codecs)
{
	# small segments and index interval: several segments and index entries
	$node->safe_psql('postgres',
		"SELECT nagare.create_topic('fmt.$c', 2, "
		  . "'{\"compression.type\": \"$c\", \"segment.bytes\": 4096, \"index.interval.bytes\": 512}')");
	$node->safe_psql('postgres', qq{
		SELECT count(*) FROM nagare.send_batch('fmt.$c',
			(SELECT array_agg(CASE WHEN g % 7 = 0 THEN NULL ELSE 'key-' || g END) FROM generate_series(1, 400) g),
			(SELECT array_agg(CASE WHEN g % 11 = 0 THEN NULL ELSE repeat(md5(g::text), g % 5) END)
			   FROM generate_series(1, 400) g),
			(SELECT array_agg(CASE WHEN g % 3 = 0 THEN '[["h", "1"], ["h", null]]'::jsonb END)
			   FROM generate_series(1, 400) g));
		SELECT count(*) FROM (SELECT nagare.send('fmt.$c', g::text::bytea, '\\x00ff'::bytea)
		                        FROM generate_series(1, 50) g) s;
	});
}

my $ids = $node->safe_psql('postgres',
	"SELECT string_agg(topic_id::text, ' ') FROM nagare.topics WHERE topic LIKE 'fmt.%'");
my @dirs;
for my $id (split / /, $ids) { push @dirs, "$id-0", "$id-1"; }

my ($stdout, $stderr);
my $ok = IPC::Run::run [ $python, 'test/interop/read_segments.py',
	$node->data_dir . '/pg_nagare', @dirs ], '>', \$stdout, '2>', \$stderr;
ok($ok, 'kafka-python decodes every segment, index and time index') or diag($stderr);

my $from_files = join("\n", sort split /\n/, $stdout);
my $from_sql = $node->safe_psql('postgres', q{
	SELECT string_agg(line, E'\n' ORDER BY line) FROM (
	  SELECT json_build_object('dir', t.topic_id || '-' || p,
	       'offset', m.offset, 'key', encode(m.key, 'hex'), 'value', encode(m.value, 'hex'),
	       'headers', coalesce((SELECT json_agg(json_build_array(h.key, encode(h.value, 'hex')))
	                              FROM unnest(m.headers) h), '[]'::json))::text AS line
	    FROM nagare.topics t, generate_series(0, 1) p, nagare.consume(t.topic, p, 0, 100000) m
	   WHERE t.topic LIKE 'fmt.%') s});

# the two renderings differ only in JSON spacing; normalise through python
my ($norm_sql, $norm_files);
my $normalise = q{import json,sys
for l in sys.stdin:
    l = l.strip()
    if l: print(json.dumps(json.loads(l), sort_keys=True))};
IPC::Run::run [ $python, '-c', $normalise ], '<', \$from_sql, '>', \$norm_sql;
IPC::Run::run [ $python, '-c', $normalise ], '<', \$from_files, '>', \$norm_files;
$norm_sql = join("\n", sort split /\n/, $norm_sql);
$norm_files = join("\n", sort split /\n/, $norm_files);

my $count = () = $norm_files =~ /\n/g;
cmp_ok($count, '>=', 5 * 449, 'every record was read from the files');
is($norm_files, $norm_sql, 'kafka-python and nagare.consume() read the same records');

my $segments = $node->safe_psql('postgres',
	"SELECT min(segments) FROM nagare.partitions WHERE topic LIKE 'fmt.%'");
cmp_ok($segments, '>', 1, 'the data spans several segments per partition');

$node->stop;
done_testing();
