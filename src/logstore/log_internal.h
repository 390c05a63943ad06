/*-------------------------------------------------------------------------
 *
 * log_internal.h
 *	  What the files of the broker's log share (log.c, recovery.c, writer.c,
 *	  retention.c, readplan.c); nothing outside src/logstore includes this.
 *
 * log.c owns the partition table and the segment structures; the others
 * change them only through these functions or in the ways log.h's structs
 * document.  All of it runs in the broker's one process, so nothing here
 * takes a lock except where shared memory is touched.
 *
 * The functions carry the nagare_log_ prefix because every non-static
 * symbol of nagare.so must; they are not part of log.h's interface.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_LOG_INTERNAL_H
#define NAGARE_LOG_INTERNAL_H

#include "utils/hsearch.h"

#include "logstore/log.h"
#include "topic/config.h"

/* log.c: the broker's partitions and their memory */
extern HTAB *nagare_log_hash;	/* NagarePartitionKey -> LogPartition */
extern MemoryContext nagare_log_context;
extern bool nagare_dir_dirty;	/* pg_nagare gained or lost entries */

/* The partition's effective topic configuration, read again when it changed */
extern const NagareTopicConfig *nagare_log_partition_config(LogPartition *lp);
/* The broker's entry for a partition, created empty if there is none */
extern LogPartition *nagare_log_partition_create_entry(int32 topic_id, int32 partition,
													   NagarePartition *shared);
/* Add seg after the partition's last segment */
extern void nagare_log_partition_add_segment(LogPartition *lp, LogSegment *seg);
/* A new segment structure, no files open, created now */
extern LogSegment *nagare_log_segment_alloc(int64 base_offset);
/* Open (or create) the segment's three files, if not open yet; ERROR if not */
extern void nagare_log_segment_open_files(LogPartition *lp, LogSegment *seg, bool create);
/* Close the segment's files; no I/O may be in flight on them */
extern void nagare_log_segment_close_files(LogSegment *seg);
/* Add an entry to the in-memory copy of the segment's time index */
extern void nagare_log_timeidx_add(LogSegment *seg, int64 timestamp, int32 rel);
/* Free a segment structure and its in-memory indexes (files closed) */
extern void nagare_log_segment_free(LogSegment *seg);
/* Unlink the segment's three files (a failure is logged, not raised) */
extern void nagare_log_segment_remove_files(LogPartition *lp, LogSegment *seg);
/* Publish the partition's offsets and sizes in shared memory */
extern void nagare_log_partition_publish(LogPartition *lp);

/* writer.c: queue a time index entry for the segment's largest timestamp */
extern void nagare_log_segment_add_timeindex_entry(LogSegment *seg);

#endif							/* NAGARE_LOG_INTERNAL_H */
