/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  What the nagare worker's parts share (worker.c, requests.c,
 *	  offsets.c, auth.c, aclsync.c, quotasync.c).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_WORKER_WORKER_H
#define NAGARE_WORKER_WORKER_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "queue/channel.h"

/*
 * A request from the broker, copied out of the channel (requests.c), and
 * its answer: sqlstate "00000" and result, or the error's sqlstate and
 * message.
 */
typedef struct NagareWorkerRequest
{
	NagareChannelClient client; /* who asked: the broker or the http process */
	NagareChannelKind kind;
	uint64		id;
	char	   *payload;		/* NUL-terminated copy of the JSON */
	uint32		len;
	char		sqlstate[6];
	char		message[NAGARE_CHANNEL_MESSAGE_MAX];
	StringInfoData result;		/* binary, in the kind's format (shmem.h) */
} NagareWorkerRequest;

/* worker.c */
extern ErrorData *nagare_worker_sql(bool (*fn) (void *arg), void *arg);

/* auth.c */
extern void nagare_worker_run_auth(NagareWorkerRequest **reqs, int n);
/* aclsync.c */
extern void nagare_worker_sync_acls(void);
extern void nagare_worker_run_acl_change(NagareWorkerRequest *req);
/* quotasync.c */
extern void nagare_worker_sync_quotas(bool force);

/* instancesync.c: load the live instances, sweep TTLs (true: call again in a second) */
extern bool nagare_worker_instances(void);
extern void nagare_worker_run_quota_change(NagareWorkerRequest *req);

/* slisync.c: nagare.flush_sli() once a minute */
extern void nagare_worker_sli_tick(void);

/* metricsnap.c: lag in time and SLO status into shared memory for /metrics */
extern void nagare_worker_metrics_snapshot(void);
/* depsflush.c: the observed dependencies, when due; ms until the next flush */
extern long nagare_worker_flush_dependencies(void);

/* registrations.c */
extern void nagare_worker_run_registrations(NagareWorkerRequest **reqs, int n);
/* consolequery.c: the console's read-only queries, as the role */
extern void nagare_worker_run_console(NagareWorkerRequest *req);

/* for the SQL of requests: a string member of a JSON payload; SET LOCAL */
extern char *nagare_worker_json_string(Jsonb *obj, const char *key);
extern void nagare_worker_set_local(const char *name, const char *value);

/* requests.c */
extern bool nagare_worker_run_requests(void);
extern void nagare_worker_finish_requests(void);
extern void nagare_worker_request_failed(NagareWorkerRequest *req, const ErrorData *edata);

#endif							/* NAGARE_WORKER_WORKER_H */
