/*-------------------------------------------------------------------------
 *
 * fetch.c
 *	  Kafka Fetch, ListOffsets and OffsetForLeaderEpoch requests.
 *
 * Fetch reads each partition's bytes from its segment file asynchronously,
 * so a read never stalls the loop or anyone else's requests (KAFKA-7504 is
 * what happens otherwise).  The bytes land in a buffer of the connection's
 * and are sent from there, as stored: batches are never re-encoded.  So the
 * records cost one copy from the page cache; splicing file pages to the
 * socket would save it, at the price of a pipe per read in flight.
 *
 * Cold reads.  A range whose pages are all in the page cache (cachestat(2)
 * says, without touching the disk) is read through it.  Any other, a
 * consumer catching up through old segments, is cold: it is read with
 * direct I/O in reads of nagare.cold_read_size, one in flight in the whole
 * broker, cold reads taking turns a read each.  A buffered read that misses
 * the cache asks the disk for its whole read-ahead window (megabytes) at
 * once, and the producers' writes and fdatasyncs wait behind it: on a
 * virtual disk, a catch-up consumer multiplied the producers' p99 by 15
 * (docs/performance.md, the isolation scenario).  Reading around the page
 * cache also leaves the recent data that consumers at the head read in
 * memory.  With nagare.cold_read_size = 0, or a kernel without cachestat
 * (before 6.5), or a file system without O_DIRECT, everything is read
 * through the page cache.
 *
 * Where to read: the partition's sparse index (kept in memory by the log)
 * gives a batch at or before the fetch offset; batches that end before the
 * offset are skipped, whole batches are taken up to the partition's and the
 * request's byte limits (the first partition with data gets at least one
 * whole batch, however large: KIP-74), and a partial batch at the end is
 * not sent.  Where a read ended is remembered, so a consumer that reads on
 * starts exactly at its next batch.
 *
 * Long poll: a Fetch whose partitions have fewer than min.bytes is parked
 * until the high watermarks move enough or max.wait.ms passes.  Parked
 * fetches are looked at again only in loop turns where some high watermark
 * moved (nagare_log_hwm_changes) or a deadline passed.
 *
 * Fetch sessions (KIP-227) are not offered: a session id of 0 in the
 * response tells clients to send full fetch requests.
 *
 * Topic ids: from v13 a Fetch names each topic by its id (KIP-516), and the
 * answer does too.  An id no topic has, or whose topic the client may not
 * DESCRIBE, gets UNKNOWN_TOPIC_ID on each of its partitions; a topic the
 * client may DESCRIBE but not READ gets TOPIC_AUTHORIZATION_FAILED, as by
 * name.  v15's ReplicaState and v17's ReplicaDirectoryId are a follower's
 * (there are none) and are ignored.  A partition answered
 * FENCED_LEADER_EPOCH carries the current leader (node 0, epoch 0), and
 * from v16 the response lists that node's endpoint (KIP-951).
 *
 * ListOffsets: latest is the high watermark, earliest the log start, and a
 * timestamp finds the first record at or after it through the time index
 * and a scan of the batches it points at (reading asynchronously, too).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "lib/ilist.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "aio/aio.h"
#include "broker/fetch.h"
#include "broker/acl_api.h"
#include "broker/kafka_api.h"
#include "broker/throttle.h"
#include "broker/topicmap.h"
#include "kafka/record.h"
#include "logstore/log.h"
#include "nagare.h"
#include "shmem.h"

/* Bytes read beyond the limit when the start is an index entry, not exact */
#define READ_SLACK(cfg)	((int64) (cfg)->index_interval_bytes + KAFKA_BATCH_HEADER_SIZE)
/* Most bytes one Fetch answers with (Kafka's fetch.max.bytes default) */
#define FETCH_MAX_BYTES (55 * 1024 * 1024)
/* Window of a timestamp scan */
#define TIME_SCAN_WINDOW (256 * 1024)
/* Alignment of direct reads' buffers, positions and lengths */
#define DIRECT_ALIGN 4096
/* Page size, the unit of cachestat() */
#define BLCKSZ_PAGE 4096

typedef struct FetchState FetchState;

/* One partition of a Fetch or ListOffsets request */
typedef struct ReadPart
{
	FetchState *fs;
	int			topic;			/* index into fs->topics */
	int32		partition;
	int64		offset;			/* Fetch: offset; ListOffsets: timestamp */
	int32		max_bytes;
	int32		leader_epoch;

	int16		error;
	int64		hwm;
	int64		log_start;
	NagarePartition *shared;
	uint64		incarnation;

	/* reading */
	LogReadPlan plan;
	int			fd;
	int			direct_fd;		/* fd reopened with O_DIRECT, or -1 */
	char	   *buf;			/* palloc'd; holds data */
	char	   *data;			/* the bytes read from plan.position */
	int64		len;			/* bytes asked for */
	int64		got;			/* cold read: bytes of data read so far */
	int64		chunk_len;		/* cold read: the direct read in flight */
	dlist_node	cold_node;		/* in cold_queue */
	int64		budget;			/* Fetch: bytes it may send */
	bool		min_one;		/* Fetch: may send one batch over budget */
	int64		send_start;		/* Fetch: first byte of data to send */
	int64		send_len;		/* Fetch: bytes from there to send */
	int64		found_offset;	/* ListOffsets: answer */
	int64		found_timestamp;
} ReadPart;

struct FetchState
{
	dlist_node	node;			/* in parked */
	NagareConn *conn;
	NagareResponse *resp;
	NagareRequestId id;
	bool		list_offsets;	/* ListOffsets rather than Fetch */
	int32		min_bytes;
	int32		max_bytes;
	int8		isolation;
	TimestampTz deadline;
	int			ntopics;
	KafkaStr   *topics;			/* names, copied */
	KafkaUuid *topic_ids; /* Fetch: ids (v13+: as the request named them) */
	int32	   *topic_nparts;	/* parts of each topic, which follow each other */
	int			nparts;
	ReadPart   *parts;
	int			reads;			/* reads in flight */
};

