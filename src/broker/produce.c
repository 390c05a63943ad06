/*-------------------------------------------------------------------------
 *
 * produce.c
 *	  Kafka Produce requests.
 *
 * A produced batch takes the same path as a batch sent from SQL: it is
 * copied into the append ring under insert_lock, which gives it its offsets,
 * and the broker writes it to its segment with everything else in ring
 * order.  So one mechanism orders, writes, fsyncs and recovers every record,
 * whoever produced it: after a crash of the broker alone the ring is
 * replayed, and an acknowledged batch is never lost.
 *
 * Produce v13 (KIP-516) names each topic by its id, resolved through the
 * broker's topic map: an id no topic has, or one of a topic the principal
 * may not DESCRIBE, is UNKNOWN_TOPIC_ID (as in Fetch v13+); then WRITE is
 * checked on the topic's name as for a name.  v10-12 change nothing nagare
 * answers: the KIP-951 CurrentLeader and NodeEndpoints tagged fields go
 * only with NOT_LEADER_OR_FOLLOWER, which one node never answers, and v12
 * (KIP-890 part 2) only concerns transactional producers, which still get
 * TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
 *
 * Produce v0-2 carry legacy message sets (magic 0 and 1): they are checked
 * and up-converted to one RecordBatch v2 (kafka/legacy.h), as a Kafka broker
 * whose log format is v2 does, and then treated like any other batch.
 *
 * Validation (Kafka's LogValidator): every batch of a partition must be a
 * magic 2 batch with a good CRC-32C, LastOffsetDelta = RecordsCount - 1,
 * well-formed records (decompressed to check them), at most the topic's
 * max.message.bytes, and neither transactional nor a control batch
 * (transactions are not supported).  A partition with a bad batch gets an
 * error and none of its batches is appended; the other partitions of the
 * request are not affected.  Only BaseOffset and PartitionLeaderEpoch are
 * rewritten (the CRC does not cover them); the bytes are stored verbatim.
 *
 * Acknowledgement: acks=0 gets no response; acks=1 when the batches are
 * written to their segments (Kafka: appended to the leader's log); acks=-1
 * (all) when they are also fdatasynced, by a group fsync round shared with
 * every other waiter (fsyncs are not per request).
 *
 * The loop never waits: the ring is entered with a conditional lock, and a
 * request that does not fit (ring full, lock busy) waits in a queue, its
 * batches copied, holding back its connection's later requests so that they
 * take effect in order.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/ilist.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "broker/acl_api.h"
#include "broker/kafka_api.h"
#include "broker/meter.h"
#include "broker/produce.h"
#include "broker/producers.h"
#include "broker/throttle.h"
#include "broker/topicmap.h"
#include "kafka/legacy.h"
#include "kafka/record.h"
#include "logstore/segment.h"
#include "queue/queue.h"

typedef struct PendingProduce
{
	dlist_node	node;			/* in inserting, written_waiters or durable_waiters */
	NagareConn *conn;
	NagareResponse *resp;		/* NULL for acks=0 */
	NagareRequestId id;
	TimestampTz received; /* when the request arrived (its latency SLI) */
	int16		acks;
	KafkaProduceResponse body;	/* in the connection's memory */
	NagareAppend *appends;
	int			nappends;
	int			next;			/* first append not yet in the ring */
	KafkaPartitionProduceResponse **append_part;	/* per append: its partition */
	bool		copied;			/* batches copied out of the receive buffer */
	bool		pinned;			/* acks=0: the connection is pinned */
	uint64		end_pos;		/* ring position after the last append */
} PendingProduce;

/* waiting for room in the ring, in arrival order */
static dlist_head inserting = DLIST_STATIC_INIT(inserting);
/* appended, waiting for "written" / "durable" to pass end_pos (in order) */
static dlist_head written_waiters = DLIST_STATIC_INIT(written_waiters);
static dlist_head durable_waiters = DLIST_STATIC_INIT(durable_waiters);

