/*-------------------------------------------------------------------------
 *
 * topics.c
 *	  Topic DDL: nagare.create_topic(), alter_topic(), delete_topic().
 *
 * Topic DDL is transactional because it is rows of nagare.topic and nothing
 * else: a new topic gets no files until records are appended, which only a
 * later transaction can do (appends to a topic created by the current
 * transaction are refused), so rolling back a create leaves nothing behind.
 * A delete marks the row; once it commits, the nagare worker tells the broker,
 * which removes the files, and then removes the row.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "acl/acl.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "decode/decode.h"
#include "topic/config.h"
#include "queue/queue.h"
#include "topic/catalog.h"
#include "sql/send.h"

PG_FUNCTION_INFO_V1(nagare_create_topic);
PG_FUNCTION_INFO_V1(nagare_alter_topic);
PG_FUNCTION_INFO_V1(nagare_delete_topic);
PG_FUNCTION_INFO_V1(nagare_topic_config);

static void
check_partition_count(int32 partitions)
{
	if (partitions < 1 || partitions > 100000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid partition count %d", partitions),
				 errhint("A topic has between 1 and 100000 partitions.")));
}

/*
 * Run a query of the limit checks below as a superuser: past row-level
 * security (a role may not see every topic that takes room), and with
 * EXECUTE on nagare._tenant_check(), which PUBLIC does not have.
 */
static int
spi_execute_as_superuser(const char *sql, int nargs, Oid *types, Datum *args)
{
	Oid save_userid;
	int save_sec_context;
	int ret;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec_context |
													  SECURITY_LOCAL_USERID_CHANGE |
													  SECURITY_RESTRICTED_OPERATION);
	ret = SPI_execute_with_args(sql, nargs, types, args, NULL, false, 1);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return ret;
}

/*
 * The limits of the tenant whose namespace holds the topic
 * (nagare._tenant_check(): SQLSTATE 53400, POLICY_VIOLATION to Kafka
 * clients), with the topic's partition count and effective retention.ms
 * after the change.  Caller has SPI connected.
 */
static void
tenant_check(const char *name, int32 partitions, const NagareTopicConfig *overrides,
			 bool creating)
{
	NagareTopicConfig effective;
	Datum		args[4];
	Oid			types[4] = {TEXTOID, INT4OID, INT8OID, BOOLOID};
	int			ret;

	nagare_config_defaults(&effective);
	nagare_config_apply(overrides, &effective);
	args[0] = CStringGetTextDatum(name);
	args[1] = Int32GetDatum(partitions);
	args[2] = Int64GetDatum(effective.retention_ms);
	args[3] = BoolGetDatum(creating);
	ret = spi_execute_as_superuser("SELECT nagare._tenant_check($1, $2, $3, $4)", 4,
								   types, args);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not check the limits of topic \"%s\": %s", name,
			 SPI_result_code_string(ret));
}

/*
 * The server's limits, where they are declared: nagare.max_topics topics
 * and nagare.max_partitions partitions over all live topics (the sizes of
 * the shared topic and partition tables), with the topic called name having
 * partitions partitions after the change.  SQLSTATE 53400, POLICY_VIOLATION
 * to Kafka clients (broker/errmap.c).  Caller has SPI connected.
 */
static void
server_limits_check(const char *name, int32 partitions, bool creating)
{
	Datum arg = CStringGetTextDatum(name);
	Oid argtype = TEXTOID;
	int ret;
	bool isnull;
	int64 topics;
	int64 others;

	ret =
		spi_execute_as_superuser("SELECT count(*), coalesce(sum(partitions), 0)::bigint "
								 "FROM nagare.topic WHERE deleted_at IS NULL AND name <> $1",
								 1, &argtype, &arg);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not count topics: %s", SPI_result_code_string(ret));
	topics = DatumGetInt64(
		SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	others = DatumGetInt64(
		SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));

	if (creating && topics + 1 > nagare_max_topics)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many topics: nagare.max_topics is %d", nagare_max_topics),
				 errhint(
					 "Delete unused topics, or raise nagare.max_topics and restart the server.")));
	if (others + partitions > nagare_max_partitions)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many partitions: nagare.max_partitions is %d",
						nagare_max_partitions),
				 errdetail("Topics other than \"%s\" have %lld partitions; it would have %d.",
						   name, (long long) others, partitions),
				 errhint(
					 "Use fewer partitions, delete unused topics, or raise nagare.max_partitions and restart the server.")));
}

