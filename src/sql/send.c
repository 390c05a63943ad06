/*-------------------------------------------------------------------------
 *
 * send.c
 *	  nagare.send() and nagare.send_batch(): append records from SQL.
 *
 * A record is encoded here, in the calling backend, as a Kafka RecordBatch v2
 * (CRC included) and handed to the append ring, which gives it its offset.
 * The call does not wait for the broker: a thousand sends in a transaction
 * cost a thousand memcpys into shared memory and at most a few broker
 * wake-ups, and one wait for durability at commit (xact.c).
 *
 * Partitions are chosen as Kafka's Java producer chooses them, so SQL and
 * Kafka clients agree on where a key lives: murmur2 of the key modulo the
 * partition count; records without a key are spread over the partitions
 * (round robin per backend, like the sticky partitioner with one record per
 * batch).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "kafka/murmur2.h"
#include "kafka/record.h"
#include "queue/queue.h"
#include "topic/catalog.h"
#include "sql/send.h"
#include "access/xlog.h"
#include "decode/decode.h"
#include "replication/message.h"
#include "replication/slot.h"
#include "utils/guc.h"

PG_FUNCTION_INFO_V1(nagare_send);
PG_FUNCTION_INFO_V1(nagare_send_batch);

/* next partition for a record without key (per backend) */
static uint32 keyless_counter = 0;
static bool keyless_counter_set = false;

/* Milliseconds since the Unix epoch, Kafka's timestamps */
int64
nagare_now_ms(void)
{
	TimestampTz now = GetCurrentTimestamp();

	return now / 1000 + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;
}

int32
nagare_choose_partition(const NagareTopicInfo *topic, const KafkaRecordIn *rec, bool partition_given,
				 int32 partition)
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
		return kafka_partition_for_key(rec->key, rec->key_len, topic->partitions);
	if (!keyless_counter_set)
	{
		keyless_counter = (uint32) MyProcPid;
		keyless_counter_set = true;
	}
	return (int32) (keyless_counter++ % (uint32) topic->partitions);
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
				if (v.type == jbvString)
				{
					h[n].value = (const uint8 *) v.val.string.val;
					h[n].value_len = v.val.string.len;
				}
				else if (v.type == jbvNull)
				{
					h[n].value = NULL;
					h[n].value_len = -1;
				}
				else
				{
					char	   *s;

					if (v.type == jbvNumeric)
						s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
					else if (v.type == jbvBool)
						s = v.val.boolean ? "true" : "false";
					else
						goto bad_value;
					h[n].value = (const uint8 *) s;
					h[n].value_len = strlen(s);
				}
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
			if (v.type == jbvString)
			{
				h[n].value = (const uint8 *) v.val.string.val;
				h[n].value_len = v.val.string.len;
			}
			else if (v.type == jbvNull)
			{
				h[n].value = NULL;
				h[n].value_len = -1;
			}
			else
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

/* key or value argument: bytea, text or jsonb; -1 length for null */
static void
datum_bytes(FunctionCallInfo fcinfo, int argno, const uint8 **data, int32 *len)
{
	Oid			type;

	if (PG_ARGISNULL(argno))
	{
		*data = NULL;
		*len = -1;
		return;
	}
	type = get_fn_expr_argtype(fcinfo->flinfo, argno);
	if (type == JSONBOID)
	{
		Jsonb	   *jb = PG_GETARG_JSONB_P(argno);
		char	   *s = JsonbToCString(NULL, &jb->root, VARSIZE(jb));

		*data = (const uint8 *) s;
		*len = strlen(s);
	}
	else
	{
		struct varlena *v = PG_GETARG_VARLENA_PP(argno);

		*data = (const uint8 *) VARDATA_ANY(v);
		*len = VARSIZE_ANY_EXHDR(v);
	}
}

