/*-------------------------------------------------------------------------
 *
 * bench_http.c
 *	  What the HTTP/1.1 request parser (src/http/http.c) costs: requests
 *	  Consul clients and Prometheus send, parsed whole, and fed a byte at a
 *	  time (a slow client: the cost must grow with the bytes, not their
 *	  square).  Prints nanoseconds per request and per byte; no pass/fail.
 *
 * test/http/bench_http.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http.h"

#define MAXH 64

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static char work[1 << 20];

/* parse msg whole iterations times; returns ns per request */
static double
whole(const char *msg, size_t len, int iterations)
{
	static HttpHeader hdrs[MAXH];
	HttpLimits	lim = {16384, MAXH, 1 << 20, false};
	HttpParser	ps;
	HttpRequest req;
	double		t0;
	int			i;

	t0 = now_ns();
	for (i = 0; i < iterations; i++)
	{
		memcpy(work, msg, len);
		nagare_http_parser_init(&ps, &lim);
		if (nagare_http_parse(&ps, work, len, hdrs, &req) != HTTP_PARSE_DONE)
		{
			fprintf(stderr, "bench: request did not parse (%d %s)\n", req.status,
					req.error ? req.error : "");
			exit(1);
		}
	}
	return (now_ns() - t0) / iterations;
}

/* parse msg fed step bytes at a time; returns ns for the whole request */
static double
fed(const char *msg, size_t len, size_t step, int iterations)
{
	static HttpHeader hdrs[MAXH];
	HttpLimits	lim = {16384, MAXH, 1 << 20, false};
	HttpParser	ps;
	HttpRequest req;
	double		t0;
	int			i;

	memcpy(work, msg, len);
	t0 = now_ns();
	for (i = 0; i < iterations; i++)
	{
		size_t		have = 0;
		HttpParseResult r = HTTP_PARSE_NEED_MORE;

		nagare_http_parser_init(&ps, &lim);
		while (r == HTTP_PARSE_NEED_MORE && have < len)
		{
			have = have + step > len ? len : have + step;
			r = nagare_http_parse(&ps, work, have, hdrs, &req);
		}
		if (r != HTTP_PARSE_DONE)
		{
			fprintf(stderr, "bench: fed request did not parse\n");
			exit(1);
		}
		/* a chunked body was decoded in place: put the bytes back */
		if (req.chunked)
			memcpy(work, msg, len);
	}
	return (now_ns() - t0) / iterations;
}

int
main(void)
{
	static char big[1 << 17];
	static char head[16384];
	const char *health =
		"GET /v1/health/service/web?stale=&tag=prod&index=7&wait=120000ms HTTP/1.1\r\n"
		"Host: localhost:8500\r\nUser-Agent: Prometheus/2.42.0\r\nAccept-Encoding: gzip\r\n"
		"X-Consul-Token: 3f1a-77\r\n\r\n";
	const char *reg =
		"PUT /v1/agent/service/register HTTP/1.1\r\nHost: 127.0.0.1:8500\r\n"
		"User-Agent: Go-http-client/1.1\r\nContent-Length: 137\r\nAccept-Encoding: gzip\r\n\r\n"
		"{\"ID\":\"web-1\",\"Name\":\"web\",\"Tags\":[\"a\",\"b\"],\"Address\":\"10.0.0.5\",\"Port\":8080,"
		"\"Check\":{\"TTL\":\"15s\",\"DeregisterCriticalServiceAfter\":\"1m\"}}";
	size_t		n;
	size_t		hn;
	int			i;
	double		ns;

	/* 64 KiB in eight chunks of 8 KiB */
	n = (size_t) sprintf(big, "PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (i = 0; i < 8; i++)
	{
		n += (size_t) sprintf(big + n, "2000\r\n");
		memset(big + n, 'a' + i, 8192);
		n += 8192;
		n += (size_t) sprintf(big + n, "\r\n");
	}
	n += (size_t) sprintf(big + n, "0\r\n\r\n");
	/* a 16 KiB head of 63 fields of 250 bytes */
	hn = (size_t) sprintf(head, "GET /metrics HTTP/1.1\r\nHost: a\r\n");
	for (i = 0; i < 62; i++)
	{
		hn += (size_t) sprintf(head + hn, "X-Field-%02d: ", i);
		memset(head + hn, 'v', 235);
		hn += 235;
		hn += (size_t) sprintf(head + hn, "\r\n");
	}
	hn += (size_t) sprintf(head + hn, "\r\n");

	ns = whole(health, strlen(health), 1000000);
	printf("health query (%zu B), whole:          %8.0f ns/request\n", strlen(health), ns);
	ns = fed(health, strlen(health), 1, 100000);
	printf("health query, a byte at a time:       %8.0f ns/request (%.1f ns/B)\n", ns,
		   ns / strlen(health));
	ns = whole(reg, strlen(reg), 1000000);
	printf("register with JSON (%zu B), whole:     %8.0f ns/request\n", strlen(reg), ns);
	ns = whole(big, n, 20000);
	printf("chunked 64 KiB body (%zu B), whole: %8.0f ns/request (%.2f ns/B)\n", n, ns, ns / n);
	ns = fed(big, n, 1, 200);
	printf("chunked 64 KiB body, a byte at a time: %8.0f ns/request (%.1f ns/B)\n", ns, ns / n);
	ns = whole(head, hn, 20000);
	printf("16 KiB head of 64 fields, whole:     %8.0f ns/request (%.2f ns/B)\n", ns, ns / hn);
	ns = fed(head, hn, 1, 200);
	printf("16 KiB head, a byte at a time:      %8.0f ns/request (%.1f ns/B)\n", ns, ns / hn);
	return 0;
}
