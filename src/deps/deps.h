/*-------------------------------------------------------------------------
 *
 * deps.h
 *	  Observed dependencies: the shared dependency table (NagareDepsShared
 *	  in ../shmem.h), its edges and their counters, and the per-process
 *	  cache that keeps counting off the lock.
 *
 * An edge is a client (source, tenant, principal, client id) producing,
 * publishing or consuming a topic, with the consumer group for consume.
 * A process finds an edge once through its NagareDepsCache (the lock is
 * taken then, and only then) and counts into it with atomic adds.  Edges
 * are never freed before the server restarts; when every one is taken,
 * new edges count into the overflow edge (logged once).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_DEPS_DEPS_H
#define NAGARE_DEPS_DEPS_H

#include "shmem.h"

/* entries of a cache: the topics and kinds one connection or backend uses */
#define NAGARE_DEPS_CACHE_SIZE 16

/*
 * A process's edges of one client: (topic, kind) -> edge.  Kept by each
 * Kafka connection (broker/meter.c) and each backend (sql/client_usage.c);
 * zero it to start.  When the client or the group changes, the entries
 * that no longer match are dropped; when it is full, the oldest entry
 * makes room (round robin).
 */
typedef struct NagareDepsCache
{
	NagareDepsKey client; /* topic_id and kind unused */
	bool has_client;
	uint64 quota_version; /* the tenant was resolved at */
	int n;
	int victim; /* next entry to replace when full */
	int32 topic_id[NAGARE_DEPS_CACHE_SIZE];
	uint8 kind[NAGARE_DEPS_CACHE_SIZE];
	int32 edge[NAGARE_DEPS_CACHE_SIZE];
	int last; /* the entry found last */
	uint64 groups_version; /* of the broker's groups of clients, seen */
} NagareDepsCache;

/*
 * The client of c's next counts: if it is not the one c has, c forgets its
 * edges.  client_id is cut to NAGARE_USAGE_CLIENT_ID_MAX - 1 bytes.
 */
extern void nagare_deps_set_client(NagareDepsCache *c, NagareUsageSource source,
								   const char *tenant, const char *principal,
								   const char *client_id, size_t client_id_len);

/* whether c's client is this one (the tenant not compared) */
extern bool nagare_deps_same_client(const NagareDepsCache *c, const char *principal,
									const char *client_id, size_t client_id_len);

/* the consumer group of c's next consume counts ("" for none) */
extern void nagare_deps_set_group(NagareDepsCache *c, const char *group, size_t len);

/*
 * The edge of c's client to topic_id as kind: from c, else found or taken
 * in the shared table under its lock.  Never ERRORs: safe in the broker's
 * loop.
 */
extern int nagare_deps_edge_slow(NagareDepsCache *c, int32 topic_id, NagareDepsKind kind);

static inline int
nagare_deps_edge(NagareDepsCache *c, int32 topic_id, NagareDepsKind kind)
{
	int i = c->last;

	if (i < c->n && c->topic_id[i] == topic_id && c->kind[i] == kind)
		return c->edge[i];
	return nagare_deps_edge_slow(c, topic_id, kind);
}

/* counting: lock-free */
static inline void
nagare_deps_add(int edge, uint64 records, uint64 bytes)
{
	NagareDepsEdge *e = &nagare_deps->edges[edge];

	if (records > 0)
		pg_atomic_fetch_add_u64(&e->records, records);
	pg_atomic_fetch_add_u64(&e->bytes, bytes);
}

static inline void
nagare_deps_count(NagareDepsCache *c, int32 topic_id, NagareDepsKind kind, uint64 records,
				  uint64 bytes)
{
	nagare_deps_add(nagare_deps_edge(c, topic_id, kind), records, bytes);
}

/*
 * The broker's groups of clients: the group a Kafka client (principal and
 * client id) last sent a JoinGroup or OffsetCommit for, on any of its
 * connections (clients talk to the coordinator on a connection of its
 * own).  Process-local; nagare_deps_groups_version moves at each change.
 * nagare_deps_client_group() copies the group into c when the version
 * moved since c last looked.
 */
extern uint64 nagare_deps_groups_version;
extern void nagare_deps_note_group(const char *principal, const char *client_id,
								   size_t client_id_len, const char *group,
								   size_t group_len);
extern void nagare_deps_client_group(NagareDepsCache *c);

/* edges taken so far: every index below is a whole edge (and max, the overflow) */
extern int nagare_deps_used(void);

/* the names of NagareDepsKind and of the sources, as the tables spell them */
extern const char *nagare_deps_kind_name(int kind);
extern const char *nagare_deps_source_name(int source);

#endif /* NAGARE_DEPS_DEPS_H */
