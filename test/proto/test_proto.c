/*-------------------------------------------------------------------------
 *
 * test_proto.c
 *	  Unit tests of the Kafka protocol codec (src/kafka/protocol.c,
 *	  messages.c, api_*.c).
 *
 *	- primitives and headers against hand-written bytes;
 *	- every API and every supported version, both directions: requests are
 *	  encoded by the generated test encoder and decoded by the broker's
 *	  decoder, responses encoded by the broker's encoder and decoded by the
 *	  generated test decoder, each over random and minimal values, compared
 *	  in canonical text form; fields a version lacks must decode to their
 *	  schema defaults;
 *	- every strict prefix of every valid request (header + body) is
 *	  rejected, from an exactly sized buffer (so ASan sees any overread);
 *	- mutated requests never crash and never allocate more than 16 bytes
 *	  per input byte;
 *	- ApiVersions v0/v3 and KIP-511 responses, a Fetch v12 response with a
 *	  tagged field, Metadata v12 and Fetch v12 requests, CreateTopics v5
 *	  responses against hand-assembled bytes; for the group APIs, old and
 *	  flexible JoinGroup, SyncGroup and OffsetCommit requests and responses,
 *	  OffsetFetch v1/v2/v8, FindCoordinator v0/v4 and LeaveGroup v1/v5;
 *	- the Fetch zero-copy splice contract.
 *
 * Prints one line per check and ends with "N passed, M failed"; exits 1
 * if anything failed.
 *
 * test/proto/test_proto.c
 *
 *-------------------------------------------------------------------------
 */
#include "testcodec.h"
#include "kafka/api_errors.h"

#define NSEEDS 40

static int	npassed;
static int	nfailed;
static TestArena arena;			/* decoders' allocations */
static TestArena garena;		/* test values and encoders' buffers */

static void check(bool ok, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static void
check(bool ok, const char *fmt,...)
{
	va_list		ap;

	printf("%s - ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (ok)
		npassed++;
	else
		nfailed++;
}

static bool
bytes_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t		i;

	if (alen != blen || memcmp(a, b, alen) != 0)
	{
		printf("#   got      ");
		for (i = 0; i < alen; i++)
			printf("%02x", a[i]);
		printf("\n#   expected ");
		for (i = 0; i < blen; i++)
			printf("%02x", b[i]);
		printf("\n");
		return false;
	}
	return true;
}

#define BYTES(...) ((const uint8_t[]) {__VA_ARGS__}), sizeof((const uint8_t[]) {__VA_ARGS__})

/* ----------------------------------------------------------------------
 * Primitives
 * ----------------------------------------------------------------------
 */
static void
test_table(void)
{
	int			i;
	bool		ok = test_apis_count == kafka_apis_count;

	for (i = 0; ok && i < test_apis_count; i++)
	{
		const TestApi *t = &test_apis[i];
		const KafkaApiInfo *api = kafka_api_lookup(t->key);

		ok = api != NULL && api->MinVersion == t->min && api->MaxVersion == t->max &&
			api->FlexibleVersion == t->flex && strcmp(api->Name, t->name) == 0 &&
			strcmp(kafka_api_name(t->key), t->name) == 0;
		if (!ok)
			printf("#   %s differs\n", t->name);
	}
	for (i = 1; ok && i < kafka_apis_count; i++)
		ok = kafka_apis[i - 1].ApiKey < kafka_apis[i].ApiKey;
	for (i = 0; ok && i < kafka_apis_count; i++)
		ok = kafka_apis[i].Decode != NULL && kafka_apis[i].Encode != NULL &&
			kafka_apis[i].QuotaClass != KAFKA_QUOTA_NONE;
	check(ok, "kafka_apis[] agrees with the generator's ranges and is sorted");
	check(kafka_api_lookup(KAFKA_API_PRODUCE)->AclOperation == KAFKA_ACL_WRITE &&
		  kafka_api_lookup(KAFKA_API_PRODUCE)->ResourceType == KAFKA_RESOURCE_TOPIC &&
		  kafka_api_lookup(KAFKA_API_PRODUCE)->QuotaClass == KAFKA_QUOTA_PRODUCE &&
		  kafka_api_lookup(KAFKA_API_API_VERSIONS)->AclOperation == KAFKA_ACL_UNKNOWN &&
		  kafka_api_lookup(KAFKA_API_CREATE_TOPICS)->QuotaClass ==
		  KAFKA_QUOTA_CONTROLLER_MUTATION,
		  "kafka_apis[]: ACL and quota columns");
	check(strcmp(kafka_api_name(KAFKA_API_SASL_HANDSHAKE), "SaslHandshake") == 0 &&
		  strcmp(kafka_api_name(KAFKA_API_DESCRIBE_CLUSTER), "DescribeCluster") == 0 &&
		  strcmp(kafka_api_name(KAFKA_API_METADATA), "Metadata") == 0 &&
		  strcmp(kafka_api_name(4), "?") == 0,
		  "kafka_api_name of served and unserved keys");
	check(kafka_api_lookup(KAFKA_API_END_TXN) == NULL && kafka_api_lookup(-1) == NULL &&
		  !kafka_api_version_supported(KAFKA_API_FETCH, 3) &&
		  kafka_api_version_supported(KAFKA_API_FETCH, 4) &&
		  kafka_api_version_supported(KAFKA_API_FETCH, 17) &&
		  !kafka_api_version_supported(KAFKA_API_FETCH, 18) &&
		  kafka_api_version_supported(KAFKA_API_OFFSET_DELETE, 0) &&
		  !kafka_api_version_supported(KAFKA_API_OFFSET_DELETE, 1) &&
		  !kafka_api_version_supported(KAFKA_API_JOIN_GROUP, 10),
		  "kafka_api_lookup / kafka_api_version_supported");
	check(kafka_request_header_version(KAFKA_API_METADATA, 8) == 1 &&
		  kafka_request_header_version(KAFKA_API_METADATA, 9) == 2 &&
		  kafka_request_header_version(KAFKA_API_API_VERSIONS, 3) == 2 &&
		  kafka_request_header_version(KAFKA_API_API_VERSIONS, 7) == 2 &&
		  kafka_request_header_version(999, 7) == 1 &&
		  kafka_request_header_version(KAFKA_API_JOIN_GROUP, 5) == 1 &&
		  kafka_request_header_version(KAFKA_API_JOIN_GROUP, 6) == 2 &&
		  kafka_request_header_version(KAFKA_API_OFFSET_DELETE, 0) == 1 &&
		  kafka_response_header_version(KAFKA_API_OFFSET_DELETE, 0) == 0 &&
		  kafka_response_header_version(KAFKA_API_FIND_COORDINATOR, 3) == 1 &&
		  kafka_response_header_version(KAFKA_API_FIND_COORDINATOR, 2) == 0 &&
		  kafka_response_header_version(KAFKA_API_API_VERSIONS, 3) == 0 &&
		  kafka_response_header_version(KAFKA_API_FETCH, 12) == 1 &&
		  kafka_response_header_version(KAFKA_API_FETCH, 11) == 0 &&
		  kafka_response_header_version(KAFKA_API_PRODUCE, 9) == 1,
		  "request and response header versions");
	check(strcmp(kafka_error_name(35), "UNSUPPORTED_VERSION") == 0 &&
		  strcmp(kafka_error_name(-1), "UNKNOWN_SERVER_ERROR") == 0 &&
		  strcmp(kafka_error_name(128), "INVALID_REGULAR_EXPRESSION") == 0 &&
		  strcmp(kafka_error_name(1000), "?") == 0,
		  "kafka_error_name");
}

static void
test_writer_primitives(void)
{
	KafkaWriter w;
	uint8_t		big[300];
	size_t		mark;
	size_t		off;

	kafka_writer_init(&w, &arena.alloc);

	kafka_write_int8(&w, -2);
	kafka_write_bool(&w, true);
	kafka_write_int16(&w, 0x0102);
	kafka_write_int32(&w, -1);
	kafka_write_int64(&w, INT64_C(0x0102030405060708));
	kafka_write_uint32(&w, 0xdeadbeef);
	check(w.err == KAFKA_OK &&
		  bytes_eq(w.buf, w.len, BYTES(0xfe, 0x01, 0x01, 0x02, 0xff, 0xff, 0xff, 0xff,
									   1, 2, 3, 4, 5, 6, 7, 8, 0xde, 0xad, 0xbe, 0xef)),
		  "fixed-width integers are big-endian");

	kafka_writer_reset(&w);
	kafka_write_uvarint(&w, 0);
	kafka_write_uvarint(&w, 127);
	kafka_write_uvarint(&w, 128);
	kafka_write_uvarint(&w, 300);
	kafka_write_uvarint(&w, UINT32_MAX);
	kafka_write_varint(&w, -1);
	kafka_write_varlong(&w, -2);
	check(bytes_eq(w.buf, w.len, BYTES(0x00, 0x7f, 0x80, 0x01, 0xac, 0x02,
									   0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x03)),
		  "unsigned varints and zig-zag varint/varlong");

	kafka_writer_reset(&w);
	w.flexible = false;
	kafka_write_string(&w, kafka_str("ab"));
	kafka_write_nullable_string(&w, kafka_str_null());
	kafka_write_string(&w, kafka_str(""));
	kafka_write_bytes(&w, (KafkaBytes) {(const uint8_t *) "\x01", 1});
	kafka_write_nullable_bytes(&w, kafka_bytes_null());
	kafka_write_array_len(&w, 2);
	kafka_write_array_len(&w, -1);
	kafka_write_tagged_fields_empty(&w);
	check(w.err == KAFKA_OK &&
		  bytes_eq(w.buf, w.len, BYTES(0x00, 0x02, 'a', 'b', 0xff, 0xff, 0x00, 0x00,
									   0x00, 0x00, 0x00, 0x01, 0x01, 0xff, 0xff, 0xff, 0xff,
									   0x00, 0x00, 0x00, 0x02, 0xff, 0xff, 0xff, 0xff)),
		  "non-flexible strings, bytes, arrays; no tagged fields");

	kafka_writer_reset(&w);
	w.flexible = true;
	kafka_write_string(&w, kafka_str("ab"));
	kafka_write_nullable_string(&w, kafka_str_null());
	kafka_write_string(&w, kafka_str(""));
	kafka_write_bytes(&w, (KafkaBytes) {(const uint8_t *) "\x01", 1});
	kafka_write_nullable_bytes(&w, kafka_bytes_null());
	kafka_write_array_len(&w, 2);
	kafka_write_array_len(&w, -1);
	kafka_write_tagged_fields_empty(&w);
	check(w.err == KAFKA_OK &&
		  bytes_eq(w.buf, w.len, BYTES(0x03, 'a', 'b', 0x00, 0x01, 0x02, 0x01, 0x00,
									   0x03, 0x00, 0x00)),
		  "compact strings, bytes, arrays; empty tagged fields");

	kafka_writer_reset(&w);
	kafka_write_string(&w, kafka_str_null());
	check(w.err == KAFKA_ERR_INVALID_ARG, "null in a non-nullable string is refused");
	kafka_writer_reset(&w);
	check(!kafka_write_array_begin(&w, -1, NULL, false) && w.err == KAFKA_ERR_INVALID_ARG,
		  "null in a non-nullable array is refused");
	kafka_writer_reset(&w);
	check(!kafka_write_array_begin(&w, 2, NULL, false) && w.err == KAFKA_ERR_INVALID_ARG,
		  "array count without elements is refused");
	kafka_writer_reset(&w);
	{
		static char longstr[40000];
		KafkaStr	s;

		memset(longstr, 'x', sizeof(longstr));
		s.ptr = longstr;
		s.len = 32768;
		kafka_write_string(&w, s);
		check(w.err == KAFKA_ERR_INVALID_ARG, "string above 32767 bytes is refused");
	}

	/* tagged field whose size needs two varint bytes: the value moves */
	kafka_writer_reset(&w);
	w.flexible = true;
	memset(big, 0xab, sizeof(big));
	kafka_write_uvarint(&w, 2);
	mark = kafka_write_tag_begin(&w, 0);
	kafka_write_int16(&w, 0x0102);
	kafka_write_tag_end(&w, mark);
	mark = kafka_write_tag_begin(&w, 5);
	kafka_write_raw(&w, big, 200);
	kafka_write_tag_end(&w, mark);
	check(w.err == KAFKA_OK && w.len == 1 + 4 + 3 + 200 &&
		  bytes_eq(w.buf, 11, BYTES(0x02, 0x00, 0x02, 0x01, 0x02, 0x05, 0xc8, 0x01, 0xab, 0xab, 0xab)) &&
		  w.buf[w.len - 1] == 0xab,
		  "tagged fields: sizes patched, a 200-byte value shifted for a 2-byte size");

	kafka_writer_reset(&w);
	off = kafka_write_reserve_int32(&w);
	kafka_write_int8(&w, 7);
	kafka_write_patch_int32(&w, off, 0x01020304);
	check(bytes_eq(w.buf, w.len, BYTES(1, 2, 3, 4, 7)), "reserve and patch an int32");

	kafka_writer_reset(&w);
	off = kafka_response_begin(&w, 7, 1);
	kafka_write_int8(&w, (int8_t) 0xaa);
	kafka_response_end(&w, off);
	check(bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 6, 0, 0, 0, 7, 0, 0xaa)),
		  "response frame with header v1");
	kafka_writer_reset(&w);
	off = kafka_response_begin(&w, 7, 0);
	kafka_response_end(&w, off);
	check(bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 4, 0, 0, 0, 7)),
		  "response frame with header v0");

	kafka_writer_release(&w);
	check(arena.live_bytes == 0, "writer releases all its memory");
	arena_reset(&arena);
}

