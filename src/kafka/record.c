/*-------------------------------------------------------------------------
 *
 * record.c
 *	  RecordBatch v2: header parsing, validation, encoding, record iteration.
 *
 * See record.h for the format and for what each level of checking
 * guarantees.  Implementation notes:
 *
 * Reading.  Every read is bounded by an explicit end pointer, and every
 * length taken from the input is compared with the bytes remaining before it
 * is used, as a count or as an offset.  Counts taken from the input never
 * drive a loop by themselves: each iteration consumes input bytes, so a
 * hostile count ends at the end of the buffer.  Arithmetic on values taken
 * from the input that could overflow (BaseOffset + offsetDelta, BaseTimestamp
 * + timestampDelta) is done in uint64_t, which wraps, instead of int64_t,
 * where overflow is undefined; Java wraps there too.
 *
 * Writing.  kafka_batch_encode_into() is the hot path of SQL send(): one
 * record per call.  It sizes the batch first from lengths alone (no data is
 * touched), writes header and records in one forward pass, and finishes with
 * the CRC, which is the only second look at the bytes.  Record body sizes
 * are recomputed in the writing pass rather than stored, so nothing needs
 * allocating; that is a handful of varint-size computations per record.
 * Compressed batches are built by encoding uncompressed into a scratch
 * buffer and compressing its records section into the final buffer, behind
 * room left for the header.
 *
 * Field names follow Apache Kafka's (DefaultRecordBatch.java).
 *
 * src/kafka/record.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "kafka/byteorder.h"
#include "kafka/crc32c.h"
#include "kafka/record.h"
#include "kafka/varint.h"

/* Record body minus its length prefix: KAFKA_RECORD_MIN_SIZE - 1. */
#define RECORD_MIN_BODY		(KAFKA_RECORD_MIN_SIZE - 1)
/* A header is at least a key length and a value length, one byte each. */
#define HEADER_MIN_SIZE		2

/* ----------------------------------------------------------------
 *		Header parsing and batch-level checks
 * ----------------------------------------------------------------
 */
int
kafka_batch_read_header(const uint8_t *buf, size_t len, KafkaBatchHeader *h)
{
	if (len < KAFKA_BATCH_POS_CRC)
		return KAFKA_ERR_TRUNCATED;

	/* these four are where they are in every message format */
	h->BaseOffset = (int64_t) kafka_load_be64(buf + KAFKA_BATCH_POS_BASE_OFFSET);
	h->BatchLength = (int32_t) kafka_load_be32(buf + KAFKA_BATCH_POS_BATCH_LENGTH);
	h->PartitionLeaderEpoch = (int32_t) kafka_load_be32(buf + KAFKA_BATCH_POS_LEADER_EPOCH);
	h->Magic = (int8_t) buf[KAFKA_BATCH_POS_MAGIC];
	if (h->Magic != KAFKA_BATCH_MAGIC_V2)
		return KAFKA_ERR_MAGIC;
	if (len < KAFKA_BATCH_HEADER_SIZE)
		return KAFKA_ERR_TRUNCATED;

	h->Crc = kafka_load_be32(buf + KAFKA_BATCH_POS_CRC);
	h->Attributes = (int16_t) kafka_load_be16(buf + KAFKA_BATCH_POS_ATTRIBUTES);
	h->LastOffsetDelta = (int32_t) kafka_load_be32(buf + KAFKA_BATCH_POS_LAST_OFFSET_DELTA);
	h->BaseTimestamp = (int64_t) kafka_load_be64(buf + KAFKA_BATCH_POS_BASE_TIMESTAMP);
	h->MaxTimestamp = (int64_t) kafka_load_be64(buf + KAFKA_BATCH_POS_MAX_TIMESTAMP);
	h->ProducerId = (int64_t) kafka_load_be64(buf + KAFKA_BATCH_POS_PRODUCER_ID);
	h->ProducerEpoch = (int16_t) kafka_load_be16(buf + KAFKA_BATCH_POS_PRODUCER_EPOCH);
	h->BaseSequence = (int32_t) kafka_load_be32(buf + KAFKA_BATCH_POS_BASE_SEQUENCE);
	h->RecordsCount = (int32_t) kafka_load_be32(buf + KAFKA_BATCH_POS_RECORDS_COUNT);
	return KAFKA_OK;
}

