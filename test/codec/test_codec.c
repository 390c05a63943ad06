/*-------------------------------------------------------------------------
 *
 * test_codec.c
 *	  Unit tests for the Kafka codec in src/kafka.
 *
 * A plain C program, no framework: each check prints one line ("ok" or
 * "FAIL" and what was checked), and the program ends with "N passed, M
 * failed" and exits non-zero if anything failed.  Checks that loop over many
 * cases (every bit flip, every truncation) count as one check each and say
 * how many cases they covered.
 *
 * All allocations go through a counting allocator that can also be told to
 * fail the k-th allocation; every check that allocates also checks that
 * nothing is left allocated afterwards, so the error paths are leak-tested
 * even without ASan (make asan runs this under ASan and UBSan too).
 *
 * The independent references here are liblz4's frame API (LZ4F, for frames
 * with every option and for XXH32 via content checksums), zstd's and
 * snappy's own compressors, and published CRC-32C, CRC-32 and murmur2 vectors;
 * crosscheck.py adds kafka-python.  Legacy message sets (magic 0 and 1) are
 * built here with zlib's crc32 and must convert to exactly what
 * kafka_batch_encode() makes of the same records.
 *
 * With no argument the program also prints timings of the one-record encode
 * path; --no-bench skips them (the ASan run).
 *
 * test/codec/test_codec.c
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "kafka/byteorder.h"
#include "kafka/codec.h"
#include "kafka/compress.h"
#include "kafka/crc32c.h"
#include "kafka/legacy.h"
#include "kafka/murmur2.h"
#include "kafka/record.h"
#include "kafka/varint.h"

static int	n_passed = 0;
static int	n_failed = 0;

static void check(int ok, int line, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

static void
check(int ok, int line, const char *fmt,...)
{
	va_list		ap;

	printf("%s - ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok)
		printf(" (test_codec.c:%d)", line);
	printf("\n");
	if (ok)
		n_passed++;
	else
		n_failed++;
}

#define CHECK(cond, ...) check((cond) ? 1 : 0, __LINE__, __VA_ARGS__)

/* ----------------------------------------------------------------
 *		Test allocator: counts, measures, and fails on request
 * ----------------------------------------------------------------
 */
typedef struct TestAlloc
{
	long		live;			/* allocations not yet freed */
	size_t		live_bytes;
	size_t		peak_bytes;
	long		count;			/* allocations attempted */
	long		fail_at;		/* fail the allocation with this count, or -1 */
} TestAlloc;

/* Each block is prefixed with its size so free can account for it. */
#define TA_PREFIX 16

static void *
ta_alloc(void *ctx, size_t size)
{
	TestAlloc  *ta = ctx;
	uint8_t    *p;

	if (size == 0)
	{
		fprintf(stderr, "allocator called with size 0\n");
		abort();
	}
	if (ta->count++ == ta->fail_at)
		return NULL;
	p = malloc(size + TA_PREFIX);
	if (p == NULL)
		return NULL;
	memcpy(p, &size, sizeof(size));
	ta->live++;
	ta->live_bytes += size;
	if (ta->live_bytes > ta->peak_bytes)
		ta->peak_bytes = ta->live_bytes;
	return p + TA_PREFIX;
}

static void
ta_free(void *ctx, void *ptr)
{
	TestAlloc  *ta = ctx;
	uint8_t    *p = (uint8_t *) ptr - TA_PREFIX;
	size_t		size;

	if (ptr == NULL)
	{
		fprintf(stderr, "allocator free called with NULL\n");
		abort();
	}
	memcpy(&size, p, sizeof(size));
	ta->live--;
	ta->live_bytes -= size;
	free(p);
}

static TestAlloc ta_state;
static const KafkaAllocator test_alloc = {ta_alloc, ta_free, &ta_state};

static void
ta_reset(void)
{
	memset(&ta_state, 0, sizeof(ta_state));
	ta_state.fail_at = -1;
}

static void
ta_release(void *ptr)
{
	kafka_mem_free(&test_alloc, ptr);
}

/* ----------------------------------------------------------------
 *		Helpers
 * ----------------------------------------------------------------
 */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t
rng_next(void)
{
	/* xorshift64*: deterministic, so failures reproduce */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static void
fill_random(uint8_t *buf, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t) rng_next();
}

/* Text-like data that compresses well but not trivially. */
static void
fill_compressible(uint8_t *buf, size_t len)
{
	static const char *words[] = {"kafka ", "postgres ", "nagare ", "batch ",
	"record ", "offset ", "topic ", "partition "};
	size_t		i = 0;

	while (i < len)
	{
		const char *w = words[rng_next() % 8];
		size_t		n = strlen(w);

		if (n > len - i)
			n = len - i;
		memcpy(buf + i, w, n);
		i += n;
	}
}

