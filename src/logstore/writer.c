/*-------------------------------------------------------------------------
 *
 * writer.c
 *	  Appends to the broker's partitions: file positions, index entries,
 *	  segment rolls, group fsync, clean shutdown.
 *
 * Appending.  The broker takes entries from the append ring in order.  Each
 * entry's batch is assigned the next file position of its partition's active
 * segment (rolling first when segment.bytes or segment.ms says so), and is
 * added to the partition's open write, an iovec pointing straight into the
 * ring: batches reach the file without another copy.  At the end of a loop
 * turn every open write is submitted as one writev.  Writes of a partition
 * complete in any order; the high watermark advances over the prefix of
 * completed writes only, so readers never see a hole.
 *
 * Durability.  fdatasync is grouped: when somebody waits for durability (a
 * committing transaction that sent records), the broker notes the ring
 * position below which everything is written ("tail"), fdatasyncs every
 * segment written since the previous sync and every directory that gained an
 * entry, and when all of them complete publishes that position as durable.
 * Waiters that arrive meanwhile are served by the next round.  A failed fsync
 * is a PANIC (data_sync_elevel), as in PostgreSQL: after a failed fsync the
 * kernel may have dropped the dirty pages, so retrying would lie.  A round
 * that fdatasynced a segment is timed, start to last completion, for GET
 * /metrics (nagare_log_take_sync_round); each append adds its bytes and
 * records to the partition's shared counters.
 *
 * What each partition has durable.  A round's fdatasyncs cover every write
 * completed before they were issued, so a round makes durable what each
 * partition had written when it started: partitions written since their last
 * round are on the "undurable" list; a round moves them to the "syncing"
 * list with what they had written then, and when it completes that becomes
 * their durable_end, which nagare.serve_durable_only readers stop at.  A
 * partition on the undurable list longer than its topic's flush.ms (or at
 * once, with nagare.serve_durable_only and no flush.ms) asks for a round
 * itself (nagare_log_flush_due).
 *
 * Disk full.  A data or index write that fails with ENOSPC or EDQUOT is not
 * an error of the broker: it is logged once, kept (its segment keeps it in
 * flight, its ring entries stay not written, so neither the high watermark
 * nor "durable" passes it) and submitted again every second, whole, at the
 * same position (rewriting bytes a short write left is harmless), unless
 * its partition is being deleted: then it is given up.  Meanwhile
 * nagare_shared->storage_errno is set and new records are refused
 * (logstore/segment.c, broker/produce.c); it is cleared, with a LOG line,
 * when every failed write has succeeded.  Any other write error ends the
 * broker (ERROR), which restarts and recovers.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"


#include "portability/instr_time.h"
#include "storage/fd.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "shmem.h"

#include "aio/aio.h"
#include "kafka/record.h"
#include "logstore/log.h"
#include "logstore/log_internal.h"
#include "logstore/producerstate.h"
#include "logstore/segment.h"
#include "nagare.h"

/* Partition writes in flight */
struct LogWrite
{
	dlist_node	node;			/* in LogPartition.writes */
	LogPartition *lp;
	LogSegment *seg;
	off_t		position;
	int64		end_offset;		/* offset after the last batch */
	int64		bytes;
	bool		done;
	bool failed; /* failed for want of space at least once */
	dlist_node retry_node; /* in failed_writes while waiting for a retry */
	int			nentries;
	NagareAppendEntry *entries[64];
	struct iovec iov[64];
};

#define LOG_WRITE_MAX_IOV 64

/* An index or timeindex write; the bytes follow the struct */
typedef struct IndexWrite
{
	LogPartition *lp;
	LogSegment *seg;
	int fd;
	off_t position;
	bool failed; /* failed for want of space at least once */
	dlist_node retry_node; /* in failed_index_writes */
	int			len;
	char		data[FLEXIBLE_ARRAY_MEMBER];
} IndexWrite;

static dlist_head touched = DLIST_STATIC_INIT(touched);
static dlist_head dirty_segments = DLIST_STATIC_INIT(dirty_segments);
static dlist_head rolled_segments = DLIST_STATIC_INIT(rolled_segments);
/* Partitions whose directory gained entries since the last fsync round */
static dlist_head dirty_dirs = DLIST_STATIC_INIT(dirty_dirs);
/* Partitions written beyond durable_end, and those the running round syncs */
static dlist_head undurable = DLIST_STATIC_INIT(undurable);
static dlist_head syncing = DLIST_STATIC_INIT(syncing);
static int64 flush_checked_ms = -1;

