/*-------------------------------------------------------------------------
 *
 * group_consumer.c
 *	  KIP-848 consumer groups: ConsumerGroupHeartbeat (API key 68) and
 *	  ConsumerGroupDescribe (69), with server-side assignors and
 *	  incremental reconciliation, in the broker's memory.
 *
 * A group is either classic (group.c: JoinGroup/SyncGroup) or consumer
 * (this file): Group.consumer says which.  An empty group takes the type of
 * the first member that joins it; a consumer heartbeat for a classic group
 * with members is GROUP_ID_NOT_FOUND, a classic JoinGroup for a consumer
 * group with members INCONSISTENT_GROUP_PROTOCOL, as Kafka answers.
 *
 * The protocol, as Kafka's GroupMetadataManager and CurrentAssignmentBuilder
 * do it:
 *
 * - A member joins with epoch 0 (a member id of its own from v1, else one
 *   made here), heartbeats with its epoch, leaves with -1 (a static member,
 *   with an instance id, with -2: it keeps its place and partitions for
 *   its session timeout, and a rejoin with the same instance id takes them
 *   over).  Fields the client leaves null did not change.
 * - The group epoch moves when a member joins, leaves or is expired, when a
 *   subscription changes, or when the subscribed topics' partitions change.
 *   Then the target assignment is computed again by the group's assignor
 *   ("uniform", the default: balanced and sticky to the current target;
 *   "range": contiguous ranges of each topic over its subscribers by member
 *   id), and the assignment epoch becomes the group epoch.
 * - Reconciliation, one member at a time, at its heartbeats: a member whose
 *   epoch is behind the assignment epoch first gives up the partitions its
 *   target lacks (they leave its assignment, and are "pending revocation"
 *   until the member stops reporting them as owned, or is expired after its
 *   rebalance timeout); then its epoch becomes the assignment epoch.  A
 *   partition of its target is added to its assignment only once no other
 *   member holds it, assigned or pending revocation: no partition is ever
 *   owned by two members.
 * - A heartbeat with an epoch other than the member's is FENCED_MEMBER_EPOCH
 *   (the previous epoch is accepted when the partitions the member reports
 *   are all in its assignment, as Kafka does for a lost response); a member
 *   that sends no heartbeat for nagare.group_consumer_session_timeout is
 *   removed and its partitions go to others.
 * - OffsetCommit v9+ (group_offsets.c) asks nagare_consumer_commit_error():
 *   the member must exist and commit with its current epoch
 *   (STALE_MEMBER_EPOCH otherwise).
 *
 * Not done: regular expression subscriptions (SubscribedTopicRegex is
 * INVALID_REQUEST), rack-aware assignment, client-side assignors, and
 * classic members inside a consumer group (Kafka 4's online migration).
 * Nothing of a group but its committed offsets survives a broker restart:
 * members get UNKNOWN_MEMBER_ID and join again with epoch 0.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "common/pg_prng.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"

#include "broker/acl_api.h"
#include "broker/group_internal.h"
#include "broker/kafka_api.h"
#include "broker/topicmap.h"
#include "nagare.h"

typedef struct CgTp
{
	KafkaUuid topic;
	int32 partition;
} CgTp;

typedef struct CgSet
{
	int n;
	CgTp *tp; /* sorted by (topic, partition) */
} CgSet;

typedef struct CMember
{
	dlist_node node;
	MemoryContext cxt; /* everything of the member */
	char *member_id;
	char *instance_id; /* NULL unless static */
	char *rack_id;
	char *client_id;
	char *client_host;
	char *principal;
	char *assignor; /* NULL: none asked for */
	int nsubscribed;
	char **subscribed;
	int32 epoch;
	int32 previous_epoch;
	int32 rebalance_timeout_ms;
	bool left_static; /* left with -2: waits for its instance */
	CgSet assigned; /* what it may use */
	CgSet revoking; /* given up, until it stops reporting them */
	CgSet target;
	CgSet owned; /* as it last reported */
	CgSet sent; /* the assignment last sent to it */
	bool sent_any;
	TimestampTz last_heartbeat;
	TimestampTz revoke_deadline;
} CMember;

static const char *const assignors[] = {"uniform", "range"};

/*---- partition sets ----*/

static int
tp_cmp(const void *a, const void *b)
{
	const CgTp *x = a;
	const CgTp *y = b;
	int c = memcmp(x->topic.b, y->topic.b, 16);

	if (c != 0)
		return c;
	return x->partition < y->partition ? -1 : x->partition > y->partition;
}

static bool
set_has(const CgSet *s, const CgTp *tp)
{
	return s->n > 0 && bsearch(tp, s->tp, s->n, sizeof(CgTp), tp_cmp) != NULL;
}

