/*-------------------------------------------------------------------------
 *
 * producers.c
 *	  Idempotent producers: producer ids, and the sequence checks that keep
 *	  a retried batch from being written twice.
 *
 * DescribeProducers lists the producers the sequence checks know of on a
 * partition (kafka-transactions.sh describe-producers).
 *
 * InitProducerId (without a transactional id) hands out a new producer id
 * with epoch 0.  Ids come from blocks of 1000 whose end is written to
 * pg_nagare/producer_ids (durably, before any id of the block is used), so
 * no id is handed out twice, across restarts and crashes.
 *
 * A produced batch with a producer id is checked, against the state the log
 * keeps of the producer's last five batches on the partition
 * (logstore/producerstate.c), before it enters the append ring:
 *
 *	- an epoch older than the producer's: INVALID_PRODUCER_EPOCH;
 *	- one of the last five batches again (same epoch and sequences): it is
 *	  not written, and the answer is the original batch's offset (or
 *	  DUPLICATE_SEQUENCE_NUMBER while that offset is not known yet);
 *	- the next sequence (last + 1, wrapping after INT32_MAX), or sequence 0
 *	  with a newer epoch: accepted;
 *	- anything else: OUT_OF_ORDER_SEQUENCE_NUMBER, or UNKNOWN_PRODUCER_ID
 *	  for a producer the partition has no state of, whose sequence is not 0.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/file_perm.h"
#include "utils/timestamp.h"

#include "acl/acl.h"
#include "broker/acl_api.h"
#include "broker/kafka_api.h"
#include "broker/producers.h"
#include "broker/topicmap.h"
#include "kafka/record.h"
#include "logstore/producerstate.h"
#include "logstore/segment.h"
#include "nagare.h"

#define PRODUCER_ID_BLOCK		1000
#define PRODUCER_IDS_FILE		NAGARE_DIR "/producer_ids"
#define PRODUCER_IDS_MAGIC		0x4E475049	/* "NGPI" */

static int64 next_pid = 0;
static int64 block_end = 0;

static bool
in_sequence(int32 last, int32 next)
{
	return next == (last == PG_INT32_MAX ? 0 : last + 1);
}

/*---- producer ids ----*/

static void
load_ids(void)
{
	void	   *data;
	uint32		len;
	const char *reason;

	switch (nagare_checked_file_read(PRODUCER_IDS_FILE, PRODUCER_IDS_MAGIC, 1, &data, &len, &reason))
	{
		case NAGARE_META_OK:
			if (len == sizeof(int64))
			{
				memcpy(&next_pid, data, sizeof(int64));
				block_end = next_pid;	/* the next id writes a new block */
				pfree(data);
				return;
			}
			reason = "wrong length";
			/* FALLTHROUGH */
		case NAGARE_META_CORRUPT:
			/* ids may have been handed out up to anywhere: start far above */
			ereport(LOG,
					(errmsg("nagare broker: \"%s\" is corrupt (%s); producer ids start at a new range",
							PRODUCER_IDS_FILE, reason)));
			next_pid = block_end = (int64) (GetCurrentTimestamp() & INT64CONST(0x3fffffffffff)) * 1000;
			return;
		case NAGARE_META_MISSING:
			next_pid = block_end = 0;
			return;
	}
}

static int64
new_producer_id(void)
{
	if (next_pid >= block_end)
	{
		int64		end = next_pid + PRODUCER_ID_BLOCK;

		if (pg_mkdir_p(NAGARE_DIR, pg_dir_create_mode) != 0 && errno != EEXIST)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not create directory \"%s\": %m", NAGARE_DIR)));
		nagare_checked_file_write(PRODUCER_IDS_FILE, PRODUCER_IDS_MAGIC, 1, &end, sizeof(end));
		block_end = end;
	}
	return next_pid++;
}

