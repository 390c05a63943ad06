/*-------------------------------------------------------------------------
 *
 * web.c
 *	  The "nagare http" background worker: an HTTP/1.1 server for
 *	  Prometheus's scrapes and the registry's Consul API (and, later, the
 *	  console).
 *
 * One process, no threads, no database connection: a loop on
 * PostgreSQL's WaitEventSet (its latch, postmaster death, the listening
 * sockets, each connection's socket), non-blocking sockets, keep-alive and
 * pipelined requests parsed by src/http.  Each connection has a bounded
 * receive buffer (a request's head and body must fit), an idle timeout and
 * a timeout for a request started but not received; at most
 * WEB_MAX_CONNS connections, more are answered 503 and closed.  A
 * connection whose responses are not read stops being read until they
 * are.  A handler may park its request (web.h's WebResponse) and be
 * called again until it answers: every WEB_PARK_POLL_MS while any is
 * parked, when the latch is set, and at the time it gave; at most
 * WEB_MAX_PARKED are.  Bad requests are answered with the parser's status, the
 * connection closed and the client logged at most WEB_BAD_LOG_BURST times
 * in WEB_BAD_LOG_WINDOW_MS.  An ERROR in a handler (out of memory) is
 * logged and closes that connection only; the loop goes on.
 *
 * The wall: while a Kafka listener authenticates its clients
 * (broker/net.c's nagare_net_security_authenticates(), the condition
 * that turns nagare.allow_everyone_if_no_acl_found = auto off), every route
 * is marked login and wants HTTP Basic credentials of a role (workerops.c),
 * from loopback addresses too; what a role may then see is the handler's
 * (/metrics wants DESCRIBE on the CLUSTER).  What needs SQL goes to the
 * nagare worker over the process's channel, whose answers are read each
 * loop turn before the parked requests are called again.
 *
 * Copyright (c) 2026, the nagare authors
 *
 * src/web/web.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "broker/net.h"
#include "loglimit.h"
#include "nagare.h"
#include "queue/channel.h"
#include "web/console.h"
#include "web/web.h"

#define WEB_MAX_LISTENERS      16
/*
 * Prometheus's consul_sd_configs holds one connection per watched service
 * (each a blocking query) and one for the catalog: 256 serve it watching
 * up to WEB_MAX_PARKED - 1 services beside scrapes and other clients
 */
#define WEB_MAX_CONNS          256
#define WEB_MAX_HEADERS        64
#define WEB_MAX_HEAD           8192
#define WEB_MAX_BODY           4096
#define WEB_RBUF_SIZE          (WEB_MAX_HEAD + WEB_MAX_BODY + 1024)
#define WEB_IDLE_TIMEOUT_MS    60000
#define WEB_RECEIVE_TIMEOUT_MS 10000
/* a connection with more output than this waiting is not read */
#define WEB_OUT_PAUSE          (256 * 1024)
#define WEB_BAD_LOG_BURST      5
#define WEB_BAD_LOG_WINDOW_MS  10000
/* the process's nice value: below the broker's and the backends' 0 */
#define WEB_NICE               10

typedef struct WebConn
{
	pgsocket fd;
	MemoryContext cxt; /* the connection's, deleted at close */
	char peer[64];
	char peer_ip[NI_MAXHOST]; /* the address alone */
	char rbuf[WEB_RBUF_SIZE];
	size_t rlen;
	HttpParser parser;
	HttpHeader headers[WEB_MAX_HEADERS];
	StringInfoData out;
	size_t out_sent;
	bool closing; /* close once out is sent */
	uint32 registered; /* the events the wait set has for it */
	TimestampTz last_activity;
	TimestampTz request_start; /* first byte of a partial request; 0: none */
	/* a parked request (web.h's WebResponse): answered later */
	bool parked;
	const WebRoute *park_route;
	HttpRequest park_req; /* its spans point into rbuf, untouched meanwhile */
	bool park_head;
	TimestampTz park_started;
	TimestampTz park_until;
	void *park_state;
	MemoryContext park_cxt; /* the handler's state; reset after each answer */
} WebConn;

