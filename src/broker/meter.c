/*-------------------------------------------------------------------------
 *
 * meter.c
 *	  Per-client usage of the broker's Kafka clients, and the broker's live
 *	  connections for SQL.
 *
 * Usage.  A connection's client is its principal (once authenticated) and
 * the client id of its requests, with the principal's tenant.  The
 * connection attaches to the client's slot of the shared usage table
 * (../usage/usage.h) at its first authenticated request and keeps the slot
 * number; a later request looks only whether the principal, the client id
 * or the quota configuration (hence the tenant) changed, and otherwise
 * counts with atomic adds, never a lock.  What is counted:
 *
 *	bytes in		each request frame, size prefix included (the Produce
 *					byte rate of Kafka's quotas counts the request too)
 *	bytes out		each response frame, size prefix and spliced records
 *					included (Fetch's byte rate counts the response)
 *	records in		the records of the batches a Produce puts in the log
 *					(RecordsCount of each batch; rejected and duplicate
 *					batches not)
 *	records out		the records of the batches a Fetch response carries
 *	requests		each request, and by API key
 *	errors			each ErrorCode other than NONE in a response (the
 *					generated kafka_response_errors()), and by code
 *	broker time		what the enforcement charges (nagare_meter_time)
 *	throttle time	the throttles imposed (nagare_meter_throttle)
 *	produce SLIs	each partition result of a Produce response, by error
 *					code (an ACL-denied partition once, as
 *					TOPIC_AUTHORIZATION_FAILED), and the Produce's latency
 *					from its request's arrival to its response's being
 *					ready (acks=all: after the fsync) in log-spaced buckets
 *					(nagare_meter_produce_done; acks=0 has neither)
 *
 * Requests before a SASL client has authenticated (ApiVersions,
 * SaslHandshake, SaslAuthenticate) are not counted, as Kafka's quotas do
 * not see them; raw SASL tokens never reach here.  Requests that do not
 * decode close the connection uncounted.
 *
 * Connections.  Each live connection has an entry in the shared
 * connection table (NagareConnShared in ../shmem.h) that only the broker
 * writes, between two increments of the entry's change counter: opened
 * on accept, rewritten when its principal, client id or client software
 * (ApiVersions v3+) changes and, once a second or at a request or
 * response, when its requests in flight or muted-until changed; freed on
 * close.  A new broker starts with an empty table.
 *
 * Dependencies.  The records a Produce puts in the log and a Fetch
 * response carries are also counted per topic on the connection's edges
 * of the dependency table (../deps/deps.h): the edges of the client
 * (principal, client id of its Produce and Fetch requests, tenant) are
 * kept in a cache of the connection's, allocated at its first counted
 * request; a consume edge carries the group the client (principal and
 * client id, on any connection: clients talk to their group coordinator
 * on a connection of its own) last sent a JoinGroup or OffsetCommit for
 * ("" before any: assign-mode consumers).
 * nagare.track_dependencies off skips all of it (nagare.client_usage does
 * not matter to it, nor it to the usage).
 *
 * Broker-wide metrics (NagareMetricsShared in ../shmem.h, for GET
 * /metrics), counted here at the one place every decoded request and every
 * encoded response passes, whatever nagare.client_usage says: requests,
 * error codes and latency per API key (nagare.metrics_api), and the
 * bytes and records of each partition's Fetch responses (the log writer
 * counts what goes in).
 *
 * With nagare.client_usage off, requests and responses are not looked at
 * for the clients (no usage counter moves, the entries' principal, client
 * id and requests in flight stay as they were; the broker-wide metrics
 * above still count); connections still come and go.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/ilist.h"
#include "utils/memutils.h"

#include "broker/fetch.h"
#include "broker/kafka_api.h"
#include "broker/meter.h"
#include "kafka/api_errors.h"
#include "deps/deps.h"
#include "kafka/byteorder.h"
#include "kafka/record.h"
#include "nagare.h"
#include "queue/queue.h"
#include "quota/quota.h"
#include "shmem.h"
#include "usage/usage.h"

#ifndef NS_PER_US
#define NS_PER_US	INT64CONST(1000)	/* instr_time.h has it from PostgreSQL 16 */
#endif