static void
set_make(CgSet *s, MemoryContext cxt, CgTp *tp, int n)
{
	CgSet old = *s;

	s->tp = MemoryContextAlloc(cxt, sizeof(CgTp) * Max(n, 1));
	if (n > 0)
		memcpy(s->tp, tp, sizeof(CgTp) * n);
	s->n = n;
	if (n > 1)
		qsort(s->tp, n, sizeof(CgTp), tp_cmp);
	if (old.tp != NULL)
		pfree(old.tp);
}

static bool
set_equal(const CgSet *a, const CgSet *b)
{
	return a->n == b->n && (a->n == 0 || memcmp(a->tp, b->tp, sizeof(CgTp) * a->n) == 0);
}

/* a - b (with_b false) or a & b (with_b true), palloc'd in the current context */
static int
set_filter(const CgSet *a, const CgSet *b, bool with_b, CgTp **out)
{
	int i;
	int n = 0;

	*out = palloc(sizeof(CgTp) * Max(a->n, 1));
	for (i = 0; i < a->n; i++)
		if (set_has(b, &a->tp[i]) == with_b)
			(*out)[n++] = a->tp[i];
	return n;
}

/*---- members ----*/

static CMember *
cm_find(Group *g, const char *member_id, int len)
{
	dlist_iter iter;

	dlist_foreach (iter, &g->cmembers)
	{
		CMember *m = dlist_container(CMember, node, iter.cur);

		if (strlen(m->member_id) == (size_t) len &&
			memcmp(m->member_id, member_id, len) == 0)
			return m;
	}
	return NULL;
}

static CMember *
cm_find_instance(Group *g, KafkaStr instance_id)
{
	dlist_iter iter;

	if (instance_id.len < 0)
		return NULL;
	dlist_foreach (iter, &g->cmembers)
	{
		CMember *m = dlist_container(CMember, node, iter.cur);

		if (m->instance_id && kafka_str_eq(instance_id, m->instance_id))
			return m;
	}
	return NULL;
}

/* Does some member other than self hold tp (assigned or being revoked)? */
static bool
held_by_other(Group *g, CMember *self, const CgTp *tp)
{
	dlist_iter iter;

	dlist_foreach (iter, &g->cmembers)
	{
		CMember *m = dlist_container(CMember, node, iter.cur);

		if (m != self && (set_has(&m->assigned, tp) || set_has(&m->revoking, tp)))
			return true;
	}
	return false;
}

static void
bump_epoch(Group *g, const char *why, const char *member_id)
{
	g->group_epoch++;
	g->cg_metadata_hash = 0; /* recomputed with the assignment */
	nagare_group_snapshot_dirty = true;
	ereport(DEBUG1, (errmsg("nagare broker: consumer group \"%s\": epoch %d (%s: %s)",
							g->name, g->group_epoch, why, member_id)));
}

static void
cm_remove(Group *g, CMember *m, const char *why)
{
	ereport(LOG, (errmsg("nagare broker: consumer group \"%s\": member %s left (%s)",
						 g->name, m->member_id, why)));
	dlist_delete(&m->node);
	g->ncmembers--;
	bump_epoch(g, why, m->member_id);
	MemoryContextDelete(m->cxt);
}

/*---- the target assignment ----*/

static bool
subscribes(CMember *m, const char *topic)
{
	int i;

	for (i = 0; i < m->nsubscribed; i++)
		if (strcmp(m->subscribed[i], topic) == 0)
			return true;
	return false;
}

/*
 * The topics some member subscribes to that exist, in name order, and a
 * hash of their ids and partition counts (a change means a new target).
 */
static int
subscribed_topics(Group *g, const BrokerTopic ***out, uint64 *hash)
{
	const BrokerTopic **all;
	int nall = nagare_broker_topic_list(&all);
	const BrokerTopic **list = palloc(sizeof(BrokerTopic *) * Max(nall, 1));
	int n = 0;
	int i;
	uint64 h = 1;

	for (i = 0; i < nall; i++)
	{
		dlist_iter iter;

		dlist_foreach (iter, &g->cmembers)
		{
			CMember *m = dlist_container(CMember, node, iter.cur);

			if (subscribes(m, all[i]->name))
			{
				list[n++] = all[i];
				h = h * 1099511628211ULL ^
					hash_bytes_extended(all[i]->uuid.b, 16, all[i]->partitions);
				break;
			}
		}
	}
	*out = list;
	*hash = h | 1; /* never 0: 0 is "recompute" */
	return n;
}

static int
member_cmp(const void *a, const void *b)
{
	return strcmp((*(CMember *const *) a)->member_id, (*(CMember *const *) b)->member_id);
}

