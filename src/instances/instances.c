/*-------------------------------------------------------------------------
 *
 * instances.c
 *	  The shared table of live service instances: the one place that reads
 *	  and writes shmem.h's NagareInstance entries.
 *
 * Backends add and remove entries when a transaction that registered or
 * deregistered instances commits (sql/service_instances.c), the nagare worker
 * loads the table at start and runs the TTL sweep (worker/instancesync.c),
 * and heartbeats (nagare.pass_instance() and its siblings) change an
 * entry's status, note and last beat here without touching
 * nagare.service_instance.  The registry's HTTP and DNS servers will read
 * entries with nagare_instance_snapshot() or nagare_instance_read().
 *
 * Locking (shmem.h): the table's LWLock exclusive only while an entry is
 * copied in or removed; shared to find an entry, beat it or copy it.  An
 * entry's writers hold its spinlock, for a few stores, and keep its change
 * counter odd meanwhile; readers take no spinlock: they retry a copy until
 * the counter was even and unchanged across it.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>

#include "common/hashfn.h"
#include "mb/pg_wchar.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "instances/instances.h"

static const char *const status_names[] = {"passing", "warning", "critical"};

const char *
nagare_instance_status_name(int status)
{
	if (status < 0 || status > NAGARE_INSTANCE_CRITICAL)
		return "critical";
	return status_names[status];
}

int
nagare_instance_status_parse(const char *name)
{
	int i;

	for (i = 0; i <= NAGARE_INSTANCE_CRITICAL; i++)
		if (strcmp(name, status_names[i]) == 0)
			return i;
	return -1;
}

void
nagare_instance_parse_address(NagareInstance *e)
{
	memset(e->ip, 0, sizeof(e->ip));
	e->family = 0;
	if (inet_pton(AF_INET, e->address, e->ip) == 1)
		e->family = 4;
	else if (inet_pton(AF_INET6, e->address, e->ip) == 1)
		e->family = 6;
	else
		memset(e->ip, 0, sizeof(e->ip));
}

bool
nagare_instance_add_tag(NagareInstance *e, const char *tag)
{
	int len = strlen(tag) + 1;

	if (e->tags_len + len > NAGARE_INSTANCE_TAGS_MAX)
		return false;
	memcpy(e->tags + e->tags_len, tag, len);
	e->tags_len += len;
	e->ntags++;
	return true;
}

int64
nagare_instance_interval_ms(const Interval *iv)
{
	int64 ms;

	ms = iv->time / 1000 + (int64) iv->day * 86400000 +
		 (int64) iv->month * (int64) DAYS_PER_MONTH * 86400000;
	return Max(ms, 1);
}

/*
 * A change's version: reserve() takes the next one, stamped on the entry or
 * tombstone it changes; publish() moves the version again once the change
 * is in.  A reader that read the version between the two and looked too
 * early sees it move again, so no change goes unnoticed.
 */
static inline uint64
reserve(void)
{
	return pg_atomic_add_fetch_u64(&nagare_instances->version, 1);
}

static inline void
publish(void)
{
	pg_atomic_fetch_add_u64(&nagare_instances->version, 1);
}

static pg_atomic_uint64 *
tombstone_slot(const char *service)
{
	uint32 h = hash_bytes((const unsigned char *) service,
						  strnlen(service, NAGARE_INSTANCE_SERVICE_MAX));

	return &nagare_instances->tombstone[h % NAGARE_INSTANCE_TOMBSTONES];
}

static void
raise_to(pg_atomic_uint64 *slot, uint64 v)
{
	uint64 old = pg_atomic_read_u64(slot);

	while (old < v && !pg_atomic_compare_exchange_u64(slot, &old, v))
		;
}

/* An instance of service left: its slot's tombstone is at least v */
static void
tombstone(const char *service, uint64 v)
{
	raise_to(tombstone_slot(service), v);
}

/* Start and end an entry's write (its spinlock held) */
static inline void
write_begin(NagareInstance *e)
{
	pg_atomic_fetch_add_u32(&e->change, 1);
	pg_write_barrier();
}

static inline void
write_end(NagareInstance *e)
{
	pg_write_barrier();
	pg_atomic_fetch_add_u32(&e->change, 1);
}

void
nagare_instance_read(const NagareInstance *e, NagareInstance *copy)
{
	NagareInstance *entry = unconstify(NagareInstance *, e);

	for (;;)
	{
		uint32 before = pg_atomic_read_u32(&entry->change);

		pg_read_barrier();
		if ((before & 1) == 0)
		{
			memcpy(copy, e, sizeof(NagareInstance));
			pg_read_barrier();
			if (pg_atomic_read_u32(&entry->change) == before)
				return;
		}
		SPIN_DELAY();
	}
}

/*
 * Copy src's fields into e (the change counter and mutex stay e's), at
 * version v (the table's lock held exclusive)
 */