int
kafka_batch_size(const uint8_t *buf, size_t len, size_t *size)
{
	int32_t		batch_length;

	*size = 0;
	if (len < KAFKA_BATCH_LOG_OVERHEAD)
		return KAFKA_ERR_TRUNCATED;
	batch_length = (int32_t) kafka_load_be32(buf + KAFKA_BATCH_POS_BATCH_LENGTH);
	if (len > KAFKA_BATCH_POS_MAGIC && buf[KAFKA_BATCH_POS_MAGIC] != KAFKA_BATCH_MAGIC_V2)
		return KAFKA_ERR_MAGIC;
	if (batch_length < KAFKA_BATCH_HEADER_SIZE - KAFKA_BATCH_LOG_OVERHEAD)
		return KAFKA_ERR_CORRUPT;
	*size = (size_t) batch_length + KAFKA_BATCH_LOG_OVERHEAD;
	return len < *size ? KAFKA_ERR_TRUNCATED : KAFKA_OK;
}

int
kafka_batch_check(const uint8_t *buf, size_t len, KafkaBatchHeader *h)
{
	size_t		size;
	int			rc;

	rc = kafka_batch_read_header(buf, len, h);
	if (rc != KAFKA_OK)
		return rc;

	/* len must be exactly BatchLength + 12 */
	if (h->BatchLength < KAFKA_BATCH_HEADER_SIZE - KAFKA_BATCH_LOG_OVERHEAD)
		return KAFKA_ERR_CORRUPT;
	size = (size_t) h->BatchLength + KAFKA_BATCH_LOG_OVERHEAD;
	if (len < size)
		return KAFKA_ERR_TRUNCATED;
	if (len > size)
		return KAFKA_ERR_CORRUPT;

	if (kafka_crc32c(0, buf + KAFKA_BATCH_POS_ATTRIBUTES,
					 len - KAFKA_BATCH_POS_ATTRIBUTES) != h->Crc)
		return KAFKA_ERR_CRC;

	if (kafka_batch_compression(h) > KAFKA_COMPRESSION_MAX)
		return KAFKA_ERR_UNSUPPORTED;

	/*
	 * Each record has its own offset in [BaseOffset, BaseOffset +
	 * LastOffsetDelta].  Compaction may leave gaps, so the count may be
	 * smaller than the range, never larger.
	 */
	if (h->RecordsCount < 0 || h->LastOffsetDelta < 0 ||
		(int64_t) h->RecordsCount > (int64_t) h->LastOffsetDelta + 1)
		return KAFKA_ERR_RECORD;

	/* uncompressed records are at least KAFKA_RECORD_MIN_SIZE bytes each */
	if (kafka_batch_compression(h) == KAFKA_COMPRESSION_NONE &&
		(size_t) h->RecordsCount > (len - KAFKA_BATCH_HEADER_SIZE) / KAFKA_RECORD_MIN_SIZE)
		return KAFKA_ERR_RECORD;

	return KAFKA_OK;
}

/*
 * LogValidator.validateBatch: a produced v2 batch holds at least one record
 * and its offsets are contiguous, lastOffset - baseOffset + 1 == count.
 */
static int
produced_batch_rule(const KafkaBatchHeader *h)
{
	if (h->RecordsCount < 1 || h->LastOffsetDelta != h->RecordsCount - 1)
		return KAFKA_ERR_RECORD;
	return KAFKA_OK;
}

int
kafka_batch_validate(const uint8_t *buf, size_t len, KafkaBatchHeader *h)
{
	int			rc;

	rc = kafka_batch_check(buf, len, h);
	if (rc != KAFKA_OK)
		return rc;
	return produced_batch_rule(h);
}

void
kafka_batch_set_base_offset(uint8_t *batch, int64_t off)
{
	kafka_store_be64(batch + KAFKA_BATCH_POS_BASE_OFFSET, (uint64_t) off);
}

void
kafka_batch_set_leader_epoch(uint8_t *batch, int32_t epoch)
{
	kafka_store_be32(batch + KAFKA_BATCH_POS_LEADER_EPOCH, (uint32_t) epoch);
}

/* ----------------------------------------------------------------
 *		Encoding
 * ----------------------------------------------------------------
 */

/* Bytes of a nullable byte string: its length varint plus its contents. */
static inline uint64_t
bytes_size(int32_t len)
{
	return kafka_varint_size(len) + (len > 0 ? (uint64_t) len : 0);
}

