/*-------------------------------------------------------------------------
 *
 * net.c
 *	  Kafka client connections of the broker: listeners, framing, responses.
 *
 * Everything here runs in the broker's loop through aio/aio.c: accepts, receives
 * and sends are io_uring operations (or, with the plain I/O method,
 * non-blocking calls driven by epoll), and their completions call back into
 * this file.  Nothing blocks.
 *
 * A connection receives into a buffer, cuts it into frames (a 4-byte
 * big-endian size, then the request) and hands each complete frame to the
 * protocol layer, in order: the frame handler given to nagare_net_init()
 * (kafka_api.c's nagare_kafka_request, wired by broker.c).  This file is
 * the transport (framing, limits, the send queue) and knows nothing of the
 * messages inside the frames.  Responses are queued in request order and
 * sent as one sendmsg of every ready response at the head of the queue; a
 * response that is not ready yet holds back the ones behind it, as Kafka
 * requires.  While many responses are waiting, the connection stops reading
 * (Kafka "mutes" such a channel), so a client cannot pile up work.
 *
 * Limits, each with one LOG line when it bites: nagare.max_request_size
 * (a frame larger than that, or smaller than a request header, closes the
 * connection), nagare.max_connections (further connections are accepted and
 * closed at once), nagare.connections_max_idle (idle connections are
 * closed).  A bad client only ever loses its own connection.
 *
 * Closing: the socket is shut down, which completes any receive in flight,
 * and the connection moves to a list of closing ones.  Each loop turn frees
 * those with no operation in flight (never from inside a callback, which may
 * run with the connection still on the caller's stack).
 *
 * Copyright (c) 2026, the nagare authors
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "aio/aio.h"
#include "broker/net.h"
#include "kafka/byteorder.h"
#include "nagare.h"

#define MAX_LISTENERS			8
#define RECV_BUFFER_INITIAL		(64 * 1024)
#define MAX_PENDING_RESPONSES	64
/* smallest request: api key, api version, correlation id, client id length */
#define MIN_REQUEST_SIZE		10

struct NagareConn
{
	dlist_node	node;			/* in conns */
	uint64		id;
	int			fd;
	char		peer[64];
	MemoryContext cxt;
	char	   *rbuf;			/* received bytes not yet handled */
	size_t		rlen;
	size_t		rcap;
	char		local[64];		/* our address the client connected to */
	bool		recv_inflight;
	bool		send_inflight;
	bool		closing;
	int			holds;			/* nagare_conn_hold() without release */
	int			pins;			/* nagare_conn_pin() without unpin */
	int			npending;		/* responses queued, sent or not */
	int			ndeferred;		/* responses not ready yet */
	dlist_head	responses;
	int			head_piece;		/* next piece of the first response to send */
	int			nsending;		/* pieces in the sendmsg in flight */
	TimestampTz last_active;
	NagareSecurityProtocol security;	/* the listener's */
	NagareIdentity identity;
};

typedef struct Listener
{
	int			fd;
	bool		accept_inflight;
	char		addr[64];
} Listener;

static Listener listeners[MAX_LISTENERS];
static int	nlisteners = 0;
static dlist_head conns = DLIST_STATIC_INIT(conns);
static dlist_head closing_conns = DLIST_STATIC_INIT(closing_conns);
static int	nconns = 0;
static uint64 next_conn_id = 1;
static MemoryContext net_context = NULL;
static NagareFrameHandler frame_handler = NULL;
static TimestampTz last_limit_log = 0;
static bool shutting_down = false;

static void start_accept(Listener *l);
static void accept_done(void *arg, int64 result);
static void start_recv(NagareConn *c);
static void recv_done(void *arg, int64 result);
static void start_send(NagareConn *c);
static void send_done(void *arg, int64 result);
static void free_sent(NagareConn *c);
static void handle_frames(NagareConn *c);

/*
 * Open the listeners named by nagare.listen_addresses on nagare.port; every
 * complete request frame of their connections goes to on_frame.  An empty
 * list disables the Kafka listener.
 */
