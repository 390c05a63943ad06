/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Requests and initialises nagare's shared memory (the map is shmem.h).
 *
 * PostgreSQL 15 wants shared memory and LWLock tranches requested in
 * shmem_request_hook; the structures are created (or, in a child of a
 * restarted postmaster, attached) in shmem_startup_hook under
 * AddinShmemInitLock, as pg_stat_statements does.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "shmem.h"

/* Links to shared memory state */
NagareGroupShared *nagare_groups = NULL;
NagareGroupOffsetShared *nagare_group_offsets = NULL;
NagareAclShared *nagare_acls = NULL;
NagareMetricsShared *nagare_metrics = NULL;
NagareMetricsSnapshot *nagare_metrics_snapshot = NULL;
NagareQuotaShared *nagare_quotas = NULL;
NagareUsageShared *nagare_usage = NULL;
NagareConnShared *nagare_conn_table = NULL;
NagareInstanceShared *nagare_instances = NULL;
NagareDepsShared *nagare_deps = NULL;
HTAB *nagare_instance_hash = NULL;
NagareShared *nagare_shared = NULL;
HTAB	   *nagare_topic_hash = NULL;
HTAB	   *nagare_partition_hash = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void nagare_shmem_request(void);
static void nagare_shmem_startup(void);
static Size nagare_shmem_size(void);
static Size nagare_acl_shmem_size(void);
static Size nagare_quota_shmem_size(void);

static Size nagare_usage_shmem_size(void);
static Size nagare_conn_shmem_size(void);
static void nagare_usage_shmem_init(void);
static Size nagare_deps_shmem_size(void);
static void nagare_deps_shmem_init(void);

#define NAGARE_TRANCHE "nagare"
/* the quota table's and the usage table's locks, each a tranche of its own */
#define NAGARE_QUOTA_TRANCHE "nagare quotas"
#define NAGARE_USAGE_TRANCHE "nagare usage"
#define NAGARE_INSTANCE_TRANCHE "nagare instances"
#define NAGARE_DEPS_TRANCHE     "nagare dependencies"

/*
 * Number of request slots: one per PGPROC, like the sync-rep waiters.
 * MaxBackends is final by the time shmem_request_hook runs.
 */
static int
nagare_num_slots(void)
{
	return MaxBackends + NUM_AUXILIARY_PROCS;
}

static Size
nagare_ring_size(void)
{
	return (Size) nagare_queue_size_kb * 1024;
}

static void
channel_ring_init(NagareChannelRing *r, char *data, uint64 size)
{
	pg_atomic_init_u64(&r->head, 0);
	pg_atomic_init_u64(&r->tail, 0);
	r->size = size;
	r->data = data;
}

static Size
nagare_acl_shmem_size(void)
{
	return add_size(offsetof(NagareAclShared, entries),
					mul_size(nagare_max_acls, sizeof(NagareAclEntry)));
}

/* hash chain heads of the usage table: a power of 2, at least max */
static int
nagare_usage_buckets(void)
{
	int			n = 16;

	while (n < nagare_max_client_usage)
		n *= 2;
	return n;
}

static Size
nagare_usage_shmem_size(void)
{
	Size		size;

	size = add_size(offsetof(NagareUsageShared, slots),
					mul_size(nagare_max_client_usage + 1, sizeof(NagareUsageSlot)));
	size = MAXALIGN(size);
	return add_size(size, mul_size(nagare_usage_buckets(), sizeof(int32)));
}

static Size
nagare_group_offsets_shmem_size(void)
{
	return add_size(offsetof(NagareGroupOffsetShared, rows),
					mul_size(nagare_metrics_max_group_offsets,
							 sizeof(NagareGroupOffsetRow)));
}

static Size
nagare_conn_shmem_size(void)
{
	return add_size(offsetof(NagareConnShared, entries),
					mul_size(nagare_max_connections, sizeof(NagareConnEntry)));
}

