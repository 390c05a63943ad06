/*-------------------------------------------------------------------------
 *
 * send.c
 *	  nagare.send(), nagare.send_batch() and nagare.publish(): records from
 *	  SQL.
 *
 * send() and send_batch() turn their arguments into records and append
 * them through the append core (queue/append.c), which encodes them,
 * chooses partitions by the topic's partitioner (or the one the call names)
 * and gives them their offsets.  They do not wait for the broker; they tell the transaction what
 * they appended (xact.c), and its commit waits once for all of it to be
 * durable.
 *
 * publish() checks what can be checked now and writes the record as a
 * transactional logical decoding message (format in decode/decode.h); the
 * ingest worker appends it after the commit.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "acl/acl.h"
#include "access/htup_details.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "replication/slot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "decode/decode.h"
#include "kafka/record.h"
#include "logstore/segment.h"
#include "queue/append.h"
#include "topic/catalog.h"
#include "topic/config.h"
#include "sql/send.h"
#include "sql/client_usage.h"

PG_FUNCTION_INFO_V1(nagare_send);
PG_FUNCTION_INFO_V1(nagare_send_batch);

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

/* The partitioner argument: -1 (the topic's) when null */
static int
partitioner_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return -1;
	return (int) nagare_config_enum_lookup("partitioner",
										   text_to_cstring(PG_GETARG_TEXT_PP(argno)));
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
 * nagare.send(topic, key, value, headers, partition, partitioner)
 *		-> (partition, offset)
 */
Datum
nagare_send(PG_FUNCTION_ARGS)
{
	const NagareTopicInfo *topic;
	KafkaRecordIn rec;
	KafkaHeaderIn *headers;
	NagareAppend a;
	uint64		end_pos;
	int32		partition;
	TimestampTz start = nagare_sql_usage_begin();

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("topic must not be null")));
	nagare_acl_require(KAFKA_RESOURCE_TOPIC, text_to_cstring(PG_GETARG_TEXT_PP(0)), KAFKA_ACL_WRITE);
	topic = nagare_lookup_topic(text_to_cstring(PG_GETARG_TEXT_PP(0)), true);
	nagare_log_check_storage(); /* disk full: refuse, do not wait */

	datum_bytes(fcinfo, 1, &rec.key, &rec.key_len);
	datum_bytes(fcinfo, 2, &rec.value, &rec.value_len);
	rec.nheaders = nagare_parse_headers(PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3), &headers);
	rec.headers = headers;
	rec.timestamp = kafka_now_ms();
	partition = nagare_choose_partition_with(topic, &rec, partitioner_arg(fcinfo, 5),
											 !PG_ARGISNULL(4),
											 PG_ARGISNULL(4) ? 0 : PG_GETARG_INT32(4));

	end_pos = nagare_append_record(topic, &rec, partition, &a);
	nagare_xact_note_appended(&a, 1, end_pos);
	nagare_sql_usage_count(NAGARE_SQL_SEND, start, a.batch_len, 1, 0, 0);
	nagare_sql_deps_count(NAGARE_DEPS_PRODUCE, topic->topic_id, 1, a.batch_len);

	PG_RETURN_DATUM(send_result(fcinfo, partition, a.base_offset));
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
 * nagare.send_batch(topic, keys[], values[], headers[], partitions[],
 *					 partitioner)
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
	NagareAppend *appended;
	int			nappended;
	uint64		end_pos;
	int64		now = kafka_now_ms();
	TimestampTz start = nagare_sql_usage_begin();
	uint64		bytes = 0;
	int partitioner = partitioner_arg(fcinfo, 5);

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("topic must not be null")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("values must not be null"),
				 errhint("Pass an array of values, with null elements for null values.")));
	nagare_acl_require(KAFKA_RESOURCE_TOPIC, text_to_cstring(PG_GETARG_TEXT_PP(0)), KAFKA_ACL_WRITE);
	topic = nagare_lookup_topic(text_to_cstring(PG_GETARG_TEXT_PP(0)), true);
	nagare_log_check_storage(); /* disk full: refuse, do not wait */

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
		rec_partition[i] = nagare_choose_partition_with(topic, r, partitioner,
														parts != NULL && !part_nulls[i],
														parts != NULL && !part_nulls[i]
															? DatumGetInt32(parts[i])
															: 0);
	}
	end_pos = nagare_append_records(topic, recs, rec_partition, n, now, rec_offset,
									&appended, &nappended);
	nagare_xact_note_appended(appended, nappended, end_pos);
	for (i = 0; i < nappended; i++)
		bytes += appended[i].batch_len;
	nagare_sql_usage_count(NAGARE_SQL_SEND_BATCH, start, bytes, n, 0, 0);
	nagare_sql_deps_count(NAGARE_DEPS_PRODUCE, topic->topic_id, n, bytes);

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
 * nagare.publish(topic, key, value, headers, partition, partitioner): publish
 * a record if and only if the calling transaction commits.  The record travels as a
 * transactional logical decoding message (decode/decode.h for its format);
 * the nagare ingest worker appends it after the commit, in commit order,
 * choosing the partition of a keyed record with the topic's partitioner
 * then; a partitioner named by the call chooses it now, from the partition
 * count the topic has now.
 * What can be checked now is: the topic exists, the partition is in range,
 * the headers are well-formed and the record, with the header the worker
 * adds, fits max.message.bytes and the append ring (ERROR 54000): the
 * worker checks the same (decode/ingest.c), so a record published is
 * delivered unless the topic changes before the worker appends it.
 */
