/*-------------------------------------------------------------------------
 *
 * fake_broker.c
 *	  The server around the broker's request handlers, for fuzz_broker:
 *	  connections (net.c), shared memory (shmem.c), the append ring
 *	  (queue.c) and a partition store in memory (log.c and writer.c), file
 *	  I/O (aio.c), the nagare worker's channel (channel.c), and the meter
 *	  and throttle hooks (meter.c, throttle.c), which do nothing here.
 *
 * The connection keeps net.c's contract and checks it: responses are
 * "sent" in request order once ready, each a whole frame whose size prefix
 * is its length and whose correlation id is that of the connection's next
 * request still to be answered (a Produce with acks=0, which kafka_api.c
 * tells throttle.c is exempt, is never answered); a response is made ready once; one is
 * dropped only on a closing connection; holds and pins are balanced; when
 * the input ends and the connection is closed, every response still
 * deferred must be dropped within a few loop turns (with the clock moved
 * on) and every pin released: otherwise the broker would keep the
 * connection forever.
 *
 * The partition store: nagare_queue_try_append writes each batch, with its
 * BaseOffset set, to the active segment of its partition, a memfd, and
 * keeps the in-memory offset index as writer.c does, so that Fetch and
 * ListOffsets read what Produce wrote through the real readplan.c, their
 * own file descriptors and the fake aio.  Segments roll at 256 KiB and the
 * oldest go beyond four (retention), so memory stays bounded.
 *
 * The channel never runs SQL: requests submitted are answered in the next
 * loop turn with an error SQLSTATE, or not at all (the deadline passes,
 * for requests that have one), as FakeConfig says; or the channel is full.  The one exception is the
 * broker's own list of the groups with committed offsets, answered with
 * none, so that it does not ask again every 5 seconds.
 *
 * test/fuzz/fake_broker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/ilist.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "acl/acl.h"
#include "aio/aio.h"
#include "broker/kafka_api.h"
#include "broker/meter.h"
#include "broker/net.h"
#include "broker/throttle.h"
#include "broker/topicmap.h"
#include "kafka/byteorder.h"
#include "logstore/log.h"
#include "logstore/segment.h"
#include "nagare.h"
#include "queue/channel.h"
#include "queue/queue.h"
#include "shmem.h"
#include "topic/config.h"

#include "fake.h"

/* ------------------------------------------------------------------ GUCs */

int nagare_request_timeout_ms = 30000;
bool nagare_auto_create_topics = true;
int nagare_num_partitions = 1;
int nagare_cold_read_size = 0; /* no O_DIRECT reads (memfds have none) */
int nagare_group_initial_rebalance_delay_ms = 0;
int nagare_group_min_session_timeout_ms = 6000;
int nagare_group_max_session_timeout_ms = 1800000;
int nagare_group_consumer_session_timeout_ms = 45000;
int nagare_group_consumer_heartbeat_interval_ms = 5000;
char *nagare_super_users = "User:admin";
int nagare_allow_everyone_if_no_acl_found = NAGARE_ALLOW_EVERYONE_AUTO;
int nagare_max_acls = 16;
int nagare_max_quotas = 16;
int nagare_max_request_size = 104857600;
int nagare_broker_reload_count = 0;
int nagare_max_groups = 10000;
int nagare_empty_group_retention_ms = 600000;
uint64 nagare_log_hwm_changes = 0;
/* nagare.serve_durable_only (guc.c, once merged): off, every written record is served */
bool nagare_serve_durable_only = false;
bool nagare_log_connections = false;
int nagare_connections_max_reauth_ms = 0;
int nagare_failed_authentication_delay_ms = 0;

/* ---------------------------------------------------------- shared memory */

NagareShared *nagare_shared;
HTAB *nagare_topic_hash;
HTAB *nagare_partition_hash;
NagareAclShared *nagare_acls;
NagareQuotaShared *nagare_quotas;
NagareGroupShared *nagare_groups;
NagareGroupOffsetShared *nagare_group_offsets; /* none: not published */

static uint64 next_incarnation = 1;