static Size
nagare_quota_shmem_size(void)
{
	return add_size(offsetof(NagareQuotaShared, entries),
					mul_size(nagare_max_quotas, sizeof(NagareQuotaEntry)));
}

static Size
nagare_shmem_size(void)
{
	Size		size;

	size = MAXALIGN(sizeof(NagareShared));
	size = add_size(size, MAXALIGN(mul_size(nagare_num_slots(), sizeof(NagareRequestSlot))));
	size = add_size(size, MAXALIGN(mul_size(mul_size(nagare_num_slots(), NAGARE_REQ_RING_PER_SLOT),
											sizeof(int))));
	size = add_size(size, MAXALIGN(nagare_ring_size()));
	size = add_size(size, NAGARE_CHANNEL_REQUEST_BYTES);
	size = add_size(size, NAGARE_CHANNEL_ANSWER_BYTES);
	size = add_size(size, 2 * NAGARE_CHANNEL_HTTP_BYTES);
	return size;
}

void
nagare_shmem_install_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = nagare_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = nagare_shmem_startup;
}

static void
nagare_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();

	RequestAddinShmemSpace(nagare_shmem_size());
	RequestAddinShmemSpace(sizeof(NagareGroupShared));
	RequestAddinShmemSpace(nagare_group_offsets_shmem_size());
	RequestAddinShmemSpace(hash_estimate_size(nagare_max_topics, sizeof(NagareTopic)));
	RequestAddinShmemSpace(hash_estimate_size(nagare_max_partitions, sizeof(NagarePartition)));
	RequestAddinShmemSpace(nagare_acl_shmem_size());
	RequestAddinShmemSpace(nagare_usage_shmem_size());
	RequestAddinShmemSpace(MAXALIGN(sizeof(NagareMetricsShared)));
	RequestAddinShmemSpace(MAXALIGN(sizeof(NagareMetricsSnapshot)));
	RequestAddinShmemSpace(nagare_conn_shmem_size());
	RequestNamedLWLockTranche(NAGARE_USAGE_TRANCHE, 1);
	RequestNamedLWLockTranche(NAGARE_TRANCHE, 3);
	RequestAddinShmemSpace(nagare_quota_shmem_size());
	RequestNamedLWLockTranche(NAGARE_QUOTA_TRANCHE, 1);
	RequestAddinShmemSpace(MAXALIGN(sizeof(NagareInstanceShared)));
	RequestAddinShmemSpace(hash_estimate_size(nagare_max_instances, sizeof(NagareInstance)));
	RequestNamedLWLockTranche(NAGARE_INSTANCE_TRANCHE, 1);
	RequestAddinShmemSpace(nagare_deps_shmem_size());
	RequestNamedLWLockTranche(NAGARE_DEPS_TRANCHE, 1);
}

