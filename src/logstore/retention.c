/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Dropping data from the broker's partitions: retention by time and
 *	  size, Kafka's DeleteRecords, and removal of deleted partitions.
 *
 * The log start offset only moves forward, and only to a segment's base
 * offset or (DeleteRecords) to an offset below the high watermark.  It is
 * written to partition.meta before any segment below it is unlinked, so a
 * crash in between leaves files that recovery knows to delete; except when
 * it is the first kept segment's base offset, which recovery finds from the
 * files alone: then the segments go first, so that on a full disk the new
 * partition.meta gets the space they freed.  Only inactive segments with no
 * I/O in flight, fsynced and closed, are deleted.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "utils/hsearch.h"

#include "kafka/record.h"
#include "logstore/log.h"
#include "logstore/log_internal.h"
#include "logstore/producerstate.h"
#include "logstore/segment.h"
#include "topic/config.h"

/*
 * Drop segments from the front of a partition so that the log starts at
 * new_start (a segment base offset): partition.meta first, then the files,
 * so a crash in between leaves files that recovery knows to delete.  When
 * the log then starts at the first kept segment (whole segments dropped),
 * the files go first: recovery derives that log start from them alone (a
 * partition.meta below the first segment is raised to it), and a full disk
 * has room for the new partition.meta once they are gone.
 */
static void
partition_delete_segments(LogPartition *lp, int ndelete, const char *const *why, int64 new_start)
{
	NagarePartitionMeta meta;
	int			i;
	bool		whole;

	Assert(ndelete < lp->nsegs);
	meta.topic_id = lp->key.topic_id;
	meta.partition = lp->key.partition;
	meta.log_start_offset = Max(lp->segs[ndelete]->base_offset, new_start);
	whole = (meta.log_start_offset == lp->segs[ndelete]->base_offset);
	if (!whole)
		nagare_meta_write(lp->dir, &meta);

	for (i = 0; i < ndelete; i++)
	{
		LogSegment *seg = lp->segs[i];

		ereport(LOG,
				(errmsg("nagare broker: deleting segment %lld of partition \"%s\" (%s)",
						(long long) seg->base_offset, lp->dir, why[i])));
		nagare_log_segment_close_files(seg);
		nagare_log_segment_remove_files(lp, seg);
		if (seg->in_dirty_list)
			dlist_delete(&seg->dirty_node);
		if (seg->in_rolled_list)
			dlist_delete(&seg->rolled_node);
		nagare_log_segment_free(seg);
	}
	if (whole)
		nagare_meta_write(lp->dir, &meta);
	memmove(lp->segs, lp->segs + ndelete, sizeof(LogSegment *) * (lp->nsegs - ndelete));
	lp->nsegs -= ndelete;
	lp->log_start = Max(lp->log_start, meta.log_start_offset);
	nagare_log_partition_publish(lp);
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
	int64		now = kafka_now_ms();

	hash_seq_init(&status, nagare_log_hash);
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

		nagare_log_segment_close_files(seg);
		if (seg->in_dirty_list)
			dlist_delete(&seg->dirty_node);
		if (seg->in_rolled_list)
			dlist_delete(&seg->rolled_node);
		nagare_log_segment_free(seg);
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
	if (lp->in_undurable_list)
		dlist_delete(&lp->undurable_node);
	if (lp->in_syncing_list)
		dlist_delete(&lp->syncing_node);
	pfree(lp->segs);
	hash_search(nagare_log_hash, &lp->key, HASH_REMOVE, NULL);
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
		LogPartition *lp = hash_search(nagare_log_hash, &keys[i], HASH_FIND, NULL);
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
		nagare_log_partition_publish(lp);
		pfree(why);
		ereport(LOG,
				(errmsg("nagare broker: records below offset %lld of partition \"%s\" deleted (DeleteRecords)",
						(long long) offset, lp->dir)));
	}
	*low = lp->log_start;
	return true;
}