/* How a codec error maps to Kafka's error codes */
static int16
batch_error(int err)
{
	switch (err)
	{
		case KAFKA_ERR_MAGIC:
			return KAFKA_ERROR_UNSUPPORTED_FOR_MESSAGE_FORMAT;
		case KAFKA_ERR_TOO_LARGE:
			return KAFKA_ERROR_MESSAGE_TOO_LARGE;
		case KAFKA_ERR_UNSUPPORTED:
			return KAFKA_ERROR_UNSUPPORTED_COMPRESSION_TYPE;
		case KAFKA_ERR_NOMEM:
			return KAFKA_ERROR_UNKNOWN_SERVER_ERROR;
		default:
			return KAFKA_ERROR_CORRUPT_MESSAGE;
	}
}

/*
 * Validate the batches of one partition's records and add them to *pp's
 * appends.  Returns a Kafka error code (appending nothing) or NONE.
 */
static int16
take_partition(PendingProduce *pp, const BrokerTopic *t, KafkaPartitionProduceData *pd,
			   KafkaPartitionProduceResponse *pr, int *maxappends, const char **message,
			   int16 version)
{
	NagarePartition *part;
	uint64		incarnation;
	const uint8 *p = pd->Records.ptr;
	size_t		left = pd->Records.len > 0 ? (size_t) pd->Records.len : 0;
	int			first = pp->nappends;
	size_t		ring_max = nagare_queue_max_batch();
	KafkaBatchHeader hbuf[4];
	KafkaBatchHeader *hs = hbuf;
	int			nh = 0;
	int			maxh = lengthof(hbuf);
	bool		idempotent = false;

	if (pd->Index < 0 || pd->Index >= t->partitions)
		return KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
	if (nagare_log_storage_errno() != 0)
	{
		/* disk full: the broker's writes fail and are being retried */
		*message = "no space left for the log (pg_nagare)";
		return KAFKA_ERROR_KAFKA_STORAGE_ERROR;
	}
	if (left == 0)
	{
		*message = "a produce request must carry at least one record batch";
		return KAFKA_ERROR_INVALID_RECORD;
	}
	if (version < 3)
	{
		/* a legacy message set (magic 0 or 1): up-convert it, as Kafka */
		uint8	   *batch;
		size_t		batch_len;
		int32		count;
		int64		maxts;
		int			err = kafka_legacy_to_batch(p, left, nagare_request_allocator(),
												KAFKA_PRODUCE_MAX_DECOMPRESSED(left),
												&batch, &batch_len, &count, &maxts);

		switch (err)
		{
			case KAFKA_OK:
				p = batch;
				left = batch_len;
				break;
			case KAFKA_ERR_MAGIC:
				break;			/* record batches v2: checked below */
			case KAFKA_ERR_RECORD:
				*message = "invalid message set";
				return KAFKA_ERROR_INVALID_RECORD;
			default:
				return batch_error(err);
		}
	}

	while (left > 0)
	{
		size_t		size;
		KafkaBatchHeader h;
		int			err;

		err = kafka_batch_size(p, left, &size);
		if (err == KAFKA_OK)
			err = kafka_batch_validate_records(p, size, KAFKA_PRODUCE_MAX_DECOMPRESSED(size),
											   nagare_request_allocator(), &h);
		if (err != KAFKA_OK)
		{
			pp->nappends = first;
			return batch_error(err);
		}
		if (kafka_batch_is_transactional(&h) || kafka_batch_is_control(&h))
		{
			pp->nappends = first;
			*message = "transactional and control batches are not supported";
			return KAFKA_ERROR_INVALID_RECORD;
		}
		if ((int64) size > t->config.max_message_bytes || size > ring_max)
		{
			pp->nappends = first;
			*message = size > ring_max ?
				"record batch larger than a quarter of nagare.queue_size" :
				"record batch larger than max.message.bytes";
			return KAFKA_ERROR_MESSAGE_TOO_LARGE;
		}
		if (pp->nappends == *maxappends)
		{
			*maxappends *= 2;
			pp->appends = repalloc(pp->appends, sizeof(NagareAppend) * *maxappends);
			pp->append_part = repalloc(pp->append_part,
									   sizeof(KafkaPartitionProduceResponse *) * *maxappends);
		}
		/* the headers, for the producer checks below */
		if (nh == maxh)
		{
			KafkaBatchHeader *more = palloc(sizeof(KafkaBatchHeader) * maxh * 2);

			memcpy(more, hs, sizeof(KafkaBatchHeader) * nh);
			hs = more;
			maxh *= 2;
		}
		hs[nh++] = h;
		if (h.ProducerId >= 0)
			idempotent = true;
		pp->appends[pp->nappends].batch = (const char *) p;
		pp->appends[pp->nappends].batch_len = (int32) size;
		pp->appends[pp->nappends].record_count = h.LastOffsetDelta + 1;
		pp->appends[pp->nappends].max_timestamp = h.MaxTimestamp;
		pp->append_part[pp->nappends] = pr;
		pp->nappends++;
		p += size;
		left -= size;
	}

	if (idempotent)
	{
		int64		dup_offset;
		int16		err = nagare_producer_check(t->topic_id, pd->Index, hs, nh, &dup_offset);

		if (err == KAFKA_ERROR_DUPLICATE_SEQUENCE_NUMBER && dup_offset >= 0)
		{
			/* a retry of a batch already written: its offset, nothing new */
			NagarePartition *dp = nagare_broker_partition(t, pd->Index, false, &incarnation);

			pp->nappends = first;
			pr->BaseOffset = dup_offset;
			pr->LogStartOffset = dp ? (int64) pg_atomic_read_u64(&dp->log_start_offset) : 0;
			return KAFKA_ERROR_NONE;
		}
		if (err != KAFKA_ERROR_NONE)
		{
			pp->nappends = first;
			return err;
		}
	}

	part = nagare_broker_partition(t, pd->Index, true, &incarnation);
	if (part == NULL)
	{
		pp->nappends = first;
		*message = "no room for another partition (nagare.max_partitions)";
		return KAFKA_ERROR_KAFKA_STORAGE_ERROR;
	}
	for (int i = first; i < pp->nappends; i++)
	{
		pp->appends[i].part = part;
		pp->appends[i].incarnation = incarnation;
	}
	return KAFKA_ERROR_NONE;
}