static dlist_head parked = DLIST_STATIC_INIT(parked);
static uint64 parked_seen_changes = 0;

/* Cold reads waiting for their turn, and whether one is in flight */
static dlist_head cold_queue = DLIST_STATIC_INIT(cold_queue);
static bool cold_busy = false;

static void fetch_start_reads(FetchState *fs);
static void read_done(void *arg, int64 result);
static bool all_cached(int fd, int64 position, int64 len);
static void buffered_read_done(void *arg, int64 result);
static void cold_read_done(void *arg, int64 result);
static void cold_start_next(void);
static void buffered_rest_done(void *arg, int64 result);
static void fetch_respond(FetchState *fs);
static void list_offsets_respond(FetchState *fs);
static bool time_scan_done(ReadPart *rp, int64 got);

/* The broker's log entry of a part's partition, or NULL if it went away */
static LogPartition *
part_log(ReadPart *rp)
{
	if (rp->shared == NULL)
		return NULL;
	return nagare_log_get(rp->shared, rp->incarnation);
}

/*
 * The state of a Fetch or ListOffsets of ntopics topics and nparts partitions
 * in all; the caller fills topics[], topic_nparts[] and parts[] in request
 * order, topic by topic.
 */
static FetchState *
fetch_state_new(NagareConn *conn, const KafkaRequestHeader *hdr, int ntopics, int nparts)
{
	MemoryContext cxt = nagare_conn_context(conn);
	FetchState *fs = MemoryContextAllocZero(cxt, sizeof(FetchState));

	fs->conn = conn;
	fs->id = nagare_request_id(hdr);
	fs->ntopics = ntopics;
	fs->topics = MemoryContextAllocZero(cxt, sizeof(KafkaStr) * Max(ntopics, 1));
	fs->topic_ids = MemoryContextAllocZero(cxt, sizeof(KafkaUuid) * Max(ntopics, 1));
	fs->topic_nparts = MemoryContextAllocZero(cxt, sizeof(int32) * Max(ntopics, 1));
	fs->nparts = nparts;
	fs->parts = MemoryContextAllocZero(cxt, sizeof(ReadPart) * Max(nparts, 1));
	return fs;
}

static void
fetch_state_free(FetchState *fs)
{
	int			t;

	for (t = 0; t < fs->ntopics; t++)
		if (fs->topics[t].ptr)
			pfree((void *) fs->topics[t].ptr);
	pfree(fs->topics);
	pfree(fs->topic_ids);
	pfree(fs->topic_nparts);
	pfree(fs->parts);
	pfree(fs);
}

/*
 * Resolve a part's partition: the error it gets, or a shared entry (NULL
 * for a partition never written: empty).
 */
static void
resolve(ReadPart *rp, const BrokerTopic *t)
{
	rp->fd = -1;
	rp->direct_fd = -1;
	rp->shared = NULL;
	rp->hwm = 0;
	rp->log_start = 0;
	if (t == NULL || rp->partition < 0 || rp->partition >= t->partitions)
		rp->error = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
	else if (rp->leader_epoch > 0)
		rp->error = KAFKA_ERROR_UNKNOWN_LEADER_EPOCH;
	else if (rp->leader_epoch < -1)
		rp->error = KAFKA_ERROR_FENCED_LEADER_EPOCH;
	else
		rp->shared = nagare_broker_partition(t, rp->partition, false, &rp->incarnation);
}

/*
 * Look at every partition of a Fetch: its error or how many bytes are
 * there to read.  Returns the bytes, or INT64_MAX when some partition has an
 * error (which is answered at once).
 */
static int64
fetch_evaluate(FetchState *fs)
{
	int64		available = 0;
	int			i;

	for (i = 0; i < fs->nparts; i++)
	{
		ReadPart   *rp = &fs->parts[i];
		LogPartition *lp;

		if (rp->error != KAFKA_ERROR_NONE)
			return PG_INT64_MAX;
		if (rp->shared == NULL)
		{
			if (rp->offset != 0)
			{
				rp->error = KAFKA_ERROR_OFFSET_OUT_OF_RANGE;
				return PG_INT64_MAX;
			}
			continue;
		}
		lp = part_log(rp);
		if (lp == NULL)
		{
			rp->error = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
			return PG_INT64_MAX;
		}
		rp->hwm = nagare_log_readable_end(lp);
		rp->log_start = lp->log_start;
		switch (nagare_log_plan_read(lp, rp->offset, &rp->plan))
		{
			case LOG_READ_OUT_OF_RANGE:
				rp->error = KAFKA_ERROR_OFFSET_OUT_OF_RANGE;
				return PG_INT64_MAX;
			case LOG_READ_NONE:
				rp->plan.available = 0;
				break;
			case LOG_READ_OK:
				available += Min(rp->plan.available, Max(rp->max_bytes, 1));
				break;
		}
	}
	return available;
}

