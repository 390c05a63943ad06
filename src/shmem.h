/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  The map of nagare's shared memory, and its lock order.
 *
 * Everything nagare shares between processes is laid out here, requested in
 * shmem_request_hook and initialised in shmem_startup_hook (shmem.c).  It
 * consists of:
 *
 *	NagareShared	one struct: the broker's identity and status, the append
 *					ring's positions, the request-slot ring (queue/queue.h)
 *					and the channel to the nagare worker (queue/channel.h)
 *	topic table		hash topic_id -> NagareTopic (name, partition count,
 *					configuration overrides), filled by the nagare worker at
 *					start and by backends whose DDL commits
 *	partition table	hash (topic_id, partition) -> NagarePartition: offsets
 *					that every process reads, and the next offset producers
 *					reserve
 *	append ring		nagare.queue_size bytes of encoded RecordBatches on their
 *					way from producers to the broker (queue/queue.c)
 *	request slots	one per PGPROC, for requests that wait for a reply
 *	channel rings	requests from the broker to the nagare worker and its
 *					answers
 *	group snapshot	the broker's consumer groups, for SQL (seqlock), and
 *					notices of groups deleted or created from SQL
 *	ACL table		nagare.max_acls entries: the nagare worker's copy of
 *					nagare.acl, which the broker and backends authorize
 *					against (acl/acl.c), with its version
 *	quota table		nagare.max_quotas entries: the nagare worker's copy of
 *					nagare.quota, nagare.tenant_quota_cap and the
 *					principals of tenants, from which the broker and
 *					backends resolve client quotas (quota/quota.c)
 *	usage table		nagare.max_client_usage slots (and an overflow slot) of
 *					per-client counters, keyed by (source, tenant,
 *					principal, client id), with a hash index (usage/usage.c)
 *	connection table	nagare.max_connections entries (its value at server
 *					start): the broker's live Kafka connections, for
 *					nagare.connections (broker/meter.c)
 *	instance table	nagare.max_instances live instances of registry
 *					services, a hash by id (instances/instances.c)
 *	dependency table	nagare.max_dependency_edges observed edges (client,
 *					topic, kind, group) and their counts, with a hash
 *					index (deps/deps.c)
 *
 * Lock order (never take an earlier lock while holding a later one):
 *
 *	1. registry_lock (LWLock): inserting into / removing from / searching the
 *	   topic and partition hashes, and NagareTopic fields.
 *	2. insert_lock (LWLock): the append ring's head, every partition's
 *	   next_offset and state.  Producers hold it while they reserve offsets
 *	   and copy their batch in, so the ring is always in offset order per
 *	   partition and never holds a half-written entry below head.
 *	3. slot mutexes and the request ring's spinlock: leaf locks held for a
 *	   few instructions.
 *
 * The usage table's lock (NagareUsageShared.lock) is taken with none of
 * these held and takes none of them; so is the instance table's
 * (NagareInstanceShared.lock), under which only an entry's spinlock is taken,
 * and the dependency table's (NagareDepsShared.lock).
 *
 * Nothing holds any of these across I/O, a latch wait or an io_uring call.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_SHMEM_H
#define NAGARE_SHMEM_H

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/hsearch.h"

#include "nagare.h"

/*
 * Per-topic configuration overrides, in Kafka's units: an int64 field per
 * setting of topicconfig_fields.h that has a value (field names as there).  A
 * field holds NAGARE_CONFIG_UNSET when the topic takes the server default (a
 * GUC), so that changing the default on SIGHUP changes every topic that did
 * not override it.
 */
#define NAGARE_CONFIG_UNSET		PG_INT64_MIN

typedef struct NagareTopicConfig
{
#define NAGARE_TOPIC_CONFIG_INT(name, field, ...)	int64 field;
#define NAGARE_TOPIC_CONFIG_ENUM(name, field, ...)	int64 field;
#define NAGARE_TOPIC_CONFIG_FIXED(name, ...)
#include "topicconfig_fields.h"
#undef NAGARE_TOPIC_CONFIG_INT
#undef NAGARE_TOPIC_CONFIG_ENUM
#undef NAGARE_TOPIC_CONFIG_FIXED
} NagareTopicConfig;

/* Topic table entry; key is topic_id.  Protected by registry_lock. */
typedef struct NagareTopic
{
	int32		topic_id;		/* hash key: nagare.topic.id */
	uint64		generation;		/* catalog_generation it was read at */
	int32		partitions;		/* partition count */
	bool		deleted;		/* dropped by a committed delete_topic() */
	uint8		uuid[16];		/* nagare.topic.topic_uuid: Kafka's topic id */
	NagareTopicConfig config;
	char		name[NAGARE_MAX_TOPIC_NAME + 1];
} NagareTopic;

typedef struct NagarePartitionKey
{
	int32		topic_id;
	int32		partition;
} NagarePartitionKey;

typedef enum NagarePartitionState
{
	NAGARE_PART_OPEN,			/* accepting appends */
	NAGARE_PART_DELETED			/* topic dropped; broker removes the files */
} NagarePartitionState;

/*
 * Partition table entry.  Entries are created by the broker when it recovers a
 * partition directory at start, or by the first producer of a new partition
 * (with next_offset 0: a partition without a directory is empty).  Only the
 * broker removes entries, after a delete.  A process that caches a pointer to
 * an entry must check that "incarnation" is still the one it saw: a removed
 * entry's memory is reused for other keys.
 */
