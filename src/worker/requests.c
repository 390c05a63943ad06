/*-------------------------------------------------------------------------
 *
 * requests.c
 *	  The nagare worker's end of the channels from the broker and the http
 *	  process: takes their requests, carries them out and answers them.
 *
 * One pass (nagare_worker_run_requests(), then, after the worker's topic
 * sync, nagare_worker_finish_requests()) takes every request waiting in the
 * channels (queue/channel.h), up to a bound, the broker's first, each
 * channel's in the order they were made, and copies them out (a kind its
 * client may not ask for is refused):
 *
 * - consumer group requests go first, as clients wait for them: offsets.c
 *   runs them (the commits in one transaction), and they are answered at
 *   once;
 * - then the SASL logins of Kafka clients (auth.c), answered at once; the
 *   broker keeps only a few in flight, so a storm of logins delays the
 *   group requests of the next pass by little;
 * - then the registry's writes for HTTP clients (registrations.c) and the
 *   console's read-only queries (consolequery.c), each in a transaction of
 *   its own, answered at once;
 * - each topic change runs the SQL function a user would call, in a
 *   transaction of its own, rolled back if the client asked only to
 *   validate it.  Its answer waits for the sync the worker runs next, so
 *   that the shared topic table shows the change when the client hears of
 *   it;
 * - ACL changes likewise (aclsync.c runs them, one transaction per ACL or
 *   filter), answered after the shared ACL table shows them; and quota
 *   changes (quotasync.c, one transaction per entity), answered after the
 *   shared quota table shows them.
 *
 * The requests' space in the channel is freed only when all of them are
 * answered: a worker that exits in between leaves them to the next one.
 * An error's answer is its SQLSTATE and message, with the hint in
 * parentheses; the broker turns them into a Kafka error code and message.
 * Each answer also carries the time spent on its request (a batch's time
 * shared equally by its requests), which the broker charges to the client
 * that asked (request_percentage, KIP-124; broker/throttle.c).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "shmem.h"
#include "worker/offsets.h"
#include "worker/worker.h"

/* Most requests taken in one pass */
#define MAX_REQUESTS_PER_PASS	1024

/* the pass under way: its memory and the topic changes still to answer */
static MemoryContext pass_context = NULL;
static NagareWorkerRequest **topic_changes = NULL;
static uint64 *topic_change_usec = NULL;	/* time spent on each */
static int	ntopic_changes = 0;

static bool topic_change_sql(void *arg);

/* Fill in a failed request's answer from the error */
void
nagare_worker_request_failed(NagareWorkerRequest *req, const ErrorData *edata)
{
	const char *message = edata->message ? edata->message : "";

	strlcpy(req->sqlstate, unpack_sql_state(edata->sqlerrcode), sizeof(req->sqlstate));
	if (edata->hint)
		snprintf(req->message, sizeof(req->message), "%s (%s)", message, edata->hint);
	else
		strlcpy(req->message, message, sizeof(req->message));
}

/*
 * The kinds each channel's client may ask for: the http process only
 * logins, whether a console session's role may still log in, the
 * registry's writes and the console's queries
 */
static bool
client_may_ask(NagareChannelClient client, NagareChannelKind kind)
{
	if (client == NAGARE_CHANNEL_BROKER)
		return kind < NAGARE_REGISTRY_REGISTER;
	return kind == NAGARE_AUTH_PLAIN_VERIFY || kind == NAGARE_AUTH_ROLE_CHECK ||
		   kind == NAGARE_REGISTRY_REGISTER || kind == NAGARE_REGISTRY_DEREGISTER ||
		   kind == NAGARE_REGISTRY_MAY_BEAT || kind == NAGARE_CONSOLE_QUERY;
}

static void
answer(NagareWorkerRequest *req, uint64 usec)
{
	nagare_channel_answer_timed(req->client, req->kind, req->id, req->sqlstate,
								req->message, req->result.data, (uint32) req->result.len,
								usec);
}

/* Microseconds since start */
static uint64
usec_since(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return INSTR_TIME_GET_MICROSEC(now);
}

/*
 * Carry out one topic change asked for by a Kafka client (broker/admin.c)
 * in a transaction of its own and fill in its answer.
 */
