/*-------------------------------------------------------------------------
 *
 * fuzz_http.c
 *	  libFuzzer target: the HTTP/1.1 request parser and its helpers
 *	  (src/http/http.c), which read what any client of the registry's API
 *	  and the metrics endpoint sends.
 *
 * An input is one byte of configuration (bit 0: small limits, 128-byte
 * head, 4 fields, 64-byte body, else 8 KiB, 32, 64 KiB; bit 1:
 * require_length), one byte that seeds the split feed, then the bytes a
 * client sends on one connection (requests may be pipelined).
 *
 * The stream is parsed twice: whole (each request from the end of the
 * last) and fed in pieces of sizes chosen from the seed, each call given a
 * fresh copy of exactly the bytes received so far (so ASan sees any read
 * past them, and the parser must keep no pointer between calls).  Both
 * must give the same sequence of results: each request's status, the bytes
 * it consumed, its head length, method, target, field count, keep-alive
 * and decoded body.
 *
 * What the parser accepts must hold its promises: spans inside the buffer,
 * the head within max_head, at most max_headers fields, a body within
 * max_body and inside the consumed bytes, a token method, a path starting
 * with '/' (or "*"); an error is one of the documented statuses with a
 * message.  The helpers then run over the parts: the query iterator, the
 * percent-decoder (path and every query name and value, into a small
 * buffer too), the duration parser on every value, Basic and token
 * credentials, and the response head writer with the path as a field
 * value (it may refuse it, but never write a line the caller did not ask
 * for).  The percent-decoder and the duration parser also read the raw
 * input.
 *
 * test/fuzz/fuzz_http.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "fuzz_alloc.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REQUESTS 256
#define MAX_FIELDS	 32

typedef struct Result
{
	HttpParseResult r;
	int			status;
	size_t		consumed;
	size_t		head_len;
	size_t		method_len;
	size_t		target_len;
	size_t		nheaders;
	bool		keep_alive;
	size_t		body_len;
	uint64_t	body_hash;
} Result;

static Result whole_results[MAX_REQUESTS];
static int	nwhole;

static uint64_t
hash(const char *p, size_t n)
{
	uint64_t	h = 1469598103934665603ULL;
	size_t		i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char) p[i]) * 1099511628211ULL;
	return h;
}

static bool
inside(HttpSpan s, const char *base, size_t len)
{
	return s.len == 0 || (s.p >= base && s.p + s.len <= base + len);
}

static void
check_decode(HttpSpan in, bool plus)
{
	char		out[4096];
	char		small[8];
	size_t		n = 0;
	HttpDecodeResult d;
	size_t		i;

	d = nagare_http_percent_decode(in, plus, out, sizeof(out), &n);
	FUZZ_ASSERT(d == HTTP_DECODE_OK || d == HTTP_DECODE_BAD || d == HTTP_DECODE_TOO_LONG);
	if (d == HTTP_DECODE_OK)
	{
		FUZZ_ASSERT(n <= in.len && n < sizeof(out) && out[n] == '\0');
		for (i = 0; i < n; i++)
			FUZZ_ASSERT(out[i] != '\0');
		/* a smaller buffer: the same, or too long, never another answer */
		d = nagare_http_percent_decode(in, plus, small, sizeof(small), &i);
		FUZZ_ASSERT(n < sizeof(small) ? (d == HTTP_DECODE_OK && i == n &&
										 memcmp(small, out, n) == 0)
									  : d == HTTP_DECODE_TOO_LONG);
	}
}

static void
check_duration(const char *p, size_t n)
{
	int64_t		ms = 12345;

	if (!nagare_http_parse_duration(p, n, &ms))
		return;
	/* at most 2^63 ns, in ms */
	FUZZ_ASSERT(ms >= -INT64_C(9223372036854) && ms <= INT64_C(9223372036854));
}

