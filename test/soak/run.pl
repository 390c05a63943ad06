# The kill -9 soak: SOAK_ROUNDS rounds (default 100) of load, kill -9 of one
# server process, restart, and a check that nothing acknowledged was lost or
# written twice.  Not part of CI (it takes about 15 minutes for 100 rounds);
# scripts/soak.sh runs it, and docs/operations.md has its last result.
#
# In each round, at once:
#
#  - test/soak/producer.py produces keyed records to topic "kp" (4
#    partitions, 256 kB segments) with acks=all and idempotence through
#    librdkafka, writing each acknowledged (partition, offset, value);
#  - a psql client runs transactions that publish() two records to "pub" and
#    INSERT a row into "acct", whose table topic is "acct_changes"; every
#    fifth transaction rolls back; it echoes each COMMIT that returned;
#  - a consumer group member (test/interop/groups_confluent.py) reads topic
#    "grp" and commits synchronously after each batch of 5 records.
#
# After a second or two of load, one process is killed with SIGKILL, in
# rotation: the nagare broker, the nagare worker, the nagare ingest worker,
# the client's backend, the postmaster.  A child's death makes the
# postmaster restart every process (restart_after_crash); after the
# postmaster's, the others exit and the server is started again.  Load goes
# on for a second after the restart (the producer and the member reconnect),
# then the producer is stopped and flushed and the member killed, the ingest
# worker is let catch up, and:
#
#  - every acknowledged Kafka record is at its acknowledged offset, once;
#  - every publish() of a committed transaction is in "pub" exactly once,
#    nothing of a rolled-back one; every committed INSERT is in
#    "acct_changes" exactly once, nothing of a rolled-back one;
#  - the group's stored offset of each partition is at least the last one a
#    commit of the member was acknowledged;
#  - each partition's offsets are contiguous (checked on the new records of
#    each round, and once over everything at the end).
#
# Transactions in flight at the kill may be there or not: only what a
# client saw acknowledged or committed counts as acknowledged, and a record
# seen that nobody saw acknowledged is not counted as a duplicate unless it
# is there twice.
#
# Prints one line per round and, at the end, "rounds N, acknowledged A
# (...), lost L, duplicated D".  Environment: SOAK_ROUNDS, SOAK_IDEMPOTENT
# (1, the default: the producer is idempotent, so a retried batch must not be
# written twice; 0: plain acks=all, at-least-once, duplicates of unacknowledged
# retries are then expected and reported apart).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../t";
use NagareTest;
use IPC::Run;
use JSON::PP;
use List::Util qw(max);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $rounds = $ENV{SOAK_ROUNDS} // 100;
my $idem = $ENV{SOAK_IDEMPOTENT} // 1;
my $python = '/usr/bin/python3';
my $idir = "$FindBin::RealBin/../interop";
my $sdir = $FindBin::RealBin;
my $KP = 4;		# partitions of kp
my $PP = 2;		# partitions of pub
my $GP = 2;		# partitions of grp

my ($node, $kport) = kafka_node('soak', conf => qq{
max_connections = 40
nagare.group_min_session_timeout = 1000
nagare.group_initial_rebalance_delay = 300
});
my $boot = "127.0.0.1:$kport";
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $json = JSON::PP->new->canonical;
my $t_start = time();

sub sql { return $node->safe_psql('postgres', $_[0]) }

ok(wait_until(sub { sql('SELECT count(*) FROM nagare.ingest') eq '1' }),
	'the ingest worker has its slot');
sql(q{
	SELECT nagare.create_topic('kp', 4, '{"segment.bytes": 262144, "index.interval.bytes": 4096}');
	SELECT nagare.create_topic('pub', 2, '{"segment.bytes": 262144}');
	SELECT nagare.create_topic('grp', 2);
	CREATE TABLE acct (id integer PRIMARY KEY, note text);
	SELECT nagare.create_table_topic('acct', 'acct_changes', partitions => 1, snapshot => false);
});
wait_kafka_topic($kport, 'kp');
wait_kafka_topic($kport, 'grp');

