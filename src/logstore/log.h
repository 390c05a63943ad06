/*-------------------------------------------------------------------------
 *
 * log.h
 *	  The broker's view of partitions: segments, appends, recovery, retention.
 *
 * Only the broker includes this.  It owns every LogPartition and is the only
 * process that writes, truncates or deletes segment files; other processes
 * read them (logstore/reader.c) below the high watermark it publishes.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_LOG_H
#define NAGARE_LOG_H

#include "lib/ilist.h"

#include "queue/queue.h"
#include "shmem.h"

typedef struct LogSegment
{
	int64		base_offset;
	int64		size;			/* bytes assigned: written or being written */
	int64		next_offset;	/* offset after the last batch assigned */
	int64		max_timestamp;	/* largest batch MaxTimestamp, -1 if none */
	int64		max_timestamp_offset;	/* offset of the record with it */
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
	bool		dir_dirty;		/* directory entries to fsync */
	bool		in_touched_list;
	dlist_node	touched_node;	/* partitions with an open write this turn */
	LogSegment **segs;			/* by base offset; the last is active */
	int			nsegs;
	int			maxsegs;
	int64		log_start;		/* first offset kept */
	int64		log_end;		/* offset after the last batch assigned */
	int64		written_end;	/* offsets below are written: the HWM */
	dlist_head	writes;			/* LogWrites in flight, in offset order */
	LogWrite   *open_write;		/* being filled this turn */
	bool		deleting;
	NagareTopicConfig cfg;		/* effective configuration, cached */
	uint64		cfg_version;	/* config_version() it was read at */
} LogPartition;

extern void nagare_log_init(void);
extern void nagare_log_recover_all(void);
extern LogPartition *nagare_log_get(NagarePartition *shared, uint64 incarnation);
extern void nagare_log_append(LogPartition *lp, NagareAppendEntry *e);
extern void nagare_log_submit_writes(void);
extern bool nagare_log_sync_pending(void);
extern bool nagare_log_start_sync(uint64 target);
extern uint64 nagare_log_synced_target(void);
extern void nagare_log_enforce_retention(void);
extern void nagare_log_process_deletes(void);
extern bool nagare_log_close_rolled_segments(void);
extern void nagare_log_shutdown(void);
extern void nagare_log_config_reloaded(void);

#endif							/* NAGARE_LOG_H */
