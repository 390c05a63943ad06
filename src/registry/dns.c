/*-------------------------------------------------------------------------
 *
 * dns.c
 *	  The DNS wire codec of the service registry (see dns.h).
 *
 * The query is untrusted: every read is bounded by its length, a question
 * name may not use compression (a pointer, or RFC 6891's extended label
 * types, is FORMERR), and records in the other sections are skipped
 * without following their pointers, so no input can loop.
 *
 * The answer is written front to back into the caller's buffer, except the
 * additional records (the addresses of SRV targets), which must follow the
 * authority section: they are written from the end of the buffer backwards,
 * and nagare_dns_finish puts them in order and moves them into place.  Their owner names are
 * pointers to the SRV targets in the answer section, which never move.
 * Every owner name in the answer section is a pointer to the question's
 * name (offset 12), so the answer spells it as the client did (0x20
 * randomisation); targets and the SOA point into the question's domain.
 *
 * Copyright (c) 2026, the nagare authors
 *
 * src/registry/dns.c
 *
 *-------------------------------------------------------------------------
 */
#include <stddef.h>
#include <string.h>

#include "registry/dns.h"

/* Header flags */
#define DNS_FLAG_QR     0x8000
#define DNS_OPCODE_MASK 0x7800
#define DNS_FLAG_AA     0x0400
#define DNS_FLAG_TC     0x0200
#define DNS_FLAG_RD     0x0100

/* Where the question's name starts; its pointer */
#define DNS_QNAME_OFF   DNS_HEADER_SIZE
#define DNS_PTR(off)    (0xC000 | (off))

/* An RR's fixed part after its owner: type, class, TTL, RDLENGTH */
#define DNS_RR_FIXED    10
/* The OPT record of an answer: root owner, the fixed part, no options */
#define DNS_OPT_SIZE    (1 + DNS_RR_FIXED)

/* Consul's SOA values (dns_config.soa) */
#define DNS_SOA_REFRESH 3600
#define DNS_SOA_RETRY   600
#define DNS_SOA_EXPIRE  86400
#define DNS_SOA_MINTTL  0

static uint16_t
rd16(const uint8_t *p)
{
	return (uint16_t) ((p[0] << 8) | p[1]);
}

static uint32_t
rd32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) |
		   p[3];
}

static void
wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t) (v >> 8);
	p[1] = (uint8_t) v;
}

static void
wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

static uint8_t
lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t) (c + ('a' - 'A')) : c;
}

/* Does the label [p, p + n) equal s, ignoring ASCII case? */
static bool
label_is(const uint8_t *p, size_t n, const char *s)
{
	size_t i;

	if (strlen(s) != n)
		return false;
	for (i = 0; i < n; i++)
	{
		if (lower(p[i]) != (uint8_t) s[i])
			return false;
	}
	return true;
}

/*
 * A label of a host name the settings may give: letters, digits and '-'
 * (RFC 952/1123), 1-63 of them.
 */
