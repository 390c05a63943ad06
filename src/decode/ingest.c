/*-------------------------------------------------------------------------
 *
 * ingest.c
 *	  The "nagare ingest" worker: appends what committed transactions
 *	  published (nagare.publish(), table topics) to their topics, exactly
 *	  once and in commit order.
 *
 * The worker owns the logical replication slot "nagare" (output plugin
 * "nagare", decode/plugin.c) and decodes it in its own process, through
 * pg_logical_slot_peek_binary_changes().  Each pass:
 *
 *	1. notes the WAL flush position L0 and decodes the slot up to it (at
 *	   most MAX_CHANGES rows, always whole transactions);
 *	2. for every decoded transaction, in commit order, appends its records
 *	   (one batch per partition) through the append ring, each record with
 *	   the header nagare.lsn = "<commit LSN>/<index>", skipping records a
 *	   previous run already stored: per partition, the worker knows the
 *	   largest nagare.lsn stored (found in the partition's tail at first use,
 *	   then kept up to date), and a transaction decoded again after a crash
 *	   has positions at or below it;
 *	3. waits until the appended records are durable (the broker's fsync);
 *	4. only then confirms the slot past them (pg_replication_slot_advance):
 *	   to L0 when the pass decoded everything up to it, else to the end of
 *	   the last transaction it appended.
 *
 * So a crash at any point loses nothing committed (the slot was not
 * confirmed past it) and writes nothing twice (what is stored is skipped).
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
#include "replication/slot.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/standby.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "decode/decode.h"
#include "kafka/byteorder.h"
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

/* One record of a decoded transaction */
typedef struct IngestRecord
{
	char	   *topic;
	int32		partition;		/* -1: by key */
	const uint8 *key;
	int32		key_len;
	const uint8 *value;
	int32		value_len;
	char	   *headers;		/* jsonb text, or NULL */
} IngestRecord;

/* Largest nagare.lsn stored per partition */
typedef struct Watermark
{
	NagarePartitionKey key;
	char		lsn[32];		/* "" when none */
} Watermark;

static HTAB *watermarks = NULL;
static TimestampTz last_lag_check = 0;
static TimestampTz last_standby_snapshot = 0;
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