StaticAssertDecl(NAGARE_USAGE_PRINCIPAL_MAX == NAGARE_PRINCIPAL_MAX,
				 "usage keys hold principals whole");
StaticAssertDecl(NAGARE_USAGE_TENANT_MAX == NAGARE_TENANT_NAME_MAX,
				 "usage keys hold tenant names whole");
StaticAssertDecl(NAGARE_CONN_LISTENER_MAX == NAGARE_LISTENER_NAME_MAX,
				 "connection entries hold listener names whole");

struct NagareMeterConn
{
	dlist_node	node;			/* in open_conns */
	NagareConn *conn;
	int			slot;			/* usage slot attached to, or -1 */
	int			entry;			/* connection table entry, or -1 */
	uint64		quota_version;	/* the tenant was resolved at */
	/* the client of the slot (or, before authentication, of the entry) */
	char		principal[NAGARE_USAGE_PRINCIPAL_MAX];
	int32		client_id_len;	/* as received; -1 before the first request */
	uint32		time_ns_carry;	/* broker time not yet counted, < 1 µs */
	char		client_id[NAGARE_USAGE_CLIENT_ID_MAX];	/* its first bytes */
	/* what the entry shows */
	int32		in_flight;
	TimestampTz muted_until;
	NagareDepsCache *deps; /* dependency edges, or NULL before any */
};

static dlist_head open_conns = DLIST_STATIC_INIT(open_conns);
static int *free_entries = NULL;	/* a stack of unused entry indexes */
static int	nfree_entries = 0;
static bool table_full_logged = false;

/* Begin and end rewriting an entry (the broker is its only writer) */
static void
entry_begin(NagareConnEntry *e)
{
	pg_atomic_write_u32(&e->change, pg_atomic_read_u32(&e->change) + 1);
	pg_write_barrier();
}

static void
entry_end(NagareConnEntry *e)
{
	pg_write_barrier();
	pg_atomic_write_u32(&e->change, pg_atomic_read_u32(&e->change) + 1);
}

static NagareConnEntry *
entry_of(NagareMeterConn *m)
{
	return m->entry >= 0 ? &nagare_conn_table->entries[m->entry] : NULL;
}

/*
 * The broker starts: no connection is live, whatever an earlier broker
 * left in the tables.
 */
void
nagare_meter_start(void)
{
	NagareConnShared *t = nagare_conn_table;
	int			i;

	free_entries = MemoryContextAlloc(TopMemoryContext, sizeof(int) * Max(t->max, 1));
	nfree_entries = 0;
	for (i = t->max - 1; i >= 0; i--)
	{
		NagareConnEntry *e = &t->entries[i];

		if (e->used)
		{
			entry_begin(e);
			e->used = false;
			entry_end(e);
		}
		free_entries[nfree_entries++] = i;
	}
	nagare_usage_detach_all_kafka();
}

static void
copy_str(char *dst, size_t size, const char *src, size_t len)
{
	if (len >= size)
		len = size - 1;
	if (len > 0)
		memcpy(dst, src, len);
	dst[len] = '\0';
}

