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

/* Copy src's fields into e (the change counter and mutex stay e's) */
static void
copy_fields(NagareInstance *e, const NagareInstance *src)
{
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
		copy_fields(e, src);
	LWLockRelease(nagare_instances->lock);
	if (e != NULL)
		pg_atomic_fetch_add_u64(&nagare_instances->version, 1);
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
		copy_fields(e, src);
	LWLockRelease(nagare_instances->lock);
	*full = (e == NULL);
	if (e != NULL && !found)
		pg_atomic_fetch_add_u64(&nagare_instances->version, 1);
	return e != NULL && !found;
}

bool
nagare_instance_remove(const char *id)
{
	char key[NAGARE_INSTANCE_ID_MAX];
	bool found;

	memset(key, 0, sizeof(key));
	strlcpy(key, id, sizeof(key));
	LWLockAcquire(nagare_instances->lock, LW_EXCLUSIVE);
	(void) hash_search(nagare_instance_hash, key, HASH_REMOVE, &found);
	LWLockRelease(nagare_instances->lock);
	if (found)
		pg_atomic_fetch_add_u64(&nagare_instances->version, 1);
	return found;
}

void
nagare_instance_clear(void)
{
	HASH_SEQ_STATUS status;
	NagareInstance *e;

	LWLockAcquire(nagare_instances->lock, LW_EXCLUSIVE);
	hash_seq_init(&status, nagare_instance_hash);
	while ((e = hash_seq_search(&status)) != NULL)
		(void) hash_search(nagare_instance_hash, e->id, HASH_REMOVE, NULL);
	LWLockRelease(nagare_instances->lock);
	pg_atomic_fetch_add_u64(&nagare_instances->version, 1);
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
			e->status_changed_at = now;
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
		pg_atomic_fetch_add_u64(&nagare_instances->version, 1);
	return before;
}

int
nagare_instance_expire(TimestampTz now)
{
	HASH_SEQ_STATUS status;
	NagareInstance *e;
	int n = 0;

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
			write_begin(e);
			e->status = NAGARE_INSTANCE_CRITICAL;
			e->status_changed_at = now;
			strlcpy(e->output, "TTL expired", sizeof(e->output));
			write_end(e);
			n++;
		}
		SpinLockRelease(&e->mutex);
	}
	LWLockRelease(nagare_instances->lock);
	if (n > 0)
		pg_atomic_fetch_add_u64(&nagare_instances->version, 1);
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

long
nagare_instance_count(void)
{
	long n;

	LWLockAcquire(nagare_instances->lock, LW_SHARED);
	n = hash_get_num_entries(nagare_instance_hash);
	LWLockRelease(nagare_instances->lock);
	return n;
}