void
nagare_partition_init_new(NagarePartition *part)
{
	part->incarnation = next_incarnation++;
	part->state = NAGARE_PART_OPEN;
	part->next_offset = 0;
	pg_atomic_init_u64(&part->high_watermark, 0);
	pg_atomic_init_u64(&part->log_start_offset, 0);
	pg_atomic_init_u64(&part->size_bytes, 0);
	pg_atomic_init_u32(&part->segments, 0);
	pg_atomic_init_u64(&part->sync_base, NAGARE_NO_SYNC_BASE);
	part->from_disk = false;
}

void
nagare_note_topic_id(int32 topic_id)
{
}

/*
 * The ACLs of an input with FakeConfig.acls: the fuzzer's principal
 * (User:ANONYMOUS) may write topic "fuzz" and read "fuzz3", is denied
 * everything on "t*", and User:alice may do anything on groups "g*".
 */
static const NagareAclEntry fake_acls[] = {
	{KAFKA_RESOURCE_TOPIC, NAGARE_ACL_PATTERN_LITERAL, KAFKA_ACL_WRITE,
	 NAGARE_ACL_PERMISSION_ALLOW, "fuzz", "User:ANONYMOUS", "*"},
	{KAFKA_RESOURCE_TOPIC, NAGARE_ACL_PATTERN_LITERAL, KAFKA_ACL_READ,
	 NAGARE_ACL_PERMISSION_ALLOW, "fuzz3", "User:ANONYMOUS", "*"},
	{KAFKA_RESOURCE_TOPIC, NAGARE_ACL_PATTERN_PREFIXED, KAFKA_ACL_ALL,
	 NAGARE_ACL_PERMISSION_DENY, "t", "User:ANONYMOUS", "*"},
	{KAFKA_RESOURCE_GROUP, NAGARE_ACL_PATTERN_PREFIXED, KAFKA_ACL_ALL,
	 NAGARE_ACL_PERMISSION_ALLOW, "g", "User:alice", "*"},
	{KAFKA_RESOURCE_CLUSTER, NAGARE_ACL_PATTERN_LITERAL, KAFKA_ACL_DESCRIBE,
	 NAGARE_ACL_PERMISSION_ALLOW, "kafka-cluster", "User:*", "*"},
};

static void
add_topic(int32 id, const char *name, int32 partitions, bool small)
{
	NagareTopic *t;
	bool found;

	t = hash_search(nagare_topic_hash, &id, HASH_ENTER, &found);
	t->generation = 1;
	t->partitions = partitions;
	t->deleted = false;
	for (int i = 0; i < 16; i++)
		t->uuid[i] = (uint8) (id * 16 + i + 1);
	nagare_config_set_unset(&t->config);
	if (small)
		t->config.max_message_bytes = 1024;
	strlcpy(t->name, name, sizeof(t->name));
}

/* ----------------------------------------------------------- the config */

static FakeConfig config;
static uint64 ring_pos = 0;

void
fake_broker_configure(const FakeConfig *cfg)
{
	if (cfg->acls != config.acls || cfg->allow_everyone != config.allow_everyone)
	{
		nagare_acls->count = cfg->acls ? lengthof(fake_acls) : 0;
		nagare_allow_everyone_if_no_acl_found = cfg->allow_everyone;
		pg_atomic_fetch_add_u64(&nagare_acls->version, 1);
	}
	config = *cfg;
}

/* ------------------------------------------------------- partition store */

#define SEGMENT_ROLL  (256 * 1024)
#define SEGMENTS_KEPT 4

typedef struct FakeLog
{
	NagarePartitionKey key; /* hash key */
	LogPartition lp;
} FakeLog;

static HTAB *log_hash;

static LogSegment *
new_segment(int64 base)
{
	LogSegment *seg = MemoryContextAllocZero(TopMemoryContext, sizeof(LogSegment));

	seg->base_offset = base;
	seg->next_offset = base;
	seg->max_timestamp = -1;
	seg->max_timestamp_offset = -1;
	seg->log_fd = memfd_create("fuzz-segment", MFD_CLOEXEC);
	if (seg->log_fd < 0)
	{
		perror("memfd_create");
		abort();
	}
	seg->index_fd = seg->timeindex_fd = -1;
	seg->maxoffidx = 64;
	seg->offidx =
		MemoryContextAlloc(TopMemoryContext, sizeof(LogIndexEntry) * seg->maxoffidx);
	seg->maxtimeidx = 64;
	seg->timeidx =
		MemoryContextAlloc(TopMemoryContext, sizeof(LogTimeEntry) * seg->maxtimeidx);
	return seg;
}

