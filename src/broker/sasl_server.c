/*-------------------------------------------------------------------------
 *
 * sasl_server.c
 *	  SASL PLAIN and SCRAM-SHA-256 authentication of Kafka clients as
 *	  PostgreSQL roles: SaslHandshake, SaslAuthenticate, and the raw SASL
 *	  frames that follow SaslHandshake v0; and the roles of client
 *	  certificates.
 *
 * A connection requires SASL iff its listener's security protocol
 * (nagare_conn_security) is SASL_PLAINTEXT or SASL_SSL.  Its state, kept
 * here per connection (in the connection's memory, found through a hash
 * table by the connection; a reset callback of that memory forgets it), is
 * a small machine, as Kafka's SaslServerAuthenticator:
 *
 *	HANDSHAKE	before SaslHandshake.  ApiVersions, SaslHandshake and
 *				SaslAuthenticate are served; any other request closes the
 *				connection (ILLEGAL_SASL_STATE, counted as a failed
 *				authentication and logged; Kafka sends no response either).
 *	TOKEN		a mechanism was chosen, its first token is awaited: in
 *				SaslAuthenticate after SaslHandshake v1, or as a raw frame
 *				(size-prefixed, no request header, and answered the same way)
 *				after v0, as kafka-python 2.0.2 and librdkafka without
 *				SaslAuthenticate send them.
 *	WORKER		the token waits for the nagare worker (worker/auth.c), which
 *				looks the role up in pg_authid and, for PLAIN, verifies the
 *				password (PBKDF2, milliseconds).  The connection is held: no
 *				further frame is handled until the answer.
 *	SCRAM_FINAL	server-first-message sent; the client-final-message is
 *				verified here (HMACs only, microseconds, with PostgreSQL's
 *				SCRAM helpers).
 *	DONE		authenticated: the identity is the role, "User:<role>", a
 *				Kafka super user if the role is a PostgreSQL superuser (as
 *				nagare.super_users; checked at login, as the role itself).
 *				A SASL login lasts nagare.connections_max_reauth_ms, or until
 *				the role's VALID UNTIL if sooner (SessionLifetimeMs, KIP-368;
 *				0: for ever).  Before it ends, a SaslHandshake v1 begins a new
 *				login (back to TOKEN, the identity kept meanwhile), which must
 *				be the same user's with the same mechanism; after it ends,
 *				any other request closes the connection unanswered.
 *	FAILED		SASL_AUTHENTICATION_FAILED was sent with a fixed message
 *				(which says nothing of why), after
 *				nagare.connection_failed_authentication_delay_ms for a
 *				failed authentication (the connection held meanwhile); the
 *				connection is held and closed a moment later, once the
 *				answer is out.  After raw
 *				frames the connection is closed at once (kafka-python only
 *				sees the close).
 *
 * A client certificate on an SSL listener is checked here too
 * (nagare_auth_certificate(), from net.c once the handshake is done): the
 * name nagare.ssl_principal_mapping_rules made of its subject must be a
 * role that may log in, which the worker checks (WORKER phase, the
 * connection held, then DONE, or FAILED and closed).
 *
 * The worker answers an unknown user, a role without LOGIN, an expired role
 * and a role without a usable password the same way as a wrong password,
 * after the same work (a mock SCRAM verifier), so a client cannot tell
 * which user names exist.
 *
 * Nothing here blocks the broker's loop: catalog lookups and key derivation
 * are the worker's, through the channel it shares with consumer groups'
 * offsets.  At most SASL_MAX_IN_FLIGHT logins are in the channel at once;
 * the rest wait here (and time out after nagare.request_timeout), so a storm
 * of logins costs a pass of the worker a bounded time.
 *
 * Failed authentications are counted in nagare_shared->auth_failures (the
 * auth_failures column of nagare.broker) and logged at most once per
 * SASL_LOG_INTERVAL_MS with the count since the last line, the peer and
 * the user name if it is short and printable.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/base64.h"
#include "common/hmac.h"
#include "common/scram-common.h"
#include "lib/ilist.h"
#include "lib/stringinfo.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "auth/sasl.h"
#include "broker/kafka_api.h"
#include "broker/sasl_server.h"
#include "kafka/byteorder.h"
#include "loglimit.h"
#include "nagare.h"
#include "queue/channel.h"
#include "shmem.h"

/* Logins in the worker's channel at once */
#define SASL_MAX_IN_FLIGHT		8
/* How long a failed connection stays open for its answer to go out */
#define SASL_FAIL_CLOSE_MS		500
/* At most one LOG line about failed authentications per this long */
#define SASL_LOG_INTERVAL_MS	10000
/* Random bytes of the server's part of the SCRAM nonce (as PostgreSQL) */
#define SASL_SERVER_NONCE_LEN	18

/* The one message of a failed authentication, as Kafka's */
static const char *const failed_message =
	"Authentication failed: Invalid username or password";

typedef enum SaslPhase
{
	SASL_PHASE_HANDSHAKE,
	SASL_PHASE_TOKEN,
	SASL_PHASE_WORKER,
	SASL_PHASE_SCRAM_FINAL,
	SASL_PHASE_DONE,
	SASL_PHASE_FAILED
} SaslPhase;

