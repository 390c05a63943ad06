/*-------------------------------------------------------------------------
 *
 * log.c
 *	  Partitions as the broker sees them: recovery at start, appends, segment
 *	  rolls, group fsync, retention and deletion.
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
 * Recovery.  At start every partition directory is opened.  For each segment
 * the tail after the last valid index entry is scanned, batch by batch
 * (length, magic, CRC-32C, each batch starting at the offset after the
 * previous one), and the file is truncated at the first invalid batch, with a
 * LOG line saying what was cut.  Index entries from the first one that is out
 * of order or points past the end are dropped, as are trailing ones that do
 * not point at the batch they claim; entries for the scanned part are
 * rebuilt.  Readers treat the index as a hint and verify what it points at.
 *
 * Blocking calls.  Appends, index writes and fsyncs go through aio/aio.c.  Rarer
 * operations (creating a partition directory or segment files, writing
 * partition.meta, deleting segments) are done with plain system calls in the
 * loop: they happen once per segment roll, retention pass or topic deletion.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/file_perm.h"
#include "common/file_utils.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "aio/aio.h"
#include "broker/producers.h"
#include "kafka/crc32c.h"
#include "kafka/record.h"
#include "logstore/log.h"
#include "logstore/segment.h"
#include "topic/config.h"

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

static HTAB *log_hash = NULL;	/* NagarePartitionKey -> LogPartition */
static MemoryContext log_context = NULL;
static dlist_head touched = DLIST_STATIC_INIT(touched);
static dlist_head dirty_segments = DLIST_STATIC_INIT(dirty_segments);
static dlist_head rolled_segments = DLIST_STATIC_INIT(rolled_segments);
static bool nagare_dir_dirty = false;
/* Partitions whose directory gained entries since the last fsync round */
static dlist_head dirty_dirs = DLIST_STATIC_INIT(dirty_dirs);

/* group sync state */
static int	sync_inflight = 0;
static uint64 sync_target = 0;
static bool sync_running = false;
static uint64 synced_target = 0;

/* bumped whenever a high watermark or log start moves (parked fetches look) */
uint64		nagare_log_hwm_changes = 0;

static LogPartition *partition_create_entry(int32 topic_id, int32 partition,
											NagarePartition *shared);
static void partition_recover(LogPartition *lp);
static int64 segment_recover(LogPartition *lp, LogSegment *seg, bool active);
static LogSegment *segment_new(LogPartition *lp, int64 base_offset);
static void segment_open_files(LogPartition *lp, LogSegment *seg, bool create);
static void segment_close_files(LogSegment *seg);
static void segment_add_index_entry(LogSegment *seg, int64 last_offset, int64 position);
static void segment_add_timeindex_entry(LogSegment *seg);
static void segment_mark_dirty(LogSegment *seg);
static void segment_remove_files(LogPartition *lp, LogSegment *seg);
static void segment_free(LogSegment *seg);
static void segment_load_indexes(LogSegment *seg, int ifd, const char *idxpath,
								 int tfd, const char *tipath);
static void partition_roll(LogPartition *lp, int64 base_offset, int64 now_ms);
static void partition_publish(LogPartition *lp);
static void write_done(void *arg, int64 result);
static void index_write_done(void *arg, int64 result);
static void sync_done(void *arg, int64 result);
static void ensure_partition_dir(LogPartition *lp);
static void partition_remove(LogPartition *lp);
static int64 now_ms(void);

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
static const NagareTopicConfig *
partition_config(LogPartition *lp)
{
	uint64		version = config_version();

	if (lp->cfg_version != version)
	{
		(void) nagare_topic_effective_config(lp->key.topic_id, &lp->cfg);
		lp->cfg_version = version;
	}
	return &lp->cfg;
}

static int64
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64) tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/*
 * Set up the broker's partition table and the data directory.
 */
void
nagare_log_init(void)
{
	HASHCTL		info;
	struct rlimit rlim;

	log_context = AllocSetContextCreate(TopMemoryContext, "nagare log",
										ALLOCSET_DEFAULT_SIZES);
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(NagarePartitionKey);
	info.entrysize = sizeof(LogPartition);
	info.hcxt = log_context;
	log_hash = hash_create("nagare broker partitions", 1024, &info,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

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

/*
 * Find or create the shared partition entry for a directory found at start.
 * Caller holds no lock.
 */
static NagarePartition *
shared_entry_for_recovery(int32 topic_id, int32 partition)
{
	NagarePartitionKey key;
	NagarePartition *part;
	bool		found;

	key.topic_id = topic_id;
	key.partition = partition;
	LWLockAcquire(nagare_shared->registry_lock, LW_EXCLUSIVE);
	part = hash_search(nagare_partition_hash, &key, HASH_ENTER_NULL, &found);
	if (part == NULL)
	{
		LWLockRelease(nagare_shared->registry_lock);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many partitions on disk for nagare.max_partitions = %d",
						nagare_max_partitions),
				 errhint("Raise nagare.max_partitions and restart the server.")));
	}
	if (!found)
	{
		part->incarnation = pg_atomic_fetch_add_u64(&nagare_shared->next_incarnation, 1);
		part->state = NAGARE_PART_OPEN;
		part->next_offset = -1;		/* set once recovered, below */
		part->from_disk = true;
		pg_atomic_init_u64(&part->high_watermark, 0);
		pg_atomic_init_u64(&part->log_start_offset, 0);
		pg_atomic_init_u64(&part->size_bytes, 0);
		pg_atomic_init_u32(&part->segments, 0);
		pg_atomic_init_u64(&part->sync_base, NAGARE_NO_SYNC_BASE);
	}
	LWLockRelease(nagare_shared->registry_lock);
	nagare_note_topic_id(topic_id);
	return part;
}

/*
 * Open and recover every partition directory under pg_nagare.  Runs at
 * broker start, before the broker takes entries from the ring.
 */
