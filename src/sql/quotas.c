/*-------------------------------------------------------------------------
 *
 * quotas.c
 *	  The SQL surface of client quotas in C: the validation of entities,
 *	  keys and values (nagare._quota_entity()), the trigger that tells the
 *	  nagare worker the quota tables changed, nagare.effective_quota() and
 *	  nagare.quota_status().
 *
 * The functions users call (nagare.set_quota(), remove_quota(),
 * set_tenant_quota_cap()) are SQL in nagare--0.1.sql; they validate through
 * nagare._quota_entity(), which applies Kafka's rules with Kafka's messages
 * (quota/quota.c), so a quota refused from psql is refused from kafka-configs
 * with the same words.  Who may change what is row-level security on the
 * tables and the functions' checks, in SQL too.
 *
 * A transaction that changed nagare.quota, nagare.tenant_quota_cap or
 * nagare.tenant_principal (statement triggers) increments
 * NagareQuotaShared.changes when it commits and sets the worker's latch; the
 * worker then rewrites the shared copy (worker/quotasync.c).  The commit
 * callback is registered by the first such trigger in a backend.
 *
 * nagare.effective_quota() asks the one resolver (quota/quota.c), from the
 * shared copy: what the broker enforces, once the worker has copied the
 * last change (nagare.quota_status says when).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "acl/acl.h"
#include "quota/quota.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(nagare_quota_changed);
PG_FUNCTION_INFO_V1(nagare_quota_entity_sql);
PG_FUNCTION_INFO_V1(nagare_effective_quota);
PG_FUNCTION_INFO_V1(nagare_quota_status);

#define ENTITY_HINT                                                              \
	"Entities are user=<name>, client-id=<name>, user=<name>,client-id=<name>, " \
	"ip=<address> or tenant=<name>; the name <default> is the default user, client-id or ip."

/* this transaction changed the quota tables: the worker copies them after commit */
static bool quotas_changed = false;
static bool callback_registered = false;

static void
quota_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (quotas_changed)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg(
							 "cannot PREPARE a transaction that changed nagare quotas or tenants' principals")));
			break;
		case XACT_EVENT_COMMIT:
			/* nothing here may fail: an atomic increment and a SetLatch */
			if (quotas_changed && nagare_quotas != NULL)
			{
				pg_atomic_fetch_add_u64(&nagare_quotas->changes, 1);
				nagare_wake_worker();
			}
			quotas_changed = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			quotas_changed = false;
			break;
		default:
			break;
	}
}

/* trigger nagare._quota_changed(): after any statement that changed the tables */
Datum
nagare_quota_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "nagare._quota_changed() is a trigger function");
	if (!callback_registered)
	{
		RegisterXactCallback(quota_xact_callback, NULL);
		callback_registered = true;
	}
	quotas_changed = true;
	return PointerGetDatum(NULL);
}

/*
 * nagare._quota_entity(entity, key, value): the entity in its canonical
 * text and its components (user_name, client_id, ip, tenant; "<default>" for
 * a default, null where absent).  ERROR 22023 with Kafka's message if the
 * entity is invalid, or, when key is given, if the key does not apply to it
 * or (value given) the value is not one Kafka accepts.
 */
