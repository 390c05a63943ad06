/*-------------------------------------------------------------------------
 *
 * http.c
 *	  HTTP/1.1 request parsing (RFC 9112), the handlers' helpers and the
 *	  response head writer (see http.h).
 *
 * The input is untrusted and need not be NUL-terminated; every read is
 * bounded by the length given, and nothing is allocated.  The parser is
 * strict where leniency lets two parsers disagree on where a request ends
 * (request smuggling, RFC 9112 section 11.2):
 *	- lines end with CRLF; a bare LF or CR is 400;
 *	- no white space between a field name and its colon, no obs-fold (400);
 *	- Content-Length is one number (repeated identical values are allowed,
 *	  RFC 9110 section 8.6), never beside Transfer-Encoding (400);
 *	- Transfer-Encoding is "chunked" alone (any other coding: 501; chunked
 *	  twice: 400), and never in an HTTP/1.0 request (400);
 *	- HTTP/1.1 requests carry exactly one Host (400).
 * Leading empty lines before the request line are skipped (RFC 9112
 * section 2.2), counted in the head.
 *
 * Each head line is checked once, when its CRLF has arrived; the head is
 * parsed again in full when it is complete and when the request is, to
 * fill the caller's request from the buffer as it is then.  A chunked
 * body's framing is checked as it arrives and decoded in place once the
 * last chunk and the trailers (skipped) have arrived, so a request that
 * needs more bytes leaves the buffer as it was.
 *
 * Copyright (c) 2026, the nagare authors
 *
 * src/http/http.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http/http.h"

#define HTTP_INT64_MAX ((uint64_t) INT64_MAX)

/*
 * RFC 9110 section 5.6.2: tchar, ALPHA / DIGIT / "!#$%&'*+-.^_`|~", as a
 * bitmap of the 128 ASCII codes (test_http checks it against that list)
 */
static const uint32_t tchar_map[4] = {0x00000000, 0x03ff6cfa, 0xc7fffffe, 0x57ffffff};

static bool
is_tchar(unsigned char c)
{
	return c < 128 && (tchar_map[c >> 5] >> (c & 31)) & 1;
}

/* field-vchar, SP or HTAB: what a field value may hold (RFC 9110 5.5) */
static bool
is_value_char(unsigned char c)
{
	return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char
lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
}

static bool
mem_ieq(const char *a, const char *b, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
	{
		if (lower(a[i]) != lower(b[i]))
			return false;
	}
	return true;
}

/* Case-insensitive comparison of a span with a NUL-terminated string */
bool
nagare_http_span_ieq(HttpSpan s, const char *what)
{
	size_t		n = strlen(what);

	return s.len == n && mem_ieq(s.p, what, n);
}

static HttpSpan
trim(const char *p, size_t n)
{
	HttpSpan	s;

	while (n > 0 && is_ws(p[0]))
	{
		p++;
		n--;
	}
	while (n > 0 && is_ws(p[n - 1]))
		n--;
	s.p = p;
	s.len = n;
	return s;
}

/*
 * Next element of a comma-separated list (RFC 9110 section 5.6.1), trimmed;
 * empty elements are returned too (callers skip them).  false at the end.
 */
static bool
list_next(HttpSpan *rest, HttpSpan *elem)
{
	const char *comma;
	size_t		n;

	if (rest->p == NULL)
		return false;
	comma = memchr(rest->p, ',', rest->len);
	n = comma ? (size_t) (comma - rest->p) : rest->len;
	*elem = trim(rest->p, n);
	if (comma)
	{
		rest->len -= n + 1;
		rest->p = comma + 1;
	}
	else
		rest->p = NULL;
	return true;
}

static HttpParseResult
fail(HttpRequest *req, int status, const char *error)
{
	req->status = status;
	req->error = error;
	req->keep_alive = false;
	return HTTP_PARSE_ERROR;
}

/* The path "/" of an absolute-form target that has none */
static const char root_path[] = "/";

/*
 * Check a request line (without its CRLF) and describe it in req.  Returns
 * 0 or the status to answer, with *error set.
 */
