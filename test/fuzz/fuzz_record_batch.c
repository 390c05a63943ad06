/*-------------------------------------------------------------------------
 *
 * fuzz_record_batch.c
 *	  libFuzzer target: RecordBatch v2 validation and decoding.
 *
 * For each input:
 *
 *	1. The input as it is goes through every reader: kafka_batch_read_header,
 *	   kafka_batch_size, kafka_batch_validate, the record iterator, and
 *	   kafka_batch_validate_records (which must agree with the two before)
 *	   (kafka_batch_check, decompression with a 1 MiB cap, every record,
 *	   every header).
 *	2. Random bytes almost never carry a correct CRC, which would confine the
 *	   fuzzer to the batch header.  So a copy of the input with Magic,
 *	   BatchLength and CRC made consistent goes through the same readers,
 *	   which puts the record parser and the decompressors in reach.  (This is
 *	   done here rather than by disabling the CRC check in a fuzzing build,
 *	   so the code under test is exactly the production code.)
 *	3. Whenever all records decode, they are encoded again, uncompressed and
 *	   with the batch's own codec; each result must pass
 *	   kafka_batch_validate and decode to the same records (offsets relative
 *	   to the batch, timestamps, keys, values, headers).
 *
 * Besides the sanitizers, fuzz_alloc.h aborts on oversized or leaked
 * allocations.
 *
 * test/fuzz/fuzz_record_batch.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/byteorder.h"
#include "kafka/codec.h"
#include "kafka/crc32c.h"
#include "kafka/record.h"
#include "fuzz_alloc.h"

#define MAX_DECOMPRESSED	(1024 * 1024)

/*
 * Re-encoding can make the records section a little longer than the
 * original (timestamp deltas are taken from a different base), so the
 * re-encoded batch is decoded with a higher cap.
 */
#define MAX_REDECOMPRESSED	(4 * MAX_DECOMPRESSED)

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decoded records, kept for re-encoding and comparison. */
typedef struct Decoded
{
	KafkaRecordIn *recs;
	int64_t    *offsets;		/* relative to BaseOffset */
	size_t	   *first_hdr;		/* index of each record's first header */
	int			n;
	int			cap;
	KafkaHeaderIn *hdrs;
	size_t		nhdrs;
	size_t		cap_hdrs;
} Decoded;

static void *
xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (p == NULL)
		abort();
	return p;
}

static void
add_record(Decoded *d, const KafkaRecordView *rv, int64_t rel_offset)
{
	KafkaRecordIn *r;

	if (d->n == d->cap)
	{
		d->cap = d->cap ? d->cap * 2 : 16;
		d->recs = xrealloc(d->recs, sizeof(KafkaRecordIn) * (size_t) d->cap);
		d->offsets = xrealloc(d->offsets, sizeof(int64_t) * (size_t) d->cap);
		d->first_hdr = xrealloc(d->first_hdr, sizeof(size_t) * (size_t) d->cap);
	}
	r = &d->recs[d->n];
	r->timestamp = rv->Timestamp;
	r->key = rv->Key;
	r->key_len = rv->KeyLen;
	r->value = rv->Value;
	r->value_len = rv->ValueLen;
	r->nheaders = rv->HeadersCount;
	r->headers = NULL;			/* set by finish_decoded(): hdrs may move */
	d->offsets[d->n] = rel_offset;
	d->first_hdr[d->n] = d->nhdrs - (size_t) rv->HeadersCount;
	d->n++;
}

static void
add_header(Decoded *d, const KafkaHeaderIn *h)
{
	if (d->nhdrs == d->cap_hdrs)
	{
		d->cap_hdrs = d->cap_hdrs ? d->cap_hdrs * 2 : 16;
		d->hdrs = xrealloc(d->hdrs, sizeof(KafkaHeaderIn) * d->cap_hdrs);
	}
	d->hdrs[d->nhdrs++] = *h;
}

