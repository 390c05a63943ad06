/*-------------------------------------------------------------------------
 *
 * acls.c
 *	  The SQL surface of ACLs: nagare.create_acl(), nagare.authorized(),
 *	  nagare.authorize(), nagare.acl_matches() and the trigger that tells
 *	  the nagare worker nagare.acl changed.
 *
 * nagare.acl is guarded by row-level security whose policies ask the ACLs
 * themselves (DESCRIBE or ALTER on the CLUSTER, or on the ACL's own
 * resource: that delegates a namespace's ACLs to its tenant's admins), so
 * these functions run
 * with the caller's rights; nagare.delete_acls() is SQL over
 * nagare.acl_matches().  Validation is the broker's (acl/acl.c), so an ACL
 * refused from psql is refused from Kafka's tools with the same message.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "acl/acl.h"
#include "sql/send.h"

PG_FUNCTION_INFO_V1(nagare_acl_changed);
PG_FUNCTION_INFO_V1(nagare_sql_authorized);
PG_FUNCTION_INFO_V1(nagare_sql_authorize);
PG_FUNCTION_INFO_V1(nagare_acl_matches);
PG_FUNCTION_INFO_V1(nagare_create_acl);
PG_FUNCTION_INFO_V1(nagare_acl_status);

/* A code from its name, or ERROR 22023 naming what was expected */
static int
code_of(int (*lookup) (const char *), const char *what, const char *name,
		const char *expected)
{
	int			code = lookup(name);

	if (code == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s \"%s\"", what, name),
				 errhint("Use %s.", expected)));
	return code;
}

#define RESOURCE_TYPES	"TOPIC, GROUP, CLUSTER or TRANSACTIONAL_ID"
#define OPERATIONS		"ALL, READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, CLUSTER_ACTION, " \
						"DESCRIBE_CONFIGS, ALTER_CONFIGS or IDEMPOTENT_WRITE"

/* trigger nagare._acl_changed(): after any statement that changed nagare.acl */
Datum
nagare_acl_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "nagare._acl_changed() is a trigger function");
	nagare_xact_note_acl_change();
	return PointerGetDatum(NULL);
}

/* The resource type and operation arguments 0 and 2, checked */
static void
resource_and_operation(FunctionCallInfo fcinfo, int *rtype, int *op)
{
	*rtype = code_of(nagare_acl_resource_type_code, "resource type",
					 text_to_cstring(PG_GETARG_TEXT_PP(0)), RESOURCE_TYPES);
	*op = code_of(nagare_acl_operation_code, "operation",
				  text_to_cstring(PG_GETARG_TEXT_PP(2)), OPERATIONS);
}

/* nagare.authorized(resource_type, resource_name, operation) */
Datum
nagare_sql_authorized(PG_FUNCTION_ARGS)
{
	int			rtype;
	int			op;

	resource_and_operation(fcinfo, &rtype, &op);
	PG_RETURN_BOOL(nagare_acl_current_user_authorized(rtype, text_to_cstring(PG_GETARG_TEXT_PP(1)),
													  op));
}

/* nagare.authorize(resource_type, resource_name, operation) */
Datum
nagare_sql_authorize(PG_FUNCTION_ARGS)
{
	int			rtype;
	int			op;

	resource_and_operation(fcinfo, &rtype, &op);
	nagare_acl_require(rtype, text_to_cstring(PG_GETARG_TEXT_PP(1)), op);
	PG_RETURN_VOID();
}

/* Argument i as a C string, or NULL */
static char *
arg_cstring(FunctionCallInfo fcinfo, int i)
{
	return PG_ARGISNULL(i) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(i));
}

/*
 * nagare.acl_matches(ACL columns..., filter columns...): whether the
 * stored ACL (arguments 0-6) matches the filter (7-13).  A filter code that
 * is unknown is an ERROR (22023), as Kafka refuses such filters.
 */
Datum
nagare_acl_matches(PG_FUNCTION_ARGS)
{
	NagareAclEntry e;
	NagareAclFilter f;
	char	   *s;
	int			i;

	for (i = 0; i < 7; i++)
		if (PG_ARGISNULL(i))
			PG_RETURN_NULL();
	memset(&e, 0, sizeof(e));
	e.resource_type = nagare_acl_resource_type_code(arg_cstring(fcinfo, 0));
	strlcpy(e.name, arg_cstring(fcinfo, 1), sizeof(e.name));
	e.pattern_type = nagare_acl_pattern_code(arg_cstring(fcinfo, 2));
	strlcpy(e.principal, arg_cstring(fcinfo, 3), sizeof(e.principal));
	strlcpy(e.host, arg_cstring(fcinfo, 4), sizeof(e.host));
	e.operation = nagare_acl_operation_code(arg_cstring(fcinfo, 5));
	e.permission = nagare_acl_permission_code(arg_cstring(fcinfo, 6));

	s = arg_cstring(fcinfo, 7);
	f.resource_type = s ? nagare_acl_resource_type_code(s) : KAFKA_RESOURCE_ANY;
	f.name = arg_cstring(fcinfo, 8);
	s = arg_cstring(fcinfo, 9);
	f.pattern_type = s ? nagare_acl_pattern_code(s) : NAGARE_ACL_PATTERN_ANY;
	f.principal = arg_cstring(fcinfo, 10);
	f.host = arg_cstring(fcinfo, 11);
	s = arg_cstring(fcinfo, 12);
	f.operation = s ? nagare_acl_operation_code(s) : KAFKA_ACL_ANY;
	s = arg_cstring(fcinfo, 13);
	f.permission = s ? nagare_acl_permission_code(s) : NAGARE_ACL_PERMISSION_ANY;
	if ((s = unconstify(char *, nagare_acl_filter_invalid(&f))) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid ACL filter: %s", s),
				 errhint("Resource types: ANY, " RESOURCE_TYPES "; patterns: ANY, MATCH, LITERAL, PREFIXED; "
						 "operations: ANY, " OPERATIONS "; permissions: ANY, ALLOW, DENY.")));
	PG_RETURN_BOOL(nagare_acl_filter_matches(&f, &e));
}

