# publish() and table topics are exactly once across kill -9.
#
# Clients run transactions that publish three records and update a row of a
# table that feeds a topic; every fifth transaction rolls back.  While they
# run, the ingest worker is terminated alone (it decodes on from the slot
# with a new decoding context), then every process of the server is killed,
# a few times (NAGARE_CRASH_ROUNDS, 3 by default; bench/publish/soak.sh runs
# many more).  After each
# restart the ingest worker catches up, and then:
#
#  - every transaction a client saw committed is in the topic, each of its
#    records exactly once, in the client's commit order;
#  - nothing of a rolled-back transaction is there, and nothing of a
#    transaction that did not commit (at most the one in flight at the kill
#    may be there without its client having seen the commit);
#  - the table topic has exactly one change record per committed update of
#    each row (the row's counter says how many committed).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $kport = PostgreSQL::Test::Cluster::get_free_port();
my $node = nagare_node('publish', conf => qq{
nagare.listen_addresses = '127.0.0.1'
nagare.port = $kport
});
my $rounds = $ENV{NAGARE_CRASH_ROUNDS} // 3;
my $nclients = 3;

sub wait_slot
{
	ok(wait_until(sub {
		$node->safe_psql('postgres', 'SELECT count(*) FROM nagare.ingest') eq '1';
	}), 'the ingest worker has its replication slot');
}

# wait until the ingest worker has confirmed everything committed so far
sub wait_caught_up
{
	my ($what) = @_;
	my $lsn = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
	ok(wait_until(sub {
		$node->safe_psql('postgres',
			"SELECT confirmed_flush_lsn >= '$lsn' FROM nagare.ingest") eq 't';
	}), "$what: the ingest worker caught up");
}

wait_slot();
$node->safe_psql('postgres', q{
	SELECT nagare.create_topic('pubx', 2);
	CREATE TABLE acct (id integer PRIMARY KEY, n integer NOT NULL DEFAULT 0);
	INSERT INTO acct SELECT g, 0 FROM generate_series(1, 3) g;
	SELECT nagare.create_table_topic('acct', 'acct_changes', partitions => 1, snapshot => false);
});

my $dir = PostgreSQL::Test::Utils::tempdir();
my %committed;		# "client:seq" => 1, as clients saw
my %rolled_back;	# "client:seq" => 1
my %last_seq;		# client => highest seq its script tried
my $next_seq = 1;

sub client_script
{
	my ($client, $first, $count) = @_;
	my $file = "$dir/client$client.$first.sql";
	open(my $fh, '>', $file) or die;
	for my $s ($first .. $first + $count - 1)
	{
		if ($s % 5 == 0)
		{
			print $fh "BEGIN;\nSELECT nagare.publish('pubx', 'c$client', '$client:$s:0');\nROLLBACK;\n";
			$rolled_back{"$client:$s"} = 1;
			next;
		}
		print $fh "BEGIN;\n";
		print $fh "SELECT nagare.publish('pubx', 'c$client', '$client:$s:$_');\n" for 0 .. 2;
		print $fh "UPDATE acct SET n = n + 1 WHERE id = $client;\n";
		print $fh "COMMIT;\n\\echo committed $client $s\n";
	}
	close($fh);
	return $file;
}