static inline int
bytes_ok(const uint8_t *ptr, int32_t len, int nullable)
{
	if (len < (nullable ? -1 : 0))
		return 0;
	return len <= 0 || ptr != NULL;
}

/* timestamp - base, wrapping, as Java computes the delta */
static inline int64_t
timestamp_delta(int64_t timestamp, int64_t base)
{
	return (int64_t) ((uint64_t) timestamp - (uint64_t) base);
}

/*
 * Size of one record's body (everything after its length varint), or 0 if
 * the record cannot be encoded.  Stops adding header sizes once the total
 * passes KAFKA_MAX_BATCH_SIZE, so the sum cannot overflow whatever the
 * caller passed (each step adds less than 2^33).
 */
static uint64_t
record_body_size(const KafkaRecordIn *r, int64_t base_timestamp, int32_t index)
{
	uint64_t	size;
	int32_t		i;

	if (!bytes_ok(r->key, r->key_len, 1) || !bytes_ok(r->value, r->value_len, 1) ||
		r->nheaders < 0 || (r->nheaders > 0 && r->headers == NULL))
		return 0;

	size = 1 +					/* attributes */
		kafka_varlong_size(timestamp_delta(r->timestamp, base_timestamp)) +
		kafka_varint_size(index) +
		bytes_size(r->key_len) +
		bytes_size(r->value_len) +
		kafka_varint_size(r->nheaders);

	for (i = 0; i < r->nheaders; i++)
	{
		const KafkaHeaderIn *h = &r->headers[i];

		if (!bytes_ok(h->key, h->key_len, 0) || !bytes_ok(h->value, h->value_len, 1))
			return 0;
		size += bytes_size(h->key_len) + bytes_size(h->value_len);
		if (size > KAFKA_MAX_BATCH_SIZE)
			break;				/* too large already; the caller says so */
	}
	return size;
}

/* Size of the uncompressed batch holding recs[0..n-1]. */
static int
batch_encoded_size(const KafkaRecordIn *recs, int n, size_t *size)
{
	uint64_t	total = KAFKA_BATCH_HEADER_SIZE;
	int			i;

	if (n < 1 || recs == NULL)
		return KAFKA_ERR_INVALID_ARG;
	for (i = 0; i < n; i++)
	{
		uint64_t	body = record_body_size(&recs[i], recs[0].timestamp, i);

		if (body == 0)
			return KAFKA_ERR_INVALID_ARG;
		if (body > KAFKA_MAX_BATCH_SIZE)
			return KAFKA_ERR_TOO_LARGE;
		total += kafka_varint_size((int32_t) body) + body;
		if (total > KAFKA_MAX_BATCH_SIZE)
			return KAFKA_ERR_TOO_LARGE;
	}
	*size = (size_t) total;
	return KAFKA_OK;
}

size_t
kafka_batch_max_size(const KafkaRecordIn *recs, int n)
{
	size_t		size;

	if (batch_encoded_size(recs, n, &size) != KAFKA_OK)
		return 0;
	return size;
}

/* Write a nullable byte string; the space was accounted for by the sizing. */
static inline uint8_t *
write_bytes(uint8_t *p, const uint8_t *data, int32_t len)
{
	p += kafka_varint_write(p, len);
	if (len > 0)
	{
		memcpy(p, data, (size_t) len);
		p += len;
	}
	return p;
}

/*
 * Write the 61-byte header, except the CRC.  Fields are those of a
 * non-idempotent, non-transactional producer's batch.
 */
