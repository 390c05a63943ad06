/*-------------------------------------------------------------------------
 *
 * workerops.h
 *	  What the http process asks the nagare worker (workerops.c): logins
 *	  of HTTP clients as PostgreSQL roles (Basic credentials checked against
 *	  pg_authid, remembered for a minute), whether a role may beat an
 *	  instance (remembered for ten seconds), and the registry's writes.
 *
 * Every call returns at once.  One that had to ask the worker says
 * WEB_WAIT: the handler parks its request (web.h's WebResponse) and is
 * called again after the answer came (the answer sets the process's latch).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_WEB_WORKEROPS_H
#define NAGARE_WEB_WORKEROPS_H

#include "datatype/timestamp.h"

#include "http/http.h"
#include "shmem.h"

/* Who an HTTP request is from */
typedef struct WebIdentity
{
	bool anonymous; /* no Kafka listener authenticates: no login */
	char role[NAMEDATALEN];
	bool superuser;
} WebIdentity;

typedef enum WebWait
{
	WEB_READY = 0, /* done: the answer is there */
	WEB_WAIT, /* asked the worker: park, call again */
	WEB_REFUSED, /* no identity or no permission */
	WEB_BUSY /* too much in flight, or no answer in time */
} WebWait;

/* How long a login and a beat permission are remembered */
#define WEB_LOGIN_CACHE_MS   60000
#define WEB_BEAT_CACHE_MS    10000
/* Logins the worker may have at once (more get 503) */
#define WEB_LOGINS_IN_FLIGHT 4

/*
 * Who sent req: anonymous when no Kafka listener authenticates; else the
 * role of its Basic credentials.  WEB_REFUSED: none, malformed or wrong
 * (answer 401 with nagare_web_challenge()); WEB_BUSY: answer 503.
 */
extern WebWait nagare_web_login(const HttpRequest *req, WebIdentity *who);
/*
 * The same for a role and password given otherwise (the console's login
 * form): checked and remembered as Basic credentials are
 */
extern WebWait nagare_web_login_pair(const char *user, size_t user_len,
									 const char *password, size_t password_len,
									 WebIdentity *who);

/* The WWW-Authenticate field of a 401: name, value */
extern const char *const nagare_web_challenge[2];

/*
 * May who beat (pass, warn, fail) the instance id?  WEB_READY: yes;
 * WEB_REFUSED: no, and *status and *message say why (403 or 404).
 */
extern WebWait nagare_web_may_beat(const WebIdentity *who, const char *id, int *status,
								   const char **message);

/*
 * A request to the worker on the http process's channel, and its answer.
 * nagare_web_ask() returns NULL when the channel has no room (503).
 */
typedef struct WebOp WebOp;

extern WebOp *nagare_web_ask(NagareChannelKind kind, const char *payload, uint32 len);
/*
 * Has the answer come?  Then *status is the HTTP status it means (200, or
 * from the SQLSTATE: nagare_web_status_of()) and *message its error text
 * (NULL on success); the op is freed by this call.
 */
extern bool nagare_web_op_done(WebOp *op, int *status, const char **message);

/* The HTTP status of a worker's SQLSTATE (NULL: no answer in time, 503) */
extern int nagare_web_status_of(const char *sqlstate);

/*
 * Append the identity and the client for the audit trail to a JSON request
 * being built: ,"as": role (absent when anonymous), ,"k": {"principal",
 * "host", "client_id"} as a JSON string
 */
extern void nagare_web_append_who(StringInfo json, const WebIdentity *who,
								  const char *peer, const char *agent);

/* Each loop turn: free what nobody picked up */
extern void nagare_web_ops_turn(TimestampTz now);

#endif /* NAGARE_WEB_WORKEROPS_H */
