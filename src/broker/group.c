/*-------------------------------------------------------------------------
 *
 * group.c
 *	  The consumer group coordinator: Kafka's classic group protocol, in the
 *	  broker's memory.
 *
 * nagare is the coordinator of every group (FindCoordinator names node 0).
 * A group follows Kafka's state machine (GroupCoordinator / GroupMetadata):
 *
 *	Empty ---join---> PreparingRebalance ---all joined / timeout--->
 *	CompletingRebalance ---leader's SyncGroup---> Stable ---join, leave,
 *	expiry---> PreparingRebalance ...; a group whose last member leaves is
 *	Empty again.
 *
 * - JoinGroup: a member without an id gets one; from v4 it must come back
 *   with it (MEMBER_ID_REQUIRED), as Kafka asks.  Join answers are held
 *   until every known member has rejoined or the rebalance timeout passed
 *   (members that did not rejoin are removed), and, for a group that was
 *   Empty, for the initial rebalance delay (nagare.group_initial_rebalance_delay,
 *   extended by each new member).  Then the generation moves on, the
 *   protocol is chosen by vote (each member votes for the first of its
 *   protocols that every member supports), and the leader alone gets every
 *   member's metadata.
 * - SyncGroup: followers wait for the leader; the leader's assignments are
 *   handed to everybody, including members that synced before it.  In
 *   Stable, a member gets its current assignment.
 * - Heartbeat: REBALANCE_IN_PROGRESS while the group rebalances; members
 *   that stop heartbeating for their session timeout are removed.
 * - Static members (group.instance.id): a rejoin with a known instance id
 *   takes over that member (the old member id is fenced:
 *   FENCED_INSTANCE_ID), then rebalances.
 *
 * Committed offsets are rows of nagare.group_offset, written by the nagare
 * worker (worker/offsets.c) through the channel to it (queue/channel.h):
 * OffsetCommit is answered when the worker's transaction holding it
 * committed, and commits that arrive together share one transaction.
 * OffsetFetch reads the table the same way.  Nothing of a group but its
 * offsets survives a restart: consumers rejoin, as they do when a Kafka
 * coordinator moves.
 *
 * The broker publishes its groups as JSON in shared memory (a seqlock'd
 * snapshot) for the SQL views nagare.consumer_groups and
 * nagare.group_members.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/pg_prng.h"
#include "port/pg_bswap.h"
#include "lib/ilist.h"
#include "lib/stringinfo.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "broker/group.h"
#include "broker/kafka_api.h"
#include "broker/topicmap.h"
#include "nagare.h"
#include "queue/channel.h"
#include "shmem.h"

#define MAX_GROUP_ID		255
#define MAX_METADATA_BYTES	4096	/* Kafka's offset.metadata.max.bytes */

typedef enum GroupState
{
	GROUP_EMPTY,
	GROUP_PREPARING,			/* PreparingRebalance */
	GROUP_COMPLETING,			/* CompletingRebalance */
	GROUP_STABLE
} GroupState;

static const char *const state_names[] = {
	"Empty", "PreparingRebalance", "CompletingRebalance", "Stable"
};

typedef struct Protocol
{
	char	   *name;
	uint8	   *metadata;
	int32		len;
} Protocol;

typedef struct Pending
{
	NagareResponse *resp;		/* NULL when none */
	NagareRequestId id;
} Pending;

typedef struct Member
{
	dlist_node	node;
	char	   *member_id;
	char	   *instance_id;	/* NULL unless static */
	char	   *client_id;
	char	   *client_host;
	int32		session_timeout_ms;
	int32		rebalance_timeout_ms;
	int			nprotocols;
	Protocol   *protocols;
	uint8	   *assignment;
	int32		assignment_len;
	TimestampTz last_heartbeat;
	bool		joined;			/* has joined this rebalance */
	Pending		join;
	Pending		sync;
} Member;

/* A member id handed out with MEMBER_ID_REQUIRED, not yet used to join */
typedef struct PendingMember
{
	dlist_node	node;
	char	   *member_id;
	TimestampTz expires;
} PendingMember;

typedef struct Group
{
	char		name[MAX_GROUP_ID + 1]; /* hash key */
	MemoryContext cxt;
	GroupState	state;
	int32		generation;
	char	   *protocol_type;	/* NULL when Empty */
	char	   *protocol;		/* chosen at the last completed join */
	char	   *leader;			/* member id */
	dlist_head	members;
	int			nmembers;
	dlist_head	pending;		/* PendingMember */
	TimestampTz rebalance_deadline; /* PreparingRebalance: give up waiting */
	TimestampTz delay_until;	/* initial rebalance delay */
	int			delay_rounds;
} Group;

static HTAB *groups = NULL;
static MemoryContext group_context = NULL;
static bool snapshot_dirty = true;
static bool groups_loaded = false;	/* groups with committed offsets are known */
static bool groups_loading = false;
static bool any_members = false;	/* some group has members (timers matter) */

static void rebalance(Group *g, const char *why);
static void maybe_complete_join(Group *g, TimestampTz now);
static void remove_member(Group *g, Member *m, const char *why);

/*---- helpers ----*/

static inline int32
get_be32(const uint8 *p)
{
	uint32		v;

	memcpy(&v, p, 4);
	return (int32) pg_ntoh32(v);
}

