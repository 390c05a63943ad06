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
 * Listeners are Kafka's: nagare.listeners names each one NAME://host:port,
 * its security protocol comes from nagare.listener_security_protocol_map,
 * and Metadata advertises to a client what nagare.advertised_listeners says
 * for the listener the client came in on (nagare_conn_advertised_address).
 * With nagare.listeners empty, there is one PLAINTEXT listener on each of
 * nagare.listen_addresses at nagare.port, as before listeners existed.
 *
 * On SSL and SASL_SSL listeners the bytes on the socket are TLS records:
 * receives fill a ciphertext buffer that tls.c decrypts into the frame
 * buffer, and responses are encrypted by tls.c a piece at a time (at most
 * TLS_SEND_CHUNK of plaintext per send, so a large Fetch response never
 * sits in memory twice) and the ciphertext sent.  A response is freed once
 * encrypted.  Frames flow only after the handshake; a connection that
 * fails it (a plain client, an untrusted or expired certificate) gets
 * OpenSSL's alert, if the socket takes it at once, and is closed.
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
 * Throttling (KIP-219, decided by throttle.c): a throttled connection is
 * muted until a time (nagare_conn_mute): no frame of it is handed on and
 * nothing more is read, while its queued responses still go out; the loop
 * wakes at the earliest unmute (nagare_net_next_due, nagare_net_unmute)
 * and hands on what arrived meanwhile.  A client that ignores
 * throttle_time_ms gains nothing: its requests wait in the socket.  At
 * accept, nagare.max_connection_creation_rate pauses every listener for
 * the throttle, and an ip over its connection_creation_rate quota has its
 * connection closed when the throttle ends (as Kafka's acceptor does).
 *
 * Limits, each with one LOG line when it bites (at most one a second or a
 * timer tick, with the count of the others): nagare.max_request_size (a
 * frame larger than that, or smaller than a request header, closes the
 * connection before anything is allocated for it),
 * nagare.queued_max_request_bytes (the receive buffers' growth, all
 * connections together: beyond it a connection reads nothing until some is
 * freed), nagare.request_receive_timeout (a frame not whole that long after
 * its first byte, slow-loris, closes the connection),
 * nagare.max_connections (further connections are accepted and closed at
 * once), nagare.connections_max_idle (idle connections are closed, and so
 * are those that do not read their responses).  A bad client only ever
 * loses its own connection.  The memory this bounds is given in
 * docs/operations.md ("Hostile clients").
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "aio/aio.h"
#include "broker/meter.h"
#include "broker/net.h"
#include "broker/sasl_server.h"
#include "broker/throttle.h"
#include "broker/tls.h"
#include "kafka/byteorder.h"
#include "loglimit.h"
#include "nagare.h"
#include "shmem.h"

#define MAX_LISTENERS			32
/* TLS: ciphertext received per recv, and most ciphertext kept undecrypted */
#define TLS_RECV_SIZE			(64 * 1024)
#define TLS_MAX_INPUT			(256 * 1024)
/* TLS: most plaintext encrypted per send */
#define TLS_SEND_CHUNK			(128 * 1024)
/*
 * A connection's receive buffer starts at RECV_BUFFER_INITIAL; a frame that
 * does not fit grows it as its bytes arrive (to twice its size, or by
 * RECV_BUFFER_STEP, whichever is more, never beyond the frame), so a peer
 * announcing a large frame gets memory only for what it actually sent.
 * Growth beyond the initial buffer is charged to
 * nagare.queued_max_request_bytes (net_buffered).
 */
#define RECV_BUFFER_INITIAL     (16 * 1024)
#define RECV_BUFFER_STEP        (256 * 1024)
#define MAX_PENDING_RESPONSES	64
/* descriptors the broker needs beside its connections (files, listeners) */
#define NET_RESERVED_FDS        1100
/* smallest request: api key, api version, correlation id, client id length */
#define MIN_REQUEST_SIZE		10

typedef struct Listener
{
	int			fd;
	bool		accept_inflight;
	TimestampTz paused_until;	/* nagare.max_connection_creation_rate: no accepts before */
	bool		legacy;			/* from nagare.listen_addresses and nagare.port */
	char		addr[64];
	int			port;
	char		name[NAGARE_LISTENER_NAME_MAX];
	NagareSecurityProtocol security;
} Listener;

/* NAME://host:port of nagare.listeners or nagare.advertised_listeners */
typedef struct ListenerSpec
{
	char		name[NAGARE_LISTENER_NAME_MAX];
	char		host[256];		/* empty: every address / the local one */
	int			port;
} ListenerSpec;

struct NagareConn
{
	dlist_node	node;			/* in conns */
	uint64		id;
	int			fd;
	Listener   *listener;
	NagareTls  *tls;			/* on SSL and SASL_SSL listeners */
	bool		tls_ready;		/* the handshake is done */
	char	   *cbuf;			/* TLS: ciphertext receive buffer */
	char	   *obuf;			/* TLS: ciphertext being sent */
	size_t		head_offset;	/* TLS: bytes of the head piece encrypted */
	struct iovec one_send;		/* TLS: what the send in flight sends */
	char		peer[64];
	instr_time frame_received; /* the frame handed on last (nagare.metrics_api) */
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
	TimestampTz frame_since; /* first byte of a request not yet whole (0: none) */
	bool mem_wait; /* in mem_waiting: needs nagare.queued_max_request_bytes */
	dlist_node mem_node;
	TimestampTz since;			/* accepted */
	TimestampTz muted_until;	/* throttled (KIP-219): no frames read before */
	bool		muted;			/* in muted_conns, until muted_until */
	dlist_node	mute_node;
	NagareConnQuota *quota;		/* throttle.c's state of the connection */
	NagareSecurityProtocol security;	/* the listener's */
	NagareIdentity identity;
	NagareMeterConn *meter;		/* usage and nagare.connections (meter.c) */
};

static Listener listeners[MAX_LISTENERS];
static int	nlisteners = 0;
static dlist_head conns = DLIST_STATIC_INIT(conns);
static dlist_head closing_conns = DLIST_STATIC_INIT(closing_conns);
static int	nconns = 0;
static uint64 next_conn_id = 1;
static MemoryContext net_context = NULL;
static NagareFrameHandler frame_handler = NULL;
/*
 * LOG lines of bad clients (frames out of limits, protocol violations, out
 * of memory; this file's and kafka_api.c's), of limits hit (one in 10 s)
 * and of failed TLS handshakes (one a second, all with
 * nagare.log_connections)
 */
static NagareLogLimit bad_log = NAGARE_LOG_LIMIT(20, 10000);
static NagareLogLimit limit_log = NAGARE_LOG_LIMIT(1, 10000);
static NagareLogLimit tls_log = NAGARE_LOG_LIMIT(1, 1000);

/*
 * nagare.queued_max_request_bytes: receive buffer bytes beyond each
 * connection's initial buffer, and the connections waiting for some
 */
static int64 net_buffered = 0;
static dlist_head mem_waiting = DLIST_STATIC_INIT(mem_waiting);
static bool mem_released = false;
static char *advertised_text = NULL;
static ListenerSpec *advertised = NULL;
static int	nadvertised = 0;
static bool shutting_down = false;

/*
 * Throttles (throttle.c): connections muted until a time, sockets refused
 * by an ip's connection_creation_rate and closed only when its throttle
 * ends (as Kafka's acceptor delays the close), and the earliest time any
 * of them or a paused listener is due.
 */
static dlist_head muted_conns = DLIST_STATIC_INIT(muted_conns);
typedef struct DelayedClose
{
	dlist_node	node;
	int			fd;
	TimestampTz until;
} DelayedClose;
static dlist_head delayed_closes = DLIST_STATIC_INIT(delayed_closes);
static int	ndelayed_closes = 0;
static TimestampTz next_unmute = 0;

/* Most refused sockets kept open until their throttle ends; others close at once */
#define MAX_DELAYED_CLOSES	1024

static void start_accept(Listener *l);
static void accept_done(void *arg, int64 result);
static void start_recv(NagareConn *c);
static void recv_done(void *arg, int64 result);
static void start_send(NagareConn *c);
static void send_done(void *arg, int64 result);
static void free_sent(NagareConn *c);
static void handle_frames(NagareConn *c);
static void conn_input(NagareConn *c);
static void tls_input(NagareConn *c);
static void tls_send(NagareConn *c);
static void note_due(TimestampTz when);

static const char *const security_names[] = {
	[NAGARE_SEC_PLAINTEXT] = "PLAINTEXT",
	[NAGARE_SEC_SSL] = "SSL",
	[NAGARE_SEC_SASL_PLAINTEXT] = "SASL_PLAINTEXT",
	[NAGARE_SEC_SASL_SSL] = "SASL_SSL"
};

/* The name of a security protocol ("SASL_SSL") */
const char *
nagare_security_protocol_name(NagareSecurityProtocol sec)
{
	return security_names[sec];
}

static bool
security_protocol_from_name(const char *name, size_t len, NagareSecurityProtocol *sec)
{
	int			i;

	for (i = 0; i < lengthof(security_names); i++)
		if (strlen(security_names[i]) == len && pg_strncasecmp(security_names[i], name, len) == 0)
		{
			*sec = (NagareSecurityProtocol) i;
			return true;
		}
	return false;
}

/*
 * The security protocol of listener name by
 * nagare.listener_security_protocol_map ("NAME:PROTOCOL,..."); false if
 * the map does not name it.
 */
static bool
listener_security(const char *name, NagareSecurityProtocol *sec)
{
	const char *p = nagare_listener_security_protocol_map;

	while (p && *p)
	{
		const char *colon;
		const char *end;
		const char *q;
		size_t		nlen;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		end = p + strcspn(p, ",");
		colon = memchr(p, ':', end - p);
		if (colon != NULL)
		{
			nlen = colon - p;
			while (nlen > 0 && p[nlen - 1] == ' ')
				nlen--;
			q = colon + 1;
			while (*q == ' ')
				q++;
			if (strlen(name) == nlen && pg_strncasecmp(p, name, nlen) == 0)
			{
				size_t		plen = end - q;

				while (plen > 0 && q[plen - 1] == ' ')
					plen--;
				return security_protocol_from_name(q, plen, sec);
			}
		}
		p = end;
	}
	return false;
}

/*
 * Parse a list of NAME://host:port (nagare.listeners and
 * nagare.advertised_listeners, named by setting) into a palloc'd array.
 * Entries that do not parse are logged and left out.  A host may be a
 * name, an IPv4 address, [an IPv6 address] or empty.
 */
static int
parse_listener_list(const char *text, const char *setting, ListenerSpec **out)
{
	char	   *list = pstrdup(text ? text : "");
	char	   *tok;
	char	   *save;
	int			n = 0;
	int			cap = 4;

	*out = palloc0(sizeof(ListenerSpec) * cap);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		ListenerSpec spec;
		char	   *sep;
		char	   *hostport;
		char	   *colon;
		char	   *endp;
		long		port;
		int			i;

		while (*tok == ' ' || *tok == '\t' || *tok == '\n')
			tok++;
		for (i = strlen(tok); i > 0 && (tok[i - 1] == ' ' || tok[i - 1] == '\t' || tok[i - 1] == '\n'); i--)
			tok[i - 1] = '\0';
		if (*tok == '\0')
			continue;
		memset(&spec, 0, sizeof(spec));
		sep = strstr(tok, "://");
		if (sep == NULL || sep == tok || sep - tok >= NAGARE_LISTENER_NAME_MAX)
		{
			ereport(LOG,
					(errmsg("nagare broker: ignoring \"%s\" in %s: not NAME://host:port", tok, setting)));
			continue;
		}
		for (i = 0; tok + i < sep; i++)
		{
			char		ch = tok[i];

			if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
				  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
				break;
			spec.name[i] = pg_ascii_toupper(ch);
		}
		if (tok + i < sep)
		{
			ereport(LOG,
					(errmsg("nagare broker: ignoring \"%s\" in %s: a listener name has letters, digits, _ and - only", tok, setting)));
			continue;
		}
		hostport = sep + 3;
		if (hostport[0] == '[')
		{
			char	   *close = strchr(hostport, ']');

			if (close == NULL || close[1] != ':')
				colon = NULL;
			else
			{
				*close = '\0';
				strlcpy(spec.host, hostport + 1, sizeof(spec.host));
				colon = close + 1;
			}
		}
		else
		{
			colon = strrchr(hostport, ':');
			if (colon)
			{
				*colon = '\0';
				strlcpy(spec.host, hostport, sizeof(spec.host));
			}
		}
		port = colon ? strtol(colon + 1, &endp, 10) : 0;
		if (colon == NULL || colon[1] == '\0' || *endp != '\0' || port < 1 || port > 65535)
		{
			ereport(LOG,
					(errmsg("nagare broker: ignoring \"%s\" in %s: no port (1..65535) after the host", tok, setting)));
			continue;
		}
		spec.port = (int) port;
		for (i = 0; i < n; i++)
			if (strcmp((*out)[i].name, spec.name) == 0)
				break;
		if (i < n)
		{
			ereport(LOG,
					(errmsg("nagare broker: ignoring \"%s\" in %s: listener %s is named twice", tok, setting, spec.name)));
			continue;
		}
		if (n == cap)
		{
			cap *= 2;
			*out = repalloc(*out, sizeof(ListenerSpec) * cap);
		}
		(*out)[n++] = spec;
	}
	pfree(list);
	return n;
}

