/*-------------------------------------------------------------------------
 *
 * depsflush.c
 *	  The nagare worker's flush of the observed dependency edges: every
 *	  nagare.dependency_flush_interval, what the shared dependency table
 *	  (../deps/deps.h) counted since the last flush goes into
 *	  nagare.observed_dependency.
 *
 * One transaction per flush upserts a row per edge that moved (records
 * and bytes added, last_seen the flush's time) and updates the rates of
 * those whose rate alone changed (a row deleted meanwhile stays deleted
 * until the edge moves again).  An
 * edge's flushed counts (NagareDepsEdge.flushed_*, this process's only)
 * move on only once that transaction committed, so a failed flush is
 * retried whole at the next; what was counted after the last flush before
 * a shutdown is lost (at most one interval).  The table's totals carry on
 * across restarts: a new server's edges start at zero and add to them.
 *
 * The rates: records and bytes per second over the last minute, from a
 * ring of this process's samples of every edge's counts, one per flush:
 * since the newest sample at least 60 s old, else since the edge's
 * first_seen, when its counts were zero (a window of at least a second;
 * after a restart of this process alone, an edge older than its samples
 * is averaged since first_seen until a sample is a minute old).
 *
 * Topic ids become names here (nagare.topic, deleted topics too); the
 * overflow edge is written as source 'overflow' with empty names.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "deps/deps.h"
#include "nagare.h"
#include "worker/worker.h"

#define RATE_WINDOW_SECS 60
#define NSAMPLES         64 /* a minute of 1-second flushes, and more */

typedef struct Sample
{
	TimestampTz at;
	int n; /* edges then (the overflow edge apart) */
	uint64 *records; /* n + 1: the overflow edge last */
	uint64 *bytes;
} Sample;

static Sample samples[NSAMPLES];
static int nsamples = 0;
static int sample_next = 0; /* where the next sample goes */
static TimestampTz next_flush = 0;

/* the rates last written, per edge (the overflow edge at max) */
static float8 *written_rps = NULL;
static float8 *written_bps = NULL;
static bool *written = NULL;
static bool flush_failed_logged = false;

typedef struct Flush
{
	TimestampTz now;
	int n; /* rows */
	int *edge; /* their edges */
	uint64 *records; /* counts read */
	uint64 *bytes;
	float8 *rps;
	float8 *bps;
	bool absent; /* the extension is not there */
} Flush;

/* s as text of the database encoding: invalid bytes become '?' */
static Datum
text_of(const char *s)
{
	int len = strlen(s);
	char *copy;
	int i;

	if (pg_verifymbstr(s, len, true))
		return CStringGetTextDatum(s);
	copy = pstrdup(s);
	for (i = 0; i < len;)
	{
		int l = pg_encoding_verifymbchar(GetDatabaseEncoding(), copy + i, len - i);

		if (l <= 0)
		{
			copy[i] = '?';
			l = 1;
		}
		i += l;
	}
	return CStringGetTextDatum(copy);
}

static ArrayType *
array_of(Datum *values, int n, Oid type)
{
	int16 typlen;
	bool typbyval;
	char typalign;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return construct_array(values, n, type, typlen, typbyval, typalign);
}

