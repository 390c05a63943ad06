/*-------------------------------------------------------------------------
 *
 * queue.h
 *	  The shared-memory queue between SQL backends and the broker.
 *
 * Two paths, both in main shared memory (shmem.h):
 *
 * The append ring carries record batches.  A producer encodes its batch in
 * Kafka's format in private memory (CRC included: the CRC does not cover the
 * base offset), then takes insert_lock, reserves the partition's next
 * offsets, copies the batch in with its base offset filled in, advances head
 * and releases the lock.  It does not wait for the broker: send() returns the
 * offset it reserved.  The broker writes entries to their segments in ring
 * order, so each partition's file is in offset order, and moves tail past what
 * is written.  The copy under the lock keeps the invariant that every byte
 * below head is a complete entry; it costs a memcpy of the batch, a few
 * hundred nanoseconds for a typical record.
 *
 * Request slots carry requests that need a reply.  Each PGPROC owns one slot;
 * it fills it, queues the slot number on the bounded request ring and waits on
 * its latch; the broker writes the reply into the slot and sets that latch
 * (the synchronous replication pattern).  The one request today is "tell me
 * when the ring is durable up to position P", which a transaction that sent
 * records makes at commit: one wait per transaction, not per record.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_QUEUE_H
#define NAGARE_QUEUE_H

#include "shmem.h"

typedef enum NagareEntryKind
{
	NAGARE_ENTRY_BATCH = 1,		/* a record batch for one partition */
	NAGARE_ENTRY_PAD = 2		/* filler up to the end of the ring */
} NagareEntryKind;

/*
 * Header of an append ring entry; the batch follows at
 * MAXALIGN(sizeof(NagareAppendEntry)).  total_len is the distance to the next
 * entry.  When fewer than sizeof(NagareAppendEntry) bytes are left before the
 * end of the ring, the next entry starts at the beginning of the ring with no
 * pad entry written (there is no room for one).
 */
typedef struct NagareAppendEntry
{
	uint32		total_len;
	uint32		kind;			/* NagareEntryKind */
	NagarePartition *part;		/* shared memory: same address everywhere */
	uint64		incarnation;	/* part's incarnation when appended */
	int64		base_offset;
	int32		record_count;
	int32		batch_len;
	int64		max_timestamp;
	bool		done;			/* broker-private: written, space reusable */
} NagareAppendEntry;

#define NAGARE_ENTRY_HDRSZ	MAXALIGN(sizeof(NagareAppendEntry))
#define NAGARE_ENTRY_DATA(e)	((char *) (e) + NAGARE_ENTRY_HDRSZ)

/* One batch to append, for nagare_queue_append() */
typedef struct NagareAppend
{
	NagarePartition *part;
	uint64		incarnation;
	const char *batch;			/* encoded RecordBatch, BaseOffset 0 */
	int32		batch_len;
	int32		record_count;
	int64		max_timestamp;
	/* output */
	int64		base_offset;
} NagareAppend;

/* backend side */
extern void nagare_queue_append(NagareAppend *appends, int n, uint64 *end_pos);
extern void nagare_queue_wait_durable(uint64 target);
extern void nagare_queue_wait_written(uint64 target);
extern Size nagare_queue_max_batch(void);

/* broker side */
extern int	nagare_queue_try_append(NagareAppend *appends, int n, uint64 *end_pos);
extern NagareAppendEntry *nagare_ring_entry(uint64 pos, uint64 *entry_pos);
extern bool nagare_queue_pop_request(int *slotno, NagareRequestType *type,
									 uint32 *generation, uint64 *target);
extern void nagare_queue_reply(int slotno, uint32 generation, int result);

#endif							/* NAGARE_QUEUE_H */