void
nagare_log_recover_all(void)
{
	DIR		   *dir;
	struct dirent *de;
	int			count = 0;

	dir = AllocateDir(NAGARE_DIR);
	while ((de = ReadDir(dir, NAGARE_DIR)) != NULL)
	{
		int32		topic_id;
		int32		partition;
		NagarePartition *shared;
		LogPartition *lp;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!nagare_parse_partition_dir(de->d_name, &topic_id, &partition))
		{
			ereport(LOG,
					(errmsg("nagare broker: ignoring unexpected entry \"%s/%s\"",
							NAGARE_DIR, de->d_name)));
			continue;
		}
		shared = shared_entry_for_recovery(topic_id, partition);
		lp = partition_create_entry(topic_id, partition, shared);
		partition_recover(lp);
		fsync_fname(lp->dir, true);
		pg_atomic_write_u64(&shared->sync_base,
							lp->nsegs > 0 ? (uint64) lp->segs[lp->nsegs - 1]->base_offset :
							NAGARE_NO_SYNC_BASE);

		LWLockAcquire(nagare_shared->insert_lock, LW_EXCLUSIVE);
		/*
		 * After a restart of the broker alone, producers may already have
		 * reserved offsets beyond what is on disk (their batches wait in the
		 * ring); keep those.  After a restart of the server, the log end is
		 * where producers go on.
		 */
		if (shared->next_offset < lp->log_end)
			shared->next_offset = lp->log_end;
		LWLockRelease(nagare_shared->insert_lock);
		partition_publish(lp);
		count++;
	}
	FreeDir(dir);
	fsync_fname(NAGARE_DIR, true);

	ereport(LOG,
			(errmsg("nagare broker: opened %d partitions", count)));
}

static LogPartition *
partition_create_entry(int32 topic_id, int32 partition, NagarePartition *shared)
{
	NagarePartitionKey key;
	LogPartition *lp;
	bool		found;

	key.topic_id = topic_id;
	key.partition = partition;
	lp = hash_search(log_hash, &key, HASH_ENTER, &found);
	if (found)
		return lp;
	lp->shared = shared;
	lp->incarnation = shared->incarnation;
	nagare_partition_dir(lp->dir, topic_id, partition);
	lp->dir_exists = false;
	lp->dir_dirty = false;
	lp->in_touched_list = false;
	lp->segs = MemoryContextAlloc(log_context, sizeof(LogSegment *) * 8);
	lp->nsegs = 0;
	lp->maxsegs = 8;
	lp->log_start = 0;
	lp->log_end = 0;
	lp->written_end = 0;
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
	lp = hash_search(log_hash, &shared->key, HASH_FIND, NULL);
	if (lp != NULL && lp->incarnation != incarnation)
		return NULL;
	if (lp == NULL)
		lp = partition_create_entry(shared->key.topic_id, shared->key.partition, shared);
	if (lp->deleting)
		return NULL;
	return lp;
}

static void
partition_add_segment(LogPartition *lp, LogSegment *seg)
{
	if (lp->nsegs == lp->maxsegs)
	{
		lp->maxsegs *= 2;
		lp->segs = repalloc(lp->segs, sizeof(LogSegment *) * lp->maxsegs);
	}
	lp->segs[lp->nsegs++] = seg;
}

static LogSegment *
segment_alloc(int64 base_offset)
{
	LogSegment *seg = MemoryContextAllocZero(log_context, sizeof(LogSegment));

	seg->base_offset = base_offset;
	seg->next_offset = base_offset;
	seg->max_timestamp = -1;
	seg->max_timestamp_offset = base_offset;
	seg->last_ti_timestamp = -1;
	seg->log_fd = seg->index_fd = seg->timeindex_fd = -1;
	seg->created_ms = now_ms();
	return seg;
}

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * Recover one partition directory: find its segments, drop files that
 * retention left half-deleted, recover each segment's tail.
 */
static void
partition_recover(LogPartition *lp)
{
	DIR		   *dir;
	struct dirent *de;
	int64	   *bases;
	int			nbases = 0;
	int			maxbases = 16;
	NagarePartitionMeta meta;
	bool		have_meta = false;
	bool		rewrite_meta = false;
	const char *reason = NULL;
	int			i;

	lp->dir_exists = true;
	switch (nagare_meta_read(lp->dir, &meta, &reason))
	{
		case NAGARE_META_OK:
			have_meta = true;
			break;
		case NAGARE_META_MISSING:
			have_meta = false;
			break;
		case NAGARE_META_CORRUPT:

			/*
			 * The log start offset only ever moves to a segment's base
			 * offset, and the segments below it are deleted right after it
			 * is written, so the first segment's base is a safe fallback.
			 * Rewrite the file so this is said once.
			 */
			ereport(WARNING,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("nagare broker: \"%s/%s\" is corrupted (%s); the log start offset falls back to the first segment's",
							lp->dir, NAGARE_META_FILE, reason)));
			have_meta = false;
			rewrite_meta = true;
			break;
	}

	bases = palloc(sizeof(int64) * maxbases);
	dir = AllocateDir(lp->dir);
	while ((de = ReadDir(dir, lp->dir)) != NULL)
	{
		int64		base;

		if (nagare_parse_segment_name(de->d_name, ".log", &base))
		{
			if (nbases == maxbases)
			{
				maxbases *= 2;
				bases = repalloc(bases, sizeof(int64) * maxbases);
			}
			bases[nbases++] = base;
		}
		else if (strcmp(de->d_name + strlen(de->d_name) - 4, ".tmp") == 0)
		{
			char		path[MAXPGPATH];

			snprintf(path, sizeof(path), "%s/%s", lp->dir, de->d_name);
			(void) unlink(path);
		}
	}
	FreeDir(dir);
	qsort(bases, nbases, sizeof(int64), cmp_int64);

	lp->log_start = have_meta ? meta.log_start_offset : (nbases > 0 ? bases[0] : 0);
	for (i = 0; i < nbases; i++)
	{
		LogSegment *seg = segment_alloc(bases[i]);
		bool		last = (i == nbases - 1);

		/*
		 * Retention writes the new log start before it unlinks segments;
		 * a segment that ends at or before it is a leftover of a crash in
		 * between.
		 */
		if (!last && bases[i + 1] <= lp->log_start)
		{
			segment_remove_files(lp, seg);
			pfree(seg);
			continue;
		}
		(void) segment_recover(lp, seg, last);
		partition_add_segment(lp, seg);
	}
	pfree(bases);

	if (lp->nsegs > 0)
	{
		LogSegment *active = lp->segs[lp->nsegs - 1];

		lp->log_end = active->next_offset;
		/* the log start never points past the end */
		if (lp->log_start > lp->log_end)
			lp->log_start = lp->log_end;
		if (lp->log_start < lp->segs[0]->base_offset)
			lp->log_start = lp->segs[0]->base_offset;
		segment_open_files(lp, active, false);
	}
	else
		lp->log_end = lp->log_start;
	lp->written_end = lp->log_end;
	nagare_producers_recover(lp);

	if (rewrite_meta)
	{
		meta.topic_id = lp->key.topic_id;
		meta.partition = lp->key.partition;
		meta.log_start_offset = lp->log_start;
		nagare_meta_write(lp->dir, &meta);
	}
}

