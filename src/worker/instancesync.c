/*-------------------------------------------------------------------------
 *
 * instancesync.c
 *	  The nagare worker's part in the registry's live instances: it loads
 *	  the shared instance table from nagare.service_instance at start, and
 *	  once a second runs the TTL sweep and writes status changes.
 *
 * The load: every row becomes an entry with its persisted status and a
 * fresh TTL (the TTL starts again at the load), unless a registration that
 * committed meanwhile put it there first.  Until the load, heartbeats are
 * refused (55000, "try again"); the shared table is empty after every
 * server start, and after a crash of any process, so it is loaded then.
 *
 * The sweep, once a second: an entry whose TTL lapsed becomes critical
 * ("TTL expired"; instances/instances.c), then every entry whose status is
 * not the one in the table (changed by a heartbeat or by the sweep) is
 * written, and every entry critical for longer than its
 * deregister_critical_after is deleted (an audit row, as this worker's
 * role; its entry goes when the transaction commits, sql/service_instances.c): all
 * in one transaction.  Heartbeats themselves write nothing.
 *
 * After DROP EXTENSION the shared table is emptied, and loaded again when
 * the extension exists.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "instances/instances.h"
#include "loglimit.h"
#include "nagare.h"
#include "worker/worker.h"

#define SWEEP_MS 1000

typedef struct SweepBatch
{
	int nchanged;
	Datum *ids;
	Datum *statuses;
	Datum *outputs;
	bool *output_nulls;
	Datum *ats;
	int *status;
	int nderegister;
	Datum *deregister;
	bool absent; /* the extension is not there */
} SweepBatch;

static bool
extension_there(void)
{
	int ret;
	bool isnull;

	ret =
		SPI_execute("SELECT pg_catalog.to_regclass('nagare.service_instance') IS NOT NULL",
					true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look up nagare.service_instance: %s",
			 SPI_result_code_string(ret));
	return DatumGetBool(
		SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* Copy nagare.service_instance into the shared table */
static bool
load_sql(void *arg)
{
	bool *absent = (bool *) arg;
	TimestampTz now = GetCurrentTimestamp();
	int ret;
	uint64 i;
	int added = 0;
	int full = 0;

	if (!extension_there())
	{
		*absent = true;
		return true;
	}
	*absent = false;
	ret =
		SPI_execute("SELECT id, service, address, port, tags, ttl, deregister_critical_after, "
					"status, output, status_changed_at, meta::text FROM nagare.service_instance",
					true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read nagare.service_instance: %s",
			 SPI_result_code_string(ret));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple tup = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;
		NagareInstance e;
		bool isnull;
		Datum d;
		char *s;
		bool is_full;

		memset(&e, 0, sizeof(e));
		strlcpy(e.id, TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull)),
				sizeof(e.id));
		strlcpy(e.service, TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull)),
				sizeof(e.service));
		d = SPI_getbinval(tup, desc, 3, &isnull);
		if (!isnull)
			strlcpy(e.address, TextDatumGetCString(d), sizeof(e.address));
		nagare_instance_parse_address(&e);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		e.port = isnull ? 0 : DatumGetInt32(d);
		d = SPI_getbinval(tup, desc, 5, &isnull);
		if (!isnull)
		{
			Datum *elems;
			bool *enulls;
			int nelems;
			int j;

			deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, &enulls, &nelems);
			for (j = 0; j < nelems; j++)
				if (!enulls[j])
					(void) nagare_instance_add_tag(&e, TextDatumGetCString(elems[j]));
		}
		d = SPI_getbinval(tup, desc, 6, &isnull);
		e.ttl_ms = isnull ? 0 : nagare_instance_interval_ms(DatumGetIntervalP(d));
		d = SPI_getbinval(tup, desc, 7, &isnull);
		e.deregister_after_ms =
			isnull ? 0 : nagare_instance_interval_ms(DatumGetIntervalP(d));
		s = TextDatumGetCString(SPI_getbinval(tup, desc, 8, &isnull));
		e.status = nagare_instance_status_parse(s);
		if (e.status < 0)
			e.status = NAGARE_INSTANCE_CRITICAL;
		e.persisted_status = e.status;
		d = SPI_getbinval(tup, desc, 9, &isnull);
		if (!isnull)
			strlcpy(e.output, TextDatumGetCString(d), sizeof(e.output));
		d = SPI_getbinval(tup, desc, 10, &isnull);
		e.status_changed_at = isnull ? now : DatumGetTimestampTz(d);
		d = SPI_getbinval(tup, desc, 11, &isnull);
		if (!isnull)
			strlcpy(e.meta, TextDatumGetCString(d), sizeof(e.meta));
		e.last_beat = now;
		e.used = true;
		if (nagare_instance_add_absent(&e, &is_full))
			added++;
		if (is_full)
			full++;
	}
	if (full > 0)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("%d registered instances are not live: nagare.max_instances (%d) are",
						full, nagare_max_instances),
				 errhint("Raise nagare.max_instances and restart the server.")));
	ereport(DEBUG1, (errmsg("nagare worker: loaded %d live instances", added)));
	return true;
}

