/*-------------------------------------------------------------------------
 *
 * service_instances.c
 *	  The SQL end of the registry's live instances: the trigger that hands
 *	  registrations and deregistrations to the shared instance table when
 *	  their transaction commits, the heartbeats (nagare.pass_instance(),
 *	  warn_instance(), fail_instance()) and the live state behind the view
 *	  nagare.instances.
 *
 * nagare._instance_row() (AFTER INSERT OR UPDATE OR DELETE ON
 * nagare.service_instance, FOR EACH ROW) notes each registration (a row
 * inserted, or updated with a new registered_at: register_instance() again)
 * and each deregistration (a row deleted, by deregister_instance(), by the
 * TTL sweep or by a cascade from its service); the notes of a transaction
 * are applied to shared memory (instances/instances.c) at commit, dropped
 * at rollback, and those of a subtransaction dropped when it rolls back:
 * a registration that did not commit never appears.  An update that keeps
 * registered_at is the TTL sweep writing a status: shared memory has it.
 *
 * A heartbeat changes only shared memory: the entry's status, note and the
 * start of its TTL.  It first asks nagare._instance_check(id), as the
 * caller, whether the instance exists and the caller may beat it (42704,
 * 42501).  The nagare worker writes status changes to the table
 * (worker/instancesync.c).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "instances/instances.h"
#include "nagare.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(nagare_instance_row);
PG_FUNCTION_INFO_V1(nagare_instance_pass);
PG_FUNCTION_INFO_V1(nagare_instance_warn);
PG_FUNCTION_INFO_V1(nagare_instance_fail);
PG_FUNCTION_INFO_V1(nagare_instances_live);

/* A registration (remove false) or deregistration of this transaction */
typedef struct InstanceNote
{
	int level; /* the (sub)transaction's nesting level */
	bool remove;
	NagareInstance e; /* remove: only the id */
} InstanceNote;

static List *notes = NIL; /* in TopMemoryContext */
static int nadded = 0; /* registrations among them */
static bool callbacks_registered = false;

static void
drop_notes(int from_level)
{
	List *kept = NIL;
	ListCell *lc;

	foreach (lc, notes)
	{
		InstanceNote *n = lfirst(lc);

		if (n->level >= from_level)
		{
			if (!n->remove)
				nadded--;
			pfree(n);
		}
		else
			kept = lappend(kept, n);
	}
	list_free(notes);
	notes = kept;
}

static void
instance_xact_callback(XactEvent event, void *arg)
{
	ListCell *lc;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
			/* nothing here may fail: LWLocks, spinlocks, copies */
			foreach (lc, notes)
			{
				InstanceNote *n = lfirst(lc);

				if (n->remove)
					(void) nagare_instance_remove(n->e.id);
				else if (!nagare_instance_upsert(&n->e))
					ereport(WARNING,
							(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
							 errmsg("instance \"%s\" is registered but not live: nagare.max_instances (%d) are",
									n->e.id, nagare_max_instances),
							 errhint("Raise nagare.max_instances and restart the server.")));
			}
			drop_notes(0);
			nadded = 0;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			drop_notes(0);
			nadded = 0;
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (notes != NIL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg(
							 "cannot PREPARE a transaction that registered or deregistered instances")));
			break;
		default:
			break;
	}
}

static void
instance_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	int level = GetCurrentTransactionNestLevel();
	ListCell *lc;

	if (event == SUBXACT_EVENT_ABORT_SUB)
		drop_notes(level);
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		foreach (lc, notes)
		{
			InstanceNote *n = lfirst(lc);

			if (n->level >= level)
				n->level = level - 1;
		}
}

static void
note(InstanceNote *n)
{
	MemoryContext old;

	if (!callbacks_registered)
	{
		RegisterXactCallback(instance_xact_callback, NULL);
		RegisterSubXactCallback(instance_subxact_callback, NULL);
		callbacks_registered = true;
	}
	n->level = GetCurrentTransactionNestLevel();
	old = MemoryContextSwitchTo(TopMemoryContext);
	notes = lappend(notes, n);
	MemoryContextSwitchTo(old);
	if (!n->remove)
		nadded++;
}

static Datum
attr(HeapTuple tuple, TupleDesc desc, const char *name, bool *isnull)
{
	int attno = SPI_fnumber(desc, name);

	if (attno <= 0)
		elog(ERROR, "nagare.service_instance has no column \"%s\"", name);
	return heap_getattr(tuple, attno, desc, isnull);
}

static char *
attr_text(HeapTuple tuple, TupleDesc desc, const char *name)
{
	bool isnull;
	Datum d = attr(tuple, desc, name, &isnull);

	return isnull ? pstrdup("") : TextDatumGetCString(d);
}

