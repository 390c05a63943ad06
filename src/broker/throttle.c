/*-------------------------------------------------------------------------
 *
 * throttle.c
 *	  Enforcement of Kafka's client quotas in the broker: per-entity
 *	  budgets, the throttle of each request, and KIP-219's muting.
 *
 * Budgets.  What applies to a client is quota/quota.h's resolution for
 * (user, client-id): per quota key a limit, the components the winning
 * level is keyed by (by_user, by_client: Kafka's quota metric tags), and
 * the tenant's own limit.  A budget is the use of one key by one entity:
 * (key, user if by_user, client-id if by_client), shared by every
 * connection of the entity, and (key, tenant), shared by every principal
 * of the tenant.  A request is charged to both, and the larger throttle
 * wins.  Budgets live in a hash table of the broker's; one nobody used
 * for a while is forgotten (a sweep a minute), and the connections'
 * pointers to budgets are then looked up again (budget_epoch).
 *
 * The resolution is cached per connection and client-id (NagareConnQuota,
 * hung on the connection) and redone when nagare_quota_version() changes,
 * when the client-id or the principal changes (after SASL), or after a
 * sweep.  With no quota configured, a request costs a version read, two
 * string comparisons and two clock reads (its handling time, which the
 * usage meter takes too).
 *
 * What is charged, as Kafka does (research/wave2-notes.md section 3):
 *
 *	producer_byte_rate	each Produce request's size (nagare_throttle_produce),
 *						acks=0 too;
 *	consumer_byte_rate	each Fetch response's size (nagare_throttle_fetch);
 *						a Fetch whose client is over its quota already gets
 *						an empty response with the throttle and is not
 *						charged (nagare_throttle_fetch_over), and a fetch
 *						is capped to one window's worth of the quota;
 *	request_percentage	the time each request's handler takes in the loop,
 *						and the nagare worker's time on the work it hands
 *						there (reported in the channel's answer), as a
 *						percentage of one thread; Produce with acks=0 is
 *						exempt; the throttle is capped at one window;
 *	controller_mutation_rate
 *						partitions created or deleted, in a token bucket
 *						(KIP-599): strict for CreateTopics >= 6,
 *						CreatePartitions >= 3 and DeleteTopics >= 5 (an item
 *						fails with THROTTLING_QUOTA_EXCEEDED while the
 *						bucket is overdrawn), permissive before;
 *	connection_creation_rate
 *						per ip at accept (nagare_quota_ip_connection_rate),
 *						and nagare.max_connection_creation_rate for the
 *						whole broker (net.c acts on both).
 *
 * The arithmetic is throttle_math.h's (Kafka's sampled rate over
 * nagare.quota_window_num windows of nagare.quota_window_size, and its
 * throttle time), with one addition explained there.
 *
 * KIP-219.  A throttle goes into the response's ThrottleTimeMs (the
 * generated kafka_response_set_throttle_time(), by API key), the response
 * goes out at once, and the connection is muted for that long
 * (nagare_conn_mute: no frames handed on, nothing read; queued responses
 * still sent).  A byte-rate throttle mutes as the request is handled, so a
 * pipelining client's next frames already wait; request_percentage's as
 * the response is encoded.  Every throttle imposed is passed to the usage
 * meter (nagare_meter_throttle), every time charged too (nagare_meter_time).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "portability/instr_time.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "broker/meter.h"
#include "broker/throttle.h"
#include "broker/throttle_math.h"
#include "kafka/messages.h"
#include "nagare.h"
#include "queue/channel.h"
#include "quota/quota.h"

/* a budget's key: quota key, kind, then the entity's names */
#define BUDGET_KEY_MAX		640
/* how often budgets are swept, and the least idle time that forgets one */
#define SWEEP_INTERVAL_MS	60000
#define BUDGET_IDLE_MS		120000

#define NKEYS	NAGARE_QUOTA_NKEYS

/* One entity's use of one quota key */
typedef struct Budget
{
	char		key[BUDGET_KEY_MAX];	/* hash key (see budget_key) */
	int64		last_ms;		/* last charged */
	NagareRate *rate;			/* byte rates, request time, connections */
	NagareTokenBucket bucket;	/* controller mutations */
} Budget;

