/*-------------------------------------------------------------------------
 *
 * client_usage.c
 *	  Per-client usage in SQL: the rows of nagare.client_usage and
 *	  nagare.connections, nagare.reset_client_usage(), and the accounting
 *	  of SQL callers of send(), send_batch(), publish() and consume().
 *
 * SQL callers are clients too: source 'sql', principal User:<current_user>
 * and application_name for the client id.  A backend attaches to that
 * client's slot at its first counted call and keeps it while the role and
 * application_name stay the same (and detaches at exit).  What a call
 * counts: one request of its function; bytes in, the record batches
 * send() and send_batch() append, or the message publish() logs (before
 * the transaction commits or not); records in, the records sent or
 * published; bytes and records out, the batches consume() read and the
 * rows it returned; broker time, the call's own time in µs.  A call that
 * raises an error is not counted.
 *
 * Dependencies: the same calls count their records and bytes on the
 * backend's edges of the dependency table (../deps/deps.h), kept in a
 * cache of the backend's for the same client (User:<current_user>,
 * application_name): produce for send() and send_batch(), publish for
 * publish() (counted when called: a publish() rolled back counts too),
 * consume for consume(), with no group (it has none); background workers'
 * calls (nagare's ingest worker) are not counted.
 *
 * The wall: both functions return every row to superusers and to roles
 * with DESCRIBE on the CLUSTER (the ACL evaluator, acl/acl.h), and to
 * other roles only the rows of their own principal and of the principals
 * of the tenants they administer.  They decide in C, so calling them
 * directly shows no more than the views.  The tenant admins come from
 * nagare.tenant_principal, read as the bootstrap superuser (the table is
 * not readable by PUBLIC); so does the tenant shown for a principal whose
 * usage was counted without one.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "acl/acl.h"
#include "deps/deps.h"
#include "kafka/protocol.h"
#include "quota/quota.h"
#include "sql/client_usage.h"
#include "topic/catalog.h"
#include "usage/usage.h"

PG_FUNCTION_INFO_V1(nagare_client_usage_rows);
PG_FUNCTION_INFO_V1(nagare_connections_rows);
PG_FUNCTION_INFO_V1(nagare_reset_client_usage);

static const char *const sql_call_names[NAGARE_SQL_NCALLS] = {
	[NAGARE_SQL_SEND] = "send",
	[NAGARE_SQL_SEND_BATCH] = "send_batch",
	[NAGARE_SQL_PUBLISH] = "publish",
	[NAGARE_SQL_CONSUME] = "consume",
};

/* net.h's NagareSecurityProtocol, by code */
static const char *const security_names[] = {
	"PLAINTEXT",
	"SSL",
	"SASL_PLAINTEXT",
	"SASL_SSL",
};

/*---- accounting of SQL callers ----*/

static int	my_slot = -1;
static Oid	my_role = InvalidOid;
static char my_app[NAGARE_USAGE_CLIENT_ID_MAX];
static uint64 my_quota_version;
static bool my_exit_registered = false;

static void
detach_at_exit(int code, Datum arg)
{
	if (my_slot >= 0 && nagare_usage != NULL)
		nagare_usage_detach(my_slot);
	my_slot = -1;
}

/* This backend's slot for current_user and application_name */
static int
my_usage_slot(void)
{
	Oid			role = GetUserId();
	const char *app = application_name ? application_name : "";
	char	   *name;
	char		principal[NAGARE_USAGE_PRINCIPAL_MAX];
	char		tenant[NAGARE_TENANT_NAME_MAX];

	if (my_slot >= 0 && role == my_role && strncmp(app, my_app, sizeof(my_app) - 1) == 0 &&
		my_quota_version == nagare_quota_version())
		return my_slot;

	name = GetUserNameFromId(role, false);
	snprintf(principal, sizeof(principal), "User:%s", name);
	tenant[0] = '\0';
	my_quota_version = nagare_quota_version();
	(void) nagare_quota_tenant_of(name, tenant);
	if (!my_exit_registered)
	{
		before_shmem_exit(detach_at_exit, (Datum) 0);
		my_exit_registered = true;
	}
	if (my_slot >= 0)
		nagare_usage_detach(my_slot);
	my_slot =
		nagare_usage_attach(NAGARE_USAGE_SOURCE_SQL, tenant, principal, app, strlen(app));
	my_role = role;
	strlcpy(my_app, app, sizeof(my_app));
	return my_slot;
}

