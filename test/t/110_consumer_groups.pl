# Consumer groups with real Kafka clients: librdkafka (confluent-kafka-python),
# kafka-python, kafkajs and @platformatic/kafka as members of groups
# coordinated by nagare's broker, committed offsets in nagare.group_offset,
# and the SQL views and functions on them.
#
# The members (test/interop/groups_*.{py,mjs}) subscribe to a topic, write
# one JSON line per event (assignment, record processed, commit sent,
# acknowledged or refused, close) and commit synchronously after each
# processed batch.  The test reads those files and checks:
#
#   - every partition assigned to exactly one member, as the members report
#     it and as nagare.group_members, DescribeGroups (kafkajs, librdkafka)
#     show it; rebalances when a member joins, closes (LeaveGroup: at once)
#     or is killed (removed after its session timeout, not before);
#   - at-least-once as synchronous commits allow: wherever a member starts
#     on a partition, it starts at or after the last commit acknowledged
#     before it got the partition, and at or before the last commit sent;
#     every record is consumed; after all members restarted, each starts
#     exactly at the committed offset; and across a restart of the server;
#   - a group of four client libraries on the protocol they share
#     ("roundrobin"), and INCONSISTENT_GROUP_PROTOCOL for one with none;
#   - lag in nagare.consumer_lag equals what librdkafka and kafkajs compute;
#   - reset_group_offsets (earliest, latest, offset, time; new groups with
#     create_group => true) and delete_group
#     refused (55006) while members are live, then the next member starts
#     where they put the group; kafkajs admin: describeGroups, listGroups,
#     deleteGroups (NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND), setOffsets,
#     resetOffsets; a commit from outside the group while it has members;
#   - Kafka semantics where nagare's coordinator differed from Kafka's (see
#     the checks marked "Kafka:").
#
# Session timeouts are 3 s (nagare.group_min_session_timeout is lowered to
# 1 s for it) and the initial rebalance delay 0.5 s, to keep the test short.
# The kill -9 of the server while a group commits is test/t/115_group_crash.pl.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use List::Util qw(max min sum);
use Time::HiRes qw(time usleep);

my $python = '/usr/bin/python3';
my $idir = "$FindBin::RealBin/../interop";
my $json = JSON::PP->new->canonical;

sub have { system("@_ >/dev/null 2>&1") == 0 }
my $have_node = have('node --version');
my %avail = (
	confluent => have("$python -c 'import confluent_kafka'"),
	kafka_python => have("$python -c 'import kafka'"),
	kafkajs => $have_node && -d "$idir/node_modules/kafkajs",
	platformatic => $have_node && -d "$idir/node_modules/\@platformatic/kafka",
);
plan skip_all => 'confluent-kafka (Debian python3-confluent-kafka) is not installed'
  unless $avail{confluent};
for (grep { !$avail{$_} } sort keys %avail)
{
	note("client $_ is not installed: its parts are skipped");
}
my %script = (
	confluent => [ $python, "$idir/groups_confluent.py" ],
	kafka_python => [ $python, "$idir/groups_kafka_python.py" ],
	kafkajs => [ 'node', "$idir/groups_kafkajs.mjs" ],
	platformatic => [ 'node', "$idir/groups_platformatic.mjs" ],
);

my $SESSION = 3000;
my $HEARTBEAT = 300;

my ($node, $kport) = kafka_node('groups', conf => qq{
nagare.group_min_session_timeout = 1000
nagare.group_initial_rebalance_delay = 500
});
my $boot = "127.0.0.1:$kport";
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $t_start = time();

# ---------------------------------------------------------------- helpers

sub sql { return $node->safe_psql('postgres', $_[0]) }

sub wait_topic
{
	my ($topic, $n) = @_;
	sql("SELECT nagare.create_topic('$topic', $n)");
	# the broker learns topics from the worker: wait until Kafka sees it
	ok(wait_until(sub {
		my $r = run_json('confluent', 'lag', { group => 'probe', topic => $topic, partitions => [ 0 .. $n - 1 ] }, quiet => 1);
		return $r && !grep { $_ < 0 } values %{ $r->{high} };
	}, 60), "topic $topic with $n partitions is served");
}

# n records into each partition of a topic (values "p<partition>-<i>")
sub send_each
{
	my ($topic, $n, $np) = @_;
	sql("SELECT count(*) FROM nagare.send_batch('$topic', NULL::text[], "
		  . "(SELECT array_agg('p' || (i % $np) || '-' || (i / $np)) FROM generate_series(0, $n * $np - 1) i), NULL, "
		  . "(SELECT array_agg(i % $np) FROM generate_series(0, $n * $np - 1) i))");
}

sub hwm
{
	my ($topic) = @_;
	return { map { split /\|/ } split /\n/,
		  sql("SELECT partition, high_watermark FROM nagare.partitions WHERE topic = '$topic'") };
}

my $nargs = 0;
sub args_file
{
	my ($args) = @_;
	my $f = "$tmp/args-" . $nargs++ . '.json';
	open(my $fh, '>', $f) or die "$f: $!";
	print $fh $json->encode($args);
	close($fh);
	return $f;
}