typedef struct NagarePartition
{
	NagarePartitionKey key;		/* hash key */
	uint64		incarnation;	/* unique per entry creation; fixed */

	/* protected by insert_lock: */
	NagarePartitionState state;
	int64		next_offset;	/* next offset a producer will get */

	/* written by the broker only, read by anyone: */
	pg_atomic_uint64 high_watermark;	/* offsets below are written, readable */
	pg_atomic_uint64 durable_watermark; /* offsets below are also fsynced */
	pg_atomic_uint64 log_start_offset;	/* first offset still stored */
	pg_atomic_uint64 size_bytes;	/* bytes of .log files */
	pg_atomic_uint32 segments;	/* number of segments */
	/*
	 * Base offset of the active segment once its file's directory entry is
	 * durable, else NAGARE_NO_SYNC_BASE.  Records at or above it that are
	 * written (below the ring's tail) are in that file, so a committing
	 * backend can fdatasync it itself (sql/xact.c).
	 */
	pg_atomic_uint64 sync_base;
	bool		from_disk;		/* found on disk when the broker started */
	/*
	 * Written by the broker only, for GET /metrics: record batches written
	 * to the log (any producer), and sent in Fetch responses.
	 */
	pg_atomic_uint64 bytes_in;
	pg_atomic_uint64 records_in;
	pg_atomic_uint64 bytes_out;
	pg_atomic_uint64 records_out;
} NagarePartition;

#define NAGARE_NO_SYNC_BASE		PG_UINT64_MAX

/* Status of the broker, as the broker publishes it. */
typedef enum NagareBrokerState
{
	NAGARE_BROKER_STOPPED,		/* not running (or not yet started) */
	NAGARE_BROKER_STARTING,		/* recovering partitions */
	NAGARE_BROKER_READY			/* serving */
} NagareBrokerState;

/*
 * Whether the extension exists in nagare.database, as the nagare worker last
 * saw it (worker/worker.c): the broker creates no topic for a Kafka client
 * while it is absent.
 */
typedef enum NagareExtensionState
{
	NAGARE_EXTENSION_UNKNOWN = 0, /* the worker has not looked yet */
	NAGARE_EXTENSION_PRESENT,
	NAGARE_EXTENSION_ABSENT /* never created, or dropped */
} NagareExtensionState;

/*
 * The request ring has room for this many entries per slot: a backend that
 * gave up waiting may queue its slot again before the broker has taken the
 * earlier entry (queue.c).
 */
#define NAGARE_REQ_RING_PER_SLOT 4

/* A request that waits for the broker's reply (see queue.h) */
typedef enum NagareRequestType
{
	NAGARE_REQ_NONE,
	NAGARE_REQ_WAIT_DURABLE,	/* reply when the ring is durable up to a position */
	NAGARE_REQ_WAIT_WRITTEN		/* reply when the ring is written up to a position */
} NagareRequestType;

typedef enum NagareSlotState
{
	NAGARE_SLOT_FREE,			/* owner may fill it */
	NAGARE_SLOT_PENDING,		/* queued for the broker */
	NAGARE_SLOT_DONE			/* reply is in; owner reads it and frees */
} NagareSlotState;

/*
 * One request slot per PGPROC (indexed by pgprocno): a backend has at most one
 * request outstanding.  The owner fills a FREE slot and queues its index; the
 * broker answers by setting DONE and the owner's latch.  "generation" lets the
 * broker tell a request it still remembers from a newer one in the same slot:
 * an owner that gives up waiting (cancel, timeout) bumps it, and a late reply
 * to the old generation is dropped.
 */
typedef struct NagareRequestSlot
{
	slock_t		mutex;			/* protects all fields below */
	NagareSlotState state;
	NagareRequestType type;
	uint32		generation;
	int			procno;			/* owner's pgprocno, for SetLatch */
	uint64		target;			/* WAIT_*: ring position */
	int			result;			/* 0 = ok */
} NagareRequestSlot;

/*
 * The channels to the nagare worker (queue/channel.h): what the processes
 * that have no database connection (the broker, the "nagare http" process)
 * ask the worker to do in SQL, and the worker's answers.  One channel per
 * such process, each two rings of framed messages (kind, id, payload) with
 * one writer and one reader: requests are written by the client process and
 * read by the worker, answers the other way round.  Positions are byte
 * counts that never wrap (the byte at position p is at data[p % size]).
 */
typedef enum NagareChannelClient
{
	NAGARE_CHANNEL_BROKER = 0,
	NAGARE_CHANNEL_HTTP,
	NAGARE_CHANNEL_CLIENTS /* how many */
} NagareChannelClient;

/* ring sizes: the broker's (offset commits and fetches can be large) */
#define NAGARE_CHANNEL_REQUEST_BYTES	(1024 * 1024)
#define NAGARE_CHANNEL_ANSWER_BYTES		(4 * 1024 * 1024)
/* ... and the http process's (registrations, logins: a few KiB each) */
#define NAGARE_CHANNEL_HTTP_BYTES       (256 * 1024)

typedef struct NagareChannelRing
{
	pg_atomic_uint64 head;		/* written by the writer */
	pg_atomic_uint64 tail;		/* written by the reader */
	uint64		size;			/* bytes at data, a multiple of 8 */
	char	   *data;
} NagareChannelRing;

typedef struct NagareChannel
{
	NagareChannelRing requests; /* client -> worker */
	NagareChannelRing answers; /* worker -> client */
	uint64 next_id; /* id of the next request; client only */
	pg_atomic_uint32 client_procno; /* the client's pgprocno + 1; 0: none */
} NagareChannel;

/*
 * What the broker asks of the worker: the kind of a request, which its
 * answer repeats.  One payload convention for every kind: a request's
 * payload is JSON text; an answer's payload is the SQLSTATE (5 characters
 * and a NUL, "00000" on success), then, on failure, the error message
 * (NUL-terminated), or, on success, the kind's result in binary: integers
 * in network byte order, strings as an int16 length and the bytes.  On the
 * worker's side each topic change runs in a transaction of its own; the
 * consumer group requests taken in one pass run in two, the offset commits
 * in one and the rest in the other (worker/offsets.c).
 */