void
nagare_handle_fetch(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaFetchRequest *req = &body->Fetch;
	MemoryContext cxt = nagare_conn_context(conn);
	FetchState *fs;
	int			n = 0;
	int			t;
	int32		throttle_ms;

	if (hdr->RequestApiVersion >= 7 &&
		(req->SessionId != 0 || (req->SessionEpoch != -1 && req->SessionEpoch != 0)))
	{
		KafkaFetchResponse resp;

		/* no session was ever handed out */
		memset(&resp, 0, sizeof(resp));
		resp.ErrorCode = req->SessionId != 0 ? KAFKA_ERROR_FETCH_SESSION_ID_NOT_FOUND :
			KAFKA_ERROR_INVALID_FETCH_SESSION_EPOCH;
		nagare_kafka_respond(conn, hdr, &resp);
		return;
	}

	/*
	 * consumer_byte_rate (throttle.c): a client over its quota already gets
	 * an empty response with the throttle, and is not charged for it
	 */
	throttle_ms = nagare_throttle_fetch_over(conn);
	if (throttle_ms > 0)
	{
		KafkaFetchResponse resp;
		NagareResponse *r = nagare_conn_new_response(conn);

		memset(&resp, 0, sizeof(resp));
		resp.ErrorCode = KAFKA_ERROR_NONE;
		nagare_throttle_impose(r, throttle_ms);
		nagare_kafka_response_ready(r, nagare_request_id(hdr), &resp, NULL);
		return;
	}

	for (t = 0; t < req->TopicsCount; t++)
		n += req->Topics[t].PartitionsCount;
	fs = fetch_state_new(conn, hdr, req->TopicsCount, n);
	fs->min_bytes = req->MinBytes;
	/* Kafka's broker caps a fetch with fetch.max.bytes (55 MB) too */
	fs->max_bytes = req->MaxBytes > 0 ? Min(req->MaxBytes, FETCH_MAX_BYTES) : FETCH_MAX_BYTES;
	/* and with what its quota lets the client have */
	fs->max_bytes = (int32) nagare_throttle_fetch_cap(conn, fs->max_bytes);
	fs->isolation = req->IsolationLevel;
	n = 0;
	for (t = 0; t < req->TopicsCount; t++)
	{
		KafkaFetchTopic *ft = &req->Topics[t];
		const BrokerTopic *topic = NULL;
		KafkaStr name = ft->Topic;
		bool unknown_id = false;
		bool denied;
		int			p;

		if (hdr->RequestApiVersion >= 13)
		{
			/* by id: unknown, or not to be known by this client */
			topic = nagare_described_topic_by_id(conn, &ft->TopicId);
			unknown_id = topic == NULL;
			name = kafka_str(topic ? topic->name : "");
			fs->topic_ids[t] = ft->TopicId;
		}
		/* authorized before its existence is revealed */
		denied = !unknown_id && !nagare_authorized_topic(conn, name, KAFKA_ACL_READ);
		if (denied)
			topic = NULL;
		else if (hdr->RequestApiVersion < 13)
			topic = nagare_broker_topic(name.ptr, name.len);

		fs->topics[t] = nagare_kstr_copy(cxt, name);
		fs->topic_nparts[t] = ft->PartitionsCount;
		for (p = 0; p < ft->PartitionsCount; p++)
		{
			ReadPart   *rp = &fs->parts[n++];

			rp->fs = fs;
			rp->topic = t;
			rp->partition = ft->Partitions[p].Partition;
			rp->offset = ft->Partitions[p].FetchOffset;
			rp->max_bytes = ft->Partitions[p].PartitionMaxBytes;
			rp->leader_epoch = ft->Partitions[p].CurrentLeaderEpoch;
			resolve(rp, topic);
			if (denied)
				rp->error = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
			else if (unknown_id)
				rp->error = KAFKA_ERROR_UNKNOWN_TOPIC_ID;
		}
	}
	fs->resp = nagare_conn_new_response(conn);

	if (fetch_evaluate(fs) >= Max(fs->min_bytes, 1) || req->MaxWaitMs <= 0)
	{
		fetch_start_reads(fs);
		return;
	}
	fs->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), req->MaxWaitMs);
	dlist_push_tail(&parked, &fs->node);
}

/* Issue the read of rp->len bytes at rp->plan.position into a new buffer */
static bool
issue_read(ReadPart *rp)
{
	LogPartition *lp = part_log(rp);
	MemoryContext cxt = nagare_conn_context(rp->fs->conn);

	if (lp == NULL)
	{
		rp->error = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
		return false;
	}
	if (nagare_conn_closing(rp->fs->conn))
		return false;			/* nobody will read the answer */
	if (rp->fd < 0)
		rp->fd = nagare_log_open_segment(lp, rp->plan.segment_base);
	if (rp->fd < 0)
	{
		rp->error = KAFKA_ERROR_KAFKA_STORAGE_ERROR;
		return false;
	}
	if (rp->buf)
		pfree(rp->buf);

	/*
	 * Room for a direct read of the whole range, from the aligned position
	 * at or before plan.position to the aligned one at or after its end:
	 * data lies as far from an aligned address as plan.position from an
	 * aligned position.
	 */
	rp->buf = MemoryContextAllocExtended(cxt, rp->len + 3 * DIRECT_ALIGN,
										 MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (rp->buf == NULL)
	{
		rp->error = KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
		return false;
	}
	rp->data = (char *) TYPEALIGN(DIRECT_ALIGN, rp->buf) + rp->plan.position % DIRECT_ALIGN;
	rp->got = 0;
	rp->fs->reads++;
	if (nagare_cold_read_size > 0 && !all_cached(rp->fd, rp->plan.position, rp->len))
	{
		dlist_push_tail(&cold_queue, &rp->cold_node);
		cold_start_next();
	}
	else
		nagare_aio_read(rp->fd, rp->data, rp->len, rp->plan.position, buffered_read_done, rp);
	return true;
}

/* cachestat(2), Linux 6.5; not in Debian 12's headers */
#define NAGARE_NR_cachestat 451
struct nagare_cachestat_range
{
	uint64		off;
	uint64		len;
};
struct nagare_cachestat
{
	uint64		nr_cache;
	uint64		nr_dirty;
	uint64		nr_writeback;
	uint64		nr_evicted;
	uint64		nr_recently_evicted;
};

/*
 * Whether every page of len bytes of fd at position is in the page cache.
 * cachestat(2) only looks (reading with RWF_NOWAIT would start read-ahead on
 * a miss).  Where the kernel has no cachestat (before Linux 6.5), every read
 * goes through the page cache (said once in the log).
 */
static bool
all_cached(int fd, int64 position, int64 len)
{
	static bool unsupported = false;
	struct nagare_cachestat_range range;
	struct nagare_cachestat cs;
	int64		first = position / BLCKSZ_PAGE;
	int64		last = (position + len - 1) / BLCKSZ_PAGE;

	if (unsupported || len <= 0)
		return true;
	range.off = first * BLCKSZ_PAGE;
	range.len = (last - first + 1) * BLCKSZ_PAGE;
	if (syscall(NAGARE_NR_cachestat, fd, &range, &cs, 0) != 0)
	{
		unsupported = true;
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("nagare broker: cachestat() failed, so Fetch reads everything through the page cache: %m"),
				 errhint("Direct reads of what is not cached (nagare.cold_read_size) need Linux 6.5 or later.")));
		return true;
	}
	return cs.nr_cache >= (uint64) (last - first + 1);
}

