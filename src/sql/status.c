/*-------------------------------------------------------------------------
 *
 * status.c
 *	  SQL views of shared state: partitions and the broker.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "logstore/segment.h"
#include "shmem.h"
#include "topic/catalog.h"

PG_FUNCTION_INFO_V1(nagare_partition_status);
PG_FUNCTION_INFO_V1(nagare_broker_status);

/*
 * nagare.partition_status(): every partition in the shared table.
 */
Datum
nagare_partition_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS status;
	NagarePartition *part;

	if (nagare_shared == NULL)
		nagare_check_loaded();
	InitMaterializedSRF(fcinfo, 0);

	LWLockAcquire(nagare_shared->registry_lock, LW_SHARED);
	hash_seq_init(&status, nagare_partition_hash);
	while ((part = hash_seq_search(&status)) != NULL)
	{
		Datum		values[7];
		bool		nulls[7] = {false, false, false, false, false, false, false};
		char		dir[MAXPGPATH];

		if (part->state != NAGARE_PART_OPEN)
			continue;
		nagare_partition_dir(dir, part->key.topic_id, part->key.partition);
		values[0] = Int32GetDatum(part->key.topic_id);
		values[1] = Int32GetDatum(part->key.partition);
		values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&part->log_start_offset));
		values[3] = Int64GetDatum((int64) pg_atomic_read_u64(&part->high_watermark));
		values[4] = Int32GetDatum((int32) pg_atomic_read_u32(&part->segments));
		values[5] = Int64GetDatum((int64) pg_atomic_read_u64(&part->size_bytes));
		values[6] = CStringGetTextDatum(dir);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(nagare_shared->registry_lock);
	return (Datum) 0;
}

/*
 * nagare.broker_status(): the broker process and its queue, its Kafka
 * listening sockets and connections.
 */
Datum
nagare_broker_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum values[11];
	bool nulls[11] = {0};
	int32 connections = 0;
	int i;
	pid_t		pid;
	uint64		head;
	uint64		tail;
	uint64		durable;
	static const char *const states[] = {"stopped", "starting", "ready"};
	uint32		state;

	if (nagare_shared == NULL)
		nagare_check_loaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	SpinLockAcquire(&nagare_shared->broker_mutex);
	pid = nagare_shared->broker_pid;
	SpinLockRelease(&nagare_shared->broker_mutex);
	state = pg_atomic_read_u32(&nagare_shared->broker_state);
	head = pg_atomic_read_u64(&nagare_shared->head);
	tail = pg_atomic_read_u64(&nagare_shared->tail);
	durable = pg_atomic_read_u64(&nagare_shared->durable);

	if (pid == 0)
		nulls[0] = true;
	values[0] = Int32GetDatum((int32) pid);
	values[1] = CStringGetTextDatum(state < lengthof(states) ? states[state] : "unknown");
	values[2] = Int64GetDatum((int64) nagare_shared->ring_size);
	values[3] = Int64GetDatum((int64) (head - tail));
	values[4] = Int64GetDatum((int64) (head > durable ? head - durable : 0));
	values[5] = Int64GetDatum((int64) pg_atomic_read_u64(&nagare_shared->appended_batches));
	values[6] = Int64GetDatum((int64) pg_atomic_read_u64(&nagare_shared->fetch_buffered_bytes));
	values[7] = Int64GetDatum((int64) pg_atomic_read_u64(&nagare_shared->fetch_direct_bytes));
	values[8] = Int64GetDatum((int64) pg_atomic_read_u64(&nagare_shared->auth_failures));
	/* the Kafka listeners: sockets open, live connections (the connection table) */
	values[9] = Int32GetDatum(
		pid == 0 ? 0 : (int32) pg_atomic_read_u32(&nagare_shared->listen_sockets));
	for (i = 0; nagare_conn_table != NULL && i < nagare_conn_table->max; i++)
		if (nagare_conn_table->entries[i].used)
			connections++;
	values[10] = Int32GetDatum(pid == 0 ? 0 : connections);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * nagare.group_snapshot(): the broker's consumer groups as JSON (see
 * broker/group_admin.c), read consistently from shared memory (a seqlock: the
 * copy is retried while the broker rewrites it).
 */
PG_FUNCTION_INFO_V1(nagare_group_snapshot);

Datum
nagare_group_snapshot(PG_FUNCTION_ARGS)
{
	char	   *copy = palloc(NAGARE_GROUP_SNAPSHOT_SIZE + 1);

	nagare_check_loaded();
	for (;;)
	{
		uint32		before = pg_atomic_read_u32(&nagare_groups->snapshot_seq);
		uint32		len;

		if (before % 2 == 1)
		{
			pg_usleep(100);
			CHECK_FOR_INTERRUPTS();
			continue;
		}
		pg_read_barrier();
		len = Min(nagare_groups->snapshot_len, NAGARE_GROUP_SNAPSHOT_SIZE);
		memcpy(copy, nagare_groups->snapshot, len);
		copy[len] = '\0';
		pg_read_barrier();
		if (pg_atomic_read_u32(&nagare_groups->snapshot_seq) == before)
			break;
	}
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(copy)));
}
