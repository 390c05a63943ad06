/*-------------------------------------------------------------------------
 *
 * console.c
 *	  The console: read-only web pages under /console/, served by the
 *	  "nagare http" process, with their data from /console/api/<name>.
 *
 * Assets: the front end (../../console/, installed by `make install` into
 * share/extension/nagare_console/) is read into the process's memory once,
 * at start (nagare_console_init()), with an ETag of each file's bytes; a
 * request never reads the disk.  Every answer carries a strict
 * Content-Security-Policy (scripts, styles and data from this origin only,
 * no inline code, no framing).  Missing files are logged once and the
 * console answers 503 until the server restarts.
 *
 * Logins: a form posts a PostgreSQL role and its password, checked exactly
 * as HTTP Basic credentials are (workerops.c: the nagare worker, the
 * role's SCRAM verifier, rolcanlogin, rolvaliduntil; the same answer for
 * every reason), and a good one opens a session: a random 256-bit id
 * (pg_strong_random()) in a cookie (HttpOnly, SameSite=Strict,
 * Path=/console, Max-Age), kept in this process's memory, at most
 * CONSOLE_MAX_SESSIONS (the one ending first goes), each for
 * CONSOLE_SESSION_MS; logging out drops it.  Every
 * nagare.console_session_check the worker is asked whether the session's
 * role may still log in (NAGARE_AUTH_ROLE_CHECK), and a session whose role
 * may not ends.  web.c's login check asks
 * nagare_console_session() first, so the API takes a session or Basic
 * credentials.  While no Kafka listener authenticates, nobody logs in (as
 * for /metrics): the pages and the API are open and the queries run as the
 * nagare worker's role.
 *
 * Data: /console/api/<name>?<parameters> names one of the fixed queries of
 * ../worker/consolequery.c, which the nagare worker runs read only as the
 * role; the parameters (at most CONSOLE_MAX_PARAMS, names of [a-z_],
 * values at most CONSOLE_MAX_VALUE bytes of UTF-8) go as strings and are
 * bound there.  The answer is JSON, {"rows": [...], "truncated": bool};
 * one past NAGARE_CONSOLE_RESULT_MAX bytes is 413.  At most
 * CONSOLE_MAX_IN_FLIGHT queries wait for the worker at once (more: 503).
 *
 * Copyright (c) 2026, the nagare authors
 *
 * src/web/console.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/ilist.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "broker/net.h"
#include "nagare.h"
#include "queue/channel.h"
#include "web/console.h"
#include "web/web.h"

#define CONSOLE_MAX_SESSIONS  256
#define CONSOLE_SESSION_MS    (8 * 3600 * 1000L)
#define CONSOLE_ID_BYTES      32
#define CONSOLE_COOKIE        "nagare_console"
#define CONSOLE_MAX_PARAMS    4
#define CONSOLE_MAX_VALUE     256
#define CONSOLE_MAX_IN_FLIGHT 16
#define CONSOLE_MAX_ASSET     (4 * 1024 * 1024)
/* a ticket whose request went away is freed this long after its answer */
#define CONSOLE_ORPHAN_MS     60000

typedef struct ConsoleAsset
{
	const char *file;
	const char *content_type;
	bool page; /* an HTML page at its own path, not under assets/ */
	char *data;
	size_t len;
	char etag[24];
} ConsoleAsset;

static ConsoleAsset assets[] = {
	{"index.html", "text/html; charset=utf-8", true},
	{"login.html", "text/html; charset=utf-8", true},
	{"app.js", "text/javascript; charset=utf-8"},
	{"login.js", "text/javascript; charset=utf-8"},
	{"style.css", "text/css; charset=utf-8"},
	{"cytoscape.esm.min.mjs", "text/javascript; charset=utf-8"},
};
static bool assets_loaded = false;

typedef struct ConsoleSession
{
	bool used;
	uint8 id[CONSOLE_ID_BYTES];
	char role[NAMEDATALEN];
	bool superuser;
	TimestampTz expires;
	TimestampTz checked; /* when the worker last said the role may log in */
	bool checking; /* asked it again */
} ConsoleSession;


static ConsoleSession sessions[CONSOLE_MAX_SESSIONS];

/* A query at the worker: resp->state of its parked request */
typedef struct ConsoleTicket
{
	dlist_node node;
	bool done;
	TimestampTz done_at;
	char sqlstate[6]; /* "" when no answer came in time */
	char *data; /* the JSON, or the error message */
	uint32 len;
} ConsoleTicket;