static void
finish_decoded(Decoded *d)
{
	int			i;

	for (i = 0; i < d->n; i++)
		d->recs[i].headers = d->recs[i].nheaders > 0 ? d->hdrs + d->first_hdr[i] : NULL;
}

static void
free_decoded(Decoded *d)
{
	free(d->recs);
	free(d->offsets);
	free(d->first_hdr);
	free(d->hdrs);
	memset(d, 0, sizeof(*d));
}

static int
same_bytes(const uint8_t *a, int32_t alen, const uint8_t *b, int32_t blen)
{
	if (alen != blen)
		return 0;
	return alen <= 0 || memcmp(a, b, (size_t) alen) == 0;
}

/*
 * Iterate over all records of the batch, checking the views' invariants,
 * and collect them in *out (pointers into the batch or the iterator's
 * buffer, so the caller ends the iterator after using them).  Returns the
 * final iterator status (0 = clean end).
 */
static int
iterate(KafkaRecordIter *it, const uint8_t *buf, size_t len, size_t max,
		Decoded *out)
{
	KafkaRecordView rv;
	long		live_before = fuzz_alloc_state.live_count;
	int			rc;

	rc = kafka_records_begin(it, buf, len, max, &fuzz_allocator);
	if (rc != KAFKA_OK)
	{
		/* a failed begin holds nothing, and next() repeats its error */
		FUZZ_ASSERT(fuzz_alloc_state.live_count == live_before);
		FUZZ_ASSERT(kafka_records_next(it, &rv) == rc);
		return rc;
	}

	while ((rc = kafka_records_next(it, &rv)) == 1)
	{
		const uint8_t *cursor = rv.Headers;
		const uint8_t *hend = rv.Headers + rv.HeadersLen;
		KafkaHeaderIn h;
		int32_t		seen = 0;
		int			hrc;

		FUZZ_ASSERT(rv.KeyLen >= -1 && rv.ValueLen >= -1 && rv.HeadersCount >= 0);
		FUZZ_ASSERT((rv.Key == NULL) == (rv.KeyLen == -1));
		FUZZ_ASSERT((rv.Value == NULL) == (rv.ValueLen == -1));

		while ((hrc = kafka_record_header_next(&cursor, hend, &h)) == 1)
		{
			FUZZ_ASSERT(h.key_len >= 0 && h.value_len >= -1);
			FUZZ_ASSERT(h.key_len == 0 || (h.key >= rv.Headers && h.key + h.key_len <= hend));
			add_header(out, &h);
			seen++;
		}
		/* the iterator checked the headers, so walking them cannot fail */
		FUZZ_ASSERT(hrc == 0 && seen == rv.HeadersCount && cursor == hend);

		add_record(out, &rv,
				   (int64_t) ((uint64_t) rv.Offset - (uint64_t) it->Header.BaseOffset));
	}
	finish_decoded(out);
	/* errors are sticky */
	if (rc < 0)
		FUZZ_ASSERT(kafka_records_next(it, &rv) == rc);
	return rc;
}

/* Encode decoded records again with codec and check the result. */
static void
reencode(const Decoded *d, int codec)
{
	uint8_t    *batch;
	size_t		len;
	KafkaBatchHeader h;
	KafkaRecordIter it;
	Decoded		again;
	int			rc;
	int			i;

	rc = kafka_batch_encode(d->recs, d->n, codec, &batch, &len, &fuzz_allocator);
	FUZZ_ASSERT(rc == KAFKA_OK);
	FUZZ_ASSERT(kafka_batch_validate(batch, len, &h) == KAFKA_OK);
	FUZZ_ASSERT(h.RecordsCount == d->n && kafka_batch_compression(&h) == codec);

	memset(&again, 0, sizeof(again));
	rc = iterate(&it, batch, len, MAX_REDECOMPRESSED, &again);
	FUZZ_ASSERT(rc == 0 && again.n == d->n);
	for (i = 0; i < d->n; i++)
	{
		const KafkaRecordIn *a = &d->recs[i];
		const KafkaRecordIn *b = &again.recs[i];
		int32_t		j;

		FUZZ_ASSERT(again.offsets[i] == i);
		FUZZ_ASSERT(a->timestamp == b->timestamp);
		FUZZ_ASSERT(same_bytes(a->key, a->key_len, b->key, b->key_len));
		FUZZ_ASSERT(same_bytes(a->value, a->value_len, b->value, b->value_len));
		FUZZ_ASSERT(a->nheaders == b->nheaders);
		for (j = 0; j < a->nheaders; j++)
		{
			FUZZ_ASSERT(same_bytes(a->headers[j].key, a->headers[j].key_len,
								   b->headers[j].key, b->headers[j].key_len));
			FUZZ_ASSERT(same_bytes(a->headers[j].value, a->headers[j].value_len,
								   b->headers[j].value, b->headers[j].value_len));
		}
	}
	kafka_records_end(&it);
	free_decoded(&again);
	fuzz_free(fuzz_allocator.ctx, batch);
}

