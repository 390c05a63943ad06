/*-------------------------------------------------------------------------
 *
 * instances.h
 *	  The shared table of live service instances (shmem.h's NagareInstance):
 *	  find, upsert, beat, expire, remove, and consistent copies for readers.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_INSTANCES_H
#define NAGARE_INSTANCES_H

#include "datatype/timestamp.h"

#include "shmem.h"

typedef enum NagareInstanceStatus
{
	NAGARE_INSTANCE_PASSING = 0,
	NAGARE_INSTANCE_WARNING = 1,
	NAGARE_INSTANCE_CRITICAL = 2
} NagareInstanceStatus;

/* "passing", "warning", "critical" */
extern const char *nagare_instance_status_name(int status);
/* the status named, or -1 */
extern int nagare_instance_status_parse(const char *name);

/*
 * Fill e's address fields (family, ip) from e->address: an IPv4 or IPv6
 * literal, else family 0 (a DNS name).
 */
extern void nagare_instance_parse_address(NagareInstance *e);

/*
 * Append a tag to e->tags; false (and nothing appended) if the tags would
 * take more than NAGARE_INSTANCE_TAGS_MAX bytes
 */
extern bool nagare_instance_add_tag(NagareInstance *e, const char *tag);

/* An interval as milliseconds (at least 1; a month is 30 days) */
extern int64 nagare_instance_interval_ms(const Interval *iv);

/* A consistent copy of an entry (the caller holds the table's lock) */
extern void nagare_instance_read(const NagareInstance *e, NagareInstance *copy);

/* Is the id in the table; if so and copy is not NULL, a copy of it */
extern bool nagare_instance_find(const char *id, NagareInstance *copy);

/*
 * Add or replace the entry of src->id with src's fields (its change counter
 * and mutex are ignored).  False if the table is full.
 */
extern bool nagare_instance_upsert(const NagareInstance *src);

/* Add src only if its id is not there (the nagare worker's load) */
extern bool nagare_instance_add_absent(const NagareInstance *src, bool *full);

/* Remove an entry; false if it was not there */
extern bool nagare_instance_remove(const char *id);

/* Remove every entry (the extension was dropped) */
extern void nagare_instance_clear(void);

/*
 * A beat: the entry's status becomes status, its output note (if not NULL),
 * its TTL starts again at now.  Returns the status before, or -1 if the id
 * is not in the table.
 */
extern int nagare_instance_beat(const char *id, int status, const char *note,
								TimestampTz now);

/*
 * The TTL sweep: every entry with a TTL whose last beat is older than it
 * becomes critical with output "TTL expired".  Returns how many did.
 */
extern int nagare_instance_expire(TimestampTz now);

/* The sweep wrote status to the table for this id */
extern void nagare_instance_persisted(const char *id, int status);

/*
 * Consistent copies of every entry, palloc'd in the current memory context;
 * returns how many.  The lock is held shared for the copying only.
 */
extern int nagare_instance_snapshot(NagareInstance **copies);

/*
 * The table's version: it grows after every add, replace, remove and status
 * change (by two: see instances.c's reserve()), so a reader that saw the
 * same version has nothing new to answer (the DNS server's index, the HTTP
 * API's X-Consul-Index of the whole table)
 */
extern uint64 nagare_instance_version(void);

/*
 * A service's index (Consul's per-service X-Consul-Index): the largest
 * modify_index of its entries and of its tombstone slot (the version of the
 * last removal of one of its instances, or of another service's sharing
 * the slot).  It grows with every add, replace, removal and status change
 * of the service's instances and never goes back (until a restart); a
 * change of another service moves it only if they share a slot.  One pass
 * over the table, copying nothing, under the lock held shared.
 */
extern uint64 nagare_instance_service_index(const char *service);

/* Entries in the table */
extern long nagare_instance_count(void);

#endif /* NAGARE_INSTANCES_H */
