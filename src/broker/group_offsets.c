/*-------------------------------------------------------------------------
 *
 * group_offsets.c
 *	  Consumer groups' committed offsets: OffsetCommit, OffsetFetch and
 *	  OffsetDelete, through the nagare worker.
 *
 * Committed offsets are rows of nagare.group_offset, which the broker,
 * having no database connection, reads and writes through the nagare
 * worker (worker/offsets.c): each request becomes a request in the channel
 * to the worker (queue/channel.h, payloads in shmem.h), and the client is
 * answered when the worker's answer comes back, or with REQUEST_TIMED_OUT
 * after nagare.request_timeout.  A full channel fails the request with
 * COORDINATOR_NOT_AVAILABLE, which clients retry.
 *
 * OffsetCommit is answered when the worker's transaction holding it
 * committed, and commits that reach the worker together share one
 * transaction.  OffsetFetch reads the table the same way, so offsets
 * changed from SQL are what consumers see next.  The membership checks
 * (member id, generation) are the group's (group.c).
 *
 * OffsetCommit v10 and OffsetFetch v10 name topics by id (KIP-848), resolved
 * through the broker's topic map as in Fetch v13+: an id no topic has, or
 * one of a topic the principal may not DESCRIBE, is UNKNOWN_TOPIC_ID; then
 * the same ACL checks on the topic's name as for a name.  The worker sees
 * names only.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/ilist.h"
#include "lib/stringinfo.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "broker/acl_api.h"
#include "broker/errmap.h"
#include "broker/group_internal.h"
#include "broker/kafka_api.h"
#include "broker/topicmap.h"
#include "kafka/byteorder.h"
#include "nagare.h"

#define MAX_METADATA_BYTES	4096	/* Kafka's offset.metadata.max.bytes */

/*---- requests to the worker ----*/

/*
 * Ask the nagare worker (payload in shmem.h): cb gets its answer, or none
 * after nagare.request_timeout.  False if the channel is full.
 */
bool
nagare_group_submit(NagareChannelKind kind, const char *payload, uint32 len,
					NagareChannelCallback cb, void *arg)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   nagare_request_timeout_ms);

	return nagare_channel_submit(kind, payload, len, deadline, cb, arg);
}

/*
 * The Kafka error for the worker's answer (sqlstate NULL: timed out).  A
 * failure the client cannot act on is COORDINATOR_NOT_AVAILABLE, which
 * clients retry.
 */
int16
nagare_group_answer_error(const char *sqlstate)
{
	int16		error;

	if (sqlstate == NULL)
		return KAFKA_ERROR_REQUEST_TIMED_OUT;
	error = nagare_kafka_error_for_sqlstate(sqlstate, KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE);
	if (error != KAFKA_ERROR_NONE)
		ereport(LOG,
				(errmsg("nagare broker: the nagare worker could not store consumer group offsets (SQLSTATE %s)",
						sqlstate)));
	return error;
}

/*---- OffsetCommit ----*/

/* An OffsetCommit waiting for the worker */
typedef struct CommitWait
{
	NagareResponse *resp;
	NagareRequestId id;
	KafkaOffsetCommitResponse body;		/* in the connection's memory */
	/* who commits, kept by the group once stored (Group.committer_*) */
	char group[MAX_GROUP_ID + 1];
	char principal[NAGARE_PRINCIPAL_MAX];
	char *client_id;
	/* what was sent to be stored: noted by the group once stored */
	int ncommitted;
	GroupOffsetKey *keys;
	int64 *offsets;
} CommitWait;

/*
 * The group's last committer: a group with no live member keeps the
 * service of who last committed its offsets (nagare.consumer_lag).  Known
 * only from commits through this broker since it started.
 */
static void
note_committer(CommitWait *cw)
{
	Group *g = nagare_group_find(kafka_str(cw->group));
	const char *client_id = cw->client_id ? cw->client_id : "";
	int i;

	if (g == NULL)
		return;
	for (i = 0; i < cw->ncommitted; i++)
		nagare_group_note_offset(g, cw->keys[i].topic_id, cw->keys[i].partition,
								 cw->offsets[i]);
	if (g->committer_principal != NULL &&
		strcmp(g->committer_principal, cw->principal) == 0 &&
		strcmp(g->committer_client_id, client_id) == 0)
		return;
	if (g->committer_principal != NULL)
	{
		pfree(g->committer_principal);
		pfree(g->committer_client_id);
	}
	g->committer_principal = MemoryContextStrdup(TopMemoryContext, cw->principal);
	g->committer_client_id = MemoryContextStrdup(TopMemoryContext, client_id);
	nagare_group_snapshot_dirty = true;
}

