/*-------------------------------------------------------------------------
 *
 * consul.c
 *	  The subset of Consul's HTTP API that discovery clients use (py-consul,
 *	  Go's consul/api, Prometheus's consul_sd_configs), answered by the
 *	  "nagare http" process from the shared instance table only.
 *
 * Reads: the catalog's services and a service's instances, a service's
 * health (its instances with their TTL check; ?passing, ?tag= repeated),
 * the agent's services and checks, the agent itself and the leader.  Every
 * answer carries X-Consul-Index (at least 1), X-Consul-KnownLeader: true
 * and X-Consul-LastContact: 0.  As Consul's, the index of the answers about
 * one service (catalog/service, health/service, health/checks) is that
 * service's (instances.h's nagare_instance_service_index()), of the others
 * the instance table's version (nagare_instance_version()); an entry's
 * CreateIndex and ModifyIndex are its last change's.  A blocking query
 * (?index=N, ?wait=, Consul's default 5 min and maximum 10 min plus up to
 * wait/16 of jitter) of the catalog and health endpoints is parked (web.h's
 * WebResponse) while its index is N, and answered when it moves or the wait
 * ends: a change of another service leaves a parked query of one service
 * parked.
 *
 * Writes: the TTL check's pass, warn, fail and update beat the instance in
 * shared memory (instances.h's nagare_instance_beat(), as
 * nagare.pass_instance() does); the nagare worker writes status changes to
 * nagare.service_instance.  A check's ID is "service:<instance id>" (the ID
 * Consul gives a service's only check); only instances with a TTL have one.
 *
 * One node, one datacenter: every instance is on node CONSUL_NODE
 * (address 127.0.0.1) of datacenter CONSUL_DC, and this process answers
 * as its agent and as the leader.  Query parameters Consul ignores here
 * too (stale, consistent, cached, near, ...) are ignored; a malformed
 * index, wait or passing, a filter expression, or another datacenter are
 * refused with Consul's status and a plain-text reason.
 *
 * Untrusted bytes: the path and query are percent-decoded by ../http
 * (fuzzed); the JSON body of check/update (at most the server's 4 KiB) is
 * read with PostgreSQL's JSON parser (common/jsonapi.h), which reports
 * errors without throwing; notes must be UTF-8 and are cut on a
 * character boundary.
 *
 * Copyright (c) 2026, the nagare authors
 *
 * src/web/consul.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "port/atomics.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "instances/instances.h"
#include "shmem.h"
#include "web/web.h"

#define CONSUL_DC              "dc1"
#define CONSUL_NODE            "nagare"
#define CONSUL_NODE_ID         "00000000-0000-4000-8000-00000000a6a2"
#define CONSUL_NODE_ADDR       "127.0.0.1"
#define CONSUL_SERVER_ADDR     "127.0.0.1:8300"
#define CONSUL_VERSION         "0.1.0-nagare" /* agent/self's Config.Version: not Consul's */
#define CONSUL_MAX_TAGS        16 /* ?tag= given */
#define CONSUL_MAX_PARAM       512 /* a decoded query value or path segment */
/* Consul's blocking queries: the default and the longest wait */
#define CONSUL_WAIT_DEFAULT_MS (5 * 60 * 1000)
#define CONSUL_WAIT_MAX_MS     (10 * 60 * 1000)

typedef struct ConsulQuery
{
	bool has_index;
	uint64 index;
	int64 wait_ms;
	bool passing;
	int ntags;
	char *tags[CONSUL_MAX_TAGS];
	bool node_meta; /* ?node-meta= given: our node has none, nothing matches */
	char *note;
} ConsulQuery;

static void
set_headers(WebResponse *resp, uint64 index)
{
	const char **h = palloc(sizeof(char *) * 6);

	h[0] = "X-Consul-Index";
	h[1] = psprintf(UINT64_FORMAT, Max(index, (uint64) 1));
	h[2] = "X-Consul-KnownLeader";
	h[3] = "true";
	h[4] = "X-Consul-LastContact";
	h[5] = "0";
	resp->extra = h;
	resp->nextra = 3;
}

/* A plain-text error answer (Consul's are plain text too) */
static void
fail(WebResponse *resp, int status, const char *msg)
{
	resp->status = status;
	resp->content_type = "text/plain; charset=utf-8";
	resetStringInfo(&resp->body);
	appendStringInfoString(&resp->body, msg);
	set_headers(resp, nagare_instance_version());
}