static void *
xmalloc(size_t size)
{
	void	   *p = malloc(size > 0 ? size : 1);

	if (p == NULL)
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

static void
store_le64(uint8_t *p, uint64_t v)
{
	kafka_store_le32(p, (uint32_t) v);
	kafka_store_le32(p + 4, (uint32_t) (v >> 32));
}

/* Recompute BatchLength and CRC after a test has edited a batch. */
static void
fix_batch(uint8_t *batch, size_t len)
{
	kafka_store_be32(batch + KAFKA_BATCH_POS_BATCH_LENGTH,
					 (uint32_t) (len - KAFKA_BATCH_LOG_OVERHEAD));
	kafka_store_be32(batch + KAFKA_BATCH_POS_CRC,
					 kafka_crc32c(0, batch + KAFKA_BATCH_POS_ATTRIBUTES,
								  len - KAFKA_BATCH_POS_ATTRIBUTES));
}

/*
 * Build a CRC-valid batch around a hand-written records section, for tests
 * of record-level checks that a valid CRC must not hide.
 */
static size_t
make_raw_batch(uint8_t *out, const uint8_t *records, size_t records_len,
			   int16_t attributes, int32_t last_offset_delta, int32_t count)
{
	memset(out, 0, KAFKA_BATCH_HEADER_SIZE);
	kafka_store_be64(out + KAFKA_BATCH_POS_BASE_OFFSET, 100);
	out[KAFKA_BATCH_POS_MAGIC] = 2;
	kafka_store_be16(out + KAFKA_BATCH_POS_ATTRIBUTES, (uint16_t) attributes);
	kafka_store_be32(out + KAFKA_BATCH_POS_LAST_OFFSET_DELTA, (uint32_t) last_offset_delta);
	kafka_store_be64(out + KAFKA_BATCH_POS_BASE_TIMESTAMP, 1000);
	kafka_store_be64(out + KAFKA_BATCH_POS_MAX_TIMESTAMP, 2000);
	kafka_store_be64(out + KAFKA_BATCH_POS_PRODUCER_ID, (uint64_t) -1);
	kafka_store_be16(out + KAFKA_BATCH_POS_PRODUCER_EPOCH, (uint16_t) -1);
	kafka_store_be32(out + KAFKA_BATCH_POS_BASE_SEQUENCE, (uint32_t) -1);
	kafka_store_be32(out + KAFKA_BATCH_POS_RECORDS_COUNT, (uint32_t) count);
	if (records_len > 0)
		memcpy(out + KAFKA_BATCH_HEADER_SIZE, records, records_len);
	fix_batch(out, KAFKA_BATCH_HEADER_SIZE + records_len);
	return KAFKA_BATCH_HEADER_SIZE + records_len;
}

static int
bytes_equal(const uint8_t *a, int32_t alen, const uint8_t *b, int32_t blen)
{
	if (alen != blen)
		return 0;
	if (alen <= 0)
		return 1;
	return memcmp(a, b, (size_t) alen) == 0;
}

/*
 * Decode batch and compare with the records it was encoded from.  Returns
 * 1 if everything matches; on mismatch prints why to stdout.
 */
static int
records_match(const uint8_t *batch, size_t len, const KafkaRecordIn *recs,
			  int n, int64_t base_offset)
{
	KafkaRecordIter it;
	KafkaRecordView rv;
	int			i = 0;
	int			rc;
	int			ok = 1;

	rc = kafka_records_begin(&it, batch, len, 64 * 1024 * 1024, &test_alloc);
	if (rc != KAFKA_OK)
	{
		printf("# begin: %s\n", kafka_codec_strerror(rc));
		return 0;
	}
	while ((rc = kafka_records_next(&it, &rv)) == 1)
	{
		const KafkaRecordIn *r = &recs[i];
		const uint8_t *hc = rv.Headers;
		KafkaHeaderIn h;
		int32_t		j = 0;

		if (i >= n || rv.Offset != base_offset + i || rv.Timestamp != r->timestamp ||
			!bytes_equal(rv.Key, rv.KeyLen, r->key, r->key_len) ||
			!bytes_equal(rv.Value, rv.ValueLen, r->value, r->value_len) ||
			rv.HeadersCount != r->nheaders ||
			(rv.KeyLen == -1) != (rv.Key == NULL) ||
			(rv.ValueLen == -1) != (rv.Value == NULL))
		{
			printf("# record %d differs\n", i);
			ok = 0;
			break;
		}
		while (kafka_record_header_next(&hc, rv.Headers + rv.HeadersLen, &h) == 1)
		{
			if (j >= r->nheaders ||
				!bytes_equal(h.key, h.key_len, r->headers[j].key, r->headers[j].key_len) ||
				!bytes_equal(h.value, h.value_len, r->headers[j].value, r->headers[j].value_len))
			{
				printf("# record %d header %d differs\n", i, j);
				ok = 0;
			}
			j++;
		}
		if (j != r->nheaders)
		{
			printf("# record %d: %d headers walked, %d expected\n", i, j, r->nheaders);
			ok = 0;
		}
		i++;
	}
	if (rc != 0)
	{
		printf("# next: %s\n", kafka_codec_strerror(rc));
		ok = 0;
	}
	if (i != n)
		ok = 0;
	kafka_records_end(&it);
	return ok;
}

/* Iterate a batch to the end; returns 0 (clean end) or the error. */
static int
iterate_all(const uint8_t *batch, size_t len, size_t max_decompressed, int *nrecords)
{
	KafkaRecordIter it;
	KafkaRecordView rv;
	int			rc;
	int			n = 0;

	rc = kafka_records_begin(&it, batch, len, max_decompressed, &test_alloc);
	if (rc == KAFKA_OK)
	{
		while ((rc = kafka_records_next(&it, &rv)) == 1)
			n++;
	}
	kafka_records_end(&it);
	if (nrecords)
		*nrecords = n;
	return rc;
}

/* ----------------------------------------------------------------
 *		CRC-32C
 * ----------------------------------------------------------------
 */
static void
test_crc32c(void)
{
	uint8_t		buf[1024 + 8];
	uint8_t		v[32];
	int			i;
	int			bad;
	size_t		len;
	size_t		off;

	CHECK(kafka_crc32c(0, "123456789", 9) == 0xE3069283U,
		  "crc32c(\"123456789\") == 0xE3069283");
	CHECK(kafka_crc32c_sw(0, "123456789", 9) == 0xE3069283U,
		  "crc32c_sw(\"123456789\") == 0xE3069283");
	CHECK(kafka_crc32c(0, "", 0) == 0, "crc32c of empty input is 0");

	/* RFC 3720 appendix B.4 vectors */
	memset(v, 0, 32);
	CHECK(kafka_crc32c(0, v, 32) == 0x8A9136AAU, "crc32c RFC 3720: 32 zero bytes");
	memset(v, 0xff, 32);
	CHECK(kafka_crc32c(0, v, 32) == 0x62A8AB43U, "crc32c RFC 3720: 32 0xFF bytes");
	for (i = 0; i < 32; i++)
		v[i] = (uint8_t) i;
	CHECK(kafka_crc32c(0, v, 32) == 0x46DD794EU, "crc32c RFC 3720: 0..31");
	for (i = 0; i < 32; i++)
		v[i] = (uint8_t) (31 - i);
	CHECK(kafka_crc32c(0, v, 32) == 0x113FDB5CU, "crc32c RFC 3720: 31..0");

	/* hardware and table paths agree at every length and alignment */
	fill_random(buf, sizeof(buf));
	bad = 0;
	for (off = 0; off < 8; off++)
		for (len = 0; len <= 1024; len++)
			if (kafka_crc32c(0, buf + off, len) != kafka_crc32c_sw(0, buf + off, len))
				bad++;
	CHECK(bad == 0, "crc32c: %s and table paths agree on 8 x 1025 (offset, length) pairs",
		  kafka_crc32c_hw_available() ? "SSE4.2" : "table (no SSE4.2 here)");

	/* chaining: crc(a || b) == crc(crc(a), b) at every split point */
	bad = 0;
	for (len = 0; len <= 1024; len++)
	{
		uint32_t	whole = kafka_crc32c(0, buf, 1024);

		if (kafka_crc32c(kafka_crc32c(0, buf, len), buf + len, 1024 - len) != whole ||
			kafka_crc32c_sw(kafka_crc32c_sw(0, buf, len), buf + len, 1024 - len) != whole)
			bad++;
	}
	CHECK(bad == 0, "crc32c: chaining at all 1025 split points of 1 KiB");
}

/* ----------------------------------------------------------------
 *		murmur2
 * ----------------------------------------------------------------
 */
static void
test_murmur2(void)
{
	/* Kafka's UtilsTest.testMurmur2, confirmed with kafka-python */
	static const struct
	{
		const char *key;
		int32_t		hash;
	}			vectors[] = {
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
		{"", 275646681},
	};
	size_t		i;

	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
	{
		int32_t		h = kafka_murmur2(vectors[i].key, strlen(vectors[i].key));

		CHECK(h == vectors[i].hash, "murmur2(\"%s\") == %" PRId32 " (got %" PRId32 ")",
			  vectors[i].key, vectors[i].hash, h);
	}

	/* toPositive masks: -973932308 & 0x7fffffff = 1173551340 */
	CHECK(kafka_partition_for_key("21", 2, 10) == 1173551340 % 10,
		  "partition_for_key(\"21\", 10 partitions) uses toPositive (mask, not abs)");
	CHECK(kafka_partition_for_key("abc", 3, 1) == 0, "partition_for_key with 1 partition is 0");
	CHECK(kafka_partition_for_key("abc", 3, 0) == -1 &&
		  kafka_partition_for_key("abc", 3, -5) == -1,
		  "partition_for_key rejects num_partitions < 1");

	/*
	 * librdkafka's consistent partitioner: zlib's CRC-32 ("123456789" is the
	 * check value 0xcbf43926), unsigned modulo: 3421780262 % 10 is 2, where a
	 * signed int would give -4 or 6.
	 */
	CHECK(kafka_crc32_partition_for_key("123456789", 9, 10) == 2,
		  "crc32 partition of \"123456789\" in 10 is 0xcbf43926 %% 10 (unsigned)");
	CHECK(kafka_crc32_partition_for_key("123456789", 9, 7) == 5, "crc32 partition in 7");
	CHECK(kafka_crc32_partition_for_key("", 0, 5) == 0 &&
			  kafka_crc32_partition_for_key(NULL, 0, 5) == 0,
		  "crc32 partition of the empty key is 0 (its CRC is 0)");
	CHECK(kafka_crc32_partition_for_key("abc", 3, 0) == -1,
		  "crc32 partition rejects num_partitions < 1");
	CHECK(kafka_partition_for_key_with(KAFKA_PARTITIONER_MURMUR2, "21", 2, 10) ==
				  1173551340 % 10 &&
			  kafka_partition_for_key_with(KAFKA_PARTITIONER_CRC32, "123456789", 9, 10) == 2,
		  "partition_for_key_with picks the partitioner");
}

/* ----------------------------------------------------------------
 *		Varints
 * ----------------------------------------------------------------
 */
static void
test_varint(void)
{
	static const int32_t v32[] = {0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192,
	1048575, -1048576, 134217727, -134217728, 134217728, INT32_MAX, INT32_MIN};
	static const int64_t v64[] = {0, 1, -1, INT32_MAX, INT32_MIN,
		INT64_C(1) << 35, -(INT64_C(1) << 35), INT64_C(1700000000000),
	INT64_MAX, INT64_MIN};
	uint8_t		buf[16];
	const uint8_t *p;
	size_t		i;
	int			bad = 0;
	int32_t		r32;
	int64_t		r64;
	uint32_t	ru32;

	for (i = 0; i < sizeof(v32) / sizeof(v32[0]); i++)
	{
		size_t		n = kafka_varint_write(buf, v32[i]);

		p = buf;
		if (n != kafka_varint_size(v32[i]) ||
			kafka_varint_read(&p, buf + n, &r32) != KAFKA_OK ||
			r32 != v32[i] || p != buf + n ||
			/* one byte short is truncated */
			(p = buf, kafka_varint_read(&p, buf + n - 1, &r32)) != KAFKA_ERR_TRUNCATED)
			bad++;
	}
	CHECK(bad == 0, "varint: round trip, size and truncation of %zu edge values",
		  sizeof(v32) / sizeof(v32[0]));

	bad = 0;
	for (i = 0; i < sizeof(v64) / sizeof(v64[0]); i++)
	{
		size_t		n = kafka_varlong_write(buf, v64[i]);

		p = buf;
		if (n != kafka_varlong_size(v64[i]) ||
			kafka_varlong_read(&p, buf + n, &r64) != KAFKA_OK ||
			r64 != v64[i] || p != buf + n ||
			(p = buf, kafka_varlong_read(&p, buf + n - 1, &r64)) != KAFKA_ERR_TRUNCATED)
			bad++;
	}
	CHECK(bad == 0, "varlong: round trip, size and truncation of %zu edge values",
		  sizeof(v64) / sizeof(v64[0]));

	/* known encodings (zig-zag, then base 128 little-endian) */
	CHECK(kafka_varint_write(buf, -1) == 1 && buf[0] == 0x01, "varint(-1) == 01");
	CHECK(kafka_varint_write(buf, 300) == 2 && buf[0] == 0xD8 && buf[1] == 0x04,
		  "varint(300) == D8 04");
	CHECK(kafka_varint_write(buf, INT32_MIN) == 5 &&
		  memcmp(buf, "\xFF\xFF\xFF\xFF\x0F", 5) == 0, "varint(INT32_MIN) == FF FF FF FF 0F");
	CHECK(kafka_varlong_write(buf, INT64_MIN) == 10 &&
		  memcmp(buf, "\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01", 10) == 0,
		  "varlong(INT64_MIN) == FF x9 01");

	/* too long, or bits beyond the type */
	p = (const uint8_t *) "\x80\x80\x80\x80\x80\x01";
	CHECK(kafka_varint_read(&p, p + 6, &r32) == KAFKA_ERR_CORRUPT, "varint: 6 bytes rejected");
	p = (const uint8_t *) "\xFF\xFF\xFF\xFF\x1F";
	CHECK(kafka_varint_read(&p, p + 5, &r32) == KAFKA_ERR_CORRUPT,
		  "varint: 5th byte with bits beyond 32 rejected");
	p = (const uint8_t *) "\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x02";
	CHECK(kafka_varlong_read(&p, p + 10, &r64) == KAFKA_ERR_CORRUPT,
		  "varlong: 10th byte with bits beyond 64 rejected");
	p = (const uint8_t *) "\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x81\x01";
	CHECK(kafka_varlong_read(&p, p + 11, &r64) == KAFKA_ERR_CORRUPT, "varlong: 11 bytes rejected");
	p = (const uint8_t *) "\x80";
	CHECK(kafka_varint_read(&p, p, &r32) == KAFKA_ERR_TRUNCATED, "varint: empty input is truncated");
	/* non-minimal but in-range encodings are accepted, as Java does */
	p = (const uint8_t *) "\x81\x00";
	CHECK(kafka_varint_read(&p, p + 2, &r32) == KAFKA_OK && r32 == -1,
		  "varint: padded encoding 81 00 reads as -1");
	p = (const uint8_t *) "\xFF\xFF\xFF\xFF\x0F";
	CHECK(kafka_uvarint_read(&p, p + 5, &ru32) == KAFKA_OK && ru32 == UINT32_MAX,
		  "uvarint: FF FF FF FF 0F == UINT32_MAX");
}

/* ----------------------------------------------------------------
 *		Compression
 * ----------------------------------------------------------------
 */

/* Compress then decompress; returns 1 if the round trip is exact. */
static int
roundtrip(int codec, const uint8_t *in, size_t len)
{
	uint8_t    *c;
	uint8_t    *d;
	size_t		clen;
	size_t		dlen;
	int			ok;

	if (kafka_compress(codec, in, len, &c, &clen, &test_alloc) != KAFKA_OK)
		return 0;
	ok = kafka_decompress(codec, c, clen, len, &d, &dlen, &test_alloc) == KAFKA_OK;
	if (ok)
	{
		ok = dlen == len && (len == 0 || memcmp(d, in, len) == 0);
		ta_release(d);
	}
	/* exact-size limit is fine, one byte less is too large */
	if (ok && len > 0)
	{
		int			rc = kafka_decompress(codec, c, clen, len - 1, &d, &dlen, &test_alloc);

		if (rc != KAFKA_ERR_TOO_LARGE)
		{
			printf("# %s, %zu bytes, limit %zu: %s\n", kafka_compression_name(codec),
				   len, len - 1, kafka_codec_strerror(rc));
			ok = 0;
			if (rc == KAFKA_OK)
				ta_release(d);
		}
	}
	ta_release(c);
	return ok;
}

/* Decode foreign compressed data and compare with what it should contain. */
static int
decodes_to(int codec, const uint8_t *comp, size_t clen, const uint8_t *expect, size_t len)
{
	uint8_t    *d;
	size_t		dlen;
	int			rc;
	int			ok;

	rc = kafka_decompress(codec, comp, clen, len, &d, &dlen, &test_alloc);
	if (rc != KAFKA_OK)
	{
		printf("# %s: %s\n", kafka_compression_name(codec), kafka_codec_strerror(rc));
		return 0;
	}
	ok = dlen == len && (len == 0 || memcmp(d, expect, len) == 0);
	ta_release(d);
	return ok;
}

static size_t
lz4f_frame(uint8_t *dst, size_t cap, const uint8_t *src, size_t len,
		   LZ4F_blockSizeID_t bsize, LZ4F_blockMode_t mode, int content_size,
		   int block_cksum, int content_cksum)
{
	LZ4F_preferences_t prefs;
	size_t		r;

	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockSizeID = bsize;
	prefs.frameInfo.blockMode = mode;
	prefs.frameInfo.contentSize = content_size ? len : 0;
	prefs.frameInfo.blockChecksumFlag = block_cksum ? LZ4F_blockChecksumEnabled : LZ4F_noBlockChecksum;
	prefs.frameInfo.contentChecksumFlag = content_cksum ? LZ4F_contentChecksumEnabled : LZ4F_noContentChecksum;
	if (LZ4F_compressFrameBound(len, &prefs) > cap)
		return 0;
	r = LZ4F_compressFrame(dst, cap, src, len, &prefs);
	return LZ4F_isError(r) ? 0 : r;
}

static size_t
zstd_frame(uint8_t *dst, size_t cap, const uint8_t *src, size_t len,
		   int content_size, int window_log)
{
	ZSTD_CCtx  *cctx = ZSTD_createCCtx();
	size_t		r;

	ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, content_size);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	if (window_log)
		ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, window_log);
	r = ZSTD_compress2(cctx, dst, cap, src, len);
	ZSTD_freeCCtx(cctx);
	return ZSTD_isError(r) ? 0 : r;
}

static size_t
gzip_member(uint8_t *dst, size_t cap, const uint8_t *src, size_t len, int window_bits)
{
	z_stream	zs;
	size_t		r;

	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	zs.next_in = (Bytef *) src;
	zs.avail_in = (uInt) len;
	zs.next_out = dst;
	zs.avail_out = (uInt) cap;
	r = deflate(&zs, Z_FINISH) == Z_STREAM_END ? cap - zs.avail_out : 0;
	deflateEnd(&zs);
	return r;
}

static void
test_xxh32(void)
{
	static const size_t lens[] = {0, 1, 3, 4, 15, 16, 17, 31, 32, 33, 100, 1000, 70000};
	uint8_t    *data = xmalloc(70000);
	uint8_t    *frame = xmalloc(LZ4F_compressFrameBound(70000, NULL) + 64);
	size_t		i;
	int			bad = 0;

	CHECK(kafka_xxh32("", 0, 0) == 0x02CC5D05U, "xxh32(\"\") == 0x02CC5D05");

	/*
	 * liblz4 ends a frame with a content checksum with XXH32 of the
	 * content: use it as the reference.
	 */
	fill_random(data, 70000);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
	{
		size_t		n = lz4f_frame(frame, LZ4F_compressFrameBound(70000, NULL) + 64,
								   data, lens[i], LZ4F_max64KB, LZ4F_blockIndependent,
								   0, 0, 1);

		if (n < 4 || kafka_load_le32(frame + n - 4) != kafka_xxh32(data, lens[i], 0))
			bad++;
	}
	CHECK(bad == 0, "xxh32 agrees with liblz4's content checksum at 13 lengths 0..70000");
	free(data);
	free(frame);
}