/* The entry a row registers */
static InstanceNote *
registration(HeapTuple tuple, TupleDesc desc)
{
	InstanceNote *n = MemoryContextAllocZero(TopMemoryContext, sizeof(InstanceNote));
	NagareInstance *e = &n->e;
	bool isnull;
	Datum d;
	char *s;
	int status;

	strlcpy(e->id, attr_text(tuple, desc, "id"), sizeof(e->id));
	strlcpy(e->service, attr_text(tuple, desc, "service"), sizeof(e->service));
	strlcpy(e->address, attr_text(tuple, desc, "address"), sizeof(e->address));
	nagare_instance_parse_address(e);
	d = attr(tuple, desc, "port", &isnull);
	e->port = isnull ? 0 : DatumGetInt32(d);
	d = attr(tuple, desc, "tags", &isnull);
	if (!isnull)
	{
		ArrayType *a = DatumGetArrayTypeP(d);
		Datum *elems;
		bool *enulls;
		int nelems;
		int i;

		deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &enulls, &nelems);
		for (i = 0; i < nelems; i++)
		{
			if (enulls[i])
				continue;
			if (!nagare_instance_add_tag(e, TextDatumGetCString(elems[i])))
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("the tags of instance \"%s\" take more than %d bytes",
								e->id, NAGARE_INSTANCE_TAGS_MAX),
						 errhint(
							 "Tags are for choosing instances (\"primary\", \"v2\"): each takes its length and one byte; keep other data in meta.")));
		}
	}
	d = attr(tuple, desc, "meta", &isnull);
	if (!isnull)
	{
		Jsonb *jb = DatumGetJsonbP(d);
		char *text = JsonbToCString(NULL, &jb->root, VARSIZE(jb));

		if (strlen(text) >= sizeof(e->meta))
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the meta of instance \"%s\" takes %zu bytes as JSON text, more than %d",
							e->id, strlen(text), NAGARE_INSTANCE_META_MAX - 1),
					 errhint(
						 "The live instance table keeps meta in shared memory, answered by the HTTP API (Consul's ServiceMeta): keep it to a few short strings (version, zone), and other data in the catalog.")));
		strcpy(e->meta, text);
	}
	d = attr(tuple, desc, "ttl", &isnull);
	e->ttl_ms = isnull ? 0 : nagare_instance_interval_ms(DatumGetIntervalP(d));
	d = attr(tuple, desc, "deregister_critical_after", &isnull);
	e->deregister_after_ms = isnull ? 0 : nagare_instance_interval_ms(DatumGetIntervalP(d));
	s = attr_text(tuple, desc, "status");
	status = nagare_instance_status_parse(s);
	e->status = status < 0 ? NAGARE_INSTANCE_CRITICAL : status;
	/* no check: always passing */
	if (e->ttl_ms == 0)
		e->status = NAGARE_INSTANCE_PASSING;
	e->persisted_status = status < 0 ? NAGARE_INSTANCE_CRITICAL : status;
	strlcpy(e->output, attr_text(tuple, desc, "output"), sizeof(e->output));
	e->last_beat = GetCurrentTimestamp();
	d = attr(tuple, desc, "status_changed_at", &isnull);
	e->status_changed_at = isnull ? e->last_beat : DatumGetTimestampTz(d);
	e->used = true;
	return n;
}

/* trigger nagare._instance_row() */
Datum
nagare_instance_row(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc desc;
	HeapTuple before = NULL;
	HeapTuple after = NULL;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!TRIGGER_FIRED_AFTER(td->tg_event))
		elog(ERROR, "nagare._instance_row() must be an AFTER ... FOR EACH ROW trigger");
	desc = RelationGetDescr(td->tg_relation);
	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		after = td->tg_trigtuple;
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		before = td->tg_trigtuple;
		after = td->tg_newtuple;
	}
	else
		before = td->tg_trigtuple;

	if (before != NULL && after != NULL)
	{
		bool n1, n2;
		Datum r1 = attr(before, desc, "registered_at", &n1);
		Datum r2 = attr(after, desc, "registered_at", &n2);

		/* the sweep writing a status: shared memory has it already */
		if (n1 == n2 && (n1 || DatumGetTimestampTz(r1) == DatumGetTimestampTz(r2)) &&
			strcmp(attr_text(before, desc, "id"), attr_text(after, desc, "id")) == 0)
			return PointerGetDatum(NULL);
	}
	if (before != NULL && (after == NULL || strcmp(attr_text(before, desc, "id"),
												   attr_text(after, desc, "id")) != 0))
	{
		InstanceNote *n = MemoryContextAllocZero(TopMemoryContext, sizeof(InstanceNote));

		n->remove = true;
		strlcpy(n->e.id, attr_text(before, desc, "id"), sizeof(n->e.id));
		note(n);
	}
	if (after != NULL)
	{
		InstanceNote *n = registration(after, desc);

		if (before == NULL && !nagare_instance_find(n->e.id, NULL) &&
			nagare_instance_count() + nadded >= nagare_max_instances)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("cannot register instance \"%s\": nagare.max_instances (%d) are live",
							n->e.id, nagare_max_instances),
					 errhint(
						 "Deregister instances that are gone, or raise nagare.max_instances (a restart).")));
		note(n);
	}
	return PointerGetDatum(NULL);
}

