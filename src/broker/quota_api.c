/*-------------------------------------------------------------------------
 *
 * quota_api.c
 *	  The client quota APIs: DescribeClientQuotas (48) and
 *	  AlterClientQuotas (49), which Kafka's kafka-configs and AdminClients
 *	  use.
 *
 * DescribeClientQuotas reads the shared copy of the quota tables
 * (quota/quota.c) and filters it as Kafka's ClientQuotasImage.describe()
 * does: components by entity type, matching an exact name, the default, or
 * any name, and "strict" leaving out entities with other types.
 * AlterClientQuotas changes nagare.quota through the nagare worker (channel
 * kind NAGARE_QUOTA_ALTER), which runs nagare.set_quota() and
 * nagare.remove_quota() as psql users do, one transaction per entry, rolled
 * back for ValidateOnly, and answers once the shared copy shows the change.
 *
 * Both need what Kafka's KafkaApis needs: DESCRIBE_CONFIGS, respectively
 * ALTER_CONFIGS, on the CLUSTER (CLUSTER_AUTHORIZATION_FAILED otherwise).
 * nagare extends that for tenants: a principal of a tenant describes the
 * quotas of its tenant (tenant=<t>, user=<a principal of t>[,client-id=])
 * without the cluster ACL, and an authenticated principal without it
 * alters as its role, so that a tenant's admin may change its tenant's
 * quotas below the platform's caps (the SQL's rules, 42501 otherwise).
 * Entity type "tenant" (nagare's) is accepted beside user, client-id and ip.
 * Invalid entities, keys and values are INVALID_REQUEST with Kafka's
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
#include "kafka/byteorder.h"
#include "quota/quota.h"
#include "queue/channel.h"

#define QUOTA_REQUEST_TIMEOUT_MS 30000

/* Kafka's entity types, and nagare's tenant, as indexes of the filters */
#define NTYPES                   4
static const char *const entity_types[NTYPES] = {"user", "client-id", "ip", "tenant"};

static int
type_index(KafkaStr t)
{
	int i;

	for (i = 0; i < NTYPES; i++)
		if (t.len == (int32) strlen(entity_types[i]) &&
			memcmp(t.ptr, entity_types[i], t.len) == 0)
			return i;
	return -1;
}

/* The principal's user name ("alice" of "User:alice"), or NULL */
static const char *
principal_user(NagareConn *conn)
{
	const char *principal = nagare_conn_identity(conn)->principal;

	return strncmp(principal, "User:", 5) == 0 ? principal + 5 : NULL;
}

/*---- DescribeClientQuotas ----*/

/* What an entry of the shared copy has of each type: absent, default or name */
typedef struct Components
{
	bool has[NTYPES];
	bool is_default[NTYPES];
	const char *name[NTYPES];
	int count;
} Components;

static bool
components_of(const NagareQuotaEntry *e, Components *c)
{
	memset(c, 0, sizeof(*c));
	switch ((NagareQuotaEntityKind) e->kind)
	{
		case NAGARE_QUOTA_ENTITY_USER_CLIENT:
			c->has[0] = c->has[1] = true;
			c->is_default[0] = e->name_default;
			c->name[0] = e->name;
			c->is_default[1] = e->client_default;
			c->name[1] = e->client_id;
			c->count = 2;
			return true;
		case NAGARE_QUOTA_ENTITY_USER:
		case NAGARE_QUOTA_ENTITY_CLIENT:
		case NAGARE_QUOTA_ENTITY_IP:
		case NAGARE_QUOTA_ENTITY_TENANT:
		{
			int t = e->kind == NAGARE_QUOTA_ENTITY_USER     ? 0
					: e->kind == NAGARE_QUOTA_ENTITY_CLIENT ? 1
					: e->kind == NAGARE_QUOTA_ENTITY_IP     ? 2
															: 3;

			c->has[t] = true;
			c->is_default[t] = e->name_default;
			c->name[t] = e->name;
			c->count = 1;
			return true;
		}
		default:
			return false; /* caps and principals are not entities */
	}
}

