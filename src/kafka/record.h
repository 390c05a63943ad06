/*-------------------------------------------------------------------------
 *
 * record.h
 *	  Kafka RecordBatch v2 (magic 2): validation, encoding and decoding.
 *
 * A record batch is what Produce carries, what a partition's segment files
 * hold back to back, and what Fetch returns.  Layout (all big-endian):
 *
 *	 0	BaseOffset				int64
 *	 8	BatchLength				int32	bytes after this field
 *	12	PartitionLeaderEpoch	int32
 *	16	Magic					int8	2
 *	17	CRC						uint32	CRC-32C of bytes 21 .. end
 *	21	Attributes				int16	bits 0-2 compression, 3 timestamp type
 *										(1 = LogAppendTime), 4 transactional,
 *										5 control, 6 delete horizon set
 *	23	LastOffsetDelta			int32
 *	27	BaseTimestamp			int64
 *	35	MaxTimestamp			int64
 *	43	ProducerId				int64
 *	51	ProducerEpoch			int16
 *	53	BaseSequence			int32
 *	57	RecordsCount			int32
 *	61	Records					the whole section compressed as one blob
 *								when the compression bits are non-zero
 *
 * Record:
 *	length varint (bytes after it), attributes int8, timestampDelta varlong,
 *	offsetDelta varint, keyLength varint (-1 = null), key, valueLength
 *	varint (-1 = null), value, headersCount varint, then per header:
 *	headerKeyLength varint (never null), headerKey, headerValueLength varint
 *	(-1 = null), headerValue.
 *
 * (Apache Kafka: DefaultRecordBatch.java, DefaultRecord.java.)
 *
 * The CRC does not cover BaseOffset, BatchLength, PartitionLeaderEpoch or
 * Magic, so a broker can store a produced batch verbatim after rewriting
 * BaseOffset and PartitionLeaderEpoch (kafka_batch_set_*).
 *
 * Three levels of checking, from cheapest:
 *
 *	kafka_batch_size()		framing only: how long the batch at the head of
 *							a buffer is (splitting a segment or a Fetch
 *							response into batches).
 *	kafka_batch_check()		integrity of a stored batch: exact length, magic,
 *							CRC, known codec, RecordsCount consistent with
 *							LastOffsetDelta.  Batches rewritten by log
 *							compaction pass: they may have offset gaps, and
 *							even no records at all.
 *	kafka_batch_validate()	what a broker requires of a produced batch:
 *							kafka_batch_check() plus RecordsCount >= 1 and
 *							LastOffsetDelta == RecordsCount - 1 (Kafka's
 *							LogValidator.validateBatch).
 *	kafka_batch_validate_records()	both of the above and one pass of the
 *							record iterator, with the CRC computed once: what
 *							the broker runs on every produced batch.
 *
 * None of them looks inside the records.  The record iterator
 * (kafka_records_begin/next) runs kafka_batch_check(), decompresses, and
 * checks every record as it goes: lengths agree with contents, offset deltas
 * strictly increase within [0, LastOffsetDelta], exactly RecordsCount
 * records and no trailing bytes.  After kafka_batch_validate(), those rules
 * force offset deltas 0, 1, ..., RecordsCount - 1, so validating a produced
 * batch completely is kafka_batch_validate() plus one pass of the iterator.
 *
 * src/kafka/record.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef KAFKA_RECORD_H
#define KAFKA_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "kafka/codec.h"
#include "kafka/compress.h"

/*
 * Now, in Kafka's unit for timestamps: milliseconds since the Unix epoch.
 * The one clock for record timestamps, segment ages and retention, and
 * anything else nagare compares with them (PostgreSQL's TimestampTz counts
 * from 2000 and is never mixed with these).
 */