static void
commit_done(void *arg, const char *sqlstate, const char *data, uint32 len)
{
	CommitWait *cw = arg;
	int16		err = nagare_group_answer_error(sqlstate);
	int			t;
	int			p;

	if (err == KAFKA_ERROR_NONE && cw->group[0] != '\0')
		note_committer(cw);
	for (t = 0; t < cw->body.TopicsCount; t++)
		for (p = 0; p < cw->body.Topics[t].PartitionsCount; p++)
			if (cw->body.Topics[t].Partitions[p].ErrorCode == KAFKA_ERROR_NONE)
				cw->body.Topics[t].Partitions[p].ErrorCode = err;
	nagare_kafka_response_ready(cw->resp, cw->id, &cw->body, NULL);
	for (t = 0; t < cw->body.TopicsCount; t++)
	{
		pfree((void *) cw->body.Topics[t].Name.ptr);
		pfree(cw->body.Topics[t].Partitions);
	}
	pfree(cw->body.Topics);
	if (cw->client_id)
		pfree(cw->client_id);
	if (cw->keys)
	{
		pfree(cw->keys);
		pfree(cw->offsets);
	}
	pfree(cw);
}

void
nagare_handle_offset_commit(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaOffsetCommitRequest *req = &body->OffsetCommit;
	MemoryContext cxt = nagare_conn_context(conn);
	CommitWait *cw = MemoryContextAllocZero(cxt, sizeof(CommitWait));
	Group	   *g = nagare_group_find(req->GroupId);
	int16		group_err = KAFKA_ERROR_NONE;
	StringInfoData json;
	bool		any = false;
	int			t;
	int			p;
	char		gname[MAX_GROUP_ID + 1];

	cw->id = nagare_request_id(hdr);
	if (!nagare_authorized_group(conn, req->GroupId, KAFKA_ACL_READ))
		group_err = KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED;
	else if (!nagare_group_key(req->GroupId, gname))
		group_err = KAFKA_ERROR_INVALID_GROUP_ID;
	else if (hdr->RequestApiVersion == 0 || req->GenerationIdOrMemberEpoch < 0)
	{
		/* a consumer outside any group (assign()): only for groups without members */
		if (g != NULL && (g->nmembers > 0 || g->ncmembers > 0))
			group_err = KAFKA_ERROR_UNKNOWN_MEMBER_ID;
		else if (g == NULL)
		{
			bool full;

			/* the group exists from now on (Empty), as in Kafka, within
			 * nagare.max_groups */
			if (nagare_group_get_bounded(req->GroupId, &full) == NULL)
				group_err = KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
		}
	}
	else
	{
		Member	   *m;

		if (g != NULL && g->consumer) /* KIP-848: the member's epoch */
			group_err = nagare_consumer_commit_error(g, req->MemberId,
													 req->GenerationIdOrMemberEpoch);
		else if (g == NULL || g->nmembers == 0)
		{
			/* a generation of a group that does not exist (any more): Kafka's answers */
			group_err = hdr->RequestApiVersion >= 9 && g == NULL ? KAFKA_ERROR_GROUP_ID_NOT_FOUND :
				KAFKA_ERROR_ILLEGAL_GENERATION;
		}
		else if ((group_err = nagare_group_member_error(g, req->MemberId, req->GroupInstanceId, &m)) != KAFKA_ERROR_NONE)
			;
		else if (req->GenerationIdOrMemberEpoch != g->generation)
			group_err = KAFKA_ERROR_ILLEGAL_GENERATION;
		else if (g->state == GROUP_COMPLETING)
		{
			/* Kafka stores commits in Stable and PreparingRebalance (a member
			 * commits what it processed when its partitions are revoked) */
			group_err = KAFKA_ERROR_REBALANCE_IN_PROGRESS;
		}
		else
			m->last_heartbeat = GetCurrentTimestamp();
	}

	initStringInfo(&json);
	appendStringInfoChar(&json, '[');
	{
		int total = 0;

		for (t = 0; t < req->TopicsCount; t++)
			total += Max(req->Topics[t].PartitionsCount, 0);
		cw->keys = MemoryContextAllocZero(cxt, sizeof(GroupOffsetKey) * Max(total, 1));
		cw->offsets = MemoryContextAllocZero(cxt, sizeof(int64) * Max(total, 1));
	}
	cw->body.TopicsCount = req->TopicsCount;
	cw->body.Topics = MemoryContextAllocZero(cxt, sizeof(KafkaOffsetCommitResponseTopic) * Max(req->TopicsCount, 1));
	for (t = 0; t < req->TopicsCount; t++)
	{
		KafkaOffsetCommitRequestTopic *rt = &req->Topics[t];
		KafkaOffsetCommitResponseTopic *ot = &cw->body.Topics[t];
		const BrokerTopic *topic = NULL;
		KafkaStr tname = rt->Name;
		bool unknown_id = false;
		bool denied;
		char	   *name;

		if (hdr->RequestApiVersion >= 10)
		{
			/* by id (v10+): unknown, or not to be known by this client */
			if (group_err == KAFKA_ERROR_NONE)
				topic = nagare_described_topic_by_id(conn, &rt->TopicId);
			unknown_id = group_err == KAFKA_ERROR_NONE && topic == NULL;
			tname = kafka_str(topic ? topic->name : "");
			ot->TopicId = rt->TopicId;
		}
		denied = group_err == KAFKA_ERROR_NONE && !unknown_id &&
				 !nagare_authorized_topic(conn, tname, KAFKA_ACL_READ);
		if (denied)
			topic = NULL;
		else if (hdr->RequestApiVersion < 10)
			topic = nagare_broker_topic(tname.ptr, tname.len);
		ot->Name = nagare_kstr_copy(cxt, tname);
		name = (char *) ot->Name.ptr;
		ot->PartitionsCount = rt->PartitionsCount;
		ot->Partitions = MemoryContextAllocZero(cxt, sizeof(KafkaOffsetCommitResponsePartition) *
												Max(rt->PartitionsCount, 1));
		for (p = 0; p < rt->PartitionsCount; p++)
		{
			KafkaOffsetCommitRequestPartition *rp = &rt->Partitions[p];
			KafkaOffsetCommitResponsePartition *op = &ot->Partitions[p];

			op->PartitionIndex = rp->PartitionIndex;
			if (group_err != KAFKA_ERROR_NONE)
				op->ErrorCode = group_err;
			else if (unknown_id)
				op->ErrorCode = KAFKA_ERROR_UNKNOWN_TOPIC_ID;
			else if (denied)
				op->ErrorCode = KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED;
			else if (topic == NULL || rp->PartitionIndex < 0 || rp->PartitionIndex >= topic->partitions)
				op->ErrorCode = KAFKA_ERROR_UNKNOWN_TOPIC_OR_PARTITION;
			else if (rp->CommittedMetadata.len > MAX_METADATA_BYTES)
				op->ErrorCode = KAFKA_ERROR_OFFSET_METADATA_TOO_LARGE;
			else
			{
				char	   *meta = NULL;

				op->ErrorCode = KAFKA_ERROR_NONE;
				appendStringInfoString(&json, any ? ",{\"g\":" : "{\"g\":");
				escape_json(&json, gname);
				appendStringInfoString(&json, ",\"t\":");
				escape_json(&json, name);
				appendStringInfo(&json, ",\"p\":%d,\"o\":" INT64_FORMAT ",\"e\":%d,\"m\":",
								 rp->PartitionIndex, rp->CommittedOffset,
								 hdr->RequestApiVersion >= 6 ? rp->CommittedLeaderEpoch : -1);
				if (rp->CommittedMetadata.len < 0)
					appendStringInfoString(&json, "null");
				else
				{
					meta = pnstrdup(rp->CommittedMetadata.ptr, rp->CommittedMetadata.len);
					escape_json(&json, meta);
					pfree(meta);
				}
				appendStringInfoChar(&json, '}');
				any = true;
				cw->keys[cw->ncommitted].topic_id = topic->topic_id;
				cw->keys[cw->ncommitted].partition = rp->PartitionIndex;
				cw->offsets[cw->ncommitted++] = rp->CommittedOffset;
			}
		}
	}
	appendStringInfoChar(&json, ']');
	cw->resp = nagare_conn_new_response(conn);
	if (any)
	{
		strlcpy(cw->group, gname, sizeof(cw->group));
		strlcpy(cw->principal, nagare_conn_identity(conn)->principal,
				sizeof(cw->principal));
		cw->client_id = (char *) nagare_kstr_copy(cxt, hdr->ClientId).ptr;
	}
	if (!any)
		commit_done(cw, "00000", NULL, 0);
	else if (!nagare_group_submit(NAGARE_GROUP_OFFSET_COMMIT, json.data, json.len, commit_done, cw))
		commit_done(cw, "53000", NULL, 0);	/* channel full: clients retry */
	pfree(json.data);
}

