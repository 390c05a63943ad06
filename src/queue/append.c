/*-------------------------------------------------------------------------
 *
 * append.c
 *	  Records into the append ring: choosing partitions, encoding
 *	  RecordBatches, reserving offsets (see append.h for who calls it).
 *
 * A record is encoded here, in the calling process, as a Kafka RecordBatch
 * v2 (CRC included, in the topic's compression) and handed to the append
 * ring (queue.c), which gives it its offset.  The append does not wait for
 * the broker: a thousand appends cost a thousand memcpys into shared memory
 * and at most a few broker wake-ups.  A batch never exceeds the topic's
 * max.message.bytes (ERROR 54000 when one record alone does).
 *
 * Partitions are chosen as the topic's Kafka producers choose them, so SQL
 * and Kafka clients agree on where a key lives: by the topic's partitioner
 * setting (or the caller's), murmur2 of the key modulo the partition count
 * as Kafka's Java producer (the default) or CRC-32 as librdkafka's default
 * (kafka/murmur2.h); records without a key are spread over the partitions
 * (round robin per process, like the sticky partitioner with one record per
 * batch).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "kafka/murmur2.h"
#include "kafka/record.h"
#include "queue/append.h"
#include "queue/queue.h"
#include "topic/catalog.h"

/* next partition for a record without key (per process) */
static uint32 keyless_counter = 0;
static bool keyless_counter_set = false;

/*
 * The partition of a record: the given one (ERROR if the topic does not have
 * it), else by key with the topic's partitioner, else the next one round
 * robin.
 */
int32
nagare_choose_partition(const NagareTopicInfo *topic, const KafkaRecordIn *rec,
						bool partition_given, int32 partition)
{
	return nagare_choose_partition_with(topic, rec, -1, partition_given, partition);
}

/*
 * nagare_choose_partition() with partitioner a KafkaPartitioner, or -1 for
 * the topic's.
 */
int32
nagare_choose_partition_with(const NagareTopicInfo *topic, const KafkaRecordIn *rec,
							 int partitioner, bool partition_given, int32 partition)
{
	if (partition_given)
	{
		if (partition < 0 || partition >= topic->partitions)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("partition %d of topic \"%s\" does not exist", partition, topic->name),
					 errhint("The topic has partitions 0 to %d; leave the partition null to choose by key.",
							 topic->partitions - 1)));
		return partition;
	}
	if (rec->key_len >= 0)
	{
		if (partitioner < 0)
			partitioner = (int) topic->config.partitioner;
		return kafka_partition_for_key_with((KafkaPartitioner) partitioner, rec->key,
											rec->key_len, topic->partitions);
	}
	if (!keyless_counter_set)
	{
		keyless_counter = (uint32) MyProcPid;
		keyless_counter_set = true;
	}
	return (int32) (keyless_counter++ % (uint32) topic->partitions);
}


/*
 * Set a header's value from a jsonb scalar: a string, or null (no value);
 * with scalars_as_text (the object form) also a number or boolean, stored
 * as its text.  False for anything else.
 */