static bool
ldh_label(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > DNS_MAX_LABEL)
		return false;
	for (i = 0; i < n; i++)
	{
		char c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

/*
 * Check and compile the settings: domain ("consul" or "consul.", at least
 * one label, each a host name label, 255 bytes at most in wire form) and
 * the datacenter's name (NULL or "" for none; else one such label).
 * Returns false if either is not a valid name.
 */
bool
nagare_dns_zone_init(DnsZone *zone, const char *domain, const char *dc)
{
	const char *p = domain;
	size_t off = 0;

	memset(zone, 0, sizeof(*zone));
	if (domain == NULL || *domain == '\0' || strcmp(domain, ".") == 0)
		return false;
	while (*p != '\0')
	{
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t) (dot - p) : strlen(p);
		size_t i;

		if (!ldh_label(p, n) || off + 1 + n + 1 > DNS_MAX_NAME)
			return false;
		zone->domain[off++] = (uint8_t) n;
		for (i = 0; i < n; i++)
			zone->domain[off++] = lower((uint8_t) p[i]);
		zone->domain_labels++;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	zone->domain[off++] = 0;
	zone->domain_len = off;

	if (dc != NULL && *dc != '\0')
	{
		size_t n = strlen(dc);
		size_t i;

		if (!ldh_label(dc, n))
			return false;
		for (i = 0; i < n; i++)
			zone->dc[i] = (char) lower((uint8_t) dc[i]);
		zone->dc[n] = '\0';
	}
	return true;
}

/*
 * Skip a name in a record of the answer, authority or additional section
 * (compression allowed, pointers not followed).  Returns false if the name
 * runs past the message or uses a reserved label type.  *is_root tells
 * whether the name was the root ("."), which an OPT record's must be.
 */
static bool
skip_name(const uint8_t *msg, size_t len, size_t *off, bool *is_root)
{
	size_t o = *off;
	size_t total = 0;

	*is_root = true;
	for (;;)
	{
		uint8_t l;

		if (o >= len)
			return false;
		l = msg[o];
		if ((l & 0xC0) == 0xC0)
		{
			if (o + 2 > len)
				return false;
			*is_root = false;
			*off = o + 2;
			return true;
		}
		if (l & 0xC0)
			return false;
		if (l == 0)
		{
			*off = o + 1;
			return true;
		}
		total += 1 + l;
		if (total + 1 > DNS_MAX_NAME || o + 1 + l > len)
			return false;
		*is_root = false;
		o += 1 + l;
	}
}

/*
 * Read the question's name into q->qname: uncompressed labels of 1-63
 * bytes, 255 bytes in all.
 */
static bool
read_qname(const uint8_t *msg, size_t len, size_t *off, DnsQuery *q)
{
	size_t o = *off;
	size_t n = 0;

	for (;;)
	{
		uint8_t l;

		if (o >= len)
			return false;
		l = msg[o];
		if (l & 0xC0)
			return false; /* a pointer, or a reserved label type */
		if (n + 1 + l > DNS_MAX_NAME || o + 1 + l > len)
			return false;
		memcpy(q->qname + n, msg + o, 1 + l);
		n += 1 + l;
		o += 1 + l;
		if (l == 0)
			break;
	}
	q->qname_len = n;
	*off = o;
	return true;
}

/*
 * Parse a query.  Returns DNS_NOERROR when it is one to answer, the RCODE
 * to answer with otherwise (q->has_question tells whether the question can
 * be echoed), or DNS_DROP when nothing must be sent: fewer than 12 bytes,
 * or a response.  Checks, in this order of precedence: one question of a
 * readable name (FORMERR), well-formed records and at most one OPT, whose
 * owner is the root (FORMERR), its version 0 (BADVERS), opcode QUERY
 * (NOTIMP), no OPT or zone-transfer question type (FORMERR, NOTIMP), class
 * IN or ANY (REFUSED).
 */
DnsRcode
nagare_dns_parse_query(const uint8_t *msg, size_t len, DnsQuery *q)
{
	size_t off = DNS_HEADER_SIZE;
	unsigned nrr;
	unsigned arcount;
	unsigned i;
	bool badvers = false;

	memset(q, 0, sizeof(*q));
	if (len < DNS_HEADER_SIZE)
		return DNS_DROP;
	q->id = rd16(msg);
	q->flags = rd16(msg + 2);
	if (q->flags & DNS_FLAG_QR)
		return DNS_DROP;
	if (rd16(msg + 4) != 1)
		return DNS_FORMERR;
	if (!read_qname(msg, len, &off, q) || off + 4 > len)
		return DNS_FORMERR;
	q->qtype = rd16(msg + off);
	q->qclass = rd16(msg + off + 2);
	off += 4;
	q->has_question = true;

	/* answer and authority records (none in a plain query): skipped */
	nrr = (unsigned) rd16(msg + 6) + rd16(msg + 8);
	arcount = rd16(msg + 10);
	for (i = 0; i < nrr + arcount; i++)
	{
		bool root;
		uint16_t type;
		uint16_t rdlen;

		if (!skip_name(msg, len, &off, &root) || off + DNS_RR_FIXED > len)
			return DNS_FORMERR;
		type = rd16(msg + off);
		rdlen = rd16(msg + off + 8);
		if (off + DNS_RR_FIXED + rdlen > len)
			return DNS_FORMERR;
		if (type == DNS_TYPE_OPT)
		{
			uint32_t ttl = rd32(msg + off + 4);
			uint16_t size = rd16(msg + off + 2);

			/* RFC 6891 6.1.1: only in the additional section, once, at the root */
			if (i < nrr || q->has_edns || !root)
				return DNS_FORMERR;
			q->has_edns = true;
			q->edns_size = size < DNS_UDP_MIN    ? DNS_UDP_MIN
						   : size > DNS_EDNS_MAX ? DNS_EDNS_MAX
												 : size;
			q->edns_do = (ttl & 0x8000) != 0;
			if (((ttl >> 16) & 0xFF) != 0)
				badvers = true;
		}
		off += DNS_RR_FIXED + rdlen;
	}

	if (badvers)
		return DNS_BADVERS;
	if (q->flags & DNS_OPCODE_MASK)
		return DNS_NOTIMP;
	if (q->qtype == DNS_TYPE_OPT)
		return DNS_FORMERR;
	if (q->qtype == DNS_TYPE_AXFR || q->qtype == DNS_TYPE_IXFR ||
		q->qtype == DNS_TYPE_MAILA || q->qtype == DNS_TYPE_MAILB)
		return DNS_NOTIMP;
	if (q->qclass != DNS_CLASS_IN && q->qclass != DNS_CLASS_ANY)
		return DNS_REFUSED;
	return DNS_NOERROR;
}

/* The most bytes an answer to q may take on this transport */
size_t
nagare_dns_limit(const DnsQuery *q, DnsTransport transport)
{
	if (transport == DNS_TCP)
		return DNS_TCP_MAX;
	return q->has_edns ? q->edns_size : DNS_UDP_MIN;
}

/* The labels of a name in wire form: offsets and lengths, root excluded */
typedef struct Labels
{
	int n;
	uint8_t off[DNS_MAX_NAME / 2];
	uint8_t len[DNS_MAX_NAME / 2];
} Labels;

static void
split_labels(const uint8_t *name, size_t name_len, Labels *ls)
{
	size_t o = 0;

	ls->n = 0;
	while (o < name_len && name[o] != 0)
	{
		ls->off[ls->n] = (uint8_t) (o + 1);
		ls->len[ls->n] = name[o];
		ls->n++;
		o += 1 + name[o];
	}
}

/*
 * Where the zone's domain starts in a name (an offset into it), or -1 if
 * the name is not in the domain.
 */
static int
domain_offset(const uint8_t *name, size_t name_len, const DnsZone *zone)
{
	Labels ls;
	int first;
	size_t i;
	size_t start;

	if (name_len < zone->domain_len)
		return -1;
	split_labels(name, name_len, &ls);
	first = ls.n - zone->domain_labels;
	if (first < 0)
		return -1;
	start = (size_t) ls.off[first] - 1; /* the label's length byte */
	if (name_len - start != zone->domain_len)
		return -1;
	for (i = 0; i < zone->domain_len; i++)
	{
		if (lower(name[start + i]) != zone->domain[i])
			return -1;
	}
	return (int) start;
}

/*
 * A label that may become a service name or a tag: printable ASCII but
 * '.', copied in lower case (names compare case-insensitively).
 */
static bool
copy_name_label(const uint8_t *p, size_t n, char *out)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++)
	{
		if (p[i] <= ' ' || p[i] > '~' || p[i] == '.')
			return false;
		out[i] = (char) lower(p[i]);
	}
	out[n] = '\0';
	return true;
}

