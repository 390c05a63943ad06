/*-------------------------------------------------------------------------
 *
 * legacy.c
 *	  Up-conversion of legacy message sets (magic 0 and 1) to RecordBatch v2.
 *
 * See legacy.h for the format and the contract.  How it relates to Apache
 * Kafka's broker (UnifiedLog.analyzeAndValidateRecords, LogValidator,
 * AbstractLegacyRecordBatch, ByteBufferLogInputStream):
 *
 * Per message, Kafka checks MessageSize >= 14, a magic of 0-2 and the CRC
 * before anything else (CORRUPT_MESSAGE).  We check the same, plus
 * MessageSize >= 22 for magic 1 and key and value lengths that are -1 or fit
 * exactly, which Kafka only finds out by failing to read them.  Kafka reads
 * any negative length as null; we accept only -1, the one value a producer
 * writes.
 *
 * Per set, Kafka's LogValidator rejects with INVALID_RECORD: messages whose
 * magic differs from the first one's (validateBatch), a compressed set with
 * more than one shallow message ("Compressed outer record has more than one
 * batch"), inner messages whose magic differs from the wrapper's
 * (validateRecord) or that are compressed themselves
 * (validateRecordCompression), a wrapper with a null value or no inner
 * messages, and a magic 1 wrapper whose non-zero offset is below the last
 * inner offset (DeepRecordsIterator).  Those are KAFKA_ERR_RECORD here.
 * Offsets are otherwise not checked: Kafka rewrites them, because "some
 * older clients do not implement the V1 internal offsets correctly".
 *
 * Where we are stricter than Kafka:
 *	- A message cut short at the end of the set (or of a decompressed inner
 *	  set) is KAFKA_ERR_TRUNCATED.  Kafka's readers stop silently before a
 *	  partial message and the log trims the bytes, because the same readers
 *	  serve fetched data, which may end mid-message.  No producer sends one.
 *	- Codec 4 (zstd) is KAFKA_ERR_UNSUPPORTED; so is 5-7, where Kafka fails
 *	  with an unknown-codec exception (UNKNOWN_SERVER_ERROR).
 * Where we are more lenient: Kafka rejects a LogAppendTime message whose
 * timestamp is -1 with INVALID_TIMESTAMP; here its timestamp is simply -1.
 * Timestamp range checks (message.timestamp.*.max.ms) are the broker's.
 *
 * The LZ4 frames of magic 0 wrappers carry the header checksum of Kafka's
 * pre-0.10 framing (KAFKA-3160: computed over the magic number too); as in
 * Kafka, it is not verified for magic 0 (the message CRC covers it).
 *
 * Mechanics: one checking pass over the (outer, then inner) messages counts
 * the records, an array of KafkaRecordIn pointing into the input or the
 * decompressed copy is filled by a second pass, and kafka_batch_encode()
 * writes the batch.  Every message is at least 26 bytes, so the record count
 * fits an int for any input below KAFKA_MAX_BATCH_SIZE.
 *
 * src/kafka/legacy.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include <zlib.h>

#include "kafka/byteorder.h"
#include "kafka/compress.h"
#include "kafka/legacy.h"
#include "kafka/record.h"

/* One parsed message; key and value point into the message. */
typedef struct LegacyMessage
{
	int64_t		offset;
	int8_t		magic;
	int8_t		attributes;
	int64_t		timestamp;		/* -1 for magic 0 */
	const uint8_t *key;
	int32_t		key_len;		/* -1 = null */
	const uint8_t *value;
	int32_t		value_len;		/* -1 = null */
} LegacyMessage;

uint32_t
kafka_crc32(uint32_t crc, const void *data, size_t len)
{
	const Bytef *p = data;
	uLong		c = crc;

	/* zlib takes uInt lengths */
	while (len > 0)
	{
		uInt		n = len > (1U << 30) ? (1U << 30) : (uInt) len;

		c = crc32(c, p, n);
		p += n;
		len -= n;
	}
	return (uint32_t) c;
}

static inline int
message_codec(const LegacyMessage *m)
{
	return m->attributes & KAFKA_LEGACY_ATTR_COMPRESSION_MASK;
}

/*
 * Parse and check the message at the head of [p, end); on success *next is
 * where the next one starts.  check_crc is 0 only on the second pass over
 * messages already checked.  A magic 2 entry gives KAFKA_ERR_MAGIC, before
 * its length is looked at.
 */
