/*-------------------------------------------------------------------------
 *
 * batchtool.c
 *	  Command-line access to the Kafka codec, for cross-checks against
 *	  other implementations (crosscheck.py) and for building fuzz corpora.
 *
 * Usage:
 *	batchtool encode <codec> [<nrecords> [<seed>]]
 *		Write one record batch to stdout.  With nrecords, the records are
 *		generated (deterministically from seed); without, they are read from
 *		stdin, one per line in the record format below without the offset:
 *			<timestamp> <key> <value> <nheaders> [<hkey> <hvalue>]...
 *	batchtool decode [<max_decompressed>]
 *		Read one batch from stdin, validate it (kafka_batch_check), print a
 *		"batch" line and one "record" line per record:
 *			batch <BaseOffset> <Attributes> <RecordsCount> <LastOffsetDelta>
 *				  <BaseTimestamp> <MaxTimestamp> <ProducerId> <ProducerEpoch>
 *				  <BaseSequence>
 *			record <offset> <timestamp> <key> <value> <nheaders>
 *				   [<hkey> <hvalue>]...
 *	batchtool legacy [<max_decompressed>]
 *		Read a legacy message set (magic 0 or 1) from stdin, convert it with
 *		kafka_legacy_to_batch and write the RecordBatch v2 to stdout; on
 *		stderr, one line "legacy <record_count> <max_timestamp>".
 *	batchtool compress <codec>			stdin -> stdout
 *	batchtool decompress <codec> [<max>]	stdin -> stdout
 *	batchtool murmur2 <num_partitions>
 *		For each line of stdin (a byte string), print "<murmur2> <partition>".
 *
 * Byte strings are written "-" for null and "x" followed by lower-case hex
 * otherwise ("x" alone is empty).  <codec> is a number 0-4 or a name.
 * Errors go to stderr as "error: ..." with exit status 1.
 *
 * test/codec/batchtool.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/codec.h"
#include "kafka/compress.h"
#include "kafka/legacy.h"
#include "kafka/murmur2.h"
#include "kafka/record.h"

static void fail(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));

static void
fail(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static void *
xmalloc(size_t size)
{
	void	   *p = malloc(size > 0 ? size : 1);

	if (p == NULL)
		fail("out of memory");
	return p;
}

static void *
xrealloc(void *p, size_t size)
{
	p = realloc(p, size > 0 ? size : 1);
	if (p == NULL)
		fail("out of memory");
	return p;
}

static void *
std_alloc(void *ctx, size_t size)
{
	return malloc(size);
}

static void
std_free(void *ctx, void *ptr)
{
	free(ptr);
}

static const KafkaAllocator std_allocator = {std_alloc, std_free, NULL};

static uint8_t *
read_all(FILE *f, size_t *len)
{
	size_t		cap = 65536;
	size_t		n = 0;
	uint8_t    *buf = xmalloc(cap);

	for (;;)
	{
		size_t		got;

		if (n == cap)
		{
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		got = fread(buf + n, 1, cap - n, f);
		if (got == 0)
			break;
		n += got;
	}
	if (ferror(f))
		fail("read error: %s", strerror(errno));
	*len = n;
	return buf;
}

static void
write_all(const uint8_t *buf, size_t len)
{
	if (len > 0 && fwrite(buf, 1, len, stdout) != len)
		fail("write error");
	if (fflush(stdout) != 0)
		fail("write error");
}

static int
parse_codec(const char *s)
{
	int			codec = kafka_compression_from_name(s);

	if (codec < 0)
	{
		char	   *end;
		long		v = strtol(s, &end, 10);

		if (*end != '\0' || v < 0 || v > KAFKA_COMPRESSION_MAX)
			fail("unknown codec \"%s\"", s);
		codec = (int) v;
	}
	return codec;
}

static void
print_bytes(const uint8_t *p, int32_t len)
{
	int32_t		i;

	if (len < 0)
	{
		fputs(" -", stdout);
		return;
	}
	fputs(" x", stdout);
	for (i = 0; i < len; i++)
		printf("%02x", p[i]);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode a "-" / "x<hex>" token in place (the bytes overwrite the hex
 * digits, which take twice the room).
 */