static void
test_compression(void)
{
	static const size_t sizes[] = {0, 1, 100, 32 * 1024, 32 * 1024 + 1, 65536,
	65537, 300000};
	size_t		big = 300000;
	uint8_t    *rnd = xmalloc(big);
	uint8_t    *txt = xmalloc(big);
	size_t		cap = 2 * big + 1024;
	uint8_t    *buf = xmalloc(cap);
	uint8_t    *buf2 = xmalloc(cap);
	int			codec;
	size_t		i;
	size_t		n;
	size_t		n2;
	int			rc;
	uint8_t    *out;
	size_t		outlen;

	fill_random(rnd, big);
	fill_compressible(txt, big);

	CHECK(strcmp(kafka_compression_name(KAFKA_COMPRESSION_ZSTD), "zstd") == 0 &&
		  kafka_compression_from_name("lz4") == KAFKA_COMPRESSION_LZ4 &&
		  kafka_compression_from_name("brotli") == -1 && kafka_compression_name(5) == NULL,
		  "compression names");

	for (codec = 0; codec <= KAFKA_COMPRESSION_MAX; codec++)
	{
		int			bad = 0;

		ta_reset();
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		{
			if (!roundtrip(codec, rnd, sizes[i]) || !roundtrip(codec, txt, sizes[i]))
			{
				printf("# %s round trip failed at %zu bytes\n",
					   kafka_compression_name(codec), sizes[i]);
				bad++;
			}
		}
		CHECK(bad == 0 && ta_state.live == 0,
			  "%s: round trip of random and text data, 0..300000 bytes, exact limit ok, limit-1 too large, no leaks",
			  kafka_compression_name(codec));
	}

	CHECK(kafka_compress(5, rnd, 10, &out, &outlen, &test_alloc) == KAFKA_ERR_UNSUPPORTED &&
		  kafka_decompress(7, rnd, 10, 100, &out, &outlen, &test_alloc) == KAFKA_ERR_UNSUPPORTED,
		  "codecs 5..7 are unsupported");

	/* our output formats, byte for byte where they are fixed */
	ta_reset();
	rc = kafka_compress(KAFKA_COMPRESSION_SNAPPY, txt, 70000, &out, &outlen, &test_alloc);
	CHECK(rc == KAFKA_OK && memcmp(out, "\x82SNAPPY\0\0\0\0\1\0\0\0\1", 16) == 0 &&
		  kafka_load_be32(out + 16) < 32 * 1024,
		  "snappy output has the xerial header (version 1, compat 1) and 32 KiB chunks");
	if (rc == KAFKA_OK)
	{
		/* three chunks: 32768 + 32768 + 4464 bytes */
		size_t		pos = 16;
		int			chunks = 0;

		while (pos + 4 <= outlen)
		{
			size_t		ulen = 0;

			snappy_uncompressed_length((const char *) out + pos + 4,
									   kafka_load_be32(out + pos), &ulen);
			if (ulen != (chunks < 2 ? 32768 : 70000 - 65536))
				break;
			pos += 4 + kafka_load_be32(out + pos);
			chunks++;
		}
		CHECK(chunks == 3 && pos == outlen, "snappy: 70000 bytes become chunks of 32768, 32768, 4464");
		ta_release(out);
	}
	rc = kafka_compress(KAFKA_COMPRESSION_LZ4, txt, 1000, &out, &outlen, &test_alloc);
	CHECK(rc == KAFKA_OK && memcmp(out, "\x04\x22\x4D\x18\x60\x40\x82", 7) == 0 &&
		  kafka_load_le32(out + outlen - 4) == 0,
		  "lz4 output is KafkaLZ4BlockOutputStream's frame: FLG 60, BD 40, HC 82, end mark");
	if (rc == KAFKA_OK)
		ta_release(out);
	rc = kafka_compress(KAFKA_COMPRESSION_ZSTD, txt, 1000, &out, &outlen, &test_alloc);
	CHECK(rc == KAFKA_OK && ZSTD_getFrameContentSize(out, outlen) == 1000,
		  "zstd output records the content size");
	if (rc == KAFKA_OK)
		ta_release(out);
	rc = kafka_compress(KAFKA_COMPRESSION_GZIP, txt, 1000, &out, &outlen, &test_alloc);
	CHECK(rc == KAFKA_OK && out[0] == 0x1f && out[1] == 0x8b && out[2] == 8,
		  "gzip output is a gzip member");
	if (rc == KAFKA_OK)
		ta_release(out);
	CHECK(ta_state.live == 0, "format checks leave nothing allocated");

	/* snappy as librdkafka writes it: one raw block */
	n = cap;
	snappy_compress((const char *) txt, 100000, (char *) buf, &n);
	CHECK(decodes_to(KAFKA_COMPRESSION_SNAPPY, buf, n, txt, 100000), "snappy: raw block (librdkafka) decodes");

	/* snappy-java concatenated streams: header, chunk, header, chunk */
	{
		uint8_t    *c1;
		uint8_t    *c2;
		size_t		l1;
		size_t		l2;

		kafka_compress(KAFKA_COMPRESSION_SNAPPY, txt, 5000, &c1, &l1, &test_alloc);
		kafka_compress(KAFKA_COMPRESSION_SNAPPY, txt + 5000, 5000, &c2, &l2, &test_alloc);
		memcpy(buf, c1, l1);
		memcpy(buf + l1, c2, l2);
		CHECK(decodes_to(KAFKA_COMPRESSION_SNAPPY, buf, l1 + l2, txt, 10000),
			  "snappy: concatenated xerial streams decode");
		buf[l1 + 20] ^= 0xff;	/* inside the 2nd chunk's length or data */
		rc = kafka_decompress(KAFKA_COMPRESSION_SNAPPY, buf, l1 + l2, 1 << 20, &out, &outlen, &test_alloc);
		CHECK(rc != KAFKA_OK || outlen != 10000 || memcmp(out, txt, 10000) != 0,
			  "snappy: damaged second stream is not decoded as the original");
		if (rc == KAFKA_OK)
			ta_release(out);
		ta_release(c1);
		ta_release(c2);
	}
	memcpy(buf, "\x82SNAPPY\0\0\0\0\1\0\0\0\1\x7f\xff\xff\xff", 20);
	CHECK(kafka_decompress(KAFKA_COMPRESSION_SNAPPY, buf, 20, 1 << 20, &out, &outlen, &test_alloc) == KAFKA_ERR_CORRUPT,
		  "snappy: chunk length beyond the input is corrupt");

	/* LZ4 frames with every option liblz4 offers */
	{
		static const LZ4F_blockSizeID_t bsizes[] = {LZ4F_max64KB, LZ4F_max256KB, LZ4F_max1MB, LZ4F_max4MB};
		int			bad = 0;
		int			cases = 0;
		int			b;
		int			mode;
		int			opts;

		for (b = 0; b < 4; b++)
			for (mode = 0; mode < 2; mode++)
				for (opts = 0; opts < 8; opts++)
				{
					n = lz4f_frame(buf, cap, txt, big, bsizes[b],
								   mode ? LZ4F_blockLinked : LZ4F_blockIndependent,
								   opts & 1, opts & 2, opts & 4);
					cases++;
					if (n == 0 || !decodes_to(KAFKA_COMPRESSION_LZ4, buf, n, txt, big))
						bad++;
				}
		CHECK(bad == 0, "lz4: %d liblz4 frames (block size 64K..4M, linked/independent, content size, block and content checksums) decode",
			  cases);
	}
	n = lz4f_frame(buf, cap, txt, 50000, LZ4F_max64KB, LZ4F_blockLinked, 0, 1, 1);
	n2 = lz4f_frame(buf + n + 12, cap - n - 12, rnd, 50000, LZ4F_max256KB, LZ4F_blockIndependent, 1, 0, 0);
	/* a skippable frame between the two */
	kafka_store_le32(buf + n, 0x184D2A53U);
	kafka_store_le32(buf + n + 4, 4);
	memcpy(buf + n + 8, "skip", 4);
	memcpy(buf2, txt, 50000);
	memcpy(buf2 + 50000, rnd, 50000);
	CHECK(decodes_to(KAFKA_COMPRESSION_LZ4, buf, n + 12 + n2, buf2, 100000),
		  "lz4: two frames around a skippable frame decode");
	{
		int			bad = 0;
		size_t		flip;

		/* damage checksummed frames: every case must fail */
		n = lz4f_frame(buf, cap, txt, 2000, LZ4F_max64KB, LZ4F_blockIndependent, 1, 1, 1);
		for (flip = 4; flip < n; flip++)
		{
			buf[flip] ^= 0x10;
			rc = kafka_decompress(KAFKA_COMPRESSION_LZ4, buf, n, 1 << 20, &out, &outlen, &test_alloc);
			if (rc == KAFKA_OK)
			{
				bad++;
				ta_release(out);
			}
			buf[flip] ^= 0x10;
		}
		CHECK(bad == 0, "lz4: every damaged byte of a %zu-byte checksummed frame is rejected", n);
	}
	n = lz4f_frame(buf, cap, txt, 2000, LZ4F_max64KB, LZ4F_blockIndependent, 0, 0, 0);
	buf[6] ^= 1;				/* header checksum */
	CHECK(kafka_decompress(KAFKA_COMPRESSION_LZ4, buf, n, 1 << 20, &out, &outlen, &test_alloc) == KAFKA_ERR_CORRUPT,
		  "lz4: bad header checksum rejected");
	buf[6] ^= 1;
	buf[4] |= 0x01;				/* dictionary id flag */
	CHECK(kafka_decompress(KAFKA_COMPRESSION_LZ4, buf, n, 1 << 20, &out, &outlen, &test_alloc) == KAFKA_ERR_CORRUPT,
		  "lz4: dictionary id flag rejected");
	n = lz4f_frame(buf, cap, txt, 100000, LZ4F_max64KB, LZ4F_blockIndependent, 1, 0, 0);
	CHECK(kafka_decompress(KAFKA_COMPRESSION_LZ4, buf, n, 99999, &out, &outlen, &test_alloc) == KAFKA_ERR_TOO_LARGE,
		  "lz4: content size above the limit is too large");
	store_le64(buf + 6, 100001);	/* lie about the content size */
	buf[14] = (uint8_t) (kafka_xxh32(buf + 4, 10, 0) >> 8);
	CHECK(kafka_decompress(KAFKA_COMPRESSION_LZ4, buf, n, 1 << 20, &out, &outlen, &test_alloc) == KAFKA_ERR_CORRUPT,
		  "lz4: content size disagreeing with the blocks is corrupt");

	/* zstd: frames without content size (Java, librdkafka streaming) */
	n = zstd_frame(buf, cap, txt, big, 0, 0);
	CHECK(n > 0 && ZSTD_getFrameContentSize(buf, n) == ZSTD_CONTENTSIZE_UNKNOWN &&
		  decodes_to(KAFKA_COMPRESSION_ZSTD, buf, n, txt, big),
		  "zstd: frame without content size decodes (buffer grown by doubling)");
	ta_reset();
	n = zstd_frame(buf, cap, txt, 1000, 0, 27);
	rc = kafka_decompress(KAFKA_COMPRESSION_ZSTD, buf, n, 1000, &out, &outlen, &test_alloc);
	CHECK(rc == KAFKA_OK && outlen == 1000 && ta_state.peak_bytes < 1024 * 1024,
		  "zstd: frame declaring a 128 MiB window decodes in %zu bytes of memory",
		  ta_state.peak_bytes);
	if (rc == KAFKA_OK)
		ta_release(out);
	n = zstd_frame(buf, cap, txt, 3000, 1, 0);
	n2 = zstd_frame(buf + n + 13, cap - n - 13, rnd, 3000, 0, 0);
	kafka_store_le32(buf + n, 0x184D2A5FU);
	kafka_store_le32(buf + n + 4, 5);
	memcpy(buf + n + 8, "zskip", 5);
	memcpy(buf2, txt, 3000);
	memcpy(buf2 + 3000, rnd, 3000);
	CHECK(decodes_to(KAFKA_COMPRESSION_ZSTD, buf, n + 13 + n2, buf2, 6000),
		  "zstd: two frames around a skippable frame decode");
	CHECK(kafka_decompress(KAFKA_COMPRESSION_ZSTD, buf, n + 13 + n2, 5999, &out, &outlen, &test_alloc) == KAFKA_ERR_TOO_LARGE,
		  "zstd: limit applies across frames");
	/* an empty frame after the output reached the limit still fits */
	n = zstd_frame(buf, cap, txt, 3000, 0, 0);
	n2 = zstd_frame(buf + n, cap - n, txt, 0, 0, 0);
	CHECK(n2 > 0 && ZSTD_getFrameContentSize(buf + n, n2) == ZSTD_CONTENTSIZE_UNKNOWN &&
		  decodes_to(KAFKA_COMPRESSION_ZSTD, buf, n + n2, txt, 3000),
		  "zstd: empty size-less frame after output at exactly the limit decodes");
	n = zstd_frame(buf, cap, txt, 3000, 1, 0);
	buf[n - 1] ^= 1;			/* content checksum */
	CHECK(kafka_decompress(KAFKA_COMPRESSION_ZSTD, buf, n, 1 << 20, &out, &outlen, &test_alloc) == KAFKA_ERR_CORRUPT,
		  "zstd: bad content checksum rejected");
	memcpy(buf, "\x26\xB5\x2F\xFD", 4);	/* v0.6 legacy magic */
	CHECK(kafka_decompress(KAFKA_COMPRESSION_ZSTD, buf, n, 1 << 20, &out, &outlen, &test_alloc) == KAFKA_ERR_CORRUPT,
		  "zstd: legacy frame magic rejected");

	/* gzip */
	n = gzip_member(buf, cap, txt, 40000, 15 + 16);
	n2 = gzip_member(buf + n, cap - n, rnd, 40000, 15 + 16);
	memcpy(buf2, txt, 40000);
	memcpy(buf2 + 40000, rnd, 40000);
	CHECK(decodes_to(KAFKA_COMPRESSION_GZIP, buf, n + n2, buf2, 80000),
		  "gzip: two concatenated members decode (GZIPInputStream does)");
	buf[n + n2] = 0;
	CHECK(kafka_decompress(KAFKA_COMPRESSION_GZIP, buf, n + n2 + 1, 1 << 20, &out, &outlen, &test_alloc) == KAFKA_ERR_CORRUPT,
		  "gzip: trailing garbage rejected");
	n = gzip_member(buf, cap, txt, 40000, 15);
	CHECK(kafka_decompress(KAFKA_COMPRESSION_GZIP, buf, n, 1 << 20, &out, &outlen, &test_alloc) == KAFKA_ERR_CORRUPT,
		  "gzip: zlib-wrapped deflate rejected");
	n = gzip_member(buf, cap, txt, 40000, 15 + 16);
	buf[n - 5] ^= 1;			/* CRC-32 in the trailer */
	CHECK(kafka_decompress(KAFKA_COMPRESSION_GZIP, buf, n, 1 << 20, &out, &outlen, &test_alloc) == KAFKA_ERR_CORRUPT,
		  "gzip: bad trailer CRC rejected");
	n = gzip_member(buf, cap, txt, 40000, 15 + 16);
	kafka_store_le32(buf + n - 4, 0x7fffffffU);	/* lying ISIZE hint */
	ta_reset();
	rc = kafka_decompress(KAFKA_COMPRESSION_GZIP, buf, n, 1 << 30, &out, &outlen, &test_alloc);
	CHECK(rc == KAFKA_ERR_CORRUPT && ta_state.peak_bytes < 4 * 1024 * 1024 && ta_state.live == 0,
		  "gzip: a lying ISIZE does not drive allocation (peak %zu bytes)", ta_state.peak_bytes);

	/* truncation at every length: never the original, never a crash */
	for (codec = 1; codec <= KAFKA_COMPRESSION_MAX; codec++)
	{
		uint8_t    *c;
		size_t		clen;
		size_t		cut;
		int			bad = 0;

		ta_reset();
		kafka_compress(codec, txt, 3000, &c, &clen, &test_alloc);
		for (cut = 0; cut < clen; cut++)
		{
			rc = kafka_decompress(codec, c, cut, 1 << 20, &out, &outlen, &test_alloc);
			if (rc == KAFKA_OK)
			{
				if (outlen == 3000 && memcmp(out, txt, 3000) == 0)
					bad++;
				ta_release(out);
			}
		}
		ta_release(c);
		CHECK(bad == 0 && ta_state.live == 0,
			  "%s: all %zu truncations fail to reproduce the input, no leaks",
			  kafka_compression_name(codec), clen);
	}

	/* zip bombs: 64 MiB of zeros, 1 MiB limit */
	{
		size_t		bomb = 64 * 1024 * 1024;
		uint8_t    *zeros = calloc(1, bomb);
		uint8_t    *c;
		size_t		clen;

		for (codec = 1; codec <= KAFKA_COMPRESSION_MAX; codec++)
		{
			ta_reset();
			if (kafka_compress(codec, zeros, bomb, &c, &clen, &test_alloc) != KAFKA_OK)
			{
				CHECK(0, "%s: compress 64 MiB", kafka_compression_name(codec));
				continue;
			}
			CHECK(ta_state.live_bytes == clen,
				  "%s: compressing 64 MiB of zeros returns an exact-size %zu-byte buffer",
				  kafka_compression_name(codec), clen);
			ta_state.peak_bytes = ta_state.live_bytes;
			rc = kafka_decompress(codec, c, clen, 1 << 20, &out, &outlen, &test_alloc);
			CHECK(rc == KAFKA_ERR_TOO_LARGE &&
				  ta_state.peak_bytes - clen < 2 * 1024 * 1024 + 512 * 1024,
				  "%s: %zu-byte bomb of 64 MiB stopped at 1 MiB limit, peak memory %zu bytes",
				  kafka_compression_name(codec), clen, ta_state.peak_bytes - clen);
			ta_release(c);
			CHECK(ta_state.live == 0, "%s: bomb leaves nothing allocated",
				  kafka_compression_name(codec));
		}

		/* zstd without content size: the doubling path must stop too */
		{
			size_t		zcap = ZSTD_compressBound(bomb);
			uint8_t    *z = xmalloc(zcap);

			clen = zstd_frame(z, zcap, zeros, bomb, 0, 0);
			ta_reset();
			rc = kafka_decompress(KAFKA_COMPRESSION_ZSTD, z, clen, 1 << 20, &out, &outlen, &test_alloc);
			CHECK(rc == KAFKA_ERR_TOO_LARGE && ta_state.peak_bytes < 2 * 1024 * 1024 + 512 * 1024 &&
				  ta_state.live == 0,
				  "zstd: %zu-byte bomb without content size stopped at 1 MiB, peak memory %zu bytes",
				  clen, ta_state.peak_bytes);
			free(z);
		}
		free(zeros);
	}

	/* allocation failure at every allocation of compress and decompress */
	for (codec = 0; codec <= KAFKA_COMPRESSION_MAX; codec++)
	{
		int			bad = 0;
		long		k;
		int			direction;
		uint8_t    *c = NULL;
		size_t		clen = 0;

		for (direction = 0; direction < 2; direction++)
		{
			for (k = 0;; k++)
			{
				ta_reset();
				if (direction == 1)
				{
					kafka_compress(codec, txt, 100000, &c, &clen, &test_alloc);
					ta_state.count = 0;
				}
				ta_state.fail_at = k;
				if (direction == 0)
					rc = kafka_compress(codec, txt, 100000, &out, &outlen, &test_alloc);
				else
					rc = kafka_decompress(codec, c, clen, 1 << 20, &out, &outlen, &test_alloc);
				if (rc == KAFKA_OK)
					ta_release(out);
				if (direction == 1)
					ta_release(c);
				if ((rc != KAFKA_OK && rc != KAFKA_ERR_NOMEM) || ta_state.live != 0)
					bad++;
				if (rc == KAFKA_OK)
					break;
			}
		}
		CHECK(bad == 0, "%s: failing each allocation gives KAFKA_ERR_NOMEM and leaks nothing",
			  kafka_compression_name(codec));
	}

	free(rnd);
	free(txt);
	free(buf);
	free(buf2);
}

