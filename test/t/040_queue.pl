# The append ring and the commit wait, with the broker stopped (SIGSTOP):
# a full ring fails sends after nagare.queue_wait_timeout with SQLSTATE 53000;
# a commit waiting for durability can be cancelled (pg_cancel_backend,
# statement_timeout) or times out (nagare.request_timeout) and leaves the
# session usable; sends are not transactional, so the records of those failed
# commits are appended anyway once the broker runs again.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use NagareTest;

my $node = nagare_node('queue',
	conf => "nagare.queue_size = 1024\nnagare.queue_wait_timeout = 200\n");

my $broker = broker_pid($node);
my $stopped = 0;
sub stop_broker { kill('STOP', $broker) or die "SIGSTOP $broker: $!"; $stopped = 1 }
sub cont_broker { kill('CONT', $broker) or die "SIGCONT $broker: $!"; $stopped = 0 }
# never leave a stopped broker behind (the node could not shut down)
END { kill('CONT', $broker) if $stopped }

is($node->safe_psql('postgres', 'SELECT queue_size, queue_used FROM nagare.broker'),
	'1048576|0', 'append ring of 1 MB, empty');

#
# Full ring
#
# With a 1 MB ring, a batch may take at most 256 kB.  A topic's own
# max.message.bytes above that is refused; with the server default
# (1048588) the topic is created and a batch too large for the ring is
# refused when it is sent.
like(sql_error($node, "SELECT nagare.create_topic('huge', 1, '{\"max.message.bytes\": 300000}')"),
	qr/max.message.bytes 300000 is larger than the append ring allows/,
	'a topic max.message.bytes above a quarter of the ring is refused');
$node->safe_psql('postgres', "SELECT nagare.create_topic('big')");
like(sql_error($node, "SELECT nagare.send('big', NULL, repeat('x', 300000))"),
	qr/54000: record batch of \d+ bytes does not fit the append ring/,
	'a batch above a quarter of the ring is refused at send');
$node->safe_psql('postgres', 'CREATE TABLE value_of (i int, v bytea)');
# 100000 incompressible bytes per record, different for each i
$node->safe_psql('postgres', q{
	CREATE FUNCTION big_value(i int) RETURNS bytea LANGUAGE sql AS $$
		SELECT decode(string_agg(md5(i || '-' || g), ''), 'hex')
		  FROM generate_series(1, 6250) g
	$$});

stop_broker();
my $s = $node->background_psql('postgres', on_error_stop => 0);
$s->query_safe('\set VERBOSITY verbose');
$s->query_safe('BEGIN');
my @ok;
my ($err, $elapsed);
for my $i (0 .. 30)
{
	$s->{stderr} = '';
	my $t0 = time();
	my ($out, $failed) = $s->query("SELECT \"offset\" FROM nagare.send('big', NULL, big_value($i), NULL, 0)");
	if ($failed)
	{
		$elapsed = time() - $t0;
		$err = $s->{stderr};
		last;
	}
	push @ok, $out;
}
is_deeply(\@ok, [ 0 .. 9 ], 'ten 100 kB records fit the 1 MB ring, with offsets 0..9');
$err =~ s/\n?^LOCATION:.*$//m;
like($err,
	qr/^(psql:<stdin>:\d+: )?ERROR:  53000: nagare append queue is full\nDETAIL:  \d+ bytes are waiting for the broker, which is not keeping up\.\nHINT:  Retry later, or raise nagare.queue_size or nagare.queue_wait_timeout\.\n?$/,
	'the 11th fails: SQLSTATE 53000, append queue is full, with detail and hint');
cmp_ok($elapsed, '>=', 0.2, "the failing send waited nagare.queue_wait_timeout (${elapsed}s)");
my ($used) = $err =~ /DETAIL:  (\d+) bytes/;
my $st = $node->safe_psql('postgres', 'SELECT state, pid, queue_used FROM nagare.broker');
is($st, "ready|$broker|$used", 'nagare.broker shows the full ring, as the error detail said');
cmp_ok($used, '>', 1048576 - 110000, "ring is nearly full ($used bytes)");
$s->{stderr} = '';
$s->query_safe('ROLLBACK');
is(partition_row($node, 'big')->{high_watermark}, 0, 'nothing written while the broker is stopped');

cont_broker();
$node->poll_query_until('postgres', 'SELECT queue_used FROM nagare.broker', '0')
  or die 'ring did not drain';
is(partition_row($node, 'big')->{high_watermark}, 10, 'the 10 appended records are written after SIGCONT');
is( $node->safe_psql('postgres',
		"SELECT string_agg(\"offset\" || ':' || (value = big_value(\"offset\"::int))::text || ':' || length(value), ',') FROM nagare.consume('big', 0, 0, 100)"
	),
	join(',', map { "$_:true:100000" } 0 .. 9),
	'every appended record is consumable, value intact (rolled-back sends stay appended)');
# a later commit makes everything durable
$node->safe_psql('postgres', "SELECT nagare.send('big', NULL, 'small'::bytea)");
is($node->safe_psql('postgres', 'SELECT queue_used, queue_not_durable FROM nagare.broker'),
	'0|0', 'queue_used and queue_not_durable are 0 after a commit');

