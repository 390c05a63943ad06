/*-------------------------------------------------------------------------
 *
 * aclsync.c
 *	  The nagare worker copies nagare.acl into shared memory, where the
 *	  broker and backends authorize against it (acl/acl.c), and changes it
 *	  for Kafka clients (CreateAcls, DeleteAcls).
 *
 * The copy is rewritten whole, under the ACL lock held exclusively for the
 * copy only, and its version is incremented afterwards, so a reader that
 * sees the new version finds the new rows, and every process's cached
 * decisions are dropped.  A table with more rows than nagare.max_acls is
 * copied in part and marked overflowed: the evaluator then denies every
 * principal but super users (failing closed), and the worker says so in a
 * WARNING with the remedy.  Before the first copy after server start the
 * table counts as empty (see acl.c).
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
#include "utils/json.h"
#include "utils/jsonb.h"

#include "acl/acl.h"
#include "nagare.h"
#include "worker/worker.h"

/* the size of the table at the last overflow warning (not to repeat it) */
static uint64 warned_rows = 0;

/* Copy the table (in a transaction of nagare_worker_sql()) */
static bool
sync_acls_sql(void *arg)
{
	int			ret;
	uint64		rows;
	uint64		i;
	int			n;
	NagareAclEntry *copy;

	ret = SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'nagare'", true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look up extension nagare: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		rows = 0;
	else
	{
		ret = SPI_execute("SELECT resource_type, resource_name, pattern_type, principal, host, "
						  "operation, permission FROM nagare.acl ORDER BY id", true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not read nagare.acl: %s", SPI_result_code_string(ret));
		rows = SPI_processed;
	}

	n = (int) Min(rows, (uint64) nagare_acls->max);
	copy = palloc0(sizeof(NagareAclEntry) * Max(n, 1));
	for (i = 0; i < (uint64) n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		NagareAclEntry *e = &copy[i];

		e->resource_type = nagare_acl_resource_type_code(SPI_getvalue(tup, desc, 1));
		strlcpy(e->name, SPI_getvalue(tup, desc, 2), sizeof(e->name));
		e->pattern_type = nagare_acl_pattern_code(SPI_getvalue(tup, desc, 3));
		strlcpy(e->principal, SPI_getvalue(tup, desc, 4), sizeof(e->principal));
		strlcpy(e->host, SPI_getvalue(tup, desc, 5), sizeof(e->host));
		e->operation = nagare_acl_operation_code(SPI_getvalue(tup, desc, 6));
		e->permission = nagare_acl_permission_code(SPI_getvalue(tup, desc, 7));
	}

	LWLockAcquire(nagare_acls->lock, LW_EXCLUSIVE);
	if (n > 0)
		memcpy(nagare_acls->entries, copy, sizeof(NagareAclEntry) * n);
	nagare_acls->count = n;
	nagare_acls->overflow = rows > (uint64) n;
	nagare_acls->loaded = true;
	LWLockRelease(nagare_acls->lock);
	pg_atomic_fetch_add_u64(&nagare_acls->version, 1);

	if (rows > (uint64) n && rows != warned_rows)
	{
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("nagare.acl has %llu rows, more than nagare.max_acls = %d: every principal but super users is denied",
						(unsigned long long) rows, nagare_acls->max),
				 errhint("Delete ACLs, or raise nagare.max_acls and restart the server.")));
		warned_rows = rows;
	}
	else if (rows <= (uint64) n)
		warned_rows = 0;
	pfree(copy);
	return true;
}

/*
 * Copy nagare.acl into the shared ACL table, in a transaction of its own.
 * An error (logged) leaves the previous copy in place.
 */