static void
test_reader_primitives(void)
{
	KafkaReader r;
	int8_t		i8;
	int16_t		i16;
	int32_t		i32;
	int64_t		i64;
	uint32_t	u32;
	bool		b;
	KafkaStr	s;
	KafkaBytes	v;
	int32_t		n;

	kafka_reader_init(&r, BYTES(0xfe, 0x02, 0x01, 0x02, 0xff, 0xff, 0xff, 0xfe,
								1, 2, 3, 4, 5, 6, 7, 8, 0xac, 0x02, 0x03), false);
	check(kafka_read_int8(&r, &i8) && i8 == -2 && kafka_read_bool(&r, &b) && b &&
		  kafka_read_int16(&r, &i16) && i16 == 0x0102 &&
		  kafka_read_int32(&r, &i32) && i32 == -2 &&
		  kafka_read_int64(&r, &i64) && i64 == INT64_C(0x0102030405060708) &&
		  kafka_read_uvarint(&r, &u32) && u32 == 300 &&
		  kafka_read_varint(&r, &i32) && i32 == -2 &&
		  kafka_reader_remaining(&r) == 0,
		  "fixed-width integers, bool 0x02 is true, varints");
	check(!kafka_read_int8(&r, &i8) && r.err == KAFKA_ERR_TRUNCATED &&
		  kafka_reader_offset(&r) == 19 && !kafka_read_int8(&r, &i8),
		  "reading past the end: KAFKA_ERR_TRUNCATED, sticky");

	kafka_reader_init(&r, BYTES(0x80, 0x80, 0x80, 0x80, 0x80, 0x01), false);
	check(!kafka_read_uvarint(&r, &u32) && r.err == KAFKA_ERR_CORRUPT,
		  "over-long varint: KAFKA_ERR_CORRUPT");

	kafka_reader_init(&r, BYTES(0x00, 0x02, 'a', 'b', 0xff, 0xff, 0xff, 0xff), false);
	check(kafka_read_string(&r, &s) && s.len == 2 && memcmp(s.ptr, "ab", 2) == 0 &&
		  kafka_read_nullable_string(&r, &s) && s.len == -1 && s.ptr == NULL &&
		  !kafka_read_string(&r, &s) && r.err == KAFKA_ERR_CORRUPT,
		  "strings: value, null, null where not nullable is KAFKA_ERR_CORRUPT");

	kafka_reader_init(&r, BYTES(0x00, 0x05, 'a', 'b'), false);
	check(!kafka_read_string(&r, &s) && r.err == KAFKA_ERR_TRUNCATED,
		  "string longer than the input: KAFKA_ERR_TRUNCATED");
	kafka_reader_init(&r, BYTES(0xff, 0xfe), false);
	check(!kafka_read_nullable_string(&r, &s) && r.err == KAFKA_ERR_CORRUPT,
		  "string length -2: KAFKA_ERR_CORRUPT");

	kafka_reader_init(&r, BYTES(0x03, 'a', 'b', 0x00, 0x01, 0x02, 0x09, 0x00), true);
	check(kafka_read_string(&r, &s) && s.len == 2 &&
		  kafka_read_nullable_string(&r, &s) && s.len == -1 &&
		  kafka_read_string(&r, &s) && s.len == 0 &&
		  kafka_read_bytes(&r, &v) && v.len == 1 && v.ptr[0] == 0x09 &&
		  kafka_read_records(&r, &v) && v.len == -1 && kafka_reader_remaining(&r) == 0,
		  "compact strings and bytes");
	kafka_reader_init(&r, BYTES(0xc2, 0xb8, 0x02), true);	/* 40001 */
	check(!kafka_read_string(&r, &s) && r.err == KAFKA_ERR_CORRUPT,
		  "compact string above 32767 bytes: KAFKA_ERR_CORRUPT");

	kafka_reader_init(&r, BYTES(0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x02, 1, 2, 3, 4, 5, 6, 7),
					  false);
	check(kafka_read_array_len(&r, &n, true, 10, 4) && n == -1 &&
		  !kafka_read_array_len(&r, &n, false, 10, 4) && r.err == KAFKA_ERR_TRUNCATED,
		  "array: null; 2 elements of 4 bytes in 7 bytes is KAFKA_ERR_TRUNCATED");
	kafka_reader_init(&r, BYTES(0x00, 0x00, 0x00, 0x0b), false);
	check(!kafka_read_array_len(&r, &n, false, 10, 1) && r.err == KAFKA_ERR_TOO_LARGE,
		  "array count above its maximum: KAFKA_ERR_TOO_LARGE");
	kafka_reader_init(&r, BYTES(0xff, 0xff, 0xff, 0xff), false);
	check(!kafka_read_array_len(&r, &n, false, 10, 1) && r.err == KAFKA_ERR_CORRUPT,
		  "null array where not nullable: KAFKA_ERR_CORRUPT");
	kafka_reader_init(&r, BYTES(0x80, 0x80, 0x80, 0x80, 0x08), true);
	check(!kafka_read_array_len(&r, &n, true, INT32_MAX, 1) && r.err != KAFKA_OK,
		  "compact array count 2^31 - 1 with no input: rejected");

	/* tagged fields: 2 fields, tag 0 size 1, tag 5 size 2 */
	kafka_reader_init(&r, BYTES(0x02, 0x00, 0x01, 0xaa, 0x05, 0x02, 0xbb, 0xcc, 0x42), true);
	check(kafka_read_tagged_fields_skip(&r) && kafka_reader_remaining(&r) == 1,
		  "tagged fields skipped");
	kafka_reader_init(&r, BYTES(0x02, 0x00, 0x01, 0xaa, 0x05, 0x03, 0xbb, 0xcc), true);
	check(!kafka_read_tagged_fields_skip(&r) && r.err == KAFKA_ERR_TRUNCATED,
		  "tagged field longer than the input: KAFKA_ERR_TRUNCATED");
	kafka_reader_init(&r, BYTES(0x7f, 0x00, 0x00), true);
	check(!kafka_read_tagged_fields_skip(&r) && r.err == KAFKA_ERR_TRUNCATED,
		  "tagged field count larger than the input allows: KAFKA_ERR_TRUNCATED");
	{
		uint32_t	tag;
		KafkaReader sub;

		kafka_reader_init(&r, BYTES(0x01, 0x00, 0x01, 0xaa, 0x42), true);
		check(kafka_read_tag_count(&r, &u32) && u32 == 1 &&
			  kafka_read_tag(&r, &tag, &sub) && tag == 0 &&
			  !kafka_reader_join(&r, &sub, kafka_read_int16(&sub, &i16)) &&
			  r.err == KAFKA_ERR_TRUNCATED,
			  "a tagged value cannot be read past its size; the error reaches the parent");
	}
}

static void
test_headers(void)
{
	KafkaReader r;
	KafkaRequestHeader h;
	KafkaWriter w;

	/* Metadata v1, correlation 7, client id "cli" */
	kafka_reader_init(&r, BYTES(0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07,
								0x00, 0x03, 'c', 'l', 'i', 0x99), false);
	check(kafka_request_header_decode(&r, &h) == KAFKA_OK && h.RequestApiKey == 3 &&
		  h.RequestApiVersion == 1 && h.CorrelationId == 7 && kafka_str_eq(h.ClientId, "cli") &&
		  h.HeaderVersion == 1 && kafka_reader_remaining(&r) == 1,
		  "request header v1");
	/* Metadata v9: header v2, ClientId still INT16-length, a header tag skipped */
	kafka_reader_init(&r, BYTES(0x00, 0x03, 0x00, 0x09, 0x00, 0x00, 0x00, 0x08,
								0x00, 0x03, 'c', 'l', 'i', 0x01, 0x03, 0x01, 0xff, 0x99), false);
	check(kafka_request_header_decode(&r, &h) == KAFKA_OK && h.HeaderVersion == 2 &&
		  kafka_str_eq(h.ClientId, "cli") && kafka_reader_remaining(&r) == 1 && !r.flexible,
		  "request header v2: non-compact ClientId, tagged fields skipped");
	kafka_reader_init(&r, BYTES(0x00, 0x03, 0x00, 0x09, 0x00, 0x00, 0x00, 0x08,
								0xff, 0xff, 0x00), false);
	check(kafka_request_header_decode(&r, &h) == KAFKA_OK && h.ClientId.len == -1,
		  "request header with null ClientId");
	/* ApiVersions v4 (unsupported, flexible): header v2 */
	kafka_reader_init(&r, BYTES(0x00, 0x12, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01,
								0x00, 0x00, 0x00), false);
	check(kafka_request_header_decode(&r, &h) == KAFKA_OK && h.HeaderVersion == 2 &&
		  kafka_reader_remaining(&r) == 0,
		  "request header of an unsupported ApiVersions v4 is still parsed (v2)");
	kafka_reader_init(&r, BYTES(0x00, 0x12, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00), false);
	check(kafka_request_header_decode(&r, &h) == KAFKA_ERR_TRUNCATED,
		  "truncated request header");

	kafka_writer_init(&w, &arena.alloc);
	h.RequestApiKey = KAFKA_API_FETCH;
	h.RequestApiVersion = 12;
	h.CorrelationId = 0x01020304;
	h.ClientId = kafka_str("c");
	kafka_request_header_encode(&w, &h);
	check(bytes_eq(w.buf, w.len, BYTES(0x00, 0x01, 0x00, 0x0c, 0x01, 0x02, 0x03, 0x04,
									   0x00, 0x01, 'c', 0x00)),
		  "request header encoder (v2)");
	kafka_writer_release(&w);
	arena_reset(&arena);
}

/* ----------------------------------------------------------------------
 * Round trips of every API and version
 * ----------------------------------------------------------------------
 */
static void
test_round_trips(void)
{
	KafkaWriter w;
	StrBuf		a,
				b,
				msg;
	int			ai;

	sb_init(&a);
	sb_init(&b);
	sb_init(&msg);
	kafka_writer_init(&w, &arena.alloc);
	for (ai = 0; ai < test_apis_count; ai++)
	{
		const TestApi *t = &test_apis[ai];
		int16_t		v;

		for (v = t->min; v <= t->max; v++)
		{
			int			dir;

			for (dir = 0; dir < 2; dir++)
			{
				int			seed;
				int			cases = 0;
				bool		ok = true;
				size_t		maxlen = 0;

				for (seed = 0; seed <= NSEEDS && ok; seed++)
				{
					void	   *orig = calloc(1, dir == 0 ? t->req_size : t->resp_size);
					void	   *dec = calloc(1, dir == 0 ? t->req_size : t->resp_size);
					Fill		f;
					KafkaReader r;
					int			rc;

					fill_init(&f, (uint64_t) seed * 1000 + v, seed == NSEEDS, &arena);
					kafka_writer_reset(&w);
					if (dir == 0)
					{
						t->fill_req(&f, v, orig);
						rc = t->enc_req(&w, v, orig);
					}
					else
					{
						t->fill_resp(&f, v, orig);
						rc = t->enc_resp(&w, v, orig);
					}
					if (rc != KAFKA_OK)
					{
						printf("#   seed %d: encode: %s\n", seed, kafka_codec_strerror(rc));
						ok = false;
					}
					else
					{
						kafka_reader_init(&r, w.buf, w.len, false);
						rc = dir == 0 ? t->dec_req(&r, v, dec, &arena.alloc)
							: t->dec_resp(&r, v, dec, &arena.alloc);
						sb_reset(&a);
						sb_reset(&b);
						sb_reset(&msg);
						if (dir == 0)
						{
							t->print_req(&a, v, orig);
							if (rc == KAFKA_OK)
								t->print_req(&b, v, dec);
						}
						else
						{
							t->print_resp(&a, v, orig);
							if (rc == KAFKA_OK)
								t->print_resp(&b, v, dec);
						}
						if (rc != KAFKA_OK)
						{
							printf("#   seed %d: decode: %s at %zu of %zu\n", seed,
								   kafka_codec_strerror(rc), kafka_reader_offset(&r), w.len);
							ok = false;
						}
						else if (kafka_reader_remaining(&r) != 0)
						{
							printf("#   seed %d: %zu bytes left\n", seed, kafka_reader_remaining(&r));
							ok = false;
						}
						else if (strcmp(a.data, b.data) != 0)
						{
							printf("#   seed %d:\n#   sent %s\n#   got  %s\n", seed, a.data, b.data);
							ok = false;
						}
						else if (dir == 0 && t->check_req(&msg, v, dec) != 0)
						{
							printf("#   seed %d: %s\n", seed, msg.data);
							ok = false;
						}
						if (w.len > maxlen)
							maxlen = w.len;
						cases++;
					}
					free(orig);
					free(dec);
					arena_reset(&arena);
					kafka_writer_init(&w, &arena.alloc);
				}
				check(ok, "%s v%d %s round trip (%d cases, up to %zu bytes)%s", t->name, v,
					  dir == 0 ? "request" : "response", cases, maxlen,
					  dir == 0 ? ", absent fields defaulted" : "");
			}
		}
	}
	kafka_writer_release(&w);
	arena_reset(&arena);
	sb_free(&a);
	sb_free(&b);
	sb_free(&msg);
}

/* Encode a whole request (header + body, no Size) into w. */
static int
encode_request(KafkaWriter *w, const TestApi *t, int16_t v, const void *req, int32_t corr)
{
	KafkaRequestHeader h;

	h.RequestApiKey = t->key;
	h.RequestApiVersion = v;
	h.CorrelationId = corr;
	h.ClientId = kafka_str("test-client");
	kafka_request_header_encode(w, &h);
	return t->enc_req(w, v, req);
}

/* Decode a whole request as the broker would. */
static int
decode_request(const uint8_t *p, size_t n, KafkaRequestBody *body, size_t *left)
{
	KafkaReader r;
	KafkaRequestHeader h;
	int			rc;

	kafka_reader_init(&r, p, n, false);
	rc = kafka_request_header_decode(&r, &h);
	if (rc == KAFKA_OK)
		rc = kafka_request_decode(&r, h.RequestApiKey, h.RequestApiVersion, body, &arena.alloc);
	if (left)
		*left = kafka_reader_remaining(&r);
	return rc;
}