/* ----------------------------------------------------------------
 *		Record batches
 * ----------------------------------------------------------------
 */

/* A varied set of records: nulls, empties, binary, headers. */
static const KafkaHeaderIn hdrs_a[] = {
	{(const uint8_t *) "content-type", 12, (const uint8_t *) "text/plain", 10},
	{(const uint8_t *) "null-value", 10, NULL, -1},
	{(const uint8_t *) "", 0, (const uint8_t *) "", 0},
	{(const uint8_t *) "bin", 3, (const uint8_t *) "\x00\xff\x80\x7f\x00", 5},
};

static const KafkaRecordIn small_set[] = {
	{1700000000000, (const uint8_t *) "key-1", 5, (const uint8_t *) "hello", 5, 0, NULL},
	{1700000000001, NULL, -1, (const uint8_t *) "null key", 8, 0, NULL},
	{1700000000000, (const uint8_t *) "tombstone", 9, NULL, -1, 0, NULL},
	{1699999999000, (const uint8_t *) "", 0, (const uint8_t *) "", 0, 0, NULL},
	{1700000005000, (const uint8_t *) "\x00\x01\x02", 3,
	(const uint8_t *) "\xff\xfe\x00\x00binary", 10, 4, hdrs_a},
	{-1, NULL, -1, NULL, -1, 2, hdrs_a + 1},
};
#define SMALL_SET_N ((int) (sizeof(small_set) / sizeof(small_set[0])))

/* n random records; storage is owned by the caller-visible arrays. */
typedef struct RecordSet
{
	KafkaRecordIn *recs;
	KafkaHeaderIn *hdrs;
	uint8_t    *data;
	int			n;
} RecordSet;

static RecordSet
make_record_set(int n, size_t max_value)
{
	RecordSet	rs;
	size_t		data_cap = (size_t) n * (max_value + 64 + 3 * 40);
	size_t		used = 0;
	int			i;
	int			nh = 0;

	rs.n = n;
	rs.recs = xmalloc(sizeof(KafkaRecordIn) * (size_t) n);
	rs.hdrs = xmalloc(sizeof(KafkaHeaderIn) * (size_t) n * 3);
	rs.data = xmalloc(data_cap);
	for (i = 0; i < n; i++)
	{
		KafkaRecordIn *r = &rs.recs[i];
		int			j;
		size_t		vlen = (size_t) (rng_next() % (max_value + 1));

		r->timestamp = 1700000000000 + (int64_t) (rng_next() % 100000) - 50000;
		if (rng_next() % 5 == 0)
		{
			r->key = NULL;
			r->key_len = -1;
		}
		else
		{
			r->key = rs.data + used;
			r->key_len = (int32_t) (rng_next() % 33);
			fill_random(rs.data + used, (size_t) r->key_len);
			used += (size_t) r->key_len;
		}
		if (rng_next() % 7 == 0)
		{
			r->value = NULL;
			r->value_len = -1;
		}
		else
		{
			r->value = rs.data + used;
			r->value_len = (int32_t) vlen;
			if (i % 2)
				fill_compressible(rs.data + used, vlen);
			else
				fill_random(rs.data + used, vlen);
			used += vlen;
		}
		r->nheaders = (int32_t) (rng_next() % 4);
		r->headers = rs.hdrs + nh;
		for (j = 0; j < r->nheaders; j++)
		{
			KafkaHeaderIn *h = &rs.hdrs[nh++];

			h->key = rs.data + used;
			h->key_len = (int32_t) (rng_next() % 16);
			fill_compressible(rs.data + used, (size_t) h->key_len);
			used += (size_t) h->key_len;
			if (rng_next() % 4 == 0)
			{
				h->value = NULL;
				h->value_len = -1;
			}
			else
			{
				h->value = rs.data + used;
				h->value_len = (int32_t) (rng_next() % 20);
				fill_random(rs.data + used, (size_t) h->value_len);
				used += (size_t) h->value_len;
			}
		}
	}
	return rs;
}

static void
free_record_set(RecordSet *rs)
{
	free(rs->recs);
	free(rs->hdrs);
	free(rs->data);
}

static void
test_header_parsing(void)
{
	uint8_t		b[KAFKA_BATCH_HEADER_SIZE + 16];
	KafkaBatchHeader h;
	size_t		size;
	size_t		len;
	static const uint8_t rec[] = {0x0e, 0x00, 0x00, 0x00, 0x01, 0x02, 'v', 0x00};

	len = make_raw_batch(b, rec, sizeof(rec), 0, 0, 1);
	CHECK(kafka_batch_read_header(b, 16, &h) == KAFKA_ERR_TRUNCATED,
		  "read_header: 16 bytes are truncated");
	CHECK(kafka_batch_read_header(b, 60, &h) == KAFKA_ERR_TRUNCATED && h.Magic == 2,
		  "read_header: 60 bytes are truncated (magic already read)");
	CHECK(kafka_batch_read_header(b, 61, &h) == KAFKA_OK && h.BaseOffset == 100 &&
		  h.BatchLength == (int32_t) len - 12 && h.Magic == 2 && h.LastOffsetDelta == 0 &&
		  h.BaseTimestamp == 1000 && h.MaxTimestamp == 2000 && h.ProducerId == -1 &&
		  h.ProducerEpoch == -1 && h.BaseSequence == -1 && h.RecordsCount == 1,
		  "read_header: all fields");
	CHECK(kafka_batch_validate(b, len, &h) == KAFKA_OK, "validate: hand-built batch");
	b[16] = 1;
	CHECK(kafka_batch_read_header(b, len, &h) == KAFKA_ERR_MAGIC &&
		  kafka_batch_validate(b, len, &h) == KAFKA_ERR_MAGIC &&
		  kafka_batch_size(b, len, &size) == KAFKA_ERR_MAGIC,
		  "magic 1 is KAFKA_ERR_MAGIC everywhere");
	b[16] = 2;

	CHECK(kafka_batch_size(b, 11, &size) == KAFKA_ERR_TRUNCATED && size == 0,
		  "batch_size: fewer than 12 bytes");
	CHECK(kafka_batch_size(b, 12, &size) == KAFKA_ERR_TRUNCATED && size == len,
		  "batch_size: 12 bytes give the size");
	CHECK(kafka_batch_size(b, len, &size) == KAFKA_OK && size == len,
		  "batch_size: whole batch");
	kafka_store_be32(b + 8, 48);
	CHECK(kafka_batch_size(b, len, &size) == KAFKA_ERR_CORRUPT,
		  "batch_size: BatchLength below the v2 header is corrupt");
	kafka_store_be32(b + 8, 0x80000000U);
	CHECK(kafka_batch_size(b, len, &size) == KAFKA_ERR_CORRUPT &&
		  kafka_batch_validate(b, len, &h) == KAFKA_ERR_CORRUPT,
		  "negative BatchLength is corrupt");
	fix_batch(b, len);

	CHECK(kafka_batch_validate(b, len - 1, &h) == KAFKA_ERR_TRUNCATED,
		  "validate: short buffer is truncated");
	b[len] = 0;
	CHECK(kafka_batch_validate(b, len + 1, &h) == KAFKA_ERR_CORRUPT,
		  "validate: buffer longer than BatchLength is corrupt");

	kafka_batch_set_base_offset(b, INT64_C(0x0102030405060708));
	kafka_batch_set_leader_epoch(b, 77);
	CHECK(kafka_batch_validate(b, len, &h) == KAFKA_OK &&
		  h.BaseOffset == INT64_C(0x0102030405060708) && h.PartitionLeaderEpoch == 77,
		  "set_base_offset/set_leader_epoch keep the CRC valid");

	b[KAFKA_BATCH_POS_ATTRIBUTES + 1] = 5;
	fix_batch(b, len);
	CHECK(kafka_batch_validate(b, len, &h) == KAFKA_ERR_UNSUPPORTED, "validate: codec 5 unsupported");
	b[KAFKA_BATCH_POS_ATTRIBUTES + 1] = 0x20;
	fix_batch(b, len);
	CHECK(kafka_batch_validate(b, len, &h) == KAFKA_OK && kafka_batch_is_control(&h) &&
		  !kafka_batch_is_transactional(&h), "control attribute exposed");
}

static void
test_batch_counts(void)
{
	uint8_t		b[256];
	KafkaBatchHeader h;
	size_t		len;
	int			n;
	/* two records with offset deltas 0 and 5 (a compacted batch) */
	static const uint8_t compacted[] = {
		0x0e, 0x00, 0x00, 0x00, 0x01, 0x02, 'a', 0x00,
		0x0e, 0x00, 0x02, 0x0a, 0x01, 0x02, 'b', 0x00};
	static const uint8_t one[] = {0x0e, 0x00, 0x00, 0x00, 0x01, 0x02, 'a', 0x00};

	len = make_raw_batch(b, compacted, sizeof(compacted), 0, 9, 2);
	CHECK(kafka_batch_check(b, len, &h) == KAFKA_OK, "check: compacted batch (2 records, LastOffsetDelta 9)");
	CHECK(kafka_batch_validate(b, len, &h) == KAFKA_ERR_RECORD,
		  "validate: compacted batch is not a produce batch");
	CHECK(iterate_all(b, len, 0, &n) == 0 && n == 2, "iterator: compacted batch, offsets with a gap");
	CHECK(kafka_batch_last_offset(&h) == 109, "last offset = BaseOffset + LastOffsetDelta");

	len = make_raw_batch(b, compacted, sizeof(compacted), 0, 4, 2);
	CHECK(kafka_batch_check(b, len, &h) == KAFKA_OK && iterate_all(b, len, 0, &n) == KAFKA_ERR_RECORD,
		  "iterator: offset delta beyond LastOffsetDelta rejected");

	len = make_raw_batch(b, NULL, 0, 0, 3, 0);
	CHECK(kafka_batch_check(b, len, &h) == KAFKA_OK && iterate_all(b, len, 0, &n) == 0 && n == 0,
		  "check/iterator: empty batch left by compaction");
	CHECK(kafka_batch_validate(b, len, &h) == KAFKA_ERR_RECORD, "validate: empty batch rejected");

	len = make_raw_batch(b, one, sizeof(one), 0, 1, 1);
	CHECK(kafka_batch_validate(b, len, &h) == KAFKA_ERR_RECORD,
		  "validate: LastOffsetDelta != RecordsCount - 1 rejected");

	/* the whole produced-batch validation: header rule and every record, one CRC pass */
	len = make_raw_batch(b, one, sizeof(one), 0, 0, 1);
	CHECK(kafka_batch_validate_records(b, len, 1 << 20, NULL, &h) == KAFKA_OK && h.RecordsCount == 1,
		  "validate_records: a good batch");
	b[len - 1] ^= 0xff;
	CHECK(kafka_batch_validate_records(b, len, 1 << 20, NULL, &h) == KAFKA_ERR_CRC,
		  "validate_records: bad CRC");
	len = make_raw_batch(b, compacted, sizeof(compacted), 0, 9, 2);
	CHECK(kafka_batch_validate_records(b, len, 1 << 20, NULL, &h) == KAFKA_ERR_RECORD,
		  "validate_records: a compacted batch is not a produce batch");
	len = make_raw_batch(b, NULL, 0, 0, 3, 0);
	CHECK(kafka_batch_validate_records(b, len, 1 << 20, NULL, &h) == KAFKA_ERR_RECORD,
		  "validate_records: empty batch rejected");
	{
		/* the header is right and the CRC too, but the record is not */
		static const uint8_t bad[] = {0x0e, 0x00, 0x00, 0x00, 0x01, 0x7f, 'a', 0x00};

		len = make_raw_batch(b, bad, sizeof(bad), 0, 0, 1);
		CHECK(kafka_batch_validate(b, len, &h) == KAFKA_OK &&
			  kafka_batch_validate_records(b, len, 1 << 20, NULL, &h) == KAFKA_ERR_RECORD,
			  "validate_records: a malformed record with a good CRC rejected");
	}
	len = make_raw_batch(b, one, sizeof(one), 0, 0, 2);
	CHECK(kafka_batch_check(b, len, &h) == KAFKA_ERR_RECORD,
		  "check: more records than the offset range rejected");
	len = make_raw_batch(b, one, sizeof(one), 0, 0, -1);
	CHECK(kafka_batch_check(b, len, &h) == KAFKA_ERR_RECORD, "check: negative RecordsCount rejected");
	len = make_raw_batch(b, one, sizeof(one), 0, 2, 3);
	CHECK(kafka_batch_check(b, len, &h) == KAFKA_ERR_RECORD,
		  "check: 3 records cannot fit in 8 uncompressed bytes");
	len = make_raw_batch(b, one, sizeof(one), 0, INT32_MAX, INT32_MAX);
	CHECK(kafka_batch_check(b, len, &h) == KAFKA_ERR_RECORD, "check: RecordsCount INT32_MAX rejected");
	len = make_raw_batch(b, one, sizeof(one), 0, -1, 0);
	CHECK(kafka_batch_check(b, len, &h) == KAFKA_ERR_RECORD, "check: negative LastOffsetDelta rejected");
}

