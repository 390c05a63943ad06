/*-------------------------------------------------------------------------
 *
 * offsets.c
 *	  The nagare worker's side of consumer groups: committed offsets in
 *	  nagare.group_offset.
 *
 * The broker's group coordinator (broker/group_offsets.c, group_admin.c)
 * sends requests through the channel to the worker (queue/channel.h; their
 * payloads are in shmem.h, NagareChannelKind), and requests.c hands this
 * file the ones about offsets that it took in one pass.  Offset commits are
 * batched: every commit of the pass goes into one transaction (one upsert
 * over all their rows, the latest commit of a partition winning), so a
 * storm of commits costs one WAL flush per batch, not per commit, and a
 * commit is acknowledged only once its transaction is durable.  The other
 * requests of the pass share a second transaction.  A failed transaction
 * fails each of its requests with the SQLSTATE and message.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "worker/offsets.h"
#include "worker/worker.h"

static const char commit_sql[] =
"INSERT INTO nagare.group_offset AS o "
"    (group_id, topic, partition, committed_offset, leader_epoch, metadata, committed_at) "
"SELECT DISTINCT ON (x.g, x.t, x.p) x.g, x.t, x.p, x.o, x.e, x.m, now() "
"  FROM jsonb_array_elements($1) WITH ORDINALITY AS a(j, n), "
"       jsonb_to_record(a.j) AS x(g text, t text, p integer, o bigint, e integer, m text) "
" ORDER BY x.g, x.t, x.p, a.n DESC "
"ON CONFLICT (group_id, topic, partition) DO UPDATE "
"   SET committed_offset = excluded.committed_offset, leader_epoch = excluded.leader_epoch, "
"       metadata = excluded.metadata, committed_at = excluded.committed_at";

static const char fetch_sql[] =
"SELECT topic, partition, committed_offset, coalesce(leader_epoch, -1), metadata "
"  FROM nagare.group_offset "
" WHERE group_id = $1::jsonb->>'g' "
"   AND ($1::jsonb->'t' IS NULL OR jsonb_typeof($1::jsonb->'t') = 'null' "
"        OR topic IN (SELECT jsonb_array_elements_text($1::jsonb->'t'))) "
" ORDER BY topic, partition";

static const char group_delete_sql[] =
"DELETE FROM nagare.group_offset WHERE group_id = $1::jsonb->>'g'";

static const char offset_delete_sql[] =
"DELETE FROM nagare.group_offset "
" WHERE group_id = $1::jsonb->>'g' AND topic = $1::jsonb->>'t' "
"   AND partition IN (SELECT jsonb_array_elements_text($1::jsonb->'p')::integer)";

static const char audit_delete_group_sql[] =
"SELECT pg_catalog.set_config('nagare.audit_operation', 'delete_group', true), "
"       pg_catalog.set_config('nagare.audit_client', coalesce($1::jsonb->>'k', ''), true)";

static const char audit_delete_offsets_sql[] =
"SELECT pg_catalog.set_config('nagare.audit_operation', 'delete_offsets', true), "
"       pg_catalog.set_config('nagare.audit_client', coalesce($1::jsonb->>'k', ''), true)";

/* The rows of an OffsetFetch, in the result format of shmem.h */
static void
fetch_rows(NagareWorkerRequest *job)
{
	Datum		arg = CStringGetTextDatum(job->payload);
	Oid			type = TEXTOID;
	int			ret;
	uint64		i;

	ret = SPI_execute_with_args(fetch_sql, 1, &type, &arg, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read committed offsets: %s", SPI_result_code_string(ret));
	pq_sendint32(&job->result, (uint32) SPI_processed);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *topic = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
		Datum		meta;

		pq_sendint16(&job->result, (uint16) strlen(topic));
		appendBinaryStringInfo(&job->result, topic, strlen(topic));
		pq_sendint32(&job->result, (uint32) DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull)));
		pq_sendint64(&job->result, (uint64) DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull)));
		pq_sendint32(&job->result, (uint32) DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull)));
		meta = SPI_getbinval(tup, desc, 5, &isnull);
		if (isnull)
			pq_sendint32(&job->result, (uint32) -1);
		else
		{
			char	   *m = TextDatumGetCString(meta);

			pq_sendint32(&job->result, (uint32) strlen(m));
			appendBinaryStringInfo(&job->result, m, strlen(m));
		}
	}
}

typedef struct RequestSet
{
	NagareWorkerRequest **reqs;
	int			n;
} RequestSet;

/*
 * Run fn over reqs[0..n) in one transaction; on error every one of them
 * gets the SQLSTATE and message.
 */
static void
run_in_transaction(NagareWorkerRequest **reqs, int n, bool (*fn) (void *set))
{
	RequestSet	set = {reqs, n};
	ErrorData  *edata = nagare_worker_sql(fn, &set);
	int			i;

	for (i = 0; i < n; i++)
	{
		if (edata == NULL)
		{
			strlcpy(reqs[i]->sqlstate, "00000", sizeof(reqs[i]->sqlstate));
			continue;
		}
		nagare_worker_request_failed(reqs[i], edata);
		resetStringInfo(&reqs[i]->result);
	}
	if (edata)
		FreeErrorData(edata);
}