/* writes that failed for want of space, submitted again every second */
static dlist_head failed_writes = DLIST_STATIC_INIT(failed_writes);
static dlist_head failed_index_writes = DLIST_STATIC_INIT(failed_index_writes);
static int nfailed = 0; /* writes that failed and have not succeeded */
static int64 next_retry_ms = 0;

/* group sync state */
static int	sync_inflight = 0;
static uint64 sync_target = 0;
static bool sync_running = false;
static uint64 synced_target = 0;
/* the running round's start and fdatasyncs; the last finished one's time */
static instr_time sync_started;
static int sync_files = 0;
static bool sync_round_untaken = false;
static uint64 sync_round_us = 0;

static void segment_flush_index(LogPartition *lp, LogSegment *seg);
static bool write_failed_for_space(int64 result, bool *failed, const char *what,
								   LogSegment *seg, const char *dir);
static void write_succeeded(bool *failed);
static void write_done(void *arg, int64 result);
static void index_write_done(void *arg, int64 result);
static void sync_done(void *arg, int64 result);

/* The partition's directory gained entries: fsync it in the next round */
static void
mark_dir_dirty(LogPartition *lp)
{
	if (lp->dir_dirty)
		return;
	lp->dir_dirty = true;
	dlist_push_tail(&dirty_dirs, &lp->dir_dirty_node);
}

static void
ensure_partition_dir(LogPartition *lp)
{
	if (lp->dir_exists)
		return;
	if (MakePGDirectory(lp->dir) < 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", lp->dir)));
	lp->dir_exists = true;
	mark_dir_dirty(lp);
	nagare_dir_dirty = true;
}

/* Create the files of a new active segment. */
static LogSegment *
segment_new(LogPartition *lp, int64 base_offset)
{
	LogSegment *seg = nagare_log_segment_alloc(base_offset);

	/*
	 * Until the new file's directory entry is durable, committing backends
	 * must leave the fsync to the broker (see NagarePartition.sync_base).
	 * This is published before any record is assigned to the new segment.
	 */
	pg_atomic_write_u64(&lp->shared->sync_base, NAGARE_NO_SYNC_BASE);
	ensure_partition_dir(lp);
	nagare_log_segment_open_files(lp, seg, true);
	mark_dir_dirty(lp);
	nagare_log_partition_add_segment(lp, seg);
	return seg;
}

/*
 * Queue an index entry: last_offset of the batch that starts at position.
 */
static void
segment_add_index_entry(LogSegment *seg, int64 last_offset, int64 position)
{
	uint8	   *e;

	if (seg->index_buf_len + NAGARE_INDEX_ENTRY_SIZE > (int) sizeof(seg->index_buf))
		return;					/* flushed every turn; cannot fill up */
	e = seg->index_buf + seg->index_buf_len;
	nagare_index_entry_encode(e, (int32) (last_offset - seg->base_offset), (int32) position);
	seg->index_buf_len += NAGARE_INDEX_ENTRY_SIZE;
	if (seg->noffidx == seg->maxoffidx)
	{
		seg->maxoffidx = Max(64, seg->maxoffidx * 2);
		seg->offidx = seg->offidx ?
			repalloc_huge(seg->offidx, sizeof(LogIndexEntry) * seg->maxoffidx) :
			MemoryContextAlloc(nagare_log_context, sizeof(LogIndexEntry) * seg->maxoffidx);
	}
	seg->offidx[seg->noffidx].rel = (int32) (last_offset - seg->base_offset);
	seg->offidx[seg->noffidx].position = (int32) position;
	seg->noffidx++;
}

/*
 * Queue a time index entry for the largest timestamp so far, if it grew
 * since the last entry (Kafka's TimeIndex.maybeAppend).
 */
void
nagare_log_segment_add_timeindex_entry(LogSegment *seg)
{
	uint8	   *e;

	if (seg->max_timestamp <= seg->last_ti_timestamp)
		return;
	if (seg->timeindex_buf_len + NAGARE_TIMEINDEX_ENTRY_SIZE > (int) sizeof(seg->timeindex_buf))
		return;
	e = seg->timeindex_buf + seg->timeindex_buf_len;
	nagare_timeindex_entry_encode(e, seg->max_timestamp,
								  (int32) (seg->max_timestamp_offset - seg->base_offset));
	seg->timeindex_buf_len += NAGARE_TIMEINDEX_ENTRY_SIZE;
	seg->last_ti_timestamp = seg->max_timestamp;
	nagare_log_timeidx_add(seg, seg->max_timestamp, (int32) (seg->max_timestamp_offset - seg->base_offset));
}

static void
segment_mark_dirty(LogSegment *seg)
{
	seg->dirty = true;
	if (!seg->in_dirty_list)
	{
		dlist_push_tail(&dirty_segments, &seg->dirty_node);
		seg->in_dirty_list = true;
	}
}

/* Submit len bytes of buf as a write at *size of fd, which then grows */
static void
submit_index_write(LogPartition *lp, LogSegment *seg, int fd, const uint8 *buf, int len,
				   int64 *size)
{
	IndexWrite *w = MemoryContextAlloc(nagare_log_context, offsetof(IndexWrite, data) + len);
	struct iovec iov;

	w->lp = lp;
	w->seg = seg;
	w->fd = fd;
	w->position = *size;
	w->failed = false;
	w->len = len;
	memcpy(w->data, buf, len);
	iov.iov_base = w->data;
	iov.iov_len = len;
	seg->inflight++;
	nagare_aio_writev(fd, &iov, 1, *size, index_write_done, w);
	*size += len;
}

/* Submit the queued index and time index entries of a segment. */
static void
segment_flush_index(LogPartition *lp, LogSegment *seg)
{
	if (seg->index_buf_len > 0)
	{
		submit_index_write(lp, seg, seg->index_fd, seg->index_buf, seg->index_buf_len,
						   &seg->index_size);
		seg->index_buf_len = 0;
	}
	if (seg->timeindex_buf_len > 0)
	{
		submit_index_write(lp, seg, seg->timeindex_fd, seg->timeindex_buf,
						   seg->timeindex_buf_len, &seg->timeindex_size);
		seg->timeindex_buf_len = 0;
	}
}

static void
index_write_done(void *arg, int64 result)
{
	IndexWrite *w = arg;

	if (write_failed_for_space(result, &w->failed, "index", w->seg, NULL))
	{
		dlist_push_tail(&failed_index_writes, &w->retry_node);
		return;
	}
	if (result < 0)
	{
		errno = (int) -result;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write index of segment %lld: %m",
						(long long) w->seg->base_offset)));
	}
	write_succeeded(&w->failed);
	w->seg->inflight--;
	pfree(w);
}

