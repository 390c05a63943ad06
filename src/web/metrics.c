/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  GET /metrics: what shared memory already keeps, in Prometheus's text
 *	  exposition format 0.0.4.
 *
 * While a Kafka listener authenticates, a scrape logs in (web.c) as a role
 * with DESCRIBE on the CLUSTER (or a superuser); others get 403.
 *
 * Read from shared memory only, never SQL: the broker's status and
 * counters (NagareShared, behind nagare.broker), the partition and topic
 * tables (behind nagare.partitions; copied under a shared registry_lock,
 * released before formatting), the usage table (nagare.client_usage;
 * each slot read by its change counter), the connection table
 * (nagare.connections), the consumer groups' count, their committed
 * offsets as the broker shares them (the lag per group and topic, against
 * the partitions' high watermarks) and the ACL table's counters.  Each family is written whole (HELP, TYPE, its samples), so
 * no name appears twice.  Per-client series are capped by
 * nagare.metrics_max_client_series: clients past it, in slot order, are
 * summed into one series with client_id="__other__".  The produce SLIs
 * are per client too: partition
 * results by error code and the latency histogram (usage.h's buckets).
 * Per Kafka API (NagareMetricsShared, broker/meter.c counts): requests,
 * error codes and a latency histogram; the log's fsync rounds; per
 * partition the bytes and records produced and fetched (capped by
 * nagare.metrics_max_partition_series, the rest in topic="__other__").
 * What only SQL knows (lag in time, the SLOs) comes from the nagare
 * worker's snapshot in shared memory (worker/metricsnap.c), as of its time.
 *
 * docs/observability.md lists every metric; keep it in step.
 *
 * Copyright (c) 2026, the nagare authors
 *
 * src/web/metrics.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xlog.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "storage/lwlock.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "acl/acl.h"
#include "kafka/protocol.h"
#include "nagare.h"
#include "shmem.h"
#include "usage/usage.h"
#include "web/web.h"

typedef struct PartRow
{
	int32 topic_id;
	int32 partition;
	uint64 hwm;
	uint64 log_start;
	uint64 size;
	uint32 segments;
	uint64 traffic[4]; /* bytes and records in, bytes and records out */
} PartRow;

typedef struct TopicName
{
	int32 topic_id;
	char name[NAGARE_MAX_TOPIC_NAME + 1];
} TopicName;

typedef struct ClientRow
{
	const char *source;
	char *tenant;
	char *principal;
	char *client_id;
	uint64 counters[NAGARE_USAGE_NCOUNTERS];
	uint32 attached;
	uint64 produce_results[NAGARE_USAGE_NERRORS];
	uint64 produce_latency[NAGARE_USAGE_NLATENCY];
	uint64 produce_latency_us;
	uint64 publish_latency[NAGARE_USAGE_NLATENCY];
	uint64 publish_latency_us;
	char *labels; /* its label set, escaped (client_row_labels()) */
	int labels_len;
} ClientRow;

typedef struct ListenerCount
{
	char name[NAGARE_CONN_LISTENER_MAX];
	int count;
} ListenerCount;

/*
 * Append a label value, escaped (\\, \", \n).  The format is UTF-8 and a
 * Kafka client id is any bytes (and cut at NAGARE_USAGE_CLIENT_ID_MAX,
 * maybe inside a character): a byte that does not begin a valid UTF-8
 * character becomes U+FFFD, so no client can make a scrape unreadable.
 */
static void
label_value(StringInfo s, const char *v)
{
	const unsigned char *p = (const unsigned char *) v;

	while (*p)
	{
		if (*p == '\\')
			appendStringInfoString(s, "\\\\");
		else if (*p == '"')
			appendStringInfoString(s, "\\\"");
		else if (*p == '\n')
			appendStringInfoString(s, "\\n");
		else if (*p < 0x80)
			appendStringInfoChar(s, (char) *p);
		else
		{
			int len = pg_utf_mblen(p);
			int k;

			for (k = 1; k < len && p[k] != '\0'; k++)
				;
			if (k == len && pg_utf8_islegal(p, len))
			{
				appendBinaryStringInfo(s, (const char *) p, len);
				p += len;
				continue;
			}
			appendStringInfoString(s, "\xEF\xBF\xBD");
		}
		p++;
	}
}

static void
family(StringInfo s, const char *name, const char *type, const char *help)
{
	appendStringInfo(s, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* a sample's value and the line's end, without format parsing */
static void
value_u64(StringInfo s, uint64 v)
{
	char buf[MAXINT8LEN + 1];
	int n = pg_ulltoa_n(v, buf);

	buf[n++] = '\n';
	appendBinaryStringInfo(s, buf, n);
}

static void
sample_u64(StringInfo s, const char *name, uint64 v)
{
	appendStringInfoString(s, name);
	appendStringInfoChar(s, ' ');
	value_u64(s, v);
}

/* "le" of bucket i of usage.h's latency buckets, in seconds (made once) */
static const char *
latency_le(int i)
{
	static char le[NAGARE_USAGE_NLATENCY][32];

	if (le[i][0] == '\0')
	{
		if (i < NAGARE_USAGE_NLATENCY - 1)
			snprintf(le[i], sizeof(le[i]), "le=\"%g\"",
					 (double) nagare_usage_latency_bounds_us[i] / 1e6);
		else
			strlcpy(le[i], "le=\"+Inf\"", sizeof(le[i]));
	}
	return le[i];
}

/* an API key's name for the api label: Kafka's, else "unknown" or "other" */
static const char *
api_label(int i)
{
	const char *name = i < NAGARE_USAGE_NAPIS - 1 ? kafka_api_name((int16) i) : NULL;

	if (name == NULL || name[0] == '\0' || strcmp(name, "?") == 0)
		return i < NAGARE_USAGE_NAPIS - 1 ? "unknown" : "other";
	return name;
}

static int
part_cmp(const void *a, const void *b)
{
	const PartRow *x = a;
	const PartRow *y = b;

	if (x->topic_id != y->topic_id)
		return x->topic_id < y->topic_id ? -1 : 1;
	return x->partition < y->partition ? -1 : x->partition > y->partition;
}

static int
topic_cmp(const void *a, const void *b)
{
	const TopicName *x = a;
	const TopicName *y = b;

	return x->topic_id < y->topic_id ? -1 : x->topic_id > y->topic_id;
}

static const char *
topic_name(TopicName *names, int n, int32 id)
{
	int lo = 0;
	int hi = n - 1;

	while (lo <= hi)
	{
		int mid = (lo + hi) / 2;

		if (names[mid].topic_id == id)
			return names[mid].name;
		if (names[mid].topic_id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

static void
broker_metrics(StringInfo s)
{
	uint64 head = pg_atomic_read_u64(&nagare_shared->head);
	uint64 tail = pg_atomic_read_u64(&nagare_shared->tail);
	uint64 durable = pg_atomic_read_u64(&nagare_shared->durable);
	uint32 state = pg_atomic_read_u32(&nagare_shared->broker_state);

	family(s, "nagare_broker_ready", "gauge",
		   "1 while the broker serves (nagare.broker's state is ready), else 0.");
	sample_u64(s, "nagare_broker_ready", state == NAGARE_BROKER_READY ? 1 : 0);
	family(s, "nagare_append_ring_size_bytes", "gauge",
		   "Size of the append ring (nagare.queue_size).");
	sample_u64(s, "nagare_append_ring_size_bytes", nagare_shared->ring_size);
	family(s, "nagare_append_ring_used_bytes", "gauge",
		   "Bytes of the append ring not yet written to segments (nagare.broker's queue_used).");
	sample_u64(s, "nagare_append_ring_used_bytes", head > tail ? head - tail : 0);
	family(s, "nagare_append_ring_unsynced_bytes", "gauge",
		   "Bytes of the append ring not yet fsynced (nagare.broker's queue_unsynced).");
	sample_u64(s, "nagare_append_ring_unsynced_bytes", head > durable ? head - durable : 0);
	family(s, "nagare_appended_batches_total", "counter",
		   "Record batches the broker took from the append ring since server start.");
	sample_u64(s, "nagare_appended_batches_total",
			   pg_atomic_read_u64(&nagare_shared->appended_batches));
	family(s, "nagare_fetch_read_bytes_total", "counter",
		   "Bytes Fetch read from segments, through the page cache (buffered) or with direct I/O (direct).");
	appendStringInfo(s,
					 "nagare_fetch_read_bytes_total{mode=\"buffered\"} " UINT64_FORMAT "\n",
					 pg_atomic_read_u64(&nagare_shared->fetch_buffered_bytes));
	appendStringInfo(s,
					 "nagare_fetch_read_bytes_total{mode=\"direct\"} " UINT64_FORMAT "\n",
					 pg_atomic_read_u64(&nagare_shared->fetch_direct_bytes));
	{
		uint64 confirmed = pg_atomic_read_u64(&nagare_shared->ingest_confirmed_lsn);
		XLogRecPtr written = GetXLogWriteRecPtr();

		family(s, "nagare_ingest_lag_bytes", "gauge",
			   "WAL written past where the nagare ingest worker confirmed its slot: what publish() and table topics have yet to deliver, or to skip (as nagare.ingest's lag_bytes).");
		if (confirmed != 0)
			sample_u64(s, "nagare_ingest_lag_bytes",
					   written > confirmed ? written - confirmed : 0);
	}
	family(s, "nagare_auth_failures_total", "counter",
		   "Failed authentications of Kafka clients since server start.");
	sample_u64(s, "nagare_auth_failures_total",
			   pg_atomic_read_u64(&nagare_shared->auth_failures));
	family(s, "nagare_acl_denied_total", "counter",
		   "Authorizations denied since server start.");
	sample_u64(s, "nagare_acl_denied_total", pg_atomic_read_u64(&nagare_acls->denied));
	family(s, "nagare_authenticating_listeners", "gauge",
		   "Kafka listeners that authenticate their clients (SASL, or SSL with client certificates).");
	sample_u64(s, "nagare_authenticating_listeners",
			   pg_atomic_read_u32(&nagare_acls->authenticating_listeners));
	family(s, "nagare_storage_write_blocked", "gauge",
		   "1 while a write of the broker fails for want of space and new records are refused.");
	sample_u64(s, "nagare_storage_write_blocked",
			   pg_atomic_read_u32(&nagare_shared->storage_errno) != 0 ? 1 : 0);
	family(s, "nagare_kafka_listen_sockets", "gauge",
		   "Listening sockets the broker has open for Kafka clients (nagare.broker's listen_sockets).");
	sample_u64(s, "nagare_kafka_listen_sockets",
			   state == NAGARE_BROKER_STOPPED
				   ? 0
				   : pg_atomic_read_u32(&nagare_shared->listen_sockets));
	family(s, "nagare_fetch_cold_reads", "gauge",
		   "Fetch reads of partitions not in the page cache (direct I/O, one in flight at a time) waiting or in flight.");
	sample_u64(s, "nagare_fetch_cold_reads",
			   pg_atomic_read_u32(&nagare_shared->cold_reads));
	family(s, "nagare_worker_channel_queued_bytes", "gauge",
		   "Bytes in the channels to and from the nagare worker not yet taken: requests the worker has not read, answers their process has not.");
	for (int c = 0; c < NAGARE_CHANNEL_CLIENTS; c++)
		for (int d = 0; d < 2; d++)
		{
			NagareChannelRing *r = d == 0 ? &nagare_shared->channels[c].requests
										  : &nagare_shared->channels[c].answers;
			uint64 h = pg_atomic_read_u64(&r->head);
			uint64 t = pg_atomic_read_u64(&r->tail);

			appendStringInfo(s,
							 "nagare_worker_channel_queued_bytes{process=\"%s\",direction=\"%s\"} " UINT64_FORMAT
							 "\n",
							 c == NAGARE_CHANNEL_BROKER ? "broker" : "http",
							 d == 0 ? "requests" : "answers", h > t ? h - t : 0);
		}
	family(s, "nagare_consumer_groups", "gauge", "Consumer groups the broker keeps.");
	sample_u64(s, "nagare_consumer_groups", pg_atomic_read_u32(&nagare_groups->ngroups));
}

static int
group_row_cmp(const void *a, const void *b)
{
	const NagareGroupOffsetRow *x = a;
	const NagareGroupOffsetRow *y = b;
	int c = strcmp(x->group, y->group);

	if (c != 0)
		return c;
	if (x->topic_id != y->topic_id)
		return x->topic_id < y->topic_id ? -1 : 1;
	return x->partition < y->partition ? -1 : x->partition > y->partition;
}

static void
group_lag_sample(StringInfo s, const char *group, const char *topic, uint64 lag)
{
	appendStringInfoString(s, "nagare_consumer_group_lag_records{group=\"");
	label_value(s, group);
	appendStringInfoString(s, "\",topic=\"");
	label_value(s, topic);
	appendStringInfo(s, "\"} " UINT64_FORMAT "\n", lag);
}

/*
 * Lag per consumer group and topic: the committed offsets the broker
 * shares (shmem.h, NagareGroupOffsetShared, copied under its seqlock, no
 * lock) against the partitions just copied (sorted by topic id and
 * partition), as nagare.consumer_lag computes it for the partitions with
 * a commit: the high watermark minus the committed offset brought within
 * the log start and the high watermark (-1 counts as the high watermark,
 * -2 as the log start).  Pairs past nagare.metrics_max_group_series are
 * summed into group="__other__", topic="__other__".
 */
static void
group_lag_metrics(StringInfo s, PartRow *parts, int nparts, TopicName *names, int ntopics)
{
	NagareGroupOffsetShared *t = nagare_group_offsets;
	NagareGroupOffsetRow *rows;
	int n = 0;
	uint32 dropped = 0;
	int tries;
	int i;
	int series = 0;
	uint64 other = 0;
	bool any_other = false;

	if (t == NULL)
		return;
	rows = palloc(sizeof(NagareGroupOffsetRow) * Max(t->max, 1));
	for (tries = 0; tries < 100; tries++)
	{
		uint32 seq = pg_atomic_read_u32(&t->seq);

		if ((seq & 1) == 0)
		{
			pg_read_barrier();
			n = Min(Max(t->n, 0), t->max);
			dropped = t->dropped;
			memcpy(rows, t->rows, sizeof(NagareGroupOffsetRow) * n);
			pg_read_barrier();
			if (pg_atomic_read_u32(&t->seq) == seq)
				break;
		}
		n = 0;
		pg_usleep(100L);
	}
	for (i = 0; i < n; i++)
		rows[i].group[sizeof(rows[i].group) - 1] = '\0';
	qsort(rows, n, sizeof(NagareGroupOffsetRow), group_row_cmp);

	family(s, "nagare_consumer_group_lag_records", "gauge",
		   "Records of the topic's partitions with a committed offset the group has not consumed.");
	for (i = 0; i < n;)
	{
		int k = i;
		uint64 lag = 0;
		bool seen = false;
		const char *topic = topic_name(names, ntopics, rows[i].topic_id);

		for (; k < n && rows[k].topic_id == rows[i].topic_id &&
			   strcmp(rows[k].group, rows[i].group) == 0;
			 k++)
		{
			PartRow key;
			PartRow *p;
			int64 next;

			key.topic_id = rows[k].topic_id;
			key.partition = rows[k].partition;
			p = bsearch(&key, parts, nparts, sizeof(PartRow), part_cmp);
			if (p == NULL)
				continue; /* a partition or topic that went away */
			if (rows[k].committed == -2)
				next = (int64) p->log_start;
			else if (rows[k].committed == -1)
				next = (int64) p->hwm;
			else
				next = Min(Max(rows[k].committed, (int64) p->log_start), (int64) p->hwm);
			lag += (uint64) ((int64) p->hwm - next);
			seen = true;
		}
		if (seen && topic != NULL)
		{
			if (series < nagare_metrics_max_group_series)
			{
				group_lag_sample(s, rows[i].group, topic, lag);
				series++;
			}
			else
			{
				other += lag;
				any_other = true;
			}
		}
		i = k;
	}
	if (any_other)
		group_lag_sample(s, "__other__", "__other__", other);
	family(s, "nagare_consumer_group_offsets_dropped", "gauge",
		   "Committed offsets the broker could not share for the lag (past nagare.metrics_max_group_offsets).");
	sample_u64(s, "nagare_consumer_group_offsets_dropped", dropped);
	pfree(rows);
}

/*
 * What went into each partition (record batches the broker wrote to its
 * log, from Kafka and SQL producers alike) and out of it (in Kafka Fetch
 * responses), since the partition's entry was made (the broker's start or
 * the partition's creation).  The first nagare.metrics_max_partition_series
 * partitions (by topic id and partition) have series; the rest are summed
 * into topic="__other__",partition="".
 */
static void
partition_traffic_metrics(StringInfo s, PartRow *parts, int nparts, TopicName *names,
						  int ntopics)
{
	static const struct
	{
		const char *name;
		const char *help;
	} fams[] = {
		{"nagare_partition_produced_bytes_total",
		 "Bytes of record batches written to the partition's log since its entry was made."},
		{"nagare_partition_produced_records_total",
		 "Records written to the partition's log since its entry was made."},
		{"nagare_partition_fetched_bytes_total",
		 "Bytes of the partition's record batches sent in Fetch responses since its entry was made."},
		{"nagare_partition_fetched_records_total",
		 "Records of the partition sent in Fetch responses since its entry was made."},
	};
	int i;

	for (i = 0; i < lengthof(fams); i++)
	{
		uint64 other = 0;
		bool any_other = false;
		int series = 0;
		int k;

		family(s, fams[i].name, "counter", fams[i].help);
		for (k = 0; k < nparts; k++)
		{
			const char *t = topic_name(names, ntopics, parts[k].topic_id);

			if (t == NULL)
				continue;
			if (series >= nagare_metrics_max_partition_series)
			{
				other += parts[k].traffic[i];
				any_other = true;
				continue;
			}
			series++;
			appendStringInfo(s, "%s{topic=\"", fams[i].name);
			label_value(s, t);
			appendStringInfo(s, "\",partition=\"%d\"} " UINT64_FORMAT "\n",
							 parts[k].partition, parts[k].traffic[i]);
		}
		if (any_other)
			appendStringInfo(s,
							 "%s{topic=\"__other__\",partition=\"\"} " UINT64_FORMAT "\n",
							 fams[i].name, other);
	}
}

static void
partition_metrics(StringInfo s)
{
	HASH_SEQ_STATUS status;
	NagarePartition *part;
	NagareTopic *topic;
	PartRow *parts;
	TopicName *names;
	int nparts = 0;
	int ntopics = 0;
	int cap_parts;
	int cap_topics;
	int i;
	static const struct
	{
		const char *name;
		const char *help;
	} fams[] = {
		{"nagare_partition_high_watermark",
		 "The partition's high watermark: the offset after its last readable record."},
		{"nagare_partition_log_start_offset", "The partition's first offset still stored."},
		{"nagare_partition_size_bytes", "Bytes of the partition's segment files."},
		{"nagare_partition_segments", "Segment files of the partition."},
	};

	/*
	 * Every partition of every topic, as nagare.partitions shows them: one
	 * without an entry has no files and is empty (zeroes).
	 */
	LWLockAcquire(nagare_shared->registry_lock, LW_SHARED);
	cap_topics = (int) hash_get_num_entries(nagare_topic_hash) + 1;
	names = palloc(sizeof(TopicName) * cap_topics);
	cap_parts = 0;
	hash_seq_init(&status, nagare_topic_hash);
	while ((topic = hash_seq_search(&status)) != NULL)
		if (!topic->deleted)
			cap_parts += Max(topic->partitions, 0);
	parts = palloc0(sizeof(PartRow) * Max(cap_parts, 1));
	hash_seq_init(&status, nagare_topic_hash);
	while ((topic = hash_seq_search(&status)) != NULL)
	{
		int32 p;

		if (topic->deleted || ntopics == cap_topics)
			continue;
		names[ntopics].topic_id = topic->topic_id;
		strlcpy(names[ntopics].name, topic->name, sizeof(names[ntopics].name));
		ntopics++;
		for (p = 0; p < topic->partitions && nparts < cap_parts; p++)
		{
			NagarePartitionKey key = {topic->topic_id, p};
			PartRow *r = &parts[nparts++];

			r->topic_id = topic->topic_id;
			r->partition = p;
			part = hash_search(nagare_partition_hash, &key, HASH_FIND, NULL);
			if (part == NULL || part->state != NAGARE_PART_OPEN)
				continue;
			r->hwm = pg_atomic_read_u64(&part->high_watermark);
			r->log_start = pg_atomic_read_u64(&part->log_start_offset);
			r->size = pg_atomic_read_u64(&part->size_bytes);
			r->segments = pg_atomic_read_u32(&part->segments);
			r->traffic[0] = pg_atomic_read_u64(&part->bytes_in);
			r->traffic[1] = pg_atomic_read_u64(&part->records_in);
			r->traffic[2] = pg_atomic_read_u64(&part->bytes_out);
			r->traffic[3] = pg_atomic_read_u64(&part->records_out);
		}
	}
	LWLockRelease(nagare_shared->registry_lock);

	qsort(parts, nparts, sizeof(PartRow), part_cmp);
	qsort(names, ntopics, sizeof(TopicName), topic_cmp);

	family(s, "nagare_topics", "gauge", "Topics in the catalog.");
	appendStringInfo(s, "nagare_topics %d\n", ntopics);
	for (i = 0; i < lengthof(fams); i++)
	{
		int k;

		family(s, fams[i].name, "gauge", fams[i].help);
		for (k = 0; k < nparts; k++)
		{
			const char *t = topic_name(names, ntopics, parts[k].topic_id);
			uint64 v = i == 0   ? parts[k].hwm
					   : i == 1 ? parts[k].log_start
					   : i == 2 ? parts[k].size
								: parts[k].segments;

			if (t == NULL)
				continue; /* a topic being created or dropped */
			appendStringInfo(s, "%s{topic=\"", fams[i].name);
			label_value(s, t);
			appendStringInfo(s, "\",partition=\"%d\"} " UINT64_FORMAT "\n",
							 parts[k].partition, v);
		}
	}
	partition_traffic_metrics(s, parts, nparts, names, ntopics);
	group_lag_metrics(s, parts, nparts, names, ntopics);
}

static void
connection_metrics(StringInfo s)
{
	ListenerCount counts[16];
	int ncounts = 0;
	int other = 0;
	int i;
	NagareConnEntry *copy = palloc(sizeof(NagareConnEntry));

	for (i = 0; nagare_conn_table != NULL && i < nagare_conn_table->max; i++)
	{
		NagareConnEntry *e = &nagare_conn_table->entries[i];
		bool got = false;
		int attempt;
		int k;

		for (attempt = 0; attempt < 100 && !got; attempt++)
		{
			uint32 before = pg_atomic_read_u32(&e->change);

			if (before % 2 != 0)
			{
				pg_spin_delay();
				continue;
			}
			pg_read_barrier();
			memcpy(copy, e, sizeof(NagareConnEntry));
			pg_read_barrier();
			got = pg_atomic_read_u32(&e->change) == before;
		}
		if (!got || !copy->used)
			continue;
		copy->listener[sizeof(copy->listener) - 1] = '\0';
		for (k = 0; k < ncounts; k++)
			if (strcmp(counts[k].name, copy->listener) == 0)
				break;
		if (k == ncounts)
		{
			if (ncounts == lengthof(counts))
			{
				other++;
				continue;
			}
			strlcpy(counts[ncounts].name, copy->listener, sizeof(counts[ncounts].name));
			counts[ncounts++].count = 0;
		}
		counts[k].count++;
	}
	family(s, "nagare_connections", "gauge",
		   "Live Kafka connections by listener (nagare.connections).");
	for (i = 0; i < ncounts; i++)
	{
		appendStringInfoString(s, "nagare_connections{listener=\"");
		label_value(s, counts[i].name);
		appendStringInfo(s, "\"} %d\n", counts[i].count);
	}
	if (other > 0)
		appendStringInfo(s, "nagare_connections{listener=\"__other__\"} %d\n", other);
}

/* name{the client's labels[,extra]} */
/* A client's labels, escaped once for all its series */
static void
client_row_labels(ClientRow *c)
{
	StringInfoData l;

	initStringInfo(&l);
	appendStringInfo(&l, "source=\"%s\",tenant=\"", c->source);
	label_value(&l, c->tenant);
	appendStringInfoString(&l, "\",principal=\"");
	label_value(&l, c->principal);
	appendStringInfoString(&l, "\",client_id=\"");
	label_value(&l, c->client_id);
	appendStringInfoChar(&l, '"');
	c->labels = l.data;
	c->labels_len = l.len;
}

static void
client_labels_extra(StringInfo s, const char *name, const ClientRow *c, const char *extra)
{
	appendStringInfoString(s, name);
	appendStringInfoChar(s, '{');
	appendBinaryStringInfo(s, c->labels, c->labels_len);
	if (extra)
	{
		appendStringInfoChar(s, ',');
		appendStringInfoString(s, extra);
	}
	appendStringInfoString(s, "} ");
}

static void
client_labels(StringInfo s, const char *name, const ClientRow *c)
{
	client_labels_extra(s, name, c, NULL);
}

/*
 * A latency histogram of the clients that have one (usage.h's buckets,
 * cumulative): the ClientRow fields at these offsets, counts and sum in µs
 */
static void
client_histogram(StringInfo s, const char *name, const char *help, const ClientRow *rows,
				 int n, size_t buckets_at, size_t sum_at)
{
	char series[96];

	family(s, name, "histogram", help);
	for (int k = 0; k < n; k++)
	{
		const uint64 *b = (const uint64 *) ((const char *) &rows[k] + buckets_at);
		uint64 sum_us = *(const uint64 *) ((const char *) &rows[k] + sum_at);
		uint64 cum = 0;

		for (int i = 0; i < NAGARE_USAGE_NLATENCY; i++)
			cum += b[i];
		if (cum == 0)
			continue;
		cum = 0;
		snprintf(series, sizeof(series), "%s_bucket", name);
		for (int i = 0; i < NAGARE_USAGE_NLATENCY; i++)
		{
			cum += b[i];
			client_labels_extra(s, series, &rows[k], latency_le(i));
			value_u64(s, cum);
		}
		snprintf(series, sizeof(series), "%s_sum", name);
		client_labels(s, series, &rows[k]);
		appendStringInfo(s, "%.6f\n", (double) sum_us / 1e6);
		snprintf(series, sizeof(series), "%s_count", name);
		client_labels(s, series, &rows[k]);
		value_u64(s, cum);
	}
}

/*
 * The SLIs of the clients: Produce partition results by error code, and
 * the Produce and publish latency histograms.
 */
static void
produce_sli_metrics(StringInfo s, const ClientRow *rows, int n)
{
	int k;

	family(s, "nagare_produce_results_total", "counter",
		   "Produce partition results of the client by Kafka error code (NONE is a success).");
	for (k = 0; k < n; k++)
		for (int i = 0; i < NAGARE_USAGE_NERRORS; i++)
		{
			char extra[96];
			const char *name;

			if (rows[k].produce_results[i] == 0)
				continue;
			name = i == NAGARE_USAGE_NERRORS - 1 ? "OTHER"
												 : kafka_error_name((int16) (i - 1));
			snprintf(extra, sizeof(extra), "error=\"%s\",code=\"%d\"",
					 name && name[0] != '\0' && strcmp(name, "?") != 0 ? name : "UNKNOWN",
					 i == NAGARE_USAGE_NERRORS - 1 ? -2 : i - 1);
			client_labels_extra(s, "nagare_produce_results_total", &rows[k], extra);
			value_u64(s, rows[k].produce_results[i]);
		}

	client_histogram(s, "nagare_produce_latency_seconds",
					 "Broker-side Produce latency of the client: request received to response ready (acks=all: after the fsync).",
					 rows, n, offsetof(ClientRow, produce_latency),
					 offsetof(ClientRow, produce_latency_us));
	client_histogram(s, "nagare_publish_latency_seconds",
					 "Commit-to-consumable latency of the transactions the SQL client published in (or changed a table topic's table of its own in).",
					 rows, n, offsetof(ClientRow, publish_latency),
					 offsetof(ClientRow, publish_latency_us));
}

static void
client_metrics(StringInfo s)
{
	static const struct
	{
		const char *name;
		const char *type;
		int counter; /* NagareUsageCounter, or -1: attached */
		double scale; /* 0: integer as is */
		const char *help;
	} fams[] = {
		{"nagare_client_received_bytes_total", "counter", NAGARE_USAGE_BYTES_IN, 0,
		 "Bytes of the client's requests (Kafka) or records sent (SQL)."},
		{"nagare_client_sent_bytes_total", "counter", NAGARE_USAGE_BYTES_OUT, 0,
		 "Bytes of the responses to the client (Kafka) or records it consumed (SQL)."},
		{"nagare_client_produced_records_total", "counter", NAGARE_USAGE_RECORDS_IN, 0,
		 "Records the client produced."},
		{"nagare_client_fetched_records_total", "counter", NAGARE_USAGE_RECORDS_OUT, 0,
		 "Records the client fetched."},
		{"nagare_client_requests_total", "counter", NAGARE_USAGE_REQUESTS, 0,
		 "Requests of the client."},
		{"nagare_client_errors_total", "counter", NAGARE_USAGE_ERRORS, 0,
		 "Error codes other than NONE in the client's responses."},
		{"nagare_client_broker_time_seconds_total", "counter", NAGARE_USAGE_TIME_US, 1e-6,
		 "Broker time spent on the client's requests."},
		{"nagare_client_throttle_time_seconds_total", "counter", NAGARE_USAGE_THROTTLE_MS,
		 1e-3, "Throttle time imposed on the client."},
		{"nagare_client_connections_total", "counter", NAGARE_USAGE_CONNECTIONS, 0,
		 "Connections (sessions) of the client since its row was taken."},
		{"nagare_client_connections", "gauge", -1, 0,
		 "Live connections (sessions) of the client."},
	};
	NagareUsageRow *row = palloc(sizeof(NagareUsageRow));
	ClientRow *rows;
	ClientRow other;
	bool have_other = false;
	int nrows = 0;
	int max = nagare_usage ? nagare_usage->max : -1;
	int i;

	rows = palloc(sizeof(ClientRow) *
				  (Max(1, Min(nagare_metrics_max_client_series, max + 1)) + 1));
	memset(&other, 0, sizeof(other));
	other.source = "";
	other.tenant = other.principal = "";
	other.client_id = "__other__";
	for (i = 0; i <= max; i++)
	{
		ClientRow *c;
		int k;

		if (!nagare_usage_read(i, row))
			continue;
		if (nrows >= nagare_metrics_max_client_series)
		{
			for (k = 0; k < NAGARE_USAGE_NCOUNTERS; k++)
				other.counters[k] += row->counters[k];
			for (k = 0; k < NAGARE_USAGE_NERRORS; k++)
				other.produce_results[k] += row->produce_results[k];
			for (k = 0; k < NAGARE_USAGE_NLATENCY; k++)
			{
				other.produce_latency[k] += row->produce_latency[k];
				other.publish_latency[k] += row->publish_latency[k];
			}
			other.produce_latency_us += row->produce_latency_us;
			other.publish_latency_us += row->publish_latency_us;
			other.attached += row->attached;
			have_other = true;
			continue;
		}
		c = &rows[nrows++];
		c->source = row->key.source == NAGARE_USAGE_SOURCE_KAFKA ? "kafka"
					: row->key.source == NAGARE_USAGE_SOURCE_SQL ? "sql"
																 : "overflow";
		row->key.tenant[sizeof(row->key.tenant) - 1] = '\0';
		row->key.principal[sizeof(row->key.principal) - 1] = '\0';
		row->key.client_id[sizeof(row->key.client_id) - 1] = '\0';
		c->tenant = pstrdup(row->key.tenant);
		c->principal = pstrdup(row->key.principal);
		c->client_id = pstrdup(row->key.client_id);
		memcpy(c->counters, row->counters, sizeof(c->counters));
		memcpy(c->produce_results, row->produce_results, sizeof(c->produce_results));
		memcpy(c->produce_latency, row->produce_latency, sizeof(c->produce_latency));
		c->produce_latency_us = row->produce_latency_us;
		memcpy(c->publish_latency, row->publish_latency, sizeof(c->publish_latency));
		c->publish_latency_us = row->publish_latency_us;
		c->attached = row->attached;
	}
	if (have_other)
		rows[nrows] = other; /* room: palloc'd for one more below */
	for (i = 0; i < nrows + (have_other ? 1 : 0); i++)
		client_row_labels(&rows[i]);

	for (i = 0; i < lengthof(fams); i++)
	{
		int k;

		family(s, fams[i].name, fams[i].type, fams[i].help);
		for (k = 0; k <= nrows; k++)
		{
			const ClientRow *c = &rows[k]; /* rows[nrows]: the others' sums */
			uint64 v;

			if (k == nrows && !have_other)
				break;
			v = fams[i].counter < 0 ? c->attached : c->counters[fams[i].counter];
			client_labels(s, fams[i].name, c);
			if (fams[i].scale != 0)
				appendStringInfo(s, "%.6f\n", (double) v * fams[i].scale);
			else
				value_u64(s, v);
		}
	}

	produce_sli_metrics(s, rows, nrows + (have_other ? 1 : 0));
}

/*
 * Per Kafka API (NagareMetricsShared, counted by broker/meter.c): requests,
 * error codes in responses, and the latency histogram.  Only APIs that had
 * a request have series.
 */
static void
api_metrics(StringInfo s)
{
	NagareMetricsShared *m = nagare_metrics;
	uint64 requests[NAGARE_USAGE_NAPIS];
	int i;

	for (i = 0; i < NAGARE_USAGE_NAPIS; i++)
		requests[i] = pg_atomic_read_u64(&m->api_requests[i]);

	family(s, "nagare_kafka_requests_total", "counter",
		   "Kafka requests the broker handled, by API.");
	for (i = 0; i < NAGARE_USAGE_NAPIS; i++)
		if (requests[i] > 0)
			appendStringInfo(s,
							 "nagare_kafka_requests_total{api=\"%s\",api_key=\"%d\"} " UINT64_FORMAT
							 "\n",
							 api_label(i), i < NAGARE_USAGE_NAPIS - 1 ? i : -1,
							 requests[i]);

	family(s, "nagare_kafka_errors_total", "counter",
		   "Error codes other than NONE in the broker's Kafka responses, by API and code.");
	for (i = 0; i < NAGARE_USAGE_NAPIS; i++)
	{
		int e;

		if (requests[i] == 0)
			continue;
		for (e = 0; e < NAGARE_USAGE_NERRORS; e++)
		{
			uint64 v;
			const char *name;
			int code = e - 1;

			if (code == 0 || (v = pg_atomic_read_u64(&m->api_errors[i][e])) == 0)
				continue;
			name = e == NAGARE_USAGE_NERRORS - 1 ? "OTHER" : kafka_error_name((int16) code);
			appendStringInfo(s,
							 "nagare_kafka_errors_total{api=\"%s\",api_key=\"%d\",error=\"",
							 api_label(i), i < NAGARE_USAGE_NAPIS - 1 ? i : -1);
			label_value(s, name && name[0] != '\0' && strcmp(name, "?") != 0 ? name
																			 : "UNKNOWN");
			appendStringInfo(s, "\",code=\"%d\"} " UINT64_FORMAT "\n",
							 e == NAGARE_USAGE_NERRORS - 1 ? -2 : code, v);
		}
	}

	family(s, "nagare_kafka_request_duration_seconds", "histogram",
		   "Broker-side latency of Kafka requests by API: the request's frame handed on to its response ready (Produce acks=all: after the fsync; Fetch: after its wait).");
	for (i = 0; i < NAGARE_USAGE_NAPIS; i++)
	{
		uint64 cum = 0;
		int b;

		if (requests[i] == 0)
			continue;
		for (b = 0; b < NAGARE_USAGE_NLATENCY; b++)
		{
			cum += pg_atomic_read_u64(&m->api_latency[i][b]);
			appendStringInfo(s,
							 "nagare_kafka_request_duration_seconds_bucket{api=\"%s\",api_key=\"%d\",%s} " UINT64_FORMAT
							 "\n",
							 api_label(i), i < NAGARE_USAGE_NAPIS - 1 ? i : -1,
							 latency_le(b), cum);
		}
		appendStringInfo(s,
						 "nagare_kafka_request_duration_seconds_sum{api=\"%s\",api_key=\"%d\"} %.6f\n",
						 api_label(i), i < NAGARE_USAGE_NAPIS - 1 ? i : -1,
						 (double) pg_atomic_read_u64(&m->api_latency_us[i]) / 1e6);
		appendStringInfo(s,
						 "nagare_kafka_request_duration_seconds_count{api=\"%s\",api_key=\"%d\"} " UINT64_FORMAT
						 "\n",
						 api_label(i), i < NAGARE_USAGE_NAPIS - 1 ? i : -1, cum);
	}

	/* the log's group fsync rounds (broker.c counts what logstore/writer.c timed) */
	{
		uint64 cum = 0;
		int b;

		family(s, "nagare_log_fsync_duration_seconds", "histogram",
			   "Group fsync rounds of the log: from the round's start to its last segment's fdatasync completed.");
		for (b = 0; b < NAGARE_USAGE_NLATENCY; b++)
		{
			cum += pg_atomic_read_u64(&m->fsync_latency[b]);
			appendStringInfo(s,
							 "nagare_log_fsync_duration_seconds_bucket{%s} " UINT64_FORMAT
							 "\n",
							 latency_le(b), cum);
		}
		appendStringInfo(s, "nagare_log_fsync_duration_seconds_sum %.6f\n",
						 (double) pg_atomic_read_u64(&m->fsync_latency_us) / 1e6);
		appendStringInfo(s, "nagare_log_fsync_duration_seconds_count " UINT64_FORMAT "\n",
						 cum);
	}
}

/* a double sample's value, to 9 significant digits */
static void
append_double(StringInfo s, double v)
{
	appendStringInfo(s, "%.9g\n", v);
}

/*
 * The nagare worker's snapshot (worker/metricsnap.c; NagareMetricsSnapshot
 * in shmem.h, copied by its change counter): the consumer groups' lag in
 * time and the SLOs' status, as of its time, which is a gauge too.  A NULL
 * of the view (an SLO without events) has no sample.
 */
static void
snapshot_metrics(StringInfo s)
{
	NagareMetricsSnapshot *snap = nagare_metrics_snapshot;
	char *data;
	uint32 len = 0;
	uint32 dropped = 0;
	TimestampTz taken = 0;
	int tries;
	static const char *const windows[] = {"5m", "30m", "1h", "2h", "6h", "1d", "3d"};
	static const struct
	{
		const char *name;
		int value;
		const char *help;
	} slo_fams[] = {
		{"nagare_slo_objective_ratio", 0,
		 "The SLO's objective (nagare.slo_status's objective)."},
		{"nagare_slo_sli_ratio", 1,
		 "Good events over all of the SLO's window (nagare.slo_status's sli_value)."},
		{"nagare_slo_error_budget_remaining_ratio", 2,
		 "Fraction of the SLO's error budget left over its window (nagare.slo_status's error_budget_remaining)."},
	};
	int pass;

	if (snap == NULL)
		return;
	data = palloc(NAGARE_METRICS_SNAPSHOT_BYTES);
	for (tries = 0; tries < 100; tries++)
	{
		uint32 change = pg_atomic_read_u32(&snap->change);

		if ((change & 1) == 0)
		{
			pg_read_barrier();
			taken = snap->taken_at;
			len = Min(snap->len, NAGARE_METRICS_SNAPSHOT_BYTES);
			dropped = snap->dropped;
			memcpy(data, snap->data, len);
			pg_read_barrier();
			if (pg_atomic_read_u32(&snap->change) == change)
				break;
		}
		len = 0;
		taken = 0;
		pg_usleep(100L);
	}

	family(s, "nagare_metrics_snapshot_timestamp_seconds", "gauge",
		   "When the nagare worker took the snapshot of lag in time and SLOs below (Unix time; 0: none yet).");
	appendStringInfo(s, "nagare_metrics_snapshot_timestamp_seconds %.3f\n",
					 taken == 0 ? 0.0
								: (double) (taken - SetEpochTimestamp()) / USECS_PER_SEC);
	family(s, "nagare_metrics_snapshot_dropped", "gauge",
		   "Entries the snapshot left out: lag pairs past nagare.metrics_max_group_series, or past its size.");
	sample_u64(s, "nagare_metrics_snapshot_dropped", dropped);

	/* pass 0: lag; 1..3: the SLOs' single values; 4: burn rates */
	for (pass = 0; pass < 5; pass++)
	{
		uint32 pos = 0;

		if (pass == 0)
			family(s, "nagare_consumer_group_lag_seconds", "gauge",
				   "Age of the oldest record the group has not consumed, largest over the topic's partitions (nagare.consumer_lag), as of the snapshot.");
		else if (pass <= 3)
			family(s, slo_fams[pass - 1].name, "gauge", slo_fams[pass - 1].help);
		else
			family(s, "nagare_slo_burn_rate", "gauge",
				   "How fast the SLO spends its error budget over a window (1: exactly the budget over the SLO's window; nagare.slo_status's burn_rate_*).");
		while (pos < len)
		{
			char kind = data[pos++];
			int nv = kind == 'L' ? 1 : NAGARE_METRICS_SLO_NVALUES;
			int ns = kind == 'L' ? 2 : 3;
			double v[NAGARE_METRICS_SLO_NVALUES];
			const char *str[3];
			int k;

			if ((kind != 'L' && kind != 'S') || pos + sizeof(double) * nv > len)
				break;
			memcpy(v, data + pos, sizeof(double) * nv);
			pos += sizeof(double) * nv;
			for (k = 0; k < ns; k++)
			{
				const char *end = memchr(data + pos, '\0', len - pos);

				if (end == NULL)
				{
					pos = len;
					break;
				}
				str[k] = data + pos;
				pos = end - data + 1;
			}
			if (k < ns)
				break;
			if (pass == 0 && kind == 'L' && !isnan(v[0]))
			{
				appendStringInfoString(s, "nagare_consumer_group_lag_seconds{group=\"");
				label_value(s, str[0]);
				appendStringInfoString(s, "\",topic=\"");
				label_value(s, str[1]);
				appendStringInfoString(s, "\"} ");
				append_double(s, v[0]);
			}
			else if (pass > 0 && kind == 'S')
			{
				int first = pass <= 3 ? slo_fams[pass - 1].value : 3;
				int last = pass <= 3 ? first : NAGARE_METRICS_SLO_NVALUES - 1;

				for (k = first; k <= last; k++)
				{
					if (isnan(v[k]))
						continue;
					appendStringInfo(s, "%s{service=\"",
									 pass <= 3 ? slo_fams[pass - 1].name
											   : "nagare_slo_burn_rate");
					label_value(s, str[0]);
					appendStringInfoString(s, "\",slo=\"");
					label_value(s, str[1]);
					appendStringInfoString(s, "\",sli=\"");
					label_value(s, str[2]);
					if (pass == 4)
						appendStringInfo(s, "\",window=\"%s", windows[k - 3]);
					appendStringInfoString(s, "\"} ");
					append_double(s, v[k]);
				}
			}
		}
	}
	pfree(data);
}

void
nagare_web_metrics(const HttpRequest *req, WebResponse *resp)
{
	StringInfo s = &resp->body;

	/*
	 * Every tenant's clients and topics are in a scrape: while Kafka
	 * clients authenticate, the role logged in (web.c) needs what Kafka's
	 * cluster-wide describing needs.
	 */
	if (!resp->who.anonymous && !resp->who.superuser)
	{
		char principal[NAMEDATALEN + 8];

		snprintf(principal, sizeof(principal), "User:%s", resp->who.role);
		if (!nagare_acl_authorized(principal, resp->peer_ip, KAFKA_RESOURCE_CLUSTER,
								   NAGARE_ACL_CLUSTER_NAME,
								   strlen(NAGARE_ACL_CLUSTER_NAME), KAFKA_ACL_DESCRIBE))
		{
			nagare_acl_note_denied(principal, resp->peer_ip, KAFKA_RESOURCE_CLUSTER,
								   NAGARE_ACL_CLUSTER_NAME,
								   strlen(NAGARE_ACL_CLUSTER_NAME), KAFKA_ACL_DESCRIBE);
			resp->status = 403;
			appendStringInfo(s,
							 "role \"%s\" may not read the metrics: they need DESCRIBE on the "
							 "CLUSTER (nagare.create_acl('CLUSTER', 'kafka-cluster', "
							 "'User:%s', 'DESCRIBE'))\n",
							 resp->who.role, resp->who.role);
			return;
		}
	}
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	enlargeStringInfo(s, 256 * 1024);
	broker_metrics(s);
	partition_metrics(s);
	connection_metrics(s);
	client_metrics(s);
	api_metrics(s);
	snapshot_metrics(s);
}