NagareMeterConn *
nagare_meter_open(NagareConn *conn)
{
	NagareMeterConn *m =
		MemoryContextAllocZero(nagare_conn_context(conn), sizeof(NagareMeterConn));
	NagareConnEntry *e;

	m->conn = conn;
	m->slot = -1;
	m->entry = -1;
	m->client_id_len = -1;
	strlcpy(m->principal, nagare_conn_identity(conn)->principal, sizeof(m->principal));
	dlist_push_tail(&open_conns, &m->node);

	if (nfree_entries == 0)
	{
		if (!table_full_logged)
		{
			table_full_logged = true;
			ereport(LOG,
					(errmsg("nagare broker: nagare.connections shows at most %d connections; more are not shown",
							nagare_conn_table->max),
					 errhint(
						 "The table has nagare.max_connections entries as set when the server started; restart the server after raising it.")));
		}
		return m;
	}
	m->entry = free_entries[--nfree_entries];
	e = entry_of(m);
	entry_begin(e);
	e->used = true;
	e->security = (uint8) nagare_conn_security(conn);
	e->id = nagare_conn_id(conn);
	e->since = nagare_conn_since(conn);
	e->in_flight = 0;
	e->muted_until = 0;
	strlcpy(e->listener, nagare_conn_listener(conn), sizeof(e->listener));
	strlcpy(e->peer, nagare_conn_peer(conn), sizeof(e->peer));
	e->tenant[0] = '\0';
	strlcpy(e->principal, m->principal, sizeof(e->principal));
	e->client_id[0] = '\0';
	e->software_name[0] = '\0';
	e->software_version[0] = '\0';
	entry_end(e);
	return m;
}

void
nagare_meter_close(NagareConn *conn)
{
	NagareMeterConn *m = nagare_conn_meter(conn);
	NagareConnEntry *e;

	if (m == NULL || m->conn == NULL)
		return;
	if (m->slot >= 0)
		nagare_usage_detach(m->slot);
	m->slot = -1;
	e = entry_of(m);
	if (e != NULL)
	{
		entry_begin(e);
		e->used = false;
		entry_end(e);
		free_entries[nfree_entries++] = m->entry;
		m->entry = -1;
	}
	dlist_delete(&m->node);
	m->conn = NULL;				/* closed: nothing more is counted */
}

/* m's connection, if it is open and usage is counted */
static inline NagareMeterConn *
counting(NagareConn *conn)
{
	NagareMeterConn *m;

	if (!nagare_client_usage)
		return NULL;
	m = nagare_conn_meter(conn);
	if (m == NULL || m->conn == NULL)
		return NULL;
	return m;
}

/* conn's dependency edges, if they are counted and its client is known */
static inline NagareDepsCache *
deps_of(NagareConn *conn)
{
	NagareMeterConn *m;

	if (!nagare_track_dependencies)
		return NULL;
	m = nagare_conn_meter(conn);
	if (m == NULL || m->conn == NULL || m->deps == NULL || !m->deps->has_client)
		return NULL;
	return m->deps;
}

void
nagare_meter_request_body(NagareConn *conn, const KafkaRequestHeader *hdr,
						  const KafkaRequestBody *body)
{
	int16 api = hdr->RequestApiKey;
	NagareMeterConn *m;
	const NagareIdentity *id;
	NagareDepsCache *c;
	int len;

	if (!nagare_track_dependencies ||
		(api != KAFKA_API_PRODUCE && api != KAFKA_API_FETCH &&
		 api != KAFKA_API_JOIN_GROUP && api != KAFKA_API_OFFSET_COMMIT))
		return;
	m = nagare_conn_meter(conn);
	id = nagare_conn_identity(conn);
	if (m == NULL || m->conn == NULL || !id->authenticated)
		return;
	if (m->deps == NULL)
		m->deps =
			MemoryContextAllocZero(nagare_conn_context(conn), sizeof(NagareDepsCache));
	c = m->deps;
	if (api == KAFKA_API_JOIN_GROUP || api == KAFKA_API_OFFSET_COMMIT)
	{
		KafkaStr group = api == KAFKA_API_JOIN_GROUP ? body->JoinGroup.GroupId
													 : body->OffsetCommit.GroupId;

		nagare_deps_note_group(id->principal, hdr->ClientId.ptr,
							   Max(hdr->ClientId.len, 0), group.ptr, Max(group.len, 0));
		return;
	}
	len = Max(hdr->ClientId.len, 0);
	if (!nagare_deps_same_client(c, id->principal, hdr->ClientId.ptr, len) ||
		c->quota_version != nagare_quota_version())
	{
		char tenant[NAGARE_TENANT_NAME_MAX];

		c->quota_version = nagare_quota_version();
		(void) nagare_quota_tenant_of_principal(id->principal, tenant);
		nagare_deps_set_client(c, NAGARE_USAGE_SOURCE_KAFKA, tenant, id->principal,
							   hdr->ClientId.ptr, len);
	}
}