static void
copy_fields(NagareInstance *e, const NagareInstance *src, uint64 v)
{
	/* an instance that moves to another service leaves its old one */
	if (e->used && strncmp(e->service, src->service, NAGARE_INSTANCE_SERVICE_MAX) != 0)
		tombstone(e->service, v);
	SpinLockAcquire(&e->mutex);
	write_begin(e);
	e->used = true;
	memcpy(e->service, src->service, sizeof(e->service));
	memcpy(e->address, src->address, sizeof(e->address));
	e->family = src->family;
	memcpy(e->ip, src->ip, sizeof(e->ip));
	e->port = src->port;
	e->ntags = src->ntags;
	e->tags_len = src->tags_len;
	memcpy(e->tags, src->tags, sizeof(e->tags));
	e->status = src->status;
	e->persisted_status = src->persisted_status;
	e->ttl_ms = src->ttl_ms;
	e->deregister_after_ms = src->deregister_after_ms;
	e->last_beat = src->last_beat;
	e->status_changed_at = src->status_changed_at;
	memcpy(e->output, src->output, sizeof(e->output));
	memcpy(e->meta, src->meta, sizeof(e->meta));
	e->modify_index = v;
	write_end(e);
	SpinLockRelease(&e->mutex);
}

static NagareInstance *
enter(const char *id, bool *found)
{
	char key[NAGARE_INSTANCE_ID_MAX];
	NagareInstance *e;

	memset(key, 0, sizeof(key));
	strlcpy(key, id, sizeof(key));
	/* shared dynahash takes more than it was sized for while memory lasts */
	e = hash_search(nagare_instance_hash, key, HASH_FIND, NULL);
	if (e == NULL && hash_get_num_entries(nagare_instance_hash) >= nagare_instances->max)
	{
		*found = false;
		return NULL;
	}
	e = hash_search(nagare_instance_hash, key, HASH_ENTER_NULL, found);
	if (e != NULL && !*found)
	{
		SpinLockInit(&e->mutex);
		pg_atomic_init_u32(&e->change, 0);
		e->used = false;
	}
	return e;
}

bool
nagare_instance_find(const char *id, NagareInstance *copy)
{
	NagareInstance *e;

	LWLockAcquire(nagare_instances->lock, LW_SHARED);
	e = hash_search(nagare_instance_hash, id, HASH_FIND, NULL);
	if (e != NULL && copy != NULL)
		nagare_instance_read(e, copy);
	LWLockRelease(nagare_instances->lock);
	return e != NULL;
}

bool
nagare_instance_upsert(const NagareInstance *src)
{
	NagareInstance *e;
	bool found;

	LWLockAcquire(nagare_instances->lock, LW_EXCLUSIVE);
	e = enter(src->id, &found);
	if (e != NULL)
		copy_fields(e, src, reserve());
	LWLockRelease(nagare_instances->lock);
	if (e != NULL)
		publish();
	return e != NULL;
}

bool
nagare_instance_add_absent(const NagareInstance *src, bool *full)
{
	NagareInstance *e;
	bool found = false;

	LWLockAcquire(nagare_instances->lock, LW_EXCLUSIVE);
	e = enter(src->id, &found);
	if (e != NULL && !found)
		copy_fields(e, src, reserve());
	LWLockRelease(nagare_instances->lock);
	*full = (e == NULL);
	if (e != NULL && !found)
		publish();
	return e != NULL && !found;
}

bool
nagare_instance_remove(const char *id)
{
	char key[NAGARE_INSTANCE_ID_MAX];
	NagareInstance *e;
	bool found;

	memset(key, 0, sizeof(key));
	strlcpy(key, id, sizeof(key));
	LWLockAcquire(nagare_instances->lock, LW_EXCLUSIVE);
	e = hash_search(nagare_instance_hash, key, HASH_FIND, NULL);
	found = e != NULL;
	if (found)
	{
		/* its service's index moves: the service is no longer what it was */
		if (e->used)
			tombstone(e->service, reserve());
		(void) hash_search(nagare_instance_hash, key, HASH_REMOVE, NULL);
	}
	LWLockRelease(nagare_instances->lock);
	if (found)
		publish();
	return found;
}

void
nagare_instance_clear(void)
{
	HASH_SEQ_STATUS status;
	NagareInstance *e;
	uint64 v;
	int i;

	LWLockAcquire(nagare_instances->lock, LW_EXCLUSIVE);
	v = reserve();
	for (i = 0; i < NAGARE_INSTANCE_TOMBSTONES; i++)
		raise_to(&nagare_instances->tombstone[i], v);
	hash_seq_init(&status, nagare_instance_hash);
	while ((e = hash_seq_search(&status)) != NULL)
		(void) hash_search(nagare_instance_hash, e->id, HASH_REMOVE, NULL);
	LWLockRelease(nagare_instances->lock);
	publish();
}