static MemoryContext console_cxt = NULL;
static dlist_head tickets = DLIST_STATIC_INIT(tickets);
static int in_flight = 0;

#define CSP                                                                           \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/*---- assets ----*/

/* FNV-1a, 64 bits: an ETag, not a secret */
static uint64
fnv1a(const char *p, size_t len)
{
	uint64 h = UINT64CONST(0xcbf29ce484222325);

	for (size_t i = 0; i < len; i++)
	{
		h ^= (uint8) p[i];
		h *= UINT64CONST(0x100000001b3);
	}
	return h;
}

void
nagare_console_init(void)
{
	char share[MAXPGPATH];
	const char *missing = NULL;

	console_cxt =
		AllocSetContextCreate(TopMemoryContext, "nagare console", ALLOCSET_DEFAULT_SIZES);
	get_share_path(my_exec_path, share);
	for (int i = 0; i < lengthof(assets) && missing == NULL; i++)
	{
		char *path = psprintf("%s/extension/nagare_console/%s", share, assets[i].file);
		int fd = open(path, O_RDONLY | PG_BINARY, 0);
		struct stat st;
		size_t got = 0;

		if (fd < 0 || fstat(fd, &st) != 0 || st.st_size > CONSOLE_MAX_ASSET)
		{
			missing = path;
			if (fd >= 0)
				close(fd);
			break;
		}
		assets[i].data = MemoryContextAlloc(console_cxt, st.st_size + 1);
		while (got < (size_t) st.st_size)
		{
			ssize_t n = read(fd, assets[i].data + got, st.st_size - got);

			if (n <= 0)
				break;
			got += n;
		}
		close(fd);
		if (got != (size_t) st.st_size)
		{
			missing = path;
			break;
		}
		assets[i].len = got;
		snprintf(assets[i].etag, sizeof(assets[i].etag), "\"%016llx\"",
				 (unsigned long long) fnv1a(assets[i].data, got));
	}
	if (missing != NULL)
		ereport(WARNING,
				(errmsg("nagare http: could not read the console's file \"%s\": %m; /console/ answers 503",
						missing),
				 errhint(
					 "make install installs the console into share/extension/nagare_console/ "
					 "(its npm packages first: npm ci in console/, which scripts/deps.sh runs).")));
	else
		assets_loaded = true;
}

static const char *const asset_headers_tmpl[] = {
	"ETag",
	NULL,
	"Cache-Control",
	"no-cache",
	"Content-Security-Policy",
	CSP,
	"X-Content-Type-Options",
	"nosniff",
	"Referrer-Policy",
	"same-origin",
};

static void
serve_asset(const HttpRequest *req, WebResponse *resp, const ConsoleAsset *a)
{
	const char **h = palloc(sizeof(asset_headers_tmpl));
	HttpSpan inm;

	memcpy(h, asset_headers_tmpl, sizeof(asset_headers_tmpl));
	h[1] = a->etag;
	resp->extra = h;
	resp->nextra = lengthof(asset_headers_tmpl) / 2;
	resp->content_type = a->content_type;
	if (nagare_http_header(req, "If-None-Match", &inm) && inm.len == strlen(a->etag) &&
		memcmp(inm.p, a->etag, inm.len) == 0)
	{
		resp->status = 304;
		return;
	}
	appendBinaryStringInfo(&resp->body, a->data, a->len);
}

static const ConsoleAsset *
asset_named(const char *p, size_t len, bool page)
{
	for (int i = 0; i < lengthof(assets); i++)
		if (assets[i].page == page && strlen(assets[i].file) == len &&
			memcmp(assets[i].file, p, len) == 0)
			return &assets[i];
	return NULL;
}

/*---- sessions ----*/

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The session id of the request's cookie; false if none */
static bool
cookie_id(const HttpRequest *req, uint8 id[CONSOLE_ID_BYTES])
{
	for (size_t i = 0; i < req->nheaders; i++)
	{
		HttpSpan v = req->headers[i].value;
		const char *p = v.p;
		const char *end = v.p + v.len;

		if (!nagare_http_span_ieq(req->headers[i].name, "Cookie"))
			continue;
		while (p < end)
		{
			const char *semi = memchr(p, ';', end - p);
			const char *stop = semi ? semi : end;
			size_t nlen = strlen(CONSOLE_COOKIE);

			while (p < stop && *p == ' ')
				p++;
			if ((size_t) (stop - p) == nlen + 1 + 2 * CONSOLE_ID_BYTES &&
				memcmp(p, CONSOLE_COOKIE "=", nlen + 1) == 0)
			{
				const char *x = p + nlen + 1;
				bool ok = true;

				for (int k = 0; k < CONSOLE_ID_BYTES && ok; k++)
				{
					int hi = hexval(x[2 * k]);
					int lo = hexval(x[2 * k + 1]);

					ok = hi >= 0 && lo >= 0;
					id[k] = (uint8) (hi << 4 | lo);
				}
				if (ok)
					return true;
			}
			p = semi ? semi + 1 : end;
		}
	}
	return false;
}

