/*-------------------------------------------------------------------------
 *
 * workerops.c
 *	  What the http process asks the nagare worker, over its own channel
 *	  (queue/channel.h, NAGARE_CHANNEL_HTTP): logins of HTTP clients,
 *	  whether a role may beat an instance, and the registry's writes.
 *
 * The http process has no database connection, and a password derivation
 * takes milliseconds of CPU: both are the worker's.  Nothing here waits.
 * A call that needs the worker submits a request and says WEB_WAIT; the
 * handler parks its HTTP request and is called again once the answer has
 * set the process's latch (the channel's turn runs before the parked
 * requests are looked at again).
 *
 * Logins: HTTP Basic credentials are a PostgreSQL role and its password,
 * checked by the worker as a Kafka client's SASL/PLAIN login is (the same
 * request, NAGARE_AUTH_PLAIN_VERIFY: the role's SCRAM verifier in
 * pg_authid, rolcanlogin, rolvaliduntil).  A good pair is remembered for
 * WEB_LOGIN_CACHE_MS under the SHA-256 of user and password (the password
 * itself is not kept), so a client that sends its credentials with every
 * request costs one derivation a minute; a wrong pair is refused again for
 * a second without asking; at most WEB_LOGINS_IN_FLIGHT logins are at the
 * worker at once (more get 503), so a guessing client cannot take the
 * worker's time from everyone else.  A role changed or dropped in SQL is
 * seen by the next login after the minute.
 *
 * Beat permissions: whether a role may pass, warn or fail an instance
 * (nagare._instance_check(), the rule the SQL heartbeats apply) is
 * remembered for WEB_BEAT_CACHE_MS, so thousands of instances beating
 * every few seconds cost the worker one query per instance and role every
 * ten seconds; a refusal for a second.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "lib/ilist.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "broker/net.h"
#include "kafka/byteorder.h"
#include "loglimit.h"
#include "nagare.h"
#include "queue/channel.h"
#include "web/workerops.h"

/* Most logins and beat permissions remembered (more: the oldest go) */
#define WEB_CACHE_MAX        4096
/* How long a refusal is remembered */
#define WEB_REFUSAL_CACHE_MS 1000
/* An op whose answer nobody picked up (its client went away) is freed */
#define WEB_OP_ORPHAN_MS     60000
/* Failed logins logged at most this often */
#define WEB_LOGIN_LOG_MS     10000

typedef enum CacheState
{
	CACHE_PENDING, /* asked the worker */
	CACHE_YES,
	CACHE_NO,
	CACHE_UNAVAILABLE /* no answer in time */
} CacheState;

typedef struct LoginEntry
{
	uint8 key[PG_SHA256_DIGEST_LENGTH]; /* SHA-256 of user, NUL, password */
	CacheState state;
	TimestampTz expires;
	char role[NAMEDATALEN];
	bool superuser;
} LoginEntry;

typedef struct BeatKey
{
	char role[NAMEDATALEN];
	char id[NAGARE_INSTANCE_ID_MAX];
} BeatKey;

typedef struct BeatEntry
{
	BeatKey key;
	CacheState state;
	TimestampTz expires;
	int status; /* CACHE_NO: 403 or 404 */
	char message[NAGARE_CHANNEL_MESSAGE_MAX];
} BeatEntry;

struct WebOp
{
	dlist_node node;
	bool done;
	TimestampTz done_at;
	char sqlstate[6]; /* "" when no answer came in time */
	char message[NAGARE_CHANNEL_MESSAGE_MAX];
};

static MemoryContext ops_cxt = NULL;
static HTAB *logins = NULL;
static HTAB *beats = NULL;
static dlist_head ops = DLIST_STATIC_INIT(ops);
static int logins_in_flight = 0;
static NagareLogLimit login_log = NAGARE_LOG_LIMIT(1, WEB_LOGIN_LOG_MS);

const char *const nagare_web_challenge[2] = {"WWW-Authenticate",
											 "Basic realm=\"nagare\", charset=\"UTF-8\""};