typedef enum SaslMechanism
{
	SASL_MECH_NONE,
	SASL_MECH_PLAIN,
	SASL_MECH_SCRAM_SHA_256
} SaslMechanism;

/* Where a SaslConn is listed (node) */
typedef enum SaslList
{
	SASL_LIST_NONE,
	SASL_LIST_WAITING,			/* a login to hand to the worker */
	SASL_LIST_DELAYED, /* a failed login to answer at deadline */
	SASL_LIST_FAILED /* to close at deadline */
} SaslList;

typedef struct SaslConn
{
	NagareConn *conn;
	SaslPhase	phase;
	SaslMechanism mech;
	bool		raw;			/* SaslHandshake v0: tokens in raw frames */
	bool		held;			/* nagare_conn_hold() while in the worker */

	/* the answer to the token being handled */
	NagareResponse *resp;
	NagareRequestId id;			/* of its SaslAuthenticate (not raw) */

	dlist_node	node;
	SaslList	list;
	TimestampTz deadline; /* WAITING: give up; DELAYED: answer; FAILED: close */

	/* the request to the worker (payload in shmem.h) */
	NagareChannelKind kind;
	char	   *payload;
	uint32		payload_len;

	/* the login */
	char		user[SASL_MAX_USER + 1];

	/* SCRAM: what the final message is checked against */
	char	   *client_first_bare;
	char	   *server_first;
	char	   *gs2_base64;		/* what c= must be */
	char	   *client_nonce;
	char	   *nonce;			/* client nonce || server part */
	Oid			role;			/* InvalidOid: doomed */
	bool		superuser;		/* the role is a superuser (the worker says) */
	TimestampTz valid_until; /* the role's VALID UNTIL (0: none) */

	/*
	 * KIP-368: when the login ends (0: with the connection), and while a
	 * new login of the same user and mechanism is under way, whom it must
	 * be (the SaslHandshake that began it came when DONE)
	 */
	TimestampTz session_ends;
	int64 session_ms; /* SessionLifetimeMs of the answer */
	bool reauth;
	SaslMechanism reauth_mech;
	char reauth_user[SASL_MAX_USER + 1];
	uint8		stored_key[SCRAM_KEY_LEN];
	uint8		server_key[SCRAM_KEY_LEN];

	MemoryContextCallback forget;
} SaslConn;

typedef struct SaslConnEntry
{
	NagareConn *key;
	SaslConn   *state;
} SaslConnEntry;

static HTAB *sasl_conns = NULL;
static dlist_head waiting = DLIST_STATIC_INIT(waiting);
static dlist_head delayed = DLIST_STATIC_INIT(delayed);
static dlist_head failed = DLIST_STATIC_INIT(failed);
static int	in_flight = 0;
static ResourceOwner sasl_owner = NULL;

/* failures not logged yet, and the latest one */
static uint64 unlogged_failures = 0;
static TimestampTz last_failure_log = 0;
static char last_failure_peer[64];
static char last_failure_user[65];

static void fail(SaslConn *s, bool count);
static void pump(void);

static bool
sasl_listener(NagareConn *conn)
{
	NagareSecurityProtocol sec = nagare_conn_security(conn);

	return sec == NAGARE_SEC_SASL_PLAINTEXT || sec == NAGARE_SEC_SASL_SSL;
}

/* The connection is closing: forget the answer of the token, if any */
static void
drop_response(SaslConn *s)
{
	if (s->resp != NULL)
		nagare_conn_response_drop(s->resp);
	s->resp = NULL;
}

static void
unlist(SaslConn *s)
{
	if (s->list != SASL_LIST_NONE)
		dlist_delete(&s->node);
	s->list = SASL_LIST_NONE;
}

/* The connection's memory is going: forget its state */
static void
forget_conn(void *arg)
{
	SaslConn   *s = arg;

	unlist(s);
	hash_search(sasl_conns, &s->conn, HASH_REMOVE, NULL);
}

/*
 * The authentication state of conn, created the first time (when conn
 * starts as not authenticated, whatever the listener set).
 */