/* The live session of the request's cookie, or NULL */
static ConsoleSession *
find_session(const HttpRequest *req)
{
	uint8 id[CONSOLE_ID_BYTES];
	TimestampTz now;

	if (!cookie_id(req, id))
		return NULL;
	now = GetCurrentTimestamp();
	for (int i = 0; i < CONSOLE_MAX_SESSIONS; i++)
	{
		ConsoleSession *s = &sessions[i];

		if (s->used && timingsafe_bcmp(s->id, id, CONSOLE_ID_BYTES) == 0)
		{
			if (s->expires > now)
				return s;
			s->used = false;
			return NULL;
		}
	}
	return NULL;
}

/*
 * The worker's answer to a session's check (arg: a copy of its id): a role
 * that may no longer log in (NOLOGIN, past VALID UNTIL, dropped) loses its
 * sessions; no answer in time is asked again at the next request.
 */
static void
recheck_answered(void *arg, const char *sqlstate, const char *data, uint32 len)
{
	uint8 *id = arg;

	for (int i = 0; i < CONSOLE_MAX_SESSIONS; i++)
	{
		ConsoleSession *s = &sessions[i];

		if (!s->used || memcmp(s->id, id, CONSOLE_ID_BYTES) != 0)
			continue;
		s->checking = false;
		if (sqlstate == NULL)
			break;
		if (nagare_channel_succeeded(sqlstate) && len >= 4 &&
			((uint8) data[0] | (uint8) data[1] | (uint8) data[2] | (uint8) data[3]) != 0)
			s->checked = GetCurrentTimestamp();
		else
		{
			ereport(LOG,
					(errmsg("nagare http: the console session of role \"%s\" ended: the role may no longer log in",
							s->role)));
			explicit_bzero(s, sizeof(*s));
		}
		break;
	}
	pfree(id);
}

/*
 * Ask the worker whether the session's role may still log in, once every
 * nagare.console_session_check (a minute, as long as a Basic login is
 * remembered); the session goes on meanwhile, so a role that may no longer
 * log in loses its sessions within about that time
 */
static void
recheck(ConsoleSession *s)
{
	StringInfoData json;
	uint8 *id;

	if (s->checking || !TimestampDifferenceExceeds(s->checked, GetCurrentTimestamp(),
												   nagare_console_session_check_ms))
		return;
	initStringInfo(&json);
	appendStringInfoString(&json, "{\"u\":");
	escape_json(&json, s->role);
	appendStringInfoChar(&json, '}');
	id = MemoryContextAlloc(console_cxt, CONSOLE_ID_BYTES);
	memcpy(id, s->id, CONSOLE_ID_BYTES);
	if (nagare_channel_submit(NAGARE_AUTH_ROLE_CHECK, json.data, json.len,
							  TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														  nagare_request_timeout_ms),
							  recheck_answered, id))
		s->checking = true;
	else
		pfree(id);
	pfree(json.data);
}

bool
nagare_console_session(const HttpRequest *req, WebIdentity *who)
{
	ConsoleSession *s;

	if (nagare_net_configured_authenticating_listeners() == 0 ||
		(s = find_session(req)) == NULL)
		return false;
	recheck(s);
	memset(who, 0, sizeof(*who));
	strlcpy(who->role, s->role, sizeof(who->role));
	who->superuser = s->superuser;
	return true;
}

