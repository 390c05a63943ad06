# Disk full.  pg_nagare lives on a small file system of its own
# (NAGARE_TEST_SMALLFS, a 64 MB ext4 that scripts/test.sh mounts as root;
# the test is skipped without it), which a filler file then fills:
#
#  - a Kafka producer (acks=all, no retries) gets KAFKA_STORAGE_ERROR and
#    nothing it sent is acknowledged; publish() and send() fail in their
#    transaction with SQLSTATE 53100 (disk_full);
#  - the broker keeps running (no restart), logs the failure once, and
#    every record acknowledged before is still read back;
#  - deleting the topic whose write failed frees its space: its failed
#    write is given up (as records of a deleted topic are) and new records
#    are accepted again;
#  - filled again, a failed write of the topic that stays succeeds by itself
#    once space returns, here because retention deletes old segments of a
#    third topic (whose partition.meta then needs a block: the segments go
#    first), and producers, publish() and send() work again;
#  - a broker stopped while full gives its failed writes up; the next one
#    writes them from the ring and accepts records once space returns;
#  - after a crash the recovery truncates nothing, and every acknowledged
#    record is at its offset: nothing was lost or corrupted.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use Errno qw(ENOSPC);
use IO::Handle;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fs = $ENV{NAGARE_TEST_SMALLFS} // '';
plan skip_all => 'no small file system to fill: scripts/test.sh mounts one when run as root '
  . '(NAGARE_TEST_SMALLFS)'
  unless $fs ne '' && -d $fs && -w $fs;
my $python = '/usr/bin/python3';
plan skip_all => 'confluent-kafka (Debian python3-confluent-kafka) is not installed'
  if system("$python -c 'import confluent_kafka' 2>/dev/null") != 0;

my $kport = PostgreSQL::Test::Cluster::get_free_port();
my $node = nagare_node('diskfull', start => 0, conf => qq{
nagare.listen_addresses = '127.0.0.1'
nagare.port = $kport
nagare.retention_check_interval = '200ms'
});
# pg_nagare is a symbolic link to a directory of the small file system
my $dir = "$fs/diskfull.$$";
mkdir $dir or die "mkdir $dir: $!";
symlink($dir, $node->data_dir . '/pg_nagare') or die "symlink: $!";
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION nagare');
my $broker = wait_broker_ready($node);
ok(wait_until(sub { $node->safe_psql('postgres', 'SELECT count(*) FROM nagare.ingest') eq '1' }),
	'the ingest worker has its slot');
$node->safe_psql('postgres', q{SELECT nagare.create_topic('full', 1, '{"segment.bytes": 16777216}')});
$node->safe_psql('postgres', q{SELECT nagare.create_topic('gone', 1, '{"segment.bytes": 16777216}')});
$node->safe_psql('postgres', q{SELECT nagare.create_topic('ret', 1, '{"segment.bytes": 262144}')});
wait_kafka_topic($kport, 'full');
wait_kafka_topic($kport, 'gone');
my $gone_id = topic_id($node, 'gone');

# Produce $n records of $size bytes to each of @$topics, one at a time
# (acks=all, no retries), each waited for; returns the lines
# "ok <offset> <value>" or "err <name>".
sub produce
{
	my ($tag, $n, $size, $topics) = @_;
	$topics //= ['full'];
	my $tlist = join(',', map { "\"$_\"" } @$topics);
	my ($out, $err) = ('', '');
	IPC::Run::run [ $python, '-c', qq{
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": "127.0.0.1:$kport", "acks": "all", "retries": 0,
              "message.timeout.ms": 4000, "linger.ms": 0})
for i in range($n):
    res = []
    v = ("$tag.%d:" % i).ljust($size, "x")
    for t in [$tlist]:
        p.produce(t, value=v.encode(), partition=0,
                  on_delivery=lambda e, m: res.append("err " + e.name() if e else "ok %d %s" % (m.offset(), m.value().decode()[:20])))
    p.flush(10)
    for r in res:
        print(r, flush=True)
} ], '>', \$out, '2>', \$err, IPC::Run::timeout(120);
	return split /\n/, $out;
}

my %acked;		# offset -> value prefix, acknowledged
sub note_acked
{
	my @ok;
	for (@_)
	{
		next unless /^ok (\d+) (\S+)$/;
		$acked{$1} = $2;
		push @ok, $1;
	}
	return scalar @ok;
}