static void
nagare_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	/* reset in case this is a restart within the postmaster */
	nagare_shared = NULL;
	nagare_groups = NULL;
	nagare_group_offsets = NULL;
	nagare_acls = NULL;
	nagare_quotas = NULL;
	nagare_usage = NULL;
	nagare_metrics = NULL;
	nagare_metrics_snapshot = NULL;
	nagare_conn_table = NULL;
	nagare_instances = NULL;
	nagare_instance_hash = NULL;
	nagare_deps = NULL;
	nagare_topic_hash = NULL;
	nagare_partition_hash = NULL;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);

	nagare_shared = ShmemInitStruct("nagare", nagare_shmem_size(), &found);
	if (!found)
	{
		NagareShared *s = nagare_shared;
		char	   *p = (char *) s + MAXALIGN(sizeof(NagareShared));
		LWLockPadded *locks = GetNamedLWLockTranche(NAGARE_TRANCHE);
		int			i;

		memset(s, 0, sizeof(NagareShared));
		s->registry_lock = &locks[0].lock;
		s->insert_lock = &locks[1].lock;
		SpinLockInit(&s->broker_mutex);
		s->broker_procno = -1;
		s->broker_pid = 0;
		pg_atomic_init_u32(&s->broker_state, NAGARE_BROKER_STOPPED);
		pg_atomic_init_u64(&s->catalog_generation, 1);
		pg_atomic_init_u64(&s->ingest_confirmed_lsn, 0);
		pg_atomic_init_u64(&s->topic_table_version, 1);
		s->worker_procno = -1;
		s->ingest_procno = -1;
		pg_atomic_init_u32(&s->deletes_pending, 0);
		pg_atomic_init_u64(&s->next_incarnation, 1);
		pg_atomic_init_u32(&s->max_topic_id, 0);
		pg_atomic_init_u32(&s->extension_state, NAGARE_EXTENSION_UNKNOWN);

		s->nslots = nagare_num_slots();
		s->slots = (NagareRequestSlot *) p;
		p += MAXALIGN(mul_size(s->nslots, sizeof(NagareRequestSlot)));
		for (i = 0; i < s->nslots; i++)
		{
			SpinLockInit(&s->slots[i].mutex);
			s->slots[i].state = NAGARE_SLOT_FREE;
			s->slots[i].type = NAGARE_REQ_NONE;
			s->slots[i].generation = 0;
			s->slots[i].procno = i;
		}
		s->req_ids = (int *) p;
		p += MAXALIGN(mul_size(mul_size(s->nslots, NAGARE_REQ_RING_PER_SLOT), sizeof(int)));
		SpinLockInit(&s->req_mutex);
		s->req_head = s->req_tail = 0;

		s->ring = p;
		s->ring_size = nagare_ring_size();
		pg_atomic_init_u64(&s->head, 0);
		pg_atomic_init_u64(&s->tail, 0);
		pg_atomic_init_u64(&s->durable, 0);
		pg_atomic_init_u64(&s->appended_batches, 0);
		pg_atomic_init_u64(&s->fetch_buffered_bytes, 0);
		pg_atomic_init_u64(&s->fetch_direct_bytes, 0);
		pg_atomic_init_u32(&s->cold_reads, 0);
		pg_atomic_init_u64(&s->auth_failures, 0);
		pg_atomic_init_u32(&s->storage_errno, 0);
		pg_atomic_init_u32(&s->listen_sockets, 0);
		p += MAXALIGN(s->ring_size);

		for (int c = 0; c < NAGARE_CHANNEL_CLIENTS; c++)
		{
			NagareChannel *ch = &s->channels[c];
			uint64 req_bytes = c == NAGARE_CHANNEL_BROKER ? NAGARE_CHANNEL_REQUEST_BYTES
														  : NAGARE_CHANNEL_HTTP_BYTES;
			uint64 ans_bytes = c == NAGARE_CHANNEL_BROKER ? NAGARE_CHANNEL_ANSWER_BYTES
														  : NAGARE_CHANNEL_HTTP_BYTES;

			channel_ring_init(&ch->requests, p, req_bytes);
			p += req_bytes;
			channel_ring_init(&ch->answers, p, ans_bytes);
			p += ans_bytes;
			ch->next_id = 1;
			pg_atomic_init_u32(&ch->client_procno, 0);
		}
	}

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(int32);
	info.entrysize = sizeof(NagareTopic);
	nagare_topic_hash = ShmemInitHash("nagare topics",
									  nagare_max_topics, nagare_max_topics,
									  &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(NagarePartitionKey);
	info.entrysize = sizeof(NagarePartition);
	nagare_partition_hash = ShmemInitHash("nagare partitions",
										  nagare_max_partitions, nagare_max_partitions,
										  &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);

	nagare_groups = ShmemInitStruct("nagare groups", sizeof(NagareGroupShared), &found);
	if (!found)
	{
		pg_atomic_init_u32(&nagare_groups->snapshot_seq, 0);
		strcpy(nagare_groups->snapshot, "[]");
		nagare_groups->snapshot_len = 2;
		SpinLockInit(&nagare_groups->notice_mutex);
		pg_atomic_init_u64(&nagare_groups->notice_ticket, 0);
		nagare_groups->notice_overflow = false;
		nagare_groups->nnotices = 0;
		pg_atomic_init_u64(&nagare_groups->notice_done, 0);
		pg_atomic_init_u32(&nagare_groups->ngroups, 0);
	}
	nagare_group_offsets =
		ShmemInitStruct("nagare group offsets", nagare_group_offsets_shmem_size(), &found);
	if (!found)
	{
		memset(nagare_group_offsets, 0, nagare_group_offsets_shmem_size());
		pg_atomic_init_u32(&nagare_group_offsets->seq, 0);
		nagare_group_offsets->max = nagare_metrics_max_group_offsets;
	}

	nagare_acls = ShmemInitStruct("nagare acls", nagare_acl_shmem_size(), &found);
	if (!found)
	{
		nagare_acls->lock = &(GetNamedLWLockTranche(NAGARE_TRANCHE)[2].lock);
		pg_atomic_init_u64(&nagare_acls->version, 1);
		pg_atomic_init_u64(&nagare_acls->changes, 0);
		pg_atomic_init_u32(&nagare_acls->authenticating_listeners, 0);
		pg_atomic_init_u64(&nagare_acls->denied, 0);
		nagare_acls->loaded = false;
		nagare_acls->overflow = false;
		nagare_acls->max = nagare_max_acls;
		nagare_acls->count = 0;
	}

	nagare_quotas = ShmemInitStruct("nagare quotas", nagare_quota_shmem_size(), &found);
	if (!found)
	{
		nagare_quotas->lock = &(GetNamedLWLockTranche(NAGARE_QUOTA_TRANCHE)[0].lock);
		pg_atomic_init_u64(&nagare_quotas->version, 1);
		pg_atomic_init_u64(&nagare_quotas->changes, 0);
		pg_atomic_init_u64(&nagare_quotas->synced, 0);
		nagare_quotas->loaded = false;
		nagare_quotas->overflow = false;
		nagare_quotas->max = nagare_max_quotas;
		nagare_quotas->count = 0;
	}
	nagare_usage_shmem_init();

	nagare_instances =
		ShmemInitStruct("nagare instances", sizeof(NagareInstanceShared), &found);
	if (!found)
	{
		nagare_instances->lock = &(GetNamedLWLockTranche(NAGARE_INSTANCE_TRANCHE)[0].lock);
		nagare_instances->max = nagare_max_instances;
		pg_atomic_init_u32(&nagare_instances->loaded, 0);
		pg_atomic_init_u64(&nagare_instances->version, 1);
		for (int i = 0; i < NAGARE_INSTANCE_TOMBSTONES; i++)
			pg_atomic_init_u64(&nagare_instances->tombstone[i], 0);
	}
	memset(&info, 0, sizeof(info));
	info.keysize = NAGARE_INSTANCE_ID_MAX;
	info.entrysize = sizeof(NagareInstance);
	nagare_instance_hash =
		ShmemInitHash("nagare instance hash", nagare_max_instances, nagare_max_instances,
					  &info, HASH_ELEM | HASH_STRINGS);
	nagare_deps_shmem_init();

	LWLockRelease(AddinShmemInitLock);
}