typedef enum NagareChannelKind
{
	/*
	 * Topic changes for Kafka admin clients (broker/admin.c): the same SQL
	 * functions users call.  Payload {"t": topic, "p": partition count,
	 * "c": settings object, "v": validate only (check, then roll back)};
	 * no result.
	 */
	/* every topic change also has "k": the Kafka client as JSON text
	 * ({"principal", "host", "client_id"}), for the audit trail */
	NAGARE_ADMIN_CREATE_TOPIC = 1,	/* t, p, c, v, k */
	NAGARE_ADMIN_DELETE_TOPIC,	/* t */
	NAGARE_ADMIN_CREATE_PARTITIONS, /* t, p (the new count), v */
	NAGARE_ADMIN_ALTER_CONFIG,	/* t, c (null values reset), v */
	NAGARE_ADMIN_REPLACE_CONFIG,	/* t, c (the whole set), v */

	/*
	 * Consumer groups' committed offsets in nagare.group_offset
	 * (broker/group_offsets.c, broker/group_admin.c).
	 */
	/* JSON array of {"g": group, "t": topic, "p": partition, "o": offset,
	 * "e": leader epoch, "m": metadata}; no result */
	NAGARE_GROUP_OFFSET_COMMIT,
	/* {"g": group, "t": [topics] or null}; result: int32 count, then per
	 * row int16 topic length, topic, int32 partition, int64 offset, int32
	 * leader epoch, int32 metadata length (-1 null), metadata */
	NAGARE_GROUP_OFFSET_FETCH,
	/* {"g": group, "t": topic, "p": [partitions], "k": client (as in
	 * topic changes)}: forget those offsets (OffsetDelete); result: int32
	 * rows deleted */
	NAGARE_GROUP_OFFSET_DELETE,
	/* {"g": group, "k": client}: forget its offsets (DeleteGroups);
	 * result: int32 rows deleted */
	NAGARE_GROUP_DELETE,
	/* {}: the groups that have committed offsets; result: int32 count, then
	 * per group int16 length and the name */
	NAGARE_GROUP_LIST,

	/*
	 * SASL authentication of Kafka clients as PostgreSQL roles
	 * (broker/sasl_server.c, worker/auth.c), against pg_authid.  Both answer the
	 * same way for an unknown user, a role that cannot log in (NOLOGIN,
	 * rolvaliduntil past) and a wrong or unusable password, so the broker
	 * cannot tell them apart and neither can the client.
	 */
	/* {"u": user}: a SCRAM-SHA-256 login's first round; result: int32 role
	 * OID (0: doomed, the rest is a mock verifier), int32 iterations, then
	 * as strings (int16 length and bytes) the salt in base64, StoredKey and
	 * ServerKey (32 bytes each), then the role's facts: int8 1 if the role
	 * is a superuser, int64 its rolvaliduntil (a TimestampTz, 0: none) */
	NAGARE_AUTH_SCRAM_LOOKUP,
	/* {"u": user, "p": password}: a PLAIN login, verified as PostgreSQL
	 * verifies a password (SASLprep, PBKDF2); result: int32 role OID, 0
	 * when refused, then the role's facts (as NAGARE_AUTH_SCRAM_LOOKUP) */
	NAGARE_AUTH_PLAIN_VERIFY,
	/* {"u": role}: the role a client certificate maps to may log in (it
	 * exists, rolcanlogin, not past rolvaliduntil); result: int32 role OID,
	 * 0 when refused, then the role's facts (as NAGARE_AUTH_SCRAM_LOOKUP) */
	NAGARE_AUTH_ROLE_CHECK,

	/*
	 * ACL changes for Kafka admin clients (broker/acl_api.c), which the
	 * broker authorized: nagare.create_acl() and nagare.delete_acls(), each
	 * item in a transaction of its own, answered after the shared ACL table
	 * shows the change.  Payload {"acls" or "filters": [{"rt": resource
	 * type, "n": name, "pt": pattern type, "p": principal, "h": host,
	 * "o": operation, "pm": permission}, ...] (names as in nagare.acl,
	 * filters with ANY/MATCH and null), "principal", "host", "client_id":
	 * the Kafka client, for the audit trail, and for a DeleteAcls by a
	 * principal without ALTER on the CLUSTER "as": its role, which the
	 * worker deletes as (row-level security keeps the rest)}.
	 */
	/* result: int32 count, then per ACL the SQLSTATE and message as strings */
	NAGARE_ACL_CREATE,
	/* result: int32 count, then per filter the SQLSTATE and message as
	 * strings, int32 number of ACLs deleted, and per ACL its seven columns
	 * as strings (rt, n, pt, p, h, o, pm) */
	NAGARE_ACL_DELETE,

	/*
	 * Client quota changes for Kafka admin clients (AlterClientQuotas,
	 * broker/quota_api.c): nagare.set_quota() and nagare.remove_quota(),
	 * each entry in a transaction of its own (rolled back when "v": validate
	 * only), answered after the shared quota table shows the change.
	 * Payload {"entries": [{"e": entity as text (nagare.quota's form), "o":
	 * [{"k": key, "v": value, or null to remove}, ...]}, ...], "v": bool,
	 * "k": the Kafka client (as in topic changes), and for a principal
	 * without ALTER_CONFIGS on the CLUSTER "as": its role, which the worker
	 * acts as (a tenant's admin, within the platform's caps)}.
	 */
	/* result: int32 count, then per entry the SQLSTATE and message as strings */
	NAGARE_QUOTA_ALTER,

	/*
	 * The service registry's writes for HTTP clients (the http process's
	 * channel; worker/registrations.c): each in a transaction of its own,
	 * as the role "as" the http process authenticated (absent when no
	 * listener authenticates: the worker's own role), "k" the HTTP client
	 * as JSON text for the audit trail (as in topic changes).  No result.
	 */
	/* {"as", "k", "r": the body of Consul's registration as a string (read
	 * as JSON by the worker, as the role), "peer": the client's address, for
	 * a registration without one}: nagare.register_instance() */
	NAGARE_REGISTRY_REGISTER,
	/* {"as", "k", "id"}: nagare.deregister_instance() */
	NAGARE_REGISTRY_DEREGISTER,
	/* {"as", "id"}: whether the role may beat the instance
	 * (nagare._instance_check()), 42704 or 42501 if not; changes nothing */
	NAGARE_REGISTRY_MAY_BEAT,

	/*
	 * The console's read-only queries (web/console.c, worker/consolequery.c):
	 * {"as": role (absent when no listener authenticates), "q": the query's
	 * name, "a": {parameter: string}}; run read only as the role, rolled
	 * back.  Result: the JSON text {"rows": [...], "truncated": bool}, at
	 * most NAGARE_CONSOLE_RESULT_MAX bytes (more: 54000).
	 */
	NAGARE_CONSOLE_QUERY
} NagareChannelKind;

