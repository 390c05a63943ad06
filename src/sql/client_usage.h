/*-------------------------------------------------------------------------
 *
 * client_usage.h
 *	  The usage of SQL callers of send(), send_batch(), publish() and
 *	  consume(), counted in the shared usage table (client_usage.c).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_SQL_CLIENT_USAGE_H
#define NAGARE_SQL_CLIENT_USAGE_H

#include "datatype/timestamp.h"

/* the functions counted, as the "requests by API" of SQL clients */
typedef enum NagareSqlCall
{
	NAGARE_SQL_SEND,
	NAGARE_SQL_SEND_BATCH,
	NAGARE_SQL_PUBLISH,
	NAGARE_SQL_CONSUME,
	NAGARE_SQL_NCALLS
} NagareSqlCall;

/* when a counted call began (0 with nagare.client_usage off) */
extern TimestampTz nagare_sql_usage_begin(void);

/*
 * A call that began at start completed: count it for current_user and
 * application_name, with its bytes and records and its time.
 */
extern void nagare_sql_usage_count(NagareSqlCall call, TimestampTz start, uint64 bytes_in,
								   uint64 records_in, uint64 bytes_out, uint64 records_out);

/*
 * A completed call's records and bytes on its edge of the observed
 * dependency graph (kind: deps.h's NagareDepsKind; consume() has no group),
 * with nagare.track_dependencies on
 */
extern void nagare_sql_deps_count(int kind, int32 topic_id, uint64 records, uint64 bytes);

#endif							/* NAGARE_SQL_CLIENT_USAGE_H */