/* Malformed records inside CRC-valid batches. */
static void
test_malformed_records(void)
{
	static const struct
	{
		const char *what;
		const char *bytes;
		size_t		len;
		int32_t		count;
	}			cases[] = {
		/* valid: len 6: attrs, ts 0, delta 0, key null(01), value len 0, hdrs 0 */
		{"length longer than contents", "\x0e\x00\x00\x00\x01\x00\x00\x00", 8, 1},
		{"length shorter than contents", "\x0c\x00\x00\x00\x02k\x01\x00", 8, 1},
		{"length below the minimum record", "\x0a\x00\x00\x00\x01\x00", 6, 1},
		{"length beyond the section", "\x7e\x00\x00\x00\x01\x00\x00", 7, 1},
		{"negative length", "\x01\x00\x00\x00\x01\x00\x00", 7, 1},
		{"key length -2", "\x0c\x00\x00\x00\x03\x00\x00", 7, 1},
		{"value length -2", "\x0c\x00\x00\x00\x01\x03\x00", 7, 1},
		{"key longer than the record", "\x0c\x00\x00\x00\x08\x00\x00", 7, 1},
		{"negative header count", "\x0c\x00\x00\x00\x01\x00\x01", 7, 1},
		{"header count beyond the record", "\x0c\x00\x00\x00\x01\x00\x06", 7, 1},
		{"null header key", "\x10\x00\x00\x00\x01\x00\x02\x01\x00", 9, 1},
		{"header key length -2", "\x10\x00\x00\x00\x01\x00\x02\x03\x00", 9, 1},
		{"header value length -2", "\x10\x00\x00\x00\x01\x00\x02\x00\x03", 9, 1},
		{"header value beyond the record", "\x10\x00\x00\x00\x01\x00\x02\x00\x08", 9, 1},
		{"overlong varint timestamp", "\x1e\x00\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00\x00\x01\x00\x00", 17, 1},
		{"truncated varint at the end", "\x0c\x00\x00\x00\x01\x00\x80", 7, 1},
		{"trailing garbage", "\x0c\x00\x00\x00\x01\x00\x00\x00", 8, 1},
		{"fewer records than RecordsCount",
		"\x1c\x00\x00\x00\x01\x10" "abcdefgh\x00\x1c\x00\x00\x02\x01\x10" "abcdefgh\x00", 30, 3},
		{"offset delta not increasing", "\x0c\x00\x00\x00\x01\x00\x00\x0c\x00\x00\x00\x01\x00\x00", 14, 2},
		{"offset delta negative", "\x0c\x00\x00\x01\x01\x00\x00", 7, 1},
	};
	uint8_t		b[256];
	size_t		i;
	size_t		len;
	int			n;
	KafkaBatchHeader h;

	/* the reference record the cases are damaged from decodes */
	len = make_raw_batch(b, (const uint8_t *) "\x0c\x00\x00\x00\x01\x00\x00", 7, 0, 0, 1);
	CHECK(kafka_batch_validate(b, len, &h) == KAFKA_OK && iterate_all(b, len, 0, &n) == 0 && n == 1,
		  "reference record (null key, empty value) decodes");

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		int			rc;

		len = make_raw_batch(b, (const uint8_t *) cases[i].bytes, cases[i].len, 0,
							 cases[i].count - 1, cases[i].count);
		rc = kafka_batch_check(b, len, &h);
		if (rc == KAFKA_OK)
			rc = iterate_all(b, len, 0, &n);
		CHECK(rc == KAFKA_ERR_RECORD, "malformed record rejected: %s (%s)", cases[i].what,
			  kafka_codec_strerror(rc));
	}

	/* sticky errors and use after end */
	{
		KafkaRecordIter it;
		KafkaRecordView rv;

		len = make_raw_batch(b, (const uint8_t *) "\x0c\x00\x00\x00\x01\x00\x00\x00", 8, 0, 0, 1);
		kafka_records_begin(&it, b, len, 0, NULL);
		CHECK(kafka_records_next(&it, &rv) == 1 && kafka_records_next(&it, &rv) == KAFKA_ERR_RECORD &&
			  kafka_records_next(&it, &rv) == KAFKA_ERR_RECORD,
			  "iterator: record, then trailing-garbage error, which is sticky");
		kafka_records_end(&it);
		CHECK(kafka_records_next(&it, &rv) < 0, "iterator: next after end is an error");
		kafka_records_end(&it);
	}

	/* LogAppendTime: every record gets MaxTimestamp */
	{
		KafkaRecordIter it;
		KafkaRecordView rv;

		len = make_raw_batch(b, (const uint8_t *) "\x0c\x00\x02\x00\x01\x00\x00", 7,
							 KAFKA_ATTR_LOG_APPEND_TIME, 0, 1);
		CHECK(kafka_records_begin(&it, b, len, 0, NULL) == KAFKA_OK &&
			  kafka_records_next(&it, &rv) == 1 && rv.Timestamp == 2000 && rv.Offset == 100,
			  "LogAppendTime batch: record timestamp is MaxTimestamp");
		kafka_records_end(&it);
		len = make_raw_batch(b, (const uint8_t *) "\x0c\x00\x03\x00\x01\x00\x00", 7, 0, 0, 1);
		CHECK(kafka_records_begin(&it, b, len, 0, NULL) == KAFKA_OK &&
			  kafka_records_next(&it, &rv) == 1 && rv.Timestamp == 998,
			  "CreateTime batch: record timestamp is BaseTimestamp + delta (-2)");
		kafka_records_end(&it);
	}
}

static void
test_encode(void)
{
	uint8_t		buf[1024];
	size_t		len;
	size_t		need;
	KafkaBatchHeader h;
	int			codec;
	int			rc;
	uint8_t    *out;
	size_t		outlen;
	KafkaRecordIn bad;
	KafkaHeaderIn badh;

	need = kafka_batch_max_size(small_set, SMALL_SET_N);
	rc = kafka_batch_encode_into(small_set, SMALL_SET_N, buf, sizeof(buf), &len);
	CHECK(rc == KAFKA_OK && len == need, "encode_into: %zu bytes, as kafka_batch_max_size said", len);
	CHECK(kafka_batch_validate(buf, len, &h) == KAFKA_OK && h.BaseOffset == 0 &&
		  h.PartitionLeaderEpoch == 0 && h.Attributes == 0 &&
		  h.LastOffsetDelta == SMALL_SET_N - 1 && h.RecordsCount == SMALL_SET_N &&
		  h.BaseTimestamp == 1700000000000 && h.MaxTimestamp == 1700000005000 &&
		  h.ProducerId == -1 && h.ProducerEpoch == -1 && h.BaseSequence == -1,
		  "encoded header: offsets, timestamps (base = first, max), producer fields");
	CHECK(records_match(buf, len, small_set, SMALL_SET_N, 0),
		  "decode(encode(x)) == x: null/empty keys and values, binary, headers with null values, negative timestamps");
	kafka_batch_set_base_offset(buf, 5000);
	CHECK(records_match(buf, len, small_set, SMALL_SET_N, 5000),
		  "records get offsets from the rewritten BaseOffset");

	rc = kafka_batch_encode_into(small_set, SMALL_SET_N, buf, need - 1, &len);
	CHECK(rc == KAFKA_ERR_TOO_LARGE && len == need, "encode_into: small buffer is TOO_LARGE and reports the size");

	bad = small_set[0];
	CHECK(kafka_batch_max_size(&bad, 0) == 0 &&
		  kafka_batch_encode_into(&bad, 0, buf, sizeof(buf), &len) == KAFKA_ERR_INVALID_ARG,
		  "encode: zero records is an invalid argument");
	bad.key_len = -2;
	CHECK(kafka_batch_max_size(&bad, 1) == 0 &&
		  kafka_batch_encode_into(&bad, 1, buf, sizeof(buf), &len) == KAFKA_ERR_INVALID_ARG,
		  "encode: key length -2 is an invalid argument");
	bad = small_set[0];
	bad.value = NULL;
	CHECK(kafka_batch_max_size(&bad, 1) == 0, "encode: NULL pointer with positive length rejected");
	bad = small_set[0];
	badh.key = NULL;
	badh.key_len = -1;
	badh.value = NULL;
	badh.value_len = -1;
	bad.nheaders = 1;
	bad.headers = &badh;
	CHECK(kafka_batch_max_size(&bad, 1) == 0, "encode: null header key rejected");
	bad.nheaders = -1;
	CHECK(kafka_batch_max_size(&bad, 1) == 0, "encode: negative header count rejected");
	bad = small_set[0];
	bad.value_len = INT32_MAX;
	CHECK(kafka_batch_encode_into(&bad, 1, buf, sizeof(buf), &len) == KAFKA_ERR_TOO_LARGE,
		  "encode: a 2 GiB value is too large");

	/* extreme timestamps: deltas wrap, decoding wraps back */
	{
		KafkaRecordIn ext[3] = {small_set[0], small_set[1], small_set[2]};

		ext[0].timestamp = INT64_MAX;
		ext[1].timestamp = INT64_MIN;
		ext[2].timestamp = 0;
		rc = kafka_batch_encode_into(ext, 3, buf, sizeof(buf), &len);
		CHECK(rc == KAFKA_OK && records_match(buf, len, ext, 3, 0),
			  "encode/decode: INT64_MAX, INT64_MIN timestamps round trip");
	}

	for (codec = 0; codec <= KAFKA_COMPRESSION_MAX; codec++)
	{
		ta_reset();
		rc = kafka_batch_encode(small_set, SMALL_SET_N, codec, &out, &outlen, &test_alloc);
		CHECK(rc == KAFKA_OK && kafka_batch_validate(out, outlen, &h) == KAFKA_OK &&
			  kafka_batch_compression(&h) == codec &&
			  records_match(out, outlen, small_set, SMALL_SET_N, 0),
			  "%s: encode, validate, decode the small record set", kafka_compression_name(codec));
		if (rc == KAFKA_OK)
			ta_release(out);
		CHECK(ta_state.live == 0, "%s: encode/decode leave nothing allocated", kafka_compression_name(codec));
	}
}

static void
test_record_sets(void)
{
	static const int counts[] = {1, 1000};
	int			c;
	int			codec;

	for (c = 0; c < 2; c++)
	{
		RecordSet	rs = make_record_set(counts[c], 300);

		for (codec = 0; codec <= KAFKA_COMPRESSION_MAX; codec++)
		{
			uint8_t    *out;
			size_t		outlen;
			KafkaBatchHeader h;
			int			rc;

			ta_reset();
			rc = kafka_batch_encode(rs.recs, rs.n, codec, &out, &outlen, &test_alloc);
			CHECK(rc == KAFKA_OK && kafka_batch_validate(out, outlen, &h) == KAFKA_OK &&
				  h.RecordsCount == rs.n && records_match(out, outlen, rs.recs, rs.n, 0),
				  "%s: %d random records round trip (%zu bytes)",
				  kafka_compression_name(codec), rs.n, rc == KAFKA_OK ? outlen : 0);
			if (rc == KAFKA_OK)
			{
				if (codec != 0 && rs.n == 1000)
				{
					int			n;

					rc = iterate_all(out, outlen, 1000, &n);
					CHECK(rc == KAFKA_ERR_TOO_LARGE,
						  "%s: records_begin enforces the decompression limit", kafka_compression_name(codec));
				}
				ta_release(out);
			}
			CHECK(ta_state.live == 0, "%s: nothing left allocated", kafka_compression_name(codec));
		}
		free_record_set(&rs);
	}

	/* allocation failures in encode and begin */
	for (codec = 0; codec <= KAFKA_COMPRESSION_MAX; codec++)
	{
		int			bad = 0;
		long		k;
		uint8_t    *out;
		size_t		outlen;
		int			rc;

		for (k = 0;; k++)
		{
			ta_reset();
			ta_state.fail_at = k;
			rc = kafka_batch_encode(small_set, SMALL_SET_N, codec, &out, &outlen, &test_alloc);
			if (rc == KAFKA_OK)
				ta_release(out);
			if ((rc != KAFKA_OK && rc != KAFKA_ERR_NOMEM) || ta_state.live != 0)
				bad++;
			if (rc == KAFKA_OK)
				break;
		}
		ta_reset();
		kafka_batch_encode(small_set, SMALL_SET_N, codec, &out, &outlen, &test_alloc);
		for (k = 0;; k++)
		{
			int			n;

			ta_state.count = 0;
			ta_state.fail_at = k;
			rc = iterate_all(out, outlen, 1 << 20, &n);
			if ((rc != 0 && rc != KAFKA_ERR_NOMEM) || ta_state.live != 1)
				bad++;
			if (rc == 0)
				break;
		}
		ta_release(out);
		CHECK(bad == 0, "%s: failing each allocation of encode and decode gives NOMEM, no leaks",
			  kafka_compression_name(codec));
	}
}

