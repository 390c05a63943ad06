# Client quotas administered with Kafka's own tools, over a SASL listener:
#
#   - kafka-configs (org.apache.kafka.tools.ConfigCommand of kafka-tools
#     4.4.0, test/interop/kafka-tools, fetched by its build.sh, which
#     scripts/test.sh runs): --alter and --describe of user, client-id,
#     (user, client-id), ip and default quotas, --delete-config, Kafka's
#     validation (INVALID_REQUEST with Kafka's message), as the platform
#     (a principal with the Kafka ACL ALTER_CONFIGS on the CLUSTER);
#   - the rows are nagare.quotas for SQL, nagare.effective_quota() resolves
#     them by Kafka's precedence, and each change is an audit row naming the
#     Kafka principal, host and client.id;
#   - Kafka's Java AdminClient (test/interop/java's KafkaTool) alters and
#     describes nagare's "tenant" entities, with validateOnly;
#   - a tenant's admin, without any cluster ACL, sets quotas of its
#     tenant's principals below the platform's cap and is refused above it
#     (CLUSTER_AUTHORIZATION_FAILED with nagare's message), through
#     kafka-configs as through SQL; it describes only its tenant's quotas;
#     a principal of no tenant is refused.
#
# Skipped when Java or the fetched tools are missing.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use NagareTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $configs = "$FindBin::RealBin/../interop/kafka-tools/kafka-configs.sh";
my $jdir = "$FindBin::RealBin/../interop/java";
my $tool = "$jdir/kafka-tool.sh";

plan skip_all => 'java is not installed'
  unless system('java -version >/dev/null 2>&1') == 0;
plan skip_all =>
  "kafka-configs is not fetched: run test/interop/kafka-tools/build.sh (scripts/test.sh does, as root)"
  unless -f "$FindBin::RealBin/../interop/kafka-tools/target/.built";

my ($node, $port) = kafka_node('quota_admin', protocol => 'SASL_PLAINTEXT',
	conf => "password_encryption = 'scram-sha-256'\n");
my $boot = "127.0.0.1:$port";
my $tmp = PostgreSQL::Test::Utils::tempdir();

sub sql { return $node->safe_psql('postgres', $_[0]) }

sql(q{
CREATE ROLE platform LOGIN PASSWORD 'platform-secret-1';
SELECT nagare.create_acl('CLUSTER', 'kafka-cluster', 'User:platform', 'ALTER_CONFIGS');
CREATE ROLE pay_admin LOGIN PASSWORD 'pay-admin-secret-1';
CREATE ROLE pay_app LOGIN PASSWORD 'pay-app-secret-1';
CREATE ROLE other_app LOGIN PASSWORD 'other-app-secret-1';
CREATE ROLE loner LOGIN PASSWORD 'loner-secret-1';
SELECT nagare.create_tenant('payments');
SELECT nagare.create_tenant('other');
SELECT nagare.add_tenant_principal('payments', 'pay_admin', admin => true);
SELECT nagare.add_tenant_principal('payments', 'pay_app');
SELECT nagare.add_tenant_principal('other', 'other_app');
SELECT nagare.set_tenant_quota_cap('payments', 'producer_byte_rate', 1048576);
});
ok(wait_until(sub {
	sql('SELECT acls = (SELECT count(*) FROM nagare.acl) FROM nagare.acl_status') eq 't'
	  && sql('SELECT synced >= changes FROM nagare.quota_status') eq 't';
}), 'the ACLs and quotas reached the broker');

# the client properties of a role: SASL/PLAIN as that role
sub props
{
	my ($user, $password) = @_;
	my $f = "$tmp/$user.properties";
	open my $fh, '>', $f or die "$f: $!";
	print $fh "security.protocol=SASL_PLAINTEXT\n"
	  . "sasl.mechanism=PLAIN\n"
	  . "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
	  . "username=\"$user\" password=\"$password\";\n"
	  . "client.id=quota-admin-$user\n";
	close $fh;
	return $f;
}
my $platform = props('platform', 'platform-secret-1');
my $pay_admin = props('pay_admin', 'pay-admin-secret-1');
my $loner = props('loner', 'loner-secret-1');

