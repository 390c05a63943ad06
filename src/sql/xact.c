/*-------------------------------------------------------------------------
 *
 * xact.c
 *	  What a transaction that used nagare must do when it ends.
 *
 * Records sent by send() are appended at once and are not transactional.
 * What the transaction adds is durability: when its COMMIT returns, its
 * records are on disk.  That is done in XACT_EVENT_PRE_COMMIT, still inside
 * the transaction, where an error aborts it and a cancel is honoured, in one
 * of two ways:
 *
 *	- When the transaction wrote to a few partitions whose active segment is
 *	  established (NagarePartition.sync_base), the backend waits until the
 *	  broker has written its records and then fdatasyncs those segment files
 *	  itself, as a backend flushes WAL itself.  This costs one wake-up of the
 *	  broker and no round trip through the broker's fsync machinery.
 *	- Otherwise (many partitions, a segment just created or rolled, or
 *	  nagare.serve_durable_only, whose readers see what the broker's rounds
 *	  made durable) it asks the broker to fsync the append ring past its last
 *	  record; concurrent commits share one fsync round (broker.c).
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

#include <fcntl.h>

#include "storage/fd.h"
#include "storage/proc.h"

#include "logstore/segment.h"
#include "nagare.h"
#include "queue/queue.h"
#include "shmem.h"
#include "topic/catalog.h"
#include "sql/send.h"

/* ring position after this transaction's last appended record, or 0 */
static uint64 sent_end_pos = 0;

/* Partitions this transaction sent to, for the backend's own fsync */
#define MAX_SYNC_PARTITIONS 8

typedef struct SentPartition
{
	NagarePartition *part;
	uint64		incarnation;
	int64		min_offset;		/* smallest offset this transaction got */
} SentPartition;

static SentPartition sent_parts[MAX_SYNC_PARTITIONS];
static int	nsent_parts = 0;
static bool sent_parts_overflow = false;
/* this transaction created, altered or deleted a topic */
static bool ddl_done = false;

/* this transaction called publish(): wake the ingest worker when it commits */
static bool published = false;

/*
 * The (sub)transaction whose publish() message carries the transaction's
 * origin (its role and application_name, for the ingest worker's latency
 * SLI), or InvalidSubTransactionId while none that will commit does.
 */
static SubTransactionId origin_subid = InvalidSubTransactionId;

/* the transaction changed nagare.acl: the worker copies it after commit */
static bool acls_changed = false;

/* Remember that this transaction appended at base_offset of part */
static void
note_partition(NagarePartition *part, uint64 incarnation, int64 base_offset)
{
	int			i;

	for (i = 0; i < nsent_parts; i++)
	{
		if (sent_parts[i].part == part && sent_parts[i].incarnation == incarnation)
		{
			sent_parts[i].min_offset = Min(sent_parts[i].min_offset, base_offset);
			return;
		}
	}
	if (nsent_parts == MAX_SYNC_PARTITIONS)
	{
		sent_parts_overflow = true;
		return;
	}
	sent_parts[nsent_parts].part = part;
	sent_parts[nsent_parts].incarnation = incarnation;
	sent_parts[nsent_parts].min_offset = base_offset;
	nsent_parts++;
}

/*
 * The transaction appended these batches (send(), send_batch()), the last
 * ending at ring position end_pos: its commit waits until they are durable.
 */
void
nagare_xact_note_appended(const NagareAppend *appended, int n, uint64 end_pos)
{
	int			i;

	if (end_pos > sent_end_pos)
		sent_end_pos = end_pos;
	for (i = 0; i < n; i++)
		note_partition(appended[i].part, appended[i].incarnation, appended[i].base_offset);
}

static void
reset_sent(void)
{
	sent_end_pos = 0;
	nsent_parts = 0;
	sent_parts_overflow = false;
}

/*
 * fdatasync the active segment of each partition this transaction sent to,
 * once the broker has written its records.  Returns false if some partition
 * needs the broker's fsync instead (its records are not all in an
 * established active segment).
 */