static void
parse_bytes(char *tok, const uint8_t **data, int32_t *len)
{
	size_t		hexlen;
	size_t		i;
	uint8_t    *out = (uint8_t *) tok;

	if (strcmp(tok, "-") == 0)
	{
		*data = NULL;
		*len = -1;
		return;
	}
	if (tok[0] != 'x')
		fail("byte string must be - or x<hex>: \"%s\"", tok);
	hexlen = strlen(tok + 1);
	if (hexlen % 2 != 0)
		fail("odd number of hex digits");
	for (i = 0; i < hexlen / 2; i++)
	{
		int			hi = hexval(tok[1 + 2 * i]);
		int			lo = hexval(tok[2 + 2 * i]);

		if (hi < 0 || lo < 0)
			fail("bad hex digit");
		out[i] = (uint8_t) (hi << 4 | lo);
	}
	*data = out;
	*len = (int32_t) (hexlen / 2);
}

/* ----------------------------------------------------------------
 *		encode
 * ----------------------------------------------------------------
 */

/* Parse record lines from text (modified in place; must outlive recs). */
static int
parse_records(char *text, KafkaRecordIn **recs_out)
{
	KafkaRecordIn *recs = NULL;
	int			n = 0;
	int			cap = 0;
	char	   *line;
	char	   *save_line = NULL;

	for (line = strtok_r(text, "\n", &save_line); line != NULL;
		 line = strtok_r(NULL, "\n", &save_line))
	{
		KafkaRecordIn *r;
		char	   *save = NULL;
		char	   *tok;
		KafkaHeaderIn *hdrs;
		int32_t		j;

		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (n == cap)
		{
			cap = cap ? cap * 2 : 64;
			recs = xrealloc(recs, sizeof(KafkaRecordIn) * (size_t) cap);
		}
		r = &recs[n++];
		tok = strtok_r(line, " ", &save);
		if (tok == NULL)
			fail("empty record line");
		r->timestamp = strtoll(tok, NULL, 10);
		if ((tok = strtok_r(NULL, " ", &save)) == NULL)
			fail("missing key");
		parse_bytes(tok, &r->key, &r->key_len);
		if ((tok = strtok_r(NULL, " ", &save)) == NULL)
			fail("missing value");
		parse_bytes(tok, &r->value, &r->value_len);
		if ((tok = strtok_r(NULL, " ", &save)) == NULL)
			fail("missing header count");
		r->nheaders = (int32_t) strtol(tok, NULL, 10);
		if (r->nheaders < 0 || r->nheaders > 100000)
			fail("bad header count");
		hdrs = xmalloc(sizeof(KafkaHeaderIn) * (size_t) r->nheaders);
		for (j = 0; j < r->nheaders; j++)
		{
			if ((tok = strtok_r(NULL, " ", &save)) == NULL)
				fail("missing header key");
			parse_bytes(tok, &hdrs[j].key, &hdrs[j].key_len);
			if ((tok = strtok_r(NULL, " ", &save)) == NULL)
				fail("missing header value");
			parse_bytes(tok, &hdrs[j].value, &hdrs[j].value_len);
		}
		r->headers = hdrs;
	}
	*recs_out = recs;
	return n;
}

static uint64_t gen_state;

static uint64_t
gen_next(void)
{
	gen_state ^= gen_state >> 12;
	gen_state ^= gen_state << 25;
	gen_state ^= gen_state >> 27;
	return gen_state * 0x2545F4914F6CDD1DULL;
}

