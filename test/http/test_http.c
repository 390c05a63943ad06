/*-------------------------------------------------------------------------
 *
 * test_http.c
 *	  Unit tests of the HTTP/1.1 request parser and its helpers
 *	  (src/http/http.c): what Consul clients and Prometheus send, every
 *	  error status, the same requests fed a byte at a time, pipelining,
 *	  chunked bodies, smuggling attempts, the limits at and one over,
 *	  percent-decoding, the query, Go durations, credentials and the
 *	  response head.  Then, given files of requests Python's http.client
 *	  made (requests.py), checks what the parser makes of each against what
 *	  the client was asked to send, and writes responses for http.client
 *	  to read (responses.py).  Prints "http: N passed, M failed".
 *
 *	  test_http [CAPTURED-REQUESTS [RESPONSES-OUT]]
 *
 * test/http/test_http.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

static int	passed;
static int	failed;

#define CHECK(cond, what) \
	do { \
		if (cond) \
			passed++; \
		else \
		{ \
			failed++; \
			printf("not ok: %s (%s, line %d)\n", what, #cond, __LINE__); \
		} \
	} while (0)

#define MAXH 16
#define BUFSZ 70000

static HttpLimits limits = {8192, MAXH, 65536, false};

static bool
span_is(HttpSpan s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

static bool
span_mem(HttpSpan s, const char *want, size_t n)
{
	return s.len == n && memcmp(s.p, want, n) == 0;
}

/* The last parse's buffers, so that spans stay valid for the checks */
static char whole[BUFSZ];
static char bytewise[BUFSZ];
static HttpHeader hdrs[MAXH];
static HttpHeader hdrs2[MAXH];
static HttpRequest req;
static bool split_agrees;

/*
 * Parse msg[0..n) whole into req; parse it again fed a byte at a time and
 * record in split_agrees whether both give the same result (status,
 * consumed, body, and for DONE the method, target and header count).
 */
static HttpParseResult
parse_n(const char *msg, size_t n, const HttpLimits *lim)
{
	HttpParser	ps;
	HttpParser	ps2;
	HttpParseResult r;
	HttpParseResult r2 = HTTP_PARSE_NEED_MORE;
	HttpRequest req2;
	size_t		i;

	memcpy(whole, msg, n);
	nagare_http_parser_init(&ps, lim);
	r = nagare_http_parse(&ps, whole, n, hdrs, &req);

	memset(bytewise, 0, sizeof(bytewise));
	nagare_http_parser_init(&ps2, lim);
	for (i = 1; i <= n; i++)
	{
		bytewise[i - 1] = msg[i - 1];
		r2 = nagare_http_parse(&ps2, bytewise, i, hdrs2, &req2);
		if (r2 != HTTP_PARSE_NEED_MORE)
			break;
	}
	split_agrees = r == r2;
	if (split_agrees && r == HTTP_PARSE_ERROR)
		split_agrees = req.status == req2.status;
	if (split_agrees && r == HTTP_PARSE_DONE)
		split_agrees = req.consumed == req2.consumed && req.body.len == req2.body.len &&
			memcmp(req.body.p, req2.body.p, req.body.len) == 0 &&
			req.method.len == req2.method.len && req.target.len == req2.target.len &&
			req.nheaders == req2.nheaders && req.keep_alive == req2.keep_alive;
	if (!split_agrees)
		printf("# split feed differs: whole %d/%d, bytewise %d/%d\n", r, req.status, r2,
			   req2.status);
	return r;
}

static HttpParseResult
parse(const char *msg)
{
	return parse_n(msg, strlen(msg), &limits);
}

static int
status_of(const char *msg)
{
	HttpParseResult r = parse(msg);

	CHECK(split_agrees, msg);
	return r == HTTP_PARSE_ERROR ? req.status : r == HTTP_PARSE_DONE ? 200 : 0;
}

static int
status_lim(const char *msg, size_t n, const HttpLimits *lim)
{
	HttpParseResult r = parse_n(msg, n, lim);

	CHECK(split_agrees, "split feed agrees");
	return r == HTTP_PARSE_ERROR ? req.status : r == HTTP_PARSE_DONE ? 200 : 0;
}