/* exact paths first, then prefixes (the longest first where they nest) */
static const WebRoute routes[] = {
	{"/metrics", true, nagare_web_metrics, .login = true},
	{"/v1/catalog/services", true, nagare_consul_catalog_services, .login = true},
	{"/v1/agent/self", true, nagare_consul_agent_self, .login = true},
	{"/v1/agent/services", true, nagare_consul_agent_services, .login = true},
	{"/v1/agent/checks", true, nagare_consul_agent_checks, .login = true},
	{"/v1/agent/service/register", false, nagare_consul_service_register,
	 .put_only = true, .login = true},
	{"/v1/status/leader", true, nagare_consul_status_leader, .login = true},
	{"/v1/status/peers", true, nagare_consul_status_peers, .login = true},
	/* the console (console.c): its pages log in themselves, the API like the rest */
	{"/console", false, nagare_console_page},
	{"/console/", false, nagare_console_page},
	{"/console/api/", true, nagare_console_api, .prefix = true, .login = true,
	 .no_challenge = true},
	{"/console/", false, nagare_console_page, .prefix = true},
	{"/v1/catalog/service/", true, nagare_consul_catalog_service, .prefix = true,
	 .login = true},
	{"/v1/health/service/", true, nagare_consul_health_service, .prefix = true,
	 .login = true},
	{"/v1/health/checks/", true, nagare_consul_health_checks, .prefix = true, .login = true},
	{"/v1/agent/service/deregister/", false, nagare_consul_service_deregister,
	 .prefix = true, .put_only = true, .login = true},
	{"/v1/agent/check/pass/", false, nagare_consul_check_pass, .prefix = true,
	 .put_only = true, .login = true},
	{"/v1/agent/check/warn/", false, nagare_consul_check_warn, .prefix = true,
	 .put_only = true, .login = true},
	{"/v1/agent/check/fail/", false, nagare_consul_check_fail, .prefix = true,
	 .put_only = true, .login = true},
	{"/v1/agent/check/update/", false, nagare_consul_check_update, .prefix = true,
	 .put_only = true, .login = true},
};

static const HttpLimits limits = {
	.max_head = WEB_MAX_HEAD,
	.max_headers = WEB_MAX_HEADERS,
	.max_body = WEB_MAX_BODY,
	/* a PUT without a body (curl -X PUT, Consul's check updates): empty */
	.require_length = false,
};

static pgsocket listeners[WEB_MAX_LISTENERS];
static int nlisteners = 0;
static WebConn *conns[WEB_MAX_CONNS];
static int nconns = 0;
static WaitEventSet *wait_set = NULL;
static bool wait_set_dirty = true;
static MemoryContext request_cxt;
/* the connection whose handler runs, closed if it fails (an ERROR) */
static WebConn *serving = NULL;

static NagareLogLimit bad_log = NAGARE_LOG_LIMIT(WEB_BAD_LOG_BURST, WEB_BAD_LOG_WINDOW_MS);

/* errdetail() of the lines bad_log left out, if any */
static int
bad_log_skipped_detail(void)
{
	int n = nagare_log_skipped(&bad_log);

	return n > 0 ? errdetail("%d more bad clients were not logged before this one.", n) : 0;
}

/*
 * Open a listening socket on every address of nagare.http_listen_addresses
 * ("*": all) at nagare.http_port.
 */