/* The entry's requests in flight and muted-until, if they changed */
static void
refresh_entry(NagareMeterConn *m, int32 in_flight)
{
	TimestampTz muted = nagare_conn_muted_until(m->conn);
	NagareConnEntry *e = entry_of(m);

	if (e == NULL || (in_flight == m->in_flight && muted == m->muted_until))
		return;
	m->in_flight = in_flight;
	m->muted_until = muted;
	entry_begin(e);
	e->in_flight = in_flight;
	e->muted_until = muted;
	entry_end(e);
}

/*
 * The client of m's requests changed (or is met for the first time):
 * principal (authenticated or not) and client id.  Attach to its usage
 * slot when authenticated, and show it in the entry.
 */
static void
new_client(NagareMeterConn *m, const NagareIdentity *id, KafkaStr client_id)
{
	char tenant[NAGARE_TENANT_NAME_MAX];
	NagareConnEntry *e = entry_of(m);
	int			len = Max(client_id.len, 0);

	m->quota_version = nagare_quota_version();
	(void) nagare_quota_tenant_of_principal(id->principal, tenant);
	strlcpy(m->principal, id->principal, sizeof(m->principal));
	m->client_id_len = len;
	copy_str(m->client_id, sizeof(m->client_id), client_id.ptr, len);

	if (m->slot >= 0)
	{
		NagareUsageKey *k = &nagare_usage->slots[m->slot].key;

		/* the same client after all (the quota configuration changed) */
		if (id->authenticated && strcmp(k->tenant, tenant) == 0 &&
			strcmp(k->principal, m->principal) == 0 &&
			strncmp(k->client_id, m->client_id, NAGARE_USAGE_CLIENT_ID_MAX - 1) == 0 &&
			m->slot != nagare_usage->max)
			return;
		nagare_usage_detach(m->slot);
		m->slot = -1;
	}
	if (id->authenticated)
		m->slot = nagare_usage_attach(NAGARE_USAGE_SOURCE_KAFKA, tenant, m->principal,
									  client_id.ptr ? client_id.ptr : "", len);
	if (e != NULL)
	{
		entry_begin(e);
		strlcpy(e->tenant, tenant, sizeof(e->tenant));
		strlcpy(e->principal, m->principal, sizeof(e->principal));
		copy_str(e->client_id, sizeof(e->client_id), client_id.ptr, len);
		entry_end(e);
	}
}

void
nagare_meter_request(NagareConn *conn, const KafkaRequestHeader *hdr, size_t frame_len)
{
	NagareMeterConn *m = counting(conn);
	const NagareIdentity *id;
	int			len;

	if (nagare_metrics_api)
		nagare_metrics_count_api_request(hdr->RequestApiKey);
	if (m == NULL)
		return;
	id = nagare_conn_identity(conn);
	len = Max(hdr->ClientId.len, 0);
	if (len != m->client_id_len ||
		(len > 0 && memcmp(hdr->ClientId.ptr, m->client_id,
						   Min(len, NAGARE_USAGE_CLIENT_ID_MAX - 1)) != 0) ||
		strcmp(id->principal, m->principal) != 0 || (id->authenticated && m->slot < 0) ||
		m->quota_version != nagare_quota_version())
		new_client(m, id, hdr->ClientId);
	/* this request is in flight too */
	refresh_entry(m, nagare_conn_in_flight(conn) + 1);
	if (m->slot < 0)
		return;
	nagare_usage_add(m->slot, NAGARE_USAGE_BYTES_IN, frame_len + 4);
	nagare_usage_count_request(m->slot, hdr->RequestApiKey);
}

/* what kafka_response_errors() counts into: the client's slot, the API's */
typedef struct ErrorCounting
{
	int slot; /* -1: none */
	int api_key; /* -1: none */
} ErrorCounting;