static void
test_truncation(void)
{
	KafkaWriter w;
	int			ai;

	for (ai = 0; ai < test_apis_count; ai++)
	{
		const TestApi *t = &test_apis[ai];
		int16_t		v;

		for (v = t->min; v <= t->max; v++)
		{
			int			mode;
			bool		ok = true;
			size_t		total = 0;

			for (mode = 0; mode < 3 && ok; mode++)
			{
				void	   *req = calloc(1, t->req_size);
				KafkaRequestBody body;
				Fill		f;
				size_t		cut;
				uint8_t    *copy;
				size_t		left;
				int			rc;

				fill_init(&f, 77 + mode, mode == 2, &garena);
				t->fill_req(&f, v, req);
				kafka_writer_init(&w, &garena.alloc);
				encode_request(&w, t, v, req, 42);
				rc = decode_request(w.buf, w.len, &body, &left);
				if (rc != KAFKA_OK || left != 0)
				{
					printf("#   full request does not decode: %s\n", kafka_codec_strerror(rc));
					ok = false;
				}
				arena_reset(&arena);
				for (cut = 0; cut < w.len && ok; cut++)
				{
					/* exactly sized, so that ASan catches any overread */
					copy = malloc(cut > 0 ? cut : 1);
					memcpy(copy, w.buf, cut);
					rc = decode_request(copy, cut, &body, NULL);
					if (rc == KAFKA_OK)
					{
						printf("#   prefix of %zu of %zu bytes decoded\n", cut, w.len);
						ok = false;
					}
					free(copy);
					arena_reset(&arena);
				}
				total += w.len;
				free(req);
				arena_reset(&garena);
			}
			check(ok, "%s v%d: every strict prefix of 3 requests (%zu bytes) is rejected",
				  t->name, v, total);
		}
	}
}

/*
 * Random mutations of valid requests: no crash (ASan/UBSan build), and the
 * decoder allocates at most 16 bytes per input byte (plus a constant).
 */
static void
test_mutations(void)
{
	KafkaWriter w;
	int			ai;
	uint64_t	rng = 12345;

	for (ai = 0; ai < test_apis_count; ai++)
	{
		const TestApi *t = &test_apis[ai];
		int16_t		v;
		int			iter;
		bool		ok = true;
		int			decoded = 0;
		int			n = 0;

		for (v = t->min; v <= t->max && ok; v++)
		{
			void	   *req = calloc(1, t->req_size);
			Fill		f;

			fill_init(&f, 5 + v, false, &garena);
			t->fill_req(&f, v, req);
			kafka_writer_init(&w, &garena.alloc);
			encode_request(&w, t, v, req, 1);

			for (iter = 0; iter < 300 && ok; iter++)
			{
				size_t		mlen = w.len;
				uint8_t    *m = malloc(w.len + 1);
				KafkaRequestBody body;
				int			k;
				int			nmut;

				memcpy(m, w.buf, w.len);
				rng ^= rng << 13;
				rng ^= rng >> 7;
				rng ^= rng << 17;
				nmut = 1 + (int) (rng % 4);
				for (k = 0; k < nmut; k++)
				{
					size_t		pos;

					rng ^= rng << 13;
					rng ^= rng >> 7;
					rng ^= rng << 17;
					pos = (size_t) (rng >> 8) % (mlen > 0 ? mlen : 1);
					switch (rng % 5)
					{
						case 0:
							m[pos] ^= (uint8_t) (1 << ((rng >> 4) % 8));
							break;
						case 1:
							m[pos] = 0xff;
							break;
						case 2:
							m[pos] = 0x7f;
							break;
						case 3:
							if (mlen > 1)
							{
								memmove(m + pos, m + pos + 1, mlen - pos - 1);
								mlen--;
							}
							break;
						default:
							m[pos] = (uint8_t) (rng >> 16);
							break;
					}
				}
				if (decode_request(m, mlen, &body, NULL) == KAFKA_OK)
					decoded++;
				if (arena.peak_bytes > 16 * mlen + 256)
				{
					printf("#   %s v%d: %zu bytes allocated for %zu input bytes\n", t->name, v,
						   arena.peak_bytes, mlen);
					ok = false;
				}
				n++;
				free(m);
				arena_reset(&arena);
			}
			free(req);
			arena_reset(&garena);
		}
		check(ok, "%s: %d mutated requests decoded or rejected cleanly (%d decoded), "
			  "allocation <= 16 bytes per input byte", t->name, n, decoded);
	}
}

/* ----------------------------------------------------------------------
 * Hand-assembled messages
 * ----------------------------------------------------------------------
 */

/*
 * The ranges of src/kafka/api_table.h, as ApiVersions advertises them (the
 * broker answers with kafka_ApiVersionsResponse_fill): changing one must be
 * deliberate.
 */
static const int16_t advertised[][3] = {
	{0, 0, 13},					/* Produce */
	{1, 4, 17},					/* Fetch */
	{2, 1, 7},					/* ListOffsets */
	{3, 0, 13},					/* Metadata */
	{8, 0, 10},					/* OffsetCommit */
	{9, 0, 10},					/* OffsetFetch */
	{10, 0, 4},					/* FindCoordinator */
	{11, 0, 9},					/* JoinGroup */
	{12, 0, 4},					/* Heartbeat */
	{13, 0, 5},					/* LeaveGroup */
	{14, 0, 5},					/* SyncGroup */
	{15, 0, 5},					/* DescribeGroups */
	{16, 0, 5},					/* ListGroups */
	{17, 0, 1},					/* SaslHandshake */
	{18, 0, 3},					/* ApiVersions */
	{19, 2, 7},					/* CreateTopics */
	{20, 1, 6},					/* DeleteTopics */
	{21, 0, 2},					/* DeleteRecords */
	{22, 0, 4},					/* InitProducerId */
	{23, 2, 4},					/* OffsetForLeaderEpoch */
	{29, 0, 3},					/* DescribeAcls */
	{30, 0, 3},					/* CreateAcls */
	{31, 0, 3},					/* DeleteAcls */
	{32, 0, 4},					/* DescribeConfigs */
	{33, 0, 2},					/* AlterConfigs */
	{36, 0, 2},					/* SaslAuthenticate */
	{37, 0, 3},					/* CreatePartitions */
	{42, 0, 2},					/* DeleteGroups */
	{44, 0, 1},					/* IncrementalAlterConfigs */
	{47, 0, 0},					/* OffsetDelete */
	{48, 0, 1},					/* DescribeClientQuotas */
	{49, 0, 1},					/* AlterClientQuotas */
	{60, 0, 1},					/* DescribeCluster */
	{61, 0, 0},					/* DescribeProducers */
	{68, 0, 1},					/* ConsumerGroupHeartbeat */
	{69, 0, 0},					/* ConsumerGroupDescribe */
	{75, 0, 0},					/* DescribeTopicPartitions */
};
#define NADVERTISED ((int) (sizeof(advertised) / sizeof(advertised[0])))

static void
put16(uint8_t **p, int v)
{
	*(*p)++ = (uint8_t) (v >> 8);
	*(*p)++ = (uint8_t) v;
}

static void
put32(uint8_t **p, int32_t v)
{
	put16(p, (int) ((uint32_t) v >> 16));
	put16(p, v & 0xffff);
}

static void
test_api_versions_bytes(void)
{
	KafkaWriter w;
	KafkaApiVersionsResponse resp;
	KafkaApiVersion keys[64];
	uint8_t		exp[512];
	uint8_t    *p;
	size_t		start;
	int			i;
	int16_t		v;

	kafka_writer_init(&w, &arena.alloc);
	kafka_ApiVersionsResponse_fill(&resp, keys);

	for (v = 0; v <= 3; v++)
	{
		kafka_writer_reset(&w);
		start = kafka_response_begin(&w, 0x01020304,
									 kafka_response_header_version(KAFKA_API_API_VERSIONS, v));
		kafka_ApiVersionsResponse_encode(&w, v, &resp);
		kafka_response_end(&w, start);

		p = exp;
		put32(&p, 0);			/* Size, patched below */
		put32(&p, 0x01020304);	/* CorrelationId; header v0: no tags, even
								 * for v3 */
		put16(&p, 0);			/* ErrorCode */
		if (v >= 3)
			*p++ = NADVERTISED + 1; /* compact array */
		else
			put32(&p, NADVERTISED);
		for (i = 0; i < NADVERTISED; i++)
		{
			put16(&p, advertised[i][0]);
			put16(&p, advertised[i][1]);
			put16(&p, advertised[i][2]);
			if (v >= 3)
				*p++ = 0;		/* ApiVersion's tagged fields */
		}
		if (v >= 1)
			put32(&p, 0);		/* ThrottleTimeMs */
		if (v >= 3)
			*p++ = 0;			/* top-level tagged fields */
		{
			uint8_t    *q = exp;

			put32(&q, (int32_t) (p - exp - 4));	/* Size */
		}
		check(w.err == KAFKA_OK && bytes_eq(w.buf, w.len, exp, (size_t) (p - exp)),
			  "ApiVersions v%d response frame matches the hand-assembled bytes", v);
	}

	kafka_writer_reset(&w);
	kafka_ApiVersionsResponse_encode_unsupported(&w, 9);
	check(bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 16, 0, 0, 0, 9, 0, 35, 0, 0, 0, 1,
									   0, 18, 0, 0, 0, 3)),
		  "KIP-511: unsupported ApiVersions answered as v0, error 35, ApiKeys [{18,0,3}]");

	/* v3 with the tagged FinalizedFeaturesEpoch and SupportedFeatures */
	{
		KafkaSupportedFeatureKey feat;

		kafka_writer_reset(&w);
		resp.ApiKeysCount = 1;
		feat.Name = kafka_str("f");
		feat.MinVersion = 1;
		feat.MaxVersion = 2;
		resp.SupportedFeatures = &feat;
		resp.SupportedFeaturesCount = 1;
		resp.HasSupportedFeatures = true;
		resp.FinalizedFeaturesEpoch = 5;
		resp.HasFinalizedFeaturesEpoch = true;
		kafka_ApiVersionsResponse_encode(&w, 3, &resp);
		check(bytes_eq(w.buf, w.len, BYTES(0, 0, 2, 0, 0, 0, 0, 0, 13, 0, 0, 0, 0, 0,
										   2,	/* two tags */
										   0, 8, 2, 2, 'f', 0, 1, 0, 2, 0,	/* tag 0 */
										   1, 8, 0, 0, 0, 0, 0, 0, 0, 5,	/* tag 1 */
										   )),
			  "ApiVersions v3 response with tagged SupportedFeatures and FinalizedFeaturesEpoch");
	}
	kafka_writer_release(&w);
	arena_reset(&arena);
}

