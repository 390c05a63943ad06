/*-------------------------------------------------------------------------
 *
 * acl_api.c
 *	  Authorization in the broker: the checks the handlers make, and the
 *	  ACL APIs DescribeAcls (29), CreateAcls (30) and DeleteAcls (31).
 *
 * Every handler asks nagare_authorized() (or a wrapper) what Kafka's
 * KafkaApis asks its authorizer, with the principal of the connection
 * (nagare_conn_identity(): User:ANONYMOUS until SASL or a client
 * certificate says otherwise) and the client's IP address; the decision is
 * acl/acl.c's, from the shared copy of nagare.acl, cached until it changes.
 *
 * Topic ids.  A request that names a topic by id (Metadata v12+, Fetch
 * v13+, DeleteTopics v6) resolves it with nagare_described_topic_by_id():
 * an id whose topic the client may not DESCRIBE is answered exactly as an
 * id no topic has (UNKNOWN_TOPIC_ID), so trying ids reveals nothing.
 * Kafka, which does not count ids as secret, answers such an id with
 * TOPIC_AUTHORIZATION_FAILED; nagare keeps DESCRIBE as the wall.
 *
 * DescribeAcls reads that copy directly.  CreateAcls and DeleteAcls change
 * nagare.acl through the nagare worker (channel kinds NAGARE_ACL_CREATE and
 * NAGARE_ACL_DELETE), which runs nagare.create_acl() and
 * nagare.delete_acls() as psql users do, and answers once the shared copy
 * shows the change.  All three need what Kafka's AclApis needs: DESCRIBE,
 * respectively ALTER, on the CLUSTER (CLUSTER_AUTHORIZATION_FAILED
 * otherwise), or, as nagare extends it for tenants' admins, ALTER on each
 * ACL's own resource (DescribeAcls then lists only those;
 * DeleteAcls deletes only those, the worker acting as the principal's
 * role); invalid bindings and filters are INVALID_REQUEST with Kafka's
 * messages.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "acl/acl.h"
#include "broker/acl_api.h"
#include "broker/errmap.h"
#include "broker/kafka_api.h"
#include "broker/topicmap.h"
#include "kafka/byteorder.h"
#include "nagare.h"
#include "queue/channel.h"

/*---- checks ----*/

/* The client's IP address: its peer ("host:port") without the port */
static const char *
conn_host(NagareConn *conn, char *buf, size_t size)
{
	const char *peer = nagare_conn_peer(conn);
	const char *colon = strrchr(peer, ':');
	size_t		len;

	if (colon == NULL || strncmp(peer, "connection ", 11) == 0)
		return "";
	len = Min((size_t) (colon - peer), size - 1);
	memcpy(buf, peer, len);
	buf[len] = '\0';
	return buf;
}

static bool
authorized(NagareConn *conn, KafkaResourceType rtype, const char *name, size_t len,
		   KafkaAclOperation op, bool count)
{
	NagareIdentity *id = nagare_conn_identity(conn);
	char		host[NAGARE_ACL_HOST_MAX];
	const char *h = conn_host(conn, host, sizeof(host));

	if (name == NULL)
		len = 0;
	/* a PostgreSQL superuser is a super user here too, as on the SQL door */
	if (id->superuser ||
		nagare_acl_authorized(id->principal, h, rtype, name ? name : "", len, op))
		return true;
	if (count)
		nagare_acl_note_denied(id->principal, h, rtype, name ? name : "", len, op);
	return false;
}

bool
nagare_authorized(NagareConn *conn, KafkaResourceType rtype, const char *name, size_t len,
				  KafkaAclOperation op)
{
	return authorized(conn, rtype, name, len, op, true);
}

bool
nagare_authorized_quiet(NagareConn *conn, KafkaResourceType rtype, const char *name,
						size_t len, KafkaAclOperation op)
{
	return authorized(conn, rtype, name, len, op, false);
}

/*
 * The topic whose id is *id if the client of conn may DESCRIBE it; NULL
 * when no topic has the id and when the client may not know of it (both
 * are UNKNOWN_TOPIC_ID).  A denial is counted like any other.
 */
const BrokerTopic *
nagare_described_topic_by_id(NagareConn *conn, const KafkaUuid *id)
{
	const BrokerTopic *t = nagare_broker_topic_by_uuid(id);

	if (t == NULL || !nagare_authorized(conn, KAFKA_RESOURCE_TOPIC, t->name,
										strlen(t->name), KAFKA_ACL_DESCRIBE))
		return NULL;
	return t;
}