/*
 * Serialise creators and deleters of one topic name until the end of the
 * transaction, so that a create waits for a concurrent create or delete of
 * the same name to commit or roll back, and then sees its outcome.
 */
static void
lock_topic_name(const char *name)
{
	Datum		arg = CStringGetTextDatum(name);
	Oid			argtype = TEXTOID;
	int			ret;

	ret = SPI_execute_with_args("SELECT pg_catalog.pg_advisory_xact_lock("
								"'nagare.topic'::regclass::oid::integer, hashtext($1))",
								1, &argtype, &arg, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not lock topic name \"%s\": %s", name, SPI_result_code_string(ret));
}

/* Lock the topic's row; returns false if there is no such live topic */
static bool
lock_topic(const char *name, int32 *id, int32 *partitions, Jsonb **config)
{
	Datum		arg = CStringGetTextDatum(name);
	Oid			argtype = TEXTOID;
	bool		isnull;
	int			ret;

	ret = SPI_execute_with_args("SELECT id, partitions, config FROM nagare.topic "
								"WHERE name = $1 AND deleted_at IS NULL FOR UPDATE",
								1, &argtype, &arg, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look up topic \"%s\": %s", name, SPI_result_code_string(ret));
	if (SPI_processed == 0)
		return false;
	*id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*partitions = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (config)
		*config = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	return true;
}

static void
no_such_topic(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("topic \"%s\" does not exist", name),
			 errhint("List topics in nagare.topics.")));
}

/*
 * A topic's own max.message.bytes must fit the append ring.  (The server
 * default is not checked here: a batch that does not fit is refused when it
 * is sent, with a hint.)
 */
static void
check_config(const NagareTopicConfig *overrides)
{
	if (overrides->max_message_bytes != NAGARE_CONFIG_UNSET &&
		overrides->max_message_bytes > (int64) nagare_queue_max_batch())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max.message.bytes %lld is larger than the append ring allows",
						(long long) overrides->max_message_bytes),
				 errhint("Batches may take at most a quarter of nagare.queue_size (%zu bytes); raise nagare.queue_size.",
						 nagare_queue_max_batch())));
}

