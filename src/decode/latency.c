/*-------------------------------------------------------------------------
 *
 * latency.c
 *	  The ingest worker's SLI: each decoded transaction's latency from its
 *	  commit to its records' being consumable, counted for the SQL client
 *	  that committed it.
 *
 * A transaction's client is the origin its first publish() message
 * carries (decode.h: "User:<role>" and application_name), else, for a
 * transaction that only changed tables of table topics, the owner of its
 * first such table as "User:<owner>" with an empty client id (the rule by
 * which the dependency graph gives a table topic to a service).  The
 * worker notes each transaction as it appends its records, and counts
 * them once the append ring is durable past them: the latency is then
 * minus the commit time, in the usage slot's publish latency buckets
 * (../usage), which nagare.client_usage shows and nagare.flush_sli() turns
 * into per-service minutes.  Durable is when every consumer sees the
 * records (with nagare.serve_durable_only too); without it a consumer may
 * see them up to one fsync earlier.
 *
 * The worker holds no slot between counts: it attaches to each client's
 * slot (without counting a connection of the client's) once per count,
 * counts, and detaches, so a client's row goes as others' do
 * (nagare.reset_client_usage(), reuse of the least recently active).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "decode/latency.h"
#include "nagare.h"
#include "quota/quota.h"
#include "shmem.h"
#include "usage/usage.h"

/* The clients of the transactions noted since the last count */
typedef struct LatencyClient
{
	char *principal;
	char *client_id;
	int slot; /* attached while counting, else -1 */
} LatencyClient;

/* transactions appended and not yet counted: (client, commit time) */
typedef struct LatencyPending
{
	int client;
	TimestampTz commit_time;
} LatencyPending;

static MemoryContext latency_cxt = NULL;
static LatencyClient *clients = NULL;
static int nclients = 0;
static int maxclients = 0;
static LatencyPending *pending = NULL;
static int npending = 0;
static int maxpending = 0;

static void *
grow(void *array, int *max, Size elem)
{
	*max = Max(16, *max * 2);
	return array ? repalloc(array, elem * *max)
				 : MemoryContextAlloc(latency_cxt, elem * *max);
}

void
nagare_ingest_latency_note(const char *principal, const char *client_id,
						   TimestampTz commit_time)
{
	int i;

	if (!nagare_client_usage || nagare_usage == NULL)
		return;
	if (latency_cxt == NULL)
		latency_cxt = AllocSetContextCreate(TopMemoryContext, "nagare ingest latency",
											ALLOCSET_SMALL_SIZES);
	principal = principal ? principal : "";
	client_id = client_id ? client_id : "";
	/* the last client first: a pass is mostly a few clients' transactions */
	for (i = nclients - 1; i >= 0; i--)
		if (strcmp(clients[i].principal, principal) == 0 &&
			strcmp(clients[i].client_id, client_id) == 0)
			break;
	if (i < 0)
	{
		if (nclients == maxclients)
			clients = grow(clients, &maxclients, sizeof(LatencyClient));
		i = nclients++;
		clients[i].principal = MemoryContextStrdup(latency_cxt, principal);
		clients[i].client_id = MemoryContextStrdup(latency_cxt, client_id);
		clients[i].slot = -1;
	}
	if (npending == maxpending)
		pending = grow(pending, &maxpending, sizeof(LatencyPending));
	pending[npending].client = i;
	pending[npending].commit_time = commit_time;
	npending++;
}

void
nagare_ingest_latency_note_owner(Oid relid, TimestampTz commit_time)
{
	HeapTuple tup;
	char *owner = NULL;

	if (!nagare_client_usage || nagare_usage == NULL)
		return;
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (HeapTupleIsValid(tup))
	{
		owner = GetUserNameFromId(((Form_pg_class) GETSTRUCT(tup))->relowner, true);
		ReleaseSysCache(tup);
	}
	/* a table dropped since: its owner is no one's */
	nagare_ingest_latency_note(owner ? psprintf("User:%s", owner) : "", "", commit_time);
}

void
nagare_ingest_latency_count(void)
{
	TimestampTz now;
	int i;

	if (npending == 0)
		return;
	now = GetCurrentTimestamp();
	for (i = 0; i < nclients; i++)
	{
		LatencyClient *c = &clients[i];
		char tenant[NAGARE_TENANT_NAME_MAX];

		(void) nagare_quota_tenant_of_principal(c->principal, tenant);
		c->slot = nagare_usage_attach_for(NAGARE_USAGE_SOURCE_SQL, tenant, c->principal,
										  c->client_id, strlen(c->client_id));
	}
	for (i = 0; i < npending; i++)
		nagare_usage_count_publish_latency(clients[pending[i].client].slot,
										   now > pending[i].commit_time
											   ? (uint64) (now - pending[i].commit_time)
											   : 0);
	for (i = 0; i < nclients; i++)
		nagare_usage_detach(clients[i].slot);
	MemoryContextReset(latency_cxt);
	clients = NULL;
	pending = NULL;
	nclients = maxclients = npending = maxpending = 0;
}