/* Compute every member's target: the assignor's choice for this epoch */
static void
compute_target(Group *g, const BrokerTopic **topics, int ntopics)
{
	int nm = g->ncmembers;
	CMember **ms = palloc(sizeof(CMember *) * Max(nm, 1));
	CgTp **buf = palloc0(sizeof(CgTp *) * Max(nm, 1));
	int *cnt = palloc0(sizeof(int) * Max(nm, 1));
	int total = 0;
	int i;
	int k;
	dlist_iter iter;

	i = 0;
	dlist_foreach (iter, &g->cmembers)
		ms[i++] = dlist_container(CMember, node, iter.cur);
	qsort(ms, nm, sizeof(CMember *), member_cmp);
	for (k = 0; k < ntopics; k++)
		total += topics[k]->partitions;
	for (i = 0; i < nm; i++)
		buf[i] = palloc(sizeof(CgTp) * Max(total, 1));

	if (strcmp(g->assignor, "range") == 0)
	{
		/* each topic's partitions in contiguous ranges over its subscribers */
		for (k = 0; k < ntopics; k++)
		{
			int nsub = 0;
			int p = 0;
			int j = 0;

			for (i = 0; i < nm; i++)
				if (!ms[i]->left_static && subscribes(ms[i], topics[k]->name))
					nsub++;
			if (nsub == 0)
				continue;
			for (i = 0; i < nm; i++)
			{
				int take;

				if (ms[i]->left_static || !subscribes(ms[i], topics[k]->name))
					continue;
				take = topics[k]->partitions / nsub +
					   (j < topics[k]->partitions % nsub ? 1 : 0);
				j++;
				for (; take > 0; take--, p++)
				{
					buf[i][cnt[i]].topic = topics[k]->uuid;
					buf[i][cnt[i]++].partition = p;
				}
			}
		}
	}
	else
	{
		/*
		 * uniform: every member keeps what its previous target had, up to
		 * its share; the rest goes, partition by partition, to the
		 * subscriber with the fewest.  Shares are total / members (+1 for
		 * the first total % members to reach it) over the members with a
		 * subscription: exact when subscriptions are identical.
		 */
		int nsubs = 0;
		int base;
		int extra;
		bool *taken;
		int t = 0;

		for (i = 0; i < nm; i++)
			if (ms[i]->nsubscribed > 0)
				nsubs++;
		base = nsubs > 0 ? total / nsubs : 0;
		extra = nsubs > 0 ? total % nsubs : 0;
		taken = palloc0(sizeof(bool) * Max(total, 1));
		for (i = 0; i < nm; i++)
		{
			CMember *m = ms[i];
			int j;

			for (j = 0; j < m->target.n; j++)
			{
				const BrokerTopic *bt = NULL;
				int off = 0;

				for (k = 0; k < ntopics; k++)
				{
					if (memcmp(topics[k]->uuid.b, m->target.tp[j].topic.b, 16) == 0)
					{
						bt = topics[k];
						break;
					}
					off += topics[k]->partitions;
				}
				if (bt == NULL || m->target.tp[j].partition >= bt->partitions ||
					!subscribes(m, bt->name) || taken[off + m->target.tp[j].partition])
					continue;
				if (cnt[i] >= base + (extra > 0 ? 1 : 0))
					continue;
				if (cnt[i] == base && extra > 0)
					extra--;
				taken[off + m->target.tp[j].partition] = true;
				buf[i][cnt[i]++] = m->target.tp[j];
			}
		}
		for (k = 0; k < ntopics; k++)
		{
			int p;

			for (p = 0; p < topics[k]->partitions; p++, t++)
			{
				int best = -1;

				if (taken[t])
					continue;
				for (i = 0; i < nm; i++)
					if (subscribes(ms[i], topics[k]->name) &&
						(best < 0 || cnt[i] < cnt[best]))
						best = i;
				if (best < 0)
					continue;
				buf[best][cnt[best]].topic = topics[k]->uuid;
				buf[best][cnt[best]++].partition = p;
			}
		}
		pfree(taken);
	}
	for (i = 0; i < nm; i++)
	{
		set_make(&ms[i]->target, ms[i]->cxt, buf[i], cnt[i]);
		pfree(buf[i]);
	}
	pfree(buf);
	pfree(cnt);
	pfree(ms);
}

/* A new target if the group epoch moved or the subscribed topics changed */
static void
maybe_new_target(Group *g)
{
	const BrokerTopic **topics;
	uint64 hash;
	int n = subscribed_topics(g, &topics, &hash);

	if (g->cg_metadata_hash != 0 && hash != g->cg_metadata_hash)
		g->group_epoch++; /* partitions were added, topics came or went */
	if (g->assignment_epoch != g->group_epoch || hash != g->cg_metadata_hash)
	{
		dlist_iter iter;

		/* the group's assignor: the first member's that asks for one */
		strlcpy(g->assignor, "uniform", sizeof(g->assignor));
		dlist_foreach (iter, &g->cmembers)
		{
			CMember *m = dlist_container(CMember, node, iter.cur);

			if (m->assignor)
			{
				strlcpy(g->assignor, m->assignor, sizeof(g->assignor));
				break;
			}
		}
		compute_target(g, topics, n);
		g->assignment_epoch = g->group_epoch;
		g->cg_metadata_hash = hash;
		nagare_group_snapshot_dirty = true;
	}
	pfree(topics);
}

/*---- reconciliation ----*/

