/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  Append ring and request slots (see queue.h for the protocol).
 *
 * Notes on synchronization:
 *
 * head is advanced only under insert_lock, after the entry bytes are copied
 * and a write barrier; the broker reads head, issues a read barrier and may
 * then read every entry below it without a lock.  tail and durable are
 * advanced by the broker alone; producers read tail to know how much space
 * is free and backends read durable to know whether a commit must wait.
 *
 * A request slot's fields are protected by its spinlock.  The request ring
 * (req_ids) is a bounded array of slot numbers under req_mutex.  It has room
 * for several requests per slot, because a backend that gave up waiting
 * (cancel, timeout) may queue its slot again before the broker has seen the
 * first entry; the broker ignores an entry whose slot is not PENDING, and a
 * generation number tells a stale reply from a current one.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "access/xact.h"
#include "storage/proc.h"
#include "utils/timestamp.h"

#include "kafka/record.h"
#include "queue/queue.h"

static inline char *
ring_at(uint64 pos)
{
	return nagare_shared->ring + (pos % nagare_shared->ring_size);
}

/*
 * Largest batch the ring can take: a quarter of it, so that one big batch
 * cannot starve every other producer.
 */
Size
nagare_queue_max_batch(void)
{
	return nagare_shared->ring_size / 4 - NAGARE_ENTRY_HDRSZ;
}

/*
 * Bytes needed at ring position pos for an entry of entry_len bytes,
 * including the padding to skip to the start of the ring when it does not fit
 * before the end.
 */
static uint64
ring_need(uint64 pos, uint64 entry_len)
{
	uint64		size = nagare_shared->ring_size;
	uint64		left = size - pos % size;

	if (left < entry_len)
		return left + entry_len;
	return entry_len;
}

/*
 * Write the entry (and any pad before it) at head; caller holds insert_lock
 * and has checked there is room.  Returns the new head.
 */
static uint64
ring_put(uint64 head, NagareAppend *a, uint64 entry_len)
{
	uint64		size = nagare_shared->ring_size;
	uint64		left = size - head % size;
	NagareAppendEntry *e;

	Assert(head % MAXIMUM_ALIGNOF == 0 && entry_len % MAXIMUM_ALIGNOF == 0);
	if (left < entry_len)
	{
		if (left >= NAGARE_ENTRY_HDRSZ)
		{
			e = (NagareAppendEntry *) ring_at(head);
			memset(e, 0, sizeof(*e));
			e->total_len = (uint32) left;
			e->kind = NAGARE_ENTRY_PAD;
		}
		head += left;
	}

	e = (NagareAppendEntry *) ring_at(head);
	e->total_len = (uint32) entry_len;
	e->kind = NAGARE_ENTRY_BATCH;
	e->part = a->part;
	e->incarnation = a->incarnation;
	e->base_offset = a->part->next_offset;
	e->record_count = a->record_count;
	e->batch_len = a->batch_len;
	e->max_timestamp = a->max_timestamp;
	e->done = false;
	memcpy(NAGARE_ENTRY_DATA(e), a->batch, a->batch_len);
	kafka_batch_set_base_offset((uint8_t *) NAGARE_ENTRY_DATA(e), e->base_offset);
	/* nagare is every partition's only leader, in epoch 0 */
	kafka_batch_set_leader_epoch((uint8_t *) NAGARE_ENTRY_DATA(e), 0);

	a->base_offset = e->base_offset;
	a->part->next_offset += a->record_count;
	return head + entry_len;
}

/*
 * Append batches to their partitions.  Each gets the next offsets of its
 * partition (returned in base_offset), in array order.  *end_pos is set to
 * the ring position after the last entry: once "durable" reaches it, all the
 * batches are on disk.
 *
 * When the ring is full this waits up to nagare.queue_wait_timeout for the
 * broker to make room, then fails: the queue never hangs a caller.  Batches
 * appended before the failure stay appended.  Can ERROR; holds no lock when it
 * does.
 */
