# KIP-848 consumer groups (group.protocol=consumer) with confluent-kafka
# 2.16.1 from PyPI (librdkafka 2.16.0, KIP-848 GA), through
# test/interop/kip848.py in the venv scripts/deps.sh makes.
#
# Over a topic of 6 partitions: one member, then two, then three share it
# (2 partitions each); one leaves (SIGTERM: it revokes, commits and leaves)
# and the other two take its partitions; every record is consumed exactly
# once across all that.  A member killed with kill -9 is expired after
# nagare.group_consumer_session_timeout and its partitions move to the
# survivor.  Then every member stops, more records are written, and two
# new members resume from the committed offsets with exactly the new
# records; after a server restart they join again and go on.  Each member
# logs its assignment changes: until the restart, no partition is owned by
# two members at any moment, and every partition was owned.  ConsumerGroupDescribe (the admin client)
# shows the members, their assignments and targets; ListGroups and
# nagare.consumer_groups give the group's type; DeleteGroups waits for the
# members to leave.  Two members asking for the range assignor get
# contiguous ranges.  test/interop/kip848_raw.py writes the requests by
# hand to step two members through reconciliation one heartbeat at a time
# (a partition moves only once its owner stopped reporting it), with the
# fencing errors, OffsetCommit v9's member epoch, a classic JoinGroup
# refused, and a static member leaving with -2 and coming back.  The Java
# client (kafka-clients 4.4.0, when test/interop/java is built) reads the
# topic with group.protocol=consumer.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use Time::HiRes qw(time usleep);

my $venv = $ENV{NAGARE_CONFLUENT_VENV} // '/opt/nagare-test/confluent-venv';
my $script = "$FindBin::RealBin/../interop/kip848.py";
plan skip_all => "no confluent-kafka venv at $venv (scripts/deps.sh makes it)"
  unless -x "$venv/bin/python";

my $session_ms = 4000;
my ($node, $port) = kafka_node('kip848', conf => <<"EOC");
nagare.group_consumer_session_timeout = $session_ms
nagare.group_consumer_heartbeat_interval = 300
EOC
my $boot = "127.0.0.1:$port";
my $topic = 'k848';
my $group = 'g848';
$node->safe_psql('postgres', "SELECT nagare.create_topic('$topic', 6)");
wait_kafka_topic($port, $topic);

my $dir = PostgreSQL::Test::Utils::tempdir();

sub py
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run [ "$venv/bin/python", $script, @args ], '>', \$out, '2>', \$err,
	  IPC::Run::timeout(60);
	my ($last) = grep { /^\{/ } reverse split /\n/, $out;
	my $r = defined $last ? eval { decode_json($last) } : undef;
	return $r // { ok => 0, error => "no result: $out " . substr($err, 0, 2000) };
}

my $produced = 0;
sub produce
{
	my ($n) = @_;
	my $r = py('produce', $boot, $topic, $produced, $n, 6);
	ok($r->{ok}, "records v$produced.." . ($produced + $n - 1) . " produced")
	  or diag(explain $r);
	$produced += $n;
}

my %members;    # name -> { h => IPC::Run, log => path }
sub start_member
{
	my ($name, $g, @assignor) = @_;
	my $log = "$dir/$name.log";
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ "$venv/bin/python", $script, 'member', $boot, $topic, $g // $group, $log, @assignor ],
		'>', \$out, '2>', \$err);
	$members{$name} = { h => $h, log => $log, out => \$out, err => \$err };
}

sub events
{
	my ($name) = @_;
	open(my $fh, '<', $members{$name}{log}) or return ();
	my @ev;
	while (my $l = <$fh>)
	{
		my $e = eval { decode_json($l) };
		push @ev, $e if $e;
	}
	return @ev;
}

# the partitions a member owns now, by its assign/revoke/lost events
sub owned
{
	my ($name) = @_;
	my %own;
	for my $e (events($name))
	{
		if ($e->{ev} eq 'assign') { $own{$_} = 1 for @{ $e->{parts} } }
		elsif ($e->{ev} eq 'revoke' || $e->{ev} eq 'lost') { delete $own{$_} for @{ $e->{parts} } }
		elsif ($e->{ev} eq 'closed') { %own = () }
	}
	return join(',', sort { $a <=> $b } keys %own);
}