static void
write_batch_header(uint8_t *out, size_t size, int16_t attributes,
				   int32_t count, int64_t base_timestamp, int64_t max_timestamp)
{
	kafka_store_be64(out + KAFKA_BATCH_POS_BASE_OFFSET, 0);
	kafka_store_be32(out + KAFKA_BATCH_POS_BATCH_LENGTH,
					 (uint32_t) (size - KAFKA_BATCH_LOG_OVERHEAD));
	kafka_store_be32(out + KAFKA_BATCH_POS_LEADER_EPOCH, 0);
	out[KAFKA_BATCH_POS_MAGIC] = KAFKA_BATCH_MAGIC_V2;
	kafka_store_be16(out + KAFKA_BATCH_POS_ATTRIBUTES, (uint16_t) attributes);
	kafka_store_be32(out + KAFKA_BATCH_POS_LAST_OFFSET_DELTA, (uint32_t) (count - 1));
	kafka_store_be64(out + KAFKA_BATCH_POS_BASE_TIMESTAMP, (uint64_t) base_timestamp);
	kafka_store_be64(out + KAFKA_BATCH_POS_MAX_TIMESTAMP, (uint64_t) max_timestamp);
	kafka_store_be64(out + KAFKA_BATCH_POS_PRODUCER_ID, (uint64_t) KAFKA_NO_PRODUCER_ID);
	kafka_store_be16(out + KAFKA_BATCH_POS_PRODUCER_EPOCH, (uint16_t) KAFKA_NO_PRODUCER_EPOCH);
	kafka_store_be32(out + KAFKA_BATCH_POS_BASE_SEQUENCE, (uint32_t) KAFKA_NO_SEQUENCE);
	kafka_store_be32(out + KAFKA_BATCH_POS_RECORDS_COUNT, (uint32_t) count);
}

/* Compute and store the CRC over bytes 21 .. size. */
static void
write_batch_crc(uint8_t *out, size_t size)
{
	kafka_store_be32(out + KAFKA_BATCH_POS_CRC,
					 kafka_crc32c(0, out + KAFKA_BATCH_POS_ATTRIBUTES,
								  size - KAFKA_BATCH_POS_ATTRIBUTES));
}

int
kafka_batch_encode_into(const KafkaRecordIn *recs, int n, uint8_t *out,
						size_t cap, size_t *outlen)
{
	size_t		size;
	int64_t		base_timestamp;
	int64_t		max_timestamp;
	uint8_t    *p;
	int			i;
	int			rc;

	rc = batch_encoded_size(recs, n, &size);
	if (rc != KAFKA_OK)
		return rc;
	*outlen = size;
	if (size > cap)
		return KAFKA_ERR_TOO_LARGE;

	base_timestamp = recs[0].timestamp;
	max_timestamp = base_timestamp;
	p = out + KAFKA_BATCH_HEADER_SIZE;
	for (i = 0; i < n; i++)
	{
		const KafkaRecordIn *r = &recs[i];
		uint64_t	body = record_body_size(r, base_timestamp, i);
		int32_t		j;

		if (r->timestamp > max_timestamp)
			max_timestamp = r->timestamp;

		p += kafka_varint_write(p, (int32_t) body);
		*p++ = 0;				/* record attributes: unused */
		p += kafka_varlong_write(p, timestamp_delta(r->timestamp, base_timestamp));
		p += kafka_varint_write(p, i);	/* offsetDelta */
		p = write_bytes(p, r->key, r->key_len);
		p = write_bytes(p, r->value, r->value_len);
		p += kafka_varint_write(p, r->nheaders);
		for (j = 0; j < r->nheaders; j++)
		{
			p = write_bytes(p, r->headers[j].key, r->headers[j].key_len);
			p = write_bytes(p, r->headers[j].value, r->headers[j].value_len);
		}
	}

	write_batch_header(out, size, KAFKA_COMPRESSION_NONE, n,
					   base_timestamp, max_timestamp);
	write_batch_crc(out, size);
	return KAFKA_OK;
}

int
kafka_batch_encode(const KafkaRecordIn *recs, int n, int codec,
				   uint8_t **out, size_t *outlen, const KafkaAllocator *a)
{
	size_t		size;
	size_t		len;
	uint8_t    *plain;
	uint8_t    *batch;
	int			rc;

	if (codec < KAFKA_COMPRESSION_NONE || codec > KAFKA_COMPRESSION_MAX)
		return KAFKA_ERR_UNSUPPORTED;
	rc = batch_encoded_size(recs, n, &size);
	if (rc != KAFKA_OK)
		return rc;

	plain = kafka_mem_alloc(a, size);
	if (plain == NULL)
		return KAFKA_ERR_NOMEM;
	rc = kafka_batch_encode_into(recs, n, plain, size, &len);
	if (rc != KAFKA_OK || codec == KAFKA_COMPRESSION_NONE)
	{
		if (rc != KAFKA_OK)
			kafka_mem_free(a, plain);
		else
		{
			*out = plain;
			*outlen = len;
		}
		return rc;
	}

	/*
	 * Compress the records section into a buffer that has room for the
	 * header in front, then put the header there.
	 */
	rc = kafka_compress_headroom(codec, plain + KAFKA_BATCH_HEADER_SIZE,
								 len - KAFKA_BATCH_HEADER_SIZE,
								 KAFKA_BATCH_HEADER_SIZE, &batch, &size, a);
	if (rc == KAFKA_OK)
	{
		memcpy(batch, plain, KAFKA_BATCH_HEADER_SIZE);
		kafka_store_be32(batch + KAFKA_BATCH_POS_BATCH_LENGTH,
						 (uint32_t) (size - KAFKA_BATCH_LOG_OVERHEAD));
		kafka_store_be16(batch + KAFKA_BATCH_POS_ATTRIBUTES, (uint16_t) codec);
		write_batch_crc(batch, size);
		*out = batch;
		*outlen = size;
	}
	kafka_mem_free(a, plain);
	return rc;
}