/* A new session for who; its cookie's Set-Cookie value */
static char *
open_session(const WebIdentity *who)
{
	ConsoleSession *s = NULL;
	StringInfoData cookie;

	for (int i = 0; i < CONSOLE_MAX_SESSIONS && s == NULL; i++)
		if (!sessions[i].used || sessions[i].expires <= GetCurrentTimestamp())
			s = &sessions[i];
	/* all live: the one that ends first goes */
	if (s == NULL)
	{
		s = &sessions[0];
		for (int i = 1; i < CONSOLE_MAX_SESSIONS; i++)
			if (sessions[i].expires < s->expires)
				s = &sessions[i];
	}
	if (!pg_strong_random(s->id, CONSOLE_ID_BYTES))
		elog(ERROR, "nagare http: could not generate a random session id");
	s->used = true;
	strlcpy(s->role, who->role, sizeof(s->role));
	s->superuser = who->superuser;
	s->expires = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), CONSOLE_SESSION_MS);
	s->checked = GetCurrentTimestamp();
	s->checking = false;
	initStringInfo(&cookie);
	appendStringInfoString(&cookie, CONSOLE_COOKIE "=");
	for (int k = 0; k < CONSOLE_ID_BYTES; k++)
		appendStringInfo(&cookie, "%02x", s->id[k]);
	appendStringInfo(&cookie, "; Path=/console; HttpOnly; SameSite=Strict; Max-Age=%ld",
					 CONSOLE_SESSION_MS / 1000);
	return cookie.data;
}

/*---- answers ----*/

static void
redirect(WebResponse *resp, int status, const char *location, const char *cookie)
{
	const char **h = palloc(sizeof(char *) * 6);
	int n = 0;

	h[n++] = "Location";
	h[n++] = location;
	h[n++] = "Cache-Control";
	h[n++] = "no-store";
	if (cookie != NULL)
	{
		h[n++] = "Set-Cookie";
		h[n++] = cookie;
	}
	resp->status = status;
	resp->extra = h;
	resp->nextra = n / 2;
	appendStringInfo(&resp->body, "see %s\n", location);
}

static void
plain(WebResponse *resp, int status, const char *message)
{
	resp->status = status;
	resp->content_type = "text/plain; charset=utf-8";
	appendStringInfo(&resp->body, "%s\n", message);
}

static bool
span_is(HttpSpan s, const char *what)
{
	return s.len == strlen(what) && memcmp(s.p, what, s.len) == 0;
}

/* The role and password of the login form's body; false if malformed */
static bool
login_form(const HttpRequest *req, char *role, size_t rcap, size_t *rlen, char *password,
		   size_t pcap, size_t *plen)
{
	HttpQueryIter it;
	HttpSpan name;
	HttpSpan value;
	bool has_value;
	bool have_role = false;
	bool have_password = false;

	nagare_http_query_init(&it, req->body);
	while (nagare_http_query_next(&it, &name, &value, &has_value))
	{
		if (span_is(name, "role"))
			have_role = nagare_http_percent_decode(value, true, role, rcap, rlen) ==
						HTTP_DECODE_OK;
		else if (span_is(name, "password"))
			have_password = nagare_http_percent_decode(value, true, password, pcap,
													   plen) == HTTP_DECODE_OK;
	}
	return have_role && have_password;
}

/* POST /console/login */
static void
login(const HttpRequest *req, WebResponse *resp)
{
	char role[NAMEDATALEN];
	char password[1024];
	size_t rlen;
	size_t plen;
	WebIdentity who;
	WebWait w;
	HttpSpan origin;
	HttpSpan host;

	/*
	 * A form of another site may not log a browser in (login CSRF): the
	 * Origin a browser sends must be this Host's (over http, or https
	 * through a proxy)
	 */
	if (nagare_http_header(req, "Origin", &origin) &&
		!(nagare_http_header(req, "Host", &host) &&
		  ((origin.len == host.len + 7 && memcmp(origin.p, "http://", 7) == 0 &&
			memcmp(origin.p + 7, host.p, host.len) == 0) ||
		   (origin.len == host.len + 8 && memcmp(origin.p, "https://", 8) == 0 &&
			memcmp(origin.p + 8, host.p, host.len) == 0))))
	{
		plain(resp, 403, "the login form is posted from the console's own pages");
		return;
	}
	if (!login_form(req, role, sizeof(role), &rlen, password, sizeof(password), &plen))
	{
		redirect(resp, 303, "/console/login?failed", NULL);
		return;
	}
	w = nagare_web_login_pair(role, rlen, password, plen, &who);
	explicit_bzero(password, sizeof(password));
	switch (w)
	{
		case WEB_READY:
			if (who.anonymous)
				redirect(resp, 303, "/console/", NULL);
			else
				redirect(resp, 303, "/console/", open_session(&who));
			return;
		case WEB_WAIT:
			if (resp->may_park && !resp->must_answer)
			{
				resp->park = true;
				resp->park_until =
					TimestampTzPlusMilliseconds(resp->started,
												nagare_request_timeout_ms + 1000);
				return;
			}
			/* FALLTHROUGH */
		case WEB_BUSY:
			plain(resp, 503, "too many logins at once: try again in a second");
			return;
		case WEB_REFUSED:
			redirect(resp, 303, "/console/login?failed", NULL);
			return;
	}
}

