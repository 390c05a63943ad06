/*-------------------------------------------------------------------------
 *
 * xact.c
 *	  What a transaction that used nagare must do when it ends.
 *
 * Records sent by send() are appended at once and are not transactional.
 * What the transaction adds is durability: when its COMMIT returns, its
 * records are on disk.  So in XACT_EVENT_PRE_COMMIT (still inside the
 * transaction, where an error aborts it and a cancel is honoured) a
 * transaction that sent records waits until the broker has fsynced the append
 * ring past its last record.  Many committing transactions share one fsync
 * round (broker.c).
 *
 * A transaction that changed topics tells the other backends (their topic
 * caches) and the nagare worker (which keeps the broker's topic table) once
 * it has committed.  That runs in XACT_EVENT_COMMIT, where nothing may fail:
 * an atomic increment and a SetLatch.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/proc.h"

#include "queue/queue.h"
#include "shmem.h"
#include "sql/catalog.h"
#include "sql/send.h"

/* ring position after this transaction's last appended record, or 0 */
static uint64 sent_end_pos = 0;
/* this transaction created, altered or deleted a topic */
static bool ddl_done = false;

void
nagare_xact_note_sent(uint64 end_pos)
{
	if (end_pos > sent_end_pos)
		sent_end_pos = end_pos;
}

/*
 * Read your own writes: wait until this transaction's sends are written, so
 * that consume() in the same transaction sees them.  (Waiting for
 * durability is the one wait the broker offers; it is what commit does
 * anyway.)
 */
void
nagare_xact_wait_own_sends(void)
{
	if (sent_end_pos > 0)
		nagare_queue_wait_durable(sent_end_pos);
}

void
nagare_xact_note_ddl(void)
{
	ddl_done = true;
	/* our own uncommitted changes must not be served from the cache */
	nagare_catalog_invalidate();
}

static void
wake_worker(void)
{
	int			procno;

	SpinLockAcquire(&nagare_shared->broker_mutex);
	procno = nagare_shared->worker_procno;
	SpinLockRelease(&nagare_shared->broker_mutex);
	if (procno >= 0)
		SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

void
nagare_send_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (ddl_done)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that changed nagare topics")));
			/* FALLTHROUGH */
		case XACT_EVENT_PRE_COMMIT:
			if (sent_end_pos > 0)
			{
				uint64		target = sent_end_pos;

				sent_end_pos = 0;
				nagare_queue_wait_durable(target);
			}
			break;
		case XACT_EVENT_COMMIT:
			if (ddl_done && nagare_shared != NULL)
			{
				pg_atomic_fetch_add_u64(&nagare_shared->catalog_generation, 1);
				wake_worker();
			}
			sent_end_pos = 0;
			ddl_done = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (ddl_done)
				nagare_catalog_invalidate();
			sent_end_pos = 0;
			ddl_done = false;
			break;
		default:
			break;
	}
}