# before: everything works
is(note_acked(produce('before', 20, 1000)), 20, 'before: 20 records acknowledged');
$node->safe_psql('postgres', q{BEGIN; SELECT nagare.publish('full', 'k', 'pub.before'); COMMIT;});
# 3 MB in topic gone, 2 MB in topic ret
$node->safe_psql('postgres', q{SELECT count(*) FROM nagare.send_batch('gone', NULL::text[],
	(SELECT array_agg(repeat('g', 100000)) FROM generate_series(1, 30)))});
$node->safe_psql('postgres', q{SELECT count(*) FROM nagare.send_batch('ret', NULL::text[],
	(SELECT array_agg(repeat('r', 100000)) FROM generate_series(1, 20)))});

# Fill the file system: 1 MB, 4 kB, then 1 kB writes until ENOSPC, and
# again after an fsync (which gives back blocks ext4 reserved for delayed
# allocation), so that not even a block is left
sub fill
{
	my ($filler) = @_;
	open(my $fh, '>:raw', $filler) or die "open $filler: $!";
	for my $chunk (1024 * 1024, 4096, 1024, 'sync', 1024, 'sync', 1024)
	{
		if ($chunk eq 'sync')
		{
			$fh->sync;
			next;
		}
		my $buf = "\0" x $chunk;
		for (;;)
		{
			my $n = syswrite($fh, $buf);
			last if !defined $n && $! == ENOSPC;
			die "write $filler: $!" unless defined $n;
		}
	}
	close($fh);
	note("filled: " . (-s $filler) . " bytes in $filler");
}
my $filler = "$dir/filler";
fill($filler);
my $log_at = log_offset($node);

# Kafka: a record to topic gone is taken, its write fails (the client times
# out); then records get KAFKA_STORAGE_ERROR
my @first = produce('first', 1, 60000, ['gone']);
note("while full, to topic gone: @first");
ok(wait_until(sub { log_since($node, $log_at) =~ /could not write data of segment \d+ of pg_nagare\/$gone_id-0: No space left on device/ }),
	'while full: the broker logs the failed write to topic gone');
my @res = produce('full', 12, 60000);
note("while full: @res");
note_acked(@res);
is(scalar(grep { /^ok/ } @first, @res), 0, 'while full: nothing was acknowledged');
ok((grep { /^err KAFKA_STORAGE_ERROR$/ } @res) >= 3, 'while full: the producer gets KAFKA_STORAGE_ERROR');
is($res[-1], 'err KAFKA_STORAGE_ERROR', 'while full: ... and still at the end');

# SQL: an error in the transaction, not a hang at commit
like(sql_error($node, q{BEGIN; SELECT nagare.publish('full', 'k', 'pub.full'); COMMIT;}),
	qr/^ERROR:  53100: nagare cannot write to "pg_nagare": No space left on device\nDETAIL:  .*\nHINT:  Free space/,
	'while full: publish() fails with SQLSTATE 53100 and a hint');
like(sql_error($node, q{SELECT nagare.send('full', 'k', 'send.full')}),
	qr/^ERROR:  53100: nagare cannot write to "pg_nagare"/,
	'while full: send() fails with SQLSTATE 53100');
is(broker_pid($node), $broker, 'while full: the broker did not restart');
my @logged = log_since($node, $log_at) =~ /(could not write (?:data|index) of segment)/g;
is(scalar(@logged), 1, 'while full: the failure is logged once');