static void
ensure_init(void)
{
	HASHCTL		info;

	if (groups != NULL)
		return;
	group_context = AllocSetContextCreate(TopMemoryContext, "nagare groups", ALLOCSET_DEFAULT_SIZES);
	memset(&info, 0, sizeof(info));
	info.keysize = MAX_GROUP_ID + 1;
	info.entrysize = sizeof(Group);
	info.hcxt = group_context;
	groups = hash_create("nagare groups", 256, &info, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

static bool
kstr_eq(KafkaStr a, const char *b)
{
	if (a.len < 0 || b == NULL)
		return a.len < 0 && b == NULL;
	return (size_t) a.len == strlen(b) && memcmp(a.ptr, b, a.len) == 0;
}

static bool
group_key(KafkaStr id, char *key)
{
	if (id.len <= 0 || id.len > MAX_GROUP_ID || memchr(id.ptr, '\0', id.len))
		return false;
	memcpy(key, id.ptr, id.len);
	key[id.len] = '\0';
	return true;
}

static Group *
find_group(KafkaStr id)
{
	char		key[MAX_GROUP_ID + 1];

	ensure_init();
	if (!group_key(id, key))
		return NULL;
	return hash_search(groups, key, HASH_FIND, NULL);
}

static Group *
get_group(KafkaStr id)
{
	char		key[MAX_GROUP_ID + 1];
	Group	   *g;
	bool		found;

	ensure_init();
	if (!group_key(id, key))
		return NULL;
	g = hash_search(groups, key, HASH_ENTER, &found);
	if (!found)
	{
		g->cxt = AllocSetContextCreate(group_context, "nagare group", ALLOCSET_SMALL_SIZES);
		g->state = GROUP_EMPTY;
		g->generation = 0;
		g->protocol_type = NULL;
		g->protocol = NULL;
		g->leader = NULL;
		dlist_init(&g->members);
		g->nmembers = 0;
		dlist_init(&g->pending);
		g->rebalance_deadline = 0;
		g->delay_until = 0;
		g->delay_rounds = 0;
	}
	return g;
}

static Member *
find_member(Group *g, KafkaStr member_id)
{
	dlist_iter	iter;

	dlist_foreach(iter, &g->members)
	{
		Member	   *m = dlist_container(Member, node, iter.cur);

		if (kstr_eq(member_id, m->member_id))
			return m;
	}
	return NULL;
}

static Member *
find_instance(Group *g, KafkaStr instance_id)
{
	dlist_iter	iter;

	if (instance_id.len < 0)
		return NULL;
	dlist_foreach(iter, &g->members)
	{
		Member	   *m = dlist_container(Member, node, iter.cur);

		if (m->instance_id && kstr_eq(instance_id, m->instance_id))
			return m;
	}
	return NULL;
}

/*
 * The error for a request naming member_id (and instance_id): NONE when the
 * member is known, FENCED_INSTANCE_ID when its instance was taken over,
 * UNKNOWN_MEMBER_ID otherwise.
 */
static int16
member_error(Group *g, KafkaStr member_id, KafkaStr instance_id, Member **out)
{
	Member	   *m = g ? find_member(g, member_id) : NULL;

	*out = m;
	if (g != NULL && instance_id.len >= 0)
	{
		Member	   *owner = find_instance(g, instance_id);

		if (owner != NULL && !kstr_eq(member_id, owner->member_id))
			return KAFKA_ERROR_FENCED_INSTANCE_ID;
	}
	return m ? KAFKA_ERROR_NONE : KAFKA_ERROR_UNKNOWN_MEMBER_ID;
}

static char *
new_member_id(Group *g, KafkaStr client_id)
{
	uint64		a = pg_prng_uint64(&pg_global_prng_state);
	uint64		b = pg_prng_uint64(&pg_global_prng_state);

	/* Kafka's form: client id, '-', a UUID */
	return psprintf("%.*s-%08x-%04x-%04x-%04x-%012llx",
					(int) Min(Max(client_id.len, 0), 100), client_id.len > 0 ? client_id.ptr : "",
					(uint32) (a >> 32), (uint32) (a >> 16) & 0xffff,
					(uint32) ((a & 0x0fff) | 0x4000), (uint32) ((b >> 48) & 0x3fff) | 0x8000,
					(unsigned long long) (b & UINT64CONST(0xffffffffffff)));
}

static void
peer_host(NagareConn *conn, char *buf, size_t len)
{
	const char *peer = nagare_conn_peer(conn);
	const char *colon = strrchr(peer, ':');

	strlcpy(buf, peer, len);
	if (colon && (size_t) (colon - peer) < len)
		buf[colon - peer] = '\0';
}

/*---- JoinGroup ----*/

static void
answer_join(Group *g, Member *m, int16 error)
{
	KafkaJoinGroupResponse resp;
	KafkaJoinGroupResponseMember *members = NULL;
	int			n = 0;

	if (m->join.resp == NULL)
		return;
	memset(&resp, 0, sizeof(resp));
	resp.ErrorCode = error;
	resp.GenerationId = error ? -1 : g->generation;
	resp.ProtocolType = kafka_str(error ? NULL : g->protocol_type);
	resp.ProtocolName = kafka_str(error ? NULL : g->protocol);
	if (m->join.id.api_version < 7 && resp.ProtocolName.len < 0)
		resp.ProtocolName = kafka_str("");
	resp.Leader = kafka_str(error || g->leader == NULL ? "" : g->leader);
	resp.MemberId = kafka_str(m->member_id);
	resp.SkipAssignment = false;
	if (error == KAFKA_ERROR_NONE && g->leader && strcmp(g->leader, m->member_id) == 0)
	{
		dlist_iter	iter;

		members = palloc(sizeof(KafkaJoinGroupResponseMember) * Max(g->nmembers, 1));
		dlist_foreach(iter, &g->members)
		{
			Member	   *x = dlist_container(Member, node, iter.cur);
			int			k;

			for (k = 0; k < x->nprotocols; k++)
				if (strcmp(x->protocols[k].name, g->protocol) == 0)
					break;
			members[n].MemberId = kafka_str(x->member_id);
			members[n].GroupInstanceId = kafka_str(x->instance_id);
			members[n].Metadata.ptr = k < x->nprotocols ? x->protocols[k].metadata : NULL;
			members[n].Metadata.len = k < x->nprotocols ? x->protocols[k].len : 0;
			n++;
		}
	}
	resp.MembersCount = n;
	resp.Members = members;
	nagare_kafka_response_ready(m->join.resp, m->join.id, &resp, NULL);
	m->join.resp = NULL;
	if (members)
		pfree(members);
}

static void
answer_join_error(NagareConn *conn, const KafkaRequestHeader *hdr, int16 error, const char *member_id)
{
	KafkaJoinGroupResponse resp;

	memset(&resp, 0, sizeof(resp));
	resp.ErrorCode = error;
	resp.GenerationId = -1;
	resp.ProtocolType = kafka_str(NULL);
	resp.ProtocolName = kafka_str(hdr->RequestApiVersion >= 7 ? NULL : "");
	resp.Leader = kafka_str("");
	resp.MemberId = kafka_str(member_id ? member_id : "");
	nagare_kafka_respond(conn, hdr, &resp);
}

static void
set_protocols(Group *g, Member *m, KafkaJoinGroupRequest *req)
{
	int			i;

	for (i = 0; i < m->nprotocols; i++)
	{
		pfree(m->protocols[i].name);
		if (m->protocols[i].metadata)
			pfree(m->protocols[i].metadata);
	}
	if (m->protocols)
		pfree(m->protocols);
	m->nprotocols = req->ProtocolsCount;
	m->protocols = MemoryContextAllocZero(g->cxt, sizeof(Protocol) * Max(req->ProtocolsCount, 1));
	for (i = 0; i < req->ProtocolsCount; i++)
	{
		m->protocols[i].name = nagare_kstr_dup(g->cxt, req->Protocols[i].Name);
		m->protocols[i].len = Max(req->Protocols[i].Metadata.len, 0);
		if (m->protocols[i].len > 0)
		{
			m->protocols[i].metadata = MemoryContextAlloc(g->cxt, m->protocols[i].len);
			memcpy(m->protocols[i].metadata, req->Protocols[i].Metadata.ptr, m->protocols[i].len);
		}
	}
}

static bool
same_protocols(Member *m, KafkaJoinGroupRequest *req)
{
	int			i;

	if (m->nprotocols != req->ProtocolsCount)
		return false;
	for (i = 0; i < m->nprotocols; i++)
		if (!kstr_eq(req->Protocols[i].Name, m->protocols[i].name) ||
			req->Protocols[i].Metadata.len != m->protocols[i].len ||
			(m->protocols[i].len > 0 &&
			 memcmp(req->Protocols[i].Metadata.ptr, m->protocols[i].metadata, m->protocols[i].len) != 0))
			return false;
	return true;
}

/* Does every member (and the request) support protocol name? */
static bool
all_support(Group *g, const char *name, KafkaJoinGroupRequest *req, Member *except)
{
	dlist_iter	iter;
	int			k;

	if (req)
	{
		for (k = 0; k < req->ProtocolsCount; k++)
			if (kstr_eq(req->Protocols[k].Name, name))
				break;
		if (k == req->ProtocolsCount)
			return false;
	}
	dlist_foreach(iter, &g->members)
	{
		Member	   *m = dlist_container(Member, node, iter.cur);

		if (m == except)
			continue;
		for (k = 0; k < m->nprotocols; k++)
			if (strcmp(m->protocols[k].name, name) == 0)
				break;
		if (k == m->nprotocols)
			return false;
	}
	return true;
}

/* Can a member with these protocols join the group as it is? */
static bool
protocols_compatible(Group *g, KafkaJoinGroupRequest *req, Member *except)
{
	int			k;

	if (req->ProtocolsCount <= 0 || req->ProtocolType.len <= 0)
		return false;
	if (g->nmembers == 0 || (g->nmembers == 1 && except != NULL))
		return true;
	if (!kstr_eq(req->ProtocolType, g->protocol_type))
		return false;
	for (k = 0; k < req->ProtocolsCount; k++)
	{
		char		name[256];

		snprintf(name, sizeof(name), "%.*s", req->Protocols[k].Name.len, req->Protocols[k].Name.ptr);
		if (all_support(g, name, NULL, except))
			return true;
	}
	return false;
}

static Member *
add_member(Group *g, KafkaJoinGroupRequest *req, const char *member_id, NagareConn *conn,
		   const KafkaRequestHeader *hdr)
{
	Member	   *m = MemoryContextAllocZero(g->cxt, sizeof(Member));
	char		host[128];

	m->member_id = MemoryContextStrdup(g->cxt, member_id);
	m->instance_id = nagare_kstr_dup(g->cxt, req->GroupInstanceId);
	m->client_id = (char *) nagare_kstr_copy(g->cxt, hdr->ClientId).ptr;
	peer_host(conn, host, sizeof(host));
	m->client_host = MemoryContextStrdup(g->cxt, host);
	m->session_timeout_ms = req->SessionTimeoutMs;
	m->rebalance_timeout_ms = req->RebalanceTimeoutMs > 0 ? req->RebalanceTimeoutMs : req->SessionTimeoutMs;
	m->last_heartbeat = GetCurrentTimestamp();
	set_protocols(g, m, req);
	if (g->nmembers == 0)
	{
		if (g->protocol_type)
			pfree(g->protocol_type);
		g->protocol_type = nagare_kstr_dup(g->cxt, req->ProtocolType);
	}
	dlist_push_tail(&g->members, &m->node);
	g->nmembers++;
	any_members = true;
	if (g->leader == NULL)
		g->leader = MemoryContextStrdup(g->cxt, m->member_id);
	snapshot_dirty = true;
	return m;
}

static void
hold_join(Member *m, NagareConn *conn, const KafkaRequestHeader *hdr, Group *g)
{
	if (m->join.resp != NULL)
		answer_join(g, m, KAFKA_ERROR_REBALANCE_IN_PROGRESS);	/* superseded */
	m->join.resp = nagare_conn_new_response(conn);
	m->join.id = nagare_request_id(hdr);
	m->joined = true;
	m->last_heartbeat = GetCurrentTimestamp();
}

void
nagare_handle_join_group(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaJoinGroupRequest *req = &body->JoinGroup;
	int16		version = hdr->RequestApiVersion;
	Group	   *g;
	Member	   *m = NULL;
	TimestampTz now = GetCurrentTimestamp();

	if (version == 0)
		req->RebalanceTimeoutMs = req->SessionTimeoutMs;
	if (req->GroupId.len <= 0 || req->GroupId.len > MAX_GROUP_ID)
	{
		answer_join_error(conn, hdr, KAFKA_ERROR_INVALID_GROUP_ID, NULL);
		return;
	}
	if (req->SessionTimeoutMs < nagare_group_min_session_timeout_ms ||
		req->SessionTimeoutMs > nagare_group_max_session_timeout_ms)
	{
		answer_join_error(conn, hdr, KAFKA_ERROR_INVALID_SESSION_TIMEOUT, NULL);
		return;
	}
	g = get_group(req->GroupId);

	if (req->MemberId.len <= 0)
	{
		Member	   *old = find_instance(g, req->GroupInstanceId);
		char	   *id;

		if (!protocols_compatible(g, req, old))
		{
			answer_join_error(conn, hdr, KAFKA_ERROR_INCONSISTENT_GROUP_PROTOCOL, NULL);
			return;
		}
		id = new_member_id(g, hdr->ClientId);
		if (old != NULL)
		{
			/* a static member comes back: it takes over its old self */
			ereport(LOG,
					(errmsg("nagare broker: group \"%s\": static member \"%s\" rejoined as %s",
							g->name, old->instance_id, id)));
			if (g->leader && strcmp(g->leader, old->member_id) == 0)
				g->leader = MemoryContextStrdup(g->cxt, id);
			if (old->join.resp)
				answer_join(g, old, KAFKA_ERROR_FENCED_INSTANCE_ID);
			pfree(old->member_id);
			old->member_id = MemoryContextStrdup(g->cxt, id);
			set_protocols(g, old, req);
			old->session_timeout_ms = req->SessionTimeoutMs;
			old->rebalance_timeout_ms = req->RebalanceTimeoutMs > 0 ? req->RebalanceTimeoutMs : req->SessionTimeoutMs;
			m = old;
			snapshot_dirty = true;
		}
		else if (version >= 4 && req->GroupInstanceId.len < 0)
		{
			/* KIP-394: come back with this id */
			PendingMember *pm = MemoryContextAllocZero(g->cxt, sizeof(PendingMember));

			pm->member_id = MemoryContextStrdup(g->cxt, id);
			pm->expires = TimestampTzPlusMilliseconds(now, req->SessionTimeoutMs);
			dlist_push_tail(&g->pending, &pm->node);
			any_members = true;
			answer_join_error(conn, hdr, KAFKA_ERROR_MEMBER_ID_REQUIRED, id);
			pfree(id);
			return;
		}
		else
			m = add_member(g, req, id, conn, hdr);
		pfree(id);
		hold_join(m, conn, hdr, g);
		rebalance(g, "a member joined");
		maybe_complete_join(g, now);
		return;
	}

	/* a member id: one we handed out, pending or joined */
	m = find_member(g, req->MemberId);
	if (m == NULL)
	{
		dlist_mutable_iter iter;
		bool		pending = false;

		dlist_foreach_modify(iter, &g->pending)
		{
			PendingMember *pm = dlist_container(PendingMember, node, iter.cur);

			if (kstr_eq(req->MemberId, pm->member_id))
			{
				dlist_delete(&pm->node);
				pending = true;
				break;
			}
		}
		if (!pending)
		{
			answer_join_error(conn, hdr, find_instance(g, req->GroupInstanceId) ?
							  KAFKA_ERROR_FENCED_INSTANCE_ID : KAFKA_ERROR_UNKNOWN_MEMBER_ID,
							  NULL);
			return;
		}
		if (!protocols_compatible(g, req, NULL))
		{
			answer_join_error(conn, hdr, KAFKA_ERROR_INCONSISTENT_GROUP_PROTOCOL, NULL);
			return;
		}
		{
			char	   *id = nagare_kstr_dup(g->cxt, req->MemberId);

			m = add_member(g, req, id, conn, hdr);
			pfree(id);
		}
		hold_join(m, conn, hdr, g);
		rebalance(g, "a member joined");
		maybe_complete_join(g, now);
		return;
	}

	if (!protocols_compatible(g, req, m))
	{
		answer_join_error(conn, hdr, KAFKA_ERROR_INCONSISTENT_GROUP_PROTOCOL, m->member_id);
		return;
	}
	m->session_timeout_ms = req->SessionTimeoutMs;
	m->rebalance_timeout_ms = req->RebalanceTimeoutMs > 0 ? req->RebalanceTimeoutMs : req->SessionTimeoutMs;
	switch (g->state)
	{
		case GROUP_PREPARING:
			if (!same_protocols(m, req))
				set_protocols(g, m, req);
			hold_join(m, conn, hdr, g);
			maybe_complete_join(g, now);
			break;
		case GROUP_COMPLETING:
		case GROUP_STABLE:
			if (same_protocols(m, req) &&
				!(g->leader && strcmp(g->leader, m->member_id) == 0 && g->state == GROUP_STABLE))
			{
				/* nothing changed: the current generation */
				hold_join(m, conn, hdr, g);
				answer_join(g, m, KAFKA_ERROR_NONE);
				break;
			}
			set_protocols(g, m, req);
			hold_join(m, conn, hdr, g);
			rebalance(g, "a member rejoined with other protocols");
			maybe_complete_join(g, now);
			break;
		case GROUP_EMPTY:
			/* cannot happen: a member exists */
			hold_join(m, conn, hdr, g);
			rebalance(g, "a member joined");
			maybe_complete_join(g, now);
			break;
	}
}

/* Start a rebalance (from any state but PreparingRebalance) */
static void
rebalance(Group *g, const char *why)
{
	TimestampTz now = GetCurrentTimestamp();
	int32		timeout = 0;
	dlist_iter	iter;

	if (g->state == GROUP_PREPARING)
	{
		/* a new member during the initial delay extends it (Kafka) */
		if (g->delay_rounds > 0 && g->delay_until > now)
			g->delay_until = Min(TimestampTzPlusMilliseconds(now, nagare_group_initial_rebalance_delay_ms),
								 g->rebalance_deadline);
		return;
	}
	/* syncs still waiting lose this generation */
	dlist_foreach(iter, &g->members)
	{
		Member	   *m = dlist_container(Member, node, iter.cur);

		if (m->sync.resp)
		{
			KafkaSyncGroupResponse resp;

			memset(&resp, 0, sizeof(resp));
			resp.ErrorCode = KAFKA_ERROR_REBALANCE_IN_PROGRESS;
			resp.ProtocolType = kafka_str(NULL);
			resp.ProtocolName = kafka_str(NULL);
			nagare_kafka_response_ready(m->sync.resp, m->sync.id, &resp, NULL);
			m->sync.resp = NULL;
		}
		timeout = Max(timeout, m->rebalance_timeout_ms);
	}
	if (g->state == GROUP_EMPTY && nagare_group_initial_rebalance_delay_ms > 0)
	{
		g->delay_until = TimestampTzPlusMilliseconds(now, Min(nagare_group_initial_rebalance_delay_ms, timeout));
		g->delay_rounds = 1;
	}
	else
	{
		g->delay_until = 0;
		g->delay_rounds = 0;
	}
	g->state = GROUP_PREPARING;
	g->rebalance_deadline = TimestampTzPlusMilliseconds(now, timeout);
	snapshot_dirty = true;
	ereport(DEBUG1,
			(errmsg("nagare broker: group \"%s\" rebalancing: %s", g->name, why)));
}

/* Choose the protocol: each member votes for its first supported one */
static char *
choose_protocol(Group *g)
{
	dlist_iter	iter;
	Member	   *first = dlist_container(Member, node, dlist_head_node(&g->members));
	int			best = -1;
	int			bestvotes = -1;
	int			k;

	for (k = 0; k < first->nprotocols; k++)
	{
		int			votes = 0;

		if (!all_support(g, first->protocols[k].name, NULL, NULL))
			continue;
		dlist_foreach(iter, &g->members)
		{
			Member	   *m = dlist_container(Member, node, iter.cur);
			int			j;

			for (j = 0; j < m->nprotocols; j++)
				if (all_support(g, m->protocols[j].name, NULL, NULL))
					break;
			if (j < m->nprotocols && strcmp(m->protocols[j].name, first->protocols[k].name) == 0)
				votes++;
		}
		if (votes > bestvotes)
		{
			best = k;
			bestvotes = votes;
		}
	}
	return best >= 0 ? first->protocols[best].name : NULL;
}

static void
maybe_complete_join(Group *g, TimestampTz now)
{
	dlist_mutable_iter miter;
	dlist_iter	iter;
	bool		all = true;

	if (g->state != GROUP_PREPARING)
		return;
	dlist_foreach(iter, &g->members)
	{
		Member	   *m = dlist_container(Member, node, iter.cur);

		if (!m->joined)
			all = false;
	}
	if (!dlist_is_empty(&g->pending))
		all = false;
	if (!(all && now >= g->delay_until) && now < g->rebalance_deadline)
		return;

	/* members that did not rejoin in time are out */
	dlist_foreach_modify(miter, &g->members)
	{
		Member	   *m = dlist_container(Member, node, miter.cur);

		if (!m->joined)
			remove_member(g, m, "did not rejoin within the rebalance timeout");
	}
	g->generation++;
	snapshot_dirty = true;
	if (g->nmembers == 0)
	{
		g->state = GROUP_EMPTY;
		g->protocol = NULL;
		return;
	}
	g->protocol = choose_protocol(g);
	if (g->leader == NULL || find_member(g, kafka_str(g->leader)) == NULL)
		g->leader = MemoryContextStrdup(g->cxt,
										dlist_container(Member, node, dlist_head_node(&g->members))->member_id);
	g->state = GROUP_COMPLETING;
	dlist_foreach(iter, &g->members)
	{
		Member	   *m = dlist_container(Member, node, iter.cur);

		m->joined = false;
		m->last_heartbeat = now;
		if (m->assignment)
		{
			pfree(m->assignment);
			m->assignment = NULL;
			m->assignment_len = 0;
		}
		answer_join(g, m, g->protocol ? KAFKA_ERROR_NONE : KAFKA_ERROR_INCONSISTENT_GROUP_PROTOCOL);
	}
}

static void
remove_member(Group *g, Member *m, const char *why)
{
	ereport(LOG,
			(errmsg("nagare broker: group \"%s\": member %s left (%s)", g->name, m->member_id, why)));
	if (m->join.resp)
		answer_join(g, m, KAFKA_ERROR_UNKNOWN_MEMBER_ID);
	if (m->sync.resp)
	{
		KafkaSyncGroupResponse resp;

		memset(&resp, 0, sizeof(resp));
		resp.ErrorCode = KAFKA_ERROR_UNKNOWN_MEMBER_ID;
		resp.ProtocolType = kafka_str(NULL);
		resp.ProtocolName = kafka_str(NULL);
		nagare_kafka_response_ready(m->sync.resp, m->sync.id, &resp, NULL);
	}
	if (g->leader && strcmp(g->leader, m->member_id) == 0)
		g->leader = NULL;
	dlist_delete(&m->node);
	g->nmembers--;
	snapshot_dirty = true;
	/* the memory stays in the group's context until the group is reset */
	if (g->leader == NULL && g->nmembers > 0)
		g->leader = MemoryContextStrdup(g->cxt,
										dlist_container(Member, node, dlist_head_node(&g->members))->member_id);
}

/* A member is gone (left, expired): rebalance, or become Empty */
static void
member_gone(Group *g, Member *m, const char *why)
{
	remove_member(g, m, why);
	if (g->nmembers == 0 && dlist_is_empty(&g->pending))
	{
		g->state = GROUP_EMPTY;
		g->generation++;
		g->protocol = NULL;
		g->leader = NULL;
		snapshot_dirty = true;
		/* reclaim the group's memory: nothing of it is in use */
		MemoryContextReset(g->cxt);
		dlist_init(&g->members);
		dlist_init(&g->pending);
		g->protocol_type = NULL;
		return;
	}
	if (g->state == GROUP_PREPARING)
		maybe_complete_join(g, GetCurrentTimestamp());
	else
		rebalance(g, why);
}

/*---- SyncGroup ----*/

static void
answer_sync(Group *g, Member *m, int16 error)
{
	KafkaSyncGroupResponse resp;

	memset(&resp, 0, sizeof(resp));
	resp.ErrorCode = error;
	resp.ProtocolType = kafka_str(error ? NULL : g->protocol_type);
	resp.ProtocolName = kafka_str(error ? NULL : g->protocol);
	resp.Assignment.ptr = error ? NULL : m->assignment;
	resp.Assignment.len = error ? 0 : m->assignment_len;
	nagare_kafka_response_ready(m->sync.resp, m->sync.id, &resp, NULL);
	m->sync.resp = NULL;
}

static void
sync_error(NagareConn *conn, const KafkaRequestHeader *hdr, int16 error)
{
	KafkaSyncGroupResponse resp;

	memset(&resp, 0, sizeof(resp));
	resp.ErrorCode = error;
	resp.ProtocolType = kafka_str(NULL);
	resp.ProtocolName = kafka_str(NULL);
	nagare_kafka_respond(conn, hdr, &resp);
}

void
nagare_handle_sync_group(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaSyncGroupRequest *req = &body->SyncGroup;
	Group	   *g = find_group(req->GroupId);
	Member	   *m;
	int16		err;

	if (g == NULL)
	{
		sync_error(conn, hdr, req->GroupId.len <= 0 ? KAFKA_ERROR_INVALID_GROUP_ID : KAFKA_ERROR_UNKNOWN_MEMBER_ID);
		return;
	}
	err = member_error(g, req->MemberId, req->GroupInstanceId, &m);
	if (err != KAFKA_ERROR_NONE)
	{
		sync_error(conn, hdr, err);
		return;
	}
	if (req->GenerationId != g->generation)
	{
		sync_error(conn, hdr, KAFKA_ERROR_ILLEGAL_GENERATION);
		return;
	}
	if ((req->ProtocolType.len >= 0 && !kstr_eq(req->ProtocolType, g->protocol_type)) ||
		(req->ProtocolName.len >= 0 && !kstr_eq(req->ProtocolName, g->protocol)))
	{
		sync_error(conn, hdr, KAFKA_ERROR_INCONSISTENT_GROUP_PROTOCOL);
		return;
	}
	m->last_heartbeat = GetCurrentTimestamp();
	switch (g->state)
	{
		case GROUP_EMPTY:
			sync_error(conn, hdr, KAFKA_ERROR_UNKNOWN_MEMBER_ID);
			return;
		case GROUP_PREPARING:
			sync_error(conn, hdr, KAFKA_ERROR_REBALANCE_IN_PROGRESS);
			return;
		case GROUP_STABLE:
			m->sync.resp = nagare_conn_new_response(conn);
			m->sync.id = nagare_request_id(hdr);
			answer_sync(g, m, KAFKA_ERROR_NONE);
			return;
		case GROUP_COMPLETING:
			break;
	}
	if (m->sync.resp)
		answer_sync(g, m, KAFKA_ERROR_REBALANCE_IN_PROGRESS);	/* superseded */
	m->sync.resp = nagare_conn_new_response(conn);
	m->sync.id = nagare_request_id(hdr);
	if (g->leader && strcmp(g->leader, m->member_id) == 0)
	{
		dlist_iter	iter;
		int			i;

		/* the leader's plan: everybody's assignment */
		dlist_foreach(iter, &g->members)
		{
			Member	   *x = dlist_container(Member, node, iter.cur);

			if (x->assignment)
				pfree(x->assignment);
			x->assignment = NULL;
			x->assignment_len = 0;
			for (i = 0; i < req->AssignmentsCount; i++)
				if (kstr_eq(req->Assignments[i].MemberId, x->member_id) &&
					req->Assignments[i].Assignment.len > 0)
				{
					x->assignment_len = req->Assignments[i].Assignment.len;
					x->assignment = MemoryContextAlloc(g->cxt, x->assignment_len);
					memcpy(x->assignment, req->Assignments[i].Assignment.ptr, x->assignment_len);
				}
		}
		g->state = GROUP_STABLE;
		snapshot_dirty = true;
		dlist_foreach(iter, &g->members)
		{
			Member	   *x = dlist_container(Member, node, iter.cur);

			if (x->sync.resp)
				answer_sync(g, x, KAFKA_ERROR_NONE);
		}
	}
}

/*---- Heartbeat and LeaveGroup ----*/

void
nagare_handle_heartbeat(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaHeartbeatRequest *req = &body->Heartbeat;
	KafkaHeartbeatResponse resp;
	Group	   *g = find_group(req->GroupId);
	Member	   *m = NULL;

	memset(&resp, 0, sizeof(resp));
	if (g == NULL)
		resp.ErrorCode = req->GroupId.len <= 0 ? KAFKA_ERROR_INVALID_GROUP_ID : KAFKA_ERROR_UNKNOWN_MEMBER_ID;
	else if ((resp.ErrorCode = member_error(g, req->MemberId, req->GroupInstanceId, &m)) != KAFKA_ERROR_NONE)
		;
	else if (req->GenerationId != g->generation)
		resp.ErrorCode = KAFKA_ERROR_ILLEGAL_GENERATION;
	else
	{
		m->last_heartbeat = GetCurrentTimestamp();
		if (g->state == GROUP_PREPARING)
			resp.ErrorCode = KAFKA_ERROR_REBALANCE_IN_PROGRESS;
	}
	nagare_kafka_respond(conn, hdr, &resp);
}

void
nagare_handle_leave_group(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaLeaveGroupRequest *req = &body->LeaveGroup;
	KafkaLeaveGroupResponse resp;
	Group	   *g = find_group(req->GroupId);
	int			i;

	memset(&resp, 0, sizeof(resp));
	if (hdr->RequestApiVersion < 3)
	{
		Member	   *m = NULL;

		if (g == NULL)
			resp.ErrorCode = KAFKA_ERROR_UNKNOWN_MEMBER_ID;
		else if ((resp.ErrorCode = member_error(g, req->MemberId, kafka_str(NULL), &m)) == KAFKA_ERROR_NONE)
			member_gone(g, m, "left the group");
		nagare_kafka_respond(conn, hdr, &resp);
		return;
	}
	resp.MembersCount = req->MembersCount;
	resp.Members = palloc0(sizeof(KafkaMemberResponse) * Max(req->MembersCount, 1));
	for (i = 0; i < req->MembersCount; i++)
	{
		KafkaMemberIdentity *id = &req->Members[i];
		Member	   *m = NULL;
		int16		err;

		resp.Members[i].MemberId = id->MemberId;
		resp.Members[i].GroupInstanceId = id->GroupInstanceId;
		if (g == NULL)
			err = KAFKA_ERROR_UNKNOWN_MEMBER_ID;
		else if (id->MemberId.len <= 0 && id->GroupInstanceId.len >= 0)
		{
			/* a static member leaving by its instance id */
			m = find_instance(g, id->GroupInstanceId);
			err = m ? KAFKA_ERROR_NONE : KAFKA_ERROR_UNKNOWN_MEMBER_ID;
		}
		else
			err = member_error(g, id->MemberId, id->GroupInstanceId, &m);
		resp.Members[i].ErrorCode = err;
		if (err == KAFKA_ERROR_NONE)
			member_gone(g, m, "left the group");
	}
	nagare_kafka_respond(conn, hdr, &resp);
}

/*---- timers ----*/

/* Expire members and pending ids, finish rebalances whose time is up */
static void
group_timers(TimestampTz now)
{
	HASH_SEQ_STATUS status;
	Group	   *g;

	if (groups == NULL)
		return;
	any_members = false;
	hash_seq_init(&status, groups);
	while ((g = hash_seq_search(&status)) != NULL)
	{
		dlist_mutable_iter iter;

		if (g->nmembers > 0 || !dlist_is_empty(&g->pending))
			any_members = true;

		dlist_foreach_modify(iter, &g->pending)
		{
			PendingMember *pm = dlist_container(PendingMember, node, iter.cur);

			if (now >= pm->expires)
				dlist_delete(&pm->node);
		}
		dlist_foreach_modify(iter, &g->members)
		{
			Member	   *m = dlist_container(Member, node, iter.cur);

			if (m->join.resp == NULL &&
				now >= TimestampTzPlusMilliseconds(m->last_heartbeat, m->session_timeout_ms))
			{
				member_gone(g, m, "session timed out");
				break;			/* the list may have been reset */
			}
		}
		maybe_complete_join(g, now);
	}
}

/*---- committed offsets, through the worker ----*/

/*
 * Ask the nagare worker (payload in shmem.h): cb gets its answer, or none
 * after nagare.request_timeout.  False if the channel is full.
 */
static bool
submit_job(NagareChannelKind kind, const char *payload, uint32 len, NagareChannelCallback cb,
		   void *arg)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   nagare_request_timeout_ms);

	return nagare_channel_submit(kind, payload, len, deadline, cb, arg);
}