static int
parse_request_line(const char *p, size_t n, HttpRequest *req, const char **error)
{
	size_t		i = 0;
	size_t		t0;
	size_t		t1;
	const char *t;
	size_t		tlen;
	const char *q;

	while (i < n && is_tchar((unsigned char) p[i]))
		i++;
	if (i == 0 || i == n || p[i] != ' ')
	{
		*error = "malformed request method";
		return 400;
	}
	req->method.p = p;
	req->method.len = i;
	t0 = ++i;
	while (i < n && p[i] != ' ')
	{
		unsigned char c = (unsigned char) p[i];

		if (c < 0x21 || c > 0x7e || c == '#')
		{
			*error = "invalid character in request target";
			return 400;
		}
		i++;
	}
	t1 = i;
	if (t1 == t0 || i == n)
	{
		*error = "malformed request line";
		return 400;
	}
	i++;
	/* HTTP-version: "HTTP/" DIGIT "." DIGIT, case-sensitive */
	if (n - i != 8 || memcmp(p + i, "HTTP/", 5) != 0 || p[i + 5] < '0' ||
		p[i + 5] > '9' || p[i + 6] != '.' || p[i + 7] < '0' || p[i + 7] > '9')
	{
		*error = "malformed HTTP version";
		return 400;
	}
	if (p[i + 5] != '1')
	{
		*error = "HTTP version other than 1.x";
		return 505;
	}
	req->minor_version = p[i + 7] == '0' ? 0 : 1;

	t = p + t0;
	tlen = t1 - t0;
	req->target.p = t;
	req->target.len = tlen;
	req->query.p = NULL;
	req->query.len = 0;
	req->has_query = false;
	if (tlen == 1 && t[0] == '*')
	{
		if (req->method.len != 7 || memcmp(req->method.p, "OPTIONS", 7) != 0)
		{
			*error = "asterisk-form target outside OPTIONS";
			return 400;
		}
		req->path = req->target;
		return 0;
	}
	if (t[0] != '/')
	{
		size_t		skip;
		const char *a;

		/* absolute-form: accepted, and its path used (RFC 9112 3.2.2) */
		if (tlen >= 7 && mem_ieq(t, "http://", 7))
			skip = 7;
		else if (tlen >= 8 && mem_ieq(t, "https://", 8))
			skip = 8;
		else
		{
			*error = "request target is neither origin-form nor absolute-form";
			return 400;
		}
		a = t + skip;
		while (a < t + tlen && *a != '/' && *a != '?')
			a++;
		if (a == t + skip)
		{
			*error = "absolute-form target without a host";
			return 400;
		}
		tlen -= a - t;
		t = a;
	}
	q = memchr(t, '?', tlen);
	if (q)
	{
		req->has_query = true;
		req->query.p = q + 1;
		req->query.len = tlen - (q + 1 - t);
		tlen = q - t;
	}
	if (tlen == 0)
	{
		req->path.p = root_path;
		req->path.len = 1;
	}
	else
	{
		req->path.p = t;
		req->path.len = tlen;
	}
	return 0;
}

/*
 * Check a field line (header or trailer, without its CRLF).  Returns 0 or
 * the status to answer, with *error set.
 */
static int
parse_field_line(const char *p, size_t n, HttpHeader *h, const char **error)
{
	size_t		i = 0;
	size_t		j;

	if (is_ws(p[0]))
	{
		*error = "obsolete line folding or white space before a field";
		return 400;
	}
	while (i < n && is_tchar((unsigned char) p[i]))
		i++;
	if (i == n || p[i] != ':')
	{
		*error = (i < n && is_ws(p[i])) ? "white space before a field's colon"
										: "malformed header field name";
		return 400;
	}
	if (i == 0)
	{
		*error = "empty header field name";
		return 400;
	}
	for (j = i + 1; j < n; j++)
	{
		if (!is_value_char((unsigned char) p[j]))
		{
			*error = "invalid character in a header field value";
			return 400;
		}
	}
	h->name.p = p;
	h->name.len = i;
	h->value = trim(p + i + 1, n - i - 1);
	return 0;
}

/*
 * The semantics of a complete head, in a fixed order: Host, the framing
 * (Transfer-Encoding, Content-Length), Connection and Expect.  Fills the
 * parser's framing and the request.
 */
