/*-------------------------------------------------------------------------
 *
 * metricsnap.c
 *	  The nagare worker's snapshot for GET /metrics of what only SQL knows:
 *	  every nagare.metrics_snapshot_interval (15 s by default) it reads
 *	  nagare.consumer_lag (the largest lag_seconds per group and topic) and
 *	  nagare.slo_status (each SLO's SLI, error budget and burn rates) and
 *	  writes them packed into shared memory (NagareMetricsSnapshot in
 *	  ../shmem.h), which the http process formats without SQL.
 *
 * Lag pairs past nagare.metrics_max_group_series, and entries that do not
 * fit NAGARE_METRICS_SNAPSHOT_BYTES, are left out and counted as dropped.
 * A failed snapshot is logged and tried again at the next interval; the
 * last one stays (its time is in /metrics, so its age shows).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "executor/spi.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/timestamp.h"

#include "nagare.h"
#include "shmem.h"
#include "worker/worker.h"

typedef struct SnapBuild
{
	char *data;
	uint32 len;
	uint32 dropped;
} SnapBuild;

/* one entry: kind, n doubles, nstr strings; false (dropped) if it does not fit */
static bool
put_entry(SnapBuild *b, char kind, const double *v, int n, const char **str, int nstr)
{
	size_t need = 1 + sizeof(double) * n;
	int i;

	for (i = 0; i < nstr; i++)
		need += strlen(str[i]) + 1;
	if (b->len + need > NAGARE_METRICS_SNAPSHOT_BYTES)
	{
		b->dropped++;
		return false;
	}
	b->data[b->len++] = kind;
	memcpy(b->data + b->len, v, sizeof(double) * n);
	b->len += sizeof(double) * n;
	for (i = 0; i < nstr; i++)
	{
		size_t l = strlen(str[i]) + 1;

		memcpy(b->data + b->len, str[i], l);
		b->len += l;
	}
	return true;
}

/* column col of row as a double, NaN for NULL */
static double
col_double(int row, int col)
{
	bool isnull;
	Datum d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? NAN : DatumGetFloat8(d);
}

static const char *
col_text(int row, int col)
{
	char *s = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);

	return s ? s : "";
}

static bool
snapshot_sql(void *arg)
{
	SnapBuild *b = arg;
	int ret;
	uint64 i;

	ret = SPI_execute("SELECT pg_catalog.to_regclass('nagare.consumer_lag') IS NOT NULL "
					  "AND pg_catalog.to_regclass('nagare.slo_status') IS NOT NULL",
					  true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look up nagare.consumer_lag: %s",
			 SPI_result_code_string(ret));
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
									&(bool){false})))
		return false;

	ret = SPI_execute("SELECT group_id, topic, max(lag_seconds)::float8 "
					  "FROM nagare.consumer_lag GROUP BY 1, 2 ORDER BY 1, 2",
					  true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read nagare.consumer_lag: %s", SPI_result_code_string(ret));
	for (i = 0; i < SPI_processed; i++)
	{
		double v = col_double(i, 3);
		const char *s[2];

		if (i >= (uint64) nagare_metrics_max_group_series)
		{
			b->dropped++;
			continue;
		}
		s[0] = col_text(i, 1);
		s[1] = col_text(i, 2);
		(void) put_entry(b, 'L', &v, 1, s, 2);
	}

	ret = SPI_execute("SELECT service, name, sli, objective::float8, sli_value, "
					  "error_budget_remaining, burn_rate_5m, burn_rate_30m, burn_rate_1h, "
					  "burn_rate_2h, burn_rate_6h, burn_rate_1d, burn_rate_3d "
					  "FROM nagare.slo_status ORDER BY 1, 2",
					  true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read nagare.slo_status: %s", SPI_result_code_string(ret));
	for (i = 0; i < SPI_processed; i++)
	{
		double v[NAGARE_METRICS_SLO_NVALUES];
		const char *s[3];
		int k;

		for (k = 0; k < NAGARE_METRICS_SLO_NVALUES; k++)
			v[k] = col_double(i, 4 + k);
		for (k = 0; k < 3; k++)
			s[k] = col_text(i, 1 + k);
		(void) put_entry(b, 'S', v, NAGARE_METRICS_SLO_NVALUES, s, 3);
	}
	return false; /* read only: roll back */
}

void
nagare_worker_metrics_snapshot(void)
{
	static TimestampTz last = 0;
	TimestampTz now = GetCurrentTimestamp();
	NagareMetricsSnapshot *snap = nagare_metrics_snapshot;
	SnapBuild b;
	ErrorData *edata;

	if (nagare_metrics_snapshot_interval <= 0 || snap == NULL ||
		pg_atomic_read_u32(&nagare_shared->extension_state) == NAGARE_EXTENSION_ABSENT)
		return;
	if (last != 0 &&
		!TimestampDifferenceExceeds(last, now,
									nagare_metrics_snapshot_interval * 1000 - 500))
		return;
	last = now;
	b.data = palloc(NAGARE_METRICS_SNAPSHOT_BYTES);
	b.len = 0;
	b.dropped = 0;
	pgstat_report_activity(STATE_RUNNING, "nagare worker: metrics snapshot");
	edata = nagare_worker_sql(snapshot_sql, &b);
	pgstat_report_activity(STATE_IDLE, NULL);
	if (edata != NULL)
	{
		ereport(LOG,
				(errmsg("nagare worker: could not take the snapshot of lag and SLOs for /metrics: %s",
						edata->message),
				 errhint(
					 "Tried again at the next nagare.metrics_snapshot_interval; /metrics keeps the last one.")));
		FreeErrorData(edata);
		pfree(b.data);
		return;
	}
	pg_atomic_fetch_add_u32(&snap->change, 1);
	pg_write_barrier();
	snap->taken_at = now;
	snap->len = b.len;
	snap->dropped = b.dropped;
	memcpy(snap->data, b.data, b.len);
	pg_write_barrier();
	pg_atomic_fetch_add_u32(&snap->change, 1);
	pfree(b.data);
}
