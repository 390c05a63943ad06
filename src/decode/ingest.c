/*-------------------------------------------------------------------------
 *
 * ingest.c
 *	  The "nagare ingest" worker: appends what committed transactions
 *	  published (nagare.publish(), table topics) to their topics, exactly
 *	  once and in commit order.
 *
 * The worker owns the logical replication slot "nagare" (output plugin
 * "nagare", decode/plugin.c) and decodes it in its own process, with one
 * logical decoding context that it keeps for its life (as a walsender
 * does): it acquires the slot once, starts reading at the slot's restart
 * point, and each pass reads on from where the last one stopped.  Each
 * pass:
 *
 *	1. notes the WAL flush position L0 and decodes on up to it (at most
 *	   MAX_CHANGES rows, always whole transactions), the plugin's rows
 *	   collected in memory;
 *	2. for every decoded transaction, in commit order, appends its records
 *	   (one batch per partition) through the append ring, each record with
 *	   the header nagare.lsn = "<commit LSN>/<index>", skipping records a
 *	   previous run already stored: per partition, the worker knows the
 *	   largest nagare.lsn stored (found in the partition's tail at first use,
 *	   then kept up to date), and a transaction decoded again after a crash
 *	   has positions at or below it;
 *	3. waits once until everything it appended is durable (the broker's
 *	   fsync);
 *	4. only then confirms the slot up to where the reader stopped
 *	   (LogicalConfirmReceivedLocation; the slot's file is written at most
 *	   once a second).
 *
 * Between 3 and 4 it counts each appended transaction's commit-to-
 * consumable latency for the SQL client that committed it (latency.c).
 *
 * An ERROR ends the process; the postmaster starts a new one, which
 * creates the context again from the slot's confirmed position.
 *
 * So a crash at any point loses nothing committed (the slot was not
 * confirmed past it) and writes nothing twice (what is stored is skipped).
 *
 * No record stalls the worker: one that cannot be appended (larger than
 * its topic's max.message.bytes or the append ring takes, its topic gone)
 * is a row of nagare.undelivered and goes where its table topic's on_error
 * says: a dead letter, skipped, or held while the table topic is stopped
 * (delivered, oldest first, once nagare.resume_table_topic() is called).
 * The rows commit before the slot moves past them (src/decode/README.md).
 * Committing transactions only set this worker's latch; they never wait for
 * it and never fail because of it.  The slot holds back WAL until it is
 * confirmed: its lag is in nagare.ingest, and a WARNING is logged when it
 * passes nagare.ingest_max_lag.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogreader.h"
#include "access/xlogutils.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/decode.h"
#include "replication/logical.h"
#include "replication/slot.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/standby.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "decode/decode.h"
#include "decode/latency.h"
#include "kafka/byteorder.h"
#include "kafka/record.h"
#include "nagare.h"
#include "queue/append.h"
#include "queue/queue.h"
#include "shmem.h"
#include "topic/catalog.h"

/* Most decoded rows per pass (whole transactions: a pass may end a bit past it) */
#define MAX_CHANGES			10000
/* How long a pass woken by a commit waits for the commits behind it */
#define INGEST_COALESCE_US	2000
/* How far back in a partition the worker looks for the last record it wrote */
#define MAX_LOOKBACK		100000

/* One record of a decoded transaction, or a held change delivered again */
typedef struct IngestRecord
{
	char	   *topic;
	int32		partition;		/* -1: by key */
	const uint8 *key;
	int32		key_len;
	const uint8 *value;
	int32		value_len;
	char	   *headers;		/* jsonb text, or NULL */
	Oid relid; /* a table change: its table; else InvalidOid */
	char *relation; /* a table change: "schema.table" */
	int64 held_id; /* a held change: its nagare.undelivered row */
	int64 *redeliver_from; /* ... and each partition's high watermark before */
	int nredeliver_from;
	char pos[NAGARE_LSN_LENGTH + 1]; /* a held change or a dead letter: its nagare.lsn */
	bool unordered; /* a dead letter of a held change: no watermark */
	int64 dead_letter_of; /* a dead letter: the nagare.undelivered row */
	const uint8 *short_value; /* a dead letter without the change, or NULL */
	int32 short_value_len;
} IngestRecord;

/* The commit of the records being appended */
typedef struct IngestTxn
{
	XLogRecPtr commit_lsn;
	TimestampTz commit_time;
	uint32 xid;
} IngestTxn;

/*
 * What to do with a change of a table topic that cannot be delivered
 * (nagare.table_topic.on_error), read once per pass.
 */
typedef struct TablePolicy
{
	Oid relid; /* hash key */
	char on_error; /* 'd'ead_letter, 's'kip, 't' (stop) */
	char *dead_letter_topic;
	bool stopped; /* stopped_at is set (or was set in this pass) */
	bool pending; /* held changes wait that this pass does not deliver */
} TablePolicy;

/* Largest nagare.lsn stored per partition */
typedef struct Watermark
{
	NagarePartitionKey key;
	char		lsn[32];		/* "" when none */
} Watermark;

static HTAB *watermarks = NULL;
static MemoryContext rows_cxt = NULL; /* this pass's decoded rows and lookups */
static HTAB *policies = NULL; /* relid -> TablePolicy, this pass (SPI memory) */
static int64 policies_last_held = 0; /* the last held change this pass delivers */
static bool held_seen = true; /* there may be held changes (any_held()) */
static List *delivered_held = NIL; /* ids of held rows delivered in this pass */
static TimestampTz last_lag_check = 0;
static TimestampTz last_standby_snapshot = 0;
static TimestampTz last_slot_save = 0;
static TimestampTz last_lag_warning = 0;

static void
ingest_detach(int code, Datum arg)
{
	SpinLockAcquire(&nagare_shared->broker_mutex);
	nagare_shared->ingest_procno = -1;
	SpinLockRelease(&nagare_shared->broker_mutex);
}

/*
 * May the server load nagare as an output plugin?  PostgreSQL 15.19 and
 * later only load those named in output_plugin_libraries; older minors do
 * not have the setting and load any.
 */
bool
nagare_output_plugin_allowed(void)
{
	const char *libs = GetConfigOption("output_plugin_libraries", true, false);
	char	   *copy;
	char	   *tok;
	char	   *save;
	bool		found = false;

	if (libs == NULL)
		return true;
	copy = pstrdup(libs);
	for (tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save))
	{
		if (tok[0] == '"')
		{
			tok++;
			if (strlen(tok) > 0 && tok[strlen(tok) - 1] == '"')
				tok[strlen(tok) - 1] = '\0';
		}
		if (strcmp(tok, "nagare") == 0 || strcmp(tok, "$libdir/nagare") == 0 || strcmp(tok, "*") == 0)
			found = true;
	}
	pfree(copy);
	return found;
}

/* integers of a row, in network order */
static int32
get_int32(const char **p, const char *end)
{
	int32		v;

	if (end - *p < 4)
		elog(ERROR, "truncated nagare decoding row");
	v = (int32) kafka_load_be32((const uint8 *) *p);
	*p += 4;
	return v;
}

static int64
get_int64(const char **p, const char *end)
{
	int64		v;

	if (end - *p < 8)
		elog(ERROR, "truncated nagare decoding row");
	v = (int64) kafka_load_be64((const uint8 *) *p);
	*p += 8;
	return v;
}

