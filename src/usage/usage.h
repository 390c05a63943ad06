/*-------------------------------------------------------------------------
 *
 * usage.h
 *	  Per-client usage: the shared usage table (NagareUsageShared in
 *	  ../shmem.h) and its counters, for nagare.client_usage.
 *
 * A client is a (source, tenant, principal, client id): Kafka clients by
 * their principal and the client id of their requests (broker/meter.c),
 * SQL callers of send(), send_batch(), publish() and consume() as
 * User:<current_user> with application_name for the client id (sql/usage.c).
 * A process attaches to a client's slot once (the lock is taken then, and
 * only then), keeps the slot number and counts into it with atomic adds;
 * it detaches when its connection or session goes or changes client.  A
 * slot with attachments is never reused.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_USAGE_USAGE_H
#define NAGARE_USAGE_USAGE_H

#include "shmem.h"

/*
 * The slot of a client, attached (its CONNECTIONS counter and attachments
 * go up by one).  Allocates a slot for a new client: a never used one,
 * else the least recently active one without attachments, else the
 * overflow slot (logged once).  Takes the usage lock; never ERRORs, so
 * it is safe in the broker's loop.  client_id is cut to
 * NAGARE_USAGE_CLIENT_ID_MAX - 1 bytes (at a UTF-8 character boundary).
 */
extern int	nagare_usage_attach(NagareUsageSource source, const char *tenant,
								const char *principal, const char *client_id,
								size_t client_id_len);
/*
 * The same for a process that counts on a client's behalf (the ingest
 * worker, for the transactions a SQL client committed): the client's
 * connections counter does not move.
 */
extern int nagare_usage_attach_for(NagareUsageSource source, const char *tenant,
								   const char *principal, const char *client_id,
								   size_t client_id_len);
extern void nagare_usage_detach(int slot);

/* the broker's start: the connections of an earlier broker are gone */
extern void nagare_usage_detach_all_kafka(void);

/* the broker's timer: a snapshot every NAGARE_USAGE_SNAPSHOT_SECS */
extern void nagare_usage_tick(TimestampTz now);

/* zero every counter; free the slots without attachments */
extern void nagare_usage_reset(void);

/* the index of an API key and of an error code in the per-slot arrays */
static inline int
nagare_usage_api_index(int api_key)
{
	return api_key >= 0 && api_key < NAGARE_USAGE_NAPIS - 1 ? api_key
															: NAGARE_USAGE_NAPIS - 1;
}

static inline int
nagare_usage_error_index(int code)
{
	return code >= -1 && code < NAGARE_USAGE_NERRORS - 2 ? code + 1
														 : NAGARE_USAGE_NERRORS - 1;
}

/* counting: lock-free, for any process attached to slot */
static inline void
nagare_usage_add(int slot, NagareUsageCounter counter, uint64 n)
{
	pg_atomic_fetch_add_u64(&nagare_usage->slots[slot].counters[counter], n);
}

static inline void
nagare_usage_count_request(int slot, int api_key)
{
	NagareUsageSlot *s = &nagare_usage->slots[slot];

	pg_atomic_fetch_add_u64(&s->counters[NAGARE_USAGE_REQUESTS], 1);
	pg_atomic_fetch_add_u64(&s->requests[nagare_usage_api_index(api_key)], 1);
}

static inline void
nagare_usage_count_error(int slot, int code)
{
	NagareUsageSlot *s = &nagare_usage->slots[slot];

	pg_atomic_fetch_add_u64(&s->counters[NAGARE_USAGE_ERRORS], 1);
	pg_atomic_fetch_add_u64(&s->errors[nagare_usage_error_index(code)], 1);
}

/*
 * The produce SLIs (broker/meter.c): one Produce partition result of
 * error code, and a Produce's latency from its request's arrival to its
 * response's being ready (acks=all: after the fsync), in µs, counted in
 * the first bucket whose upper bound is at least it (+Inf past the last).
 * The bounds are 1-2-5 log-spaced from 50 µs to 10 s: a latency is known
 * within a factor of 2.5.
 */
extern const uint64 nagare_usage_latency_bounds_us[NAGARE_USAGE_NLATENCY - 1];