static int
message_parse(const uint8_t *p, const uint8_t *end, int check_crc,
			  LegacyMessage *m, const uint8_t **next)
{
	size_t		avail = (size_t) (end - p);
	int32_t		size;
	const uint8_t *q;
	const uint8_t *mend;

	if (avail <= KAFKA_LEGACY_POS_MAGIC)
		return KAFKA_ERR_TRUNCATED;
	m->offset = (int64_t) kafka_load_be64(p);
	size = (int32_t) kafka_load_be32(p + 8);
	m->magic = (int8_t) p[KAFKA_LEGACY_POS_MAGIC];
	if (m->magic == KAFKA_BATCH_MAGIC_V2)
		return KAFKA_ERR_MAGIC;
	if (m->magic != 0 && m->magic != 1)
		return KAFKA_ERR_CORRUPT;
	if (size < (m->magic == 0 ? KAFKA_LEGACY_OVERHEAD_V0 : KAFKA_LEGACY_OVERHEAD_V1))
		return KAFKA_ERR_CORRUPT;
	if ((size_t) size > avail - KAFKA_LEGACY_LOG_OVERHEAD)
		return KAFKA_ERR_TRUNCATED;
	mend = p + KAFKA_LEGACY_LOG_OVERHEAD + size;

	/* the CRC covers Magic .. end */
	if (check_crc &&
		kafka_load_be32(p + KAFKA_LEGACY_POS_CRC) !=
		kafka_crc32(0, p + KAFKA_LEGACY_POS_MAGIC, (size_t) (mend - p) - KAFKA_LEGACY_POS_MAGIC))
		return KAFKA_ERR_CRC;

	m->attributes = (int8_t) p[KAFKA_LEGACY_POS_ATTRIBUTES];
	q = p + KAFKA_LEGACY_POS_TIMESTAMP;
	if (m->magic == 1)
	{
		m->timestamp = (int64_t) kafka_load_be64(q);
		q += 8;
	}
	else
		m->timestamp = -1;

	/* the overhead check leaves 8 bytes for the two lengths */
	m->key_len = (int32_t) kafka_load_be32(q);
	q += 4;
	if (m->key_len == -1)
		m->key = NULL;
	else if (m->key_len < 0 || (size_t) m->key_len > (size_t) (mend - q) - 4)
		return KAFKA_ERR_CORRUPT;
	else
	{
		m->key = q;
		q += m->key_len;
	}

	/* the value runs to the end of the message */
	m->value_len = (int32_t) kafka_load_be32(q);
	q += 4;
	if (m->value_len == -1)
	{
		m->value = NULL;
		if (q != mend)
			return KAFKA_ERR_CORRUPT;
	}
	else if (m->value_len < 0 || (size_t) m->value_len != (size_t) (mend - q))
		return KAFKA_ERR_CORRUPT;
	else
		m->value = q;

	*next = mend;
	return KAFKA_OK;
}

/*
 * Check the outer message set.  On success *first is its first message,
 * *count the number of messages and *codec the compression of the set (if
 * not none, the set is that one wrapper).
 */
static int
check_outer(const uint8_t *set, size_t len, LegacyMessage *first,
			int *count, int *codec)
{
	const uint8_t *end = set + len;
	const uint8_t *p;
	const uint8_t *next;
	LegacyMessage m;
	int			n = 0;
	int			mixed = 0;
	int			compressed = 0;

	if (len == 0)
		return KAFKA_ERR_RECORD;	/* "Record batch has no batches at all" */

	/*
	 * Every message on its own first (Kafka's analyzeAndValidateRecords),
	 * then how they go together (LogValidator).
	 */
	for (p = set; p < end; p = next)
	{
		int			rc = message_parse(p, end, 1, &m, &next);

		if (rc == KAFKA_ERR_MAGIC && n > 0)
			return KAFKA_ERR_RECORD;	/* a v2 batch after legacy messages */
		if (rc != KAFKA_OK)
			return rc;
		if (message_codec(&m) > KAFKA_COMPRESSION_LZ4)
			return KAFKA_ERR_UNSUPPORTED;
		if (n == 0)
			*first = m;
		else if (m.magic != first->magic)
			mixed = 1;
		if (message_codec(&m) != KAFKA_COMPRESSION_NONE)
		{
			compressed = 1;
			*codec = message_codec(&m);
		}
		n++;
	}
	if (mixed || (compressed && n > 1))
		return KAFKA_ERR_RECORD;
	if (!compressed)
		*codec = KAFKA_COMPRESSION_NONE;
	*count = n;
	return KAFKA_OK;
}

/*
 * Check the inner message set of a wrapper (decompressed: [set, set +
 * len)) and count its messages.
 */
