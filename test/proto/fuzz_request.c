/*-------------------------------------------------------------------------
 *
 * fuzz_request.c
 *	  libFuzzer target for the Kafka request decoders.
 *
 * The input is a request as the broker sees it after framing: header +
 * body (no Size).  The target decodes the header, then the body with the
 * decoder of that API and version (kafka_request_decode: every supported
 * API and version is reachable), exactly as the broker does.  Besides
 * crashes, leaks and undefined behaviour, it checks:
 *
 *	- allocations: never more than 16 bytes live per input byte (+ 4 KiB),
 *	  never size 0, never a free of NULL; everything is released after each
 *	  input (an arena, as the broker's per-request memory context);
 *	- consistency: a request that decodes is re-encoded with the test
 *	  encoder (generated from the schemas independently of the decoder's
 *	  code path), decoded again, and both decodings must print the same
 *	  canonical text.  So everything the decoder accepts is something a
 *	  client could have sent, and nothing is silently mangled.
 *
 * test/proto/fuzz_request.c
 *
 *-------------------------------------------------------------------------
 */
#include "testcodec.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static TestArena arena;
static TestArena arena2;
static bool initialized;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	KafkaReader r;
	KafkaRequestHeader h;
	KafkaRequestBody body;
	KafkaRequestBody body2;
	int			rc;

	if (!initialized)
	{
		arena_init(&arena);
		arena_init(&arena2);
		initialized = true;
	}
	arena.limit = 16 * size + 4096;

	kafka_reader_init(&r, data, size, false);
	rc = kafka_request_header_decode(&r, &h);
	if (rc == KAFKA_OK)
		rc = kafka_request_decode(&r, h.RequestApiKey, h.RequestApiVersion, &body,
								  &arena.alloc);
	if (arena.peak_bytes > arena.limit || rc == KAFKA_ERR_NOMEM)
	{
		fprintf(stderr, "decoder allocated more than %zu bytes for %zu input bytes\n",
				arena.limit, size);
		abort();
	}
	if (rc != KAFKA_OK && r.err == KAFKA_OK)
	{
		fprintf(stderr, "decode failed (%d) without recording the error\n", rc);
		abort();
	}
	if (r.pos < r.start || r.pos > r.end)
	{
		fprintf(stderr, "reader position out of bounds\n");
		abort();
	}

	if (rc == KAFKA_OK)
	{
		const TestApi *t = test_api_lookup(h.RequestApiKey);
		KafkaWriter w;
		KafkaReader r2;
		StrBuf		a,
					b;

		kafka_writer_init(&w, &arena2.alloc);
		rc = t->enc_req(&w, h.RequestApiVersion, &body);
		if (rc != KAFKA_OK)
		{
			fprintf(stderr, "%s v%d: a decoded request does not re-encode: %s\n", t->name,
					h.RequestApiVersion, kafka_codec_strerror(rc));
			abort();
		}
		kafka_reader_init(&r2, w.buf, w.len, false);
		rc = t->dec_req(&r2, h.RequestApiVersion, &body2, &arena2.alloc);
		if (rc != KAFKA_OK || kafka_reader_remaining(&r2) != 0)
		{
			fprintf(stderr, "%s v%d: a re-encoded request does not decode: %s\n", t->name,
					h.RequestApiVersion, kafka_codec_strerror(rc));
			abort();
		}
		sb_init(&a);
		sb_init(&b);
		t->print_req(&a, h.RequestApiVersion, &body);
		t->print_req(&b, h.RequestApiVersion, &body2);
		if (strcmp(a.data, b.data) != 0)
		{
			fprintf(stderr, "%s v%d: decode/encode/decode differs:\n%s\n%s\n", t->name,
					h.RequestApiVersion, a.data, b.data);
			abort();
		}
		sb_free(&a);
		sb_free(&b);
		kafka_writer_release(&w);
	}
	arena_reset(&arena);
	arena_reset(&arena2);
	return 0;
}