int32
nagare_authorized_operations(NagareConn *conn, KafkaResourceType rtype, const char *name,
							 size_t len)
{
	/* Kafka's AclEntry.supportedOperations() (apache/kafka 4.x) */
	static const KafkaAclOperation topic_ops[] = {KAFKA_ACL_READ,
												  KAFKA_ACL_WRITE,
												  KAFKA_ACL_CREATE,
												  KAFKA_ACL_DESCRIBE,
												  KAFKA_ACL_DELETE,
												  KAFKA_ACL_ALTER,
												  KAFKA_ACL_DESCRIBE_CONFIGS,
												  KAFKA_ACL_ALTER_CONFIGS};
	static const KafkaAclOperation group_ops[] = {KAFKA_ACL_READ, KAFKA_ACL_DESCRIBE,
												  KAFKA_ACL_DELETE,
												  KAFKA_ACL_DESCRIBE_CONFIGS,
												  KAFKA_ACL_ALTER_CONFIGS};
	static const KafkaAclOperation cluster_ops[] = {KAFKA_ACL_CREATE,
													KAFKA_ACL_CLUSTER_ACTION,
													KAFKA_ACL_DESCRIBE_CONFIGS,
													KAFKA_ACL_ALTER_CONFIGS,
													KAFKA_ACL_IDEMPOTENT_WRITE,
													KAFKA_ACL_ALTER,
													KAFKA_ACL_DESCRIBE};
	const KafkaAclOperation *ops;
	int nops;
	int32 bits = 0;

	switch (rtype)
	{
		case KAFKA_RESOURCE_TOPIC:
			ops = topic_ops;
			nops = lengthof(topic_ops);
			break;
		case KAFKA_RESOURCE_GROUP:
			ops = group_ops;
			nops = lengthof(group_ops);
			break;
		case KAFKA_RESOURCE_CLUSTER:
			ops = cluster_ops;
			nops = lengthof(cluster_ops);
			name = NAGARE_ACL_CLUSTER_NAME;
			len = strlen(NAGARE_ACL_CLUSTER_NAME);
			break;
		default:
			return 0;
	}
	/* Kafka answers 0 to a client that may not even DESCRIBE the resource */
	if (!authorized(conn, rtype, name, len, KAFKA_ACL_DESCRIBE, false))
		return 0;
	for (int i = 0; i < nops; i++)
		if (authorized(conn, rtype, name, len, ops[i], false))
			bits |= (int32) (1U << ops[i]);
	return bits;
}

bool
nagare_authorized_cluster(NagareConn *conn, KafkaAclOperation op)
{
	return authorized(conn, KAFKA_RESOURCE_CLUSTER, NAGARE_ACL_CLUSTER_NAME,
					  strlen(NAGARE_ACL_CLUSTER_NAME), op, true);
}

/*
 * Whether op is allowed on some topic (Kafka's authorizeByResourceType, for
 * InitProducerId without a transactional id): an ALLOW for the principal
 * and host that no DENY covers, or no topic ACL at all with
 * nagare.allow_everyone_if_no_acl_found.
 */