TimestampTz
nagare_sql_usage_begin(void)
{
	return nagare_client_usage ? GetCurrentTimestamp() : 0;
}

void
nagare_sql_usage_count(NagareSqlCall call, TimestampTz start, uint64 bytes_in,
					   uint64 records_in, uint64 bytes_out, uint64 records_out)
{
	int			slot;
	TimestampTz now;

	if (!nagare_client_usage || start == 0 || nagare_usage == NULL)
		return;
	slot = my_usage_slot();
	now = GetCurrentTimestamp();
	nagare_usage_count_request(slot, call);
	if (bytes_in > 0)
		nagare_usage_add(slot, NAGARE_USAGE_BYTES_IN, bytes_in);
	if (records_in > 0)
		nagare_usage_add(slot, NAGARE_USAGE_RECORDS_IN, records_in);
	if (bytes_out > 0)
		nagare_usage_add(slot, NAGARE_USAGE_BYTES_OUT, bytes_out);
	if (records_out > 0)
		nagare_usage_add(slot, NAGARE_USAGE_RECORDS_OUT, records_out);
	if (now > start)
		nagare_usage_add(slot, NAGARE_USAGE_TIME_US, (uint64) (now - start));
}

static NagareDepsCache my_deps;

void
nagare_sql_deps_count(int kind, int32 topic_id, uint64 records, uint64 bytes)
{
	const char *app = application_name ? application_name : "";
	Oid role = GetUserId();
	static Oid deps_role = InvalidOid;

	/* nagare's own workers (the ingest worker reading its topics) are no clients */
	if (!nagare_track_dependencies || nagare_deps == NULL || MyBackendType != B_BACKEND)
		return;
	if (!my_deps.has_client || role != deps_role ||
		my_deps.quota_version != nagare_quota_version() ||
		strncmp(app, my_deps.client.client_id, NAGARE_USAGE_CLIENT_ID_MAX - 1) != 0)
	{
		char *name = GetUserNameFromId(role, false);
		char principal[NAGARE_USAGE_PRINCIPAL_MAX];
		char tenant[NAGARE_TENANT_NAME_MAX];

		snprintf(principal, sizeof(principal), "User:%s", name);
		tenant[0] = '\0';
		my_deps.quota_version = nagare_quota_version();
		(void) nagare_quota_tenant_of(name, tenant);
		nagare_deps_set_client(&my_deps, NAGARE_USAGE_SOURCE_SQL, tenant, principal, app,
							   strlen(app));
		deps_role = role;
	}
	nagare_deps_count(&my_deps, topic_id, (NagareDepsKind) kind, records, bytes);
}

/*---- the wall ----*/

/* Who may see what: all rows, or those of these principals */
typedef struct Wall
{
	bool		all;
	List	   *visible;		/* principals ("User:<role>") */
	List	   *roles;			/* tenant_principal: "User:<role>" ... */
	List	   *tenants;		/* ... and its tenant, in step */
} Wall;