static void
reconcile(Group *g, CMember *m, bool reported, TimestampTz now)
{
	CgTp *tmp;
	int n;
	int i;

	if (m->revoking.n > 0)
	{
		/*
		 * done once a heartbeat that reports its partitions (not null, as
		 * Kafka asks) has none of them
		 */
		if (!reported)
			return;
		n = set_filter(&m->revoking, &m->owned, true, &tmp);
		pfree(tmp);
		if (n > 0)
			return;
		set_make(&m->revoking, m->cxt, NULL, 0);
		m->revoke_deadline = 0;
	}
	if (m->epoch != g->assignment_epoch)
	{
		CgTp *keep;
		int nkeep;

		n = set_filter(&m->assigned, &m->target, false, &tmp);
		if (n > 0)
		{
			/* first give these up: the epoch stays */
			set_make(&m->revoking, m->cxt, tmp, n);
			nkeep = set_filter(&m->assigned, &m->target, true, &keep);
			set_make(&m->assigned, m->cxt, keep, nkeep);
			pfree(keep);
			pfree(tmp);
			m->revoke_deadline = TimestampTzPlusMilliseconds(now, m->rebalance_timeout_ms);
			nagare_group_snapshot_dirty = true;
			return;
		}
		pfree(tmp);
		m->previous_epoch = m->epoch;
		m->epoch = g->assignment_epoch;
		nagare_group_snapshot_dirty = true;
	}
	/* what of its target nobody else holds any more */
	n = set_filter(&m->target, &m->assigned, false, &tmp);
	if (n > 0)
	{
		CgTp *all = palloc(sizeof(CgTp) * (m->assigned.n + n));
		int nall = m->assigned.n;

		if (nall > 0)
			memcpy(all, m->assigned.tp, sizeof(CgTp) * nall);
		for (i = 0; i < n; i++)
			if (!held_by_other(g, m, &tmp[i]))
				all[nall++] = tmp[i];
		if (nall != m->assigned.n)
		{
			set_make(&m->assigned, m->cxt, all, nall);
			nagare_group_snapshot_dirty = true;
		}
		pfree(all);
	}
	pfree(tmp);
}

/*---- ConsumerGroupHeartbeat ----*/

static void
hb_error(NagareConn *conn, const KafkaRequestHeader *hdr, int16 error, const char *msg)
{
	KafkaConsumerGroupHeartbeatResponse resp;

	memset(&resp, 0, sizeof(resp));
	resp.ErrorCode = error;
	resp.ErrorMessage = kafka_str(msg);
	resp.MemberId = kafka_str(NULL);
	resp.MemberEpoch = -1;
	resp.AssignmentIsNull = true;
	nagare_kafka_respond(conn, hdr, &resp);
}

/* The partitions of a request (topic ids of topics that exist) as a set */
static void
owned_from_request(CMember *m, KafkaConsumerGroupHeartbeatRequest *req)
{
	int total = 0;
	int n = 0;
	int t;
	CgTp *tp;

	for (t = 0; t < req->TopicPartitionsCount; t++)
		total += Max(req->TopicPartitions[t].PartitionsCount, 0);
	tp = palloc(sizeof(CgTp) * Max(total, 1));
	for (t = 0; t < req->TopicPartitionsCount; t++)
	{
		int p;

		for (p = 0; p < req->TopicPartitions[t].PartitionsCount; p++)
		{
			tp[n].topic = req->TopicPartitions[t].TopicId;
			tp[n++].partition = req->TopicPartitions[t].Partitions[p];
		}
	}
	set_make(&m->owned, m->cxt, tp, n);
	pfree(tp);
}

static bool
set_subscription(CMember *m, KafkaConsumerGroupHeartbeatRequest *req)
{
	char **names;
	int i;
	bool same;

	if (req->SubscribedTopicNamesCount < 0)
		return false;
	names = MemoryContextAlloc(m->cxt,
							   sizeof(char *) * Max(req->SubscribedTopicNamesCount, 1));
	for (i = 0; i < req->SubscribedTopicNamesCount; i++)
		names[i] = nagare_kstr_dup(m->cxt, req->SubscribedTopicNames[i]);
	same = m->nsubscribed == req->SubscribedTopicNamesCount;
	for (i = 0; same && i < m->nsubscribed; i++)
		same = subscribes(m, names[i]);
	m->subscribed = names;
	m->nsubscribed = req->SubscribedTopicNamesCount;
	return !same;
}

static void
fill_assignment(KafkaCGHeartbeatAssignment *a, const CgSet *s)
{
	int i;
	int nt = 0;

	a->TopicPartitions = palloc0(sizeof(KafkaCGHeartbeatTopicPartitions) * Max(s->n, 1));
	for (i = 0; i < s->n; i++)
	{
		KafkaCGHeartbeatTopicPartitions *t;

		if (nt == 0 ||
			memcmp(a->TopicPartitions[nt - 1].TopicId.b, s->tp[i].topic.b, 16) != 0)
		{
			t = &a->TopicPartitions[nt++];
			t->TopicId = s->tp[i].topic;
			t->Partitions = palloc(sizeof(int32) * s->n);
		}
		t = &a->TopicPartitions[nt - 1];
		t->Partitions[t->PartitionsCount++] = s->tp[i].partition;
	}
	a->TopicPartitionsCount = nt;
}