# every record value consumed, by member
sub consumed
{
	my (@names) = @_;
	my %n;
	for my $name (@names)
	{
		$n{ $_->{v} }++ for grep { $_->{ev} eq 'msg' } events($name);
	}
	return \%n;
}

sub all_consumed
{
	my ($first, $last, @names) = @_;
	my $c = consumed(@names);
	return !grep { !$c->{"v$_"} } $first .. $last;
}

sub wait_owned
{
	my ($want, $what) = @_;    # name -> count of partitions
	my $t = time;
	my $ok = wait_until(
		sub {
			!grep { scalar(split /,/, owned($_)) != $want->{$_} } keys %$want;
		},
		60);
	ok($ok, $what)
	  or diag(join('; ', map { "$_: [" . owned($_) . "]" } sort keys %$want));
	note(sprintf('%s: %.2f s', $what, time - $t));
}

sub stop_member
{
	my ($name) = @_;
	$members{$name}{h}->signal('TERM');
	ok(wait_until(sub { grep { $_->{ev} eq 'closed' } events($name) }, 60),
		"$name closes (revokes, commits and leaves)");
	$members{$name}{h}->finish;
}

my $t0 = time;
produce(300);
start_member('a');
wait_owned({ a => 6 }, 'one member owns all 6 partitions');
start_member('b');
wait_owned({ a => 3, b => 3 }, 'two members: 3 partitions each');
start_member('c');
wait_owned({ a => 2, b => 2, c => 2 }, 'three members: 2 partitions each');
is(join(',', sort { $a <=> $b } map { split /,/, owned($_) } qw(a b c)), '0,1,2,3,4,5',
	'the three assignments cover the topic');
produce(300);
ok(wait_until(sub { all_consumed(0, 599, qw(a b c)) }, 60), 'records 0..599 consumed');

# ConsumerGroupDescribe, ListGroups and SQL while three members are stable
my $d = py('describe', $boot, $group);
is($d->{type}, 'CONSUMER', 'describe_consumer_groups: a consumer (KIP-848) group')
  or diag(explain $d);