static SaslConn *
conn_state(NagareConn *conn)
{
	SaslConnEntry *e;
	bool		found;
	NagareIdentity *id;

	if (sasl_conns == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(NagareConn *);
		ctl.entrysize = sizeof(SaslConnEntry);
		ctl.hcxt = TopMemoryContext;
		sasl_conns = hash_create("nagare SASL connections", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(sasl_conns, &conn, HASH_ENTER, &found);
	if (!found)
	{
		SaslConn   *s = MemoryContextAllocZero(nagare_conn_context(conn), sizeof(SaslConn));

		s->conn = conn;
		s->phase = SASL_PHASE_HANDSHAKE;
		s->forget.func = forget_conn;
		s->forget.arg = s;
		MemoryContextRegisterResetCallback(nagare_conn_context(conn), &s->forget);
		e->state = s;

		id = nagare_conn_identity(conn);
		id->authenticated = false;
		id->role = InvalidOid;
		id->superuser = false;
		strlcpy(id->principal, "User:ANONYMOUS", sizeof(id->principal));
	}
	return e->state;
}

/*
 * The SASL state of conn, created on its first frame.  NULL if conn is not
 * on a SASL listener (a client certificate's state, if any, is not looked at
 * by the frame gate: the connection is held until it is done).
 */
static SaslConn *
sasl_state(NagareConn *conn)
{
	return sasl_listener(conn) ? conn_state(conn) : NULL;
}

/*---- counting and logging failures ----*/

/* Log the failures counted since the last line, if any and if due */
static void
log_failures(TimestampTz now, bool force)
{
	if (unlogged_failures == 0)
		return;
	if (!force && !TimestampDifferenceExceeds(last_failure_log, now, SASL_LOG_INTERVAL_MS))
		return;
	if (last_failure_user[0] != '\0')
		ereport(LOG,
				(errmsg("nagare broker: %llu failed authentication(s) since the last report, the latest from %s as user \"%s\"",
						(unsigned long long) unlogged_failures, last_failure_peer,
						last_failure_user)));
	else
		ereport(LOG,
				(errmsg("nagare broker: %llu failed authentication(s) since the last report, the latest from %s",
						(unsigned long long) unlogged_failures, last_failure_peer)));
	unlogged_failures = 0;
	last_failure_log = now;
}

/*
 * Count a failed authentication of conn.  The user name goes to the log
 * only if it is short and printable ASCII (it is the client's text).
 */
static void
count_failure(NagareConn *conn, const char *user)
{
	size_t		n = user ? strlen(user) : 0;
	size_t		i;

	pg_atomic_fetch_add_u64(&nagare_shared->auth_failures, 1);
	unlogged_failures++;
	strlcpy(last_failure_peer, nagare_conn_peer(conn), sizeof(last_failure_peer));
	last_failure_user[0] = '\0';
	if (n > 0 && n < sizeof(last_failure_user))
	{
		for (i = 0; i < n; i++)
			if (user[i] < 0x20 || user[i] > 0x7e || user[i] == '"' || user[i] == '\\')
				break;
		if (i == n)
			strlcpy(last_failure_user, user, sizeof(last_failure_user));
	}
	log_failures(GetCurrentTimestamp(), false);
}

/*
 * Logins the server could not check (the worker too slow or not running)
 * are not counted as failures; their LOG line, too, comes at most once per
 * SASL_LOG_INTERVAL_MS.
 */
static NagareLogLimit server_log = NAGARE_LOG_LIMIT(1, SASL_LOG_INTERVAL_MS);

/*---- answers ----*/

/*
 * Answer the token being handled: error NONE with the server's bytes, or
 * an error with its message.  Raw frames carry only the bytes.
 */
static void
reply(SaslConn *s, int16 error, const char *message, const char *bytes, int len)
{
	NagareResponse *resp = s->resp;

	s->resp = NULL;
	Assert(resp != NULL);
	if (s->raw)
	{
		char	   *frame;

		if (error != KAFKA_ERROR_NONE)
		{
			/* a raw frame has no room for an error: the close says it */
			nagare_conn_close(s->conn, NULL);
			nagare_conn_response_drop(resp);
			return;
		}
		frame = MemoryContextAlloc(nagare_conn_context(s->conn), 4 + len);
		kafka_store_be32((uint8 *) frame, (uint32) len);
		if (len > 0)
			memcpy(frame + 4, bytes, len);
		nagare_conn_response_ready(resp, frame, 4 + len);
	}
	else
	{
		KafkaSaslAuthenticateResponse body;

		memset(&body, 0, sizeof(body));
		body.ErrorCode = error;
		body.ErrorMessage = message ? kafka_str(message) : kafka_str_null();
		body.AuthBytes.ptr = (const uint8 *) (bytes ? bytes : "");
		body.AuthBytes.len = len;
		body.SessionLifetimeMs =
			error == KAFKA_ERROR_NONE && s->phase == SASL_PHASE_DONE ? s->session_ms : 0;
		nagare_kafka_response_ready(resp, s->id, &body, NULL);
	}
}

/* Hold s's connection (no more of its requests are read) on list l until deadline */
static void
hold_on(SaslConn *s, dlist_head *l, SaslList which, int ms)
{
	if (!s->held)
	{
		nagare_conn_hold(s->conn);
		s->held = true;
	}
	unlist(s);
	s->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);
	dlist_push_tail(l, &s->node);
	s->list = which;
}

/*
 * Answer SASL_AUTHENTICATION_FAILED, and close the connection once the
 * answer is out.
 */
static void
answer_failure(SaslConn *s, bool counted)
{
	if (s->resp != NULL)
		reply(s, KAFKA_ERROR_SASL_AUTHENTICATION_FAILED,
			  counted
				  ? failed_message
				  : "Authentication failed: the server could not check the credentials, try again",
			  NULL, 0);
	if (nagare_conn_closing(s->conn))
		return;
	hold_on(s, &failed, SASL_LIST_FAILED, SASL_FAIL_CLOSE_MS);
}

/*
 * The login failed (count: it is a failed authentication, not a server's
 * failure).  A failed authentication is answered
 * nagare.connection_failed_authentication_delay_ms later, as Kafka's
 * connection.failed.authentication.delay.ms: a client that retries at once
 * (librdkafka reconnects after its reconnect.backoff.ms) or a guesser
 * cannot make the worker derive keys as fast as it can connect.
 */
static void
fail(SaslConn *s, bool count)
{
	s->phase = SASL_PHASE_FAILED;
	if (!count)
	{
		answer_failure(s, false);
		return;
	}
	count_failure(s->conn, s->user);
	if (nagare_failed_authentication_delay_ms > 0 && s->resp != NULL &&
		!nagare_conn_closing(s->conn))
		hold_on(s, &delayed, SASL_LIST_DELAYED, nagare_failed_authentication_delay_ms);
	else
		answer_failure(s, true);
}

/*
 * How long a SASL login made now lasts (KIP-368), ms: the smaller of
 * nagare.connections_max_reauth_ms and what is left of the role's VALID
 * UNTIL, as Kafka takes the smaller of connections.max.reauth.ms and the
 * credential's lifetime; 0 for ever.  A client certificate's login lasts
 * as long as its connection (Kafka re-authenticates SASL only).
 */
static int64
session_ms(const SaslConn *s, TimestampTz now)
{
	int64 ms = nagare_connections_max_reauth_ms;

	if (s->mech == SASL_MECH_NONE)
		return 0;
	if (s->valid_until != 0)
	{
		int64 left = Max((s->valid_until - now) / 1000, 1);

		ms = ms > 0 ? Min(ms, left) : left;
	}
	return ms;
}

/*
 * Authenticated as role (named s->user), by how: logged with
 * nagare.log_connections, as PostgreSQL's log_connections logs who a
 * connection is authorized as.  False if it was a new login (KIP-368) as
 * another user or with another mechanism than the connection's, which the
 * caller fails, as Kafka refuses to change principals on a connection.
 */
static bool
succeed(SaslConn *s, Oid role, const char *how)
{
	NagareIdentity *id = nagare_conn_identity(s->conn);
	TimestampTz now = GetCurrentTimestamp();

	if (s->reauth)
	{
		s->reauth = false;
		if (strcmp(s->user, s->reauth_user) != 0 || s->mech != s->reauth_mech)
			return false;
	}
	s->session_ms = session_ms(s, now);
	s->session_ends =
		s->session_ms > 0 ? TimestampTzPlusMilliseconds(now, s->session_ms) : 0;
	id->authenticated = true;
	id->role = role;
	id->superuser = s->superuser;
	snprintf(id->principal, sizeof(id->principal), "User:%s", s->user);
	s->phase = SASL_PHASE_DONE;
	if (nagare_log_connections)
		ereport(LOG,
				(errmsg("nagare broker: connection from %s authenticated by %s as %s%s",
						nagare_conn_peer(s->conn), how, id->principal,
						id->superuser ? " (a superuser)" : ""),
				 s->session_ms > 0
					 ? errdetail("The login lasts %lld ms.", (long long) s->session_ms)
					 : 0));
	return true;
}

/* Let the connection's frames through again */
static void
release(SaslConn *s)
{
	if (s->held)
	{
		s->held = false;
		nagare_conn_release(s->conn);
	}
}

/*---- SCRAM in the broker: HMAC and SHA-256 only ----*/

/* base64 of len bytes, palloc'd in cxt and NUL-terminated; NULL on failure */
static char *
b64(MemoryContext cxt, const void *p, int len)
{
	int			cap = pg_b64_enc_len(len);
	char	   *out = MemoryContextAlloc(cxt, cap + 1);
	int			n = pg_b64_encode((const char *) p, len, out, cap);

	if (n < 0)
	{
		pfree(out);
		return NULL;
	}
	out[n] = '\0';
	return out;
}

/*
 * HMAC-SHA-256 of the AuthMessage pieces under key.  pg_hmac registers with
 * CurrentResourceOwner in OpenSSL builds, and the broker runs outside any
 * transaction: it gets an owner of its own for this.
 */
static bool
hmac_auth_message(const uint8 *key, const char *const *parts, const int *lens, int nparts,
				  uint8 *out)
{
	ResourceOwner save = CurrentResourceOwner;
	pg_hmac_ctx *ctx;
	bool		ok = true;
	int			i;

	if (sasl_owner == NULL)
		sasl_owner = ResourceOwnerCreate(NULL, "nagare SASL");
	CurrentResourceOwner = sasl_owner;
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL || pg_hmac_init(ctx, key, SCRAM_KEY_LEN) < 0)
		ok = false;
	for (i = 0; ok && i < nparts; i++)
		if (pg_hmac_update(ctx, (const uint8 *) parts[i], lens[i]) < 0)
			ok = false;
	if (ok && pg_hmac_final(ctx, out, SCRAM_KEY_LEN) < 0)
		ok = false;
	if (ctx != NULL)
		pg_hmac_free(ctx);
	CurrentResourceOwner = save;
	return ok;
}