/* What a DONE request promises, and the helpers over its parts */
static void
check_request(const HttpRequest *req, const char *buf, size_t len, const HttpLimits *lim)
{
	HttpQueryIter it;
	HttpSpan	name;
	HttpSpan	value;
	bool		hv;
	size_t		i;
	char		cred[256];
	HttpSpan	user;
	HttpSpan	pw;
	HttpSpan	tok;
	HttpAuthResult a;

	FUZZ_ASSERT(req->consumed <= len && req->head_len <= req->consumed);
	FUZZ_ASSERT(req->head_len <= lim->max_head);
	FUZZ_ASSERT(req->nheaders <= lim->max_headers);
	FUZZ_ASSERT(req->body.len <= lim->max_body);
	FUZZ_ASSERT(req->body.len == 0 || (req->body.p == buf + req->head_len &&
									   req->head_len + req->body.len <= req->consumed));
	FUZZ_ASSERT(req->minor_version == 0 || req->minor_version == 1);
	FUZZ_ASSERT(req->method.len > 0 && inside(req->method, buf, req->head_len));
	FUZZ_ASSERT(req->target.len > 0 && inside(req->target, buf, req->head_len));
	FUZZ_ASSERT(inside(req->query, buf, req->head_len));
	FUZZ_ASSERT(req->path.len > 0);
	FUZZ_ASSERT(req->path.p[0] == '/' || (req->path.len == 1 && req->path.p[0] == '*'));
	for (i = 0; i < req->nheaders; i++)
	{
		FUZZ_ASSERT(req->headers[i].name.len > 0);
		FUZZ_ASSERT(inside(req->headers[i].name, buf, req->head_len));
		FUZZ_ASSERT(inside(req->headers[i].value, buf, req->head_len));
	}

	if (req->path.p[0] == '/')
		check_decode(req->path, false);
	nagare_http_query_init(&it, req->query);
	while (nagare_http_query_next(&it, &name, &value, &hv))
	{
		FUZZ_ASSERT(inside(name, buf, req->head_len) && inside(value, buf, req->head_len));
		FUZZ_ASSERT(hv || value.len == 0);
		FUZZ_ASSERT(name.len + value.len > 0 || hv);
		check_decode(name, true);
		check_decode(value, true);
		check_duration(value.p, value.len);
	}

	a = nagare_http_basic_auth(req, cred, sizeof(cred), &user, &pw);
	if (a == HTTP_AUTH_OK)
	{
		FUZZ_ASSERT(user.len > 0 && user.p == cred);
		FUZZ_ASSERT(pw.p == cred + user.len + 1 && cred[user.len] == ':');
		FUZZ_ASSERT(user.len + 1 + pw.len < sizeof(cred) && cred[user.len + 1 + pw.len] == '\0');
		FUZZ_ASSERT(memchr(cred, '\0', user.len + 1 + pw.len) == NULL);
	}
	if (nagare_http_token(req, &tok) == HTTP_AUTH_OK)
		FUZZ_ASSERT(tok.len > 0 && inside(tok, buf, req->head_len));

	/* the path as a response field: refused, or exactly the lines asked for */
	{
		char		path[512];
		char		out[1024];
		const char *extra[2] = {"X-Path", path};
		HttpResponseHead h = {200, "application/json", (int64_t) req->body.len,
							  req->keep_alive, extra, 1, 1796601600};
		size_t		n;
		size_t		lines = 0;

		n = req->path.len < sizeof(path) - 1 ? req->path.len : sizeof(path) - 1;
		memcpy(path, req->path.p, n);
		path[n] = '\0';
		n = nagare_http_write_head(&h, out, sizeof(out));
		if (n > 0)
		{
			for (i = 0; i < n; i++)
			{
				if (out[i] == '\n')
				{
					FUZZ_ASSERT(i > 0 && out[i - 1] == '\r');
					lines++;
				}
				else if (out[i] == '\r')
					FUZZ_ASSERT(i + 1 < n && out[i + 1] == '\n');
			}
			/* status, Date, Content-Type, Content-Length, Connection, X-Path, end */
			FUZZ_ASSERT(lines == 7);
		}
	}
}

