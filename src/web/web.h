/*-------------------------------------------------------------------------
 *
 * web.h
 *	  The "nagare http" process: an HTTP/1.1 server on PostgreSQL's
 *	  WaitEventSet, and the route table its handlers plug into.
 *
 * A handler is called for a complete request whose path and method its
 * route accepts; it fills the response's status, content type, body and
 * extra header fields, or parks the request to answer it later.
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

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/palloc.h"

#include "http/http.h"
#include "web/workerops.h"

typedef struct WebResponse
{
	int status; /* 200 unless the handler says otherwise */
	const char *content_type;
	StringInfoData body; /* in the request's memory context */
	const char *const *extra; /* more header fields: name, value, ...; static or
							   * in the request's memory context */
	size_t nextra; /* pairs in extra */

	/*
	 * Answering later (a parked request).  A handler that has no answer yet
	 * sets park and park_until and returns; the server keeps the request
	 * (and the connection's later ones, which wait their turn) and calls the
	 * handler again with the same request: whenever the process's latch is
	 * set, every WEB_PARK_POLL_MS while any request is parked, and at
	 * park_until, after which the handler must answer.  A parked request
	 * has no receive timeout; if its client goes away it is dropped.
	 */
	TimestampTz started; /* server: when the handler was first called */
	bool may_park; /* server: false once WEB_MAX_PARKED are: answer now */
	bool park; /* handler: no answer yet, call again */
	TimestampTz park_until; /* handler: the latest next call */
	void *state; /* handler's, kept across the calls for one request */
	MemoryContext state_cxt; /* server: reset once the request is answered */
	bool must_answer; /* server: park_until has passed: answer now */

	/* Who asks (routes with login; workerops.h) and from where */
	WebIdentity who;
	const char *peer_ip; /* the client's address, without its port */
	const char *user_agent; /* its User-Agent, or "" */
} WebResponse;

typedef void (*WebHandler)(const HttpRequest *req, WebResponse *resp);

typedef struct WebRoute
{
	const char *path; /* exact match of the request's path, or its prefix */
	bool get_only; /* GET and HEAD; others get 405 */
	WebHandler handler;
	bool prefix; /* path is a prefix ("/v1/health/service/") followed by at
				  * least one byte */
	bool put_only; /* PUT; others get 405 */
	bool login; /* who asks must log in while a Kafka listener
				 * authenticates (workerops.h): 401 without */
	bool no_challenge; /* its 401 without WWW-Authenticate: a browser's
						* script asks (the console), which must not get a
						* credentials dialog */
} WebRoute;

/*
 * Parked requests (see WebResponse): at most, and how often they are
 * polled.  200 is Consul's own limit of connections per client
 * (limits.http_max_conns_per_client), so a Prometheus that watches its
 * services through Consul blocks here too.
 */
#define WEB_MAX_PARKED   200
#define WEB_PARK_POLL_MS 100

/* GET /metrics (metrics.c) */
extern void nagare_web_metrics(const HttpRequest *req, WebResponse *resp);

/* Consul's HTTP API (consul.c): one handler per route */
extern void nagare_consul_catalog_services(const HttpRequest *req, WebResponse *resp);
extern void nagare_consul_catalog_service(const HttpRequest *req, WebResponse *resp);
extern void nagare_consul_health_service(const HttpRequest *req, WebResponse *resp);
extern void nagare_consul_health_checks(const HttpRequest *req, WebResponse *resp);
extern void nagare_consul_agent_self(const HttpRequest *req, WebResponse *resp);
extern void nagare_consul_agent_services(const HttpRequest *req, WebResponse *resp);
extern void nagare_consul_agent_checks(const HttpRequest *req, WebResponse *resp);
extern void nagare_consul_check_pass(const HttpRequest *req, WebResponse *resp);
extern void nagare_consul_check_warn(const HttpRequest *req, WebResponse *resp);
extern void nagare_consul_check_fail(const HttpRequest *req, WebResponse *resp);
extern void nagare_consul_check_update(const HttpRequest *req, WebResponse *resp);
extern void nagare_consul_status_leader(const HttpRequest *req, WebResponse *resp);
extern void nagare_consul_status_peers(const HttpRequest *req, WebResponse *resp);
extern void nagare_consul_service_register(const HttpRequest *req, WebResponse *resp);
extern void nagare_consul_service_deregister(const HttpRequest *req, WebResponse *resp);

extern PGDLLEXPORT void nagare_http_main(Datum main_arg);

#endif /* NAGARE_WEB_H */