/* Add n to a statistics counter of the broker's (its only writer) */
static inline void
stat_add(pg_atomic_uint64 *counter, uint64 n)
{
	pg_atomic_write_u64(counter, pg_atomic_read_u64(counter) + n);
}

/* A read through the page cache came back */
static void
buffered_read_done(void *arg, int64 result)
{
	ReadPart   *rp = arg;

	if (result > 0)
		stat_add(&nagare_shared->fetch_buffered_bytes, result);
	read_done(rp, result);
}

/* Set when the file system refuses direct reads: none are tried again */
static bool direct_unsupported = false;

static void
direct_reads_fail(const char *what)
{
	static bool said = false;

	if (errno == EINVAL)
		direct_unsupported = true;
	if (!said)
	{
		said = true;
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("nagare broker: could not %s a segment for direct reads, reading it through the page cache: %m",
						what)));
	}
}

/*
 * A descriptor of the same file as fd, opened again with O_DIRECT (through
 * /proc, so that it works on a segment that retention has just unlinked),
 * or -1.
 */
static int
reopen_direct(int fd)
{
	char		path[64];
	int			dfd;

	if (direct_unsupported)
		return -1;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	dfd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (dfd < 0)
		direct_reads_fail("open");
	return dfd;
}

/*
 * Start the direct read of the cold read whose turn it is, unless one is in
 * flight: the next nagare.cold_read_size bytes of [data + got, data + len),
 * from the aligned position at or before data + got.
 */
static void
cold_start_next(void)
{
	dlist_iter iter;
	uint32 n;

	while (!cold_busy && !dlist_is_empty(&cold_queue))
	{
		ReadPart   *rp = dlist_container(ReadPart, cold_node, dlist_pop_head_node(&cold_queue));
		int64		from = TYPEALIGN_DOWN(DIRECT_ALIGN, rp->plan.position + rp->got);
		int64		to = TYPEALIGN(DIRECT_ALIGN, rp->plan.position + rp->len);

		if (nagare_conn_closing(rp->fs->conn))
		{
			/* nobody will read the answer */
			read_done(rp, rp->got);
			continue;
		}
		if (rp->direct_fd < 0)
			rp->direct_fd = reopen_direct(rp->fd);
		if (rp->direct_fd < 0)
		{
			nagare_aio_read(rp->fd, rp->data + rp->got, rp->len - rp->got,
							rp->plan.position + rp->got, buffered_rest_done, rp);
			continue;
		}
		rp->chunk_len = Min(TYPEALIGN(DIRECT_ALIGN, Max(nagare_cold_read_size, 1)), to - from);
		cold_busy = true;
		nagare_aio_pread(rp->direct_fd, rp->data + (from - rp->plan.position), rp->chunk_len,
						 from, cold_read_done, rp);
	}
	/* GET /metrics: the cold reads waiting, and the one in flight */
	n = cold_busy ? 1 : 0;
	dlist_foreach (iter, &cold_queue)
		n++;
	pg_atomic_write_u32(&nagare_shared->cold_reads, n);
}

/* A direct read came back: this cold read goes on later, or it is done */
static void
cold_read_done(void *arg, int64 result)
{
	ReadPart   *rp = arg;
	int64		from = TYPEALIGN_DOWN(DIRECT_ALIGN, rp->plan.position + rp->got);
	int64		got = rp->got;

	cold_busy = false;
	if (result == -EINVAL)
	{
		/* the file system wants other alignments: the rest through the cache */
		errno = EINVAL;
		direct_reads_fail("read");
		close(rp->direct_fd);
		rp->direct_fd = -1;
		nagare_aio_read(rp->fd, rp->data + rp->got, rp->len - rp->got,
						rp->plan.position + rp->got, buffered_rest_done, rp);
	}
	else if (result < 0)
		read_done(rp, result);
	else
	{
		stat_add(&nagare_shared->fetch_direct_bytes, result);
		rp->got = Max(got, Min(from + result - rp->plan.position, rp->len));
		if (rp->got > got && rp->got < rp->len)
			dlist_push_tail(&cold_queue, &rp->cold_node);
		else
			read_done(rp, rp->got);	/* all of it, or the end of the file */
	}
	cold_start_next();
}

/* The rest of a cold read, read through the page cache, came back */
static void
buffered_rest_done(void *arg, int64 result)
{
	ReadPart   *rp = arg;

	if (result > 0)
		stat_add(&nagare_shared->fetch_buffered_bytes, result);
	read_done(rp, result < 0 ? result : rp->got + result);
}

