/*-------------------------------------------------------------------------
 *
 * quotasync.c
 *	  The nagare worker copies the client quotas into shared memory, where
 *	  the broker and backends resolve them (quota/quota.c), and changes them
 *	  for Kafka clients (AlterClientQuotas).
 *
 * The copy holds nagare.quota (one entry per entity, with the values of its
 * keys), nagare.tenant_quota_cap (one entry per tenant) and
 * nagare.tenant_principal (one entry per role, naming its tenant), and is
 * rewritten whole by nagare_quota_publish() under the quota lock, after
 * every committed change of those tables (the committing backend increments
 * NagareQuotaShared.changes and sets this worker's latch; sql/quotas.c), at
 * start, and after AlterClientQuotas.  Its "synced" field then says which
 * changes it shows.  Rows beyond nagare.max_quotas entries are left out,
 * and the worker says so in a WARNING with the remedy: a quota left out is
 * a client left unlimited, never one refused.
 *
 * AlterClientQuotas runs nagare.set_quota() and nagare.remove_quota() as
 * psql users do, one transaction per entry (Kafka applies an entry's
 * operations together), rolled back when the client only validates; a
 * principal without ALTER_CONFIGS on the CLUSTER is acted as (its role), so
 * a tenant's admin gets exactly the rights SQL gives it.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "libpq/pqformat.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "nagare.h"
#include "quota/quota.h"
#include "worker/worker.h"

/* the size of the tables at the last overflow warning (not to repeat it) */
static uint64 warned_rows = 0;

/*
 * whether the copy was made once by this worker, from which changes, and
 * whether the extension existed then (until it does, every pass copies)
 */
static bool synced_once = false;
static uint64 synced_changes = 0;
static bool had_extension = false;

/* A text column as a C string ("" if null) */
static const char *
column(HeapTuple tup, TupleDesc desc, int col)
{
	char *v = SPI_getvalue(tup, desc, col);

	return v ? v : "";
}

/* Copy the tables (in a transaction of nagare_worker_sql()) */
static bool
sync_quotas_sql(void *arg)
{
	uint64 changes = *(uint64 *) arg;
	int max = nagare_quotas->max;
	NagareQuotaEntry *entries = palloc0(sizeof(NagareQuotaEntry) * max);
	int n = 0;
	uint64 rows = 0;
	uint64 i;
	int ret;

	Assert(entries != NULL); /* palloc0 does not return NULL; scan-build cannot know */
	ret = SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'nagare'",
					  true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look up extension nagare: %s", SPI_result_code_string(ret));
	had_extension = SPI_processed > 0;
	if (had_extension)
	{
		NagareQuotaEntry *cur = NULL;
		char prev[2 * NAGARE_QUOTA_NAME_MAX + 32] = "";

		/* quotas, grouped by entity */
		ret =
			SPI_execute("SELECT entity, key, value FROM nagare.quota ORDER BY entity, key",
						true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not read nagare.quota: %s", SPI_result_code_string(ret));
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple tup = SPI_tuptable->vals[i];
			TupleDesc desc = SPI_tuptable->tupdesc;
			const char *entity = column(tup, desc, 1);
			int k = nagare_quota_key_code(column(tup, desc, 2));
			char err[256];

			if (cur == NULL || strcmp(entity, prev) != 0)
			{
				rows++;
				cur = NULL;
				if (n == max)
					continue;
				if (nagare_quota_entity_parse(entity, &entries[n], err, sizeof(err)) != NULL)
					continue; /* the table's CHECK keeps these out */
				cur = &entries[n++];
				strlcpy(prev, entity, sizeof(prev));
			}
			if (cur != NULL && k >= 0)
				cur->value[k] = DatumGetFloat8(
					DirectFunctionCall1(float8in, CStringGetDatum(column(tup, desc, 3))));
		}

		/* the platform's caps, one entry per tenant */
		ret =
			SPI_execute("SELECT tenant, key, value FROM nagare.tenant_quota_cap ORDER BY tenant, key",
						true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not read nagare.tenant_quota_cap: %s",
				 SPI_result_code_string(ret));
		cur = NULL;
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple tup = SPI_tuptable->vals[i];
			TupleDesc desc = SPI_tuptable->tupdesc;
			const char *tenant = column(tup, desc, 1);
			int k = nagare_quota_key_code(column(tup, desc, 2));

			if (cur == NULL || strcmp(tenant, cur->name) != 0)
			{
				rows++;
				cur = NULL;
				if (n == max)
					continue;
				cur = &entries[n++];
				cur->kind = NAGARE_QUOTA_ENTITY_TENANT_CAP;
				strlcpy(cur->name, tenant, sizeof(cur->name));
			}
			if (cur != NULL && k >= 0)
				cur->value[k] = DatumGetFloat8(
					DirectFunctionCall1(float8in, CStringGetDatum(column(tup, desc, 3))));
		}

		/* each principal's tenant */
		ret = SPI_execute("SELECT role, tenant FROM nagare.tenant_principal ORDER BY role",
						  true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not read nagare.tenant_principal: %s",
				 SPI_result_code_string(ret));
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple tup = SPI_tuptable->vals[i];
			TupleDesc desc = SPI_tuptable->tupdesc;

			rows++;
			if (n == max)
				continue;
			entries[n].kind = NAGARE_QUOTA_ENTITY_PRINCIPAL;
			strlcpy(entries[n].name, column(tup, desc, 1), sizeof(entries[n].name));
			strlcpy(entries[n].client_id, column(tup, desc, 2),
					sizeof(entries[n].client_id));
			n++;
		}
	}

	nagare_quota_publish(entries, n, rows > (uint64) n, changes);
	if (rows > (uint64) n && rows != warned_rows)
	{
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("the client quotas need %llu entries, more than nagare.max_quotas = %d: the rest do not apply",
						(unsigned long long) rows, max),
				 errhint(
					 "Remove quotas, or raise nagare.max_quotas and restart the server.")));
		warned_rows = rows;
	}
	else if (rows <= (uint64) n)
		warned_rows = 0;
	pfree(entries);
	return true;
}

