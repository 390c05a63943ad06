/*-------------------------------------------------------------------------
 *
 * log.c
 *	  Partitions as the broker sees them: the partition table, the segment
 *	  structures and their files, and the offsets published in shared memory.
 *
 * The broker's log is split by job (log_internal.h is what they share):
 *
 *	log.c		the partition table (one LogPartition per partition the broker
 *				has opened), segments in memory, their files, the effective
 *				topic configuration, publication of offsets
 *	recovery.c	opening every partition on disk at broker start
 *	writer.c	appends, index writes, segment rolls, group fsync, shutdown
 *	retention.c	retention.ms / retention.bytes, DeleteRecords, removal of
 *				deleted partitions
 *	readplan.c	where Fetch and ListOffsets read (in-memory offset index)
 *
 * Everything runs in the broker, the only process that writes, truncates or
 * deletes segment files.  A partition's high watermark, log start, size and
 * segment count are published together (nagare_log_partition_publish), the
 * high watermark last, so a reader that sees it sees the rest.
 *
 * Blocking calls.  Appends, index writes and fsyncs go through aio/aio.c.
 * Rarer operations (creating a partition directory or segment files, writing
 * partition.meta, deleting segments) are done with plain system calls in the
 * loop: they happen once per segment roll, retention pass or topic deletion.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/file_perm.h"
#include "storage/fd.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "kafka/record.h"
#include "logstore/log.h"
#include "logstore/log_internal.h"
#include "logstore/segment.h"
#include "topic/config.h"

HTAB	   *nagare_log_hash = NULL;
MemoryContext nagare_log_context = NULL;
bool		nagare_dir_dirty = false;

/* bumped whenever a high watermark or log start moves (parked fetches look) */
uint64		nagare_log_hwm_changes = 0;

/* bumped when the GUC defaults may have changed (SIGHUP) */
static uint64 reload_count = 0;

void
nagare_log_config_reloaded(void)
{
	reload_count++;
}

/*
 * Version of everything an effective topic configuration depends on: the
 * shared topic table (bumped by the nagare worker) and the GUC defaults.
 */
static uint64
config_version(void)
{
	return (pg_atomic_read_u64(&nagare_shared->topic_table_version) << 16) + reload_count;
}

/* The partition's effective topic configuration, read again when it changed */
const NagareTopicConfig *
nagare_log_partition_config(LogPartition *lp)
{
	uint64		version = config_version();

	if (lp->cfg_version != version)
	{
		(void) nagare_topic_effective_config(lp->key.topic_id, &lp->cfg);
		lp->cfg_version = version;
	}
	return &lp->cfg;
}

/*
 * Set up the broker's partition table and the data directory.
 */