/*
 * Listen on host (NULL: every address) at port for listener name with
 * security protocol sec; legacy listeners come from nagare.listen_addresses
 * and keep their log line as it always was.  Returns how many sockets
 * opened.
 */
static int
open_listener(const char *name, NagareSecurityProtocol sec, const char *host, int port,
			  bool legacy)
{
	struct addrinfo hints;
	struct addrinfo *res;
	struct addrinfo *ai;
	char		portstr[16];
	char		suffix[NAGARE_LISTENER_NAME_MAX + 32];
	int			rc;
	int			opened = 0;

	if (legacy || (sec == NAGARE_SEC_PLAINTEXT && strcmp(name, "PLAINTEXT") == 0))
		suffix[0] = '\0';
	else if (strcmp(name, security_names[sec]) == 0)
		snprintf(suffix, sizeof(suffix), " (%s)", name);
	else
		snprintf(suffix, sizeof(suffix), " (%s, %s)", name, security_names[sec]);

	if ((sec == NAGARE_SEC_SSL || sec == NAGARE_SEC_SASL_SSL) && !nagare_tls_server_ready())
	{
		ereport(LOG,
				(errmsg("nagare broker: not listening on %s port %d%s: TLS is not configured",
						host ? host : "*", port, suffix),
				 errhint("See the error above about the TLS certificate or key.")));
		return 0;
	}

	snprintf(portstr, sizeof(portstr), "%d", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0)
	{
		ereport(LOG,
				(errmsg("nagare broker: could not resolve \"%s\": %s", host ? host : "*", gai_strerror(rc))));
		return 0;
	}
	for (ai = res; ai && nlisteners < MAX_LISTENERS; ai = ai->ai_next)
	{
		int			fd;
		int			one = 1;
		char		addr[NI_MAXHOST];
		Listener   *l;

		getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr), NULL, 0, NI_NUMERICHOST);
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			(void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0)
		{
			ereport(LOG,
					(errmsg("nagare broker: could not listen on %s port %d: %m", addr, port)));
			close(fd);
			continue;
		}
		l = &listeners[nlisteners++];
		l->fd = fd;
		l->accept_inflight = false;
		l->legacy = legacy;
		l->port = port;
		l->security = sec;
		strlcpy(l->name, name, sizeof(l->name));
		snprintf(l->addr, sizeof(l->addr), "%s", addr);
		ereport(LOG,
				(errmsg("nagare broker: listening for Kafka clients on %s port %d%s", addr, port, suffix)));
		start_accept(l);
		opened++;
	}
	freeaddrinfo(res);
	return opened;
}