/* Write the batch's status changes and deregistrations */
static bool
persist_sql(void *arg)
{
	SweepBatch *b = (SweepBatch *) arg;
	int ret;
	uint64 i;

	if (!extension_there())
	{
		b->absent = true;
		return true;
	}
	if (b->nchanged > 0)
	{
		Oid types[4] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID};
		Datum args[4];
		int dims[1] = {b->nchanged};
		int lbs[1] = {1};

		args[0] = PointerGetDatum(
			construct_array(b->ids, b->nchanged, TEXTOID, -1, false, TYPALIGN_INT));
		args[1] = PointerGetDatum(
			construct_array(b->statuses, b->nchanged, TEXTOID, -1, false, TYPALIGN_INT));
		args[2] =
			PointerGetDatum(construct_md_array(b->outputs, b->output_nulls, 1, dims, lbs,
											   TEXTOID, -1, false, TYPALIGN_INT));
		args[3] = PointerGetDatum(construct_array(b->ats, b->nchanged, TIMESTAMPTZOID, 8,
												  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		ret =
			SPI_execute_with_args("UPDATE nagare.service_instance i "
								  "SET status = v.status, output = v.output, status_changed_at = v.at "
								  "FROM unnest($1, $2, $3, $4) AS v(id, status, output, at) "
								  "WHERE i.id = v.id",
								  4, types, args, NULL, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "could not write the status of instances: %s",
				 SPI_result_code_string(ret));
	}
	if (b->nderegister > 0)
	{
		Oid types[1] = {TEXTARRAYOID};
		Datum args[1];

		args[0] = PointerGetDatum(construct_array(b->deregister, b->nderegister, TEXTOID,
												  -1, false, TYPALIGN_INT));
		ret =
			SPI_execute_with_args("DELETE FROM nagare.service_instance WHERE id = ANY ($1) "
								  "RETURNING service, id, deregister_critical_after::text",
								  1, types, args, NULL, false, 0);
		if (ret != SPI_OK_DELETE_RETURNING)
			elog(ERROR, "could not deregister instances: %s", SPI_result_code_string(ret));
		for (i = 0; i < SPI_processed; i++)
			ereport(LOG,
					(errmsg("nagare worker: deregistered instance \"%s\" of service \"%s\": critical for longer than %s",
							SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2),
							SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
							SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3))));
	}
	return true;
}

static void
report(ErrorData *edata, const char *what)
{
	static NagareLogLimit report_log = NAGARE_LOG_LIMIT(1, 60000);

	if (nagare_log_due(&report_log))
		ereport(LOG, (errmsg("nagare worker: could not %s: %s", what, edata->message)));
	FreeErrorData(edata);
}

