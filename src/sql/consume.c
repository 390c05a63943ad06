/*-------------------------------------------------------------------------
 *
 * consume.c
 *	  nagare.consume(): read records of a partition from its segment files;
 *	  nagare.record_timestamp(): the timestamp of one (consumer lag in time).
 *
 * The calling backend reads the files itself; the broker is not involved.
 * Only offsets below the partition's high watermark are returned: every
 * batch there is completely written, so a torn batch is never seen (and with
 * nagare.serve_durable_only, below what the broker has fdatasynced, its
 * durable watermark, so that nothing read can be lost in a crash).  A batch
 * is checked (CRC-32C, structure) and decompressed (gzip, snappy, lz4, zstd,
 * whatever the producer used) before its records are returned; a batch that
 * fails the check is reported as corruption with its file and position.
 *
 * Retention may delete a segment between listing the directory and opening
 * the file; the read then starts over from a fresh listing.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acl/acl.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "storage/fd.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "kafka/record.h"
#include "logstore/segment.h"
#include "nagare.h"
#include "topic/catalog.h"
#include "sql/send.h"
#include "sql/client_usage.h"

PG_FUNCTION_INFO_V1(nagare_consume);
PG_FUNCTION_INFO_V1(nagare_record_timestamp);

typedef struct ConsumeState
{
	const NagareTopicInfo *topic;
	int32		partition;
	int64		next;			/* next offset wanted */
	int64		hwm;
	int			remaining;		/* records still wanted */
	ReturnSetInfo *rsinfo;
	Oid			header_type;
	TupleDesc	header_desc;
	char	   *buf;
	size_t		bufsize;
	uint64		bytes_read;		/* of the batches read, for usage */
	/* nagare.record_timestamp(): the first record's timestamp, no rows */
	bool want_timestamp;
	bool got_timestamp;
	TimestampTz timestamp;
} ConsumeState;

static void
corrupted(const char *path, off_t pos, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("corrupted record batch in \"%s\" at position %lld: %s",
					path, (long long) pos, what)));
}

static Datum
make_headers(ConsumeState *st, const KafkaRecordView *rec)
{
	Datum	   *elems;
	const uint8 *cursor = rec->Headers;
	const uint8 *end = rec->Headers + rec->HeadersLen;
	KafkaHeaderIn h;
	int			n = 0;

	elems = palloc(sizeof(Datum) * Max(rec->HeadersCount, 1));
	while (n < rec->HeadersCount && kafka_record_header_next(&cursor, end, &h) == 1)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = PointerGetDatum(cstring_to_text_with_len((const char *) h.key, h.key_len));
		if (h.value_len < 0)
		{
			nulls[1] = true;
			values[1] = (Datum) 0;
		}
		else
		{
			bytea	   *b = palloc(VARHDRSZ + h.value_len);

			SET_VARSIZE(b, VARHDRSZ + h.value_len);
			memcpy(VARDATA(b), h.value, h.value_len);
			values[1] = PointerGetDatum(b);
		}
		elems[n++] = HeapTupleGetDatum(heap_form_tuple(st->header_desc, values, nulls));
	}
	return PointerGetDatum(construct_array(elems, n, st->header_type, -1, false, TYPALIGN_DOUBLE));
}