static char *
new_member_id(void)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char id[23];
	uint64 a = pg_prng_uint64(&pg_global_prng_state);
	uint64 b = pg_prng_uint64(&pg_global_prng_state);
	int i;

	/* Kafka's Uuid.toString(): 22 characters of URL-safe base64 */
	for (i = 0; i < 22; i++)
	{
		uint64 *w = i < 11 ? &a : &b;

		id[i] = b64[*w & 63];
		*w >>= 6;
	}
	id[22] = '\0';
	return pstrdup(id);
}

void
nagare_handle_consumer_group_heartbeat(NagareConn *conn, const KafkaRequestHeader *hdr,
									   KafkaRequestBody *body)
{
	KafkaConsumerGroupHeartbeatRequest *req = &body->ConsumerGroupHeartbeat;
	KafkaConsumerGroupHeartbeatResponse resp;
	TimestampTz now = GetCurrentTimestamp();
	char key[MAX_GROUP_ID + 1];
	Group *g;
	CMember *m;
	bool full;
	bool joined = false;
	int i;

	if (!nagare_authorized_group(conn, req->GroupId, KAFKA_ACL_READ))
	{
		hb_error(conn, hdr, KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED, NULL);
		return;
	}
	if (!nagare_group_key(req->GroupId, key))
	{
		hb_error(conn, hdr, KAFKA_ERROR_INVALID_GROUP_ID, NULL);
		return;
	}
	for (i = 0; i < req->SubscribedTopicNamesCount; i++)
		if (!nagare_authorized_topic(conn, req->SubscribedTopicNames[i], KAFKA_ACL_DESCRIBE))
		{
			hb_error(conn, hdr, KAFKA_ERROR_TOPIC_AUTHORIZATION_FAILED,
					 "not authorized to DESCRIBE a subscribed topic");
			return;
		}
	if (req->SubscribedTopicRegex.len > 0)
	{
		hb_error(conn, hdr, KAFKA_ERROR_INVALID_REQUEST,
				 "nagare does not support regular expression subscriptions: subscribe to topic names");
		return;
	}
	if (req->ServerAssignor.len >= 0 && !kafka_str_eq(req->ServerAssignor, assignors[0]) &&
		!kafka_str_eq(req->ServerAssignor, assignors[1]))
	{
		hb_error(conn, hdr, KAFKA_ERROR_UNSUPPORTED_ASSIGNOR,
				 "nagare's server assignors are uniform and range");
		return;
	}
	g = nagare_group_get_bounded(req->GroupId, &full);
	if (g == NULL)
	{
		hb_error(conn, hdr, KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE, NULL);
		return;
	}
	if (!g->consumer)
	{
		if (g->nmembers > 0 || !dlist_is_empty(&g->pending))
		{
			hb_error(conn, hdr, KAFKA_ERROR_GROUP_ID_NOT_FOUND,
					 psprintf("group %s is a classic group with members, not a consumer group",
							  g->name));
			return;
		}
		nagare_consumer_group_init(g);
	}

	if (req->MemberEpoch == -1 || req->MemberEpoch == -2)
	{
		/* leave; -2: a static member will be back */
		m = cm_find(g, req->MemberId.ptr, Max(req->MemberId.len, 0));
		if (m == NULL)
		{
			hb_error(conn, hdr, KAFKA_ERROR_UNKNOWN_MEMBER_ID, NULL);
			return;
		}
		if (req->MemberEpoch == -2 && m->instance_id != NULL)
		{
			m->left_static = true;
			m->last_heartbeat = now;
			nagare_group_snapshot_dirty = true;
		}
		else
			cm_remove(g, m, "left the group");
		memset(&resp, 0, sizeof(resp));
		resp.MemberId = req->MemberId;
		resp.MemberEpoch = req->MemberEpoch;
		resp.ErrorMessage = kafka_str(NULL);
		nagare_kafka_respond(conn, hdr, &resp);
		return;
	}

	if (req->MemberEpoch == 0)
	{
		CMember *old = cm_find_instance(g, req->InstanceId);
		char *id;
		char host[128];
		const char *peer = nagare_conn_peer(conn);
		const char *colon = strrchr(peer, ':');

		if (req->SubscribedTopicNamesCount < 0 || req->RebalanceTimeoutMs < 0)
		{
			hb_error(conn, hdr, KAFKA_ERROR_INVALID_REQUEST,
					 "a member joins with SubscribedTopicNames and RebalanceTimeoutMs");
			return;
		}
		if (hdr->RequestApiVersion >= 1 && req->MemberId.len > 0)
			id = nagare_kstr_dup(CurrentMemoryContext, req->MemberId);
		else
			id = new_member_id();
		m = cm_find(g, id, strlen(id));
		if (old != NULL && old == m)
			old = NULL; /* the member itself rejoins (after fencing) */
		if (old != NULL && !old->left_static)
		{
			hb_error(conn, hdr, KAFKA_ERROR_UNRELEASED_INSTANCE_ID,
					 "another member holds this instance id");
			return;
		}
		if (old != NULL)
		{
			/* a static member back: its partitions and epoch are its own */
			m = old;
			pfree(m->member_id);
			m->member_id = MemoryContextStrdup(m->cxt, id);
			m->left_static = false;
		}
		else if (m == NULL)
		{
			MemoryContext cxt =
				AllocSetContextCreate(g->cxt, "nagare consumer group member",
									  ALLOCSET_SMALL_SIZES);

			m = MemoryContextAllocZero(cxt, sizeof(CMember));
			m->cxt = cxt;
			m->member_id = MemoryContextStrdup(cxt, id);
			m->instance_id =
				req->InstanceId.len >= 0 ? nagare_kstr_dup(cxt, req->InstanceId) : NULL;
			m->client_id = nagare_kstr_dup(cxt, hdr->ClientId.len >= 0 ? hdr->ClientId
																	   : kafka_str(""));
			strlcpy(host, peer, sizeof(host));
			if (colon && (size_t) (colon - peer) < sizeof(host))
				host[colon - peer] = '\0';
			m->client_host = MemoryContextStrdup(cxt, host);
			m->epoch = 0;
			dlist_push_tail(&g->cmembers, &m->node);
			g->ncmembers++;
			bump_epoch(g, "a member joined", m->member_id);
			ereport(LOG, (errmsg("nagare broker: consumer group \"%s\": member %s joined",
								 g->name, m->member_id)));
		}
		pfree(id);
		joined = true;
	}
	else
	{
		m = cm_find(g, req->MemberId.ptr, Max(req->MemberId.len, 0));
		if (m == NULL)
		{
			hb_error(conn, hdr, KAFKA_ERROR_UNKNOWN_MEMBER_ID, NULL);
			return;
		}
		if (req->MemberEpoch != m->epoch)
		{
			bool lost_response = false;

			if (req->MemberEpoch == m->previous_epoch && req->TopicPartitionsCount >= 0)
			{
				CgTp *tmp;

				owned_from_request(m, req);
				lost_response = set_filter(&m->owned, &m->assigned, false, &tmp) == 0;
				pfree(tmp);
			}
			if (!lost_response)
			{
				hb_error(conn, hdr, KAFKA_ERROR_FENCED_MEMBER_EPOCH,
						 "the member epoch is not the group's: rejoin");
				return;
			}
		}
	}

	/* what this heartbeat says (null: unchanged) */
	if (m->principal == NULL ||
		strcmp(m->principal, nagare_conn_identity(conn)->principal) != 0)
	{
		m->principal = MemoryContextStrdup(m->cxt, nagare_conn_identity(conn)->principal);
		nagare_group_snapshot_dirty = true;
	}
	if (req->RebalanceTimeoutMs >= 0)
		m->rebalance_timeout_ms = req->RebalanceTimeoutMs;
	if (req->RackId.len >= 0)
		m->rack_id = nagare_kstr_dup(m->cxt, req->RackId);
	if (req->ServerAssignor.len >= 0)
	{
		char *a = nagare_kstr_dup(m->cxt, req->ServerAssignor);

		if (m->assignor == NULL || strcmp(a, m->assignor) != 0)
		{
			m->assignor = a;
			if (!joined)
				bump_epoch(g, "a member changed assignor", m->member_id);
		}
	}
	if (set_subscription(m, req) && !joined)
		bump_epoch(g, "a member changed its subscription", m->member_id);
	if (req->TopicPartitionsCount >= 0)
		owned_from_request(m, req);
	else if (joined)
		set_make(&m->owned, m->cxt, NULL, 0);
	m->last_heartbeat = now;

	maybe_new_target(g);
	reconcile(g, m, req->TopicPartitionsCount >= 0, now);

	memset(&resp, 0, sizeof(resp));
	resp.ErrorMessage = kafka_str(NULL);
	resp.MemberId = kafka_str(m->member_id);
	resp.MemberEpoch = m->epoch;
	resp.HeartbeatIntervalMs = nagare_group_consumer_heartbeat_interval_ms;
	resp.AssignmentIsNull = true;
	/* the assignment when it changed, and to a full request */
	if (joined || req->TopicPartitionsCount >= 0 || !m->sent_any ||
		!set_equal(&m->sent, &m->assigned))
	{
		resp.AssignmentIsNull = false;
		fill_assignment(&resp.Assignment, &m->assigned);
		set_make(&m->sent, m->cxt, m->assigned.tp, m->assigned.n);
		m->sent_any = true;
	}
	nagare_kafka_respond(conn, hdr, &resp);
}