# what was acknowledged is there
sub check_acked
{
	my ($what) = @_;
	my %got = map { split /:/, $_, 2 } consume_values($node, 'full', 0);
	my @bad = grep { substr($got{$_} // '', 0, 20) ne $acked{$_} } sort { $a <=> $b } keys %acked;
	is(scalar(@bad), 0, "$what: all " . scalar(keys %acked) . ' acknowledged records are at their offsets')
	  or diag("missing or wrong: @bad[0 .. ($#bad < 5 ? $#bad : 5)]");
}
check_acked('while full');

# deleting topic gone gives its failed write up and removes its files
$log_at = log_offset($node);
$node->safe_psql('postgres', q{SELECT nagare.delete_topic('gone')});
ok(wait_until(sub { log_since($node, $log_at) =~ /removed partition 0 of topic $gone_id/ }, 30),
	'while full: topic gone is deleted although its write failed');
ok(wait_until(sub { log_since($node, $log_at) =~ /new records are accepted again/ }, 30),
	'topic gone deleted: the broker accepts records again');

# full again: now a write of topic full fails, and is retried until
# retention deletes old segments of topic ret
fill("$dir/filler2");
$log_at = log_offset($node);
@res = produce('again', 4, 60000);
note("full again: @res");
is($res[0], 'err _MSG_TIMED_OUT', 'full again: the first record is taken, not acknowledged');
is($res[-1], 'err KAFKA_STORAGE_ERROR', 'full again: the next ones get KAFKA_STORAGE_ERROR');
ok(log_since($node, $log_at) =~ /could not write data of segment \d+ of pg_nagare\/\d+-0: No space left on device/,
	'full again: the broker logs the failed write');
my $ret_segments = partition_row($node, 'ret', 0)->{segments};
$node->safe_psql('postgres', q{SELECT nagare.alter_topic('ret', config => '{"retention.ms": 1}')});
ok(wait_until(sub { log_since($node, $log_at) =~ /new records are accepted again/ }, 30),
	'space returned: retention deleted segments of topic ret, and the retried write succeeded');
like(log_since($node, $log_at), qr/deleting segment \d+ of partition "pg_nagare\/\d+-0" \(retention\.ms\)/,
	'... retention said so');
cmp_ok(partition_row($node, 'ret', 0)->{segments}, '<', $ret_segments, '... topic ret has fewer segments');
unlink $filler, "$dir/filler2";
is(note_acked(produce('after', 10, 1000)), 10, 'space returned: 10 records acknowledged');
$node->safe_psql('postgres', q{BEGIN; SELECT nagare.publish('full', 'k', 'pub.after'); COMMIT;});
is($node->safe_psql('postgres', q{SELECT "offset" >= 0 FROM nagare.send('full', 'k', 'send.after')}),
	't', 'space returned: send() works');
my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
ok(wait_until(sub { $node->safe_psql('postgres', "SELECT confirmed_flush_lsn >= '$lsn' FROM nagare.ingest") eq 't' }),
	'space returned: the ingest worker caught up');
my @vals = map { (split /:/, $_, 2)[1] } consume_values($node, 'full', 0);
is(join(',', grep { /^(pub|send)\./ } @vals), 'pub.before,pub.after,send.after',
	'space returned: publish() and send() of before and after are there, none of while full');
ok((grep { /^again\.0:/ } @vals), 'space returned: the record taken while full again was written');
is(broker_pid($node), $broker, 'the broker never restarted');
check_acked('space returned');

# a broker stopped while a write fails (SIGTERM: the postmaster starts
# another, shared memory stays): the new one replays the write from the
# ring and accepts records
fill("$dir/filler3");
$log_at = log_offset($node);
@res = produce('stop', 2, 60000);
is($res[-1], 'err KAFKA_STORAGE_ERROR', 'full a third time: KAFKA_STORAGE_ERROR');
kill 'TERM', $broker;
ok(wait_until(sub { log_since($node, $log_at) =~ /records up to offset \d+ of "pg_nagare\/\d+-0" are not written for want of space/ }),
	'the stopping broker gives the failed write up');
# space returns before the next broker starts: its replay of the write
# succeeds at once, and nothing may still refuse records
unlink "$dir/filler3";
$broker = wait_new_broker($node, $broker);
@res = produce('restarted', 3, 1000);
is(note_acked(@res), 3, 'a new broker: once space returns, records are acknowledged again')
  or diag("@res");

# a crash: recovery finds nothing to truncate, nothing acknowledged is lost
my $hwm = partition_row($node, 'full', 0)->{high_watermark};
$log_at = log_offset($node);
$node->stop('immediate');
$node->start;
wait_broker_ready($node);
unlike(log_since($node, $log_at), qr/truncating/, 'after a crash: recovery truncated nothing');
is(partition_row($node, 'full', 0)->{high_watermark}, $hwm, 'after a crash: the high watermark is the same');
check_acked('after a crash');
my @offsets = map { (split /:/, $_, 2)[0] } consume_values($node, 'full', 0);
is(join(',', @offsets), join(',', 0 .. $hwm - 1), 'after a crash: offsets 0 .. high watermark - 1, each once');

$node->stop;
unlink glob("$dir/*/*"), glob("$dir/*");
rmdir $_ for glob("$dir/*");
rmdir $dir;
done_testing();