static void
free_segment(LogSegment *seg)
{
	close(seg->log_fd);
	pfree(seg->offidx);
	pfree(seg->timeidx);
	pfree(seg);
}

LogPartition *
nagare_log_get(NagarePartition *shared, uint64 incarnation)
{
	FakeLog *fl;
	bool found;

	if (shared->incarnation != incarnation || shared->state != NAGARE_PART_OPEN)
		return NULL;
	fl = hash_search(log_hash, &shared->key, HASH_ENTER, &found);
	if (!found)
	{
		LogPartition *lp = &fl->lp;

		lp->key = shared->key;
		lp->shared = shared;
		lp->incarnation = incarnation;
		snprintf(lp->dir, sizeof(lp->dir), "fuzz/%d-%d", shared->key.topic_id,
				 shared->key.partition);
		lp->maxsegs = SEGMENTS_KEPT + 1;
		lp->segs = MemoryContextAlloc(TopMemoryContext, sizeof(LogSegment *) * lp->maxsegs);
		lp->segs[0] = new_segment(0);
		lp->nsegs = 1;
		dlist_init(&lp->writes);
		nagare_config_defaults(&lp->cfg);
		for (int i = 0; i < lengthof(lp->hints); i++)
			lp->hints[i].offset = -1;
	}
	return &fl->lp;
}

/* writer.c's work for one batch, at once */
static void
store_batch(LogPartition *lp, NagareAppend *a)
{
	LogSegment *seg = lp->segs[lp->nsegs - 1];
	uint8 hdr[8];

	if (seg->size >= SEGMENT_ROLL)
	{
		if (lp->nsegs == SEGMENTS_KEPT)
		{
			free_segment(lp->segs[0]);
			memmove(lp->segs, lp->segs + 1, sizeof(LogSegment *) * (lp->nsegs - 1));
			lp->nsegs--;
			lp->log_start = lp->segs[0]->base_offset;
			pg_atomic_write_u64(&lp->shared->log_start_offset, lp->log_start);
		}
		seg = new_segment(lp->log_end);
		lp->segs[lp->nsegs++] = seg;
	}
	kafka_store_be64(hdr, (uint64) a->base_offset);
	if (pwrite(seg->log_fd, hdr, 8, seg->size) != 8 ||
		pwrite(seg->log_fd, a->batch + 8, a->batch_len - 8, seg->size + 8) !=
			a->batch_len - 8)
	{
		perror("pwrite to memfd");
		abort();
	}
	if (seg->noffidx == seg->maxoffidx)
	{
		seg->maxoffidx *= 2;
		seg->offidx = repalloc(seg->offidx, sizeof(LogIndexEntry) * seg->maxoffidx);
	}
	seg->offidx[seg->noffidx].rel =
		(int32) (a->base_offset + a->record_count - 1 - seg->base_offset);
	seg->offidx[seg->noffidx].position = (int32) seg->size;
	seg->noffidx++;
	if (a->max_timestamp > seg->max_timestamp)
	{
		seg->max_timestamp = a->max_timestamp;
		seg->max_timestamp_offset = a->base_offset + a->record_count - 1;
		if (seg->ntimeidx == seg->maxtimeidx)
		{
			seg->maxtimeidx *= 2;
			seg->timeidx = repalloc(seg->timeidx, sizeof(LogTimeEntry) * seg->maxtimeidx);
		}
		seg->timeidx[seg->ntimeidx].timestamp = a->max_timestamp;
		seg->timeidx[seg->ntimeidx].rel =
			(int32) (seg->max_timestamp_offset - seg->base_offset);
		seg->ntimeidx++;
	}
	seg->size += a->batch_len;
	seg->written_size = seg->size;
	seg->next_offset = a->base_offset + a->record_count;
	lp->log_end = seg->next_offset;
	lp->written_end = lp->log_end;
	pg_atomic_write_u64(&lp->shared->high_watermark, lp->written_end);
	nagare_log_hwm_changes++;
}

