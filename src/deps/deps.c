/*-------------------------------------------------------------------------
 *
 * deps.c
 *	  Observed dependencies: the shared dependency table (deps.h).
 *
 * Edges are taken when a process first meets one and found again through
 * a hash index of chains (buckets[] and edges[].next), under the
 * dependency lock, which nothing else takes.  An edge's key is written
 * before nused (atomic, after a write barrier) counts it and is never
 * rewritten: readers (the nagare worker's flush) read the edges below
 * nused without the lock.  Counting is pg_atomic adds into the edge a
 * process keeps in its NagareDepsCache.
 *
 * When every edge is taken, a new one counts into the overflow edge
 * (index max; one LOG line per server start).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "mb/pg_wchar.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "deps/deps.h"

static const char *const kind_names[NAGARE_DEPS_NKINDS] = {
	[NAGARE_DEPS_PRODUCE] = "produce",
	[NAGARE_DEPS_PUBLISH] = "publish",
	[NAGARE_DEPS_CONSUME] = "consume",
};

const char *
nagare_deps_kind_name(int kind)
{
	return kind >= 0 && kind < NAGARE_DEPS_NKINDS ? kind_names[kind] : "?";
}

const char *
nagare_deps_source_name(int source)
{
	switch (source)
	{
		case NAGARE_USAGE_SOURCE_KAFKA:
			return "kafka";
		case NAGARE_USAGE_SOURCE_SQL:
			return "sql";
		default:
			return "overflow";
	}
}

static void
copy_clipped(char *dst, size_t dstsize, const char *src, size_t len)
{
	if (len >= dstsize)
		len = pg_encoding_mbcliplen(PG_UTF8, src, len, dstsize - 1);
	if (len > 0)
		memcpy(dst, src, len);
	dst[len] = '\0';
}

static uint32
str_hash(uint32 h, const char *s)
{
	return hash_combine(h, hash_bytes((const unsigned char *) s, strlen(s)));
}

static uint32
key_hash(const NagareDepsKey *k)
{
	uint32 h = k->source | (k->kind << 8);

	h = hash_combine(h, hash_bytes_uint32((uint32) k->topic_id));
	h = str_hash(h, k->tenant);
	h = str_hash(h, k->principal);
	h = str_hash(h, k->client_id);
	return str_hash(h, k->group);
}

static bool
key_equal(const NagareDepsKey *a, const NagareDepsKey *b)
{
	return a->source == b->source && a->kind == b->kind && a->topic_id == b->topic_id &&
		   strcmp(a->tenant, b->tenant) == 0 && strcmp(a->principal, b->principal) == 0 &&
		   strcmp(a->client_id, b->client_id) == 0 && strcmp(a->group, b->group) == 0;
}

bool
nagare_deps_same_client(const NagareDepsCache *c, const char *principal,
						const char *client_id, size_t client_id_len)
{
	size_t len = Min(client_id_len, NAGARE_USAGE_CLIENT_ID_MAX - 1);

	return c->has_client && strcmp(c->client.principal, principal) == 0 &&
		   strncmp(c->client.client_id, client_id ? client_id : "", len) == 0 &&
		   (len == NAGARE_USAGE_CLIENT_ID_MAX - 1 || c->client.client_id[len] == '\0');
}

void
nagare_deps_set_client(NagareDepsCache *c, NagareUsageSource source, const char *tenant,
					   const char *principal, const char *client_id, size_t client_id_len)
{
	NagareDepsKey k;

	memset(&k, 0, sizeof(k));
	k.source = (uint8) source;
	copy_clipped(k.tenant, sizeof(k.tenant), tenant, strlen(tenant));
	copy_clipped(k.principal, sizeof(k.principal), principal, strlen(principal));
	copy_clipped(k.client_id, sizeof(k.client_id), client_id ? client_id : "",
				 client_id_len);
	if (c->has_client && k.source == c->client.source &&
		strcmp(k.tenant, c->client.tenant) == 0 &&
		strcmp(k.principal, c->client.principal) == 0 &&
		strcmp(k.client_id, c->client.client_id) == 0)
		return;
	c->client = k; /* no group: the new client's is looked up */
	c->has_client = true;
	c->groups_version = 0;
	c->n = 0;
	c->victim = 0;
	c->last = 0;
}

void
nagare_deps_set_group(NagareDepsCache *c, const char *group, size_t len)
{
	char g[NAGARE_DEPS_GROUP_MAX];
	int i;
	int j;

	copy_clipped(g, sizeof(g), group ? group : "", len);
	if (strcmp(g, c->client.group) == 0)
		return;
	strlcpy(c->client.group, g, sizeof(c->client.group));
	/* the consume edges were the old group's */
	for (i = 0, j = 0; i < c->n; i++)
	{
		if (c->kind[i] == NAGARE_DEPS_CONSUME)
			continue;
		c->topic_id[j] = c->topic_id[i];
		c->kind[j] = c->kind[i];
		c->edge[j] = c->edge[i];
		j++;
	}
	c->n = j;
	c->victim = 0;
	c->last = 0;
}