static void
read_exact(int fd, void *buf, size_t len, off_t off, const char *path)
{
	ssize_t		n = pg_pread(fd, buf, len, off);

	if (n < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", path)));
	if ((size_t) n != len)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("could not read file \"%s\": read %zd of %zu bytes at %lld",
						path, n, len, (long long) off)));
}

/*
 * Check that a whole batch sits at pos of a log file of file_size bytes and
 * starts at offset first (or, when first is -1, anywhere in the segment at
 * or after min_offset).  The CRC does not cover the base offset, so the
 * offset check is what catches a damaged one: nagare's logs have no gaps.
 * On success fills *h.  On failure sets *reason and returns false.
 */
static bool
batch_at(int fd, const char *path, off_t pos, off_t file_size, int64 first, int64 min_offset,
		 KafkaBatchHeader *h, char **buf, size_t *bufsize, const char **reason)
{
	uint8		hdr[KAFKA_BATCH_HEADER_SIZE];
	size_t		len;
	int			err;

	if (file_size - pos < KAFKA_BATCH_HEADER_SIZE)
	{
		*reason = "incomplete batch header";
		return false;
	}
	read_exact(fd, hdr, sizeof(hdr), pos, path);
	err = kafka_batch_read_header(hdr, sizeof(hdr), h);
	if (err != KAFKA_OK)
	{
		*reason = kafka_codec_strerror(err);
		return false;
	}
	if (h->BatchLength < KAFKA_BATCH_HEADER_SIZE - KAFKA_BATCH_LOG_OVERHEAD)
	{
		*reason = "invalid batch length";
		return false;
	}
	len = (size_t) h->BatchLength + KAFKA_BATCH_LOG_OVERHEAD;
	if ((off_t) len > file_size - pos)
	{
		*reason = "batch extends past the end of the file";
		return false;
	}
	if (h->Magic != 2)
	{
		*reason = "unsupported magic byte";
		return false;
	}
	if ((first >= 0 && h->BaseOffset != first) ||
		h->BaseOffset < min_offset || h->LastOffsetDelta < 0)
	{
		*reason = "offsets out of sequence";
		return false;
	}
	if (len > *bufsize)
	{
		*buf = repalloc(*buf, len);
		*bufsize = len;
	}
	read_exact(fd, *buf, len, pos, path);
	if (kafka_crc32c(0, *buf + 21, len - 21) != h->Crc)
	{
		*reason = "CRC-32C mismatch";
		return false;
	}
	return true;
}

/*
 * Recover a segment: validate its index, scan from the last valid entry to
 * the end of the file, truncate at the first invalid batch and rebuild the
 * index entries of the scanned part.  Returns the segment's next offset.
 */
