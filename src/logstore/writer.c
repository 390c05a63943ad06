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
 * kernel may have dropped the dirty pages, so retrying would lie.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"


#include "storage/fd.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "aio/aio.h"
#include "kafka/record.h"
#include "logstore/log.h"
#include "logstore/log_internal.h"
#include "logstore/producerstate.h"
#include "logstore/segment.h"

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
	int			nentries;
	NagareAppendEntry *entries[64];
	struct iovec iov[64];
};

#define LOG_WRITE_MAX_IOV 64

/* An index or timeindex write; the bytes follow the struct */
typedef struct IndexWrite
{
	LogSegment *seg;
	int			len;
	char		data[FLEXIBLE_ARRAY_MEMBER];
} IndexWrite;

static dlist_head touched = DLIST_STATIC_INIT(touched);
static dlist_head dirty_segments = DLIST_STATIC_INIT(dirty_segments);
static dlist_head rolled_segments = DLIST_STATIC_INIT(rolled_segments);
/* Partitions whose directory gained entries since the last fsync round */
static dlist_head dirty_dirs = DLIST_STATIC_INIT(dirty_dirs);

/* group sync state */
static int	sync_inflight = 0;
static uint64 sync_target = 0;
static bool sync_running = false;
static uint64 synced_target = 0;

static void segment_flush_index(LogSegment *seg);
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
submit_index_write(LogSegment *seg, int fd, const uint8 *buf, int len, int64 *size)
{
	IndexWrite *w = MemoryContextAlloc(nagare_log_context, offsetof(IndexWrite, data) + len);
	struct iovec iov;

	w->seg = seg;
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
segment_flush_index(LogSegment *seg)
{
	if (seg->index_buf_len > 0)
	{
		submit_index_write(seg, seg->index_fd, seg->index_buf, seg->index_buf_len, &seg->index_size);
		seg->index_buf_len = 0;
	}
	if (seg->timeindex_buf_len > 0)
	{
		submit_index_write(seg, seg->timeindex_fd, seg->timeindex_buf, seg->timeindex_buf_len,
						   &seg->timeindex_size);
		seg->timeindex_buf_len = 0;
	}
}

static void
index_write_done(void *arg, int64 result)
{
	IndexWrite *w = arg;

	if (result < 0)
	{
		errno = (int) -result;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write index of segment %lld: %m",
						(long long) w->seg->base_offset)));
	}
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
	segment_flush_index(w->seg);
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
	segment_flush_index(old);
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
}

/* Submit every open write; called once per loop turn. */
void
nagare_log_submit_writes(void)
{
	dlist_mutable_iter iter;

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

	if (result < 0)
	{
		errno = (int) -result;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write to segment %lld of partition \"%s\": %m",
						(long long) w->seg->base_offset, lp->dir)));
	}
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
		pfree(first);
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
		nagare_aio_fdatasync(seg->log_fd, sync_done, seg);
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
		sync_running = false;
		synced_target = sync_target;
	}
}

bool
nagare_log_sync_pending(void)
{
	return sync_running;
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

	nagare_log_submit_writes();
	nagare_aio_drain();

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
				segment_flush_index(seg);
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