/* What a connection's requests are charged to (net.h: NagareConnQuota) */
struct NagareConnQuota
{
	bool		resolved;
	uint64		version;		/* nagare_quota_version() resolved at */
	uint64		epoch;			/* budget_epoch the pointers are from */
	char	   *client_id;		/* in the connection's memory */
	int			client_len;
	char		principal[NAGARE_PRINCIPAL_MAX];
	bool		any;			/* some budget below */
	NagareQuotaLimits limits;
	Budget	   *client[NKEYS];	/* NULL: no limit */
	Budget	   *tenant[NKEYS];
};

static MemoryContext throttle_context = NULL;
static HTAB *budgets = NULL;
static uint64 budget_epoch = 1;
static int64 last_sweep_ms = 0;
static NagareRate *broker_connections = NULL;	/* nagare.max_connection_creation_rate */

/* the request being handled (nagare_throttle_request_begin .. _end) */
typedef struct CurrentRequest
{
	NagareConn *conn;
	instr_time	start;			/* the handler began */
	instr_time	mark;			/* request time charged up to here */
	int64		size;
} CurrentRequest;

static NagareConn *cur_conn = NULL;
static instr_time cur_start;
static instr_time cur_mark;
static int64 cur_size = 0;

/*
 * A handler may hand on another connection's frames (releasing a held
 * connection): the outer request's state waits here meanwhile.
 */
#define MAX_NESTED	8
static CurrentRequest outer[MAX_NESTED];
static int	nouter = 0;
static int	nuntracked = 0;		/* nested deeper than MAX_NESTED */

static inline int64
window_ms(void)
{
	return (int64) nagare_quota_window_size_s * 1000;
}

static inline int64
now_ms(TimestampTz now)
{
	return (int64) (now / 1000);
}

