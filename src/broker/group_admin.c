/*-------------------------------------------------------------------------
 *
 * group_admin.c
 *	  Listing, describing and deleting consumer groups (ListGroups,
 *	  DescribeGroups, DeleteGroups), and the broker's snapshot of its groups
 *	  for SQL.
 *
 * The groups are the broker's (group.c), and after a restart also the
 * groups that have committed offsets: the broker asks the nagare worker for
 * them once (nagare_group_load_committed()) and knows them as Empty, as
 * Kafka loads its groups from __consumer_offsets; until the worker has
 * answered, ListGroups, and DescribeGroups of a group it does not know, say
 * COORDINATOR_LOAD_IN_PROGRESS, as Kafka's do while it loads.  DeleteGroups forgets an
 * empty group and has the worker delete its committed offsets.
 *
 * SQL agrees with Kafka: a transaction that deleted a group
 * (nagare.delete_group()) or created offsets for a new one
 * (nagare.reset_group_offsets(create_group => true)) leaves a notice in shared
 * memory as it commits (sql/groups.c); the broker takes the notices in its
 * next loop turn (nagare_group_take_notices(): one spinlock, no waiting),
 * forgets or learns the groups, and rewrites the snapshot before it marks
 * them done.  If notices were lost (more than shmem.h holds), it reads the
 * list of groups with offsets again.  That list also expires groups: an
 * Empty group with no committed offsets is forgotten after
 * nagare.empty_group_retention (nagare_group_expire()).
 *
 * The broker publishes its groups as JSON in shared memory (shmem.h,
 * NagareGroupShared: a seqlock'd snapshot), rewritten in the loop turn after
 * anything in it changed (nagare_group_snapshot_dirty), for the SQL views
 * nagare.consumer_groups, nagare.group_members and nagare.consumer_lag
 * (sql/status.c); each member's subscription (the topics of its
 * ConsumerProtocolSubscription) is in it, for the lag of topics a group
 * has not committed on yet, and so are each member's principal and the
 * group's last committer (principal and client id, group_offsets.c), of
 * which SQL makes the group's service.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/ilist.h"
#include "lib/stringinfo.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "acl/acl.h"
#include "broker/acl_api.h"
#include "broker/group_internal.h"
#include "broker/kafka_api.h"
#include "kafka/byteorder.h"
#include "nagare.h"
#include "shmem.h"

static const char *const state_names[] = {
	"Empty", "PreparingRebalance", "CompletingRebalance", "Stable"
};

/* The snapshot must be rewritten (group.c and the other files set this) */
bool		nagare_group_snapshot_dirty = true;

static bool groups_loaded = false;	/* groups with committed offsets are known */

/*
 * What a list of the groups with committed offsets (NAGARE_GROUP_LIST) is
 * asked for; every answer also makes the broker know each listed group.
 */
#define LIST_LOAD      0x1 /* after a start: groups_loaded */
#define LIST_EXPIRE    0x2 /* forget Empty groups past retention not listed */
#define LIST_RECONCILE 0x4 /* notices were lost: forget Empty groups not listed */

static bool list_in_flight = false;
static TimestampTz list_submitted_at = 0;
static uint32 list_round = 0; /* Group.listed of the groups the last list named */
static bool reconcile_wanted = false;
/* the last notice taken; marked done once no reconcile is wanted */
static uint64 notices_handled = 0;

/*---- ListGroups and DescribeGroups ----*/