static bool
decode(HttpSpan in, bool plus_is_space, char **out)
{
	char buf[CONSUL_MAX_PARAM + 1];
	size_t len;

	if (nagare_http_percent_decode(in, plus_is_space, buf, CONSUL_MAX_PARAM, &len) !=
		HTTP_DECODE_OK)
		return false;
	buf[len] = '\0';
	if (!pg_verify_mbstr(PG_UTF8, buf, (int) len, true))
		return false;
	*out = pstrdup(buf);
	return true;
}

static bool
span_is(HttpSpan s, const char *what)
{
	return s.len == strlen(what) && memcmp(s.p, what, s.len) == 0;
}

/* Go's strconv.ParseBool, as Consul reads ?passing */
static bool
parse_bool(const char *s, bool *v)
{
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True", ""};
	static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
	int i;

	for (i = 0; i < lengthof(yes); i++)
		if (strcmp(s, yes[i]) == 0)
			return (*v = true);
	for (i = 0; i < lengthof(no); i++)
		if (strcmp(s, no[i]) == 0)
		{
			*v = false;
			return true;
		}
	return false;
}

/* Read the query string; false (and the answer made) if it is bad */
static bool
parse_query(const HttpRequest *req, WebResponse *resp, ConsulQuery *q)
{
	HttpQueryIter it;
	HttpSpan name;
	HttpSpan value;
	bool has_value;

	memset(q, 0, sizeof(*q));
	q->wait_ms = CONSUL_WAIT_DEFAULT_MS;
	nagare_http_query_init(&it, req->query);
	while (nagare_http_query_next(&it, &name, &value, &has_value))
	{
		char *v;

		if (!decode(value, true, &v))
		{
			fail(resp, 400,
				 psprintf("Invalid query parameter \"%.*s\": a malformed percent-escape, a NUL, not UTF-8, or longer than %d bytes",
						  (int) Min(name.len, 64), name.p, CONSUL_MAX_PARAM));
			return false;
		}
		if (span_is(name, "index"))
		{
			char *end;

			errno = 0;
			q->index = strtoull(v, &end, 10);
			if (*v == '\0' || *end != '\0' || errno != 0 || *v == '-' || *v == '+')
			{
				fail(resp, 400,
					 "Invalid index: ?index= is the X-Consul-Index of an earlier answer (a decimal number)");
				return false;
			}
			q->has_index = true;
		}
		else if (span_is(name, "wait"))
		{
			int64_t ms;

			if (!nagare_http_parse_duration(v, strlen(v), &ms) || ms < 0)
			{
				fail(resp, 400,
					 "Invalid wait time: ?wait= is a duration such as 10s, 5m or 120000ms");
				return false;
			}
			q->wait_ms = Min((int64) ms, (int64) CONSUL_WAIT_MAX_MS);
			if (q->wait_ms == 0)
				q->wait_ms = CONSUL_WAIT_DEFAULT_MS;
		}
		else if (span_is(name, "passing"))
		{
			if (!parse_bool(v, &q->passing))
			{
				fail(resp, 400, "Invalid value for ?passing: true, false, 1, 0 or nothing");
				return false;
			}
		}
		else if (span_is(name, "tag"))
		{
			if (q->ntags == CONSUL_MAX_TAGS)
			{
				fail(resp, 400,
					 psprintf("Too many ?tag= parameters: at most %d", CONSUL_MAX_TAGS));
				return false;
			}
			q->tags[q->ntags++] = v;
		}
		else if (span_is(name, "dc"))
		{
			if (*v != '\0' && strcmp(v, CONSUL_DC) != 0)
			{
				fail(resp, 500, "No path to datacenter");
				return false;
			}
		}
		else if (span_is(name, "filter"))
		{
			if (*v != '\0')
			{
				fail(resp, 400,
					 "Failed to create boolexpr evaluator: nagare does not support ?filter= expressions; filter with ?tag= and ?passing");
				return false;
			}
		}
		else if (span_is(name, "node-meta"))
			q->node_meta = true;
		else if (span_is(name, "note"))
			q->note = v;
		/* others (stale, consistent, cached, near, ns, partition, ...): ignored */
	}
	return true;
}

/* A parked blocking query's state (resp->state) */
typedef struct ParkState
{
	TimestampTz deadline;
	uint64 seen_version; /* the table's version when index was computed */
	uint64 index; /* the service's index then */
} ParkState;

/*
 * A blocking query: true to answer now, with *index the answer's
 * X-Consul-Index; false when the request is parked (its index is the
 * current one and its wait has not ended).  The index of a service's query
 * is the service's (instances.h's nagare_instance_service_index(), one pass
 * over the table, done again only when the table's version moved); of
 * others (service NULL) the table's version.
 */