static bool
sync_own_segments(uint64 target)
{
	int			i;

	if (sent_parts_overflow || nsent_parts == 0)
		return false;
	nagare_queue_wait_written(target);
	pg_read_barrier();

	for (i = 0; i < nsent_parts; i++)
	{
		SentPartition *sp = &sent_parts[i];
		uint64		base = pg_atomic_read_u64(&sp->part->sync_base);
		char		dir[MAXPGPATH];
		char		path[MAXPGPATH];
		int			fd;

		if (sp->part->incarnation != sp->incarnation)
			continue;			/* the topic was deleted meanwhile */
		if (base == NAGARE_NO_SYNC_BASE || sp->min_offset < (int64) base)
			return false;
		nagare_partition_dir(dir, sp->part->key.topic_id, sp->part->key.partition);
		nagare_segment_path(path, dir, (int64) base, ".log");
		fd = OpenTransientFile(path, O_RDWR | PG_BINARY);
		if (fd < 0)
		{
			if (errno == ENOENT)
				return false;	/* deleted under us: let the broker decide */
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open file \"%s\": %m", path)));
		}
		if (pg_fdatasync(fd) != 0)
			ereport(data_sync_elevel(ERROR),
					(errcode_for_file_access(),
					 errmsg("could not fdatasync file \"%s\": %m", path)));
		CloseTransientFile(fd);
	}
	return true;
}

/*
 * Read your own writes: wait until this transaction's sends are written, so
 * that consume() in the same transaction sees them.
 */
void
nagare_xact_wait_own_sends(void)
{
	if (sent_end_pos > 0)
		nagare_queue_wait_written(sent_end_pos);
}

void
nagare_xact_note_ddl(void)
{
	ddl_done = true;
	/* our own uncommitted changes must not be served from the cache */
	nagare_catalog_invalidate();
}

void
nagare_send_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (ddl_done || acls_changed)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that changed nagare topics or ACLs")));
			/* FALLTHROUGH */
		case XACT_EVENT_PRE_COMMIT:
			if (sent_end_pos > 0 &&
				pg_atomic_read_u64(&nagare_shared->durable) < sent_end_pos)
			{
				uint64		target = sent_end_pos;

				/*
				 * With nagare.serve_durable_only, consumers see what the
				 * broker's rounds made durable: let one cover the records.
				 */
				if (nagare_serve_durable_only || !sync_own_segments(target))
					nagare_queue_wait_durable(target);
			}
			reset_sent();
			break;
		case XACT_EVENT_COMMIT:
			if (acls_changed && nagare_acls != NULL)
			{
				pg_atomic_fetch_add_u64(&nagare_acls->changes, 1);
				nagare_wake_worker();
			}
			acls_changed = false;
			if (ddl_done && nagare_shared != NULL)
			{
				pg_atomic_fetch_add_u64(&nagare_shared->catalog_generation, 1);
				nagare_wake_worker();
			}
			/* the commit never waits for the ingest worker: one SetLatch */
			if (published && nagare_shared != NULL)
				nagare_wake_ingest();
			reset_sent();
			ddl_done = false;
			published = false;
			origin_subid = InvalidSubTransactionId;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			acls_changed = false;
			if (ddl_done)
				nagare_catalog_invalidate();
			reset_sent();
			ddl_done = false;
			published = false;
			origin_subid = InvalidSubTransactionId;
			break;
		case XACT_EVENT_PREPARE:
			published = false;
			origin_subid = InvalidSubTransactionId;
			break;
		default:
			break;
	}
}

/* The transaction changed nagare.acl (the table's statement trigger) */
void
nagare_xact_note_acl_change(void)
{
	acls_changed = true;
}

/* The transaction called publish() */
void
nagare_xact_note_published(void)
{
	published = true;
}

/*
 * Whether this publish() is the one to carry the transaction's origin:
 * the first of the transaction, or the first since the subtransaction
 * whose message carried it rolled back (its message is then not decoded).
 */
bool
nagare_xact_publish_origin(void)
{
	if (origin_subid != InvalidSubTransactionId)
		return false;
	origin_subid = GetCurrentSubTransactionId();
	return true;
}

/* A subtransaction ends: the origin's message goes with it, or to its parent */
void
nagare_send_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid, void *arg)
{
	if (mySubid != origin_subid)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
		origin_subid = InvalidSubTransactionId;
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		origin_subid = parentSubid;
}