static void
finish(PendingProduce *pp)
{
	if (pp->resp != NULL)
	{
		nagare_meter_produce_done(pp->conn, &pp->body, pp->received); /* SLIs */
		nagare_kafka_response_ready(pp->resp, pp->id, &pp->body, NULL);
	}
	if (pp->pinned)
		nagare_conn_unpin(pp->conn);
	/* the rest lives in the connection's memory; free the big parts */
	if (pp->copied)
		for (int i = 0; i < pp->nappends; i++)
			pfree((void *) pp->appends[i].batch);
	pfree(pp->appends);
	pfree(pp->append_part);
	pfree(pp);
}

/* The appends are in the ring: wait for what acks asks */
static void
appended(PendingProduce *pp)
{
	int			i;

	for (i = 0; i < pp->nappends; i++)
	{
		KafkaPartitionProduceResponse *pr = pp->append_part[i];
		NagareAppend *a = &pp->appends[i];

		if (a->base_offset < 0)
			pr->ErrorCode = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;	/* deleted */
		else if (pr->BaseOffset < 0)
		{
			pr->BaseOffset = a->base_offset;
			pr->LogStartOffset = (int64) pg_atomic_read_u64(&a->part->log_start_offset);
		}
	}
	if (pp->acks == 0 || pp->nappends == 0)
		finish(pp);
	else if (pp->acks == 1)
		dlist_push_tail(&written_waiters, &pp->node);
	else
		dlist_push_tail(&durable_waiters, &pp->node);
}