static int
check_head(HttpParser *ps, HttpRequest *req, const char **error)
{
	size_t		i;
	int			hosts = 0;
	bool		have_te = false;
	bool		have_cl = false;
	bool		te_unknown = false;
	int			te_chunked = 0;
	bool		te_last_chunked = false;
	bool		te_empty = true;
	uint64_t	cl = 0;
	bool		cl_big = false;
	bool		close = false;
	bool		keep = false;

	ps->expect_continue = false;
	for (i = 0; i < req->nheaders; i++)
	{
		HttpHeader *h = &req->headers[i];
		HttpSpan	rest = h->value;
		HttpSpan	e;

		if (nagare_http_span_ieq(h->name, "Host"))
			hosts++;
		else if (nagare_http_span_ieq(h->name, "Transfer-Encoding"))
		{
			have_te = true;
			while (list_next(&rest, &e))
			{
				if (e.len == 0)
					continue;
				te_empty = false;
				if (nagare_http_span_ieq(e, "chunked"))
				{
					te_chunked++;
					te_last_chunked = true;
				}
				else
				{
					te_unknown = true;
					te_last_chunked = false;
				}
			}
		}
		else if (nagare_http_span_ieq(h->name, "Content-Length"))
		{
			bool		any = false;

			while (list_next(&rest, &e))
			{
				uint64_t	v = 0;
				bool		big = false;
				size_t		k;

				if (e.len == 0)
					continue;
				for (k = 0; k < e.len; k++)
				{
					if (e.p[k] < '0' || e.p[k] > '9')
					{
						*error = "malformed Content-Length";
						return 400;
					}
					if (v > (HTTP_INT64_MAX - 9) / 10)
						big = true;
					else
						v = v * 10 + (e.p[k] - '0');
				}
				if (have_cl && (big != cl_big || v != cl))
				{
					*error = "Content-Length values that differ";
					return 400;
				}
				have_cl = true;
				any = true;
				cl = v;
				cl_big = big;
			}
			if (!any)
			{
				*error = "empty Content-Length";
				return 400;
			}
		}
		else if (nagare_http_span_ieq(h->name, "Connection"))
		{
			while (list_next(&rest, &e))
			{
				if (nagare_http_span_ieq(e, "close"))
					close = true;
				else if (nagare_http_span_ieq(e, "keep-alive"))
					keep = true;
			}
		}
		else if (nagare_http_span_ieq(h->name, "Expect"))
		{
			if (nagare_http_span_ieq(h->value, "100-continue"))
				ps->expect_continue = req->minor_version >= 1;
		}
	}

	if (hosts > 1 || (hosts == 0 && req->minor_version >= 1))
	{
		*error = hosts ? "more than one Host" : "HTTP/1.1 request without Host";
		return 400;
	}
	ps->chunked = false;
	ps->content_length = 0;
	if (have_te)
	{
		if (req->minor_version == 0)
		{
			*error = "Transfer-Encoding in an HTTP/1.0 request";
			return 400;
		}
		if (have_cl)
		{
			*error = "both Content-Length and Transfer-Encoding";
			return 400;
		}
		if (te_empty)
		{
			*error = "empty Transfer-Encoding";
			return 400;
		}
		if (te_unknown)
		{
			*error = "transfer coding other than chunked";
			return 501;
		}
		if (te_chunked != 1 || !te_last_chunked)
		{
			*error = "chunked given more than once";
			return 400;
		}
		ps->chunked = true;
	}
	else if (have_cl)
	{
		if (cl_big || cl > ps->limits.max_body)
		{
			*error = "Content-Length over the limit";
			return 413;
		}
		ps->content_length = cl;
	}
	else if (ps->limits.require_length &&
			 ((req->method.len == 4 && memcmp(req->method.p, "POST", 4) == 0) ||
			  (req->method.len == 3 && memcmp(req->method.p, "PUT", 3) == 0)))
	{
		*error = "POST or PUT without Content-Length";
		return 411;
	}

	req->chunked = ps->chunked;
	req->expect_continue = ps->expect_continue;
	if (req->minor_version >= 1)
		req->keep_alive = !close;
	else
		req->keep_alive = keep && !close;
	return 0;
}

/*
 * Parse the complete head [0, head_len) again into req (the lines are
 * known to be well-formed) and check its semantics.
 */
static int
parse_head(HttpParser *ps, const char *buf, HttpHeader *headers, HttpRequest *req,
		   const char **error)
{
	size_t		pos = 0;
	bool		seen_line = false;
	int			st;

	req->headers = headers;
	req->nheaders = 0;
	while (pos < ps->head_len)
	{
		const char *lf = memchr(buf + pos, '\n', ps->head_len - pos);
		size_t		n = (size_t) (lf - (buf + pos)) - 1;

		if (n == 0)
		{
			pos += 2;
			if (seen_line)
				break;
			continue;
		}
		if (!seen_line)
		{
			st = parse_request_line(buf + pos, n, req, error);
			seen_line = true;
		}
		else
			st = parse_field_line(buf + pos, n, &headers[req->nheaders++], error);
		if (st != 0)
			return st;
		pos += n + 2;
	}
	req->head_len = ps->head_len;
	return check_head(ps, req, error);
}

void
nagare_http_parser_init(HttpParser *parser, const HttpLimits *limits)
{
	memset(parser, 0, sizeof(*parser));
	parser->limits = *limits;
}

/*
 * The first LF in [pos, end), or NULL.  What an earlier call has searched
 * of the same line (from pos to ps->lf_from) is not searched again, so a
 * line that arrives a byte at a time costs its length, not its square.
 */
static const char *
find_lf(HttpParser *ps, const char *buf, size_t pos, size_t end)
{
	size_t		from = ps->lf_from > pos ? ps->lf_from : pos;
	const char *lf = from < end ? memchr(buf + from, '\n', end - from) : NULL;

	ps->lf_from = lf ? 0 : end;
	return lf;
}

