/*-------------------------------------------------------------------------
 *
 * quota.c
 *	  Kafka's client quotas: keys, entities, precedence, resolution.
 *
 * SCAFFOLDING: the interface the broker calls; the shared copy of
 * nagare.quota and the resolver land with the quota configuration.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "quota/quota.h"

static const char *const key_names[NAGARE_QUOTA_NKEYS] = {
	"producer_byte_rate",
	"consumer_byte_rate",
	"request_percentage",
	"controller_mutation_rate",
	"connection_creation_rate",
};

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
	return 0;
}

void
nagare_quota_resolve(const char *user, const char *client_id, NagareQuotaLimits *out)
{
	memset(out, 0, sizeof(*out));
}

double
nagare_quota_ip_connection_rate(const char *ip)
{
	return 0;
}

bool
nagare_quota_tenant_of(const char *user, char *tenant)
{
	tenant[0] = '\0';
	return false;
}