/*
 * Enter the remaining appends into the ring.  Returns true when all are in.
 */
static bool
try_insert(PendingProduce *pp)
{
	while (pp->next < pp->nappends)
	{
		int			n = nagare_queue_try_append(&pp->appends[pp->next],
												pp->nappends - pp->next, &pp->end_pos);

		if (n == 0)
			return false;
		pp->next += n;
	}
	return true;
}

/* Copy the batches out of the receive buffer, which is about to be reused */
static void
copy_batches(PendingProduce *pp)
{
	MemoryContext cxt = nagare_conn_context(pp->conn);
	int			i;

	for (i = 0; i < pp->nappends; i++)
	{
		char	   *copy = MemoryContextAlloc(cxt, pp->appends[i].batch_len);

		memcpy(copy, pp->appends[i].batch, pp->appends[i].batch_len);
		pp->appends[i].batch = copy;
	}
	pp->copied = true;
}

void
nagare_handle_produce(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaProduceRequest *req = &body->Produce;
	MemoryContext cxt = nagare_conn_context(conn);
	PendingProduce *pp;
	int			maxappends = 8;
	int			t;
	int16		request_error = KAFKA_ERROR_NONE;
	const char *request_message = NULL;

	pp = MemoryContextAllocZero(cxt, sizeof(PendingProduce));
	pp->conn = conn;
	pp->id = nagare_request_id(hdr);
	pp->received = GetCurrentTimestamp();
	pp->acks = req->Acks;
	pp->appends = MemoryContextAlloc(cxt, sizeof(NagareAppend) * maxappends);
	pp->append_part = MemoryContextAlloc(cxt, sizeof(KafkaPartitionProduceResponse *) * maxappends);

	if (req->Acks != 0 && req->Acks != 1 && req->Acks != -1)
		request_error = KAFKA_ERROR_INVALID_REQUIRED_ACKS;
	else if (req->TransactionalId.len >= 0)
	{
		request_error = KAFKA_ERROR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
		request_message = "transactions are not supported";
	}

	/* the response skeleton, in the connection's memory: it outlives the request */
	pp->body.ResponsesCount = req->TopicDataCount;
	pp->body.Responses = MemoryContextAllocZero(cxt, sizeof(KafkaTopicProduceResponse) *
												Max(req->TopicDataCount, 1));
	for (t = 0; t < req->TopicDataCount; t++)
	{
		KafkaTopicProduceData *td = &req->TopicData[t];
		KafkaTopicProduceResponse *tr = &pp->body.Responses[t];
		const BrokerTopic *topic = NULL;
		KafkaStr	name = td->Name;
		bool		unknown_id = false;
		bool		denied;
		int			p;

		if (hdr->RequestApiVersion >= 13)
		{
			/* by id (v13+): unknown, or not to be known by this client */
			topic = nagare_described_topic_by_id(conn, &td->TopicId);
			unknown_id = topic == NULL;
			name = kafka_str(topic ? topic->name : "");
			tr->TopicId = td->TopicId;
		}
		tr->Name = nagare_kstr_copy(cxt, name);
		tr->PartitionResponsesCount = td->PartitionDataCount;
		tr->PartitionResponses = MemoryContextAllocZero(cxt, sizeof(KafkaPartitionProduceResponse) *
														Max(td->PartitionDataCount, 1));
		/* authorized before its existence is revealed */
		denied = request_error == KAFKA_ERROR_NONE && !unknown_id &&
			!nagare_authorized_topic(conn, name, KAFKA_ACL_WRITE);
		if (request_error != KAFKA_ERROR_NONE || denied)
			topic = NULL;
		else if (hdr->RequestApiVersion < 13)
			topic = nagare_broker_topic(name.ptr, name.len);

		for (p = 0; p < td->PartitionDataCount; p++)
		{
			KafkaPartitionProduceData *pd = &td->PartitionData[p];
			KafkaPartitionProduceResponse *pr = &tr->PartitionResponses[p];
			const char *message = NULL;

			pr->Index = pd->Index;
			pr->BaseOffset = -1;
			pr->LogAppendTimeMs = -1;
			pr->LogStartOffset = -1;
			pr->ErrorMessage = kafka_str(NULL);
			if (request_error != KAFKA_ERROR_NONE)
			{
				pr->ErrorCode = request_error;
				message = request_message;
			}
			else if (unknown_id)
				pr->ErrorCode = KAFKA_ERROR_UNKNOWN_TOPIC_ID;
			else if (denied)
				pr->ErrorCode = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
			else if (topic == NULL)
				pr->ErrorCode = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
			else
				pr->ErrorCode = take_partition(pp, topic, pd, pr, &maxappends, &message,
											   hdr->RequestApiVersion);
			if (message != NULL)
				pr->ErrorMessage = kafka_str(message);	/* static strings */
		}
	}

	nagare_meter_produced(conn, pp->appends, pp->nappends);	/* usage: records in */

	if (req->Acks != 0)
		pp->resp = nagare_conn_new_response(conn);
	else
	{
		nagare_conn_pin(conn);
		pp->pinned = true;
	}
	/* producer_byte_rate: the request's size (acks=0 too: then only muted) */
	nagare_throttle_produce(conn, pp->resp);

	if (dlist_is_empty(&inserting) && try_insert(pp))
	{
		appended(pp);
		return;
	}

	/* wait for room, behind any produce already waiting; later requests too */
	copy_batches(pp);
	nagare_conn_hold(conn);
	dlist_push_tail(&inserting, &pp->node);
}