/* A filter: per type, absent, exact name, default, or any */
typedef struct QuotaFilter
{
	bool exact[NTYPES]; /* an exact name or the default */
	bool is_default[NTYPES];
	char *name[NTYPES];
	bool any[NTYPES];
	int count;
	bool strict;
} QuotaFilter;

static bool
filter_matches(const QuotaFilter *f, const Components *c)
{
	int t;

	if (f->strict && c->count != f->count)
		return false;
	for (t = 0; t < NTYPES; t++)
	{
		if (f->exact[t] && (!c->has[t] || c->is_default[t] != f->is_default[t] ||
							(!f->is_default[t] && strcmp(c->name[t], f->name[t]) != 0)))
			return false;
		if (f->any[t] && !c->has[t])
			return false;
	}
	return true;
}

/* NULL, or the error of a filter (code in *error); Kafka's messages */
static const char *
filter_from(const KafkaDescribeClientQuotasRequest *req, QuotaFilter *f, int16 *error)
{
	int i;

	memset(f, 0, sizeof(*f));
	f->strict = req->Strict;
	*error = KAFKA_ERROR_INVALID_REQUEST;
	for (i = 0; i < req->ComponentsCount; i++)
	{
		const KafkaDescribeClientQuotasComponent *c = &req->Components[i];
		int t;

		if (c->EntityType.len <= 0)
			return "Invalid empty entity type.";
		if ((t = type_index(c->EntityType)) < 0)
		{
			*error = KAFKA_ERROR_UNSUPPORTED_VERSION;
			return psprintf("Unsupported entity type %.*s",
							(int) Min(c->EntityType.len, 64), c->EntityType.ptr);
		}
		if (f->exact[t] || f->any[t])
			return psprintf("Entity type %s cannot appear more than once in the filter.",
							entity_types[t]);
		switch (c->MatchType)
		{
			case 0:
				if (c->Match.len < 0)
					return "Request specified MATCH_TYPE_EXACT, but set match string to null.";
				f->exact[t] = true;
				f->name[t] = nagare_kstr_dup(CurrentMemoryContext, c->Match);
				if (strlen(f->name[t]) != (size_t) c->Match.len)
					return "A match string must not contain NUL.";
				break;
			case 1:
				if (c->Match.len >= 0)
					return "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.";
				f->exact[t] = f->is_default[t] = true;
				break;
			case 2:
				if (c->Match.len >= 0)
					return "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.";
				f->any[t] = true;
				break;
			default:
				return psprintf("Unknown match type %d", (int) c->MatchType);
		}
		f->count++;
	}
	if ((f->exact[2] || f->any[2]) && (f->exact[0] || f->any[0] || f->exact[1] || f->any[1]))
		return "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.";
	if ((f->exact[3] || f->any[3]) && f->count > 1)
		return "Invalid entity filter component combination. A tenant filter component stands alone.";
	*error = KAFKA_ERROR_NONE;
	return NULL;
}

/* Whether the entity belongs to tenant (tenant=<it>, user=<a principal of it>) */
static bool
of_tenant(const NagareQuotaEntry *e, const char *tenant)
{
	char t[NAGARE_TENANT_NAME_MAX];

	if (e->kind == NAGARE_QUOTA_ENTITY_TENANT)
		return strcmp(e->name, tenant) == 0;
	if ((e->kind == NAGARE_QUOTA_ENTITY_USER || e->kind == NAGARE_QUOTA_ENTITY_USER_CLIENT) &&
		!e->name_default)
		return nagare_quota_tenant_of(e->name, t) && strcmp(t, tenant) == 0;
	return false;
}

static KafkaStr
entity_name(bool is_default, const char *name)
{
	return is_default ? kafka_str(NULL) : kafka_str(name);
}