static bool
flush_sql(void *arg)
{
	Flush *f = (Flush *) arg;
	NagareDepsShared *d = nagare_deps;
	Datum *cols[12];
	Datum args[13];
	Oid types[13];
	static const Oid coltypes[12] = {TEXTOID, TEXTOID, TEXTOID,   TEXTOID,
									 INT4OID, TEXTOID, TEXTOID,   TIMESTAMPTZOID,
									 INT8OID, INT8OID, FLOAT8OID, FLOAT8OID};
	bool isnull;
	int ret;
	int c;
	int i;

	ret =
		SPI_execute("SELECT pg_catalog.to_regclass('nagare.observed_dependency') IS NOT NULL",
					true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look up nagare.observed_dependency");
	if (!DatumGetBool(
			SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
	{
		f->absent = true;
		return false;
	}
	for (c = 0; c < 12; c++)
		cols[c] = palloc(sizeof(Datum) * Max(f->n, 1));
	for (i = 0; i < f->n; i++)
	{
		NagareDepsEdge *e = &d->edges[f->edge[i]];
		const NagareDepsKey *k = &e->key;

		cols[0][i] = CStringGetTextDatum(nagare_deps_source_name(k->source));
		cols[1][i] = text_of(k->tenant);
		cols[2][i] = text_of(k->principal);
		cols[3][i] = text_of(k->client_id);
		cols[4][i] = Int32GetDatum(k->topic_id);
		cols[5][i] = CStringGetTextDatum(nagare_deps_kind_name(k->kind));
		cols[6][i] = text_of(k->group);
		cols[7][i] = TimestampTzGetDatum(e->first_seen);
		cols[8][i] = Int64GetDatum((int64) (f->records[i] - e->flushed_records));
		cols[9][i] = Int64GetDatum((int64) (f->bytes[i] - e->flushed_bytes));
		cols[10][i] = Float8GetDatum(f->rps[i]);
		cols[11][i] = Float8GetDatum(f->bps[i]);
	}
	for (c = 0; c < 12; c++)
	{
		args[c] = PointerGetDatum(array_of(cols[c], f->n, coltypes[c]));
		types[c] = get_array_type(coltypes[c]);
	}
	args[12] = TimestampTzGetDatum(f->now);
	types[12] = TIMESTAMPTZOID;
	ret =
		SPI_execute_with_args("INSERT INTO nagare.observed_dependency AS o"
							  "  (source, tenant, principal, client_id, topic, kind, group_id, first_seen,"
							  "   last_seen, records, bytes, records_per_sec, bytes_per_sec, flushed_at)"
							  " SELECT u.source, u.tenant, u.principal, u.client_id, coalesce(t.name, ''),"
							  "        u.kind, u.grp, u.first_seen, $13, u.drec, u.dbytes, u.rps, u.bps, $13"
							  "   FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
							  "        AS u(source, tenant, principal, client_id, topic_id, kind, grp, first_seen,"
							  "             drec, dbytes, rps, bps)"
							  "   LEFT JOIN nagare.topic t ON t.id = u.topic_id"
							  "  WHERE u.drec > 0 OR u.dbytes > 0"
							  " ON CONFLICT (source, tenant, principal, client_id, topic, kind, group_id) DO UPDATE"
							  "   SET records = o.records + EXCLUDED.records, bytes = o.bytes + EXCLUDED.bytes,"
							  "       last_seen = CASE WHEN EXCLUDED.records > 0 OR EXCLUDED.bytes > 0"
							  "                        THEN EXCLUDED.last_seen ELSE o.last_seen END,"
							  "       first_seen = least(o.first_seen, EXCLUDED.first_seen),"
							  "       records_per_sec = EXCLUDED.records_per_sec,"
							  "       bytes_per_sec = EXCLUDED.bytes_per_sec, flushed_at = EXCLUDED.flushed_at",
							  13, types, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not write nagare.observed_dependency: %s",
			 SPI_result_code_string(ret));
	/* only the rate moved: the row, if it is still there */
	ret =
		SPI_execute_with_args("UPDATE nagare.observed_dependency AS o"
							  "   SET records_per_sec = u.rps, bytes_per_sec = u.bps, flushed_at = $13"
							  "  FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
							  "       AS u(source, tenant, principal, client_id, topic_id, kind, grp, first_seen,"
							  "            drec, dbytes, rps, bps)"
							  "  LEFT JOIN nagare.topic t ON t.id = u.topic_id"
							  " WHERE u.drec = 0 AND u.dbytes = 0 AND o.source = u.source AND o.tenant = u.tenant"
							  "   AND o.principal = u.principal AND o.client_id = u.client_id"
							  "   AND o.topic = coalesce(t.name, '') AND o.kind = u.kind AND o.group_id = u.grp",
							  13, types, args, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "could not write nagare.observed_dependency: %s",
			 SPI_result_code_string(ret));
	return true;
}

/* edge i's counts in sample s (0 for an edge newer than s) */
static bool
sample_has(const Sample *s, int i, int max)
{
	return i == max || i < s->n;
}

static int
sample_index(const Sample *s, int i, int max)
{
	return i == max ? s->n : i;
}

static void
rate_of(int i, int max, uint64 records, uint64 bytes, TimestampTz now, float8 *rps,
		float8 *bps)
{
	NagareDepsEdge *e = &nagare_deps->edges[i];
	TimestampTz base_at = e->first_seen;
	uint64 base_records = 0;
	uint64 base_bytes = 0;
	TimestampTz cutoff = now - (TimestampTz) RATE_WINDOW_SECS * USECS_PER_SEC;
	const Sample *best = NULL;
	float8 secs;
	int k;

	/*
	 * newest first: the newest sample at least a minute old that has the
	 * edge; without one, the edge's first_seen, when it had counted nothing
	 */
	for (k = 1; k <= nsamples; k++)
	{
		const Sample *s = &samples[(sample_next - k + NSAMPLES) % NSAMPLES];

		if (!sample_has(s, i, max))
			break;
		if (s->at <= cutoff)
		{
			best = s;
			break;
		}
	}
	if (best != NULL)
	{
		base_at = best->at;
		base_records = best->records[sample_index(best, i, max)];
		base_bytes = best->bytes[sample_index(best, i, max)];
	}
	secs = Max((float8) (now - base_at) / USECS_PER_SEC, 1.0);
	*rps = records >= base_records ? (float8) (records - base_records) / secs : 0;
	*bps = bytes >= base_bytes ? (float8) (bytes - base_bytes) / secs : 0;
	/* three significant digits are plenty, and keep rows from moving for nothing */
	*rps = rint(*rps * 1000) / 1000;
	*bps = rint(*bps * 1000) / 1000;
}

long
nagare_worker_flush_dependencies(void)
{
	NagareDepsShared *d = nagare_deps;
	TimestampTz now = GetCurrentTimestamp();
	MemoryContext cxt;
	MemoryContext old;
	ErrorData *edata;
	Flush f;
	uint64 *records;
	uint64 *bytes;
	Sample *s;
	int n;
	int i;

	if (now < next_flush)
		return (long) ((next_flush - now) / 1000) + 1;
	next_flush = now + (TimestampTz) nagare_dependency_flush_interval_s * USECS_PER_SEC;
	if (written == NULL)
	{
		written_rps =
			MemoryContextAllocZero(TopMemoryContext, sizeof(float8) * (d->max + 1));
		written_bps =
			MemoryContextAllocZero(TopMemoryContext, sizeof(float8) * (d->max + 1));
		written = MemoryContextAllocZero(TopMemoryContext, sizeof(bool) * (d->max + 1));
	}

	cxt = AllocSetContextCreate(CurrentMemoryContext, "nagare dependency flush",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	n = nagare_deps_used();
	records = MemoryContextAlloc(TopMemoryContext, sizeof(uint64) * (n + 1));
	bytes = MemoryContextAlloc(TopMemoryContext, sizeof(uint64) * (n + 1));
	memset(&f, 0, sizeof(f));
	f.now = now;
	f.edge = palloc(sizeof(int) * (n + 1));
	f.records = palloc(sizeof(uint64) * (n + 1));
	f.bytes = palloc(sizeof(uint64) * (n + 1));
	f.rps = palloc(sizeof(float8) * (n + 1));
	f.bps = palloc(sizeof(float8) * (n + 1));
	for (i = 0; i <= n; i++)
	{
		int edge = i < n ? i : d->max;
		NagareDepsEdge *e = &d->edges[edge];
		float8 rps;
		float8 bps;

		records[i] = pg_atomic_read_u64(&e->records);
		bytes[i] = pg_atomic_read_u64(&e->bytes);
		if (bytes[i] == 0 && records[i] == 0)
			continue; /* the overflow edge, never used */
		rate_of(edge, d->max, records[i], bytes[i], now, &rps, &bps);
		if (records[i] == e->flushed_records && bytes[i] == e->flushed_bytes &&
			written[edge] && written_rps[edge] == rps && written_bps[edge] == bps)
			continue;
		f.edge[f.n] = edge;
		f.records[f.n] = records[i];
		f.bytes[f.n] = bytes[i];
		f.rps[f.n] = rps;
		f.bps[f.n] = bps;
		f.n++;
	}
	MemoryContextSwitchTo(old);

	edata = f.n > 0 ? nagare_worker_sql(flush_sql, &f) : NULL;
	if (edata != NULL)
	{
		if (!flush_failed_logged)
			ereport(WARNING,
					(errmsg("nagare worker: could not write the observed dependencies: %s",
							edata->message),
					 errdetail(
						 "The flush is tried again every nagare.dependency_flush_interval; this is logged once until one succeeds.")));
		flush_failed_logged = true;
		FreeErrorData(edata);
	}
	else if (!f.absent)
	{
		flush_failed_logged = false;
		for (i = 0; i < f.n; i++)
		{
			NagareDepsEdge *e = &d->edges[f.edge[i]];

			e->flushed_records = f.records[i];
			e->flushed_bytes = f.bytes[i];
			written[f.edge[i]] = true;
			written_rps[f.edge[i]] = f.rps[i];
			written_bps[f.edge[i]] = f.bps[i];
		}
	}
	MemoryContextDelete(cxt);

	/* this flush's counts become a sample for the rates */
	s = &samples[sample_next];
	if (s->records != NULL)
	{
		pfree(s->records);
		pfree(s->bytes);
	}
	s->at = now;
	s->n = n;
	s->records = records;
	s->bytes = bytes;
	sample_next = (sample_next + 1) % NSAMPLES;
	if (nsamples < NSAMPLES)
		nsamples++;
	return (long) nagare_dependency_flush_interval_s * 1000;
}