void
nagare_queue_append(NagareAppend *appends, int n, uint64 *end_pos)
{
	NagareShared *s = nagare_shared;
	int			i = 0;
	TimestampTz wait_start = 0;

	for (i = 0; i < n; i++)
		if ((Size) appends[i].batch_len > nagare_queue_max_batch())
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("record batch of %d bytes does not fit the append ring",
							appends[i].batch_len),
					 errhint("Batches may take at most a quarter of nagare.queue_size; raise it, or lower max.message.bytes.")));
	i = 0;
	while (i < n)
	{
		uint64		head;
		uint64		tail;
		bool		progress = false;

		LWLockAcquire(s->insert_lock, LW_EXCLUSIVE);
		head = pg_atomic_read_u64(&s->head);
		tail = pg_atomic_read_u64(&s->tail);
		while (i < n)
		{
			NagareAppend *a = &appends[i];
			uint64		entry_len = NAGARE_ENTRY_HDRSZ + MAXALIGN(a->batch_len);

			if (a->part->incarnation != a->incarnation ||
				a->part->state != NAGARE_PART_OPEN)
			{
				LWLockRelease(s->insert_lock);
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("partition %d of topic %d was deleted",
								a->part->key.partition, a->part->key.topic_id)));
			}
			if (head + ring_need(head, entry_len) - tail > s->ring_size)
				break;
			head = ring_put(head, a, entry_len);
			progress = true;
			i++;
		}
		if (progress)
		{
			Assert(tail <= head && head - tail <= s->ring_size);
			pg_write_barrier();
			pg_atomic_write_u64(&s->head, head);
			*end_pos = head;
		}
		LWLockRelease(s->insert_lock);

		if (progress)
		{
			nagare_wake_broker();
			wait_start = 0;
			continue;
		}

		/* The ring is full: wait for the broker, like Kafka's max.block.ms */
		if (wait_start == 0)
			wait_start = GetCurrentTimestamp();
		else if (TimestampDifferenceExceeds(wait_start, GetCurrentTimestamp(),
											nagare_queue_wait_ms))
		{
			bool		broker_running = (nagare_broker_latch() != NULL);

			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
					 errmsg("nagare append queue is full"),
					 errdetail("%llu bytes are waiting for the broker, which %s.",
							   (unsigned long long) (head - tail),
							   broker_running ? "is not keeping up" : "is not running"),
					 errhint("Retry later, or raise nagare.queue_size or nagare.queue_wait_timeout.")));
		}
		nagare_wake_broker();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Append as many of the batches as fit now, in order, without waiting: the
 * broker's own appends (Kafka Produce), which must never block its loop.
 * Returns how many were appended (0 when the ring is full or insert_lock is
 * busy: try again later); *end_pos is set when any was.  A batch whose
 * partition was deleted meanwhile is skipped with base_offset -1.  Batches
 * must not exceed nagare_queue_max_batch().
 */
int
nagare_queue_try_append(NagareAppend *appends, int n, uint64 *end_pos)
{
	NagareShared *s = nagare_shared;
	uint64		head;
	uint64		tail;
	int			i;

	if (n == 0 || !LWLockConditionalAcquire(s->insert_lock, LW_EXCLUSIVE))
		return 0;
	head = pg_atomic_read_u64(&s->head);
	tail = pg_atomic_read_u64(&s->tail);
	for (i = 0; i < n; i++)
	{
		NagareAppend *a = &appends[i];
		uint64		entry_len = NAGARE_ENTRY_HDRSZ + MAXALIGN(a->batch_len);

		Assert((Size) a->batch_len <= nagare_queue_max_batch());
		if (a->part->incarnation != a->incarnation ||
			a->part->state != NAGARE_PART_OPEN)
		{
			a->base_offset = -1;
			continue;
		}
		if (head + ring_need(head, entry_len) - tail > s->ring_size)
			break;
		head = ring_put(head, a, entry_len);
	}
	Assert(tail <= head && head - tail <= s->ring_size);
	pg_write_barrier();
	pg_atomic_write_u64(&s->head, head);
	*end_pos = head;
	LWLockRelease(s->insert_lock);
	return i;
}

/*
 * Queue our slot's number for the broker.  Caller has set the slot PENDING.
 */
static void
queue_slot(int slotno)
{
	NagareShared *s = nagare_shared;
	uint32		cap = (uint32) s->nslots * NAGARE_REQ_RING_PER_SLOT;
	bool		full;

	SpinLockAcquire(&s->req_mutex);
	Assert(s->req_tail <= s->req_head && s->req_head - s->req_tail <= cap);
	full = (s->req_head - s->req_tail >= cap);
	if (!full)
	{
		s->req_ids[s->req_head % cap] = slotno;
		s->req_head++;
	}
	SpinLockRelease(&s->req_mutex);

	if (full)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("nagare request queue is full"),
				 errhint("The broker is not answering requests; check that the \"nagare broker\" process is running.")));
	nagare_wake_broker();
}

/*
 * Give up on our pending request: a reply that arrives later is ignored.
 */
static void
abandon_slot(NagareRequestSlot *slot)
{
	SpinLockAcquire(&slot->mutex);
	slot->generation++;
	slot->state = NAGARE_SLOT_FREE;
	slot->type = NAGARE_REQ_NONE;
	SpinLockRelease(&slot->mutex);
}

static void queue_wait(NagareRequestType type, pg_atomic_uint64 *position, uint64 target);

/*
 * Wait until the append ring is durable up to position target: every batch
 * appended below it is written and fsynced.  Called at commit by a
 * transaction that sent records.  Cancellable, and bounded by
 * nagare.request_timeout and by statement_timeout (which PostgreSQL itself
 * switches off before commit processing, so it is checked here); on error
 * the slot is released, so nothing stays inconsistent (the batches
 * themselves are already appended either way).
 */
void
nagare_queue_wait_durable(uint64 target)
{
	queue_wait(NAGARE_REQ_WAIT_DURABLE, &nagare_shared->durable, target);
}

/*
 * Wait until every batch appended below ring position target is written to
 * its segment (not necessarily fsynced).  Same rules as
 * nagare_queue_wait_durable().
 */
