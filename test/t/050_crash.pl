# Durability across crashes.  Four client sessions run transactions that
# send records (send() and send_batch()) and commit; a client notes a record
# as acknowledged only after its COMMIT returned.  While they run, the
# postmaster is killed with SIGKILL - in odd rounds alone (the children exit
# on postmaster death, the broker possibly after finishing a write or fsync),
# in even rounds together with every child, broker included (everything stops
# wherever it was) - and the server is started again.  After each restart:
#
#  - every acknowledged (partition, offset, value) is returned by consume();
#  - each partition's offsets are exactly 0 .. high_watermark - 1: no gap, no
#    duplicate;
#  - consume() reads each whole partition, so every batch passes its CRC (no
#    torn batch);
#  - no value appears twice (nothing written twice by a replay).
#
# Each transaction also sends one record to a second topic with small
# segments and retention.bytes, so that crashes also hit retention passes
# (partition.meta written, segments being unlinked): there the log must start
# at its first segment's base offset and be contiguous from there.
#
# NAGARE_CRASH_ROUNDS sets the number of rounds (default 3).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use NagareTest;

my $rounds = $ENV{NAGARE_CRASH_ROUNDS} // 3;
my $nclients = 4;
my $npart = 4;
my $min_commits = 10;    # per client and round, before the kill
my $txns_per_script = 5000;
my $name = 'crashnode';

# small segments and a dense index: rolls and index writes happen all along
my $node = nagare_node($name,
	conf => "max_connections = 30\nnagare.retention_check_interval = '100ms'\n");
$node->safe_psql('postgres',
	"SELECT nagare.create_topic('crash', $npart, '{\"segment.bytes\": 65536, \"index.interval.bytes\": 1024}')");
$node->safe_psql('postgres',
	"SELECT nagare.create_topic('crashret', 1, '{\"segment.bytes\": 4096, \"retention.bytes\": 16384}')");

my $pad = 'x' x 150;
my %acked;     # "topic|p|o" -> value, acknowledged by a commit
my $t_start = time();

# Processes of this cluster: the postmaster's command line and every child's
# process title contain the node name.
sub cluster_pids
{
	my @p;
	for my $d (glob '/proc/[0-9]*')
	{
		open(my $fh, '<', "$d/cmdline") or next;
		local $/;
		my $c = <$fh> // '';
		close($fh);
		push @p, (split m{/}, $d)[-1] if $c =~ /\Q$name\E/;
	}
	return @p;
}

# A psql script of transactions: per transaction two send()s and one
# send_batch() of two records, each SELECT printing partition|offset|value,
# then COMMIT and "\echo C".
sub client_script
{
	my ($c, $r) = @_;
	my $sql = '';
	for my $t (0 .. $txns_per_script - 1)
	{
		my $tag = "c${c}r${r}t${t}";
		my $p0 = ($c + $t) % $npart;
		my $p1 = ($c + $t + 1) % $npart;
		$sql .= "BEGIN;\n"
		  . "SELECT partition, \"offset\", '$tag.0' FROM nagare.send('crash', 'k$c', '$tag.0:$pad', NULL, $p0);\n"
		  # partition chosen by the key
		  . "SELECT partition, \"offset\", '$tag.1' FROM nagare.send('crash', '$tag', '$tag.1:$pad');\n"
		  . "SELECT r.partition, r.\"offset\", '$tag.' || (1 + r.n) FROM nagare.send_batch('crash', "
		  . "ARRAY['k$c', 'k$c'], ARRAY['$tag.2:$pad', '$tag.3:$pad'], NULL, ARRAY[$p1, $p1]) "
		  . "WITH ORDINALITY AS r(partition, \"offset\", n);\n"
		  . "SELECT 'ret', partition, \"offset\", '$tag.4' FROM nagare.send('crashret', 'k$c', '$tag.4:$pad', NULL, 0);\n"
		  . "COMMIT;\n\\echo C\n";
	}
	return $sql;
}

sub commits { my ($out) = @_; my $n = () = $$out =~ /^C$/mg; return $n }

# Acknowledged records in a client's output: the lines before each "C".
sub parse_acked
{
	my ($out) = @_;
	my @pending;
	my @acked;
	for my $l (split /\n/, $out)
	{
		if ($l eq 'C')
		{
			push @acked, @pending;
			@pending = ();
		}
		elsif ($l =~ /^(\d+)\|(\d+)\|(c\d+r\d+t\d+\.\d)$/)
		{
			push @pending, [ 'crash', $1, $2, $3 ];
		}
		elsif ($l =~ /^ret\|(\d+)\|(\d+)\|(c\d+r\d+t\d+\.\d)$/)
		{
			push @pending, [ 'crashret', $1, $2, $3 ];
		}
		else
		{
			die "unexpected client output line: $l";
		}
	}
	return @acked;
}

