# Committed offsets of a consumer group across kill -9 of every server
# process.
#
# Two librdkafka members (test/interop/groups_confluent.py) consume a topic
# and commit synchronously after each small batch; each writes every commit
# it sent and every one acknowledged to its events file.  While they commit,
# every process of the server is killed at once (SIGKILL, as a power cut
# would stop them; the page cache survives, so this checks that a commit is
# acknowledged only once its transaction committed, not the fsync itself).
#
#   - rounds 1..3: the members are killed too, while the server is down (no
#     commit can be acknowledged any more).  After the restart, for every
#     partition, nagare.group_offset holds at least the last acknowledged
#     commit and at most the last one sent, and a value that was sent; it
#     never moves backwards from one round to the next.  The next round's
#     members start exactly at those offsets.
#   - the last round: the members stay up across the crash, rejoin the new
#     server's group and finish the topic; wherever a member (re)starts a
#     partition, it starts at or after the last commit acknowledged before,
#     and every record is consumed.
#
# NAGARE_GROUP_CRASH_ROUNDS sets the number of rounds with killed members
# (default 3).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use List::Util qw(max min);
use Time::HiRes qw(time usleep);

my $python = '/usr/bin/python3';
my $idir = "$FindBin::RealBin/../interop";
plan skip_all => 'confluent-kafka (Debian python3-confluent-kafka) is not installed'
  if system("$python -c 'import confluent_kafka' 2>/dev/null") != 0;
my $json = JSON::PP->new->canonical;
my $rounds = $ENV{NAGARE_GROUP_CRASH_ROUNDS} // 3;
my $NP = 4;
my $SESSION = 3000;

my ($node, $kport) = kafka_node('gcrash', conf => qq{
nagare.group_min_session_timeout = 1000
nagare.group_initial_rebalance_delay = 500
});
my $boot = "127.0.0.1:$kport";
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $t_start = time();

