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
 * The rest of the coordinator is in two files: committed offsets, which
 * the nagare worker keeps in nagare.group_offset (group_offsets.c), and
 * listing, describing and deleting groups, with the snapshot of the groups
 * for SQL (group_admin.c).  KIP-848 consumer groups (ConsumerGroupHeartbeat)
 * are in group_consumer.c; a JoinGroup for one with members is
 * INCONSISTENT_GROUP_PROTOCOL.  Nothing of a group but its offsets survives a
 * restart: consumers rejoin, as they do when a Kafka coordinator moves.
 *
 * Groups are bounded: a new group beyond nagare.max_groups is refused with
 * COORDINATOR_NOT_AVAILABLE (Kafka has no such limit, and no error for it;
 * clients retry that one), and a group that stayed Empty for
 * nagare.empty_group_retention with no committed offsets is forgotten
 * (group_admin.c), as Kafka's offsets cleanup forgets it.  An Empty group
 * keeps its protocol type, as Kafka's does.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/pg_prng.h"
#include "lib/ilist.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "broker/acl_api.h"
#include "broker/group.h"
#include "broker/group_internal.h"
#include "broker/kafka_api.h"
#include "broker/topicmap.h"
#include "nagare.h"
#include "shmem.h"

static HTAB *groups = NULL;
static MemoryContext group_context = NULL;
static bool any_members = false;	/* some group has members (timers matter) */

static void rebalance(Group *g, const char *why);
static void maybe_complete_join(Group *g, TimestampTz now);
static void remove_member(Group *g, Member *m, const char *why);

/*---- the groups ----*/

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

/* The broker's groups, by name */
HTAB *
nagare_group_table(void)
{
	ensure_init();
	return groups;
}

static bool
kstr_eq(KafkaStr a, const char *b)
{
	if (a.len < 0 || b == NULL)
		return a.len < 0 && b == NULL;
	return (size_t) a.len == strlen(b) && memcmp(a.ptr, b, a.len) == 0;
}

/* A group id as a C string (key: MAX_GROUP_ID + 1 bytes); false if invalid */
bool
nagare_group_key(KafkaStr id, char *key)
{
	if (id.len <= 0 || id.len > MAX_GROUP_ID || memchr(id.ptr, '\0', id.len))
		return false;
	memcpy(key, id.ptr, id.len);
	key[id.len] = '\0';
	return true;
}

/* The group named id, or NULL */
Group *
nagare_group_find(KafkaStr id)
{
	char		key[MAX_GROUP_ID + 1];

	ensure_init();
	if (!nagare_group_key(id, key))
		return NULL;
	return hash_search(groups, key, HASH_FIND, NULL);
}

/* The group named id, Empty if it is new; NULL if the id is invalid */
Group *
nagare_group_get(KafkaStr id)
{
	char		key[MAX_GROUP_ID + 1];
	Group	   *g;
	bool		found;

	ensure_init();
	if (!nagare_group_key(id, key))
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
		g->empty_since = GetCurrentTimestamp();
		g->listed = 0;
		g->committer_principal = NULL;
		g->committer_client_id = NULL;
		g->offsets = NULL;
		g->consumer = false;
		dlist_init(&g->cmembers);
		g->ncmembers = 0;
		g->group_epoch = 0;
		g->assignment_epoch = 0;
		g->cg_metadata_hash = 0;
		g->assignor[0] = '\0';
		nagare_group_snapshot_dirty = true;
	}
	return g;
}

/*
 * The group named id, Empty if it is new, unless it is new and there are
 * nagare.max_groups groups already: then NULL with *full set (logged at most
 * once a minute).  NULL without *full if the id is invalid.
 */
Group *
nagare_group_get_bounded(KafkaStr id, bool *full)
{
	static TimestampTz last_log = 0;
	Group *g = nagare_group_find(id);
	char key[MAX_GROUP_ID + 1];
	TimestampTz now;

	*full = false;
	if (g != NULL || !nagare_group_key(id, key))
		return g;
	if (hash_get_num_entries(groups) < nagare_max_groups)
		return nagare_group_get(id);
	*full = true;
	now = GetCurrentTimestamp();
	if (now >= TimestampTzPlusMilliseconds(last_log, 60000))
	{
		ereport(LOG,
				(errmsg("nagare broker: new consumer group \"%.*s\" refused: %ld groups exist (nagare.max_groups)",
						(int) Min(id.len, MAX_GROUP_ID), id.ptr,
						hash_get_num_entries(groups)),
				 errdetail(
					 "Kafka clients get COORDINATOR_NOT_AVAILABLE until a group is deleted or expires; this is logged at most once a minute."),
				 errhint(
					 "Delete unused groups (nagare.delete_group(), kafka-consumer-groups --delete) or raise nagare.max_groups.")));
		last_log = now;
	}
	return NULL;
}