static bool
sha256(const uint8 *in, int len, uint8 *out)
{
	ResourceOwner save = CurrentResourceOwner;
	const char *errstr = NULL;
	int			r;

	if (sasl_owner == NULL)
		sasl_owner = ResourceOwnerCreate(NULL, "nagare SASL");
	CurrentResourceOwner = sasl_owner;
	r = scram_H(in, len, out, &errstr);
	CurrentResourceOwner = save;
	return r >= 0;
}

/*
 * The client-final-message (RFC 5802 section 3): channel binding and
 * nonce as sent before, then the proof against StoredKey.  On success the
 * answer is the server-final-message "v=<ServerSignature>".  A doomed login
 * (mock verifier) does the same work and fails.
 */
static void
scram_final(SaslConn *s, const char *msg, size_t len)
{
	ScramClientFinal f;
	SaslSpan	cnonce;
	SaslSpan	snonce;
	uint8		proof[SCRAM_KEY_LEN + 4];
	uint8		signature[SCRAM_KEY_LEN];
	uint8		client_key[SCRAM_KEY_LEN];
	uint8		stored[SCRAM_KEY_LEN];
	const char *parts[5];
	int			lens[5];
	bool		ok;
	int			i;
	char	   *server_final;
	char	   *v;

	if (nagare_sasl_parse_scram_client_final(msg, len, &f) != SASL_OK ||
		f.channel_binding.len != strlen(s->gs2_base64) ||
		memcmp(f.channel_binding.p, s->gs2_base64, f.channel_binding.len) != 0)
	{
		fail(s, true);
		return;
	}
	cnonce.p = s->client_nonce;
	cnonce.len = strlen(s->client_nonce);
	snonce.p = s->nonce;
	snonce.len = strlen(s->nonce);
	if (!nagare_sasl_scram_final_nonce_ok(f.nonce, cnonce, snonce) ||
		f.proof.len > (size_t) pg_b64_enc_len(SCRAM_KEY_LEN) ||
		pg_b64_dec_len(f.proof.len) > (int) sizeof(proof) ||
		pg_b64_decode(f.proof.p, f.proof.len, (char *) proof, sizeof(proof)) !=
			SCRAM_KEY_LEN)
	{
		fail(s, true);
		return;
	}

	/* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
	parts[0] = s->client_first_bare;
	lens[0] = strlen(s->client_first_bare);
	parts[1] = ",";
	lens[1] = 1;
	parts[2] = s->server_first;
	lens[2] = strlen(s->server_first);
	parts[3] = ",";
	lens[3] = 1;
	parts[4] = f.without_proof.p;
	lens[4] = f.without_proof.len;

	ok = hmac_auth_message(s->stored_key, parts, lens, 5, signature);
	for (i = 0; ok && i < SCRAM_KEY_LEN; i++)
		client_key[i] = proof[i] ^ signature[i];
	ok = ok && sha256(client_key, SCRAM_KEY_LEN, stored);
	ok = ok && timingsafe_bcmp(stored, s->stored_key, SCRAM_KEY_LEN) == 0;
	if (!ok || !OidIsValid(s->role))
	{
		fail(s, true);
		return;
	}

	if (!hmac_auth_message(s->server_key, parts, lens, 5, signature) ||
		(v = b64(CurrentMemoryContext, signature, SCRAM_KEY_LEN)) == NULL)
	{
		fail(s, false);
		return;
	}
	if (!succeed(s, s->role, "SASL/SCRAM-SHA-256"))
	{
		fail(s, true);
		pfree(v);
		return;
	}
	server_final = psprintf("v=%s", v);
	reply(s, KAFKA_ERROR_NONE, NULL, server_final, strlen(server_final));
	pfree(server_final);
	pfree(v);
}

/*---- the worker ----*/

/*
 * The role's facts that end the worker's answer (p: where they are, end:
 * the answer's end; shmem.h): whether it is a superuser, its VALID UNTIL
 */
static void
answer_facts(SaslConn *s, const uint8 *p, const uint8 *end)
{
	s->superuser = end - p >= 1 && *p != 0;
	s->valid_until = end - p >= 9 ? (TimestampTz) kafka_load_be64(p + 1) : 0;
}

/* The worker's answer to a login (channel callback) */
static void
worker_answered(void *arg, const char *sqlstate, const char *data, uint32 len)
{
	SaslConn   *s = arg;
	MemoryContext cxt = nagare_conn_context(s->conn);

	in_flight--;
	if (s->payload != NULL)
	{
		pfree(s->payload);
		s->payload = NULL;
	}
	if (nagare_conn_closing(s->conn))
	{
		s->phase = SASL_PHASE_FAILED;
		drop_response(s);
		pump();
		return;
	}
	if (sqlstate == NULL)
	{
		if (nagare_log_due(&server_log))
			ereport(LOG,
					(errmsg("nagare broker: the nagare worker did not check the credentials of %s in time; check that it runs (nagare.database)",
							nagare_conn_peer(s->conn))));
		fail(s, false);
	}
	else if (!nagare_channel_succeeded(sqlstate))
	{
		/* e.g. a user name that is not valid in the database's encoding */
		fail(s, true);
	}
	else if (s->kind == NAGARE_AUTH_ROLE_CHECK)
	{
		Oid			role = len >= 4 ? (Oid) kafka_load_be32((const uint8 *) data) : InvalidOid;

		answer_facts(s, (const uint8 *) data + Min(len, 4), (const uint8 *) data + len);
		if (!OidIsValid(role))
			fail(s, true);		/* closed a moment later */
		else
		{
			(void) succeed(s, role, "its client certificate");
			release(s);
		}
	}
	else if (s->kind == NAGARE_AUTH_PLAIN_VERIFY)
	{
		Oid			role = len >= 4 ? (Oid) kafka_load_be32((const uint8 *) data) : InvalidOid;

		answer_facts(s, (const uint8 *) data + Min(len, 4), (const uint8 *) data + len);
		if (!OidIsValid(role) || !succeed(s, role, "SASL/PLAIN"))
			fail(s, true);
		else
		{
			reply(s, KAFKA_ERROR_NONE, NULL, "", 0);
			release(s);
		}
	}
	else
	{
		/* role, iterations, salt (base64), StoredKey, ServerKey */
		const uint8 *p = (const uint8 *) data;
		const uint8 *end = p + len;
		int32		iterations;
		uint16		n;
		char	   *salt;
		uint8		random[SASL_SERVER_NONCE_LEN];
		char	   *snonce;
		char	   *server_first;

		if (len < 8 + 2)
		{
			fail(s, false);
			pump();
			return;
		}
		s->role = (Oid) kafka_load_be32(p);
		iterations = (int32) kafka_load_be32(p + 4);
		p += 8;
		n = kafka_load_be16(p);
		p += 2;
		if (end - p < n + 2 + SCRAM_KEY_LEN + 2 + SCRAM_KEY_LEN ||
			kafka_load_be16(p + n) != SCRAM_KEY_LEN ||
			kafka_load_be16(p + n + 2 + SCRAM_KEY_LEN) != SCRAM_KEY_LEN ||
			!pg_strong_random(random, sizeof(random)))
		{
			fail(s, false);
			pump();
			return;
		}
		salt = pnstrdup((const char *) p, n);
		memcpy(s->stored_key, p + n + 2, SCRAM_KEY_LEN);
		memcpy(s->server_key, p + n + 2 + SCRAM_KEY_LEN + 2, SCRAM_KEY_LEN);
		answer_facts(s, p + n + 4 + 2 * SCRAM_KEY_LEN, end);
		snonce = b64(CurrentMemoryContext, random, sizeof(random));
		if (snonce == NULL)
		{
			fail(s, false);
			pump();
			return;
		}
		s->nonce = MemoryContextAlloc(cxt, strlen(s->client_nonce) + strlen(snonce) + 1);
		strcpy(s->nonce, s->client_nonce);
		strcat(s->nonce, snonce);
		server_first = psprintf("r=%s,s=%s,i=%d", s->nonce, salt, iterations);
		s->server_first = MemoryContextStrdup(cxt, server_first);
		pfree(server_first);
		pfree(snonce);
		pfree(salt);
		s->phase = SASL_PHASE_SCRAM_FINAL;
		reply(s, KAFKA_ERROR_NONE, NULL, s->server_first, strlen(s->server_first));
		release(s);
	}
	pump();
}

/* Hand waiting logins to the worker while there is room */
static void
pump(void)
{
	while (in_flight < SASL_MAX_IN_FLIGHT && !dlist_is_empty(&waiting))
	{
		SaslConn   *s = dlist_container(SaslConn, node, dlist_head_node(&waiting));

		if (nagare_conn_closing(s->conn))
		{
			unlist(s);
			s->phase = SASL_PHASE_FAILED;
			drop_response(s);
			continue;
		}
		if (!nagare_channel_submit(s->kind, s->payload, s->payload_len,
								   TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
															   nagare_request_timeout_ms),
								   worker_answered, s))
			break;				/* the channel is full: next turn */
		/* the password has been copied into the channel */
		memset(s->payload, 0, s->payload_len);
		unlist(s);
		in_flight++;
	}
}