static void
exercise(const uint8_t *buf, size_t len)
{
	KafkaBatchHeader h;
	KafkaBatchHeader hv;
	KafkaRecordIter it;
	Decoded		d;
	size_t		bsize;
	int			rc_validate;
	int			rc;

	(void) kafka_batch_read_header(buf, len, &h);
	rc = kafka_batch_size(buf, len, &bsize);
	FUZZ_ASSERT(rc != KAFKA_OK || (bsize >= KAFKA_BATCH_HEADER_SIZE && bsize <= len));
	rc_validate = kafka_batch_validate(buf, len, &hv);

	memset(&d, 0, sizeof(d));
	rc = iterate(&it, buf, len, MAX_DECOMPRESSED, &d);
	if (rc == 0)
	{
		int			i;

		/* a decodable batch passed kafka_batch_check, so its length is right */
		FUZZ_ASSERT(kafka_batch_size(buf, len, &bsize) == KAFKA_OK && bsize == len);
		FUZZ_ASSERT(d.n == it.Header.RecordsCount);
		/* after validate, the offset deltas are exactly 0..n-1 */
		if (rc_validate == KAFKA_OK)
			for (i = 0; i < d.n; i++)
				FUZZ_ASSERT(d.offsets[i] == i);
		if (d.n > 0)
		{
			reencode(&d, KAFKA_COMPRESSION_NONE);
			if (kafka_batch_compression(&it.Header) != KAFKA_COMPRESSION_NONE)
				reencode(&d, kafka_batch_compression(&it.Header));
		}
	}
	else
		FUZZ_ASSERT(rc < 0);
	kafka_records_end(&it);
	free_decoded(&d);

	/*
	 * The broker's one-pass check accepts exactly what kafka_batch_validate()
	 * and the iterator together accept.
	 */
	{
		int			rc_all = kafka_batch_validate_records(buf, len, MAX_DECOMPRESSED,
														  &fuzz_allocator, &hv);

		FUZZ_ASSERT((rc_all == KAFKA_OK) == (rc_validate == KAFKA_OK && rc == 0));
	}
	fuzz_alloc_check_empty();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t    *copy;

	exercise(data, size);

	if (size >= KAFKA_BATCH_HEADER_SIZE && size - KAFKA_BATCH_LOG_OVERHEAD <= INT32_MAX)
	{
		copy = malloc(size);
		FUZZ_ASSERT(copy != NULL);
		memcpy(copy, data, size);
		copy[KAFKA_BATCH_POS_MAGIC] = KAFKA_BATCH_MAGIC_V2;
		kafka_store_be32(copy + KAFKA_BATCH_POS_BATCH_LENGTH,
						 (uint32_t) (size - KAFKA_BATCH_LOG_OVERHEAD));
		kafka_store_be32(copy + KAFKA_BATCH_POS_CRC,
						 kafka_crc32c(0, copy + KAFKA_BATCH_POS_ATTRIBUTES,
									  size - KAFKA_BATCH_POS_ATTRIBUTES));
		exercise(copy, size);
		free(copy);
	}
	return 0;
}
