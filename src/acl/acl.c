/*-------------------------------------------------------------------------
 *
 * acl.c
 *	  The one ACL evaluator: Kafka's StandardAuthorizer over the shared copy
 *	  of nagare.acl, for the broker and for SQL backends.
 *
 * The decision for (principal, host, resource, operation) is Kafka's
 * (metadata/.../authorizer/StandardAuthorizerData.java):
 *
 *	1. a super user (nagare.super_users; in a backend also a PostgreSQL
 *	   superuser, and in the broker a client logged in as one, which
 *	   broker/acl_api.c checks before asking here) is allowed;
 *	2. the ACLs that apply are those of the resource's type whose pattern
 *	   matches the name (LITERAL equal, LITERAL "*", PREFIXED prefix), whose
 *	   principal is the one asking or "User:*", whose host is the client's
 *	   or "*";
 *	3. any of them that DENYs the operation (or ALL) denies;
 *	4. else any that ALLOWs it allows, where ALLOW of ALL allows everything,
 *	   of READ, WRITE, DELETE or ALTER also DESCRIBE, and of ALTER_CONFIGS
 *	   also DESCRIBE_CONFIGS;
 *	5. else, if no ACL at all (for anybody) matches the resource,
 *	   nagare.allow_everyone_if_no_acl_found decides; otherwise denied.
 *
 * Until the nagare worker has copied nagare.acl once after server start, no
 * resource has an ACL (step 5 decides); when nagare.acl had more rows than
 * nagare.max_acls the copy is incomplete and everything but super users is
 * denied.
 *
 * Cost.  Checks sit on the produce and fetch paths, so each process caches
 * the outcome of steps 2-5's scan per (principal, host, resource type,
 * name, operation) in a local hash table, emptied whenever the table's
 * version changes and when it grows past CACHE_MAX entries.  With no ACL at
 * all nothing is scanned or cached.  Steps 1 and 5's setting are applied
 * after the cache, so a SIGHUP that changes them takes effect at once.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inet.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "acl/acl.h"
#include "loglimit.h"
#include "nagare.h"

/* Most decisions a process caches before it starts again */
#define CACHE_MAX	65536

/* At most one LOG line about denials per process in this many ms */
#define DENIED_LOG_INTERVAL_MS	10000

typedef enum AclOutcome
{
	OUTCOME_NO_ACL,				/* no ACL matches the resource */
	OUTCOME_ALLOW,
	OUTCOME_DENY
} AclOutcome;

typedef struct AclCacheKey
{
	uint8		resource_type;
	uint8		operation;
	uint16		namelen;
	char		principal[NAGARE_ACL_PRINCIPAL_MAX];
	char		host[NAGARE_ACL_HOST_MAX];
	char		name[NAGARE_ACL_NAME_MAX + 1];
} AclCacheKey;

typedef struct AclCacheEntry
{
	AclCacheKey key;
	AclOutcome	outcome;
} AclCacheEntry;

/* this process's cache, and the table version it holds decisions of */
static HTAB *acl_cache = NULL;
static uint64 acl_cache_version = 0;
static bool acl_table_empty = true;

/* denials not yet logged, and when the last LOG line went out */
static NagareLogLimit denied_log = NAGARE_LOG_LIMIT(1, DENIED_LOG_INTERVAL_MS);

static const char *const resource_type_names[] = {
	"UNKNOWN", "ANY", "TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID",
	"DELEGATION_TOKEN", "USER"
};
static const char *const pattern_names[] = {
	"UNKNOWN", "ANY", "MATCH", "LITERAL", "PREFIXED"
};
static const char *const operation_names[] = {
	"UNKNOWN", "ANY", "ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER",
	"DESCRIBE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS",
	"IDEMPOTENT_WRITE", "CREATE_TOKENS", "DESCRIBE_TOKENS"
};
static const char *const permission_names[] = {
	"UNKNOWN", "ANY", "DENY", "ALLOW"
};

static const char *
code_name(const char *const *names, int n, int code)
{
	return code >= 0 && code < n ? names[code] : "UNKNOWN";
}