static void
test_flexible_bytes(void)
{
	KafkaWriter w;
	KafkaReader r;

	kafka_writer_init(&w, &arena.alloc);

	/* Fetch v12 response: one topic, one partition, CurrentLeader tag */
	{
		KafkaFetchResponse resp;
		KafkaFetchableTopicResponse topic;
		KafkaFetchPartitionData part;

		memset(&resp, 0, sizeof(resp));
		memset(&topic, 0, sizeof(topic));
		memset(&part, 0, sizeof(part));
		resp.SessionId = 0x11;
		resp.ResponsesCount = 1;
		resp.Responses = &topic;
		topic.Topic = kafka_str("t");
		topic.PartitionsCount = 1;
		topic.Partitions = &part;
		part.PartitionIndex = 2;
		part.HighWatermark = 10;
		part.LastStableOffset = 10;
		part.LogStartOffset = 0;
		part.AbortedTransactionsCount = -1;
		part.PreferredReadReplica = -1;
		part.Records.ptr = (const uint8_t *) "abc";
		part.Records.len = 3;
		part.HasCurrentLeader = true;
		part.CurrentLeader.LeaderId = 1;
		part.CurrentLeader.LeaderEpoch = 5;
		kafka_FetchResponse_encode(&w, 12, &resp);
		check(w.err == KAFKA_OK &&
			  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 0,	/* ThrottleTimeMs */
										   0, 0,	/* ErrorCode */
										   0, 0, 0, 0x11,	/* SessionId */
										   2,	/* Responses: 1 */
										   2, 't',	/* Topic */
										   2,	/* Partitions: 1 */
										   0, 0, 0, 2,	/* PartitionIndex */
										   0, 0,	/* ErrorCode */
										   0, 0, 0, 0, 0, 0, 0, 10,	/* HighWatermark */
										   0, 0, 0, 0, 0, 0, 0, 10,	/* LastStableOffset */
										   0, 0, 0, 0, 0, 0, 0, 0,	/* LogStartOffset */
										   0,	/* AbortedTransactions: null */
										   0xff, 0xff, 0xff, 0xff,	/* PreferredReadReplica */
										   4, 'a', 'b', 'c',	/* Records */
										   1, 1, 9,	/* 1 tag: tag 1, 9 bytes */
										   0, 0, 0, 1, 0, 0, 0, 5, 0,	/* CurrentLeader */
										   0,	/* topic tags */
										   0)),	/* response tags */
			  "Fetch v12 response with a tagged CurrentLeader matches hand-assembled bytes");

		kafka_writer_reset(&w);
		part.AbortedTransactionsCount = 0;
		kafka_FetchResponse_encode(&w, 4, &resp);
		check(w.err == KAFKA_OK &&
			  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 0,	/* ThrottleTimeMs */
										   0, 0, 0, 1,	/* Responses */
										   0, 1, 't',
										   0, 0, 0, 1,	/* Partitions */
										   0, 0, 0, 2, 0, 0,
										   0, 0, 0, 0, 0, 0, 0, 10,
										   0, 0, 0, 0, 0, 0, 0, 10,	/* LastStableOffset */
										   0, 0, 0, 0,	/* AbortedTransactions: [] */
										   0, 0, 0, 3, 'a', 'b', 'c')),
			  "Fetch v4 response matches hand-assembled bytes (no v5+/v7+/v11+ fields)");
	}

	/* Metadata v12 request: one topic by id with a null name */
	{
		KafkaMetadataRequest req;

		kafka_reader_init(&r, BYTES(2,	/* Topics: 1 */
									1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
									0,	/* Name: null */
									0,	/* topic tags */
									1,	/* AllowAutoTopicCreation */
									0,	/* IncludeTopicAuthorizedOperations */
									0), false);
		check(kafka_MetadataRequest_decode(&r, 12, &req, &arena.alloc) == KAFKA_OK &&
			  req.TopicsCount == 1 && req.Topics[0].TopicId.b[15] == 16 &&
			  req.Topics[0].Name.len == -1 && req.AllowAutoTopicCreation &&
			  !req.IncludeTopicAuthorizedOperations && kafka_reader_remaining(&r) == 0,
			  "Metadata v12 request from hand-assembled bytes (null name, topic id)");
		kafka_reader_init(&r, BYTES(0, 0, 0, 0), false);
		check(kafka_MetadataRequest_decode(&r, 0, &req, &arena.alloc) == KAFKA_OK &&
			  req.TopicsCount == 0 && req.AllowAutoTopicCreation &&
			  kafka_MetadataRequest_all_topics(&req, 0),
			  "Metadata v0 request []: all topics, AllowAutoTopicCreation defaults to true");
		kafka_reader_init(&r, BYTES(0, 0, 0, 0), false);
		check(kafka_MetadataRequest_decode(&r, 1, &req, &arena.alloc) == KAFKA_OK &&
			  !kafka_MetadataRequest_all_topics(&req, 1),
			  "Metadata v1 request []: no topics");
		kafka_reader_init(&r, BYTES(0xff, 0xff, 0xff, 0xff), false);
		check(kafka_MetadataRequest_decode(&r, 1, &req, &arena.alloc) == KAFKA_OK &&
			  kafka_MetadataRequest_all_topics(&req, 1),
			  "Metadata v1 request null: all topics");
		kafka_reader_init(&r, BYTES(0xff, 0xff, 0xff, 0xff), false);
		check(kafka_MetadataRequest_decode(&r, 0, &req, &arena.alloc) == KAFKA_ERR_CORRUPT,
			  "Metadata v0 request null: not nullable in v0 (as Kafka)");
	}

	/* Fetch v12 request with the tagged ClusterId */
	{
		KafkaFetchRequest req;

		kafka_reader_init(&r, BYTES(0xff, 0xff, 0xff, 0xff,	/* ReplicaId */
									0, 0, 1, 0,	/* MaxWaitMs */
									0, 0, 0, 1,	/* MinBytes */
									0, 1, 0, 0,	/* MaxBytes */
									1,	/* IsolationLevel */
									0, 0, 0, 0,	/* SessionId */
									0xff, 0xff, 0xff, 0xff,	/* SessionEpoch */
									2, 2, 't',	/* Topics: 1, "t" */
									2,	/* Partitions: 1 */
									0, 0, 0, 3,	/* Partition */
									0xff, 0xff, 0xff, 0xff,	/* CurrentLeaderEpoch */
									0, 0, 0, 0, 0, 0, 0, 7,	/* FetchOffset */
									0xff, 0xff, 0xff, 0xff,	/* LastFetchedEpoch */
									0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
									0, 0x10, 0, 0,	/* PartitionMaxBytes */
									0,	/* partition tags */
									0,	/* topic tags */
									1,	/* ForgottenTopicsData: [] */
									1,	/* RackId "" */
									2,	/* 2 tags */
									0, 3, 3, 'c', 'l',	/* ClusterId "cl" */
									9, 1, 0xee	/* unknown tag 9 */
									), false);
		check(kafka_FetchRequest_decode(&r, 12, &req, &arena.alloc) == KAFKA_OK &&
			  req.HasClusterId && kafka_str_eq(req.ClusterId, "cl") && req.ReplicaId == -1 &&
			  req.IsolationLevel == 1 && req.SessionEpoch == -1 && req.TopicsCount == 1 &&
			  kafka_str_eq(req.Topics[0].Topic, "t") && req.Topics[0].Partitions[0].Partition == 3 &&
			  req.Topics[0].Partitions[0].FetchOffset == 7 &&
			  req.Topics[0].Partitions[0].PartitionMaxBytes == 0x100000 &&
			  req.RackId.len == 0 && kafka_reader_remaining(&r) == 0,
			  "Fetch v12 request from hand-assembled bytes: tagged ClusterId read, unknown tag skipped");
	}

	/* CreateTopics v5 response with the tagged TopicConfigErrorCode */
	{
		KafkaCreateTopicsResponse resp;
		KafkaCreatableTopicResult res;

		memset(&resp, 0, sizeof(resp));
		memset(&res, 0, sizeof(res));
		resp.TopicsCount = 1;
		resp.Topics = &res;
		res.Name = kafka_str("t");
		res.ErrorCode = 0;
		res.ErrorMessage = kafka_str_null();
		res.HasTopicConfigErrorCode = true;
		res.TopicConfigErrorCode = 42;
		res.NumPartitions = 3;
		res.ReplicationFactor = 1;
		res.ConfigsCount = -1;
		kafka_writer_reset(&w);
		kafka_CreateTopicsResponse_encode(&w, 5, &resp);
		check(w.err == KAFKA_OK &&
			  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 0,	/* ThrottleTimeMs */
										   2, 2, 't',	/* Topics: 1, Name */
										   0, 0,	/* ErrorCode */
										   0,	/* ErrorMessage: null */
										   0, 0, 0, 3,	/* NumPartitions */
										   0, 1,	/* ReplicationFactor */
										   0,	/* Configs: null */
										   1, 0, 2, 0, 42,	/* tag 0: TopicConfigErrorCode */
										   0)),
			  "CreateTopics v5 response with tagged TopicConfigErrorCode matches hand-assembled bytes");
		kafka_writer_reset(&w);
		kafka_CreateTopicsResponse_encode(&w, 4, &resp);
		check(w.err == KAFKA_OK &&
			  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0xff, 0xff)),
			  "CreateTopics v4 response matches hand-assembled bytes");
	}
	kafka_writer_release(&w);
	arena_reset(&arena);
}

/*
 * KIP-848 against hand-assembled bytes: a ConsumerGroupHeartbeat v1 join
 * (null fields "unchanged", SubscribedTopicRegex only from v1) and the
 * response's nullable Assignment struct (an int8 marker, -1 for null).
 */
static void
test_kip848_bytes(void)
{
	KafkaWriter w;
	KafkaReader r;
	KafkaConsumerGroupHeartbeatRequest req;
	KafkaConsumerGroupHeartbeatResponse resp;
	KafkaCGHeartbeatTopicPartitions tp;
	int32_t		parts[2] = {0, 5};

	kafka_writer_init(&w, &arena.alloc);
	kafka_reader_init(&r, BYTES(2, 'g',	/* GroupId */
								3, 'm', '1',	/* MemberId */
								0, 0, 0, 0,	/* MemberEpoch 0 */
								0,	/* InstanceId null */
								0,	/* RackId null */
								0, 0, 0xea, 0x60,	/* RebalanceTimeoutMs 60000 */
								2, 2, 't',	/* SubscribedTopicNames ["t"] */
								0,	/* SubscribedTopicRegex null (v1) */
								8, 'u', 'n', 'i', 'f', 'o', 'r', 'm',	/* ServerAssignor */
								1,	/* TopicPartitions [] */
								0), true);	/* tags */
	check(kafka_ConsumerGroupHeartbeatRequest_decode(&r, 1, &req, &arena.alloc) == KAFKA_OK &&
		  kafka_str_eq(req.GroupId, "g") && kafka_str_eq(req.MemberId, "m1") &&
		  req.MemberEpoch == 0 && req.InstanceId.len == -1 && req.RackId.len == -1 &&
		  req.RebalanceTimeoutMs == 60000 && req.SubscribedTopicNamesCount == 1 &&
		  kafka_str_eq(req.SubscribedTopicNames[0], "t") && req.SubscribedTopicRegex.len == -1 &&
		  kafka_str_eq(req.ServerAssignor, "uniform") && req.TopicPartitionsCount == 0 &&
		  kafka_reader_remaining(&r) == 0,
		  "ConsumerGroupHeartbeat v1 request from hand-assembled bytes");
	kafka_reader_init(&r, BYTES(2, 'g', 3, 'm', '1', 0, 0, 0, 1, 0, 0,
								0xff, 0xff, 0xff, 0xff,	/* RebalanceTimeoutMs -1 */
								0,	/* SubscribedTopicNames null */
								0,	/* ServerAssignor null (no regex in v0) */
								0,	/* TopicPartitions null */
								0), true);
	check(kafka_ConsumerGroupHeartbeatRequest_decode(&r, 0, &req, &arena.alloc) == KAFKA_OK &&
		  req.MemberEpoch == 1 && req.RebalanceTimeoutMs == -1 &&
		  req.SubscribedTopicNamesCount == -1 && req.SubscribedTopicRegex.len == -1 &&
		  req.ServerAssignor.len == -1 && req.TopicPartitionsCount == -1 &&
		  kafka_reader_remaining(&r) == 0,
		  "ConsumerGroupHeartbeat v0 heartbeat: null arrays and strings (unchanged)");

	memset(&resp, 0, sizeof(resp));
	resp.ErrorMessage = kafka_str(NULL);
	resp.MemberId = kafka_str("m1");
	resp.MemberEpoch = 3;
	resp.HeartbeatIntervalMs = 5000;
	resp.AssignmentIsNull = true;
	kafka_ConsumerGroupHeartbeatResponse_encode(&w, 1, &resp);
	check(w.err == KAFKA_OK &&
		  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 0,	/* ThrottleTimeMs */
									   0, 0,	/* ErrorCode */
									   0,	/* ErrorMessage null */
									   3, 'm', '1',	/* MemberId */
									   0, 0, 0, 3,	/* MemberEpoch */
									   0, 0, 0x13, 0x88,	/* HeartbeatIntervalMs */
									   0xff,	/* Assignment null */
									   0)),
		  "ConsumerGroupHeartbeat response without an assignment: the null marker -1");
	kafka_writer_reset(&w);
	memset(&tp, 0, sizeof(tp));
	tp.TopicId.b[15] = 7;
	tp.PartitionsCount = 2;
	tp.Partitions = parts;
	resp.AssignmentIsNull = false;
	resp.Assignment.TopicPartitionsCount = 1;
	resp.Assignment.TopicPartitions = &tp;
	kafka_ConsumerGroupHeartbeatResponse_encode(&w, 0, &resp);
	check(w.err == KAFKA_OK &&
		  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 0, 0, 0, 0, 3, 'm', '1', 0, 0, 0, 3,
									   0, 0, 0x13, 0x88,
									   1,	/* Assignment present */
									   2,	/* TopicPartitions: 1 */
									   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7,
									   3, 0, 0, 0, 0, 0, 0, 0, 5,	/* Partitions [0, 5] */
									   0,	/* TopicPartitions tags */
									   0,	/* Assignment tags */
									   0)),
		  "ConsumerGroupHeartbeat response with an assignment by topic id");
}

/*
 * Consumer-group APIs against hand-assembled bytes: an old (non-flexible)
 * and a flexible version of JoinGroup, SyncGroup and OffsetCommit, both
 * directions, and the version changes a broker must get right (defaults of
 * fields an old version lacks, nullability that starts at a later version,
 * OffsetFetch's and FindCoordinator's batched forms, LeaveGroup's v3
 * members).
 */