int
nagare_queue_try_append(NagareAppend *appends, int n, uint64 *end_pos)
{
	if (config.ring_full)
		return 0;
	for (int i = 0; i < n; i++)
	{
		NagareAppend *a = &appends[i];
		LogPartition *lp;

		if (a->part->incarnation != a->incarnation || a->part->state != NAGARE_PART_OPEN)
		{
			a->base_offset = -1;
			continue;
		}
		if (a->batch_len < 61 || a->record_count <= 0)
		{
			fprintf(stderr,
					"fuzz_broker: produce.c appended a batch of %d bytes, %d records\n",
					a->batch_len, a->record_count);
			abort();
		}
		a->base_offset = a->part->next_offset;
		a->part->next_offset += a->record_count;
		lp = nagare_log_get(a->part, a->incarnation);
		store_batch(lp, a);
	}
	ring_pos += n;
	*end_pos = ring_pos;
	return n;
}

Size
nagare_queue_max_batch(void)
{
	return 1024 * 1024;
}

/* writer.c's: what readers may read (everything written, durable or not) */
int64
nagare_log_readable_end(LogPartition *lp)
{
	return lp->written_end;
}

bool
nagare_log_delete_records(LogPartition *lp, int64 offset, int64 *low)
{
	if (offset > lp->written_end)
		return false;
	if (offset > lp->log_start)
	{
		lp->log_start = offset;
		pg_atomic_write_u64(&lp->shared->log_start_offset, offset);
	}
	*low = lp->log_start;
	return true;
}

void
nagare_segment_path(char *buf, const char *dir, int64 base_offset, const char *suffix)
{
	snprintf(buf, MAXPGPATH, "%s/%020lld%s", dir, (long long) base_offset, suffix);
}

/* producers.c keeps no file here, and producerstate.c has no snapshot */
NagareMetaStatus
nagare_checked_file_read(const char *path, uint32 magic, uint32 version, void **data,
						 uint32 *len, const char **reason)
{
	return NAGARE_META_MISSING;
}

void
nagare_checked_file_write(const char *path, uint32 magic, uint32 version,
						  const void *data, uint32 len)
{
}

int
pg_mkdir_p(char *path, int omode)
{
	return 0;
}

int
OpenTransientFile(const char *fileName, int fileFlags)
{
	errno = ENOENT;
	return -1;
}

int
CloseTransientFile(int fd)
{
	return close(fd);
}

/* -------------------------------------------------------------------- aio */

typedef struct FakeIo
{
	dlist_node node;
	int fd;
	void *buf;
	size_t len;
	off_t offset;
	bool to_eof;
	NagareAioCallback cb;
	void *arg;
} FakeIo;

static dlist_head ios = DLIST_STATIC_INIT(ios);

static void
queue_io(int fd, void *buf, size_t len, off_t offset, bool to_eof, NagareAioCallback cb,
		 void *arg)
{
	FakeIo *io = MemoryContextAlloc(TopMemoryContext, sizeof(FakeIo));

	io->fd = fd;
	io->buf = buf;
	io->len = len;
	io->offset = offset;
	io->to_eof = to_eof;
	io->cb = cb;
	io->arg = arg;
	dlist_push_tail(&ios, &io->node);
}

void
nagare_aio_read(int fd, void *buf, size_t len, off_t offset, NagareAioCallback cb, void *arg)
{
	queue_io(fd, buf, len, offset, true, cb, arg);
}

void
nagare_aio_pread(int fd, void *buf, size_t len, off_t offset, NagareAioCallback cb,
				 void *arg)
{
	queue_io(fd, buf, len, offset, false, cb, arg);
}

static bool
run_ios(void)
{
	bool any = false;

	while (!dlist_is_empty(&ios))
	{
		FakeIo *io = dlist_container(FakeIo, node, dlist_pop_head_node(&ios));
		int64 got = 0;

		while ((size_t) got < io->len)
		{
			ssize_t n =
				pread(io->fd, (char *) io->buf + got, io->len - got, io->offset + got);

			if (n < 0)
			{
				got = -errno;
				break;
			}
			if (n == 0)
				break;
			got += n;
			if (!io->to_eof)
				break;
		}
		io->cb(io->arg, got);
		pfree(io);
		any = true;
	}
	return any;
}

