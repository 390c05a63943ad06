/*-------------------------------------------------------------------------
 *
 * plugin.c
 *	  nagare's logical decoding output plugin: publish() messages and the
 *	  changes of tables that feed topics, for the "nagare ingest" worker.
 *
 * The plugin is nagare.so itself (plugin name "nagare").  It writes binary
 * rows, one per event, read by decode/ingest.c (format in decode.h):
 *
 *	'M'  a transactional logical message with prefix "nagare", written by
 *		 nagare.publish() (its payload as is);
 *	'R'  a change of a table that has a table topic (nagare.table_topic):
 *		 operation, the table's OID, topic, schema, table, key, before and
 *		 after images as JSON, the columns whose unchanged TOASTed values
 *		 are not in the WAL;
 *	'C'  the end of a transaction that produced any of the above: commit
 *		 LSN, end LSN, commit time, xid.
 *
 * Which tables feed which topics is read from nagare.table_topic with the
 * historic snapshot of each transaction (the table is a user catalog table),
 * so a change is published if and only if the table had a topic when the
 * change committed, and rows keep the shape the table had then (added or
 * dropped columns flow through).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "catalog/pg_type.h"
#include "replication/logical.h"
#include "replication/output_plugin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"

#include "decode/decode.h"

/* A table's topic, as the transaction being decoded sees it */
typedef struct TableTopic
{
	Oid			relid;			/* hash key */
	bool		has_topic;
	bool		tombstones;
	char	   *topic;
} TableTopic;

typedef struct PluginState
{
	MemoryContext cxt;			/* reset per change */
	MemoryContext txn_cxt;		/* reset per transaction */
	HTAB	   *topics;			/* relid -> TableTopic, this transaction */
	bool		emitted;		/* this transaction produced rows */
} PluginState;

extern PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks *cb);

/* a string: int32 length (-1 null), bytes */
static void
put_str(StringInfo out, const char *s)
{
	if (s == NULL)
	{
		pq_sendint32(out, (uint32) -1);
		return;
	}
	pq_sendint32(out, (uint32) strlen(s));
	appendBinaryStringInfoNT(out, s, strlen(s));
}

static void
plugin_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool is_init)
{
	PluginState *st = MemoryContextAllocZero(ctx->context, sizeof(PluginState));

	st->cxt = AllocSetContextCreate(ctx->context, "nagare decoding", ALLOCSET_DEFAULT_SIZES);
	st->txn_cxt = AllocSetContextCreate(ctx->context, "nagare decoding transaction",
										ALLOCSET_SMALL_SIZES);
	ctx->output_plugin_private = st;
	opt->output_type = OUTPUT_PLUGIN_BINARY_OUTPUT;
	opt->receive_rewrites = false;
}

static void
plugin_shutdown(LogicalDecodingContext *ctx)
{
}

static void
plugin_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	PluginState *st = ctx->output_plugin_private;

	MemoryContextReset(st->txn_cxt);
	st->topics = NULL;
	st->emitted = false;
}