void
nagare_worker_sync_acls(void)
{
	ErrorData  *edata;

	pgstat_report_activity(STATE_RUNNING, "nagare worker: syncing ACLs");
	edata = nagare_worker_sql(sync_acls_sql, NULL);
	if (edata != NULL)
	{
		ereport(LOG,
				(errmsg("nagare worker: could not copy nagare.acl: %s", edata->message)));
		FreeErrorData(edata);
	}
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*---- ACL changes for Kafka clients ----*/

/* One CreateAcls creation or DeleteAcls filter, and where its answer goes */
typedef struct AclItem
{
	NagareChannelKind kind;
	JsonbValue *item;			/* an object of the payload's array */
	StringInfo	rows;			/* DeleteAcls: the ACLs deleted, encoded */
	int32		nrows;
	const char *client;			/* nagare.audit_client: the Kafka client */
	const char *as_role;		/* DeleteAcls without ALTER on the CLUSTER */
} AclItem;

/* A string member of an item, or NULL (JSON null or missing) */
static char *
item_string(JsonbValue *item, const char *key)
{
	JsonbValue *v;

	if (item->type != jbvBinary)
		return NULL;
	v = getKeyJsonValueFromContainer(item->val.binary.data, key, strlen(key), NULL);
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static void
put_string(StringInfo buf, const char *s)
{
	size_t		len = s ? Min(strlen(s), PG_INT16_MAX) : 0;

	pq_sendint16(buf, (uint16) len);
	appendBinaryStringInfo(buf, s ? s : "", len);
}

/* The SQL of one item (a transaction of nagare_worker_sql()) */
static bool
acl_item_sql(void *arg)
{
	static const char *const keys[7] = {"rt", "n", "pt", "p", "h", "o", "pm"};
	AclItem    *it = arg;
	Datum		args[7];
	Oid			types[7];
	char		nulls[7];
	int			ret;
	int			i;

	/* who asked, for the audit trail (sql/audit.c) */
	args[0] = CStringGetTextDatum(it->client);
	types[0] = TEXTOID;
	ret = SPI_execute_with_args("SELECT pg_catalog.set_config('nagare.audit_client', $1, true)",
								1, types, args, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not set nagare.audit_client: %s", SPI_result_code_string(ret));
	if (it->as_role != NULL)
	{
		/* delete as the principal's role: row-level security keeps what it may not ALTER */
		args[0] = CStringGetTextDatum(it->as_role);
		ret = SPI_execute_with_args("SELECT pg_catalog.set_config('role', $1, true)",
									1, types, args, NULL, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not set role: %s", SPI_result_code_string(ret));
	}

	for (i = 0; i < 7; i++)
	{
		char	   *s = item_string(it->item, keys[i]);

		types[i] = TEXTOID;
		nulls[i] = s ? ' ' : 'n';
		args[i] = s ? CStringGetTextDatum(s) : (Datum) 0;
	}
	if (it->kind == NAGARE_ACL_CREATE)
	{
		/* nagare.create_acl() takes (type, name, principal, operation, permission, host, pattern) */
		Datum		cargs[7] = {args[0], args[1], args[3], args[5], args[6], args[4], args[2]};
		char		cnulls[7] = {nulls[0], nulls[1], nulls[3], nulls[5], nulls[6], nulls[4], nulls[2]};

		ret = SPI_execute_with_args("SELECT nagare.create_acl($1, $2, $3, $4, $5, $6, $7)",
									7, types, cargs, cnulls, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not create an ACL: %s", SPI_result_code_string(ret));
		return true;
	}

	ret = SPI_execute_with_args("SELECT resource_type, resource_name, pattern_type, principal, "
								"host, operation, permission "
								"FROM nagare.delete_acls($1, $2, $3, $4, $5, $6, $7)",
								7, types, args, nulls, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not delete ACLs: %s", SPI_result_code_string(ret));
	resetStringInfo(it->rows);
	it->nrows = (int32) SPI_processed;
	for (i = 0; i < (int) SPI_processed; i++)
	{
		int			col;

		for (col = 1; col <= 7; col++)
			put_string(it->rows, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, col));
	}
	return true;
}

/*
 * Carry out a NAGARE_ACL_CREATE or NAGARE_ACL_DELETE request (payload and
 * result in shmem.h), each item in a transaction of its own, and fill in
 * its answer.  The caller answers it after the next ACL sync.
 */
void
nagare_worker_run_acl_change(NagareWorkerRequest *req)
{
	Jsonb	   *payload;
	JsonbValue *items;
	StringInfoData rows;
	StringInfoData client;
	uint32		count = 0;
	uint32		i;

	pgstat_report_activity(STATE_RUNNING, "nagare worker: ACL change for a Kafka client");
	payload = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(req->payload)));
	items = getKeyJsonValueFromContainer(&payload->root,
										 req->kind == NAGARE_ACL_CREATE ? "acls" : "filters",
										 req->kind == NAGARE_ACL_CREATE ? 4 : 7, NULL);
	if (items != NULL && items->type == jbvBinary && JsonContainerIsArray(items->val.binary.data))
		count = JsonContainerSize(items->val.binary.data);
	initStringInfo(&rows);
	{
		JsonbValue	root;
		static const char *const ckeys[3] = {"principal", "host", "client_id"};
		int			k;

		root.type = jbvBinary;
		root.val.binary.data = &payload->root;
		root.val.binary.len = VARSIZE(payload);
		initStringInfo(&client);
		appendStringInfoChar(&client, '{');
		for (k = 0; k < 3; k++)
		{
			char	   *v = item_string(&root, ckeys[k]);

			appendStringInfo(&client, "%s\"%s\": ", k ? ", " : "", ckeys[k]);
			if (v)
				escape_json(&client, v);
			else
				appendStringInfoString(&client, "null");
		}
		appendStringInfoChar(&client, '}');
	}
	pq_sendint32(&req->result, count);
	for (i = 0; i < count; i++)
	{
		AclItem		it;
		ErrorData  *edata;

		it.kind = req->kind;
		it.item = getIthJsonbValueFromContainer(items->val.binary.data, i);
		it.rows = &rows;
		it.nrows = 0;
		it.client = client.data;
		it.as_role = NULL;
		if (req->kind == NAGARE_ACL_DELETE)
		{
			JsonbValue	root;

			root.type = jbvBinary;
			root.val.binary.data = &payload->root;
			root.val.binary.len = VARSIZE(payload);
			it.as_role = item_string(&root, "as");
		}
		edata = nagare_worker_sql(acl_item_sql, &it);
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
			it.nrows = 0;
		}
		if (req->kind == NAGARE_ACL_DELETE)
		{
			pq_sendint32(&req->result, (uint32) it.nrows);
			if (it.nrows > 0)
				appendBinaryStringInfo(&req->result, rows.data, rows.len);
		}
	}
	strlcpy(req->sqlstate, "00000", sizeof(req->sqlstate));
	pfree(rows.data);
	pgstat_report_activity(STATE_IDLE, NULL);
}
