/*-------------------------------------------------------------------------
 *
 * broker.c
 *	  The "nagare broker" background worker: sole writer of every partition.
 *
 * One process, one loop, no threads.  Each turn of the loop:
 *
 *	1. takes the batches producers appended to the ring since the last turn
 *	   and assigns each its place in its partition's active segment
 *	   (logstore/writer.c), then submits one writev per partition;
 *	2. takes queued requests (request slots) - today, commits waiting for
 *	   their records to be durable;
 *	3. reaps I/O completions: finished writes move each partition's high
 *	   watermark and free ring space; finished fsync rounds move "durable" and
 *	   answer the waiters it covers;
 *	4. starts a group fsync round when a waiter needs one;
 *	5. runs timed work (retention) when due;
 *	6. sleeps in WaitEventSetWait() on its latch, postmaster death and the
 *	   io_uring eventfd, but only when the turn found nothing to do.
 *
 * Producers and waiters set the broker's latch; SetLatch costs a signal only
 * when the broker is asleep, so a busy broker is not interrupted per record.
 *
 * Error handling follows the auxiliary processes: an ERROR anywhere in the
 * loop is reported and the process exits with status 1, so the postmaster
 * starts a new broker a second later.  The new broker recovers every
 * partition from its files and replays the ring from "tail": a batch already
 * in its segment is recognised by its offset and skipped, so nothing is lost
 * or written twice.  Requests that were waiting are found again by scanning
 * the request slots.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "aio/aio.h"
#include "broker/admin.h"
#include "broker/fetch.h"
#include "broker/group.h"
#include "broker/kafka_api.h"
#include "broker/net.h"
#include "broker/produce.h"
#include "broker/sasl_server.h"
#include "broker/producers.h"
#include "kafka/record.h"
#include "broker/topicmap.h"
#include "logstore/log.h"
#include "logstore/producerstate.h"
#include "nagare.h"
#include "queue/channel.h"
#include "queue/queue.h"
#include "shmem.h"
#include "usage/usage.h"

/* Most ring entries taken in one turn, so that completions are not starved */
#define MAX_ENTRIES_PER_TURN	8192

/* A request waiting for the ring to be durable (or written) up to target */
typedef struct Waiter
{
	int			slotno;
	uint32		generation;
	uint64		target;
} Waiter;

typedef struct WaiterList
{
	Waiter	   *w;
	int			n;
	int			max;
} WaiterList;

static WaiterList durable_waiters;
static WaiterList written_waiters;

int			nagare_broker_reload_count = 0;

/* ring position up to which entries were taken (broker-private) */
static uint64 consumed = 0;

static void broker_attach(void);
static void broker_detach(int code, Datum arg);
static bool take_entries(void);
static bool take_requests(void);
static void add_waiter(WaiterList *list, int slotno, uint32 generation, uint64 target);
static void answer_waiters(WaiterList *list, uint64 position);
static bool advance_tail(void);
static void manage_sync(void);
static void requeue_pending_slots(void);