void
nagare_handle_list_groups(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaListGroupsRequest *req = &body->ListGroups;
	KafkaListGroupsResponse resp;
	HTAB	   *groups = nagare_group_table();
	HASH_SEQ_STATUS status;
	Group	   *g;
	int			n = 0;
	/* Kafka: DESCRIBE on the CLUSTER lists all, else those the client may DESCRIBE */
	bool		all = nagare_authorized_quiet(conn, KAFKA_RESOURCE_CLUSTER, NAGARE_ACL_CLUSTER_NAME,
											  strlen(NAGARE_ACL_CLUSTER_NAME), KAFKA_ACL_DESCRIBE);

	memset(&resp, 0, sizeof(resp));
	resp.Groups = palloc0(sizeof(KafkaListedGroup) * Max(hash_get_num_entries(groups), 1));
	hash_seq_init(&status, groups);
	while ((g = hash_seq_search(&status)) != NULL)
	{
		int			k;
		bool		wanted = req->StatesFilterCount <= 0;
		/* a KIP-848 group (group_consumer.c) has Kafka's ConsumerGroup states */
		const char *state =
			g->consumer ? nagare_consumer_group_state(g) : state_names[g->state];
		const char *type = g->consumer ? "consumer" : "classic";

		for (k = 0; k < req->StatesFilterCount; k++)
			if (kafka_str_eq(req->StatesFilter[k], state))
				wanted = true;
		if (req->TypesFilterCount > 0)
		{
			bool match = false;

			for (k = 0; k < req->TypesFilterCount; k++)
				if (req->TypesFilter[k].len == (int) strlen(type) &&
					pg_strncasecmp(req->TypesFilter[k].ptr, type, strlen(type)) == 0)
					match = true;
			wanted = wanted && match;
		}
		if (!wanted || (!all && !nagare_authorized_quiet(conn, KAFKA_RESOURCE_GROUP, g->name,
														  strlen(g->name), KAFKA_ACL_DESCRIBE)))
			continue;
		resp.Groups[n].GroupId = kafka_str(g->name);
		resp.Groups[n].ProtocolType = kafka_str(g->protocol_type ? g->protocol_type : "");
		resp.Groups[n].GroupState = kafka_str(state);
		resp.Groups[n].GroupType = kafka_str(type);
		n++;
	}
	resp.GroupsCount = n;
	/* as Kafka while it loads __consumer_offsets: clients ask again */
	if (!groups_loaded)
		resp.ErrorCode = KAFKA_ERROR_COORDINATOR_LOAD_IN_PROGRESS;
	nagare_kafka_respond(conn, hdr, &resp);
}

