/*-------------------------------------------------------------------------
 *
 * producers.c
 *	  Idempotent producers: producer ids, and per-partition sequence checks
 *	  that keep a retried batch from being written twice.
 *
 * InitProducerId (without a transactional id) hands out a new producer id
 * with epoch 0.  Ids come from blocks of 1000 whose end is written to
 * pg_nagare/producer_ids (durably, before any id of the block is used), so
 * no id is handed out twice, across restarts and crashes.
 *
 * For each (producer id, partition) the broker keeps the producer's epoch
 * and its last five batches (first and last sequence number, first offset),
 * as Kafka's ProducerStateManager does.  A produced batch with a producer id
 * is checked before it enters the append ring:
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
 * The state is rebuilt at start.  A clean shutdown writes each partition's
 * state to producer.snapshot in its directory, with the log end offset it
 * describes; at start a snapshot whose offset is the recovered log end is
 * loaded as is.  Otherwise (after a crash) the batch headers of the last two
 * segments are read again, and the batches a previous broker left in the
 * append ring are observed as they are written (nagare_producer_observe()),
 * so a producer that retries across a crash still gets no duplicate.
 * Producers idle for a day (Kafka's producer.id.expiration.ms) are
 * forgotten.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/file_perm.h"
#include "lib/stringinfo.h"
#include "storage/fd.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "broker/kafka_api.h"
#include "broker/producers.h"
#include "kafka/record.h"
#include "logstore/log.h"
#include "logstore/segment.h"
#include "nagare.h"

#define PRODUCER_BATCHES		5
#define PRODUCER_ID_BLOCK		1000
#define PRODUCER_EXPIRATION_MS	(24 * 3600 * 1000)
#define PRODUCER_IDS_FILE		NAGARE_DIR "/producer_ids"
#define PRODUCER_IDS_MAGIC		0x4E475049	/* "NGPI" */
#define SNAPSHOT_FILE			"producer.snapshot"
#define SNAPSHOT_MAGIC			0x4E475053	/* "NGPS" */
#define SNAPSHOT_VERSION		1

typedef struct ProducerKey
{
	int64		pid;
	int32		topic_id;
	int32		partition;
} ProducerKey;

typedef struct ProducerBatch
{
	int32		first_seq;
	int32		last_seq;
	int64		first_offset;	/* -1 until written */
} ProducerBatch;

typedef struct ProducerState
{
	ProducerKey key;			/* hash key */
	int16		epoch;
	int16		nbatches;		/* oldest first */
	ProducerBatch batches[PRODUCER_BATCHES];
	int64		last_used_ms;
} ProducerState;

static HTAB *states = NULL;
static int64 next_pid = 0;
static int64 block_end = 0;

static int64
now_ms(void)
{
	return (int64) (GetCurrentTimestamp() / 1000);
}

static void
ensure_init(void)
{
	HASHCTL		info;

	if (states != NULL)
		return;
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(ProducerKey);
	info.entrysize = sizeof(ProducerState);
	info.hcxt = TopMemoryContext;
	states = hash_create("nagare producers", 1024, &info, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* Sequence number of a batch's last record (they wrap after INT32_MAX) */
static int32
last_sequence(const KafkaBatchHeader *h)
{
	int64		last = (int64) h->BaseSequence + h->LastOffsetDelta;

	return (int32) (last > PG_INT32_MAX ? last - PG_INT32_MAX - 1 : last);
}

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

/*---- sequence checks ----*/

static ProducerState *
lookup(int32 topic_id, int32 partition, int64 pid, bool create)
{
	ProducerKey key;
	bool		found;
	ProducerState *st;

	ensure_init();
	memset(&key, 0, sizeof(key));
	key.pid = pid;
	key.topic_id = topic_id;
	key.partition = partition;
	st = hash_search(states, &key, create ? HASH_ENTER : HASH_FIND, &found);
	if (st != NULL && create && !found)
	{
		st->epoch = -1;
		st->nbatches = 0;
	}
	return st;
}

static void
push_batch(ProducerState *st, int16 epoch, int32 first, int32 last, int64 offset)
{
	if (epoch != st->epoch)
	{
		st->epoch = epoch;
		st->nbatches = 0;
	}
	if (st->nbatches == PRODUCER_BATCHES)
	{
		memmove(&st->batches[0], &st->batches[1], sizeof(ProducerBatch) * (PRODUCER_BATCHES - 1));
		st->nbatches--;
	}
	st->batches[st->nbatches].first_seq = first;
	st->batches[st->nbatches].last_seq = last;
	st->batches[st->nbatches].first_offset = offset;
	st->nbatches++;
	st->last_used_ms = now_ms();
}

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
	ProducerState *st = lookup(topic_id, partition, hs[0].ProducerId, false);
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
					st->batches[k].last_seq == last_sequence(h))
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
		last = last_sequence(h);
		have = true;
	}
	st = lookup(topic_id, partition, hs[0].ProducerId, true);
	for (i = 0; i < n; i++)
		push_batch(st, hs[i].ProducerEpoch, hs[i].BaseSequence, last_sequence(&hs[i]), -1);
	return KAFKA_ERROR_NONE;
}

/*
 * A batch with a producer id is in the log at base_offset: fill in its
 * offset, or record it if it is not known (a batch a previous broker left
 * in the ring, or one read at recovery).  Idempotent.
 */
