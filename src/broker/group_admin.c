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
 * Kafka loads its groups from __consumer_offsets.  DeleteGroups forgets an
 * empty group and has the worker delete its committed offsets.
 *
 * The broker publishes its groups as JSON in shared memory (shmem.h,
 * NagareGroupShared: a seqlock'd snapshot), rewritten in the loop turn after
 * anything in it changed (nagare_group_snapshot_dirty), for the SQL views
 * nagare.consumer_groups and nagare.group_members (sql/status.c).
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
static bool groups_loading = false;

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

		for (k = 0; k < req->StatesFilterCount; k++)
			if (kafka_str_eq(req->StatesFilter[k], state_names[g->state]))
				wanted = true;
		if (req->TypesFilterCount > 0)
		{
			bool		classic = false;

			for (k = 0; k < req->TypesFilterCount; k++)
				if (req->TypesFilter[k].len == 7 && pg_strncasecmp(req->TypesFilter[k].ptr, "classic", 7) == 0)
					classic = true;
			wanted = wanted && classic;
		}
		if (!wanted || (!all && !nagare_authorized_quiet(conn, KAFKA_RESOURCE_GROUP, g->name,
														  strlen(g->name), KAFKA_ACL_DESCRIBE)))
			continue;
		resp.Groups[n].GroupId = kafka_str(g->name);
		resp.Groups[n].ProtocolType = kafka_str(g->protocol_type ? g->protocol_type : "");
		resp.Groups[n].GroupState = kafka_str(state_names[g->state]);
		resp.Groups[n].GroupType = kafka_str("classic");
		n++;
	}
	resp.GroupsCount = n;
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
			d->ErrorCode = req->Groups[i].len <= 0 ? KAFKA_ERROR_INVALID_GROUP_ID : KAFKA_ERROR_NONE;
			d->GroupState = kafka_str("Dead");
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
		if (g != NULL && (g->nmembers > 0 || !dlist_is_empty(&g->pending)))
		{
			dw->errors[i] = KAFKA_ERROR_NON_EMPTY_GROUP;
			continue;
		}
		it = MemoryContextAllocZero(cxt, sizeof(DeleteItem));
		it->dw = dw;
		it->index = i;
		it->known = (g != NULL);
		if (g != NULL)
		{
			MemoryContextDelete(g->cxt);
			hash_search(nagare_group_table(), key, HASH_REMOVE, NULL);
			nagare_group_snapshot_dirty = true;
		}
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
						 state_names[g->state], g->generation);
		if (g->protocol_type)
			escape_json(&s, g->protocol_type);
		else
			appendStringInfoString(&s, "null");
		appendStringInfoString(&s, ",\"protocol\":");
		if (g->protocol && g->state != GROUP_EMPTY)
			escape_json(&s, g->protocol);
		else
			appendStringInfoString(&s, "null");
		appendStringInfoString(&s, ",\"leader\":");
		if (g->leader)
			escape_json(&s, g->leader);
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
			appendStringInfo(&s, ",\"session_timeout_ms\":%d,\"assignment\":", m->session_timeout_ms);
			if (g->protocol_type && strcmp(g->protocol_type, "consumer") == 0)
				assignment_json(&s, m->assignment, m->assignment_len);
			else
				appendStringInfoString(&s, "[]");
			appendStringInfoChar(&s, '}');
		}
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
	pfree(s.data);
}

/*
 * The groups that have committed offsets exist (Empty) after a restart, as
 * Kafka loads them from __consumer_offsets: ListGroups and DescribeGroups
 * show them.
 */
static void
groups_listed(void *arg, const char *sqlstate, const char *data, uint32 len)
{
	const uint8 *p = (const uint8 *) data;
	const uint8 *end = p + len;
	int32		n;
	int			i;

	groups_loading = false;
	/* e.g. before CREATE EXTENSION: tried again later, quietly */
	if (!nagare_channel_succeeded(sqlstate) || len < 4)
		return;
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
		if (nagare_group_find(name) == NULL)
			(void) nagare_group_get(name);
		p += l;
	}
	groups_loaded = true;
	nagare_group_snapshot_dirty = true;
}

/*
 * Each loop turn: ask the worker for the groups with committed offsets,
 * until it has answered once (every 5 seconds until then).
 */
void
nagare_group_load_committed(TimestampTz now)
{
	static TimestampTz next_list_try = 0;

	if (!groups_loaded && !groups_loading && now >= next_list_try)
	{
		groups_loading = nagare_group_submit(NAGARE_GROUP_LIST, "{}", 2, groups_listed, NULL);
		next_list_try = TimestampTzPlusMilliseconds(now, 5000);
	}
}