/*
 * Each loop turn: retry the produce requests waiting for room in the ring,
 * in order; the first that still does not fit keeps the rest waiting.
 * Requests of closed connections are dropped (never acknowledged).
 */
void
nagare_produce_turn(void)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &inserting)
	{
		PendingProduce *pp = dlist_container(PendingProduce, node, iter.cur);

		if (nagare_conn_closing(pp->conn))
		{
			dlist_delete(&pp->node);
			if (pp->resp)
				nagare_conn_response_drop(pp->resp);
			pp->resp = NULL;
			nagare_conn_release(pp->conn);
			finish(pp);
			continue;
		}
		if (!try_insert(pp))
			break;
		dlist_delete(&pp->node);
		nagare_conn_release(pp->conn);
		appended(pp);
	}
}

/*
 * The ring is written up to tail and durable up to durable: answer the
 * requests they cover.
 */
void
nagare_produce_advance(uint64 tail, uint64 durable)
{
	while (!dlist_is_empty(&written_waiters))
	{
		PendingProduce *pp = dlist_head_element(PendingProduce, node, &written_waiters);

		if (pp->end_pos > tail)
			break;
		dlist_pop_head_node(&written_waiters);
		finish(pp);
	}
	while (!dlist_is_empty(&durable_waiters))
	{
		PendingProduce *pp = dlist_head_element(PendingProduce, node, &durable_waiters);

		if (pp->end_pos > durable)
			break;
		dlist_pop_head_node(&durable_waiters);
		finish(pp);
	}
}

/* Does an acks=all request wait for records that are written (so a sync round can cover them)? */
bool
nagare_produce_needs_sync(uint64 tail)
{
	if (dlist_is_empty(&durable_waiters))
		return false;
	return dlist_head_element(PendingProduce, node, &durable_waiters)->end_pos <= tail;
}

/* Is a produce request waiting for room in the ring? (the loop must not sleep long) */
bool
nagare_produce_waiting(void)
{
	return !dlist_is_empty(&inserting);
}