/*
 * Every single-bit flip of a small batch is detected, except in the fields
 * the CRC deliberately leaves out (BaseOffset, PartitionLeaderEpoch), where
 * the batch must still decode.
 */
static void
test_bit_flips(void)
{
	int			codec;

	for (codec = 0; codec <= KAFKA_COMPRESSION_MAX; codec++)
	{
		uint8_t    *batch;
		size_t		len;
		size_t		bit;
		int			undetected = 0;
		int			uncovered_ok = 0;
		int			uncovered = 0;

		ta_reset();
		if (kafka_batch_encode(small_set, 3, codec, &batch, &len, &test_alloc) != KAFKA_OK)
		{
			CHECK(0, "%s: encode for bit flips", kafka_compression_name(codec));
			continue;
		}
		for (bit = 0; bit < len * 8; bit++)
		{
			size_t		byte = bit / 8;
			int			not_covered = byte < 8 || (byte >= 12 && byte < 16);
			KafkaBatchHeader h;
			int			rc;
			int			n;

			batch[byte] ^= (uint8_t) (1 << (bit % 8));
			rc = kafka_batch_validate(batch, len, &h);
			if (not_covered)
			{
				uncovered++;
				if (rc == KAFKA_OK && iterate_all(batch, len, 1 << 20, &n) == 0 && n == 3)
					uncovered_ok++;
			}
			else if (rc == KAFKA_OK || iterate_all(batch, len, 1 << 20, &n) == 0)
				undetected++;
			batch[byte] ^= (uint8_t) (1 << (bit % 8));
		}
		ta_release(batch);
		CHECK(undetected == 0 && uncovered_ok == uncovered && ta_state.live == 0,
			  "%s: all %zu bit flips of a %zu-byte batch detected (%d in BaseOffset/PartitionLeaderEpoch still decode)",
			  kafka_compression_name(codec), len * 8 - (size_t) uncovered, len, uncovered);
	}
}

/*
 * Truncation at every length is rejected: as is (length mismatch), and with
 * BatchLength and CRC recomputed so that only the record-level checks (or
 * the decompressor) can notice.
 */
static void
test_truncations(void)
{
	int			codec;

	for (codec = 0; codec <= KAFKA_COMPRESSION_MAX; codec++)
	{
		uint8_t    *batch;
		uint8_t    *copy;
		size_t		len;
		size_t		cut;
		int			bad = 0;
		int			bad_fixed = 0;

		ta_reset();
		kafka_batch_encode(small_set, SMALL_SET_N, codec, &batch, &len, &test_alloc);
		copy = xmalloc(len);
		for (cut = 0; cut < len; cut++)
		{
			KafkaBatchHeader h;
			int			n;

			memcpy(copy, batch, cut);
			if (kafka_batch_validate(copy, cut, &h) == KAFKA_OK ||
				iterate_all(copy, cut, 1 << 20, &n) == 0)
				bad++;
			if (cut >= KAFKA_BATCH_HEADER_SIZE)
			{
				fix_batch(copy, cut);
				if (iterate_all(copy, cut, 1 << 20, &n) == 0)
					bad_fixed++;
			}
		}
		free(copy);
		ta_release(batch);
		CHECK(bad == 0 && bad_fixed == 0 && ta_state.live == 0,
			  "%s: all %zu truncations rejected, also with BatchLength and CRC fixed up",
			  kafka_compression_name(codec), len);
	}
}

static void
test_batch_stream(void)
{
	uint8_t		stream[2048];
	size_t		pos = 0;
	size_t		len;
	int			batches = 0;
	int			i;

	for (i = 0; i < 3; i++)
	{
		kafka_batch_encode_into(small_set + i, 2, stream + pos, sizeof(stream) - pos, &len);
		kafka_batch_set_base_offset(stream + pos, i * 2);
		pos += len;
	}
	/* split, as recovery or a Fetch parser would, with a partial tail */
	{
		size_t		off = 0;
		size_t		total = pos - 5;
		size_t		size;
		int			rc;
		KafkaBatchHeader h;

		while ((rc = kafka_batch_size(stream + off, total - off, &size)) == KAFKA_OK)
		{
			if (kafka_batch_validate(stream + off, size, &h) == KAFKA_OK && h.BaseOffset == batches * 2)
				batches++;
			off += size;
		}
		CHECK(batches == 2 && rc == KAFKA_ERR_TRUNCATED && size == len,
			  "batch_size splits a stream of batches and reports the partial tail");
	}
}

/* ----------------------------------------------------------------
 *		Legacy message sets (magic 0 and 1) to RecordBatch v2
 * ----------------------------------------------------------------
 */

/* A growable byte buffer for building message sets. */
typedef struct Buf
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
} Buf;

static void
buf_reserve(Buf *b, size_t more)
{
	if (b->len + more > b->cap)
	{
		b->cap = (b->len + more) * 2 + 64;
		b->data = realloc(b->data, b->cap);
		if (b->data == NULL)
		{
			fprintf(stderr, "out of memory\n");
			exit(2);
		}
	}
}