void
nagare_handle_describe_groups(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaDescribeGroupsRequest *req = &body->DescribeGroups;
	KafkaDescribeGroupsResponse resp;
	int			i;

	memset(&resp, 0, sizeof(resp));
	resp.GroupsCount = req->GroupsCount;
	resp.Groups = palloc0(sizeof(KafkaDescribedGroup) * Max(req->GroupsCount, 1));
	for (i = 0; i < req->GroupsCount; i++)
	{
		KafkaDescribedGroup *d = &resp.Groups[i];
		Group	   *g = nagare_group_find(req->Groups[i]);

		d->GroupId = req->Groups[i];
		d->AuthorizedOperations = PG_INT32_MIN;
		if (!nagare_authorized_group(conn, req->Groups[i], KAFKA_ACL_DESCRIBE))
		{
			d->ErrorCode = KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED;
			d->GroupState = kafka_str("");
			d->ProtocolType = kafka_str("");
			d->ProtocolData = kafka_str("");
			continue;
		}
		if (req->IncludeAuthorizedOperations)
			d->AuthorizedOperations =
				nagare_authorized_operations(conn, KAFKA_RESOURCE_GROUP,
											 req->Groups[i].ptr, req->Groups[i].len);
		if (g == NULL)
		{
			if (req->Groups[i].len <= 0)
				d->ErrorCode = KAFKA_ERROR_INVALID_GROUP_ID;
			else if (!groups_loaded)	/* it may have offsets not yet known */
				d->ErrorCode = KAFKA_ERROR_COORDINATOR_LOAD_IN_PROGRESS;
			d->GroupState = kafka_str(d->ErrorCode == KAFKA_ERROR_NONE ? "Dead" : "");
			d->ProtocolType = kafka_str("");
			d->ProtocolData = kafka_str("");
			continue;
		}
		if (g->consumer)
		{
			/* Kafka: ConsumerGroupDescribe describes those */
			d->ErrorCode = KAFKA_ERROR_GROUP_ID_NOT_FOUND;
			d->GroupState = kafka_str("");
			d->ProtocolType = kafka_str("");
			d->ProtocolData = kafka_str("");
			continue;
		}
		d->GroupState = kafka_str(state_names[g->state]);
		d->ProtocolType = kafka_str(g->protocol_type ? g->protocol_type : "");
		d->ProtocolData = kafka_str(g->state == GROUP_STABLE && g->protocol ? g->protocol : "");
		d->MembersCount = g->nmembers;
		d->Members = palloc0(sizeof(KafkaDescribedGroupMember) * Max(g->nmembers, 1));
		{
			dlist_iter	iter;
			int			n = 0;

			dlist_foreach(iter, &g->members)
			{
				Member	   *m = dlist_container(Member, node, iter.cur);
				KafkaDescribedGroupMember *dm = &d->Members[n++];
				int			k;

				dm->MemberId = kafka_str(m->member_id);
				dm->GroupInstanceId = kafka_str(m->instance_id);
				dm->ClientId = kafka_str(m->client_id);
				dm->ClientHost = kafka_str(m->client_host);
				if (g->state == GROUP_STABLE)
				{
					for (k = 0; k < m->nprotocols; k++)
						if (g->protocol && strcmp(m->protocols[k].name, g->protocol) == 0)
						{
							dm->MemberMetadata.ptr = m->protocols[k].metadata;
							dm->MemberMetadata.len = m->protocols[k].len;
						}
					dm->MemberAssignment.ptr = m->assignment;
					dm->MemberAssignment.len = m->assignment_len;
				}
			}
		}
	}
	nagare_kafka_respond(conn, hdr, &resp);
}


/*---- DeleteGroups ----*/

/* A DeleteGroups waiting for the worker */
typedef struct DeleteWait
{
	NagareResponse *resp;
	NagareRequestId id;
	int			n;
	int16	   *errors;
	KafkaStr   *names;
	int			outstanding;
} DeleteWait;

typedef struct DeleteItem
{
	DeleteWait *dw;
	int			index;
	bool		known;			/* the broker knows the group */
} DeleteItem;

static void
delete_respond(DeleteWait *dw)
{
	KafkaDeleteGroupsResponse resp;
	int			i;

	memset(&resp, 0, sizeof(resp));
	resp.ResultsCount = dw->n;
	resp.Results = palloc0(sizeof(KafkaDeletableGroupResult) * Max(dw->n, 1));
	for (i = 0; i < dw->n; i++)
	{
		resp.Results[i].GroupId = dw->names[i];
		resp.Results[i].ErrorCode = dw->errors[i];
	}
	nagare_kafka_response_ready(dw->resp, dw->id, &resp, NULL);
	pfree(resp.Results);
}

static void
delete_done(void *arg, const char *sqlstate, const char *data, uint32 len)
{
	DeleteItem *it = arg;
	DeleteWait *dw = it->dw;
	int16		err = nagare_group_answer_error(sqlstate);

	/* no offsets deleted, and not a group the broker knew */
	if (err == KAFKA_ERROR_NONE && len >= 4 &&
		kafka_load_be32((const uint8 *) data) == 0 && !it->known)
		err = KAFKA_ERROR_GROUP_ID_NOT_FOUND;
	if (dw->errors[it->index] == KAFKA_ERROR_NONE)
		dw->errors[it->index] = err;
	if (--dw->outstanding == 0)
		delete_respond(dw);
}