static void
part_done_reading(ReadPart *rp)
{
	if (rp->fd >= 0)
	{
		close(rp->fd);
		rp->fd = -1;
	}
	if (rp->direct_fd >= 0)
	{
		close(rp->direct_fd);
		rp->direct_fd = -1;
	}
}

static void
fetch_start_reads(FetchState *fs)
{
	int64		left = fs->max_bytes;
	bool		any = false;
	int			i;

	for (i = 0; i < fs->nparts; i++)
	{
		ReadPart   *rp = &fs->parts[i];
		LogPartition *lp;
		int64		slack;

		if (rp->error != KAFKA_ERROR_NONE || rp->shared == NULL || rp->plan.available <= 0)
			continue;
		rp->budget = Min((int64) Max(rp->max_bytes, 0), left);
		rp->min_one = !any;
		if (rp->budget <= 0 && !rp->min_one)
			continue;
		lp = part_log(rp);
		if (lp == NULL)
		{
			rp->error = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
			continue;
		}
		slack = rp->plan.exact ? 0 : READ_SLACK(&lp->cfg);
		rp->len = Min(rp->plan.available, Max(rp->budget, KAFKA_BATCH_HEADER_SIZE) + slack);
		if (issue_read(rp))
		{
			any = true;
			left -= rp->budget;
		}
	}
	if (fs->reads == 0)
		fetch_respond(fs);
}

/*
 * A Fetch read completed: pick the batches to send.  Returns true if
 * another read was issued for this part.
 */
static bool
fetch_parse(ReadPart *rp, int64 got)
{
	int64		pos = 0;
	int64		start = -1;
	int64		end = 0;
	int64		next_offset = rp->offset;

	while (pos < got)
	{
		const uint8 *b = (const uint8 *) rp->data + pos;
		size_t		size = 0;
		int			rc = kafka_batch_size(b, got - pos, &size);
		KafkaBatchHeader h;
		int64		last;

		if (rc == KAFKA_ERR_TRUNCATED)
		{
			/*
			 * The batch goes past what was read.  If nothing was taken yet,
			 * read again from this batch: whole if this partition may
			 * exceed its budget (KIP-74), else if it fits the budget.
			 */
			if (start < 0 && (rp->min_one || pos > 0))
			{
				int64		need = Max((int64) size, KAFKA_BATCH_HEADER_SIZE);
				int64		avail = rp->plan.available - pos;
				int64		want = rp->min_one ? Max(need, rp->budget) : rp->budget;

				want = Min(want, avail);
				if (want >= need)
				{
					rp->plan.position += pos;
					rp->plan.available = avail;
					rp->len = want;
					return issue_read(rp);
				}
			}
			break;
		}
		if (rc != KAFKA_OK)
		{
			LogPartition *lp = part_log(rp);

			ereport(LOG,
					(errmsg("nagare broker: unreadable batch in segment %lld of \"%s\" at position %lld: %s",
							(long long) rp->plan.segment_base, lp ? lp->dir : "?",
							(long long) (rp->plan.position + pos), kafka_codec_strerror(rc))));
			if (start < 0)
				rp->error = KAFKA_ERROR_KAFKA_STORAGE_ERROR;
			break;
		}
		if (kafka_batch_read_header(b, size, &h) != KAFKA_OK)
		{
			rp->error = KAFKA_ERROR_KAFKA_STORAGE_ERROR;
			break;
		}
		last = kafka_batch_last_offset(&h);
		if (last < rp->offset)
		{
			pos += size;
			continue;
		}
		if (start < 0)
			start = pos;
		else if (pos + (int64) size - start > rp->budget)
			break;
		pos += size;
		end = pos;
		next_offset = last + 1;
		if (end - start >= rp->budget)
			break;
	}
	if (start < 0 && pos >= got && got > 0 && rp->plan.available > got &&
		rp->error == KAFKA_ERROR_NONE)
	{
		/* only batches before the offset so far: read on */
		rp->plan.position += got;
		rp->plan.available -= got;
		rp->len = Min(rp->plan.available, Max(rp->budget, KAFKA_BATCH_HEADER_SIZE));
		return issue_read(rp);
	}
	if (start >= 0)
	{
		LogPartition *lp = part_log(rp);

		rp->send_start = start;
		rp->send_len = end - start;
		if (lp != NULL)
			nagare_log_note_position(lp, next_offset, rp->plan.segment_base,
									 rp->plan.position + end);
	}
	return false;
}

static void
read_done(void *arg, int64 result)
{
	ReadPart   *rp = arg;
	FetchState *fs = rp->fs;
	bool		again = false;

	fs->reads--;
	if (result < 0)
	{
		LogPartition *lp = part_log(rp);

		errno = (int) -result;
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("nagare broker: could not read segment %lld of \"%s\": %m",
						(long long) rp->plan.segment_base, lp ? lp->dir : "?")));
		rp->error = KAFKA_ERROR_KAFKA_STORAGE_ERROR;
	}
	else if (fs->list_offsets)
		again = time_scan_done(rp, result);
	else
		again = fetch_parse(rp, result);
	if (!again)
		part_done_reading(rp);
	if (fs->reads == 0)
	{
		if (fs->list_offsets)
			list_offsets_respond(fs);
		else
			fetch_respond(fs);
	}
}