bool
nagare_authorized_any_topic(NagareConn *conn, KafkaAclOperation op)
{
	NagareIdentity *id = nagare_conn_identity(conn);
	char		host[NAGARE_ACL_HOST_MAX];
	const char *h = conn_host(conn, host, sizeof(host));
	bool		any_topic_acl = false;
	bool		allowed = false;
	int			i;

	if (id->superuser || nagare_acl_is_super_user(id->principal))
		return true;
	LWLockAcquire(nagare_acls->lock, LW_SHARED);
	for (i = 0; i < nagare_acls->count && !allowed && !nagare_acls->overflow; i++)
	{
		const NagareAclEntry *e = &nagare_acls->entries[i];

		if (e->resource_type != KAFKA_RESOURCE_TOPIC)
			continue;
		any_topic_acl = true;
		if (e->permission != NAGARE_ACL_PERMISSION_ALLOW ||
			(e->operation != KAFKA_ACL_ALL && e->operation != (uint8) op) ||
			(strcmp(e->principal, id->principal) != 0 && strcmp(e->principal, "User:*") != 0) ||
			(strcmp(e->host, "*") != 0 && strcmp(e->host, h) != 0))
			continue;
		allowed = true;
	}
	if (nagare_acls->overflow)
		any_topic_acl = true;
	LWLockRelease(nagare_acls->lock);

	/*
	 * An ALLOW counts if its own pattern, taken as a topic name, is not
	 * denied (a DENY of it or of a wider pattern).
	 */
	if (allowed)
	{
		NagareAclEntry *allows;
		int			nallows = 0;

		LWLockAcquire(nagare_acls->lock, LW_SHARED);
		allows = palloc(sizeof(NagareAclEntry) * Max(nagare_acls->count, 1));
		for (i = 0; i < nagare_acls->count; i++)
		{
			const NagareAclEntry *e = &nagare_acls->entries[i];

			if (e->resource_type == KAFKA_RESOURCE_TOPIC &&
				e->permission == NAGARE_ACL_PERMISSION_ALLOW &&
				(e->operation == KAFKA_ACL_ALL || e->operation == (uint8) op) &&
				(strcmp(e->principal, id->principal) == 0 || strcmp(e->principal, "User:*") == 0) &&
				(strcmp(e->host, "*") == 0 || strcmp(e->host, h) == 0))
				allows[nallows++] = *e;
		}
		LWLockRelease(nagare_acls->lock);
		allowed = false;
		for (i = 0; i < nallows && !allowed; i++)
			allowed = nagare_authorized_quiet(conn, KAFKA_RESOURCE_TOPIC, allows[i].name,
											  strlen(allows[i].name), op);
		pfree(allows);
		return allowed;
	}
	return !any_topic_acl && nagare_acl_allow_everyone();
}

/*---- the ACL APIs ----*/

#define ACL_REQUEST_TIMEOUT_MS	30000

/* A code from the wire, or UNKNOWN (0) when out of Kafka's range */
static int
code_in(int8 code, int max)
{
	return code >= 0 && code <= max ? code : 0;
}

/* A filter from the request's fields; strings copied (NUL-terminated) */
static void
filter_from(NagareAclFilter *f, int8 rtype, KafkaStr name, int8 pattern, KafkaStr principal,
			KafkaStr host, int8 op, int8 perm)
{
	MemoryContext cxt = CurrentMemoryContext;

	f->resource_type = code_in(rtype, KAFKA_RESOURCE_USER);
	f->name = nagare_kstr_dup(cxt, name);
	f->pattern_type = code_in(pattern, NAGARE_ACL_PATTERN_PREFIXED);
	f->principal = nagare_kstr_dup(cxt, principal);
	f->host = nagare_kstr_dup(cxt, host);
	f->operation = code_in(op, KAFKA_ACL_DESCRIBE_TOKENS);
	f->permission = code_in(perm, NAGARE_ACL_PERMISSION_ALLOW);
}

/*
 * DescribeAcls: the ACLs of the shared copy that match the filter, grouped
 * by resource pattern.
 */