/* An OffsetFetch waiting for the worker: one job per group */
typedef struct FetchGroup
{
	struct FetchWait *fw;
	char	   *group;
	int32		ntopics;		/* -1: all topics */
	char	  **topics;
	int32	   *npartitions;
	int32	  **partitions;
	KafkaUuid *ids; /* v10+: each topic's id as asked, or NULL */
	bool *unknown_ids; /* v10+: the id is UNKNOWN_TOPIC_ID */
	/* result */
	int16		error;
	char	   *rows;
	uint32		len;
} FetchGroup;

typedef struct FetchWait
{
	NagareResponse *resp;
	NagareRequestId id;
	int			ngroups;
	FetchGroup *groups;
	int			outstanding;
} FetchWait;

static void fetch_respond(FetchWait *fw);

static void
fetch_group_done(void *arg, const char *sqlstate, const char *data, uint32 len)
{
	FetchGroup *fg = arg;

	fg->error = nagare_group_answer_error(sqlstate);
	if (fg->error == KAFKA_ERROR_NONE && len > 0)
	{
		fg->rows = palloc(len);
		memcpy(fg->rows, data, len);
		fg->len = len;
	}
	if (--fg->fw->outstanding == 0)
		fetch_respond(fg->fw);
}

/* Read the result rows of a group's fetch: call fn for each */
typedef struct OffsetRow
{
	char		topic[NAGARE_MAX_TOPIC_NAME + 1];
	int32		partition;
	int64		offset;
	int32		epoch;
	char	   *metadata;		/* NULL if null */
} OffsetRow;

