/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The "nagare worker": keeps the broker's view of the topic catalog.
 *
 * The broker has no database connection, so it cannot read nagare.topic.
 * This worker, connected to nagare.database, copies the catalog into the
 * shared topic table (names, partition counts, configuration overrides),
 * which the broker reads for segment rolls and retention.  It runs a sync
 * when it starts, whenever a transaction that changed topics commits (the
 * committing backend sets this worker's latch), and when a new broker has
 * finished recovery.
 *
 * It also carries out what the broker asks of it through the channel
 * (queue/channel.h): topic and ACL changes for Kafka admin clients and
 * consumer groups' offsets (requests.c, aclsync.c, offsets.c), each in a
 * transaction of its own (nagare_worker_sql()).  A topic or ACL change is
 * answered only after the sync that follows it, once shared memory shows
 * the change.
 *
 * Likewise it copies nagare.acl into the shared ACL table (aclsync.c) at
 * start, whenever a transaction that changed it commits (the backend
 * increments NagareAclShared.changes and sets this worker's latch), and
 * while the extension does not exist yet; and the client quotas into the
 * shared quota table (quotasync.c) the same way (NagareQuotaShared.changes).
 *
 * It loads the registry's live instances into shared memory and runs
 * their TTL sweep once a second (instancesync.c).
 *
 * Files of topics the catalog does not know at all (left by DROP EXTENSION,
 * or by a topic row removed by hand) are removed too, but only for partitions
 * the broker found on disk when it started and only against a snapshot taken
 * after that: a topic committed later cannot be mistaken for one of them.
 *
 * DROP EXTENSION drops the catalog, and with it every topic: once it has
 * committed (the dropping backend sets this worker's latch, nagare.c), the
 * worker empties the shared topic table, marks every partition for the
 * broker to remove, and drops the replication slot "nagare" (the ingest
 * worker leaves it alone while the extension is absent).  The extension was
 * dropped, rather than never created, if this server saw it (the shared
 * extension_state) or its slot is in this database; so a server started
 * with nagare.database naming another database removes nothing.  The slot
 * is dropped under the advisory lock the extension script takes, after
 * looking at pg_extension again: a CREATE EXTENSION that commits meanwhile
 * is seen, and its new slot is never dropped.
 *
 * Deleted topics are rows with deleted_at set.  A sync marks every partition
 * of such a topic deleted in shared memory, which tells the broker to remove
 * the files; once no partition of the topic is left, and the deletion is
 * older than a grace period that covers a send which had looked the topic up
 * just before it was deleted, the row itself is removed.  After a crash the
 * rows are still there, so files of a deleted topic are never left behind.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/slot.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "nagare.h"
#include "shmem.h"
#include "topic/config.h"
#include "worker/worker.h"

/* How long a deleted topic's row outlives its files */
#define TOMBSTONE_GRACE "1 minute"

typedef struct CatalogTopic
{
	int32		id;
	int32		partitions;
	bool		deleted;
	pg_uuid_t	uuid;
	NagareTopicConfig config;
	char		name[NAGARE_MAX_TOPIC_NAME + 1];
} CatalogTopic;

static void worker_detach(int code, Datum arg);
static bool sync_topics(uint64 generation);
static void remove_unknown_topics(CatalogTopic *topics, int ntopics);
static void extension_absent(void);

/* the broker whose partitions found on disk were checked against the catalog */
static pid_t orphans_checked_for = 0;

void
nagare_worker_main(Datum main_arg)
{
	uint64		synced_generation = 0;
	pid_t		synced_broker = 0;
	bool		again = true;
	uint64		synced_acl_changes = 0;
	bool		acls_synced = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(nagare_database, NULL, 0);
	pgstat_report_appname("nagare worker");

	SpinLockAcquire(&nagare_shared->broker_mutex);
	nagare_shared->worker_procno = MyProc->pgprocno;
	SpinLockRelease(&nagare_shared->broker_mutex);
	before_shmem_exit(worker_detach, (Datum) 0);

	for (;;)
	{
		uint64		generation = pg_atomic_read_u64(&nagare_shared->catalog_generation);
		uint64		acl_changes = pg_atomic_read_u64(&nagare_acls->changes);
		bool		broker_ready;
		pid_t		broker_pid;
		bool sweep;
		long deps_wait;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		SpinLockAcquire(&nagare_shared->broker_mutex);
		broker_pid = nagare_shared->broker_pid;
		SpinLockRelease(&nagare_shared->broker_mutex);
		broker_ready = pg_atomic_read_u32(&nagare_shared->broker_state) == NAGARE_BROKER_READY;

		/* the broker's requests (requests.c) */
		if (nagare_worker_run_requests())
		{
			/* answer topic and ACL changes once shared memory shows them */
			acl_changes = pg_atomic_read_u64(&nagare_acls->changes);
			nagare_worker_sync_acls();
			synced_acl_changes = acl_changes;
			acls_synced = true;
			nagare_worker_sync_quotas(true);
			generation = pg_atomic_read_u64(&nagare_shared->catalog_generation);
			again = sync_topics(generation);
			synced_generation = generation;
			if (broker_ready)
				synced_broker = broker_pid;
		}
		nagare_worker_finish_requests();
		if (!acls_synced || again || acl_changes != synced_acl_changes)
		{
			nagare_worker_sync_acls();
			synced_acl_changes = acl_changes;
			acls_synced = true;
		}
		/* the client quotas, if they changed (or before the first copy) */
		nagare_worker_sync_quotas(false);
		if (again || generation != synced_generation ||
			(broker_ready && broker_pid != synced_broker))
		{
			again = sync_topics(generation);
			synced_generation = generation;
			if (broker_ready)
				synced_broker = broker_pid;
		}

		/* the registry's instances: load, TTL sweep (instancesync.c) */
		sweep = nagare_worker_instances();
		/* the services' SLIs, once a minute (slisync.c) */
		nagare_worker_sli_tick();
		nagare_worker_metrics_snapshot(); /* for /metrics (metricsnap.c) */
		/* the observed dependencies (depsflush.c) */
		deps_wait = nagare_worker_flush_dependencies();

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(again || sweep ? 1000 : 10000, deps_wait), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * Run fn(arg) in a transaction of its own, with SPI connected and a
 * snapshot, and commit it if fn returns true (roll it back if false).
 * Returns NULL, or the error fn raised, copied into the caller's memory
 * context: the transaction is then aborted.  Either way the caller's memory
 * context is current again on return.
 */
ErrorData *
nagare_worker_sql(bool (*fn) (void *arg), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ErrorData  *volatile edata = NULL;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		bool		commit;

		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		commit = fn(arg);
		SPI_finish();
		PopActiveSnapshot();
		if (commit)
			CommitTransactionCommand();
		else
			AbortCurrentTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	return edata;
}

static void
worker_detach(int code, Datum arg)
{
	SpinLockAcquire(&nagare_shared->broker_mutex);
	nagare_shared->worker_procno = -1;
	SpinLockRelease(&nagare_shared->broker_mutex);
}

/*
 * Mark a deleted topic's partitions (every partition if topic_id < 0);
 * returns how many are left
 */
static int
mark_partitions_deleted(int32 topic_id)
{
	HASH_SEQ_STATUS status;
	NagarePartition *part;
	int			left = 0;
	bool		marked = false;

	LWLockAcquire(nagare_shared->registry_lock, LW_SHARED);
	LWLockAcquire(nagare_shared->insert_lock, LW_EXCLUSIVE);
	hash_seq_init(&status, nagare_partition_hash);
	while ((part = hash_seq_search(&status)) != NULL)
	{
		if (topic_id >= 0 && part->key.topic_id != topic_id)
			continue;
		left++;
		if (part->state != NAGARE_PART_DELETED)
		{
			part->state = NAGARE_PART_DELETED;
			marked = true;
		}
	}
	LWLockRelease(nagare_shared->insert_lock);
	LWLockRelease(nagare_shared->registry_lock);

	if (marked)
	{
		pg_atomic_write_u32(&nagare_shared->deletes_pending, 1);
		nagare_wake_broker();
	}
	return left;
}

/*
 * Copy the catalog into the shared topic table.  Returns true if another
 * sync is wanted soon (the extension does not exist yet, or deleted topics
 * still have files).
 */
static bool
sync_topics(uint64 generation)
{
	int			ret;
	int			ntopics;
	CatalogTopic *topics;
	int			i;
	bool		again = false;
	HASH_SEQ_STATUS status;
	NagareTopic *t;
	StringInfoData purge;
	int			npurge = 0;
	bool		broker_ready;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "nagare worker: syncing topics");

	ret = SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'nagare'", true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look up extension nagare: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
	{
		/* not created yet, or dropped: look again soon */
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		extension_absent();
		pgstat_report_activity(STATE_IDLE, NULL);
		return true;
	}
	pg_atomic_write_u32(&nagare_shared->extension_state, NAGARE_EXTENSION_PRESENT);

	broker_ready = pg_atomic_read_u32(&nagare_shared->broker_state) == NAGARE_BROKER_READY;
	ret = SPI_execute("SELECT id, name, partitions, config, deleted_at IS NOT NULL, "
					  "deleted_at < now() - interval '" TOMBSTONE_GRACE "', topic_uuid "
					  "FROM nagare.topic", true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read nagare.topic: %s", SPI_result_code_string(ret));

	ntopics = (int) SPI_processed;
	topics = palloc0(sizeof(CatalogTopic) * Max(ntopics, 1));
	initStringInfo(&purge);
	for (i = 0; i < ntopics; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bool		grace_over;

		topics[i].id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		strlcpy(topics[i].name, TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull)),
				sizeof(topics[i].name));
		topics[i].partitions = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		nagare_config_parse(DatumGetJsonbP(SPI_getbinval(tup, desc, 4, &isnull)),
							&topics[i].config, false);
		topics[i].deleted = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		topics[i].uuid = *DatumGetUUIDP(SPI_getbinval(tup, desc, 7, &isnull));
		grace_over = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull)) && !isnull;

		if (topics[i].deleted)
		{
			int			left = mark_partitions_deleted(topics[i].id);

			if (left == 0 && broker_ready && grace_over)
			{
				appendStringInfo(&purge, "%s%d", npurge > 0 ? "," : "", topics[i].id);
				npurge++;
			}
			else
				again = true;
		}
	}

	if (broker_ready)
		remove_unknown_topics(topics, ntopics);

	/* the shared topic table: exactly the live topics */
	LWLockAcquire(nagare_shared->registry_lock, LW_EXCLUSIVE);
	hash_seq_init(&status, nagare_topic_hash);
	while ((t = hash_seq_search(&status)) != NULL)
	{
		bool		live = false;

		for (i = 0; i < ntopics; i++)
			if (topics[i].id == t->topic_id && !topics[i].deleted)
				live = true;
		if (!live)
			hash_search(nagare_topic_hash, &t->topic_id, HASH_REMOVE, NULL);
	}
	for (i = 0; i < ntopics; i++)
	{
		bool		found;

		if (topics[i].deleted)
			continue;
		t = hash_search(nagare_topic_hash, &topics[i].id, HASH_ENTER_NULL, &found);
		if (t == NULL)
		{
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("more topics than nagare.max_topics = %d", nagare_max_topics),
					 errhint("Raise nagare.max_topics and restart the server; until then some topics use the default configuration.")));
			break;
		}
		if (found && t->generation > generation)
			continue;			/* a backend published a later reading */
		t->generation = generation;
		t->partitions = topics[i].partitions;
		t->deleted = false;
		t->config = topics[i].config;
		memcpy(t->uuid, topics[i].uuid.data, sizeof(t->uuid));
		strlcpy(t->name, topics[i].name, sizeof(t->name));
	}
	LWLockRelease(nagare_shared->registry_lock);
	pg_atomic_fetch_add_u64(&nagare_shared->topic_table_version, 1);

	if (npurge > 0)
	{
		char	   *sql = psprintf("DELETE FROM nagare.topic WHERE deleted_at IS NOT NULL AND id IN (%s)",
								   purge.data);

		ret = SPI_execute(sql, false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "could not remove deleted topics: %s", SPI_result_code_string(ret));
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return again;
}