static void
test_group_bytes(void)
{
	KafkaWriter w;
	KafkaReader r;

	kafka_writer_init(&w, &arena.alloc);

	/* JoinGroup requests */
	{
		KafkaJoinGroupRequest req;

		kafka_reader_init(&r, BYTES(0, 1, 'g',	/* GroupId */
									0, 0, 0x17, 0x70,	/* SessionTimeoutMs 6000 */
									0, 0,	/* MemberId "" */
									0, 8, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r',
									0, 0, 0, 0), false);	/* Protocols: [] */
		check(kafka_JoinGroupRequest_decode(&r, 0, &req, &arena.alloc) == KAFKA_OK &&
			  kafka_str_eq(req.GroupId, "g") && req.SessionTimeoutMs == 6000 &&
			  req.RebalanceTimeoutMs == -1 && req.MemberId.len == 0 &&
			  req.GroupInstanceId.len == -1 && kafka_str_eq(req.ProtocolType, "consumer") &&
			  req.ProtocolsCount == 0 && req.Reason.len == -1 &&
			  kafka_reader_remaining(&r) == 0,
			  "JoinGroup v0 request from hand-assembled bytes: RebalanceTimeoutMs -1, "
			  "GroupInstanceId and Reason null");

		kafka_reader_init(&r, BYTES(0, 1, 'g',	/* GroupId */
									0, 0, 0x75, 0x30,	/* SessionTimeoutMs 30000 */
									0, 0, 0xea, 0x60,	/* RebalanceTimeoutMs 60000 */
									0, 0,	/* MemberId "" */
									0, 8, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r',
									0, 0, 0, 1,	/* Protocols: 1 */
									0, 5, 'r', 'a', 'n', 'g', 'e',
									0, 0, 0, 3, 1, 2, 3), false);	/* Metadata */
		check(kafka_JoinGroupRequest_decode(&r, 2, &req, &arena.alloc) == KAFKA_OK &&
			  req.SessionTimeoutMs == 30000 && req.RebalanceTimeoutMs == 60000 &&
			  req.ProtocolsCount == 1 && kafka_str_eq(req.Protocols[0].Name, "range") &&
			  req.Protocols[0].Metadata.len == 3 && req.Protocols[0].Metadata.ptr[2] == 3 &&
			  req.GroupInstanceId.len == -1 && kafka_reader_remaining(&r) == 0,
			  "JoinGroup v2 request (kafka-python's) from hand-assembled bytes");

		kafka_reader_init(&r, BYTES(2, 'g',	/* GroupId */
									0, 0, 0x75, 0x30,	/* SessionTimeoutMs */
									0, 0, 0xea, 0x60,	/* RebalanceTimeoutMs */
									3, 'm', '1',	/* MemberId */
									2, 'i',	/* GroupInstanceId "i" */
									9, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r',
									2,	/* Protocols: 1 */
									6, 'r', 'a', 'n', 'g', 'e',
									4, 1, 2, 3,	/* Metadata */
									0,	/* protocol tags */
									0,	/* Reason: null */
									0), false);	/* tags */
		check(kafka_JoinGroupRequest_decode(&r, 9, &req, &arena.alloc) == KAFKA_OK &&
			  kafka_str_eq(req.MemberId, "m1") && kafka_str_eq(req.GroupInstanceId, "i") &&
			  req.ProtocolsCount == 1 && kafka_str_eq(req.Protocols[0].Name, "range") &&
			  req.Protocols[0].Metadata.len == 3 && req.Reason.len == -1 &&
			  kafka_reader_remaining(&r) == 0,
			  "JoinGroup v9 request from hand-assembled bytes (GroupInstanceId, null Reason)");
	}

	/* JoinGroup responses */
	{
		KafkaJoinGroupResponse resp;
		KafkaJoinGroupResponseMember mem;

		memset(&resp, 0, sizeof(resp));
		memset(&mem, 0, sizeof(mem));
		resp.GenerationId = 1;
		resp.ProtocolType = kafka_str("consumer");
		resp.ProtocolName = kafka_str("range");
		resp.Leader = kafka_str("m1");
		resp.MemberId = kafka_str("m1");
		resp.MembersCount = 1;
		resp.Members = &mem;
		mem.MemberId = kafka_str("m1");
		mem.GroupInstanceId = kafka_str_null();
		mem.Metadata.ptr = (const uint8_t *) "\xaa\xbb";
		mem.Metadata.len = 2;
		kafka_writer_reset(&w);
		kafka_JoinGroupResponse_encode(&w, 2, &resp);
		check(w.err == KAFKA_OK &&
			  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 0,	/* ThrottleTimeMs */
										   0, 0,	/* ErrorCode */
										   0, 0, 0, 1,	/* GenerationId */
										   0, 5, 'r', 'a', 'n', 'g', 'e',	/* ProtocolName */
										   0, 2, 'm', '1',	/* Leader */
										   0, 2, 'm', '1',	/* MemberId */
										   0, 0, 0, 1,	/* Members: 1 */
										   0, 2, 'm', '1',
										   0, 0, 0, 2, 0xaa, 0xbb)),
			  "JoinGroup v2 response matches hand-assembled bytes (no ProtocolType, "
			  "GroupInstanceId, SkipAssignment)");
		kafka_writer_reset(&w);
		kafka_JoinGroupResponse_encode(&w, 0, &resp);
		check(w.err == KAFKA_OK &&
			  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 0, 0, 1, 0, 5, 'r', 'a', 'n', 'g', 'e',
										   0, 2, 'm', '1', 0, 2, 'm', '1', 0, 0, 0, 1,
										   0, 2, 'm', '1', 0, 0, 0, 2, 0xaa, 0xbb)),
			  "JoinGroup v0 response matches hand-assembled bytes (no ThrottleTimeMs)");
		kafka_writer_reset(&w);
		kafka_JoinGroupResponse_encode(&w, 9, &resp);
		check(w.err == KAFKA_OK &&
			  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 0,	/* ThrottleTimeMs */
										   0, 0,	/* ErrorCode */
										   0, 0, 0, 1,	/* GenerationId */
										   9, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r',
										   6, 'r', 'a', 'n', 'g', 'e',	/* ProtocolName */
										   3, 'm', '1',	/* Leader */
										   0,	/* SkipAssignment */
										   3, 'm', '1',	/* MemberId */
										   2,	/* Members: 1 */
										   3, 'm', '1',
										   0,	/* GroupInstanceId: null */
										   3, 0xaa, 0xbb,	/* Metadata */
										   0,	/* member tags */
										   0)),	/* tags */
			  "JoinGroup v9 response matches hand-assembled bytes");

		/* an error answer (MEMBER_ID_REQUIRED, v4+): null ProtocolName from v7 */
		resp.ErrorCode = KAFKA_ERROR_MEMBER_ID_REQUIRED;
		resp.GenerationId = -1;
		resp.ProtocolType = kafka_str_null();
		resp.ProtocolName = kafka_str_null();
		resp.Leader = kafka_str("");
		resp.MembersCount = 0;
		kafka_writer_reset(&w);
		kafka_JoinGroupResponse_encode(&w, 7, &resp);
		check(w.err == KAFKA_OK &&
			  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 0, 0, 79, 0xff, 0xff, 0xff, 0xff,
										   0, 0,	/* ProtocolType, ProtocolName: null */
										   1, 3, 'm', '1', 1, 0)),
			  "JoinGroup v7 MEMBER_ID_REQUIRED response with null ProtocolType/ProtocolName");
		kafka_writer_reset(&w);
		kafka_JoinGroupResponse_encode(&w, 6, &resp);
		check(w.err == KAFKA_ERR_INVALID_ARG,
			  "JoinGroup v6 response: null ProtocolName refused (nullable from v7)");
	}

	/* SyncGroup */
	{
		KafkaSyncGroupRequest req;
		KafkaSyncGroupResponse resp;

		kafka_reader_init(&r, BYTES(0, 1, 'g',	/* GroupId */
									0, 0, 0, 1,	/* GenerationId */
									0, 2, 'm', '1',	/* MemberId */
									0, 0, 0, 1,	/* Assignments: 1 */
									0, 2, 'm', '1',
									0, 0, 0, 2, 0xcc, 0xdd), false);
		check(kafka_SyncGroupRequest_decode(&r, 1, &req, &arena.alloc) == KAFKA_OK &&
			  kafka_str_eq(req.GroupId, "g") && req.GenerationId == 1 &&
			  kafka_str_eq(req.MemberId, "m1") && req.GroupInstanceId.len == -1 &&
			  req.ProtocolType.len == -1 && req.ProtocolName.len == -1 &&
			  req.AssignmentsCount == 1 && kafka_str_eq(req.Assignments[0].MemberId, "m1") &&
			  req.Assignments[0].Assignment.len == 2 &&
			  req.Assignments[0].Assignment.ptr[1] == 0xdd && kafka_reader_remaining(&r) == 0,
			  "SyncGroup v1 request (kafka-python's) from hand-assembled bytes: "
			  "GroupInstanceId, ProtocolType, ProtocolName null");

		kafka_reader_init(&r, BYTES(2, 'g',	/* GroupId */
									0, 0, 0, 1,	/* GenerationId */
									3, 'm', '2',	/* MemberId */
									0,	/* GroupInstanceId: null */
									9, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r',
									6, 'r', 'a', 'n', 'g', 'e',	/* ProtocolName */
									1,	/* Assignments: [] (a follower) */
									0), false);	/* tags */
		check(kafka_SyncGroupRequest_decode(&r, 5, &req, &arena.alloc) == KAFKA_OK &&
			  kafka_str_eq(req.MemberId, "m2") && req.GroupInstanceId.len == -1 &&
			  kafka_str_eq(req.ProtocolType, "consumer") &&
			  kafka_str_eq(req.ProtocolName, "range") && req.AssignmentsCount == 0 &&
			  kafka_reader_remaining(&r) == 0,
			  "SyncGroup v5 request from hand-assembled bytes (ProtocolType, ProtocolName)");

		memset(&resp, 0, sizeof(resp));
		resp.ProtocolType = kafka_str("consumer");
		resp.ProtocolName = kafka_str("range");
		resp.Assignment.ptr = (const uint8_t *) "\xcc\xdd";
		resp.Assignment.len = 2;
		kafka_writer_reset(&w);
		kafka_SyncGroupResponse_encode(&w, 0, &resp);
		check(w.err == KAFKA_OK &&
			  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 0, 0, 2, 0xcc, 0xdd)),
			  "SyncGroup v0 response matches hand-assembled bytes (no ThrottleTimeMs)");
		kafka_writer_reset(&w);
		kafka_SyncGroupResponse_encode(&w, 1, &resp);
		check(w.err == KAFKA_OK &&
			  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0xcc, 0xdd)),
			  "SyncGroup v1 response matches hand-assembled bytes");
		kafka_writer_reset(&w);
		kafka_SyncGroupResponse_encode(&w, 5, &resp);
		check(w.err == KAFKA_OK &&
			  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 0,	/* ThrottleTimeMs */
										   0, 0,	/* ErrorCode */
										   9, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r',
										   6, 'r', 'a', 'n', 'g', 'e',
										   3, 0xcc, 0xdd,	/* Assignment */
										   0)),	/* tags */
			  "SyncGroup v5 response matches hand-assembled bytes");
	}

	/* OffsetCommit */
	{
		KafkaOffsetCommitRequest req;
		KafkaOffsetCommitResponse resp;
		KafkaOffsetCommitResponseTopic rt;
		KafkaOffsetCommitResponsePartition rp;

		kafka_reader_init(&r, BYTES(0, 1, 'g',	/* GroupId */
									0, 0, 0, 1,	/* Topics: 1 */
									0, 1, 't',
									0, 0, 0, 1,	/* Partitions: 1 */
									0, 0, 0, 3,	/* PartitionIndex */
									0, 0, 0, 0, 0, 0, 0, 42,	/* CommittedOffset */
									0, 1, 'x'), false);	/* CommittedMetadata */
		check(kafka_OffsetCommitRequest_decode(&r, 0, &req, &arena.alloc) == KAFKA_OK &&
			  req.GenerationIdOrMemberEpoch == -1 && req.MemberId.len == 0 &&
			  req.RetentionTimeMs == -1 && req.TopicsCount == 1 &&
			  req.Topics[0].Partitions[0].PartitionIndex == 3 &&
			  req.Topics[0].Partitions[0].CommittedOffset == 42 &&
			  req.Topics[0].Partitions[0].CommittedLeaderEpoch == -1 &&
			  req.Topics[0].Partitions[0].CommitTimestamp == -1 &&
			  kafka_str_eq(req.Topics[0].Partitions[0].CommittedMetadata, "x") &&
			  kafka_reader_remaining(&r) == 0,
			  "OffsetCommit v0 request from hand-assembled bytes: generation -1, member \"\"");

		kafka_reader_init(&r, BYTES(0, 1, 'g',	/* GroupId */
									0, 0, 0, 1,	/* GenerationIdOrMemberEpoch */
									0, 2, 'm', '1',	/* MemberId */
									0, 0, 0, 1,	/* Topics: 1 */
									0, 1, 't',
									0, 0, 0, 1,	/* Partitions: 1 */
									0, 0, 0, 0,	/* PartitionIndex */
									0, 0, 0, 0, 0, 0, 0, 42,	/* CommittedOffset */
									0, 0, 1, 0x90, 0, 0, 0, 0,	/* CommitTimestamp */
									0xff, 0xff), false);	/* CommittedMetadata: null */
		check(kafka_OffsetCommitRequest_decode(&r, 1, &req, &arena.alloc) == KAFKA_OK &&
			  req.GenerationIdOrMemberEpoch == 1 && kafka_str_eq(req.MemberId, "m1") &&
			  req.RetentionTimeMs == -1 &&
			  req.Topics[0].Partitions[0].CommitTimestamp == INT64_C(0x19000000000) &&
			  req.Topics[0].Partitions[0].CommittedMetadata.len == -1 &&
			  kafka_reader_remaining(&r) == 0,
			  "OffsetCommit v1 request from hand-assembled bytes (per-partition CommitTimestamp)");

		kafka_reader_init(&r, BYTES(0, 1, 'g',	/* GroupId */
									0, 0, 0, 1,	/* GenerationIdOrMemberEpoch */
									0, 2, 'm', '1',	/* MemberId */
									0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,	/* RetentionTimeMs */
									0, 0, 0, 1,	/* Topics: 1 */
									0, 1, 't',
									0, 0, 0, 1,	/* Partitions: 1 */
									0, 0, 0, 0,	/* PartitionIndex */
									0, 0, 0, 0, 0, 0, 0, 42,	/* CommittedOffset */
									0, 0), false);	/* CommittedMetadata "" */
		check(kafka_OffsetCommitRequest_decode(&r, 2, &req, &arena.alloc) == KAFKA_OK &&
			  req.GenerationIdOrMemberEpoch == 1 && req.RetentionTimeMs == -1 &&
			  req.GroupInstanceId.len == -1 &&
			  req.Topics[0].Partitions[0].CommittedOffset == 42 &&
			  req.Topics[0].Partitions[0].CommittedLeaderEpoch == -1 &&
			  req.Topics[0].Partitions[0].CommitTimestamp == -1 &&
			  req.Topics[0].Partitions[0].CommittedMetadata.len == 0 &&
			  kafka_reader_remaining(&r) == 0,
			  "OffsetCommit v2 request (kafka-python's) from hand-assembled bytes");

		kafka_reader_init(&r, BYTES(2, 'g',	/* GroupId */
									0, 0, 0, 7,	/* GenerationIdOrMemberEpoch */
									3, 'm', '1',	/* MemberId */
									2, 'i',	/* GroupInstanceId */
									2,	/* Topics: 1 */
									2, 't',
									2,	/* Partitions: 1 */
									0, 0, 0, 2,	/* PartitionIndex */
									0, 0, 0, 0, 0, 0, 1, 0,	/* CommittedOffset 256 */
									0, 0, 0, 5,	/* CommittedLeaderEpoch */
									0,	/* CommittedMetadata: null */
									0, 0, 0), false);	/* partition, topic, top tags */
		check(kafka_OffsetCommitRequest_decode(&r, 8, &req, &arena.alloc) == KAFKA_OK &&
			  req.GenerationIdOrMemberEpoch == 7 && kafka_str_eq(req.GroupInstanceId, "i") &&
			  req.RetentionTimeMs == -1 && req.TopicsCount == 1 &&
			  kafka_str_eq(req.Topics[0].Name, "t") &&
			  req.Topics[0].Partitions[0].PartitionIndex == 2 &&
			  req.Topics[0].Partitions[0].CommittedOffset == 256 &&
			  req.Topics[0].Partitions[0].CommittedLeaderEpoch == 5 &&
			  req.Topics[0].Partitions[0].CommittedMetadata.len == -1 &&
			  kafka_reader_remaining(&r) == 0,
			  "OffsetCommit v8 request from hand-assembled bytes");

		memset(&resp, 0, sizeof(resp));
		resp.ThrottleTimeMs = 5;
		resp.TopicsCount = 1;
		resp.Topics = &rt;
		rt.Name = kafka_str("t");
		rt.PartitionsCount = 1;
		rt.Partitions = &rp;
		rp.PartitionIndex = 2;
		rp.ErrorCode = KAFKA_ERROR_ILLEGAL_GENERATION;
		kafka_writer_reset(&w);
		kafka_OffsetCommitResponse_encode(&w, 2, &resp);
		check(w.err == KAFKA_OK &&
			  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 1,
										   0, 0, 0, 2, 0, 22)),
			  "OffsetCommit v2 response matches hand-assembled bytes (no ThrottleTimeMs)");
		kafka_writer_reset(&w);
		kafka_OffsetCommitResponse_encode(&w, 8, &resp);
		check(w.err == KAFKA_OK &&
			  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 5,	/* ThrottleTimeMs */
										   2, 2, 't',	/* Topics: 1 */
										   2, 0, 0, 0, 2, 0, 22, 0,	/* Partitions */
										   0,	/* topic tags */
										   0)),	/* tags */
			  "OffsetCommit v8 response matches hand-assembled bytes");

		/* v10 (KIP-848): topics by id */
		kafka_reader_init(&r, BYTES(2, 'g',	/* GroupId */
									0, 0, 0, 7,	/* GenerationIdOrMemberEpoch */
									3, 'm', '1',	/* MemberId */
									0,	/* GroupInstanceId: null */
									2,	/* Topics: 1 */
									1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
									2,	/* Partitions: 1 */
									0, 0, 0, 2,	/* PartitionIndex */
									0, 0, 0, 0, 0, 0, 1, 0,	/* CommittedOffset 256 */
									0, 0, 0, 5,	/* CommittedLeaderEpoch */
									0,	/* CommittedMetadata: null */
									0, 0, 0), false);	/* partition, topic, top tags */
		check(kafka_OffsetCommitRequest_decode(&r, 10, &req, &arena.alloc) == KAFKA_OK &&
			  req.TopicsCount == 1 && req.Topics[0].Name.len == 0 &&
			  req.Topics[0].TopicId.b[0] == 1 && req.Topics[0].TopicId.b[15] == 16 &&
			  req.Topics[0].Partitions[0].CommittedOffset == 256 &&
			  kafka_reader_remaining(&r) == 0,
			  "OffsetCommit v10 request from hand-assembled bytes: TopicId in place of Name");
		for (int i = 0; i < 16; i++)
			rt.TopicId.b[i] = (uint8_t) (16 - i);
		rp.ErrorCode = KAFKA_ERROR_UNKNOWN_TOPIC_ID;
		kafka_writer_reset(&w);
		kafka_OffsetCommitResponse_encode(&w, 10, &resp);
		check(w.err == KAFKA_OK &&
			  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 5,	/* ThrottleTimeMs */
										   2,	/* Topics: 1 */
										   16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1,
										   2, 0, 0, 0, 2, 0, 100, 0,	/* Partitions */
										   0,	/* topic tags */
										   0)),	/* tags */
			  "OffsetCommit v10 response matches hand-assembled bytes (TopicId, UNKNOWN_TOPIC_ID)");
	}

	/* OffsetFetch: v1 by topic, v2+ null for all topics, v8 batched groups */
	{
		KafkaOffsetFetchRequest req;

		kafka_reader_init(&r, BYTES(0, 1, 'g', 0, 0, 0, 1, 0, 1, 't',
									0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1), false);
		check(kafka_OffsetFetchRequest_decode(&r, 1, &req, &arena.alloc) == KAFKA_OK &&
			  kafka_str_eq(req.GroupId, "g") && req.TopicsCount == 1 &&
			  req.Topics[0].PartitionIndexesCount == 2 &&
			  req.Topics[0].PartitionIndexes[1] == 1 && req.GroupsCount == 0 &&
			  !req.RequireStable && kafka_reader_remaining(&r) == 0,
			  "OffsetFetch v1 request from hand-assembled bytes");
		kafka_reader_init(&r, BYTES(0, 1, 'g', 0xff, 0xff, 0xff, 0xff), false);
		check(kafka_OffsetFetchRequest_decode(&r, 1, &req, &arena.alloc) == KAFKA_ERR_CORRUPT,
			  "OffsetFetch v1 request with null Topics refused (nullable from v2)");
		kafka_reader_init(&r, BYTES(0, 1, 'g', 0xff, 0xff, 0xff, 0xff), false);
		check(kafka_OffsetFetchRequest_decode(&r, 2, &req, &arena.alloc) == KAFKA_OK &&
			  req.TopicsCount == -1,
			  "OffsetFetch v2 request with null Topics: all topics");
		kafka_reader_init(&r, BYTES(3,	/* Groups: 2 */
									3, 'g', '1',
									0,	/* Topics: null (all) */
									0,	/* group tags */
									3, 'g', '2',
									2, 2, 't', 2, 0, 0, 0, 4, 0,	/* t: [4] */
									0,	/* group tags */
									1,	/* RequireStable */
									0), false);
		check(kafka_OffsetFetchRequest_decode(&r, 8, &req, &arena.alloc) == KAFKA_OK &&
			  req.GroupId.len == 0 && req.TopicsCount == 0 && req.GroupsCount == 2 &&
			  kafka_str_eq(req.Groups[0].GroupId, "g1") && req.Groups[0].TopicsCount == -1 &&
			  req.Groups[0].MemberId.len == -1 && req.Groups[0].MemberEpoch == -1 &&
			  req.Groups[1].TopicsCount == 1 &&
			  req.Groups[1].Topics[0].PartitionIndexes[0] == 4 && req.RequireStable &&
			  kafka_reader_remaining(&r) == 0,
			  "OffsetFetch v8 request from hand-assembled bytes: batched Groups");

		/* v10 (KIP-848): topics by id */
		kafka_reader_init(&r, BYTES(2,	/* Groups: 1 */
									2, 'g',
									0,	/* MemberId: null */
									0xff, 0xff, 0xff, 0xff,	/* MemberEpoch -1 */
									2,	/* Topics: 1 */
									1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
									2, 0, 0, 0, 4,	/* PartitionIndexes: [4] */
									0,	/* topic tags */
									0,	/* group tags */
									0,	/* RequireStable */
									0), false);
		check(kafka_OffsetFetchRequest_decode(&r, 10, &req, &arena.alloc) == KAFKA_OK &&
			  req.GroupsCount == 1 && req.Groups[0].TopicsCount == 1 &&
			  req.Groups[0].Topics[0].Name.len == 0 &&
			  req.Groups[0].Topics[0].TopicId.b[0] == 1 &&
			  req.Groups[0].Topics[0].TopicId.b[15] == 16 &&
			  req.Groups[0].Topics[0].PartitionIndexes[0] == 4 &&
			  kafka_reader_remaining(&r) == 0,
			  "OffsetFetch v10 request from hand-assembled bytes: TopicId in place of Name");
	}
	{
		KafkaOffsetFetchResponse resp;
		KafkaOffsetFetchResponseGroup g;
		KafkaOffsetFetchResponseTopics t;
		KafkaOffsetFetchResponsePartitions p;

		memset(&resp, 0, sizeof(resp));
		memset(&g, 0, sizeof(g));
		memset(&t, 0, sizeof(t));
		memset(&p, 0, sizeof(p));
		resp.GroupsCount = 1;
		resp.Groups = &g;
		g.GroupId = kafka_str("g");
		g.TopicsCount = 1;
		g.Topics = &t;
		t.Name = kafka_str("t");
		for (int i = 0; i < 16; i++)
			t.TopicId.b[i] = (uint8_t) (i + 1);
		t.PartitionsCount = 1;
		t.Partitions = &p;
		p.PartitionIndex = 4;
		p.CommittedOffset = 9;
		p.CommittedLeaderEpoch = -1;
		p.Metadata = kafka_str("");
		kafka_writer_reset(&w);
		kafka_OffsetFetchResponse_encode(&w, 10, &resp);
		check(w.err == KAFKA_OK &&
			  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 0,	/* ThrottleTimeMs */
										   2,	/* Groups: 1 */
										   2, 'g',
										   2,	/* Topics: 1 */
										   1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
										   2,	/* Partitions: 1 */
										   0, 0, 0, 4,	/* PartitionIndex */
										   0, 0, 0, 0, 0, 0, 0, 9,	/* CommittedOffset */
										   0xff, 0xff, 0xff, 0xff,	/* CommittedLeaderEpoch */
										   1,	/* Metadata "" */
										   0, 0,	/* ErrorCode */
										   0,	/* partition tags */
										   0,	/* topic tags */
										   0, 0,	/* group ErrorCode */
										   0,	/* group tags */
										   0)),	/* tags */
			  "OffsetFetch v10 response matches hand-assembled bytes (TopicId, no Name)");
		kafka_writer_reset(&w);
		kafka_OffsetFetchResponse_encode(&w, 9, &resp);
		check(w.err == KAFKA_OK && w.len == 4 + 1 + 2 + 1 + 2 + 1 + 4 + 8 + 4 + 1 + 2 + 1 + 1 + 2 + 1 + 1 &&
			  w.buf[8] == 2 && w.buf[9] == 't',
			  "OffsetFetch v9 response: Name, no TopicId");
	}

	/* FindCoordinator v0 and v4 (batched) */
	{
		KafkaFindCoordinatorRequest req;
		KafkaFindCoordinatorResponse resp;
		KafkaCoordinator c;

		kafka_reader_init(&r, BYTES(0, 1, 'g'), false);
		check(kafka_FindCoordinatorRequest_decode(&r, 0, &req, &arena.alloc) == KAFKA_OK &&
			  kafka_str_eq(req.Key, "g") && req.KeyType == 0 && req.CoordinatorKeysCount == 0,
			  "FindCoordinator v0 request: KeyType defaults to 0 (group)");
		kafka_reader_init(&r, BYTES(0, 3, 2, 'g', 2, 'h', 0), false);
		check(kafka_FindCoordinatorRequest_decode(&r, 4, &req, &arena.alloc) == KAFKA_OK &&
			  req.Key.len == 0 && req.CoordinatorKeysCount == 2 &&
			  kafka_str_eq(req.CoordinatorKeys[1], "h") && kafka_reader_remaining(&r) == 0,
			  "FindCoordinator v4 request: CoordinatorKeys, no Key");

		memset(&resp, 0, sizeof(resp));
		resp.ErrorMessage = kafka_str_null();
		resp.NodeId = 1;
		resp.Host = kafka_str("h");
		resp.Port = 9092;
		resp.CoordinatorsCount = 1;
		resp.Coordinators = &c;
		c.Key = kafka_str("g");
		c.NodeId = 1;
		c.Host = kafka_str("h");
		c.Port = 9092;
		c.ErrorCode = 0;
		c.ErrorMessage = kafka_str_null();
		kafka_writer_reset(&w);
		kafka_FindCoordinatorResponse_encode(&w, 0, &resp);
		check(w.err == KAFKA_OK &&
			  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 0, 0, 1, 0, 1, 'h', 0, 0, 0x23, 0x84)),
			  "FindCoordinator v0 response matches hand-assembled bytes");
		kafka_writer_reset(&w);
		kafka_FindCoordinatorResponse_encode(&w, 4, &resp);
		check(w.err == KAFKA_OK &&
			  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 0,	/* ThrottleTimeMs */
										   2,	/* Coordinators: 1 */
										   2, 'g', 0, 0, 0, 1, 2, 'h', 0, 0, 0x23, 0x84,
										   0, 0,	/* ErrorCode */
										   0,	/* ErrorMessage: null */
										   0, 0)),
			  "FindCoordinator v4 response matches hand-assembled bytes (Coordinators only)");
	}

	/* LeaveGroup: v1 one MemberId, v3+ Members */
	{
		KafkaLeaveGroupRequest req;

		kafka_reader_init(&r, BYTES(0, 1, 'g', 0, 2, 'm', '1'), false);
		check(kafka_LeaveGroupRequest_decode(&r, 1, &req, &arena.alloc) == KAFKA_OK &&
			  kafka_str_eq(req.MemberId, "m1") && req.MembersCount == 0,
			  "LeaveGroup v1 request: MemberId, no Members");
		kafka_reader_init(&r, BYTES(2, 'g', 2, 3, 'm', '1', 0, 4, 'b', 'y', 'e', 0, 0), false);
		check(kafka_LeaveGroupRequest_decode(&r, 5, &req, &arena.alloc) == KAFKA_OK &&
			  req.MemberId.len == 0 && req.MembersCount == 1 &&
			  kafka_str_eq(req.Members[0].MemberId, "m1") &&
			  req.Members[0].GroupInstanceId.len == -1 &&
			  kafka_str_eq(req.Members[0].Reason, "bye") && kafka_reader_remaining(&r) == 0,
			  "LeaveGroup v5 request: Members with Reason, no MemberId");
	}
	kafka_writer_release(&w);
	arena_reset(&arena);
}