/* The Kafka error for a job's outcome (sqlstate NULL: timed out) */
static int16
job_error(const char *sqlstate)
{
	if (sqlstate == NULL)
		return KAFKA_ERROR_REQUEST_TIMED_OUT;
	if (strcmp(sqlstate, "00000") == 0)
		return KAFKA_ERROR_NONE;
	ereport(LOG,
			(errmsg("nagare broker: the nagare worker could not store consumer group offsets (SQLSTATE %s)",
					sqlstate)));
	/*
	 * TODO(errmap): nagare_kafka_error_for_sqlstate(sqlstate,
	 * KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE) once broker/errmap.h is on main
	 */
	return KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
}

/* An OffsetCommit waiting for the worker */
typedef struct CommitWait
{
	NagareResponse *resp;
	NagareRequestId id;
	KafkaOffsetCommitResponse body;		/* in the connection's memory */
} CommitWait;

static void
commit_done(void *arg, const char *sqlstate, const char *data, uint32 len)
{
	CommitWait *cw = arg;
	int16		err = job_error(sqlstate);
	int			t;
	int			p;

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
	pfree(cw);
}

void
nagare_handle_offset_commit(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaOffsetCommitRequest *req = &body->OffsetCommit;
	MemoryContext cxt = nagare_conn_context(conn);
	CommitWait *cw = MemoryContextAllocZero(cxt, sizeof(CommitWait));
	Group	   *g = find_group(req->GroupId);
	int16		group_err = KAFKA_ERROR_NONE;
	StringInfoData json;
	bool		any = false;
	int			t;
	int			p;
	char		gname[MAX_GROUP_ID + 1];

	cw->id = nagare_request_id(hdr);
	if (!group_key(req->GroupId, gname))
		group_err = KAFKA_ERROR_INVALID_GROUP_ID;
	else if (hdr->RequestApiVersion == 0 || req->GenerationIdOrMemberEpoch < 0)
	{
		/* a consumer outside any group (assign()): only for groups without members */
		if (g != NULL && g->nmembers > 0)
			group_err = KAFKA_ERROR_UNKNOWN_MEMBER_ID;
		else if (g == NULL)
		{
			/* the group exists from now on (Empty), as in Kafka */
			(void) get_group(req->GroupId);
			snapshot_dirty = true;
		}
	}
	else
	{
		Member	   *m;

		if (g == NULL || g->nmembers == 0)
		{
			/* a generation of a group that does not exist (any more): Kafka's answers */
			group_err = hdr->RequestApiVersion >= 9 && g == NULL ? KAFKA_ERROR_GROUP_ID_NOT_FOUND :
				KAFKA_ERROR_ILLEGAL_GENERATION;
		}
		else if ((group_err = member_error(g, req->MemberId, req->GroupInstanceId, &m)) != KAFKA_ERROR_NONE)
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
	cw->body.TopicsCount = req->TopicsCount;
	cw->body.Topics = MemoryContextAllocZero(cxt, sizeof(KafkaOffsetCommitResponseTopic) * Max(req->TopicsCount, 1));
	for (t = 0; t < req->TopicsCount; t++)
	{
		KafkaOffsetCommitRequestTopic *rt = &req->Topics[t];
		KafkaOffsetCommitResponseTopic *ot = &cw->body.Topics[t];
		const BrokerTopic *topic = nagare_broker_topic(rt->Name.ptr, rt->Name.len);
		char	   *name;

		ot->Name = nagare_kstr_copy(cxt, rt->Name);
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
			}
		}
	}
	appendStringInfoChar(&json, ']');
	cw->resp = nagare_conn_new_response(conn);
	if (!any)
		commit_done(cw, "00000", NULL, 0);
	else if (!submit_job(NAGARE_GROUP_OFFSET_COMMIT, json.data, json.len, commit_done, cw))
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

	fg->error = job_error(sqlstate);
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

