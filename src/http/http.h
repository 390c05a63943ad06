/*-------------------------------------------------------------------------
 *
 * http.h
 *	  HTTP/1.1 requests (RFC 9112) as the registry's Consul-compatible API
 *	  and the metrics endpoint receive them: an incremental request parser,
 *	  the helpers the handlers need (percent-decoding, the query string,
 *	  Go durations, Basic and token credentials) and a response head writer.
 *
 * Nothing here includes postgres.h or allocates: the parser reads untrusted
 * bytes from the network and is fuzzed standalone (test/fuzz/fuzz_http.c)
 * and unit-tested (test/http).  What it accepts is described by spans of
 * the caller's buffer and entries of a caller's array; the only write into
 * the buffer is the decoding of a chunked body in place, once the whole
 * request has arrived.
 *
 * The parser keeps offsets, never pointers, between calls: the caller may
 * move or grow its buffer between two calls as long as the bytes already
 * given stay the same.  Every call is given all the bytes of the request
 * received so far (from its first byte); it answers
 *	HTTP_PARSE_NEED_MORE	receive more and call again;
 *	HTTP_PARSE_DONE			req describes the request; req->consumed bytes of
 *							the buffer were its own (a pipelined request may
 *							follow): re-initialise the parser for the next;
 *	HTTP_PARSE_ERROR		req->status is the status to answer (400, 411,
 *							413, 414, 431, 501, 505) and req->error says why,
 *							for the log; answer and close the connection.
 * Errors are found in the order of the bytes, so a request fed whole or a
 * byte at a time gives the same answer.
 *
 * Which method a path allows (405) and what its body means are the
 * handlers'.
 *
 * Copyright (c) 2026, the nagare authors
 *
 * src/http/http.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_HTTP_H
#define NAGARE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest chunk-size line (with its extensions, without CRLF) accepted */
#define HTTP_MAX_CHUNK_LINE 1024

/* A span of the caller's buffer (or of a static string) */
typedef struct HttpSpan
{
	const char *p;
	size_t		len;
} HttpSpan;

typedef struct HttpHeader
{
	HttpSpan	name;			/* a token, as sent (compare case-insensitively) */
	HttpSpan	value;			/* without leading and trailing white space */
} HttpHeader;

typedef struct HttpLimits
{
	size_t		max_head;		/* request line, header lines and the empty line;
								 * also the bound of a chunked body's trailers */
	size_t		max_headers;	/* header fields; the capacity of the caller's array */
	size_t		max_body;		/* body bytes (chunked: after decoding) */
	bool		require_length; /* a POST or PUT with neither Content-Length nor
								 * Transfer-Encoding gets 411 instead of an empty
								 * body */
} HttpLimits;

typedef enum HttpParseResult
{
	HTTP_PARSE_NEED_MORE = 0,
	HTTP_PARSE_DONE,
	HTTP_PARSE_ERROR
} HttpParseResult;

/*
 * What has been checked of the request so far, as offsets from its first
 * byte.  Only nagare_http_parser_init() and nagare_http_parse() touch it.
 */
typedef struct HttpParser
{
	HttpLimits	limits;
	size_t		lines_end;		/* end of the last complete, checked head line */
	size_t		lf_from;		/* the current line has no LF before this */
	size_t		nfields;		/* header lines among them */
	bool		seen_line;		/* the request line is among them */
	size_t		head_len;		/* 0 until the head is complete */
	bool		expect_continue;	/* the head has "Expect: 100-continue" */
	bool		chunked;
	uint64_t	content_length;
	/* chunked body: how far its framing has been checked */
	size_t		chunk_scan;		/* offset of the next chunk-size line or data */
	uint64_t	chunk_left;		/* data bytes of the current chunk not yet seen */
	bool		chunk_in_data;	/* chunk_scan is inside a chunk's data (and CRLF) */
	bool		in_trailers;	/* the last chunk was seen */
	size_t		trailer_start;	/* offset of the trailer section */
	uint64_t	body_total;		/* decoded bytes so far */
} HttpParser;