/* Generated records: a mix of nulls, empties, text, binary and headers. */
static int
generate_records(int n, uint64_t seed, KafkaRecordIn **recs_out)
{
	static const char *words[] = {"order ", "created ", "user ", "42 ", "eur ",
	"shipped ", "{\"id\": ", "} "};
	KafkaRecordIn *recs = xmalloc(sizeof(KafkaRecordIn) * (size_t) n);
	int			i;

	gen_state = seed * 0x9E3779B97F4A7C15ULL + 1;
	for (i = 0; i < n; i++)
	{
		KafkaRecordIn *r = &recs[i];
		size_t		vlen = (size_t) (gen_next() % 200);
		uint8_t    *key = xmalloc(16);
		uint8_t    *val = xmalloc(vlen);
		KafkaHeaderIn *hdrs = xmalloc(sizeof(KafkaHeaderIn) * 2);
		size_t		k;

		r->timestamp = 1700000000000 + i * 10 + (int64_t) (gen_next() % 7);
		r->key_len = (gen_next() % 4 == 0) ? -1 : (int32_t) (gen_next() % 16);
		for (k = 0; k < 16; k++)
			key[k] = (uint8_t) ('a' + gen_next() % 26);
		r->key = key;
		for (k = 0; k < vlen;)
		{
			const char *w = words[gen_next() % 8];
			size_t		wl = strlen(w);

			if (gen_next() % 10 == 0)
				val[k++] = (uint8_t) gen_next();
			else
			{
				if (wl > vlen - k)
					wl = vlen - k;
				memcpy(val + k, w, wl);
				k += wl;
			}
		}
		r->value = val;
		r->value_len = (gen_next() % 9 == 0) ? -1 : (int32_t) vlen;
		r->nheaders = (int32_t) (gen_next() % 3);
		hdrs[0].key = (const uint8_t *) "trace-id";
		hdrs[0].key_len = 8;
		hdrs[0].value = key;
		hdrs[0].value_len = 8;
		hdrs[1].key = (const uint8_t *) "empty";
		hdrs[1].key_len = 5;
		hdrs[1].value = NULL;
		hdrs[1].value_len = -1;
		r->headers = hdrs;
	}
	*recs_out = recs;
	return n;
}

static int
cmd_encode(int argc, char **argv)
{
	int			codec;
	KafkaRecordIn *recs;
	int			n;
	uint8_t    *batch;
	size_t		len;
	int			rc;

	if (argc < 1)
		fail("usage: batchtool encode <codec> [<nrecords> [<seed>]]");
	codec = parse_codec(argv[0]);
	if (argc >= 2)
	{
		long		count = strtol(argv[1], NULL, 10);

		if (count < 1 || count > 10000000)
			fail("bad record count");
		n = generate_records((int) count, argc >= 3 ? strtoull(argv[2], NULL, 10) : 1, &recs);
	}
	else
	{
		size_t		tlen;
		char	   *text = (char *) read_all(stdin, &tlen);

		text = xrealloc(text, tlen + 1);
		text[tlen] = '\0';
		n = parse_records(text, &recs);
		if (n == 0)
			fail("no records on stdin");
	}
	rc = kafka_batch_encode(recs, n, codec, &batch, &len, &std_allocator);
	if (rc != KAFKA_OK)
		fail("encode: %s", kafka_codec_strerror(rc));
	write_all(batch, len);
	return 0;
}

/* ----------------------------------------------------------------
 *		decode
 * ----------------------------------------------------------------
 */
static int
cmd_decode(int argc, char **argv)
{
	size_t		len;
	uint8_t    *batch = read_all(stdin, &len);
	size_t		max = argc >= 1 ? strtoull(argv[0], NULL, 10) : 256 * 1024 * 1024;
	KafkaRecordIter it;
	KafkaRecordView rv;
	const KafkaBatchHeader *h = &it.Header;
	int			rc;

	rc = kafka_records_begin(&it, batch, len, max, &std_allocator);
	if (rc != KAFKA_OK)
		fail("batch: %s", kafka_codec_strerror(rc));
	printf("batch %" PRId64 " %d %" PRId32 " %" PRId32 " %" PRId64 " %" PRId64 " %" PRId64 " %d %" PRId32 "\n",
		   h->BaseOffset, h->Attributes, h->RecordsCount, h->LastOffsetDelta,
		   h->BaseTimestamp, h->MaxTimestamp, h->ProducerId, h->ProducerEpoch,
		   h->BaseSequence);
	while ((rc = kafka_records_next(&it, &rv)) == 1)
	{
		const uint8_t *cursor = rv.Headers;
		KafkaHeaderIn hdr;

		printf("record %" PRId64 " %" PRId64, rv.Offset, rv.Timestamp);
		print_bytes(rv.Key, rv.KeyLen);
		print_bytes(rv.Value, rv.ValueLen);
		printf(" %" PRId32, rv.HeadersCount);
		while (kafka_record_header_next(&cursor, rv.Headers + rv.HeadersLen, &hdr) == 1)
		{
			print_bytes(hdr.key, hdr.key_len);
			print_bytes(hdr.value, hdr.value_len);
		}
		printf("\n");
	}
	kafka_records_end(&it);
	if (rc != 0)
		fail("record: %s", kafka_codec_strerror(rc));
	if (fflush(stdout) != 0)
		fail("write error");
	free(batch);
	return 0;
}