void
nagare_broker_main(Datum main_arg)
{
	sigjmp_buf	local_sigjmp_buf;
	WaitEventSet *wes;
	TimestampTz next_retention;
	TimestampTz next_second;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	/*
	 * Any ERROR ends this broker; the postmaster starts another one, which
	 * recovers.  Exit status 1 asks for the restart.
	 */
	if (sigsetjmp(local_sigjmp_buf, 1) != 0)
	{
		HOLD_INTERRUPTS();
		EmitErrorReport();
		proc_exit(1);
	}
	PG_exception_stack = &local_sigjmp_buf;

	broker_attach();
	pg_atomic_write_u32(&nagare_shared->broker_state, NAGARE_BROKER_STARTING);

	nagare_aio_init();
	nagare_producers_init();
	nagare_log_init();
	nagare_log_recover_all();

	wes = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	if (nagare_aio_event_fd() >= 0)
		AddWaitEventToSet(wes, WL_SOCKET_READABLE, nagare_aio_event_fd(), NULL, NULL);

	/* replay what a previous broker left in the ring */
	consumed = pg_atomic_read_u64(&nagare_shared->tail);
	requeue_pending_slots();
	/* anything a previous broker fsynced is still durable */
	nagare_log_start_sync(consumed);

	pg_atomic_write_u32(&nagare_shared->broker_state, NAGARE_BROKER_READY);
	ereport(LOG,
			(errmsg("nagare broker ready (I/O method %s, append ring %llu kB)",
					nagare_aio_method_name(),
					(unsigned long long) (nagare_shared->ring_size / 1024))));
	nagare_net_init(nagare_kafka_request);

	next_retention = GetCurrentTimestamp();
	next_second = next_retention;

	for (;;)
	{
		bool		progress = false;
		TimestampTz now;
		long		timeout_ms;

		ResetLatch(MyLatch);

		if (ShutdownRequestPending)
			break;
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			nagare_log_config_reloaded();
			nagare_broker_reload_count++;
		}

		nagare_log_process_deletes();
		nagare_produce_turn();
		progress |= take_entries();
		nagare_log_submit_writes();
		progress |= take_requests();
		nagare_aio_submit();
		progress |= (nagare_aio_reap() > 0);
		progress |= advance_tail();
		manage_sync();
		nagare_aio_submit();

		now = GetCurrentTimestamp();
		nagare_fetch_turn(now);
		nagare_admin_turn(now);
		nagare_group_turn(now);
		nagare_sasl_turn(now);
		nagare_channel_turn(now);
		nagare_net_unmute(now);	/* throttles that ended (KIP-219) */
		nagare_aio_submit();
		nagare_net_reap_closed();

		if (now >= next_second)
		{
			nagare_net_timers(now);
			next_second = TimestampTzPlusMilliseconds(now, 1000);
		}
		if (now >= next_retention)
		{
			nagare_log_enforce_retention();
			nagare_producers_expire();
			next_retention = TimestampTzPlusMilliseconds(now, nagare_retention_check_interval_ms);
		}

		if (progress)
			continue;

		timeout_ms = TimestampDifferenceMilliseconds(now, next_retention);
		timeout_ms = Min(timeout_ms, TimestampDifferenceMilliseconds(now, next_second) + 1);
		if (nagare_produce_waiting())
			timeout_ms = Min(timeout_ms, 1);
		if (nagare_admin_busy() || nagare_group_busy() || nagare_sasl_busy() ||
			nagare_channel_busy())
			timeout_ms = Min(timeout_ms, 100);
		if (nagare_net_next_due() != 0)
			timeout_ms =
				Min(timeout_ms,
							 TimestampDifferenceMilliseconds(now, nagare_net_next_due()) + 1);
		if (nagare_fetch_next_deadline() != 0)
			timeout_ms = Min(timeout_ms,
							 TimestampDifferenceMilliseconds(now, nagare_fetch_next_deadline()) + 1);
		if (nagare_log_flush_due(kafka_now_ms(), &timeout_ms))
			timeout_ms = Min(timeout_ms, 1);
		{
			WaitEvent	events[3];

			(void) WaitEventSetWait(wes, timeout_ms, events, lengthof(events),
									PG_WAIT_EXTENSION);
		}
	}

	/* Clean shutdown: write and fsync everything taken, answer everyone */
	nagare_net_shutdown();
	(void) take_entries();
	(void) take_requests();
	nagare_log_shutdown();
	(void) advance_tail();
	pg_atomic_write_u64(&nagare_shared->durable, pg_atomic_read_u64(&nagare_shared->tail));
	answer_waiters(&durable_waiters, pg_atomic_read_u64(&nagare_shared->durable));
	answer_waiters(&written_waiters, pg_atomic_read_u64(&nagare_shared->tail));
	nagare_aio_shutdown();
	nagare_net_reap_closed();
	ereport(LOG, (errmsg("nagare broker shut down")));
	proc_exit(1);
}

/* Publish who the broker is, so that producers can set its latch */
static void
broker_attach(void)
{
	SpinLockAcquire(&nagare_shared->broker_mutex);
	nagare_shared->broker_procno = MyProc->pgprocno;
	nagare_shared->broker_pid = MyProcPid;
	SpinLockRelease(&nagare_shared->broker_mutex);
	nagare_channel_open(NAGARE_CHANNEL_BROKER);
	before_shmem_exit(broker_detach, (Datum) 0);
}

