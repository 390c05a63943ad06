/*-------------------------------------------------------------------------
 *
 * segment.c
 *	  File names of a partition, and its metadata file (see segment.h).
 *
 * partition.meta is written as replication slots write their state file:
 * to a temporary file, fsync, rename over the old one, fsync the directory
 * (durable_rename).  On read every field is checked in order, magic, version,
 * length, CRC; a mismatch is reported to the caller with the reason.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "storage/fd.h"

#include "kafka/crc32c.h"
#include "logstore/segment.h"
#include "nagare.h"

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
 * Read partition.meta.  Returns NAGARE_META_OK, NAGARE_META_MISSING, or
 * NAGARE_META_CORRUPT with *reason saying what is wrong (the caller decides
 * whether that is fatal).  Errors reading the file are ERRORs.
 */
NagareMetaStatus
nagare_meta_read(const char *dir, NagarePartitionMeta *meta, const char **reason)
{
	char		path[MAXPGPATH];
	MetaFileHeader hdr;
	int			fd;
	ssize_t		n;

	snprintf(path, sizeof(path), "%s/%s", dir, NAGARE_META_FILE);
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (errno == ENOENT)
			return NAGARE_META_MISSING;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	}
	*reason = NULL;
	n = read(fd, &hdr, sizeof(hdr));
	if (n < 0)
		goto read_error;
	if (n != sizeof(hdr))
		*reason = "file is truncated";
	else if (hdr.magic != NAGARE_META_MAGIC)
		*reason = "wrong magic number";
	else if (hdr.version != NAGARE_META_VERSION)
		*reason = "unsupported version";
	else if (hdr.length != sizeof(NagarePartitionMeta))
		*reason = "wrong length";
	else
	{
		n = read(fd, meta, sizeof(NagarePartitionMeta));
		if (n < 0)
			goto read_error;
		if (n != sizeof(NagarePartitionMeta))
			*reason = "file is truncated";
		else if (kafka_crc32c(0, meta, sizeof(NagarePartitionMeta)) != hdr.crc)
			*reason = "checksum mismatch";
	}
	CloseTransientFile(fd);
	return *reason ? NAGARE_META_CORRUPT : NAGARE_META_OK;

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
 * Write partition.meta durably: tmp file, fsync, rename, fsync directory.
 * An fsync failure is a PANIC (data_sync_elevel), as in PostgreSQL.
 */
void
nagare_meta_write(const char *dir, const NagarePartitionMeta *meta)
{
	char		tmppath[MAXPGPATH];
	char		path[MAXPGPATH];
	char		buf[sizeof(MetaFileHeader) + sizeof(NagarePartitionMeta)];
	MetaFileHeader hdr;
	int			fd;

	snprintf(tmppath, sizeof(tmppath), "%s/%s.tmp", dir, NAGARE_META_FILE);
	snprintf(path, sizeof(path), "%s/%s", dir, NAGARE_META_FILE);

	hdr.magic = NAGARE_META_MAGIC;
	hdr.version = NAGARE_META_VERSION;
	hdr.length = sizeof(NagarePartitionMeta);
	hdr.crc = kafka_crc32c(0, meta, sizeof(NagarePartitionMeta));
	memcpy(buf, &hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), meta, sizeof(NagarePartitionMeta));

	fd = OpenTransientFile(tmppath, O_CREAT | O_TRUNC | O_WRONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", tmppath)));
	errno = 0;
	if (write(fd, buf, sizeof(buf)) != sizeof(buf))
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
