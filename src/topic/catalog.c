/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Topic lookups for SQL functions, and Kafka topic configuration.
 *
 * Topics are rows of nagare.topic.  A backend caches what it looked up, and
 * drops its cache whenever the shared catalog generation moves (any backend's
 * committed topic DDL bumps it) or its own transaction changed topics.  The
 * cache therefore answers "does this topic exist, with how many partitions"
 * as of the latest committed DDL rather than as of the statement's snapshot:
 * send() is not transactional either.
 *
 * Partitions live in the shared partition table (shmem.h).  The first
 * producer of a partition that has no entry creates it with next offset 0:
 * once the broker is ready, every partition with files has an entry, so a
 * partition without one is empty.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "topic/config.h"
#include "topic/catalog.h"

typedef struct TopicCacheEntry
{
	char		name[NAGARE_MAX_TOPIC_NAME + 1];	/* hash key */
	NagareTopicInfo info;
} TopicCacheEntry;

typedef struct PartitionCacheEntry
{
	NagarePartitionKey key;
	NagarePartition *part;
	uint64		incarnation;
} PartitionCacheEntry;

static void *
palloc_for_codec(void *ctx, size_t size)
{
	/* decompressed batches may exceed MaxAllocSize's 1 GB only if asked to */
	return palloc_extended(size, MCXT_ALLOC_HUGE);
}

static void
pfree_for_codec(void *ctx, void *ptr)
{
	pfree(ptr);
}

const KafkaAllocator nagare_palloc_allocator = {palloc_for_codec, pfree_for_codec, NULL};

static HTAB *topic_cache = NULL;
static HTAB *partition_cache = NULL;
static uint64 cache_generation = 0;

/*
 * Refuse to run unless the library was preloaded and we are in the database
 * the nagare worker serves.
 */
void
nagare_check_loaded(void)
{
	if (nagare_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("nagare must be loaded via shared_preload_libraries"),
				 errhint("Add nagare to shared_preload_libraries in postgresql.conf and restart the server.")));
	if (nagare_database == NULL || strcmp(get_database_name(MyDatabaseId), nagare_database) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("nagare serves database \"%s\", not \"%s\"",
						nagare_database, get_database_name(MyDatabaseId)),
				 errhint("Connect to database \"%s\", or set nagare.database and restart the server.",
						 nagare_database)));
}

/*
 * Kafka's rules for topic names (org.apache.kafka.common.internals.Topic):
 * 1 to 249 characters of [a-zA-Z0-9._-], and not "." or "..".
 */
void
nagare_validate_topic_name(const char *name)
{
	size_t		len = strlen(name);
	const char *p;

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("topic name must not be empty")));
	if (len > NAGARE_MAX_TOPIC_NAME)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("topic name \"%.40s...\" is too long", name),
				 errdetail("Topic names are at most %d bytes; this one has %zu.",
						   NAGARE_MAX_TOPIC_NAME, len)));
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("topic name \"%s\" is not allowed", name)));
	for (p = name; *p; p++)
	{
		char		c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("topic name \"%s\" contains an invalid character", name),
					 errhint("Topic names may contain ASCII letters, digits, \".\", \"_\" and \"-\".")));
	}
}

/* Drop what this backend cached about topics and partitions. */
void
nagare_catalog_invalidate(void)
{
	if (topic_cache)
		hash_destroy(topic_cache);
	if (partition_cache)
		hash_destroy(partition_cache);
	topic_cache = NULL;
	partition_cache = NULL;
	cache_generation = 0;
}

