/*-------------------------------------------------------------------------
 *
 * usage.c
 *	  Per-client usage: the shared usage table (usage.h).
 *
 * Slots are allocated when a process first meets a client and found again
 * through a hash index of chains (buckets[] and slots[].next), all under
 * the usage lock, which nothing else takes: attaching is the only time a
 * counting process takes it.  Counting is pg_atomic adds into the slot the
 * process keeps (usage.h's inline functions).
 *
 * When every slot is taken, a new client gets the least recently active
 * slot without attachments (its counts are lost) or, when every client has
 * live connections, the overflow slot (one LOG line per server start or
 * reset).  Activity is what the snapshots see: a slot whose counters moved
 * since the previous snapshot was active then.
 *
 * The last-minute figures: the broker's once-a-second timer calls
 * nagare_usage_tick(), which every NAGARE_USAGE_SNAPSHOT_SECS copies every
 * slot's counters into its ring of NAGARE_USAGE_SNAPSHOTS snapshots; a
 * reader subtracts the snapshot 12 periods (60 s) older than the latest
 * from the live counters, a window of 60 to 65 seconds.  A slot taken
 * after that snapshot has zeroes there (allocation zeroes its ring), so
 * its whole count is recent, as it should be.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "mb/pg_wchar.h"
#include "utils/timestamp.h"

#include "usage/usage.h"

static int attach(NagareUsageSource source, const char *tenant, const char *principal,
				  const char *client_id, size_t client_id_len, bool connection);

/* periods between the snapshot a minute ago and the latest */
#define MINUTE_PERIODS	(60 / NAGARE_USAGE_SNAPSHOT_SECS)

StaticAssertDecl(MINUTE_PERIODS < NAGARE_USAGE_SNAPSHOTS,
				 "the ring must hold a minute of snapshots and the one being written");

const uint64 nagare_usage_latency_bounds_us[NAGARE_USAGE_NLATENCY - 1] = {
	50,    100,    200,    500,    1000,    2000,    5000,    10000,    20000,
	50000, 100000, 200000, 500000, 1000000, 2000000, 5000000, 10000000,
};