/*
 * The usage table and the connection table (caller holds
 * AddinShmemInitLock): every slot free, every entry unused.
 */
static void
nagare_usage_shmem_init(void)
{
	bool		found;
	int			i;
	int			j;

	nagare_metrics = ShmemInitStruct("nagare metrics", sizeof(NagareMetricsShared), &found);
	if (!found)
	{
		pg_atomic_uint64 *c = (pg_atomic_uint64 *) nagare_metrics;

		for (i = 0; i < (int) (sizeof(NagareMetricsShared) / sizeof(pg_atomic_uint64)); i++)
			pg_atomic_init_u64(&c[i], 0);
	}
	nagare_metrics_snapshot =
		ShmemInitStruct("nagare metrics snapshot", sizeof(NagareMetricsSnapshot), &found);
	if (!found)
	{
		pg_atomic_init_u32(&nagare_metrics_snapshot->change, 0);
		nagare_metrics_snapshot->taken_at = 0;
		nagare_metrics_snapshot->len = 0;
		nagare_metrics_snapshot->dropped = 0;
	}

	nagare_usage = ShmemInitStruct("nagare usage", nagare_usage_shmem_size(), &found);
	if (!found)
	{
		NagareUsageShared *u = nagare_usage;

		memset(u, 0, nagare_usage_shmem_size());
		u->lock = &(GetNamedLWLockTranche(NAGARE_USAGE_TRANCHE)[0].lock);
		u->max = nagare_max_client_usage;
		u->nbuckets = nagare_usage_buckets();
		u->nused = 0;
		u->overflow_logged = false;
		pg_atomic_init_u64(&u->tick, 0);
		pg_atomic_init_u64(&u->tick_time, 0);
		u->buckets =
			(int32 *) ((char *) u + MAXALIGN(offsetof(NagareUsageShared, slots) +
										 (u->max + 1) * sizeof(NagareUsageSlot)));
		for (i = 0; i < u->nbuckets; i++)
			u->buckets[i] = -1;
		for (i = 0; i <= u->max; i++)
		{
			NagareUsageSlot *slot = &u->slots[i];

			pg_atomic_init_u32(&slot->change, 0);
			slot->used = false;
			slot->next = -1;
			pg_atomic_init_u32(&slot->attached, 0);
			pg_atomic_init_u64(&slot->last_active, 0);
			for (j = 0; j < NAGARE_USAGE_NCOUNTERS; j++)
				pg_atomic_init_u64(&slot->counters[j], 0);
			for (j = 0; j < NAGARE_USAGE_NAPIS; j++)
				pg_atomic_init_u64(&slot->requests[j], 0);
			for (j = 0; j < NAGARE_USAGE_NERRORS; j++)
				pg_atomic_init_u64(&slot->errors[j], 0);
		}
		/* the overflow row: always there */
		u->slots[u->max].used = true;
		u->slots[u->max].key.source = NAGARE_USAGE_SOURCE_OVERFLOW;
		u->slots[u->max].since = GetCurrentTimestamp();
	}

	nagare_conn_table =
		ShmemInitStruct("nagare connections", nagare_conn_shmem_size(), &found);
	if (!found)
	{
		memset(nagare_conn_table, 0, nagare_conn_shmem_size());
		nagare_conn_table->max = nagare_max_connections;
		for (i = 0; i < nagare_conn_table->max; i++)
			pg_atomic_init_u32(&nagare_conn_table->entries[i].change, 0);
	}
}