static int64
segment_recover(LogPartition *lp, LogSegment *seg, bool active)
{
	char		logpath[MAXPGPATH];
	char		idxpath[MAXPGPATH];
	char		tipath[MAXPGPATH];
	int			fd;
	int			ifd;
	int			tfd;
	struct stat st;
	off_t		file_size;
	off_t		idx_size;
	off_t		ti_size;
	int			nentries;
	off_t		pos = 0;
	int64		next = seg->base_offset;
	char	   *buf;
	size_t		bufsize = 64 * 1024;
	KafkaBatchHeader h;
	const char *reason = NULL;
	int			interval = nagare_topic_index_interval(lp->key.topic_id);

	nagare_segment_path(logpath, lp->dir, seg->base_offset, ".log");
	nagare_segment_path(idxpath, lp->dir, seg->base_offset, ".index");
	nagare_segment_path(tipath, lp->dir, seg->base_offset, ".timeindex");

	fd = OpenTransientFile(logpath, O_RDWR | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", logpath)));
	if (fstat(fd, &st) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", logpath)));
	file_size = st.st_size;

	ifd = OpenTransientFile(idxpath, O_RDWR | O_CREAT | PG_BINARY);
	tfd = OpenTransientFile(tipath, O_RDWR | O_CREAT | PG_BINARY);
	if (ifd < 0 || tfd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open index files of \"%s\": %m", logpath)));
	if (fstat(ifd, &st) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", idxpath)));
	idx_size = st.st_size - st.st_size % NAGARE_INDEX_ENTRY_SIZE;
	if (fstat(tfd, &st) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", tipath)));
	ti_size = st.st_size - st.st_size % NAGARE_TIMEINDEX_ENTRY_SIZE;

	buf = palloc(bufsize);

	/*
	 * Keep the index entries up to the first one that is out of order or
	 * points past the end of the file (no reads: the index is a hint that
	 * readers verify, and reading every indexed batch would make start-up
	 * read a fraction of all the data), then walk back from the last kept
	 * entry to one that points at the batch it claims.
	 */
	nentries = idx_size / NAGARE_INDEX_ENTRY_SIZE;
	{
		int64		prev_rel = -1;
		off_t		prev_pos = -1;
		int			k;

		for (k = 0; k < nentries; k++)
		{
			uint8		e[NAGARE_INDEX_ENTRY_SIZE];
			int64		rel;
			off_t		epos;

			read_exact(ifd, e, sizeof(e), (off_t) k * NAGARE_INDEX_ENTRY_SIZE, idxpath);
			rel = (int32) nagare_get_be32(e);
			epos = (off_t) nagare_get_be32(e + 4);
			if (rel <= prev_rel || epos <= prev_pos || epos >= file_size)
				break;
			prev_rel = rel;
			prev_pos = epos;
		}
		nentries = k;
	}
	while (nentries > 0)
	{
		uint8		e[NAGARE_INDEX_ENTRY_SIZE];
		int64		rel;
		off_t		epos;

		read_exact(ifd, e, sizeof(e), (off_t) (nentries - 1) * NAGARE_INDEX_ENTRY_SIZE, idxpath);
		rel = (int32) nagare_get_be32(e);
		epos = (off_t) nagare_get_be32(e + 4);
		if (rel >= 0 && epos < file_size &&
			batch_at(fd, logpath, epos, file_size, -1, seg->base_offset, &h, &buf, &bufsize, &reason) &&
			h.BaseOffset + h.LastOffsetDelta == seg->base_offset + rel)
		{
			pos = epos;
			next = h.BaseOffset;
			break;
		}
		nentries--;
	}
	idx_size = (off_t) nentries * NAGARE_INDEX_ENTRY_SIZE;
	seg->index_size = idx_size;
	seg->last_index_size = pos;

	/* Scan the tail */
	reason = NULL;
	while (pos < file_size)
	{
		int64		len;

		if (!batch_at(fd, logpath, pos, file_size, next, next, &h, &buf, &bufsize, &reason))
			break;
		len = (int64) h.BatchLength + KAFKA_BATCH_LOG_OVERHEAD;
		if (h.MaxTimestamp > seg->max_timestamp)
		{
			seg->max_timestamp = h.MaxTimestamp;
			seg->max_timestamp_offset = h.BaseOffset + h.LastOffsetDelta;
		}
		next = h.BaseOffset + h.LastOffsetDelta + 1;
		/* the same rule as nagare_log_append() */
		if ((pos == 0 && seg->index_size == 0) || pos - seg->last_index_size > interval)
		{
			uint8		e[NAGARE_INDEX_ENTRY_SIZE];

			nagare_put_be32(e, (uint32) (next - 1 - seg->base_offset));
			nagare_put_be32(e + 4, (uint32) pos);
			if (pg_pwrite(ifd, e, sizeof(e), seg->index_size) != sizeof(e))
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not write file \"%s\": %m", idxpath)));
			seg->index_size += sizeof(e);
			seg->last_index_size = pos;
		}
		pos += len;
	}
	seg->size = pos;
	seg->written_size = pos;
	seg->next_offset = next;

	if (pos < file_size)
	{
		ereport(LOG,
				(errmsg("nagare broker: truncating \"%s\" from %lld to %lld bytes: %s",
						logpath, (long long) file_size, (long long) pos,
						reason ? reason : "invalid batch")));
		if (ftruncate(fd, pos) < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not truncate file \"%s\": %m", logpath)));
		if (pg_fsync(fd) != 0)
			ereport(data_sync_elevel(ERROR),
					(errcode_for_file_access(),
					 errmsg("could not fsync file \"%s\": %m", logpath)));
	}
	if (ftruncate(ifd, seg->index_size) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not truncate file \"%s\": %m", idxpath)));

	/*
	 * Time index: keep entries that point below the log end and whose
	 * timestamps increase; the last one tells the segment's largest
	 * timestamp when the tail scan did not see it.
	 */
	{
		int			tentries = ti_size / NAGARE_TIMEINDEX_ENTRY_SIZE;
		int			keep = 0;
		int64		prev_ts = -1;
		int			k;

		for (k = 0; k < tentries; k++)
		{
			uint8		e[NAGARE_TIMEINDEX_ENTRY_SIZE];
			int64		ts;
			int64		rel;

			read_exact(tfd, e, sizeof(e), (off_t) k * NAGARE_TIMEINDEX_ENTRY_SIZE, tipath);
			ts = (int64) nagare_get_be64(e);
			rel = (int32) nagare_get_be32(e + 8);
			if (rel < 0 || seg->base_offset + rel >= next || ts <= prev_ts)
				break;
			prev_ts = ts;
			keep = k + 1;
			if (ts > seg->max_timestamp)
			{
				seg->max_timestamp = ts;
				seg->max_timestamp_offset = seg->base_offset + rel;
			}
		}
		seg->timeindex_size = (int64) keep * NAGARE_TIMEINDEX_ENTRY_SIZE;
		seg->last_ti_timestamp = prev_ts;
		if (ftruncate(tfd, seg->timeindex_size) < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not truncate file \"%s\": %m", tipath)));
	}

	segment_load_indexes(seg, ifd, idxpath, tfd, tipath);

	/* A segment without any timestamp ages from its file's modification. */
	if (seg->max_timestamp < 0 && fstat(fd, &st) == 0)
		seg->max_timestamp = (int64) st.st_mtime * 1000;

	if (!active)
	{
		/* an inactive segment's time index ends with its largest timestamp */
		segment_add_timeindex_entry(seg);
		if (seg->timeindex_buf_len > 0)
		{
			if (pg_pwrite(tfd, seg->timeindex_buf, seg->timeindex_buf_len,
						  seg->timeindex_size) != seg->timeindex_buf_len)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not write file \"%s\": %m", tipath)));
			seg->timeindex_size += seg->timeindex_buf_len;
			seg->timeindex_buf_len = 0;
		}
	}

	/*
	 * After a restart of the broker alone, the previous broker's last writes
	 * may still be only in the page cache; the new broker declares everything
	 * it recovered durable, so make it so.
	 */
	if (pg_fsync(fd) != 0)
		ereport(data_sync_elevel(ERROR),
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", logpath)));

	pfree(buf);
	CloseTransientFile(tfd);
	CloseTransientFile(ifd);
	CloseTransientFile(fd);
	return next;
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

static void
segment_open_files(LogPartition *lp, LogSegment *seg, bool create)
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

static void
segment_close_files(LogSegment *seg)
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
	LogSegment *seg = segment_alloc(base_offset);

	/*
	 * Until the new file's directory entry is durable, committing backends
	 * must leave the fsync to the broker (see NagarePartition.sync_base).
	 * This is published before any record is assigned to the new segment.
	 */
	pg_atomic_write_u64(&lp->shared->sync_base, NAGARE_NO_SYNC_BASE);
	ensure_partition_dir(lp);
	segment_open_files(lp, seg, true);
	mark_dir_dirty(lp);
	partition_add_segment(lp, seg);
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
	nagare_put_be32(e, (uint32) (last_offset - seg->base_offset));
	nagare_put_be32(e + 4, (uint32) position);
	seg->index_buf_len += NAGARE_INDEX_ENTRY_SIZE;
	if (seg->noffidx == seg->maxoffidx)
	{
		seg->maxoffidx = Max(64, seg->maxoffidx * 2);
		seg->offidx = seg->offidx ?
			repalloc_huge(seg->offidx, sizeof(LogIndexEntry) * seg->maxoffidx) :
			MemoryContextAlloc(log_context, sizeof(LogIndexEntry) * seg->maxoffidx);
	}
	seg->offidx[seg->noffidx].rel = (int32) (last_offset - seg->base_offset);
	seg->offidx[seg->noffidx].position = (int32) position;
	seg->noffidx++;
}

