/*-------------------------------------------------------------------------
 *
 * fuzz_legacy.c
 *	  libFuzzer target: legacy message sets (magic 0 and 1) converted to
 *	  RecordBatch v2 by kafka_legacy_to_batch().
 *
 * Byte 0 of the input says what to make of the rest:
 *
 *	bits 0-1	0: the rest is the message set, as it is
 *				1: the same with every message's CRC-32 made right (random
 *				   mutations almost never keep a CRC, which would confine the
 *				   fuzzer to the first message's header)
 *				2, 3: the rest, CRCs made right, is the INNER set of a
 *				   wrapper built here: compressed with our compressor, in a
 *				   message with a right CRC, so that mutations reach the
 *				   inner parser behind the decompressor
 *	bits 2-3	wrapper codec: gzip, snappy, lz4 (3 = gzip)
 *	bit 4		wrapper magic 1 (else 0)
 *	bit 5		wrapper timestamp type LogAppendTime
 *	bit 6		lz4: the header checksum of KAFKA-3160 (over the magic too)
 *	bit 7		wrapper offset 2^40 (else 0)
 *
 * The CRCs are fixed here rather than by a fuzzing-only switch in the
 * library, so the code under test is the production code.
 *
 * Whenever the conversion succeeds:
 *	- the batch passes kafka_batch_validate(), with the returned record count
 *	  and max timestamp, and the input's codec (the first message's);
 *	- every record decodes, and where the harness knows the uncompressed set
 *	  (modes 1-3 and uncompressed mode 0) its own reading of the messages
 *	  gives the same keys, values and timestamps;
 *	- the records, written again as an uncompressed magic 1 set, convert to
 *	  exactly what kafka_batch_encode() makes of them, and to the same bytes
 *	  as the first conversion if that was uncompressed.
 * Besides the sanitizers, fuzz_alloc.h aborts on oversized or leaked
 * allocations.
 *
 * test/fuzz/fuzz_legacy.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "kafka/byteorder.h"
#include "kafka/codec.h"
#include "kafka/compress.h"
#include "kafka/legacy.h"
#include "kafka/record.h"
#include "fuzz_alloc.h"

#define MAX_DECOMPRESSED	(1024 * 1024)

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void *
xmalloc(size_t size)
{
	void	   *p = malloc(size > 0 ? size : 1);

	if (p == NULL)
		abort();
	return p;
}

static int
same_bytes(const uint8_t *a, int32_t alen, const uint8_t *b, int32_t blen)
{
	if (alen != blen)
		return 0;
	return alen <= 0 || memcmp(a, b, (size_t) alen) == 0;
}

/* Make the CRC of every whole message of buf right (zlib's crc32). */
static void
fix_crcs(uint8_t *buf, size_t len)
{
	size_t		pos = 0;

	while (len - pos > KAFKA_LEGACY_POS_MAGIC)
	{
		uint32_t	size = kafka_load_be32(buf + pos + 8);

		if (size < 4 || size > len - pos - KAFKA_LEGACY_LOG_OVERHEAD)
			break;
		kafka_store_be32(buf + pos + KAFKA_LEGACY_POS_CRC,
						 (uint32_t) crc32(0, buf + pos + KAFKA_LEGACY_POS_MAGIC, size - 4));
		pos += KAFKA_LEGACY_LOG_OVERHEAD + size;
	}
}

/* A legacy message with a right CRC; returns its size.  out has room. */
static size_t
put_message(uint8_t *out, int64_t offset, int magic, int attributes, int64_t ts,
			const uint8_t *key, int32_t klen, const uint8_t *value, int32_t vlen)
{
	size_t		size = (magic ? KAFKA_LEGACY_OVERHEAD_V1 : KAFKA_LEGACY_OVERHEAD_V0) +
		(size_t) (klen > 0 ? klen : 0) + (size_t) (vlen > 0 ? vlen : 0);
	uint8_t    *p = out + KAFKA_LEGACY_POS_TIMESTAMP;

	kafka_store_be64(out, (uint64_t) offset);
	kafka_store_be32(out + 8, (uint32_t) size);
	out[KAFKA_LEGACY_POS_MAGIC] = (uint8_t) magic;
	out[KAFKA_LEGACY_POS_ATTRIBUTES] = (uint8_t) attributes;
	if (magic)
	{
		kafka_store_be64(p, (uint64_t) ts);
		p += 8;
	}
	kafka_store_be32(p, (uint32_t) klen);
	p += 4;
	if (klen > 0)
	{
		memcpy(p, key, (size_t) klen);
		p += klen;
	}
	kafka_store_be32(p, (uint32_t) vlen);
	p += 4;
	if (vlen > 0)
		memcpy(p, value, (size_t) vlen);
	fix_crcs(out, KAFKA_LEGACY_LOG_OVERHEAD + size);
	return KAFKA_LEGACY_LOG_OVERHEAD + size;
}