/* Start the open write of a partition, if any. */
static void
partition_submit_write(LogPartition *lp)
{
	LogWrite   *w = lp->open_write;

	if (w == NULL)
		return;
	lp->open_write = NULL;
	dlist_push_tail(&lp->writes, &w->node);
	w->seg->inflight++;
	nagare_aio_writev(w->seg->log_fd, w->iov, w->nentries, w->position, write_done, w);
	segment_flush_index(lp, w->seg);
}

/*
 * Roll: the active segment becomes inactive (its time index gets its final
 * entry) and a new one starts at base_offset.
 */
static void
partition_roll(LogPartition *lp, int64 base_offset, int64 now)
{
	LogSegment *old = lp->segs[lp->nsegs - 1];

	partition_submit_write(lp);
	nagare_log_segment_add_timeindex_entry(old);
	segment_flush_index(lp, old);
	dlist_push_tail(&rolled_segments, &old->rolled_node);
	old->in_rolled_list = true;
	(void) segment_new(lp, base_offset);
	lp->segs[lp->nsegs - 1]->created_ms = now;
}

/*
 * Assign the entry's batch a place in its partition's active segment and add
 * it to the partition's open write.
 */
void
nagare_log_append(LogPartition *lp, NagareAppendEntry *e)
{
	LogSegment *seg;
	LogWrite   *w;
	int64		now = kafka_now_ms();
	const NagareTopicConfig *cfg = nagare_log_partition_config(lp);
	int64		last_offset = e->base_offset + e->record_count - 1;

	Assert(e->base_offset >= lp->log_end && last_offset >= e->base_offset);
	if (lp->nsegs == 0)
		seg = segment_new(lp, e->base_offset);
	else
	{
		seg = lp->segs[lp->nsegs - 1];
		if (seg->size > 0 &&
			(seg->size + e->batch_len > cfg->segment_bytes ||
			 seg->size + e->batch_len > PG_INT32_MAX ||
			 now - seg->created_ms > cfg->segment_ms ||
			 last_offset - seg->base_offset > PG_INT32_MAX))
		{
			partition_roll(lp, e->base_offset, now);
			seg = lp->segs[lp->nsegs - 1];
		}
		else if (seg->log_fd < 0)
			nagare_log_segment_open_files(lp, seg, false);
	}

	w = lp->open_write;
	if (w != NULL && (w->seg != seg || w->nentries == LOG_WRITE_MAX_IOV))
	{
		partition_submit_write(lp);
		w = NULL;
	}
	if (w == NULL)
	{
		w = MemoryContextAlloc(nagare_log_context, sizeof(LogWrite));
		w->lp = lp;
		w->seg = seg;
		w->position = seg->size;
		w->bytes = 0;
		w->done = false;
		w->failed = false;
		w->nentries = 0;
		lp->open_write = w;
		if (!lp->in_touched_list)
		{
			dlist_push_tail(&touched, &lp->touched_node);
			lp->in_touched_list = true;
		}
	}
	w->entries[w->nentries] = e;
	w->iov[w->nentries].iov_base = NAGARE_ENTRY_DATA(e);
	w->iov[w->nentries].iov_len = e->batch_len;
	w->nentries++;
	w->bytes += e->batch_len;
	w->end_offset = last_offset + 1;

	/* Kafka indexes a batch when index.interval.bytes passed since the last */
	if (seg->size == 0 || seg->size - seg->last_index_size > cfg->index_interval_bytes)
	{
		segment_add_index_entry(seg, last_offset, seg->size);
		seg->last_index_size = seg->size;
		if (e->max_timestamp > seg->max_timestamp)
		{
			seg->max_timestamp = e->max_timestamp;
			seg->max_timestamp_offset = last_offset;
		}
		nagare_log_segment_add_timeindex_entry(seg);
	}
	else if (e->max_timestamp > seg->max_timestamp)
	{
		seg->max_timestamp = e->max_timestamp;
		seg->max_timestamp_offset = last_offset;
	}
	seg->size += e->batch_len;
	seg->next_offset = last_offset + 1;
	lp->log_end = last_offset + 1;

	/* GET /metrics: what went into the partition (the broker writes alone) */
	pg_atomic_write_u64(&lp->shared->bytes_in,
						pg_atomic_read_u64(&lp->shared->bytes_in) + e->batch_len);
	pg_atomic_write_u64(&lp->shared->records_in,
						pg_atomic_read_u64(&lp->shared->records_in) + e->record_count);
}