void
nagare_queue_wait_written(uint64 target)
{
	queue_wait(NAGARE_REQ_WAIT_WRITTEN, &nagare_shared->tail, target);
}

static void
queue_wait(NagareRequestType type, pg_atomic_uint64 *position, uint64 target)
{
	NagareShared *s = nagare_shared;
	NagareRequestSlot *slot = &s->slots[MyProc->pgprocno];
	uint32		generation;
	TimestampTz start;
	TimestampTz stmt_deadline;
	volatile bool done = false;

	if (pg_atomic_read_u64(position) >= target)
		return;

	SpinLockAcquire(&slot->mutex);
	Assert(slot->state == NAGARE_SLOT_FREE);	/* one wait at a time per backend */
	generation = ++slot->generation;
	slot->state = NAGARE_SLOT_PENDING;
	slot->type = type;
	slot->target = target;
	slot->result = 0;
	slot->procno = MyProc->pgprocno;
	SpinLockRelease(&slot->mutex);

	start = GetCurrentTimestamp();
	stmt_deadline = StatementTimeout > 0 ?
		TimestampTzPlusMilliseconds(GetCurrentStatementStartTimestamp(), StatementTimeout) : 0;
	PG_TRY();
	{
		queue_slot(MyProc->pgprocno);
		while (!done)
		{
			long		timeout_ms;
			int			rc;
			TimestampTz now;

			SpinLockAcquire(&slot->mutex);
			if (slot->state == NAGARE_SLOT_DONE && slot->generation == generation)
			{
				slot->state = NAGARE_SLOT_FREE;
				slot->type = NAGARE_REQ_NONE;
				done = true;
			}
			SpinLockRelease(&slot->mutex);
			if (done)
				break;

			now = GetCurrentTimestamp();
			if (stmt_deadline != 0 && now >= stmt_deadline)
				ereport(ERROR,
						(errcode(ERRCODE_QUERY_CANCELED),
						 errmsg("canceling statement due to statement timeout"),
						 errdetail("The transaction was waiting for the nagare broker to flush the records it sent; they are appended and may still become durable.")));
			timeout_ms = nagare_request_timeout_ms - (long) ((now - start) / 1000);
			if (stmt_deadline != 0)
				timeout_ms = Min(timeout_ms, (long) ((stmt_deadline - now) / 1000) + 1);
			if (timeout_ms <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_CONNECTION_FAILURE),
						 errmsg("timed out waiting for the nagare broker to flush sent records"),
						 errdetail("The records were appended and may still become durable."),
						 errhint("Check that the \"nagare broker\" process is running; see nagare.request_timeout.")));

			rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						   timeout_ms, PG_WAIT_EXTENSION);
			if (rc & WL_LATCH_SET)
				ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_CATCH();
	{
		abandon_slot(slot);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * Broker: the entry at ring position pos, skipping the implicit gap at the end
 * of the ring.  *entry_pos is set to the position the entry really starts at.
 */
NagareAppendEntry *
nagare_ring_entry(uint64 pos, uint64 *entry_pos)
{
	uint64		size = nagare_shared->ring_size;
	uint64		left = size - pos % size;

	if (left < NAGARE_ENTRY_HDRSZ)
		pos += left;
	*entry_pos = pos;
	return (NagareAppendEntry *) ring_at(pos);
}

/*
 * Broker: take the next queued request, if any.  Entries whose slot was
 * abandoned in the meantime are skipped.
 */
bool
nagare_queue_pop_request(int *slotno, NagareRequestType *type,
						 uint32 *generation, uint64 *target)
{
	NagareShared *s = nagare_shared;
	uint32		cap = (uint32) s->nslots * NAGARE_REQ_RING_PER_SLOT;

	for (;;)
	{
		int			id;
		NagareRequestSlot *slot;
		bool		pending;

		SpinLockAcquire(&s->req_mutex);
		if (s->req_tail == s->req_head)
		{
			SpinLockRelease(&s->req_mutex);
			return false;
		}
		id = s->req_ids[s->req_tail % cap];
		Assert(id >= 0 && id < s->nslots);
		s->req_tail++;
		SpinLockRelease(&s->req_mutex);

		slot = &s->slots[id];
		SpinLockAcquire(&slot->mutex);
		pending = (slot->state == NAGARE_SLOT_PENDING);
		if (pending)
		{
			*slotno = id;
			*type = slot->type;
			*generation = slot->generation;
			*target = slot->target;
		}
		SpinLockRelease(&slot->mutex);
		if (pending)
			return true;
	}
}

/*
 * Broker: post the reply to a request and wake its owner, unless the owner
 * has given up on that generation.
 */
void
nagare_queue_reply(int slotno, uint32 generation, int result)
{
	NagareRequestSlot *slot = &nagare_shared->slots[slotno];
	int			procno = -1;

	SpinLockAcquire(&slot->mutex);
	if (slot->state == NAGARE_SLOT_PENDING && slot->generation == generation)
	{
		slot->result = result;
		slot->state = NAGARE_SLOT_DONE;
		procno = slot->procno;
	}
	SpinLockRelease(&slot->mutex);

	nagare_wake_proc(procno);
}