void
nagare_handle_describe_client_quotas(NagareConn *conn, const KafkaRequestHeader *hdr,
									 KafkaRequestBody *body)
{
	KafkaDescribeClientQuotasRequest *req = &body->DescribeClientQuotas;
	KafkaDescribeClientQuotasResponse resp;
	QuotaFilter f;
	const char *invalid;
	int16 error;
	bool all;
	char tenant[NAGARE_TENANT_NAME_MAX] = "";
	NagareQuotaEntry *matches;
	int nmatches = 0;
	int i;

	memset(&resp, 0, sizeof(resp));
	resp.ErrorMessage = kafka_str(NULL);
	resp.EntriesCount = -1;

	/* DESCRIBE_CONFIGS on the CLUSTER, or a principal of a tenant */
	all = nagare_authorized_quiet(conn, KAFKA_RESOURCE_CLUSTER, NAGARE_ACL_CLUSTER_NAME,
								  strlen(NAGARE_ACL_CLUSTER_NAME),
								  KAFKA_ACL_DESCRIBE_CONFIGS);
	if (!all &&
		!nagare_quota_tenant_of_principal(nagare_conn_identity(conn)->principal, tenant))
	{
		nagare_authorized_cluster(conn, KAFKA_ACL_DESCRIBE_CONFIGS); /* counts the denial */
		resp.ErrorCode = KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED;
		resp.ErrorMessage = kafka_str(
			"DESCRIBE_CONFIGS on the CLUSTER is needed to describe client quotas");
		nagare_kafka_respond(conn, hdr, &resp);
		return;
	}
	if ((invalid = filter_from(req, &f, &error)) != NULL)
	{
		resp.ErrorCode = error;
		resp.ErrorMessage = kafka_str(invalid);
		nagare_kafka_respond(conn, hdr, &resp);
		return;
	}

	/* the matching entities, copied out under the lock */
	LWLockAcquire(nagare_quotas->lock, LW_SHARED);
	matches = palloc_extended(sizeof(NagareQuotaEntry) * Max(nagare_quotas->count, 1),
							  MCXT_ALLOC_NO_OOM | MCXT_ALLOC_HUGE);
	for (i = 0; matches != NULL && i < nagare_quotas->count; i++)
	{
		Components c;

		if (components_of(&nagare_quotas->entries[i], &c) && filter_matches(&f, &c))
			matches[nmatches++] = nagare_quotas->entries[i];
	}
	LWLockRelease(nagare_quotas->lock);
	if (matches == NULL)
	{
		resp.ErrorCode = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
		resp.ErrorMessage = kafka_str("out of memory");
		nagare_kafka_respond(conn, hdr, &resp);
		return;
	}

	resp.EntriesCount = 0;
	resp.Entries = palloc0(sizeof(KafkaDescribeClientQuotasEntry) * Max(nmatches, 1));
	for (i = 0; i < nmatches; i++)
	{
		const NagareQuotaEntry *e = &matches[i];
		KafkaDescribeClientQuotasEntry *out;
		Components c;
		int t;
		int k;

		if (!all && !of_tenant(e, tenant))
			continue;
		components_of(e, &c);
		out = &resp.Entries[resp.EntriesCount++];
		out->Entity = palloc0(sizeof(KafkaDescribeClientQuotasEntity) * NTYPES);
		for (t = 0; t < NTYPES; t++)
		{
			if (!c.has[t])
				continue;
			out->Entity[out->EntityCount].EntityType = kafka_str(entity_types[t]);
			out->Entity[out->EntityCount].EntityName =
				entity_name(c.is_default[t], c.name[t]);
			out->EntityCount++;
		}
		out->Values = palloc0(sizeof(KafkaDescribeClientQuotasValue) * NAGARE_QUOTA_NKEYS);
		for (k = 0; k < NAGARE_QUOTA_NKEYS; k++)
		{
			if (e->value[k] <= 0)
				continue;
			out->Values[out->ValuesCount].Key =
				kafka_str(nagare_quota_key_name((NagareQuotaKey) k));
			out->Values[out->ValuesCount].Value = e->value[k];
			out->ValuesCount++;
		}
	}
	nagare_kafka_respond(conn, hdr, &resp);
}

/*---- AlterClientQuotas ----*/