/* ----------------------------------------------------------------
 *		Decoding
 * ----------------------------------------------------------------
 */

/*
 * Read a byte-string length and the bytes it announces, within [*pos, end).
 * nullable: whether -1 (null) is allowed.  On success *data is NULL and *len
 * -1 for null.
 */
static int
read_bytes(const uint8_t **pos, const uint8_t *end, int nullable,
		   const uint8_t **data, int32_t *len)
{
	const uint8_t *p = *pos;
	int32_t		n;

	if (kafka_varint_read(&p, end, &n) != KAFKA_OK)
		return KAFKA_ERR_RECORD;
	if (n == -1 && nullable)
	{
		*data = NULL;
		*len = -1;
	}
	else if (n < 0 || (size_t) n > (size_t) (end - p))
		return KAFKA_ERR_RECORD;
	else
	{
		*data = p;
		*len = n;
		p += n;
	}
	*pos = p;
	return KAFKA_OK;
}

int
kafka_record_header_next(const uint8_t **cursor, const uint8_t *end,
						 KafkaHeaderIn *h)
{
	const uint8_t *p = *cursor;

	if (p >= end)
		return 0;
	if (read_bytes(&p, end, 0, &h->key, &h->key_len) != KAFKA_OK ||
		read_bytes(&p, end, 1, &h->value, &h->value_len) != KAFKA_OK)
		return KAFKA_ERR_RECORD;
	*cursor = p;
	return 1;
}

/* Record a sticky iterator error and return it. */
static inline int
iter_fail(KafkaRecordIter *it, int rc)
{
	it->error = rc;
	return rc;
}

int
kafka_records_begin(KafkaRecordIter *it, const uint8_t *batch, size_t len,
					size_t max_decompressed, const KafkaAllocator *a)
{
	int			codec;
	int			rc;

	memset(it, 0, sizeof(*it));
	it->prev_delta = -1;
	if (a != NULL)
		it->alloc = *a;

	rc = kafka_batch_check(batch, len, &it->Header);
	if (rc != KAFKA_OK)
		return iter_fail(it, rc);

	codec = kafka_batch_compression(&it->Header);
	if (codec == KAFKA_COMPRESSION_NONE)
	{
		it->pos = batch + KAFKA_BATCH_HEADER_SIZE;
		it->end = batch + len;
	}
	else
	{
		uint8_t    *buf;
		size_t		buflen;

		if (a == NULL)
			return iter_fail(it, KAFKA_ERR_INVALID_ARG);
		rc = kafka_decompress(codec, batch + KAFKA_BATCH_HEADER_SIZE,
							  len - KAFKA_BATCH_HEADER_SIZE, max_decompressed,
							  &buf, &buflen, a);
		if (rc != KAFKA_OK)
			return iter_fail(it, rc);
		it->decompressed = buf;
		it->pos = buf;
		it->end = buf + buflen;

		/*
		 * The check kafka_batch_check() could not make before decompressing.
		 * Fail holding nothing, so that a failed begin needs no cleanup.
		 */
		if ((size_t) it->Header.RecordsCount > buflen / KAFKA_RECORD_MIN_SIZE)
		{
			kafka_records_end(it);
			return iter_fail(it, KAFKA_ERR_RECORD);
		}
	}
	return KAFKA_OK;
}