/*
 * Descriptors for nagare.max_connections: the soft RLIMIT_NOFILE is raised
 * to the hard one (the broker's sockets are its own, outside fd.c's
 * max_files_per_process), and a limit below what the setting needs is
 * logged, since connections beyond it fail at accept and wait in the
 * listen backlog instead of being refused.
 */
static void
check_descriptor_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = rl.rlim_max;
		(void) setrlimit(RLIMIT_NOFILE, &rl);
		(void) getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY &&
		rl.rlim_cur < (rlim_t) nagare_max_connections + NET_RESERVED_FDS)
		ereport(WARNING,
				(errmsg("nagare broker: nagare.max_connections (%d) needs %d file descriptors, but the limit is %llu",
						nagare_max_connections, nagare_max_connections + NET_RESERVED_FDS,
						(unsigned long long) rl.rlim_cur),
				 errhint(
					 "Raise the server's open files limit (ulimit -n, LimitNOFILE in systemd) or lower nagare.max_connections.")));
}

/*
 * Whether a listener of security protocol sec authenticates its clients
 * (SASL_*, or SSL with client certificates required or requested): while
 * none does, nagare.allow_everyone_if_no_acl_found = auto means on and the
 * HTTP endpoint may listen on any address (web/web.c).
 */
bool
nagare_net_security_authenticates(NagareSecurityProtocol sec)
{
	return sec == NAGARE_SEC_SASL_PLAINTEXT || sec == NAGARE_SEC_SASL_SSL ||
		   (sec == NAGARE_SEC_SSL && nagare_ssl_client_auth != NAGARE_TLS_CLIENT_AUTH_NONE);
}

/*
 * Is sa a loopback address (127/8, ::1, or IPv4-mapped 127/8)?  The HTTP and
 * DNS servers' wall (web/web.c, registry/dns_server.c) listens only there.
 */