/* ---------------------------------------------------------------- channel */

typedef struct FakeRequest
{
	dlist_node node;
	NagareChannelKind kind;
	bool has_deadline;
	NagareChannelCallback cb;
	void *arg;
} FakeRequest;

static dlist_head requests = DLIST_STATIC_INIT(requests);

bool
nagare_channel_submit(NagareChannelKind kind, const char *payload, uint32 len,
					  TimestampTz deadline, NagareChannelCallback cb, void *arg)
{
	FakeRequest *r;

	if (config.channel_full)
		return false;
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "fuzz_broker: channel request kind %d: %.*s\n", (int) kind,
				(int) len, payload);
	r = MemoryContextAlloc(TopMemoryContext, sizeof(FakeRequest));
	r->kind = kind;
	r->has_deadline = (deadline != 0);
	r->cb = cb;
	r->arg = arg;
	dlist_push_tail(&requests, &r->node);
	return true;
}

void
nagare_channel_charge_to(void *owner, NagareChannelChargeHook hook)
{
}

static bool
answer_requests(void)
{
	static const char msg[] = "fuzz: the nagare worker said no";
	bool any = false;

	while (!dlist_is_empty(&requests))
	{
		FakeRequest *r = dlist_container(FakeRequest, node, dlist_pop_head_node(&requests));

		/* the broker's list of groups with committed offsets: none */
		if (r->kind == NAGARE_GROUP_LIST)
			r->cb(r->arg, "00000", "\0\0\0\0", 4);
		/* without a deadline there is always an answer (channel.h) */
		else if (config.channel_error || !r->has_deadline)
			r->cb(r->arg, "42501", msg, sizeof(msg) - 1);
		else
			r->cb(r->arg, NULL, NULL, 0);
		pfree(r);
		any = true;
	}
	return any;
}

/* ------------------------------------------------------- meter, throttle */

void
nagare_meter_request(NagareConn *conn, const struct KafkaRequestHeader *hdr,
					 size_t frame_len)
{
}

void
nagare_meter_response(NagareConn *conn, int16 api_key, int16 api_version, const void *body,
					  size_t buffer_len, const struct NagareSplicePart *parts,
					  const struct KafkaSplice *splices, int nsplices, instr_time received)
{
}

void
nagare_meter_client_software(NagareConn *conn, const char *name, int name_len,
							 const char *version, int version_len)
{
}

void
nagare_meter_produced(NagareConn *conn, const struct NagareAppend *appends, int n)
{
}

void
nagare_meter_request_body(NagareConn *conn, const struct KafkaRequestHeader *hdr,
						  const union KafkaRequestBody *body)
{
}

void
nagare_meter_produce_done(NagareConn *conn, const void *produce_response, TimestampTz received)
{
}

void
nagare_throttle_request_begin(NagareConn *conn, const KafkaRequestHeader *hdr, size_t size)
{
}

void
nagare_throttle_response(NagareResponse *resp, NagareRequestId id, void *body)
{
}

void
nagare_throttle_produce(NagareConn *conn, NagareResponse *resp)
{
}

void
nagare_throttle_impose(NagareResponse *resp, int32 ms)
{
}

int32
nagare_throttle_fetch_over(NagareConn *conn)
{
	return 0;
}

int64
nagare_throttle_fetch_cap(NagareConn *conn, int64 max_bytes)
{
	return max_bytes;
}

void
nagare_throttle_fetch(NagareResponse *resp, int64 bytes)
{
}

bool
nagare_throttle_mutation(NagareResponse *resp, int16 api_key, int16 version, double permits)
{
	return true;
}

/* ------------------------------------------------------------- connection */

#define MAX_EXPECTED 1024

struct NagareConn
{
	MemoryContext cxt;
	NagareSecurityProtocol sec;
	NagareIdentity identity;
	bool closing;
	int holds;
	int pins;
	int ndeferred;
	dlist_head responses;
	/* correlation ids of the requests handed on, not yet answered */
	int32 expected[MAX_EXPECTED];
	bool may_skip[MAX_EXPECTED]; /* may go unanswered (acks=0) */
	int nexpected;
	int next_expected;
};