/*
 * A write completed with result: if it failed for want of space, log that
 * once (the first such failure since writes last succeeded), set
 * storage_errno and return true; the caller then keeps it for a retry.
 */
static bool
write_failed_for_space(int64 result, bool *failed, const char *what, LogSegment *seg,
					   const char *dir)
{
	if (result != -ENOSPC && result != -EDQUOT)
		return false;
	if (!*failed)
	{
		*failed = true;
		nfailed++;
	}
	if (pg_atomic_read_u32(&nagare_shared->storage_errno) == 0)
	{
		pg_atomic_write_u32(&nagare_shared->storage_errno, (uint32) -result);
		errno = (int) -result;
		ereport(LOG,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("nagare broker: could not write %s of segment %lld%s%s: %m", what,
						(long long) seg->base_offset, dir ? " of " : "", dir ? dir : ""),
				 errdetail(
					 "New records are refused (Kafka: KAFKA_STORAGE_ERROR, SQL: SQLSTATE 53100) until the failed writes succeed; they are retried every second.")));
	}
	next_retry_ms = kafka_now_ms() + 1000;
	return true;
}

/* A write succeeded: when it was the last that had failed, say so */
static void
write_succeeded(bool *failed)
{
	if (!*failed)
		return;
	*failed = false;
	if (--nfailed == 0)
	{
		pg_atomic_write_u32(&nagare_shared->storage_errno, 0);
		ereport(LOG,
				(errmsg(
					"nagare broker: the writes that failed for want of space succeeded; new records are accepted again")));
	}
}