sub sql { return $node->safe_psql('postgres', $_[0]) }
sub fmt { my ($h) = @_; return join(' ', map { "$_:" . ($h->{$_} // 'none') } sort { $a <=> $b } keys %$h) }

sql("SELECT nagare.create_topic('crash', $NP)");
# n more records into each partition; returns the high watermarks
sub send_each
{
	my ($n) = @_;
	sql("SELECT count(*) FROM nagare.send_batch('crash', NULL::text[], "
		  . "(SELECT array_agg('r' || i) FROM generate_series(0, $n * $NP - 1) i), NULL, "
		  . "(SELECT array_agg(i % $NP) FROM generate_series(0, $n * $NP - 1) i))");
	return { map { split /\|/ } split /\n/, sql("SELECT partition, high_watermark FROM nagare.partitions WHERE topic = 'crash'") };
}

my %hwm;
my @all;
END { kill('KILL', map { $_->{pid} // () } grep { !$_->{gone} } @all) }
sub start_member
{
	my ($name, %a) = @_;
	my $ev = "$tmp/$name.events";
	my $f = "$tmp/$name.json";
	open(my $fh, '>', $f) or die;
	print $fh $json->encode({ group => 'gc', topic => 'crash', events => $ev, client_id => $name,
		session_timeout_ms => $SESSION, heartbeat_ms => 300, max_poll_ms => 10000, batch => 5, delay_ms => 20, %a });
	close($fh);
	my $h = IPC::Run::start([ $python, "$idir/groups_confluent.py", $boot, 'member', "\@$f" ],
		'<', \undef, '>', "$tmp/$name.out", '2>', "$tmp/$name.err");
	my $m = { name => $name, h => $h, events => $ev };
	wait_until(sub { my @e = events($m); $m->{pid} = $e[0]{pid} if @e; @e }, 30) or die "member $name did not start";
	push @all, $m;
	return $m;
}

# A member's events so far.  Each call reads only what was appended since
# the last (whole lines): the waits below poll often, and reparsing every
# file whole made the test quadratic in the records consumed.
sub events
{
	my ($m) = @_;
	return () unless -e $m->{events};
	$m->{ev_list} //= [];
	$m->{ev_pos} //= 0;
	open(my $fh, '<', $m->{events}) or return @{ $m->{ev_list} };
	seek($fh, $m->{ev_pos}, 0);
	local $/;
	my $new = <$fh> // '';
	close($fh);
	my $end = rindex($new, "\n");
	if ($end >= 0)
	{
		$m->{ev_pos} += $end + 1;
		push @{ $m->{ev_list} },
		  grep { defined } map { eval { decode_json($_) } } split /\n/, substr($new, 0, $end);
	}
	return @{ $m->{ev_list} };
}

# commit offsets per partition over every member: { p => [offsets...] }
sub commits
{
	my ($kind) = @_;
	my %c;
	for my $m (@all)
	{
		for my $e (grep { $_->{ev} eq $kind } events($m))
		{
			push @{ $c{$_} }, $e->{offsets}{$_} for keys %{ $e->{offsets} };
		}
	}
	return \%c;
}

sub stored
{
	return { map { split /\|/ } split /\n/,
		  sql("SELECT partition, committed_offset FROM nagare.group_offset WHERE group_id = 'gc' AND topic = 'crash'") };
}

sub kill_server
{
	# every process of the server at once, as a power cut would
	my @pids = split /\n/, sql('SELECT pid FROM pg_stat_activity');
	$node->kill9;
	kill('KILL', @pids);
	ok(wait_pid_gone(@pids), "$_[0]: the server's processes are gone");
}

sub first_offsets
{
	my ($t, @ms) = @_;
	my %f;
	for my $m (@ms)
	{
		for my $e (grep { $_->{ev} eq 'rec' && $_->{t} > $t } events($m))
		{
			$f{ $e->{p} } //= $e->{o};
		}
	}
	return \%f;
}

my %prev;
for my $round (1 .. $rounds)
{
	my $hwm = send_each(300);    # about 3 s of work for the two members
	my $t0 = time();
	my @m = map { start_member("r$round-$_") } 1 .. 2;
	my $acked_before = scalar(map { @$_ } values %{ commits('commit_ok') });
	ok(wait_until(sub { scalar(map { @$_ } values %{ commits('commit_ok') }) >= $acked_before + 60 }, 60),
		"round $round: the members commit");
	if ($round > 1)
	{
		# every partition's first record in this round: exactly where the group was
		my %want = map { $_ => $prev{$_} // 0 } grep { ($prev{$_} // 0) < $hwm->{$_} } 0 .. $NP - 1;
		my $f = first_offsets($t0, @m);
		ok(wait_until(sub { $f = first_offsets($t0, @m); keys %$f == keys %want }, 30), "round $round: the members read every partition");
		is(fmt($f), fmt(\%want), "round $round: they started exactly at the offsets stored after the last crash");
	}
	kill_server("round $round");
	# the members cannot have anything acknowledged now
	for (@m)
	{
		kill('KILL', $_->{pid});
		eval { $_->{h}->finish };
		$_->{gone} = 1;
	}
	my $acked = commits('commit_ok');
	my $sent = commits('commit_sent');
	note("round $round: commits in flight at the kill (sent, not acknowledged): "
		  . join(', ', map { "partition $_ up to " . max(@{ $sent->{$_} }) }
			  grep { $sent->{$_} && max(@{ $sent->{$_} }) > (max(@{ $acked->{$_} // [] }) // -1) } 0 .. $NP - 1));
	$node->start;
	wait_broker_ready($node);
	my $st = stored();
	my @d;
	for my $p (0 .. $NP - 1)
	{
		my $ak = max(@{ $acked->{$p} // [] }) // 'none';
		my $s = max(@{ $sent->{$p} // [] }) // 'none';
		my $got = $st->{$p} // 'none';
		push @d, "partition $p: stored $got, last acknowledged $ak" if $ak ne 'none' && ($got eq 'none' || $got < $ak);
		push @d, "partition $p: stored $got, above the last sent $s" if $got ne 'none' && ($s eq 'none' || $got > $s);
		push @d, "partition $p: stored $got, which no commit sent" if $got ne 'none' && !grep { $_ == $got } @{ $sent->{$p} // [] };
		push @d, "partition $p: stored $got, below the previous round's $prev{$p}" if defined $prev{$p} && ($got eq 'none' || $got < $prev{$p});
	}
	ok(!@d, "round $round: no acknowledged commit is lost or moved backwards, none stored that was not sent ("
		  . fmt($st) . ')') or diag(join("\n", @d));
	%prev = %$st;
}

# ---- the members stay up across the crash
{
	%hwm = %{ send_each(600) };
	my $t0 = time();
	my @m = map { start_member("alive-$_") } 1 .. 2;
	my $acked_before = scalar(map { @$_ } values %{ commits('commit_ok') });
	ok(wait_until(sub { scalar(map { @$_ } values %{ commits('commit_ok') }) >= $acked_before + 60 }, 60),
		'members that stay up: they commit');
	kill_server('members that stay up');
	$node->start;
	wait_broker_ready($node);
	my $t_up = time();
	ok(wait_until(sub { grep { $_->{ev} eq 'commit_ok' && $_->{t} > $t_up } map { events($_) } @m }, 60),
		'they commit again after the restart');
	my $q = "SELECT count(*) FILTER (WHERE lag = 0) FROM nagare.consumer_lag WHERE group_id = 'gc' AND topic = 'crash'";
	ok(wait_until(sub { sql($q) == $NP }, 120), 'and finish the topic');
	for my $mm (@m)
	{
		$mm->{h}->signal('TERM');
		wait_until(sub { grep { $_->{ev} eq 'closed' } events($mm) }, 30);
		kill('KILL', $mm->{pid});
		eval { $mm->{h}->finish };
		$mm->{gone} = 1;
	}

	# at-least-once over everything: each session of a member on a partition
	# starts at or after the last commit acknowledged before it, at or before
	# the last one sent; every record consumed
	my (@sessions, @ack, @snt, %seen);
	for my $mm (@all)
	{
		my %cur;
		for my $e (events($mm))
		{
			if ($e->{ev} eq 'assigned')
			{
				%cur = ();
				for (@{ $e->{parts} }) { push @sessions, { m => $mm->{name}, p => $_, t => $e->{t} }; $cur{$_} = $sessions[-1] }
			}
			elsif ($e->{ev} eq 'revoked') { %cur = () }
			elsif ($e->{ev} eq 'rec')
			{
				my $s = $cur{ $e->{p} };
				($s->{first}, $s->{tr}) = ($e->{o}, $e->{t}) if $s && !defined $s->{first};
				$seen{ $e->{p} }{ $e->{o} } = 1;
			}
			elsif ($e->{ev} eq 'commit_ok') { push @ack, map { [ $e->{t}, $_, $e->{offsets}{$_} ] } keys %{ $e->{offsets} } }
			elsif ($e->{ev} eq 'commit_sent') { push @snt, map { [ $e->{t}, $_, $e->{offsets}{$_} ] } keys %{ $e->{offsets} } }
		}
	}
	my @d;
	for my $s (grep { defined $_->{first} } @sessions)
	{
		my $lo = max(0, map { $_->[2] } grep { $_->[1] == $s->{p} && $_->[0] < $s->{t} } @ack);
		my $hi = max(0, map { $_->[2] } grep { $_->[1] == $s->{p} && $_->[0] <= $s->{tr} } @snt);
		push @d, sprintf('%s started partition %d at %d, expected %s (at %.3fs)', $s->{m}, $s->{p}, $s->{first},
			$lo == $hi ? $lo : "$lo..$hi", $s->{t} - $t_start)
		  if $s->{first} < $lo || $s->{first} > $hi;
	}
	ok(!@d, 'every member started every partition at the committed offset') or diag(join("\n", @d[ 0 .. min($#d, 15) ]));
	my @missing = map { my $p = $_; my $n = grep { !$seen{$p}{$_} } 0 .. $hwm{$p} - 1; $n ? "partition $p: $n" : () } 0 .. $NP - 1;
	ok(!@missing, 'every record was consumed') or diag(join("\n", @missing));
	is(fmt(stored()), fmt(\%hwm), 'the group committed the high watermarks');
}

{
	my $keep = "$PostgreSQL::Test::Utils::log_path/115_members";
	mkdir $keep;
	for my $f (glob("$tmp/*.events $tmp/*.err"))
	{
		(my $b = $f) =~ s{.*/}{};
		write_file_bytes("$keep/$b", read_file_bytes($f));
	}
}
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal (?!9)|TRAP:|PANIC/, 'no process crashed (other than the kill -9s)');
note(sprintf('took %.0fs', time() - $t_start));
$node->stop;
done_testing();
