# Concurrent producers through a small append ring that wraps constantly.
#
# Single-record transactions (each waits at commit) and 1000-record
# statements run together for a few seconds through a 1 MB ring; the broker
# must not restart, must not report missing offsets, and every partition
# must read back as contiguous offsets with intact batches.  (This caught a
# request ring that overran its shared memory into the append ring.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('load');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'nagare'
nagare.queue_size = 1024
nagare.listen_addresses = ''
max_connections = 20
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION nagare');
$node->safe_psql('postgres', q{SELECT nagare.create_topic('load', 2, '{"max.message.bytes": 200000}')});
my $broker = $node->safe_psql('postgres', 'SELECT pid FROM nagare.broker');

my $dir = PostgreSQL::Test::Utils::tempdir;
open my $f, '>', "$dir/single.sql" or die;
print $f "SELECT nagare.send('load', (random() * 1000)::int::text, repeat('s', 100));\n";
close $f;
open $f, '>', "$dir/multi.sql" or die;
print $f "SELECT count(nagare.send('load', g::text, repeat('m', 100))) FROM generate_series(1, 1000) g;\n";
close $f;
open $f, '>', "$dir/batch.sql" or die;
print $f "SELECT count(*) FROM nagare.send_batch('load', NULL, (SELECT array_agg(repeat('b', 120)) FROM generate_series(1, 1500)));\n";
close $f;

my @runs;
for my $script ([ 'single.sql', 6 ], [ 'multi.sql', 2 ], [ 'batch.sql', 1 ])
{
	my ($out, $err) = ('', '');
	push @runs, [ $script->[0], \$out, \$err, IPC::Run::start(
		[ 'pgbench', '-n', '-T', '6', '-c', $script->[1], '-f', "$dir/$script->[0]",
		  '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$out, '2>', \$err) ];
}
for my $r (@runs)
{
	$r->[3]->finish;
	my ($tps) = ${ $r->[1] } =~ /tps = ([\d.]+)/;
	ok(defined $tps && $tps > 0, "pgbench $r->[0] ran ($r->[0]: " . ($tps // 'none') . " tps)")
	  or diag(${ $r->[1] } . ${ $r->[2] });
	like(${ $r->[1] }, qr/number of failed transactions: 0 /, "pgbench $r->[0]: no failed transaction");
}

is($node->safe_psql('postgres', 'SELECT pid FROM nagare.broker'), $broker, 'the broker never restarted');
my $log = slurp_file($node->logfile);
unlike($log, qr/are missing|terminated by signal|queue is full/, 'no missing offsets, crash or full queue');

for my $p (0, 1)
{
	my $row = $node->safe_psql('postgres', qq{
		SELECT count(*), count(DISTINCT "offset"), min("offset"), max("offset"),
		       (SELECT high_watermark FROM nagare.partitions WHERE topic = 'load' AND partition = $p)
		  FROM nagare.consume('load', $p, 0, 10000000)});
	my ($n, $distinct, $min, $max, $hwm) = split /\|/, $row;
	ok($n > 1000, "partition $p holds records ($n)");
	is("$distinct|$min|$max", "$n|0|" . ($n - 1), "partition $p: contiguous offsets 0.." . ($n - 1));
	is($hwm, $n, "partition $p: high watermark = record count");
}

$node->stop;
done_testing();
