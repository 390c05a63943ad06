/*-------------------------------------------------------------------------
 *
 * fetch.h
 *	  Kafka Fetch and ListOffsets in the broker's loop (fetch.c).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_BROKER_FETCH_H
#define NAGARE_BROKER_FETCH_H

#include "utils/timestamp.h"

extern void nagare_fetch_turn(TimestampTz now);
extern TimestampTz nagare_fetch_next_deadline(void);

/* the topic id of a Fetch response's spliced records (the splice's arg), or -1 */
extern int32 nagare_fetch_splice_topic(const void *arg);

/* its partition's entry (shmem.h), or NULL if the entry went away */
extern struct NagarePartition *nagare_fetch_splice_partition(const void *arg);

#endif							/* NAGARE_BROKER_FETCH_H */