/* The records of a converted batch, pointing into the iterator's memory. */
typedef struct Decoded
{
	KafkaRecordIter it;
	KafkaRecordIn *recs;
	int			n;
} Decoded;

static void
decode(const uint8_t *batch, size_t len, int expect_n, Decoded *d)
{
	KafkaRecordView rv;
	int			rc;

	d->recs = xmalloc(sizeof(KafkaRecordIn) * (size_t) (expect_n > 0 ? expect_n : 1));
	d->n = 0;
	rc = kafka_records_begin(&d->it, batch, len, 4 * MAX_DECOMPRESSED, &fuzz_allocator);
	FUZZ_ASSERT(rc == KAFKA_OK);
	while ((rc = kafka_records_next(&d->it, &rv)) == 1)
	{
		KafkaRecordIn *r;

		FUZZ_ASSERT(d->n < expect_n);
		FUZZ_ASSERT(rv.Offset == d->n && rv.HeadersCount == 0);
		r = &d->recs[d->n++];
		r->timestamp = rv.Timestamp;
		r->key = rv.Key;
		r->key_len = rv.KeyLen;
		r->value = rv.Value;
		r->value_len = rv.ValueLen;
		r->nheaders = 0;
		r->headers = NULL;
	}
	FUZZ_ASSERT(rc == 0 && d->n == expect_n);
}

static void
decoded_end(Decoded *d)
{
	kafka_records_end(&d->it);
	free(d->recs);
}

/*
 * The harness's own reading of an uncompressed set that converted: its
 * messages must be the decoded records, in order.
 */
static void
compare_plain(const uint8_t *set, size_t len, const int64_t *ts_override,
			  const Decoded *d)
{
	size_t		pos = 0;
	int			i = 0;

	while (pos < len)
	{
		const uint8_t *p = set + pos;
		uint32_t	size = kafka_load_be32(p + 8);
		int			magic = p[KAFKA_LEGACY_POS_MAGIC];
		const uint8_t *q = p + KAFKA_LEGACY_POS_TIMESTAMP;
		int64_t		ts = -1;
		int32_t		klen;
		int32_t		vlen;
		const uint8_t *key;

		FUZZ_ASSERT(i < d->n);
		if (magic == 1)
		{
			ts = (int64_t) kafka_load_be64(q);
			q += 8;
		}
		if (ts_override)
			ts = *ts_override;
		klen = (int32_t) kafka_load_be32(q);
		q += 4;
		key = q;
		if (klen > 0)
			q += klen;
		vlen = (int32_t) kafka_load_be32(q);
		q += 4;
		FUZZ_ASSERT(d->recs[i].timestamp == ts);
		FUZZ_ASSERT(same_bytes(d->recs[i].key, d->recs[i].key_len, key, klen));
		FUZZ_ASSERT(same_bytes(d->recs[i].value, d->recs[i].value_len, q, vlen));
		pos += KAFKA_LEGACY_LOG_OVERHEAD + size;
		i++;
	}
	FUZZ_ASSERT(pos == len && i == d->n);
}

/*
 * Write the decoded records as an uncompressed magic 1 set, convert it
 * again: it must give what kafka_batch_encode() makes of the records.
 */
static void
roundtrip(const Decoded *d, const uint8_t *first, size_t first_len, int first_codec)
{
	size_t		cap = 0;
	size_t		pos = 0;
	uint8_t    *set;
	uint8_t    *out;
	uint8_t    *ref;
	size_t		out_len;
	size_t		ref_len;
	int32_t		count;
	int64_t		max_ts;
	int			i;

	for (i = 0; i < d->n; i++)
		cap += KAFKA_LEGACY_LOG_OVERHEAD + KAFKA_LEGACY_OVERHEAD_V1 +
			(size_t) (d->recs[i].key_len > 0 ? d->recs[i].key_len : 0) +
			(size_t) (d->recs[i].value_len > 0 ? d->recs[i].value_len : 0);
	set = xmalloc(cap);
	for (i = 0; i < d->n; i++)
		pos += put_message(set + pos, i, 1, 0, d->recs[i].timestamp,
						   d->recs[i].key, d->recs[i].key_len,
						   d->recs[i].value, d->recs[i].value_len);
	FUZZ_ASSERT(pos == cap);

	FUZZ_ASSERT(kafka_legacy_to_batch(set, pos, &fuzz_allocator, MAX_DECOMPRESSED,
									  &out, &out_len, &count, &max_ts) == KAFKA_OK);
	FUZZ_ASSERT(count == d->n);
	FUZZ_ASSERT(kafka_batch_encode(d->recs, d->n, KAFKA_COMPRESSION_NONE, &ref, &ref_len,
								   &fuzz_allocator) == KAFKA_OK);
	FUZZ_ASSERT(out_len == ref_len && memcmp(out, ref, ref_len) == 0);
	if (first_codec == KAFKA_COMPRESSION_NONE)
		FUZZ_ASSERT(first_len == out_len && memcmp(first, out, out_len) == 0);
	fuzz_free(fuzz_allocator.ctx, ref);
	fuzz_free(fuzz_allocator.ctx, out);
	free(set);
}