static void
test_consul_requests(void)
{
	HttpSpan	v;
	const char *m;

	m = "GET /v1/health/service/web?passing&tag=a&tag=b&index=12&wait=5m HTTP/1.1\r\n"
		"Host: 127.0.0.1:8500\r\nUser-Agent: Go-http-client/1.1\r\n"
		"X-Consul-Token: secret-token\r\nAccept-Encoding: gzip\r\n\r\n";
	CHECK(parse(m) == HTTP_PARSE_DONE, "health query parses");
	CHECK(split_agrees, "health query split");
	CHECK(span_is(req.method, "GET"), "method");
	CHECK(span_is(req.path, "/v1/health/service/web"), "path");
	CHECK(span_is(req.query, "passing&tag=a&tag=b&index=12&wait=5m"), "query");
	CHECK(req.has_query, "has query");
	CHECK(req.minor_version == 1 && req.keep_alive, "1.1 keep-alive");
	CHECK(req.nheaders == 4, "four headers");
	CHECK(req.body.len == 0 && req.consumed == strlen(m), "no body, all consumed");
	CHECK(nagare_http_header(&req, "x-consul-token", &v) && span_is(v, "secret-token"),
		  "header lookup ignores case");
	CHECK(!nagare_http_header(&req, "Authorization", &v), "absent header");

	m = "PUT /v1/agent/service/register HTTP/1.1\r\nHost: localhost\r\n"
		"Content-Type: application/json\r\nContent-Length: 24\r\n\r\n"
		"{\"Name\":\"web\",\"Port\":80}GET / HTTP/1.1\r\n";
	CHECK(parse(m) == HTTP_PARSE_DONE, "register with body");
	CHECK(span_is(req.body, "{\"Name\":\"web\",\"Port\":80}"), "body");
	CHECK(req.consumed == strlen(m) - 16, "the next request's bytes are not consumed");
	CHECK(split_agrees, "register split");

	m = "PUT /v1/agent/check/pass/service:web?note=all%20good HTTP/1.1\r\n"
		"Host: localhost\r\nContent-Length: 0\r\n\r\n";
	CHECK(status_of(m) == 200 && span_is(req.path, "/v1/agent/check/pass/service:web") &&
			  span_is(req.query, "note=all%20good"),
		  "check pass with note");

	/* curl -X PUT sends no Content-Length: an empty body, unless required */
	m = "PUT /v1/agent/service/deregister/web HTTP/1.1\r\nHost: x\r\n\r\n";
	CHECK(status_of(m) == 200 && req.body.len == 0, "PUT without length");

	/* Prometheus: /metrics with its Accept header */
	m = "GET /metrics HTTP/1.1\r\nHost: localhost:9187\r\nUser-Agent: Prometheus/2.42.0\r\n"
		"Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n"
		"Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n";
	CHECK(status_of(m) == 200 && span_is(req.path, "/metrics") && !req.has_query, "scrape");
	CHECK(nagare_http_header(&req, "accept", &v) &&
			  span_is(v, "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
		  "Accept value");
}

static void
test_request_line(void)
{
	/* absolute-form: its path; asterisk-form only for OPTIONS */
	CHECK(status_of("GET http://127.0.0.1:8500/v1/catalog/services?dc=dc1 HTTP/1.1\r\n"
					"Host: 127.0.0.1:8500\r\n\r\n") == 200 &&
			  span_is(req.path, "/v1/catalog/services") && span_is(req.query, "dc=dc1"),
		  "absolute-form");
	CHECK(status_of("GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n") == 200 &&
			  span_is(req.path, "/"),
		  "absolute-form without a path");
	CHECK(status_of("GET http://example.com?x=1 HTTP/1.1\r\nHost: a\r\n\r\n") == 200 &&
			  span_is(req.path, "/") && span_is(req.query, "x=1"),
		  "absolute-form with only a query");
	CHECK(status_of("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n") == 400, "no host");
	CHECK(status_of("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n") == 200 && span_is(req.path, "*"),
		  "OPTIONS *");
	CHECK(status_of("GET * HTTP/1.1\r\nHost: a\r\n\r\n") == 400, "GET *");
	CHECK(status_of("CONNECT example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n") == 400,
		  "authority-form");
	CHECK(status_of("GET /a?b HTTP/1.1\r\nHost: a\r\n\r\n") == 200 && span_is(req.query, "b"),
		  "flag query");
	CHECK(status_of("GET /a? HTTP/1.1\r\nHost: a\r\n\r\n") == 200 && req.has_query &&
			  req.query.len == 0,
		  "empty query");
	CHECK(status_of("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n") == 400, "fragment");
	CHECK(status_of("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n") == 400, "space in target");
	CHECK(status_of("GET  /a HTTP/1.1\r\nHost: a\r\n\r\n") == 400, "two spaces");
	CHECK(status_of("GET /a HTTP/1.1 \r\nHost: a\r\n\r\n") == 400, "trailing space");
	CHECK(status_of("G(T /a HTTP/1.1\r\nHost: a\r\n\r\n") == 400, "method not a token");
	CHECK(status_of(" GET /a HTTP/1.1\r\nHost: a\r\n\r\n") == 400, "leading space");
	CHECK(status_of("GET /a\r\n\r\n") == 400, "HTTP/0.9");
	CHECK(status_of("GET /a http/1.1\r\nHost: a\r\n\r\n") == 400, "lower-case version");
	CHECK(status_of("GET /a HTTP/1.10\r\nHost: a\r\n\r\n") == 400, "version too long");
	CHECK(status_of("GET /a HTTP/2.0\r\nHost: a\r\n\r\n") == 505, "HTTP/2.0");
	CHECK(status_of("GET /a HTTP/0.9\r\n\r\n") == 505, "HTTP/0.9 with version");
	CHECK(status_of("GET /a HTTP/1.0\r\n\r\n") == 200 && req.minor_version == 0 &&
			  !req.keep_alive,
		  "HTTP/1.0 closes, needs no Host");
	CHECK(status_of("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") == 200 &&
			  req.keep_alive,
		  "HTTP/1.0 keep-alive");
	CHECK(status_of("GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n") == 200 &&
			  !req.keep_alive,
		  "1.1 Connection: close");
	CHECK(status_of("GET /a HTTP/1.1\r\nHost: a\r\nConnection: TE, Close\r\n\r\n") == 200 &&
			  !req.keep_alive,
		  "close among the Connection options");
	CHECK(status_of("GET /a HTTP/1.1\r\nHost: a\r\n\r\n") == 200 && req.keep_alive,
		  "1.1 keep-alive by default");
	CHECK(status_of("\r\n\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\n") == 200 && req.head_len == 32,
		  "leading empty lines skipped and counted");
	CHECK(status_of("GET /a HTTP/1.1\nHost: a\r\n\r\n") == 400, "bare LF");
	CHECK(status_of("GET /a HTTP/1.1\r\nHost: a\n\r\n") == 400, "bare LF in a field");
	CHECK(status_of("GET /a HTTP/1.1\r\nHost: a\r\n\n") == 400, "bare LF at the end");
	CHECK(status_of("GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n") == 400, "bare CR");
	CHECK(status_of("GET /a HTTP/1.1\r\nHost: a\r\n\r") == 0, "needs the last LF");
	CHECK(status_of("GET /a HTTP/1.1\r\nHost: a\r\n") == 0, "needs the empty line");
	CHECK(status_of("") == 0, "nothing yet");
}

static void
test_fields(void)
{
	HttpSpan	v;

	CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX-A:   padded \t \r\n\r\n") == 200 &&
			  nagare_http_header(&req, "x-a", &v) && span_is(v, "padded"),
		  "value trimmed");
	CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX-A:\r\n\r\n") == 200 &&
			  nagare_http_header(&req, "X-A", &v) && v.len == 0,
		  "empty value");
	CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\xc3\xa9\r\n\r\n") == 200,
		  "obs-text in a value");
	CHECK(status_of("GET / HTTP/1.1\r\nHost : a\r\n\r\n") == 400, "space before colon");
	CHECK(status_of("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n") == 400, "tab before colon");
	CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n") == 400, "obs-fold");
	CHECK(status_of("GET / HTTP/1.1\r\n Host: a\r\n\r\n") == 400, "leading space");
	CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n") == 400, "empty name");
	CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n") == 400, "no colon");
	CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n") == 400, "name not a token");
	CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01\r\n\r\n") == 400, "CTL in value");
	CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7f\r\n\r\n") == 400, "DEL in value");
	CHECK(parse_n("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n", 37, &limits) ==
				  HTTP_PARSE_ERROR &&
			  req.status == 400 && split_agrees,
		  "NUL in value");
	{
		/* every byte in a field name and in a method: tchar only (RFC 9110 5.6.2) */
		const char *tchars = "!#$%&'*+-.^_`|~0123456789"
							 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
		int			c;
		int			agree = 0;

		for (c = 0; c < 256; c++)
		{
			char		m[64];
			bool		t = c != 0 && strchr(tchars, c) != NULL;
			HttpParseResult r;

			memcpy(m, "GET / HTTP/1.1\r\nHost: a\r\nX?: v\r\n\r\n", 34);
			m[26] = (char) c;
			r = parse_n(m, 34, &limits);
			/* "X:: v" is the field X with the value ": v" */
			agree += (r == HTTP_PARSE_DONE) == (t || c == ':');
			memcpy(m, "G?T / HTTP/1.1\r\nHost: a\r\n\r\n", 27);
			m[1] = (char) c;
			r = parse_n(m, 27, &limits);
			agree += (r == HTTP_PARSE_DONE) == t;
		}
		CHECK(agree == 512, "field names and methods are tokens");
	}
	CHECK(status_of("GET / HTTP/1.1\r\n\r\n") == 400, "1.1 without Host");
	CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n") == 400, "two Hosts");
	CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
					"Content-Length: 1\r\n\r\nx") == 200 &&
			  req.expect_continue,
		  "Expect: 100-continue");
	{
		/* 100-continue is known once the head is complete, before the body */
		HttpParser	ps;
		const char *m = "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
			"Content-Length: 5\r\n\r\n";

		memcpy(whole, m, strlen(m));
		nagare_http_parser_init(&ps, &limits);
		CHECK(nagare_http_parse(&ps, whole, strlen(m), hdrs, &req) == HTTP_PARSE_NEED_MORE &&
				  ps.head_len == strlen(m) && ps.expect_continue,
			  "head complete, body awaited, 100-continue");
	}
}