void
nagare_net_init(NagareFrameHandler on_frame)
{
	char	   *list;
	char	   *tok;
	char	   *save;
	char		port[16];

	frame_handler = on_frame;
	net_context = AllocSetContextCreate(TopMemoryContext, "nagare connections",
										ALLOCSET_DEFAULT_SIZES);
	if (nagare_listen_addresses == NULL || nagare_listen_addresses[0] == '\0')
	{
		ereport(LOG, (errmsg("nagare broker: Kafka listener disabled (nagare.listen_addresses is empty)")));
		return;
	}
	snprintf(port, sizeof(port), "%d", nagare_port);
	list = pstrdup(nagare_listen_addresses);
	for (tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
	{
		struct addrinfo hints;
		struct addrinfo *res;
		struct addrinfo *ai;
		int			rc;

		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE;
		rc = getaddrinfo(strcmp(tok, "*") == 0 ? NULL : tok, port, &hints, &res);
		if (rc != 0)
		{
			ereport(LOG,
					(errmsg("nagare broker: could not resolve \"%s\": %s", tok, gai_strerror(rc))));
			continue;
		}
		for (ai = res; ai && nlisteners < MAX_LISTENERS; ai = ai->ai_next)
		{
			int			fd;
			int			one = 1;
			char		host[NI_MAXHOST];

			getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
			fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (fd < 0)
				continue;
			(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (ai->ai_family == AF_INET6)
				(void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
			if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0)
			{
				ereport(LOG,
						(errmsg("nagare broker: could not listen on %s port %d: %m", host, nagare_port)));
				close(fd);
				continue;
			}
			listeners[nlisteners].fd = fd;
			listeners[nlisteners].accept_inflight = false;
			snprintf(listeners[nlisteners].addr, sizeof(listeners[nlisteners].addr), "%s", host);
			ereport(LOG,
					(errmsg("nagare broker: listening for Kafka clients on %s port %d", host, nagare_port)));
			start_accept(&listeners[nlisteners]);
			nlisteners++;
		}
		freeaddrinfo(res);
	}
	if (nlisteners == 0)
		ereport(WARNING,
				(errmsg("nagare broker: could not listen for Kafka clients on any of \"%s\" port %d",
						nagare_listen_addresses, nagare_port),
				 errhint("Check nagare.listen_addresses and nagare.port, and that no other process uses the port; SQL producers and consumers work without the listener.")));
}

/* Close listeners and connections (the broker is exiting) */
void
nagare_net_shutdown(void)
{
	dlist_mutable_iter iter;
	int			i;

	/*
	 * shutdown() ends an accept in flight on a listening socket (close()
	 * would leave it pending in io_uring); the descriptors are closed when
	 * the process exits.
	 */
	shutting_down = true;
	for (i = 0; i < nlisteners; i++)
		(void) shutdown(listeners[i].fd, SHUT_RDWR);
	nlisteners = 0;
	dlist_foreach_modify(iter, &conns)
	{
		NagareConn *c = dlist_container(NagareConn, node, iter.cur);

		nagare_conn_close(c, NULL);
	}
}

int
nagare_net_connections(void)
{
	return nconns;
}

static void
start_accept(Listener *l)
{
	if (l->accept_inflight || shutting_down)
		return;
	l->accept_inflight = true;
	nagare_aio_accept(l->fd, accept_done, l);
}

/* Rate-limit the LOG lines of limits, so a storm does not flood the log */
static bool
limit_log_due(void)
{
	TimestampTz now = GetCurrentTimestamp();

	if (TimestampDifferenceExceeds(last_limit_log, now, 10000))
	{
		last_limit_log = now;
		return true;
	}
	return false;
}

static void
accept_done(void *arg, int64 result)
{
	Listener   *l = arg;
	int			fd = (int) result;
	NagareConn *c;
	MemoryContext cxt;
	struct sockaddr_storage ss;
	socklen_t	sslen = sizeof(ss);
	char		host[NI_MAXHOST];
	char		serv[NI_MAXSERV];
	int			one = 1;

	l->accept_inflight = false;
	if (result >= 0 && shutting_down)
	{
		close((int) result);
		return;
	}
	if (result < 0)
	{
		errno = (int) -result;
		if (shutting_down)
			return;
		if (limit_log_due())
			ereport(LOG,
					(errmsg("nagare broker: could not accept a Kafka connection on %s: %m", l->addr)));
		/*
		 * Out of descriptors or memory: try again at the next timer tick.
		 * A connection that went away before it was accepted: at once.
		 */
		if (errno == ECONNABORTED || errno == EINTR || errno == EAGAIN)
			start_accept(l);
		return;
	}
	start_accept(l);

	if (nconns >= nagare_max_connections)
	{
		if (limit_log_due())
			ereport(LOG,
					(errmsg("nagare broker: refusing Kafka connection: nagare.max_connections (%d) reached",
							nagare_max_connections)));
		close(fd);
		return;
	}

	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	cxt = AllocSetContextCreate(net_context, "nagare connection", ALLOCSET_SMALL_SIZES);
	c = MemoryContextAllocZero(cxt, sizeof(NagareConn));
	c->cxt = cxt;
	c->id = next_conn_id++;
	c->security = NAGARE_SEC_PLAINTEXT;
	c->identity.authenticated = true;
	c->identity.role = InvalidOid;
	strlcpy(c->identity.principal, "User:ANONYMOUS", sizeof(c->identity.principal));
	c->fd = fd;
	if (getpeername(fd, (struct sockaddr *) &ss, &sslen) == 0 &&
		getnameinfo((struct sockaddr *) &ss, sslen, host, sizeof(host), serv, sizeof(serv),
					NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(c->peer, sizeof(c->peer), "%s:%s", host, serv);
	else
		snprintf(c->peer, sizeof(c->peer), "connection %llu", (unsigned long long) c->id);
	sslen = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *) &ss, &sslen) == 0 &&
		getnameinfo((struct sockaddr *) &ss, sslen, host, sizeof(host), NULL, 0,
					NI_NUMERICHOST) == 0)
		snprintf(c->local, sizeof(c->local), "%s", host);
	c->rcap = RECV_BUFFER_INITIAL;
	c->rbuf = MemoryContextAlloc(cxt, c->rcap);
	dlist_init(&c->responses);
	c->last_active = GetCurrentTimestamp();
	dlist_push_tail(&conns, &c->node);
	nconns++;
	start_recv(c);
}

const char *
nagare_conn_peer(NagareConn *conn)
{
	return conn->peer;
}

MemoryContext
nagare_conn_context(NagareConn *conn)
{
	return conn->cxt;
}

static void
start_recv(NagareConn *c)
{
	if (c->recv_inflight || c->closing || c->npending >= MAX_PENDING_RESPONSES)
		return;
	if (c->rlen == c->rcap)
		return;					/* handle_frames grows the buffer when a frame needs it */
	c->recv_inflight = true;
	nagare_aio_recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, recv_done, c);
}

