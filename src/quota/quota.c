/*-------------------------------------------------------------------------
 *
 * quota.c
 *	  Kafka's client quotas: keys, entities, precedence, resolution.
 *
 * The configuration is rows of nagare.quota (an entity, a key, a value),
 * nagare.tenant_quota_cap and nagare.tenant_principal; the nagare worker
 * copies them into the shared quota table (shmem.h, NagareQuotaShared) after
 * every committed change (worker/quotasync.c calls nagare_quota_publish()),
 * one entry per entity with the values of all its keys, sorted so that an
 * entity is found by bisection.  Everything that asks what applies to a
 * client resolves from that copy here: the broker's enforcement, the
 * Describe API and nagare.effective_quota().
 *
 * Resolution follows Kafka's DefaultQuotaCallback (ClientQuotaManager.scala,
 * quotaMetricTags): for each key separately the first of eight levels with a
 * value wins, (user, client-id), (user, default client-id), user, (default
 * user, client-id), (default user, default client-id), default user,
 * client-id, default client-id.  Defaults outrank the kinds below them: a
 * (user, default client-id) quota beats the user's own.  The tenant level is
 * nagare's: all principals of a tenant share the tenant's value, or, where
 * the tenant has none, the platform's cap; a tenant value above a lowered cap
 * counts as the cap.
 *
 * The entity parser and validation are Kafka's rules
 * (ClientQuotaControlManager.java) with Kafka's messages, shared by the SQL
 * functions and the AlterClientQuotas handler.  Nothing here ERRORs or
 * allocates: the broker's loop calls it.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <math.h>

#include "storage/lwlock.h"

#include "quota/quota.h"

StaticAssertDecl(NAGARE_QUOTA_NKEYS == NAGARE_QUOTA_KEYS,
				 "shmem.h's NAGARE_QUOTA_KEYS must count the keys of NagareQuotaKey");
StaticAssertDecl(NAGARE_TENANT_NAME_MAX <= NAGARE_QUOTA_NAME_MAX,
				 "a tenant's name must fit an entity's name");

static const char *const key_names[NAGARE_QUOTA_NKEYS] = {
	"producer_byte_rate",       "consumer_byte_rate",       "request_percentage",
	"controller_mutation_rate", "connection_creation_rate",
};

/* Kafka's types of the keys (QuotaConfig.java): LONG, LONG, DOUBLE, DOUBLE, INT */
static const double key_max[NAGARE_QUOTA_NKEYS] = {9223372036854775807.0,
												   9223372036854775807.0, 0, 0,
												   2147483647.0};

#define DEFAULT_NAME "<default>"

const char *
nagare_quota_key_name(NagareQuotaKey key)
{
	return key >= 0 && key < NAGARE_QUOTA_NKEYS ? key_names[key] : "unknown";
}

int
nagare_quota_key_code(const char *name)
{
	for (int i = 0; i < NAGARE_QUOTA_NKEYS; i++)
		if (strcmp(name, key_names[i]) == 0)
			return i;
	return -1;
}

uint64
nagare_quota_version(void)
{
	return nagare_quotas ? pg_atomic_read_u64(&nagare_quotas->version) : 0;
}

/*---- the shared copy ----*/

int
nagare_quota_entry_cmp(const void *a, const void *b)
{
	const NagareQuotaEntry *x = a;
	const NagareQuotaEntry *y = b;
	int c;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->name_default != y->name_default)
		return x->name_default ? -1 : 1;
	if ((c = strcmp(x->name, y->name)) != 0)
		return c;
	/* a principal's entry is found by its name; client_id is its tenant */
	if (x->kind == NAGARE_QUOTA_ENTITY_PRINCIPAL)
		return 0;
	if (x->client_default != y->client_default)
		return x->client_default ? -1 : 1;
	return strcmp(x->client_id, y->client_id);
}

void
nagare_quota_publish(NagareQuotaEntry *entries, int n, bool overflow, uint64 synced)
{
	n = Min(n, nagare_quotas->max);
	if (n > 1)
		qsort(entries, n, sizeof(NagareQuotaEntry), nagare_quota_entry_cmp);
	LWLockAcquire(nagare_quotas->lock, LW_EXCLUSIVE);
	if (n > 0)
		memcpy(nagare_quotas->entries, entries, sizeof(NagareQuotaEntry) * n);
	nagare_quotas->count = n;
	nagare_quotas->overflow = overflow;
	nagare_quotas->loaded = true;
	LWLockRelease(nagare_quotas->lock);
	pg_atomic_fetch_add_u64(&nagare_quotas->version, 1);
	pg_atomic_write_u64(&nagare_quotas->synced, synced);
}