static int
parse_rows(FetchGroup *fg, OffsetRow **out)
{
	const uint8 *p = (const uint8 *) fg->rows;
	const uint8 *end = p + fg->len;
	int32		n;
	int			i;
	OffsetRow  *rows;

#define NEED(k) do { if (end - p < (k)) return i; } while (0)
	i = 0;
	*out = NULL;
	if (fg->rows == NULL || fg->len < 4)
		return 0;
	n = get_be32(p);
	p += 4;
	rows = palloc0(sizeof(OffsetRow) * Max(n, 1));
	*out = rows;
	for (i = 0; i < n; i++)
	{
		uint16		tl;
		int32		ml;

		NEED(2);
		memcpy(&tl, p, 2);
		tl = pg_ntoh16(tl);
		p += 2;
		NEED(tl + 20);
		memcpy(rows[i].topic, p, Min(tl, NAGARE_MAX_TOPIC_NAME));
		p += tl;
		{
			uint32		v32;
			uint64		v64;

			memcpy(&v32, p, 4);
			rows[i].partition = (int32) pg_ntoh32(v32);
			memcpy(&v64, p + 4, 8);
			rows[i].offset = (int64) pg_ntoh64(v64);
			memcpy(&v32, p + 12, 4);
			rows[i].epoch = (int32) pg_ntoh32(v32);
			memcpy(&v32, p + 16, 4);
			ml = (int32) pg_ntoh32(v32);
		}
		p += 20;
		if (ml >= 0)
		{
			NEED(ml);
			rows[i].metadata = pnstrdup((const char *) p, ml);
			p += ml;
		}
	}
#undef NEED
	return n;
}

