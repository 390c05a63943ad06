/*-------------------------------------------------------------------------
 *
 * dns_server.c
 *	  The "nagare dns" background worker: the registry's DNS server, on UDP
 *	  and TCP, answering from the shared instance table (../instances) with
 *	  the codec of dns.[ch].
 *
 * One process, no threads, no database connection and no SQL: a loop on
 * PostgreSQL's WaitEventSet (its latch, postmaster death, a UDP and a TCP
 * socket per address of nagare.dns_listen_addresses, each TCP connection).
 *
 * Answers come from a process-local index: the services (lower case,
 * sorted, found by binary search) with copies of their instances, built from
 * nagare_instance_snapshot() when nagare_instance_version() moved since the
 * last build, which is read once per batch of datagrams or TCP read; a
 * query walks its service's instances only.  A beat that keeps an
 * instance's status does not move the version, so the copies' last beats
 * may be old: an instance whose copy looks past its TTL is read again from
 * the table (nagare_instance_find(), the table's lock shared) and left out
 * only if the live entry's TTL lapsed too; the copy takes the live beat, and
 * a lapsed one is read again at most every DNS_RECHECK_MS until the nagare
 * worker's sweep marks it critical (which moves the version).
 *
 * Which instances answer (Consul's DNS defaults): passing and warning ones;
 * only passing ones with nagare.dns_only_passing (Consul's only_passing);
 * never critical ones, nor ones whose TTL lapsed since their last beat
 * (before the sweep marks them).  An instance whose address is a host name
 * (not an IP literal) is answered as Consul does (dns.h): an SRV record
 * with the name as its target, and for A, AAAA, ANY and CNAME questions a
 * CNAME to the name of the first such instance, only when no answering
 * instance has an IP address.  Until the
 * nagare worker has loaded the table, service names get SERVFAIL.  Each answer
 * starts at the next instance of its service (a rotation, where Consul
 * shuffles), so that answers cut at 512 bytes spread over all of them.
 *
 * UDP: on readiness, up to DNS_BATCH datagrams are received with one
 * recvmmsg() and answered with one sendmmsg(), at most DNS_UDP_ROUNDS
 * rounds before the other sockets get their turn; buffers are static, and
 * nothing is allocated per query.  TCP (RFC 7766): length-prefixed
 * messages, several per connection, answered in order; each connection has
 * a receive buffer of DNS_TCP_IN bytes (a longer message closes it), an
 * output buffer read from while an answer of 64 KiB still fits (a client
 * that does not read its answers is not read from), and DNS_TCP_IDLE_MS
 * without traffic, or since a message's first byte came, closes it; at most
 * DNS_MAX_CONNS connections, more are closed at once.  Sockets are
 * non-blocking, so no client waits on another.
 *
 * Bad packets get the codec's answer (FORMERR, NOTIMP, BADVERS, REFUSED);
 * each is logged at most DNS_BAD_LOG_BURST times in DNS_BAD_LOG_WINDOW_MS.
 *
 * The wall, as ../web/web.c's: while a Kafka listener authenticates its
 * clients (broker/net.c), only loopback addresses are served; others are
 * refused at start with a LOG line and a hint.
 *
 * Copyright (c) 2026, the nagare authors
 *
 * src/registry/dns_server.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "miscadmin.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "broker/net.h"
#include "instances/instances.h"
#include "loglimit.h"
#include "nagare.h"
#include "registry/dns.h"
#include "registry/dns_server.h"
#include "shmem.h"

#define DNS_MAX_LISTENERS     16 /* addresses; each a UDP and a TCP socket */
#define DNS_MAX_CONNS         128
#define DNS_BATCH             64 /* datagrams per recvmmsg() */
#define DNS_UDP_ROUNDS        8 /* recvmmsg() calls per readiness */
#define DNS_UDP_IN            4096 /* a longer datagram is cut (FORMERR) */
#define DNS_UDP_RCVBUF        (4 * 1024 * 1024)
#define DNS_TCP_IN            (2 + 4096) /* a longer message closes the connection */
#define DNS_TCP_OUT           (2 * (2 + DNS_TCP_MAX))
#define DNS_TCP_IDLE_MS       10000
#define DNS_RECHECK_MS        100
#define DNS_BAD_LOG_BURST     5
#define DNS_BAD_LOG_WINDOW_MS 10000

