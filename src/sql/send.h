/*-------------------------------------------------------------------------
 *
 * send.h
 *	  Appending records from SQL (send.c) and the transaction hooks (xact.c).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_SEND_H
#define NAGARE_SEND_H

#include "access/xact.h"

#include "kafka/record.h"
#include "shmem.h"
#include "topic/catalog.h"
#include "utils/jsonb.h"

extern void nagare_send_xact_callback(XactEvent event, void *arg);
extern void nagare_xact_note_sent(uint64 end_pos);
extern void nagare_xact_note_partition(NagarePartition *part, uint64 incarnation,
									   int64 base_offset);
extern void nagare_xact_note_ddl(void);
extern void nagare_xact_note_published(void);
extern void nagare_xact_wait_own_sends(void);

/* shared by send(), send_batch() and the ingest worker */
extern int64 nagare_now_ms(void);
extern int32 nagare_choose_partition(const NagareTopicInfo *topic, const KafkaRecordIn *rec,
									 bool partition_given, int32 partition);
extern int32 nagare_parse_headers(Jsonb *headers, KafkaHeaderIn **out);
extern uint64 nagare_append_records(const NagareTopicInfo *topic, KafkaRecordIn *recs,
									const int32 *rec_partition, int n, int64 now,
									int64 *rec_offset, bool note_xact);

#endif							/* NAGARE_SEND_H */