/* The edge of key, found or taken (the overflow edge when all are) */
static int
attach(const NagareDepsKey *key)
{
	NagareDepsShared *d = nagare_deps;
	uint32 hash = key_hash(key);
	uint32 nused;
	bool overflowed = false;
	int i;

	LWLockAcquire(d->lock, LW_EXCLUSIVE);
	for (i = d->buckets[hash & (d->nbuckets - 1)]; i >= 0; i = d->edges[i].next)
		if (d->edges[i].hash == hash && key_equal(&d->edges[i].key, key))
			break;
	if (i < 0)
	{
		nused = pg_atomic_read_u32(&d->nused);
		if ((int) nused >= d->max)
		{
			i = d->max;
			if (!d->overflow_logged)
				overflowed = d->overflow_logged = true;
		}
		else
		{
			NagareDepsEdge *e = &d->edges[nused];

			i = (int) nused;
			e->key = *key;
			e->hash = hash;
			e->first_seen = GetCurrentTimestamp();
			e->flushed_records = 0;
			e->flushed_bytes = 0;
			e->next = d->buckets[hash & (d->nbuckets - 1)];
			d->buckets[hash & (d->nbuckets - 1)] = i;
			pg_write_barrier();
			pg_atomic_write_u32(&d->nused, nused + 1);
		}
	}
	LWLockRelease(d->lock);

	if (overflowed)
		ereport(LOG,
				(errmsg("nagare: every one of the %d dependency edges is taken; the traffic of new edges is counted in one overflow edge",
						d->max),
				 errdetail("The first edge without a slot: %s, principal \"%s\", client id \"%s\", %s of topic id %d.",
						   nagare_deps_source_name(key->source), key->principal,
						   key->client_id, nagare_deps_kind_name(key->kind), key->topic_id),
				 errhint("Raise nagare.max_dependency_edges (needs a restart).")));
	return i;
}

int
nagare_deps_edge_slow(NagareDepsCache *c, int32 topic_id, NagareDepsKind kind)
{
	NagareDepsKey key;
	int i;

	for (i = 0; i < c->n; i++)
	{
		if (c->topic_id[i] == topic_id && c->kind[i] == kind)
		{
			c->last = i;
			return c->edge[i];
		}
	}
	key = c->client;
	key.topic_id = topic_id;
	key.kind = (uint8) kind;
	if (kind != NAGARE_DEPS_CONSUME)
		key.group[0] = '\0';
	if (c->n < NAGARE_DEPS_CACHE_SIZE)
		i = c->n++;
	else
	{
		i = c->victim;
		c->victim = (c->victim + 1) % NAGARE_DEPS_CACHE_SIZE;
	}
	c->topic_id[i] = topic_id;
	c->kind[i] = (uint8) kind;
	c->edge[i] = attach(&key);
	c->last = i;
	return c->edge[i];
}

/*---- the broker's groups of clients ----*/

typedef struct ClientKey
{
	char principal[NAGARE_USAGE_PRINCIPAL_MAX];
	char client_id[NAGARE_USAGE_CLIENT_ID_MAX];
} ClientKey;

typedef struct ClientGroup
{
	ClientKey key;
	char group[NAGARE_DEPS_GROUP_MAX];
} ClientGroup;

uint64 nagare_deps_groups_version = 1;
static HTAB *client_groups = NULL;

static void
client_key(ClientKey *k, const char *principal, const char *client_id, size_t len)
{
	memset(k, 0, sizeof(*k));
	copy_clipped(k->principal, sizeof(k->principal), principal, strlen(principal));
	copy_clipped(k->client_id, sizeof(k->client_id), client_id ? client_id : "", len);
}

void
nagare_deps_note_group(const char *principal, const char *client_id, size_t client_id_len,
					   const char *group, size_t group_len)
{
	ClientKey k;
	ClientGroup *e;
	char g[NAGARE_DEPS_GROUP_MAX];
	bool found;

	if (client_groups == NULL)
	{
		HASHCTL ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(ClientKey);
		ctl.entrysize = sizeof(ClientGroup);
		ctl.hcxt = TopMemoryContext;
		client_groups = hash_create("nagare clients' groups", 64, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	client_key(&k, principal, client_id, client_id_len);
	copy_clipped(g, sizeof(g), group ? group : "", group_len);
	e = hash_search(client_groups, &k, HASH_FIND, NULL);
	if (e != NULL && strcmp(e->group, g) == 0)
		return;
	if (e == NULL)
	{
		/* as many clients as edges: beyond, a client's group is not known */
		if (hash_get_num_entries(client_groups) >= nagare_deps->max)
			return;
		e = hash_search(client_groups, &k, HASH_ENTER_NULL, &found);
		if (e == NULL)
			return;
	}
	strlcpy(e->group, g, sizeof(e->group));
	nagare_deps_groups_version++;
}

void
nagare_deps_client_group(NagareDepsCache *c)
{
	ClientKey k;
	ClientGroup *e = NULL;

	if (c->groups_version == nagare_deps_groups_version)
		return;
	c->groups_version = nagare_deps_groups_version;
	if (client_groups != NULL)
	{
		client_key(&k, c->client.principal, c->client.client_id,
				   strlen(c->client.client_id));
		e = hash_search(client_groups, &k, HASH_FIND, NULL);
	}
	if (e != NULL)
		nagare_deps_set_group(c, e->group, strlen(e->group));
}

int
nagare_deps_used(void)
{
	int n = (int) pg_atomic_read_u32(&nagare_deps->nused);

	pg_read_barrier();
	return n;
}
