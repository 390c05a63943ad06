/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  nagare's settings: every nagare.* GUC but the topic defaults, each
 *	  variable defined here beside its registration.
 *
 * Settings follow Kafka's broker names where one exists, so that a Kafka
 * operator finds log.retention.minutes as nagare.log_retention and so on.
 * The topic defaults (nagare.log_*, nagare.message_max_bytes, ...) are
 * generated with the rest of each topic setting from topicconfig_fields.h
 * and registered by topic/config.c.  _PG_init (nagare.c) calls
 * nagare_define_gucs() first, then reserves the "nagare" prefix.
 *
 * This file is part of the core (with shmem.c): every subsystem reads these
 * variables, so it depends on no subsystem.
 *
 * Copyright (c) 2026, the nagare authors
 *
 * src/guc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "nagare.h"

/*---- GUC variables (declared in nagare.h, registered below) ----*/
char	   *nagare_database = NULL;
int			nagare_queue_size_kb = 64 * 1024;
int			nagare_max_topics = 1024;
int			nagare_max_partitions = 8192;
int			nagare_io_method = NAGARE_IO_AUTO;
int			nagare_request_timeout_ms = 30000;
int			nagare_queue_wait_ms = 1000;
int			nagare_retention_check_interval_ms = 300000;

char	   *nagare_listen_addresses = NULL;
int			nagare_port = 9092;
char	   *nagare_advertised_host = NULL;
int			nagare_advertised_port = 0;
bool		nagare_auto_create_topics = true;
int			nagare_num_partitions = 1;
int			nagare_max_connections = 4096;
int			nagare_max_request_size = 104857600;
int			nagare_connections_max_idle_ms = 600000;
int nagare_request_receive_timeout_ms = 30000;
int nagare_queued_max_request_bytes = 512 * 1024 * 1024;
int			nagare_cold_read_size = 64 * 1024;

/* the HTTP endpoint (web/web.c, web/metrics.c) */
char *nagare_http_listen_addresses = NULL;
int nagare_http_port = 9644;
int nagare_metrics_max_client_series = 1000;
int nagare_metrics_max_group_offsets = 4096;
int nagare_metrics_max_group_series = 1000;
int nagare_metrics_max_partition_series = 10000;
bool nagare_metrics_api = true;
int nagare_metrics_snapshot_interval = 15; /* seconds */
int nagare_console_session_check_ms = 60000;
int nagare_sli_retention = 35 * 24 * 60; /* minutes */
int nagare_sli_flush_interval = 60; /* seconds */

/* the registry's DNS server (registry/dns_server.c) */
char *nagare_dns_listen_addresses = NULL;
int nagare_dns_port = 8600;
char *nagare_dns_domain = NULL;
char *nagare_dns_datacenter = NULL;
int nagare_dns_ttl = 0;
bool nagare_dns_only_passing = false;

char	   *nagare_listeners = NULL;
char	   *nagare_listener_security_protocol_map = NULL;
char	   *nagare_advertised_listeners = NULL;
char	   *nagare_ssl_cert_file = NULL;
char	   *nagare_ssl_key_file = NULL;
char	   *nagare_ssl_ca_file = NULL;
char	   *nagare_ssl_ciphers = NULL;
int			nagare_ssl_client_auth = 0;
char	   *nagare_ssl_principal_mapping_rules = NULL;
bool		nagare_log_connections = false;
int nagare_connections_max_reauth_ms = 0;
int nagare_failed_authentication_delay_ms = 100;

int			nagare_group_initial_rebalance_delay_ms = 3000;
int			nagare_group_min_session_timeout_ms = 6000;
int			nagare_group_max_session_timeout_ms = 1800000;
int nagare_group_consumer_session_timeout_ms = 45000;
int nagare_group_consumer_heartbeat_interval_ms = 5000;
int nagare_max_groups = 10000;
int nagare_empty_group_retention_ms = 600000;

int			nagare_ingest_max_lag_mb = 1024;

char	   *nagare_super_users = NULL;
int			nagare_allow_everyone_if_no_acl_found = NAGARE_ALLOW_EVERYONE_AUTO;
int			nagare_max_acls = 10000;
int			nagare_max_quotas = 4096;
char	   *nagare_audit_client = NULL;
char	   *nagare_audit_operation = NULL;

bool		nagare_client_usage = true;
int			nagare_max_client_usage = 1000;
bool nagare_track_dependencies = true;
int nagare_max_dependency_edges = 4096;
int nagare_dependency_flush_interval_s = 10;
int nagare_dependency_quiet_after_s = 300;
int nagare_max_instances = 10000;

