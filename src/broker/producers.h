/*-------------------------------------------------------------------------
 *
 * producers.h
 *	  Idempotent producers: ids and sequence checks (producers.c).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_BROKER_PRODUCERS_H
#define NAGARE_BROKER_PRODUCERS_H

#include "kafka/record.h"

struct LogPartition;

extern void nagare_producers_init(void);
extern int16 nagare_producer_check(int32 topic_id, int32 partition, const KafkaBatchHeader *hs,
								   int n, int64 *dup_offset);
extern void nagare_producer_observe(int32 topic_id, int32 partition, const KafkaBatchHeader *h,
									int64 base_offset);
extern void nagare_producers_forget(int32 topic_id, int32 partition);
extern void nagare_producers_expire(void);
extern void nagare_producers_snapshot(struct LogPartition *lp);
extern void nagare_producers_recover(struct LogPartition *lp);

#endif							/* NAGARE_BROKER_PRODUCERS_H */