static void
throttle_init(void)
{
	HASHCTL		ctl;

	throttle_context =
		AllocSetContextCreate(TopMemoryContext, "nagare quotas", ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = BUDGET_KEY_MAX;
	ctl.entrysize = sizeof(Budget);
	ctl.hcxt = throttle_context;
	budgets = hash_create("nagare quota budgets", 256, &ctl,
						  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/* A budget's rate, fit for the current nagare.quota_window_num */
static NagareRate *
budget_rate(Budget *b)
{
	if (b->rate == NULL || b->rate->nsamples != nagare_quota_window_num)
	{
		if (b->rate)
			pfree(b->rate);
		b->rate = MemoryContextAlloc(throttle_context,
									 nagare_rate_size(nagare_quota_window_num));
		nagare_rate_init(b->rate, nagare_quota_window_num);
	}
	return b->rate;
}

/* The budget of key, made if new */
static Budget *
budget_get(const char *key)
{
	Budget	   *b;
	bool		found;

	if (budgets == NULL)
		throttle_init();
	b = hash_search(budgets, key, HASH_ENTER, &found);
	if (!found)
	{
		b->last_ms = now_ms(GetCurrentTimestamp());
		b->rate = NULL;
		memset(&b->bucket, 0, sizeof(b->bucket));
	}
	return b;
}

/*
 * The key of an entity's budget for quota key k: "<k>c" with the user
 * (length-prefixed, or "-" if not keyed by user) and the client id (or
 * "-"), "<k>t" and the tenant, or "<k>i" and an ip address.
 */
static void
budget_key(char *out, int k, const NagareConnQuota *q, const char *user)
{
	const char *client = q->limits.by_client[k] ? q->client_id : NULL;

	if (!q->limits.by_user[k])
		user = NULL;
	snprintf(out, BUDGET_KEY_MAX, "%cc%d:%s%s%s", 'a' + k, user ? (int) strlen(user) : -1,
			 user ? user : "", client ? "=" : "-", client ? client : "");
}

/* The user of conn: its principal without "User:" */
static const char *
conn_user(const char *principal)
{
	return strncmp(principal, "User:", 5) == 0 ? principal + 5 : principal;
}

/* Resolve what applies to q's client and find its budgets */
static void
resolve(NagareConnQuota *q, const char *principal)
{
	const char *user;
	char		key[BUDGET_KEY_MAX];
	int			k;

	strlcpy(q->principal, principal, sizeof(q->principal));
	user = conn_user(q->principal);
	q->version = nagare_quota_version();
	nagare_quota_resolve(user, q->client_id, &q->limits);
	q->any = false;
	for (k = 0; k < NKEYS; k++)
	{
		q->client[k] = NULL;
		q->tenant[k] = NULL;
		if (k == NAGARE_QUOTA_CONNECTION_CREATION_RATE)
			continue;			/* ip entities only, at accept */
		if (q->limits.client[k] > 0)
		{
			budget_key(key, k, q, user);
			q->client[k] = budget_get(key);
			q->any = true;
		}
		if (q->limits.tenant[0] != '\0' && q->limits.tenant_limit[k] > 0)
		{
			snprintf(key, sizeof(key), "%ct%s", 'a' + k, q->limits.tenant);
			q->tenant[k] = budget_get(key);
			q->any = true;
		}
	}
	q->epoch = budget_epoch;
	q->resolved = true;
}

/* conn's state, resolved again if anything it depends on changed */
static NagareConnQuota *
conn_state(NagareConn *conn)
{
	NagareConnQuota **slot = nagare_conn_quota(conn);
	NagareConnQuota *q = *slot;
	const char *principal = nagare_conn_identity(conn)->principal;

	if (q == NULL)
	{
		q = MemoryContextAllocZero(nagare_conn_context(conn), sizeof(NagareConnQuota));
		q->client_id = MemoryContextStrdup(nagare_conn_context(conn), "");
		*slot = q;
	}
	if (!q->resolved || q->version != nagare_quota_version() ||
		q->epoch != budget_epoch || strcmp(q->principal, principal) != 0)
		resolve(q, principal);
	return q;
}

/* The same, for a request with client id cid */
static NagareConnQuota *
conn_state_for(NagareConn *conn, KafkaStr cid)
{
	NagareConnQuota *q = conn_state(conn);
	int			len = Max(cid.len, 0);

	if (len != q->client_len || (len > 0 && memcmp(q->client_id, cid.ptr, len) != 0))
	{
		pfree(q->client_id);
		q->client_id = len > 0 ? nagare_kstr_dup(nagare_conn_context(conn), cid)
							   : MemoryContextStrdup(nagare_conn_context(conn), "");
		q->client_len = len;
		resolve(q, nagare_conn_identity(conn)->principal);
	}
	return q;
}

/* Charge value to budget b of quota key k at now */
static void
charge(Budget *b, double value, int64 now)
{
	if (b == NULL)
		return;
	nagare_rate_record(budget_rate(b), value, now, window_ms());
	b->last_ms = now;
}

/* The throttle of budget b against limit at now, ms (0 if none) */
static int32
budget_throttle(Budget *b, double limit, int64 now, int64 max_ms)
{
	if (b == NULL || limit <= 0)
		return 0;
	return nagare_rate_throttle(budget_rate(b), limit, now, window_ms(), max_ms);
}

/* Charge value to both budgets of key k; the larger throttle, ms */
static int32
charge_key(NagareConnQuota *q, int k, double value, int64 now, int64 max_ms)
{
	int32		a;
	int32		t;

	charge(q->client[k], value, now);
	charge(q->tenant[k], value, now);
	a = budget_throttle(q->client[k], q->limits.client[k], now, max_ms);
	t = budget_throttle(q->tenant[k], q->limits.tenant_limit[k], now, max_ms);
	return Max(a, t);
}

/* request_percentage's value of nsec: percent-seconds of one thread */
static inline double
request_share(uint64 nsec)
{
	return (double) nsec / 1.0e7;
}

/*
 * ns, not µs: most requests are handled in less than a microsecond, and
 * whole microseconds would charge them nothing
 */
static inline uint64
nsec_between(instr_time from, instr_time to)
{
	INSTR_TIME_SUBTRACT(to, from);
	return (uint64) (INSTR_TIME_GET_DOUBLE(to) * 1.0e9);
}

/* Charge request time without a throttle (it counts for later requests) */
static void
charge_request_time(NagareConnQuota *q, uint64 nsec, int64 now)
{
	if (nsec == 0)
		return;
	charge(q->client[NAGARE_QUOTA_REQUEST_PERCENTAGE], request_share(nsec), now);
	charge(q->tenant[NAGARE_QUOTA_REQUEST_PERCENTAGE], request_share(nsec), now);
}

/*
 * The channel's hook (queue/channel.h): a request of conn's is handed to
 * the worker (keep conn's memory until its answer), or answered after
 * usec of the worker's time.
 */
static void
worker_charge(void *owner, bool answered, uint64 usec)
{
	NagareConn *conn = owner;

	if (!answered)
	{
		nagare_conn_pin(conn);
		return;
	}
	if (usec > 0)
	{
		nagare_meter_time(conn, usec * 1000);
		if (!nagare_conn_closing(conn))
		{
			NagareConnQuota *q = conn_state(conn);

			if (q->any)
				charge_request_time(q, usec * 1000, now_ms(GetCurrentTimestamp()));
		}
	}
	nagare_conn_unpin(conn);
}

void
nagare_throttle_request_begin(NagareConn *conn, const KafkaRequestHeader *hdr, size_t size)
{
	(void) conn_state_for(conn, hdr->ClientId);
	if (cur_conn != NULL)
	{
		if (nouter == MAX_NESTED)
		{
			nuntracked++;
			return;
		}
		outer[nouter].conn = cur_conn;
		outer[nouter].start = cur_start;
		outer[nouter].mark = cur_mark;
		outer[nouter].size = cur_size;
		nouter++;
	}
	cur_conn = conn;
	cur_size = (int64) size;
	INSTR_TIME_SET_CURRENT(cur_start);
	cur_mark = cur_start;
	nagare_channel_charge_to(conn, worker_charge);
}

void
nagare_throttle_request_end(NagareConn *conn, bool exempt)
{
	instr_time	end;
	NagareConnQuota *q;
	instr_time	start = cur_start;
	instr_time	mark = cur_mark;

	if (nuntracked > 0)
	{
		nuntracked--;
		return;
	}
	INSTR_TIME_SET_CURRENT(end);
	if (nouter > 0)
	{
		/* back to the outer request */
		nouter--;
		cur_conn = outer[nouter].conn;
		cur_start = outer[nouter].start;
		cur_mark = outer[nouter].mark;
		cur_size = outer[nouter].size;
		nagare_channel_charge_to(cur_conn, worker_charge);
	}
	else
	{
		cur_conn = NULL;
		nagare_channel_charge_to(NULL, NULL);
	}
	nagare_meter_time(conn, nsec_between(start, end));
	if (exempt || nagare_conn_closing(conn))
		return;
	q = conn_state(conn);
	if (q->any)
		charge_request_time(q, nsec_between(mark, end), now_ms(GetCurrentTimestamp()));
}

void
nagare_throttle_response(NagareResponse *resp, NagareRequestId id, void *body)
{
	NagareConn *conn = resp->conn;
	NagareConnQuota *q;
	int32		ms = resp->throttle_ms;
	int			k = NAGARE_QUOTA_REQUEST_PERCENTAGE;

	if (nagare_conn_closing(conn))
		return;
	q = conn_state(conn);
	if (q->client[k] != NULL || q->tenant[k] != NULL)
	{
		TimestampTz now = GetCurrentTimestamp();
		int64		nms = now_ms(now);
		int32		rms;

		/* the handler's time so far, if it is this request's handler */
		if (conn == cur_conn)
		{
			instr_time	mark;

			INSTR_TIME_SET_CURRENT(mark);
			charge_request_time(q, nsec_between(cur_mark, mark), nms);
			cur_mark = mark;
		}
		rms =
			Max(budget_throttle(q->client[k], q->limits.client[k], nms, window_ms()),
				  budget_throttle(q->tenant[k], q->limits.tenant_limit[k], nms, window_ms()));
		if (rms > ms)
		{
			nagare_conn_mute(conn, TimestampTzPlusMilliseconds(now, rms));
			ms = rms;
		}
	}
	if (ms > 0)
	{
		(void) kafka_response_set_throttle_time(id.api_key, id.api_version, body, ms);
		nagare_meter_throttle(conn, ms);
	}
}

/* A throttle of ms for the request of resp (NULL: it has no response) */
static void
impose(NagareConn *conn, NagareResponse *resp, int32 ms, TimestampTz now)
{
	if (ms <= 0)
		return;
	nagare_conn_mute(conn, TimestampTzPlusMilliseconds(now, ms));
	if (resp != NULL)
		resp->throttle_ms = Max(resp->throttle_ms, ms);
	else
		nagare_meter_throttle(conn, ms);
}

void
nagare_throttle_impose(NagareResponse *resp, int32 ms)
{
	impose(resp->conn, resp, ms, GetCurrentTimestamp());
}

void
nagare_throttle_produce(NagareConn *conn, NagareResponse *resp)
{
	NagareConnQuota *q = conn_state(conn);
	int			k = NAGARE_QUOTA_PRODUCER_BYTE_RATE;
	TimestampTz now;

	if (!q->any || (q->client[k] == NULL && q->tenant[k] == NULL) || conn != cur_conn)
		return;
	now = GetCurrentTimestamp();
	impose(conn, resp, charge_key(q, k, (double) cur_size, now_ms(now), 0), now);
}

/*
 * A Fetch of conn is about to be served: the throttle, ms, if its client
 * is over its consumer_byte_rate already (it then gets an empty response,
 * and nothing is charged), else 0.
 */
int32
nagare_throttle_fetch_over(NagareConn *conn)
{
	NagareConnQuota *q = conn_state(conn);
	int			k = NAGARE_QUOTA_CONSUMER_BYTE_RATE;
	int64		nms;

	if (!q->any || (q->client[k] == NULL && q->tenant[k] == NULL))
		return 0;
	nms = now_ms(GetCurrentTimestamp());
	return Max(budget_throttle(q->client[k], q->limits.client[k], nms, 0),
			   budget_throttle(q->tenant[k], q->limits.tenant_limit[k], nms, 0));
}

/*
 * The most bytes a Fetch of conn may answer with: max_bytes, or one
 * window's worth of its consumer_byte_rate if less (Kafka caps it at
 * samples - 1 windows' worth; throttle_math.h's hold on the current window
 * makes one window the useful size).
 */
int64
nagare_throttle_fetch_cap(NagareConn *conn, int64 max_bytes)
{
	NagareConnQuota *q = conn_state(conn);
	int			k = NAGARE_QUOTA_CONSUMER_BYTE_RATE;
	double		w = (double) window_ms() / 1000.0;
	double		cap = (double) max_bytes;

	if (!q->any)
		return max_bytes;
	if (q->client[k] != NULL)
		cap = Min(cap, q->limits.client[k] * w);
	if (q->tenant[k] != NULL)
		cap = Min(cap, q->limits.tenant_limit[k] * w);
	return Max((int64) cap, 1);
}

/* A Fetch response of bytes is about to be sent: charge it */
void
nagare_throttle_fetch(NagareResponse *resp, int64 bytes)
{
	NagareConn *conn = resp->conn;
	NagareConnQuota *q;
	int			k = NAGARE_QUOTA_CONSUMER_BYTE_RATE;
	TimestampTz now;

	if (nagare_conn_closing(conn))
		return;
	q = conn_state(conn);
	if (!q->any || (q->client[k] == NULL && q->tenant[k] == NULL))
		return;
	now = GetCurrentTimestamp();
	impose(conn, resp, charge_key(q, k, (double) bytes, now_ms(now), 0), now);
}

/* Is api_key at version strict about controller_mutation_rate (KIP-599)? */
static bool
mutation_strict(int16 api_key, int16 version)
{
	switch (api_key)
	{
		case KAFKA_API_CREATE_TOPICS:
			return version >= 6;
		case KAFKA_API_CREATE_PARTITIONS:
			return version >= 3;
		case KAFKA_API_DELETE_TOPICS:
			return version >= 5;
		default:
			return false;
	}
}

bool
nagare_throttle_mutation(NagareResponse *resp, int16 api_key, int16 version, double permits)
{
	NagareConn *conn = resp->conn;
	NagareConnQuota *q = conn_state(conn);
	int			k = NAGARE_QUOTA_CONTROLLER_MUTATION_RATE;
	Budget	   *b[2];
	double		limit[2];
	TimestampTz now;
	int64		nms;
	int32		ms = 0;
	int			i;

	if (!q->any || (q->client[k] == NULL && q->tenant[k] == NULL))
		return true;
	b[0] = q->client[k];
	limit[0] = q->limits.client[k];
	b[1] = q->tenant[k];
	limit[1] = q->limits.tenant_limit[k];
	now = GetCurrentTimestamp();
	nms = now_ms(now);
	for (i = 0; i < 2; i++)
		if (b[i] != NULL)
		{
			nagare_bucket_refill(&b[i]->bucket, limit[i], nagare_quota_window_num,
								 window_ms(), nms);
			b[i]->last_ms = nms;
		}
	if (mutation_strict(api_key, version))
	{
		/* StrictControllerMutationQuota: refused while overdrawn */
		for (i = 0; i < 2; i++)
			if (b[i] != NULL)
				ms = Max(ms, nagare_bucket_throttle_ms(&b[i]->bucket, limit[i]));
		if (ms > 0)
		{
			impose(conn, resp, ms, now);
			return false;
		}
		for (i = 0; i < 2; i++)
			if (b[i] != NULL)
				nagare_bucket_take(&b[i]->bucket, permits, limit[i],
								   nagare_quota_window_num, window_ms(), nms);
		return true;
	}
	/* PermissiveControllerMutationQuota: accepted, throttled if overdrawn */
	for (i = 0; i < 2; i++)
		if (b[i] != NULL)
		{
			nagare_bucket_take(&b[i]->bucket, permits, limit[i], nagare_quota_window_num,
							   window_ms(), nms);
			ms = Max(ms, nagare_bucket_throttle_ms(&b[i]->bucket, limit[i]));
		}
	impose(conn, resp, ms, now);
	return true;
}

/*
 * A connection was accepted: nagare.max_connection_creation_rate's
 * throttle, ms, for which the listeners accept no more (0: none).
 */
int32
nagare_throttle_broker_connection(TimestampTz now)
{
	int64		nms = now_ms(now);

	if (nagare_max_connection_creation_rate <= 0)
		return 0;
	if (throttle_context == NULL)
		throttle_init();
	if (broker_connections == NULL ||
		broker_connections->nsamples != nagare_quota_window_num)
	{
		if (broker_connections)
			pfree(broker_connections);
		broker_connections = MemoryContextAlloc(throttle_context,
												nagare_rate_size(nagare_quota_window_num));
		nagare_rate_init(broker_connections, nagare_quota_window_num);
	}
	nagare_rate_record(broker_connections, 1, nms, window_ms());
	return nagare_rate_throttle(broker_connections, nagare_max_connection_creation_rate,
								nms, window_ms(), 0);
}

/*
 * A connection from ip was accepted: the throttle, ms, of ip's
 * connection_creation_rate; over it the connection is refused, and not
 * counted (Kafka un-records it).
 */
int32
nagare_throttle_ip_connection(const char *ip, TimestampTz now)
{
	double		limit = nagare_quota_ip_connection_rate(ip);
	char		key[BUDGET_KEY_MAX];
	Budget	   *b;
	int64		nms = now_ms(now);
	int32		ms;

	if (limit <= 0)
		return 0;
	snprintf(key, sizeof(key), "%ci%s", 'a' + NAGARE_QUOTA_CONNECTION_CREATION_RATE, ip);
	b = budget_get(key);
	charge(b, 1, nms);
	ms = budget_throttle(b, limit, nms, 0);
	if (ms > 0)
		nagare_rate_record(budget_rate(b), -1, nms, window_ms());
	return ms;
}

/* Forget the budgets nobody charged for a while (once a minute) */
void
nagare_throttle_sweep(TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	Budget	   *b;
	int64		nms = now_ms(now);
	int64 idle =
		Max((int64) BUDGET_IDLE_MS, 2 * (int64) nagare_quota_window_num * window_ms());
	bool		removed = false;

	if (budgets == NULL || nms - last_sweep_ms < SWEEP_INTERVAL_MS)
		return;
	last_sweep_ms = nms;
	hash_seq_init(&seq, budgets);
	while ((b = hash_seq_search(&seq)) != NULL)
	{
		if (nms - b->last_ms < idle)
			continue;
		if (b->rate)
			pfree(b->rate);
		(void) hash_search(budgets, b->key, HASH_REMOVE, NULL);
		removed = true;
	}
	/* connections look their budgets up again */
	if (removed)
		budget_epoch++;
}