/*
 * Check the head lines that have arrived since the last call.  Returns 0
 * (head complete or more needed: see ps->head_len) or a status.
 */
static int
scan_head(HttpParser *ps, const char *buf, size_t len, const char **error)
{
	size_t		pos = ps->lines_end;

	while (pos < len)
	{
		const char *lf = find_lf(ps, buf, pos, len);
		size_t		end;
		size_t		n;
		HttpHeader	h;
		HttpRequest scratch;
		int			st;

		if (lf == NULL)
			break;
		end = (size_t) (lf - buf) + 1;
		if (end > ps->limits.max_head)
			break;
		if (lf == buf + pos || lf[-1] != '\r')
		{
			*error = "line not ended by CRLF";
			return 400;
		}
		n = end - pos - 2;
		if (n > 0 && memchr(buf + pos, '\r', n) != NULL)
		{
			*error = "CR inside a line";
			return 400;
		}
		if (!ps->seen_line)
		{
			if (n > 0)
			{
				st = parse_request_line(buf + pos, n, &scratch, error);
				if (st != 0)
					return st;
				ps->seen_line = true;
			}
		}
		else if (n == 0)
		{
			ps->lines_end = end;
			ps->head_len = end;
			return 0;
		}
		else
		{
			if (++ps->nfields > ps->limits.max_headers)
			{
				*error = "too many header fields";
				return 431;
			}
			st = parse_field_line(buf + pos, n, &h, error);
			if (st != 0)
				return st;
		}
		ps->lines_end = pos = end;
	}
	/* the line at pos is incomplete, or ends past the limit */
	if (len > ps->limits.max_head)
	{
		if (!ps->seen_line)
		{
			*error = "request line over the limit";
			return 414;
		}
		*error = "request head over the limit";
		return 431;
	}
	return 0;
}

/*
 * Check a chunked body's framing from where the last call stopped.
 * Returns 0 (*done says whether the body and its trailers are complete)
 * or a status.
 */
static int
scan_chunks(HttpParser *ps, const char *buf, size_t len, bool *done, const char **error)
{
	*done = false;
	for (;;)
	{
		size_t		pos = ps->chunk_scan;

		if (ps->in_trailers)
		{
			const char *lf;
			size_t		n;
			HttpHeader	h;
			int			st;

			if (pos >= len)
				return 0;
			lf = find_lf(ps, buf, pos, len);
			if (lf == NULL)
			{
				if (len - ps->trailer_start > ps->limits.max_head)
				{
					*error = "trailers over the limit";
					return 431;
				}
				return 0;
			}
			if ((size_t) (lf - buf) + 1 - ps->trailer_start > ps->limits.max_head)
			{
				*error = "trailers over the limit";
				return 431;
			}
			if (lf == buf + pos || lf[-1] != '\r')
			{
				*error = "line not ended by CRLF";
				return 400;
			}
			n = (size_t) (lf - (buf + pos)) - 1;
			if (n > 0 && memchr(buf + pos, '\r', n) != NULL)
			{
				*error = "CR inside a line";
				return 400;
			}
			ps->chunk_scan = pos + n + 2;
			if (n == 0)
			{
				*done = true;
				return 0;
			}
			st = parse_field_line(buf + pos, n, &h, error);
			if (st != 0)
				return st;
			continue;
		}
		if (ps->chunk_in_data)
		{
			size_t		avail = len - pos;

			if (ps->chunk_left > 0)
			{
				size_t		take = ps->chunk_left < avail ? (size_t) ps->chunk_left : avail;

				ps->chunk_scan += take;
				ps->chunk_left -= take;
				if (ps->chunk_left > 0)
					return 0;
				pos = ps->chunk_scan;
			}
			if (len - pos < 2)
				return 0;
			if (buf[pos] != '\r' || buf[pos + 1] != '\n')
			{
				*error = "chunk data not followed by CRLF";
				return 400;
			}
			ps->chunk_scan = pos + 2;
			ps->chunk_in_data = false;
			continue;
		}
		else
		{
			size_t		window = len - pos;
			const char *lf;
			size_t		n;
			size_t		i = 0;
			uint64_t	size = 0;
			bool		big = false;
			uint64_t	room = ps->limits.max_body - ps->body_total;

			if (window > HTTP_MAX_CHUNK_LINE + 2)
				window = HTTP_MAX_CHUNK_LINE + 2;
			lf = find_lf(ps, buf, pos, pos + window);
			if (lf == NULL)
			{
				if (len - pos > HTTP_MAX_CHUNK_LINE + 1)
				{
					*error = "chunk-size line over the limit";
					return 400;
				}
				return 0;
			}
			if (lf == buf + pos || lf[-1] != '\r')
			{
				*error = "line not ended by CRLF";
				return 400;
			}
			n = (size_t) (lf - (buf + pos)) - 1;
			if (n > HTTP_MAX_CHUNK_LINE)
			{
				*error = "chunk-size line over the limit";
				return 400;
			}
			while (i < n && hex_value(buf[pos + i]) >= 0)
			{
				if (!big)
				{
					size = size * 16 + hex_value(buf[pos + i]);
					/* size was at most room; stop before it could wrap */
					if (size > room || size > UINT64_MAX / 32)
						big = true;
				}
				i++;
			}
			if (i == 0)
			{
				*error = "malformed chunk size";
				return 400;
			}
			/*
			 * chunk-ext: BWS ";" ..., ignored; only its characters are
			 * checked.  White space is allowed only before a ';'.
			 */
			{
				size_t		hex_end = i;

				while (i < n && is_ws(buf[pos + i]))
					i++;
				if ((i < n && buf[pos + i] != ';') || (i == n && i != hex_end))
				{
					*error = "malformed chunk size";
					return 400;
				}
			}
			for (; i < n; i++)
			{
				if (!is_value_char((unsigned char) buf[pos + i]))
				{
					*error = "invalid character in a chunk extension";
					return 400;
				}
			}
			if (big || size > room)
			{
				*error = "chunked body over the limit";
				return 413;
			}
			ps->chunk_scan = pos + n + 2;
			if (size == 0)
			{
				ps->in_trailers = true;
				ps->trailer_start = ps->chunk_scan;
			}
			else
			{
				ps->chunk_in_data = true;
				ps->chunk_left = size;
				ps->body_total += size;
			}
		}
	}
}