/*
 * What OffsetFetch read from the table is what is committed now: the group
 * knows it for the lag in /metrics (after a restart, or offsets reset from
 * SQL, a consumer's OffsetFetch tells the broker).
 */
static void
learn_rows(FetchGroup *fg, OffsetRow *rows, int n)
{
	Group *g = fg->group ? nagare_group_find(kafka_str(fg->group)) : NULL;
	int i;

	if (g == NULL)
		return;
	for (i = 0; i < n; i++)
	{
		const BrokerTopic *t = nagare_broker_topic(rows[i].topic, strlen(rows[i].topic));

		if (t != NULL && rows[i].partition >= 0 && rows[i].partition < t->partitions)
			nagare_group_note_offset(g, t->topic_id, rows[i].partition, rows[i].offset);
	}
}

static int
parse_rows(FetchGroup *fg, OffsetRow **out)
{
	const uint8 *p = (const uint8 *) fg->rows;
	const uint8 *end = p + fg->len;
	int32		n;
	int			i;
	OffsetRow  *rows;

#define NEED(k) do { if (end - p < (k)) return i; } while (0)
	*out = NULL;
	if (fg->rows == NULL || fg->len < 4)
		return 0;
	n = (int32) kafka_load_be32(p);
	p += 4;
	rows = palloc0(sizeof(OffsetRow) * Max(n, 1));
	*out = rows;
	for (i = 0; i < n; i++)
	{
		uint16		tl;
		int32		ml;

		NEED(2);
		tl = kafka_load_be16(p);
		p += 2;
		NEED(tl + 20);
		memcpy(rows[i].topic, p, Min(tl, NAGARE_MAX_TOPIC_NAME));
		p += tl;
		rows[i].partition = (int32) kafka_load_be32(p);
		rows[i].offset = (int64) kafka_load_be64(p + 4);
		rows[i].epoch = (int32) kafka_load_be32(p + 12);
		ml = (int32) kafka_load_be32(p + 16);
		p += 20;
		if (ml >= 0)
		{
			NEED(ml);
			rows[i].metadata = pnstrdup((const char *) p, ml);
			p += ml;
		}
	}
#undef NEED
	learn_rows(fg, rows, n);
	return n;
}

/*
 * The response's topics of one group.  As in Kafka, the topics the client
 * may not DESCRIBE answer TOPIC_AUTHORIZATION_FAILED when named, and are
 * left out of an answer for all the group's topics.
 */
