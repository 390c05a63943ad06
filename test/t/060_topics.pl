# Topic DDL is transactional: a rolled-back create leaves nothing on disk,
# delete_topic() removes the partition directories only after commit, a
# rolled-back delete keeps them, and a topic deleted and created again under
# the same name is a new topic (new id, new directories, offsets from 0).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use NagareTest;

my $node = nagare_node('topics');
my $root = $node->data_dir . '/pg_nagare';

sub dirs
{
	opendir(my $dh, $root) or return ();
	my @d = sort grep { !/^\./ } readdir($dh);
	closedir($dh);
	return @d;
}

sub send_some
{
	my ($topic, $partitions, $n) = @_;
	$node->safe_psql('postgres',
		"SELECT count(nagare.send('$topic', 'k', 'v' || i, NULL, i % $partitions)) FROM generate_series(0, $n - 1) i");
}

# a topic that exists throughout, to see that nothing else is touched
$node->safe_psql('postgres', "SELECT nagare.create_topic('stay', 2)");
send_some('stay', 2, 4);
my $stay_id = topic_id($node, 'stay');
is_deeply([ dirs() ], [ "$stay_id-0", "$stay_id-1" ], 'one directory per partition');

#
# Rolled-back create_topic
#
my $s = $node->background_psql('postgres', on_error_stop => 0);
$s->query_safe('\set VERBOSITY verbose');
$s->query_safe('BEGIN');
$s->query_safe("SELECT nagare.create_topic('rb', 3)");
my $rb_id = $s->query_safe("SELECT id FROM nagare.topic WHERE name = 'rb'");
like($rb_id, qr/^\d+$/, 'topic row visible in the creating transaction');
my ($out, $failed) = $s->query("SELECT * FROM nagare.send('rb', 'k', 'v', NULL, 0)");
(my $err = $s->{stderr}) =~ s/\n?^LOCATION:.*$//m;
$err =~ s/^psql:<stdin>:\d+: //;
is( $err,
	qq{ERROR:  55000: topic "rb" was created or changed by the current transaction
DETAIL:  Records appended now would outlive a rollback of that change.
HINT:  Commit the transaction that changes the topic first.},
	'send in the creating transaction is refused');
$s->{stderr} = '';
$s->query_safe('ROLLBACK');
is($node->safe_psql('postgres', "SELECT count(*) FROM nagare.topic WHERE name = 'rb'"), '0',
	'no row after the rollback');
is_deeply([ dirs() ], [ "$stay_id-0", "$stay_id-1" ], 'no directory of the rolled-back topic');
like(sql_error($node, "SELECT * FROM nagare.send('rb', 'k', 'v')"),
	qr/^ERROR:  42704: topic "rb" does not exist/, 'the rolled-back topic does not exist');

# a send to another, committed topic in the same transaction is fine
$s->query_safe('BEGIN');
$s->query_safe("SELECT nagare.create_topic('rb2')");
is($s->query_safe("SELECT \"offset\" FROM nagare.send('stay', 'k', 'from-rb2', NULL, 0)"),
	'2', 'send to a committed topic inside a DDL transaction works');
$s->query_safe('ROLLBACK');
is_deeply([ dirs() ], [ "$stay_id-0", "$stay_id-1" ], 'still no new directory');

#
# delete_topic: directories go after commit
#
$node->safe_psql('postgres', "SELECT nagare.create_topic('del', 3)");
send_some('del', 3, 9);
my $del_id = topic_id($node, 'del');
ok((grep { -d "$root/$del_id-$_" } 0 .. 2) == 3, 'del has 3 directories');
my $logpos = log_offset($node);
$s->query_safe('BEGIN');
$s->query_safe("SELECT nagare.delete_topic('del')");
($out, $failed) = $s->query("SELECT * FROM nagare.send('del', 'k', 'v')");
($err = $s->{stderr}) =~ s/\n?^LOCATION:.*$//m;
like($err, qr/ERROR:  42704: topic "del" does not exist/,
	'send to a topic the transaction deleted: it does not exist any more');
$s->{stderr} = '';
$s->query_safe('ROLLBACK');
$s->query_safe('BEGIN');
$s->query_safe("SELECT nagare.delete_topic('del')");
# uncommitted: other sessions still use the topic and its files are there
is($node->safe_psql('postgres', "SELECT partition, \"offset\" FROM nagare.send('del', 'k', 'concurrent', NULL, 1)"),
	'1|3', 'other sessions still send to a topic whose delete is not committed');
ok((grep { -d "$root/$del_id-$_" } 0 .. 2) == 3, 'directories stay until the delete commits');
$s->query_safe('COMMIT');
ok(wait_until(sub { !grep { -e "$root/$del_id-$_" } 0 .. 2 }),
	'directories of the deleted topic are removed after commit');