/* POST /console/logout */
static void
logout(const HttpRequest *req, WebResponse *resp)
{
	ConsoleSession *s = find_session(req);

	if (s != NULL)
	{
		explicit_bzero(s, sizeof(*s));
		s->used = false;
	}
	redirect(resp, 303, "/console/login",
			 CONSOLE_COOKIE "=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
}

void
nagare_console_page(const HttpRequest *req, WebResponse *resp)
{
	HttpSpan path = req->path;
	bool get = span_is(req->method, "GET") || span_is(req->method, "HEAD");
	bool post = span_is(req->method, "POST");
	bool open = nagare_net_configured_authenticating_listeners() == 0;
	static const char *const allow_get[] = {"Allow", "GET, HEAD"};
	static const char *const allow_post[] = {"Allow", "POST"};
	static const char *const allow_both[] = {"Allow", "GET, HEAD, POST"};

	if (span_is(path, "/console"))
	{
		redirect(resp, 301, "/console/", NULL);
		return;
	}
	if (!assets_loaded)
	{
		plain(resp, 503, "the console's files are not installed (see the server's log)");
		return;
	}
	if (path.len > 16 && memcmp(path.p, "/console/assets/", 16) == 0)
	{
		const ConsoleAsset *a = asset_named(path.p + 16, path.len - 16, false);

		if (a == NULL)
			plain(resp, 404, "not found");
		else if (!get)
		{
			plain(resp, 405, "method not allowed");
			resp->extra = allow_get;
			resp->nextra = 1;
		}
		else
			serve_asset(req, resp, a);
		return;
	}
	if (span_is(path, "/console/login"))
	{
		if (post)
			login(req, resp);
		else if (!get)
		{
			plain(resp, 405, "method not allowed");
			resp->extra = allow_both;
			resp->nextra = 1;
		}
		else if (open || find_session(req) != NULL)
			redirect(resp, 303, "/console/", NULL);
		else
			serve_asset(req, resp, asset_named("login.html", 10, true));
		return;
	}
	if (span_is(path, "/console/logout"))
	{
		if (post)
			logout(req, resp);
		else
		{
			plain(resp, 405, "method not allowed");
			resp->extra = allow_post;
			resp->nextra = 1;
		}
		return;
	}
	if (span_is(path, "/console/"))
	{
		if (!get)
		{
			plain(resp, 405, "method not allowed");
			resp->extra = allow_get;
			resp->nextra = 1;
		}
		else if (!open && find_session(req) == NULL)
			redirect(resp, 303, "/console/login", NULL);
		else
			serve_asset(req, resp, asset_named("index.html", 10, true));
		return;
	}
	plain(resp, 404, "not found");
}

/*---- the API ----*/

static void
ticket_answered(void *arg, const char *sqlstate, const char *data, uint32 len)
{
	ConsoleTicket *t = arg;

	in_flight--;
	t->done = true;
	t->done_at = GetCurrentTimestamp();
	if (sqlstate == NULL)
		return;
	strlcpy(t->sqlstate, sqlstate, sizeof(t->sqlstate));
	t->data = MemoryContextAlloc(console_cxt, len + 1);
	memcpy(t->data, data, len);
	t->data[len] = '\0';
	t->len = len;
}

static void
ticket_free(ConsoleTicket *t)
{
	dlist_delete(&t->node);
	if (t->data)
		pfree(t->data);
	pfree(t);
}

/* Tickets answered long ago whose requests went away */
static void
sweep_tickets(TimestampTz now)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify (iter, &tickets)
	{
		ConsoleTicket *t = dlist_container(ConsoleTicket, node, iter.cur);

		if (t->done && TimestampDifferenceExceeds(t->done_at, now, CONSOLE_ORPHAN_MS))
			ticket_free(t);
	}
}