/* bytes: int32 length (-1 null), then the bytes; returns NULL for null */
static const char *
get_bytes(const char **p, const char *end, int32 *len)
{
	const char *s;

	*len = get_int32(p, end);
	if (*len < 0)
		return NULL;
	if (end - *p < *len)
		elog(ERROR, "truncated nagare decoding row");
	s = *p;
	*p += *len;
	return s;
}

static char *
get_string(const char **p, const char *end)
{
	int32		len;
	const char *s = get_bytes(p, end, &len);

	return s ? pnstrdup(s, len) : NULL;
}

/*
 * The SQL client that committed the transaction being decoded, from its
 * version 2 publish() message (decode.h), or NULL: latency.c's SLI.
 */
static char *txn_principal = NULL;
static char *txn_client_id = NULL;

/* A publish() message as a record */
static void
parse_message(const char *p, const char *end, IngestRecord *r)
{
	int32		len;
	const char *s;
	uint8 version;

	memset(r, 0, sizeof(*r));
	version = end - p < 1 ? 0 : (uint8) p[0];
	if (version != NAGARE_PAYLOAD_VERSION && version != NAGARE_PAYLOAD_VERSION_ORIGIN)
		elog(ERROR, "nagare.publish() message of an unknown version");
	p++;
	r->topic = get_string(&p, end);
	r->partition = get_int32(&p, end);
	r->key = (const uint8 *) get_bytes(&p, end, &r->key_len);
	r->value = (const uint8 *) get_bytes(&p, end, &r->value_len);
	s = get_bytes(&p, end, &len);
	r->headers = s ? pnstrdup(s, len) : NULL;
	if (r->topic == NULL)
		elog(ERROR, "nagare.publish() message without a topic");
	if (version == NAGARE_PAYLOAD_VERSION_ORIGIN)
	{
		txn_principal = get_string(&p, end);
		txn_client_id = get_string(&p, end);
	}
}

/* A transaction's records are appended: note it for the latency SLI */
static void
note_latency(const IngestRecord *recs, int n, TimestampTz commit_time)
{
	int k;

	if (txn_principal != NULL)
		nagare_ingest_latency_note(txn_principal, txn_client_id, commit_time);
	else
	{
		for (k = 0; k < n && !OidIsValid(recs[k].relid); k++)
			;
		if (k < n)
			nagare_ingest_latency_note_owner(recs[k].relid, commit_time);
		else
			nagare_ingest_latency_note("", "", commit_time); /* version 1 messages */
	}
	txn_principal = txn_client_id = NULL;
}

static void
json_field(StringInfo out, const char *name, const char *json)
{
	appendStringInfo(out, ",\"%s\":%s", name, json ? json : "null");
}

/* A table change as a record: the envelope of docs/publish.md (table topics) */
static void
parse_change(const char *p, const char *end, IngestRecord *r,
			 XLogRecPtr commit_lsn, TimestampTz commit_time, uint32 xid)
{
	char		op = p[0];
	char	   *schema;
	char	   *table;
	char	   *key;
	char	   *before;
	char	   *after;
	char	   *unchanged;
	StringInfoData e;

	memset(r, 0, sizeof(*r));
	p++;
	r->relid = (Oid) get_int32(&p, end);
	r->topic = get_string(&p, end);
	schema = get_string(&p, end);
	table = get_string(&p, end);
	r->relation = psprintf("%s.%s", quote_identifier(schema), quote_identifier(table));
	key = get_string(&p, end);
	before = get_string(&p, end);
	after = get_string(&p, end);
	unchanged = get_string(&p, end);
	r->partition = -1;
	r->headers = NULL;
	r->key = (const uint8 *) key;
	r->key_len = key ? (int32) strlen(key) : -1;
	if (op == NAGARE_OP_TOMBSTONE)
	{
		r->value = NULL;
		r->value_len = -1;
		return;
	}
	initStringInfo(&e);
	appendStringInfo(&e, "{\"op\":\"%c\"", op);
	json_field(&e, "before", before);
	json_field(&e, "after", after);
	appendStringInfoString(&e, ",\"source\":{\"db\":");
	escape_json(&e, get_database_name(MyDatabaseId));
	appendStringInfoString(&e, ",\"schema\":");
	escape_json(&e, schema);
	appendStringInfoString(&e, ",\"table\":");
	escape_json(&e, table);
	appendStringInfo(&e, ",\"commit_lsn\":\"%X/%X\",\"txid\":%u,\"commit_time\":",
					 LSN_FORMAT_ARGS(commit_lsn), xid);
	escape_json(&e, timestamptz_to_str(commit_time));
	appendStringInfoChar(&e, '}');
	if (unchanged)
		appendStringInfo(&e, ",\"unchanged_toast\":%s", unchanged);
	appendStringInfoChar(&e, '}');
	r->value = (const uint8 *) e.data;
	r->value_len = e.len;
}