static bool
answer_now(const ConsulQuery *q, WebResponse *resp, const char *service, uint64 *index)
{
	ParkState *st = resp->state;
	uint64 version = nagare_instance_version();

	if (service == NULL)
		*index = version;
	else if (st != NULL && st->seen_version == version)
		*index = st->index;
	else
		*index = nagare_instance_service_index(service);
	*index = Max(*index, (uint64) 1);

	/* index 0 does not block; another (a restart) answers at once */
	if (!q->has_index || q->index == 0 || *index != q->index)
		return true;
	if (!resp->may_park)
		return true;
	if (st == NULL)
	{
		int64 jitter = q->wait_ms / 16 > 0 ? (int64) (random() % (q->wait_ms / 16 + 1)) : 0;

		st = MemoryContextAlloc(resp->state_cxt, sizeof(ParkState));
		st->deadline = TimestampTzPlusMilliseconds(resp->started, q->wait_ms + jitter);
		resp->state = st;
	}
	st->seen_version = version;
	st->index = *index;
	if (GetCurrentTimestamp() >= st->deadline)
		return true;
	resp->park = true;
	resp->park_until = st->deadline;
	return false;
}

static bool
loaded(WebResponse *resp)
{
	if (pg_atomic_read_u32(&nagare_instances->loaded) != 0)
		return true;
	fail(resp, 503,
		 "nagare: the live instance table is not loaded yet (the nagare worker loads it from nagare.service_instance once the extension exists); try again in a second");
	return false;
}

static int
cmp_instance(const void *a, const void *b)
{
	const NagareInstance *x = a;
	const NagareInstance *y = b;
	int c = strcmp(x->service, y->service);

	return c != 0 ? c : strcmp(x->id, y->id);
}

/* The instances, sorted by service and id */
static int
snapshot(NagareInstance **copies)
{
	int n = nagare_instance_snapshot(copies);

	if (n > 1)
		qsort(*copies, n, sizeof(NagareInstance), cmp_instance);
	return n;
}

static bool
has_tag(const NagareInstance *e, const char *tag)
{
	const char *t = e->tags;
	int i;

	for (i = 0; i < e->ntags; i++, t += strlen(t) + 1)
		if (strcmp(t, tag) == 0)
			return true;
	return false;
}

/* The instance is of the service and has every tag asked */
static bool
selected(const NagareInstance *e, const char *service, const ConsulQuery *q)
{
	int i;

	if (q->node_meta || (service != NULL && strcmp(e->service, service) != 0))
		return false;
	for (i = 0; i < q->ntags; i++)
		if (!has_tag(e, q->tags[i]))
			return false;
	return true;
}

static void
json_tags(StringInfo b, const NagareInstance *e)
{
	const char *t = e->tags;
	int i;

	appendStringInfoChar(b, '[');
	for (i = 0; i < e->ntags; i++, t += strlen(t) + 1)
	{
		if (i > 0)
			appendStringInfoChar(b, ',');
		escape_json(b, t);
	}
	appendStringInfoChar(b, ']');
}

static void
json_meta(StringInfo b, const NagareInstance *e)
{
	/* jsonb's text of an object of strings: JSON already */
	appendStringInfoString(b, e->meta[0] != '\0' ? e->meta : "{}");
}

static void
json_node(StringInfo b, uint64 index)
{
	appendStringInfo(b,
					 "{\"ID\":\"%s\",\"Node\":\"%s\",\"Address\":\"%s\",\"Datacenter\":\"%s\","
					 "\"TaggedAddresses\":{\"lan\":\"%s\",\"wan\":\"%s\"},\"Meta\":{},"
					 "\"CreateIndex\":1,\"ModifyIndex\":" UINT64_FORMAT "}",
					 CONSUL_NODE_ID, CONSUL_NODE, CONSUL_NODE_ADDR, CONSUL_DC,
					 CONSUL_NODE_ADDR, CONSUL_NODE_ADDR, index);
}

/* api.AgentService (its indexes: the entry's modify_index) */
static void
json_service(StringInfo b, const NagareInstance *e)
{
	appendStringInfoString(b, "{\"ID\":");
	escape_json(b, e->id);
	appendStringInfoString(b, ",\"Service\":");
	escape_json(b, e->service);
	appendStringInfoString(b, ",\"Tags\":");
	json_tags(b, e);
	appendStringInfoString(b, ",\"Address\":");
	escape_json(b, e->address);
	appendStringInfoString(b, ",\"Meta\":");
	json_meta(b, e);
	appendStringInfo(b,
					 ",\"Port\":%d,\"Weights\":{\"Passing\":1,\"Warning\":1},"
					 "\"EnableTagOverride\":false,\"TaggedAddresses\":{},\"Datacenter\":\"%s\","
					 "\"CreateIndex\":" UINT64_FORMAT ",\"ModifyIndex\":" UINT64_FORMAT "}",
					 e->port, CONSUL_DC, e->modify_index, e->modify_index);
}