/*
 * The entry of an entity, or NULL (caller holds the quota lock).  A name
 * too long for an entry names no entity.
 */
static const NagareQuotaEntry *
find(NagareQuotaEntityKind kind, bool name_default, const char *name, bool client_default,
	 const char *client_id)
{
	NagareQuotaEntry key;
	int lo = 0;
	int hi = nagare_quotas->count - 1;

	if ((!name_default && strlen(name) >= NAGARE_QUOTA_NAME_MAX) ||
		(!client_default && strlen(client_id) >= NAGARE_QUOTA_NAME_MAX))
		return NULL;
	key.kind = (uint8) kind;
	key.name_default = name_default;
	key.client_default = client_default;
	strlcpy(key.name, name_default ? "" : name, sizeof(key.name));
	strlcpy(key.client_id, client_default ? "" : client_id, sizeof(key.client_id));
	while (lo <= hi)
	{
		int mid = lo + (hi - lo) / 2;
		int c = nagare_quota_entry_cmp(&key, &nagare_quotas->entries[mid]);

		if (c == 0)
			return &nagare_quotas->entries[mid];
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* The tenant of a principal's user name, or NULL (quota lock held) */
static const char *
tenant_of(const char *user)
{
	const NagareQuotaEntry *p = find(NAGARE_QUOTA_ENTITY_PRINCIPAL, false, user, false, "");

	return p ? p->client_id : NULL;
}

/* What each level is made of: which names, and defaults */
typedef struct LevelShape
{
	NagareQuotaEntityKind kind;
	bool user_default;
	bool client_default;
} LevelShape;

static const LevelShape levels_shape[NAGARE_QUOTA_NLEVELS] = {
	[NAGARE_QUOTA_LEVEL_USER_CLIENT] = {NAGARE_QUOTA_ENTITY_USER_CLIENT, false, false},
	[NAGARE_QUOTA_LEVEL_USER_DEFAULT_CLIENT] = {NAGARE_QUOTA_ENTITY_USER_CLIENT, false,
												true},
	[NAGARE_QUOTA_LEVEL_USER] = {NAGARE_QUOTA_ENTITY_USER, false, false},
	[NAGARE_QUOTA_LEVEL_DEFAULT_USER_CLIENT] = {NAGARE_QUOTA_ENTITY_USER_CLIENT, true,
												false},
	[NAGARE_QUOTA_LEVEL_DEFAULT_USER_DEFAULT_CLIENT] = {NAGARE_QUOTA_ENTITY_USER_CLIENT,
														true, true},
	[NAGARE_QUOTA_LEVEL_DEFAULT_USER] = {NAGARE_QUOTA_ENTITY_USER, true, false},
	[NAGARE_QUOTA_LEVEL_CLIENT] = {NAGARE_QUOTA_ENTITY_CLIENT, false, false},
	[NAGARE_QUOTA_LEVEL_DEFAULT_CLIENT] = {NAGARE_QUOTA_ENTITY_CLIENT, false, true},
};

void
nagare_quota_resolve_levels(const char *user, const char *client_id, NagareQuotaLimits *out,
							NagareQuotaLevel *levels, bool *from_cap)
{
	const NagareQuotaEntry *at[NAGARE_QUOTA_NLEVELS];
	const NagareQuotaEntry *own = NULL;
	const NagareQuotaEntry *cap = NULL;
	const char *tenant;
	int lv;
	int k;

	memset(out, 0, sizeof(*out));
	if (levels)
		for (k = 0; k < NAGARE_QUOTA_NKEYS; k++)
			levels[k] = NAGARE_QUOTA_LEVEL_NONE;
	if (from_cap)
		memset(from_cap, 0, sizeof(bool) * NAGARE_QUOTA_NKEYS);
	if (nagare_quotas == NULL)
		return;
	if (user == NULL)
		user = "";
	if (client_id == NULL)
		client_id = "";

	out->version = pg_atomic_read_u64(&nagare_quotas->version);
	LWLockAcquire(nagare_quotas->lock, LW_SHARED);
	for (lv = 1; lv < NAGARE_QUOTA_NLEVELS; lv++)
	{
		const LevelShape *s = &levels_shape[lv];

		/* a client-id level has its name in the name field */
		if (s->kind == NAGARE_QUOTA_ENTITY_CLIENT)
			at[lv] = find(s->kind, s->client_default, client_id, false, "");
		else if (s->kind == NAGARE_QUOTA_ENTITY_USER)
			at[lv] = find(s->kind, s->user_default, user, false, "");
		else
			at[lv] = find(s->kind, s->user_default, user, s->client_default, client_id);
	}
	for (k = 0; k < NAGARE_QUOTA_NKEYS; k++)
	{
		for (lv = 1; lv < NAGARE_QUOTA_NLEVELS; lv++)
		{
			if (at[lv] == NULL || at[lv]->value[k] <= 0)
				continue;
			out->client[k] = at[lv]->value[k];
			out->by_user[k] = lv <= NAGARE_QUOTA_LEVEL_DEFAULT_USER;
			out->by_client[k] =
				lv != NAGARE_QUOTA_LEVEL_USER && lv != NAGARE_QUOTA_LEVEL_DEFAULT_USER;
			if (levels)
				levels[k] = (NagareQuotaLevel) lv;
			break;
		}
	}

	if ((tenant = tenant_of(user)) != NULL)
	{
		strlcpy(out->tenant, tenant, sizeof(out->tenant));
		own = find(NAGARE_QUOTA_ENTITY_TENANT, false, tenant, false, "");
		cap = find(NAGARE_QUOTA_ENTITY_TENANT_CAP, false, tenant, false, "");
	}
	for (k = 0; k < NAGARE_QUOTA_NKEYS; k++)
	{
		double o = own ? own->value[k] : 0;
		double c = cap ? cap->value[k] : 0;

		if (o > 0 && (c <= 0 || o <= c))
			out->tenant_limit[k] = o;
		else if (c > 0)
		{
			out->tenant_limit[k] = c;
			if (from_cap)
				from_cap[k] = true;
		}
	}
	LWLockRelease(nagare_quotas->lock);
}

void
nagare_quota_resolve(const char *user, const char *client_id, NagareQuotaLimits *out)
{
	nagare_quota_resolve_levels(user, client_id, out, NULL, NULL);
}

double
nagare_quota_ip_connection_rate(const char *ip)
{
	const NagareQuotaEntry *e;
	double rate = 0;

	if (nagare_quotas == NULL)
		return 0;
	LWLockAcquire(nagare_quotas->lock, LW_SHARED);
	e = find(NAGARE_QUOTA_ENTITY_IP, false, ip ? ip : "", false, "");
	if (e == NULL || e->value[NAGARE_QUOTA_CONNECTION_CREATION_RATE] <= 0)
		e = find(NAGARE_QUOTA_ENTITY_IP, true, "", false, "");
	if (e != NULL)
		rate = e->value[NAGARE_QUOTA_CONNECTION_CREATION_RATE];
	LWLockRelease(nagare_quotas->lock);
	return rate;
}

bool
nagare_quota_tenant_of(const char *user, char *tenant)
{
	const char *t;

	tenant[0] = '\0';
	if (nagare_quotas == NULL || user == NULL)
		return false;
	LWLockAcquire(nagare_quotas->lock, LW_SHARED);
	if ((t = tenant_of(user)) != NULL)
		strlcpy(tenant, t, NAGARE_TENANT_NAME_MAX);
	LWLockRelease(nagare_quotas->lock);
	return tenant[0] != '\0';
}

bool
nagare_quota_tenant_of_principal(const char *principal, char *tenant)
{
	tenant[0] = '\0';
	if (principal == NULL || strncmp(principal, "User:", 5) != 0)
		return false;
	return nagare_quota_tenant_of(principal + 5, tenant);
}

/*---- entities as text ----*/

static void
append(char *buf, size_t size, const char *type, bool is_default, const char *name)
{
	if (buf[0] != '\0')
		strlcat(buf, ",", size);
	strlcat(buf, type, size);
	strlcat(buf, "=", size);
	strlcat(buf, is_default ? DEFAULT_NAME : name, size);
}

void
nagare_quota_entity_text(const NagareQuotaEntry *e, char *buf, size_t size)
{
	buf[0] = '\0';
	switch ((NagareQuotaEntityKind) e->kind)
	{
		case NAGARE_QUOTA_ENTITY_USER_CLIENT:
			append(buf, size, "user", e->name_default, e->name);
			append(buf, size, "client-id", e->client_default, e->client_id);
			break;
		case NAGARE_QUOTA_ENTITY_USER:
			append(buf, size, "user", e->name_default, e->name);
			break;
		case NAGARE_QUOTA_ENTITY_CLIENT:
			append(buf, size, "client-id", e->name_default, e->name);
			break;
		case NAGARE_QUOTA_ENTITY_IP:
			append(buf, size, "ip", e->name_default, e->name);
			break;
		case NAGARE_QUOTA_ENTITY_TENANT:
		case NAGARE_QUOTA_ENTITY_TENANT_CAP:
			append(buf, size, "tenant", false, e->name);
			break;
		case NAGARE_QUOTA_ENTITY_PRINCIPAL:
			append(buf, size, "user", false, e->name);
			break;
	}
}

void
nagare_quota_level_entity(NagareQuotaLevel level, const char *user, const char *client_id,
						  char *buf, size_t size)
{
	NagareQuotaEntry e;
	const LevelShape *s;

	buf[0] = '\0';
	if (level <= NAGARE_QUOTA_LEVEL_NONE || level >= NAGARE_QUOTA_NLEVELS)
		return;
	s = &levels_shape[level];
	memset(&e, 0, sizeof(e));
	e.kind = (uint8) s->kind;
	if (s->kind == NAGARE_QUOTA_ENTITY_CLIENT)
	{
		e.name_default = s->client_default;
		strlcpy(e.name, client_id, sizeof(e.name));
	}
	else
	{
		e.name_default = s->user_default;
		strlcpy(e.name, user, sizeof(e.name));
		e.client_default = s->client_default;
		strlcpy(e.client_id, client_id, sizeof(e.client_id));
	}
	nagare_quota_entity_text(&e, buf, size);
}

/* Whether p starts a component: lower-case letters and '-', then '=' */
static bool
at_component(const char *p)
{
	const char *q = p;

	while (*q == ' ')
		q++;
	if (!(*q >= 'a' && *q <= 'z'))
		return false;
	while ((*q >= 'a' && *q <= 'z') || *q == '-')
		q++;
	return *q == '=';
}

const char *
nagare_quota_entity_check(const NagareQuotaEntry *e, char *err, size_t errsize)
{
	const char *type = e->kind == NAGARE_QUOTA_ENTITY_CLIENT   ? "client-id"
					   : e->kind == NAGARE_QUOTA_ENTITY_IP     ? "ip"
					   : e->kind == NAGARE_QUOTA_ENTITY_TENANT ? "tenant"
															   : "user";

	if (!e->name_default && e->name[0] == '\0')
	{
		snprintf(err, errsize, "Empty %s not supported", type);
		return err;
	}
	if (e->kind == NAGARE_QUOTA_ENTITY_USER_CLIENT && !e->client_default &&
		e->client_id[0] == '\0')
	{
		snprintf(err, errsize, "Empty client-id not supported");
		return err;
	}
	if (e->kind == NAGARE_QUOTA_ENTITY_TENANT && e->name_default)
	{
		snprintf(err, errsize, "A tenant entity names a tenant: tenants have no default");
		return err;
	}
	if (e->kind == NAGARE_QUOTA_ENTITY_IP && !e->name_default)
	{
		unsigned char addr[16];

		if (inet_pton(AF_INET, e->name, addr) != 1 &&
			inet_pton(AF_INET6, e->name, addr) != 1)
		{
			snprintf(err, errsize, "%s is not a valid IP address.", e->name);
			return err;
		}
	}
	return NULL;
}

const char *
nagare_quota_entity_parse(const char *text, NagareQuotaEntry *e, char *err, size_t errsize)
{
	static const char *const types[4] = {"user", "client-id", "ip", "tenant"};
	bool seen[4] = {false, false, false, false};
	char names[4][NAGARE_QUOTA_NAME_MAX];
	const char *p = text;

	memset(e, 0, sizeof(*e));
	if (*p == '\0')
	{
		snprintf(err, errsize, "Invalid empty client quota entity");
		return err;
	}
	while (*p != '\0')
	{
		const char *eq;
		const char *end;
		int t;
		size_t tlen;

		while (*p == ' ')
			p++;
		eq = strchr(p, '=');
		if (eq == NULL)
		{
			snprintf(err, errsize,
					 "Invalid client quota entity \"%s\": expected type=name[,type=name]",
					 text);
			return err;
		}
		tlen = eq - p;
		for (t = 0; t < 4; t++)
			if (strlen(types[t]) == tlen && strncmp(p, types[t], tlen) == 0)
				break;
		if (t == 4)
		{
			snprintf(err, errsize, "Unhandled client quota entity type: %.*s",
					 (int) Min(tlen, 64), p);
			return err;
		}
		if (seen[t])
		{
			snprintf(err, errsize,
					 "Invalid client quota entity, duplicate entity entry %s", types[t]);
			return err;
		}
		seen[t] = true;
		/* the name runs to the next ",type=" */
		for (end = eq + 1; *end != '\0'; end++)
			if (*end == ',' && at_component(end + 1))
				break;
		if ((size_t) (end - eq - 1) >= NAGARE_QUOTA_NAME_MAX)
		{
			snprintf(err, errsize,
					 "Invalid client quota entity: a %s name has at most %d bytes",
					 types[t], NAGARE_QUOTA_NAME_MAX - 1);
			return err;
		}
		memcpy(names[t], eq + 1, end - eq - 1);
		names[t][end - eq - 1] = '\0';
		p = *end == ',' ? end + 1 : end;
	}

	if ((seen[2] && (seen[0] || seen[1])))
	{
		snprintf(err, errsize,
				 "Invalid quota entity combination, IP entity should not be combined with User or ClientId");
		return err;
	}
	if (seen[3] && (seen[0] || seen[1] || seen[2]))
	{
		snprintf(err, errsize,
				 "Invalid quota entity combination, a tenant entity stands alone");
		return err;
	}
	if (seen[0] && seen[1])
	{
		e->kind = NAGARE_QUOTA_ENTITY_USER_CLIENT;
		e->name_default = strcmp(names[0], DEFAULT_NAME) == 0;
		if (!e->name_default)
			strlcpy(e->name, names[0], sizeof(e->name));
		e->client_default = strcmp(names[1], DEFAULT_NAME) == 0;
		if (!e->client_default)
			strlcpy(e->client_id, names[1], sizeof(e->client_id));
	}
	else
	{
		int t = seen[0] ? 0 : seen[1] ? 1 : seen[2] ? 2 : 3;

		e->kind = (uint8) (t == 0   ? NAGARE_QUOTA_ENTITY_USER
						   : t == 1 ? NAGARE_QUOTA_ENTITY_CLIENT
						   : t == 2 ? NAGARE_QUOTA_ENTITY_IP
									: NAGARE_QUOTA_ENTITY_TENANT);
		e->name_default = strcmp(names[t], DEFAULT_NAME) == 0;
		if (!e->name_default)
			strlcpy(e->name, names[t], sizeof(e->name));
	}
	return nagare_quota_entity_check(e, err, errsize);
}

const char *
nagare_quota_value_invalid(const NagareQuotaEntry *e, const char *key, double value,
						   char *err, size_t errsize)
{
	int k = nagare_quota_key_code(key);
	bool ip = e->kind == NAGARE_QUOTA_ENTITY_IP;

	if (k < 0 || ip != (k == NAGARE_QUOTA_CONNECTION_CREATION_RATE))
	{
		snprintf(err, errsize, "Invalid configuration key %s", key);
		return err;
	}
	if (isnan(value) || value <= 0.0)
	{
		snprintf(err, errsize, "Quota %s must be greater than 0", key);
		return err;
	}
	if (isinf(value))
	{
		snprintf(err, errsize, "Quota %s must be a finite number", key);
		return err;
	}
	if (key_max[k] > 0)
	{
		if (value > key_max[k])
		{
			snprintf(err, errsize, "Proposed value for %s is too large for %s.", key,
					 k == NAGARE_QUOTA_CONNECTION_CREATION_RATE ? "an INT" : "a LONG");
			return err;
		}
		if (fabs(fmod(value, 1.0)) > 1e-6)
		{
			snprintf(err, errsize, "%s cannot be a fractional value.", key);
			return err;
		}
	}
	return NULL;
}
