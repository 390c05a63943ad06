/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Topic lookups for SQL functions.
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