/* Queue a login for the worker; the connection waits for its answer */
static void
to_worker(SaslConn *s, NagareChannelKind kind, const char *password, size_t password_len)
{
	StringInfoData json;
	MemoryContext old = MemoryContextSwitchTo(nagare_conn_context(s->conn));

	initStringInfo(&json);
	appendStringInfoString(&json, "{\"u\":");
	escape_json(&json, s->user);
	if (password != NULL)
	{
		char	   *p = pnstrdup(password, password_len);

		appendStringInfoString(&json, ",\"p\":");
		escape_json(&json, p);
		memset(p, 0, password_len);
		pfree(p);
	}
	appendStringInfoChar(&json, '}');
	MemoryContextSwitchTo(old);

	s->kind = kind;
	s->payload = json.data;
	s->payload_len = json.len;
	s->phase = SASL_PHASE_WORKER;
	if (!s->held)
	{
		nagare_conn_hold(s->conn);
		s->held = true;
	}
	s->deadline =
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(), nagare_request_timeout_ms);
	dlist_push_tail(&waiting, &s->node);
	s->list = SASL_LIST_WAITING;
	pump();
}

/*
 * One SASL token from the client (AuthBytes, or a raw frame), whose answer
 * goes to s->resp.
 */
static void
token(SaslConn *s, const char *msg, size_t len)
{
	MemoryContext cxt = nagare_conn_context(s->conn);

	if (s->phase == SASL_PHASE_SCRAM_FINAL)
	{
		scram_final(s, msg, len);
		return;
	}
	Assert(s->phase == SASL_PHASE_TOKEN);
	if (s->mech == SASL_MECH_PLAIN)
	{
		SaslPlain	plain;

		if (nagare_sasl_parse_plain(msg, len, &plain) != SASL_OK)
		{
			strlcpy(s->user, plain.user, sizeof(s->user));
			fail(s, true);
			return;
		}
		strlcpy(s->user, plain.user, sizeof(s->user));
		to_worker(s, NAGARE_AUTH_PLAIN_VERIFY, plain.password.p, plain.password.len);
	}
	else
	{
		ScramClientFirst first;

		if (nagare_sasl_parse_scram_client_first(msg, len, &first) != SASL_OK)
		{
			strlcpy(s->user, first.user, sizeof(s->user));
			fail(s, true);
			return;
		}
		strlcpy(s->user, first.user, sizeof(s->user));
		s->client_first_bare = MemoryContextAlloc(cxt, first.bare.len + 1);
		memcpy(s->client_first_bare, first.bare.p, first.bare.len);
		s->client_first_bare[first.bare.len] = '\0';
		s->client_nonce = MemoryContextAlloc(cxt, first.nonce.len + 1);
		memcpy(s->client_nonce, first.nonce.p, first.nonce.len);
		s->client_nonce[first.nonce.len] = '\0';
		s->gs2_base64 = b64(cxt, first.gs2_header.p, first.gs2_header.len);
		if (s->gs2_base64 == NULL)
		{
			fail(s, false);
			return;
		}
		to_worker(s, NAGARE_AUTH_SCRAM_LOOKUP, NULL, 0);
	}
}