static int
hexval(uint8_t c)
{
	c = lower(c);
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Read what the query's name asks for (dns.h lists the forms).  Following
 * Consul, the rightmost label naming a kind decides ("service", "addr",
 * "node", ...), and for an SRV question a label starting with '_' stands for
 * "service" (the RFC 2782 form without it).  What follows that label, up to
 * the domain, must be nothing, "<dc>" or "<dc>.dc" for the configured
 * datacenter.
 */
DnsNameKind
nagare_dns_interpret(const DnsQuery *q, const DnsZone *zone, DnsName *out)
{
	Labels ls;
	int m;
	int k;
	int nparts = 0; /* the labels before the kind */
	int sfx = 0; /* the first label after it */
	bool is_service = false;
	bool is_addr = false;
	const uint8_t *name = q->qname;

	memset(out, 0, sizeof(*out));
	out->kind = DNS_NAME_NOT_OURS;
	if (!q->has_question || domain_offset(name, q->qname_len, zone) < 0)
		return out->kind;
	split_labels(name, q->qname_len, &ls);
	m = ls.n - zone->domain_labels; /* the labels before the domain */
	out->kind = DNS_NAME_INVALID;
	if (m == 0)
		return out->kind = DNS_NAME_APEX;

	for (k = m - 1; k >= 0; k--)
	{
		const uint8_t *l = name + ls.off[k];
		size_t n = ls.len[k];

		if (label_is(l, n, "service") || label_is(l, n, "addr"))
		{
			is_service = l[0] == 's' || l[0] == 'S';
			is_addr = !is_service;
			nparts = k;
			sfx = k + 1;
			break;
		}
		if (label_is(l, n, "node") || label_is(l, n, "connect") ||
			label_is(l, n, "virtual") || label_is(l, n, "ingress") ||
			label_is(l, n, "query"))
			return out->kind;
		if (q->qtype == DNS_TYPE_SRV && l[0] == '_')
		{
			/* _<service>._<tag> without "service": both labels are parts */
			is_service = true;
			nparts = k + 1;
			sfx = k + 1;
			break;
		}
	}
	if (!is_service && !is_addr)
		return out->kind;

	/* the datacenter labels between the kind and the domain */
	if (m - sfx > 0)
	{
		if (zone->dc[0] == '\0' || m - sfx > 2 ||
			!label_is(name + ls.off[sfx], ls.len[sfx], zone->dc))
			return out->kind;
		if (m - sfx == 2 && !label_is(name + ls.off[sfx + 1], ls.len[sfx + 1], "dc"))
			return out->kind;
	}

	if (is_addr)
	{
		/* <hex-ip>.addr: 8 hex digits for IPv4, 32 for IPv6 */
		const uint8_t *l;
		int i;

		if (nparts != 1 || (ls.len[0] != 8 && ls.len[0] != 32))
			return out->kind;
		l = name + ls.off[0];
		for (i = 0; i < ls.len[0] / 2; i++)
		{
			int hi = hexval(l[2 * i]);
			int lo = hexval(l[2 * i + 1]);

			if (hi < 0 || lo < 0)
				return out->kind;
			out->addr[i] = (uint8_t) (hi << 4 | lo);
		}
		out->addr_len = ls.len[0] / 2;
		return out->kind = DNS_NAME_ADDR;
	}

	/* nparts labels name the service: RFC 2782's two, or [<tag>.]<service> */
	if (nparts == 0)
		return out->kind;
	if (nparts == 2 && name[ls.off[0]] == '_' && name[ls.off[1]] == '_')
	{
		if (!copy_name_label(name + ls.off[0] + 1, ls.len[0] - 1, out->service) ||
			!copy_name_label(name + ls.off[1] + 1, ls.len[1] - 1, out->tag))
			return out->kind;
		if (strcmp(out->tag, "tcp") == 0)
			out->tag[0] = '\0'; /* _tcp: no tag filter */
		return out->kind = DNS_NAME_SRV_RFC2782;
	}
	if (!copy_name_label(name + ls.off[nparts - 1], ls.len[nparts - 1], out->service))
		return out->kind;
	if (nparts > 1)
	{
		/* Consul joins the labels before the service as one tag: "a.b" */
		size_t t = 0;
		int i;

		for (i = 0; i < nparts - 1; i++)
		{
			if (i > 0)
				out->tag[t++] = '.';
			if (!copy_name_label(name + ls.off[i], ls.len[i], out->tag + t))
				return out->kind;
			t += ls.len[i];
		}
	}
	return out->kind = DNS_NAME_SERVICE;
}

/*
 * Start an answer to q in buf (cap bytes): the header is written by
 * nagare_dns_finish, the question is echoed here if the query had one.
 * The answer takes at most min(cap, the transport's limit) bytes.  ttl is
 * every record's TTL (Consul's default is 0); serial the SOA's.  Returns
 * false if even the question (and the OPT record) do not fit: then there
 * is nothing to send.
 */
bool
nagare_dns_begin(DnsAnswer *a, const DnsQuery *q, const DnsZone *zone,
				 DnsTransport transport, uint32_t ttl, uint32_t serial, uint8_t *buf,
				 size_t cap)
{
	size_t limit = nagare_dns_limit(q, transport);
	size_t need = DNS_HEADER_SIZE;

	memset(a, 0, offsetof(DnsAnswer, targets));
	a->ntargets = -1;
	a->buf = buf;
	a->limit = cap < limit ? cap : limit;
	a->q = q;
	a->zone = zone;
	a->transport = transport;
	a->ttl = ttl;
	a->serial = serial;
	a->reserve = q->has_edns ? DNS_OPT_SIZE : 0;
	a->domain_off = -1;
	a->dc_off = -1;
	a->addr_off = -1;
	if (q->has_question)
		need += q->qname_len + 4;
	if (need + a->reserve > a->limit)
		return false;
	a->len = DNS_HEADER_SIZE;
	a->tail = a->limit - a->reserve;
	if (q->has_question)
	{
		int d = domain_offset(q->qname, q->qname_len, zone);

		memcpy(buf + a->len, q->qname, q->qname_len);
		wr16(buf + a->len + q->qname_len, q->qtype);
		wr16(buf + a->len + q->qname_len + 2, q->qclass);
		a->len += q->qname_len + 4;
		if (d >= 0)
		{
			a->domain_off = DNS_QNAME_OFF + d;
			/* "<dc>.<domain>" in the question: the label before the domain */
			if (zone->dc[0] != '\0' && d > 0)
			{
				Labels ls;

				split_labels(q->qname, q->qname_len, &ls);
				if (ls.n > zone->domain_labels)
				{
					int i = ls.n - zone->domain_labels - 1;

					if (label_is(q->qname + ls.off[i], ls.len[i], zone->dc))
						a->dc_off = DNS_QNAME_OFF + ls.off[i] - 1;
				}
			}
		}
	}
	return true;
}

/* Room for n more bytes before the additional records? Else truncated. */
static bool
room(DnsAnswer *a, size_t n)
{
	if (a->truncated || a->len + n > a->tail)
	{
		a->truncated = true;
		return false;
	}
	return true;
}

/* An RR's owner pointer and fixed part at p; returns the RDATA's start */
static uint8_t *
put_rr(uint8_t *p, int owner_off, uint16_t type, uint32_t ttl, uint16_t rdlen)
{
	wr16(p, (uint16_t) DNS_PTR(owner_off));
	wr16(p + 2, type);
	wr16(p + 4, DNS_CLASS_IN);
	wr32(p + 6, ttl);
	wr16(p + 10, rdlen);
	return p + 2 + DNS_RR_FIXED;
}

/* An address record owned by the question's name, in the answer section */
static bool
add_addr_answer(DnsAnswer *a, const uint8_t *addr, int addr_len)
{
	uint16_t type = addr_len == 4 ? DNS_TYPE_A : DNS_TYPE_AAAA;
	size_t n = 2 + DNS_RR_FIXED + addr_len;
	uint8_t *rdata;

	if (!a->q->has_question || !room(a, n))
		return false;
	rdata = put_rr(a->buf + a->len, DNS_QNAME_OFF, type, a->ttl, (uint16_t) addr_len);
	memcpy(rdata, addr, addr_len);
	a->len += n;
	a->ancount++;
	return true;
}

/* An A record of the question's name.  False when it did not fit. */
bool
nagare_dns_add_a(DnsAnswer *a, const uint8_t addr[4])
{
	return add_addr_answer(a, addr, 4);
}

/* An AAAA record of the question's name.  False when it did not fit. */
bool
nagare_dns_add_aaaa(DnsAnswer *a, const uint8_t addr[16])
{
	return add_addr_answer(a, addr, 16);
}

/* Compression pointers have 14 bits: only the first 16 KiB can be pointed at */
#define DNS_PTR_MAX     0x3FFF

/*
 * An earlier SRV target with this address, found by its record in the
 * additional section: its offset if the record's owner is a pointer to it,
 * DNS_TARGET_FAR if the owner is spelled out (the target lies beyond
 * DNS_PTR_MAX), or DNS_TARGET_NONE.
 */
#define DNS_TARGET_NONE (-1)
#define DNS_TARGET_FAR  (-2)

/* The owner name's length of the additional record at p: labels, then a pointer */
static size_t
owner_len(const DnsAnswer *a, size_t p)
{
	size_t o = p;

	while ((a->buf[o] & 0xC0) != 0xC0)
		o += 1 + a->buf[o];
	return o + 2 - p;
}

/* FNV-1a of an address: its slot in targets[] */
static unsigned
target_hash(const uint8_t *addr, int addr_len)
{
	uint32_t h = 2166136261u;
	int i;

	for (i = 0; i < addr_len; i++)
		h = (h ^ addr[i]) * 16777619u;
	return h & (DNS_TARGET_SLOTS - 1);
}

/*
 * Look the address up among the address records written (open addressing,
 * linear probing).  *slot is where it is, or the free slot where it goes.
 */
static int
find_target(DnsAnswer *a, const uint8_t *addr, int addr_len, unsigned *slot)
{
	unsigned h;

	if (a->ntargets < 0)
	{
		memset(a->targets, 0, sizeof(a->targets));
		a->ntargets = 0;
	}
	for (h = target_hash(addr, addr_len);; h = (h + 1) & (DNS_TARGET_SLOTS - 1))
	{
		size_t p = a->targets[h];
		size_t owner = p;
		uint16_t rdlen;

		*slot = h;
		if (p == 0)
			return DNS_TARGET_NONE;
		p += owner_len(a, p);
		rdlen = rd16(a->buf + p + 8);
		if (rdlen == addr_len && memcmp(a->buf + p + DNS_RR_FIXED, addr, addr_len) == 0)
		{
			if ((a->buf[owner] & 0xC0) == 0xC0)
				return rd16(a->buf + owner) & DNS_PTR_MAX;
			return DNS_TARGET_FAR;
		}
	}
}

static void
reverse(uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n / 2; i++)
	{
		uint8_t c = p[i];

		p[i] = p[n - 1 - i];
		p[n - 1 - i] = c;
	}
}