/* An AlterClientQuotas request waiting for the worker */
typedef struct QuotaChange
{
	NagareConn *conn;
	NagareResponse *resp;
	NagareRequestId id;
	int n; /* entries */
	KafkaAlterClientQuotasEntryResult *results; /* entities copied */
	int *sent; /* index in the worker's payload, or -1 */
	int nsent;
} QuotaChange;

static void
change_error(QuotaChange *ch, int i, int16 error, const char *message)
{
	ch->results[i].ErrorCode = error;
	ch->results[i].ErrorMessage = kafka_str(
		message ? MemoryContextStrdup(nagare_conn_context(ch->conn), message) : NULL);
}

/* A Kafka error for a quota change's SQLSTATE */
static int16
quota_error_for_sqlstate(const char *sqlstate)
{
	if (sqlstate == NULL)
		return KAFKA_ERROR_REQUEST_TIMED_OUT;
	if (nagare_sqlstate_is(sqlstate, ERRCODE_INVALID_PARAMETER_VALUE) ||
		nagare_sqlstate_is(sqlstate, ERRCODE_CHECK_VIOLATION) ||
		nagare_sqlstate_is(sqlstate, ERRCODE_NULL_VALUE_NOT_ALLOWED) ||
		nagare_sqlstate_is(sqlstate, ERRCODE_UNDEFINED_OBJECT))
		return KAFKA_ERROR_INVALID_REQUEST;
	if (nagare_sqlstate_is(sqlstate, ERRCODE_INSUFFICIENT_PRIVILEGE))
		return KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED;
	return nagare_kafka_error_for_sqlstate(sqlstate, KAFKA_ERROR_UNKNOWN_SERVER_ERROR);
}

static void
alter_respond(QuotaChange *ch)
{
	KafkaAlterClientQuotasResponse resp;

	memset(&resp, 0, sizeof(resp));
	resp.EntriesCount = ch->n;
	resp.Entries = ch->results;
	nagare_kafka_response_ready(ch->resp, ch->id, &resp, NULL);
}

/* Reading the worker's binary result (shmem.h), bounds-checked */
typedef struct AnswerReader
{
	const char *p;
	const char *end;
	bool bad;
} AnswerReader;