bool nagare_serve_durable_only = false;

/* quota enforcement (broker/throttle.c) */
int			nagare_quota_window_num = 11;
int			nagare_quota_window_size_s = 1;
int			nagare_max_connection_creation_rate = 0;

static const struct config_enum_entry io_method_options[] = {
	{"auto", NAGARE_IO_AUTO, false},
	{"io_uring", NAGARE_IO_URING, false},
	{"plain", NAGARE_IO_PLAIN, false},
	{NULL, 0, false}
};

/* Kafka's ssl.client.auth; the values are broker/tls.h's NagareTlsClientAuth */
static const struct config_enum_entry ssl_client_auth_options[] = {
	{"none", 0, false},
	{"requested", 1, false},
	{"required", 2, false},
	{NULL, 0, false}
};

static const struct config_enum_entry allow_everyone_options[] = {
	{"auto", NAGARE_ALLOW_EVERYONE_AUTO, false},
	{"on", NAGARE_ALLOW_EVERYONE_ON, false},
	{"off", NAGARE_ALLOW_EVERYONE_OFF, false},
	{"true", NAGARE_ALLOW_EVERYONE_ON, true},
	{"false", NAGARE_ALLOW_EVERYONE_OFF, true},
	{"yes", NAGARE_ALLOW_EVERYONE_ON, true},
	{"no", NAGARE_ALLOW_EVERYONE_OFF, true},
	{"1", NAGARE_ALLOW_EVERYONE_ON, true},
	{"0", NAGARE_ALLOW_EVERYONE_OFF, true},
	{NULL, 0, false}
};