# totals
my %acked = (kafka => 0, publish => 0, table => 0, group => 0);
my ($lost, $dup, $unacked_dup) = (0, 0, 0);
my @problems;

# what is known per topic: offset -> value of the records verified so far
my %at;			# "topic|p" -> { offset => value }
my %verified;	# "topic|p" -> high watermark verified
my %count;		# "topic|value" -> times seen
my %kafka_acked;	# "p|o" -> value
my %pub_committed;	# tag -> 1
my %ins_committed;	# id -> 1
my %group_acked;	# p -> highest acknowledged committed offset
my @round_keys;	# keys of %count read this round

sub problem
{
	my ($what) = @_;
	push @problems, $what;
	diag($what) if @problems <= 50;
}

# Read the records of topic/p above what was verified, check contiguity and
# count their values.  Returns the number read.
sub read_new
{
	my ($topic, $p, $value_sql) = @_;
	my $k = "$topic|$p";
	my $from = $verified{$k} // 0;
	my $row = partition_row($node, $topic, $p);
	my $hwm = $row->{high_watermark};
	if ($hwm < $from)
	{
		problem("$topic/$p: high watermark $hwm is below the $from verified before");
		return 0;
	}
	my $out = sql("SELECT c.\"offset\", $value_sql FROM nagare.consume('$topic', $p, $from, 2000000000) c");
	my $n = 0;
	my $expect = $from;
	for my $line (grep { $_ ne '' } split /\n/, $out)
	{
		my ($o, $v) = split /\|/, $line, 2;
		if ($o != $expect)
		{
			problem("$topic/$p: offset $o where $expect was expected");
			$expect = $o;
		}
		$expect++;
		$at{$k}{$o} = $v;
		$count{"$topic|$v"}++;
		push @round_keys, "$topic|$v";
		$n++;
	}
	problem("$topic/$p: read up to " . ($expect - 1) . ", high watermark $hwm")
	  if $expect != $hwm;
	$verified{$k} = $hwm;
	return $n;
}

sub pids_of
{
	my ($type) = @_;
	return grep { /^\d+$/ } split /\n/,
	  sql("SELECT pid FROM pg_stat_activity WHERE backend_type = '$type'");
}

sub cluster_pids
{
	my @p;
	for my $d (glob '/proc/[0-9]*')
	{
		open(my $fh, '<', "$d/cmdline") or next;
		local $/;
		my $c = <$fh> // '';
		close($fh);
		push @p, (split m{/}, $d)[-1] if $c =~ m{/t_run_soak_data/|postgres: soak: };
	}
	return @p;
}

sub wait_caught_up
{
	my $lsn = sql('SELECT pg_current_wal_lsn()');
	return wait_until(sub {
		sql("SELECT coalesce(confirmed_flush_lsn >= '$lsn', false) FROM nagare.ingest") eq 't';
	});
}

# Transactions of round $round: transaction s publishes "r<round>s<s>.0" and
# ".1" and inserts row round * 100000 + s; every fifth (s % 5 == 0) rolls
# back.  More than a client gets through before the kill.
sub client_script
{
	my ($round, $file) = @_;
	open(my $fh, '>', $file) or die;
	for my $s (1 .. 30000)
	{
		my $id = $round * 100000 + $s;
		my $tag = "r${round}s$s";
		print $fh "BEGIN;\nSELECT nagare.publish('pub', 'k$s', '$tag.0');\n"
		  . ($s % 5 == 0
			? "INSERT INTO acct VALUES ($id, 'x');\nROLLBACK;\n"
			: "SELECT nagare.publish('pub', 'k$s', '$tag.1');\n"
			  . "INSERT INTO acct VALUES ($id, '$tag');\nCOMMIT;\n\\echo C $tag $id\n");
	}
	close($fh);
}

sub member_events
{
	my ($file) = @_;
	return () unless -e $file;
	return grep { defined } map { eval { decode_json($_) } } split /\n/, slurp_file($file);
}