/* exempt: a Produce with acks=0, which gets no answer (see send_ready) */
void
nagare_throttle_request_end(NagareConn *conn, bool exempt)
{
	if (exempt && conn->nexpected > 0)
		conn->may_skip[conn->nexpected - 1] = true;
}

static void
fail(const char *what, NagareConn *c)
{
	fprintf(stderr, "fuzz_broker: %s\n", what);
	abort();
}

NagareConn *
fake_conn_open(NagareSecurityProtocol sec)
{
	MemoryContext cxt =
		AllocSetContextCreate(TopMemoryContext, "fuzz connection", ALLOCSET_DEFAULT_SIZES);
	NagareConn *c = MemoryContextAllocZero(cxt, sizeof(NagareConn));

	c->cxt = cxt;
	c->sec = sec;
	c->identity.authenticated = (sec == NAGARE_SEC_PLAINTEXT || sec == NAGARE_SEC_SSL);
	c->identity.role = InvalidOid;
	strlcpy(c->identity.principal, "User:ANONYMOUS", sizeof(c->identity.principal));
	dlist_init(&c->responses);
	pg_atomic_write_u32(&nagare_acls->authenticating_listeners,
						sec == NAGARE_SEC_SASL_PLAINTEXT ? 1 : 0);
	return c;
}

bool
fake_conn_accepts(NagareConn *conn)
{
	return !conn->closing && conn->holds == 0;
}

bool
fake_conn_closing(NagareConn *conn)
{
	return conn->closing;
}

void
fake_conn_expect(NagareConn *conn, int32 correlation_id)
{
	if (conn->nexpected == MAX_EXPECTED)
		return;
	conn->may_skip[conn->nexpected] = false;
	conn->expected[conn->nexpected++] = correlation_id;
}

/* net.c's start_send: the ready responses at the head, in order */
static void
send_ready(NagareConn *c)
{
	while (!c->closing && !dlist_is_empty(&c->responses))
	{
		NagareResponse *r = dlist_head_element(NagareResponse, node, &c->responses);
		size_t total = 0;
		uint8 head[8];
		size_t got = 0;
		int32 corr;

		if (!r->ready)
			break;
		for (int i = 0; i < r->niov; i++)
		{
			size_t take = Min(r->iov[i].iov_len, sizeof(head) - got);

			memcpy(head + got, r->iov[i].iov_base, take);
			got += take;
			total += r->iov[i].iov_len;
			/* every byte must be readable: ASan checks */
			if (r->iov[i].iov_len > 0)
			{
				volatile uint8 x = ((uint8 *) r->iov[i].iov_base)[r->iov[i].iov_len - 1];

				(void) x;
			}
		}
		if (total < 8)
			fail("a response frame shorter than size and correlation id", c);
		if ((size_t) kafka_load_be32(head) != total - 4)
			fail("a response frame whose size prefix is not its length", c);
		corr = (int32) kafka_load_be32(head + 4);
		while (c->next_expected < c->nexpected && c->may_skip[c->next_expected])
			c->next_expected++;
		if (c->next_expected < c->nexpected)
		{
			if (c->expected[c->next_expected] != corr)
				fail("a response out of request order (or for no request)", c);
			c->next_expected++;
		}
		dlist_pop_head_node(&c->responses);
		for (int i = 0; i < r->nowned; i++)
			pfree(r->owned[i]);
		if (r->owned != &r->owned_one)
			pfree(r->owned);
		if (r->iov != &r->one)
			pfree(r->iov);
		pfree(r);
	}
}

const char *
nagare_conn_peer(NagareConn *conn)
{
	return "fuzz:1";
}

MemoryContext
nagare_conn_context(NagareConn *conn)
{
	return conn->cxt;
}

NagareResponse *
nagare_conn_new_response(NagareConn *conn)
{
	NagareResponse *r = MemoryContextAllocZero(conn->cxt, sizeof(NagareResponse));

	r->conn = conn;
	dlist_push_tail(&conn->responses, &r->node);
	conn->ndeferred++;
	return r;
}

void
nagare_conn_response_ready(NagareResponse *resp, char *data, size_t len)
{
	resp->one.iov_base = data;
	resp->one.iov_len = len;
	resp->owned_one = data;
	nagare_conn_response_ready_iov(resp, &resp->one, 1, &resp->owned_one, 1);
}