void
nagare_handle_describe_acls(NagareConn *conn, const KafkaRequestHeader *hdr,
							KafkaRequestBody *body)
{
	KafkaDescribeAclsRequest *req = &body->DescribeAcls;
	KafkaDescribeAclsResponse resp;
	NagareAclFilter f;
	const char *invalid;
	NagareAclEntry *matches = NULL;
	int			nmatches = 0;
	bool		all;
	int			i;

	memset(&resp, 0, sizeof(resp));
	resp.ErrorMessage = kafka_str(NULL);
	filter_from(&f, req->ResourceTypeFilter, req->ResourceNameFilter, req->PatternTypeFilter,
				req->PrincipalFilter, req->HostFilter, req->Operation, req->PermissionType);

	all = nagare_authorized_quiet(conn, KAFKA_RESOURCE_CLUSTER, NAGARE_ACL_CLUSTER_NAME,
								  strlen(NAGARE_ACL_CLUSTER_NAME), KAFKA_ACL_DESCRIBE);
	if ((invalid = nagare_acl_filter_invalid(&f)) != NULL)
	{
		resp.ErrorCode = KAFKA_ERROR_INVALID_REQUEST;
		resp.ErrorMessage = kafka_str(invalid);
		nagare_kafka_respond(conn, hdr, &resp);
		return;
	}

	LWLockAcquire(nagare_acls->lock, LW_SHARED);
	matches = palloc_extended(sizeof(NagareAclEntry) * Max(nagare_acls->count, 1),
							  MCXT_ALLOC_NO_OOM | MCXT_ALLOC_HUGE);
	for (i = 0; matches != NULL && i < nagare_acls->count; i++)
		if (nagare_acl_filter_matches(&f, &nagare_acls->entries[i]))
			matches[nmatches++] = nagare_acls->entries[i];
	LWLockRelease(nagare_acls->lock);
	if (matches == NULL)
	{
		resp.ErrorCode = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
		resp.ErrorMessage = kafka_str("out of memory");
		nagare_kafka_respond(conn, hdr, &resp);
		return;
	}
	/* without DESCRIBE on the CLUSTER: the ACLs of resources it may ALTER */
	if (!all)
	{
		int			kept = 0;

		for (i = 0; i < nmatches; i++)
			if (nagare_authorized_quiet(conn, matches[i].resource_type, matches[i].name,
										strlen(matches[i].name), KAFKA_ACL_ALTER))
				matches[kept++] = matches[i];
		if (kept == 0 && nmatches > 0)
		{
			nagare_authorized_cluster(conn, KAFKA_ACL_DESCRIBE);	/* counts the denial */
			resp.ErrorCode = KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED;
			resp.ErrorMessage = kafka_str("DESCRIBE on the CLUSTER is needed to describe ACLs");
			nagare_kafka_respond(conn, hdr, &resp);
			return;
		}
		nmatches = kept;
	}

	/* group by (type, name, pattern): one resource per distinct pattern */
	resp.Resources = palloc0(sizeof(KafkaDescribeAclsResource) * Max(nmatches, 1));
	for (i = 0; i < nmatches; i++)
	{
		const NagareAclEntry *e = &matches[i];
		KafkaDescribeAclsResource *r = NULL;
		KafkaAclDescription *d;
		int			j;

		for (j = 0; j < resp.ResourcesCount && r == NULL; j++)
		{
			KafkaDescribeAclsResource *c = &resp.Resources[j];

			if (c->ResourceType == e->resource_type && c->PatternType == e->pattern_type &&
				strcmp(c->ResourceName.ptr, e->name) == 0)
				r = c;
		}
		if (r == NULL)
		{
			r = &resp.Resources[resp.ResourcesCount++];
			r->ResourceType = e->resource_type;
			r->ResourceName = kafka_str(e->name);
			r->PatternType = e->pattern_type;
			r->Acls = palloc0(sizeof(KafkaAclDescription) * nmatches);
		}
		d = &r->Acls[r->AclsCount++];
		d->Principal = kafka_str(e->principal);
		d->Host = kafka_str(e->host);
		d->Operation = e->operation;
		d->PermissionType = e->permission;
	}
	nagare_kafka_respond(conn, hdr, &resp);
}

/* A CreateAcls or DeleteAcls request waiting for the worker */
typedef struct AclChange
{
	NagareConn *conn;
	NagareResponse *resp;
	NagareRequestId id;
	int			n;				/* creations or filters */
	int16	   *errors;			/* per item, set before the worker's turn */
	char	  **messages;
	int		   *sent;			/* index in the worker's payload, or -1 */
	int			nsent;
} AclChange;

static AclChange *
change_new(NagareConn *conn, const KafkaRequestHeader *hdr, int n)
{
	MemoryContext cxt = nagare_conn_context(conn);
	AclChange  *ch = MemoryContextAllocZero(cxt, sizeof(AclChange));

	ch->conn = conn;
	ch->id = nagare_request_id(hdr);
	ch->n = n;
	ch->errors = MemoryContextAllocZero(cxt, sizeof(int16) * Max(n, 1));
	ch->messages = MemoryContextAllocZero(cxt, sizeof(char *) * Max(n, 1));
	ch->sent = MemoryContextAllocZero(cxt, sizeof(int) * Max(n, 1));
	ch->resp = nagare_conn_new_response(conn);
	return ch;
}

static void
change_error(AclChange *ch, int i, int16 error, const char *message)
{
	ch->errors[i] = error;
	ch->messages[i] = message ? MemoryContextStrdup(nagare_conn_context(ch->conn), message) : NULL;
}