static int32
answer_int32(AnswerReader *r)
{
	int32 v;

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
	int len;
	char *s;

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

/* The worker's answer: int32 count, then per entry sqlstate and message */
static void
alter_answered(void *arg, const char *sqlstate, const char *data, uint32 len)
{
	QuotaChange *ch = arg;
	MemoryContext cxt = nagare_conn_context(ch->conn);
	int i;

	if (!nagare_channel_succeeded(sqlstate))
	{
		for (i = 0; i < ch->n; i++)
			if (ch->sent[i] >= 0)
				change_error(ch, i, quota_error_for_sqlstate(sqlstate),
							 sqlstate ? data : "the nagare worker did not answer in time");
	}
	else
	{
		AnswerReader r = {data, data + len, false};
		int32 count = answer_int32(&r);

		for (i = 0; i < ch->n; i++)
		{
			char *state;
			char *message;

			if (ch->sent[i] < 0)
				continue;
			if (r.bad || ch->sent[i] >= count)
			{
				change_error(ch, i, KAFKA_ERROR_UNKNOWN_SERVER_ERROR,
							 "malformed answer of the nagare worker");
				continue;
			}
			state = answer_str(&r, cxt);
			message = answer_str(&r, cxt);
			if (!nagare_channel_succeeded(state))
				change_error(ch, i, quota_error_for_sqlstate(state), message);
			pfree(state);
			pfree(message);
		}
	}
	alter_respond(ch);
}

/*
 * The entity of a request's entry as nagare.quota's text, into buf; NULL,
 * or Kafka's message of what is wrong with it.
 */
static const char *
entry_entity(const KafkaAlterClientQuotasEntry *entry, NagareQuotaEntry *e, char *buf,
			 size_t size, char *err, size_t errsize)
{
	bool seen[NTYPES] = {false, false, false, false};
	int i;

	if (entry->EntityCount <= 0)
		return "Invalid empty client quota entity";
	buf[0] = '\0';
	for (i = 0; i < entry->EntityCount; i++)
	{
		const KafkaAlterClientQuotasEntity *c = &entry->Entity[i];
		int t = type_index(c->EntityType);

		if (t < 0)
		{
			snprintf(err, errsize, "Unhandled client quota entity type: %.*s",
					 (int) Min(Max(c->EntityType.len, 0), 64),
					 c->EntityType.ptr ? c->EntityType.ptr : "");
			return err;
		}
		if (seen[t])
		{
			snprintf(err, errsize, "Invalid client quota entity, duplicate entity entry %s",
					 entity_types[t]);
			return err;
		}
		seen[t] = true;
		if (c->EntityName.len >= NAGARE_QUOTA_NAME_MAX ||
			(c->EntityName.len > 0 &&
			 memchr(c->EntityName.ptr, '\0', c->EntityName.len) != NULL))
		{
			snprintf(err, errsize, "Invalid %s name: at most %d bytes, no NUL",
					 entity_types[t], NAGARE_QUOTA_NAME_MAX - 1);
			return err;
		}
	}
	/* the text, user before client-id, then parsed as SQL will parse it */
	for (i = 0; i < NTYPES; i++)
	{
		int j;

		for (j = 0; j < entry->EntityCount; j++)
		{
			const KafkaAlterClientQuotasEntity *c = &entry->Entity[j];

			if (type_index(c->EntityType) != i)
				continue;
			if (buf[0] != '\0')
				strlcat(buf, ",", size);
			strlcat(buf, entity_types[i], size);
			strlcat(buf, "=", size);
			if (c->EntityName.len < 0)
				strlcat(buf, "<default>", size);
			else
			{
				size_t at = strlen(buf);

				if (at + c->EntityName.len + 1 > size)
					return "Invalid client quota entity: names too long";
				memcpy(buf + at, c->EntityName.ptr, c->EntityName.len);
				buf[at + c->EntityName.len] = '\0';
			}
		}
	}
	if (nagare_quota_entity_parse(buf, e, err, errsize) != NULL)
		return err;
	/* a name that looks like ",client-id=..." would not read back the same */
	nagare_quota_entity_text(e, err, errsize);
	if (strcmp(err, buf) != 0)
		return "Invalid client quota entity: a name contains \",<type>=\"";
	return NULL;
}

void
nagare_handle_alter_client_quotas(NagareConn *conn, const KafkaRequestHeader *hdr,
								  KafkaRequestBody *body)
{
	KafkaAlterClientQuotasRequest *req = &body->AlterClientQuotas;
	MemoryContext cxt = nagare_conn_context(conn);
	QuotaChange *ch = MemoryContextAllocZero(cxt, sizeof(QuotaChange));
	bool may =
		nagare_authorized_quiet(conn, KAFKA_RESOURCE_CLUSTER, NAGARE_ACL_CLUSTER_NAME,
								strlen(NAGARE_ACL_CLUSTER_NAME), KAFKA_ACL_ALTER_CONFIGS);
	const char *as_role = NULL;
	StringInfoData json;
	int i;

	ch->conn = conn;
	ch->id = nagare_request_id(hdr);
	ch->n = Max(req->EntriesCount, 0);
	ch->results = MemoryContextAllocZero(cxt, sizeof(KafkaAlterClientQuotasEntryResult) *
												  Max(ch->n, 1));
	ch->sent = MemoryContextAllocZero(cxt, sizeof(int) * Max(ch->n, 1));
	ch->resp = nagare_conn_new_response(conn);

	/*
	 * Without ALTER_CONFIGS on the CLUSTER, an authenticated principal
	 * alters as its role: a tenant's admin may change its tenant's quotas
	 * within the caps (nagare.set_quota() decides).
	 */
	if (!may && nagare_conn_identity(conn)->role != InvalidOid &&
		principal_user(conn) != NULL)
		as_role = principal_user(conn);
	else if (!may)
		nagare_authorized_cluster(conn, KAFKA_ACL_ALTER_CONFIGS); /* counts the denial */

	initStringInfo(&json);
	appendStringInfoString(&json, "{\"entries\":[");
	for (i = 0; i < ch->n; i++)
	{
		const KafkaAlterClientQuotasEntry *entry = &req->Entries[i];
		KafkaAlterClientQuotasEntryResult *res = &ch->results[i];
		NagareQuotaEntry e;
		char text[2 * NAGARE_QUOTA_NAME_MAX + 32];
		char err[512];
		const char *invalid = NULL;
		int j;

		ch->sent[i] = -1;
		res->ErrorMessage = kafka_str(NULL);
		res->EntityCount = Max(entry->EntityCount, 0);
		res->Entity =
			MemoryContextAllocZero(cxt, sizeof(KafkaAlterClientQuotasResultEntity) *
											Max(res->EntityCount, 1));
		for (j = 0; j < res->EntityCount; j++)
		{
			res->Entity[j].EntityType = nagare_kstr_copy(cxt, entry->Entity[j].EntityType);
			res->Entity[j].EntityName =
				entry->Entity[j].EntityName.len < 0
					? kafka_str(NULL)
					: nagare_kstr_copy(cxt, entry->Entity[j].EntityName);
		}

		if (!may && as_role == NULL)
		{
			change_error(ch, i, KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED,
						 "ALTER_CONFIGS on the CLUSTER is needed to alter client quotas");
			continue;
		}
		invalid = entry_entity(entry, &e, text, sizeof(text), err, sizeof(err));
		for (j = 0; invalid == NULL && j < entry->OpsCount; j++)
		{
			const KafkaAlterClientQuotasOp *op = &entry->Ops[j];
			char *key = nagare_kstr_dup(CurrentMemoryContext, op->Key);

			if (key == NULL || strlen(key) != (size_t) op->Key.len)
				invalid = "Invalid configuration key";
			else if (!op->Remove)
				invalid = nagare_quota_value_invalid(&e, key, op->Value, err, sizeof(err));
		}
		if (invalid != NULL)
		{
			change_error(ch, i, KAFKA_ERROR_INVALID_REQUEST, invalid);
			continue;
		}

		ch->sent[i] = ch->nsent++;
		appendStringInfoString(&json, ch->nsent > 1 ? ",{\"e\":" : "{\"e\":");
		escape_json(&json, text);
		appendStringInfoString(&json, ",\"o\":[");
		for (j = 0; j < entry->OpsCount; j++)
		{
			const KafkaAlterClientQuotasOp *op = &entry->Ops[j];

			appendStringInfoString(&json, j > 0 ? ",{\"k\":" : "{\"k\":");
			escape_json(&json, nagare_kstr_dup(CurrentMemoryContext, op->Key));
			if (op->Remove)
				appendStringInfoString(&json, ",\"v\":null}");
			else
				appendStringInfo(&json, ",\"v\":%.17g}", op->Value);
		}
		appendStringInfoString(&json, "]}");
	}
	appendStringInfo(&json, "],\"v\":%s", req->ValidateOnly ? "true" : "false");
	nagare_audit_client_member(&json, conn, hdr);
	if (as_role != NULL)
	{
		appendStringInfoString(&json, ",\"as\":");
		escape_json(&json, as_role);
	}
	appendStringInfoChar(&json, '}');

	if (ch->nsent == 0)
		alter_respond(ch);
	else if (!nagare_channel_submit(NAGARE_QUOTA_ALTER, json.data, json.len,
									TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
																QUOTA_REQUEST_TIMEOUT_MS),
									alter_answered, ch))
	{
		for (i = 0; i < ch->n; i++)
			if (ch->sent[i] >= 0)
				change_error(ch, i, KAFKA_ERROR_REQUEST_TIMED_OUT,
							 "the channel to the nagare worker is full");
		alter_respond(ch);
	}
	pfree(json.data);
}