static void
count_error(void *arg, int16_t code)
{
	ErrorCounting *ec = arg;

	if (ec->slot >= 0)
		nagare_usage_count_error(ec->slot, code);
	if (ec->api_key >= 0)
		nagare_metrics_count_api_error(ec->api_key, code);
}

/* Records of the whole batches in len bytes of a Fetch response's records */
static uint64
batch_records(const uint8 *p, size_t len)
{
	uint64		records = 0;

	while (len >= KAFKA_BATCH_HEADER_SIZE)
	{
		int32		batch_length = (int32) kafka_load_be32(p + KAFKA_BATCH_POS_BATCH_LENGTH);
		size_t		size = (size_t) batch_length + 12;	/* BaseOffset, BatchLength */

		if (batch_length < KAFKA_BATCH_HEADER_SIZE - 12 || size > len)
			break;
		records += (uint32) kafka_load_be32(p + KAFKA_BATCH_POS_RECORDS_COUNT);
		p += size;
		len -= size;
	}
	return records;
}

void
nagare_meter_response(NagareConn *conn, int16 api_key, int16 api_version,
					  const void *body, size_t buffer_len, const NagareSplicePart *parts,
					  const KafkaSplice *splices, int nsplices, instr_time received)
{
	NagareMeterConn *m = counting(conn);
	NagareDepsCache *c;
	ErrorCounting ec = {-1, -1};
	uint64		bytes = buffer_len;
	uint64 records = 0;
	int32 run_topic = -1;
	uint64 run_records = 0;
	uint64 run_bytes = 0;
	int			i;

	if (nagare_metrics_api)
	{
		ec.api_key = api_key;
		if (!INSTR_TIME_IS_ZERO(received))
		{
			instr_time now;

			INSTR_TIME_SET_CURRENT(now);
			INSTR_TIME_SUBTRACT(now, received);
			nagare_metrics_count_api_latency(api_key, INSTR_TIME_GET_MICROSEC(now));
		}
	}
	c = api_key == KAFKA_API_FETCH && nsplices > 0 ? deps_of(conn) : NULL;
	if (c != NULL)
		nagare_deps_client_group(c);

	/*
	 * Each spliced part: its partition's bytes and records out (the broker
	 * writes them alone), and its records on the consume edge of its topic
	 * (the parts of a topic come together: one count per run)
	 */
	for (i = 0; i < nsplices; i++)
	{
		NagarePartition *part = nagare_fetch_splice_partition(splices[i].arg);
		uint64 n = batch_records((const uint8 *) parts[i].data, splices[i].length);

		bytes += splices[i].length;
		records += n;
		if (part != NULL)
		{
			pg_atomic_write_u64(&part->bytes_out,
								pg_atomic_read_u64(&part->bytes_out) + splices[i].length);
			pg_atomic_write_u64(&part->records_out,
								pg_atomic_read_u64(&part->records_out) + n);
		}
		if (c != NULL)
		{
			int32 topic = nagare_fetch_splice_topic(splices[i].arg);

			if (topic != run_topic)
			{
				if (run_topic >= 0)
					nagare_deps_count(c, run_topic, NAGARE_DEPS_CONSUME, run_records,
									  run_bytes);
				run_topic = topic;
				run_records = run_bytes = 0;
			}
			run_records += n;
			run_bytes += splices[i].length;
		}
	}
	if (c != NULL && run_topic >= 0)
		nagare_deps_count(c, run_topic, NAGARE_DEPS_CONSUME, run_records, run_bytes);
	if (m != NULL)
	{
		refresh_entry(m, nagare_conn_in_flight(conn));
		ec.slot = m->slot;
	}
	if (ec.slot >= 0)
	{
		nagare_usage_add(ec.slot, NAGARE_USAGE_BYTES_OUT, bytes);
		if (records > 0)
			nagare_usage_add(ec.slot, NAGARE_USAGE_RECORDS_OUT, records);
	}
	if (body != NULL && (ec.slot >= 0 || ec.api_key >= 0))
		(void) kafka_response_errors(api_key, api_version, body, count_error, &ec);
}