/* A Kafka error for an ACL change's SQLSTATE */
static int16
acl_error_for_sqlstate(const char *sqlstate)
{
	if (sqlstate == NULL)
		return KAFKA_ERROR_REQUEST_TIMED_OUT;
	if (nagare_sqlstate_is(sqlstate, ERRCODE_INVALID_PARAMETER_VALUE) ||
		nagare_sqlstate_is(sqlstate, ERRCODE_CHECK_VIOLATION) ||
		nagare_sqlstate_is(sqlstate, ERRCODE_NAME_TOO_LONG))
		return KAFKA_ERROR_INVALID_REQUEST;
	if (nagare_sqlstate_is(sqlstate, ERRCODE_INSUFFICIENT_PRIVILEGE))
		return KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED;
	return nagare_kafka_error_for_sqlstate(sqlstate, KAFKA_ERROR_UNKNOWN_SERVER_ERROR);
}

/* Reading the worker's binary result (shmem.h), bounds-checked */
typedef struct AnswerReader
{
	const char *p;
	const char *end;
	bool		bad;
} AnswerReader;

static int32
answer_int32(AnswerReader *r)
{
	int32		v;

	if (r->end - r->p < 4)
	{
		r->bad = true;
		return 0;
	}
	v = (int32) kafka_load_be32((const uint8 *) r->p);
	r->p += 4;
	return v;
}

/* A string of the answer, copied into cxt */
static char *
answer_str(AnswerReader *r, MemoryContext cxt)
{
	int			len;
	char	   *s;

	if (r->end - r->p < 2)
	{
		r->bad = true;
		return MemoryContextStrdup(cxt, "");
	}
	len = (int) kafka_load_be16((const uint8 *) r->p);
	r->p += 2;
	if (r->end - r->p < len)
	{
		r->bad = true;
		return MemoryContextStrdup(cxt, "");
	}
	s = MemoryContextAlloc(cxt, len + 1);
	memcpy(s, r->p, len);
	s[len] = '\0';
	r->p += len;
	return s;
}

/*---- CreateAcls ----*/

static void
create_acls_respond(AclChange *ch)
{
	KafkaCreateAclsResponse resp;
	int			i;

	memset(&resp, 0, sizeof(resp));
	resp.ResultsCount = ch->n;
	resp.Results = MemoryContextAllocZero(nagare_conn_context(ch->conn),
										  sizeof(KafkaAclCreationResult) * Max(ch->n, 1));
	for (i = 0; i < ch->n; i++)
	{
		resp.Results[i].ErrorCode = ch->errors[i];
		resp.Results[i].ErrorMessage = kafka_str(ch->messages[i]);
	}
	nagare_kafka_response_ready(ch->resp, ch->id, &resp, NULL);
	pfree(resp.Results);
}

/* The whole request failed (or timed out): every item sent fails with it */
static void
fail_sent(AclChange *ch, const char *sqlstate, const char *message)
{
	int i;

	for (i = 0; i < ch->n; i++)
		if (ch->sent[i] >= 0)
			change_error(ch, i, acl_error_for_sqlstate(sqlstate),
						 sqlstate ? message : "the nagare worker did not answer in time");
}

/* The worker's answer: int32 count, then per creation sqlstate and message */
static void
create_acls_answered(void *arg, const char *sqlstate, const char *data, uint32 len)
{
	AclChange  *ch = arg;
	MemoryContext cxt = nagare_conn_context(ch->conn);
	int			i;

	if (!nagare_channel_succeeded(sqlstate))
		fail_sent(ch, sqlstate, data);
	else
	{
		AnswerReader r = {data, data + len, false};
		int32		count = answer_int32(&r);

		for (i = 0; i < ch->n; i++)
		{
			char	   *state;
			char	   *message;

			if (ch->sent[i] < 0)
				continue;
			if (r.bad || ch->sent[i] >= count)
			{
				change_error(ch, i, KAFKA_ERROR_UNKNOWN_SERVER_ERROR, "malformed answer of the nagare worker");
				continue;
			}
			state = answer_str(&r, cxt);
			message = answer_str(&r, cxt);
			if (!nagare_channel_succeeded(state))
				change_error(ch, i, acl_error_for_sqlstate(state), message);
			pfree(state);
			pfree(message);
		}
	}
	create_acls_respond(ch);
}

/* Append "key": string (or null) to a JSON object under construction */
static void
json_member(StringInfo buf, const char *key, const char *value, bool first)
{
	if (!first)
		appendStringInfoChar(buf, ',');
	escape_json(buf, key);
	appendStringInfoChar(buf, ':');
	if (value == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, value);
}