static void
fill_partitions(FetchGroup *fg, OffsetRow *rows, int nrows,
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
				pp->ErrorCode = fg->error;
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

		fill_partitions(fg, rows, nrows, &resp.Topics, &resp.TopicsCount);
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
			fill_partitions(fg, rows, nrows, &topics, &ntopics);
			/* the v8 structs mirror the v0-7 ones */
			resp.Groups[i].TopicsCount = ntopics;
			resp.Groups[i].Topics = palloc0(sizeof(KafkaOffsetFetchResponseTopics) * Max(ntopics, 1));
			for (t = 0; t < ntopics; t++)
			{
				int			k;

				resp.Groups[i].Topics[t].Name = topics[t].Name;
				resp.Groups[i].Topics[t].PartitionsCount = topics[t].PartitionsCount;
				resp.Groups[i].Topics[t].Partitions =
					palloc0(sizeof(KafkaOffsetFetchResponsePartitions) * Max(topics[t].PartitionsCount, 1));
				for (k = 0; k < topics[t].PartitionsCount; k++)
				{
					KafkaOffsetFetchResponsePartitions *d = &resp.Groups[i].Topics[t].Partitions[k];
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
				 int32 ntopics, KafkaStr *names, int32 *counts, int32 **indexes)
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
	if (group.len <= 0)
	{
		fg->error = KAFKA_ERROR_INVALID_GROUP_ID;
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
	else if (!submit_job(NAGARE_GROUP_OFFSET_FETCH, json.data, json.len, fetch_group_done, fg))
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
		fetch_group_init(fw, &fw->groups[0], cxt, req->GroupId, n, names, counts, idx);
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

			for (t = 0; t < n; t++)
			{
				names[t] = rg->Topics[t].Name;
				counts[t] = rg->Topics[t].PartitionIndexesCount;
				idx[t] = rg->Topics[t].PartitionIndexes;
			}
			fetch_group_init(fw, &fw->groups[i], cxt, rg->GroupId, n, names, counts, idx);
		}
	}
	if (--fw->outstanding == 0)
		fetch_respond(fw);
}