/* The topic of a table in this transaction (NULL if none) */
static TableTopic *
table_topic(PluginState *st, Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	TableTopic *tt;
	bool		found;
	Oid			nsp;
	Oid			cfgid;

	if (st->topics == NULL)
	{
		HASHCTL		info;

		memset(&info, 0, sizeof(info));
		info.keysize = sizeof(Oid);
		info.entrysize = sizeof(TableTopic);
		info.hcxt = st->txn_cxt;
		st->topics = hash_create("nagare table topics", 16, &info, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	tt = hash_search(st->topics, &relid, HASH_ENTER, &found);
	if (found)
		return tt->has_topic ? tt : NULL;
	tt->has_topic = false;

	/* nagare's own tables never feed topics */
	nsp = get_namespace_oid("nagare", true);
	if (!OidIsValid(nsp) || RelationGetNamespace(rel) == nsp)
		return NULL;
	cfgid = get_relname_relid("table_topic", nsp);
	if (!OidIsValid(cfgid))
		return NULL;

	{
		Relation	cfg = table_open(cfgid, AccessShareLock);
		SysScanDesc scan = systable_beginscan(cfg, InvalidOid, false, NULL, 0, NULL);
		HeapTuple	tup;
		TupleDesc	desc = RelationGetDescr(cfg);

		while ((tup = systable_getnext(scan)) != NULL)
		{
			bool		isnull;
			Oid			r = DatumGetObjectId(heap_getattr(tup, 1, desc, &isnull));

			if (r != relid)
				continue;
			tt->has_topic = true;
			tt->topic = MemoryContextStrdup(st->txn_cxt,
											TextDatumGetCString(heap_getattr(tup, 2, desc, &isnull)));
			tt->tombstones = DatumGetBool(heap_getattr(tup, 3, desc, &isnull));
		}
		systable_endscan(scan);
		table_close(cfg, AccessShareLock);
	}
	return tt->has_topic ? tt : NULL;
}

/*
 * A tuple as JSON (row_to_json), with the columns of keep only (NULL: all);
 * unchanged TOASTed values, which the WAL does not carry, are rendered as
 * null and named in unchanged.
 */
static char *
tuple_json(Relation rel, HeapTuple tuple, Bitmapset *keep, StringInfo unchanged)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			natts = desc->natts;
	Datum	   *values = palloc(sizeof(Datum) * natts);
	bool	   *nulls = palloc(sizeof(bool) * natts);
	TupleDesc	outdesc;
	HeapTuple	out;
	int			i;
	int			n = 0;

	heap_deform_tuple(tuple, desc, values, nulls);
	if (keep == NULL)
		outdesc = desc;
	else
	{
		int			k = 0;

		for (i = 0; i < natts; i++)
			if (!TupleDescAttr(desc, i)->attisdropped &&
				bms_is_member(i + 1 - FirstLowInvalidHeapAttributeNumber, keep))
				k++;
		outdesc = CreateTemplateTupleDesc(k);
	}
	for (i = 0; i < natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (keep != NULL && !bms_is_member(i + 1 - FirstLowInvalidHeapAttributeNumber, keep))
			continue;
		if (!nulls[i] && att->attlen == -1 &&
			VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(values[i])))
		{
			nulls[i] = true;
			if (unchanged)
			{
				if (unchanged->len > 0)
					appendStringInfoChar(unchanged, ',');
				escape_json(unchanged, NameStr(att->attname));
			}
		}
		if (keep != NULL)
		{
			TupleDescInitEntry(outdesc, ++n, NameStr(att->attname), att->atttypid,
							   att->atttypmod, att->attndims);
			values[n - 1] = values[i];
			nulls[n - 1] = nulls[i];
		}
	}
	if (keep != NULL)
		outdesc = BlessTupleDesc(outdesc);
	out = heap_form_tuple(outdesc, values, nulls);
	return TextDatumGetCString(DirectFunctionCall1(row_to_json,
												   heap_copy_tuple_as_datum(out, outdesc)));
}

/* The key of a row as canonical jsonb text, so that it partitions as the snapshot's */
static char *
key_json(Relation rel, HeapTuple tuple)
{
	Bitmapset  *key = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY);
	char	   *json;

	if (key == NULL || tuple == NULL)
		return NULL;
	json = tuple_json(rel, tuple, key, NULL);
	return DatumGetCString(DirectFunctionCall1(jsonb_out,
											   DirectFunctionCall1(jsonb_in, CStringGetDatum(json))));
}

static void
emit_change(LogicalDecodingContext *ctx, char op, TableTopic *tt, Relation rel,
			const char *key, const char *before, const char *after, const char *unchanged)
{
	PluginState *st = ctx->output_plugin_private;

	OutputPluginPrepareWrite(ctx, true);
	appendStringInfoChar(ctx->out, NAGARE_DECODE_CHANGE);
	appendStringInfoChar(ctx->out, op);
	pq_sendint32(ctx->out, (uint32) RelationGetRelid(rel));
	put_str(ctx->out, tt->topic);
	put_str(ctx->out, get_namespace_name(RelationGetNamespace(rel)));
	put_str(ctx->out, RelationGetRelationName(rel));
	put_str(ctx->out, key);
	put_str(ctx->out, before);
	put_str(ctx->out, after);
	put_str(ctx->out, unchanged);
	OutputPluginWrite(ctx, true);
	st->emitted = true;
}