static void
cache_check(void)
{
	uint64		gen = pg_atomic_read_u64(&nagare_shared->catalog_generation);
	HASHCTL		info;

	if (topic_cache != NULL && cache_generation == gen)
		return;
	nagare_catalog_invalidate();

	memset(&info, 0, sizeof(info));
	info.keysize = NAGARE_MAX_TOPIC_NAME + 1;
	info.entrysize = sizeof(TopicCacheEntry);
	info.hcxt = TopMemoryContext;
	topic_cache = hash_create("nagare topic cache", 64, &info,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(NagarePartitionKey);
	info.entrysize = sizeof(PartitionCacheEntry);
	info.hcxt = TopMemoryContext;
	partition_cache = hash_create("nagare partition cache", 256, &info,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	cache_generation = gen;
}

/*
 * Share what a backend read from the catalog with the broker, unless the
 * shared topic table already holds something read at a later catalog
 * generation.  The nagare worker does the same for every topic after each
 * change; this closes the gap between a topic's creation and the worker's
 * next pass, so that the first records already follow its settings.
 */
static void
publish_topic(const NagareTopicInfo *info, const NagareTopicConfig *overrides, uint64 generation)
{
	NagareTopic *t;
	bool		found;

	LWLockAcquire(nagare_shared->registry_lock, LW_EXCLUSIVE);
	t = hash_search(nagare_topic_hash, &info->topic_id, HASH_ENTER_NULL, &found);
	if (t != NULL && (!found || t->generation < generation))
	{
		t->generation = generation;
		t->partitions = info->partitions;
		t->deleted = false;
		t->config = *overrides;
		memcpy(t->uuid, info->uuid, sizeof(t->uuid));
		strlcpy(t->name, info->name, sizeof(t->name));
	}
	LWLockRelease(nagare_shared->registry_lock);
	if (t != NULL && (!found || t->generation == generation))
		pg_atomic_fetch_add_u64(&nagare_shared->topic_table_version, 1);
}

/*
 * Look a topic up by name; ERROR if it does not exist.  With for_write, a
 * topic created by the current, uncommitted transaction is refused: appends
 * are not transactional, and would outlive a rollback of the topic.
 */
const NagareTopicInfo *
nagare_lookup_topic(const char *name, bool for_write)
{
	TopicCacheEntry *entry;
	bool		found;
	Datum		arg;
	Oid			argtype = TEXTOID;
	int			ret;
	bool		isnull;
	TransactionId xmin;
	NagareTopicInfo info;
	NagareTopicConfig overrides;

	nagare_check_loaded();
	if (strlen(name) > NAGARE_MAX_TOPIC_NAME)
		nagare_validate_topic_name(name);
	cache_check();

	entry = hash_search(topic_cache, name, HASH_FIND, NULL);
	if (entry != NULL)
		return &entry->info;

	SPI_connect();
	arg = CStringGetTextDatum(name);
	ret = SPI_execute_with_args("SELECT id, partitions, config, xmin, topic_uuid FROM nagare.topic "
								"WHERE name = $1 AND deleted_at IS NULL",
								1, &argtype, &arg, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look up topic \"%s\": %s", name, SPI_result_code_string(ret));
	if (SPI_processed == 0)
	{
		SPI_finish();
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("topic \"%s\" does not exist", name),
				 errhint("Create it with nagare.create_topic(), or list topics in nagare.topics.")));
	}
	memset(&info, 0, sizeof(info));
	info.topic_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	info.partitions = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	memcpy(info.uuid, DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull))->data,
		   sizeof(info.uuid));
	nagare_config_parse(DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull)),
						&overrides, false);
	xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
	strlcpy(info.name, name, sizeof(info.name));
	nagare_config_defaults(&info.config);
	nagare_config_apply(&overrides, &info.config);
	SPI_finish();

	if (TransactionIdIsCurrentTransactionId(xmin))
	{
		if (for_write)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("topic \"%s\" was created or changed by the current transaction", name),
					 errdetail("Records appended now would outlive a rollback of that change."),
					 errhint("Commit the transaction that changes the topic first.")));
		/* don't cache what this transaction may still roll back */
		entry = MemoryContextAlloc(CurTransactionContext, sizeof(TopicCacheEntry));
		entry->info = info;
		return &entry->info;
	}

	publish_topic(&info, &overrides, cache_generation);
	entry = hash_search(topic_cache, name, HASH_ENTER, &found);
	entry->info = info;
	return &entry->info;
}

/*
 * Wait until the broker has recovered every partition on disk, so that a
 * partition without an entry in the shared table is known to be empty.
 */
void
nagare_wait_for_broker(void)
{
	TimestampTz start = 0;

	while (pg_atomic_read_u32(&nagare_shared->broker_state) != NAGARE_BROKER_READY)
	{
		if (start == 0)
			start = GetCurrentTimestamp();
		else if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), nagare_request_timeout_ms))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the nagare broker is not ready"),
					 errhint("Check that the \"nagare broker\" process is running and the server log for its errors; see nagare.request_timeout.")));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The shared entry of a partition, or NULL if it has none.  Caller must have
 * waited for the broker to be ready if absence is to mean "empty".
 */