/*
 * Copy the quota tables into the shared quota table, in a transaction of
 * its own, if they changed since the last copy, or the extension did not
 * exist then (or always, with force).  An error (logged) leaves the
 * previous copy in place.
 */
void
nagare_worker_sync_quotas(bool force)
{
	uint64 changes = pg_atomic_read_u64(&nagare_quotas->changes);
	ErrorData *edata;

	if (!force && synced_once && had_extension && changes == synced_changes)
		return;
	pgstat_report_activity(STATE_RUNNING, "nagare worker: syncing quotas");
	edata = nagare_worker_sql(sync_quotas_sql, &changes);
	if (edata != NULL)
	{
		ereport(LOG, (errmsg("nagare worker: could not copy the client quotas: %s",
							 edata->message)));
		FreeErrorData(edata);
	}
	else
	{
		synced_once = true;
		synced_changes = changes;
	}
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*---- quota changes for Kafka clients ----*/

typedef struct QuotaItem
{
	JsonbValue *entry; /* {"e": entity, "o": [{"k", "v"}, ...]} */
	const char *client; /* nagare.audit_client: the Kafka client */
	const char *as_role; /* without ALTER_CONFIGS on the CLUSTER */
	bool validate_only;
} QuotaItem;

static JsonbValue *
member(JsonbValue *obj, const char *key)
{
	if (obj == NULL || obj->type != jbvBinary ||
		!JsonContainerIsObject(obj->val.binary.data))
		return NULL;
	return getKeyJsonValueFromContainer(obj->val.binary.data, key, strlen(key), NULL);
}

static char *
member_string(JsonbValue *obj, const char *key)
{
	JsonbValue *v = member(obj, key);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static void
set_local(const char *setting, const char *value)
{
	Datum arg = CStringGetTextDatum(value);
	Oid type = TEXTOID;
	char *sql = psprintf("SELECT pg_catalog.set_config('%s', $1, true)", setting);
	int ret = SPI_execute_with_args(sql, 1, &type, &arg, NULL, false, 0);

	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not set %s: %s", setting, SPI_result_code_string(ret));
}

/* The SQL of one entry (a transaction of nagare_worker_sql()) */
static bool
quota_item_sql(void *arg)
{
	QuotaItem *it = arg;
	char *entity = member_string(it->entry, "e");
	JsonbValue *ops = member(it->entry, "o");
	int nops = 0;
	int i;

	if (entity == NULL || ops == NULL || ops->type != jbvBinary ||
		!JsonContainerIsArray(ops->val.binary.data))
		elog(ERROR, "malformed quota change request");
	nops = JsonContainerSize(ops->val.binary.data);

	/* who asked, for the audit trail (sql/audit.c) */
	set_local("nagare.audit_client", it->client);
	if (it->as_role != NULL)
		set_local("role", it->as_role);

	for (i = 0; i < nops; i++)
	{
		JsonbValue *op = getIthJsonbValueFromContainer(ops->val.binary.data, i);
		char *key = member_string(op, "k");
		JsonbValue *v = member(op, "v");
		Datum args[3];
		Oid types[3] = {TEXTOID, TEXTOID, FLOAT8OID};
		int ret;

		if (key == NULL)
			elog(ERROR, "malformed quota change request");
		args[0] = CStringGetTextDatum(entity);
		args[1] = CStringGetTextDatum(key);
		if (v != NULL && v->type == jbvNumeric)
		{
			args[2] = DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric));
			ret = SPI_execute_with_args("SELECT nagare.set_quota($1, $2, $3)", 3, types,
										args, NULL, false, 0);
		}
		else
			ret = SPI_execute_with_args("SELECT nagare.remove_quota($1, $2)", 2, types,
										args, NULL, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not change quota \"%s\": %s", entity,
				 SPI_result_code_string(ret));
	}
	return !it->validate_only;
}