/*---- FindCoordinator, ListGroups, DescribeGroups, DeleteGroups, OffsetDelete ----*/

void
nagare_handle_find_coordinator(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaFindCoordinatorRequest *req = &body->FindCoordinator;
	KafkaFindCoordinatorResponse resp;
	char		host[256];
	int32		port;
	int16		err = KAFKA_ERROR_NONE;
	const char *msg = NULL;
	int			i;

	nagare_advertised_address(conn, host, sizeof(host), &port);
	if (req->KeyType != 0)
	{
		err = KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
		msg = "transactions are not supported";
	}
	memset(&resp, 0, sizeof(resp));
	if (hdr->RequestApiVersion < 4)
	{
		resp.ErrorCode = err;
		resp.ErrorMessage = kafka_str(msg);
		resp.NodeId = err ? -1 : NAGARE_NODE_ID;
		resp.Host = kafka_str(err ? "" : host);
		resp.Port = err ? -1 : port;
	}
	else
	{
		resp.CoordinatorsCount = req->CoordinatorKeysCount;
		resp.Coordinators = palloc0(sizeof(KafkaCoordinator) * Max(req->CoordinatorKeysCount, 1));
		for (i = 0; i < req->CoordinatorKeysCount; i++)
		{
			resp.Coordinators[i].Key = req->CoordinatorKeys[i];
			resp.Coordinators[i].ErrorCode = err;
			resp.Coordinators[i].ErrorMessage = kafka_str(msg);
			resp.Coordinators[i].NodeId = err ? -1 : NAGARE_NODE_ID;
			resp.Coordinators[i].Host = kafka_str(err ? "" : host);
			resp.Coordinators[i].Port = err ? -1 : port;
		}
	}
	nagare_kafka_respond(conn, hdr, &resp);
}