/*
 * Put the additional records, written backwards from the end, in the order
 * of their SRV records: reverse each record's bytes, then the whole block.
 */
static void
order_additional(DnsAnswer *a)
{
	size_t p = a->tail;
	size_t end = a->limit - a->reserve;

	while (p < end)
	{
		size_t n = owner_len(a, p);

		n += DNS_RR_FIXED + rd16(a->buf + p + n + 8);
		reverse(a->buf + p, n);
		p += n;
	}
	reverse(a->buf + a->tail, end - a->tail);
}

/*
 * The length of a target name "<hex-ip>.addr[.<dc>].<domain>" written now:
 * the hex label, then a pointer to an earlier "addr..." (addr_off) or the
 * labels "addr" and the datacenter (unless the question has it) and a
 * pointer into the question.
 */
static size_t
target_len(const DnsAnswer *a, int addr_off, int addr_len)
{
	size_t n = 1 + 2 * (size_t) addr_len;

	if (addr_off >= 0)
		return n + 2;
	n += 5 + 2;
	if (a->zone->dc[0] != '\0' && a->dc_off < 0)
		n += 1 + strlen(a->zone->dc);
	return n;
}

/* Write that name at p; sets a->addr_off when it writes "addr" where a pointer can reach */
static void
put_target(DnsAnswer *a, uint8_t *p, const uint8_t *addr, int addr_len)
{
	static const char hex[] = "0123456789abcdef";
	bool dc = a->zone->dc[0] != '\0';
	int i;

	*p++ = (uint8_t) (2 * addr_len);
	for (i = 0; i < addr_len; i++)
	{
		*p++ = (uint8_t) hex[addr[i] >> 4];
		*p++ = (uint8_t) hex[addr[i] & 0xF];
	}
	if (a->addr_off >= 0)
	{
		wr16(p, (uint16_t) DNS_PTR(a->addr_off));
		return;
	}
	if (p - a->buf <= DNS_PTR_MAX)
		a->addr_off = (int) (p - a->buf);
	*p++ = 4;
	memcpy(p, "addr", 4);
	p += 4;
	if (dc && a->dc_off < 0)
	{
		size_t n = strlen(a->zone->dc);

		*p++ = (uint8_t) n;
		memcpy(p, a->zone->dc, n);
		p += n;
	}
	wr16(p, (uint16_t) DNS_PTR(dc && a->dc_off >= 0 ? a->dc_off : a->domain_off));
}

