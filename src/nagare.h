/*-------------------------------------------------------------------------
 *
 * nagare.h
 *	  Settings and entry points shared by every part of the extension.
 *
 * nagare is loaded through shared_preload_libraries.  _PG_init (nagare.c)
 * defines the GUCs below and, through topic/config.c, the server defaults of
 * topic settings; it asks for shared memory (shmem.c) and registers the
 * three background workers:
 *
 *	- "nagare broker" (broker/broker.c): not connected to a database; sole
 *	  writer of every partition's segment files; sleeps only in
 *	  WaitEventSetWait() on its latch, postmaster death and the io_uring
 *	  eventfd.
 *	- "nagare worker" (worker/worker.c): connected to nagare.database; tells
 *	  the broker which topics exist and with which configuration, and does
 *	  any work that needs SQL.
 *	- "nagare ingest" (decode/ingest.c): connected to nagare.database;
 *	  appends what committed transactions published (nagare.publish(),
 *	  table topics), decoded from nagare's replication slot.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_H
#define NAGARE_H

/* Where partitions live, relative to the data directory. */
#define NAGARE_DIR				"pg_nagare"

/* Kafka's own limit on topic names (Topic.MAX_NAME_LENGTH). */
#define NAGARE_MAX_TOPIC_NAME	249

/* io methods (nagare.io_method) */
typedef enum NagareIoMethod
{
	NAGARE_IO_AUTO,
	NAGARE_IO_URING,
	NAGARE_IO_PLAIN
} NagareIoMethod;

/* nagare.allow_everyone_if_no_acl_found */
typedef enum NagareAllowEveryone
{
	NAGARE_ALLOW_EVERYONE_AUTO,	/* on until a listener authenticates */
	NAGARE_ALLOW_EVERYONE_ON,
	NAGARE_ALLOW_EVERYONE_OFF
} NagareAllowEveryone;

/*
 * GUC variables, each defined next to its registration in guc.c.  (The
 * server defaults of topic settings, nagare.log_* and
 * nagare.message_max_bytes, are defined and registered with the settings'
 * table by topic/config.c.)
 */
extern char *nagare_database;
extern int	nagare_queue_size_kb;
extern int	nagare_max_topics;
extern int	nagare_max_partitions;
extern int	nagare_io_method;
extern int	nagare_request_timeout_ms;
extern int	nagare_queue_wait_ms;
extern int	nagare_retention_check_interval_ms;

/* Kafka listener */
extern char *nagare_listen_addresses;
extern int	nagare_port;
extern char *nagare_advertised_host;
extern int	nagare_advertised_port;
extern bool nagare_auto_create_topics;
extern int	nagare_num_partitions;
extern int	nagare_max_connections;
extern int	nagare_max_request_size;
extern int	nagare_connections_max_idle_ms;
extern int nagare_request_receive_timeout_ms;
extern int nagare_queued_max_request_bytes;
extern int	nagare_cold_read_size;

/* Listeners and TLS (read by broker/net.c and broker/tls.c) */
extern char *nagare_listeners;
extern char *nagare_listener_security_protocol_map;
extern char *nagare_advertised_listeners;
extern char *nagare_ssl_cert_file;
extern char *nagare_ssl_key_file;
extern char *nagare_ssl_ca_file;
extern char *nagare_ssl_ciphers;
extern int	nagare_ssl_client_auth;	/* a NagareTlsClientAuth */
extern char *nagare_ssl_principal_mapping_rules;
extern bool nagare_log_connections;
extern int nagare_connections_max_reauth_ms;
extern int nagare_failed_authentication_delay_ms;

/* Consumer groups (read by broker/group.c) */
extern int	nagare_group_initial_rebalance_delay_ms;
extern int	nagare_group_min_session_timeout_ms;
extern int	nagare_group_max_session_timeout_ms;
extern int nagare_group_consumer_session_timeout_ms;
extern int nagare_group_consumer_heartbeat_interval_ms;
extern int nagare_max_groups;
extern int nagare_empty_group_retention_ms;

/* The ingest worker (read by decode/ingest.c) */
extern int	nagare_ingest_max_lag_mb;

/* ACLs (acl/acl.c) */
extern char *nagare_super_users;
extern int	nagare_allow_everyone_if_no_acl_found;
extern int	nagare_max_acls;

/* Client quotas (quota/quota.c) */
extern int	nagare_max_quotas;

/* the audit trail (sql/audit.c) */
extern char *nagare_audit_client;
extern char *nagare_audit_operation;

/* quota enforcement (broker/throttle.c) */
extern int	nagare_quota_window_num;
extern int	nagare_quota_window_size_s;
extern int	nagare_max_connection_creation_rate;

/* Registers the settings above (guc.c) */
/* per-client usage (usage/usage.h) */
extern bool nagare_client_usage;
extern int	nagare_max_client_usage;
extern bool nagare_track_dependencies;
extern int nagare_max_dependency_edges;
extern int nagare_dependency_flush_interval_s;
extern int nagare_dependency_quiet_after_s;
extern int nagare_max_instances;

/* consumers read only fsynced records (logstore/writer.c, sql/consume.c) */
extern bool nagare_serve_durable_only;

/* the HTTP endpoint (web/web.c, web/metrics.c) */
extern char *nagare_http_listen_addresses;
extern int nagare_http_port;
extern int nagare_metrics_max_client_series;
extern int nagare_metrics_max_group_offsets;
extern int nagare_metrics_max_group_series;
extern int nagare_metrics_max_partition_series;
extern bool nagare_metrics_api; /* broker/meter.c, broker/net.c */
extern int nagare_metrics_snapshot_interval; /* seconds; worker/metricsnap.c */
/* how often a console session's role is checked again (web/console.c) */
extern int nagare_console_session_check_ms;

/* SLIs: how long nagare.service_sli_minute keeps rows (worker/slisync.c) */
extern int nagare_sli_retention;
extern int nagare_sli_flush_interval; /* seconds */

/* the registry's DNS server (registry/dns_server.c) */
extern char *nagare_dns_listen_addresses;
extern int nagare_dns_port;
extern char *nagare_dns_domain;
extern char *nagare_dns_datacenter;
extern int nagare_dns_ttl;
extern bool nagare_dns_only_passing;

extern void nagare_define_gucs(void);

/* Background worker entry points */
extern PGDLLEXPORT void nagare_broker_main(Datum main_arg);
extern PGDLLEXPORT void nagare_worker_main(Datum main_arg);

#endif							/* NAGARE_H */