/*
 * Largest answer of a console query: an answer must fit in half the http
 * channel's ring (NAGARE_CHANNEL_HTTP_BYTES), with room for another
 */
#define NAGARE_CONSOLE_RESULT_MAX (96 * 1024)

/* Largest settings object of a topic change ("c"), in bytes of JSON */
#define NAGARE_ADMIN_CONFIG_MAX	4096

typedef struct NagareShared
{
	/* registry_lock and insert_lock, see the lock order above */
	LWLock	   *registry_lock;
	LWLock	   *insert_lock;

	/* broker identity; written by the broker at start and exit */
	slock_t		broker_mutex;	/* protects broker_procno, broker_pid */
	int			broker_procno;	/* -1 when no broker */
	pid_t		broker_pid;
	pg_atomic_uint32 broker_state;	/* NagareBrokerState */

	/* incremented on any committed topic DDL; backends drop cached topics */
	pg_atomic_uint64 catalog_generation;
	/* incremented by the nagare worker each time it rewrites the topic table */
	pg_atomic_uint64 topic_table_version;
	/* latch of the nagare worker, to tell it the catalog changed */
	int			worker_procno;	/* -1 when not running; under broker_mutex */
	int			ingest_procno;	/* the nagare ingest worker; likewise */
	/* where the ingest worker last confirmed its slot (0: not yet), for /metrics */
	pg_atomic_uint64 ingest_confirmed_lsn;
	/* set by committed deletes, cleared by the broker when it acts on them */
	pg_atomic_uint32 deletes_pending;
	/* source of NagarePartition.incarnation */
	pg_atomic_uint64 next_incarnation;
	/*
	 * Largest topic id with a partition entry or files; new topics get
	 * larger ids, so they never meet the files of a dropped catalog.
	 */
	pg_atomic_uint32 max_topic_id;
	/* NagareExtensionState, written by the nagare worker */
	pg_atomic_uint32 extension_state;

	/*
	 * Append ring (queue.c).  Positions are byte counts since start, never
	 * wrapped; the byte at position p lives at ring[p % ring_size].
	 * head: protected by insert_lock; read by the broker after
	 *       pg_read_barrier (producers write barrier before publishing it).
	 * tail: written by the broker only; entries below it are written to
	 *       their segment and their space may be reused.
	 * durable: written by the broker only; entries below it are fsynced.
	 */
	uint64		ring_size;
	pg_atomic_uint64 head;
	pg_atomic_uint64 tail;
	pg_atomic_uint64 durable;
	pg_atomic_uint64 appended_batches;	/* statistics */
	/* statistics of Fetch reads (broker/fetch.c), written by the broker */
	pg_atomic_uint64 fetch_buffered_bytes;	/* read through the page cache */
	pg_atomic_uint64 fetch_direct_bytes;	/* read with direct I/O (cold) */
	pg_atomic_uint32 cold_reads; /* Fetch's cold reads waiting or in flight */
	/* failed SASL authentications of Kafka clients (broker/sasl_server.c) */
	pg_atomic_uint64 auth_failures;
	/*
	 * Nonzero (ENOSPC, EDQUOT) while a write of the broker to pg_nagare
	 * failed for want of space and is being retried (logstore/writer.c);
	 * new records are refused meanwhile (logstore/segment.c).
	 */
	pg_atomic_uint32 storage_errno;
	/* listening sockets the broker has open for Kafka clients (broker/net.c) */
	pg_atomic_uint32 listen_sockets;

	/* request ring: bounded MPSC of slot indexes (queue.c) */
	slock_t		req_mutex;		/* protects req_head, req_tail, req_ids */
	uint32		req_head;
	uint32		req_tail;
	int			nslots;
	int		   *req_ids;		/* nslots * NAGARE_REQ_RING_PER_SLOT entries */
	NagareRequestSlot *slots;	/* nslots entries, indexed by pgprocno */
	char	   *ring;			/* ring_size bytes */

	/* requests to the nagare worker and its answers (queue/channel.c) */
	NagareChannel channels[NAGARE_CHANNEL_CLIENTS];
} NagareShared;

/*
 * The broker's snapshot of its consumer groups (JSON, broker/group_admin.c)
 * for the SQL views nagare.consumer_groups and nagare.group_members.
 */
#define NAGARE_GROUP_SNAPSHOT_SIZE	(2 * 1024 * 1024)

/*
 * Notices from SQL to the broker (sql/groups.c -> broker/group_admin.c): a
 * transaction that deleted a group (nagare.delete_group()) or created one's
 * offsets (nagare.reset_group_offsets(create_group => true)) leaves a notice when
 * it commits, and the broker forgets or learns the group in its next loop
 * turn.  When the notices are full, the committing backend sets overflow
 * instead, and the broker then reconciles with nagare.group_offset.
 */
#define NAGARE_GROUP_NOTICES        32
#define NAGARE_GROUP_NOTICE_DELETED 1
#define NAGARE_GROUP_NOTICE_CREATED 2