static void
buf_put(Buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void
buf_free(Buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Recompute the CRC-32 of the legacy message at msg (zlib as reference). */
static void
legacy_fix_crc(uint8_t *msg)
{
	uint32_t	size = kafka_load_be32(msg + 8);

	kafka_store_be32(msg + 12, (uint32_t) crc32(0, msg + 16, size - 4));
}

/*
 * Append one legacy message (lengths -1 = null), as a producer writes it;
 * returns where it starts in b.
 */
static size_t
legacy_put(Buf *b, int64_t offset, int magic, int attributes, int64_t timestamp,
		   const uint8_t *key, int32_t klen, const uint8_t *value, int32_t vlen)
{
	size_t		start = b->len;
	size_t		size = (magic == 1 ? 22 : 14) + (size_t) (klen > 0 ? klen : 0) +
		(size_t) (vlen > 0 ? vlen : 0);
	uint8_t    *p;

	buf_reserve(b, 12 + size);
	p = b->data + start;
	kafka_store_be64(p, (uint64_t) offset);
	kafka_store_be32(p + 8, (uint32_t) size);
	p[16] = (uint8_t) magic;
	p[17] = (uint8_t) attributes;
	p += 18;
	if (magic == 1)
	{
		kafka_store_be64(p, (uint64_t) timestamp);
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
	b->len += 12 + size;
	legacy_fix_crc(b->data + start);
	return start;
}

/* Append recs[0..n-1] as messages with offsets first_offset, +1, ... */
static void
legacy_put_records(Buf *b, const KafkaRecordIn *recs, int n, int magic,
				   int64_t first_offset)
{
	int			i;

	for (i = 0; i < n; i++)
		legacy_put(b, first_offset + i, magic, 0, recs[i].timestamp,
				   recs[i].key, recs[i].key_len, recs[i].value, recs[i].value_len);
}

/* How an LZ4 wrapper's frame header checksum is written. */
#define HC_CORRECT	0
#define HC_KAFKA_3160	1		/* over the magic number too, as pre-0.10 */

/*
 * Append a wrapper message holding inner, compressed with codec by our
 * compressor (lz4 frames with the header checksum hc).
 */
static void
legacy_put_wrapper(Buf *b, const Buf *inner, int magic, int codec, int extra_attributes,
				   int64_t offset, int64_t timestamp, int hc)
{
	uint8_t    *comp;
	size_t		clen;

	if (kafka_compress(codec, inner->data, inner->len, &comp, &clen, &test_alloc) != KAFKA_OK)
	{
		fprintf(stderr, "compress failed\n");
		exit(2);
	}
	if (codec == KAFKA_COMPRESSION_LZ4 && hc == HC_KAFKA_3160)
		comp[6] = (uint8_t) (kafka_xxh32(comp, 6, 0) >> 8);
	legacy_put(b, offset, magic, codec | extra_attributes, timestamp, NULL, -1,
			   comp, (int32_t) clen);
	ta_release(comp);
}

/* Records without headers (legacy messages have none). */
static RecordSet
make_legacy_records(int n, size_t max_value, int magic)
{
	RecordSet	rs = make_record_set(n, max_value);
	int			i;

	for (i = 0; i < n; i++)
	{
		rs.recs[i].nheaders = 0;
		rs.recs[i].headers = NULL;
		if (magic == 0)
			rs.recs[i].timestamp = -1;
	}
	return rs;
}

static int
legacy_convert(const uint8_t *set, size_t len, size_t max, uint8_t **out,
			   size_t *outlen, int32_t *count, int64_t *maxts)
{
	return kafka_legacy_to_batch(set, len, &test_alloc, max, out, outlen, count, maxts);
}

/* Convert, discarding the result; returns the result code. */
static int
legacy_rc(const uint8_t *set, size_t len, size_t max)
{
	uint8_t    *out = NULL;
	size_t		outlen;
	int32_t		count;
	int64_t		maxts;
	int			rc = legacy_convert(set, len, max, &out, &outlen, &count, &maxts);

	if (rc == KAFKA_OK)
		ta_release(out);
	return rc;
}

/*
 * Convert set and check the result: a valid batch of codec holding want[],
 * byte for byte what kafka_batch_encode() makes of want[], with the count
 * and max timestamp returned, and no memory left allocated.
 */
static int
legacy_converts_to(const uint8_t *set, size_t len, const KafkaRecordIn *want,
				   int n, int codec)
{
	uint8_t    *out = NULL;
	uint8_t    *ref = NULL;
	size_t		outlen;
	size_t		reflen;
	int32_t		count = -5;
	int64_t		maxts = -5;
	KafkaBatchHeader h;
	int			ok = 1;
	int			rc;

	rc = legacy_convert(set, len, 64 * 1024 * 1024, &out, &outlen, &count, &maxts);
	if (rc != KAFKA_OK)
	{
		printf("# convert: %s\n", kafka_codec_strerror(rc));
		return 0;
	}
	if (kafka_batch_validate(out, outlen, &h) != KAFKA_OK ||
		kafka_batch_compression(&h) != codec || h.RecordsCount != n || count != n ||
		h.MaxTimestamp != maxts || h.BaseOffset != 0 || h.ProducerId != -1 ||
		h.ProducerEpoch != -1 || h.BaseSequence != -1 || kafka_batch_is_log_append_time(&h) ||
		(n > 0 && h.BaseTimestamp != want[0].timestamp))
	{
		printf("# header: codec %d count %d/%d max %" PRId64 "/%" PRId64 "\n",
			   kafka_batch_compression(&h), h.RecordsCount, count, h.MaxTimestamp, maxts);
		ok = 0;
	}
	if (!records_match(out, outlen, want, n, 0))
		ok = 0;
	if (kafka_batch_encode(want, n, codec, &ref, &reflen, &test_alloc) != KAFKA_OK ||
		reflen != outlen || memcmp(ref, out, outlen) != 0)
	{
		printf("# differs from kafka_batch_encode of the same records\n");
		ok = 0;
	}
	ta_release(ref);
	ta_release(out);
	if (ta_state.live != 0)
	{
		printf("# %ld allocations left\n", ta_state.live);
		ok = 0;
	}
	return ok;
}

static void
test_legacy_crc32(void)
{
	uint8_t		buf[3000];
	size_t		i;
	int			bad = 0;

	CHECK(kafka_crc32(0, "123456789", 9) == 0xCBF43926U,
		  "crc32 (IEEE) of \"123456789\" == 0xCBF43926");
	CHECK(kafka_crc32(0, "", 0) == 0, "crc32 of empty input is 0");
	fill_random(buf, sizeof(buf));
	for (i = 0; i <= sizeof(buf); i += 7)
		if (kafka_crc32(kafka_crc32(0, buf, i), buf + i, sizeof(buf) - i) !=
			kafka_crc32(0, buf, sizeof(buf)))
			bad++;
	CHECK(bad == 0, "crc32: chaining at 429 split points");
}

static void
test_legacy_convert(void)
{
	static const KafkaRecordIn m0[] = {
		{-1, (const uint8_t *) "key-1", 5, (const uint8_t *) "hello", 5, 0, NULL},
		{-1, NULL, -1, (const uint8_t *) "null key", 8, 0, NULL},
		{-1, (const uint8_t *) "tombstone", 9, NULL, -1, 0, NULL},
		{-1, (const uint8_t *) "", 0, (const uint8_t *) "", 0, 0, NULL},
		{-1, NULL, -1, NULL, -1, 0, NULL},
	};
	KafkaRecordIn m1[5];
	int64_t		ts1[5] = {1700000000000, 1700000000007, 1699999999000, -1, 1700000000003};
	Buf			b = {0};
	Buf			inner = {0};
	int			i;
	int			magic;
	int			codec;

	memcpy(m1, m0, sizeof(m1));
	for (i = 0; i < 5; i++)
		m1[i].timestamp = ts1[i];

	/* uncompressed, arbitrary offsets: Kafka reassigns them */
	legacy_put_records(&b, m0, 5, 0, 0);
	CHECK(legacy_converts_to(b.data, b.len, m0, 5, KAFKA_COMPRESSION_NONE),
		  "legacy: 5 magic 0 messages (null/empty keys and values) -> v2, timestamps -1");
	b.len = 0;
	for (i = 0; i < 5; i++)
		legacy_put(&b, i == 2 ? 1000 : 7, 1, 0, m1[i].timestamp, m1[i].key, m1[i].key_len,
				   m1[i].value, m1[i].value_len);
	CHECK(legacy_converts_to(b.data, b.len, m1, 5, KAFKA_COMPRESSION_NONE),
		  "legacy: 5 magic 1 messages, unordered timestamps and offsets 7,7,1000,7,7 -> v2");

	/* magic 1 uncompressed with the LogAppendTime bit: its own timestamp */
	b.len = 0;
	legacy_put(&b, 0, 1, KAFKA_LEGACY_ATTR_LOG_APPEND_TIME, 1234, NULL, -1,
			   (const uint8_t *) "v", 1);
	{
		KafkaRecordIn one = {1234, NULL, -1, (const uint8_t *) "v", 1, 0, NULL};

		CHECK(legacy_converts_to(b.data, b.len, &one, 1, KAFKA_COMPRESSION_NONE),
			  "legacy: uncompressed magic 1 LogAppendTime message keeps its timestamp");
	}
	/* bits 4-7 of the attributes and bit 3 of magic 0 are ignored, as in Kafka */
	b.len = 0;
	legacy_put(&b, 0, 0, 0xF8, 0, m0[0].key, m0[0].key_len, m0[0].value, m0[0].value_len);
	legacy_put(&b, 1, 0, 0x10, 0, m0[1].key, m0[1].key_len, m0[1].value, m0[1].value_len);
	CHECK(legacy_converts_to(b.data, b.len, m0, 2, KAFKA_COMPRESSION_NONE),
		  "legacy: unused attribute bits are ignored");

	/* compressed wrappers, both magics, every legacy codec */
	for (magic = 0; magic <= 1; magic++)
	{
		const KafkaRecordIn *want = magic ? m1 : m0;

		for (codec = KAFKA_COMPRESSION_GZIP; codec <= KAFKA_COMPRESSION_LZ4; codec++)
		{
			int			ok;

			inner.len = 0;
			/* magic 1: relative offsets 0..n-1, wrapper at the last; magic 0 absolute */
			legacy_put_records(&inner, want, 5, magic, magic ? 0 : 42);
			b.len = 0;
			legacy_put_wrapper(&b, &inner, magic, codec, 0, magic ? 4 : 46, 1700000009999,
							   magic == 0 ? HC_KAFKA_3160 : HC_CORRECT);
			ok = legacy_converts_to(b.data, b.len, want, 5, codec);
			if (magic == 1)
			{
				/* librdkafka leaves the wrapper offset 0; larger ones are fine */
				kafka_store_be64(b.data, 0);
				ok = ok && legacy_converts_to(b.data, b.len, want, 5, codec);
				kafka_store_be64(b.data, 1000);
				ok = ok && legacy_converts_to(b.data, b.len, want, 5, codec);
			}
			CHECK(ok, "legacy: magic %d %s wrapper of 5 messages -> one %s v2 batch%s",
				  magic, kafka_compression_name(codec), kafka_compression_name(codec),
				  magic ? " (wrapper offsets 4, 0, 1000)" :
				  codec == KAFKA_COMPRESSION_LZ4 ? " (KAFKA-3160 header checksum)" : "");
		}
	}

	/* LZ4 header checksums: magic 0 takes any (as Kafka), magic 1 only the right one */
	inner.len = 0;
	legacy_put_records(&inner, m1, 5, 1, 0);
	b.len = 0;
	legacy_put_wrapper(&b, &inner, 1, KAFKA_COMPRESSION_LZ4, 0, 4, 0, HC_KAFKA_3160);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_CORRUPT && ta_state.live == 0,
		  "legacy: magic 1 lz4 wrapper with the KAFKA-3160 header checksum: KAFKA_ERR_CORRUPT");
	inner.len = 0;
	legacy_put_records(&inner, m0, 5, 0, 0);
	b.len = 0;
	legacy_put_wrapper(&b, &inner, 0, KAFKA_COMPRESSION_LZ4, 0, 4, 0, HC_CORRECT);
	CHECK(legacy_converts_to(b.data, b.len, m0, 5, KAFKA_COMPRESSION_LZ4),
		  "legacy: magic 0 lz4 wrapper with a correct header checksum");

	/* raw snappy, as librdkafka writes it */
	{
		size_t		clen = snappy_max_compressed_length(inner.len);
		uint8_t    *comp = xmalloc(clen);

		snappy_compress((const char *) inner.data, inner.len, (char *) comp, &clen);
		b.len = 0;
		legacy_put(&b, 0, 0, KAFKA_COMPRESSION_SNAPPY, 0, NULL, -1, comp, (int32_t) clen);
		CHECK(legacy_converts_to(b.data, b.len, m0, 5, KAFKA_COMPRESSION_SNAPPY),
			  "legacy: magic 0 wrapper with a raw snappy block");
		free(comp);
	}

	/* LogAppendTime wrapper: the inner messages take the wrapper's timestamp */
	{
		KafkaRecordIn lat[5];

		memcpy(lat, m1, sizeof(lat));
		for (i = 0; i < 5; i++)
			lat[i].timestamp = 1711111111111;
		inner.len = 0;
		legacy_put_records(&inner, m1, 5, 1, 0);
		b.len = 0;
		legacy_put_wrapper(&b, &inner, 1, KAFKA_COMPRESSION_GZIP,
						   KAFKA_LEGACY_ATTR_LOG_APPEND_TIME, 4, 1711111111111, HC_CORRECT);
		CHECK(legacy_converts_to(b.data, b.len, lat, 5, KAFKA_COMPRESSION_GZIP),
			  "legacy: LogAppendTime magic 1 wrapper: records take the wrapper's timestamp");
		/* a CreateTime wrapper's own timestamp is not used */
		b.len = 0;
		legacy_put_wrapper(&b, &inner, 1, KAFKA_COMPRESSION_GZIP, 0, 4, 1711111111111,
						   HC_CORRECT);
		CHECK(legacy_converts_to(b.data, b.len, m1, 5, KAFKA_COMPRESSION_GZIP),
			  "legacy: CreateTime magic 1 wrapper: records keep their own timestamps");
	}

	/* many records, random contents, every codec and magic */
	{
		int			ok = 1;

		for (magic = 0; magic <= 1; magic++)
		{
			RecordSet	rs = make_legacy_records(3000, 300, magic);

			for (codec = KAFKA_COMPRESSION_NONE; codec <= KAFKA_COMPRESSION_LZ4; codec++)
			{
				b.len = 0;
				if (codec == KAFKA_COMPRESSION_NONE)
					legacy_put_records(&b, rs.recs, rs.n, magic, 0);
				else
				{
					inner.len = 0;
					legacy_put_records(&inner, rs.recs, rs.n, magic, 0);
					legacy_put_wrapper(&b, &inner, magic, codec, 0, rs.n - 1, 0,
									   magic == 0 ? HC_KAFKA_3160 : HC_CORRECT);
				}
				if (!legacy_converts_to(b.data, b.len, rs.recs, rs.n, codec))
				{
					printf("# magic %d codec %d\n", magic, codec);
					ok = 0;
				}
			}
			free_record_set(&rs);
		}
		CHECK(ok, "legacy: 3000 random records, magic 0 and 1, each codec");
	}

	/* one value of 1 MiB, compressed, with a cap just large enough */
	{
		size_t		vlen = 1 << 20;
		uint8_t    *v = xmalloc(vlen);
		KafkaRecordIn big = {5, (const uint8_t *) "k", 1, NULL, 0, 0, NULL};
		size_t		need;

		fill_compressible(v, vlen);
		big.value = v;
		big.value_len = (int32_t) vlen;
		inner.len = 0;
		legacy_put_records(&inner, &big, 1, 1, 0);
		need = inner.len;
		b.len = 0;
		legacy_put_wrapper(&b, &inner, 1, KAFKA_COMPRESSION_GZIP, 0, 0, 0, HC_CORRECT);
		CHECK(legacy_converts_to(b.data, b.len, &big, 1, KAFKA_COMPRESSION_GZIP) &&
			  legacy_rc(b.data, b.len, need) == KAFKA_OK &&
			  legacy_rc(b.data, b.len, need - 1) == KAFKA_ERR_TOO_LARGE &&
			  ta_state.live == 0,
			  "legacy: 1 MiB value; max_decompressed exact passes, one byte less KAFKA_ERR_TOO_LARGE");
		free(v);
	}

	/* allocation failures anywhere: KAFKA_ERR_NOMEM, nothing left */
	for (codec = KAFKA_COMPRESSION_NONE; codec <= KAFKA_COMPRESSION_LZ4; codec++)
	{
		RecordSet	rs = make_legacy_records(200, 100, 1);
		long		k;
		int			bad = 0;
		int			rc = KAFKA_ERR_NOMEM;

		b.len = 0;
		inner.len = 0;
		if (codec == KAFKA_COMPRESSION_NONE)
			legacy_put_records(&b, rs.recs, rs.n, 1, 0);
		else
		{
			legacy_put_records(&inner, rs.recs, rs.n, 1, 0);
			legacy_put_wrapper(&b, &inner, 1, codec, 0, 0, 0, HC_CORRECT);
		}
		for (k = 0; k < 1000 && rc == KAFKA_ERR_NOMEM; k++)
		{
			ta_reset();
			ta_state.fail_at = k;
			rc = legacy_rc(b.data, b.len, 1 << 20);
			if ((rc != KAFKA_ERR_NOMEM && rc != KAFKA_OK) || ta_state.live != 0)
				bad++;
		}
		ta_reset();
		CHECK(bad == 0 && rc == KAFKA_OK,
			  "legacy %s: failing each of the %ld allocations gives KAFKA_ERR_NOMEM, no leak",
			  kafka_compression_name(codec), k - 1);
		free_record_set(&rs);
	}

	buf_free(&b);
	buf_free(&inner);
}

static void
test_legacy_errors(void)
{
	static const KafkaRecordIn three[] = {
		{1700000000000, (const uint8_t *) "a", 1, (const uint8_t *) "first", 5, 0, NULL},
		{1700000000001, NULL, -1, (const uint8_t *) "second", 6, 0, NULL},
		{1700000000002, (const uint8_t *) "c", 1, NULL, -1, 0, NULL},
	};
	Buf			b = {0};
	Buf			inner = {0};
	Buf			inner2 = {0};
	size_t		at;
	size_t		i;
	int			codec;
	uint8_t    *v2;
	size_t		v2len;
	int			bad;

	CHECK(legacy_rc((const uint8_t *) "", 0, 1 << 20) == KAFKA_ERR_RECORD,
		  "legacy: empty message set: KAFKA_ERR_RECORD");

	/* CRC */
	legacy_put_records(&b, three, 3, 1, 0);
	b.data[b.len - 2] ^= 0x20;
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_CRC,
		  "legacy: flipped value bit in the last message: KAFKA_ERR_CRC");
	b.data[b.len - 2] ^= 0x20;
	b.data[KAFKA_LEGACY_POS_CRC] ^= 1;
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_CRC,
		  "legacy: flipped CRC bit: KAFKA_ERR_CRC");

	/* inner CRC */
	inner.len = 0;
	legacy_put_records(&inner, three, 3, 1, 0);
	inner.data[inner.len - 1] ^= 0x01;
	b.len = 0;
	legacy_put_wrapper(&b, &inner, 1, KAFKA_COMPRESSION_GZIP, 0, 2, 0, HC_CORRECT);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_CRC && ta_state.live == 0,
		  "legacy: bad CRC in an inner message: KAFKA_ERR_CRC");

	/* every truncation of an uncompressed set: TRUNCATED, or a shorter valid set */
	b.len = 0;
	legacy_put_records(&b, three, 3, 0, 0);
	{
		/* message boundaries of that set */
		size_t		m1 = 12 + kafka_load_be32(b.data + 8);
		size_t		m2 = m1 + 12 + kafka_load_be32(b.data + m1 + 8);
		uint8_t    *out;
		size_t		outlen;
		int32_t		count;
		int64_t		maxts;
		int			ok_at = 0;

		bad = 0;
		for (i = 1; i < b.len; i++)
		{
			int			rc = legacy_convert(b.data, i, 1 << 20, &out, &outlen, &count, &maxts);

			if (rc != KAFKA_OK && rc != KAFKA_ERR_TRUNCATED)
				bad++;
			else if (rc == KAFKA_OK)
			{
				ta_release(out);
				if ((i == m1 && count == 1) || (i == m2 && count == 2))
					ok_at++;
				else
					bad++;
			}
		}
		CHECK(bad == 0 && ok_at == 2 && ta_state.live == 0,
			  "legacy: all %zu truncations of 3 messages: KAFKA_ERR_TRUNCATED, except the 2 at message boundaries",
			  b.len - 1);
	}

	/* every truncation of a compressed set, and of its inner set */
	for (codec = KAFKA_COMPRESSION_GZIP; codec <= KAFKA_COMPRESSION_LZ4; codec++)
	{
		inner.len = 0;
		legacy_put_records(&inner, three, 3, 1, 0);
		b.len = 0;
		legacy_put_wrapper(&b, &inner, 1, codec, 0, 2, 0, HC_CORRECT);
		bad = 0;
		for (i = 1; i < b.len; i++)
			if (legacy_rc(b.data, i, 1 << 20) != KAFKA_ERR_TRUNCATED)
				bad++;
		for (i = 1; i < inner.len; i++)
		{
			Buf			cut = {0};
			int			rc;

			cut.data = inner.data;
			cut.len = i;
			b.len = 0;
			legacy_put_wrapper(&b, &cut, 1, codec, 0, 0, 0, HC_CORRECT);
			rc = legacy_rc(b.data, b.len, 1 << 20);
			/* inner message boundaries give a shorter valid set */
			if (rc != KAFKA_ERR_TRUNCATED && rc != KAFKA_OK)
				bad++;
		}
		CHECK(bad == 0 && ta_state.live == 0,
			  "legacy %s: every truncation of the wrapper (%zu) and of the inner set (%zu) is rejected",
			  kafka_compression_name(codec), b.len - 1, inner.len - 1);
	}

	/* nested compression */
	inner2.len = 0;
	legacy_put_records(&inner2, three, 3, 1, 0);
	inner.len = 0;
	legacy_put_wrapper(&inner, &inner2, 1, KAFKA_COMPRESSION_GZIP, 0, 0, 0, HC_CORRECT);
	b.len = 0;
	legacy_put_wrapper(&b, &inner, 1, KAFKA_COMPRESSION_GZIP, 0, 0, 0, HC_CORRECT);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_RECORD && ta_state.live == 0,
		  "legacy: compressed message inside a wrapper: KAFKA_ERR_RECORD");

	/* codecs: 4 (zstd) and 5-7 */
	for (codec = 4; codec <= 7; codec++)
	{
		b.len = 0;
		legacy_put(&b, 0, 1, codec, 0, NULL, -1, (const uint8_t *) "xxxx", 4);
		if (legacy_rc(b.data, b.len, 1 << 20) != KAFKA_ERR_UNSUPPORTED)
			break;
	}
	CHECK(codec == 8, "legacy: codecs 4-7 give KAFKA_ERR_UNSUPPORTED");

	/* mixed magics, at the top and inside */
	b.len = 0;
	legacy_put(&b, 0, 0, 0, 0, NULL, -1, (const uint8_t *) "a", 1);
	legacy_put(&b, 1, 1, 0, 5, NULL, -1, (const uint8_t *) "b", 1);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_RECORD,
		  "legacy: magic 0 then magic 1: KAFKA_ERR_RECORD");
	inner.len = 0;
	legacy_put(&inner, 0, 0, 0, 0, NULL, -1, (const uint8_t *) "a", 1);
	b.len = 0;
	legacy_put_wrapper(&b, &inner, 1, KAFKA_COMPRESSION_SNAPPY, 0, 0, 0, HC_CORRECT);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_RECORD && ta_state.live == 0,
		  "legacy: magic 0 message inside a magic 1 wrapper: KAFKA_ERR_RECORD");

	/* a wrapper must be alone */
	inner.len = 0;
	legacy_put_records(&inner, three, 3, 1, 0);
	b.len = 0;
	legacy_put_wrapper(&b, &inner, 1, KAFKA_COMPRESSION_GZIP, 0, 2, 0, HC_CORRECT);
	legacy_put(&b, 3, 1, 0, 5, NULL, -1, (const uint8_t *) "b", 1);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_RECORD,
		  "legacy: wrapper followed by a plain message: KAFKA_ERR_RECORD");
	b.len = 0;
	legacy_put_wrapper(&b, &inner, 1, KAFKA_COMPRESSION_GZIP, 0, 2, 0, HC_CORRECT);
	legacy_put_wrapper(&b, &inner, 1, KAFKA_COMPRESSION_GZIP, 0, 5, 0, HC_CORRECT);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_RECORD,
		  "legacy: two wrappers: KAFKA_ERR_RECORD");

	/* wrapper values: null, empty, nothing inside */
	b.len = 0;
	legacy_put(&b, 0, 1, KAFKA_COMPRESSION_GZIP, 0, NULL, -1, NULL, -1);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_RECORD,
		  "legacy: wrapper with a null value: KAFKA_ERR_RECORD");
	b.len = 0;
	legacy_put(&b, 0, 1, KAFKA_COMPRESSION_GZIP, 0, NULL, -1, NULL, 0);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_RECORD,
		  "legacy: wrapper with an empty value: KAFKA_ERR_RECORD");
	inner.len = 0;
	b.len = 0;
	legacy_put_wrapper(&b, &inner, 1, KAFKA_COMPRESSION_GZIP, 0, 0, 0, HC_CORRECT);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_RECORD && ta_state.live == 0,
		  "legacy: wrapper whose value decompresses to nothing: KAFKA_ERR_RECORD");
	b.len = 0;
	legacy_put(&b, 0, 1, KAFKA_COMPRESSION_LZ4, 0, NULL, -1, (const uint8_t *) "not lz4 at all", 14);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_CORRUPT && ta_state.live == 0,
		  "legacy: wrapper value that is not lz4: KAFKA_ERR_CORRUPT");

	/* magic 1 wrapper offset below the last inner offset (and not 0) */
	inner.len = 0;
	legacy_put_records(&inner, three, 3, 1, 0);
	b.len = 0;
	legacy_put_wrapper(&b, &inner, 1, KAFKA_COMPRESSION_GZIP, 0, 1, 0, HC_CORRECT);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_RECORD && ta_state.live == 0,
		  "legacy: magic 1 wrapper offset 1 below the last inner offset 2: KAFKA_ERR_RECORD");
	inner.len = 0;
	legacy_put_records(&inner, three, 3, 0, 0);
	b.len = 0;
	legacy_put_wrapper(&b, &inner, 0, KAFKA_COMPRESSION_GZIP, 0, 1, 0, HC_CORRECT);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_OK,
		  "legacy: magic 0 wrapper offsets are not compared (absolute inner offsets)");

	/* magic 2: a v2 batch first is KAFKA_ERR_MAGIC, after legacy messages RECORD */
	kafka_batch_encode(three, 3, KAFKA_COMPRESSION_NONE, &v2, &v2len, &test_alloc);
	CHECK(legacy_rc(v2, v2len, 1 << 20) == KAFKA_ERR_MAGIC &&
		  legacy_rc(v2, 17, 1 << 20) == KAFKA_ERR_MAGIC,
		  "legacy: a RecordBatch v2 (even its first 17 bytes): KAFKA_ERR_MAGIC");
	b.len = 0;
	legacy_put_records(&b, three, 1, 1, 0);
	buf_put(&b, v2, v2len);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_RECORD,
		  "legacy: a magic 1 message then a v2 batch: KAFKA_ERR_RECORD");
	inner.len = 0;
	buf_put(&inner, v2, v2len);
	b.len = 0;
	legacy_put_wrapper(&b, &inner, 1, KAFKA_COMPRESSION_GZIP, 0, 0, 0, HC_CORRECT);
	ta_release(v2);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_RECORD && ta_state.live == 0,
		  "legacy: a v2 batch inside a wrapper: KAFKA_ERR_RECORD");

	/* structure, with correct CRCs */
	{
		static const int8_t magics[] = {3, -1, 127};
		int			ok = 1;

		for (i = 0; i < 3; i++)
		{
			b.len = 0;
			at = legacy_put(&b, 0, 0, 0, 0, NULL, -1, (const uint8_t *) "v", 1);
			b.data[at + 16] = (uint8_t) magics[i];
			legacy_fix_crc(b.data + at);
			if (legacy_rc(b.data, b.len, 1 << 20) != KAFKA_ERR_CORRUPT)
				ok = 0;
		}
		CHECK(ok, "legacy: magic 3, -1, 127: KAFKA_ERR_CORRUPT");
	}
	b.len = 0;
	at = legacy_put(&b, 0, 0, 0, 0, NULL, -1, NULL, -1);
	kafka_store_be32(b.data + at + 8, 13);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_CORRUPT,
		  "legacy: MessageSize 13 (< 14): KAFKA_ERR_CORRUPT");
	kafka_store_be32(b.data + at + 8, (uint32_t) -1);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_CORRUPT,
		  "legacy: MessageSize -1: KAFKA_ERR_CORRUPT");
	kafka_store_be32(b.data + at + 8, 0x7fffffff);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_TRUNCATED,
		  "legacy: MessageSize INT32_MAX: KAFKA_ERR_TRUNCATED");
	/* magic 1 message of 14..21 bytes: a magic 0 layout with magic 1 */
	b.len = 0;
	at = legacy_put(&b, 0, 0, 0, 0, (const uint8_t *) "1234", 4, (const uint8_t *) "5678", 4);
	b.data[at + 16] = 1;
	legacy_fix_crc(b.data + at);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_CORRUPT,
		  "legacy: magic 1 message of 22 bytes whose lengths do not fit: KAFKA_ERR_CORRUPT");
	b.len = 0;
	at = legacy_put(&b, 0, 0, 0, 0, NULL, -1, (const uint8_t *) "12345678", 8);
	kafka_store_be32(b.data + at + 8, 20);
	b.len = at + 12 + 20;
	b.data[at + 16] = 1;
	legacy_fix_crc(b.data + at);
	CHECK(legacy_rc(b.data, b.len, 1 << 20) == KAFKA_ERR_CORRUPT,
		  "legacy: magic 1 MessageSize 20 (< 22): KAFKA_ERR_CORRUPT");
	{
		/* key lengths -2, one too long; value length one short, one long */
		static const struct
		{
			int32_t		klen;
			int32_t		vlen;
		}			cases[] = {{-2, 4}, {5, 4}, {INT32_MAX, 4}, {4, 3}, {4, 5}, {4, -2},
		{4, INT32_MIN}};
		int			ok = 1;

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		{
			b.len = 0;
			at = legacy_put(&b, 0, 1, 0, 0, (const uint8_t *) "kkkk", 4,
							(const uint8_t *) "vvvv", 4);
			kafka_store_be32(b.data + at + 26, (uint32_t) cases[i].klen);
			kafka_store_be32(b.data + at + 34, (uint32_t) cases[i].vlen);
			legacy_fix_crc(b.data + at);
			if (legacy_rc(b.data, b.len, 1 << 20) != KAFKA_ERR_CORRUPT)
			{
				printf("# key %d value %d\n", cases[i].klen, cases[i].vlen);
				ok = 0;
			}
		}
		/* a null value with bytes after it */
		b.len = 0;
		at = legacy_put(&b, 0, 1, 0, 0, (const uint8_t *) "kkkk", 4,
						(const uint8_t *) "vvvv", 4);
		kafka_store_be32(b.data + at + 34, (uint32_t) -1);
		legacy_fix_crc(b.data + at);
		if (legacy_rc(b.data, b.len, 1 << 20) != KAFKA_ERR_CORRUPT)
			ok = 0;
		CHECK(ok, "legacy: key/value lengths that do not fit the message exactly: KAFKA_ERR_CORRUPT");
	}

	/* every bit flip of a set is rejected, or (offsets) changes nothing */
	for (codec = KAFKA_COMPRESSION_NONE; codec <= KAFKA_COMPRESSION_LZ4; codec++)
	{
		uint8_t    *ref;
		size_t		reflen;
		int32_t		count;
		int64_t		maxts;
		long		same = 0;

		b.len = 0;
		inner.len = 0;
		if (codec == KAFKA_COMPRESSION_NONE)
			legacy_put_records(&b, three, 3, 1, 0);
		else
		{
			legacy_put_records(&inner, three, 3, 1, 0);
			legacy_put_wrapper(&b, &inner, 1, codec, 0, 2, 0, HC_CORRECT);
		}
		legacy_convert(b.data, b.len, 1 << 20, &ref, &reflen, &count, &maxts);
		bad = 0;
		for (i = 0; i < b.len * 8; i++)
		{
			uint8_t    *out;
			size_t		outlen;
			int			rc;

			b.data[i / 8] ^= (uint8_t) (1 << (i % 8));
			rc = legacy_convert(b.data, b.len, 1 << 20, &out, &outlen, &count, &maxts);
			if (rc == KAFKA_OK)
			{
				if (outlen != reflen || memcmp(out, ref, reflen) != 0)
					bad++;
				else
					same++;
				ta_release(out);
			}
			b.data[i / 8] ^= (uint8_t) (1 << (i % 8));
		}
		ta_release(ref);
		CHECK(bad == 0 && ta_state.live == 0,
			  "legacy %s: all %zu bit flips rejected or (%ld, in offsets) without effect",
			  kafka_compression_name(codec), b.len * 8, same);
	}

	buf_free(&b);
	buf_free(&inner);
	buf_free(&inner2);
}