void
nagare_handle_delete_groups(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaDeleteGroupsRequest *req = &body->DeleteGroups;
	MemoryContext cxt = nagare_conn_context(conn);
	DeleteWait *dw = MemoryContextAllocZero(cxt, sizeof(DeleteWait));
	int			i;

	dw->id = nagare_request_id(hdr);
	dw->resp = nagare_conn_new_response(conn);
	dw->n = req->GroupsNamesCount;
	dw->errors = MemoryContextAllocZero(cxt, sizeof(int16) * Max(dw->n, 1));
	dw->names = MemoryContextAllocZero(cxt, sizeof(KafkaStr) * Max(dw->n, 1));
	dw->outstanding = 1;
	for (i = 0; i < dw->n; i++)
	{
		KafkaStr	name = req->GroupsNames[i];
		Group	   *g = nagare_group_find(name);
		char		key[MAX_GROUP_ID + 1];
		DeleteItem *it;
		StringInfoData json;

		dw->names[i].ptr = MemoryContextStrdup(cxt, nagare_group_key(name, key) ? key : "");
		dw->names[i].len = strlen(dw->names[i].ptr);
		if (!nagare_authorized_group(conn, name, KAFKA_ACL_DELETE))
		{
			dw->errors[i] = KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED;
			continue;
		}
		if (!nagare_group_key(name, key))
		{
			dw->errors[i] = KAFKA_ERROR_INVALID_GROUP_ID;
			continue;
		}
		if (g != NULL && !nagare_group_is_empty(g))
		{
			dw->errors[i] = KAFKA_ERROR_NON_EMPTY_GROUP;
			continue;
		}
		it = MemoryContextAllocZero(cxt, sizeof(DeleteItem));
		it->dw = dw;
		it->index = i;
		it->known = (g != NULL);
		if (g != NULL)
			nagare_group_remove(g);
		initStringInfo(&json);
		appendStringInfoString(&json, "{\"g\":");
		escape_json(&json, key);
		nagare_audit_client_member(&json, conn, hdr);
		appendStringInfoChar(&json, '}');
		dw->outstanding++;
		if (!nagare_group_submit(NAGARE_GROUP_DELETE, json.data, json.len, delete_done, it))
		{
			dw->errors[i] = KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
			dw->outstanding--;
		}
		pfree(json.data);
	}
	if (--dw->outstanding == 0)
		delete_respond(dw);
}

/*---- the snapshot for SQL ----*/

/* The partitions of a ConsumerProtocolAssignment, as JSON */
static void
assignment_json(StringInfo s, const uint8 *a, int32 len)
{
	const uint8 *p = a;
	const uint8 *end = a + len;
	int32		nt;
	int			i;

	appendStringInfoChar(s, '[');
	if (a == NULL || len < 6)
		goto done;
	p += 2;
	nt = (int32) kafka_load_be32(p);
	p += 4;
	for (i = 0; i < nt; i++)
	{
		uint16		tl;
		int32		np;
		int			k;
		char		topic[NAGARE_MAX_TOPIC_NAME + 1];

		if (end - p < 2)
			break;
		tl = kafka_load_be16(p);
		p += 2;
		if (end - p < tl + 4 || tl > NAGARE_MAX_TOPIC_NAME)
			break;
		memcpy(topic, p, tl);
		topic[tl] = '\0';
		p += tl;
		np = (int32) kafka_load_be32(p);
		p += 4;
		if (np < 0 || end - p < (int64) np * 4)
			break;
		if (i > 0)
			appendStringInfoChar(s, ',');
		appendStringInfoString(s, "{\"topic\":");
		escape_json(s, topic);
		appendStringInfoString(s, ",\"partitions\":[");
		for (k = 0; k < np; k++)
		{
			appendStringInfo(s, "%s%d", k ? "," : "", (int32) kafka_load_be32(p));
			p += 4;
		}
		appendStringInfoString(s, "]}");
	}
done:
	appendStringInfoChar(s, ']');
}