/* api.HealthCheck: the instance's TTL check */
static void
json_check(StringInfo b, const NagareInstance *e)
{
	appendStringInfoString(b, "{\"Node\":\"" CONSUL_NODE "\",\"CheckID\":");
	escape_json(b, psprintf("service:%s", e->id));
	appendStringInfoString(b, ",\"Name\":");
	escape_json(b, psprintf("Service '%s' check", e->service));
	appendStringInfo(b, ",\"Status\":\"%s\",\"Notes\":\"\",\"Output\":",
					 nagare_instance_status_name(e->status));
	escape_json(b, e->output);
	appendStringInfoString(b, ",\"ServiceID\":");
	escape_json(b, e->id);
	appendStringInfoString(b, ",\"ServiceName\":");
	escape_json(b, e->service);
	appendStringInfoString(b, ",\"ServiceTags\":");
	json_tags(b, e);
	appendStringInfo(b,
					 ",\"Type\":\"ttl\",\"Definition\":{},\"CreateIndex\":" UINT64_FORMAT
					 ",\"ModifyIndex\":" UINT64_FORMAT "}",
					 e->modify_index, e->modify_index);
}

/* The part of the path after the route's prefix, decoded; NULL: answered 400 */
static char *
path_rest(const HttpRequest *req, WebResponse *resp, const char *prefix)
{
	size_t plen = strlen(prefix);
	HttpSpan rest = {req->path.p + plen, req->path.len - plen};
	char *out;

	if (!decode(rest, false, &out))
	{
		fail(resp, 400,
			 psprintf("Invalid path: a malformed percent-escape, a NUL, not UTF-8, or longer than %d bytes after %s",
					  CONSUL_MAX_PARAM, prefix));
		return NULL;
	}
	return out;
}

static void
json_answer(WebResponse *resp, uint64 version)
{
	resp->content_type = "application/json";
	set_headers(resp, version);
}

/* GET /v1/catalog/services: {"service": ["tag", ...], ...} */
void
nagare_consul_catalog_services(const HttpRequest *req, WebResponse *resp)
{
	ConsulQuery q;
	NagareInstance *e;
	uint64 version;
	int n;
	int i;
	bool any = false;

	if (!parse_query(req, resp, &q) || !loaded(resp) ||
		!answer_now(&q, resp, NULL, &version))
		return;
	n = snapshot(&e);
	appendStringInfoChar(&resp->body, '{');
	for (i = 0; i < n;)
	{
		int j;
		int k;
		bool first = true;

		/* instances [i, j) are of one service: the union of their tags */
		for (j = i; j < n && strcmp(e[j].service, e[i].service) == 0; j++)
			;
		if (q.node_meta)
		{
			i = j;
			continue;
		}
		if (any)
			appendStringInfoChar(&resp->body, ',');
		any = true;
		escape_json(&resp->body, e[i].service);
		appendStringInfoString(&resp->body, ":[");
		for (k = i; k < j; k++)
		{
			const char *t = e[k].tags;
			int m;

			for (m = 0; m < e[k].ntags; m++, t += strlen(t) + 1)
			{
				const char *u = e[k].tags;
				bool seen = false;
				int p;

				/* once per service: skip it if an instance before had it */
				for (p = i; p < k && !seen; p++)
					seen = has_tag(&e[p], t);
				for (p = 0; p < m && !seen; p++, u += strlen(u) + 1)
					seen = strcmp(u, t) == 0;
				if (seen)
					continue;
				if (!first)
					appendStringInfoChar(&resp->body, ',');
				first = false;
				escape_json(&resp->body, t);
			}
		}
		appendStringInfoChar(&resp->body, ']');
		i = j;
	}
	appendStringInfoChar(&resp->body, '}');
	json_answer(resp, version);
}