void
nagare_conn_response_ready_iov(NagareResponse *resp, struct iovec *iov, int niov,
							   void **owned, int nowned)
{
	if (resp->ready)
		fail("a response made ready twice", resp->conn);
	resp->iov = iov;
	resp->niov = niov;
	resp->owned = owned;
	resp->nowned = nowned;
	resp->ready = true;
	resp->conn->ndeferred--;
	send_ready(resp->conn);
}

void
nagare_conn_response_drop(NagareResponse *resp)
{
	if (!resp->conn->closing || resp->ready)
		fail("a response dropped on an open connection, or after it was ready", resp->conn);
	resp->conn->ndeferred--;
}

bool
nagare_conn_closing(NagareConn *conn)
{
	return conn->closing;
}

void
nagare_conn_hold(NagareConn *conn)
{
	conn->holds++;
}

void
nagare_conn_release(NagareConn *conn)
{
	if (conn->holds <= 0)
		fail("nagare_conn_release without a hold", conn);
	conn->holds--;
	send_ready(conn);
}

void
nagare_conn_pin(NagareConn *conn)
{
	conn->pins++;
}

void
nagare_conn_unpin(NagareConn *conn)
{
	if (conn->pins <= 0)
		fail("nagare_conn_unpin without a pin", conn);
	conn->pins--;
}

void
nagare_conn_close(NagareConn *conn, const char *reason)
{
	conn->closing = true;
}

NagareSecurityProtocol
nagare_conn_security(NagareConn *conn)
{
	return conn->sec;
}

NagareIdentity *
nagare_conn_identity(NagareConn *conn)
{
	return &conn->identity;
}

void
nagare_conn_advertised_address(NagareConn *conn, char *host, size_t hostlen, int32 *port)
{
	strlcpy(host, "localhost", hostlen);
	*port = 9092;
}

/* -------------------------------------------------------------- the loop */

#include "broker/admin.h"
#include "broker/fetch.h"
#include "broker/group.h"
#include "broker/group_internal.h"
#include "broker/produce.h"
#include "logstore/producerstate.h"
#include "broker/sasl_server.h"

/* one turn of broker.c's loop, as far as the handlers go */
void
fake_loop_turn(void)
{
	nagare_produce_turn();
	nagare_produce_advance(ring_pos, ring_pos);
	run_ios();
	answer_requests();
	nagare_fetch_turn(fake_now);
	nagare_admin_turn(fake_now);
	nagare_group_turn(fake_now);
	nagare_sasl_turn(fake_now);
}

/*
 * The input is over: the client hangs up.  Every deferred response must be
 * dropped, and every pin released, within a few turns as the clock moves on
 * past every deadline; then the connection's memory goes.
 */
void
fake_conn_close_and_reap(NagareConn *c)
{
	int turns;

	nagare_conn_close(c, NULL);
	for (turns = 0; turns < 8 && (c->ndeferred > 0 || c->pins > 0 ||
								  !dlist_is_empty(&ios) || !dlist_is_empty(&requests));
		 turns++)
	{
		fake_now += (TimestampTz) 3600 * USECS_PER_SEC;
		fake_loop_turn();
	}
	if (c->ndeferred > 0 || c->pins > 0)
	{
		fprintf(stderr, "fuzz_broker: %d deferred responses, %d pins\n", c->ndeferred,
				c->pins);
		fail("a closed connection still has deferred responses or pins after 8 hours", c);
	}
	if (!dlist_is_empty(&ios))
		fail("I/O left after the loop went idle", c);
	MemoryContextDelete(c->cxt);
}

static bool
all_answered(NagareConn *c, bool report)
{
	for (int i = c->next_expected; i < c->nexpected; i++)
		if (!c->may_skip[i])
		{
			if (report)
				fprintf(stderr,
						"fuzz_broker: request with correlation id %d never answered\n",
						c->expected[i]);
			return false;
		}
	return true;
}

/*
 * The input is over, the connection open: every request handed on must get
 * its answer (but a Produce with acks=0) as the clock moves on, in
 * steps from 100 ms that grow tenfold, up to 25 days in all (longer than
 * any timeout a request can set: INT32_MAX ms).  A full append ring gets
 * room first: a Produce waits for it without a timeout.
 */