typedef struct NagareGroupNotice
{
	uint64 ticket;
	int op; /* NAGARE_GROUP_NOTICE_* */
	char name[256]; /* MAX_GROUP_ID (255) and a NUL */
} NagareGroupNotice;

typedef struct NagareGroupShared
{
	/* seqlock: odd while the broker rewrites the snapshot */
	pg_atomic_uint32 snapshot_seq;
	uint32		snapshot_len;
	char		snapshot[NAGARE_GROUP_SNAPSHOT_SIZE];

	/* notices: a leaf spinlock, held to copy one notice in or out */
	slock_t notice_mutex; /* protects the four fields below */
	pg_atomic_uint64 notice_ticket; /* the last ticket handed out */
	bool notice_overflow; /* a notice did not fit */
	int nnotices;
	NagareGroupNotice notices[NAGARE_GROUP_NOTICES];
	/* written by the broker: notices up to this ticket are in the snapshot */
	pg_atomic_uint64 notice_done;
	/* written by the broker with the snapshot: how many groups it keeps */
	pg_atomic_uint32 ngroups;
} NagareGroupShared;

extern NagareGroupShared *nagare_groups;

/*
 * The consumer groups' committed offsets the broker knows (those it stored
 * or read for OffsetCommit and OffsetFetch since it started), rewritten
 * whole by the broker under a seqlock (broker/group_admin.c) and read by
 * /metrics for the lag per group and topic (web/metrics.c).  At most
 * nagare.metrics_max_group_offsets rows; dropped counts those that did not
 * fit at the last rewrite.
 */
typedef struct NagareGroupOffsetRow
{
	char group[256]; /* MAX_GROUP_ID (255) and a NUL */
	int32 topic_id;
	int32 partition;
	int64 committed;
} NagareGroupOffsetRow;

typedef struct NagareGroupOffsetShared
{
	pg_atomic_uint32 seq; /* odd while the broker rewrites the rows */
	int max; /* fixed at start */
	int n;
	uint32 dropped;
	NagareGroupOffsetRow rows[FLEXIBLE_ARRAY_MEMBER];
} NagareGroupOffsetShared;

extern NagareGroupOffsetShared *nagare_group_offsets;

/*
 * The ACL table: a copy of nagare.acl, which the broker (no database
 * connection) and backends read through acl/acl.c.  The nagare worker
 * rewrites it whole after a change commits (worker/aclsync.c) and then
 * increments version, which lets readers drop decisions they cached.  The
 * codes are Kafka's (KafkaResourceType, KafkaPatternType, KafkaAclOperation,
 * KafkaAclPermission in kafka/protocol.h).  Names longer than
 * NAGARE_ACL_NAME_MAX are refused by nagare.create_acl().
 */
#define NAGARE_ACL_NAME_MAX			255
#define NAGARE_ACL_PRINCIPAL_MAX	128
#define NAGARE_ACL_HOST_MAX			64

typedef struct NagareAclEntry
{
	uint8		resource_type;
	uint8		pattern_type;	/* LITERAL or PREFIXED */
	uint8		operation;
	uint8		permission;		/* ALLOW or DENY */
	char		name[NAGARE_ACL_NAME_MAX + 1];
	char		principal[NAGARE_ACL_PRINCIPAL_MAX];
	char		host[NAGARE_ACL_HOST_MAX];
} NagareAclEntry;

typedef struct NagareAclShared
{
	LWLock	   *lock;			/* protects loaded, overflow, count, entries */
	pg_atomic_uint64 version;	/* incremented after each rewrite */
	/* incremented by each commit that changed nagare.acl (sql/xact.c) */
	pg_atomic_uint64 changes;
	/*
	 * Listeners that authenticate their clients (SASL_*, or SSL with client
	 * certificates), set by the broker when it opens its listeners; while
	 * it is 0, nagare.allow_everyone_if_no_acl_found = auto means on.
	 */
	pg_atomic_uint32 authenticating_listeners;
	/* authorizations denied, since server start (any process) */
	pg_atomic_uint64 denied;
	bool		loaded;			/* the worker has copied nagare.acl once */
	bool		overflow;		/* nagare.acl has more than max rows */
	int			max;			/* nagare.max_acls */
	int			count;
	NagareAclEntry entries[FLEXIBLE_ARRAY_MEMBER];
} NagareAclShared;

extern NagareAclShared *nagare_acls;

/*
 * The quota table: a copy of nagare.quota (one entry per entity, with the
 * values of its keys), nagare.tenant_quota_cap (one entry per tenant) and
 * nagare.tenant_principal (one entry per role: its tenant), which the broker
 * and backends resolve client quotas from (quota/quota.c).  The nagare
 * worker rewrites it whole after a change of those tables commits
 * (worker/quotasync.c), sorted for bisection (nagare_quota_entry_cmp()),
 * and then increments version.  A table with more rows than the entries
 * of nagare.max_quotas is copied in part and marked overflowed.
 */
#define NAGARE_QUOTA_KEYS		5	/* NAGARE_QUOTA_NKEYS of quota/quota.h */
#define NAGARE_QUOTA_NAME_MAX	256 /* an entity's names, NUL included */

typedef enum NagareQuotaEntityKind
{
	NAGARE_QUOTA_ENTITY_USER_CLIENT,	/* user=...,client-id=... */
	NAGARE_QUOTA_ENTITY_USER,	/* user=... */
	NAGARE_QUOTA_ENTITY_CLIENT, /* client-id=... */
	NAGARE_QUOTA_ENTITY_IP,		/* ip=... */
	NAGARE_QUOTA_ENTITY_TENANT, /* tenant=... (nagare's) */
	NAGARE_QUOTA_ENTITY_TENANT_CAP, /* the platform's caps of a tenant */
	NAGARE_QUOTA_ENTITY_PRINCIPAL	/* a role (name) of a tenant (client_id) */
} NagareQuotaEntityKind;