static void
open_listeners(void)
{
	char *list = pstrdup(nagare_http_listen_addresses);
	char *tok;
	char *save;
	char portstr[16];

	snprintf(portstr, sizeof(portstr), "%d", nagare_http_port);
	for (tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
	{
		struct addrinfo hints;
		struct addrinfo *res;
		struct addrinfo *ai;
		const char *host = strcmp(tok, "*") == 0 ? NULL : tok;
		int rc;

		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE;
		rc = getaddrinfo(host, portstr, &hints, &res);
		if (rc != 0)
		{
			ereport(LOG,
					(errmsg("nagare http: could not resolve \"%s\" of nagare.http_listen_addresses: %s",
							tok, gai_strerror(rc))));
			continue;
		}
		for (ai = res; ai != NULL; ai = ai->ai_next)
		{
			char where[128];
			pgsocket fd;
			int one = 1;

			nagare_net_addr_text(ai->ai_addr, ai->ai_addrlen, where, sizeof(where));
			if (nlisteners == WEB_MAX_LISTENERS)
			{
				ereport(LOG,
						(errmsg("nagare http: not listening on %s: more than %d addresses",
								where, WEB_MAX_LISTENERS)));
				continue;
			}
			fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
						ai->ai_protocol);
			if (fd == PGINVALID_SOCKET)
			{
				ereport(LOG, (errmsg("nagare http: could not create a socket for %s: %m",
									 where)));
				continue;
			}
			(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (ai->ai_family == AF_INET6)
				(void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
			if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0)
			{
				ereport(LOG, (errmsg("nagare http: could not listen on %s: %m", where),
							  errhint("Is another process using nagare.http_port (%d)?",
									  nagare_http_port)));
				close(fd);
				continue;
			}
			listeners[nlisteners++] = fd;
			ereport(LOG, (errmsg("nagare http: listening on %s", where)));
		}
		freeaddrinfo(res);
	}
	pfree(list);
}

static bool conn_flush(WebConn *c);

static void
conn_close(WebConn *c)
{
	int i;

	for (i = 0; i < nconns; i++)
		if (conns[i] == c)
		{
			conns[i] = conns[--nconns];
			break;
		}
	close(c->fd);
	MemoryContextDelete(c->cxt);
	wait_set_dirty = true;
}

static void
accept_all(pgsocket lfd)
{
	for (;;)
	{
		struct sockaddr_storage sa;
		socklen_t salen = sizeof(sa);
		pgsocket fd =
			accept4(lfd, (struct sockaddr *) &sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		MemoryContext cxt;
		WebConn *c;
		int one = 1;

		if (fd == PGINVALID_SOCKET)
		{
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
				errno != ECONNABORTED && nagare_log_due(&bad_log))
				ereport(LOG, (errmsg("nagare http: could not accept a connection: %m")));
			return;
		}
		if (nconns == WEB_MAX_CONNS)
		{
			static const char busy[] =
				"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

			(void) send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			if (nagare_log_due(&bad_log))
				ereport(LOG,
						(errmsg("nagare http: refused a connection: %d connections already",
								WEB_MAX_CONNS),
						 bad_log_skipped_detail()));
			continue;
		}
		(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		cxt = AllocSetContextCreate(TopMemoryContext, "nagare http connection",
									ALLOCSET_SMALL_SIZES);
		c = MemoryContextAllocZero(cxt, sizeof(WebConn));
		c->fd = fd;
		c->cxt = cxt;
		nagare_net_addr_text((struct sockaddr *) &sa, salen, c->peer, sizeof(c->peer));
		if (getnameinfo((struct sockaddr *) &sa, salen, c->peer_ip, sizeof(c->peer_ip),
						NULL, 0, NI_NUMERICHOST) != 0)
			c->peer_ip[0] = '\0';
		nagare_http_parser_init(&c->parser, &limits);
		c->park_cxt =
			AllocSetContextCreate(cxt, "nagare http parked request", ALLOCSET_SMALL_SIZES);
		c->out.data = NULL;
		c->last_activity = GetCurrentTimestamp();
		conns[nconns++] = c;
		wait_set_dirty = true;
	}
}

/* Append a response (head, and body unless HEAD) to the connection's output */
static void
respond(WebConn *c, int status, const char *content_type, const char *body, size_t len,
		bool head_only, bool keep_alive, const char *const *extra, size_t nextra)
{
	HttpResponseHead h;
	size_t n;
	MemoryContext old = MemoryContextSwitchTo(c->cxt);

	if (c->out.data == NULL)
		initStringInfo(&c->out);
	memset(&h, 0, sizeof(h));
	h.status = status;
	h.content_type = content_type;
	h.content_length = (int64) len;
	h.keep_alive = keep_alive;
	h.extra = extra;
	h.nextra = nextra;
	h.date = (int64) time(NULL);
	enlargeStringInfo(&c->out, 1024);
	n = nagare_http_write_head(&h, c->out.data + c->out.len, c->out.maxlen - c->out.len);
	if (n == 0)
		elog(ERROR, "nagare http: response head does not fit");
	c->out.len += n;
	if (!head_only && len > 0)
		appendBinaryStringInfo(&c->out, body, len);
	MemoryContextSwitchTo(old);
	if (!keep_alive)
		c->closing = true;
}

static int
parked_count(void)
{
	int i;
	int n = 0;

	for (i = 0; i < nconns; i++)
		if (conns[i]->parked)
			n++;
	return n;
}

/*
 * Who sent a request to a route with login (workerops.h): true with
 * resp->who filled; false with resp answered (401, 503) or parked until
 * the worker has checked the credentials.
 */
static bool
logged_in(const WebRoute *route, const HttpRequest *req, WebResponse *resp)
{
	static const char *const retry[] = {"Retry-After", "1"};

	/* a console session (console.c), else HTTP Basic credentials */
	if (nagare_console_session(req, &resp->who))
		return true;
	switch (nagare_web_login(req, &resp->who))
	{
		case WEB_READY:
			return true;
		case WEB_WAIT:
			if (resp->may_park && !resp->must_answer)
			{
				resp->park = true;
				resp->park_until =
					TimestampTzPlusMilliseconds(resp->started,
												nagare_request_timeout_ms + 1000);
				return false;
			}
			/* FALLTHROUGH */
		case WEB_BUSY:
			resp->status = 503;
			appendStringInfoString(&resp->body,
								   "too many logins at once: try again in a second\n");
			resp->extra = retry;
			resp->nextra = 1;
			return false;
		case WEB_REFUSED:
			break;
	}
	resp->status = 401;
	appendStringInfoString(&resp->body,
						   "a Kafka listener authenticates its clients, so this API does too: "
						   "HTTP Basic credentials of a PostgreSQL role that may log in\n");
	resp->extra = nagare_web_challenge;
	resp->nextra = route->no_challenge ? 0 : 1;
	return false;
}

/*
 * Call a route's handler for a request (again, if it is parked) and answer
 * it, or park it.  True if it was answered.
 */
static bool
call_handler(WebConn *c, const WebRoute *route, const HttpRequest *req, bool head)
{
	WebResponse resp;
	MemoryContext old = MemoryContextSwitchTo(request_cxt);

	memset(&resp, 0, sizeof(resp));
	resp.status = 200;
	resp.content_type = "text/plain; charset=utf-8";
	initStringInfo(&resp.body);
	resp.started = c->parked ? c->park_started : GetCurrentTimestamp();
	resp.may_park = c->parked || parked_count() < WEB_MAX_PARKED;
	resp.state = c->parked ? c->park_state : NULL;
	resp.state_cxt = c->park_cxt;
	resp.must_answer = c->parked && GetCurrentTimestamp() >= c->park_until;
	resp.peer_ip = c->peer_ip;
	resp.user_agent = "";
	{
		HttpSpan agent;

		/* for the audit trail: whole UTF-8 characters, at most 128 bytes */
		if (nagare_http_header(req, "User-Agent", &agent) &&
			pg_verify_mbstr(PG_UTF8, agent.p, (int) agent.len, true))
			resp.user_agent =
				pnstrdup(agent.p,
						 pg_encoding_mbcliplen(PG_UTF8, agent.p, (int) agent.len, 128));
	}
	serving = c;
	if (!route->login || logged_in(route, req, &resp))
		route->handler(req, &resp);
	serving = NULL;
	MemoryContextSwitchTo(old);
	if (resp.park && resp.may_park)
	{
		if (!c->parked)
		{
			c->parked = true;
			c->park_route = route;
			c->park_req = *req;
			c->park_head = head;
			c->park_started = resp.started;
			wait_set_dirty = true;
		}
		c->park_until = resp.park_until;
		c->park_state = resp.state;
		MemoryContextReset(request_cxt);
		return false;
	}
	if (resp.park)
		elog(ERROR, "nagare http: a handler parked a request it may not park");
	respond(c, resp.status, resp.content_type, resp.body.data, resp.body.len, head,
			req->keep_alive, resp.extra, resp.nextra);
	MemoryContextReset(request_cxt);
	if (c->parked)
	{
		c->parked = false;
		c->park_state = NULL;
		c->last_activity = GetCurrentTimestamp();
		wait_set_dirty = true;
	}
	MemoryContextReset(c->park_cxt);
	return true;
}

/* Answer a request, or park it; true if it was answered */
static bool
handle_request(WebConn *c, const HttpRequest *req)
{
	const WebRoute *route = NULL;
	bool head = req->method.len == 4 && memcmp(req->method.p, "HEAD", 4) == 0;
	bool get = req->method.len == 3 && memcmp(req->method.p, "GET", 3) == 0;
	bool put = req->method.len == 3 && memcmp(req->method.p, "PUT", 3) == 0;
	int i;

	for (i = 0; i < lengthof(routes) && route == NULL; i++)
	{
		size_t len = strlen(routes[i].path);

		if (routes[i].prefix
				? (req->path.len > len && memcmp(routes[i].path, req->path.p, len) == 0)
				: (len == req->path.len && memcmp(routes[i].path, req->path.p, len) == 0))
			route = &routes[i];
	}
	if (route == NULL)
	{
		static const char msg[] = "not found\n";

		respond(c, 404, "text/plain; charset=utf-8", msg, sizeof(msg) - 1, head,
				req->keep_alive, NULL, 0);
		return true;
	}
	if ((route->get_only && !get && !head) || (route->put_only && !put))
	{
		static const char msg[] = "method not allowed\n";
		static const char *const allow_get[] = {"Allow", "GET, HEAD"};
		static const char *const allow_put[] = {"Allow", "PUT"};

		respond(c, 405, "text/plain; charset=utf-8", msg, sizeof(msg) - 1, false,
				req->keep_alive, route->put_only ? allow_put : allow_get, 1);
		return true;
	}
	return call_handler(c, route, req, head);
}

/* The request was answered: on to the next one received */
static void
request_done(WebConn *c, const HttpRequest *req)
{
	memmove(c->rbuf, c->rbuf + req->consumed, c->rlen - req->consumed);
	c->rlen -= req->consumed;
	c->request_start = 0;
	nagare_http_parser_init(&c->parser, &limits);
}

/* Parse and answer the requests received, while the output is not too long */
static void
process_input(WebConn *c)
{
	while (!c->closing && !c->parked && c->rlen > 0 &&
		   (c->out.data == NULL || c->out.len - c->out_sent < WEB_OUT_PAUSE))
	{
		HttpRequest req;
		HttpParseResult r;

		if (c->request_start == 0)
			c->request_start = GetCurrentTimestamp();
		r = nagare_http_parse(&c->parser, c->rbuf, c->rlen, c->headers, &req);
		if (r == HTTP_PARSE_NEED_MORE)
			return;
		if (r == HTTP_PARSE_ERROR)
		{
			const char *reason = nagare_http_reason(req.status);

			if (nagare_log_due(&bad_log))
				ereport(LOG, (errmsg("nagare http: bad request from %s: %d %s: %s",
									 c->peer, req.status, reason, req.error),
							  bad_log_skipped_detail()));
			respond(c, req.status, "text/plain; charset=utf-8", req.error,
					strlen(req.error), false, false, NULL, 0);
			c->rlen = 0;
			return;
		}
		if (!handle_request(c, &req))
			return; /* parked: the next requests wait their turn */
		request_done(c, &req);
	}
}

/*
 * Call the handlers of the parked requests again (see WebResponse); answer
 * those that answer, and go on with their connections' next requests.
 */
static void
run_parked(void)
{
	int i;

	for (i = nconns - 1; i >= 0; i--)
	{
		WebConn *c = conns[i];

		if (i >= nconns || conns[i] != c || !c->parked)
			continue;
		if (!call_handler(c, c->park_route, &c->park_req, c->park_head))
			continue;
		request_done(c, &c->park_req);
		process_input(c);
		(void) conn_flush(c);
	}
}

/* Send what the connection's output holds; false if it was closed */
static bool
conn_flush(WebConn *c)
{
	while (c->out.data != NULL && c->out_sent < (size_t) c->out.len)
	{
		ssize_t n = send(c->fd, c->out.data + c->out_sent, c->out.len - c->out_sent,
						 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_close(c);
			return false;
		}
		c->out_sent += n;
		c->last_activity = GetCurrentTimestamp();
	}
	if (c->out.data != NULL && c->out_sent == (size_t) c->out.len)
	{
		/* all sent: keep a small buffer, free a scrape's */
		if (c->out.maxlen > 64 * 1024)
		{
			pfree(c->out.data);
			c->out.data = NULL;
		}
		else
			resetStringInfo(&c->out);
		c->out_sent = 0;
		if (c->closing)
		{
			conn_close(c);
			return false;
		}
	}
	return true;
}

static void
conn_readable(WebConn *c)
{
	for (;;)
	{
		ssize_t n;

		if (c->rlen == sizeof(c->rbuf))
			break; /* the parser refuses what does not fit first */
		n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, MSG_DONTWAIT);
		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_close(c);
			return;
		}
		if (n == 0)
		{
			/* the client is done sending: answer what came whole, then close */
			process_input(c);
			c->closing = true;
			wait_set_dirty = true;
			if (c->parked || c->out.data == NULL || c->out_sent == (size_t) c->out.len)
				conn_close(c);
			else
				(void) conn_flush(c);
			return;
		}
		c->rlen += n;
		c->last_activity = GetCurrentTimestamp();
	}
	process_input(c);
	(void) conn_flush(c);
}