static Datum
bytes_datum(const uint8 *data, int32 len, bool *isnull)
{
	bytea	   *b;

	if (len < 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	*isnull = false;
	b = palloc(VARHDRSZ + len);
	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return PointerGetDatum(b);
}

/*
 * Emit the records of one segment from position pos on.  Returns false if the
 * segment file is gone (retention), true otherwise.
 */
static bool
read_segment(ConsumeState *st, const char *dir, int64 base, bool use_index)
{
	char		path[MAXPGPATH];
	int			fd;
	struct stat sb;
	off_t		pos;
	off_t		size;
	bool		restarted = false;

	nagare_segment_path(path, dir, base, ".log");
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
	{
		if (errno == ENOENT)
			return false;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	}
	if (fstat(fd, &sb) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	size = sb.st_size;
	pos = use_index ? nagare_index_lookup(dir, base, st->next, size) : 0;
	if (pos > 0)
	{
		/*
		 * The index is a hint: if what it points at is not a batch at or
		 * before the wanted offset, read the segment from its start.
		 */
		KafkaBatchHeader h;

		if (size - pos < KAFKA_BATCH_HEADER_SIZE ||
			pg_pread(fd, st->buf, KAFKA_BATCH_HEADER_SIZE, pos) != KAFKA_BATCH_HEADER_SIZE ||
			kafka_batch_read_header((const uint8 *) st->buf, KAFKA_BATCH_HEADER_SIZE, &h) != KAFKA_OK ||
			h.Magic != 2 || h.BaseOffset < base || h.BaseOffset > st->next)
			pos = 0;
	}

	while (st->remaining > 0 && st->next < st->hwm && size - pos >= KAFKA_BATCH_HEADER_SIZE)
	{
		KafkaBatchHeader h;
		KafkaRecordIter it;
		KafkaRecordView rec;
		size_t		len;
		int			err;
		ssize_t		n;

		n = pg_pread(fd, st->buf, KAFKA_BATCH_HEADER_SIZE, pos);
		if (n != KAFKA_BATCH_HEADER_SIZE)
			break;
		err = kafka_batch_read_header((const uint8 *) st->buf, KAFKA_BATCH_HEADER_SIZE, &h);
		if (err != KAFKA_OK)
			corrupted(path, pos, kafka_codec_strerror(err));
		if (h.BaseOffset >= st->hwm)
			break;
		if (h.BatchLength < KAFKA_BATCH_HEADER_SIZE - KAFKA_BATCH_LOG_OVERHEAD)
			corrupted(path, pos, "invalid batch length");
		len = (size_t) h.BatchLength + KAFKA_BATCH_LOG_OVERHEAD;
		if ((off_t) len > size - pos)
			corrupted(path, pos, "batch below the high watermark extends past the end of the file");
		if (kafka_batch_last_offset(&h) < st->next)
		{
			pos += len;
			continue;
		}
		if (h.BaseOffset > st->next && st->next >= base && pos > 0 && !restarted)
		{
			/* an index entry led past the offset we want: scan from the start */
			pos = 0;
			restarted = true;
			continue;
		}
		if (len > st->bufsize)
		{
			st->buf = repalloc_huge(st->buf, len);
			st->bufsize = len;
		}
		n = pg_pread(fd, st->buf, len, pos);
		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", path)));
		if ((size_t) n != len)
			corrupted(path, pos, "short read");

		st->bytes_read += len;
		err = kafka_records_begin(&it, (const uint8 *) st->buf, len, KAFKA_MAX_DECOMPRESSED, &nagare_palloc_allocator);
		while (err == KAFKA_OK && st->remaining > 0)
		{
			Datum		values[6];
			bool		nulls[6] = {false, false, false, false, false, false};
			int			r = kafka_records_next(&it, &rec);

			if (r <= 0)
			{
				err = r;
				break;
			}
			if (rec.Offset < st->next)
				continue;
			if (rec.Offset >= st->hwm)
				break;
			if (kafka_batch_is_control(&it.Header))
			{
				/* transaction markers are not records */
				st->next = rec.Offset + 1;
				continue;
			}
			values[2] = TimestampTzGetDatum((TimestampTz) (rec.Timestamp -
														   (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000) * 1000);
			if (st->want_timestamp)
			{
				st->timestamp = DatumGetTimestampTz(values[2]);
				st->got_timestamp = true;
				st->next = rec.Offset + 1;
				st->remaining = 0;
				break;
			}
			values[0] = Int32GetDatum(st->partition);
			values[1] = Int64GetDatum(rec.Offset);
			values[3] = bytes_datum(rec.Key, rec.KeyLen, &nulls[3]);
			values[4] = bytes_datum(rec.Value, rec.ValueLen, &nulls[4]);
			values[5] = make_headers(st, &rec);
			tuplestore_putvalues(st->rsinfo->setResult, st->rsinfo->setDesc, values, nulls);
			st->next = rec.Offset + 1;
			st->remaining--;
		}
		kafka_records_end(&it);
		if (err < 0)
			corrupted(path, pos, kafka_codec_strerror(err));
		if (st->remaining > 0 && st->next <= kafka_batch_last_offset(&h))
			st->next = kafka_batch_last_offset(&h) + 1;
		pos += len;
	}
	CloseTransientFile(fd);
	return true;
}

/*
 * Read st->remaining records of st's partition from offset from on.  With
 * st->want_timestamp, an offset outside the log is not an error: nothing
 * is read.
 */
static void
read_partition(ConsumeState *st, int64 from)
{
	NagarePartition *part;
	int64		log_start = 0;
	int64 written = 0;
	char		dir[MAXPGPATH];
	int attempt;

	st->next = from;
	nagare_wait_for_broker();
	nagare_xact_wait_own_sends();
	part = nagare_find_partition(st->topic->topic_id, st->partition);
	nagare_partition_dir(dir, st->topic->topic_id, st->partition);

	for (attempt = 0;; attempt++)
	{
		int64	   *bases;
		int			nsegs;
		int			i;
		bool		restart = false;

		if (part != NULL)
		{
			/* the broker writes durable_watermark before high_watermark */
			written = (int64) pg_atomic_read_u64(&part->high_watermark);
			pg_read_barrier();
			st->hwm =
				nagare_serve_durable_only
					? Min((int64) pg_atomic_read_u64(&part->durable_watermark), written)
					: written;
			pg_read_barrier();
			log_start = (int64) pg_atomic_read_u64(&part->log_start_offset);
		}
		if (st->next < log_start)
		{
			if ((attempt > 0 && st->next > from) || st->want_timestamp)
				break;			/* retention caught up with us mid-read */
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("offset %lld of partition %d of topic \"%s\" was deleted",
							(long long) st->next, st->partition, st->topic->name),
					 errdetail("The partition's log starts at offset %lld.",
							   (long long) log_start),
					 errhint("Read from the log start offset shown in nagare.partitions.")));
		}
		if (st->next > written)
		{
			if (st->want_timestamp)
				break;
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("offset %lld of partition %d of topic \"%s\" is beyond the end of the log",
							(long long) st->next, st->partition, st->topic->name),
					 errdetail("The high watermark is %lld.", (long long) written),
					 errhint("The next record will get offset %lld.", (long long) written)));
		}
		/* with nagare.serve_durable_only, records not yet fsynced wait */
		if (st->next >= st->hwm || st->remaining == 0)
			break;

		bases = nagare_list_segments(dir, &nsegs, false);
		if (nsegs == 0)
			break;
		for (i = nsegs - 1; i > 0 && bases[i] > st->next; i--)
			;
		for (; i < nsegs && st->remaining > 0 && st->next < st->hwm; i++)
		{
			if (!read_segment(st, dir, bases[i], bases[i] <= st->next))
			{
				restart = true;
				break;
			}
		}
		if (!restart || attempt >= 3)
			break;
	}
}