/* ----------------------------------------------------------------------
 * Fetch splice contract
 * ----------------------------------------------------------------------
 */
static void
test_fetch_splice(void)
{
	static const int16_t versions[] = {4, 11, 12};
	int			vi;

	for (vi = 0; vi < 3; vi++)
	{
		int16_t		v = versions[vi];
		KafkaWriter w1,
					w2;
		KafkaFetchResponse resp;
		KafkaFetchableTopicResponse topics[2];
		KafkaFetchPartitionData parts[3];
		static const char *const data[3] = {"first-batch", "", "third!"};
		uint8_t    *wire;
		size_t		wlen = 0;
		size_t		pos = 0;
		size_t		start;
		int			i;
		KafkaReader r;
		int32_t		size;
		KafkaFetchResponse dec;
		StrBuf		a,
					b;
		bool		ok;

		memset(&resp, 0, sizeof(resp));
		memset(topics, 0, sizeof(topics));
		memset(parts, 0, sizeof(parts));
		resp.ResponsesCount = 2;
		resp.Responses = topics;
		topics[0].Topic = kafka_str("a");
		topics[0].PartitionsCount = 2;
		topics[0].Partitions = &parts[0];
		topics[1].Topic = kafka_str("b");
		topics[1].PartitionsCount = 1;
		topics[1].Partitions = &parts[2];
		for (i = 0; i < 3; i++)
		{
			parts[i].PartitionIndex = i;
			parts[i].AbortedTransactionsCount = -1;
			parts[i].PreferredReadReplica = -1;
			parts[i].Records.ptr = (const uint8_t *) data[i];
			parts[i].Records.len = (int32_t) strlen(data[i]);
			parts[i].HasCurrentLeader = v >= 12;
			parts[i].CurrentLeader.LeaderId = 1;
			parts[i].CurrentLeader.LeaderEpoch = 200 + i;
			/* the defaults a decoder gives the absent tagged fields */
			parts[i].DivergingEpoch.Epoch = -1;
			parts[i].DivergingEpoch.EndOffset = -1;
			parts[i].SnapshotId.Epoch = -1;
			parts[i].SnapshotId.EndOffset = -1;
		}

		/* reference: records in memory */
		kafka_writer_init(&w1, &arena.alloc);
		start = kafka_response_begin(&w1, 5, kafka_response_header_version(KAFKA_API_FETCH, v));
		kafka_FetchResponse_encode(&w1, v, &resp);
		kafka_response_end(&w1, start);

		/* spliced: partitions 0 and 2 from "files" */
		parts[0].RecordsSplice = true;
		parts[0].RecordsSpliceArg = data[0];
		parts[2].RecordsSplice = true;
		parts[2].RecordsSpliceArg = data[2];
		parts[0].Records.ptr = NULL;
		parts[2].Records.ptr = NULL;
		kafka_writer_init(&w2, &arena.alloc);
		start = kafka_response_begin(&w2, 5, kafka_response_header_version(KAFKA_API_FETCH, v));
		kafka_FetchResponse_encode(&w2, v, &resp);
		kafka_response_end(&w2, start);

		/* send as the broker would */
		wire = malloc(w2.len + w2.splice_bytes);
		for (i = 0; i < w2.nsplices; i++)
		{
			const KafkaSplice *s = &w2.splices[i];

			memcpy(wire + wlen, w2.buf + pos, s->offset - pos);
			wlen += s->offset - pos;
			memcpy(wire + wlen, s->arg, (size_t) s->length);
			wlen += (size_t) s->length;
			pos = s->offset;
		}
		memcpy(wire + wlen, w2.buf + pos, w2.len - pos);
		wlen += w2.len - pos;

		ok = w2.err == KAFKA_OK && w2.nsplices == 2 &&
			w2.splices[0].length == 11 && w2.splices[1].length == 6 &&
			w2.splices[0].offset < w2.splices[1].offset &&
			(int64_t) wlen == kafka_writer_wire_size(&w2) &&
			w2.len == w1.len - 17 &&
			bytes_eq(wire, wlen, w1.buf, w1.len);
		check(ok, "Fetch v%d: spliced response, sent piecewise, equals the in-memory one "
			  "(Size counts the spliced bytes)", v);

		/* and it decodes to the same thing */
		kafka_reader_init(&r, wire, wlen, false);
		ok = kafka_read_int32(&r, &size) && size == (int32_t) (wlen - 4) &&
			kafka_read_int32(&r, &size) && size == 5 &&
			(v < 12 || kafka_read_tagged_fields_skip(&r));
		if (ok)
		{
			const TestApi *t = test_api_lookup(KAFKA_API_FETCH);

			sb_init(&a);
			sb_init(&b);
			ok = t->dec_resp(&r, v, &dec, &arena.alloc) == KAFKA_OK &&
				kafka_reader_remaining(&r) == 0;
			parts[0].Records.ptr = (const uint8_t *) data[0];
			parts[2].Records.ptr = (const uint8_t *) data[2];
			t->print_resp(&a, v, &resp);
			if (ok)
				t->print_resp(&b, v, &dec);
			ok = ok && strcmp(a.data, b.data) == 0;
			sb_free(&a);
			sb_free(&b);
		}
		check(ok, "Fetch v%d: spliced response decodes to the values sent", v);
		free(wire);
		kafka_writer_release(&w1);
		kafka_writer_release(&w2);
		arena_reset(&arena);
	}

	{
		KafkaWriter w;

		kafka_writer_init(&w, &arena.alloc);
		kafka_write_int32(&w, 1);
		kafka_write_records_splice(&w, INT32_MAX, NULL);
		check(w.err == KAFKA_ERR_TOO_LARGE, "a splice beyond INT32_MAX bytes is refused");
		kafka_writer_release(&w);
		arena_reset(&arena);
	}
}