static void
record_too_large(const NagareTopicInfo *topic, size_t size)
{
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
encode_batch(const NagareTopicInfo *topic, const KafkaRecordIn *recs, int n,
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
	if (*len > (size_t) topic->config.max_message_bytes)
		record_too_large(topic, *len);
	return out;
}

static Datum
send_result(FunctionCallInfo fcinfo, int32 partition, int64 offset)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = Int32GetDatum(partition);
	values[1] = Int64GetDatum(offset);
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/*
 * nagare.send(topic, key, value, headers, partition) -> (partition, offset)
 */
Datum
nagare_send(PG_FUNCTION_ARGS)
{
	const NagareTopicInfo *topic;
	KafkaRecordIn rec;
	KafkaHeaderIn *headers;
	uint8		buf[8192];
	const uint8 *batch;
	size_t		batch_len;
	NagareAppend a;
	uint64		end_pos;
	int32		partition;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("topic must not be null")));
	topic = nagare_lookup_topic(text_to_cstring(PG_GETARG_TEXT_PP(0)), true);

	datum_bytes(fcinfo, 1, &rec.key, &rec.key_len);
	datum_bytes(fcinfo, 2, &rec.value, &rec.value_len);
	rec.nheaders = nagare_parse_headers(PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3), &headers);
	rec.headers = headers;
	rec.timestamp = nagare_now_ms();
	partition = nagare_choose_partition(topic, &rec, !PG_ARGISNULL(4), PG_ARGISNULL(4) ? 0 : PG_GETARG_INT32(4));

	batch = encode_batch(topic, &rec, 1, buf, sizeof(buf), &batch_len);

	a.part = nagare_get_partition(topic, partition, &a.incarnation);
	a.batch = (const char *) batch;
	a.batch_len = (int32) batch_len;
	a.record_count = 1;
	a.max_timestamp = rec.timestamp;
	nagare_queue_append(&a, 1, &end_pos);
	nagare_xact_note_sent(end_pos);
	nagare_xact_note_partition(a.part, a.incarnation, a.base_offset);

	PG_RETURN_DATUM(send_result(fcinfo, partition, a.base_offset));
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
 * few batches as max.message.bytes allows per partition; rec_offset[i] gets
 * each record's offset and the result is the ring position after the last
 * batch.  With note_xact the transaction's commit will wait for them to be
 * durable (send(), send_batch()); without, the caller waits itself.
 */
uint64
nagare_append_records(const NagareTopicInfo *topic, KafkaRecordIn *recs, const int32 *rec_partition,
					  int n, int64 now, int64 *rec_offset, bool note_xact)
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
			batch = encode_batch(topic, scratch, count, NULL, 0, &len);

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
	if (note_xact)
	{
		nagare_xact_note_sent(end_pos);
		for (i = 0; i < nappends; i++)
			nagare_xact_note_partition(appends[i].part, appends[i].incarnation, appends[i].base_offset);
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

static void
deconstruct(ArrayType *arr, Oid elemtype, Datum **elems, bool **nulls, int *n, const char *what)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, elemtype, typlen, typbyval, typalign, elems, nulls, n);
}

/*
 * nagare.send_batch(topic, keys[], values[], headers[], partitions[])
 *		-> setof (partition, offset), one row per record, in input order
 *
 * Records are grouped by partition into batches of at most
 * max.message.bytes, and all batches are appended in one request.
 */