/* The code of a name, case-insensitively; 0 (UNKNOWN) when none */
static int
name_code(const char *const *names, int n, const char *name)
{
	int			i;

	for (i = 1; i < n && name != NULL; i++)
		if (pg_strcasecmp(names[i], name) == 0)
			return i;
	return 0;
}

const char *
nagare_acl_resource_type_name(int code)
{
	return code_name(resource_type_names, lengthof(resource_type_names), code);
}

const char *
nagare_acl_pattern_name(int code)
{
	return code_name(pattern_names, lengthof(pattern_names), code);
}

const char *
nagare_acl_operation_name(int code)
{
	return code_name(operation_names, lengthof(operation_names), code);
}

const char *
nagare_acl_permission_name(int code)
{
	return code_name(permission_names, lengthof(permission_names), code);
}

int
nagare_acl_resource_type_code(const char *name)
{
	return name_code(resource_type_names, lengthof(resource_type_names), name);
}

int
nagare_acl_pattern_code(const char *name)
{
	return name_code(pattern_names, lengthof(pattern_names), name);
}

int
nagare_acl_operation_code(const char *name)
{
	return name_code(operation_names, lengthof(operation_names), name);
}

int
nagare_acl_permission_code(const char *name)
{
	return name_code(permission_names, lengthof(permission_names), name);
}

/*
 * Why Kafka would refuse to create this ACL (AclControlManager and
 * AclApis), or NULL if it is valid.  Resource types nagare has no resources
 * of (DELEGATION_TOKEN, USER) are refused too.
 */
const char *
nagare_acl_binding_invalid(const NagareAclEntry *e)
{
	const char *colon;

	if (e->resource_type != KAFKA_RESOURCE_TOPIC && e->resource_type != KAFKA_RESOURCE_GROUP &&
		e->resource_type != KAFKA_RESOURCE_CLUSTER &&
		e->resource_type != KAFKA_RESOURCE_TRANSACTIONAL_ID)
		return "Invalid resource type: use TOPIC, GROUP, CLUSTER or TRANSACTIONAL_ID";
	if (e->pattern_type != NAGARE_ACL_PATTERN_LITERAL &&
		e->pattern_type != NAGARE_ACL_PATTERN_PREFIXED)
		return "Invalid pattern type: use LITERAL or PREFIXED";
	if (e->operation <= KAFKA_ACL_ANY || e->operation > KAFKA_ACL_DESCRIBE_TOKENS)
		return "Invalid operation";
	if (e->permission != NAGARE_ACL_PERMISSION_ALLOW &&
		e->permission != NAGARE_ACL_PERMISSION_DENY)
		return "Invalid permission type: use ALLOW or DENY";
	if (e->name[0] == '\0')
		return "Resource name should not be empty";
	if (e->resource_type == KAFKA_RESOURCE_CLUSTER &&
		strcmp(e->name, NAGARE_ACL_CLUSTER_NAME) != 0)
		return "The only valid name for the CLUSTER resource is " NAGARE_ACL_CLUSTER_NAME;
	colon = strchr(e->principal, ':');
	if (colon == NULL || colon == e->principal || colon[1] == '\0')
		return "Could not parse principal: use Type:Name, e.g. User:alice or User:*";
	if (e->host[0] == '\0')
		return "Host should not be empty: use an IP address or *";
	return NULL;
}

/*
 * Why Kafka would refuse this filter (one of its codes is UNKNOWN or out of
 * range), or NULL.
 */
const char *
nagare_acl_filter_invalid(const NagareAclFilter *f)
{
	if (f->resource_type <= KAFKA_RESOURCE_UNKNOWN || f->resource_type > KAFKA_RESOURCE_USER)
		return "The filter contains an UNKNOWN resource type";
	if (f->pattern_type <= NAGARE_ACL_PATTERN_UNKNOWN ||
		f->pattern_type > NAGARE_ACL_PATTERN_PREFIXED)
		return "The filter contains an UNKNOWN pattern type";
	if (f->operation <= KAFKA_ACL_UNKNOWN || f->operation > KAFKA_ACL_DESCRIBE_TOKENS)
		return "The filter contains an UNKNOWN operation";
	if (f->permission <= NAGARE_ACL_PERMISSION_UNKNOWN ||
		f->permission > NAGARE_ACL_PERMISSION_ALLOW)
		return "The filter contains an UNKNOWN permission type";
	return NULL;
}