/* The audit fields of a change made for a Kafka client (shmem.h) */
static void
json_client(StringInfo buf, NagareConn *conn, const KafkaRequestHeader *hdr)
{
	char		host[NAGARE_ACL_HOST_MAX];
	char	   *client_id = nagare_kstr_dup(CurrentMemoryContext, hdr->ClientId);

	json_member(buf, "principal", nagare_conn_identity(conn)->principal, false);
	json_member(buf, "host", conn_host(conn, host, sizeof(host)), false);
	json_member(buf, "client_id", client_id, false);
}

/*
 * Append ,"k": "<JSON text of the client>" to a payload object: who asked
 * for a change, for the audit trail (nagare.audit_client, sql/audit.c).
 */
void
nagare_audit_client_member(StringInfo buf, NagareConn *conn, const KafkaRequestHeader *hdr)
{
	StringInfoData client;

	initStringInfo(&client);
	appendStringInfoChar(&client, '{');
	json_client(&client, conn, hdr);
	appendStringInfoChar(&client, '}');
	/* json_client() starts with a comma */
	client.data[1] = ' ';
	appendStringInfoString(buf, ",\"k\":");
	escape_json(buf, client.data);
	pfree(client.data);
}

void
nagare_handle_create_acls(NagareConn *conn, const KafkaRequestHeader *hdr,
						  KafkaRequestBody *body)
{
	KafkaCreateAclsRequest *req = &body->CreateAcls;
	AclChange  *ch = change_new(conn, hdr, req->CreationsCount);
	bool		may = nagare_authorized_quiet(conn, KAFKA_RESOURCE_CLUSTER, NAGARE_ACL_CLUSTER_NAME,
											  strlen(NAGARE_ACL_CLUSTER_NAME), KAFKA_ACL_ALTER);
	StringInfoData json;
	int			i;

	initStringInfo(&json);
	appendStringInfoString(&json, "{\"acls\":[");
	for (i = 0; i < req->CreationsCount; i++)
	{
		KafkaAclCreation *c = &req->Creations[i];
		NagareAclEntry e;
		const char *invalid = NULL;

		ch->sent[i] = -1;
		memset(&e, 0, sizeof(e));
		e.resource_type = code_in(c->ResourceType, KAFKA_RESOURCE_USER);
		e.pattern_type = code_in(c->ResourcePatternType, NAGARE_ACL_PATTERN_PREFIXED);
		e.operation = code_in(c->Operation, KAFKA_ACL_DESCRIBE_TOKENS);
		e.permission = code_in(c->PermissionType, NAGARE_ACL_PERMISSION_ALLOW);
		if (c->ResourceName.len > NAGARE_ACL_NAME_MAX ||
			c->Principal.len >= NAGARE_ACL_PRINCIPAL_MAX || c->Host.len >= NAGARE_ACL_HOST_MAX)
			invalid = "Resource name, principal or host too long";
		else
		{
			memcpy(e.name, c->ResourceName.ptr, Max(c->ResourceName.len, 0));
			memcpy(e.principal, c->Principal.ptr, Max(c->Principal.len, 0));
			memcpy(e.host, c->Host.ptr, Max(c->Host.len, 0));
			if (memchr(e.name, '\0', Max(c->ResourceName.len, 0)) != NULL ||
				strlen(e.principal) != (size_t) Max(c->Principal.len, 0) ||
				strlen(e.host) != (size_t) Max(c->Host.len, 0))
				invalid = "Resource name, principal and host must not contain NUL";
			else
				invalid = nagare_acl_binding_invalid(&e);
		}
		if (invalid != NULL)
		{
			change_error(ch, i, KAFKA_ERROR_INVALID_REQUEST, invalid);
			continue;
		}
		/* ALTER on the CLUSTER, or on the ACL's own resource (delegation) */
		if (!may && !nagare_authorized(conn, e.resource_type, e.name, strlen(e.name),
									   KAFKA_ACL_ALTER))
		{
			change_error(ch, i, KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED,
						 "ALTER on the CLUSTER or on the ACL's resource is needed to create it");
			continue;
		}
		ch->sent[i] = ch->nsent++;
		appendStringInfoString(&json, ch->nsent > 1 ? ",{" : "{");
		json_member(&json, "rt", nagare_acl_resource_type_name(e.resource_type), true);
		json_member(&json, "n", e.name, false);
		json_member(&json, "pt", nagare_acl_pattern_name(e.pattern_type), false);
		json_member(&json, "p", e.principal, false);
		json_member(&json, "h", e.host, false);
		json_member(&json, "o", nagare_acl_operation_name(e.operation), false);
		json_member(&json, "pm", nagare_acl_permission_name(e.permission), false);
		appendStringInfoChar(&json, '}');
	}
	appendStringInfoChar(&json, ']');
	json_client(&json, conn, hdr);
	appendStringInfoChar(&json, '}');

	if (ch->nsent == 0)
		create_acls_respond(ch);
	else if (!nagare_channel_submit(NAGARE_ACL_CREATE, json.data, json.len,
									TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
																ACL_REQUEST_TIMEOUT_MS),
									create_acls_answered, ch))
	{
		for (i = 0; i < ch->n; i++)
			if (ch->sent[i] >= 0)
				change_error(ch, i, KAFKA_ERROR_REQUEST_TIMED_OUT,
							 "the channel to the nagare worker is full");
		create_acls_respond(ch);
	}
	pfree(json.data);
}