/*---- what the rest of the coordinator asks ----*/

/* Make an empty group a consumer group */
void
nagare_consumer_group_init(Group *g)
{
	g->consumer = true;
	dlist_init(&g->cmembers);
	g->ncmembers = 0;
	g->assignment_epoch = g->group_epoch;
	g->cg_metadata_hash = 0;
	strlcpy(g->assignor, "uniform", sizeof(g->assignor));
	if (g->protocol_type)
		pfree(g->protocol_type);
	g->protocol_type = MemoryContextStrdup(g->cxt, "consumer");
	nagare_group_snapshot_dirty = true;
}

/* Kafka's ConsumerGroup states */
const char *
nagare_consumer_group_state(Group *g)
{
	dlist_iter iter;

	if (g->ncmembers == 0)
		return "Empty";
	if (g->assignment_epoch != g->group_epoch)
		return "Assigning";
	dlist_foreach (iter, &g->cmembers)
	{
		CMember *m = dlist_container(CMember, node, iter.cur);

		if (m->epoch != g->assignment_epoch || m->revoking.n > 0 ||
			!set_equal(&m->assigned, &m->target))
			return "Reconciling";
	}
	return "Stable";
}

/*
 * The error of an OffsetCommit (v9+ semantics) of member_id at epoch in a
 * consumer group: NONE, UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH (an older
 * epoch) or FENCED_MEMBER_EPOCH (a newer one, which it cannot have).
 */