/*---- client certificates ----*/

void
nagare_auth_certificate(NagareConn *conn, const char *role)
{
	SaslConn   *s = conn_state(conn);

	if (strlen(role) > SASL_MAX_USER)
	{
		fail(s, true);
		return;
	}
	strlcpy(s->user, role, sizeof(s->user));
	to_worker(s, NAGARE_AUTH_ROLE_CHECK, NULL, 0);
}

/*---- the frame gate, the handlers ----*/

bool
nagare_sasl_frame(NagareConn *conn, const uint8 *frame, size_t len)
{
	SaslConn   *s = sasl_state(conn);
	int16		api_key;

	if (s == NULL)
		return false;
	if (s->phase == SASL_PHASE_DONE)
	{
		/*
		 * A login that ended (KIP-368): a SaslHandshake begins a new one
		 * (its handler); anything else closes the connection unanswered,
		 * as Kafka closes an expired session's at its next request.
		 */
		if (s->session_ends == 0 || GetCurrentTimestamp() < s->session_ends ||
			(!s->raw && len >= 2 &&
			 (int16) kafka_load_be16(frame) == KAFKA_API_SASL_HANDSHAKE))
			return false;
		if (nagare_log_connections)
			ereport(LOG,
					(errmsg("nagare broker: closing connection from %s: the login of %s ended %lld ms after it began, and the client did not log in again",
							nagare_conn_peer(conn), nagare_conn_identity(conn)->principal,
							(long long) s->session_ms)));
		nagare_conn_close(conn, NULL);
		return true;
	}
	if (s->phase == SASL_PHASE_FAILED || s->phase == SASL_PHASE_WORKER)
	{
		/* held: no frame comes here (defensive) */
		nagare_conn_close(conn, NULL);
		return true;
	}
	if (s->raw)
	{
		s->resp = nagare_conn_new_response(conn);
		token(s, (const char *) frame, len);
		return true;
	}
	if (len < 2)
		return false;			/* kafka_api.c refuses the header */
	api_key = (int16) kafka_load_be16(frame);
	if (api_key == KAFKA_API_API_VERSIONS || api_key == KAFKA_API_SASL_HANDSHAKE ||
		api_key == KAFKA_API_SASL_AUTHENTICATE)
		return false;
	/* Kafka's IllegalSaslStateException: no answer, the connection closes */
	count_failure(conn, NULL);
	ereport(DEBUG1,
			(errmsg("nagare broker: closing connection from %s: %s before SASL authentication (ILLEGAL_SASL_STATE)",
					nagare_conn_peer(conn), kafka_api_name(api_key))));
	nagare_conn_close(conn, NULL);
	s->phase = SASL_PHASE_FAILED;
	return true;
}