/*
 * nagare.consume(topic, partition, from_offset, max_records) -> setof nagare.message
 */
Datum
nagare_consume(PG_FUNCTION_ARGS)
{
	ConsumeState st;
	int64 from = PG_GETARG_INT64(2);
	int32 max_records = PG_GETARG_INT32(3);
	Oid array_type;
	TimestampTz start = nagare_sql_usage_begin();

	memset(&st, 0, sizeof(st));
	nagare_acl_require(KAFKA_RESOURCE_TOPIC, text_to_cstring(PG_GETARG_TEXT_PP(0)),
					   KAFKA_ACL_READ);
	st.topic = nagare_lookup_topic(text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	st.partition = PG_GETARG_INT32(1);
	if (st.partition < 0 || st.partition >= st.topic->partitions)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("partition %d of topic \"%s\" does not exist", st.partition,
						st.topic->name),
				 errhint("The topic has partitions 0 to %d.", st.topic->partitions - 1)));
	if (from < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_offset must not be negative"),
				 errhint(
					 "Offsets start at 0; nagare.partitions shows each partition's log start offset.")));
	if (max_records < 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("max_records must not be negative")));

	InitMaterializedSRF(fcinfo, 0);
	st.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	array_type = TupleDescAttr(st.rsinfo->setDesc, 5)->atttypid;
	st.header_type = get_element_type(array_type);
	st.header_desc = lookup_rowtype_tupdesc_copy(st.header_type, -1);
	st.header_desc = BlessTupleDesc(st.header_desc);
	st.remaining = max_records;
	st.bufsize = 64 * 1024;
	st.buf = palloc(st.bufsize);

	read_partition(&st, from);
	nagare_sql_usage_count(NAGARE_SQL_CONSUME, start, 0, 0, st.bytes_read,
						   max_records - st.remaining);
	if (max_records > st.remaining)
		nagare_sql_deps_count(NAGARE_DEPS_CONSUME, st.topic->topic_id,
							  max_records - st.remaining, st.bytes_read);
	return (Datum) 0;
}

/*
 * nagare.record_timestamp(topic, partition, at_offset) -> timestamptz: of
 * the first record at or after at_offset below the high watermark (null
 * if none, or if the offset is outside the log).  DESCRIBE on the topic
 * suffices (consumer lag in time); it is not a consume() of the caller's.
 */
Datum
nagare_record_timestamp(PG_FUNCTION_ARGS)
{
	ConsumeState st;
	char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	memset(&st, 0, sizeof(st));
	nagare_acl_require(KAFKA_RESOURCE_TOPIC, name, KAFKA_ACL_DESCRIBE);
	st.topic = nagare_lookup_topic(name, false);
	st.partition = PG_GETARG_INT32(1);
	if (st.partition < 0 || st.partition >= st.topic->partitions || PG_GETARG_INT64(2) < 0)
		PG_RETURN_NULL();
	st.want_timestamp = true;
	st.remaining = 1;
	st.bufsize = 64 * 1024;
	st.buf = palloc(st.bufsize);
	read_partition(&st, PG_GETARG_INT64(2));
	if (!st.got_timestamp)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(st.timestamp);
}