/*
 * Convert set and check the result.  plain/plain_len: the uncompressed
 * set the records come from, if the harness knows it; ts_override: the
 * wrapper's timestamp for LogAppendTime.
 */
static void
exercise(const uint8_t *set, size_t len, const uint8_t *plain, size_t plain_len,
		 const int64_t *ts_override)
{
	uint8_t    *out = NULL;
	size_t		out_len = 0;
	int32_t		count = -7;
	int64_t		max_ts = -7;
	KafkaBatchHeader h;
	Decoded		d;
	int			rc;

	rc = kafka_legacy_to_batch(set, len, &fuzz_allocator, MAX_DECOMPRESSED,
							   &out, &out_len, &count, &max_ts);
	if (rc != KAFKA_OK)
	{
		FUZZ_ASSERT(rc < 0 && rc != KAFKA_ERR_INVALID_ARG);
		/* MAGIC only for a leading magic 2 */
		if (rc == KAFKA_ERR_MAGIC)
			FUZZ_ASSERT(len > KAFKA_LEGACY_POS_MAGIC && set[KAFKA_LEGACY_POS_MAGIC] == 2);
		fuzz_alloc_check_empty();
		return;
	}

	FUZZ_ASSERT(kafka_batch_validate(out, out_len, &h) == KAFKA_OK);
	FUZZ_ASSERT(h.RecordsCount == count && h.MaxTimestamp == max_ts && count >= 1);
	FUZZ_ASSERT(h.BaseOffset == 0 && h.ProducerId == -1 && !kafka_batch_is_log_append_time(&h));
	FUZZ_ASSERT(kafka_batch_compression(&h) ==
				(set[KAFKA_LEGACY_POS_ATTRIBUTES] & KAFKA_LEGACY_ATTR_COMPRESSION_MASK));

	decode(out, out_len, count, &d);
	if (plain != NULL)
		compare_plain(plain, plain_len, ts_override, &d);
	roundtrip(&d, out, out_len, kafka_batch_compression(&h));
	decoded_end(&d);
	fuzz_free(fuzz_allocator.ctx, out);
	fuzz_alloc_check_empty();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int codecs[4] = {KAFKA_COMPRESSION_GZIP, KAFKA_COMPRESSION_SNAPPY,
	KAFKA_COMPRESSION_LZ4, KAFKA_COMPRESSION_GZIP};
	uint8_t		ctl;
	const uint8_t *rest;
	size_t		len;
	uint8_t    *copy;

	if (size < 1)
		return 0;
	ctl = data[0];
	rest = data + 1;
	len = size - 1;
	copy = xmalloc(len);
	if (len > 0)
		memcpy(copy, rest, len);

	if ((ctl & 3) == 0)
	{
		int			plain = len > KAFKA_LEGACY_POS_ATTRIBUTES &&
			(copy[KAFKA_LEGACY_POS_ATTRIBUTES] & KAFKA_LEGACY_ATTR_COMPRESSION_MASK) == 0;

		exercise(copy, len, plain ? copy : NULL, len, NULL);
	}
	else if ((ctl & 3) == 1)
	{
		int			plain;

		fix_crcs(copy, len);
		plain = len > KAFKA_LEGACY_POS_ATTRIBUTES &&
			(copy[KAFKA_LEGACY_POS_ATTRIBUTES] & KAFKA_LEGACY_ATTR_COMPRESSION_MASK) == 0;
		exercise(copy, len, plain ? copy : NULL, len, NULL);
	}
	else
	{
		int			codec = codecs[(ctl >> 2) & 3];
		int			magic = (ctl >> 4) & 1;
		int			log_append = magic && (ctl & 0x20);
		int64_t		wrapper_ts = 1700000000000;
		uint8_t    *comp;
		size_t		clen;
		uint8_t    *wrapper;
		size_t		wlen;

		fix_crcs(copy, len);
		if (kafka_compress(codec, copy, len, &comp, &clen, &fuzz_allocator) == KAFKA_OK)
		{
			if (codec == KAFKA_COMPRESSION_LZ4 && (ctl & 0x40))
				comp[6] = (uint8_t) (kafka_xxh32(comp, 6, 0) >> 8);
			wrapper = xmalloc(KAFKA_LEGACY_LOG_OVERHEAD + KAFKA_LEGACY_OVERHEAD_V1 + clen);
			wlen = put_message(wrapper, (ctl & 0x80) ? INT64_C(1) << 40 : 0, magic,
							   codec | (log_append ? KAFKA_LEGACY_ATTR_LOG_APPEND_TIME : 0),
							   wrapper_ts, NULL, -1, comp, (int32_t) clen);
			fuzz_free(fuzz_allocator.ctx, comp);
			exercise(wrapper, wlen, copy, len, log_append ? &wrapper_ts : NULL);
			free(wrapper);
		}
		fuzz_alloc_check_empty();
	}
	free(copy);
	return 0;
}