static void
fill_partitions(NagareConn *conn, FetchGroup *fg, OffsetRow *rows, int nrows,
				KafkaOffsetFetchResponseTopic **topics_out, int32 *ntopics_out)
{
	KafkaOffsetFetchResponseTopic *topics;
	int			ntopics = 0;
	int			i;
	int			k;

	if (fg->ntopics >= 0)
	{
		topics = palloc0(sizeof(KafkaOffsetFetchResponseTopic) * Max(fg->ntopics, 1));
		for (i = 0; i < fg->ntopics; i++)
		{
			KafkaOffsetFetchResponseTopic *t = &topics[ntopics++];
			bool unknown_id = fg->unknown_ids != NULL && fg->unknown_ids[i] &&
							  fg->error == KAFKA_ERROR_NONE;
			bool denied = fg->error == KAFKA_ERROR_NONE && !unknown_id &&
						  !nagare_authorized_topic(conn, kafka_str(fg->topics[i]),
												   KAFKA_ACL_DESCRIBE);

			t->Name = kafka_str(fg->topics[i]);
			t->PartitionsCount = fg->npartitions[i];
			t->Partitions = palloc0(sizeof(KafkaOffsetFetchResponsePartition) * Max(fg->npartitions[i], 1));
			for (k = 0; k < fg->npartitions[i]; k++)
			{
				KafkaOffsetFetchResponsePartition *pp = &t->Partitions[k];
				int			r;

				pp->PartitionIndex = fg->partitions[i][k];
				pp->CommittedOffset = -1;
				pp->CommittedLeaderEpoch = -1;
				pp->Metadata = kafka_str("");
				pp->ErrorCode = unknown_id ? KAFKA_ERROR_UNKNOWN_TOPIC_ID
								: denied   ? KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED
										   : fg->error;
				if (denied || unknown_id)
					continue;
				for (r = 0; r < nrows; r++)
					if (strcmp(rows[r].topic, fg->topics[i]) == 0 && rows[r].partition == pp->PartitionIndex)
					{
						pp->CommittedOffset = rows[r].offset;
						pp->CommittedLeaderEpoch = rows[r].epoch;
						pp->Metadata = kafka_str(rows[r].metadata ? rows[r].metadata : "");
					}
			}
		}
	}
	else
	{
		/* every committed partition, grouped by topic (rows are sorted) */
		topics = palloc0(sizeof(KafkaOffsetFetchResponseTopic) * Max(nrows, 1));
		for (i = 0; i < nrows; i++)
		{
			KafkaOffsetFetchResponseTopic *t;
			KafkaOffsetFetchResponsePartition *pp;

			if (!nagare_authorized_quiet(conn, KAFKA_RESOURCE_TOPIC, rows[i].topic,
										 strlen(rows[i].topic), KAFKA_ACL_DESCRIBE))
				continue;
			if (ntopics == 0 || strcmp(topics[ntopics - 1].Name.ptr, rows[i].topic) != 0)
			{
				t = &topics[ntopics++];
				t->Name = kafka_str(rows[i].topic);
				t->Partitions = palloc0(sizeof(KafkaOffsetFetchResponsePartition) * nrows);
			}
			t = &topics[ntopics - 1];
			pp = &t->Partitions[t->PartitionsCount++];
			pp->PartitionIndex = rows[i].partition;
			pp->CommittedOffset = rows[i].offset;
			pp->CommittedLeaderEpoch = rows[i].epoch;
			pp->Metadata = kafka_str(rows[i].metadata ? rows[i].metadata : "");
			pp->ErrorCode = KAFKA_ERROR_NONE;
		}
	}
	*topics_out = topics;
	*ntopics_out = ntopics;
}