/* The largest nagare.lsn stored in a partition (looked up once, then kept) */
static Watermark *
watermark(const NagareTopicInfo *topic, int32 partition)
{
	NagarePartitionKey key;
	Watermark  *w;
	bool		found;

	if (watermarks == NULL)
	{
		HASHCTL		info;

		memset(&info, 0, sizeof(info));
		info.keysize = sizeof(NagarePartitionKey);
		info.entrysize = sizeof(Watermark);
		info.hcxt = TopMemoryContext;
		watermarks = hash_create("nagare ingest watermarks", 64, &info, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	key.topic_id = topic->topic_id;
	key.partition = partition;
	w = hash_search(watermarks, &key, HASH_ENTER, &found);
	if (!found)
	{
		Datum		args[3];
		Oid			types[3] = {TEXTOID, INT4OID, INT8OID};
		int64		start;
		int64		hwm;
		int64		log_start;
		bool		isnull;
		int			ret;

		w->lsn[0] = '\0';
		args[0] = CStringGetTextDatum(topic->name);
		args[1] = Int32GetDatum(partition);
		ret = SPI_execute_with_args("SELECT log_start_offset, high_watermark FROM nagare.partitions "
									"WHERE topic = $1 AND \"partition\" = $2",
									2, types, args, NULL, true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed == 0)
			return w;
		log_start = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		hwm = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		for (start = hwm; start > log_start && hwm - start < MAX_LOOKBACK;)
		{
			start = Max(start - 1000, log_start);
			args[2] = Int64GetDatum(start);
			ret = SPI_execute_with_args("SELECT max(l) FROM (SELECT (SELECT convert_from(h.value, 'UTF8') "
										"  FROM unnest(c.headers) h WHERE h.key = '" NAGARE_LSN_HEADER "' LIMIT 1) AS l "
										"  FROM nagare.consume($1, $2, $3, 1000) c) x",
										3, types, args, NULL, true, 1);
			if (ret == SPI_OK_SELECT && SPI_processed == 1)
			{
				Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

				if (!isnull)
				{
					strlcpy(w->lsn, TextDatumGetCString(d), sizeof(w->lsn));
					break;
				}
			}
		}
	}
	return w;
}

/* A statement of every pass, planned once (again after invalidations) */
static SPIPlanPtr
kept_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	if (*plan == NULL)
	{
		SPIPlanPtr p = SPI_prepare(sql, nargs, argtypes);

		if (p == NULL)
			elog(ERROR, "could not prepare \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*plan = p;
	}
	return *plan;
}

/*
 * Topics looked up: name -> exists, as of the topic catalog's generation
 * topics_seen_gen (nagare_shared->catalog_generation, which every commit
 * that changed topics moves).
 */
typedef struct TopicSeen
{
	char name[NAGARE_MAX_TOPIC_NAME + 1]; /* hash key */
	bool exists;
} TopicSeen;

static HTAB *topics_seen = NULL;
static uint64 topics_seen_gen = 0;

/*
 * The generation read at the start of the pass, before its first snapshot:
 * a change to the topics that the pass's statements do not see moves the
 * generation after it (the commit moves it once visible).
 */
static uint64 pass_generation = 0;

/*
 * Does the topic exist?  Asked of the catalog once per topic and change of
 * the topics (a statement every pass is planned again after the pass's
 * cache invalidation: one-record transactions made it most of the worker's
 * time).
 */
static bool
topic_exists(const char *name)
{
	TopicSeen *t;
	bool found;
	uint64 gen = pass_generation;

	if (strlen(name) > NAGARE_MAX_TOPIC_NAME)
		return false;
	if (topics_seen == NULL || topics_seen_gen != gen)
	{
		HASHCTL info;

		if (topics_seen != NULL)
			hash_destroy(topics_seen);
		memset(&info, 0, sizeof(info));
		info.keysize = NAGARE_MAX_TOPIC_NAME + 1;
		info.entrysize = sizeof(TopicSeen);
		info.hcxt = TopMemoryContext;
		topics_seen = hash_create("nagare ingest topics", 16, &info,
								  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		topics_seen_gen = gen;
	}
	t = hash_search(topics_seen, name, HASH_ENTER, &found);
	if (!found)
	{
		static SPIPlanPtr plan = NULL;
		Datum arg = CStringGetTextDatum(name);
		Oid type = TEXTOID;
		int ret =
			SPI_execute_plan(kept_plan(&plan,
									   "SELECT 1 FROM nagare.topic WHERE name = $1 AND deleted_at IS NULL",
									   1, &type),
							 &arg, NULL, true, 1);

		t->exists = ret == SPI_OK_SELECT && SPI_processed > 0;
	}
	return t->exists;
}

/* bytes as a bytea datum */
static Datum
bytes_datum(const uint8 *p, int32 len)
{
	bytea *b = palloc(VARHDRSZ + Max(len, 0));

	SET_VARSIZE(b, VARHDRSZ + Max(len, 0));
	if (len > 0)
		memcpy(VARDATA(b), p, len);
	return PointerGetDatum(b);
}

/*
 * The table topics' policies (nagare.table_topic.on_error), read once per
 * pass.  A table topic is treated as stopped while it is, and also while it
 * has held changes that this pass does not deliver (those with an id above
 * last_held, or not yet prepared): its new changes must come after them.
 */
static void
load_policies(int64 last_held)
{
	HASHCTL info;
	Datum arg = Int64GetDatum(last_held);
	Oid type = INT8OID;
	int ret;
	uint64 i;

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(Oid);
	info.entrysize = sizeof(TablePolicy);
	info.hcxt = CurrentMemoryContext;
	policies = hash_create("nagare table topic policies", 16, &info,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ret =
		SPI_execute_with_args("SELECT t.relid::oid, t.on_error, coalesce(t.dead_letter_topic, t.topic || '.dlq'), "
							  "       t.stopped_at IS NOT NULL, "
							  "       EXISTS (SELECT 1 FROM nagare.undelivered u WHERE u.relid = t.relid "
							  "               AND u.action = 'held' AND (u.redeliver_from IS NULL OR u.id > $1)) "
							  "  FROM nagare.table_topic t",
							  1, &type, &arg, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read nagare.table_topic: %s", SPI_result_code_string(ret));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple tup = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;
		bool isnull;
		Oid relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		TablePolicy *p = hash_search(policies, &relid, HASH_ENTER, NULL);
		char *on_error = SPI_getvalue(tup, desc, 2);

		p->on_error = strcmp(on_error, "skip") == 0   ? 's'
					  : strcmp(on_error, "stop") == 0 ? 't'
													  : 'd';
		p->dead_letter_topic = SPI_getvalue(tup, desc, 3);
		p->stopped = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		p->pending = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
	}
}

/* The policy of a change's table topic; one dropped since: the default */
static TablePolicy *
policy_of(const IngestRecord *r)
{
	bool found;
	TablePolicy *p;

	if (policies == NULL)
		load_policies(policies_last_held);
	p = hash_search(policies, &r->relid, HASH_ENTER, &found);

	if (!found)
	{
		p->on_error = 'd';
		p->dead_letter_topic = psprintf("%s.dlq", r->topic);
		p->stopped = false;
		p->pending = false;
	}
	return p;
}

/*
 * Why a record cannot be appended to topic (a palloc'd sentence), or NULL
 * if it can: its batch must fit the topic's max.message.bytes and the
 * append ring (queue/append.c would refuse it with an ERROR).  *sizep gets
 * the batch's size.  publish() asks it too (sql/send.c), with the
 * nagare.lsn header the worker will add (NAGARE_LSN_LENGTH).
 */
char *
nagare_ingest_record_unfit(const NagareTopicInfo *topic, const KafkaRecordIn *k,
						   size_t *sizep)
{
	size_t size = kafka_batch_max_size(k, 1);
	size_t ring = nagare_queue_max_batch();
	size_t max = (size_t) topic->config.max_message_bytes;
	int codec = topic->config.compression < 0 ? 0 : (int) topic->config.compression;

	*sizep = size;
	if (size != 0 && size <= max && size <= ring)
		return NULL;
	if (size != 0 && codec != 0)
	{
		uint8 *out;
		size_t len;

		/* compressed, it may fit */
		if (kafka_batch_encode(k, 1, codec, &out, &len, &nagare_palloc_allocator) ==
			KAFKA_OK)
		{
			pfree(out);
			if (len <= max && len <= ring)
				return NULL;
			size = len;
		}
	}
	if (size == 0)
		return pstrdup("the record is larger than a Kafka record batch can be");
	*sizep = size;
	if (size > max)
		return psprintf("a record batch of %zu bytes is larger than max.message.bytes of topic \"%s\" (%lld)",
						size, topic->name, (long long) max);
	return psprintf("a record batch of %zu bytes is larger than the append ring takes (%zu bytes, a quarter of nagare.queue_size)",
					size, ring);
}

/*
 * Record in nagare.undelivered what could not be delivered, once per
 * position (a transaction decoded again after a crash finds its row);
 * returns the row's id.
 */
static int64
record_undelivered(const IngestRecord *r, const char *pos, const IngestTxn *x,
				   const char *action, const char *reason, const char *dead_letter_topic,
				   size_t size)
{
	Datum args[14];
	Oid types[14] = {TEXTOID, LSNOID,   INT8OID,  TIMESTAMPTZOID, OIDOID,
					 TEXTOID, TEXTOID,  TEXTOID,  TEXTOID,        TEXTOID,
					 INT8OID, BYTEAOID, BYTEAOID, TEXTOID};
	char nulls[15] = "              ";
	int ret;
	bool isnull;

	args[0] = CStringGetTextDatum(pos);
	args[1] = LSNGetDatum(x->commit_lsn);
	args[2] = Int64GetDatum((int64) x->xid);
	args[3] = TimestampTzGetDatum(x->commit_time);
	args[4] = ObjectIdGetDatum(r->relid);
	if (!OidIsValid(r->relid))
		nulls[4] = 'n';
	if (r->relation)
		args[5] = CStringGetTextDatum(r->relation);
	else
		nulls[5] = 'n';
	args[6] = CStringGetTextDatum(r->topic);
	args[7] = CStringGetTextDatum(action);
	if (strcmp(action, "held") == 0)
		held_seen = true;
	args[8] = CStringGetTextDatum(reason);
	if (dead_letter_topic)
		args[9] = CStringGetTextDatum(dead_letter_topic);
	else
		nulls[9] = 'n';
	args[10] = Int64GetDatum((int64) size);
	if (r->key_len >= 0)
		args[11] = bytes_datum(r->key, r->key_len);
	else
		nulls[11] = 'n';
	if (r->value_len >= 0)
		args[12] = bytes_datum(r->value, r->value_len);
	else
		nulls[12] = 'n';
	if (r->headers)
		args[13] = CStringGetTextDatum(r->headers);
	else
		nulls[13] = 'n';
	ret =
		SPI_execute_with_args("INSERT INTO nagare.undelivered (position, lsn, xid, commit_time, relid, relation, "
							  "  topic, action, reason, dead_letter_topic, size, key, value, headers) "
							  "VALUES ($1, $2, $3, $4, (SELECT c.oid FROM pg_catalog.pg_class c WHERE c.oid = $5)::regclass, "
							  "  $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb) "
							  "ON CONFLICT (position) DO UPDATE SET action = EXCLUDED.action, "
							  "  reason = CASE WHEN undelivered.action = 'held' AND EXCLUDED.action = 'held' "
							  "    THEN undelivered.reason ELSE EXCLUDED.reason END, "
							  "  dead_letter_topic = EXCLUDED.dead_letter_topic, redeliver_from = NULL "
							  "RETURNING id",
							  14, types, args, nulls, false, 1);
	if (ret != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "could not record an undelivered record in nagare.undelivered: %s",
			 SPI_result_code_string(ret));
	return DatumGetInt64(
		SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Stop a table topic at this change (on_error = 'stop') */
static void
stop_table_topic(TablePolicy *p, const IngestTxn *x, const char *reason)
{
	Datum args[3];
	Oid types[3] = {OIDOID, LSNOID, TEXTOID};
	int ret;

	args[0] = ObjectIdGetDatum(p->relid);
	args[1] = LSNGetDatum(x->commit_lsn);
	args[2] = CStringGetTextDatum(reason);
	ret = SPI_execute_with_args("UPDATE nagare.table_topic SET stopped_at = $2, stop_reason = $3 "
								"WHERE relid::oid = $1 AND stopped_at IS NULL",
								3, types, args, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "could not stop a table topic: %s", SPI_result_code_string(ret));
	p->stopped = true;
}

/*
 * The dead letter of a change: a record of the dead-letter topic, keyed as
 * the change, whose value says what could not be delivered and why, with
 * the change itself when it fits (else only its nagare.undelivered id).
 */
static void
make_dead_letter(IngestRecord *dl, const IngestRecord *r, const char *pos,
				 const IngestTxn *x, const char *dead_letter_topic, const char *reason,
				 size_t size, int64 id)
{
	StringInfoData e;
	int head_len;

	memset(dl, 0, sizeof(*dl));
	dl->topic = pstrdup(dead_letter_topic);
	dl->partition = -1;
	dl->key = r->key;
	dl->key_len = r->key_len;
	dl->dead_letter_of = id;
	strlcpy(dl->pos, pos, sizeof(dl->pos));
	dl->unordered = r->held_id > 0;
	initStringInfo(&e);
	appendStringInfoString(&e, "{\"position\":");
	escape_json(&e, pos);
	appendStringInfo(&e, ",\"commit_lsn\":\"%X/%X\",\"xid\":%u,\"commit_time\":",
					 LSN_FORMAT_ARGS(x->commit_lsn), x->xid);
	escape_json(&e, timestamptz_to_str(x->commit_time));
	appendStringInfoString(&e, ",\"table\":");
	if (r->relation)
		escape_json(&e, r->relation);
	else
		appendStringInfoString(&e, "null");
	appendStringInfoString(&e, ",\"topic\":");
	escape_json(&e, r->topic);
	appendStringInfoString(&e, ",\"reason\":");
	escape_json(&e, reason);
	appendStringInfo(&e, ",\"size\":%zu,\"undelivered_id\":" INT64_FORMAT, size, id);
	head_len = e.len;
	appendStringInfoString(&e, ",\"change\":");
	if (r->value_len >= 0)
		appendBinaryStringInfo(&e, (const char *) r->value, r->value_len);
	else
		appendStringInfoString(&e, "null");
	appendStringInfoChar(&e, '}');
	dl->value = (const uint8 *) e.data;
	dl->value_len = e.len;
	/* without the change, if the whole does not fit */
	dl->short_value =
		(const uint8 *) psprintf("%.*s,\"change\":null,\"change_omitted\":true}",
								 head_len, e.data);
	dl->short_value_len = (int32) strlen((const char *) dl->short_value);
}

/*
 * Is a held change being delivered again already in its partition (a
 * crash after it was appended, before its row was deleted)?  Looks from
 * the partition's high watermark before the first attempt.
 */
static bool
held_stored(const NagareTopicInfo *topic, int32 partition, const IngestRecord *r,
			const char *pos)
{
	int64 from = partition < r->nredeliver_from ? r->redeliver_from[partition] : 0;
	Datum args[4];
	Oid types[4] = {TEXTOID, INT4OID, INT8OID, TEXTOID};

	args[0] = CStringGetTextDatum(topic->name);
	args[1] = Int32GetDatum(partition);
	args[3] = CStringGetTextDatum(pos);
	for (;;)
	{
		bool isnull;
		int ret;
		Datum d;

		args[2] = Int64GetDatum(from);
		ret = SPI_execute_with_args("SELECT max(c.\"offset\") + 1, count(*), "
									"       coalesce(bool_or(EXISTS (SELECT 1 FROM unnest(c.headers) h "
									"         WHERE h.key = '" NAGARE_LSN_HEADER
									"' AND h.value = convert_to($4, 'UTF8'))), false) "
									"  FROM nagare.consume($1, $2, $3, 1000) c",
									4, types, args, NULL, true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not read topic \"%s\": %s", topic->name,
				 SPI_result_code_string(ret));
		if (DatumGetBool(
				SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull)))
			return true;
		if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
										&isnull)) < 1000)
			return false;
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		from = DatumGetInt64(d);
	}
}

/*
 * A record that cannot be delivered: recorded in nagare.undelivered, and
 * sent where its table topic's on_error says (a published record is
 * skipped: its whole is in the row).  A dead letter is added to dls.
 */
static void
undeliverable(IngestRecord *r, const char *pos, const IngestTxn *x, const char *reason,
			  size_t size, IngestRecord *dls, int *ndls)
{
	TablePolicy *p = OidIsValid(r->relid) ? policy_of(r) : NULL;
	int64 id;

	if (r->dead_letter_of > 0)
	{
		/* a dead letter that cannot be delivered: the change is skipped */
		Datum args[2];
		Oid types[2] = {INT8OID, TEXTOID};

		args[0] = Int64GetDatum(r->dead_letter_of);
		args[1] = CStringGetTextDatum(
			psprintf("; the dead letter was not delivered either: %s", reason));
		if (SPI_execute_with_args("UPDATE nagare.undelivered SET action = 'skipped', reason = reason || $2 "
								  "WHERE id = $1",
								  2, types, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update nagare.undelivered");
		ereport(WARNING,
				(errmsg("nagare ingest: dead letter of the record at %s could not be delivered to topic \"%s\": %s",
						pos, r->topic, reason),
				 errdetail("The record was skipped; it is kept in nagare.undelivered (id " INT64_FORMAT
						   ").",
						   r->dead_letter_of)));
		return;
	}
	if (p == NULL)
	{
		id = record_undelivered(r, pos, x, "skipped", reason, NULL, size);
		ereport(WARNING,
				(errmsg("nagare ingest: a record published to topic \"%s\" (commit %X/%X) cannot be delivered: %s",
						r->topic, LSN_FORMAT_ARGS(x->commit_lsn), reason),
				 errdetail("It was skipped; it is kept in nagare.undelivered (id " INT64_FORMAT
						   ").",
						   id),
				 errhint(
					 "Raise the topic's max.message.bytes, send the record again with nagare.send(), and delete the row.")));
		return;
	}
	if (p->on_error == 't')
	{
		stop_table_topic(p, x, reason);
		id = record_undelivered(r, pos, x, "held", reason, NULL, size);
		ereport(WARNING,
				(errmsg("nagare ingest: change of table %s (commit %X/%X) cannot be delivered to topic \"%s\": %s",
						r->relation, LSN_FORMAT_ARGS(x->commit_lsn), r->topic, reason),
				 errdetail(
					 "The table topic stopped (on_error = stop): this change and the later ones are held in nagare.undelivered; other topics go on."),
				 errhint("Fix the cause (e.g. raise max.message.bytes) or change on_error with nagare.alter_table_topic(), then call nagare.resume_table_topic('%s').",
						 r->relation)));
		return;
	}
	if (p->on_error == 's')
	{
		id = record_undelivered(r, pos, x, "skipped", reason, NULL, size);
		ereport(WARNING,
				(errmsg("nagare ingest: change of table %s (commit %X/%X) cannot be delivered to topic \"%s\": %s",
						r->relation, LSN_FORMAT_ARGS(x->commit_lsn), r->topic, reason),
				 errdetail("It was skipped (on_error = skip); it is kept in nagare.undelivered (id " INT64_FORMAT
						   ").",
						   id)));
		return;
	}
	id = record_undelivered(r, pos, x, "dead_letter", reason, p->dead_letter_topic, size);
	ereport(WARNING,
			(errmsg("nagare ingest: change of table %s (commit %X/%X) cannot be delivered to topic \"%s\": %s",
					r->relation, LSN_FORMAT_ARGS(x->commit_lsn), r->topic, reason),
			 errdetail("It went to the dead-letter topic \"%s\"; it is kept in nagare.undelivered (id " INT64_FORMAT
					   ").",
					   p->dead_letter_topic, id)));
	make_dead_letter(&dls[(*ndls)++], r, pos, x, p->dead_letter_topic, reason, size, id);
}

/*
 * Append records of one transaction (or one held change); returns the ring
 * end position (0: nothing).  Records that cannot be delivered go where
 * undeliverable() sends them; the dead letters this makes are appended
 * after the transaction's records, in the same order.
 */
static uint64
append_records(IngestRecord *recs, int n, const IngestTxn *x, bool dead_letters)
{
	uint64		end_pos = 0;
	int64 ts = (int64) (x->commit_time / 1000) +
			   (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;
	IngestRecord *dls = dead_letters ? NULL : palloc(sizeof(IngestRecord) * Max(n, 1));
	int ndls = 0;
	int			i = 0;

	/* records of one topic at a time, in publish order */
	while (i < n)
	{
		NagareTopicInfo topic;
		bool have_topic = false;
		int			j;
		int h;
		int			count = 0;
		KafkaRecordIn *krecs = palloc(sizeof(KafkaRecordIn) * n);
		int32	   *parts = palloc(sizeof(int32) * n);
		int64	   *offsets = palloc(sizeof(int64) * n);
		int64 *held = palloc(sizeof(int64) * n);
		int nheld = 0;
		char	   *name = recs[i].topic;

		if (topic_exists(name))
		{
			topic = *nagare_lookup_topic(name, false);
			have_topic = true;
		}

		for (j = i; j < n && strcmp(recs[j].topic, name) == 0; j++)
		{
			IngestRecord *r = &recs[j];
			KafkaRecordIn *k = &krecs[count];
			KafkaHeaderIn *user = NULL;
			int			nuser = 0;
			char pos[NAGARE_LSN_LENGTH + 1];
			Watermark  *w;
			int32		partition;
			char *why;
			size_t size = 0;

			if (r->pos[0] != '\0')
				strlcpy(pos, r->pos, sizeof(pos));
			else
				snprintf(pos, sizeof(pos), "%016llX/%08X",
						 (unsigned long long) x->commit_lsn, (uint32) j);

			/* a stopped table topic holds its changes, in commit order */
			if (OidIsValid(r->relid))
			{
				TablePolicy *p = policy_of(r);

				if (p->stopped || (p->pending && r->held_id == 0))
				{
					(void) record_undelivered(r, pos, x, "held",
											  p->stopped
												  ? "the table topic is stopped"
												  : "the table topic's held changes go first",
											  NULL, 0);
					continue;
				}
			}
			if (!have_topic)
			{
				undeliverable(r, pos, x, psprintf("topic \"%s\" does not exist", name), 0,
							  dls, &ndls);
				continue;
			}
			k->key = r->key;
			k->key_len = r->key_len;
			k->value = r->value;
			k->value_len = r->value_len;
			k->timestamp = ts;
			if (r->headers && r->held_id == 0)
				nuser = nagare_parse_headers(DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																				CStringGetDatum(r->headers))),
											 &user);
			if (r->partition >= 0 && r->partition < topic.partitions)
				partition = r->partition;
			else if (r->key_len >= 0)
				partition = nagare_choose_partition(&topic, k, false, 0);
			else
			{
				/* no key: a partition that a second decoding chooses again */
				partition = (int32) ((hash_bytes_uint32((uint32) (x->commit_lsn ^
																  (x->commit_lsn >> 32))) +
									  (uint32) j) %
									 (uint32) topic.partitions);
			}
			k->headers = palloc(sizeof(KafkaHeaderIn) * (nuser + 1));
			if (nuser > 0)
				memcpy((KafkaHeaderIn *) k->headers, user, sizeof(KafkaHeaderIn) * nuser);
			((KafkaHeaderIn *) k->headers)[nuser].key = (const uint8 *) NAGARE_LSN_HEADER;
			((KafkaHeaderIn *) k->headers)[nuser].key_len = strlen(NAGARE_LSN_HEADER);
			((KafkaHeaderIn *) k->headers)[nuser].value = (const uint8 *) pstrdup(pos);
			((KafkaHeaderIn *) k->headers)[nuser].value_len = strlen(pos);
			k->nheaders = nuser + 1;

			why = nagare_ingest_record_unfit(&topic, k, &size);
			if (why != NULL && r->short_value != NULL)
			{
				/* a dead letter: without the change, then */
				k->value = r->short_value;
				k->value_len = r->short_value_len;
				why = nagare_ingest_record_unfit(&topic, k, &size);
			}
			if (why != NULL)
			{
				undeliverable(r, pos, x, why, size, dls, &ndls);
				continue;
			}

			w = watermark(&topic, partition);
			if (r->unordered)
			{
				/* a dead letter of a held change: as old as the change */
			}
			else if (r->held_id > 0)
			{
				/* a held change is older than what its partition may hold since */
				held[nheld++] = r->held_id;
				if (held_stored(&topic, partition, r, pos))
					continue;
				if (w->lsn[0] == '\0' || strcmp(pos, w->lsn) > 0)
					strlcpy(w->lsn, pos, sizeof(w->lsn));
			}
			else
			{
				if (w->lsn[0] != '\0' && strcmp(pos, w->lsn) <= 0)
					continue; /* stored before a crash */
				strlcpy(w->lsn, pos, sizeof(w->lsn));
			}
			parts[count] = partition;
			count++;
		}
		if (count > 0)
		{
			uint64 pos = nagare_append_records(&topic, krecs, parts, count, ts, offsets,
											   NULL, NULL);

			end_pos = Max(end_pos, pos);
		}
		for (h = 0; h < nheld; h++)
		{
			int64 *id = palloc(sizeof(int64));

			*id = held[h];
			delivered_held = lappend(delivered_held, id);
		}
		i = j;
	}
	if (ndls > 0)
	{
		uint64 pos = append_records(dls, ndls, x, true);

		end_pos = Max(end_pos, pos);
	}
	return end_pos;
}

/* The slot's confirmed position, read from shared memory */
static XLogRecPtr
slot_confirmed(bool *exists)
{
	ReplicationSlot *slot;
	XLogRecPtr	confirmed;

	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	slot = SearchNamedReplicationSlot(NAGARE_SLOT_NAME, false);
	*exists = (slot != NULL);
	confirmed = InvalidXLogRecPtr;
	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		confirmed = slot->data.confirmed_flush;
		SpinLockRelease(&slot->mutex);
	}
	LWLockRelease(ReplicationSlotControlLock);
	return confirmed;
}

/*
 * The one decoding context of the slot, for the life of the process
 * (TopMemoryContext): created from the slot's confirmed position when the
 * worker first decodes, it reads the WAL on from where the last pass
 * stopped, as a walsender does.  The plugin's rows of a pass are copied to
 * rows_cxt (reset after every pass).
 */
typedef struct DecodedRow
{
	char *data;
	int len;
} DecodedRow;

static LogicalDecodingContext *decoding = NULL;
static DecodedRow *decoded = NULL;
static int ndecoded = 0;
static int maxdecoded = 0;

static void
ingest_prepare_write(LogicalDecodingContext *ctx, XLogRecPtr lsn, TransactionId xid,
					 bool last_write)
{
	resetStringInfo(ctx->out);
}

static void
ingest_write(LogicalDecodingContext *ctx, XLogRecPtr lsn, TransactionId xid, bool last_write)
{
	MemoryContext old = MemoryContextSwitchTo(rows_cxt);

	if (ndecoded == maxdecoded)
	{
		maxdecoded = Max(256, maxdecoded * 2);
		decoded = decoded ? repalloc(decoded, sizeof(DecodedRow) * maxdecoded)
						  : palloc(sizeof(DecodedRow) * maxdecoded);
	}
	decoded[ndecoded].data = palloc(ctx->out->len);
	memcpy(decoded[ndecoded].data, ctx->out->data, ctx->out->len);
	decoded[ndecoded].len = ctx->out->len;
	ndecoded++;
	MemoryContextSwitchTo(old);
}

/* Acquire the slot and start decoding it from its confirmed position */
static void
decoding_start(void)
{
	MemoryContext old;

	CheckLogicalDecodingRequirements();
	ReplicationSlotAcquire(NAGARE_SLOT_NAME, true);
	old = MemoryContextSwitchTo(TopMemoryContext);
	decoding = CreateDecodingContext(InvalidXLogRecPtr, NIL, false,
									 XL_ROUTINE(.page_read = read_local_xlog_page,
												.segment_open = wal_segment_open,
												.segment_close = wal_segment_close),
									 ingest_prepare_write, ingest_write, NULL);
	MemoryContextSwitchTo(old);
	XLogBeginRead(decoding->reader, MyReplicationSlot->data.restart_lsn);
}

/*
 * Forget the context, release the slot and forget the topics (the
 * extension was dropped)
 */
static void
decoding_stop(void)
{
	if (topics_seen != NULL)
		hash_destroy(topics_seen);
	topics_seen = NULL;
	if (decoding == NULL)
		return;
	FreeDecodingContext(decoding);
	decoding = NULL;
	ReplicationSlotRelease();
}

/*
 * Decode on up to upto, or until MAX_CHANGES rows were written (always
 * after a whole transaction: the plugin writes a transaction's rows when
 * decoding its commit record).  Catalog entries read with the transactions'
 * historic snapshots must not be used by the pass's own queries, nor the
 * pass's by decoding: the caches are invalidated before and after, as
 * pg_logical_slot_peek_binary_changes() does.
 */
static void
decode_upto(XLogRecPtr upto)
{
	if (decoding->reader->EndRecPtr >= upto)
		return;
	InvalidateSystemCaches();
	while (decoding->reader->EndRecPtr < upto && ndecoded < MAX_CHANGES)
	{
		char *errm = NULL;
		XLogRecord *record;
		MemoryContext old;

		/* the reader keeps its buffers (allocated on first use) for good */
		old = MemoryContextSwitchTo(decoding->context);
		record = XLogReadRecord(decoding->reader, &errm);
		MemoryContextSwitchTo(old);

		if (errm)
			elog(ERROR, "could not decode replication slot \"%s\": %s", NAGARE_SLOT_NAME,
				 errm);
		if (record != NULL)
			LogicalDecodingProcessRecord(decoding, decoding->reader);
		CHECK_FOR_INTERRUPTS();
	}
	InvalidateSystemCaches();
}

/*
 * Confirm the slot up to lsn, whose transactions' records are durable: a
 * restart decodes from there.  The confirmed position is written to the
 * slot's file at most once a second (and at checkpoints); one older than
 * the last confirmed makes a restart decode some transactions again, which
 * the watermarks skip.
 */
static void
decoding_confirm(XLogRecPtr lsn)
{
	TimestampTz now = GetCurrentTimestamp();

	LogicalConfirmReceivedLocation(lsn);
	pg_atomic_write_u64(&nagare_shared->ingest_confirmed_lsn, lsn);
	ReplicationSlotMarkDirty();
	if (TimestampDifferenceExceeds(last_slot_save, now, 1000))
	{
		ReplicationSlotSave();
		last_slot_save = now;
	}
}

static void
check_lag(XLogRecPtr confirmed)
{
	TimestampTz now = GetCurrentTimestamp();
	XLogRecPtr	cur;

	if (!TimestampDifferenceExceeds(last_lag_check, now, 10000))
		return;
	last_lag_check = now;
	cur = GetXLogWriteRecPtr();
	if (confirmed != InvalidXLogRecPtr && cur > confirmed &&
		(cur - confirmed) / (1024 * 1024) > (uint64) nagare_ingest_max_lag_mb &&
		TimestampDifferenceExceeds(last_lag_warning, now, 60000))
	{
		last_lag_warning = now;
		ereport(WARNING,
				(errmsg("nagare ingest: replication slot \"%s\" holds back %llu MB of WAL",
						NAGARE_SLOT_NAME, (unsigned long long) ((cur - confirmed) / (1024 * 1024))),
				 errdetail("It is more than nagare.ingest_max_lag (%d MB).", nagare_ingest_max_lag_mb),
				 errhint("Check the server log for errors of the \"nagare ingest\" worker and that the broker is running; see nagare.ingest.")));
	}
}

/* Commit the pass's transaction so far and go on in a new one */
static void
next_transaction(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
}

/*
 * Are there held changes at all?  Most passes find none and skip the
 * statements that prepare and read them.  Held rows are written by this
 * worker (record_undelivered() sets held_seen), so after a look that found
 * none the next look is a second later (for rows a restored dump brought).
 */
static bool
any_held(void)
{
	static SPIPlanPtr plan = NULL;
	static TimestampTz last_look = 0;
	TimestampTz now = GetCurrentTimestamp();
	int ret;

	if (!held_seen && !TimestampDifferenceExceeds(last_look, now, 1000))
		return false;
	last_look = now;
	ret =
		SPI_execute_plan(kept_plan(&plan,
								   "SELECT 1 FROM nagare.undelivered WHERE action = 'held' LIMIT 1",
								   0, NULL),
						 NULL, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look for held changes: %s", SPI_result_code_string(ret));
	held_seen = SPI_processed > 0;
	return held_seen;
}

/*
 * Before held changes of resumed table topics are delivered again, note
 * (committed, by the caller) each partition's high watermark: a crash after
 * they were appended and before their rows were deleted is then told by
 * looking from there (held_stored()).  Returns whether it noted any.
 */
static bool
prepare_held(void)
{
	int ret;

	ret =
		SPI_execute("UPDATE nagare.undelivered u "
					"   SET redeliver_from = (SELECT array_agg(p.high_watermark ORDER BY p.\"partition\") "
					"                           FROM nagare.partitions p WHERE p.topic = u.topic) "
					" WHERE u.action = 'held' AND u.redeliver_from IS NULL "
					"   AND EXISTS (SELECT 1 FROM nagare.table_topic t "
					"               WHERE t.relid = u.relid AND t.stopped_at IS NULL)",
					false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "could not prepare held changes: %s", SPI_result_code_string(ret));
	return SPI_processed > 0;
}

/* Held changes of resumed table topics, in commit order (at most MAX_HELD) */
#define MAX_HELD 1000

static IngestRecord *
load_held(int *n, IngestTxn **txns, int64 *last_held)
{
	IngestRecord *recs;
	uint64 i;
	int ret;

	ret =
		SPI_execute("SELECT u.id, u.position, u.lsn, u.xid, u.commit_time, u.topic, u.relation, "
					"       u.relid::oid, u.key, u.value, u.redeliver_from "
					"  FROM nagare.undelivered u JOIN nagare.table_topic t ON t.relid = u.relid "
					" WHERE u.action = 'held' AND t.stopped_at IS NULL AND u.redeliver_from IS NOT NULL "
					" ORDER BY u.id LIMIT " CppAsString2(MAX_HELD),
					true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read held changes: %s", SPI_result_code_string(ret));
	*n = (int) SPI_processed;
	recs = palloc0(sizeof(IngestRecord) * Max(*n, 1));
	*txns = palloc0(sizeof(IngestTxn) * Max(*n, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple tup = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;
		IngestRecord *r = &recs[i];
		IngestTxn *x = &(*txns)[i];
		bool isnull;
		Datum d;

		r->held_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		*last_held = r->held_id;
		strlcpy(r->pos, SPI_getvalue(tup, desc, 2), sizeof(r->pos));
		x->commit_lsn = DatumGetLSN(SPI_getbinval(tup, desc, 3, &isnull));
		d = SPI_getbinval(tup, desc, 4, &isnull);
		x->xid = isnull ? 0 : (uint32) DatumGetInt64(d);
		d = SPI_getbinval(tup, desc, 5, &isnull);
		x->commit_time = isnull ? GetCurrentTimestamp() : DatumGetTimestampTz(d);
		r->topic = SPI_getvalue(tup, desc, 6);
		r->relation = SPI_getvalue(tup, desc, 7);
		r->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 8, &isnull));
		r->partition = -1;
		d = SPI_getbinval(tup, desc, 9, &isnull);
		r->key_len = -1;
		if (!isnull)
		{
			bytea *b = DatumGetByteaPP(d);

			r->key = (const uint8 *) VARDATA_ANY(b);
			r->key_len = VARSIZE_ANY_EXHDR(b);
		}
		d = SPI_getbinval(tup, desc, 10, &isnull);
		r->value_len = -1;
		if (!isnull)
		{
			bytea *b = DatumGetByteaPP(d);

			r->value = (const uint8 *) VARDATA_ANY(b);
			r->value_len = VARSIZE_ANY_EXHDR(b);
		}
		d = SPI_getbinval(tup, desc, 11, &isnull);
		if (!isnull)
		{
			ArrayType *a = DatumGetArrayTypeP(d);
			Datum *elems;
			bool *nulls;
			int k;

			deconstruct_array(a, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems,
							  &nulls, &r->nredeliver_from);
			r->redeliver_from = palloc(sizeof(int64) * Max(r->nredeliver_from, 1));
			for (k = 0; k < r->nredeliver_from; k++)
				r->redeliver_from[k] = nulls[k] ? 0 : DatumGetInt64(elems[k]);
		}
	}
	return recs;
}

/* The held changes delivered in this pass are in their topics now */
static void
delete_delivered_held(void)
{
	ListCell *lc;
	Datum arg;
	Oid type = INT8OID;

	foreach (lc, delivered_held)
	{
		arg = Int64GetDatum(*(int64 *) lfirst(lc));
		if (SPI_execute_with_args("DELETE FROM nagare.undelivered WHERE id = $1 AND action = 'held'",
								  1, &type, &arg, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not delete a delivered held change");
	}
	delivered_held = NIL;
}

/*
 * One pass: decode, append, wait, confirm.  Returns true if it decoded
 * something (the caller goes on at once).
 */
static bool
ingest_pass(void)
{
	bool		exists;
	XLogRecPtr	confirmed;
	XLogRecPtr	upto;
	XLogRecPtr	advance_to = InvalidXLogRecPtr;
	uint64		end_pos = 0;
	uint64		rows = 0;
	int			ret;
	uint64		i;
	IngestRecord *recs = NULL;
	int			nrecs = 0;
	int maxrecs = 0;
	IngestRecord *held = NULL;
	IngestTxn *held_txns = NULL;
	int nheld = 0;

	pass_generation = pg_atomic_read_u64(&nagare_shared->catalog_generation);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());

	if (!OidIsValid(get_extension_oid("nagare", true)))
	{
		/* dropped: the nagare worker drops the slot, which must be free */
		decoding_stop();
		goto done;
	}

	/*
	 * Only a broker that has recovered every partition shows what is
	 * stored: before that, a partition's tail would look empty, and records
	 * already stored would be appended again.
	 */
	if (pg_atomic_read_u32(&nagare_shared->broker_state) != NAGARE_BROKER_READY)
		goto done;
	confirmed = slot_confirmed(&exists);
	if (!exists)
	{
		/* created in a transaction of its own, which has written nothing */
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		ret = SPI_execute("SELECT pg_catalog.pg_create_logical_replication_slot('" NAGARE_SLOT_NAME
						  "', '" NAGARE_PLUGIN_NAME "')", false, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not create replication slot \"%s\"", NAGARE_SLOT_NAME);
		ereport(LOG, (errmsg("nagare ingest: created logical replication slot \"%s\"", NAGARE_SLOT_NAME)));
		goto done;
	}
	check_lag(confirmed);

	/*
	 * Held changes of resumed table topics first, then what was decoded.
	 * The policies are read when the pass meets its first table change.
	 */
	policies = NULL;
	policies_last_held = 0;
	delivered_held = NIL;
	if (any_held())
	{
		if (prepare_held())
			next_transaction();
		held = load_held(&nheld, &held_txns, &policies_last_held);
	}
	for (i = 0; i < (uint64) nheld; i++)
	{
		uint64 pos = append_records(&held[i], 1, &held_txns[i], false);

		end_pos = Max(end_pos, pos);
	}

	/* decode what is flushed, on from where the last pass stopped */
	upto = GetFlushRecPtr(NULL);
	if (decoding == NULL)
		decoding_start();
	decode_upto(upto);
	rows = ndecoded;
	{
		for (i = 0; i < rows; i++)
		{
			const char *p = decoded[i].data;
			const char *end = p + decoded[i].len;

			if (end - p < 1)
				continue;
			if (nrecs == maxrecs)
			{
				maxrecs = Max(64, maxrecs * 2);
				recs = recs ? repalloc(recs, sizeof(IngestRecord) * maxrecs) :
					palloc(sizeof(IngestRecord) * maxrecs);
			}
			switch (p[0])
			{
				case NAGARE_DECODE_MESSAGE:
					parse_message(p + 1, end, &recs[nrecs++]);
					break;
				case NAGARE_DECODE_CHANGE:
					/* the envelope needs the commit: keep the row for now */
					recs[nrecs].topic = NULL;
					recs[nrecs].value = (const uint8 *) p;
					recs[nrecs].value_len = (int32) (end - p);
					nrecs++;
					break;
				case NAGARE_DECODE_COMMIT:
					{
						const char *q = p + 1;
						XLogRecPtr	commit_lsn = (XLogRecPtr) get_int64(&q, end);
						XLogRecPtr	end_lsn = (XLogRecPtr) get_int64(&q, end);
						TimestampTz commit_time = (TimestampTz) get_int64(&q, end);
						uint32		xid = (uint32) get_int32(&q, end);
						int			k;

						for (k = 0; k < nrecs; k++)
							if (recs[k].topic == NULL)
							{
								const char *row = (const char *) recs[k].value;

								parse_change(row + 1, row + recs[k].value_len, &recs[k],
											 commit_lsn, commit_time, xid);
							}
						{
							IngestTxn x = {commit_lsn, commit_time, xid};
							uint64 pos = append_records(recs, nrecs, &x, false);

							end_pos = Max(end_pos, pos);
							note_latency(recs, nrecs, commit_time);
						}
						(void) end_lsn;
						nrecs = 0;
						break;
					}
				default:
					elog(ERROR, "unknown nagare decoding row kind %d", p[0]);
			}
		}
	}
	/*
	 * Every transaction that committed before the reader's position was
	 * written by the plugin (a transaction's rows come with its commit
	 * record), so appended in this pass or an earlier one.
	 */
	advance_to = decoding->reader->EndRecPtr;

	/* durable before the slot forgets it */
	if (end_pos > 0)
		nagare_queue_wait_durable(end_pos);
	nagare_ingest_latency_count();

	/*
	 * What could not be delivered (nagare.undelivered) is committed before
	 * the slot moves past it; held changes delivered again are forgotten
	 * once they are durable.
	 */
	delete_delivered_held();
	next_transaction();
	if (advance_to != InvalidXLogRecPtr && advance_to > confirmed)
	{
		TimestampTz now = GetCurrentTimestamp();

		decoding_confirm(advance_to);

		/*
		 * A restart (after an ERROR or a crash) decodes from the slot's
		 * restart point, which moves only when decoding meets a record of
		 * the running transactions; the checkpointer writes one every 15 s.
		 * One of our own every second keeps what a restart reads again
		 * short.
		 */
		if (TimestampDifferenceExceeds(last_standby_snapshot, now, 1000))
		{
			(void) LogStandbySnapshot();
			last_standby_snapshot = now;
		}
	}

done:
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextReset(rows_cxt);
	decoded = NULL;
	ndecoded = maxdecoded = 0;
	pgstat_report_activity(STATE_IDLE, NULL);
	policies = NULL;
	return rows > 0 || nheld > 0;
}

void
nagare_ingest_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(nagare_database, NULL, 0);
	pgstat_report_appname("nagare ingest");

	if (wal_level < WAL_LEVEL_LOGICAL)
	{
		ereport(LOG,
				(errmsg("nagare ingest: not started: nagare.publish() and table topics need wal_level = logical")));
		proc_exit(0);
	}

	rows_cxt = AllocSetContextCreate(TopMemoryContext, "nagare ingest rows",
									 ALLOCSET_DEFAULT_SIZES);
	SpinLockAcquire(&nagare_shared->broker_mutex);
	nagare_shared->ingest_procno = MyProc->pgprocno;
	SpinLockRelease(&nagare_shared->broker_mutex);
	before_shmem_exit(ingest_detach, (Datum) 0);

	for (;;)
	{
		bool		busy;
		static bool warned = false;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!nagare_output_plugin_allowed())
		{
			if (!warned)
				ereport(WARNING,
						(errmsg("nagare ingest: waiting: output_plugin_libraries does not name nagare"),
						 errdetail("Published records and table changes are kept in the WAL until it does."),
						 errhint("Add nagare to output_plugin_libraries and reload the configuration.")));
			warned = true;
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 10000, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			continue;
		}
		warned = false;
		pgstat_report_activity(STATE_RUNNING, "nagare ingest: decoding");
		busy = ingest_pass();
		if (busy)
			continue;
		if (WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					  1000, PG_WAIT_EXTENSION) & WL_LATCH_SET)
		{
			/*
			 * A commit woke us: give the commits right behind it 2 ms to
			 * join the same pass, which has a fixed cost of its own.
			 */
			pg_usleep(INGEST_COALESCE_US);
		}
		ResetLatch(MyLatch);
	}
}
