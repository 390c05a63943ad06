/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  The audit trail: the trigger that turns every administrative change
 *	  of nagare's catalog into an append-only row of nagare.audit_log.
 *
 * The trigger (nagare._audit(), AFTER ... FOR EACH ROW) sits on
 * nagare.topic (create_topic, alter_topic, delete_topic), nagare.acl
 * (create_acl, delete_acl), nagare.tenant and nagare.tenant_principal
 * (create_tenant, alter_tenant, drop_tenant, add_tenant_principal,
 * remove_tenant_principal), nagare.quota (set_quota, remove_quota: object
 * type QUOTA, named by the entity), nagare.tenant_quota_cap
 * (set_tenant_quota_cap, remove_tenant_quota_cap: object type TENANT),
 * nagare.service (register_service, alter_service, retire_service,
 * unretire_service: object type SERVICE, named by the service),
 * nagare.service_endpoint (set_service_endpoint, drop_service_endpoint:
 * object type SERVICE_ENDPOINT, named "<service>/<endpoint>"),
 * nagare.service_identity (set_service_identity, drop_service_identity:
 * object type SERVICE_IDENTITY, named
 * "<service>/<source>/<principal>/<client_id>"),
 * nagare.service_slo (set_service_slo, drop_service_slo: object type
 * SERVICE_SLO, named "<service>/<name>"),
 * nagare.declared_dependency (declare_dependency, drop_declared_dependency:
 * object type DEPENDENCY, named "<service>/<kind>/<topic>"),
 * nagare.service_instance (register_instance, deregister_instance and the
 * nagare worker's deregistration of an instance critical too long: object
 * type SERVICE_INSTANCE, named "<service>/<id>"; the worker's writes of a
 * status, which keep registered_at, are not administrative changes) and
 * nagare.group_offset; on the last it records
 * only changes made under an administrative operation, which
 * nagare.reset_group_offsets(), nagare.delete_group() and the nagare worker
 * (DeleteGroups, OffsetDelete) name in nagare.audit_operation: the offset
 * commits of consumers are not administrative changes.
 *
 * Who: current_user, and for a change made for a Kafka client (by the
 * nagare worker, which sets nagare.audit_client: a superuser-only setting,
 * so no role can forge it) the client's principal, address and client.id.
 * What: the operation, the object, and the row before and after as jsonb.
 *
 * The row is inserted with the rights of the bootstrap superuser, so the
 * roles making changes need no privilege on nagare.audit_log, which nobody
 * may update or delete (a trigger refuses it even to superusers).  Its
 * readers are chosen by its row-level security policy.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "nagare.h"

PG_FUNCTION_INFO_V1(nagare_audit_trigger);

/* A row as JSON text, or NULL */
static Datum
row_json(HeapTuple tuple, TupleDesc desc, bool *isnull)
{
	if (tuple == NULL)
	{
		*isnull = true;
		return (Datum) 0;
	}
	*isnull = false;
	return DirectFunctionCall1(row_to_json, heap_copy_tuple_as_datum(tuple, desc));
}

/* A text column of the row, as a C string ("" if null) */
static char *
column(HeapTuple tuple, TupleDesc desc, const char *name)
{
	int			attno = SPI_fnumber(desc, name);
	char	   *v;

	if (attno <= 0)
		return pstrdup("");
	v = SPI_getvalue(tuple, desc, attno);
	return v ? v : pstrdup("");
}