static void
fetch_respond(FetchState *fs)
{
	MemoryContext cxt = nagare_conn_context(fs->conn);
	KafkaFetchResponse resp;
	NagareSplicePart *bufs;
	KafkaNodeEndpoint node;
	char host[256];
	int			nbufs = 0;
	int			i;
	int			t;

	memset(&resp, 0, sizeof(resp));
	resp.ErrorCode = KAFKA_ERROR_NONE;
	resp.SessionId = 0;
	resp.ResponsesCount = fs->ntopics;
	resp.Responses = MemoryContextAllocZero(cxt, sizeof(KafkaFetchableTopicResponse) *
											Max(fs->ntopics, 1));
	bufs = MemoryContextAlloc(cxt, sizeof(NagareSplicePart) * Max(fs->nparts, 1));
	for (t = 0, i = 0; t < fs->ntopics; t++)
	{
		KafkaFetchableTopicResponse *tr = &resp.Responses[t];
		int			k;

		tr->Topic = fs->topics[t];
		tr->TopicId = fs->topic_ids[t];
		tr->PartitionsCount = fs->topic_nparts[t];
		tr->Partitions = MemoryContextAllocZero(cxt, sizeof(KafkaFetchPartitionData) *
												Max(fs->topic_nparts[t], 1));
		for (k = 0; k < fs->topic_nparts[t]; k++)
		{
			ReadPart   *rp = &fs->parts[i++];
			KafkaFetchPartitionData *pd = &tr->Partitions[k];

			pd->PartitionIndex = rp->partition;
			pd->ErrorCode = rp->error;
			pd->HighWatermark = rp->error == KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION ||
										rp->error == KAFKA_ERROR_UNKNOWN_TOPIC_ID ||
										rp->error == KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED
									? -1
									: rp->hwm;
			pd->LastStableOffset = pd->HighWatermark;
			pd->LogStartOffset = pd->HighWatermark == -1 ? -1 : rp->log_start;
			if (rp->error == KAFKA_ERROR_FENCED_LEADER_EPOCH)
			{
				/* KIP-951: the leader the client should have known */
				pd->HasCurrentLeader = true;
				pd->CurrentLeader.LeaderId = NAGARE_NODE_ID;
				pd->CurrentLeader.LeaderEpoch = 0;
				if (!resp.HasNodeEndpoints)
				{
					memset(&node, 0, sizeof(node));
					node.NodeId = NAGARE_NODE_ID;
					nagare_advertised_address(fs->conn, host, sizeof(host), &node.Port);
					node.Host = kafka_str(host);
					node.Rack = kafka_str_null();
					resp.HasNodeEndpoints = true;
					resp.NodeEndpointsCount = 1;
					resp.NodeEndpoints = &node;
				}
			}
			pd->AbortedTransactionsCount = fs->isolation == 1 ? 0 : -1;
			pd->PreferredReadReplica = -1;
			if (rp->error == KAFKA_ERROR_NONE && rp->send_len > 0)
			{
				pd->Records.len = (int32) rp->send_len;
				pd->RecordsSplice = true;
				pd->RecordsSpliceArg = rp;
				bufs[nbufs].owned = rp->buf;
				bufs[nbufs].data = rp->data + rp->send_start;
				nbufs++;
				rp->buf = NULL;
			}
			else
			{
				pd->Records.ptr = NULL;
				pd->Records.len = 0;
			}
			if (rp->buf)
			{
				pfree(rp->buf);
				rp->buf = NULL;
			}
		}
	}
	/* consumer_byte_rate: the response's size (the header's estimated) */
	{
		int64		bytes = 16;

		for (t = 0, i = 0; t < fs->ntopics; t++)
		{
			bytes += 8 + fs->topics[t].len;
			for (int k = 0; k < fs->topic_nparts[t]; k++, i++)
				bytes +=
					50 +
					(fs->parts[i].error == KAFKA_ERROR_NONE ? fs->parts[i].send_len : 0);
		}
		nagare_throttle_fetch(fs->resp, bytes);
	}
	nagare_kafka_response_ready(fs->resp, fs->id, &resp, bufs);
	/* the response is encoded: the rest goes */
	for (t = 0; t < fs->ntopics; t++)
		pfree(resp.Responses[t].Partitions);
	pfree(resp.Responses);
	pfree(bufs);
	fetch_state_free(fs);
}

/*
 * Each loop turn: parked fetches whose data arrived, whose time is up, or
 * whose connection closed.
 */
void
nagare_fetch_turn(TimestampTz now)
{
	dlist_mutable_iter iter;
	bool		changed = (nagare_log_hwm_changes != parked_seen_changes);

	parked_seen_changes = nagare_log_hwm_changes;
	dlist_foreach_modify(iter, &parked)
	{
		FetchState *fs = dlist_container(FetchState, node, iter.cur);

		if (nagare_conn_closing(fs->conn))
		{
			dlist_delete(&fs->node);
			nagare_conn_response_drop(fs->resp);
			fetch_state_free(fs);
			continue;
		}
		if (now >= fs->deadline ||
			(changed && fetch_evaluate(fs) >= Max(fs->min_bytes, 1)))
		{
			dlist_delete(&fs->node);
			if (now >= fs->deadline)
				(void) fetch_evaluate(fs);
			fetch_start_reads(fs);
		}
	}
}

/* When the earliest parked fetch times out (0 if none) */
TimestampTz
nagare_fetch_next_deadline(void)
{
	dlist_iter	iter;
	TimestampTz next = 0;

	dlist_foreach(iter, &parked)
	{
		FetchState *fs = dlist_container(FetchState, node, iter.cur);

		if (next == 0 || fs->deadline < next)
			next = fs->deadline;
	}
	return next;
}

/*---- ListOffsets ----*/