static void
fetch_respond(FetchWait *fw)
{
	KafkaOffsetFetchResponse resp;
	MemoryContext old = MemoryContextSwitchTo(nagare_conn_context(fw->resp->conn));
	MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext, "offset fetch", ALLOCSET_SMALL_SIZES);
	int			i;

	MemoryContextSwitchTo(tmp);
	memset(&resp, 0, sizeof(resp));
	if (fw->id.api_version < 8)
	{
		FetchGroup *fg = &fw->groups[0];
		OffsetRow  *rows;
		int			nrows = parse_rows(fg, &rows);

		fill_partitions(fw->resp->conn, fg, rows, nrows, &resp.Topics, &resp.TopicsCount);
		resp.ErrorCode = fg->error;
	}
	else
	{
		resp.GroupsCount = fw->ngroups;
		resp.Groups = palloc0(sizeof(KafkaOffsetFetchResponseGroup) * Max(fw->ngroups, 1));
		for (i = 0; i < fw->ngroups; i++)
		{
			FetchGroup *fg = &fw->groups[i];
			OffsetRow  *rows;
			int			nrows = parse_rows(fg, &rows);
			KafkaOffsetFetchResponseTopic *topics;
			int32		ntopics;
			int			t;

			resp.Groups[i].GroupId = kafka_str(fg->group);
			resp.Groups[i].ErrorCode = fg->error;
			fill_partitions(fw->resp->conn, fg, rows, nrows, &topics, &ntopics);
			/* the v8 structs mirror the v0-7 ones */
			resp.Groups[i].Topics = palloc0(sizeof(KafkaOffsetFetchResponseTopics) * Max(ntopics, 1));
			for (t = 0; t < ntopics; t++)
			{
				KafkaOffsetFetchResponseTopics *d_t =
					&resp.Groups[i].Topics[resp.Groups[i].TopicsCount];
				int			k;

				if (fw->id.api_version >= 10)
				{
					/* by id: as asked, or else the topic's now (one
					 * deleted since its commits has none: left out) */
					if (fg->ids != NULL)
						d_t->TopicId = fg->ids[t];
					else
					{
						const BrokerTopic *bt =
							nagare_broker_topic(topics[t].Name.ptr, topics[t].Name.len);

						if (bt == NULL)
							continue;
						d_t->TopicId = bt->uuid;
					}
				}
				resp.Groups[i].TopicsCount++;
				d_t->Name = topics[t].Name;
				d_t->PartitionsCount = topics[t].PartitionsCount;
				d_t->Partitions = palloc0(sizeof(KafkaOffsetFetchResponsePartitions) *
										  Max(topics[t].PartitionsCount, 1));
				for (k = 0; k < topics[t].PartitionsCount; k++)
				{
					KafkaOffsetFetchResponsePartitions *d = &d_t->Partitions[k];
					KafkaOffsetFetchResponsePartition *s = &topics[t].Partitions[k];

					d->PartitionIndex = s->PartitionIndex;
					d->CommittedOffset = s->CommittedOffset;
					d->CommittedLeaderEpoch = s->CommittedLeaderEpoch;
					d->Metadata = s->Metadata;
					d->ErrorCode = s->ErrorCode;
				}
			}
		}
	}
	nagare_kafka_response_ready(fw->resp, fw->id, &resp, NULL);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(tmp);
	for (i = 0; i < fw->ngroups; i++)
		if (fw->groups[i].rows)
			pfree(fw->groups[i].rows);
	/* the rest of fw is in the connection's memory and goes with it */
}

/* Set up one group's fetch from a request's topics (ntopics -1: all) */
static void
fetch_group_init(FetchWait *fw, FetchGroup *fg, MemoryContext cxt, KafkaStr group,
				 int32 ntopics, KafkaStr *names, int32 *counts, int32 **indexes, bool denied)
{
	StringInfoData json;
	int			i;

	fg->fw = fw;
	fg->group = (char *) nagare_kstr_copy(cxt, group).ptr;
	fg->ntopics = ntopics;
	if (ntopics > 0)
	{
		fg->topics = MemoryContextAlloc(cxt, sizeof(char *) * ntopics);
		fg->npartitions = MemoryContextAlloc(cxt, sizeof(int32) * ntopics);
		fg->partitions = MemoryContextAlloc(cxt, sizeof(int32 *) * ntopics);
		for (i = 0; i < ntopics; i++)
		{
			fg->topics[i] = (char *) nagare_kstr_copy(cxt, names[i]).ptr;
			fg->npartitions[i] = Max(counts[i], 0);
			fg->partitions[i] = MemoryContextAlloc(cxt, sizeof(int32) * Max(counts[i], 1));
			if (counts[i] > 0)
				memcpy(fg->partitions[i], indexes[i], sizeof(int32) * counts[i]);
		}
	}

	fw->outstanding++;
	if (denied || group.len <= 0)
	{
		fg->error = denied ? KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED : KAFKA_ERROR_INVALID_GROUP_ID;
		fw->outstanding--;
		return;
	}
	initStringInfo(&json);
	appendStringInfoString(&json, "{\"g\":");
	escape_json(&json, fg->group);
	appendStringInfoString(&json, ",\"t\":");
	if (ntopics < 0)
		appendStringInfoString(&json, "null");
	else
	{
		appendStringInfoChar(&json, '[');
		for (i = 0; i < ntopics; i++)
		{
			if (i > 0)
				appendStringInfoChar(&json, ',');
			escape_json(&json, fg->topics[i]);
		}
		appendStringInfoChar(&json, ']');
	}
	appendStringInfoChar(&json, '}');
	if (ntopics == 0)
	{
		/* nothing asked: nothing to read */
		fw->outstanding--;
	}
	else if (!nagare_group_submit(NAGARE_GROUP_OFFSET_FETCH, json.data, json.len, fetch_group_done, fg))
	{
		fg->error = KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
		fw->outstanding--;
	}
	pfree(json.data);
}