/*
 * An SRV record of the question's name: priority, weight, port and the
 * target "<hex-ip>.addr[.<dc>].<domain>", with the target's A or AAAA record
 * in the additional section (once per address).  False when the SRV record
 * and its address record did not both fit (neither is then written).
 * Names are compressed where a pointer reaches (the first 16 KiB), and
 * spelled out beyond.
 */
bool
nagare_dns_add_srv(DnsAnswer *a, uint16_t priority, uint16_t weight, uint16_t port,
				   const uint8_t *addr, int addr_len)
{
	int found;
	unsigned slot;
	size_t toff; /* where the target goes */
	int addr_after; /* a->addr_off once the target is written */
	size_t tlen;
	size_t srvlen;
	size_t ownlen = 0; /* the address record's owner name */
	size_t addlen = 0;
	uint8_t *p;

	if (!a->q->has_question || (addr_len != 4 && addr_len != 16))
		return false;
	if (a->domain_off < 0)
		return false; /* a name outside the domain has no SRV records */
	found = find_target(a, addr, addr_len, &slot);
	toff = a->len + 2 + DNS_RR_FIXED + 6;
	if (found >= 0)
		tlen = 2;
	else
		tlen = target_len(a, a->addr_off, addr_len);
	srvlen = 2 + DNS_RR_FIXED + 6 + tlen;
	addr_after = a->addr_off;
	if (found == DNS_TARGET_NONE)
	{
		if (addr_after < 0 && toff + 1 + 2 * addr_len <= DNS_PTR_MAX)
			addr_after = (int) (toff + 1 + 2 * addr_len);
		ownlen = toff <= DNS_PTR_MAX ? 2 : target_len(a, addr_after, addr_len);
		addlen = ownlen + DNS_RR_FIXED + addr_len;
	}
	if (!room(a, srvlen + addlen))
		return false;

	p = put_rr(a->buf + a->len, DNS_QNAME_OFF, DNS_TYPE_SRV, a->ttl, (uint16_t) (6 + tlen));
	wr16(p, priority);
	wr16(p + 2, weight);
	wr16(p + 4, port);
	if (found >= 0)
		wr16(p + 6, (uint16_t) DNS_PTR(found));
	else
		put_target(a, p + 6, addr, addr_len);
	a->len += srvlen;
	a->ancount++;

	if (addlen > 0)
	{
		a->tail -= addlen;
		p = a->buf + a->tail;
		if (ownlen == 2)
			wr16(p, (uint16_t) DNS_PTR(toff));
		else
			put_target(a, p, addr, addr_len);
		p += ownlen;
		wr16(p, addr_len == 4 ? DNS_TYPE_A : DNS_TYPE_AAAA);
		wr16(p + 2, DNS_CLASS_IN);
		wr32(p + 4, a->ttl);
		wr16(p + 8, (uint16_t) addr_len);
		memcpy(p + DNS_RR_FIXED, addr, addr_len);
		a->arcount++;
		if (a->ntargets < DNS_TARGET_MAX)
		{
			a->targets[slot] = (uint16_t) a->tail;
			a->ntargets++;
		}
	}
	return true;
}