/* GET /v1/catalog/service/<name>[?tag=...]: api.CatalogService entries */
void
nagare_consul_catalog_service(const HttpRequest *req, WebResponse *resp)
{
	ConsulQuery q;
	NagareInstance *e;
	uint64 version;
	char *service;
	int n;
	int i;
	bool any = false;

	if (!parse_query(req, resp, &q) ||
		(service = path_rest(req, resp, "/v1/catalog/service/")) == NULL ||
		!loaded(resp) || !answer_now(&q, resp, service, &version))
		return;
	n = snapshot(&e);
	appendStringInfoChar(&resp->body, '[');
	for (i = 0; i < n; i++)
	{
		StringInfo b = &resp->body;

		if (!selected(&e[i], service, &q))
			continue;
		if (any)
			appendStringInfoChar(b, ',');
		any = true;
		appendStringInfo(b,
						 "{\"ID\":\"%s\",\"Node\":\"%s\",\"Address\":\"%s\",\"Datacenter\":\"%s\","
						 "\"TaggedAddresses\":{\"lan\":\"%s\",\"wan\":\"%s\"},\"NodeMeta\":{},"
						 "\"ServiceKind\":\"\",\"ServiceID\":",
						 CONSUL_NODE_ID, CONSUL_NODE, CONSUL_NODE_ADDR, CONSUL_DC,
						 CONSUL_NODE_ADDR, CONSUL_NODE_ADDR);
		escape_json(b, e[i].id);
		appendStringInfoString(b, ",\"ServiceName\":");
		escape_json(b, e[i].service);
		appendStringInfoString(b, ",\"ServiceTags\":");
		json_tags(b, &e[i]);
		appendStringInfoString(b, ",\"ServiceAddress\":");
		escape_json(b, e[i].address);
		appendStringInfoString(b, ",\"ServiceMeta\":");
		json_meta(b, &e[i]);
		appendStringInfo(b,
						 ",\"ServicePort\":%d,\"ServiceWeights\":{\"Passing\":1,\"Warning\":1},"
						 "\"ServiceEnableTagOverride\":false,\"ServiceTaggedAddresses\":{},"
						 "\"CreateIndex\":" UINT64_FORMAT
						 ",\"ModifyIndex\":" UINT64_FORMAT "}",
						 e[i].port, e[i].modify_index, e[i].modify_index);
	}
	appendStringInfoChar(&resp->body, ']');
	json_answer(resp, version);
}

/*
 * GET /v1/health/service/<name>[?passing][&tag=...]: api.ServiceEntry
 * entries (Node, Service, Checks); ?passing keeps those whose checks all
 * pass (an instance without a TTL has none, and is kept).
 */
void
nagare_consul_health_service(const HttpRequest *req, WebResponse *resp)
{
	ConsulQuery q;
	NagareInstance *e;
	uint64 version;
	char *service;
	int n;
	int i;
	bool any = false;

	if (!parse_query(req, resp, &q) ||
		(service = path_rest(req, resp, "/v1/health/service/")) == NULL ||
		!loaded(resp) || !answer_now(&q, resp, service, &version))
		return;
	n = snapshot(&e);
	appendStringInfoChar(&resp->body, '[');
	for (i = 0; i < n; i++)
	{
		StringInfo b = &resp->body;

		if (!selected(&e[i], service, &q))
			continue;
		if (q.passing && e[i].ttl_ms > 0 && e[i].status != NAGARE_INSTANCE_PASSING)
			continue;
		if (any)
			appendStringInfoChar(b, ',');
		any = true;
		appendStringInfoString(b, "{\"Node\":");
		json_node(b, version);
		appendStringInfoString(b, ",\"Service\":");
		json_service(b, &e[i]);
		appendStringInfoString(b, ",\"Checks\":[");
		if (e[i].ttl_ms > 0)
			json_check(b, &e[i]);
		appendStringInfoString(b, "]}");
	}
	appendStringInfoChar(&resp->body, ']');
	json_answer(resp, version);
}

/* GET /v1/health/checks/<name>: the TTL checks of the service's instances */
void
nagare_consul_health_checks(const HttpRequest *req, WebResponse *resp)
{
	ConsulQuery q;
	NagareInstance *e;
	uint64 version;
	char *service;
	int n;
	int i;
	bool any = false;

	if (!parse_query(req, resp, &q) ||
		(service = path_rest(req, resp, "/v1/health/checks/")) == NULL || !loaded(resp) ||
		!answer_now(&q, resp, service, &version))
		return;
	n = snapshot(&e);
	appendStringInfoChar(&resp->body, '[');
	for (i = 0; i < n; i++)
	{
		if (!selected(&e[i], service, &q) || e[i].ttl_ms <= 0)
			continue;
		if (any)
			appendStringInfoChar(&resp->body, ',');
		any = true;
		json_check(&resp->body, &e[i]);
	}
	appendStringInfoChar(&resp->body, ']');
	json_answer(resp, version);
}

