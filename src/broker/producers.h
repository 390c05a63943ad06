/*-------------------------------------------------------------------------
 *
 * producers.h
 *	  Idempotent producers: ids and sequence checks (producers.c).  The
 *	  per-partition state they check against is logstore/producerstate.h.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_BROKER_PRODUCERS_H
#define NAGARE_BROKER_PRODUCERS_H

#include "kafka/record.h"

extern void nagare_producers_init(void);
extern int16 nagare_producer_check(int32 topic_id, int32 partition, const KafkaBatchHeader *hs,
								   int n, int64 *dup_offset);

#endif							/* NAGARE_BROKER_PRODUCERS_H */