static void
plugin_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation rel,
			  ReorderBufferChange *change)
{
	PluginState *st = ctx->output_plugin_private;
	MemoryContext old;
	TableTopic *tt;
	HeapTuple	newtup = NULL;
	HeapTuple	oldtup = NULL;
	char	   *key = NULL;
	char	   *before = NULL;
	char	   *after = NULL;
	StringInfoData unchanged;
	char		op;

	tt = table_topic(st, rel);
	if (tt == NULL)
		return;
	old = MemoryContextSwitchTo(st->cxt);
	initStringInfo(&unchanged);

	if (change->data.tp.newtuple)
		newtup = &change->data.tp.newtuple->tuple;
	if (change->data.tp.oldtuple)
		oldtup = &change->data.tp.oldtuple->tuple;

	switch (change->action)
	{
		case REORDER_BUFFER_CHANGE_INSERT:
			op = 'c';
			after = tuple_json(rel, newtup, NULL, &unchanged);
			key = key_json(rel, newtup);
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
			op = 'u';
			after = tuple_json(rel, newtup, NULL, &unchanged);
			/* the before image is what the replica identity logs, if anything */
			if (oldtup)
				before = tuple_json(rel, oldtup,
									rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL ? NULL :
									RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY),
									NULL);
			key = key_json(rel, newtup);
			break;
		case REORDER_BUFFER_CHANGE_DELETE:
			op = 'd';
			if (oldtup)
			{
				before = tuple_json(rel, oldtup,
									rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL ? NULL :
									RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY),
									NULL);
				key = key_json(rel, oldtup);
			}
			break;
		default:
			MemoryContextSwitchTo(old);
			MemoryContextReset(st->cxt);
			return;
	}
	if (unchanged.len > 0)
	{
		char	   *list = psprintf("[%s]", unchanged.data);

		emit_change(ctx, op, tt, rel, key, before, after, list);
	}
	else
		emit_change(ctx, op, tt, rel, key, before, after, NULL);
	/* a delete is followed by a tombstone: compacted topics forget the key */
	if (op == 'd' && tt->tombstones && key != NULL)
		emit_change(ctx, NAGARE_OP_TOMBSTONE, tt, rel, key, NULL, NULL, NULL);

	MemoryContextSwitchTo(old);
	MemoryContextReset(st->cxt);
}

static void
plugin_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, int nrelations,
				Relation relations[], ReorderBufferChange *change)
{
	PluginState *st = ctx->output_plugin_private;
	int			i;

	for (i = 0; i < nrelations; i++)
	{
		TableTopic *tt = table_topic(st, relations[i]);

		if (tt != NULL)
			emit_change(ctx, 't', tt, relations[i], NULL, NULL, NULL, NULL);
	}
}

static void
plugin_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr lsn,
			   bool transactional, const char *prefix, Size sz, const char *message)
{
	PluginState *st = ctx->output_plugin_private;

	if (!transactional || strcmp(prefix, NAGARE_MESSAGE_PREFIX) != 0)
		return;
	OutputPluginPrepareWrite(ctx, true);
	appendStringInfoChar(ctx->out, NAGARE_DECODE_MESSAGE);
	appendBinaryStringInfoNT(ctx->out, message, sz);
	OutputPluginWrite(ctx, true);
	st->emitted = true;
}

static void
plugin_commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr commit_lsn)
{
	PluginState *st = ctx->output_plugin_private;

	if (!st->emitted)
		return;
	OutputPluginPrepareWrite(ctx, true);
	appendStringInfoChar(ctx->out, NAGARE_DECODE_COMMIT);
	pq_sendint64(ctx->out, (uint64) commit_lsn);
	pq_sendint64(ctx->out, (uint64) txn->end_lsn);
	pq_sendint64(ctx->out, (uint64) txn->xact_time.commit_time);
	pq_sendint32(ctx->out, (uint32) txn->xid);
	OutputPluginWrite(ctx, true);
}

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	cb->startup_cb = plugin_startup;
	cb->begin_cb = plugin_begin;
	cb->change_cb = plugin_change;
	cb->truncate_cb = plugin_truncate;
	cb->commit_cb = plugin_commit;
	cb->message_cb = plugin_message;
	cb->shutdown_cb = plugin_shutdown;
}