typedef struct DnsListener
{
	pgsocket fd;
	bool udp;
	char where[128];
} DnsListener;

typedef struct DnsConn
{
	pgsocket fd;
	char peer[64];
	uint32 registered; /* the events the wait set has for it */
	bool closing; /* close once out is sent */
	TimestampTz last_activity;
	TimestampTz msg_start; /* the first byte of the unfinished message; 0: none */
	size_t in_len;
	size_t out_len;
	size_t out_sent;
	uint8 in[DNS_TCP_IN];
	uint8 out[DNS_TCP_OUT];
} DnsConn;

/* An instance in the index: what an answer needs, and what a recheck does */
typedef struct DnsInst
{
	uint8 ip[16];
	int addr_len; /* 4 or 16; 0: the address is a host name */
	const uint8 *host; /* addr_len 0: the name, wire form (the index's context) */
	size_t host_len;
	uint16 port;
	int status;
	int64 ttl_ms; /* 0: no check */
	TimestampTz last_beat;
	TimestampTz recheck_at; /* lapsed when read last: not before this again */
	int ntags;
	const char *tags; /* each NUL-terminated, in the index's context */
	char id[NAGARE_INSTANCE_ID_MAX];
} DnsInst;

typedef struct DnsService
{
	char name[NAGARE_INSTANCE_SERVICE_MAX]; /* lower case */
	int first; /* in index_inst */
	int n;
	uint32 next; /* the rotation */
} DnsService;

static DnsListener listeners[DNS_MAX_LISTENERS * 2];
static int nlisteners = 0;
static DnsConn *conns[DNS_MAX_CONNS];
static int nconns = 0;
static WaitEventSet *wait_set = NULL;
static bool wait_set_dirty = true;

static DnsZone zone;

/* the index: rebuilt in index_cxt when the table's version moved */
static MemoryContext index_cxt;
static bool index_valid = false;
static uint64 index_version = 0;
static DnsService *index_services = NULL;
static int index_nservices = 0;
static DnsInst *index_inst = NULL;

/* a batch's clock: the TTL checks' now, the SOA's serial */
static TimestampTz batch_now;
static uint32 batch_serial;

/* UDP: static buffers for a batch */
static uint8 udp_in[DNS_BATCH][DNS_UDP_IN];
static uint8 udp_out[DNS_BATCH][DNS_EDNS_MAX];
static struct sockaddr_storage udp_peer[DNS_BATCH];
static struct iovec udp_in_iov[DNS_BATCH];
static struct iovec udp_out_iov[DNS_BATCH];
static struct mmsghdr udp_in_msg[DNS_BATCH];
static struct mmsghdr udp_out_msg[DNS_BATCH];

static DnsAnswer answer_scratch; /* 4 KiB of target slots: not on the stack */

static NagareLogLimit bad_log = NAGARE_LOG_LIMIT(DNS_BAD_LOG_BURST, DNS_BAD_LOG_WINDOW_MS);

/* errdetail() of the lines bad_log left out, if any */
static int
bad_log_skipped_detail(void)
{
	int n = nagare_log_skipped(&bad_log);

	return n > 0 ? errdetail("%d more bad queries were not logged before this one.", n) : 0;
}