/* trigger nagare._audit() */
Datum
nagare_audit_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	const char *table;
	HeapTuple	before = NULL;
	HeapTuple	after = NULL;
	HeapTuple	row;
	const char *operation;
	const char *object_type;
	char	   *object_name;
	Datum		args[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Oid			types[7] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONOID, JSONOID};
	bool		isnull;
	Oid			save_uid;
	int			save_sec;
	int			ret;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!TRIGGER_FIRED_AFTER(td->tg_event))
		elog(ERROR, "nagare._audit() must be an AFTER ... FOR EACH ROW trigger");
	desc = RelationGetDescr(td->tg_relation);
	table = RelationGetRelationName(td->tg_relation);
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		after = td->tg_trigtuple;
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		before = td->tg_trigtuple;
		after = td->tg_newtuple;
	}
	else
		before = td->tg_trigtuple;
	row = after ? after : before;

	if (strcmp(table, "topic") == 0)
	{
		object_type = "TOPIC";
		if (after == NULL)
			return PointerGetDatum(NULL);	/* a deleted topic's row purged */
		if (before == NULL)
			operation = "create_topic";
		else if (strcmp(column(before, desc, "deleted_at"), "") == 0 &&
				 strcmp(column(after, desc, "deleted_at"), "") != 0)
			operation = "delete_topic";
		else
			operation = "alter_topic";
		object_name = column(row, desc, "name");
	}
	else if (strcmp(table, "acl") == 0)
	{
		object_type = "ACL";
		operation = after == NULL ? "delete_acl" : before == NULL ? "create_acl" : "alter_acl";
		object_name = psprintf("%s:%s:%s", column(row, desc, "resource_type"),
							   column(row, desc, "pattern_type"),
							   column(row, desc, "resource_name"));
	}
	else if (strcmp(table, "group_offset") == 0)
	{
		if (nagare_audit_operation == NULL || nagare_audit_operation[0] == '\0')
			return PointerGetDatum(NULL);	/* an offset commit */
		object_type = "GROUP";
		operation = nagare_audit_operation;
		object_name = column(row, desc, "group_id");
	}
	else if (strcmp(table, "tenant") == 0)
	{
		object_type = "TENANT";
		operation = after == NULL ? "drop_tenant" : before == NULL ? "create_tenant" : "alter_tenant";
		object_name = column(row, desc, "name");
	}
	else if (strcmp(table, "tenant_principal") == 0)
	{
		object_type = "TENANT";
		operation = after == NULL ? "remove_tenant_principal" : "add_tenant_principal";
		object_name = column(row, desc, "tenant");
	}
	else if (strcmp(table, "quota") == 0)
	{
		object_type = "QUOTA";
		operation = after == NULL ? "remove_quota" : "set_quota";
		object_name = column(row, desc, "entity");
	}
	else if (strcmp(table, "tenant_quota_cap") == 0)
	{
		object_type = "TENANT";
		operation = after == NULL ? "remove_tenant_quota_cap" : "set_tenant_quota_cap";
		object_name = column(row, desc, "tenant");
	}
	else if (strcmp(table, "service") == 0)
	{
		object_type = "SERVICE";
		if (after == NULL)
			operation = "delete_service";
		else if (before == NULL)
			operation = "register_service";
		else if (strcmp(column(before, desc, "retired_at"), "") == 0 &&
				 strcmp(column(after, desc, "retired_at"), "") != 0)
			operation = "retire_service";
		else if (strcmp(column(before, desc, "retired_at"), "") != 0 &&
				 strcmp(column(after, desc, "retired_at"), "") == 0)
			operation = "unretire_service";
		else
			operation = "alter_service";
		object_name = column(row, desc, "name");
	}
	else if (strcmp(table, "service_endpoint") == 0)
	{
		object_type = "SERVICE_ENDPOINT";
		operation = after == NULL ? "drop_service_endpoint" : "set_service_endpoint";
		object_name =
			psprintf("%s/%s", column(row, desc, "service"), column(row, desc, "name"));
	}
	else if (strcmp(table, "service_identity") == 0)
	{
		object_type = "SERVICE_IDENTITY";
		operation = after == NULL ? "drop_service_identity" : "set_service_identity";
		object_name = psprintf("%s/%s/%s/%s", column(row, desc, "service"),
							   column(row, desc, "source"), column(row, desc, "principal"),
							   column(row, desc, "client_id"));
	}
	else if (strcmp(table, "service_slo") == 0)
	{
		object_type = "SERVICE_SLO";
		operation = after == NULL ? "drop_service_slo" : "set_service_slo";
		object_name =
			psprintf("%s/%s", column(row, desc, "service"), column(row, desc, "name"));
	}
	else if (strcmp(table, "declared_dependency") == 0)
	{
		object_type = "DEPENDENCY";
		operation = after == NULL ? "drop_declared_dependency" : "declare_dependency";
		object_name = psprintf("%s/%s/%s", column(row, desc, "service"),
							   column(row, desc, "kind"), column(row, desc, "topic"));
	}
	else if (strcmp(table, "service_instance") == 0)
	{
		if (before != NULL && after != NULL &&
			strcmp(column(before, desc, "registered_at"),
				   column(after, desc, "registered_at")) == 0)
			return PointerGetDatum(NULL); /* a status written by the TTL sweep */
		object_type = "SERVICE_INSTANCE";
		operation = after == NULL ? "deregister_instance" : "register_instance";
		object_name =
			psprintf("%s/%s", column(row, desc, "service"), column(row, desc, "id"));
	}
	else
		elog(ERROR, "nagare._audit() is not meant for table \"%s\"", table);

	args[0] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	if (nagare_audit_client != NULL && nagare_audit_client[0] != '\0')
		args[1] = CStringGetTextDatum(nagare_audit_client);
	else
		nulls[1] = 'n';
	args[2] = CStringGetTextDatum(operation);
	args[3] = CStringGetTextDatum(object_type);
	args[4] = CStringGetTextDatum(object_name);
	args[5] = row_json(before, desc, &isnull);
	if (isnull)
		nulls[5] = 'n';
	args[6] = row_json(after, desc, &isnull);
	if (isnull)
		nulls[6] = 'n';

	/* with the rights of the bootstrap superuser; an error restores them */
	GetUserIdAndSecContext(&save_uid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	SPI_connect();
	ret = SPI_execute_with_args("INSERT INTO nagare.audit_log (role, principal, client_host, client_id, "
								"operation, object_type, object_name, \"before\", \"after\") "
								"SELECT $1, c->>'principal', c->>'host', c->>'client_id', $3, $4, $5, "
								"$6::jsonb, $7::jsonb FROM (SELECT $2::jsonb AS c) x",
								7, types, args, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not write nagare.audit_log: %s", SPI_result_code_string(ret));
	SPI_finish();
	SetUserIdAndSecContext(save_uid, save_sec);
	return PointerGetDatum(NULL);
}