/*
 * Load the shared table if it is not, and sweep once a second.  Returns
 * true while the extension exists: the worker's loop then comes back
 * within a second.
 */
bool
nagare_worker_instances(void)
{
	static TimestampTz last_sweep = 0;
	TimestampTz now = GetCurrentTimestamp();
	NagareInstance *copies;
	int n;
	int i;
	SweepBatch b;
	ErrorData *edata;

	if (pg_atomic_read_u32(&nagare_shared->extension_state) == NAGARE_EXTENSION_ABSENT)
	{
		if (pg_atomic_read_u32(&nagare_instances->loaded) != 0)
		{
			nagare_instance_clear();
			pg_atomic_write_u32(&nagare_instances->loaded, 0);
		}
		return false;
	}
	if (pg_atomic_read_u32(&nagare_instances->loaded) == 0)
	{
		bool absent = true;

		pgstat_report_activity(STATE_RUNNING, "nagare worker: loading instances");
		edata = nagare_worker_sql(load_sql, &absent);
		pgstat_report_activity(STATE_IDLE, NULL);
		if (edata != NULL)
		{
			report(edata, "load the live instances");
			return true;
		}
		if (absent)
			return true;
		pg_atomic_write_u32(&nagare_instances->loaded, 1);
	}
	if (!TimestampDifferenceExceeds(last_sweep, now, SWEEP_MS - 10))
		return true;
	last_sweep = now;

	(void) nagare_instance_expire(now);
	n = nagare_instance_snapshot(&copies);
	memset(&b, 0, sizeof(b));
	b.ids = palloc(sizeof(Datum) * Max(n, 1));
	b.statuses = palloc(sizeof(Datum) * Max(n, 1));
	b.outputs = palloc(sizeof(Datum) * Max(n, 1));
	b.output_nulls = palloc(sizeof(bool) * Max(n, 1));
	b.ats = palloc(sizeof(Datum) * Max(n, 1));
	b.status = palloc(sizeof(int) * Max(n, 1));
	b.deregister = palloc(sizeof(Datum) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		NagareInstance *e = &copies[i];

		if (e->status == NAGARE_INSTANCE_CRITICAL && e->deregister_after_ms > 0 &&
			now >= TimestampTzPlusMilliseconds(e->status_changed_at, e->deregister_after_ms))
		{
			b.deregister[b.nderegister++] = CStringGetTextDatum(e->id);
			continue;
		}
		if (e->status == e->persisted_status)
			continue;
		b.ids[b.nchanged] = CStringGetTextDatum(e->id);
		b.statuses[b.nchanged] =
			CStringGetTextDatum(nagare_instance_status_name(e->status));
		b.output_nulls[b.nchanged] = e->output[0] == '\0';
		b.outputs[b.nchanged] =
			b.output_nulls[b.nchanged] ? (Datum) 0 : CStringGetTextDatum(e->output);
		b.ats[b.nchanged] = TimestampTzGetDatum(e->status_changed_at);
		b.status[b.nchanged] = e->status;
		b.nchanged++;
	}
	if (b.nchanged > 0 || b.nderegister > 0)
	{
		pgstat_report_activity(STATE_RUNNING, "nagare worker: writing instance status");
		edata = nagare_worker_sql(persist_sql, &b);
		pgstat_report_activity(STATE_IDLE, NULL);
		if (edata != NULL)
			report(edata, "write the status of instances");
		else if (b.absent)
		{
			nagare_instance_clear();
			pg_atomic_write_u32(&nagare_instances->loaded, 0);
		}
		else
		{
			for (i = 0; i < b.nchanged; i++)
				nagare_instance_persisted(TextDatumGetCString(b.ids[i]), b.status[i]);
			/* the writes show in pg_stat_user_tables (at most once a sweep) */
			pgstat_report_stat(true);
		}
	}
	pfree(copies);
	return true;
}