# Run kafka-configs as a role; returns (rc, stdout, stderr)
sub configs
{
	my ($props, @args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run [ $configs, '--bootstrap-server', $boot, '--command-config', $props, @args ],
	  '>', \$out, '2>', \$err, IPC::Run::timeout(120);
	my $rc = $? >> 8;
	note("kafka-configs @args: exit $rc\n$out$err");
	return ($rc, $out, $err);
}

# Run KafkaTool as a role; returns (rc, stdout, stderr)
sub java_tool
{
	my ($props, @args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run [ $tool, $boot, $props, @args ], '>', \$out, '2>', \$err,
	  IPC::Run::timeout(120);
	my $rc = $? >> 8;
	note("kafka-tool @args: exit $rc\n$out$err");
	return ($rc, $out, $err);
}

my ($rc, $out, $err);

#
# The platform: every kind of entity
#
($rc, $out) = configs($platform, '--alter', '--entity-type', 'users', '--entity-name', 'alice',
	'--add-config', 'producer_byte_rate=1048576,consumer_byte_rate=2097152');
is($rc, 0, 'kafka-configs --alter a user quota');
like($out, qr/Completed updating config for user alice/, 'kafka-configs says it completed');
($rc) = configs($platform, '--alter', '--entity-type', 'clients', '--entity-name', 'app1',
	'--add-config', 'request_percentage=50');
is($rc, 0, 'kafka-configs --alter a client-id quota');
($rc) = configs($platform, '--alter', '--entity-type', 'users', '--entity-name', 'alice',
	'--entity-type', 'clients', '--entity-name', 'app1', '--add-config', 'producer_byte_rate=524288');
is($rc, 0, 'kafka-configs --alter a (user, client-id) quota');
($rc) = configs($platform, '--alter', '--entity-type', 'users', '--entity-default',
	'--add-config', 'producer_byte_rate=102400');
is($rc, 0, 'kafka-configs --alter the default user');
($rc) = configs($platform, '--alter', '--entity-type', 'clients', '--entity-default',
	'--add-config', 'consumer_byte_rate=51200');
is($rc, 0, 'kafka-configs --alter the default client-id');
($rc) = configs($platform, '--alter', '--entity-type', 'users', '--entity-default',
	'--entity-type', 'clients', '--entity-default', '--add-config', 'controller_mutation_rate=10');
is($rc, 0, 'kafka-configs --alter the (default user, default client-id)');
($rc) = configs($platform, '--alter', '--entity-type', 'ips', '--entity-name', '127.0.0.1',
	'--add-config', 'connection_creation_rate=100');
is($rc, 0, 'kafka-configs --alter an ip quota');

# Kafka's validation, with Kafka's messages
($rc, $out, $err) = configs($platform, '--alter', '--entity-type', 'users', '--entity-name', 'alice',
	'--add-config', 'producer_byte_rate=1.5');
isnt($rc, 0, 'a fractional byte rate is refused');
like($out . $err, qr/InvalidRequestException: producer_byte_rate cannot be a fractional value/,
	'with Kafka\'s INVALID_REQUEST and message');
($rc, $out, $err) = configs($platform, '--alter', '--entity-type', 'users', '--entity-name', 'alice',
	'--add-config', 'request_percentage=-1');
isnt($rc, 0, 'a value <= 0 is refused');
like($out . $err, qr/Quota request_percentage must be greater than 0/, 'with Kafka\'s message');

# --describe: as Kafka's tools print them
($rc, $out) = configs($platform, '--describe', '--entity-type', 'users', '--entity-name', 'alice',
	'--entity-type', 'clients', '--entity-name', 'app1');
is($rc, 0, 'kafka-configs --describe a (user, client-id)');
like($out, qr/^Quota configs for user-principal 'alice', client-id 'app1' are producer_byte_rate=524288\.0$/m,
	'its quota');
($rc, $out) = configs($platform, '--describe', '--entity-type', 'clients', '--entity-name', 'app1');
is($rc, 0, 'kafka-configs --describe a client-id');
like($out, qr/^Quota configs for client-id 'app1' are request_percentage=50\.0$/m, 'its quota');
($rc, $out) = configs($platform, '--describe', '--entity-type', 'users', '--entity-default');
is($rc, 0, 'kafka-configs --describe the default user');
like($out, qr/^Quota configs for the default user-principal are producer_byte_rate=102400\.0$/m,
	'its quota');
($rc, $out) = configs($platform, '--describe', '--entity-type', 'users', '--entity-default',
	'--entity-type', 'clients', '--entity-default');
like($out, qr/^Quota configs for the default user-principal, the default client-id are controller_mutation_rate=10\.0$/m,
	'kafka-configs --describe the (default user, default client-id)');
($rc, $out) = configs($platform, '--describe', '--entity-type', 'clients');
like($out, qr/^Quota configs for client-id 'app1' are request_percentage=50\.0$/m,
	'kafka-configs --describe all client-ids: app1');
like($out, qr/^Quota configs for the default client-id are consumer_byte_rate=51200\.0$/m,
	'... and the default client-id');
($rc, $out) = configs($platform, '--describe', '--entity-type', 'ips', '--entity-name', '127.0.0.1');
like($out, qr/^Quota configs for ip '127\.0\.0\.1' are connection_creation_rate=100\.0$/m,
	'kafka-configs --describe an ip');
# a user alone: kafka-configs then asks for SCRAM credentials too
# (DescribeUserScramCredentials, which nagare does not serve), after the quotas
($rc, $out, $err) = configs($platform, '--describe', '--entity-type', 'users', '--entity-name', 'alice');
like($out, qr/^Quota configs for user-principal 'alice' are (consumer_byte_rate=2097152\.0, producer_byte_rate=1048576\.0|producer_byte_rate=1048576\.0, consumer_byte_rate=2097152\.0)$/m,
	'kafka-configs --describe a user: its quotas');

# the same rows in SQL, resolved by Kafka's precedence
is(sql("SELECT string_agg(entity || ' ' || key || '=' || value, ', ' ORDER BY entity, key) FROM nagare.quotas"),
	'client-id=<default> consumer_byte_rate=51200, client-id=app1 request_percentage=50, '
	  . 'ip=127.0.0.1 connection_creation_rate=100, '
	  . 'user=<default> producer_byte_rate=102400, '
	  . 'user=<default>,client-id=<default> controller_mutation_rate=10, '
	  . 'user=alice consumer_byte_rate=2097152, user=alice producer_byte_rate=1048576, '
	  . 'user=alice,client-id=app1 producer_byte_rate=524288',
	'what kafka-configs set is rows of nagare.quotas');
ok(wait_until(sub { sql('SELECT synced >= changes FROM nagare.quota_status') eq 't' }),
	'the shared copy shows every change');
is(sql("SELECT string_agg(key || '=' || coalesce(value::text, '-') || ' ' || coalesce(entity, '-'), ', ') FROM nagare.effective_quota('alice', 'app1')"),
	'producer_byte_rate=524288 user=alice,client-id=app1, consumer_byte_rate=2097152 user=alice, '
	  . 'request_percentage=50 client-id=app1, '
	  . 'controller_mutation_rate=10 user=<default>,client-id=<default>',
	'nagare.effective_quota() resolves them by Kafka\'s precedence');
is(sql("SELECT count(*) FROM nagare.audit_log WHERE object_type = 'QUOTA' AND principal = 'User:platform' AND client_host = '127.0.0.1' AND client_id = 'quota-admin-platform'"),
	8, 'each change made with kafka-configs is an audit row naming the Kafka client');

# --delete-config
($rc) = configs($platform, '--alter', '--entity-type', 'users', '--entity-name', 'alice',
	'--delete-config', 'consumer_byte_rate');
is($rc, 0, 'kafka-configs --delete-config');
is(sql("SELECT string_agg(key, ',') FROM nagare.quota WHERE entity = 'user=alice'"),
	'producer_byte_rate', 'the key is gone from nagare.quota');

#
# nagare's tenant entities through Kafka's Java AdminClient
#
SKIP:
{
	skip 'the Java client is not built: run test/interop/java/build.sh', 6
	  unless -f "$jdir/target/.built";
	($rc, $out) = java_tool($platform, 'quotas-alter', '--validate-only', 'tenant=payments',
		'producer_byte_rate=786432');
	is($rc, 0, 'AdminClient validates a tenant quota');
	is(sql("SELECT count(*) FROM nagare.quota WHERE entity = 'tenant=payments'"), 0,
		'validateOnly changes nothing');
	($rc, $out) = java_tool($platform, 'quotas-alter', 'tenant=payments', 'producer_byte_rate=786432');
	is($out, "altered\ttenant=payments\n", 'AdminClient alters a tenant quota');
	($rc, $out) = java_tool($platform, 'quotas-describe', '--strict', 'tenant');
	is($out, "quota\ttenant=payments\tproducer_byte_rate\t786432.0\n",
		'AdminClient describes the tenant entities');
	($rc, $out, $err) = java_tool($platform, 'quotas-alter', 'tenant=nosuch', 'producer_byte_rate=1');
	like($err, qr/InvalidRequestException: tenant "nosuch" does not exist/, 'an unknown tenant is refused');
	($rc, $out, $err) = java_tool($platform, 'quotas-alter', 'ip=127.0.0.1;user=alice',
		'connection_creation_rate=1');
	like($err, qr/InvalidRequestException: Invalid quota entity combination, IP entity should not be combined with User or ClientId/,
		'ip with user is refused as Kafka refuses it');
}

#
# A tenant's admin, below the platform's cap: SQL and Kafka
#
($rc, $out) = configs($pay_admin, '--alter', '--entity-type', 'users', '--entity-name', 'pay_app',
	'--add-config', 'producer_byte_rate=524288');
is($rc, 0, 'the tenant admin sets a quota of its principal below the cap with kafka-configs');
($rc, $out, $err) = configs($pay_admin, '--alter', '--entity-type', 'users', '--entity-name', 'pay_app',
	'--add-config', 'producer_byte_rate=2097152');
isnt($rc, 0, 'above the cap it is refused');
like($out . $err,
	qr/ClusterAuthorizationException: producer_byte_rate = 2097152 is above the cap of tenant "payments" \(1048576\) \(Set at most the cap, or ask the platform to raise it with nagare.set_tenant_quota_cap\(\).\)/,
	'with CLUSTER_AUTHORIZATION_FAILED and the reason and remedy');
($rc, $out, $err) = configs($pay_admin, '--alter', '--entity-type', 'users', '--entity-name', 'other_app',
	'--add-config', 'producer_byte_rate=1024');
like($out . $err, qr/ClusterAuthorizationException: quota entity "user=other_app" is not of tenant "payments"/,
	'another tenant\'s principal is not its to change');
($rc, $out, $err) = configs($pay_admin, '--alter', '--entity-type', 'users', '--entity-name', 'pay_app',
	'--add-config', 'consumer_byte_rate=1024');
like($out . $err, qr/ClusterAuthorizationException: tenant "payments" has no cap on consumer_byte_rate/,
	'a key the platform did not cap is not its to set');
($rc, $out) = configs($pay_admin, '--alter', '--entity-type', 'users', '--entity-name', 'pay_app',
	'--entity-type', 'clients', '--entity-name', 'batch', '--add-config', 'producer_byte_rate=65536');
is($rc, 0, 'the tenant admin sets a (user, client-id) quota of its principal');
($rc, $out) = configs($pay_admin, '--describe', '--entity-type', 'users', '--entity-type', 'clients');
like($out, qr/^Quota configs for user-principal 'pay_app', client-id 'batch' are producer_byte_rate=65536\.0$/m,
	'it describes its tenant\'s quotas');
unlike($out, qr/alice/, 'and no one else\'s');
($rc, $out, $err) = configs($loner, '--describe', '--entity-type', 'clients');
like($out . $err, qr/ClusterAuthorizationException/, 'a principal of no tenant may not describe quotas');
($rc, $out, $err) = configs($loner, '--alter', '--entity-type', 'users', '--entity-name', 'loner',
	'--add-config', 'producer_byte_rate=1');
like($out . $err, qr/ClusterAuthorizationException/, 'nor alter them');
($rc, $out, $err) = java_tool($loner, 'quotas-alter', 'user=loner', 'producer_byte_rate=1')
  if -f "$jdir/target/.built";
like($err, qr/ClusterAuthorizationException: permission denied to change the quotas of "user=loner"/,
	'AlterClientQuotas tells it why');

# the same rules from psql, for the same role
is(sql(q{SET ROLE pay_admin; SELECT nagare.set_quota('user=pay_app', 'producer_byte_rate', 1000000)}), '',
	'below the cap through SQL');
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	q{SET ROLE pay_admin; SELECT nagare.set_quota('user=pay_app', 'producer_byte_rate', 1048577)});
like($stderr, qr/above the cap of tenant "payments"/, 'above the cap through SQL: refused');
is(sql("SELECT value FROM nagare.quota WHERE entity = 'user=pay_app'"), '1000000',
	'the last value below the cap holds');
is(sql("SELECT string_agg(operation || ' ' || object_name || ' ' || role || ' ' || coalesce(principal, '-'), ', ' ORDER BY id) FROM nagare.audit_log WHERE object_type = 'QUOTA' AND role = 'pay_admin'"),
	'set_quota user=pay_app pay_admin User:pay_admin, set_quota user=pay_app,client-id=batch pay_admin User:pay_admin, '
	  . 'set_quota user=pay_app pay_admin -',
	'the admin\'s changes are audited as its role, through Kafka with its principal');
is(sql('SELECT pid FROM nagare.broker') > 0, 1, 'the broker still runs');

$node->stop;
done_testing();