typedef struct NagareQuotaEntry
{
	uint8		kind;			/* NagareQuotaEntityKind */
	bool		name_default;	/* name is <default> (user or ip) */
	bool		client_default; /* client_id is <default> */
	double		value[NAGARE_QUOTA_KEYS];	/* 0: the key is not set */
	char		name[NAGARE_QUOTA_NAME_MAX];	/* the user, ip or tenant */
	char		client_id[NAGARE_QUOTA_NAME_MAX];	/* PRINCIPAL: its tenant */
} NagareQuotaEntry;

typedef struct NagareQuotaShared
{
	LWLock	   *lock;			/* protects loaded, overflow, count, entries */
	pg_atomic_uint64 version;	/* incremented after each rewrite */
	/* incremented by each commit that changed the tables (sql/quotas.c) */
	pg_atomic_uint64 changes;
	/* the value of changes the last rewrite started from */
	pg_atomic_uint64 synced;
	bool		loaded;			/* the worker has copied the tables once */
	bool		overflow;		/* more rows than max entries */
	int			max;			/* nagare.max_quotas */
	int			count;
	NagareQuotaEntry entries[FLEXIBLE_ARRAY_MEMBER];
} NagareQuotaShared;

extern NagareQuotaShared *nagare_quotas;

/*
 * Per-client usage (usage/usage.h): one slot per client, a client being a
 * source (Kafka or SQL), tenant, principal and client id.  Slots are
 * found through a hash index under lock, taken only when a process first
 * meets a client (the broker per connection and client id, a backend per
 * role and application_name); each attachment keeps the slot until it
 * detaches, and the counters are pg_atomic adds without any lock.  The
 * last slot (index max) is the overflow row, for new clients when every
 * slot is taken by a client with live connections.
 *
 * The sizes match those of the broker and quota headers (checked where
 * both are included, broker/meter.c); longer client ids are cut.
 */
#define NAGARE_USAGE_TENANT_MAX		65	/* quota.h's NAGARE_TENANT_NAME_MAX */
#define NAGARE_USAGE_PRINCIPAL_MAX	(5 + 256)	/* net.h's NAGARE_PRINCIPAL_MAX */
#define NAGARE_USAGE_CLIENT_ID_MAX	256 /* NUL included */
#define NAGARE_USAGE_NAPIS			96	/* requests of API keys 0..94; 95: others */
#define NAGARE_USAGE_NERRORS		160 /* error code + 1 for -1..157; 159: others */
/* the ring of snapshots behind the last-minute figures */
#define NAGARE_USAGE_SNAPSHOTS		16
#define NAGARE_USAGE_SNAPSHOT_SECS	5
/* Latency buckets (Produce, publish()): usage.h's nagare_usage_latency_bounds_us, +Inf */
#define NAGARE_USAGE_NLATENCY       18

typedef enum NagareUsageSource
{
	NAGARE_USAGE_SOURCE_KAFKA,
	NAGARE_USAGE_SOURCE_SQL,
	NAGARE_USAGE_SOURCE_OVERFLOW
} NagareUsageSource;

/* the scalar counters of a slot, each with a last-minute figure */
typedef enum NagareUsageCounter
{
	NAGARE_USAGE_BYTES_IN,		/* request frames, or records sent from SQL */
	NAGARE_USAGE_BYTES_OUT,		/* response frames, or records consumed in SQL */
	NAGARE_USAGE_RECORDS_IN,	/* records produced */
	NAGARE_USAGE_RECORDS_OUT,	/* records fetched */
	NAGARE_USAGE_REQUESTS,
	NAGARE_USAGE_TIME_US,		/* broker time (µs) */
	NAGARE_USAGE_ERRORS,		/* error codes other than NONE in responses */
	NAGARE_USAGE_THROTTLE_MS,	/* throttle time imposed */
	NAGARE_USAGE_CONNECTIONS,	/* connections (sessions) attached, ever */
	NAGARE_USAGE_NCOUNTERS
} NagareUsageCounter;

typedef struct NagareUsageKey
{
	uint8		source;			/* NagareUsageSource */
	char		tenant[NAGARE_USAGE_TENANT_MAX];	/* "" for none */
	char		principal[NAGARE_USAGE_PRINCIPAL_MAX];	/* "User:alice" */
	char		client_id[NAGARE_USAGE_CLIENT_ID_MAX];	/* SQL: application_name */
} NagareUsageKey;

typedef struct NagareUsageSlot
{
	/*
	 * Incremented before and after the key is written (odd meanwhile), so
	 * a reader that sees it odd or changed retries: a row never mixes two
	 * clients.  Written under the lock.
	 */
	pg_atomic_uint32 change;
	/* protected by the lock: */
	bool		used;
	int32		next;			/* next slot in the hash chain, -1 for none */
	uint32		hash;
	NagareUsageKey key;
	TimestampTz since;			/* when the slot took this key */
	/* lock-free: */
	pg_atomic_uint32 attached;	/* live connections/sessions; no reuse while > 0 */
	pg_atomic_uint64 last_active;	/* TimestampTz, by the snapshots */
	pg_atomic_uint64 counters[NAGARE_USAGE_NCOUNTERS];
	pg_atomic_uint64 requests[NAGARE_USAGE_NAPIS];	/* by API key */
	pg_atomic_uint64 errors[NAGARE_USAGE_NERRORS];	/* by error code + 1 */
	/* the produce SLIs: partition results by error code + 1, and latency */
	pg_atomic_uint64 produce_results[NAGARE_USAGE_NERRORS];
	pg_atomic_uint64 produce_latency[NAGARE_USAGE_NLATENCY]; /* by bucket */
	pg_atomic_uint64 produce_latency_us; /* their sum */
	/*
	 * publish() and table topics: commit-to-consumable latency of the
	 * transactions this SQL client committed (the ingest worker counts)
	 */
	pg_atomic_uint64 publish_latency[NAGARE_USAGE_NLATENCY]; /* by bucket */
	pg_atomic_uint64 publish_latency_us; /* their sum */
	/* written by the broker only: counters every NAGARE_USAGE_SNAPSHOT_SECS */
	uint64		snapshots[NAGARE_USAGE_SNAPSHOTS][NAGARE_USAGE_NCOUNTERS];
} NagareUsageSlot;