/*
 * Mark deleted the partitions found on disk at broker start whose topic is
 * not in the catalog.  Runs once per broker, with a snapshot taken after the
 * broker was ready.
 */
static void
remove_unknown_topics(CatalogTopic *topics, int ntopics)
{
	HASH_SEQ_STATUS status;
	NagarePartition *part;
	pid_t		broker_pid;
	bool		marked = false;

	SpinLockAcquire(&nagare_shared->broker_mutex);
	broker_pid = nagare_shared->broker_pid;
	SpinLockRelease(&nagare_shared->broker_mutex);
	if (broker_pid == 0 || broker_pid == orphans_checked_for)
		return;

	LWLockAcquire(nagare_shared->registry_lock, LW_SHARED);
	LWLockAcquire(nagare_shared->insert_lock, LW_EXCLUSIVE);
	hash_seq_init(&status, nagare_partition_hash);
	while ((part = hash_seq_search(&status)) != NULL)
	{
		bool		known = false;
		int			i;

		if (!part->from_disk || part->state != NAGARE_PART_OPEN)
			continue;
		for (i = 0; i < ntopics && !known; i++)
			known = (topics[i].id == part->key.topic_id);
		if (known)
			continue;
		part->state = NAGARE_PART_DELETED;
		marked = true;
		ereport(LOG,
				(errmsg("nagare worker: removing partition %d of topic id %d, which is not in nagare.topic",
						part->key.partition, part->key.topic_id)));
	}
	LWLockRelease(nagare_shared->insert_lock);
	LWLockRelease(nagare_shared->registry_lock);

	if (marked)
	{
		pg_atomic_write_u32(&nagare_shared->deletes_pending, 1);
		nagare_wake_broker();
	}
	orphans_checked_for = broker_pid;
}