int16
nagare_consumer_commit_error(Group *g, KafkaStr member_id, int32 epoch)
{
	CMember *m = cm_find(g, member_id.ptr, Max(member_id.len, 0));

	if (m == NULL)
		return KAFKA_ERROR_UNKNOWN_MEMBER_ID;
	if (epoch > m->epoch)
		return KAFKA_ERROR_FENCED_MEMBER_EPOCH;
	if (epoch != m->epoch)
		return KAFKA_ERROR_STALE_MEMBER_EPOCH;
	m->last_heartbeat = GetCurrentTimestamp();
	return KAFKA_ERROR_NONE;
}

/*
 * Expire members: no heartbeat for the session timeout, or partitions not
 * revoked within the rebalance timeout.  Returns whether the group has
 * members (the loop's timers matter).
 */
bool
nagare_consumer_group_timers(Group *g, TimestampTz now)
{
	dlist_mutable_iter iter;

	if (!g->consumer)
		return false;
	dlist_foreach_modify (iter, &g->cmembers)
	{
		CMember *m = dlist_container(CMember, node, iter.cur);

		if (now >= TimestampTzPlusMilliseconds(m->last_heartbeat,
											   nagare_group_consumer_session_timeout_ms))
			cm_remove(g, m, "session timed out");
		else if (m->revoke_deadline != 0 && now >= m->revoke_deadline)
			cm_remove(g, m, "did not revoke its partitions within its rebalance timeout");
	}
	return g->ncmembers > 0;
}

/* A set as group_admin.c's assignments: [{"topic":..,"partitions":[..]}] */
static void
set_json(StringInfo s, const CgSet *set)
{
	int i;

	appendStringInfoChar(s, '[');
	for (i = 0; i < set->n; i++)
	{
		if (i == 0 || memcmp(set->tp[i - 1].topic.b, set->tp[i].topic.b, 16) != 0)
		{
			const BrokerTopic *t = nagare_broker_topic_by_uuid(&set->tp[i].topic);

			appendStringInfoString(s, i == 0 ? "{\"topic\":" : "]},{\"topic\":");
			escape_json(s, t ? t->name : "");
			appendStringInfo(s, ",\"partitions\":[%d", set->tp[i].partition);
		}
		else
			appendStringInfo(s, ",%d", set->tp[i].partition);
	}
	appendStringInfoString(s, set->n > 0 ? "]}]" : "]");
}

/* The members of a consumer group for the SQL snapshot (group_admin.c) */
void
nagare_consumer_group_members_json(StringInfo s, Group *g, bool *first)
{
	dlist_iter iter;

	if (!g->consumer)
		return;
	dlist_foreach (iter, &g->cmembers)
	{
		CMember *m = dlist_container(CMember, node, iter.cur);
		int i;

		appendStringInfoString(s, *first ? "{\"member_id\":" : ",{\"member_id\":");
		*first = false;
		escape_json(s, m->member_id);
		appendStringInfoString(s, ",\"instance_id\":");
		if (m->instance_id)
			escape_json(s, m->instance_id);
		else
			appendStringInfoString(s, "null");
		appendStringInfoString(s, ",\"client_id\":");
		escape_json(s, m->client_id);
		appendStringInfoString(s, ",\"client_host\":");
		escape_json(s, m->client_host);
		appendStringInfoString(s, ",\"principal\":");
		escape_json(s, m->principal ? m->principal : "");
		appendStringInfo(s,
						 ",\"session_timeout_ms\":%d,\"member_epoch\":%d,\"assignment\":",
						 nagare_group_consumer_session_timeout_ms, m->epoch);
		set_json(s, &m->assigned);
		appendStringInfoString(s, ",\"subscription\":[");
		for (i = 0; i < m->nsubscribed; i++)
		{
			if (i > 0)
				appendStringInfoChar(s, ',');
			escape_json(s, m->subscribed[i]);
		}
		appendStringInfoString(s, "]}");
	}
}

