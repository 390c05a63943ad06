/*-------------------------------------------------------------------------
 *
 * net.h
 *	  Kafka client connections of the broker: listeners, framing, responses.
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#ifndef NAGARE_NET_H
#define NAGARE_NET_H

#include <sys/socket.h>
#include <sys/uio.h>

#include "lib/ilist.h"
#include "portability/instr_time.h"
#include "utils/timestamp.h"

typedef struct NagareConn NagareConn;

/* What throttle.c keeps per connection (defined there) */
typedef struct NagareConnQuota NagareConnQuota;

/* Kafka's security protocols; each listener has one */
typedef enum NagareSecurityProtocol
{
	NAGARE_SEC_PLAINTEXT,
	NAGARE_SEC_SSL,
	NAGARE_SEC_SASL_PLAINTEXT,
	NAGARE_SEC_SASL_SSL
} NagareSecurityProtocol;

/*
 * "User:" and a name: a role name, or what nagare.ssl_principal_mapping_rules
 * made of a certificate's subject (by default the whole subject)
 */
#define NAGARE_PRINCIPAL_MAX	(5 + 256)

/* a listener's name in nagare.listeners, NUL included */
#define NAGARE_LISTENER_NAME_MAX	64

/*
 * Who the client of a connection is, in Kafka's terms.  A connection starts
 * as User:ANONYMOUS.  On a SASL_* listener it is not authenticated until
 * SASL succeeds, and only ApiVersions, SaslHandshake and SaslAuthenticate
 * are served before; elsewhere it is authenticated from the start (as
 * ANONYMOUS, or as the principal of its client certificate).  Only the
 * authentication code writes it.
 */
typedef struct NagareIdentity
{
	bool		authenticated;
	Oid			role;			/* the PostgreSQL role, or InvalidOid */
	bool		superuser;		/* role was a superuser at login: a Kafka super user */
	char		principal[NAGARE_PRINCIPAL_MAX];	/* "User:<role>", "User:ANONYMOUS" */
} NagareIdentity;

/*
 * A response, in the order of its request on the connection.  A handler
 * that cannot answer at once (a Produce waiting for its fsync, a Fetch
 * parked for data) keeps the response not ready; responses are sent in
 * request order, so a later ready one waits for it.
 */
typedef struct NagareResponse
{
	dlist_node	node;
	NagareConn *conn;
	bool		ready;
	/* the frame, size prefix included, in pieces (iov points at one) */
	struct iovec *iov;
	int			niov;
	struct iovec one;
	/* memory freed once the response is sent (all in the conn's context) */
	void	  **owned;
	int			nowned;
	void	   *owned_one;
	/* throttle.c: the largest throttle imposed for this request so far, ms */
	int32		throttle_ms;
	/*
	 * When the frame being handled as the response was made was handed on
	 * (its latency in /metrics); zero while nagare.metrics_api is off.
	 */
	instr_time received;
} NagareResponse;

/*
 * What the protocol layer does with each request frame (without its size
 * prefix), called in the order the frames arrive on conn.  It may close the
 * connection or hold it (nagare_conn_hold) to stop further frames.
 */
typedef void (*NagareFrameHandler) (NagareConn *conn, const uint8 *frame, size_t len);

extern void nagare_net_init(NagareFrameHandler on_frame);
extern bool nagare_net_security_authenticates(NagareSecurityProtocol sec);
extern int nagare_net_configured_authenticating_listeners(void);
/* the HTTP and DNS servers' addresses: the wall's test, and log text */
extern bool nagare_net_is_loopback(const struct sockaddr *sa);
extern void nagare_net_addr_text(const struct sockaddr *sa, socklen_t len, char *out,
								 size_t cap);
extern void nagare_net_shutdown(void);
extern void nagare_net_timers(TimestampTz now);
extern void nagare_net_reap_closed(void);
extern int	nagare_net_connections(void);
extern bool nagare_net_log_due(void);
extern int nagare_net_log_skipped_detail(void);

/* for request handlers (kafka_api.c) */
extern const char *nagare_conn_peer(NagareConn *conn);
extern MemoryContext nagare_conn_context(NagareConn *conn);
extern NagareResponse *nagare_conn_new_response(NagareConn *conn);
extern void nagare_conn_response_ready(NagareResponse *resp, char *data, size_t len);
extern void nagare_conn_response_ready_iov(NagareResponse *resp, struct iovec *iov, int niov,
										   void **owned, int nowned);
extern void nagare_conn_response_drop(NagareResponse *resp);
extern bool nagare_conn_closing(NagareConn *conn);
extern void nagare_conn_hold(NagareConn *conn);
extern void nagare_conn_pin(NagareConn *conn);
extern void nagare_conn_unpin(NagareConn *conn);
extern void nagare_conn_release(NagareConn *conn);
extern bool nagare_conn_local_address(NagareConn *conn, char *host, size_t hostlen);
extern void nagare_conn_close(NagareConn *conn, const char *reason);
extern NagareSecurityProtocol nagare_conn_security(NagareConn *conn);
extern const char *nagare_security_protocol_name(NagareSecurityProtocol sec);
extern const char *nagare_conn_listener(NagareConn *conn);
extern void nagare_conn_advertised_address(NagareConn *conn, char *host, size_t hostlen,
										   int32 *port);
extern NagareIdentity *nagare_conn_identity(NagareConn *conn);
extern uint64 nagare_conn_id(NagareConn *conn);
extern TimestampTz nagare_conn_since(NagareConn *conn);
extern int	nagare_conn_in_flight(NagareConn *conn);
extern TimestampTz nagare_conn_muted_until(NagareConn *conn);
extern struct NagareMeterConn *nagare_conn_meter(NagareConn *conn);

/* throttling (KIP-219), for throttle.c and the loop */
extern void nagare_conn_mute(NagareConn *conn, TimestampTz until);
extern NagareConnQuota **nagare_conn_quota(NagareConn *conn);
extern void nagare_net_unmute(TimestampTz now);
extern TimestampTz nagare_net_next_due(void);

#endif							/* NAGARE_NET_H */
