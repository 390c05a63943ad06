/*-------------------------------------------------------------------------
 *
 * producerstate.h
 *	  Idempotent producers' state per partition, kept with the log
 *	  (producerstate.c), as Kafka's ProducerStateManager is.
 *
 * The broker's produce path checks a batch against this state
 * (broker/producers.c) before the batch enters the append ring; the log
 * rebuilds it at recovery and writes it at a clean shutdown.  Only the
 * broker process uses it.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_PRODUCERSTATE_H
#define NAGARE_PRODUCERSTATE_H

#include "kafka/record.h"

#define PRODUCER_BATCHES		5

struct LogPartition;

typedef struct ProducerKey
{
	int64		pid;
	int32		topic_id;
	int32		partition;
} ProducerKey;

typedef struct ProducerBatch
{
	int32		first_seq;
	int32		last_seq;
	int64		first_offset;	/* -1 until written */
} ProducerBatch;

/* Also the record layout of producer.snapshot: do not reorder */
typedef struct ProducerState
{
	ProducerKey key;			/* hash key */
	int16		epoch;
	int16		nbatches;		/* oldest first */
	ProducerBatch batches[PRODUCER_BATCHES];
	int64		last_used_pg_ms;	/* PostgreSQL epoch (not Unix) ms */
} ProducerState;

/* Sequence number of a batch's last record (they wrap after INT32_MAX) */
static inline int32
nagare_producer_last_sequence(const KafkaBatchHeader *h)
{
	int64		last = (int64) h->BaseSequence + h->LastOffsetDelta;

	return (int32) (last > PG_INT32_MAX ? last - PG_INT32_MAX - 1 : last);
}

extern ProducerState *nagare_producer_state_lookup(int32 topic_id, int32 partition, int64 pid,
												   bool create);
extern int nagare_producer_states_of(int32 topic_id, int32 partition,
									 const ProducerState **out, int max);
extern void nagare_producer_state_push(ProducerState *st, int16 epoch, int32 first, int32 last,
									   int64 offset);
extern void nagare_producer_observe(int32 topic_id, int32 partition, const KafkaBatchHeader *h,
									int64 base_offset);
extern void nagare_producers_forget(int32 topic_id, int32 partition);
extern void nagare_producers_expire(void);
extern void nagare_producers_snapshot(struct LogPartition *lp);
extern void nagare_producers_recover(struct LogPartition *lp);

#endif							/* NAGARE_PRODUCERSTATE_H */