void
fake_conn_check_answered(NagareConn *c)
{
	TimestampTz step = 100 * 1000;
	TimestampTz waited = 0;

	config.ring_full = false; /* the writer catches up */
	while (!c->closing && !all_answered(c, false))
	{
		if (waited > (TimestampTz) 25 * 24 * 3600 * USECS_PER_SEC)
		{
			all_answered(c, true);
			abort();
		}
		fake_now += step;
		waited += step;
		fake_loop_turn();
		if (step < (TimestampTz) 24 * 3600 * USECS_PER_SEC)
			step *= 10;
	}
}

/*
 * Between inputs: what the broker keeps beyond a connection goes, so that
 * each input meets nearly the same broker and memory stays bounded.  The
 * clock moves on 25 hours, so that every member's session and every
 * producer state (a day) expires in the broker's own turns; then the empty
 * groups are dropped as DeleteGroups drops them (nothing else ever does).
 * The clock never goes back (the broker keeps timers in statics): 10
 * million inputs move it on some 30,000 years, far from TimestampTz's end.
 * What stays: the topics, the partition store (bounded), the groups loop's
 * "loaded" flag and the producer ids handed out.
 */
void
fake_broker_end_input(void)
{
	HASH_SEQ_STATUS status;
	Group *g;

	fake_now += (TimestampTz) 25 * 3600 * USECS_PER_SEC;
	fake_loop_turn();
	fake_loop_turn();
	nagare_producers_expire();
	hash_seq_init(&status, nagare_group_table());
	while ((g = hash_seq_search(&status)) != NULL)
		if (g->nmembers == 0 && dlist_is_empty(&g->pending))
		{
			MemoryContextDelete(g->cxt);
			hash_search(nagare_group_table(), g->name, HASH_REMOVE, NULL);
		}
	fake_hash_free_removed();
}

void
fake_broker_init(void)
{
	HASHCTL info;

	fake_pg_init();
	nagare_shared = MemoryContextAllocZero(TopMemoryContext, sizeof(NagareShared));
	pg_atomic_init_u64(&nagare_shared->topic_table_version, 1);
	pg_atomic_init_u64(&nagare_shared->catalog_generation, 1);

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(int32);
	info.entrysize = sizeof(NagareTopic);
	nagare_topic_hash = hash_create("topics", 64, &info, HASH_ELEM | HASH_BLOBS);
	info.keysize = sizeof(NagarePartitionKey);
	info.entrysize = sizeof(NagarePartition);
	nagare_partition_hash =
		hash_create("partitions", 64, &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	info.entrysize = sizeof(FakeLog);
	log_hash = hash_create("logs", 64, &info, HASH_ELEM | HASH_BLOBS);

	add_topic(1, "fuzz", 1, false);
	add_topic(2, "fuzz3", 3, false);
	add_topic(3, "t", 2, true);

	nagare_acls = MemoryContextAllocZero(TopMemoryContext,
										 offsetof(NagareAclShared, entries) +
											 sizeof(NagareAclEntry) * nagare_max_acls);
	nagare_acls->loaded = true;
	nagare_acls->max = nagare_max_acls;
	memcpy(nagare_acls->entries, fake_acls, sizeof(fake_acls));
	nagare_quotas =
		MemoryContextAllocZero(TopMemoryContext,
							   offsetof(NagareQuotaShared, entries) +
								   sizeof(NagareQuotaEntry) * nagare_max_quotas);
	nagare_quotas->loaded = true;
	nagare_quotas->max = nagare_max_quotas;
	nagare_groups = MemoryContextAllocZero(TopMemoryContext, sizeof(NagareGroupShared));

	config.allow_everyone = NAGARE_ALLOW_EVERYONE_AUTO;
}

/* ------------------------------------------------- net.c and segment.c */

/* bad clients' LOG lines: the fuzzer's inputs are all bad, so none */
bool
nagare_net_log_due(void)
{
	return false;
}

int
nagare_net_log_skipped_detail(void)
{
	return 0;
}

/* the disk is never full here */
int
nagare_log_storage_errno(void)
{
	return 0;
}