static void
test_bodies(void)
{
	const char *m;
	size_t		n;

	m = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
	CHECK(status_of(m) == 200 && span_is(req.body, "hello") && req.consumed == strlen(m),
		  "Content-Length body");
	CHECK(status_lim(m, strlen(m) - 1, &limits) == 0, "one byte short");
	CHECK(status_of("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
					"Content-Length: 5\r\n\r\nhello") == 200,
		  "identical Content-Lengths");
	CHECK(status_of("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello") ==
			  200,
		  "identical Content-Length list");
	CHECK(status_of("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
					"Content-Length: 6\r\n\r\nhello!") == 400,
		  "two different Content-Lengths");
	CHECK(status_of("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!") ==
			  400,
		  "Content-Length list that differs");
	CHECK(status_of("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello") == 400,
		  "Content-Length with a sign");
	CHECK(status_of("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello") == 400,
		  "hex Content-Length");
	CHECK(status_of("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n") == 400,
		  "empty Content-Length");
	CHECK(status_of("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n") == 400,
		  "Content-Length with a space inside");
	CHECK(status_of("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 65536\r\n\r\n") == 0,
		  "Content-Length at the limit waits");
	CHECK(status_of("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n") == 413,
		  "Content-Length one over: 413");
	CHECK(status_of("POST /x HTTP/1.1\r\nHost: a\r\n"
					"Content-Length: 99999999999999999999999999\r\n\r\n") == 413,
		  "huge Content-Length: 413");

	/* chunked, with extensions and trailers, decoded in place */
	m = "PUT /v1/agent/service/register HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5;name=value;x\r\nhello\r\n"
		"1 ; ext\r\n,\r\n"
		"A\r\n world!!!!\r\n"
		"0;last\r\nX-Trailer: yes\r\nOther: 1\r\n\r\n";
	CHECK(status_of(m) == 200 && span_is(req.body, "hello, world!!!!") && req.chunked &&
			  req.consumed == strlen(m),
		  "chunked with extensions and trailers");
	m = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n";
	CHECK(status_of(m) == 200 && req.body.len == 0 && req.consumed == strlen(m),
		  "empty chunked body");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
					"5\r\nhello\r\n0\r\n") == 0,
		  "chunked waits for the trailer section's end");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
					"5\r\nhelloX\r\n0\r\n\r\n") == 400,
		  "chunk longer than its size");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
					"g\r\nhello\r\n0\r\n\r\n") == 400,
		  "chunk size not hex");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
					"5x\r\nhello\r\n0\r\n\r\n") == 400,
		  "junk after the chunk size");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
					"5\nhello\r\n0\r\n\r\n") == 400,
		  "chunk size line with a bare LF");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
					"5 \r\nhello\r\n0\r\n\r\n") == 400,
		  "white space after a chunk size without an extension");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
					"5\t;x\r\nhello\r\n0 ;y\r\n\r\n") == 200 &&
			  span_is(req.body, "hello"),
		  "white space before a chunk extension (BWS)");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
					"0\r\nBad Trailer: x\r\n\r\n") == 400,
		  "malformed trailer");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
					"10000\r\n") == 0,
		  "chunk at the body limit waits");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
					"10001\r\n") == 413,
		  "chunk over the body limit: 413");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
					"FFFF\r\n") == 0,
		  "first chunk under the limit");
	{
		static char big[BUFSZ];
		const char *h = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
			"8000\r\n";

		/* two chunks of 32768: at the limit; a third byte over it */
		n = strlen(h);
		memcpy(big, h, n);
		memset(big + n, 'x', 32768);
		n += 32768;
		memcpy(big + n, "\r\n8000\r\n", 8);
		n += 8;
		memset(big + n, 'y', 32768);
		n += 32768;
		memcpy(big + n, "\r\n0\r\n\r\n", 7);
		CHECK(status_lim(big, n + 7, &limits) == 200 && req.body.len == 65536 &&
				  req.body.p[32767] == 'x' && req.body.p[32768] == 'y',
			  "chunked body at the limit");
		memcpy(big + n, "\r\n1\r\nz\r\n0\r\n\r\n", 13);
		CHECK(status_lim(big, n + 13, &limits) == 413, "chunked body one over");
	}
	{
		/* a chunk-size line of extensions at HTTP_MAX_CHUNK_LINE and one over */
		static char m2[4096];
		const char *h = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
		size_t		hl = strlen(h);

		memcpy(m2, h, hl);
		m2[hl] = '1';
		m2[hl + 1] = ';';
		memset(m2 + hl + 2, 'e', HTTP_MAX_CHUNK_LINE - 2);
		memcpy(m2 + hl + HTTP_MAX_CHUNK_LINE, "\r\nz\r\n0\r\n\r\n", 10);
		CHECK(status_lim(m2, hl + HTTP_MAX_CHUNK_LINE + 10, &limits) == 200 &&
				  span_is(req.body, "z"),
			  "chunk line at the limit");
		m2[hl + HTTP_MAX_CHUNK_LINE] = 'e';
		memcpy(m2 + hl + HTTP_MAX_CHUNK_LINE + 1, "\r\nz\r\n0\r\n\r\n", 10);
		CHECK(status_lim(m2, hl + HTTP_MAX_CHUNK_LINE + 11, &limits) == 400,
			  "chunk line one over");
	}
	{
		HttpLimits	req_len = limits;

		req_len.require_length = true;
		CHECK(status_lim("PUT / HTTP/1.1\r\nHost: a\r\n\r\n", 27, &req_len) == 411,
			  "411 when a length is required");
		CHECK(status_lim("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27, &req_len) == 200,
			  "GET needs no length");
		CHECK(status_lim("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 46,
						 &req_len) == 200,
			  "PUT with Content-Length: 0");
	}
}