/*---- ConsumerGroupDescribe ----*/

static void
describe_assignment(KafkaCGDescribedAssignment *a, const CgSet *s)
{
	int i;
	int nt = 0;

	a->TopicPartitions = palloc0(sizeof(KafkaCGDescribedTopicPartitions) * Max(s->n, 1));
	for (i = 0; i < s->n; i++)
	{
		KafkaCGDescribedTopicPartitions *t;

		if (nt == 0 ||
			memcmp(a->TopicPartitions[nt - 1].TopicId.b, s->tp[i].topic.b, 16) != 0)
		{
			const BrokerTopic *bt = nagare_broker_topic_by_uuid(&s->tp[i].topic);

			t = &a->TopicPartitions[nt++];
			t->TopicId = s->tp[i].topic;
			t->TopicName = kafka_str(bt ? pstrdup(bt->name) : "");
			t->Partitions = palloc(sizeof(int32) * s->n);
		}
		t = &a->TopicPartitions[nt - 1];
		t->Partitions[t->PartitionsCount++] = s->tp[i].partition;
	}
	a->TopicPartitionsCount = nt;
}

void
nagare_handle_consumer_group_describe(NagareConn *conn, const KafkaRequestHeader *hdr,
									  KafkaRequestBody *body)
{
	KafkaConsumerGroupDescribeRequest *req = &body->ConsumerGroupDescribe;
	KafkaConsumerGroupDescribeResponse resp;
	int i;

	memset(&resp, 0, sizeof(resp));
	resp.GroupsCount = Max(req->GroupIdsCount, 0);
	resp.Groups = palloc0(sizeof(KafkaCGDescribedGroup) * Max(resp.GroupsCount, 1));
	for (i = 0; i < resp.GroupsCount; i++)
	{
		KafkaCGDescribedGroup *d = &resp.Groups[i];
		Group *g;
		dlist_iter iter;
		int j = 0;

		d->GroupId = req->GroupIds[i];
		d->ErrorMessage = kafka_str(NULL);
		d->GroupState = kafka_str("");
		d->AssignorName = kafka_str("");
		d->AuthorizedOperations = INT32_MIN;
		if (!nagare_authorized_group(conn, req->GroupIds[i], KAFKA_ACL_DESCRIBE))
		{
			d->ErrorCode = KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED;
			continue;
		}
		g = nagare_group_find(req->GroupIds[i]);
		if (g == NULL || !g->consumer)
		{
			d->ErrorCode = KAFKA_ERROR_GROUP_ID_NOT_FOUND;
			d->ErrorMessage =
				kafka_str(g == NULL ? "no such group" : "not a consumer group");
			continue;
		}
		if (req->IncludeAuthorizedOperations)
			d->AuthorizedOperations =
				nagare_authorized_operations(conn, KAFKA_RESOURCE_GROUP, g->name,
											 strlen(g->name));
		d->GroupState = kafka_str(nagare_consumer_group_state(g));
		d->GroupEpoch = g->group_epoch;
		d->AssignmentEpoch = g->assignment_epoch;
		d->AssignorName = kafka_str(g->assignor);
		d->MembersCount = g->ncmembers;
		d->Members = palloc0(sizeof(KafkaCGDescribedMember) * Max(g->ncmembers, 1));
		dlist_foreach (iter, &g->cmembers)
		{
			CMember *m = dlist_container(CMember, node, iter.cur);
			KafkaCGDescribedMember *dm = &d->Members[j++];
			int k;

			dm->MemberId = kafka_str(m->member_id);
			dm->InstanceId = kafka_str(m->instance_id);
			dm->RackId = kafka_str(m->rack_id);
			dm->MemberEpoch = m->epoch;
			dm->ClientId = kafka_str(m->client_id);
			dm->ClientHost = kafka_str(m->client_host);
			dm->SubscribedTopicNamesCount = m->nsubscribed;
			dm->SubscribedTopicNames = palloc(sizeof(KafkaStr) * Max(m->nsubscribed, 1));
			for (k = 0; k < m->nsubscribed; k++)
				dm->SubscribedTopicNames[k] = kafka_str(m->subscribed[k]);
			dm->SubscribedTopicRegex = kafka_str(NULL);
			describe_assignment(&dm->Assignment, &m->assigned);
			describe_assignment(&dm->TargetAssignment, &m->target);
		}
	}
	nagare_kafka_respond(conn, hdr, &resp);
}