/* Parse the record at it->pos into *rec; the caller advances on success. */
static int
record_parse(KafkaRecordIter *it, KafkaRecordView *rec, const uint8_t **next)
{
	const KafkaBatchHeader *h = &it->Header;
	const uint8_t *p = it->pos;
	const uint8_t *end;
	int32_t		length;
	int64_t		timestamp_delta;
	int32_t		offset_delta;
	int32_t		i;

	/* the record's length bounds everything that follows */
	if (kafka_varint_read(&p, it->end, &length) != KAFKA_OK ||
		length < RECORD_MIN_BODY || (size_t) length > (size_t) (it->end - p))
		return KAFKA_ERR_RECORD;
	end = p + length;

	rec->Attributes = (int8_t) *p++;
	if (kafka_varlong_read(&p, end, &timestamp_delta) != KAFKA_OK ||
		kafka_varint_read(&p, end, &offset_delta) != KAFKA_OK)
		return KAFKA_ERR_RECORD;

	/* offsets strictly increase within the batch's declared range */
	if (offset_delta <= it->prev_delta || offset_delta > h->LastOffsetDelta)
		return KAFKA_ERR_RECORD;

	if (read_bytes(&p, end, 1, &rec->Key, &rec->KeyLen) != KAFKA_OK ||
		read_bytes(&p, end, 1, &rec->Value, &rec->ValueLen) != KAFKA_OK ||
		kafka_varint_read(&p, end, &rec->HeadersCount) != KAFKA_OK)
		return KAFKA_ERR_RECORD;
	if (rec->HeadersCount < 0 ||
		(size_t) rec->HeadersCount > (size_t) (end - p) / HEADER_MIN_SIZE)
		return KAFKA_ERR_RECORD;

	rec->Headers = p;
	for (i = 0; i < rec->HeadersCount; i++)
	{
		KafkaHeaderIn hdr;

		if (kafka_record_header_next(&p, end, &hdr) != 1)
			return KAFKA_ERR_RECORD;
	}
	/* DefaultRecord.readFrom: the length must cover exactly the fields */
	if (p != end)
		return KAFKA_ERR_RECORD;
	rec->HeadersLen = (size_t) (end - rec->Headers);

	rec->Offset = (int64_t) ((uint64_t) h->BaseOffset + (uint64_t) offset_delta);
	if (kafka_batch_is_log_append_time(h))
		rec->Timestamp = h->MaxTimestamp;
	else
		rec->Timestamp = (int64_t) ((uint64_t) h->BaseTimestamp + (uint64_t) timestamp_delta);

	it->prev_delta = offset_delta;
	*next = end;
	return KAFKA_OK;
}

int
kafka_records_next(KafkaRecordIter *it, KafkaRecordView *rec)
{
	const uint8_t *next;
	int			rc;

	if (it->error != KAFKA_OK)
		return it->error;

	if (it->index == it->Header.RecordsCount)
	{
		/* all declared records read: nothing may follow */
		if (it->pos != it->end)
			return iter_fail(it, KAFKA_ERR_RECORD);
		return 0;
	}
	/* fewer records than declared, or a malformed one */
	rc = record_parse(it, rec, &next);
	if (rc != KAFKA_OK)
		return iter_fail(it, rc);
	it->pos = next;
	it->index++;
	return 1;
}

void
kafka_records_end(KafkaRecordIter *it)
{
	if (it->decompressed != NULL)
	{
		kafka_mem_free(&it->alloc, it->decompressed);
		it->decompressed = NULL;
	}
	it->pos = it->end = NULL;
	it->error = KAFKA_ERR_INVALID_ARG;
}

int
kafka_batch_validate_records(const uint8_t *buf, size_t len, size_t max_decompressed,
							 const KafkaAllocator *a, KafkaBatchHeader *h)
{
	KafkaRecordIter it;
	KafkaRecordView rec;
	int			rc;

	/* the iterator runs kafka_batch_check(), CRC included */
	rc = kafka_records_begin(&it, buf, len, max_decompressed, a);
	*h = it.Header;
	if (rc != KAFKA_OK)
		return rc;
	rc = produced_batch_rule(h);
	if (rc != KAFKA_OK)
	{
		kafka_records_end(&it);
		return rc;
	}
	while ((rc = kafka_records_next(&it, &rec)) == 1)
		;
	kafka_records_end(&it);
	return rc < 0 ? rc : KAFKA_OK;
}
