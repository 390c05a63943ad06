/*-------------------------------------------------------------------------
 *
 * acl_api.h
 *	  Authorization in the broker (acl_api.c): the checks every handler
 *	  makes, and the ACL APIs DescribeAcls, CreateAcls and DeleteAcls.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_BROKER_ACL_API_H
#define NAGARE_BROKER_ACL_API_H

#include "lib/stringinfo.h"

#include "broker/net.h"
#include "kafka/messages.h"
#include "kafka/protocol.h"

/*
 * Whether the client of conn may do op on the resource (name: len bytes;
 * NULL/0 for the cluster).  A denial is counted and sampled to the log.
 * Cheap enough for every partition of a Produce or Fetch: decisions are
 * cached by acl/acl.c until the ACLs change.
 */
extern bool nagare_authorized(NagareConn *conn, KafkaResourceType rtype, const char *name,
							  size_t len, KafkaAclOperation op);
/* the same without counting a denial (filtering lists, "any topic" checks) */
extern bool nagare_authorized_quiet(NagareConn *conn, KafkaResourceType rtype,
									const char *name, size_t len, KafkaAclOperation op);

static inline bool
nagare_authorized_topic(NagareConn *conn, KafkaStr name, KafkaAclOperation op)
{
	return nagare_authorized(conn, KAFKA_RESOURCE_TOPIC, name.ptr, Max(name.len, 0), op);
}

static inline bool
nagare_authorized_group(NagareConn *conn, KafkaStr name, KafkaAclOperation op)
{
	return nagare_authorized(conn, KAFKA_RESOURCE_GROUP, name.ptr, Max(name.len, 0), op);
}

/*
 * Kafka's authorized operations of a resource for the client of conn: bit
 * (1 << operation code) for each operation Kafka supports on the resource
 * type that the client may do (Metadata v8+, DescribeGroups v3+, when the
 * request asks; otherwise the field is INT32_MIN); 0 when it may not
 * DESCRIBE the resource.
 */
extern int32 nagare_authorized_operations(NagareConn *conn, KafkaResourceType rtype,
										  const char *name, size_t len);

/*
 * The topic a request names by topic id, or NULL for an id no topic has
 * and for one whose topic the client may not DESCRIBE: both get
 * UNKNOWN_TOPIC_ID, so an id reveals nothing.
 */
struct BrokerTopic;
extern const struct BrokerTopic *nagare_described_topic_by_id(NagareConn *conn,
															  const KafkaUuid *id);

extern void nagare_audit_client_member(StringInfo buf, NagareConn *conn,
									   const KafkaRequestHeader *hdr);
extern bool nagare_authorized_cluster(NagareConn *conn, KafkaAclOperation op);
extern bool nagare_authorized_any_topic(NagareConn *conn, KafkaAclOperation op);

#endif							/* NAGARE_BROKER_ACL_API_H */
