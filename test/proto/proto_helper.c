/*-------------------------------------------------------------------------
 *
 * proto_helper.c
 *	  Command-line face of the Kafka protocol codec for crosscheck.py and
 *	  make_corpus.py.  Reads commands from stdin, one per line, and answers
 *	  each with exactly two lines:
 *
 *	decode-request HEX
 *		HEX is a request without its Size: header + body.  Decodes the
 *		header and the body as the broker does.  Answers
 *			header KEY VERSION CORRELATION CLIENTID
 *			BODY
 *		with CLIENTID and BODY in canonical text form (testcodec.h), or
 *			error MESSAGE at OFFSET
 *			-
 *	encode-response KEY VERSION SEED
 *		Fills a response with the test filler (seed SEED), encodes the body
 *		with the broker's encoder.  Answers HEX, then the canonical text.
 *	encode-response-plain KEY VERSION SEED
 *		The same without tagged fields, with empty bytes/records, and a
 *		canonical text that leaves tagged fields out.
 *	encode-request KEY VERSION SEED MINIMAL
 *		Fills a request (MINIMAL 1: minimal values), encodes header + body
 *		with the test encoder.  Answers HEX, then the canonical text.
 *
 * test/proto/proto_helper.c
 *
 *-------------------------------------------------------------------------
 */
#include "testcodec.h"

static TestArena arena;

static void
decode_request(const char *hex, StrBuf *out1, StrBuf *out2)
{
	uint8_t    *p;
	size_t		n;
	KafkaReader r;
	KafkaRequestHeader h;
	KafkaRequestBody body;
	const TestApi *t;
	int			rc;

	if (hex_decode(hex, &p, &n) != 0)
	{
		sb_puts(out1, "error bad hex at 0");
		sb_puts(out2, "-");
		return;
	}
	kafka_reader_init(&r, p, n, false);
	rc = kafka_request_header_decode(&r, &h);
	if (rc == KAFKA_OK)
		rc = kafka_request_decode(&r, h.RequestApiKey, h.RequestApiVersion, &body,
								  &arena.alloc);
	if (rc == KAFKA_OK && kafka_reader_remaining(&r) != 0)
	{
		sb_printf(out1, "error %zu trailing bytes at %zu", kafka_reader_remaining(&r),
				  kafka_reader_offset(&r));
		sb_puts(out2, "-");
	}
	else if (rc != KAFKA_OK)
	{
		sb_printf(out1, "error %s at %zu", kafka_codec_strerror(rc), kafka_reader_offset(&r));
		sb_puts(out2, "-");
	}
	else
	{
		t = test_api_lookup(h.RequestApiKey);
		sb_printf(out1, "header %d %d %d ", h.RequestApiKey, h.RequestApiVersion,
				  h.CorrelationId);
		print_str(out1, h.ClientId);
		t->print_req(out2, h.RequestApiVersion, &body);
	}
	free(p);
}

static void
encode(bool request, int key, int version, unsigned long seed, bool minimal, bool plain,
	   StrBuf *out1, StrBuf *out2)
{
	const TestApi *t = test_api_lookup((int16_t) key);
	KafkaWriter w;
	Fill		f;
	void	   *msg;
	size_t		i;
	int			rc;

	if (t == NULL || version < t->min || version > t->max)
	{
		sb_puts(out1, "error unsupported");
		sb_puts(out2, "-");
		return;
	}
	msg = calloc(1, request ? t->req_size : t->resp_size);
	fill_init(&f, seed, minimal, &arena);
	f.plain = plain;
	print_omit_tagged = plain;
	kafka_writer_init(&w, &arena.alloc);
	if (request)
	{
		KafkaRequestHeader h;

		t->fill_req(&f, (int16_t) version, msg);
		h.RequestApiKey = (int16_t) key;
		h.RequestApiVersion = (int16_t) version;
		h.CorrelationId = (int32_t) seed;
		h.ClientId = kafka_str("nagare-test");
		kafka_request_header_encode(&w, &h);
		rc = t->enc_req(&w, (int16_t) version, msg);
		t->print_req(out2, (int16_t) version, msg);
	}
	else
	{
		t->fill_resp(&f, (int16_t) version, msg);
		rc = t->enc_resp(&w, (int16_t) version, msg);
		t->print_resp(out2, (int16_t) version, msg);
	}
	if (rc != KAFKA_OK)
	{
		sb_reset(out2);
		sb_printf(out1, "error %s", kafka_codec_strerror(rc));
		sb_puts(out2, "-");
	}
	else
		for (i = 0; i < w.len; i++)
			sb_printf(out1, "%02x", w.buf[i]);
	free(msg);
}

int
main(void)
{
	static char line[4 * 1024 * 1024];
	StrBuf		o1,
				o2;

	arena_init(&arena);
	sb_init(&o1);
	sb_init(&o2);
	while (fgets(line, sizeof(line), stdin) != NULL)
	{
		char		cmd[32];
		int			key,
					version,
					minimal = 0;
		unsigned long seed;
		char	   *arg;

		line[strcspn(line, "\r\n")] = '\0';
		sb_reset(&o1);
		sb_reset(&o2);
		if (sscanf(line, "%31s", cmd) != 1)
			continue;
		arg = line + strlen(cmd);
		while (*arg == ' ')
			arg++;
		if (strcmp(cmd, "decode-request") == 0)
			decode_request(arg, &o1, &o2);
		else if (strcmp(cmd, "encode-response") == 0 &&
				 sscanf(arg, "%d %d %lu", &key, &version, &seed) == 3)
			encode(false, key, version, seed, false, false, &o1, &o2);
		else if (strcmp(cmd, "encode-response-plain") == 0 &&
				 sscanf(arg, "%d %d %lu", &key, &version, &seed) == 3)
			encode(false, key, version, seed, false, true, &o1, &o2);
		else if (strcmp(cmd, "encode-request") == 0 &&
				 sscanf(arg, "%d %d %lu %d", &key, &version, &seed, &minimal) >= 3)
			encode(true, key, version, seed, minimal != 0, false, &o1, &o2);
		else
		{
			sb_puts(&o1, "error unknown command");
			sb_puts(&o2, "-");
		}
		print_omit_tagged = false;
		printf("%s\n%s\n", o1.data, o2.data);
		fflush(stdout);
		arena_reset(&arena);
	}
	sb_free(&o1);
	sb_free(&o2);
	arena_destroy(&arena);
	return 0;
}
