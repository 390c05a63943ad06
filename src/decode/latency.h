/*-------------------------------------------------------------------------
 *
 * latency.h
 *	  The ingest worker's commit-to-consumable latency SLI (latency.c).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_DECODE_LATENCY_H
#define NAGARE_DECODE_LATENCY_H

#include "datatype/timestamp.h"

/* a transaction appended, of this SQL client ("" and "" for no one's) */
extern void nagare_ingest_latency_note(const char *principal, const char *client_id,
									   TimestampTz commit_time);
/* ... of the owner of a table of a table topic */
extern void nagare_ingest_latency_note_owner(Oid relid, TimestampTz commit_time);
/* the ring is durable past every transaction noted: count them */
extern void nagare_ingest_latency_count(void);

#endif /* NAGARE_DECODE_LATENCY_H */