void
nagare_handle_offset_fetch(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaOffsetFetchRequest *req = &body->OffsetFetch;
	MemoryContext cxt = nagare_conn_context(conn);
	FetchWait  *fw = MemoryContextAllocZero(cxt, sizeof(FetchWait));
	int			i;
	int			t;

	fw->id = nagare_request_id(hdr);
	fw->resp = nagare_conn_new_response(conn);
	fw->outstanding = 1;		/* until all are submitted */
	if (hdr->RequestApiVersion < 8)
	{
		int32		n = req->TopicsCount;
		KafkaStr   *names = palloc(sizeof(KafkaStr) * Max(n, 1));
		int32	   *counts = palloc(sizeof(int32) * Max(n, 1));
		int32	  **idx = palloc(sizeof(int32 *) * Max(n, 1));

		for (t = 0; t < n; t++)
		{
			names[t] = req->Topics[t].Name;
			counts[t] = req->Topics[t].PartitionIndexesCount;
			idx[t] = req->Topics[t].PartitionIndexes;
		}
		fw->ngroups = 1;
		fw->groups = MemoryContextAllocZero(cxt, sizeof(FetchGroup));
		fetch_group_init(fw, &fw->groups[0], cxt, req->GroupId, n, names, counts, idx,
						 !nagare_authorized_group(conn, req->GroupId, KAFKA_ACL_DESCRIBE));
	}
	else
	{
		fw->ngroups = req->GroupsCount;
		fw->groups = MemoryContextAllocZero(cxt, sizeof(FetchGroup) * Max(req->GroupsCount, 1));
		for (i = 0; i < req->GroupsCount; i++)
		{
			KafkaOffsetFetchRequestGroup *rg = &req->Groups[i];
			int32		n = rg->TopicsCount;
			KafkaStr   *names = palloc(sizeof(KafkaStr) * Max(n, 1));
			int32	   *counts = palloc(sizeof(int32) * Max(n, 1));
			int32	  **idx = palloc(sizeof(int32 *) * Max(n, 1));

			bool denied = !nagare_authorized_group(conn, rg->GroupId, KAFKA_ACL_DESCRIBE);
			FetchGroup *fg = &fw->groups[i];

			if (hdr->RequestApiVersion >= 10 && n > 0)
			{
				fg->ids = MemoryContextAlloc(cxt, sizeof(KafkaUuid) * n);
				fg->unknown_ids = MemoryContextAllocZero(cxt, sizeof(bool) * n);
			}
			for (t = 0; t < n; t++)
			{
				names[t] = rg->Topics[t].Name;
				counts[t] = rg->Topics[t].PartitionIndexesCount;
				idx[t] = rg->Topics[t].PartitionIndexes;
				if (fg->ids != NULL)
				{
					/* by id (v10+): unknown, or not to be known by this client */
					const BrokerTopic *bt =
						denied
							? NULL
							: nagare_described_topic_by_id(conn, &rg->Topics[t].TopicId);

					fg->ids[t] = rg->Topics[t].TopicId;
					fg->unknown_ids[t] = bt == NULL;
					names[t] = kafka_str(bt ? pstrdup(bt->name) : "");
				}
			}
			fetch_group_init(fw, fg, cxt, rg->GroupId, n, names, counts, idx, denied);
		}
	}
	if (--fw->outstanding == 0)
		fetch_respond(fw);
}


/*---- OffsetDelete ----*/

/* An OffsetDelete waiting for the worker: one request per topic */
typedef struct OffsetDeleteWait
{
	NagareResponse *resp;
	NagareRequestId id;
	int16		error;			/* the group's */
	int			outstanding;
	KafkaOffsetDeleteResponse od;	/* in the connection's memory */
} OffsetDeleteWait;

static void
offset_delete_respond(OffsetDeleteWait *dw)
{
	int			t;
	int			p;

	dw->od.ErrorCode = dw->error;
	for (t = 0; t < dw->od.TopicsCount; t++)
		for (p = 0; p < dw->od.Topics[t].PartitionsCount; p++)
			if (dw->od.Topics[t].Partitions[p].ErrorCode == KAFKA_ERROR_NONE && dw->error)
				dw->od.Topics[t].Partitions[p].ErrorCode = dw->error;
	nagare_kafka_response_ready(dw->resp, dw->id, &dw->od, NULL);
}

static void
offset_delete_done(void *arg, const char *sqlstate, const char *data, uint32 len)
{
	OffsetDeleteWait *dw = arg;
	int16		err = nagare_group_answer_error(sqlstate);

	if (dw->error == KAFKA_ERROR_NONE)
		dw->error = err;
	if (--dw->outstanding == 0)
		offset_delete_respond(dw);
}