/* ----------------------------------------------------------------------
 * Dispatch and helpers
 * ----------------------------------------------------------------------
 */
/*
 * Produce v0-2: the versions whose Records are legacy message sets.  The
 * request lacks TransactionalId; the response gains ThrottleTimeMs in v1 and
 * LogAppendTimeMs in v2.
 */
static void
test_produce_bytes(void)
{
	KafkaReader r;
	KafkaProduceRequest req;
	KafkaProduceResponse resp;
	KafkaTopicProduceResponse topic;
	KafkaPartitionProduceResponse part;
	KafkaWriter w;
	int			v;

	for (v = 0; v <= 2; v++)
	{
		kafka_reader_init(&r, BYTES(0xff, 0xff,	/* Acks -1 */
									0, 0, 0x75, 0x30,	/* TimeoutMs 30000 */
									0, 0, 0, 1,	/* TopicData: 1 */
									0, 1, 't',
									0, 0, 0, 1,	/* PartitionData: 1 */
									0, 0, 0, 2,	/* Index 2 */
									0, 0, 0, 3, 'a', 'b', 'c'), false);	/* Records */
		check(kafka_ProduceRequest_decode(&r, (int16_t) v, &req, &arena.alloc) == KAFKA_OK &&
			  req.TransactionalId.len == -1 && req.Acks == -1 && req.TimeoutMs == 30000 &&
			  req.TopicDataCount == 1 && kafka_str_eq(req.TopicData[0].Name, "t") &&
			  req.TopicData[0].PartitionDataCount == 1 &&
			  req.TopicData[0].PartitionData[0].Index == 2 &&
			  req.TopicData[0].PartitionData[0].Records.len == 3 &&
			  req.TopicData[0].PartitionData[0].Records.ptr[2] == 'c' &&
			  kafka_reader_remaining(&r) == 0,
			  "Produce v%d request from hand-assembled bytes: no TransactionalId (null)", v);
	}
	/* the same bytes as v3 read Acks/TimeoutMs as a TransactionalId */
	kafka_reader_init(&r, BYTES(0, 1, 'x',	/* TransactionalId "x" */
								0, 1, 0, 0, 0, 0x64,	/* Acks 1, TimeoutMs 100 */
								0, 0, 0, 0), false);	/* TopicData: empty */
	check(kafka_ProduceRequest_decode(&r, 3, &req, &arena.alloc) == KAFKA_OK &&
		  kafka_str_eq(req.TransactionalId, "x") && req.Acks == 1 && req.TimeoutMs == 100 &&
		  kafka_reader_remaining(&r) == 0,
		  "Produce v3 request from hand-assembled bytes: TransactionalId first");

	memset(&part, 0, sizeof(part));
	part.Index = 2;
	part.ErrorCode = 0;
	part.BaseOffset = 5;
	part.LogAppendTimeMs = 0x0102030405060708;
	part.LogStartOffset = -1;
	part.ErrorMessage = kafka_str(NULL);
	memset(&topic, 0, sizeof(topic));
	topic.Name = kafka_str("t");
	topic.PartitionResponses = &part;
	topic.PartitionResponsesCount = 1;
	memset(&resp, 0, sizeof(resp));
	resp.Responses = &topic;
	resp.ResponsesCount = 1;
	resp.ThrottleTimeMs = 7;
	kafka_writer_init(&w, &arena.alloc);
	kafka_ProduceResponse_encode(&w, 0, &resp);
	check(w.err == KAFKA_OK &&
		  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 1,
									   0, 0, 0, 2, 0, 0,	/* Index, ErrorCode */
									   0, 0, 0, 0, 0, 0, 0, 5)),	/* BaseOffset */
		  "Produce v0 response: no LogAppendTimeMs, no ThrottleTimeMs");
	kafka_writer_reset(&w);
	kafka_ProduceResponse_encode(&w, 1, &resp);
	check(w.err == KAFKA_OK &&
		  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 1,
									   0, 0, 0, 2, 0, 0,
									   0, 0, 0, 0, 0, 0, 0, 5,
									   0, 0, 0, 7)),	/* ThrottleTimeMs */
		  "Produce v1 response: ThrottleTimeMs");
	kafka_writer_reset(&w);
	kafka_ProduceResponse_encode(&w, 2, &resp);
	check(w.err == KAFKA_OK &&
		  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 1,
									   0, 0, 0, 2, 0, 0,
									   0, 0, 0, 0, 0, 0, 0, 5,
									   1, 2, 3, 4, 5, 6, 7, 8,	/* LogAppendTimeMs */
									   0, 0, 0, 7)),
		  "Produce v2 response: LogAppendTimeMs after BaseOffset, ThrottleTimeMs");

	/* v13 (KIP-516): the topic is named by its id, no name on the wire */
	kafka_reader_init(&r, BYTES(0,	/* TransactionalId: null */
								0xff, 0xff,	/* Acks -1 */
								0, 0, 0x75, 0x30,	/* TimeoutMs 30000 */
								2,	/* TopicData: 1 */
								1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,	/* TopicId */
								2,	/* PartitionData: 1 */
								0, 0, 0, 2,	/* Index 2 */
								4, 'a', 'b', 'c',	/* Records */
								0,	/* partition tags */
								0,	/* topic tags */
								0), true);	/* request tags */
	check(kafka_ProduceRequest_decode(&r, 13, &req, &arena.alloc) == KAFKA_OK &&
		  req.TransactionalId.len == -1 && req.Acks == -1 && req.TimeoutMs == 30000 &&
		  req.TopicDataCount == 1 && req.TopicData[0].Name.len == 0 &&
		  req.TopicData[0].TopicId.b[0] == 1 && req.TopicData[0].TopicId.b[15] == 16 &&
		  req.TopicData[0].PartitionDataCount == 1 &&
		  req.TopicData[0].PartitionData[0].Index == 2 &&
		  req.TopicData[0].PartitionData[0].Records.len == 3 &&
		  kafka_reader_remaining(&r) == 0,
		  "Produce v13 request from hand-assembled bytes: TopicId in place of Name");
	/* the same bytes as v12 read the id's first byte as a name's length */
	kafka_reader_init(&r, BYTES(0, 0xff, 0xff, 0, 0, 0x75, 0x30, 2,
								2, 't',	/* Name "t" */
								2, 0, 0, 0, 2, 4, 'a', 'b', 'c', 0, 0, 0), true);
	check(kafka_ProduceRequest_decode(&r, 12, &req, &arena.alloc) == KAFKA_OK &&
		  kafka_str_eq(req.TopicData[0].Name, "t") && kafka_reader_remaining(&r) == 0,
		  "Produce v12 request from hand-assembled bytes: Name, no TopicId");

	part.LogAppendTimeMs = -1;
	part.RecordErrorsCount = 0;
	for (v = 10; v <= 13; v++)
	{
		const uint8_t *head;
		size_t		headlen;
		static const uint8_t by_name[] = {2, 2, 't'};	/* Responses: 1, Name "t" */
		static const uint8_t by_id[] = {2, 1, 2, 3, 4, 5, 6, 7, 8,
		9, 10, 11, 12, 13, 14, 15, 16};	/* Responses: 1, TopicId */
		static const uint8_t tail[] = {2,	/* PartitionResponses: 1 */
			0, 0, 0, 2, 0, 0,	/* Index, ErrorCode */
			0, 0, 0, 0, 0, 0, 0, 5,	/* BaseOffset */
			0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,	/* LogAppendTimeMs */
			0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,	/* LogStartOffset */
			1,	/* RecordErrors: empty */
			0,	/* ErrorMessage: null */
			0,	/* no CurrentLeader: no tags */
			0,	/* topic tags */
			0, 0, 0, 7,	/* ThrottleTimeMs */
		0};						/* no NodeEndpoints: no tags */
		uint8_t		expect[64];

		head = v >= 13 ? by_id : by_name;
		headlen = v >= 13 ? sizeof(by_id) : sizeof(by_name);
		memcpy(expect, head, headlen);
		memcpy(expect + headlen, tail, sizeof(tail));
		for (int i = 0; i < 16; i++)
			topic.TopicId.b[i] = (uint8_t) (i + 1);
		kafka_writer_reset(&w);
		kafka_ProduceResponse_encode(&w, (int16_t) v, &resp);
		check(w.err == KAFKA_OK && bytes_eq(w.buf, w.len, expect, headlen + sizeof(tail)),
			  "Produce v%d response matches hand-assembled bytes (%s, KIP-951 tags left out)",
			  v, v >= 13 ? "TopicId" : "Name");
	}
	/* KIP-951's tagged CurrentLeader, as the schema has it (tag 0) */
	part.HasCurrentLeader = true;
	part.CurrentLeader.LeaderId = 0;
	part.CurrentLeader.LeaderEpoch = 3;
	kafka_writer_reset(&w);
	kafka_ProduceResponse_encode(&w, 10, &resp);
	check(w.err == KAFKA_OK && w.len > 18 &&
		  bytes_eq(w.buf + w.len - 18, 18,
				   BYTES(1, 0, 9,	/* 1 tag: tag 0, 9 bytes */
						 0, 0, 0, 0, 0, 0, 0, 3, 0,	/* LeaderId 0, LeaderEpoch 3 */
						 0,	/* topic tags */
						 0, 0, 0, 7,	/* ThrottleTimeMs */
						 0)),	/* response tags */
		  "Produce v10 response with a tagged CurrentLeader matches hand-assembled bytes");
	kafka_writer_release(&w);
	arena_reset(&arena);
}

/*
 * DescribeTopicPartitions v0 (KIP-966) against hand-assembled bytes: its
 * Cursor and NextCursor are nullable structs, a marker byte first (-1 null,
 * 1 present), as Kafka's generated code writes them.
 */