# Run a one-shot client command; its JSON result or undef (after a failed
# test unless quiet)
sub run_json
{
	my ($client, $cmd, $args, %o) = @_;
	my ($out, $err) = ('', '');
	my @argv = (@{ $script{$client} }, $boot, $cmd, '@' . args_file($args));
	my $ok = eval {
		IPC::Run::run(\@argv, '<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout($o{timeout} // 60));
	};
	my @lines = grep { /^\{/ } split /\n/, $out;
	my $res = @lines ? eval { decode_json($lines[-1]) } : undef;
	if (!$res && !$o{quiet})
	{
		fail("$client $cmd ran");
		diag("$client $cmd: " . ($@ || "exit $?") . "\n" . substr($err, -2000));
	}
	return $res;
}

my %members;
# members left running when the test dies
END
{
	for my $m (grep { !$_->{gone} && $_->{pid} } values %members)
	{
		kill('KILL', $m->{pid});
	}
}
# Start a member process; returns it once it wrote its start event
sub start_member
{
	my ($client, $name, %a) = @_;
	my $ev = "$tmp/$name.events";
	my %args = (events => $ev, client_id => $name, session_timeout_ms => $SESSION,
		heartbeat_ms => $HEARTBEAT, max_poll_ms => 10000, %a);
	my $h = IPC::Run::start([ @{ $script{$client} }, $boot, 'member', '@' . args_file(\%args) ],
		'<', \undef, '>', "$tmp/$name.out", '2>', "$tmp/$name.err");
	my $m = { name => $name, client => $client, h => $h, events => $ev, group => $args{group},
		topic => $args{topic} };
	$members{$name} = $m;
	wait_until(sub { my @e = events($m); $m->{pid} = $e[0]{pid} if @e; @e }, 30)
	  or die "member $name did not start: " . slurp_file("$tmp/$name.err");
	return $m;
}

sub events
{
	my ($m) = @_;
	return () unless -e $m->{events};
	return grep { defined } map { eval { decode_json($_) } } split /\n/, slurp_file($m->{events});
}

sub last_assigned
{
	my ($m) = @_;
	my @a = grep { $_->{ev} eq 'assigned' } events($m);
	return @a ? $a[-1]{parts} : undef;
}

# SIGTERM: the member commits, closes its consumer (LeaveGroup) and exits
sub stop_member
{
	my ($m) = @_;
	$m->{h}->signal('TERM');
	my $closed = wait_until(sub { grep { $_->{ev} eq 'closed' } events($m) }, 30);
	kill('KILL', $m->{pid}) unless $closed;
	eval { $m->{h}->finish };
	ok($closed, "$m->{name} closed its consumer") or diag(substr(slurp_file("$tmp/$m->{name}.err"), -2000));
	$m->{gone} = 1;
}

sub kill_member
{
	my ($m) = @_;
	kill('KILL', $m->{pid});
	eval { $m->{h}->finish };
	$m->{gone} = 1;
}

# The group's live members in SQL: { client_id => { member_id, host, parts } }
sub sql_members
{
	my ($group, $topic) = @_;
	my %r;
	for (split /\n/, sql("SELECT client_id, member_id, client_host, session_timeout_ms, assignment::text "
		  . "FROM nagare.group_members WHERE group_id = '$group'"))
	{
		my ($cid, $mid, $host, $st, $asg) = split /\|/;
		my @parts = map { @{ $_->{partitions} } } grep { $_->{topic} eq $topic } @{ decode_json($asg) };
		$r{$cid} = { member_id => $mid, host => $host, session_timeout_ms => $st, parts => [ sort { $a <=> $b } @parts ] };
	}
	return \%r;
}

# Wait until the group is Stable with exactly these members, each partition
# assigned once, and each member reporting the assignment SQL shows for it.
sub wait_stable
{
	my ($label, $group, $topic, $np, @ms) = @_;
	my ($why, $sm);
	my $ok = wait_until(sub {
		my $st = sql("SELECT state || '|' || members FROM nagare.consumer_groups WHERE group_id = '$group'");
		$sm = sql_members($group, $topic);
		$why = "state $st, members " . $json->encode({ map { $_ => $sm->{$_}{parts} } keys %$sm });
		return 0 unless $st eq 'Stable|' . scalar(@ms);
		return 0 unless join(',', sort keys %$sm) eq join(',', sort map { $_->{name} } @ms);
		my @all = sort { $a <=> $b } map { @{ $_->{parts} } } values %$sm;
		return 0 unless "@all" eq join(' ', 0 .. $np - 1);
		for my $m (@ms)
		{
			my $p = last_assigned($m);
			$why .= "; $m->{name} reports " . ($p ? "[@$p]" : 'nothing');
			return 0 unless $p && "@$p" eq "@{ $sm->{ $m->{name} }{parts} }";
		}
		return 1;
	}, 60);
	ok($ok, "$label: group $group is Stable with " . join(', ', map { $_->{name} } @ms)
		  . ", each of the $np partitions assigned to one of them, as each reports")
	  or diag($why);
	note("$label: " . join('; ', map { "$_ [@{ $sm->{$_}{parts} }]" } sort keys %$sm));
	return $sm;
}

# Wait until the group committed the high watermark of every partition
sub wait_consumed
{
	my ($label, $group, $topic, $np) = @_;
	my $q = "SELECT count(*) FILTER (WHERE lag = 0) FROM nagare.consumer_lag WHERE group_id = '$group' AND topic = '$topic'";
	ok(wait_until(sub { sql($q) == $np }, 90), "$label: the group committed the high watermark of all $np partitions")
	  or diag(sql("SELECT partition, committed_offset, high_watermark FROM nagare.consumer_lag WHERE group_id = '$group'"));
}

# The at-least-once checks over every event of @ms (all members the group
# ever had on that topic).  A member's session on a partition starts with an
# "assigned" event naming it; its first record there must be at or after the
# highest commit acknowledged (to anyone) before that event, and at or
# before the highest commit sent before that record (no commit in flight:
# exactly the committed offset).  %o: start => {p => offset} for partitions
# without commits (the log start), extra_commits => [[t, p, offset]] (resets
# from SQL), upto => {p => n}: every offset below n must have been consumed.
sub check_history
{
	my ($label, $ms, %o) = @_;
	my (@sessions, @acked, @sent, %seen, @outside);
	push @acked, @{ $o{extra_commits} // [] };
	push @sent, @{ $o{extra_commits} // [] };
	for my $m (@$ms)
	{
		my %cur;
		for my $e (events($m))
		{
			if ($e->{ev} eq 'assigned')
			{
				%cur = ();
				for my $p (@{ $e->{parts} })
				{
					push @sessions, { m => $m->{name}, p => $p, t => $e->{t} };
					$cur{$p} = $sessions[-1];
				}
			}
			elsif ($e->{ev} eq 'revoked')
			{
				%cur = ();
			}
			elsif ($e->{ev} eq 'rec')
			{
				my $s = $cur{ $e->{p} };
				push @outside, "$m->{name} p$e->{p} o$e->{o}" unless $s;
				if ($s && !defined $s->{first})
				{
					$s->{first} = $e->{o};
					$s->{tr} = $e->{t};
				}
				$seen{ $e->{p} }{ $e->{o} }++;
			}
			elsif ($e->{ev} eq 'commit_ok' || $e->{ev} eq 'commit_sent')
			{
				my $list = $e->{ev} eq 'commit_ok' ? \@acked : \@sent;
				push @$list, [ $e->{t}, $_, $e->{offsets}{$_} ] for keys %{ $e->{offsets} };
			}
		}
	}
	my @d;
	for my $s (sort { $a->{t} <=> $b->{t} } grep { defined $_->{first} } @sessions)
	{
		my $start = $o{start}{ $s->{p} } // 0;
		my $lo = max($start, map { $_->[2] } grep { $_->[1] == $s->{p} && $_->[0] < $s->{t} } @acked);
		my $hi = max($start, map { $_->[2] } grep { $_->[1] == $s->{p} && $_->[0] <= $s->{tr} } @sent);
		push @d, sprintf('%s started partition %d at offset %d, expected %s (at %.3f)', $s->{m}, $s->{p}, $s->{first},
			$lo == $hi ? $lo : "$lo..$hi", $s->{t} - $t_start)
		  if $s->{first} < $lo || $s->{first} > $hi;
	}
	ok(!@d, "$label: each member started each partition at the committed offset (at-least-once with synchronous commits)")
	  or diag(join("\n", @d[ 0 .. min($#d, 15) ]));
	ok(!@outside, "$label: no member processed a record of a partition it was not assigned")
	  or diag(scalar(@outside) . ' records, e.g. ' . join(', ', @outside[ 0 .. min($#outside, 9) ]));
	if ($o{upto})
	{
		my @missing;
		for my $p (sort { $a <=> $b } keys %{ $o{upto} })
		{
			my @m = grep { !$seen{$p}{$_} } (($o{start}{$p} // 0) .. $o{upto}{$p} - 1);
			push @missing, "partition $p: " . scalar(@m) . " records, first $m[0]" if @m;
		}
		ok(!@missing, "$label: every record was consumed") or diag(join("\n", @missing));
	}
	my $dups = sum(0, map { my $p = $_; scalar grep { $seen{$p}{$_} > 1 } keys %{ $seen{$p} } } keys %seen);
	my $total = sum(0, map { scalar keys %{ $seen{$_} } } keys %seen);
	note("$label: $total records consumed, $dups of them more than once");
	return { dups => $dups, seen => \%seen };
}

# First offset each member consumed per partition after time $t
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

sub committed
{
	my ($group, $topic) = @_;
	return { map { split /\|/ } split /\n/,
		  sql("SELECT partition, committed_offset FROM nagare.group_offset WHERE group_id = '$group' AND topic = '$topic'") };
}

sub fmt { my ($h) = @_; return join(' ', map { "$_:$h->{$_}" } sort { $a <=> $b } keys %$h) }

# ================================================================ A: one library

my $NP = 6;
wait_topic('ga', $NP);
my %slow = (delay_ms => 40, batch => 5);

# two members split the partitions
send_each('ga', 20, $NP);
my $c1 = start_member('confluent', 'c1', group => 'ga', topic => 'ga', %slow);
my $c2 = start_member('confluent', 'c2', group => 'ga', topic => 'ga', %slow);
my $sm = wait_stable('two members', 'ga', 'ga', $NP, $c1, $c2);
is(scalar(@{ $sm->{c1}{parts} }) . '/' . scalar(@{ $sm->{c2}{parts} }), '3/3', 'two members: 3 partitions each');
is(sql("SELECT protocol_type || '|' || protocol FROM nagare.consumer_groups WHERE group_id = 'ga'"), 'consumer|range',
	"librdkafka's first protocol, range, is chosen");

# a third joins
send_each('ga', 20, $NP);
my $c3 = start_member('confluent', 'c3', group => 'ga', topic => 'ga', %slow);
$sm = wait_stable('a third member joins', 'ga', 'ga', $NP, $c1, $c2, $c3);
is(join('/', map { scalar @{ $sm->{$_}{parts} } } qw(c1 c2 c3)), '2/2/2', 'three members: 2 partitions each');

# one closes: LeaveGroup, removed at once
send_each('ga', 20, $NP);
my $lo = log_offset($node);
my $t0 = time();
stop_member($c3);
$sm = wait_stable('a member closes', 'ga', 'ga', $NP, $c1, $c2);
my $took = time() - $t0;
like(log_since($node, $lo), qr/group "ga": member c3-\S+ left \(left the group\)/, 'the broker logs that c3 left the group');
cmp_ok($took, '<', $SESSION / 1000, sprintf('the group rebalanced %.1fs after the close, before a session timeout', $took));

# one is killed: removed after its session timeout, not before
send_each('ga', 20, $NP);
$lo = log_offset($node);
$t0 = time();
kill_member($c2);
ok(exists sql_members('ga', 'ga')->{c2}, 'right after the kill, c2 is still a member (its session has not expired)');
my $gone;
wait_until(sub { $gone = time() if !exists sql_members('ga', 'ga')->{c2}; $gone }, 30);
my $after = ($gone // time()) - $t0;
ok($gone && $after >= ($SESSION - $HEARTBEAT) / 1000 - 0.3 && $after <= $SESSION / 1000 + 2,
	sprintf('c2 was removed %.1fs after the kill (session timeout %.1fs)', $after, $SESSION / 1000));
like(log_since($node, $lo), qr/group "ga": member c2-\S+ left \(session timed out\)/, 'the broker logs the session timeout');
$sm = wait_stable('a member is killed', 'ga', 'ga', $NP, $c1);
wait_consumed('members joined, left, were killed', 'ga', 'ga', $NP);
check_history('ga, one library', [ $c1, $c2, $c3 ], upto => hwm('ga'));

# ================================================================ B: every member restarts

stop_member($c1);
is(sql("SELECT count(*) FROM nagare.group_members WHERE group_id = 'ga'"), 0, 'no member left in ga');
is(sql("SELECT state || '|' || members FROM nagare.consumer_groups WHERE group_id = 'ga'"), 'Empty|0',
	'nagare.consumer_groups shows ga Empty');
send_each('ga', 10, $NP);
my $before = committed('ga', 'ga');
is(fmt($before), fmt({ map { $_ => 80 } 0 .. $NP - 1 }), 'the committed offsets are the old high watermark, 80');
$t0 = time();
my @b = (start_member('confluent', 'c4', group => 'ga', topic => 'ga', %slow));
SKIP:
{
	skip 'kafka-python is not installed', 1 unless $avail{kafka_python};
	push @b, start_member('kafka_python', 'k1', group => 'ga', topic => 'ga', %slow);
	wait_stable('librdkafka and kafka-python', 'ga', 'ga', $NP, @b);
	is(sql("SELECT protocol FROM nagare.consumer_groups WHERE group_id = 'ga'"), 'range',
		'both offer range first: range is chosen');
}
wait_consumed('after every member restarted', 'ga', 'ga', $NP);
is(fmt(first_offsets($t0, @b)), fmt($before), 'the restarted members started exactly at the committed offsets');
check_history('ga, restarted members', [ $c1, $c2, $c3, @b ], upto => hwm('ga'));

# ================================================================ C: the server restarts

send_each('ga', 40, $NP);
usleep(800_000);    # members are consuming and committing
my $t_restart = time();
$node->restart;
wait_broker_ready($node);
my $t_up = time();
note(sprintf('restart took %.1fs', $t_up - $t_restart));
$sm = wait_stable('after a server restart', 'ga', 'ga', $NP, @b);
ok(!(grep { !grep { $_->{ev} eq 'assigned' && $_->{t} > $t_up } events($_) } @b),
	'every member rejoined after the restart');
wait_consumed('after a server restart', 'ga', 'ga', $NP);
my $h = check_history('ga, server restart', [ $c1, $c2, $c3, @b ], upto => hwm('ga'));
$_->{h} && stop_member($_) for @b;

# ================================================================ D: four libraries in one group

wait_topic('gm', $NP);
send_each('gm', 30, $NP);
my @d = (start_member('confluent', 'm-confluent', group => 'gm', topic => 'gm', %slow));
push @d, start_member('kafka_python', 'm-kafka-python', group => 'gm', topic => 'gm', %slow) if $avail{kafka_python};
# kafkajs' own assigner is "RoundRobinAssigner", a name no other client
# offers; its round robin under the name "roundrobin" shares the protocol
push @d, start_member('kafkajs', 'm-kafkajs', group => 'gm', topic => 'gm', assignors => ['roundrobin'], %slow)
  if $avail{kafkajs};
push @d, start_member('platformatic', 'm-platformatic', group => 'gm', topic => 'gm', %slow) if $avail{platformatic};
$sm = wait_stable(scalar(@d) . ' libraries', 'gm', 'gm', $NP, @d);
is(sql("SELECT protocol FROM nagare.consumer_groups WHERE group_id = 'gm'"), @d > 2 ? 'roundrobin' : 'range',
	'the protocol every member supports is chosen');
ok(!(grep { !@{ $sm->{$_}{parts} } } keys %$sm), 'every member got partitions: the leader read every subscription');

# the views while the members run, against DescribeGroups by two clients
{
	my $g = sql("SELECT state, protocol_type, protocol, generation, leader, members FROM nagare.consumer_groups WHERE group_id = 'gm'");
	my ($state, $ptype, $proto, $gen, $leader, $n) = split /\|/, $g;
	ok($state eq 'Stable' && $ptype eq 'consumer' && $gen > 0 && $n == @d
		  && grep({ $_->{member_id} eq $leader } values %$sm), 'nagare.consumer_groups: Stable, consumer, a generation, the leader is a member')
	  or diag($g);
	my @bad = grep { $sm->{$_}{host} ne '127.0.0.1' || $sm->{$_}{member_id} !~ /^\Q$_\E-[0-9a-f-]{36}$/ || $sm->{$_}{session_timeout_ms} != $SESSION } keys %$sm;
	ok(!@bad, 'nagare.group_members: client ids, host 127.0.0.1, member ids "<client id>-<uuid>", session timeouts')
	  or diag($json->encode($sm));
	my %want = (state => 'Stable', protocol_type => 'consumer', protocol => $proto,
		members => [ map { { member_id => $sm->{$_}{member_id}, client_id => $_, client_host => '127.0.0.1', assignment => $sm->{$_}{parts} } }
			sort { $sm->{$a}{member_id} cmp $sm->{$b}{member_id} } keys %$sm ]);
	for my $c (grep { $avail{$_} } qw(kafkajs confluent))
	{
		my $r = run_json($c, 'describe', { group => 'gm' }) or next;
		delete $r->{error} unless defined $r->{error};
		is($json->encode($r), $json->encode(\%want), "$c DescribeGroups shows what nagare.group_members shows");
	}
}

SKIP:
{
	skip 'kafkajs is not installed', 1 unless $avail{kafkajs};
	# kafkajs' default protocol only: no protocol in common
	my $j = start_member('kafkajs', 'm-kafkajs-default', group => 'gm', topic => 'gm');
	ok(wait_until(sub { grep { $_->{ev} eq 'crashed' } events($j) }, 30), 'kafkajs with only RoundRobinAssigner cannot join');
	my ($cr) = grep { $_->{ev} eq 'crashed' } events($j);
	is($cr && $cr->{type}, 'INCONSISTENT_GROUP_PROTOCOL', 'its JoinGroup fails with INCONSISTENT_GROUP_PROTOCOL');
	eval { $j->{h}->finish };
	$j->{gone} = 1;
	is(sql("SELECT state || '|' || members FROM nagare.consumer_groups WHERE group_id = 'gm'"), 'Stable|' . scalar(@d),
		'the group carries on without it');
}
wait_consumed(scalar(@d) . ' libraries', 'gm', 'gm', $NP);
check_history('gm, ' . scalar(@d) . ' libraries', \@d, upto => hwm('gm'));
# (@platformatic's member fetches by topic id: with a name where Fetch 13+
# wants an id, each of its fetches failed while the others read on)
is(join('; ', map { my $m = $_; map { "$m->{name}: $_->{error}" }
	grep { $_->{ev} eq 'error' && ($_->{error} // '') =~ /^fetch/ } events($m) } @d), '',
	'no member saw a Fetch fail');

# ================================================================ E: SQL and admin while live

for my $call ("nagare.reset_group_offsets('gm', 'gm', 'earliest')", "nagare.reset_group_offsets('gm', 'gm', 'latest')",
	"nagare.reset_group_offsets('gm', 'gm', 5::bigint)", "nagare.reset_group_offsets('gm', 'gm', now())",
	"nagare.delete_group('gm')")
{
	my $err = sql_error($node, "SELECT * FROM $call");
	like($err, qr/55006: consumer group "gm" has ${\ scalar @d} live member\(s\)/, "$call is refused while members are live")
	  or diag($err);
}
like(sql_error($node, "SELECT nagare.delete_group('gm')"), qr/HINT:.*nagare\.group_members/, 'with a hint');
SKIP:
{
	skip 'kafkajs is not installed', 1 unless $avail{kafkajs};
	my $r = run_json('kafkajs', 'delete', { groups => ['gm'] });
	is($r && $r->{results}{gm}, 'NON_EMPTY_GROUP', 'kafkajs deleteGroups: NON_EMPTY_GROUP while live');
	$r = run_json('kafkajs', 'set_offsets', { group => 'gm', topic => 'gm', partitions => [ { partition => 0, offset => 1 } ] });
	# (kafkajs checks DescribeGroups itself and sends nothing)
	like($r && $r->{error} // 'no error', qr/no running instances, current state: Stable/,
		'kafkajs setOffsets refuses a live group (DescribeGroups says Stable)');
}
{
	# tools outside the group commit with generation -1: refused while it has members (Kafka: UNKNOWN_MEMBER_ID)
	my $r = run_json('confluent', 'commit', { group => 'gm', topic => 'gm', offsets => { 0 => 1 } });
	is($r && $r->{errors}{0}, 'UNKNOWN_MEMBER_ID', 'a commit from outside the live group is UNKNOWN_MEMBER_ID');
}
my $gm_committed = committed('gm', 'gm');
is(fmt($gm_committed), fmt(hwm('gm')), 'and nothing of that changed the committed offsets');
$_->{h} && !$_->{gone} && stop_member($_) for @d;

# ---- lag: SQL and the clients agree
send_each('gm', 3, $NP);
sql("SELECT nagare.send('gm', NULL::text, 'extra'::text, NULL::jsonb, 2)") for 1 .. 4;
{
	my %sql = map { my ($p, $c, $hw, $l) = split /\|/; ($p => "$c/$hw/$l") }
	  split /\n/, sql("SELECT partition, committed_offset, high_watermark, lag FROM nagare.consumer_lag WHERE group_id = 'gm' AND topic = 'gm'");
	is(join(' ', map { (split m{/}, $sql{$_})[2] } 0 .. $NP - 1), '3 3 7 3 3 3', 'nagare.consumer_lag: 3 records behind, 7 in partition 2');
	for my $c (grep { $avail{$_} } qw(confluent kafkajs))
	{
		my $r = run_json($c, 'lag', { group => 'gm', topic => 'gm', partitions => [ 0 .. $NP - 1 ] }) or next;
		my %cl = map { $_ => ($r->{committed}{$_} // 'null') . "/$r->{high}{$_}/" . ($r->{high}{$_} - ($r->{committed}{$_} // 0)) } 0 .. $NP - 1;
		is($json->encode(\%cl), $json->encode(\%sql), "$c: committed offsets, high watermarks and lag as nagare.consumer_lag");
	}
}

# ================================================================ F: resets when idle

is(sql("SELECT state || '|' || members FROM nagare.consumer_groups WHERE group_id = 'gm'"), 'Empty|0', 'gm is idle');
{
	# the time reset needs records on both sides of a time
	send_each('gm', 2, $NP);
	usleep(300_000);
	my $ts = sql("SELECT clock_timestamp()");
	usleep(300_000);
	my $hw_before = hwm('gm');
	send_each('gm', 2, $NP);
	my $hw = hwm('gm');

	my @r = split /\n/, sql("SELECT * FROM nagare.reset_group_offsets('r-earliest', 'gm', 'earliest', create_group => true)");
	is(join(' ', @r), join(' ', map { "$_||0" } 0 .. $NP - 1), 'reset to earliest: a group without offsets gets the log start');
	@r = split /\n/, sql("SELECT * FROM nagare.reset_group_offsets('r-latest', 'gm', 'latest', create_group => true)");
	is(join(' ', @r), join(' ', map { "$_||$hw->{$_}" } 0 .. $NP - 1), 'reset to latest: the high watermarks');
	sql("SELECT nagare.reset_group_offsets('r-offset', 'gm', 5::bigint, create_group => true)");
	@r = split /\n/, sql("SELECT * FROM nagare.reset_group_offsets('r-offset', 'gm', 1000000::bigint, '{1,4}')");
	is(join(' ', @r), "1|5|$hw->{1} 4|5|$hw->{4}", 'reset to an offset past the end of two partitions: clamped to their high watermarks');
	my ($ret, $out, $err) = $node->psql('postgres', "SELECT * FROM nagare.reset_group_offsets('r-time', 'gm', '$ts'::timestamptz, create_group => true)");
	diag($err) if $ret;
	@r = split /\n/, $out;
	is(join(' ', @r), join(' ', map { "$_||$hw_before->{$_}" } 0 .. $NP - 1), 'reset to a time: the first record at or after it');
	sql("SELECT nagare.reset_group_offsets('gm', 'gm', 'latest')");    # gm itself: idle now
	is(fmt(committed('gm', 'gm')), fmt($hw), 'gm reset to latest while idle');

	my %expect = (
		'r-earliest' => { map { $_ => 0 } 0 .. $NP - 1 },
		'r-offset' => { map { $_ => ($_ == 1 || $_ == 4) ? $hw->{$_} : 5 } 0 .. $NP - 1 },
		'r-time' => $hw_before,
		'r-latest' => $hw,
	);
	my %r = map { $_ => start_member('confluent', "first-$_", group => $_, topic => 'gm', commit => 'none') } sort keys %expect;
	wait_stable("reset group $_", $_, 'gm', $NP, $r{$_}) for sort keys %expect;
	# something to read at the latest offsets
	send_each('gm', 1, $NP);
	my $t1 = time();
	for my $g (sort keys %expect)
	{
		my $want = { map { $_ => $expect{$g}{$_} } grep { $expect{$g}{$_} <= $hw->{$_} } keys %{ $expect{$g} } };
		ok(wait_until(sub { keys %{ first_offsets(0, $r{$g}) } == $NP }, 30), "$g: the member consumes every partition");
		is(fmt(first_offsets(0, $r{$g})), fmt($want), "$g: the next member starts at the reset offsets");
	}
	stop_member($_) for values %r;

	# delete_group when idle
	is(sql("SELECT nagare.delete_group('r-time')"), $NP, 'delete_group of an idle group deletes its offsets');
	is(sql("SELECT count(*) FROM nagare.group_offset WHERE group_id = 'r-time'"), 0, 'none left');
	my $m = start_member('confluent', 'after-delete', group => 'r-time', topic => 'gm', commit => 'none');
	wait_stable('after delete_group', 'r-time', 'gm', $NP, $m);
	ok(wait_until(sub { keys %{ first_offsets(0, $m) } == $NP }, 30), 'a member of the deleted group consumes');
	is(fmt(first_offsets(0, $m)), fmt({ map { $_ => 0 } 0 .. $NP - 1 }), 'from the log start (auto.offset.reset earliest)');
	stop_member($m);
}

# ================================================================ G: kafkajs admin on idle groups

SKIP:
{
	skip 'kafkajs is not installed', 1 unless $avail{kafkajs};
	my $r = run_json('kafkajs', 'list', {});
	my %listed = map { $_->{group} => $_->{protocol_type} } @{ $r ? $r->{groups} : [] };
	ok(exists $listed{ga} && exists $listed{gm} && exists $listed{'r-latest'}, 'kafkajs listGroups lists the groups')
	  or diag($json->encode($r));

	$r = run_json('kafkajs', 'delete', { groups => [ 'r-earliest', 'no-such-group' ] });
	is($json->encode($r && $r->{results}), '{"no-such-group":"GROUP_ID_NOT_FOUND","r-earliest":null}',
		'kafkajs deleteGroups: an idle group is deleted, an unknown one is GROUP_ID_NOT_FOUND');
	is(sql("SELECT count(*) FROM nagare.group_offset WHERE group_id = 'r-earliest'"), 0, 'its offsets are gone');

	$r = run_json('kafkajs', 'set_offsets', { group => 'r-latest', topic => 'gm', partitions => [ map { { partition => $_, offset => $_ + 1 } } 0 .. $NP - 1 ] });
	is($r && $r->{error}, undef, 'kafkajs setOffsets on an idle group');
	is(fmt(committed('r-latest', 'gm')), fmt({ map { $_ => $_ + 1 } 0 .. $NP - 1 }), 'nagare.group_offset has them');
	my $m = start_member('confluent', 'after-set', group => 'r-latest', topic => 'gm', commit => 'none');
	ok(wait_until(sub { keys %{ first_offsets(0, $m) } == $NP }, 30), 'a member consumes after setOffsets');
	is(fmt(first_offsets(0, $m)), fmt({ map { $_ => $_ + 1 } 0 .. $NP - 1 }), 'from the offsets kafkajs set');
	stop_member($m);

	$r = run_json('kafkajs', 'reset_offsets', { group => 'r-latest', topic => 'gm', earliest => JSON::PP::true });
	is($r && $r->{error}, undef, 'kafkajs resetOffsets to earliest');
	$m = start_member('kafkajs', 'after-reset', group => 'r-latest', topic => 'gm', commit => 'none', assignors => ['roundrobin']);
	ok(wait_until(sub { keys %{ first_offsets(0, $m) } == $NP }, 30), 'a kafkajs member consumes after resetOffsets');
	is(fmt(first_offsets(0, $m)), fmt({ map { $_ => 0 } 0 .. $NP - 1 }), 'from the log start');
	stop_member($m);
}

# ================================================================ H: Kafka semantics

# A member may commit while its group prepares a rebalance: Kafka's
# GroupCoordinator accepts OffsetCommit from a member of the current
# generation in PreparingRebalance (only CompletingRebalance answers
# REBALANCE_IN_PROGRESS), which is what lets consumers commit what they
# processed when their partitions are revoked (librdkafka's and Java's
# revoke callbacks, kafka-python's commit before rejoining).
{
	wait_topic('gp', 2);
	send_each('gp', 30, 2);
	my $ra = start_member('confluent', 'rev-a', group => 'gp', topic => 'gp', commit => 'revoke');
	wait_stable('commit on revoke', 'gp', 'gp', 2, $ra);
	ok(wait_until(sub { (grep { $_->{ev} eq 'rec' } events($ra)) == 60 }, 30), 'rev-a consumed all 60 records without committing');
	my $tb = time();
	my $rb = start_member('confluent', 'rev-b', group => 'gp', topic => 'gp', commit => 'revoke');
	wait_stable('commit on revoke', 'gp', 'gp', 2, $ra, $rb);
	my ($c) = grep { $_->{ev} =~ /^commit_(ok|err)$/ && $_->{t} > $tb } events($ra);
	is($c && ($c->{ev} eq 'commit_ok' ? 'ok' : $c->{error}), 'ok',
		'Kafka: a member commits in its revoke callback while the group is PreparingRebalance');
	stop_member($rb);
	stop_member($ra);
	my $hh = check_history('commit on revoke', [ $ra, $rb ], upto => hwm('gp'));
	is($hh->{dups}, 0, 'Kafka: so no record is consumed twice');
}
# kafka-python forgets its member id when a commit fails with
# REBALANCE_IN_PROGRESS (and rejoins as a new member), so there the refusal
# also leaves the old member in the group until its session times out.
SKIP:
{
	skip 'kafka-python is not installed', 1 unless $avail{kafka_python};
	my $ka = start_member('kafka_python', 'rev-kpa', group => 'gpk', topic => 'gp', commit => 'revoke');
	wait_stable('kafka-python commit on revoke', 'gpk', 'gp', 2, $ka);
	ok(wait_until(sub { (grep { $_->{ev} eq 'rec' } events($ka)) == 60 }, 30), 'rev-kpa consumed all 60 records without committing');
	my $lo = log_offset($node);
	my $tb = time();
	my $kb = start_member('kafka_python', 'rev-kpb', group => 'gpk', topic => 'gp', commit => 'revoke');
	wait_stable('kafka-python commit on revoke', 'gpk', 'gp', 2, $ka, $kb);
	my $took = time() - $tb;
	my ($c) = grep { $_->{ev} =~ /^commit_(ok|err)$/ && $_->{t} > $tb } events($ka);
	is($c && ($c->{ev} eq 'commit_ok' ? 'ok' : $c->{error}), 'ok',
		'Kafka: kafka-python commits before it rejoins while the group is PreparingRebalance');
	my ($line) = log_since($node, $lo) =~ /^(.*group "gpk": member \S+ left \(session timed out\).*)$/m;
	ok(!$line, 'Kafka: no member of the group is left behind to time out') or diag($line);
	cmp_ok($took, '<', $SESSION / 1000, sprintf('Kafka: the rebalance took %.1fs, less than a session timeout', $took));
	stop_member($kb);
	stop_member($ka);
}

# After a restart the broker remembers nothing of its groups but their
# offsets; Kafka lists a group known only by committed offsets (loaded from
# __consumer_offsets, or committed with generation -1) as Empty, in
# ListGroups and DescribeGroups, as nagare.consumer_groups does.
SKIP:
{
	skip 'kafkajs is not installed', 3 unless $avail{kafkajs};
	$node->restart;
	wait_broker_ready($node);
	is(sql("SELECT state FROM nagare.consumer_groups WHERE group_id = 'ga'"), 'Empty', 'after a restart nagare.consumer_groups shows ga Empty');
	# until the broker has loaded the groups with offsets, ListGroups says
	# COORDINATOR_LOAD_IN_PROGRESS (kafkajs throws; Kafka's tools ask again)
	my $r;
	ok( wait_until(
			sub {
				$r = run_json('kafkajs', 'list', {}, quiet => 1);
				$r && grep { $_->{group} eq 'ga' } @{ $r->{groups} };
			},
			30),
		'Kafka: ListGroups lists ga, which has committed offsets') or diag($json->encode($r));
	$r = run_json('kafkajs', 'describe', { group => 'ga' });
	is($r && $r->{state}, 'Empty', 'Kafka: DescribeGroups says Empty, not Dead');
}

# a session timeout below nagare.group_min_session_timeout
my $jb = run_json('confluent', 'join_bad', { group => 'bad', topic => 'ga', session_timeout_ms => 500 });
is($jb && $jb->{error},
	'INVALID_SESSION_TIMEOUT', 'a session timeout below nagare.group_min_session_timeout is INVALID_SESSION_TIMEOUT');

# ---- the end
for my $m (values %members)
{
	next if $m->{gone};
	kill('KILL', $m->{pid});
	eval { $m->{h}->finish };
	$m->{gone} = 1;
}
# the members' events and output, for whoever reads a failure
{
	my $keep = "$PostgreSQL::Test::Utils::log_path/110_members";
	mkdir $keep;
	for my $f (glob("$tmp/*.events $tmp/*.err"))
	{
		(my $b = $f) =~ s{.*/}{};
		write_file_bytes("$keep/$b", read_file_bytes($f));
	}
}
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|TRAP:|PANIC/, 'no server process crashed');
note(sprintf('took %.0fs', time() - $t_start));
$node->stop;
done_testing();