/*
 * The broker's latch, or NULL when no broker is running.
 */
Latch *
nagare_broker_latch(void)
{
	int			procno;

	SpinLockAcquire(&nagare_shared->broker_mutex);
	procno = nagare_shared->broker_procno;
	SpinLockRelease(&nagare_shared->broker_mutex);
	if (procno < 0)
		return NULL;
	return &ProcGlobal->allProcs[procno].procLatch;
}

/*
 * Set the latch of the process whose pgprocno is procno; -1 (no such
 * process) does nothing.  The one way nagare wakes a process.  Cheap when
 * the process is busy: SetLatch only signals a process that is waiting on
 * its latch.
 */
void
nagare_wake_proc(int procno)
{
	if (procno >= 0)
		SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

/* A procno field of NagareShared, read under broker_mutex */
static int
shared_procno(const int *procno)
{
	int			result;

	SpinLockAcquire(&nagare_shared->broker_mutex);
	result = *procno;
	SpinLockRelease(&nagare_shared->broker_mutex);
	return result;
}

/* Set the broker's latch, if it runs */
void
nagare_wake_broker(void)
{
	nagare_wake_proc(shared_procno(&nagare_shared->broker_procno));
}

/*
 * Remember that topic_id has a partition entry (max_topic_id only grows).
 */
void
nagare_note_topic_id(int32 topic_id)
{
	uint32		cur = pg_atomic_read_u32(&nagare_shared->max_topic_id);

	while ((uint32) topic_id > cur)
	{
		if (pg_atomic_compare_exchange_u32(&nagare_shared->max_topic_id, &cur, (uint32) topic_id))
			break;
	}
}

/*
 * Initialise a partition entry just entered into the shared table for a
 * partition that has no files yet (caller holds registry_lock exclusively).
 */
void
nagare_partition_init_new(NagarePartition *part)
{
	part->incarnation = pg_atomic_fetch_add_u64(&nagare_shared->next_incarnation, 1);
	part->state = NAGARE_PART_OPEN;
	part->next_offset = 0;
	part->from_disk = false;
	pg_atomic_init_u64(&part->high_watermark, 0);
	pg_atomic_init_u64(&part->durable_watermark, 0);
	pg_atomic_init_u64(&part->log_start_offset, 0);
	pg_atomic_init_u64(&part->size_bytes, 0);
	pg_atomic_init_u32(&part->segments, 0);
	pg_atomic_init_u64(&part->sync_base, NAGARE_NO_SYNC_BASE);
	nagare_partition_init_metrics(part);
}

/* A new partition entry's counters for GET /metrics */
void
nagare_partition_init_metrics(NagarePartition *part)
{
	pg_atomic_init_u64(&part->bytes_in, 0);
	pg_atomic_init_u64(&part->records_in, 0);
	pg_atomic_init_u64(&part->bytes_out, 0);
	pg_atomic_init_u64(&part->records_out, 0);
}

/* Set the nagare worker's latch, if it runs */
void
nagare_wake_worker(void)
{
	nagare_wake_proc(shared_procno(&nagare_shared->worker_procno));
}

/* Set the nagare ingest worker's latch, if it runs */
void
nagare_wake_ingest(void)
{
	nagare_wake_proc(shared_procno(&nagare_shared->ingest_procno));
}

/* hash chain heads of the dependency table: a power of 2, at least max */
static int
nagare_deps_buckets(void)
{
	int n = 16;

	while (n < nagare_max_dependency_edges)
		n *= 2;
	return n;
}

static Size
nagare_deps_shmem_size(void)
{
	Size size;

	size = add_size(offsetof(NagareDepsShared, edges),
					mul_size(nagare_max_dependency_edges + 1, sizeof(NagareDepsEdge)));
	size = MAXALIGN(size);
	return add_size(size, mul_size(nagare_deps_buckets(), sizeof(int32)));
}

/*
 * The dependency table (caller holds AddinShmemInitLock): no edge taken
 * but the overflow edge, a key of its own.
 */
static void
nagare_deps_shmem_init(void)
{
	bool found;
	int i;

	nagare_deps = ShmemInitStruct("nagare dependencies", nagare_deps_shmem_size(), &found);
	if (!found)
	{
		NagareDepsShared *d = nagare_deps;

		memset(d, 0, nagare_deps_shmem_size());
		d->lock = &(GetNamedLWLockTranche(NAGARE_DEPS_TRANCHE)[0].lock);
		d->max = nagare_max_dependency_edges;
		d->nbuckets = nagare_deps_buckets();
		pg_atomic_init_u32(&d->nused, 0);
		d->overflow_logged = false;
		d->buckets =
			(int32 *) ((char *) d + MAXALIGN(offsetof(NagareDepsShared, edges) +
											 (d->max + 1) * sizeof(NagareDepsEdge)));
		for (i = 0; i < d->nbuckets; i++)
			d->buckets[i] = -1;
		for (i = 0; i <= d->max; i++)
		{
			d->edges[i].next = -1;
			pg_atomic_init_u64(&d->edges[i].records, 0);
			pg_atomic_init_u64(&d->edges[i].bytes, 0);
		}
		d->edges[d->max].key.source = NAGARE_USAGE_SOURCE_OVERFLOW;
		d->edges[d->max].key.topic_id = -1;
		d->edges[d->max].first_seen = GetCurrentTimestamp();
	}
}