/* The topics of a ConsumerProtocolSubscription, as a JSON array */
static void
subscription_json(StringInfo s, const uint8 *meta, int32 len)
{
	const uint8 *p = meta;
	const uint8 *end = meta + len;
	int32 n;
	int i;

	appendStringInfoChar(s, '[');
	if (meta != NULL && len >= 6)
	{
		p += 2; /* version */
		n = (int32) kafka_load_be32(p);
		p += 4;
		for (i = 0; i < n && end - p >= 2; i++)
		{
			uint16 tl = kafka_load_be16(p);
			char topic[NAGARE_MAX_TOPIC_NAME + 1];

			p += 2;
			if (end - p < tl || tl > NAGARE_MAX_TOPIC_NAME)
				break;
			memcpy(topic, p, tl);
			topic[tl] = '\0';
			p += tl;
			if (i > 0)
				appendStringInfoChar(s, ',');
			escape_json(s, topic);
		}
	}
	appendStringInfoChar(s, ']');
}

/* A member's subscription: its metadata for the group's protocol, or its first */
static void
member_subscription_json(StringInfo s, Group *g, Member *m)
{
	int k;

	for (k = 0; k < m->nprotocols; k++)
		if (g->protocol && strcmp(m->protocols[k].name, g->protocol) == 0)
			break;
	if (k == m->nprotocols)
		k = 0;
	if (k < m->nprotocols)
		subscription_json(s, m->protocols[k].metadata, m->protocols[k].len);
	else
		appendStringInfoString(s, "[]");
}

/* Rewrite the snapshot of the groups in shared memory */
void
nagare_group_publish_snapshot(void)
{
	StringInfoData s;
	HASH_SEQ_STATUS status;
	Group	   *g;
	bool		first = true;

	initStringInfo(&s);
	appendStringInfoChar(&s, '[');
	hash_seq_init(&status, nagare_group_table());
	while ((g = hash_seq_search(&status)) != NULL)
	{
		dlist_iter	iter;
		bool		mfirst = true;

		appendStringInfoString(&s, first ? "{\"group\":" : ",{\"group\":");
		first = false;
		escape_json(&s, g->name);
		appendStringInfo(&s, ",\"state\":\"%s\",\"generation\":%d,\"protocol_type\":",
						 g->consumer ? nagare_consumer_group_state(g)
									 : state_names[g->state],
						 g->consumer ? g->group_epoch : g->generation);
		if (g->protocol_type)
			escape_json(&s, g->protocol_type);
		else
			appendStringInfoString(&s, "null");
		appendStringInfo(&s, ",\"type\":\"%s\",\"protocol\":",
						 g->consumer ? "consumer" : "classic");
		if (g->protocol && g->state != GROUP_EMPTY)
			escape_json(&s, g->protocol);
		else
			appendStringInfoString(&s, "null");
		appendStringInfoString(&s, ",\"leader\":");
		if (g->leader)
			escape_json(&s, g->leader);
		else
			appendStringInfoString(&s, "null");
		appendStringInfoString(&s, ",\"committer\":");
		if (g->committer_principal)
		{
			appendStringInfoString(&s, "{\"principal\":");
			escape_json(&s, g->committer_principal);
			appendStringInfoString(&s, ",\"client_id\":");
			escape_json(&s, g->committer_client_id);
			appendStringInfoChar(&s, '}');
		}
		else
			appendStringInfoString(&s, "null");
		appendStringInfoString(&s, ",\"members\":[");
		dlist_foreach(iter, &g->members)
		{
			Member	   *m = dlist_container(Member, node, iter.cur);

			appendStringInfoString(&s, mfirst ? "{\"member_id\":" : ",{\"member_id\":");
			mfirst = false;
			escape_json(&s, m->member_id);
			appendStringInfoString(&s, ",\"instance_id\":");
			if (m->instance_id)
				escape_json(&s, m->instance_id);
			else
				appendStringInfoString(&s, "null");
			appendStringInfoString(&s, ",\"client_id\":");
			escape_json(&s, m->client_id);
			appendStringInfoString(&s, ",\"client_host\":");
			escape_json(&s, m->client_host);
			appendStringInfoString(&s, ",\"principal\":");
			escape_json(&s, m->principal ? m->principal : "");
			appendStringInfo(&s, ",\"session_timeout_ms\":%d,\"assignment\":", m->session_timeout_ms);
			if (g->protocol_type && strcmp(g->protocol_type, "consumer") == 0)
				assignment_json(&s, m->assignment, m->assignment_len);
			else
				appendStringInfoString(&s, "[]");
			appendStringInfoString(&s, ",\"subscription\":");
			if (g->protocol_type && strcmp(g->protocol_type, "consumer") == 0)
				member_subscription_json(&s, g, m);
			else
				appendStringInfoString(&s, "[]");
			appendStringInfoChar(&s, '}');
		}
		nagare_consumer_group_members_json(&s, g, &mfirst);
		appendStringInfoString(&s, "]}");
	}
	appendStringInfoChar(&s, ']');
	if (s.len >= NAGARE_GROUP_SNAPSHOT_SIZE)
	{
		/* too many groups to show: say so rather than cut JSON in half */
		resetStringInfo(&s);
		appendStringInfoString(&s, "[{\"group\":\"(too many groups to show)\",\"state\":null,"
							   "\"generation\":null,\"protocol_type\":null,\"protocol\":null,"
							   "\"leader\":null,\"members\":[]}]");
	}
	pg_atomic_fetch_add_u32(&nagare_groups->snapshot_seq, 1);	/* odd: writing */
	pg_write_barrier();
	memcpy(nagare_groups->snapshot, s.data, s.len + 1);
	nagare_groups->snapshot_len = s.len;
	pg_write_barrier();
	pg_atomic_fetch_add_u32(&nagare_groups->snapshot_seq, 1);	/* even: done */
	pg_atomic_write_u32(&nagare_groups->ngroups,
						(uint32) hash_get_num_entries(nagare_group_table()));
	pfree(s.data);
}