/*
 * Whether filter f matches ACL e: Kafka's AclBindingFilter.matches
 * (ResourcePatternFilter and AccessControlEntryFilter).
 */
bool
nagare_acl_filter_matches(const NagareAclFilter *f, const NagareAclEntry *e)
{
	if (f->resource_type != KAFKA_RESOURCE_ANY && f->resource_type != e->resource_type)
		return false;
	if (f->pattern_type != NAGARE_ACL_PATTERN_ANY && f->pattern_type != NAGARE_ACL_PATTERN_MATCH &&
		f->pattern_type != e->pattern_type)
		return false;
	if (f->name != NULL)
	{
		if (f->pattern_type != NAGARE_ACL_PATTERN_MATCH)
		{
			if (strcmp(f->name, e->name) != 0)
				return false;
		}
		else if (e->pattern_type == NAGARE_ACL_PATTERN_LITERAL)
		{
			if (strcmp(f->name, e->name) != 0 && strcmp(e->name, "*") != 0)
				return false;
		}
		else if (strncmp(f->name, e->name, strlen(e->name)) != 0)
			return false;
	}
	if (f->principal != NULL && strcmp(f->principal, e->principal) != 0)
		return false;
	if (f->host != NULL && strcmp(f->host, e->host) != 0)
		return false;
	if (f->operation != KAFKA_ACL_ANY && f->operation != e->operation)
		return false;
	if (f->permission != NAGARE_ACL_PERMISSION_ANY && f->permission != e->permission)
		return false;
	return true;
}

/* Whether an ACL's pattern matches the name (namelen bytes, no NUL needed) */
static bool
pattern_matches(const NagareAclEntry *e, const char *name, size_t namelen)
{
	size_t		len;

	if (e->pattern_type == NAGARE_ACL_PATTERN_LITERAL)
	{
		if (e->name[0] == '*' && e->name[1] == '\0')
			return true;
		len = strlen(e->name);
		return len == namelen && memcmp(e->name, name, len) == 0;
	}
	len = strlen(e->name);
	return len <= namelen && memcmp(e->name, name, len) == 0;
}

/* Whether an ALLOW of acl_op allows op (Kafka's implied operations) */
static bool
allow_implies(int acl_op, KafkaAclOperation op)
{
	if (acl_op == KAFKA_ACL_ALL || acl_op == (int) op)
		return true;
	if (op == KAFKA_ACL_DESCRIBE)
		return acl_op == KAFKA_ACL_READ || acl_op == KAFKA_ACL_WRITE ||
			acl_op == KAFKA_ACL_DELETE || acl_op == KAFKA_ACL_ALTER;
	if (op == KAFKA_ACL_DESCRIBE_CONFIGS)
		return acl_op == KAFKA_ACL_ALTER_CONFIGS;
	return false;
}

/*
 * Steps 2-5 over the shared table (caller holds nothing; takes the ACL
 * lock shared for the scan).
 */
static AclOutcome
scan_acls(const char *principal, const char *host, KafkaResourceType rtype,
		  const char *name, size_t namelen, KafkaAclOperation op)
{
	bool		any_acl = false;
	bool		allowed = false;
	bool		denied = false;
	int			i;

	LWLockAcquire(nagare_acls->lock, LW_SHARED);
	if (nagare_acls->overflow)
		denied = true;
	for (i = 0; i < nagare_acls->count && !denied; i++)
	{
		const NagareAclEntry *e = &nagare_acls->entries[i];

		if (e->resource_type != (uint8) rtype || !pattern_matches(e, name, namelen))
			continue;
		any_acl = true;
		if (strcmp(e->principal, principal) != 0 && strcmp(e->principal, "User:*") != 0)
			continue;
		if (strcmp(e->host, "*") != 0 && strcmp(e->host, host) != 0)
			continue;
		if (e->permission == NAGARE_ACL_PERMISSION_DENY)
		{
			if (e->operation == KAFKA_ACL_ALL || e->operation == (uint8) op)
				denied = true;
		}
		else if (allow_implies(e->operation, op))
			allowed = true;
	}
	LWLockRelease(nagare_acls->lock);

	if (denied)
		return OUTCOME_DENY;
	if (allowed)
		return OUTCOME_ALLOW;
	return any_acl ? OUTCOME_DENY : OUTCOME_NO_ACL;
}