/* ----------------------------------------------------------------
 *		Benchmark
 * ----------------------------------------------------------------
 */
static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

static void
bench(void)
{
	uint8_t		value[100];
	uint8_t		buf[256];
	KafkaRecordIn rec;
	size_t		len = 0;
	long		iters = 5000000;
	long		i;
	double		t0;
	double		t1;
	volatile uint32_t sink = 0;
	KafkaBatchHeader h;

	fill_random(value, sizeof(value));
	memset(&rec, 0, sizeof(rec));
	rec.timestamp = 1700000000000;
	rec.key = (const uint8_t *) "user-12345678";
	rec.key_len = 13;
	rec.value = value;
	rec.value_len = 100;

	for (i = 0; i < 100000; i++)	/* warm up */
		kafka_batch_encode_into(&rec, 1, buf, sizeof(buf), &len);

	t0 = now_ns();
	for (i = 0; i < iters; i++)
	{
		rec.timestamp++;
		kafka_batch_encode_into(&rec, 1, buf, sizeof(buf), &len);
		sink += buf[17];
	}
	t1 = now_ns();
	printf("# bench: kafka_batch_encode_into, 1 record, 13-byte key, 100-byte value (%zu-byte batch): %.1f ns/call (CRC: %s)\n",
		   len, (t1 - t0) / iters, kafka_crc32c_hw_available() ? "SSE4.2" : "slice-by-8");

	t0 = now_ns();
	for (i = 0; i < iters; i++)
		sink += (uint32_t) kafka_batch_validate(buf, len, &h);
	t1 = now_ns();
	printf("# bench: kafka_batch_validate of that batch: %.1f ns/call\n", (t1 - t0) / iters);

	t0 = now_ns();
	for (i = 0; i < iters; i++)
		sink += kafka_crc32c_sw(0, buf + 21, len - 21);
	t1 = now_ns();
	printf("# bench: slice-by-8 CRC of its %zu CRC-covered bytes: %.1f ns/call\n", len - 21,
		   (t1 - t0) / iters);
	(void) sink;
}

int
main(int argc, char **argv)
{
	int			do_bench = !(argc > 1 && strcmp(argv[1], "--no-bench") == 0);

	ta_reset();
	test_crc32c();
	test_murmur2();
	test_varint();
	test_xxh32();
	test_compression();
	test_header_parsing();
	test_batch_counts();
	test_malformed_records();
	test_encode();
	test_record_sets();
	test_bit_flips();
	test_truncations();
	test_batch_stream();
	test_legacy_crc32();
	test_legacy_convert();
	test_legacy_errors();
	if (do_bench)
		bench();

	printf("%d passed, %d failed\n", n_passed, n_failed);
	return n_failed == 0 ? 0 : 1;
}