/*
 * nagare.create_acl(resource_type, resource_name, principal, operation,
 * permission, host, pattern_type): add an ACL; false if it existed.  Needs
 * ALTER on the CLUSTER or on the ACL's resource (or superuser).
 */
Datum
nagare_create_acl(PG_FUNCTION_ARGS)
{
	NagareAclEntry e;
	const char *invalid;
	Datum		args[7];
	Oid			types[7] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	int			ret;
	int			i;

	for (i = 0; i < 7; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("the arguments of nagare.create_acl() must not be null")));

	memset(&e, 0, sizeof(e));
	e.resource_type = code_of(nagare_acl_resource_type_code, "resource type",
							  arg_cstring(fcinfo, 0), RESOURCE_TYPES);
	e.operation = code_of(nagare_acl_operation_code, "operation",
						  arg_cstring(fcinfo, 3), OPERATIONS);
	e.permission = code_of(nagare_acl_permission_code, "permission",
						   arg_cstring(fcinfo, 4), "ALLOW or DENY");
	e.pattern_type = code_of(nagare_acl_pattern_code, "pattern type",
							 arg_cstring(fcinfo, 6), "LITERAL or PREFIXED");
	if (strlen(arg_cstring(fcinfo, 1)) > NAGARE_ACL_NAME_MAX ||
		strlen(arg_cstring(fcinfo, 2)) >= NAGARE_ACL_PRINCIPAL_MAX ||
		strlen(arg_cstring(fcinfo, 5)) >= NAGARE_ACL_HOST_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("ACL resource name, principal or host too long"),
				 errhint("Resource names have at most %d bytes, principals %d, hosts %d.",
						 NAGARE_ACL_NAME_MAX, NAGARE_ACL_PRINCIPAL_MAX - 1,
						 NAGARE_ACL_HOST_MAX - 1)));
	strlcpy(e.name, arg_cstring(fcinfo, 1), sizeof(e.name));
	strlcpy(e.principal, arg_cstring(fcinfo, 2), sizeof(e.principal));
	strlcpy(e.host, arg_cstring(fcinfo, 5), sizeof(e.host));
	if ((invalid = nagare_acl_binding_invalid(&e)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid ACL: %s", invalid)));

	/* ALTER on the CLUSTER, or on the ACL's own resource (delegation) */
	if (!nagare_acl_current_user_authorized(KAFKA_RESOURCE_CLUSTER, NAGARE_ACL_CLUSTER_NAME,
											KAFKA_ACL_ALTER))
		nagare_acl_require(e.resource_type, e.name, KAFKA_ACL_ALTER);

	/* the shared copy's count: the worker's last reading of the table */
	if (nagare_acls->count >= nagare_acls->max)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many ACLs: nagare.max_acls = %d", nagare_acls->max),
				 errhint("Delete ACLs with nagare.delete_acls(), or raise nagare.max_acls and restart the server.")));

	args[0] = CStringGetTextDatum(nagare_acl_resource_type_name(e.resource_type));
	args[1] = CStringGetTextDatum(e.name);
	args[2] = CStringGetTextDatum(nagare_acl_pattern_name(e.pattern_type));
	args[3] = CStringGetTextDatum(e.principal);
	args[4] = CStringGetTextDatum(e.host);
	args[5] = CStringGetTextDatum(nagare_acl_operation_name(e.operation));
	args[6] = CStringGetTextDatum(nagare_acl_permission_name(e.permission));

	SPI_connect();
	ret = SPI_execute_with_args("INSERT INTO nagare.acl (resource_type, resource_name, pattern_type, "
								"principal, host, operation, permission) "
								"VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
								7, types, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not insert into nagare.acl: %s", SPI_result_code_string(ret));
	ret = SPI_processed > 0;
	SPI_finish();
	PG_RETURN_BOOL(ret);
}

/*
 * nagare.acl_status(): the shared copy of nagare.acl as every process
 * decides from it, and the denials counted since server start.
 */
Datum
nagare_acl_status(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	LWLockAcquire(nagare_acls->lock, LW_SHARED);
	values[0] = BoolGetDatum(nagare_acls->loaded);
	values[1] = Int32GetDatum(nagare_acls->count);
	values[2] = BoolGetDatum(nagare_acls->overflow);
	LWLockRelease(nagare_acls->lock);
	values[3] = Int64GetDatum((int64) pg_atomic_read_u64(&nagare_acls->version));
	values[4] = BoolGetDatum(nagare_acl_allow_everyone());
	values[5] = Int64GetDatum((int64) pg_atomic_read_u64(&nagare_acls->denied));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