static void
test_describe_topic_partitions_bytes(void)
{
	KafkaReader r;
	KafkaWriter w;
	KafkaDescribeTopicPartitionsRequest req;
	KafkaDescribeTopicPartitionsResponse resp;
	KafkaDescribeTopicPartitionsResponseTopic t;
	KafkaDescribeTopicPartitionsResponsePartition p;
	int32_t		node = 0;

	kafka_reader_init(&r, BYTES(2, 2, 't', 0,	/* Topics: ["t"] */
								0, 0, 0x07, 0xd0,	/* ResponsePartitionLimit 2000 */
								0xff,	/* Cursor: null */
								0), true);
	check(kafka_DescribeTopicPartitionsRequest_decode(&r, 0, &req, &arena.alloc) == KAFKA_OK &&
		  req.TopicsCount == 1 && kafka_str_eq(req.Topics[0].Name, "t") &&
		  req.ResponsePartitionLimit == 2000 && req.CursorIsNull &&
		  kafka_reader_remaining(&r) == 0,
		  "DescribeTopicPartitions v0 request from hand-assembled bytes: null Cursor");
	kafka_reader_init(&r, BYTES(1,	/* Topics: [] (all) */
								0, 0, 0, 10,	/* ResponsePartitionLimit 10 */
								1,	/* Cursor: present */
								2, 'u', 0, 0, 0, 3, 0,	/* TopicName "u", PartitionIndex 3 */
								0), true);
	check(kafka_DescribeTopicPartitionsRequest_decode(&r, 0, &req, &arena.alloc) == KAFKA_OK &&
		  req.TopicsCount == 0 && req.ResponsePartitionLimit == 10 && !req.CursorIsNull &&
		  kafka_str_eq(req.Cursor.TopicName, "u") && req.Cursor.PartitionIndex == 3 &&
		  kafka_reader_remaining(&r) == 0,
		  "DescribeTopicPartitions v0 request from hand-assembled bytes: a Cursor");

	memset(&resp, 0, sizeof(resp));
	memset(&t, 0, sizeof(t));
	memset(&p, 0, sizeof(p));
	resp.TopicsCount = 1;
	resp.Topics = &t;
	t.Name = kafka_str("t");
	for (int i = 0; i < 16; i++)
		t.TopicId.b[i] = (uint8_t) (i + 1);
	t.PartitionsCount = 1;
	t.Partitions = &p;
	t.TopicAuthorizedOperations = 0x5f8;
	p.PartitionIndex = 1;
	p.ReplicaNodesCount = 1;
	p.ReplicaNodes = &node;
	p.IsrNodesCount = 1;
	p.IsrNodes = &node;
	resp.NextCursorIsNull = false;
	resp.NextCursor.TopicName = kafka_str("t");
	resp.NextCursor.PartitionIndex = 2;
	kafka_writer_init(&w, &arena.alloc);
	kafka_DescribeTopicPartitionsResponse_encode(&w, 0, &resp);
	check(w.err == KAFKA_OK &&
		  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 0,	/* ThrottleTimeMs */
									   2,	/* Topics: 1 */
									   0, 0,	/* ErrorCode */
									   2, 't',	/* Name */
									   1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
									   0,	/* IsInternal */
									   2,	/* Partitions: 1 */
									   0, 0, 0, 0, 0, 1,	/* ErrorCode, PartitionIndex */
									   0, 0, 0, 0, 0, 0, 0, 0,	/* LeaderId 0, LeaderEpoch 0 */
									   2, 0, 0, 0, 0,	/* ReplicaNodes [0] */
									   2, 0, 0, 0, 0,	/* IsrNodes [0] */
									   1, 1, 1,	/* ELR [], LastKnownElr [], OfflineReplicas [] */
									   0,	/* partition tags */
									   0, 0, 0x05, 0xf8,	/* TopicAuthorizedOperations */
									   0,	/* topic tags */
									   1, 2, 't', 0, 0, 0, 2, 0,	/* NextCursor ("t", 2) */
									   0)),
		  "DescribeTopicPartitions v0 response matches hand-assembled bytes (NextCursor present)");
	resp.NextCursorIsNull = true;
	resp.TopicsCount = 0;
	kafka_writer_reset(&w);
	kafka_DescribeTopicPartitionsResponse_encode(&w, 0, &resp);
	check(w.err == KAFKA_OK && bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 0, 1, 0xff, 0)),
		  "DescribeTopicPartitions v0 response: a null NextCursor is the byte -1");
	kafka_writer_release(&w);
	arena_reset(&arena);
}

/* DescribeProducers v0 against hand-assembled bytes */
static void
test_describe_producers_bytes(void)
{
	KafkaReader r;
	KafkaWriter w;
	KafkaDescribeProducersRequest req;
	KafkaDescribeProducersResponse resp;
	KafkaDescribeProducersTopicResponse t;
	KafkaDescribeProducersPartitionResponse p;
	KafkaDescribeProducersProducerState st;

	kafka_reader_init(&r, BYTES(2, 2, 't',	/* Topics: ["t" */
								3, 0, 0, 0, 0, 0, 0, 0, 2,	/* [0, 2]] */
								0,	/* topic tags */
								0), true);
	check(kafka_DescribeProducersRequest_decode(&r, 0, &req, &arena.alloc) == KAFKA_OK &&
		  req.TopicsCount == 1 && kafka_str_eq(req.Topics[0].Name, "t") &&
		  req.Topics[0].PartitionIndexesCount == 2 && req.Topics[0].PartitionIndexes[1] == 2 &&
		  kafka_reader_remaining(&r) == 0,
		  "DescribeProducers v0 request from hand-assembled bytes");

	memset(&resp, 0, sizeof(resp));
	memset(&t, 0, sizeof(t));
	memset(&p, 0, sizeof(p));
	memset(&st, 0, sizeof(st));
	resp.TopicsCount = 1;
	resp.Topics = &t;
	t.Name = kafka_str("t");
	t.PartitionsCount = 1;
	t.Partitions = &p;
	p.PartitionIndex = 2;
	p.ErrorMessage = kafka_str_null();
	p.ActiveProducersCount = 1;
	p.ActiveProducers = &st;
	st.ProducerId = 1000;
	st.ProducerEpoch = 0;
	st.LastSequence = 4;
	st.LastTimestamp = 0x0102030405;
	st.CoordinatorEpoch = -1;
	st.CurrentTxnStartOffset = -1;
	kafka_writer_init(&w, &arena.alloc);
	kafka_DescribeProducersResponse_encode(&w, 0, &resp);
	check(w.err == KAFKA_OK &&
		  bytes_eq(w.buf, w.len, BYTES(0, 0, 0, 0,	/* ThrottleTimeMs */
									   2, 2, 't',	/* Topics: 1, Name */
									   2, 0, 0, 0, 2,	/* Partitions: 1, PartitionIndex */
									   0, 0, 0,	/* ErrorCode, ErrorMessage null */
									   2,	/* ActiveProducers: 1 */
									   0, 0, 0, 0, 0, 0, 0x03, 0xe8,	/* ProducerId 1000 */
									   0, 0, 0, 0,	/* ProducerEpoch (int32) */
									   0, 0, 0, 4,	/* LastSequence */
									   0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05,	/* LastTimestamp */
									   0xff, 0xff, 0xff, 0xff,	/* CoordinatorEpoch */
									   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
									   0,	/* producer tags */
									   0, 0, 0)),	/* partition, topic, response tags */
		  "DescribeProducers v0 response matches hand-assembled bytes");
	kafka_writer_release(&w);
	arena_reset(&arena);
}

static void
test_dispatch(void)
{
	KafkaReader r;
	KafkaRequestBody body;
	KafkaApiVersionsRequest req;
	KafkaWriter w;
	int			i;
	bool		ok = true;

	kafka_reader_init(&r, BYTES(0, 0, 0, 0), false);
	check(kafka_request_decode(&r, KAFKA_API_END_TXN, 2, &body, &arena.alloc) ==
		  KAFKA_ERR_UNSUPPORTED, "decode of an unsupported API: KAFKA_ERR_UNSUPPORTED");
	kafka_reader_init(&r, BYTES(0, 0, 0, 0), false);
	check(kafka_request_decode(&r, KAFKA_API_FETCH, 3, &body, &arena.alloc) ==
		  KAFKA_ERR_UNSUPPORTED, "decode of Fetch v3 (below the range): KAFKA_ERR_UNSUPPORTED");
	kafka_reader_init(&r, BYTES(0, 0, 0, 0), false);
	check(kafka_ProduceRequest_decode(&r, 14, &body.Produce, &arena.alloc) ==
		  KAFKA_ERR_UNSUPPORTED, "kafka_ProduceRequest_decode v14: KAFKA_ERR_UNSUPPORTED");

	kafka_writer_init(&w, &arena.alloc);
	for (i = 0; i < kafka_apis_count; i++)
	{
		const KafkaApiInfo *api = &kafka_apis[i];
		const TestApi *t = test_api_lookup(api->ApiKey);
		void	   *resp = calloc(1, t->resp_size);
		Fill		f;

		fill_init(&f, 3, false, &arena);
		t->fill_resp(&f, api->MaxVersion, resp);
		kafka_writer_reset(&w);
		if (kafka_response_frame_encode(&w, 77, api->ApiKey, api->MaxVersion, resp) != KAFKA_OK)
			ok = false;
		kafka_writer_reset(&w);
		if (kafka_response_encode(&w, api->ApiKey, api->MaxVersion + 1, resp) != KAFKA_ERR_UNSUPPORTED)
			ok = false;
		free(resp);
	}
	check(ok, "kafka_response_frame_encode for every API; unsupported versions refused");
	kafka_writer_release(&w);

	memset(&req, 0, sizeof(req));
	req.ClientSoftwareName = kafka_str("librdkafka");
	req.ClientSoftwareVersion = kafka_str("2.0.2");
	check(kafka_ApiVersionsRequest_valid(&req, 3), "ApiVersions v3 librdkafka/2.0.2 is valid");
	req.ClientSoftwareVersion = kafka_str("2.0.2-");
	check(!kafka_ApiVersionsRequest_valid(&req, 3) && kafka_ApiVersionsRequest_valid(&req, 2),
		  "ApiVersions v3 software version ending in '-' is invalid (v2: not checked)");
	req.ClientSoftwareVersion = kafka_str("");
	check(!kafka_ApiVersionsRequest_valid(&req, 3), "ApiVersions v3 empty software version is invalid");
	req.ClientSoftwareVersion = kafka_str("a");
	req.ClientSoftwareName = kafka_str("apache-kafka-java");
	check(kafka_ApiVersionsRequest_valid(&req, 3), "ApiVersions v3 apache-kafka-java/a is valid");
	arena_reset(&arena);
}

/*
 * kafka_response_errors (api_errors.c): every ErrorCode other than NONE
 * that the version carries, at every depth, and nothing else.
 */
typedef struct ErrorTally
{
	int			n;
	int16_t		codes[8];
} ErrorTally;

static void
tally_error(void *arg, int16_t code)
{
	ErrorTally *t = arg;

	if (t->n < 8)
		t->codes[t->n] = code;
	t->n++;
}

static void
test_response_errors(void)
{
	KafkaProduceResponse produce;
	KafkaTopicProduceResponse topic;
	KafkaPartitionProduceResponse parts[3];
	KafkaFetchResponse fetch;
	ErrorTally t;

	memset(&produce, 0, sizeof(produce));
	memset(&topic, 0, sizeof(topic));
	memset(parts, 0, sizeof(parts));
	parts[0].ErrorCode = KAFKA_ERROR_NOT_LEADER_OR_FOLLOWER;
	parts[2].ErrorCode = KAFKA_ERROR_MESSAGE_TOO_LARGE;
	topic.PartitionResponsesCount = 3;
	topic.PartitionResponses = parts;
	produce.ResponsesCount = 1;
	produce.Responses = &topic;
	memset(&t, 0, sizeof(t));
	check(kafka_response_errors(KAFKA_API_PRODUCE, 7, &produce, tally_error, &t) == 2 &&
		  t.n == 2 && t.codes[0] == KAFKA_ERROR_NOT_LEADER_OR_FOLLOWER &&
		  t.codes[1] == KAFKA_ERROR_MESSAGE_TOO_LARGE,
		  "response errors: a Produce response's partition errors, in order, NONE left out");

	memset(&fetch, 0, sizeof(fetch));
	fetch.ErrorCode = KAFKA_ERROR_FETCH_SESSION_ID_NOT_FOUND;
	fetch.ResponsesCount = -1;	/* null */
	memset(&t, 0, sizeof(t));
	check(kafka_response_errors(KAFKA_API_FETCH, 4, &fetch, tally_error, &t) == 0 && t.n == 0,
		  "response errors: Fetch v4 has no top-level ErrorCode");
	check(kafka_response_errors(KAFKA_API_FETCH, 7, &fetch, tally_error, &t) == 1 &&
		  t.codes[0] == KAFKA_ERROR_FETCH_SESSION_ID_NOT_FOUND,
		  "response errors: Fetch v7 has one; a null array has none");
	check(kafka_response_errors(1000, 0, &fetch, tally_error, &t) == 0,
		  "response errors: an API not served has none");
}

int
main(int argc, char **argv)
{
	bool		quick = argc > 1 && strcmp(argv[1], "--quick") == 0;

	arena_init(&arena);
	arena_init(&garena);
	test_table();
	test_writer_primitives();
	test_reader_primitives();
	test_headers();
	test_api_versions_bytes();
	test_flexible_bytes();
	test_group_bytes();
	test_kip848_bytes();
	test_produce_bytes();
	test_describe_topic_partitions_bytes();
	test_describe_producers_bytes();
	test_fetch_splice();
	test_response_errors();
	test_dispatch();
	test_round_trips();
	test_truncation();
	if (!quick)
		test_mutations();
	arena_destroy(&arena);
	arena_destroy(&garena);
	printf("%d passed, %d failed\n", npassed, nfailed);
	return nfailed == 0 ? 0 : 1;
}