static void
ensure_tables(void)
{
	HASHCTL info;

	if (logins != NULL)
		return;
	ops_cxt = AllocSetContextCreate(TopMemoryContext, "nagare http worker requests",
									ALLOCSET_DEFAULT_SIZES);
	memset(&info, 0, sizeof(info));
	info.keysize = PG_SHA256_DIGEST_LENGTH;
	info.entrysize = sizeof(LoginEntry);
	info.hcxt = ops_cxt;
	logins = hash_create("nagare http logins", 256, &info,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(BeatKey);
	info.entrysize = sizeof(BeatEntry);
	info.hcxt = ops_cxt;
	beats = hash_create("nagare http beat permissions", 256, &info,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * Make room in a cache: drop what expired, and if that is not enough,
 * everything not waiting for the worker (the cache fills again as clients
 * come back).  Entries are small and the bound large: this is rare.
 */
static void
make_room(HTAB *table, Size state_offset, Size expires_offset, TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	char *e;
	bool all = false;

	for (;;)
	{
		hash_seq_init(&seq, table);
		while ((e = hash_seq_search(&seq)) != NULL)
		{
			CacheState state = *(CacheState *) (e + state_offset);
			TimestampTz expires = *(TimestampTz *) (e + expires_offset);

			if (state != CACHE_PENDING && (all || expires <= now))
				(void) hash_search(table, e, HASH_REMOVE, NULL);
		}
		if (all || hash_get_num_entries(table) < WEB_CACHE_MAX)
			return;
		all = true;
	}
}

/*---- logins ----*/

static void
login_key(const char *user, size_t ulen, const char *password, size_t plen,
		  uint8 key[PG_SHA256_DIGEST_LENGTH])
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8 nul = 0;

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) user, ulen) < 0 ||
		pg_cryptohash_update(ctx, &nul, 1) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) password, plen) < 0 ||
		pg_cryptohash_final(ctx, key, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "nagare http: could not compute a SHA-256 digest");
	pg_cryptohash_free(ctx);
}

static void
login_failed_log(const char *role)
{
	int skipped;

	if (!nagare_log_due(&login_log))
		return;
	skipped = nagare_log_skipped(&login_log);
	ereport(LOG,
			(errmsg("nagare http: failed authentication of role \"%s\" (HTTP Basic)", role),
			 skipped > 0
				 ? errdetail("%d more failed authentication(s) since the last such line.",
							 skipped)
				 : 0));
}

/* The worker's answer to a login (channel callback; arg: the entry's key) */
static void
login_answered(void *arg, const char *sqlstate, const char *data, uint32 len)
{
	LoginEntry *e = hash_search(logins, arg, HASH_FIND, NULL);
	TimestampTz now = GetCurrentTimestamp();

	logins_in_flight--;
	pfree(arg);
	if (e == NULL)
		return;
	if (sqlstate == NULL)
	{
		e->state = CACHE_UNAVAILABLE;
		e->expires = TimestampTzPlusMilliseconds(now, WEB_REFUSAL_CACHE_MS);
	}
	else if (nagare_channel_succeeded(sqlstate) && len >= 4 &&
			 kafka_load_be32((const uint8 *) data) != 0)
	{
		e->state = CACHE_YES;
		e->superuser = len >= 5 && data[4] != 0;
		e->expires = TimestampTzPlusMilliseconds(now, WEB_LOGIN_CACHE_MS);
	}
	else
	{
		e->state = CACHE_NO;
		e->expires = TimestampTzPlusMilliseconds(now, WEB_REFUSAL_CACHE_MS);
		login_failed_log(e->role);
	}
}

WebWait
nagare_web_login(const HttpRequest *req, WebIdentity *who)
{
	char buf[1024];
	HttpSpan user;
	HttpSpan password;
	WebWait w;

	memset(who, 0, sizeof(*who));
	if (nagare_net_configured_authenticating_listeners() == 0)
	{
		who->anonymous = true;
		return WEB_READY;
	}
	if (nagare_http_basic_auth(req, buf, sizeof(buf), &user, &password) != HTTP_AUTH_OK)
		return WEB_REFUSED;
	w = nagare_web_login_pair(user.p, user.len, password.p, password.len, who);
	explicit_bzero(buf, sizeof(buf));
	return w;
}