Datum
nagare_quota_entity_sql(PG_FUNCTION_ARGS)
{
	NagareQuotaEntry e;
	char err[512];
	char canonical[2 * NAGARE_QUOTA_NAME_MAX + 32];
	const char *invalid;
	TupleDesc desc;
	Datum values[5];
	bool nulls[5] = {true, true, true, true, true};
	char *entity;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("a quota entity must not be null"), errhint(ENTITY_HINT)));
	entity = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if ((invalid = nagare_quota_entity_parse(entity, &e, err, sizeof(err))) != NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s", invalid),
						errhint(ENTITY_HINT)));
	if (!PG_ARGISNULL(1))
	{
		char *key = text_to_cstring(PG_GETARG_TEXT_PP(1));
		double value = PG_ARGISNULL(2) ? 1.0 : PG_GETARG_FLOAT8(2);

		if ((invalid = nagare_quota_value_invalid(&e, key, value, err, sizeof(err))) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s", invalid),
					 e.kind == NAGARE_QUOTA_ENTITY_IP
						 ? errhint("An ip entity takes connection_creation_rate only.")
						 : errhint(
							   "Keys: producer_byte_rate, consumer_byte_rate (bytes/s, whole numbers), "
							   "request_percentage, controller_mutation_rate; connection_creation_rate is for ip entities.")));
	}

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	nagare_quota_entity_text(&e, canonical, sizeof(canonical));
	values[0] = CStringGetTextDatum(canonical);
	nulls[0] = false;
	switch ((NagareQuotaEntityKind) e.kind)
	{
		case NAGARE_QUOTA_ENTITY_USER_CLIENT:
			values[1] = CStringGetTextDatum(e.name_default ? "<default>" : e.name);
			values[2] = CStringGetTextDatum(e.client_default ? "<default>" : e.client_id);
			nulls[1] = nulls[2] = false;
			break;
		case NAGARE_QUOTA_ENTITY_USER:
			values[1] = CStringGetTextDatum(e.name_default ? "<default>" : e.name);
			nulls[1] = false;
			break;
		case NAGARE_QUOTA_ENTITY_CLIENT:
			values[2] = CStringGetTextDatum(e.name_default ? "<default>" : e.name);
			nulls[2] = false;
			break;
		case NAGARE_QUOTA_ENTITY_IP:
			values[3] = CStringGetTextDatum(e.name_default ? "<default>" : e.name);
			nulls[3] = false;
			break;
		default:
			values[4] = CStringGetTextDatum(e.name);
			nulls[4] = false;
			break;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/*
 * nagare.effective_quota(user, client_id): per key (the four of users and
 * client ids) the limit that applies to the client, the entity that set it
 * (Kafka's precedence), whether the budget is shared by user and/or client
 * id, and the tenant's shared limit (the tenant's own value or the
 * platform's cap: tenant_limit_source).  For the platform (DESCRIBE_CONFIGS on
 * the CLUSTER), the user itself and the principals of the user's tenant.
 */
Datum
nagare_effective_quota(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const char *user;
	const char *client_id;
	const char *me = GetUserNameFromId(GetUserId(), false);
	NagareQuotaLimits limits;
	NagareQuotaLevel levels[NAGARE_QUOTA_NKEYS];
	bool from_cap[NAGARE_QUOTA_NKEYS];
	int k;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the user of nagare.effective_quota() must not be null"),
				 errhint("Give the principal's name without \"User:\", e.g. 'alice'.")));
	user = text_to_cstring(PG_GETARG_TEXT_PP(0));
	client_id = PG_ARGISNULL(1) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(1));

	if (strcmp(user, me) != 0 &&
		!nagare_acl_current_user_authorized(KAFKA_RESOURCE_CLUSTER, NAGARE_ACL_CLUSTER_NAME,
											KAFKA_ACL_DESCRIBE_CONFIGS))
	{
		char mine[NAGARE_TENANT_NAME_MAX];
		char theirs[NAGARE_TENANT_NAME_MAX];

		if (!nagare_quota_tenant_of(me, mine) || !nagare_quota_tenant_of(user, theirs) ||
			strcmp(mine, theirs) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to see the quotas of user \"%s\"", user),
					 errhint(
						 "DESCRIBE_CONFIGS on the CLUSTER shows every client's quotas; a role sees its own and those of its tenant's principals.")));
	}

	InitMaterializedSRF(fcinfo, 0);
	nagare_quota_resolve_levels(user, client_id, &limits, levels, from_cap);
	for (k = 0; k < NAGARE_QUOTA_NKEYS; k++)
	{
		Datum values[8];
		bool nulls[8] = {false, false, false, false, false, false, false, false};
		char entity[2 * NAGARE_QUOTA_NAME_MAX + 32];

		if (k == NAGARE_QUOTA_CONNECTION_CREATION_RATE)
			continue; /* a quota of ip addresses */
		values[0] = CStringGetTextDatum(nagare_quota_key_name((NagareQuotaKey) k));
		if (levels[k] == NAGARE_QUOTA_LEVEL_NONE)
		{
			nulls[1] = nulls[2] = nulls[3] = nulls[4] = true;
		}
		else
		{
			nagare_quota_level_entity(levels[k], user, client_id, entity, sizeof(entity));
			values[1] = Float8GetDatum(limits.client[k]);
			values[2] = CStringGetTextDatum(entity);
			values[3] = BoolGetDatum(limits.by_user[k]);
			values[4] = BoolGetDatum(limits.by_client[k]);
		}
		if (limits.tenant[0] != '\0')
			values[5] = CStringGetTextDatum(limits.tenant);
		else
			nulls[5] = true;
		if (limits.tenant_limit[k] > 0)
		{
			values[6] = Float8GetDatum(limits.tenant_limit[k]);
			values[7] = CStringGetTextDatum(from_cap[k] ? "cap" : "tenant");
		}
		else
			nulls[6] = nulls[7] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * nagare.quota_status(): the shared copy as the broker resolves from it,
 * and whether it shows every committed change (synced >= changes).
 */
Datum
nagare_quota_status(PG_FUNCTION_ARGS)
{
	TupleDesc desc;
	Datum values[6];
	bool nulls[6] = {false, false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	LWLockAcquire(nagare_quotas->lock, LW_SHARED);
	values[0] = BoolGetDatum(nagare_quotas->loaded);
	values[1] = Int32GetDatum(nagare_quotas->count);
	values[2] = BoolGetDatum(nagare_quotas->overflow);
	LWLockRelease(nagare_quotas->lock);
	values[3] = Int64GetDatum((int64) pg_atomic_read_u64(&nagare_quotas->version));
	values[4] = Int64GetDatum((int64) pg_atomic_read_u64(&nagare_quotas->changes));
	values[5] = Int64GetDatum((int64) pg_atomic_read_u64(&nagare_quotas->synced));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