typedef struct NagareUsageShared
{
	LWLock	   *lock;			/* protects buckets, used slots' keys and
								 * chains, nused, overflow_logged */
	int			max;			/* nagare.max_client_usage */
	int			nbuckets;		/* a power of 2 */
	int			nused;			/* slots ever taken (the rest never were) */
	bool		overflow_logged;
	/* snapshots taken (the latest is at tick % NAGARE_USAGE_SNAPSHOTS) */
	pg_atomic_uint64 tick;
	pg_atomic_uint64 tick_time; /* TimestampTz of the latest */
	int32	   *buckets;		/* nbuckets chain heads, -1 for none */
	NagareUsageSlot slots[FLEXIBLE_ARRAY_MEMBER];	/* max + 1 */
} NagareUsageShared;

extern NagareUsageShared *nagare_usage;

/*
 * Broker-wide metrics for GET /metrics (usage/usage.h counts into them,
 * with the usage slots' latency buckets): per Kafka API key, requests,
 * error codes in responses and the latency from a request's frame being
 * handed on to its response being ready; the log's group fsync rounds.
 * Lock-free pg_atomic adds; fixed size.
 */
typedef struct NagareMetricsShared
{
	pg_atomic_uint64 api_requests[NAGARE_USAGE_NAPIS];
	pg_atomic_uint64 api_errors[NAGARE_USAGE_NAPIS][NAGARE_USAGE_NERRORS];
	pg_atomic_uint64 api_latency[NAGARE_USAGE_NAPIS][NAGARE_USAGE_NLATENCY];
	pg_atomic_uint64 api_latency_us[NAGARE_USAGE_NAPIS];
	pg_atomic_uint64 fsync_latency[NAGARE_USAGE_NLATENCY];
	pg_atomic_uint64 fsync_latency_us;
} NagareMetricsShared;

extern NagareMetricsShared *nagare_metrics;

/*
 * What the nagare worker computes in SQL for GET /metrics, which runs no
 * SQL (worker/metricsnap.c writes it every nagare.metrics_snapshot_interval,
 * web/metrics.c formats it): entries packed in data, each a kind byte, its
 * doubles (unaligned, NaN for NULL) and its NUL-terminated strings:
 *
 *	'L'  lag_seconds; group, topic (nagare.consumer_lag's largest per pair)
 *	'S'  NAGARE_METRICS_SLO_NVALUES doubles (objective, sli_value,
 *	     error_budget_remaining, burn rates over 5m 30m 1h 2h 6h 1d 3d);
 *	     service, name, sli (nagare.slo_status)
 *
 * Rewritten whole between two increments of change (odd meanwhile): a
 * reader copies it and retries if change was odd or moved.
 */
#define NAGARE_METRICS_SNAPSHOT_BYTES (256 * 1024)
#define NAGARE_METRICS_SLO_NVALUES    10

typedef struct NagareMetricsSnapshot
{
	pg_atomic_uint32 change;
	TimestampTz taken_at; /* 0: none yet */
	uint32 len; /* bytes of data used */
	uint32 dropped; /* entries past the size or the series cap */
	char data[NAGARE_METRICS_SNAPSHOT_BYTES];
} NagareMetricsSnapshot;

extern NagareMetricsSnapshot *nagare_metrics_snapshot;

/*
 * Observed dependencies (deps/deps.h): one edge per (source, tenant,
 * principal, client id, topic, kind, consumer group), nagare.max_dependency_edges
 * of them and an overflow edge (index max) for traffic once all are taken.
 * An edge is taken under the lock when a process first meets it, its key
 * written before nused (atomic) counts it, and never rewritten or freed
 * until the server restarts: readers read edges below nused without the
 * lock.  Counting is pg_atomic adds; flushed_* are the nagare worker's own.
 */
#define NAGARE_DEPS_GROUP_MAX 256 /* NUL included; longer groups are cut */

typedef enum NagareDepsKind
{
	NAGARE_DEPS_PRODUCE, /* Kafka Produce, SQL send() and send_batch() */
	NAGARE_DEPS_PUBLISH, /* SQL publish() */
	NAGARE_DEPS_CONSUME, /* Kafka Fetch, SQL consume() */
	NAGARE_DEPS_NKINDS
} NagareDepsKind;

typedef struct NagareDepsKey
{
	uint8 source; /* NagareUsageSource */
	uint8 kind; /* NagareDepsKind */
	int32 topic_id; /* nagare.topic.id */
	char tenant[NAGARE_USAGE_TENANT_MAX];
	char principal[NAGARE_USAGE_PRINCIPAL_MAX];
	char client_id[NAGARE_USAGE_CLIENT_ID_MAX];
	char group[NAGARE_DEPS_GROUP_MAX]; /* consume only; "" for none */
} NagareDepsKey;

typedef struct NagareDepsEdge
{
	/* written once, under the lock, before nused counts the edge */
	int32 next; /* hash chain, -1 for none */
	uint32 hash;
	NagareDepsKey key;
	TimestampTz first_seen;
	/* lock-free */
	pg_atomic_uint64 records;
	pg_atomic_uint64 bytes;
	/* the nagare worker's only: what it has written to the table */
	uint64 flushed_records;
	uint64 flushed_bytes;
} NagareDepsEdge;