static void
timeidx_add(LogSegment *seg, int64 timestamp, int32 rel)
{
	if (seg->ntimeidx == seg->maxtimeidx)
	{
		seg->maxtimeidx = Max(16, seg->maxtimeidx * 2);
		seg->timeidx = seg->timeidx ?
			repalloc_huge(seg->timeidx, sizeof(LogTimeEntry) * seg->maxtimeidx) :
			MemoryContextAlloc(log_context, sizeof(LogTimeEntry) * seg->maxtimeidx);
	}
	seg->timeidx[seg->ntimeidx].timestamp = timestamp;
	seg->timeidx[seg->ntimeidx].rel = rel;
	seg->ntimeidx++;
}

/*
 * Read a recovered segment's index files into memory (they are small: one
 * entry per index.interval.bytes of log).
 */
static void
segment_load_indexes(LogSegment *seg, int ifd, const char *idxpath, int tfd, const char *tipath)
{
	int			n;
	int			i;
	uint8	   *buf;

	seg->noffidx = 0;
	seg->ntimeidx = 0;
	n = (int) (seg->index_size / NAGARE_INDEX_ENTRY_SIZE);
	if (n > 0)
	{
		buf = palloc_extended((Size) n * NAGARE_INDEX_ENTRY_SIZE, MCXT_ALLOC_HUGE);
		read_exact(ifd, buf, (size_t) n * NAGARE_INDEX_ENTRY_SIZE, 0, idxpath);
		seg->maxoffidx = n + 64;
		seg->offidx = MemoryContextAllocExtended(log_context, sizeof(LogIndexEntry) * seg->maxoffidx,
												 MCXT_ALLOC_HUGE);
		for (i = 0; i < n; i++)
		{
			seg->offidx[i].rel = (int32) nagare_get_be32(buf + i * NAGARE_INDEX_ENTRY_SIZE);
			seg->offidx[i].position = (int32) nagare_get_be32(buf + i * NAGARE_INDEX_ENTRY_SIZE + 4);
		}
		seg->noffidx = n;
		pfree(buf);
	}
	n = (int) (seg->timeindex_size / NAGARE_TIMEINDEX_ENTRY_SIZE);
	if (n > 0)
	{
		buf = palloc_extended((Size) n * NAGARE_TIMEINDEX_ENTRY_SIZE, MCXT_ALLOC_HUGE);
		read_exact(tfd, buf, (size_t) n * NAGARE_TIMEINDEX_ENTRY_SIZE, 0, tipath);
		for (i = 0; i < n; i++)
			timeidx_add(seg, (int64) nagare_get_be64(buf + i * NAGARE_TIMEINDEX_ENTRY_SIZE),
						(int32) nagare_get_be32(buf + i * NAGARE_TIMEINDEX_ENTRY_SIZE + 8));
		pfree(buf);
	}
}

static void
segment_free(LogSegment *seg)
{
	if (seg->offidx)
		pfree(seg->offidx);
	if (seg->timeidx)
		pfree(seg->timeidx);
	pfree(seg);
}

/*
 * Queue a time index entry for the largest timestamp so far, if it grew
 * since the last entry (Kafka's TimeIndex.maybeAppend).
 */