static void
test_smuggling(void)
{
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
					"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 400,
		  "CL + TE");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
					"Content-Length: 4\r\n\r\n0\r\n\r\n") == 400,
		  "TE + CL");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
					"0\r\n\r\n") == 501,
		  "gzip, chunked: 501");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n") ==
			  501,
		  "chunked, gzip: 501");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n") == 501,
		  "gzip: 501");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n") == 501,
		  "identity: 501");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
					"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 400,
		  "chunked twice");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"
					"0\r\n\r\n") == 400,
		  "chunked twice in a list");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n") == 400,
		  "empty Transfer-Encoding");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n"
					"0\r\n\r\n") == 400,
		  "TE with a space before the colon");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"
					"0\r\n\r\n") == 400,
		  "TE folded");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n") == 501,
		  "xchunked");
	CHECK(status_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 400,
		  "TE in HTTP/1.0");
	CHECK(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\n\r\nhello") == 400,
		  "bare LF hiding a Content-Length");
}

static void
test_limits(void)
{
	static char m[20000];
	HttpLimits	small = {256, 4, 100, false};
	const char *rl = "GET /";
	const char *tail = " HTTP/1.1\r\n";
	size_t		n;
	size_t		pad;

	/* a request line of exactly max_head bytes with its CRLF; the head then has no room */
	n = strlen(rl);
	memcpy(m, rl, n);
	pad = 256 - n - strlen(tail);
	memset(m + n, 'a', pad);
	memcpy(m + n + pad, tail, strlen(tail));
	CHECK(status_lim(m, 256, &small) == 0, "request line at the limit waits");
	CHECK(status_lim(m, 256 + 2, &small) == 431, "then no room for the empty line: 431");
	memset(m + n, 'a', pad + 1);
	memcpy(m + n + pad + 1, tail, strlen(tail));
	CHECK(status_lim(m, 257, &small) == 414, "request line one over: 414");
	CHECK(status_lim(m, 200, &small) == 0, "a long request line waits until over");

	/* a whole head of exactly max_head, and one byte more */
	{
		const char *h = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
		size_t		hl = strlen(h);

		memcpy(m, h, hl);
		pad = 256 - hl - 4;
		memset(m + hl, 'v', pad);
		memcpy(m + hl + pad, "\r\n\r\n", 4);
		CHECK(status_lim(m, 256, &small) == 200, "head at the limit");
		memset(m + hl, 'v', pad + 1);
		memcpy(m + hl + pad + 1, "\r\n\r\n", 4);
		CHECK(status_lim(m, 257, &small) == 431, "head one over: 431");
	}
	/* header count at the limit and one over */
	n = (size_t) sprintf(m, "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
	CHECK(status_lim(m, n, &small) == 200 && req.nheaders == 4, "four headers of four");
	n = (size_t) sprintf(m, "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
	CHECK(status_lim(m, n, &small) == 431, "five headers of four: 431");
	/* errors in order: a bad line before the limit wins */
	n = (size_t) sprintf(m, "GET / HTTP/1.1\r\nBad Name: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n");
	CHECK(status_lim(m, n, &small) == 400, "a bad line before too many");
	/* trailers are bounded by max_head */
	{
		const char *h = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: ";
		size_t		hl = strlen(h);
		size_t		tstart = hl - 3;

		memcpy(m, h, hl);
		pad = 256 - (hl - tstart) - 4;
		memset(m + hl, 't', pad);
		memcpy(m + hl + pad, "\r\n\r\n", 4);
		CHECK(status_lim(m, hl + pad + 4, &small) == 200, "trailers at the limit");
		memset(m + hl, 't', pad + 1);
		memcpy(m + hl + pad + 1, "\r\n\r\n", 4);
		CHECK(status_lim(m, hl + pad + 5, &small) == 431, "trailers one over");
	}
	/* 505 and errors after it are not reached */
	n = (size_t) sprintf(m, "GET / HTTP/3.0\r\n");
	CHECK(status_lim(m, n, &small) == 505, "505 on the request line alone");
}

static void
test_pipelining(void)
{
	HttpParser	ps;
	static char buf[512];
	const char *m = "GET /v1/catalog/services HTTP/1.1\r\nHost: a\r\n\r\n"
		"PUT /v1/agent/check/pass/c1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok"
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"
		"GET /metrics HTTP/1.0\r\n\r\n"
		"GET /partial HTTP/1.1\r\nHo";
	size_t		len = strlen(m);
	size_t		off = 0;
	int			done = 0;
	const char *paths[] = {"/v1/catalog/services", "/v1/agent/check/pass/c1", "/x", "/metrics"};

	memcpy(buf, m, len);
	for (;;)
	{
		HttpParseResult r;

		nagare_http_parser_init(&ps, &limits);
		r = nagare_http_parse(&ps, buf + off, len - off, hdrs, &req);
		if (r != HTTP_PARSE_DONE)
		{
			CHECK(r == HTTP_PARSE_NEED_MORE, "the last one is incomplete");
			break;
		}
		CHECK(done < 4 && span_is(req.path, paths[done]), "pipelined path");
		if (done == 1)
			CHECK(span_is(req.body, "ok"), "pipelined body");
		if (done == 2)
			CHECK(span_is(req.body, "ab"), "pipelined chunked body");
		if (done == 3)
			CHECK(!req.keep_alive, "HTTP/1.0 ends the connection");
		off += req.consumed;
		done++;
	}
	CHECK(done == 4, "four pipelined requests");
	CHECK(strncmp(buf + off, "GET /partial", 12) == 0, "consumed points at the fifth");

	/* the buffer may move between calls: the parser keeps offsets */
	{
		static char a[256];
		static char b[256];
		const char *r = "POST /moved HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
			"3\r\nabc\r\n0\r\n\r\n";
		size_t		rl = strlen(r);

		nagare_http_parser_init(&ps, &limits);
		memcpy(a, r, 40);
		CHECK(nagare_http_parse(&ps, a, 40, hdrs, &req) == HTTP_PARSE_NEED_MORE, "first part");
		memcpy(a, r, 70);
		CHECK(nagare_http_parse(&ps, a, 70, hdrs, &req) == HTTP_PARSE_NEED_MORE, "second part");
		memcpy(b, r, rl);
		memset(a, 0, sizeof(a));
		CHECK(nagare_http_parse(&ps, b, rl, hdrs, &req) == HTTP_PARSE_DONE &&
				  span_is(req.path, "/moved") && span_is(req.body, "abc"),
			  "moved buffer");
	}
}

static void
test_percent(void)
{
	char		out[16];
	size_t		n;
	HttpSpan	s;

#define DEC(in, plus) \
	(s.p = (in), s.len = strlen(in), nagare_http_percent_decode(s, (plus), out, sizeof(out), &n))

	CHECK(DEC("a%20b+c", false) == HTTP_DECODE_OK && strcmp(out, "a b+c") == 0 && n == 5,
		  "path: + stays");
	CHECK(DEC("a%20b+c", true) == HTTP_DECODE_OK && strcmp(out, "a b c") == 0,
		  "query: + is a space");
	CHECK(DEC("%e6%97%a5%E6%9C%AC", false) == HTTP_DECODE_OK &&
			  strcmp(out, "\xe6\x97\xa5\xe6\x9c\xac") == 0,
		  "UTF-8, either case");
	CHECK(DEC("service%3Aweb", false) == HTTP_DECODE_OK && strcmp(out, "service:web") == 0,
		  "%3A");
	CHECK(DEC("a%2Fb", false) == HTTP_DECODE_OK && strcmp(out, "a/b") == 0, "%2F in a segment");
	CHECK(DEC("", false) == HTTP_DECODE_OK && n == 0 && out[0] == '\0', "empty");
	CHECK(DEC("%", false) == HTTP_DECODE_BAD, "lone %");
	CHECK(DEC("%2", false) == HTTP_DECODE_BAD, "short escape");
	CHECK(DEC("ab%2", false) == HTTP_DECODE_BAD, "short escape at the end");
	CHECK(DEC("%zz", false) == HTTP_DECODE_BAD, "not hex");
	CHECK(DEC("%00", false) == HTTP_DECODE_BAD, "%00");
	CHECK(DEC("%%41", false) == HTTP_DECODE_BAD, "%%");
	CHECK(DEC("123456789012345", false) == HTTP_DECODE_OK, "15 bytes fit in 16");
	CHECK(DEC("1234567890123456", false) == HTTP_DECODE_TOO_LONG, "16 bytes do not");
	CHECK(DEC("%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41", false) == HTTP_DECODE_OK &&
			  n == 15,
		  "escapes count decoded");
#undef DEC
}

static void
test_query(void)
{
	HttpQueryIter it;
	HttpSpan	q;
	HttpSpan	name;
	HttpSpan	value;
	bool		hv;
	int			count = 0;

	q.p = "passing&tag=a&tag=b+c&&index=12&wait=5m&stale&note=";
	q.len = strlen(q.p);
	nagare_http_query_init(&it, q);
	CHECK(nagare_http_query_next(&it, &name, &value, &hv) && span_is(name, "passing") && !hv &&
			  value.len == 0,
		  "flag");
	CHECK(nagare_http_query_next(&it, &name, &value, &hv) && span_is(name, "tag") && hv &&
			  span_is(value, "a"),
		  "tag=a");
	CHECK(nagare_http_query_next(&it, &name, &value, &hv) && span_is(value, "b+c"),
		  "value left encoded");
	CHECK(nagare_http_query_next(&it, &name, &value, &hv) && span_is(name, "index") &&
			  span_is(value, "12"),
		  "empty pair skipped");
	CHECK(nagare_http_query_next(&it, &name, &value, &hv) && span_is(value, "5m"), "wait");
	CHECK(nagare_http_query_next(&it, &name, &value, &hv) && span_is(name, "stale") && !hv,
		  "stale flag");
	CHECK(nagare_http_query_next(&it, &name, &value, &hv) && span_is(name, "note") && hv &&
			  value.len == 0,
		  "empty value");
	CHECK(!nagare_http_query_next(&it, &name, &value, &hv), "end");

	q.p = NULL;
	q.len = 0;
	nagare_http_query_init(&it, q);
	CHECK(!nagare_http_query_next(&it, &name, &value, &hv), "no query");
	q.p = "&&&";
	q.len = 3;
	nagare_http_query_init(&it, q);
	while (nagare_http_query_next(&it, &name, &value, &hv))
		count++;
	CHECK(count == 0, "only separators");
	q.p = "=x";
	q.len = 2;
	nagare_http_query_init(&it, q);
	CHECK(nagare_http_query_next(&it, &name, &value, &hv) && name.len == 0 && span_is(value, "x"),
		  "empty name");
}

static void
test_duration(void)
{
	int64_t		ms;

#define DUR(s) nagare_http_parse_duration((s), strlen(s), &ms)

	CHECK(DUR("5m") && ms == 300000, "5m");
	CHECK(DUR("120000ms") && ms == 120000, "120000ms (Prometheus)");
	CHECK(DUR("1m30s") && ms == 90000, "1m30s");
	CHECK(DUR("10s") && ms == 10000, "10s");
	CHECK(DUR("1h") && ms == 3600000, "1h");
	CHECK(DUR("1.5h") && ms == 5400000, "1.5h");
	CHECK(DUR(".5s") && ms == 500, ".5s");
	CHECK(DUR("1.s") && ms == 1000, "1.s");
	CHECK(DUR("0") && ms == 0, "0");
	CHECK(DUR("-0") && ms == 0, "-0");
	CHECK(DUR("+10s") && ms == 10000, "+10s");
	CHECK(DUR("-2s") && ms == -2000, "-2s");
	CHECK(DUR("1500us") && ms == 1, "us truncated");
	CHECK(DUR("1500\xc2\xb5s") && ms == 1, "micro sign");
	CHECK(DUR("1500\xce\xbcs") && ms == 1, "Greek mu");
	CHECK(DUR("999999ns") && ms == 0, "ns truncated toward zero");
	CHECK(DUR("2562047h") && ms == INT64_C(2562047) * 3600000, "2562047h fits");
	CHECK(DUR("9223372036854775807ns") && ms == INT64_C(9223372036854), "max");
	CHECK(!DUR("9223372036854775808ns"), "one over the max");
	CHECK(DUR("-9223372036854775808ns") && ms == -INT64_C(9223372036854), "min");
	CHECK(!DUR("2562048h"), "overflow");
	CHECK(!DUR("99999999999999999999s"), "huge");
	CHECK(!DUR(""), "empty");
	CHECK(!DUR("-"), "sign alone");
	CHECK(!DUR("5"), "missing unit");
	CHECK(!DUR("5 s"), "space");
	CHECK(!DUR("5d"), "unknown unit");
	CHECK(!DUR("5S"), "units are case-sensitive");
	CHECK(!DUR("."), "dot alone");
	CHECK(!DUR(".s"), "no digits");
	CHECK(!DUR("1m30"), "trailing number");
	CHECK(!DUR("s"), "unit alone");
	CHECK(DUR("1h1m1s1ms") && ms == 3661001, "all units");
#undef DUR
}

static const char *
auth_req(const char *authorization)
{
	static char m[512];

	snprintf(m, sizeof(m), "GET / HTTP/1.1\r\nHost: a\r\n%s\r\n\r\n", authorization);
	return m;
}

static void
test_auth(void)
{
	char		buf[64];
	HttpSpan	user;
	HttpSpan	pw;
	HttpSpan	tok;

	/* "alice:s3cr:et" */
	CHECK(status_of(auth_req("Authorization: Basic YWxpY2U6czNjcjpldA==")) == 200 &&
			  nagare_http_basic_auth(&req, buf, sizeof(buf), &user, &pw) == HTTP_AUTH_OK &&
			  span_is(user, "alice") && span_is(pw, "s3cr:et"),
		  "basic: password keeps its colons");
	CHECK(status_of(auth_req("authorization: basic   YWxpY2U6czNjcjpldA")) == 200 &&
			  nagare_http_basic_auth(&req, buf, sizeof(buf), &user, &pw) == HTTP_AUTH_OK &&
			  span_is(pw, "s3cr:et"),
		  "basic: scheme case, spaces, no padding");
	/* "bob:" */
	CHECK(status_of(auth_req("Authorization: Basic Ym9iOg==")) == 200 &&
			  nagare_http_basic_auth(&req, buf, sizeof(buf), &user, &pw) == HTTP_AUTH_OK &&
			  span_is(user, "bob") && pw.len == 0,
		  "basic: empty password");
	/* ":pw" */
	CHECK(status_of(auth_req("Authorization: Basic OnB3")) == 200 &&
			  nagare_http_basic_auth(&req, buf, sizeof(buf), &user, &pw) == HTTP_AUTH_BAD,
		  "basic: empty user");
	/* "alice" */
	CHECK(status_of(auth_req("Authorization: Basic YWxpY2U=")) == 200 &&
			  nagare_http_basic_auth(&req, buf, sizeof(buf), &user, &pw) == HTTP_AUTH_BAD,
		  "basic: no colon");
	/* "a\0:b" */
	CHECK(status_of(auth_req("Authorization: Basic YQA6Yg==")) == 200 &&
			  nagare_http_basic_auth(&req, buf, sizeof(buf), &user, &pw) == HTTP_AUTH_BAD,
		  "basic: NUL");
	CHECK(status_of(auth_req("Authorization: Basic YWxp!2U6")) == 200 &&
			  nagare_http_basic_auth(&req, buf, sizeof(buf), &user, &pw) == HTTP_AUTH_BAD,
		  "basic: not base64");
	CHECK(status_of(auth_req("Authorization: Basic YWx=Y2U6")) == 200 &&
			  nagare_http_basic_auth(&req, buf, sizeof(buf), &user, &pw) == HTTP_AUTH_BAD,
		  "basic: padding inside");
	CHECK(status_of(auth_req("Authorization: Basic Y")) == 200 &&
			  nagare_http_basic_auth(&req, buf, sizeof(buf), &user, &pw) == HTTP_AUTH_BAD,
		  "basic: one character");
	CHECK(status_of(auth_req("Authorization: Basic YWE6YmI=x")) == 200 &&
			  nagare_http_basic_auth(&req, buf, sizeof(buf), &user, &pw) == HTTP_AUTH_BAD,
		  "basic: data after padding");
	CHECK(status_of(auth_req("Authorization: Basic")) == 200 &&
			  nagare_http_basic_auth(&req, buf, sizeof(buf), &user, &pw) == HTTP_AUTH_NONE,
		  "basic: no credentials");
	CHECK(status_of(auth_req("Authorization: Basic YWxpY2U6czNjcjpldA==")) == 200 &&
			  nagare_http_basic_auth(&req, buf, 8, &user, &pw) == HTTP_AUTH_BAD,
		  "basic: longer than the buffer");
	CHECK(status_of(auth_req("X-A: b")) == 200 &&
			  nagare_http_basic_auth(&req, buf, sizeof(buf), &user, &pw) == HTTP_AUTH_NONE &&
			  nagare_http_token(&req, &tok) == HTTP_AUTH_NONE,
		  "no credentials at all");

	CHECK(status_of(auth_req("X-Consul-Token: 3f1a-77")) == 200 &&
			  nagare_http_token(&req, &tok) == HTTP_AUTH_OK && span_is(tok, "3f1a-77"),
		  "X-Consul-Token");
	CHECK(status_of(auth_req("Authorization: Bearer abc.def")) == 200 &&
			  nagare_http_token(&req, &tok) == HTTP_AUTH_OK && span_is(tok, "abc.def") &&
			  nagare_http_basic_auth(&req, buf, sizeof(buf), &user, &pw) == HTTP_AUTH_NONE,
		  "Bearer");
	CHECK(status_of(auth_req("Authorization: Bearer a b")) == 200 &&
			  nagare_http_token(&req, &tok) == HTTP_AUTH_BAD,
		  "Bearer with a space inside");
	CHECK(status_of(auth_req("Authorization: Bearer   ")) == 200 &&
			  nagare_http_token(&req, &tok) == HTTP_AUTH_NONE,
		  "Bearer with nothing (trimmed away)");
	CHECK(status_of(auth_req("X-Consul-Token: one\r\nAuthorization: Bearer two")) == 200 &&
			  nagare_http_token(&req, &tok) == HTTP_AUTH_OK && span_is(tok, "one"),
		  "X-Consul-Token before Bearer, as Consul");
	CHECK(status_of(auth_req("X-Consul-Token:\r\nAuthorization: Bearer two")) == 200 &&
			  nagare_http_token(&req, &tok) == HTTP_AUTH_OK && span_is(tok, "two"),
		  "an empty X-Consul-Token is none");
}

static void
test_response(void)
{
	char		out[512];
	size_t		n;
	const char *extra[] = {"X-Consul-Index", "42", "X-Consul-KnownLeader", "true"};
	const char *bad1[] = {"X-Bad", "a\r\nSet-Cookie: x"};
	const char *bad2[] = {"X Bad", "v"};
	HttpResponseHead h = {200, "application/json", 2, true, extra, 2, 784111777};

	n = nagare_http_write_head(&h, out, sizeof(out));
	out[n] = '\0';
	CHECK(n > 0 && strcmp(out, "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
							   "Content-Type: application/json\r\nContent-Length: 2\r\n"
							   "Connection: keep-alive\r\nX-Consul-Index: 42\r\n"
							   "X-Consul-KnownLeader: true\r\n\r\n") == 0,
		  "response head (RFC 9110's date example)");
	CHECK(nagare_http_write_head(&h, out, n - 1) == 0, "one byte short: 0");
	CHECK(nagare_http_write_head(&h, out, n) == n, "exact fit");

	h = (HttpResponseHead){404, NULL, 0, false, NULL, 0, -1};
	n = nagare_http_write_head(&h, out, sizeof(out));
	out[n] = '\0';
	CHECK(strcmp(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n") ==
			  0,
		  "404 without date or type");
	h = (HttpResponseHead){100, "text/plain", 5, true, NULL, 0, 0};
	n = nagare_http_write_head(&h, out, sizeof(out));
	out[n] = '\0';
	CHECK(strcmp(out, "HTTP/1.1 100 Continue\r\n\r\n") == 0, "100 Continue is bare");
	h = (HttpResponseHead){204, NULL, 7, true, NULL, 0, -1};
	n = nagare_http_write_head(&h, out, sizeof(out));
	out[n] = '\0';
	CHECK(strcmp(out, "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n") == 0,
		  "204 has no Content-Length");
	h = (HttpResponseHead){299, NULL, -1, true, NULL, 0, -1};
	n = nagare_http_write_head(&h, out, sizeof(out));
	out[n] = '\0';
	CHECK(strcmp(out, "HTTP/1.1 299 \r\nConnection: keep-alive\r\n\r\n") == 0,
		  "unknown status, empty reason, no length");
	h = (HttpResponseHead){200, NULL, -1, true, bad1, 1, -1};
	CHECK(nagare_http_write_head(&h, out, sizeof(out)) == 0, "CRLF in a value refused");
	h = (HttpResponseHead){200, NULL, -1, true, bad2, 1, -1};
	CHECK(nagare_http_write_head(&h, out, sizeof(out)) == 0, "name not a token refused");
	h = (HttpResponseHead){200, "text/plain\n", -1, true, NULL, 0, -1};
	CHECK(nagare_http_write_head(&h, out, sizeof(out)) == 0, "LF in Content-Type refused");
	h = (HttpResponseHead){99, NULL, -1, true, NULL, 0, -1};
	CHECK(nagare_http_write_head(&h, out, sizeof(out)) == 0, "status 99 refused");

	CHECK(nagare_http_format_date(0, out, sizeof(out)) == 29 &&
			  strcmp(out, "Thu, 01 Jan 1970 00:00:00 GMT") == 0,
		  "epoch");
	CHECK(nagare_http_format_date(1796601600, out, sizeof(out)) == 29 &&
			  strcmp(out, "Mon, 07 Dec 2026 00:00:00 GMT") == 0,
		  "2026");
	CHECK(nagare_http_format_date(951782400, out, sizeof(out)) == 29 &&
			  strcmp(out, "Tue, 29 Feb 2000 00:00:00 GMT") == 0,
		  "leap day");
	CHECK(nagare_http_format_date(0, out, 29) == 0, "no room for the NUL");
	CHECK(nagare_http_format_date(-1, out, sizeof(out)) == 0, "before 1970");
	CHECK(strcmp(nagare_http_reason(431), "Request Header Fields Too Large") == 0 &&
			  strcmp(nagare_http_reason(413), "Content Too Large") == 0,
		  "reasons");
}

/*
 * urllib's request for /v1/health/service/café api with urlencode()'s
 * query: the path segment and the tags decode to what was asked for.
 */
static void
check_urlencoded(void)
{
	char		out[64];
	size_t		n;
	HttpSpan	seg;
	HttpQueryIter it;
	HttpSpan	name;
	HttpSpan	value;
	bool		hv;
	int			tags = 0;
	bool		passing = false;
	int64_t		wait = 0;

	seg.p = req.path.p + strlen("/v1/health/service/");
	seg.len = req.path.len - strlen("/v1/health/service/");
	CHECK(nagare_http_percent_decode(seg, false, out, sizeof(out), &n) == HTTP_DECODE_OK &&
			  strcmp(out, "caf\xc3\xa9 api") == 0,
		  "urllib: path segment decodes");
	nagare_http_query_init(&it, req.query);
	while (nagare_http_query_next(&it, &name, &value, &hv))
	{
		if (span_is(name, "tag"))
		{
			CHECK(nagare_http_percent_decode(value, true, out, sizeof(out), &n) ==
					  HTTP_DECODE_OK,
				  "urllib: tag decodes");
			CHECK(strcmp(out, tags == 0 ? "blue green" : "\xe6\x97\xa5\xe6\x9c\xac") == 0,
				  "urllib: tag value");
			tags++;
		}
		else if (span_is(name, "passing"))
			passing = true;
		else if (span_is(name, "wait"))
			CHECK(nagare_http_parse_duration(value.p, value.len, &wait), "urllib: wait");
	}
	CHECK(tags == 2 && passing && wait == 90000, "urllib: tags, passing= and wait=1m30s");
}

/*
 * requests.py's captures: a file of records "<expect line>\n<length>\n<bytes>"
 * where the expect line is "method|target|header:value,...|body" (the
 * body hex-encoded) as the client was asked to send.
 */
static void
test_captured(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	static char expect[200000];
	static char raw[BUFSZ];
	int			count = 0;

	if (f == NULL)
	{
		CHECK(false, "open the captured requests");
		return;
	}
	while (fgets(expect, sizeof(expect), f))
	{
		size_t		len;
		char	   *method;
		char	   *target;
		char	   *hlist;
		char	   *bodyhex;
		char	   *save;
		static char body[BUFSZ];
		size_t		blen = 0;
		char	   *item;
		char		what[256];
		HttpSpan	v2;

		expect[strcspn(expect, "\n")] = '\0';
		if (fscanf(f, "%zu\n", &len) != 1 || len > sizeof(raw) || fread(raw, 1, len, f) != len)
		{
			CHECK(false, "read a captured request");
			break;
		}
		method = strtok_r(expect, "|", &save);
		target = strtok_r(NULL, "|", &save);
		hlist = strtok_r(NULL, "|", &save);
		bodyhex = strtok_r(NULL, "|", &save);
		snprintf(what, sizeof(what), "captured %s %s", method, target);
		if (bodyhex && strcmp(bodyhex, "-") != 0)
		{
			size_t		i;

			for (i = 0; bodyhex[2 * i] && bodyhex[2 * i + 1] && blen < sizeof(body); i++)
			{
				unsigned int b;

				sscanf(bodyhex + 2 * i, "%2x", &b);
				body[blen++] = (char) b;
			}
		}
		CHECK(parse_n(raw, len, &limits) == HTTP_PARSE_DONE, what);
		CHECK(split_agrees, what);
		CHECK(req.consumed == len, what);
		CHECK(span_is(req.method, method), what);
		CHECK(span_is(req.target, target), what);
		CHECK(span_mem(req.body, body, blen), what);
		if (hlist && strcmp(hlist, "-") != 0)
		{
			char	   *hsave;

			for (item = strtok_r(hlist, ",", &hsave); item; item = strtok_r(NULL, ",", &hsave))
			{
				char	   *colon = strchr(item, ':');
				HttpSpan	v;

				*colon = '\0';
				CHECK(nagare_http_header(&req, item, &v) && span_is(v, colon + 1), what);
				if (strcasecmp(item, "Authorization") == 0)
				{
					char		buf[128];
					HttpSpan	u;
					HttpSpan	p;

					CHECK(nagare_http_basic_auth(&req, buf, sizeof(buf), &u, &p) == HTTP_AUTH_OK &&
							  span_is(u, "alice") && span_is(p, "p@ss:w0rd"),
						  "captured basic auth");
				}
			}
		}
		if (nagare_http_header(&req, "Connection", &v2) && nagare_http_span_ieq(v2, "close"))
			CHECK(!req.keep_alive, "captured Connection: close");
		else
			CHECK(req.keep_alive, "captured keep-alive");
		if (strstr(target, "caf%C3%A9") != NULL)
			check_urlencoded();
		count++;
	}
	fclose(f);
	CHECK(count >= 6, "captured requests read");
	printf("# %d captured requests\n", count);
}

/*
 * Responses for responses.py to read with http.client: records
 * "status|reason|keep-alive|date|name:value,...|body-hex\n<length>\n<bytes>",
 * the head written by nagare_http_write_head() and the body after it.
 */
static void
write_responses(const char *path)
{
	static const struct
	{
		int			status;
		const char *type;
		bool		keep;
		int64_t		date;
		const char *extra[6];
		size_t		nextra;
		const char *body;
	}			rs[] = {
		{200, "application/json", true, 1796601600,
		 {"X-Consul-Index", "42", "X-Consul-KnownLeader", "true", "X-Consul-LastContact", "0"},
		 3, "[{\"Node\":{\"Node\":\"nagare\"}}]"},
		{404, "text/plain; charset=utf-8", false, 1796601601, {NULL}, 0,
		 "service not found\n"},
		{200, "text/plain; version=0.0.4; charset=utf-8", true, 951782400, {NULL}, 0,
		 "# HELP nagare_up Whether nagare is up.\n# TYPE nagare_up gauge\nnagare_up 1\n"},
		{204, NULL, true, 0, {"X-Consul-Index", "43"}, 1, ""},
		{400, "text/plain", false, -1, {NULL}, 0, "malformed request line\n"},
	};
	FILE	   *f = fopen(path, "wb");
	size_t		i;

	if (f == NULL)
	{
		CHECK(false, "open the responses file");
		return;
	}
	for (i = 0; i < sizeof(rs) / sizeof(rs[0]); i++)
	{
		char		out[1024];
		HttpResponseHead h;
		size_t		blen = strlen(rs[i].body);
		size_t		n;
		size_t		k;

		h.status = rs[i].status;
		h.content_type = rs[i].type;
		h.content_length = (int64_t) blen;
		h.keep_alive = rs[i].keep;
		h.extra = rs[i].extra;
		h.nextra = rs[i].nextra;
		h.date = rs[i].date;
		n = nagare_http_write_head(&h, out, sizeof(out));
		CHECK(n > 0, "response head written");
		fprintf(f, "%d|%s|%d|%lld|", rs[i].status, nagare_http_reason(rs[i].status),
				rs[i].keep ? 1 : 0, (long long) rs[i].date);
		for (k = 0; k < rs[i].nextra; k++)
			fprintf(f, "%s%s:%s", k ? "," : "", rs[i].extra[2 * k], rs[i].extra[2 * k + 1]);
		if (rs[i].type)
			fprintf(f, "%sContent-Type:%s", rs[i].nextra ? "," : "", rs[i].type);
		fprintf(f, "|");
		for (k = 0; k < blen; k++)
			fprintf(f, "%02x", (unsigned char) rs[i].body[k]);
		fprintf(f, "\n%zu\n", n + blen);
		fwrite(out, 1, n, f);
		fwrite(rs[i].body, 1, blen, f);
	}
	fclose(f);
}

int
main(int argc, char **argv)
{
	test_consul_requests();
	test_request_line();
	test_fields();
	test_bodies();
	test_smuggling();
	test_limits();
	test_pipelining();
	test_percent();
	test_query();
	test_duration();
	test_auth();
	test_response();
	if (argc > 1)
		test_captured(argv[1]);
	if (argc > 2)
		write_responses(argv[2]);
	printf("http: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
