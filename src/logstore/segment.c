/*-------------------------------------------------------------------------
 *
 * segment.c
 *	  File names of a partition, its metadata file, the segment list and
 *	  lookups in a segment's .index file (see segment.h).
 *
 * The lookups read the files with plain system calls and no shared state,
 * so any backend may use them (sql/consume.c does); the broker keeps its
 * own in-memory copy of the indexes (logstore/readplan.c).
 *
 * partition.meta is written as replication slots write their state file:
 * to a temporary file, fsync, rename over the old one, fsync the directory
 * (durable_rename).  On read every field is checked in order, magic, version,
 * length, CRC; a mismatch is reported to the caller with the reason.
 *
 * Disk full: while a write of the broker fails for want of space (it is
 * retried, see writer.c), nagare_shared->storage_errno says so, and the SQL
 * functions that add records refuse them here (Kafka producers get
 * KAFKA_STORAGE_ERROR from broker/produce.c).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/fd.h"
#include "utils/memutils.h"

#include "kafka/crc32c.h"
#include "logstore/segment.h"
#include "nagare.h"
#include "shmem.h"

/* On-disk header of partition.meta; the payload follows. */
typedef struct MetaFileHeader
{
	uint32		magic;
	uint32		version;
	uint32		length;			/* payload bytes */
	uint32		crc;			/* CRC-32C of the payload */
} MetaFileHeader;

void
nagare_partition_dir(char *buf, int32 topic_id, int32 partition)
{
	snprintf(buf, MAXPGPATH, "%s/%d-%d", NAGARE_DIR, topic_id, partition);
}

void
nagare_segment_path(char *buf, const char *dir, int64 base_offset, const char *suffix)
{
	snprintf(buf, MAXPGPATH, "%s/%020lld%s", dir, (long long) base_offset, suffix);
}