void
nagare_log_init(void)
{
	HASHCTL		info;
	struct rlimit rlim;

	nagare_log_context = AllocSetContextCreate(TopMemoryContext, "nagare log",
											   ALLOCSET_DEFAULT_SIZES);
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(NagarePartitionKey);
	info.entrysize = sizeof(LogPartition);
	info.hcxt = nagare_log_context;
	nagare_log_hash = hash_create("nagare broker partitions", 1024, &info,
									  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	/*
	 * A previous broker's writes that failed for want of space died with it:
	 * its ring entries are replayed, and the first write that fails again
	 * says so again (writer.c).
	 */
	pg_atomic_write_u32(&nagare_shared->storage_errno, 0);

	if (MakePGDirectory(NAGARE_DIR) < 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", NAGARE_DIR)));

	/*
	 * An active segment keeps three files open.  The broker opens them with
	 * plain open(), not PostgreSQL's virtual file descriptors (io_uring needs
	 * real ones), so raise the soft limit to the hard one.
	 */
	if (getrlimit(RLIMIT_NOFILE, &rlim) == 0 && rlim.rlim_cur < rlim.rlim_max)
	{
		rlim.rlim_cur = rlim.rlim_max;
		(void) setrlimit(RLIMIT_NOFILE, &rlim);
	}
}

LogPartition *
nagare_log_partition_create_entry(int32 topic_id, int32 partition, NagarePartition *shared)
{
	NagarePartitionKey key;
	LogPartition *lp;
	bool		found;

	key.topic_id = topic_id;
	key.partition = partition;
	lp = hash_search(nagare_log_hash, &key, HASH_ENTER, &found);
	if (found)
		return lp;
	lp->shared = shared;
	lp->incarnation = shared->incarnation;
	nagare_partition_dir(lp->dir, topic_id, partition);
	lp->dir_exists = false;
	lp->dir_dirty = false;
	lp->in_touched_list = false;
	lp->segs = MemoryContextAlloc(nagare_log_context, sizeof(LogSegment *) * 8);
	lp->nsegs = 0;
	lp->maxsegs = 8;
	lp->log_start = 0;
	lp->log_end = 0;
	lp->written_end = 0;
	lp->written_seg_base = 0;
	lp->written_seg_size = 0;
	lp->durable_end = 0;
	lp->durable_seg_base = 0;
	lp->durable_size = 0;
	lp->in_undurable_list = false;
	lp->in_syncing_list = false;
	dlist_init(&lp->writes);
	lp->open_write = NULL;
	lp->deleting = false;
	lp->cfg_version = PG_UINT64_MAX;
	for (int i = 0; i < lengthof(lp->hints); i++)
		lp->hints[i].offset = -1;
	lp->next_hint = 0;
	return lp;
}

/*
 * The broker's entry for a shared partition, created on first use (a new
 * partition has no directory until its first segment is created).  Returns
 * NULL if the shared entry is not that incarnation any more, or is deleted.
 */
LogPartition *
nagare_log_get(NagarePartition *shared, uint64 incarnation)
{
	LogPartition *lp;

	/*
	 * A deleted partition's entry keeps its state until its memory is reused
	 * for another key, which then has another incarnation.
	 */
	if (shared->incarnation != incarnation || shared->state != NAGARE_PART_OPEN)
		return NULL;
	lp = hash_search(nagare_log_hash, &shared->key, HASH_FIND, NULL);
	if (lp != NULL && lp->incarnation != incarnation)
		return NULL;
	if (lp == NULL)
		lp = nagare_log_partition_create_entry(shared->key.topic_id, shared->key.partition, shared);
	if (lp->deleting)
		return NULL;
	return lp;
}

void
nagare_log_partition_add_segment(LogPartition *lp, LogSegment *seg)
{
	if (lp->nsegs == lp->maxsegs)
	{
		lp->maxsegs *= 2;
		lp->segs = repalloc(lp->segs, sizeof(LogSegment *) * lp->maxsegs);
	}
	lp->segs[lp->nsegs++] = seg;
}

LogSegment *
nagare_log_segment_alloc(int64 base_offset)
{
	LogSegment *seg = MemoryContextAllocZero(nagare_log_context, sizeof(LogSegment));

	seg->base_offset = base_offset;
	seg->next_offset = base_offset;
	seg->max_timestamp = -1;
	seg->max_timestamp_offset = base_offset;
	seg->last_ti_timestamp = -1;
	seg->log_fd = seg->index_fd = seg->timeindex_fd = -1;
	seg->created_ms = kafka_now_ms();
	return seg;
}

static void
open_one(const char *path, int *fdp, bool create)
{
	int			flags = O_RDWR | PG_BINARY | O_CLOEXEC | (create ? O_CREAT : 0);

	*fdp = open(path, flags, pg_file_create_mode);
	if (*fdp < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
}

void
nagare_log_segment_open_files(LogPartition *lp, LogSegment *seg, bool create)
{
	char		path[MAXPGPATH];

	if (seg->log_fd >= 0)
		return;
	nagare_segment_path(path, lp->dir, seg->base_offset, ".log");
	open_one(path, &seg->log_fd, create);
	nagare_segment_path(path, lp->dir, seg->base_offset, ".index");
	open_one(path, &seg->index_fd, create);
	nagare_segment_path(path, lp->dir, seg->base_offset, ".timeindex");
	open_one(path, &seg->timeindex_fd, create);
}

void
nagare_log_segment_close_files(LogSegment *seg)
{
	Assert(seg->inflight == 0);
	if (seg->log_fd >= 0)
		close(seg->log_fd);
	if (seg->index_fd >= 0)
		close(seg->index_fd);
	if (seg->timeindex_fd >= 0)
		close(seg->timeindex_fd);
	seg->log_fd = seg->index_fd = seg->timeindex_fd = -1;
}

void
nagare_log_timeidx_add(LogSegment *seg, int64 timestamp, int32 rel)
{
	if (seg->ntimeidx == seg->maxtimeidx)
	{
		seg->maxtimeidx = Max(16, seg->maxtimeidx * 2);
		seg->timeidx = seg->timeidx ?
			repalloc_huge(seg->timeidx, sizeof(LogTimeEntry) * seg->maxtimeidx) :
			MemoryContextAlloc(nagare_log_context, sizeof(LogTimeEntry) * seg->maxtimeidx);
	}
	seg->timeidx[seg->ntimeidx].timestamp = timestamp;
	seg->timeidx[seg->ntimeidx].rel = rel;
	seg->ntimeidx++;
}

void
nagare_log_segment_free(LogSegment *seg)
{
	if (seg->offidx)
		pfree(seg->offidx);
	if (seg->timeidx)
		pfree(seg->timeidx);
	pfree(seg);
}

void
nagare_log_segment_remove_files(LogPartition *lp, LogSegment *seg)
{
	static const char *const suffixes[] = {".log", ".index", ".timeindex"};
	int			i;

	for (i = 0; i < lengthof(suffixes); i++)
	{
		char		path[MAXPGPATH];

		nagare_segment_path(path, lp->dir, seg->base_offset, suffixes[i]);
		if (unlink(path) < 0 && errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not remove file \"%s\": %m", path)));
	}
}

/* Publish the partition's offsets and sizes in shared memory. */
void
nagare_log_partition_publish(LogPartition *lp)
{
	int64		size = 0;
	int			i;

	for (i = 0; i < lp->nsegs; i++)
		size += lp->segs[i]->size;
	pg_atomic_write_u64(&lp->shared->log_start_offset, (uint64) lp->log_start);
	pg_atomic_write_u64(&lp->shared->size_bytes, (uint64) size);
	pg_atomic_write_u32(&lp->shared->segments, (uint32) lp->nsegs);
	Assert(lp->log_start <= lp->written_end && lp->written_end <= lp->log_end);
	pg_write_barrier();
	pg_atomic_write_u64(&lp->shared->durable_watermark, (uint64) lp->durable_end);
	pg_atomic_write_u64(&lp->shared->high_watermark, (uint64) lp->written_end);
	nagare_log_hwm_changes++;
}