static inline void
nagare_usage_count_produce_result(int slot, int code)
{
	pg_atomic_fetch_add_u64(&nagare_usage->slots[slot]
								 .produce_results[nagare_usage_error_index(code)],
							1);
}

static inline int
nagare_usage_latency_bucket(uint64 us)
{
	int i;

	for (i = 0; i < NAGARE_USAGE_NLATENCY - 1; i++)
		if (us <= nagare_usage_latency_bounds_us[i])
			return i;
	return NAGARE_USAGE_NLATENCY - 1;
}

static inline void
nagare_usage_count_produce_latency(int slot, uint64 us)
{
	NagareUsageSlot *s = &nagare_usage->slots[slot];

	pg_atomic_fetch_add_u64(&s->produce_latency[nagare_usage_latency_bucket(us)], 1);
	pg_atomic_fetch_add_u64(&s->produce_latency_us, us);
}

/*
 * The publish() and table topic SLI (../decode/ingest.c): a transaction's
 * latency from its commit to its records' being consumable, in µs, in the
 * same buckets.
 */
static inline void
nagare_usage_count_publish_latency(int slot, uint64 us)
{
	NagareUsageSlot *s = &nagare_usage->slots[slot];

	pg_atomic_fetch_add_u64(&s->publish_latency[nagare_usage_latency_bucket(us)], 1);
	pg_atomic_fetch_add_u64(&s->publish_latency_us, us);
}

/*
 * The broker-wide metrics (NagareMetricsShared in ../shmem.h), with the
 * same buckets: a Kafka request of api_key, an error code other than NONE
 * in its response, its latency (frame handed on to response ready) in µs;
 * a group fsync round's latency in µs.
 */
static inline void
nagare_metrics_count_api_request(int api_key)
{
	pg_atomic_fetch_add_u64(&nagare_metrics->api_requests[nagare_usage_api_index(api_key)],
							1);
}

static inline void
nagare_metrics_count_api_error(int api_key, int code)
{
	pg_atomic_fetch_add_u64(&nagare_metrics->api_errors[nagare_usage_api_index(api_key)]
													   [nagare_usage_error_index(code)],
							1);
}

static inline void
nagare_metrics_count_api_latency(int api_key, uint64 us)
{
	int a = nagare_usage_api_index(api_key);

	pg_atomic_fetch_add_u64(&nagare_metrics->api_latency[a][nagare_usage_latency_bucket(us)],
							1);
	pg_atomic_fetch_add_u64(&nagare_metrics->api_latency_us[a], us);
}

static inline void
nagare_metrics_count_fsync(uint64 us)
{
	pg_atomic_fetch_add_u64(&nagare_metrics->fsync_latency[nagare_usage_latency_bucket(us)],
							1);
	pg_atomic_fetch_add_u64(&nagare_metrics->fsync_latency_us, us);
}

/*
 * A consistent copy of a slot's key, counters and the counters' values a
 * minute ago (the snapshot NAGARE_USAGE_SNAPSHOT_SECS * 12 seconds old;
 * all zeroes for a client newer than that), for the views.  False for a
 * free slot, or when the last snapshot is older than 3 snapshot periods
 * (no broker) for *minute_valid.
 */
typedef struct NagareUsageRow
{
	NagareUsageKey key;
	TimestampTz since;
	TimestampTz last_active;
	uint32		attached;
	uint64		counters[NAGARE_USAGE_NCOUNTERS];
	uint64		minute_ago[NAGARE_USAGE_NCOUNTERS];
	bool		minute_valid;
	uint64		requests[NAGARE_USAGE_NAPIS];
	uint64		errors[NAGARE_USAGE_NERRORS];
	uint64 produce_results[NAGARE_USAGE_NERRORS];
	uint64 produce_latency[NAGARE_USAGE_NLATENCY];
	uint64 produce_latency_us;
	uint64 publish_latency[NAGARE_USAGE_NLATENCY];
	uint64 publish_latency_us;
} NagareUsageRow;

extern bool nagare_usage_read(int slot, NagareUsageRow *row);

#endif							/* NAGARE_USAGE_USAGE_H */