#
# A commit waiting for the stopped broker, cancelled with pg_cancel_backend
#
$node->safe_psql('postgres', "SELECT nagare.create_topic('cq', 1, '{\"max.message.bytes\": 200000}')");
$node->safe_psql('postgres', 'CREATE TABLE tx (what text)');
$s->{stderr} = '';
my $spid = $s->query_safe('SELECT pg_backend_pid()');
stop_broker();
$s->query_safe('BEGIN');
is($s->query_safe("SELECT \"offset\" FROM nagare.send('cq', 'k', 'cancelled')"), '0',
	'send returns its offset at once, broker stopped or not');
$s->query_safe("INSERT INTO tx VALUES ('cancelled')");
# COMMIT blocks: send it without waiting for the answer
$s->{stdout} = '';
$s->{stderr} = '';
$s->{stdin} .= "COMMIT;\n\\echo commit-returned\n";
$s->{run}->pump_nb();
$node->poll_query_until('postgres',
	"SELECT wait_event_type || ':' || wait_event || ':' || query FROM pg_stat_activity WHERE pid = $spid",
	'Extension:Extension:COMMIT;')
  or die 'COMMIT does not wait';
is($node->safe_psql('postgres', "SELECT pg_cancel_backend($spid)"), 't', 'pg_cancel_backend');
$s->query_until(qr/commit-returned\n/, '');
like($s->{stderr}, qr/ERROR:  57014: canceling statement due to user request/,
	'COMMIT fails with the cancel error');
$s->{stderr} = '';
my ($out, $failed) = $s->query('SELECT 1, pg_backend_pid()');
is("$out|$failed", "1|$spid|0", 'the session is usable after the cancel');
is($s->query_safe("SELECT count(*) FROM tx"), '0', 'the cancelled transaction did not commit');

#
# ... with statement_timeout
#
# PostgreSQL disables the statement timeout in finish_xact_command() before
# CommitTransactionCommand(), so nagare_queue_wait_durable() checks
# statement_timeout itself.  nagare.request_timeout = 3 s bounds the test if
# it did not.
my $t0 = time();
my ($ret, $stdout, $stderr) = $node->psql('postgres', q{
	\set VERBOSITY verbose
	SET nagare.request_timeout = 3000;
	SET statement_timeout = '300ms';
	BEGIN;
	SELECT "offset" FROM nagare.send('cq', 'k', 'statement-timeout');
	INSERT INTO tx VALUES ('statement-timeout');
	COMMIT;
	}, on_error_stop => 0);
is($stdout, '1', 'send returned offset 1');
like($stderr, qr/ERROR:  57014: canceling statement due to statement timeout/,
	'COMMIT fails after statement_timeout');
$elapsed = time() - $t0;
cmp_ok($elapsed, '<', 2.5, "COMMIT ended by statement_timeout, not nagare.request_timeout (${elapsed}s)");

#
# ... and with nagare.request_timeout
#
($ret, $stdout, $stderr) = $node->psql('postgres', q{
	\set VERBOSITY verbose
	SET nagare.request_timeout = 300;
	BEGIN;
	SELECT "offset" FROM nagare.send('cq', 'k', 'request-timeout');
	INSERT INTO tx VALUES ('request-timeout');
	COMMIT;
	SELECT 'still connected';
	}, on_error_stop => 0);
is($stdout, "2\nstill connected", 'send returned offset 2, session goes on after the failed COMMIT');
$stderr =~ s/\n?^LOCATION:.*$//m;
like($stderr,
	qr/ERROR:  08006: timed out waiting for the nagare broker to flush sent records\nDETAIL:  The records were appended and may still become durable\.\nHINT:  Check that the "nagare broker" process is running; see nagare.request_timeout\./,
	'COMMIT fails with the request timeout error');

# the cancelled session also fails a second commit, then works after SIGCONT
is($node->safe_psql('postgres', 'SELECT count(*) FROM tx'), '0',
	'none of the three transactions committed');
is(partition_row($node, 'cq')->{high_watermark}, 0, 'nothing written yet');

cont_broker();
$s->{stderr} = '';
$s->query_safe('BEGIN');
is($s->query_safe("SELECT \"offset\" FROM nagare.send('cq', 'k', 'after-cont')"), '3',
	'send after SIGCONT gets offset 3');
$s->query_safe("INSERT INTO tx VALUES ('after-cont')");
($out, $failed) = $s->query('COMMIT');
is($failed, 0, 'the once-cancelled session commits after SIGCONT');
is($node->safe_psql('postgres', 'SELECT string_agg(what, \',\') FROM tx'), 'after-cont',
	'its transaction committed');
is(join(',', consume_values($node, 'cq', 0, 0)),
	'0:cancelled,1:statement-timeout,2:request-timeout,3:after-cont',
	'records of the failed commits were appended anyway (sends are not transactional)');
is($node->safe_psql('postgres', 'SELECT queue_used, queue_not_durable FROM nagare.broker'),
	'0|0', 'ring empty and durable');
$s->quit;

# nothing went wrong in the broker meanwhile
is(broker_pid($node), $broker, 'same broker throughout');
$node->stop;
unlike(slurp_file($node->logfile), qr/nagare broker.*(ERROR|PANIC)|terminated by signal/,
	'no broker error in the log');

done_testing();