static inline int64_t
kafka_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * How far a batch's records section may decompress (the max_decompressed
 * of kafka_records_begin() and friends): the one definition of the cap.
 * A stored batch read back (Fetch's timestamp search, nagare.consume())
 * may decompress to KAFKA_MAX_DECOMPRESSED bytes; a produced batch of len
 * bytes, not trusted yet, to 64 times its size but at least 64 MB
 * (KAFKA_PRODUCE_MAX_DECOMPRESSED).
 */
#define KAFKA_MAX_DECOMPRESSED		((size_t) 256 * 1024 * 1024)
#define KAFKA_PRODUCE_MAX_DECOMPRESSED(len) \
	((size_t) (len) * 64 > (size_t) 64 * 1024 * 1024 ? \
	 (size_t) (len) * 64 : (size_t) 64 * 1024 * 1024)

#define KAFKA_BATCH_HEADER_SIZE		61
#define KAFKA_BATCH_LOG_OVERHEAD	12	/* BaseOffset + BatchLength */
#define KAFKA_BATCH_MAGIC_V2		2

/* Byte positions of the header fields. */
#define KAFKA_BATCH_POS_BASE_OFFSET			0
#define KAFKA_BATCH_POS_BATCH_LENGTH		8
#define KAFKA_BATCH_POS_LEADER_EPOCH		12
#define KAFKA_BATCH_POS_MAGIC				16
#define KAFKA_BATCH_POS_CRC					17
#define KAFKA_BATCH_POS_ATTRIBUTES			21	/* CRC coverage starts here */
#define KAFKA_BATCH_POS_LAST_OFFSET_DELTA	23
#define KAFKA_BATCH_POS_BASE_TIMESTAMP		27
#define KAFKA_BATCH_POS_MAX_TIMESTAMP		35
#define KAFKA_BATCH_POS_PRODUCER_ID			43
#define KAFKA_BATCH_POS_PRODUCER_EPOCH		51
#define KAFKA_BATCH_POS_BASE_SEQUENCE		53
#define KAFKA_BATCH_POS_RECORDS_COUNT		57

/* Attributes bits. */
#define KAFKA_ATTR_COMPRESSION_MASK		0x07
#define KAFKA_ATTR_LOG_APPEND_TIME		0x08
#define KAFKA_ATTR_TRANSACTIONAL		0x10
#define KAFKA_ATTR_CONTROL				0x20
#define KAFKA_ATTR_DELETE_HORIZON		0x40

/* Values of producer fields in batches from non-idempotent producers. */
#define KAFKA_NO_PRODUCER_ID		INT64_C(-1)
#define KAFKA_NO_PRODUCER_EPOCH		((int16_t) -1)
#define KAFKA_NO_SEQUENCE			((int32_t) -1)

/*
 * Smallest possible record: length, attributes, timestampDelta,
 * offsetDelta, keyLength, valueLength, headersCount, one byte each.
 */
#define KAFKA_RECORD_MIN_SIZE		7

typedef struct KafkaBatchHeader
{
	int64_t		BaseOffset;
	int32_t		BatchLength;
	int32_t		PartitionLeaderEpoch;
	int8_t		Magic;
	uint32_t	Crc;
	int16_t		Attributes;
	int32_t		LastOffsetDelta;
	int64_t		BaseTimestamp;
	int64_t		MaxTimestamp;
	int64_t		ProducerId;
	int16_t		ProducerEpoch;
	int32_t		BaseSequence;
	int32_t		RecordsCount;
} KafkaBatchHeader;

static inline int
kafka_batch_compression(const KafkaBatchHeader *h)
{
	return h->Attributes & KAFKA_ATTR_COMPRESSION_MASK;
}

static inline int
kafka_batch_is_control(const KafkaBatchHeader *h)
{
	return (h->Attributes & KAFKA_ATTR_CONTROL) != 0;
}

static inline int
kafka_batch_is_transactional(const KafkaBatchHeader *h)
{
	return (h->Attributes & KAFKA_ATTR_TRANSACTIONAL) != 0;
}

static inline int
kafka_batch_is_log_append_time(const KafkaBatchHeader *h)
{
	return (h->Attributes & KAFKA_ATTR_LOG_APPEND_TIME) != 0;
}

/* Offset of the batch's last record (its records may end earlier). */
static inline int64_t
kafka_batch_last_offset(const KafkaBatchHeader *h)
{
	return (int64_t) ((uint64_t) h->BaseOffset + (uint64_t) h->LastOffsetDelta);
}

/*
 * Parse the fixed header at buf.  Returns KAFKA_ERR_TRUNCATED if len is too
 * short to hold it, KAFKA_ERR_MAGIC if Magic is not 2 (then only BaseOffset,
 * BatchLength, PartitionLeaderEpoch and Magic are filled in: those are where
 * they are in every message format).  Checks nothing else.
 */
extern int	kafka_batch_read_header(const uint8_t *buf, size_t len,
									KafkaBatchHeader *h);

/*
 * Size in bytes (BatchLength + 12) of the batch at the head of buf, which
 * holds len bytes that may continue past that batch.  Returns KAFKA_OK,
 * KAFKA_ERR_TRUNCATED if buf does not yet hold the whole batch (*size is
 * then set if the 12-byte prefix was there, else 0), KAFKA_ERR_MAGIC, or
 * KAFKA_ERR_CORRUPT if BatchLength is too small for a v2 header.
 */
extern int	kafka_batch_size(const uint8_t *buf, size_t len, size_t *size);

/* Integrity of one stored batch; len must be exactly its size.  See above. */
extern int	kafka_batch_check(const uint8_t *buf, size_t len,
							  KafkaBatchHeader *h);

/* Acceptance of one produced batch; len must be exactly its size. */
extern int	kafka_batch_validate(const uint8_t *buf, size_t len,
								 KafkaBatchHeader *h);

/*
 * kafka_batch_validate() and one pass of the record iterator, computing the
 * CRC once: everything a broker checks of a produced batch before storing
 * it.  a (may be NULL for uncompressed batches) and max_decompressed are as
 * for kafka_records_begin().  Fills *h when the header could be read.
 */
extern int	kafka_batch_validate_records(const uint8_t *buf, size_t len,
										 size_t max_decompressed,
										 const KafkaAllocator *a,
										 KafkaBatchHeader *h);

/* Rewrite fields the CRC does not cover; batch has a valid v2 header. */
extern void kafka_batch_set_base_offset(uint8_t *batch, int64_t off);
extern void kafka_batch_set_leader_epoch(uint8_t *batch, int32_t epoch);

/*
 * Encoder input.  A length of -1 means null (the pointer is then ignored);
 * a length of 0 is an empty, non-null value and its pointer may be NULL.
 * Header keys cannot be null.
 */
typedef struct KafkaHeaderIn
{
	const uint8_t *key;
	int32_t		key_len;
	const uint8_t *value;
	int32_t		value_len;		/* -1 = null */
} KafkaHeaderIn;

typedef struct KafkaRecordIn
{
	int64_t		timestamp;		/* CreateTime, ms since the epoch */
	const uint8_t *key;
	int32_t		key_len;		/* -1 = null */
	const uint8_t *value;
	int32_t		value_len;		/* -1 = null */
	int32_t		nheaders;
	const KafkaHeaderIn *headers;
} KafkaRecordIn;

/*
 * Exact size of the uncompressed batch kafka_batch_encode_into() writes for
 * these records (so also an upper bound for a buffer), or 0 if they cannot
 * be encoded: n < 1, a length below -1, a null header key, a missing
 * pointer for a non-empty value, or a batch above KAFKA_MAX_BATCH_SIZE.
 */
extern size_t kafka_batch_max_size(const KafkaRecordIn *recs, int n);

/*
 * Encode n records as one batch, as a non-idempotent Java producer would:
 * BaseOffset 0, PartitionLeaderEpoch 0, ProducerId/Epoch/BaseSequence -1,
 * CreateTime, BaseTimestamp the first record's timestamp, MaxTimestamp the
 * largest, offset deltas 0..n-1, the records section compressed with codec.
 * The result is allocated from a; *outlen is its size.  Returns KAFKA_OK,
 * KAFKA_ERR_INVALID_ARG (see kafka_batch_max_size), KAFKA_ERR_UNSUPPORTED,
 * KAFKA_ERR_TOO_LARGE or KAFKA_ERR_NOMEM.
 */
extern int	kafka_batch_encode(const KafkaRecordIn *recs, int n, int codec,
							   uint8_t **out, size_t *outlen,
							   const KafkaAllocator *a);

/*
 * Same, uncompressed, into the caller's buffer out of cap bytes, without
 * allocating: one pass writing the records, then the CRC.  Returns KAFKA_OK,
 * KAFKA_ERR_INVALID_ARG, or KAFKA_ERR_TOO_LARGE if cap is too small, in
 * which case *outlen is set to the size needed.
 */
extern int	kafka_batch_encode_into(const KafkaRecordIn *recs, int n,
									uint8_t *out, size_t cap, size_t *outlen);

/*
 * One decoded record.  Key and Value point into the batch (or into the
 * iterator's decompressed copy) and stay valid until kafka_records_end();
 * a null key or value has a NULL pointer and length -1.  Headers/HeadersLen
 * delimit the record's HeadersCount headers, to be walked with
 * kafka_record_header_next().
 */
typedef struct KafkaRecordView
{
	int64_t		Offset;			/* BaseOffset + offsetDelta */
	int64_t		Timestamp;		/* MaxTimestamp for LogAppendTime batches,
								 * else BaseTimestamp + timestampDelta */
	int8_t		Attributes;		/* record attributes (unused by Kafka) */
	const uint8_t *Key;
	int32_t		KeyLen;
	const uint8_t *Value;
	int32_t		ValueLen;
	int32_t		HeadersCount;
	const uint8_t *Headers;
	size_t		HeadersLen;
} KafkaRecordView;

/*
 * Record iterator.  Header is the batch header, for the caller to read after
 * a successful kafka_records_begin(); the other fields are private.
 */
typedef struct KafkaRecordIter
{
	KafkaBatchHeader Header;

	const uint8_t *pos;			/* next record */
	const uint8_t *end;			/* end of the records section */
	uint8_t    *decompressed;	/* owned records section, or NULL */
	KafkaAllocator alloc;		/* copy of the caller's allocator */
	int32_t		index;			/* records returned so far */
	int64_t		prev_delta;		/* offsetDelta of the previous record */
	int			error;			/* sticky error, or KAFKA_OK */
} KafkaRecordIter;

/*
 * Start iterating over the records of the batch at batch (len bytes,
 * exactly one batch): kafka_batch_check(), then decompression of the
 * records section into memory from a, at most max_decompressed bytes.  a
 * may be NULL if the caller knows the batch is uncompressed; a compressed
 * batch then fails with KAFKA_ERR_INVALID_ARG.  The batch must stay in
 * place while the iterator is used.  On failure the iterator holds no
 * memory, and kafka_records_next() returns the same error; calling
 * kafka_records_end() is allowed either way.
 */
extern int	kafka_records_begin(KafkaRecordIter *it, const uint8_t *batch,
								size_t len, size_t max_decompressed,
								const KafkaAllocator *a);

/*
 * Decode the next record into *rec.  Returns 1 for a record, 0 at the end,
 * or a negative KafkaCodecError (KAFKA_ERR_RECORD for a malformed record,
 * too few or too many records, or trailing bytes); errors are sticky.
 */
extern int	kafka_records_next(KafkaRecordIter *it, KafkaRecordView *rec);

/*
 * Walk headers: *cursor starts at rec->Headers, end is rec->Headers +
 * rec->HeadersLen.  Returns 1 and fills *h (pointers into the record), 0 at
 * the end, or KAFKA_ERR_RECORD if the bytes are not a header (cannot happen
 * for a record returned by kafka_records_next, which checked them).
 */
extern int	kafka_record_header_next(const uint8_t **cursor, const uint8_t *end,
									 KafkaHeaderIn *h);

/* Release the iterator's decompressed copy; records become invalid. */
extern void kafka_records_end(KafkaRecordIter *it);

#endif							/* KAFKA_RECORD_H */