static void
broker_detach(int code, Datum arg)
{
	pg_atomic_write_u32(&nagare_shared->broker_state, NAGARE_BROKER_STOPPED);
	SpinLockAcquire(&nagare_shared->broker_mutex);
	nagare_shared->broker_procno = -1;
	nagare_shared->broker_pid = 0;
	SpinLockRelease(&nagare_shared->broker_mutex);
}

/*
 * An idempotent producer's batch is in the log: the producer state learns
 * its offset (or, for a batch a previous broker left in the ring, the batch
 * itself).
 */
static void
observe_producer(NagareAppendEntry *e)
{
	const uint8 *batch = (const uint8 *) NAGARE_ENTRY_DATA(e);
	KafkaBatchHeader h;

	/* ProducerId is -1 for batches from SQL and plain producers */
	if (batch[KAFKA_BATCH_POS_PRODUCER_ID] == 0xff && batch[KAFKA_BATCH_POS_PRODUCER_ID + 7] == 0xff)
		return;
	if (kafka_batch_read_header(batch, e->batch_len, &h) != KAFKA_OK)
	{
		Assert(false);			/* Produce checked it, or the append core encoded it */
		return;
	}
	if (h.ProducerId >= 0)
		nagare_producer_observe(e->part->key.topic_id, e->part->key.partition, &h, e->base_offset);
}

/*
 * Take the entries producers appended since the last turn.  Returns true if
 * there were any.
 */
static bool
take_entries(void)
{
	uint64		head = pg_atomic_read_u64(&nagare_shared->head);
	int			n = 0;

	pg_read_barrier();			/* read entries only after head */
	while (consumed < head && n < MAX_ENTRIES_PER_TURN)
	{
		uint64		pos;
		NagareAppendEntry *e = nagare_ring_entry(consumed, &pos);

		if (e->kind == NAGARE_ENTRY_BATCH)
		{
			LogPartition *lp = nagare_log_get(e->part, e->incarnation);

			if (lp == NULL || e->base_offset < lp->log_end)
			{
				/* topic deleted, or written before a broker restart */
				e->done = true;
			}
			else
			{
				if (e->base_offset > lp->log_end && lp->log_end > 0)
					ereport(LOG,
							(errmsg("nagare broker: offsets %lld to %lld of partition \"%s\" are missing",
									(long long) lp->log_end,
									(long long) e->base_offset - 1, lp->dir)));
				nagare_log_append(lp, e);
				pg_atomic_fetch_add_u64(&nagare_shared->appended_batches, 1);
				observe_producer(e);
			}
		}
		else if (e->kind != NAGARE_ENTRY_PAD)
			elog(ERROR, "corrupted nagare append ring entry at %llu: kind %u",
				 (unsigned long long) pos, e->kind);
		consumed = pos + e->total_len;
		Assert(consumed <= head);	/* every byte below head is a whole entry */
		n++;
	}
	return n > 0;
}

/* Take queued requests.  Returns true if there were any. */
static bool
take_requests(void)
{
	int			slotno;
	NagareRequestType type;
	uint32		generation;
	uint64		target;
	bool		any = false;

	while (nagare_queue_pop_request(&slotno, &type, &generation, &target))
	{
		any = true;
		switch (type)
		{
			case NAGARE_REQ_WAIT_DURABLE:
				if (pg_atomic_read_u64(&nagare_shared->durable) >= target)
					nagare_queue_reply(slotno, generation, 0);
				else
					add_waiter(&durable_waiters, slotno, generation, target);
				break;
			case NAGARE_REQ_WAIT_WRITTEN:
				if (pg_atomic_read_u64(&nagare_shared->tail) >= target)
					nagare_queue_reply(slotno, generation, 0);
				else
					add_waiter(&written_waiters, slotno, generation, target);
				break;
			default:
				elog(LOG, "nagare broker: unknown request type %d in slot %d",
					 (int) type, slotno);
				nagare_queue_reply(slotno, generation, -1);
				break;
		}
	}
	return any;
}

/*
 * A new broker does not know which requests its predecessor had taken but
 * not answered: every slot still pending is queued again.
 */