/* Free what a SCRAM exchange kept (before a new login on the connection) */
static void
forget_scram(SaslConn *s)
{
	char **fields[] = {&s->client_first_bare, &s->server_first, &s->gs2_base64,
					   &s->client_nonce, &s->nonce};

	for (int i = 0; i < lengthof(fields); i++)
	{
		if (*fields[i] != NULL)
			pfree(*fields[i]);
		*fields[i] = NULL;
	}
}

/*
 * SaslHandshake: the mechanism, and how its tokens come (v0: raw frames,
 * v1: SaslAuthenticate).  Not on a SASL listener: ILLEGAL_SASL_STATE, as
 * Kafka.  Once authenticated, a SaslHandshake v1 begins a new login
 * (KIP-368) if the login has a lifetime (nagare.connections_max_reauth_ms,
 * or the role's VALID UNTIL), of the same user with the same mechanism;
 * meanwhile the connection keeps its identity.  Otherwise
 * ILLEGAL_SASL_STATE.
 */
void
nagare_handle_sasl_handshake(NagareConn *conn, const KafkaRequestHeader *hdr,
							 KafkaRequestBody *body)
{
	KafkaSaslHandshakeRequest *req = &body->SaslHandshake;
	SaslConn   *s = sasl_state(conn);
	KafkaSaslHandshakeResponse resp;
	KafkaStr	mechanisms[2];

	mechanisms[0] = kafka_str("PLAIN");
	mechanisms[1] = kafka_str("SCRAM-SHA-256");
	memset(&resp, 0, sizeof(resp));
	resp.Mechanisms = mechanisms;
	resp.MechanismsCount = lengthof(mechanisms);

	if (s != NULL && s->phase == SASL_PHASE_DONE && s->session_ends != 0 && !s->raw &&
		hdr->RequestApiVersion >= 1)
	{
		s->reauth = true;
		s->reauth_mech = s->mech;
		strlcpy(s->reauth_user, s->user, sizeof(s->reauth_user));
		forget_scram(s);
		s->phase = SASL_PHASE_HANDSHAKE;
	}
	if (s == NULL || s->phase != SASL_PHASE_HANDSHAKE)
	{
		resp.ErrorCode = KAFKA_ERROR_ILLEGAL_SASL_STATE;
		nagare_kafka_respond(conn, hdr, &resp);
		if (s != NULL && s->phase != SASL_PHASE_DONE)
		{
			count_failure(conn, NULL);
			fail(s, false);
		}
		return;
	}
	if (req->Mechanism.len == 5 && memcmp(req->Mechanism.ptr, "PLAIN", 5) == 0)
		s->mech = SASL_MECH_PLAIN;
	else if (req->Mechanism.len == 13 &&
			 memcmp(req->Mechanism.ptr, "SCRAM-SHA-256", 13) == 0)
		s->mech = SASL_MECH_SCRAM_SHA_256;
	else
		s->mech = SASL_MECH_NONE;
	if (s->mech == SASL_MECH_NONE || (s->reauth && s->mech != s->reauth_mech))
	{
		resp.ErrorCode = KAFKA_ERROR_UNSUPPORTED_SASL_MECHANISM;
		nagare_kafka_respond(conn, hdr, &resp);
		count_failure(conn, NULL);
		fail(s, false);
		return;
	}
	s->raw = (hdr->RequestApiVersion == 0);
	s->phase = SASL_PHASE_TOKEN;
	nagare_kafka_respond(conn, hdr, &resp);
}