/* Topics in a consumer's subscription (ConsumerProtocolSubscription) */
static bool
subscribed(const uint8 *meta, int32 len, const char *topic)
{
	const uint8 *p = meta;
	const uint8 *end = meta + len;
	int32		n;
	int			i;

	if (len < 6)
		return false;
	p += 2;						/* version */
	n = (int32) kafka_load_be32(p);
	p += 4;
	for (i = 0; i < n; i++)
	{
		uint16		tl;

		if (end - p < 2)
			return false;
		tl = kafka_load_be16(p);
		p += 2;
		if (end - p < tl)
			return false;
		if (tl == strlen(topic) && memcmp(p, topic, tl) == 0)
			return true;
		p += tl;
	}
	return false;
}

void
nagare_handle_offset_delete(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaOffsetDeleteRequest *req = &body->OffsetDelete;
	MemoryContext cxt = nagare_conn_context(conn);
	OffsetDeleteWait *dw = MemoryContextAllocZero(cxt, sizeof(OffsetDeleteWait));
	Group	   *g = nagare_group_find(req->GroupId);
	char		key[MAX_GROUP_ID + 1];
	int			t;
	int			p;

	dw->id = nagare_request_id(hdr);
	dw->resp = nagare_conn_new_response(conn);
	dw->outstanding = 1;
	dw->od.TopicsCount = req->TopicsCount;
	dw->od.Topics = MemoryContextAllocZero(cxt, sizeof(KafkaOffsetDeleteResponseTopic) * Max(req->TopicsCount, 1));
	if (!nagare_authorized_group(conn, req->GroupId, KAFKA_ACL_DELETE))
		dw->error = KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED;
	else if (!nagare_group_key(req->GroupId, key))
		dw->error = KAFKA_ERROR_INVALID_GROUP_ID;
	for (t = 0; t < req->TopicsCount; t++)
	{
		KafkaOffsetDeleteRequestTopic *rt = &req->Topics[t];
		KafkaOffsetDeleteResponseTopic *ot = &dw->od.Topics[t];
		char	   *name = (char *) nagare_kstr_copy(cxt, rt->Name).ptr;
		bool		busy = false;
		bool		denied;
		StringInfoData json;

		ot->Name = kafka_str(name);
		ot->PartitionsCount = rt->PartitionsCount;
		ot->Partitions = MemoryContextAllocZero(cxt, sizeof(KafkaOffsetDeleteResponsePartition) *
												Max(rt->PartitionsCount, 1));
		if (g != NULL && g->protocol)
		{
			dlist_iter	iter;

			dlist_foreach(iter, &g->members)
			{
				Member	   *m = dlist_container(Member, node, iter.cur);
				int			k;

				for (k = 0; k < m->nprotocols; k++)
					if (strcmp(m->protocols[k].name, g->protocol) == 0 &&
						subscribed(m->protocols[k].metadata, m->protocols[k].len, name))
						busy = true;
			}
		}
		denied = !dw->error && !nagare_authorized_topic(conn, rt->Name, KAFKA_ACL_READ);
		for (p = 0; p < rt->PartitionsCount; p++)
		{
			ot->Partitions[p].PartitionIndex = rt->Partitions[p].PartitionIndex;
			ot->Partitions[p].ErrorCode = denied ? KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED :
				busy ? KAFKA_ERROR_GROUP_SUBSCRIBED_TO_TOPIC : KAFKA_ERROR_NONE;
		}
		if (denied || busy || dw->error || rt->PartitionsCount == 0)
			continue;
		/* the lag in /metrics forgets the group's offsets until it commits again */
		if (g != NULL)
			nagare_group_forget_offsets(g);
		initStringInfo(&json);
		appendStringInfoString(&json, "{\"g\":");
		escape_json(&json, key);
		appendStringInfoString(&json, ",\"t\":");
		escape_json(&json, name);
		appendStringInfoString(&json, ",\"p\":[");
		for (p = 0; p < rt->PartitionsCount; p++)
			appendStringInfo(&json, "%s%d", p ? "," : "", rt->Partitions[p].PartitionIndex);
		appendStringInfoChar(&json, ']');
		nagare_audit_client_member(&json, conn, hdr);
		appendStringInfoChar(&json, '}');
		dw->outstanding++;
		if (!nagare_group_submit(NAGARE_GROUP_OFFSET_DELETE, json.data, json.len,
								 offset_delete_done, dw))
		{
			dw->error = KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
			dw->outstanding--;
		}
		pfree(json.data);
	}
	if (--dw->outstanding == 0)
		offset_delete_respond(dw);
}