/*---- DeleteAcls ----*/

/* What DeleteAcls answers per filter */
typedef struct DeletedAcls
{
	int			count;
	KafkaDeleteAclsMatchingAcl *acls;
} DeletedAcls;

static void
delete_acls_respond(AclChange *ch, DeletedAcls *deleted)
{
	KafkaDeleteAclsResponse resp;
	int			i;

	memset(&resp, 0, sizeof(resp));
	resp.FilterResultsCount = ch->n;
	resp.FilterResults = MemoryContextAllocZero(nagare_conn_context(ch->conn),
												sizeof(KafkaDeleteAclsFilterResult) * Max(ch->n, 1));
	for (i = 0; i < ch->n; i++)
	{
		KafkaDeleteAclsFilterResult *fr = &resp.FilterResults[i];

		fr->ErrorCode = ch->errors[i];
		fr->ErrorMessage = kafka_str(ch->messages[i]);
		if (deleted != NULL && ch->errors[i] == KAFKA_ERROR_NONE)
		{
			fr->MatchingAclsCount = deleted[i].count;
			fr->MatchingAcls = deleted[i].acls;
		}
	}
	nagare_kafka_response_ready(ch->resp, ch->id, &resp, NULL);
	pfree(resp.FilterResults);
}

/*
 * The worker's answer: int32 count, then per filter sqlstate, message,
 * int32 number of ACLs deleted and for each its seven columns as strings.
 */
static void
delete_acls_answered(void *arg, const char *sqlstate, const char *data, uint32 len)
{
	AclChange  *ch = arg;
	MemoryContext cxt = nagare_conn_context(ch->conn);
	DeletedAcls *deleted = MemoryContextAllocZero(cxt, sizeof(DeletedAcls) * Max(ch->n, 1));
	int			i;

	if (!nagare_channel_succeeded(sqlstate))
		fail_sent(ch, sqlstate, data);
	else
	{
		AnswerReader r = {data, data + len, false};
		int32		count = answer_int32(&r);

		for (i = 0; i < ch->n; i++)
		{
			char	   *state;
			char	   *message;
			int32		n;
			int			j;

			if (ch->sent[i] < 0)
				continue;
			if (r.bad || ch->sent[i] >= count)
			{
				change_error(ch, i, KAFKA_ERROR_UNKNOWN_SERVER_ERROR, "malformed answer of the nagare worker");
				continue;
			}
			state = answer_str(&r, cxt);
			message = answer_str(&r, cxt);
			n = answer_int32(&r);
			if (!nagare_channel_succeeded(state))
				change_error(ch, i, acl_error_for_sqlstate(state), message);
			if (n < 0 || n > nagare_max_acls)
				r.bad = true;
			else
			{
				deleted[i].count = n;
				deleted[i].acls = MemoryContextAllocZero(cxt, sizeof(KafkaDeleteAclsMatchingAcl) * Max(n, 1));
			}
			for (j = 0; j < n && !r.bad; j++)
			{
				KafkaDeleteAclsMatchingAcl *m = &deleted[i].acls[j];

				m->ErrorMessage = kafka_str(NULL);
				m->ResourceType = nagare_acl_resource_type_code(answer_str(&r, cxt));
				m->ResourceName = kafka_str(answer_str(&r, cxt));
				m->PatternType = nagare_acl_pattern_code(answer_str(&r, cxt));
				m->Principal = kafka_str(answer_str(&r, cxt));
				m->Host = kafka_str(answer_str(&r, cxt));
				m->Operation = nagare_acl_operation_code(answer_str(&r, cxt));
				m->PermissionType = nagare_acl_permission_code(answer_str(&r, cxt));
			}
			if (r.bad)
			{
				deleted[i].count = 0;
				change_error(ch, i, KAFKA_ERROR_UNKNOWN_SERVER_ERROR, "malformed answer of the nagare worker");
			}
		}
	}
	delete_acls_respond(ch, deleted);
}