/*
 * Decode a chunked body whose framing scan_chunks() has checked: move each
 * chunk's data down to follow the previous one, from head_len on.
 */
static void
decode_chunks(HttpParser *ps, char *buf, size_t len)
{
	size_t		src = ps->head_len;
	size_t		dst = ps->head_len;

	for (;;)
	{
		uint64_t	size = 0;
		const char *lf;

		while (hex_value(buf[src]) >= 0)
			size = size * 16 + hex_value(buf[src++]);
		lf = memchr(buf + src, '\n', len - src);
		src = (size_t) (lf - buf) + 1;
		if (size == 0)
			break;
		memmove(buf + dst, buf + src, size);
		dst += size;
		src += size + 2;
	}
}

HttpParseResult
nagare_http_parse(HttpParser *ps, char *buf, size_t len, HttpHeader *headers,
				  HttpRequest *req)
{
	const char *error = NULL;
	int			st;
	bool		head_new = false;

	memset(req, 0, sizeof(*req));
	req->headers = headers;
	/* fewer bytes than last time: a caller's mistake, nothing to parse */
	if (len < ps->lines_end || (ps->head_len > 0 && len < ps->chunk_scan))
		return HTTP_PARSE_NEED_MORE;

	if (ps->head_len == 0)
	{
		st = scan_head(ps, buf, len, &error);
		if (st != 0)
			return fail(req, st, error);
		if (ps->head_len == 0)
			return HTTP_PARSE_NEED_MORE;
		head_new = true;
		/* the framing, and the head's other errors, as soon as it is complete */
		st = parse_head(ps, buf, headers, req, &error);
		if (st != 0)
			return fail(req, st, error);
		ps->chunk_scan = ps->head_len;
	}

	if (ps->chunked)
	{
		bool		done;

		st = scan_chunks(ps, buf, len, &done, &error);
		if (st != 0)
			return fail(req, st, error);
		if (!done)
			return HTTP_PARSE_NEED_MORE;
		if (!head_new)
			(void) parse_head(ps, buf, headers, req, &error);
		decode_chunks(ps, buf, len);
		req->body.p = buf + ps->head_len;
		req->body.len = ps->body_total;
		req->consumed = ps->chunk_scan;
		return HTTP_PARSE_DONE;
	}
	if (len - ps->head_len < ps->content_length)
		return HTTP_PARSE_NEED_MORE;
	if (!head_new)
		(void) parse_head(ps, buf, headers, req, &error);
	req->body.p = buf + ps->head_len;
	req->body.len = ps->content_length;
	req->consumed = ps->head_len + ps->content_length;
	return HTTP_PARSE_DONE;
}

/* The first header of that name (case-insensitive) */
bool
nagare_http_header(const HttpRequest *req, const char *name, HttpSpan *value)
{
	size_t		i;

	for (i = 0; i < req->nheaders; i++)
	{
		if (nagare_http_span_ieq(req->headers[i].name, name))
		{
			*value = req->headers[i].value;
			return true;
		}
	}
	return false;
}