static bool
header_value(KafkaHeaderIn *h, const JsonbValue *v, bool scalars_as_text)
{
	const char *s;

	if (v->type == jbvString)
	{
		h->value = (const uint8 *) v->val.string.val;
		h->value_len = v->val.string.len;
		return true;
	}
	if (v->type == jbvNull)
	{
		h->value = NULL;
		h->value_len = -1;
		return true;
	}
	if (!scalars_as_text)
		return false;
	if (v->type == jbvNumeric)
		s = DatumGetCString(
			DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	else if (v->type == jbvBool)
		s = v->val.boolean ? "true" : "false";
	else
		return false;
	h->value = (const uint8 *) s;
	h->value_len = strlen(s);
	return true;
}

/*
 * Headers from jsonb: an object {"key": value, ...} or an array of pairs
 * [["key", value], ...] (which keeps order and repeated keys, as Kafka
 * headers allow).  String values are stored as their UTF-8 bytes, null as a
 * null value, anything else as its JSON text.
 */
int32
nagare_parse_headers(Jsonb *headers, KafkaHeaderIn **out)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken r;
	KafkaHeaderIn *h;
	int			n = 0;
	int			max = 8;
	bool		is_object;
	int			depth = 0;
	int			pair_pos = 0;

	*out = NULL;
	if (headers == NULL)
		return 0;
	if (JB_ROOT_IS_SCALAR(headers))
		goto bad;
	is_object = JB_ROOT_IS_OBJECT(headers);
	h = palloc(sizeof(KafkaHeaderIn) * max);

	it = JsonbIteratorInit(&headers->root);
	while ((r = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (r == WJB_BEGIN_ARRAY || r == WJB_BEGIN_OBJECT)
		{
			depth++;
			if (depth == 2)
			{
				if (is_object || r != WJB_BEGIN_ARRAY)
					goto bad_value;
				pair_pos = 0;
			}
			else if (depth > 2)
				goto bad_value;
			continue;
		}
		if (r == WJB_END_ARRAY || r == WJB_END_OBJECT)
		{
			if (depth == 2 && pair_pos != 2)
				goto bad;
			depth--;
			continue;
		}
		if (n == max && (r == WJB_KEY || (!is_object && pair_pos == 0)))
		{
			max *= 2;
			h = repalloc(h, sizeof(KafkaHeaderIn) * max);
		}
		if (is_object)
		{
			if (r == WJB_KEY)
			{
				h[n].key = (const uint8 *) v.val.string.val;
				h[n].key_len = v.val.string.len;
			}
			else
			{
				if (!header_value(&h[n], &v, true))
					goto bad_value;
				n++;
			}
			continue;
		}
		/* array of pairs: depth 2 elements */
		if (depth != 2)
			goto bad;
		if (pair_pos == 0)
		{
			if (v.type != jbvString)
				goto bad;
			h[n].key = (const uint8 *) v.val.string.val;
			h[n].key_len = v.val.string.len;
		}
		else if (pair_pos == 1)
		{
			if (!header_value(&h[n], &v, false))
				goto bad_value;
			n++;
		}
		else
			goto bad;
		pair_pos++;
	}
	*out = h;
	return n;

bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid record headers"),
			 errhint("Headers are a JSON object {\"key\": \"value\"} or an array of pairs [[\"key\", \"value\"], ...].")));
bad_value:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid record header value"),
			 errhint("Header values are strings or null (numbers and booleans are stored as their text).")));
	return 0;					/* keep compiler quiet */
}

/* ERROR unless a batch of size bytes fits the topic's max.message.bytes */
void
nagare_check_batch_size(const NagareTopicInfo *topic, size_t size)
{
	if (size > (size_t) topic->config.max_message_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("record batch of %zu bytes is too large for topic \"%s\"", size, topic->name),
				 errdetail("The topic's max.message.bytes is %lld.", (long long) topic->config.max_message_bytes),
				 errhint("Raise it with nagare.alter_topic('%s', config => '{\"max.message.bytes\": N}').",
						 topic->name)));
}

/*
 * Encode records as one batch with the topic's compression; the result is
 * palloc'd unless it fit in buf.
 */
static const uint8 *
append_encode_batch(const NagareTopicInfo *topic, const KafkaRecordIn *recs, int n,
					uint8 *buf, size_t bufsize, size_t *len)
{
	int			err;
	int			codec = topic->config.compression < 0 ? 0 : (int) topic->config.compression;
	uint8	   *out = buf;

	if (codec == 0)
	{
		size_t		max = kafka_batch_max_size(recs, n);

		if (max > bufsize)
			out = palloc(max);
		err = kafka_batch_encode_into(recs, n, out, Max(max, bufsize), len);
	}
	else
		err = kafka_batch_encode(recs, n, codec, &out, len, &nagare_palloc_allocator);
	if (err != KAFKA_OK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("could not encode records for topic \"%s\": %s",
						topic->name, kafka_codec_strerror(err))));
	nagare_check_batch_size(topic, *len);
	return out;
}

/*
 * Append one record to partition as a batch of its own, encoded in private
 * memory and copied into the ring; the record's timestamp is the batch's
 * MaxTimestamp.  *appended gets the batch (base_offset is the record's
 * offset); the result is the ring position after it.
 */
uint64
nagare_append_record(const NagareTopicInfo *topic, const KafkaRecordIn *rec, int32 partition,
					 NagareAppend *appended)
{
	uint8		buf[8192];
	const uint8 *batch;
	size_t		batch_len;
	uint64		end_pos;

	batch = append_encode_batch(topic, rec, 1, buf, sizeof(buf), &batch_len);

	appended->part = nagare_get_partition(topic, partition, &appended->incarnation);
	appended->batch = (const char *) batch;
	appended->batch_len = (int32) batch_len;
	appended->record_count = 1;
	appended->max_timestamp = rec->timestamp;
	nagare_queue_append(appended, 1, &end_pos);
	return end_pos;
}