/*
 * SaslAuthenticate: one token of the mechanism chosen by SaslHandshake v1.
 */
void
nagare_handle_sasl_authenticate(NagareConn *conn, const KafkaRequestHeader *hdr,
								KafkaRequestBody *body)
{
	KafkaSaslAuthenticateRequest *req = &body->SaslAuthenticate;
	SaslConn   *s = sasl_state(conn);

	if (s == NULL || s->raw ||
		(s->phase != SASL_PHASE_TOKEN && s->phase != SASL_PHASE_SCRAM_FINAL))
	{
		KafkaSaslAuthenticateResponse resp;

		memset(&resp, 0, sizeof(resp));
		resp.ErrorCode = KAFKA_ERROR_ILLEGAL_SASL_STATE;
		resp.ErrorMessage = kafka_str(
			s != NULL && s->phase == SASL_PHASE_DONE
				? "SaslAuthenticate request received after successful authentication"
				: "Unexpected SaslAuthenticate request");
		resp.AuthBytes.ptr = (const uint8 *) "";
		nagare_kafka_respond(conn, hdr, &resp);
		if (s != NULL && s->phase != SASL_PHASE_DONE)
		{
			count_failure(conn, NULL);
			fail(s, false);
		}
		return;
	}
	s->resp = nagare_conn_new_response(conn);
	s->id = nagare_request_id(hdr);
	token(s, (const char *) req->AuthBytes.ptr,
		  req->AuthBytes.len < 0 ? 0 : req->AuthBytes.len);
}

/*---- the loop ----*/

void
nagare_sasl_turn(TimestampTz now)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &waiting)
	{
		SaslConn   *s = dlist_container(SaslConn, node, iter.cur);

		if (now < s->deadline && !nagare_conn_closing(s->conn))
			continue;
		unlist(s);
		if (nagare_conn_closing(s->conn))
		{
			s->phase = SASL_PHASE_FAILED;
			drop_response(s);
			continue;
		}
		if (nagare_log_due(&server_log))
			ereport(LOG,
					(errmsg("nagare broker: too many SASL logins are waiting for the nagare worker; refusing the one from %s",
							nagare_conn_peer(s->conn))));
		fail(s, false);
	}
	pump();

	/* not in deadline order when the setting changed: look at each */
	dlist_foreach_modify (iter, &delayed)
	{
		SaslConn *s = dlist_container(SaslConn, node, iter.cur);

		if (now < s->deadline && !nagare_conn_closing(s->conn))
			continue;
		unlist(s);
		if (nagare_conn_closing(s->conn))
			drop_response(s);
		else
			answer_failure(s, true);
	}

	dlist_foreach_modify(iter, &failed)
	{
		SaslConn   *s = dlist_container(SaslConn, node, iter.cur);

		if (now < s->deadline)
			break;				/* in deadline order */
		unlist(s);
		nagare_conn_close(s->conn, NULL);
	}
	log_failures(now, false);
}

bool
nagare_sasl_busy(void)
{
	return in_flight > 0 || !dlist_is_empty(&waiting) || !dlist_is_empty(&delayed) ||
		   !dlist_is_empty(&failed) || unlogged_failures > 0;
}