bool
nagare_net_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *) sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6)
	{
		const struct in6_addr *a = &((const struct sockaddr_in6 *) sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
			   (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* An address and port as text for logs: "192.0.2.1:9092", "[::1]:9092", or "?" */
void
nagare_net_addr_text(const struct sockaddr *sa, socklen_t len, char *out, size_t cap)
{
	char host[NI_MAXHOST];
	char port[NI_MAXSERV];

	if (getnameinfo(sa, len, host, sizeof(host), port, sizeof(port),
					NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		strlcpy(out, "?", cap);
	else if (sa->sa_family == AF_INET6)
		snprintf(out, cap, "[%s]:%s", host, port);
	else
		snprintf(out, cap, "%s:%s", host, port);
}

/*
 * How many listeners of nagare.listeners authenticate their clients, from
 * the settings alone (they need a restart), for processes that cannot wait
 * for the broker to open them; configured, opened or not.  The
 * PLAINTEXT listeners of nagare.listen_addresses authenticate nobody.
 * Entries that do not parse count as nothing (the broker logs them).
 */
int
nagare_net_configured_authenticating_listeners(void)
{
	char *list;
	char *tok;
	char *save;
	int n = 0;

	if (nagare_listeners == NULL || nagare_listeners[0] == '\0')
		return 0;
	list = pstrdup(nagare_listeners);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		char *sep = strstr(tok, "://");
		NagareSecurityProtocol sec;
		char name[NAGARE_LISTENER_NAME_MAX];
		int i = 0;

		while (*tok == ' ' || *tok == '\t' || *tok == '\n')
			tok++;
		if (sep == NULL || sep <= tok || sep - tok >= NAGARE_LISTENER_NAME_MAX)
			continue;
		for (; tok + i < sep; i++)
			name[i] = pg_ascii_toupper(tok[i]);
		name[i] = '\0';
		if (listener_security(name, &sec) && nagare_net_security_authenticates(sec))
			n++;
	}
	pfree(list);
	return n;
}

/*
 * Open the listeners of nagare.listeners, or with that empty those of
 * nagare.listen_addresses on nagare.port; every complete request frame of
 * their connections goes to on_frame.  A listener that cannot open (a TLS
 * one without a usable certificate, a port in use) is logged and the
 * others open.  An empty nagare.listen_addresses disables the Kafka
 * listener.
 */
void
nagare_net_init(NagareFrameHandler on_frame)
{
	frame_handler = on_frame;
	check_descriptor_limit();
	net_context = AllocSetContextCreate(TopMemoryContext, "nagare connections",
										ALLOCSET_DEFAULT_SIZES);
	nagare_meter_start();
	if (nagare_listeners != NULL && nagare_listeners[0] != '\0')
	{
		ListenerSpec *specs;
		int			n = parse_listener_list(nagare_listeners, "nagare.listeners", &specs);
		int			i;
		uint32		authenticating = 0;

		for (i = 0; i < n; i++)
		{
			NagareSecurityProtocol sec;
			const char *host = specs[i].host;

			if (!listener_security(specs[i].name, &sec))
			{
				ereport(LOG,
						(errmsg("nagare broker: not opening listener %s: nagare.listener_security_protocol_map gives it no security protocol",
								specs[i].name),
						 errhint("Add %s:PLAINTEXT, %s:SSL, %s:SASL_PLAINTEXT or %s:SASL_SSL to nagare.listener_security_protocol_map.",
								 specs[i].name, specs[i].name, specs[i].name, specs[i].name)));
				continue;
			}
			open_listener(specs[i].name, sec, host[0] == '\0' ? NULL : host,
						  specs[i].port, false);
			/* configured, opened or not: the safe side for the ACL default */
			if (nagare_net_security_authenticates(sec))
				authenticating++;
		}
		/* nagare.allow_everyone_if_no_acl_found = auto reads it (acl/acl.c) */
		pg_atomic_write_u32(&nagare_acls->authenticating_listeners, authenticating);
		if (nlisteners == 0)
			ereport(WARNING,
					(errmsg("nagare broker: could not open any Kafka listener of \"%s\"", nagare_listeners),
					 errhint("Check nagare.listeners and the messages above; SQL producers and consumers work without the listeners.")));
		pfree(specs);
		pg_atomic_write_u32(&nagare_shared->listen_sockets, nlisteners);
		return;
	}
	/* the PLAINTEXT listeners of nagare.listen_addresses authenticate nobody */
	pg_atomic_write_u32(&nagare_acls->authenticating_listeners, 0);
	if (nagare_listen_addresses == NULL || nagare_listen_addresses[0] == '\0')
	{
		ereport(LOG, (errmsg("nagare broker: Kafka listener disabled (nagare.listen_addresses is empty)")));
		pg_atomic_write_u32(&nagare_shared->listen_sockets, 0);
		return;
	}
	{
		char	   *list = pstrdup(nagare_listen_addresses);
		char	   *tok;
		char	   *save;

		for (tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
			open_listener("PLAINTEXT", NAGARE_SEC_PLAINTEXT,
						  strcmp(tok, "*") == 0 ? NULL : tok, nagare_port, true);
		pfree(list);
	}
	if (nlisteners == 0)
		ereport(WARNING,
				(errmsg("nagare broker: could not listen for Kafka clients on any of \"%s\" port %d",
						nagare_listen_addresses, nagare_port),
				 errhint("Check nagare.listen_addresses and nagare.port, and that no other process uses the port; SQL producers and consumers work without the listener.")));
	pg_atomic_write_u32(&nagare_shared->listen_sockets, nlisteners);
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
	pg_atomic_write_u32(&nagare_shared->listen_sockets, 0);
	for (i = 0; i < nlisteners; i++)
		(void) shutdown(listeners[i].fd, SHUT_RDWR);
	while (!dlist_is_empty(&delayed_closes))
	{
		DelayedClose *d =
			dlist_container(DelayedClose, node, dlist_pop_head_node(&delayed_closes));

		close(d->fd);
		pfree(d);
	}
	ndelayed_closes = 0;
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
	if (l->accept_inflight || shutting_down || l->paused_until != 0)
		return;
	l->accept_inflight = true;
	nagare_aio_accept(l->fd, accept_done, l);
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
	TimestampTz now;
	int32		throttle_ms;

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
		if (nagare_log_due(&limit_log))
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
	now = GetCurrentTimestamp();
	if (getpeername(fd, (struct sockaddr *) &ss, &sslen) != 0 ||
		getnameinfo((struct sockaddr *) &ss, sslen, host, sizeof(host), serv,
					sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
	{
		host[0] = '\0';
		serv[0] = '\0';
	}

	/*
	 * nagare.max_connection_creation_rate: over it, the listeners accept
	 * nothing more until the throttle ends (Kafka's acceptor waits too);
	 * this connection goes on.
	 */
	throttle_ms = nagare_throttle_broker_connection(now);
	if (throttle_ms > 0)
	{
		int			i;

		for (i = 0; i < nlisteners; i++)
			listeners[i].paused_until = TimestampTzPlusMilliseconds(now, throttle_ms);
		note_due(TimestampTzPlusMilliseconds(now, throttle_ms));
		if (nagare_log_due(&limit_log))
			ereport(LOG,
					(errmsg("nagare broker: accepting no Kafka connections for %d ms: nagare.max_connection_creation_rate (%d/s) reached",
							throttle_ms, nagare_max_connection_creation_rate)));
	}
	start_accept(l);

	if (nconns >= nagare_max_connections)
	{
		if (nagare_log_due(&limit_log))
			ereport(LOG,
					(errmsg("nagare broker: refusing Kafka connection: nagare.max_connections (%d) reached",
							nagare_max_connections)));
		close(fd);
		return;
	}

	/*
	 * The ip's connection_creation_rate: over it, the connection is refused
	 * and closed when the throttle ends, so that a client reconnecting in a
	 * loop is slowed down (Kafka's ConnectionThrottledException).
	 */
	throttle_ms = host[0] ? nagare_throttle_ip_connection(host, now) : 0;
	if (throttle_ms > 0)
	{
		if (nagare_log_due(&limit_log))
			ereport(LOG,
					(errmsg("nagare broker: refusing Kafka connection from %s: its connection_creation_rate quota is exceeded (closing in %d ms)",
							host, throttle_ms)));
		if (ndelayed_closes >= MAX_DELAYED_CLOSES)
			close(fd);
		else
		{
			DelayedClose *d = MemoryContextAlloc(net_context, sizeof(DelayedClose));

			d->fd = fd;
			d->until = TimestampTzPlusMilliseconds(now, throttle_ms);
			dlist_push_tail(&delayed_closes, &d->node);
			ndelayed_closes++;
			note_due(d->until);
		}
		return;
	}

	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* as Kafka's acceptor: the kernel finds peers that vanished without a FIN */
	(void) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	cxt = AllocSetContextCreate(net_context, "nagare connection", ALLOCSET_SMALL_SIZES);
	c = MemoryContextAllocZero(cxt, sizeof(NagareConn));
	c->cxt = cxt;
	c->id = next_conn_id++;
	c->listener = l;
	c->security = l->security;
	/* SASL decides on SASL_* listeners; TLS may name a certificate's principal */
	c->identity.authenticated = (l->security == NAGARE_SEC_PLAINTEXT ||
								 l->security == NAGARE_SEC_SSL);
	c->identity.role = InvalidOid;
	strlcpy(c->identity.principal, "User:ANONYMOUS", sizeof(c->identity.principal));
	c->fd = fd;
	if (host[0] != '\0')
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
	c->last_active = now;
	c->since = c->last_active;
	if (l->security == NAGARE_SEC_SSL || l->security == NAGARE_SEC_SASL_SSL)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		c->tls = nagare_tls_new();
		c->cbuf = palloc(TLS_RECV_SIZE);
		MemoryContextSwitchTo(old);
	}
	else if (nagare_log_connections)
		ereport(LOG,
				(errmsg("nagare broker: connection from %s on listener %s (%s)",
						c->peer, l->name, security_names[l->security])));
	dlist_push_tail(&conns, &c->node);
	nconns++;
	c->meter = nagare_meter_open(c);
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
	if (c->recv_inflight || c->closing || c->muted)
		return;
	if (c->tls)
	{
		/*
		 * Ciphertext is taken while the frame buffer has room for what it
		 * decrypts to, and a bounded amount more while it has not.
		 */
		if (c->tls_ready && (c->npending >= MAX_PENDING_RESPONSES ||
							 nagare_tls_input_pending(c->tls) >= TLS_MAX_INPUT))
			return;
		c->recv_inflight = true;
		nagare_aio_recv(c->fd, c->cbuf, TLS_RECV_SIZE, recv_done, c);
		return;
	}
	if (c->npending >= MAX_PENDING_RESPONSES)
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
	c->last_active = GetCurrentTimestamp();
	if (c->frame_since == 0)
		c->frame_since = c->last_active;
	if (c->tls)
	{
		nagare_tls_put_input(c->tls, c->cbuf, (size_t) result);
		tls_input(c);
		start_send(c);			/* handshake messages, alerts */
		start_recv(c);
		return;
	}
	c->rlen += result;
	handle_frames(c);
	start_recv(c);
}

/* Frames received, or on TLS decrypted, go to the protocol layer */
static void
conn_input(NagareConn *c)
{
	if (c->tls)
		tls_input(c);
	else
		handle_frames(c);
}


/*
 * The handshake of c completed: its identity.  On an SSL listener a
 * verified client certificate names a role through
 * nagare.ssl_principal_mapping_rules, and the connection waits for
 * sasl_server.c to check that the role may log in (User:<role> then, else
 * closed); without a certificate the client is User:ANONYMOUS.  On
 * SASL_SSL, SASL decides later.  Returns false if the connection was
 * refused (no mapping rule matched).
 */
static bool
tls_authenticated(NagareConn *c)
{
	char		dn[512];
	char		name[NAGARE_PRINCIPAL_MAX];
	char		err[512];
	bool		has_cert = nagare_tls_peer_dn(c->tls, dn, sizeof(dn));

	if (c->security == NAGARE_SEC_SSL && has_cert)
	{
		if (!nagare_tls_map_principal(nagare_ssl_principal_mapping_rules, dn,
									  name, sizeof(name) - 5, err, sizeof(err)))
		{
			ereport(LOG,
					(errmsg("nagare broker: refusing TLS connection from %s: %s", c->peer, err)));
			return false;
		}
		if (nagare_log_connections)
			ereport(LOG,
					(errmsg("nagare broker: connection from %s on listener %s (%s) presents client certificate \"%s\" for role \"%s\"",
							c->peer, c->listener->name, nagare_tls_describe(c->tls), dn,
							name)));

		/*
		 * The name must be a role that may log in, which the catalog says:
		 * the connection is held until the nagare worker answers.
		 */
		nagare_auth_certificate(c, name);
	}
	else if (nagare_log_connections)
		ereport(LOG,
				(errmsg("nagare broker: connection from %s on listener %s (%s%s%s)",
						c->peer, c->listener->name, nagare_tls_describe(c->tls),
						has_cert ? ", client certificate " : "", has_cert ? dn : "")));
	return true;
}

/*
 * TLS input: advance the handshake, then decrypt into the frame buffer as
 * room allows and hand the frames on, until the ciphertext received so far
 * is used up or the connection holds its frames back.
 */
static void
tls_input(NagareConn *c)
{
	NagareTlsStatus st;

	if (c->closing)
		return;
	if (!c->tls_ready)
	{
		st = nagare_tls_handshake(c->tls);
		if (st == NAGARE_TLS_WANT_INPUT)
			return;
		if (st != NAGARE_TLS_OK)
		{
			if (nagare_log_connections || nagare_log_due(&tls_log))
			{
				int skipped = nagare_log_skipped(&tls_log);

				ereport(LOG,
						(errmsg("nagare broker: TLS handshake with %s on listener %s failed: %s",
								c->peer, c->listener->name,
								st == NAGARE_TLS_CLOSED ? "the client closed the connection"
														: nagare_tls_error(c->tls)),
						 skipped > 0
							 ? errdetail("%d more failed handshakes were not logged.", skipped)
							 : 0));
			}
			nagare_conn_close(c, NULL);
			return;
		}
		c->tls_ready = true;
		if (!tls_authenticated(c))
		{
			nagare_conn_close(c, NULL);
			return;
		}
	}
	for (;;)
	{
		size_t		got = 0;
		size_t		room = c->rcap - c->rlen;

		st = NAGARE_TLS_OK;
		if (c->rlen < c->rcap)
		{
			st = nagare_tls_read(c->tls, c->rbuf + c->rlen, c->rcap - c->rlen, &got);
			c->rlen += got;
		}
		handle_frames(c);
		if (c->closing)
			return;
		if (st == NAGARE_TLS_CLOSED)
		{
			/* close_notify: the client is done; answer with ours */
			nagare_conn_close(c, NULL);
			return;
		}
		if (st == NAGARE_TLS_FAILED)
		{
			ereport(LOG,
					(errmsg("nagare broker: closing TLS connection from %s: %s",
							c->peer, nagare_tls_error(c->tls))));
			nagare_conn_close(c, NULL);
			return;
		}
		/* done when nothing was decrypted and handling frames made no room */
		if (got == 0 && c->rcap - c->rlen <= room)
			return;
	}
}

/* A bad client's LOG line is due (bad_log), for this file and kafka_api.c */
bool
nagare_net_log_due(void)
{
	return nagare_log_due(&bad_log);
}

/* errdetail() of the lines nagare_net_log_due() left out, if any */
int
nagare_net_log_skipped_detail(void)
{
	int n = nagare_log_skipped(&bad_log);

	return n > 0 ? errdetail("%d more bad clients were not logged before this one.", n) : 0;
}

/* Receive buffer bytes of a capacity charged to nagare.queued_max_request_bytes */
static inline size_t
rbuf_charge(size_t cap)
{
	return cap > RECV_BUFFER_INITIAL ? cap - RECV_BUFFER_INITIAL : 0;
}

/* Receive buffer memory went back: let waiting connections try again */
static void
rbuf_released(size_t charge)
{
	net_buffered -= (int64) charge;
	Assert(net_buffered >= 0);
	if (charge > 0 && !dlist_is_empty(&mem_waiting))
	{
		mem_released = true;
		note_due(GetCurrentTimestamp());
	}
}

/*
 * Room for more of a frame of need bytes (size prefix included) that fills
 * the receive buffer: twice the buffer or RECV_BUFFER_STEP more than it
 * holds, never more than the frame, so memory follows what the peer sent
 * rather than what it announced.  With nagare.queued_max_request_bytes used
 * up by other connections, the connection waits (reads nothing) until some
 * is released; one that alone holds it all goes on.  A failed allocation
 * closes the connection (the broker's out-of-memory policy, README.md).
 */
static void
rbuf_grow(NagareConn *c, size_t need)
{
	size_t newcap = Min(need, Max(c->rcap * 2, c->rlen + RECV_BUFFER_STEP));
	size_t own = rbuf_charge(c->rcap);
	size_t delta = rbuf_charge(newcap) - own;
	char *buf;

	if (nagare_queued_max_request_bytes > 0 && net_buffered > (int64) own &&
		net_buffered + (int64) delta > nagare_queued_max_request_bytes)
	{
		if (!c->mem_wait)
		{
			c->mem_wait = true;
			dlist_push_tail(&mem_waiting, &c->mem_node);
			if (nagare_log_due(&limit_log))
				ereport(LOG,
						(errmsg("nagare broker: connection from %s waits to read its %zu-byte request: nagare.queued_max_request_bytes (%d) is in use",
								c->peer, need - 4, nagare_queued_max_request_bytes)));
		}
		return;
	}
	buf = MemoryContextAllocExtended(c->cxt, newcap, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	if (buf == NULL)
	{
		if (nagare_net_log_due())
			ereport(LOG,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("nagare broker: closing connection from %s: out of memory for its %zu-byte request",
							c->peer, need - 4),
					 nagare_net_log_skipped_detail()));
		nagare_conn_close(c, NULL);
		return;
	}
	memcpy(buf, c->rbuf, c->rlen);
	pfree(c->rbuf);
	c->rbuf = buf;
	c->rcap = newcap;
	net_buffered += (int64) delta;
}

/*
 * Hand every complete frame in the receive buffer to the protocol layer, in
 * order, and keep the partial rest at the start of the buffer (growing it
 * when the partial frame fills it).
 */
static void
handle_frames(NagareConn *c)
{
	size_t		pos = 0;
	size_t need = 0;

	while (!c->closing && c->holds == 0 && !c->muted && c->rlen - pos >= 4 &&
		   c->npending < MAX_PENDING_RESPONSES)
	{
		const uint8 *p = (const uint8 *) c->rbuf + pos;
		int32		size = (int32) kafka_load_be32(p);

		if (size < MIN_REQUEST_SIZE || size > nagare_max_request_size)
		{
			/* closed before anything is allocated for it */
			if (nagare_net_log_due())
				ereport(COMMERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("nagare broker: closing connection from %s: request size %d is outside 10..%d (nagare.max_request_size)",
								c->peer, size, nagare_max_request_size),
						 nagare_net_log_skipped_detail()));
			nagare_conn_close(c, NULL);
			return;
		}
		if (c->rlen - pos < (size_t) size + 4)
		{
			need = (size_t) size + 4;
			break;
		}
		if (nagare_metrics_api)
			INSTR_TIME_SET_CURRENT(c->frame_received);
		frame_handler(c, p + 4, (size_t) size);
		pos += (size_t) size + 4;
	}
	if (c->closing)
		return;
	if (pos > 0)
	{
		memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
		c->rlen -= pos;
	}
	/* nagare.request_receive_timeout runs from the first byte of a request */
	if (c->rlen == 0 && (c->tls == NULL || nagare_tls_input_pending(c->tls) == 0))
		c->frame_since = 0;
	else if (pos > 0)
		c->frame_since = GetCurrentTimestamp();
	if (need > 0 && c->rlen == c->rcap && !c->mem_wait)
		rbuf_grow(c, need);
	/* a large frame's buffer shrinks back once it is handled */
	if (c->rlen == 0 && c->rcap > RECV_BUFFER_INITIAL)
	{
		char *buf =
			MemoryContextAllocExtended(c->cxt, RECV_BUFFER_INITIAL, MCXT_ALLOC_NO_OOM);

		if (buf != NULL)
		{
			pfree(c->rbuf);
			c->rbuf = buf;
			rbuf_released(rbuf_charge(c->rcap));
			c->rcap = RECV_BUFFER_INITIAL;
		}
	}
}

/*
 * Memory of nagare.queued_max_request_bytes was released: the connections
 * waiting for it try again, in the order they began to wait (those still
 * short of it wait again).
 */
static void
wake_mem_waiters(void)
{
	dlist_head due = DLIST_STATIC_INIT(due);

	if (!mem_released)
		return;
	mem_released = false;
	while (!dlist_is_empty(&mem_waiting))
		dlist_push_tail(&due, dlist_pop_head_node(&mem_waiting));
	while (!dlist_is_empty(&due))
	{
		NagareConn *c = dlist_container(NagareConn, mem_node, dlist_pop_head_node(&due));

		c->mem_wait = false;
		if (c->closing)
			continue;
		conn_input(c);
		start_recv(c);
	}
}

NagareResponse *
nagare_conn_new_response(NagareConn *conn)
{
	NagareResponse *r = MemoryContextAllocZero(conn->cxt, sizeof(NagareResponse));

	r->conn = conn;
	r->received = conn->frame_received;
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
		conn_input(conn);
		start_send(conn);
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
	if (c->tls)
	{
		tls_send(c);
		return;
	}
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

/*
 * TLS output: encrypt the ready responses at the head of the queue while
 * less than TLS_SEND_CHUNK of ciphertext waits (a response is freed once
 * encrypted), then send what waits, handshake messages and alerts
 * included.
 */
static void
tls_send(NagareConn *c)
{
	size_t		pending;

	while (c->tls_ready && nagare_tls_output_pending(c->tls) < TLS_SEND_CHUNK &&
		   !dlist_is_empty(&c->responses))
	{
		NagareResponse *r = dlist_container(NagareResponse, node, dlist_head_node(&c->responses));
		struct iovec *piece;
		size_t		n;

		if (!r->ready)
			break;
		piece = &r->iov[c->head_piece];
		n = Min(piece->iov_len - c->head_offset, (size_t) TLS_SEND_CHUNK);
		if (n > 0 && !nagare_tls_write(c->tls, (char *) piece->iov_base + c->head_offset, n))
		{
			ereport(LOG,
					(errmsg("nagare broker: closing TLS connection from %s: %s",
							c->peer, nagare_tls_error(c->tls))));
			nagare_conn_close(c, NULL);
			return;
		}
		c->head_offset += n;
		if (c->head_offset < piece->iov_len)
			continue;
		c->head_offset = 0;
		if (++c->head_piece >= r->niov)
		{
			dlist_pop_head_node(&c->responses);
			response_free(r);
			c->npending--;
			c->head_piece = 0;
		}
	}
	pending = nagare_tls_output_pending(c->tls);
	if (pending == 0)
		return;
	c->obuf = MemoryContextAlloc(c->cxt, Min(pending, (size_t) 2 * TLS_SEND_CHUNK));
	c->one_send.iov_base = c->obuf;
	c->one_send.iov_len = nagare_tls_take_output(c->tls, c->obuf,
												 Min(pending, (size_t) 2 * TLS_SEND_CHUNK));
	c->send_inflight = true;
	nagare_aio_sendmsg(c->fd, &c->one_send, 1, send_done, c);
}

static void
send_done(void *arg, int64 result)
{
	NagareConn *c = arg;

	c->send_inflight = false;
	if (c->obuf)
	{
		pfree(c->obuf);
		c->obuf = NULL;
	}
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
	conn_input(c);
	start_send(c);
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
	if (conn->muted)
	{
		dlist_delete(&conn->mute_node);
		conn->muted = false;
	}
	if (conn->mem_wait)
	{
		dlist_delete(&conn->mem_node);
		conn->mem_wait = false;
	}
	nagare_meter_close(conn);
	if (conn->tls && !conn->send_inflight)
	{
		char		buf[1024];
		size_t		n;

		/*
		 * Our close_notify, or the alert of a failed handshake: sent if the
		 * socket takes it at once (it is small), never waited for.
		 */
		nagare_tls_close_notify(conn->tls);
		n = nagare_tls_take_output(conn->tls, buf, sizeof(buf));
		if (n > 0)
			(void) send(conn->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
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
		if (c->tls)
			nagare_tls_free(c->tls);
		dlist_delete(&c->node);
		nconns--;
		rbuf_released(rbuf_charge(c->rcap));
		MemoryContextDelete(c->cxt);
	}
}

/*
 * Whether conn's idleness is the client's: nothing queued, or a response
 * ready at the head of the queue that the client does not read (a peer that
 * vanished without a FIN, or stopped reading, looks like this once its
 * window is full).  A response not ready yet (a Produce waiting for its
 * fsync, a Fetch parked for data) is the broker's wait, not the client's.
 */
static bool
idle_is_clients(NagareConn *c)
{
	if (dlist_is_empty(&c->responses))
		return true;
	return dlist_container(NagareResponse, node, dlist_head_node(&c->responses))->ready;
}

/*
 * Periodic work: usage snapshots and the connection table (meter.c), close
 * connections whose request is not whole nagare.request_receive_timeout
 * after its first byte (slow-loris) and those idle longer than
 * nagare.connections_max_idle, and re-arm accepts that failed for lack of
 * descriptors or memory.  The LOG lines are one per tick and kind, with
 * the count.
 */
void
nagare_net_timers(TimestampTz now)
{
	dlist_mutable_iter iter;
	int			i;
	int nslow = 0;
	int nidle = 0;
	char slow_peer[64] = "";
	char idle_peer[64] = "";
	size_t slow_bytes = 0;

	nagare_meter_timer(now);
	for (i = 0; i < nlisteners; i++)
		start_accept(&listeners[i]);
	nagare_throttle_sweep(now);
	if (nagare_connections_max_idle_ms <= 0 && nagare_request_receive_timeout_ms <= 0)
		return;
	dlist_foreach_modify(iter, &conns)
	{
		NagareConn *c = dlist_container(NagareConn, node, iter.cur);

		if (c->closing)
			continue;
		if (nagare_request_receive_timeout_ms > 0 && c->frame_since != 0)
		{
			/* the clock stops while the broker itself reads nothing of it */
			if (c->muted || c->holds > 0 || c->npending >= MAX_PENDING_RESPONSES)
				c->frame_since = now;
			else if (TimestampDifferenceExceeds(c->frame_since, now,
												nagare_request_receive_timeout_ms))
			{
				if (nslow++ == 0)
				{
					strlcpy(slow_peer, c->peer, sizeof(slow_peer));
					slow_bytes = c->rlen;
				}
				nagare_conn_close(c, NULL);
				continue;
			}
		}
		if (nagare_connections_max_idle_ms > 0 && idle_is_clients(c) &&
			TimestampDifferenceExceeds(c->last_active, now, nagare_connections_max_idle_ms))
		{
			if (nidle++ == 0)
				strlcpy(idle_peer, c->peer, sizeof(idle_peer));
			nagare_conn_close(c, NULL);
		}
	}
	if (nslow > 0)
		ereport(LOG,
				(errmsg("nagare broker: closing connection from %s: its request is not whole after nagare.request_receive_timeout (%d ms), %zu bytes of it received",
						slow_peer, nagare_request_receive_timeout_ms, slow_bytes),
				 nslow > 1
					 ? errdetail("%d more connections were closed for the same reason.",
								 nslow - 1)
					 : 0));
	if (nidle > 0)
		ereport(LOG,
				(errmsg("nagare broker: closing connection from %s: idle longer than nagare.connections_max_idle (%d ms)",
						idle_peer, nagare_connections_max_idle_ms),
				 nidle > 1 ? errdetail("%d more idle connections were closed.", nidle - 1)
						   : 0));
}

/* The connection's number, unique while the broker runs */
uint64
nagare_conn_id(NagareConn *conn)
{
	return conn->id;
}

/* When the connection was accepted */
TimestampTz
nagare_conn_since(NagareConn *conn)
{
	return conn->since;
}

/* Requests of conn taken and not yet answered (responses queued, sent or not) */
int
nagare_conn_in_flight(NagareConn *conn)
{
	return conn->npending;
}

/* Remember that the loop must wake at when (nagare_net_next_due) */
static void
note_due(TimestampTz when)
{
	if (next_unmute == 0 || when < next_unmute)
		next_unmute = when;
}

/*
 * Mute conn until until (KIP-219, for throttle.c): no frame of it is handed
 * on and nothing more is read from it before then, while its queued
 * responses still go out.  A later mute extends an earlier one, never
 * shortens it.
 */
void
nagare_conn_mute(NagareConn *conn, TimestampTz until)
{
	if (conn->closing || until <= conn->muted_until)
		return;
	conn->muted_until = until;
	if (!conn->muted)
	{
		conn->muted = true;
		dlist_push_tail(&muted_conns, &conn->mute_node);
	}
	note_due(until);
}

/*
 * Each loop turn: unmute the connections whose throttle ended (and hand
 * on the frames they sent meanwhile), close the refused sockets whose
 * throttle ended, and let paused listeners accept again.
 */
void
nagare_net_unmute(TimestampTz now)
{
	dlist_mutable_iter iter;
	dlist_head	due = DLIST_STATIC_INIT(due);
	int			i;

	wake_mem_waiters();
	if (next_unmute == 0 || now < next_unmute)
		return;
	next_unmute = 0;
	dlist_foreach_modify (iter, &muted_conns)
	{
		NagareConn *c = dlist_container(NagareConn, mute_node, iter.cur);

		if (c->muted_until <= now)
		{
			dlist_delete(&c->mute_node);
			dlist_push_tail(&due, &c->mute_node);
		}
		else
			note_due(c->muted_until);
	}
	dlist_foreach_modify (iter, &delayed_closes)
	{
		DelayedClose *d = dlist_container(DelayedClose, node, iter.cur);

		if (d->until <= now)
		{
			close(d->fd);
			dlist_delete(&d->node);
			ndelayed_closes--;
			pfree(d);
		}
		else
			note_due(d->until);
	}
	for (i = 0; i < nlisteners; i++)
	{
		Listener   *l = &listeners[i];

		if (l->paused_until == 0)
			continue;
		if (l->paused_until <= now)
		{
			l->paused_until = 0;
			start_accept(l);
		}
		else
			note_due(l->paused_until);
	}
	/* last: handing frames on may mute a connection again */
	while (!dlist_is_empty(&due))
	{
		NagareConn *c = dlist_container(NagareConn, mute_node, dlist_pop_head_node(&due));

		c->muted = false;
		c->muted_until = 0;
		if (c->closing)
			continue;
		conn_input(c);
		start_send(c);
		start_recv(c);
	}
}

/* When nagare_net_unmute() has something to do next (0: nothing) */
TimestampTz
nagare_net_next_due(void)
{
	return next_unmute;
}

/* throttle.c's state of conn (NULL until it makes one) */
NagareConnQuota **
nagare_conn_quota(NagareConn *conn)
{
	return &conn->quota;
}

/* What meter.c keeps for conn (NULL before it is open) */
NagareMeterConn *
nagare_conn_meter(NagareConn *conn)
{
	return conn->meter;
}

/* Until when conn is muted by a throttle (0: it is not) */
TimestampTz
nagare_conn_muted_until(NagareConn *conn)
{
	return conn->muted_until;
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

/* The name of the listener conn came in on ("PLAINTEXT", "SSL", ...) */
const char *
nagare_conn_listener(NagareConn *conn)
{
	return conn->listener->name;
}

/*
 * Where the clients of conn's listener reach the broker, for Metadata and
 * FindCoordinator: nagare.advertised_listeners' entry for the listener if
 * it has one (an empty host there: the address the client connected to);
 * else nagare.advertised_host, or the address the client connected to, and
 * the listener's port (nagare.advertised_port for the listeners of
 * nagare.listen_addresses, if set).
 */
void
nagare_conn_advertised_address(NagareConn *conn, char *host, size_t hostlen, int32 *port)
{
	Listener   *l = conn->listener;
	const char *text = nagare_advertised_listeners ? nagare_advertised_listeners : "";
	int			i;

	if (advertised_text == NULL || strcmp(advertised_text, text) != 0)
	{
		MemoryContext old = MemoryContextSwitchTo(net_context);

		if (advertised)
			pfree(advertised);
		if (advertised_text)
			pfree(advertised_text);
		advertised_text = pstrdup(text);
		nadvertised = parse_listener_list(text, "nagare.advertised_listeners", &advertised);
		MemoryContextSwitchTo(old);
	}
	for (i = 0; i < nadvertised; i++)
		if (strcmp(advertised[i].name, l->name) == 0)
		{
			if (advertised[i].host[0] != '\0')
				strlcpy(host, advertised[i].host, hostlen);
			else if (!nagare_conn_local_address(conn, host, hostlen))
				strlcpy(host, "localhost", hostlen);
			*port = advertised[i].port;
			return;
		}
	if (nagare_advertised_host && nagare_advertised_host[0] != '\0')
		strlcpy(host, nagare_advertised_host, hostlen);
	else if (!nagare_conn_local_address(conn, host, hostlen))
		strlcpy(host, "localhost", hostlen);
	*port = (l->legacy && nagare_advertised_port > 0) ? nagare_advertised_port : l->port;
}