void
nagare_handle_delete_acls(NagareConn *conn, const KafkaRequestHeader *hdr,
						  KafkaRequestBody *body)
{
	KafkaDeleteAclsRequest *req = &body->DeleteAcls;
	AclChange  *ch = change_new(conn, hdr, req->FiltersCount);
	bool		may = nagare_authorized_quiet(conn, KAFKA_RESOURCE_CLUSTER, NAGARE_ACL_CLUSTER_NAME,
											  strlen(NAGARE_ACL_CLUSTER_NAME), KAFKA_ACL_ALTER);
	const char *principal = nagare_conn_identity(conn)->principal;
	const char *as_role = NULL;
	StringInfoData json;
	int			i;

	/*
	 * Without ALTER on the CLUSTER, the filters delete only the ACLs of
	 * resources the principal may ALTER: the worker deletes as its role,
	 * under nagare.acl's row-level security (an authenticated principal
	 * User:<role> is a PostgreSQL role).
	 */
	if (!may && nagare_conn_identity(conn)->role != InvalidOid &&
		strncmp(principal, "User:", 5) == 0)
		as_role = principal + 5;
	else if (!may)
		nagare_authorized_cluster(conn, KAFKA_ACL_ALTER);	/* counts the denial */

	initStringInfo(&json);
	appendStringInfoString(&json, "{\"filters\":[");
	for (i = 0; i < req->FiltersCount; i++)
	{
		KafkaDeleteAclsFilter *kf = &req->Filters[i];
		NagareAclFilter f;
		const char *invalid;

		ch->sent[i] = -1;
		if (!may && as_role == NULL)
		{
			change_error(ch, i, KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED,
						 "ALTER on the CLUSTER is needed to delete ACLs");
			continue;
		}
		filter_from(&f, kf->ResourceTypeFilter, kf->ResourceNameFilter, kf->PatternTypeFilter,
					kf->PrincipalFilter, kf->HostFilter, kf->Operation, kf->PermissionType);
		if ((invalid = nagare_acl_filter_invalid(&f)) != NULL)
		{
			change_error(ch, i, KAFKA_ERROR_INVALID_REQUEST, invalid);
			continue;
		}
		ch->sent[i] = ch->nsent++;
		appendStringInfoString(&json, ch->nsent > 1 ? ",{" : "{");
		json_member(&json, "rt", nagare_acl_resource_type_name(f.resource_type), true);
		json_member(&json, "n", f.name, false);
		json_member(&json, "pt", nagare_acl_pattern_name(f.pattern_type), false);
		json_member(&json, "p", f.principal, false);
		json_member(&json, "h", f.host, false);
		json_member(&json, "o", nagare_acl_operation_name(f.operation), false);
		json_member(&json, "pm", nagare_acl_permission_name(f.permission), false);
		appendStringInfoChar(&json, '}');
	}
	appendStringInfoChar(&json, ']');
	json_client(&json, conn, hdr);
	if (as_role != NULL)
		json_member(&json, "as", as_role, false);
	appendStringInfoChar(&json, '}');

	if (ch->nsent == 0)
		delete_acls_respond(ch, NULL);
	else if (!nagare_channel_submit(NAGARE_ACL_DELETE, json.data, json.len,
									TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
																ACL_REQUEST_TIMEOUT_MS),
									delete_acls_answered, ch))
	{
		for (i = 0; i < ch->n; i++)
			if (ch->sent[i] >= 0)
				change_error(ch, i, KAFKA_ERROR_REQUEST_TIMED_OUT,
							 "the channel to the nagare worker is full");
		delete_acls_respond(ch, NULL);
	}
	pfree(json.data);
}