/* Submit again the writes that failed for want of space, once a second */
static void
retry_failed_writes(bool now)
{
	dlist_mutable_iter iter;

	if (dlist_is_empty(&failed_writes) && dlist_is_empty(&failed_index_writes))
		return;
	if (!now && kafka_now_ms() < next_retry_ms)
		return;
	/*
	 * A partition being deleted (perhaps to free space) gives its failed
	 * writes up: they complete as if written, as entries of a deleted topic
	 * do in the ring, so that nothing keeps its files.
	 */
	dlist_foreach_modify (iter, &failed_writes)
	{
		LogWrite *w = dlist_container(LogWrite, retry_node, iter.cur);

		dlist_delete(iter.cur);
		if (w->lp->deleting)
			write_done(w, w->bytes);
		else
			nagare_aio_writev(w->seg->log_fd, w->iov, w->nentries, w->position,
							  write_done, w);
	}
	dlist_foreach_modify (iter, &failed_index_writes)
	{
		IndexWrite *w = dlist_container(IndexWrite, retry_node, iter.cur);
		struct iovec iov;

		dlist_delete(iter.cur);
		if (w->lp->deleting)
		{
			index_write_done(w, w->len);
			continue;
		}
		iov.iov_base = w->data;
		iov.iov_len = w->len;
		nagare_aio_writev(w->fd, &iov, 1, w->position, index_write_done, w);
	}
}

/* Submit every open write; called once per loop turn. */
void
nagare_log_submit_writes(void)
{
	dlist_mutable_iter iter;

	retry_failed_writes(false);

	dlist_foreach_modify(iter, &touched)
	{
		LogPartition *lp = dlist_container(LogPartition, touched_node, iter.cur);

		dlist_delete(iter.cur);
		lp->in_touched_list = false;
		partition_submit_write(lp);
	}
}

/*
 * A data write completed: mark its ring entries done and move the high
 * watermark over the completed prefix of the partition's writes.
 */
static void
write_done(void *arg, int64 result)
{
	LogWrite   *w = arg;
	LogPartition *lp = w->lp;
	int			i;

	if (write_failed_for_space(result, &w->failed, "data", w->seg, lp->dir))
	{
		dlist_push_tail(&failed_writes, &w->retry_node);
		return;
	}
	if (result < 0)
	{
		errno = (int) -result;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write to segment %lld of partition \"%s\": %m",
						(long long) w->seg->base_offset, lp->dir)));
	}
	write_succeeded(&w->failed);
	w->seg->inflight--;
	segment_mark_dirty(w->seg);
	for (i = 0; i < w->nentries; i++)
		w->entries[i]->done = true;
	w->done = true;

	while (!dlist_is_empty(&lp->writes))
	{
		LogWrite   *first = dlist_head_element(LogWrite, node, &lp->writes);

		if (!first->done)
			break;
		dlist_pop_head_node(&lp->writes);
		Assert(first->end_offset > lp->written_end && first->end_offset <= lp->log_end);
		lp->written_end = first->end_offset;
		first->seg->written_size = first->position + first->bytes;
		lp->written_seg_base = first->seg->base_offset;
		lp->written_seg_size = first->seg->written_size;
		pfree(first);
	}
	if (lp->written_end > lp->durable_end && !lp->in_undurable_list)
	{
		dlist_push_tail(&undurable, &lp->undurable_node);
		lp->in_undurable_list = true;
		lp->undurable_since = kafka_now_ms();
		flush_checked_ms = -1;
	}
	nagare_log_partition_publish(lp);
}

/*
 * Group fsync.  Returns true if a round was started for target (a ring
 * position below which every entry is written).
 */