WebWait
nagare_web_login_pair(const char *user_p, size_t user_len, const char *password_p,
					  size_t password_len, WebIdentity *who)
{
	HttpSpan user = {user_p, user_len};
	HttpSpan password = {password_p, password_len};
	uint8 key[PG_SHA256_DIGEST_LENGTH];
	LoginEntry *e;
	bool found;
	TimestampTz now;
	StringInfoData json;
	char *copy;
	uint8 *arg;

	memset(who, 0, sizeof(*who));
	if (nagare_net_configured_authenticating_listeners() == 0)
	{
		who->anonymous = true;
		return WEB_READY;
	}
	if (user.len == 0 || user.len >= NAMEDATALEN || memchr(user.p, '\0', user.len) != NULL ||
		memchr(password.p, '\0', password.len) != NULL)
		return WEB_REFUSED;

	ensure_tables();
	now = GetCurrentTimestamp();
	login_key(user.p, user.len, password.p, password.len, key);
	e = hash_search(logins, key, HASH_FIND, NULL);
	if (e != NULL && e->state != CACHE_PENDING && e->expires <= now)
	{
		(void) hash_search(logins, key, HASH_REMOVE, NULL);
		e = NULL;
	}
	if (e != NULL)
	{
		switch (e->state)
		{
			case CACHE_PENDING:
				return WEB_WAIT;
			case CACHE_YES:
				strlcpy(who->role, e->role, sizeof(who->role));
				who->superuser = e->superuser;
				return WEB_READY;
			case CACHE_NO:
				return WEB_REFUSED;
			case CACHE_UNAVAILABLE:
				return WEB_BUSY;
		}
	}

	if (logins_in_flight >= WEB_LOGINS_IN_FLIGHT)
		return WEB_BUSY;
	if (hash_get_num_entries(logins) >= WEB_CACHE_MAX)
		make_room(logins, offsetof(LoginEntry, state), offsetof(LoginEntry, expires), now);

	initStringInfo(&json);
	appendStringInfoString(&json, "{\"u\":");
	copy = pnstrdup(user.p, user.len);
	escape_json(&json, copy);
	pfree(copy);
	appendStringInfoString(&json, ",\"p\":");
	copy = pnstrdup(password.p, password.len);
	escape_json(&json, copy);
	explicit_bzero(copy, password.len);
	pfree(copy);
	appendStringInfoChar(&json, '}');

	arg = MemoryContextAlloc(ops_cxt, PG_SHA256_DIGEST_LENGTH);
	memcpy(arg, key, PG_SHA256_DIGEST_LENGTH);
	if (!nagare_channel_submit(NAGARE_AUTH_PLAIN_VERIFY, json.data, json.len,
							   TimestampTzPlusMilliseconds(now, nagare_request_timeout_ms),
							   login_answered, arg))
	{
		pfree(arg);
		explicit_bzero(json.data, json.len);
		pfree(json.data);
		return WEB_BUSY;
	}
	explicit_bzero(json.data, json.len);
	pfree(json.data);
	logins_in_flight++;

	e = hash_search(logins, key, HASH_ENTER, &found);
	e->state = CACHE_PENDING;
	e->expires = 0;
	memcpy(e->role, user.p, user.len);
	e->role[user.len] = '\0';
	e->superuser = false;
	return WEB_WAIT;
}

/*---- beat permissions ----*/

/* The worker's answer to a beat permission (channel callback; arg: the key) */
static void
beat_answered(void *arg, const char *sqlstate, const char *data, uint32 len)
{
	BeatEntry *e = hash_search(beats, arg, HASH_FIND, NULL);
	TimestampTz now = GetCurrentTimestamp();

	pfree(arg);
	if (e == NULL)
		return;
	if (sqlstate == NULL)
	{
		e->state = CACHE_UNAVAILABLE;
		e->expires = TimestampTzPlusMilliseconds(now, WEB_REFUSAL_CACHE_MS);
	}
	else if (nagare_channel_succeeded(sqlstate))
	{
		e->state = CACHE_YES;
		e->expires = TimestampTzPlusMilliseconds(now, WEB_BEAT_CACHE_MS);
	}
	else
	{
		e->state = CACHE_NO;
		e->status = nagare_web_status_of(sqlstate);
		strlcpy(e->message, data, Min(sizeof(e->message), (size_t) len + 1));
		e->expires = TimestampTzPlusMilliseconds(now, WEB_REFUSAL_CACHE_MS);
	}
}

WebWait
nagare_web_may_beat(const WebIdentity *who, const char *id, int *status,
					const char **message)
{
	BeatKey key;
	BeatEntry *e;
	bool found;
	TimestampTz now;
	StringInfoData json;
	BeatKey *arg;

	/* no login (nothing authenticates) or a superuser: the platform may */
	if (who->anonymous || who->superuser)
		return WEB_READY;
	ensure_tables();
	memset(&key, 0, sizeof(key));
	strlcpy(key.role, who->role, sizeof(key.role));
	strlcpy(key.id, id, sizeof(key.id));
	now = GetCurrentTimestamp();
	e = hash_search(beats, &key, HASH_FIND, NULL);
	if (e != NULL && e->state != CACHE_PENDING && e->expires <= now)
	{
		(void) hash_search(beats, &key, HASH_REMOVE, NULL);
		e = NULL;
	}
	if (e != NULL)
	{
		switch (e->state)
		{
			case CACHE_PENDING:
				return WEB_WAIT;
			case CACHE_YES:
				return WEB_READY;
			case CACHE_NO:
				*status = e->status;
				*message = pstrdup(e->message);
				return WEB_REFUSED;
			case CACHE_UNAVAILABLE:
				return WEB_BUSY;
		}
	}

	if (hash_get_num_entries(beats) >= WEB_CACHE_MAX)
		make_room(beats, offsetof(BeatEntry, state), offsetof(BeatEntry, expires), now);
	initStringInfo(&json);
	appendStringInfoString(&json, "{\"as\":");
	escape_json(&json, who->role);
	appendStringInfoString(&json, ",\"id\":");
	escape_json(&json, id);
	appendStringInfoChar(&json, '}');
	arg = MemoryContextAlloc(ops_cxt, sizeof(BeatKey));
	*arg = key;
	if (!nagare_channel_submit(NAGARE_REGISTRY_MAY_BEAT, json.data, json.len,
							   TimestampTzPlusMilliseconds(now, nagare_request_timeout_ms),
							   beat_answered, arg))
	{
		pfree(arg);
		return WEB_BUSY;
	}
	e = hash_search(beats, &key, HASH_ENTER, &found);
	e->state = CACHE_PENDING;
	e->expires = 0;
	return WEB_WAIT;
}

