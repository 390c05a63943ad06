/*-------------------------------------------------------------------------
 *
 * topicmap.c
 *	  The broker's view of the topic catalog, by name, for Kafka requests.
 *
 * The shared topic table (shmem.h) is keyed by topic id and filled by the
 * nagare worker and by backends whose topic DDL commits.  Kafka requests
 * name topics, so the broker keeps a private name -> topic map, rebuilt
 * whenever the shared table or the server's defaults change.  Rebuilding
 * scans the shared table under registry_lock in shared mode: a few
 * microseconds per thousand topics, and only after a change.
 *
 * Identity.  Kafka clients expect a stable cluster id and, from Metadata
 * v10, topic ids (UUIDs).  The cluster id derives from the PostgreSQL
 * cluster's system identifier, so it survives restarts and differs between
 * clusters; a topic's id is its nagare.topic.topic_uuid, as SQL shows it:
 * random, given when the topic is created (a topic deleted and created
 * again gets a new one), never all zeros.  Metadata v12+, Fetch v13+ and
 * DeleteTopics v6 name topics by id, so the map has a second index, by id.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "common/base64.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "broker/net.h"
#include "broker/topicmap.h"
#include "nagare.h"
#include "topic/config.h"

static HTAB *topic_map = NULL;
static HTAB *uuid_map = NULL; /* KafkaUuid -> UuidEntry */
static MemoryContext topic_context = NULL;
static const BrokerTopic **topic_array = NULL;
static int	ntopics = 0;
static uint64 map_table_version = PG_UINT64_MAX;
static uint64 map_generation = PG_UINT64_MAX;
static int	map_reload = -1;
static char cluster_id[32];

typedef struct UuidEntry
{
	KafkaUuid uuid; /* hash key */
	const BrokerTopic *topic;
} UuidEntry;

/* The 16 bytes behind the cluster id: the system identifier and "ngre" */
static void
identity_bytes(uint8 *b)
{
	uint64		sysid = GetSystemIdentifier();
	int			i;

	for (i = 0; i < 8; i++)
		b[i] = (uint8) (sysid >> (56 - 8 * i));
	b[8] = 'n';
	b[9] = 'g';
	b[10] = 'r';
	b[11] = 'e';
	b[12] = b[13] = b[14] = b[15] = 0;
	/* RFC 4122 version 8 (custom) and variant bits, as UUIDs should have */
	b[6] = (b[6] & 0x0f) | 0x80;
	b[8] = (b[8] & 0x3f) | 0x80;
}

/*
 * The cluster id: Kafka's form, 22 characters of URL-safe base64 without
 * padding.
 */
const char *
nagare_cluster_id(void)
{
	if (cluster_id[0] == '\0')
	{
		uint8		b[16];
		char		enc[32];
		int			len;
		int			i;

		identity_bytes(b);
		len = pg_b64_encode((const char *) b, 16, enc, sizeof(enc));
		for (i = 0; i < len && i < 22; i++)
			cluster_id[i] = enc[i] == '+' ? '-' : enc[i] == '/' ? '_' : enc[i];
		cluster_id[Min(len, 22)] = '\0';
	}
	return cluster_id;
}