void
nagare_producer_observe(int32 topic_id, int32 partition, const KafkaBatchHeader *h, int64 base_offset)
{
	ProducerState *st;
	int32		lastseq;
	int			k;

	if (h->ProducerId < 0 || h->BaseSequence < 0)
		return;
	st = lookup(topic_id, partition, h->ProducerId, true);
	lastseq = last_sequence(h);
	if (st->epoch == h->ProducerEpoch)
		for (k = 0; k < st->nbatches; k++)
			if (st->batches[k].first_seq == h->BaseSequence && st->batches[k].last_seq == lastseq)
			{
				st->batches[k].first_offset = base_offset;
				return;
			}
	if (h->ProducerEpoch < st->epoch)
		return;
	push_batch(st, h->ProducerEpoch, h->BaseSequence, lastseq, base_offset);
}

/* Forget the producers of a partition (its topic was deleted) */
void
nagare_producers_forget(int32 topic_id, int32 partition)
{
	HASH_SEQ_STATUS status;
	ProducerState *st;

	if (states == NULL)
		return;
	hash_seq_init(&status, states);
	while ((st = hash_seq_search(&status)) != NULL)
		if (st->key.topic_id == topic_id && st->key.partition == partition)
			hash_search(states, &st->key, HASH_REMOVE, NULL);
}

/* Forget producers idle longer than a day */
void
nagare_producers_expire(void)
{
	HASH_SEQ_STATUS status;
	ProducerState *st;
	int64		cutoff = now_ms() - PRODUCER_EXPIRATION_MS;

	if (states == NULL)
		return;
	hash_seq_init(&status, states);
	while ((st = hash_seq_search(&status)) != NULL)
		if (st->last_used_ms < cutoff)
			hash_search(states, &st->key, HASH_REMOVE, NULL);
}

/*---- snapshots and recovery ----*/

/*
 * Write each partition's producer state, for the offset the log ends at
 * (clean shutdown: everything is written).  The layout is the broker's own
 * (int64 log end, then ProducerState structs): the file is only read back
 * by the same build on the same machine, and its offset must match the log.
 */
void
nagare_producers_snapshot(LogPartition *lp)
{
	HASH_SEQ_STATUS status;
	ProducerState *st;
	StringInfoData buf;
	char		path[MAXPGPATH];
	int			n = 0;

	snprintf(path, sizeof(path), "%s/%s", lp->dir, SNAPSHOT_FILE);
	if (!lp->dir_exists)
		return;
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, (char *) &lp->log_end, sizeof(int64));
	if (states != NULL)
	{
		hash_seq_init(&status, states);
		while ((st = hash_seq_search(&status)) != NULL)
			if (st->key.topic_id == lp->key.topic_id && st->key.partition == lp->key.partition)
			{
				appendBinaryStringInfo(&buf, (char *) st, sizeof(ProducerState));
				n++;
			}
	}
	if (n > 0)
		nagare_checked_file_write(path, SNAPSHOT_MAGIC, SNAPSHOT_VERSION, buf.data, buf.len);
	else
		(void) unlink(path);
	pfree(buf.data);
}

/* Read the batch headers of a segment file and observe the idempotent ones */
static void
scan_segment(LogPartition *lp, LogSegment *seg)
{
	char		path[MAXPGPATH];
	int			fd;
	char	   *buf;
	const size_t bufsize = 1024 * 1024;
	int64		pos = 0;

	nagare_segment_path(path, lp->dir, seg->base_offset, ".log");
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	buf = palloc(bufsize);
	while (pos < seg->size)
	{
		ssize_t		n = pg_pread(fd, buf, Min((int64) bufsize, seg->size - pos), pos);
		int64		off = 0;

		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", path)));
		while (off + KAFKA_BATCH_HEADER_SIZE <= n)
		{
			KafkaBatchHeader h;

			if (kafka_batch_read_header((const uint8 *) buf + off, n - off, &h) != KAFKA_OK ||
				h.BatchLength <= 0)
				break;
			nagare_producer_observe(lp->key.topic_id, lp->key.partition, &h, h.BaseOffset);
			off += (int64) h.BatchLength + KAFKA_BATCH_LOG_OVERHEAD;
		}
		if (off == 0)
			break;				/* recovery checked the batches: cannot happen */
		pos += off;
	}
	pfree(buf);
	CloseTransientFile(fd);
}

/*
 * Rebuild a recovered partition's producer state: from its snapshot if it
 * describes exactly the recovered log, else from the last two segments.
 */
void
nagare_producers_recover(LogPartition *lp)
{
	char		path[MAXPGPATH];
	void	   *data;
	uint32		len;
	const char *reason;
	int			i;

	snprintf(path, sizeof(path), "%s/%s", lp->dir, SNAPSHOT_FILE);
	if (nagare_checked_file_read(path, SNAPSHOT_MAGIC, SNAPSHOT_VERSION, &data, &len, &reason) == NAGARE_META_OK)
	{
		int64		offset;

		memcpy(&offset, data, sizeof(int64));
		if (offset == lp->log_end && (len - sizeof(int64)) % sizeof(ProducerState) == 0)
		{
			ensure_init();
			for (i = 0; i < (int) ((len - sizeof(int64)) / sizeof(ProducerState)); i++)
			{
				ProducerState *src = (ProducerState *) ((char *) data + sizeof(int64) + i * sizeof(ProducerState));
				ProducerState *st = hash_search(states, &src->key, HASH_ENTER, NULL);

				*st = *src;
			}
			pfree(data);
			return;
		}
		pfree(data);
	}
	for (i = Max(lp->nsegs - 2, 0); i < lp->nsegs; i++)
		scan_segment(lp, lp->segs[i]);
}

void
nagare_producers_init(void)
{
	ensure_init();
	load_ids();
}
