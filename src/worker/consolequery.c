/*-------------------------------------------------------------------------
 *
 * consolequery.c
 *	  The nagare worker runs the console's read-only queries for the
 *	  "nagare http" process (web/console.c): one fixed SQL query per name,
 *	  as the role logged in to the console, its rows as JSON.
 *
 * The table below is the only SQL the console runs: a request names an
 * entry and gives its parameters as strings, which are bound (never put
 * into the text) and cast by the query, so a malformed one is the client's
 * 22P02.  Each query runs in a transaction of its own, read only
 * (transaction_read_only), with a statement timeout, as the role of the
 * request ("as"; the worker's own role when no listener authenticates and
 * nobody logs in, as for /metrics), and is rolled back: the views' own
 * filtering (what the role may DESCRIBE, its tenant) decides what it sees,
 * and nothing the role could not read in SQL is reachable.
 *
 * The answer is one JSON object, built in SQL: {"rows": [...], "truncated":
 * whether more than CONSOLE_MAX_ROWS rows were there}; more than
 * NAGARE_CONSOLE_RESULT_MAX bytes of it is refused with 54000 (the http
 * process answers 413), as an answer must fit in the http channel's ring.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "worker/worker.h"

/* Most rows of an answer (one more is read to say "truncated") */
#define CONSOLE_MAX_ROWS   200
#define CONSOLE_MAX_PARAMS 4

typedef struct ConsoleQuery
{
	const char *name;
	const char *params[CONSOLE_MAX_PARAMS]; /* $1.. by name; all required */
	const char *sql; /* one column: a json per row, in order */
} ConsoleQuery;

/*
 * The console's queries.  Each reads views and functions any role may
 * call; their own walls (nagare.authorized(), security_invoker, row-level
 * security, consume()'s READ check) apply to the role.
 */