/*
 * Percent-decode a path segment or a query component into out, followed by
 * a NUL.  "+" is a space only where plus_is_space (the query).  A '%' not
 * followed by two hex digits, and "%00", are malformed: the result goes on
 * to name lookups as a C string.
 */
HttpDecodeResult
nagare_http_percent_decode(HttpSpan in, bool plus_is_space, char *out, size_t cap,
						   size_t *outlen)
{
	size_t		i = 0;
	size_t		n = 0;

	while (i < in.len)
	{
		char		c = in.p[i];

		if (c == '%')
		{
			int			hi;
			int			lo;

			if (in.len - i < 3 || (hi = hex_value(in.p[i + 1])) < 0 ||
				(lo = hex_value(in.p[i + 2])) < 0)
				return HTTP_DECODE_BAD;
			c = (char) (hi * 16 + lo);
			i += 3;
		}
		else
		{
			if (c == '+' && plus_is_space)
				c = ' ';
			i++;
		}
		if (c == '\0')
			return HTTP_DECODE_BAD;
		if (n + 1 >= cap)
			return HTTP_DECODE_TOO_LONG;
		out[n++] = c;
	}
	if (cap == 0)
		return HTTP_DECODE_TOO_LONG;
	out[n] = '\0';
	*outlen = n;
	return HTTP_DECODE_OK;
}

void
nagare_http_query_init(HttpQueryIter *it, HttpSpan query)
{
	it->p = query.p;
	it->end = query.p ? query.p + query.len : NULL;
}

/*
 * The next "name=value" of the query, still percent-encoded; empty pairs
 * ("a&&b") are skipped.  A name without '=' is a flag (Consul's "passing",
 * "stale"): *has_value false and an empty value.
 */
bool
nagare_http_query_next(HttpQueryIter *it, HttpSpan *name, HttpSpan *value, bool *has_value)
{
	while (it->p != NULL && it->p < it->end)
	{
		const char *amp = memchr(it->p, '&', it->end - it->p);
		const char *stop = amp ? amp : it->end;
		const char *eq = memchr(it->p, '=', stop - it->p);
		const char *start = it->p;

		it->p = amp ? amp + 1 : it->end;
		if (stop == start)
			continue;
		name->p = start;
		if (eq)
		{
			name->len = eq - start;
			value->p = eq + 1;
			value->len = stop - (eq + 1);
			*has_value = true;
		}
		else
		{
			name->len = stop - start;
			value->p = stop;
			value->len = 0;
			*has_value = false;
		}
		return true;
	}
	return false;
}

/*
 * Go's time.ParseDuration, as Consul parses "wait" ("5m", "120000ms",
 * "1m30s", "1.5h", "-2s", "0"), in milliseconds truncated toward zero.
 * Units ns, us (also U+00B5 and U+03BC), ms, s, m, h; a unit after every
 * number but a lone "0"; at most 2^63-1 nanoseconds.
 */
bool
nagare_http_parse_duration(const char *p, size_t len, int64_t *ms)
{
	static const struct
	{
		const char *name;
		uint64_t	ns;
	}			units[] = {
		{"ns", 1},
		{"us", 1000},
		{"\xc2\xb5s", 1000},
		{"\xce\xbcs", 1000},
		{"ms", 1000000},
		{"s", 1000000000},
		{"m", UINT64_C(60000000000)},
		{"h", UINT64_C(3600000000000)},
	};
	const char *end = p + len;
	bool		neg = false;
	uint64_t	total = 0;

	if (p < end && (*p == '-' || *p == '+'))
	{
		neg = *p == '-';
		p++;
	}
	if (end - p == 1 && *p == '0')
	{
		*ms = 0;
		return true;
	}
	if (p == end)
		return false;
	while (p < end)
	{
		uint64_t	v = 0;
		uint64_t	frac = 0;
		double		scale = 1;
		bool		pre = false;
		bool		post = false;
		bool		overflow = false;
		const char *u;
		uint64_t	unit = 0;
		size_t		k;

		if (!(*p == '.' || (*p >= '0' && *p <= '9')))
			return false;
		while (p < end && *p >= '0' && *p <= '9')
		{
			if (v > (HTTP_INT64_MAX + 1) / 10)
				return false;
			v = v * 10 + (*p - '0');
			if (v > HTTP_INT64_MAX + 1)
				return false;
			pre = true;
			p++;
		}
		if (p < end && *p == '.')
		{
			p++;
			while (p < end && *p >= '0' && *p <= '9')
			{
				post = true;
				if (!overflow)
				{
					if (frac > (HTTP_INT64_MAX - 9) / 10)
						overflow = true;
					else
					{
						frac = frac * 10 + (*p - '0');
						scale *= 10;
					}
				}
				p++;
			}
		}
		if (!pre && !post)
			return false;
		u = p;
		while (p < end && *p != '.' && !(*p >= '0' && *p <= '9'))
			p++;
		for (k = 0; k < sizeof(units) / sizeof(units[0]); k++)
		{
			if ((size_t) (p - u) == strlen(units[k].name) &&
				memcmp(u, units[k].name, p - u) == 0)
				unit = units[k].ns;
		}
		if (unit == 0)
			return false;
		if (v > (HTTP_INT64_MAX + 1) / unit)
			return false;
		v *= unit;
		if (frac > 0)
		{
			v += (uint64_t) ((double) frac * ((double) unit / scale));
			if (v > HTTP_INT64_MAX + 1)
				return false;
		}
		total += v;
		if (total > HTTP_INT64_MAX + 1)
			return false;
	}
	if (!neg && total > HTTP_INT64_MAX)
		return false;
	*ms = neg ? -(int64_t) (total / 1000000) : (int64_t) (total / 1000000);
	return true;
}