void
nagare_define_gucs(void)
{
	DefineCustomStringVariable("nagare.database",
							   "Database in which the nagare extension is created.",
							   "The nagare worker connects to it to read the topic catalog.",
							   &nagare_database, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.queue_size",
							"Size of the shared append ring between producers and the broker.",
							"Producers wait up to nagare.queue_wait_timeout for space, then fail.",
							&nagare_queue_size_kb, 64 * 1024, 1024, 4 * 1024 * 1024,
							PGC_POSTMASTER, GUC_UNIT_KB, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.max_topics",
							"Maximum number of topics.",
							NULL,
							&nagare_max_topics, 1024, 16, 1000000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.max_partitions",
							"Maximum number of partitions, over all topics.",
							NULL,
							&nagare_max_partitions, 8192, 16, 10000000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomEnumVariable("nagare.io_method",
							 "How the broker does its file I/O: io_uring, or plain system calls.",
							 "\"auto\" uses io_uring when the kernel allows it.",
							 &nagare_io_method, NAGARE_IO_AUTO, io_method_options,
							 PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.request_timeout",
							"How long a backend waits for the broker's reply.",
							NULL,
							&nagare_request_timeout_ms, 30000, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.queue_wait_timeout",
							"How long a producer waits for space in a full append ring.",
							"Like Kafka's max.block.ms: when it runs out, the send fails.",
							&nagare_queue_wait_ms, 1000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.retention_check_interval",
							"How often the broker looks for segments to delete.",
							"Kafka's log.retention.check.interval.ms.",
							&nagare_retention_check_interval_ms, 300000, 100, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomStringVariable("nagare.listen_addresses",
							   "Addresses the broker listens on for Kafka clients.",
							   "A comma-separated list of host names or IP addresses, \"*\" for all; empty disables the Kafka listener.",
							   &nagare_listen_addresses, "localhost",
							   PGC_POSTMASTER, GUC_LIST_INPUT, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.port",
							"TCP port of the Kafka listener.",
							NULL,
							&nagare_port, 9092, 1, 65535,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("nagare.advertised_host",
							   "Host name the broker gives Kafka clients in Metadata (Kafka's advertised.listeners).",
							   "Empty: the address each client connected to.",
							   &nagare_advertised_host, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.advertised_port",
							"Port the broker gives Kafka clients in Metadata; 0 means nagare.port.",
							NULL,
							&nagare_advertised_port, 0, 0, 65535,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomBoolVariable("nagare.auto_create_topics",
							 "Create a topic when a Kafka client asks for one that does not exist (Kafka's auto.create.topics.enable).",
							 NULL,
							 &nagare_auto_create_topics, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.num_partitions",
							"Partitions of automatically created topics (Kafka's num.partitions).",
							NULL,
							&nagare_num_partitions, 1, 1, 10000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.group_initial_rebalance_delay",
							"How long a new consumer group waits for more members before its first rebalance (Kafka's group.initial.rebalance.delay.ms).",
							NULL,
							&nagare_group_initial_rebalance_delay_ms, 3000, 0, 300000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.group_min_session_timeout",
							"Shortest session timeout a consumer group member may ask for (Kafka's group.min.session.timeout.ms).",
							NULL,
							&nagare_group_min_session_timeout_ms, 6000, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.group_max_session_timeout",
							"Longest session timeout a consumer group member may ask for (Kafka's group.max.session.timeout.ms).",
							NULL,
							&nagare_group_max_session_timeout_ms, 1800000, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.group_consumer_session_timeout",
							"A KIP-848 consumer group member that sends no heartbeat for this long is removed (Kafka's group.consumer.session.timeout.ms).",
							NULL, &nagare_group_consumer_session_timeout_ms, 45000, 1000,
							INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.group_consumer_heartbeat_interval",
							"How often KIP-848 consumer group members heartbeat (Kafka's group.consumer.heartbeat.interval.ms).",
							NULL, &nagare_group_consumer_heartbeat_interval_ms, 5000, 100,
							INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.max_groups",
							"Most consumer groups the broker keeps; a new group beyond it is refused (COORDINATOR_NOT_AVAILABLE to Kafka clients, SQLSTATE 53400 from SQL).",
							NULL, &nagare_max_groups, 10000, 1, 1000000, PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.empty_group_retention",
							"How long an Empty consumer group with no committed offsets is kept before the broker forgets it (Kafka forgets one at its next offsets.retention.check.interval.ms).",
							NULL, &nagare_empty_group_retention_ms, 600000, 1000, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.ingest_max_lag",
							"WAL held back by nagare's replication slot above which the ingest worker warns.",
							NULL,
							&nagare_ingest_max_lag_mb, 1024, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MB, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.max_connections",
							"Maximum number of Kafka client connections.",
							NULL,
							&nagare_max_connections, 4096, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.max_request_size",
							"Largest Kafka request accepted (Kafka's socket.request.max.bytes).",
							NULL,
							&nagare_max_request_size, 104857600, 1024, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.connections_max_idle",
							"Idle Kafka connections are closed after this long (Kafka's connections.max.idle.ms).",
							"0 keeps idle connections open.",
							&nagare_connections_max_idle_ms, 600000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.request_receive_timeout",
							"A Kafka request must arrive whole within this long of its first byte.",
							"A client sending a request too slowly (slow-loris) has its connection "
							"closed; on TLS listeners the handshake counts too.  0 waits forever.",
							&nagare_request_receive_timeout_ms, 30000, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.queued_max_request_bytes",
							"Most memory for Kafka requests being received, all connections together "
							"(Kafka's queued.max.request.bytes).",
							"Beyond each connection's first 16 kB of receive buffer.  A connection that "
							"needs more while it is used up stops reading until some is free; one request "
							"always proceeds.  0 sets no limit.",
							&nagare_queued_max_request_bytes, 512 * 1024 * 1024, 0,
							INT_MAX, PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.cold_read_size",
							"Size of the direct reads that fetch what is not in the page cache.",
							"A Fetch takes what the page cache holds; the rest is read with direct I/O, "
							"one read of this size in flight for the whole broker, so a consumer "
							"catching up through old segments leaves the disk to the producers' writes. "
							"0 reads everything through the page cache.",
							&nagare_cold_read_size, 64 * 1024, 0, 16 * 1024 * 1024,
							PGC_SIGHUP, GUC_UNIT_BYTE, NULL, NULL, NULL);

	DefineCustomStringVariable("nagare.listeners",
							   "Kafka listeners, as Kafka's listeners: NAME://host:port, comma-separated.",
							   "NAME is a security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL) or a name of "
							   "nagare.listener_security_protocol_map; an empty host or 0.0.0.0 listens on every address. "
							   "Empty: one PLAINTEXT listener on each of nagare.listen_addresses at nagare.port.",
							   &nagare_listeners, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("nagare.listener_security_protocol_map",
							   "Security protocol of each listener name, as Kafka's listener.security.protocol.map: NAME:PROTOCOL, comma-separated.",
							   NULL,
							   &nagare_listener_security_protocol_map,
							   "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("nagare.advertised_listeners",
							   "What Metadata tells the clients of each listener, as Kafka's advertised.listeners: NAME://host:port, comma-separated.",
							   "A listener not named here advertises nagare.advertised_host (else the address the client "
							   "connected to) and its own port.",
							   &nagare_advertised_listeners, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("nagare.ssl_cert_file",
							   "Certificate of the TLS listeners (PEM); empty: PostgreSQL's ssl_cert_file.",
							   "Relative to the data directory.",
							   &nagare_ssl_cert_file, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("nagare.ssl_key_file",
							   "Private key of the TLS listeners (PEM, no passphrase); empty: PostgreSQL's ssl_key_file.",
							   "Relative to the data directory.",
							   &nagare_ssl_key_file, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("nagare.ssl_ca_file",
							   "CA certificates that sign Kafka client certificates (PEM); empty: PostgreSQL's ssl_ca_file.",
							   "Relative to the data directory.",
							   &nagare_ssl_ca_file, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("nagare.ssl_ciphers",
							   "TLS 1.2 ciphers of the TLS listeners (OpenSSL syntax); empty: PostgreSQL's ssl_ciphers.",
							   NULL,
							   &nagare_ssl_ciphers, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomEnumVariable("nagare.ssl_client_auth",
							 "Whether TLS listeners ask Kafka clients for a certificate (Kafka's ssl.client.auth).",
							 "requested and required verify it against nagare.ssl_ca_file; required refuses clients without one.",
							 &nagare_ssl_client_auth, 0, ssl_client_auth_options,
							 PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomStringVariable("nagare.ssl_principal_mapping_rules",
							   "How a client certificate's subject becomes a principal name (Kafka's ssl.principal.mapping.rules).",
							   "RULE:pattern/replacement/[LU] and DEFAULT (the subject in RFC 2253 form), comma-separated, first match wins.",
							   &nagare_ssl_principal_mapping_rules, "DEFAULT",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomBoolVariable("nagare.log_connections",
							 "Log each Kafka connection: its listener and, on TLS, the protocol and the authenticated principal.",
							 NULL,
							 &nagare_log_connections, false,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.connections_max_reauth_ms",
							"How long a SASL login lasts before the client must log in again on its connection (Kafka's connections.max.reauth.ms, KIP-368).",
							"0: as long as the connection, or until the role's VALID UNTIL.  A session "
							"that ends without a new login has its connection closed at its next request.",
							&nagare_connections_max_reauth_ms, 0, 0, INT_MAX, PGC_SIGHUP,
							GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.connection_failed_authentication_delay_ms",
							"How long the answer to a failed SASL authentication is held back (Kafka's connection.failed.authentication.delay.ms).",
							"The connection reads nothing meanwhile, and is closed once the answer is out.  "
							"0 answers at once.",
							&nagare_failed_authentication_delay_ms, 100, 0, 30000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

	DefineCustomStringVariable("nagare.super_users",
							   "Principals that every ACL check allows (Kafka's super.users).",
							   "A list in Kafka's syntax, \"User:alice;User:bob\".  PostgreSQL "
							   "superusers are super users too.",
							   &nagare_super_users, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomEnumVariable("nagare.allow_everyone_if_no_acl_found",
							 "Whether a resource without any ACL is open to every principal (Kafka's allow.everyone.if.no.acl.found).",
							 "\"auto\" is on while no listener authenticates its clients and off once one does.",
							 &nagare_allow_everyone_if_no_acl_found, NAGARE_ALLOW_EVERYONE_AUTO,
							 allow_everyone_options,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.max_acls",
							"Maximum number of ACLs (the broker's shared-memory copy of nagare.acl).",
							NULL,
							&nagare_max_acls, 10000, 16, 1000000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.max_quotas",
							"Maximum number of entries of the shared-memory copy of client quotas.",
							"One entry per quota entity of nagare.quota, per tenant with caps in nagare.tenant_quota_cap and per principal of a tenant.",
							&nagare_max_quotas, 4096, 16, 1000000, PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("nagare.audit_client",
							   "The Kafka client an administrative change is made for (set by the nagare worker).",
							   "JSON {\"principal\", \"host\", \"client_id\"} copied into nagare.audit_log; only superusers may set it.",
							   &nagare_audit_client, "",
							   PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("nagare.audit_operation",
							   "The administrative operation that changes consumer group offsets in this transaction.",
							   "Set (locally) by nagare.reset_group_offsets(), nagare.delete_group() and the nagare worker; offset commits leave it empty and are not audited.",
							   &nagare_audit_operation, "",
							   PGC_USERSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE,
							   NULL, NULL, NULL);

	/* quota enforcement (broker/throttle.c) */
	DefineCustomIntVariable("nagare.quota_window_num",
							"Number of windows a client quota's rate is measured over (Kafka's quota.window.num).",
							NULL, &nagare_quota_window_num, 11, 2, 100, PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.quota_window_size",
							"Length of each window of a client quota's rate (Kafka's quota.window.size.seconds).",
							NULL, &nagare_quota_window_size_s, 1, 1, 3600, PGC_SIGHUP,
							GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.max_connection_creation_rate",
							"Most Kafka connections the broker accepts per second, from all clients (Kafka's max.connection.creation.rate).",
							"Over it, the listeners accept nothing more until the rate is back under it. 0 means no limit.",
							&nagare_max_connection_creation_rate, 0, 0, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomBoolVariable("nagare.client_usage",
							 "Count each client's usage for nagare.client_usage and nagare.connections.",
							 "Off skips every counter (the views then show what was counted before); "
							 "for measuring what the accounting costs.",
							 &nagare_client_usage, true, PGC_SIGHUP, 0, NULL, NULL, NULL);

	DefineCustomBoolVariable("nagare.serve_durable_only",
							 "Serve consumers only records whose fsync completed.",
							 "Fetch, ListOffsets and nagare.consume() then stop at what a crash cannot take "
							 "back; a record waits for the next fsync round (at once, or after the topic's "
							 "flush.ms if it sets one) before consumers see it.",
							 &nagare_serve_durable_only, false, PGC_SIGHUP, 0, NULL, NULL,
							 NULL);

	DefineCustomIntVariable("nagare.max_client_usage",
							"Most clients whose usage is kept (rows of nagare.client_usage).",
							"A client is a source (Kafka or SQL), tenant, principal and client id.  When all are "
							"taken, the least recently active one without a live connection is reused, else "
							"a new client is counted in one overflow row.",
							&nagare_max_client_usage, 1000, 16, 1000000, PGC_POSTMASTER,
							0, NULL, NULL, NULL);

	DefineCustomBoolVariable("nagare.track_dependencies",
							 "Count which clients produce, publish and consume which topics (nagare.dependencies).",
							 "Off skips every count (the graph keeps what was counted before); "
							 "for measuring what the accounting costs.",
							 &nagare_track_dependencies, true, PGC_SIGHUP, 0, NULL, NULL,
							 NULL);

	DefineCustomIntVariable("nagare.max_dependency_edges",
							"Most observed dependency edges (client, topic, kind, group) kept in shared memory.",
							"An edge stays until the server restarts; traffic of new edges once all are taken "
							"is counted in one overflow edge (logged once).",
							&nagare_max_dependency_edges, 4096, 16, 1000000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.dependency_flush_interval",
							"How often the nagare worker writes the observed dependency edges to nagare.observed_dependency.",
							NULL, &nagare_dependency_flush_interval_s, 10, 1, 3600,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.dependency_quiet_after",
							"An observed dependency edge without traffic for this long is quiet (nagare.dependencies).",
							"A view-time setting: a session may SET its own.",
							&nagare_dependency_quiet_after_s, 300, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.max_instances",
							"Most live instances of registry services (rows of nagare.service_instance) kept in shared memory.",
							"Each takes about 2.1 kB.  A registration beyond it is refused.",
							&nagare_max_instances, 10000, 16, 1000000, PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	/* the HTTP endpoint: Prometheus metrics (web/web.c, web/metrics.c) */
	DefineCustomStringVariable("nagare.http_listen_addresses",
							   "Addresses the nagare http process listens on (GET /metrics).",
							   "A comma-separated list of host names or IP addresses, \"*\" for all; empty: no HTTP "
							   "endpoint.  While a Kafka listener authenticates its clients, only loopback "
							   "addresses are served.",
							   &nagare_http_listen_addresses, "localhost", PGC_POSTMASTER,
							   GUC_LIST_INPUT, NULL, NULL, NULL);

	DefineCustomIntVariable("nagare.http_port", "TCP port of the HTTP endpoint.", NULL,
							&nagare_http_port, 9644, 1, 65535, PGC_POSTMASTER, 0, NULL,
							NULL, NULL);

	DefineCustomIntVariable("nagare.console_session_check",
							"How often the console checks that a session's role may still log in.",
							"A role that may not (NOLOGIN, past VALID UNTIL, dropped) loses its console sessions within about this time.",
							&nagare_console_session_check_ms, 60000, 1000, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("nagare.metrics_max_client_series",
							"Most clients given series of their own in /metrics.",
							"Clients past it are summed into one series with client_id=\"__other__\".",
							&nagare_metrics_max_client_series, 1000, 0, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("nagare.metrics_max_group_offsets",
							"Most committed offsets of consumer groups the broker shares for the lag in /metrics.",
							"One per group and partition with a commit; offsets past it have no lag in /metrics.",
							&nagare_metrics_max_group_offsets, 4096, 0, 1000000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("nagare.metrics_max_group_series",
							"Most consumer group and topic pairs given a lag series of their own in /metrics.",
							"Pairs past it are summed into one series with group=\"__other__\" and topic=\"__other__\".",
							&nagare_metrics_max_group_series, 1000, 0, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("nagare.metrics_max_partition_series",
							"Most partitions given traffic series (bytes and records in and out) of their own in /metrics.",
							"Partitions past it, in topic id and partition order, are summed into one series with "
							"topic=\"__other__\" and partition=\"\".",
							&nagare_metrics_max_partition_series, 10000, 0, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("nagare.metrics_api",
							 "Count Kafka requests, errors and latency per API for /metrics.",
							 "Off skips the per-API counters and the clock readings they take; "
							 "for measuring what they cost.",
							 &nagare_metrics_api, true, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("nagare.metrics_snapshot_interval",
							"How often the nagare worker computes the consumer groups' lag in time and the SLOs' status for /metrics.",
							"/metrics runs no SQL: it shows the worker's last snapshot, this old at most "
							"(plus up to 10 s of the worker's loop). 0 turns the snapshot off.",
							&nagare_metrics_snapshot_interval, 15, 0, 3600, PGC_SIGHUP,
							GUC_UNIT_S, NULL, NULL, NULL);

	/* SLIs and SLOs: nagare.service_sli_minute (nagare.flush_sli()) */
	DefineCustomIntVariable("nagare.sli_retention",
							"How long the per-minute SLI rows of services are kept.",
							"Older rows of nagare.service_sli_minute are deleted by the nagare "
							"worker's flush, in batches of 1,000.",
							&nagare_sli_retention, 35 * 24 * 60, 60, 3660 * 24 * 60,
							PGC_SIGHUP, GUC_UNIT_MIN, NULL, NULL, NULL);
	DefineCustomIntVariable("nagare.sli_flush_interval",
							"How often the nagare worker writes the services' SLI rows.",
							"Each flush adds what was counted since the last to the row of its "
							"minute; a server crash loses at most one interval.",
							&nagare_sli_flush_interval, 60, 1, 60, PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	/* the registry's DNS server (registry/dns_server.c) */
	DefineCustomStringVariable("nagare.dns_listen_addresses",
							   "Addresses the nagare dns process listens on (UDP and TCP).",
							   "A comma-separated list of host names or IP addresses, \"*\" for all; empty: no DNS "
							   "server.  While a Kafka listener authenticates its clients, only loopback "
							   "addresses are served.",
							   &nagare_dns_listen_addresses, "localhost", PGC_POSTMASTER,
							   GUC_LIST_INPUT, NULL, NULL, NULL);
	DefineCustomIntVariable("nagare.dns_port", "UDP and TCP port of the DNS server.",
							NULL, &nagare_dns_port, 8600, 1, 65535, PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("nagare.dns_domain",
							   "The domain the DNS server answers for (Consul's \"consul\").",
							   "Names are [<tag>.]<service>.service[.<datacenter>].<domain>.",
							   &nagare_dns_domain, "consul", PGC_SIGHUP, 0, NULL, NULL,
							   NULL);
	DefineCustomStringVariable("nagare.dns_datacenter",
							   "The datacenter label the DNS server accepts in names (Consul's \"dc1\").",
							   "Empty: names with a datacenter label are NXDOMAIN.",
							   &nagare_dns_datacenter, "dc1", PGC_SIGHUP, 0, NULL, NULL,
							   NULL);
	DefineCustomIntVariable("nagare.dns_ttl", "TTL of the DNS server's records.", NULL,
							&nagare_dns_ttl, 0, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, NULL,
							NULL, NULL);
	DefineCustomBoolVariable("nagare.dns_only_passing",
							 "The DNS server leaves out instances whose status is warning.",
							 "Critical instances and those whose TTL lapsed are always left out (Consul's only_passing).",
							 &nagare_dns_only_passing, false, PGC_SIGHUP, 0, NULL, NULL,
							 NULL);
}