static void
record(Result *res, HttpParseResult r, const HttpRequest *req)
{
	memset(res, 0, sizeof(*res));
	res->r = r;
	if (r == HTTP_PARSE_ERROR)
	{
		res->status = req->status;
		return;
	}
	if (r != HTTP_PARSE_DONE)
		return;
	res->consumed = req->consumed;
	res->head_len = req->head_len;
	res->method_len = req->method.len;
	res->target_len = req->target.len;
	res->nheaders = req->nheaders;
	res->keep_alive = req->keep_alive;
	res->body_len = req->body.len;
	res->body_hash = hash(req->body.p, req->body.len);
}

static void
check_error(const HttpRequest *req)
{
	FUZZ_ASSERT(req->error != NULL && !req->keep_alive);
	FUZZ_ASSERT(req->status == 400 || req->status == 411 || req->status == 413 ||
				req->status == 414 || req->status == 431 || req->status == 501 ||
				req->status == 505);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	HttpLimits	lim;
	HttpHeader	fields[MAX_FIELDS];
	HttpParser	ps;
	HttpRequest req;
	HttpParseResult r;
	char	   *buf;
	size_t		len;
	size_t		off;
	uint32_t	rnd;
	int			k;

	if (size < 2)
		return 0;
	if (data[0] & 1)
		lim = (HttpLimits){128, 4, 64, false};
	else
		lim = (HttpLimits){8192, MAX_FIELDS, 65536, false};
	lim.require_length = (data[0] & 2) != 0;
	rnd = 0x9e3779b9u ^ data[1];
	len = size - 2;

	/* the helpers on the raw bytes */
	{
		HttpSpan	raw = {(const char *) data + 2, len};

		check_decode(raw, (data[0] & 4) != 0);
		check_duration(raw.p, raw.len);
	}

	/* whole: each request parsed from the end of the last */
	buf = malloc(len ? len : 1);
	memcpy(buf, data + 2, len);
	nwhole = 0;
	off = 0;
	do
	{
		nagare_http_parser_init(&ps, &lim);
		r = nagare_http_parse(&ps, buf + off, len - off, fields, &req);
		record(&whole_results[nwhole++], r, &req);
		if (r == HTTP_PARSE_ERROR)
			check_error(&req);
		if (r != HTTP_PARSE_DONE)
			break;
		check_request(&req, buf + off, len - off, &lim);
		FUZZ_ASSERT(req.consumed > 0);
		off += req.consumed;
	} while (nwhole < MAX_REQUESTS);
	free(buf);

	/* split: pieces of 1 to 64 bytes (sometimes 1 to 1024), a fresh copy each call */
	off = 0;
	k = 0;
	{
		size_t		have = 0;

		nagare_http_parser_init(&ps, &lim);
		while (k < nwhole)
		{
			size_t		piece;
			char	   *tmp;

			rnd ^= rnd << 13;
			rnd ^= rnd >> 17;
			rnd ^= rnd << 5;
			piece = 1 + ((rnd & 0x80000000u) ? (rnd >> 8) % 1024 : (rnd >> 8) % 64);
			have = have + piece > len ? len : have + piece;
			tmp = malloc(have - off ? have - off : 1);
			memcpy(tmp, data + 2 + off, have - off);
			r = nagare_http_parse(&ps, tmp, have - off, fields, &req);
			if (r == HTTP_PARSE_NEED_MORE && have < len)
			{
				free(tmp);
				continue;
			}
			{
				Result		res;

				record(&res, r, &req);
				FUZZ_ASSERT(memcmp(&res, &whole_results[k], sizeof(res)) == 0);
			}
			free(tmp);
			k++;
			if (r != HTTP_PARSE_DONE)
				break;
			off += req.consumed;
			nagare_http_parser_init(&ps, &lim);
		}
		FUZZ_ASSERT(k == nwhole || nwhole == MAX_REQUESTS);
	}
	return 0;
}