Datum
nagare_create_topic(PG_FUNCTION_ARGS)
{
	char	   *name;
	int32		partitions;
	Jsonb	   *config;
	NagareTopicConfig overrides;
	Datum		args[4];
	Oid			argtypes[4] = {TEXTOID, INT4OID, JSONBOID, INT4OID};
	int			ret;
	int32		id;
	uint32		max_id;
	bool		isnull;

	nagare_check_loaded();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("topic name must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	partitions = PG_ARGISNULL(1) ? 1 : PG_GETARG_INT32(1);
	config = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);

	if (!nagare_acl_current_user_authorized(KAFKA_RESOURCE_CLUSTER, NAGARE_ACL_CLUSTER_NAME,
											KAFKA_ACL_CREATE))
		nagare_acl_require(KAFKA_RESOURCE_TOPIC, name, KAFKA_ACL_CREATE);
	nagare_validate_topic_name(name);
	check_partition_count(partitions);
	nagare_config_parse(config, &overrides, false);
	check_config(&overrides);

	SPI_connect();
	lock_topic_name(name);
	server_limits_check(name, partitions, true);
	tenant_check(name, partitions, &overrides, true);
	args[0] = CStringGetTextDatum(name);
	ret = SPI_execute_with_args("SELECT 1 FROM nagare.topic WHERE name = $1 AND deleted_at IS NULL",
								1, argtypes, args, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look up topic: %s", SPI_result_code_string(ret));
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("topic \"%s\" already exists", name),
				 errhint("Use nagare.alter_topic() to change its partition count or configuration.")));

	/*
	 * The id must be above every topic id that has files or a partition
	 * entry: after DROP EXTENSION and CREATE EXTENSION the sequence starts
	 * again at 1 while the old topics' files may still be there.
	 */
	nagare_wait_for_broker();
	ret = SPI_execute("SELECT nextval('nagare.topic_id_seq')::integer", false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not allocate a topic id: %s", SPI_result_code_string(ret));
	id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	max_id = pg_atomic_read_u32(&nagare_shared->max_topic_id);
	if ((uint32) id <= max_id)
	{
		id = (int32) max_id + 1;
		args[3] = Int32GetDatum(id);
		ret = SPI_execute_with_args("SELECT setval('nagare.topic_id_seq', $1)",
									1, &argtypes[3], &args[3], NULL, false, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not advance the topic id sequence: %s", SPI_result_code_string(ret));
	}

	args[1] = Int32GetDatum(partitions);
	args[2] = JsonbPGetDatum(nagare_config_to_jsonb(&overrides));
	args[3] = Int32GetDatum(id);
	ret = SPI_execute_with_args("INSERT INTO nagare.topic (name, partitions, config, id) VALUES ($1, $2, $3, $4)",
								4, argtypes, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not insert topic: %s", SPI_result_code_string(ret));
	SPI_finish();

	nagare_xact_note_ddl();
	PG_RETURN_VOID();
}

Datum
nagare_alter_topic(PG_FUNCTION_ARGS)
{
	char	   *name;
	int32		id;
	int32		old_partitions;
	int32		partitions;
	Jsonb	   *old_config;
	NagareTopicConfig overrides;
	Datum		args[3];
	Oid			argtypes[3] = {INT4OID, INT4OID, JSONBOID};
	int			ret;

	nagare_check_loaded();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("topic name must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!PG_ARGISNULL(1))
		nagare_acl_require(KAFKA_RESOURCE_TOPIC, name, KAFKA_ACL_ALTER);
	if (!PG_ARGISNULL(2))
		nagare_acl_require(KAFKA_RESOURCE_TOPIC, name, KAFKA_ACL_ALTER_CONFIGS);

	SPI_connect();
	if (!lock_topic(name, &id, &old_partitions, &old_config))
		no_such_topic(name);

	partitions = old_partitions;
	if (!PG_ARGISNULL(1))
	{
		partitions = PG_GETARG_INT32(1);
		check_partition_count(partitions);
		if (partitions < old_partitions)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("topic \"%s\" has %d partitions and cannot shrink to %d",
							name, old_partitions, partitions),
					 errhint("Kafka topics can only gain partitions: records keep the partition they were written to.")));
	}

	nagare_config_parse(old_config, &overrides, false);
	if (!PG_ARGISNULL(2))
	{
		NagareTopicConfig delta;

		nagare_config_parse(PG_GETARG_JSONB_P(2), &delta, true);
		nagare_config_merge(&overrides, &delta);
	}
	check_config(&overrides);
	if (partitions != old_partitions)
		server_limits_check(name, partitions, false);
	tenant_check(name, partitions, &overrides, false);

	args[0] = Int32GetDatum(id);
	args[1] = Int32GetDatum(partitions);
	args[2] = JsonbPGetDatum(nagare_config_to_jsonb(&overrides));
	ret = SPI_execute_with_args("UPDATE nagare.topic SET partitions = $2, config = $3 WHERE id = $1",
								3, argtypes, args, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "could not update topic: %s", SPI_result_code_string(ret));
	SPI_finish();

	nagare_xact_note_ddl();
	PG_RETURN_VOID();
}

Datum
nagare_delete_topic(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		id;
	int32		partitions;
	Datum		arg;
	Oid			argtype = INT4OID;
	int			ret;

	nagare_acl_require(KAFKA_RESOURCE_TOPIC, name, KAFKA_ACL_DELETE);

	nagare_check_loaded();
	SPI_connect();
	lock_topic_name(name);
	if (!lock_topic(name, &id, &partitions, NULL))
		no_such_topic(name);
	/* a table topic's changes would have nowhere to go */
	{
		char *table = nagare_table_topic_of(name);

		if (table != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("topic \"%s\" is the topic of the table topic of %s", name,
							table),
					 errhint("Drop the table topic first: SELECT nagare.drop_table_topic('%s');",
							 table)));
	}
	arg = Int32GetDatum(id);
	ret = SPI_execute_with_args("UPDATE nagare.topic SET deleted_at = now() WHERE id = $1",
								1, &argtype, &arg, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "could not delete topic: %s", SPI_result_code_string(ret));
	/* the topic's committed consumer offsets go with it, as in Kafka */
	{
		Datum		namearg = CStringGetTextDatum(name);
		Oid			texttype = TEXTOID;

		ret = SPI_execute_with_args("DELETE FROM nagare.group_offset WHERE topic = $1",
									1, &texttype, &namearg, NULL, false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "could not delete the topic's committed offsets: %s",
				 SPI_result_code_string(ret));
	}
	SPI_finish();

	nagare_xact_note_ddl();
	PG_RETURN_VOID();
}

/*
 * nagare.topic_config(overrides jsonb): the effective configuration.
 */
Datum
nagare_topic_config(PG_FUNCTION_ARGS)
{
	NagareTopicConfig overrides;

	nagare_config_parse(PG_GETARG_JSONB_P(0), &overrides, false);
	PG_RETURN_JSONB_P(nagare_config_effective_jsonb(&overrides));
}