/* 42704 or 42501 unless the instance exists and current_user may beat it */
static void
check_instance(const char *id)
{
	static SPIPlanPtr plan = NULL;
	Oid types[1] = {TEXTOID};
	Datum args[1];
	int ret;

	SPI_connect();
	if (plan == NULL)
	{
		SPIPlanPtr p = SPI_prepare("SELECT nagare._instance_check($1)", 1, types);

		if (p == NULL)
			elog(ERROR, "could not prepare nagare._instance_check(): %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		plan = p;
	}
	args[0] = CStringGetTextDatum(id);
	ret = SPI_execute_plan(plan, args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not check instance \"%s\": %s", id, SPI_result_code_string(ret));
	SPI_finish();
}

/*
 * Right after the server started or the extension was created the nagare
 * worker may not have loaded the table yet: wake it, wait at most
 * LOAD_WAIT_MS.
 */
#define LOAD_WAIT_MS 2000
static void
wait_loaded(void)
{
	TimestampTz deadline;

	if (pg_atomic_read_u32(&nagare_instances->loaded) != 0)
		return;
	nagare_wake_worker();
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), LOAD_WAIT_MS);
	while (pg_atomic_read_u32(&nagare_instances->loaded) == 0 &&
		   GetCurrentTimestamp() < deadline)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

static Datum
heartbeat(FunctionCallInfo fcinfo, int status)
{
	char *id;
	char *note = NULL;
	int before;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("an instance id is required")));
	id = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!PG_ARGISNULL(1))
		note = text_to_cstring(PG_GETARG_TEXT_PP(1));
	check_instance(id);
	wait_loaded();
	if (pg_atomic_read_u32(&nagare_instances->loaded) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the live instance table is being loaded"),
				 errhint(
					 "The nagare worker loads it at server start; try again in a second.")));
	before = nagare_instance_beat(id, status, note, GetCurrentTimestamp());
	if (before < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("instance \"%s\" is not live yet", id),
				 errhint(
					 "Its registration has not committed, or nagare.max_instances were live when it did.")));
	PG_RETURN_TEXT_P(cstring_to_text(nagare_instance_status_name(before)));
}

/* nagare.pass_instance(id text, note text) */
Datum
nagare_instance_pass(PG_FUNCTION_ARGS)
{
	return heartbeat(fcinfo, NAGARE_INSTANCE_PASSING);
}

/* nagare.warn_instance(id text, note text) */
Datum
nagare_instance_warn(PG_FUNCTION_ARGS)
{
	return heartbeat(fcinfo, NAGARE_INSTANCE_WARNING);
}

/* nagare.fail_instance(id text, note text) */
Datum
nagare_instance_fail(PG_FUNCTION_ARGS)
{
	return heartbeat(fcinfo, NAGARE_INSTANCE_CRITICAL);
}

/*
 * nagare._instances_live(): every live entry: id, service, status, output,
 * last beat, seconds until the TTL lapses (null without a TTL), when the
 * status last changed.
 */
Datum
nagare_instances_live(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	NagareInstance *copies;
	int n;
	int i;
	TimestampTz now = GetCurrentTimestamp();

	InitMaterializedSRF(fcinfo, 0);
	n = nagare_instance_snapshot(&copies);
	for (i = 0; i < n; i++)
	{
		NagareInstance *e = &copies[i];
		Datum values[7];
		bool nulls[7] = {0};

		values[0] = CStringGetTextDatum(e->id);
		values[1] = CStringGetTextDatum(e->service);
		values[2] = CStringGetTextDatum(nagare_instance_status_name(e->status));
		if (e->output[0] != '\0')
			values[3] = CStringGetTextDatum(e->output);
		else
			nulls[3] = true;
		values[4] = TimestampTzGetDatum(e->last_beat);
		if (e->ttl_ms > 0)
		{
			TimestampTz lapse = TimestampTzPlusMilliseconds(e->last_beat, e->ttl_ms);

			values[5] = Float8GetDatum(Max(0.0, (double) (lapse - now) / 1000000.0));
		}
		else
			nulls[5] = true;
		values[6] = TimestampTzGetDatum(e->status_changed_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	pfree(copies);
	return (Datum) 0;
}