/* GET /v1/agent/services: {"<id>": api.AgentService, ...} */
void
nagare_consul_agent_services(const HttpRequest *req, WebResponse *resp)
{
	ConsulQuery q;
	NagareInstance *e;
	uint64 version = nagare_instance_version();
	int n;
	int i;

	if (!parse_query(req, resp, &q) || !loaded(resp))
		return;
	n = snapshot(&e);
	appendStringInfoChar(&resp->body, '{');
	for (i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(&resp->body, ',');
		escape_json(&resp->body, e[i].id);
		appendStringInfoChar(&resp->body, ':');
		json_service(&resp->body, &e[i]);
	}
	appendStringInfoChar(&resp->body, '}');
	json_answer(resp, version);
}

/* GET /v1/agent/checks: {"service:<id>": api.AgentCheck, ...} */
void
nagare_consul_agent_checks(const HttpRequest *req, WebResponse *resp)
{
	ConsulQuery q;
	NagareInstance *e;
	uint64 version = nagare_instance_version();
	int n;
	int i;
	bool any = false;

	if (!parse_query(req, resp, &q) || !loaded(resp))
		return;
	n = snapshot(&e);
	appendStringInfoChar(&resp->body, '{');
	for (i = 0; i < n; i++)
	{
		if (e[i].ttl_ms <= 0)
			continue;
		if (any)
			appendStringInfoChar(&resp->body, ',');
		any = true;
		escape_json(&resp->body, psprintf("service:%s", e[i].id));
		appendStringInfoChar(&resp->body, ':');
		json_check(&resp->body, &e[i]);
	}
	appendStringInfoChar(&resp->body, '}');
	json_answer(resp, version);
}

/* GET /v1/agent/self: enough of Config and Member for discovery clients */
void
nagare_consul_agent_self(const HttpRequest *req, WebResponse *resp)
{
	ConsulQuery q;

	if (!parse_query(req, resp, &q))
		return;
	appendStringInfo(&resp->body,
					 "{\"Config\":{\"Datacenter\":\"%s\",\"PrimaryDatacenter\":\"%s\","
					 "\"NodeName\":\"%s\",\"NodeID\":\"%s\",\"Server\":true,"
					 "\"Revision\":\"nagare\",\"Version\":\"%s\"},"
					 "\"Member\":{\"Name\":\"%s\",\"Addr\":\"%s\",\"Port\":8301,"
					 "\"Tags\":{\"dc\":\"%s\",\"role\":\"consul\"},\"Status\":1},"
					 "\"Meta\":{},\"Stats\":{}}",
					 CONSUL_DC, CONSUL_DC, CONSUL_NODE, CONSUL_NODE_ID, CONSUL_VERSION,
					 CONSUL_NODE, CONSUL_NODE_ADDR, CONSUL_DC);
	json_answer(resp, nagare_instance_version());
}

/* GET /v1/status/leader: this process */
void
nagare_consul_status_leader(const HttpRequest *req, WebResponse *resp)
{
	appendStringInfoString(&resp->body, "\"" CONSUL_SERVER_ADDR "\"");
	json_answer(resp, nagare_instance_version());
}

/* GET /v1/status/peers */
void
nagare_consul_status_peers(const HttpRequest *req, WebResponse *resp)
{
	appendStringInfoString(&resp->body, "[\"" CONSUL_SERVER_ADDR "\"]");
	json_answer(resp, nagare_instance_version());
}

/* check/update's body: {"Status": ..., "Output": ...} (keys in any case) */
typedef struct UpdateBody
{
	int depth;
	int field; /* 1: Status, 2: Output, 0: another */
	bool not_object;
	bool bad_type;
	char *status;
	char *output;
} UpdateBody;

static void
ub_array_start(void *state)
{
	UpdateBody *u = state;

	if (u->depth == 0)
		u->not_object = true;
	else if (u->depth == 1 && u->field > 0)
		u->bad_type = true;
	u->depth++;
}

static void
ub_object_start(void *state)
{
	UpdateBody *u = state;

	if (u->depth == 1 && u->field > 0)
		u->bad_type = true;
	u->depth++;
}

static void
ub_end(void *state)
{
	((UpdateBody *) state)->depth--;
}

static void
ub_field(void *state, char *fname, bool isnull)
{
	UpdateBody *u = state;

	if (u->depth != 1)
		return;
	u->field = pg_strcasecmp(fname, "Status") == 0   ? 1
			   : pg_strcasecmp(fname, "Output") == 0 ? 2
													 : 0;
}

static void
ub_scalar(void *state, char *token, JsonTokenType type)
{
	UpdateBody *u = state;

	if (u->depth == 0)
	{
		u->not_object = true;
		return;
	}
	if (u->depth != 1 || u->field <= 0)
		return;
	if (type == JSON_TOKEN_NULL)
		return;
	if (type != JSON_TOKEN_STRING)
	{
		u->bad_type = true;
		return;
	}
	if (u->field == 1)
		u->status = token;
	else
		u->output = token;
}