static void
copy_clipped(char *dst, size_t dstsize, const char *src, size_t len)
{
	if (len >= dstsize)
		len = pg_encoding_mbcliplen(PG_UTF8, src, len, dstsize - 1);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static uint32
key_hash(const NagareUsageKey *key)
{
	uint32		h = key->source;

	h = hash_combine(h,
					 hash_bytes((const unsigned char *) key->tenant, strlen(key->tenant)));
	h = hash_combine(h, hash_bytes((const unsigned char *) key->principal,
								   strlen(key->principal)));
	h = hash_combine(h, hash_bytes((const unsigned char *) key->client_id,
								   strlen(key->client_id)));
	return h;
}

static bool
key_equal(const NagareUsageKey *a, const NagareUsageKey *b)
{
	return a->source == b->source && strcmp(a->tenant, b->tenant) == 0 &&
		   strcmp(a->principal, b->principal) == 0 &&
		   strcmp(a->client_id, b->client_id) == 0;
}

static void
zero_counts(NagareUsageSlot *s)
{
	int			i;

	for (i = 0; i < NAGARE_USAGE_NCOUNTERS; i++)
		pg_atomic_write_u64(&s->counters[i], 0);
	for (i = 0; i < NAGARE_USAGE_NAPIS; i++)
		pg_atomic_write_u64(&s->requests[i], 0);
	for (i = 0; i < NAGARE_USAGE_NERRORS; i++)
	{
		pg_atomic_write_u64(&s->errors[i], 0);
		pg_atomic_write_u64(&s->produce_results[i], 0);
	}
	for (i = 0; i < NAGARE_USAGE_NLATENCY; i++)
	{
		pg_atomic_write_u64(&s->produce_latency[i], 0);
		pg_atomic_write_u64(&s->publish_latency[i], 0);
	}
	pg_atomic_write_u64(&s->produce_latency_us, 0);
	pg_atomic_write_u64(&s->publish_latency_us, 0);
	memset(s->snapshots, 0, sizeof(s->snapshots));
}

/* Take slot i out of its hash chain (lock held exclusively) */
static void
unlink_slot(int i)
{
	NagareUsageShared *u = nagare_usage;
	int32	   *link = &u->buckets[u->slots[i].hash & (u->nbuckets - 1)];

	while (*link >= 0 && *link != i)
		link = &u->slots[*link].next;
	if (*link == i)
		*link = u->slots[i].next;
	u->slots[i].next = -1;
}

/* Begin and end rewriting a slot's key: readers retry meanwhile */
static void
change_begin(NagareUsageSlot *s)
{
	pg_atomic_fetch_add_u32(&s->change, 1);
	pg_write_barrier();
}

static void
change_end(NagareUsageSlot *s)
{
	pg_write_barrier();
	pg_atomic_fetch_add_u32(&s->change, 1);
}

/*
 * A slot for a new client (lock held exclusively): a never used or freed
 * one, else the least recently active one without attachments; -1 if
 * every slot has attachments.
 */
static int
take_slot(void)
{
	NagareUsageShared *u = nagare_usage;
	int			best = -1;
	uint64		best_active = PG_UINT64_MAX;
	int			i;

	if (u->nused < u->max)
		return u->nused++;
	for (i = 0; i < u->max; i++)
	{
		NagareUsageSlot *s = &u->slots[i];
		uint64		active;

		if (!s->used)
			return i;
		if (pg_atomic_read_u32(&s->attached) > 0)
			continue;
		active = pg_atomic_read_u64(&s->last_active);
		if (active < best_active)
		{
			best = i;
			best_active = active;
		}
	}
	if (best >= 0)
		unlink_slot(best);
	return best;
}

int
nagare_usage_attach(NagareUsageSource source, const char *tenant, const char *principal,
					const char *client_id, size_t client_id_len)
{
	return attach(source, tenant, principal, client_id, client_id_len, true);
}

int
nagare_usage_attach_for(NagareUsageSource source, const char *tenant,
						const char *principal, const char *client_id, size_t client_id_len)
{
	return attach(source, tenant, principal, client_id, client_id_len, false);
}

static int
attach(NagareUsageSource source, const char *tenant, const char *principal,
	   const char *client_id, size_t client_id_len, bool connection)
{
	NagareUsageShared *u = nagare_usage;
	NagareUsageKey key;
	uint32		hash;
	int			i;
	bool		overflowed = false;

	memset(&key, 0, sizeof(key));
	key.source = (uint8) source;
	copy_clipped(key.tenant, sizeof(key.tenant), tenant, strlen(tenant));
	copy_clipped(key.principal, sizeof(key.principal), principal, strlen(principal));
	copy_clipped(key.client_id, sizeof(key.client_id), client_id, client_id_len);
	hash = key_hash(&key);

	LWLockAcquire(u->lock, LW_EXCLUSIVE);
	for (i = u->buckets[hash & (u->nbuckets - 1)]; i >= 0; i = u->slots[i].next)
		if (u->slots[i].hash == hash && key_equal(&u->slots[i].key, &key))
			break;
	if (i < 0)
	{
		i = take_slot();
		if (i < 0)
		{
			i = u->max;
			if (!u->overflow_logged)
				overflowed = u->overflow_logged = true;
		}
		else
		{
			NagareUsageSlot *s = &u->slots[i];
			TimestampTz now = GetCurrentTimestamp();

			change_begin(s);
			s->key = key;
			s->hash = hash;
			s->since = now;
			s->used = true;
			zero_counts(s);
			pg_atomic_write_u64(&s->last_active, (uint64) now);
			s->next = u->buckets[hash & (u->nbuckets - 1)];
			u->buckets[hash & (u->nbuckets - 1)] = i;
			change_end(s);
		}
	}
	pg_atomic_fetch_add_u32(&u->slots[i].attached, 1);
	if (connection)
		pg_atomic_fetch_add_u64(&u->slots[i].counters[NAGARE_USAGE_CONNECTIONS], 1);
	LWLockRelease(u->lock);

	if (overflowed)
		ereport(LOG,
				(errmsg("nagare: every one of the %d client usage slots has a live client; the usage of new clients is counted in one overflow row",
						u->max),
				 errdetail("The first client without a slot: %s, principal \"%s\", client id \"%s\".",
						   source == NAGARE_USAGE_SOURCE_SQL ? "SQL" : "Kafka",
						   key.principal, key.client_id),
				 errhint("Raise nagare.max_client_usage (needs a restart).")));
	return i;
}

void
nagare_usage_detach(int slot)
{
	pg_atomic_uint32 *attached = &nagare_usage->slots[slot].attached;
	uint32		cur = pg_atomic_read_u32(attached);

	/* never below zero: a new broker forgets the old one's attachments */
	while (cur > 0 && !pg_atomic_compare_exchange_u32(attached, &cur, cur - 1))
		;
}

void
nagare_usage_detach_all_kafka(void)
{
	NagareUsageShared *u = nagare_usage;
	int			i;

	LWLockAcquire(u->lock, LW_SHARED);
	for (i = 0; i < u->max; i++)
		if (u->slots[i].used && u->slots[i].key.source == NAGARE_USAGE_SOURCE_KAFKA)
			pg_atomic_write_u32(&u->slots[i].attached, 0);
	LWLockRelease(u->lock);
}

void
nagare_usage_tick(TimestampTz now)
{
	static TimestampTz next = 0;
	NagareUsageShared *u = nagare_usage;
	uint64		tick;
	int			cur;
	int			prev;
	int			i;
	int			c;

	if (now < next)
		return;
	next = TimestampTzPlusMilliseconds(now, NAGARE_USAGE_SNAPSHOT_SECS * 1000);
	tick = pg_atomic_read_u64(&u->tick) + 1;
	cur = tick % NAGARE_USAGE_SNAPSHOTS;
	prev = (tick - 1) % NAGARE_USAGE_SNAPSHOTS;

	/* shared: no slot changes hands meanwhile (allocation is exclusive) */
	LWLockAcquire(u->lock, LW_SHARED);
	for (i = 0; i <= u->max; i++)
	{
		NagareUsageSlot *s = &u->slots[i];
		bool		moved = false;

		if (!s->used)
			continue;
		for (c = 0; c < NAGARE_USAGE_NCOUNTERS; c++)
		{
			uint64		v = pg_atomic_read_u64(&s->counters[c]);

			if (v != s->snapshots[prev][c] && c != NAGARE_USAGE_CONNECTIONS)
				moved = true;
			s->snapshots[cur][c] = v;
		}
		if (moved)
			pg_atomic_write_u64(&s->last_active, (uint64) now);
	}
	LWLockRelease(u->lock);
	pg_write_barrier();
	pg_atomic_write_u64(&u->tick_time, (uint64) now);
	pg_atomic_write_u64(&u->tick, tick);
}

void
nagare_usage_reset(void)
{
	NagareUsageShared *u = nagare_usage;
	int			i;

	LWLockAcquire(u->lock, LW_EXCLUSIVE);
	for (i = 0; i <= u->max; i++)
	{
		NagareUsageSlot *s = &u->slots[i];

		if (!s->used)
			continue;
		change_begin(s);
		zero_counts(s);
		if (i < u->max && pg_atomic_read_u32(&s->attached) == 0)
		{
			unlink_slot(i);
			s->used = false;
		}
		else
		{
			s->since = GetCurrentTimestamp();
			/* attached: its connections count again from here */
			pg_atomic_write_u64(&s->counters[NAGARE_USAGE_CONNECTIONS],
								pg_atomic_read_u32(&s->attached));
		}
		change_end(s);
	}
	u->overflow_logged = false;
	LWLockRelease(u->lock);
}

bool
nagare_usage_read(int slot, NagareUsageRow *row)
{
	NagareUsageShared *u = nagare_usage;
	NagareUsageSlot *s = &u->slots[slot];
	int			attempt;
	int			i;

	for (attempt = 0; attempt < 100; attempt++)
	{
		uint32		before = pg_atomic_read_u32(&s->change);
		uint64		tick;
		TimestampTz tick_time;

		if (before % 2 != 0)
		{
			pg_spin_delay();
			continue;
		}
		pg_read_barrier();
		if (!s->used)
			return false;
		row->key = s->key;
		row->since = s->since;
		row->attached = pg_atomic_read_u32(&s->attached);
		row->last_active = (TimestampTz) pg_atomic_read_u64(&s->last_active);
		tick = pg_atomic_read_u64(&u->tick);
		pg_read_barrier();
		tick_time = (TimestampTz) pg_atomic_read_u64(&u->tick_time);
		for (i = 0; i < NAGARE_USAGE_NCOUNTERS; i++)
		{
			row->counters[i] = pg_atomic_read_u64(&s->counters[i]);
			row->minute_ago[i] =
				tick >= MINUTE_PERIODS
					? s->snapshots[(tick - MINUTE_PERIODS) % NAGARE_USAGE_SNAPSHOTS][i]
					: 0;
		}
		row->minute_valid =
			!TimestampDifferenceExceeds(tick_time, GetCurrentTimestamp(),
										3 * NAGARE_USAGE_SNAPSHOT_SECS * 1000);
		for (i = 0; i < NAGARE_USAGE_NAPIS; i++)
			row->requests[i] = pg_atomic_read_u64(&s->requests[i]);
		for (i = 0; i < NAGARE_USAGE_NERRORS; i++)
		{
			row->errors[i] = pg_atomic_read_u64(&s->errors[i]);
			row->produce_results[i] = pg_atomic_read_u64(&s->produce_results[i]);
		}
		for (i = 0; i < NAGARE_USAGE_NLATENCY; i++)
		{
			row->produce_latency[i] = pg_atomic_read_u64(&s->produce_latency[i]);
			row->publish_latency[i] = pg_atomic_read_u64(&s->publish_latency[i]);
		}
		row->produce_latency_us = pg_atomic_read_u64(&s->produce_latency_us);
		row->publish_latency_us = pg_atomic_read_u64(&s->publish_latency_us);
		pg_read_barrier();
		if (pg_atomic_read_u32(&s->change) == before)
			return true;
	}
	return false;
}