/*
 * The advisory lock (two int4 keys) that CREATE EXTENSION's script takes
 * (nagare--0.1.sql, at its start) and under which the worker drops the slot
 * of a dropped extension.  The worker only tries it: a CREATE EXTENSION in a
 * long transaction must not hold up the broker's requests.
 */
#define EXTENSION_LOCK_SQL "SELECT pg_catalog.pg_try_advisory_xact_lock(1851877234, 0)"

/* Is the slot "nagare" in this database? */
static bool
own_slot_exists(void)
{
	ReplicationSlot *slot;
	bool mine;

	LWLockAcquire(ReplicationSlotControlLock, LW_SHARED);
	slot = SearchNamedReplicationSlot("nagare", false);
	mine = slot != NULL && slot->data.database == MyDatabaseId;
	LWLockRelease(ReplicationSlotControlLock);
	return mine;
}

/*
 * What a dropped extension leaves: its slot, its topics in shared memory and
 * their files.  Runs in a transaction of nagare_worker_sql(), under the lock
 * of CREATE EXTENSION, and does nothing if the extension exists again.
 * *arg: true if the extension was present when the worker last looked; set
 * to true if the extension's leftovers were removed.
 */
static bool
drop_extension_sql(void *arg)
{
	bool *dropped = (bool *) arg;
	int ret;
	int left;
	bool isnull;

	ret = SPI_execute(EXTENSION_LOCK_SQL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not lock the extension: %s", SPI_result_code_string(ret));
	if (!DatumGetBool(
			SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		elog(ERROR, "CREATE EXTENSION nagare is under way");
	/* a snapshot taken under the lock: a CREATE EXTENSION has committed */
	ret = SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'nagare'",
					  false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not look up extension nagare: %s", SPI_result_code_string(ret));
	if (SPI_processed > 0)
	{
		*dropped = false;
		return true;
	}
	/* from now on the broker creates no topic for Kafka clients */
	pg_atomic_write_u32(&nagare_shared->extension_state, NAGARE_EXTENSION_ABSENT);
	ret =
		SPI_execute("SELECT pg_catalog.pg_drop_replication_slot(slot_name) "
					"FROM pg_catalog.pg_replication_slots "
					"WHERE slot_name = 'nagare' AND database = pg_catalog.current_database()",
					false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not drop replication slot \"nagare\": %s",
			 SPI_result_code_string(ret));
	if (SPI_processed > 0)
	{
		*dropped = true;
		ereport(LOG,
				(errmsg(
					"nagare worker: extension nagare was dropped: dropped its replication slot \"nagare\"")));
	}
	if (!*dropped)
		return true;

	/* the broker's topic table empties, and every partition goes */
	LWLockAcquire(nagare_shared->registry_lock, LW_EXCLUSIVE);
	{
		HASH_SEQ_STATUS status;
		NagareTopic *t;

		hash_seq_init(&status, nagare_topic_hash);
		while ((t = hash_seq_search(&status)) != NULL)
			hash_search(nagare_topic_hash, &t->topic_id, HASH_REMOVE, NULL);
	}
	LWLockRelease(nagare_shared->registry_lock);
	pg_atomic_fetch_add_u64(&nagare_shared->topic_table_version, 1);
	left = mark_partitions_deleted(-1);
	ereport(LOG,
			(errmsg("nagare worker: extension nagare was dropped: the broker forgets its topics and removes their %d partition(s)",
					left)));
	return true;
}

/*
 * The extension does not exist.  If it was dropped, drop its replication
 * slot, forget its topics and remove their files.
 */
static void
extension_absent(void)
{
	static bool warned = false;
	bool dropped;
	ErrorData *edata;

	dropped =
		pg_atomic_read_u32(&nagare_shared->extension_state) == NAGARE_EXTENSION_PRESENT;
	if (!dropped && !own_slot_exists())
	{
		pg_atomic_write_u32(&nagare_shared->extension_state, NAGARE_EXTENSION_ABSENT);
		return;
	}
	edata = nagare_worker_sql(drop_extension_sql, &dropped);
	if (edata != NULL)
	{
		/*
		 * The slot is in use (while something decodes it), or a CREATE
		 * EXTENSION is under way: next time.
		 */
		if (dropped)
			pg_atomic_write_u32(&nagare_shared->extension_state, NAGARE_EXTENSION_PRESENT);
		if (!warned)
			ereport(LOG,
					(errmsg("nagare worker: could not clean up after DROP EXTENSION nagare: %s",
							edata->message)));
		warned = true;
		FreeErrorData(edata);
		return;
	}
	warned = false;
	/* the shared quota table empties too (the caller's pass copies the ACLs) */
	if (dropped)
		nagare_worker_sync_quotas(true);
}

/* A string member of a JSON object (a request's payload), palloc'd, or NULL */
char *
nagare_worker_json_string(Jsonb *obj, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&obj->root, key, strlen(key), NULL);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* SELECT set_config(name, value, true): a setting for the current transaction */
void
nagare_worker_set_local(const char *name, const char *value)
{
	Datum args[2] = {CStringGetTextDatum(name), CStringGetTextDatum(value)};
	Oid types[2] = {TEXTOID, TEXTOID};
	int ret;

	ret = SPI_execute_with_args("SELECT pg_catalog.set_config($1, $2, true)", 2, types,
								args, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not set %s: %s", name, SPI_result_code_string(ret));
}
