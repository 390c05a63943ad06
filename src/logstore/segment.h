/*-------------------------------------------------------------------------
 *
 * segment.h
 *	  On-disk layout of a partition: Kafka's segment files plus one metadata
 *	  file, under $PGDATA/pg_nagare/<topic id>-<partition>/.
 *
 *	<base offset, 20 digits>.log		RecordBatch v2 batches back to back
 *	<base offset>.index					8-byte entries: relative offset (int32),
 *										file position (int32), big-endian
 *	<base offset>.timeindex				12-byte entries: timestamp (int64),
 *										relative offset (int32), big-endian
 *	partition.meta						topic id, partition, log start offset;
 *										magic, version, length and CRC-32C
 *
 * These are Kafka's formats (OffsetIndex, TimeIndex, FileRecords), so Kafka's
 * own tools can read the files.  As in Kafka, an index entry maps the last
 * offset of a batch to the position where that batch starts, and is written
 * when index.interval.bytes have been appended since the previous one.
 *
 * This header is the one place that knows these byte layouts: the index
 * entry encoders and decoders below are used by the broker (logstore) and
 * by backends reading segments directly (sql/consume.c, through
 * nagare_index_lookup and nagare_list_segments, which only read files).
 *
 * Directories are named by topic id, not name, so that a topic dropped and
 * created again under the same name, even in one transaction, never shares a
 * directory with its predecessor.  The nagare.partitions view shows each
 * partition's directory.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_SEGMENT_H
#define NAGARE_SEGMENT_H

#include "kafka/byteorder.h"

#define NAGARE_INDEX_ENTRY_SIZE		8
#define NAGARE_TIMEINDEX_ENTRY_SIZE	12

#define NAGARE_META_FILE		"partition.meta"
#define NAGARE_META_MAGIC		0x4E474D31	/* "NGM1" */
#define NAGARE_META_VERSION		1

typedef struct NagarePartitionMeta
{
	int32		topic_id;
	int32		partition;
	int64		log_start_offset;
} NagarePartitionMeta;

extern void nagare_partition_dir(char *buf, int32 topic_id, int32 partition);
extern void nagare_segment_path(char *buf, const char *dir, int64 base_offset,
								const char *suffix);
extern bool nagare_parse_segment_name(const char *name, const char *suffix,
									  int64 *base_offset);
extern bool nagare_parse_partition_dir(const char *name, int32 *topic_id,
									   int32 *partition);

typedef enum NagareMetaStatus
{
	NAGARE_META_OK,
	NAGARE_META_MISSING,
	NAGARE_META_CORRUPT
} NagareMetaStatus;

extern NagareMetaStatus nagare_meta_read(const char *dir, NagarePartitionMeta *meta,
										 const char **reason);
extern void nagare_meta_write(const char *dir, const NagarePartitionMeta *meta);
extern NagareMetaStatus nagare_checked_file_read(const char *path, uint32 magic, uint32 version,
												 void **data, uint32 *len, const char **reason);
extern void nagare_checked_file_write(const char *path, uint32 magic, uint32 version,
									  const void *data, uint32 len);

/* errno of the broker's failing write to pg_nagare (disk full), or 0 */
extern int nagare_log_storage_errno(void);
/* ERROR (SQLSTATE 53100, disk_full) while the broker cannot write */
extern void nagare_log_check_storage(void);

/*
 * Decoded index entries.  The broker keeps arrays of them in memory
 * (LogSegment in log.h); the encoders and decoders below are the one place
 * that knows the byte layout.
 */
typedef struct LogIndexEntry
{
	int32		rel;			/* last offset of the batch - base offset */
	int32		position;		/* where the batch starts */
} LogIndexEntry;

typedef struct LogTimeEntry
{
	int64		timestamp;		/* largest timestamp up to rel */
	int32		rel;			/* offset - base offset */
} LogTimeEntry;

static inline void
nagare_index_entry_decode(const uint8 *p, LogIndexEntry *e)
{
	e->rel = (int32) kafka_load_be32(p);
	e->position = (int32) kafka_load_be32(p + 4);
}

static inline void
nagare_index_entry_encode(uint8 *p, int32 rel, int32 position)
{
	kafka_store_be32(p, (uint32) rel);
	kafka_store_be32(p + 4, (uint32) position);
}

static inline void
nagare_timeindex_entry_decode(const uint8 *p, LogTimeEntry *e)
{
	e->timestamp = (int64) kafka_load_be64(p);
	e->rel = (int32) kafka_load_be32(p + 8);
}

static inline void
nagare_timeindex_entry_encode(uint8 *p, int64 timestamp, int32 rel)
{
	kafka_store_be64(p, (uint64) timestamp);
	kafka_store_be32(p + 8, (uint32) rel);
}

extern off_t nagare_index_lookup(const char *dir, int64 base_offset, int64 offset,
								 off_t log_size);
extern int64 *nagare_list_segments(const char *dir, int *n, bool remove_tmp);

#endif							/* NAGARE_SEGMENT_H */