my @victims = ('nagare broker', 'nagare worker', 'nagare ingest', 'backend', 'postmaster');
# the load's processes, killed if the script dies in a round
my @harnesses;
END { eval { $_->kill_kill } for grep { $_->pumpable } @harnesses }

for my $round (1 .. $rounds)
{
	my $t0 = time();
	@round_keys = ();
	# records for the member to read this round
	sql("SELECT count(*) FROM nagare.send_batch('grp', NULL::text[], "
		  . "(SELECT array_agg('g$round.' || i) FROM generate_series(0, 399) i), NULL, "
		  . "(SELECT array_agg(i % $GP) FROM generate_series(0, 399) i))");

	my $kfile = "$tmp/kp.$round";
	my $kout = '';
	my $prod = IPC::Run::start([ $python, "$sdir/producer.py", $boot, 'kp', $kfile, "r$round", $idem ],
		'<', \undef, '>', \$kout, '2>&1');

	my $cfile = "$tmp/client.$round.sql";
	client_script($round, $cfile);
	my ($cout, $cerr) = ('', '');
	my $client = IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') . ' application_name=soakclient', '-f', $cfile ],
		'<', \undef, '>', \$cout, '2>', \$cerr);

	my $mev = "$tmp/member.$round.events";
	my $mconf = "$tmp/member.$round.json";
	open(my $fh, '>', $mconf) or die;
	print $fh $json->encode({ group => 'soakg', topic => 'grp', events => $mev, client_id => "m$round",
		session_timeout_ms => 3000, heartbeat_ms => 300, max_poll_ms => 10000, batch => 5, delay_ms => 10 });
	close($fh);
	my $member = IPC::Run::start([ $python, "$idir/groups_confluent.py", $boot, 'member', "\@$mconf" ],
		'<', \undef, '>', "$tmp/member.$round.out", '2>', "$tmp/member.$round.err");
	@harnesses = ($prod, $client, $member);

	# load until each kind has something acknowledged, and a bit more
	my $want = 20 + ($round * 7) % 60;
	my $loaded = wait_until(sub {
		eval { $client->pump_nb };
		my $kacks = -e $kfile ? (() = slurp_file($kfile) =~ /\n/g) : 0;
		my $commits = () = $cout =~ /^C /mg;
		my $gacks = grep { $_->{ev} eq 'commit_ok' } member_events($mev);
		$kacks >= $want * 10 && $commits >= $want && $gacks >= 3;
	}, 60);
	problem("round $round: the load did not start (client: $cerr)") unless $loaded;

	# kill
	my $victim = $victims[ ($round - 1) % @victims ];
	my @all = cluster_pids();
	my $old_broker = broker_pid($node);
	my $pid;
	if ($victim eq 'postmaster')
	{
		$pid = $node->{_pid} // '?';
		$node->kill9;
		ok(wait_pid_gone(@all), "round $round: the server's processes are gone");
	}
	else
	{
		my @p = $victim eq 'backend'
		  ? grep { /^\d+$/ } split /\n/, sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'soakclient'")
		  : $victim eq 'nagare broker' ? ($old_broker) : pids_of($victim);
		$pid = $p[0];
		if (defined $pid)
		{
			kill('KILL', $pid);
		}
		else
		{
			problem("round $round: no $victim process to kill");
		}
	}
	my $t_kill = time();

	# the client's session ends with the crash
	eval { $client->finish };
	unlink $cfile;
	for my $l (split /\n/, $cout)
	{
		next unless $l =~ /^C (\S+) (\d+)$/;
		$pub_committed{"$1.0"} = 1;
		$pub_committed{"$1.1"} = 1;
		$ins_committed{$2} = 1;
	}

	if ($victim eq 'postmaster')
	{
		$node->start;
	}
	# the server restarts: wait until a broker is ready again
	my $up = wait_until(sub {
		my ($r, $o) = $node->psql('postgres', "SELECT state || ' ' || pid FROM nagare.broker");
		$r == 0 && $o =~ /^ready (\d+)$/ && $1 != $old_broker;
	});
	problem("round $round: the server did not come back") unless $up;
	my $t_up = time();

	# load goes on through the restart
	usleep(1_000_000);
	$prod->signal('TERM');
	eval { $prod->finish };
	$kout = (grep { /^produced / } split /\n/, $kout)[-1] // "no summary: $kout";
	$member->signal('KILL');
	eval { $member->finish };
	problem("round $round: the ingest worker did not catch up") unless wait_caught_up();

	# Kafka: every acknowledged record at its offset
	my ($rl, $rd) = (0, 0);
	my $kn = 0;
	read_new('kp', $_, "convert_from(c.value, 'UTF8')") for 0 .. $KP - 1;
	if (-e $kfile)
	{
		for my $l (split /\n/, slurp_file($kfile))
		{
			my ($p, $o, $v) = split / /, $l;
			$kn++;
			$kafka_acked{"$p|$o"} = $v;
			my $got = $at{"kp|$p"}{$o};
			if (!defined $got || $got ne $v)
			{
				$rl++;
				problem("round $round: kp/$p offset $o: acknowledged $v, found " . ($got // 'nothing'));
			}
			elsif ($count{"kp|$v"} > 1)
			{
				$rd++;
				problem("round $round: kp/$p: acknowledged $v is there $count{\"kp|$v\"} times");
			}
		}
	}
	# other duplicates among the new kp records (retries nobody saw acknowledged)
	for my $p (0 .. $KP - 1)
	{
		# counted at the end over everything
	}

	# publish() and the table topic
	read_new('pub', $_, "convert_from(c.value, 'UTF8')") for 0 .. $PP - 1;
	read_new('acct_changes', 0,
		"(convert_from(c.value, 'UTF8')::jsonb->>'op') || ':' || (convert_from(c.value, 'UTF8')::jsonb->'after'->>'id')");
	my ($pn, $tn) = (0, 0);
	for my $tag (grep { /^r${round}s/ } keys %pub_committed)
	{
		$pn++;
		my $c = $count{"pub|$tag"} // 0;
		$rl++, problem("round $round: committed publish $tag is not in pub") if $c == 0;
		$rd++, problem("round $round: committed publish $tag is in pub $c times") if $c > 1;
	}
	for my $id (grep { int($_ / 100000) == $round } keys %ins_committed)
	{
		my $c = $count{"acct_changes|c:$id"} // 0;
		$tn++;
		$rl++, problem("round $round: committed INSERT $id is not in acct_changes") if $c == 0;
		$rd++, problem("round $round: committed INSERT $id is in acct_changes $c times") if $c > 1;
	}
	# records read this round that nobody saw committed: of a rolled-back
	# transaction (s % 5 == 0: never there) or of one in flight at the kill
	# (there at most once)
	my %uniq = map { $_ => 1 } @round_keys;
	for my $k (keys %uniq)
	{
		my ($t, $what, $s);
		if ($k =~ /^pub\|(r\d+s(\d+)\.\d)$/)
		{
			($t, $what, $s) = ('pub', $1, $2);
			next if $pub_committed{$what};
		}
		elsif ($k =~ /^acct_changes\|c:(\d+)$/)
		{
			($t, $what, $s) = ('acct_changes', $1, $1 % 100000);
			next if $ins_committed{$what};
		}
		else
		{
			next;
		}
		if ($s % 5 == 0)
		{
			problem("round $round: $what of a rolled-back transaction is in $t");
		}
		elsif ($count{$k} > 1)
		{
			$rd++;
			problem("round $round: $what (in flight at the kill) is in $t $count{$k} times");
		}
	}

	# the group: stored offsets not below what was acknowledged
	my $gn = 0;
	for my $e (grep { $_->{ev} eq 'commit_ok' } member_events($mev))
	{
		$gn++;
		for my $p (keys %{ $e->{offsets} })
		{
			$group_acked{$p} = max($group_acked{$p} // 0, $e->{offsets}{$p});
		}
	}
	my %stored = map { split /\|/ } split /\n/,
	  sql("SELECT partition, committed_offset FROM nagare.group_offset WHERE group_id = 'soakg' AND topic = 'grp'");
	for my $p (keys %group_acked)
	{
		if (($stored{$p} // -1) < $group_acked{$p})
		{
			$rl++;
			problem("round $round: group offset of grp/$p is " . ($stored{$p} // 'none')
				  . ", below the acknowledged $group_acked{$p}");
		}
	}

	$acked{kafka} += $kn;
	$acked{publish} += $pn;
	$acked{table} += $tn;
	$acked{group} += $gn;
	$lost += $rl;
	$dup += $rd;
	note(sprintf("round %d: killed %s (%s) after %.1f s, back in %.1f s; acknowledged %d Kafka, %d publish, %d insert, %d group commits; producer: %s; lost %d, duplicated %d",
		$round, $victim, $pid // '?', $t_kill - $t0, $t_up - $t_kill, $kn, $pn, $tn, $gn, $kout, $rl, $rd));
}

# once more over everything, after a clean restart
$node->restart;
wait_broker_ready($node);
%at = ();
%verified = ();
%count = ();
read_new('kp', $_, "convert_from(c.value, 'UTF8')") for 0 .. $KP - 1;
read_new('pub', $_, "convert_from(c.value, 'UTF8')") for 0 .. $PP - 1;
read_new('acct_changes', 0,
	"(convert_from(c.value, 'UTF8')::jsonb->>'op') || ':' || (convert_from(c.value, 'UTF8')::jsonb->'after'->>'id')");
my ($fl, $fd) = (0, 0);
for my $k (keys %kafka_acked)
{
	my ($p, $o) = split /\|/, $k;
	my $v = $kafka_acked{$k};
	$fl++ if ($at{"kp|$p"}{$o} // '') ne $v;
	$fd++ if ($count{"kp|$v"} // 0) > 1;
}
for my $tag (keys %pub_committed)
{
	$fl++ if !$count{"pub|$tag"};
	$fd++ if ($count{"pub|$tag"} // 0) > 1;
}
for my $id (keys %ins_committed)
{
	$fl++ if !$count{"acct_changes|c:$id"};
	$fd++ if ($count{"acct_changes|c:$id"} // 0) > 1;
}
my $aborted_there = grep { /^pub\|r\d+s(\d+)\.\d$/ && $1 % 5 == 0 } keys %count;
$aborted_there += grep { /^acct_changes\|c:(\d+)$/ && $1 % 5 == 0 } keys %count;
my $unacked_dups = grep { /^kp\|/ && $count{$_} > 1 } keys %count;
is($fl, 0, 'final check: no acknowledged record lost');
is($fd, 0, 'final check: no acknowledged record duplicated');
is($aborted_there, 0, 'final check: nothing of a rolled-back transaction');
is($unacked_dups, 0, 'final check: no Kafka record written twice');
is($lost, 0, 'no round lost an acknowledged record');
is($dup, 0, 'no round duplicated an acknowledged record');
is(scalar(@problems), 0, 'no problem found');

my $log = slurp_file($node->logfile);
my @trunc = $log =~ /(nagare broker: truncating [^\n]*)/g;
my $total = $acked{kafka} + $acked{publish} + $acked{table} + $acked{group};
my $summary = sprintf(
	"rounds %d, acknowledged %d (Kafka records %d, publish() records %d, table changes %d, group commits %d), lost %d, duplicated %d, rolled back found %d, truncations at recovery %d, %.0f s",
	$rounds, $total, $acked{kafka}, $acked{publish}, $acked{table}, $acked{group},
	$lost + $fl, $dup + $fd, $aborted_there, scalar(@trunc), time() - $t_start);
note($summary);
diag("SOAK: $summary");
$node->stop;
done_testing();