static void
recv_done(void *arg, int64 result)
{
	NagareConn *c = arg;

	c->recv_inflight = false;
	if (c->closing)
		return;
	if (result == 0)
	{
		nagare_conn_close(c, NULL);	/* the client closed its end */
		return;
	}
	if (result < 0)
	{
		errno = (int) -result;
		if (errno != ECONNRESET && errno != EPIPE)
			ereport(LOG,
					(errmsg("nagare broker: could not receive from %s: %m", c->peer)));
		nagare_conn_close(c, NULL);
		return;
	}
	c->rlen += result;
	c->last_active = GetCurrentTimestamp();
	handle_frames(c);
	start_recv(c);
}

/*
 * Hand every complete frame in the receive buffer to the protocol layer, in
 * order, and keep the partial rest at the start of the buffer.
 */
static void
handle_frames(NagareConn *c)
{
	size_t		pos = 0;

	while (!c->closing && c->holds == 0 && c->rlen - pos >= 4 &&
		   c->npending < MAX_PENDING_RESPONSES)
	{
		const uint8 *p = (const uint8 *) c->rbuf + pos;
		int32		size = (int32) kafka_load_be32(p);

		if (size < MIN_REQUEST_SIZE || size > nagare_max_request_size)
		{
			ereport(COMMERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("nagare broker: closing connection from %s: request size %d is outside 10..%d (nagare.max_request_size)",
							c->peer, size, nagare_max_request_size)));
			nagare_conn_close(c, NULL);
			return;
		}
		if (c->rlen - pos < (size_t) size + 4)
		{
			/* incomplete: make room for the whole frame */
			if ((size_t) size + 4 > c->rcap)
			{
				memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
				c->rlen -= pos;
				pos = 0;
				c->rcap = (size_t) size + 4;
				c->rbuf = repalloc_huge(c->rbuf, c->rcap);
			}
			break;
		}
		frame_handler(c, p + 4, (size_t) size);
		pos += (size_t) size + 4;
	}
	if (pos > 0)
	{
		memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
		c->rlen -= pos;
	}
	/* a large frame's buffer shrinks back once it is handled */
	if (c->rlen == 0 && c->rcap > RECV_BUFFER_INITIAL)
	{
		pfree(c->rbuf);
		c->rcap = RECV_BUFFER_INITIAL;
		c->rbuf = MemoryContextAlloc(c->cxt, c->rcap);
	}
}