static const ConsoleQuery queries[] = {
	{"whoami",
	 {NULL},
	 "SELECT json_build_object('role', current_user, 'platform', "
	 "nagare.authorized('CLUSTER', 'kafka-cluster', 'DESCRIBE'))"},
	{"topics",
	 {NULL},
	 "SELECT json_build_object('topic', t.topic, 'partitions', t.partitions, "
	 "'records', coalesce(p.records, 0), 'size_bytes', coalesce(p.size_bytes, 0), "
	 "'segments', coalesce(p.segments, 0), 'overrides', t.overrides, "
	 "'created_at', t.created_at, 'created_by', t.created_by) "
	 "FROM nagare.topics t LEFT JOIN (SELECT topic, sum(records) AS records, "
	 "sum(size_bytes) AS size_bytes, sum(segments) AS segments FROM nagare.partitions "
	 "GROUP BY topic) p ON p.topic = t.topic ORDER BY t.topic"},
	/* one topic's effective configuration: a setting per row */
	{"config",
	 {"topic"},
	 "SELECT json_build_object('key', c.key, 'value', c.value, 'set', t.overrides ? c.key) "
	 "FROM nagare.topics t, jsonb_each(t.config) c WHERE t.topic = $1 ORDER BY c.key"},
	{"partitions",
	 {"topic"},
	 "SELECT json_build_object('partition', p.partition, 'log_start_offset', "
	 "p.log_start_offset, 'high_watermark', p.high_watermark, 'records', p.records, "
	 "'segments', p.segments, 'size_bytes', p.size_bytes) "
	 "FROM nagare.partitions p WHERE p.topic = $1 ORDER BY p.partition"},
	/*
	 * Records from an offset: at most 100, and at most 64 KiB of keys and
	 * values (the first record always); each key and value cut at 4 KiB,
	 * in base64 (the page shows text when it is UTF-8, hex otherwise)
	 */
	{"messages",
	 {"topic", "partition", "offset", "count"},
	 "SELECT json_build_object('partition', m.partition, 'offset', m.offset, "
	 "'timestamp', m.timestamp, 'key', encode(substring(m.key FROM 1 FOR 4096), 'base64'), "
	 "'key_bytes', octet_length(m.key), "
	 "'value', encode(substring(m.value FROM 1 FOR 4096), 'base64'), "
	 "'value_bytes', octet_length(m.value), 'headers', "
	 "(SELECT coalesce(json_agg(json_build_object('key', h.key, 'value', "
	 "encode(substring(h.value FROM 1 FOR 1024), 'base64'))), '[]') "
	 "FROM unnest(m.headers) h)) "
	 "FROM (SELECT c.*, sum(least(coalesce(octet_length(c.key), 0), 4096) + "
	 "least(coalesce(octet_length(c.value), 0), 4096)) OVER (ORDER BY c.offset) AS upto, "
	 "row_number() OVER (ORDER BY c.offset) AS n "
	 "FROM nagare.consume($1, $2::integer, $3::bigint, least(greatest($4::integer, 1), 100)) c) m "
	 "WHERE m.n = 1 OR m.upto <= 65536 ORDER BY m.offset"},
	{"groups",
	 {NULL},
	 "SELECT json_build_object('group_id', g.group_id, 'state', g.state, 'protocol', "
	 "g.protocol, 'generation', g.generation, 'members', g.members, 'lag', "
	 "(SELECT sum(l.lag) FROM nagare.consumer_lag l WHERE l.group_id = g.group_id)) "
	 "FROM nagare.consumer_groups g ORDER BY g.group_id"},
	{"lag",
	 {"group"},
	 "SELECT row_to_json(l) FROM nagare.consumer_lag l WHERE l.group_id = $1 "
	 "ORDER BY l.topic, l.partition"},
	{"tenants",
	 {NULL},
	 "SELECT json_build_object('tenant', t.tenant, 'max_topics', t.max_topics, "
	 "'max_partitions', t.max_partitions, 'max_retention_ms', t.max_retention_ms, "
	 "'max_bytes', t.max_bytes, 'topics', t.topics, 'partitions', t.partitions, "
	 "'admins', t.admins, 'members', t.members, 'quotas', "
	 "(SELECT coalesce(json_agg(q ORDER BY q.key), '[]') FROM nagare.tenant_quotas q "
	 "WHERE q.tenant = t.tenant)) FROM nagare.tenants t ORDER BY t.tenant"},
	{"quotas",
	 {NULL},
	 "SELECT json_build_object('entity', q.entity, 'tenant', q.tenant, 'key', q.key, "
	 "'value', q.value) FROM nagare.quotas q ORDER BY q.entity, q.key"},
	{"usage",
	 {NULL},
	 "SELECT json_build_object('source', u.source, 'tenant', u.tenant, 'principal', "
	 "u.principal, 'client_id', u.client_id, 'requests', u.requests, 'bytes_in', "
	 "u.bytes_in, 'bytes_out', u.bytes_out, 'records_in', u.records_in, 'records_out', "
	 "u.records_out, 'errors', u.errors, 'throttle_ms', u.throttle_ms, 'since', u.since) "
	 "FROM nagare.client_usage u ORDER BY u.tenant, u.principal, u.client_id"},
	{"clients",
	 {NULL},
	 "SELECT json_build_object('id', c.id, 'listener', c.listener, 'security_protocol', "
	 "c.security_protocol, 'tenant', c.tenant, 'principal', c.principal, 'client_id', "
	 "c.client_id, 'software', concat_ws(' ', c.client_software_name, "
	 "c.client_software_version), 'address', c.client_addr, 'since', c.since, "
	 "'in_flight', c.requests_in_flight) FROM nagare.connections c ORDER BY c.id"},
	{"services",
	 {NULL},
	 "SELECT json_build_object('service', s.service, 'tenant', s.tenant, 'description', "
	 "s.description, 'lifecycle', s.lifecycle, 'tier', s.tier, 'endpoints', s.endpoints, "
	 "'passing', coalesce(h.passing, 0), 'warning', coalesce(h.warning, 0), 'critical', "
	 "coalesce(h.critical, 0)) FROM nagare.services s LEFT JOIN nagare.service_health h "
	 "ON h.service = s.service ORDER BY s.service"},
	{"instances",
	 {"service"},
	 "SELECT json_build_object('id', i.id, 'address', i.address, 'port', i.port, 'tags', "
	 "i.tags, 'status', i.status, 'output', i.output, 'last_beat', i.last_beat, "
	 "'ttl_remaining', i.ttl_remaining) FROM nagare.instances i WHERE i.service = $1 "
	 "ORDER BY i.id"},
	{"graph", {NULL}, "SELECT nagare.dependency_graph_json()::json"},
	{"slos",
	 {NULL},
	 "SELECT json_build_object('service', s.service, 'name', s.name, 'sli', s.sli, "
	 "'objective', s.objective, 'threshold', s.threshold, 'time_window', s.time_window, "
	 "'good_events', s.good_events, 'total_events', s.total_events, 'sli_value', "
	 "s.sli_value, 'met', s.met, 'error_budget_remaining', s.error_budget_remaining, "
	 "'error_budget_remaining_events', s.error_budget_remaining_events, 'burn_rate_1h', "
	 "s.burn_rate_1h) FROM nagare.slo_status s ORDER BY s.service, s.name"},
};