typedef struct NagareDepsShared
{
	LWLock *lock; /* protects buckets, chains, overflow_logged */
	int max; /* nagare.max_dependency_edges */
	int nbuckets; /* a power of 2 */
	pg_atomic_uint32 nused; /* edges taken; written after their key */
	bool overflow_logged;
	int32 *buckets; /* nbuckets chain heads, -1 for none */
	NagareDepsEdge edges[FLEXIBLE_ARRAY_MEMBER]; /* max + 1 */
} NagareDepsShared;

extern NagareDepsShared *nagare_deps;

/*
 * The broker's live Kafka connections, for nagare.connections: the broker
 * writes an entry when a connection opens, learns who its client is,
 * changes what it shows or closes (broker/meter.c); readers copy an entry
 * and keep the copy only if its change counter was even and the same
 * before and after, so they never see a torn row.
 */
#define NAGARE_CONN_LISTENER_MAX	64	/* net.h's NAGARE_LISTENER_NAME_MAX */
#define NAGARE_CONN_PEER_MAX		64
#define NAGARE_CONN_SOFTWARE_MAX	64	/* longer names and versions are cut */

typedef struct NagareConnEntry
{
	pg_atomic_uint32 change;	/* odd while the broker rewrites the entry */
	bool		used;
	uint8		security;		/* net.h's NagareSecurityProtocol */
	uint64		id;				/* the connection's number */
	TimestampTz since;
	int32		in_flight;
	TimestampTz muted_until;	/* 0: not muted */
	char		listener[NAGARE_CONN_LISTENER_MAX];
	char		peer[NAGARE_CONN_PEER_MAX]; /* "host:port" */
	char		tenant[NAGARE_USAGE_TENANT_MAX];
	char		principal[NAGARE_USAGE_PRINCIPAL_MAX];
	char		client_id[NAGARE_USAGE_CLIENT_ID_MAX];
	char		software_name[NAGARE_CONN_SOFTWARE_MAX];
	char		software_version[NAGARE_CONN_SOFTWARE_MAX];
} NagareConnEntry;

typedef struct NagareConnShared
{
	int			max;			/* entries; connections beyond are not shown */
	NagareConnEntry entries[FLEXIBLE_ARRAY_MEMBER];
} NagareConnShared;

extern NagareConnShared *nagare_conn_table;

/*
 * Live instances of the registry's services (instances/instances.c has
 * every function on them): an entry per row of nagare.service_instance, in
 * a hash by id.  The lock is taken exclusive only to add or remove an entry
 * (a copy in or out); finding, beating and reading take it shared.  An
 * entry's writers hold its spinlock and make its change counter odd while
 * they write; readers copy the entry without the spinlock and keep the copy
 * only if the counter was even and the same before and after.
 */
#define NAGARE_INSTANCE_ID_MAX      132 /* 128 bytes, NUL, padding */
#define NAGARE_INSTANCE_SERVICE_MAX 64 /* a DNS label and NUL */
#define NAGARE_INSTANCE_ADDRESS_MAX 256 /* a DNS name (253) or IP literal */
#define NAGARE_INSTANCE_TAGS_MAX    256 /* the tags, each NUL-terminated */
#define NAGARE_INSTANCE_OUTPUT_MAX  256 /* the last note (longer ones are cut) */
#define NAGARE_INSTANCE_META_MAX    1024 /* meta as JSON text and NUL (more is refused) */

typedef struct NagareInstance
{
	char id[NAGARE_INSTANCE_ID_MAX]; /* the hash key: first */
	slock_t mutex; /* the entry's writers */
	pg_atomic_uint32 change; /* odd while an entry is written */
	bool used;
	char service[NAGARE_INSTANCE_SERVICE_MAX];
	char address[NAGARE_INSTANCE_ADDRESS_MAX];
	uint8 family; /* 4, 6, or 0: address is a DNS name */
	uint8 ip[16]; /* the address if family is 4 (4 bytes) or 6 */
	int32 port;
	int32 ntags;
	int32 tags_len; /* bytes of tags used */
	char tags[NAGARE_INSTANCE_TAGS_MAX];
	int32 status; /* instances.h's NagareInstanceStatus */
	int32 persisted_status; /* the status nagare.service_instance has */
	int64 ttl_ms; /* 0: no check, always passing */
	int64 deregister_after_ms; /* 0: never */
	TimestampTz last_beat; /* registration, load or the last beat */
	TimestampTz status_changed_at;
	char output[NAGARE_INSTANCE_OUTPUT_MAX];
	char meta[NAGARE_INSTANCE_META_MAX]; /* a JSON object of strings; "" as {} */
	uint64 modify_index; /* the table's version at its last add, replace or
						  * status change (its service's Consul index) */
} NagareInstance;

/* per-service tombstones (instances.c): slots keyed by a hash of the name */
#define NAGARE_INSTANCE_TOMBSTONES 1024

typedef struct NagareInstanceShared
{
	LWLock *lock;
	int max;
	pg_atomic_uint32 loaded; /* the nagare worker copied the table in */
	pg_atomic_uint64 version; /* incremented after every add, replace,
								 * remove and status change: what the
								 * registry's readers answer from changed */
	/* the version of the last removal from each slot's services (a max) */
	pg_atomic_uint64 tombstone[NAGARE_INSTANCE_TOMBSTONES];
} NagareInstanceShared;

extern NagareInstanceShared *nagare_instances;
extern HTAB *nagare_instance_hash;

extern NagareShared *nagare_shared;
extern HTAB *nagare_topic_hash;
extern HTAB *nagare_partition_hash;

extern void nagare_shmem_install_hooks(void);
extern Latch *nagare_broker_latch(void);
extern void nagare_wake_proc(int procno);
extern void nagare_wake_broker(void);
extern void nagare_wake_worker(void);
extern void nagare_wake_ingest(void);
extern void nagare_note_topic_id(int32 topic_id);
extern void nagare_partition_init_new(NagarePartition *part);
extern void nagare_partition_init_metrics(NagarePartition *part);

#endif							/* NAGARE_SHMEM_H */