bool
nagare_log_start_sync(uint64 target)
{
	dlist_mutable_iter iter;

	if (sync_running)
		return false;
	sync_running = true;
	sync_target = target;
	sync_inflight = 1;			/* held until everything is submitted */
	sync_files = 0;
	INSTR_TIME_SET_CURRENT(sync_started);

	dlist_foreach_modify(iter, &dirty_segments)
	{
		LogSegment *seg = dlist_container(LogSegment, dirty_node, iter.cur);

		dlist_delete(iter.cur);
		seg->in_dirty_list = false;
		seg->dirty = false;
		if (seg->log_fd < 0)
			continue;
		seg->inflight++;
		sync_inflight++;
		sync_files++;
		nagare_aio_fdatasync(seg->log_fd, sync_done, seg);
	}

	/* what each partition has written now is durable when the round ends */
	dlist_foreach_modify (iter, &undurable)
	{
		LogPartition *lp = dlist_container(LogPartition, undurable_node, iter.cur);

		dlist_delete(iter.cur);
		lp->in_undurable_list = false;
		lp->sync_end = lp->written_end;
		lp->sync_seg_base = lp->written_seg_base;
		lp->sync_size = lp->written_seg_size;
		if (!lp->in_syncing_list)
		{
			dlist_push_tail(&syncing, &lp->syncing_node);
			lp->in_syncing_list = true;
		}
	}

	/*
	 * Directories that gained files: rare, so open and fsync them here,
	 * pg_nagare first so that a partition directory is reachable before its
	 * files are declared so.  Then committing backends may fsync the active
	 * segment themselves.
	 */
	if (nagare_dir_dirty)
	{
		fsync_fname(NAGARE_DIR, true);
		nagare_dir_dirty = false;
	}
	dlist_foreach_modify(iter, &dirty_dirs)
	{
		LogPartition *lp = dlist_container(LogPartition, dir_dirty_node, iter.cur);

		dlist_delete(iter.cur);
		lp->dir_dirty = false;
		fsync_fname(lp->dir, true);
		if (lp->nsegs > 0)
			pg_atomic_write_u64(&lp->shared->sync_base,
								(uint64) lp->segs[lp->nsegs - 1]->base_offset);
	}

	sync_done(NULL, 0);
	return true;
}

static void
sync_done(void *arg, int64 result)
{
	LogSegment *seg = arg;

	if (result < 0)
	{
		errno = (int) -result;
		ereport(data_sync_elevel(ERROR),
				(errcode_for_file_access(),
				 errmsg("could not fdatasync segment %lld: %m",
						seg ? (long long) seg->base_offset : -1LL)));
	}
	if (seg)
		seg->inflight--;
	if (--sync_inflight == 0)
	{
		dlist_mutable_iter iter;

		sync_running = false;
		synced_target = sync_target;
		if (sync_files > 0)
		{
			instr_time now;

			INSTR_TIME_SET_CURRENT(now);
			INSTR_TIME_SUBTRACT(now, sync_started);
			sync_round_us = INSTR_TIME_GET_MICROSEC(now);
			sync_round_untaken = true;
		}
		dlist_foreach_modify (iter, &syncing)
		{
			LogPartition *lp = dlist_container(LogPartition, syncing_node, iter.cur);

			dlist_delete(iter.cur);
			lp->in_syncing_list = false;
			lp->durable_end = lp->sync_end;
			lp->durable_seg_base = lp->sync_seg_base;
			lp->durable_size = lp->sync_size;
			nagare_log_partition_publish(lp);
		}
	}
}

/*
 * Does some partition need an fsync round now: written records older than
 * its topic's flush.ms, or, with nagare.serve_durable_only, any written
 * record of a topic without flush.ms?  Otherwise *timeout_ms is lowered to
 * when one will.  Looks at most once per millisecond.
 */
bool
nagare_log_flush_due(int64 now, long *timeout_ms)
{
	static long next_in = -1;
	dlist_iter iter;

	if (dlist_is_empty(&undurable))
		return false;
	if (now == flush_checked_ms)
	{
		if (next_in >= 0)
			*timeout_ms = Min(*timeout_ms, Max(next_in, 1));
		return false;
	}
	flush_checked_ms = now;
	next_in = -1;
	dlist_foreach (iter, &undurable)
	{
		LogPartition *lp = dlist_container(LogPartition, undurable_node, iter.cur);
		int64 flush_ms = nagare_log_partition_config(lp)->flush_ms;
		int64 due;

		if (lp->deleting)
			continue;
		if (flush_ms < 0)
		{
			if (!nagare_serve_durable_only)
				continue;
			flush_ms = 0;
		}
		due = lp->undurable_since + flush_ms - now;
		if (due <= 0)
		{
			flush_checked_ms = -1;
			return true;
		}
		if (next_in < 0 || due < next_in)
			next_in = (long) Min(due, LONG_MAX);
	}
	if (next_in >= 0)
		*timeout_ms = Min(*timeout_ms, next_in);
	return false;
}

