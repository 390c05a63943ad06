/*-------------------------------------------------------------------------
 *
 * slisync.c
 *	  The nagare worker's part in services' SLIs: every
 *	  nagare.sli_flush_interval (a minute by default) it runs
 *	  nagare.flush_sli(), which writes the minute's rows of
 *	  nagare.service_sli_minute (the produce counts of the usage table
 *	  since the last flush, instance health and consumer lag now) and
 *	  deletes rows older than nagare.sli_retention.
 *
 * The counts since the last flush are what the function finds in
 * nagare._sli_baseline, so a restart of the worker loses nothing, and one
 * of the server at most what was counted since the last flush (the minute
 * in progress, or the interval).  A failed flush is logged and tried
 * again at the next interval.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "pgstat.h"
#include "utils/elog.h"
#include "utils/timestamp.h"

#include "nagare.h"
#include "shmem.h"
#include "worker/worker.h"

static bool
flush_sql(void *arg)
{
	int ret;

	ret = SPI_execute("SELECT pg_catalog.to_regprocedure('nagare.flush_sli()') IS NOT NULL",
					  true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look up nagare.flush_sli(): %s",
			 SPI_result_code_string(ret));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
									&(bool){false})))
		return false;
	ret = SPI_execute("SELECT nagare.flush_sli()", false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not run nagare.flush_sli(): %s", SPI_result_code_string(ret));
	return true;
}

void
nagare_worker_sli_tick(void)
{
	static TimestampTz last = 0;
	TimestampTz now = GetCurrentTimestamp();
	ErrorData *edata;

	if (pg_atomic_read_u32(&nagare_shared->extension_state) == NAGARE_EXTENSION_ABSENT)
		return;
	if (last == 0)
		last = now; /* the first flush an interval after start */
	if (!TimestampDifferenceExceeds(last, now, nagare_sli_flush_interval * 1000 - 500))
		return;
	last = now;
	pgstat_report_activity(STATE_RUNNING, "nagare worker: flushing SLIs");
	edata = nagare_worker_sql(flush_sql, NULL);
	pgstat_report_activity(STATE_IDLE, NULL);
	if (edata != NULL)
	{
		ereport(LOG,
				(errmsg("nagare worker: could not flush the SLIs of services: %s",
						edata->message),
				 errhint(
					 "Tried again at the next interval; the counts wait in shared memory.")));
		FreeErrorData(edata);
	}
}