# Check one partition; returns its records as [offset, value] pairs.
sub verify_partition
{
	my ($round, $topic, $p) = @_;
	my $what = "round $round: $topic/$p";
	my $row = partition_row($node, $topic, $p);
	my $start = $row->{log_start_offset};
	my $hwm = $row->{high_watermark};
	my @logs = segment_files($node->data_dir . "/$row->{directory}");
	my $first_base = @logs ? ($logs[0] =~ s/\.log$//r) + 0 : $hwm;
	if ($topic eq 'crash')
	{
		is($start, 0, "$what starts at 0");
	}
	else
	{
		is($start, $first_base, "$what: log start offset $start is the first segment's base offset");
	}
	# reads every batch of the partition: CRC-checked by consume()
	my ($ret, $out, $err) = $node->psql('postgres',
		"SELECT \"offset\", convert_from(value, 'UTF8') FROM nagare.consume('$topic', $p, $start, 2000000000)");
	is($ret, 0, "$what reads entirely") or diag($err);
	my @rows = map { [ split /\|/, $_, 2 ] } grep { $_ ne '' } split /\n/, $out;
	my @offsets = map { $_->[0] } @rows;
	my $contiguous = (@offsets == $hwm - $start);
	for my $i (0 .. $#offsets)
	{
		$contiguous = 0, last if $offsets[$i] != $start + $i;
	}
	ok($contiguous, "$what has offsets $start.." . ($hwm - 1) . ' without gap or duplicate')
	  or diag("got " . scalar(@offsets) . " records: "
		  . join(',', @offsets[0 .. ($#offsets < 20 ? $#offsets : 20)]));
	my %by_offset = map { $_->[0] => $_->[1] } @rows;
	my ($missing, $wrong, $checked) = (0, 0, 0);
	for my $k (grep { /^\Q$topic\E\|$p\|/ } keys %acked)
	{
		my (undef, undef, $o) = split /\|/, $k;
		next if $o < $start;    # deleted by retention
		$checked++;
		if (!exists $by_offset{$o})
		{
			$missing++;
			diag("missing $k $acked{$k}") if $missing < 5;
		}
		elsif ($by_offset{$o} ne "$acked{$k}:$pad")
		{
			$wrong++;
			diag("wrong $k: expected $acked{$k}, got " . substr($by_offset{$o}, 0, 40)) if $wrong < 5;
		}
	}
	is("$missing|$wrong", '0|0',
		"$what: all $checked acknowledged records are there with their values");
	return ($hwm, @rows);
}

sub verify
{
	my ($round) = @_;
	my %seen_value;
	my $total = 0;
	my @hwms;
	for my $tp ((map { [ 'crash', $_ ] } 0 .. $npart - 1), [ 'crashret', 0 ])
	{
		my ($hwm, @rows) = verify_partition($round, @$tp);
		push @hwms, $hwm;
		for my $r (@rows)
		{
			my ($tag) = split /:/, $r->[1];
			$seen_value{$tag}++;
			$total++;
		}
	}
	my @dups = grep { $seen_value{$_} > 1 } keys %seen_value;
	is(scalar(@dups), 0, "round $round: no value stored twice")
	  or diag("duplicated: @dups[0..($#dups < 5 ? $#dups : 5)]");
	note "round $round: $total records on disk, high watermarks @hwms, "
	  . scalar(keys %acked) . ' acknowledged';
}

for my $round (1 .. $rounds)
{
	# start the clients
	my @clients;
	for my $c (0 .. $nclients - 1)
	{
		my $file = "$PostgreSQL::Test::Utils::tmp_check/crash_c${c}.sql";
		open(my $fh, '>', $file) or die;
		print $fh client_script($c, $round);
		close($fh);
		my $out = '';
		my $err = '';
		my $h = IPC::Run::start(
			[ $node->installed_command('psql'), '-XAtq', '-v', 'ON_ERROR_STOP=1',
			  '-d', $node->connstr('postgres'), '-f', $file ],
			'<', \undef, '>', \$out, '2>', \$err,
			IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
		push @clients, { h => $h, out => \$out, err => \$err };
	}

	# let every client commit some transactions; a different number each
	# round, so that the kill lands at different points
	my $want = $min_commits + ($round * 17) % 40;
	my $going = wait_until(
		sub {
			$_->{h}->pump_nb for @clients;
			!grep { commits($_->{out}) < $want } @clients;
		});
	ok($going, "round $round: every client committed $want transactions");
	for (@clients)
	{
		ok($_->{h}->pumpable, "round $round: client still running at the kill")
		  or diag("client stderr: ${$_->{err}}");
	}

	# kill
	my @pids = cluster_pids();
	my $mode = $round % 2 ? 'postmaster' : 'all';
	$node->kill9;
	kill('KILL', @pids) if $mode eq 'all';
	note "round $round: killed $mode (" . scalar(@pids) . ' processes)';

	# the clients end with an error
	for my $cl (@clients)
	{
		eval { $cl->{h}->finish; };
		die "client did not end: $@" if $@;
		like(${ $cl->{err} },
			qr/server closed the connection unexpectedly|connection to server was lost|terminating connection|could not send data to server|no connection to the server/,
			"round $round: client lost its connection");
		for my $a (parse_acked(${ $cl->{out} }))
		{
			my ($t, $p, $o, $v) = @$a;
			die "offset $t|$p|$o acknowledged twice" if exists $acked{"$t|$p|$o"} && $acked{"$t|$p|$o"} ne $v;
			$acked{"$t|$p|$o"} = $v;
		}
	}

	ok(wait_pid_gone(@pids), "round $round: all processes of the old server are gone");
	is(scalar(cluster_pids()), 0, "round $round: no process of the cluster left");

	$node->start;
	wait_broker_ready($node);
	verify($round);
}

# one more, clean restart: same result
$node->restart;
wait_broker_ready($node);
verify('final');

# the broker never saw a torn batch it could not handle; say what it truncated
my $log = slurp_file($node->logfile);
my @trunc = $log =~ /(nagare broker: truncating [^\n]*)/g;
note "truncations during recovery: " . scalar(@trunc);
note $_ for @trunc;
unlike($log, qr/PANIC|nagare broker[^\n]*ERROR/, 'no PANIC and no broker ERROR');
note sprintf('%d rounds in %.1f s, %d acknowledged records',
	$rounds, time() - $t_start, scalar(keys %acked));

$node->stop;
done_testing();