static bool
conn_wants_write(WebConn *c)
{
	return c->out.data != NULL && c->out_sent < (size_t) c->out.len;
}

/*
 * What to wait for on a connection: writable while output waits; readable
 * unless it is closing or WEB_OUT_PAUSE bytes of output wait.
 */
static uint32
conn_events(WebConn *c)
{
	uint32 ev = 0;

	if (conn_wants_write(c))
		ev |= WL_SOCKET_WRITEABLE;
	if (!c->closing && !(conn_wants_write(c) && c->out.len - c->out_sent >= WEB_OUT_PAUSE))
		ev |= WL_SOCKET_READABLE;
	/* parked with a full buffer: only the client's going away matters */
	if (c->parked && c->rlen == sizeof(c->rbuf) && (ev & WL_SOCKET_READABLE))
		ev = (ev & ~WL_SOCKET_READABLE) | WL_SOCKET_CLOSED;
	return ev != 0 ? ev : WL_SOCKET_WRITEABLE;
}

static void
rebuild_wait_set(void)
{
	int i;

	if (wait_set)
		FreeWaitEventSet(wait_set);
	wait_set = NULL; /* not freed twice if the next line fails */
	wait_set = CreateWaitEventSet(TopMemoryContext, 2 + nlisteners + nconns);
	AddWaitEventToSet(wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (i = 0; i < nlisteners; i++)
		AddWaitEventToSet(wait_set, WL_SOCKET_READABLE, listeners[i], NULL, NULL);
	for (i = 0; i < nconns; i++)
	{
		WebConn *c = conns[i];

		c->registered = conn_events(c);
		AddWaitEventToSet(wait_set, c->registered, c->fd, NULL, c);
	}
	wait_set_dirty = false;
}

/* Close connections past their timeouts; the time to the next one, in ms */
static long
check_timeouts(void)
{
	TimestampTz now = GetCurrentTimestamp();
	long next = WEB_IDLE_TIMEOUT_MS;
	int i;

	for (i = nconns - 1; i >= 0; i--)
	{
		WebConn *c = conns[i];
		TimestampTz deadline;

		if (c->parked)
		{
			/* its handler answers by park_until; polled meanwhile */
			next = Min(next, WEB_PARK_POLL_MS);
			continue;
		}
		if (c->rlen > 0 && c->request_start != 0 && !conn_wants_write(c))
			deadline =
				TimestampTzPlusMilliseconds(c->request_start, WEB_RECEIVE_TIMEOUT_MS);
		else
			deadline = TimestampTzPlusMilliseconds(c->last_activity, WEB_IDLE_TIMEOUT_MS);
		if (now >= deadline)
		{
			if (c->rlen > 0 && nagare_log_due(&bad_log))
				ereport(LOG,
						(errmsg("nagare http: closing the connection of %s: request not received within %d ms",
								c->peer, WEB_RECEIVE_TIMEOUT_MS),
						 bad_log_skipped_detail()));
			conn_close(c);
			continue;
		}
		next = Min(next, (long) ((deadline - now) / 1000) + 1);
	}
	return next;
}

void
nagare_http_main(Datum main_arg)
{
	WaitEvent events[16];
	sigjmp_buf local_sigjmp_buf;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	/*
	 * A scrape formats thousands of samples: on a busy machine it must not
	 * take the CPU from the broker and the clients it serves.
	 */
	if (setpriority(PRIO_PROCESS, 0, WEB_NICE) != 0)
		ereport(LOG, (errmsg("nagare http: could not lower its CPU priority: %m")));

	/*
	 * No database, so no server encoding: the text this process handles is
	 * UTF-8 (PostgreSQL's JSON parser turns \u escapes of Consul's check
	 * updates into it, and throws under SQL_ASCII).
	 */
	SetDatabaseEncoding(PG_UTF8);

	request_cxt = AllocSetContextCreate(TopMemoryContext, "nagare http request",
										ALLOCSET_DEFAULT_SIZES);
	open_listeners();
	if (nlisteners == 0)
	{
		/*
		 * As the broker without its Kafka port: say so once and stay off
		 * until the server restarts (retrying a busy port would log every
		 * few seconds).
		 */
		ereport(WARNING,
				(errmsg("nagare http: could not listen on any address of \"%s\" port %d; the HTTP endpoint is off",
						nagare_http_listen_addresses, nagare_http_port),
				 errhint(
					 "Check nagare.http_listen_addresses and nagare.http_port, and that no other process uses the port; or set nagare.http_listen_addresses = '' to turn the endpoint off.")));
		proc_exit(0);
	}

	/* logins and the registry's writes go to the nagare worker (workerops.c) */
	nagare_channel_open(NAGARE_CHANNEL_HTTP);
	/* OpenSSL's digests (a login's cache key) are resources of an owner */
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "nagare http");
	/* the console's files, read once */
	nagare_console_init();

	/*
	 * An ERROR (out of memory in a handler) is logged, the connection being
	 * served closed, and the loop goes on: the other connections and the
	 * listeners are untouched.
	 */
	if (sigsetjmp(local_sigjmp_buf, 1) != 0)
	{
		int i;

		error_context_stack = NULL;
		HOLD_INTERRUPTS();
		EmitErrorReport();
		FlushErrorState();
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(request_cxt);
		for (i = 0; serving != NULL && i < nconns; i++)
			if (conns[i] == serving)
			{
				conn_close(serving);
				break;
			}
		serving = NULL;
		wait_set_dirty = true;
		RESUME_INTERRUPTS();
	}
	PG_exception_stack = &local_sigjmp_buf;

	for (;;)
	{
		long timeout;
		int n;
		int i;

		timeout = check_timeouts();
		for (i = 0; i < nconns && !wait_set_dirty; i++)
			if (conn_events(conns[i]) != conns[i]->registered)
				wait_set_dirty = true;
		if (wait_set_dirty)
			rebuild_wait_set();
		n = WaitEventSetWait(wait_set, timeout, events, lengthof(events),
							 PG_WAIT_EXTENSION);
		for (i = 0; i < n; i++)
		{
			WaitEvent *ev = &events[i];

			if (ev->events & WL_LATCH_SET)
			{
				ResetLatch(MyLatch);
				continue;
			}
			if (ev->user_data == NULL)
			{
				accept_all(ev->fd);
				continue;
			}
			{
				WebConn *c = ev->user_data;
				int k;
				bool live = false;

				/* an earlier event of this turn may have closed it */
				for (k = 0; k < nconns; k++)
					if (conns[k] == c)
						live = true;
				if (!live)
					continue;
				if (ev->events & WL_SOCKET_CLOSED)
				{
					conn_close(c);
					continue;
				}
				if ((ev->events & WL_SOCKET_WRITEABLE) && !conn_flush(c))
					continue;
				if (ev->events & WL_SOCKET_READABLE)
				{
					if (c->closing)
						continue;
					conn_readable(c);
				}
				else
				{
					/* output sent: answer the requests received meanwhile */
					process_input(c);
					(void) conn_flush(c);
				}
			}
		}
		/* the worker's answers, then the requests that waited for them */
		{
			TimestampTz now = GetCurrentTimestamp();

			nagare_channel_turn(now);
			nagare_web_ops_turn(now);
		}
		run_parked();
		if (ShutdownRequestPending)
			proc_exit(0);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
}