/* Records of one partition, in nagare_append_records() */
typedef struct PartitionRecords
{
	int			n;
	int			max;
	int		   *index;			/* positions in the input arrays */
} PartitionRecords;

/*
 * Append records to the partitions chosen for them (rec_partition), as
 * few batches as max.message.bytes allows per partition, handed to the ring
 * in one nagare_queue_append(); now is every batch's max_timestamp in the
 * ring (the records keep their own timestamps).  rec_offset[i] gets each
 * record's offset.  The result is the ring position after the last batch;
 * with appended non-NULL, *appended gets the batches (palloc'd, base_offset
 * filled in) and *nappended their number.
 */
uint64
nagare_append_records(const NagareTopicInfo *topic, const KafkaRecordIn *recs, const int32 *rec_partition,
					  int n, int64 now, int64 *rec_offset, NagareAppend **appended, int *nappended)
{
	PartitionRecords *byp = palloc0(sizeof(PartitionRecords) * topic->partitions);
	KafkaRecordIn *scratch;
	NagareAppend *appends;
	int		   *append_first;
	int32	   *append_partition;
	int			nappends = 0;
	int			maxappends = 16;
	uint64		end_pos = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		PartitionRecords *pr = &byp[rec_partition[i]];

		if (pr->n == pr->max)
		{
			pr->max = Max(16, pr->max * 2);
			pr->index = pr->index ? repalloc(pr->index, sizeof(int) * pr->max) : palloc(sizeof(int) * pr->max);
		}
		pr->index[pr->n++] = i;
	}

	/*
	 * Batches: per partition, as many records as fit in max.message.bytes
	 * (the uncompressed size is a safe bound for a compressed batch).
	 */
	appends = palloc(sizeof(NagareAppend) * maxappends);
	append_first = palloc(sizeof(int) * maxappends);
	append_partition = palloc(sizeof(int32) * maxappends);
	scratch = palloc(sizeof(KafkaRecordIn) * n);
	for (i = 0; i < topic->partitions; i++)
	{
		PartitionRecords *pr = &byp[i];
		int			first = 0;
		uint64		incarnation;
		NagarePartition *part;

		if (pr->n == 0)
			continue;
		part = nagare_get_partition(topic, i, &incarnation);
		while (first < pr->n)
		{
			int			count = 0;
			size_t		len;
			size_t		bound = KAFKA_BATCH_HEADER_SIZE;
			const uint8 *batch;

			/* grow the batch while its size bound fits */
			while (first + count < pr->n)
			{
				size_t		rbound;

				scratch[count] = recs[pr->index[first + count]];

				/*
				 * A record's size alone in a batch, plus room for its
				 * offset and timestamp deltas, which grow with its place
				 * in the batch (varints of at most 5 and 10 bytes).
				 */
				rbound = kafka_batch_max_size(&scratch[count], 1) - KAFKA_BATCH_HEADER_SIZE + 15;
				if (count > 0 && bound + rbound > (size_t) topic->config.max_message_bytes)
					break;
				bound += rbound;
				count++;
			}
			batch = append_encode_batch(topic, scratch, count, NULL, 0, &len);

			if (nappends == maxappends)
			{
				maxappends *= 2;
				appends = repalloc(appends, sizeof(NagareAppend) * maxappends);
				append_first = repalloc(append_first, sizeof(int) * maxappends);
				append_partition = repalloc(append_partition, sizeof(int32) * maxappends);
			}
			appends[nappends].part = part;
			appends[nappends].incarnation = incarnation;
			appends[nappends].batch = (const char *) batch;
			appends[nappends].batch_len = (int32) len;
			appends[nappends].record_count = count;
			appends[nappends].max_timestamp = now;
			append_first[nappends] = first;
			append_partition[nappends] = i;
			nappends++;
			first += count;
		}
	}

	nagare_queue_append(appends, nappends, &end_pos);
	if (appended != NULL)
	{
		*appended = appends;
		*nappended = nappends;
	}

	/* offsets in input order */
	for (i = 0; i < nappends; i++)
	{
		PartitionRecords *pr = &byp[append_partition[i]];
		int			j;

		for (j = 0; j < appends[i].record_count; j++)
			rec_offset[pr->index[append_first[i] + j]] = appends[i].base_offset + j;
	}
	return end_pos;
}