/*
 * The answer to a list of the groups that have committed offsets.  Each
 * listed group exists (Empty if the broker did not know it): after a
 * restart, as Kafka loads its groups from __consumer_offsets, and when
 * offsets were written from SQL.  Then, as the list was asked for, Empty
 * groups it did not name are forgotten: those Empty for longer than
 * nagare.empty_group_retention, or (after lost notices) all that were Empty
 * before the list was asked for.
 */
static void
groups_listed(void *arg, const char *sqlstate, const char *data, uint32 len)
{
	int purpose = (int) (uintptr_t) arg;
	const uint8 *p = (const uint8 *) data;
	const uint8 *end = p + len;
	TimestampTz now = GetCurrentTimestamp();
	HASH_SEQ_STATUS status;
	Group *g;
	int forgotten = 0;
	int32		n;
	int			i;

	list_in_flight = false;
	/* e.g. before CREATE EXTENSION: tried again later, quietly */
	if (!nagare_channel_succeeded(sqlstate) || len < 4)
		return;
	list_round++;
	n = (int32) kafka_load_be32(p);
	p += 4;
	for (i = 0; i < n && end - p >= 2; i++)
	{
		int			l = kafka_load_be16(p);
		KafkaStr	name;

		p += 2;
		if (end - p < l)
			break;
		name.ptr = (const char *) p;
		name.len = l;
		g = nagare_group_find(name);
		if (g == NULL)
			g = nagare_group_get(name); /* it has offsets: never refused */
		if (g != NULL)
		{
			g->listed = list_round;
			/* it has offsets: not to be expired before another retention */
			if (g->empty_since != 0)
				g->empty_since = now;
		}
		p += l;
	}
	if (purpose & (LIST_EXPIRE | LIST_RECONCILE))
	{
		hash_seq_init(&status, nagare_group_table());
		while ((g = hash_seq_search(&status)) != NULL)
		{
			if (g->listed == list_round || !nagare_group_is_empty(g) || g->empty_since == 0)
				continue;
			if (((purpose & LIST_RECONCILE) && g->empty_since < list_submitted_at) ||
				now >= TimestampTzPlusMilliseconds(g->empty_since,
												   nagare_empty_group_retention_ms))
			{
				nagare_group_remove(g); /* dynahash: the current entry may go */
				forgotten++;
			}
		}
		if (forgotten > 0)
			ereport(LOG,
					(errmsg("nagare broker: forgot %d empty consumer group(s) with no committed offsets",
							forgotten)));
	}
	if (purpose & LIST_LOAD)
		groups_loaded = true;
	if (purpose & LIST_RECONCILE)
	{
		reconcile_wanted = false;
		nagare_group_publish_snapshot();
		nagare_group_snapshot_dirty = false;
		pg_atomic_write_u64(&nagare_groups->notice_done, notices_handled);
	}
	nagare_group_snapshot_dirty = true;
}