static void
build_wall(Wall *wall)
{
	char	   *me = GetUserNameFromId(GetUserId(), false);
	Oid			save_userid;
	int			save_sec;
	MemoryContext cxt = CurrentMemoryContext;
	uint64		i;

	memset(wall, 0, sizeof(*wall));
	wall->all =
		nagare_acl_current_user_authorized(KAFKA_RESOURCE_CLUSTER,
										   NAGARE_ACL_CLUSTER_NAME, KAFKA_ACL_DESCRIBE);
	wall->visible = lappend(wall->visible, psprintf("User:%s", me));

	/* nagare.tenant_principal is not PUBLIC's: read it as the superuser */
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		Datum		arg = CStringGetTextDatum(me);
		Oid			argtype = TEXTOID;

		SPI_connect();
		if (SPI_execute_with_args("SELECT 'User:' || m.role::text, m.tenant,"
								  "       EXISTS (SELECT 1 FROM nagare.tenant_principal a"
								  "                WHERE a.tenant = m.tenant AND a.is_admin"
								  "                  AND a.role::text = $1)"
								  "  FROM nagare.tenant_principal m",
								  1, &argtype, &arg, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read nagare.tenant_principal");
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			MemoryContext old = MemoryContextSwitchTo(cxt);
			char	   *principal = SPI_getvalue(tup, desc, 1);
			char	   *tenant = SPI_getvalue(tup, desc, 2);

			wall->roles = lappend(wall->roles, principal);
			wall->tenants = lappend(wall->tenants, tenant);
			if (DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)) && !isnull)
				wall->visible = lappend(wall->visible, principal);
			MemoryContextSwitchTo(old);
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
}

static bool
wall_allows(const Wall *wall, const char *principal)
{
	ListCell   *lc;

	if (wall->all)
		return true;
	if (principal == NULL)
		return false;
	foreach (lc, wall->visible)
	{
		if (strcmp((const char *) lfirst(lc), principal) == 0)
			return true;
	}
	return false;
}

/* the principal's tenant by nagare.tenant_principal, or NULL */
static const char *
wall_tenant(const Wall *wall, const char *principal)
{
	ListCell   *r;
	ListCell   *t;

	forboth (r, wall->roles, t, wall->tenants)
	{
		if (strcmp((const char *) lfirst(r), principal) == 0)
			return (const char *) lfirst(t);
	}
	return NULL;
}

/*---- rows ----*/

/* s as text; bytes that are not valid in the database encoding become '?' */
static Datum
text_datum(const char *s)
{
	int			len = strlen(s);

	if (!pg_verifymbstr(s, len, true))
	{
		char	   *copy = pstrdup(s);
		int			i;

		for (i = 0; i < len; i++)
			if ((unsigned char) copy[i] >= 0x80 || copy[i] < 0x20)
				copy[i] = '?';
		return CStringGetTextDatum(copy);
	}
	return CStringGetTextDatum(s);
}

static void
json_key_count(StringInfo buf, bool *first, const char *key, uint64 n)
{
	appendStringInfoString(buf, *first ? "" : ", ");
	*first = false;
	escape_json(buf, key);
	appendStringInfo(buf, ": " UINT64_FORMAT, n);
}