NagareResponse *
nagare_conn_new_response(NagareConn *conn)
{
	NagareResponse *r = MemoryContextAllocZero(conn->cxt, sizeof(NagareResponse));

	r->conn = conn;
	dlist_push_tail(&conn->responses, &r->node);
	conn->npending++;
	conn->ndeferred++;
	return r;
}

/*
 * A response is complete; data (allocated in the connection's context) is
 * the whole frame and is freed once sent.
 */
void
nagare_conn_response_ready(NagareResponse *resp, char *data, size_t len)
{
	resp->one.iov_base = data;
	resp->one.iov_len = len;
	resp->owned_one = data;
	nagare_conn_response_ready_iov(resp, &resp->one, 1, &resp->owned_one, 1);
}

/*
 * A response is complete: the frame is the concatenation of iov, whose
 * pieces point into the owned buffers; iov, owned and the buffers are all
 * in the connection's context and are freed once sent (on a closing
 * connection nothing is sent, and the memory goes with the connection).
 */
void
nagare_conn_response_ready_iov(NagareResponse *resp, struct iovec *iov, int niov,
							   void **owned, int nowned)
{
	Assert(!resp->ready);
	resp->iov = iov;
	resp->niov = niov;
	resp->owned = owned;
	resp->nowned = nowned;
	resp->ready = true;
	resp->conn->ndeferred--;
	start_send(resp->conn);
}

/*
 * Give up a response that will never be ready: only for a closing
 * connection (an open one would wait for it forever).
 */
void
nagare_conn_response_drop(NagareResponse *resp)
{
	Assert(resp->conn->closing && !resp->ready);
	resp->conn->ndeferred--;
}

bool
nagare_conn_closing(NagareConn *conn)
{
	return conn->closing;
}

/*
 * Stop handing the connection's requests to the protocol layer until
 * nagare_conn_release(): a request that could not be taken yet (a Produce
 * waiting for room in the append ring) keeps later ones behind it, so that
 * a connection's requests take effect in order, as in Kafka.
 */
void
nagare_conn_hold(NagareConn *conn)
{
	conn->holds++;
}

void
nagare_conn_release(NagareConn *conn)
{
	Assert(conn->holds > 0);
	if (--conn->holds == 0 && !conn->closing)
	{
		handle_frames(conn);
		start_recv(conn);
	}
}

/*
 * Keep a closed connection's memory until unpinned: for work that refers
 * to the connection without a response (an acks=0 Produce still waiting to
 * enter the append ring).
 */
void
nagare_conn_pin(NagareConn *conn)
{
	conn->pins++;
}

void
nagare_conn_unpin(NagareConn *conn)
{
	Assert(conn->pins > 0);
	conn->pins--;
}

/* The local address the client connected to (for Metadata), if known */
bool
nagare_conn_local_address(NagareConn *conn, char *host, size_t hostlen)
{
	if (conn->local[0] == '\0')
		return false;
	strlcpy(host, conn->local, hostlen);
	return true;
}

static void
response_free(NagareResponse *r)
{
	int			i;

	for (i = 0; i < r->nowned; i++)
		pfree(r->owned[i]);
	if (r->owned != &r->owned_one)
		pfree(r->owned);
	if (r->iov != &r->one)
		pfree(r->iov);
	pfree(r);
}

/*
 * Send the ready responses at the head of the queue, as many pieces as one
 * sendmsg takes; a response with more pieces than that goes out over several.
 */
