/*-------------------------------------------------------------------------
 *
 * append.h
 *	  Appending records to topics through the append ring: the core shared
 *	  by nagare.send() and send_batch() (sql/send.c) and the ingest worker
 *	  (decode/ingest.c).
 *
 * The caller builds KafkaRecordIn records (headers from jsonb with
 * nagare_parse_headers()), chooses each record's partition with
 * nagare_choose_partition() (the topic's partitioner, or the caller's with
 * nagare_choose_partition_with()), and appends them.  An append returns the ring
 * position after its last batch and tells which batches it appended (their
 * partition, incarnation and base offset); what durability that needs is
 * the caller's business: the SQL layer makes its transaction's commit wait
 * (sql/xact.c), the ingest worker waits itself before it confirms its slot.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_APPEND_H
#define NAGARE_APPEND_H

#include "utils/jsonb.h"

#include "kafka/record.h"
#include "queue/queue.h"
#include "topic/catalog.h"

extern int32 nagare_choose_partition(const NagareTopicInfo *topic, const KafkaRecordIn *rec,
									 bool partition_given, int32 partition);
extern int32 nagare_choose_partition_with(const NagareTopicInfo *topic,
										  const KafkaRecordIn *rec, int partitioner,
										  bool partition_given, int32 partition);
extern int32 nagare_parse_headers(Jsonb *headers, KafkaHeaderIn **out);
extern void nagare_check_batch_size(const NagareTopicInfo *topic, size_t size);
extern uint64 nagare_append_record(const NagareTopicInfo *topic, const KafkaRecordIn *rec,
								   int32 partition, NagareAppend *appended);
extern uint64 nagare_append_records(const NagareTopicInfo *topic, const KafkaRecordIn *recs,
									const int32 *rec_partition, int n, int64 now,
									int64 *rec_offset, NagareAppend **appended,
									int *nappended);

#endif							/* NAGARE_APPEND_H */