void
nagare_handle_list_offsets(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaListOffsetsRequest *req = &body->ListOffsets;
	MemoryContext cxt = nagare_conn_context(conn);
	FetchState *fs;
	int			n = 0;
	int			t;
	int			i;

	for (t = 0; t < req->TopicsCount; t++)
		n += req->Topics[t].PartitionsCount;
	fs = fetch_state_new(conn, hdr, req->TopicsCount, n);
	fs->list_offsets = true;
	fs->isolation = req->IsolationLevel;
	n = 0;
	for (t = 0; t < req->TopicsCount; t++)
	{
		KafkaListOffsetsTopic *lt = &req->Topics[t];
		bool		denied = !nagare_authorized_topic(conn, lt->Name, KAFKA_ACL_DESCRIBE);
		const BrokerTopic *topic = denied ? NULL : nagare_broker_topic(lt->Name.ptr, lt->Name.len);
		int			p;

		fs->topics[t] = nagare_kstr_copy(cxt, lt->Name);
		fs->topic_nparts[t] = lt->PartitionsCount;
		for (p = 0; p < lt->PartitionsCount; p++)
		{
			ReadPart   *rp = &fs->parts[n++];

			rp->fs = fs;
			rp->topic = t;
			rp->partition = lt->Partitions[p].PartitionIndex;
			rp->offset = lt->Partitions[p].Timestamp;
			rp->leader_epoch = hdr->RequestApiVersion >= 4 ?
				lt->Partitions[p].CurrentLeaderEpoch : -1;
			rp->found_offset = -1;
			rp->found_timestamp = -1;
			resolve(rp, topic);
			if (denied)
				rp->error = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
		}
	}
	fs->resp = nagare_conn_new_response(conn);

	for (i = 0; i < fs->nparts; i++)
	{
		ReadPart   *rp = &fs->parts[i];
		LogPartition *lp;
		int64		ts = rp->offset;

		if (rp->error != KAFKA_ERROR_NONE)
			continue;
		if (ts < -3)
		{
			rp->error = KAFKA_ERROR_INVALID_REQUEST;
			continue;
		}
		if (rp->shared == NULL)
		{
			/* never written: empty */
			if (ts == -1 || ts == -2)
				rp->found_offset = 0;
			continue;
		}
		lp = part_log(rp);
		if (lp == NULL)
		{
			rp->error = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
			continue;
		}
		rp->log_start = lp->log_start;
		if (ts == -1)
			rp->found_offset = nagare_log_readable_end(lp);
		else if (ts == -2)
			rp->found_offset = lp->log_start;
		else if (ts == -3)
		{
			/*
			 * The log knows the batch with the largest timestamp, and its
			 * last offset; Kafka (since 3.8, KAFKA-16310) answers the first
			 * record that has the timestamp: found as for a timestamp.
			 */
			int64		max_ts;

			if (nagare_log_max_timestamp_offset(lp, &max_ts) >= 0 &&
				nagare_log_plan_time(lp, max_ts, &rp->plan))
			{
				rp->offset = max_ts;
				rp->len = Min(rp->plan.available, TIME_SCAN_WINDOW);
				if (!issue_read(rp))
					part_done_reading(rp);
			}
		}
		else if (nagare_log_plan_time(lp, ts, &rp->plan))
		{
			rp->len = Min(rp->plan.available, TIME_SCAN_WINDOW);
			if (!issue_read(rp))
				part_done_reading(rp);
		}
	}
	if (fs->reads == 0)
		list_offsets_respond(fs);
}

/*
 * A timestamp scan's read completed: look for the first record at or after
 * the timestamp.  Returns true if another read was issued.
 */
static bool
time_scan_done(ReadPart *rp, int64 got)
{
	int64		pos = 0;

	while (pos < got)
	{
		const uint8 *b = (const uint8 *) rp->data + pos;
		size_t		size = 0;
		int			rc = kafka_batch_size(b, got - pos, &size);
		KafkaBatchHeader h;

		if (rc == KAFKA_ERR_TRUNCATED)
		{
			/* read on from this batch, whole */
			if (pos == 0 && (int64) size <= rp->len)
				break;			/* cannot happen: the file ends mid-batch */
			rp->plan.position += pos;
			rp->plan.available -= pos;
			rp->len = Min(rp->plan.available, Max((int64) size, TIME_SCAN_WINDOW));
			if (rp->len > 0 && (size == 0 || rp->len >= (int64) size))
				return issue_read(rp);
			break;
		}
		if (rc != KAFKA_OK || kafka_batch_read_header(b, size, &h) != KAFKA_OK)
		{
			rp->error = KAFKA_ERROR_KAFKA_STORAGE_ERROR;
			return false;
		}
		if (kafka_batch_last_offset(&h) >= rp->log_start && h.MaxTimestamp >= rp->offset)
		{
			KafkaRecordIter it;
			KafkaRecordView rec;
			int			r;

			r = kafka_records_begin(&it, b, size, KAFKA_MAX_DECOMPRESSED,
									nagare_request_allocator());
			while (r >= 0 && (r = kafka_records_next(&it, &rec)) == 1)
			{
				if (rec.Timestamp >= rp->offset && rec.Offset >= rp->log_start)
				{
					rp->found_offset = rec.Offset;
					rp->found_timestamp = rec.Timestamp;
					break;
				}
			}
			kafka_records_end(&it);
			if (r < 0)
			{
				rp->error = KAFKA_ERROR_KAFKA_STORAGE_ERROR;
				return false;
			}
			if (rp->found_offset >= 0)
				return false;
		}
		pos += size;
	}
	if (pos >= got && rp->plan.available > got)
	{
		rp->plan.position += got;
		rp->plan.available -= got;
		rp->len = Min(rp->plan.available, TIME_SCAN_WINDOW);
		return issue_read(rp);
	}
	return false;
}