/* "00000000000000001234.log" -> 1234 */
bool
nagare_parse_segment_name(const char *name, const char *suffix, int64 *base_offset)
{
	size_t		len = strlen(name);
	size_t		slen = strlen(suffix);
	int64		v = 0;
	int			i;

	if (len != 20 + slen || strcmp(name + 20, suffix) != 0)
		return false;
	for (i = 0; i < 20; i++)
	{
		if (name[i] < '0' || name[i] > '9')
			return false;
		if (v > (PG_INT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (name[i] - '0');
	}
	*base_offset = v;
	return true;
}

/* "12-3" -> topic 12, partition 3 */
bool
nagare_parse_partition_dir(const char *name, int32 *topic_id, int32 *partition)
{
	char	   *end;
	long		t,
				p;

	errno = 0;
	t = strtol(name, &end, 10);
	if (errno != 0 || end == name || *end != '-' || t <= 0 || t > PG_INT32_MAX)
		return false;
	name = end + 1;
	p = strtol(name, &end, 10);
	if (errno != 0 || end == name || *end != '\0' || p < 0 || p > PG_INT32_MAX)
		return false;
	*topic_id = (int32) t;
	*partition = (int32) p;
	return true;
}

/*
 * Read a file written by nagare_checked_file_write(): header (magic,
 * version, length, CRC-32C of the contents), then the contents, which go
 * to *data (palloc'd, *len bytes).  NAGARE_META_MISSING if there is no
 * file; NAGARE_META_CORRUPT with *reason if it is not what it should be.
 */
NagareMetaStatus
nagare_checked_file_read(const char *path, uint32 magic, uint32 version,
						 void **data, uint32 *len, const char **reason)
{
	MetaFileHeader hdr;
	int			fd;
	ssize_t		n;
	char	   *buf = NULL;

	*data = NULL;
	*len = 0;
	*reason = NULL;
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (errno == ENOENT)
			return NAGARE_META_MISSING;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	}
	n = read(fd, &hdr, sizeof(hdr));
	if (n < 0)
		goto read_error;
	if (n != sizeof(hdr))
		*reason = "file is truncated";
	else if (hdr.magic != magic)
		*reason = "wrong magic number";
	else if (hdr.version != version)
		*reason = "unsupported version";
	else if (hdr.length > MaxAllocSize)
		*reason = "wrong length";
	else
	{
		buf = palloc(Max(hdr.length, 1));
		n = read(fd, buf, hdr.length);
		if (n < 0)
			goto read_error;
		if (n != hdr.length)
			*reason = "file is truncated";
		else if (kafka_crc32c(0, buf, hdr.length) != hdr.crc)
			*reason = "checksum mismatch";
	}
	CloseTransientFile(fd);
	if (*reason)
	{
		if (buf)
			pfree(buf);
		return NAGARE_META_CORRUPT;
	}
	*data = buf;
	*len = hdr.length;
	return NAGARE_META_OK;

read_error:
	{
		int			save_errno = errno;

		CloseTransientFile(fd);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", path)));
	}
	return NAGARE_META_CORRUPT; /* keep compiler quiet */
}

/*
 * Write a file durably: header and contents to a tmp file, fsync, rename,
 * fsync the directory.  An fsync failure is a PANIC (data_sync_elevel), as
 * in PostgreSQL.
 */
void
nagare_checked_file_write(const char *path, uint32 magic, uint32 version,
						  const void *data, uint32 len)
{
	char		tmppath[MAXPGPATH];
	MetaFileHeader hdr;
	int			fd;

	snprintf(tmppath, sizeof(tmppath), "%s.tmp", path);
	hdr.magic = magic;
	hdr.version = version;
	hdr.length = len;
	hdr.crc = kafka_crc32c(0, data, len);

	fd = OpenTransientFile(tmppath, O_CREAT | O_TRUNC | O_WRONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", tmppath)));
	errno = 0;
	if (write(fd, &hdr, sizeof(hdr)) != sizeof(hdr) ||
		(len > 0 && write(fd, data, len) != (ssize_t) len))
	{
		int			save_errno = errno;

		CloseTransientFile(fd);
		errno = save_errno ? save_errno : ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", tmppath)));
	}
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", tmppath)));
	/* fsyncs the file, renames, fsyncs the directory */
	(void) durable_rename(tmppath, path, data_sync_elevel(ERROR));
}

/*
 * Read partition.meta.  NAGARE_META_MISSING if there is none;
 * NAGARE_META_CORRUPT with *reason if it is not a valid one.
 */
NagareMetaStatus
nagare_meta_read(const char *dir, NagarePartitionMeta *meta, const char **reason)
{
	char		path[MAXPGPATH];
	void	   *data;
	uint32		len;
	NagareMetaStatus st;

	snprintf(path, sizeof(path), "%s/%s", dir, NAGARE_META_FILE);
	st = nagare_checked_file_read(path, NAGARE_META_MAGIC, NAGARE_META_VERSION, &data, &len, reason);
	if (st == NAGARE_META_OK && len != sizeof(NagarePartitionMeta))
	{
		*reason = "wrong length";
		st = NAGARE_META_CORRUPT;
	}
	if (st == NAGARE_META_OK)
		memcpy(meta, data, sizeof(NagarePartitionMeta));
	if (data)
		pfree(data);
	return st;
}

/* Write partition.meta durably */
void
nagare_meta_write(const char *dir, const NagarePartitionMeta *meta)
{
	char		path[MAXPGPATH];

	snprintf(path, sizeof(path), "%s/%s", dir, NAGARE_META_FILE);
	nagare_checked_file_write(path, NAGARE_META_MAGIC, NAGARE_META_VERSION,
							  meta, sizeof(NagarePartitionMeta));
}

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * Sorted base offsets of the segments (".log" files) in dir, palloc'd, *n
 * of them; none if dir does not exist (nothing was ever written).  With
 * remove_tmp, files ending in ".tmp" (left by an interrupted
 * nagare_checked_file_write()) are unlinked on the way.
 */
int64 *
nagare_list_segments(const char *dir, int *n, bool remove_tmp)
{
	DIR		   *d;
	struct dirent *de;
	int			max = 16;
	int64	   *bases = palloc(sizeof(int64) * max);

	*n = 0;
	d = AllocateDir(dir);
	if (d == NULL && errno == ENOENT)
		return bases;
	while ((de = ReadDir(d, dir)) != NULL)
	{
		int64		base;

		if (nagare_parse_segment_name(de->d_name, ".log", &base))
		{
			if (*n == max)
			{
				max *= 2;
				bases = repalloc(bases, sizeof(int64) * max);
			}
			bases[(*n)++] = base;
		}
		else if (remove_tmp && strcmp(de->d_name + strlen(de->d_name) - 4, ".tmp") == 0)
		{
			char		path[MAXPGPATH];

			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			(void) unlink(path);
		}
	}
	FreeDir(d);
	qsort(bases, *n, sizeof(int64), cmp_int64);
	return bases;
}

/*
 * Position in the segment to start scanning for offset: the position of the
 * batch named by the last index entry whose offset is at most offset.  The
 * index is only a hint (it may lag behind the log, or be damaged); 0 is
 * always correct, and the caller verifies what a position points at.
 */
off_t
nagare_index_lookup(const char *dir, int64 base_offset, int64 offset, off_t log_size)
{
	char		path[MAXPGPATH];
	int			fd;
	struct stat st;
	int64		lo = 0;
	int64		hi;
	off_t		result = 0;

	nagare_segment_path(path, dir, base_offset, ".index");
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0)
	{
		CloseTransientFile(fd);
		return 0;
	}
	hi = st.st_size / NAGARE_INDEX_ENTRY_SIZE - 1;
	while (lo <= hi)
	{
		int64		mid = lo + (hi - lo) / 2;
		uint8		buf[NAGARE_INDEX_ENTRY_SIZE];
		LogIndexEntry e;

		if (pg_pread(fd, buf, sizeof(buf), (off_t) mid * NAGARE_INDEX_ENTRY_SIZE) != sizeof(buf))
			break;
		nagare_index_entry_decode(buf, &e);
		if (base_offset + e.rel <= offset)
		{
			if ((off_t) (uint32) e.position <= log_size)
				result = (off_t) (uint32) e.position;
			lo = mid + 1;
		}
		else
			hi = mid - 1;
	}
	CloseTransientFile(fd);
	return result;
}

/*
 * The errno of the write the broker is retrying for want of space (ENOSPC,
 * EDQUOT), or 0 when its writes succeed.
 */
int
nagare_log_storage_errno(void)
{
	return (int) pg_atomic_read_u32(&nagare_shared->storage_errno);
}

/*
 * Refuse new records while the broker cannot write them: an ERROR with
 * SQLSTATE 53100 (disk_full), so that the transaction that would add them
 * fails instead of waiting at its commit.
 */
void
nagare_log_check_storage(void)
{
	int err = nagare_log_storage_errno();

	if (err != 0)
	{
		errno = err;
		ereport(ERROR,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("nagare cannot write to \"%s\": %m", NAGARE_DIR),
				 errdetail(
					 "The broker retries the failed write every second and accepts records again once it succeeds."),
				 errhint("Free space on the file system of \"%s\" in the data directory.",
						 NAGARE_DIR)));
	}
}