/*
 * The address record an address question asks for: an A record for an
 * IPv4 address if QTYPE is A or ANY, an AAAA record for an IPv6 one if
 * QTYPE is AAAA or ANY, else nothing.  False only when it did not fit.
 */
bool
nagare_dns_add_address(DnsAnswer *a, const uint8_t *addr, int addr_len)
{
	uint16_t qtype = a->q->qtype;

	if (addr_len == 4 && (qtype == DNS_TYPE_A || qtype == DNS_TYPE_ANY))
		return nagare_dns_add_a(a, addr);
	if (addr_len == 16 && (qtype == DNS_TYPE_AAAA || qtype == DNS_TYPE_ANY))
		return nagare_dns_add_aaaa(a, addr);
	return !a->truncated;
}

/*
 * One passing instance of a service, as its question asks: an SRV record
 * (priority 1, as Consul) for QTYPE SRV, else nagare_dns_add_address.
 * False only when it did not fit; the caller may stop adding.
 */
bool
nagare_dns_add_instance(DnsAnswer *a, const uint8_t *addr, int addr_len, uint16_t port,
						uint16_t weight)
{
	if (a->q->qtype == DNS_TYPE_SRV)
		return nagare_dns_add_srv(a, 1, weight, port, addr, addr_len);
	return nagare_dns_add_address(a, addr, addr_len);
}

