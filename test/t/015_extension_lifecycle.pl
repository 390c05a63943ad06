# The extension's own lifecycle: CREATE EXTENSION only in nagare.database;
# DROP EXTENSION takes everything the extension made outside its catalog
# with it (the replication slot "nagare", the broker's topics and their
# files), and Kafka clients hear of it at once; CREATE EXTENSION afterwards
# starts afresh, and produce and consume work again within seconds.
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use NagareTest;

my ($node, $port) = kafka_node('extlife', conf => "nagare.max_quotas = 16\n");

#
# CREATE EXTENSION elsewhere than nagare.database is refused.
#
$node->safe_psql('postgres', 'CREATE DATABASE other');
my $err = sql_error($node, 'CREATE EXTENSION nagare', db => 'other');
like($err, qr/ERROR:  55000: nagare serves database "postgres", not "other"/,
	'CREATE EXTENSION in another database fails with SQLSTATE 55000');
like($err, qr/HINT:  Create the extension in database "postgres", or set nagare.database = 'other'/,
	'and its hint names nagare.database');
is($node->safe_psql('other', "SELECT count(*) FROM pg_extension WHERE extname = 'nagare'"),
	'0', 'and leaves no extension there');

#
# Records from SQL (send, publish) and Kafka.
#
$node->safe_psql('postgres', "SELECT nagare.create_topic('life.a', 2)");
$node->safe_psql('postgres', "SELECT nagare.send('life.a', 'k', 'sent')");
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_replication_slots WHERE slot_name = 'nagare'")
  or die 'no replication slot';
$node->safe_psql('postgres', "SELECT nagare.publish('life.a', 'k', 'published')");
ok( wait_until(sub {
			$node->safe_psql('postgres',
				"SELECT count(*) FROM nagare.partitions WHERE topic = 'life.a' AND high_watermark > 0"
			) > 0
			  && $node->safe_psql('postgres',
				"SELECT sum(high_watermark) FROM nagare.partitions WHERE topic = 'life.a'") == 2;
		}),
	'send() and publish() reached topic life.a');
my $dir = partition_dir($node, 'life.a', 0);
ok(-d $dir, 'the topic has its directory');
wait_kafka_topic($port, 'life.a');

#
# The server's limits hold for Kafka clients too: nagare.max_partitions
# refuses CreateTopics and CreatePartitions with POLICY_VIOLATION.
#
SKIP:
{
	skip 'kafka-python (Debian python3-kafka) is not installed', 2
	  if system("/usr/bin/python3 -c 'import kafka' 2>/dev/null") != 0;
	my $py = <<'EOP';
import sys
from kafka.admin import KafkaAdminClient, NewTopic, NewPartitions
from kafka.errors import KafkaError
a = KafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=20000)
for what, fn in [("create", lambda: a.create_topics([NewTopic("life.huge", 9000, 1)])),
                 ("grow", lambda: a.create_partitions({"life.a": NewPartitions(9000)}))]:
    try:
        fn()
        print(what, "accepted")
    except KafkaError as e:
        print(what, type(e).__name__)
EOP
	my $script = "$PostgreSQL::Test::Utils::tmp_check/limits.py";
	append_to_file($script, $py);
	my $out = `/usr/bin/python3 $script 127.0.0.1:$port 2>&1`;
	like($out, qr/^create PolicyViolationError/m,
		'CreateTopics over nagare.max_partitions: POLICY_VIOLATION');
	like($out, qr/^grow PolicyViolationError/m,
		'CreatePartitions over nagare.max_partitions: POLICY_VIOLATION');
}

# nagare.max_quotas (16 here): set_quota() refuses a new entity once the
# shared copy is full, rather than leave clients unlimited
$node->safe_psql('postgres',
	"SELECT nagare.set_quota('client-id=app' || i, 'producer_byte_rate', 1000) FROM generate_series(1, 16) i");
$node->poll_query_until('postgres',
	'SELECT loaded AND synced >= changes AND entries = 16 FROM nagare.quota_status')
  or die 'quotas not synced';
like(sql_error($node, "SELECT nagare.set_quota('client-id=app17', 'producer_byte_rate', 1000)"),
	qr/ERROR:  53400: too many client quotas: nagare.max_quotas is 16\n.*HINT:  Remove quotas with nagare.remove_quota\(\), or raise nagare.max_quotas/s,
	'set_quota() refuses a 17th entity with nagare.max_quotas = 16: 53400');
$node->safe_psql('postgres', "SELECT nagare.set_quota('client-id=app16', 'consumer_byte_rate', 1000)");
is($node->safe_psql('postgres', "SELECT count(*) FROM nagare.quota"), '17',
	'but a key of an entity it has is set');

#
# DROP EXTENSION: the slot, the topics and their files go.
#
$node->safe_psql('postgres', 'DROP EXTENSION nagare');
my $t0 = time;
ok( wait_until(sub {
			$node->safe_psql('postgres',
				"SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'nagare'") == 0;
		},
		30),
	'DROP EXTENSION drops the replication slot "nagare"');
ok(wait_until(sub { !-d $dir }, 30), "and the broker removes the topic's files");
note sprintf('cleaned up %.1f s after DROP EXTENSION', time - $t0);
my $meta = `kcat -b 127.0.0.1:$port -L -t life.a -m 5 2>&1`;
like($meta, qr/topic "life\.a" with 0 partitions: Broker: Unknown topic or partition/,
	'Metadata no longer shows the topic: UNKNOWN_TOPIC_OR_PARTITION');
$meta = `kcat -b 127.0.0.1:$port -L -t life.new -m 5 2>&1`;
like($meta, qr/topic "life\.new" with 0 partitions: Broker: Unknown topic or partition/,
	'nor creates one for a Kafka client while the extension is absent');
$node->wait_for_log(qr/extension nagare was dropped: the broker forgets its topics/);
unlike(slurp_file($node->logfile), qr/creating topic "life\.new"/,
	'the broker did not try to create it');

#
# CREATE EXTENSION again: a fresh start, usable within seconds.
#
$node->safe_psql('postgres', 'CREATE EXTENSION nagare');
$t0 = time;
my $out = `echo again | timeout 30 kcat -b 127.0.0.1:$port -P -t life.kafka -X message.timeout.ms=20000 2>&1`;
is($?, 0, 'a Kafka client produces to a new topic after CREATE EXTENSION') or diag $out;
$out = `timeout 30 kcat -b 127.0.0.1:$port -C -t life.kafka -o beginning -c 1 -e 2>&1`;
is($out, "again\n", 'and consumes it');
my $elapsed = time - $t0;
ok($elapsed < 15, sprintf('within seconds (%.1f s)', $elapsed));

$node->safe_psql('postgres', "SELECT nagare.create_topic('life.a', 1)");
is($node->safe_psql('postgres', "SELECT \"offset\" FROM nagare.send('life.a', 'k', 'new')"),
	'0', 'a topic of the old name starts empty');
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_replication_slots WHERE slot_name = 'nagare'")
  or die 'no new replication slot';
$node->safe_psql('postgres', "SELECT nagare.publish('life.a', 'k', 'published again')");
ok( wait_until(sub {
			$node->safe_psql('postgres',
				"SELECT string_agg(convert_from(value, 'UTF8'), ',' ORDER BY \"offset\") FROM nagare.consume('life.a', 0, 0, 10)"
			) eq 'new,published again';
		},
		30),
	'send() and publish() work again');

$node->stop;
done_testing();