/* Ask the worker for the groups with committed offsets, for purpose */
static void
list_groups(TimestampTz now, int purpose)
{
	if (list_in_flight)
		return;
	if (!groups_loaded)
		purpose |= LIST_LOAD;
	if (reconcile_wanted)
		purpose |= LIST_RECONCILE;
	list_in_flight = nagare_group_submit(NAGARE_GROUP_LIST, "{}", 2, groups_listed,
										 (void *) (uintptr_t) purpose);
	list_submitted_at = now;
}

/*
 * Each loop turn: learn the groups with committed offsets, until the worker
 * has answered once (asked again after 250 ms, doubling to every 5 seconds:
 * until it answers, ListGroups and DescribeGroups say
 * COORDINATOR_LOAD_IN_PROGRESS), and reconcile after lost notices.
 */
void
nagare_group_load_committed(TimestampTz now)
{
	static TimestampTz next_list_try = 0;
	static int	load_backoff_ms = 250;

	if ((!groups_loaded || reconcile_wanted) && now >= next_list_try)
	{
		list_groups(now, 0);
		next_list_try =
			TimestampTzPlusMilliseconds(now, groups_loaded ? 1000 : load_backoff_ms);
		load_backoff_ms = Min(load_backoff_ms * 2, 5000);
	}
}

/*
 * From the group timers: some Empty group has been Empty for
 * nagare.empty_group_retention (due).  The worker says which of them have
 * committed offsets; the others are forgotten.  At most once every tenth of
 * the retention (and at least a second apart): each list reads the whole
 * of nagare.group_offset.
 */
void
nagare_group_expire(TimestampTz now, bool due)
{
	static TimestampTz next_try = 0;

	if (due && groups_loaded && now >= next_try)
	{
		list_groups(now, LIST_EXPIRE);
		next_try =
			TimestampTzPlusMilliseconds(now,
										Max(1000, nagare_empty_group_retention_ms / 10));
	}
}

/*
 * Each loop turn: the notices of transactions that deleted groups or
 * created their offsets from SQL (shmem.h).  A deleted group is forgotten if
 * it is empty (a member that joined since keeps it); a created one is known
 * from now on (SQL checked nagare.max_groups).  The snapshot is rewritten
 * before the notices are marked done, so the committing backend, which waits
 * for that, sees the change in nagare.consumer_groups.
 */
