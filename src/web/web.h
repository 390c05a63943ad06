/*-------------------------------------------------------------------------
 *
 * web.h
 *	  The "nagare http" process: an HTTP/1.1 server on PostgreSQL's
 *	  WaitEventSet, and the route table its handlers plug into.
 *
 * A handler is called for a complete request whose path and method its
 * route accepts; it fills the response's status, content type and body.
 * It runs in the server's only process and must not block: no SQL, no
 * lock held for longer than a copy out of shared memory, no disk.  The
 * server answers HEAD with the head of the GET response, 404 for paths
 * without a route and 405 (with Allow) for methods a route does not take.
 *
 * Copyright (c) 2026, the nagare authors
 *
 * src/web/web.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_WEB_H
#define NAGARE_WEB_H

#include "lib/stringinfo.h"

#include "http/http.h"

typedef struct WebResponse
{
	int status; /* 200 unless the handler says otherwise */
	const char *content_type;
	StringInfoData body; /* in the request's memory context */
} WebResponse;

typedef void (*WebHandler)(const HttpRequest *req, WebResponse *resp);

typedef struct WebRoute
{
	const char *path; /* exact match of the request's path */
	bool get_only; /* GET and HEAD; others get 405 */
	WebHandler handler;
} WebRoute;

/* GET /metrics (metrics.c) */
extern void nagare_web_metrics(const HttpRequest *req, WebResponse *resp);

extern PGDLLEXPORT void nagare_http_main(Datum main_arg);

#endif /* NAGARE_WEB_H */