int
nagare_instance_beat(const char *id, int status, const char *note, TimestampTz now)
{
	NagareInstance *e;
	int before = -1;
	/* whole characters of the note that fit (the database's encoding) */
	int cut = note != NULL
				  ? pg_mbcliplen(note, strlen(note), NAGARE_INSTANCE_OUTPUT_MAX - 1)
				  : 0;

	LWLockAcquire(nagare_instances->lock, LW_SHARED);
	e = hash_search(nagare_instance_hash, id, HASH_FIND, NULL);
	if (e != NULL)
	{
		SpinLockAcquire(&e->mutex);
		write_begin(e);
		before = e->status;
		if (e->status != status)
		{
			e->status_changed_at = now;
			e->modify_index = reserve();
		}
		e->status = status;
		e->last_beat = now;
		if (note != NULL)
		{
			memcpy(e->output, note, cut);
			e->output[cut] = '\0';
		}
		write_end(e);
		SpinLockRelease(&e->mutex);
	}
	LWLockRelease(nagare_instances->lock);
	if (before >= 0 && before != status)
		publish();
	return before;
}

int
nagare_instance_expire(TimestampTz now)
{
	HASH_SEQ_STATUS status;
	NagareInstance *e;
	int n = 0;
	uint64 v = 0;

	LWLockAcquire(nagare_instances->lock, LW_SHARED);
	hash_seq_init(&status, nagare_instance_hash);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		if (e->ttl_ms <= 0)
			continue;
		SpinLockAcquire(&e->mutex);
		if (e->status != NAGARE_INSTANCE_CRITICAL &&
			now >= TimestampTzPlusMilliseconds(e->last_beat, e->ttl_ms))
		{
			if (v == 0)
				v = reserve();
			write_begin(e);
			e->status = NAGARE_INSTANCE_CRITICAL;
			e->status_changed_at = now;
			e->modify_index = v;
			strlcpy(e->output, "TTL expired", sizeof(e->output));
			write_end(e);
			n++;
		}
		SpinLockRelease(&e->mutex);
	}
	LWLockRelease(nagare_instances->lock);
	if (n > 0)
		publish();
	return n;
}

void
nagare_instance_persisted(const char *id, int status)
{
	NagareInstance *e;

	LWLockAcquire(nagare_instances->lock, LW_SHARED);
	e = hash_search(nagare_instance_hash, id, HASH_FIND, NULL);
	if (e != NULL)
	{
		SpinLockAcquire(&e->mutex);
		write_begin(e);
		e->persisted_status = status;
		write_end(e);
		SpinLockRelease(&e->mutex);
	}
	LWLockRelease(nagare_instances->lock);
}

int
nagare_instance_snapshot(NagareInstance **copies)
{
	HASH_SEQ_STATUS status;
	NagareInstance *e;
	NagareInstance *out;
	long room = nagare_instance_count() + 64;
	int n;

	/* room first, so that nothing is allocated under the lock */
	for (;;)
	{
		bool cut = false;

		room = Min(room, (long) nagare_instances->max + 1);
		out = palloc(sizeof(NagareInstance) * room);
		n = 0;
		LWLockAcquire(nagare_instances->lock, LW_SHARED);
		hash_seq_init(&status, nagare_instance_hash);
		while ((e = hash_seq_search(&status)) != NULL)
		{
			if (n >= room)
			{
				hash_seq_term(&status);
				cut = true;
				break;
			}
			nagare_instance_read(e, &out[n]);
			if (out[n].used)
				n++;
		}
		LWLockRelease(nagare_instances->lock);
		if (!cut || room > nagare_instances->max)
			break;
		/* entries were added meanwhile: again, with room for them */
		pfree(out);
		room *= 2;
	}
	*copies = out;
	return n;
}

uint64
nagare_instance_version(void)
{
	return pg_atomic_read_u64(&nagare_instances->version);
}

uint64
nagare_instance_service_index(const char *service)
{
	HASH_SEQ_STATUS status;
	NagareInstance *e;
	uint64 index;

	LWLockAcquire(nagare_instances->lock, LW_SHARED);
	index = pg_atomic_read_u64(tombstone_slot(service));
	hash_seq_init(&status, nagare_instance_hash);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		/* the service and index of a consistent copy, without copying it */
		for (;;)
		{
			uint32 before = pg_atomic_read_u32(&e->change);
			bool mine;
			uint64 mod;

			pg_read_barrier();
			if ((before & 1) == 0)
			{
				mine = e->used &&
					   strncmp(e->service, service, NAGARE_INSTANCE_SERVICE_MAX) == 0;
				mod = e->modify_index;
				pg_read_barrier();
				if (pg_atomic_read_u32(&e->change) == before)
				{
					if (mine)
						index = Max(index, mod);
					break;
				}
			}
			SPIN_DELAY();
		}
	}
	LWLockRelease(nagare_instances->lock);
	return index;
}

long
nagare_instance_count(void)
{
	long n;

	LWLockAcquire(nagare_instances->lock, LW_SHARED);
	n = hash_get_num_entries(nagare_instance_hash);
	LWLockRelease(nagare_instances->lock);
	return n;
}