static void
list_offsets_respond(FetchState *fs)
{
	MemoryContext cxt = nagare_conn_context(fs->conn);
	KafkaListOffsetsResponse resp;
	int			t;
	int			i;

	memset(&resp, 0, sizeof(resp));
	resp.TopicsCount = fs->ntopics;
	resp.Topics = MemoryContextAllocZero(cxt, sizeof(KafkaListOffsetsTopicResponse) *
										 Max(fs->ntopics, 1));
	for (t = 0, i = 0; t < fs->ntopics; t++)
	{
		KafkaListOffsetsTopicResponse *tr = &resp.Topics[t];
		int			k;

		tr->Name = fs->topics[t];
		tr->PartitionsCount = fs->topic_nparts[t];
		tr->Partitions = MemoryContextAllocZero(cxt, sizeof(KafkaListOffsetsPartitionResponse) *
												Max(fs->topic_nparts[t], 1));
		for (k = 0; k < fs->topic_nparts[t]; k++)
		{
			ReadPart   *rp = &fs->parts[i++];
			KafkaListOffsetsPartitionResponse *pr = &tr->Partitions[k];

			pr->PartitionIndex = rp->partition;
			pr->ErrorCode = rp->error;
			pr->Timestamp = rp->error ? -1 : rp->found_timestamp;
			pr->Offset = rp->error ? -1 : rp->found_offset;
			pr->LeaderEpoch = rp->error ? -1 : 0;
			if (rp->buf)
				pfree(rp->buf);
		}
	}
	nagare_kafka_response_ready(fs->resp, fs->id, &resp, NULL);
	for (t = 0; t < fs->ntopics; t++)
		pfree(resp.Topics[t].Partitions);
	pfree(resp.Topics);
	fetch_state_free(fs);
}

int32
nagare_fetch_splice_topic(const void *arg)
{
	const ReadPart *rp = (const ReadPart *) arg;

	return rp != NULL && rp->shared != NULL ? rp->shared->key.topic_id : -1;
}

NagarePartition *
nagare_fetch_splice_partition(const void *arg)
{
	const ReadPart *rp = (const ReadPart *) arg;

	/* an entry removed meanwhile (a deleted topic) may hold another key now */
	if (rp == NULL || rp->shared == NULL || rp->shared->incarnation != rp->incarnation)
		return NULL;
	return rp->shared;
}

/*---- OffsetForLeaderEpoch ----*/

/*
 * OffsetForLeaderEpoch: where a leader epoch ends, for a consumer checking
 * its position after a leader change (KIP-320).  Every partition of this
 * one-node broker has had one leader epoch, 0, since it was created: epoch
 * 0 ends at the high watermark (what the consumer may read; the durable
 * one under nagare.serve_durable_only), and any other epoch is unknown
 * (LeaderEpoch -1, EndOffset -1), as Kafka answers an epoch above its
 * latest.  CurrentLeaderEpoch is checked as in Fetch.  ReplicaId (v3+) is
 * a follower's and is ignored: there are none.
 */
void
nagare_handle_offset_for_leader_epoch(NagareConn *conn, const KafkaRequestHeader *hdr,
									  KafkaRequestBody *body)
{
	KafkaOffsetForLeaderEpochRequest *req = &body->OffsetForLeaderEpoch;
	KafkaOffsetForLeaderEpochResponse resp;
	int			t;

	memset(&resp, 0, sizeof(resp));
	resp.TopicsCount = req->TopicsCount;
	resp.Topics = nagare_request_palloc(sizeof(KafkaOffsetForLeaderTopicResult) *
										Max(req->TopicsCount, 1));
	if (resp.Topics == NULL)
	{
		nagare_request_out_of_memory(conn, hdr->RequestApiKey, hdr->RequestApiVersion);
		return;
	}
	for (t = 0; t < req->TopicsCount; t++)
	{
		KafkaOffsetForLeaderTopic *lt = &req->Topics[t];
		KafkaOffsetForLeaderTopicResult *out = &resp.Topics[t];
		bool		denied = !nagare_authorized_topic(conn, lt->Topic, KAFKA_ACL_DESCRIBE);
		const BrokerTopic *topic =
			denied ? NULL : nagare_broker_topic(lt->Topic.ptr, lt->Topic.len);
		int			p;

		out->Topic = lt->Topic;
		out->PartitionsCount = lt->PartitionsCount;
		out->Partitions = nagare_request_palloc(
			sizeof(KafkaOffsetForLeaderPartitionResult) * Max(lt->PartitionsCount, 1));
		if (out->Partitions == NULL)
		{
			nagare_request_out_of_memory(conn, hdr->RequestApiKey, hdr->RequestApiVersion);
			return;
		}
		for (p = 0; p < lt->PartitionsCount; p++)
		{
			KafkaOffsetForLeaderPartition *lp = &lt->Partitions[p];
			KafkaOffsetForLeaderPartitionResult *pr = &out->Partitions[p];
			ReadPart	rp;

			memset(&rp, 0, sizeof(rp));
			pr->Partition = lp->Partition;
			pr->LeaderEpoch = -1;
			pr->EndOffset = -1;
			rp.partition = lp->Partition;
			rp.leader_epoch = lp->CurrentLeaderEpoch;
			resolve(&rp, topic);
			if (denied)
				rp.error = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
			pr->ErrorCode = rp.error;
			if (rp.error != KAFKA_ERROR_NONE || lp->LeaderEpoch != 0)
				continue;
			pr->LeaderEpoch = 0;
			if (rp.shared == NULL)
				pr->EndOffset = 0;	/* never written: empty */
			else
			{
				LogPartition *log = part_log(&rp);

				if (log == NULL)
				{
					pr->ErrorCode = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
					pr->LeaderEpoch = -1;
				}
				else
					pr->EndOffset = nagare_log_readable_end(log);
			}
		}
	}
	nagare_kafka_respond(conn, hdr, &resp);
}
