/*-------------------------------------------------------------------------
 *
 * acl.h
 *	  Kafka's ACL model and the one evaluator of it, for the broker's Kafka
 *	  APIs and the backends' SQL functions alike.
 *
 * An ACL is Kafka's: a resource pattern (resource type, LITERAL or PREFIXED
 * name, LITERAL "*" for every name), a principal ("User:name", "User:*"), a
 * host (an IP address or "*"), an operation and ALLOW or DENY.  They are
 * rows of nagare.acl; the nagare worker copies them into shared memory
 * (NagareAclShared in shmem.h), and every process decides from that copy.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_ACL_ACL_H
#define NAGARE_ACL_ACL_H

#include "kafka/protocol.h"
#include "shmem.h"

/* Kafka's PatternType codes (org.apache.kafka.common.resource.PatternType) */
typedef enum NagareAclPattern
{
	NAGARE_ACL_PATTERN_UNKNOWN = 0,
	NAGARE_ACL_PATTERN_ANY = 1,
	NAGARE_ACL_PATTERN_MATCH = 2,
	NAGARE_ACL_PATTERN_LITERAL = 3,
	NAGARE_ACL_PATTERN_PREFIXED = 4
} NagareAclPattern;

/* Kafka's AclPermissionType codes */
typedef enum NagareAclPermission
{
	NAGARE_ACL_PERMISSION_UNKNOWN = 0,
	NAGARE_ACL_PERMISSION_ANY = 1,
	NAGARE_ACL_PERMISSION_DENY = 2,
	NAGARE_ACL_PERMISSION_ALLOW = 3
} NagareAclPermission;

/* The one name of Kafka's cluster resource */
#define NAGARE_ACL_CLUSTER_NAME		"kafka-cluster"

/*
 * An ACL binding filter (DescribeAcls, DeleteAcls, nagare.delete_acls()):
 * NULL strings and the ANY codes match anything; pattern MATCH matches
 * every ACL that applies to name.
 */
typedef struct NagareAclFilter
{
	int			resource_type;
	const char *name;
	int			pattern_type;
	const char *principal;
	const char *host;
	int			operation;
	int			permission;
} NagareAclFilter;

/* codes and their names ("TOPIC", "PREFIXED", "READ", "ALLOW", ...) */
extern const char *nagare_acl_resource_type_name(int code);
extern const char *nagare_acl_pattern_name(int code);
extern const char *nagare_acl_operation_name(int code);
extern const char *nagare_acl_permission_name(int code);
extern int	nagare_acl_resource_type_code(const char *name);
extern int	nagare_acl_pattern_code(const char *name);
extern int	nagare_acl_operation_code(const char *name);
extern int	nagare_acl_permission_code(const char *name);

extern const char *nagare_acl_binding_invalid(const NagareAclEntry *e);
extern const char *nagare_acl_filter_invalid(const NagareAclFilter *f);
extern bool nagare_acl_filter_matches(const NagareAclFilter *f, const NagareAclEntry *e);

/* the decision */
extern bool nagare_acl_authorized(const char *principal, const char *host,
								  KafkaResourceType rtype, const char *name, size_t namelen,
								  KafkaAclOperation op);
extern bool nagare_acl_is_super_user(const char *principal);
extern bool nagare_acl_allow_everyone(void);
extern void nagare_acl_note_denied(const char *principal, const char *host,
								   KafkaResourceType rtype, const char *name, size_t namelen,
								   KafkaAclOperation op);

/* SQL backends: current_user as "User:<role>" */
extern bool nagare_acl_current_user_authorized(KafkaResourceType rtype, const char *name,
											   KafkaAclOperation op);
extern void nagare_acl_require(KafkaResourceType rtype, const char *name, KafkaAclOperation op);

#endif							/* NAGARE_ACL_ACL_H */