void
nagare_handle_list_groups(NagareConn *conn, const KafkaRequestHeader *hdr, KafkaRequestBody *body)
{
	KafkaListGroupsRequest *req = &body->ListGroups;
	KafkaListGroupsResponse resp;
	HASH_SEQ_STATUS status;
	Group	   *g;
	int			n = 0;

	ensure_init();
	memset(&resp, 0, sizeof(resp));
	resp.Groups = palloc0(sizeof(KafkaListedGroup) * Max(hash_get_num_entries(groups), 1));
	hash_seq_init(&status, groups);
	while ((g = hash_seq_search(&status)) != NULL)
	{
		int			k;
		bool		wanted = req->StatesFilterCount <= 0;

		for (k = 0; k < req->StatesFilterCount; k++)
			if (kstr_eq(req->StatesFilter[k], state_names[g->state]))
				wanted = true;
		if (req->TypesFilterCount > 0)
		{
			bool		classic = false;

			for (k = 0; k < req->TypesFilterCount; k++)
				if (req->TypesFilter[k].len == 7 && pg_strncasecmp(req->TypesFilter[k].ptr, "classic", 7) == 0)
					classic = true;
			wanted = wanted && classic;
		}
		if (!wanted)
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
		Group	   *g = find_group(req->Groups[i]);

		d->GroupId = req->Groups[i];
		d->AuthorizedOperations = PG_INT32_MIN;
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

/* A DeleteGroups or OffsetDelete waiting for the worker */
typedef struct DeleteWait
{
	NagareResponse *resp;
	NagareRequestId id;
	int			n;
	int16	   *errors;
	KafkaStr   *names;
	int			outstanding;
	/* OffsetDelete: the response skeleton */
	KafkaOffsetDeleteResponse od;
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
	if (dw->id.api_key == KAFKA_API_DELETE_GROUPS)
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
	else
	{
		int			t;
		int			p;

		dw->od.ErrorCode = dw->errors[0];
		for (t = 0; t < dw->od.TopicsCount; t++)
			for (p = 0; p < dw->od.Topics[t].PartitionsCount; p++)
				if (dw->od.Topics[t].Partitions[p].ErrorCode == KAFKA_ERROR_NONE && dw->errors[0])
					dw->od.Topics[t].Partitions[p].ErrorCode = dw->errors[0];
		nagare_kafka_response_ready(dw->resp, dw->id, &dw->od, NULL);
	}
}

static void
delete_done(void *arg, const char *sqlstate, const char *data, uint32 len)
{
	DeleteItem *it = arg;
	DeleteWait *dw = it->dw;
	int16		err = job_error(sqlstate);

	if (err == KAFKA_ERROR_NONE && dw->id.api_key == KAFKA_API_DELETE_GROUPS && len >= 4)
	{
		uint32		n;

		memcpy(&n, data, 4);
		if (pg_ntoh32(n) == 0 && !it->known)
			err = KAFKA_ERROR_GROUP_ID_NOT_FOUND;
	}
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
		Group	   *g = find_group(name);
		char		key[MAX_GROUP_ID + 1];
		DeleteItem *it;
		StringInfoData json;

		dw->names[i].ptr = MemoryContextStrdup(cxt, group_key(name, key) ? key : "");
		dw->names[i].len = strlen(dw->names[i].ptr);
		if (!group_key(name, key))
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
			hash_search(groups, key, HASH_REMOVE, NULL);
			snapshot_dirty = true;
		}
		initStringInfo(&json);
		appendStringInfoString(&json, "{\"g\":");
		escape_json(&json, key);
		appendStringInfoChar(&json, '}');
		dw->outstanding++;
		if (!submit_job(NAGARE_GROUP_DELETE, json.data, json.len, delete_done, it))
		{
			dw->errors[i] = KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
			dw->outstanding--;
		}
		pfree(json.data);
	}
	if (--dw->outstanding == 0)
		delete_respond(dw);
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
	n = get_be32(p);
	p += 4;
	for (i = 0; i < n; i++)
	{
		uint16		tl;

		if (end - p < 2)
			return false;
		tl = (uint16) ((p[0] << 8) | p[1]);
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
	DeleteWait *dw = MemoryContextAllocZero(cxt, sizeof(DeleteWait));
	Group	   *g = find_group(req->GroupId);
	char		key[MAX_GROUP_ID + 1];
	int			t;
	int			p;

	dw->id = nagare_request_id(hdr);
	dw->resp = nagare_conn_new_response(conn);
	dw->n = 1;
	dw->errors = MemoryContextAllocZero(cxt, sizeof(int16));
	dw->outstanding = 1;
	dw->od.TopicsCount = req->TopicsCount;
	dw->od.Topics = MemoryContextAllocZero(cxt, sizeof(KafkaOffsetDeleteResponseTopic) * Max(req->TopicsCount, 1));
	if (!group_key(req->GroupId, key))
		dw->errors[0] = KAFKA_ERROR_INVALID_GROUP_ID;
	for (t = 0; t < req->TopicsCount; t++)
	{
		KafkaOffsetDeleteRequestTopic *rt = &req->Topics[t];
		KafkaOffsetDeleteResponseTopic *ot = &dw->od.Topics[t];
		char	   *name = (char *) nagare_kstr_copy(cxt, rt->Name).ptr;
		bool		busy = false;
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
		for (p = 0; p < rt->PartitionsCount; p++)
		{
			ot->Partitions[p].PartitionIndex = rt->Partitions[p].PartitionIndex;
			ot->Partitions[p].ErrorCode = busy ? KAFKA_ERROR_GROUP_SUBSCRIBED_TO_TOPIC : KAFKA_ERROR_NONE;
		}
		if (busy || dw->errors[0] || rt->PartitionsCount == 0)
			continue;
		initStringInfo(&json);
		appendStringInfoString(&json, "{\"g\":");
		escape_json(&json, key);
		appendStringInfoString(&json, ",\"t\":");
		escape_json(&json, name);
		appendStringInfoString(&json, ",\"p\":[");
		for (p = 0; p < rt->PartitionsCount; p++)
			appendStringInfo(&json, "%s%d", p ? "," : "", rt->Partitions[p].PartitionIndex);
		appendStringInfoString(&json, "]}");
		{
			DeleteItem *it = MemoryContextAllocZero(cxt, sizeof(DeleteItem));

			it->dw = dw;
			it->index = 0;
			it->known = true;
			dw->outstanding++;
			if (!submit_job(NAGARE_GROUP_OFFSET_DELETE, json.data, json.len, delete_done, it))
			{
				dw->errors[0] = KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE;
				dw->outstanding--;
			}
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
	nt = get_be32(p);
	p += 4;
	for (i = 0; i < nt; i++)
	{
		uint16		tl;
		int32		np;
		int			k;
		char		topic[NAGARE_MAX_TOPIC_NAME + 1];

		if (end - p < 2)
			break;
		tl = (uint16) ((p[0] << 8) | p[1]);
		p += 2;
		if (end - p < tl + 4 || tl > NAGARE_MAX_TOPIC_NAME)
			break;
		memcpy(topic, p, tl);
		topic[tl] = '\0';
		p += tl;
		np = get_be32(p);
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
			appendStringInfo(s, "%s%d", k ? "," : "", get_be32(p));
			p += 4;
		}
		appendStringInfoString(s, "]}");
	}
done:
	appendStringInfoChar(s, ']');
}

static void
publish_snapshot(void)
{
	StringInfoData s;
	HASH_SEQ_STATUS status;
	Group	   *g;
	bool		first = true;

	ensure_init();
	initStringInfo(&s);
	appendStringInfoChar(&s, '[');
	hash_seq_init(&status, groups);
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
	if (sqlstate == NULL || strcmp(sqlstate, "00000") != 0 || len < 4)
		return;
	n = get_be32(p);
	p += 4;
	for (i = 0; i < n && end - p >= 2; i++)
	{
		int			l = (p[0] << 8) | p[1];
		KafkaStr	name;

		p += 2;
		if (end - p < l)
			break;
		name.ptr = (const char *) p;
		name.len = l;
		if (find_group(name) == NULL)
			(void) get_group(name);
		p += l;
	}
	groups_loaded = true;
	snapshot_dirty = true;
}

/*
 * Each loop turn: timers, the groups known by their committed offsets, the
 * snapshot.  The worker's answers come through nagare_channel_turn().
 */
void
nagare_group_turn(TimestampTz now)
{
	static TimestampTz next_timers = 0;
	static TimestampTz next_list_try = 0;

	if (nagare_groups == NULL)
		return;
	ensure_init();
	if (now >= next_timers)
	{
		group_timers(now);
		next_timers = TimestampTzPlusMilliseconds(now, 100);
	}
	if (!groups_loaded && !groups_loading && now >= next_list_try)
	{
		groups_loading = submit_job(NAGARE_GROUP_LIST, "{}", 2, groups_listed, NULL);
		next_list_try = TimestampTzPlusMilliseconds(now, 5000);
	}
	if (snapshot_dirty)
	{
		publish_snapshot();
		snapshot_dirty = false;
	}
}

/* Is anything waiting on a timer (the loop then wakes up for it)? */
bool
nagare_group_busy(void)
{
	return any_members;
}
