/*-------------------------------------------------------------------------
 *
 * recovery.c
 *	  Opening the partitions on disk at broker start.
 *
 * At start every partition directory is opened.  For each segment the tail
 * after the last valid index entry is scanned, batch by batch (length,
 * magic, CRC-32C, each batch starting at the offset after the previous one),
 * and the file is truncated at the first invalid batch, with a LOG line
 * saying what was cut.  Index entries from the first one that is out of
 * order or points past the end are dropped, as are trailing ones that do
 * not point at the batch they claim; entries for the scanned part are
 * rebuilt.  Readers treat the index as a hint and verify what it points at.
 *
 * Segments that end at or below the log start in partition.meta are
 * leftovers of a retention pass cut short by a crash, and are removed.
 * Everything recovered is fsynced before the broker declares it durable.
 * Then the partition's idempotent producers are rebuilt
 * (nagare_producers_recover in producerstate.c).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/fd.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "kafka/crc32c.h"
#include "kafka/record.h"
#include "logstore/log.h"
#include "logstore/log_internal.h"
#include "logstore/producerstate.h"
#include "logstore/segment.h"
#include "topic/config.h"

static void partition_recover(LogPartition *lp);
static int64 segment_recover(LogPartition *lp, LogSegment *seg, bool active);
static void segment_load_indexes(LogSegment *seg, int ifd, const char *idxpath,
								 int tfd, const char *tipath);

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
		nagare_partition_init_metrics(part);
		pg_atomic_init_u64(&part->high_watermark, 0);
		pg_atomic_init_u64(&part->durable_watermark, 0);
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
		lp = nagare_log_partition_create_entry(topic_id, partition, shared);
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
		nagare_log_partition_publish(lp);
		count++;
	}
	FreeDir(dir);
	fsync_fname(NAGARE_DIR, true);

	ereport(LOG,
			(errmsg("nagare broker: opened %d partitions", count)));
}

/*
 * Recover one partition directory: find its segments, drop files that
 * retention left half-deleted, recover each segment's tail.
 */
static void
partition_recover(LogPartition *lp)
{
	int64	   *bases;
	int			nbases;
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

	bases = nagare_list_segments(lp->dir, &nbases, true);

	lp->log_start = have_meta ? meta.log_start_offset : (nbases > 0 ? bases[0] : 0);
	for (i = 0; i < nbases; i++)
	{
		LogSegment *seg = nagare_log_segment_alloc(bases[i]);
		bool		last = (i == nbases - 1);

		/*
		 * Retention writes the new log start before it unlinks segments;
		 * a segment that ends at or before it is a leftover of a crash in
		 * between.
		 */
		if (!last && bases[i + 1] <= lp->log_start)
		{
			nagare_log_segment_remove_files(lp, seg);
			pfree(seg);
			continue;
		}
		(void) segment_recover(lp, seg, last);
		nagare_log_partition_add_segment(lp, seg);
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
		nagare_log_segment_open_files(lp, active, false);
	}
	else
		lp->log_end = lp->log_start;
	lp->written_end = lp->log_end;
	/* everything recovered is fsynced before the broker serves it */
	lp->written_seg_base =
		lp->nsegs > 0 ? lp->segs[lp->nsegs - 1]->base_offset : lp->log_end;
	lp->written_seg_size = lp->nsegs > 0 ? lp->segs[lp->nsegs - 1]->written_size : 0;
	lp->durable_end = lp->written_end;
	lp->durable_seg_base = lp->written_seg_base;
	lp->durable_size = lp->written_seg_size;
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
			LogIndexEntry ie;
			int64		rel;
			off_t		epos;

			read_exact(ifd, e, sizeof(e), (off_t) k * NAGARE_INDEX_ENTRY_SIZE, idxpath);
			nagare_index_entry_decode(e, &ie);
			rel = ie.rel;
			epos = (off_t) (uint32) ie.position;
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
		LogIndexEntry ie;
		int64		rel;
		off_t		epos;

		read_exact(ifd, e, sizeof(e), (off_t) (nentries - 1) * NAGARE_INDEX_ENTRY_SIZE, idxpath);
		nagare_index_entry_decode(e, &ie);
		rel = ie.rel;
		epos = (off_t) (uint32) ie.position;
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

			nagare_index_entry_encode(e, (int32) (next - 1 - seg->base_offset), (int32) pos);
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
			LogTimeEntry te;
			int64		ts;
			int64		rel;

			read_exact(tfd, e, sizeof(e), (off_t) k * NAGARE_TIMEINDEX_ENTRY_SIZE, tipath);
			nagare_timeindex_entry_decode(e, &te);
			ts = te.timestamp;
			rel = te.rel;
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
		nagare_log_segment_add_timeindex_entry(seg);
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
		seg->offidx = MemoryContextAllocExtended(nagare_log_context, sizeof(LogIndexEntry) * seg->maxoffidx,
												 MCXT_ALLOC_HUGE);
		for (i = 0; i < n; i++)
			nagare_index_entry_decode(buf + i * NAGARE_INDEX_ENTRY_SIZE, &seg->offidx[i]);
		seg->noffidx = n;
		pfree(buf);
	}
	n = (int) (seg->timeindex_size / NAGARE_TIMEINDEX_ENTRY_SIZE);
	if (n > 0)
	{
		buf = palloc_extended((Size) n * NAGARE_TIMEINDEX_ENTRY_SIZE, MCXT_ALLOC_HUGE);
		read_exact(tfd, buf, (size_t) n * NAGARE_TIMEINDEX_ENTRY_SIZE, 0, tipath);
		for (i = 0; i < n; i++)
		{
			LogTimeEntry te;

			nagare_timeindex_entry_decode(buf + i * NAGARE_TIMEINDEX_ENTRY_SIZE, &te);
			nagare_log_timeidx_add(seg, te.timestamp, te.rel);
		}
		pfree(buf);
	}
}