static void
rebuild(uint64 table_version, uint64 generation)
{
	HASHCTL		info;
	HASH_SEQ_STATUS status;
	NagareTopic *t;
	int			max;

	if (topic_context == NULL)
		topic_context = AllocSetContextCreate(TopMemoryContext, "nagare broker topics",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(topic_context);
	memset(&info, 0, sizeof(info));
	info.keysize = NAGARE_MAX_TOPIC_NAME + 1;
	info.entrysize = sizeof(BrokerTopic);
	info.hcxt = topic_context;
	topic_map = hash_create("nagare broker topic map", 256, &info,
							HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	max = 64;
	topic_array = MemoryContextAlloc(topic_context, sizeof(BrokerTopic *) * max);
	ntopics = 0;

	LWLockAcquire(nagare_shared->registry_lock, LW_SHARED);
	hash_seq_init(&status, nagare_topic_hash);
	while ((t = hash_seq_search(&status)) != NULL)
	{
		BrokerTopic *bt;
		bool		found;

		if (t->deleted)
			continue;
		bt = hash_search(topic_map, t->name, HASH_ENTER, &found);
		if (found && bt->topic_id > t->topic_id)
			continue;			/* a dropped topic's entry not yet removed */
		bt->topic_id = t->topic_id;
		bt->partitions = t->partitions;
		bt->overrides = t->config;
		nagare_config_defaults(&bt->config);
		nagare_config_apply(&t->config, &bt->config);
		memcpy(bt->uuid.b, t->uuid, sizeof(bt->uuid.b));
		if (!found)
		{
			if (ntopics == max)
			{
				max *= 2;
				topic_array = repalloc(topic_array, sizeof(BrokerTopic *) * max);
			}
			topic_array[ntopics++] = bt;
		}
	}
	LWLockRelease(nagare_shared->registry_lock);

	/* the index by id, of the entries that won above */
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(KafkaUuid);
	info.entrysize = sizeof(UuidEntry);
	info.hcxt = topic_context;
	uuid_map = hash_create("nagare broker topic ids", Max(ntopics, 64), &info,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (int i = 0; i < ntopics; i++)
	{
		UuidEntry *e = hash_search(uuid_map, &topic_array[i]->uuid, HASH_ENTER, NULL);

		e->topic = topic_array[i];
	}

	map_table_version = table_version;
	map_generation = generation;
	map_reload = nagare_broker_reload_count;
}

static void
refresh(void)
{
	uint64		v = pg_atomic_read_u64(&nagare_shared->topic_table_version);
	uint64		g = pg_atomic_read_u64(&nagare_shared->catalog_generation);

	if (topic_map == NULL || v != map_table_version || g != map_generation ||
		map_reload != nagare_broker_reload_count)
		rebuild(v, g);
}

/* The topic named name (len bytes), or NULL if there is none */
const BrokerTopic *
nagare_broker_topic(const char *name, int len)
{
	char		key[NAGARE_MAX_TOPIC_NAME + 1];

	if (len <= 0 || len > NAGARE_MAX_TOPIC_NAME || memchr(name, '\0', len) != NULL)
		return NULL;
	memcpy(key, name, len);
	key[len] = '\0';
	refresh();
	return hash_search(topic_map, key, HASH_FIND, NULL);
}

/*
 * The topic whose id is *id, or NULL if there is none.  This says nothing
 * of whether the client may know it: Kafka requests go through
 * nagare_described_topic_by_id() (acl_api.c).
 */
const BrokerTopic *
nagare_broker_topic_by_uuid(const KafkaUuid *id)
{
	UuidEntry *e;

	refresh();
	e = hash_search(uuid_map, id, HASH_FIND, NULL);
	return e ? e->topic : NULL;
}

/* Every topic; returns the count */
int
nagare_broker_topic_list(const BrokerTopic ***list)
{
	refresh();
	*list = topic_array;
	return ntopics;
}

/*
 * The shared entry of a partition of t, or NULL if the partition does not
 * exist (or, without create, has never been written).  With create, a
 * partition never written gets its entry, as a backend's first send does
 * (topic/catalog.c); NULL then also means the table is full.
 */
NagarePartition *
nagare_broker_partition(const BrokerTopic *t, int32 partition, bool create,
						uint64 *incarnation)
{
	NagarePartitionKey key;
	NagarePartition *part;
	bool		found;

	if (partition < 0 || partition >= t->partitions)
		return NULL;
	key.topic_id = t->topic_id;
	key.partition = partition;
	LWLockAcquire(nagare_shared->registry_lock, LW_SHARED);
	part = hash_search(nagare_partition_hash, &key, HASH_FIND, NULL);
	LWLockRelease(nagare_shared->registry_lock);
	if (part == NULL && create)
	{
		LWLockAcquire(nagare_shared->registry_lock, LW_EXCLUSIVE);
		part = hash_search(nagare_partition_hash, &key, HASH_ENTER_NULL, &found);
		if (part != NULL && !found)
			nagare_partition_init_new(part);
		LWLockRelease(nagare_shared->registry_lock);
		if (part != NULL)
			nagare_note_topic_id(t->topic_id);
	}
	if (part == NULL || part->state != NAGARE_PART_OPEN)
		return NULL;
	*incarnation = part->incarnation;
	return part;
}

/*
 * Kafka's rule for topic names (Topic.validate): 1 to 249 characters of
 * ASCII letters, digits, '.', '_' and '-', and not "." or "..".  The same
 * rule as nagare_validate_topic_name() in SQL.
 */
bool
nagare_kafka_topic_name_valid(const char *name, int len)
{
	int			i;

	if (len <= 0 || len > NAGARE_MAX_TOPIC_NAME)
		return false;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	for (i = 0; i < len; i++)
	{
		char		c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/*
 * Where clients reach the broker: what the listener conn came in on
 * advertises (net.c, nagare.advertised_listeners and its defaults).
 */
void
nagare_advertised_address(NagareConn *conn, char *host, size_t hostlen, int32 *port)
{
	nagare_conn_advertised_address(conn, host, hostlen, port);
}