/* A publish() message as a record */
static void
parse_message(const char *p, const char *end, IngestRecord *r)
{
	int32		len;
	const char *s;

	if (end - p < 1 || (uint8) p[0] != NAGARE_PAYLOAD_VERSION)
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

	p++;
	r->topic = get_string(&p, end);
	schema = get_string(&p, end);
	table = get_string(&p, end);
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

static bool
topic_exists(const char *name)
{
	Datum		arg = CStringGetTextDatum(name);
	Oid			type = TEXTOID;
	int			ret = SPI_execute_with_args("SELECT 1 FROM nagare.topic WHERE name = $1 AND deleted_at IS NULL",
											1, &type, &arg, NULL, true, 1);

	return ret == SPI_OK_SELECT && SPI_processed > 0;
}

/* Append one decoded transaction's records; returns the ring end position (0: nothing) */
static uint64
append_transaction(IngestRecord *recs, int n, XLogRecPtr commit_lsn, TimestampTz commit_time)
{
	uint64		end_pos = 0;
	int64		ts = (int64) (commit_time / 1000) +
		(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;
	int			i = 0;

	/* records of one topic at a time, in publish order */
	while (i < n)
	{
		const NagareTopicInfo *topic = NULL;
		int			j;
		int			count = 0;
		KafkaRecordIn *krecs = palloc(sizeof(KafkaRecordIn) * n);
		int32	   *parts = palloc(sizeof(int32) * n);
		int64	   *offsets = palloc(sizeof(int64) * n);
		char	   *name = recs[i].topic;

		/* a topic dropped since: its records have nowhere to go */
		if (topic_exists(name))
			topic = nagare_lookup_topic(name, false);

		for (j = i; j < n && strcmp(recs[j].topic, name) == 0; j++)
		{
			IngestRecord *r = &recs[j];
			KafkaRecordIn *k = &krecs[count];
			KafkaHeaderIn *user = NULL;
			int			nuser = 0;
			char		pos[32];
			Watermark  *w;
			int32		partition;

			if (topic == NULL)
				continue;
			k->key = r->key;
			k->key_len = r->key_len;
			k->value = r->value;
			k->value_len = r->value_len;
			k->timestamp = ts;
			if (r->headers)
				nuser = nagare_parse_headers(DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																				CStringGetDatum(r->headers))),
											 &user);
			if (r->partition >= 0 && r->partition < topic->partitions)
				partition = r->partition;
			else if (r->key_len >= 0)
				partition = nagare_choose_partition(topic, k, false, 0);
			else
			{
				/* no key: a partition that a second decoding chooses again */
				partition = (int32) ((hash_bytes_uint32((uint32) (commit_lsn ^ (commit_lsn >> 32))) + (uint32) j) %
									 (uint32) topic->partitions);
			}
			snprintf(pos, sizeof(pos), "%016llX/%08X", (unsigned long long) commit_lsn, (uint32) j);
			w = watermark(topic, partition);
			if (w->lsn[0] != '\0' && strcmp(pos, w->lsn) <= 0)
				continue;		/* stored before a crash */
			k->headers = palloc(sizeof(KafkaHeaderIn) * (nuser + 1));
			if (nuser > 0)
				memcpy((KafkaHeaderIn *) k->headers, user, sizeof(KafkaHeaderIn) * nuser);
			((KafkaHeaderIn *) k->headers)[nuser].key = (const uint8 *) NAGARE_LSN_HEADER;
			((KafkaHeaderIn *) k->headers)[nuser].key_len = strlen(NAGARE_LSN_HEADER);
			((KafkaHeaderIn *) k->headers)[nuser].value = (const uint8 *) pstrdup(pos);
			((KafkaHeaderIn *) k->headers)[nuser].value_len = strlen(pos);
			k->nheaders = nuser + 1;
			parts[count] = partition;
			strlcpy(w->lsn, pos, sizeof(w->lsn));
			count++;
		}
		if (topic == NULL)
			ereport(WARNING,
					(errmsg("nagare ingest: topic \"%s\" does not exist any more; %d published record(s) dropped",
							name, j - i)));
		else if (count > 0)
		{
			uint64		pos = nagare_append_records(topic, krecs, parts, count, ts, offsets,
														NULL, NULL);

			end_pos = Max(end_pos, pos);
		}
		i = j;
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
 * PostgreSQL logs "starting logical decoding" and "found consistent point"
 * (LOG, with details) every time a decoding context starts, which this
 * worker does twice a pass: those LOG lines are kept out of the server log.
 * Errors and warnings still go there.
 */
static bool quiet = false;
static emit_log_hook_type prev_emit_log_hook = NULL;

static void
ingest_emit_log(ErrorData *edata)
{
	if (quiet && edata->elevel == LOG)
		edata->output_to_server = false;
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

static void
quiet_begin(void)
{
	quiet = true;
}

static void
quiet_end(void)
{
	quiet = false;
}

/* A kept plan of one of the pass's statements (parsed once) */
static SPIPlanPtr
kept_plan(SPIPlanPtr *plan, const char *sql)
{
	Oid			argtype = LSNOID;

	if (*plan == NULL)
	{
		*plan = SPI_prepare(sql, 1, &argtype);
		if (*plan == NULL)
			elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		SPI_keepplan(*plan);
	}
	return *plan;
}

static SPIPlanPtr peek_plan = NULL;
static SPIPlanPtr advance_plan = NULL;

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
	int			maxrecs = 0;
	Datum		arg;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());

	if (!OidIsValid(get_extension_oid("nagare", true)))
		goto done;

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

	upto = GetFlushRecPtr(NULL);
	if (upto <= confirmed)
		goto done;
	arg = LSNGetDatum(upto);
	quiet_begin();
	ret = SPI_execute_plan(kept_plan(&peek_plan,
									 "SELECT data FROM pg_catalog.pg_logical_slot_peek_binary_changes('"
									 NAGARE_SLOT_NAME "', $1, " CppAsString2(MAX_CHANGES) ")"),
						   &arg, NULL, false, 0);
	quiet_end();
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not decode replication slot \"%s\": %s", NAGARE_SLOT_NAME,
			 SPI_result_code_string(ret));
	rows = SPI_processed;
	{
		SPITupleTable *tt = SPI_tuptable;

		for (i = 0; i < rows; i++)
		{
			bool		isnull;
			bytea	   *b = DatumGetByteaPP(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			const char *p = VARDATA_ANY(b);
			const char *end = p + VARSIZE_ANY_EXHDR(b);

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
							uint64		pos = append_transaction(recs, nrecs, commit_lsn, commit_time);

							end_pos = Max(end_pos, pos);
						}
						advance_to = end_lsn;
						nrecs = 0;
						break;
					}
				default:
					elog(ERROR, "unknown nagare decoding row kind %d", p[0]);
			}
		}
	}
	/* everything up to upto was decoded: nothing before it is left */
	if (rows < MAX_CHANGES)
		advance_to = upto;

	/* durable before the slot forgets it */
	if (end_pos > 0)
		nagare_queue_wait_durable(end_pos);
	if (advance_to != InvalidXLogRecPtr && advance_to > confirmed)
	{
		TimestampTz now = GetCurrentTimestamp();

		arg = LSNGetDatum(advance_to);
		quiet_begin();
		ret = SPI_execute_plan(kept_plan(&advance_plan,
										 "SELECT pg_catalog.pg_replication_slot_advance('" NAGARE_SLOT_NAME "', $1)"),
							   &arg, NULL, false, 0);
		quiet_end();
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not advance replication slot \"%s\"", NAGARE_SLOT_NAME);

		/*
		 * Decoding starts at the slot's restart point, which moves only
		 * when decoding meets a record of the running transactions; the
		 * checkpointer writes one every 15 s.  Each pass decodes from there,
		 * so under a steady stream of commits a pass would re-read up to
		 * 15 s of WAL.  A record of our own after the pass lets the next one
		 * move the restart point close to where it stops.
		 */
		if (TimestampDifferenceExceeds(last_standby_snapshot, now, 100))
		{
			(void) LogStandbySnapshot();
			last_standby_snapshot = now;
		}
	}

done:
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return rows > 0;
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

	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = ingest_emit_log;

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