static void
requeue_pending_slots(void)
{
	int			i;

	for (i = 0; i < nagare_shared->nslots; i++)
	{
		NagareRequestSlot *slot = &nagare_shared->slots[i];
		bool		pending;
		uint32		generation = 0;
		uint64		target = 0;

		NagareRequestType type = NAGARE_REQ_NONE;

		SpinLockAcquire(&slot->mutex);
		pending = (slot->state == NAGARE_SLOT_PENDING);
		if (pending)
		{
			generation = slot->generation;
			target = slot->target;
			type = slot->type;
		}
		SpinLockRelease(&slot->mutex);
		if (pending && type == NAGARE_REQ_WAIT_DURABLE)
			add_waiter(&durable_waiters, i, generation, target);
		else if (pending && type == NAGARE_REQ_WAIT_WRITTEN)
			add_waiter(&written_waiters, i, generation, target);
	}
}

static void
add_waiter(WaiterList *list, int slotno, uint32 generation, uint64 target)
{
	if (list->n == list->max)
	{
		list->max = Max(64, list->max * 2);
		if (list->w == NULL)
			list->w = MemoryContextAlloc(TopMemoryContext, sizeof(Waiter) * list->max);
		else
			list->w = repalloc(list->w, sizeof(Waiter) * list->max);
	}
	list->w[list->n].slotno = slotno;
	list->w[list->n].generation = generation;
	list->w[list->n].target = target;
	list->n++;
}

/* Answer every waiter whose target is at or below position */
static void
answer_waiters(WaiterList *list, uint64 position)
{
	int			i = 0;

	while (i < list->n)
	{
		if (list->w[i].target <= position)
		{
			nagare_queue_reply(list->w[i].slotno, list->w[i].generation, 0);
			list->w[i] = list->w[--list->n];
		}
		else
			i++;
	}
}

/*
 * Move tail past entries that are written (and pads), freeing their space.
 */
static bool
advance_tail(void)
{
	uint64		tail = pg_atomic_read_u64(&nagare_shared->tail);
	uint64		old = tail;

	while (tail < consumed)
	{
		uint64		pos;
		NagareAppendEntry *e = nagare_ring_entry(tail, &pos);

		if (e->kind == NAGARE_ENTRY_BATCH && !e->done)
			break;
		tail = pos + e->total_len;
	}
	if (tail != old)
	{
		Assert(tail <= pg_atomic_read_u64(&nagare_shared->head));
		pg_atomic_write_u64(&nagare_shared->tail, tail);
		answer_waiters(&written_waiters, tail);
		nagare_produce_advance(tail, pg_atomic_read_u64(&nagare_shared->durable));
		return true;
	}
	return false;
}

/*
 * Group fsync: publish what the last round made durable, and start a round
 * when a waiter's records are all written but not yet durable.
 */
static void
manage_sync(void)
{
	uint64		durable = pg_atomic_read_u64(&nagare_shared->durable);
	uint64		tail;
	int			i;
	bool		needed = false;
	uint64 round_us;

	if (nagare_log_sync_pending())
		return;
	if (nagare_log_take_sync_round(&round_us))
		nagare_metrics_count_fsync(round_us); /* GET /metrics */
	if (nagare_log_synced_target() > durable)
	{
		durable = nagare_log_synced_target();
		Assert(durable <= pg_atomic_read_u64(&nagare_shared->tail));
		pg_atomic_write_u64(&nagare_shared->durable, durable);
	}
	answer_waiters(&durable_waiters, durable);

	tail = pg_atomic_read_u64(&nagare_shared->tail);
	nagare_produce_advance(tail, durable);
	for (i = 0; i < durable_waiters.n; i++)
		if (durable_waiters.w[i].target <= tail)
			needed = true;
	if (nagare_produce_needs_sync(tail))
		needed = true;
	/* rolled segments are fsynced before their files are closed */
	if (nagare_log_close_rolled_segments())
		needed = true;
	/* flush.ms, and consumers waiting under nagare.serve_durable_only */
	{
		long unused = LONG_MAX;

		if (nagare_log_flush_due(kafka_now_ms(), &unused))
			needed = true;
	}
	if (needed && nagare_log_start_sync(tail) && !nagare_log_sync_pending())
	{
		/* the round finished at once (nothing to fsync, or plain I/O) */
		durable = nagare_log_synced_target();
		Assert(durable <= tail);
		pg_atomic_write_u64(&nagare_shared->durable, durable);
		answer_waiters(&durable_waiters, durable);
		nagare_produce_advance(tail, durable);
	}
}