/* Empty the cache if the shared table changed since it was filled */
static void
cache_check_version(void)
{
	uint64		version = pg_atomic_read_u64(&nagare_acls->version);
	HASHCTL		info;

	if (version == acl_cache_version && acl_cache != NULL)
		return;
	if (acl_cache != NULL)
		hash_destroy(acl_cache);
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(AclCacheKey);
	info.entrysize = sizeof(AclCacheEntry);
	info.hcxt = TopMemoryContext;
	acl_cache = hash_create("nagare ACL decisions", 1024, &info,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	LWLockAcquire(nagare_acls->lock, LW_SHARED);
	acl_table_empty = nagare_acls->count == 0 && !nagare_acls->overflow;
	LWLockRelease(nagare_acls->lock);
	acl_cache_version = version;
}

/* Steps 2-5, through the cache */
static AclOutcome
acl_outcome(const char *principal, const char *host, KafkaResourceType rtype,
			const char *name, size_t namelen, KafkaAclOperation op)
{
	AclCacheKey key;
	AclCacheEntry *entry;
	bool		found;

	cache_check_version();
	if (acl_table_empty)
		return OUTCOME_NO_ACL;
	if (namelen > NAGARE_ACL_NAME_MAX || strlen(principal) >= NAGARE_ACL_PRINCIPAL_MAX ||
		strlen(host) >= NAGARE_ACL_HOST_MAX)
		return scan_acls(principal, host, rtype, name, namelen, op);

	memset(&key, 0, sizeof(key));
	key.resource_type = (uint8) rtype;
	key.operation = (uint8) op;
	key.namelen = (uint16) namelen;
	strcpy(key.principal, principal);
	strcpy(key.host, host);
	memcpy(key.name, name, namelen);
	entry = hash_search(acl_cache, &key, HASH_FIND, NULL);
	if (entry != NULL)
		return entry->outcome;

	if (hash_get_num_entries(acl_cache) >= CACHE_MAX)
	{
		acl_cache_version = 0;
		cache_check_version();
	}
	entry = hash_search(acl_cache, &key, HASH_ENTER_NULL, &found);
	if (entry == NULL)
		return scan_acls(principal, host, rtype, name, namelen, op);
	entry->outcome = scan_acls(principal, host, rtype, name, namelen, op);
	return entry->outcome;
}

/*
 * Whether principal is in nagare.super_users ("User:a;User:b", blanks
 * around entries ignored).
 */
bool
nagare_acl_is_super_user(const char *principal)
{
	const char *p = nagare_super_users;
	size_t		len = strlen(principal);

	while (p != NULL && *p != '\0')
	{
		const char *end;
		const char *stop;

		while (*p == ' ' || *p == '\t')
			p++;
		end = strchr(p, ';');
		stop = end ? end : p + strlen(p);
		while (stop > p && (stop[-1] == ' ' || stop[-1] == '\t'))
			stop--;
		if ((size_t) (stop - p) == len && memcmp(p, principal, len) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/*
 * nagare.allow_everyone_if_no_acl_found as it applies now: "auto" is on
 * while no listener authenticates its clients.
 */
bool
nagare_acl_allow_everyone(void)
{
	switch (nagare_allow_everyone_if_no_acl_found)
	{
		case NAGARE_ALLOW_EVERYONE_ON:
			return true;
		case NAGARE_ALLOW_EVERYONE_OFF:
			return false;
		default:
			return pg_atomic_read_u32(&nagare_acls->authenticating_listeners) == 0;
	}
}

/*
 * Whether principal, connected from host ("" when unknown: only "*" ACLs
 * match), may do op on the resource (name: namelen bytes).  Never ERRORs
 * but for out of memory; safe in the broker's loop.
 */
bool
nagare_acl_authorized(const char *principal, const char *host, KafkaResourceType rtype,
					  const char *name, size_t namelen, KafkaAclOperation op)
{
	switch (acl_outcome(principal, host, rtype, name, namelen, op))
	{
		case OUTCOME_ALLOW:
			return true;
		case OUTCOME_NO_ACL:
			if (nagare_acl_allow_everyone())
				return true;
			break;
		case OUTCOME_DENY:
			break;
	}
	return nagare_acl_is_super_user(principal);
}

/*
 * Count a denial and log it, at most one LOG line per process every
 * DENIED_LOG_INTERVAL_MS (saying how many went unlogged before it).
 */
void
nagare_acl_note_denied(const char *principal, const char *host, KafkaResourceType rtype,
					   const char *name, size_t namelen, KafkaAclOperation op)
{
	int skipped;

	pg_atomic_fetch_add_u64(&nagare_acls->denied, 1);
	if (!nagare_log_due(&denied_log))
		return;
	skipped = nagare_log_skipped(&denied_log);
	ereport(LOG,
			(errmsg("nagare: denied %s on %s \"%.*s\" to %s from %s",
					nagare_acl_operation_name(op), nagare_acl_resource_type_name(rtype),
					(int) Min(namelen, 300), name, principal,
					host[0] ? host : "unknown host"),
			 skipped > 0
				 ? errdetail("%d more denials in this process were not logged since the last such line.",
							 skipped)
				 : 0));
}

/*---- SQL backends ----*/

/* "User:<current_user>" */
static void
current_principal(char *buf, size_t size)
{
	snprintf(buf, size, "User:%s", GetUserNameFromId(GetUserId(), false));
}

/* The client's IP address, or "" (Unix socket, background worker) */
static const char *
current_host(void)
{
	static char host[NAGARE_ACL_HOST_MAX];
	static bool done = false;

	if (!done)
	{
		LOCAL_FCINFO(fcinfo, 0);
		Datum		addr;

		/* inet_client_addr(): NULL unless connected over TCP */
		InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
		addr = inet_client_addr(fcinfo);
		host[0] = '\0';
		if (!fcinfo->isnull)
		{
			char	   *text = DatumGetCString(DirectFunctionCall1(inet_out, addr));
			char	   *slash = strchr(text, '/');

			if (slash)
				*slash = '\0';
			strlcpy(host, text, sizeof(host));
		}
		done = true;
	}
	return host;
}

/*
 * Whether current_user may do op on the resource: PostgreSQL superusers
 * may do anything; everyone else is decided like a Kafka principal
 * "User:<role>" connected from the backend's client address.
 */
bool
nagare_acl_current_user_authorized(KafkaResourceType rtype, const char *name,
								   KafkaAclOperation op)
{
	char		principal[NAGARE_ACL_PRINCIPAL_MAX + NAMEDATALEN];

	if (superuser())
		return true;
	current_principal(principal, sizeof(principal));
	return nagare_acl_authorized(principal, current_host(), rtype, name, strlen(name), op);
}

/*
 * ERROR with SQLSTATE 42501 (insufficient_privilege) unless current_user
 * may do op on the resource; the hint names the ACL that would allow it.
 */
void
nagare_acl_require(KafkaResourceType rtype, const char *name, KafkaAclOperation op)
{
	char		principal[NAGARE_ACL_PRINCIPAL_MAX + NAMEDATALEN];

	if (nagare_acl_current_user_authorized(rtype, name, op))
		return;
	current_principal(principal, sizeof(principal));
	nagare_acl_note_denied(principal, current_host(), rtype, name, strlen(name), op);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s is not authorized to %s %s \"%s\"",
					principal, nagare_acl_operation_name(op),
					nagare_acl_resource_type_name(rtype), name),
			 errhint("An ACL must allow it, e.g. SELECT nagare.create_acl('%s', '%s', '%s', '%s');",
					 nagare_acl_resource_type_name(rtype), name, principal,
					 nagare_acl_operation_name(op))));
}
