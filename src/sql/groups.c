/*-------------------------------------------------------------------------
 *
 * groups.c
 *	  What SQL tells the broker about consumer groups: the notices of groups
 *	  deleted (nagare.delete_group()) or created (the offsets of
 *	  nagare.reset_group_offsets(create_group => true)) by a transaction, handed
 *	  over when it commits.
 *
 * The broker keeps its groups in its memory (broker/group.c), so a group
 * deleted or created in SQL must reach it for Kafka's ListGroups,
 * DescribeGroups and nagare.consumer_groups to agree with nagare.group_offset.
 * nagare._group_notice() notes the group in the transaction; at commit each
 * note becomes a notice in shared memory (shmem.h, NagareGroupShared: a
 * spinlock held to copy one notice in), the broker's latch is set, and the
 * backend waits (at most NOTICE_WAIT_MS, interrupts being held at commit)
 * until the broker has marked its notices done, which it does after
 * rewriting the snapshot: the next statement sees the change.  A rolled-back
 * transaction leaves no notice.  When the notices are full the backend sets
 * overflow instead, and the broker reads nagare.group_offset again.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "acl/acl.h"
#include "nagare.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(nagare_group_notice);

/* How long a committing backend waits for the broker to take its notices */
#define NOTICE_WAIT_MS 2000

/* Notes of this transaction, in TopMemoryContext */
#define MAX_NOTES      NAGARE_GROUP_NOTICES

typedef struct GroupNote
{
	int op;
	char name[256];
} GroupNote;

static GroupNote notes[MAX_NOTES];
static int nnotes = 0;
static bool notes_overflow = false;
static bool callback_registered = false;

/* Hand this transaction's notes to the broker and wait for it (at commit) */
static void
post_notes(void)
{
	uint64 last = 0;
	int i;
	TimestampTz deadline;

	if (nagare_groups == NULL || (nnotes == 0 && !notes_overflow))
		return;
	for (i = 0; i < nnotes + (notes_overflow ? 1 : 0); i++)
	{
		SpinLockAcquire(&nagare_groups->notice_mutex);
		last = pg_atomic_read_u64(&nagare_groups->notice_ticket) + 1;
		pg_atomic_write_u64(&nagare_groups->notice_ticket, last);
		/* the extra round of an overflow of this transaction's notes */
		if (i < nnotes && nagare_groups->nnotices < NAGARE_GROUP_NOTICES)
		{
			NagareGroupNotice *n = &nagare_groups->notices[nagare_groups->nnotices++];

			n->ticket = last;
			n->op = notes[i].op;
			memcpy(n->name, notes[i].name, sizeof(n->name));
		}
		else
			nagare_groups->notice_overflow = true;
		SpinLockRelease(&nagare_groups->notice_mutex);
	}
	nagare_wake_broker();

	/* the next statement sees the change (nagare.consumer_groups) */
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), NOTICE_WAIT_MS);
	while (pg_atomic_read_u64(&nagare_groups->notice_done) < last &&
		   pg_atomic_read_u32(&nagare_shared->broker_state) == NAGARE_BROKER_READY &&
		   GetCurrentTimestamp() < deadline)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

static void
group_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			/* nothing here may fail: spinlocks, SetLatch, a bounded wait */
			post_notes();
			nnotes = 0;
			notes_overflow = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			nnotes = 0;
			notes_overflow = false;
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (nnotes > 0 || notes_overflow)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg(
							 "cannot PREPARE a transaction that deleted or created consumer groups")));
			break;
		default:
			break;
	}
}

/*
 * nagare._group_notice(group_id text, op text): note that this transaction
 * deletes ('deleted') or creates ('created') the group; the broker hears of
 * it when the transaction commits.  'created' is refused with SQLSTATE 53400
 * when the broker keeps nagare.max_groups groups already.
 */
Datum
nagare_group_notice(PG_FUNCTION_ARGS)
{
	char *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char *opname = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int op;
	int i;

	if (strcmp(opname, "deleted") == 0)
		op = NAGARE_GROUP_NOTICE_DELETED;
	else if (strcmp(opname, "created") == 0)
		op = NAGARE_GROUP_NOTICE_CREATED;
	else
		elog(ERROR, "unknown consumer group notice \"%s\"", opname);
	if (strlen(name) == 0 || strlen(name) > 255)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("invalid consumer group id \"%s\"", name),
						errhint("A group id has 1 to 255 bytes, as Kafka's.")));
	/* as the functions that call it: DELETE to delete, READ to commit offsets */
	nagare_acl_require(KAFKA_RESOURCE_GROUP, name,
					   op == NAGARE_GROUP_NOTICE_DELETED ? KAFKA_ACL_DELETE
														 : KAFKA_ACL_READ);
	if (op == NAGARE_GROUP_NOTICE_CREATED && nagare_groups != NULL &&
		pg_atomic_read_u32(&nagare_groups->ngroups) >= (uint32) nagare_max_groups)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("cannot create consumer group \"%s\": the broker keeps %u groups (nagare.max_groups)",
						name, pg_atomic_read_u32(&nagare_groups->ngroups)),
				 errhint(
					 "Delete unused groups with nagare.delete_group(), or raise nagare.max_groups.")));
	if (!callback_registered)
	{
		RegisterXactCallback(group_xact_callback, NULL);
		callback_registered = true;
	}
	for (i = 0; i < nnotes; i++)
		if (strcmp(notes[i].name, name) == 0 && notes[i].op == op)
			PG_RETURN_VOID();
	if (nnotes < MAX_NOTES)
	{
		notes[nnotes].op = op;
		strlcpy(notes[nnotes].name, name, sizeof(notes[nnotes].name));
		nnotes++;
	}
	else
		notes_overflow = true;
	PG_RETURN_VOID();
}