void
nagare_handle_init_producer_id(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaInitProducerIdRequest *req = &body->InitProducerId;
	KafkaInitProducerIdResponse resp;

	memset(&resp, 0, sizeof(resp));
	resp.ProducerId = -1;
	resp.ProducerEpoch = -1;
	if (req->TransactionalId.len >= 0)
		resp.ErrorCode = KAFKA_ERROR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;	/* no transactions */
	else if (!nagare_authorized_quiet(conn, KAFKA_RESOURCE_CLUSTER, NAGARE_ACL_CLUSTER_NAME,
									  strlen(NAGARE_ACL_CLUSTER_NAME), KAFKA_ACL_IDEMPOTENT_WRITE) &&
			 !nagare_authorized_any_topic(conn, KAFKA_ACL_WRITE))
	{
		/* Kafka: IDEMPOTENT_WRITE on the CLUSTER or WRITE on any TOPIC */
		nagare_authorized_cluster(conn, KAFKA_ACL_IDEMPOTENT_WRITE);	/* counts the denial */
		resp.ErrorCode = KAFKA_ERROR_CLUSTER_AUTHORIZATION_FAILED;
	}
	else
	{
		/*
		 * As Kafka: an idempotent producer always gets a new id, also when
		 * it asks to bump the epoch of its current one (KIP-360).
		 */
		resp.ProducerId = new_producer_id();
		resp.ProducerEpoch = 0;
	}
	nagare_kafka_respond(conn, hdr, &resp);
}

/*
 * DescribeProducers (what `kafka-transactions.sh describe-producers`
 * asks): the idempotent producers with state on each partition, as the
 * sequence checks below see them: id, epoch, the last sequence and when
 * its batch came (Unix ms); no transactions, so coordinator epoch and
 * transaction start offset -1.  READ on the topic, asked before its
 * existence is revealed (TOPIC_AUTHORIZATION_FAILED), as in Kafka;
 * UNKNOWN_TOPIC_OR_PARTITION for a topic or partition that does not exist.
 */
#define DESCRIBE_PRODUCERS_MAX 1024 /* per partition */

void
nagare_handle_describe_producers(NagareConn *conn, const KafkaRequestHeader *hdr,
								 KafkaRequestBody *body)
{
	KafkaDescribeProducersRequest *req = &body->DescribeProducers;
	KafkaDescribeProducersResponse resp;
	const ProducerState **states =
		nagare_request_palloc(sizeof(ProducerState *) * DESCRIBE_PRODUCERS_MAX);
	int t;

	memset(&resp, 0, sizeof(resp));
	resp.Topics = nagare_request_palloc(sizeof(KafkaDescribeProducersTopicResponse) *
										Max(req->TopicsCount, 1));
	if (states == NULL || resp.Topics == NULL)
	{
		nagare_request_out_of_memory(conn, hdr->RequestApiKey, hdr->RequestApiVersion);
		return;
	}
	resp.TopicsCount = req->TopicsCount;
	for (t = 0; t < req->TopicsCount; t++)
	{
		KafkaDescribeProducersTopic *rq = &req->Topics[t];
		KafkaDescribeProducersTopicResponse *rt = &resp.Topics[t];
		bool denied = !nagare_authorized_topic(conn, rq->Name, KAFKA_ACL_READ);
		const BrokerTopic *topic =
			denied ? NULL : nagare_broker_topic(rq->Name.ptr, rq->Name.len);
		int p;

		rt->Name = rq->Name;
		rt->PartitionsCount = Max(rq->PartitionIndexesCount, 0);
		rt->Partitions = nagare_request_palloc(
			sizeof(KafkaDescribeProducersPartitionResponse) * Max(rt->PartitionsCount, 1));
		if (rt->Partitions == NULL)
		{
			nagare_request_out_of_memory(conn, hdr->RequestApiKey, hdr->RequestApiVersion);
			return;
		}
		for (p = 0; p < rt->PartitionsCount; p++)
		{
			KafkaDescribeProducersPartitionResponse *rp = &rt->Partitions[p];
			int32 index = rq->PartitionIndexes[p];
			int n;
			int i;

			memset(rp, 0, sizeof(*rp));
			rp->PartitionIndex = index;
			rp->ErrorMessage = kafka_str(NULL);
			if (denied)
			{
				rp->ErrorCode = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
				continue;
			}
			if (topic == NULL || index < 0 || index >= topic->partitions)
			{
				rp->ErrorCode = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
				continue;
			}
			n = Min(nagare_producer_states_of(topic->topic_id, index, states,
											  DESCRIBE_PRODUCERS_MAX),
					DESCRIBE_PRODUCERS_MAX);
			rp->ActiveProducers = nagare_request_palloc(
				sizeof(KafkaDescribeProducersProducerState) * Max(n, 1));
			if (rp->ActiveProducers == NULL)
			{
				nagare_request_out_of_memory(conn, hdr->RequestApiKey,
											 hdr->RequestApiVersion);
				return;
			}
			for (i = 0; i < n; i++)
			{
				const ProducerState *st = states[i];
				KafkaDescribeProducersProducerState *ap =
					&rp->ActiveProducers[rp->ActiveProducersCount];

				if (st->nbatches == 0)
					continue; /* created, never written */
				ap->ProducerId = st->key.pid;
				ap->ProducerEpoch = st->epoch;
				ap->LastSequence = st->batches[st->nbatches - 1].last_seq;
				/* PostgreSQL's epoch (2000-01-01) to Unix ms */
				ap->LastTimestamp = st->last_used_pg_ms +
									(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) *
										SECS_PER_DAY * 1000;
				ap->CoordinatorEpoch = -1;
				ap->CurrentTxnStartOffset = -1;
				rp->ActiveProducersCount++;
			}
		}
	}
	nagare_kafka_respond(conn, hdr, &resp);
}