static void
segment_add_timeindex_entry(LogSegment *seg)
{
	uint8	   *e;

	if (seg->max_timestamp <= seg->last_ti_timestamp)
		return;
	if (seg->timeindex_buf_len + NAGARE_TIMEINDEX_ENTRY_SIZE > (int) sizeof(seg->timeindex_buf))
		return;
	e = seg->timeindex_buf + seg->timeindex_buf_len;
	nagare_put_be64(e, (uint64) seg->max_timestamp);
	nagare_put_be32(e + 8, (uint32) (seg->max_timestamp_offset - seg->base_offset));
	seg->timeindex_buf_len += NAGARE_TIMEINDEX_ENTRY_SIZE;
	seg->last_ti_timestamp = seg->max_timestamp;
	timeidx_add(seg, seg->max_timestamp, (int32) (seg->max_timestamp_offset - seg->base_offset));
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
	IndexWrite *w = MemoryContextAlloc(log_context, offsetof(IndexWrite, data) + len);
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
	segment_add_timeindex_entry(old);
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
	int64		now = now_ms();
	const NagareTopicConfig *cfg = partition_config(lp);
	int64		last_offset = e->base_offset + e->record_count - 1;

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
			segment_open_files(lp, seg, false);
	}

	w = lp->open_write;
	if (w != NULL && (w->seg != seg || w->nentries == LOG_WRITE_MAX_IOV))
	{
		partition_submit_write(lp);
		w = NULL;
	}
	if (w == NULL)
	{
		w = MemoryContextAlloc(log_context, sizeof(LogWrite));
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
		segment_add_timeindex_entry(seg);
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
		lp->written_end = first->end_offset;
		first->seg->written_size = first->position + first->bytes;
		pfree(first);
	}
	partition_publish(lp);
}

/* Publish the partition's offsets and sizes in shared memory. */
static void
partition_publish(LogPartition *lp)
{
	int64		size = 0;
	int			i;

	for (i = 0; i < lp->nsegs; i++)
		size += lp->segs[i]->size;
	pg_atomic_write_u64(&lp->shared->log_start_offset, (uint64) lp->log_start);
	pg_atomic_write_u64(&lp->shared->size_bytes, (uint64) size);
	pg_atomic_write_u32(&lp->shared->segments, (uint32) lp->nsegs);
	pg_write_barrier();
	pg_atomic_write_u64(&lp->shared->high_watermark, (uint64) lp->written_end);
	nagare_log_hwm_changes++;
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
			segment_close_files(seg);
			dlist_delete(iter.cur);
			seg->in_rolled_list = false;
		}
	}
	return need_sync;
}

static void
segment_remove_files(LogPartition *lp, LogSegment *seg)
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

/*
 * Drop segments from the front of a partition so that the log starts at
 * new_start (a segment base offset): partition.meta first, then the files,
 * so a crash in between leaves files that recovery knows to delete.
 */
static void
partition_delete_segments(LogPartition *lp, int ndelete, const char *const *why, int64 new_start)
{
	NagarePartitionMeta meta;
	int			i;

	Assert(ndelete < lp->nsegs);
	meta.topic_id = lp->key.topic_id;
	meta.partition = lp->key.partition;
	meta.log_start_offset = Max(lp->segs[ndelete]->base_offset, new_start);
	nagare_meta_write(lp->dir, &meta);

	for (i = 0; i < ndelete; i++)
	{
		LogSegment *seg = lp->segs[i];

		ereport(LOG,
				(errmsg("nagare broker: deleting segment %lld of partition \"%s\" (%s)",
						(long long) seg->base_offset, lp->dir, why[i])));
		segment_close_files(seg);
		segment_remove_files(lp, seg);
		if (seg->in_dirty_list)
			dlist_delete(&seg->dirty_node);
		if (seg->in_rolled_list)
			dlist_delete(&seg->rolled_node);
		segment_free(seg);
	}
	memmove(lp->segs, lp->segs + ndelete, sizeof(LogSegment *) * (lp->nsegs - ndelete));
	lp->nsegs -= ndelete;
	lp->log_start = Max(lp->log_start, meta.log_start_offset);
	partition_publish(lp);
}

/*
 * Retention by time and size (Kafka's retention.ms and retention.bytes):
 * delete whole inactive segments from the front.  Partitions of topics the
 * nagare worker has not described yet are skipped: their overrides are not
 * known.
 */
void
nagare_log_enforce_retention(void)
{
	HASH_SEQ_STATUS status;
	LogPartition *lp;
	int64		now = now_ms();

	hash_seq_init(&status, log_hash);
	while ((lp = hash_seq_search(&status)) != NULL)
	{
		NagareTopicConfig cfg;
		int64		total = 0;
		int			ndelete = 0;
		int			i;
		const char **why;

		if (lp->deleting || lp->nsegs < 2 ||
			!nagare_topic_effective_config(lp->key.topic_id, &cfg))
			continue;
		for (i = 0; i < lp->nsegs; i++)
			total += lp->segs[i]->size;

		why = palloc(sizeof(const char *) * lp->nsegs);
		for (i = 0; i < lp->nsegs - 1; i++)
		{
			LogSegment *seg = lp->segs[i];

			if (seg->inflight > 0 || seg->dirty || seg->in_rolled_list)
				break;
			if (cfg.retention_bytes >= 0 && total - seg->size >= cfg.retention_bytes)
				why[i] = "retention.bytes";
			else if (cfg.retention_ms >= 0 && now - seg->max_timestamp > cfg.retention_ms)
				why[i] = "retention.ms";
			else
				break;
			total -= seg->size;
			ndelete++;
		}
		if (ndelete > 0)
			partition_delete_segments(lp, ndelete, why, -1);
		pfree(why);
	}
}

/*
 * Remove a deleted partition: its files, its directory, its entries.  The
 * caller made sure nothing is in flight.
 */