/*---- the registry's writes ----*/

static void
op_answered(void *arg, const char *sqlstate, const char *data, uint32 len)
{
	WebOp *op = arg;

	op->done = true;
	op->done_at = GetCurrentTimestamp();
	if (sqlstate != NULL)
	{
		strlcpy(op->sqlstate, sqlstate, sizeof(op->sqlstate));
		if (!nagare_channel_succeeded(sqlstate))
			strlcpy(op->message, data, Min(sizeof(op->message), (size_t) len + 1));
	}
}

WebOp *
nagare_web_ask(NagareChannelKind kind, const char *payload, uint32 len)
{
	WebOp *op;

	ensure_tables();
	op = MemoryContextAllocZero(ops_cxt, sizeof(WebOp));
	if (!nagare_channel_submit(kind, payload, len,
							   TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														   nagare_request_timeout_ms),
							   op_answered, op))
	{
		pfree(op);
		return NULL;
	}
	dlist_push_tail(&ops, &op->node);
	return op;
}

bool
nagare_web_op_done(WebOp *op, int *status, const char **message)
{
	if (!op->done)
		return false;
	*status = nagare_web_status_of(op->sqlstate[0] != '\0' ? op->sqlstate : NULL);
	*message = NULL;
	if (op->sqlstate[0] == '\0')
		*message = "the nagare worker did not answer in time (nagare.request_timeout_ms)";
	else if (*status != 200)
		*message = pstrdup(op->message);
	dlist_delete(&op->node);
	pfree(op);
	return true;
}

void
nagare_web_ops_turn(TimestampTz now)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify (iter, &ops)
	{
		WebOp *op = dlist_container(WebOp, node, iter.cur);

		if (op->done && TimestampDifferenceExceeds(op->done_at, now, WEB_OP_ORPHAN_MS))
		{
			dlist_delete(&op->node);
			pfree(op);
		}
	}
}

int
nagare_web_status_of(const char *sqlstate)
{
	if (sqlstate == NULL)
		return 503;
	if (strcmp(sqlstate, "00000") == 0)
		return 200;
	if (strcmp(sqlstate, "42501") == 0)
		return 403;
	if (strcmp(sqlstate, "42704") == 0)
		return 404;
	if (strncmp(sqlstate, "28", 2) == 0)
		return 401;
	/* the request's fault: data, integrity, syntax, not supported, limits, state */
	if (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0 ||
		strncmp(sqlstate, "42", 2) == 0 || strncmp(sqlstate, "0A", 2) == 0 ||
		strncmp(sqlstate, "54", 2) == 0 || strncmp(sqlstate, "55", 2) == 0)
		return 400;
	return 500;
}

void
nagare_web_append_who(StringInfo json, const WebIdentity *who, const char *peer,
					  const char *agent)
{
	StringInfoData client;

	if (!who->anonymous)
	{
		appendStringInfoString(json, ",\"as\":");
		escape_json(json, who->role);
	}
	initStringInfo(&client);
	appendStringInfoString(&client, "{\"principal\":");
	if (who->anonymous)
		appendStringInfoString(&client, "\"User:ANONYMOUS\"");
	else
	{
		char *principal = psprintf("User:%s", who->role);

		escape_json(&client, principal);
		pfree(principal);
	}
	appendStringInfoString(&client, ",\"host\":");
	escape_json(&client, peer ? peer : "");
	appendStringInfoString(&client, ",\"client_id\":");
	escape_json(&client, agent ? agent : "");
	appendStringInfoChar(&client, '}');
	appendStringInfoString(json, ",\"k\":");
	escape_json(json, client.data);
	pfree(client.data);
}