static void
run_topic_change(NagareWorkerRequest *req)
{
	ErrorData  *edata;

	pgstat_report_activity(STATE_RUNNING, "nagare worker: topic change for a Kafka client");
	edata = nagare_worker_sql(topic_change_sql, req);
	if (edata == NULL)
		strlcpy(req->sqlstate, "00000", sizeof(req->sqlstate));
	else
	{
		nagare_worker_request_failed(req, edata);
		FreeErrorData(edata);
	}
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Take the waiting requests, carry out and answer the consumer group ones,
 * and carry out the topic and ACL changes.  Returns true if there were
 * such changes: the caller syncs the topic and ACL tables, then calls
 * nagare_worker_finish_requests() (which it calls after every pass).
 */
bool
nagare_worker_run_requests(void)
{
	NagareChannelRequest in;
	NagareWorkerRequest *reqs;
	NagareWorkerRequest **groups;
	NagareWorkerRequest **auths;
	NagareWorkerRequest **registrations;
	int			ngroups = 0;
	int			nauths = 0;
	int nregistrations = 0;
	int			n = 0;
	int			i;
	MemoryContext old;
	instr_time	start;
	uint64		usec;

	if (!nagare_channel_take(&in))
		return false;

	pass_context = AllocSetContextCreate(TopMemoryContext, "nagare worker requests",
										 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(pass_context);
	reqs = palloc0(sizeof(NagareWorkerRequest) * MAX_REQUESTS_PER_PASS);
	groups = palloc(sizeof(NagareWorkerRequest *) * MAX_REQUESTS_PER_PASS);
	auths = palloc(sizeof(NagareWorkerRequest *) * MAX_REQUESTS_PER_PASS);
	registrations = palloc(sizeof(NagareWorkerRequest *) * MAX_REQUESTS_PER_PASS);
	topic_changes = palloc(sizeof(NagareWorkerRequest *) * MAX_REQUESTS_PER_PASS);
	topic_change_usec = palloc0(sizeof(uint64) * MAX_REQUESTS_PER_PASS);
	ntopic_changes = 0;
	do
	{
		NagareWorkerRequest *req = &reqs[n++];

		req->client = in.client;
		req->kind = in.kind;
		req->id = in.id;
		req->len = in.len;
		req->payload = palloc(in.len + 1);
		memcpy(req->payload, in.payload, in.len);
		req->payload[in.len] = '\0';
		initStringInfo(&req->result);
		if (!client_may_ask(req->client, req->kind))
		{
			strlcpy(req->sqlstate, unpack_sql_state(ERRCODE_INTERNAL_ERROR),
					sizeof(req->sqlstate));
			snprintf(req->message, sizeof(req->message),
					 "request kind %d is not for this channel", (int) req->kind);
			answer(req, 0);
			continue;
		}
		switch (req->kind)
		{
			case NAGARE_ADMIN_CREATE_TOPIC:
			case NAGARE_ADMIN_DELETE_TOPIC:
			case NAGARE_ADMIN_CREATE_PARTITIONS:
			case NAGARE_ADMIN_ALTER_CONFIG:
			case NAGARE_ADMIN_REPLACE_CONFIG:
			case NAGARE_ACL_CREATE:
			case NAGARE_ACL_DELETE:
			case NAGARE_QUOTA_ALTER:
				topic_changes[ntopic_changes++] = req;
				break;
			case NAGARE_GROUP_OFFSET_COMMIT:
			case NAGARE_GROUP_OFFSET_FETCH:
			case NAGARE_GROUP_OFFSET_DELETE:
			case NAGARE_GROUP_DELETE:
			case NAGARE_GROUP_LIST:
				groups[ngroups++] = req;
				break;
			case NAGARE_AUTH_SCRAM_LOOKUP:
			case NAGARE_AUTH_PLAIN_VERIFY:
			case NAGARE_AUTH_ROLE_CHECK:
				auths[nauths++] = req;
				break;
			case NAGARE_REGISTRY_REGISTER:
			case NAGARE_REGISTRY_DEREGISTER:
			case NAGARE_REGISTRY_MAY_BEAT:
			case NAGARE_CONSOLE_QUERY:
				registrations[nregistrations++] = req;
				break;
			default:
				strlcpy(req->sqlstate, unpack_sql_state(ERRCODE_INTERNAL_ERROR),
						sizeof(req->sqlstate));
				snprintf(req->message, sizeof(req->message),
						 "unknown request kind %d", (int) req->kind);
				answer(req, 0);
				break;
		}
	} while (n < MAX_REQUESTS_PER_PASS && nagare_channel_take(&in));

	/* consumer groups first: clients wait for them */
	if (ngroups > 0)
	{
		INSTR_TIME_SET_CURRENT(start);
		nagare_worker_run_offsets(groups, ngroups);
		usec = usec_since(start) / ngroups;
		for (i = 0; i < ngroups; i++)
			answer(groups[i], usec);
		nagare_channel_wake_answered();
	}

	/* then logins (auth.c): the broker keeps few of them in flight */
	if (nauths > 0)
	{
		INSTR_TIME_SET_CURRENT(start);
		nagare_worker_run_auth(auths, nauths);
		usec = usec_since(start) / nauths;
		for (i = 0; i < nauths; i++)
			answer(auths[i], usec);
		nagare_channel_wake_answered();
	}

	/* then the registry's writes for HTTP clients (registrations.c) */
	if (nregistrations > 0)
	{
		for (i = 0; i < nregistrations; i++)
		{
			INSTR_TIME_SET_CURRENT(start);
			if (registrations[i]->kind == NAGARE_CONSOLE_QUERY)
				nagare_worker_run_console(registrations[i]);
			else
				nagare_worker_run_registrations(&registrations[i], 1);
			answer(registrations[i], usec_since(start));
		}
		nagare_channel_wake_answered();
	}

	for (i = 0; i < ntopic_changes; i++)
	{
		INSTR_TIME_SET_CURRENT(start);
		if (topic_changes[i]->kind == NAGARE_ACL_CREATE ||
			topic_changes[i]->kind == NAGARE_ACL_DELETE)
			nagare_worker_run_acl_change(topic_changes[i]);
		else if (topic_changes[i]->kind == NAGARE_QUOTA_ALTER)
			nagare_worker_run_quota_change(topic_changes[i]);
		else
			run_topic_change(topic_changes[i]);
		topic_change_usec[i] = usec_since(start);
	}

	MemoryContextSwitchTo(old);
	return ntopic_changes > 0;
}

/*
 * Answer the topic changes of the pass and free the channel's space of all
 * its requests.
 */
void
nagare_worker_finish_requests(void)
{
	int			i;

	for (i = 0; i < ntopic_changes; i++)
		answer(topic_changes[i], topic_change_usec[i]);
	nagare_channel_release();
	ntopic_changes = 0;
	topic_changes = NULL;
	topic_change_usec = NULL;
	if (pass_context != NULL)
	{
		MemoryContextDelete(pass_context);
		pass_context = NULL;
	}
}

/*---- topic changes ----*/

/* The value of key in a JSON object, or NULL */
static JsonbValue *
json_member(Jsonb *obj, const char *key, enum jbvType type)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&obj->root, key, strlen(key), NULL);

	return v != NULL && v->type == type ? v : NULL;
}