/* Where readers stop: the high watermark, or what is durable */
int64
nagare_log_readable_end(LogPartition *lp)
{
	return nagare_serve_durable_only ? lp->durable_end : lp->written_end;
}

bool
nagare_log_sync_pending(void)
{
	return sync_running;
}

/*
 * The time of the last finished round that fdatasynced a segment, from its
 * start to its last completion, once (for GET /metrics): false if none
 * finished since the last call.
 */
bool
nagare_log_take_sync_round(uint64 *us)
{
	if (!sync_round_untaken)
		return false;
	sync_round_untaken = false;
	*us = sync_round_us;
	return true;
}

/* Position up to which the last completed sync round made the ring durable */
uint64
nagare_log_synced_target(void)
{
	return synced_target;
}

/*
 * Close the files of rolled segments once their writes are done and an fsync
 * round has covered them: a partition keeps only its active segment open.
 * Returns true if some rolled segment still needs an fsync round, which the
 * caller should then start even if no commit is waiting for one.
 */
bool
nagare_log_close_rolled_segments(void)
{
	dlist_mutable_iter iter;
	bool		need_sync = false;

	dlist_foreach_modify(iter, &rolled_segments)
	{
		LogSegment *seg = dlist_container(LogSegment, rolled_node, iter.cur);

		if (seg->dirty)
			need_sync = true;
		else if (seg->inflight == 0 && seg->index_buf_len == 0 && seg->timeindex_buf_len == 0)
		{
			nagare_log_segment_close_files(seg);
			dlist_delete(iter.cur);
			seg->in_rolled_list = false;
		}
	}
	return need_sync;
}

/*
 * Clean shutdown: everything written is fsynced and files are closed.
 */
void
nagare_log_shutdown(void)
{
	HASH_SEQ_STATUS status;
	LogPartition *lp;
	dlist_mutable_iter iter;

	nagare_log_submit_writes();
	retry_failed_writes(true);
	nagare_aio_drain();

	/*
	 * Writes that still fail for want of space are given up: their records
	 * were never acknowledged, and the next start's recovery ends the
	 * partition before them.
	 */
	dlist_foreach_modify (iter, &failed_writes)
	{
		LogWrite *w = dlist_container(LogWrite, retry_node, iter.cur);

		ereport(LOG,
				(errmsg("nagare broker: records up to offset %lld of \"%s\" are not written for want of space; they were not acknowledged",
						(long long) w->end_offset - 1, w->lp->dir)));
		dlist_delete(iter.cur);
		w->seg->inflight--;
	}
	dlist_foreach_modify (iter, &failed_index_writes)
	{
		IndexWrite *w = dlist_container(IndexWrite, retry_node, iter.cur);

		dlist_delete(iter.cur);
		w->seg->inflight--;
	}

	hash_seq_init(&status, nagare_log_hash);
	while ((lp = hash_seq_search(&status)) != NULL)
	{
		int			i;

		for (i = 0; i < lp->nsegs; i++)
		{
			LogSegment *seg = lp->segs[i];

			if (seg->log_fd < 0)
				continue;
			nagare_log_segment_add_timeindex_entry(seg);
			if (seg->index_buf_len > 0 || seg->timeindex_buf_len > 0)
			{
				segment_flush_index(lp, seg);
				nagare_aio_drain();
			}
			if (pg_fdatasync(seg->log_fd) != 0 ||
				pg_fdatasync(seg->index_fd) != 0 ||
				pg_fdatasync(seg->timeindex_fd) != 0)
				ereport(data_sync_elevel(ERROR),
						(errcode_for_file_access(),
						 errmsg("could not fdatasync segment %lld of \"%s\": %m",
								(long long) seg->base_offset, lp->dir)));
			nagare_log_segment_close_files(seg);
		}
		if (lp->dir_dirty)
			fsync_fname(lp->dir, true);
		/* everything is written: the producer state matches the log end */
		if (!lp->deleting)
			nagare_producers_snapshot(lp);
	}
	if (nagare_dir_dirty)
		fsync_fname(NAGARE_DIR, true);
}