# the broker logs each removal just after removing the directory
my @removed;
wait_until(sub {
	@removed = sort(log_since($node, $logpos) =~ /nagare broker: removed partition (\d+) of topic $del_id\b/g);
	return @removed == 3;
});
is_deeply(\@removed, [ 0, 1, 2 ], 'broker logs the removal of each partition');
like(sql_error($node, "SELECT * FROM nagare.consume('del', 0, 0, 10)"),
	qr/^ERROR:  42704: topic "del" does not exist/, 'consume of a deleted topic fails');
# the row stays as a tombstone for a grace period (a minute), then the nagare
# worker removes it
is($node->safe_psql('postgres', "SELECT deleted_at IS NOT NULL FROM nagare.topic WHERE id = $del_id"),
	't', 'the catalog row of the deleted topic is a tombstone');

#
# Rolled-back delete_topic keeps everything
#
$node->safe_psql('postgres', "SELECT nagare.create_topic('keep', 2)");
send_some('keep', 2, 6);
my $keep_id = topic_id($node, 'keep');
my @keep_rows = map { [ consume_rows($node, 'keep', $_, 0) ] } 0, 1;
$s->query_safe('BEGIN');
$s->query_safe("SELECT nagare.delete_topic('keep')");
$s->query_safe('ROLLBACK');
# a committed delete of another topic afterwards: once its directory is gone,
# the broker has acted on every delete before it
$node->safe_psql('postgres', "SELECT nagare.create_topic('marker')");
send_some('marker', 1, 1);
my $marker_id = topic_id($node, 'marker');
$node->safe_psql('postgres', "SELECT nagare.delete_topic('marker')");
ok(wait_until(sub { !-e "$root/$marker_id-0" }), 'marker topic removed');
ok(-d "$root/$keep_id-0" && -d "$root/$keep_id-1", 'directories of the rolled-back delete are kept');
is_deeply([ map { [ consume_rows($node, 'keep', $_, 0) ] } 0, 1 ], \@keep_rows,
	'records of the rolled-back delete are kept');
is($node->safe_psql('postgres', "SELECT partition, \"offset\" FROM nagare.send('keep', 'k', 'more', NULL, 0)"),
	'0|3', 'sends continue');

#
# Delete and create again under the same name
#
$node->safe_psql('postgres', "SELECT nagare.create_topic('again', 1)");
send_some('again', 1, 5);
my $a1 = topic_id($node, 'again');
$node->safe_psql('postgres', "SELECT nagare.delete_topic('again')");
$node->safe_psql('postgres', "SELECT nagare.create_topic('again', 1)");
my $a2 = topic_id($node, 'again');
isnt($a2, $a1, "re-created topic has a new id ($a1 -> $a2)");
is(partition_row($node, 'again')->{high_watermark}, 0, 're-created topic is empty');
is($node->safe_psql('postgres', "SELECT partition, \"offset\" FROM nagare.send('again', 'k', 'new-1')"),
	'0|0', 're-created topic starts at offset 0');
is(partition_row($node, 'again')->{directory}, "pg_nagare/$a2-0", 'in a directory of the new id');
ok(wait_until(sub { !-e "$root/$a1-0" }), 'the old directory is removed');
is(join(',', consume_values($node, 'again', 0, 0)), '0:new-1', 'only the new record is there');

# ... in one transaction
$s->query_safe('BEGIN');
$s->query_safe("SELECT nagare.delete_topic('again')");
$s->query_safe("SELECT nagare.create_topic('again', 2)");
$s->query_safe('COMMIT');
my $a3 = topic_id($node, 'again');
ok($a3 != $a2 && $a3 != $a1, "delete and create in one transaction: new id $a3");
is( $node->safe_psql('postgres',
		"SELECT string_agg(r::text, ',') FROM (SELECT nagare.send('again', 'k', 'newest', NULL, p) r FROM generate_series(0, 1) p) s"),
	'(0,0),(1,0)', 'both partitions start at offset 0');
ok(wait_until(sub { !-e "$root/$a2-0" }), 'the previous directory is removed');
is_deeply([ grep { /^$a3-/ } dirs() ], [ "$a3-0", "$a3-1" ], 'new directories');
is(join(',', consume_values($node, 'again', 0, 0)), '0:newest', 'partition 0 has only the new record');

# survives a restart
$node->restart;
wait_broker_ready($node);
is_deeply([ dirs() ], [ sort("$stay_id-0", "$stay_id-1", "$keep_id-0", "$keep_id-1", "$a3-0", "$a3-1") ],
	'after a restart: exactly the live topics have directories');
is(join(',', consume_values($node, 'again', 1, 0)), '0:newest', 'records of the re-created topic');
is( $node->safe_psql('postgres', 'SELECT string_agg(topic, \',\' ORDER BY topic) FROM nagare.topics'),
	'again,keep,stay', 'nagare.topics');

$s->quit;
$node->stop;
done_testing();