/*
 * The SQL of a topic change (payload in shmem.h): the same functions users
 * call.  Returns whether to commit (not when only validating).
 */
static bool
topic_change_sql(void *arg)
{
	NagareWorkerRequest *req = arg;
	Jsonb	   *payload = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(req->payload)));
	JsonbValue *v;
	char	   *name;
	Datum		args[3];
	Oid			types[3] = {TEXTOID, INT4OID, JSONBOID};
	char		nulls[3] = {' ', ' ', ' '};
	const char *sql = NULL;
	int			ret;

	/* who asked, for the audit trail (sql/audit.c) */
	if ((v = json_member(payload, "k", jbvString)) != NULL)
	{
		Datum		client = PointerGetDatum(cstring_to_text_with_len(v->val.string.val,
																	  v->val.string.len));
		Oid			texttype = TEXTOID;

		ret = SPI_execute_with_args("SELECT pg_catalog.set_config('nagare.audit_client', $1, true)",
									1, &texttype, &client, NULL, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not set nagare.audit_client: %s", SPI_result_code_string(ret));
	}
	if ((v = json_member(payload, "t", jbvString)) == NULL)
		elog(ERROR, "malformed topic change request");
	name = pnstrdup(v->val.string.val, v->val.string.len);
	args[0] = CStringGetTextDatum(name);
	v = json_member(payload, "p", jbvNumeric);
	args[1] = v ? DirectFunctionCall1(numeric_int4, NumericGetDatum(v->val.numeric)) :
		Int32GetDatum(0);
	v = json_member(payload, "c", jbvBinary);
	args[2] = v ? JsonbPGetDatum(JsonbValueToJsonb(v)) :
		DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	switch (req->kind)
	{
		case NAGARE_ADMIN_CREATE_TOPIC:
			sql = "SELECT nagare.create_topic($1, $2, $3)";
			break;
		case NAGARE_ADMIN_DELETE_TOPIC:
			sql = "SELECT nagare.delete_topic($1)";
			break;
		case NAGARE_ADMIN_CREATE_PARTITIONS:
			sql = "SELECT nagare.alter_topic($1, $2)";
			break;
		case NAGARE_ADMIN_ALTER_CONFIG:
			sql = "SELECT nagare.alter_topic($1, NULL, $3)";
			break;
		case NAGARE_ADMIN_REPLACE_CONFIG:
			/* every setting back to its default, then the given ones */
			ret = SPI_execute_with_args("SELECT nagare.alter_topic($1, NULL, "
										"(SELECT coalesce(jsonb_object_agg(k, 'null'::jsonb), '{}') "
										" FROM nagare.topic t, jsonb_object_keys(t.config) k "
										" WHERE t.name = $1 AND t.deleted_at IS NULL))",
										1, types, args, nulls, false, 0);
			if (ret != SPI_OK_SELECT)
				elog(ERROR, "could not reset the configuration of topic \"%s\": %s",
					 name, SPI_result_code_string(ret));
			sql = "SELECT nagare.alter_topic($1, NULL, $3)";
			break;
		default:
			elog(ERROR, "unknown topic change %d", (int) req->kind);
	}
	ret = SPI_execute_with_args(sql, 3, types, args, nulls, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not change topic \"%s\": %s", name, SPI_result_code_string(ret));

	v = json_member(payload, "v", jbvBool);
	return !(v != NULL && v->val.boolean);
}