/*
 * Park the request until the worker has answered, if it may be parked;
 * false when it was answered instead (503)
 */
static bool
wait_for_worker(WebResponse *resp)
{
	if (resp->may_park && !resp->must_answer)
	{
		resp->park = true;
		resp->park_until =
			TimestampTzPlusMilliseconds(resp->started, nagare_request_timeout_ms + 1000);
		return true;
	}
	fail(resp, 503, "the nagare worker is busy: try again");
	return false;
}

/*
 * May the client beat instance id (workerops.h: the rule of the SQL
 * heartbeats, asked of the worker and remembered)?  False when the request
 * was answered (403, 404, 503) or parked.
 */
static bool
may_beat(WebResponse *resp, const char *id)
{
	int status = 403;
	const char *message = NULL;

	switch (nagare_web_may_beat(&resp->who, id, &status, &message))
	{
		case WEB_READY:
			return true;
		case WEB_WAIT:
			(void) wait_for_worker(resp);
			return false;
		case WEB_REFUSED:
			fail(resp, status, psprintf("Permission denied: %s", message));
			return false;
		case WEB_BUSY:
			break;
	}
	fail(resp, 503, "the nagare worker did not answer in time: try again");
	return false;
}

/*
 * Beat the instance of a check ("service:<id>") with status and note;
 * answer 200 with an empty body, or 404 with Consul's text.
 */
static void
beat(const HttpRequest *req, WebResponse *resp, const char *prefix, int status,
	 const char *note)
{
	char *check = path_rest(req, resp, prefix);
	NagareInstance *copy;
	const char *id;
	uint64 version;

	if (check == NULL || !loaded(resp))
		return;
	copy = palloc(sizeof(NagareInstance));
	id = strncmp(check, "service:", 8) == 0 ? check + 8 : NULL;
	if (id == NULL || !nagare_instance_find(id, copy) || copy->ttl_ms <= 0)
	{
		fail(resp, 404,
			 psprintf("Unknown check ID \"%s\". Ensure that the check ID is passed, not the check name.",
					  check));
		return;
	}
	if (!may_beat(resp, id))
		return;
	if (note != NULL)
	{
		char *cut = pstrdup(note);

		/* shared memory keeps NAGARE_INSTANCE_OUTPUT_MAX - 1 bytes: whole characters */
		cut[pg_encoding_mbcliplen(PG_UTF8, cut, strlen(cut), NAGARE_INSTANCE_OUTPUT_MAX - 1)] =
			'\0';
		note = cut;
	}
	if (nagare_instance_beat(id, status, note, GetCurrentTimestamp()) < 0)
	{
		fail(resp, 404,
			 psprintf("Unknown check ID \"%s\". Ensure that the check ID is passed, not the check name.",
					  check));
		return;
	}
	version = nagare_instance_version();
	set_headers(resp, version);
}

static void
ttl_beat(const HttpRequest *req, WebResponse *resp, const char *prefix, int status)
{
	ConsulQuery q;

	if (!parse_query(req, resp, &q))
		return;
	beat(req, resp, prefix, status, q.note != NULL ? q.note : "");
}

/* PUT /v1/agent/check/pass/<check id>[?note=] */
void
nagare_consul_check_pass(const HttpRequest *req, WebResponse *resp)
{
	ttl_beat(req, resp, "/v1/agent/check/pass/", NAGARE_INSTANCE_PASSING);
}

/* PUT /v1/agent/check/warn/<check id>[?note=] */
void
nagare_consul_check_warn(const HttpRequest *req, WebResponse *resp)
{
	ttl_beat(req, resp, "/v1/agent/check/warn/", NAGARE_INSTANCE_WARNING);
}

/* PUT /v1/agent/check/fail/<check id>[?note=] */
void
nagare_consul_check_fail(const HttpRequest *req, WebResponse *resp)
{
	ttl_beat(req, resp, "/v1/agent/check/fail/", NAGARE_INSTANCE_CRITICAL);
}