static void
partition_remove(LogPartition *lp)
{
	int			i;

	for (i = 0; i < lp->nsegs; i++)
	{
		LogSegment *seg = lp->segs[i];

		segment_close_files(seg);
		if (seg->in_dirty_list)
			dlist_delete(&seg->dirty_node);
		if (seg->in_rolled_list)
			dlist_delete(&seg->rolled_node);
		segment_free(seg);
	}
	lp->nsegs = 0;
	if (lp->dir_exists)
	{
		if (!rmtree(lp->dir, true))
			ereport(LOG,
					(errmsg("nagare broker: could not remove all of \"%s\"", lp->dir)));
		nagare_dir_dirty = true;
	}
	ereport(LOG,
			(errmsg("nagare broker: removed partition %d of topic %d",
					lp->key.partition, lp->key.topic_id)));
	nagare_producers_forget(lp->key.topic_id, lp->key.partition);

	LWLockAcquire(nagare_shared->registry_lock, LW_EXCLUSIVE);
	if (lp->shared->incarnation == lp->incarnation)
		hash_search(nagare_partition_hash, &lp->key, HASH_REMOVE, NULL);
	LWLockRelease(nagare_shared->registry_lock);

	if (lp->dir_dirty)
		dlist_delete(&lp->dir_dirty_node);	/* the directory is gone */
	pfree(lp->segs);
	hash_search(log_hash, &lp->key, HASH_REMOVE, NULL);
}

/*
 * Act on deleted topics: partitions marked deleted in shared memory lose
 * their files once no write of theirs is in flight.  Returns with
 * deletes_pending still set if some had to wait.
 */