is($d->{state}, 'STABLE', '... Stable');
is($d->{assignor}, 'uniform', '... the uniform assignor');
is(join(' ', sort map { scalar(@{ $_->{assignment} }) . '/' . scalar(@{ $_->{target} // [] }) }
		@{ $d->{members} }),
	'2/2 2/2 2/2', '... three members, each with 2 partitions assigned and 2 targeted');
my ($listed) = grep { $_->{group} eq $group } @{ $d->{listed} // [] };
is($listed->{type} // '', 'CONSUMER', 'list_consumer_groups: its type is consumer');
is($node->safe_psql('postgres',
		"SELECT group_type || ' ' || state || ' ' || members FROM nagare.consumer_groups WHERE group_id = '$group'"),
	'consumer Stable 3', 'nagare.consumer_groups: a consumer group, Stable, 3 members');
is($node->safe_psql('postgres',
		"SELECT count(*) || ' ' || min(principal) FROM nagare.group_members WHERE group_id = '$group'"),
	'3 User:ANONYMOUS', 'nagare.group_members: the members and their principal');

# a member leaves: the others take its partitions, nothing twice
stop_member('a');
wait_owned({ b => 3, c => 3 }, 'after a left: 3 partitions each for b and c');
produce(300);
ok(wait_until(sub { all_consumed(0, 899, qw(a b c)) }, 60), 'records 0..899 consumed');
{
	my $c = consumed(qw(a b c));
	my @dup = grep { $c->{$_} > 1 } sort keys %$c;
	is(scalar(@dup), 0, 'every record consumed exactly once across a member leaving')
	  or diag("twice: @dup[0 .. ($#dup < 9 ? $#dup : 9)]");
	is(scalar(keys %$c), 900, '... 900 distinct records');
}

# kill -9 of a member: expired after the session timeout, partitions move
my ($cstart) = grep { $_->{ev} eq 'start' } events('c');
my $killed_at = time;
kill 'KILL', $cstart->{pid};
$members{c}{h}->finish;
wait_owned({ b => 6 }, 'after kill -9 of c: b owns all 6 partitions');
my ($take) = grep { $_->{ev} eq 'assign' && $_->{t} > $killed_at } events('b');
ok($take && $take->{t} - $killed_at >= $session_ms / 1000 - 1.0,
	sprintf('... once the session timeout passed (%.1f s after the kill, timeout %.1f s)',
		($take ? $take->{t} : 0) - $killed_at, $session_ms / 1000));
produce(300);
ok(wait_until(sub { all_consumed(0, 1199, qw(a b c)) }, 60), 'records 0..1199 consumed');

# all members stop; two new ones resume from the committed offsets
stop_member('b');
produce(120);
start_member('d');
start_member('e');
wait_owned({ d => 3, e => 3 }, 'two new members: 3 partitions each');
ok(wait_until(sub { all_consumed(1200, 1319, qw(d e)) }, 60), 'the new members consume the new records');
{
	my $c = consumed(qw(d e));
	is(join(',', sort grep { !/^v1[23]\d\d$/ || $c->{$_} != 1 } keys %$c), '',
		'offsets committed and resumed: exactly the 120 new records, once each');
}

# ownership intervals: no partition owned by two members at any moment
{
	my %iv;    # partition -> [ [member, from, to] ]
	for my $name (sort keys %members)
	{
		my %from;
		my $end = $name eq 'c' ? $killed_at : time;
		for my $e (events($name))
		{
			if ($e->{ev} eq 'assign') { $from{$_} = $e->{t} for @{ $e->{parts} } }
			elsif ($e->{ev} eq 'revoke' || $e->{ev} eq 'lost')
			{
				for (@{ $e->{parts} })
				{
					push @{ $iv{$_} }, [ $name, delete $from{$_}, $e->{t} ] if defined $from{$_};
				}
			}
		}
		push @{ $iv{$_} }, [ $name, $from{$_}, $end ] for keys %from;
	}
	my @overlap;
	for my $p (sort keys %iv)
	{
		my @l = sort { $a->[1] <=> $b->[1] } @{ $iv{$p} };
		for my $i (1 .. $#l)
		{
			for my $j (0 .. $i - 1)
			{
				push @overlap, "p$p: $l[$j][0] until $l[$j][2], $l[$i][0] from $l[$i][1]"
				  if $l[$j][0] ne $l[$i][0] && $l[$i][1] < $l[$j][2];
			}
		}
	}
	is(scalar(@overlap), 0, 'no partition owned by two members at any moment')
	  or diag(join("\n", @overlap));
	is(join(',', sort { $a <=> $b } keys %iv), '0,1,2,3,4,5', '... every partition was owned');
}

# a server restart: the broker forgets the members (UNKNOWN_MEMBER_ID at
# their next heartbeat), they join again and go on from their offsets.  It
# forgets who owned what too: a member that rejoins first may get
# partitions another has not yet dropped (docs/consumer-groups.md), so the
# check of disjoint ownership above stops before the restart.
$node->restart;
wait_kafka_topic($port, $topic);
produce(60);
ok(wait_until(sub { all_consumed(1320, 1379, qw(d e)) }, 60),
	'after a server restart the members consume the new records');
wait_owned({ d => 3, e => 3 }, '... with 3 partitions each again');
{
	my $c = consumed(qw(d e));
	is(join(',', sort grep { $c->{$_} != 1 } keys %$c), '',
		'... and nothing consumed twice across the restart');
}

is(py('delete', $boot, $group)->{error}, 'NON_EMPTY_GROUP',
	'DeleteGroups of the consumer group with members: NON_EMPTY_GROUP');
stop_member('d');
stop_member('e');
ok(py('delete', $boot, $group)->{deleted}, '... and deleted once they left');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM nagare.group_offset WHERE group_id = '$group'"), '0',
	'... with its committed offsets');

# the range assignor, as a member asks (group.remote.assignor): contiguous
# ranges by member id
start_member('r1', 'g848r', 'range');
start_member('r2', 'g848r', 'range');
wait_owned({ r1 => 3, r2 => 3 }, 'range assignor: 3 partitions each');
is(join(' ', sort map { owned($_) } qw(r1 r2)), '0,1,2 3,4,5', '... in contiguous ranges');
$d = py('describe', $boot, 'g848r');
is($d->{assignor}, 'range', '... and the group says range');
stop_member('r1');
stop_member('r2');

# by hand: reconciliation one heartbeat at a time, fencing, and the member
# epoch of OffsetCommit v9
{
	my ($out, $err) = ('', '');
	IPC::Run::run [ '/usr/bin/python3', "$FindBin::RealBin/../interop/kip848_raw.py", $boot, $topic,
		'g848raw' ], '>', \$out, '2>', \$err, IPC::Run::timeout(60);
	my $r = eval { decode_json($out) } // { error => "$out $err" };
	ok($r->{ok}, 'kip848_raw.py ran') or diag(explain $r);
	is_deeply($r->{a_join}, { error => 0, epoch => 1, parts => [ 0 .. 5 ], id_len => 22 },
		'a member joins with epoch 0: a member id from the broker, epoch 1, all 6 partitions');
	is($r->{fenced}, 110, 'a heartbeat with another epoch: FENCED_MEMBER_EPOCH');
	is($r->{unknown}, 25, 'an unknown member: UNKNOWN_MEMBER_ID');
	is($r->{bad_assignor}, 112, 'ServerAssignor "bogus": UNSUPPORTED_ASSIGNOR');
	is_deeply([ @$r{qw(commit_current commit_older commit_newer commit_unknown)} ], [ 0, 113, 110, 25 ],
		'OffsetCommit v9: the member epoch passes, an older one is STALE_MEMBER_EPOCH, a newer FENCED_MEMBER_EPOCH, an unknown member UNKNOWN_MEMBER_ID');
	is($r->{classic_join}, 23, 'a classic JoinGroup for the consumer group: INCONSISTENT_GROUP_PROTOCOL');
	is_deeply($r->{b_join}, { error => 0, epoch => 2, parts => [] },
		'a second member joins at epoch 2 with nothing while the first holds everything');
	is_deeply($r->{a_revoke}, { epoch => 1, parts => [ 0, 1, 2 ] },
		'the first keeps epoch 1 and half of the partitions: it must revoke the others');
	is($r->{b_waits}{parts}, undef, '... the second gets nothing meanwhile');
	is_deeply($r->{a_still_owns}, { epoch => 1, parts => [ 0, 1, 2 ] },
		'while the first still reports the revoked partitions, its epoch stays');
	is($r->{b_still_waits}{parts}, undef, '... and the second still waits');
	is_deeply($r->{a_released}, { epoch => 2, parts => [ 0, 1, 2 ] },
		'once the first reports only what it kept, its epoch becomes 2');
	is($r->{commit_stale_after_move}, 113, '... and a commit with its old epoch is STALE_MEMBER_EPOCH');
	is_deeply($r->{b_gets}, { epoch => 2, parts => [ 3, 4, 5 ] },
		'then the second gets the released partitions');
	is_deeply([ @$r{qw(a_leave b_leave)} ], [ -1, -1 ], 'both leave with epoch -1');
	is_deeply($r->{static_join}, { error => 0, epoch => 1, parts => [ 0 .. 5 ] },
		'a static member (instance id i1) joins');
	is($r->{static_dup}, 111, '... another member with its instance id: UNRELEASED_INSTANCE_ID');
	is($r->{static_leave}, -2, '... it leaves with epoch -2');
	is_deeply($r->{static_back}, { error => 0, epoch => 1, parts => [ 0 .. 5 ], new_id => 1 },
		'... and back with i1 it has its epoch and partitions again, under a new member id');
	is($r->{static_old_id}, 25, '... its old member id is UNKNOWN_MEMBER_ID');
}

# the Java client (kafka-clients 4.4.0, test/interop/java) with
# group.protocol=consumer reads the whole topic in a group of its own
SKIP:
{
	my $jdir = "$FindBin::RealBin/../interop/java";
	skip 'the Java client is not built (test/interop/java/build.sh)', 4
	  unless -f "$jdir/target/.built" && system('java -version >/dev/null 2>&1') == 0;
	my $props = "$dir/consumer.properties";
	open(my $fh, '>', $props) or die;
	print $fh "group.protocol=consumer\n";
	close($fh);
	my $from = log_offset($node);
	my ($out, $err) = ('', '');
	IPC::Run::run([ "$jdir/kafka-tool.sh", $boot, $props, 'consume', $topic, $produced, 'g848j' ],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(120));
	my @rows = map { [ split /\t/ ] } split /\n/, $out;
	is(scalar(grep { $_->[0] eq 'record' } @rows), $produced,
		"the Java client with group.protocol=consumer reads all $produced records")
	  or diag("$out\n$err");
	my ($assigned) = map { $_->[1] } grep { $_->[0] eq 'assigned' } @rows;
	is(scalar(split /,/, $assigned // ''), 6, '... all 6 partitions assigned to it');
	is(scalar(grep { $_->[0] eq 'committed' } @rows), 6, '... and commits them (OffsetCommit with its epoch)');
	like(log_since($node, $from), qr/consumer group "g848j": member \S+ joined/,
		'... as a member of a consumer (KIP-848) group');
}

my @errs = map { my $n = $_; map { "$n: $_->{err}" } grep { $_->{ev} eq 'error' } events($n) }
  sort keys %members;
note("client errors: @errs") if @errs;
$node->stop;

# ACLs: READ on the group to be a member, DESCRIBE on the subscribed
# topics, DESCRIBE on the group to describe it
{
	my $sport = PostgreSQL::Test::Cluster::get_free_port();
	my $anode = nagare_node('kip848acl', conf => "nagare.listeners = 'SASL_PLAINTEXT://127.0.0.1:$sport'\n");
	$anode->wait_for_log(qr/listening for Kafka clients on 127\.0\.0\.1 port $sport/);
	$anode->safe_psql('postgres', q{
SELECT nagare.create_topic('k848acl', 2);
CREATE ROLE knone LOGIN PASSWORD 'k848-secret';
CREATE ROLE kr LOGIN PASSWORD 'k848-secret';
CREATE ROLE krd LOGIN PASSWORD 'k848-secret';
SELECT nagare.create_acl('GROUP', 'gacl', 'User:' || u, 'READ') FROM unnest(ARRAY['kr', 'krd']) u;
SELECT nagare.create_acl('TOPIC', 'k848acl', 'User:krd', 'DESCRIBE');
});
	my ($out, $err) = ('', '');
	IPC::Run::run [ '/usr/bin/python3', "$FindBin::RealBin/../interop/kip848_raw.py", 'acl',
		"127.0.0.1:$sport", 'k848acl', 'gacl', 'k848-secret' ], '>', \$out, '2>', \$err,
	  IPC::Run::timeout(60);
	my $r = eval { decode_json($out) } // { error => "$out $err" };
	ok($r->{ok}, 'kip848_raw.py acl ran') or diag(explain $r);
	is_deeply([ @$r{qw(knone_login kr_login krd_login)} ], [ 0, 0, 0 ], 'three roles log in');
	is($r->{knone_join}, 30, 'without READ on the group: GROUP_AUTHORIZATION_FAILED');
	is($r->{kr_join}, 29, 'READ on the group, no DESCRIBE on the topic: TOPIC_AUTHORIZATION_FAILED');
	is($r->{krd_join}, 0, 'READ on the group and DESCRIBE on the topic: a member');
	is($r->{knone_describe}, 30, 'ConsumerGroupDescribe without DESCRIBE on the group: GROUP_AUTHORIZATION_FAILED');
	is($r->{kr_describe}, 69, '... with READ (which implies DESCRIBE), a group that is not there yet: GROUP_ID_NOT_FOUND');
	$anode->stop;
}
note(sprintf('%.1f s', time - $t0));
done_testing();