/* PUT /v1/agent/check/update/<check id> {"Status": ..., "Output": ...} */
void
nagare_consul_check_update(const HttpRequest *req, WebResponse *resp)
{
	ConsulQuery q;
	UpdateBody u;
	JsonSemAction sem;
	JsonLexContext *lex;
	JsonParseErrorType rc;
	char *body;
	int status;

	if (!parse_query(req, resp, &q))
		return;
	body = pnstrdup(req->body.p, req->body.len);
	if (!pg_verify_mbstr(PG_UTF8, body, (int) req->body.len, true) ||
		strlen(body) != req->body.len)
	{
		fail(resp, 400, "Request decode failed: the body is not UTF-8 JSON");
		return;
	}
	memset(&u, 0, sizeof(u));
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &u;
	sem.object_start = ub_object_start;
	sem.object_end = ub_end;
	sem.array_start = ub_array_start;
	sem.array_end = ub_end;
	sem.object_field_start = ub_field;
	sem.scalar = ub_scalar;
	lex = makeJsonLexContextCstringLen(body, (int) req->body.len, PG_UTF8, true);
	rc = pg_parse_json(lex, &sem);
	if (rc != JSON_SUCCESS)
	{
		fail(resp, 400, psprintf("Request decode failed: %s", json_errdetail(rc, lex)));
		return;
	}
	if (u.not_object || u.bad_type)
	{
		fail(resp, 400,
			 "Request decode failed: the body is a JSON object {\"Status\": \"passing\", \"Output\": \"...\"} of strings");
		return;
	}
	status = u.status != NULL ? nagare_instance_status_parse(u.status) : -1;
	if (status < 0)
	{
		fail(resp, 400,
			 psprintf("Invalid check status: '%s' (passing, warning or critical)",
					  u.status != NULL ? u.status : ""));
		return;
	}
	beat(req, resp, "/v1/agent/check/update/", status, u.output != NULL ? u.output : "");
}

/*---- the registry's writes: carried out by the nagare worker ----*/

/*
 * Ask the worker (first call), or answer with what it said (later calls):
 * 200 with an empty body, as Consul, or the error's status and message.
 */
static void
ask_worker(WebResponse *resp, NagareChannelKind kind, const StringInfo payload)
{
	WebOp *op = resp->state;
	int status;
	const char *message;

	if (op == NULL)
	{
		if (!resp->may_park)
		{
			fail(resp, 503, "too many requests wait: try again");
			return;
		}
		op = nagare_web_ask(kind, payload->data, payload->len);
		if (op == NULL)
		{
			fail(resp, 503, "the channel to the nagare worker is full: try again");
			return;
		}
		resp->state = op;
		(void) wait_for_worker(resp);
		return;
	}
	if (!nagare_web_op_done(op, &status, &message))
	{
		/* still at the worker: its deadline comes before park_until */
		if (!resp->must_answer)
		{
			(void) wait_for_worker(resp);
			return;
		}
		fail(resp, 503, "the nagare worker did not answer in time: try again");
		return;
	}
	resp->state = NULL;
	if (status != 200)
	{
		fail(resp, status, message);
		return;
	}
	set_headers(resp, nagare_instance_version());
}

/*
 * PUT /v1/agent/service/register: register an instance (Consul's JSON,
 * read by the worker with nagare._consul_registration()) as the client's
 * role, through nagare.register_instance()
 */
void
nagare_consul_service_register(const HttpRequest *req, WebResponse *resp)
{
	StringInfoData json;
	char *body;

	initStringInfo(&json);
	if (resp->state == NULL)
	{
		body = pnstrdup(req->body.p, req->body.len);
		if (strlen(body) != req->body.len ||
			!pg_verify_mbstr(PG_UTF8, body, (int) req->body.len, true))
		{
			fail(resp, 400, "Request decode failed: the body is not UTF-8 JSON");
			return;
		}
		appendStringInfoString(&json, "{\"r\":");
		escape_json(&json, body);
		appendStringInfoString(&json, ",\"peer\":");
		escape_json(&json, resp->peer_ip);
		nagare_web_append_who(&json, &resp->who, resp->peer_ip, resp->user_agent);
		appendStringInfoChar(&json, '}');
	}
	ask_worker(resp, NAGARE_REGISTRY_REGISTER, &json);
}

/* PUT /v1/agent/service/deregister/<id>: nagare.deregister_instance() as the client's role */
void
nagare_consul_service_deregister(const HttpRequest *req, WebResponse *resp)
{
	StringInfoData json;
	char *id;

	initStringInfo(&json);
	if (resp->state == NULL)
	{
		if ((id = path_rest(req, resp, "/v1/agent/service/deregister/")) == NULL)
			return;
		appendStringInfoString(&json, "{\"id\":");
		escape_json(&json, id);
		nagare_web_append_who(&json, &resp->who, resp->peer_ip, resp->user_agent);
		appendStringInfoChar(&json, '}');
	}
	ask_worker(resp, NAGARE_REGISTRY_DEREGISTER, &json);
}