static int
base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * The scheme of an Authorization value and its credentials (RFC 9110
 * section 11.4: auth-scheme 1*SP token68), or false.
 */
static bool
auth_scheme(const HttpRequest *req, const char *scheme, HttpSpan *cred)
{
	HttpSpan	v;
	size_t		n = strlen(scheme);
	size_t		i;

	if (!nagare_http_header(req, "Authorization", &v))
		return false;
	if (v.len <= n || !mem_ieq(v.p, scheme, n) || v.p[n] != ' ')
		return false;
	i = n;
	while (i < v.len && v.p[i] == ' ')
		i++;
	cred->p = v.p + i;
	cred->len = v.len - i;
	return true;
}

/*
 * Authorization: Basic (RFC 7617): base64 of "user:password" decoded into
 * buf (NUL-terminated at the end of the password; the user ends at the
 * first ':').  Padding may be left out; a NUL, an empty user or no ':' is
 * malformed.
 */
HttpAuthResult
nagare_http_basic_auth(const HttpRequest *req, char *buf, size_t cap, HttpSpan *user,
					   HttpSpan *password)
{
	HttpSpan	cred;
	size_t		i;
	size_t		n = 0;
	size_t		datalen;
	uint32_t	acc = 0;
	int			bits = 0;
	const char *colon;

	if (!auth_scheme(req, "Basic", &cred))
		return HTTP_AUTH_NONE;
	datalen = cred.len;
	while (datalen > 0 && cred.p[datalen - 1] == '=' && cred.len - datalen < 2)
		datalen--;
	if (datalen == 0 || datalen % 4 == 1 || (datalen != cred.len && cred.len % 4 != 0))
		return HTTP_AUTH_BAD;
	for (i = 0; i < datalen; i++)
	{
		int			v = base64_value(cred.p[i]);

		if (v < 0)
			return HTTP_AUTH_BAD;
		acc = (acc << 6) | (uint32_t) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			if (n + 1 >= cap)
				return HTTP_AUTH_BAD;
			buf[n] = (char) ((acc >> bits) & 0xff);
			if (buf[n] == '\0')
				return HTTP_AUTH_BAD;
			n++;
		}
	}
	buf[n] = '\0';
	colon = memchr(buf, ':', n);
	if (colon == NULL || colon == buf)
		return HTTP_AUTH_BAD;
	user->p = buf;
	user->len = colon - buf;
	password->p = colon + 1;
	password->len = n - user->len - 1;
	return HTTP_AUTH_OK;
}

/*
 * An ACL token, as Consul reads it from headers: X-Consul-Token, else
 * Authorization: Bearer (one token68, no white space inside).  Consul's
 * "?token=" query parameter is the handler's (it needs decoding).
 */
HttpAuthResult
nagare_http_token(const HttpRequest *req, HttpSpan *token)
{
	HttpSpan	v;
	size_t		i;

	if (nagare_http_header(req, "X-Consul-Token", &v) && v.len > 0)
	{
		*token = v;
		return HTTP_AUTH_OK;
	}
	if (!auth_scheme(req, "Bearer", &v))
		return HTTP_AUTH_NONE;
	if (v.len == 0)
		return HTTP_AUTH_BAD;
	for (i = 0; i < v.len; i++)
	{
		if (is_ws(v.p[i]))
			return HTTP_AUTH_BAD;
	}
	*token = v;
	return HTTP_AUTH_OK;
}