/* {"Produce": n, ...} (Kafka) or {"send": n, ...} (SQL) */
static Datum
requests_json(const NagareUsageRow *row)
{
	StringInfoData buf;
	bool		first = true;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < NAGARE_USAGE_NAPIS; i++)
	{
		char		num[16];
		const char *name;

		if (row->requests[i] == 0)
			continue;
		if (row->key.source == NAGARE_USAGE_SOURCE_SQL)
			name = i < NAGARE_SQL_NCALLS ? sql_call_names[i] : "other";
		else if (i == NAGARE_USAGE_NAPIS - 1)
			name = "other";
		else
		{
			name = kafka_api_name((int16) i);
			if (strcmp(name, "?") == 0)
			{
				snprintf(num, sizeof(num), "%d", i);
				name = num;
			}
		}
		json_key_count(&buf, &first, name, row->requests[i]);
	}
	appendStringInfoChar(&buf, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/* {"NOT_LEADER_OR_FOLLOWER": n, ...} of counts by error code + 1 */
static Datum
errors_json(const uint64 *errors)
{
	StringInfoData buf;
	bool		first = true;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < NAGARE_USAGE_NERRORS; i++)
	{
		char		num[16];
		const char *name;

		if (errors[i] == 0)
			continue;
		if (i == NAGARE_USAGE_NERRORS - 1)
			name = "other";
		else
		{
			name = kafka_error_name((int16) (i - 1));
			if (strcmp(name, "?") == 0)
			{
				snprintf(num, sizeof(num), "%d", i - 1);
				name = num;
			}
		}
		json_key_count(&buf, &first, name, errors[i]);
	}
	appendStringInfoChar(&buf, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/* the scalar counters shown, in column order, since start and last minute */
static const NagareUsageCounter shown[] =
	{NAGARE_USAGE_REQUESTS,   NAGARE_USAGE_BYTES_IN,    NAGARE_USAGE_BYTES_OUT,
	NAGARE_USAGE_RECORDS_IN, NAGARE_USAGE_RECORDS_OUT, NAGARE_USAGE_TIME_US,
	 NAGARE_USAGE_ERRORS,     NAGARE_USAGE_THROTTLE_MS};

#define CLIENT_USAGE_COLS (8 + 2 * lengthof(shown) + 2 + 3 + 2)

/* latency buckets' counts (produce or publish), as bigint[] */
static Datum
latency_array(const uint64 *buckets)
{
	Datum elems[NAGARE_USAGE_NLATENCY];
	int i;

	for (i = 0; i < NAGARE_USAGE_NLATENCY; i++)
		elems[i] = Int64GetDatum((int64) buckets[i]);
	return PointerGetDatum(construct_array(elems, NAGARE_USAGE_NLATENCY, INT8OID, 8,
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * nagare._client_usage(): a row per client slot the caller may see (see
 * the wall above); the overflow row only once something was counted in it.
 */
Datum
nagare_client_usage_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Wall		wall;
	NagareUsageRow *row;
	int			slot;

	if (nagare_usage == NULL)
		nagare_check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	build_wall(&wall);
	row = palloc(sizeof(NagareUsageRow));

	for (slot = 0; slot <= nagare_usage->max; slot++)
	{
		Datum		values[CLIENT_USAGE_COLS];
		bool		nulls[CLIENT_USAGE_COLS];
		bool		overflow = slot == nagare_usage->max;
		const char *tenant;
		int			n = 0;
		int			i;

		if (!nagare_usage_read(slot, row))
			continue;
		if (overflow && row->attached == 0 && row->counters[NAGARE_USAGE_REQUESTS] == 0)
			continue;
		if (!wall_allows(&wall, overflow ? NULL : row->key.principal))
			continue;
		memset(nulls, 0, sizeof(nulls));
		values[n++] =
			CStringGetTextDatum(overflow                                     ? "overflow"
								: row->key.source == NAGARE_USAGE_SOURCE_SQL ? "sql"
																			 : "kafka");
		tenant = row->key.tenant[0] != '\0' ? row->key.tenant
				 : overflow                 ? NULL
											: wall_tenant(&wall, row->key.principal);
		nulls[n] = tenant == NULL;
		values[n++] = tenant ? text_datum(tenant) : (Datum) 0;
		nulls[n] = overflow;
		values[n++] = overflow ? (Datum) 0 : text_datum(row->key.principal);
		nulls[n] = overflow;
		values[n++] = overflow ? (Datum) 0 : text_datum(row->key.client_id);
		values[n++] = Int32GetDatum((int32) row->attached);
		values[n++] = Int64GetDatum((int64) row->counters[NAGARE_USAGE_CONNECTIONS]);
		values[n++] = requests_json(row);
		values[n++] = errors_json(row->errors);
		for (i = 0; i < lengthof(shown); i++)
			values[n++] = Int64GetDatum((int64) row->counters[shown[i]]);
		for (i = 0; i < lengthof(shown); i++)
		{
			uint64		now = row->counters[shown[i]];
			uint64		ago = row->minute_ago[shown[i]];

			nulls[n] = !row->minute_valid;
			values[n++] = Int64GetDatum(now > ago ? (int64) (now - ago) : 0);
		}
		values[n++] = TimestampTzGetDatum(row->since);
		values[n++] = TimestampTzGetDatum(row->last_active);
		values[n++] = errors_json(row->produce_results);
		values[n++] = latency_array(row->produce_latency);
		values[n++] = Int64GetDatum((int64) row->produce_latency_us);
		values[n++] = latency_array(row->publish_latency);
		values[n++] = Int64GetDatum((int64) row->publish_latency_us);
		Assert(n == CLIENT_USAGE_COLS);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

#define CONNECTIONS_COLS	13

/*
 * nagare._connections(): the broker's live Kafka connections the caller
 * may see (by their principal, as client_usage).
 */
Datum
nagare_connections_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Wall		wall;
	NagareConnEntry *copy;
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	if (nagare_conn_table == NULL)
		nagare_check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	build_wall(&wall);
	copy = palloc(sizeof(NagareConnEntry));

	for (i = 0; i < nagare_conn_table->max; i++)
	{
		NagareConnEntry *e = &nagare_conn_table->entries[i];
		Datum		values[CONNECTIONS_COLS];
		bool		nulls[CONNECTIONS_COLS];
		bool		got = false;
		const char *tenant;
		char	   *colon;
		int			attempt;
		int			n = 0;

		for (attempt = 0; attempt < 100 && !got; attempt++)
		{
			uint32		before = pg_atomic_read_u32(&e->change);

			if (before % 2 != 0)
			{
				pg_spin_delay();
				continue;
			}
			pg_read_barrier();
			memcpy(copy, e, sizeof(NagareConnEntry));
			pg_read_barrier();
			got = pg_atomic_read_u32(&e->change) == before;
		}
		if (!got || !copy->used || !wall_allows(&wall, copy->principal))
			continue;
		/* the copy's strings end within their arrays: the broker writes them so */
		memset(nulls, 0, sizeof(nulls));
		values[n++] = Int64GetDatum((int64) copy->id);
		values[n++] = text_datum(copy->listener);
		values[n++] = CStringGetTextDatum(copy->security < lengthof(security_names)
											  ? security_names[copy->security]
											  : "?");
		tenant =
			copy->tenant[0] != '\0' ? copy->tenant : wall_tenant(&wall, copy->principal);
		nulls[n] = tenant == NULL;
		values[n++] = tenant ? text_datum(tenant) : (Datum) 0;
		values[n++] = text_datum(copy->principal);
		values[n++] = text_datum(copy->client_id);
		nulls[n] = copy->software_name[0] == '\0';
		values[n++] = text_datum(copy->software_name);
		nulls[n] = copy->software_version[0] == '\0';
		values[n++] = text_datum(copy->software_version);
		/* peer: "host:port" (an IPv6 host has colons of its own) */
		colon = strrchr(copy->peer, ':');
		if (colon != NULL)
		{
			*colon = '\0';
			values[n++] = text_datum(copy->peer);
			values[n++] = Int32GetDatum(atoi(colon + 1));
		}
		else
		{
			nulls[n++] = true;
			nulls[n++] = true;
		}
		values[n++] = TimestampTzGetDatum(copy->since);
		values[n++] = Int32GetDatum(copy->in_flight);
		nulls[n] = copy->muted_until <= now;
		values[n++] = TimestampTzGetDatum(copy->muted_until);
		Assert(n == CONNECTIONS_COLS);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * nagare.reset_client_usage(): zero every counter and forget the clients
 * without live connections; the platform's (ALTER on the CLUSTER).
 */
Datum
nagare_reset_client_usage(PG_FUNCTION_ARGS)
{
	if (nagare_usage == NULL)
		nagare_check_loaded();
	nagare_acl_require(KAFKA_RESOURCE_CLUSTER, NAGARE_ACL_CLUSTER_NAME, KAFKA_ACL_ALTER);
	nagare_usage_reset();
	PG_RETURN_VOID();
}