/*
 * A host name ("db1.example.com", a trailing dot allowed) in wire form, in
 * out (DNS_MAX_NAME bytes): labels of 1 to 63 letters, digits, '-' and '_',
 * at most 255 bytes with the root's 0.  False, with nothing promised in out,
 * for anything else (an empty name, an empty label, another byte).
 */
bool
nagare_dns_name_to_wire(const char *name, uint8_t *out, size_t *out_len)
{
	size_t len = 0;
	const char *p = name;

	if (*p == '\0' || *p == '.')
		return false;
	while (*p != '\0')
	{
		size_t n = 0;

		while (p[n] != '\0' && p[n] != '.')
		{
			unsigned char c = (unsigned char) p[n];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				  (c >= '0' && c <= '9') || c == '-' || c == '_'))
				return false;
			n++;
		}
		if (n == 0 || n > DNS_MAX_LABEL || len + 1 + n + 1 > DNS_MAX_NAME)
			return false;
		out[len] = (uint8_t) n;
		memcpy(out + len + 1, p, n);
		len += 1 + n;
		p += n;
		if (*p == '.')
			p++; /* a trailing dot ends the name as the end does */
	}
	out[len++] = 0;
	*out_len = len;
	return true;
}

/*
 * A CNAME record of the question's name to target (wire form, spelled out:
 * it is outside the message).  False when it did not fit.
 */
bool
nagare_dns_add_cname(DnsAnswer *a, const uint8_t *target, size_t target_len)
{
	size_t n = 2 + DNS_RR_FIXED + target_len;
	uint8_t *rdata;

	if (!a->q->has_question || target_len < 1 || target_len > DNS_MAX_NAME || !room(a, n))
		return false;
	rdata = put_rr(a->buf + a->len, DNS_QNAME_OFF, DNS_TYPE_CNAME, a->ttl,
				   (uint16_t) target_len);
	memcpy(rdata, target, target_len);
	a->len += n;
	a->ancount++;
	return true;
}

/*
 * An SRV record of the question's name whose target is a host name (wire
 * form, spelled out), as Consul answers for an instance whose address is a
 * name: no additional record (the name's addresses are not nagare's to
 * give).  False when it did not fit.
 */
bool
nagare_dns_add_srv_name(DnsAnswer *a, uint16_t priority, uint16_t weight, uint16_t port,
						const uint8_t *target, size_t target_len)
{
	size_t n = 2 + DNS_RR_FIXED + 6 + target_len;
	uint8_t *p;

	if (!a->q->has_question || a->domain_off < 0 || target_len < 1 ||
		target_len > DNS_MAX_NAME || !room(a, n))
		return false;
	p = put_rr(a->buf + a->len, DNS_QNAME_OFF, DNS_TYPE_SRV, a->ttl,
			   (uint16_t) (6 + target_len));
	wr16(p, priority);
	wr16(p + 2, weight);
	wr16(p + 4, port);
	memcpy(p + 6, target, target_len);
	a->len += n;
	a->ancount++;
	return true;
}