static void
put_string(StringInfo buf, const char *s)
{
	size_t len = Min(strlen(s), PG_INT16_MAX);

	pq_sendint16(buf, (uint16) len);
	appendBinaryStringInfo(buf, s, len);
}

/*
 * Carry out a NAGARE_QUOTA_ALTER request (payload and result in shmem.h),
 * each entry in a transaction of its own, and fill in its answer.  The
 * caller answers it after the next quota sync.
 */
void
nagare_worker_run_quota_change(NagareWorkerRequest *req)
{
	Jsonb *payload;
	JsonbValue root;
	JsonbValue *entries;
	JsonbValue *v;
	QuotaItem it;
	uint32 count = 0;
	uint32 i;

	pgstat_report_activity(STATE_RUNNING, "nagare worker: quota change for a Kafka client");
	payload = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(req->payload)));
	root.type = jbvBinary;
	root.val.binary.data = &payload->root;
	root.val.binary.len = VARSIZE(payload);
	entries = member(&root, "entries");
	if (entries != NULL && entries->type == jbvBinary &&
		JsonContainerIsArray(entries->val.binary.data))
		count = JsonContainerSize(entries->val.binary.data);
	it.client = member_string(&root, "k");
	if (it.client == NULL)
		it.client = "";
	it.as_role = member_string(&root, "as");
	v = member(&root, "v");
	it.validate_only = v != NULL && v->type == jbvBool && v->val.boolean;

	pq_sendint32(&req->result, count);
	for (i = 0; i < count; i++)
	{
		ErrorData *edata;

		it.entry = getIthJsonbValueFromContainer(entries->val.binary.data, i);
		edata = nagare_worker_sql(quota_item_sql, &it);
		if (edata == NULL)
		{
			put_string(&req->result, "00000");
			put_string(&req->result, "");
		}
		else
		{
			NagareWorkerRequest failed;

			nagare_worker_request_failed(&failed, edata);
			put_string(&req->result, failed.sqlstate);
			put_string(&req->result, failed.message);
			FreeErrorData(edata);
		}
	}
	strlcpy(req->sqlstate, "00000", sizeof(req->sqlstate));
	pgstat_report_activity(STATE_IDLE, NULL);
}