NagarePartition *
nagare_find_partition(int32 topic_id, int32 partition)
{
	NagarePartitionKey key;
	NagarePartition *part;

	key.topic_id = topic_id;
	key.partition = partition;
	LWLockAcquire(nagare_shared->registry_lock, LW_SHARED);
	part = hash_search(nagare_partition_hash, &key, HASH_FIND, NULL);
	LWLockRelease(nagare_shared->registry_lock);
	return part;
}

/*
 * The shared entry of a partition to append to, created if needed.
 */
NagarePartition *
nagare_get_partition(const NagareTopicInfo *topic, int32 partition, uint64 *incarnation)
{
	NagarePartitionKey key;
	PartitionCacheEntry *ce;
	NagarePartition *part;
	bool		found;

	key.topic_id = topic->topic_id;
	key.partition = partition;
	cache_check();
	ce = hash_search(partition_cache, &key, HASH_FIND, NULL);
	if (ce != NULL)
	{
		*incarnation = ce->incarnation;
		return ce->part;
	}

	part = nagare_find_partition(topic->topic_id, partition);
	if (part == NULL)
	{
		nagare_wait_for_broker();
		LWLockAcquire(nagare_shared->registry_lock, LW_EXCLUSIVE);
		part = hash_search(nagare_partition_hash, &key, HASH_ENTER_NULL, &found);
		if (part == NULL)
		{
			LWLockRelease(nagare_shared->registry_lock);
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many partitions: nagare.max_partitions is %d", nagare_max_partitions),
					 errhint("Delete unused topics, or raise nagare.max_partitions and restart the server.")));
		}
		if (!found)
			nagare_partition_init_new(part);
		LWLockRelease(nagare_shared->registry_lock);
		nagare_note_topic_id(topic->topic_id);
	}

	if (part->state != NAGARE_PART_OPEN)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("topic \"%s\" is being deleted", topic->name)));

	ce = hash_search(partition_cache, &key, HASH_ENTER, &found);
	ce->part = part;
	ce->incarnation = part->incarnation;
	*incarnation = ce->incarnation;
	return part;
}

/*---- Topic configuration ----*/

typedef enum ConfigKind
{
	CONFIG_INT,
	CONFIG_COMPRESSION,
	CONFIG_CLEANUP_POLICY
} ConfigKind;

typedef struct ConfigSetting
{
	const char *name;			/* Kafka's name */
	ConfigKind	kind;
	size_t		field;			/* offset in NagareTopicConfig, or -1 */
	int64		min;
	int64		max;
} ConfigSetting;

#define CFG(f) offsetof(NagareTopicConfig, f)

static const ConfigSetting config_settings[] = {
	{"cleanup.policy", CONFIG_CLEANUP_POLICY, (size_t) -1, 0, 0},
	{"compression.type", CONFIG_COMPRESSION, CFG(compression), 0, 0},
	{"index.interval.bytes", CONFIG_INT, CFG(index_interval_bytes), 0, PG_INT32_MAX},
	{"max.message.bytes", CONFIG_INT, CFG(max_message_bytes), 0, PG_INT32_MAX},
	{"retention.bytes", CONFIG_INT, CFG(retention_bytes), -1, PG_INT64_MAX},
	{"retention.ms", CONFIG_INT, CFG(retention_ms), -1, PG_INT64_MAX},
	{"segment.bytes", CONFIG_INT, CFG(segment_bytes), 14, PG_INT32_MAX},
	{"segment.ms", CONFIG_INT, CFG(segment_ms), 1, PG_INT64_MAX},
};

/* Kafka's compression.type values, index = codec + 1 */
static const char *const compression_names[] = {
	"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"
};

/* Kafka's name of a compression.type value (-1: "producer") */
const char *
nagare_compression_name(int64 value)
{
	if (value + 1 < 0 || value + 1 >= lengthof(compression_names))
		return "producer";
	return compression_names[value + 1];
}

static const ConfigSetting *
config_setting(const char *name)
{
	int			i;

	for (i = 0; i < lengthof(config_settings); i++)
		if (strcmp(config_settings[i].name, name) == 0)
			return &config_settings[i];
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown topic configuration \"%s\"", name),
			 errhint("Supported settings are cleanup.policy, compression.type, index.interval.bytes, max.message.bytes, retention.bytes, retention.ms, segment.bytes and segment.ms.")));
	return NULL;				/* keep compiler quiet */
}