Datum
nagare_send_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	const NagareTopicInfo *topic;
	Oid			elemtype;
	Datum	   *keys = NULL;
	bool	   *key_nulls = NULL;
	Datum	   *values;
	bool	   *value_nulls;
	Datum	   *hdrs = NULL;
	bool	   *hdr_nulls = NULL;
	Datum	   *parts = NULL;
	bool	   *part_nulls = NULL;
	int			n;
	int			nk;
	int			i;
	KafkaRecordIn *recs;
	int32	   *rec_partition;
	int64	   *rec_offset;
	int64		now = nagare_now_ms();

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("topic must not be null")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("values must not be null"),
				 errhint("Pass an array of values, with null elements for null values.")));
	topic = nagare_lookup_topic(text_to_cstring(PG_GETARG_TEXT_PP(0)), true);

	elemtype = get_fn_expr_argtype(fcinfo->flinfo, 2);
	elemtype = get_element_type(elemtype);
	deconstruct(PG_GETARG_ARRAYTYPE_P(2), elemtype, &values, &value_nulls, &n, "values");
	if (!PG_ARGISNULL(1))
	{
		deconstruct(PG_GETARG_ARRAYTYPE_P(1), elemtype, &keys, &key_nulls, &nk, "keys");
		if (nk != n)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("keys has %d elements and values has %d", nk, n),
					 errhint("Pass one key per value, or null for no keys.")));
	}
	if (!PG_ARGISNULL(3))
	{
		deconstruct(PG_GETARG_ARRAYTYPE_P(3), JSONBOID, &hdrs, &hdr_nulls, &nk, "headers");
		if (nk != n)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("headers has %d elements and values has %d", nk, n)));
	}
	if (!PG_ARGISNULL(4))
	{
		deconstruct(PG_GETARG_ARRAYTYPE_P(4), INT4OID, &parts, &part_nulls, &nk, "partitions");
		if (nk != n)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("partitions has %d elements and values has %d", nk, n)));
	}

	InitMaterializedSRF(fcinfo, 0);
	if (n == 0)
		return (Datum) 0;

	recs = palloc(sizeof(KafkaRecordIn) * n);
	rec_partition = palloc(sizeof(int32) * n);
	rec_offset = palloc(sizeof(int64) * n);
	for (i = 0; i < n; i++)
	{
		KafkaRecordIn *r = &recs[i];
		KafkaHeaderIn *h;

		if (keys == NULL || key_nulls[i])
		{
			r->key = NULL;
			r->key_len = -1;
		}
		else
		{
			r->key = (const uint8 *) VARDATA_ANY(DatumGetPointer(keys[i]));
			r->key_len = VARSIZE_ANY_EXHDR(DatumGetPointer(keys[i]));
		}
		if (value_nulls[i])
		{
			r->value = NULL;
			r->value_len = -1;
		}
		else
		{
			r->value = (const uint8 *) VARDATA_ANY(DatumGetPointer(values[i]));
			r->value_len = VARSIZE_ANY_EXHDR(DatumGetPointer(values[i]));
		}
		r->nheaders = nagare_parse_headers(hdrs == NULL || hdr_nulls[i] ? NULL : DatumGetJsonbP(hdrs[i]), &h);
		r->headers = h;
		r->timestamp = now;
		rec_partition[i] = nagare_choose_partition(topic, r, parts != NULL && !part_nulls[i],
											parts != NULL && !part_nulls[i] ? DatumGetInt32(parts[i]) : 0);
	}
	(void) nagare_append_records(topic, recs, rec_partition, n, now, rec_offset, true);

	for (i = 0; i < n; i++)
	{
		Datum		v[2];
		bool		nulls[2] = {false, false};

		v[0] = Int32GetDatum(rec_partition[i]);
		v[1] = Int64GetDatum(rec_offset[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
	}
	return (Datum) 0;
}

/*
 * nagare.publish(topic, key, value, headers, partition): publish a record if
 * and only if the calling transaction commits.  The record travels as a
 * transactional logical decoding message (decode/decode.h for its format);
 * the nagare ingest worker appends it after the commit, in commit order.
 * What can be checked now is: the topic exists, the partition is in range,
 * the headers are well-formed and the record fits max.message.bytes.
 */
PG_FUNCTION_INFO_V1(nagare_publish);

static void
payload_int32(StringInfo buf, int32 v)
{
	uint32		n = pg_hton32((uint32) v);

	appendBinaryStringInfo(buf, (char *) &n, 4);
}

static void
payload_bytes(StringInfo buf, const void *p, int32 len)
{
	payload_int32(buf, len);
	if (len > 0)
		appendBinaryStringInfo(buf, p, len);
}

Datum
nagare_publish(PG_FUNCTION_ARGS)
{
	const NagareTopicInfo *topic;
	char	   *name;
	KafkaRecordIn rec;
	KafkaHeaderIn *headers;
	int32		partition = -1;
	StringInfoData payload;
	char	   *hdrtext = NULL;
	size_t		size;

	if (wal_level < WAL_LEVEL_LOGICAL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("nagare.publish() needs wal_level = logical"),
				 errdetail("Published records travel through logical decoding; wal_level is \"%s\".",
						   GetConfigOption("wal_level", false, false)),
				 errhint("Set wal_level = logical in postgresql.conf and restart the server, or use nagare.send(), which is not transactional.")));
	if (!nagare_output_plugin_allowed())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("nagare.publish() needs nagare in output_plugin_libraries"),
				 errdetail("Published records travel through logical decoding with nagare's output plugin."),
				 errhint("Add nagare to output_plugin_libraries and reload the configuration.")));
	/* only what is logged after the slot exists is ever decoded */
	if (SearchNamedReplicationSlot(NAGARE_SLOT_NAME, true) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the replication slot \"%s\" of nagare.publish() does not exist yet", NAGARE_SLOT_NAME),
				 errhint("The \"nagare ingest\" worker creates it once the extension exists; retry in a moment, and check the server log if it persists.")));
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("topic must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	/* a topic created by this transaction is fine: both commit or neither */
	topic = nagare_lookup_topic(name, false);

	datum_bytes(fcinfo, 1, &rec.key, &rec.key_len);
	datum_bytes(fcinfo, 2, &rec.value, &rec.value_len);
	rec.nheaders = nagare_parse_headers(PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3), &headers);
	rec.headers = headers;
	rec.timestamp = nagare_now_ms();
	if (!PG_ARGISNULL(3))
		hdrtext = JsonbToCString(NULL, &PG_GETARG_JSONB_P(3)->root, VARSIZE(PG_GETARG_JSONB_P(3)));
	if (!PG_ARGISNULL(4))
		partition = nagare_choose_partition(topic, &rec, true, PG_GETARG_INT32(4));
	size = kafka_batch_max_size(&rec, 1);
	if (size > (size_t) topic->config.max_message_bytes)
		record_too_large(topic, size);

	initStringInfo(&payload);
	appendStringInfoChar(&payload, (char) NAGARE_PAYLOAD_VERSION);
	payload_bytes(&payload, name, (int32) strlen(name));
	payload_int32(&payload, partition);
	payload_bytes(&payload, rec.key, rec.key_len);
	payload_bytes(&payload, rec.value, rec.value_len);
	payload_bytes(&payload, hdrtext, hdrtext ? (int32) strlen(hdrtext) : -1);
	(void) LogLogicalMessage(NAGARE_MESSAGE_PREFIX, payload.data, payload.len, true);
	nagare_xact_note_published();
	PG_RETURN_VOID();
}