for my $round (1 .. $rounds)
{
	my @clients;
	my $first = $next_seq;
	$next_seq += 100000;
	for my $c (1 .. $nclients)
	{
		my ($out, $err) = ('', '');
		my $file = client_script($c, $first, 20000);
		my $h = IPC::Run::start(
			[ 'psql', '-X', '-q', '-t', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-f', $file ],
			'>', \$out, '2>', \$err);
		push @clients, { c => $c, h => $h, out => \$out, err => \$err };
		$last_seq{$c} = $first + 20000 - 1;
	}
	my $want = 30 + 7 * $round;
	ok(wait_until(sub {
		$_->{h}->pump_nb for @clients;
		!grep { (() = ${ $_->{out} } =~ /committed/g) < $want } @clients;
	}), "round $round: every client committed $want transactions");

	# the ingest worker alone ends (as on an ERROR) while clients commit:
	# the next one creates its decoding context again from the slot's
	# confirmed position, and the watermarks skip what it decodes again
	my $ingest_sql = "SELECT pid FROM pg_stat_activity WHERE backend_type = 'nagare ingest'";
	my $ipid = $node->safe_psql('postgres', $ingest_sql);
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($ipid)");
	ok(wait_until(sub {
		eval { $_->{h}->pump_nb } for @clients;
		my $p = $node->safe_psql('postgres', $ingest_sql);
		$p ne '' && $p ne $ipid;
	}), "round $round: a new ingest worker replaced the one terminated under load");
	$want += 10;
	ok(wait_until(sub {
		eval { $_->{h}->pump_nb } for @clients;
		!grep { (() = ${ $_->{out} } =~ /committed/g) < $want } @clients;
	}), "round $round: and clients went on committing ($want transactions each)");

	my @pids = split /\n/, $node->safe_psql('postgres', 'SELECT pid FROM pg_stat_activity');
	$node->kill9;
	kill('KILL', @pids);
	for my $cl (@clients)
	{
		eval { $cl->{h}->finish; };
		$committed{"$1:$2"} = 1 while ${ $cl->{out} } =~ /committed (\d+) (\d+)/g;
	}
	ok(wait_pid_gone(@pids), "round $round: the server is gone");
	$node->start;
	wait_broker_ready($node);
	wait_caught_up("round $round");

	# the topic: every record once, committed transactions only, in order
	my %seen;
	my $dups = 0;
	my $order_errors = 0;
	my %last;
	for my $line (split /\n/, $node->safe_psql('postgres', q{
		SELECT convert_from(c.value, 'UTF8') FROM generate_series(0, 1) p,
		       nagare.consume('pubx', p, 0, 10000000) c ORDER BY p, c."offset"}))
	{
		my ($c, $s, $i) = split /:/, $line;
		$dups++ if $seen{$line}++;
		my $pos = $s * 10 + $i;
		$order_errors++ if defined $last{$c} && $pos <= $last{$c};
		$last{$c} = $pos;
	}
	is($dups, 0, "round $round: no record is in the topic twice");
	is($order_errors, 0, "round $round: each client's records are in its commit order");
	my @missing = grep { my $k = $_; grep { !$seen{"$k:$_"} } 0 .. 2 } sort keys %committed;
	is(scalar(@missing), 0,
		"round $round: all " . scalar(keys %committed) . " transactions seen committed are there"
		  . (@missing ? " (missing: @missing[0 .. ($#missing < 4 ? $#missing : 4)])" : ''));
	my @rb = grep { $seen{"$_:0"} } keys %rolled_back;
	is(scalar(@rb), 0, "round $round: no rolled-back transaction is there");
	# transactions there that the client did not see commit: at most the one
	# in flight per client when the server died
	my %txns;
	for (keys %seen)
	{
		$txns{"$1:$2"} = 1 if /^(\d+):(\d+):\d+$/;
	}
	my @unseen = grep { !$committed{$_} } keys %txns;
	ok(@unseen <= $nclients, "round $round: at most one in-flight transaction per client ("
		  . scalar(@unseen) . ")");
	my %complete = map { $_ => 1 } grep { my $k = $_; !grep { !$seen{"$k:$_"} } 0 .. 2 } keys %txns;
	is(scalar(keys %complete), scalar(keys %txns), "round $round: no transaction is there in part");
	$committed{$_} = 1 for @unseen;		# they did commit

	# the table topic: one update record per committed update of each row
	for my $c (1 .. $nclients)
	{
		my $n = $node->safe_psql('postgres', "SELECT n FROM acct WHERE id = $c");
		my $records = $node->safe_psql('postgres', qq{
			SELECT count(*) FROM nagare.consume('acct_changes', 0, 0, 10000000) c
			 WHERE convert_from(c.key, 'UTF8') = '{"id": $c}'
			   AND convert_from(c.value, 'UTF8')::jsonb->>'op' = 'u'});
		is($records, $n, "round $round: row $c: $n committed updates, $n change records");
	}
}

# a Kafka client reads the table topic and finds the envelope
SKIP:
{
	skip 'kafka-python (Debian python3-kafka) is not installed', 2
	  if system("/usr/bin/python3 -c 'import kafka' 2>/dev/null") != 0;
	my ($out, $err);
	IPC::Run::run [ '/usr/bin/python3', '-c', qq{
import json
from kafka import KafkaConsumer, TopicPartition
c = KafkaConsumer(bootstrap_servers='127.0.0.1:$kport', consumer_timeout_ms=5000)
tp = TopicPartition('acct_changes', 0)
c.assign([tp])
c.seek_to_beginning(tp)
m = next(iter(c))
v = json.loads(m.value)
print(m.key.decode(), v['op'], v['source']['table'], 'n' in v['after'],
      [h[0] for h in m.headers])
} ], '>', \$out, '2>', \$err;
	note($err) if $err;
	like($out, qr/^\{"id": \d\} u acct True \['nagare\.lsn'\]$/m,
		'kafka-python reads a table topic record: key, envelope, nagare.lsn header');
	my $pub = `/usr/bin/python3 -c "
from kafka import KafkaConsumer, TopicPartition
c = KafkaConsumer(bootstrap_servers='127.0.0.1:$kport', consumer_timeout_ms=5000)
tp = TopicPartition('pubx', 0)
c.assign([tp]); c.seek_to_beginning(tp)
print(sum(1 for _ in c))
" 2>/dev/null`;
	chomp $pub;
	is($pub, $node->safe_psql('postgres', q{SELECT count(*) FROM nagare.consume('pubx', 0, 0, 10000000)}),
		'kafka-python reads as many published records as SQL');
}

my $log = slurp_file($node->logfile);
unlike($log, qr/TRAP:|PANIC|terminated by signal (?!9)/, 'no process crashed (other than the kill -9s)');

done_testing();