static int64
config_int_value(const ConfigSetting *s, JsonbValue *v)
{
	int64		result = 0;
	char	   *str;

	if (v->type == jbvNumeric)
		str = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	else if (v->type == jbvString)
		str = pnstrdup(v->val.string.val, v->val.string.len);
	else
		str = NULL;

	if (str != NULL)
	{
		char	   *end;

		errno = 0;
		result = strtoll(str, &end, 10);
		if (errno != 0 || end == str || *end != '\0')
			str = NULL;
	}
	if (str == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for topic configuration \"%s\"", s->name),
				 errhint("The value must be an integer, as a JSON number or string.")));
	if (result < s->min || result > s->max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("value %lld for topic configuration \"%s\" is out of range",
						(long long) result, s->name),
				 errhint("The value must be between %lld and %lld.",
						 (long long) s->min, (long long) s->max)));
	return result;
}

static char *
config_string_value(const ConfigSetting *s, JsonbValue *v)
{
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for topic configuration \"%s\"", s->name),
				 errhint("The value must be a JSON string.")));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * Parse a jsonb object of Kafka topic settings into overrides (fields not
 * given stay NAGARE_CONFIG_UNSET).  With allow_null, a JSON null is accepted
 * and leaves the field as NAGARE_CONFIG_UNSET + 1, meaning "reset" (used by
 * alter_topic); otherwise null is an error.
 */
void
nagare_config_parse(Jsonb *config, NagareTopicConfig *out, bool allow_null)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken r;
	char	   *key = NULL;

	nagare_config_set_unset(out);
	if (config == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(config))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("topic configuration must be a JSON object"),
				 errhint("For example: {\"retention.ms\": 86400000}.")));

	it = JsonbIteratorInit(&config->root);
	while ((r = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		const ConfigSetting *s;
		int64	   *field;

		if (r == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (r != WJB_VALUE)
			continue;
		s = config_setting(key);
		field = (s->field == (size_t) -1) ? NULL : (int64 *) ((char *) out + s->field);

		if (v.type == jbvNull)
		{
			if (!allow_null)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("topic configuration \"%s\" must not be null", key)));
			if (field)
				*field = NAGARE_CONFIG_UNSET + 1;
			continue;
		}

		switch (s->kind)
		{
			case CONFIG_INT:
				*field = config_int_value(s, &v);
				break;
			case CONFIG_COMPRESSION:
				{
					char	   *str = config_string_value(s, &v);
					int			i;

					for (i = 0; i < lengthof(compression_names); i++)
						if (strcmp(str, compression_names[i]) == 0)
							break;
					if (i == lengthof(compression_names))
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								 errmsg("invalid compression.type \"%s\"", str),
								 errhint("Use producer, uncompressed, gzip, snappy, lz4 or zstd.")));
					*field = i - 1;
				}
				break;
			case CONFIG_CLEANUP_POLICY:
				{
					char	   *str = config_string_value(s, &v);

					if (strcmp(str, "compact") == 0 || strcmp(str, "compact,delete") == 0 ||
						strcmp(str, "delete,compact") == 0)
						ereport(ERROR,
								(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
								 errmsg("cleanup.policy \"%s\" is not supported yet", str),
								 errhint("Only \"delete\" (retention by time and size) is available.")));
					if (strcmp(str, "delete") != 0)
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								 errmsg("invalid cleanup.policy \"%s\"", str),
								 errhint("Use \"delete\".")));
				}
				break;
		}
	}
}

/*
 * A jsonb object of the fields of cfg that are set, with Kafka's names.
 */
Jsonb *
nagare_config_to_jsonb(const NagareTopicConfig *cfg)
{
	StringInfoData buf;
	bool		first = true;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < lengthof(config_settings); i++)
	{
		const ConfigSetting *s = &config_settings[i];
		int64		value;

		if (s->field == (size_t) -1)
			continue;
		value = *(const int64 *) ((const char *) cfg + s->field);
		if (value == NAGARE_CONFIG_UNSET)
			continue;
		if (!first)
			appendStringInfoString(&buf, ", ");
		first = false;
		if (s->kind == CONFIG_COMPRESSION)
			appendStringInfo(&buf, "\"%s\": \"%s\"", s->name, nagare_compression_name(value));
		else
			appendStringInfo(&buf, "\"%s\": %lld", s->name, (long long) value);
	}
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