PG_FUNCTION_INFO_V1(nagare_publish);

/* bytes of the message: int32 length (-1 null), then the bytes */
static void
publish_put_bytes(StringInfo buf, const void *p, int32 len)
{
	pq_sendint32(buf, (uint32) len);
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
	int partitioner;
	StringInfoData payload;
	char	   *hdrtext = NULL;
	size_t		size;
	TimestampTz start = nagare_sql_usage_begin();
	bool origin;

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
	nagare_acl_require(KAFKA_RESOURCE_TOPIC, name, KAFKA_ACL_WRITE);
	/* a topic created by this transaction is fine: both commit or neither */
	topic = nagare_lookup_topic(name, false);
	nagare_log_check_storage(); /* disk full: refuse, do not wait */

	datum_bytes(fcinfo, 1, &rec.key, &rec.key_len);
	datum_bytes(fcinfo, 2, &rec.value, &rec.value_len);
	rec.nheaders = nagare_parse_headers(PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3), &headers);
	rec.headers = headers;
	rec.timestamp = kafka_now_ms();
	if (!PG_ARGISNULL(3))
		hdrtext = JsonbToCString(NULL, &PG_GETARG_JSONB_P(3)->root, VARSIZE(PG_GETARG_JSONB_P(3)));
	partitioner = partitioner_arg(fcinfo, 5);
	if (!PG_ARGISNULL(4))
		partition = nagare_choose_partition(topic, &rec, true, PG_GETARG_INT32(4));
	else if (partitioner >= 0 && rec.key_len >= 0)
		partition = nagare_choose_partition_with(topic, &rec, partitioner, false, 0);

	/*
	 * The record as the ingest worker will append it, with its nagare.lsn
	 * header, must fit the topic: what does not would never be delivered.
	 */
	{
		KafkaHeaderIn *all = palloc(sizeof(KafkaHeaderIn) * (rec.nheaders + 1));
		KafkaRecordIn appended = rec;
		static const char lsn[NAGARE_LSN_LENGTH + 1] = "0000000000000000/00000000";
		char *why;

		if (rec.nheaders > 0)
			memcpy(all, rec.headers, sizeof(KafkaHeaderIn) * rec.nheaders);
		all[rec.nheaders].key = (const uint8 *) NAGARE_LSN_HEADER;
		all[rec.nheaders].key_len = strlen(NAGARE_LSN_HEADER);
		all[rec.nheaders].value = (const uint8 *) lsn;
		all[rec.nheaders].value_len = NAGARE_LSN_LENGTH;
		appended.headers = all;
		appended.nheaders = rec.nheaders + 1;
		why = nagare_ingest_record_unfit(topic, &appended, &size);
		if (why != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("record is too large for topic \"%s\"", topic->name),
					 errdetail("As the ingest worker would append it, %s.", why),
					 errhint("Raise the topic's max.message.bytes with nagare.alter_topic('%s', config => '{\"max.message.bytes\": N}') (at most a quarter of nagare.queue_size), or publish less.",
							 topic->name)));
	}

	origin = nagare_xact_publish_origin();
	initStringInfo(&payload);
	appendStringInfoChar(&payload, (char) (origin ? NAGARE_PAYLOAD_VERSION_ORIGIN
												  : NAGARE_PAYLOAD_VERSION));
	publish_put_bytes(&payload, name, (int32) strlen(name));
	pq_sendint32(&payload, (uint32) partition);
	publish_put_bytes(&payload, rec.key, rec.key_len);
	publish_put_bytes(&payload, rec.value, rec.value_len);
	publish_put_bytes(&payload, hdrtext, hdrtext ? (int32) strlen(hdrtext) : -1);
	if (origin)
	{
		char *principal = psprintf("User:%s", GetUserNameFromId(GetUserId(), false));
		const char *app = application_name ? application_name : "";

		publish_put_bytes(&payload, principal, (int32) strlen(principal));
		publish_put_bytes(&payload, app, (int32) strlen(app));
	}
	(void) LogLogicalMessage(NAGARE_MESSAGE_PREFIX, payload.data, payload.len, true);
	nagare_xact_note_published();
	nagare_sql_usage_count(NAGARE_SQL_PUBLISH, start, payload.len, 1, 0, 0);
	nagare_sql_deps_count(NAGARE_DEPS_PUBLISH, topic->topic_id, 1, payload.len);
	PG_RETURN_VOID();
}