/* A Produce's batches on the produce edges of their topics */
static void
deps_produced(NagareDepsCache *c, const NagareAppend *appends, int n)
{
	int i = 0;

	while (i < n)
	{
		int32 topic = appends[i].part->key.topic_id;
		uint64 records = 0;
		uint64 bytes = 0;

		for (; i < n && appends[i].part->key.topic_id == topic; i++)
		{
			records += appends[i].record_count;
			bytes += appends[i].batch_len;
		}
		nagare_deps_count(c, topic, NAGARE_DEPS_PRODUCE, records, bytes);
	}
}

void
nagare_meter_produced(NagareConn *conn, const NagareAppend *appends, int n)
{
	NagareMeterConn *m = counting(conn);
	NagareDepsCache *c = deps_of(conn);
	uint64		records = 0;
	int			i;

	if (c != NULL && n > 0)
		deps_produced(c, appends, n);
	if (m == NULL || m->slot < 0)
		return;
	for (i = 0; i < n; i++)
		records += appends[i].record_count;
	if (records > 0)
		nagare_usage_add(m->slot, NAGARE_USAGE_RECORDS_IN, records);
}

void
nagare_meter_produce_done(NagareConn *conn, const void *produce_response,
						  TimestampTz received)
{
	NagareMeterConn *m = counting(conn);
	const KafkaProduceResponse *r = produce_response;
	TimestampTz now;
	int t;

	if (m == NULL || m->slot < 0)
		return;
	for (t = 0; t < r->ResponsesCount; t++)
		for (int p = 0; p < r->Responses[t].PartitionResponsesCount; p++)
			nagare_usage_count_produce_result(m->slot,
											  r->Responses[t].PartitionResponses[p].ErrorCode);
	now = GetCurrentTimestamp();
	nagare_usage_count_produce_latency(m->slot,
									   now > received ? (uint64) (now - received) : 0);
}

void
nagare_meter_client_software(NagareConn *conn, const char *name, int name_len,
							 const char *version, int version_len)
{
	NagareMeterConn *m = nagare_conn_meter(conn);
	NagareConnEntry *e;

	if (m == NULL || m->conn == NULL || (e = entry_of(m)) == NULL)
		return;
	entry_begin(e);
	copy_str(e->software_name, sizeof(e->software_name), name, Max(name_len, 0));
	copy_str(e->software_version, sizeof(e->software_version), version,
			 Max(version_len, 0));
	entry_end(e);
}

void
nagare_meter_time(NagareConn *conn, uint64 nsec)
{
	NagareMeterConn *m = counting(conn);
	uint64		ns;

	if (m == NULL || m->slot < 0)
		return;
	/* most requests take less than a microsecond: carry what is left */
	ns = nsec + m->time_ns_carry;
	m->time_ns_carry = (uint32) (ns % NS_PER_US);
	if (ns >= NS_PER_US)
		nagare_usage_add(m->slot, NAGARE_USAGE_TIME_US, ns / NS_PER_US);
}

void
nagare_meter_throttle(NagareConn *conn, int32 ms)
{
	NagareMeterConn *m = counting(conn);

	if (m == NULL)
		return;
	if (m->slot >= 0 && ms > 0)
		nagare_usage_add(m->slot, NAGARE_USAGE_THROTTLE_MS, (uint64) ms);
	refresh_entry(m, nagare_conn_in_flight(conn));
}

/*
 * Once a second: the usage snapshots, and each entry's requests in flight
 * and muted-until as they are now.
 */
void
nagare_meter_timer(TimestampTz now)
{
	dlist_iter	iter;

	nagare_usage_tick(now);
	dlist_foreach (iter, &open_conns)
	{
		NagareMeterConn *m = dlist_container(NagareMeterConn, node, iter.cur);

		refresh_entry(m, nagare_conn_in_flight(m->conn));
	}
}