/*---- sequence checks ----*/

/*
 * Check the idempotent batches of one partition's produce (all with the
 * same producer id) and, if they are acceptable, record them.  Returns a
 * Kafka error, KAFKA_ERROR_NONE, or KAFKA_ERROR_DUPLICATE_SEQUENCE_NUMBER
 * for a single batch already written (then *dup_offset is its first
 * offset, or -1 if not known yet).
 */
int16
nagare_producer_check(int32 topic_id, int32 partition, const KafkaBatchHeader *hs, int n,
					  int64 *dup_offset)
{
	ProducerState *st = nagare_producer_state_lookup(topic_id, partition, hs[0].ProducerId, false);
	int16		epoch = st ? st->epoch : -1;
	bool		have = (st != NULL && st->nbatches > 0);
	int32		last = have ? st->batches[st->nbatches - 1].last_seq : -1;
	int			i;

	*dup_offset = -1;
	for (i = 0; i < n; i++)
	{
		const KafkaBatchHeader *h = &hs[i];

		if (h->ProducerId != hs[0].ProducerId || h->ProducerEpoch < 0 || h->BaseSequence < 0)
			return KAFKA_ERROR_INVALID_RECORD;
		if (h->ProducerEpoch < epoch)
			return KAFKA_ERROR_INVALID_PRODUCER_EPOCH;
		if (h->ProducerEpoch == epoch && have)
		{
			int			k;

			for (k = 0; i == 0 && k < st->nbatches; k++)
				if (st->batches[k].first_seq == h->BaseSequence &&
					st->batches[k].last_seq == nagare_producer_last_sequence(h))
				{
					if (n > 1)
						return KAFKA_ERROR_OUT_OF_ORDER_SEQUENCE_NUMBER;
					*dup_offset = st->batches[k].first_offset;
					return KAFKA_ERROR_DUPLICATE_SEQUENCE_NUMBER;
				}
			if (!in_sequence(last, h->BaseSequence))
				return KAFKA_ERROR_OUT_OF_ORDER_SEQUENCE_NUMBER;
		}
		else if (h->BaseSequence != 0)
			return epoch >= 0 ? KAFKA_ERROR_OUT_OF_ORDER_SEQUENCE_NUMBER :
				KAFKA_ERROR_UNKNOWN_PRODUCER_ID;
		epoch = h->ProducerEpoch;
		last = nagare_producer_last_sequence(h);
		have = true;
	}
	st = nagare_producer_state_lookup(topic_id, partition, hs[0].ProducerId, true);
	for (i = 0; i < n; i++)
		nagare_producer_state_push(st, hs[i].ProducerEpoch, hs[i].BaseSequence,
								   nagare_producer_last_sequence(&hs[i]), -1);
	return KAFKA_ERROR_NONE;
}

void
nagare_producers_init(void)
{
	load_ids();
}