static void
api_error(WebResponse *resp, int status, const char *message)
{
	static const char *const h[] = {"Cache-Control", "no-store", "X-Content-Type-Options",
									"nosniff"};

	resp->status = status;
	resp->content_type = "application/json";
	resp->extra = h;
	resp->nextra = 2;
	appendStringInfoString(&resp->body, "{\"error\":");
	escape_json(&resp->body, message);
	appendStringInfoString(&resp->body, "}\n");
}

static bool
is_name(const char *p, size_t len)
{
	if (len == 0 || len > 32)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || p[i] == '_'))
			return false;
	return true;
}

void
nagare_console_api(const HttpRequest *req, WebResponse *resp)
{
	ConsoleTicket *t = resp->state;
	static const char *const h[] = {"Cache-Control", "no-store", "X-Content-Type-Options",
									"nosniff"};

	if (t == NULL)
	{
		const char *name = req->path.p + strlen("/console/api/");
		size_t nlen = req->path.len - strlen("/console/api/");
		StringInfoData json;
		HttpQueryIter it;
		HttpSpan pname;
		HttpSpan value;
		bool has_value;
		int nparams = 0;

		sweep_tickets(GetCurrentTimestamp());
		if (!assets_loaded)
		{
			api_error(resp, 503,
					  "the console's files are not installed (see the server's log)");
			return;
		}
		if (!is_name(name, nlen))
		{
			api_error(resp, 404, "no such console query");
			return;
		}
		initStringInfo(&json);
		appendStringInfoString(&json, "{\"q\":");
		escape_json(&json, pnstrdup(name, nlen));
		if (!resp->who.anonymous)
		{
			appendStringInfoString(&json, ",\"as\":");
			escape_json(&json, resp->who.role);
		}
		appendStringInfoString(&json, ",\"a\":{");
		nagare_http_query_init(&it, req->query);
		while (nagare_http_query_next(&it, &pname, &value, &has_value))
		{
			char buf[CONSOLE_MAX_VALUE];
			size_t len;

			if (!is_name(pname.p, pname.len) || ++nparams > CONSOLE_MAX_PARAMS ||
				nagare_http_percent_decode(value, true, buf, sizeof(buf) - 1, &len) !=
					HTTP_DECODE_OK ||
				!pg_verify_mbstr(PG_UTF8, buf, (int) len, true))
			{
				api_error(resp, 400,
						  psprintf("a query parameter is malformed: at most %d, names of a-z "
								   "and _, values at most %d bytes of UTF-8",
								   CONSOLE_MAX_PARAMS, CONSOLE_MAX_VALUE - 1));
				return;
			}
			buf[len] = '\0';
			if (nparams > 1)
				appendStringInfoChar(&json, ',');
			escape_json(&json, pnstrdup(pname.p, pname.len));
			appendStringInfoChar(&json, ':');
			escape_json(&json, buf);
		}
		appendStringInfoString(&json, "}}");

		if (in_flight >= CONSOLE_MAX_IN_FLIGHT || !resp->may_park)
		{
			api_error(resp, 503, "too many console queries at once: try again in a second");
			return;
		}
		t = MemoryContextAllocZero(console_cxt, sizeof(ConsoleTicket));
		if (!nagare_channel_submit(NAGARE_CONSOLE_QUERY, json.data, json.len,
								   TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															   nagare_request_timeout_ms),
								   ticket_answered, t))
		{
			pfree(t);
			api_error(resp, 503,
					  "the nagare worker's channel is full: try again in a second");
			return;
		}
		in_flight++;
		dlist_push_tail(&tickets, &t->node);
	}
	if (!t->done)
	{
		if (!resp->must_answer)
		{
			resp->state = t;
			resp->park = true;
			resp->park_until =
				TimestampTzPlusMilliseconds(resp->started,
											nagare_request_timeout_ms + 1000);
			return;
		}
		/* the ticket stays until its answer, then is swept */
		api_error(resp, 503, "the nagare worker did not answer in time");
		return;
	}
	if (t->sqlstate[0] == '\0')
		api_error(resp, 503,
				  "the nagare worker did not answer in time (nagare.request_timeout_ms)");
	else if (nagare_channel_succeeded(t->sqlstate))
	{
		resp->content_type = "application/json";
		resp->extra = h;
		resp->nextra = 2;
		appendBinaryStringInfo(&resp->body, t->data, t->len);
	}
	else
		api_error(resp,
				  strcmp(t->sqlstate, "54000") == 0 ? 413
													: nagare_web_status_of(t->sqlstate),
				  t->data ? t->data : "");
	ticket_free(t);
}