/* ----------------------------------------------------------------
 *		legacy
 * ----------------------------------------------------------------
 */
static int
cmd_legacy(int argc, char **argv)
{
	size_t		len;
	uint8_t    *set = read_all(stdin, &len);
	size_t		max = argc >= 1 ? strtoull(argv[0], NULL, 10) : 256 * 1024 * 1024;
	uint8_t    *batch;
	size_t		batch_len;
	int32_t		count;
	int64_t		max_timestamp;
	int			rc;

	rc = kafka_legacy_to_batch(set, len, &std_allocator, max, &batch, &batch_len,
							   &count, &max_timestamp);
	if (rc != KAFKA_OK)
		fail("legacy: %s", kafka_codec_strerror(rc));
	write_all(batch, batch_len);
	fprintf(stderr, "legacy %" PRId32 " %" PRId64 "\n", count, max_timestamp);
	free(batch);
	free(set);
	return 0;
}

/* ----------------------------------------------------------------
 *		compress, decompress, murmur2
 * ----------------------------------------------------------------
 */
static int
cmd_compress(int argc, char **argv, int decompress)
{
	size_t		len;
	uint8_t    *in;
	uint8_t    *out;
	size_t		outlen;
	int			codec;
	int			rc;

	if (argc < 1)
		fail("usage: batchtool %s <codec>", decompress ? "decompress" : "compress");
	codec = parse_codec(argv[0]);
	in = read_all(stdin, &len);
	if (decompress)
		rc = kafka_decompress(codec, in, len,
							  argc >= 2 ? strtoull(argv[1], NULL, 10) : 256 * 1024 * 1024,
							  &out, &outlen, &std_allocator);
	else
		rc = kafka_compress(codec, in, len, &out, &outlen, &std_allocator);
	if (rc != KAFKA_OK)
		fail("%s: %s", decompress ? "decompress" : "compress", kafka_codec_strerror(rc));
	write_all(out, outlen);
	free(out);
	free(in);
	return 0;
}

static int
cmd_murmur2(int argc, char **argv)
{
	size_t		tlen;
	char	   *text;
	char	   *line;
	char	   *save = NULL;
	int32_t		parts;

	if (argc < 1)
		fail("usage: batchtool murmur2 <num_partitions>");
	parts = (int32_t) strtol(argv[0], NULL, 10);
	text = (char *) read_all(stdin, &tlen);
	text = xrealloc(text, tlen + 1);
	text[tlen] = '\0';
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
	{
		const uint8_t *key;
		int32_t		klen;

		parse_bytes(line, &key, &klen);
		if (klen < 0)
			fail("murmur2 of a null key");
		printf("%" PRId32 " %" PRId32 "\n", kafka_murmur2(key, (size_t) klen),
			   kafka_partition_for_key(key, (size_t) klen, parts));
	}
	if (fflush(stdout) != 0)
		fail("write error");
	free(text);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		fail("usage: batchtool encode|decode|legacy|compress|decompress|murmur2 ...");
	if (strcmp(argv[1], "encode") == 0)
		return cmd_encode(argc - 2, argv + 2);
	if (strcmp(argv[1], "decode") == 0)
		return cmd_decode(argc - 2, argv + 2);
	if (strcmp(argv[1], "legacy") == 0)
		return cmd_legacy(argc - 2, argv + 2);
	if (strcmp(argv[1], "compress") == 0)
		return cmd_compress(argc - 2, argv + 2, 0);
	if (strcmp(argv[1], "decompress") == 0)
		return cmd_compress(argc - 2, argv + 2, 1);
	if (strcmp(argv[1], "murmur2") == 0)
		return cmd_murmur2(argc - 2, argv + 2);
	fail("unknown command \"%s\"", argv[1]);
}