/* One upsert over the rows of every commit */
static bool
do_commits(void *set)
{
	NagareWorkerRequest **jobs = ((RequestSet *) set)->reqs;
	int			n = ((RequestSet *) set)->n;
	StringInfoData all;
	Datum		arg;
	Oid			type = JSONBOID;
	int			ret;
	int			i;
	bool		first = true;

	initStringInfo(&all);
	appendStringInfoChar(&all, '[');
	for (i = 0; i < n; i++)
	{
		/* each payload is a JSON array: splice its elements in */
		char	   *p = jobs[i]->payload;
		size_t		len = strlen(p);

		Assert(len >= 2 && p[0] == '[' && p[len - 1] == ']');	/* the broker wrote it */
		if (len < 2 || p[0] != '[' || p[len - 1] != ']')
			elog(ERROR, "malformed offset commit request");
		if (len == 2)
			continue;
		if (!first)
			appendStringInfoChar(&all, ',');
		appendBinaryStringInfo(&all, p + 1, len - 2);
		first = false;
	}
	appendStringInfoChar(&all, ']');
	arg = DirectFunctionCall1(jsonb_in, CStringGetDatum(all.data));
	ret = SPI_execute_with_args(commit_sql, 1, &type, &arg, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not store committed offsets: %s", SPI_result_code_string(ret));
	return true;
}

/* Requests that each run their own statement */
static bool
do_each(void *set)
{
	NagareWorkerRequest **jobs = ((RequestSet *) set)->reqs;
	int			n = ((RequestSet *) set)->n;
	int			i;

	for (i = 0; i < n; i++)
	{
		NagareWorkerRequest *job = jobs[i];
		Datum		arg = CStringGetTextDatum(job->payload);
		Oid			type = TEXTOID;
		int			ret;

		switch (job->kind)
		{
			case NAGARE_GROUP_OFFSET_FETCH:
				fetch_rows(job);
				break;
			case NAGARE_GROUP_LIST:
				ret = SPI_execute("SELECT DISTINCT group_id FROM nagare.group_offset "
								  "WHERE length(group_id) <= 255 ORDER BY 1", true, 0);
				if (ret != SPI_OK_SELECT)
					elog(ERROR, "could not list consumer groups: %s", SPI_result_code_string(ret));
				pq_sendint32(&job->result, (uint32) SPI_processed);
				for (uint64 r = 0; r < SPI_processed; r++)
				{
					bool		isnull;
					char	   *g = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[r],
																	 SPI_tuptable->tupdesc, 1, &isnull));

					pq_sendint16(&job->result, (uint16) strlen(g));
					appendBinaryStringInfo(&job->result, g, strlen(g));
				}
				break;
			case NAGARE_GROUP_DELETE:
			case NAGARE_GROUP_OFFSET_DELETE:
				/* the audit trail's operation and Kafka client (sql/audit.c) */
				ret = SPI_execute_with_args(job->kind == NAGARE_GROUP_DELETE ?
											audit_delete_group_sql : audit_delete_offsets_sql,
											1, &type, &arg, NULL, false, 0);
				if (ret != SPI_OK_SELECT)
					elog(ERROR, "could not note the audit operation: %s",
						 SPI_result_code_string(ret));
				ret = SPI_execute_with_args(job->kind == NAGARE_GROUP_DELETE ?
											group_delete_sql : offset_delete_sql,
											1, &type, &arg, NULL, false, 0);
				if (ret != SPI_OK_DELETE)
					elog(ERROR, "could not delete committed offsets: %s",
						 SPI_result_code_string(ret));
				pq_sendint32(&job->result, (uint32) SPI_processed);
				break;
			default:
				elog(ERROR, "unknown request kind %d", (int) job->kind);
		}
	}
	return true;
}

/*
 * Carry out the consumer group requests of one pass (reqs[0..n), in the
 * order the broker made them) and fill in their answers.
 */
void
nagare_worker_run_offsets(NagareWorkerRequest **reqs, int n)
{
	NagareWorkerRequest **commits = palloc(sizeof(NagareWorkerRequest *) * n);
	NagareWorkerRequest **others = palloc(sizeof(NagareWorkerRequest *) * n);
	int			ncommits = 0;
	int			nothers = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (reqs[i]->kind == NAGARE_GROUP_OFFSET_COMMIT)
			commits[ncommits++] = reqs[i];
		else
			others[nothers++] = reqs[i];
	}

	pgstat_report_activity(STATE_RUNNING, "nagare worker: consumer group offsets");
	if (ncommits > 0)
		run_in_transaction(commits, ncommits, do_commits);
	if (nothers > 0)
		run_in_transaction(others, nothers, do_each);
	pgstat_report_activity(STATE_IDLE, NULL);

	pfree(commits);
	pfree(others);
}