typedef struct HttpRequest
{
	HttpSpan	method;			/* a token, case-sensitive ("GET") */
	HttpSpan	target;			/* the request-target as sent */
	HttpSpan	path;			/* origin-form path ("/v1/..."); of an absolute-form
								 * target, its path ("/" if none); "*" for
								 * OPTIONS * */
	HttpSpan	query;			/* after '?', without it; {NULL, 0} if none */
	bool		has_query;		/* a '?' was there (the query may be empty) */
	int			minor_version;	/* HTTP/1.0 or HTTP/1.1 */
	HttpHeader *headers;		/* the caller's array (limits.max_headers) */
	size_t		nheaders;
	HttpSpan	body;			/* decoded body, inside the buffer */
	size_t		head_len;		/* bytes of the head, leading empty lines included */
	size_t		consumed;		/* bytes of the buffer this request used */
	bool		chunked;
	bool		keep_alive;		/* the connection may carry another request */
	bool		expect_continue;
	int			status;			/* HTTP_PARSE_ERROR: the status to answer */
	const char *error;			/* HTTP_PARSE_ERROR: a static message */
} HttpRequest;

/* Percent-decoding and credential results */
typedef enum HttpDecodeResult
{
	HTTP_DECODE_OK = 0,
	HTTP_DECODE_BAD,			/* a malformed escape or a NUL: answer 400 */
	HTTP_DECODE_TOO_LONG		/* longer than the caller's buffer */
} HttpDecodeResult;

typedef enum HttpAuthResult
{
	HTTP_AUTH_NONE = 0,			/* no credentials of that kind */
	HTTP_AUTH_OK,
	HTTP_AUTH_BAD				/* malformed: answer 401 */
} HttpAuthResult;

/* The query string as name/value pairs, in order */
typedef struct HttpQueryIter
{
	const char *p;
	const char *end;
} HttpQueryIter;

/* A response head; see nagare_http_write_head() */
typedef struct HttpResponseHead
{
	int			status;
	const char *content_type;	/* NULL: no Content-Type */
	int64_t		content_length; /* < 0: no Content-Length */
	bool		keep_alive;		/* Connection: keep-alive, else close */
	const char *const *extra;	/* name, value, name, value, ... */
	size_t		nextra;			/* pairs in extra */
	int64_t		date;			/* Unix time of the Date header; < 0: none */
} HttpResponseHead;

extern void nagare_http_parser_init(HttpParser *parser, const HttpLimits *limits);
extern HttpParseResult nagare_http_parse(HttpParser *parser, char *buf, size_t len,
										 HttpHeader *headers, HttpRequest *req);

extern bool nagare_http_header(const HttpRequest *req, const char *name, HttpSpan *value);
extern bool nagare_http_span_ieq(HttpSpan s, const char *what);

extern HttpDecodeResult nagare_http_percent_decode(HttpSpan in, bool plus_is_space,
												   char *out, size_t cap, size_t *outlen);
extern void nagare_http_query_init(HttpQueryIter *it, HttpSpan query);
extern bool nagare_http_query_next(HttpQueryIter *it, HttpSpan *name, HttpSpan *value,
								   bool *has_value);
extern bool nagare_http_parse_duration(const char *p, size_t len, int64_t *ms);

extern HttpAuthResult nagare_http_basic_auth(const HttpRequest *req, char *buf, size_t cap,
											 HttpSpan *user, HttpSpan *password);
extern HttpAuthResult nagare_http_token(const HttpRequest *req, HttpSpan *token);

extern const char *nagare_http_reason(int status);
extern size_t nagare_http_format_date(int64_t unix_time, char *out, size_t cap);
extern size_t nagare_http_write_head(const HttpResponseHead *head, char *out, size_t cap);

#endif							/* NAGARE_HTTP_H */