/* The SQL of one console query (a transaction of nagare_worker_sql()) */
static bool
console_sql(void *arg)
{
	NagareWorkerRequest *req = arg;
	Jsonb *payload =
		DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(req->payload)));
	char *name = nagare_worker_json_string(payload, "q");
	char *as_role = nagare_worker_json_string(payload, "as");
	const ConsoleQuery *q = NULL;
	Datum args[CONSOLE_MAX_PARAMS];
	Oid types[CONSOLE_MAX_PARAMS];
	int nargs = 0;
	JsonbValue *a;
	char *sql;
	bool isnull;
	Datum d;
	text *t;

	for (int i = 0; name != NULL && i < lengthof(queries); i++)
		if (strcmp(queries[i].name, name) == 0)
			q = &queries[i];
	if (q == NULL)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("the console has no query \"%s\"", name ? name : "")));
	a = getKeyJsonValueFromContainer(&payload->root, "a", 1, NULL);
	for (; nargs < CONSOLE_MAX_PARAMS && q->params[nargs] != NULL; nargs++)
	{
		JsonbValue *v = NULL;

		if (a != NULL && a->type == jbvBinary)
			v = getKeyJsonValueFromContainer(a->val.binary.data, q->params[nargs],
											 strlen(q->params[nargs]), NULL);
		if (v == NULL || v->type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the console's query \"%s\" wants the parameter \"%s\"",
							q->name, q->params[nargs]),
					 errhint("Give it in the query string: ?%s=...", q->params[nargs])));
		args[nargs] =
			PointerGetDatum(cstring_to_text_with_len(v->val.string.val, v->val.string.len));
		types[nargs] = TEXTOID;
	}

	/* read only, bounded in time, as the role (set_config('role') is SET ROLE) */
	nagare_worker_set_local("transaction_read_only", "on");
	nagare_worker_set_local("statement_timeout", "5s");
	if (as_role != NULL)
		nagare_worker_set_local("role", as_role);

	sql = psprintf("SELECT json_build_object('rows', coalesce(json_agg(x.r ORDER BY x.n) "
				   "FILTER (WHERE x.n <= %d), '[]'), 'truncated', count(*) > %d)::text "
				   "FROM (SELECT q.r, row_number() OVER () AS n "
				   "FROM (%s LIMIT %d) q(r)) x",
				   CONSOLE_MAX_ROWS, CONSOLE_MAX_ROWS, q->sql, CONSOLE_MAX_ROWS + 1);
	if (SPI_execute_with_args(sql, nargs, types, args, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "the console's query \"%s\" failed", q->name);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	t = DatumGetTextPP(d);
	if (VARSIZE_ANY_EXHDR(t) > NAGARE_CONSOLE_RESULT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the answer of the console's query \"%s\" has %zu bytes, more than %d",
						q->name, (size_t) VARSIZE_ANY_EXHDR(t), NAGARE_CONSOLE_RESULT_MAX),
				 errhint("Ask for less (fewer records in the message browser).")));
	/* the result outlives SPI: in the pass's memory, which req->result is */
	appendBinaryStringInfo(&req->result, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	return false; /* read only: nothing to commit */
}

/*
 * Run one console query and fill in its answer (the JSON, or the error's
 * SQLSTATE and message).  The caller answers it.
 */
void
nagare_worker_run_console(NagareWorkerRequest *req)
{
	ErrorData *edata = nagare_worker_sql(console_sql, req);

	if (edata != NULL)
	{
		resetStringInfo(&req->result);
		nagare_worker_request_failed(req, edata);
		FreeErrorData(edata);
	}
	else
		strlcpy(req->sqlstate, "00000", sizeof(req->sqlstate));
}
