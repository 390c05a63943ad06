/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  Topic lookups for SQL functions.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_CATALOG_H
#define NAGARE_CATALOG_H

#include "kafka/codec.h"
#include "shmem.h"

/* What a SQL function needs to know about a topic */
typedef struct NagareTopicInfo
{
	int32		topic_id;
	int32		partitions;
	uint8		uuid[16];		/* topic_uuid */
	NagareTopicConfig config;	/* effective */
	char		name[NAGARE_MAX_TOPIC_NAME + 1];
} NagareTopicInfo;

extern void nagare_check_loaded(void);
extern void nagare_validate_topic_name(const char *name);
extern const NagareTopicInfo *nagare_lookup_topic(const char *name, bool for_write);
extern NagarePartition *nagare_get_partition(const NagareTopicInfo *topic, int32 partition,
											 uint64 *incarnation);
extern NagarePartition *nagare_find_partition(int32 topic_id, int32 partition);
extern void nagare_wait_for_broker(void);
extern void nagare_catalog_invalidate(void);

/* The Kafka codec's allocator in backends: palloc in the current context */
extern const KafkaAllocator nagare_palloc_allocator;

#endif							/* NAGARE_CATALOG_H */
