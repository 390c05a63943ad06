/*-------------------------------------------------------------------------
 *
 * producerstate.c
 *	  Idempotent producers' state per partition: the last batches of each
 *	  producer, kept in memory, written at a clean shutdown and rebuilt at
 *	  recovery (see producerstate.h; the checks are broker/producers.c).
 *
 * For each (producer id, partition) the broker keeps the producer's epoch
 * and its last five batches (first and last sequence number, first offset),
 * as Kafka's ProducerStateManager does.
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
 * Times of last use are PostgreSQL-epoch milliseconds (pg_epoch_ms()), not
 * Kafka's Unix ones: producer.snapshot holds them, so their epoch stays.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "lib/stringinfo.h"
#include "storage/fd.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "kafka/record.h"
#include "logstore/log.h"
#include "logstore/producerstate.h"
#include "logstore/segment.h"

#define PRODUCER_EXPIRATION_MS	(24 * 3600 * 1000)
#define SNAPSHOT_FILE			"producer.snapshot"
#define SNAPSHOT_MAGIC			0x4E475053	/* "NGPS" */
#define SNAPSHOT_VERSION		1

static HTAB *states = NULL;

/*
 * Now in milliseconds since PostgreSQL's epoch (2000-01-01), the unit of
 * ProducerState.last_used_pg_ms.
 */
static int64
pg_epoch_ms(void)
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

/*
 * The state of producer pid on a partition, or NULL if it has none; with
 * create, a new empty one (epoch -1, no batches) instead of NULL.
 */
ProducerState *
nagare_producer_state_lookup(int32 topic_id, int32 partition, int64 pid, bool create)
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

/*
 * The producers with state on a partition, for DescribeProducers
 * (broker/producers.c): up to max of them into out, read-only and valid
 * until the state changes; returns how many there are.
 */
int
nagare_producer_states_of(int32 topic_id, int32 partition, const ProducerState **out,
						  int max)
{
	HASH_SEQ_STATUS status;
	ProducerState *st;
	int n = 0;

	ensure_init();
	hash_seq_init(&status, states);
	while ((st = hash_seq_search(&status)) != NULL)
		if (st->key.topic_id == topic_id && st->key.partition == partition)
		{
			if (n < max)
				out[n] = st;
			n++;
		}
	return n;
}

/*
 * Record a batch of the producer (offset -1 while not known): a newer epoch
 * forgets the older one's batches, and only the last PRODUCER_BATCHES stay.
 */
void
nagare_producer_state_push(ProducerState *st, int16 epoch, int32 first, int32 last, int64 offset)
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
	st->last_used_pg_ms = pg_epoch_ms();
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
	st = nagare_producer_state_lookup(topic_id, partition, h->ProducerId, true);
	lastseq = nagare_producer_last_sequence(h);
	if (st->epoch == h->ProducerEpoch)
		for (k = 0; k < st->nbatches; k++)
			if (st->batches[k].first_seq == h->BaseSequence && st->batches[k].last_seq == lastseq)
			{
				st->batches[k].first_offset = base_offset;
				return;
			}
	if (h->ProducerEpoch < st->epoch)
		return;
	nagare_producer_state_push(st, h->ProducerEpoch, h->BaseSequence, lastseq, base_offset);
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
	int64		cutoff = pg_epoch_ms() - PRODUCER_EXPIRATION_MS;

	if (states == NULL)
		return;
	hash_seq_init(&status, states);
	while ((st = hash_seq_search(&status)) != NULL)
		if (st->last_used_pg_ms < cutoff)
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
