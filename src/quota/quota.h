/*-------------------------------------------------------------------------
 *
 * quota.h
 *	  Kafka's client quotas: the keys, the entities and their precedence,
 *	  and the one resolver of what applies to a client (quota.c).
 *
 * Quotas are rows of nagare.quota (entities as Kafka's: user, client-id,
 * (user, client-id), ip; and nagare's tenant), and the platform's caps on
 * what a tenant's admins may set are rows of nagare.tenant_quota_cap.  The
 * nagare worker copies both, with the tenant of each principal, into shared
 * memory; the broker and backends resolve from that copy and never read the
 * tables.  Enforcement (buckets, throttling, muting) is the broker's
 * (broker/throttle.c); this file only says what the limits are.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_QUOTA_QUOTA_H
#define NAGARE_QUOTA_QUOTA_H

#include "shmem.h"

/* Kafka's quota keys (QuotaConfig), in this order everywhere */
typedef enum NagareQuotaKey
{
	NAGARE_QUOTA_PRODUCER_BYTE_RATE,	/* bytes/s of Produce requests */
	NAGARE_QUOTA_CONSUMER_BYTE_RATE,	/* bytes/s of Fetch responses */
	NAGARE_QUOTA_REQUEST_PERCENTAGE,	/* % of one thread's time (KIP-124) */
	NAGARE_QUOTA_CONTROLLER_MUTATION_RATE,	/* partitions/s created or
											 * deleted (KIP-599) */
	NAGARE_QUOTA_CONNECTION_CREATION_RATE,	/* connections/s (KIP-612; ip
											 * entities only) */
	NAGARE_QUOTA_NKEYS
} NagareQuotaKey;

/* a tenant's name (nagare.tenant.name), NUL included */
#define NAGARE_TENANT_NAME_MAX	65

/*
 * What applies to one client, resolved for (user, client-id) by Kafka's
 * precedence for each key separately: (user, client-id), (user, default
 * client-id), user, (default user, client-id), (default user, default
 * client-id), default user, client-id, default client-id; the first level
 * with a value for the key wins.  A limit of 0 means none.
 *
 * by_user and by_client say which components the winning level is keyed by
 * (Kafka's quota metric tags): a level naming a user or the default user
 * keys by user, one naming a client-id or the default client-id keys by
 * client-id.  Every connection whose (user if by_user, client-id if
 * by_client) agree shares one budget.
 *
 * tenant is the tenant the user is a principal of ("" if none), and
 * tenant_limit its tenant-level quota, shared by all of its principals:
 * the tenant's own value, else the platform's cap, else 0.
 */
typedef struct NagareQuotaLimits
{
	uint64		version;		/* nagare_quota_version() it was resolved at */
	double		client[NAGARE_QUOTA_NKEYS];
	bool		by_user[NAGARE_QUOTA_NKEYS];
	bool		by_client[NAGARE_QUOTA_NKEYS];
	char		tenant[NAGARE_TENANT_NAME_MAX];
	double		tenant_limit[NAGARE_QUOTA_NKEYS];
} NagareQuotaLimits;

extern const char *nagare_quota_key_name(NagareQuotaKey key);
extern int	nagare_quota_key_code(const char *name);	/* -1: not a key */

/* changes whenever the shared copy changes: resolutions older are stale */
extern uint64 nagare_quota_version(void);

/*
 * user is the principal's name without "User:" ("alice", "ANONYMOUS");
 * client_id the request header's client id ("" for a null one).  Safe in
 * the broker's loop: it never ERRORs and takes only the quota lock, shared.
 */
extern void nagare_quota_resolve(const char *user, const char *client_id,
								 NagareQuotaLimits *out);

/* connection_creation_rate of an ip (its own, else the default ip); 0: none */
extern double nagare_quota_ip_connection_rate(const char *ip);

/* the tenant user is a principal of, into tenant[NAGARE_TENANT_NAME_MAX]; false if none */
extern bool nagare_quota_tenant_of(const char *user, char *tenant);
/* the same of a Kafka principal, "User:<user>" (any other has none) */
extern bool nagare_quota_tenant_of_principal(const char *principal, char *tenant);

/*---- beyond the resolver: the configuration's own parts ----*/

/*
 * Kafka's precedence levels, first wins (NAGARE_QUOTA_LEVEL_NONE: no level
 * sets the key).  nagare_quota_resolve_levels() says which level won each
 * key, for nagare.effective_quota().
 */
typedef enum NagareQuotaLevel
{
	NAGARE_QUOTA_LEVEL_NONE,
	NAGARE_QUOTA_LEVEL_USER_CLIENT, /* (user, client-id) */
	NAGARE_QUOTA_LEVEL_USER_DEFAULT_CLIENT, /* (user, default client-id) */
	NAGARE_QUOTA_LEVEL_USER,	/* user */
	NAGARE_QUOTA_LEVEL_DEFAULT_USER_CLIENT, /* (default user, client-id) */
	NAGARE_QUOTA_LEVEL_DEFAULT_USER_DEFAULT_CLIENT, /* (default user, default
													 * client-id) */
	NAGARE_QUOTA_LEVEL_DEFAULT_USER,	/* default user */
	NAGARE_QUOTA_LEVEL_CLIENT,	/* client-id */
	NAGARE_QUOTA_LEVEL_DEFAULT_CLIENT,	/* default client-id */
	NAGARE_QUOTA_NLEVELS
} NagareQuotaLevel;

/*
 * nagare_quota_resolve(), and per key the level that won (levels) and
 * whether the tenant limit is the platform's cap rather than the tenant's
 * own value (from_cap); either may be NULL.
 */
extern void nagare_quota_resolve_levels(const char *user, const char *client_id,
										NagareQuotaLimits *out, NagareQuotaLevel *levels,
										bool *from_cap);

/* The entity of a level for (user, client_id), as nagare.quota writes it */
extern void nagare_quota_level_entity(NagareQuotaLevel level, const char *user,
									  const char *client_id, char *buf, size_t size);

/*
 * Entities of nagare.quota as text, "user=alice,client-id=app1" (types user,
 * client-id, ip and nagare's tenant; a name "<default>" is the type's
 * default), into the kind and names of a NagareQuotaEntry.  Both return
 * NULL, or Kafka's message of what is wrong (into err, errsize bytes):
 * unknown or repeated types, empty names, ip combined with others.
 */
extern const char *nagare_quota_entity_parse(const char *text, NagareQuotaEntry *e,
											 char *err, size_t errsize);
extern const char *nagare_quota_entity_check(const NagareQuotaEntry *e, char *err,
											 size_t errsize);
/* The text of an entity (canonical: user before client-id) */
extern void nagare_quota_entity_text(const NagareQuotaEntry *e, char *buf, size_t size);

/*
 * NULL if key may be set to value on the entity, else Kafka's message: keys
 * of ip entities are connection_creation_rate only, and only theirs; values
 * are > 0, and whole numbers for the byte rates and connection rate.
 */
extern const char *nagare_quota_value_invalid(const NagareQuotaEntry *e, const char *key,
											  double value, char *err, size_t errsize);

/* The order of the shared copy's entries (for bisection) */
extern int	nagare_quota_entry_cmp(const void *a, const void *b);

/*
 * Replace the shared copy with entries (sorted here), after a reading of
 * the tables that began when NagareQuotaShared.changes was synced; overflow
 * says rows were left out.  The nagare worker's (worker/quotasync.c).
 */
extern void nagare_quota_publish(NagareQuotaEntry *entries, int n, bool overflow,
								 uint64 synced);

#endif							/* NAGARE_QUOTA_QUOTA_H */