/* One socket of a listening address; false (logged) if it could not be had */
static bool
open_socket(const struct addrinfo *ai, bool udp, const char *where)
{
	int one = 1;
	int type = (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
	pgsocket fd = socket(ai->ai_family, type, 0);
	DnsListener *l;

	if (fd == PGINVALID_SOCKET)
	{
		ereport(LOG, (errmsg("nagare dns: could not create a %s socket for %s: %m",
							 udp ? "UDP" : "TCP", where)));
		return false;
	}
	if (!udp)
		(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	else
	{
		int size = DNS_UDP_RCVBUF;

		/* bursts wait in the kernel rather than being dropped (capped by rmem_max) */
		(void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	}
	if (ai->ai_family == AF_INET6)
		(void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || (!udp && listen(fd, 128) != 0))
	{
		ereport(LOG, (errmsg("nagare dns: could not listen on %s (%s): %m", where,
							 udp ? "UDP" : "TCP"),
					  errhint("Is another process using nagare.dns_port (%d)?",
							  nagare_dns_port)));
		close(fd);
		return false;
	}
	l = &listeners[nlisteners++];
	l->fd = fd;
	l->udp = udp;
	strlcpy(l->where, where, sizeof(l->where));
	return true;
}

/*
 * A UDP and a TCP socket on every address of nagare.dns_listen_addresses
 * ("*": all) at nagare.dns_port, but for the wall.  Returns how many
 * addresses the wall refused.
 */
static int
open_listeners(void)
{
	char *list = pstrdup(nagare_dns_listen_addresses);
	char *tok;
	char *save;
	char portstr[16];
	bool walled = nagare_net_configured_authenticating_listeners() > 0;
	int refused = 0;

	snprintf(portstr, sizeof(portstr), "%d", nagare_dns_port);
	for (tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
	{
		struct addrinfo hints;
		struct addrinfo *res;
		struct addrinfo *ai;
		const char *host = strcmp(tok, "*") == 0 ? NULL : tok;
		int rc;

		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_DGRAM;
		hints.ai_flags = AI_PASSIVE;
		rc = getaddrinfo(host, portstr, &hints, &res);
		if (rc != 0)
		{
			ereport(LOG,
					(errmsg("nagare dns: could not resolve \"%s\" of nagare.dns_listen_addresses: %s",
							tok, gai_strerror(rc))));
			continue;
		}
		for (ai = res; ai != NULL; ai = ai->ai_next)
		{
			char where[128];

			nagare_net_addr_text(ai->ai_addr, ai->ai_addrlen, where, sizeof(where));
			if (walled && !nagare_net_is_loopback(ai->ai_addr))
			{
				ereport(LOG,
						(errmsg("nagare dns: not listening on %s: the DNS server has no login, and a Kafka listener authenticates its clients",
								where),
						 errhint(
							 "Set nagare.dns_listen_addresses to loopback addresses (localhost, 127.0.0.1, ::1) and forward to them from a local resolver, or serve no authenticating Kafka listener.")));
				refused++;
				continue;
			}
			if (nlisteners / 2 == DNS_MAX_LISTENERS)
			{
				ereport(LOG,
						(errmsg("nagare dns: not listening on %s: more than %d addresses",
								where, DNS_MAX_LISTENERS)));
				continue;
			}
			if (!open_socket(ai, true, where))
				continue;
			if (!open_socket(ai, false, where))
			{
				close(listeners[--nlisteners].fd);
				continue;
			}
			ereport(LOG, (errmsg("nagare dns: listening on %s (UDP and TCP)", where)));
		}
		freeaddrinfo(res);
	}
	pfree(list);
	return refused;
}

/* ---- the index ---- */

static int
service_cmp(const void *a, const void *b)
{
	const NagareInstance *x = *(NagareInstance *const *) a;
	const NagareInstance *y = *(NagareInstance *const *) b;

	return strcmp(x->service, y->service);
}

/* Rebuild the index if the table's version moved since it was built */
static void
index_refresh(void)
{
	uint64 version = nagare_instance_version();
	NagareInstance *copies;
	NagareInstance **order;
	MemoryContext old;
	int n;
	int i;
	int k;

	if (index_valid && version == index_version)
		return;
	index_valid = false;
	MemoryContextReset(index_cxt);
	index_services = NULL;
	index_nservices = 0;
	index_inst = NULL;
	old = MemoryContextSwitchTo(index_cxt);
	n = nagare_instance_snapshot(&copies);
	order = palloc(sizeof(NagareInstance *) * Max(n, 1));
	k = 0;
	for (i = 0; i < n; i++)
	{
		NagareInstance *e = &copies[i];
		char *p;
		uint8 wire[DNS_MAX_NAME];
		size_t wlen;

		/* an address neither an IP literal nor a host name: no record to give */
		if (e->family != 4 && e->family != 6 &&
			!nagare_dns_name_to_wire(e->address, wire, &wlen))
			continue;
		for (p = e->service; *p; p++)
			*p = pg_ascii_tolower((unsigned char) *p);
		order[k++] = e;
	}
	if (k > 1)
		qsort(order, k, sizeof(NagareInstance *), service_cmp);
	index_inst = palloc(sizeof(DnsInst) * Max(k, 1));
	index_services = palloc0(sizeof(DnsService) * Max(k, 1));
	for (i = 0; i < k; i++)
	{
		NagareInstance *e = order[i];
		DnsInst *d = &index_inst[i];
		char *tags;

		memset(d, 0, sizeof(*d));
		if (e->family == 4 || e->family == 6)
		{
			d->addr_len = e->family == 4 ? 4 : 16;
			memcpy(d->ip, e->ip, d->addr_len);
		}
		else
		{
			uint8 wire[DNS_MAX_NAME];

			/* a host name (checked above) */
			if (nagare_dns_name_to_wire(e->address, wire, &d->host_len))
			{
				uint8 *host = palloc(d->host_len);

				memcpy(host, wire, d->host_len);
				d->host = host;
			}
		}
		d->port = (uint16) e->port;
		d->status = e->status;
		d->ttl_ms = e->ttl_ms;
		d->last_beat = e->last_beat;
		d->ntags = e->ntags;
		tags = palloc(e->tags_len + 1);
		memcpy(tags, e->tags, e->tags_len);
		tags[e->tags_len] = '\0';
		d->tags = tags;
		strlcpy(d->id, e->id, sizeof(d->id));
		if (index_nservices == 0 ||
			strcmp(index_services[index_nservices - 1].name, e->service) != 0)
		{
			DnsService *s = &index_services[index_nservices++];

			strlcpy(s->name, e->service, sizeof(s->name));
			s->first = i;
		}
		index_services[index_nservices - 1].n++;
	}
	pfree(order);
	pfree(copies);
	MemoryContextSwitchTo(old);
	index_version = version;
	index_valid = true;
}

static DnsService *
index_find(const char *name)
{
	int lo = 0;
	int hi = index_nservices - 1;

	while (lo <= hi)
	{
		int mid = (lo + hi) / 2;
		int c = strcmp(index_services[mid].name, name);

		if (c == 0)
			return &index_services[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

static bool
status_answers(int status)
{
	return status == NAGARE_INSTANCE_PASSING ||
		   (status == NAGARE_INSTANCE_WARNING && !nagare_dns_only_passing);
}

/* Does the instance answer now: its status, and its TTL not lapsed */
static bool
inst_answers(DnsInst *d)
{
	NagareInstance live;

	if (!status_answers(d->status))
		return false;
	if (d->ttl_ms <= 0 || batch_now - d->last_beat <= d->ttl_ms * 1000)
		return true;
	/* the copy's beat may be old (a beat keeping the status moves no version) */
	if (batch_now < d->recheck_at)
		return false;
	if (!nagare_instance_find(d->id, &live))
		return false; /* removed: the version moved, the next batch rebuilds */
	d->last_beat = live.last_beat;
	d->status = live.status;
	if (status_answers(d->status) && batch_now - d->last_beat <= d->ttl_ms * 1000)
		return true;
	d->recheck_at = TimestampTzPlusMilliseconds(batch_now, DNS_RECHECK_MS);
	return false;
}

static bool
inst_has_tag(const DnsInst *d, const char *tag)
{
	const char *p = d->tags;
	int i;

	for (i = 0; i < d->ntags; i++)
	{
		if (pg_strcasecmp(p, tag) == 0)
			return true;
		p += strlen(p) + 1;
	}
	return false;
}

/*
 * The answer to one message, in out (cap bytes); 0 when nothing is to be
 * sent.  dns.h gives the sequence.
 */
static size_t
answer(const uint8 *msg, size_t len, uint8 *out, size_t cap, DnsTransport t,
	   const char *peer_sa, socklen_t peer_len)
{
	DnsQuery q;
	DnsAnswer *a = &answer_scratch;
	DnsName name;
	DnsRcode rc = nagare_dns_parse_query(msg, len, &q);
	DnsService *s;
	bool found = false;
	uint32 ttl = (uint32) nagare_dns_ttl;
	int i;

	if (rc == DNS_DROP || !nagare_dns_begin(a, &q, &zone, t, ttl, batch_serial, out, cap))
		return 0;
	if (rc != DNS_NOERROR)
	{
		if (rc != DNS_NOTIMP && nagare_log_due(&bad_log))
		{
			char peer[128];

			if (peer_sa != NULL)
				nagare_net_addr_text((const struct sockaddr *) peer_sa, peer_len, peer,
									 sizeof(peer));
			else
				strlcpy(peer, "a TCP client", sizeof(peer));
			ereport(LOG,
					(errmsg("nagare dns: bad query from %s (%zu bytes): answered rcode %d",
							peer, len, (int) rc),
					 bad_log_skipped_detail()));
		}
		return nagare_dns_finish(a, rc);
	}
	switch (nagare_dns_interpret(&q, &zone, &name))
	{
		case DNS_NAME_NOT_OURS:
			return nagare_dns_finish(a, DNS_REFUSED);
		case DNS_NAME_INVALID:
			return nagare_dns_finish(a, DNS_NXDOMAIN);
		case DNS_NAME_APEX:
			if (q.qtype == DNS_TYPE_SOA || q.qtype == DNS_TYPE_ANY)
				(void) nagare_dns_add_soa(a);
			return nagare_dns_finish(a, DNS_NOERROR);
		case DNS_NAME_ADDR:
			(void) nagare_dns_add_address(a, name.addr, name.addr_len);
			return nagare_dns_finish(a, DNS_NOERROR);
		case DNS_NAME_SERVICE:
		case DNS_NAME_SRV_RFC2782:
			break;
	}
	/* the nagare worker has not loaded the table yet: no answer is known */
	if (pg_atomic_read_u32(&nagare_instances->loaded) == 0)
		return nagare_dns_finish(a, DNS_SERVFAIL);
	s = index_find(name.service);
	if (s != NULL && s->n > 0)
	{
		uint32 start = s->next++ % (uint32) s->n;
		bool any_ip = false;
		DnsInst *named = NULL; /* the first answering instance with a host name */

		for (i = 0; i < s->n; i++)
		{
			DnsInst *d = &index_inst[s->first + (start + i) % (uint32) s->n];
			bool fit;

			if (name.tag[0] != '\0' && !inst_has_tag(d, name.tag))
				continue;
			if (!inst_answers(d))
				continue;
			found = true;
			if (d->addr_len == 0)
			{
				if (named == NULL)
					named = d;
				/* SRV: the name as the target; else a CNAME, below, maybe */
				if (q.qtype != DNS_TYPE_SRV)
					continue;
				fit = nagare_dns_add_srv_name(a, 1, 1, d->port, d->host, d->host_len);
			}
			else
			{
				any_ip = true;
				fit = nagare_dns_add_instance(a, d->ip, d->addr_len, d->port, 1);
			}
			if (!fit)
				break;
		}
		/* a CNAME only where it is the name's only record (dns.h) */
		if (named != NULL && !any_ip && q.qtype != DNS_TYPE_SRV &&
			(q.qtype == DNS_TYPE_A || q.qtype == DNS_TYPE_AAAA ||
			 q.qtype == DNS_TYPE_ANY || q.qtype == DNS_TYPE_CNAME))
			(void) nagare_dns_add_cname(a, named->host, named->host_len);
	}
	return nagare_dns_finish(a, found ? DNS_NOERROR : DNS_NXDOMAIN);
}

static void
batch_begin(void)
{
	index_refresh();
	batch_now = GetCurrentTimestamp();
	batch_serial = (uint32) time(NULL);
}

/* ---- UDP ---- */

static void
udp_readable(pgsocket fd)
{
	int round;
	int i;

	for (round = 0; round < DNS_UDP_ROUNDS; round++)
	{
		int n;
		int nout = 0;
		int sent = 0;

		for (i = 0; i < DNS_BATCH; i++)
		{
			udp_in_iov[i].iov_base = udp_in[i];
			udp_in_iov[i].iov_len = DNS_UDP_IN;
			memset(&udp_in_msg[i], 0, sizeof(udp_in_msg[i]));
			udp_in_msg[i].msg_hdr.msg_iov = &udp_in_iov[i];
			udp_in_msg[i].msg_hdr.msg_iovlen = 1;
			udp_in_msg[i].msg_hdr.msg_name = &udp_peer[i];
			udp_in_msg[i].msg_hdr.msg_namelen = sizeof(udp_peer[i]);
		}
		n = recvmmsg(fd, udp_in_msg, DNS_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return; /* EAGAIN: all read; other errors (ICMP): next readiness */
		batch_begin();
		for (i = 0; i < n; i++)
		{
			size_t len = udp_in_msg[i].msg_len;
			size_t out;

			out = answer(udp_in[i], len, udp_out[i], DNS_EDNS_MAX, DNS_UDP,
						 (const char *) &udp_peer[i], udp_in_msg[i].msg_hdr.msg_namelen);
			if (out == 0)
				continue;
			udp_out_iov[nout].iov_base = udp_out[i];
			udp_out_iov[nout].iov_len = out;
			memset(&udp_out_msg[nout], 0, sizeof(udp_out_msg[nout]));
			udp_out_msg[nout].msg_hdr.msg_iov = &udp_out_iov[nout];
			udp_out_msg[nout].msg_hdr.msg_iovlen = 1;
			udp_out_msg[nout].msg_hdr.msg_name = &udp_peer[i];
			udp_out_msg[nout].msg_hdr.msg_namelen = udp_in_msg[i].msg_hdr.msg_namelen;
			nout++;
		}
		while (sent < nout)
		{
			int r = sendmmsg(fd, udp_out_msg + sent, nout - sent, MSG_DONTWAIT);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				sent++; /* that datagram's peer is gone or the buffer full: drop it */
			else
				sent += r;
		}
		if (n < DNS_BATCH)
			return;
	}
}

/* ---- TCP ---- */

static void
conn_close(DnsConn *c)
{
	int i;

	for (i = 0; i < nconns; i++)
		if (conns[i] == c)
		{
			conns[i] = conns[--nconns];
			break;
		}
	close(c->fd);
	pfree(c);
	wait_set_dirty = true;
}

static bool
conn_live(DnsConn *c)
{
	int i;

	for (i = 0; i < nconns; i++)
		if (conns[i] == c)
			return true;
	return false;
}

static void
accept_all(pgsocket lfd)
{
	for (;;)
	{
		struct sockaddr_storage sa;
		socklen_t salen = sizeof(sa);
		pgsocket fd =
			accept4(lfd, (struct sockaddr *) &sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		DnsConn *c;
		int one = 1;

		if (fd == PGINVALID_SOCKET)
		{
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
				errno != ECONNABORTED && nagare_log_due(&bad_log))
				ereport(LOG, (errmsg("nagare dns: could not accept a connection: %m")));
			return;
		}
		if (nconns == DNS_MAX_CONNS)
		{
			close(fd);
			if (nagare_log_due(&bad_log))
				ereport(LOG,
						(errmsg("nagare dns: refused a TCP connection: %d connections already",
								DNS_MAX_CONNS),
						 bad_log_skipped_detail()));
			continue;
		}
		(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = MemoryContextAlloc(TopMemoryContext, sizeof(DnsConn));
		c->fd = fd;
		c->registered = 0;
		c->closing = false;
		c->in_len = 0;
		c->out_len = 0;
		c->out_sent = 0;
		c->last_activity = GetCurrentTimestamp();
		c->msg_start = 0;
		nagare_net_addr_text((struct sockaddr *) &sa, salen, c->peer, sizeof(c->peer));
		conns[nconns++] = c;
		wait_set_dirty = true;
	}
}

/* Answer the whole messages received while an answer of 64 KiB fits in out */
static void
conn_process(DnsConn *c)
{
	size_t off = 0;
	bool begun = false;

	while (!c->closing)
	{
		long len = nagare_dns_tcp_frame_length(c->in + off, c->in_len - off);
		size_t n;

		if (len < 0)
			break;
		if ((size_t) len + 2 > DNS_TCP_IN)
		{
			if (nagare_log_due(&bad_log))
				ereport(LOG,
						(errmsg("nagare dns: closing the TCP connection of %s: a message of %ld bytes",
								c->peer, len),
						 bad_log_skipped_detail()));
			c->closing = true;
			off = c->in_len;
			break;
		}
		if (c->in_len - off < (size_t) len + 2)
			break;
		if (c->out_sent > 0)
		{
			memmove(c->out, c->out + c->out_sent, c->out_len - c->out_sent);
			c->out_len -= c->out_sent;
			c->out_sent = 0;
		}
		if (DNS_TCP_OUT - c->out_len < 2 + DNS_TCP_MAX)
			break; /* its answers are not read: neither are its queries */
		if (!begun)
		{
			batch_begin();
			begun = true;
		}
		n = answer(c->in + off + 2, (size_t) len, c->out + c->out_len + 2, DNS_TCP_MAX,
				   DNS_TCP, NULL, 0);
		off += (size_t) len + 2;
		if (n == 0)
		{
			/* a response, or a runt: nothing to say, and the stream is suspect */
			c->closing = true;
			break;
		}
		nagare_dns_tcp_put_length(c->out + c->out_len, n);
		c->out_len += n + 2;
	}
	if (off > 0)
	{
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
		/* what is left is a message begun now (or one waiting for room) */
		c->msg_start = c->in_len > 0 ? GetCurrentTimestamp() : 0;
	}
}

/* Send what out holds; false if the connection was closed */
static bool
conn_flush(DnsConn *c)
{
	while (c->out_sent < c->out_len)
	{
		ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent,
						 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return true;
			conn_close(c);
			return false;
		}
		c->out_sent += n;
		c->last_activity = GetCurrentTimestamp();
	}
	c->out_len = 0;
	c->out_sent = 0;
	if (c->closing)
	{
		conn_close(c);
		return false;
	}
	return true;
}

static void
conn_readable(DnsConn *c)
{
	for (;;)
	{
		ssize_t n;

		if (c->in_len == DNS_TCP_IN)
			break;
		n = recv(c->fd, c->in + c->in_len, DNS_TCP_IN - c->in_len, MSG_DONTWAIT);
		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_close(c);
			return;
		}
		if (n == 0)
		{
			/* the client is done sending: answer what came whole, then close */
			conn_process(c);
			c->closing = true;
			wait_set_dirty = true;
			(void) conn_flush(c);
			return;
		}
		if (c->in_len == 0)
			c->msg_start = GetCurrentTimestamp();
		c->in_len += n;
		c->last_activity = GetCurrentTimestamp();
	}
	conn_process(c);
	(void) conn_flush(c);
}

/* readable unless closing or out is too full to answer into; writable while out waits */
static uint32
conn_events(DnsConn *c)
{
	uint32 ev = 0;
	bool pending = c->out_sent < c->out_len;

	if (pending)
		ev |= WL_SOCKET_WRITEABLE;
	if (!c->closing &&
		!(pending && DNS_TCP_OUT - (c->out_len - c->out_sent) < 2 + DNS_TCP_MAX))
		ev |= WL_SOCKET_READABLE;
	return ev != 0 ? ev : WL_SOCKET_WRITEABLE;
}

static void
rebuild_wait_set(void)
{
	int i;

	if (wait_set)
		FreeWaitEventSet(wait_set);
	wait_set = NULL;
	wait_set = CreateWaitEventSet(TopMemoryContext, 2 + nlisteners + nconns);
	AddWaitEventToSet(wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (i = 0; i < nlisteners; i++)
		AddWaitEventToSet(wait_set, WL_SOCKET_READABLE, listeners[i].fd, NULL,
						  &listeners[i]);
	for (i = 0; i < nconns; i++)
	{
		DnsConn *c = conns[i];

		c->registered = conn_events(c);
		AddWaitEventToSet(wait_set, c->registered, c->fd, NULL, c);
	}
	wait_set_dirty = false;
}

/*
 * Close connections idle too long, or whose message took too long to come
 * (a client trickling a byte at a time); ms to the next deadline
 */
static long
check_timeouts(void)
{
	TimestampTz now = GetCurrentTimestamp();
	long next = DNS_TCP_IDLE_MS;
	int i;

	for (i = nconns - 1; i >= 0; i--)
	{
		DnsConn *c = conns[i];
		TimestampTz deadline =
			TimestampTzPlusMilliseconds(c->last_activity, DNS_TCP_IDLE_MS);

		if (c->in_len > 0 && c->msg_start != 0)
			deadline =
				Min(deadline, TimestampTzPlusMilliseconds(c->msg_start, DNS_TCP_IDLE_MS));

		if (now >= deadline)
		{
			if (c->in_len > 0 && nagare_log_due(&bad_log))
				ereport(LOG,
						(errmsg("nagare dns: closing the TCP connection of %s: a message not received or not answered within %d ms",
								c->peer, DNS_TCP_IDLE_MS),
						 bad_log_skipped_detail()));
			conn_close(c);
			continue;
		}
		next = Min(next, (long) ((deadline - now) / 1000) + 1);
	}
	return next;
}

static void
zone_from_settings(void)
{
	DnsZone z;

	if (nagare_dns_zone_init(&z, nagare_dns_domain, nagare_dns_datacenter))
		zone = z;
	else
		ereport(LOG,
				(errmsg("nagare dns: nagare.dns_domain \"%s\" or nagare.dns_datacenter \"%s\" is not valid; keeping the previous ones",
						nagare_dns_domain, nagare_dns_datacenter)));
}

void
nagare_dns_main(Datum main_arg)
{
	WaitEvent events[32];
	int refused;
	sigjmp_buf local_sigjmp_buf;

	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	index_cxt = AllocSetContextCreate(TopMemoryContext, "nagare dns index",
									  ALLOCSET_DEFAULT_SIZES);
	if (!nagare_dns_zone_init(&zone, nagare_dns_domain, nagare_dns_datacenter))
	{
		ereport(WARNING,
				(errmsg("nagare dns: nagare.dns_domain \"%s\" or nagare.dns_datacenter \"%s\" is not valid; the DNS server is off",
						nagare_dns_domain, nagare_dns_datacenter),
				 errhint(
					 "The domain is one or more labels of letters, digits and hyphens separated by dots (\"consul\", \"svc.example\"); the datacenter one such label, or empty.")));
		proc_exit(0);
	}
	refused = open_listeners();
	if (nlisteners == 0)
	{
		ereport(WARNING,
				(errmsg("nagare dns: could not listen on any address of \"%s\" port %d; the DNS server is off",
						nagare_dns_listen_addresses, nagare_dns_port),
				 refused > 0
					 ? 0
					 : errhint(
						   "Check nagare.dns_listen_addresses and nagare.dns_port, and that no other process uses the port; or set nagare.dns_listen_addresses = '' to turn the DNS server off.")));
		proc_exit(0);
	}

	/*
	 * An ERROR (out of memory building the index) is logged, the index built
	 * again at the next query, and the loop goes on.
	 */
	if (sigsetjmp(local_sigjmp_buf, 1) != 0)
	{
		error_context_stack = NULL;
		HOLD_INTERRUPTS();
		EmitErrorReport();
		FlushErrorState();
		MemoryContextSwitchTo(TopMemoryContext);
		index_valid = false;
		index_nservices = 0;
		wait_set_dirty = true;
		RESUME_INTERRUPTS();
	}
	PG_exception_stack = &local_sigjmp_buf;

	for (;;)
	{
		long timeout;
		int n;
		int i;

		timeout = check_timeouts();
		for (i = 0; i < nconns && !wait_set_dirty; i++)
			if (conn_events(conns[i]) != conns[i]->registered)
				wait_set_dirty = true;
		if (wait_set_dirty)
			rebuild_wait_set();
		n = WaitEventSetWait(wait_set, timeout, events, lengthof(events),
							 PG_WAIT_EXTENSION);
		for (i = 0; i < n; i++)
		{
			WaitEvent *ev = &events[i];
			DnsConn *c;

			if (ev->events & WL_LATCH_SET)
			{
				ResetLatch(MyLatch);
				continue;
			}
			if (ev->user_data == NULL)
				continue;
			if ((char *) ev->user_data >= (char *) listeners &&
				(char *) ev->user_data < (char *) (listeners + nlisteners))
			{
				DnsListener *l = ev->user_data;

				if (l->udp)
					udp_readable(l->fd);
				else
					accept_all(l->fd);
				continue;
			}
			c = ev->user_data;
			/* an earlier event of this turn may have closed it */
			if (!conn_live(c))
				continue;
			if ((ev->events & WL_SOCKET_WRITEABLE) && !conn_flush(c))
				continue;
			if (ev->events & WL_SOCKET_READABLE)
			{
				if (!c->closing)
					conn_readable(c);
			}
			else
			{
				/* output sent: answer the messages received meanwhile */
				conn_process(c);
				(void) conn_flush(c);
			}
		}
		if (ShutdownRequestPending)
			proc_exit(0);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			zone_from_settings();
		}
	}
}