static int
check_inner(const uint8_t *set, size_t len, const LegacyMessage *wrapper,
			int *count)
{
	const uint8_t *end = set + len;
	const uint8_t *p;
	const uint8_t *next;
	LegacyMessage m;
	int64_t		last_offset = 0;
	int			n = 0;

	for (p = set; p < end; p = next)
	{
		int			rc = message_parse(p, end, 1, &m, &next);

		if (rc == KAFKA_ERR_MAGIC)
			return KAFKA_ERR_RECORD;	/* not the wrapper's magic */
		if (rc != KAFKA_OK)
			return rc;
		if (m.magic != wrapper->magic || message_codec(&m) != KAFKA_COMPRESSION_NONE)
			return KAFKA_ERR_RECORD;
		last_offset = m.offset;
		n++;
	}
	if (n == 0)
		return KAFKA_ERR_RECORD;	/* "no inner records" */

	/*
	 * Relative offsets end at the wrapper's offset, which librdkafka leaves
	 * at 0; Kafka refuses other wrapper offsets below the last inner one.
	 */
	if (wrapper->magic == 1 && wrapper->offset != 0 && wrapper->offset < last_offset)
		return KAFKA_ERR_RECORD;
	*count = n;
	return KAFKA_OK;
}

/*
 * Second pass: the records of n checked messages.  ts_override, if not
 * NULL, is the timestamp of every record (a LogAppendTime wrapper's).
 * The first pass checked the same bytes, so message_parse() cannot fail
 * here; its result is still checked, so a record is never filled from a
 * message it did not parse.
 */
static int
fill_records(const uint8_t *set, size_t len, int n, const int64_t *ts_override,
			 KafkaRecordIn *recs)
{
	const uint8_t *p = set;
	const uint8_t *end = set + len;
	int			i;

	for (i = 0; i < n; i++)
	{
		LegacyMessage m;
		const uint8_t *next = end;
		int			rc = message_parse(p, end, 0, &m, &next);

		if (rc != KAFKA_OK)
			return rc;
		recs[i].timestamp = ts_override != NULL ? *ts_override : m.timestamp;
		recs[i].key = m.key;
		recs[i].key_len = m.key_len;
		recs[i].value = m.value;
		recs[i].value_len = m.value_len;
		recs[i].nheaders = 0;
		recs[i].headers = NULL;
		p = next;
	}
	return KAFKA_OK;
}

int
kafka_legacy_to_batch(const uint8_t *set, size_t len, const KafkaAllocator *a,
					  size_t max_decompressed, uint8_t **out, size_t *out_len,
					  int32_t *record_count, int64_t *max_timestamp)
{
	LegacyMessage wrapper;
	const uint8_t *records = set;
	size_t		records_len = len;
	uint8_t    *inner = NULL;
	KafkaRecordIn *recs;
	const int64_t *ts_override = NULL;
	uint8_t    *batch;
	size_t		batch_len;
	int			codec = KAFKA_COMPRESSION_NONE;
	int			n = 0;
	int			rc;

	if (len > KAFKA_MAX_BATCH_SIZE)
		return KAFKA_ERR_TOO_LARGE;
	rc = check_outer(set, len, &wrapper, &n, &codec);
	if (rc != KAFKA_OK)
		return rc;

	if (codec != KAFKA_COMPRESSION_NONE)
	{
		size_t		inner_len;

		if (wrapper.value_len <= 0)
			return KAFKA_ERR_RECORD;	/* null: Kafka refuses; empty: no records */
		rc = kafka_decompress_flags(codec, wrapper.value, (size_t) wrapper.value_len,
									max_decompressed,
									wrapper.magic == 0 ? KAFKA_DECOMPRESS_LZ4_NO_HC : 0,
									&inner, &inner_len, a);
		if (rc != KAFKA_OK)
			return rc;
		rc = check_inner(inner, inner_len, &wrapper, &n);
		if (rc != KAFKA_OK)
		{
			kafka_mem_free(a, inner);
			return rc;
		}
		records = inner;
		records_len = inner_len;
		if (wrapper.magic == 1 && (wrapper.attributes & KAFKA_LEGACY_ATTR_LOG_APPEND_TIME))
			ts_override = &wrapper.timestamp;
	}

	recs = kafka_mem_alloc(a, sizeof(KafkaRecordIn) * (size_t) n);
	if (recs == NULL)
	{
		kafka_mem_free(a, inner);
		return KAFKA_ERR_NOMEM;
	}
	rc = fill_records(records, records_len, n, ts_override, recs);
	if (rc == KAFKA_OK)
		rc = kafka_batch_encode(recs, n, codec, &batch, &batch_len, a);
	kafka_mem_free(a, recs);
	kafka_mem_free(a, inner);
	if (rc != KAFKA_OK)
		return rc;

	*out = batch;
	*out_len = batch_len;
	*record_count = n;
	*max_timestamp = (int64_t) kafka_load_be64(batch + KAFKA_BATCH_POS_MAX_TIMESTAMP);
	return KAFKA_OK;
}