/* The domain's SOA record (Consul's values), in the answer or authority section */
static bool
put_soa(DnsAnswer *a, bool answer)
{
	size_t rdlen = (1 + 2 + 2) + (1 + 10 + 2) + 20;
	size_t n = 2 + DNS_RR_FIXED + rdlen;
	uint8_t *p;

	if (a->domain_off < 0 || (answer && a->nscount > 0) || !room(a, n))
		return false;
	p = a->buf + a->len;
	wr16(p, (uint16_t) DNS_PTR(a->domain_off));
	p += 2;
	wr16(p, DNS_TYPE_SOA);
	wr16(p + 2, DNS_CLASS_IN);
	wr32(p + 4, DNS_SOA_MINTTL);
	wr16(p + 8, (uint16_t) rdlen);
	p += DNS_RR_FIXED;
	*p++ = 2;
	memcpy(p, "ns", 2);
	p += 2;
	wr16(p, (uint16_t) DNS_PTR(a->domain_off));
	p += 2;
	*p++ = 10;
	memcpy(p, "hostmaster", 10);
	p += 10;
	wr16(p, (uint16_t) DNS_PTR(a->domain_off));
	p += 2;
	wr32(p, a->serial);
	wr32(p + 4, DNS_SOA_REFRESH);
	wr32(p + 8, DNS_SOA_RETRY);
	wr32(p + 12, DNS_SOA_EXPIRE);
	wr32(p + 16, DNS_SOA_MINTTL);
	a->len += n;
	if (answer)
		a->ancount++;
	else
		a->nscount++;
	return true;
}

/*
 * The domain's SOA record as an answer: for a SOA or ANY question of the
 * domain itself (DNS_NAME_APEX), as Consul answers it.  False when it did
 * not fit, or the question is not in the domain.
 */
bool
nagare_dns_add_soa(DnsAnswer *a)
{
	return put_soa(a, true);
}

/*
 * Finish the answer with this RCODE and return its length (at most the
 * limit).  NXDOMAIN, and NOERROR without any answer record (NODATA), get
 * the domain's SOA in the authority section when the name is in the domain.
 * The additional records move into place, then the OPT record if the
 * query had one (the extended RCODE's upper bits, version 0, DO copied),
 * then the header: ID and RD copied, QR, AA for names of the domain, TC if
 * a record did not fit on UDP.
 */
size_t
nagare_dns_finish(DnsAnswer *a, DnsRcode rcode)
{
	const DnsQuery *q = a->q;
	uint16_t flags;
	size_t addl = a->limit - a->reserve - a->tail;
	int rc = rcode < 0 ? DNS_SERVFAIL : (int) rcode;

	if (a->domain_off >= 0 && (rcode == DNS_NXDOMAIN ||
							   (rcode == DNS_NOERROR && a->ancount == 0 && !a->truncated)))
		(void) put_soa(a, false);
	if (addl > 0)
	{
		order_additional(a);
		memmove(a->buf + a->len, a->buf + a->tail, addl);
	}
	a->len += addl;
	if (q->has_edns)
	{
		uint8_t *p = a->buf + a->len;

		p[0] = 0; /* the root */
		wr16(p + 1, DNS_TYPE_OPT);
		wr16(p + 3, q->edns_size);
		wr32(p + 5, ((uint32_t) (rc >> 4) << 24) | (q->edns_do ? 0x8000 : 0));
		wr16(p + 9, 0);
		a->len += DNS_OPT_SIZE;
		a->arcount++;
	}

	flags = DNS_FLAG_QR | (q->flags & (DNS_OPCODE_MASK | DNS_FLAG_RD)) | (rc & 0xF);
	if (a->domain_off >= 0 && (rcode == DNS_NOERROR || rcode == DNS_NXDOMAIN))
		flags |= DNS_FLAG_AA;
	if (a->truncated && a->transport == DNS_UDP)
		flags |= DNS_FLAG_TC;
	wr16(a->buf, q->id);
	wr16(a->buf + 2, flags);
	wr16(a->buf + 4, q->has_question ? 1 : 0);
	wr16(a->buf + 6, a->ancount);
	wr16(a->buf + 8, a->nscount);
	wr16(a->buf + 10, a->arcount);
	return a->len;
}

/*
 * TCP (RFC 1035 4.2.2, RFC 7766): each message is preceded by its length
 * in two bytes.  The length of the next message, or -1 if fewer than the
 * two bytes are there yet.
 */
long
nagare_dns_tcp_frame_length(const uint8_t *p, size_t avail)
{
	if (avail < 2)
		return -1;
	return rd16(p);
}

/* Write the two-byte length prefix of a message of len bytes (<= 65535) */
void
nagare_dns_tcp_put_length(uint8_t *p, size_t len)
{
	wr16(p, (uint16_t) len);
}