/* The reason phrase of a status (RFC 9110 section 15); "" if unknown */
const char *
nagare_http_reason(int status)
{
	switch (status)
	{
		case 100:
			return "Continue";
		case 200:
			return "OK";
		case 201:
			return "Created";
		case 204:
			return "No Content";
		case 301:
			return "Moved Permanently";
		case 302:
			return "Found";
		case 303:
			return "See Other";
		case 304:
			return "Not Modified";
		case 400:
			return "Bad Request";
		case 401:
			return "Unauthorized";
		case 403:
			return "Forbidden";
		case 404:
			return "Not Found";
		case 405:
			return "Method Not Allowed";
		case 408:
			return "Request Timeout";
		case 409:
			return "Conflict";
		case 411:
			return "Length Required";
		case 413:
			return "Content Too Large";
		case 414:
			return "URI Too Long";
		case 415:
			return "Unsupported Media Type";
		case 417:
			return "Expectation Failed";
		case 429:
			return "Too Many Requests";
		case 431:
			return "Request Header Fields Too Large";
		case 500:
			return "Internal Server Error";
		case 501:
			return "Not Implemented";
		case 503:
			return "Service Unavailable";
		case 505:
			return "HTTP Version Not Supported";
	}
	return "";
}

/*
 * IMF-fixdate (RFC 9110 section 5.6.7), "Sun, 06 Nov 1994 08:49:37 GMT",
 * into out with a NUL; returns its length, 0 if it does not fit or the
 * time is outside years 1970-9999.
 */
size_t
nagare_http_format_date(int64_t unix_time, char *out, size_t cap)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
									   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t		t = (time_t) unix_time;
	struct tm	tm;
	int			n;

	if (unix_time < 0 || unix_time > INT64_C(253402300799) || gmtime_r(&t, &tm) == NULL)
		return 0;
	n = snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
				 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
				 tm.tm_sec);
	if (n < 0 || (size_t) n >= cap)
		return 0;
	return (size_t) n;
}

/* An output buffer that remembers whether anything did not fit */
typedef struct Out
{
	char	   *p;
	size_t		cap;
	size_t		len;
	bool		full;
} Out;

static void
put(Out *o, const char *s, size_t n)
{
	if (o->full || o->cap - o->len < n)
	{
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void
puts_(Out *o, const char *s)
{
	put(o, s, strlen(s));
}

/*
 * Write a response head: the status line (always HTTP/1.1), Date,
 * Content-Type, Content-Length, Connection, the extra fields, and the empty
 * line.  A 1xx or 204 response has no Content-Length, and a 1xx no
 * Connection.  Returns its length, or 0 if it does not fit in cap or a
 * field is invalid (a name that is not a token, a value with a control
 * character: handlers may put client bytes there, never a CR or LF).
 */
size_t
nagare_http_write_head(const HttpResponseHead *head, char *out, size_t cap)
{
	Out			o = {out, cap, 0, false};
	char		num[48];
	size_t		i;
	bool		informational = head->status >= 100 && head->status < 200;

	if (head->status < 100 || head->status > 599)
		return 0;
	snprintf(num, sizeof(num), "HTTP/1.1 %d ", head->status);
	puts_(&o, num);
	puts_(&o, nagare_http_reason(head->status));
	puts_(&o, "\r\n");
	if (head->date >= 0 && !informational)
	{
		char		date[64];

		if (nagare_http_format_date(head->date, date, sizeof(date)) == 0)
			return 0;
		puts_(&o, "Date: ");
		puts_(&o, date);
		puts_(&o, "\r\n");
	}
	if (head->content_type && !informational)
	{
		for (i = 0; head->content_type[i]; i++)
		{
			if (!is_value_char((unsigned char) head->content_type[i]))
				return 0;
		}
		puts_(&o, "Content-Type: ");
		puts_(&o, head->content_type);
		puts_(&o, "\r\n");
	}
	if (head->content_length >= 0 && !informational && head->status != 204)
	{
		snprintf(num, sizeof(num), "Content-Length: %lld\r\n",
				 (long long) head->content_length);
		puts_(&o, num);
	}
	if (!informational)
		puts_(&o,
			  head->keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
	for (i = 0; i < head->nextra; i++)
	{
		const char *name = head->extra[2 * i];
		const char *value = head->extra[2 * i + 1];
		size_t		k;

		if (name[0] == '\0')
			return 0;
		for (k = 0; name[k]; k++)
		{
			if (!is_tchar((unsigned char) name[k]))
				return 0;
		}
		for (k = 0; value[k]; k++)
		{
			if (!is_value_char((unsigned char) value[k]))
				return 0;
		}
		puts_(&o, name);
		puts_(&o, ": ");
		puts_(&o, value);
		puts_(&o, "\r\n");
	}
	puts_(&o, "\r\n");
	return o.full ? 0 : o.len;
}