void
nagare_log_process_deletes(void)
{
	HASH_SEQ_STATUS status;
	NagarePartition *part;
	bool		waiting = false;
	NagarePartitionKey *keys;
	int			nkeys = 0;
	int			maxkeys = 64;
	int			i;

	if (pg_atomic_exchange_u32(&nagare_shared->deletes_pending, 0) == 0)
		return;

	keys = palloc(sizeof(NagarePartitionKey) * maxkeys);
	LWLockAcquire(nagare_shared->registry_lock, LW_SHARED);
	hash_seq_init(&status, nagare_partition_hash);
	while ((part = hash_seq_search(&status)) != NULL)
	{
		if (part->state != NAGARE_PART_DELETED)
			continue;
		if (nkeys == maxkeys)
		{
			maxkeys *= 2;
			keys = repalloc(keys, sizeof(NagarePartitionKey) * maxkeys);
		}
		keys[nkeys++] = part->key;
	}
	LWLockRelease(nagare_shared->registry_lock);

	for (i = 0; i < nkeys; i++)
	{
		LogPartition *lp = hash_search(log_hash, &keys[i], HASH_FIND, NULL);
		bool		busy = false;
		int			j;

		if (lp == NULL)
		{
			/* never written to by this broker and no directory: just forget it */
			char		dir[MAXPGPATH];
			struct stat st;

			nagare_partition_dir(dir, keys[i].topic_id, keys[i].partition);
			if (stat(dir, &st) == 0)
				(void) rmtree(dir, true);
			LWLockAcquire(nagare_shared->registry_lock, LW_EXCLUSIVE);
			hash_search(nagare_partition_hash, &keys[i], HASH_REMOVE, NULL);
			LWLockRelease(nagare_shared->registry_lock);
			continue;
		}
		lp->deleting = true;
		if (lp->open_write != NULL || !dlist_is_empty(&lp->writes))
			busy = true;
		for (j = 0; j < lp->nsegs; j++)
			if (lp->segs[j]->inflight > 0)
				busy = true;
		if (busy)
		{
			waiting = true;
			continue;
		}
		partition_remove(lp);
	}
	pfree(keys);

	if (waiting)
		pg_atomic_write_u32(&nagare_shared->deletes_pending, 1);
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

	hash_seq_init(&status, log_hash);
	while ((lp = hash_seq_search(&status)) != NULL)
	{
		int			i;

		for (i = 0; i < lp->nsegs; i++)
		{
			LogSegment *seg = lp->segs[i];

			if (seg->log_fd < 0)
				continue;
			segment_add_timeindex_entry(seg);
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
			segment_close_files(seg);
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

/*---- Readers in the broker: Fetch and ListOffsets ----*/

/* The segment holding offset: the last one whose base is at or below it */
static int
segment_for_offset(LogPartition *lp, int64 offset)
{
	int			lo = 0;
	int			hi = lp->nsegs - 1;

	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;

		if (lp->segs[mid]->base_offset <= offset)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/*
 * Position of a batch at or before offset in seg: a remembered position if
 * some read ended exactly there, else the sparse index's last entry whose
 * batch ends at or before offset, else the segment's start.
 */
static int64
segment_position(LogPartition *lp, LogSegment *seg, int64 offset, bool *exact)
{
	int			lo;
	int			hi;
	int			i;

	for (i = 0; i < lengthof(lp->hints); i++)
		if (lp->hints[i].offset == offset && lp->hints[i].segment_base == seg->base_offset &&
			lp->hints[i].position <= seg->written_size)
		{
			*exact = true;
			return lp->hints[i].position;
		}
	*exact = (offset == seg->base_offset);
	lo = 0;
	hi = seg->noffidx - 1;
	if (hi < 0 || seg->base_offset + seg->offidx[0].rel > offset)
		return 0;
	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;

		if (seg->base_offset + seg->offidx[mid].rel <= offset)
			lo = mid;
		else
			hi = mid - 1;
	}
	return seg->offidx[lo].position;
}

static void
fill_plan(LogPartition *lp, int segno, int64 position, bool exact, LogReadPlan *plan)
{
	LogSegment *seg = lp->segs[segno];

	plan->segment_base = seg->base_offset;
	plan->position = position;
	plan->available = Max(seg->written_size - position, 0);
	plan->exact = exact;
	plan->last_segment = (segno == lp->nsegs - 1);
}

/*
 * Where to read offset from.  LOG_READ_OK fills *plan: the bytes from
 * plan->position hold the batch with the offset, possibly after batches
 * that end before it (not when plan->exact).
 */
LogReadResult
nagare_log_plan_read(LogPartition *lp, int64 offset, LogReadPlan *plan)
{
	int			segno;
	bool		exact;
	int64		pos;

	if (offset < lp->log_start || offset > lp->written_end)
		return LOG_READ_OUT_OF_RANGE;
	if (offset == lp->written_end || lp->nsegs == 0)
		return LOG_READ_NONE;
	segno = segment_for_offset(lp, offset);
	pos = segment_position(lp, lp->segs[segno], offset, &exact);
	/* a position at the end of a full segment: the offset starts the next */
	while (pos >= lp->segs[segno]->written_size && segno + 1 < lp->nsegs)
	{
		segno++;
		pos = 0;
		exact = (lp->segs[segno]->base_offset == offset);
	}
	fill_plan(lp, segno, pos, exact, plan);
	return plan->available > 0 ? LOG_READ_OK : LOG_READ_NONE;
}

/*
 * Where to look for the first record with a timestamp at or after
 * timestamp: in the first segment whose largest timestamp reaches it, from
 * the batch the time and offset indexes point at (Kafka's
 * LogSegment.findOffsetByTimestamp).  False if no segment does.
 */
bool
nagare_log_plan_time(LogPartition *lp, int64 timestamp, LogReadPlan *plan)
{
	int			i;

	for (i = 0; i < lp->nsegs; i++)
	{
		LogSegment *seg = lp->segs[i];
		int64		from = seg->base_offset;
		bool		exact;
		int			k;

		if (seg->max_timestamp < timestamp)
			continue;
		for (k = 0; k < seg->ntimeidx && seg->timeidx[k].timestamp < timestamp; k++)
			from = seg->base_offset + seg->timeidx[k].rel;
		fill_plan(lp, i, segment_position(lp, seg, Max(from, lp->log_start), &exact), false, plan);
		return plan->available > 0;
	}
	return false;
}

/*
 * A descriptor of the segment's log file for reading, the caller's to
 * close: a duplicate of the broker's own, or a new one for a closed segment.
 * Reads through it stay valid if retention deletes the segment meanwhile.
 * -1 (with a LOG line) if the file cannot be opened.
 */
int
nagare_log_open_segment(LogPartition *lp, int64 segment_base)
{
	int			i;
	int			fd = -1;
	char		path[MAXPGPATH];

	for (i = 0; i < lp->nsegs; i++)
		if (lp->segs[i]->base_offset == segment_base)
			break;
	if (i == lp->nsegs)
		return -1;
	if (lp->segs[i]->log_fd >= 0)
		fd = fcntl(lp->segs[i]->log_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
	{
		nagare_segment_path(path, lp->dir, segment_base, ".log");
		fd = open(path, O_RDONLY | O_CLOEXEC | PG_BINARY);
		if (fd < 0)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("nagare broker: could not open file \"%s\" for reading: %m", path)));
	}
	return fd;
}

/* A read found that offset starts at position of segment_base */
void
nagare_log_note_position(LogPartition *lp, int64 offset, int64 segment_base, int64 position)
{
	int			i;

	for (i = 0; i < lengthof(lp->hints); i++)
		if (lp->hints[i].offset == offset && lp->hints[i].segment_base == segment_base)
			return;
	lp->hints[lp->next_hint].offset = offset;
	lp->hints[lp->next_hint].segment_base = segment_base;
	lp->hints[lp->next_hint].position = position;
	lp->next_hint = (lp->next_hint + 1) % lengthof(lp->hints);
}

/* The offset of the record with the largest timestamp (-1 if none written) */
int64
nagare_log_max_timestamp_offset(LogPartition *lp, int64 *timestamp)
{
	int64		best_ts = -1;
	int64		best = -1;
	int			i;

	for (i = 0; i < lp->nsegs; i++)
	{
		LogSegment *seg = lp->segs[i];

		if (seg->max_timestamp > best_ts && seg->max_timestamp_offset < lp->written_end)
		{
			best_ts = seg->max_timestamp;
			best = seg->max_timestamp_offset;
		}
	}
	*timestamp = best_ts;
	return best;
}

/*
 * Kafka's DeleteRecords: records below offset (-1: the high watermark) are
 * gone.  The log start moves there (partition.meta first, so it survives a
 * crash) and segments wholly below it are deleted; the rest of a segment
 * that holds the new start stays on disk, unreadable.  Returns false if
 * offset is beyond the high watermark; *low is the log start afterwards.
 */
bool
nagare_log_delete_records(LogPartition *lp, int64 offset, int64 *low)
{
	if (offset == -1)
		offset = lp->written_end;
	if (offset < 0 || offset > lp->written_end)
	{
		*low = lp->log_start;
		return false;
	}
	if (offset > lp->log_start && lp->nsegs > 0)
	{
		int			ndelete = 0;
		const char **why = palloc(sizeof(const char *) * lp->nsegs);

		while (ndelete < lp->nsegs - 1 && lp->segs[ndelete + 1]->base_offset <= offset)
		{
			LogSegment *seg = lp->segs[ndelete];

			if (seg->inflight > 0 || seg->dirty || seg->in_rolled_list)
				break;
			why[ndelete++] = "DeleteRecords";
		}
		if (ndelete > 0)
			partition_delete_segments(lp, ndelete, why, offset);	/* writes the meta */
		else
		{
			NagarePartitionMeta meta;

			meta.topic_id = lp->key.topic_id;
			meta.partition = lp->key.partition;
			meta.log_start_offset = offset;
			nagare_meta_write(lp->dir, &meta);
		}
		lp->log_start = offset;
		partition_publish(lp);
		pfree(why);
		ereport(LOG,
				(errmsg("nagare broker: records below offset %lld of partition \"%s\" deleted (DeleteRecords)",
						(long long) offset, lp->dir)));
	}
	*low = lp->log_start;
	return true;
}