void
nagare_group_take_notices(void)
{
	NagareGroupNotice notices[NAGARE_GROUP_NOTICES];
	uint64 ticket;
	bool overflow;
	int n;
	int i;

	if (pg_atomic_read_u64(&nagare_groups->notice_ticket) == notices_handled)
		return;
	SpinLockAcquire(&nagare_groups->notice_mutex);
	n = nagare_groups->nnotices;
	memcpy(notices, nagare_groups->notices, sizeof(NagareGroupNotice) * n);
	nagare_groups->nnotices = 0;
	overflow = nagare_groups->notice_overflow;
	nagare_groups->notice_overflow = false;
	ticket = pg_atomic_read_u64(&nagare_groups->notice_ticket);
	SpinLockRelease(&nagare_groups->notice_mutex);
	notices_handled = ticket;

	for (i = 0; i < n; i++)
	{
		KafkaStr name = kafka_str(notices[i].name);
		Group *g = nagare_group_find(name);

		if (notices[i].op == NAGARE_GROUP_NOTICE_DELETED)
		{
			if (g != NULL && nagare_group_is_empty(g))
				nagare_group_remove(g);
		}
		else if (g == NULL)
			(void) nagare_group_get(name);
	}
	if (overflow)
	{
		ereport(LOG,
				(errmsg(
					"nagare broker: notices of consumer groups changed from SQL were lost; reading nagare.group_offset again")));
		reconcile_wanted = true;
	}
	nagare_group_publish_snapshot();
	nagare_group_snapshot_dirty = false;
	if (!reconcile_wanted)
		pg_atomic_write_u64(&nagare_groups->notice_done, ticket);
}

/*---- committed offsets for the lag in /metrics ----*/

/* The shared table of committed offsets must be rewritten */
bool nagare_group_offsets_dirty = true;

/* A committed offset the broker saw stored (OffsetCommit) or read (OffsetFetch) */
void
nagare_group_note_offset(Group *g, int32 topic_id, int32 partition, int64 offset)
{
	GroupOffsetKey key;
	GroupOffset *o;
	bool found;

	if (g->offsets == NULL)
	{
		HASHCTL ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(GroupOffsetKey);
		ctl.entrysize = sizeof(GroupOffset);
		ctl.hcxt = TopMemoryContext; /* not g->cxt: an Empty group resets it */
		g->offsets = hash_create("nagare group offsets", 16, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.topic_id = topic_id;
	key.partition = partition;
	o = hash_search(g->offsets, &key, HASH_ENTER, &found);
	if (!found || o->offset != offset)
		nagare_group_offsets_dirty = true;
	o->offset = offset;
}

/* Offsets deleted (OffsetDelete): unknown until the group commits or fetches again */
void
nagare_group_forget_offsets(Group *g)
{
	if (g->offsets == NULL)
		return;
	hash_destroy(g->offsets);
	g->offsets = NULL;
	nagare_group_offsets_dirty = true;
}

/*
 * Rewrite the shared table of committed offsets (shmem.h,
 * NagareGroupOffsetShared) from the groups' (from the group timers, at
 * most every 100 ms, when one changed).  Rows past the table's size are
 * counted, not kept.  web/metrics.c reads it under its seqlock and
 * computes the lag with the high watermarks of the partition table.
 */
void
nagare_group_publish_offsets(void)
{
	NagareGroupOffsetShared *t = nagare_group_offsets;
	HASH_SEQ_STATUS status;
	Group *g;
	int n = 0;
	uint32 dropped = 0;

	nagare_group_offsets_dirty = false;
	if (t == NULL)
		return;
	pg_atomic_fetch_add_u32(&t->seq, 1); /* odd: writing */
	pg_write_barrier();
	hash_seq_init(&status, nagare_group_table());
	while ((g = hash_seq_search(&status)) != NULL)
	{
		HASH_SEQ_STATUS ostatus;
		GroupOffset *o;

		if (g->offsets == NULL)
			continue;
		hash_seq_init(&ostatus, g->offsets);
		while ((o = hash_seq_search(&ostatus)) != NULL)
		{
			NagareGroupOffsetRow *r;

			if (n >= t->max)
			{
				dropped++;
				continue;
			}
			r = &t->rows[n++];
			strlcpy(r->group, g->name, sizeof(r->group));
			r->topic_id = o->key.topic_id;
			r->partition = o->key.partition;
			r->committed = o->offset;
		}
	}
	t->n = n;
	t->dropped = dropped;
	pg_write_barrier();
	pg_atomic_fetch_add_u32(&t->seq, 1); /* even: done */
}