/* Has the group neither members nor members about to join? */
bool
nagare_group_is_empty(Group *g)
{
	return g->nmembers == 0 && dlist_is_empty(&g->pending) &&
		   (!g->consumer || g->ncmembers == 0);
}

/* Forget a group (it must be empty) */
void
nagare_group_remove(Group *g)
{
	char key[MAX_GROUP_ID + 1];

	Assert(nagare_group_is_empty(g));
	strlcpy(key, g->name, sizeof(key));
	nagare_group_forget_offsets(g);
	if (g->committer_principal != NULL)
	{
		pfree(g->committer_principal);
		pfree(g->committer_client_id);
	}
	MemoryContextDelete(g->cxt);
	hash_search(groups, key, HASH_REMOVE, NULL);
	nagare_group_snapshot_dirty = true;
	nagare_group_offsets_dirty = true;
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
int16
nagare_group_member_error(Group *g, KafkaStr member_id, KafkaStr instance_id, Member **out)
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

		Assert(iter.cur->next != NULL); /* the list is circular: scan-build cannot know */
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

/*
 * A member is the principal of the connection of its last JoinGroup (a
 * static member coming back on another connection may be another's): the
 * group's service in SQL is its members' (nagare.consumer_lag).
 */
static void
set_principal(Group *g, Member *m, NagareConn *conn)
{
	const char *principal = nagare_conn_identity(conn)->principal;

	if (m->principal != NULL && strcmp(m->principal, principal) == 0)
		return;
	if (m->principal != NULL)
		pfree(m->principal);
	m->principal = MemoryContextStrdup(g->cxt, principal);
	nagare_group_snapshot_dirty = true;
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
	set_principal(g, m, conn);
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
	nagare_group_snapshot_dirty = true;
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
	char key[MAX_GROUP_ID + 1];

	if (version == 0)
		req->RebalanceTimeoutMs = req->SessionTimeoutMs;
	if (!nagare_authorized_group(conn, req->GroupId, KAFKA_ACL_READ))
	{
		answer_join_error(conn, hdr, KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED, NULL);
		return;
	}
	/* empty, too long, or with a NUL: nagare_group_get() would give NULL */
	if (!nagare_group_key(req->GroupId, key))
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
	{
		bool full;

		g = nagare_group_get_bounded(req->GroupId, &full);
		if (g == NULL)
		{
			/* nagare.max_groups: clients find the coordinator again and retry */
			answer_join_error(conn, hdr, KAFKA_ERROR_COORDINATOR_NOT_AVAILABLE, NULL);
			return;
		}
	}
	if (g->consumer)
	{
		/* a KIP-848 group (group_consumer.c): classic members only when empty */
		if (g->ncmembers > 0)
		{
			answer_join_error(conn, hdr, KAFKA_ERROR_INCONSISTENT_GROUP_PROTOCOL, NULL);
			return;
		}
		g->consumer = false;
	}

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
			set_principal(g, old, conn);
			old->session_timeout_ms = req->SessionTimeoutMs;
			old->rebalance_timeout_ms = req->RebalanceTimeoutMs > 0 ? req->RebalanceTimeoutMs : req->SessionTimeoutMs;
			m = old;
			nagare_group_snapshot_dirty = true;
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
	set_principal(g, m, conn);
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
	nagare_group_snapshot_dirty = true;
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
	nagare_group_snapshot_dirty = true;
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
	nagare_group_snapshot_dirty = true;
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
		nagare_group_snapshot_dirty = true;
		/* reclaim the group's memory: nothing of it is in use but the
		 * protocol type, which an Empty group keeps (Kafka's ListGroups
		 * shows it) */
		{
			char ptype[256];

			strlcpy(ptype, g->protocol_type ? g->protocol_type : "", sizeof(ptype));
			MemoryContextReset(g->cxt);
			g->protocol_type = ptype[0] ? MemoryContextStrdup(g->cxt, ptype) : NULL;
		}
		dlist_init(&g->members);
		dlist_init(&g->pending);
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
	Group	   *g = nagare_group_find(req->GroupId);
	Member	   *m;
	int16		err;

	if (!nagare_authorized_group(conn, req->GroupId, KAFKA_ACL_READ))
	{
		sync_error(conn, hdr, KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED);
		return;
	}
	if (g == NULL)
	{
		sync_error(conn, hdr, req->GroupId.len <= 0 ? KAFKA_ERROR_INVALID_GROUP_ID : KAFKA_ERROR_UNKNOWN_MEMBER_ID);
		return;
	}
	err = nagare_group_member_error(g, req->MemberId, req->GroupInstanceId, &m);
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
		nagare_group_snapshot_dirty = true;
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
	Group	   *g = nagare_group_find(req->GroupId);
	Member	   *m = NULL;

	memset(&resp, 0, sizeof(resp));
	if (!nagare_authorized_group(conn, req->GroupId, KAFKA_ACL_READ))
		resp.ErrorCode = KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED;
	else if (g == NULL)
		resp.ErrorCode = req->GroupId.len <= 0 ? KAFKA_ERROR_INVALID_GROUP_ID : KAFKA_ERROR_UNKNOWN_MEMBER_ID;
	else if ((resp.ErrorCode = nagare_group_member_error(g, req->MemberId, req->GroupInstanceId, &m)) != KAFKA_ERROR_NONE)
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
	Group	   *g = nagare_group_find(req->GroupId);
	int			i;

	memset(&resp, 0, sizeof(resp));
	if (!nagare_authorized_group(conn, req->GroupId, KAFKA_ACL_READ))
	{
		resp.ErrorCode = KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED;
		nagare_kafka_respond(conn, hdr, &resp);
		return;
	}
	if (hdr->RequestApiVersion < 3)
	{
		Member	   *m = NULL;

		if (g == NULL)
			resp.ErrorCode = KAFKA_ERROR_UNKNOWN_MEMBER_ID;
		else if ((resp.ErrorCode = nagare_group_member_error(g, req->MemberId, kafka_str(NULL), &m)) == KAFKA_ERROR_NONE)
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
			err = nagare_group_member_error(g, id->MemberId, id->GroupInstanceId, &m);
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
	bool expiry_due = false;

	if (groups == NULL)
		return;
	any_members = false;
	hash_seq_init(&status, groups);
	while ((g = hash_seq_search(&status)) != NULL)
	{
		dlist_mutable_iter iter;

		if (g->nmembers > 0 || !dlist_is_empty(&g->pending))
			any_members = true;
		if (nagare_consumer_group_timers(g, now))
			any_members = true;
		/* how long it has been Empty, for nagare.empty_group_retention */
		if (!nagare_group_is_empty(g))
			g->empty_since = 0;
		else if (g->empty_since == 0)
			g->empty_since = now;
		else if (now >= TimestampTzPlusMilliseconds(g->empty_since,
													nagare_empty_group_retention_ms))
			expiry_due = true;

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
	nagare_group_expire(now, expiry_due);
}

/*---- FindCoordinator ----*/

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
		/*
		 * No transactions yet.  A retriable error (COORDINATOR_NOT_AVAILABLE)
		 * kept init_transactions() asking until its timeout; this one is
		 * fatal in librdkafka and the Java client, which fail at once with
		 * the message, as InitProducerId would answer.
		 */
		err = KAFKA_ERROR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
		msg = "transactions are not supported by nagare yet";
	}
	memset(&resp, 0, sizeof(resp));
	if (hdr->RequestApiVersion < 4)
	{
		if (err == KAFKA_ERROR_NONE && !nagare_authorized_group(conn, req->Key, KAFKA_ACL_DESCRIBE))
			err = KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED;
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
			int16		kerr = err;

			if (kerr == KAFKA_ERROR_NONE &&
				!nagare_authorized_group(conn, req->CoordinatorKeys[i], KAFKA_ACL_DESCRIBE))
				kerr = KAFKA_ERROR_GROUP_AUTHORIZATION_FAILED;
			resp.Coordinators[i].Key = req->CoordinatorKeys[i];
			resp.Coordinators[i].ErrorCode = kerr;
			resp.Coordinators[i].ErrorMessage = kafka_str(kerr == err ? msg : NULL);
			resp.Coordinators[i].NodeId = kerr ? -1 : NAGARE_NODE_ID;
			resp.Coordinators[i].Host = kafka_str(kerr ? "" : host);
			resp.Coordinators[i].Port = kerr ? -1 : port;
		}
	}
	nagare_kafka_respond(conn, hdr, &resp);
}

/*
 * Each loop turn: timers, the groups known by their committed offsets, the
 * snapshot.  The nagare worker's answers come through the channel
 * (nagare_channel_turn()).
 */
void
nagare_group_turn(TimestampTz now)
{
	static TimestampTz next_timers = 0;

	if (nagare_groups == NULL)
		return;
	ensure_init();
	if (now >= next_timers)
	{
		group_timers(now);
		next_timers = TimestampTzPlusMilliseconds(now, 100);
		if (nagare_group_offsets_dirty)
			nagare_group_publish_offsets();
	}
	nagare_group_load_committed(now);
	nagare_group_take_notices();
	if (nagare_group_snapshot_dirty)
	{
		nagare_group_publish_snapshot();
		nagare_group_snapshot_dirty = false;
	}
}

/* Is anything waiting on a timer (the loop then wakes up for it)? */
bool
nagare_group_busy(void)
{
	return any_members;
}