static void
start_send(NagareConn *c)
{
	struct iovec iov[NAGARE_AIO_MAX_IOV];
	int			n = 0;
	int			first = c->head_piece;
	dlist_iter	iter;

	if (c->send_inflight || c->closing)
		return;
	Assert(c->nsending == 0);
	dlist_foreach(iter, &c->responses)
	{
		NagareResponse *r = dlist_container(NagareResponse, node, iter.cur);
		int			i;

		if (!r->ready)
			break;
		for (i = first; i < r->niov && n < NAGARE_AIO_MAX_IOV; i++)
		{
			if (r->iov[i].iov_len > 0)
				iov[n++] = r->iov[i];
			c->nsending++;		/* empty pieces too: they are done with */
		}
		if (i < r->niov)
			break;
		first = 0;
	}
	if (c->nsending == 0)
		return;
	if (n == 0)
	{
		/* only empty pieces (cannot happen: frames have headers) */
		free_sent(c);
		return;
	}
	c->send_inflight = true;
	nagare_aio_sendmsg(c->fd, iov, n, send_done, c);
}

static void
send_done(void *arg, int64 result)
{
	NagareConn *c = arg;

	c->send_inflight = false;
	free_sent(c);
	if (c->closing)
		return;
	if (result < 0)
	{
		errno = (int) -result;
		if (errno != ECONNRESET && errno != EPIPE)
			ereport(LOG,
					(errmsg("nagare broker: could not send to %s: %m", c->peer)));
		nagare_conn_close(c, NULL);
		return;
	}
	c->last_active = GetCurrentTimestamp();
	start_send(c);
	/* frames held back by the pending limit, then more input */
	handle_frames(c);
	start_recv(c);
}

/* Free each response whose last piece was in the send that completed */
static void
free_sent(NagareConn *c)
{
	while (c->nsending > 0)
	{
		NagareResponse *r = dlist_container(NagareResponse, node, dlist_head_node(&c->responses));

		c->nsending--;
		if (++c->head_piece >= r->niov)
		{
			dlist_pop_head_node(&c->responses);
			response_free(r);
			c->npending--;
			c->head_piece = 0;
		}
	}
}

/*
 * Close a connection (reason, if given, is logged).  Operations in flight
 * complete with an error or end of stream; the memory goes when they have.
 */
void
nagare_conn_close(NagareConn *conn, const char *reason)
{
	if (conn->closing)
		return;
	if (reason)
		ereport(LOG,
				(errmsg("nagare broker: closing connection from %s: %s", conn->peer, reason)));
	conn->closing = true;
	(void) shutdown(conn->fd, SHUT_RDWR);
	dlist_delete(&conn->node);
	dlist_push_tail(&closing_conns, &conn->node);
}

/*
 * Free closed connections whose operations have all completed.  Called
 * once per loop turn.
 */
void
nagare_net_reap_closed(void)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &closing_conns)
	{
		NagareConn *c = dlist_container(NagareConn, node, iter.cur);

		if (c->recv_inflight || c->send_inflight || c->ndeferred > 0 || c->pins > 0)
			continue;
		close(c->fd);
		dlist_delete(&c->node);
		nconns--;
		MemoryContextDelete(c->cxt);
	}
}

/*
 * Periodic work: close connections idle longer than
 * nagare.connections_max_idle, and re-arm accepts that failed for lack of
 * descriptors or memory.
 */
void
nagare_net_timers(TimestampTz now)
{
	dlist_mutable_iter iter;
	int			i;

	for (i = 0; i < nlisteners; i++)
		start_accept(&listeners[i]);
	if (nagare_connections_max_idle_ms <= 0)
		return;
	dlist_foreach_modify(iter, &conns)
	{
		NagareConn *c = dlist_container(NagareConn, node, iter.cur);

		if (!c->closing && c->npending == 0 &&
			TimestampDifferenceExceeds(c->last_active, now, nagare_connections_max_idle_ms))
			nagare_conn_close(c, "idle longer than nagare.connections_max_idle");
	}
}

/* The security protocol of the listener conn came in on */
NagareSecurityProtocol
nagare_conn_security(NagareConn *conn)
{
	return conn->security;
}

/* Who the client of conn is (see net.h); the authentication code fills it */
NagareIdentity *
nagare_conn_identity(NagareConn *conn)
{
	return &conn->identity;
}
