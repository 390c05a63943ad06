/*-------------------------------------------------------------------------
 *
 * group_internal.h
 *	  What the consumer group coordinator's files share: the broker's groups
 *	  (group.c), their offsets through the nagare worker (group_offsets.c),
 *	  listing, describing and deleting them (group_admin.c), and KIP-848
 *	  consumer groups (group_consumer.c).
 *
 * The groups live in the broker's memory only, in a hash table by name that
 * group.c owns; a group's members, protocols and assignments are in the
 * group's own memory context.  There are at most nagare.max_groups of them
 * (nagare_group_get_bounded()), but groups loaded because they have
 * committed offsets are never refused; an Empty group with no committed
 * offsets is forgotten after nagare.empty_group_retention.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_BROKER_GROUP_INTERNAL_H
#define NAGARE_BROKER_GROUP_INTERNAL_H

#include "lib/ilist.h"
#include "lib/stringinfo.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "broker/kafka_api.h"
#include "queue/channel.h"

#define MAX_GROUP_ID		255

typedef enum GroupState
{
	GROUP_EMPTY,
	GROUP_PREPARING,			/* PreparingRebalance */
	GROUP_COMPLETING,			/* CompletingRebalance */
	GROUP_STABLE
} GroupState;

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
	char *principal; /* its connection's at JoinGroup, "User:..." */
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
	TimestampTz empty_since; /* Empty with no pending members since; 0 if not */
	uint32 listed; /* the last list of groups with offsets named it */
	/*
	 * Outlive an Empty group's reset of cxt (in TopMemoryContext, freed by
	 * nagare_group_remove()): who last committed offsets through this
	 * broker (NULL: none since it started), and the committed offsets the
	 * broker knows, GroupOffset by (topic id, partition), for the lag in
	 * /metrics (group_admin.c; NULL when none)
	 */
	char *committer_principal;
	char *committer_client_id;
	HTAB *offsets;
	/*
	 * A KIP-848 consumer group (group_consumer.c) rather than a classic one:
	 * its members (CMember, in cmembers; the classic members list is then
	 * empty), the group and assignment epochs, the assignor of the target
	 * assignment, and a hash of the subscribed topics' partitions when the
	 * target was computed (0: compute it again)
	 */
	bool consumer;
	dlist_head cmembers;
	int ncmembers;
	int32 group_epoch;
	int32 assignment_epoch;
	uint64 cg_metadata_hash;
	char assignor[16];
} Group;

typedef struct GroupOffsetKey
{
	int32 topic_id;
	int32 partition;
} GroupOffsetKey;

typedef struct GroupOffset
{
	GroupOffsetKey key;
	int64 offset;
} GroupOffset;

/* group.c */
extern HTAB *nagare_group_table(void);
extern bool nagare_group_key(KafkaStr id, char *key);
extern Group *nagare_group_find(KafkaStr id);
extern Group *nagare_group_get(KafkaStr id);
extern Group *nagare_group_get_bounded(KafkaStr id, bool *full);
extern void nagare_group_remove(Group *g);
extern bool nagare_group_is_empty(Group *g);
extern int16 nagare_group_member_error(Group *g, KafkaStr member_id, KafkaStr instance_id,
									   Member **out);

/* group_offsets.c: requests to the nagare worker */
extern bool nagare_group_submit(NagareChannelKind kind, const char *payload, uint32 len,
								NagareChannelCallback cb, void *arg);
extern int16 nagare_group_answer_error(const char *sqlstate);

/* group_admin.c: the snapshot for SQL, groups known by their offsets */
extern bool nagare_group_snapshot_dirty;
extern void nagare_group_publish_snapshot(void);
extern void nagare_group_load_committed(TimestampTz now);
extern void nagare_group_take_notices(void);
extern void nagare_group_expire(TimestampTz now, bool due);
extern bool nagare_group_offsets_dirty;
extern void nagare_group_note_offset(Group *g, int32 topic_id, int32 partition,
									 int64 offset);
extern void nagare_group_forget_offsets(Group *g);
extern void nagare_group_publish_offsets(void);

/* group_consumer.c: KIP-848 consumer groups */
extern void nagare_consumer_group_init(Group *g);
extern const char *nagare_consumer_group_state(Group *g);
extern int16 nagare_consumer_commit_error(Group *g, KafkaStr member_id, int32 epoch);
extern bool nagare_consumer_group_timers(Group *g, TimestampTz now);
extern void nagare_consumer_group_members_json(StringInfo s, Group *g, bool *first);

#endif							/* NAGARE_BROKER_GROUP_INTERNAL_H */
