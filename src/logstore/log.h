/*-------------------------------------------------------------------------
 *
 * log.h
 *	  The broker's view of partitions: segments, appends, recovery, retention.
 *
 * Only the broker includes this.  It owns every LogPartition and is the only
 * process that writes, truncates or deletes segment files; backends read
 * them (sql/consume.c) below the high watermark it publishes.  The
 * functions are defined by job in log.c, recovery.c, writer.c, retention.c
 * and readplan.c.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_LOG_H
#define NAGARE_LOG_H

#include "lib/ilist.h"

#include "logstore/segment.h"
#include "queue/queue.h"
#include "shmem.h"

typedef struct LogSegment
{
	int64		base_offset;
	int64		size;			/* bytes assigned: written or being written */
	int64		written_size;	/* bytes written: readers may read below */
	int64		next_offset;	/* offset after the last batch assigned */
	int64		max_timestamp;	/* largest batch MaxTimestamp, -1 if none */
	int64		max_timestamp_offset;	/* last offset of the batch with it */
	int64		created_ms;		/* when the segment was opened for appends */
	int64		last_index_size;	/* segment size when the last index entry
									 * was added */
	int64		index_size;		/* bytes of .index assigned */
	int64		timeindex_size; /* bytes of .timeindex assigned */
	int64		last_ti_timestamp;	/* timestamp of the last timeindex entry */
	int			log_fd;			/* -1 when closed */
	int			index_fd;
	int			timeindex_fd;
	int			inflight;		/* I/O operations using the fds */
	bool		dirty;			/* written since the last fdatasync */
	bool		in_dirty_list;
	dlist_node	dirty_node;
	bool		in_rolled_list; /* inactive, files still open */
	dlist_node	rolled_node;
	/* the .index and .timeindex entries, for readers in the broker */
	LogIndexEntry *offidx;
	int			noffidx;
	int			maxoffidx;
	LogTimeEntry *timeidx;
	int			ntimeidx;
	int			maxtimeidx;
	/* index entries not yet handed to a write */
	uint8		index_buf[8 * 32];
	int			index_buf_len;
	uint8		timeindex_buf[12 * 32];
	int			timeindex_buf_len;
} LogSegment;

typedef struct LogWrite LogWrite;

typedef struct LogPartition
{
	NagarePartitionKey key;		/* hash key */
	NagarePartition *shared;
	uint64		incarnation;
	char		dir[MAXPGPATH];
	bool		dir_exists;
	bool		dir_dirty;		/* directory entries to fsync... */
	dlist_node	dir_dirty_node;	/* ...and in dirty_dirs (writer.c) while so */
	bool		in_touched_list;
	dlist_node	touched_node;	/* partitions with an open write this turn */
	LogSegment **segs;			/* by base offset; the last is active */
	int			nsegs;
	int			maxsegs;
	int64		log_start;		/* first offset kept */
	int64		log_end;		/* offset after the last batch assigned */
	int64		written_end;	/* offsets below are written: the HWM */
	int64 written_seg_base; /* the segment of the last written batch */
	int64 written_seg_size; /* and its written size */
	/*
	 * Offsets below durable_end are written and fdatasynced: in the segments
	 * before durable_seg_base, and in its first durable_size bytes.  What
	 * readers see with nagare.serve_durable_only (writer.c).
	 */
	int64 durable_end;
	int64 durable_seg_base;
	int64 durable_size;
	/* written but not durable, since undurable_since (ms) */
	bool in_undurable_list;
	dlist_node undurable_node;
	int64 undurable_since;
	/* in the running fsync round, which makes sync_* durable */
	bool in_syncing_list;
	dlist_node syncing_node;
	int64 sync_end;
	int64 sync_seg_base;
	int64 sync_size;
	dlist_head	writes;			/* LogWrites in flight, in offset order */
	LogWrite   *open_write;		/* being filled this turn */
	bool		deleting;
	NagareTopicConfig cfg;		/* effective configuration, cached */
	uint64		cfg_version;	/* config_version() it was read at */
	/*
	 * Where recent reads ended: offset -> (segment, position) of the batch
	 * that starts there, so that a consumer reading on finds its place
	 * without the sparse index.
	 */
	struct
	{
		int64		offset;
		int64		segment_base;
		int64		position;
	}			hints[4];
	int			next_hint;
} LogPartition;

/* Where to read a partition from (nagare_log_plan_read) */
typedef struct LogReadPlan
{
	int64		segment_base;
	int64		position;		/* a batch boundary at or before the offset */
	int64		available;		/* written bytes from position to the segment's end */
	bool		exact;			/* the batch at position starts at the offset */
	bool		last_segment;	/* the segment is the active one */
} LogReadPlan;

typedef enum LogReadResult
{
	LOG_READ_OK,
	LOG_READ_NONE,				/* the offset is the high watermark: no data yet */
	LOG_READ_OUT_OF_RANGE		/* below the log start or above the high watermark */
} LogReadResult;

extern void nagare_log_init(void);
extern void nagare_log_recover_all(void);
extern LogPartition *nagare_log_get(NagarePartition *shared, uint64 incarnation);
extern void nagare_log_append(LogPartition *lp, NagareAppendEntry *e);
extern void nagare_log_submit_writes(void);
extern bool nagare_log_sync_pending(void);
extern bool nagare_log_start_sync(uint64 target);
extern uint64 nagare_log_synced_target(void);
extern bool nagare_log_take_sync_round(uint64 *us);
extern bool nagare_log_flush_due(int64 now, long *timeout_ms);
extern int64 nagare_log_readable_end(LogPartition *lp);
extern void nagare_log_enforce_retention(void);
extern void nagare_log_process_deletes(void);
extern bool nagare_log_close_rolled_segments(void);
extern void nagare_log_shutdown(void);
extern void nagare_log_config_reloaded(void);

/* readers in the broker (Fetch, ListOffsets) */
extern LogReadResult nagare_log_plan_read(LogPartition *lp, int64 offset, LogReadPlan *plan);
extern bool nagare_log_plan_time(LogPartition *lp, int64 timestamp, LogReadPlan *plan);
extern int	nagare_log_open_segment(LogPartition *lp, int64 segment_base);
extern void nagare_log_note_position(LogPartition *lp, int64 offset, int64 segment_base,
									 int64 position);
extern int64 nagare_log_max_timestamp_offset(LogPartition *lp, int64 *timestamp);
extern bool nagare_log_delete_records(LogPartition *lp, int64 offset, int64 *low);
extern uint64 nagare_log_hwm_changes;

#endif							/* NAGARE_LOG_H */
